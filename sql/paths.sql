--
-- paths: input and output processing (InputPath, Parameters, ResultSelector,
-- ResultPath, OutputPath) and the context object ($$).
--
-- Order: InputPath -> Parameters -> task -> ResultSelector -> ResultPath
-- (into the RAW state input) -> OutputPath.
--
CREATE SCHEMA pa;

CREATE PROCEDURE pa.run(sm text, input jsonb DEFAULT '{}', xname text DEFAULT NULL,
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input, xname);
    PERFORM set_config('pa.last', id::text, false);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;

CREATE FUNCTION pa.last() RETURNS orderflow.executions
LANGUAGE sql AS $$
    SELECT * FROM orderflow.executions WHERE id = current_setting('pa.last')::uuid
$$;

-- echo returns its input; result returns a fixed object
CREATE FUNCTION pa.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION pa.result(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT '{"id": 9, "body": {"total": 30, "items": [1, 2, 3]}, "meta": "m"}'::jsonb $$;

--
-- InputPath
--
SELECT orderflow.create_state_machine('pa_input_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.a.b", "End": true}}}');
CALL pa.run('pa_input_path', '{"a": {"b": {"c": 1}}, "z": 0}');
CALL pa.run('pa_input_path', '{"a": {"b": 17}}');
CALL pa.run('pa_input_path', '{"a": {"b": null}}');
-- a path that matches nothing is a States.Runtime failure
CALL pa.run('pa_input_path', '{"a": {}}');

-- InputPath "$" is the whole input; null is {}
SELECT orderflow.create_state_machine('pa_input_path_dollar',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$", "End": true}}}');
CALL pa.run('pa_input_path_dollar', '{"a": 1}');
SELECT orderflow.create_state_machine('pa_input_path_null',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": null, "End": true}}}');
CALL pa.run('pa_input_path_null', '{"a": 1}');

-- InputPath null with ResultPath: the {} goes into the raw input
SELECT orderflow.create_state_machine('pa_input_path_null_result_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": null,
    "ResultPath": "$.r", "End": true}}}');
CALL pa.run('pa_input_path_null_result_path', '{"a": 1}');

-- InputPath null with Parameters: "$" inside Parameters is {}
SELECT orderflow.create_state_machine('pa_input_path_null_parameters',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": null,
    "Parameters": {"all.$": "$", "fixed": 1}, "End": true}}}');
CALL pa.run('pa_input_path_null_parameters', '{"a": 1}');

-- an indefinite path gives an array of its matches
SELECT orderflow.create_state_machine('pa_input_path_wildcard',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.items[*].id", "End": true}}}');
CALL pa.run('pa_input_path_wildcard', '{"items": [{"id": 1}, {"id": 2}, {"id": 3}]}');

-- an array index
SELECT orderflow.create_state_machine('pa_input_path_index',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.items[1]", "End": true}}}');
CALL pa.run('pa_input_path_index', '{"items": ["a", "b", "c"]}');

--
-- OutputPath
--
SELECT orderflow.create_state_machine('pa_output_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.keep", "End": true}}}');
CALL pa.run('pa_output_path', '{"keep": {"x": 1}, "drop": 2}');
CALL pa.run('pa_output_path', '{"drop": 2}');
SELECT orderflow.create_state_machine('pa_output_path_null',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": null, "End": true}}}');
CALL pa.run('pa_output_path_null', '{"a": 1}');

-- OutputPath applies after ResultPath
SELECT orderflow.create_state_machine('pa_output_after_result',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"n": 5},
    "ResultPath": "$.r", "OutputPath": "$.r.n", "End": true}}}');
CALL pa.run('pa_output_after_result', '{"a": 1}');

--
-- Parameters
--
-- static values, paths, nested objects, the context object, intrinsics
SELECT orderflow.create_state_machine('pa_parameters',
  '{"StartAt": "Build", "States": {"Build": {"Type": "Pass", "Parameters": {
      "static": "s",
      "number": 1.5,
      "copy.$": "$.order.id",
      "whole.$": "$.order",
      "nested": {"deep": {"qty.$": "$.order.qty", "fixed": [1, {"a": null}]}},
      "state.$": "$$.State.Name",
      "text.$": "States.Format(''order {} x{}'', $.order.id, $.order.qty)"},
    "End": true}}}');
CALL pa.run('pa_parameters', '{"order": {"id": "A-1", "qty": 3}}');

-- a Parameters path that matches nothing is a States.Runtime failure
CALL pa.run('pa_parameters', '{"order": {"id": "A-1"}}');

-- Parameters apply after InputPath, so $ is what InputPath selected
SELECT orderflow.create_state_machine('pa_parameters_after_input_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.inner",
    "Parameters": {"v.$": "$.v"}, "End": true}}}');
CALL pa.run('pa_parameters_after_input_path', '{"inner": {"v": "inner"}, "v": "outer"}');

-- Parameters build the task input; the task sees exactly that
SELECT orderflow.create_state_machine('pa_task_parameters',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.echo",
    "Parameters": {"sku.$": "$.sku", "n": 2}, "End": true}}}');
CALL pa.run('pa_task_parameters', '{"sku": "X", "other": true}');
SELECT h.type, h.details -> 'parameters' AS parameters
  FROM orderflow.execution_history AS h
 WHERE h.execution_id = (pa.last()).id AND h.type = 'TaskScheduled';

--
-- ResultSelector (addresses the task result; $$ works there too)
--
SELECT orderflow.create_state_machine('pa_result_selector',
  '{"StartAt": "Fetch", "States": {"Fetch": {"Type": "Task", "Resource": "pa.result",
    "ResultSelector": {"total.$": "$.body.total", "first.$": "$.body.items[0]",
                       "label": "fixed", "state.$": "$$.State.Name"},
    "ResultPath": "$.fetched", "End": true}}}');
