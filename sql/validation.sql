--
-- validation: validate_definition() reports every problem with a stable code
-- and a JSON location (RFC 6901 pointer); create_state_machine() and
-- update_state_machine() refuse invalid definitions with one ERROR whose
-- DETAIL lists every problem; names; versions.
--
CREATE SCHEMA vd;
CREATE FUNCTION vd.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';
CREATE FUNCTION vd.not_jsonb(input jsonb) RETURNS text LANGUAGE sql AS 'SELECT input::text';

-- definitions to check, numbered; vd.problems() lists their problems in
-- the order validate_definition() reports them
CREATE TABLE vd.cases (id integer PRIMARY KEY, what text, definition jsonb);
CREATE FUNCTION vd.problems(first integer, last integer)
RETURNS TABLE (id integer, severity text, code text, location text, message text)
LANGUAGE sql AS $$
    SELECT c.id, p.severity, p.code, p.location, p.message
      FROM vd.cases AS c,
           LATERAL orderflow.validate_definition(c.definition) WITH ORDINALITY
                   AS p (severity, code, location, message, n)
     WHERE c.id BETWEEN first AND last
     ORDER BY c.id, p.n
$$;

-- a valid definition: no rows
SELECT count(*) FROM orderflow.validate_definition(
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "vd.echo", "End": true}}}');

--
-- The document and the machine
--
INSERT INTO vd.cases VALUES
 (1, 'not an object', '["StartAt"]'),
 (2, 'a string', '"hello"'),
 (3, 'no StartAt', '{"States": {"A": {"Type": "Succeed"}}}'),
 (4, 'no States', '{"StartAt": "A"}'),
 (5, 'empty States', '{"StartAt": "A", "States": {}}'),
 (6, 'States not an object', '{"StartAt": "A", "States": [{"Type": "Succeed"}]}'),
 (7, 'StartAt names no state', '{"StartAt": "Nope", "States": {"A": {"Type": "Succeed"}}}'),
 (8, 'unknown top-level field', '{"StartAt": "A", "Extra": 1, "States": {"A": {"Type": "Succeed"}}}'),
 (9, 'TimeoutSeconds 0', '{"StartAt": "A", "TimeoutSeconds": 0, "States": {"A": {"Type": "Succeed"}}}'),
 (10, 'JSONata', '{"QueryLanguage": "JSONata", "StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'),
 (11, 'StartAt not a string', '{"StartAt": 1, "States": {"A": {"Type": "Succeed"}}}');
SELECT * FROM vd.problems(1, 11);

--
-- States and transitions
--
INSERT INTO vd.cases VALUES
 (20, 'no Type', '{"StartAt": "A", "States": {"A": {"End": true}}}'),
 (21, 'unknown Type', '{"StartAt": "A", "States": {"A": {"Type": "Lambda", "End": true}}}'),
 (22, 'neither Next nor End', '{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}'),
 (23, 'Next and End', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B", "End": true}, "B": {"Type": "Succeed"}}}'),
 (24, 'End false without Next', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": false}}}'),
 (25, 'Next names no state', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}'),
 (26, 'unreachable state', '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}}'),
 (27, 'Fail with Next', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "F"}, "F": {"Type": "Fail", "Next": "A"}}}'),
 (28, 'Succeed with End', '{"StartAt": "A", "States": {"A": {"Type": "Succeed", "End": true}}}'),
 (29, 'Choice with End', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "End": true, "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (30, 'field of another state type', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Resource": "vd.echo", "Retry": [], "ResultSelector": {}, "End": true}}}'),
 (31, 'misspelt field', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "next": "B", "End": true}, "B": {"Type": "Succeed"}}}'),
 (32, 'state name too long', jsonb_build_object('StartAt', repeat('n', 81), 'States', jsonb_build_object(repeat('n', 81), '{"Type": "Succeed"}'::jsonb))),
 (33, 'InputPath on Fail', '{"StartAt": "F", "States": {"F": {"Type": "Fail", "InputPath": "$.a"}}}'),
 (34, 'End not a boolean', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": "yes"}}}'),
 (35, 'a cycle with no way out', '{"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Wait", "Seconds": 1, "Next": "A"}}}'),
 (36, 'a branch with no way out', '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "B"}}}]}}}');
SELECT * FROM vd.problems(20, 36);

--
-- Task
--
INSERT INTO vd.cases VALUES
 (40, 'no Resource', '{"StartAt": "T", "States": {"T": {"Type": "Task", "End": true}}}'),
 (41, 'empty Resource', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "", "End": true}}}'),
 (42, 'no such function', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.nope", "End": true}}}'),
 (43, 'not returning jsonb', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.not_jsonb", "End": true}}}'),
 (44, 'unregistered ARN', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}}'),
 (45, 'both timeout forms', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t", "End": true}}}'),
 (46, 'TimeoutSeconds 0', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "TimeoutSeconds": 0, "End": true}}}'),
 (47, 'TimeoutSeconds 1.5', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "TimeoutSeconds": 1.5, "End": true}}}'),
 (48, 'heartbeat not below timeout', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "TimeoutSeconds": 5, "HeartbeatSeconds": 5, "End": true}}}'),
 (49, 'Credentials', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Credentials": {"RoleArn": "x"}, "End": true}}}'),
 (50, 'TimeoutSecondsPath not a reference path', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "TimeoutSecondsPath": "$.a[*]", "End": true}}}');
