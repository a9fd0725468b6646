/*-------------------------------------------------------------------------
 *
 * test_bounded.c
 *	  Bounded evaluation (issue 10, findings 6 and 7): the interrupt
 *	  callback stops every long operation and nothing leaks (LeakSanitizer
 *	  checks at exit); byte budgets fail with States.DataLimitExceeded while
 *	  a result is built, not after (the peak of allocated memory, sampled at
 *	  every poll, stays far below what the unchecked result would take);
 *	  path expansion is capped; StringMatches and StringSplit are right on
 *	  edge cases and on the big inputs of the issue (results asserted, never
 *	  times).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN_STATS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN_STATS 1
#endif
#endif
#ifdef HAVE_ASAN_STATS
/* from the sanitizer runtime (sanitizer/allocator_interface.h) */
extern size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* ------------------------------------------------------------------
 * Interrupt callbacks
 * ------------------------------------------------------------------ */

static long polls;				/* calls of the callback */
static long stop_after = -1;	/* say stop at this call (-1: never) */
static size_t peak_bytes;		/* largest allocated size seen at a poll */

static size_t
allocated_now(void)
{
#ifdef HAVE_ASAN_STATS
	return __sanitizer_get_current_allocated_bytes();
#else
	return 0;
#endif
}

/* counts polls, samples memory, and says stop at call number stop_after */
static bool
test_interrupted(void)
{
	size_t		now = allocated_now();

	if (now > peak_bytes)
		peak_bytes = now;
	polls++;
	return stop_after >= 0 && polls > stop_after;
}

static void
reset_polls(long stop)
{
	polls = 0;
	stop_after = stop;
	peak_bytes = allocated_now();
}

static OfEvalEnv
make_env(json_object *input, size_t max_bytes)
{
	OfEvalEnv	env;

	memset(&env, 0, sizeof(env));
	env.input = input;
	env.interrupted = test_interrupted;
	env.max_bytes = max_bytes;
	return env;
}

/* ------------------------------------------------------------------
 * Inputs
 * ------------------------------------------------------------------ */

/* "x" repeated n times, malloc'd */
static char *
repeat(const char *x, size_t n)
{
	size_t		len = strlen(x);
	char	   *s = malloc(len * n + 1);
	size_t		i;

	for (i = 0; i < n; i++)
		memcpy(s + i * len, x, len);
	s[len * n] = '\0';
	return s;
}

/* {"a":{"a":...{"a":1}...}} nested depth times, with a sibling at each level */
static json_object *
deep_object(int depth)
{
	json_object *v = json_object_new_int(1);
	int			i;

	for (i = 0; i < depth; i++)
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "a", v);
		json_object_object_add(o, "b", json_object_new_int(i));
		v = o;
	}
	return tu_keep(v);
}

/* an array of n small different objects */
static json_object *
big_array(int n)
{
	json_object *a = json_object_new_array();
	int			i;

	for (i = 0; i < n; i++)
	{
		json_object *o = json_object_new_object();

		json_object_object_add(o, "k", json_object_new_int(i));
		json_object_array_add(a, o);
	}
	return tu_keep(a);
}

/* an input object: {"s": <string>, "arr": [...], "o1": {...}, "o2": {...}, "deep": {...}} */
static json_object *
make_input(void)
{
	json_object *in = json_object_new_object();
	json_object *o1 = json_object_new_object();
	json_object *o2 = json_object_new_object();
	char	   *s = repeat("ab,", 20000);
	int			i;

	json_object_object_add(in, "s", json_object_new_string(s));
	json_object_object_add(in, "arr", json_object_get(big_array(5000)));
	json_object_object_add(in, "deep", json_object_get(deep_object(60)));
	for (i = 0; i < 3000; i++)
	{
		char		key[32];

		snprintf(key, sizeof(key), "k%d", i);
		json_object_object_add(o1, key, json_object_new_int(i));
		snprintf(key, sizeof(key), "m%d", i);
		json_object_object_add(o2, key, json_object_new_int(i));
	}
	json_object_object_add(in, "o1", o1);
	json_object_object_add(in, "o2", o2);
	free(s);
	return tu_keep(in);
}

