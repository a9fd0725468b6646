--
-- Views for operators: orderflow.execution_counts, orderflow.throughput,
-- orderflow.state_stats, over a state machine of this test's own.
--
\set SHOW_CONTEXT never

-- A task that fails on request: "Boom" is retried once then caught,
-- "Fatal" fails the execution
CREATE FUNCTION public.views_task(input jsonb) RETURNS jsonb
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    IF input ? 'boom' THEN
        PERFORM orderflow.raise_error('Boom', 'asked for it');
    ELSIF input ? 'fatal' THEN
        PERFORM orderflow.raise_error('Fatal', 'asked for it');
    END IF;
    RETURN input || '{"worked": true}';
END
$$;
SELECT orderflow.create_state_machine('views_demo', '{"StartAt": "Begin", "States": {
    "Begin": {"Type": "Pass", "Next": "Work"},
    "Work": {"Type": "Task", "Resource": "public.views_task",
             "Retry": [{"ErrorEquals": ["Boom"], "IntervalSeconds": 1, "MaxAttempts": 1}],
             "Catch": [{"ErrorEquals": ["Boom"], "ResultPath": "$.error", "Next": "Recover"}],
             "Next": "Done"},
    "Recover": {"Type": "Pass", "Next": "Done"},
    "Done": {"Type": "Succeed"}}}');

SELECT orderflow.start_execution('views_demo', '{}', 'ok-1') AS ok1 \gset
SELECT orderflow.start_execution('views_demo', '{}', 'ok-2') AS ok2 \gset
SELECT orderflow.start_execution('views_demo', '{}', 'ok-3') AS ok3 \gset
SELECT orderflow.start_execution('views_demo', '{"boom": 1}', 'boom-1') AS boom1 \gset
SELECT orderflow.start_execution('views_demo', '{"boom": 2}', 'boom-2') AS boom2 \gset
SELECT orderflow.start_execution('views_demo', '{"fatal": 1}', 'fatal-1') AS fatal1 \gset
SELECT orderflow.wait_for_execution(:'ok1', '60 s'), orderflow.wait_for_execution(:'ok2', '60 s'), orderflow.wait_for_execution(:'ok3', '60 s'),
       orderflow.wait_for_execution(:'boom1', '60 s'), orderflow.wait_for_execution(:'boom2', '60 s'), orderflow.wait_for_execution(:'fatal1', '60 s');

-- execution_counts: per state machine and status
SELECT state_machine, status, executions,
       first_started_at <= last_started_at AS started_in_order,
       last_stopped_at >= last_started_at AS stopped_after_start
  FROM orderflow.execution_counts WHERE state_machine = 'views_demo' ORDER BY status;

-- state_stats: entries, task failures (every failed attempt), retries,
-- caught errors, executions that failed in the state, time in the state
SELECT state_name, state_type, entries, exits, failures, retries, caught, executions_failed_here,
       mean_duration_s >= 0 AS has_mean, p95_duration_s >= mean_duration_s AS p95_at_least_mean
  FROM orderflow.state_stats WHERE state_machine = 'views_demo';
-- the retried attempts waited a second: the p95 time in Work shows it
SELECT p95_duration_s >= 1 AS retry_delay_visible
  FROM orderflow.state_stats WHERE state_machine = 'views_demo' AND state_name = 'Work';

-- throughput: one row per minute of the last hour, and its totals agree
-- with the tables it summarizes
SELECT count(*) AS minutes, min(minute) = date_trunc('minute', now()) - interval '59 minutes' AS starts_an_hour_ago,
       max(minute) = date_trunc('minute', now()) AS ends_now
  FROM orderflow.throughput;
SELECT (SELECT sum(finished) FROM orderflow.throughput)
         = (SELECT count(*) FROM orderflow.executions
             WHERE parent_id IS NULL AND stopped_at >= date_trunc('minute', now()) - interval '59 minutes') AS finished_agrees,
       (SELECT sum(started) FROM orderflow.throughput)
         = (SELECT count(*) FROM orderflow.executions
             WHERE parent_id IS NULL AND started_at >= date_trunc('minute', now()) - interval '59 minutes') AS started_agrees,
       (SELECT sum(transitions) FROM orderflow.throughput)
         = (SELECT count(*) FROM orderflow.execution_history
             WHERE type LIKE '%StateExited' AND ts >= date_trunc('minute', now()) - interval '59 minutes') AS transitions_agree,
       (SELECT sum(finished) FROM orderflow.throughput) >= 6 AS includes_this_test;
SELECT bool_and(latency_p50_s <= latency_p95_s AND latency_p95_s <= latency_p99_s) AS percentiles_ordered,
       bool_and(succeeded + failed = finished) AS finished_adds_up
  FROM orderflow.throughput WHERE finished > 0;

-- security_invoker: row level security applies to whoever queries the
-- view, so a role that started nothing sees nothing
SELECT c.relname, c.reloptions FROM pg_class AS c
 WHERE c.oid IN ('orderflow.execution_counts'::regclass, 'orderflow.throughput'::regclass,
                 'orderflow.state_stats'::regclass)
 ORDER BY c.relname;
CREATE ROLE regress_orderflow_viewer;
SELECT has_table_privilege('regress_orderflow_viewer', 'orderflow.execution_counts', 'SELECT') AS counts,
       has_table_privilege('regress_orderflow_viewer', 'orderflow.throughput', 'SELECT') AS throughput,
       has_table_privilege('regress_orderflow_viewer', 'orderflow.state_stats', 'SELECT') AS state_stats;
SET ROLE regress_orderflow_viewer;
SELECT count(*) AS execution_counts_rows FROM orderflow.execution_counts;
SELECT count(*) AS state_stats_rows FROM orderflow.state_stats;
SELECT count(*) AS minutes, sum(finished) AS finished, sum(transitions) AS transitions FROM orderflow.throughput;
RESET ROLE;
SELECT count(*) > 0 AS superuser_sees_rows FROM orderflow.execution_counts;
DROP ROLE regress_orderflow_viewer;
