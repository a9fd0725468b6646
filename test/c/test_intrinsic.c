/*-------------------------------------------------------------------------
 *
 * test_intrinsic.c
 *	  Unit tests of asl_intrinsic.c: OfExpr compilation and evaluation of
 *	  paths and every intrinsic function, their compile-time and run-time
 *	  errors, and the expressions of the conformance intr_* cases.
 *
 * States.Hash gets its digests from OpenSSL (libcrypto), as the server
 * does; the random callbacks are deterministic.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "testutil.h"

/* the input most expressions run against */
static const char *const INPUT =
"{"
"\"list\": [1, 2, 3],"
"\"objs\": [{\"a\": 1}, {\"b\": [2]}],"
"\"needle\": {\"b\": [2]},"
"\"none\": [],"
"\"dups\": [1, 1, \"1\", {\"a\": 1}, {\"a\": 1}, null, null, 2],"
"\"notArray\": \"abc\","
"\"label\": \"ORD-1001|SKU-RED-1|qty=2\","
"\"b64\": \"aGVsbG8gd29ybGQ=\","
"\"id\": \"ORD-1001\", \"lines\": 3, \"express\": true, \"kg\": 2.5, \"gift\": null,"
"\"text\": \"{\\\"sku\\\": \\\"SKU-1\\\", \\\"qty\\\": [1, 2]}\","
"\"obj\": {\"a\": 1, \"b\": [1, 2], \"c\": {\"d\": null}},"
"\"s\": \"x\", \"n\": 1.5, \"zero\": 0, \"minus\": -1, \"big\": 1e10,"
"\"csv\": \"SKU-1,SKU-2,SKU-3\", \"single\": \"solo\","
"\"Id\": 123456,"
"\"inputArray\": [1, 2, 3, 4, 5, 6, 7, 8, 9], \"index\": 5,"
"\"name\": \"Arnav\", \"template\": \"Hello, my name is {}.\","
"\"rawTemplate\": \"a\\\\{}\","
"\"json1\": {\"a\": {\"a1\": 1, \"a2\": 2}, \"b\": 2},"
"\"json2\": {\"a\": {\"a3\": 1, \"a4\": 2}, \"c\": 3},"
"\"yes\": true, \"value1\": 111, \"step\": -1, \"start\": 1, \"end\": 999,"
"\"Data\": \"input data\", \"Algorithm\": \"SHA-1\", \"badAlgorithm\": \"SHA-2\","
"\"multi\": \"This.is+a,test=string\", \"splitter\": \".+,=\","
"\"badJson\": \"{\\\"a\\\": }\","
"\"arn\": \"arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe.v1/1.0.0\","
"\"a,b\": \"comma\","
"\"tags\": [{\"t\": \"x)y\"}, {\"t\": \"c,d\"}, {\"t\": \"e]f\"}]"
"}";

static json_object *input;
static json_object *context;
static json_object *variables;
static double next_random = 0.5;
static int uuid_calls = 0;

/* States.Hash through OpenSSL, lower-case hex */
static bool
openssl_hash(const char *algorithm, const char *data, size_t len,
			 char *hex_out, size_t hex_out_size)
{
	const EVP_MD *md = NULL;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int n;
	unsigned int i;

	if (strcmp(algorithm, "MD5") == 0)
		md = EVP_md5();
	else if (strcmp(algorithm, "SHA-1") == 0)
		md = EVP_sha1();
	else if (strcmp(algorithm, "SHA-256") == 0)
		md = EVP_sha256();
	else if (strcmp(algorithm, "SHA-384") == 0)
		md = EVP_sha384();
	else if (strcmp(algorithm, "SHA-512") == 0)
		md = EVP_sha512();
	if (md == NULL || !EVP_Digest(data, len, digest, &n, md, NULL) ||
		2 * (size_t) n + 1 > hex_out_size)
		return false;
	for (i = 0; i < n; i++)
		snprintf(hex_out + 2 * i, 3, "%02x", digest[i]);
	return true;
}

/* a hash callback that always fails */
static bool
failing_hash(const char *algorithm, const char *data, size_t len,
			 char *hex_out, size_t hex_out_size)
{
	return false;
}

/* a fixed-pattern version 4 UUID that changes on every call */
static void
test_uuid(char out[37])
{
	snprintf(out, 37, "00000000-0000-4000-8000-%012d", ++uuid_calls);
}

/* the "random" number the test chose */
static double
test_random(void)
{
	return next_random;
}

/* the environment the tests evaluate in */
static OfEvalEnv
make_env(void)
{
	OfEvalEnv	env;

	memset(&env, 0, sizeof(env));
	env.input = input;
	env.context = context;
	env.variables = variables;
	env.hash = openssl_hash;
	env.random_uuid = test_uuid;
	env.random_double = test_random;
	return env;
}

/* compile and evaluate in env; *compiled says whether it compiled */
static bool
run(const char *text, const OfEvalEnv *env, json_object **result, OfError *err,
	bool *compiled)
{
	OfExpr	   *expr = of_expr_compile(text, err);

	*result = NULL;
	*compiled = expr != NULL;
	return expr != NULL && of_expr_eval(expr, env, result, err);
}

/* text evaluates, in env, to the JSON value `expected` */
static void
expect_in(int line, const char *text, const OfEvalEnv *env, const char *expected)
{
	json_object *got;
	OfError		err = {"", ""};
	bool		compiled;
	bool		ok = run(text, env, &got, &err, &compiled);
	char	   *got_text = ok ? of_json_to_string(got) : NULL;

	if (!tu_check(ok && of_json_equal(got, tu_json(expected)), __FILE__, line, text))
		printf("     got: %s %s\n     expected: %s\n", ok ? "" : err.error,
			   ok ? got_text : err.cause, expected);
	free(got_text);
	json_object_put(got);
}

/* text evaluates to `expected` in the standard environment */
static void
expect(int line, const char *text, const char *expected)
{
	OfEvalEnv	env = make_env();

	expect_in(line, text, &env, expected);
}

