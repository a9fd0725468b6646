/*-------------------------------------------------------------------------
 *
 * asl_path.c
 *	  JSONPath for ASL: compiling, evaluating, and ResultPath assignment.
 *
 * A path is a root ($ input, $$ context object, $name workflow variable)
 * followed by steps:
 *
 *	 .name  ['name']  ["name"]	   a member of an object
 *	 [n]  [-n]					   an array element (negative: from the end)
 *	 .*  [*]					   every member/element
 *	 [a,b,...]					   a union of names and/or indexes
 *	 [start:end]  [start:end:step] an array slice (Python semantics)
 *	 ..step						   deep scan: the step applied at every level
 *	 [?(@.x <op> literal)]		   filter on the elements of an array (or the
 *								   values of an object); op is one of
 *								   == != < <= > >=, or none (existence);
 *								   the literal a number, a quoted string,
 *								   true, false or null
 *
 * A path made of .name, ['name'] and [n] steps only is "definite" and
 * selects one value (or nothing); any other path selects a list.  ASL's
 * "reference paths" (ResultPath and friends) must be definite with
 * non-negative indexes.
 *
 * Compiled paths are allocated with of_alloc(); evaluation only allocates
 * transient node lists with malloc() and json-c values.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STANDALONE
#include "postgres.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "asl.h"

/* indexes in paths are limited so that index arithmetic cannot overflow */
#define PATH_MAX_INDEX INT64_C(2147483647)

typedef enum PathStepKind
{
	STEP_NAME,					/* .name ['name'] */
	STEP_INDEX,					/* [n] [-n] */
	STEP_WILDCARD,				/* .* [*] */
	STEP_UNION,					/* [a,'b',...] */
	STEP_SLICE,					/* [start:end:step] */
	STEP_FILTER					/* [?(...)] */
} PathStepKind;

/* one member of a union: a name, or an index when name is NULL */
typedef struct PathMember
{
	const char *name;
	int64_t		index;
} PathMember;

typedef enum FilterOp
{
	FILTER_EXISTS,
	FILTER_EQ,
	FILTER_NE,
	FILTER_LT,
	FILTER_LE,
	FILTER_GT,
	FILTER_GE
} FilterOp;

/* the literal on the right of a filter comparison */
typedef struct FilterLiteral
{
	json_type	type;			/* null, boolean, double or string */
	bool		boolean;
	double		number;
	const char *string;
} FilterLiteral;

typedef struct PathStep PathStep;

struct PathStep
{
	PathStepKind kind;
	bool		deep;			/* preceded by ".." */
	int			offset;			/* where the step starts in the text */

	/* STEP_NAME */
	const char *name;
	/* STEP_INDEX */
	int64_t		index;
	/* STEP_UNION */
	PathMember *members;
	int			n_members;
	/* STEP_SLICE */
	bool		has_start;
	bool		has_end;
	int64_t		start;
	int64_t		end;
	int64_t		step;
	/* STEP_FILTER: @ followed by definite steps, an operator, a literal */
	PathStep   *filter_steps;
	int			n_filter_steps;
	FilterOp	op;
	FilterLiteral literal;
};

struct OfPath
{
	const char *text;
	OfPathRoot	root;
	const char *variable;		/* $name → "name" */
	PathStep   *steps;
	int			n_steps;
	bool		definite;
	bool		reference;		/* definite with non-negative indexes */
};

/* ------------------------------------------------------------------
 * Compiling
 * ------------------------------------------------------------------ */

typedef struct PathParser
{
	const char *text;
	int			pos;
	OfError    *err;
} PathParser;

/* the current character, '\0' at the end */
static char
peek(const PathParser *ps)
{
	return ps->text[ps->pos];
}

/* report a syntax error at the current position; always returns false */
static bool
syntax_error(PathParser *ps, const char *what)
{
	return of_fail(ps->err, OF_ERR_RUNTIME,
				   "invalid JSONPath '%s': %s at offset %d",
				   ps->text, what, ps->pos);
}

/* skip blanks, allowed inside brackets only */
static void
skip_blanks(PathParser *ps)
{
	while (peek(ps) == ' ' || peek(ps) == '\t')
		ps->pos++;
}

/* consume c or fail with "expected 'c'" */
static bool
expect(PathParser *ps, char c)
{
	char		msg[32];

	if (peek(ps) == c)
	{
		ps->pos++;
		return true;
	}
	snprintf(msg, sizeof(msg), "expected '%c'", c);
	return syntax_error(ps, msg);
}

