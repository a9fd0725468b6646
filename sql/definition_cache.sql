--
-- definition_cache: a version stores its Task functions by signature, and
-- each backend's definition cache follows changes of those functions
-- (issue 11, parts 1 and 5).
--
-- 1. resources holds signatures (schema-qualified text), not OIDs: they
--    survive a dump and restore.
-- 2. CREATE OR REPLACE FUNCTION of a task function takes effect on the next
--    call, in this session (start_sync_execution) and in the workers, which
--    cached the definition before.
-- 3. DROP FUNCTION: an execution that reaches the Task fails with
--    orderflow.TaskFunctionMissing (neither retried nor caught), and so
--    does a function created again with the wrong return type; creating it
--    again properly and redriving finishes the execution.
--
CREATE SCHEMA dc;
CREATE FUNCTION dc.id(n text) RETURNS uuid
LANGUAGE sql AS $$ SELECT id FROM orderflow.executions WHERE name = n $$;
CREATE FUNCTION dc.result(n text, OUT status text, OUT output jsonb, OUT error text, OUT cause text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.wait_for_execution(dc.id(n), '60 s');
    SELECT d.status, d.output, d.error, d.cause INTO status, output, error, cause
      FROM orderflow.describe_execution(dc.id(n)) AS d;
END
$$;
CREATE FUNCTION dc.step(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RETURN jsonb_build_object('body', 1); END $$;
CREATE FUNCTION dc.other(input jsonb, context jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('other', true) $$;
SELECT orderflow.register_resource('dc-registered', 'dc.other(jsonb, jsonb)');

-- a Retry and a Catch on everything: neither sees TaskFunctionMissing
SELECT orderflow.create_state_machine('dc_machine', $${
  "StartAt": "Step",
  "States": {
    "Step": {"Type": "Task", "Resource": "dc.step", "Next": "Other",
             "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3, "IntervalSeconds": 1}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]},
    "Other": {"Type": "Task", "Resource": "dc-registered", "ResultPath": "$.other", "End": true},
    "Caught": {"Type": "Pass", "Result": "caught", "End": true}
  }}$$);

-- 1. signatures
SELECT resources FROM orderflow.state_machine_versions WHERE state_machine = 'dc_machine';
SELECT resource, fn FROM orderflow.resources WHERE resource = 'dc-registered';

-- 2. CREATE OR REPLACE: this session, then the workers, then both again
SELECT orderflow.start_sync_execution('dc_machine');
SELECT orderflow.start_execution('dc_machine', '{}', 'w1') IS NOT NULL AS started;
SELECT status, output FROM dc.result('w1');
CREATE OR REPLACE FUNCTION dc.step(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN RETURN jsonb_build_object('body', 2); END $$;
SELECT orderflow.start_sync_execution('dc_machine');
SELECT orderflow.start_execution('dc_machine', '{}', 'w2') IS NOT NULL AS started;
SELECT status, output FROM dc.result('w2');
-- a LANGUAGE sql body, replaced: no plan of the old one is kept
CREATE OR REPLACE FUNCTION dc.other(input jsonb, context jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('other', 'replaced') $$;
SELECT orderflow.start_sync_execution('dc_machine');
SELECT orderflow.start_execution('dc_machine', '{}', 'w3') IS NOT NULL AS started;
SELECT status, output FROM dc.result('w3');

-- 3. DROP FUNCTION between two executions
DROP FUNCTION dc.step(jsonb);
SELECT orderflow.start_sync_execution('dc_machine');
SELECT orderflow.start_execution('dc_machine', '{}', 'w4') IS NOT NULL AS started;
SELECT status, output, error, cause FROM dc.result('w4');
-- no retry, no catch: the history ends at the Task's state
SELECT type FROM orderflow.execution_history WHERE execution_id = dc.id('w4') ORDER BY event_id;
-- the same signature, returning text: not callable as a task either
CREATE FUNCTION dc.step(input jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'not jsonb' $$;
SELECT orderflow.start_execution('dc_machine', '{}', 'w5') IS NOT NULL AS started;
SELECT status, error FROM dc.result('w5');
-- created again properly: the failed execution is redriven and finishes
DROP FUNCTION dc.step(jsonb);
CREATE FUNCTION dc.step(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '{"body": 3}'::jsonb $$;
SELECT orderflow.redrive_execution(dc.id('w4'));
SELECT status, output FROM dc.result('w4');
SELECT orderflow.start_sync_execution('dc_machine');

-- a registration whose function is gone cannot be bound by a new version
DROP FUNCTION dc.other(jsonb, jsonb);
SELECT orderflow.update_state_machine('dc_machine', $${
  "StartAt": "Other",
  "States": {"Other": {"Type": "Task", "Resource": "dc-registered", "End": true}}}$$);

SELECT orderflow.delete_state_machine('dc_machine', true);
SELECT orderflow.unregister_resource('dc-registered');
DROP SCHEMA dc CASCADE;
