/*-------------------------------------------------------------------------
 *
 * asl_parse.c
 *	  Parse and validate an Amazon States Language definition (JSONPath
 *	  flavour) into the OfMachine model declared in asl.h.
 *
 * The work is done in three passes over the document:
 *
 *	1. build: every field of every state is type-checked and compiled
 *	   (paths, payload templates, intrinsic expressions, Choice rules,
 *	   Parallel branches and Map iterators as nested machines);
 *	2. resolve: StartAt/Next/Default/Catch targets become indices into
 *	   their own machine's states (a branch cannot leave its branch), and
 *	   states that no transition leads to are reported;
 *	3. state names are checked for uniqueness across nested machines.
 *
 * Every problem is reported through OfParseOptions.report with a JSON
 * pointer (RFC 6901) to the offending value; nothing stops at the first
 * problem.  Lookups go through a sorted name index, so the whole job is
 * O(n log n) in the number of states.
 *
 * Problem codes: INVALID_JSON, NOT_AN_OBJECT, MISSING_FIELD, UNKNOWN_FIELD,
 * FIELD_NOT_ALLOWED, UNSUPPORTED_FIELD, INVALID_TYPE, INVALID_VALUE,
 * INVALID_PATH, MUTUALLY_EXCLUSIVE, MISSING_TRANSITION, UNKNOWN_STATE_TYPE,
 * UNSUPPORTED_QUERY_LANGUAGE, INVALID_STATE_NAME, DUPLICATE_STATE_NAME,
 * STARTAT_UNKNOWN_STATE, NEXT_UNKNOWN_STATE, UNREACHABLE_STATE,
 * INVALID_CHOICE_RULE, STATES_ALL_NOT_ALONE, STATES_ALL_NOT_LAST,
 * RESOURCE_NOT_FOUND, NO_TERMINAL_STATE (errors) and UNKNOWN_ERROR_NAME,
 * UNKNOWN_VERSION (warnings).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "asl.h"

#define DEFAULT_MAX_DEPTH		512
#define MAX_STATE_NAME_CHARS	80
#define MAX_SECONDS				INT64_C(99999999)
#define MAX_DELAY_SECONDS		INT64_C(31622400)
#define MAX_COUNT				INT64_C(99999999)
#define MAX_RULE_NESTING		1000
/* states in one definition, counting Parallel branches and Map processors */
#define MAX_STATES				100000
#define MESSAGE_SIZE			1024
#define RESOLVE_MESSAGE_SIZE	512

/* which state types a field is allowed in */
#define TYPE_BIT(t)		(1u << (t))
#define T_TASK			TYPE_BIT(OF_STATE_TASK)
#define T_PASS			TYPE_BIT(OF_STATE_PASS)
#define T_CHOICE		TYPE_BIT(OF_STATE_CHOICE)
#define T_WAIT			TYPE_BIT(OF_STATE_WAIT)
#define T_SUCCEED		TYPE_BIT(OF_STATE_SUCCEED)
#define T_FAIL			TYPE_BIT(OF_STATE_FAIL)
#define T_PARALLEL		TYPE_BIT(OF_STATE_PARALLEL)
#define T_MAP			TYPE_BIT(OF_STATE_MAP)
#define T_ALL			(T_TASK | T_PASS | T_CHOICE | T_WAIT | T_SUCCEED | \
						 T_FAIL | T_PARALLEL | T_MAP)
#define T_FLOW			(T_TASK | T_PASS | T_WAIT | T_PARALLEL | T_MAP)	/* Next/End */
#define T_RESULT		(T_TASK | T_PASS | T_PARALLEL | T_MAP)	/* ResultPath, Parameters */
#define T_WORK			(T_TASK | T_PARALLEL | T_MAP)	/* ResultSelector, Retry, Catch */

typedef struct FieldRule
{
	const char *name;
	unsigned	types;
} FieldRule;

/* Every state field of the JSONPath flavour and where it may appear. */
static const FieldRule state_fields[] = {
	{"Type", T_ALL}, {"Comment", T_ALL}, {"QueryLanguage", T_ALL},
	{"Assign", T_ALL & ~T_FAIL},
	{"InputPath", T_ALL & ~T_FAIL}, {"OutputPath", T_ALL & ~T_FAIL},
	{"Next", T_FLOW}, {"End", T_FLOW},
	{"ResultPath", T_RESULT}, {"Parameters", T_RESULT},
	{"ResultSelector", T_WORK}, {"Retry", T_WORK}, {"Catch", T_WORK},
	{"Result", T_PASS},
	{"Resource", T_TASK}, {"TimeoutSeconds", T_TASK},
	{"TimeoutSecondsPath", T_TASK}, {"HeartbeatSeconds", T_TASK},
	{"HeartbeatSecondsPath", T_TASK}, {"Credentials", T_TASK},
	{"Choices", T_CHOICE}, {"Default", T_CHOICE},
	{"Seconds", T_WAIT}, {"SecondsPath", T_WAIT},
	{"Timestamp", T_WAIT}, {"TimestampPath", T_WAIT},
	{"Error", T_FAIL}, {"ErrorPath", T_FAIL},
	{"Cause", T_FAIL}, {"CausePath", T_FAIL},
	{"Branches", T_PARALLEL},
	{"ItemProcessor", T_MAP}, {"Iterator", T_MAP}, {"ItemsPath", T_MAP},
	{"ItemSelector", T_MAP}, {"ItemReader", T_MAP}, {"ItemBatcher", T_MAP},
	{"ResultWriter", T_MAP}, {"MaxConcurrency", T_MAP},
	{"MaxConcurrencyPath", T_MAP}, {"ToleratedFailureCount", T_MAP},
	{"ToleratedFailureCountPath", T_MAP},
	{"ToleratedFailurePercentage", T_MAP},
	{"ToleratedFailurePercentagePath", T_MAP}, {"Label", T_MAP},
};

/* fields that only exist with QueryLanguage JSONata */
static const char *const jsonata_fields[] = {
	"Arguments", "Output", "Items", "Condition", NULL
};

static const char *const top_fields[] = {
	"StartAt", "States", "Comment", "Version", "TimeoutSeconds",
	"QueryLanguage", NULL
};
static const char *const branch_fields[] = {"StartAt", "States", "Comment", NULL};
static const char *const processor_fields[] = {
	"StartAt", "States", "Comment", "ProcessorConfig", NULL
};

static const char *const retrier_fields[] = {
	"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate",
	"MaxDelaySeconds", "JitterStrategy", "Comment", NULL
};
static const char *const catcher_fields[] = {
	"ErrorEquals", "Next", "ResultPath", "Comment", "Assign", NULL
};

/* the error names the States language defines */
static const char *const predefined_errors[] = {
	"States.ALL", "States.DataLimitExceeded", "States.Runtime",
	"States.HeartbeatTimeout", "States.Timeout", "States.TaskFailed",
	"States.Permissions", "States.ResultPathMatchFailure",
	"States.ParameterPathFailure", "States.QueryEvaluationError",
	"States.BranchFailed", "States.NoChoiceMatched",
	"States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
	"States.ItemReaderFailed", "States.ResultWriterFailed", NULL
};

static const char *const state_type_names[] = {
	"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"
};

typedef enum MachineKind
{
	MACHINE_TOP,				/* the definition itself */
	MACHINE_BRANCH,				/* a Parallel branch */
	MACHINE_PROCESSOR,			/* a Map ItemProcessor */
	MACHINE_ITERATOR			/* a Map's legacy Iterator */
} MachineKind;

typedef enum OperandKind
{
	OPERAND_STRING,
	OPERAND_NUMBER,
	OPERAND_BOOLEAN,
	OPERAND_TIMESTAMP
} OperandKind;

typedef struct ChoiceOperator
{
	const char *name;
	OfChoiceOp	op;
	OperandKind kind;
	bool		is_path;
} ChoiceOperator;

/* Every comparison operator of a Choice rule (And/Or/Not are separate). */
static const ChoiceOperator choice_operators[] = {
	{"StringEquals", OF_OP_STRING_EQ, OPERAND_STRING, false},
	{"StringEqualsPath", OF_OP_STRING_EQ, OPERAND_STRING, true},
	{"StringLessThan", OF_OP_STRING_LT, OPERAND_STRING, false},
	{"StringLessThanPath", OF_OP_STRING_LT, OPERAND_STRING, true},
	{"StringGreaterThan", OF_OP_STRING_GT, OPERAND_STRING, false},
	{"StringGreaterThanPath", OF_OP_STRING_GT, OPERAND_STRING, true},
	{"StringLessThanEquals", OF_OP_STRING_LE, OPERAND_STRING, false},
	{"StringLessThanEqualsPath", OF_OP_STRING_LE, OPERAND_STRING, true},
	{"StringGreaterThanEquals", OF_OP_STRING_GE, OPERAND_STRING, false},
	{"StringGreaterThanEqualsPath", OF_OP_STRING_GE, OPERAND_STRING, true},
	{"StringMatches", OF_OP_STRING_MATCHES, OPERAND_STRING, false},
	{"NumericEquals", OF_OP_NUMERIC_EQ, OPERAND_NUMBER, false},
	{"NumericEqualsPath", OF_OP_NUMERIC_EQ, OPERAND_NUMBER, true},
	{"NumericLessThan", OF_OP_NUMERIC_LT, OPERAND_NUMBER, false},
	{"NumericLessThanPath", OF_OP_NUMERIC_LT, OPERAND_NUMBER, true},
	{"NumericGreaterThan", OF_OP_NUMERIC_GT, OPERAND_NUMBER, false},
	{"NumericGreaterThanPath", OF_OP_NUMERIC_GT, OPERAND_NUMBER, true},
	{"NumericLessThanEquals", OF_OP_NUMERIC_LE, OPERAND_NUMBER, false},
	{"NumericLessThanEqualsPath", OF_OP_NUMERIC_LE, OPERAND_NUMBER, true},
	{"NumericGreaterThanEquals", OF_OP_NUMERIC_GE, OPERAND_NUMBER, false},
	{"NumericGreaterThanEqualsPath", OF_OP_NUMERIC_GE, OPERAND_NUMBER, true},
	{"BooleanEquals", OF_OP_BOOLEAN_EQ, OPERAND_BOOLEAN, false},
	{"BooleanEqualsPath", OF_OP_BOOLEAN_EQ, OPERAND_BOOLEAN, true},
	{"TimestampEquals", OF_OP_TIMESTAMP_EQ, OPERAND_TIMESTAMP, false},
	{"TimestampEqualsPath", OF_OP_TIMESTAMP_EQ, OPERAND_TIMESTAMP, true},
	{"TimestampLessThan", OF_OP_TIMESTAMP_LT, OPERAND_TIMESTAMP, false},
	{"TimestampLessThanPath", OF_OP_TIMESTAMP_LT, OPERAND_TIMESTAMP, true},
	{"TimestampGreaterThan", OF_OP_TIMESTAMP_GT, OPERAND_TIMESTAMP, false},
	{"TimestampGreaterThanPath", OF_OP_TIMESTAMP_GT, OPERAND_TIMESTAMP, true},
	{"TimestampLessThanEquals", OF_OP_TIMESTAMP_LE, OPERAND_TIMESTAMP, false},
	{"TimestampLessThanEqualsPath", OF_OP_TIMESTAMP_LE, OPERAND_TIMESTAMP, true},
	{"TimestampGreaterThanEquals", OF_OP_TIMESTAMP_GE, OPERAND_TIMESTAMP, false},
	{"TimestampGreaterThanEqualsPath", OF_OP_TIMESTAMP_GE, OPERAND_TIMESTAMP, true},
	{"IsNull", OF_OP_IS_NULL, OPERAND_BOOLEAN, false},
	{"IsPresent", OF_OP_IS_PRESENT, OPERAND_BOOLEAN, false},
	{"IsNumeric", OF_OP_IS_NUMERIC, OPERAND_BOOLEAN, false},
	{"IsString", OF_OP_IS_STRING, OPERAND_BOOLEAN, false},
	{"IsBoolean", OF_OP_IS_BOOLEAN, OPERAND_BOOLEAN, false},
	{"IsTimestamp", OF_OP_IS_TIMESTAMP, OPERAND_BOOLEAN, false},
};