SELECT * FROM vd.problems(40, 50);

--
-- Retry and Catch
--
INSERT INTO vd.cases VALUES
 (60, 'MaxAttempts a string', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": "3"}], "End": true}}}'),
 (61, 'MaxAttempts negative', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": -1}], "End": true}}}'),
 (62, 'IntervalSeconds 0', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["E"], "IntervalSeconds": 0}], "End": true}}}'),
 (63, 'BackoffRate below 1', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["E"], "BackoffRate": 0.5}], "End": true}}}'),
 (64, 'empty ErrorEquals', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": []}], "End": true}}}'),
 (65, 'no ErrorEquals', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"MaxAttempts": 1}], "End": true}}}'),
 (66, 'States.ALL not alone', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["States.ALL", "E"]}], "End": true}}}'),
 (67, 'States.ALL not last', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["E"]}], "End": true}}}'),
 (68, 'bad JitterStrategy and unknown field', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": ["E"], "JitterStrategy": "SOME", "Delay": 1}], "End": true}}}'),
 (69, 'Retry not an array', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": {"ErrorEquals": ["E"]}, "End": true}}}'),
 (70, 'catcher without Next', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Catch": [{"ErrorEquals": ["States.ALL"]}], "End": true}}}'),
 (71, 'catcher Next names no state', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Catch": [{"ErrorEquals": ["E"], "Next": "Nowhere"}], "End": true}}}'),
 (72, 'catcher ResultPath not a reference path', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Catch": [{"ErrorEquals": ["E"], "Next": "H", "ResultPath": "$.e[*]"}], "End": true}, "H": {"Type": "Succeed"}}}'),
 (73, 'Catch States.ALL not last', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "H"}, {"ErrorEquals": ["E"], "Next": "H"}], "End": true}, "H": {"Type": "Succeed"}}}'),
 (74, 'error name not a string', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "Retry": [{"ErrorEquals": [1]}], "End": true}}}');
SELECT * FROM vd.problems(60, 74);

