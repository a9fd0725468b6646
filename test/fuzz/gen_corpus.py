#!/usr/bin/env python3
"""Regenerate the seed corpus of test/fuzz from the shared conformance
definitions (../shared/conformance/{cases,invalid}/*.json) plus the
hand-made paths and intrinsic calls below.  The generated files are kept
in the repository (corpus/<target>/); run this only to refresh them.

    python3 test/fuzz/gen_corpus.py [CONFORMANCE_DIR]
"""
import hashlib
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CONF = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared", "conformance")

PATHS = [
    "$", "$$", "$.a", "$.b[0]", "$.b[-1]", "$.b[*]", "$.b[0,2]", "$.b[1:3]",
    "$..c", "$.o.k.k[0]", "$['a']", "$[\"a\"]", "$.b[?(@.c == 'x')]",
    "$.b[?(@ > 1)]", "$$.Execution.Id", "$$.Map.Item.Value", "$x", "$y[1]",
    "$z.q", "$.*", "$.b[::2]", "$.arr[?(@ != 'a')]", "$.o..k", "$.b[1:]",
]
EXPRS = [
    "States.Format('{} and {}', $.a, $.s)",
    "States.StringToJson('{\"x\": [1, 2]}')",
    "States.JsonToString($.o)",
    "States.Array(1, 'two', $.b, null, true)",
    "States.ArrayPartition($.b, 2)",
    "States.ArrayContains($.arr, 'a')",
    "States.ArrayRange(1, 9, 2)",
    "States.ArrayGetItem($.b, 1)",
    "States.ArrayLength($.b)",
    "States.ArrayUnique($.arr)",
    "States.Base64Encode($.s)",
    "States.Base64Decode('aGVsbG8=')",
    "States.Hash($.s, 'SHA-256')",
    "States.JsonMerge($.o, $$.Execution, false)",
    "States.MathRandom(1, 10)",
    "States.MathAdd($.a, $.neg)",
    "States.StringSplit('a,b,,c', ',')",
    "States.UUID()",
    "States.Format('{}', States.ArrayLength(States.Array($.a, $.b)))",
    "States.Format('\\\\{\\\\} \\'q\\' {}', 1.5e3)",
    "$.a",
]


def write(target, data):
    d = os.path.join(HERE, "corpus", "fuzz_" + target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def walk(v, fn):
    fn(v)
    if isinstance(v, dict):
        for x in v.values():
            walk(x, fn)
    elif isinstance(v, list):
        for x in v:
            walk(x, fn)


def main():
    defs = []
    for sub in ("cases", "invalid"):
        d = os.path.join(CONF, sub)
        if not os.path.isdir(d):
            continue
        for f in sorted(os.listdir(d)):
            if f.endswith(".json"):
                with open(os.path.join(d, f)) as fh:
                    doc = json.load(fh)
                if isinstance(doc, dict) and "definition" in doc:
                    defs.append(doc["definition"])
    for d in defs:
        write("machine", json.dumps(d, separators=(",", ":")))

        def visit(v):
            if isinstance(v, dict):
                if v.get("Type") == "Choice":
                    for rule in v.get("Choices", []):
                        if isinstance(rule, dict):
                            rule = dict(rule)
                            rule["Next"] = "N"
                            write("choice", json.dumps(rule))
                for k in ("Parameters", "ResultSelector", "ItemSelector"):
                    if k in v:
                        write("template", json.dumps(v[k]))
                for k, x in v.items():
                    if isinstance(x, str) and x.startswith("$"):
                        write("path", x)
                        if k.endswith(".$") or k.endswith("Path"):
                            write("expr", x)
                    if k.endswith(".$") and isinstance(x, str):
                        write("expr", x)
        walk(d, visit)
    for p in PATHS:
        write("path", p)
        write("expr", p)
    for e in EXPRS:
        write("expr", e)
        write("template", json.dumps({"v.$": e, "lit": [1, {"w.$": "$.b"}]}))
    write("choice", json.dumps({"Variable": "$.ts", "TimestampLessThan": "2025-01-01T00:00:00Z", "Next": "N"}))
    write("choice", json.dumps({"Variable": "$.s", "StringMatches": "hel*\\*o", "Next": "N"}))
    write("choice", json.dumps({"Not": {"Variable": "$.n", "IsNull": True}, "Next": "N"}))


if __name__ == "__main__":
    main()
