--
-- parallel_map: Parallel and Map states, run by the background workers.
--
-- Branches and iterations are child executions (rows of
-- orderflow.executions with parent_id, branch_index) that any worker can
-- claim; the parent joins when the last one ends.  Covered: branch order,
-- failure with the branch's error and cancellation of the others, Retry and
-- Catch; Map order whatever MaxConcurrency, empty arrays, ItemsPath errors,
-- tolerated failures (count and percentage), ItemBatcher, legacy Iterator /
-- Parameters, nesting, $$.Map.Item, the SQL ItemReader, and the scoping of
-- workflow variables (Assign).  Only deterministic values are printed.
--
CREATE SCHEMA pm;

-- pm.run(sm, input): start, COMMIT (workers only see committed starts),
-- wait, report (the cause of States.Runtime is the engine's own wording
-- and is not printed); pm.history() / pm.children() describe the last one
CREATE PROCEDURE pm.run(sm text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    PERFORM set_config('pm.last', id::text, false);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '60 s');
    SELECT d.status, d.output, d.error,
           CASE WHEN d.error IS DISTINCT FROM 'States.Runtime' THEN d.cause END
      INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;

CREATE FUNCTION pm.last() RETURNS uuid
LANGUAGE sql AS $$ SELECT current_setting('pm.last')::uuid $$;

-- the parent's history (event types, with the error of failure events)
CREATE FUNCTION pm.history(execution uuid DEFAULT pm.last())
RETURNS TABLE (event_id integer, type text, state_name text, error text)
LANGUAGE sql AS $$
    SELECT h.event_id, h.type, h.state_name, h.details ->> 'error'
      FROM orderflow.execution_history AS h
     WHERE h.execution_id = execution ORDER BY h.event_id
$$;

-- the children of an execution (every Parallel/Map entry), in order
CREATE FUNCTION pm.children(execution uuid DEFAULT pm.last())
RETURNS TABLE (parent_state text, entry integer, branch_index integer, status text,
               output jsonb, error text)
LANGUAGE sql AS $$
    SELECT e.parent_state, dense_rank() OVER (ORDER BY e.parent_tag)::integer,
           e.branch_index, e.status, e.output, e.error
      FROM orderflow.executions AS e
     WHERE e.parent_id = execution
     ORDER BY e.parent_tag, e.branch_index
$$;

-- Task functions (they run with search_path = pg_catalog: qualify names)
--   pm.echo:  returns its input
--   pm.slow:  sleeps input.sleep seconds, logs when it ran, returns input.v
--   pm.fail:  fails with Error = input.error, Cause = input.cause
--   pm.flaky: fails with "Flaky" the first time it runs per sequence
--             (a sequence, because a failing task's writes are rolled back)
-- pm.poll(query): true once the boolean query is true (within 20 s)
CREATE FUNCTION pm.poll(query text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    ok boolean;
BEGIN
    FOR i IN 1 .. 400 LOOP
        EXECUTE query INTO ok;
        IF ok THEN RETURN true; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;

CREATE FUNCTION pm.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';

CREATE TABLE pm.log (run text, item integer, started timestamptz, finished timestamptz);
CREATE FUNCTION pm.slow(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_catalog.pg_sleep((input ->> 'sleep')::float8);
    INSERT INTO pm.log VALUES (input ->> 'run', (input ->> 'item')::int, t0, clock_timestamp());
    RETURN input -> 'v';
END
$$;

CREATE FUNCTION pm.fail(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.raise_error(input ->> 'error', input ->> 'cause');
    RETURN NULL;
END
$$;

CREATE SEQUENCE pm.flaky_parallel;
CREATE SEQUENCE pm.flaky_map;
CREATE FUNCTION pm.flaky(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF pg_catalog.nextval((input ->> 'seq')::regclass) = 1 THEN
        PERFORM orderflow.raise_error('Flaky', 'first call fails');
    END IF;
    RETURN '"ok"';
END
$$;

-- ===================================================================
-- Parallel
-- ===================================================================

-- outputs come in branch order, not in the order the branches finish
SELECT orderflow.create_state_machine('pm_par_order', $j${
  "StartAt": "P",
  "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
    {"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "pm.slow",
        "Parameters": {"sleep": 0.3, "v": "slow", "run": "par"}, "End": true}}},
    {"StartAt": "Fast", "States": {"Fast": {"Type": "Pass", "Result": "fast", "End": true}}},
    {"StartAt": "Echo", "States": {"Echo": {"Type": "Task", "Resource": "pm.echo", "End": true}}}
  ]}}
}$j$);
CALL pm.run('pm_par_order', '{"order": 1}');
SELECT * FROM pm.history();
-- each branch is a child execution with its own history
SELECT * FROM pm.children();
SELECT c.branch_index, h.type, h.state_name
  FROM orderflow.executions AS c JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = pm.last() ORDER BY c.branch_index, h.event_id;