/* Everything one of_machine_parse() call needs. */
typedef struct ParseCtx
{
	const OfParseOptions *opts;
	int			n_errors;		/* ERRORs reported so far */
	bool		has_nested;		/* some Parallel/Map holds a machine */
	long		n_states_total;	/* states of all machines so far */
	bool		too_many_states;	/* TOO_MANY_STATES was reported */
	bool		interrupted;	/* opts->interrupted said stop (reported) */
} ParseCtx;

/* The chain of machines enclosing the one being resolved. */
typedef struct Scope
{
	const OfMachine *machine;
	const struct Scope *outer;
} Scope;

/* A state with its position in document order, for the duplicate check. */
typedef struct NamedState
{
	const OfState *state;
	int			seq;
} NamedState;

static OfMachine *parse_machine(ParseCtx *ctx, json_object *obj,
								const char *prefix, MachineKind kind);
static OfChoiceRule *parse_choice_rule(ParseCtx *ctx, OfState *st,
									   json_object *obj, const char *loc,
									   bool top, int depth);
static void resolve_machine(ParseCtx *ctx, OfMachine *m, const Scope *outer);
static bool parse_interrupted(ParseCtx *ctx);

/* ==================================================================
 * Reporting
 * ================================================================== */

/* Length of the valid UTF-8 sequence at s (avail bytes left), 0 if invalid */
static size_t
utf8_sequence_length(const unsigned char *s, size_t avail)
{
	unsigned char c = s[0];
	size_t		need;
	size_t		i;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF)
		need = 2;
	else if (c >= 0xF0 && c <= 0xF4)
		need = 3;
	else
		return 0;
	if (avail < need + 1)
		return 0;
	for (i = 1; i <= need; i++)
		if ((s[i] & 0xC0) != 0x80)
			return 0;
	/* no overlong forms, no surrogates, nothing above U+10FFFF */
	if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F) ||
		(c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
		return 0;
	return need + 1;
}

/* Offset of the first byte that is not valid UTF-8, or len if none */
static size_t
utf8_invalid_offset(const char *s, size_t len)
{
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = utf8_sequence_length((const unsigned char *) s + i, len - i);

		if (n == 0)
			return i;
		i += n;
	}
	return len;
}

/* Replace bytes that are not valid UTF-8 by '?', in place */
static void
sanitize_utf8(char *s)
{
	size_t		len = strlen(s);
	size_t		i = 0;

	while (i < len)
	{
		size_t		n = utf8_sequence_length((const unsigned char *) s + i, len - i);

		if (n == 0)
			s[i++] = '?';
		else
			i += n;
	}
}

/* Pass a problem on to the caller, counting ERRORs (also given to templates) */
static void
forward_report(void *arg, const char *severity, const char *code,
			   const char *location, const char *message)
{
	ParseCtx   *ctx = (ParseCtx *) arg;

	if (strcmp(severity, "ERROR") == 0)
		ctx->n_errors++;
	ctx->opts->report(ctx->opts->report_arg, severity, code, location, message);
}

/* Append one RFC 6901 reference token (escaping ~ and /) to a JSON pointer */
static char *
pointer_key(const char *base, const char *key)
{
	size_t		base_len = strlen(base);
	size_t		extra = 0;
	const char *p;
	char	   *out;
	char	   *o;

	for (p = key; *p; p++)
		if (*p == '~' || *p == '/')
			extra++;
	out = of_alloc(base_len + 1 + strlen(key) + extra + 1);
	memcpy(out, base, base_len);
	o = out + base_len;
	*o++ = '/';
	for (p = key; *p; p++)
	{
		if (*p == '~' || *p == '/')
		{
			*o++ = '~';
			*o++ = (*p == '~') ? '0' : '1';
		}
		else
			*o++ = *p;
	}
	*o = '\0';
	return out;
}

/* Append an array index to a JSON pointer */
static char *
pointer_index(const char *base, int index)
{
	return of_psprintf("%s/%d", base, index);
}

/* Format and report one problem at base (plus the token field, if any) */
static void
vreport(ParseCtx *ctx, const char *severity, const char *code,
		const char *base, const char *field, const char *fmt, va_list ap)
__attribute__((format(printf, 6, 0)));

static void
vreport(ParseCtx *ctx, const char *severity, const char *code,
		const char *base, const char *field, const char *fmt, va_list ap)
{
	char		message[MESSAGE_SIZE];
	char	   *location;

	vsnprintf(message, sizeof(message), fmt, ap);
	sanitize_utf8(message);
	location = (field != NULL) ? pointer_key(base, field) : of_strdup(base);
	sanitize_utf8(location);
	forward_report(ctx, severity, code, location, message);
}

/* Report an ERROR */
static void
problem(ParseCtx *ctx, const char *code, const char *base, const char *field,
		const char *fmt,...)
__attribute__((format(printf, 5, 6)));

static void
problem(ParseCtx *ctx, const char *code, const char *base, const char *field,
		const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vreport(ctx, "ERROR", code, base, field, fmt, ap);
	va_end(ap);
}

/* Report a WARNING */
static void
warning(ParseCtx *ctx, const char *code, const char *base, const char *field,
		const char *fmt,...)
__attribute__((format(printf, 5, 6)));

static void
warning(ParseCtx *ctx, const char *code, const char *base, const char *field,
		const char *fmt,...)
{
	va_list		ap;

	va_start(ap, fmt);
	vreport(ctx, "WARNING", code, base, field, fmt, ap);
	va_end(ap);
}

/* A short description of a JSON value for messages ("an object", "0.5") */
static const char *
describe(json_object *v)
{
	switch (json_object_get_type(v))
	{
		case json_type_object:
			return "an object";
		case json_type_array:
			return "an array";
		default:
			return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN |
												  JSON_C_TO_STRING_NOSLASHESCAPE);
	}
}

/* ==================================================================
 * Small value helpers
 * ================================================================== */

/* Is name in the NULL-terminated list? */
static bool
in_list(const char *name, const char *const *list)
{
	for (; *list != NULL; list++)
		if (strcmp(name, *list) == 0)
			return true;
	return false;
}

/* Number of UTF-8 characters in s */
static size_t
utf8_char_count(const char *s)
{
	size_t		n = 0;

	for (; *s; s++)
		if ((*s & 0xC0) != 0x80)
			n++;
	return n;
}

/* Is v a JSON number (integer or finite double)? */
static bool
finite_number(json_object *v, double *out)
{
	double		d;

	if (json_object_is_type(v, json_type_int))
		d = (double) json_object_get_int64(v);
	else if (json_object_is_type(v, json_type_double))
		d = json_object_get_double(v);
	else
		return false;
	if (!isfinite(d))
		return false;
	if (out != NULL)
		*out = d;
	return true;
}

/* Is v a JSON number at all (even one too large for a double)? */
static bool
is_number(json_object *v)
{
	return json_object_is_type(v, json_type_int) ||
		json_object_is_type(v, json_type_double);
}

/* INVALID_VALUE for a number out of range, INVALID_TYPE for a non-number */
static const char *
number_problem_code(json_object *v)
{
	return is_number(v) ? "INVALID_VALUE" : "INVALID_TYPE";
}

/* Read an integral JSON number (5 or 5.0); false for anything else */
static bool
json_integer(json_object *v, int64_t *out)
{
	double		d;

	if (json_object_is_type(v, json_type_int))
	{
		/* json-c clamps values beyond int64 to INT64_MAX */
		*out = json_object_get_int64(v);
		return true;
	}
	if (!json_object_is_type(v, json_type_double))
		return false;
	d = json_object_get_double(v);
	if (!isfinite(d) || d != floor(d) || d < -9.0e18 || d > 9.0e18)
		return false;
	*out = (int64_t) d;
	return true;
}

/* Check an integer value in [min, max]; reports and returns false if not */
static bool
integer_value(ParseCtx *ctx, json_object *v, const char *base,
			  const char *field, int64_t min, int64_t max, int64_t *out)
{
	int64_t		i = 0;
	const char *kind = (min > 0) ? "a positive integer" : "a non-negative integer";

	if (!json_integer(v, &i) || i < min)
	{
		problem(ctx, number_problem_code(v),
				base, field, "%s must be %s, got %.80s", field, kind, describe(v));
		return false;
	}
	if (i > max)
	{
		problem(ctx, "INVALID_VALUE", base, field,
				"%s must be at most %lld, got %.80s",
				field, (long long) max, describe(v));
		return false;
	}
	*out = i;
	return true;
}

/* Check a string value; returns a copy, or NULL (reported) if not a string */
static const char *
string_value(ParseCtx *ctx, json_object *v, const char *base,
			 const char *field, const char *what)
{
	const char *s;

	if (!json_object_is_type(v, json_type_string))
	{
		problem(ctx, "INVALID_TYPE", base, field, "%s must be a string, got %.80s",
				what, describe(v));
		return NULL;
	}
	s = json_object_get_string(v);
	if (strlen(s) != (size_t) json_object_get_string_len(v))
	{
		problem(ctx, "INVALID_VALUE", base, field,
				"%s must not contain a NUL character (\\u0000)", what);
		return NULL;
	}
	return of_strdup(s);
}

/* Check an optional string field of obj; NULL when absent or invalid */
static const char *
optional_string(ParseCtx *ctx, json_object *obj, const char *base,
				const char *field)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	return string_value(ctx, v, base, field, field);
}

/* Check an optional field that must be a JSON object; returns it or NULL */
static json_object *
optional_object(ParseCtx *ctx, json_object *obj, const char *base,
				const char *field)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", base, field,
				"%s must be a JSON object, got %.80s", field, describe(v));
		return NULL;
	}
	return v;
}

/* Report keys of obj that are not in the allowed list */
static void
check_known_fields(ParseCtx *ctx, json_object *obj, const char *loc,
				   const char *const *allowed, const char *what)
{
	struct json_object_iter it;

	json_object_object_foreachC(obj, it)
	{
		if (!in_list(it.key, allowed))
			problem(ctx, "UNKNOWN_FIELD", loc, it.key,
					"\"%.100s\" is not a field of %s", it.key, what);
	}
}

/* Report that more than one of the listed fields is present (and none, if required) */
static void
check_exclusive(ParseCtx *ctx, const OfState *st, json_object *obj,
				const char *const *names, bool required)
{
	char		present[256] = "";
	char		all[256] = "";
	int			count = 0;
	const char *const *n;

	for (n = names; *n != NULL; n++)
	{
		strncat(all, all[0] ? ", " : "", sizeof(all) - strlen(all) - 1);
		strncat(all, *n, sizeof(all) - strlen(all) - 1);
		if (!json_object_object_get_ex(obj, *n, NULL))
			continue;
		strncat(present, count > 0 ? " and " : "", sizeof(present) - strlen(present) - 1);
		strncat(present, *n, sizeof(present) - strlen(present) - 1);
		count++;
	}
	if (count > 1)
		problem(ctx, "MUTUALLY_EXCLUSIVE", st->location, NULL,
				"%s state \"%s\" has %s; use only one of %s",
				of_state_type_name(st->type), st->name, present, all);
	else if (count == 0 && required)
		problem(ctx, "MISSING_FIELD", st->location, NULL,
				"%s state \"%s\" needs one of %s",
				of_state_type_name(st->type), st->name, all);
}

/* Check an optional Comment field */
static const char *
parse_comment(ParseCtx *ctx, json_object *obj, const char *loc)
{
	return optional_string(ctx, obj, loc, "Comment");
}

/*
 * Check a QueryLanguage field; returns false when it asks for JSONata,
 * whose fields the rest of this file does not know.
 */
