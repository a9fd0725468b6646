--
-- choice_operators: every Choice comparison operator (literal and *Path
-- forms), the type tests, And/Or/Not, Default, States.NoChoiceMatched and
-- States.Runtime for an absent Variable.
--
-- To keep the suite fast, each group of rules becomes ONE state machine
-- (co.define): one Choice state per rule, whose two outcomes record true or
-- false under the rule's name.  One execution evaluates the whole group;
-- co.show() prints each rule next to its result.
--
CREATE SCHEMA co;

CREATE TABLE co.rules (sm text, i integer, name text, rule jsonb, PRIMARY KEY (sm, i));
CREATE TABLE co.results (sm text PRIMARY KEY, output jsonb);

CREATE FUNCTION co.define(machine text) RETURNS integer
LANGUAGE sql AS $$
  WITH r AS (SELECT i, name, rule, count(*) OVER () AS n FROM co.rules WHERE sm = machine)
  SELECT orderflow.create_state_machine(machine, jsonb_build_object(
    'StartAt', 'R1',
    'States', (SELECT jsonb_object_agg(k, v) FROM (
        SELECT 'R' || i AS k,
               jsonb_build_object('Type', 'Choice',
                   'Choices', jsonb_build_array(rule || jsonb_build_object('Next', 'T' || i)),
                   'Default', 'F' || i) AS v
          FROM r
        UNION ALL
        SELECT 'T' || i, jsonb_build_object('Type', 'Pass', 'Result', true,
                   'ResultPath', '$.results.' || name,
                   'Next', CASE WHEN i = n THEN 'Done' ELSE 'R' || (i + 1) END)
          FROM r
        UNION ALL
        SELECT 'F' || i, jsonb_build_object('Type', 'Pass', 'Result', false,
                   'ResultPath', '$.results.' || name,
                   'Next', CASE WHEN i = n THEN 'Done' ELSE 'R' || (i + 1) END)
          FROM r
        UNION ALL
        SELECT 'Done', '{"Type": "Pass", "OutputPath": "$.results", "End": true}'::jsonb
    ) AS states)))
$$;

