/*-------------------------------------------------------------------------
 *
 * asl_template.c
 *	  Payload templates: Parameters, ResultSelector and ItemSelector.
 *
 * A template is any JSON value.  Inside objects (at any depth, also
 * within arrays) a key ending in ".$" takes its value from a path or an
 * intrinsic function call, and the output key drops the ".$".  Everything
 * else is copied literally.
 *
 * Compilation turns every subtree without ".$" keys into one literal node,
 * so evaluating a mostly static template costs little: literal values are
 * shared with the definition by reference (json_object_get), which is
 * safe because json-c values produced here are never modified in place
 * (ResultPath works on a deep copy).
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <stdio.h>
#include <string.h>

#include "asl.h"

typedef enum TemplateKind
{
	TMPL_LITERAL,				/* copied by reference */
	TMPL_OBJECT,				/* an object with dynamic members */
	TMPL_ARRAY,					/* an array with dynamic elements */
	TMPL_PATH,					/* "key.$": "$.path" */
	TMPL_EXPR					/* "key.$": "States.Fn(...)" */
} TemplateKind;

struct OfTemplate
{
	TemplateKind kind;
	json_object *literal;		/* TMPL_LITERAL (borrowed) */
	int			n;				/* members or elements */
	const char **keys;			/* TMPL_OBJECT: output keys */
	OfTemplate **items;			/* TMPL_OBJECT values, TMPL_ARRAY elements */
	const char *field;			/* TMPL_PATH/EXPR: the key, with ".$" */
	OfPath	   *path;			/* TMPL_PATH */
	OfExpr	   *expr;			/* TMPL_EXPR */
	bool		uses_context;	/* this node or one below reads $$ */
};

/*
 * Compilation state.  The JSON-pointer location of the value being
 * compiled is kept in one growing buffer (malloc'd, freed at the end), so
 * that large literal payloads cost no allocations at all.
 */
typedef struct TemplateCompiler
{
	OfReportFn	report;
	void	   *report_arg;
	bool		failed;
	char	   *loc;
	size_t		loc_len;
	size_t		loc_cap;
} TemplateCompiler;

static OfTemplate *compile_value(TemplateCompiler *tc, json_object *v);

/* ------------------------------------------------------------------
 * Compiling
 * ------------------------------------------------------------------ */

/* report an ERROR at the current location; compilation has failed */
static void
report_error(TemplateCompiler *tc, const char *code, const char *message)
{
	tc->failed = true;
	if (tc->report != NULL)
		tc->report(tc->report_arg, "ERROR", code,
				   tc->loc != NULL ? tc->loc : "", message);
}

/* append n bytes to the location; false when out of memory */
static bool
loc_append(TemplateCompiler *tc, const char *bytes, size_t n)
{
	if (tc->loc_len + n + 1 > tc->loc_cap)
	{
		size_t		cap = (tc->loc_len + n + 1) * 2;
		char	   *loc = realloc(tc->loc, cap);

		if (loc == NULL)
			return false;
		tc->loc = loc;
		tc->loc_cap = cap;
	}
	memcpy(tc->loc + tc->loc_len, bytes, n);
	tc->loc_len += n;
	tc->loc[tc->loc_len] = '\0';
	return true;
}

/*
 * Descend into member `key`: append "/" and the key escaped as an
 * RFC 6901 token ("~" → "~0", "/" → "~1").  Returns the length to go
 * back to with loc_pop().
 */
static size_t
loc_push_key(TemplateCompiler *tc, const char *key)
{
	size_t		saved = tc->loc_len;
	bool		ok = loc_append(tc, "/", 1);

	for (; ok && *key != '\0'; key++)
	{
		if (*key == '~')
			ok = loc_append(tc, "~0", 2);
		else if (*key == '/')
			ok = loc_append(tc, "~1", 2);
		else
			ok = loc_append(tc, key, 1);
	}
	if (!ok)
		report_error(tc, "OUT_OF_MEMORY", "out of memory compiling a payload template");
	return saved;
}

/* descend into array element i */
static size_t
loc_push_index(TemplateCompiler *tc, size_t i)
{
	size_t		saved = tc->loc_len;
	char		buf[32];

	snprintf(buf, sizeof(buf), "/%zu", i);
	if (!loc_append(tc, buf, strlen(buf)))
		report_error(tc, "OUT_OF_MEMORY", "out of memory compiling a payload template");
	return saved;
}

