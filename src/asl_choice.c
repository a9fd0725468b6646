/*-------------------------------------------------------------------------
 *
 * asl_choice.c
 *	  Evaluation of Choice rules.
 *
 * The rules of the language: comparisons never coerce (a value of the
 * wrong JSON type just compares false); strings compare by code point,
 * which for UTF-8 is byte order; timestamps compare as instants; And and
 * Or short-circuit, so an IsPresent guard protects the comparisons after
 * it.  A Variable (or *Path operand) that selects nothing is a
 * States.Runtime failure, except under IsPresent.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <stdlib.h>
#include <string.h>

#include "asl.h"

/* ------------------------------------------------------------------
 * StringMatches
 * ------------------------------------------------------------------ */

/*
 * Decode the pattern token at p: a wildcard, or one literal byte (with
 * "\*" meaning '*' and "\\" meaning '\').  A backslash before any other
 * character stands for itself.  Returns the length of the token.
 */
static int
pattern_token(const char *p, bool *is_star, char *literal)
{
	*is_star = false;
	if (p[0] == '*')
	{
		*is_star = true;
		return 1;
	}
	if (p[0] == '\\' && (p[1] == '*' || p[1] == '\\'))
	{
		*literal = p[1];
		return 2;
	}
	*literal = p[0];
	return 1;
}

/*
 * The first occurrence of needle[0..m) in hay[0..n) (Knuth-Morris-Pratt,
 * linear; fail is scratch space for m entries), or NULL.
 */
static const char *
find_segment(const char *hay, size_t n, const char *needle, size_t m, size_t *fail)
{
	size_t		i;
	size_t		k = 0;

	if (m == 0)
		return hay;
	fail[0] = 0;
	for (i = 1; i < m; i++)
	{
		while (k > 0 && needle[i] != needle[k])
			k = fail[k - 1];
		if (needle[i] == needle[k])
			k++;
		fail[i] = k;
	}
	k = 0;
	for (i = 0; i < n; i++)
	{
		while (k > 0 && hay[i] != needle[k])
			k = fail[k - 1];
		if (hay[i] == needle[k])
			k++;
		if (k == m)
			return hay + i + 1 - m;
	}
	return NULL;
}

/*
 * Glob match where '*' matches any run of bytes, without backtracking:
 * the pattern is its literal segments between stars.  The first segment
 * must start the text and the last end it; the ones between are found
 * left to right, each at its first occurrence after the previous one
 * (taking the first occurrence never loses a match, because a star can
 * absorb whatever lies between).  Linear in text and pattern.
 */
bool
of_string_matches(const char *text, const char *pattern)
{
	size_t		tlen = strlen(text);
	size_t		plen = strlen(pattern);
	char	   *lit;			/* the decoded segments, one after another */
	size_t	   *bounds;			/* segment i is lit[bounds[i] .. bounds[i+1]) */
	size_t	   *fail;
	size_t		nseg = 0;
	size_t		nlit = 0;
	size_t		pos;
	size_t		end;
	size_t		i;
	bool		ok = false;
	const char *p = pattern;

	lit = malloc(plen + 1);
	bounds = malloc((plen + 2) * sizeof(size_t));
	fail = malloc((plen + 1) * sizeof(size_t));
	if (lit == NULL || bounds == NULL || fail == NULL)
		goto done;
	bounds[0] = 0;
	while (*p != '\0')
	{
		bool		is_star;
		char		c = '\0';

		p += pattern_token(p, &is_star, &c);
		if (is_star)
			bounds[++nseg] = nlit;
		else
			lit[nlit++] = c;
	}
	bounds[++nseg] = nlit;
	/* nseg segments; nseg - 1 stars between them */
	if (nseg == 1)
	{
		ok = tlen == nlit && memcmp(text, lit, nlit) == 0;
		goto done;
	}
	/* anchored first and last segments, not overlapping */
	pos = bounds[1] - bounds[0];
	end = tlen;
	if (pos + (bounds[nseg] - bounds[nseg - 1]) > tlen ||
		memcmp(text, lit, pos) != 0)
		goto done;
	end = tlen - (bounds[nseg] - bounds[nseg - 1]);
	if (memcmp(text + end, lit + bounds[nseg - 1], tlen - end) != 0)
		goto done;
	for (i = 1; i + 1 < nseg; i++)
	{
		size_t		m = bounds[i + 1] - bounds[i];
		const char *found = find_segment(text + pos, end - pos, lit + bounds[i], m, fail);

		if (found == NULL)
			goto done;
		pos = (size_t) (found - text) + m;
	}
	ok = true;
done:
	free(lit);
	free(bounds);
	free(fail);
	return ok;
}