/* ------------------------------------------------------------------
 * Interrupts
 * ------------------------------------------------------------------ */

/*
 * Evaluate text (a path starting with $ or an intrinsic) three ways: never
 * interrupted (it succeeds, and polls at least min_polls times, so it is a
 * loop that polls), interrupted at the first poll, and interrupted halfway:
 * both fail with OF_ERR_INTERRUPTED, leave no result and stop polling at
 * once.  Leaks would show at exit.
 */
static void
check_interruptible(int line, const char *text, json_object *input, long min_polls)
{
	OfError		err;
	OfExpr	   *expr = of_expr_compile(text, &err);
	OfEvalEnv	env = make_env(input, 0);
	json_object *result = NULL;
	long		total;
	long		stop;
	bool		ok;

	if (!CHECK(expr != NULL))
	{
		printf("     line %d: %s: %s\n", line, text, err.cause);
		return;
	}
	reset_polls(-1);
	ok = of_expr_eval(expr, &env, &result, &err);
	json_object_put(result);
	total = polls;
	if (!CHECK(ok) || !CHECK(total >= min_polls))
		printf("     line %d: %s: ok %d, %ld polls (at least %ld expected)\n",
			   line, text, ok, total, min_polls);
	for (stop = 0; stop <= total / 2; stop += total / 2 > 0 ? total / 2 : 1)
	{
		memset(&err, 0, sizeof(err));
		result = NULL;
		reset_polls(stop);
		ok = of_expr_eval(expr, &env, &result, &err);
		if (!CHECK(!ok && result == NULL && strcmp(err.error, OF_ERR_INTERRUPTED) == 0) ||
			!CHECK(polls == stop + 1))
			printf("     line %d: %s stopped at poll %ld: ok %d, error %s, %ld polls\n",
				   line, text, stop, ok, err.error, polls);
		json_object_put(result);
	}
}

static void
test_interrupts(void)
{
	json_object *in = make_input();

	/* paths: wildcard, deep scan, filters, slices */
	check_interruptible(__LINE__, "$.arr[*]", in, 10);
	check_interruptible(__LINE__, "$..k", in, 10);
	check_interruptible(__LINE__, "$..*..*", in, 10);
	check_interruptible(__LINE__, "$.arr[?(@.k > 10)]", in, 10);
	check_interruptible(__LINE__, "$.arr[0:5000:2]", in, 5);
	/* intrinsics */
	check_interruptible(__LINE__, "States.StringSplit($.s, ',')", in, 10);
	check_interruptible(__LINE__, "States.ArrayPartition($.arr, 2)", in, 10);
	check_interruptible(__LINE__, "States.ArrayContains($.arr, 'x')", in, 10);
	check_interruptible(__LINE__, "States.ArrayUnique($.arr)", in, 10);
	check_interruptible(__LINE__, "States.JsonMerge($.o1, $.o2, false)", in, 10);
	check_interruptible(__LINE__, "States.ArrayLength(States.ArrayUnique($.arr[*]))", in, 10);
	check_interruptible(__LINE__,
						"States.Format('{}{}{}', States.JsonToString($.arr), $.s, States.Array($.arr, $.o1))",
						in, 4);
}

/* the parser's problems are not looked at here */
static void
ignore_report(void *arg, const char *severity, const char *code,
			  const char *location, const char *message)
{
}

