--
-- retry_catch: Retry (MaxAttempts, IntervalSeconds, BackoffRate,
-- MaxDelaySeconds, first matching retrier only, States.ALL,
-- States.TaskFailed vs States.Timeout) and Catch (ResultPath, order,
-- States.Runtime never caught), and the error names of SQL failures.
--
-- Retries wait at least a second each, so every execution is started
-- first (they run side by side in the workers) and checked afterwards.
--
CREATE SCHEMA rc;

-- start an execution (one per state machine in this file)
CREATE FUNCTION rc.start(sm text, input jsonb) RETURNS uuid
LANGUAGE sql AS $$ SELECT orderflow.start_execution(sm, input) $$;

-- the execution of a state machine: wait for it, then report it
CREATE FUNCTION rc.id(sm text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE state_machine = sm $$;

CREATE FUNCTION rc.result(sm text,
    OUT status text, OUT output jsonb, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(rc.id(sm), '60 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(rc.id(sm)) AS d;
END
$$;

CREATE FUNCTION rc.history(sm text)
RETURNS TABLE (event_id integer, type text, state_name text, details jsonb)
LANGUAGE sql AS $$
    SELECT h.event_id, h.type, h.state_name,
           CASE WHEN h.type IN ('RetryScheduled', 'TaskFailed', 'TaskTimedOut', 'CatchMatched', 'ExecutionFailed')
                THEN h.details END
      FROM orderflow.execution_history AS h
     WHERE h.execution_id = rc.id(sm) ORDER BY h.event_id
$$;

-- how many times the task ran
CREATE FUNCTION rc.attempts(sm text) RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM orderflow.execution_history
     WHERE execution_id = rc.id(sm) AND type = 'TaskScheduled'
$$;

-- Task functions (search_path is pinned to pg_catalog while they run)
--   rc.fail:  fails with Error = input.error, Cause = input.cause
--   rc.flaky: {"retry": n, "fails": k} fails with "Transient" while n < k
--   rc.div0:  writes a row, then divides by zero (the write is rolled back)
--   rc.dup:   violates a unique constraint
--   rc.sleep: sleeps input.seconds
CREATE TABLE rc.log (note text PRIMARY KEY);
INSERT INTO rc.log VALUES ('existing');
CREATE FUNCTION rc.fail(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.raise_error(input ->> 'error', input ->> 'cause');
    RETURN NULL;
END
$$;
CREATE FUNCTION rc.flaky(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (input ->> 'retry')::int < (input ->> 'fails')::int THEN
        PERFORM orderflow.raise_error('Transient', 'attempt ' || (input ->> 'retry'));
    END IF;
    RETURN jsonb_build_object('ok', true, 'attempts', (input ->> 'retry')::int + 1);
END
$$;
CREATE FUNCTION rc.div0(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rc.log VALUES ('written by div0');
    RETURN to_jsonb(1 / 0);
END
$$;
CREATE FUNCTION rc.dup(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rc.log VALUES ('existing');
    RETURN '{}';
END
$$;
CREATE FUNCTION rc.raise_plain(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'plain % exception', 'plpgsql';
END
$$;
CREATE FUNCTION rc.raise_custom_code(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'a code of its own' USING ERRCODE = 'AB123';
END
$$;
CREATE FUNCTION rc.sleep(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep((input ->> 'seconds')::float8);
    RETURN '{"slept": true}';
END
$$;

--
-- The state machines
--
-- MaxAttempts 0: never retried
SELECT orderflow.create_state_machine('rc_max_attempts_zero',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.fail",
    "Retry": [{"ErrorEquals": ["Boom"], "MaxAttempts": 0}], "End": true}}}');

-- IntervalSeconds 1, BackoffRate 2: waits 1 s then 2 s; RetryCount grows
SELECT orderflow.create_state_machine('rc_backoff',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 2},
    "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "BackoffRate": 2,
               "MaxAttempts": 2}],
    "End": true}}}');

-- MaxDelaySeconds caps the backoff: 1 s, then 2 s instead of 3 s
SELECT orderflow.create_state_machine('rc_max_delay',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 2},
    "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "BackoffRate": 3,
               "MaxDelaySeconds": 2, "MaxAttempts": 3}],
    "End": true}}}');

-- retries exhausted: the last error fails the execution
SELECT orderflow.create_state_machine('rc_exhausted',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 5},
    "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    "End": true}}}');

-- only the FIRST matching retrier is used; when it is exhausted the error
-- goes to Catch, never to a later retrier
SELECT orderflow.create_state_machine('rc_first_retrier_only',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.flaky",
          "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 5},
          "Retry": [{"ErrorEquals": ["Other"], "MaxAttempts": 5},
                    {"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 1},
                    {"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 5}],
          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
          "End": true},
    "Caught": {"Type": "Pass", "End": true}}}');

-- States.ALL retries any error
SELECT orderflow.create_state_machine('rc_retry_all',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 1},
    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    "End": true}}}');