/* text compiles, and evaluation in env fails with States.Runtime + cause */
static void
expect_runtime_error_in(int line, const char *text, const OfEvalEnv *env,
						const char *cause)
{
	json_object *got;
	OfError		err = {"", ""};
	bool		compiled;
	bool		ok = run(text, env, &got, &err, &compiled);

	if (!tu_check(compiled && !ok && got == NULL &&
				  strcmp(err.error, OF_ERR_RUNTIME) == 0 &&
				  strstr(err.cause, cause) != NULL, __FILE__, line, text))
		printf("     got: %s%s %s\n     expected: run-time %s ...%s...\n",
			   compiled ? "" : "(compile error) ", ok ? "success" : err.error,
			   err.cause, OF_ERR_RUNTIME, cause);
	json_object_put(got);
}

/* expect_runtime_error_in the standard environment */
static void
expect_runtime_error(int line, const char *text, const char *cause)
{
	OfEvalEnv	env = make_env();

	expect_runtime_error_in(line, text, &env, cause);
}

/* text does not compile; the cause contains `cause` and the offset */
static void
expect_compile_error(int line, const char *text, const char *cause, int offset)
{
	OfError		err = {"", ""};
	OfExpr	   *expr = of_expr_compile(text, &err);
	char		at[32];

	snprintf(at, sizeof(at), "at offset %d", offset);
	if (!tu_check(expr == NULL && strstr(err.cause, cause) != NULL &&
				  strstr(err.cause, at) != NULL, __FILE__, line, text))
		printf("     got: %s %s\n     expected: compile error ...%s... %s\n",
			   expr == NULL ? "error" : "compiled", err.cause, cause, at);
}

#define EXPECT(text, expected) expect(__LINE__, (text), (expected))
#define EXPECT_IN(text, env, expected) expect_in(__LINE__, (text), (env), (expected))
#define EXPECT_RUNTIME_ERROR(text, cause) \
	expect_runtime_error(__LINE__, (text), (cause))
#define EXPECT_RUNTIME_ERROR_IN(text, env, cause) \
	expect_runtime_error_in(__LINE__, (text), (env), (cause))
#define EXPECT_COMPILE_ERROR(text, cause, offset) \
	expect_compile_error(__LINE__, (text), (cause), (offset))

/* the result of text as a malloc'd JSON string, or NULL */
static char *
result_text(const char *text, const OfEvalEnv *env)
{
	json_object *got;
	OfError		err;
	bool		compiled;
	char	   *s = NULL;

	if (run(text, env, &got, &err, &compiled))
		s = of_json_to_string(got);
	json_object_put(got);
	return s;
}

/* ------------------------------------------------------------------ */

/* plain paths: delegated to asl_path.c, no match is States.Runtime */
static void
test_paths(void)
{
	OfError		err;
	OfExpr	   *e;

	EXPECT("$.list", "[1,2,3]");
	EXPECT("$.obj.c", "{\"d\":null}");
	EXPECT("$.gift", "null");
	EXPECT("$$.Execution.Name", "\"run-1\"");
	EXPECT("$greeting", "\"hey\"");
	EXPECT_RUNTIME_ERROR("$.missing", "\"$.missing\" matched nothing");
	EXPECT_RUNTIME_ERROR("$.list[7]", "matched nothing");

	/* is_intrinsic and uses_context, also for $$ nested in a call */
	e = of_expr_compile("$.list", &err);
	CHECK(e != NULL && !of_expr_is_intrinsic(e) && !of_expr_uses_context(e));
	e = of_expr_compile("$$.Execution.Name", &err);
	CHECK(e != NULL && !of_expr_is_intrinsic(e) && of_expr_uses_context(e));
	e = of_expr_compile("States.Array($.a)", &err);
	CHECK(e != NULL && of_expr_is_intrinsic(e) && !of_expr_uses_context(e));
	e = of_expr_compile("States.Array(1, States.Format('{}', $$.Execution.Name))", &err);
	CHECK(e != NULL && of_expr_uses_context(e));

	/* a path that does not compile keeps asl_path.c's message */
	CHECK(of_expr_compile("$.", &err) == NULL && err.cause[0] != '\0');
}

/* the conformance case intr_format and more States.Format */
static void
test_format(void)
{
	EXPECT("States.Format('Order {} has {} lines, express={}', $.id, $.lines, $.express)",
		   "\"Order ORD-1001 has 3 lines, express=true\"");
	EXPECT("States.Format('no placeholders')", "\"no placeholders\"");
	EXPECT("States.Format('{}kg', $.kg)", "\"2.5kg\"");
	EXPECT("States.Format('gift={}', $.gift)", "\"gift=null\"");

	/* AWS documentation examples */
	EXPECT("States.Format('Hello, my name is {}.', $.name)", "\"Hello, my name is Arnav.\"");
	EXPECT("States.Format($.template, $.name)", "\"Hello, my name is Arnav.\"");

	/* values: numbers as JSON, objects and arrays as compact JSON */
	EXPECT("States.Format('{}|{}|{}|{}|{}', 1, -2.25, 1e2, false, null)",
		   "\"1|-2.25|100|false|null\"");
	EXPECT("States.Format('{} {}', $.obj, $.list)",
		   "\"{\\\"a\\\":1,\\\"b\\\":[1,2],\\\"c\\\":{\\\"d\\\":null}} [1,2,3]\"");
	EXPECT("States.Format('{}{}', 'a', 'b')", "\"ab\"");
	EXPECT("States.Format('')", "\"\"");

	/* escapes in a literal template; an escaped {} is no placeholder */
	EXPECT("States.Format('\\{\\} and {} it\\'s \\\\', $.name)",
		   "\"{} and Arnav it's \\\\\"");
	EXPECT("States.Format('\\{} {\\}')", "\"{} {}\"");
	EXPECT("States.Format('{ {} }', 1)", "\"{ 1 }\"");
	/* a template from data has no escapes */
	EXPECT("States.Format($.rawTemplate, 'x')", "\"a\\\\x\"");
	/* placeholders in values are not expanded again */
	EXPECT("States.Format('{}-{}', '{}', 'b')", "\"{}-b\"");

	/* nested */
	EXPECT("States.Format('{} items', States.ArrayLength($.list))", "\"3 items\"");
	EXPECT("States.Format('{}.{}.{}', "
		   "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 2), '.'), 0), "
		   "States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.arn, '/'), 2), '.'), 1), "
		   "'x')",
		   "\"1.0.x\"");

	/* errors */
	EXPECT_COMPILE_ERROR("States.Format('{} {}', 1)", "2 placeholder(s) but 1 value(s)", 0);
	EXPECT_COMPILE_ERROR("States.Format('{}', $.a, $.b)", "1 placeholder(s) but 2 value(s)", 0);
	EXPECT_COMPILE_ERROR("States.Format()", "States.Format takes at least 1 argument(s), not 0", 0);
	EXPECT_COMPILE_ERROR("States.Format(1)", "argument 1 must be a string, not a number", 14);
	EXPECT_COMPILE_ERROR("States.Format(States.Array())", "must be a string, but States.Array returns an array", 14);
	EXPECT_RUNTIME_ERROR("States.Format($.template)", "1 placeholder(s) but 0 value(s)");
	EXPECT_RUNTIME_ERROR("States.Format($.lines)", "States.Format: argument 1 must be a string, not a number");
	EXPECT_RUNTIME_ERROR("States.Format('{}', $.missing)",
						 "States.Format: argument 2: the JSONPath \"$.missing\" matched nothing");
}