/* a template and a Choice rule stop as well */
static void
test_interrupt_template_choice(void)
{
	json_object *in = make_input();
	json_object *payload = tu_json("{\"a.$\": \"$.arr[*].k\", \"b\": [{\"c.$\": \"$..b\"}, 1]}");
	OfTemplate *tmpl = of_template_compile(payload, "", NULL, NULL);
	OfEvalEnv	env = make_env(in, 0);
	json_object *result = NULL;
	OfError		err;
	OfMachine  *m;
	OfParseOptions opts;
	char	   *def;
	char	   *states;
	bool		matched;
	size_t		len;
	int			i;

	CHECK(tmpl != NULL);
	reset_polls(-1);
	CHECK(of_template_eval(tmpl, &env, &result, &err));
	json_object_put(result);
	CHECK(polls > 10);
	reset_polls(polls / 2);
	result = NULL;
	CHECK(!of_template_eval(tmpl, &env, &result, &err));
	CHECK(result == NULL);
	CHECK_STR(err.error, OF_ERR_INTERRUPTED);

	/* Choice: a rule over a big path, and the definition parse itself */
	memset(&opts, 0, sizeof(opts));
	states = malloc(200 * 64);
	len = 0;
	for (i = 0; i < 200; i++)
	{
		char		next[32];

		if (i < 199)
			snprintf(next, sizeof(next), "\"Next\":\"S%d\"", i + 1);
		else
			snprintf(next, sizeof(next), "\"End\":true");
		len += snprintf(states + len, 200 * 64 - len, "%s\"S%d\":{\"Type\":\"Pass\",%s}",
						i ? "," : "", i, next);
	}
	def = malloc(strlen(states) + 512);
	sprintf(def, "{\"StartAt\":\"C\",\"States\":{\"C\":{\"Type\":\"Choice\",\"Choices\":["
			"{\"Variable\":\"$..k\",\"IsPresent\":true,\"Next\":\"S0\"}],\"Default\":\"S0\"},%s}}",
			states);
	opts.report = ignore_report;
	opts.interrupted = test_interrupted;
	reset_polls(-1);
	m = of_machine_parse(def, strlen(def), &opts);
	CHECK(m != NULL);
	CHECK(polls >= 200);
	if (m != NULL)
	{
		memset(&err, 0, sizeof(err));
		reset_polls(-1);
		CHECK(of_choice_eval(m->states[of_machine_find_state(m, "C")].choices[0],
							 &env, &matched, &err));
		CHECK(matched);
		CHECK(polls > 10);
		reset_polls(polls / 2);
		CHECK(!of_choice_eval(m->states[of_machine_find_state(m, "C")].choices[0],
							  &env, &matched, &err));
		CHECK_STR(err.error, OF_ERR_INTERRUPTED);
		of_machine_free(m);
	}
	/* the parse stops and fails, freeing its document */
	reset_polls(50);
	CHECK(of_machine_parse(def, strlen(def), &opts) == NULL);
	CHECK_INT(polls, 51);
	free(def);
	free(states);
}

/* ------------------------------------------------------------------
 * Byte budgets
 * ------------------------------------------------------------------ */

/*
 * text fails in env with States.DataLimitExceeded naming `what` and the
 * limit, and the memory allocated while it ran (sampled at every poll)
 * stayed under max_peak bytes above where it started.
 */
static void
check_limit(int line, const char *text, OfEvalEnv *env, const char *what,
			size_t max_peak)
{
	OfError		err;
	OfExpr	   *expr = of_expr_compile(text, &err);
	json_object *result = NULL;
	char		limit[64];
	size_t		base;
	bool		ok;

	if (!CHECK(expr != NULL))
	{
		printf("     line %d: %s: %s\n", line, text, err.cause);
		return;
	}
	memset(&err, 0, sizeof(err));
	reset_polls(-1);
	base = peak_bytes;
	ok = of_expr_eval(expr, env, &result, &err);
	json_object_put(result);
	snprintf(limit, sizeof(limit), "limit of %zu bytes", env->max_bytes);
	if (!CHECK(!ok) || !CHECK(result == NULL))
		printf("     line %d: %s succeeded\n", line, text);
	CHECK_STR(err.error, OF_ERR_DATA_LIMIT);
	CHECK_CONTAINS(err.cause, what);
	CHECK_CONTAINS(err.cause, limit);
#ifdef HAVE_ASAN_STATS
	if (!CHECK(peak_bytes - base < max_peak))
		printf("     line %d: %s: peak %zu bytes over the start\n", line, text,
			   peak_bytes - base);
#endif
}

