--
-- api: the SQL API around executions and state machines: start_execution
-- (defaults, idempotent names, atomic with the caller's transaction),
-- wait_for_execution, describe_execution, stop_execution,
-- delete_state_machine, register_resource, raise_error, run_pending, the
-- history's shape and payload limits.
--
CREATE SCHEMA api;
CREATE FUNCTION api.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION api.tag(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('tag', 'first') $$;
CREATE FUNCTION api.tag2(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('tag', 'second') $$;
CREATE TABLE api.written (v text);
CREATE FUNCTION api.write(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO api.written VALUES (input ->> 'v') RETURNING jsonb_build_object('wrote', v) $$;
CREATE FUNCTION api.big(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('big', repeat('x', 300000)) $$;

-- wait for an execution, then describe it
CREATE FUNCTION api.result(id uuid)
RETURNS TABLE (status text, output jsonb, error text, cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(id, '30 s');
    RETURN QUERY SELECT d.status, d.output, d.error, d.cause FROM orderflow.describe_execution(id) AS d;
END
$$;
-- run a statement, report its error with any uuid masked
CREATE FUNCTION api.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;

\set SHOW_CONTEXT never

SELECT orderflow.create_state_machine('api_pass',
  '{"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Next": "B"},
    "B": {"Type": "Pass", "Next": "C"},
    "C": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine('api_wait',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}}');

--
-- start_execution
--
-- input defaults to {}; without a name the name is the id
SELECT orderflow.start_execution('api_pass') AS id \gset
SELECT orderflow.wait_for_execution(:'id');
SELECT status, input, output, name = :'id' AS name_is_id, state_machine, version
  FROM orderflow.describe_execution(:'id');

-- a name is unique per state machine: the same name and input give the
-- same execution back, another input is an error
SELECT orderflow.start_execution('api_pass', '{"n": 1}', 'order-1') AS first \gset
SELECT orderflow.start_execution('api_pass', '{"n": 1}', 'order-1') = :'first' AS same_execution;
SELECT orderflow.start_execution('api_pass', '{"n": 2}', 'order-1');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM orderflow.executions WHERE state_machine = 'api_pass' AND name = 'order-1';
-- the same name on another state machine is another execution
SELECT orderflow.start_execution('api_wait', '{"n": 1}', 'order-1') <> :'first' AS other_execution;
SELECT orderflow.stop_execution(id) FROM orderflow.executions
 WHERE state_machine = 'api_wait' AND name = 'order-1';

-- bad arguments
SELECT orderflow.start_execution('api_no_such_machine', '{}');
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.start_execution(NULL, '{}');
SELECT orderflow.start_execution('api_pass', '{}', '');
SELECT orderflow.start_execution('api_pass', '{}', repeat('n', 81));
SELECT orderflow.start_execution('api_pass', '{}', E'new\nline');
-- NULL input means {}
SELECT orderflow.start_execution('api_pass', NULL, 'null-input') AS id \gset
SELECT orderflow.wait_for_execution(:'id');
SELECT input, output FROM orderflow.describe_execution(:'id');

-- any JSON value is an input
SELECT orderflow.start_execution('api_pass', '[1, "two", null]') AS id \gset
SELECT status, output FROM api.result(:'id');

-- the input is limited by orderflow.max_payload_size (256 kB)
SELECT orderflow.start_execution('api_pass', jsonb_build_object('big', repeat('x', 300000)));
\echo :LAST_ERROR_SQLSTATE

-- a start is part of the caller's transaction: rolled back, it never happened
BEGIN;
SELECT orderflow.start_execution('api_pass', '{}', 'rolled-back') IS NOT NULL AS started;
SELECT count(*) FROM orderflow.executions WHERE name = 'rolled-back';
-- the workers cannot see it yet, so waiting for it here is refused
SELECT orderflow.wait_for_execution(id, '1 s') FROM orderflow.executions WHERE name = 'rolled-back';
ROLLBACK;
SELECT count(*) FROM orderflow.executions WHERE name = 'rolled-back';
SELECT count(*) FROM orderflow.execution_history AS h
 WHERE NOT EXISTS (SELECT 1 FROM orderflow.executions AS e WHERE e.id = h.execution_id);

--
-- The history: numbered events, each pointing to the one before
--
SELECT orderflow.start_execution('api_pass', '{"k": "v"}', 'history') AS id \gset
SELECT orderflow.wait_for_execution(:'id');
SELECT event_id, previous_event_id, type, state_name, details
  FROM orderflow.execution_history WHERE execution_id = :'id' ORDER BY event_id;
SELECT bool_and(h.ts >= e.started_at) AS none_before_start,
       bool_and(h.ts >= coalesce(h.before, h.ts)) AS in_time_order
  FROM (SELECT execution_id, ts, lag(ts) OVER (ORDER BY event_id) AS before
          FROM orderflow.execution_history WHERE execution_id = :'id') AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id;

--
-- wait_for_execution
--
SELECT orderflow.start_execution('api_wait', '{}', 'waiting') AS waiting \gset
-- gives up after its timeout: still RUNNING
SELECT orderflow.wait_for_execution(:'waiting', '0.3 s');
SELECT orderflow.wait_for_execution('00000000-0000-0000-0000-000000000000', '1 s');
\echo :LAST_ERROR_SQLSTATE
-- not in a REPEATABLE READ transaction (it could never see progress)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT orderflow.wait_for_execution(:'waiting', '1 s');
ROLLBACK;

--
-- stop_execution
--
SELECT orderflow.stop_execution(:'waiting', 'Operator.Stop', 'no longer needed');
SELECT status, output, error, cause, stopped_at >= started_at AS stopped
  FROM orderflow.describe_execution(:'waiting');
SELECT orderflow.wait_for_execution(:'waiting', '1 s');
SELECT event_id, type, details FROM orderflow.execution_history
 WHERE execution_id = :'waiting' ORDER BY event_id;
-- stopping it again, or a finished execution
SELECT api.try(format('SELECT orderflow.stop_execution(%L)', :'waiting'));
SELECT api.try(format('SELECT orderflow.stop_execution(%L)', :'id'));
SELECT orderflow.stop_execution('00000000-0000-0000-0000-000000000000');
SELECT orderflow.stop_execution(NULL);
-- without error and cause
SELECT orderflow.start_execution('api_wait', '{}', 'stopped-bare') AS id \gset
SELECT orderflow.stop_execution(:'id');
SELECT status, error, cause FROM orderflow.describe_execution(:'id');
-- a stopped execution stays stopped: nothing is due any more
SELECT count(*) AS events_at_stop FROM orderflow.execution_history WHERE execution_id = :'id' \gset
SELECT orderflow.run_pending();
SELECT pg_sleep(0.3);
SELECT status, (SELECT count(*) FROM orderflow.execution_history WHERE execution_id = :'id') = :events_at_stop AS no_new_events
  FROM orderflow.describe_execution(:'id');

--
-- describe_execution
--
SELECT * FROM orderflow.describe_execution('00000000-0000-0000-0000-000000000000');
\echo :LAST_ERROR_SQLSTATE

--
-- run_pending advances work in the calling session: here, an execution
-- that the workers cannot see because its start is not committed yet
--
BEGIN;
SELECT orderflow.start_execution('api_pass', '{"here": true}', 'run-here') AS id \gset
SELECT orderflow.run_pending();
SELECT status, output FROM orderflow.describe_execution(:'id');
SELECT orderflow.wait_for_execution(:'id');
COMMIT;
SELECT status, output FROM orderflow.describe_execution(:'id');
-- max_steps: nothing to do for 0 or less
SELECT orderflow.run_pending(0), orderflow.run_pending(-1);

--
-- A task's writes commit with its step
--
SELECT orderflow.create_state_machine('api_write',
  '{"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "api.write", "End": true}}}');
SELECT orderflow.start_execution('api_write', '{"v": "hello"}') AS id \gset
SELECT status, output FROM api.result(:'id');
SELECT * FROM api.written;

-- a task result over the payload limit: States.DataLimitExceeded (catchable)
SELECT orderflow.create_state_machine('api_big',
  '{"StartAt": "B", "States": {
    "B": {"Type": "Task", "Resource": "api.big",
          "Catch": [{"ErrorEquals": ["States.DataLimitExceeded"], "ResultPath": null, "Next": "Small"}],
          "End": true},
    "Small": {"Type": "Pass", "Result": "caught", "End": true}}}');
SELECT orderflow.start_execution('api_big') AS id \gset
SELECT status, output FROM api.result(:'id');

--
-- register_resource
--
-- a task function takes (jsonb) or (jsonb, jsonb) and returns jsonb
CREATE FUNCTION api.wrong_arg(input text) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION api.wrong_second(input jsonb, n integer) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION api.wrong_result(input jsonb) RETURNS text LANGUAGE sql AS 'SELECT input::text';
CREATE FUNCTION api.set_result(input jsonb) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION api.three(a jsonb, b jsonb, c jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT a';
CREATE PROCEDURE api.proc(input jsonb) LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION api.two(input jsonb, context jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('machine', context -> 'StateMachine' -> 'Name') $$;
SELECT orderflow.register_resource('arn:wrong_arg', 'api.wrong_arg(text)');
SELECT orderflow.register_resource('arn:wrong_second', 'api.wrong_second(jsonb, integer)');
SELECT orderflow.register_resource('arn:wrong_result', 'api.wrong_result(jsonb)');
SELECT orderflow.register_resource('arn:set_result', 'api.set_result(jsonb)');
SELECT orderflow.register_resource('arn:three', 'api.three(jsonb, jsonb, jsonb)');
SELECT orderflow.register_resource('arn:proc', 'api.proc(jsonb)'::regprocedure);
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.register_resource('', 'api.echo(jsonb)');
SELECT orderflow.register_resource('arn:nothing', 'api.nothing(jsonb)');
SELECT count(*) FROM orderflow.resources WHERE resource LIKE 'arn:%';
-- (jsonb, jsonb) receives the context object
SELECT orderflow.register_resource('arn:aws:lambda:eu-west-1:1:function:two', 'api.two(jsonb, jsonb)');
SELECT orderflow.create_state_machine('api_two',
  '{"StartAt": "T", "States": {"T": {"Type": "Task",
    "Resource": "arn:aws:lambda:eu-west-1:1:function:two", "End": true}}}');
SELECT orderflow.start_execution('api_two') AS id \gset
SELECT status, output FROM api.result(:'id');

-- a binding is fixed when a version is stored: rebinding the resource
-- changes later versions only
SELECT orderflow.register_resource('arn:tag', 'api.tag(jsonb)');
SELECT orderflow.create_state_machine('api_bound',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:tag", "End": true}}}');
SELECT orderflow.register_resource('arn:tag', 'api.tag2(jsonb)');
SELECT orderflow.start_execution('api_bound') AS id \gset
SELECT status, output FROM api.result(:'id');
SELECT orderflow.update_state_machine('api_bound',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:tag", "End": true}}}');
SELECT orderflow.start_execution('api_bound') AS id \gset
SELECT status, output FROM api.result(:'id');

-- a function name Resource is resolved once, with the creator's
-- search_path, and folds to lower case like an unquoted SQL name
SET search_path = api, public;
SELECT orderflow.create_state_machine('api_unqualified',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "Echo", "Next": "U"},
                               "U": {"Type": "Task", "Resource": "API.TAG", "End": true}}}');
RESET search_path;
SELECT orderflow.start_execution('api_unqualified', '{"x": 1}') AS id \gset
SELECT status, output FROM api.result(:'id');

--
-- raise_error outside a task is an ordinary SQL error (SQLSTATE OF001)
--
SELECT orderflow.raise_error('My.Error', 'the cause');
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.raise_error('My.Error');
SELECT orderflow.raise_error(NULL);

--
-- delete_state_machine
--
SELECT orderflow.create_state_machine('api_delete_me',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}}');
SELECT orderflow.start_execution('api_delete_me', '{}', 'running-1') IS NOT NULL AS started;
SELECT orderflow.start_execution('api_delete_me', '{}', 'running-2') IS NOT NULL AS started;
-- refused while executions run
SELECT orderflow.delete_state_machine('api_delete_me');
\echo :LAST_ERROR_SQLSTATE
SELECT count(*) FROM orderflow.state_machines WHERE name = 'api_delete_me';
-- force => true aborts them
SELECT orderflow.delete_state_machine('api_delete_me', force => true);
SELECT name, status, error, cause FROM orderflow.executions
 WHERE state_machine = 'api_delete_me' ORDER BY name;
SELECT e.name, h.type FROM orderflow.execution_history AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id
 WHERE e.state_machine = 'api_delete_me' AND h.event_id > 1 ORDER BY e.name, h.event_id;
-- its row stays as a tombstone (the name stays with its owner), without versions
SELECT count(*), bool_and(deleted_at IS NOT NULL) AS tombstone
  FROM orderflow.state_machines WHERE name = 'api_delete_me';
SELECT count(*) FROM orderflow.state_machine_versions WHERE state_machine = 'api_delete_me';
-- the owner can use the name again, from version 1
SELECT orderflow.create_state_machine('api_delete_me',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
-- finished executions do not stop a delete
SELECT orderflow.start_execution('api_delete_me') AS id \gset
SELECT orderflow.wait_for_execution(:'id');
SELECT orderflow.delete_state_machine('api_delete_me');
SELECT orderflow.delete_state_machine('api_delete_me');
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.start_execution('api_delete_me');
