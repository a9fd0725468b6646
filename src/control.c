/*-------------------------------------------------------------------------
 *
 * control.c
 *	  Execution control: redrive_execution() and start_sync_execution().
 *
 * Redrive restarts a FAILED, TIMED_OUT or ABORTED top-level execution at
 * the state it ended in (current_state and state_input are kept when an
 * execution ends), with its history kept and an ExecutionRedriven event.
 * It only marks the execution (phase 'redrive') and makes it due: a worker
 * then resumes a Parallel or Map state that had made its children, running
 * again only the branches and iterations that did not succeed, each as its
 * owner like any step (executor.c, redrive_children); any other state
 * starts again.
 *
 * start_sync_execution inserts an execution like start_execution and then
 * runs it, with its Parallel branches and Map iterations, to the end in
 * the calling transaction (executor.c, OfRunExecutionTree).  Definitions
 * with a state that waits for the outside world or the clock (Wait, a
 * .waitForTaskToken callback, an activity) are refused before anything
 * is inserted; a Retry's delay is slept in the session.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "callback.h"
#include "definition.h"
#include "privileges.h"
#include "storage.h"
#include "version.h"

#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* SQLSTATE of a synchronous execution that did not succeed */
#define ERRCODE_OF_EXECUTION_FAILED MAKE_SQLSTATE('O','F','0','0','2')

extern Datum orderflow_start_execution(PG_FUNCTION_ARGS);



/* ---------------------------------------------------------------------
 * redrive_execution
 * --------------------------------------------------------------------- */

/*
 * A branch or iteration that a worker held when its execution ended is
 * cancelled only when that worker lets go of it (OFQ_CANCEL_DESCENDANTS
 * skips locked rows); until then it could still succeed, so its fate, and
 * which children the redrive must run again, is not known yet.  AWS too
 * redrives a Map only once its children have stopped.
 */
static void
check_no_live_descendants(pg_uuid_t *id)
{
	Datum		arg = UUIDPGetDatum(id);
	OfOwnerSwitch sw;
	bool		isnull;
	int64		live;

	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_REDRIVE_LIVE_DESCENDANTS, &arg, NULL, true, 1);
	OfRestoreIdentity(&sw);
	live = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
									   Anum_redrive_live_count, &isnull));
	if (live > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execution %s cannot be redriven yet: %lld of its branches or iterations are still stopping",
						OfUuidText(id), (long long) live),
				 errhint("Try again in a moment, once they have stopped.")));
}

PG_FUNCTION_INFO_V1(orderflow_redrive_execution);