SELECT count(*) FILTER (WHERE root_id = pm.last()) AS rooted, count(*) AS children
  FROM orderflow.executions WHERE parent_id = pm.last();

-- InputPath, Parameters, ResultSelector, ResultPath and OutputPath of a
-- Parallel
SELECT orderflow.create_state_machine('pm_par_paths', $j${
  "StartAt": "Step",
  "States": {
    "Step": {"Type": "Parallel",
      "InputPath": "$.order",
      "Parameters": {"id.$": "$.id", "n.$": "States.ArrayLength($.lines)"},
      "Branches": [
        {"StartAt": "B0", "States": {"B0": {"Type": "Pass", "Parameters": {"b": 0, "id.$": "$.id"}, "End": true}}},
        {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "InputPath": "$.n", "End": true}}}],
      "ResultSelector": {"first.$": "$[0]", "count.$": "$[1]"},
      "ResultPath": "$.result",
      "OutputPath": "$.result",
      "End": true}}
}$j$);
CALL pm.run('pm_par_paths', '{"order": {"id": "ORD-2", "lines": ["a", "b", "c"]}, "other": true}');

-- a failing branch (after 1 s) fails the Parallel with its own error and
-- cause; the branch still waiting (3 s) is cancelled (ABORTED,
-- ExecutionAborted) and never runs again
SELECT orderflow.create_state_machine('pm_par_fail', $j${
  "StartAt": "P",
  "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
    {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3, "Next": "Late"},
                                   "Late": {"Type": "Pass", "End": true}}},
    {"StartAt": "Pause", "States": {"Pause": {"Type": "Wait", "Seconds": 1, "Next": "Boom"},
                                    "Boom": {"Type": "Task", "Resource": "pm.fail", "End": true}}}
  ]}}
}$j$);
CALL pm.run('pm_par_fail', '{"error": "Stock.Missing", "cause": "SKU-9 is out of stock"}');
SELECT * FROM pm.history();
SELECT branch_index, status, error FROM pm.children();
SELECT c.branch_index, h.type, h.state_name, h.details ->> 'error' AS error
  FROM orderflow.executions AS c JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = pm.last() ORDER BY c.branch_index, h.event_id;
SELECT pg_sleep(2.5);
-- the Wait's due time has passed: the aborted branch did not move on
SELECT c.branch_index, c.status, c.current_state, count(h.*) AS events
  FROM orderflow.executions AS c JOIN orderflow.execution_history AS h ON h.execution_id = c.id
 WHERE c.parent_id = pm.last() GROUP BY 1, 2, 3 ORDER BY 1;

-- stopping the parent cancels its running branches
SELECT orderflow.create_state_machine('pm_par_stop', $j${
  "StartAt": "P",
  "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
    {"StartAt": "W0", "States": {"W0": {"Type": "Wait", "Seconds": 300, "End": true}}},
    {"StartAt": "W1", "States": {"W1": {"Type": "Wait", "Seconds": 300, "End": true}}}
  ]}}
}$j$);
SELECT orderflow.start_execution('pm_par_stop', '{}', 'stop-me') IS NOT NULL AS started;
-- both branches are waiting
SELECT pm.poll($$SELECT count(*) = 2 FROM orderflow.executions AS c, orderflow.executions AS p
                  WHERE p.state_machine = 'pm_par_stop' AND c.parent_id = p.id
                    AND c.current_state LIKE 'W_' AND c.status = 'RUNNING'$$) AS branches_waiting;
