/*-------------------------------------------------------------------------
 *
 * definition.c
 *	  Validate definitions, resolve Task resources to functions, and keep
 *	  parsed definitions in a per-backend cache.
 *
 * Versions are immutable, so a cached parse never goes stale: the cache is
 * keyed by the version's definition_id (a fresh UUID for every stored
 * version, even when a deleted state machine is created again).  What can
 * go stale is the function a Resource names: a version stores signatures
 * (text), resolved to OIDs when it is loaded and again whenever pg_proc
 * changed since (a syscache callback on PROCOID counts the changes), so a
 * dropped function is noticed and a dump restored elsewhere binds the
 * functions of the new cluster.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "definition.h"
#include "storage.h"
#include "callback.h"
#include "jsonb_conv.h"
#include "lambda.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_namespace.h"
#include "catalog/namespace.h"
#include "lib/ilist.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "parser/parse_func.h"
#include "parser/scansup.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/regproc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* ---------------------------------------------------------------------
 * Resource resolution
 * --------------------------------------------------------------------- */

static Oid	resolve_name(const char *signature, PGFunction in);

/* State shared by the parser callbacks while validating one definition */
typedef struct ValidationState
{
	List	   *problems;		/* OfProblem * */
	List	   *bindings;		/* OfBinding * */
	MemoryContext cxt;			/* where problems and bindings are kept */
} ValidationState;

/* Collect one problem reported by the parser */
static void
collect_problem(void *arg, const char *severity, const char *code,
				const char *location, const char *message)
{
	ValidationState *vs = arg;
	MemoryContext old = MemoryContextSwitchTo(vs->cxt ? vs->cxt : CurrentMemoryContext);
	OfProblem  *p = palloc(sizeof(OfProblem));

	p->severity = pstrdup(severity);
	p->code = pstrdup(code);
	p->location = pstrdup(location);
	p->message = pstrdup(message);
	p->hint = NULL;
	vs->problems = lappend(vs->problems, p);
	MemoryContextSwitchTo(old);
}

/*
 * Is text a plain function name, optionally schema-qualified?  Anything
 * else (quotes, spaces, parentheses, SQL) is refused before it reaches
 * the catalog lookup, so a Resource can never become SQL text.
 */
static bool
is_plain_function_name(const char *text)
{
	int			dots = 0;
	bool		at_start = true;

	for (const char *p = text; *p; p++)
	{
		if (*p == '.')
		{
			if (at_start || ++dots > 1)
				return false;
			at_start = true;
			continue;
		}
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_' ||
			  (!at_start && ((*p >= '0' && *p <= '9') || *p == '$'))))
			return false;
		at_start = false;
	}
	return !at_start && strlen(text) < NAMEDATALEN * 2;
}

/* Look a function up by name with (jsonb, jsonb) or (jsonb) arguments */
static Oid
lookup_task_function(const char *name, int *nargs)
{
	List	   *names = NIL;
	char	   *copy = pstrdup(name);
	char	   *dot = strchr(copy, '.');
	Oid			argtypes[2] = {JSONBOID, JSONBOID};
	Oid			fn;

	/* unquoted identifiers fold to lower case, as in SQL */
	if (dot != NULL)
	{
		Oid			nsp;

		*dot = '\0';
		/* LookupFuncName raises on a schema we may not use: check first */
		nsp = get_namespace_oid(downcase_identifier(copy, strlen(copy), false, false), true);
		if (!OidIsValid(nsp) ||
			pg_namespace_aclcheck(nsp, GetUserId(), ACL_USAGE) != ACLCHECK_OK)
			return InvalidOid;
		names = lappend(names, makeString(downcase_identifier(copy, strlen(copy), false, false)));
		names = lappend(names, makeString(downcase_identifier(dot + 1, strlen(dot + 1), false, false)));
	}
	else
		names = lappend(names, makeString(downcase_identifier(copy, strlen(copy), false, false)));

	fn = LookupFuncName(names, 2, argtypes, true);
	*nargs = 2;
	if (!OidIsValid(fn))
	{
		fn = LookupFuncName(names, 1, argtypes, true);
		*nargs = 1;
	}
	return fn;
}

/* Explain why fn cannot be a task function, or return NULL if it can */
static const char *
task_function_problem(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	const char *problem = NULL;

	if (!HeapTupleIsValid(tup))
		return "the function does not exist any more";
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prokind != PROKIND_FUNCTION)
		problem = "it is not a plain function (procedures and aggregates cannot be tasks)";
	else if (proc->proretset)
		problem = "it returns a set; a task function returns one jsonb value";
	else if (proc->prorettype != JSONBOID)
		problem = "it does not return jsonb";
	ReleaseSysCache(tup);
	if (problem == NULL &&
		pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		problem = "you do not have EXECUTE privilege on it";
	return problem;
}

/*
 * The function a registered resource (register_resource) is bound to for
 * `creator` (the caller at create time; an execution's owner for a
 * FunctionName.$ resolved at run time).  Registrations are per owner; the creator's
 * own wins, else one of a role whose privileges the creator has, else a
 * superuser's.  Nobody else's counts: otherwise anyone could squat a
 * Resource string that another role's definitions will use and run their
 * own code with that role's rights.  Two candidates of the best rank that
 * are not the creator's own are ambiguous: *problem says so.
 */
