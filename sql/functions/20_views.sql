/* ---------------------------------------------------------------------
 * Views for operators: the first questions about a running system.
 *
 *   orderflow.execution_counts  how many executions per state machine and
 *                               status, and since when
 *   orderflow.throughput        per minute over the last hour: executions
 *                               started and finished, state transitions,
 *                               start-to-finish latency p50/p95/p99
 *   orderflow.state_stats       per state machine and state: entries,
 *                               failures, retries, caught errors, where
 *                               executions failed, time spent in the state
 *
 * Executions counts and latencies are of top-level executions: the child
 * executions that run Parallel branches and Map iterations are not counted
 * again, but their state transitions and states are.
 *
 * All are security_invoker views: they read orderflow.executions and
 * orderflow.execution_history as the querying role, so row level security
 * still shows each role only its own executions.  They scan the history,
 * so on a very large history prefer a WHERE on the view's leading columns
 * or a materialized copy.
 * --------------------------------------------------------------------- */

CREATE OR REPLACE VIEW orderflow.execution_counts WITH (security_invoker = true) AS
SELECT e.state_machine,
       e.status,
       pg_catalog.count(*) AS executions,
       pg_catalog.min(e.started_at) AS first_started_at,
       pg_catalog.max(e.started_at) AS last_started_at,
       pg_catalog.max(e.stopped_at) AS last_stopped_at
  FROM orderflow.executions AS e
 WHERE e.parent_id IS NULL                   -- not Parallel branches / Map iterations
 GROUP BY e.state_machine, e.status;

COMMENT ON VIEW orderflow.execution_counts IS
    'Executions per state machine and status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)';

CREATE OR REPLACE VIEW orderflow.throughput WITH (security_invoker = true) AS
WITH minutes AS (
    SELECT m.minute
      FROM pg_catalog.generate_series(
               (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes'),
               pg_catalog.date_trunc('minute', pg_catalog.now()),
               interval '1 minute') AS m(minute)
), started AS (
    SELECT pg_catalog.date_trunc('minute', e.started_at) AS minute, pg_catalog.count(*) AS n
      FROM orderflow.executions AS e
     WHERE e.parent_id IS NULL
       AND e.started_at OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
     GROUP BY 1
), finished AS (
    SELECT pg_catalog.date_trunc('minute', e.stopped_at) AS minute,
           pg_catalog.count(*) AS n,
           pg_catalog.count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'SUCCEEDED') AS succeeded,
           pg_catalog.count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.<>) 'SUCCEEDED') AS not_succeeded,
           pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p50,
           pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p95,
           pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p99
      FROM orderflow.executions AS e
     WHERE e.parent_id IS NULL
       AND e.stopped_at OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
     GROUP BY 1
), transitions AS (
    SELECT pg_catalog.date_trunc('minute', h.ts) AS minute, pg_catalog.count(*) AS n
      FROM orderflow.execution_history AS h
     WHERE h.ts OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
       AND h.type OPERATOR(pg_catalog.~~) '%StateExited'
     GROUP BY 1
)
SELECT m.minute,
       COALESCE(s.n, 0) AS started,
       COALESCE(f.n, 0) AS finished,
       COALESCE(f.succeeded, 0) AS succeeded,
       COALESCE(f.not_succeeded, 0) AS failed,
       COALESCE(t.n, 0) AS transitions,
       pg_catalog.round(COALESCE(t.n, 0) OPERATOR(pg_catalog./) 60.0, 1) AS transitions_per_second,
       pg_catalog.round(f.p50::numeric, 3) AS latency_p50_s,
       pg_catalog.round(f.p95::numeric, 3) AS latency_p95_s,
       pg_catalog.round(f.p99::numeric, 3) AS latency_p99_s
  FROM minutes AS m
  LEFT JOIN started AS s ON s.minute OPERATOR(pg_catalog.=) m.minute
  LEFT JOIN finished AS f ON f.minute OPERATOR(pg_catalog.=) m.minute
  LEFT JOIN transitions AS t ON t.minute OPERATOR(pg_catalog.=) m.minute
 ORDER BY m.minute;

