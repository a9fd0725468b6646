--
-- redrive_children: redrive_execution as AWS does it (issue 12).  A
-- redriven Map or Parallel runs again only the iterations and branches that
-- did not succeed, at every level of nesting, and keeps the results of
-- those that did, in order.  Every call of the task is counted, its
-- failures too (a sequence per item: nextval survives the rollback of the
-- failed call), so the test counts calls per item.  Runs whose order is
-- not fixed (all iterations due at once) are checked with invariants that
-- hold whatever the order; nothing printed depends on ids, times or
-- scheduling.
--
CREATE ROLE regress_rdc_alice NOSUPERUSER;
CREATE ROLE regress_rdc_bob NOSUPERUSER;
CREATE ROLE regress_rdc_mallory NOSUPERUSER;
CREATE SCHEMA rdc;
GRANT USAGE ON SCHEMA rdc TO PUBLIC;
-- the items that fail now (by id); the successful calls of rdc.work
CREATE TABLE rdc.broken (id text PRIMARY KEY);
CREATE TABLE rdc.ok_calls (n bigserial, run text, id text, who name);
GRANT ALL ON rdc.broken, rdc.ok_calls TO PUBLIC;
GRANT ALL ON SEQUENCE rdc.ok_calls_n_seq TO PUBLIC;
-- every call of (run, id) counts in the sequence rdc."c:run:id"
CREATE TABLE rdc.items (run text, id text, seq regclass);
GRANT ALL ON rdc.items TO PUBLIC;
CREATE FUNCTION rdc.prepare(run text, VARIADIC ids text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    i text;
BEGIN
    FOREACH i IN ARRAY ids LOOP
        EXECUTE format('CREATE SEQUENCE rdc.%I', 'c:' || run || ':' || i);
        EXECUTE format('GRANT ALL ON SEQUENCE rdc.%I TO PUBLIC', 'c:' || run || ':' || i);
        INSERT INTO rdc.items VALUES (run, i, format('rdc.%I', 'c:' || run || ':' || i)::regclass);
    END LOOP;
END
$$;
CREATE VIEW rdc.calls AS
SELECT i.run, i.id, coalesce(pg_sequence_last_value(i.seq), 0) AS calls,
       (SELECT count(*) FROM rdc.ok_calls AS o WHERE o.run = i.run AND o.id = i.id) AS ok_calls
  FROM rdc.items AS i;
CREATE FUNCTION rdc.work(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval(format('rdc.%I', 'c:' || (input ->> 'run') || ':' || (input ->> 'id')));
    IF EXISTS (SELECT 1 FROM rdc.broken AS b WHERE b.id = input ->> 'id') THEN
        PERFORM orderflow.raise_error('Item.Broken', input ->> 'id');
    END IF;
    INSERT INTO rdc.ok_calls (run, id, who) VALUES (input ->> 'run', input ->> 'id', current_user);
    RETURN jsonb_build_object('id', input ->> 'id', 'v', upper(input ->> 'id'));
END
$$;
CREATE FUNCTION rdc.id(name text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE executions.name = id.name AND parent_id IS NULL $$;
CREATE FUNCTION rdc.result(name text, OUT status text, OUT output jsonb, OUT error text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(rdc.id(name), '60 s');
    SELECT d.status, d.output, d.error INTO status, output, error
      FROM orderflow.describe_execution(rdc.id(name)) AS d;
END
$$;
CREATE FUNCTION rdc.try(stmt text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE stmt;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;
-- calls per item of a run just before its redrive (see rdc.redrive)
CREATE TABLE rdc.before (run text, id text, calls bigint, ok_calls bigint);
GRANT ALL ON rdc.before TO PUBLIC;
-- Redrive once the branches a worker still held have stopped (the redrive
-- refuses until then, 55000), and note each item's calls at that moment:
-- in the same transaction, so before any item runs again.
CREATE FUNCTION rdc.redrive(name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r text;
BEGIN
    FOR i IN 1..400 LOOP
        r := rdc.try(format('SELECT orderflow.redrive_execution(%L)', rdc.id(name)));
        EXIT WHEN r NOT LIKE '55000: % are still stopping';
        PERFORM pg_sleep(0.05);
    END LOOP;
    DELETE FROM rdc.before AS b WHERE b.run = name;
    INSERT INTO rdc.before SELECT c.run, c.id, c.calls, c.ok_calls FROM rdc.calls AS c WHERE c.run = name;
    RETURN r;
END
$$;
-- After a redrive with nothing broken any more: did every item that had
-- succeeded keep its calls, did every other item run exactly once more,
-- and does every item have exactly one successful call?
CREATE FUNCTION rdc.check_rerun(name text, OUT kept_succeeded boolean,
    OUT rerun_once boolean, OUT one_success_each boolean, OUT rerun bigint)
LANGUAGE sql AS $$
    WITH j AS (SELECT a.id, a.calls, a.ok_calls, b.calls AS calls0, b.ok_calls AS ok0
                 FROM rdc.calls AS a JOIN rdc.before AS b ON b.run = name AND b.id = a.id
                WHERE a.run = name)
    SELECT bool_and(calls = calls0) FILTER (WHERE ok0 > 0),
           bool_and(calls = calls0 + 1) FILTER (WHERE ok0 = 0),
           bool_and(ok_calls = 1),
           count(*) FILTER (WHERE calls > calls0)
      FROM j
$$;
-- an iteration or branch: the task (state names are unique in a definition)
CREATE FUNCTION rdc.leaf(state text, id_expr text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('StartAt', state, 'States', jsonb_build_object(
        state, jsonb_build_object('Type', 'Task', 'Resource', 'rdc.work',
                                  'Parameters', jsonb_build_object('id.$', id_expr, 'run.$', '$.run'),
                                  'End', true)))
$$;
\set SHOW_CONTEXT never

--
-- 1. Map, MaxConcurrency 1: the order is fixed, so are the counts
--
SELECT orderflow.create_state_machine('rdc_seq', jsonb_build_object(
    'StartAt', 'Each', 'States', jsonb_build_object(
      'Each', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items', 'MaxConcurrency', 1,
        'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'ItemProcessor', rdc.leaf('Work', '$.id'), 'End', true))));
INSERT INTO rdc.broken VALUES ('s2'), ('s4');
SELECT rdc.prepare('seq', 's0', 's1', 's2', 's3', 's4', 's5');
SELECT orderflow.start_execution('rdc_seq',
    '{"run": "seq", "items": ["s0", "s1", "s2", "s3", "s4", "s5"]}', 'seq') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('seq');
-- s0, s1 succeeded, s2 failed, s3..s5 never started
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'seq' ORDER BY id;
SELECT redrive_count, redrive_date IS NULL AS no_date, redrive_status, redrive_status_reason
  FROM orderflow.describe_execution(rdc.id('seq'));
DELETE FROM rdc.broken WHERE id = 's2';
SELECT rdc.redrive('seq');
-- describe_execution counts it at once (it may be running or failed again)
SELECT redrive_count, redrive_date IS NOT NULL AS dated
  FROM orderflow.describe_execution(rdc.id('seq'));
SELECT status, error FROM rdc.result('seq');
-- s2 again (now fine), s3, then s4 fails again; s0, s1 not called again
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'seq' ORDER BY id;
DELETE FROM rdc.broken;
SELECT rdc.redrive('seq');
SELECT status, output FROM rdc.result('seq');
-- only s4 and s5 ran in the second redrive
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'seq' ORDER BY id;
SELECT * FROM rdc.check_rerun('seq');
-- MaxConcurrency 1 holds across the redrives: one at a time, in item order
SELECT string_agg(id, ',' ORDER BY n) AS successes_in_order FROM rdc.ok_calls WHERE run = 'seq';
-- the output is the one of a run that never failed
SELECT rdc.prepare('seq-clean', 's0', 's1', 's2', 's3', 's4', 's5');
SELECT orderflow.start_execution('rdc_seq',
    '{"run": "seq-clean", "items": ["s0", "s1", "s2", "s3", "s4", "s5"]}', 'seq-clean') IS NOT NULL AS started;
SELECT (SELECT output FROM rdc.result('seq')) = (SELECT output FROM rdc.result('seq-clean')) AS same_output;
-- history: ExecutionRedriven with redriveCount 1 then 2, and the Map run's redrive
SELECT type, state_name, details FROM orderflow.execution_history
 WHERE execution_id = rdc.id('seq') AND type IN ('ExecutionRedriven', 'MapRunRedriven',
       'MapStateEntered', 'MapStateStarted', 'MapStateFailed', 'MapStateSucceeded',
       'ExecutionFailed', 'ExecutionSucceeded')
 ORDER BY event_id;
-- the re-run iterations have their own ExecutionRedriven; s0, s1 none
SELECT c.branch_index, c.redrive_count,
       (SELECT string_agg(h.details ->> 'redriveCount', ',' ORDER BY h.event_id)
          FROM orderflow.execution_history AS h
         WHERE h.execution_id = c.id AND h.type = 'ExecutionRedriven') AS redriven
  FROM orderflow.executions AS c WHERE c.parent_id = rdc.id('seq') ORDER BY c.branch_index;
SELECT redrive_count, redrive_date IS NOT NULL AS dated, redrive_status, redrive_status_reason
  FROM orderflow.describe_execution(rdc.id('seq'));
-- a succeeded execution, a branch: AWS's refusals
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)', rdc.id('seq')));
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)',
    (SELECT id FROM orderflow.executions WHERE parent_id = rdc.id('seq') AND branch_index = 0)));
SELECT redrive_status, redrive_status_reason FROM orderflow.describe_execution(
    (SELECT id FROM orderflow.executions WHERE parent_id = rdc.id('seq') AND branch_index = 0));

--
-- 2. Map, all iterations at once: which ran before the failure is not fixed
--
SELECT orderflow.create_state_machine('rdc_wide', jsonb_build_object(
    'StartAt', 'Each', 'States', jsonb_build_object(
      'Each', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items',
        'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'ItemProcessor', rdc.leaf('Work', '$.id'), 'End', true))));
INSERT INTO rdc.broken VALUES ('w1'), ('w6');
SELECT rdc.prepare('wide', 'w0', 'w1', 'w2', 'w3', 'w4', 'w5', 'w6', 'w7');
SELECT orderflow.start_execution('rdc_wide',
    '{"run": "wide", "items": ["w0", "w1", "w2", "w3", "w4", "w5", "w6", "w7"]}', 'wide') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('wide');
DELETE FROM rdc.broken;
SELECT rdc.redrive('wide');
SELECT status FROM rdc.result('wide');
SELECT kept_succeeded IS NOT FALSE AS kept_succeeded, rerun_once, one_success_each, rerun >= 1 AS some_rerun
  FROM rdc.check_rerun('wide');
SELECT output FROM rdc.result('wide');

--
-- 3. ToleratedFailureCount: over the threshold the Map fails; redriven,
--    a still-broken item is tolerated again and keeps its error in place
--
SELECT orderflow.create_state_machine('rdc_tolerated', jsonb_build_object(
    'StartAt', 'Each', 'States', jsonb_build_object(
      'Each', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items', 'MaxConcurrency', 1,
        'ToleratedFailureCount', 1,
        'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'ItemProcessor', rdc.leaf('Work', '$.id'), 'End', true))));
INSERT INTO rdc.broken VALUES ('t1'), ('t3');
SELECT rdc.prepare('tol', 't0', 't1', 't2', 't3', 't4');
SELECT orderflow.start_execution('rdc_tolerated',
    '{"run": "tol", "items": ["t0", "t1", "t2", "t3", "t4"]}', 'tol') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('tol');
DELETE FROM rdc.broken WHERE id = 't3';
SELECT rdc.redrive('tol');
SELECT status, output FROM rdc.result('tol');
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'tol' ORDER BY id;
SELECT rdc.prepare('tol-clean', 't0', 't1', 't2', 't3', 't4');
SELECT orderflow.start_execution('rdc_tolerated',
    '{"run": "tol-clean", "items": ["t0", "t1", "t2", "t3", "t4"]}', 'tol-clean') IS NOT NULL AS started;
SELECT (SELECT output FROM rdc.result('tol')) = (SELECT output FROM rdc.result('tol-clean')) AS same_output;
DELETE FROM rdc.broken;

--
-- 4. Parallel: only the failed (or aborted) branches run again
--
SELECT orderflow.create_state_machine('rdc_par', jsonb_build_object(
    'StartAt', 'Both', 'States', jsonb_build_object(
      'Both', jsonb_build_object('Type', 'Parallel', 'End', true, 'Branches', jsonb_build_array(
        rdc.leaf('WorkA', 'States.Format(''{}-a'', $.id)'),
        rdc.leaf('WorkB', 'States.Format(''{}-b'', $.id)'),
        rdc.leaf('WorkC', 'States.Format(''{}-c'', $.id)'))))));
INSERT INTO rdc.broken VALUES ('p-b');
SELECT rdc.prepare('par', 'p-a', 'p-b', 'p-c');
SELECT orderflow.start_execution('rdc_par', '{"run": "par", "id": "p"}', 'par') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('par');
DELETE FROM rdc.broken;
SELECT rdc.redrive('par');
SELECT status, output FROM rdc.result('par');
SELECT kept_succeeded IS NOT FALSE AS kept_succeeded, rerun_once, one_success_each, rerun >= 1 AS some_rerun
  FROM rdc.check_rerun('par');
SELECT id, calls - (SELECT b.calls FROM rdc.before AS b WHERE b.run = 'par' AND b.id = c.id) AS rerun_calls
  FROM rdc.calls AS c WHERE run = 'par' AND id = 'p-b';

--
-- 5. Nesting: a Map (MaxConcurrency 1) of groups whose iteration is a
--    Parallel of an inner Map over the group's items and a task on the
--    group: Parallel in Map, Map in Parallel, Map in Map
--
SELECT orderflow.create_state_machine('rdc_nest', jsonb_build_object(
    'StartAt', 'Groups', 'States', jsonb_build_object(
      'Groups', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.groups', 'MaxConcurrency', 1,
        'ItemSelector', jsonb_build_object('g.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'End', true,
        'ItemProcessor', jsonb_build_object('StartAt', 'Split', 'States', jsonb_build_object(
          'Split', jsonb_build_object('Type', 'Parallel', 'End', true, 'Branches', jsonb_build_array(
            jsonb_build_object('StartAt', 'Items', 'States', jsonb_build_object(
              'Items', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.g.items', 'End', true,
                'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
                'ItemProcessor', rdc.leaf('Work', '$.id')))),
            rdc.leaf('WorkGroup', '$.g.name')))))))));
INSERT INTO rdc.broken VALUES ('n1-y'), ('g1');
SELECT rdc.prepare('nest', 'n0-x', 'n0-y', 'g0', 'n1-x', 'n1-y', 'n1-z', 'g1', 'n2-x', 'g2');
SELECT orderflow.start_execution('rdc_nest', $j${"run": "nest", "groups": [
    {"name": "g0", "items": ["n0-x", "n0-y"]},
    {"name": "g1", "items": ["n1-x", "n1-y", "n1-z"]},
    {"name": "g2", "items": ["n2-x"]}]}$j$, 'nest') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('nest');
DELETE FROM rdc.broken;
SELECT rdc.redrive('nest');
SELECT status FROM rdc.result('nest');
SELECT kept_succeeded IS NOT FALSE AS kept_succeeded, rerun_once, one_success_each, rerun >= 3 AS rerun_3
  FROM rdc.check_rerun('nest');
-- g0's items ran once; the failed ones and g2 ran once more
SELECT id, ok_calls FROM rdc.calls WHERE run = 'nest' ORDER BY id;
SELECT rdc.prepare('nest-clean', 'n0-x', 'n0-y', 'g0', 'n1-x', 'n1-y', 'n1-z', 'g1', 'n2-x', 'g2');
SELECT orderflow.start_execution('rdc_nest', $j${"run": "nest-clean", "groups": [
    {"name": "g0", "items": ["n0-x", "n0-y"]},
    {"name": "g1", "items": ["n1-x", "n1-y", "n1-z"]},
    {"name": "g2", "items": ["n2-x"]}]}$j$, 'nest-clean') IS NOT NULL AS started;
SELECT (SELECT output FROM rdc.result('nest')) = (SELECT output FROM rdc.result('nest-clean')) AS same_output;
SELECT output FROM rdc.result('nest');

--
-- 6. A Map that succeeded before the execution failed (in the next
--    state) is not run again at all
--
SELECT orderflow.create_state_machine('rdc_after', jsonb_build_object(
    'StartAt', 'Each', 'States', jsonb_build_object(
      'Each', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items',
        'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'ItemProcessor', rdc.leaf('Work', '$.id'), 'ResultPath', '$.out', 'Next', 'Gate'),
      'Gate', jsonb_build_object('Type', 'Task', 'Resource', 'rdc.work',
        'Parameters', jsonb_build_object('id', 'gate', 'run.$', '$.run'), 'End', true))));
INSERT INTO rdc.broken VALUES ('gate');
SELECT rdc.prepare('after', 'a0', 'a1', 'gate');
SELECT orderflow.start_execution('rdc_after', '{"run": "after", "items": ["a0", "a1"]}', 'after') IS NOT NULL AS started;
SELECT status, error FROM rdc.result('after');
DELETE FROM rdc.broken;
SELECT rdc.redrive('after');
SELECT status, output FROM rdc.result('after');
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'after' ORDER BY id;

--
-- 7. A branch that aborted itself (a worker held it when its parent
--    stopped waiting) keeps the state it was in; one whose state was lost
--    (a failure inside the engine leaves none) starts again at its StartAt
--
SELECT rdc.prepare('lost', 'l0', 'l1', 'l2');
INSERT INTO rdc.broken VALUES ('l1');
SELECT orderflow.start_execution('rdc_seq', '{"run": "lost", "items": ["l0", "l1", "l2"]}', 'lost')
    IS NOT NULL AS started;
SELECT status, error FROM rdc.result('lost');
-- l2 (never started): as if a worker had claimed it as the Map failed
UPDATE orderflow.executions SET status = 'RUNNING', phase = NULL, due_at = now()
 WHERE parent_id = rdc.id('lost') AND branch_index = 2;
SELECT orderflow.wait_for_execution(id, '60 s') AS l2, current_state
  FROM orderflow.executions WHERE parent_id = rdc.id('lost') AND branch_index = 2;
-- l1: as a failure inside the engine leaves it
UPDATE orderflow.executions SET current_state = NULL, state_input = NULL, variables = NULL
 WHERE parent_id = rdc.id('lost') AND branch_index = 1;
DELETE FROM rdc.broken;
SELECT rdc.redrive('lost');
SELECT status, output FROM rdc.result('lost');
SELECT id, calls, ok_calls FROM rdc.calls WHERE run = 'lost' ORDER BY id;

--
-- 8. Roles: a role without REDRIVE gets nothing re-run, not even through a
--    branch's id; a grantee's redrive runs the tasks as the owner
--
SELECT rdc.prepare('alice', 'al0', 'al1', 'al2');
SET ROLE regress_rdc_alice;
SELECT orderflow.create_state_machine('rdc_alice', jsonb_build_object(
    'StartAt', 'Each', 'States', jsonb_build_object(
      'Each', jsonb_build_object('Type', 'Map', 'ItemsPath', '$.items', 'MaxConcurrency', 1,
        'ItemSelector', jsonb_build_object('id.$', '$$.Map.Item.Value', 'run.$', '$.run'),
        'ItemProcessor', rdc.leaf('Work', '$.id'), 'End', true))));
INSERT INTO rdc.broken VALUES ('al1');
SELECT orderflow.start_execution('rdc_alice', '{"run": "alice", "items": ["al0", "al1", "al2"]}', 'alice')
    AS alice_id \gset
RESET ROLE;
SELECT status, error FROM rdc.result('alice');
SELECT id AS alice_child FROM orderflow.executions
 WHERE parent_id = :'alice_id' AND branch_index = 1 \gset
DELETE FROM rdc.broken;
SET ROLE regress_rdc_mallory;
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)', :'alice_id'));
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)', :'alice_child'));
SELECT rdc.try(format('SELECT * FROM orderflow.describe_execution(%L)', :'alice_id'));
RESET ROLE;
-- nothing of alice's was run again or changed
SELECT status, redrive_count FROM orderflow.executions WHERE id = :'alice_id';
SELECT status, redrive_count FROM orderflow.executions WHERE id = :'alice_child';
SELECT id, calls FROM rdc.calls WHERE run = 'alice' ORDER BY id;
-- bob with REDRIVE (and READ) on alice's machine
SET ROLE regress_rdc_alice;
SELECT orderflow.grant_state_machine('rdc_alice', 'REDRIVE,READ', 'regress_rdc_bob');
RESET ROLE;
SET ROLE regress_rdc_bob;
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)', :'alice_child'));
SELECT orderflow.redrive_execution(:'alice_id');
SELECT redrive_count FROM orderflow.describe_execution(:'alice_id');
RESET ROLE;
SELECT status, output FROM rdc.result('alice');
-- every call, the re-run ones too, ran as alice, the owner
SELECT id, who FROM rdc.ok_calls WHERE run = 'alice' ORDER BY n;

-- an execution whose state machine was deleted is refused up front
SELECT orderflow.create_state_machine('rdc_gone', '{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Gone.Fail"}}}');
SELECT orderflow.start_execution('rdc_gone', '{}') AS gone_id \gset
SELECT orderflow.wait_for_execution(:'gone_id', '30 s');
SELECT orderflow.delete_state_machine('rdc_gone');
SELECT rdc.try(format('SELECT orderflow.redrive_execution(%L)', :'gone_id'));
SELECT status, redrive_count FROM orderflow.executions WHERE id = :'gone_id';

--
-- cleanup
--
DELETE FROM orderflow.execution_history WHERE execution_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine LIKE 'rdc\_%');
DELETE FROM orderflow.join_counters WHERE parent_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine LIKE 'rdc\_%');
DELETE FROM orderflow.executions WHERE state_machine LIKE 'rdc\_%';
DELETE FROM orderflow.state_machine_privileges WHERE state_machine LIKE 'rdc\_%';
DELETE FROM orderflow.state_machine_versions WHERE state_machine LIKE 'rdc\_%';
DELETE FROM orderflow.state_machines WHERE name LIKE 'rdc\_%';
SET client_min_messages = warning;
DROP SCHEMA rdc CASCADE;
RESET client_min_messages;
DROP ROLE regress_rdc_alice, regress_rdc_bob, regress_rdc_mallory;