/* conformance intr_json_string_roundtrip, and more */
static void
test_json_string(void)
{
	EXPECT("States.StringToJson($.text)", "{\"sku\":\"SKU-1\",\"qty\":[1,2]}");
	EXPECT("States.JsonToString($.obj)", "\"{\\\"a\\\":1,\\\"b\\\":[1,2],\\\"c\\\":{\\\"d\\\":null}}\"");
	EXPECT("States.JsonToString($.s)", "\"\\\"x\\\"\"");
	EXPECT("States.JsonToString($.n)", "\"1.5\"");
	EXPECT("States.JsonToString($.gift)", "\"null\"");
	EXPECT("States.JsonToString(States.Array(1, 'a/b', null))", "\"[1,\\\"a/b\\\",null]\"");
	EXPECT("States.StringToJson('{\"a\": [1, 2.5, \"x\"]}')", "{\"a\":[1,2.5,\"x\"]}");
	EXPECT("States.StringToJson(' 42 ')", "42");
	EXPECT("States.StringToJson('null')", "null");
	EXPECT("States.StringToJson(States.JsonToString($.obj))", "{\"a\":1,\"b\":[1,2],\"c\":{\"d\":null}}");

	EXPECT_RUNTIME_ERROR("States.StringToJson($.badJson)", "States.StringToJson: invalid JSON");
	EXPECT_RUNTIME_ERROR("States.StringToJson($.obj)", "argument 1 must be a string, not an object");
	EXPECT_COMPILE_ERROR("States.StringToJson('{bad')", "States.StringToJson: invalid JSON", 0);
	EXPECT_COMPILE_ERROR("States.StringToJson('')", "invalid JSON", 0);
	EXPECT_COMPILE_ERROR("States.StringToJson(1)", "must be a string", 20);
	EXPECT_COMPILE_ERROR("States.JsonToString()", "takes exactly 1 argument(s), not 0", 0);
	EXPECT_COMPILE_ERROR("States.JsonToString($.a, $.b)", "not 2", 0);
}

/* States.Array */
static void
test_array(void)
{
	EXPECT("States.Array()", "[]");
	EXPECT("States.Array($.Id)", "[123456]");
	EXPECT("States.Array('a', 1, 2.5, true, false, null, -3, 1e2, -0.5E-1)",
		   "[\"a\",1,2.5,true,false,null,-3,100,-0.05]");
	EXPECT("States.Array(States.Array(1), States.Array(), $.none)", "[[1],[],[]]");
	EXPECT("States.Array( 1 ,\t'two' ,\n$.lines )  ", "[1,\"two\",3]");
	EXPECT("States.Array(9223372036854775807, -9223372036854775808)",
		   "[9223372036854775807,-9223372036854775808]");
	EXPECT("States.Array(99999999999999999999)", "[1e20]");
}

/* States.ArrayPartition */
static void
test_array_partition(void)
{
	EXPECT("States.ArrayPartition($.inputArray,4)", "[[1,2,3,4],[5,6,7,8],[9]]");
	EXPECT("States.ArrayPartition($.inputArray, 9)", "[[1,2,3,4,5,6,7,8,9]]");
	EXPECT("States.ArrayPartition($.inputArray, 100)", "[[1,2,3,4,5,6,7,8,9]]");
	EXPECT("States.ArrayPartition($.list, 1)", "[[1],[2],[3]]");
	EXPECT("States.ArrayPartition($.none, 2)", "[]");
	/* AWS rounds a non-integer chunk size */
	EXPECT("States.ArrayPartition($.inputArray, 4.4)", "[[1,2,3,4],[5,6,7,8],[9]]");
	EXPECT("States.ArrayPartition($.inputArray, 4.5)", "[[1,2,3,4,5],[6,7,8,9]]");

	EXPECT_COMPILE_ERROR("States.ArrayPartition($.list, 0)", "chunk size must be a positive integer, not 0", 30);
	EXPECT_COMPILE_ERROR("States.ArrayPartition($.list, -2)", "positive integer", 30);
	EXPECT_COMPILE_ERROR("States.ArrayPartition($.list, 0.4)", "positive integer", 30);
	EXPECT_COMPILE_ERROR("States.ArrayPartition($.list, '2')", "argument 2 must be a number, not a string", 30);
	EXPECT_COMPILE_ERROR("States.ArrayPartition('abc', 2)", "argument 1 must be an array, not a string", 22);
	EXPECT_COMPILE_ERROR("States.ArrayPartition($.list)", "takes exactly 2 argument(s), not 1", 0);
	EXPECT_RUNTIME_ERROR("States.ArrayPartition($.list, $.zero)", "chunk size must be a positive integer");
	EXPECT_RUNTIME_ERROR("States.ArrayPartition($.notArray, 2)", "argument 1 must be an array, not a string");
}

