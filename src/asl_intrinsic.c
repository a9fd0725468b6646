/*-------------------------------------------------------------------------
 *
 * asl_intrinsic.c
 *	  The value of a "key.$" field: a JSONPath, or an intrinsic function
 *	  call such as States.Format('{} {}', $.a, States.ArrayLength($.b)).
 *
 * of_expr_compile() parses the text once into a tree of OfExpr nodes and
 * checks everything that does not depend on data: the syntax, function
 * names, argument counts, the types of literal arguments and of nested
 * calls' results, and the values of literal arguments (a step of 0, an
 * unknown hash algorithm, ...).  A call whose arguments are all literals
 * is evaluated once, so that its errors (a range of 5000 items, a Format
 * template with the wrong number of placeholders) are reported at
 * definition time too.
 *
 * of_expr_eval() evaluates the tree.  Bad data fails with States.Runtime,
 * which is what AWS reports; the specification's States.IntrinsicFailure
 * is not used.  The cause names the function and the problem.
 *
 * Every function is one row of intrinsics[]: name, arity, the JSON types
 * each argument accepts, optional per-argument value checks (run on
 * literals at compile time and on every value at run time) and the
 * implementation, which may then rely on its arguments being valid.
 *
 * The compiled tree holds no json-c objects (literals are kept as C
 * values), so it can live in a memory context that is simply reset.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/printbuf.h>

#include "asl.h"

/* JSON types, as bits, for argument and result type checks */
#define T_NULL		(1u << 0)
#define T_BOOL		(1u << 1)
#define T_NUMBER	(1u << 2)
#define T_STRING	(1u << 3)
#define T_ARRAY		(1u << 4)
#define T_OBJECT	(1u << 5)
#define T_ANY		(T_NULL | T_BOOL | T_NUMBER | T_STRING | T_ARRAY | T_OBJECT)

#define MAX_FIXED_ARGS	3		/* per-argument table entries; the last repeats */
#define MAX_NESTING		10		/* AWS: up to 10 nested intrinsic functions */
#define MAX_TEXT_CHARS	10000	/* AWS limit for Base64Encode/Decode and Hash */
#define MAX_RANGE_ITEMS 1000	/* AWS limit for ArrayRange */
#define JSON_MAX_DEPTH	512		/* nesting limit for StringToJson */
#define HEX_DIGEST_SIZE 129		/* SHA-512 in hex plus NUL */

typedef enum ExprKind
{
	EXPR_PATH,
	EXPR_CALL,
	EXPR_STRING,
	EXPR_NUMBER,
	EXPR_BOOL,
	EXPR_NULL
} ExprKind;

typedef struct Intrinsic Intrinsic;

struct OfExpr
{
	ExprKind	kind;
	int			offset;			/* where the node starts in the text */
	bool		uses_context;	/* reads $$ (itself or below) */
	bool		constant;		/* a literal, or a call that needs no data */
	/* EXPR_PATH */
	OfPath	   *path;
	/* EXPR_CALL */
	const Intrinsic *func;
	OfExpr	  **args;
	int			nargs;
	/* EXPR_STRING: the value, and the text between the quotes (escaped) */
	const char *str;
	size_t		str_len;
	const char *raw;
	size_t		raw_len;
	/* EXPR_NUMBER */
	bool		is_int;
	int64_t		ival;
	double		dval;
	/* EXPR_BOOL */
	bool		bval;
};

/* An implementation; its arguments have passed the table's checks. */
typedef bool (*IntrinsicImpl) (const OfExpr *call, json_object **args,
							   const OfEvalEnv *env, json_object **result,
							   OfError *err);
/* A check of one argument's value (its type is already right). */
typedef bool (*ArgCheck) (const Intrinsic *fn, int argno, json_object *value,
						  OfError *err);
/* A compile-time check of a whole call that does not need data. */
typedef bool (*CallCheck) (const OfExpr *call, OfError *err);

struct Intrinsic
{
	const char *name;
	int			min_args;
	int			max_args;		/* -1: no limit */
	unsigned	types[MAX_FIXED_ARGS];	/* accepted types per argument */
	ArgCheck	checks[MAX_FIXED_ARGS]; /* value checks, NULL: none */
	unsigned	returns;		/* type(s) of the result */
	bool		pure;			/* result depends on the arguments only */
	IntrinsicImpl impl;
	CallCheck	check;			/* extra compile-time check, NULL: none */
};

typedef struct Parser
{
	const char *text;
	const char *p;				/* next character */
	int			depth;			/* calls open around p */
	OfError    *err;
} Parser;

