/*-------------------------------------------------------------------------
 *
 * testutil.h
 *	  Tiny check framework for the standalone C tests in test/c.
 *
 * Each test program includes this header once, calls CHECK* as often as
 * it likes and ends main() with `return TEST_SUMMARY();`.  A failing check
 * prints one line "FAIL file:line: what"; the summary prints the final
 * line "N passed, M failed" that run_tests.sh adds up, and returns the
 * exit status (non-zero when anything failed).
 *
 * json-c values made by tests can be handed to tu_keep() (or created with
 * tu_json()) and are released by TEST_SUMMARY(), together with the
 * of_alloc() arena, so LeakSanitizer only reports real leaks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_TESTUTIL_H
#define OF_TESTUTIL_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

/* test-only global state: the counters and the values to release */
static int	tu_passed;
static int	tu_failed;
static json_object **tu_kept;
static size_t tu_n_kept;
static size_t tu_cap_kept;

/* count one check; print the failure with its location */
static inline bool
tu_check(bool ok, const char *file, int line, const char *what)
{
	if (ok)
		tu_passed++;
	else
	{
		tu_failed++;
		printf("FAIL %s:%d: %s\n", file, line, what);
	}
	return ok;
}

/* string equality where NULL equals only NULL */
static inline bool
tu_str_equal(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* compare two strings and show both on failure */
static inline bool
tu_check_str(const char *actual, const char *expected, const char *file,
			 int line, const char *what)
{
	bool		ok = tu_str_equal(actual, expected);

	tu_check(ok, file, line, what);
	if (!ok)
		printf("     got: %s\n     expected: %s\n",
			   actual ? actual : "(null)", expected ? expected : "(null)");
	return ok;
}

/* compare two integers and show both on failure */
static inline bool
tu_check_int(long long actual, long long expected, const char *file,
			 int line, const char *what)
{
	bool		ok = actual == expected;

	tu_check(ok, file, line, what);
	if (!ok)
		printf("     got: %lld\n     expected: %lld\n", actual, expected);
	return ok;
}

/* check that haystack contains needle, showing haystack on failure */
static inline bool
tu_check_contains(const char *haystack, const char *needle, const char *file,
				  int line, const char *what)
{
	bool		ok = haystack != NULL && strstr(haystack, needle) != NULL;

	tu_check(ok, file, line, what);
	if (!ok)
		printf("     got: %s\n     expected to contain: %s\n",
			   haystack ? haystack : "(null)", needle);
	return ok;
}

/* remember a json-c value to release at the end; returns it */
static inline json_object *
tu_keep(json_object *v)
{
	if (v == NULL)
		return NULL;
	if (tu_n_kept == tu_cap_kept)
	{
		tu_cap_kept = tu_cap_kept ? tu_cap_kept * 2 : 64;
		tu_kept = realloc(tu_kept, tu_cap_kept * sizeof(json_object *));
		if (tu_kept == NULL)
		{
			fprintf(stderr, "out of memory\n");
			abort();
		}
	}
	tu_kept[tu_n_kept++] = v;
	return v;
}

/* parse JSON text (which must be valid) into a kept value */
static inline json_object *
tu_json(const char *text)
{
	json_object *v = NULL;
	OfError		err;

	if (!of_json_parse(text, strlen(text), 0, &v, &err))
	{
		fprintf(stderr, "test bug: invalid JSON %s: %s\n", text, err.cause);
		abort();
	}
	return tu_keep(v);
}

/* compare a json-c value with JSON text (deep, numbers by value) */
static inline bool
tu_check_json(json_object *actual, const char *expected, const char *file,
			  int line, const char *what)
{
	bool		ok = of_json_equal(actual, tu_json(expected));

	tu_check(ok, file, line, what);
	if (!ok)
	{
		char	   *got = of_json_to_string(actual);

		printf("     got: %s\n     expected: %s\n", got, expected);
		free(got);
	}
	return ok;
}

/* release kept values and the arena; print the summary line */
static inline int
tu_summary(void)
{
	size_t		i;

	for (i = 0; i < tu_n_kept; i++)
		json_object_put(tu_kept[i]);
	free(tu_kept);
	tu_kept = NULL;
	tu_n_kept = tu_cap_kept = 0;
	of_arena_free_all();
	printf("%d passed, %d failed\n", tu_passed, tu_failed);
	/* LeakSanitizer reports at exit without flushing stdio */
	fflush(stdout);
	return tu_failed > 0 ? 1 : 0;
}

#define CHECK(cond) tu_check((cond), __FILE__, __LINE__, #cond)
#define CHECK_STR(actual, expected) \
	tu_check_str((actual), (expected), __FILE__, __LINE__, #actual " == " #expected)
#define CHECK_INT(actual, expected) \
	tu_check_int((long long) (actual), (long long) (expected), __FILE__, __LINE__, \
				 #actual " == " #expected)
#define CHECK_CONTAINS(haystack, needle) \
	tu_check_contains((haystack), (needle), __FILE__, __LINE__, \
					  #haystack " contains " #needle)
#define CHECK_JSON(actual, expected_text) \
	tu_check_json((actual), (expected_text), __FILE__, __LINE__, \
				  #actual " == " #expected_text)
#define TEST_SUMMARY() tu_summary()

#endif							/* OF_TESTUTIL_H */
