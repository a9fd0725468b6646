--
-- execution_control: stop_execution from every kind of waiting,
-- redrive_execution, start_sync_execution, list_executions,
-- describe_state_machine and retention.  The workers advance the
-- executions; nothing printed depends on ids or times.
--
CREATE SCHEMA ctl;
GRANT USAGE ON SCHEMA ctl TO PUBLIC;
CREATE FUNCTION ctl.id(name text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE executions.name = id.name AND parent_id IS NULL $$;
CREATE FUNCTION ctl.result(name text, OUT status text, OUT output jsonb, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(ctl.id(name), '60 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(ctl.id(name)) AS d;
END
$$;
-- wait (up to 20 s) until the execution recorded `times` events of this type
CREATE FUNCTION ctl.wait_event(name text, event text, times integer DEFAULT 1) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..400 LOOP
        IF (SELECT count(*) FROM orderflow.execution_history AS h
             WHERE h.execution_id = ctl.id(name) AND h.type = event) >= times THEN
            RETURN event;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN 'no ' || event;
END
$$;
CREATE FUNCTION ctl.history(name text) RETURNS TABLE (type text, state_name text)
LANGUAGE sql AS $$
    SELECT type, state_name FROM orderflow.execution_history
     WHERE execution_id = ctl.id(name) ORDER BY event_id
$$;
CREATE FUNCTION ctl.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
CREATE TABLE ctl.tokens (n serial, token text);
CREATE FUNCTION ctl.remember(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO ctl.tokens (token) VALUES (input ->> 'token') RETURNING jsonb_build_object('ok', true) $$;
CREATE FUNCTION ctl.wait_tokens(n integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..400 LOOP
        IF (SELECT count(*) FROM ctl.tokens) >= n THEN
            RETURN true;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN false;
END
$$;
CREATE FUNCTION ctl.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
CREATE FUNCTION ctl.fail(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN PERFORM orderflow.raise_error('Ctl.Flaky', 'always fails'); RETURN NULL; END $$;

--
-- 1. stop_execution during each kind of waiting
--
SELECT orderflow.create_activity('ctl_act');
SELECT orderflow.create_state_machine('ctl_waits', $j$
{"StartAt": "Route", "States": {
  "Route": {"Type": "Choice", "Choices": [
      {"Variable": "$.kind", "StringEquals": "wait", "Next": "Sleep"},
      {"Variable": "$.kind", "StringEquals": "retry", "Next": "Flaky"},
      {"Variable": "$.kind", "StringEquals": "callback", "Next": "Callback"},
      {"Variable": "$.kind", "StringEquals": "activity", "Next": "Activity"}],
    "Default": "Branches"},
  "Sleep": {"Type": "Wait", "Seconds": 3600, "End": true},
  "Flaky": {"Type": "Task", "Resource": "ctl.fail", "End": true,
    "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 3600, "MaxAttempts": 3}]},
  "Callback": {"Type": "Task", "Resource": "ctl.remember.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "End": true},
  "Activity": {"Type": "Task", "Resource": "activity:ctl_act", "End": true},
  "Branches": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "BranchWait", "States": {"BranchWait": {"Type": "Wait", "Seconds": 3600, "End": true}}},
      {"StartAt": "BranchCallback", "States": {"BranchCallback": {"Type": "Task",
        "Resource": "ctl.remember.waitForTaskToken", "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}]}}}
$j$);
SELECT orderflow.start_execution('ctl_waits', jsonb_build_object('kind', k), 'stop-' || k) IS NOT NULL AS started
  FROM unnest(ARRAY['wait', 'retry', 'callback', 'activity', 'parallel']) AS k;
-- each is parked: in a Wait, a scheduled retry, on a token, on an activity
-- task, on its Parallel branches (one in a Wait, one on a token)
SELECT ctl.wait_event('stop-wait', 'WaitStateEntered');
SELECT ctl.wait_event('stop-retry', 'RetryScheduled');
SELECT ctl.wait_event('stop-callback', 'TaskSubmitted');
SELECT ctl.wait_event('stop-activity', 'ActivityScheduled');
SELECT ctl.wait_event('stop-parallel', 'ParallelStateStarted');
-- both callbacks (the state's and the branch's) have handed out their tokens
SELECT ctl.wait_tokens(2);
SELECT k, orderflow.stop_execution(ctl.id('stop-' || k), 'Ops.Stopped', 'stopped by the operator')
  FROM unnest(ARRAY['wait', 'retry', 'callback', 'activity', 'parallel']) AS k;
SELECT name, status, error, cause, due_at IS NULL AS not_due
  FROM orderflow.executions WHERE name LIKE 'stop-%' ORDER BY name;
SELECT k, (SELECT type FROM ctl.history('stop-' || k) OFFSET (SELECT count(*) - 1 FROM ctl.history('stop-' || k))) AS last_event
  FROM unnest(ARRAY['wait', 'retry', 'callback', 'activity', 'parallel']) AS k;
-- the branches were aborted with it
SELECT status, error, count(*) FROM orderflow.executions WHERE parent_id = ctl.id('stop-parallel')
 GROUP BY status, error;
-- their tasks were canceled: tokens are dead, the activity task is not handed out
SELECT t.status, count(*) FROM orderflow.task_tokens AS t JOIN orderflow.executions AS e
    ON e.id = t.execution_id WHERE e.name LIKE 'stop-%' OR e.root_id = ctl.id('stop-parallel')
 GROUP BY t.status;
SELECT DISTINCT ctl.try(format('SELECT orderflow.send_task_success(%L, %L)', token, '{}')) FROM ctl.tokens;
SELECT count(*) FROM orderflow.get_activity_task('ctl_act', 'w', '0.2 s');
-- and nothing runs any more
SELECT pg_sleep(0.5);
SELECT count(*) AS events_after_stop FROM orderflow.execution_history AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id
 WHERE e.name LIKE 'stop-%' AND h.event_id > (SELECT max(event_id) FROM orderflow.execution_history
                                                WHERE execution_id = e.id AND type = 'ExecutionAborted');
-- stopping twice
SELECT regexp_replace(ctl.try(format('SELECT orderflow.stop_execution(%L)', ctl.id('stop-wait'))),
                      '[0-9a-f-]{36}', '<id>');

--
-- 2. redrive_execution: fix the task function, redrive, SUCCEEDED
--
CREATE FUNCTION ctl.charge(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('charged', (input ->> 'amount')::numeric / 0);
END
$$;
SELECT orderflow.create_state_machine('ctl_redrive', $j$
{"StartAt": "Reserve", "States": {
  "Reserve": {"Type": "Pass", "Result": "reserved", "ResultPath": "$.stock", "Next": "Charge"},
  "Charge": {"Type": "Task", "Resource": "ctl.charge", "ResultPath": "$.payment", "Next": "Ship"},
  "Ship": {"Type": "Pass", "Result": "shipped", "ResultPath": "$.shipping", "End": true}}}
$j$);
SELECT orderflow.start_execution('ctl_redrive', '{"amount": 10}', 'redrive-1') IS NOT NULL AS started;
SELECT * FROM ctl.result('redrive-1');
-- only failed, timed-out and aborted executions can be redriven
SELECT regexp_replace(ctl.try(format('SELECT orderflow.redrive_execution(%L)', ctl.id('ctl-nope'))),
                      '[0-9a-f-]{36}', '<id>');
CREATE OR REPLACE FUNCTION ctl.charge(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    RETURN jsonb_build_object('charged', (input ->> 'amount')::numeric);
END
$$;
SELECT orderflow.redrive_execution(ctl.id('redrive-1'));
SELECT * FROM ctl.result('redrive-1');
SELECT redrive_count, redriven_at IS NOT NULL AS redriven FROM orderflow.executions WHERE id = ctl.id('redrive-1');
-- the history is kept: the failed attempt, then the redrive from Charge
SELECT * FROM ctl.history('redrive-1');
SELECT regexp_replace(ctl.try(format('SELECT orderflow.redrive_execution(%L)', ctl.id('redrive-1'))),
                      '[0-9a-f-]{36}', '<id>');
-- another role cannot redrive it
CREATE ROLE regress_ctl_other;
SELECT ctl.id('redrive-1') AS redrive_id \gset
SET ROLE regress_ctl_other;
SELECT regexp_replace(ctl.try(format('SELECT orderflow.redrive_execution(%L)', :'redrive_id'::text)),
                      '[0-9a-f-]{36}', '<id>');
RESET ROLE;

-- an aborted execution restarts the state it was stopped in: a new token
SELECT orderflow.redrive_execution(ctl.id('stop-callback'));
SELECT ctl.wait_event('stop-callback', 'ExecutionRedriven');
SELECT ctl.wait_event('stop-callback', 'TaskSubmitted', 2);
SELECT orderflow.send_task_success((SELECT token FROM ctl.tokens ORDER BY n DESC LIMIT 1), '{"late": true}');
SELECT * FROM ctl.result('stop-callback');

-- a failed Parallel starts its branches again
CREATE TABLE ctl.stock (sku text, n integer);
CREATE FUNCTION ctl.take_stock(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE left_ integer;
BEGIN
    UPDATE ctl.stock SET n = n - 1 WHERE sku = input ->> 'sku' RETURNING n INTO left_;
    IF left_ IS NULL OR left_ < 0 THEN
        PERFORM orderflow.raise_error('Stock.Empty', input ->> 'sku');
    END IF;
    RETURN jsonb_build_object('sku', input ->> 'sku', 'left', left_);
END
$$;
GRANT ALL ON ctl.stock TO PUBLIC;
INSERT INTO ctl.stock VALUES ('a', 1), ('b', 0);
SELECT orderflow.create_state_machine('ctl_redrive_map', $j$
{"StartAt": "Each", "States": {
  "Each": {"Type": "Map", "ItemsPath": "$.skus", "End": true,
    "ItemProcessor": {"StartAt": "Take", "States": {
      "Take": {"Type": "Task", "Resource": "ctl.take_stock", "End": true}}}}}}
$j$);
SELECT orderflow.start_execution('ctl_redrive_map', '{"skus": [{"sku": "a"}, {"sku": "b"}]}', 'redrive-map')
    IS NOT NULL AS started;
SELECT status, error, cause FROM ctl.result('redrive-map');
UPDATE ctl.stock SET n = 5;
SELECT orderflow.redrive_execution(ctl.id('redrive-map'));
SELECT status, error FROM ctl.result('redrive-map');
-- only b's iteration ran again: a's kept its result and took no stock twice
SELECT status, count(*) FROM orderflow.executions WHERE parent_id = ctl.id('redrive-map')
 GROUP BY status ORDER BY status;

--
-- 3. start_sync_execution: the whole execution in this transaction
--
SELECT orderflow.create_state_machine('ctl_sync', $j$
{"StartAt": "Both", "States": {
  "Both": {"Type": "Parallel", "Next": "Each", "Branches": [
      {"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "ctl.echo", "End": true}}},
      {"StartAt": "B", "States": {"B": {"Type": "Pass", "Result": {"b": 2}, "End": true}}}]},
  "Each": {"Type": "Map", "ItemsPath": "$", "End": true,
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}}}}}
$j$);
SELECT orderflow.start_sync_execution('ctl_sync', '{"a": 1}');
-- with its history, like any execution
SELECT status, (SELECT count(*) FROM orderflow.execution_history WHERE execution_id = e.id) AS events,
       (SELECT count(*) FROM orderflow.executions AS c WHERE c.root_id = e.id) AS children
  FROM orderflow.executions AS e WHERE state_machine = 'ctl_sync' AND parent_id IS NULL;
-- in the caller's transaction: a rollback takes it back
BEGIN;
SELECT orderflow.start_sync_execution('ctl_sync', '{"a": 2}');
ROLLBACK;
SELECT count(*) FROM orderflow.executions WHERE state_machine = 'ctl_sync' AND parent_id IS NULL;
-- a retry's delay is slept in the session
CREATE SEQUENCE ctl.attempts;
GRANT ALL ON ctl.attempts TO PUBLIC;
-- (a failed task's writes roll back; a sequence counts the attempts anyway)
CREATE FUNCTION ctl.second_time(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF nextval('ctl.attempts') < 2 THEN
        PERFORM orderflow.raise_error('Ctl.Busy', 'try again');
    END IF;
    RETURN '"second time lucky"';
END
$$;
SELECT orderflow.create_state_machine('ctl_sync_retry', $j$
{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "ctl.second_time", "End": true,
  "Retry": [{"ErrorEquals": ["Ctl.Busy"], "IntervalSeconds": 1, "MaxAttempts": 2}]}}}
$j$);
SELECT orderflow.start_sync_execution('ctl_sync_retry');
-- a failure raises the ASL error and cause
SELECT orderflow.create_state_machine('ctl_sync_fail', $j$
{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Order.Invalid", "Cause": "no lines"}}}
$j$);
SELECT ctl.try($$SELECT orderflow.start_sync_execution('ctl_sync_fail')$$);
-- definitions that would wait are refused, naming the state
SELECT ctl.try($$SELECT orderflow.start_sync_execution('ctl_waits')$$);
SELECT orderflow.create_state_machine('ctl_sync_act', $j$
{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
  {"StartAt": "Pick", "States": {"Pick": {"Type": "Task", "Resource": "activity:ctl_act", "End": true}}}]}}}
$j$);
SELECT ctl.try($$SELECT orderflow.start_sync_execution('ctl_sync_act')$$);
SELECT ctl.try($$SELECT orderflow.start_sync_execution('ctl_nope')$$);

--
-- 4. list_executions and describe_state_machine
--
SELECT orderflow.create_state_machine('ctl_list', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.start_execution('ctl_list', '{}', 'list-' || i) IS NOT NULL AS started
  FROM generate_series(1, 5) AS i;
SELECT orderflow.wait_for_execution(ctl.id('list-' || i)) FROM generate_series(1, 5) AS i;
SELECT name, status, next_token IS NOT NULL AS more
  FROM orderflow.list_executions('ctl_list', max_results => 2);
SELECT name, status, next_token IS NOT NULL AS more
  FROM orderflow.list_executions('ctl_list', max_results => 2,
       next_token => (SELECT next_token FROM orderflow.list_executions('ctl_list', max_results => 2)
                       WHERE next_token IS NOT NULL));
SELECT name FROM orderflow.list_executions('ctl_list', max_results => 2,
       next_token => (SELECT id::text FROM orderflow.executions WHERE name = 'list-2'));
SELECT name FROM orderflow.list_executions('ctl_waits', status => 'ABORTED') ORDER BY name;
SELECT count(*) FROM orderflow.list_executions('ctl_waits', 'FAILED');
-- top-level executions only
SELECT count(*) FROM orderflow.list_executions('ctl_redrive_map');
SELECT ctl.try($$SELECT * FROM orderflow.list_executions(next_token => 'bogus')$$);
SELECT ctl.try($$SELECT * FROM orderflow.list_executions(status => 'DONE')$$);
SELECT ctl.try($$SELECT * FROM orderflow.list_executions(max_results => 0)$$);
-- row level security: another role lists nothing of ours
SET ROLE regress_ctl_other;
SELECT count(*) FROM orderflow.list_executions();
RESET ROLE;
SELECT name, latest_version, owner = current_user::regrole AS mine, definition -> 'StartAt' AS start_at,
       running, succeeded, failed, timed_out, aborted
  FROM orderflow.describe_state_machine('ctl_waits');
SELECT ctl.try($$SELECT * FROM orderflow.describe_state_machine('ctl_nope')$$);

--
-- 5. retention: finished executions past orderflow.retention go, with
--    their children and history, and their names can be used again
--
SHOW orderflow.retention;
BEGIN;
-- pretend redrive-map finished 100 days ago
UPDATE orderflow.executions SET stopped_at = now() - interval '100 days' WHERE id = ctl.id('redrive-map');
SELECT orderflow.purge_expired();
COMMIT;
SELECT count(*) FROM orderflow.executions WHERE state_machine = 'ctl_redrive_map';
SELECT count(*) FROM orderflow.execution_history AS h
 WHERE NOT EXISTS (SELECT 1 FROM orderflow.executions AS e WHERE e.id = h.execution_id);
SELECT orderflow.start_execution('ctl_redrive_map', '{"skus": []}', 'redrive-map') IS NOT NULL AS name_reused;
SELECT status FROM ctl.result('redrive-map');
-- nothing else is that old
SELECT orderflow.purge_expired(older_than => '1000 days') AS purged;
SET ROLE regress_ctl_other;
SELECT ctl.try($$SELECT orderflow.purge_expired()$$);
RESET ROLE;

-- clean up
SELECT count(orderflow.delete_state_machine(s, force => true)) AS deleted
  FROM unnest(ARRAY['ctl_waits', 'ctl_redrive', 'ctl_redrive_map', 'ctl_sync', 'ctl_sync_retry',
                    'ctl_sync_fail', 'ctl_sync_act', 'ctl_list']) AS s;
SELECT orderflow.delete_activity('ctl_act');
DROP ROLE regress_ctl_other;
DROP SCHEMA ctl CASCADE;
