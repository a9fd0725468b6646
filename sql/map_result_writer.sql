--
-- map_result_writer: a Map's ResultWriter writes its results to the SQL
-- function or table its Bucket/Prefix is bound to (register_resource,
-- register_resource_table), in objects of at most 1000 results, then a
-- manifest; the Map's output becomes {"MapRunArn", "ResultWriterDetails"}.
-- Covered: a table and a function target, the Transformations and
-- OutputTypes, ResultSelector/ResultPath/OutputPath on the summary, a
-- 20,000-item Map written in batches, a failing writer rolling back (Catch),
-- refusal of an unbound target at create time, validation with locations,
-- and attacks from unprivileged roles.
--
CREATE SCHEMA rw;
GRANT USAGE ON SCHEMA rw TO PUBLIC;
CREATE ROLE regress_rw_alice NOSUPERUSER;
CREATE ROLE regress_rw_mallory NOSUPERUSER;

-- start, COMMIT (the workers see committed starts), wait, report the
-- outcome with execution ids masked
CREATE PROCEDURE rw.run(sm text, input jsonb DEFAULT '{}', INOUT result text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '120 s');
    SELECT d.status || ' ' || coalesce(d.output::text, d.error || ': ' || d.cause)
      INTO result FROM orderflow.describe_execution(id) AS d;
    result := rw.mask(result);
END
$$;
CREATE FUNCTION rw.mask(t text) RETURNS text LANGUAGE sql AS $$
    SELECT regexp_replace(t, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}-[0-9]+', '<run>', 'g')
$$;
CREATE FUNCTION rw.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' || SQLERRM;
END
$$;