-- run a group against an input and keep the output
CREATE PROCEDURE co.eval(machine text, input jsonb,
    INOUT status text DEFAULT NULL, INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
    out jsonb;
BEGIN
    id := orderflow.start_execution(machine, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error INTO status, out, error
      FROM orderflow.describe_execution(id) AS d;
    INSERT INTO co.results VALUES (machine, out);
END
$$;

CREATE FUNCTION co.show(machine text)
RETURNS TABLE (i integer, name text, rule text, result jsonb)
LANGUAGE sql AS $$
  SELECT r.i, r.name, r.rule::text, x.output -> r.name
    FROM co.rules AS r LEFT JOIN co.results AS x ON x.sm = r.sm
   WHERE r.sm = machine ORDER BY r.i
$$;

-- and for single machines: run, wait, report
CREATE PROCEDURE co.run(machine text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(machine, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error INTO status, output, error
      FROM orderflow.describe_execution(id) AS d;
END
$$;

--
-- String comparisons: by code point ("Zebra" < "apple", "10" < "9"),
-- case-sensitive, never coercing another JSON type.
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_string',  1, 'eq',              '{"Variable": "$.s", "StringEquals": "abc"}'),
 ('co_string',  2, 'eq_case',         '{"Variable": "$.s", "StringEquals": "ABC"}'),
 ('co_string',  3, 'eq_number',       '{"Variable": "$.num", "StringEquals": "1"}'),
 ('co_string',  4, 'eq_path',         '{"Variable": "$.s", "StringEqualsPath": "$.same"}'),
 ('co_string',  5, 'eq_path_differs', '{"Variable": "$.s", "StringEqualsPath": "$.other"}'),
 ('co_string',  6, 'lt_codepoint',    '{"Variable": "$.upper", "StringLessThan": "apple"}'),
 ('co_string',  7, 'lt_digits',       '{"Variable": "$.ten", "StringLessThan": "9"}'),
 ('co_string',  8, 'lt_equal',        '{"Variable": "$.s", "StringLessThan": "abc"}'),
 ('co_string',  9, 'lt_number',       '{"Variable": "$.num", "StringLessThan": "z"}'),
 ('co_string', 10, 'lt_path',         '{"Variable": "$.s", "StringLessThanPath": "$.other"}'),
 ('co_string', 11, 'gt',              '{"Variable": "$.lower", "StringGreaterThan": "Zebra"}'),
 ('co_string', 12, 'gt_non_ascii',    '{"Variable": "$.e_acute", "StringGreaterThan": "z"}'),
 ('co_string', 13, 'gt_equal',        '{"Variable": "$.s", "StringGreaterThan": "abc"}'),
 ('co_string', 14, 'gt_path',         '{"Variable": "$.other", "StringGreaterThanPath": "$.s"}'),
 ('co_string', 15, 'le_equal',        '{"Variable": "$.s", "StringLessThanEquals": "abc"}'),
 ('co_string', 16, 'le_greater',      '{"Variable": "$.other", "StringLessThanEquals": "abc"}'),
 ('co_string', 17, 'le_path',         '{"Variable": "$.s", "StringLessThanEqualsPath": "$.same"}'),
 ('co_string', 18, 'ge_equal',        '{"Variable": "$.s", "StringGreaterThanEquals": "abc"}'),
 ('co_string', 19, 'ge_less',         '{"Variable": "$.s", "StringGreaterThanEquals": "abd"}'),
 ('co_string', 20, 'ge_path',         '{"Variable": "$.other", "StringGreaterThanEqualsPath": "$.s"}'),
 ('co_string', 21, 'eq_empty',        '{"Variable": "$.empty", "StringEquals": ""}');
SELECT co.define('co_string');
CALL co.eval('co_string', '{"s": "abc", "same": "abc", "other": "abd", "upper": "Zebra",
  "lower": "apple", "ten": "10", "num": 1, "e_acute": "é", "empty": ""}');
SELECT * FROM co.show('co_string');

--
-- StringMatches: only * is special; \* is a literal star, \\ a backslash
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_matches',  1, 'star_middle',     '{"Variable": "$.file", "StringMatches": "log-*.txt"}'),
 ('co_matches',  2, 'star_empty_run',  '{"Variable": "$.bare", "StringMatches": "log-*.txt"}'),
 ('co_matches',  3, 'other_suffix',    '{"Variable": "$.file", "StringMatches": "log-*.csv"}'),
 ('co_matches',  4, 'star_alone',      '{"Variable": "$.empty", "StringMatches": "*"}'),
 ('co_matches',  5, 'whole_string',    '{"Variable": "$.multi", "StringMatches": "a*b"}'),
 ('co_matches',  6, 'two_stars',       '{"Variable": "$.multi", "StringMatches": "*c*c"}'),
 ('co_matches',  7, 'no_star_exact',   '{"Variable": "$.file", "StringMatches": "log-2024.txt"}'),
 ('co_matches',  8, 'case_sensitive',  '{"Variable": "$.file", "StringMatches": "LOG-*"}'),
 ('co_matches',  9, 'escaped_star',    '{"Variable": "$.star", "StringMatches": "a\\*b"}'),
 ('co_matches', 10, 'escaped_star_no', '{"Variable": "$.axb", "StringMatches": "a\\*b"}'),
 ('co_matches', 11, 'backslash_star',  '{"Variable": "$.path", "StringMatches": "C:\\\\*"}'),
 ('co_matches', 12, 'question_mark',   '{"Variable": "$.axb", "StringMatches": "a?b"}'),
 ('co_matches', 13, 'not_a_string',    '{"Variable": "$.num", "StringMatches": "*"}');
SELECT co.define('co_matches');
CALL co.eval('co_matches', '{"file": "log-2024.txt", "bare": "log-.txt", "empty": "",
  "multi": "abcabc", "star": "a*b", "axb": "axb", "path": "C:\\temp", "num": 5}');
SELECT * FROM co.show('co_matches');

--
-- Numeric comparisons: integers and decimals compare by value; a string
-- holding digits is not a number
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_numeric',  1, 'eq',           '{"Variable": "$.i", "NumericEquals": 10}'),
 ('co_numeric',  2, 'eq_decimal',   '{"Variable": "$.f", "NumericEquals": 10}'),
 ('co_numeric',  3, 'eq_string',    '{"Variable": "$.str", "NumericEquals": 10}'),
 ('co_numeric',  4, 'eq_path',      '{"Variable": "$.i", "NumericEqualsPath": "$.f"}'),
 ('co_numeric',  5, 'lt',           '{"Variable": "$.half", "NumericLessThan": 1}'),
 ('co_numeric',  6, 'lt_equal',     '{"Variable": "$.i", "NumericLessThan": 10}'),
 ('co_numeric',  7, 'lt_path',      '{"Variable": "$.i", "NumericLessThanPath": "$.other"}'),
 ('co_numeric',  8, 'gt_negative',  '{"Variable": "$.neg", "NumericGreaterThan": -4}'),
 ('co_numeric',  9, 'gt_exponent',  '{"Variable": "$.big", "NumericGreaterThan": 999.5}'),
 ('co_numeric', 10, 'gt_path',      '{"Variable": "$.i", "NumericGreaterThanPath": "$.other"}'),
 ('co_numeric', 11, 'le_equal',     '{"Variable": "$.i", "NumericLessThanEquals": 10}'),
 ('co_numeric', 12, 'le_path',      '{"Variable": "$.other", "NumericLessThanEqualsPath": "$.i"}'),
 ('co_numeric', 13, 'ge_decimal',   '{"Variable": "$.i", "NumericGreaterThanEquals": 10.0}'),
 ('co_numeric', 14, 'ge_less',      '{"Variable": "$.half", "NumericGreaterThanEquals": 0.6}'),
 ('co_numeric', 15, 'ge_path',      '{"Variable": "$.other", "NumericGreaterThanEqualsPath": "$.i"}'),
 ('co_numeric', 16, 'lt_bool',      '{"Variable": "$.bool", "NumericLessThan": 5}'),
 ('co_numeric', 17, 'eq_path_str',  '{"Variable": "$.i", "NumericEqualsPath": "$.str"}');
SELECT co.define('co_numeric');
CALL co.eval('co_numeric', '{"i": 10, "f": 10.0, "half": 0.5, "neg": -3, "big": 1e3,
  "other": 20, "str": "10", "bool": false}');
SELECT * FROM co.show('co_numeric');

--
-- BooleanEquals
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_boolean', 1, 'true_true',     '{"Variable": "$.yes", "BooleanEquals": true}'),
 ('co_boolean', 2, 'false_true',    '{"Variable": "$.no", "BooleanEquals": true}'),
 ('co_boolean', 3, 'false_false',   '{"Variable": "$.no", "BooleanEquals": false}'),
 ('co_boolean', 4, 'string_true',   '{"Variable": "$.str", "BooleanEquals": true}'),
 ('co_boolean', 5, 'number_true',   '{"Variable": "$.one", "BooleanEquals": true}'),
 ('co_boolean', 6, 'path_same',     '{"Variable": "$.yes", "BooleanEqualsPath": "$.also_yes"}'),
 ('co_boolean', 7, 'path_differs',  '{"Variable": "$.no", "BooleanEqualsPath": "$.yes"}');
SELECT co.define('co_boolean');
CALL co.eval('co_boolean', '{"yes": true, "no": false, "str": "true", "one": 1, "also_yes": true}');
SELECT * FROM co.show('co_boolean');

--
-- Timestamp comparisons: on instants (offsets and fractions count); a
-- string that is not a timestamp with a zone compares false
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_timestamp',  1, 'eq_offset',     '{"Variable": "$.offset", "TimestampEquals": "2024-01-01T08:00:00Z"}'),
 ('co_timestamp',  2, 'lt_offset',     '{"Variable": "$.offset", "TimestampLessThan": "2024-01-01T09:00:00Z"}'),
 ('co_timestamp',  3, 'gt_fraction',   '{"Variable": "$.frac", "TimestampGreaterThan": "2024-01-01T08:00:00Z"}'),
 ('co_timestamp',  4, 'le_equal',      '{"Variable": "$.t", "TimestampLessThanEquals": "2024-01-01T08:00:00Z"}'),
 ('co_timestamp',  5, 'ge_millis',     '{"Variable": "$.t", "TimestampGreaterThanEquals": "2024-01-01T08:00:00.001Z"}'),
 ('co_timestamp',  6, 'eq_path',       '{"Variable": "$.t", "TimestampEqualsPath": "$.offset"}'),
 ('co_timestamp',  7, 'lt_path',       '{"Variable": "$.t", "TimestampLessThanPath": "$.later"}'),
 ('co_timestamp',  8, 'gt_path',       '{"Variable": "$.t", "TimestampGreaterThanPath": "$.later"}'),
 ('co_timestamp',  9, 'le_path',       '{"Variable": "$.offset", "TimestampLessThanEqualsPath": "$.t"}'),
 ('co_timestamp', 10, 'ge_path',       '{"Variable": "$.later", "TimestampGreaterThanEqualsPath": "$.frac"}'),
 ('co_timestamp', 11, 'eq_date_only',  '{"Variable": "$.date", "TimestampEquals": "2024-01-01T00:00:00Z"}'),
 ('co_timestamp', 12, 'eq_no_zone',    '{"Variable": "$.no_zone", "TimestampEquals": "2024-01-01T08:00:00Z"}'),
 ('co_timestamp', 13, 'eq_number',     '{"Variable": "$.num", "TimestampEquals": "2024-01-01T08:00:00Z"}'),
 ('co_timestamp', 14, 'gt_day_change', '{"Variable": "$.next_day_early", "TimestampGreaterThan": "2024-01-01T23:00:00Z"}');
SELECT co.define('co_timestamp');
CALL co.eval('co_timestamp', '{"t": "2024-01-01T08:00:00Z", "offset": "2024-01-01T10:00:00+02:00",
  "frac": "2024-01-01T08:00:00.5Z", "later": "2024-01-01T09:00:00Z", "date": "2024-01-01",
  "no_zone": "2024-01-01T08:00:00", "num": 1, "next_day_early": "2024-01-02T00:30:00+01:00"}');
SELECT * FROM co.show('co_timestamp');

--
-- Type tests.  IsPresent is true for a field whose value is null.
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_types',  1, 'null_is_null',        '{"Variable": "$.nul", "IsNull": true}'),
 ('co_types',  2, 'string_is_null',      '{"Variable": "$.str", "IsNull": true}'),
 ('co_types',  3, 'string_is_not_null',  '{"Variable": "$.str", "IsNull": false}'),
 ('co_types',  4, 'null_is_present',     '{"Variable": "$.nul", "IsPresent": true}'),
 ('co_types',  5, 'missing_is_present',  '{"Variable": "$.missing", "IsPresent": true}'),
 ('co_types',  6, 'missing_not_present', '{"Variable": "$.missing", "IsPresent": false}'),
 ('co_types',  7, 'nested_missing',      '{"Variable": "$.obj.x.y", "IsPresent": true}'),
 ('co_types',  8, 'decimal_is_numeric',  '{"Variable": "$.num", "IsNumeric": true}'),
 ('co_types',  9, 'zero_is_numeric',     '{"Variable": "$.zero", "IsNumeric": true}'),
 ('co_types', 10, 'digits_is_numeric',   '{"Variable": "$.digits", "IsNumeric": true}'),
 ('co_types', 11, 'string_is_string',    '{"Variable": "$.str", "IsString": true}'),
 ('co_types', 12, 'number_is_string',    '{"Variable": "$.num", "IsString": true}'),
 ('co_types', 13, 'null_is_string',      '{"Variable": "$.nul", "IsString": true}'),
 ('co_types', 14, 'false_is_boolean',    '{"Variable": "$.bool", "IsBoolean": true}'),
 ('co_types', 15, 'string_not_boolean',  '{"Variable": "$.str", "IsBoolean": false}'),
 ('co_types', 16, 'ts_is_timestamp',     '{"Variable": "$.ts", "IsTimestamp": true}'),
 ('co_types', 17, 'date_is_timestamp',   '{"Variable": "$.date", "IsTimestamp": true}'),
 ('co_types', 18, 'no_zone_timestamp',   '{"Variable": "$.no_zone", "IsTimestamp": true}'),
 ('co_types', 19, 'number_timestamp',    '{"Variable": "$.num", "IsTimestamp": true}'),
 ('co_types', 20, 'date_not_timestamp',  '{"Variable": "$.date", "IsTimestamp": false}'),
 ('co_types', 21, 'object_is_null',      '{"Variable": "$.obj", "IsNull": true}'),
 ('co_types', 22, 'array_is_string',     '{"Variable": "$.arr", "IsString": true}');
SELECT co.define('co_types');
CALL co.eval('co_types', '{"nul": null, "str": "s", "num": 1.5, "zero": 0, "digits": "12",
  "bool": false, "obj": {}, "arr": [], "ts": "2024-01-01T00:00:00Z", "date": "2024-01-01",
  "no_zone": "2024-01-01T00:00:00"}');
SELECT * FROM co.show('co_types');

--
-- And, Or, Not, nesting, and short-circuit guards around absent fields
--
INSERT INTO co.rules (sm, i, name, rule) VALUES
 ('co_logic', 1, 'and_true',  '{"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "x"}]}'),
 ('co_logic', 2, 'and_false', '{"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "y"}]}'),
 ('co_logic', 3, 'or_true',   '{"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "StringEquals": "x"}]}'),
 ('co_logic', 4, 'or_false',  '{"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "StringEquals": "y"}]}'),
 ('co_logic', 5, 'not_true',  '{"Not": {"Variable": "$.a", "NumericEquals": 2}}'),
 ('co_logic', 6, 'not_false', '{"Not": {"Variable": "$.a", "NumericEquals": 1}}'),
 ('co_logic', 7, 'nested',    '{"Or": [{"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.b", "StringEquals": "y"}]},
                                      {"Not": {"Variable": "$.flag", "BooleanEquals": false}}]}'),
 ('co_logic', 8, 'and_guard', '{"And": [{"Variable": "$.missing", "IsPresent": true}, {"Variable": "$.missing", "NumericEquals": 1}]}'),
 ('co_logic', 9, 'or_guard',  '{"Or": [{"Variable": "$.missing", "IsPresent": false}, {"Variable": "$.missing", "NumericEquals": 1}]}'),
 ('co_logic', 10, 'and_single', '{"And": [{"Variable": "$.flag", "BooleanEquals": true}]}'),
 ('co_logic', 11, 'not_not',   '{"Not": {"Not": {"Variable": "$.flag", "BooleanEquals": true}}}');
SELECT co.define('co_logic');
CALL co.eval('co_logic', '{"a": 1, "b": "x", "flag": true}');
SELECT * FROM co.show('co_logic');

--
-- Rule order, Default, States.NoChoiceMatched
--
-- the FIRST matching rule wins
SELECT orderflow.create_state_machine('co_first_match',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericGreaterThan": 0, "Next": "Positive"},
            {"Variable": "$.n", "NumericGreaterThan": 10, "Next": "Big"}],
          "Default": "Other"},
    "Positive": {"Type": "Pass", "Result": "positive", "End": true},
    "Big": {"Type": "Pass", "Result": "big", "End": true},
    "Other": {"Type": "Pass", "Result": "other", "End": true}}}');