static bool
check_query_language(ParseCtx *ctx, json_object *obj, const char *loc)
{
	json_object *v;
	const char *lang;

	if (!json_object_object_get_ex(obj, "QueryLanguage", &v))
		return true;
	lang = string_value(ctx, v, loc, "QueryLanguage", "QueryLanguage");
	if (lang == NULL || strcmp(lang, "JSONPath") == 0)
		return true;
	if (strcmp(lang, "JSONata") == 0)
	{
		problem(ctx, "UNSUPPORTED_QUERY_LANGUAGE", loc, "QueryLanguage",
				"QueryLanguage \"JSONata\" is not supported: orderflow runs "
				"JSONPath definitions only");
		return false;
	}
	problem(ctx, "INVALID_VALUE", loc, "QueryLanguage",
			"QueryLanguage must be \"JSONPath\", got %.80s", describe(v));
	return true;
}

/* ==================================================================
 * Paths, expressions and templates
 * ================================================================== */

/* Compile the path in v; reports at base/field and returns NULL on failure */
static OfPath *
compile_path(ParseCtx *ctx, OfState *st, json_object *v, const char *base,
			 const char *field, bool reference)
{
	OfError		err;
	OfPath	   *path;
	const char *kind = reference ? "reference path" : "path";

	if (!json_object_is_type(v, json_type_string))
	{
		problem(ctx, "INVALID_TYPE", base, field,
				"%s must be a %s string such as \"$.order.id\", got %.80s",
				field, kind, describe(v));
		return NULL;
	}
	memset(&err, 0, sizeof(err));
	path = of_path_compile(json_object_get_string(v), reference, &err);
	if (path == NULL)
	{
		problem(ctx, "INVALID_PATH", base, field, "%s %.200s is not a valid %s: %s",
				field, describe(v), kind, err.cause[0] ? err.cause : "syntax error");
		return NULL;
	}
	if (st != NULL && of_path_root(path) == OF_ROOT_CONTEXT)
		st->uses_context = true;
	return path;
}

/* Compile an optional (non-null) path field of obj */
static OfPath *
optional_path(ParseCtx *ctx, OfState *st, json_object *obj, const char *base,
			  const char *field, bool reference)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	return compile_path(ctx, st, v, base, field, reference);
}

/* Compile a path field that may also be null (InputPath, ResultPath, ...) */
static void
parse_path_field(ParseCtx *ctx, OfState *st, json_object *obj, const char *base,
				 const char *field, bool reference, OfPathField *out)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, field, &v))
		return;
	out->present = true;
	if (v == NULL)
	{
		out->is_null = true;
		return;
	}
	out->path = compile_path(ctx, st, v, base, field, reference);
}

/* A ResultPath: a nullable reference path that writes into the input ($) */
static void
parse_result_path(ParseCtx *ctx, OfState *st, json_object *obj, const char *base,
				  OfPathField *out)
{
	parse_path_field(ctx, st, obj, base, "ResultPath", true, out);
	if (out->path != NULL && of_path_root(out->path) != OF_ROOT_INPUT)
	{
		problem(ctx, "INVALID_PATH", base, "ResultPath",
				"ResultPath \"%s\" must start with \"$\": it says where in the "
				"state input the result goes", of_path_text(out->path));
		out->path = NULL;
	}
}

/* Compile an ErrorPath/CausePath: a path or an intrinsic function */
static OfExpr *
compile_expr(ParseCtx *ctx, OfState *st, json_object *obj, const char *field)
{
	json_object *v;
	OfError		err;
	OfExpr	   *expr;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string))
	{
		problem(ctx, "INVALID_TYPE", st->location, field,
				"%s must be a path or intrinsic function string, got %.80s",
				field, describe(v));
		return NULL;
	}
	memset(&err, 0, sizeof(err));
	expr = of_expr_compile(json_object_get_string(v), &err);
	if (expr == NULL)
	{
		problem(ctx, "INVALID_PATH", st->location, field,
				"%s %.200s is not a valid path or intrinsic function: %s",
				field, describe(v), err.cause[0] ? err.cause : "syntax error");
		return NULL;
	}
	if (of_expr_uses_context(expr))
		st->uses_context = true;
	return expr;
}

/* Compile an optional payload template field (it reports its own problems) */
static OfTemplate *
compile_template(ParseCtx *ctx, OfState *st, json_object *obj, const char *field)
{
	json_object *v;
	OfTemplate *tmpl;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	tmpl = of_template_compile(v, pointer_key(st->location, field),
							   forward_report, ctx);
	if (tmpl != NULL && of_template_uses_context(tmpl))
		st->uses_context = true;
	return tmpl;
}

/*
 * Assign, compiled like a payload template: plain keys are variable names
 * (keys ending in ".$" take a path or intrinsic), evaluated after the
 * state's work; see executor.c for what $ means in each position.
 */
static OfTemplate *
compile_assign(ParseCtx *ctx, OfState *st, json_object *obj, const char *loc)
{
	json_object *v;
	OfTemplate *tmpl;

	if (!json_object_object_get_ex(obj, "Assign", &v) ||
		!json_object_is_type(v, json_type_object))
		return NULL;
	json_object_object_foreach(v, key, val)
	{
		size_t		len = strlen(key);
		bool		ok = len > 0 && (isalpha((unsigned char) key[0]) || key[0] == '_');

		(void) val;
		if (len > 2 && strcmp(key + len - 2, ".$") == 0)
			len -= 2;
		for (size_t i = 1; ok && i < len; i++)
			ok = isalnum((unsigned char) key[i]) || key[i] == '_';
		if (!ok)
			problem(ctx, "INVALID_VALUE", pointer_key(loc, "Assign"), key,
					"\"%.80s\" is not a valid variable name (letters, digits and _; not starting with a digit)",
					key);
	}
	tmpl = of_template_compile(v, pointer_key(loc, "Assign"), forward_report, ctx);
	if (st != NULL && tmpl != NULL && of_template_uses_context(tmpl))
		st->uses_context = true;
	return tmpl;
}

/* ==================================================================
 * Retry and Catch
 * ================================================================== */

/* Warn about "States.*" names the language does not define */
static void
check_error_name(ParseCtx *ctx, const char *name, const char *loc)
{
	if (strncmp(name, "States.", 7) == 0 && !in_list(name, predefined_errors))
		warning(ctx, "UNKNOWN_ERROR_NAME", loc, NULL,
				"\"%.100s\" is not a predefined error name; names starting "
				"with \"States.\" are reserved", name);
}

/*
 * ErrorEquals of a retrier or catcher (loc): a non-empty array of
 * strings; "States.ALL" only alone and only in the last element of the
 * list (is_last).
 */
static void
parse_error_equals(ParseCtx *ctx, json_object *obj, const char *loc,
				   const char *what, bool is_last,
				   const char ***names_out, int *n_out)
{
	json_object *v;
	char	   *list_loc;
	const char **names;
	bool		has_all = false;
	int			n;
	int			i;

	if (!json_object_object_get_ex(obj, "ErrorEquals", &v))
	{
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"%s needs ErrorEquals, a non-empty array of error names", what);
		return;
	}
	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", loc, "ErrorEquals",
				"ErrorEquals must be an array of error names, got %.80s", describe(v));
		return;
	}
	n = (int) json_object_array_length(v);
	if (n == 0)
	{
		problem(ctx, "INVALID_VALUE", loc, "ErrorEquals",
				"ErrorEquals must name at least one error (\"States.ALL\" matches any)");
		return;
	}
	list_loc = pointer_key(loc, "ErrorEquals");
	names = of_alloc(sizeof(char *) * n);
	for (i = 0; i < n; i++)
	{
		json_object *item = json_object_array_get_idx(v, i);
		char	   *item_loc = pointer_index(list_loc, i);

		names[i] = string_value(ctx, item, item_loc, NULL, "an error name");
		if (names[i] == NULL)
			continue;
		if (names[i][0] == '\0')
			problem(ctx, "INVALID_VALUE", item_loc, NULL, "error names must not be empty");
		else if (strcmp(names[i], OF_ERR_ALL) == 0)
			has_all = true;
		else
			check_error_name(ctx, names[i], item_loc);
	}
	if (has_all && n > 1)
		problem(ctx, "STATES_ALL_NOT_ALONE", list_loc, NULL,
				"\"States.ALL\" must be the only error name in its ErrorEquals");
	if (has_all && !is_last)
		problem(ctx, "STATES_ALL_NOT_LAST", list_loc, NULL,
				"a %s with \"States.ALL\" must be the last one: the ones after it "
				"could never be used", what);
	*names_out = names;
	*n_out = n;
}

/* Check the optional numeric fields of a retrier */
static void
parse_retrier_numbers(ParseCtx *ctx, json_object *obj, const char *loc,
					  OfRetrier *r)
{
	json_object *v;
	int64_t		i;
	double		d;

	if (json_object_object_get_ex(obj, "IntervalSeconds", &v) &&
		integer_value(ctx, v, loc, "IntervalSeconds", 1, MAX_SECONDS, &i))
		r->interval_seconds = (double) i;
	if (json_object_object_get_ex(obj, "MaxAttempts", &v) &&
		integer_value(ctx, v, loc, "MaxAttempts", 0, MAX_COUNT, &i))
		r->max_attempts = (int) i;
	if (json_object_object_get_ex(obj, "MaxDelaySeconds", &v) &&
		integer_value(ctx, v, loc, "MaxDelaySeconds", 1, MAX_DELAY_SECONDS, &i))
		r->max_delay_seconds = (double) i;
	if (json_object_object_get_ex(obj, "BackoffRate", &v))
	{
		if (!finite_number(v, &d) || d < 1.0)
			problem(ctx, number_problem_code(v),
					loc, "BackoffRate",
					"BackoffRate must be a number >= 1.0, got %.80s", describe(v));
		else
			r->backoff_rate = d;
	}
}

/* One element of Retry */
static void
parse_retrier(ParseCtx *ctx, json_object *obj, const char *loc, bool is_last,
			  OfRetrier *r)
{
	const char *jitter;

	r->interval_seconds = 1;
	r->max_attempts = 3;
	r->backoff_rate = 2.0;
	if (!json_object_is_type(obj, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", loc, NULL,
				"a retrier must be a JSON object, got %.80s", describe(obj));
		return;
	}
	check_known_fields(ctx, obj, loc, retrier_fields, "a retrier");
	parse_error_equals(ctx, obj, loc, "retrier", is_last,
					   &r->error_equals, &r->n_error_equals);
	parse_retrier_numbers(ctx, obj, loc, r);
	jitter = optional_string(ctx, obj, loc, "JitterStrategy");
	if (jitter != NULL && strcmp(jitter, "FULL") == 0)
		r->jitter_full = true;
	else if (jitter != NULL && strcmp(jitter, "NONE") != 0)
		problem(ctx, "INVALID_VALUE", loc, "JitterStrategy",
				"JitterStrategy must be \"FULL\" or \"NONE\", got \"%.80s\"", jitter);
	parse_comment(ctx, obj, loc);
}

/* The Retry array of a Task, Parallel or Map state */
static void
parse_retry(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	char	   *loc;
	int			n;
	int			i;

	if (!json_object_object_get_ex(obj, "Retry", &v))
		return;
	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", st->location, "Retry",
				"Retry must be an array of retriers, got %.80s", describe(v));
		return;
	}
	loc = pointer_key(st->location, "Retry");
	n = (int) json_object_array_length(v);
	st->retriers = of_alloc(sizeof(OfRetrier) * (n > 0 ? n : 1));
	st->n_retriers = n;
	for (i = 0; i < n; i++)
		parse_retrier(ctx, json_object_array_get_idx(v, i), pointer_index(loc, i),
					  i == n - 1, &st->retriers[i]);
}

/* One element of Catch */
static void
parse_catcher(ParseCtx *ctx, OfState *st, json_object *obj, const char *loc,
			  bool is_last, OfCatcher *c)
{
	json_object *v;

	c->next_index = -1;
	if (!json_object_is_type(obj, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", loc, NULL,
				"a catcher must be a JSON object, got %.80s", describe(obj));
		return;
	}
	check_known_fields(ctx, obj, loc, catcher_fields, "a catcher");
	parse_error_equals(ctx, obj, loc, "catcher", is_last,
					   &c->error_equals, &c->n_error_equals);
	if (!json_object_object_get_ex(obj, "Next", &v))
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"a catcher needs Next, the state to go to when it catches an error");
	else
		c->next = string_value(ctx, v, loc, "Next", "Next");
	parse_result_path(ctx, st, obj, loc, &c->result_path);
	if (optional_object(ctx, obj, loc, "Assign") != NULL)
		c->assign = compile_assign(ctx, st, obj, loc);
	parse_comment(ctx, obj, loc);
}