-- the targets: a table (one row per object) and a function (one call per object)
CREATE TABLE rw.results (id bigserial, key text, body jsonb);
CREATE TABLE rw.calls (id bigserial, caller text, path text, obj jsonb);
CREATE FUNCTION rw.put(obj jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO rw.calls (caller, path, obj)
    VALUES (current_user, current_setting('search_path'), obj);
    SELECT '{}'::jsonb
$$;
-- a task whose item 3 fails (tolerated below)
CREATE FUNCTION rw.check_item(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF (input ->> 'n')::int = 3 THEN
        PERFORM orderflow.raise_error('BadItem', 'item 3 is bad');
    END IF;
    RETURN jsonb_build_object('n', (input ->> 'n')::int * 10);
END
$$;
CREATE FUNCTION rw.numbers(params jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('n', i) FROM generate_series(1, (params ->> 'count')::int) AS i
$$;

\set SHOW_CONTEXT never
\set table_map '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ToleratedFailureCount": 1, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "rw.check_item", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "runs"}}, "End": true}}}'

-- 1. unbound: refused at create time, the location in DETAIL, the fix in HINT
SELECT orderflow.create_state_machine('rw_table', :'table_map');
SELECT severity, code, location, message
  FROM orderflow.validate_definition(:'table_map');

-- 2. bound to a table: one row per object, SUCCEEDED and FAILED files and the manifest
SELECT orderflow.register_resource_table('arn:aws:s3:::rw-bucket/runs', 'rw.results');
SELECT resource, fn FROM orderflow.resources WHERE resource LIKE 'arn:aws:s3:::%';
SELECT orderflow.create_state_machine('rw_table', :'table_map');
SELECT resources FROM orderflow.state_machine_versions WHERE state_machine = 'rw_table';
CALL rw.run('rw_table', '{"items": [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]}');
SELECT rw.mask(key) AS key, jsonb_array_length(body) AS entries FROM rw.results WHERE key NOT LIKE '%manifest.json' ORDER BY id;
-- the NONE entries: metadata, Input and Output as strings (as AWS writes them)
SELECT e ->> 'Status' AS status, e ->> 'Input' AS input, e ->> 'Output' AS output,
       e ->> 'Error' AS error, e ->> 'Cause' AS cause, e -> 'InputDetails' AS input_details,
       (e ->> 'ExecutionArn') ~ '^[0-9a-f-]{36}$' AS arn_is_id, e ->> 'StateMachineArn' AS machine,
       (e ->> 'StartDate') ~ '^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$' AS iso_date
  FROM rw.results, jsonb_array_elements(body) AS e
 WHERE key NOT LIKE '%manifest.json' ORDER BY rw.results.id, e ->> 'Input';
SELECT rw.mask(body::text) AS manifest FROM rw.results WHERE key LIKE '%manifest.json';
-- the manifest lists every object written, with the length of its JSON text
SELECT count(*) AS listed, bool_and((f ->> 'Size')::int > octet_length(r.body::text) / 2) AS sizes_plausible
  FROM rw.results AS m,
       jsonb_array_elements((m.body -> 'ResultFiles' -> 'SUCCEEDED') || (m.body -> 'ResultFiles' -> 'FAILED')) AS f
  JOIN rw.results AS r ON r.key = f ->> 'Key'
 WHERE m.key LIKE '%manifest.json';
TRUNCATE rw.results;

-- 3. bound to a function: one call per object {"Bucket", "Key", "Body"},
--    run as the execution's owner with the pinned search_path; COMPACT and
--    FLATTEN, JSON Lines; ResultSelector, ResultPath and OutputPath apply
--    to the summary
SELECT orderflow.register_resource('arn:aws:s3:::rw-bucket/fn', 'rw.put(jsonb)');
\set fn_map '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "fn"}, "WriterConfig": {"Transformation": "FLATTEN", "OutputType": "JSON"}}, "ResultSelector": {"manifest.$": "$.ResultWriterDetails.Key", "bucket.$": "$.ResultWriterDetails.Bucket", "arn.$": "$.MapRunArn"}, "ResultPath": "$.written", "OutputPath": "$.written", "End": true}}}'
SELECT orderflow.create_state_machine('rw_fn', :'fn_map');
CALL rw.run('rw_fn', '{"items": [[1, 2], {"a": 1}, [], 3]}');
SELECT caller, path, obj ->> 'Bucket' AS bucket, rw.mask(obj ->> 'Key') AS key, rw.mask((obj -> 'Body')::text) AS body
  FROM rw.calls ORDER BY id;
TRUNCATE rw.calls;
SELECT orderflow.update_state_machine('rw_fn',
    jsonb_set(:'fn_map'::jsonb, '{States,M,ResultWriter,WriterConfig}', '{"Transformation": "COMPACT", "OutputType": "JSONL"}'));
CALL rw.run('rw_fn', '{"items": [[1, 2], {"a": 1}, "x"]}');
SELECT rw.mask(obj ->> 'Key') AS key, jsonb_typeof(obj -> 'Body') AS type, obj ->> 'Body' AS body
  FROM rw.calls WHERE obj ->> 'Key' NOT LIKE '%manifest.json' ORDER BY id;
TRUNCATE rw.calls;

-- 4. WriterConfig only: nothing written, the transformed results are the output
\set preview '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"WriterConfig": {"Transformation": "FLATTEN"}}, "End": true}}}'
SELECT orderflow.create_state_machine('rw_preview', :'preview');
CALL rw.run('rw_preview', '[[1, 2], [3], 4, {"b": 2}]');

-- 5. 20,000 items (an ItemReader) written in batches of 1000 while they
--    are read back a page at a time: 20 objects and the manifest
\set big '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemReader": {"Resource": "rw.numbers", "Parameters": {"count": 20000}}, "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "runs"}, "WriterConfig": {"Transformation": "COMPACT"}}, "End": true}}}'
SELECT orderflow.create_state_machine('rw_big', :'big');
CALL rw.run('rw_big');
SELECT count(*) AS objects, count(*) FILTER (WHERE key LIKE '%/SUCCEEDED\_%') AS succeeded_files,
       max(jsonb_array_length(body)) FILTER (WHERE key NOT LIKE '%manifest.json') AS most_per_file,
       sum(jsonb_array_length(body)) FILTER (WHERE key NOT LIKE '%manifest.json') AS results
  FROM rw.results;
-- every item once, in order across the files
SELECT count(*) = 20000 AND bool_and((e ->> 'n')::int = (f.idx - 1) * 1000 + e_idx) AS all_in_order
  FROM (SELECT body, (regexp_match(key, 'SUCCEEDED_(\d+)'))[1]::int + 1 AS idx
          FROM rw.results WHERE key LIKE '%SUCCEEDED%') AS f,
       jsonb_array_elements(f.body) WITH ORDINALITY AS x(e, e_idx);
SELECT jsonb_array_length(body -> 'ResultFiles' -> 'SUCCEEDED') AS manifest_files
  FROM rw.results WHERE key LIKE '%manifest.json';
TRUNCATE rw.results;

-- 6. the writer fails on the manifest: every object it wrote is rolled
--    back, the Map fails with States.ResultWriterFailed, Catch sees it
CREATE FUNCTION rw.put_then_fail(obj jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO rw.calls (caller, path, obj) VALUES (current_user, 'x', obj);
    IF obj ->> 'Key' LIKE '%manifest.json' THEN
        RAISE EXCEPTION 'disk full';
    END IF;
    RETURN '{}';
END
$$;
SELECT orderflow.register_resource('arn:aws:s3:::rw-bucket/failing', 'rw.put_then_fail(jsonb)');
\set failing '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemsPath": "$.items", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "failing"}}, "Catch": [{"ErrorEquals": ["States.ResultWriterFailed"], "ResultPath": "$.error", "Next": "Caught"}], "End": true}, "Caught": {"Type": "Pass", "OutputPath": "$.error", "End": true}}}'
SELECT orderflow.create_state_machine('rw_failing', :'failing');
CALL rw.run('rw_failing', '{"items": [1, 2, 3]}');
SELECT count(*) AS rows_left FROM rw.calls;
SELECT type FROM orderflow.execution_history AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id
 WHERE e.state_machine = 'rw_failing' AND e.parent_id IS NULL ORDER BY h.event_id;

-- 7. validation: ResultWriter and ProcessorConfig problems with their locations
SELECT severity, code, location FROM orderflow.validate_definition(
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:getObject", "Parameters": {"Bucket": "Bad Bucket", "Prefix": 1}, "WriterConfig": {"OutputType": "CSV", "Transformation": "ALL"}}, "End": true}}}');
SELECT severity, code, location FROM orderflow.validate_definition(
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE", "ExecutionType": "EXPRESS"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket.$": "$.bucket"}}, "End": true}}}');
SELECT severity, code, location FROM orderflow.validate_definition(
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "runs"}}, "End": true}}}');
-- a table without the columns, a function of the wrong shape
CREATE TABLE rw.wrong (k text, v jsonb);
SELECT rw.try($$SELECT orderflow.register_resource_table('arn:aws:s3:::rw-bucket/wrong', 'rw.wrong')$$);
CREATE FUNCTION rw.two(a jsonb, b jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT a $$;
SELECT orderflow.register_resource('arn:aws:s3:::rw-bucket/two', 'rw.two(jsonb,jsonb)');
SELECT message FROM orderflow.validate_definition(
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "rw-bucket", "Prefix": "two"}}, "End": true}}}');

