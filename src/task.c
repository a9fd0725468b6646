/*-------------------------------------------------------------------------
 *
 * task.c
 *	  Run a Task's SQL function: as the execution's owner, in its own
 *	  subtransaction, with a pinned search_path and an optional timeout.
 *
 * The subtransaction is what makes a failed task harmless: its writes are
 * rolled back while the step's own bookkeeping (the failure, the retry
 * schedule, the history events) commits in the enclosing transaction.
 * The identity switch happens inside the subtransaction, so an error can
 * never leave the worker running as the task's owner (AbortSubTransaction
 * restores the user id and the GUC nest level).  The pattern follows
 * PL/pgSQL's exec_stmt_block and analyze.c's do_analyze_rel.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "task.h"

#include <limits.h>

#include "access/xact.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/timeout.h"

typedef struct SqlstateName
{
	const char *code;
	const char *name;
} SqlstateName;

static const SqlstateName sqlstate_names[] = {
#include "sqlstate_names.h"
	{NULL, NULL}
};

/* Backend-local timeout state: which timeout id, and did it fire? */
static TimeoutId task_timeout_id = MAX_TIMEOUTS;
static volatile sig_atomic_t task_timed_out = false;

/* Timeout handler: cancel the running task the way statement_timeout does */
static void
task_timeout_handler(void)
{
	task_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Register our timeout once per backend */
static TimeoutId
get_task_timeout(void)
{
	if (task_timeout_id == MAX_TIMEOUTS)
		task_timeout_id = RegisterTimeout(USER_TIMEOUT, task_timeout_handler);
	return task_timeout_id;
}

/* See task.h */
const char *
OfErrorNameForSqlstate(int sqlerrcode)
{
	const char *code = unpack_sql_state(sqlerrcode);

	if (sqlerrcode == ERRCODE_INSUFFICIENT_PRIVILEGE)
		return OF_ERR_PERMISSIONS;
	for (const SqlstateName *s = sqlstate_names; s->code != NULL; s++)
	{
		if (strcmp(s->code, code) == 0)
			return psprintf("Postgres.%s", s->name);
	}
	return psprintf("Postgres.SQLSTATE%s", code);
}

/* Cut an over-long text to at most max bytes (on a character boundary) */
static char *
clip(const char *text, int max)
{
	int			len;

	if (text == NULL)
		return NULL;
	len = strlen(text);
	if (len <= max)
		return pstrdup(text);
	len = pg_mbcliplen(text, len, max - 3);
	return psprintf("%.*s...", len, text);
}

/* Turn the error a task raised into an ASL error name and cause */
static void
outcome_from_error(ErrorData *edata, bool timed_out, OfTaskOutcome *outcome)
{
	outcome->ok = false;
	outcome->output = NULL;
	if (timed_out && edata->sqlerrcode == ERRCODE_QUERY_CANCELED)
	{
		outcome->error = pstrdup(OF_ERR_TIMEOUT);
		outcome->cause = pstrdup("the task did not finish within its TimeoutSeconds");
	}
	else if (edata->sqlerrcode == ERRCODE_OF_TASK_ERROR)
	{
		/* orderflow.raise_error(error, cause): message = error, detail = cause */
		outcome->error = clip(edata->message, OF_MAX_ERROR_LEN);
		outcome->cause = clip(edata->detail, OF_MAX_CAUSE_LEN);
	}
	else
	{
		outcome->error = pstrdup(OfErrorNameForSqlstate(edata->sqlerrcode));
		outcome->cause = clip(edata->message, OF_MAX_CAUSE_LEN);
	}
}

/* Refuse to run a function the owner may not execute */
static void
check_task_privilege(Oid fn, Oid owner)
{
	if (pg_proc_aclcheck(fn, owner, ACL_EXECUTE) != ACLCHECK_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function %s", get_func_name(fn)),
				 errdetail("Tasks run with the privileges of the role that started the execution.")));
}

/* The call itself: identity and search_path switched, timeout armed */
static Datum
invoke_as_owner(Oid fn, int nargs, Oid owner, Jsonb *input, Jsonb *context,
				int64 timeout_ms, int lock_timeout_ms, bool *isnull)
{
	Oid			save_userid;
	int			save_sec_context;
	int			save_nestlevel;
	FmgrInfo	flinfo;
	Datum		result;

	LOCAL_FCINFO(fcinfo, 2);

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_RESTRICTED_OPERATION);
	save_nestlevel = NewGUCNestLevel();
	(void) set_config_option("search_path", of_task_search_path,
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (lock_timeout_ms > 0)
		(void) set_config_option("lock_timeout", psprintf("%d", lock_timeout_ms),
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	check_task_privilege(fn, owner);

	fmgr_info(fn, &flinfo);
	InitFunctionCallInfoData(*fcinfo, &flinfo, nargs, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = JsonbPGetDatum(input);
	fcinfo->args[0].isnull = false;
	if (nargs == 2)
	{
		fcinfo->args[1].value = JsonbPGetDatum(context);
		fcinfo->args[1].isnull = (context == NULL);
	}
	if (timeout_ms > 0)
		enable_timeout_after(get_task_timeout(), (int) Min(timeout_ms, INT_MAX));
	result = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	if (timeout_ms > 0)
		disable_timeout(get_task_timeout(), false);

	AtEOXact_GUC(false, save_nestlevel);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return result;
}

/* See task.h */
void
OfCallTask(Oid fn, int nargs, Oid owner, Jsonb *input, Jsonb *context,
		   int64 timeout_ms, int lock_timeout_ms, OfTaskOutcome *outcome)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	task_timed_out = false;
	BeginInternalSubTransaction(NULL);
	/* allocate the result in the caller's context, not the subxact's */
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		bool		isnull;
		Datum		result = invoke_as_owner(fn, nargs, owner, input, context,
											 timeout_ms, lock_timeout_ms, &isnull);

		outcome->ok = true;
		outcome->output = isnull ? NULL : DatumGetJsonbPCopy(result);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		timed_out = task_timed_out;

		if (timeout_ms > 0)
			disable_timeout(get_task_timeout(), false);
		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		outcome_from_error(edata, timed_out, outcome);
		FreeErrorData(edata);
	}
	PG_END_TRY();
	task_timed_out = false;
}