/* conformance intr_array_queries: ArrayContains, GetItem, Length, Unique */
static void
test_array_queries(void)
{
	EXPECT("States.ArrayContains($.list, 3)", "true");
	EXPECT("States.ArrayContains($.objs, $.needle)", "true");
	EXPECT("States.ArrayContains($.list, 42)", "false");
	EXPECT("States.ArrayGetItem($.list, 1)", "2");
	EXPECT("States.ArrayLength($.list)", "3");
	EXPECT("States.ArrayLength($.none)", "0");
	EXPECT("States.ArrayUnique($.dups)", "[1,\"1\",{\"a\":1},null,2]");

	/* AWS documentation examples */
	EXPECT("States.ArrayContains($.inputArray, 5)", "true");
	EXPECT("States.ArrayGetItem($.inputArray, $.index)", "6");
	EXPECT("States.ArrayLength($.inputArray)", "9");
	EXPECT("States.ArrayUnique(States.Array(1,2,3,3,3,3,3,3,4))", "[1,2,3,4]");

	/* deep equality, numbers by value, no coercion */
	EXPECT("States.ArrayContains($.list, 3.0)", "true");
	EXPECT("States.ArrayContains($.list, '3')", "false");
	EXPECT("States.ArrayContains($.dups, null)", "true");
	EXPECT("States.ArrayContains($.none, null)", "false");
	EXPECT("States.ArrayContains($.objs, States.StringToJson('{\"b\":[2.0]}'))", "true");
	EXPECT("States.ArrayContains($.objs, States.StringToJson('{\"b\":[2,3]}'))", "false");
	EXPECT("States.ArrayUnique(States.StringToJson('[{\"a\":1,\"b\":2},{\"b\":2,\"a\":1},1,1.0,-0,0,[1,[2]],[1,[2]],[[2],1],\"\",\"\"]'))",
		   "[{\"a\":1,\"b\":2},1,-0,[1,[2]],[[2],1],\"\"]");
	EXPECT("States.ArrayUnique($.none)", "[]");
	EXPECT("States.ArrayUnique(States.Array(true, false, true, 'true', false))", "[true,false,\"true\"]");
	EXPECT("States.ArrayGetItem($.objs, 1)", "{\"b\":[2]}");
	EXPECT("States.ArrayGetItem($.dups, 5)", "null");
	EXPECT("States.ArrayGetItem($.list, 2.0)", "3");

	EXPECT_RUNTIME_ERROR("States.ArrayLength($.notArray)",
						 "States.ArrayLength: argument 1 must be an array, not a string");
	EXPECT_RUNTIME_ERROR("States.ArrayContains($.obj, 1)", "must be an array, not an object");
	EXPECT_RUNTIME_ERROR("States.ArrayUnique($.n)", "must be an array, not a number");
	EXPECT_RUNTIME_ERROR("States.ArrayGetItem($.list, 3)",
						 "States.ArrayGetItem: index 3 is out of range for an array of 3 item(s)");
	EXPECT_RUNTIME_ERROR("States.ArrayGetItem($.none, 0)", "out of range");
	EXPECT_RUNTIME_ERROR("States.ArrayGetItem($.list, $.minus)", "non-negative integer, not -1");
	EXPECT_RUNTIME_ERROR("States.ArrayGetItem($.list, $.n)", "non-negative integer, not 1.5");
	EXPECT_COMPILE_ERROR("States.ArrayGetItem($.list, -1)", "the index must be a non-negative integer, not -1", 28);
	EXPECT_COMPILE_ERROR("States.ArrayGetItem($.list, 0.5)", "non-negative integer", 28);
	EXPECT_COMPILE_ERROR("States.ArrayGetItem($.list, null)", "argument 2 must be a number, not null", 28);
	EXPECT_COMPILE_ERROR("States.ArrayLength(1)", "must be an array, not a number", 19);
	EXPECT_COMPILE_ERROR("States.ArrayLength()", "takes exactly 1", 0);
	EXPECT_COMPILE_ERROR("States.ArrayUnique($.a, $.b)", "takes exactly 1", 0);
	EXPECT_COMPILE_ERROR("States.ArrayContains($.a)", "takes exactly 2", 0);
	EXPECT_COMPILE_ERROR("States.ArrayContains(States.Array(1), 1, 2)", "takes exactly 2 argument(s), not 3", 0);
}

/* ArrayUnique stays fast on a large array */
static void
test_array_unique_large(void)
{
	json_object *big = json_object_new_array();
	json_object *in = json_object_new_object();
	OfEvalEnv	env = make_env();
	json_object *got;
	OfError		err;
	bool		compiled;
	int			i;

	for (i = 0; i < 200000; i++)
		json_object_array_add(big, json_object_new_int(i % 5000));
	json_object_object_add(in, "big", big);
	env.input = in;
	/* ArrayUnique of 200000 items */
	CHECK(run("States.ArrayLength(States.ArrayUnique($.big))", &env, &got, &err, &compiled) &&
		  json_object_get_int(got) == 5000);
	json_object_put(got);
	json_object_put(in);
}

/* States.ArrayRange */
static void
test_array_range(void)
{
	char	   *s;
	OfEvalEnv	env = make_env();

	EXPECT("States.ArrayRange(1, 9, 2)", "[1,3,5,7,9]");
	EXPECT("States.ArrayRange(1, 10, 2)", "[1,3,5,7,9]");
	EXPECT("States.ArrayRange(0, 0, 1)", "[0]");
	EXPECT("States.ArrayRange(10, 1, -3)", "[10,7,4,1]");
	EXPECT("States.ArrayRange(10, 0, -4)", "[10,6,2]");
	EXPECT("States.ArrayRange(-2, 2, 1)", "[-2,-1,0,1,2]");
	EXPECT("States.ArrayRange(5, 1, 1)", "[]");
	EXPECT("States.ArrayRange(1, 5, -1)", "[]");
	EXPECT("States.ArrayRange(1.4, 3.5, 0.6)", "[1,2,3,4]");
	EXPECT("States.ArrayRange($.start, 3, $.start)", "[1,2,3]");
	EXPECT("States.ArrayLength(States.ArrayRange(1, 1000, 1))", "1000");
	EXPECT("States.ArrayLength(States.ArrayRange(-2147483648, 2147483647, 4294968))", "1000");

	s = result_text("States.ArrayRange(1, 1000, 1)", &env);
	/* ArrayRange(1, 1000, 1) runs from 1 to 1000 */
	CHECK(s != NULL && strncmp(s, "[1,2,3,", 7) == 0 && strstr(s, ",999,1000]") != NULL);
	free(s);

	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 1001, 1)", "the range has 1001 items, more than the limit of 1000", 0);
	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 5, 0)", "the step must not be 0", 24);
	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 5, 0.4)", "step must not be 0", 24);
	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 2147483648, 1)", "argument 2 must be an integer between -2147483648 and 2147483647", 21);
	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 5, 3000000000)", "argument 3 must be an integer between", 24);
	EXPECT_COMPILE_ERROR("States.ArrayRange(1, 5)", "takes exactly 3 argument(s), not 2", 0);
	EXPECT_COMPILE_ERROR("States.ArrayRange('1', 5, 1)", "argument 1 must be a number, not a string", 18);
	EXPECT("States.ArrayLength(States.ArrayRange(0, $.end, 0.5))", "1000");
	EXPECT_RUNTIME_ERROR("States.ArrayRange(-1, $.end, 1)", "the range has 1001 items");
	EXPECT_RUNTIME_ERROR("States.ArrayRange(0, $.Id, 1)", "the range has 123457 items, more than the limit of 1000");
	EXPECT_RUNTIME_ERROR("States.ArrayRange(0, 5, $.zero)", "the step must not be 0");
	EXPECT_RUNTIME_ERROR("States.ArrayRange(0, $.big, 1)", "must be an integer between");
	EXPECT_RUNTIME_ERROR("States.ArrayRange(0, $.s, 1)", "argument 2 must be a number, not a string");
}

