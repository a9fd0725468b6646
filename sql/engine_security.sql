--
-- engine_security: issue 10, the engine side.  A Map ItemReader is planned,
-- opened and read as the execution's owner (its EXECUTE checked at every
-- Map start); run_pending() runs only the caller's own work; API functions
-- called from inside a task either refuse or write only their own history;
-- Map iterations obey orderflow.max_payload_size and orderflow.max_map_items;
-- task tokens never reach history.  Each block reproduces an attack that
-- worked before the fix.
--
CREATE ROLE regress_es_alice;
CREATE ROLE regress_es_mallory;
CREATE SCHEMA es;
GRANT USAGE ON SCHEMA es TO PUBLIC;
CREATE SCHEMA es_alice AUTHORIZATION regress_es_alice;
CREATE SCHEMA es_mallory AUTHORIZATION regress_es_mallory;

-- wait (up to 30 s) until an execution has a history event of this type
CREATE PROCEDURE es.await_event(id uuid, event_type text)
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 600 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM orderflow.execution_history
                           WHERE execution_id = id AND type = event_type);
        PERFORM pg_sleep(0.05);
        COMMIT;
    END LOOP;
END
$$;
CREATE FUNCTION es.mask(t text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g')
$$;
CREATE FUNCTION es.echo(p jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT p $$;

-- ===================================================================
-- 1. The ItemReader runs as the execution's owner, never as superuser
-- ===================================================================
-- A LANGUAGE sql STABLE set-returning function is inlined into the reader's
-- query when it is planned: planned as the worker's superuser, its body ran
-- as superuser and made mallory one.
SET ROLE regress_es_mallory;
CREATE FUNCTION es_mallory.promote(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true
              WHERE rolname = 'regress_es_mallory' RETURNING rolname)
  SELECT pg_catalog.to_jsonb(u) FROM u $$;
SELECT orderflow.create_state_machine('es_promote', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "es_mallory.promote"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
SELECT orderflow.start_execution('es_promote') AS promote_id \gset
SELECT orderflow.wait_for_execution(:'promote_id', '30 s');
SELECT status, error, cause FROM orderflow.executions WHERE id = :'promote_id';
-- synchronously, in this session (the engine runs as the extension owner)
SELECT orderflow.start_sync_execution('es_promote');
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_es_mallory';

-- EXECUTE on the reader is checked for the owner at every Map start
SET ROLE regress_es_alice;
CREATE FUNCTION es_alice.lines(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.to_jsonb(i) FROM pg_catalog.generate_series(1, 3) AS i $$;
SELECT orderflow.create_state_machine('es_alice_lines', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "es_alice.lines"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
SELECT orderflow.start_execution('es_alice_lines') AS lines_id \gset
SELECT orderflow.wait_for_execution(:'lines_id', '30 s');
SELECT status, output FROM orderflow.executions WHERE id = :'lines_id';
REVOKE EXECUTE ON FUNCTION es_alice.lines(jsonb) FROM PUBLIC, regress_es_alice;
SELECT orderflow.start_execution('es_alice_lines') AS lines_id \gset
SELECT orderflow.wait_for_execution(:'lines_id', '30 s');
SELECT status, error, cause FROM orderflow.executions WHERE id = :'lines_id';
RESET ROLE;

-- ===================================================================
-- 2. run_pending() runs only the caller's own work
-- ===================================================================
-- alice's task reports the settings it runs with
CREATE FUNCTION es_alice.settings(p jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT pg_catalog.jsonb_build_object(
    'tenant', pg_catalog.current_setting('app.tenant', true),
    'mallorys_timezone', pg_catalog.current_setting('TimeZone') = 'Pacific/Chatham',
    'mallorys_datestyle', pg_catalog.current_setting('DateStyle') = 'SQL, DMY') $$;
ALTER FUNCTION es_alice.settings(jsonb) OWNER TO regress_es_alice;
SET ROLE regress_es_alice;
SELECT orderflow.create_state_machine('es_settings', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "es_alice.settings", "End": true}}}');
RESET ROLE;
-- alice's execution is due (uncommitted: the workers cannot take it); mallory,
-- with settings of her own, runs run_pending() in the same transaction
BEGIN;
SET LOCAL ROLE regress_es_alice;
SELECT orderflow.start_execution('es_settings') AS settings_id \gset
SET LOCAL ROLE regress_es_mallory;
SET LOCAL app.tenant = 'mallory';
SET LOCAL TimeZone = 'Pacific/Chatham';
SET LOCAL DateStyle = 'SQL, DMY';
SELECT orderflow.run_pending() AS mallory_steps;
RESET ROLE;
SELECT status, due_at IS NOT NULL AS still_due, next_event_id FROM orderflow.executions
 WHERE id = :'settings_id';
COMMIT;
-- the workers run it, with their own settings
SELECT orderflow.wait_for_execution(:'settings_id', '30 s');
SELECT status, output FROM orderflow.executions WHERE id = :'settings_id';

-- alice's task writes an unqualified table through its own search_path, in
-- which pg_temp comes first: a temporary table of mallory's, granted to
-- alice, with a trigger, ran mallory's code as alice when mallory's
-- run_pending() advanced alice's execution
SET ROLE regress_es_alice;
CREATE TABLE es_alice.audit (note text);
CREATE TABLE es_alice.secrets (secret text);
CREATE FUNCTION es_alice.note(p jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = es_alice AS $$
BEGIN
    INSERT INTO audit VALUES ('noted');
    RETURN p;
END
$$;
SELECT orderflow.create_state_machine('es_note', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "es_alice.note", "End": true}}}');
SET ROLE regress_es_mallory;
CREATE FUNCTION es_mallory.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'GRANT SELECT ON es_alice.secrets TO regress_es_mallory';
    RETURN NULL;
END
$$;
GRANT USAGE ON SCHEMA es_mallory TO regress_es_alice;
RESET ROLE;
BEGIN;
SET LOCAL ROLE regress_es_alice;
SELECT orderflow.start_execution('es_note') AS note_id \gset
SET LOCAL ROLE regress_es_mallory;
CREATE TEMP TABLE audit (note text);
CREATE TRIGGER steal AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION es_mallory.steal();
GRANT ALL ON audit TO regress_es_alice;
SELECT orderflow.run_pending() AS mallory_steps;
RESET ROLE;
SELECT has_table_privilege('regress_es_mallory', 'es_alice.secrets', 'SELECT') AS mallory_reads_secrets,
       (SELECT count(*) FROM audit) AS rows_in_mallorys_table;
ROLLBACK;

-- ===================================================================
-- 3. Calling orderflow from inside a task
-- ===================================================================
-- A task that starts an execution and then fails must not take the history
-- of the other executions of its batch with it.  Both run in one batch here
-- (run_pending in the transaction that started them).
CREATE FUNCTION es.start_then_fail(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.start_execution('es_plain', '{"from": "a task"}');
    RAISE EXCEPTION 'failing after start_execution';
END
$$;
SELECT orderflow.create_state_machine('es_plain', '{"StartAt": "A", "States": {
  "A": {"Type": "Pass", "Next": "B"},
  "B": {"Type": "Task", "Resource": "es.echo", "Next": "C"},
  "C": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine('es_start_fail', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "es.start_then_fail", "End": true}}}');
BEGIN;
SELECT orderflow.start_execution('es_plain', '{"n": 1}') AS plain_id \gset
SELECT orderflow.start_execution('es_start_fail') AS start_fail_id \gset
SELECT orderflow.run_pending() > 0 AS ran;
COMMIT;
SELECT e.status, count(h.*) AS events, e.next_event_id - 1 AS last_event_id,
       array_agg(h.event_id ORDER BY h.event_id) = array(SELECT generate_series(1, count(h.*)::int)) AS contiguous,
       string_agg(h.type, ', ' ORDER BY h.event_id) AS types
  FROM orderflow.executions e JOIN orderflow.execution_history h ON h.execution_id = e.id
 WHERE e.id = :'plain_id' GROUP BY e.status, e.next_event_id;
SELECT status, error, cause FROM orderflow.executions WHERE id = :'start_fail_id';
-- the execution the failed task started was rolled back with it
SELECT count(*) AS started_by_the_failed_task FROM orderflow.executions
 WHERE state_machine = 'es_plain' AND input @> '{"from": "a task"}';

-- A task that calls what would advance, wait for or claim work in its own
-- batch is refused; stopping its own execution (or aborting it through
-- delete_state_machine) is refused; stopping another execution works.
CREATE FUNCTION es.reenter(p jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    r jsonb := '{}';
    hint text;
    calls text[] := ARRAY[
      'SELECT orderflow.run_pending()',
      'SELECT orderflow.start_sync_execution(''es_plain'')',
      format('SELECT orderflow.wait_for_execution(%L, ''1 s'')', p->>'waiting'),
      'SELECT * FROM orderflow.get_activity_task(''es_none'', ''w'', ''0 s'')',
      format('SELECT orderflow.stop_execution(%L)', p->>'self'),
      'SELECT orderflow.delete_state_machine(''es_reenter'', true)',
      format('SELECT orderflow.stop_execution(%L, ''Es.Stopped'')', p->>'waiting')];
BEGIN
    FOR i IN 1 .. array_length(calls, 1) LOOP
        BEGIN
            EXECUTE calls[i];
            r := r || jsonb_build_object(i::text, 'ok');
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS hint = PG_EXCEPTION_HINT;
            r := r || jsonb_build_object(i::text, SQLSTATE || ': ' || es.mask(SQLERRM)
                     || CASE WHEN i = 1 THEN ' (HINT: ' || hint || ')' ELSE '' END);
        END;
    END LOOP;
    RETURN r;
END
$$;
SELECT orderflow.create_state_machine('es_wait', '{"StartAt": "W", "States": {
  "W": {"Type": "Wait", "Seconds": 3600, "End": true}}}');
SELECT orderflow.create_state_machine('es_reenter', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "es.reenter",
        "Parameters": {"self.$": "$$.Execution.Id", "waiting.$": "$.waiting"}, "End": true}}}');
SELECT orderflow.start_execution('es_wait') AS wait_id \gset
CALL es.await_event(:'wait_id', 'WaitStateEntered');
BEGIN;
SELECT orderflow.start_execution('es_reenter', jsonb_build_object('waiting', :'wait_id'::text)) AS reenter_id \gset
SELECT orderflow.start_execution('es_plain', '{"n": 2}') AS plain2_id \gset
COMMIT;
SELECT orderflow.wait_for_execution(:'reenter_id', '30 s'), orderflow.wait_for_execution(:'plain2_id', '30 s');
SELECT key AS call, value AS outcome
  FROM orderflow.executions, jsonb_each_text(output) WHERE id = :'reenter_id' ORDER BY key::int;
SELECT status, error FROM orderflow.executions WHERE id = :'wait_id';
SELECT string_agg(type, ', ' ORDER BY event_id) AS types FROM orderflow.execution_history
 WHERE execution_id = :'wait_id';
SELECT status, output FROM orderflow.executions WHERE id = :'plain2_id';

-- ===================================================================
-- 4. Map limits: orderflow.max_map_items, orderflow.max_payload_size
-- ===================================================================
SELECT orderflow.create_state_machine('es_map_array', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemsPath": "$.items",
  "ItemSelector": {"v.$": "$$.Map.Item.Value", "pad.$": "States.ArrayRange(1, $$.Map.Item.Value, 1)"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": "$.v", "End": true}}},
  "End": true}}}');