SELECT orderflow.stop_execution(id, 'Operator.Stop', 'stopped by the test')
  FROM orderflow.executions WHERE state_machine = 'pm_par_stop' AND parent_id IS NULL;
SELECT p.status AS parent, p.error, c.branch_index, c.status AS branch
  FROM orderflow.executions AS p JOIN orderflow.executions AS c ON c.parent_id = p.id
 WHERE p.state_machine = 'pm_par_stop' ORDER BY c.branch_index;

-- Catch on a Parallel: the branch's error goes into ResultPath, the
-- catcher's Assign sees the error output
SELECT orderflow.create_state_machine('pm_par_catch', $j${
  "StartAt": "Both",
  "States": {
    "Both": {"Type": "Parallel",
      "Branches": [
        {"StartAt": "Fine", "States": {"Fine": {"Type": "Task", "Resource": "pm.echo", "End": true}}},
        {"StartAt": "Breaks", "States": {"Breaks": {"Type": "Fail", "Error": "Branch.Broken", "Cause": "second branch failed"}}}],
      "Catch": [{"ErrorEquals": ["Branch.Broken"], "ResultPath": "$.failure",
                 "Assign": {"caught.$": "$.Error"}, "Next": "Recover"}],
      "End": true},
    "Recover": {"Type": "Pass", "Parameters": {"input.$": "$", "caught.$": "$caught"}, "End": true}}
}$j$);
CALL pm.run('pm_par_catch', '{"x": 1}');

