--
-- intrinsics: every intrinsic function of the JSONPath flavour, run by the
-- background workers in real executions (a Pass state whose Parameters hold
-- "key.$": "States.Fn(...)"), with each function's error cases.
--
-- Bad data fails the execution with States.Runtime, as AWS reports it (the
-- specification's States.IntrinsicFailure is not used); States.Runtime is
-- never caught.  Literal arguments that are wrong whatever the data are
-- refused when the definition is created.  Only status and error are
-- printed for failures (the cause is the engine's own wording: it is only
-- checked to name the function).  UUID and MathRandom are checked by shape.
--
CREATE SCHEMA intr;

-- intr.run(name, parameters, input): creates state machine intr_<name> with
-- one Pass state carrying these Parameters, runs it, returns its status and
-- error; intr.out() lists the output's keys, one row each.
CREATE PROCEDURE intr.run(name text, parameters jsonb, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    PERFORM orderflow.create_state_machine('intr_' || name,
        jsonb_build_object('StartAt', 'P', 'States', jsonb_build_object('P',
            jsonb_build_object('Type', 'Pass', 'Parameters', parameters, 'End', true))));
    id := orderflow.start_execution('intr_' || name, input);
    PERFORM set_config('intr.last', id::text, false);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.error INTO status, error FROM orderflow.describe_execution(id) AS d;
END
$$;

CREATE FUNCTION intr.out() RETURNS TABLE (key text, value jsonb)
LANGUAGE sql AS $$
    SELECT e.key, e.value
      FROM orderflow.executions AS x, jsonb_each(x.output) AS e
     WHERE x.id = current_setting('intr.last')::uuid
     ORDER BY e.key COLLATE "C"
$$;

CREATE FUNCTION intr.output() RETURNS jsonb
LANGUAGE sql AS $$
    SELECT output FROM orderflow.executions WHERE id = current_setting('intr.last')::uuid
$$;

-- a general runner for the definitions further down
CREATE PROCEDURE intr.run_sm(sm text, input jsonb DEFAULT '{}',
    INOUT status text DEFAULT NULL, INOUT output jsonb DEFAULT NULL,
    INOUT error text DEFAULT NULL)
LANGUAGE plpgsql AS $$
DECLARE
    id uuid;
BEGIN
    id := orderflow.start_execution(sm, input);
    COMMIT;
    PERFORM orderflow.wait_for_execution(id, '30 s');
    SELECT d.status, d.output, d.error INTO status, output, error
      FROM orderflow.describe_execution(id) AS d;
END
$$;

CREATE FUNCTION intr.echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';

--
-- States.Format
--
CALL intr.run('format', $j${
  "msg.$": "States.Format('Order {} has {} lines, express={}', $.id, $.lines, $.express)",
  "plain.$": "States.Format('no placeholders')",
  "types.$": "States.Format('{}|{}|{}|{}|{}', $.kg, $.gift, $.tags, $.obj, $.neg)",
  "raw.$": "States.Format('[{}]', $.braces)",
  "computed.$": "States.Format($.template, $.id, 2)",
  "quote.$": "States.Format('it\\'s {}', $.id)",
  "braces.$": "States.Format('\\{\\} stays, {} is filled', $.id)",
  "backslash.$": "States.Format('C:\\\\{}', $.id)",
  "empty.$": "States.Format('')"
}$j$, '{"id": "ORD-1", "lines": 3, "express": true, "kg": 2.5, "gift": null,
        "tags": ["a", "b"], "obj": {"k": "v"}, "neg": -7, "braces": "{}",
        "template": "{} x {}"}');
SELECT * FROM intr.out();

--
-- States.StringToJson, States.JsonToString
--
CALL intr.run('json', $j${
  "parsed.$": "States.StringToJson($.text)",
  "number.$": "States.StringToJson('42')",
  "string.$": "States.StringToJson($.quoted)",
  "nul.$": "States.StringToJson('null')",
  "compact.$": "States.JsonToString($.obj)",
  "str.$": "States.JsonToString($.s)",
  "num.$": "States.JsonToString($.n)",
  "arr.$": "States.JsonToString($.arr)",
  "roundtrip.$": "States.StringToJson(States.JsonToString($.obj))"
}$j$, '{"text": "{\"sku\": \"SKU-1\", \"qty\": [1, 2]}", "quoted": "\"s\"",
        "obj": {"a": 1, "b": [1, 2], "c": {"d": null}, "e": "say \"hi\""},
        "s": "x", "n": 1.5, "arr": [true, null, "q"]}');
SELECT * FROM intr.out();

--
-- States.Array, ArrayPartition, ArrayContains, ArrayRange, ArrayGetItem,
-- ArrayLength, ArrayUnique
--
CALL intr.run('array', $j${
  "empty.$": "States.Array()",
  "mixed.$": "States.Array(1, 'two', true, null, -1.5, $.obj, $.list)",
  "escaped.$": "States.Array('it\\'s', '\\{\\}', 'a,b')"
}$j$, '{"obj": {"k": 1}, "list": [1, 2]}');
SELECT * FROM intr.out();

CALL intr.run('array_partition', $j${
  "pairs.$": "States.ArrayPartition($.l, 2)",
  "one_chunk.$": "States.ArrayPartition($.l, 10)",
  "singles.$": "States.ArrayPartition($.l, 1)",
  "empty.$": "States.ArrayPartition($.e, 3)",
  "by_path.$": "States.ArrayPartition($.l, $.size)"
}$j$, '{"l": [1, "b", {"c": 3}, [4], null], "e": [], "size": 4}');
SELECT * FROM intr.out();

CALL intr.run('array_contains', $j${
  "yes.$": "States.ArrayContains($.list, 3)",
  "no.$": "States.ArrayContains($.list, 42)",
  "string_is_not_number.$": "States.ArrayContains($.list, '3')",
  "deep_object.$": "States.ArrayContains($.objs, $.needle)",
  "deep_key_order.$": "States.ArrayContains($.objs, $.reordered)",
  "null.$": "States.ArrayContains($.objs, null)",
  "empty.$": "States.ArrayContains($.none, 1)"
}$j$, '{"list": [1, 2, 3], "objs": [{"a": 1}, {"b": [2], "c": "x"}, null],
        "needle": {"b": [2], "c": "x"}, "reordered": {"c": "x", "b": [2]}, "none": []}');
SELECT * FROM intr.out();

CALL intr.run('array_range', $j${
  "odd.$": "States.ArrayRange(1, 9, 2)",
  "end_not_reached.$": "States.ArrayRange(1, 10, 4)",
  "down.$": "States.ArrayRange(5, -5, -5)",
  "single.$": "States.ArrayRange(3, 3, 1)",
  "empty_up.$": "States.ArrayRange(5, 1, 1)",
  "empty_down.$": "States.ArrayRange(1, 5, -1)",
  "by_path.$": "States.ArrayRange($.a, $.b, $.s)",
  "length_1000.$": "States.ArrayLength(States.ArrayRange(1, 1000, 1))"
}$j$, '{"a": 10, "b": 20, "s": 5}');
SELECT * FROM intr.out();

CALL intr.run('array_get_item', $j${
  "first.$": "States.ArrayGetItem($.list, 0)",
  "last.$": "States.ArrayGetItem($.list, 3)",
  "by_path.$": "States.ArrayGetItem($.list, $.i)",
  "object.$": "States.ArrayGetItem($.list, 2)",
  "nested.$": "States.ArrayGetItem(States.ArrayPartition($.list, 2), 1)"
}$j$, '{"list": ["a", null, {"k": [1]}, 4], "i": 1}');
SELECT * FROM intr.out();

CALL intr.run('array_length_unique', $j${
  "length.$": "States.ArrayLength($.dups)",
  "length_empty.$": "States.ArrayLength($.none)",
  "unique.$": "States.ArrayUnique($.dups)",
  "unique_empty.$": "States.ArrayUnique($.none)",
  "unique_length.$": "States.ArrayLength(States.ArrayUnique($.dups))"
}$j$, '{"dups": [1, 1, "1", {"a": 1, "b": 2}, {"b": 2, "a": 1}, null, null, [1, 2], [2, 1], [1, 2], true, 2],
        "none": []}');
SELECT * FROM intr.out();

--
-- States.Base64Encode, States.Base64Decode
--
CALL intr.run('base64', $j${
  "enc.$": "States.Base64Encode($.label)",
  "enc_pad1.$": "States.Base64Encode('ab')",
  "enc_pad2.$": "States.Base64Encode('a')",
  "enc_empty.$": "States.Base64Encode('')",
  "enc_utf8.$": "States.Base64Encode($.utf8)",
  "dec.$": "States.Base64Decode($.b64)",
  "dec_utf8.$": "States.Base64Decode('Y3LDqG1lIGJyw7tsw6ll')",
  "roundtrip.$": "States.Base64Decode(States.Base64Encode($.label))"
}$j$, '{"label": "ORD-1001|SKU-RED-1|qty=2", "b64": "aGVsbG8gd29ybGQ=", "utf8": "crème brûlée"}');
SELECT * FROM intr.out();

--
-- States.Hash: every algorithm, fixed inputs (digests checked against
-- md5sum, sha1sum, sha256sum, sha384sum and sha512sum)
--
CALL intr.run('hash', $j${
  "md5.$": "States.Hash($.data, 'MD5')",
  "sha1.$": "States.Hash($.data, 'SHA-1')",
  "sha256.$": "States.Hash($.data, 'SHA-256')",
  "sha384.$": "States.Hash($.data, 'SHA-384')",
  "sha512.$": "States.Hash($.data, $.algorithm)",
  "md5_utf8.$": "States.Hash($.utf8, 'MD5')",
  "sha256_utf8.$": "States.Hash($.utf8, 'SHA-256')",
  "sha1_empty.$": "States.Hash('', 'SHA-1')",
  "md5_of_format.$": "States.Hash(States.Format('{}{}', 'order', 'flow'), 'MD5')"
}$j$, '{"data": "orderflow", "utf8": "crème brûlée", "algorithm": "SHA-512"}');
SELECT * FROM intr.out();
-- the same digests as PostgreSQL's own functions
SELECT o ->> 'md5' = md5('orderflow') AS md5,
       o ->> 'sha256' = encode(sha256('orderflow'), 'hex') AS sha256,
       o ->> 'sha384' = encode(sha384('orderflow'), 'hex') AS sha384,
       o ->> 'sha512' = encode(sha512('orderflow'), 'hex') AS sha512,
       o ->> 'sha256_utf8' = encode(sha256(convert_to('crème brûlée', 'UTF8')), 'hex') AS sha256_utf8
  FROM intr.output() AS o;

--
-- States.JsonMerge (shallow: the second object wins per top-level key)
--
CALL intr.run('json_merge', $j${
  "merged.$": "States.JsonMerge($.a, $.b, false)",
  "reverse.$": "States.JsonMerge($.b, $.a, false)",
  "with_empty.$": "States.JsonMerge($.a, $.e, false)",
  "nested.$": "States.JsonMerge(States.JsonMerge($.a, $.b, false), $.c, false)"
}$j$, '{"a": {"x": 1, "y": {"p": 1, "q": 1}}, "b": {"y": {"q": 2}, "z": 3}, "e": {}, "c": {"x": null}}');
SELECT * FROM intr.out();

--
-- States.MathAdd, States.MathRandom, States.UUID
--
CALL intr.run('math_add', $j${
  "sum.$": "States.MathAdd($.a, $.b)",
  "negative.$": "States.MathAdd(-3, $.a)",
  "decrement.$": "States.MathAdd($.a, -1)",
  "zero.$": "States.MathAdd(0, 0)",
  "limits.$": "States.MathAdd(2147483647, -2147483648)",
  "nested.$": "States.MathAdd(States.ArrayLength($.l), States.MathAdd($.a, $.b))"
}$j$, '{"a": 10, "b": 32, "l": [1, 2, 3]}');
SELECT * FROM intr.out();

-- random values: checked by range and shape only; a seed gives a repeatable value
CALL intr.run('random', $j${
  "r1.$": "States.MathRandom(1, 1000)",
  "r2.$": "States.MathRandom($.lo, $.hi)",
  "neg.$": "States.MathRandom(-50, -40)",
  "seeded1.$": "States.MathRandom(1, 1000000, 42)",
  "seeded2.$": "States.MathRandom(1, 1000000, $.seed)",
  "u1.$": "States.UUID()",
  "u2.$": "States.UUID()",
  "in_format.$": "States.Format('id-{}', States.UUID())"
}$j$, '{"lo": 100, "hi": 200, "seed": 42}');
SELECT jsonb_typeof(o -> 'r1') AS r1_type,
       (o ->> 'r1')::numeric BETWEEN 1 AND 1000 AND (o ->> 'r1')::numeric % 1 = 0 AS r1_in_range,
       (o ->> 'r2')::numeric BETWEEN 100 AND 200 AND (o ->> 'r2')::numeric % 1 = 0 AS r2_in_range,
       (o ->> 'neg')::numeric BETWEEN -50 AND -40 AS neg_in_range,
       o -> 'seeded1' = o -> 'seeded2' AS same_seed_same_value,
       (o ->> 'seeded1')::numeric BETWEEN 1 AND 1000000 AS seeded_in_range,
       o ->> 'u1' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS u1_is_v4,
       o ->> 'u2' ~ '^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' AS u2_is_v4,
       o ->> 'u1' <> o ->> 'u2' AS uuids_differ,
       o ->> 'in_format' ~ '^id-[0-9a-f-]{36}$' AS uuid_in_format
  FROM intr.output() AS o;

--
-- States.StringSplit: every character of the second argument is a
-- delimiter; empty pieces are dropped (AWS)
--
CALL intr.run('string_split', $j${
  "csv.$": "States.StringSplit($.csv, ',')",
  "words.$": "States.StringSplit('pick pack ship', ' ')",
  "several.$": "States.StringSplit($.mixed, $.delims)",
  "none.$": "States.StringSplit($.single, ',')",
  "empty_pieces.$": "States.StringSplit('a,,b,', ',')",
  "empty.$": "States.StringSplit('', ',')",
  "utf8.$": "States.StringSplit('à→b→c', '→')",
  "escaped.$": "States.StringSplit('it\\'s,ok', ',')"
}$j$, '{"csv": "SKU-1,SKU-2,SKU-3", "single": "solo",
        "mixed": "This.is+a,test=string", "delims": ".+,="}');
SELECT * FROM intr.out();

--
-- Nesting, and arguments from the context object
--
CALL intr.run('nesting', $j${
  "count.$": "States.ArrayLength(States.StringSplit(States.Format('{},{},{}', $.a, $.b, $.c), ','))",
  "ten_deep.$": "States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(1))))))))))",
  "label.$": "States.Format('{}:{}', $$.State.Name, States.JsonToString(States.Array($.a, States.MathAdd($.b, 1))))",
  "spaces.$": "States.Format( '{}-{}' ,$.a,   $.b )"
}$j$, '{"a": 1, "b": 2, "c": 3}');
SELECT * FROM intr.out();

--
-- Error cases: each starts its own execution (all run side by side); bad
-- data fails with States.Runtime and the cause names the function
--
CREATE TABLE intr.bad (n serial, fn text, expr text, input jsonb, id uuid);
INSERT INTO intr.bad (fn, expr, input) VALUES
  ('States.Format',         'States.Format($.t, $.v)',             '{"t": "{} and {}", "v": 1}'),
  ('States.Format',         'States.Format($.t, $.v)',             '{"t": "none", "v": 1}'),
  ('States.Format',         'States.Format($.t)',                  '{"t": 5}'),
  ('States.Format',         'States.Format(''{}'', $.missing)',    '{}'),
  ('States.StringToJson',   'States.StringToJson($.s)',            '{"s": "{not json"}'),
  ('States.StringToJson',   'States.StringToJson($.s)',            '{"s": ""}'),
  ('States.StringToJson',   'States.StringToJson($.s)',            '{"s": {"a": 1}}'),
  ('States.JsonToString',   'States.JsonToString($.missing)',      '{}'),
  ('States.Array',          'States.Array(1, $.missing)',          '{}'),
  ('States.ArrayPartition', 'States.ArrayPartition($.l, $.n)',     '{"l": [1, 2], "n": 0}'),
  ('States.ArrayPartition', 'States.ArrayPartition($.l, $.n)',     '{"l": [1, 2], "n": -2}'),
  ('States.ArrayPartition', 'States.ArrayPartition($.l, $.n)',     '{"l": [1, 2], "n": "2"}'),
  ('States.ArrayPartition', 'States.ArrayPartition($.l, 2)',       '{"l": "1,2"}'),
  ('States.ArrayContains',  'States.ArrayContains($.l, 1)',        '{"l": "abc"}'),
  ('States.ArrayContains',  'States.ArrayContains($.l, 1)',        '{"l": {"0": 1}}'),
  ('States.ArrayRange',     'States.ArrayRange($.a, 10, 1)',       '{"a": "1"}'),
  ('States.ArrayRange',     'States.ArrayRange(1, 10, $.s)',       '{"s": 0}'),
  ('States.ArrayRange',     'States.ArrayRange($.a, $.b, 1)',      '{"a": 0, "b": 1000}'),
  ('States.ArrayRange',     'States.ArrayRange($.a, 1, 1)',        '{"a": 3000000000}'),
  ('States.ArrayGetItem',   'States.ArrayGetItem($.l, $.i)',       '{"l": [1, 2, 3], "i": 3}'),
  ('States.ArrayGetItem',   'States.ArrayGetItem($.l, $.i)',       '{"l": [1, 2, 3], "i": -1}'),
  ('States.ArrayGetItem',   'States.ArrayGetItem($.l, $.i)',       '{"l": [1, 2, 3], "i": 1.5}'),
  ('States.ArrayGetItem',   'States.ArrayGetItem($.l, $.i)',       '{"l": [1, 2, 3], "i": "1"}'),
  ('States.ArrayGetItem',   'States.ArrayGetItem($.l, 0)',         '{"l": {"a": 1}}'),
  ('States.ArrayLength',    'States.ArrayLength($.l)',             '{"l": "abc"}'),
  ('States.ArrayLength',    'States.ArrayLength($.l)',             '{"l": null}'),
  ('States.ArrayUnique',    'States.ArrayUnique($.l)',             '{"l": {"a": 1}}'),
  ('States.Base64Encode',   'States.Base64Encode($.s)',            '{"s": 12}'),
  ('States.Base64Encode',   'States.Base64Encode($.s)',            jsonb_build_object('s', repeat('x', 10001))),
  ('States.Base64Decode',   'States.Base64Decode($.s)',            '{"s": "not base64!"}'),
  ('States.Base64Decode',   'States.Base64Decode($.s)',            '{"s": "/w=="}'),
  ('States.Base64Decode',   'States.Base64Decode($.s)',            '{"s": ["aGk="]}'),
  ('States.Hash',           'States.Hash($.s, $.a)',               '{"s": "x", "a": "sha-256"}'),
  ('States.Hash',           'States.Hash($.s, $.a)',               '{"s": "x", "a": "SHA-224"}'),
  ('States.Hash',           'States.Hash($.s, ''MD5'')',           '{"s": 5}'),
  ('States.Hash',           'States.Hash($.s, ''MD5'')',           jsonb_build_object('s', repeat('x', 10001))),
  ('States.JsonMerge',      'States.JsonMerge($.a, $.b, false)',   '{"a": [1], "b": {}}'),
  ('States.JsonMerge',      'States.JsonMerge($.a, $.b, false)',   '{"a": {}, "b": "x"}'),
  ('States.JsonMerge',      'States.JsonMerge($.a, $.b, $.deep)',  '{"a": {}, "b": {}, "deep": true}'),
  ('States.JsonMerge',      'States.JsonMerge($.a, $.b, $.deep)',  '{"a": {}, "b": {}, "deep": "false"}'),
  ('States.MathRandom',     'States.MathRandom(5, 5)',             '{}'),
  ('States.MathRandom',     'States.MathRandom($.a, $.b)',         '{"a": 10, "b": 1}'),
  ('States.MathRandom',     'States.MathRandom($.a, 10)',          '{"a": "1"}'),
  ('States.MathAdd',        'States.MathAdd($.a, 1)',              '{"a": "1"}'),
  ('States.MathAdd',        'States.MathAdd($.a, 1)',              '{"a": null}'),
  ('States.MathAdd',        'States.MathAdd($.a, 1)',              '{"a": 3000000000}'),
  ('States.StringSplit',    'States.StringSplit($.s, '','')',      '{"s": 1}'),
  ('States.StringSplit',    'States.StringSplit(''a,b'', $.d)',    '{"d": [","]}');

CREATE PROCEDURE intr.start_bad()
LANGUAGE plpgsql AS $$
DECLARE
    b record;
BEGIN
    FOR b IN SELECT * FROM intr.bad ORDER BY n LOOP
        PERFORM orderflow.create_state_machine('intr_bad_' || b.n,
            jsonb_build_object('StartAt', 'P', 'States', jsonb_build_object('P',
                jsonb_build_object('Type', 'Pass', 'Parameters',
                    jsonb_build_object('x.$', b.expr), 'End', true))));
        UPDATE intr.bad SET id = orderflow.start_execution('intr_bad_' || b.n, b.input)
         WHERE n = b.n;
    END LOOP;
    COMMIT;
END
$$;
CALL intr.start_bad();
SELECT count(*) AS finished FROM intr.bad
 WHERE orderflow.wait_for_execution(id, '30 s') <> 'RUNNING';

SELECT b.expr, left(b.input::text, 40) AS input, d.status, d.error,
       d.cause LIKE '%' || b.fn || '%' AS cause_names_fn
  FROM intr.bad AS b, LATERAL orderflow.describe_execution(b.id) AS d
 ORDER BY b.n;

-- the failed state's history: PassStateEntered, then ExecutionFailed
SELECT h.event_id, h.type, h.state_name, h.details ->> 'error' AS error
  FROM intr.bad AS b JOIN orderflow.execution_history AS h ON h.execution_id = b.id
 WHERE b.n = 1 AND h.type <> 'ExecutionStarted'
 ORDER BY h.event_id;

--
-- What does not depend on data is refused when the definition is created
--
SELECT e AS expression, v.code
  FROM unnest(ARRAY[
    'States.Nope(1)',
    'States.format(''x'')',
    'States.ArrayLength()',
    'States.ArrayLength($.a, $.b)',
    'States.UUID(1)',
    'States.MathRandom(1)',
    'States.ArrayLength(''x'')',
    'States.MathAdd(1, true)',
    'States.ArrayLength(States.Format(''x''))',
    'States.Format(''{} {}'', 1)',
    'States.Format(''\{}'', 1)',
    'States.ArrayRange(1, 5000, 1)',
    'States.ArrayRange(1, 5, 0)',
    'States.ArrayPartition($.a, 0)',
    'States.ArrayGetItem($.a, -1)',
    'States.Hash(''x'', ''SHA-999'')',
    'States.JsonMerge($.a, $.b, true)',
    'States.MathAdd(1, 3000000000)',
    'States.Base64Decode(''***'')',
    'States.Format(''x)',
    'States.Format(''x'', )',
    'States.Array(1',
    'States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(States.Array(1)))))))))))'
  ]) WITH ORDINALITY AS t(e, ord)
  LEFT JOIN LATERAL orderflow.validate_definition(
       jsonb_build_object('StartAt', 'P', 'States', jsonb_build_object('P',
           jsonb_build_object('Type', 'Pass', 'Parameters', jsonb_build_object('x.$', e), 'End', true))))
       AS v ON true
 ORDER BY ord;

-- and create_state_machine raises
SELECT orderflow.create_state_machine('intr_refused',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass",
    "Parameters": {"x.$": "States.ArrayRange(1, 10, 0)"}, "End": true}}}');

