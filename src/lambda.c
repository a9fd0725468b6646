/*-------------------------------------------------------------------------
 *
 * lambda.c
 *	  The Lambda optimized integration ("arn:aws:states:::lambda:invoke"):
 *	  FunctionName forms, the registrations that serve them, the checks of
 *	  a Task's Parameters, and the AWS shapes of results and errors.
 *
 * A FunctionName never reaches the catalog as SQL: it only selects a
 * register_resource() registration (definition.c looks them up, for the
 * definition's creator when it is static, for the execution's owner when
 * it comes from FunctionName.$).  Names are checked against the character
 * sets AWS allows, except that region and account may be any word, so
 * the placeholders of a template (REGION, ACCOUNT_ID) are accepted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lambda.h"

#include "lib/stringinfo.h"
#include "utils/uuid.h"

#define OF_LAMBDA_WAIT OF_LAMBDA_INVOKE ".waitForTaskToken"
#define OF_LAMBDA_MAX_NAME 64		/* AWS: function names */
#define OF_LAMBDA_MAX_QUALIFIER 128 /* AWS: version or alias */
#define OF_LAMBDA_MAX_TEXT 256		/* AWS: a FunctionName ARN is up to 170 */

/* See lambda.h */
bool
OfIsLambdaInvoke(const char *resource)
{
	return resource != NULL &&
		(strcmp(resource, OF_LAMBDA_INVOKE) == 0 || strcmp(resource, OF_LAMBDA_WAIT) == 0);
}

/* Letters, digits, '-' and '_' only (and '$' where allowed), 1..max long */
static bool
is_word(const char *s, int max, bool dollar)
{
	int			n = 0;

	for (; *s; s++, n++)
	{
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
			  (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || (dollar && *s == '$')))
			return false;
	}
	return n > 0 && n <= max;
}

/* A qualifier: $LATEST, a version number, or an alias name */
static bool
is_qualifier(const char *q)
{
	return strcmp(q, "$LATEST") == 0 || is_word(q, OF_LAMBDA_MAX_QUALIFIER, false);
}

/* See lambda.h */
const char *
OfLambdaParseFunctionName(const char *text, const char *qualifier, OfLambdaFunction *f)
{
	char	   *copy;
	char	   *parts[9];
	int			n = 0;
	char	   *p;
	int			name_at;

	memset(f, 0, sizeof(*f));
	if (text == NULL || text[0] == '\0')
		return "FunctionName must not be empty";
	if (strlen(text) > OF_LAMBDA_MAX_TEXT)
		return psprintf("FunctionName is longer than %d characters", OF_LAMBDA_MAX_TEXT);
	copy = pstrdup(text);
	for (p = copy;;)
	{
		char	   *colon = strchr(p, ':');

		if (n == lengthof(parts))
			return "FunctionName has too many ':'-separated parts";
		parts[n++] = p;
		if (colon == NULL)
			break;
		*colon = '\0';
		p = colon + 1;
	}
	if (strcmp(parts[0], "arn") == 0)
	{
		/* arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER] */
		if ((n != 7 && n != 8) || strncmp(parts[1], "aws", 3) != 0 ||
			!is_word(parts[1], 16, false) || strcmp(parts[2], "lambda") != 0 ||
			strcmp(parts[5], "function") != 0)
			return "a FunctionName ARN has the form arn:aws:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]";
		if (!is_word(parts[3], 64, false) || !is_word(parts[4], 64, false))
			return "the region and account of a FunctionName ARN are words of letters, digits, '-' and '_'";
		f->region = parts[3];
		f->account = parts[4];
		f->unqualified = psprintf("arn:%s:lambda:%s:%s:function:%s",
								  parts[1], parts[3], parts[4], parts[6]);
		name_at = 6;
	}
	else if (n >= 3 && strcmp(parts[1], "function") == 0)
	{
		/* ACCOUNT:function:NAME[:QUALIFIER], a partial ARN */
		if (n > 4 || !is_word(parts[0], 64, false))
			return "a partial FunctionName ARN has the form ACCOUNT:function:NAME[:QUALIFIER]";
		f->account = parts[0];
		name_at = 2;
	}
	else
	{
		if (n > 2)
			return "FunctionName is a name, NAME:QUALIFIER, ACCOUNT:function:NAME or an ARN arn:aws:lambda:REGION:ACCOUNT:function:NAME";
		name_at = 0;
	}
	if (!is_word(parts[name_at], OF_LAMBDA_MAX_NAME, false))
		return psprintf("function name \"%s\" is not 1 to %d letters, digits, '-' or '_'",
						parts[name_at], OF_LAMBDA_MAX_NAME);
	f->name = parts[name_at];
	if (name_at + 1 < n)
	{
		if (!is_qualifier(parts[name_at + 1]))
			return psprintf("qualifier \"%s\" is neither $LATEST, a version number nor an alias name",
							parts[name_at + 1]);
		f->qualifier = parts[name_at + 1];
		f->qualifier_in_text = true;
	}
	if (qualifier != NULL)
	{
		if (!is_qualifier(qualifier))
			return psprintf("Qualifier \"%s\" is neither $LATEST, a version number nor an alias name",
							qualifier);
		if (f->qualifier != NULL && strcmp(f->qualifier, qualifier) != 0)
			return psprintf("FunctionName has qualifier \"%s\" and Qualifier says \"%s\"; give one",
							f->qualifier, qualifier);
		f->qualifier = pstrdup(qualifier);
	}
	return NULL;
}

