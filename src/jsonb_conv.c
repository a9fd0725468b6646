/*-------------------------------------------------------------------------
 *
 * jsonb_conv.c
 *	  Direct conversion between PostgreSQL jsonb and json-c values.
 *
 * Values move between the tables (jsonb) and the ASL evaluator (json-c)
 * on every step.  Walking the jsonb tree and building json-c objects
 * directly avoids printing and re-parsing text each way.
 *
 * Numbers: integral values that fit in int64 become json-c integers; all
 * others become doubles that keep their exact decimal text, so a value like
 * 0.1 or 12345678901234567890.5 leaves the evaluator spelled as it came in.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "jsonb_conv.h"

#include <errno.h>
#include <math.h>

#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"

/* Convert a jsonb numeric to a json-c number */
static json_object *
numeric_to_jsonc(Numeric num)
{
	char	   *text = DatumGetCString(DirectFunctionCall1(numeric_out,
														   NumericGetDatum(num)));
	json_object *result;

	if (strpbrk(text, ".eE") == NULL)
	{
		char	   *end;
		long long	ival;

		errno = 0;
		ival = strtoll(text, &end, 10);
		if (errno == 0 && *end == '\0')
		{
			pfree(text);
			return json_object_new_int64((int64_t) ival);
		}
	}
	result = json_object_new_double_s(strtod(text, NULL), text);
	pfree(text);
	return result;
}

/* Convert one jsonb scalar */
static json_object *
scalar_to_jsonc(JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			return NULL;
		case jbvBool:
			return json_object_new_boolean(v->val.boolean);
		case jbvString:
			return json_object_new_string_len(v->val.string.val, v->val.string.len);
		case jbvNumeric:
			return numeric_to_jsonc(v->val.numeric);
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
	return NULL;				/* keep compiler quiet */
}

/* Attach child to the container on top of the stack (or make it the result) */
static void
attach_value(json_object **stack, int depth, const char *key, int keylen,
			 json_object *child, json_object **result)
{
	json_object *parent;

	if (depth == 0)
	{
		*result = child;
		return;
	}
	parent = stack[depth - 1];
	if (json_object_is_type(parent, json_type_array))
		json_object_array_add(parent, child);
	else
		json_object_object_add_ex(parent, pnstrdup(key, keylen), child,
								  JSON_C_OBJECT_ADD_KEY_IS_NEW);
}

/*
 * Convert a jsonb value to a new json-c reference (NULL for JSON null).
 *
 * json_object_object_add_ex copies the key (no KEY_IS_CONSTANT flag), so
 * the palloc'd copy made above only has to live until the call returns;
 * jsonb keys are unique already, which is why KEY_IS_NEW is safe.
 */
json_object *
OfJsonbToJsonc(Jsonb *jb)
{
	JsonbIterator *it = JsonbIteratorInit(&jb->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	int			max_depth = 32;
	json_object **stack = palloc(sizeof(json_object *) * max_depth);
	int			depth = 0;
	json_object *result = NULL;
	char	   *key = NULL;
	int			keylen = 0;
	bool		raw_scalar = false;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		json_object *container;

		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (v.val.array.rawScalar)
				{
					raw_scalar = true;
					continue;
				}
				/* FALLTHROUGH */
			case WJB_BEGIN_OBJECT:
				container = (tok == WJB_BEGIN_ARRAY) ? json_object_new_array()
					: json_object_new_object();
				attach_value(stack, depth, key, keylen, container, &result);
				if (depth >= max_depth)
				{
					max_depth *= 2;
					stack = repalloc(stack, sizeof(json_object *) * max_depth);
				}
				stack[depth++] = container;
				break;
			case WJB_KEY:
				key = v.val.string.val;
				keylen = v.val.string.len;
				break;
			case WJB_VALUE:
			case WJB_ELEM:
				if (raw_scalar)
					result = scalar_to_jsonc(&v);
				else
					attach_value(stack, depth, key, keylen, scalar_to_jsonc(&v), &result);
				break;
			case WJB_END_ARRAY:
				if (raw_scalar)
					break;
				/* FALLTHROUGH */
			case WJB_END_OBJECT:
				depth--;
				break;
			default:
				break;
		}
	}
	pfree(stack);
	return result;
}