/* go back up to the location before the matching push */
static void
loc_pop(TemplateCompiler *tc, size_t saved)
{
	if (tc->loc != NULL && saved <= tc->loc_len)
	{
		tc->loc_len = saved;
		tc->loc[saved] = '\0';
	}
}

/* true when the key asks for a dynamic value ("name.$") */
static bool
is_dynamic_key(const char *key)
{
	size_t		len = strlen(key);

	return len >= 2 && strcmp(key + len - 2, ".$") == 0;
}

/* a node that copies v as it is */
static OfTemplate *
literal_node(json_object *v)
{
	OfTemplate *t = of_alloc(sizeof(OfTemplate));

	t->kind = TMPL_LITERAL;
	t->literal = v;
	return t;
}

/* an intrinsic function call after "key.$" */
static OfTemplate *
compile_intrinsic(TemplateCompiler *tc, const char *key, const char *text)
{
	OfError		err;
	OfTemplate *t = of_alloc(sizeof(OfTemplate));

	memset(&err, 0, sizeof(err));
	t->kind = TMPL_EXPR;
	t->field = of_strdup(key);
	t->expr = of_expr_compile(text, &err);
	if (t->expr == NULL)
	{
		report_error(tc, "INVALID_INTRINSIC",
					 of_psprintf("The value for the field '%s' must be a valid intrinsic function call: %s",
								 key, err.cause[0] ? err.cause : text));
		return NULL;
	}
	t->uses_context = of_expr_uses_context(t->expr);
	return t;
}

/* a JSONPath after "key.$" */
static OfTemplate *
compile_path(TemplateCompiler *tc, const char *key, const char *text)
{
	OfError		err;
	OfTemplate *t = of_alloc(sizeof(OfTemplate));

	memset(&err, 0, sizeof(err));
	t->kind = TMPL_PATH;
	t->field = of_strdup(key);
	t->path = of_path_compile(text, false, &err);
	if (t->path == NULL)
	{
		report_error(tc, "INVALID_PATH",
					 of_psprintf("The value for the field '%s' must be a valid JSONPath or intrinsic function: %s",
								 key, err.cause[0] ? err.cause : text));
		return NULL;
	}
	t->uses_context = of_path_uses_context(t->path);
	return t;
}

/* the value of a "key.$" member: a string holding a path or intrinsic */
static OfTemplate *
compile_dynamic(TemplateCompiler *tc, const char *key, json_object *v)
{
	const char *text;

	if (!json_object_is_type(v, json_type_string))
	{
		report_error(tc, "PATH_KEY_NOT_STRING",
					 of_psprintf("The value for the field '%s' must be a string holding a JSONPath or an intrinsic function", key));
		return NULL;
	}
	text = json_object_get_string(v);
	if (strncmp(text, "States.", 7) == 0)
		return compile_intrinsic(tc, key, text);
	return compile_path(tc, key, text);
}

/* the output key of a member: the key without a trailing ".$" */
static const char *
output_key(const char *key)
{
	if (!is_dynamic_key(key))
		return of_strdup(key);
	return of_psprintf("%.*s", (int) (strlen(key) - 2), key);
}

/*
 * A ".$" key must not produce an output key that the object already has
 * ("a" next to "a.$"): report it at the dynamic key.
 */
static void
check_duplicate(TemplateCompiler *tc, json_object *obj, const char *key)
{
	char	   *plain;

	if (!is_dynamic_key(key))
		return;
	plain = of_psprintf("%.*s", (int) (strlen(key) - 2), key);
	if (json_object_object_get_ex(obj, plain, NULL))
		report_error(tc, "DUPLICATE_FIELD",
					 of_psprintf("The field '%s' is defined twice, as '%s' and as '%s'",
								 plain, plain, key));
}

/* compile one member of an object at the current location */
static OfTemplate *
compile_member(TemplateCompiler *tc, json_object *obj, const char *key,
			   json_object *v)
{
	OfTemplate *item;
	size_t		saved = loc_push_key(tc, key);

	check_duplicate(tc, obj, key);
	item = is_dynamic_key(key) ? compile_dynamic(tc, key, v) : compile_value(tc, v);
	loc_pop(tc, saved);
	return item;
}

/*
 * Build the node of an object whose members were compiled into items
 * (NULL for literal members).
 */