--
-- Choice
--
INSERT INTO vd.cases VALUES
 (80, 'no Choices', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Default": "S"}, "S": {"Type": "Succeed"}}}'),
 (81, 'empty Choices', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [], "Default": "S"}, "S": {"Type": "Succeed"}}}'),
 (82, 'rule without Next', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true}], "Default": "S"}, "S": {"Type": "Succeed"}}}'),
 (83, 'Next inside And', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"And": [{"Variable": "$.a", "IsPresent": true, "Next": "S"}], "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (84, 'two operators', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEquals": "x", "IsPresent": true, "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (85, 'no operator', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (86, 'no Variable', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"StringEquals": "x", "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (87, 'Variable with And', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "And": [{"Variable": "$.a", "IsPresent": true}], "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (88, 'unknown operator', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "StringEq": "x", "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (89, 'operand types', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
      {"Variable": "$.a", "NumericEquals": "1", "Next": "S"},
      {"Variable": "$.a", "StringEquals": 1, "Next": "S"},
      {"Variable": "$.a", "BooleanEquals": "true", "Next": "S"},
      {"Variable": "$.a", "TimestampEquals": "2024-01-01", "Next": "S"},
      {"Variable": "$.a", "IsNull": "yes", "Next": "S"},
      {"Variable": "$.a", "StringEqualsPath": "not a path", "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (90, 'Default names no state', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsPresent": true, "Next": "S"}], "Default": "Nowhere"}, "S": {"Type": "Succeed"}}}'),
 (91, 'Not with an array, empty Or', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Not": [{"Variable": "$.a", "IsPresent": true}], "Next": "S"}, {"Or": [], "Next": "S"}]}, "S": {"Type": "Succeed"}}}'),
 (92, 'Variable not a path', '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [{"Variable": "a", "IsPresent": true, "Next": "S"}]}, "S": {"Type": "Succeed"}}}');
SELECT * FROM vd.problems(80, 92);

--
-- Wait, Fail
--
INSERT INTO vd.cases VALUES
 (100, 'two durations', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": true}}}'),
 (101, 'no duration', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "End": true}}}'),
 (102, 'negative Seconds', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": -1, "End": true}}}'),
 (103, 'Seconds a string', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": "5", "End": true}}}'),
 (104, 'Timestamp without a zone', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Timestamp": "2024-01-01T00:00:00", "End": true}}}'),
 (105, 'SecondsPath not a path', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "SecondsPath": "delay", "End": true}}}'),
 (106, 'Error and ErrorPath', '{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "E", "ErrorPath": "$.e", "Cause": "c", "CausePath": "$.c"}}}'),
 (107, 'Error not a string', '{"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": 42}}}');
SELECT * FROM vd.problems(100, 107);

--
-- Paths and payload templates
--
INSERT INTO vd.cases VALUES
 (110, 'InputPath without $', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "a.b", "End": true}}}'),
 (111, 'OutputPath not a string', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "OutputPath": 5, "End": true}}}'),
 (112, 'ResultPath with a wildcard', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "ResultPath": "$.a[*]", "End": true}}}'),
 (113, 'ResultPath into $$', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "ResultPath": "$$.Execution", "End": true}}}'),
 (114, 'Parameters value not a path', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "not a path"}, "End": true}}}'),
 (115, 'unknown intrinsic', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"a.$": "States.Nope($.x)"}, "End": true}}}'),
 (116, 'nested Parameters problem', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"outer": {"inner.$": 5}}, "End": true}}}'),
 (117, 'ResultSelector problem', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo", "ResultSelector": {"x.$": "$["}, "End": true}}}'),
 (118, 'unbalanced brackets', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "InputPath": "$.a[0", "End": true}}}');
SELECT * FROM vd.problems(110, 118);

--
-- Parallel and Map (checked even where they cannot run yet)
--
INSERT INTO vd.cases VALUES
 (120, 'branch jumps out', '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "Next": "Outside"}}}]}, "Outside": {"Type": "Succeed"}}}'),
 (121, 'duplicate name in a branch', '{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
      {"StartAt": "P", "States": {"P": {"Type": "Succeed"}}}]}}}'),
 (122, 'ItemProcessor and Iterator', '{"StartAt": "M", "States": {"M": {"Type": "Map", "End": true,
      "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Succeed"}}},
      "Iterator": {"StartAt": "J", "States": {"J": {"Type": "Succeed"}}}}}}');
SELECT * FROM vd.problems(120, 122);

--
-- Several problems at once: all of them are reported
--
INSERT INTO vd.cases VALUES
 (130, 'many problems', '{"StartAt": "A", "States": {
    "A": {"Type": "Task", "Resource": "vd.nope", "TimeoutSeconds": -5, "Next": "B"},
    "B": {"Type": "Wait", "Next": "Gone"},
    "C": {"Type": "Pass", "InputPath": "nope", "End": true}}}');
SELECT * FROM vd.problems(130, 130);

--
-- Warnings alone do not make a definition invalid
--
INSERT INTO vd.cases VALUES
 (140, 'warnings only', '{"Version": "2.0", "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "vd.echo",
      "Retry": [{"ErrorEquals": ["States.Foo"]}], "Next": "Loop"},
      "Loop": {"Type": "Choice", "Choices": [{"Variable": "$.done", "IsPresent": true, "Next": "Done"}], "Default": "T"},
      "Done": {"Type": "Succeed"}}}');