/* The Catch array of a Task, Parallel or Map state */
static void
parse_catch(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	char	   *loc;
	int			n;
	int			i;

	if (!json_object_object_get_ex(obj, "Catch", &v))
		return;
	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", st->location, "Catch",
				"Catch must be an array of catchers, got %.80s", describe(v));
		return;
	}
	loc = pointer_key(st->location, "Catch");
	n = (int) json_object_array_length(v);
	st->catchers = of_alloc(sizeof(OfCatcher) * (n > 0 ? n : 1));
	st->n_catchers = n;
	for (i = 0; i < n; i++)
		parse_catcher(ctx, st, json_object_array_get_idx(v, i),
					  pointer_index(loc, i), i == n - 1, &st->catchers[i]);
}

/* ==================================================================
 * Choice rules
 * ================================================================== */

/* The comparison operator called name, or NULL */
static const ChoiceOperator *
find_choice_operator(const char *name)
{
	size_t		i;

	for (i = 0; i < sizeof(choice_operators) / sizeof(choice_operators[0]); i++)
		if (strcmp(choice_operators[i].name, name) == 0)
			return &choice_operators[i];
	return NULL;
}

/* Is name And, Or or Not? */
static bool
is_boolean_operator(const char *name)
{
	return strcmp(name, "And") == 0 || strcmp(name, "Or") == 0 ||
		strcmp(name, "Not") == 0;
}

/* Check the literal operand of a comparison */
static void
check_operand(ParseCtx *ctx, const ChoiceOperator *op, json_object *v,
			  const char *loc)
{
	int64_t		usec;

	switch (op->kind)
	{
		case OPERAND_STRING:
			if (!json_object_is_type(v, json_type_string))
				problem(ctx, "INVALID_TYPE", loc, op->name,
						"%s needs a string, got %.80s", op->name, describe(v));
			break;
		case OPERAND_NUMBER:
			if (!finite_number(v, NULL))
				problem(ctx, number_problem_code(v), loc, op->name,
						"%s needs a finite number, got %.80s", op->name, describe(v));
			break;
		case OPERAND_BOOLEAN:
			if (!json_object_is_type(v, json_type_boolean))
				problem(ctx, "INVALID_TYPE", loc, op->name,
						"%s needs true or false, got %.80s", op->name, describe(v));
			break;
		case OPERAND_TIMESTAMP:
			if (!json_object_is_type(v, json_type_string))
				problem(ctx, "INVALID_TYPE", loc, op->name,
						"%s needs an RFC 3339 timestamp string, got %.80s",
						op->name, describe(v));
			else if (!of_parse_timestamp(json_object_get_string(v), &usec))
				problem(ctx, "INVALID_VALUE", loc, op->name,
						"%s needs an RFC 3339 timestamp with a time zone, such as "
						"\"2024-01-01T10:00:00Z\", got %.80s", op->name, describe(v));
			break;
	}
}

/* The array of nested rules of And / Or */
static void
parse_rule_list(ParseCtx *ctx, OfState *st, OfChoiceRule *rule,
				const char *name, json_object *v, const char *loc, int depth)
{
	char	   *list_loc;
	int			n;
	int			i;

	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", loc, name,
				"%s needs an array of choice rules, got %.80s", name, describe(v));
		return;
	}
	n = (int) json_object_array_length(v);
	if (n == 0)
	{
		problem(ctx, "INVALID_VALUE", loc, name,
				"%s needs at least one choice rule", name);
		return;
	}
	list_loc = pointer_key(loc, name);
	rule->children = of_alloc(sizeof(OfChoiceRule *) * n);
	rule->n_children = n;
	for (i = 0; i < n; i++)
		rule->children[i] = parse_choice_rule(ctx, st, json_object_array_get_idx(v, i),
											  pointer_index(list_loc, i), false,
											  depth + 1);
}

/* The single nested rule of Not */
static void
parse_rule_not(ParseCtx *ctx, OfState *st, OfChoiceRule *rule, json_object *v,
			   const char *loc, int depth)
{
	if (!json_object_is_type(v, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", loc, "Not",
				"Not needs one choice rule object, got %.80s", describe(v));
		return;
	}
	rule->children = of_alloc(sizeof(OfChoiceRule *));
	rule->n_children = 1;
	rule->children[0] = parse_choice_rule(ctx, st, v, pointer_key(loc, "Not"),
										  false, depth + 1);
}

/* Fill rule from its operator field (name: value) */
static void
parse_rule_operator(ParseCtx *ctx, OfState *st, OfChoiceRule *rule,
					const char *name, json_object *v, const char *loc, int depth)
{
	const ChoiceOperator *op;

	if (strcmp(name, "And") == 0 || strcmp(name, "Or") == 0)
	{
		rule->op = (name[0] == 'A') ? OF_OP_AND : OF_OP_OR;
		rule->op_name = (name[0] == 'A') ? "And" : "Or";
		parse_rule_list(ctx, st, rule, rule->op_name, v, loc, depth);
		return;
	}
	if (strcmp(name, "Not") == 0)
	{
		rule->op = OF_OP_NOT;
		rule->op_name = "Not";
		parse_rule_not(ctx, st, rule, v, loc, depth);
		return;
	}
	op = find_choice_operator(name);
	rule->op = op->op;
	rule->op_name = op->name;
	rule->operand_is_path = op->is_path;
	if (op->is_path)
		rule->operand_path = compile_path(ctx, st, v, loc, op->name, true);
	else
	{
		check_operand(ctx, op, v, loc);
		rule->operand = v;
	}
}

/* Variable: required by comparisons, not allowed with And/Or/Not */
static void
parse_rule_variable(ParseCtx *ctx, OfState *st, OfChoiceRule *rule,
					json_object *obj, const char *loc, const char *op_name)
{
	json_object *v;
	bool		present = json_object_object_get_ex(obj, "Variable", &v);

	if (op_name != NULL && is_boolean_operator(op_name))
	{
		if (present)
			problem(ctx, "FIELD_NOT_ALLOWED", loc, "Variable",
					"a choice rule with %s has no Variable; put it in the nested rules",
					op_name);
		return;
	}
	if (!present)
	{
		if (op_name != NULL)
			problem(ctx, "MISSING_FIELD", loc, NULL,
					"the choice rule with %s needs Variable, the path of the value "
					"to compare", op_name);
		return;
	}
	rule->variable = compile_path(ctx, st, v, loc, "Variable", false);
}

/* Next, Assign and Comment of a rule: Next and Assign only at the top */
static void
parse_rule_extras(ParseCtx *ctx, OfChoiceRule *rule, json_object *obj,
				  const char *loc, bool top)
{
	json_object *v;

	if (json_object_object_get_ex(obj, "Next", &v))
	{
		if (top)
			rule->next = string_value(ctx, v, loc, "Next", "Next");
		else
			problem(ctx, "FIELD_NOT_ALLOWED", loc, "Next",
					"Next is only allowed in a top-level choice rule, not inside "
					"And, Or or Not");
	}
	else if (top)
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"a choice rule needs Next, the state to go to when it matches");
	if (json_object_object_get_ex(obj, "Assign", &v))
	{
		if (top && optional_object(ctx, obj, loc, "Assign") != NULL)
			rule->assign = compile_assign(ctx, NULL, obj, loc);
		else if (!top)
			problem(ctx, "FIELD_NOT_ALLOWED", loc, "Assign",
					"Assign is only allowed in a top-level choice rule");
	}
	parse_comment(ctx, obj, loc);
}

/* Is name one of the non-operator fields of a choice rule? */
static bool
is_rule_field(const char *name)
{
	return strcmp(name, "Variable") == 0 || strcmp(name, "Next") == 0 ||
		strcmp(name, "Comment") == 0 || strcmp(name, "Assign") == 0;
}

/*
 * One choice rule at loc.  A top-level rule needs Next; nested rules (in
 * And/Or/Not) must not have one.  Exactly one operator per rule.
 */
static OfChoiceRule *
parse_choice_rule(ParseCtx *ctx, OfState *st, json_object *obj, const char *loc,
				  bool top, int depth)
{
	OfChoiceRule *rule;
	OfChoiceRule scratch;
	struct json_object_iter it;
	const char *first_op = NULL;

	if (depth > MAX_RULE_NESTING)
	{
		problem(ctx, "INVALID_VALUE", loc, NULL,
				"choice rules are nested more than %d levels deep", MAX_RULE_NESTING);
		return NULL;
	}
	if (!json_object_is_type(obj, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", loc, NULL,
				"a choice rule must be a JSON object, got %.80s", describe(obj));
		return NULL;
	}
	rule = of_alloc(sizeof(OfChoiceRule));
	rule->next_index = -1;
	json_object_object_foreachC(obj, it)
	{
		if (is_rule_field(it.key))
			continue;
		if (!is_boolean_operator(it.key) && find_choice_operator(it.key) == NULL)
		{
			problem(ctx, "UNKNOWN_FIELD", loc, it.key,
					"\"%.100s\" is not a choice rule field: a rule has Variable and "
					"one comparison (such as StringEquals or IsPresent), or And, "
					"Or, Not", it.key);
			continue;
		}
		if (first_op == NULL)
		{
			first_op = it.key;
			parse_rule_operator(ctx, st, rule, it.key, it.val, loc, depth);
			continue;
		}
		problem(ctx, "INVALID_CHOICE_RULE", loc, it.key,
				"the choice rule already uses %s; a rule has exactly one operator "
				"(combine several with And or Or)", first_op);
		memset(&scratch, 0, sizeof(scratch));
		parse_rule_operator(ctx, st, &scratch, it.key, it.val, loc, depth);
	}
	if (first_op == NULL)
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"the choice rule has no operator: it needs a comparison (such as "
				"StringEquals, NumericLessThan or IsPresent) or And, Or, Not");
	parse_rule_variable(ctx, st, rule, obj, loc, first_op);
	parse_rule_extras(ctx, rule, obj, loc, top);
	return rule;
}

/* ==================================================================
 * States
 * ================================================================== */

/* The rule for a state field, or NULL if ASL has no such field */
static const FieldRule *
find_field_rule(const char *name)
{
	size_t		i;

	for (i = 0; i < sizeof(state_fields) / sizeof(state_fields[0]); i++)
		if (state_fields[i].name[0] == name[0] &&
			strcmp(state_fields[i].name, name) == 0)
			return &state_fields[i];
	return NULL;
}

/* A field name differing only in case, for "did you mean" hints */
static const char *
similar_field(const char *name)
{
	size_t		i;

	for (i = 0; i < sizeof(state_fields) / sizeof(state_fields[0]); i++)
		if (strcasecmp(state_fields[i].name, name) == 0)
			return state_fields[i].name;
	return NULL;
}

/* Report a field this state type does not have */
static void
report_field_not_allowed(ParseCtx *ctx, const OfState *st, const char *field)
{
	const char *type = of_state_type_name(st->type);
	bool		terminal = (st->type == OF_STATE_SUCCEED || st->type == OF_STATE_FAIL);

	if (terminal && strcmp(field, "Next") == 0)
		problem(ctx, "FIELD_NOT_ALLOWED", st->location, field,
				"a %s state ends the execution, so it cannot have Next", type);
	else if (terminal && strcmp(field, "End") == 0)
		problem(ctx, "FIELD_NOT_ALLOWED", st->location, field,
				"a %s state always ends the execution; End is not allowed in it", type);
	else if (st->type == OF_STATE_CHOICE && strcmp(field, "End") == 0)
		problem(ctx, "FIELD_NOT_ALLOWED", st->location, field,
				"a Choice state cannot end the execution: it always moves on "
				"through Choices or Default (use a Succeed state to end)");
	else if (st->type == OF_STATE_CHOICE && strcmp(field, "Next") == 0)
		problem(ctx, "FIELD_NOT_ALLOWED", st->location, field,
				"a Choice state moves on through Choices and Default, not Next");
	else
		problem(ctx, "FIELD_NOT_ALLOWED", st->location, field,
				"%s is not allowed in a %s state", field, type);
}