/* grow an of_alloc'd array to hold one more element */
static void *
grow_array(void *items, int n, int *cap, size_t elsize)
{
	void	   *bigger;

	if (n < *cap)
		return items;
	*cap = *cap == 0 ? 4 : *cap * 2;
	bigger = of_alloc(elsize * (size_t) *cap);
	if (n > 0)
		memcpy(bigger, items, elsize * (size_t) n);
	return bigger;
}

/* characters that can never appear in a dot-notation field name */
static bool
is_name_char(char c)
{
	if ((unsigned char) c <= ' ' || c == 0x7f)
		return false;
	return strchr(".[]()'\",*?@", c) == NULL;
}

/* .name: a non-empty run of name characters */
static bool
parse_dot_name(PathParser *ps, PathStep *step)
{
	int			start = ps->pos;

	while (is_name_char(peek(ps)))
		ps->pos++;
	if (ps->pos == start)
		return syntax_error(ps, "expected a field name");
	step->kind = STEP_NAME;
	step->name = of_psprintf("%.*s", ps->pos - start, ps->text + start);
	return true;
}

/* 'text' or "text" with \\ and \<quote> escapes */
static bool
parse_quoted(PathParser *ps, const char **out)
{
	char		quote = peek(ps);
	char	   *buf = of_alloc(strlen(ps->text + ps->pos) + 1);
	size_t		n = 0;

	ps->pos++;
	while (peek(ps) != quote)
	{
		char		c = peek(ps);

		if (c == '\0')
			return syntax_error(ps, "unterminated string");
		if (c == '\\')
		{
			ps->pos++;
			c = peek(ps);
			if (c != '\\' && c != '\'' && c != '"')
				return syntax_error(ps, "invalid escape in string");
		}
		buf[n++] = c;
		ps->pos++;
	}
	ps->pos++;
	buf[n] = '\0';
	*out = buf;
	return true;
}

/* an optionally negative integer within PATH_MAX_INDEX */
static bool
parse_int(PathParser *ps, int64_t *out)
{
	bool		negative = false;
	int64_t		v = 0;
	int			start;

	if (peek(ps) == '-')
	{
		negative = true;
		ps->pos++;
	}
	start = ps->pos;
	while (peek(ps) >= '0' && peek(ps) <= '9')
	{
		v = v * 10 + (peek(ps) - '0');
		if (v > PATH_MAX_INDEX)
			return syntax_error(ps, "index out of range");
		ps->pos++;
	}
	if (ps->pos == start)
		return syntax_error(ps, "expected an integer");
	*out = negative ? -v : v;
	return true;
}

/* true when the current character can start an integer */
static bool
at_int(const PathParser *ps)
{
	char		c = peek(ps);

	return c == '-' || (c >= '0' && c <= '9');
}

/* one union member: a quoted name or an integer */
static bool
parse_member(PathParser *ps, PathMember *m)
{
	skip_blanks(ps);
	if (peek(ps) == '\'' || peek(ps) == '"')
		return parse_quoted(ps, &m->name);
	if (at_int(ps))
		return parse_int(ps, &m->index);
	return syntax_error(ps, "expected a quoted name or an integer");
}

/*
 * ['a'] [0] or a union ['a', 'b', 0]; the first member is already parsed.
 * A single member becomes a name or index step.
 */
static bool
parse_members(PathParser *ps, PathStep *step, PathMember first)
{
	int			cap = 0;

	step->members = grow_array(NULL, 0, &cap, sizeof(PathMember));
	step->members[step->n_members++] = first;
	skip_blanks(ps);
	while (peek(ps) == ',')
	{
		ps->pos++;
		step->members = grow_array(step->members, step->n_members, &cap,
								   sizeof(PathMember));
		if (!parse_member(ps, &step->members[step->n_members]))
			return false;
		step->n_members++;
		skip_blanks(ps);
	}
	if (step->n_members > 1)
		step->kind = STEP_UNION;
	else if (first.name != NULL)
	{
		step->kind = STEP_NAME;
		step->name = first.name;
	}
	else
	{
		step->kind = STEP_INDEX;
		step->index = first.index;
	}
	return expect(ps, ']');
}

/* an optional integer of a slice */
static bool
parse_slice_bound(PathParser *ps, bool *has, int64_t *value)
{
	skip_blanks(ps);
	*has = at_int(ps);
	if (*has && !parse_int(ps, value))
		return false;
	skip_blanks(ps);
	return true;
}

