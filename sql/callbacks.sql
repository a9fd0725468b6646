--
-- callbacks: Task Resources ending in .waitForTaskToken.  The function is
-- called with $$.Task.Token (context object and Parameters), the execution
-- parks until send_task_success/failure, HeartbeatSeconds/TimeoutSeconds
-- apply while it waits, and tokens are single-use, unguessable and only
-- usable by the execution's owner.
--
-- The workers advance the executions; cbt.token() waits for the token the
-- task function stored, cbt.wait() for the execution to end.  No uuids,
-- tokens or timestamps are printed.
--
CREATE SCHEMA cbt;
CREATE TABLE cbt.inbox (n serial, sm text, token text, context_token_matches boolean, payload jsonb);
GRANT USAGE ON SCHEMA cbt TO PUBLIC;
GRANT ALL ON cbt.inbox TO PUBLIC;
GRANT ALL ON SEQUENCE cbt.inbox_n_seq TO PUBLIC;

-- the "outside world": remember the token, as a message to a carrier would
CREATE FUNCTION cbt.request(input jsonb, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cbt.inbox (sm, token, context_token_matches, payload)
    VALUES (context -> 'StateMachine' ->> 'Name', input ->> 'token',
            context -> 'Task' ->> 'Token' = input ->> 'token', input - 'token');
    RETURN jsonb_build_object('queued', true);
END
$$;

CREATE FUNCTION cbt.id(sm text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE state_machine = sm AND parent_id IS NULL $$;
-- the newest token the task of sm handed out, waiting up to 20 s for one beyond `after`
CREATE FUNCTION cbt.token(sm text, after integer DEFAULT 0) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
    FOR i IN 1..400 LOOP
        SELECT token INTO t FROM cbt.inbox AS b WHERE b.sm = token.sm AND b.n > after
         ORDER BY n DESC LIMIT 1;
        IF t IS NOT NULL THEN
            -- and the execution has parked on it (committed with the token)
            RETURN t;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'no token for %', sm;
END
$$;
CREATE FUNCTION cbt.tokens(sm text) RETURNS bigint
LANGUAGE sql AS $$ SELECT count(*) FROM cbt.inbox WHERE inbox.sm = tokens.sm $$;
CREATE FUNCTION cbt.result(sm text, OUT status text, OUT output jsonb, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(cbt.id(sm), '60 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(cbt.id(sm)) AS d;
END
$$;
CREATE FUNCTION cbt.history(sm text) RETURNS TABLE (event_id integer, type text, state_name text)
LANGUAGE sql AS $$
    SELECT event_id, type, state_name FROM orderflow.execution_history
     WHERE execution_id = cbt.id(sm) ORDER BY event_id
$$;
-- wait (up to 20 s) until the execution of sm recorded an event of this type
CREATE FUNCTION cbt.wait_event(sm text, event text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..400 LOOP
        IF EXISTS (SELECT 1 FROM orderflow.execution_history
                    WHERE execution_id = cbt.id(sm) AND type = event) THEN
            RETURN event;
        END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RETURN 'no ' || event;
END
$$;
-- run a statement; 'ok' or its SQLSTATE and message
CREATE FUNCTION cbt.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

-- 1. success: the token reaches the function through Parameters and the
--    context object; the result goes through ResultSelector and ResultPath
SELECT orderflow.create_state_machine('cb_ok', $j$
{"StartAt": "AskCarrier", "States": {
  "AskCarrier": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"},
    "ResultSelector": {"pickup.$": "$.pickup"}, "ResultPath": "$.carrier",
    "Next": "Done"},
  "Done": {"Type": "Succeed"}}}$j$);
SELECT orderflow.start_execution('cb_ok', '{"order": 42}') IS NOT NULL AS started;
SELECT length(cbt.token('cb_ok')) AS token_length;
SELECT context_token_matches, payload FROM cbt.inbox WHERE sm = 'cb_ok';
SELECT status FROM orderflow.executions WHERE id = cbt.id('cb_ok');
SELECT orderflow.send_task_success(cbt.token('cb_ok'), '{"pickup": "tomorrow", "noise": 1}');
SELECT * FROM cbt.result('cb_ok');
SELECT * FROM cbt.history('cb_ok');
-- the token of a finished execution
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', cbt.token('cb_ok'), '{}'));
SELECT status FROM orderflow.task_tokens WHERE execution_id = cbt.id('cb_ok');

-- 2. failure: caught, and not caught
SELECT orderflow.create_state_machine('cb_fail_caught', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"},
    "Catch": [{"ErrorEquals": ["Carrier.Rejected"], "ResultPath": "$.failure", "Next": "Fallback"}],
    "End": true},
  "Fallback": {"Type": "Pass", "Result": "by post", "ResultPath": "$.shipping", "End": true}}}$j$);
SELECT orderflow.start_execution('cb_fail_caught', '{"order": 1}') IS NOT NULL AS started;
SELECT orderflow.send_task_failure(cbt.token('cb_fail_caught'), 'Carrier.Rejected', 'no truck today');
SELECT * FROM cbt.result('cb_fail_caught');
SELECT type, state_name FROM cbt.history('cb_fail_caught') WHERE type IN ('TaskFailed', 'CatchMatched');

SELECT orderflow.create_state_machine('cb_fail', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}$j$);
SELECT orderflow.start_execution('cb_fail', '{}') IS NOT NULL AS started;
-- error and cause default to NULL: the error is then States.TaskFailed
SELECT orderflow.send_task_failure(cbt.token('cb_fail'));
SELECT * FROM cbt.result('cb_fail');