-- Retry on a Parallel: the whole state runs again, with new branches
SELECT orderflow.create_state_machine('pm_par_retry', $j${
  "StartAt": "P",
  "States": {"P": {"Type": "Parallel", "End": true,
    "Branches": [
      {"StartAt": "F", "States": {"F": {"Type": "Task", "Resource": "pm.flaky", "End": true}}},
      {"StartAt": "L", "States": {"L": {"Type": "Pass", "Result": "lit", "End": true}}}],
    "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 1}]}}
}$j$);
CALL pm.run('pm_par_retry', '{"seq": "pm.flaky_parallel"}');
SELECT * FROM pm.history();
-- (the first entry's branch 1 may have finished or been cancelled)
SELECT entry, branch_index, status, output, error FROM pm.children()
 WHERE NOT (entry = 1 AND branch_index = 1);

-- ===================================================================
-- Map
-- ===================================================================

-- ItemsPath, ItemSelector with $ (the Map's input) and $$.Map.Item
SELECT orderflow.create_state_machine('pm_map_selector', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.order.items",
    "ItemSelector": {"line.$": "$$.Map.Item.Index", "item.$": "$$.Map.Item.Value",
                     "sku.$": "$$.Map.Item.Value.sku", "order.$": "$.order.id"},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "T",
      "States": {"T": {"Type": "Task", "Resource": "pm.echo", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_selector', '{"order": {"id": "ORD-3", "items": [{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]}}');
SELECT * FROM pm.history();
SELECT branch_index, status, output FROM pm.children();

-- MaxConcurrency 1: one iteration at a time, in item order
SELECT orderflow.create_state_machine('pm_map_serial', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "MaxConcurrency": 1,
    "ItemSelector": {"item.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "sleep": 0.05, "run": "serial"},
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.slow", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_serial', '["a", "b", "c", "d", "e"]');
SELECT array_agg(item ORDER BY started) AS run_order,
       bool_and(prev_finished IS NULL OR started >= prev_finished) AS one_at_a_time
  FROM (SELECT item, started, lag(finished) OVER (ORDER BY started) AS prev_finished
          FROM pm.log WHERE run = 'serial') AS l;

-- MaxConcurrency 0 (no limit): iterations finish in reverse order, the
-- output keeps item order
SELECT orderflow.create_state_machine('pm_map_unlimited', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "MaxConcurrency": 0,
    "ItemSelector": {"item.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value.v",
                     "sleep.$": "$$.Map.Item.Value.sleep", "run": "unlimited"},
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.slow", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_unlimited', '[{"v": 0, "sleep": 0.6}, {"v": 1, "sleep": 0.4}, {"v": 2, "sleep": 0.2}, {"v": 3, "sleep": 0}]');

-- an empty array gives [] (and no children)
SELECT orderflow.create_state_machine('pm_map_empty', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
    "ResultPath": "$.out", "End": true}}
}$j$);
CALL pm.run('pm_map_empty', '{"items": []}');
SELECT * FROM pm.history();
SELECT count(*) AS children FROM pm.children();

-- ItemsPath that is not an array, or matches nothing: States.Runtime,
-- which no Catch catches
SELECT orderflow.create_state_machine('pm_map_not_array', $j${
  "StartAt": "M",
  "States": {
    "M": {"Type": "Map", "ItemsPath": "$.items",
      "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
    "Caught": {"Type": "Pass", "End": true}}
}$j$);
CALL pm.run('pm_map_not_array', '{"items": {"sku": "not-a-list"}}');
CALL pm.run('pm_map_not_array', '{"items": "a,b"}');
CALL pm.run('pm_map_not_array', '{"other": []}');

-- ResultSelector, ResultPath and OutputPath of a Map
SELECT orderflow.create_state_machine('pm_map_paths', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "InputPath": "$.order", "ItemsPath": "$.qty",
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass",
        "Parameters": {"double.$": "States.MathAdd($, $)"}, "OutputPath": "$.double", "End": true}}},
    "ResultSelector": {"doubled.$": "$", "lines.$": "States.ArrayLength($)"},
    "ResultPath": "$.order.result", "OutputPath": "$.order", "End": true}}
}$j$);
CALL pm.run('pm_map_paths', '{"order": {"id": 4, "qty": [1, 2, 3]}}');

-- a failing iteration (no tolerance) fails the Map with its error and
-- cause; the other iterations are cancelled
SELECT orderflow.create_state_machine('pm_map_fail', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "MaxConcurrency": 1,
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.fail", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_fail', '[{"error": "Line.Bad", "cause": "line 0"}, {"error": "Line.Bad", "cause": "line 1"}, {"error": "Line.Bad", "cause": "line 2"}]');
SELECT * FROM pm.history();
SELECT branch_index, status, error FROM pm.children();

-- Catch on a Map
SELECT orderflow.create_state_machine('pm_map_catch', $j${
  "StartAt": "M",
  "States": {
    "M": {"Type": "Map",
      "ItemProcessor": {"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$", "NumericEquals": 2, "Next": "F"}], "Default": "OK"},
        "F": {"Type": "Fail", "Error": "Item.Two", "Cause": "two is not allowed"},
        "OK": {"Type": "Pass", "End": true}}},
      "Catch": [{"ErrorEquals": ["Item.Two"], "Next": "Caught"}], "End": true},
    "Caught": {"Type": "Pass", "End": true}}
}$j$);
CALL pm.run('pm_map_catch', '[1, 2, 3]');

-- Retry on a Map: the iterations run again
SELECT orderflow.create_state_machine('pm_map_retry', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.items",
    "ItemSelector": {"seq.$": "$.seq", "i.$": "$$.Map.Item.Value"},
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.flaky", "End": true}}},
    "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    "End": true}}
}$j$);
CALL pm.run('pm_map_retry', '{"seq": "pm.flaky_map", "items": [1]}');
SELECT * FROM pm.history();