/* [start:end] or [start:end:step]; start (if any) is already parsed */
static bool
parse_slice(PathParser *ps, PathStep *step, bool has_start, int64_t start)
{
	bool		has_step;

	step->kind = STEP_SLICE;
	step->has_start = has_start;
	step->start = start;
	step->step = 1;
	if (!expect(ps, ':') || !parse_slice_bound(ps, &step->has_end, &step->end))
		return false;
	if (peek(ps) == ':')
	{
		ps->pos++;
		if (!parse_slice_bound(ps, &has_step, &step->step))
			return false;
		if (!has_step)
			step->step = 1;
		else if (step->step == 0)
			return syntax_error(ps, "slice step cannot be zero");
	}
	return expect(ps, ']');
}

/* the definite steps after @ in a filter: .name ['name'] [n] */
static bool
parse_filter_steps(PathParser *ps, PathStep *filter)
{
	int			cap = 0;

	while (peek(ps) == '.' || peek(ps) == '[')
	{
		PathStep   *s;
		PathMember	m = {0};

		filter->filter_steps = grow_array(filter->filter_steps,
										  filter->n_filter_steps, &cap,
										  sizeof(PathStep));
		s = &filter->filter_steps[filter->n_filter_steps++];
		memset(s, 0, sizeof(*s));
		s->offset = ps->pos;
		if (peek(ps) == '.')
		{
			ps->pos++;
			if (!parse_dot_name(ps, s))
				return false;
			continue;
		}
		ps->pos++;
		if (!parse_member(ps, &m))
			return false;
		s->kind = m.name != NULL ? STEP_NAME : STEP_INDEX;
		s->name = m.name;
		s->index = m.index;
		skip_blanks(ps);
		if (!expect(ps, ']'))
			return false;
	}
	return true;
}

/* a comparison operator, or FILTER_EXISTS when there is none */
static FilterOp
parse_filter_op(PathParser *ps)
{
	static const struct
	{
		const char *text;
		FilterOp	op;
	}			ops[] = {
		{"==", FILTER_EQ}, {"!=", FILTER_NE}, {"<=", FILTER_LE},
		{">=", FILTER_GE}, {"<", FILTER_LT}, {">", FILTER_GT}
	};
	int			i;

	for (i = 0; i < (int) (sizeof(ops) / sizeof(ops[0])); i++)
	{
		size_t		len = strlen(ops[i].text);

		if (strncmp(ps->text + ps->pos, ops[i].text, len) == 0)
		{
			ps->pos += (int) len;
			return ops[i].op;
		}
	}
	return FILTER_EXISTS;
}

/* length of a JSON number at s (0 if there is none) */
static int
json_number_length(const char *s)
{
	const char *p = s;

	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (*p >= '1' && *p <= '9')
		while (*p >= '0' && *p <= '9')
			p++;
	else
		return 0;
	if (*p == '.' && p[1] >= '0' && p[1] <= '9')
	{
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'e' || *p == 'E') &&
		((p[1] >= '0' && p[1] <= '9') ||
		 ((p[1] == '+' || p[1] == '-') && p[2] >= '0' && p[2] <= '9')))
	{
		p += 2;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	return (int) (p - s);
}

/* true and consume when the text continues with the given keyword */
static bool
accept_keyword(PathParser *ps, const char *word)
{
	size_t		len = strlen(word);

	if (strncmp(ps->text + ps->pos, word, len) != 0)
		return false;
	ps->pos += (int) len;
	return true;
}

/* the literal of a filter comparison */
static bool
parse_filter_literal(PathParser *ps, FilterLiteral *lit)
{
	int			len;

	if (peek(ps) == '\'' || peek(ps) == '"')
	{
		lit->type = json_type_string;
		return parse_quoted(ps, &lit->string);
	}
	if (accept_keyword(ps, "true") || accept_keyword(ps, "false"))
	{
		lit->type = json_type_boolean;
		/* both keywords end in 'e'; only "true" has a 'u' before it */
		lit->boolean = ps->text[ps->pos - 2] == 'u';
		return true;
	}
	if (accept_keyword(ps, "null"))
	{
		lit->type = json_type_null;
		return true;
	}
	len = json_number_length(ps->text + ps->pos);
	if (len == 0)
		return syntax_error(ps, "expected a number, a quoted string, true, false or null");
	lit->type = json_type_double;
	lit->number = strtod(of_psprintf("%.*s", len, ps->text + ps->pos), NULL);
	ps->pos += len;
	return true;
}