/* Report a field that is not a state field at all */
static void
report_unknown_state_field(ParseCtx *ctx, const OfState *st, const char *field)
{
	const char *similar = similar_field(field);

	if (in_list(field, jsonata_fields))
		problem(ctx, "UNKNOWN_FIELD", st->location, field,
				"%s is a JSONata field; orderflow runs JSONPath definitions only",
				field);
	else if (similar != NULL)
		problem(ctx, "UNKNOWN_FIELD", st->location, field,
				"\"%.100s\" is not a field of a %s state (did you mean \"%s\"?)",
				field, of_state_type_name(st->type), similar);
	else
		problem(ctx, "UNKNOWN_FIELD", st->location, field,
				"\"%.100s\" is not a field of a %s state",
				field, of_state_type_name(st->type));
}

/* Report every field that this state's type does not allow */
static void
check_state_fields(ParseCtx *ctx, const OfState *st, json_object *obj)
{
	struct json_object_iter it;

	json_object_object_foreachC(obj, it)
	{
		const FieldRule *rule = find_field_rule(it.key);

		if (rule == NULL)
			report_unknown_state_field(ctx, st, it.key);
		else if ((rule->types & TYPE_BIT(st->type)) == 0)
			report_field_not_allowed(ctx, st, it.key);
	}
}

/* Names must be 1..80 characters */
static void
check_state_name(ParseCtx *ctx, const OfState *st)
{
	size_t		chars = utf8_char_count(st->name);

	if (chars == 0)
		problem(ctx, "INVALID_STATE_NAME", st->location, NULL,
				"state names must not be empty");
	else if (chars > MAX_STATE_NAME_CHARS)
		problem(ctx, "INVALID_STATE_NAME", st->location, NULL,
				"state name \"%.60s...\" is %zu characters long; the limit is %d",
				st->name, chars, MAX_STATE_NAME_CHARS);
}

/* Read Type; false when it is missing or not one of the eight types */
static bool
parse_state_type(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	const char *type;
	int			i;

	if (!json_object_object_get_ex(obj, "Type", &v))
	{
		problem(ctx, "MISSING_FIELD", st->location, NULL,
				"state \"%s\" needs Type (Task, Pass, Choice, Wait, Succeed, Fail, "
				"Parallel or Map)", st->name);
		return false;
	}
	type = string_value(ctx, v, st->location, "Type", "Type");
	if (type == NULL)
		return false;
	for (i = 0; i < (int) (sizeof(state_type_names) / sizeof(state_type_names[0])); i++)
	{
		if (strcmp(type, state_type_names[i]) == 0)
		{
			st->type = (OfStateType) i;
			return true;
		}
	}
	problem(ctx, "UNKNOWN_STATE_TYPE", st->location, "Type",
			"\"%.80s\" is not a state type; use Task, Pass, Choice, Wait, Succeed, "
			"Fail, Parallel or Map", type);
	return false;
}

/* Next / End of a state that moves on: exactly one of them */
static void
parse_transition(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	bool		has_next = json_object_object_get_ex(obj, "Next", &v);
	bool		has_end;

	if (has_next)
		st->next = string_value(ctx, v, st->location, "Next", "Next");
	has_end = json_object_object_get_ex(obj, "End", &v);
	if (has_end && !json_object_is_type(v, json_type_boolean))
		problem(ctx, "INVALID_TYPE", st->location, "End",
				"End must be true or false, got %.80s", describe(v));
	else if (has_end)
		st->end = json_object_get_boolean(v);
	if (has_next && st->end)
	{
		problem(ctx, "MUTUALLY_EXCLUSIVE", st->location, NULL,
				"state \"%s\" has both Next and \"End\": true; use exactly one", st->name);
		st->end = false;
	}
	else if (!has_next && !has_end)
		problem(ctx, "MISSING_TRANSITION", st->location, NULL,
				"state \"%s\" needs Next (the state to run after it) or \"End\": true",
				st->name);
	else if (!has_next && json_object_is_type(v, json_type_boolean) && !st->end)
		problem(ctx, "MISSING_TRANSITION", st->location, NULL,
				"state \"%s\" has \"End\": false but no Next; it needs one of them",
				st->name);
}

/* InputPath, OutputPath, ResultPath, Parameters, ResultSelector, Assign */
static void
parse_io(ParseCtx *ctx, OfState *st, json_object *obj)
{
	unsigned	bit = TYPE_BIT(st->type);
	json_object *v;

	if (bit & ~T_FAIL)
	{
		parse_path_field(ctx, st, obj, st->location, "InputPath", false, &st->input_path);
		parse_path_field(ctx, st, obj, st->location, "OutputPath", false, &st->output_path);
		st->assign = optional_object(ctx, obj, st->location, "Assign");
		if (st->assign != NULL)
			st->assign_template = compile_assign(ctx, st, obj, st->location);
	}
	if (bit & T_RESULT)
		parse_result_path(ctx, st, obj, st->location, &st->result_path);
	if ((bit & T_RESULT) && st->type != OF_STATE_MAP)
	{
		st->parameters = compile_template(ctx, st, obj, "Parameters");
		/* the server checks a lambda:invoke Task's Parameters (lambda.c) */
		(void) json_object_object_get_ex(obj, "Parameters", &st->parameters_src);
	}
	if (bit & T_WORK)
		st->result_selector = compile_template(ctx, st, obj, "ResultSelector");
	if (st->type == OF_STATE_PASS && json_object_object_get_ex(obj, "Result", &v))
	{
		st->result = v;
		st->has_result = true;
	}
}

/* Task: Resource, timeouts and heartbeats */
static void
parse_task(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const timeouts[] = {"TimeoutSeconds", "TimeoutSecondsPath", NULL};
	static const char *const heartbeats[] = {"HeartbeatSeconds", "HeartbeatSecondsPath", NULL};
	json_object *v;

	if (!json_object_object_get_ex(obj, "Resource", &v))
		problem(ctx, "MISSING_FIELD", st->location, NULL,
				"Task state \"%s\" needs Resource, the task to run", st->name);
	else
		st->resource = string_value(ctx, v, st->location, "Resource", "Resource");
	if (st->resource != NULL && st->resource[0] == '\0')
		problem(ctx, "INVALID_VALUE", st->location, "Resource",
				"Resource must not be empty");
	else if (st->resource != NULL && ctx->opts->resolve != NULL)
	{
		char		message[RESOLVE_MESSAGE_SIZE] = "";

		if (!ctx->opts->resolve(ctx->opts->resolve_arg, st->resource,
								message, sizeof(message)))
		{
			message[sizeof(message) - 1] = '\0';
			problem(ctx, "RESOURCE_NOT_FOUND", st->location, "Resource", "%s",
					message[0] ? message : "the resource cannot be run");
		}
	}
	check_exclusive(ctx, st, obj, timeouts, false);
	check_exclusive(ctx, st, obj, heartbeats, false);
	if (json_object_object_get_ex(obj, "TimeoutSeconds", &v))
		integer_value(ctx, v, st->location, "TimeoutSeconds", 1, MAX_SECONDS,
					  &st->timeout_seconds);
	if (json_object_object_get_ex(obj, "HeartbeatSeconds", &v))
		integer_value(ctx, v, st->location, "HeartbeatSeconds", 1, MAX_SECONDS,
					  &st->heartbeat_seconds);
	st->timeout_seconds_path = optional_path(ctx, st, obj, st->location,
											 "TimeoutSecondsPath", true);
	st->heartbeat_seconds_path = optional_path(ctx, st, obj, st->location,
											   "HeartbeatSecondsPath", true);
	if (st->timeout_seconds > 0 && st->heartbeat_seconds >= st->timeout_seconds)
		problem(ctx, "INVALID_VALUE", st->location, "HeartbeatSeconds",
				"HeartbeatSeconds (%lld) must be smaller than TimeoutSeconds (%lld)",
				(long long) st->heartbeat_seconds, (long long) st->timeout_seconds);
	if (json_object_object_get_ex(obj, "Credentials", NULL))
		problem(ctx, "UNSUPPORTED_FIELD", st->location, "Credentials",
				"Credentials (running a task under another role) is not supported");
}

/* Choice: Choices and Default */
static void
parse_choice(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	char	   *loc;
	int			n;
	int			i;

	if (json_object_object_get_ex(obj, "Default", &v))
		st->default_next = string_value(ctx, v, st->location, "Default", "Default");
	if (!json_object_object_get_ex(obj, "Choices", &v))
	{
		problem(ctx, "MISSING_FIELD", st->location, NULL,
				"Choice state \"%s\" needs Choices, a non-empty array of choice rules",
				st->name);
		return;
	}
	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", st->location, "Choices",
				"Choices must be an array of choice rules, got %.80s", describe(v));
		return;
	}
	n = (int) json_object_array_length(v);
	if (n == 0)
	{
		problem(ctx, "INVALID_VALUE", st->location, "Choices",
				"Choices must contain at least one choice rule");
		return;
	}
	loc = pointer_key(st->location, "Choices");
	st->choices = of_alloc(sizeof(OfChoiceRule *) * n);
	st->n_choices = n;
	for (i = 0; i < n; i++)
		st->choices[i] = parse_choice_rule(ctx, st, json_object_array_get_idx(v, i),
										   pointer_index(loc, i), true, 0);
}

/* Wait: exactly one of Seconds, SecondsPath, Timestamp, TimestampPath */
static void
parse_wait(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const forms[] = {
		"Seconds", "SecondsPath", "Timestamp", "TimestampPath", NULL
	};
	json_object *v;

	check_exclusive(ctx, st, obj, forms, true);
	if (json_object_object_get_ex(obj, "Seconds", &v))
		st->has_seconds = integer_value(ctx, v, st->location, "Seconds", 0,
										MAX_SECONDS, &st->seconds);
	st->seconds_path = optional_path(ctx, st, obj, st->location, "SecondsPath", true);
	st->timestamp_path = optional_path(ctx, st, obj, st->location, "TimestampPath", true);
	if (!json_object_object_get_ex(obj, "Timestamp", &v))
		return;
	st->timestamp = string_value(ctx, v, st->location, "Timestamp", "Timestamp");
	if (st->timestamp != NULL && !of_parse_timestamp(st->timestamp, &st->timestamp_usec))
	{
		problem(ctx, "INVALID_VALUE", st->location, "Timestamp",
				"Timestamp must be an RFC 3339 timestamp with a time zone, such as "
				"\"2024-01-01T10:00:00Z\", got %.80s", describe(v));
		st->timestamp = NULL;
	}
}

/* Fail: Error or ErrorPath, Cause or CausePath */
static void
parse_fail(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const errors[] = {"Error", "ErrorPath", NULL};
	static const char *const causes[] = {"Cause", "CausePath", NULL};

	check_exclusive(ctx, st, obj, errors, false);
	check_exclusive(ctx, st, obj, causes, false);
	st->error = optional_string(ctx, obj, st->location, "Error");
	st->cause = optional_string(ctx, obj, st->location, "Cause");
	st->error_path = compile_expr(ctx, st, obj, "ErrorPath");
	st->cause_path = compile_expr(ctx, st, obj, "CausePath");
}

