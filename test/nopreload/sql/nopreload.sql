--
-- nopreload: orderflow on a server WITHOUT shared_preload_libraries
-- (README, "Without the preload").  CREATE EXTENSION (pg_regress
-- --load-extension) must not end the session; every SQL function of
-- orderflow is called once and either works or fails with an ERROR whose
-- hint says what to do; after each call a query shows the session is
-- alive.  No worker runs: run_pending() advances the executions, a small
-- workflow with a Task, a Map, a callback and an activity runs end to end.
--
\set SHOW_CONTEXT never
SELECT current_setting('shared_preload_libraries') = '' AS not_preloaded;
SELECT count(*) AS orderflow_workers FROM pg_stat_activity
 WHERE backend_type IN ('orderflow worker', 'orderflow launcher');
-- the PGC_POSTMASTER setting exists only when preloaded
SELECT count(*) AS postmaster_gucs FROM pg_settings
 WHERE name LIKE 'orderflow.%' AND context = 'postmaster';
SELECT extversion FROM pg_extension WHERE extname = 'orderflow';

CREATE SCHEMA np;
CREATE TABLE np.inbox (token text);
CREATE FUNCTION np.inc(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('n', (input ->> 'n')::int + 1) $$;
CREATE FUNCTION np.ask(input jsonb, context jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO np.inbox VALUES (context -> 'Task' ->> 'Token') RETURNING '{}'::jsonb $$;
CREATE FUNCTION np.fail(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN PERFORM orderflow.raise_error('NpError', 'as planned'); RETURN input; END $$;

-- state machines and resources
SELECT orderflow.register_resource('arn:aws:lambda:eu-west-1:123456789012:function:Inc', 'np.inc(jsonb)');
SELECT 'alive' AS session;
SELECT count(*) AS problems FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}');
SELECT 'alive' AS session;
SELECT orderflow.create_activity('np_pick');
SELECT 'alive' AS session;
SELECT orderflow.create_state_machine('np_flow', $json$
{"StartAt": "Inc",
 "States": {
   "Inc": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:Inc", "Next": "Items"},
   "Items": {"Type": "Pass", "Parameters": {"items": [{"n": 10}, {"n": 20}, {"n": 30}], "n.$": "$.n"}, "Next": "Each"},
   "Each": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.mapped",
            "ItemProcessor": {"StartAt": "I", "States": {
              "I": {"Type": "Task", "Resource": "np.inc", "End": true}}},
            "Next": "Ask"},
   "Ask": {"Type": "Task", "Resource": "np.ask.waitForTaskToken", "ResultPath": "$.answer", "Next": "Pick"},
   "Pick": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:np_pick",
            "ResultPath": "$.picked", "End": true}}}
$json$);
SELECT 'alive' AS session;
SELECT orderflow.update_state_machine('np_flow', (SELECT definition FROM orderflow.state_machine_versions
                                                   WHERE state_machine = 'np_flow' AND version = 1));
SELECT 'alive' AS session;
SELECT name, latest_version, running FROM orderflow.describe_state_machine('np_flow');
SELECT 'alive' AS session;

-- the workflow, advanced by run_pending
SELECT orderflow.start_execution('np_flow', '{"n": 1}', 'run1') IS NOT NULL AS started;
SELECT 'alive' AS session;
-- no worker serves this database: a NOTICE says so and names the preload
SELECT orderflow.wait_for_execution(id, '0.2 s') FROM orderflow.executions WHERE name = 'run1';
SELECT 'alive' AS session;
SELECT orderflow.run_pending() > 0 AS advanced;
SELECT 'alive' AS session;
SELECT current_state, status FROM orderflow.executions WHERE name = 'run1';
SELECT orderflow.send_task_heartbeat(token) FROM np.inbox;
SELECT 'alive' AS session;
SELECT orderflow.send_task_success(token, '{"ok": true}') FROM np.inbox;
SELECT 'alive' AS session;
SELECT orderflow.run_pending() > 0 AS advanced;
SELECT current_state, status FROM orderflow.executions WHERE name = 'run1';
-- the activity task: polls without the preload (no shared memory to wait on)
SELECT orderflow.send_task_success(task_token, input || '{"bin": 7}')
  FROM orderflow.get_activity_task('np_pick', 'picker', '5 s');