/* [?(@.x op literal)] or [?(@.x)]; "[?" is already consumed */
static bool
parse_filter(PathParser *ps, PathStep *step)
{
	step->kind = STEP_FILTER;
	skip_blanks(ps);
	if (!expect(ps, '('))
		return false;
	skip_blanks(ps);
	if (!expect(ps, '@') || !parse_filter_steps(ps, step))
		return false;
	skip_blanks(ps);
	step->op = parse_filter_op(ps);
	if (step->op != FILTER_EXISTS)
	{
		skip_blanks(ps);
		if (!parse_filter_literal(ps, &step->literal))
			return false;
		skip_blanks(ps);
	}
	if (!expect(ps, ')'))
		return false;
	skip_blanks(ps);
	return expect(ps, ']');
}

/* everything between [ and ]; "[" is already consumed */
static bool
parse_bracket(PathParser *ps, PathStep *step)
{
	PathMember	first = {0};

	skip_blanks(ps);
	if (peek(ps) == '*')
	{
		ps->pos++;
		step->kind = STEP_WILDCARD;
		skip_blanks(ps);
		return expect(ps, ']');
	}
	if (peek(ps) == '?')
	{
		ps->pos++;
		return parse_filter(ps, step);
	}
	if (peek(ps) == ':')
		return parse_slice(ps, step, false, 0);
	if (!parse_member(ps, &first))
		return false;
	skip_blanks(ps);
	if (first.name == NULL && peek(ps) == ':')
		return parse_slice(ps, step, true, first.index);
	return parse_members(ps, step, first);
}

/* one step starting at "." or "[" */
static bool
parse_step(PathParser *ps, PathStep *step)
{
	step->offset = ps->pos;
	if (peek(ps) == '[')
	{
		ps->pos++;
		return parse_bracket(ps, step);
	}
	if (peek(ps) != '.')
		return syntax_error(ps, "expected '.' or '['");
	ps->pos++;
	if (peek(ps) == '.')
	{
		step->deep = true;
		ps->pos++;
		if (peek(ps) == '[')
		{
			ps->pos++;
			return parse_bracket(ps, step);
		}
	}
	if (peek(ps) == '*')
	{
		ps->pos++;
		step->kind = STEP_WILDCARD;
		return true;
	}
	return parse_dot_name(ps, step);
}

