--
-- state_types: every state type of the JSONPath flavour (Pass, Task, Choice,
-- Wait, Succeed, Fail) with its own fields, run by the background workers.
--
-- st.run() starts an execution, COMMITs (workers only see committed starts),
-- waits for it and returns status, output, error and cause; st.history()
-- lists the event types of the last execution it started.
--
CREATE SCHEMA st;

CREATE PROCEDURE st.run(sm text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    PERFORM set_config('st.last', id::text, false);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;

CREATE FUNCTION st.history() RETURNS TABLE (event_id integer, type text, state_name text)
LANGUAGE sql AS $$
    SELECT h.event_id, h.type, h.state_name FROM orderflow.execution_history AS h
     WHERE h.execution_id = current_setting('st.last')::uuid ORDER BY h.event_id
$$;

-- Task functions.  Tasks run with search_path = pg_catalog, pg_temp.
CREATE FUNCTION st.echo(input jsonb) RETURNS jsonb
LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION st.double(input jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('n', (input ->> 'n')::int * 2) $$;
CREATE FUNCTION st.nothing(input jsonb) RETURNS jsonb
LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION st.state_name(input jsonb, context jsonb) RETURNS jsonb
LANGUAGE sql AS $$ SELECT jsonb_build_object('in', input, 'state', context -> 'State' -> 'Name') $$;

--
-- Pass
--
-- no fields: the input passes through
SELECT orderflow.create_state_machine('st_pass_plain',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
CALL st.run('st_pass_plain', '{"a": 1, "b": [1, 2]}');
SELECT * FROM st.history();

-- Result replaces the input
SELECT orderflow.create_state_machine('st_pass_result',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1}, "End": true}}}');
CALL st.run('st_pass_result', '{"a": 1}');

-- a scalar Result
SELECT orderflow.create_state_machine('st_pass_scalar',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "done", "End": true}}}');
CALL st.run('st_pass_scalar', '{"a": 1}');

-- Result placed with ResultPath: the rest of the input stays
SELECT orderflow.create_state_machine('st_pass_result_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"x": 1},
    "ResultPath": "$.r", "End": true}}}');
CALL st.run('st_pass_result_path', '{"a": 1}');

-- Result is literal: a "key.$" inside it is not evaluated
SELECT orderflow.create_state_machine('st_pass_result_literal',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": {"v.$": "$.a"}, "End": true}}}');
CALL st.run('st_pass_result_literal', '{"a": 1}');

-- Parameters: static values and paths
SELECT orderflow.create_state_machine('st_pass_parameters',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass",
    "Parameters": {"static": "s", "copy.$": "$.a", "list": [1, 2]}, "End": true}}}');
CALL st.run('st_pass_parameters', '{"a": {"deep": true}}');

-- Parameters then ResultPath: the result goes into the raw input
SELECT orderflow.create_state_machine('st_pass_parameters_result_path',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass",
    "Parameters": {"copy.$": "$.a"}, "ResultPath": "$.p", "End": true}}}');
CALL st.run('st_pass_parameters_result_path', '{"a": 5, "b": 6}');

-- a chain of Pass states
SELECT orderflow.create_state_machine('st_pass_chain',
  '{"StartAt": "One", "States": {
    "One": {"Type": "Pass", "Result": 1, "ResultPath": "$.one", "Next": "Two"},
    "Two": {"Type": "Pass", "Result": 2, "ResultPath": "$.two", "Next": "Three"},
    "Three": {"Type": "Pass", "End": true}}}');
CALL st.run('st_pass_chain', '{}');
SELECT * FROM st.history();

--
-- Task
--
-- a schema-qualified function name as Resource
SELECT orderflow.create_state_machine('st_task',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "st.double", "End": true}}}');
CALL st.run('st_task', '{"n": 21}');
SELECT * FROM st.history();

-- a registered resource string, such as a Lambda ARN
SELECT orderflow.register_resource('arn:aws:lambda:eu-west-1:123456789012:function:double',
                                   'st.double(jsonb)');