static OfTemplate *
object_node(json_object *obj, OfTemplate **items)
{
	OfTemplate *t = of_alloc(sizeof(OfTemplate));
	int			size = json_object_object_length(obj);
	struct json_object_iter it;
	int			i = 0;

	t->kind = TMPL_OBJECT;
	t->keys = of_alloc(sizeof(char *) * (size_t) size);
	t->items = of_alloc(sizeof(OfTemplate *) * (size_t) size);
	json_object_object_foreachC(obj, it)
	{
		t->keys[t->n] = output_key(it.key);
		t->items[t->n] = items[i] != NULL ? items[i] : literal_node(it.val);
		t->uses_context |= t->items[t->n]->uses_context;
		t->n++;
		i++;
	}
	return t;
}

/*
 * An object: NULL when it is literal (no ".$" key at any depth), else a
 * node.  Members are compiled into a temporary array first, because only
 * then is it known whether a node is needed.
 */
static OfTemplate *
compile_object(TemplateCompiler *tc, json_object *obj)
{
	int			size = json_object_object_length(obj);
	OfTemplate **items;
	OfTemplate *t = NULL;
	struct json_object_iter it;
	bool		dynamic = false;
	int			i = 0;

	if (size == 0)
		return NULL;
	items = calloc((size_t) size, sizeof(OfTemplate *));
	if (items == NULL)
	{
		report_error(tc, "OUT_OF_MEMORY", "out of memory compiling a payload template");
		return NULL;
	}
	json_object_object_foreachC(obj, it)
	{
		items[i] = compile_member(tc, obj, it.key, it.val);
		dynamic |= items[i] != NULL || is_dynamic_key(it.key);
		i++;
	}
	if (dynamic && !tc->failed)
		t = object_node(obj, items);
	free(items);
	return t;
}

/* an array: NULL when it is literal, else a node */
static OfTemplate *
compile_array(TemplateCompiler *tc, json_object *arr)
{
	size_t		n = json_object_array_length(arr);
	OfTemplate **items;
	OfTemplate *t = NULL;
	bool		dynamic = false;
	size_t		i;

	if (n == 0)
		return NULL;
	items = calloc(n, sizeof(OfTemplate *));
	if (items == NULL)
	{
		report_error(tc, "OUT_OF_MEMORY", "out of memory compiling a payload template");
		return NULL;
	}
	for (i = 0; i < n; i++)
	{
		size_t		saved = loc_push_index(tc, i);

		items[i] = compile_value(tc, json_object_array_get_idx(arr, i));
		dynamic |= items[i] != NULL;
		loc_pop(tc, saved);
	}
	if (dynamic && !tc->failed)
	{
		t = of_alloc(sizeof(OfTemplate));
		t->kind = TMPL_ARRAY;
		t->items = of_alloc(sizeof(OfTemplate *) * n);
		for (i = 0; i < n; i++)
		{
			t->items[i] = items[i] != NULL ? items[i]
				: literal_node(json_object_array_get_idx(arr, i));
			t->uses_context |= t->items[i]->uses_context;
		}
		t->n = (int) n;
	}
	free(items);
	return t;
}

/* any template value: NULL when it is literal (or failed to compile) */
static OfTemplate *
compile_value(TemplateCompiler *tc, json_object *v)
{
	if (json_object_is_type(v, json_type_object))
		return compile_object(tc, v);
	if (json_object_is_type(v, json_type_array))
		return compile_array(tc, v);
	return NULL;
}

/* compile a payload template; see asl.h */
OfTemplate *
of_template_compile(json_object *payload, const char *location,
					OfReportFn report, void *report_arg)
{
	TemplateCompiler tc;
	OfTemplate *t;
	const char *base = location != NULL ? location : "";

	memset(&tc, 0, sizeof(tc));
	tc.report = report;
	tc.report_arg = report_arg;
	if (!loc_append(&tc, base, strlen(base)))
		report_error(&tc, "OUT_OF_MEMORY", "out of memory compiling a payload template");
	t = compile_value(&tc, payload);
	free(tc.loc);
	if (tc.failed)
		return NULL;
	return t != NULL ? t : literal_node(payload);
}

/* true if evaluating the template reads $$ */
bool
of_template_uses_context(const OfTemplate *tmpl)
{
	return tmpl != NULL && tmpl->uses_context;
}