-- rows 7 and later raise: a reader is read up to max_map_items + 1 rows only
CREATE FUNCTION es.count_to(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.to_jsonb(i) FROM pg_catalog.generate_series(1, (p->>'n')::int) AS i
   WHERE CASE WHEN i > 6 THEN 1 / (i - i) = 1 ELSE true END $$;
SELECT orderflow.create_state_machine('es_map_reader', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "es.count_to", "Parameters": {"n.$": "$.n"}},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
CREATE FUNCTION es.big_items(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT v FROM (VALUES (1, '1'::jsonb), (2, '2'), (3, pg_catalog.to_jsonb(pg_catalog.repeat('x', 3000))), (4, '4')) AS t(i, v)
   ORDER BY i $$;
SELECT orderflow.create_state_machine('es_map_big_reader', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "es.big_items"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
SET orderflow.max_map_items = 5;
SELECT orderflow.start_sync_execution('es_map_array', '{"items": [1, 2, 3, 4, 5]}');
SELECT orderflow.start_sync_execution('es_map_array', '{"items": [1, 2, 3, 4, 5, 6]}');
SELECT orderflow.start_sync_execution('es_map_reader', '{"n": 5}');
SELECT orderflow.start_sync_execution('es_map_reader', '{"n": 100}');
RESET orderflow.max_map_items;
SELECT orderflow.start_sync_execution('es_map_reader', '{"n": 100}');
-- each iteration's input is checked as it is made; the cause names the
-- item, and no iteration of the failed Map is left behind (run here, in a
-- transaction with the limit lowered)
BEGIN;
SET LOCAL orderflow.max_payload_size = '1kB';
-- (item 2 comes from a reader: an item from the input or a template could
-- not outgrow the limit, both are bounded before the iteration is made)
SELECT orderflow.start_execution('es_map_big_reader') AS big_id \gset
SELECT orderflow.run_pending() > 0 AS ran;
SELECT status, error, cause,
       (SELECT count(*) FROM orderflow.executions c WHERE c.parent_id = e.id) AS iterations
  FROM orderflow.executions e WHERE id = :'big_id';
COMMIT;
-- the iterations' results are added up as they are read back: ten results
-- of 600 bytes each are over 1 kB, and the Map fails before it converts them
SELECT orderflow.create_state_machine('es_map_results', pg_catalog.jsonb_build_object(
  'StartAt', 'M', 'States', pg_catalog.jsonb_build_object('M', pg_catalog.jsonb_build_object(
    'Type', 'Map', 'ItemsPath', '$.items', 'End', true,
    'ItemProcessor', pg_catalog.jsonb_build_object('StartAt', 'P', 'States', pg_catalog.jsonb_build_object(
      'P', pg_catalog.jsonb_build_object('Type', 'Pass', 'Result', pg_catalog.repeat('r', 600), 'End', true)))))));
BEGIN;
SET LOCAL orderflow.max_payload_size = '1kB';
SELECT orderflow.start_execution('es_map_results', '{"items": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}') AS results_id \gset
SELECT orderflow.run_pending() > 0 AS ran;
SELECT status, error, cause FROM orderflow.executions WHERE id = :'results_id';
SELECT type FROM orderflow.execution_history WHERE execution_id = :'results_id'
 ORDER BY event_id DESC LIMIT 3;
COMMIT;

-- ===================================================================
-- 5. Task tokens never reach history
-- ===================================================================
CREATE TABLE es.tokens (token text);
CREATE FUNCTION es.keep_token(p jsonb) RETURNS jsonb LANGUAGE sql AS $$
  INSERT INTO es.tokens VALUES (p->>'token') RETURNING jsonb_build_object('echo', token) $$;
SELECT orderflow.create_state_machine('es_token', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "es.keep_token.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token", "note.$": "States.Format(''token={}'', $$.Task.Token)",
                       "list.$": "States.Array($$.Task.Token, 7)", "n": 1},
        "End": true}}}');
SELECT orderflow.start_execution('es_token') AS token_id \gset
CALL es.await_event(:'token_id', 'TaskSubmitted');
SELECT orderflow.send_task_success(token, '{"ok": true}') FROM es.tokens;
SELECT orderflow.wait_for_execution(:'token_id', '30 s');
SELECT type, details FROM orderflow.execution_history
 WHERE execution_id = :'token_id' AND type IN ('TaskScheduled', 'TaskSubmitted') ORDER BY event_id;
SELECT count(*) AS events_with_the_token FROM orderflow.execution_history h, es.tokens t
 WHERE h.execution_id = :'token_id' AND strpos(h.details::text, t.token) > 0;