SELECT orderflow.create_state_machine('st_task_arn',
  '{"StartAt": "T", "States": {"T": {"Type": "Task",
    "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:double", "End": true}}}');
CALL st.run('st_task_arn', '{"n": 4}');

-- a two-argument task function receives the context object
SELECT orderflow.create_state_machine('st_task_context',
  '{"StartAt": "Named", "States": {"Named": {"Type": "Task", "Resource": "st.state_name", "End": true}}}');
CALL st.run('st_task_context', '{"k": "v"}');

-- a task returning SQL NULL gives the JSON null result
SELECT orderflow.create_state_machine('st_task_null',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "st.nothing",
    "ResultPath": "$.r", "End": true}}}');
CALL st.run('st_task_null', '{"a": 1}');

-- tasks in sequence, the second working on the first's output
SELECT orderflow.create_state_machine('st_task_chain',
  '{"StartAt": "A", "States": {
    "A": {"Type": "Task", "Resource": "st.double", "Next": "B"},
    "B": {"Type": "Task", "Resource": "st.double", "End": true}}}');
CALL st.run('st_task_chain', '{"n": 3}');

--
-- Choice
--
SELECT orderflow.create_state_machine('st_choice',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"},
            {"Variable": "$.n", "NumericLessThan": 0, "Next": "Negative"}],
          "Default": "Small"},
    "Big": {"Type": "Pass", "Result": "big", "End": true},
    "Negative": {"Type": "Pass", "Result": "negative", "End": true},
    "Small": {"Type": "Pass", "Result": "small", "End": true}}}');
CALL st.run('st_choice', '{"n": 11}');
CALL st.run('st_choice', '{"n": -1}');
CALL st.run('st_choice', '{"n": 5}');
SELECT * FROM st.history();

-- the Choice state passes its input on unchanged
SELECT orderflow.create_state_machine('st_choice_passes_input',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.go", "BooleanEquals": true, "Next": "Done"}]},
    "Done": {"Type": "Succeed"}}}');
CALL st.run('st_choice_passes_input', '{"go": true, "x": [1]}');

--
-- Wait
--
SELECT orderflow.create_state_machine('st_wait_seconds',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": true}}}');
CALL st.run('st_wait_seconds', '{"a": 1}');
SELECT * FROM st.history();
SELECT stopped_at - started_at >= interval '1 s' AS waited
  FROM orderflow.executions WHERE id = current_setting('st.last')::uuid;

SELECT orderflow.create_state_machine('st_wait_zero',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0, "End": true}}}');
CALL st.run('st_wait_zero', '{"a": 1}');

SELECT orderflow.create_state_machine('st_wait_seconds_path',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "$.delay", "End": true}}}');
CALL st.run('st_wait_seconds_path', '{"delay": 1}');
SELECT stopped_at - started_at >= interval '1 s' AS waited
  FROM orderflow.executions WHERE id = current_setting('st.last')::uuid;
CALL st.run('st_wait_seconds_path', '{"delay": 0}');
-- SecondsPath must select a non-negative integer: anything else is States.Runtime
CALL st.run('st_wait_seconds_path', '{"delay": -1}');
CALL st.run('st_wait_seconds_path', '{"delay": 0.5}');
CALL st.run('st_wait_seconds_path', '{"delay": "1"}');
CALL st.run('st_wait_seconds_path', '{"other": 1}');

-- a Timestamp in the past does not wait
SELECT orderflow.create_state_machine('st_wait_timestamp',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait",
    "Timestamp": "2020-01-01T00:00:00Z", "End": true}}}');
CALL st.run('st_wait_timestamp', '{"a": 1}');

-- TimestampPath: waits until that instant (one second ahead)
SELECT orderflow.create_state_machine('st_wait_timestamp_path',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.until", "End": true}}}');
SELECT orderflow.create_state_machine('st_wait_timestamp_path_tag',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "TimestampPath": "$.until",
    "OutputPath": "$.tag", "End": true}}}');