/* $, $$ or $name */
static bool
parse_root(PathParser *ps, OfPath *path)
{
	char		c;
	int			start;

	if (!expect(ps, '$'))
		return false;
	c = peek(ps);
	if (c == '$')
	{
		ps->pos++;
		path->root = OF_ROOT_CONTEXT;
		return true;
	}
	if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'))
	{
		path->root = OF_ROOT_INPUT;
		return true;
	}
	start = ps->pos;
	while (((c = peek(ps)) >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		   (c >= '0' && c <= '9') || c == '_')
		ps->pos++;
	path->root = OF_ROOT_VARIABLE;
	path->variable = of_psprintf("%.*s", ps->pos - start, ps->text + start);
	return true;
}

/* a step that a reference path allows */
static bool
is_reference_step(const PathStep *step)
{
	if (step->deep)
		return false;
	return step->kind == STEP_NAME ||
		(step->kind == STEP_INDEX && step->index >= 0);
}

/* classify the compiled path as definite and/or reference */
static void
classify_path(OfPath *path)
{
	int			i;

	path->definite = true;
	path->reference = true;
	for (i = 0; i < path->n_steps; i++)
	{
		const PathStep *s = &path->steps[i];

		if (s->deep || (s->kind != STEP_NAME && s->kind != STEP_INDEX))
			path->definite = false;
		if (!is_reference_step(s))
			path->reference = false;
	}
}

/* explain why a path is not a reference path */
static void
not_reference_error(const OfPath *path, OfError *err)
{
	int			i;

	for (i = 0; i < path->n_steps; i++)
	{
		if (!is_reference_step(&path->steps[i]))
			break;
	}
	of_fail(err, OF_ERR_RUNTIME,
			"invalid reference path '%s': only .name, ['name'] and [n] steps are allowed, not the step at offset %d",
			path->text, i < path->n_steps ? path->steps[i].offset : 0);
}

/* compile a JSONPath (see the file header for the syntax) */
OfPath *
of_path_compile(const char *text, bool reference_only, OfError *err)
{
	PathParser	ps;
	OfPath	   *path;
	int			cap = 0;

	if (text == NULL)
	{
		of_fail(err, OF_ERR_RUNTIME, "invalid JSONPath: no text");
		return NULL;
	}
	ps.text = text;
	ps.pos = 0;
	ps.err = err;
	path = of_alloc(sizeof(OfPath));
	path->text = of_strdup(text);
	if (!parse_root(&ps, path))
		return NULL;
	while (peek(&ps) != '\0')
	{
		path->steps = grow_array(path->steps, path->n_steps, &cap, sizeof(PathStep));
		if (!parse_step(&ps, &path->steps[path->n_steps]))
			return NULL;
		path->n_steps++;
	}
	classify_path(path);
	if (reference_only && !path->reference)
	{
		not_reference_error(path, err);
		return NULL;
	}
	return path;
}

/* the source text of the path */
const char *
of_path_text(const OfPath *path)
{
	return path->text;
}

/* which root the path starts from */
OfPathRoot
of_path_root(const OfPath *path)
{
	return path->root;
}

/* the variable name of a $name path, NULL for other roots */
const char *
of_path_variable(const OfPath *path)
{
	return path->variable;
}

/* true when the path selects at most one value */
bool
of_path_is_definite(const OfPath *path)
{
	return path->definite;
}

/* true when evaluating the path reads the context object */
bool
of_path_uses_context(const OfPath *path)
{
	return path != NULL && path->root == OF_ROOT_CONTEXT;
}

/* ------------------------------------------------------------------
 * Evaluating
 * ------------------------------------------------------------------ */

/*
 * One evaluation: its bounds and its first failure.  Every value a step
 * looks at or selects is counted (OF_PATH_MAX_NODES) and the interrupt
 * callback is polled as they are counted; once `failed` is set every loop
 * stops and the lists built so far are freed by their owners.
 */
typedef struct PathEval
{
	const OfPath *path;
	const OfEvalEnv *env;
	OfError    *err;
	size_t		visited;
	bool		failed;
} PathEval;

/*
 * A list of borrowed matches (NULL entries are JSON nulls).  malloc'd:
 * it lives only during one evaluation.
 */
typedef struct NodeList
{
	json_object **items;
	size_t		n;
	size_t		cap;
} NodeList;

/* count one visited node; false (pe->failed) past a bound or when interrupted */
static bool
visit(PathEval *pe)
{
	if (pe->failed)
		return false;
	if (++pe->visited > OF_PATH_MAX_NODES)
	{
		pe->failed = true;
		return of_fail(pe->err, OF_ERR_DATA_LIMIT,
					   "the path '%s' visits more than %d values, the limit of one path evaluation",
					   pe->path->text, OF_PATH_MAX_NODES);
	}
	if ((pe->visited & 255) == 0 && of_interrupted(pe->env, pe->err))
	{
		pe->failed = true;
		return false;
	}
	return true;
}

/* append a match */
static void
nodes_push(PathEval *pe, NodeList *list, json_object *v)
{
	if (!visit(pe))
		return;
	if (list->n == list->cap)
	{
		size_t		cap = list->cap == 0 ? 8 : list->cap * 2;
		json_object **items = realloc(list->items, cap * sizeof(json_object *));

		if (items == NULL)
		{
			pe->failed = true;
			of_fail(pe->err, OF_ERR_RUNTIME, "out of memory evaluating '%s'",
					pe->path->text);
			return;
		}
		list->items = items;
		list->cap = cap;
	}
	list->items[list->n++] = v;
}

/* release the list's storage (not the borrowed values) */
static void
nodes_free(NodeList *list)
{
	free(list->items);
	list->items = NULL;
	list->n = list->cap = 0;
}

/* the element at index (negative: from the end), or false */
static bool
array_element(json_object *v, int64_t index, json_object **out)
{
	int64_t		len;

	if (!json_object_is_type(v, json_type_array))
		return false;
	len = (int64_t) json_object_array_length(v);
	if (index < 0)
		index += len;
	if (index < 0 || index >= len)
		return false;
	*out = json_object_array_get_idx(v, (size_t) index);
	return true;
}

/* the member called name, or false */
static bool
object_member(json_object *v, const char *name, json_object **out)
{
	if (!json_object_is_type(v, json_type_object))
		return false;
	return json_object_object_get_ex(v, name, out);
}

/* apply a definite step (name or index) to one value */
static bool
definite_step(const PathStep *step, json_object *v, json_object **out)
{
	if (step->kind == STEP_NAME)
		return object_member(v, step->name, out);
	return array_element(v, step->index, out);
}

/* walk definite steps from v; false when something is missing */
static bool
walk_definite(const PathStep *steps, int n, json_object *v, json_object **out)
{
	int			i;

	for (i = 0; i < n; i++)
	{
		if (!definite_step(&steps[i], v, &v))
			return false;
	}
	*out = v;
	return true;
}

/* push every member of an object or element of an array */
static void
push_children(PathEval *pe, json_object *v, NodeList *out)
{
	struct json_object_iter it;
	size_t		i;

	if (json_object_is_type(v, json_type_object))
	{
		json_object_object_foreachC(v, it)
		{
			if (pe->failed)
				break;
			nodes_push(pe, out, it.val);
		}
	}
	else if (json_object_is_type(v, json_type_array))
	{
		for (i = 0; i < json_object_array_length(v) && !pe->failed; i++)
			nodes_push(pe, out, json_object_array_get_idx(v, i));
	}
}

/* push v and all values below it, in document order */
static void
push_descendants(PathEval *pe, json_object *v, NodeList *out)
{
	NodeList	children = {0};
	size_t		i;

	nodes_push(pe, out, v);
	push_children(pe, v, &children);
	for (i = 0; i < children.n && !pe->failed; i++)
		push_descendants(pe, children.items[i], out);
	nodes_free(&children);
}

/* the union's members that exist in v */
static void
apply_union(PathEval *pe, const PathStep *step, json_object *v, NodeList *out)
{
	json_object *child;
	int			i;

	for (i = 0; i < step->n_members && !pe->failed; i++)
	{
		const PathMember *m = &step->members[i];

		if (m->name != NULL ? object_member(v, m->name, &child)
			: array_element(v, m->index, &child))
			nodes_push(pe, out, child);
	}
}

/* clamp a slice bound the way Python does */
static int64_t
slice_bound(int64_t bound, int64_t len, bool forward)
{
	if (bound < 0)
	{
		bound += len;
		if (bound < 0)
			bound = forward ? 0 : -1;
	}
	else if (bound >= len)
		bound = forward ? len : len - 1;
	return bound;
}

/* the elements of an array slice, with Python's semantics */
static void
apply_slice(PathEval *pe, const PathStep *step, json_object *v, NodeList *out)
{
	int64_t		len;
	int64_t		start;
	int64_t		end;
	int64_t		i;

	if (!json_object_is_type(v, json_type_array))
		return;
	len = (int64_t) json_object_array_length(v);
	if (step->step > 0)
	{
		start = step->has_start ? slice_bound(step->start, len, true) : 0;
		end = step->has_end ? slice_bound(step->end, len, true) : len;
		for (i = start; i < end && !pe->failed; i += step->step)
			nodes_push(pe, out, json_object_array_get_idx(v, (size_t) i));
	}
	else
	{
		start = step->has_start ? slice_bound(step->start, len, false) : len - 1;
		end = step->has_end ? slice_bound(step->end, len, false) : -1;
		for (i = start; i > end && !pe->failed; i += step->step)
			nodes_push(pe, out, json_object_array_get_idx(v, (size_t) i));
	}
}

/* compare two byte strings that may contain NULs */
static int
compare_bytes(const char *a, size_t la, const char *b, size_t lb)
{
	int			c = memcmp(a, b, la < lb ? la : lb);

	if (c != 0)
		return c;
	return la < lb ? -1 : la > lb ? 1 : 0;
}

/*
 * Order v against the literal: sets *cmp and returns true when both are
 * numbers or both strings; for ==/!= also when both are booleans or nulls.
 */
static bool
compare_with_literal(json_object *v, const FilterLiteral *lit, int *cmp)
{
	json_type	t = json_object_get_type(v);

	if (lit->type == json_type_double && of_json_is_number(v))
	{
		double		d = of_json_number(v);

		*cmp = d < lit->number ? -1 : d > lit->number ? 1 : 0;
		return true;
	}
	if (lit->type == json_type_string && t == json_type_string)
	{
		*cmp = compare_bytes(json_object_get_string(v),
							 (size_t) json_object_get_string_len(v),
							 lit->string, strlen(lit->string));
		return true;
	}
	if (lit->type == json_type_boolean && t == json_type_boolean)
	{
		*cmp = json_object_get_boolean(v) == lit->boolean ? 0 : 1;
		return true;
	}
	if (lit->type == json_type_null && t == json_type_null)
	{
		*cmp = 0;
		return true;
	}
	return false;
}

/* does the candidate pass the filter? */
static bool
filter_matches(const PathStep *step, json_object *candidate)
{
	json_object *v;
	int			cmp = 0;
	bool		comparable;

	if (!walk_definite(step->filter_steps, step->n_filter_steps, candidate, &v))
		return false;
	if (step->op == FILTER_EXISTS)
		return true;
	comparable = compare_with_literal(v, &step->literal, &cmp);
	if (step->op == FILTER_NE)
		return !comparable || cmp != 0;
	if (!comparable)
		return false;
	/* booleans and nulls are only equal or not, never ordered */
	if (step->op != FILTER_EQ &&
		(step->literal.type == json_type_boolean || step->literal.type == json_type_null))
		return false;
	switch (step->op)
	{
		case FILTER_EQ:
			return cmp == 0;
		case FILTER_LT:
			return cmp < 0;
		case FILTER_LE:
			return cmp <= 0;
		case FILTER_GT:
			return cmp > 0;
		case FILTER_GE:
			return cmp >= 0;
		default:
			return false;
	}
}

/* the elements (or member values) of v that pass the filter */
static void
apply_filter(PathEval *pe, const PathStep *step, json_object *v, NodeList *out)
{
	NodeList	children = {0};
	size_t		i;

	push_children(pe, v, &children);
	for (i = 0; i < children.n && !pe->failed; i++)
	{
		if (filter_matches(step, children.items[i]))
			nodes_push(pe, out, children.items[i]);
	}
	nodes_free(&children);
}

/* apply one step (ignoring "..") to one value */
static void
apply_selector(PathEval *pe, const PathStep *step, json_object *v, NodeList *out)
{
	json_object *child;

	switch (step->kind)
	{
		case STEP_NAME:
		case STEP_INDEX:
			if (definite_step(step, v, &child))
				nodes_push(pe, out, child);
			break;
		case STEP_WILDCARD:
			push_children(pe, v, out);
			break;
		case STEP_UNION:
			apply_union(pe, step, v, out);
			break;
		case STEP_SLICE:
			apply_slice(pe, step, v, out);
			break;
		case STEP_FILTER:
			apply_filter(pe, step, v, out);
			break;
	}
}

/* apply one step to every value of in, appending matches to out */
static void
apply_step(PathEval *pe, const PathStep *step, const NodeList *in, NodeList *out)
{
	size_t		i;
	size_t		j;

	for (i = 0; i < in->n && !pe->failed; i++)
	{
		NodeList	scope = {0};

		if (!step->deep)
		{
			apply_selector(pe, step, in->items[i], out);
			continue;
		}
		push_descendants(pe, in->items[i], &scope);
		for (j = 0; j < scope.n && !pe->failed; j++)
			apply_selector(pe, step, scope.items[j], out);
		nodes_free(&scope);
	}
}

/*
 * The array of matches, checked against the byte budget as it is built
 * (the matches are shared, but whoever stores the array stores copies).
 */
static bool
matches_array(PathEval *pe, const NodeList *cur, json_object **result)
{
	json_object *array = json_object_new_array_ext((int) cur->n);
	size_t		used = 2;
	size_t		i;
	char		what[128];

	snprintf(what, sizeof(what), "the path '%.100s'", pe->path->text);
	if (array == NULL)
		return of_fail(pe->err, OF_ERR_RUNTIME, "out of memory evaluating '%s'",
					   pe->path->text);
	for (i = 0; i < cur->n; i++)
	{
		used++;
		if (((i & 255) == 255 && of_interrupted(pe->env, pe->err)) ||
			!of_budget_add_value(pe->env, &used, cur->items[i], what, pe->err))
		{
			json_object_put(array);
			return false;
		}
		json_object_array_add(array, json_object_get(cur->items[i]));
	}
	*result = array;
	return true;
}

/* evaluate an indefinite path from root into a new array */
static bool
eval_indefinite(const OfPath *path, const OfEvalEnv *env, json_object *root,
				json_object **result, bool *found, OfError *err)
{
	PathEval	pe = {path, env, err, 0, false};
	NodeList	cur = {0};
	bool		ok;
	int			s;

	nodes_push(&pe, &cur, root);
	for (s = 0; s < path->n_steps && !pe.failed; s++)
	{
		NodeList	next = {0};

		apply_step(&pe, &path->steps[s], &cur, &next);
		nodes_free(&cur);
		cur = next;
	}
	ok = !pe.failed && matches_array(&pe, &cur, result);
	if (ok)
		*found = cur.n > 0;
	nodes_free(&cur);
	return ok;
}

/* the context object, built on demand; NULL when unavailable */
static json_object *
context_object(const OfEvalEnv *env)
{
	if (env->context != NULL)
		return env->context;
	if (env->build_context != NULL)
		return env->build_context(env->build_context_arg);
	return NULL;
}

/*
 * Find the value the path starts from.  *found is false when a variable
 * does not exist; an unavailable context object is an error.
 */
static bool
path_root_value(const OfPath *path, const OfEvalEnv *env,
				json_object **root, bool *found, OfError *err)
{
	*found = true;
	switch (path->root)
	{
		case OF_ROOT_INPUT:
			*root = env->input;
			return true;
		case OF_ROOT_CONTEXT:
			*root = context_object(env);
			if (*root == NULL)
				return of_fail(err, OF_ERR_RUNTIME,
							   "the context object is not available for '%s'",
							   path->text);
			return true;
		case OF_ROOT_VARIABLE:
			*found = object_member(env->variables, path->variable, root);
			return true;
	}
	return of_fail(err, OF_ERR_RUNTIME, "invalid path root");
}

/* evaluate a path; see asl.h */
bool
of_path_eval(const OfPath *path, const OfEvalEnv *env,
			 json_object **result, bool *found, OfError *err)
{
	json_object *root;
	json_object *v;

	*result = NULL;
	*found = false;
	if (!path_root_value(path, env, &root, found, err))
		return false;
	if (!*found)
	{
		if (!path->definite)
			*result = json_object_new_array();
		return true;
	}
	if (!path->definite)
		return eval_indefinite(path, env, root, result, found, err);
	*found = walk_definite(path->steps, path->n_steps, root, &v);
	if (*found)
		*result = json_object_get(v);
	return true;
}

/* ------------------------------------------------------------------
 * ResultPath
 * ------------------------------------------------------------------ */

/* fail with States.ResultPathMatchFailure about the value before step i */
static bool
result_path_failure(const OfPath *path, int i, OfError *err)
{
	const PathStep *step = &path->steps[i];
	char		problem[64];

	if (step->kind == STEP_NAME)
		snprintf(problem, sizeof(problem), "is not an object");
	else
		snprintf(problem, sizeof(problem), "is not an array with an element %lld",
				 (long long) step->index);
	return of_fail(err, OF_ERR_RESULT_PATH,
				   "Unable to apply ResultPath '%s' to the input: the value at '%.*s' %s",
				   path->text, step->offset, path->text, problem);
}

/*
 * Step from cur to the child named by an intermediate step, creating a
 * missing object member.  Present members are followed whatever their type:
 * the next step checks it.
 */
static bool
descend_or_create(const OfPath *path, int i, json_object *cur,
				  json_object **child, OfError *err)
{
	const PathStep *step = &path->steps[i];

	if (step->kind == STEP_INDEX)
	{
		if (!array_element(cur, step->index, child))
			return result_path_failure(path, i, err);
		return true;
	}
	if (!json_object_is_type(cur, json_type_object))
		return result_path_failure(path, i, err);
	if (json_object_object_get_ex(cur, step->name, child))
		return true;
	*child = json_object_new_object();
	if (*child == NULL)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	json_object_object_add(cur, step->name, *child);
	return true;
}

/* store value (a new reference is taken) at the last step below cur */
static bool
store_result(const OfPath *path, json_object *cur, json_object *value,
			 OfError *err)
{
	int			i = path->n_steps - 1;
	const PathStep *step = &path->steps[i];
	json_object *old;

	if (step->kind == STEP_INDEX)
	{
		if (!array_element(cur, step->index, &old))
			return result_path_failure(path, i, err);
		json_object_array_put_idx(cur, (size_t) step->index, json_object_get(value));
		return true;
	}
	if (!json_object_is_type(cur, json_type_object))
		return result_path_failure(path, i, err);
	json_object_object_add(cur, step->name, json_object_get(value));
	return true;
}

/* place value at path in a deep copy of raw; see asl.h */
bool
of_path_set(const OfPath *path, json_object *raw, json_object *value,
			json_object **result, OfError *err)
{
	json_object *copy = NULL;
	json_object *cur;
	int			i;

	*result = NULL;
	if (path == NULL || (path->root == OF_ROOT_INPUT && path->n_steps == 0))
	{
		*result = json_object_get(value);
		return true;
	}
	if (path->root != OF_ROOT_INPUT || !path->reference)
		return of_fail(err, OF_ERR_RESULT_PATH,
					   "ResultPath '%s' is not a reference path into the state input",
					   path->text);
	if (raw != NULL && json_object_deep_copy(raw, &copy, NULL) != 0)
		return of_fail(err, OF_ERR_RUNTIME, "out of memory");
	cur = copy;
	for (i = 0; i < path->n_steps - 1; i++)
	{
		if (!descend_or_create(path, i, cur, &cur, err))
		{
			json_object_put(copy);
			return false;
		}
	}
	if (!store_result(path, cur, value, err))
	{
		json_object_put(copy);
		return false;
	}
	*result = copy;
	return true;
}