static void
test_budgets(void)
{
	json_object *in = json_object_new_object();
	char	   *s = repeat("0123456789", 10000);	/* 100 kB */
	OfEvalEnv	env;
	OfError		err;
	json_object *result = NULL;
	OfExpr	   *expr;
	char	   *many;
	char	   *text;
	size_t		i;

	json_object_object_add(in, "s", json_object_new_string(s));
	json_object_object_add(in, "arr", json_object_get(big_array(20000)));
	json_object_object_add(in, "deep", json_object_get(deep_object(200)));
	for (i = 0; i < 2; i++)
	{
		/* two objects of 160 kB: each fits, both do not */
		json_object *o = json_object_new_object();
		size_t		k;

		for (k = 0; k < 8000; k++)
		{
			char		key[32];

			snprintf(key, sizeof(key), "%c%07zu", i ? 'b' : 'a', k);
			json_object_object_add(o, key, json_object_new_string("0123456789"));
		}
		json_object_object_add(in, i ? "o2" : "o1", o);
	}
	tu_keep(in);
	free(s);
	env = make_env(in, 256 * 1024);

	/*
	 * Nested Format doubling 100 kB ten times would be 100 MB; it fails at
	 * the level that crosses 256 kB, before building it.
	 */
	check_limit(__LINE__,
				"States.Format('{}{}', States.Format('{}{}', States.Format('{}{}', "
				"States.Format('{}{}', States.Format('{}{}', $.s, $.s), $.s), $.s), $.s), $.s)",
				&env, "States.Format", 2 * 1024 * 1024);
	/* 1000 placeholders of 100 kB each (100 MB unchecked) */
	many = repeat("{}", 1000);
	text = malloc(strlen(many) + 1000 * 6 + 64);
	sprintf(text, "States.Format('%s'", many);
	for (i = 0; i < 1000; i++)
		strcat(text, ", $.s");
	strcat(text, ")");
	check_limit(__LINE__, text, &env, "States.Format", 2 * 1024 * 1024);
	free(many);
	free(text);
	/* the JSON text of a value over the budget is never made */
	check_limit(__LINE__, "States.JsonToString(States.Array($.s, $.s, $.s))", &env,
				"States.Array", 1024 * 1024);
	/* json-c takes about 20 bytes of memory per byte of JSON text */
	check_limit(__LINE__, "States.JsonToString(States.ArrayPartition($.arr, 1))", &env,
				"States.ArrayPartition", 8 * 1024 * 1024);
	check_limit(__LINE__, "States.StringSplit(States.Format('{}{}{}', $.s, $.s, $.s), '5')",
				&env, "States.Format", 2 * 1024 * 1024);
	check_limit(__LINE__, "States.JsonMerge($.o1, $.o2, false)",
				&env, "States.JsonMerge", 8 * 1024 * 1024);
	/* a path whose matches (shared, but stored as copies) are too big */
	check_limit(__LINE__, "States.ArrayLength($.deep..*)", &env, "the path '$.deep..*'",
				8 * 1024 * 1024);

	/* StringSplit: 100 kB into 10001 tokens (120 kB of JSON), budgeted per token */
	env.max_bytes = 100 * 1000;
	check_limit(__LINE__, "States.StringSplit($.s, '5')", &env,
				"States.StringSplit", 8 * 1024 * 1024);
	/* the same fits a larger budget */
	env.max_bytes = 1024 * 1024;
	expr = of_expr_compile("States.ArrayLength(States.StringSplit($.s, '5'))", &err);
	CHECK(expr != NULL && of_expr_eval(expr, &env, &result, &err));
	CHECK_JSON(tu_keep(result), "10001");

	/* ArrayRange within its own limit, but over a tiny budget */
	env.max_bytes = 100;
	check_limit(__LINE__, "States.ArrayRange(1, 1000, 1)", &env, "States.ArrayRange", 1024 * 1024);
	check_limit(__LINE__, "States.Base64Encode(States.Format('{}', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx'))",
				&env, "States.Base64Encode", 1024 * 1024);

	/* a template's output is counted as it is built */
	{
		json_object *payload = tu_json("{\"a.$\": \"$.s\", \"b.$\": \"$.s\", \"c.$\": \"$.s\"}");
		OfTemplate *tmpl = of_template_compile(payload, "", NULL, NULL);

		env.max_bytes = 250 * 1000;
		result = NULL;
		CHECK(!of_template_eval(tmpl, &env, &result, &err));
		CHECK(result == NULL);
		CHECK_STR(err.error, OF_ERR_DATA_LIMIT);
		CHECK_CONTAINS(err.cause, "the payload template at field c.$");
		env.max_bytes = 350 * 1000;
		CHECK(of_template_eval(tmpl, &env, &result, &err));
		json_object_put(result);
	}
	/* no budget: no limit */
	env.max_bytes = 0;
	expr = of_expr_compile("States.ArrayLength(States.StringSplit(States.Format('{}{}{}', $.s, $.s, $.s), '5'))", &err);
	result = NULL;
	CHECK(expr != NULL && of_expr_eval(expr, &env, &result, &err));
	CHECK_JSON(tu_keep(result), "30001");
}

