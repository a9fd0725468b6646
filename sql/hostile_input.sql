--
-- hostile_input: malformed and hostile definitions, inputs and task
-- results.  Each gets a clear error and leaves nothing half-written: after
-- every refused call, hostile.counts() shows no state machine, version,
-- execution or history row was added.
--
-- Limits (README "Limits"): JSON nesting 512 levels inside orderflow's
-- parser, 100,000 states per definition, 8 MB per definition (jsonb),
-- orderflow.max_payload_size for inputs, state outputs and task results,
-- orderflow.max_history_events per execution.
--
CREATE SCHEMA hostile;
-- rows of the hostile* state machines in orderflow's tables, to show that
-- nothing was written
CREATE FUNCTION hostile.counts(OUT state_machines bigint, OUT versions bigint,
    OUT executions bigint, OUT history bigint)
LANGUAGE sql AS $$
  SELECT (SELECT count(*) FROM orderflow.state_machines WHERE name LIKE 'hostile%' AND deleted_at IS NULL),
         (SELECT count(*) FROM orderflow.state_machine_versions WHERE state_machine LIKE 'hostile%'),
         (SELECT count(*) FROM orderflow.executions WHERE state_machine LIKE 'hostile%'),
         (SELECT count(*) FROM orderflow.execution_history AS h
            JOIN orderflow.executions AS e ON e.id = h.execution_id
           WHERE e.state_machine LIKE 'hostile%')
$$;
-- run a statement; report its error (SQLSTATE, message cut at 300
-- characters, uuids masked) or 'ok'
CREATE FUNCTION hostile.try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' ||
        left(regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'), 300);
END
$$;
-- create_state_machine('hostile', definition) through try()
CREATE FUNCTION hostile.create(definition text) RETURNS text
LANGUAGE sql AS $$
  SELECT hostile.try(format('SELECT orderflow.create_state_machine(%L, %L::jsonb)', 'hostile', definition))
$$;
-- start an execution, wait for it, return how it ended
CREATE PROCEDURE hostile.run(sm text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output text DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, left(d.output::text, 40), left(d.error, 40), left(d.cause, 100)
      INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;

SELECT * FROM hostile.counts();

--
-- Definitions that are not JSON: jsonb rejects them before orderflow sees
-- them (the same for invalid UTF-8, \u0000 and lone surrogates, NaN)
--
SELECT hostile.create('not json');
SELECT hostile.create('{"StartAt": "A", "States": {');
SELECT hostile.create('{"StartAt": "A\u0000"}');
SELECT hostile.create('{"StartAt": "\ud800"}');
SELECT hostile.create('{"Retry": NaN}');
SELECT hostile.try(format('SELECT %L::jsonb', convert_from('\x7b2261223a22ff227d'::bytea, 'SQL_ASCII')));
SELECT hostile.try($$SELECT convert_from('\x22ff22'::bytea, 'UTF8')::jsonb$$);

--
-- JSON that is not an object
--
SELECT hostile.create(d) FROM (VALUES ('[1, 2]'), ('"a string"'), ('42'), ('null'), ('true')) AS t (d);
-- an SQL NULL: the functions are STRICT
SELECT orderflow.create_state_machine('hostile', NULL) IS NULL AS strict_null;

--
-- Deep nesting: 10,000 levels (jsonb accepts them; orderflow's parser stops
-- at 512) in the document, in a Pass Result, in Parameters
--
SELECT hostile.create(repeat('[', 10000) || repeat(']', 10000));
SELECT hostile.create(repeat('{"a": ', 10000) || '1' || repeat('}', 10000));
SELECT hostile.create('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Result": '
    || repeat('[', 10000) || repeat(']', 10000) || '}}}');
SELECT hostile.create('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": '
    || repeat('{"a": ', 10000) || '{"b.$": "$"}' || repeat('}', 10000) || '}}}');
-- a Choice rule nested 10,000 Nots deep
SELECT hostile.create('{"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "D", "Choices": [{'
    || repeat('"Not": {', 10000) || '"Variable": "$.x", "IsPresent": true' || repeat('}', 10000)
    || ', "Next": "D"}]}, "D": {"Type": "Succeed"}}}');
-- 500 levels are fine
SELECT hostile.try($$SELECT count(*) FROM orderflow.validate_definition(('{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Result": '
    || repeat('[', 500) || repeat(']', 500) || '}}}')::jsonb)$$);
SELECT * FROM hostile.counts();

--
-- Size: a 10 MB definition (over the 8 MB limit), 100,001 states (over the
-- 100,000 limit; a million states took 17 s to create before the limit)
--
SELECT hostile.try($$SELECT orderflow.create_state_machine('hostile', jsonb_build_object(
    'StartAt', 'A', 'States', jsonb_build_object('A', jsonb_build_object(
        'Type', 'Pass', 'End', true, 'Result', repeat('x', 10 * 1024 * 1024)))))$$);
CREATE TABLE hostile.big AS
SELECT jsonb_build_object('StartAt', 'S1', 'States',
         jsonb_object_agg('S' || i, CASE WHEN i < 100001
             THEN jsonb_build_object('Type', 'Pass', 'Next', 'S' || (i + 1))
             ELSE jsonb_build_object('Type', 'Succeed') END)) AS d
  FROM generate_series(1, 100001) AS i;
SELECT code, location, message FROM hostile.big, orderflow.validate_definition(big.d);
SELECT hostile.try('SELECT orderflow.create_state_machine(''hostile'', d) FROM hostile.big');
-- also when the states are spread over Parallel branches
SELECT code, location, message FROM orderflow.validate_definition(jsonb_build_object(
    'StartAt', 'P', 'States', jsonb_build_object('P', jsonb_build_object(
        'Type', 'Parallel', 'End', true, 'Branches', (
            SELECT jsonb_agg(jsonb_build_object('StartAt', 'B' || b || '_1', 'States', (
                SELECT jsonb_object_agg('B' || b || '_' || s,
                    CASE WHEN s < 1000 THEN jsonb_build_object('Type', 'Pass', 'Next', 'B' || b || '_' || (s + 1))
                         ELSE jsonb_build_object('Type', 'Succeed') END)
                  FROM generate_series(1, 1000) AS s)))
              FROM generate_series(1, 101) AS b)))));
DROP TABLE hostile.big;
SELECT * FROM hostile.counts();

--
-- Duplicate keys: jsonb keeps the last one, before orderflow sees the
-- document (so "the last one wins", for states too)
--
SELECT hostile.create('{"StartAt": "Nope", "StartAt": "A", "States": {"A": {"Type": "Fail"}, "A": {"Type": "Pass", "Result": "second A", "End": true}}}');
SELECT definition FROM orderflow.state_machine_versions WHERE state_machine = 'hostile';
CALL hostile.run('hostile');
SELECT orderflow.delete_state_machine('hostile', force => true);

--
-- Cycles: loops are legal ASL (a Choice decides when to leave).  A cycle
-- with no way out is refused (NO_TERMINAL_STATE; Step Functions says
-- MISSING_END_STATE); one whose way out is never taken runs until the
-- history limit.
--
SELECT severity, code, message FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}}');
SELECT severity, code, message FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}');
-- an endless cycle fails once it has written orderflow.max_history_events
-- events (25,000 by default, as Step Functions): it neither fills the disk
-- nor keeps a worker busy forever
SHOW orderflow.max_history_events;
SELECT orderflow.create_state_machine('hostile_cycle',
  '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"},
    "B": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": true, "Next": "Done"}], "Default": "A"},
    "Done": {"Type": "Succeed"}}}');