static char *
find_registration(Oid creator, const char *resource, const char **problem)
{
	Datum		arg = CStringGetTextDatum(resource);
	OfOwnerSwitch sw;
	char	   *best = NULL;
	int			best_rank = 3;
	int			at_best = 0;

	*problem = NULL;
	/* every role's registrations: the creator may not see them all */
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_FIND_RESOURCE, &arg, NULL, true, 0);
	OfRestoreIdentity(&sw);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														   SPI_tuptable->tupdesc, Anum_find_resource_owner, &isnull));
		int			rank;

		if (owner == creator)
			rank = 0;
		else if (has_privs_of_role(creator, owner))
			rank = 1;
		else if (superuser_arg(owner))
			rank = 2;
		else
			continue;
		if (rank < best_rank)
		{
			best_rank = rank;
			best = SPI_getvalue(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, Anum_find_resource_fn);
			at_best = 1;
		}
		else if (rank == best_rank)
			at_best++;
	}
	if (at_best > 1)
	{
		*problem = psprintf("Resource \"%s\" is registered by several roles whose registrations you may use, "
							"and it is not clear which one is meant; register your own with "
							"orderflow.register_resource('%s', <function>) to choose", resource, resource);
		return NULL;
	}
	return best;
}

/* The function a registration names (see find_registration) */
static Oid
find_registered_resource(Oid creator, const char *resource, const char **problem)
{
	char	   *best = find_registration(creator, resource, problem);
	Oid			fn;

	if (best == NULL)
		return InvalidOid;
	if (strncmp(best, OF_TABLE_BINDING_PREFIX, strlen(OF_TABLE_BINDING_PREFIX)) == 0)
	{
		*problem = psprintf("Resource \"%s\" is registered to table %s, a ResultWriter target; "
							"it cannot be a Task or an ItemReader", resource,
							best + strlen(OF_TABLE_BINDING_PREFIX));
		return InvalidOid;
	}
	/* registrations are kept by signature too (they survive a restore) */
	fn = OfResolveSignature(best);
	if (!OidIsValid(fn))
		*problem = psprintf("Resource \"%s\" is registered to function %s, which does not exist; "
							"create it, or register the resource again", resource, best);
	return fn;
}

/* Record a binding once per resource string; returns it */
static OfBinding *
add_binding(ValidationState *vs, const char *resource, Oid fn, int nargs)
{
	ListCell   *lc;
	OfBinding  *b;
	MemoryContext old;

	foreach(lc, vs->bindings)
	{
		if (strcmp(((OfBinding *) lfirst(lc))->resource, resource) == 0)
			return lfirst(lc);
	}
	old = MemoryContextSwitchTo(vs->cxt ? vs->cxt : CurrentMemoryContext);
	b = palloc0(sizeof(OfBinding));
	b->resource = pstrdup(resource);
	b->fn = fn;
	b->nargs = nargs;
	vs->bindings = lappend(vs->bindings, b);
	MemoryContextSwitchTo(old);
	return b;
}

/*
 * An activity Resource: does the activity exist, and may the creator bind
 * it?  Only with the privileges of the activity's owner: the activity's
 * workers receive the task inputs and decide the task results.
 */
static bool
activity_resource_ok(const char *activity, char *message, size_t message_size)
{
	Datum		arg = CStringGetTextDatum(activity);
	Oid			creator = GetUserId();
	OfOwnerSwitch sw;
	bool		isnull;
	Oid			owner;
	bool		deleted;

	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_ACTIVITY_FIND, &arg, NULL, true, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed > 0)
	{
		owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_owner, &isnull));
		deleted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_deleted, &isnull));
		if (!has_privs_of_role(creator, owner))
		{
			snprintf(message, message_size,
					 "activity \"%s\" belongs to a role whose privileges you do not have; "
					 "a definition may only use activities of its creator's roles", activity);
			return false;
		}
		if (!deleted)
			return true;
	}
	snprintf(message, message_size,
			 "activity \"%s\" does not exist; create it with orderflow.create_activity('%s')",
			 activity, activity);
	return false;
}

/*
 * Parser callback: can this Task Resource run?  A registered resource
 * string wins; otherwise the Resource must name a function.
 */
static bool
resolve_resource(void *arg, const char *resource, char *message, size_t message_size)
{
	ValidationState *vs = arg;
	char	   *name;
	OfResourceKind kind = OfClassifyResource(resource, &name);
	Oid			fn;
	int			nargs = 0;
	const char *problem;

	/* the Lambda integration: checked with its Parameters (check_lambda_tasks) */
	if (OfIsLambdaInvoke(resource))
		return true;
	/* "activity:NAME" or an activity ARN: the activity must exist */
	if (kind == OF_RESOURCE_ACTIVITY)
		return activity_resource_ok(name, message, message_size);
	/* "X.waitForTaskToken": X is resolved, the binding keeps the whole string */
	fn = find_registered_resource(GetUserId(), resource, &problem);
	if (!OidIsValid(fn) && problem == NULL && kind == OF_RESOURCE_CALLBACK)
		fn = find_registered_resource(GetUserId(), name, &problem);
	if (problem != NULL)
	{
		snprintf(message, message_size, "%s", problem);
		return false;
	}
	if (OidIsValid(fn))
		nargs = get_func_nargs(fn);
	else if (!is_plain_function_name(name))
	{
		snprintf(message, message_size,
				 "Resource \"%s\" is neither a registered resource nor a function name; "
				 "bind it with orderflow.register_resource()", resource);
		return false;
	}
	else
	{
		fn = lookup_task_function(name, &nargs);
		if (!OidIsValid(fn))
		{
			snprintf(message, message_size,
					 "function %s(jsonb) or %s(jsonb, jsonb) does not exist", name, name);
			return false;
		}
	}
	problem = task_function_problem(fn);
	if (problem != NULL)
	{
		snprintf(message, message_size, "Resource \"%s\" cannot be used: %s",
				 resource, problem);
		return false;
	}
	add_binding(vs, resource, fn, nargs);
	return true;
}