-- 8. attacks from unprivileged roles
CREATE SCHEMA rw_alice AUTHORIZATION regress_rw_alice;
GRANT USAGE ON SCHEMA rw_alice TO PUBLIC;
CREATE SCHEMA rw_mallory AUTHORIZATION regress_rw_mallory;
SET ROLE regress_rw_alice;
CREATE TABLE rw_alice.ledger (key text, body jsonb, writer name DEFAULT current_user);
CREATE FUNCTION rw_alice.archive(obj jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT obj $$;
REVOKE EXECUTE ON FUNCTION rw_alice.archive(jsonb) FROM PUBLIC;
SELECT orderflow.register_resource_table('arn:aws:s3:::alice-bucket/ledger', 'rw_alice.ledger');
-- alice's machine writes to her own ledger; she lets anyone start it
SELECT orderflow.create_state_machine('rw_alice_ledger',
    replace(replace(:'fn_map', 'rw-bucket', 'alice-bucket'), '"Prefix": "fn"', '"Prefix": "ledger"')::jsonb);
SELECT orderflow.grant_state_machine('rw_alice_ledger', 'START', 'PUBLIC');
RESET ROLE;
SET ROLE regress_rw_mallory;
-- 8a. mallory cannot register a table she may not write, nor a function she may not execute
SELECT rw.try($$SELECT orderflow.register_resource_table('arn:aws:s3:::steal/x', 'rw_alice.ledger')$$);
SELECT rw.try($$SELECT orderflow.register_resource('arn:aws:s3:::steal/x', 'rw_alice.archive(jsonb)')$$);
SELECT rw.try($$SELECT orderflow.register_resource_table('arn:aws:s3:::steal/x', 'rw.results')$$);
-- 8b. alice's registration and the superuser's bind nothing for mallory
--     (not her role; the superuser's names a table she may not write)
SELECT code, location, message FROM orderflow.validate_definition(
    replace(replace(:'fn_map', 'rw-bucket', 'alice-bucket'), '"Prefix": "fn"', '"Prefix": "ledger"')::jsonb);
SELECT code, location, message FROM orderflow.validate_definition(:'table_map');
-- 8c. started by mallory, alice's machine writes as mallory: her INSERT
--     into alice's ledger is refused, the Map fails, nothing is written
CALL rw.run('rw_alice_ledger', '{"items": [1, 2]}');
RESET ROLE;
SELECT count(*) AS ledger_rows FROM rw_alice.ledger;
-- 8d. the same machine started by alice writes
SET ROLE regress_rw_alice;
CALL rw.run('rw_alice_ledger', '{"items": [1, 2]}');
SELECT rw.mask(key) AS key, writer FROM rw_alice.ledger ORDER BY key;
RESET ROLE;
-- 8e. a REVOKE takes effect at the next write: mallory's own writer
--     function, bound and valid at create time, then revoked from her
CREATE FUNCTION rw.granted(obj jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT obj $$;
REVOKE EXECUTE ON FUNCTION rw.granted(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION rw.granted(jsonb) TO regress_rw_mallory;
SET ROLE regress_rw_mallory;
SELECT orderflow.register_resource('arn:aws:s3:::mallory-bucket', 'rw.granted(jsonb)');
SELECT orderflow.create_state_machine('rw_mallory',
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "mallory-bucket"}}, "End": true}}}');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION rw.granted(jsonb) FROM regress_rw_mallory;
SET ROLE regress_rw_mallory;
CALL rw.run('rw_mallory', '[1]');
RESET ROLE;

