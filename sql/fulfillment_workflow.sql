--
-- The order-fulfillment workflows run for real by the orderflow workers:
-- the seed definition (verbatim) and the production variant, including
-- the seed's retries and the production variant's compensation.
--
\set SHOW_CONTEXT never
\set ECHO none
SET client_min_messages = warning;
\i demo/order_fulfillment.sql
RESET client_min_messages;
\set ECHO all

-- The seed is the user's document unchanged: demo/order_fulfillment.asl.json
-- (TAP 026 checks that it is byte-identical to ../shared/seed/).  The stored
-- version is jsonb, so it is compared as jsonb: equal, and every Resource
-- is the document's ARN with its REGION and ACCOUNT_ID placeholders.
\set seed_file `cat demo/order_fulfillment.asl.json`
SELECT v.definition = :'seed_file'::jsonb AS stored_seed_equals_file,
       (SELECT array_agg(s.value ->> 'Resource' ORDER BY s.key)
          FROM jsonb_each(v.definition -> 'States') AS s) AS resources,
       v.resources AS bindings
  FROM orderflow.state_machine_versions AS v
 WHERE v.state_machine = 'order_fulfillment' AND v.version = 1;
SELECT resource, fn FROM orderflow.resources
 WHERE resource LIKE 'arn:aws:lambda:REGION:ACCOUNT_ID:function:%'
    OR resource LIKE 'arn:aws:lambda:us-east-1:123456789012:function:%' ORDER BY resource;
SELECT name, latest_version FROM orderflow.state_machines
 WHERE name LIKE 'order\_fulfillment%' ORDER BY name;

-- Stock: C is scarce
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'Newark'), ('WEST', 'Reno');
INSERT INTO fulfillment.products (sku, name) VALUES ('A', 'apples'), ('B', 'bananas'), ('C', 'cherries'), ('D', 'dates');
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand) VALUES
    ('A', 'EAST', 10), ('A', 'WEST', 10), ('B', 'EAST', 5), ('C', 'WEST', 1), ('D', 'EAST', 4);
SELECT fulfillment.create_order('ann',  '[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]', 201),
       fulfillment.create_order('ben',  '[{"sku": "A", "qty": 1}, {"sku": "C", "qty": 3}]', 202),
       fulfillment.create_order('cat',  '[{"sku": "D", "qty": 2}, {"sku": "B", "qty": 1}, {"sku": "A", "qty": 3}]', 203),
       fulfillment.create_order('dan',  '[{"sku": "D", "qty": 1}, {"sku": "C", "qty": 2}, {"sku": "A", "qty": 2}]', 204),
       fulfillment.create_order('eve',  '[{"sku": "B", "qty": 1}]', 205);
SELECT fulfillment.set_status(205, 'CANCELLED', 'customer changed her mind');

-- Start them all; the orders short of C retry for 3 + 6 + 12 seconds
SELECT orderflow.start_execution('order_fulfillment', '{"order_id": 201}', 'wf-201') AS e201 \gset
SELECT orderflow.start_execution('order_fulfillment', '{"order_id": 202}', 'wf-202') AS e202 \gset
SELECT orderflow.start_execution('order_fulfillment', '{"order_id": 205}', 'wf-205') AS e205 \gset
SELECT orderflow.start_execution('order_fulfillment_production', '{"order_id": 203}', 'wf-203') AS e203 \gset
SELECT orderflow.start_execution('order_fulfillment_production', '{"order_id": 204}', 'wf-204') AS e204 \gset

-- 201, seed: every task once, shipped
SELECT orderflow.wait_for_execution(:'e201', '60 s') AS status;
SELECT output ->> 'status' AS status, output -> 'shipment' ->> 'units' AS units,
       output -> 'reservation' ->> 'units' AS reserved_units
  FROM orderflow.describe_execution(:'e201');
SELECT event_id, type, state_name FROM orderflow.execution_history
 WHERE execution_id = :'e201' ORDER BY event_id;

-- 205, seed: a cancelled order fails in ProcessOrder with a named error, no retry
SELECT orderflow.wait_for_execution(:'e205', '60 s') AS status;
SELECT status, error, cause FROM orderflow.describe_execution(:'e205');