/* Parallel: Branches, each a machine of its own */
static void
parse_parallel(ParseCtx *ctx, OfState *st, json_object *obj)
{
	json_object *v;
	char	   *loc;
	int			n;
	int			i;

	if (!json_object_object_get_ex(obj, "Branches", &v))
	{
		problem(ctx, "MISSING_FIELD", st->location, NULL,
				"Parallel state \"%s\" needs Branches, a non-empty array of state "
				"machines", st->name);
		return;
	}
	if (!json_object_is_type(v, json_type_array))
	{
		problem(ctx, "INVALID_TYPE", st->location, "Branches",
				"Branches must be an array of state machines, got %.80s", describe(v));
		return;
	}
	n = (int) json_object_array_length(v);
	if (n == 0)
	{
		problem(ctx, "INVALID_VALUE", st->location, "Branches",
				"Branches must contain at least one branch");
		return;
	}
	loc = pointer_key(st->location, "Branches");
	st->branches = of_alloc(sizeof(OfMachine *) * n);
	st->n_branches = n;
	ctx->has_nested = true;
	for (i = 0; i < n; i++)
	{
		json_object *branch = json_object_array_get_idx(v, i);
		char	   *branch_loc = pointer_index(loc, i);

		if (json_object_is_type(branch, json_type_object))
			st->branches[i] = parse_machine(ctx, branch, branch_loc, MACHINE_BRANCH);
		else
			problem(ctx, "INVALID_TYPE", branch_loc, NULL,
					"a branch must be a state machine object (StartAt, States), got %.80s",
					describe(branch));
	}
}

/* A Map's ItemProcessor (kind PROCESSOR) or legacy Iterator */
static OfMachine *
parse_map_machine(ParseCtx *ctx, OfState *st, json_object *obj,
				  const char *field, MachineKind kind)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, field, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", st->location, field,
				"%s must be a state machine object (StartAt, States), got %.80s",
				field, describe(v));
		return NULL;
	}
	ctx->has_nested = true;
	return parse_machine(ctx, v, pointer_key(st->location, field), kind);
}

/* Map: MaxConcurrency and the tolerated failure thresholds */
static void
parse_map_limits(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const concurrency[] = {"MaxConcurrency", "MaxConcurrencyPath", NULL};
	static const char *const count[] = {"ToleratedFailureCount", "ToleratedFailureCountPath", NULL};
	static const char *const percentage[] = {
		"ToleratedFailurePercentage", "ToleratedFailurePercentagePath", NULL
	};
	json_object *v;
	int64_t		i;
	double		d;

	check_exclusive(ctx, st, obj, concurrency, false);
	check_exclusive(ctx, st, obj, count, false);
	check_exclusive(ctx, st, obj, percentage, false);
	if (json_object_object_get_ex(obj, "MaxConcurrency", &v) &&
		integer_value(ctx, v, st->location, "MaxConcurrency", 0, MAX_COUNT, &i))
		st->max_concurrency = (int) i;
	if (json_object_object_get_ex(obj, "ToleratedFailureCount", &v) &&
		integer_value(ctx, v, st->location, "ToleratedFailureCount", 0, MAX_COUNT, &i))
		st->tolerated_failure_count = (int) i;
	if (json_object_object_get_ex(obj, "ToleratedFailurePercentage", &v))
	{
		if (finite_number(v, &d) && d >= 0 && d <= 100)
			st->tolerated_failure_percentage = d;
		else
			problem(ctx, number_problem_code(v),
					st->location, "ToleratedFailurePercentage",
					"ToleratedFailurePercentage must be a number from 0 to 100, got %.80s",
					describe(v));
	}
	st->max_concurrency_path =
		optional_path(ctx, st, obj, st->location, "MaxConcurrencyPath", true);
	st->tolerated_failure_count_path =
		optional_path(ctx, st, obj, st->location, "ToleratedFailureCountPath", true);
	st->tolerated_failure_percentage_path =
		optional_path(ctx, st, obj, st->location, "ToleratedFailurePercentagePath", true);
}

/* ProcessorConfig of an ItemProcessor: Mode and ExecutionType */
static void
parse_processor_config(ParseCtx *ctx, json_object *machine_obj, const char *loc)
{
	static const char *const fields[] = {"Mode", "ExecutionType", NULL};
	json_object *cfg = optional_object(ctx, machine_obj, loc, "ProcessorConfig");
	char	   *cfg_loc;
	const char *mode;
	const char *exec;

	if (cfg == NULL)
		return;
	cfg_loc = pointer_key(loc, "ProcessorConfig");
	check_known_fields(ctx, cfg, cfg_loc, fields, "ProcessorConfig");
	mode = optional_string(ctx, cfg, cfg_loc, "Mode");
	if (mode != NULL && strcmp(mode, "INLINE") != 0 && strcmp(mode, "DISTRIBUTED") != 0)
		problem(ctx, "INVALID_VALUE", cfg_loc, "Mode",
				"Mode must be \"INLINE\" or \"DISTRIBUTED\", got \"%.80s\"", mode);
	exec = optional_string(ctx, cfg, cfg_loc, "ExecutionType");
	if (exec != NULL && strcmp(exec, "STANDARD") != 0 && strcmp(exec, "EXPRESS") != 0)
		problem(ctx, "INVALID_VALUE", cfg_loc, "ExecutionType",
				"ExecutionType must be \"STANDARD\" or \"EXPRESS\", got \"%.80s\"", exec);
	/* AWS: a Distributed Map names the type of its child workflows */
	if (mode != NULL && strcmp(mode, "DISTRIBUTED") == 0 && exec == NULL &&
		!json_object_object_get_ex(cfg, "ExecutionType", NULL))
		problem(ctx, "MISSING_FIELD", cfg_loc, "ExecutionType",
				"a DISTRIBUTED ItemProcessor needs ExecutionType (\"STANDARD\" or \"EXPRESS\")");
	else if (exec != NULL && (mode == NULL || strcmp(mode, "INLINE") == 0))
		warning(ctx, "IGNORED_FIELD", cfg_loc, "ExecutionType",
				"ExecutionType applies to a DISTRIBUTED Map only; an INLINE Map ignores it");
}

/* The ProcessorConfig Mode of a Map's ItemProcessor, or NULL (INLINE) */
static const char *
processor_mode(json_object *map_obj)
{
	json_object *proc;
	json_object *cfg;
	json_object *mode;

	if (json_object_object_get_ex(map_obj, "ItemProcessor", &proc) &&
		json_object_is_type(proc, json_type_object) &&
		json_object_object_get_ex(proc, "ProcessorConfig", &cfg) &&
		json_object_is_type(cfg, json_type_object) &&
		json_object_object_get_ex(cfg, "Mode", &mode) &&
		json_object_is_type(mode, json_type_string))
		return json_object_get_string(mode);
	return NULL;
}

/* An S3 bucket name: 3 to 63 of a-z, 0-9, '.', '-', starting and ending alphanumeric */
static bool
is_bucket_name(const char *s)
{
	size_t		len = strlen(s);

	if (len < 3 || len > 63)
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '-'))
			return false;
	return s[0] != '.' && s[0] != '-' && s[len - 1] != '.' && s[len - 1] != '-';
}

/* ResultWriter.Parameters: a literal Bucket and an optional literal Prefix */
static void
parse_result_writer_parameters(ParseCtx *ctx, json_object *params, const char *loc)
{
	static const char *const fields[] = {"Bucket", "Prefix", NULL};
	const char *bucket;
	const char *prefix;

	if (json_object_object_get_ex(params, "Bucket.$", NULL) ||
		json_object_object_get_ex(params, "Prefix.$", NULL))
	{
		problem(ctx, "UNSUPPORTED", loc,
				json_object_object_get_ex(params, "Bucket.$", NULL) ? "Bucket.$" : "Prefix.$",
				"the ResultWriter Bucket and Prefix must be literal strings: orderflow binds "
				"the target they name when the definition is created");
		return;
	}
	check_known_fields(ctx, params, loc, fields, "ResultWriter Parameters (Bucket, Prefix)");
	if (!json_object_object_get_ex(params, "Bucket", NULL))
		problem(ctx, "MISSING_FIELD", loc, "Bucket",
				"ResultWriter Parameters need a Bucket");
	bucket = optional_string(ctx, params, loc, "Bucket");
	if (bucket != NULL && !is_bucket_name(bucket))
		problem(ctx, "INVALID_VALUE", loc, "Bucket",
				"Bucket must be an S3 bucket name (3 to 63 characters: a-z, 0-9, '.', '-'), got \"%.80s\"",
				bucket);
	prefix = optional_string(ctx, params, loc, "Prefix");
	if (prefix != NULL && strlen(prefix) > 512)
		problem(ctx, "INVALID_VALUE", loc, "Prefix", "Prefix must be at most 512 characters");
}

/*
 * ResultWriter (AWS: Resource "arn:aws:states:::s3:putObject" with
 * Parameters {Bucket, Prefix}, and/or WriterConfig {OutputType,
 * Transformation}).  Which target the Bucket/Prefix is bound to is the
 * server's business (definition.c); here only the shape is checked.
 */
static void
parse_result_writer(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const fields[] = {"Resource", "Parameters", "WriterConfig", NULL};
	static const char *const config_fields[] = {"OutputType", "Transformation", NULL};
	json_object *rw = optional_object(ctx, obj, st->location, "ResultWriter");
	json_object *params;
	json_object *config;
	const char *loc;
	const char *resource;
	const char *mode;
	bool		has_resource;

	if (rw == NULL)
		return;
	st->result_writer = rw;
	loc = pointer_key(st->location, "ResultWriter");
	check_known_fields(ctx, rw, loc, fields, "a ResultWriter (Resource, Parameters, WriterConfig)");
	has_resource = json_object_object_get_ex(rw, "Resource", NULL);
	if (!has_resource && !json_object_object_get_ex(rw, "Parameters", NULL) &&
		!json_object_object_get_ex(rw, "WriterConfig", NULL))
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"a ResultWriter needs Resource and Parameters, WriterConfig, or all three");
	resource = optional_string(ctx, rw, loc, "Resource");
	if (resource != NULL && strcmp(resource, "arn:aws:states:::s3:putObject") != 0)
		problem(ctx, "INVALID_VALUE", loc, "Resource",
				"the ResultWriter Resource must be \"arn:aws:states:::s3:putObject\", got \"%.80s\"",
				resource);
	params = optional_object(ctx, rw, loc, "Parameters");
	if (has_resource && !json_object_object_get_ex(rw, "Parameters", NULL))
		problem(ctx, "MISSING_FIELD", loc, "Parameters",
				"a ResultWriter with a Resource needs Parameters {\"Bucket\": ..., \"Prefix\": ...}");
	else if (!has_resource && json_object_object_get_ex(rw, "Parameters", NULL))
		problem(ctx, "MISSING_FIELD", loc, "Resource",
				"ResultWriter Parameters need the Resource \"arn:aws:states:::s3:putObject\"");
	if (params != NULL)
		parse_result_writer_parameters(ctx, params, pointer_key(loc, "Parameters"));
	config = optional_object(ctx, rw, loc, "WriterConfig");
	if (config != NULL)
	{
		const char *cloc = pointer_key(loc, "WriterConfig");
		const char *output = optional_string(ctx, config, cloc, "OutputType");
		const char *transformation = optional_string(ctx, config, cloc, "Transformation");

		check_known_fields(ctx, config, cloc, config_fields,
						   "WriterConfig (OutputType, Transformation)");
		if (output != NULL && strcmp(output, "JSON") != 0 && strcmp(output, "JSONL") != 0)
			problem(ctx, "INVALID_VALUE", cloc, "OutputType",
					"OutputType must be \"JSON\" or \"JSONL\", got \"%.80s\"", output);
		else if (output != NULL && strcmp(output, "JSONL") == 0 && !has_resource)
			problem(ctx, "UNSUPPORTED", cloc, "OutputType",
					"OutputType \"JSONL\" is a file format: it needs the Resource and Parameters "
					"that name where the results are written");
		if (transformation != NULL && strcmp(transformation, "NONE") != 0 &&
			strcmp(transformation, "COMPACT") != 0 && strcmp(transformation, "FLATTEN") != 0)
			problem(ctx, "INVALID_VALUE", cloc, "Transformation",
					"Transformation must be \"NONE\", \"COMPACT\" or \"FLATTEN\", got \"%.80s\"",
					transformation);
	}
	/* orderflow runs every Map as child executions; AWS takes this on DISTRIBUTED ones only */
	mode = processor_mode(obj);
	if (mode == NULL || strcmp(mode, "DISTRIBUTED") != 0)
		warning(ctx, "DISTRIBUTED_ONLY", loc, NULL,
				"AWS accepts a ResultWriter on a DISTRIBUTED Map only (ItemProcessor.ProcessorConfig.Mode); "
				"orderflow runs it on any Map");
}

