/*-------------------------------------------------------------------------
 *
 * test_asl.c
 *	  Standalone tests of the JSON helpers, JSONPath, ResultPath, payload
 *	  templates and Choice rules (asl_json.c, asl_path.c, asl_template.c,
 *	  asl_choice.c).
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>

#include "testutil.h"

/* ------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------ */

/* serialize into a kept string (freed at exit through a json string) */
static const char *
to_text(json_object *v)
{
	char	   *s = of_json_to_string(v);
	json_object *holder = tu_keep(json_object_new_string(s));

	free(s);
	return json_object_get_string(holder);
}

/* compile a path that must be valid */
static OfPath *
path(const char *text)
{
	OfError		err;
	OfPath	   *p = of_path_compile(text, false, &err);

	if (p == NULL)
		printf("     unexpected path error: %s\n", err.cause);
	return p;
}

/* true when the text does not compile; the cause is left in err */
static bool
path_fails(const char *text, bool reference_only, OfError *err)
{
	memset(err, 0, sizeof(*err));
	return of_path_compile(text, reference_only, err) == NULL;
}

/* an environment whose $ is input */
static OfEvalEnv
env_for(json_object *input)
{
	OfEvalEnv	env;

	memset(&env, 0, sizeof(env));
	env.input = input;
	return env;
}

/*
 * Evaluate path text against env; the result is kept.  Returns 1 found,
 * 0 not found, -1 error.
 */
static int
eval_env(const char *text, const OfEvalEnv *env, json_object **out)
{
	OfPath	   *p = path(text);
	OfError		err;
	bool		found = false;

	*out = NULL;
	if (p == NULL)
		return -1;
	if (!of_path_eval(p, env, out, &found, &err))
		return -1;
	tu_keep(*out);
	return found ? 1 : 0;
}

/* evaluate path text against input */
static int
eval_in(const char *text, json_object *input, json_object **out)
{
	OfEvalEnv	env = env_for(input);

	return eval_env(text, &env, out);
}

/* ResultPath: place value (JSON text) into raw (JSON text) at path */
static bool
set_path(const char *path_text, const char *raw, const char *value,
		 json_object **out, OfError *err)
{
	OfPath	   *p = path_text ? of_path_compile(path_text, true, err) : NULL;
	bool		ok;

	*out = NULL;
	if (path_text != NULL && p == NULL)
		return false;
	ok = of_path_set(p, tu_json(raw), tu_json(value), out, err);
	tu_keep(*out);
	return ok;
}

/* a report callback that records problems in a JSON array */
static void
record_report(void *arg, const char *severity, const char *code,
			  const char *location, const char *message)
{
	json_object *problems = arg;
	json_object *p = json_object_new_object();

	json_object_object_add(p, "severity", json_object_new_string(severity));
	json_object_object_add(p, "code", json_object_new_string(code));
	json_object_object_add(p, "location", json_object_new_string(location));
	json_object_object_add(p, "message", json_object_new_string(message));
	json_object_array_add(problems, p);
}

/* a field of the i-th recorded problem */
static const char *
problem_field(json_object *problems, size_t i, const char *field)
{
	json_object *p = json_object_array_get_idx(problems, i);
	json_object *v;

	if (p == NULL || !json_object_object_get_ex(p, field, &v))
		return NULL;
	return json_object_get_string(v);
}

/* compile a template from JSON text, recording problems */
static OfTemplate *
template_of(const char *payload, json_object *problems)
{
	return of_template_compile(tu_json(payload), "/States/A/Parameters",
							   record_report, problems);
}

/* evaluate a template over an input; result kept */
static bool
template_eval(OfTemplate *t, const OfEvalEnv *env, json_object **out,
			  OfError *err)
{
	bool		ok = of_template_eval(t, env, out, err);

	tu_keep(*out);
	return ok;
}

/* ------------------------------------------------------------------
 * JSON helpers
 * ------------------------------------------------------------------ */

/* deep equality with numbers by value and unordered keys */
static void
test_json_equal(void)
{
	CHECK(of_json_equal(tu_json("1"), tu_json("1.0")));
	CHECK(of_json_equal(tu_json("-0"), tu_json("0.0")));
	CHECK(of_json_equal(tu_json("1e2"), tu_json("100")));
	CHECK(!of_json_equal(tu_json("1"), tu_json("2")));
	CHECK(!of_json_equal(tu_json("1"), tu_json("\"1\"")));
	CHECK(!of_json_equal(tu_json("true"), tu_json("1")));
	CHECK(!of_json_equal(tu_json("false"), tu_json("null")));
	CHECK(of_json_equal(NULL, tu_json("null")));
	CHECK(of_json_equal(NULL, NULL));
	CHECK(!of_json_equal(NULL, tu_json("0")));
	CHECK(of_json_equal(tu_json("{\"a\":1,\"b\":[1,2]}"),
						tu_json("{\"b\":[1,2.0],\"a\":1.0}")));
	CHECK(!of_json_equal(tu_json("[1,2]"), tu_json("[2,1]")));
	CHECK(!of_json_equal(tu_json("[1,2]"), tu_json("[1,2,3]")));
	CHECK(!of_json_equal(tu_json("{\"a\":1}"), tu_json("{\"a\":1,\"b\":2}")));
	CHECK(!of_json_equal(tu_json("{\"a\":1}"), tu_json("{\"b\":1}")));
	CHECK(!of_json_equal(tu_json("{\"a\":{\"b\":[1,{\"c\":true}]}}"),
						 tu_json("{\"a\":{\"b\":[1,{\"c\":false}]}}")));
	CHECK(of_json_equal(tu_json("{\"a\":{\"b\":[1,{\"c\":null}]}}"),
						tu_json("{\"a\":{\"b\":[1.0,{\"c\":null}]}}")));
	CHECK(of_json_equal(tu_json("\"\""), tu_json("\"\"")));
	CHECK(!of_json_equal(tu_json("\"a\\u0000b\""), tu_json("\"a\\u0000c\"")));
	CHECK(!of_json_equal(tu_json("\"a\\u0000\""), tu_json("\"a\"")));
	CHECK(of_json_equal(tu_json("{}"), tu_json("{}")));
	CHECK(!of_json_equal(tu_json("{}"), tu_json("[]")));
	/* integers compare exactly, also against integral doubles */
	CHECK(!of_json_equal(tu_json("9007199254740993"), tu_json("9007199254740992")));
	CHECK(!of_json_equal(tu_json("9007199254740993"), tu_json("9007199254740992.0")));
	CHECK(of_json_equal(tu_json("18446744073709551615"), tu_json("18446744073709551615")));
	CHECK(!of_json_equal(tu_json("18446744073709551615"), tu_json("9223372036854775807")));
	CHECK(of_json_equal(tu_json("0.5"), tu_json("5e-1")));
}

/* the shortest text that reads back as the same double */
static void
test_json_numbers(void)
{
	json_object *n;

	n = tu_keep(of_json_new_number(3.0));
	CHECK(json_object_is_type(n, json_type_int));
	CHECK_STR(to_text(n), "3");
	CHECK_STR(to_text(tu_keep(of_json_new_number(-42.0))), "-42");
	CHECK_STR(to_text(tu_keep(of_json_new_number(-0.0))), "0");
	CHECK_STR(to_text(tu_keep(of_json_new_number(0.1))), "0.1");
	CHECK_STR(to_text(tu_keep(of_json_new_number(1.5))), "1.5");
	CHECK_STR(to_text(tu_keep(of_json_new_number(0.1 + 0.2))), "0.30000000000000004");
	CHECK_STR(to_text(tu_keep(of_json_new_number(1.0 / 3.0))), "0.3333333333333333");
	CHECK_STR(to_text(tu_keep(of_json_new_number(-2.5e-7))), "-2.5e-07");
	CHECK_STR(to_text(tu_keep(of_json_new_number(1e20))), "1e+20");
	CHECK_STR(to_text(tu_keep(of_json_new_number(9007199254740992.0))), "9007199254740992");
	n = tu_keep(of_json_new_number(-9223372036854775808.0));
	CHECK(json_object_is_type(n, json_type_int));
	CHECK_STR(to_text(n), "-9223372036854775808");
	n = tu_keep(of_json_new_number(9223372036854775808.0));
	CHECK(json_object_is_type(n, json_type_double));
	CHECK(strtod(to_text(n), NULL) == 9223372036854775808.0);
	n = tu_keep(of_json_new_number(123.456));
	CHECK(json_object_is_type(n, json_type_double));
	CHECK(json_object_get_double(n) == 123.456);
	CHECK_STR(to_text(n), "123.456");
	CHECK(of_json_new_number(NAN) == NULL);
	CHECK(of_json_new_number(INFINITY) == NULL);

	CHECK(of_json_is_number(tu_json("1")));
	CHECK(of_json_is_number(tu_json("1.5")));
	CHECK(!of_json_is_number(tu_json("\"1\"")));
	CHECK(!of_json_is_number(NULL));
	CHECK(!of_json_is_number(tu_json("true")));
	CHECK(of_json_number(tu_json("2.5")) == 2.5);
	CHECK(of_json_number(tu_json("-7")) == -7.0);
	CHECK(of_json_number(tu_json("\"3\"")) == 0.0);
}