-- 8f. mallory's own writer functions try the superuser's powers: an UPDATE
--     of pg_authid, and an inlinable LANGUAGE sql body reading it (planned
--     as the worker's superuser, it would run as superuser); both run as
--     mallory and fail, and she is no superuser
SET ROLE regress_rw_mallory;
CREATE FUNCTION rw_mallory.escalate(obj jsonb) RETURNS jsonb LANGUAGE sql AS $$
    UPDATE pg_catalog.pg_authid SET rolsuper = true WHERE rolname = 'regress_rw_mallory' RETURNING obj
$$;
CREATE FUNCTION rw_mallory.peek(obj jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT pg_catalog.jsonb_build_object('roles', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_authid))
$$;
SELECT orderflow.register_resource('arn:aws:s3:::mallory-bucket/escalate', 'rw_mallory.escalate(jsonb)');
SELECT orderflow.register_resource('arn:aws:s3:::mallory-bucket/peek', 'rw_mallory.peek(jsonb)');
SELECT orderflow.create_state_machine('rw_mallory_escalate',
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "mallory-bucket", "Prefix": "escalate"}}, "End": true}}}');
SELECT orderflow.create_state_machine('rw_mallory_peek',
    '{"StartAt": "M", "States": {"M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}, "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "mallory-bucket", "Prefix": "peek"}}, "End": true}}}');
CALL rw.run('rw_mallory_escalate', '[1]');
CALL rw.run('rw_mallory_peek', '[1]');
-- the same in her own session (start_sync_execution runs the Map there)
SELECT rw.mask(r ->> 'status' || ' ' || coalesce(r ->> 'error', '') || ': ' || coalesce(r ->> 'cause', ''))
  FROM orderflow.start_sync_execution('rw_mallory_escalate', '[1]') AS r;
RESET ROLE;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_rw_mallory';

-- clean up (the roles must own nothing)
DELETE FROM orderflow.execution_history WHERE execution_id IN
  (SELECT id FROM orderflow.executions WHERE state_machine LIKE 'rw\_%');
DELETE FROM orderflow.executions WHERE state_machine LIKE 'rw\_%';
DELETE FROM orderflow.state_machine_privileges WHERE state_machine LIKE 'rw\_%';
DELETE FROM orderflow.state_machine_versions WHERE state_machine LIKE 'rw\_%';
DELETE FROM orderflow.state_machines WHERE name LIKE 'rw\_%';
DELETE FROM orderflow.resources WHERE resource LIKE 'arn:aws:s3:::%';
DROP SCHEMA rw_alice CASCADE;
DROP SCHEMA rw_mallory CASCADE;
DROP SCHEMA rw CASCADE;
DROP ROLE regress_rw_alice;
DROP ROLE regress_rw_mallory;