SELECT orderflow.start_execution('hostile_cycle', '{}', 'spin') AS spin \gset
SELECT orderflow.wait_for_execution(:'spin', '120 s');
SELECT status, error, regexp_replace(cause, 'written \d+', 'written N') AS cause
  FROM orderflow.executions WHERE id = :'spin';
SELECT count(*) = max(event_id) AS contiguous, count(*) BETWEEN 25000 AND 25010 AS about_the_limit,
       (array_agg(type ORDER BY event_id DESC))[1] AS last_event
  FROM orderflow.execution_history WHERE execution_id = :'spin';
SELECT orderflow.delete_state_machine('hostile_cycle', force => true);
-- a counted loop ends
SELECT orderflow.create_state_machine('hostile_loop', '{"StartAt": "Init", "States": {
  "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.i", "Next": "Loop"},
  "Loop": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "Check"},
  "Check": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 100, "Next": "Loop"}], "Default": "Done"},
  "Done": {"Type": "Succeed"}}}');
CALL hostile.run('hostile_loop');
SELECT count(*) AS history_events FROM orderflow.execution_history AS h
  JOIN orderflow.executions AS e ON e.id = h.execution_id WHERE e.state_machine = 'hostile_loop';
SELECT orderflow.delete_state_machine('hostile_loop', force => true);