/* compact serialization */
static void
test_json_to_string(void)
{
	char	   *s;

	CHECK_STR(to_text(tu_json("{ \"a\" : \"x/y\", \"b\" : [ 1, 2, {} ] }")),
			  "{\"a\":\"x/y\",\"b\":[1,2,{}]}");
	CHECK_STR(to_text(NULL), "null");
	CHECK_STR(to_text(tu_json("\"quote\\\" tab\\t\"")), "\"quote\\\" tab\\t\"");
	CHECK_STR(to_text(tu_json("[true,false,null]")), "[true,false,null]");
	s = of_json_to_string(tu_json("[]"));
	CHECK_STR(s, "[]");
	free(s);
}

/* parse n nested arrays with the default depth limit */
static bool
parse_nested(int n, OfError *err)
{
	char	   *text = malloc(2 * (size_t) n + 1);
	json_object *v = NULL;
	bool		ok;

	memset(text, '[', n);
	memset(text + n, ']', n);
	text[2 * n] = '\0';
	ok = of_json_parse(text, 2 * (size_t) n, 0, &v, err);
	json_object_put(v);
	free(text);
	return ok;
}

/* strict, depth-limited parsing with clear causes */
static void
test_json_parse(void)
{
	json_object *v;
	OfError		err;

#define PARSE(text, depth) of_json_parse((text), strlen(text), (depth), &v, &err)
	CHECK(PARSE("{\"a\":[1,2]}", 0));
	CHECK_JSON(tu_keep(v), "{\"a\":[1,2]}");
	CHECK(PARSE("  42  ", 0));
	CHECK(json_object_get_int(tu_keep(v)) == 42);
	CHECK(PARSE("-1.5e3", 0));
	CHECK(json_object_get_double(tu_keep(v)) == -1500.0);
	CHECK(PARSE("null", 0) && v == NULL);
	CHECK(PARSE("\"str\"\n", 0));
	CHECK_STR(json_object_get_string(tu_keep(v)), "str");

	CHECK(!PARSE("{\"a\":1} x", 0));
	CHECK_CONTAINS(err.cause, "offset 8");
	CHECK(v == NULL);
	CHECK(!PARSE("{\"a\":1}{}", 0));
	CHECK_CONTAINS(err.cause, "offset");
	CHECK(!PARSE("[1,2", 0));
	CHECK_CONTAINS(err.cause, "end of input");
	CHECK(!PARSE("", 0));
	CHECK(!PARSE("   ", 0));
	CHECK(!PARSE("[1,]", 0));
	CHECK(!PARSE("{'a':1}", 0));
	CHECK(!PARSE("NaN", 0));
	CHECK(!PARSE("01", 0));
	CHECK(!PARSE("tru", 0));
	CHECK(!PARSE("{\"a\" 1}", 0));
	CHECK_CONTAINS(err.cause, "expected ':'");
	CHECK_CONTAINS(err.cause, "offset 5");
	/* json-c alone would accept these */
	CHECK(!PARSE("Infinity", 0));
	CHECK(!PARSE("[-Infinity]", 0));
	CHECK(!PARSE("[NaN]", 0));
	CHECK_CONTAINS(err.cause, "offset 1");
	CHECK(!PARSE("1.", 0));
	CHECK_CONTAINS(err.cause, "end of input");
	CHECK(!PARSE("0x1", 0));
	CHECK(!PARSE("\"a\tb\"", 0));
	CHECK_CONTAINS(err.cause, "control character");
	CHECK(!PARSE("{'a':1}", 0));
	CHECK_CONTAINS(err.cause, "offset 1");
	CHECK(!PARSE("\"\\x\"", 0));
	CHECK_CONTAINS(err.cause, "escape");
	CHECK(!PARSE("\"\\u12g4\"", 0));
	CHECK(!PARSE("+1", 0));
	CHECK(!PARSE(".5", 0));
	CHECK(!PARSE("1e", 0));
	CHECK(!PARSE("-", 0));
	CHECK(!PARSE("[1 2]", 0));
	CHECK_CONTAINS(err.cause, "expected ',' or ']'");
	CHECK(!PARSE("{\"a\":1,}", 0));
	CHECK(!PARSE("{\"a\":1 \"b\":2}", 0));
	CHECK(!PARSE("{1:2}", 0));
	CHECK(!PARSE("TRUE", 0));
	CHECK(!PARSE("nul", 0));
	CHECK(!PARSE("\"\xff\"", 0));
	CHECK(!PARSE("\"abc", 0));
	CHECK_CONTAINS(err.cause, "end of input");
	CHECK(PARSE(" [ -0.0e+00 , 1E5, \"\\u00e9\\n\\/\" , {} , [ ] , {\"k\" : null} ] ", 0));
	CHECK_JSON(tu_keep(v), "[0,100000,\"\\u00e9\\n/\",{},[],{\"k\":null}]");
	CHECK(PARSE("\"caf\xc3\xa9\"", 0));
	CHECK_STR(json_object_get_string(tu_keep(v)), "caf\xc3\xa9");
	CHECK(!of_json_parse("[1]\0[2]", 7, 0, &v, &err));
	CHECK_CONTAINS(err.cause, "offset 3");
	/* only the first len bytes count */
	CHECK(of_json_parse("[1]xyz", 3, 0, &v, &err));
	CHECK_JSON(tu_keep(v), "[1]");
	CHECK(of_json_parse("12345", 2, 0, &v, &err));
	CHECK_JSON(tu_keep(v), "12");

	CHECK(PARSE("[[[1]]]", 3));
	tu_keep(v);
	CHECK(PARSE("{\"a\":[{\"b\":1}]}", 3));
	tu_keep(v);
	CHECK(!PARSE("[[[[1]]]]", 3));
	CHECK_CONTAINS(err.cause, "nesting too deep at offset 3");
	CHECK(!PARSE("{\"a\":{\"b\":{\"c\":{}}}}", 3));
	CHECK(PARSE("1", 1));
	tu_keep(v);
	/* the default limit is 512 nested containers */
	CHECK(parse_nested(512, &err));
	CHECK(!parse_nested(513, &err));
	CHECK_CONTAINS(err.cause, "nesting too deep at offset 512");
	CHECK(PARSE("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]", 0));
	tu_keep(v);
#undef PARSE
}