/* ------------------------------------------------------------------
 * Comparisons
 * ------------------------------------------------------------------ */

/* three-way byte comparison of two JSON strings (NULs included) */
static int
compare_strings(json_object *a, json_object *b)
{
	size_t		la = (size_t) json_object_get_string_len(a);
	size_t		lb = (size_t) json_object_get_string_len(b);
	int			c = memcmp(json_object_get_string(a), json_object_get_string(b),
						   la < lb ? la : lb);

	if (c != 0)
		return c;
	return la < lb ? -1 : la > lb ? 1 : 0;
}

/*
 * Three-way numeric comparison.  Two integers compare exactly; anything
 * else as doubles.
 */
static int
compare_numbers(json_object *a, json_object *b)
{
	double		da;
	double		db;

	if (json_object_is_type(a, json_type_int) && json_object_is_type(b, json_type_int) &&
		json_object_get_int64(a) != INT64_MAX && json_object_get_int64(b) != INT64_MAX)
	{
		int64_t		ia = json_object_get_int64(a);
		int64_t		ib = json_object_get_int64(b);

		return ia < ib ? -1 : ia > ib ? 1 : 0;
	}
	da = json_object_get_double(a);
	db = json_object_get_double(b);
	return da < db ? -1 : da > db ? 1 : 0;
}

/* true when v is a string holding an RFC 3339 timestamp with a zone */
static bool
timestamp_value(json_object *v, int64_t *usec)
{
	return json_object_is_type(v, json_type_string) &&
		of_parse_timestamp(json_object_get_string(v), usec);
}

/* the ordering a comparison operator asks for */
typedef enum Ordering
{
	ORD_EQ,
	ORD_LT,
	ORD_GT,
	ORD_LE,
	ORD_GE
} Ordering;

/* turn a three-way comparison into the operator's answer */
static bool
ordering_holds(int cmp, Ordering ord)
{
	switch (ord)
	{
		case ORD_EQ:
			return cmp == 0;
		case ORD_LT:
			return cmp < 0;
		case ORD_GT:
			return cmp > 0;
		case ORD_LE:
			return cmp <= 0;
		case ORD_GE:
			return cmp >= 0;
	}
	return false;
}

/*
 * Which ordering an operator asks for.  asl.h lists every family in the
 * same order as Ordering (EQ, LT, GT, LE, GE), so the offset from the
 * family's first operator is the ordering.
 */
static Ordering
ordering_of(OfChoiceOp op)
{
	if (op >= OF_OP_STRING_EQ && op <= OF_OP_STRING_GE)
		return (Ordering) (op - OF_OP_STRING_EQ);
	if (op >= OF_OP_NUMERIC_EQ && op <= OF_OP_NUMERIC_GE)
		return (Ordering) (op - OF_OP_NUMERIC_EQ);
	return (Ordering) (op - OF_OP_TIMESTAMP_EQ);
}

/* a comparison operator applied to two present values */
static bool
compare_values(OfChoiceOp op, json_object *v, json_object *operand)
{
	int64_t		ta;
	int64_t		tb;

	if (op == OF_OP_STRING_MATCHES)
		return json_object_is_type(v, json_type_string) &&
			json_object_is_type(operand, json_type_string) &&
			of_string_matches(json_object_get_string(v),
							  json_object_get_string(operand));
	if (op == OF_OP_BOOLEAN_EQ)
		return json_object_is_type(v, json_type_boolean) &&
			json_object_is_type(operand, json_type_boolean) &&
			json_object_get_boolean(v) == json_object_get_boolean(operand);
	if (op >= OF_OP_STRING_EQ && op <= OF_OP_STRING_GE)
		return json_object_is_type(v, json_type_string) &&
			json_object_is_type(operand, json_type_string) &&
			ordering_holds(compare_strings(v, operand), ordering_of(op));
	if (op >= OF_OP_NUMERIC_EQ && op <= OF_OP_NUMERIC_GE)
		return of_json_is_number(v) && of_json_is_number(operand) &&
			ordering_holds(compare_numbers(v, operand), ordering_of(op));
	if (op >= OF_OP_TIMESTAMP_EQ && op <= OF_OP_TIMESTAMP_GE)
		return timestamp_value(v, &ta) && timestamp_value(operand, &tb) &&
			ordering_holds(ta < tb ? -1 : ta > tb ? 1 : 0, ordering_of(op));
	return false;
}