/* ------------------------------------------------------------------
 * Evaluating
 * ------------------------------------------------------------------ */

/*
 * One evaluation: the environment, and the running size of the output
 * (every value placed and every key), checked against env->max_bytes as
 * the output is built.
 */
typedef struct TemplateEval
{
	const OfEvalEnv *env;
	size_t		used;
} TemplateEval;

static bool eval_node(const OfTemplate *t, TemplateEval *te,
					  json_object **result, OfError *err);

/* where a path root is, for messages */
static const char *
root_description(const OfPath *path)
{
	switch (of_path_root(path))
	{
		case OF_ROOT_CONTEXT:
			return "the context object";
		case OF_ROOT_VARIABLE:
			return "the variables";
		default:
			return "the input";
	}
}

/*
 * A "key.$" path.  A definite path that matches nothing is a runtime
 * failure; an indefinite one yields its (possibly empty) list of matches.
 */
static bool
eval_path(const OfTemplate *t, const OfEvalEnv *env, json_object **result,
		  OfError *err)
{
	bool		found;

	if (!of_path_eval(t->path, env, result, &found, err))
		return false;
	if (!found && of_path_is_definite(t->path))
		return of_fail(err, OF_ERR_RUNTIME,
					   "The JsonPath argument for the field '%s' could not find a value in %s: %s",
					   t->field, root_description(t->path), of_path_text(t->path));
	return true;
}

/* an object: evaluate every member */
static bool
eval_object(const OfTemplate *t, TemplateEval *te, json_object **result,
			OfError *err)
{
	json_object *obj = json_object_new_object();
	int			i;

	if (obj == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	te->used += 2;
	for (i = 0; i < t->n; i++)
	{
		json_object *v;

		te->used += strlen(t->keys[i]) + 4;
		if (!eval_node(t->items[i], te, &v, err))
		{
			json_object_put(obj);
			return false;
		}
		json_object_object_add(obj, t->keys[i], v);
	}
	*result = obj;
	return true;
}

/* an array: evaluate every element */
static bool
eval_array(const OfTemplate *t, TemplateEval *te, json_object **result,
		   OfError *err)
{
	json_object *arr = json_object_new_array_ext(t->n);
	int			i;

	if (arr == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	te->used += 2;
	for (i = 0; i < t->n; i++)
	{
		json_object *v;

		te->used++;
		if (!eval_node(t->items[i], te, &v, err))
		{
			json_object_put(arr);
			return false;
		}
		json_object_array_add(arr, v);
	}
	*result = arr;
	return true;
}

/* count a value placed in the output; false (and *v put) when over budget */
static bool
count_value(TemplateEval *te, json_object **v, const OfTemplate *t, OfError *err)
{
	char		what[160];

	if (te->env == NULL || te->env->max_bytes == 0)
		return true;
	snprintf(what, sizeof(what), "the payload template%s%.128s",
			 t->field != NULL ? " at field " : "", t->field != NULL ? t->field : "");
	if (of_budget_add_value(te->env, &te->used, *v, what, err))
		return true;
	json_object_put(*v);
	*v = NULL;
	return false;
}

/* evaluate one node into a new reference */
static bool
eval_node(const OfTemplate *t, TemplateEval *te, json_object **result,
		  OfError *err)
{
	*result = NULL;
	if (of_interrupted(te->env, err))
		return false;
	switch (t->kind)
	{
		case TMPL_LITERAL:
			*result = json_object_get(t->literal);
			return count_value(te, result, t, err);
		case TMPL_OBJECT:
			return eval_object(t, te, result, err);
		case TMPL_ARRAY:
			return eval_array(t, te, result, err);
		case TMPL_PATH:
			return eval_path(t, te->env, result, err) &&
				count_value(te, result, t, err);
		case TMPL_EXPR:
			return of_expr_eval(t->expr, te->env, result, err) &&
				count_value(te, result, t, err);
	}
	return of_fail(err, OF_ERR_RUNTIME, "invalid template node");
}

/* evaluate a template; see asl.h */
bool
of_template_eval(const OfTemplate *tmpl, const OfEvalEnv *env,
				 json_object **result, OfError *err)
{
	TemplateEval te = {env, 0};

	if (!eval_node(tmpl, &te, result, err))
	{
		json_object_put(*result);
		*result = NULL;
		return false;
	}
	return true;
}