CALL co.run('co_first_match', '{"n": 50}');
CALL co.run('co_first_match', '{"n": -5}');

-- no match and no Default: States.NoChoiceMatched
SELECT orderflow.create_state_machine('co_no_default',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericEquals": 1, "Next": "One"}]},
    "One": {"Type": "Succeed"}}}');
CALL co.run('co_no_default', '{"n": 1}');
CALL co.run('co_no_default', '{"n": 2}');

-- a comparison on an absent Variable fails the execution with States.Runtime,
-- even when a Default exists
SELECT orderflow.create_state_machine('co_absent',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericEquals": 1, "Next": "One"}],
          "Default": "Other"},
    "One": {"Type": "Succeed"},
    "Other": {"Type": "Succeed"}}}');
CALL co.run('co_absent', '{"m": 1}');
-- ... also when the value is there but its parent is not an object
CALL co.run('co_absent', '[1, 2]');
-- a null value is present: the comparison is just false
CALL co.run('co_absent', '{"n": null}');

-- an absent *Path operand is a States.Runtime failure too
SELECT orderflow.create_state_machine('co_absent_operand',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.n", "NumericEqualsPath": "$.limit", "Next": "Same"}],
          "Default": "Other"},
    "Same": {"Type": "Succeed"},
    "Other": {"Type": "Succeed"}}}');