/* Convert a json-c number to a numeric JsonbValue */
static void
number_to_jsonbvalue(json_object *v, JsonbValue *out)
{
	out->type = jbvNumeric;
	if (json_object_is_type(v, json_type_int))
	{
		out->val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric,
															   Int64GetDatum(json_object_get_int64(v))));
		return;
	}
	if (!isfinite(json_object_get_double(v)))
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("a workflow value is not a finite number"),
				 errdetail("JSON numbers cannot be NaN or infinite.")));
	out->val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														   CStringGetDatum(json_object_to_json_string(v)),
														   ObjectIdGetDatum(InvalidOid),
														   Int32GetDatum(-1)));
}

/* Convert a json-c string, refusing what jsonb cannot store */
static void
string_to_jsonbvalue(json_object *v, JsonbValue *out)
{
	const char *s = json_object_get_string(v);
	int			len = json_object_get_string_len(v);

	if (memchr(s, '\0', len) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNTRANSLATABLE_CHARACTER),
				 errmsg("a workflow string contains a NUL character"),
				 errdetail("PostgreSQL jsonb cannot store \\u0000.")));
	pg_verifymbstr(s, len, false);
	out->type = jbvString;
	out->val.string.val = (char *) s;
	out->val.string.len = len;
}

/* Convert a json-c scalar (or null) into a JsonbValue */
static void
scalar_to_jsonbvalue(json_object *v, JsonbValue *out)
{
	switch (json_object_get_type(v))
	{
		case json_type_null:
			out->type = jbvNull;
			break;
		case json_type_boolean:
			out->type = jbvBool;
			out->val.boolean = json_object_get_boolean(v);
			break;
		case json_type_int:
		case json_type_double:
			number_to_jsonbvalue(v, out);
			break;
		case json_type_string:
			string_to_jsonbvalue(v, out);
			break;
		default:
			elog(ERROR, "unexpected json-c type %d", (int) json_object_get_type(v));
	}
}

/* Push a json-c value into a jsonb parse state, recursively */
static JsonbValue *
push_jsonc(JsonbParseState **state, json_object *v, JsonbIteratorToken tok)
{
	JsonbValue	scalar;
	JsonbValue *res = NULL;

	check_stack_depth();
	if (json_object_is_type(v, json_type_object))
	{
		struct json_object_iterator iter = json_object_iter_begin(v);
		struct json_object_iterator end = json_object_iter_end(v);

		pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
		for (; !json_object_iter_equal(&iter, &end); json_object_iter_next(&iter))
		{
			JsonbValue	key;
			const char *name = json_object_iter_peek_name(&iter);

			key.type = jbvString;
			key.val.string.val = (char *) name;
			key.val.string.len = strlen(name);
			pushJsonbValue(state, WJB_KEY, &key);
			push_jsonc(state, json_object_iter_peek_value(&iter), WJB_VALUE);
		}
		return pushJsonbValue(state, WJB_END_OBJECT, NULL);
	}
	if (json_object_is_type(v, json_type_array))
	{
		size_t		n = json_object_array_length(v);

		pushJsonbValue(state, WJB_BEGIN_ARRAY, NULL);
		for (size_t i = 0; i < n; i++)
			push_jsonc(state, json_object_array_get_idx(v, i), WJB_ELEM);
		return pushJsonbValue(state, WJB_END_ARRAY, NULL);
	}
	scalar_to_jsonbvalue(v, &scalar);
	res = pushJsonbValue(state, tok, &scalar);
	return res;
}

/* Convert a json-c value (NULL = JSON null) to a new jsonb */
Jsonb *
OfJsoncToJsonb(json_object *v)
{
	JsonbParseState *state = NULL;

	if (!json_object_is_type(v, json_type_object) &&
		!json_object_is_type(v, json_type_array))
	{
		JsonbValue	scalar;

		scalar_to_jsonbvalue(v, &scalar);
		return JsonbValueToJsonb(&scalar);
	}
	return JsonbValueToJsonb(push_jsonc(&state, v, WJB_VALUE));
}

/* Parse JSON text into json-c, raising a user-facing error on bad input */
json_object *
OfTextToJsonc(const char *text)
{
	json_object *result;
	OfError		err;

	if (!of_json_parse(text, strlen(text), 10000, &result, &err))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid JSON"),
				 errdetail("%s", err.cause)));
	return result;
}