/* conformance intr_base64, and more */
static void
test_base64(void)
{
	OfEvalEnv	env = make_env();
	json_object *in = json_object_new_object();
	char	   *text = malloc(10002);

	EXPECT("States.Base64Encode($.label)", "\"T1JELTEwMDF8U0tVLVJFRC0xfHF0eT0y\"");
	EXPECT("States.Base64Decode($.b64)", "\"hello world\"");
	EXPECT("States.Base64Decode(States.Base64Encode($.label))", "\"ORD-1001|SKU-RED-1|qty=2\"");
	EXPECT("States.Base64Encode('Data to encode')", "\"RGF0YSB0byBlbmNvZGU=\"");
	EXPECT("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", "\"Data to encode\"");
	EXPECT("States.Base64Encode('')", "\"\"");
	EXPECT("States.Base64Encode('a')", "\"YQ==\"");
	EXPECT("States.Base64Encode('ab')", "\"YWI=\"");
	EXPECT("States.Base64Encode('abc')", "\"YWJj\"");
	EXPECT("States.Base64Encode('\xc3\xa9\xe2\x82\xac')", "\"w6nigqw=\"");
	EXPECT("States.Base64Encode('\\'\\{\\}\\\\?>')", "\"J3t9XD8+\"");
	EXPECT("States.Base64Decode('')", "\"\"");
	EXPECT("States.Base64Decode('YQ==')", "\"a\"");
	EXPECT("States.Base64Decode('YQ')", "\"a\"");
	EXPECT("States.Base64Decode('YWI')", "\"ab\"");
	EXPECT("States.Base64Decode('w6nigqw=')", "\"\xc3\xa9\xe2\x82\xac\"");
	EXPECT("States.Base64Decode('J3t9XD8+')", "\"'{}\\\\?>\"");
	EXPECT("States.Base64Encode('\xf0\x9f\x98\x80')", "\"8J+YgA==\"");
	EXPECT("States.Base64Decode('8J+YgA==')", "\"\xf0\x9f\x98\x80\"");

	EXPECT_COMPILE_ERROR("States.Base64Decode('!!!!')", "States.Base64Decode: the argument is not valid base64", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('YQ=')", "not valid base64", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('Y')", "not valid base64", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('YQ==YQ==')", "not valid base64", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('Y Q==')", "not valid base64", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('/w==')", "not UTF-8 text", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('AA==')", "without NUL characters", 0);
	EXPECT_COMPILE_ERROR("States.Base64Decode('7aCA')", "not UTF-8", 0);	/* a surrogate */
	EXPECT_COMPILE_ERROR("States.Base64Decode('ww==')", "not UTF-8", 0);	/* cut short */
	EXPECT_COMPILE_ERROR("States.Base64Decode('wMA=')", "not UTF-8", 0);	/* overlong */
	EXPECT_COMPILE_ERROR("States.Base64Decode('gA==')", "not UTF-8", 0);	/* continuation */
	EXPECT_COMPILE_ERROR("States.Base64Encode(1)", "argument 1 must be a string, not a number", 20);
	EXPECT_COMPILE_ERROR("States.Base64Encode()", "takes exactly 1", 0);
	EXPECT_RUNTIME_ERROR("States.Base64Decode($.label)", "not valid base64");
	EXPECT_RUNTIME_ERROR("States.Base64Encode($.list)", "must be a string, not an array");

	/* 10,000 characters at most (characters, not bytes) */
	memset(text, 'a', 10000);
	text[10000] = '\0';
	json_object_object_add(in, "ok", json_object_new_string(text));
	{
		/* 10000 two-byte characters */
		char	   *wide = malloc(20001);
		int			i;

		for (i = 0; i < 10000; i++)
			memcpy(wide + 2 * i, "\xc3\xa9", 2);
		wide[20000] = '\0';
		json_object_object_add(in, "wide", json_object_new_string(wide));
		memcpy(wide + 19998, "ab", 3);
		json_object_object_add(in, "wide2", json_object_new_string(wide));
		free(wide);
	}
	memset(text, 'a', 10001);
	text[10001] = '\0';
	json_object_object_add(in, "long", json_object_new_string(text));
	memset(text, 'Q', 10001);
	json_object_object_add(in, "longB64", json_object_new_string(text));
	env.input = in;
	EXPECT_IN("States.ArrayLength(States.Array(States.Base64Encode($.ok)))", &env, "1");
	EXPECT_IN("States.ArrayLength(States.Array(States.Base64Encode($.wide)))", &env, "1");
	EXPECT_RUNTIME_ERROR_IN("States.Base64Encode($.wide2)", &env,
							"States.Base64Encode: argument 1 has 10001 characters, more than the limit of 10000");
	EXPECT_RUNTIME_ERROR_IN("States.Base64Encode($.long)", &env, "more than the limit of 10000");
	EXPECT_RUNTIME_ERROR_IN("States.Base64Decode($.longB64)", &env, "10001 characters, more than the limit");
	json_object_put(in);
	free(text);
}