/* Explain why fn cannot read Map items, or return NULL if it can */
static const char *
item_reader_problem(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	const char *problem = NULL;

	if (!HeapTupleIsValid(tup))
		return "the function does not exist";
	proc = (Form_pg_proc) GETSTRUCT(tup);
	if (proc->prokind != PROKIND_FUNCTION || !proc->proretset ||
		proc->prorettype != JSONBOID || proc->pronargs != 1 ||
		proc->proargtypes.values[0] != JSONBOID)
		problem = "an ItemReader function takes (jsonb) and RETURNS SETOF jsonb";
	ReleaseSysCache(tup);
	if (problem == NULL &&
		pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		problem = "you do not have EXECUTE privilege on it";
	return problem;
}

/*
 * Map ItemReader (an orderflow extension of ASL): {"Resource": "schema.fn",
 * "Parameters": {...}, "ReaderConfig": {"MaxItems": n}} where fn(jsonb)
 * RETURNS SETOF jsonb; resolved to its OID when the version is stored.
 */
static void
check_item_readers(ValidationState *vs, OfMachine *m)
{
	for (int i = 0; i < m->n_states; i++)
	{
		OfState    *st = &m->states[i];
		json_object *res = NULL;
		const char *loc;
		const char *name;
		Oid			fn;
		int			nargs;
		const char *problem;

		for (int b = 0; b < st->n_branches; b++)
			check_item_readers(vs, st->branches[b]);
		if (st->iterator != NULL)
			check_item_readers(vs, st->iterator);
		if (st->type != OF_STATE_MAP || st->item_reader == NULL)
			continue;
		loc = psprintf("%s/ItemReader/Resource", st->location);
		if (!json_object_object_get_ex(st->item_reader, "Resource", &res) ||
			!json_object_is_type(res, json_type_string))
		{
			collect_problem(vs, "ERROR", "MISSING_FIELD", loc,
							"an ItemReader needs a Resource naming a function (jsonb) RETURNS SETOF jsonb");
			continue;
		}
		name = json_object_get_string(res);
		fn = find_registered_resource(GetUserId(), name, &problem);
		if (problem != NULL)
		{
			collect_problem(vs, "ERROR", "RESOURCE_NOT_FOUND", loc, problem);
			continue;
		}
		if (!OidIsValid(fn) && is_plain_function_name(name))
			fn = lookup_task_function(name, &nargs);
		problem = OidIsValid(fn) ? item_reader_problem(fn) : "no such function";
		if (problem != NULL)
			collect_problem(vs, "ERROR", "RESOURCE_NOT_FOUND", loc,
							psprintf("ItemReader Resource \"%s\" cannot be used: %s", name, problem));
		else
			add_binding(vs, name, fn, 1);
	}
}

static bool usable_bound_function(Oid fn, int *nargs, bool *retset);

/* "a", "b" or "c": the registration strings tried, for a message */
static char *
key_list(List *keys)
{
	StringInfoData buf;
	ListCell   *lc;

	initStringInfo(&buf);
	foreach(lc, keys)
		appendStringInfo(&buf, "%s\"%s\"", buf.len == 0 ? "" :
						 lnext(keys, lc) == NULL ? " or " : ", ", (char *) lfirst(lc));
	return buf.data;
}

/* See definition.h */
Oid
OfFindLambdaFunction(Oid role, const char *text, const OfLambdaFunction *f,
					 int *nargs, const char **problem)
{
	ListCell   *lc;
	bool		retset;

	*problem = NULL;
	*nargs = 0;
	foreach(lc, OfLambdaRegistrationKeys(text, f))
	{
		Oid			fn = find_registered_resource(role, lfirst(lc), problem);

		if (*problem != NULL)
			return InvalidOid;
		if (!OidIsValid(fn))
			continue;
		if (!usable_bound_function(fn, nargs, &retset) || retset)
		{
			*problem = psprintf("resource \"%s\" is registered to %s, which is not a task function "
								"(fn(jsonb) or fn(jsonb, jsonb) RETURNS jsonb)",
								(char *) lfirst(lc), OfFunctionSignature(fn));
			return InvalidOid;
		}
		return fn;
	}
	return InvalidOid;
}

/*
 * A FunctionName's binding key ("lambda:NAME") is also a string a bare
 * Task Resource could use; the bindings map has one entry per key, so the
 * two must not name different functions (bare Resources are resolved
 * first, while parsing).
 */
static const char *
binding_conflict(ValidationState *vs, const char *key, Oid fn)
{
	ListCell   *lc;

	foreach(lc, vs->bindings)
	{
		OfBinding  *b = lfirst(lc);

		if (strcmp(b->resource, key) == 0 && b->fn != fn)
			return psprintf("this FunctionName is stored under the key \"%s\", which a Task Resource of "
							"this definition binds to another function (%s); rename that Resource",
							key, OfFunctionSignature(b->fn));
	}
	return NULL;
}

/*
 * Tasks on arn:aws:states:::lambda:invoke: check their Parameters and bind
 * a static FunctionName for the creator, as a bare function ARN is bound
 * (the binding key is OfLambdaBindingKey).  A FunctionName.$ is resolved
 * when the task runs, for the execution's owner (executor.c).
 */
static void
check_lambda_tasks(ValidationState *vs, OfMachine *m)
{
	for (int i = 0; i < m->n_states; i++)
	{
		OfState    *st = &m->states[i];
		const char *loc;
		const char *text;
		const char *qualifier;
		const char *problem;
		OfLambdaFunction f;
		Oid			fn;
		int			nargs;

		for (int b = 0; b < st->n_branches; b++)
			check_lambda_tasks(vs, st->branches[b]);
		if (st->iterator != NULL)
			check_lambda_tasks(vs, st->iterator);
		if (st->type != OF_STATE_TASK || !OfIsLambdaInvoke(st->resource))
			continue;
		loc = psprintf("%s/Parameters", st->location);
		if (!OfLambdaCheckParameters(st->parameters_src, loc, collect_problem, vs,
									 &text, &qualifier) || text == NULL)
			continue;
		(void) OfLambdaParseFunctionName(text, qualifier, &f);
		loc = psprintf("%s/Parameters/FunctionName", st->location);
		fn = OfFindLambdaFunction(GetUserId(), text, &f, &nargs, &problem);
		if (problem == NULL && !OidIsValid(fn))
			problem = psprintf("FunctionName \"%s\" is not bound to a function: none of %s is registered "
							   "by you, a role whose privileges you have, or a superuser; bind it with "
							   "orderflow.register_resource('%s', 'schema.fn(jsonb)'::regprocedure)",
							   text, key_list(OfLambdaRegistrationKeys(text, &f)),
							   (char *) linitial(OfLambdaRegistrationKeys(text, &f)));
		if (problem == NULL && task_function_problem(fn) != NULL)
			problem = psprintf("FunctionName \"%s\" is bound to %s, which cannot be used: %s",
							   text, OfFunctionSignature(fn), task_function_problem(fn));
		if (problem == NULL)
			problem = binding_conflict(vs, OfLambdaBindingKey(text, qualifier), fn);
		if (problem != NULL)
		{
			collect_problem(vs, "ERROR", "RESOURCE_NOT_FOUND", loc, problem);
			continue;
		}
		add_binding(vs, OfLambdaBindingKey(text, qualifier), fn, nargs);
	}
}

/* Record a problem with the fix for errhint (OfReportProblems) */
static void
collect_problem_hint(ValidationState *vs, const char *code, const char *location,
					 const char *message, const char *hint)
{
	MemoryContext old;

	collect_problem(vs, "ERROR", code, location, message);
	old = MemoryContextSwitchTo(vs->cxt ? vs->cxt : CurrentMemoryContext);
	((OfProblem *) llast(vs->problems))->hint = pstrdup(hint);
	MemoryContextSwitchTo(old);
}

/* See definition.h */
char *
OfResultWriterTarget(json_object *result_writer)
{
	json_object *params;
	json_object *bucket;
	json_object *prefix;

	if (result_writer == NULL ||
		!json_object_object_get_ex(result_writer, "Resource", NULL) ||
		!json_object_object_get_ex(result_writer, "Parameters", &params) ||
		!json_object_object_get_ex(params, "Bucket", &bucket) ||
		!json_object_is_type(bucket, json_type_string))
		return NULL;
	if (json_object_object_get_ex(params, "Prefix", &prefix) &&
		json_object_is_type(prefix, json_type_string) &&
		json_object_get_string_len(prefix) > 0)
		return psprintf("arn:aws:s3:::%s/%s", json_object_get_string(bucket),
						json_object_get_string(prefix));
	return psprintf("arn:aws:s3:::%s", json_object_get_string(bucket));
}

/* See definition.h */
const char *
OfResultTableProblem(Oid rel, Oid role)
{
	char		kind = get_rel_relkind(rel);
	AttrNumber	key = get_attnum(rel, "key");
	AttrNumber	body = get_attnum(rel, "body");

	if (kind != RELKIND_RELATION && kind != RELKIND_PARTITIONED_TABLE)
		return "it is not a table";
	/* its name (pg_temp_N.t) means another session's table to a worker */
	if (get_rel_persistence(rel) == RELPERSISTENCE_TEMP)
		return "it is a temporary table, which the workers cannot write";
	if (key == InvalidAttrNumber || get_atttype(rel, key) != TEXTOID ||
		body == InvalidAttrNumber || get_atttype(rel, body) != JSONBOID)
		return "a ResultWriter table needs the columns key text and body jsonb";
	if (pg_class_aclcheck(rel, role, ACL_INSERT) != ACLCHECK_OK)
		return "you do not have INSERT privilege on it";
	return NULL;
}

/* Explain why fn cannot receive ResultWriter objects, or return NULL if it can */
static const char *
result_function_problem(Oid fn)
{
	const char *problem = task_function_problem(fn);

	if (problem == NULL && get_func_nargs(fn) != 1)
		problem = "a ResultWriter function takes one jsonb argument";
	return problem;
}

/*
 * Map ResultWriter: the Bucket/Prefix it names must be bound, by
 * register_resource('arn:aws:s3:::bucket/prefix', function) or
 * register_resource_table(..., table), to a target the creator may call
 * or insert into (checked again as the execution's owner when it writes).
 */
static void
check_result_writers(ValidationState *vs, OfMachine *m)
{
	for (int i = 0; i < m->n_states; i++)
	{
		OfState    *st = &m->states[i];
		char	   *target;
		char	   *loc;
		char	   *registered;
		const char *problem;

		for (int b = 0; b < st->n_branches; b++)
			check_result_writers(vs, st->branches[b]);
		if (st->iterator != NULL)
			check_result_writers(vs, st->iterator);
		if (st->type != OF_STATE_MAP || (target = OfResultWriterTarget(st->result_writer)) == NULL)
			continue;
		loc = psprintf("%s/ResultWriter/Parameters", st->location);
		registered = find_registration(GetUserId(), target, &problem);
		if (problem != NULL)
		{
			collect_problem(vs, "ERROR", "RESOURCE_NOT_FOUND", loc, problem);
			continue;
		}
		if (registered == NULL)
		{
			collect_problem_hint(vs, "RESOURCE_NOT_FOUND", loc,
								 psprintf("the ResultWriter target \"%s\" is not bound to a function or a table",
										  target),
								 psprintf("Bind it with SELECT orderflow.register_resource('%s', 'schema.fn(jsonb)') "
										  "or orderflow.register_resource_table('%s', 'schema.table').",
										  target, target));
			continue;
		}
		if (strncmp(registered, OF_TABLE_BINDING_PREFIX, strlen(OF_TABLE_BINDING_PREFIX)) == 0)
		{
			Oid			rel = OfResolveTable(registered + strlen(OF_TABLE_BINDING_PREFIX));

			problem = OidIsValid(rel) ? OfResultTableProblem(rel, GetUserId()) : "the table does not exist";
			if (problem == NULL)
			{
				add_binding(vs, target, InvalidOid, 0)->table = rel;
				continue;
			}
		}
		else
		{
			Oid			fn = OfResolveSignature(registered);

			problem = OidIsValid(fn) ? result_function_problem(fn) : "the function does not exist";
			if (problem == NULL)
			{
				add_binding(vs, target, fn, 1);
				continue;
			}
		}
		collect_problem(vs, "ERROR", "RESOURCE_NOT_FOUND", loc,
						psprintf("the ResultWriter target \"%s\" is bound to %s, which cannot be used: %s",
								 target, registered, problem));
	}
}

/* Build the {"resource": "signature", ...} map stored with a version */
static Jsonb *
bindings_to_jsonb(List *bindings)
{
	json_object *map = json_object_new_object();
	ListCell   *lc;
	Jsonb	   *result;

	foreach(lc, bindings)
	{
		OfBinding  *b = lfirst(lc);

		json_object_object_add(map, b->resource,
							   json_object_new_string(OidIsValid(b->table)
													  ? OfTableSignature(b->table)
													  : OfFunctionSignature(b->fn)));
	}
	PG_TRY();
	{
		result = OfJsoncToJsonb(map);
	}
	PG_FINALLY();
	{
		json_object_put(map);
	}
	PG_END_TRY();
	return result;
}

/* ---------------------------------------------------------------------
 * Signatures
 * --------------------------------------------------------------------- */

/* See definition.h */
char *
OfTableSignature(Oid rel)
{
	return psprintf("%s%s", OF_TABLE_BINDING_PREFIX,
					quote_qualified_identifier(get_namespace_name(get_rel_namespace(rel)),
											   get_rel_name(rel)));
}

/* See definition.h */
char *
OfFunctionSignature(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	StringInfoData buf;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for function %u", fn);
	proc = (Form_pg_proc) GETSTRUCT(tup);
	initStringInfo(&buf);
	appendStringInfo(&buf, "%s(",
					 quote_qualified_identifier(get_namespace_name(proc->pronamespace),
												NameStr(proc->proname)));
	for (int i = 0; i < proc->pronargs; i++)
	{
		Oid			type = proc->proargtypes.values[i];
		HeapTuple	ttup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(type));
		bool		builtin;

		if (!HeapTupleIsValid(ttup))
			elog(ERROR, "cache lookup failed for type %u", type);
		builtin = ((Form_pg_type) GETSTRUCT(ttup))->typnamespace == PG_CATALOG_NAMESPACE;
		ReleaseSysCache(ttup);
		/* resolved with search_path = pg_catalog: qualify all other types */
		/* no space after the comma, as regprocedureout prints it */
		appendStringInfo(&buf, "%s%s", i > 0 ? "," : "",
						 builtin ? format_type_be(type) : format_type_be_qualified(type));
	}
	appendStringInfoChar(&buf, ')');
	ReleaseSysCache(tup);
	return buf.data;
}