CALL co.run('co_absent_operand', '{"n": 1, "limit": 1}');
CALL co.run('co_absent_operand', '{"n": 1}');

-- an absent Variable in a later rule fails only if that rule is reached
SELECT orderflow.create_state_machine('co_absent_later_rule',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$.kind", "StringEquals": "a", "Next": "A"},
            {"Variable": "$.missing", "StringEquals": "b", "Next": "B"}],
          "Default": "A"},
    "A": {"Type": "Pass", "Result": "a", "End": true},
    "B": {"Type": "Pass", "Result": "b", "End": true}}}');
CALL co.run('co_absent_later_rule', '{"kind": "a"}');
CALL co.run('co_absent_later_rule', '{"kind": "z"}');

-- Choice with InputPath and OutputPath; rules see the InputPath result
SELECT orderflow.create_state_machine('co_paths',
  '{"StartAt": "C", "States": {
    "C": {"Type": "Choice", "InputPath": "$.order", "OutputPath": "$.id",
          "Choices": [{"Variable": "$.total", "NumericGreaterThanEquals": 100, "Next": "Large"}],
          "Default": "Small"},
    "Large": {"Type": "Pass", "Parameters": {"large.$": "$"}, "End": true},
    "Small": {"Type": "Pass", "Parameters": {"small.$": "$"}, "End": true}}}');
CALL co.run('co_paths', '{"order": {"id": "o-1", "total": 150}, "total": 1}');
CALL co.run('co_paths', '{"order": {"id": "o-2", "total": 10}, "total": 1000}');

-- a Variable may read the context object
SELECT orderflow.create_state_machine('co_context_variable',
  '{"StartAt": "Reshape", "States": {
    "Reshape": {"Type": "Pass", "Result": {}, "Next": "C"},
    "C": {"Type": "Choice", "Choices": [
            {"Variable": "$$.Execution.Input.vip", "BooleanEquals": true, "Next": "Vip"}],
          "Default": "Normal"},
    "Vip": {"Type": "Pass", "Result": "vip", "End": true},
    "Normal": {"Type": "Pass", "Result": "normal", "End": true}}}');
CALL co.run('co_context_variable', '{"vip": true}');
CALL co.run('co_context_variable', '{"vip": false}');