/* RFC 3339 timestamps with a required zone */
static void
test_timestamps(void)
{
	int64_t		a;
	int64_t		b;

	CHECK(of_parse_timestamp("1970-01-01T00:00:00Z", &a) && a == 0);
	CHECK(of_parse_timestamp("1970-01-01T00:00:00.000001Z", &a) && a == 1);
	CHECK(of_parse_timestamp("1969-12-31T23:59:59Z", &a) && a == -1000000);
	CHECK(of_parse_timestamp("2000-01-01T00:00:00Z", &a) && a == INT64_C(946684800000000));
	CHECK(of_parse_timestamp("2024-03-01T08:00:00Z", &a) && a == INT64_C(1709280000000000));
	CHECK(of_parse_timestamp("2024-03-01T10:00:00+02:00", &b) && a == b);
	CHECK(of_parse_timestamp("2024-03-01T02:30:00-05:30", &b) && a == b);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00+00:00", &b) && a == b);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00-00:00", &b) && a == b);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00.5Z", &b) && b == a + 500000);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00.123456Z", &b) && b == a + 123456);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00.1234569Z", &b) && b == a + 123456);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00.000000000001Z", &b) && b == a);
	CHECK(of_parse_timestamp("2024-03-01T08:00:00.001Z", &b) && b == a + 1000);
	CHECK(of_parse_timestamp("2024-02-29T00:00:00Z", NULL));
	CHECK(of_parse_timestamp("2000-02-29T00:00:00Z", NULL));
	CHECK(of_parse_timestamp("0001-01-01T00:00:00Z", &a) && a == INT64_C(-62135596800000000));
	CHECK(of_parse_timestamp("9999-12-31T23:59:59.999999+14:00", NULL));
	CHECK(of_parse_timestamp("2024-12-31T23:59:59Z", &a) &&
		  of_parse_timestamp("2025-01-01T00:00:00Z", &b) && b - a == 1000000);

	CHECK(!of_parse_timestamp("2023-02-29T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("1900-02-29T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-04-31T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-13-01T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-00-01T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-00T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T24:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T23:60:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T23:59:60Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00", NULL));
	CHECK(!of_parse_timestamp("2024-01-01", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01 00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01t00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00.Z", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00+0200", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00+02", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00+24:00", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00+02:60", NULL));
	CHECK(!of_parse_timestamp("2024-01-01T00:00:00Zjunk", NULL));
	CHECK(!of_parse_timestamp("24-01-01T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("2024-1-01T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("+2024-01-01T00:00:00Z", NULL));
	CHECK(!of_parse_timestamp("", NULL));
	CHECK(!of_parse_timestamp(NULL, NULL));
}

/* ------------------------------------------------------------------
 * JSONPath
 * ------------------------------------------------------------------ */

/* syntax errors name the problem and the offset */
static void
test_path_syntax_errors(void)
{
	OfError		err;

	CHECK(path_fails("", false, &err));
	CHECK_CONTAINS(err.cause, "offset 0");
	CHECK(path_fails("a.b", false, &err));
	CHECK_CONTAINS(err.cause, "expected '$' at offset 0");
	CHECK(path_fails("$.", false, &err));
	CHECK_CONTAINS(err.cause, "expected a field name at offset 2");
	CHECK(path_fails("$.a.", false, &err));
	CHECK(path_fails("$.a...b", false, &err));
	CHECK(path_fails("$a b", false, &err));
	CHECK(path_fails("$.a b", false, &err));
	CHECK_CONTAINS(err.cause, "offset 3");
	CHECK(path_fails("$[", false, &err));
	CHECK(path_fails("$[]", false, &err));
	CHECK(path_fails("$['a'", false, &err));
	CHECK_CONTAINS(err.cause, "expected ']'");
	CHECK(path_fails("$['a]", false, &err));
	CHECK_CONTAINS(err.cause, "unterminated string");
	CHECK(path_fails("$['a\\x']", false, &err));
	CHECK_CONTAINS(err.cause, "invalid escape");
	CHECK(path_fails("$[1", false, &err));
	CHECK(path_fails("$[a]", false, &err));
	CHECK(path_fails("$[-]", false, &err));
	CHECK(path_fails("$[1.5]", false, &err));
	CHECK(path_fails("$[99999999999]", false, &err));
	CHECK_CONTAINS(err.cause, "index out of range");
	CHECK(path_fails("$[::0]", false, &err));
	CHECK_CONTAINS(err.cause, "slice step cannot be zero");
	CHECK(path_fails("$[1,]", false, &err));
	CHECK(path_fails("$$$", false, &err));
	CHECK(path_fails("$$x", false, &err));
	CHECK(path_fails("$1", false, &err));
	CHECK(path_fails("$.a]", false, &err));
	CHECK(path_fails("$.a[0]x", false, &err));
	CHECK(path_fails("$.a*", false, &err));
	CHECK(path_fails("$.(a)", false, &err));
	CHECK(path_fails(" $.a", false, &err));
	CHECK(path_fails("$.a ", false, &err));
	CHECK(path_fails("$[?(@.a = 1)]", false, &err));
	CHECK(path_fails("$[?(@.a == )]", false, &err));
	CHECK(path_fails("$[?(@.a == 1]", false, &err));
	CHECK(path_fails("$[?(@.a == 1)", false, &err));
	CHECK(path_fails("$[?(a == 1)]", false, &err));
	CHECK(path_fails("$[?(@.a == bogus)]", false, &err));
	CHECK(path_fails("$[?(@..a)]", false, &err));
	CHECK(path_fails(NULL, false, &err));
	CHECK_CONTAINS(err.cause, "invalid JSONPath");

	CHECK(path("$") != NULL);
	CHECK(path("$$") != NULL);
	CHECK(path("$.a-b.c_d.e$f.g:h") != NULL);
	CHECK(path("$.d\xc3\xa9tail") != NULL);
	CHECK(path("$[ 'a' , \"b\" , 0 ]") != NULL);
	CHECK(path("$[ 1 : 2 ]") != NULL);
	CHECK(path("$[?( @.a >= -1.5e3 )]") != NULL);
}

/* reference paths allow .name, ['name'] and [n] only */
static void
test_path_reference(void)
{
	OfError		err;
	const char *ok[] = {"$", "$.a", "$.a.b", "$['a'][0].b", "$[0]", "$$.Execution.Input", "$var.a"};
	const char *bad[] = {"$.a[*]", "$.*", "$..a", "$.a[-1]", "$.a[1:2]", "$.a[0,1]",
	"$['a','b']", "$[?(@.x)]"};
	size_t		i;

	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
	{
		memset(&err, 0, sizeof(err));
		CHECK(of_path_compile(ok[i], true, &err) != NULL);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
	{
		CHECK(path_fails(bad[i], true, &err));
		CHECK_CONTAINS(err.cause, "reference path");
		CHECK_CONTAINS(err.cause, "offset");
		CHECK(path(bad[i]) != NULL);
	}
	CHECK(path_fails("$.a.b[*]", true, &err));
	CHECK_CONTAINS(err.cause, "offset 5");
}

/* roots, variables and the simple accessors */
static void
test_path_accessors(void)
{
	OfPath	   *p;

	p = path("$.a.b");
	CHECK(of_path_root(p) == OF_ROOT_INPUT);
	CHECK_STR(of_path_text(p), "$.a.b");
	CHECK(of_path_variable(p) == NULL);
	CHECK(of_path_is_definite(p));
	CHECK(!of_path_uses_context(p));

	p = path("$$.Execution.Id");
	CHECK(of_path_root(p) == OF_ROOT_CONTEXT);
	CHECK(of_path_uses_context(p));
	CHECK(of_path_root(path("$$")) == OF_ROOT_CONTEXT);
	CHECK(!of_path_uses_context(NULL));

	p = path("$order.id");
	CHECK(of_path_root(p) == OF_ROOT_VARIABLE);
	CHECK_STR(of_path_variable(p), "order");
	CHECK_STR(of_path_variable(path("$_x1")), "_x1");
	CHECK_STR(of_path_variable(path("$x[0]")), "x");
	CHECK(of_path_root(path("$")) == OF_ROOT_INPUT);

	CHECK(of_path_is_definite(path("$")));
	CHECK(of_path_is_definite(path("$['a'][0][-1]")));
	CHECK(!of_path_is_definite(path("$.a[*]")));
	CHECK(!of_path_is_definite(path("$.*")));
	CHECK(!of_path_is_definite(path("$..a")));
	CHECK(!of_path_is_definite(path("$.a[0:1]")));
	CHECK(!of_path_is_definite(path("$.a[0,1]")));
	CHECK(!of_path_is_definite(path("$.a[?(@.x)]")));
}

/* definite paths select one value or nothing */
static void
test_path_eval_definite(void)
{
	json_object *doc = tu_json("{\"a\":{\"b\":[10,20,{\"c\":null}]},\"k-1\":\"dash\","
							   "\"sp ace\":1,\"q'uote\":2,\"d\\\"q\":3,\"\":\"empty\","
							   "\"n\":null,\"z\":0,\"f\":false}");
	json_object *v;

	CHECK(eval_in("$", doc, &v) == 1);
	CHECK(v == doc);
	CHECK(eval_in("$.a.b[1]", doc, &v) == 1);
	CHECK_JSON(v, "20");
	CHECK(eval_in("$['a']['b'][0]", doc, &v) == 1);
	CHECK_JSON(v, "10");
	CHECK(eval_in("$.a.b[-1].c", doc, &v) == 1);
	CHECK(v == NULL);
	CHECK(eval_in("$.a.b[-3]", doc, &v) == 1);
	CHECK_JSON(v, "10");
	CHECK(eval_in("$.n", doc, &v) == 1 && v == NULL);
	CHECK(eval_in("$.z", doc, &v) == 1);
	CHECK_JSON(v, "0");
	CHECK(eval_in("$.f", doc, &v) == 1);
	CHECK_JSON(v, "false");
	CHECK(eval_in("$.k-1", doc, &v) == 1);
	CHECK_JSON(v, "\"dash\"");
	CHECK(eval_in("$['sp ace']", doc, &v) == 1);
	CHECK_JSON(v, "1");
	CHECK(eval_in("$[\"q'uote\"]", doc, &v) == 1);
	CHECK_JSON(v, "2");
	CHECK(eval_in("$['q\\'uote']", doc, &v) == 1);
	CHECK_JSON(v, "2");
	CHECK(eval_in("$['d\"q']", doc, &v) == 1);
	CHECK_JSON(v, "3");
	CHECK(eval_in("$[\"d\\\"q\"]", doc, &v) == 1);
	CHECK_JSON(v, "3");
	CHECK(eval_in("$['']", doc, &v) == 1);
	CHECK_JSON(v, "\"empty\"");

	CHECK(eval_in("$.missing", doc, &v) == 0 && v == NULL);
	CHECK(eval_in("$.a.x", doc, &v) == 0);
	CHECK(eval_in("$.a.b[3]", doc, &v) == 0);
	CHECK(eval_in("$.a.b[-4]", doc, &v) == 0);
	CHECK(eval_in("$.a.b.c", doc, &v) == 0);
	CHECK(eval_in("$.a[0]", doc, &v) == 0);
	CHECK(eval_in("$.n.x", doc, &v) == 0);
	CHECK(eval_in("$.k-1.x", doc, &v) == 0);
	CHECK(eval_in("$['b']", tu_json("[1,2]"), &v) == 0);

	/* a JSON null input is found by $ but has no members */
	CHECK(eval_in("$", NULL, &v) == 1 && v == NULL);
	CHECK(eval_in("$.a", NULL, &v) == 0);
	CHECK(eval_in("$[0]", tu_json("[\"x\"]"), &v) == 1);
	CHECK_JSON(v, "\"x\"");
	CHECK(eval_in("$", tu_json("\"scalar\""), &v) == 1);
	CHECK_JSON(v, "\"scalar\"");
}

/* wildcards, slices, unions, deep scans and filters yield lists */
static void
test_path_eval_indefinite(void)
{
	json_object *doc = tu_json("{\"a\":{\"b\":[10,20,{\"c\":null}]},\"k\":\"v\"}");
	json_object *items = tu_json("{\"items\":[{\"sku\":\"A\",\"qty\":2,\"ok\":true},"
								 "{\"sku\":\"B\",\"qty\":5,\"ok\":false},"
								 "{\"sku\":\"C\",\"n\":null},\"scalar\",7]}");
	json_object *nested = tu_json("{\"x\":{\"name\":1,\"y\":{\"name\":2}},\"name\":0,"
								  "\"l\":[{\"name\":3}]}");
	json_object *v;

	CHECK(eval_in("$.a.b[*]", doc, &v) == 1);
	CHECK_JSON(v, "[10,20,{\"c\":null}]");
	CHECK(eval_in("$.*", doc, &v) == 1);
	CHECK_JSON(v, "[{\"b\":[10,20,{\"c\":null}]},\"v\"]");
	CHECK(eval_in("$[*]", doc, &v) == 1);
	CHECK_JSON(v, "[{\"b\":[10,20,{\"c\":null}]},\"v\"]");
	CHECK(eval_in("$.k.*", doc, &v) == 0);
	CHECK_JSON(v, "[]");
	CHECK(eval_in("$.a.b[0:2]", doc, &v) == 1);
	CHECK_JSON(v, "[10,20]");
	CHECK(eval_in("$.a.b[1:]", doc, &v) == 1);
	CHECK_JSON(v, "[20,{\"c\":null}]");
	CHECK(eval_in("$.a.b[:1]", doc, &v) == 1);
	CHECK_JSON(v, "[10]");
	CHECK(eval_in("$.a.b[-2:]", doc, &v) == 1);
	CHECK_JSON(v, "[20,{\"c\":null}]");
	CHECK(eval_in("$.a.b[::2]", doc, &v) == 1);
	CHECK_JSON(v, "[10,{\"c\":null}]");
	CHECK(eval_in("$.a.b[::-1]", doc, &v) == 1);
	CHECK_JSON(v, "[{\"c\":null},20,10]");
	CHECK(eval_in("$.a.b[2:0:-1]", doc, &v) == 1);
	CHECK_JSON(v, "[{\"c\":null},20]");
	CHECK(eval_in("$.a.b[-100:100]", doc, &v) == 1);
	CHECK_JSON(v, "[10,20,{\"c\":null}]");
	CHECK(eval_in("$.a.b[5:9]", doc, &v) == 0);
	CHECK_JSON(v, "[]");
	CHECK(eval_in("$.a.b[2:1]", doc, &v) == 0);
	CHECK(eval_in("$.a[0:1]", doc, &v) == 0);
	CHECK(eval_in("$.a.b[0,2,7,-1]", doc, &v) == 1);
	CHECK_JSON(v, "[10,{\"c\":null},{\"c\":null}]");
	CHECK(eval_in("$['a','k','zz']", doc, &v) == 1);
	CHECK_JSON(v, "[{\"b\":[10,20,{\"c\":null}]},\"v\"]");
	CHECK(eval_in("$..c", doc, &v) == 1);
	CHECK_JSON(v, "[null]");
	CHECK(eval_in("$..nothing", doc, &v) == 0);
	CHECK_JSON(v, "[]");
	CHECK(eval_in("$.missing[*]", doc, &v) == 0);
	CHECK_JSON(v, "[]");

	/* deep scan in document order, at every level including the root */
	CHECK(eval_in("$..name", nested, &v) == 1);
	CHECK_JSON(v, "[0,1,2,3]");
	CHECK(eval_in("$.x..name", nested, &v) == 1);
	CHECK_JSON(v, "[1,2]");
	CHECK(eval_in("$..[0]", nested, &v) == 1);
	CHECK_JSON(v, "[{\"name\":3}]");
	CHECK(eval_in("$..l[*].name", nested, &v) == 1);
	CHECK_JSON(v, "[3]");
	CHECK(eval_in("$.x..*", nested, &v) == 1);
	CHECK_JSON(v, "[1,{\"name\":2},2]");

	/* filters */
	CHECK(eval_in("$.items[?(@.qty > 3)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"B\"]");
	CHECK(eval_in("$.items[?(@.qty >= 2.0)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\",\"B\"]");
	CHECK(eval_in("$.items[?(@.qty < 5)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\"]");
	CHECK(eval_in("$.items[?(@.qty <= 5)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\",\"B\"]");
	CHECK(eval_in("$.items[?(@.qty == 5)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"B\"]");
	CHECK(eval_in("$.items[?(@.qty != 2)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"B\"]");
	CHECK(eval_in("$.items[?(@.sku == 'C')]", items, &v) == 1);
	CHECK_JSON(v, "[{\"sku\":\"C\",\"n\":null}]");
	CHECK(eval_in("$.items[?(@.sku != \"A\")].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"B\",\"C\"]");
	CHECK(eval_in("$.items[?(@.sku < 'B')].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\"]");
	CHECK(eval_in("$.items[?(@.qty)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\",\"B\"]");
	CHECK(eval_in("$.items[?(@.n)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"C\"]");
	CHECK(eval_in("$.items[?(@.n == null)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"C\"]");
	CHECK(eval_in("$.items[?(@.ok == true)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\"]");
	CHECK(eval_in("$.items[?(@.ok == false)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"B\"]");
	CHECK(eval_in("$.items[?(@.ok > false)]", items, &v) == 0);
	CHECK(eval_in("$.items[?(@ == 7)]", items, &v) == 1);
	CHECK_JSON(v, "[7]");
	CHECK(eval_in("$.items[?(@ == 'scalar')]", items, &v) == 1);
	CHECK_JSON(v, "[\"scalar\"]");
	CHECK(eval_in("$.items[?(@.qty == '5')]", items, &v) == 0);
	CHECK(eval_in("$.items[?(@['sku'] == 'B')].qty", items, &v) == 1);
	CHECK_JSON(v, "[5]");
	CHECK(eval_in("$.items[?(@.qty > 100)]", items, &v) == 0);
	CHECK_JSON(v, "[]");
	CHECK(eval_in("$..[?(@.qty == 2)].sku", items, &v) == 1);
	CHECK_JSON(v, "[\"A\"]");
	CHECK(eval_in("$.x[?(@.name)]", nested, &v) == 1);
	CHECK_JSON(v, "[{\"name\":2}]");
}

/* counts calls of the $$ builder */
static json_object *
build_test_context(void *arg)
{
	int		   *calls = arg;

	(*calls)++;
	return tu_json("{\"Execution\":{\"Id\":\"exec-1\",\"Input\":{\"a\":1}},"
				   "\"Map\":{\"Item\":{\"Index\":2}}}");
}

/* $$, variables, and the context builder */
static void
test_path_roots(void)
{
	OfEvalEnv	env = env_for(tu_json("{\"a\":\"in\"}"));
	json_object *v;
	int			calls = 0;
	OfError		err;
	bool		found;

	/* no context at all: an error, not "no match" */
	CHECK(!of_path_eval(path("$$.Execution.Id"), &env, &v, &found, &err));
	CHECK(v == NULL);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_CONTAINS(err.cause, "context");

	env.build_context = build_test_context;
	env.build_context_arg = &calls;
	CHECK(eval_env("$$.Execution.Id", &env, &v) == 1);
	CHECK_JSON(v, "\"exec-1\"");
	CHECK_INT(calls, 1);
	CHECK(eval_env("$$.Map.Item.Index", &env, &v) == 1);
	CHECK_JSON(v, "2");
	CHECK(eval_env("$.a", &env, &v) == 1);
	CHECK_INT(calls, 2);
	CHECK(eval_env("$$.Nope", &env, &v) == 0);

	env.context = tu_json("{\"State\":{\"Name\":\"S\"}}");
	CHECK(eval_env("$$.State.Name", &env, &v) == 1);
	CHECK_JSON(v, "\"S\"");
	CHECK(eval_env("$$", &env, &v) == 1);
	CHECK(v == env.context);
	CHECK_INT(calls, 3);

	/* variables: a missing variable or variables object is "no match" */
	CHECK(eval_env("$order", &env, &v) == 0);
	CHECK(eval_env("$order[*]", &env, &v) == 0);
	CHECK_JSON(v, "[]");
	env.variables = tu_json("{\"order\":{\"id\":7,\"lines\":[1,2]},\"nothing\":null}");
	CHECK(eval_env("$order.id", &env, &v) == 1);
	CHECK_JSON(v, "7");
	CHECK(eval_env("$order.lines[*]", &env, &v) == 1);
	CHECK_JSON(v, "[1,2]");
	CHECK(eval_env("$nothing", &env, &v) == 1 && v == NULL);
	CHECK(eval_env("$other", &env, &v) == 0);
	CHECK(eval_env("$order.missing", &env, &v) == 0);
}

/* ------------------------------------------------------------------
 * ResultPath
 * ------------------------------------------------------------------ */

/* placing results into a copy of the raw input */
static void
test_path_set(void)
{
	json_object *raw = tu_json("{\"a\":1,\"obj\":{\"old\":true}}");
	json_object *value = tu_json("{\"r\":1}");
	json_object *out;
	OfError		err;

	CHECK(set_path("$.b", "{\"a\":1}", "5", &out, &err));
	CHECK_JSON(out, "{\"a\":1,\"b\":5}");
	CHECK(set_path("$.x.y.z", "{\"a\":1}", "\"deep\"", &out, &err));
	CHECK_JSON(out, "{\"a\":1,\"x\":{\"y\":{\"z\":\"deep\"}}}");
	CHECK(set_path("$.a", "{\"a\":{\"old\":1},\"b\":2}", "{\"n\":2}", &out, &err));
	CHECK_JSON(out, "{\"a\":{\"n\":2},\"b\":2}");
	CHECK(set_path("$.obj.added", "{\"obj\":{\"k\":1}}", "[1]", &out, &err));
	CHECK_JSON(out, "{\"obj\":{\"k\":1,\"added\":[1]}}");
	CHECK(set_path("$.b", "{\"a\":1}", "null", &out, &err));
	CHECK_JSON(out, "{\"a\":1,\"b\":null}");
	CHECK(set_path("$['with space']", "{}", "1", &out, &err));
	CHECK_JSON(out, "{\"with space\":1}");
	CHECK(set_path("$.l[1]", "{\"l\":[1,2,3]}", "\"x\"", &out, &err));
	CHECK_JSON(out, "{\"l\":[1,\"x\",3]}");
	CHECK(set_path("$.l[0].k", "{\"l\":[{}]}", "1", &out, &err));
	CHECK_JSON(out, "{\"l\":[{\"k\":1}]}");
	CHECK(set_path("$.l[0].k.m", "{\"l\":[{}]}", "1", &out, &err));
	CHECK_JSON(out, "{\"l\":[{\"k\":{\"m\":1}}]}");
	CHECK(set_path("$[0]", "[1,2]", "9", &out, &err));
	CHECK_JSON(out, "[9,2]");

	/* $ and a missing ResultPath replace the input */
	CHECK(set_path("$", "{\"a\":1}", "\"r\"", &out, &err));
	CHECK_JSON(out, "\"r\"");
	CHECK(of_path_set(NULL, raw, value, &out, &err));
	CHECK(out == value);
	tu_keep(out);

	/* the raw input is not modified */
	CHECK(of_path_set(path("$.obj.new"), raw, value, &out, &err));
	tu_keep(out);
	CHECK_JSON(out, "{\"a\":1,\"obj\":{\"old\":true,\"new\":{\"r\":1}}}");
	CHECK_JSON(raw, "{\"a\":1,\"obj\":{\"old\":true}}");
	CHECK(json_object_object_get(out, "obj") != json_object_object_get(raw, "obj"));

	/* stepping onto something that is not an object */
	CHECK(!set_path("$.a.b", "{\"a\":1}", "1", &out, &err));
	CHECK(out == NULL);
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK_CONTAINS(err.cause, "'$.a.b'");
	CHECK_CONTAINS(err.cause, "the value at '$.a' is not an object");
	CHECK(!set_path("$.x", "\"a string\"", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK_CONTAINS(err.cause, "the value at '$' is not an object");
	CHECK(!set_path("$.x", "[1]", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$.x", "null", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$.a.b", "{\"a\":null}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$.a.b.c", "{\"a\":{\"b\":\"s\"}}", "1", &out, &err));
	CHECK_CONTAINS(err.cause, "'$.a.b' is not an object");

	/* array steps must exist */
	CHECK(!set_path("$.l[3]", "{\"l\":[1,2,3]}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK_CONTAINS(err.cause, "element 3");
	CHECK(!set_path("$.l[0]", "{}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$.l[0].k", "{\"l\":[1]}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$.l[5].k", "{\"l\":[{}]}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!set_path("$[0]", "{\"0\":1}", "1", &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);

	/* only reference paths into the input */
	CHECK(!of_path_set(path("$$.x"), raw, value, &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!of_path_set(path("$.a[*]"), raw, value, &out, &err));
	CHECK_STR(err.error, OF_ERR_RESULT_PATH);
	CHECK(!of_path_set(path("$v.a"), raw, value, &out, &err));
	CHECK(out == NULL);
}

/* ------------------------------------------------------------------
 * Templates
 * ------------------------------------------------------------------ */

/* the conformance case pass_parameters_static_and_paths */
static void
test_template_basic(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	json_object *input = tu_json("{\"order\":{\"id\":\"ORD-1001\",\"customer\":\"acme\","
								 "\"items\":[{\"sku\":\"SKU-RED-1\",\"qty\":2},"
								 "{\"sku\":\"SKU-BLU-2\",\"qty\":1,\"weight\":4}]}}");
	OfEvalEnv	env = env_for(input);
	OfTemplate *t;
	json_object *out;
	OfError		err;

	t = template_of("{\"static\":\"v\",\"number\":3,\"flag\":false,\"none\":null,"
					"\"id.$\":\"$.order.id\","
					"\"nested\":{\"firstSku.$\":\"$.order.items[0].sku\","
					"\"list\":[1,{\"cust.$\":\"$.order.customer\"}]},"
					"\"items.$\":\"$.order.items[1]\"}", problems);
	CHECK(t != NULL);
	CHECK_INT(json_object_array_length(problems), 0);
	CHECK(!of_template_uses_context(t));
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"static\":\"v\",\"number\":3,\"flag\":false,\"none\":null,"
			   "\"id\":\"ORD-1001\",\"nested\":{\"firstSku\":\"SKU-RED-1\","
			   "\"list\":[1,{\"cust\":\"acme\"}]},"
			   "\"items\":{\"sku\":\"SKU-BLU-2\",\"qty\":1,\"weight\":4}}");
	/* the input is not changed, and evaluation can be repeated */
	CHECK(json_object_object_length(input) == 1);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(json_object_object_get(out, "id"), "\"ORD-1001\"");

	/* key order is kept */
	t = template_of("{\"z\":1,\"y.$\":\"$.order.id\",\"x\":2}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_STR(to_text(out), "{\"z\":1,\"y\":\"ORD-1001\",\"x\":2}");

	/* whole input, indefinite paths, nulls */
	t = template_of("{\"all.$\":\"$\",\"skus.$\":\"$.order.items[*].sku\","
					"\"none.$\":\"$.order.items[?(@.qty > 10)]\"}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(json_object_object_get(out, "skus"), "[\"SKU-RED-1\",\"SKU-BLU-2\"]");
	CHECK_JSON(json_object_object_get(out, "none"), "[]");
	CHECK(of_json_equal(json_object_object_get(out, "all"), input));
	CHECK(template_eval(t, &env, &out, &err));

	env.input = tu_json("{\"n\":null}");
	t = template_of("{\"n.$\":\"$.n\"}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"n\":null}");
	CHECK(json_object_object_get_ex(out, "n", NULL));
	CHECK_INT(json_object_array_length(problems), 0);
}

/* static templates, arrays and scalars */
static void
test_template_shapes(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	json_object *payload = tu_json("{\"a\":[1,{\"b\":\"c\"}],\"d\":{\"e.f\":\"$.x\"}}");
	OfEvalEnv	env = env_for(tu_json("{\"x\":5,\"arr\":[1,2]}"));
	OfTemplate *t;
	json_object *out;
	OfError		err;

	/* no ".$" anywhere: the payload itself, by reference */
	t = of_template_compile(payload, "/P", record_report, problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK(out == payload);

	t = template_of("[1,{\"v.$\":\"$.x\"},[{\"w.$\":\"$.arr[1]\"}],\"s\"]", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "[1,{\"v\":5},[{\"w\":2}],\"s\"]");

	t = template_of("\"$.x\"", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "\"$.x\"");
	t = template_of("null", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK(out == NULL);
	t = template_of("{}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{}");

	/* a ".$" key at depth keeps sibling literals */
	t = template_of("{\"lit\":{\"k\":[true]},\"deep\":{\"deeper\":{\"v.$\":\"$.x\",\"c\":0}}}",
					problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"lit\":{\"k\":[true]},\"deep\":{\"deeper\":{\"v\":5,\"c\":0}}}");

	/* "$" inside a literal string, and ".$" not at the end, are literal */
	t = template_of("{\"a.$b\":\"$.x\",\"s\":\"$.x\"}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"a.$b\":\"$.x\",\"s\":\"$.x\"}");

	/* variables */
	env.variables = tu_json("{\"limit\":10}");
	t = template_of("{\"l.$\":\"$limit\"}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"l\":10}");
	CHECK_INT(json_object_array_length(problems), 0);
}

/* runtime failures of templates */
static void
test_template_runtime_errors(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	OfEvalEnv	env = env_for(tu_json("{\"x\":5}"));
	OfTemplate *t;
	json_object *out;
	OfError		err;

	t = template_of("{\"ok.$\":\"$.x\",\"x.$\":\"$.missing\"}", problems);
	CHECK(t != NULL);
	CHECK(!template_eval(t, &env, &out, &err));
	CHECK(out == NULL);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_STR(err.cause, "The JsonPath argument for the field 'x.$' could not find a value in the input: $.missing");

	t = template_of("{\"outer\":[{\"in.$\":\"$.x.y\"}]}", problems);
	CHECK(!template_eval(t, &env, &out, &err));
	CHECK_CONTAINS(err.cause, "'in.$'");

	t = template_of("{\"c.$\":\"$$.Execution.Nope\"}", problems);
	env.context = tu_json("{\"Execution\":{}}");
	CHECK(!template_eval(t, &env, &out, &err));
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_CONTAINS(err.cause, "context object");

	t = template_of("{\"v.$\":\"$nope\"}", problems);
	CHECK(!template_eval(t, &env, &out, &err));
	CHECK_STR(err.error, OF_ERR_RUNTIME);

	/* no context object and no builder */
	env.context = NULL;
	t = template_of("{\"c.$\":\"$$.Execution.Id\"}", problems);
	CHECK(!template_eval(t, &env, &out, &err));
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_INT(json_object_array_length(problems), 0);
}

/* compile-time problems are reported with JSON-pointer locations */
static void
test_template_compile_errors(void)
{
	json_object *problems = tu_keep(json_object_new_array());

	CHECK(template_of("{\"x.$\":5}", problems) == NULL);
	CHECK_INT(json_object_array_length(problems), 1);
	CHECK_STR(problem_field(problems, 0, "severity"), "ERROR");
	CHECK_STR(problem_field(problems, 0, "code"), "PATH_KEY_NOT_STRING");
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/x.$");
	CHECK_CONTAINS(problem_field(problems, 0, "message"), "x.$");

	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"a/b.$\":\"nope\"}", problems) == NULL);
	CHECK_STR(problem_field(problems, 0, "code"), "INVALID_PATH");
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/a~1b.$");

	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"t~/.$\":\"$[\"}", problems) == NULL);
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/t~0~1.$");
	CHECK_CONTAINS(problem_field(problems, 0, "message"), "offset 2");

	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"l\":[0,{\"y.$\":\"bad\"}],\"ok.$\":\"$.a\"}", problems) == NULL);
	CHECK_INT(json_object_array_length(problems), 1);
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/l/1/y.$");

	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"z.$\":\"States.Nope(\"}", problems) == NULL);
	CHECK_STR(problem_field(problems, 0, "code"), "INVALID_INTRINSIC");
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/z.$");

	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"a\":1,\"a.$\":\"$.x\"}", problems) == NULL);
	CHECK_STR(problem_field(problems, 0, "code"), "DUPLICATE_FIELD");
	CHECK_STR(problem_field(problems, 0, "location"), "/States/A/Parameters/a.$");

	/* every problem is reported, not just the first */
	problems = tu_keep(json_object_new_array());
	CHECK(template_of("{\"a.$\":1,\"b.$\":\"x\",\"c\":{\"d.$\":[]},\"e.$\":null,\"f.$\":\"$.ok\"}",
					  problems) == NULL);
	CHECK_INT(json_object_array_length(problems), 4);

	/* a NULL report callback is allowed */
	CHECK(of_template_compile(tu_json("{\"a.$\":1}"), "/x", NULL, NULL) == NULL);
	CHECK(of_template_compile(tu_json("{\"a.$\":\"$.a\"}"), NULL, NULL, NULL) != NULL);
}

/* deep templates compile and evaluate in linear time; literals are shared */
static void
test_template_deep(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	OfEvalEnv	env = env_for(tu_json("{\"x\":5}"));
	json_object *payload;
	json_object *out;
	json_object *v;
	OfTemplate *t;
	OfError		err;
	char	   *text;
	size_t		pos = 0;
	int			depth = 400;
	int			i;

	text = malloc((size_t) depth * 24 + 64);
	for (i = 0; i < depth; i++)
		pos += sprintf(text + pos, "{\"lit\":[1],\"a\":");
	pos += sprintf(text + pos, "{\"v.$\":\"$.x\"}");
	for (i = 0; i < depth; i++)
		text[pos++] = '}';
	text[pos] = '\0';
	payload = tu_json(text);
	free(text);

	t = of_template_compile(payload, "", record_report, problems);
	CHECK(t != NULL);
	CHECK(template_eval(t, &env, &out, &err));
	v = out;
	for (i = 0; i < depth && v != NULL; i++)
	{
		/* the literal sibling is the definition's own value */
		if (i == 0)
			CHECK(json_object_object_get(v, "lit") == json_object_object_get(payload, "lit"));
		v = json_object_object_get(v, "a");
	}
	CHECK_JSON(v, "{\"v\":5}");
	CHECK_INT(json_object_array_length(problems), 0);
}

/* $$ use is detected through paths and intrinsics, at any depth */
static void
test_template_context(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	OfEvalEnv	env = env_for(tu_json("{\"x\":5}"));
	int			calls = 0;
	OfTemplate *t;
	json_object *out;
	OfError		err;

	CHECK(of_template_uses_context(template_of("{\"a.$\":\"$$.Execution.Id\"}", problems)));
	CHECK(!of_template_uses_context(template_of("{\"a.$\":\"$.x\"}", problems)));
	CHECK(of_template_uses_context(template_of("[{\"b\":[{\"a.$\":\"$$\"}]}]", problems)));
	CHECK(!of_template_uses_context(template_of("{\"a\":\"$$.x\"}", problems)));
	CHECK(!of_template_uses_context(NULL));
	CHECK(of_template_uses_context(template_of("{\"f.$\":\"States.Format('{}', $$.Execution.Id)\"}",
											   problems)));
	CHECK(!of_template_uses_context(template_of("{\"f.$\":\"States.Format('{}', $.x)\"}",
												problems)));

	env.build_context = build_test_context;
	env.build_context_arg = &calls;
	t = template_of("{\"line.$\":\"$$.Map.Item.Index\",\"in.$\":\"$$.Execution.Input.a\","
					"\"x.$\":\"$.x\"}", problems);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"line\":2,\"in\":1,\"x\":5}");
	CHECK(calls >= 1);
	CHECK_INT(json_object_array_length(problems), 0);
}

/* intrinsic calls go through asl_intrinsic.c */
static void
test_template_intrinsics(void)
{
	json_object *problems = tu_keep(json_object_new_array());
	OfEvalEnv	env = env_for(tu_json("{\"v\":4,\"name\":\"x\"}"));
	OfTemplate *t;
	json_object *out;
	OfError		err;

	t = template_of("{\"doubled.$\":\"States.Array($.v, $.v)\","
					"\"msg.$\":\"States.Format('hi {}', $.name)\"}", problems);
	CHECK(t != NULL);
	CHECK(template_eval(t, &env, &out, &err));
	CHECK_JSON(out, "{\"doubled\":[4,4],\"msg\":\"hi x\"}");
	CHECK_INT(json_object_array_length(problems), 0);
}

/* ------------------------------------------------------------------
 * Choice rules
 * ------------------------------------------------------------------ */

/* a comparison or type test with a literal operand (JSON text) */
static OfChoiceRule *
leaf(OfChoiceOp op, const char *variable, const char *operand)
{
	OfChoiceRule *r = of_alloc(sizeof(OfChoiceRule));

	r->op = op;
	r->variable = path(variable);
	r->operand = operand != NULL ? tu_json(operand) : NULL;
	return r;
}

/* a *Path comparison */
static OfChoiceRule *
leaf_path(OfChoiceOp op, const char *variable, const char *operand_path)
{
	OfChoiceRule *r = of_alloc(sizeof(OfChoiceRule));

	r->op = op;
	r->variable = path(variable);
	r->operand_is_path = true;
	r->operand_path = of_path_compile(operand_path, true, NULL);
	return r;
}

/* And / Or / Not over up to three children */
static OfChoiceRule *
combine(OfChoiceOp op, OfChoiceRule *a, OfChoiceRule *b, OfChoiceRule *c)
{
	OfChoiceRule *r = of_alloc(sizeof(OfChoiceRule));

	r->op = op;
	r->children = of_alloc(3 * sizeof(OfChoiceRule *));
	r->children[r->n_children++] = a;
	if (b != NULL)
		r->children[r->n_children++] = b;
	if (c != NULL)
		r->children[r->n_children++] = c;
	return r;
}

/* evaluate a rule: 1 matched, 0 not, -1 error (err filled) */
static int
decide(const OfChoiceRule *rule, json_object *input, OfError *err)
{
	OfEvalEnv	env = env_for(input);
	bool		matched = true;

	memset(err, 0, sizeof(*err));
	if (!of_choice_eval(rule, &env, &matched, err))
		return -1;
	return matched ? 1 : 0;
}

/* evaluate a rule that must not fail */
static int
ok_decide(const OfChoiceRule *rule, json_object *input)
{
	OfError		err;
	int			r = decide(rule, input, &err);

	if (r < 0)
		printf("     unexpected choice error: %s: %s\n", err.error, err.cause);
	return r;
}

/* String* operators compare by code point and never coerce */
static void
test_choice_strings(void)
{
	json_object *in = tu_json("{\"s\":\"express\",\"z\":\"Zebra\",\"ten\":\"10\","
							  "\"e\":\"\xc3\xa9\",\"n\":5,\"empty\":\"\",\"nul\":null}");

	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.s", "\"express\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.s", "\"Express\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.s", "\"expres\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.s", "\"fast\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.s", "\"express\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_GT, "$.s", "\"exp\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_GT, "$.s", "\"f\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_LE, "$.s", "\"express\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_LE, "$.s", "\"expresa\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_GE, "$.s", "\"expresso\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_GE, "$.s", "\"express\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.z", "\"apple\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.ten", "\"9\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_GT, "$.e", "\"z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.empty", "\"a\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.empty", "\"\""), in) == 1);
	/* no coercion */
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.n", "\"5\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_LT, "$.n", "\"9\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.nul", "\"null\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_EQ, "$.s", "null"), in) == 0);
	/* *Path forms */
	in = tu_json("{\"a\":\"SKU-100\",\"same\":\"SKU-100\",\"b\":\"SKU-200\",\"n\":1}");
	CHECK(ok_decide(leaf_path(OF_OP_STRING_EQ, "$.a", "$.same"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_STRING_LT, "$.a", "$.b"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_STRING_GT, "$.b", "$.a"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_STRING_LE, "$.a", "$.same"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_STRING_GE, "$.a", "$.b"), in) == 0);
	CHECK(ok_decide(leaf_path(OF_OP_STRING_EQ, "$.a", "$.n"), in) == 0);
}

/* StringMatches through the rule and directly */
static void
test_string_matches(void)
{
	json_object *in = tu_json("{\"file\":\"log-2024-03.txt\",\"sku\":\"SKU-RED-1\","
							  "\"empty\":\"\",\"star\":\"a*b\",\"nostar\":\"aXb\",\"n\":1}");

	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.file", "\"log-*.txt\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.file", "\"*.bak\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.sku", "\"SKU-*-*\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.empty", "\"*\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.sku", "\"SKU-RED\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.star", "\"a\\\\*b\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.nostar", "\"a\\\\*b\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_STRING_MATCHES, "$.n", "\"*\""), in) == 0);

	CHECK(of_string_matches("", ""));
	CHECK(of_string_matches("", "*"));
	CHECK(of_string_matches("", "**"));
	CHECK(!of_string_matches("", "a"));
	CHECK(!of_string_matches("a", ""));
	CHECK(of_string_matches("abc", "abc"));
	CHECK(!of_string_matches("abc", "ab"));
	CHECK(!of_string_matches("ab", "abc"));
	CHECK(of_string_matches("abc", "a*c"));
	CHECK(of_string_matches("ac", "a*c"));
	CHECK(of_string_matches("abcbc", "a*bc"));
	CHECK(!of_string_matches("abcbd", "a*bc"));
	CHECK(of_string_matches("aaa", "a**"));
	CHECK(of_string_matches("ab", "*b*"));
	CHECK(!of_string_matches("abc", "*x*"));
	CHECK(of_string_matches("mississippi", "m*iss*pi"));
	CHECK(of_string_matches("ABC", "*"));
	CHECK(!of_string_matches("ABC", "abc"));
	CHECK(of_string_matches("a?c", "a?c"));
	CHECK(!of_string_matches("abc", "a?c"));
	CHECK(of_string_matches("a.c", "a.c"));
	CHECK(!of_string_matches("abc", "a.c"));
	CHECK(of_string_matches("[x]", "[x]"));
	/* escapes */
	CHECK(of_string_matches("a*b", "a\\*b"));
	CHECK(!of_string_matches("aXb", "a\\*b"));
	CHECK(!of_string_matches("a**b", "a\\*b"));
	CHECK(of_string_matches("*", "\\*"));
	CHECK(of_string_matches("x*yz", "*\\*y*"));
	CHECK(!of_string_matches("xyz", "*\\*y*"));
	CHECK(of_string_matches("C:\\dir", "C:\\\\*"));
	CHECK(!of_string_matches("C:dir", "C:\\\\*"));
	CHECK(of_string_matches("\\", "\\\\"));
	CHECK(!of_string_matches("\\\\", "\\\\"));
	CHECK(of_string_matches("a\\b", "a\\b"));
	CHECK(of_string_matches("x\\", "x\\"));
	CHECK(of_string_matches("x\\", "x*"));
	/* UTF-8 */
	CHECK(of_string_matches("caf\xc3\xa9", "caf*"));
	CHECK(of_string_matches("\xc3\xa9t\xc3\xa9", "*t*"));
	CHECK(of_string_matches("\xc3\xa9t\xc3\xa9", "\xc3\xa9*\xc3\xa9"));
	/* many stars do not explode */
	CHECK(!of_string_matches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
							 "*a*a*a*a*a*a*a*a*a*a*a*a*a*c"));
	CHECK(of_string_matches("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaac",
							"*a*a*a*a*a*a*a*a*a*a*a*a*a*c"));
}

/* Numeric* operators compare by value, integers exactly */
static void
test_choice_numbers(void)
{
	json_object *in = tu_json("{\"n\":5,\"f\":0.1,\"neg\":-1,\"str\":\"5\",\"five\":5.0,"
							  "\"big\":9007199254740993,\"t\":true,\"nul\":null}");

	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.n", "5"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.n", "5.0"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.five", "5"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.n", "6"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.f", "0.1"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LT, "$.neg", "0"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LT, "$.n", "5"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GT, "$.n", "4.5"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GT, "$.n", "5"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LE, "$.n", "5"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LE, "$.n", "4.99"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GE, "$.n", "6"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GE, "$.n", "5"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GT, "$.big", "9007199254740992"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.big", "9007199254740992"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LT, "$.f", "1e-1"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LT, "$.neg", "-0.5"), in) == 1);
	/* no coercion */
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.str", "5"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_LT, "$.str", "9"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_EQ, "$.t", "1"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_NUMERIC_GE, "$.nul", "0"), in) == 0);
	/* *Path forms */
	in = tu_json("{\"qty\":3,\"limits\":{\"exact\":3,\"max\":10,\"min\":1,\"s\":\"3\"}}");
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_EQ, "$.qty", "$.limits.exact"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_LT, "$.qty", "$.limits.max"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_GT, "$.qty", "$.limits.min"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_LE, "$.qty", "$.limits.min"), in) == 0);
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_GE, "$.qty", "$.limits.exact"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_NUMERIC_EQ, "$.qty", "$.limits.s"), in) == 0);
}

/* BooleanEquals and its *Path form */
static void
test_choice_booleans(void)
{
	json_object *in = tu_json("{\"t\":true,\"f\":false,\"s\":\"true\",\"one\":1,\"t2\":true}");

	CHECK(ok_decide(leaf(OF_OP_BOOLEAN_EQ, "$.t", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_BOOLEAN_EQ, "$.t", "false"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_BOOLEAN_EQ, "$.f", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_BOOLEAN_EQ, "$.s", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_BOOLEAN_EQ, "$.one", "true"), in) == 0);
	CHECK(ok_decide(leaf_path(OF_OP_BOOLEAN_EQ, "$.t", "$.t2"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_BOOLEAN_EQ, "$.t", "$.f"), in) == 0);
	CHECK(ok_decide(leaf_path(OF_OP_BOOLEAN_EQ, "$.t", "$.s"), in) == 0);
}

/* Timestamp* operators compare instants */
static void
test_choice_timestamps(void)
{
	json_object *in = tu_json("{\"t\":\"2024-03-01T10:00:00+02:00\","
							  "\"frac\":\"2024-03-01T08:00:00.500Z\","
							  "\"z\":\"2024-03-01T08:00:00Z\","
							  "\"nozone\":\"2024-03-01T08:00:00\","
							  "\"date\":\"2024-03-01\",\"n\":1709280000,"
							  "\"bad\":\"2024-02-30T00:00:00Z\"}");

	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_EQ, "$.t", "\"2024-03-01T08:00:00Z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_LT, "$.t", "\"2024-03-01T09:00:00Z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_GT, "$.frac", "\"2024-03-01T08:00:00Z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_LE, "$.t", "\"2024-03-01T08:00:00Z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_GE, "$.t", "\"2024-03-01T08:00:00.001Z\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_GT, "$.t", "\"2024-03-01T07:59:59.999999Z\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_EQ, "$.frac", "\"2024-03-01T09:00:00.5+01:00\""), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_LT, "$.z", "\"2024-03-01T03:00:00-05:00\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_EQ, "$.z", "\"2024-03-01T03:00:00-05:00\""), in) == 1);
	/* not timestamps: false, whichever side */
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_EQ, "$.nozone", "\"2024-03-01T08:00:00Z\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_LE, "$.date", "\"2025-01-01T00:00:00Z\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_GT, "$.n", "\"1970-01-01T00:00:00Z\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_LT, "$.bad", "\"2025-01-01T00:00:00Z\""), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_TIMESTAMP_EQ, "$.z", "\"garbage\""), in) == 0);
	/* *Path forms */
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_EQ, "$.t", "$.z"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_LT, "$.t", "$.frac"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_GT, "$.frac", "$.t"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_LE, "$.z", "$.t"), in) == 1);
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_GE, "$.z", "$.frac"), in) == 0);
	CHECK(ok_decide(leaf_path(OF_OP_TIMESTAMP_EQ, "$.z", "$.nozone"), in) == 0);
}

