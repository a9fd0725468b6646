--
-- bounded_eval: evaluations over hostile inputs stay bounded (issue 10,
-- findings 6 and 7), through real executions run by the workers.
--
-- * results are checked against orderflow.max_payload_size while they are
--   built: nested States.Format fails with States.DataLimitExceeded at the
--   level that crosses the limit (it used to build hundreds of MB first);
-- * a path expansion such as $..*..* over a 4 kB input fails the same way
--   (it used to take a worker to 1.6 GB);
-- * StringMatches with a 130,000-character pattern against 260,000
--   characters, and States.StringSplit of 50 kB by 50 kB of delimiters,
--   give the right answers in linear time (they took 28 s and 30 s, longer
--   than the 15 s these waits allow).
--
-- Memory and cancellation are watched by test/t/013_bounded_memory.pl.
--
CREATE SCHEMA bounded;
-- start an execution, wait up to 15 s, return how it ended
CREATE PROCEDURE bounded.run(sm text, input jsonb,
    INOUT status text DEFAULT NULL, INOUT output text DEFAULT NULL,
    INOUT error text DEFAULT NULL, INOUT cause text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '15 s');
    SELECT d.status, left(d.output::text, 60), d.error, d.cause
      INTO status, output, error, cause
      FROM orderflow.describe_execution(id) AS d;
END
$$;
-- States.Format('{}{}', e, e) nested `levels` times around $.s
CREATE FUNCTION bounded.format_bomb(levels int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    e text := '$.s';
BEGIN
    FOR i IN 1 .. levels LOOP
        e := format('States.Format(''{}{}'', %s, %s)', e, e);
    END LOOP;
    RETURN e;
END
$$;
-- {"a": {"a": ... {"a": 1, "b": 12} ..., "b": 12}, "b": 12}, `depth` levels
CREATE FUNCTION bounded.nested(depth int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t text := '1';
BEGIN
    FOR i IN 1 .. depth LOOP
        t := '{"a":' || t || ',"b":12}';
    END LOOP;
    RETURN t::jsonb;
END
$$;

SHOW orderflow.max_payload_size;

--
-- Nested States.Format: 10 levels over 64 kB would be 64 MB; the third
-- level (512 kB) is refused while it is built
--
SELECT orderflow.create_state_machine('bounded_format', jsonb_build_object(
  'StartAt', 'P', 'States', jsonb_build_object('P', jsonb_build_object(
    'Type', 'Pass', 'End', true,
    'Parameters', jsonb_build_object('r.$', bounded.format_bomb(10))))));
CALL bounded.run('bounded_format', jsonb_build_object('s', repeat('x', 64 * 1024)));
-- the same definition is fine on a small input (1 kB after 10 levels)
CALL bounded.run('bounded_format', '{"s": "x"}');

--
-- $..*..* over a 4 kB input
--
SELECT length(bounded.nested(250)::text) AS input_bytes;
SELECT orderflow.create_state_machine('bounded_path', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {"r.$": "$..*..*"}, "End": true}}}');
CALL bounded.run('bounded_path', bounded.nested(250));
-- a small input still works: every value below every value
CALL bounded.run('bounded_path', bounded.nested(2));
-- the node cap: a third scan visits millions of values (selecting none)
SELECT orderflow.create_state_machine('bounded_path3', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {"r.$": "$..*..*..zz"}, "End": true}}}');
CALL bounded.run('bounded_path3', bounded.nested(250));

--
-- StringMatches: *aaa...ab* (130,000 characters) against 260,000: a
-- backtracking matcher retries the long segment at every position
--
SELECT orderflow.create_state_machine('bounded_matches', jsonb_build_object(
  'StartAt', 'C', 'States', jsonb_build_object(
    'C', jsonb_build_object('Type', 'Choice',
      'Choices', jsonb_build_array(jsonb_build_object(
        'Variable', '$.t', 'StringMatches', '*' || repeat('a', 129997) || 'b*', 'Next', 'Yes')),
      'Default', 'No'),
    'Yes', '{"Type": "Pass", "Result": "matched", "End": true}'::jsonb,
    'No', '{"Type": "Pass", "Result": "no match", "End": true}'::jsonb)));
SELECT length(definition -> 'States' -> 'C' -> 'Choices' -> 0 ->> 'StringMatches') AS pattern_chars
  FROM orderflow.state_machine_versions WHERE state_machine = 'bounded_matches';
CALL bounded.run('bounded_matches', jsonb_build_object('t', repeat('a', 260000)));
CALL bounded.run('bounded_matches', jsonb_build_object('t', repeat('a', 259999) || 'b'));
CALL bounded.run('bounded_matches', jsonb_build_object('t', 'b' || repeat('a', 259999)));

--
-- StringSplit: 50 kB by 50 kB of delimiters
--
SELECT orderflow.create_state_machine('bounded_split', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {
    "n.$": "States.ArrayLength(States.StringSplit($.s, $.d))",
    "first.$": "States.ArrayGetItem(States.StringSplit($.s, $.d), 0)",
    "last.$": "States.ArrayGetItem(States.StringSplit($.s, $.d), 16665)"}, "End": true}}}');
CALL bounded.run('bounded_split', jsonb_build_object(
  's', repeat('ab,cd;', 8333), 'd', repeat(',;', 25000)));

SELECT orderflow.delete_state_machine(name, force => true) FROM orderflow.state_machines
 WHERE name LIKE 'bounded%' ORDER BY name;
DROP SCHEMA bounded CASCADE;