SELECT * FROM vd.problems(140, 140);
-- (creating it is the last test of this file)

-- every invalid case above has at least one ERROR row
SELECT count(*) AS cases, count(*) FILTER (WHERE EXISTS (
         SELECT 1 FROM orderflow.validate_definition(c.definition) AS p
          WHERE p.severity = 'ERROR')) AS with_errors
  FROM vd.cases AS c WHERE c.id <> 140;

--
-- create_state_machine: one ERROR, every problem in DETAIL
--
\set SHOW_CONTEXT never
SELECT orderflow.create_state_machine('vd_bad', definition) FROM vd.cases WHERE id = 130;
\echo :LAST_ERROR_SQLSTATE
SELECT orderflow.create_state_machine('vd_bad', '{"StartAt": "A", "States": {"A": {"Type": "Pass"}}}');
-- nothing was stored
SELECT count(*) FROM orderflow.state_machines WHERE name = 'vd_bad';
-- each invalid case is refused by create_state_machine
DO $$
DECLARE
    c record;
    refused integer := 0;
BEGIN
    FOR c IN SELECT * FROM vd.cases WHERE id <> 140 ORDER BY id LOOP
        BEGIN
            PERFORM orderflow.create_state_machine('vd_case_' || c.id, c.definition);
            RAISE NOTICE 'case % (%) was accepted', c.id, c.what;
        EXCEPTION WHEN invalid_parameter_value THEN
            refused := refused + 1;
        END;
    END LOOP;
    RAISE NOTICE '% invalid definitions refused', refused;
END
$$;

--
-- Names
--
SELECT orderflow.create_state_machine('vd_machine',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "v1", "End": true}}}');
-- the same name again
SELECT orderflow.create_state_machine('vd_machine',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
\echo :LAST_ERROR_SQLSTATE
-- empty, too long, control characters
SELECT orderflow.create_state_machine('',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine(repeat('x', 81),
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine(E'tab\there',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
-- 80 characters are fine
SELECT orderflow.create_state_machine(repeat('x', 80),
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');

--
-- Versions: update_state_machine stores a new immutable version; an
-- execution keeps the version it started on
--
SELECT orderflow.update_state_machine('vd_machine',
  '{"StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},
    "P": {"Type": "Pass", "Result": "v2", "End": true}}}');
SELECT orderflow.start_execution('vd_machine', '{}', 'on-v2') IS NOT NULL AS started;
SELECT orderflow.update_state_machine('vd_machine',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": "v3", "End": true}}}');
SELECT orderflow.start_execution('vd_machine', '{}', 'on-v3') IS NOT NULL AS started;
SELECT name, orderflow.wait_for_execution(id, '30 s') AS status
  FROM orderflow.executions WHERE state_machine = 'vd_machine' ORDER BY name;
SELECT d.name, d.version, d.status, d.output
  FROM orderflow.executions AS e, orderflow.describe_execution(e.id) AS d
 WHERE e.state_machine = 'vd_machine' ORDER BY d.name;
SELECT latest_version FROM orderflow.state_machines WHERE name = 'vd_machine';
SELECT version, definition -> 'States' -> 'P' -> 'Result' AS result
  FROM orderflow.state_machine_versions WHERE state_machine = 'vd_machine' ORDER BY version;
-- an invalid update stores nothing
SELECT orderflow.update_state_machine('vd_machine', '{"StartAt": "Nope", "States": {}}');
SELECT latest_version FROM orderflow.state_machines WHERE name = 'vd_machine';
-- updating a state machine that does not exist
SELECT orderflow.update_state_machine('vd_no_such_machine',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
\echo :LAST_ERROR_SQLSTATE

--
-- A definition with warnings only can be created and updated (the
-- warnings are not errors).  Kept last in this file: when this crashed the
-- server, nothing after it ran.
--
SELECT orderflow.create_state_machine('vd_warnings_only', definition) FROM vd.cases WHERE id = 140;
SELECT orderflow.update_state_machine('vd_warnings_only', definition) FROM vd.cases WHERE id = 140;
SELECT orderflow.create_state_machine('vd_version_warning',
  '{"Version": "2.0", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