/*
 * See definition.h.  regprocedurein raises for a missing function (and on
 * PostgreSQL 15 for a missing type or schema, or text that is no
 * signature: restored data is not ours to trust), so it runs in a
 * subtransaction whose error means "no such function".  It runs as the
 * bootstrap superuser with search_path = pg_catalog: the result must not
 * depend on who happens to load the definition into this backend's cache,
 * nor on their search_path.  A catalog lookup runs no user code.
 */
Oid
OfResolveSignature(const char *signature)
{
	/*
	 * regprocedurein takes a bare number as an OID without looking it up:
	 * an OID is exactly what must not be trusted here (0.1.0 stored them)
	 */
	if (strchr(signature, '(') == NULL)
		return InvalidOid;
	return resolve_name(signature, regprocedurein);
}

/* See definition.h; as OfResolveSignature, for a stored table name */
Oid
OfResolveTable(const char *name)
{
	/* regclassin too takes a bare number as an OID */
	if (name[0] == '\0' || strspn(name, "0123456789") == strlen(name))
		return InvalidOid;
	return resolve_name(name, regclassin);
}

/*
 * Resolve a stored name with a reg* input function (regprocedurein,
 * regclassin), see OfResolveSignature: InvalidOid when it names nothing.
 */
static Oid
resolve_name(const char *signature, PGFunction in)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	Oid			save_userid;
	int			save_sec_context;
	Oid			fn = InvalidOid;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		int			nest = NewGUCNestLevel();

		SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID,
							   save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		(void) set_config_option("search_path", "pg_catalog",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
		fn = DatumGetObjectId(DirectFunctionCall1(in, CStringGetDatum(signature)));
		AtEOXact_GUC(true, nest);
		SetUserIdAndSecContext(save_userid, save_sec_context);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		/* the subtransaction's abort restores the identity and the GUCs */
		MemoryContextSwitchTo(oldcontext);
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		fn = InvalidOid;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;
	return fn;
}