/* See lambda.h */
char *
OfLambdaBindingKey(const char *text, const char *qualifier)
{
	return qualifier ? psprintf("%s%s:%s", OF_LAMBDA_BINDING_PREFIX, text, qualifier)
		: psprintf("%s%s", OF_LAMBDA_BINDING_PREFIX, text);
}

/* Append key unless it is there already */
static List *
add_key(List *keys, char *key)
{
	ListCell   *lc;

	foreach(lc, keys)
	{
		if (strcmp((char *) lfirst(lc), key) == 0)
			return keys;
	}
	return lappend(keys, key);
}

/* See lambda.h */
List *
OfLambdaRegistrationKeys(const char *text, const OfLambdaFunction *f)
{
	List	   *keys = NIL;

	/* as written, with a separate Qualifier parameter appended */
	keys = add_key(keys, (f->qualifier != NULL && !f->qualifier_in_text)
				   ? psprintf("%s:%s", text, f->qualifier) : pstrdup(text));
	/* an unqualified ARN registration serves every qualifier of it */
	if (f->unqualified != NULL)
		keys = add_key(keys, pstrdup(f->unqualified));
	/* a bare name serves every region and account */
	if (f->qualifier != NULL)
		keys = add_key(keys, psprintf("%s:%s", f->name, f->qualifier));
	keys = add_key(keys, pstrdup(f->name));
	return keys;
}

/* See lambda.h */
const char *
OfLambdaExecutedVersion(const OfLambdaFunction *f)
{
	const char *q = f->qualifier;

	if (q == NULL || q[0] == '\0')
		return "$LATEST";
	for (const char *p = q; *p; p++)
	{
		if (*p < '0' || *p > '9')
			return "$LATEST";
	}
	return q;
}

/* Report one problem at location/field */
static void
report_at(OfReportFn report, void *arg, const char *code, const char *location,
		  const char *field, const char *message)
{
	report(arg, "ERROR", code, psprintf("%s/%s", location, field), message);
}

/* A static string parameter, or NULL (reported when not a string) */
static const char *
string_param(json_object *params, const char *key, const char *location,
			 OfReportFn report, void *arg, bool *ok)
{
	json_object *v;

	if (!json_object_object_get_ex(params, key, &v))
		return NULL;
	if (!json_object_is_type(v, json_type_string))
	{
		report_at(report, arg, "INVALID_TYPE", location, key,
				  psprintf("%s must be a string", key));
		*ok = false;
		return NULL;
	}
	return json_object_get_string(v);
}