/* IsNull, IsNumeric, IsString, IsBoolean, IsTimestamp on a present value */
static bool
type_test(OfChoiceOp op, json_object *v)
{
	int64_t		usec;

	switch (op)
	{
		case OF_OP_IS_NULL:
			return v == NULL;
		case OF_OP_IS_NUMERIC:
			return of_json_is_number(v);
		case OF_OP_IS_STRING:
			return json_object_is_type(v, json_type_string);
		case OF_OP_IS_BOOLEAN:
			return json_object_is_type(v, json_type_boolean);
		case OF_OP_IS_TIMESTAMP:
			return timestamp_value(v, &usec);
		default:
			return false;
	}
}

/* true for the Is* operators */
static bool
is_type_test(OfChoiceOp op)
{
	return op >= OF_OP_IS_NULL && op <= OF_OP_IS_TIMESTAMP;
}

/* the boolean a type test expects ("IsNull": false asks for not-null) */
static bool
expected_boolean(const OfChoiceRule *rule)
{
	if (json_object_is_type(rule->operand, json_type_boolean))
		return json_object_get_boolean(rule->operand);
	return true;
}

/* ------------------------------------------------------------------
 * Rules
 * ------------------------------------------------------------------ */

/* the failure for a Variable or *Path operand that selects nothing */
static bool
invalid_path(const OfPath *path, OfError *err)
{
	return of_fail(err, OF_ERR_RUNTIME,
				   "Invalid path '%s': The choice state's condition path references an invalid value.",
				   path != NULL ? of_path_text(path) : "(none)");
}

/* evaluate a path that must select something */
static bool
eval_required(const OfPath *path, const OfEvalEnv *env, json_object **value,
			  OfError *err)
{
	bool		found;

	*value = NULL;
	if (path == NULL)
		return invalid_path(path, err);
	if (!of_path_eval(path, env, value, &found, err))
		return false;
	if (!found)
	{
		json_object_put(*value);
		*value = NULL;
		return invalid_path(path, err);
	}
	return true;
}

/* IsPresent: whether the Variable selects anything at all */
static bool
eval_is_present(const OfChoiceRule *rule, const OfEvalEnv *env,
				bool *matched, OfError *err)
{
	json_object *value = NULL;
	bool		found = false;

	if (rule->variable != NULL &&
		!of_path_eval(rule->variable, env, &value, &found, err))
		return false;
	json_object_put(value);
	*matched = found == expected_boolean(rule);
	return true;
}

/* a comparison or type test on the rule's Variable */
static bool
eval_leaf(const OfChoiceRule *rule, const OfEvalEnv *env, bool *matched,
		  OfError *err)
{
	json_object *value;
	json_object *operand = NULL;

	if (rule->op == OF_OP_IS_PRESENT)
		return eval_is_present(rule, env, matched, err);
	if (!eval_required(rule->variable, env, &value, err))
		return false;
	if (is_type_test(rule->op))
		*matched = type_test(rule->op, value) == expected_boolean(rule);
	else if (!rule->operand_is_path)
		*matched = compare_values(rule->op, value, rule->operand);
	else
	{
		if (!eval_required(rule->operand_path, env, &operand, err))
		{
			json_object_put(value);
			return false;
		}
		*matched = compare_values(rule->op, value, operand);
		json_object_put(operand);
	}
	json_object_put(value);
	return true;
}

/* And (all) or Or (any), stopping at the first child that decides */
static bool
eval_junction(const OfChoiceRule *rule, const OfEvalEnv *env, bool *matched,
			  OfError *err)
{
	bool		want_all = rule->op == OF_OP_AND;
	int			i;

	for (i = 0; i < rule->n_children; i++)
	{
		bool		m;

		if (!of_choice_eval(rule->children[i], env, &m, err))
			return false;
		if (m != want_all)
		{
			*matched = m;
			return true;
		}
	}
	*matched = want_all;
	return true;
}

/* Not: the negation of its single child */
static bool
eval_not(const OfChoiceRule *rule, const OfEvalEnv *env, bool *matched,
		 OfError *err)
{
	bool		m;

	if (rule->n_children < 1)
		return of_fail(err, OF_ERR_RUNTIME, "Not rule without a child rule");
	if (!of_choice_eval(rule->children[0], env, &m, err))
		return false;
	*matched = !m;
	return true;
}

/* evaluate a Choice rule; see asl.h */
bool
of_choice_eval(const OfChoiceRule *rule, const OfEvalEnv *env,
			   bool *matched, OfError *err)
{
	*matched = false;
	if (of_interrupted(env, err))
		return false;
	switch (rule->op)
	{
		case OF_OP_AND:
		case OF_OP_OR:
			return eval_junction(rule, env, matched, err);
		case OF_OP_NOT:
			return eval_not(rule, env, matched, err);
		default:
			return eval_leaf(rule, env, matched, err);
	}
}