-- 3. tokens: single use, bogus tokens, other roles
SELECT orderflow.create_state_machine('cb_twice', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "Next": "Hold"},
  "Hold": {"Type": "Wait", "Seconds": 3600, "End": true}}}$j$);
SELECT orderflow.start_execution('cb_twice', '{}') IS NOT NULL AS started;
CREATE ROLE regress_cbt_other;
-- another role may not complete it
SET ROLE regress_cbt_other;
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', cbt.token('cb_twice'), '{"by": "other"}'));
RESET ROLE;
SELECT orderflow.send_task_success(cbt.token('cb_twice'), '{"first": true}');
-- wait until the execution processed it (it is in Hold then)
SELECT cbt.wait_event('cb_twice', 'WaitStateEntered');
SELECT status FROM orderflow.executions WHERE id = cbt.id('cb_twice');
-- a second completion, success or failure, changes nothing
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', cbt.token('cb_twice'), '{"second": true}'));
SELECT cbt.try(format('SELECT orderflow.send_task_failure(%L, %L)', cbt.token('cb_twice'), 'X'));
SELECT cbt.try(format('SELECT orderflow.send_task_heartbeat(%L)', cbt.token('cb_twice')));
SELECT type FROM cbt.history('cb_twice') WHERE type LIKE 'Task%' ORDER BY event_id;
-- bogus tokens: malformed, well-formed but unknown, NULL
SELECT cbt.try($$SELECT orderflow.send_task_success('not a token', '{}')$$);
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', repeat('A', 64), '{}'));
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', overlay(cbt.token('cb_twice') placing 'AAAAAAAA' from 40), '{}'));
SELECT cbt.try($$SELECT orderflow.send_task_success(NULL, '{}')$$);
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, NULL)', cbt.token('cb_twice')));
SELECT orderflow.stop_execution(cbt.id('cb_twice'));

-- 4. HeartbeatSeconds: a missed heartbeat is States.HeartbeatTimeout, which
--    Retry retries (a new token) and Catch catches
SELECT orderflow.create_state_machine('cb_heartbeat', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "HeartbeatSeconds": 1,
    "Retry": [{"ErrorEquals": ["States.HeartbeatTimeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
    "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "GaveUp"}],
    "End": true},
  "GaveUp": {"Type": "Pass", "End": true}}}$j$);