/*
 * ItemBatcher: at least one of MaxItemsPerBatch and MaxInputBytesPerBatch
 * (Step Functions' limit on a batch's input, 256 KiB, is theirs too), and
 * BatchInput, an object copied into every batch.  The *Path forms are not
 * read by the executor, so they are refused rather than ignored.
 */
static void
parse_item_batcher(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const fields[] = {
		"MaxItemsPerBatch", "MaxInputBytesPerBatch", "BatchInput",
		"MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath", NULL
	};
	static const char *const path_forms[] = {
		"MaxItemsPerBatchPath", "MaxInputBytesPerBatchPath", NULL
	};
	json_object *batcher = optional_object(ctx, obj, st->location, "ItemBatcher");
	char	   *loc;
	json_object *v;
	int64_t		i;
	bool		has_limit = false;

	st->item_batcher = batcher;
	if (batcher == NULL)
		return;
	loc = pointer_key(st->location, "ItemBatcher");
	check_known_fields(ctx, batcher, loc, fields,
					   "an ItemBatcher (MaxItemsPerBatch, MaxInputBytesPerBatch, BatchInput)");
	for (const char *const *f = path_forms; *f != NULL; f++)
		if (json_object_object_get_ex(batcher, *f, NULL))
			problem(ctx, "UNSUPPORTED_FIELD", loc, *f,
					"%s is not supported; give the limit as a number (%.*s)",
					*f, (int) (strlen(*f) - 4), *f);
	if (json_object_object_get_ex(batcher, "MaxItemsPerBatch", &v))
	{
		integer_value(ctx, v, loc, "MaxItemsPerBatch", 1, MAX_COUNT, &i);
		has_limit = true;
	}
	if (json_object_object_get_ex(batcher, "MaxInputBytesPerBatch", &v))
	{
		integer_value(ctx, v, loc, "MaxInputBytesPerBatch", 1, 262144, &i);
		has_limit = true;
	}
	if (!has_limit)
		problem(ctx, "MISSING_FIELD", loc, NULL,
				"an ItemBatcher needs MaxItemsPerBatch or MaxInputBytesPerBatch (or both)");
	optional_object(ctx, batcher, loc, "BatchInput");
}

/* Map: the iterator machine, items, selector, limits, reader and batcher */
static void
parse_map(ParseCtx *ctx, OfState *st, json_object *obj)
{
	static const char *const processors[] = {"ItemProcessor", "Iterator", NULL};
	static const char *const selectors[] = {"ItemSelector", "Parameters", NULL};
	OfMachine  *legacy;
	OfTemplate *legacy_selector;
	const char *label;

	check_exclusive(ctx, st, obj, processors, true);
	st->iterator = parse_map_machine(ctx, st, obj, "ItemProcessor", MACHINE_PROCESSOR);
	legacy = parse_map_machine(ctx, st, obj, "Iterator", MACHINE_ITERATOR);
	if (st->iterator == NULL)
		st->iterator = legacy;
	st->items_path = optional_path(ctx, st, obj, st->location, "ItemsPath", true);
	check_exclusive(ctx, st, obj, selectors, false);
	/* Step Functions takes only key-value pairs here (each item's input) */
	if (optional_object(ctx, obj, st->location, "ItemSelector") != NULL)
		st->item_selector = compile_template(ctx, st, obj, "ItemSelector");
	legacy_selector = compile_template(ctx, st, obj, "Parameters");
	if (st->item_selector == NULL)
		st->item_selector = legacy_selector;
	parse_map_limits(ctx, st, obj);
	st->item_reader = optional_object(ctx, obj, st->location, "ItemReader");
	parse_item_batcher(ctx, st, obj);
	parse_result_writer(ctx, st, obj);
	label = optional_string(ctx, obj, st->location, "Label");
	/* AWS: up to 40 characters, no whitespace (it names the Map Run) */
	if (label != NULL && (strlen(label) == 0 || strlen(label) > 40 || strpbrk(label, " \t\n\r") != NULL))
		problem(ctx, "INVALID_VALUE", st->location, "Label",
				"Label must be 1 to 40 characters without whitespace, got \"%.80s\"", label);
}

/* For a state we cannot validate (unknown type, JSONata): keep its Next */
static void
keep_next_only(OfState *st, json_object *obj)
{
	json_object *v;

	if (json_object_object_get_ex(obj, "Next", &v) &&
		json_object_is_type(v, json_type_string))
		st->next = of_strdup(json_object_get_string(v));
}

/* Parse and check one state called name */
static void
parse_state(ParseCtx *ctx, OfState *st, const char *name, json_object *obj,
			const char *states_loc)
{
	st->name = of_strdup(name);
	st->location = pointer_key(states_loc, name);
	st->next_index = -1;
	st->default_index = -1;
	check_state_name(ctx, st);
	if (!json_object_is_type(obj, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", st->location, NULL,
				"state \"%s\" must be a JSON object, got %.80s", st->name, describe(obj));
		return;
	}
	if (!parse_state_type(ctx, st, obj) || !check_query_language(ctx, obj, st->location))
	{
		keep_next_only(st, obj);
		return;
	}
	check_state_fields(ctx, st, obj);
	st->comment = parse_comment(ctx, obj, st->location);
	if (TYPE_BIT(st->type) & T_FLOW)
		parse_transition(ctx, st, obj);
	parse_io(ctx, st, obj);
	switch (st->type)
	{
		case OF_STATE_TASK:
			parse_task(ctx, st, obj);
			break;
		case OF_STATE_CHOICE:
			parse_choice(ctx, st, obj);
			break;
		case OF_STATE_WAIT:
			parse_wait(ctx, st, obj);
			break;
		case OF_STATE_FAIL:
			parse_fail(ctx, st, obj);
			break;
		case OF_STATE_PARALLEL:
			parse_parallel(ctx, st, obj);
			break;
		case OF_STATE_MAP:
			parse_map(ctx, st, obj);
			break;
		case OF_STATE_PASS:
		case OF_STATE_SUCCEED:
			break;
	}
	if (TYPE_BIT(st->type) & T_WORK)
	{
		parse_retry(ctx, st, obj);
		parse_catch(ctx, st, obj);
	}
}

/* ==================================================================
 * Machines
 * ================================================================== */

/* qsort order of states by name */
static int
compare_state_names(const void *a, const void *b)
{
	const OfState *sa = *(const OfState *const *) a;
	const OfState *sb = *(const OfState *const *) b;

	return strcmp(sa->name, sb->name);
}

/* Build the sorted name index of_machine_find_state() searches */
static void
build_name_index(OfMachine *m)
{
	const OfState **order = of_alloc(sizeof(OfState *) * (m->n_states + 1));
	int			i;

	for (i = 0; i < m->n_states; i++)
		order[i] = &m->states[i];
	qsort(order, m->n_states, sizeof(OfState *), compare_state_names);
	m->sorted_names = of_alloc(sizeof(char *) * (m->n_states + 1));
	m->sorted_index = of_alloc(sizeof(int) * (m->n_states + 1));
	for (i = 0; i < m->n_states; i++)
	{
		m->sorted_names[i] = order[i]->name;
		m->sorted_index[i] = (int) (order[i] - m->states);
	}
}

/* The States object of a machine: every state, in document order */
static void
parse_states(ParseCtx *ctx, OfMachine *m, json_object *obj)
{
	json_object *states;
	struct json_object_iter it;
	char	   *loc;
	int			i = 0;

	if (!json_object_object_get_ex(obj, "States", &states))
	{
		problem(ctx, "MISSING_FIELD", m->location_prefix, NULL,
				"a state machine needs States, an object of named states");
		return;
	}
	if (!json_object_is_type(states, json_type_object))
	{
		problem(ctx, "INVALID_TYPE", m->location_prefix, "States",
				"States must be an object of named states, got %.80s", describe(states));
		return;
	}
	ctx->n_states_total += json_object_object_length(states);
	if (ctx->n_states_total > MAX_STATES)
	{
		/* once, where the limit was crossed; no more states are parsed */
		if (!ctx->too_many_states)
			problem(ctx, "TOO_MANY_STATES", m->location_prefix, "States",
					"a definition may have at most %d states (counting the states of Parallel branches and Map processors), this one has more",
					MAX_STATES);
		ctx->too_many_states = true;
		return;
	}
	m->n_states = json_object_object_length(states);
	if (m->n_states == 0)
		problem(ctx, "INVALID_VALUE", m->location_prefix, "States",
				"States must contain at least one state");
	m->states = of_alloc(sizeof(OfState) * (m->n_states + 1));
	loc = pointer_key(m->location_prefix, "States");
	json_object_object_foreachC(states, it)
	{
		/* an interrupted parse leaves the rest as zeroed Pass states */
		if (parse_interrupted(ctx))
			break;
		parse_state(ctx, &m->states[i++], it.key, it.val, loc);
	}
	for (; i < m->n_states; i++)
		m->states[i].name = "";
	build_name_index(m);
}

/*
 * Poll opts->interrupted (once per state parsed or resolved).  The first
 * time it says stop, report INTERRUPTED, so that the parse fails and frees
 * its document; every loop over states then stops.
 */
static bool
parse_interrupted(ParseCtx *ctx)
{
	if (ctx->interrupted)
		return true;
	if (ctx->opts->interrupted == NULL || !ctx->opts->interrupted())
		return false;
	ctx->interrupted = true;
	problem(ctx, "INTERRUPTED", "", NULL, "parsing the definition was interrupted");
	return true;
}

/* Version and TimeoutSeconds of the top-level machine */
static void
parse_top_fields(ParseCtx *ctx, OfMachine *m, json_object *obj)
{
	json_object *v;
	const char *version = optional_string(ctx, obj, "", "Version");

	if (version != NULL && strcmp(version, "1.0") != 0)
		warning(ctx, "UNKNOWN_VERSION", "", "Version",
				"Version \"%.40s\" is not a known States Language version (\"1.0\")",
				version);
	if (json_object_object_get_ex(obj, "TimeoutSeconds", &v))
		integer_value(ctx, v, "", "TimeoutSeconds", 1, MAX_SECONDS, &m->timeout_seconds);
}

/* Report fields a machine of this kind does not have */
static void
check_machine_fields(ParseCtx *ctx, json_object *obj, const char *loc,
					 MachineKind kind)
{
	switch (kind)
	{
		case MACHINE_TOP:
			check_known_fields(ctx, obj, loc, top_fields,
							   "a state machine (StartAt, States, Comment, Version, "
							   "TimeoutSeconds, QueryLanguage)");
			break;
		case MACHINE_BRANCH:
			check_known_fields(ctx, obj, loc, branch_fields,
							   "a Parallel branch (StartAt, States, Comment)");
			break;
		case MACHINE_PROCESSOR:
			check_known_fields(ctx, obj, loc, processor_fields,
							   "an ItemProcessor (StartAt, States, Comment, ProcessorConfig)");
			parse_processor_config(ctx, obj, loc);
			break;
		case MACHINE_ITERATOR:
			check_known_fields(ctx, obj, loc, branch_fields,
							   "an Iterator (StartAt, States, Comment)");
			break;
	}
}

/* A state machine object (the definition, a branch or a Map iterator) */
static OfMachine *
parse_machine(ParseCtx *ctx, json_object *obj, const char *prefix, MachineKind kind)
{
	OfMachine  *m = of_alloc(sizeof(OfMachine));
	json_object *v;

	m->location_prefix = prefix;
	m->start_index = -1;
	check_machine_fields(ctx, obj, prefix, kind);
	if (!json_object_object_get_ex(obj, "StartAt", &v))
		problem(ctx, "MISSING_FIELD", prefix, NULL,
				"a state machine needs StartAt, the name of its first state");
	else
		m->start_at = string_value(ctx, v, prefix, "StartAt", "StartAt");
	m->comment = parse_comment(ctx, obj, prefix);
	if (kind == MACHINE_TOP)
		parse_top_fields(ctx, m, obj);
	parse_states(ctx, m, obj);
	return m;
}

