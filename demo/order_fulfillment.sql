-- demo/order_fulfillment.sql: the order-fulfillment product (issue #3).
--
-- Load it with psql after CREATE EXTENSION orderflow:
--
--     psql -v ON_ERROR_STOP=1 -f demo/order_fulfillment.sql
--
-- from the repository's top directory: it reads the seed definition from
-- demo/order_fulfillment.asl.json.
--
-- It creates (and, when loaded again, first drops) three things:
--
--   1. schema fulfillment: orders with several items, stock per SKU and
--      warehouse, reservations, the current order status with a timestamped
--      log, shipments.  Constraints make impossible states impossible:
--      stock never goes negative or below what is reserved, an order's
--      status only moves along fulfillment.status_transitions and always
--      equals the newest entry of its log, a reservation line is either
--      held or closed, an order ships once.
--   2. the task functions (input jsonb) RETURNS jsonb.  Each returns its
--      input enriched, so the next task gets what it needs, and each is
--      idempotent: a task that runs again (a retry, a re-driven execution)
--      finds its work done and returns the same answer.  A task fails with
--      a named error through orderflow.raise_error(); orderflow runs every
--      task in a subtransaction, so a failure also undoes the task's
--      partial writes (for example the reservations of the items before
--      the short one).
--   3. two state machines:
--        order_fulfillment             the seed definition, verbatim: the
--                                      file demo/order_fulfillment.asl.json,
--                                      a byte-identical copy of the user's
--                                      document (../shared/seed/; the
--                                      regression test fulfillment_workflow
--                                      and TAP 026 compare them), its ARNs
--                                      with the REGION and ACCOUNT_ID
--                                      placeholders bound below
--        order_fulfillment_production  what a team would run: items reserved
--                                      one by one, retries for transient
--                                      database errors, and compensation
--                                      (release the reservation, mark the
--                                      order BACKORDERED) when stock is short.
--
-- Everything is schema-qualified and every function pins its search_path.
-- No sample data is loaded: demo/surge.sh and the regression tests create
-- their own products, stock and orders (fulfillment.create_order()).

-- Loading again starts over (the regression tests rely on that).
SELECT pg_catalog.count(*) AS dropped_state_machines
  FROM (SELECT orderflow.delete_state_machine(name, force => true)
          FROM orderflow.state_machines
         WHERE name IN ('order_fulfillment', 'order_fulfillment_production')
           AND deleted_at IS NULL) AS d \gset
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS fulfillment CASCADE;
RESET client_min_messages;

CREATE SCHEMA fulfillment;
COMMENT ON SCHEMA fulfillment IS 'The order-fulfillment demo domain of orderflow (demo/order_fulfillment.sql)';

/* ---------------------------------------------------------------------
 * Reference data
 * --------------------------------------------------------------------- */

CREATE TABLE fulfillment.warehouses (
    warehouse   text PRIMARY KEY CHECK (warehouse ~ '^[A-Z][A-Z0-9_-]{0,31}$'),
    name        text NOT NULL
);

CREATE TABLE fulfillment.products (
    sku         text PRIMARY KEY CHECK (sku ~ '^[A-Z0-9][A-Z0-9_-]{0,31}$'),
    name        text NOT NULL
);

/*
 * Stock of one SKU in one warehouse.  reserved is the part of on_hand that
 * orders have claimed but not shipped; on_hand - reserved is available.
 */
CREATE TABLE fulfillment.inventory (
    sku         text NOT NULL REFERENCES fulfillment.products,
    warehouse   text NOT NULL REFERENCES fulfillment.warehouses,
    on_hand     integer NOT NULL CHECK (on_hand >= 0),
    reserved    integer NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    PRIMARY KEY (sku, warehouse),
    CONSTRAINT inventory_reserved_within_on_hand CHECK (reserved <= on_hand)
);

/*
 * Order statuses and the moves between them.  The status log below refers
 * to status_transitions, so a move that is not listed here cannot be
 * recorded at all.
 */
CREATE TABLE fulfillment.order_statuses (
    status      text PRIMARY KEY,
    description text NOT NULL
);

INSERT INTO fulfillment.order_statuses (status, description) VALUES
    ('NEW',         'received, not looked at yet'),
    ('PROCESSING',  'validated, stock being reserved'),
    ('RESERVED',    'every item has stock reserved'),
    ('CONFIRMED',   'confirmed to the customer, ready to ship'),
    ('SHIPPED',     'shipped; the reserved stock left the warehouse'),
    ('BACKORDERED', 'not enough stock; nothing is reserved'),
    ('ON_HOLD',     'a step failed after its retries; needs a person'),
    ('CANCELLED',   'cancelled; nothing is reserved');

CREATE TABLE fulfillment.status_transitions (
    from_status text NOT NULL REFERENCES fulfillment.order_statuses,
    to_status   text NOT NULL REFERENCES fulfillment.order_statuses,
    PRIMARY KEY (from_status, to_status),
    CHECK (from_status <> to_status)
);

INSERT INTO fulfillment.status_transitions (from_status, to_status) VALUES
    ('NEW', 'PROCESSING'), ('NEW', 'CANCELLED'),
    ('PROCESSING', 'RESERVED'), ('PROCESSING', 'BACKORDERED'),
    ('PROCESSING', 'ON_HOLD'), ('PROCESSING', 'CANCELLED'),
    ('RESERVED', 'CONFIRMED'), ('RESERVED', 'BACKORDERED'),
    ('RESERVED', 'ON_HOLD'), ('RESERVED', 'CANCELLED'),
    ('CONFIRMED', 'SHIPPED'), ('CONFIRMED', 'ON_HOLD'), ('CONFIRMED', 'CANCELLED'),
    ('BACKORDERED', 'PROCESSING'), ('BACKORDERED', 'CANCELLED'),
    ('ON_HOLD', 'PROCESSING'), ('ON_HOLD', 'CANCELLED');

/* ---------------------------------------------------------------------
 * Orders
 * --------------------------------------------------------------------- */

/*
 * status is the current status; status_seq points at the log entry that
 * set it, and the foreign key orders_status_is_logged makes them agree:
 * an order cannot exist without its log, nor show a status its log does
 * not end with.  fulfillment.create_order() and fulfillment.set_status()
 * are the writers.
 */
CREATE TABLE fulfillment.orders (
    order_id    bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    customer    text NOT NULL CHECK (customer <> ''),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    status      text NOT NULL DEFAULT 'NEW' REFERENCES fulfillment.order_statuses,
    status_seq  integer NOT NULL DEFAULT 1 CHECK (status_seq > 0),
    updated_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

/*
 * One line per SKU of an order (a second line of the same SKU would just
 * be a larger qty).
 */
CREATE TABLE fulfillment.order_items (
    order_id    bigint NOT NULL REFERENCES fulfillment.orders ON DELETE CASCADE,
    line_no     integer NOT NULL CHECK (line_no > 0),
    sku         text NOT NULL REFERENCES fulfillment.products,
    qty         integer NOT NULL CHECK (qty > 0 AND qty <= 1000),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku),
    UNIQUE (order_id, line_no, sku)         -- target of reservations' key
);

/*
 * The status log: entry seq moves the order from_status -> to_status.
 * Entry 1 creates the order as NEW; every later entry starts where the
 * previous one ended (the self-referencing key on prev_seq) and follows an
 * allowed transition (the key on status_transitions).  UNIQUE (order_id,
 * prev_seq) keeps the log a single chain.
 */
CREATE TABLE fulfillment.order_status_log (
    order_id    bigint NOT NULL REFERENCES fulfillment.orders ON DELETE CASCADE,
    seq         integer NOT NULL CHECK (seq > 0),
    prev_seq    integer GENERATED ALWAYS AS (NULLIF(seq - 1, 0)) STORED,
    from_status text,
    to_status   text NOT NULL REFERENCES fulfillment.order_statuses,
    changed_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    note        text,
    PRIMARY KEY (order_id, seq),
    UNIQUE (order_id, prev_seq),
    UNIQUE (order_id, seq, to_status),
    CONSTRAINT status_log_first_entry_is_new
        CHECK (CASE WHEN seq = 1 THEN from_status IS NULL AND to_status = 'NEW'
                    ELSE from_status IS NOT NULL END),
    CONSTRAINT status_log_transition_allowed
        FOREIGN KEY (from_status, to_status) REFERENCES fulfillment.status_transitions,
    CONSTRAINT status_log_follows_previous
        FOREIGN KEY (order_id, prev_seq, from_status)
        REFERENCES fulfillment.order_status_log (order_id, seq, to_status)
);

ALTER TABLE fulfillment.orders
    ADD CONSTRAINT orders_status_is_logged
    FOREIGN KEY (order_id, status_seq, status)
    REFERENCES fulfillment.order_status_log (order_id, seq, to_status)
    DEFERRABLE INITIALLY IMMEDIATE;

/*
 * Stock held for one order line in one warehouse (a line may be served by
 * several warehouses).  HELD rows are counted in inventory.reserved;
 * RELEASED ones went back to available stock, SHIPPED ones left with a
 * shipment.  At most one HELD row per line and warehouse.
 */
CREATE TABLE fulfillment.reservations (
    reservation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint NOT NULL,
    line_no     integer NOT NULL,
    sku         text NOT NULL,
    warehouse   text NOT NULL,
    qty         integer NOT NULL CHECK (qty > 0),
    state       text NOT NULL DEFAULT 'HELD' CHECK (state IN ('HELD', 'RELEASED', 'SHIPPED')),
    reserved_at timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
    closed_at   timestamptz,
    FOREIGN KEY (order_id, line_no, sku)
        REFERENCES fulfillment.order_items (order_id, line_no, sku) ON DELETE CASCADE,
    FOREIGN KEY (sku, warehouse) REFERENCES fulfillment.inventory,
    CONSTRAINT reservation_closed_iff_not_held CHECK ((state = 'HELD') = (closed_at IS NULL))
);

CREATE UNIQUE INDEX reservations_one_held_per_line_warehouse
    ON fulfillment.reservations (order_id, line_no, warehouse) WHERE state = 'HELD';
CREATE INDEX reservations_order ON fulfillment.reservations (order_id);

/* An order ships at most once; its lines are the reservations it consumed. */
CREATE TABLE fulfillment.shipments (
    shipment_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id    bigint NOT NULL UNIQUE REFERENCES fulfillment.orders,
    tracking    text NOT NULL UNIQUE,
    shipped_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

CREATE TABLE fulfillment.shipment_lines (
    shipment_id    bigint NOT NULL REFERENCES fulfillment.shipments ON DELETE CASCADE,
    reservation_id bigint NOT NULL UNIQUE REFERENCES fulfillment.reservations,
    sku         text NOT NULL,
    warehouse   text NOT NULL,
    qty         integer NOT NULL CHECK (qty > 0),
    PRIMARY KEY (shipment_id, reservation_id),
    FOREIGN KEY (sku, warehouse) REFERENCES fulfillment.inventory
);

CREATE INDEX shipment_lines_sku ON fulfillment.shipment_lines (sku, warehouse);

/* ---------------------------------------------------------------------
 * Helpers (not tasks)
 * --------------------------------------------------------------------- */

/*
 * Create an order from [{"sku": ..., "qty": ...}, ...]: the order, its
 * items (line_no in the given order) and status log entry 1 (NEW), in one
 * statement so that orders_status_is_logged holds at its end.
 */
CREATE FUNCTION fulfillment.create_order(customer text, items jsonb, order_id bigint DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    new_id bigint;
BEGIN
    IF items IS NULL OR jsonb_typeof(items) <> 'array' OR jsonb_array_length(items) = 0 THEN
        RAISE EXCEPTION 'an order needs at least one item'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass items as [{"sku": "SKU-0001", "qty": 2}, ...].';
    END IF;
    IF order_id IS NULL THEN
        new_id := nextval(pg_get_serial_sequence('fulfillment.orders', 'order_id'));
    ELSE
        new_id := order_id;
    END IF;
    WITH o AS (
        INSERT INTO fulfillment.orders (order_id, customer) VALUES (new_id, customer)
        RETURNING orders.order_id
    ), log AS (
        INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status, note)
        SELECT o.order_id, 1, NULL, 'NEW', 'order received' FROM o
    )
    INSERT INTO fulfillment.order_items (order_id, line_no, sku, qty)
    SELECT o.order_id, i.ord::integer, i.item->>'sku', (i.item->>'qty')::integer
      FROM o, jsonb_array_elements(items) WITH ORDINALITY AS i(item, ord);
    RETURN new_id;
END
$$;

/*
 * Move an order to `status` and log it.  Returns false (and logs nothing)
 * when the order already has that status, so callers are idempotent.  A
 * move that is not in fulfillment.status_transitions fails with the named
 * error OrderStateError (an ERROR outside a task).
 */
CREATE FUNCTION fulfillment.set_status(order_id bigint, status text, note text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o record;
BEGIN
    SELECT ord.status, ord.status_seq INTO o
      FROM fulfillment.orders AS ord
     WHERE ord.order_id = set_status.order_id
       FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM orderflow.raise_error('OrderNotFound', format('order %s does not exist', set_status.order_id));
    END IF;
    IF o.status = set_status.status THEN
        RETURN false;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM fulfillment.status_transitions AS t
                    WHERE t.from_status = o.status AND t.to_status = set_status.status) THEN
        PERFORM orderflow.raise_error('OrderStateError',
            format('order %s cannot go from %s to %s', set_status.order_id, o.status, set_status.status));
    END IF;
    INSERT INTO fulfillment.order_status_log (order_id, seq, from_status, to_status, note)
    VALUES (set_status.order_id, o.status_seq + 1, o.status, set_status.status, note);
    UPDATE fulfillment.orders AS ord
       SET status = set_status.status, status_seq = o.status_seq + 1,
           updated_at = clock_timestamp()
     WHERE ord.order_id = set_status.order_id;
    RETURN true;
END
$$;

/*
 * The order id of a task input, and the order row locked FOR UPDATE: every
 * task of one order serializes on it, which is what makes the idempotency
 * checks below safe if two runs of a task ever overlap.
 */
CREATE FUNCTION fulfillment.lock_order(input jsonb)
RETURNS fulfillment.orders
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders;
BEGIN
    IF input IS NULL OR jsonb_typeof(input -> 'order_id') IS DISTINCT FROM 'number' THEN
        PERFORM orderflow.raise_error('OrderValidationError',
            format('the input needs a numeric "order_id", got %s', coalesce(left(input::text, 200), 'null')));
    END IF;
    SELECT * INTO o FROM fulfillment.orders WHERE order_id = (input ->> 'order_id')::bigint FOR UPDATE;
    IF NOT FOUND THEN
        PERFORM orderflow.raise_error('OrderNotFound', format('order %s does not exist', input ->> 'order_id'));
    END IF;
    RETURN o;
END
$$;

/* The order's items as [{"line_no", "sku", "qty"}], in SKU order */
CREATE FUNCTION fulfillment.order_items_json(order_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('line_no', i.line_no, 'sku', i.sku, 'qty', i.qty)
                              ORDER BY i.sku), '[]')
      FROM fulfillment.order_items AS i
     WHERE i.order_id = order_items_json.order_id
$$;

/* The order's HELD reservations: {"lines": [...], "units": n} */
CREATE FUNCTION fulfillment.reservation_json(order_id bigint)
RETURNS jsonb
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT jsonb_build_object(
               'lines', coalesce(jsonb_agg(jsonb_build_object('line_no', r.line_no, 'sku', r.sku,
                                                              'warehouse', r.warehouse, 'qty', r.qty)
                                           ORDER BY r.sku, r.warehouse), '[]'),
               'units', coalesce(sum(r.qty), 0))
      FROM fulfillment.reservations AS r
     WHERE r.order_id = reservation_json.order_id AND r.state = 'HELD'
$$;

/*
 * Reserve what is still missing for one order line.  The SKU's stock rows
 * are locked in warehouse order (items are handled in SKU order), so two
 * transactions reserving the same SKUs always lock in the same order.  The
 * line is filled from the warehouses with the most available stock first,
 * split if needed.  The UPDATE re-checks availability itself, so stock can
 * never be promised twice.  Returns the shortfall: 0 when the line is now
 * fully reserved; otherwise nothing was reserved for the line by this call
 * (the caller raises, which also undoes the partial work of its task).
 */
CREATE FUNCTION fulfillment.reserve_line(order_id bigint, line_no integer)
RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    item record;
    need integer;
    available integer;
    take integer;
    w record;
BEGIN
    SELECT i.sku, i.qty INTO item
      FROM fulfillment.order_items AS i
     WHERE i.order_id = reserve_line.order_id AND i.line_no = reserve_line.line_no;
    IF NOT FOUND THEN
        PERFORM orderflow.raise_error('OrderValidationError',
            format('order %s has no line %s', reserve_line.order_id, reserve_line.line_no));
    END IF;
    SELECT item.qty - coalesce(sum(r.qty), 0) INTO need
      FROM fulfillment.reservations AS r
     WHERE r.order_id = reserve_line.order_id AND r.line_no = reserve_line.line_no
       AND r.state = 'HELD';
    IF need <= 0 THEN
        RETURN 0;                       -- already reserved (a repeated call)
    END IF;

    -- lock the SKU's stock rows, always in the same order
    PERFORM 1 FROM fulfillment.inventory AS inv
      WHERE inv.sku = item.sku ORDER BY inv.warehouse FOR UPDATE;
    SELECT coalesce(sum(inv.on_hand - inv.reserved), 0) INTO available
      FROM fulfillment.inventory AS inv WHERE inv.sku = item.sku;
    IF available < need THEN
        RETURN need - available;
    END IF;

    FOR w IN SELECT inv.warehouse, inv.on_hand - inv.reserved AS free
               FROM fulfillment.inventory AS inv
              WHERE inv.sku = item.sku AND inv.on_hand - inv.reserved > 0
              ORDER BY inv.on_hand - inv.reserved DESC, inv.warehouse
    LOOP
        take := least(need, w.free);
        UPDATE fulfillment.inventory AS inv
           SET reserved = inv.reserved + take
         WHERE inv.sku = item.sku AND inv.warehouse = w.warehouse
           AND inv.on_hand - inv.reserved >= take;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'stock of % in % changed while locked', item.sku, w.warehouse
                USING ERRCODE = 'internal_error';
        END IF;
        INSERT INTO fulfillment.reservations AS r (order_id, line_no, sku, warehouse, qty)
        VALUES (reserve_line.order_id, reserve_line.line_no, item.sku, w.warehouse, take)
        ON CONFLICT (order_id, line_no, warehouse) WHERE state = 'HELD'
        DO UPDATE SET qty = r.qty + excluded.qty;
        need := need - take;
        EXIT WHEN need = 0;
    END LOOP;
    RETURN 0;
END
$$;

/* Are all lines of the order fully reserved? */
CREATE FUNCTION fulfillment.fully_reserved(order_id bigint)
RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT NOT EXISTS (
        SELECT 1
          FROM fulfillment.order_items AS i
          LEFT JOIN fulfillment.reservations AS r
                 ON r.order_id = i.order_id AND r.line_no = i.line_no AND r.state = 'HELD'
         WHERE i.order_id = fully_reserved.order_id
         GROUP BY i.line_no, i.qty
        HAVING coalesce(sum(r.qty), 0) <> i.qty)
$$;

/* ---------------------------------------------------------------------
 * Task functions: f(input jsonb) RETURNS jsonb
 * --------------------------------------------------------------------- */

/*
 * ProcessOrder: validate the order and move it to PROCESSING.  Returns the
 * input with the order's customer, items (in SKU order), item_count, units
 * and status.  A BACKORDERED or ON_HOLD order may be processed again; an
 * order already past PROCESSING is left as it is (a repeated run).
 */
CREATE FUNCTION fulfillment.process_order(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    items jsonb := fulfillment.order_items_json(o.order_id);
BEGIN
    IF jsonb_array_length(items) = 0 THEN
        PERFORM orderflow.raise_error('OrderValidationError', format('order %s has no items', o.order_id));
    END IF;
    IF o.status = 'CANCELLED' THEN
        PERFORM orderflow.raise_error('OrderValidationError', format('order %s is cancelled', o.order_id));
    END IF;
    IF o.status IN ('NEW', 'BACKORDERED', 'ON_HOLD') THEN
        PERFORM fulfillment.set_status(o.order_id, 'PROCESSING', 'ProcessOrder');
        o.status := 'PROCESSING';
    END IF;
    RETURN input || jsonb_build_object(
        'order_id', o.order_id,
        'customer', o.customer,
        'items', items,
        'item_count', jsonb_array_length(items),
        'units', (SELECT sum((i ->> 'qty')::integer) FROM jsonb_array_elements(items) AS i),
        'status', o.status);
END
$$;

/*
 * CheckInventory (seed workflow): reserve stock for every item of the
 * order, in SKU order.  When an item is short it fails with
 * InventoryError "SKU <sku> short by <n>"; the raise rolls back the items
 * already reserved by this call (the task's subtransaction), so a failed
 * check holds nothing.  On success the order is RESERVED and the result
 * carries "reservation": {"lines": [...], "units": n}.
 */
CREATE FUNCTION fulfillment.check_inventory(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    item record;
    short integer;
BEGIN
    IF o.status IN ('RESERVED', 'CONFIRMED', 'SHIPPED') THEN
        -- done before (a repeated run): report what is held
        RETURN input || jsonb_build_object('reservation', fulfillment.reservation_json(o.order_id),
                                           'status', o.status);
    END IF;
    IF o.status <> 'PROCESSING' THEN
        PERFORM orderflow.raise_error('OrderStateError',
            format('order %s is %s, not PROCESSING: run ProcessOrder first', o.order_id, o.status));
    END IF;
    FOR item IN SELECT i.line_no, i.sku, i.qty FROM fulfillment.order_items AS i
                 WHERE i.order_id = o.order_id ORDER BY i.sku
    LOOP
        short := fulfillment.reserve_line(o.order_id, item.line_no);
        IF short > 0 THEN
            PERFORM orderflow.raise_error('InventoryError', format('SKU %s short by %s', item.sku, short));
        END IF;
    END LOOP;
    PERFORM fulfillment.set_status(o.order_id, 'RESERVED', 'CheckInventory');
    RETURN input || jsonb_build_object('reservation', fulfillment.reservation_json(o.order_id),
                                       'status', 'RESERVED');
END
$$;

/*
 * CheckInventory (production workflow): reserve ONE item,
 * {"order_id": ..., "item": {"line_no": ..., "sku": ...}} (one iteration of
 * the Map state CheckInventory).  Short: InventoryError "SKU <sku> short by <n>",
 * nothing of this item reserved.  When the last missing item is reserved
 * the order becomes RESERVED.  Returns {"order_id", "line_no", "sku",
 * "reserved": [{"warehouse", "qty"}], "order_reserved": bool}.
 */
CREATE FUNCTION fulfillment.check_inventory_item(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    line integer;
    sku text;
    short integer;
    complete boolean;
BEGIN
    IF jsonb_typeof(input #> '{item,line_no}') IS DISTINCT FROM 'number' THEN
        PERFORM orderflow.raise_error('OrderValidationError',
            format('the input needs "item": {"line_no": ...}, got %s', left(input::text, 200)));
    END IF;
    line := (input #>> '{item,line_no}')::integer;
    SELECT i.sku INTO sku FROM fulfillment.order_items AS i
     WHERE i.order_id = o.order_id AND i.line_no = line;
    IF NOT FOUND THEN
        PERFORM orderflow.raise_error('OrderValidationError', format('order %s has no line %s', o.order_id, line));
    END IF;
    IF o.status = 'PROCESSING' THEN
        short := fulfillment.reserve_line(o.order_id, line);
        IF short > 0 THEN
            PERFORM orderflow.raise_error('InventoryError', format('SKU %s short by %s', sku, short));
        END IF;
    ELSIF o.status NOT IN ('RESERVED', 'CONFIRMED', 'SHIPPED') THEN
        PERFORM orderflow.raise_error('OrderStateError',
            format('order %s is %s, not PROCESSING: run ProcessOrder first', o.order_id, o.status));
    END IF;
    complete := fulfillment.fully_reserved(o.order_id);
    IF complete THEN
        PERFORM fulfillment.set_status(o.order_id, 'RESERVED', 'CheckInventory');
    END IF;
    RETURN jsonb_build_object(
        'order_id', o.order_id, 'line_no', line, 'sku', sku,
        'reserved', (SELECT coalesce(jsonb_agg(jsonb_build_object('warehouse', r.warehouse, 'qty', r.qty)
                                               ORDER BY r.warehouse), '[]')
                       FROM fulfillment.reservations AS r
                      WHERE r.order_id = o.order_id AND r.line_no = line AND r.state IN ('HELD', 'SHIPPED')),
        'order_reserved', complete);
END
$$;

/*
 * UpdateOrderStatus: confirm a fully reserved order (RESERVED ->
 * CONFIRMED), or move it to input.target_status when given (the
 * production workflow uses it to put an order ON_HOLD).  Repeated runs
 * change nothing.
 */
CREATE FUNCTION fulfillment.update_order_status(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    target text := coalesce(input ->> 'target_status', 'CONFIRMED');
BEGIN
    IF target = 'CONFIRMED' AND o.status NOT IN ('CONFIRMED', 'SHIPPED') THEN
        IF o.status <> 'RESERVED' OR NOT fulfillment.fully_reserved(o.order_id) THEN
            PERFORM orderflow.raise_error('OrderStateError',
                format('order %s is %s and cannot be confirmed before all its items are reserved',
                       o.order_id, o.status));
        END IF;
    END IF;
    IF target = 'CONFIRMED' AND o.status = 'SHIPPED' THEN
        target := 'SHIPPED';            -- a repeated run after shipping
    END IF;
    PERFORM fulfillment.set_status(o.order_id, target,
                                   coalesce(input ->> 'note', input #>> '{error,Cause}', 'UpdateOrderStatus'));
    RETURN input || jsonb_build_object('status', target);
END
$$;

/*
 * ShipOrder: ship a CONFIRMED order.  Consumes its reservations
 * (on_hand -= qty, reserved -= qty per warehouse), records the shipment
 * and its lines, status SHIPPED.  A repeated run returns the shipment.
 */
CREATE FUNCTION fulfillment.ship_order(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    s fulfillment.shipments;
    r record;
    units integer := 0;
    ordered integer;
BEGIN
    IF o.status = 'SHIPPED' THEN
        SELECT * INTO s FROM fulfillment.shipments WHERE order_id = o.order_id;
    ELSE
        IF o.status <> 'CONFIRMED' THEN
            PERFORM orderflow.raise_error('OrderStateError',
                format('order %s is %s, not CONFIRMED', o.order_id, o.status));
        END IF;
        INSERT INTO fulfillment.shipments (order_id, tracking)
        VALUES (o.order_id, format('OF%s', lpad(o.order_id::text, 10, '0')))
        RETURNING * INTO s;
        FOR r IN SELECT res.reservation_id, res.sku, res.warehouse, res.qty
                   FROM fulfillment.reservations AS res
                  WHERE res.order_id = o.order_id AND res.state = 'HELD'
                  ORDER BY res.sku, res.warehouse
                    FOR UPDATE
        LOOP
            UPDATE fulfillment.inventory AS inv
               SET on_hand = inv.on_hand - r.qty, reserved = inv.reserved - r.qty
             WHERE inv.sku = r.sku AND inv.warehouse = r.warehouse AND inv.reserved >= r.qty;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'reservation % of % in % is not in the stock''s reserved count',
                                r.reservation_id, r.sku, r.warehouse
                    USING ERRCODE = 'internal_error';
            END IF;
            UPDATE fulfillment.reservations
               SET state = 'SHIPPED', closed_at = clock_timestamp()
             WHERE reservation_id = r.reservation_id;
            INSERT INTO fulfillment.shipment_lines (shipment_id, reservation_id, sku, warehouse, qty)
            VALUES (s.shipment_id, r.reservation_id, r.sku, r.warehouse, r.qty);
            units := units + r.qty;
        END LOOP;
        SELECT sum(i.qty) INTO ordered FROM fulfillment.order_items AS i WHERE i.order_id = o.order_id;
        IF units <> ordered THEN
            PERFORM orderflow.raise_error('OrderStateError',
                format('order %s has %s of its %s units reserved', o.order_id, units, ordered));
        END IF;
        PERFORM fulfillment.set_status(o.order_id, 'SHIPPED', 'ShipOrder');
    END IF;
    RETURN input || jsonb_build_object(
        'shipment', jsonb_build_object(
            'shipment_id', s.shipment_id,
            'tracking', s.tracking,
            'units', (SELECT sum(l.qty) FROM fulfillment.shipment_lines AS l WHERE l.shipment_id = s.shipment_id),
            'warehouses', (SELECT jsonb_agg(DISTINCT l.warehouse) FROM fulfillment.shipment_lines AS l
                            WHERE l.shipment_id = s.shipment_id)),
        'status', 'SHIPPED');
END
$$;

/*
 * ReleaseReservation (compensation): give back everything the order holds.
 * Idempotent: what is released once is not HELD any more.  Returns the
 * input with "released": {"lines": n, "units": n} (of this call).
 */
CREATE FUNCTION fulfillment.release_reservation(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
    r record;
    n integer := 0;
    units integer := 0;
BEGIN
    FOR r IN SELECT res.reservation_id, res.sku, res.warehouse, res.qty
               FROM fulfillment.reservations AS res
              WHERE res.order_id = o.order_id AND res.state = 'HELD'
              ORDER BY res.sku, res.warehouse
                FOR UPDATE
    LOOP
        UPDATE fulfillment.inventory AS inv
           SET reserved = inv.reserved - r.qty
         WHERE inv.sku = r.sku AND inv.warehouse = r.warehouse AND inv.reserved >= r.qty;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'reservation % of % in % is not in the stock''s reserved count',
                            r.reservation_id, r.sku, r.warehouse
                USING ERRCODE = 'internal_error';
        END IF;
        UPDATE fulfillment.reservations
           SET state = 'RELEASED', closed_at = clock_timestamp()
         WHERE reservation_id = r.reservation_id;
        n := n + 1;
        units := units + r.qty;
    END LOOP;
    RETURN input || jsonb_build_object('released', jsonb_build_object('lines', n, 'units', units));
END
$$;

/*
 * MarkBackordered: the order waits for stock.  Refuses while anything is
 * still reserved (release it first).  The note in the status log is the
 * error's cause when the input carries one ($.error.Cause, as a Catch with
 * ResultPath $.error leaves it).
 */
CREATE FUNCTION fulfillment.mark_backordered(input jsonb)
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    o fulfillment.orders := fulfillment.lock_order(input);
BEGIN
    IF EXISTS (SELECT 1 FROM fulfillment.reservations AS r
                WHERE r.order_id = o.order_id AND r.state = 'HELD') THEN
        PERFORM orderflow.raise_error('OrderStateError',
            format('order %s still holds stock: release it before marking it BACKORDERED', o.order_id));
    END IF;
    PERFORM fulfillment.set_status(o.order_id, 'BACKORDERED',
                                   coalesce(input #>> '{error,Cause}', 'MarkBackordered'));
    RETURN input || jsonb_build_object('status', 'BACKORDERED');
END
$$;

/* ---------------------------------------------------------------------
 * Resources: the AWS Lambda ARNs of the definitions, bound to the tasks.
 * The seed's ARNs keep the document's REGION and ACCOUNT_ID placeholders:
 * a resource string is any text, matched exactly.  The production
 * variant names its functions by their us-east-1 ARNs.
 * --------------------------------------------------------------------- */

SELECT orderflow.register_resource('arn:aws:lambda:REGION:ACCOUNT_ID:function:ProcessOrderFunction',
                                   'fulfillment.process_order(jsonb)'::regprocedure) AS s1,
       orderflow.register_resource('arn:aws:lambda:REGION:ACCOUNT_ID:function:CheckInventoryFunction',
                                   'fulfillment.check_inventory(jsonb)'::regprocedure) AS s2,
       orderflow.register_resource('arn:aws:lambda:REGION:ACCOUNT_ID:function:UpdateStatusFunction',
                                   'fulfillment.update_order_status(jsonb)'::regprocedure) AS s3,
       orderflow.register_resource('arn:aws:lambda:REGION:ACCOUNT_ID:function:ShipOrderFunction',
                                   'fulfillment.ship_order(jsonb)'::regprocedure) AS s4 \gset

SELECT orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:ProcessOrder',
                                   'fulfillment.process_order(jsonb)'::regprocedure) AS r1,
       orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:UpdateOrderStatus',
                                   'fulfillment.update_order_status(jsonb)'::regprocedure) AS r3,
       orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:ShipOrder',
                                   'fulfillment.ship_order(jsonb)'::regprocedure) AS r4,
       orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:CheckInventoryItem',
                                   'fulfillment.check_inventory_item(jsonb)'::regprocedure) AS r5,
       orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:ReleaseReservation',
                                   'fulfillment.release_reservation(jsonb)'::regprocedure) AS r6,
       orderflow.register_resource('arn:aws:lambda:us-east-1:123456789012:function:MarkBackordered',
                                   'fulfillment.mark_backordered(jsonb)'::regprocedure) AS r7 \gset

/* ---------------------------------------------------------------------
 * The seed: the definition as given, read from its file unchanged
 * --------------------------------------------------------------------- */

\set seed_definition `cat demo/order_fulfillment.asl.json`
SELECT orderflow.create_state_machine('order_fulfillment', :'seed_definition') AS seed_version \gset

/* ---------------------------------------------------------------------
 * The production variant
 *
 * - Items are reserved one by one by the Map state CheckInventory:
 *       "CheckInventory": {"Type": "Map", "ItemsPath": "$.items",
 *           "ItemSelector": {"order_id.$": "$.order_id", "item.$": "$$.Map.Item.Value"},
 *           "MaxConcurrency": 1, "ResultPath": null,
 *           "ItemProcessor": {"StartAt": "CheckItem", "States": {"CheckItem":
 *               <a Task on CheckInventoryItem with the Retry list, "End": true>}},
 *           "Catch": <InventoryError, States.ALL -> ReleaseReservation>,
 *           "Next": "UpdateOrderStatus"}
 *   Each item is a child execution (one iteration at a time); the task
 *   function (fulfillment.check_inventory_item) takes {"order_id", "item"}.
 *   The retries are on the item's task, so a retry re-checks that item
 *   only; an iteration that still fails fails the Map with the same error
 *   and cause, and the Map's Catch compensates.
 * - InventoryError is retried as in the seed, then caught: the Catch goes
 *   to ReleaseReservation (gives back the items reserved so far) and then
 *   MarkBackordered.  Any other error after retries is caught too: release,
 *   put the order ON_HOLD, and fail the execution with the original error.
 * - Transient database errors (deadlock, serialization failure, lock
 *   timeout) are retried with jitter on every task.
 * --------------------------------------------------------------------- */

SELECT $production$
{"Comment": "Order fulfillment as a team would run it: items reserved one by one, transient errors retried, stock shortages compensated (release the reservation, mark the order BACKORDERED).",
 "StartAt": "ProcessOrder",
 "States": {
  "ProcessOrder": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ProcessOrder",
     "Retry": [{"ErrorEquals": ["Postgres.DeadlockDetected", "Postgres.SerializationFailure", "Postgres.LockNotAvailable"],
                "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "Next": "CheckInventory"},
  "CheckInventory": {"Type": "Map", "Comment": "Reserve the items of $.items one at a time, each in a child execution.",
     "ItemsPath": "$.items",
     "ItemSelector": {"order_id.$": "$.order_id", "item.$": "$$.Map.Item.Value"},
     "MaxConcurrency": 1,
     "ResultPath": null,
     "ItemProcessor": {"StartAt": "CheckItem", "States": {
        "CheckItem": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:CheckInventoryItem",
           "Retry": [{"ErrorEquals": ["InventoryError"], "IntervalSeconds": 3, "MaxAttempts": 3, "BackoffRate": 2},
                     {"ErrorEquals": ["Postgres.DeadlockDetected", "Postgres.SerializationFailure", "Postgres.LockNotAvailable"],
                      "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
           "End": true}}},
     "Catch": [{"ErrorEquals": ["InventoryError"], "ResultPath": "$.error", "Next": "ReleaseReservation"},
               {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseReservation"}],
     "Next": "UpdateOrderStatus"},
  "UpdateOrderStatus": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:UpdateOrderStatus",
     "Retry": [{"ErrorEquals": ["Postgres.DeadlockDetected", "Postgres.SerializationFailure", "Postgres.LockNotAvailable"],
                "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseReservation"}],
     "Next": "ShipOrder"},
  "ShipOrder": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ShipOrder",
     "Retry": [{"ErrorEquals": ["Postgres.DeadlockDetected", "Postgres.SerializationFailure", "Postgres.LockNotAvailable"],
                "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ReleaseReservation"}],
     "End": true},
  "ReleaseReservation": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:ReleaseReservation",
     "Comment": "Compensation: idempotent, so it is safe to retry on any error.",
     "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "Next": "WasStockShort"},
  "WasStockShort": {"Type": "Choice",
     "Choices": [{"Variable": "$.error.Error", "StringEquals": "InventoryError", "Next": "MarkBackordered"}],
     "Default": "PutOnHold"},
  "MarkBackordered": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:MarkBackordered",
     "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "End": true},
  "PutOnHold": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:UpdateOrderStatus",
     "Parameters": {"order_id.$": "$.order_id", "target_status": "ON_HOLD", "error.$": "$.error"},
     "ResultPath": null,
     "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5, "BackoffRate": 2, "JitterStrategy": "FULL"}],
     "Next": "FulfillmentFailed"},
  "FulfillmentFailed": {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "States.JsonToString($.error)"}}}
$production$ AS production_definition \gset

SELECT orderflow.create_state_machine('order_fulfillment_production', :'production_definition') AS production_version \gset