--
-- JSONPath and intrinsic syntax errors
--
SELECT t.id, p.code, p.location, p.message FROM (VALUES
    (1, '{"InputPath": "$.a["}'),
    (2, '{"InputPath": "a.b"}'),
    (3, '{"InputPath": "$.."}'),
    (4, '{"InputPath": "$.a[?(@.x =="}'),
    (5, '{"ResultPath": "$.a[*]"}'),
    (6, '{"OutputPath": "$[''unterminated"}'),
    (7, '{"Parameters": {"x.$": "States.Format(''{}''"}}'),
    (8, '{"Parameters": {"x.$": "States.Nope(1)"}}'),
    (9, '{"Parameters": {"x.$": "States.Format($.a, )"}}'),
    (10, '{"Parameters": {"x.$": "States.Array(States.Array(States.Array("}}'),
    (11, '{"Parameters": {"x.$": "States.MathAdd(1, 2, 3)"}}'),
    (12, '{"Parameters": {"x.$": 42}}'),
    (13, '{"Parameters": {"x.$": "$.a[99999999999999999999]"}}'),
    (14, '{"Parameters": {"x.$": "States.Format(''' || repeat('{}', 10000) || ''')"}}')
  ) AS t (id, fields),
  LATERAL orderflow.validate_definition(jsonb_build_object('StartAt', 'A', 'States',
      jsonb_build_object('A', jsonb_build_object('Type', 'Pass', 'End', true) || t.fields::jsonb))) AS p
ORDER BY t.id, p.location, p.code;

--
-- Absurd numbers (JSON has no NaN or Infinity; jsonb rejects them, and a
-- "NaN" string is not a number)
--
SELECT p.code, p.location, p.message FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {
     "A": {"Type": "Task", "Resource": "hostile.echo", "Next": "W1", "TimeoutSeconds": 0,
           "HeartbeatSeconds": -1,
           "Retry": [{"ErrorEquals": ["X"], "IntervalSeconds": -1, "MaxAttempts": -1, "BackoffRate": "NaN"},
                     {"ErrorEquals": ["Y"], "IntervalSeconds": 0.5, "BackoffRate": 0.5, "MaxDelaySeconds": -3},
                     {"ErrorEquals": ["Z"], "IntervalSeconds": 1e300, "MaxAttempts": 1.5, "JitterStrategy": "SOME"}]},
     "W1": {"Type": "Wait", "Seconds": -5, "Next": "W2"},
     "W2": {"Type": "Wait", "Seconds": 1e20, "Next": "W3"},
     "W3": {"Type": "Wait", "Seconds": "10", "Next": "W4"},
     "W4": {"Type": "Wait", "Timestamp": "2024-13-45T99:00:00Z", "Next": "M"},
     "M": {"Type": "Map", "ItemsPath": "$", "MaxConcurrency": -2, "ToleratedFailurePercentage": 101,
           "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}, "End": true}}}') AS p
ORDER BY p.location, p.code;
-- a huge BackoffRate is a number >= 1: accepted, and delays are capped at
-- MaxDelaySeconds (or one year)
SELECT count(*) AS problems FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}, "TimeoutSeconds": 99999999}');

--
-- Resources: functions with the wrong signature, things that are not
-- functions, SQL text
--
CREATE FUNCTION hostile.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION hostile.two_ints(a jsonb, b integer) RETURNS jsonb LANGUAGE sql AS 'SELECT a';
CREATE FUNCTION hostile.returns_int(input jsonb) RETURNS integer LANGUAGE sql AS 'SELECT 1';
CREATE FUNCTION hostile.takes_text(input text) RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb';
CREATE FUNCTION hostile.returns_set(input jsonb) RETURNS SETOF jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION hostile.no_args() RETURNS jsonb LANGUAGE sql AS 'SELECT ''{}''::jsonb';
CREATE FUNCTION hostile.three(a jsonb, b jsonb, c jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT a';
CREATE PROCEDURE hostile.proc(input jsonb) LANGUAGE sql AS 'SELECT 1';
CREATE AGGREGATE hostile.agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb);
CREATE TABLE hostile.tbl (x int);
INSERT INTO hostile.tbl VALUES (1);
SELECT t.id, p.code, left(p.message, 130) AS message FROM (VALUES
    (1, 'hostile.two_ints'),
    (2, 'hostile.returns_int'),
    (3, 'hostile.takes_text'),
    (4, 'hostile.returns_set'),
    (5, 'hostile.no_args'),
    (6, 'hostile.three'),
    (7, 'hostile.proc'),
    (8, 'hostile.agg'),
    (9, 'hostile.tbl'),
    (10, 'hostile.missing'),
    (11, 'hostile.echo(jsonb)'),
    (12, 'hostile.echo''); DROP TABLE hostile.tbl; --'),
    (13, '$$ SELECT 1 $$'),
    (14, ''),
    (15, repeat('x', 10000))
  ) AS t (id, resource),
  LATERAL orderflow.validate_definition(jsonb_build_object('StartAt', 'T', 'States',
      jsonb_build_object('T', jsonb_build_object('Type', 'Task', 'Resource', t.resource, 'End', true)))) AS p
ORDER BY t.id, p.code;
SELECT count(*) AS tbl_still_there FROM hostile.tbl;
SELECT * FROM hostile.counts();

--
-- Inputs over orderflow.max_payload_size (256 kB by default): refused with
-- the limit named, nothing written
--
SELECT orderflow.create_state_machine('hostile_echo',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "hostile.echo", "End": true}}}');
SELECT * FROM hostile.counts();
\set VERBOSITY default
SELECT orderflow.start_execution('hostile_echo', jsonb_build_object('blob', repeat('x', 300 * 1024)));
\set VERBOSITY terse
SELECT * FROM hostile.counts();
-- a bad execution name neither
SELECT hostile.try(format('SELECT orderflow.start_execution(%L, %L, %L)', 'hostile_echo', '{}', repeat('n', 81)));
SELECT hostile.try(format('SELECT orderflow.start_execution(%L, %L, %L)', 'hostile_echo', '{}', ''));
SELECT hostile.try(format('SELECT orderflow.start_execution(%L, %L)', 'no_such_machine', '{}'));
SELECT * FROM hostile.counts();

--
-- Task results: over the limit, NULL, not an object, a huge error message
--
CREATE FUNCTION hostile.grow(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('blob', repeat('y', (input->>'kb')::int * 1024)) $$;
CREATE FUNCTION hostile.null_result(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT NULL::jsonb';
CREATE FUNCTION hostile.scalar_result(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '42'::jsonb $$;
CREATE FUNCTION hostile.array_result(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '[1, "two"]'::jsonb $$;
CREATE FUNCTION hostile.huge_raise(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN RAISE EXCEPTION '%', repeat('boom ', 200000); END $$;
CREATE FUNCTION hostile.huge_named_error(input jsonb) RETURNS jsonb LANGUAGE plpgsql
AS $$ BEGIN PERFORM orderflow.raise_error(repeat('E', 1000), repeat('cause ', 200000)); RETURN NULL; END $$;
SELECT orderflow.create_state_machine('hostile_' || f, jsonb_build_object('StartAt', 'T', 'States',
         jsonb_build_object('T', jsonb_build_object('Type', 'Task', 'Resource', 'hostile.' || f, 'End', true))))
  FROM unnest(ARRAY['grow', 'null_result', 'scalar_result', 'array_result', 'huge_raise', 'huge_named_error']) AS f;
-- 300 kB result: the execution fails, naming the limit
CALL hostile.run('hostile_grow', '{"kb": 300}');
-- 100 kB is fine
CALL hostile.run('hostile_grow', '{"kb": 100}');
CALL hostile.run('hostile_null_result');
CALL hostile.run('hostile_scalar_result');
CALL hostile.run('hostile_array_result');
CALL hostile.run('hostile_huge_raise');
CALL hostile.run('hostile_huge_named_error');
SELECT max(length(cause)) AS longest_cause, max(length(error)) AS longest_error
  FROM orderflow.executions WHERE state_machine LIKE 'hostile%';
-- a state output over the limit (Pass building it from the input)
SELECT orderflow.create_state_machine('hostile_pass_grow', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {"a.$": "$.s", "b.$": "$.s", "c.$": "$.s"}, "End": true}}}');
CALL hostile.run('hostile_pass_grow', jsonb_build_object('s', repeat('z', 100 * 1024)));

-- every execution ended, each with one ExecutionStarted and one end event
-- (the numbers of rows added are in the counts)
SELECT e.state_machine, e.status, count(*) FILTER (WHERE h.type = 'ExecutionStarted') AS started,
       count(*) FILTER (WHERE h.type IN ('ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted')) AS ended
  FROM orderflow.executions AS e JOIN orderflow.execution_history AS h ON h.execution_id = e.id
 WHERE e.state_machine LIKE 'hostile%'
 GROUP BY e.id, e.state_machine, e.status ORDER BY 1, 2;

SELECT orderflow.delete_state_machine(name, force => true) FROM orderflow.state_machines
 WHERE name LIKE 'hostile%' AND deleted_at IS NULL ORDER BY name;
DROP SCHEMA hostile CASCADE;
