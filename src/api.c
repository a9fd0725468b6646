/*-------------------------------------------------------------------------
 *
 * api.c
 *	  The SQL-callable functions of schema orderflow.
 *
 * Users have SELECT (filtered by row level security) on orderflow's
 * tables and no write privileges: these functions check the caller's
 * rights themselves and then switch to the extension's owner for their own
 * writes (SECURITY_LOCAL_USERID_CHANGE), the way pg_cron does.  Task
 * functions never run under that identity: task.c switches to the
 * execution's owner.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "orderflow.h"
#include "definition.h"
#include "privileges.h"
#include "storage.h"
#include "version.h"
#include "callback.h"
#include "task.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "commands/dbcommands.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define OF_MAX_NAME_LEN 80
/*
 * Largest definition create/update_state_machine store, as jsonb (every
 * worker keeps the definitions it runs in memory).  A chain of 100,000
 * states, the most asl_parse.c allows, takes about 5.4 MB.
 */
#define OF_MAX_DEFINITION_BYTES (8 * 1024 * 1024)

/* ---------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------- */


/* Refuse empty, over-long or control-character names */
static void
check_name(const char *what, const char *name)
{
	size_t		len = strlen(name);

	if (len == 0 || len > OF_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s name must be 1 to %d characters long", what, OF_MAX_NAME_LEN),
				 errdetail("The name given has %zu characters.", len)));
	for (const char *p = name; *p; p++)
	{
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s name must not contain control characters", what)));
	}
}

/* Is the caller the owner (or a member of the owning role, or superuser)? */
static void
check_owner(const char *what, const char *name, Oid owner)
{
	if (!has_privs_of_role(GetUserId(), owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of %s %s", what, name),
				 errhint("Only its owner, a role with the owner's privileges, or a superuser may do this.")));
}


/* Refuse a jsonb payload over orderflow.max_payload_size */
static void
check_payload(const char *what, Jsonb *jb)
{
	if (VARSIZE(jb) > (Size) of_max_payload_bytes)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s is too large: %u bytes", what, VARSIZE(jb)),
				 errdetail("The limit orderflow.max_payload_size is %d bytes.", of_max_payload_bytes),
				 errhint("Pass a reference (for example a row id) instead, or raise orderflow.max_payload_size.")));
}

/* ---------------------------------------------------------------------
 * State machines
 * --------------------------------------------------------------------- */

/* Validate a definition for create/update, raising with every problem */
static Jsonb *
validated_resources(Jsonb *definition, const char *what)
{
	Jsonb	   *resources = NULL;
	List	   *problems;

	if (VARSIZE(definition) > OF_MAX_DEFINITION_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("%s: the definition is %u bytes, over the limit of %d bytes",
						what, (unsigned) VARSIZE(definition), OF_MAX_DEFINITION_BYTES),
				 errhint("Keep large constants (a Pass Result, Parameters) in a table and read them in a task.")));
	problems = OfValidateDefinition(definition, &resources);
	OfReportProblems(problems, what);
	return resources;
}

/* Insert one version row */
static void
insert_version(const char *name, int version, Jsonb *definition, Jsonb *resources, Oid creator)
{
	Datum		v[5];

	v[0] = CStringGetTextDatum(name);
	v[1] = Int32GetDatum(version);
	v[2] = JsonbPGetDatum(definition);
	v[3] = JsonbPGetDatum(resources);
	v[4] = ObjectIdGetDatum(creator);
	OfExecQuery(OFQ_INSERT_VERSION, v, NULL, false, 0);
}

/*
 * create_state_machine found the name taken.  A live state machine is a
 * duplicate; a deleted one's name (a tombstone) stays with its owner: a
 * role with the previous owner's privileges (or a superuser) takes it
 * back, anybody else is refused, so that nobody can re-create a deleted
 * name to capture the executions its callers keep starting.  Locks the row.
 */