--
-- Where intrinsics can be used: Task Parameters, ResultSelector, Parallel
-- Parameters, Map ItemSelector, Assign (with $variables as arguments),
-- Fail ErrorPath / CausePath
--
SELECT orderflow.create_state_machine('intr_places', $j${
  "StartAt": "Task",
  "States": {
    "Task": {"Type": "Task", "Resource": "intr.echo",
      "Parameters": {"skus.$": "States.StringSplit($.csv, ',')", "order.$": "$.order"},
      "ResultSelector": {"n.$": "States.ArrayLength($.skus)", "first.$": "States.ArrayGetItem($.skus, 0)"},
      "ResultPath": "$.task",
      "Assign": {"count.$": "States.MathAdd($.n, 0)", "tag.$": "States.Format('{}-{}', $.first, $.n)"},
      "Next": "Par"},
    "Par": {"Type": "Parallel",
      "Parameters": {"label.$": "States.Format('order {} has {} skus', $.order, $count)"},
      "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": true}}}],
      "ResultSelector": {"branches.$": "States.ArrayLength($)", "label.$": "$[0].label"},
      "ResultPath": "$.par",
      "Next": "Map"},
    "Map": {"Type": "Map", "ItemsPath": "$.items",
      "ItemSelector": {"line.$": "States.Format('#{} {} ({})', $$.Map.Item.Index, $$.Map.Item.Value, $tag)"},
      "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass", "End": true}}},
      "ResultPath": "$.lines",
      "Next": "Out"},
    "Out": {"Type": "Pass",
      "Parameters": {"count.$": "$count", "tag.$": "$tag", "par.$": "$.par", "lines.$": "$.lines",
                     "assigned.$": "States.Array($count, $tag)"},
      "End": true}
  }
}$j$);
CALL intr.run_sm('intr_places', '{"csv": "A,B,C", "order": "ORD-7", "items": ["x", "y"]}');

SELECT orderflow.create_state_machine('intr_fail_paths', $j${
  "StartAt": "F",
  "States": {"F": {"Type": "Fail",
    "ErrorPath": "States.Format('Order.{}', $.kind)",
    "CausePath": "States.Format('order {} failed: {}', $.id, States.JsonToString($.why))"}}
}$j$);
CALL intr.run_sm('intr_fail_paths', '{"kind": "Rejected", "id": 7, "why": {"stock": 0}}');
SELECT cause FROM orderflow.executions WHERE state_machine = 'intr_fail_paths';

-- an intrinsic failing in a ResultSelector is States.Runtime, which no
-- Catch (not even States.ALL) catches
SELECT orderflow.create_state_machine('intr_not_caught', $j${
  "StartAt": "T",
  "States": {
    "T": {"Type": "Task", "Resource": "intr.echo",
      "ResultSelector": {"n.$": "States.ArrayLength($.s)"},
      "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": true},
    "Caught": {"Type": "Pass", "End": true}}
}$j$);
CALL intr.run_sm('intr_not_caught', '{"s": "not an array"}');