-- tolerated failures: items "bad" fail; a failed iteration stays in the
-- result as {"Error", "Cause"}; exceeding the tolerance is
-- States.ExceedToleratedFailureThreshold (caught here)
CREATE FUNCTION pm.tolerant(name text, tolerance jsonb) RETURNS integer
LANGUAGE sql AS $f$
  SELECT orderflow.create_state_machine(name, jsonb_build_object(
    'StartAt', 'M',
    'States', jsonb_build_object(
      'M', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items',
        'ItemSelector', jsonb_build_object('v.$', '$$.Map.Item.Value'),
        'ItemProcessor', '{"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.v", "StringEquals": "bad", "Next": "F"}], "Default": "OK"},
            "F": {"Type": "Fail", "Error": "Item.Bad", "Cause": "a bad item"},
            "OK": {"Type": "Pass", "OutputPath": "$.v", "End": true}}}'::jsonb,
        'Catch', '[{"ErrorEquals": ["States.ExceedToleratedFailureThreshold"], "ResultPath": "$.caught", "Next": "Caught"}]'::jsonb,
        'End', true) || tolerance,
      'Caught', '{"Type": "Pass", "OutputPath": "$.caught.Error", "End": true}'::jsonb)))
$f$;
SELECT pm.tolerant('pm_tolerate_count', '{"ToleratedFailureCount": 1}');
SELECT pm.tolerant('pm_tolerate_percent', '{"ToleratedFailurePercentage": 25}');
SELECT pm.tolerant('pm_tolerate_none', '{}');
-- by count: 1 of 4 failed is within, 2 of 4 exceed (caught)
CALL pm.run('pm_tolerate_count', '{"items": ["a", "bad", "c", "d"]}');
CALL pm.run('pm_tolerate_count', '{"items": ["a", "bad", "bad", "d"]}');
SELECT event_id, type, state_name FROM pm.history();
-- by percentage: 25 % is within, 50 % exceeds (caught)
CALL pm.run('pm_tolerate_percent', '{"items": ["bad", "b", "c", "d"]}');
CALL pm.run('pm_tolerate_percent', '{"items": ["bad", "b", "c", "bad"]}');
-- without tolerance a failure is the iteration's own error, not the threshold
CALL pm.run('pm_tolerate_none', '{"items": ["a", "bad"]}');