/*
 * Can fn serve a binding: a plain function of (jsonb) or (jsonb, jsonb)
 * returning jsonb (SETOF for an ItemReader)?  A function of the same
 * signature created again after a DROP may return something else; it must
 * not be called as if it returned jsonb.
 */
static bool
usable_bound_function(Oid fn, int *nargs, bool *retset)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		return false;
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->prokind == PROKIND_FUNCTION && proc->prorettype == JSONBOID &&
		(proc->pronargs == 1 || proc->pronargs == 2);
	for (int i = 0; ok && i < proc->pronargs; i++)
		ok = proc->proargtypes.values[i] == JSONBOID;
	*nargs = proc->pronargs;
	*retset = proc->proretset;
	ReleaseSysCache(tup);
	return ok;
}

/* Validate a definition given as jsonb; see definition.h */
List *
OfValidateDefinition(Jsonb *definition, Jsonb **resources_out)
{
	ValidationState vs = {NIL, NIL, CurrentMemoryContext};
	OfParseOptions opts = {0};
	char	   *text = JsonbToCString(NULL, &definition->root, VARSIZE(definition));
	MemoryContext cxt = AllocSetContextCreate(CurrentMemoryContext,
											  "orderflow validation",
											  ALLOCSET_DEFAULT_SIZES);
	MemoryContext old = MemoryContextSwitchTo(cxt);
	OfMachine  *machine;

	opts.report = collect_problem;
	opts.report_arg = &vs;
	opts.resolve = resolve_resource;
	opts.resolve_arg = &vs;
	opts.interrupted = OfEvalInterrupted;
	machine = of_machine_parse(text, strlen(text), &opts);
	MemoryContextSwitchTo(old);
	CHECK_FOR_INTERRUPTS();		/* what stopped the parse, if anything */
	if (machine != NULL)
	{
		int			before = list_length(vs.problems);

		check_item_readers(&vs, machine);
		check_lambda_tasks(&vs, machine);
		check_result_writers(&vs, machine);
		of_machine_free(machine);
		if (list_length(vs.problems) > before)
			machine = NULL;
	}
	if (machine != NULL && resources_out != NULL)
		*resources_out = bindings_to_jsonb(vs.bindings);
	/* problems and bindings live in the caller's context (vs.cxt), not cxt */
	MemoryContextDelete(cxt);
	return vs.problems;
}