SELECT orderflow.start_execution('cb_heartbeat', '{}') IS NOT NULL AS started;
SELECT * FROM cbt.result('cb_heartbeat');
SELECT type, state_name FROM cbt.history('cb_heartbeat');
SELECT cbt.tokens('cb_heartbeat') AS tokens_handed_out;
SELECT status FROM orderflow.task_tokens WHERE execution_id = cbt.id('cb_heartbeat') ORDER BY task_id;
-- the timed-out token is dead
SELECT cbt.try(format('SELECT orderflow.send_task_success(%L, %L)', cbt.token('cb_heartbeat'), '{}'));

-- heartbeats keep a task alive past HeartbeatSeconds
SELECT orderflow.create_state_machine('cb_heartbeat_kept', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "HeartbeatSeconds": 3, "TimeoutSeconds": 60,
    "ResultPath": "$.reply", "End": true}}}$j$);
SELECT orderflow.start_execution('cb_heartbeat_kept', '{}') IS NOT NULL AS started;
SELECT orderflow.send_task_heartbeat(cbt.token('cb_heartbeat_kept')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(cbt.token('cb_heartbeat_kept')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(cbt.token('cb_heartbeat_kept')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(cbt.token('cb_heartbeat_kept')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(cbt.token('cb_heartbeat_kept')), pg_sleep(1);
SELECT orderflow.send_task_success(cbt.token('cb_heartbeat_kept'), '"alive"');
SELECT * FROM cbt.result('cb_heartbeat_kept');

-- TimeoutSeconds: States.Timeout
SELECT orderflow.create_state_machine('cb_timeout', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.request.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "TimeoutSeconds": 1, "End": true}}}$j$);
SELECT orderflow.start_execution('cb_timeout', '{}') IS NOT NULL AS started;
SELECT * FROM cbt.result('cb_timeout');
SELECT type FROM cbt.history('cb_timeout') WHERE type LIKE 'Task%';

-- 5. a task function that fails fails the task at once (nothing parks)
CREATE FUNCTION cbt.refuse(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM orderflow.raise_error('Carrier.Down', 'the carrier API is down'); RETURN NULL; END $$;
SELECT orderflow.create_state_machine('cb_refused', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "cbt.refuse.waitForTaskToken", "End": true}}}$j$);
SELECT orderflow.start_execution('cb_refused', '{}') IS NOT NULL AS started;
SELECT * FROM cbt.result('cb_refused');
SELECT count(*) AS tasks FROM orderflow.task_tokens WHERE execution_id = cbt.id('cb_refused');

-- 6. a registered resource string with the suffix: the base is bound
SELECT orderflow.register_resource('arn:aws:lambda:eu-west-1:123456789012:function:ask', 'cbt.request(jsonb, jsonb)');
SELECT orderflow.create_state_machine('cb_arn', $j$
{"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:ask.waitForTaskToken",
    "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}$j$);
SELECT orderflow.start_execution('cb_arn', '{}') IS NOT NULL AS started;
SELECT orderflow.send_task_success(cbt.token('cb_arn'), '{"via": "arn"}');
SELECT * FROM cbt.result('cb_arn');
-- unknown functions are refused when the definition is stored
SELECT code, location FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "cbt.nope.waitForTaskToken", "End": true}}}');

-- clean up
SELECT count(orderflow.delete_state_machine(s, force => true)) AS deleted
  FROM unnest(ARRAY['cb_ok', 'cb_fail_caught', 'cb_fail', 'cb_twice', 'cb_heartbeat',
                    'cb_heartbeat_kept', 'cb_timeout', 'cb_refused', 'cb_arn']) AS s;
-- there is no unregister function: remove the binding as a superuser
DELETE FROM orderflow.resources WHERE resource LIKE 'arn:aws:lambda:eu-west-1:123456789012:function:ask';
DROP ROLE regress_cbt_other;
DROP SCHEMA cbt CASCADE;