SELECT 'alive' AS session;
SELECT orderflow.run_pending() > 0 AS advanced;
SELECT status, output FROM orderflow.describe_execution(
  (SELECT id FROM orderflow.executions WHERE name = 'run1'));
SELECT 'alive' AS session;
SELECT orderflow.wait_for_execution(id, '1 s') FROM orderflow.executions WHERE name = 'run1';
SELECT 'alive' AS session;
SELECT count(*) AS events, count(DISTINCT event_id) = max(event_id) AS contiguous
  FROM orderflow.execution_history
 WHERE execution_id = (SELECT id FROM orderflow.executions WHERE name = 'run1');
SELECT state_machine, status, executions FROM orderflow.execution_counts WHERE state_machine = 'np_flow';
SELECT count(*) > 0 AS throughput_rows FROM orderflow.throughput;
SELECT count(*) > 0 AS state_stats_rows FROM orderflow.state_stats WHERE state_machine = 'np_flow';

-- synchronous runs work in the session itself
SELECT orderflow.create_state_machine('np_sync', $json$
{"StartAt": "Inc", "States": {"Inc": {"Type": "Task", "Resource": "np.inc", "End": true}}}
$json$);
SELECT orderflow.start_sync_execution('np_sync', '{"n": 41}');
SELECT 'alive' AS session;

-- failure, redrive, stop
SELECT orderflow.create_state_machine('np_fail', $json$
{"StartAt": "F", "States": {"F": {"Type": "Task", "Resource": "np.fail", "End": true}}}
$json$);
SELECT orderflow.start_execution('np_fail', '{}', 'f1') IS NOT NULL AS started;
SELECT orderflow.run_pending() > 0 AS advanced;
SELECT status, error, cause FROM orderflow.executions WHERE name = 'f1';
SELECT orderflow.redrive_execution(id) FROM orderflow.executions WHERE name = 'f1';
SELECT 'alive' AS session;
SELECT status, redrive_count FROM orderflow.executions WHERE name = 'f1';
SELECT orderflow.stop_execution(id, 'Stopped', 'by the test') FROM orderflow.executions WHERE name = 'f1';
SELECT 'alive' AS session;
SELECT status, error FROM orderflow.executions WHERE name = 'f1';
-- raise_error outside a task is an ordinary ERROR
SELECT orderflow.raise_error('NpError', 'outside a task');
SELECT 'alive' AS session;
SELECT orderflow.send_task_failure('not-a-token', 'E', 'c');
SELECT 'alive' AS session;

-- listing, pictures
SELECT name, state_machine, status FROM orderflow.list_executions('np_flow');
SELECT 'alive' AS session;
SELECT orderflow.list_executions_check(NULL, 10, NULL);
SELECT after_ts IS NULL AS no_cursor FROM orderflow.list_executions_cursor(NULL, 10, NULL);
SELECT length(orderflow.render_graph('np_flow')) > 0 AS drawn;
SELECT length(orderflow.render_graph('np_flow',
         (SELECT id FROM orderflow.executions WHERE name = 'run1'), 'dot')) > 0 AS drawn;
SELECT orderflow.graph_escape('a"b', 'dot');
SELECT orderflow.graph_rule_text('{"Variable": "$.x", "NumericEquals": 1}');
SELECT orderflow.graph_retry_text('{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}');
SELECT orderflow.graph_layout(definition -> 'States', definition ->> 'StartAt', 'n', 'mermaid', 0) IS NOT NULL AS laid_out
  FROM orderflow.state_machine_versions WHERE state_machine = 'np_sync';
SELECT 'alive' AS session;

-- privileges
CREATE ROLE regress_np_reader;
SELECT orderflow.grant_state_machine('np_flow', 'READ', 'regress_np_reader');
SELECT 'alive' AS session;
SELECT orderflow.has_state_machine_privilege('np_flow', 'READ');
SELECT orderflow.revoke_state_machine('np_flow', 'READ', 'regress_np_reader');
SELECT 'alive' AS session;
DROP ROLE regress_np_reader;

-- clean-up functions
SELECT orderflow.purge_expired('0 s', 10) >= 0 AS purged;
SELECT 'alive' AS session;
SELECT orderflow.unregister_resource('arn:aws:lambda:eu-west-1:123456789012:function:Inc');
SELECT 'alive' AS session;
SELECT orderflow.delete_activity('np_pick');
SELECT 'alive' AS session;
SELECT orderflow.delete_state_machine('np_sync');
SELECT 'alive' AS session;
