--
-- task_hygiene: what a task leaves behind in its worker (issue 10, part 5).
--
-- 1. Session-level advisory locks a task took are released after it and
--    the history says so (AdvisoryLocksReleased {"count": n}); before, the
--    worker kept them until it exited and blocked every other role's task
--    that wanted the same lock.  Transaction-level ones end with the batch.
-- 2. orderflow.default_task_timeout: a SQL Task without TimeoutSeconds
--    fails with States.Timeout once it has run that long.
--
CREATE SCHEMA hyg;

CREATE FUNCTION hyg.id(n text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE name = n $$;
CREATE FUNCTION hyg.result(n text, OUT status text, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(hyg.id(n), '60 s');
    SELECT d.status, d.error, d.cause INTO status, error, cause
      FROM orderflow.describe_execution(hyg.id(n)) AS d;
END
$$;
CREATE FUNCTION hyg.history(n text) RETURNS TABLE (event_id integer, type text, details jsonb)
LANGUAGE sql AS $$
    SELECT event_id, type,
           CASE WHEN type IN ('AdvisoryLocksReleased', 'TaskFailed', 'TaskTimedOut')
                THEN details END
      FROM orderflow.execution_history
     WHERE execution_id = hyg.id(n) ORDER BY event_id
$$;
-- advisory locks held by the orderflow workers right now
CREATE FUNCTION hyg.worker_advisory_locks() RETURNS bigint
LANGUAGE sql AS $$
    SELECT count(*) FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid
     WHERE l.locktype = 'advisory' AND a.backend_type = 'orderflow worker'
$$;

-- the tasks: session locks (keys given in the input), a session lock and
-- then an error, a transaction-level lock, a sleep
CREATE FUNCTION hyg.lock(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k jsonb;
BEGIN
    FOR k IN SELECT jsonb_array_elements(input -> 'keys') LOOP
        PERFORM pg_advisory_lock(k::text::bigint);
    END LOOP;
    IF input ? 'shared' THEN
        PERFORM pg_advisory_lock_shared((input ->> 'shared')::bigint);
    END IF;
    RETURN jsonb_build_object('locked', input -> 'keys');
END
$$;
CREATE FUNCTION hyg.lock_and_fail(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_lock(4711);
    RAISE EXCEPTION 'failed while holding a lock';
END
$$;
CREATE FUNCTION hyg.xact_lock(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(4712);
    RETURN '{}';
END
$$;
CREATE FUNCTION hyg.sleep(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_sleep((input ->> 'seconds')::float8);
    RETURN '{}';
END
$$;

SELECT orderflow.create_state_machine('hyg_lock',
  '{"StartAt": "Lock", "States": {"Lock": {"Type": "Task", "Resource": "hyg.lock", "End": true}}}');
SELECT orderflow.create_state_machine('hyg_lock_and_fail',
  '{"StartAt": "Lock", "States": {"Lock": {"Type": "Task", "Resource": "hyg.lock_and_fail", "End": true}}}');
SELECT orderflow.create_state_machine('hyg_xact_lock',
  '{"StartAt": "Lock", "States": {"Lock": {"Type": "Task", "Resource": "hyg.xact_lock", "End": true}}}');

--
-- 1. Advisory locks
--
-- one session lock: released, and one AdvisoryLocksReleased event
SELECT orderflow.start_execution('hyg_lock', '{"keys": [4710]}', 'lock_one') IS NOT NULL AS started;
SELECT * FROM hyg.result('lock_one');
SELECT * FROM hyg.history('lock_one');
SELECT hyg.worker_advisory_locks() AS held_by_workers;
-- another session can take it now ...
SELECT pg_try_advisory_lock(4710) AS this_session_got_it;
SELECT pg_advisory_unlock(4710);

-- the same key twice, another key, a shared one: 3 (lock, mode) pairs
SELECT orderflow.start_execution('hyg_lock', '{"keys": [4720, 4720, 4721], "shared": 4722}', 'lock_three') IS NOT NULL AS started;
SELECT * FROM hyg.result('lock_three');
SELECT * FROM hyg.history('lock_three');
SELECT hyg.worker_advisory_locks() AS held_by_workers;

-- a task that fails keeps no lock either (session locks outlive its rollback)
SELECT orderflow.start_execution('hyg_lock_and_fail', '{}', 'lock_fail') IS NOT NULL AS started;
SELECT * FROM hyg.result('lock_fail');
SELECT * FROM hyg.history('lock_fail');
SELECT hyg.worker_advisory_locks() AS held_by_workers;

-- a transaction-level lock ends with the batch: nothing to release, no event
SELECT orderflow.start_execution('hyg_xact_lock', '{}', 'xact_lock') IS NOT NULL AS started;
SELECT * FROM hyg.result('xact_lock');
SELECT * FROM hyg.history('xact_lock');
SELECT hyg.worker_advisory_locks() AS held_by_workers;

-- no locks taken: no event
SELECT orderflow.start_execution('hyg_lock', '{"keys": []}', 'lock_none') IS NOT NULL AS started;
SELECT * FROM hyg.result('lock_none');
SELECT * FROM hyg.history('lock_none');

--
-- 2. orderflow.default_task_timeout
--
SELECT orderflow.create_state_machine('hyg_default_timeout',
  '{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "hyg.sleep", "End": true}}}');
-- its own TimeoutSeconds wins over the default
SELECT orderflow.create_state_machine('hyg_own_timeout',
  '{"StartAt": "Slow", "States": {"Slow": {"Type": "Task", "Resource": "hyg.sleep",
    "TimeoutSeconds": 10, "End": true}}}');
SHOW orderflow.default_task_timeout;
ALTER SYSTEM SET orderflow.default_task_timeout = '1s';
SELECT pg_reload_conf();
-- idle workers reload at once (SIGHUP sets their latch); give them a moment
SELECT pg_sleep(0.5);
SELECT orderflow.start_execution('hyg_default_timeout', '{"seconds": 4}', 'default_timeout') IS NOT NULL AS started;
SELECT orderflow.start_execution('hyg_own_timeout', '{"seconds": 2}', 'own_timeout') IS NOT NULL AS started;
SELECT * FROM hyg.result('default_timeout');
SELECT * FROM hyg.history('default_timeout');
SELECT stopped_at - started_at < interval '3.5 s' AS before_the_task_ended
  FROM orderflow.executions WHERE name = 'default_timeout';
SELECT * FROM hyg.result('own_timeout');
-- 0 means no default timeout
ALTER SYSTEM SET orderflow.default_task_timeout = 0;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
SELECT orderflow.start_execution('hyg_default_timeout', '{"seconds": 1.5}', 'no_timeout') IS NOT NULL AS started;
SELECT * FROM hyg.result('no_timeout');
ALTER SYSTEM RESET orderflow.default_task_timeout;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);

-- 3. A task cannot leave prepared statements in its worker (PREPARE
--    outlives transactions: one role's tasks could grow a worker without
--    bound, and the next role's task would find them): PREPARE is refused
--    in a security-restricted operation, which every task runs in.  The
--    second Task would count what the first left.
CREATE FUNCTION hyg.leave_prepared(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'PREPARE hyg_left_behind AS SELECT 1';
    RETURN jsonb_build_object('prepared', (SELECT count(*) FROM pg_prepared_statements));
END
$$;
CREATE FUNCTION hyg.count_prepared(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT input || jsonb_build_object('left', (SELECT count(*) FROM pg_prepared_statements))
$$;
SELECT orderflow.create_state_machine('hyg_prepared', '{"StartAt": "Leave", "States": {
  "Leave": {"Type": "Task", "Resource": "hyg.leave_prepared", "Next": "Count"},
  "Count": {"Type": "Task", "Resource": "hyg.count_prepared", "End": true}}}');
SELECT orderflow.start_execution('hyg_prepared', '{}', 'prepared') IS NOT NULL AS started;
SELECT * FROM hyg.result('prepared');
SELECT output FROM orderflow.executions WHERE name = 'prepared';

DROP SCHEMA hyg CASCADE;
