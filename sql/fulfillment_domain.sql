--
-- The order-fulfillment domain (demo/order_fulfillment.sql) without the
-- workflow engine: the task functions called directly, and the
-- constraints that keep impossible states out.
--
\set SHOW_CONTEXT never
\set ECHO none
SET client_min_messages = warning;
\i demo/order_fulfillment.sql
RESET client_min_messages;
\set ECHO all

-- stock: A in two warehouses, B plenty, C scarce
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'Newark'), ('WEST', 'Reno');
INSERT INTO fulfillment.products (sku, name) VALUES ('A', 'apples'), ('B', 'bananas'), ('C', 'cherries');
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand) VALUES
    ('A', 'EAST', 5), ('A', 'WEST', 3), ('B', 'EAST', 10), ('C', 'WEST', 1);

SELECT fulfillment.create_order('alice', '[{"sku": "A", "qty": 7}, {"sku": "B", "qty": 2}]', 101);
SELECT fulfillment.create_order('bob', '[{"sku": "C", "qty": 3}, {"sku": "B", "qty": 1}]', 102);
SELECT order_id, customer, status, status_seq FROM fulfillment.orders ORDER BY order_id;
SELECT * FROM fulfillment.order_items ORDER BY order_id, line_no;

-- ProcessOrder: validates, PROCESSING, passes the items on (in SKU order)
SELECT jsonb_pretty(fulfillment.process_order('{"order_id": 101}'));
SELECT fulfillment.process_order('{"order_id": 101}') = fulfillment.process_order('{"order_id": 101}') AS process_order_repeatable;
SELECT fulfillment.process_order('{"order_id": "101"}');
SELECT fulfillment.process_order('{"order_id": 999}');
SELECT fulfillment.process_order('{}');

-- CheckInventory reserves every item: A is split over the two warehouses
SELECT jsonb_pretty(fulfillment.check_inventory(fulfillment.process_order('{"order_id": 101}')) -> 'reservation');
SELECT * FROM fulfillment.inventory ORDER BY sku, warehouse;
SELECT order_id, line_no, sku, warehouse, qty, state FROM fulfillment.reservations ORDER BY reservation_id;

-- ... and again: nothing more is reserved (a retried task is harmless)
SELECT fulfillment.check_inventory('{"order_id": 101}') -> 'reservation' -> 'units' AS units_held;
SELECT sum(reserved) AS reserved_total FROM fulfillment.inventory;

-- A shortfall: InventoryError naming the SKU and how much is missing.
-- B (first in SKU order) was reserved before C came up short; the error
-- undoes it, as the task's subtransaction does inside orderflow.
SELECT fulfillment.process_order('{"order_id": 102}') IS NOT NULL AS processing;
BEGIN;
SAVEPOINT task;
SELECT fulfillment.check_inventory('{"order_id": 102}');
ROLLBACK TO SAVEPOINT task;
SELECT sku, warehouse, on_hand, reserved FROM fulfillment.inventory ORDER BY sku, warehouse;
SELECT count(*) AS reservations_of_102 FROM fulfillment.reservations WHERE order_id = 102;
COMMIT;

-- UpdateOrderStatus confirms only a fully reserved order
SELECT fulfillment.update_order_status('{"order_id": 102}');
SELECT fulfillment.update_order_status('{"order_id": 101}') ->> 'status' AS status;
SELECT fulfillment.update_order_status('{"order_id": 101}') ->> 'status' AS status_again;

-- ShipOrder consumes the reservation: on_hand and reserved both go down
SELECT jsonb_pretty(fulfillment.ship_order('{"order_id": 101}') -> 'shipment');
SELECT * FROM fulfillment.inventory ORDER BY sku, warehouse;
SELECT r.sku, r.warehouse, r.qty, r.state, l.qty AS shipped
  FROM fulfillment.reservations AS r
  LEFT JOIN fulfillment.shipment_lines AS l USING (reservation_id)
 WHERE r.order_id = 101 ORDER BY r.sku, r.warehouse;
