--
-- orderflow.render_graph(): the seed workflow as Mermaid and Graphviz DOT,
-- alone and with executions' paths, plus nesting, escaping and errors.
--
\set SHOW_CONTEXT never
\set ECHO none
SET client_min_messages = warning;
\i demo/order_fulfillment.sql
RESET client_min_messages;
\set ECHO all

\pset format unaligned
\pset tuples_only on

-- The seed definition
SELECT orderflow.render_graph('order_fulfillment');
SELECT orderflow.render_graph('order_fulfillment', format => 'dot');

-- The production variant: the Map's item processor as a subgraph, Choice rules, Catch edges
SELECT orderflow.render_graph('order_fulfillment_production');

-- With executions.  Stock for one order; a second one is short.  The
-- short order runs on a copy of the seed with quick retries (1 s, 2 s).
\pset format aligned
\pset tuples_only off
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'Newark');
INSERT INTO fulfillment.products (sku, name) VALUES ('A', 'apples'), ('C', 'cherries');
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand) VALUES ('A', 'EAST', 10), ('C', 'EAST', 1);
SELECT fulfillment.create_order('ann', '[{"sku": "A", "qty": 2}]', 301),
       fulfillment.create_order('ben', '[{"sku": "A", "qty": 1}, {"sku": "C", "qty": 3}]', 302),
       fulfillment.create_order('cat', '[{"sku": "A", "qty": 1}, {"sku": "C", "qty": 2}]', 303);
SELECT orderflow.create_state_machine('order_fulfillment_fast',
           jsonb_set(jsonb_set(definition, '{States,CheckInventory,Retry,0,IntervalSeconds}', '1'),
                     '{States,CheckInventory,Retry,0,MaxAttempts}', '2'))
  FROM orderflow.state_machine_versions WHERE state_machine = 'order_fulfillment';
SELECT orderflow.create_state_machine('order_fulfillment_production_fast',
           jsonb_set(jsonb_set(definition, '{States,CheckInventory,ItemProcessor,States,CheckItem,Retry,0,IntervalSeconds}', '1'),
                     '{States,CheckInventory,ItemProcessor,States,CheckItem,Retry,0,MaxAttempts}', '1'))
  FROM orderflow.state_machine_versions WHERE state_machine = 'order_fulfillment_production';
SELECT orderflow.start_execution('order_fulfillment', '{"order_id": 301}', 'order-301') AS e301 \gset
SELECT orderflow.start_execution('order_fulfillment_fast', '{"order_id": 302}', 'order-302') AS e302 \gset
SELECT orderflow.start_execution('order_fulfillment_production_fast', '{"order_id": 303}', 'order-303') AS e303 \gset
SELECT orderflow.wait_for_execution(:'e301', '60 s') AS e301, orderflow.wait_for_execution(:'e302', '60 s') AS e302, orderflow.wait_for_execution(:'e303', '60 s') AS e303;

\pset format unaligned
\pset tuples_only on
-- shipped: the whole path green
SELECT orderflow.render_graph('order_fulfillment', :'e301');
SELECT orderflow.render_graph('order_fulfillment', :'e301', 'dot');
-- short: CheckInventory retried twice, then failed (red, orange border)
SELECT orderflow.render_graph('order_fulfillment_fast', :'e302');
SELECT orderflow.render_graph('order_fulfillment_fast', :'e302', 'dot');
-- compensated: the Map CheckInventory caught (purple); its CheckItem
-- coloured over both iterations (A succeeded, C retried once, then failed)
SELECT orderflow.render_graph('order_fulfillment_production_fast', :'e303');

-- Running, then stopped: where it is now (blue), then where it stopped
SELECT orderflow.create_state_machine('render_wait', '{"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Next": "Sleep"},
    "Sleep": {"Type": "Wait", "Seconds": 300, "Next": "Done"},
    "Done": {"Type": "Succeed"}}}') \gset
SELECT orderflow.start_execution('render_wait', '{}', 'sleeper') AS sleeper \gset
DO $$
BEGIN
    FOR i IN 1 .. 300 LOOP      -- until it sleeps in the Wait state
        EXIT WHEN EXISTS (SELECT 1 FROM orderflow.execution_history AS h
                            JOIN orderflow.executions AS e ON e.id = h.execution_id
                           WHERE e.name = 'sleeper' AND h.type = 'WaitStateEntered');
        PERFORM pg_sleep(0.1);
    END LOOP;
END
$$;
SELECT orderflow.wait_for_execution(:'sleeper', '0.1 s');
SELECT orderflow.render_graph('render_wait', :'sleeper');
SELECT orderflow.stop_execution(:'sleeper', 'Operator', 'not needed');
SELECT orderflow.render_graph('render_wait', :'sleeper', 'dot');