static void
claim_tombstone(const char *name, Oid caller)
{
	OfOwnerSwitch sw;
	Datum		v[2];
	bool		isnull;
	Oid			owner;
	bool		deleted;

	v[0] = CStringGetTextDatum(name);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_LOCK_ANY_STATE_MACHINE, v, NULL, false, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		elog(ERROR, "orderflow: state machine \"%s\" conflicted but cannot be found", name);
	owner = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_owner, &isnull));
	deleted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_owner_deleted_deleted, &isnull));
	if (!deleted)
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("state machine \"%s\" already exists", name),
				 errhint("Use orderflow.update_state_machine() to store a new version.")));
	if (!has_privs_of_role(caller, owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("state machine name \"%s\" belongs to a deleted state machine of another role", name),
				 errdetail("The name of a deleted state machine stays with its owner, so that no other role can create it again and capture the executions its callers start."),
				 errhint("Choose another name; a superuser can free this one by deleting its row from orderflow.state_machines.")));
	v[1] = ObjectIdGetDatum(caller);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_REVIVE_STATE_MACHINE, v, NULL, false, 0);
	OfRestoreIdentity(&sw);
}

PG_FUNCTION_INFO_V1(orderflow_create_state_machine);

/* create_state_machine(name, definition): validate and store version 1 */
Datum
orderflow_create_state_machine(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *definition = PG_GETARG_JSONB_P(1);
	Oid			caller = GetUserId();
	Jsonb	   *resources;
	OfOwnerSwitch sw;
	Datum		v[2];

	OfRequireCurrentSchema();
	check_name("state machine", name);
	OfConnectSpi();
	resources = validated_resources(definition, "create_state_machine");
	OfBecomeExtensionOwner(&sw);
	v[0] = CStringGetTextDatum(name);
	v[1] = ObjectIdGetDatum(caller);
	OfExecQuery(OFQ_INSERT_STATE_MACHINE, v, NULL, false, 0);
	if (SPI_processed == 0)
	{
		OfRestoreIdentity(&sw);
		claim_tombstone(name, caller);
		OfBecomeExtensionOwner(&sw);
	}
	insert_version(name, 1, definition, resources, caller);
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_INT32(1);
}

/* Lock a state machine row; returns its latest version and owner */
static int
lock_state_machine(const char *name, Oid *owner)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	HeapTuple	tup;

	OfExecQuery(OFQ_LOCK_STATE_MACHINE, &arg, NULL, false, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("state machine \"%s\" does not exist", name),
				 errhint("Create it with orderflow.create_state_machine().")));
	tup = SPI_tuptable->vals[0];
	*owner = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_state_machine_owner, &isnull));
	return DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_state_machine_latest_version, &isnull));
}

PG_FUNCTION_INFO_V1(orderflow_update_state_machine);

/* update_state_machine(name, definition): store the next version */
Datum
orderflow_update_state_machine(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb	   *definition = PG_GETARG_JSONB_P(1);
	Oid			caller = GetUserId();
	Jsonb	   *resources;
	OfOwnerSwitch sw;
	Oid			owner;
	int			version;
	Datum		v[2];

	OfRequireCurrentSchema();
	OfConnectSpi();
	resources = validated_resources(definition, "update_state_machine");
	OfBecomeExtensionOwner(&sw);
	version = lock_state_machine(name, &owner) + 1;
	OfRestoreIdentity(&sw);
	check_owner("state machine", name, owner);
	OfBecomeExtensionOwner(&sw);
	insert_version(name, version, definition, resources, caller);
	v[0] = CStringGetTextDatum(name);
	v[1] = Int32GetDatum(version);
	OfExecQuery(OFQ_BUMP_VERSION, v, NULL, false, 0);
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_INT32(version);
}

PG_FUNCTION_INFO_V1(orderflow_validate_definition);

