--
-- security: tasks run as the role that started the execution (never as the
-- workers' superuser), with a pinned search_path; creating a definition
-- needs EXECUTE on its task functions; a Resource is never SQL text; roles
-- see and stop only their own executions (row level security); the tables
-- cannot be written directly.
--
CREATE ROLE regress_of_alice;
CREATE ROLE regress_of_bob;
CREATE ROLE regress_of_carol IN ROLE regress_of_alice;   -- a member of alice

CREATE SCHEMA sec;
GRANT USAGE ON SCHEMA sec TO PUBLIC;

CREATE PROCEDURE sec.run(sm text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    PERFORM set_config('sec.last', id::text, false);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;
-- run a statement, report its error with any uuid masked
CREATE FUNCTION sec.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;

-- the SQLSTATE a statement raises, or 'ok'
CREATE FUNCTION sec.sqlstate(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END
$$;

-- data: a table only the superuser may read, one everybody may read
CREATE TABLE sec.secret (v text);
INSERT INTO sec.secret VALUES ('top secret');
CREATE TABLE sec.open_data (v text);
INSERT INTO sec.open_data VALUES ('for everyone');
GRANT SELECT ON sec.open_data TO PUBLIC;
CREATE TABLE sec.lookup (v text);
INSERT INTO sec.lookup VALUES ('found through search_path');
GRANT SELECT ON sec.lookup TO PUBLIC;

-- task functions (EXECUTE is granted to PUBLIC by default)
CREATE FUNCTION sec.read_secret(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('v', (SELECT v FROM sec.secret)) $$;
CREATE FUNCTION sec.read_open(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('v', (SELECT v FROM sec.open_data)) $$;
CREATE FUNCTION sec.whoami(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('current_user', current_user,
                                'search_path', current_setting('search_path')) $$;
-- uses an unqualified table name: only works if search_path includes sec
CREATE FUNCTION sec.unqualified(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN RETURN jsonb_build_object('v', (SELECT v FROM lookup)); END $$;
-- the same with its own search_path
CREATE FUNCTION sec.own_path(input jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = sec
AS $$ BEGIN RETURN jsonb_build_object('v', (SELECT v FROM lookup)); END $$;
-- tries to get the workers' identity back
CREATE FUNCTION sec.escape(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN RESET ROLE; RETURN jsonb_build_object('v', (SELECT v FROM sec.secret)); END $$;
-- a SECURITY DEFINER task runs as its owner, like any SQL call
CREATE FUNCTION sec.definer_secret(input jsonb) RETURNS jsonb LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog
AS $$ SELECT jsonb_build_object('v', (SELECT v FROM sec.secret)) $$;
-- a function not everybody may execute
CREATE FUNCTION sec.restricted(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT '"restricted ran"'::jsonb $$;
REVOKE EXECUTE ON FUNCTION sec.restricted(jsonb) FROM PUBLIC;
-- a helper an attacker could shadow if tasks used the caller's search_path
-- alice's own schema
CREATE SCHEMA sec_alice AUTHORIZATION regress_of_alice;
GRANT USAGE ON SCHEMA sec_alice TO PUBLIC;
-- a schema alice may not even look into
CREATE SCHEMA sec_hidden;
CREATE FUNCTION sec_hidden.fn(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION public.sec_helper() RETURNS text LANGUAGE sql AS $$ SELECT 'public helper' $$;
CREATE FUNCTION sec.calls_helper(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN RETURN to_jsonb(sec_helper()); END $$;

\set SHOW_CONTEXT never

--
-- Tasks run as the role that started the execution
--
SELECT orderflow.create_state_machine('sec_read_secret',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.read_secret", "End": true}}}');
SELECT orderflow.create_state_machine('sec_read_open',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.read_open", "End": true}}}');
SELECT orderflow.create_state_machine('sec_whoami',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.whoami", "End": true}}}');
-- everybody may start them (sql/privileges.sql tests the START privilege)
SELECT orderflow.grant_state_machine(s, 'START', 'PUBLIC')
  FROM unnest(ARRAY['sec_read_secret', 'sec_read_open', 'sec_whoami']) AS s;
-- the superuser may read the secret
CALL sec.run('sec_read_secret');
SET ROLE regress_of_alice;
-- alice may not, although the workers connect as a superuser
CALL sec.run('sec_read_secret');
CALL sec.run('sec_read_open');
SET search_path = sec, public;
CALL sec.run('sec_whoami');
RESET search_path;
-- a task cannot take the workers' identity back
SELECT orderflow.create_state_machine('sec_escape',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.escape", "End": true}}}');
CALL sec.run('sec_escape');
-- a SECURITY DEFINER function is the way to hand out a right
SELECT orderflow.create_state_machine('sec_definer',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.definer_secret", "End": true}}}');
CALL sec.run('sec_definer');
RESET ROLE;

--
-- The search_path of tasks is pinned (orderflow.task_search_path,
-- pg_catalog, pg_temp), whatever the starting session uses
--
SET search_path = sec, public;
SELECT orderflow.create_state_machine('sec_unqualified',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.unqualified", "End": true}}}');
SELECT orderflow.create_state_machine('sec_own_path',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.own_path", "End": true}}}');
SELECT orderflow.create_state_machine('sec_calls_helper',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.calls_helper", "End": true}}}');
CALL sec.run('sec_unqualified');
CALL sec.run('sec_own_path');
CALL sec.run('sec_calls_helper');
RESET search_path;
SHOW orderflow.task_search_path;

--
-- Creating a definition needs EXECUTE on its task functions
--
SET ROLE regress_of_alice;
SELECT orderflow.create_state_machine('sec_restricted',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.restricted", "End": true}}}');
SELECT code, location, message FROM orderflow.validate_definition(
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.restricted", "End": true}}}');
-- a function in a schema without USAGE is a problem of the definition:
-- validate_definition() reports it (it never raises for a bad definition)
-- and create_state_machine() refuses the definition
SELECT severity, code, location FROM orderflow.validate_definition(
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec_hidden.fn", "End": true}}}');
SELECT sec.sqlstate($$SELECT orderflow.create_state_machine('sec_hidden',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec_hidden.fn", "End": true}}}')$$) <> 'ok' AS refused;
-- nor can alice bind a resource to it
SELECT orderflow.register_resource('arn:restricted', 'sec.restricted(jsonb)');
\echo :LAST_ERROR_SQLSTATE
RESET ROLE;
GRANT EXECUTE ON FUNCTION sec.restricted(jsonb) TO regress_of_alice;
SET ROLE regress_of_alice;
SELECT orderflow.create_state_machine('sec_restricted',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.restricted", "End": true}}}');
CALL sec.run('sec_restricted');
SELECT orderflow.register_resource('arn:restricted', 'sec.restricted(jsonb)');
-- bob, granted START on alice's state machine, starts it: its task runs as bob
SELECT orderflow.grant_state_machine('sec_restricted', 'START', 'regress_of_bob');
RESET ROLE;
SET ROLE regress_of_bob;
CALL sec.run('sec_restricted');
RESET ROLE;
-- the privilege is checked again at every run: revoked, the task fails
REVOKE EXECUTE ON FUNCTION sec.restricted(jsonb) FROM regress_of_alice;
SET ROLE regress_of_alice;
CALL sec.run('sec_restricted');
RESET ROLE;

--
-- A Resource is a registered string or a function name, never SQL text
--
SELECT id, code, location FROM (VALUES
    (1, 'sec.read_open(input)'),
    (2, 'sec.read_open; DROP TABLE sec.secret'),
    (3, 'pg_sleep(10)'),
    (4, '"sec"."read_open"'),
    (5, 'sec . read_open'),
    (6, 'pg_catalog.sec.read_open'),
    (7, 'sec.read_open--'),
    (8, 'SELECT sec.read_open(''{}'')'),
    (9, 'sec.read_open /* x */'),
    (10, '.read_open')
  ) AS r (id, resource),
  LATERAL orderflow.validate_definition(jsonb_build_object('StartAt', 'T', 'States',
      jsonb_build_object('T', jsonb_build_object('Type', 'Task', 'Resource', r.resource, 'End', true))))
ORDER BY id;
-- a registration cannot take over a function name: alice binds the string
-- "sec.read_open" to a function of hers; a definition of bob's that names
-- the function sec.read_open must still run sec.read_open (and never
-- alice's code with bob's rights)
SET ROLE regress_of_alice;
CREATE FUNCTION sec_alice.trojan(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('v', 'trojan ran as ' || current_user) $$;
DO $$ BEGIN PERFORM sec.sqlstate($q$SELECT orderflow.register_resource('sec.read_open', 'sec_alice.trojan(jsonb)')$q$); END $$;
RESET ROLE;
SET ROLE regress_of_bob;
SELECT orderflow.create_state_machine('sec_bob_read_open',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "sec.read_open", "End": true}}}');
CALL sec.run('sec_bob_read_open');
RESET ROLE;
-- a registered resource string is only a key: whatever it says, it is not run
SELECT orderflow.register_resource('SELECT 1; DROP TABLE sec.secret', 'sec.read_open(jsonb)');
SELECT orderflow.create_state_machine('sec_sql_looking_resource',
  '{"StartAt": "T", "States": {"T": {"Type": "Task",
    "Resource": "SELECT 1; DROP TABLE sec.secret", "End": true}}}');
CALL sec.run('sec_sql_looking_resource');
SELECT count(*) AS secret_rows FROM sec.secret;

--
-- Roles see only their own executions; they cannot stop or change others'
--
SET ROLE regress_of_alice;
SELECT orderflow.create_state_machine('sec_alice_wait',
  '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 30, "End": true}}}');
SELECT orderflow.start_execution('sec_alice_wait', '{}', 'alice-run') AS alice_run \gset
SELECT state_machine, status, count(*) FROM orderflow.executions
 GROUP BY state_machine, status ORDER BY state_machine, status;
SELECT count(*) > 0 AS has_history FROM orderflow.execution_history;
RESET ROLE;
SET ROLE regress_of_bob;
SELECT state_machine, status, count(*) FROM orderflow.executions
 GROUP BY state_machine, status ORDER BY state_machine, status;
SELECT count(*) FROM orderflow.execution_history WHERE execution_id = :'alice_run';
SELECT sec.try(format('SELECT * FROM orderflow.describe_execution(%L)', :'alice_run'));
SELECT sec.try(format('SELECT orderflow.wait_for_execution(%L, %L)', :'alice_run', '1 s'));
SELECT sec.try(format('SELECT orderflow.stop_execution(%L)', :'alice_run'));
-- nor change or delete alice's state machine; registering the string of
-- her resource makes a registration of bob's own (hers stays hers)
SELECT orderflow.update_state_machine('sec_alice_wait',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.delete_state_machine('sec_alice_wait', force => true);
SELECT orderflow.register_resource('arn:restricted', 'sec.read_open(jsonb)');
SELECT resource, owner, fn FROM orderflow.resources WHERE resource = 'arn:restricted';
-- the tables cannot be written directly
UPDATE orderflow.executions SET status = 'SUCCEEDED';
INSERT INTO orderflow.execution_history (execution_id, event_id, type, ts, owner)
VALUES (:'alice_run', 99, 'Forged', now(), 'regress_of_bob');
DELETE FROM orderflow.state_machines;
RESET ROLE;
-- carol is a member of alice: she sees alice's executions and may stop them
SET ROLE regress_of_carol;
SELECT state_machine, name, status FROM orderflow.executions
 WHERE state_machine = 'sec_alice_wait' ORDER BY name;
SELECT orderflow.stop_execution(:'alice_run', 'Carol.Stopped');
RESET ROLE;
SELECT name, status, error FROM orderflow.executions WHERE id = :'alice_run';
-- the superuser sees everybody's
SELECT CASE WHEN r.rolsuper THEN 'the superuser' ELSE r.rolname::text END AS owner, count(*)
  FROM orderflow.executions AS e JOIN pg_roles AS r ON r.oid = e.owner
 WHERE e.state_machine LIKE 'sec\_%' GROUP BY 1 ORDER BY 1;
