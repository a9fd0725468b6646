--
-- activities: Task Resources "activity:NAME" or
-- "arn:aws:states:REGION:ACCOUNT:activity:NAME" queue a task that an
-- outside worker takes with get_activity_task() and completes with
-- send_task_success/failure/heartbeat.  The workers advance the
-- executions; get_activity_task long-polls until one has queued the task.
--
CREATE SCHEMA act;
CREATE FUNCTION act.id(name text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE executions.name = id.name $$;
CREATE FUNCTION act.result(name text, OUT status text, OUT output jsonb, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(act.id(name), '60 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(act.id(name)) AS d;
END
$$;
CREATE FUNCTION act.history(name text) RETURNS TABLE (type text, state_name text)
LANGUAGE sql AS $$
    SELECT type, state_name FROM orderflow.execution_history
     WHERE execution_id = act.id(name) ORDER BY event_id
$$;
CREATE FUNCTION act.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
-- take one task: its input, and its token in act.taken
CREATE TABLE act.taken (input jsonb, token text);
CREATE FUNCTION act.take(activity text, worker text, wait interval DEFAULT '30 s') RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
    SELECT * INTO r FROM orderflow.get_activity_task(activity, worker, wait);
    IF r.task_token IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO act.taken VALUES (r.input, r.task_token);
    RETURN r.input;
END
$$;
CREATE FUNCTION act.token(input jsonb) RETURNS text
LANGUAGE sql AS $$ SELECT token FROM act.taken WHERE taken.input = token.input $$;

-- activities: create (idempotent for its owner), names, delete
SELECT orderflow.create_activity('pick');
SELECT orderflow.create_activity('pick');
SELECT orderflow.create_activity('pack');
SELECT name, owner = current_user::regrole AS mine FROM orderflow.activities ORDER BY name;
SELECT act.try($$SELECT orderflow.create_activity('')$$);
SELECT act.try($$SELECT orderflow.create_activity('a:b')$$);
SELECT act.try($$SELECT orderflow.delete_activity('nope')$$);

-- the activity must exist when the definition is stored
SELECT code, location, message FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:nope", "End": true}}}');
SELECT code, location FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:nope", "End": true}}}');

-- both forms name an activity
SELECT orderflow.create_state_machine('act_pick', '{"StartAt": "Pick", "States": {
  "Pick": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:pick",
           "Parameters": {"sku.$": "$.sku"}, "ResultPath": "$.picked", "Next": "Pack"},
  "Pack": {"Type": "Task", "Resource": "activity:pack", "InputPath": "$.picked",
           "Catch": [{"ErrorEquals": ["Pack.NoBox"], "ResultPath": "$.error", "Next": "Manual"}],
           "End": true},
  "Manual": {"Type": "Pass", "Result": "manual packing", "End": true}}}');

-- nothing queued: no row after the wait
SELECT count(*) FROM orderflow.get_activity_task('pick', 'w1', '0.2 s');

-- tasks go to workers oldest first, each once
SELECT orderflow.start_execution('act_pick', '{"sku": "A-1"}', 'order-1') IS NOT NULL AS started;
SELECT act.take('pick', 'picker-1');
SELECT orderflow.start_execution('act_pick', '{"sku": "B-2"}', 'order-2') IS NOT NULL AS started;
SELECT act.take('pick', 'picker-2');
SELECT status, worker_name, activity FROM orderflow.task_tokens WHERE activity = 'pick' ORDER BY created_at;
SELECT count(*) FROM orderflow.get_activity_task('pick', 'w1', '0.2 s');
-- a worker of pick cannot see pack's tasks
SELECT orderflow.send_task_success(act.token('{"sku": "A-1"}'), '{"bin": 7}');
SELECT act.take('pack', 'packer-1');
SELECT orderflow.send_task_success(act.token('{"bin": 7}'), '{"box": "S"}');
SELECT * FROM act.result('order-1');
SELECT * FROM act.history('order-1');
-- failure, caught
SELECT orderflow.send_task_success(act.token('{"sku": "B-2"}'), '{"bin": 9}');
SELECT act.take('pack', 'packer-1');
SELECT orderflow.send_task_failure(act.token('{"bin": 9}'), 'Pack.NoBox', 'out of boxes');
SELECT * FROM act.result('order-2');
-- used tokens
SELECT act.try(format('SELECT orderflow.send_task_success(%L, %L)', act.token('{"sku": "A-1"}'), '{}'));

-- HeartbeatSeconds counts from the moment a worker took the task;
-- TimeoutSeconds from when it was queued
SELECT orderflow.create_state_machine('act_beat', '{"StartAt": "Pick", "States": {
  "Pick": {"Type": "Task", "Resource": "activity:pick", "HeartbeatSeconds": 1,
           "Catch": [{"ErrorEquals": ["States.HeartbeatTimeout"], "ResultPath": "$.error", "Next": "Lost"}],
           "End": true},
  "Lost": {"Type": "Pass", "End": true}}}');