/* ------------------------------------------------------------------
 * Path expansion
 * ------------------------------------------------------------------ */

/* about 4 kB of nested arrays: [[[[...]]], ...] as in the issue */
static json_object *
nested_4k(void)
{
	json_object *v = json_object_new_array();
	int			i;

	/* a chain 500 deep, each level with a sibling number: ~4 kB of text */
	for (i = 0; i < 500; i++)
	{
		json_object *a = json_object_new_array();

		json_object_array_add(a, v);
		json_object_array_add(a, json_object_new_int(i % 10));
		v = a;
	}
	return tu_keep(v);
}

static void
test_path_cap(void)
{
	json_object *in = nested_4k();
	char	   *text = of_json_to_string(in);
	OfEvalEnv	env = make_env(in, 256 * 1024);
	OfError		err;
	OfPath	   *path = of_path_compile("$..*..*", false, &err);
	json_object *result = NULL;
	bool		found;

	CHECK(strlen(text) < 4096);
	free(text);
	CHECK(path != NULL);
	/*
	 * The path: half a million shared matches, whose copies would
	 * take gigabytes.  The byte budget stops it while the list is built.
	 */
	memset(&err, 0, sizeof(err));
	CHECK(!of_path_eval(path, &env, &result, &found, &err));
	CHECK(result == NULL);
	CHECK_STR(err.error, OF_ERR_DATA_LIMIT);
	CHECK_CONTAINS(err.cause, "the path '$..*..*': the result is over the payload size limit of 262144 bytes");
	/* one more scan, and no byte budget at all: the node cap alone stops it */
	env.max_bytes = 0;
	path = of_path_compile("$..*..*..*", false, &err);
	memset(&err, 0, sizeof(err));
	reset_polls(-1);
	CHECK(!of_path_eval(path, &env, &result, &found, &err));
	CHECK(result == NULL);
	CHECK_STR(err.error, OF_ERR_DATA_LIMIT);
	CHECK_CONTAINS(err.cause, "the path '$..*..*..*' visits more than 1000000 values");
#ifdef HAVE_ASAN_STATS
	/* node lists of at most a million pointers, not gigabytes */
	if (!CHECK(peak_bytes - allocated_now() < 64 * 1024 * 1024))
		printf("     peak %zu\n", peak_bytes);
#endif
	/* "$..*" alone is fine: 1000 values */
	path = of_path_compile("$..*", false, &err);
	CHECK(of_path_eval(path, &env, &result, &found, &err));
	CHECK_INT(json_object_array_length(result), 1000);
	json_object_put(result);
}

