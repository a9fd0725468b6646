--
-- timeouts: Task TimeoutSeconds / TimeoutSecondsPath (States.Timeout, the
-- task's writes rolled back, retried like any error) and the state
-- machine's TimeoutSeconds (status TIMED_OUT).
--
-- Executions start together and are checked afterwards: task timeouts
-- first, then execution timeouts.  A worker advances the executions it
-- claimed one after the other, so the sleeping ones are started last, and
-- task durations are measured between history events, not from the start.
--
CREATE SCHEMA tmo;

CREATE FUNCTION tmo.start(sm text, input jsonb) RETURNS uuid
LANGUAGE sql AS $$ SELECT orderflow.start_execution(sm, input) $$;
CREATE FUNCTION tmo.id(sm text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE state_machine = sm $$;
CREATE FUNCTION tmo.result(sm text,
    OUT status text, OUT output jsonb, OUT error text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(tmo.id(sm), '60 s');
    SELECT d.status, d.output, d.error INTO status, output, error
      FROM orderflow.describe_execution(tmo.id(sm)) AS d;
END
$$;
-- time between the first TaskScheduled and the event after it
CREATE FUNCTION tmo.task_time(sm text) RETURNS interval
LANGUAGE sql AS $$
    SELECT b.ts - a.ts FROM orderflow.execution_history AS a
      JOIN orderflow.execution_history AS b
        ON b.execution_id = a.execution_id AND b.event_id = a.event_id + 1
     WHERE a.execution_id = tmo.id(sm) AND a.type = 'TaskScheduled'
     ORDER BY a.event_id LIMIT 1
$$;
CREATE FUNCTION tmo.elapsed(sm text) RETURNS interval
LANGUAGE sql AS $$ SELECT stopped_at - started_at FROM orderflow.executions WHERE id = tmo.id(sm) $$;
CREATE FUNCTION tmo.history(sm text) RETURNS TABLE (event_id integer, type text, state_name text)
LANGUAGE sql AS $$
    SELECT event_id, type, state_name FROM orderflow.execution_history
     WHERE execution_id = tmo.id(sm) ORDER BY event_id
$$;

-- tmo.sleep: writes a row, sleeps input.seconds, returns {"slept": seconds}
CREATE TABLE tmo.log (sm text);
CREATE FUNCTION tmo.sleep(input jsonb, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO tmo.log VALUES (context -> 'StateMachine' ->> 'Name');
    PERFORM pg_sleep((input ->> 'seconds')::float8);
    RETURN jsonb_build_object('slept', input -> 'seconds');
END
$$;

-- Task TimeoutSeconds: a task that runs too long fails with States.Timeout
SELECT orderflow.create_state_machine('tmo_task',
  '{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "tmo.sleep",
    "TimeoutSeconds": 1, "End": true}}}');
-- ... and one that finishes in time succeeds
SELECT orderflow.create_state_machine('tmo_task_in_time',
  '{"StartAt": "Quick", "States": {"Quick": {"Type": "Task", "Resource": "tmo.sleep",
    "TimeoutSeconds": 5, "End": true}}}');
-- TimeoutSecondsPath reads the timeout from the state input
SELECT orderflow.create_state_machine('tmo_task_path',
  '{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "tmo.sleep",
    "Parameters": {"seconds.$": "$.seconds"},
    "TimeoutSecondsPath": "$.timeout", "End": true}}}');
SELECT orderflow.create_state_machine('tmo_task_path_in_time',
  '{"StartAt": "Quick", "States": {"Quick": {"Type": "Task", "Resource": "tmo.sleep",
    "Parameters": {"seconds.$": "$.seconds"},
    "TimeoutSecondsPath": "$.timeout", "End": true}}}');
-- TimeoutSecondsPath must select a positive integer: else States.Runtime
SELECT orderflow.create_state_machine('tmo_task_path_zero',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "tmo.sleep",
    "TimeoutSecondsPath": "$.timeout", "End": true}}}');
SELECT orderflow.create_state_machine('tmo_task_path_string',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "tmo.sleep",
    "TimeoutSecondsPath": "$.timeout", "End": true}}}');
SELECT orderflow.create_state_machine('tmo_task_path_missing',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "tmo.sleep",
    "TimeoutSecondsPath": "$.timeout", "End": true}}}');
-- States.Timeout is retried and caught like any other error
SELECT orderflow.create_state_machine('tmo_task_retry_catch',
  '{"StartAt": "Slow", "States": {
    "Slow": {"Type": "Task", "Resource": "tmo.sleep", "TimeoutSeconds": 1,
             "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
             "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Late"}],
             "End": true},
    "Late": {"Type": "Pass", "Parameters": {"late.$": "$.error.Error"}, "End": true}}}');

-- the state machine's TimeoutSeconds: TIMED_OUT, with States.Timeout
SELECT orderflow.create_state_machine('tmo_execution_wait',
  '{"TimeoutSeconds": 2, "StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 30, "Next": "After"},
    "After": {"Type": "Succeed"}}}');