/* validate_definition(definition): one row per problem, never raises for them */
Datum
orderflow_validate_definition(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Jsonb	   *definition = PG_GETARG_JSONB_P(0);
	List	   *problems;
	ListCell   *lc;

	OfRequireCurrentSchema();
	InitMaterializedSRF(fcinfo, 0);
	OfConnectSpi();
	problems = OfValidateDefinition(definition, NULL);
	foreach(lc, problems)
	{
		OfProblem  *p = lfirst(lc);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		values[0] = CStringGetTextDatum(p->severity);
		values[1] = CStringGetTextDatum(p->code);
		values[2] = CStringGetTextDatum(p->location);
		values[3] = CStringGetTextDatum(p->message);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}

/* Mark one running execution ABORTED and record it */
static void
abort_execution(pg_uuid_t *id, Oid owner, int next_event_id, const char *error, const char *cause)
{
	Datum		v[5];
	char		n[5] = {' ', ' ', ' ', ' ', ' '};
	TimestampTz now = GetCurrentTimestamp();
	StringInfoData details;

	v[0] = UUIDPGetDatum(id);
	v[1] = error ? CStringGetTextDatum(error) : (n[1] = 'n', (Datum) 0);
	v[2] = cause ? CStringGetTextDatum(cause) : (n[2] = 'n', (Datum) 0);
	v[3] = TimestampTzGetDatum(now);
	v[4] = Int32GetDatum(next_event_id + 1);
	OfExecQuery(OFQ_STOP_EXECUTION, v, n, false, 0);

	initStringInfo(&details);
	appendStringInfoChar(&details, '{');
	if (error)
	{
		appendStringInfoString(&details, "\"error\": ");
		escape_json(&details, error);
	}
	if (cause)
	{
		appendStringInfoString(&details, error ? ", \"cause\": " : "\"cause\": ");
		escape_json(&details, cause);
	}
	appendStringInfoChar(&details, '}');
	OfBufferEvent(id, next_event_id, next_event_id - 1, "ExecutionAborted", NULL, now,
				  DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(details.data))),
				  owner);
	OfNotifyFinishedAtCommit();
}

/* Abort every running execution of a state machine (delete with force) */
static void
abort_running_executions(const char *name)
{
	Datum		arg = CStringGetTextDatum(name);
	uint64		n;
	pg_uuid_t  *ids;
	int			mark = OfEventMark();

	OfCheckStateMachineNotHeld(name);
	OfExecQuery(OFQ_ABORT_RUNNING, &arg, NULL, false, 0);
	n = SPI_processed;
	ids = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	for (uint64 i = 0; i < n; i++)
	{
		bool		isnull;

		memcpy(&ids[i], DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, Anum_abort_running_id, &isnull)),
			   sizeof(pg_uuid_t));
	}
	for (uint64 i = 0; i < n; i++)
	{
		Datum		idarg = UUIDPGetDatum(&ids[i]);
		bool		isnull;
		HeapTuple	tup;
		Oid			owner;
		int			next_event_id;

		OfExecQuery(OFQ_LOCK_EXECUTION, &idarg, NULL, false, 1);
		tup = SPI_tuptable->vals[0];
		owner = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_owner, &isnull));
		next_event_id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_next_event_id, &isnull));
		abort_execution(&ids[i], owner, next_event_id, "States.Aborted",
						"the state machine was deleted");
	}
	OfFlushEventsFrom(mark);
}

PG_FUNCTION_INFO_V1(orderflow_delete_state_machine);

/* delete_state_machine(name, force): refuse while executions run unless forced */
Datum
orderflow_delete_state_machine(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool		force = PG_GETARG_BOOL(1);
	OfOwnerSwitch sw;
	Oid			owner;
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;
	int64		running;

	OfRequireCurrentSchema();
	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	(void) lock_state_machine(name, &owner);
	OfRestoreIdentity(&sw);
	check_owner("state machine", name, owner);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_COUNT_RUNNING, &arg, NULL, false, 1);
	running = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_count_count, &isnull));
	if (running > 0 && !force)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_IN_USE),
				 errmsg("state machine \"%s\" has %lld running executions", name, (long long) running),
				 errhint("Stop them first, or call orderflow.delete_state_machine('%s', force => true) to abort them.",
						 name)));
	if (running > 0)
		abort_running_executions(name);
	OfExecQuery(OFQ_DELETE_STATE_MACHINE, &arg, NULL, false, 0);
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_VOID();
}