/* redrive_execution(id): restart a failed execution at the state that failed */
Datum
orderflow_redrive_execution(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	Datum		arg = UUIDPGetDatum(id);
	OfOwnerSwitch sw;
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;
	char	   *status;
	Oid			owner;
	int			event_id;
	bool		has_state;
	bool		is_child;
	TimestampTz started_at;
	TimestampTz timeout_at;
	bool		has_timeout;
	int			redrives;
	bool		has_definition;
	TimestampTz now = GetCurrentTimestamp();
	Datum		v[4];
	char		n[4] = {' ', ' ', ' ', ' '};
	char	   *details;
	int			mark;

	OfRequireCurrentSchema();
	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_REDRIVE_LOCK, &arg, NULL, false, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("execution %s does not exist", OfUuidText(id))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	status = TextDatumGetCString(SPI_getbinval(tup, desc, Anum_redrive_lock_status, &isnull));
	owner = DatumGetObjectId(SPI_getbinval(tup, desc, Anum_redrive_lock_owner, &isnull));
	event_id = DatumGetInt32(SPI_getbinval(tup, desc, Anum_redrive_lock_next_event_id, &isnull));
	(void) SPI_getbinval(tup, desc, Anum_redrive_lock_current_state, &has_state);
	has_state = !has_state;
	is_child = DatumGetBool(SPI_getbinval(tup, desc, Anum_redrive_lock_is_child, &isnull));
	started_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_redrive_lock_started_at, &isnull));
	timeout_at = DatumGetTimestampTz(SPI_getbinval(tup, desc, Anum_redrive_lock_timeout_at, &isnull));
	has_timeout = !isnull;
	redrives = DatumGetInt32(SPI_getbinval(tup, desc, Anum_redrive_lock_redrive_count, &isnull));
	has_definition = DatumGetBool(SPI_getbinval(tup, desc, Anum_redrive_lock_has_definition, &isnull));

	OfCheckExecutionPrivilege(id, owner, "REDRIVE");
	if (is_child)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("execution %s is a Parallel branch or Map iteration", OfUuidText(id)),
				 errhint("Redrive the top-level execution; it runs again the branches and iterations that did not succeed.")));
	if (strcmp(status, "FAILED") != 0 && strcmp(status, "TIMED_OUT") != 0 &&
		strcmp(status, "ABORTED") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execution %s cannot be redriven: its status is %s", OfUuidText(id), status),
				 errhint("Only FAILED, TIMED_OUT and ABORTED executions can be redriven.")));
	/* refused here rather than failing again with States.Runtime in a worker */
	if (!has_definition)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execution %s cannot be redriven: its state machine version no longer exists",
						OfUuidText(id)),
				 errdetail("delete_state_machine removed the versions of the state machine the execution ran."),
				 errhint("Start a new execution of the state machine once it is created again.")));
	if (!has_state)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("execution %s cannot be redriven: it has no state to restart from", OfUuidText(id)),
				 errdetail("It failed inside orderflow before it entered a state."),
				 errhint("Start a new execution instead.")));
	check_no_live_descendants(id);

	v[0] = arg;
	v[1] = TimestampTzGetDatum(now);
	/* an execution timeout runs again in full */
	if (has_timeout)
		v[2] = TimestampTzGetDatum(now + (timeout_at - started_at));
	else
		n[2] = 'n', v[2] = (Datum) 0;
	v[3] = Int32GetDatum(event_id + 1);
	OfBecomeExtensionOwner(&sw);
	OfCheckNotHeldByBatch(id);
	mark = OfEventMark();
	OfExecQuery(OFQ_REDRIVE, v, n, false, 0);
	details = psprintf("{\"redriveCount\": %d}", redrives + 1);
	OfBufferEvent(id, event_id, event_id - 1, "ExecutionRedriven", NULL, now,
				  DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(details))),
				  owner);
	OfFlushEventsFrom(mark);
	OfWakeWorkersAtCommit();
	OfRestoreIdentity(&sw);
	SPI_finish();
	PG_RETURN_VOID();
}

/* ---------------------------------------------------------------------
 * start_sync_execution
 * --------------------------------------------------------------------- */

/* Refuse a machine with a state that would park the execution */
static void
check_syncable(const char *state_machine, OfMachine *m)
{
	for (int i = 0; i < m->n_states; i++)
	{
		OfState    *st = &m->states[i];
		const char *why = NULL;

		if (st->type == OF_STATE_WAIT)
			why = "it is a Wait state";
		else if (st->type == OF_STATE_TASK && st->resource != NULL)
		{
			OfResourceKind kind = OfClassifyResource(st->resource, NULL);

			if (kind == OF_RESOURCE_CALLBACK)
				why = "it waits for a task token (.waitForTaskToken)";
			else if (kind == OF_RESOURCE_ACTIVITY)
				why = "it is an activity task";
		}
		if (why != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("state machine \"%s\" cannot run synchronously: state \"%s\" would wait",
							state_machine, st->name),
					 errdetail("State \"%s\" cannot run synchronously: %s.", st->name, why),
					 errhint("Use orderflow.start_execution() for workflows that wait.")));
		for (int b = 0; b < st->n_branches; b++)
			check_syncable(state_machine, st->branches[b]);
		if (st->iterator != NULL)
			check_syncable(state_machine, st->iterator);
	}
}


PG_FUNCTION_INFO_V1(orderflow_start_sync_execution);