-- ItemBatcher: items grouped as {"Items": [...], "BatchInput": ...}
SELECT orderflow.create_state_machine('pm_map_batch', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map",
    "ItemBatcher": {"MaxItemsPerBatch": 2, "BatchInput": {"order": "ORD-5"}},
    "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.echo", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_batch', '[1, 2, 3, 4, 5]');
SELECT count(*) AS iterations FROM pm.children();

-- MaxInputBytesPerBatch: three items of about 100 bytes, at most 250
-- bytes a batch: two batches, of two items and of one
SELECT orderflow.create_state_machine('pm_map_batch_bytes', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map",
    "ItemBatcher": {"MaxInputBytesPerBatch": 250},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_batch_bytes', jsonb_build_array(repeat('a', 100), repeat('b', 100), repeat('c', 100)));
SELECT jsonb_array_length(b -> 'Items') AS items_in_batch, left(b #>> '{Items,0}', 3) AS first
  FROM orderflow.executions AS e, jsonb_array_elements(e.output) AS b
 WHERE e.id = pm.last();

-- legacy Iterator and Parameters
SELECT orderflow.create_state_machine('pm_map_legacy', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "ItemsPath": "$.skus", "MaxConcurrency": 2,
    "Parameters": {"sku.$": "$$.Map.Item.Value", "pos.$": "$$.Map.Item.Index", "wh.$": "$.warehouse"},
    "Iterator": {"StartAt": "Tag", "States": {"Tag": {"Type": "Pass",
        "Parameters": {"label.$": "States.Format('{}@{}#{}', $.sku, $.wh, $.pos)"},
        "OutputPath": "$.label", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_map_legacy', '{"warehouse": "WH-1", "skus": ["A", "B", "C"]}');

-- ===================================================================
-- Nesting
-- ===================================================================

-- a Map inside a Parallel, a Parallel inside a Map, four levels deep
SELECT orderflow.create_state_machine('pm_nested', $j${
  "StartAt": "Outer",
  "States": {"Outer": {"Type": "Parallel", "End": true, "Branches": [
    {"StartAt": "Boxes", "States": {"Boxes": {"Type": "Map", "ItemsPath": "$.boxes",
      "ItemSelector": {"box.$": "$$.Map.Item.Index", "parcels.$": "$$.Map.Item.Value"},
      "ItemProcessor": {"StartAt": "Both", "States": {"Both": {"Type": "Parallel", "End": true,
        "Branches": [
          {"StartAt": "Count", "States": {"Count": {"Type": "Pass",
              "Parameters": {"n.$": "States.ArrayLength($.parcels)"}, "OutputPath": "$.n", "End": true}}},
          {"StartAt": "Labels", "States": {"Labels": {"Type": "Map", "ItemsPath": "$.parcels",
              "ItemSelector": {"box.$": "$.box", "slot.$": "$$.Map.Item.Index", "sku.$": "$$.Map.Item.Value"},
              "ItemProcessor": {"StartAt": "L", "States": {"L": {"Type": "Pass",
                  "Parameters": {"l.$": "States.Format('box{}/slot{}={}', $.box, $.slot, $.sku)"},
                  "OutputPath": "$.l", "End": true}}},
              "End": true}}}]}}},
      "End": true}}},
    {"StartAt": "Total", "States": {"Total": {"Type": "Pass",
      "Parameters": {"boxes.$": "States.ArrayLength($.boxes)"}, "End": true}}}
  ]}}
}$j$);
CALL pm.run('pm_nested', '{"boxes": [["A", "B"], [], ["C"]]}');
-- every level is a child of the level above and shares the root
WITH RECURSIVE tree AS (
    SELECT id, 0 AS depth FROM orderflow.executions WHERE id = pm.last()
  UNION ALL
    SELECT e.id, t.depth + 1 FROM orderflow.executions AS e JOIN tree AS t ON e.parent_id = t.id
)
SELECT depth, count(*) AS executions,
       bool_and(e.root_id = pm.last() OR depth = 0) AS same_root,
       bool_and(e.status = 'SUCCEEDED') AS all_succeeded
  FROM tree JOIN orderflow.executions AS e USING (id) GROUP BY depth ORDER BY depth;

-- a failure deep inside reaches the top with its error
SELECT orderflow.create_state_machine('pm_nested_fail', $j${
  "StartAt": "M",
  "States": {"M": {"Type": "Map", "End": true,
    "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "Inner", "States": {"Inner": {"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pm.fail", "End": true}}}}}}]}}}}}
}$j$);
CALL pm.run('pm_nested_fail', '[[{"error": "Deep.Failure", "cause": "three levels down"}]]');

-- ===================================================================
-- ItemReader: a Map over the rows a SETOF jsonb function returns
-- ===================================================================
CREATE TABLE pm.order_items (order_id integer, line integer, sku text, qty integer);
INSERT INTO pm.order_items VALUES
  (10, 1, 'SKU-RED', 2), (10, 2, 'SKU-BLU', 1), (10, 3, 'SKU-GRN', 5), (10, 4, 'SKU-YEL', 1),
  (11, 1, 'SKU-RED', 7);

CREATE FUNCTION pm.order_lines(params jsonb) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('line', line, 'sku', sku, 'qty', qty)
      FROM pm.order_items WHERE order_id = (params ->> 'order')::int ORDER BY line
$$;

CREATE FUNCTION pm.broken_reader(params jsonb) RETURNS SETOF jsonb
LANGUAGE plpgsql AS $$
BEGIN
    RETURN NEXT '{"line": 1}'::jsonb;
    RAISE EXCEPTION 'warehouse database unavailable (%)', params ->> 'order';
END
$$;

SELECT orderflow.create_state_machine('pm_reader', $j${
  "StartAt": "Lines",
  "States": {"Lines": {"Type": "Map",
    "ItemReader": {"Resource": "pm.order_lines", "Parameters": {"order.$": "$.order"}},
    "ItemSelector": {"order.$": "$.order", "n.$": "$$.Map.Item.Index",
                     "sku.$": "$$.Map.Item.Value.sku", "qty.$": "$$.Map.Item.Value.qty"},
    "ItemProcessor": {"StartAt": "Pick", "States": {"Pick": {"Type": "Task", "Resource": "pm.echo", "End": true}}},
    "ResultPath": "$.picked", "End": true}}
}$j$);
CALL pm.run('pm_reader', '{"order": 10}');
CALL pm.run('pm_reader', '{"order": 11}');
CALL pm.run('pm_reader', '{"order": 12}');

-- ReaderConfig.MaxItems reads only the first rows
SELECT orderflow.create_state_machine('pm_reader_max', $j${
  "StartAt": "Lines",
  "States": {"Lines": {"Type": "Map",
    "ItemReader": {"Resource": "pm.order_lines", "Parameters": {"order": 10}, "ReaderConfig": {"MaxItems": 2}},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "OutputPath": "$.sku", "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_reader_max', '{}');

-- ItemBatcher applies to the rows of a reader as well
SELECT orderflow.create_state_machine('pm_reader_batch', $j${
  "StartAt": "Lines",
  "States": {"Lines": {"Type": "Map",
    "ItemReader": {"Resource": "pm.order_lines", "Parameters": {"order": 10}},
    "ItemBatcher": {"MaxItemsPerBatch": 3},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass",
        "Parameters": {"n.$": "States.ArrayLength($.Items)"}, "End": true}}},
    "End": true}}
}$j$);
CALL pm.run('pm_reader_batch', '{}');

-- a reader that raises: States.ItemReaderFailed, caught; no iteration is left
SELECT orderflow.create_state_machine('pm_reader_broken', $j${
  "StartAt": "Lines",
  "States": {
    "Lines": {"Type": "Map",
      "ItemReader": {"Resource": "pm.broken_reader", "Parameters": {"order.$": "$.order"}},
      "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
      "Catch": [{"ErrorEquals": ["States.ItemReaderFailed"], "ResultPath": "$.error", "Next": "Later"}],
      "End": true},
    "Later": {"Type": "Pass", "Result": "retry later", "ResultPath": "$.then", "End": true}}
}$j$);
CALL pm.run('pm_reader_broken', '{"order": 10}');
SELECT * FROM pm.history();
SELECT count(*) AS children FROM pm.children();

-- the reader is resolved when the definition is created
SELECT orderflow.create_state_machine('pm_reader_missing', $j${
  "StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": {"Resource": "pm.no_such_reader"},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}, "End": true}}
}$j$);
SELECT orderflow.create_state_machine('pm_reader_not_setof', $j${
  "StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": {"Resource": "pm.echo"},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}, "End": true}}
}$j$);

-- ===================================================================
-- Variables (Assign) and their scope
-- ===================================================================

-- outer variables are visible inside branches and iterations; what a
-- branch assigns stays in the branch; the Parallel's Assign sees its
-- result (after ResultSelector), not the state input
SELECT orderflow.create_state_machine('pm_assign_scope', $j${
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Result": {"n": 1}, "ResultPath": "$.init",
             "Assign": {"x.$": "$.n", "tag": "outer"}, "Next": "Par"},
    "Par": {"Type": "Parallel",
      "Branches": [
        {"StartAt": "B0", "States": {
          "B0": {"Type": "Pass", "Assign": {"inner": "set in branch 0"}, "Next": "B0b"},
          "B0b": {"Type": "Pass", "Parameters": {"x.$": "$x", "tag.$": "$tag", "inner.$": "$inner"}, "End": true}}},
        {"StartAt": "B1", "States": {"B1": {"Type": "Map", "ItemsPath": "$.items",
          "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass",
            "Parameters": {"item.$": "$", "x.$": "$x", "tag.$": "$tag"}, "End": true}}},
          "End": true}}}],
      "ResultSelector": {"first.$": "$[0]"},
      "Assign": {"fromResult.$": "$.first.inner"},
      "ResultPath": "$.par", "Next": "Check"},
    "Check": {"Type": "Choice",
      "Choices": [{"Variable": "$inner", "IsPresent": true, "Next": "Leaked"}],
      "Default": "Out"},
    "Leaked": {"Type": "Fail", "Error": "Scope.Leak", "Cause": "a branch variable is visible outside"},
    "Out": {"Type": "Pass",
      "Parameters": {"x.$": "$x", "tag.$": "$tag", "fromResult.$": "$fromResult", "par.$": "$.par"},
      "End": true}}
}$j$);
CALL pm.run('pm_assign_scope', '{"items": ["i0", "i1"]}');
SELECT c.parent_state, c.branch_index, c.variables
  FROM orderflow.executions AS c WHERE c.parent_id = pm.last() ORDER BY c.branch_index;