-- shipping again returns the same shipment and consumes nothing
SELECT fulfillment.ship_order('{"order_id": 101}') -> 'shipment' ->> 'tracking' AS tracking;
SELECT sum(on_hand) AS on_hand_total, sum(reserved) AS reserved_total FROM fulfillment.inventory;
SELECT fulfillment.ship_order('{"order_id": 102}');

-- the status log of order 101
SELECT seq, from_status, to_status, note FROM fulfillment.order_status_log WHERE order_id = 101 ORDER BY seq;

-- Compensation: the production workflow reserves item by item, and on a
-- shortfall releases what it holds, then marks the order BACKORDERED
SELECT fulfillment.check_inventory_item('{"order_id": 102, "item": {"line_no": 2, "sku": "B"}}');
SELECT fulfillment.check_inventory_item('{"order_id": 102, "item": {"line_no": 1, "sku": "C"}}');
SELECT fulfillment.mark_backordered('{"order_id": 102}');
SELECT fulfillment.release_reservation('{"order_id": 102}') -> 'released' AS released;
SELECT fulfillment.release_reservation('{"order_id": 102}') -> 'released' AS released_again;
SELECT sku, warehouse, on_hand, reserved FROM fulfillment.inventory WHERE sku = 'B';
SELECT fulfillment.mark_backordered('{"order_id": 102, "error": {"Error": "InventoryError", "Cause": "SKU C short by 2"}}') ->> 'status' AS status;
SELECT seq, from_status, to_status, note FROM fulfillment.order_status_log WHERE order_id = 102 ORDER BY seq;
-- a backordered order can be processed again later
SELECT fulfillment.process_order('{"order_id": 102}') ->> 'status' AS status;

-- Impossible states are impossible
UPDATE fulfillment.inventory SET on_hand = -1 WHERE sku = 'C';
UPDATE fulfillment.inventory SET reserved = -1 WHERE sku = 'C';
UPDATE fulfillment.inventory SET reserved = on_hand + 1 WHERE sku = 'C';
INSERT INTO fulfillment.order_items (order_id, line_no, sku, qty) VALUES (101, 3, 'C', 0);
INSERT INTO fulfillment.order_items (order_id, line_no, sku, qty) VALUES (101, 3, 'A', 1);
INSERT INTO fulfillment.order_items (order_id, line_no, sku, qty) VALUES (101, 3, 'NOPE', 1);
-- an order without its status log
INSERT INTO fulfillment.orders (order_id, customer) VALUES (103, 'carol');
-- a status the log does not end with
UPDATE fulfillment.orders SET status = 'NEW' WHERE order_id = 101;
-- a move that is not a transition, or does not start where the log ended
INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status) VALUES (101, 6, 'SHIPPED', 'NEW');
INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status) VALUES (101, 6, 'CONFIRMED', 'ON_HOLD');
\set VERBOSITY terse
INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status) VALUES (101, 1, NULL, 'SHIPPED');
\set VERBOSITY default
SELECT fulfillment.set_status(101, 'PROCESSING');
-- a second shipment for an order, a reservation both held and closed,
-- two held reservations of one line in one warehouse
INSERT INTO fulfillment.shipments (order_id, tracking) VALUES (101, 'DUP');
\set VERBOSITY terse
INSERT INTO fulfillment.reservations (order_id, line_no, sku, warehouse, qty, closed_at)
VALUES (102, 2, 'B', 'EAST', 1, now());
\set VERBOSITY default
BEGIN;
INSERT INTO fulfillment.reservations (order_id, line_no, sku, warehouse, qty) VALUES (102, 2, 'B', 'EAST', 1);
INSERT INTO fulfillment.reservations (order_id, line_no, sku, warehouse, qty) VALUES (102, 2, 'B', 'EAST', 1);
ROLLBACK;
-- a reservation for a SKU that is not on the order line
INSERT INTO fulfillment.reservations (order_id, line_no, sku, warehouse, qty) VALUES (102, 2, 'A', 'EAST', 1);
-- an order needs items
SELECT fulfillment.create_order('dave', '[]');