/*
 * start_sync_execution(state_machine, input): run an execution to the end
 * in this transaction and return its output; raise its error if it fails.
 */
Datum
orderflow_start_sync_execution(PG_FUNCTION_ARGS)
{
	char	   *sm;
	Datum		input;
	Datum		arg;
	OfOwnerSwitch sw;
	bool		isnull;
	pg_uuid_t	def_id;
	pg_uuid_t	name_id;
	pg_uuid_t  *id;
	OfDefinition *def;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *status;
	Jsonb	   *output = NULL;
	char	   *error;
	char	   *cause;
	MemoryContext caller_cxt = CurrentMemoryContext;
	MemoryContext oldcxt;

	OfRequireCurrentSchema();
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("state machine name must not be NULL")));
	OfRefuseInsideTask("orderflow.start_sync_execution()",
					   "Start it with orderflow.start_execution(): the workers run it once the task's batch commits.");
	sm = text_to_cstring(PG_GETARG_TEXT_PP(0));
	input = PG_ARGISNULL(1) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))
		: PG_GETARG_DATUM(1);

	OfConnectSpi();
	arg = CStringGetTextDatum(sm);
	OfBecomeExtensionOwner(&sw);
	OfExecQuery(OFQ_LATEST_DEFINITION, &arg, NULL, true, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("state machine \"%s\" does not exist", sm),
				 errhint("Create it with orderflow.create_state_machine().")));
	memcpy(&def_id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_latest_definition_definition_id, &isnull)),
		   sizeof(pg_uuid_t));
	/* before anything runs (start_execution checks again) */
	OfCheckStartPrivilege(sm);
	def = OfGetDefinition(&def_id);
	check_syncable(sm, def->machine);
	SPI_finish();

	OfRandomUuid(&name_id);
	id = DatumGetUUIDP(DirectFunctionCall3(orderflow_start_execution,
										   CStringGetTextDatum(sm), input,
										   CStringGetTextDatum(OfUuidText(&name_id))));

	OfConnectSpi();
	OfBecomeExtensionOwner(&sw);
	OfRunExecutionTree(id);
	arg = UUIDPGetDatum(id);
	OfExecQuery(OFQ_EXECUTION_RESULT, &arg, NULL, false, 1);
	OfRestoreIdentity(&sw);
	if (SPI_processed == 0)
		elog(ERROR, "orderflow: synchronous execution %s disappeared", OfUuidText(id));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	/*
	 * Everything used after SPI_finish() (which frees SPI's memory) is
	 * copied to the caller's memory context first.
	 */
	oldcxt = MemoryContextSwitchTo(caller_cxt);
	status = TextDatumGetCString(SPI_getbinval(tup, desc, Anum_execution_result_status, &isnull));
	arg = SPI_getbinval(tup, desc, Anum_execution_result_output, &isnull);
	if (!isnull)
		output = DatumGetJsonbPCopy(arg);
	error = SPI_getvalue(tup, desc, Anum_execution_result_error);
	cause = SPI_getvalue(tup, desc, Anum_execution_result_cause);
	MemoryContextSwitchTo(oldcxt);
	SPI_finish();

	if (strcmp(status, "SUCCEEDED") == 0)
	{
		if (output == NULL)
			PG_RETURN_NULL();
		PG_RETURN_JSONB_P(output);
	}
	if (strcmp(status, "RUNNING") == 0)
		elog(ERROR, "orderflow: synchronous execution %s stopped while running", OfUuidText(id));
	ereport(ERROR,
			(errcode(ERRCODE_OF_EXECUTION_FAILED),
			 errmsg("synchronous execution of \"%s\" %s: %s", sm,
					strcmp(status, "TIMED_OUT") == 0 ? "timed out" :
					strcmp(status, "ABORTED") == 0 ? "was aborted" : "failed",
					error ? error : "(no error name)"),
			 cause ? errdetail("%s", cause) : 0,
			 errhint("Its history is rolled back with this error; run it with orderflow.start_execution() to keep it.")));
	PG_RETURN_NULL();
}