/* States.Hash with OpenSSL digests */
static void
test_hash(void)
{
	OfEvalEnv	env = make_env();
	json_object *in = json_object_new_object();
	char	   *text = malloc(10002);

	EXPECT("States.Hash($.Data, $.Algorithm)", "\"aaff4a450a104cd177d28d18d74485e8cae074b7\"");
	EXPECT("States.Hash('input data', 'MD5')", "\"812f45842bc6d66ee14572ce20db8e86\"");
	EXPECT("States.Hash('input data', 'SHA-1')", "\"aaff4a450a104cd177d28d18d74485e8cae074b7\"");
	EXPECT("States.Hash('input data', 'SHA-256')",
		   "\"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3\"");
	EXPECT("States.Hash('input data', 'SHA-384')",
		   "\"d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562\"");
	EXPECT("States.Hash('input data', 'SHA-512')",
		   "\"6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4\"");
	EXPECT("States.Hash('', 'SHA-256')",
		   "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"");

	EXPECT_COMPILE_ERROR("States.Hash('x', 'SHA-2')", "States.Hash: unknown algorithm \"SHA-2\"", 17);
	EXPECT_COMPILE_ERROR("States.Hash('x', 'sha-256')", "unknown algorithm", 17);
	EXPECT_COMPILE_ERROR("States.Hash('x')", "takes exactly 2 argument(s), not 1", 0);
	EXPECT_COMPILE_ERROR("States.Hash(1, 'MD5')", "argument 1 must be a string, not a number", 12);
	EXPECT_RUNTIME_ERROR("States.Hash($.Data, $.badAlgorithm)", "unknown algorithm \"SHA-2\"");
	EXPECT_RUNTIME_ERROR("States.Hash($.obj, 'MD5')", "argument 1 must be a string, not an object");

	env.hash = NULL;
	EXPECT_RUNTIME_ERROR_IN("States.Hash('x', 'MD5')", &env, "States.Hash: hashing is not available");
	env.hash = failing_hash;
	EXPECT_RUNTIME_ERROR_IN("States.Hash('x', 'MD5')", &env, "States.Hash: computing the MD5 hash failed");

	memset(text, 'a', 10001);
	text[10001] = '\0';
	json_object_object_add(in, "long", json_object_new_string(text));
	text[10000] = '\0';
	json_object_object_add(in, "ok", json_object_new_string(text));
	env = make_env();
	env.input = in;
	EXPECT_RUNTIME_ERROR_IN("States.Hash($.long, 'MD5')", &env, "more than the limit of 10000");
	EXPECT_IN("States.ArrayLength(States.Array(States.Hash($.ok, 'MD5')))", &env, "1");
	json_object_put(in);
	free(text);
}

/* States.JsonMerge (shallow only) */
static void
test_json_merge(void)
{
	OfEvalEnv	env = make_env();
	char	   *before = of_json_to_string(input);
	char	   *after;

	EXPECT("States.JsonMerge($.json1, $.json2, false)",
		   "{\"a\":{\"a3\":1,\"a4\":2},\"b\":2,\"c\":3}");
	EXPECT("States.JsonMerge($.json2, $.json1, false)",
		   "{\"a\":{\"a1\":1,\"a2\":2},\"b\":2,\"c\":3}");
	EXPECT("States.JsonMerge($.json1, States.StringToJson('{}'), false)", "{\"a\":{\"a1\":1,\"a2\":2},\"b\":2}");
	after = of_json_to_string(input);
	/* JsonMerge leaves its inputs alone */
	CHECK(strcmp(before, after) == 0);
	free(before);
	free(after);

	EXPECT_COMPILE_ERROR("States.JsonMerge($.json1, $.json2, true)",
						 "States.JsonMerge: deep merging is not supported, the third argument must be false", 35);
	EXPECT_COMPILE_ERROR("States.JsonMerge($.json1, $.json2)", "takes exactly 3", 0);
	EXPECT_COMPILE_ERROR("States.JsonMerge($.json1, $.json2, 'false')", "argument 3 must be a boolean, not a string", 35);
	EXPECT_COMPILE_ERROR("States.JsonMerge(States.Array(), $.json2, false)", "must be an object, but States.Array returns an array", 17);
	EXPECT_RUNTIME_ERROR("States.JsonMerge($.json1, $.json2, $.yes)", "deep merging is not supported");
	EXPECT_RUNTIME_ERROR("States.JsonMerge($.json1, $.list, false)", "argument 2 must be an object, not an array");
	(void) env;
}

/* States.MathRandom and States.MathAdd */
static void
test_math(void)
{
	OfEvalEnv	env = make_env();
	char	   *a;
	char	   *b;
	int			i;
	bool		in_range = true;

	next_random = 0.5;
	EXPECT("States.MathRandom($.start, $.end)", "500");
	EXPECT("States.MathRandom(0, 10)", "5");
	next_random = 0.0;
	EXPECT("States.MathRandom(-5, 5)", "-5");
	next_random = 0.9999999999;
	EXPECT("States.MathRandom(1, 999)", "998");
	EXPECT("States.MathRandom(1, 2)", "1");
	next_random = 0.5;
	EXPECT("States.MathRandom(1.5, 3.4)", "2");	/* 2 .. 3 */

	/* a seed gives the same number every time, within the range */
	a = result_text("States.MathRandom(1, 999, 42)", &env);
	b = result_text("States.MathRandom(1, 999, 42)", &env);
	/* MathRandom with a seed repeats */
	CHECK(a != NULL && b != NULL && strcmp(a, b) == 0);
	free(a);
	free(b);
	for (i = 0; i < 200; i++)
	{
		char		expr[64];
		char	   *r;
		long		v;

		snprintf(expr, sizeof(expr), "States.MathRandom(10, 20, %d)", i);
		r = result_text(expr, &env);
		v = r != NULL ? strtol(r, NULL, 10) : -1;
		in_range = in_range && v >= 10 && v < 20;
		free(r);
	}
	/* seeded MathRandom stays in [start, end) */
	CHECK(in_range);
	a = result_text("States.MathRandom(0, 1000000, 1)", &env);
	b = result_text("States.MathRandom(0, 1000000, 2)", &env);
	/* different seeds, different numbers */
	CHECK(a != NULL && b != NULL && strcmp(a, b) != 0);
	free(a);
	free(b);

	EXPECT_RUNTIME_ERROR("States.MathRandom(5, 5)", "the end (5) must be greater than the start (5)");
	EXPECT_RUNTIME_ERROR("States.MathRandom($.end, $.start)", "must be greater than the start");
	EXPECT_COMPILE_ERROR("States.MathRandom(1)", "takes 2 to 3 argument(s), not 1", 0);
	EXPECT_COMPILE_ERROR("States.MathRandom(1, 2, 3, 4)", "takes 2 to 3 argument(s), not 4", 0);
	EXPECT_COMPILE_ERROR("States.MathRandom(1, 'x')", "argument 2 must be a number, not a string", 21);
	EXPECT_COMPILE_ERROR("States.MathRandom(1, 2, 'seed')", "argument 3 must be a number", 24);
	EXPECT_COMPILE_ERROR("States.MathRandom(1, 3000000000)", "must be an integer between", 21);
	env.random_double = NULL;
	EXPECT_RUNTIME_ERROR_IN("States.MathRandom(1, 2)", &env, "random numbers are not available");
	EXPECT_IN("States.MathRandom(1, 2, 7)", &env, "1");

	EXPECT("States.MathAdd(111, -1)", "110");
	EXPECT("States.MathAdd($.value1, $.step)", "110");
	EXPECT("States.MathAdd(-5, -6)", "-11");
	EXPECT("States.MathAdd(1.5, 1)", "3");		/* rounded half up, as Java */
	EXPECT("States.MathAdd(-1.5, 0)", "-1");
	EXPECT("States.MathAdd(-2.6, 0.4)", "-3");
	EXPECT("States.MathAdd(2147483647, 2147483647)", "4294967294");
	EXPECT("States.MathAdd(-2147483648, 0)", "-2147483648");
	EXPECT("States.MathAdd(States.ArrayLength($.list), 1)", "4");
	EXPECT_COMPILE_ERROR("States.MathAdd(2147483648, 0)",
						 "States.MathAdd: argument 1 must be an integer between -2147483648 and 2147483647, not 2147483648", 15);
	EXPECT_COMPILE_ERROR("States.MathAdd(1)", "takes exactly 2", 0);
	EXPECT_COMPILE_ERROR("States.MathAdd(1, true)", "argument 2 must be a number, not a boolean", 18);
	EXPECT_COMPILE_ERROR("States.MathAdd(1, States.Format('1'))", "must be a number, but States.Format returns a string", 18);
	EXPECT_RUNTIME_ERROR("States.MathAdd($.big, 1)", "must be an integer between -2147483648 and 2147483647, not 10000000000");
	EXPECT_RUNTIME_ERROR("States.MathAdd($.s, 1)", "argument 1 must be a number, not a string");
}

/* conformance intr_string_split, and the AWS-recorded edge cases */
static void
test_string_split(void)
{
	EXPECT("States.StringSplit($.csv, ',')", "[\"SKU-1\",\"SKU-2\",\"SKU-3\"]");
	EXPECT("States.StringSplit('pick pack ship', ' ')", "[\"pick\",\"pack\",\"ship\"]");
	EXPECT("States.StringSplit($.single, ',')", "[\"solo\"]");

	EXPECT("States.StringSplit('1,2,3,4,5', ',')", "[\"1\",\"2\",\"3\",\"4\",\"5\"]");
	EXPECT("States.StringSplit($.multi, $.splitter)", "[\"This\",\"is\",\"a\",\"test\",\"string\"]");
	EXPECT("States.StringSplit(' ', ',')", "[\" \"]");
	EXPECT("States.StringSplit(' , ', ',')", "[\" \",\" \"]");
	EXPECT("States.StringSplit(', , ,', ',')", "[\" \",\" \"]");
	EXPECT("States.StringSplit(',,,,', ',')", "[]");
	EXPECT("States.StringSplit('', ',')", "[]");
	EXPECT("States.StringSplit('abc', '')", "[\"abc\"]");
	EXPECT("States.StringSplit(States.StringToJson('\"split on T and \\\\nnew line\"'), "
		   "States.StringToJson('\"T\\\\n\"'))",
		   "[\"split on \",\" and \",\"new line\"]");
	/* delimiters are characters, not bytes */
	EXPECT("States.StringSplit('a\xc3\xa9" "b\xc3\xa9" "c', '\xc3\xa9')", "[\"a\",\"b\",\"c\"]");
	EXPECT("States.StringSplit('a\xc3\x83" "b', '\xc3\xa9')", "[\"a\xc3\x83" "b\"]");
	EXPECT("States.StringSplit('a{b}c\\'d', '\\{\\}\\'')", "[\"a\",\"b\",\"c\",\"d\"]");

	EXPECT_COMPILE_ERROR("States.StringSplit('a')", "takes exactly 2", 0);
	EXPECT_COMPILE_ERROR("States.StringSplit('a', 1)", "argument 2 must be a string, not a number", 24);
	EXPECT_RUNTIME_ERROR("States.StringSplit($.list, ',')", "argument 1 must be a string, not an array");
}

/* States.UUID */
static void
test_uuid_fn(void)
{
	OfEvalEnv	env = make_env();

	uuid_calls = 0;
	EXPECT("States.UUID()", "\"00000000-0000-4000-8000-000000000001\"");
	EXPECT("States.Array(States.UUID(), States.UUID())",
		   "[\"00000000-0000-4000-8000-000000000002\",\"00000000-0000-4000-8000-000000000003\"]");
	EXPECT_COMPILE_ERROR("States.UUID(1)", "takes exactly 0 argument(s), not 1", 0);
	env.random_uuid = NULL;
	EXPECT_RUNTIME_ERROR_IN("States.UUID()", &env, "States.UUID: UUIDs are not available");
}

/* syntax errors, with their offsets */
static void
test_syntax(void)
{
	OfError		err;
	char		deep[512];
	int			i;

	EXPECT_COMPILE_ERROR("", "expected a JSONPath or an intrinsic function call", 0);
	EXPECT_COMPILE_ERROR("foo", "expected a JSONPath or an intrinsic function call", 0);
	EXPECT_COMPILE_ERROR(" States.Array()", "expected a JSONPath", 0);
	EXPECT_COMPILE_ERROR("'text'", "expected a JSONPath", 0);
	EXPECT_COMPILE_ERROR("States.Nope($.a)", "unknown intrinsic function \"States.Nope\"", 0);
	EXPECT_COMPILE_ERROR("states.Array()", "unknown intrinsic function \"states.Array\"", 0);
	EXPECT_COMPILE_ERROR("States.Array(States.Nope())", "unknown intrinsic function \"States.Nope\"", 13);
	EXPECT_COMPILE_ERROR("States.Array($.a", "missing \")\" to close States.Array", 16);
	EXPECT_COMPILE_ERROR("States.Array(1, 2", "missing \")\"", 17);
	EXPECT_COMPILE_ERROR("States.Array(", "unexpected end of text (expected an argument)", 13);
	EXPECT_COMPILE_ERROR("States.Array($.a,)", "unexpected character ')' (expected an argument)", 17);
	EXPECT_COMPILE_ERROR("States.Array(,1)", "unexpected character ','", 13);
	EXPECT_COMPILE_ERROR("States.Array(1 2)", "expected \",\" or \")\" in the arguments of States.Array", 15);
	EXPECT_COMPILE_ERROR("States.Array(1, @)", "unexpected character '@'", 16);
	EXPECT_COMPILE_ERROR("States.Array('abc)", "unterminated string literal", 13);
	EXPECT_COMPILE_ERROR("States.Array('a\\nb')", "invalid escape in string literal", 15);
	EXPECT_COMPILE_ERROR("States.Array('a\\\"b')", "invalid escape", 15);
	EXPECT_COMPILE_ERROR("States.Array('a\\", "invalid escape", 15);
	EXPECT_COMPILE_ERROR("States.Array(01)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(1.)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(.5)", "unexpected \".5\"", 13);
	EXPECT_COMPILE_ERROR("States.Array(-)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(1e)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(1.2.3)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(12abc)", "invalid number", 13);
	EXPECT_COMPILE_ERROR("States.Array(1e999)", "number out of range", 13);
	EXPECT_COMPILE_ERROR("States.Array(tru)", "unexpected \"tru\" (expected an argument)", 13);
	EXPECT_COMPILE_ERROR("States.Array(True)", "unexpected \"True\"", 13);
	EXPECT_COMPILE_ERROR("States.Array(nullx)", "unexpected \"nullx\"", 13);
	EXPECT_COMPILE_ERROR("States.Array(States.Array)", "unexpected \"States.Array\"", 13);
	EXPECT_COMPILE_ERROR("States.Array (1)", "expected a JSONPath or an intrinsic function call", 0);
	EXPECT_COMPILE_ERROR("States.Array(1) x", "unexpected text after the intrinsic function call", 16);
	EXPECT_COMPILE_ERROR("States.Array(1))", "unexpected text after", 15);
	EXPECT_COMPILE_ERROR("States.Array($.a b)", "invalid JSONPath \"$.a b\"", 13);
	EXPECT_COMPILE_ERROR("States.Array(1, $..)", "invalid JSONPath \"$..\"", 16);

	/* 10 nested calls are fine, 11 are not */
	strcpy(deep, "");
	for (i = 0; i < 10; i++)
		strcat(deep, "States.Array(");
	for (i = 0; i < 10; i++)
		strcat(deep, ")");
	EXPECT(deep, "[[[[[[[[[[]]]]]]]]]]");
	strcpy(deep, "");
	for (i = 0; i < 11; i++)
		strcat(deep, "States.Array(");
	for (i = 0; i < 11; i++)
		strcat(deep, ")");
	EXPECT_COMPILE_ERROR(deep, "intrinsic functions are nested more than 10 deep", 130);

	/* compile errors do not depend on err being given */
	CHECK(of_expr_compile("States.Nope()", NULL) == NULL);
	CHECK(of_expr_compile("States.ArrayRange(1, 5000, 1)", NULL) == NULL);
	CHECK(of_expr_compile(NULL, &err) == NULL);
}

/* path arguments: brackets, quotes, filters, $$ and variables */
static void
test_path_arguments(void)
{
	OfEvalEnv	env = make_env();

	EXPECT("States.Array($['a,b'], 1)", "[\"comma\",1]");
	EXPECT("States.Array($.list[0], $.list[2])", "[1,3]");
	EXPECT("States.Array( $.list[0] , $.list[2] )", "[1,3]");
	EXPECT("States.Array($.objs[?(@.a == 1)])", "[[{\"a\":1}]]");
	EXPECT("States.ArrayLength($.list[*])", "3");
	EXPECT("States.Format('{} in {}', $$.Execution.Name, $greeting)", "\"run-1 in hey\"");
	EXPECT("States.ArrayLength(States.Array($, $$))", "2");
	EXPECT("States.Array($.tags[?(@.t == 'x)y')], 1)", "[[{\"t\":\"x)y\"}],1]");
	EXPECT("States.Array($.tags[?(@.t == \"c,d\")],$.tags[?(@.t == 'e]f')])",
		   "[[{\"t\":\"c,d\"}],[{\"t\":\"e]f\"}]]");
	/* an indefinite path that selects nothing matches nothing, too */
	EXPECT_RUNTIME_ERROR("States.Array($.objs[?(@.a == 7)])", "matched nothing");

	/* a path that fails (not just matches nothing) passes its error on */
	env.context = NULL;
	EXPECT_RUNTIME_ERROR_IN("States.Array($$.Execution.Name)", &env, "context object is not available");
	EXPECT_RUNTIME_ERROR_IN("$$.Execution.Name", &env, "context object is not available");
	/* a variable that does not exist matches nothing */
	EXPECT_RUNTIME_ERROR("States.Array($nope)", "States.Array: argument 1: the JSONPath \"$nope\" matched nothing");
	EXPECT("States.JsonToString($$)", "\"{\\\"Execution\\\":{\\\"Name\\\":\\\"run-1\\\"}}\"");
}

int
main(void)
{
	input = tu_json(INPUT);
	context = tu_json("{\"Execution\": {\"Name\": \"run-1\"}}");
	variables = tu_json("{\"greeting\": \"hey\"}");

	test_paths();
	test_format();
	test_json_string();
	test_array();
	test_array_partition();
	test_array_queries();
	test_array_unique_large();
	test_array_range();
	test_base64();
	test_hash();
	test_json_merge();
	test_math();
	test_string_split();
	test_uuid_fn();
	test_syntax();
	test_path_arguments();

	return TEST_SUMMARY();
}
