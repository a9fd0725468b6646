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
#include "port/pg_bitutils.h"
#include "storage/latch.h"
#include "storage/lock.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
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

/*
 * How many advisory locks (lock and mode pairs, session- or
 * transaction-level) this backend holds.  Walks only its own PROCLOCKs,
 * under the partition locks that protect those lists; no pg_locks scan.
 */
static int
count_advisory_locks(void)
{
	int			n = 0;

	for (int i = 0; i < NUM_LOCK_PARTITIONS; i++)
	{
		LWLock	   *partition = LockHashPartitionLockByIndex(i);
#if PG_VERSION_NUM >= 160000
		dlist_iter	iter;

		if (dlist_is_empty(&MyProc->myProcLocks[i]))
			continue;
		LWLockAcquire(partition, LW_SHARED);
		dlist_foreach(iter, &MyProc->myProcLocks[i])
		{
			PROCLOCK   *proclock = dlist_container(PROCLOCK, procLink, iter.cur);

			if (proclock->tag.myLock->tag.locktag_lockmethodid == USER_LOCKMETHOD)
				n += pg_popcount32((uint32) proclock->holdMask);
		}
#else
		SHM_QUEUE  *procLocks = &MyProc->myProcLocks[i];
		PROCLOCK   *proclock;

		if (SHMQueueEmpty(procLocks))
			continue;
		LWLockAcquire(partition, LW_SHARED);
		proclock = (PROCLOCK *) SHMQueueNext(procLocks, procLocks,
											 offsetof(PROCLOCK, procLink));
		while (proclock != NULL)
		{
			if (proclock->tag.myLock->tag.locktag_lockmethodid == USER_LOCKMETHOD)
				n += pg_popcount32((uint32) proclock->holdMask);
			proclock = (PROCLOCK *) SHMQueueNext(procLocks, &proclock->procLink,
												 offsetof(PROCLOCK, procLink));
		}
#endif
		LWLockRelease(partition);
	}
	return n;
}

/*
 * Release the session-level advisory locks a task left and return how
 * many there were.  A pool worker holds none of its own, so all of them
 * are the task's: otherwise one role's forgotten pg_advisory_lock would
 * block other roles' tasks until the worker exits.  Transaction-level
 * ones stay until the batch commits, as before; counting before and after
 * the release tells them apart.  held_before > 0 means the session (a
 * client calling run_pending or start_sync_execution) held advisory locks
 * of its own before the task: those are not ours to release, so nothing is.
 */
static int
release_session_advisory_locks(int held_before)
{
	int			held;

	if (held_before > 0)
		return 0;
	held = count_advisory_locks();
	if (held == 0)
		return 0;
	LockReleaseSession(USER_LOCKMETHOD);
	return held - count_advisory_locks();
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
	int			locks_before = OfIsPoolWorker() ? 0 : count_advisory_locks();

	task_timed_out = false;
	OfTaskSlotBegin(owner);
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
	OfTaskSlotEnd();
	outcome->advisory_locks_released = release_session_advisory_locks(locks_before);
}