/* Check a function can serve as a task: (jsonb[, jsonb]) returns jsonb */
static void
check_task_signature(Oid fn)
{
	HeapTuple	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn));
	Form_pg_proc proc;
	bool		ok;

	if (!HeapTupleIsValid(tup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_FUNCTION),
				 errmsg("function with OID %u does not exist", fn)));
	proc = (Form_pg_proc) GETSTRUCT(tup);
	ok = proc->prokind == PROKIND_FUNCTION && !proc->proretset &&
		proc->prorettype == JSONBOID &&
		(proc->pronargs == 1 || proc->pronargs == 2) &&
		proc->proargtypes.values[0] == JSONBOID &&
		(proc->pronargs == 1 || proc->proargtypes.values[1] == JSONBOID);
	ReleaseSysCache(tup);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_FUNCTION_DEFINITION),
				 errmsg("function %s cannot be a task", format_procedure(fn)),
				 errdetail("A task function takes (jsonb) or (jsonb, jsonb) and returns jsonb."),
				 errhint("Declare it as CREATE FUNCTION f(input jsonb, context jsonb) RETURNS jsonb.")));
	if (pg_proc_aclcheck(fn, GetUserId(), ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", format_procedure(fn))));
}

/* A resource string: what register_resource* accept */
static void
check_resource_string(const char *resource)
{
	if (strlen(resource) == 0 || strlen(resource) > 2048)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a resource string must be 1 to 2048 characters long")));
}

/*
 * Store the caller's registration of resource, bound to target (a function
 * signature, or OfTableSignature's "TABLE schema.table").  Registrations
 * are per owner: this one is the caller's own, whoever else registered the
 * same string (definition.c picks the creator's own first), so nobody can
 * squat a string for another role.  Kept as text, not an OID, so that it
 * survives a dump and restore.
 */
static void
store_registration(const char *resource, const char *target)
{
	OfOwnerSwitch sw;
	Datum		v[3];

	v[0] = CStringGetTextDatum(resource);
	v[1] = CStringGetTextDatum(target);
	v[2] = ObjectIdGetDatum(GetUserId());
	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_UPSERT_RESOURCE, v, NULL, false, 0);
	OfRestoreIdentity(&sw);
	SPI_finish();
}

PG_FUNCTION_INFO_V1(orderflow_register_resource);

/* register_resource(resource, fn): bind a Resource string to a function */
Datum
orderflow_register_resource(PG_FUNCTION_ARGS)
{
	char	   *resource = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			fn = PG_GETARG_OID(1);

	OfRequireCurrentSchema();
	check_resource_string(resource);
	check_task_signature(fn);
	store_registration(resource, OfFunctionSignature(fn));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_register_resource_table);

/*
 * register_resource_table(resource, target): bind a ResultWriter's
 * "arn:aws:s3:::bucket/prefix" to a table that receives one row (key,
 * body) per result object.  Only a table the caller may INSERT into: a
 * registration never lets a definition write where its creator cannot.
 */
Datum
orderflow_register_resource_table(PG_FUNCTION_ARGS)
{
	char	   *resource = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			rel = PG_GETARG_OID(1);
	const char *problem;

	OfRequireCurrentSchema();
	check_resource_string(resource);
	if (get_rel_name(rel) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", rel)));
	problem = OfResultTableProblem(rel, GetUserId());
	if (problem != NULL)
		ereport(ERROR,
				(errcode(strstr(problem, "privilege") ? ERRCODE_INSUFFICIENT_PRIVILEGE
						 : ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("table %s cannot receive ResultWriter results: %s",
						get_rel_name(rel), problem),
				 errhint("A ResultWriter table is a permanent table with the columns key text and body jsonb "
						 "(others get their defaults), and you need INSERT on it.")));
	store_registration(resource, OfTableSignature(rel));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_unregister_resource);

/* unregister_resource(resource): drop the caller's own registration */
Datum
orderflow_unregister_resource(PG_FUNCTION_ARGS)
{
	char	   *resource = text_to_cstring(PG_GETARG_TEXT_PP(0));
	OfOwnerSwitch sw;
	Datum		v[2];
	uint64		n;

	OfRequireCurrentSchema();
	OfConnectSpi();
	v[0] = CStringGetTextDatum(resource);
	v[1] = ObjectIdGetDatum(GetUserId());
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_RESOURCE_DELETE, v, NULL, false, 0);
	n = SPI_processed;
	OfRestoreIdentity(&sw);
	SPI_finish();
	if (n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("resource \"%s\" has no registration of yours", resource),
				 errhint("SELECT resource, fn FROM orderflow.resources; lists the registrations you may see.")));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_raise_error);