SELECT to_char((clock_timestamp() + interval '1 s') AT TIME ZONE 'UTC',
               'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS until \gset
CALL st.run('st_wait_timestamp_path_tag', jsonb_build_object('until', :'until', 'tag', 'waited'));
SELECT status, stopped_at >= (input ->> 'until')::timestamptz AS waited_until
  FROM orderflow.executions WHERE id = current_setting('st.last')::uuid;
CALL st.run('st_wait_timestamp_path', '{"until": "2020-01-01T02:00:00+02:00"}');
-- not a timestamp (no zone, not a string, absent): States.Runtime
CALL st.run('st_wait_timestamp_path', '{"until": "2020-01-01T00:00:00"}');
CALL st.run('st_wait_timestamp_path', '{"until": 1}');
CALL st.run('st_wait_timestamp_path', '{}');

-- Wait with InputPath and OutputPath
SELECT orderflow.create_state_machine('st_wait_paths',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 0,
    "InputPath": "$.inner", "OutputPath": "$.keep", "End": true}}}');
CALL st.run('st_wait_paths', '{"inner": {"keep": [1, 2], "drop": 3}}');

--
-- Succeed
--
SELECT orderflow.create_state_machine('st_succeed',
  '{"StartAt": "S", "States": {"S": {"Type": "Succeed"}}}');
CALL st.run('st_succeed', '{"a": 1}');
SELECT * FROM st.history();

SELECT orderflow.create_state_machine('st_succeed_paths',
  '{"StartAt": "S", "States": {"S": {"Type": "Succeed",
    "InputPath": "$.a", "OutputPath": "$.b"}}}');
CALL st.run('st_succeed_paths', '{"a": {"b": "kept", "c": 1}}');

--
-- Fail
--
SELECT orderflow.create_state_machine('st_fail',
  '{"StartAt": "F", "States": {"F": {"Type": "Fail",
    "Error": "Order.Rejected", "Cause": "out of stock"}}}');
CALL st.run('st_fail', '{"a": 1}');
SELECT * FROM st.history();
SELECT output IS NULL AS no_output, stopped_at >= started_at AS stopped
  FROM orderflow.executions WHERE id = current_setting('st.last')::uuid;

-- Error without Cause: the cause is NULL
SELECT orderflow.create_state_machine('st_fail_no_cause',
  '{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E"}}}');
CALL st.run('st_fail_no_cause', '{}');

-- neither Error nor Cause
SELECT orderflow.create_state_machine('st_fail_bare',
  '{"StartAt": "F", "States": {"F": {"Type": "Fail"}}}');
CALL st.run('st_fail_bare', '{}');

-- ErrorPath and CausePath read the state input
SELECT orderflow.create_state_machine('st_fail_paths',
  '{"StartAt": "F", "States": {"F": {"Type": "Fail",
    "ErrorPath": "$.err.name", "CausePath": "$.err.why"}}}');
CALL st.run('st_fail_paths', '{"err": {"name": "Custom.Error", "why": "because"}}');
-- a path that selects no string is States.Runtime
CALL st.run('st_fail_paths', '{"err": {"name": 42, "why": "because"}}');
CALL st.run('st_fail_paths', '{"err": {"why": "because"}}');

-- CausePath may be an intrinsic function; ErrorPath may read $$
SELECT orderflow.create_state_machine('st_fail_intrinsic',
  '{"StartAt": "Stop", "States": {"Stop": {"Type": "Fail",
    "ErrorPath": "$$.State.Name",
    "CausePath": "States.Format(''order {} failed'', $.id)"}}}');
CALL st.run('st_fail_intrinsic', '{"id": 7}');

-- a Fail state reached through a Choice
SELECT orderflow.create_state_machine('st_fail_after_choice',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.ok", "BooleanEquals": true, "Next": "Yes"}],
          "Default": "No"},
    "Yes": {"Type": "Succeed"},
    "No": {"Type": "Fail", "Error": "NotOk", "Cause": "ok was not true"}}}');
CALL st.run('st_fail_after_choice', '{"ok": true}');
CALL st.run('st_fail_after_choice', '{"ok": false}');
SELECT * FROM st.history();