-- error names are case-sensitive: "transient" does not match "Transient"
SELECT orderflow.create_state_machine('rc_case_sensitive',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 1},
    "Retry": [{"ErrorEquals": ["transient"], "MaxAttempts": 3}],
    "End": true}}}');

-- States.TaskFailed matches a task's own errors ...
SELECT orderflow.create_state_machine('rc_task_failed',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.flaky",
    "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 1},
    "Retry": [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    "End": true}}}');

-- ... but not States.Timeout
SELECT orderflow.create_state_machine('rc_task_failed_not_timeout',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.sleep", "TimeoutSeconds": 1,
          "Retry": [{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],
          "Catch": [{"ErrorEquals": ["States.TaskFailed"], "Next": "Failed"},
                    {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}],
          "End": true},
    "Failed": {"Type": "Pass", "Result": "caught as States.TaskFailed", "End": true},
    "TimedOut": {"Type": "Pass", "Result": "caught as States.Timeout", "End": true}}}');

-- attempts start from zero every time the state is entered
SELECT orderflow.create_state_machine('rc_retry_count_resets',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.flaky",
          "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 1},
          "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 1}],
          "ResultPath": null, "Next": "Count"},
    "Count": {"Type": "Pass", "Parameters": {"loops.$": "States.MathAdd($.loops, 1)"},
              "Next": "Again"},
    "Again": {"Type": "Choice", "Choices": [
                {"Variable": "$.loops", "NumericLessThan": 2, "Next": "T"}],
              "Default": "Done"},
    "Done": {"Type": "Succeed"}}}');

-- Catch without ResultPath: the output is {"Error", "Cause"}
SELECT orderflow.create_state_machine('rc_catch_default',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Catch": [{"ErrorEquals": ["Boom"], "Next": "Handler"}], "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- a task failure without a cause: the Cause key is absent
SELECT orderflow.create_state_machine('rc_catch_no_cause',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}], "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- Catch ResultPath: the error object goes into the raw input
SELECT orderflow.create_state_machine('rc_catch_result_path',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail", "InputPath": "$.args",
          "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.failure", "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- Catch ResultPath null: the raw input passes on
SELECT orderflow.create_state_machine('rc_catch_result_path_null',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": null, "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- the first matching catcher wins
SELECT orderflow.create_state_machine('rc_catch_order',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Catch": [{"ErrorEquals": ["Other"], "Next": "A"},
                    {"ErrorEquals": ["Boom", "Other2"], "Next": "B"},
                    {"ErrorEquals": ["States.ALL"], "Next": "C"}],
          "End": true},
    "A": {"Type": "Pass", "Result": "A", "End": true},
    "B": {"Type": "Pass", "Result": "B", "End": true},
    "C": {"Type": "Pass", "Result": "C", "End": true}}}');

-- no catcher matches: the execution fails with the task's error and cause
SELECT orderflow.create_state_machine('rc_catch_unmatched',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Catch": [{"ErrorEquals": ["Other"], "Next": "A"}], "End": true},
    "A": {"Type": "Pass", "End": true}}}');