-- 203, production: the Map CheckInventory reserves its three items one by
-- one (one child execution per item, MaxConcurrency 1), then it is shipped
SELECT orderflow.wait_for_execution(:'e203', '60 s') AS status;
SELECT output ->> 'status' AS status, output -> 'shipment' ->> 'units' AS units,
       (SELECT count(*) FROM orderflow.executions AS c WHERE c.parent_id = :'e203') AS map_children
  FROM orderflow.describe_execution(:'e203');
SELECT state_name, count(*) AS entered FROM orderflow.execution_history
 WHERE execution_id = :'e203' AND type LIKE '%StateEntered'
 GROUP BY state_name ORDER BY min(event_id);
SELECT type, state_name FROM orderflow.execution_history
 WHERE execution_id = :'e203' AND type LIKE 'MapState%' ORDER BY event_id;
SELECT c.branch_index, c.status, h.details -> 'parameters' -> 'item' ->> 'sku' AS item_checked
  FROM orderflow.executions AS c
  JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = :'e203' AND h.type = 'TaskScheduled' AND h.state_name = 'CheckItem'
 ORDER BY c.branch_index, h.event_id;
SELECT sku, qty, state FROM fulfillment.reservations WHERE order_id = 203 ORDER BY reservation_id;

-- 202, seed: C is short by 2; retried after 3, 6 and 12 s, then FAILED.
-- Its reservation of A was rolled back with each failed attempt.
SELECT orderflow.wait_for_execution(:'e202', '60 s') AS status;
SELECT status, error, cause FROM orderflow.describe_execution(:'e202');
SELECT type, state_name, details ->> 'error' AS error, details ->> 'cause' AS cause,
       details ->> 'retryAttempt' AS attempt, details ->> 'retryDelaySeconds' AS delay
  FROM orderflow.execution_history
 WHERE execution_id = :'e202' AND type IN ('TaskFailed', 'RetryScheduled', 'ExecutionFailed')
 ORDER BY event_id;
SELECT count(*) AS reservations_of_202 FROM fulfillment.reservations WHERE order_id = 202;

-- 204, production: the items are checked in SKU order; A is reserved, C is
-- short: its iteration retries, then fails the Map with InventoryError and
-- the cause unchanged, and D's iteration is never started (ABORTED).  The
-- Map's Catch releases A (compensation) and marks the order BACKORDERED
SELECT orderflow.wait_for_execution(:'e204', '60 s') AS status;
SELECT output ->> 'status' AS status, output -> 'released' AS released, output -> 'error' AS error
  FROM orderflow.describe_execution(:'e204');
SELECT type, state_name FROM orderflow.execution_history
 WHERE execution_id = :'e204'
   AND (type LIKE '%StateEntered' OR type LIKE 'MapState%'
        OR type IN ('RetryScheduled', 'CatchMatched', 'ExecutionSucceeded'))
 ORDER BY event_id;
SELECT c.branch_index, c.status, c.error, c.cause
  FROM orderflow.executions AS c WHERE c.parent_id = :'e204' ORDER BY c.branch_index;
SELECT c.branch_index, h.type, h.state_name, h.details ->> 'error' AS error
  FROM orderflow.executions AS c
  JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = :'e204' AND h.type IN ('TaskFailed', 'RetryScheduled', 'TaskSucceeded')
 ORDER BY c.branch_index, h.event_id;
SELECT sku, qty, state FROM fulfillment.reservations WHERE order_id = 204 ORDER BY reservation_id;

-- The orders, their status logs, and the stock: everything balances
SELECT order_id, status FROM fulfillment.orders ORDER BY order_id;
SELECT order_id, seq, from_status, to_status, note
  FROM fulfillment.order_status_log ORDER BY order_id, seq;
SELECT i.sku, sum(i.on_hand) AS on_hand, sum(i.reserved) AS reserved,
       coalesce((SELECT sum(l.qty) FROM fulfillment.shipment_lines AS l WHERE l.sku = i.sku), 0) AS shipped
  FROM fulfillment.inventory AS i GROUP BY i.sku ORDER BY i.sku;
SELECT s.order_id, sum(l.qty) AS units
  FROM fulfillment.shipments AS s JOIN fulfillment.shipment_lines AS l USING (shipment_id)
 GROUP BY s.order_id ORDER BY s.order_id;
