/*-------------------------------------------------------------------------
 *
 * fuzz_common.h
 *	  Shared pieces of the libFuzzer targets in test/fuzz: the evaluation
 *	  environment (input, context object, variables, fake hash/uuid/random)
 *	  and a sink for the parser's reports.
 *
 * Everything is built without the server (-DOF_STANDALONE) against
 * ../../src/asl_*.c; see the Makefile.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_FUZZ_COMMON_H
#define OF_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

/* documents the paths and expressions are evaluated against */
static const char *fz_input_text =
"{\"a\": 1, \"b\": [1, 2, 3, {\"c\": \"x\"}], \"s\": \"hello {} world\","
" \"n\": null, \"t\": true, \"f\": 1.5e3, \"neg\": -7, \"big\": 1e308,"
" \"ts\": \"2024-01-01T10:00:00Z\", \"o\": {\"k\": {\"k\": [[], {}]}},"
" \"arr\": [\"a\", \"b\", \"a\"], \"u\": \"\\u00e9\\u0000x\", \"e\": \"\"}";
static const char *fz_context_text =
"{\"Execution\": {\"Id\": \"e\", \"Input\": {\"a\": 1}, \"Name\": \"n\","
" \"StartTime\": \"2024-01-01T00:00:00Z\"}, \"State\": {\"Name\": \"S\","
" \"EnteredTime\": \"2024-01-01T00:00:00Z\", \"RetryCount\": 0},"
" \"StateMachine\": {\"Id\": \"sm\", \"Name\": \"sm\"}, \"Map\": {\"Item\": {\"Index\": 0, \"Value\": 1}}}";
static const char *fz_variables_text = "{\"x\": 1, \"y\": [1, 2], \"z\": {\"q\": \"r\"}}";

static json_object *fz_input;
static json_object *fz_context;
static json_object *fz_variables;

static inline bool
fz_hash(const char *algorithm, const char *data, size_t len,
		char *hex_out, size_t hex_out_size)
{
	uint64_t	h = 1469598103934665603ULL;
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char) data[i]) * 1099511628211ULL;
	for (i = 0; algorithm[i]; i++)
		h = (h ^ (unsigned char) algorithm[i]) * 1099511628211ULL;
	snprintf(hex_out, hex_out_size, "%016llx", (unsigned long long) h);
	return true;
}

static inline void
fz_uuid(char out[37])
{
	memcpy(out, "00000000-0000-4000-8000-000000000000", 37);
}

static inline double
fz_random(void)
{
	return 0.5;
}

static inline void
fz_init(void)
{
	if (fz_input != NULL)
		return;
	fz_input = json_tokener_parse(fz_input_text);
	fz_context = json_tokener_parse(fz_context_text);
	fz_variables = json_tokener_parse(fz_variables_text);
	if (fz_input == NULL || fz_context == NULL || fz_variables == NULL)
		abort();
}

/*
 * Bounded evaluation: every 1000th poll says stop, so that the unwinding
 * paths run under the sanitizers (a leak there is a finding), and results
 * are limited to 1 MB, as orderflow.max_payload_size limits them.
 */
static unsigned long fz_polls;

static inline bool
fz_interrupted(void)
{
	return ++fz_polls % 1000 == 0;
}

static inline OfEvalEnv
fz_env(void)
{
	OfEvalEnv	env;

	fz_init();
	memset(&env, 0, sizeof(env));
	env.input = fz_input;
	env.context = fz_context;
	env.variables = fz_variables;
	env.hash = fz_hash;
	env.random_uuid = fz_uuid;
	env.random_double = fz_random;
	env.interrupted = fz_interrupted;
	env.max_bytes = 1024 * 1024;
	return env;
}

/* a NUL-terminated copy of the fuzzer's bytes (caller frees) */
static inline char *
fz_text(const uint8_t *data, size_t size)
{
	char	   *s = malloc(size + 1);

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* the parser's report callback: only check the strings are readable */
static inline void
fz_report(void *arg, const char *severity, const char *code,
		  const char *location, const char *message)
{
	size_t	   *total = arg;

	*total += strlen(severity) + strlen(code) + strlen(location) + strlen(message);
}

/* a resolver that accepts names with a dot and refuses the others */
static inline bool
fz_resolve(void *arg, const char *resource, char *message, size_t message_size)
{
	if (strchr(resource, '.') != NULL)
		return true;
	snprintf(message, message_size, "function %s(jsonb) does not exist", resource);
	return false;
}

/* serialize a result (exercises every node) and drop it */
static inline void
fz_consume(json_object *v)
{
	char	   *s = of_json_to_string(v);

	free(s);
	json_object_put(v);
}

#endif