/* type tests, with true and false operands */
static void
test_choice_type_tests(void)
{
	json_object *in = tu_json("{\"nothing\":null,\"zero\":0,\"float\":1.5,\"numstr\":\"1\","
							  "\"empty\":\"\",\"no\":false,\"boolstr\":\"false\","
							  "\"ts\":\"2024-01-01T00:00:00Z\",\"date\":\"2024-01-01\","
							  "\"tsnozone\":\"2024-01-01T00:00:00\",\"obj\":{},\"arr\":[]}");

	CHECK(ok_decide(leaf(OF_OP_IS_NULL, "$.nothing", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NULL, "$.zero", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_NULL, "$.zero", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NULL, "$.nothing", "false"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_NULL, "$.obj", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.nothing", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.absent", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.absent", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.zero", "false"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.obj.deep.er", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.arr[0]", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.arr[*]", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_PRESENT, "$.obj", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NUMERIC, "$.float", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NUMERIC, "$.zero", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NUMERIC, "$.numstr", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_NUMERIC, "$.numstr", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_NUMERIC, "$.nothing", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_STRING, "$.empty", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_STRING, "$.nothing", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_STRING, "$.zero", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_BOOLEAN, "$.no", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_BOOLEAN, "$.boolstr", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_BOOLEAN, "$.zero", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_TIMESTAMP, "$.ts", "true"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_TIMESTAMP, "$.date", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_TIMESTAMP, "$.tsnozone", "true"), in) == 0);
	CHECK(ok_decide(leaf(OF_OP_IS_TIMESTAMP, "$.tsnozone", "false"), in) == 1);
	CHECK(ok_decide(leaf(OF_OP_IS_TIMESTAMP, "$.zero", "true"), in) == 0);
}

/* missing values fail the execution, except under IsPresent */
static void
test_choice_missing(void)
{
	json_object *in = tu_json("{\"a\":1,\"s\":\"x\"}");
	OfError		err;

	CHECK(decide(leaf(OF_OP_NUMERIC_EQ, "$.x", "1"), in, &err) == -1);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_STR(err.cause, "Invalid path '$.x': The choice state's condition path references an invalid value.");
	CHECK(decide(leaf(OF_OP_IS_NULL, "$.x", "true"), in, &err) == -1);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK(decide(leaf(OF_OP_IS_TIMESTAMP, "$.x", "false"), in, &err) == -1);
	CHECK(decide(leaf(OF_OP_STRING_MATCHES, "$.x", "\"*\""), in, &err) == -1);
	CHECK(decide(leaf(OF_OP_BOOLEAN_EQ, "$.x", "true"), in, &err) == -1);
	CHECK(decide(leaf(OF_OP_STRING_EQ, "$.x[*]", "\"a\""), in, &err) == -1);
	CHECK(decide(leaf_path(OF_OP_NUMERIC_EQ, "$.a", "$.nope"), in, &err) == -1);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK_CONTAINS(err.cause, "'$.nope'");
	CHECK(decide(leaf_path(OF_OP_STRING_EQ, "$.nope", "$.s"), in, &err) == -1);
	CHECK_CONTAINS(err.cause, "'$.nope'");
	CHECK(decide(leaf(OF_OP_IS_PRESENT, "$.x", "true"), in, &err) == 0);
	/* $$ without a context object is an error, even under IsPresent */
	CHECK(decide(leaf(OF_OP_IS_PRESENT, "$$.x", "true"), in, &err) == -1);
}

/* And, Or and Not, with short-circuit */
static void
test_choice_logic(void)
{
	json_object *in = tu_json("{\"qty\":3,\"priority\":\"express\",\"gift\":false}");
	OfChoiceRule *qty_pos = leaf(OF_OP_NUMERIC_GT, "$.qty", "0");
	OfChoiceRule *express = leaf(OF_OP_STRING_EQ, "$.priority", "\"express\"");
	OfChoiceRule *standard = leaf(OF_OP_STRING_EQ, "$.priority", "\"standard\"");
	OfChoiceRule *gift = leaf(OF_OP_BOOLEAN_EQ, "$.gift", "true");
	OfChoiceRule *missing_eq = leaf(OF_OP_NUMERIC_EQ, "$.missing", "1");
	OfChoiceRule *missing_present = leaf(OF_OP_IS_PRESENT, "$.missing", "true");
	OfError		err;

	CHECK(ok_decide(combine(OF_OP_AND, qty_pos, express, NULL), in) == 1);
	CHECK(ok_decide(combine(OF_OP_AND, qty_pos, standard, NULL), in) == 0);
	CHECK(ok_decide(combine(OF_OP_AND, qty_pos, express, gift), in) == 0);
	CHECK(ok_decide(combine(OF_OP_OR, leaf(OF_OP_NUMERIC_GT, "$.qty", "100"), express, NULL), in) == 1);
	CHECK(ok_decide(combine(OF_OP_OR, standard, gift, NULL), in) == 0);
	CHECK(ok_decide(combine(OF_OP_NOT, standard, NULL, NULL), in) == 1);
	CHECK(ok_decide(combine(OF_OP_NOT, express, NULL, NULL), in) == 0);
	CHECK(ok_decide(combine(OF_OP_NOT, combine(OF_OP_NOT, leaf(OF_OP_BOOLEAN_EQ, "$.gift", "false"),
											   NULL, NULL), NULL, NULL), in) == 1);
	/* the conformance case's nested rule */
	CHECK(ok_decide(combine(OF_OP_OR,
							combine(OF_OP_AND, leaf(OF_OP_NUMERIC_LT, "$.qty", "0"), gift, NULL),
							combine(OF_OP_NOT, combine(OF_OP_OR, express, gift, NULL), NULL, NULL),
							NULL), in) == 0);

	/* short-circuit: the IsPresent guard protects the comparison */
	CHECK(ok_decide(combine(OF_OP_AND, missing_present, missing_eq, NULL), in) == 0);
	CHECK(ok_decide(combine(OF_OP_OR, express, missing_eq, NULL), in) == 1);
	CHECK(ok_decide(combine(OF_OP_OR, combine(OF_OP_NOT, missing_present, NULL, NULL),
							missing_eq, NULL), in) == 1);
	/* without the guard the failure propagates */
	CHECK(decide(combine(OF_OP_AND, qty_pos, missing_eq, NULL), in, &err) == -1);
	CHECK_STR(err.error, OF_ERR_RUNTIME);
	CHECK(decide(combine(OF_OP_OR, standard, missing_eq, NULL), in, &err) == -1);
	CHECK(decide(combine(OF_OP_NOT, missing_eq, NULL, NULL), in, &err) == -1);
}

/* Choice rules read $$ and variables too */
static void
test_choice_roots(void)
{
	OfEvalEnv	env = env_for(tu_json("{}"));
	int			calls = 0;
	bool		matched = false;
	OfError		err;

	env.build_context = build_test_context;
	env.build_context_arg = &calls;
	env.variables = tu_json("{\"limit\":3}");
	CHECK(of_choice_eval(leaf(OF_OP_STRING_EQ, "$$.Execution.Id", "\"exec-1\""), &env,
						 &matched, &err) && matched);
	CHECK(of_choice_eval(leaf(OF_OP_NUMERIC_EQ, "$limit", "3"), &env, &matched, &err) &&
		  matched);
	CHECK(of_choice_eval(leaf_path(OF_OP_NUMERIC_LT, "$$.Map.Item.Index", "$limit"), &env,
						 &matched, &err) && matched);
	CHECK(!of_choice_eval(leaf(OF_OP_NUMERIC_EQ, "$other", "3"), &env, &matched, &err));
	CHECK_STR(err.error, OF_ERR_RUNTIME);
}

int
main(void)
{
	test_json_equal();
	test_json_numbers();
	test_json_to_string();
	test_json_parse();
	test_timestamps();
	test_path_syntax_errors();
	test_path_reference();
	test_path_accessors();
	test_path_eval_definite();
	test_path_eval_indefinite();
	test_path_roots();
	test_path_set();
	test_template_basic();
	test_template_shapes();
	test_template_runtime_errors();
	test_template_compile_errors();
	test_template_deep();
	test_template_context();
	test_template_intrinsics();
	test_choice_strings();
	test_string_matches();
	test_choice_numbers();
	test_choice_booleans();
	test_choice_timestamps();
	test_choice_type_tests();
	test_choice_missing();
	test_choice_logic();
	test_choice_roots();
	return TEST_SUMMARY();
}
