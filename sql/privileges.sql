--
-- privileges: the state machine privilege model of issue 10, attacked by
-- ordinary (NOSUPERUSER) roles.
--   1. START: nobody starts another role's state machine without it; with
--      it the execution runs as the starter; PUBLIC grants; only the owner
--      grants and revokes
--   2. READ / STOP / REDRIVE on the executions of a machine, each granted
--      and revoked; the machine's owner has all of them on every execution
--   3. names are owned: a deleted state machine leaves a tombstone, another
--      role cannot re-create the name to capture its callers, the owner can
--   4. activities: not squatted (create after delete), not bound by a
--      definition of a role without the activity owner's privileges
--   5. resource registrations are per owner: squatting a string does not
--      stop its rightful user, and a definition binds the creator's own
--   6. row level security on definitions, resources, activities
--   7. a refused task token does not name the owning role
--
CREATE ROLE regress_prv_alice NOSUPERUSER;
CREATE ROLE regress_prv_bob NOSUPERUSER;
CREATE ROLE regress_prv_mallory NOSUPERUSER;
-- carol has the privileges of alice and of bob
CREATE ROLE regress_prv_carol NOSUPERUSER IN ROLE regress_prv_alice, regress_prv_bob;

CREATE SCHEMA prv;
GRANT USAGE ON SCHEMA prv TO PUBLIC;
-- run a statement, report its error with any uuid masked
CREATE FUNCTION prv.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;
-- the hint of a statement's error
CREATE FUNCTION prv.hint(sql text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE h text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
    RETURN h;
END
$$;
-- start, commit, wait for the workers, return the output or the error
CREATE PROCEDURE prv.run(sm text, INOUT result text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    BEGIN
        id := orderflow.start_execution(sm);
    EXCEPTION WHEN OTHERS THEN
        result := 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
        RETURN;
    END;
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status || ' ' || coalesce(d.output::text, d.error || ': ' || d.cause)
      INTO result FROM orderflow.describe_execution(id) AS d;
END
$$;
CREATE FUNCTION prv.whoami(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('user', current_user) $$;
-- remembers a callback's token (the "outside world")
CREATE TABLE prv.inbox (token text);
GRANT INSERT ON prv.inbox TO PUBLIC;
CREATE FUNCTION prv.request(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO prv.inbox VALUES (input ->> 'token'); SELECT '{}'::jsonb $$;

CREATE SCHEMA prv_alice AUTHORIZATION regress_prv_alice;
GRANT USAGE ON SCHEMA prv_alice TO PUBLIC;
CREATE SCHEMA prv_mallory AUTHORIZATION regress_prv_mallory;
GRANT USAGE ON SCHEMA prv_mallory TO PUBLIC;

\set SHOW_CONTEXT never
\set wait '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 120, "End": true}}}'
\set whoami '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "prv.whoami", "End": true}}}'

SET ROLE regress_prv_alice;
CREATE TABLE prv_alice.payroll (salary int);
INSERT INTO prv_alice.payroll VALUES (100000);
CREATE FUNCTION prv_alice.hello(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT '"alice''s hello"'::jsonb $$;
SELECT orderflow.create_state_machine('prv_billing', :'whoami');
SELECT orderflow.create_state_machine('prv_wait', :'wait');
RESET ROLE;

SET ROLE regress_prv_mallory;
-- takes alice's payroll if alice ever runs it
CREATE FUNCTION prv_mallory.grab(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    GRANT SELECT ON prv_alice.payroll TO regress_prv_mallory;
    RETURN '"mallory''s code ran"';
END $$;
CREATE FUNCTION prv_mallory.steal(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT '"mallory''s hello"'::jsonb $$;
RESET ROLE;

--
-- 1. START
--
SET ROLE regress_prv_mallory;
SELECT prv.try($$SELECT orderflow.start_execution('prv_billing')$$);
SELECT prv.try($$SELECT orderflow.start_sync_execution('prv_billing')$$);
SELECT prv.hint($$SELECT orderflow.start_execution('prv_billing')$$);
-- only the owner grants and revokes
SELECT prv.try($$SELECT orderflow.grant_state_machine('prv_billing', 'START', 'regress_prv_mallory')$$);
SELECT orderflow.has_state_machine_privilege('prv_billing', 'START') AS mallory_may_start;
RESET ROLE;
-- nothing was inserted
SELECT count(*) AS mallory_executions FROM orderflow.executions
 WHERE owner = 'regress_prv_mallory'::regrole;

SET ROLE regress_prv_alice;
SELECT orderflow.has_state_machine_privilege('prv_billing', 'START') AS owner_may_start;
SELECT orderflow.grant_state_machine('prv_billing', ' start ', 'regress_prv_bob');
-- bad arguments
SELECT prv.try($$SELECT orderflow.grant_state_machine('prv_billing', 'START, DELETE', 'regress_prv_bob')$$);
SELECT prv.try($$SELECT orderflow.grant_state_machine('prv_billing', 'START', 'regress_prv_nobody')$$);
SELECT prv.try($$SELECT orderflow.grant_state_machine('prv_nothing', 'START', 'regress_prv_bob')$$);
SELECT prv.try($$SELECT orderflow.has_state_machine_privilege('prv_billing', 'FLY')$$);
RESET ROLE;
SELECT state_machine, grantee::regrole, privilege, grantor
  FROM orderflow.state_machine_privileges ORDER BY 1, 2, 3;

SET ROLE regress_prv_bob;
SELECT orderflow.has_state_machine_privilege('prv_billing', 'START') AS bob_may_start,
       orderflow.has_state_machine_privilege('prv_billing', 'READ') AS bob_may_read;
-- the task runs as bob, who started it
CALL prv.run('prv_billing');
SELECT orderflow.start_sync_execution('prv_billing');
RESET ROLE;
SET ROLE regress_prv_mallory;
SELECT prv.try($$SELECT orderflow.revoke_state_machine('prv_billing', 'START', 'regress_prv_bob')$$);
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.revoke_state_machine('prv_billing', 'START', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
CALL prv.run('prv_billing');
RESET ROLE;

-- PUBLIC
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_billing', 'START', 'PUBLIC');
RESET ROLE;
SET ROLE regress_prv_mallory;
CALL prv.run('prv_billing');
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.revoke_state_machine('prv_billing', 'ALL', 'public');
RESET ROLE;
SET ROLE regress_prv_mallory;
CALL prv.run('prv_billing');
RESET ROLE;

--
-- 2. READ, STOP, REDRIVE
--
SET ROLE regress_prv_alice;
SELECT orderflow.start_execution('prv_wait', '{}', 'alice-wait') AS alice_wait \gset
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT count(*) AS bob_sees FROM orderflow.executions WHERE state_machine = 'prv_wait';
SELECT prv.try(format('SELECT orderflow.describe_execution(%L)', :'alice_wait'));
SELECT prv.try(format('SELECT orderflow.stop_execution(%L)', :'alice_wait'));
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_wait', 'READ', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT name, status FROM orderflow.executions WHERE state_machine = 'prv_wait';
SELECT status FROM orderflow.describe_execution(:'alice_wait');
SELECT name, status FROM orderflow.list_executions('prv_wait');
SELECT orderflow.wait_for_execution(:'alice_wait', '10 ms');
SELECT type FROM orderflow.execution_history WHERE execution_id = :'alice_wait' AND event_id = 1;
SELECT state_machine, status, executions FROM orderflow.execution_counts WHERE state_machine = 'prv_wait';
-- READ is not STOP (and not START)
SELECT prv.try(format('SELECT orderflow.stop_execution(%L)', :'alice_wait'));
SELECT prv.try($$SELECT orderflow.start_execution('prv_wait')$$);
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_wait', 'STOP', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT orderflow.stop_execution(:'alice_wait', 'Bob.Stopped');
SELECT prv.try(format('SELECT orderflow.redrive_execution(%L)', :'alice_wait'));
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_wait', 'REDRIVE', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT orderflow.redrive_execution(:'alice_wait');
SELECT status, error FROM orderflow.describe_execution(:'alice_wait');
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.revoke_state_machine('prv_wait', 'READ,STOP,REDRIVE', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT count(*) AS bob_sees FROM orderflow.executions WHERE state_machine = 'prv_wait';
SELECT count(*) AS bob_sees_history FROM orderflow.execution_history WHERE execution_id = :'alice_wait';
SELECT prv.try(format('SELECT orderflow.stop_execution(%L)', :'alice_wait'));
SELECT prv.try(format('SELECT orderflow.wait_for_execution(%L, %L)', :'alice_wait', '10 ms'));
RESET ROLE;
-- the machine's owner has every privilege on every execution of it: bob
-- (granted START) starts one, alice sees and stops it
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_wait', 'START', 'regress_prv_bob');
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT orderflow.start_execution('prv_wait', '{}', 'bob-wait') AS bob_wait \gset
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT name, status, owner FROM orderflow.executions WHERE state_machine = 'prv_wait' ORDER BY name;
SELECT orderflow.stop_execution(:'bob_wait', 'Alice.Stopped');
SELECT orderflow.stop_execution(:'alice_wait', 'Alice.Stopped');
RESET ROLE;

--
-- 3. Tombstones: names are owned
--
SET ROLE regress_prv_alice;
SELECT orderflow.create_state_machine('prv_nightly', :'whoami');
SELECT orderflow.grant_state_machine('prv_nightly', 'START', 'regress_prv_bob');
SELECT orderflow.delete_state_machine('prv_nightly');
SELECT prv.try($$SELECT orderflow.start_execution('prv_nightly')$$);
SELECT prv.try($$SELECT * FROM orderflow.describe_state_machine('prv_nightly')$$);
SELECT prv.try($$SELECT orderflow.update_state_machine('prv_nightly', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')$$);
SELECT prv.try($$SELECT orderflow.render_graph('prv_nightly')$$);
SELECT prv.try($$SELECT orderflow.delete_state_machine('prv_nightly')$$);
RESET ROLE;
-- the row stays, without versions or grants
SELECT name, owner, deleted_at IS NOT NULL AS deleted FROM orderflow.state_machines WHERE name = 'prv_nightly';
SELECT count(*) AS versions FROM orderflow.state_machine_versions WHERE state_machine = 'prv_nightly';
SELECT count(*) AS grants FROM orderflow.state_machine_privileges WHERE state_machine = 'prv_nightly';
-- mallory cannot take the name over to capture alice's next start
SET ROLE regress_prv_mallory;
SELECT prv.try($$SELECT orderflow.create_state_machine('prv_nightly',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "prv_mallory.grab", "End": true}}}')$$);
SELECT prv.hint($$SELECT orderflow.create_state_machine('prv_nightly',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "prv_mallory.grab", "End": true}}}')$$);
RESET ROLE;
-- alice may create it again (and carol, who has her privileges, could)
SET ROLE regress_prv_alice;
SELECT prv.try($$SELECT orderflow.create_state_machine('prv_nightly', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "prv.whoami", "End": true}}}')$$);
CALL prv.run('prv_nightly');
SELECT name, latest_version, owner FROM orderflow.describe_state_machine('prv_nightly');
RESET ROLE;
SELECT has_table_privilege('regress_prv_mallory', 'prv_alice.payroll', 'SELECT') AS mallory_reads_payroll;
-- the grants did not come back with the name
SET ROLE regress_prv_bob;
SELECT orderflow.has_state_machine_privilege('prv_nightly', 'START') AS bob_may_start;
RESET ROLE;

--
-- 4. Activities
--
SET ROLE regress_prv_alice;
SELECT orderflow.create_activity('prv_pick');
RESET ROLE;
SET ROLE regress_prv_mallory;
SELECT prv.try($$SELECT orderflow.create_activity('prv_pick')$$);
SELECT prv.try($$SELECT * FROM orderflow.get_activity_task('prv_pick', 'm', '0 s')$$);
SELECT prv.try($$SELECT orderflow.delete_activity('prv_pick')$$);
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.delete_activity('prv_pick');
RESET ROLE;
SELECT name, owner, deleted_at IS NOT NULL AS deleted FROM orderflow.activities WHERE name = 'prv_pick';
-- deleted, the name still is alice's
SET ROLE regress_prv_mallory;
SELECT prv.try($$SELECT orderflow.create_activity('prv_pick')$$);
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT prv.try($$SELECT * FROM orderflow.get_activity_task('prv_pick', 'a', '0 s')$$);
SELECT prv.try($$SELECT orderflow.create_state_machine('prv_alice_pick',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:prv_pick", "End": true}}}')$$);
SELECT orderflow.create_activity('prv_pick');
SELECT orderflow.create_state_machine('prv_alice_pick',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:prv_pick", "End": true}}}');
RESET ROLE;
SELECT name, owner, deleted_at IS NOT NULL AS deleted FROM orderflow.activities WHERE name = 'prv_pick';
-- bob may not bind alice's activity (his executions' inputs would go to
-- her workers and her workers would decide his results)
SET ROLE regress_prv_bob;
SELECT prv.try($$SELECT orderflow.create_state_machine('prv_bob_pick',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:prv_pick", "End": true}}}')$$);
SELECT code, location, message FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:prv_pick", "End": true}}}');
RESET ROLE;
-- carol, who has alice's privileges, may
SET ROLE regress_prv_carol;
SELECT count(*) AS problems FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:prv_pick", "End": true}}}');
RESET ROLE;

--
-- 5. Resource registrations are per owner
--
\set arn 'arn:aws:lambda:us-east-1:123456789012:function:Reserve'
\set arn_def '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:Reserve", "End": true}}}'
-- mallory registers the README's example ARN first
SET ROLE regress_prv_mallory;
SELECT orderflow.register_resource(:'arn', 'prv_mallory.steal(jsonb)');
RESET ROLE;
-- alice registers hers all the same, and her definition binds HER function
SET ROLE regress_prv_alice;
SELECT orderflow.register_resource(:'arn', 'prv_alice.hello(jsonb)');
SELECT orderflow.create_state_machine('prv_arn', :'arn_def');
CALL prv.run('prv_arn');
RESET ROLE;
SELECT (v.resources ->> :'arn') = 'prv_alice.hello(jsonb)' AS binds_alices
  FROM orderflow.state_machine_versions AS v WHERE v.state_machine = 'prv_arn';
SELECT resource, owner, fn FROM orderflow.resources WHERE resource = :'arn' ORDER BY owner::text;
-- bob has no registration of his own and may use neither of theirs
SET ROLE regress_prv_bob;
SELECT code, message FROM orderflow.validate_definition(:'arn_def');
RESET ROLE;
-- carol has the privileges of both alice and bob: two registrations of
-- equal rank are ambiguous until she registers her own
CREATE FUNCTION prv.bob_hello(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '"bob''s hello"'::jsonb $$;
SET ROLE regress_prv_bob;
SELECT orderflow.register_resource(:'arn', 'prv.bob_hello(jsonb)');
RESET ROLE;
SET ROLE regress_prv_carol;
SELECT code, message FROM orderflow.validate_definition(:'arn_def');
SELECT orderflow.register_resource(:'arn', 'prv.whoami(jsonb)');
SELECT count(*) AS problems FROM orderflow.validate_definition(:'arn_def');
SELECT orderflow.unregister_resource(:'arn');
SELECT prv.try(format('SELECT orderflow.unregister_resource(%L)', :'arn'));
RESET ROLE;
-- a superuser's registration serves everybody without one of its own
SELECT orderflow.register_resource('prv:shared', 'prv.whoami(jsonb)');
SET ROLE regress_prv_bob;
SELECT count(*) AS problems FROM orderflow.validate_definition(
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "prv:shared", "End": true}}}');
RESET ROLE;
-- unregistered, alice's definitions no longer find it (never mallory's)
SET ROLE regress_prv_alice;
SELECT orderflow.unregister_resource(:'arn');
SELECT code, message FROM orderflow.validate_definition(:'arn_def');
RESET ROLE;

--
-- 6. Row level security on definitions, resources and activities
--
SET ROLE regress_prv_mallory;
SELECT count(*) AS machines FROM orderflow.state_machines WHERE name LIKE 'prv\_%';
SELECT count(*) AS versions FROM orderflow.state_machine_versions WHERE state_machine LIKE 'prv\_%';
SELECT resource, owner FROM orderflow.resources ORDER BY 1, 2;
SELECT count(*) AS activities FROM orderflow.activities WHERE name LIKE 'prv\_%';
SELECT count(*) AS grants FROM orderflow.state_machine_privileges;
SELECT prv.try($$SELECT * FROM orderflow.describe_state_machine('prv_billing')$$);
SELECT prv.try($$SELECT orderflow.render_graph('prv_billing')$$);
RESET ROLE;
-- bob sees the machines he has a privilege on, and their graph
SET ROLE regress_prv_bob;
SELECT name FROM orderflow.state_machines WHERE name LIKE 'prv\_%' ORDER BY 1;
SELECT state_machine, version FROM orderflow.state_machine_versions WHERE state_machine LIKE 'prv\_%' ORDER BY 1;
SELECT name, latest_version FROM orderflow.describe_state_machine('prv_wait');
SELECT left(orderflow.render_graph('prv_wait'), 12) AS graph;
SELECT state_machine, privilege FROM orderflow.state_machine_privileges ORDER BY 1, 2;
RESET ROLE;
-- alice sees hers
SET ROLE regress_prv_alice;
SELECT name FROM orderflow.state_machines WHERE name LIKE 'prv\_%' ORDER BY 1;
SELECT left(orderflow.render_graph('prv_wait', :'bob_wait'), 12) AS graph;
SELECT name FROM orderflow.activities ORDER BY 1;
SELECT state_machine, grantee::regrole, privilege FROM orderflow.state_machine_privileges ORDER BY 1, 2, 3;
RESET ROLE;

--
-- 7. A refused task token does not name the owning role
--
SET ROLE regress_prv_alice;
SELECT orderflow.create_state_machine('prv_callback', '{"StartAt": "C", "States": {"C": {"Type": "Task",
  "Resource": "prv.request.waitForTaskToken", "Parameters": {"token.$": "$$.Task.Token"}, "End": true}}}');
SELECT orderflow.start_execution('prv_callback') AS cb \gset
RESET ROLE;
DO $$ BEGIN
  FOR i IN 1..400 LOOP
    EXIT WHEN EXISTS (SELECT 1 FROM prv.inbox);
    PERFORM pg_sleep(0.05);
  END LOOP;
END $$;
SELECT token FROM prv.inbox \gset
SELECT set_config('prv.token', :'token', false) IS NOT NULL AS token_set;
SET ROLE regress_prv_mallory;
SELECT prv.try(format('SELECT orderflow.send_task_success(%L, %L)', :'token', '{}'));
SELECT prv.hint(format('SELECT orderflow.send_task_success(%L, %L)', :'token', '{}'));
DO $$
DECLARE m text; d text; h text;
BEGIN
    PERFORM orderflow.send_task_heartbeat(current_setting('prv.token'));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RAISE NOTICE 'names the owner: %', concat(m, d, h) LIKE '%regress_prv_alice%';
END $$;
RESET ROLE;
SET ROLE regress_prv_alice;
SELECT orderflow.send_task_success(:'token', '{"done": true}');
SELECT orderflow.wait_for_execution(:'cb', '30 s');
RESET ROLE;

--
-- Execution names: another role's execution of the same name is neither
-- returned nor compared (its id and its input stay hidden)
--
SET ROLE regress_prv_alice;
SELECT orderflow.grant_state_machine('prv_billing', 'START', 'regress_prv_bob');
SELECT orderflow.start_execution('prv_billing', '{"a": 1}', 'prv-named') IS NOT NULL AS alice_started;
SELECT orderflow.start_execution('prv_billing', '{"a": 1}', 'prv-named') =
       (SELECT id FROM orderflow.executions WHERE name = 'prv-named') AS alice_gets_her_own;
RESET ROLE;
SET ROLE regress_prv_bob;
SELECT prv.try($$SELECT orderflow.start_execution('prv_billing', '{"a": 1}', 'prv-named')$$);
SELECT prv.try($$SELECT orderflow.start_execution('prv_billing', '{"a": 2}', 'prv-named')$$);
RESET ROLE;
SELECT count(*) AS executions_named_prv_named FROM orderflow.executions WHERE name = 'prv-named';

--
-- Clean up (the roles must own nothing)
--
-- (whatever the workers have not finished yet, which depends on the load)
DO $$BEGIN
  PERFORM orderflow.stop_execution(id) FROM orderflow.executions
   WHERE status = 'RUNNING' AND parent_id IS NULL AND state_machine LIKE 'prv\_%';
END$$;
DELETE FROM orderflow.execution_history WHERE execution_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine LIKE 'prv\_%');
DELETE FROM orderflow.task_tokens WHERE execution_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine LIKE 'prv\_%');
DELETE FROM orderflow.executions WHERE state_machine LIKE 'prv\_%';
DELETE FROM orderflow.state_machines WHERE name LIKE 'prv\_%';
DELETE FROM orderflow.resources WHERE resource IN ('prv:shared', :'arn');
DELETE FROM orderflow.activities WHERE name LIKE 'prv\_%';
DROP SCHEMA prv_alice CASCADE;
DROP SCHEMA prv_mallory CASCADE;
DROP SCHEMA prv CASCADE;
DROP ROLE regress_prv_carol;
DROP ROLE regress_prv_alice;
DROP ROLE regress_prv_bob;
DROP ROLE regress_prv_mallory;