COMMENT ON VIEW orderflow.throughput IS
    'Per minute of the last hour: executions started and finished (failed = FAILED, TIMED_OUT or ABORTED), '
    'state transitions, and latency percentiles (seconds) of the executions that finished in that minute';

CREATE OR REPLACE VIEW orderflow.state_stats WITH (security_invoker = true) AS
WITH ev AS (
    SELECT e.state_machine, e.status, h.execution_id, h.event_id, h.state_name, h.type, h.ts,
           CASE WHEN h.type OPERATOR(pg_catalog.~~) '%StateEntered' THEN 'entered'
                WHEN h.type OPERATOR(pg_catalog.~~) '%StateExited' THEN 'exited'
           END AS edge
      FROM orderflow.execution_history AS h
      JOIN orderflow.executions AS e ON e.id OPERATOR(pg_catalog.=) h.execution_id
     WHERE h.state_name IS NOT NULL
), durations AS (
    SELECT x.state_machine, x.state_name,
           pg_catalog.date_part('epoch', x.ts OPERATOR(pg_catalog.-) x.entered_ts) AS seconds
      FROM (SELECT ev.state_machine, ev.state_name, ev.edge, ev.ts,
                   pg_catalog.lag(ev.edge) OVER w AS prev_edge,
                   pg_catalog.lag(ev.ts) OVER w AS entered_ts
              FROM ev
             WHERE ev.edge IS NOT NULL
            WINDOW w AS (PARTITION BY ev.execution_id, ev.state_name ORDER BY ev.event_id)) AS x
     WHERE x.edge OPERATOR(pg_catalog.=) 'exited' AND x.prev_edge OPERATOR(pg_catalog.=) 'entered'
), died AS (
    -- the state each unsuccessful finished execution stopped in
    SELECT DISTINCT ON (ev.execution_id) ev.state_machine, ev.state_name
      FROM ev
     WHERE ev.edge OPERATOR(pg_catalog.=) 'entered'
       AND ev.status OPERATOR(pg_catalog.=) ANY (ARRAY['FAILED', 'TIMED_OUT', 'ABORTED'])
     ORDER BY ev.execution_id, ev.event_id DESC
), counts AS (
    SELECT ev.state_machine, ev.state_name,
           pg_catalog.max(pg_catalog.regexp_replace(ev.type, 'StateEntered$', ''))
               FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS state_type,
           pg_catalog.count(*) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS entries,
           pg_catalog.count(*) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'exited') AS exits,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) ANY (ARRAY['TaskFailed', 'TaskTimedOut'])) AS failures,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) 'RetryScheduled') AS retries,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) 'CatchMatched') AS caught,
           pg_catalog.avg(ev.event_id) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS position
      FROM ev
     GROUP BY ev.state_machine, ev.state_name
)
SELECT c.state_machine,
       c.state_name,
       c.state_type,
       c.entries,
       c.exits,
       c.failures,
       c.retries,
       c.caught,
       (SELECT pg_catalog.count(*) FROM died AS d
         WHERE d.state_machine OPERATOR(pg_catalog.=) c.state_machine
           AND d.state_name OPERATOR(pg_catalog.=) c.state_name) AS executions_failed_here,
       pg_catalog.round(d.mean::numeric, 3) AS mean_duration_s,
       pg_catalog.round(d.p95::numeric, 3) AS p95_duration_s
  FROM counts AS c
  LEFT JOIN (SELECT du.state_machine, du.state_name,
                    pg_catalog.avg(du.seconds) AS mean,
                    pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY du.seconds) AS p95
               FROM durations AS du
              GROUP BY du.state_machine, du.state_name) AS d
         ON d.state_machine OPERATOR(pg_catalog.=) c.state_machine
        AND d.state_name OPERATOR(pg_catalog.=) c.state_name
 ORDER BY c.state_machine, c.position, c.state_name;

COMMENT ON VIEW orderflow.state_stats IS
    'Per state machine and state: entries, exits, task failures (each failed attempt), retries scheduled, '
    'errors caught, executions that failed in the state, and the time from StateEntered to StateExited (seconds)';

GRANT SELECT ON orderflow.execution_counts, orderflow.throughput, orderflow.state_stats TO PUBLIC;