/* ------------------------------------------------------------------
 * StringMatches
 * ------------------------------------------------------------------ */

/* a reference matcher: plain recursion over tokens (small inputs only) */
static bool
naive_matches(const char *t, const char *p)
{
	if (*p == '\0')
		return *t == '\0';
	if (*p == '*')
	{
		for (;;)
		{
			if (naive_matches(t, p + 1))
				return true;
			if (*t == '\0')
				return false;
			t++;
		}
	}
	if (p[0] == '\\' && (p[1] == '*' || p[1] == '\\'))
		return *t == p[1] && naive_matches(t + 1, p + 2);
	return *t == *p && naive_matches(t + 1, p + 1);
}

static void
test_string_matches(void)
{
	static const char alphabet[] = "ab*\\";
	unsigned	seed = 12345;
	int			disagree = 0;
	char	   *pattern;
	char	   *text;
	int			k;

	/* edge cases */
	CHECK(of_string_matches("", ""));
	CHECK(of_string_matches("", "***"));
	CHECK(!of_string_matches("a", "a*a"));
	CHECK(of_string_matches("aa", "a*a"));
	CHECK(of_string_matches("aaab", "*aab"));
	CHECK(of_string_matches("aaab", "*aab*"));
	CHECK(of_string_matches("abab", "a*b*a*b"));
	CHECK(!of_string_matches("abab", "a*b*a*b*a"));
	CHECK(of_string_matches("x*y", "*\\**"));
	CHECK(!of_string_matches("xy", "*\\**"));
	CHECK(of_string_matches("a\\b", "a\\\\b"));
	CHECK(of_string_matches("a\\xb", "a\\x*"));
	CHECK(of_string_matches("a\\", "a\\"));
	CHECK(of_string_matches("abcabd", "*abd"));
	CHECK(of_string_matches("ababac", "*abac"));
	CHECK(of_string_matches("na\xc3\xafve caf\xc3\xa9", "*\xc3\xaf*caf\xc3\xa9"));
	CHECK(!of_string_matches("naive cafe", "*\xc3\xaf*"));
	CHECK(of_string_matches("\xe2\x82\xac 10", "\xe2\x82\xac*"));

	/* the same answers as the reference matcher on random small inputs */
	text = malloc(16);
	pattern = malloc(16);
	for (k = 0; k < 100000; k++)
	{
		int			tl = (int) ((seed = seed * 1103515245 + 12345) >> 16) % 10;
		int			pl = (int) ((seed = seed * 1103515245 + 12345) >> 16) % 10;
		int			i;

		for (i = 0; i < tl; i++)
			text[i] = alphabet[((seed = seed * 1103515245 + 12345) >> 16) % 4];
		text[tl] = '\0';
		for (i = 0; i < pl; i++)
			pattern[i] = alphabet[((seed = seed * 1103515245 + 12345) >> 16) % 4];
		pattern[pl] = '\0';
		if (of_string_matches(text, pattern) != naive_matches(text, pattern))
		{
			if (disagree++ < 5)
				printf("     disagree: text \"%s\" pattern \"%s\"\n", text, pattern);
		}
	}
	CHECK_INT(disagree, 0);
	free(text);
	free(pattern);

	/* the input: a 130,000-character pattern against 260,000 */
	pattern = repeat("a*", 65000);
	CHECK_INT(strlen(pattern), 130000);
	text = repeat("a", 260000);
	CHECK(of_string_matches(text, pattern));
	pattern[strlen(pattern) - 1] = 'b';	/* ...a*ab: no b in the text */
	CHECK(!of_string_matches(text, pattern));
	text[259999] = 'b';
	CHECK(of_string_matches(text, pattern));
	free(text);
	free(pattern);
	/* a long middle segment that almost matches everywhere */
	pattern = malloc(130010);
	text = repeat("a", 260000);
	memset(pattern, 'a', 130000);
	memcpy(pattern, "*", 1);
	memcpy(pattern + 129990, "b*", 3);
	CHECK(!of_string_matches(text, pattern));
	text[200000] = 'b';
	CHECK(of_string_matches(text, pattern));
	free(text);
	free(pattern);
}