/* raise_error(error, cause): fail the running task with a named ASL error */
Datum
orderflow_raise_error(PG_FUNCTION_ARGS)
{
	char	   *error = PG_ARGISNULL(0) ? pstrdup(OF_ERR_TASK_FAILED)
		: text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_OF_TASK_ERROR),
				 errmsg_internal("%s", error)));
	ereport(ERROR,
			(errcode(ERRCODE_OF_TASK_ERROR),
			 errmsg_internal("%s", error),
			 errdetail_internal("%s", text_to_cstring(PG_GETARG_TEXT_PP(1)))));
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * Executions
 * --------------------------------------------------------------------- */

/* The latest version of a state machine: its definition id and number */
static void
latest_definition(const char *name, pg_uuid_t *id, int *version)
{
	Datum		arg = CStringGetTextDatum(name);
	bool		isnull;

	OfExecQuery(OFQ_LATEST_DEFINITION, &arg, NULL, true, 1);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("state machine \"%s\" does not exist", name),
				 errhint("Create it with orderflow.create_state_machine().")));
	memcpy(id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_latest_definition_definition_id, &isnull)),
		   sizeof(pg_uuid_t));
	*version = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_latest_definition_version, &isnull));
}

/* An execution with this name exists: same input returns it, other input fails */
static pg_uuid_t *
existing_execution(const char *state_machine, const char *name, Jsonb *input, Oid caller)
{
	Datum		v[2];
	bool		isnull;
	/* the caller returns it after SPI_finish(): not in SPI's memory */
	pg_uuid_t  *id = SPI_palloc(sizeof(pg_uuid_t));
	Jsonb	   *existing_input;

	v[0] = CStringGetTextDatum(state_machine);
	v[1] = CStringGetTextDatum(name);
	OfExecQuery(OFQ_FIND_EXECUTION_BY_NAME, v, NULL, false, 1);
	if (SPI_processed == 0)
		elog(ERROR, "orderflow: execution \"%s\" conflicted but cannot be found", name);
	memcpy(id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_find_execution_id, &isnull)),
		   sizeof(pg_uuid_t));
	existing_input = DatumGetJsonbP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_find_execution_input, &isnull));

	/*
	 * Another role's execution is neither returned (its id would let the
	 * caller wait on, or believe it started, work it does not own) nor
	 * compared (the answer would tell its input).
	 */
	if (!has_privs_of_role(caller,
						   DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, Anum_find_execution_owner, &isnull))))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("execution name \"%s\" of state machine \"%s\" is already taken",
						name, state_machine),
				 errdetail("Another role started an execution with this name."),
				 errhint("Execution names are unique per state machine; choose another name.")));
	if (!DatumGetBool(DirectFunctionCall2(jsonb_eq, JsonbPGetDatum(existing_input),
										  JsonbPGetDatum(input))))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("execution \"%s\" of state machine \"%s\" already exists with a different input",
						name, state_machine),
				 errhint("Execution names are unique per state machine; choose another name.")));
	return id;
}

/* The ExecutionStarted event's details */
static Jsonb *
started_details(Jsonb *input, const char *state_machine, int version)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"input\": ");
	appendStringInfoString(&buf, JsonbToCString(NULL, &input->root, VARSIZE(input)));
	appendStringInfoString(&buf, ", \"stateMachine\": ");
	escape_json(&buf, state_machine);
	appendStringInfo(&buf, ", \"version\": %d}", version);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
}