-- ... also while a retry is pending
SELECT orderflow.create_state_machine('tmo_execution_retry',
  '{"TimeoutSeconds": 2, "StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "tmo.sleep",
          "Parameters": {"seconds": "not a number"},
          "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 60, "MaxAttempts": 2}],
          "End": true}}}');
-- ... and when the last task runs past it (a task cannot outlive its
-- execution: the execution ends TIMED_OUT, not SUCCEEDED)
SELECT orderflow.create_state_machine('tmo_execution_task',
  '{"TimeoutSeconds": 1, "StartAt": "Slow", "States": {
    "Slow": {"Type": "Task", "Resource": "tmo.sleep", "End": true}}}');
-- an execution that ends in time is not affected
SELECT orderflow.create_state_machine('tmo_execution_in_time',
  '{"TimeoutSeconds": 30, "StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 0, "End": true}}}');

--
-- Task timeouts
--
SELECT count(tmo.start(sm, input::jsonb)) AS started FROM (VALUES
  ('tmo_task_path_zero',    '{"seconds": 0, "timeout": 0}'),
  ('tmo_task_path_string',  '{"seconds": 0, "timeout": "1"}'),
  ('tmo_task_path_missing', '{"seconds": 0}'),
  ('tmo_task_in_time',      '{"seconds": 0.1}'),
  ('tmo_task_path_in_time', '{"seconds": 0.1, "timeout": 5}'),
  ('tmo_task',              '{"seconds": 4}'),
  ('tmo_task_path',         '{"seconds": 4, "timeout": 1}'),
  ('tmo_task_retry_catch',  '{"seconds": 4}')
) AS v (sm, input);

SELECT status, output, error FROM tmo.result('tmo_task');
SELECT * FROM tmo.history('tmo_task');
SELECT tmo.task_time('tmo_task') >= interval '1 s' AS after_1s,
       tmo.task_time('tmo_task') < interval '4 s' AS before_the_task_ended;
SELECT status, output, error FROM tmo.result('tmo_task_in_time');
SELECT status, output, error FROM tmo.result('tmo_task_path');
SELECT tmo.task_time('tmo_task_path') >= interval '1 s' AS after_1s,
       tmo.task_time('tmo_task_path') < interval '4 s' AS before_the_task_ended;
SELECT status, output, error FROM tmo.result('tmo_task_path_in_time');
SELECT status, output, error FROM tmo.result('tmo_task_path_zero');
SELECT status, output, error FROM tmo.result('tmo_task_path_string');
SELECT status, output, error FROM tmo.result('tmo_task_path_missing');
SELECT status, output, error FROM tmo.result('tmo_task_retry_catch');
SELECT * FROM tmo.history('tmo_task_retry_catch');
-- the timed-out attempts' writes were rolled back; the others' kept
SELECT sm, count(*) FROM tmo.log GROUP BY sm ORDER BY sm;

--
-- Execution timeouts
--
SELECT count(tmo.start(sm, input::jsonb)) AS started FROM (VALUES
  ('tmo_execution_in_time', '{}'),
  ('tmo_execution_wait',    '{}'),
  ('tmo_execution_retry',   '{}'),
  ('tmo_execution_task',    '{"seconds": 3}')
) AS v (sm, input);

SELECT status, output, error FROM tmo.result('tmo_execution_in_time');
SELECT status, output, error FROM tmo.result('tmo_execution_wait');
SELECT * FROM tmo.history('tmo_execution_wait');
SELECT tmo.elapsed('tmo_execution_wait') >= interval '2 s' AS after_2s,
       tmo.elapsed('tmo_execution_wait') < interval '30 s' AS before_the_wait_ended;
SELECT status, output, error FROM tmo.result('tmo_execution_retry');
SELECT * FROM tmo.history('tmo_execution_retry');
SELECT tmo.elapsed('tmo_execution_retry') >= interval '2 s' AS after_2s,
       tmo.elapsed('tmo_execution_retry') < interval '60 s' AS before_the_retry;
SELECT status, output, error FROM tmo.result('tmo_execution_task');
SELECT type FROM tmo.history('tmo_execution_task') ORDER BY event_id DESC LIMIT 1;

--
-- A slow task holds up only its own execution: another execution started
-- with it, which needs no time at all, finishes within its TimeoutSeconds
-- (two workers serve this database; one of them is free)
--
SELECT orderflow.create_state_machine('tmo_behind_slow_task',
  '{"TimeoutSeconds": 2, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine('tmo_slow_task',
  '{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "tmo.sleep", "End": true}}}');
SELECT count(tmo.start(sm, input::jsonb)) AS started FROM (VALUES
  ('tmo_slow_task',        '{"seconds": 3}'),
  ('tmo_behind_slow_task', '{"quick": true}')
) AS v (sm, input);
SELECT status, output, error FROM tmo.result('tmo_behind_slow_task');
SELECT status, output, error FROM tmo.result('tmo_slow_task');