-- Every state type, nesting (Parallel branches, the Map item processor),
-- Choice rules of all kinds, and names that need escaping
SELECT orderflow.create_state_machine('render_shapes', $${"StartAt": "Say \"hi\" <now> #1", "States": {
 "Say \"hi\" <now> #1": {"Type": "Pass", "Next": "Pick"},
 "Pick": {"Type": "Choice", "Choices": [
     {"And": [{"Variable": "$.a", "IsPresent": true}, {"Not": {"Variable": "$.b", "StringMatches": "x*|y"}}], "Next": "Fan"},
     {"Variable": "$.n", "NumericGreaterThanEquals": 10, "Next": "Each"},
     {"Or": [{"Variable": "$.t", "TimestampLessThanPath": "$.u"}, {"Variable": "$.flag", "BooleanEquals": false},
             {"Variable": "$.x", "IsNull": false}], "Next": "Pause"}],
   "Default": "Nope"},
 "Fan": {"Type": "Parallel", "Branches": [
     {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": true}}},
     {"StartAt": "B2", "States": {"B2": {"Type": "Wait", "Seconds": 1, "Next": "B3"}, "B3": {"Type": "Succeed"}}}],
   "Retry": [{"ErrorEquals": ["States.TaskFailed", "States.Timeout", "Custom.One", "Custom.Two"], "MaxDelaySeconds": 60, "JitterStrategy": "FULL"}],
   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Nope"}], "Next": "Done"},
 "Each": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"StartAt": "Item", "States": {"Item": {"Type": "Pass", "End": true}}}, "Next": "Done"},
 "Pause": {"Type": "Wait", "Seconds": 1, "Next": "Done"},
 "Done": {"Type": "Succeed"},
 "Nope": {"Type": "Fail", "Error": "Nope", "Cause": "no"}}}$$) \gset
SELECT orderflow.render_graph('render_shapes');
SELECT orderflow.render_graph('render_shapes', format => 'graphviz');

-- An execution with Parallel branches and Map iterations (child
-- executions): the nested states are coloured over all their runs
CREATE FUNCTION public.render_three_fails(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF (input ->> 'v')::integer = 3 THEN
        PERFORM orderflow.raise_error('Three', 'three is bad');
    END IF;
    RETURN input;
END
$$;
SELECT orderflow.create_state_machine('render_nested', $${"StartAt": "Fan", "States": {
 "Fan": {"Type": "Parallel", "Branches": [
     {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": true}}},
     {"StartAt": "B2", "States": {"B2": {"Type": "Pass", "Next": "B3"}, "B3": {"Type": "Succeed"}}}],
   "Next": "Each"},
 "Each": {"Type": "Map", "ItemsPath": "$[0].items", "ItemProcessor": {"StartAt": "Item", "States": {
      "Item": {"Type": "Task", "Resource": "public.render_three_fails",
               "Retry": [{"ErrorEquals": ["Three"], "IntervalSeconds": 1, "MaxAttempts": 1}], "Next": "After"},
      "After": {"Type": "Pass", "End": true}}},
   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}], "Next": "Done"},
 "Oops": {"Type": "Pass", "End": true},
 "Done": {"Type": "Succeed"}}}$$) \gset
SELECT orderflow.start_execution('render_nested', '{"items": [{"v": 1}, {"v": 2}, {"v": 3}]}', 'nested-1') AS nested \gset
SELECT orderflow.wait_for_execution(:'nested', '60 s');
SELECT orderflow.render_graph('render_nested', :'nested');

-- Errors
\pset format aligned
\pset tuples_only off
SELECT orderflow.render_graph('no_such_machine');
SELECT orderflow.render_graph('order_fulfillment', format => 'svg');
SELECT orderflow.render_graph('order_fulfillment', '00000000-0000-0000-0000-000000000000');
SELECT orderflow.render_graph('order_fulfillment_production', :'e301');
SELECT orderflow.render_graph('order_fulfillment', NULL, NULL);
-- with these SQLSTATEs
CREATE FUNCTION pg_temp.sqlstate_of(call text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE call;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;
SELECT pg_temp.sqlstate_of($$SELECT orderflow.render_graph('no_such_machine')$$) AS unknown_machine,
       pg_temp.sqlstate_of($$SELECT orderflow.render_graph('order_fulfillment', format => 'svg')$$) AS unknown_format,
       pg_temp.sqlstate_of($$SELECT orderflow.render_graph('order_fulfillment', gen_random_uuid())$$) AS unknown_execution;