/* How to fix a problem of each code: the HINT of the first ERROR */
static const struct
{
	const char *code;
	const char *fix;
}			problem_fixes[] = {
	{"INVALID_JSON", "Send the definition as one JSON object in UTF-8."},
	{"NOT_AN_OBJECT", "A definition is a JSON object with StartAt and States."},
	{"MISSING_FIELD", "Add the field the message names at that location."},
	{"UNKNOWN_FIELD", "Remove the field or correct its spelling (field names are case-sensitive; JSONata fields are not supported)."},
	{"FIELD_NOT_ALLOWED", "Remove the field: this state type (or this place) does not have it."},
	{"UNSUPPORTED_FIELD", "Remove the field: orderflow does not support it (README, \"AWS compatibility\")."},
	{"INVALID_TYPE", "Give the field a value of the JSON type the message names."},
	{"INVALID_VALUE", "Change the value as the message says (its range, format or length)."},
	{"INVALID_PATH", "Write a JSONPath starting with $ (or $$ for the context object, $name for a variable)."},
	{"INVALID_INTRINSIC", "Correct the intrinsic function call (name, argument count and types)."},
	{"DUPLICATE_FIELD", "Keep only one of \"key\" and \"key.$\"."},
	{"PATH_KEY_NOT_STRING", "A key ending in \".$\" takes a path or intrinsic function string; drop the \".$\" for a literal value."},
	{"MUTUALLY_EXCLUSIVE", "Keep only one of the fields the message names."},
	{"MISSING_TRANSITION", "Give the state \"Next\": \"<state>\" or \"End\": true."},
	{"UNKNOWN_STATE_TYPE", "Use Task, Pass, Choice, Wait, Succeed, Fail, Parallel or Map."},
	{"UNSUPPORTED_QUERY_LANGUAGE", "Remove QueryLanguage or set it to \"JSONPath\": JSONata is not supported."},
	{"INVALID_STATE_NAME", "Use a state name of 1 to 80 characters."},
	{"DUPLICATE_STATE_NAME", "Rename one of the states: names are unique in the whole definition, branches and Map processors included."},
	{"STARTAT_UNKNOWN_STATE", "Set StartAt to the name of a state of that machine."},
	{"NEXT_UNKNOWN_STATE", "Point the transition at a state of the same machine (a branch or Map processor cannot leave itself)."},
	{"UNREACHABLE_STATE", "Remove the state or add a transition to it."},
	{"NO_TERMINAL_STATE", "Give a state \"End\": true, or add a Succeed or Fail state that the machine can reach."},
	{"INVALID_CHOICE_RULE", "Give each choice rule exactly one operator; combine several with And or Or."},
	{"STATES_ALL_NOT_ALONE", "Put \"States.ALL\" alone in its ErrorEquals."},
	{"STATES_ALL_NOT_LAST", "Move the retrier or catcher with \"States.ALL\" to the end of the list."},
	{"RESOURCE_NOT_FOUND", "Create the function the Resource names, or bind the Resource string to a function with orderflow.register_resource(resource, function)."},
	{"TOO_MANY_STATES", "Split the workflow into several state machines."},
};

