--
-- review_writer_dropped_table: a ResultWriter bound to a table that was
-- dropped (and maybe created again) after its definition was cached in
-- this backend.  The binding's table OID was kept with the cached
-- definition, and writing through a stale OID crashed the server (a NULL
-- table name); an unprivileged role could do this with its own table.
-- Now the table is looked up by name at every Map run: created again it
-- is written, dropped the Map fails with States.ResultWriterFailed.
--
CREATE ROLE regress_rwd_mallory NOSUPERUSER;
CREATE SCHEMA rwd AUTHORIZATION regress_rwd_mallory;
SET ROLE regress_rwd_mallory;
CREATE FUNCTION rwd.mask(t text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9]+', '<run>', 'g')
$$;
CREATE TABLE rwd.sink (key text, body jsonb);
SELECT orderflow.register_resource_table('arn:aws:s3:::rwd-bucket/p', 'rwd.sink');
SELECT orderflow.create_state_machine('rwd_map', '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rwd-bucket", "Prefix": "p"}}, "End": true}}}');
-- the first run caches the definition (and the table's OID) in this backend
SELECT rwd.mask(r::text) FROM orderflow.start_sync_execution('rwd_map', '[1]') AS r;
-- dropped and created again: the new table is written
DROP TABLE rwd.sink;
CREATE TABLE rwd.sink (key text, body jsonb);
SELECT rwd.mask(r::text) FROM orderflow.start_sync_execution('rwd_map', '[1, 2]') AS r;
SELECT rwd.mask(key) AS key, jsonb_typeof(body) AS body FROM rwd.sink ORDER BY key;
-- dropped: the Map fails, the backend lives on
DROP TABLE rwd.sink;
\set VERBOSITY default
SELECT orderflow.start_sync_execution('rwd_map', '[1]');
SELECT 1 AS still_connected;
RESET ROLE;
-- a temporary table cannot be registered: its name would mean another
-- session's table to the workers
SET ROLE regress_rwd_mallory;
CREATE TEMP TABLE rwd_temp (key text, body jsonb);
SELECT orderflow.register_resource_table('arn:aws:s3:::rwd-bucket/temp', 'rwd_temp');
DROP TABLE rwd_temp;
RESET ROLE;
-- clean up (the role must own nothing)
DELETE FROM orderflow.execution_history WHERE execution_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine = 'rwd_map');
DELETE FROM orderflow.executions WHERE state_machine = 'rwd_map';
DELETE FROM orderflow.state_machine_versions WHERE state_machine = 'rwd_map';
DELETE FROM orderflow.state_machines WHERE name = 'rwd_map';
DELETE FROM orderflow.resources WHERE resource = 'arn:aws:s3:::rwd-bucket/p';
DROP FUNCTION rwd.mask(text);
DROP SCHEMA rwd;
DROP ROLE regress_rwd_mallory;