PG_FUNCTION_INFO_V1(orderflow_start_execution);

/* start_execution(state_machine, input, name): queue a new execution */
Datum
orderflow_start_execution(PG_FUNCTION_ARGS)
{
	char	   *sm;
	Jsonb	   *input;
	char	   *name;
	pg_uuid_t	def_id;
	int			version;
	OfDefinition *def;
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	TimestampTz now = GetCurrentTimestamp();
	OfOwnerSwitch sw;
	Oid			caller = GetUserId();
	Datum		v[10];
	char		n[10];

	OfRequireCurrentSchema();
	OfRandomUuid(id);
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("state machine name must not be NULL")));
	sm = text_to_cstring(PG_GETARG_TEXT_PP(0));
	input = PG_ARGISNULL(1)
		? DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")))
		: PG_GETARG_JSONB_P(1);
	name = PG_ARGISNULL(2)
		? OfUuidText(id)
		: text_to_cstring(PG_GETARG_TEXT_PP(2));
	check_name("execution", name);
	check_payload("execution input", input);

	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	latest_definition(sm, &def_id, &version);
	OfRestoreIdentity(&sw);
	OfCheckStartPrivilege(sm);
	def = OfGetDefinition(&def_id);

	memset(n, ' ', sizeof(n));
	v[0] = UUIDPGetDatum(id);
	v[1] = CStringGetTextDatum(sm);
	v[2] = Int32GetDatum(version);
	v[3] = UUIDPGetDatum(&def_id);
	v[4] = CStringGetTextDatum(name);
	v[5] = ObjectIdGetDatum(caller);
	v[6] = JsonbPGetDatum(input);
	v[7] = TimestampTzGetDatum(now);
	v[8] = CStringGetTextDatum(def->machine->start_at);
	v[9] = TimestampTzGetDatum(TimestampTzPlusMilliseconds(now, def->machine->timeout_seconds * 1000));
	n[9] = def->machine->timeout_seconds > 0 ? ' ' : 'n';

	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_INSERT_EXECUTION, v, n, false, 0);
	if (SPI_processed == 0)
		id = existing_execution(sm, name, input, caller);
	else
	{
		/* inside a task: write this event only, not the batch's */
		int			mark = OfEventMark();

		OfBufferEvent(id, 1, 0, "ExecutionStarted", NULL, now,
					  started_details(input, sm, version), caller);
		OfFlushEventsFrom(mark);
		OfWakeWorkersAtCommit();
	}
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_UUID_P(id);
}

/* Are workers serving this database? */
static bool
workers_serve_this_database(void)
{
	return OfWorkersServeDatabase(MyDatabaseId);
}

PG_FUNCTION_INFO_V1(orderflow_wait_for_execution);