static OfExpr *parse_value(Parser *ps);
static OfExpr *parse_error(Parser *ps, const char *at, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
static bool eval_node(const OfExpr *e, const OfEvalEnv *env,
					  json_object **result, OfError *err);

/* ------------------------------------------------------------------
 * Small helpers
 * ------------------------------------------------------------------ */

/* the type bit of a JSON value (NULL is JSON null) */
static unsigned
type_bit(json_object *v)
{
	switch (json_object_get_type(v))
	{
		case json_type_boolean:
			return T_BOOL;
		case json_type_int:
		case json_type_double:
			return T_NUMBER;
		case json_type_string:
			return T_STRING;
		case json_type_array:
			return T_ARRAY;
		case json_type_object:
			return T_OBJECT;
		default:
			return T_NULL;
	}
}

/* "a string", "an array", ... for one type bit */
static const char *
type_phrase(unsigned bit)
{
	switch (bit)
	{
		case T_BOOL:
			return "a boolean";
		case T_NUMBER:
			return "a number";
		case T_STRING:
			return "a string";
		case T_ARRAY:
			return "an array";
		case T_OBJECT:
			return "an object";
		default:
			return "null";
	}
}

/* the accepted types of argument i (the last table entry repeats) */
static unsigned
arg_types(const Intrinsic *fn, int i)
{
	return fn->types[i < MAX_FIXED_ARGS ? i : MAX_FIXED_ARGS - 1];
}

/* the value check of argument i, or NULL */
static ArgCheck
arg_check(const Intrinsic *fn, int i)
{
	return fn->checks[i < MAX_FIXED_ARGS ? i : MAX_FIXED_ARGS - 1];
}

/* round half up, as Java's Math.round (which AWS uses) */
static double
round_half_up(double d)
{
	double		r = floor(d);

	return d - r >= 0.5 ? r + 1 : r;
}

/* a number argument rounded to the nearest integer (checked to fit int32) */
static int64_t
int_arg(json_object *v)
{
	return (int64_t) round_half_up(of_json_number(v));
}

/* number of characters (UTF-8 code points) in s */
static size_t
count_chars(const char *s, size_t len)
{
	size_t		n = 0;
	size_t		i;

	for (i = 0; i < len; i++)
		n += ((unsigned char) s[i] & 0xC0) != 0x80;
	return n;
}

/* length of the UTF-8 sequence starting at s[i] (1 for invalid bytes) */
static size_t
utf8_seq_len(const char *s, size_t i, size_t len)
{
	unsigned char c = (unsigned char) s[i];
	size_t		n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;

	return n < len - i ? n : len - i;
}

/*
 * Decode the lead byte of a UTF-8 sequence: the number of continuation
 * bytes and the payload bits; false for a byte that cannot start one.
 */
static bool
utf8_lead(unsigned c, int *extra, uint32_t *bits)
{
	if (c < 0x80)
		*extra = 0, *bits = c;
	else if (c >= 0xC0 && c < 0xE0)
		*extra = 1, *bits = c & 0x1F;
	else if (c >= 0xE0 && c < 0xF0)
		*extra = 2, *bits = c & 0x0F;
	else if (c >= 0xF0 && c < 0xF8)
		*extra = 3, *bits = c & 0x07;
	else
		return false;
	return true;
}

/* true when s is valid UTF-8 without NUL characters (storable in jsonb) */
static bool
valid_text(const unsigned char *s, size_t len)
{
	static const uint32_t min_cp[4] = {0x01, 0x80, 0x800, 0x10000};
	size_t		i = 0;

	while (i < len)
	{
		int			extra;
		uint32_t	cp;
		int			k;

		if (!utf8_lead(s[i], &extra, &cp))
			return false;
		for (k = 1; k <= extra; k++)
		{
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if (cp < min_cp[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += extra + 1;
	}
	return true;
}

/* the bits of a double, with -0 made 0 (for hashing and seeding) */
static uint64_t
double_bits(double d)
{
	uint64_t	bits;

	if (d == 0)
		d = 0;
	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

/* ------------------------------------------------------------------
 * Argument checks (shared by compile time and run time)
 * ------------------------------------------------------------------ */

/* type and value of argument i of fn */
static bool
check_arg(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	unsigned	allowed = arg_types(fn, i);
	ArgCheck	check = arg_check(fn, i);

	if ((type_bit(v) & allowed) == 0)
		return of_fail(err, OF_ERR_RUNTIME, "%s: argument %d must be %s, not %s",
					   fn->name, i + 1, type_phrase(allowed),
					   type_phrase(type_bit(v)));
	return check == NULL || check(fn, i, v, err);
}

/* a number that rounds to an int32 (AWS rounds non-integers) */
static bool
check_int32(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	double		r = round_half_up(of_json_number(v));

	if (r < INT32_MIN || r > INT32_MAX)
		return of_fail(err, OF_ERR_RUNTIME,
					   "%s: argument %d must be an integer between %d and %d, not %.15g",
					   fn->name, i + 1, INT32_MIN, INT32_MAX, of_json_number(v));
	return true;
}

/* ArrayPartition's chunk size: a positive integer after rounding */
static bool
check_chunk_size(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	double		r = round_half_up(of_json_number(v));

	if (r < 1 || r > INT32_MAX)
		return of_fail(err, OF_ERR_RUNTIME,
					   "%s: the chunk size must be a positive integer, not %.15g",
					   fn->name, of_json_number(v));
	return true;
}

/* ArrayRange's step: an int32 that is not 0 after rounding */
static bool
check_step(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	if (!check_int32(fn, i, v, err))
		return false;
	if (int_arg(v) == 0)
		return of_fail(err, OF_ERR_RUNTIME, "%s: the step must not be 0",
					   fn->name);
	return true;
}

/* ArrayGetItem's index: a non-negative integer (not rounded) */
static bool
check_index(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	double		d = of_json_number(v);

	if (d != floor(d) || d < 0 || d > INT32_MAX)
		return of_fail(err, OF_ERR_RUNTIME,
					   "%s: the index must be a non-negative integer, not %.15g",
					   fn->name, d);
	return true;
}

/* at most MAX_TEXT_CHARS characters (Base64Encode/Decode, Hash data) */
static bool
check_text_limit(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	size_t		n = count_chars(json_object_get_string(v),
								json_object_get_string_len(v));

	if (n > MAX_TEXT_CHARS)
		return of_fail(err, OF_ERR_RUNTIME,
					   "%s: argument %d has %zu characters, more than the limit of %d",
					   fn->name, i + 1, n, MAX_TEXT_CHARS);
	return true;
}

/* States.Hash algorithms, as AWS spells them */
static const char *const hash_algorithms[] = {
	"MD5", "SHA-1", "SHA-256", "SHA-384", "SHA-512"
};

/* States.Hash's algorithm: one of hash_algorithms */
static bool
check_algorithm(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	const char *name = json_object_get_string(v);
	size_t		len = json_object_get_string_len(v);
	size_t		k;

	for (k = 0; k < sizeof(hash_algorithms) / sizeof(hash_algorithms[0]); k++)
	{
		if (strlen(hash_algorithms[k]) == len && strcmp(name, hash_algorithms[k]) == 0)
			return true;
	}
	return of_fail(err, OF_ERR_RUNTIME,
				   "%s: unknown algorithm \"%.64s\" (expected MD5, SHA-1, SHA-256, SHA-384 or SHA-512)",
				   fn->name, name);
}

/* States.JsonMerge's third argument: false (AWS only merges shallowly) */
static bool
check_shallow(const Intrinsic *fn, int i, json_object *v, OfError *err)
{
	if (json_object_get_boolean(v))
		return of_fail(err, OF_ERR_RUNTIME,
					   "%s: deep merging is not supported, the third argument must be false",
					   fn->name);
	return true;
}

/* ------------------------------------------------------------------
 * States.Format, StringToJson, JsonToString
 * ------------------------------------------------------------------ */

/*
 * Where States.Format writes: the text so far, checked against the byte
 * budget before every append (so a result over it is never built).
 */
typedef struct FormatOut
{
	struct printbuf *buf;
	const OfEvalEnv *env;
	OfError    *err;
} FormatOut;

/* append n bytes, within the budget */
static bool
format_append(FormatOut *out, const char *bytes, size_t n)
{
	if (!of_within_budget(out->env, (size_t) out->buf->bpos + n, "States.Format", out->err))
		return false;
	if (n > INT32_MAX || printbuf_memappend(out->buf, bytes, (int) n) < 0)
		return of_fail(out->err, OF_ERR_RUNTIME, "States.Format: out of memory");
	return true;
}

/* append a Format value: strings raw, anything else as compact JSON */
static bool
append_value(FormatOut *out, json_object *v)
{
	char	   *text;
	bool		ok;

	if (of_interrupted(out->env, out->err))
		return false;
	if (json_object_is_type(v, json_type_string))
		return format_append(out, json_object_get_string(v),
							 json_object_get_string_len(v));
	/* refuse a value too large to serialize before serializing it */
	if (out->env != NULL && out->env->max_bytes > 0 &&
		!of_within_budget(out->env,
						  (size_t) out->buf->bpos +
						  of_json_size(v, out->env->max_bytes), "States.Format", out->err))
		return false;
	text = of_json_to_string(v);
	if (text == NULL)
		return of_fail(out->err, OF_ERR_RUNTIME, "States.Format: out of memory");
	ok = format_append(out, text, strlen(text));
	free(text);
	return ok;
}

/*
 * Walk a Format template, copying it to out (when not NULL) with the i-th
 * "{}" replaced by values[i].  In a string literal (escapes true), \{ \}
 * \' and \\ stand for the character itself, so '\{\}' is no placeholder.
 * Returns the number of placeholders, or -1 after a failure (out->err).
 * Literal runs are copied whole, so the walk is linear.
 */
static int
format_walk(const char *t, size_t len, bool escapes,
			json_object **values, int nvalues, FormatOut *out)
{
	int			count = 0;
	size_t		i = 0;
	size_t		run = 0;		/* start of the literal run being copied */

	while (i < len)
	{
		if (t[i] == '{' && i + 1 < len && t[i + 1] == '}')
		{
			if (out != NULL &&
				(!format_append(out, t + run, i - run) ||
				 (count < nvalues && !append_value(out, values[count]))))
				return -1;
			count++;
			i += 2;
			run = i;
			continue;
		}
		if (escapes && t[i] == '\\' && i + 1 < len)
		{
			/* drop the backslash: copy up to it, the next byte starts a run */
			if (out != NULL && !format_append(out, t + run, i - run))
				return -1;
			i++;
			run = i;
		}
		i++;
	}
	if (out != NULL && !format_append(out, t + run, len - run))
		return -1;
	return count;
}

/*
 * The template of a Format call: a literal keeps its escapes (so that
 * \{\} is not a placeholder); a computed string is taken as it is.
 */
static void
format_template(const OfExpr *call, json_object *value,
				const char **text, size_t *len, bool *escapes)
{
	const OfExpr *tmpl = call->args[0];

	*escapes = tmpl->kind == EXPR_STRING;
	*text = *escapes ? tmpl->raw : json_object_get_string(value);
	*len = *escapes ? tmpl->raw_len : (size_t) json_object_get_string_len(value);
}

/* the template must have one placeholder per value */
static bool
format_count_ok(const OfExpr *call, const char *text, size_t len, bool escapes,
				OfError *err)
{
	int			count = format_walk(text, len, escapes, NULL, 0, NULL);

	if (count != call->nargs - 1)
		return of_fail(err, OF_ERR_RUNTIME,
					   "States.Format: the template has %d placeholder(s) but %d value(s) were given",
					   count, call->nargs - 1);
	return true;
}

/* compile time: a literal template must match the number of values */
static bool
check_format(const OfExpr *call, OfError *err)
{
	const OfExpr *tmpl = call->args[0];

	if (tmpl->kind != EXPR_STRING)
		return true;
	return format_count_ok(call, tmpl->raw, tmpl->raw_len, true, err);
}

/* States.Format(template, values...) */
static bool
impl_format(const OfExpr *call, json_object **args, const OfEvalEnv *env,
			json_object **result, OfError *err)
{
	const char *text;
	size_t		len;
	bool		escapes;
	FormatOut	out = {NULL, env, err};

	format_template(call, args[0], &text, &len, &escapes);
	if (!format_count_ok(call, text, len, escapes, err))
		return false;
	out.buf = printbuf_new();
	if (out.buf == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.Format: out of memory");
	if (format_walk(text, len, escapes, args + 1, call->nargs - 1, &out) < 0)
	{
		printbuf_free(out.buf);
		return false;
	}
	*result = json_object_new_string_len(out.buf->buf, out.buf->bpos);
	printbuf_free(out.buf);
	return true;
}

/* States.StringToJson(string) */
static bool
impl_string_to_json(const OfExpr *call, json_object **args,
					const OfEvalEnv *env, json_object **result, OfError *err)
{
	OfError		perr;

	if (!of_json_parse(json_object_get_string(args[0]),
					   json_object_get_string_len(args[0]),
					   JSON_MAX_DEPTH, result, &perr))
		return of_fail(err, OF_ERR_RUNTIME, "States.StringToJson: %s", perr.cause);
	return true;
}

/* States.JsonToString(value): compact JSON text */
static bool
impl_json_to_string(const OfExpr *call, json_object **args,
					const OfEvalEnv *env, json_object **result, OfError *err)
{
	size_t		used = 2;		/* the quotes of the result */
	char	   *text;
	bool		ok;

	/* refuse a value too large before serializing it (escapes: checked after) */
	if (!of_budget_add_value(env, &used, args[0], "States.JsonToString", err))
		return false;
	text = of_json_to_string(args[0]);
	if (text == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.JsonToString: out of memory");
	ok = of_within_budget(env, strlen(text) + 2, "States.JsonToString", err);
	if (ok)
		*result = json_object_new_string(text);
	free(text);
	return ok;
}

/* ------------------------------------------------------------------
 * Arrays
 * ------------------------------------------------------------------ */

/* States.Array(values...) */
static bool
impl_array(const OfExpr *call, json_object **args, const OfEvalEnv *env,
		   json_object **result, OfError *err)
{
	size_t		used = 2;
	int			i;

	for (i = 0; i < call->nargs; i++)
	{
		used++;
		if (of_interrupted(env, err) ||
			!of_budget_add_value(env, &used, args[i], "States.Array", err))
			return false;
	}
	*result = json_object_new_array_ext(call->nargs);
	for (i = 0; i < call->nargs; i++)
		json_object_array_add(*result, json_object_get(args[i]));
	return true;
}

/* States.ArrayPartition(array, chunkSize) */
static bool
impl_array_partition(const OfExpr *call, json_object **args,
					 const OfEvalEnv *env, json_object **result, OfError *err)
{
	size_t		n = json_object_array_length(args[0]);
	size_t		size = (size_t) int_arg(args[1]);
	json_object *chunk = NULL;
	size_t		used = 2;
	size_t		i;

	*result = json_object_new_array();
	for (i = 0; i < n; i++)
	{
		json_object *item = json_object_array_get_idx(args[0], i);

		if (i % size == 0)
		{
			chunk = json_object_new_array();
			json_object_array_add(*result, chunk);
			used += 3;			/* [ ] and a comma */
		}
		used++;
		if (((i & 255) == 255 && of_interrupted(env, err)) ||
			!of_budget_add_value(env, &used, item, "States.ArrayPartition", err))
		{
			json_object_put(*result);
			*result = NULL;
			return false;
		}
		json_object_array_add(chunk, json_object_get(item));
	}
	return true;
}

/* States.ArrayContains(array, value): deep equality */
static bool
impl_array_contains(const OfExpr *call, json_object **args,
					const OfEvalEnv *env, json_object **result, OfError *err)
{
	size_t		n = json_object_array_length(args[0]);
	bool		found = false;
	size_t		i;

	for (i = 0; i < n && !found; i++)
	{
		if ((i & 255) == 255 && of_interrupted(env, err))
			return false;
		found = of_json_equal(json_object_array_get_idx(args[0], i), args[1]);
	}
	*result = json_object_new_boolean(found);
	return true;
}

/* States.ArrayRange(first, last, step): last included when reached */
static bool
impl_array_range(const OfExpr *call, json_object **args, const OfEvalEnv *env,
				 json_object **result, OfError *err)
{
	int64_t		first = int_arg(args[0]);
	int64_t		last = int_arg(args[1]);
	int64_t		step = int_arg(args[2]);
	int64_t		count = 0;
	int64_t		i;

	if (step > 0 ? last >= first : last <= first)
		count = (last - first) / step + 1;
	if (count > MAX_RANGE_ITEMS)
		return of_fail(err, OF_ERR_RUNTIME,
					   "States.ArrayRange: the range has %lld items, more than the limit of %d",
					   (long long) count, MAX_RANGE_ITEMS);
	*result = json_object_new_array_ext((int) count);
	for (i = 0; i < count; i++)
		json_object_array_add(*result, json_object_new_int64(first + i * step));
	/* at most MAX_RANGE_ITEMS numbers: checking the whole is cheap */
	if (!of_within_budget(env, of_json_size(*result, SIZE_MAX), "States.ArrayRange", err))
	{
		json_object_put(*result);
		*result = NULL;
		return false;
	}
	return true;
}

/* States.ArrayGetItem(array, index) */
static bool
impl_array_get_item(const OfExpr *call, json_object **args,
					const OfEvalEnv *env, json_object **result, OfError *err)
{
	size_t		n = json_object_array_length(args[0]);
	int64_t		index = int_arg(args[1]);

	if ((size_t) index >= n)
		return of_fail(err, OF_ERR_RUNTIME,
					   "States.ArrayGetItem: index %lld is out of range for an array of %zu item(s)",
					   (long long) index, n);
	*result = json_object_get(json_object_array_get_idx(args[0], (size_t) index));
	return true;
}

/* States.ArrayLength(array) */
static bool
impl_array_length(const OfExpr *call, json_object **args,
				  const OfEvalEnv *env, json_object **result, OfError *err)
{
	*result = json_object_new_int64((int64_t) json_object_array_length(args[0]));
	return true;
}

/* splitmix64's finalizer: spreads the bits of x */
static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

/* FNV-1a over bytes */
static uint64_t
fnv1a(const char *s, size_t len)
{
	uint64_t	h = UINT64_C(0xcbf29ce484222325);
	size_t		i;

	for (i = 0; i < len; i++)
		h = (h ^ (unsigned char) s[i]) * UINT64_C(0x100000001b3);
	return h;
}

static uint64_t jhash(json_object *v);

/* hash of a number by value, consistent with of_json_equal (1 == 1.0) */
static uint64_t
jhash_number(json_object *v)
{
	return mix64(double_bits(of_json_number(v)) ^ 4);
}

/* hash of an array: order matters */
static uint64_t
jhash_array(json_object *v)
{
	size_t		n = json_object_array_length(v);
	uint64_t	h = 5;
	size_t		i;

	for (i = 0; i < n; i++)
		h = mix64(h + jhash(json_object_array_get_idx(v, i)));
	return h;
}

/* hash of an object: key order does not matter */
static uint64_t
jhash_object(json_object *v)
{
	struct json_object_iter it;
	uint64_t	h = 6;

	json_object_object_foreachC(v, it)
		h += mix64(fnv1a(it.key, strlen(it.key)) ^ jhash(it.val));
	return mix64(h);
}

/* a hash of a JSON value such that equal values hash alike */
static uint64_t
jhash(json_object *v)
{
	switch (json_object_get_type(v))
	{
		case json_type_boolean:
			return mix64(json_object_get_boolean(v) ? 1 : 2);
		case json_type_int:
		case json_type_double:
			return jhash_number(v);
		case json_type_string:
			return mix64(fnv1a(json_object_get_string(v),
									json_object_get_string_len(v)) ^ 3);
		case json_type_array:
			return jhash_array(v);
		case json_type_object:
			return jhash_object(v);
		default:
			return 0;
	}
}

/*
 * States.ArrayUnique(array): the first of each set of deeply equal items,
 * in order.  A hash table keeps this linear on large arrays.
 */
static bool
impl_array_unique(const OfExpr *call, json_object **args,
				  const OfEvalEnv *env, json_object **result, OfError *err)
{
	json_object *arr = args[0];
	size_t		n = json_object_array_length(arr);
	size_t		mask = 15;
	size_t	   *slots;			/* 1 + index of a kept item, 0 = empty */
	size_t		i;

	while (mask < 2 * n)
		mask = mask * 2 + 1;
	slots = calloc(mask + 1, sizeof(size_t));
	if (slots == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.ArrayUnique: out of memory");
	*result = json_object_new_array();
	for (i = 0; i < n; i++)
	{
		json_object *item = json_object_array_get_idx(arr, i);
		size_t		h;

		if ((i & 255) == 255 && of_interrupted(env, err))
		{
			free(slots);
			json_object_put(*result);
			*result = NULL;
			return false;
		}
		h = (size_t) jhash(item) & mask;

		while (slots[h] != 0 &&
			   !of_json_equal(json_object_array_get_idx(arr, slots[h] - 1), item))
			h = (h + 1) & mask;
		if (slots[h] != 0)
			continue;
		slots[h] = i + 1;
		json_object_array_add(*result, json_object_get(item));
	}
	free(slots);
	return true;
}

/* ------------------------------------------------------------------
 * Base64, Hash, JsonMerge
 * ------------------------------------------------------------------ */

static const char base64_chars[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* States.Base64Encode(string): standard alphabet, with padding */
static bool
impl_base64_encode(const OfExpr *call, json_object **args,
				   const OfEvalEnv *env, json_object **result, OfError *err)
{
	const unsigned char *s = (const unsigned char *) json_object_get_string(args[0]);
	size_t		len = json_object_get_string_len(args[0]);
	char	   *out;
	size_t		i;
	size_t		o = 0;

	if (!of_within_budget(env, (len + 2) / 3 * 4 + 2, "States.Base64Encode", err))
		return false;
	out = malloc((len + 2) / 3 * 4 + 1);
	if (out == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.Base64Encode: out of memory");
	for (i = 0; i < len; i += 3)
	{
		uint32_t	group = (uint32_t) s[i] << 16;

		if (i + 1 < len)
			group |= (uint32_t) s[i + 1] << 8;
		if (i + 2 < len)
			group |= s[i + 2];
		out[o++] = base64_chars[(group >> 18) & 63];
		out[o++] = base64_chars[(group >> 12) & 63];
		out[o++] = i + 1 < len ? base64_chars[(group >> 6) & 63] : '=';
		out[o++] = i + 2 < len ? base64_chars[group & 63] : '=';
	}
	*result = json_object_new_string_len(out, (int) o);
	free(out);
	return true;
}

/* the value of a base64 digit, or -1 */
static int
base64_value(char c)
{
	const char *p = c != '\0' ? strchr(base64_chars, c) : NULL;

	return p != NULL ? (int) (p - base64_chars) : -1;
}

/*
 * Decode standard base64 into out (room for len / 4 * 3 + 3 bytes).
 * Padding is optional, but when present it must complete the last group.
 */
static bool
base64_decode(const char *s, size_t len, unsigned char *out, size_t *out_len)
{
	size_t		pad = 0;
	size_t		i;
	uint32_t	acc = 0;
	int			bits = 0;

	while (pad < 2 && pad < len && s[len - 1 - pad] == '=')
		pad++;
	if ((pad > 0 && len % 4 != 0) || (len - pad) % 4 == 1)
		return false;
	*out_len = 0;
	for (i = 0; i < len - pad; i++)
	{
		int			v = base64_value(s[i]);

		if (v < 0)
			return false;
		acc = (acc << 6) | (uint32_t) v;
		bits += 6;
		if (bits >= 8)
		{
			bits -= 8;
			out[(*out_len)++] = (unsigned char) (acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	return true;
}

/* States.Base64Decode(string): the decoded bytes must be UTF-8 text */
static bool
impl_base64_decode(const OfExpr *call, json_object **args,
				   const OfEvalEnv *env, json_object **result, OfError *err)
{
	const char *s = json_object_get_string(args[0]);
	size_t		len = json_object_get_string_len(args[0]);
	unsigned char *out = malloc(len / 4 * 3 + 3);
	size_t		out_len;
	bool		ok;

	if (out == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.Base64Decode: out of memory");
	if (!base64_decode(s, len, out, &out_len))
		ok = of_fail(err, OF_ERR_RUNTIME, "States.Base64Decode: the argument is not valid base64");
	else if (!valid_text(out, out_len))
		ok = of_fail(err, OF_ERR_RUNTIME,
					 "States.Base64Decode: the decoded data is not UTF-8 text without NUL characters");
	else
	{
		*result = json_object_new_string_len((const char *) out, (int) out_len);
		ok = true;
	}
	free(out);
	return ok;
}

/* States.Hash(data, algorithm): lower-case hex digest via env->hash */
static bool
impl_hash(const OfExpr *call, json_object **args, const OfEvalEnv *env,
		  json_object **result, OfError *err)
{
	const char *algorithm = json_object_get_string(args[1]);
	char		hex[HEX_DIGEST_SIZE];

	if (env == NULL || env->hash == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.Hash: hashing is not available");
	if (!env->hash(algorithm, json_object_get_string(args[0]),
				   json_object_get_string_len(args[0]), hex, sizeof(hex)))
		return of_fail(err, OF_ERR_RUNTIME, "States.Hash: computing the %s hash failed",
					   algorithm);
	hex[sizeof(hex) - 1] = '\0';
	*result = json_object_new_string(hex);
	return true;
}

/* States.JsonMerge(a, b, false): b's top-level keys win */
static bool
impl_json_merge(const OfExpr *call, json_object **args, const OfEvalEnv *env,
				json_object **result, OfError *err)
{
	struct json_object_iter it;
	size_t		used = 2;
	size_t		k = 0;
	int			i;

	*result = json_object_new_object();
	for (i = 0; i < 2; i++)
	{
		json_object_object_foreachC(args[i], it)
		{
			/* a key of both counts twice: an overestimate, never an under */
			used += strlen(it.key) + 4;
			if (((++k & 255) == 0 && of_interrupted(env, err)) ||
				!of_budget_add_value(env, &used, it.val, "States.JsonMerge", err))
			{
				json_object_put(*result);
				*result = NULL;
				return false;
			}
			json_object_object_add(*result, it.key, json_object_get(it.val));
		}
	}
	return true;
}

/* ------------------------------------------------------------------
 * Math, StringSplit, UUID
 * ------------------------------------------------------------------ */

/* a number in [0, 1) determined by a seed value (splitmix64) */
static double
seeded_random(json_object *seed)
{
	uint64_t	x = mix64(double_bits(of_json_number(seed)) + UINT64_C(0x9e3779b97f4a7c15));

	return (double) (x >> 11) * 0x1.0p-53;
}

/* States.MathRandom(start, end[, seed]): an integer in [start, end) */
static bool
impl_math_random(const OfExpr *call, json_object **args,
				 const OfEvalEnv *env, json_object **result, OfError *err)
{
	int64_t		start = int_arg(args[0]);
	int64_t		end = int_arg(args[1]);
	double		r;
	int64_t		value;

	if (end <= start)
		return of_fail(err, OF_ERR_RUNTIME,
					   "States.MathRandom: the end (%lld) must be greater than the start (%lld)",
					   (long long) end, (long long) start);
	if (call->nargs == 3)
		r = seeded_random(args[2]);
	else if (env != NULL && env->random_double != NULL)
		r = env->random_double();
	else
		return of_fail(err, OF_ERR_RUNTIME,
					   "States.MathRandom: random numbers are not available");
	value = start + (int64_t) floor(r * (double) (end - start));
	*result = json_object_new_int64(value < end ? value : end - 1);
	return true;
}

/* States.MathAdd(a, b): integers (non-integers are rounded, as AWS does) */
static bool
impl_math_add(const OfExpr *call, json_object **args, const OfEvalEnv *env,
			  json_object **result, OfError *err)
{
	*result = json_object_new_int64(int_arg(args[0]) + int_arg(args[1]));
	return true;
}

/*
 * The characters of a StringSplit delimiter string, for lookups that do not
 * depend on its length: single bytes in a table, longer UTF-8 sequences
 * as sorted keys (bytes and length packed in 64 bits).
 */
typedef struct DelimSet
{
	bool		byte[256];
	uint64_t   *seqs;
	size_t		n_seqs;
} DelimSet;

/* the key of the n-byte sequence s (n <= 4) */
static uint64_t
seq_key(const char *s, size_t n)
{
	uint64_t	key = n;
	size_t		i;

	for (i = 0; i < n; i++)
		key = (key << 8) | (unsigned char) s[i];
	return key;
}

static int
compare_keys(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *) a;
	uint64_t	y = *(const uint64_t *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

/* fill set from delims; false when out of memory */
static bool
delim_set_init(DelimSet *set, const char *delims, size_t dlen)
{
	size_t		j = 0;

	memset(set, 0, sizeof(*set));
	set->seqs = malloc((dlen + 1) * sizeof(uint64_t));
	if (set->seqs == NULL)
		return false;
	while (j < dlen)
	{
		size_t		m = utf8_seq_len(delims, j, dlen);

		if (m == 1)
			set->byte[(unsigned char) delims[j]] = true;
		else
			set->seqs[set->n_seqs++] = seq_key(delims + j, m);
		j += m;
	}
	qsort(set->seqs, set->n_seqs, sizeof(uint64_t), compare_keys);
	return true;
}

/* true when the character s[0..n) is one of the set's */
static bool
is_delimiter(const DelimSet *set, const char *s, size_t n)
{
	uint64_t	key;

	if (n == 1)
		return set->byte[(unsigned char) s[0]];
	key = seq_key(s, n);
	return bsearch(&key, set->seqs, set->n_seqs, sizeof(uint64_t), compare_keys) != NULL;
}

/* add s[0..len) to arr unless it is empty, within the byte budget */
static bool
add_token(const OfEvalEnv *env, json_object *arr, size_t *used,
		  const char *s, size_t len, OfError *err)
{
	if (len == 0)
		return true;
	*used += len + 3;			/* the quotes and a comma */
	if (!of_within_budget(env, *used, "States.StringSplit", err))
		return false;
	json_object_array_add(arr, json_object_new_string_len(s, (int) len));
	return true;
}

/*
 * States.StringSplit(string, delimiters): split at every character of
 * delimiters and drop empty pieces, as AWS does ("a,,b" gives ["a","b"]).
 * Linear in the string (the delimiters are looked up, not scanned).
 */
static bool
impl_string_split(const OfExpr *call, json_object **args,
				  const OfEvalEnv *env, json_object **result, OfError *err)
{
	const char *s = json_object_get_string(args[0]);
	size_t		len = json_object_get_string_len(args[0]);
	const char *delims = json_object_get_string(args[1]);
	size_t		dlen = json_object_get_string_len(args[1]);
	DelimSet	set;
	size_t		used = 2;
	size_t		start = 0;
	size_t		i = 0;
	size_t		polled = 0;
	bool		ok = true;

	if (!delim_set_init(&set, delims, dlen))
		return of_fail(err, OF_ERR_RUNTIME, "States.StringSplit: out of memory");
	*result = json_object_new_array();
	while (ok && i < len)
	{
		size_t		n = utf8_seq_len(s, i, len);

		if (i - polled >= 4096)
		{
			polled = i;
			ok = !of_interrupted(env, err);
		}
		if (ok && is_delimiter(&set, s + i, n))
		{
			ok = add_token(env, *result, &used, s + start, i - start, err);
			start = i + n;
		}
		i += n;
	}
	if (ok)
		ok = add_token(env, *result, &used, s + start, len - start, err);
	free(set.seqs);
	if (!ok)
	{
		json_object_put(*result);
		*result = NULL;
	}
	return ok;
}

/* States.UUID(): a version 4 UUID from env->random_uuid */
static bool
impl_uuid(const OfExpr *call, json_object **args, const OfEvalEnv *env,
		  json_object **result, OfError *err)
{
	char		uuid[37];

	if (env == NULL || env->random_uuid == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "States.UUID: UUIDs are not available");
	env->random_uuid(uuid);
	uuid[36] = '\0';
	*result = json_object_new_string(uuid);
	return true;
}

/* ------------------------------------------------------------------
 * The table
 * ------------------------------------------------------------------ */

static const Intrinsic intrinsics[] = {
	{"States.Format", 1, -1, {T_STRING, T_ANY, T_ANY}, {NULL},
	T_STRING, true, impl_format, check_format},
	{"States.StringToJson", 1, 1, {T_STRING}, {NULL},
	T_ANY, true, impl_string_to_json, NULL},
	{"States.JsonToString", 1, 1, {T_ANY}, {NULL},
	T_STRING, true, impl_json_to_string, NULL},
	{"States.Array", 0, -1, {T_ANY, T_ANY, T_ANY}, {NULL},
	T_ARRAY, true, impl_array, NULL},
	{"States.ArrayPartition", 2, 2, {T_ARRAY, T_NUMBER}, {NULL, check_chunk_size},
	T_ARRAY, true, impl_array_partition, NULL},
	{"States.ArrayContains", 2, 2, {T_ARRAY, T_ANY}, {NULL},
	T_BOOL, true, impl_array_contains, NULL},
	{"States.ArrayRange", 3, 3, {T_NUMBER, T_NUMBER, T_NUMBER},
	{check_int32, check_int32, check_step},
	T_ARRAY, true, impl_array_range, NULL},
	{"States.ArrayGetItem", 2, 2, {T_ARRAY, T_NUMBER}, {NULL, check_index},
	T_ANY, true, impl_array_get_item, NULL},
	{"States.ArrayLength", 1, 1, {T_ARRAY}, {NULL},
	T_NUMBER, true, impl_array_length, NULL},
	{"States.ArrayUnique", 1, 1, {T_ARRAY}, {NULL},
	T_ARRAY, true, impl_array_unique, NULL},
	{"States.Base64Encode", 1, 1, {T_STRING}, {check_text_limit},
	T_STRING, true, impl_base64_encode, NULL},
	{"States.Base64Decode", 1, 1, {T_STRING}, {check_text_limit},
	T_STRING, true, impl_base64_decode, NULL},
	{"States.Hash", 2, 2, {T_STRING, T_STRING}, {check_text_limit, check_algorithm},
	T_STRING, false, impl_hash, NULL},
	{"States.JsonMerge", 3, 3, {T_OBJECT, T_OBJECT, T_BOOL},
	{NULL, NULL, check_shallow},
	T_OBJECT, true, impl_json_merge, NULL},
	{"States.MathRandom", 2, 3, {T_NUMBER, T_NUMBER, T_NUMBER},
	{check_int32, check_int32, NULL},
	T_NUMBER, false, impl_math_random, NULL},
	{"States.MathAdd", 2, 2, {T_NUMBER, T_NUMBER}, {check_int32, check_int32},
	T_NUMBER, true, impl_math_add, NULL},
	{"States.StringSplit", 2, 2, {T_STRING, T_STRING}, {NULL},
	T_ARRAY, true, impl_string_split, NULL},
	{"States.UUID", 0, 0, {0}, {NULL},
	T_STRING, false, impl_uuid, NULL},
};

/* the table row of a function name, or NULL */
static const Intrinsic *
find_intrinsic(const char *name, size_t len)
{
	size_t		i;

	for (i = 0; i < sizeof(intrinsics) / sizeof(intrinsics[0]); i++)
	{
		if (strlen(intrinsics[i].name) == len &&
			memcmp(intrinsics[i].name, name, len) == 0)
			return &intrinsics[i];
	}
	return NULL;
}

/* ------------------------------------------------------------------
 * Evaluation
 * ------------------------------------------------------------------ */

/* the JSON value of a literal node (a new reference) */
static json_object *
literal_value(const OfExpr *e)
{
	switch (e->kind)
	{
		case EXPR_STRING:
			return json_object_new_string_len(e->str, (int) e->str_len);
		case EXPR_NUMBER:
			return e->is_int ? json_object_new_int64(e->ival)
				: of_json_new_number(e->dval);
		case EXPR_BOOL:
			return json_object_new_boolean(e->bval);
		default:
			return NULL;
	}
}

/* evaluate a path; one that matches nothing is an error */
static bool
eval_path(const OfPath *path, const OfEvalEnv *env, const char *where,
		  json_object **result, OfError *err)
{
	bool		found = false;

	*result = NULL;
	if (!of_path_eval(path, env, result, &found, err))
		return false;
	if (!found)
	{
		json_object_put(*result);
		*result = NULL;
		return of_fail(err, OF_ERR_RUNTIME, "%sthe JSONPath \"%s\" matched nothing",
					   where, of_path_text(path));
	}
	return true;
}

/* evaluate argument i of a call */
static bool
eval_arg(const OfExpr *call, int i, const OfEvalEnv *env,
		 json_object **result, OfError *err)
{
	char		where[96];
	const OfExpr *arg = call->args[i];

	if (arg->kind != EXPR_PATH)
		return eval_node(arg, env, result, err);
	snprintf(where, sizeof(where), "%s: argument %d: ", call->func->name, i + 1);
	return eval_path(arg->path, env, where, result, err);
}

/* evaluate and check the arguments, then run the implementation */
static bool
eval_call(const OfExpr *call, const OfEvalEnv *env, json_object **result,
		  OfError *err)
{
	json_object *local[MAX_FIXED_ARGS];
	json_object **args = local;
	bool		ok = true;
	int			n = 0;
	int			i;

	*result = NULL;
	if (of_interrupted(env, err))
		return false;
	if (call->nargs > MAX_FIXED_ARGS)
	{
		args = calloc(call->nargs, sizeof(json_object *));
		if (args == NULL)
			return of_fail(err, OF_ERR_RUNTIME, "%s: out of memory", call->func->name);
	}
	for (i = 0; ok && i < call->nargs; i++, n++)
		ok = eval_arg(call, i, env, &args[i], err) &&
			check_arg(call->func, i, args[i], err);
	if (ok)
		ok = call->func->impl(call, args, env, result, err);
	for (i = 0; i < n; i++)
		json_object_put(args[i]);
	if (args != local)
		free(args);
	return ok;
}

/* evaluate any node; *result is NULL after a failure */
static bool
eval_node(const OfExpr *e, const OfEvalEnv *env, json_object **result,
		  OfError *err)
{
	*result = NULL;
	switch (e->kind)
	{
		case EXPR_PATH:
			return eval_path(e->path, env, "", result, err);
		case EXPR_CALL:
			return eval_call(e, env, result, err);
		default:
			*result = literal_value(e);
			return true;
	}
}

/* evaluate an expression; the result is a new reference */
bool
of_expr_eval(const OfExpr *expr, const OfEvalEnv *env, json_object **result,
			 OfError *err)
{
	return eval_node(expr, env, result, err);
}

/* true when the expression is an intrinsic call, not a plain path */
bool
of_expr_is_intrinsic(const OfExpr *expr)
{
	return expr->kind == EXPR_CALL;
}

/* true when the expression (or a path inside it) reads $$ */
bool
of_expr_uses_context(const OfExpr *expr)
{
	return expr->uses_context;
}

/* ------------------------------------------------------------------
 * Parsing
 * ------------------------------------------------------------------ */

/* fail compilation with a message that ends with the offset of `at` */
static OfExpr *
parse_error(Parser *ps, const char *at, const char *fmt,...)
{
	char		msg[sizeof(ps->err->cause)];
	va_list		ap;

	if (ps->err == NULL)
		return NULL;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	of_fail(ps->err, OF_ERR_RUNTIME, "%s at offset %d", msg, (int) (at - ps->text));
	return NULL;
}

/* a new node of the given kind starting at `at` */
static OfExpr *
new_node(Parser *ps, ExprKind kind, const char *at)
{
	OfExpr	   *e = of_alloc(sizeof(OfExpr));

	e->kind = kind;
	e->offset = (int) (at - ps->text);
	e->constant = kind != EXPR_PATH && kind != EXPR_CALL;
	return e;
}

/* skip JSON whitespace */
static void
skip_space(Parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

/* characters of function names and keywords */
static bool
is_name_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		(c >= '0' && c <= '9') || c == '_' || c == '.';
}

/*
 * 'text' with the escapes \' \{ \} \\ (any other backslash is an error).
 * The node keeps the value and the escaped text (for Format templates).
 */
static OfExpr *
parse_string(Parser *ps)
{
	const char *open = ps->p;
	const char *raw = open + 1;
	const char *q = raw;
	char	   *value;
	size_t		n = 0;
	OfExpr	   *e;

	for (; *q != '\''; q++)
	{
		if (*q == '\0')
			return parse_error(ps, open, "unterminated string literal");
		if (*q != '\\')
			continue;
		if (q[1] == '\0' || strchr("'{}\\", q[1]) == NULL)
			return parse_error(ps, q, "invalid escape in string literal (only \\', \\{, \\} and \\\\ are allowed)");
		q++;
	}
	e = new_node(ps, EXPR_STRING, open);
	e->raw_len = (size_t) (q - raw);
	e->raw = memcpy(of_alloc(e->raw_len + 1), raw, e->raw_len);
	value = of_alloc(e->raw_len + 1);
	for (; raw < q; raw++)
	{
		if (*raw == '\\')
			raw++;
		value[n++] = *raw;
	}
	e->str = value;
	e->str_len = n;
	ps->p = q + 1;
	return e;
}

/* skip decimal digits; false when there are none */
static bool
skip_digits(const char **p)
{
	const char *start = *p;

	while (**p >= '0' && **p <= '9')
		(*p)++;
	return *p > start;
}

/* the end of a JSON number at p, or NULL; *is_int when no fraction/exponent */
static const char *
scan_number(const char *p, bool *is_int)
{
	*is_int = true;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (!skip_digits(&p))
		return NULL;
	if (*p == '.')
	{
		*is_int = false;
		p++;
		if (!skip_digits(&p))
			return NULL;
	}
	if (*p == 'e' || *p == 'E')
	{
		*is_int = false;
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!skip_digits(&p))
			return NULL;
	}
	return is_name_char(*p) ? NULL : p;
}

/* a JSON number: integers stay exact int64 when they fit */
static OfExpr *
parse_number(Parser *ps)
{
	const char *start = ps->p;
	bool		is_int;
	const char *end = scan_number(start, &is_int);
	OfExpr	   *e;

	if (end == NULL)
		return parse_error(ps, start, "invalid number");
	e = new_node(ps, EXPR_NUMBER, start);
	e->dval = strtod(start, NULL);
	if (!isfinite(e->dval))
		return parse_error(ps, start, "number out of range");
	if (is_int)
	{
		errno = 0;
		e->ival = strtoll(start, NULL, 10);
		e->is_int = errno == 0;
	}
	ps->p = end;
	return e;
}

/* where a path argument ends: at "," or ")" outside brackets and quotes */
static const char *
path_end(const char *p)
{
	int			depth = 0;
	char		quote = '\0';

	for (; *p != '\0'; p++)
	{
		if (quote != '\0')
		{
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == quote)
				quote = '\0';
		}
		else if (depth > 0 && (*p == '\'' || *p == '"'))
			quote = *p;
		else if (*p == '[' || *p == '(')
			depth++;
		else if (depth > 0 && (*p == ']' || *p == ')'))
			depth--;
		else if (*p == ',' || *p == ')')
			break;
	}
	return p;
}

/* a JSONPath argument ($..., $$..., $name), compiled by asl_path.c */
static OfExpr *
parse_path(Parser *ps)
{
	const char *start = ps->p;
	const char *end = path_end(start);
	size_t		len;
	char	   *text;
	OfError		perr;
	OfExpr	   *e;

	ps->p = end;
	while (end > start && strchr(" \t\r\n", end[-1]) != NULL)
		end--;
	len = (size_t) (end - start);
	text = memcpy(of_alloc(len + 1), start, len);
	e = new_node(ps, EXPR_PATH, start);
	e->path = of_path_compile(text, false, &perr);
	if (e->path == NULL)
		return parse_error(ps, start, "invalid JSONPath \"%s\": %s", text, perr.cause);
	e->uses_context = of_path_root(e->path) == OF_ROOT_CONTEXT;
	return e;
}

/* true, false or null (a name not followed by "(") */
static OfExpr *
parse_keyword(Parser *ps, const char *name, size_t len)
{
	OfExpr	   *e;

	if (len == 4 && memcmp(name, "null", 4) == 0)
		e = new_node(ps, EXPR_NULL, name);
	else if ((len == 4 && memcmp(name, "true", 4) == 0) ||
			 (len == 5 && memcmp(name, "false", 5) == 0))
	{
		e = new_node(ps, EXPR_BOOL, name);
		e->bval = len == 4;
	}
	else
		return parse_error(ps, name, "unexpected \"%.*s\" (expected an argument)",
						   (int) len, name);
	ps->p = name + len;
	return e;
}

/* add an argument to a call, growing the array as needed */
static void
append_arg(OfExpr *call, OfExpr *arg, int *capacity)
{
	if (call->nargs == *capacity)
	{
		OfExpr	  **grown;

		*capacity = *capacity == 0 ? 4 : *capacity * 2;
		grown = of_alloc(sizeof(OfExpr *) * (size_t) *capacity);
		if (call->nargs > 0)
			memcpy(grown, call->args, sizeof(OfExpr *) * (size_t) call->nargs);
		call->args = grown;
	}
	call->args[call->nargs++] = arg;
}

/* the argument list after "(", up to and including ")" */
static bool
parse_args(Parser *ps, OfExpr *call)
{
	int			capacity = 0;

	skip_space(ps);
	if (*ps->p == ')')
	{
		ps->p++;
		return true;
	}
	for (;;)
	{
		OfExpr	   *arg;

		skip_space(ps);
		arg = parse_value(ps);
		if (arg == NULL)
			return false;
		append_arg(call, arg, &capacity);
		skip_space(ps);
		if (*ps->p == ')')
		{
			ps->p++;
			return true;
		}
		if (*ps->p == '\0')
		{
			parse_error(ps, ps->p, "missing \")\" to close %s", call->func->name);
			return false;
		}
		if (*ps->p != ',')
		{
			parse_error(ps, ps->p, "expected \",\" or \")\" in the arguments of %s",
						call->func->name);
			return false;
		}
		ps->p++;
	}
}

/* the number of arguments a function takes, for messages */
static const char *
arity_phrase(const Intrinsic *fn, char *buf, size_t size)
{
	if (fn->max_args == fn->min_args)
		snprintf(buf, size, "exactly %d", fn->min_args);
	else if (fn->max_args < 0)
		snprintf(buf, size, "at least %d", fn->min_args);
	else
		snprintf(buf, size, "%d to %d", fn->min_args, fn->max_args);
	return buf;
}

/* check the type (and value) of argument i where it is known statically */
static bool
check_static_arg(Parser *ps, const OfExpr *call, int i)
{
	const OfExpr *arg = call->args[i];
	const Intrinsic *fn = call->func;
	json_object *value;
	OfError		aerr;
	bool		ok;

	if (arg->kind == EXPR_PATH)
		return true;
	if (arg->kind == EXPR_CALL)
	{
		if ((arg->func->returns & arg_types(fn, i)) != 0)
			return true;
		parse_error(ps, ps->text + arg->offset,
					"%s: argument %d must be %s, but %s returns %s",
					fn->name, i + 1, type_phrase(arg_types(fn, i)),
					arg->func->name, type_phrase(arg->func->returns));
		return false;
	}
	value = literal_value(arg);
	ok = check_arg(fn, i, value, &aerr);
	json_object_put(value);
	if (!ok)
		parse_error(ps, ps->text + arg->offset, "%s", aerr.cause);
	return ok;
}

/*
 * Check a parsed call: the argument count, the arguments whose types are
 * known, the function's own check, and, when no argument needs data, the
 * whole call (by running it once).
 */
static bool
check_call(Parser *ps, OfExpr *call, const char *at)
{
	const Intrinsic *fn = call->func;
	char		arity[32];
	OfEvalEnv	no_env;
	OfError		cerr;
	json_object *value;
	int			i;

	if (call->nargs < fn->min_args || (fn->max_args >= 0 && call->nargs > fn->max_args))
	{
		parse_error(ps, at, "%s takes %s argument(s), not %d", fn->name,
					arity_phrase(fn, arity, sizeof(arity)), call->nargs);
		return false;
	}
	call->constant = fn->pure;
	for (i = 0; i < call->nargs; i++)
	{
		if (!check_static_arg(ps, call, i))
			return false;
		call->constant = call->constant && call->args[i]->constant;
		call->uses_context = call->uses_context || call->args[i]->uses_context;
	}
	memset(&no_env, 0, sizeof(no_env));
	if ((fn->check != NULL && !fn->check(call, &cerr)) ||
		(call->constant && !eval_call(call, &no_env, &value, &cerr)))
	{
		parse_error(ps, at, "%s", cerr.cause);
		return false;
	}
	if (call->constant)
		json_object_put(value);
	return true;
}

/* Name(args...) where Name is in the table */
static OfExpr *
parse_call(Parser *ps, const char *name, size_t len)
{
	const Intrinsic *fn = find_intrinsic(name, len);
	OfExpr	   *call;

	if (fn == NULL)
		return parse_error(ps, name, "unknown intrinsic function \"%.*s\"",
						   (int) len, name);
	if (ps->depth >= MAX_NESTING)
		return parse_error(ps, name, "intrinsic functions are nested more than %d deep",
						   MAX_NESTING);
	call = new_node(ps, EXPR_CALL, name);
	call->func = fn;
	ps->p = name + len + 1;		/* past "(" */
	ps->depth++;
	if (!parse_args(ps, call))
		return NULL;
	ps->depth--;
	return check_call(ps, call, name) ? call : NULL;
}

/* one argument: a literal, a path or a nested call */
static OfExpr *
parse_value(Parser *ps)
{
	const char *start = ps->p;
	const char *q = start;

	if (*start == '\'')
		return parse_string(ps);
	if (*start == '$')
		return parse_path(ps);
	if (*start == '-' || (*start >= '0' && *start <= '9'))
		return parse_number(ps);
	while (is_name_char(*q))
		q++;
	if (*start == '\0')
		return parse_error(ps, start, "unexpected end of text (expected an argument)");
	if (q == start)
		return parse_error(ps, start, "unexpected character '%c' (expected an argument)",
						   *start);
	if (*q == '(')
		return parse_call(ps, start, (size_t) (q - start));
	return parse_keyword(ps, start, (size_t) (q - start));
}

/*
 * Compile the value of a "key.$" field.  Text starting with "$" is a path
 * (any path, not only a reference path); anything else must be one
 * intrinsic call, optionally followed by whitespace.
 */
OfExpr *
of_expr_compile(const char *text, OfError *err)
{
	Parser		ps = {text, text, 0, err};
	const char *q = text;
	OfExpr	   *e;

	if (text == NULL)
		return parse_error(&ps, text, "no expression");
	if (text[0] == '$')
	{
		e = new_node(&ps, EXPR_PATH, text);
		e->path = of_path_compile(text, false, err);
		if (e->path == NULL)
			return NULL;
		e->uses_context = of_path_root(e->path) == OF_ROOT_CONTEXT;
		return e;
	}
	while (is_name_char(*q))
		q++;
	if (q == text || *q != '(')
		return parse_error(&ps, text, "expected a JSONPath or an intrinsic function call");
	e = parse_call(&ps, text, (size_t) (q - text));
	if (e == NULL)
		return NULL;
	skip_space(&ps);
	if (*ps.p != '\0')
		return parse_error(&ps, ps.p, "unexpected text after the intrinsic function call");
	return e;
}
