--
-- task_timeout_escape: a task cannot escape its timeout by catching the
-- cancel (issue 10, found beyond the issue's list by the hostile-roles
-- suite).
--
-- A task's TimeoutSeconds (or orderflow.default_task_timeout) cancels it the
-- way statement_timeout does, and PL/pgSQL can catch that
-- (EXCEPTION WHEN query_canceled).  A task that returns, or raises an error
-- of its own choosing, after its timeout fired is a timeout all the same:
-- States.Timeout ("... and ignored the cancel"), its writes rolled back,
-- Retry and Catch apply as for any timeout.  Before, it SUCCEEDED.
--
-- The tasks here give up after 1.5 s, before a pool worker's hard bound
-- (2 s after the timeout: the worker ends itself); that endless variant is
-- in test/t/016_timeout_escape.pl.  Under start_sync_execution (the
-- caller's own session) there is no hard bound: the 4 s variant there ends
-- States.Timeout too.
--
CREATE SCHEMA tesc;
CREATE TABLE tesc.log (name text);
-- nextval is not rolled back: it counts the calls
CREATE SEQUENCE tesc.calls;

CREATE FUNCTION tesc.id(n text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE name = n $$;
CREATE FUNCTION tesc.result(n text, OUT status text, OUT error text, OUT cause text, OUT output jsonb)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(tesc.id(n), '60 s');
    SELECT d.status, d.error, d.cause, d.output INTO status, error, cause, output
      FROM orderflow.describe_execution(tesc.id(n)) AS d;
END
$$;
CREATE FUNCTION tesc.history(n text) RETURNS TABLE (event_id integer, type text, details jsonb)
LANGUAGE sql AS $$
    SELECT event_id, type,
           CASE WHEN type IN ('TaskFailed', 'TaskTimedOut', 'TaskSucceeded') THEN details END
      FROM orderflow.execution_history
     WHERE execution_id = tesc.id(n) ORDER BY event_id
$$;

-- Logs input.name, then catches every cancel for input.seconds; then
-- returns how many it caught, or raises an error of its own
CREATE FUNCTION tesc.stubborn(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    until timestamptz := clock_timestamp()
                         + make_interval(secs => (input ->> 'seconds')::float8);
    caught integer := 0;
BEGIN
    PERFORM nextval('tesc.calls');
    INSERT INTO tesc.log VALUES (input ->> 'name');
    WHILE clock_timestamp() < until LOOP
        BEGIN
            PERFORM pg_sleep(0.1);
        EXCEPTION WHEN query_canceled THEN
            caught := caught + 1;
        END;
    END LOOP;
    IF input ? 'raise' THEN
        RAISE EXCEPTION 'my own error after catching % cancel(s)', caught;
    END IF;
    RETURN jsonb_build_object('caught', caught);
END
$$;

SELECT orderflow.create_state_machine('tesc_task',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "tesc.stubborn",
    "TimeoutSeconds": 1, "End": true}}}');
-- Catch on States.Timeout applies as for any timeout
SELECT orderflow.create_state_machine('tesc_caught',
  '{"StartAt": "T", "States": {
     "T": {"Type": "Task", "Resource": "tesc.stubborn", "TimeoutSeconds": 1,
           "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Caught"}],
           "End": true},
     "Caught": {"Type": "Pass", "End": true}}}');

--
-- 1. Through the workers
--
SELECT orderflow.start_execution('tesc_task', '{"name": "returns", "seconds": 1.5}', 'returns') IS NOT NULL AS started;
SELECT orderflow.start_execution('tesc_task', '{"name": "raises", "seconds": 1.5, "raise": true}', 'raises') IS NOT NULL AS started;
SELECT orderflow.start_execution('tesc_caught', '{"name": "caught", "seconds": 1.5}', 'caught') IS NOT NULL AS started;
-- control: a task that ends within its timeout catches nothing and succeeds
SELECT orderflow.start_execution('tesc_task', '{"name": "in_time", "seconds": 0.2}', 'in_time') IS NOT NULL AS started;

-- it caught the cancel and returned {"caught": 1}: States.Timeout all the same
SELECT * FROM tesc.result('returns');
SELECT * FROM tesc.history('returns');
-- it caught the cancel and raised its own error: still States.Timeout
SELECT * FROM tesc.result('raises');
SELECT * FROM tesc.history('raises');
-- caught by the Catch
SELECT * FROM tesc.result('caught');
SELECT * FROM tesc.result('in_time');
-- the timed-out tasks' writes were rolled back; the one in time stays
SELECT name FROM tesc.log ORDER BY name;

--
-- 2. start_sync_execution: the caller's session, part 1 only (no hard
--    bound); the task catches cancels for 4 s
--
SELECT orderflow.start_sync_execution('tesc_task', '{"name": "sync", "seconds": 4}');
SELECT orderflow.start_sync_execution('tesc_caught', '{"name": "sync_caught", "seconds": 4}');
-- orderflow.default_task_timeout for a Task without TimeoutSeconds: the same
SELECT orderflow.create_state_machine('tesc_default',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "tesc.stubborn", "End": true}}}');
SET orderflow.default_task_timeout = '1s';
SELECT orderflow.start_sync_execution('tesc_default', '{"name": "sync_default", "seconds": 1.5}');
RESET orderflow.default_task_timeout;
SELECT name FROM tesc.log ORDER BY name;
-- one call per execution, none repeated
SELECT last_value AS calls FROM tesc.calls;

DROP SCHEMA tesc CASCADE;