/* wait_for_execution(id, timeout): block until it stops RUNNING */
Datum
orderflow_wait_for_execution(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	Interval   *timeout = PG_GETARG_INTERVAL_P(1);
	TimestampTz deadline;
	Datum		arg = UUIDPGetDatum(id);
	char	   *status = NULL;
	bool		warned = false;
	text	   *result;

	OfRequireCurrentSchema();
	OfRefuseInsideTask("orderflow.wait_for_execution()",
					   "A task runs inside its batch's transaction, which must commit before the execution can move: park the execution on a Wait state, or use a callback task (.waitForTaskToken).");
	deadline = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													   TimestampTzGetDatum(GetCurrentTimestamp()),
													   IntervalPGetDatum(timeout)));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("wait_for_execution cannot see progress in a REPEATABLE READ or SERIALIZABLE transaction"),
				 errhint("Call it in a READ COMMITTED transaction.")));
	OfConnectSpi();
	for (;;)
	{
		bool		isnull;
		TransactionId xmin;

		OfExecQuery(OFQ_WAIT_STATUS, &arg, NULL, false, 1);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("execution %s does not exist",
							OfUuidText(DatumGetUUIDP(arg))),
					 errhint("You only see executions your role started or may READ.")));
		status = TextDatumGetCString(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_wait_status_status, &isnull));
		xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_wait_status_xmin, &isnull));
		if (strcmp(status, "RUNNING") != 0 || GetCurrentTimestamp() >= deadline)
			break;
		if (TransactionIdIsCurrentTransactionId(xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("execution was started (or last changed) in this transaction"),
					 errdetail("Workers cannot see it before the transaction commits."),
					 errhint("Commit first, or advance it here with orderflow.run_pending().")));
		if (!warned && !workers_serve_this_database())
		{
			ereport(NOTICE,
					(errmsg("no orderflow workers serve database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errhint("Add orderflow to shared_preload_libraries (and this database to orderflow.database if that is set), or advance executions with orderflow.run_pending().")));
			warned = true;
		}
		OfWaitForFinish(Min(100, Max(1, (deadline - GetCurrentTimestamp()) / 1000)));
	}
	/* status is in SPI's memory, which SPI_finish() frees: copy it out */
	result = (text *) SPI_palloc(VARHDRSZ + strlen(status));
	SET_VARSIZE(result, VARHDRSZ + strlen(status));
	memcpy(VARDATA(result), status, strlen(status));
	SPI_finish();
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(orderflow_stop_execution);

/* stop_execution(id, error, cause): end a running execution ABORTED */
Datum
orderflow_stop_execution(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id;
	char	   *error = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *cause = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	Datum		arg;
	OfOwnerSwitch sw;
	bool		isnull;
	HeapTuple	tup;
	char	   *status;
	Oid			owner;
	int			next_event_id;
	int			mark;

	OfRequireCurrentSchema();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("execution id must not be NULL")));
	id = PG_GETARG_UUID_P(0);
	arg = UUIDPGetDatum(id);
	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_LOCK_EXECUTION, &arg, NULL, false, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("execution %s does not exist", OfUuidText(DatumGetUUIDP(arg)))));
	tup = SPI_tuptable->vals[0];
	status = TextDatumGetCString(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_status, &isnull));
	owner = DatumGetObjectId(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_owner, &isnull));
	next_event_id = DatumGetInt32(SPI_getbinval(tup, SPI_tuptable->tupdesc, Anum_lock_execution_next_event_id, &isnull));
	OfCheckExecutionPrivilege(id, owner, "STOP");
	if (strcmp(status, "RUNNING") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execution %s is not running: its status is %s",
						OfUuidText(DatumGetUUIDP(arg)), status)));
	OfBecomeExtensionOwner(&sw);
	OfCheckNotHeldByBatch(id);
	mark = OfEventMark();
	abort_execution(id, owner, next_event_id, error, cause);
	OfCancelDescendants(id, 0, "States.Aborted", "the execution was stopped");
	OfCancelTasks(id);			/* its tokens and queued activity tasks */
	OfFlushEventsFrom(mark);
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(orderflow_run_pending);

/*
 * run_pending(max_steps): advance due work in this session: the caller's
 * own executions (those of roles whose privileges it has), all of them for
 * a superuser.  Another role's work never runs in a session, transaction
 * and settings the caller controls.
 */
Datum
orderflow_run_pending(PG_FUNCTION_ARGS)
{
	int			max_steps = PG_ARGISNULL(0) ? 100000 : PG_GETARG_INT32(0);
	int			done = 0;
	OfOwnerSwitch sw;
	Oid			caller = GetUserId();

	OfRequireCurrentSchema();
	/* only the caller's own work: see OfRunDueForRole */
	Oid			role = superuser_arg(caller) ? InvalidOid : caller;

	OfRefuseInsideTask("orderflow.run_pending()",
					   "The workers advance executions: a task can start one with orderflow.start_execution() and return.");
	if (max_steps <= 0)
		PG_RETURN_INT32(0);
	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	while (done < max_steps)
	{
		long		next_due;
		int			steps = OfRunDueForRole(Min(of_batch_size, max_steps - done), role, &next_due);

		if (steps == 0)
			break;
		done += steps;
	}
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_INT32(done);
}