CALL pa.run('pa_result_selector', '{"order": 1}');
-- a ResultSelector path that matches nothing is a States.Runtime failure
SELECT orderflow.create_state_machine('pa_result_selector_no_match',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.result",
    "ResultSelector": {"x.$": "$.nope"}, "End": true}}}');
CALL pa.run('pa_result_selector_no_match', '{}');

--
-- ResultPath
--
-- default "$": the result replaces the input
SELECT orderflow.create_state_machine('pa_result_path_default',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.result", "End": true}}}');
CALL pa.run('pa_result_path_default', '{"a": 1}');

-- "$.r": into the raw input (not into what InputPath/Parameters made of it)
SELECT orderflow.create_state_machine('pa_result_path_raw',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.echo",
    "InputPath": "$.a", "Parameters": {"got.$": "$.b"},
    "ResultPath": "$.r", "End": true}}}');
CALL pa.run('pa_result_path_raw', '{"a": {"b": 1}, "c": 2}');

-- null: the result is dropped and the raw input passes on
SELECT orderflow.create_state_machine('pa_result_path_null',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.result",
    "ResultPath": null, "End": true}}}');
CALL pa.run('pa_result_path_null', '{"a": 1}');

-- missing objects on the way are created; an existing key is replaced
SELECT orderflow.create_state_machine('pa_result_path_nested',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "v",
    "ResultPath": "$.a.b.c", "End": true}}}');
CALL pa.run('pa_result_path_nested', '{"x": 1}');
CALL pa.run('pa_result_path_nested', '{"a": {"keep": 1, "b": {"c": "old", "d": 2}}}');

-- a step that lands on a non-object: States.ResultPathMatchFailure
CALL pa.run('pa_result_path_nested', '{"a": "string"}');
CALL pa.run('pa_result_path_nested', '{"a": {"b": [1]}}');
SELECT orderflow.create_state_machine('pa_result_path_scalar_input',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": 1,
    "ResultPath": "$.r", "End": true}}}');
CALL pa.run('pa_result_path_scalar_input', '"just a string"');
CALL pa.run('pa_result_path_scalar_input', '[1, 2]');

-- States.ResultPathMatchFailure is an ordinary, catchable error
SELECT orderflow.create_state_machine('pa_result_path_failure_caught',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "pa.result", "ResultPath": "$.a.b",
          "Catch": [{"ErrorEquals": ["States.ResultPathMatchFailure"], "Next": "Caught"}],
          "End": true},
    "Caught": {"Type": "Pass", "Parameters": {"caught.$": "$.Error"}, "End": true}}}');
CALL pa.run('pa_result_path_failure_caught', '{"a": 5}');

-- all five fields together on a Task
SELECT orderflow.create_state_machine('pa_all_fields',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "pa.echo",
    "InputPath": "$.order",
    "Parameters": {"item.$": "$.item", "count.$": "$.count"},
    "ResultSelector": {"echoed.$": "$.item"},
    "ResultPath": "$.task",
    "OutputPath": "$.task",
    "End": true}}}');
CALL pa.run('pa_all_fields', '{"order": {"item": "pen", "count": 2}, "customer": "c"}');

--
-- The context object
--
SELECT orderflow.create_state_machine('pa_context',
  '{"StartAt": "First", "States": {
    "First": {"Type": "Pass", "Result": {"changed": true}, "Next": "Second"},
    "Second": {"Type": "Pass", "Parameters": {
        "id.$": "$$.Execution.Id",
        "input.$": "$$.Execution.Input",
        "name.$": "$$.Execution.Name",
        "start.$": "$$.Execution.StartTime",
        "state.$": "$$.State.Name",
        "entered.$": "$$.State.EnteredTime",
        "retries.$": "$$.State.RetryCount",
        "machine.$": "$$.StateMachine.Name",
        "now.$": "$"},
      "End": true}}}');
-- (\gset: the output holds an id and timestamps, so only parts are shown)
CALL pa.run('pa_context', '{"original": 1}', 'ctx-run-1') \gset
\echo :status
SELECT e.output -> 'input' AS execution_input,
       e.output -> 'now' AS state_input,
       e.output ->> 'name' AS name,
       e.output ->> 'state' AS state,
       e.output -> 'retries' AS retries,
       e.output ->> 'machine' AS machine,
       e.output ->> 'id' = e.id::text AS id_matches,
       e.output ->> 'start' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$' AS start_is_iso,
       e.output ->> 'entered' ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$' AS entered_is_iso,
       abs(extract(epoch FROM (e.output ->> 'start')::timestamptz - e.started_at)) < 0.001 AS start_matches,
       (e.output ->> 'entered')::timestamptz >= (e.output ->> 'start')::timestamptz AS entered_after_start
  FROM pa.last() AS e;

-- without a name, the execution's name is generated and $$ reports it
CALL pa.run('pa_context', '{}') \gset
\echo :status
SELECT e.output ->> 'name' = e.name AS name_matches, e.name <> '' AS has_name
  FROM pa.last() AS e;

-- $$ in an InputPath-free Task's Parameters and ResultSelector
SELECT orderflow.create_state_machine('pa_context_task',
  '{"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "pa.echo",
    "Parameters": {"in.$": "$$.State.Name", "input.$": "$$.Execution.Input.k"},
    "ResultSelector": {"sel.$": "$$.StateMachine.Name", "from_task.$": "$.in"},
    "End": true}}}');
CALL pa.run('pa_context_task', '{"k": "v"}');