-- retried, then caught
SELECT orderflow.create_state_machine('rc_retry_then_catch',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.flaky",
          "Parameters": {"retry.$": "$$.State.RetryCount", "fails": 9},
          "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1, "MaxAttempts": 1}],
          "Catch": [{"ErrorEquals": ["Transient"], "ResultPath": "$.error", "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- States.Runtime (here: a ResultSelector path that matches nothing, after the
-- task ran) is neither retried nor caught, not even when named
SELECT orderflow.create_state_machine('rc_runtime_not_caught',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.flaky",
          "Parameters": {"retry": 0, "fails": 0},
          "ResultSelector": {"x.$": "$.missing"},
          "Retry": [{"ErrorEquals": ["States.Runtime"], "MaxAttempts": 3},
                    {"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
          "Catch": [{"ErrorEquals": ["States.Runtime"], "Next": "Handler"},
                    {"ErrorEquals": ["States.ALL"], "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- the same for a Parameters path failing before the task is scheduled
SELECT orderflow.create_state_machine('rc_runtime_parameters',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.fail",
          "Parameters": {"x.$": "$.missing"},
          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "End": true}}}');

-- SQL errors: Postgres.<ConditionName>; the task's writes are rolled back
SELECT orderflow.create_state_machine('rc_sql_division_by_zero',
  '{"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "rc.div0",
          "Catch": [{"ErrorEquals": ["Postgres.DivisionByZero"], "Next": "Handler"}],
          "End": true},
    "Handler": {"Type": "Pass", "Parameters": {"error.$": "$.Error"}, "End": true}}}');
SELECT orderflow.create_state_machine('rc_sql_unique_violation',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.dup", "End": true}}}');
-- a plain RAISE EXCEPTION (SQLSTATE P0001), and a SQLSTATE without a name
SELECT orderflow.create_state_machine('rc_sql_raise',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.raise_plain", "End": true}}}');
SELECT orderflow.create_state_machine('rc_sql_custom_code',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rc.raise_custom_code", "End": true}}}');

--
-- Start everything (the statement commits: the workers take over)
--
SELECT count(rc.start(sm, input::jsonb)) AS started FROM (VALUES
  ('rc_max_attempts_zero',       '{"error": "Boom", "cause": "no retry"}'),
  ('rc_backoff',                 '{}'),
  ('rc_max_delay',               '{}'),
  ('rc_exhausted',               '{}'),
  ('rc_first_retrier_only',      '{}'),
  ('rc_retry_all',               '{}'),
  ('rc_case_sensitive',          '{}'),
  ('rc_task_failed',             '{}'),
  ('rc_task_failed_not_timeout', '{"seconds": 5}'),
  ('rc_retry_count_resets',      '{"loops": 0}'),
  ('rc_catch_default',           '{"error": "Boom", "cause": "it broke"}'),
  ('rc_catch_no_cause',          '{"error": "NoCause"}'),
  ('rc_catch_result_path',       '{"args": {"error": "Boom", "cause": "c"}, "keep": 1}'),
  ('rc_catch_result_path_null',  '{"error": "Boom", "keep": 1}'),
  ('rc_catch_order',             '{"error": "Boom"}'),
  ('rc_catch_unmatched',         '{"error": "Boom", "cause": "not caught"}'),
  ('rc_retry_then_catch',        '{"keep": 1}'),
  ('rc_runtime_not_caught',      '{}'),
  ('rc_runtime_parameters',      '{}'),
  ('rc_sql_division_by_zero',    '{}'),
  ('rc_sql_unique_violation',    '{}'),
  ('rc_sql_raise',               '{}'),
  ('rc_sql_custom_code',         '{}')
) AS v (sm, input);

--
-- Check them
--
SELECT * FROM rc.result('rc_max_attempts_zero');
SELECT * FROM rc.history('rc_max_attempts_zero');

SELECT * FROM rc.result('rc_backoff');
SELECT * FROM rc.history('rc_backoff');
SELECT stopped_at - started_at >= interval '3 s' AS waited_3_seconds
  FROM orderflow.executions WHERE id = rc.id('rc_backoff');

SELECT * FROM rc.result('rc_max_delay');
SELECT event_id, details -> 'retryAttempt' AS attempt, details -> 'retryDelaySeconds' AS delay
  FROM rc.history('rc_max_delay') WHERE type = 'RetryScheduled';

SELECT * FROM rc.result('rc_exhausted');
SELECT rc.attempts('rc_exhausted');

SELECT * FROM rc.result('rc_first_retrier_only');
SELECT rc.attempts('rc_first_retrier_only');
SELECT * FROM rc.history('rc_first_retrier_only');

SELECT * FROM rc.result('rc_retry_all');
SELECT rc.attempts('rc_retry_all');

SELECT * FROM rc.result('rc_case_sensitive');
SELECT rc.attempts('rc_case_sensitive');

SELECT * FROM rc.result('rc_task_failed');
SELECT rc.attempts('rc_task_failed');

SELECT * FROM rc.result('rc_task_failed_not_timeout');
SELECT rc.attempts('rc_task_failed_not_timeout');
SELECT type, details FROM rc.history('rc_task_failed_not_timeout')
 WHERE type IN ('TaskTimedOut', 'TaskFailed', 'RetryScheduled');

SELECT * FROM rc.result('rc_retry_count_resets');
SELECT rc.attempts('rc_retry_count_resets');
SELECT count(*) AS retries FROM rc.history('rc_retry_count_resets') WHERE type = 'RetryScheduled';

SELECT * FROM rc.result('rc_catch_default');
SELECT * FROM rc.history('rc_catch_default');
SELECT * FROM rc.result('rc_catch_no_cause');
SELECT * FROM rc.result('rc_catch_result_path');
SELECT * FROM rc.result('rc_catch_result_path_null');
SELECT * FROM rc.result('rc_catch_order');
SELECT * FROM rc.result('rc_catch_unmatched');
SELECT * FROM rc.result('rc_retry_then_catch');
SELECT * FROM rc.history('rc_retry_then_catch');

SELECT status, output, error FROM rc.result('rc_runtime_not_caught');
SELECT rc.attempts('rc_runtime_not_caught');
SELECT event_id, type, state_name FROM rc.history('rc_runtime_not_caught');
SELECT status, output, error FROM rc.result('rc_runtime_parameters');
SELECT rc.attempts('rc_runtime_parameters');

SELECT * FROM rc.result('rc_sql_division_by_zero');
SELECT * FROM rc.result('rc_sql_unique_violation');
SELECT * FROM rc.result('rc_sql_raise');
SELECT * FROM rc.result('rc_sql_custom_code');
-- neither task's write survived
SELECT * FROM rc.log;