SELECT variables FROM orderflow.executions WHERE id = pm.last();

-- the Parallel's Assign runs against its result, not its input: "$.items"
-- is not there (States.Runtime)
SELECT orderflow.create_state_machine('pm_assign_not_input', $j${
  "StartAt": "Par",
  "States": {"Par": {"Type": "Parallel",
    "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": "r", "End": true}}}],
    "Assign": {"seen.$": "$.items"}, "End": true}}
}$j$);
CALL pm.run('pm_assign_not_input', '{"items": ["i0"]}');

-- reading a variable never assigned fails with States.Runtime
SELECT orderflow.create_state_machine('pm_assign_unset', $j${
  "StartAt": "P",
  "States": {
    "P": {"Type": "Parallel", "Branches": [
      {"StartAt": "B", "States": {"B": {"Type": "Pass", "Assign": {"inner": 1}, "End": true}}}],
      "Next": "Read"},
    "Read": {"Type": "Pass", "Parameters": {"inner.$": "$inner"}, "End": true}}
}$j$);
CALL pm.run('pm_assign_unset', '{}');

-- a Map's Assign sees the result array; all assignments of one Assign see
-- the old values; a catcher's Assign sees the error output
SELECT orderflow.create_state_machine('pm_assign_map', $j${
  "StartAt": "Init",
  "States": {
    "Init": {"Type": "Pass", "Assign": {"a": 1, "b": 2, "count": 0}, "Next": "Lines"},
    "Lines": {"Type": "Map", "ItemsPath": "$.qty",
      "ItemProcessor": {"StartAt": "Q", "States": {"Q": {"Type": "Pass",
        "Parameters": {"q.$": "States.MathAdd($, $a)"}, "OutputPath": "$.q", "End": true}}},
      "Assign": {"count.$": "States.ArrayLength($)", "first.$": "$[0]", "a.$": "$b", "b.$": "$a",
                 "old_count.$": "$count"},
      "ResultPath": "$.lines", "Next": "Fail"},
    "Fail": {"Type": "Task", "Resource": "pm.fail",
      "Parameters": {"error": "Order.Rejected", "cause.$": "States.Format('{} lines', $count)"},
      "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.rejected",
                 "Assign": {"why.$": "$.Cause", "err.$": "$.Error"}, "Next": "Out"}],
      "End": true},
    "Out": {"Type": "Pass",
      "Parameters": {"count.$": "$count", "first.$": "$first", "a.$": "$a", "b.$": "$b",
                     "old_count.$": "$old_count", "why.$": "$why", "err.$": "$err",
                     "lines.$": "$.lines", "rejected.$": "$.rejected"},
      "End": true}}
}$j$);
CALL pm.run('pm_assign_map', '{"qty": [10, 20, 30]}');

-- ===================================================================
-- Bookkeeping: nothing is left behind
-- ===================================================================
SELECT count(*) AS running_children
  FROM orderflow.executions AS c JOIN orderflow.executions AS r ON r.id = c.root_id
 WHERE r.state_machine LIKE 'pm\_%' AND c.status = 'RUNNING';
SELECT count(*) AS join_counters_left
  FROM orderflow.join_counters AS j JOIN orderflow.executions AS p ON p.id = j.parent_id
 WHERE coalesce((SELECT r.state_machine FROM orderflow.executions AS r WHERE r.id = p.root_id),
                p.state_machine) LIKE 'pm\_%';