/* Raise one ERROR that lists every problem */
void
OfReportProblems(List *problems, const char *what)
{
	StringInfoData detail;
	ListCell   *lc;
	OfProblem  *first = NULL;
	const char *fix = NULL;

	initStringInfo(&detail);
	foreach(lc, problems)
	{
		OfProblem  *p = lfirst(lc);

		if (first == NULL && strcmp(p->severity, "ERROR") == 0)
			first = p;
		appendStringInfo(&detail, "%s%s at %s: %s (%s)",
						 detail.len > 0 ? "\n" : "",
						 p->severity, p->location[0] ? p->location : "/",
						 p->message, p->code);
	}
	if (first == NULL)
		return;
	for (int i = 0; i < lengthof(problem_fixes); i++)
		if (strcmp(problem_fixes[i].code, first->code) == 0)
			fix = problem_fixes[i].fix;
	/* a problem may know its own fix (the call that binds a ResultWriter) */
	if (first->hint != NULL)
		fix = first->hint;
	/* the message and the hint are about the first ERROR (not a WARNING) */
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s: invalid state machine definition: %s",
					what, first->message),
			 errdetail("%s", detail.data),
			 fix ? errhint("At %s: %s orderflow.validate_definition(definition) lists every problem with its JSON location.",
						   first->location[0] ? first->location : "/", fix)
			 : errhint("orderflow.validate_definition(definition) lists every problem with its JSON location.")));
}

/* ---------------------------------------------------------------------
 * The cache
 * --------------------------------------------------------------------- */

/*
 * The cache is bounded by orderflow.definition_cache_size: an LRU list over
 * the hash table, with each entry's size estimated when it is loaded (see
 * estimate_size).  Executors keep OfDefinition pointers (and pointers into
 * the machine) for a whole batch, so entries are only dropped where no
 * pointer can be live: when the outermost batch of this backend ends, and
 * in OfGetDefinition calls outside any batch (whose callers use the one
 * definition they asked for and drop it).  Inside a batch the cache may
 * grow past its size; it shrinks again when the batch is over.
 */

/* hash entry: the key must come first */
typedef struct DefinitionCacheEntry
{
	pg_uuid_t	id;
	OfDefinition *def;
	Size		size;			/* estimated bytes, json-c included */
	dlist_node	lru;			/* in cache_lru, most recently used first */
} DefinitionCacheEntry;

/*
 * json-c bytes per byte of definition text, measured: a definition of
 * 100,000 Pass states (4.6 MB of text) grew a backend's RssAnon by 167 MB
 * when it was cached, of which 56 MB is the palloc'd model (counted
 * exactly, MemoryContextMemAllocated) and 110 MB json-c's objects and hash
 * tables: 24 bytes per byte of text.  Small states are json-c's worst case
 * (its cost is per object and member), so longer strings overestimate.
 */
#define OF_JSONC_BYTES_PER_TEXT_BYTE 24

static HTAB *definition_cache = NULL;
static dlist_head cache_lru = DLIST_STATIC_INIT(cache_lru);
static Size cache_bytes = 0;
/* > 0 while OfRunDue runs in this backend (reset at transaction end) */
static int	batch_depth = 0;
/*
 * Counts the pg_proc changes this backend heard of (syscache invalidations
 * of PROCOID: CREATE, CREATE OR REPLACE, ALTER, DROP FUNCTION anywhere in
 * the database, or a cache reset).  A cached definition whose bindings were
 * resolved at an older count resolves them again when it is next used.
 */
static uint64 proc_generation = 1;

/* Syscache callback: some function changed (hashvalue 0: maybe all) */
static void
proc_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	proc_generation++;
}

/* Forget the batch depth when the transaction a batch ran in is over */
static void
cache_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
		batch_depth = 0;
}