/* See lambda.h */
bool
OfLambdaCheckParameters(json_object *params, const char *location,
						OfReportFn report, void *arg,
						const char **function_name, const char **qualifier)
{
	bool		ok = true;
	bool		is_static;
	bool		is_dynamic;
	const char *invocation;
	const char *log_type;
	OfLambdaFunction f;

	*function_name = NULL;
	*qualifier = NULL;
	if (params == NULL || !json_object_is_type(params, json_type_object))
	{
		report(arg, "ERROR", "MISSING_FIELD", location,
			   "a Task on " OF_LAMBDA_INVOKE " needs Parameters, an object with FunctionName and Payload");
		return false;
	}
	json_object_object_foreach(params, key, val)
	{
		(void) val;
		if (strcmp(key, "FunctionName") == 0 || strcmp(key, "FunctionName.$") == 0 ||
			strcmp(key, "Payload") == 0 || strcmp(key, "Payload.$") == 0 ||
			strcmp(key, "InvocationType") == 0 || strcmp(key, "Qualifier") == 0 ||
			strcmp(key, "ClientContext") == 0 || strcmp(key, "ClientContext.$") == 0 ||
			strcmp(key, "LogType") == 0)
			continue;
		report_at(report, arg, "UNSUPPORTED_FIELD", location, key,
				  psprintf("Parameters field \"%s\" is not supported by " OF_LAMBDA_INVOKE
						   " (FunctionName, Payload, Qualifier, InvocationType, ClientContext, LogType are; "
						   "InvocationType and Qualifier must be literal)", key));
		ok = false;
	}
	is_static = json_object_object_get_ex(params, "FunctionName", NULL);
	is_dynamic = json_object_object_get_ex(params, "FunctionName.$", NULL);
	if (is_static == is_dynamic)
	{
		report(arg, "ERROR", "MISSING_FIELD", location,
			   is_static ? "Parameters has both FunctionName and FunctionName.$; give one"
			   : "Parameters needs FunctionName (or FunctionName.$), the function to invoke");
		return false;
	}
	invocation = string_param(params, "InvocationType", location, report, arg, &ok);
	if (invocation != NULL && strcmp(invocation, "RequestResponse") != 0)
	{
		report_at(report, arg, "UNSUPPORTED_FIELD", location, "InvocationType",
				  strcmp(invocation, "Event") == 0 || strcmp(invocation, "DryRun") == 0
				  ? psprintf("InvocationType \"%s\" is not supported: a task runs in the step that calls it "
							 "(use RequestResponse, or leave it out)", invocation)
				  : psprintf("InvocationType must be RequestResponse, Event or DryRun, got \"%s\"", invocation));
		ok = false;
	}
	log_type = string_param(params, "LogType", location, report, arg, &ok);
	if (log_type != NULL && strcmp(log_type, "None") != 0 && strcmp(log_type, "Tail") != 0)
	{
		report_at(report, arg, "INVALID_VALUE", location, "LogType",
				  psprintf("LogType must be None or Tail, got \"%s\"", log_type));
		ok = false;
	}
	(void) string_param(params, "ClientContext", location, report, arg, &ok);
	*qualifier = string_param(params, "Qualifier", location, report, arg, &ok);
	if (is_static)
	{
		const char *problem;

		*function_name = string_param(params, "FunctionName", location, report, arg, &ok);
		if (*function_name == NULL)
			return false;
		problem = OfLambdaParseFunctionName(*function_name, *qualifier, &f);
		if (problem != NULL)
		{
			report_at(report, arg, "INVALID_VALUE", location, "FunctionName", problem);
			return false;
		}
	}
	else if (*qualifier != NULL && !is_qualifier(*qualifier))
	{
		report_at(report, arg, "INVALID_VALUE", location, "Qualifier",
				  psprintf("Qualifier \"%s\" is neither $LATEST, a version number nor an alias name",
						   *qualifier));
		ok = false;
	}
	return ok;
}

/* See lambda.h */
char *
OfLambdaRequestId(void)
{
	pg_uuid_t	id;

	OfRandomUuid(&id);
	return OfUuidText(&id);
}

/* {"name": value} and {"name": [value]} header entries */
static void
add_header(json_object *all, json_object *plain, const char *name, const char *value)
{
	json_object *list = json_object_new_array();

	json_object_array_add(list, json_object_new_string(value));
	json_object_object_add(all, name, list);
	json_object_object_add(plain, name, json_object_new_string(value));
}

/* See lambda.h */
json_object *
OfLambdaResult(json_object *payload, const char *executed_version, const char *request_id)
{
	json_object *result = json_object_new_object();
	json_object *http = json_object_new_object();
	json_object *all = json_object_new_object();
	json_object *plain = json_object_new_object();
	json_object *meta = json_object_new_object();

	add_header(all, plain, "Content-Type", "application/json");
	add_header(all, plain, "X-Amz-Executed-Version", executed_version);
	add_header(all, plain, "x-amzn-RequestId", request_id);
	json_object_object_add(http, "AllHttpHeaders", all);
	json_object_object_add(http, "HttpHeaders", plain);
	json_object_object_add(http, "HttpStatusCode", json_object_new_int(200));
	json_object_object_add(meta, "RequestId", json_object_new_string(request_id));

	json_object_object_add(result, "ExecutedVersion", json_object_new_string(executed_version));
	json_object_object_add(result, "Payload", payload ? json_object_get(payload) : NULL);
	json_object_object_add(result, "SdkHttpMetadata", http);
	json_object_object_add(result, "SdkResponseMetadata", meta);
	json_object_object_add(result, "StatusCode", json_object_new_int(200));
	return result;
}

/* See lambda.h */
char *
OfLambdaErrorCause(const char *error, const char *cause, const char *request_id)
{
	json_object *o = json_object_new_object();
	char	   *text;
	char	   *result;

	json_object_object_add(o, "errorMessage", json_object_new_string(cause ? cause : ""));
	json_object_object_add(o, "errorType", json_object_new_string(error));
	json_object_object_add(o, "requestId", json_object_new_string(request_id));
	json_object_object_add(o, "stackTrace", json_object_new_array());
	text = of_json_to_string(o);
	result = pstrdup(text);
	free(text);
	json_object_put(o);
	return result;
}