SELECT orderflow.start_execution('act_beat', '{"sku": "C-3"}', 'order-3') IS NOT NULL AS started;
SELECT act.take('pick', 'picker-3');
SELECT * FROM act.result('order-3');
SELECT * FROM act.history('order-3');
SELECT act.try(format('SELECT orderflow.send_task_heartbeat(%L)', act.token('{"sku": "C-3"}')));

SELECT orderflow.create_state_machine('act_unclaimed', '{"StartAt": "Pick", "States": {
  "Pick": {"Type": "Task", "Resource": "activity:pack", "TimeoutSeconds": 1, "End": true}}}');
SELECT orderflow.start_execution('act_unclaimed', '{"sku": "D-4"}', 'order-4') IS NOT NULL AS started;
SELECT * FROM act.result('order-4');
-- a timed-out task is not handed out any more
SELECT count(*) FROM orderflow.get_activity_task('pack', 'w1', '0.2 s');

-- heartbeats keep a taken task alive
SELECT orderflow.create_state_machine('act_long', '{"StartAt": "Pick", "States": {
  "Pick": {"Type": "Task", "Resource": "activity:pick", "HeartbeatSeconds": 3, "End": true}}}');
SELECT orderflow.start_execution('act_long', '{"sku": "E-5"}', 'order-5') IS NOT NULL AS started;
SELECT act.take('pick', 'picker-5');
SELECT orderflow.send_task_heartbeat(act.token('{"sku": "E-5"}')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(act.token('{"sku": "E-5"}')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(act.token('{"sku": "E-5"}')), pg_sleep(1);
SELECT orderflow.send_task_heartbeat(act.token('{"sku": "E-5"}')), pg_sleep(1);
SELECT orderflow.send_task_success(act.token('{"sku": "E-5"}'), '"done"');
SELECT * FROM act.result('order-5');

-- roles: only the activity's owner (or a member) takes its tasks, and
-- may complete them even for executions of other roles
CREATE ROLE regress_act_worker;
CREATE ROLE regress_act_stranger;
GRANT USAGE ON SCHEMA act TO regress_act_worker, regress_act_stranger;
GRANT ALL ON act.taken TO regress_act_worker, regress_act_stranger;
SET ROLE regress_act_worker;
SELECT orderflow.create_activity('ship');
RESET ROLE;
SELECT orderflow.create_state_machine('act_ship', '{"StartAt": "Ship", "States": {
  "Ship": {"Type": "Task", "Resource": "activity:ship", "End": true}}}');
SELECT orderflow.start_execution('act_ship', '{"sku": "F-6"}', 'order-6') IS NOT NULL AS started;
SET ROLE regress_act_stranger;
SELECT act.try($$SELECT act.take('ship', 'stranger', '0.1 s')$$);
SELECT act.try($$SELECT orderflow.delete_activity('ship')$$);
SET ROLE regress_act_worker;
SELECT act.take('ship', 'shipper');
SET ROLE regress_act_stranger;
SELECT act.try(format('SELECT orderflow.send_task_success(%L, %L)', act.token('{"sku": "F-6"}'), '{}'));
SET ROLE regress_act_worker;
SELECT orderflow.send_task_success(act.token('{"sku": "F-6"}'), '{"shipped": true}');
RESET ROLE;
SELECT * FROM act.result('order-6');

-- get_activity_task needs READ COMMITTED: it must see new tasks
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT act.try($$SELECT act.take('pick', 'w', '0 s')$$);
COMMIT;
SELECT act.try($$SELECT count(*) FROM orderflow.get_activity_task('nope', 'w', '0 s')$$);

-- clean up
SELECT count(orderflow.delete_state_machine(s, force => true)) AS deleted
  FROM unnest(ARRAY['act_pick', 'act_beat', 'act_unclaimed', 'act_long', 'act_ship']) AS s;
SET ROLE regress_act_worker;
SELECT orderflow.delete_activity('ship');
RESET ROLE;
SELECT orderflow.delete_activity('pick');
SELECT orderflow.delete_activity('pack');
-- deleted activities stay as tombstones (their names stay with their owners)
SELECT name, deleted_at IS NOT NULL AS deleted FROM orderflow.activities ORDER BY name;
-- a superuser frees the names
DELETE FROM orderflow.activities WHERE deleted_at IS NOT NULL;
DROP SCHEMA act CASCADE;
DROP ROLE regress_act_worker;
DROP ROLE regress_act_stranger;