/* ==================================================================
 * Transitions and reachability
 * ================================================================== */

/* Is name a state of a machine enclosing the current one? */
static bool
found_outside(const Scope *scope, const char *name)
{
	const Scope *s;

	for (s = scope->outer; s != NULL; s = s->outer)
		if (of_machine_find_state(s->machine, name) >= 0)
			return true;
	return false;
}

/*
 * Index of the target state name in the current machine; reports it at
 * base[/group/index]/field and returns -1 when there is no such state.
 */
static int
resolve_target(ParseCtx *ctx, const Scope *scope, const char *name,
			   const char *base, const char *group, int index, const char *field)
{
	int			target = of_machine_find_state(scope->machine, name);
	const char *loc = base;

	if (target >= 0)
		return target;
	if (group != NULL)
		loc = pointer_index(pointer_key(base, group), index);
	if (found_outside(scope, name))
		problem(ctx, "NEXT_UNKNOWN_STATE", loc, field,
				"%s \"%.100s\" is outside this %s: a Parallel branch or Map "
				"iteration can only move between its own states",
				field, name, scope->outer ? "branch" : "state machine");
	else
		problem(ctx, "NEXT_UNKNOWN_STATE", loc, field,
				"%s \"%.100s\" does not name a state in this %s",
				field, name, scope->outer ? "branch" : "state machine");
	return -1;
}

/* Resolve every transition of one state; recurse into its machines */
static void
resolve_state(ParseCtx *ctx, OfState *st, const Scope *scope)
{
	int			i;

	if (st->next != NULL)
		st->next_index = resolve_target(ctx, scope, st->next, st->location,
										NULL, 0, "Next");
	if (st->default_next != NULL)
		st->default_index = resolve_target(ctx, scope, st->default_next,
										   st->location, NULL, 0, "Default");
	for (i = 0; i < st->n_choices; i++)
		if (st->choices[i] != NULL && st->choices[i]->next != NULL)
			st->choices[i]->next_index =
				resolve_target(ctx, scope, st->choices[i]->next, st->location,
							   "Choices", i, "Next");
	for (i = 0; i < st->n_catchers; i++)
		if (st->catchers[i].next != NULL)
			st->catchers[i].next_index =
				resolve_target(ctx, scope, st->catchers[i].next, st->location,
							   "Catch", i, "Next");
	for (i = 0; i < st->n_branches; i++)
		if (st->branches[i] != NULL)
			resolve_machine(ctx, st->branches[i], scope);
	if (st->iterator != NULL)
		resolve_machine(ctx, st->iterator, scope);
}

/* Push target onto the work stack if it is a state not yet seen */
static void
visit(int target, bool *seen, int *stack, int *top)
{
	if (target >= 0 && !seen[target])
	{
		seen[target] = true;
		stack[(*top)++] = target;
	}
}

/* Mark everything reachable from StartAt */
static void
mark_reachable(const OfMachine *m, bool *seen)
{
	int		   *stack = of_alloc(sizeof(int) * (m->n_states + 1));
	int			top = 0;

	visit(m->start_index, seen, stack, &top);
	while (top > 0)
	{
		const OfState *st = &m->states[stack[--top]];
		int			i;

		visit(st->next_index, seen, stack, &top);
		visit(st->default_index, seen, stack, &top);
		for (i = 0; i < st->n_choices; i++)
			if (st->choices[i] != NULL)
				visit(st->choices[i]->next_index, seen, stack, &top);
		for (i = 0; i < st->n_catchers; i++)
			visit(st->catchers[i].next_index, seen, stack, &top);
	}
}

/* Report states no transition reaches; warn when nothing can end */
static void
check_reachability(ParseCtx *ctx, const OfMachine *m)
{
	bool	   *seen;
	bool		can_end = false;
	int			i;

	if (m->start_index < 0)
		return;
	seen = of_alloc(sizeof(bool) * (m->n_states + 1));
	mark_reachable(m, seen);
	for (i = 0; i < m->n_states; i++)
	{
		const OfState *st = &m->states[i];

		if (!seen[i])
			problem(ctx, "UNREACHABLE_STATE", st->location, NULL,
					"state \"%s\" can never run: no StartAt, Next, Default or "
					"Catch leads to it", st->name);
		else if (st->end || st->type == OF_STATE_SUCCEED || st->type == OF_STATE_FAIL)
			can_end = true;
	}
	/*
	 * Step Functions refuses such a machine (MISSING_END_STATE).  Only
	 * said about an otherwise valid definition: with a transition that did
	 * not resolve, what is reachable is not known.
	 */
	if (!can_end && ctx->n_errors == 0)
		problem(ctx, "NO_TERMINAL_STATE", m->location_prefix, NULL,
				"no state reachable from StartAt ends the %s: give a state "
				"\"End\": true, or go to a Succeed or Fail state",
				m->location_prefix[0] ? "branch" : "execution");
}

/* Resolve StartAt and every transition of machine m, then reachability */
static void
resolve_machine(ParseCtx *ctx, OfMachine *m, const Scope *outer)
{
	Scope		scope;
	int			i;

	scope.machine = m;
	scope.outer = outer;
	if (m->start_at != NULL)
	{
		m->start_index = of_machine_find_state(m, m->start_at);
		if (m->start_index < 0 && m->n_states > 0)
			problem(ctx, "STARTAT_UNKNOWN_STATE", m->location_prefix, "StartAt",
					"StartAt \"%.100s\" does not name a state in this %s",
					m->start_at, outer ? "branch" : "state machine");
	}
	for (i = 0; i < m->n_states && !parse_interrupted(ctx); i++)
		resolve_state(ctx, &m->states[i], &scope);
	if (!ctx->interrupted)
		check_reachability(ctx, m);
}

/* ==================================================================
 * Unique names across nested machines
 * ================================================================== */

/* Number of states in m and every machine nested in it */
static int
count_states(const OfMachine *m)
{
	int			n = m->n_states;
	int			i;
	int			b;

	for (i = 0; i < m->n_states; i++)
	{
		const OfState *st = &m->states[i];

		for (b = 0; b < st->n_branches; b++)
			if (st->branches[b] != NULL)
				n += count_states(st->branches[b]);
		if (st->iterator != NULL)
			n += count_states(st->iterator);
	}
	return n;
}

/* Append the states of m and its nested machines to all[] */
static void
collect_states(const OfMachine *m, NamedState *all, int *n)
{
	int			i;
	int			b;

	for (i = 0; i < m->n_states; i++)
	{
		const OfState *st = &m->states[i];

		all[*n].state = st;
		all[*n].seq = *n;
		(*n)++;
		for (b = 0; b < st->n_branches; b++)
			if (st->branches[b] != NULL)
				collect_states(st->branches[b], all, n);
		if (st->iterator != NULL)
			collect_states(st->iterator, all, n);
	}
}

/* qsort order: by name, then document order */
static int
compare_named_states(const void *a, const void *b)
{
	const NamedState *na = a;
	const NamedState *nb = b;
	int			c = strcmp(na->state->name, nb->state->name);

	if (c != 0)
		return c;
	return (na->seq > nb->seq) - (na->seq < nb->seq);
}

/* State names must be unique in the whole definition */
static void
check_unique_names(ParseCtx *ctx, const OfMachine *top)
{
	int			total = count_states(top);
	NamedState *all = of_alloc(sizeof(NamedState) * (total + 1));
	int			n = 0;
	int			first = 0;
	int			i;

	collect_states(top, all, &n);
	qsort(all, n, sizeof(NamedState), compare_named_states);
	for (i = 1; i < n; i++)
	{
		if (strcmp(all[i].state->name, all[first].state->name) != 0)
		{
			first = i;
			continue;
		}
		problem(ctx, "DUPLICATE_STATE_NAME", all[i].state->location, NULL,
				"state name \"%s\" is already used at %s; state names must be "
				"unique in the whole definition, Parallel branches and Map "
				"iterations included", all[i].state->name, all[first].state->location);
	}
}

/* ==================================================================
 * Entry points
 * ================================================================== */

/* The name of a state type, "Task", ... */
const char *
of_state_type_name(OfStateType type)
{
	if ((int) type < 0 ||
		(int) type >= (int) (sizeof(state_type_names) / sizeof(state_type_names[0])))
		return "Unknown";
	return state_type_names[type];
}

/* Binary search of the sorted name index: index of the state, or -1 */
int
of_machine_find_state(const OfMachine *m, const char *name)
{
	int			lo = 0;
	int			hi;

	if (m == NULL || name == NULL || m->sorted_names == NULL)
		return -1;
	hi = m->n_states - 1;
	while (lo <= hi)
	{
		int			mid = lo + (hi - lo) / 2;
		int			c = strcmp(name, m->sorted_names[mid]);

		if (c == 0)
			return m->sorted_index[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* JSON text must be UTF-8 (RFC 8259); reports and returns false if not */
static bool
check_encoding(ParseCtx *ctx, const char *text, size_t len)
{
	size_t		bad = utf8_invalid_offset(text, len);

	if (bad == len)
		return true;
	problem(ctx, "INVALID_JSON", "", NULL,
			"the definition is not valid UTF-8 (byte %zu)", bad);
	return false;
}

/* Parse the document text into json-c; NULL (reported) if it is not an object */
static json_object *
parse_document(ParseCtx *ctx, const char *text, size_t len)
{
	json_object *doc = NULL;
	OfError		err;
	int			max_depth = ctx->opts->max_depth > 0 ? ctx->opts->max_depth : DEFAULT_MAX_DEPTH;

	/* tolerate a terminating NUL counted in len */
	while (len > 0 && text[len - 1] == '\0')
		len--;
	if (!check_encoding(ctx, text, len))
		return NULL;
	memset(&err, 0, sizeof(err));
	if (!of_json_parse(text, len, max_depth, &doc, &err))
	{
		problem(ctx, "INVALID_JSON", "", NULL, "the definition is not valid JSON: %s",
				err.cause[0] ? err.cause : "syntax error");
		return NULL;
	}
	if (!json_object_is_type(doc, json_type_object))
	{
		problem(ctx, "NOT_AN_OBJECT", "", NULL,
				"a state machine definition must be a JSON object, got %.80s",
				describe(doc));
		json_object_put(doc);
		return NULL;
	}
	return doc;
}

/*
 * Parse and validate a definition; see asl.h.  The model is allocated with
 * of_alloc() even when NULL is returned (it goes with the memory context or
 * arena); the json-c document is released unless a machine is returned.
 */
OfMachine *
of_machine_parse(const char *json_text, size_t len, const OfParseOptions *opts)
{
	ParseCtx	ctx;
	json_object *doc;
	OfMachine  *m = NULL;

	if (opts == NULL || opts->report == NULL)
		return NULL;
	memset(&ctx, 0, sizeof(ctx));
	ctx.opts = opts;
	if (json_text == NULL)
	{
		problem(&ctx, "INVALID_JSON", "", NULL, "the definition is missing");
		return NULL;
	}
	doc = parse_document(&ctx, json_text, len);
	if (doc == NULL)
		return NULL;
	if (check_query_language(&ctx, doc, ""))
	{
		m = parse_machine(&ctx, doc, "", MACHINE_TOP);
		resolve_machine(&ctx, m, NULL);
		if (ctx.has_nested && !ctx.interrupted)
			check_unique_names(&ctx, m);
	}
	if (ctx.n_errors > 0 || m == NULL)
	{
		json_object_put(doc);
		return NULL;
	}
	m->doc = doc;
	return m;
}

/* Release the json-c document of a parsed machine (the model is of_alloc'd) */
void
of_machine_free(OfMachine *m)
{
	if (m == NULL)
		return;
	if (m->doc != NULL)
		json_object_put(m->doc);
	m->doc = NULL;
}