/* Create the cache on first use */
static void
init_definition_cache(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(pg_uuid_t);
	ctl.entrysize = sizeof(DefinitionCacheEntry);
	ctl.hcxt = CacheMemoryContext;
	definition_cache = hash_create("orderflow definitions", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	RegisterXactCallback(cache_xact_callback, NULL);
	CacheRegisterSyscacheCallback(PROCOID, proc_changed, (Datum) 0);
}

/* Drop least recently used entries (but never `keep`) until within budget */
static void
evict_definitions(DefinitionCacheEntry *keep)
{
	Size		budget = (Size) of_definition_cache_kb * 1024;
	dlist_node *node;

	if (definition_cache == NULL || batch_depth > 0 || dlist_is_empty(&cache_lru))
		return;
	node = dlist_tail_node(&cache_lru);
	while (cache_bytes > budget && node != NULL)
	{
		DefinitionCacheEntry *entry = dlist_container(DefinitionCacheEntry, lru, node);
		MemoryContext cxt;

		node = dlist_has_prev(&cache_lru, node) ? dlist_prev_node(&cache_lru, node) : NULL;
		if (entry == keep)
			continue;
		dlist_delete(&entry->lru);
		cache_bytes -= entry->size;
		cxt = entry->def->cxt;
		hash_search(definition_cache, &entry->id, HASH_REMOVE, NULL);
		/* its reset callback frees the json-c document */
		MemoryContextDelete(cxt);
	}
}

/* See definition.h */
void
OfDefinitionCacheBatchBegin(void)
{
	batch_depth++;
}

/* See definition.h */
void
OfDefinitionCacheBatchEnd(void)
{
	if (batch_depth > 0)
		batch_depth--;
	evict_definitions(NULL);
}

/* Release the json-c document when a definition's context goes away */
static void
free_machine_callback(void *arg)
{
	of_machine_free((OfMachine *) arg);
}

/* Parse a stored definition; stored ones are valid, so problems are bugs */
static OfMachine *
parse_stored_definition(const char *text, MemoryContext cxt)
{
	ValidationState vs = {NIL, NIL, CurrentMemoryContext};
	OfParseOptions opts = {0};
	OfMachine  *machine;
	MemoryContextCallback *cb;
	MemoryContext old = MemoryContextSwitchTo(cxt);

	opts.report = collect_problem;
	opts.report_arg = &vs;
	opts.interrupted = OfEvalInterrupted;
	machine = of_machine_parse(text, strlen(text), &opts);
	MemoryContextSwitchTo(old);
	CHECK_FOR_INTERRUPTS();		/* what stopped the parse, if anything */
	if (machine == NULL)
		elog(ERROR, "orderflow: a stored definition does not parse: %s",
			 vs.problems ? ((OfProblem *) linitial(vs.problems))->message : "?");
	cb = MemoryContextAlloc(cxt, sizeof(MemoryContextCallback));
	cb->func = free_machine_callback;
	cb->arg = machine;
	MemoryContextRegisterResetCallback(cxt, cb);
	return machine;
}

/*
 * Resolve every binding of def to the function its signature names now.
 * The bindings are updated in place: executors hold pointers to them for
 * a whole batch.
 */
static void
resolve_bindings(OfDefinition *def)
{
	/* read first: a change while we resolve must trigger another round */
	uint64		generation = proc_generation;

	for (int i = 0; i < def->n_bindings; i++)
	{
		OfBinding  *b = &def->bindings[i];
		Oid			fn;
		int			nargs = 0;
		bool		retset = false;

		if (strncmp(b->signature, OF_TABLE_BINDING_PREFIX, strlen(OF_TABLE_BINDING_PREFIX)) == 0)
		{
			/* a ResultWriter table: the INSERT checks the rest as the owner */
			b->table = OfResolveTable(b->signature + strlen(OF_TABLE_BINDING_PREFIX));
			b->fn = InvalidOid;
			b->nargs = 0;
			continue;
		}
		fn = OfResolveSignature(b->signature);
		if (!OidIsValid(fn) || !usable_bound_function(fn, &nargs, &retset))
		{
			fn = InvalidOid;
			nargs = 0;
		}
		b->fn = fn;
		b->nargs = nargs;
		b->retset = retset;
	}
	def->resolved_at = generation;
}

/*
 * Turn the stored {"resource": "signature"} map into (unresolved)
 * bindings.  A value that is not a string (a function OID, as version
 * 0.1.0 stored them, if one escaped the update script) binds nothing.
 */
static void
load_bindings(OfDefinition *def, const char *resources_text)
{
	json_object *map = OfTextToJsonc(resources_text);
	int			n = json_object_object_length(map);
	int			i = 0;

	def->bindings = MemoryContextAllocZero(def->cxt, sizeof(OfBinding) * Max(n, 1));
	json_object_object_foreach(map, key, val)
	{
		def->bindings[i].resource = MemoryContextStrdup(def->cxt, key);
		def->bindings[i].signature =
			MemoryContextStrdup(def->cxt, json_object_is_type(val, json_type_string)
								? json_object_get_string(val) : "-");
		def->bindings[i].fn = InvalidOid;
		i++;
	}
	def->n_bindings = n;
	json_object_put(map);
}

/* Load one definition version from the table; *size is its estimate */
static OfDefinition *
load_definition(pg_uuid_t *id, Size *size)
{
	char	   *text;
	char	   *resources;
	Datum		arg = UUIDPGetDatum(id);
	HeapTuple	tup;
	TupleDesc	desc;
	OfDefinition *def;
	MemoryContext cxt;

	OfExecQuery(OFQ_LOAD_DEFINITION, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("state machine version %s does not exist any more",
						OfUuidText(DatumGetUUIDP(arg)))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	cxt = AllocSetContextCreate(CacheMemoryContext, "orderflow definition",
								ALLOCSET_SMALL_SIZES);
	def = MemoryContextAllocZero(cxt, sizeof(OfDefinition));
	def->cxt = cxt;
	memcpy(&def->id, id, sizeof(pg_uuid_t));
	def->state_machine = MemoryContextStrdup(cxt, SPI_getvalue(tup, desc, Anum_load_definition_state_machine));
	def->version = atoi(SPI_getvalue(tup, desc, Anum_load_definition_version));
	text = SPI_getvalue(tup, desc, Anum_load_definition_definition);
	resources = SPI_getvalue(tup, desc, Anum_load_definition_resources);
	def->machine = parse_stored_definition(text, cxt);
	load_bindings(def, resources);
	resolve_bindings(def);
	*size = MemoryContextMemAllocated(cxt, true) +
		strlen(text) * OF_JSONC_BYTES_PER_TEXT_BYTE;
	return def;
}

/* Get a parsed definition, from the cache when possible */
OfDefinition *
OfGetDefinition(pg_uuid_t *id)
{
	DefinitionCacheEntry *entry;
	bool		found;
	OfDefinition *def;
	Size		size;

	if (definition_cache == NULL)
		init_definition_cache();
	entry = hash_search(definition_cache, id, HASH_FIND, NULL);
	if (entry != NULL)
	{
		dlist_move_head(&cache_lru, &entry->lru);
		evict_definitions(entry);
		if (entry->def->resolved_at != proc_generation)
			resolve_bindings(entry->def);
		return entry->def;
	}
	def = load_definition(id, &size);
	entry = hash_search(definition_cache, id, HASH_ENTER, &found);
	entry->def = def;
	entry->size = size;
	dlist_push_head(&cache_lru, &entry->lru);
	cache_bytes += size;
	evict_definitions(entry);
	return def;
}

/* The function bound to a Task Resource in this version */
const OfBinding *
OfFindBinding(const OfDefinition *def, const char *resource)
{
	for (int i = 0; i < def->n_bindings; i++)
	{
		if (strcmp(def->bindings[i].resource, resource) == 0)
			return &def->bindings[i];
	}
	return NULL;
}