/* ------------------------------------------------------------------
 * StringSplit
 * ------------------------------------------------------------------ */

static void
expect_split(int line, const char *s, const char *delims, const char *expected)
{
	json_object *in = json_object_new_object();
	OfEvalEnv	env;
	OfError		err;
	OfExpr	   *expr = of_expr_compile("States.StringSplit($.s, $.d)", &err);
	json_object *result = NULL;

	json_object_object_add(in, "s", json_object_new_string(s));
	json_object_object_add(in, "d", json_object_new_string(delims));
	tu_keep(in);
	env = make_env(in, 0);
	if (!CHECK(expr != NULL && of_expr_eval(expr, &env, &result, &err)))
		printf("     line %d: %s\n", line, err.cause);
	if (!CHECK_JSON(tu_keep(result), expected))
		printf("     line %d\n", line);
}

static void
test_string_split(void)
{
	char	   *s;
	char	   *d;
	json_object *in;
	OfEvalEnv	env;
	OfError		err;
	OfExpr	   *expr;
	json_object *result = NULL;
	int			i;

	expect_split(__LINE__, "a,b,c", ",", "[\"a\",\"b\",\"c\"]");
	expect_split(__LINE__, ",,a,,b,,", ",", "[\"a\",\"b\"]");
	expect_split(__LINE__, ",,,", ",", "[]");
	expect_split(__LINE__, "", ",", "[]");
	expect_split(__LINE__, "abc", "", "[\"abc\"]");
	expect_split(__LINE__, "a.b+c,d=e", ".+,=", "[\"a\",\"b\",\"c\",\"d\",\"e\"]");
	/* multi-byte delimiters, and characters sharing bytes with them */
	expect_split(__LINE__, "caf\xc3\xa9\xc3\xa9t\xc3\xa9", "\xc3\xa9", "[\"caf\",\"t\"]");
	expect_split(__LINE__, "x\xc3\xa8y\xc3\xa9z", "\xc3\xa9", "[\"x\xc3\xa8y\",\"z\"]");
	expect_split(__LINE__, "1\xe2\x82\xac" "2,3\xf0\x9f\x98\x80" "4", ",\xe2\x82\xac\xf0\x9f\x98\x80",
				 "[\"1\",\"2\",\"3\",\"4\"]");
	expect_split(__LINE__, "a\\b", "\\", "[\"a\",\"b\"]");

	/* the 50 kB: a 50 kB string split by 50 kB of delimiters */
	s = repeat("ab,cd;", 50000 / 6);	/* 49998 bytes */
	d = malloc(50001);
	for (i = 0; i < 50000; i++)
		d[i] = (i % 2) ? ',' : ';';
	d[50000] = '\0';
	in = json_object_new_object();
	json_object_object_add(in, "s", json_object_new_string(s));
	json_object_object_add(in, "d", json_object_new_string(d));
	tu_keep(in);
	env = make_env(in, 0);
	expr = of_expr_compile("States.StringSplit($.s, $.d)", &err);
	CHECK(expr != NULL && of_expr_eval(expr, &env, &result, &err));
	tu_keep(result);
	CHECK_INT(json_object_array_length(result), 2 * (50000 / 6));
	CHECK_STR(json_object_get_string(json_object_array_get_idx(result, 0)), "ab");
	CHECK_STR(json_object_get_string(json_object_array_get_idx(result, 16665)), "cd");
	free(s);
	free(d);
}

int
main(void)
{
	test_interrupts();
	test_interrupt_template_choice();
	test_budgets();
	test_path_cap();
	test_string_matches();
	test_string_split();
	return TEST_SUMMARY();
}
