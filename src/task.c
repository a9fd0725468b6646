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
#include "storage/ipc.h"
#include "storage/proc.h"
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

/*
 * The hard bound (pool workers only): a task can catch the cancel above
 * (PL/pgSQL's EXCEPTION WHEN query_canceled) and run on.  If it is still
 * running OfTaskKillGraceMs() after its timeout fired, this second timeout
 * makes the worker end itself with FATAL, which no PL can catch.  The
 * exit callback lists the execution (OfNoteTimeoutIgnored) so the task is
 * not called again.
 */
static TimeoutId task_kill_id = MAX_TIMEOUTS;
static volatile sig_atomic_t task_kill_fired = false;
static pg_uuid_t task_execution;	/* whose task runs now, if valid */
static bool task_execution_valid = false;
static int	task_kill_grace_ms = 0;	/* the armed grace, for the log */
static bool task_exit_callback_registered = false;

/* Timeout handler: cancel the running task the way statement_timeout does */
static void
task_timeout_handler(void)
{
	task_timed_out = true;
	QueryCancelPending = true;
	InterruptPending = true;
	SetLatch(MyLatch);
}

/* Kill handler: end the worker the way SIGTERM does (flags only) */
static void
task_kill_handler(void)
{
	task_kill_fired = true;
	ProcDiePending = true;
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

/*
 * before_shmem_exit callback of a pool worker that armed the hard bound.
 * Registered after InitPostgres, so it runs before ShutdownPostgres aborts
 * the batch: the execution is listed before its row lock is released and
 * another worker can claim it.
 */
static void
task_on_exit(int code, Datum arg)
{
	if (!task_kill_fired || !task_execution_valid)
		return;
	OfNoteTimeoutIgnored(&task_execution);
	ereport(LOG,
			(errmsg("orderflow worker ended itself: a task of execution %s ignored its timeout",
					OfUuidText(&task_execution)),
			 errdetail("The task was still running %d ms after it was cancelled; it will not be called again for this attempt, which fails with States.Timeout.",
					   task_kill_grace_ms)));
}

/* Register the kill timeout and the exit callback once per pool worker */
static TimeoutId
get_task_kill(void)
{
	if (task_kill_id == MAX_TIMEOUTS)
		task_kill_id = RegisterTimeout(USER_TIMEOUT, task_kill_handler);
	if (!task_exit_callback_registered)
	{
		before_shmem_exit(task_on_exit, (Datum) 0);
		task_exit_callback_registered = true;
	}
	return task_kill_id;
}

/* See task.h */
int
OfTaskKillGraceMs(int64 timeout_ms)
{
	int64		grace = timeout_ms / 100 * OF_TASK_KILL_GRACE_PERCENT;

	return (int) Min(Max(grace, OF_TASK_KILL_GRACE_MIN_MS), INT_MAX / 2);
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

/* A timeout outcome: States.Timeout of the given kind */
static void
outcome_timeout(OfTimeoutKind kind, OfTaskOutcome *outcome)
{
	outcome->ok = false;
	outcome->output = NULL;
	outcome->timeout = kind;
	outcome->error = pstrdup(OF_ERR_TIMEOUT);
	if (kind == OF_TIMEOUT_WORKER_ENDED)
		outcome->cause = pstrdup("the task ignored its timeout and its worker was ended");
	else
		outcome->cause = psprintf("the task did not finish within its TimeoutSeconds%s",
								  kind == OF_TIMEOUT_CANCEL_IGNORED ? OF_CANCEL_IGNORED_NOTE : "");
}

/*
 * Turn the error a task raised into an ASL error name and cause.  Once its
 * timeout fired, any error is the timeout: the cancel itself, or whatever
 * the task raised after catching it.
 */
static void
outcome_from_error(ErrorData *edata, bool timed_out, OfTaskOutcome *outcome)
{
	outcome->ok = false;
	outcome->output = NULL;
	outcome->timeout = OF_TIMEOUT_NONE;
	outcome->sqlerrcode = edata->sqlerrcode;
	if (timed_out)
		outcome_timeout(edata->sqlerrcode == ERRCODE_QUERY_CANCELED ?
						OF_TIMEOUT_CANCELLED : OF_TIMEOUT_CANCEL_IGNORED, outcome);
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

/*
 * Arm the task's timeout and, in a pool worker, the hard bound after it.
 * In a client's session (run_pending, start_sync_execution) there is no
 * hard bound: a task that ignores its cancel holds only that session,
 * whose user can end it.
 */
static void
arm_timeouts(int64 timeout_ms)
{
	enable_timeout_after(get_task_timeout(), (int) Min(timeout_ms, INT_MAX));
	if (OfIsPoolWorker())
	{
		task_kill_grace_ms = OfTaskKillGraceMs(timeout_ms);
		enable_timeout_after(get_task_kill(),
							 (int) Min(timeout_ms + task_kill_grace_ms, INT_MAX));
	}
}

/* Disarm both (harmless if they were never armed or already fired) */
static void
disarm_timeouts(void)
{
	if (task_timeout_id != MAX_TIMEOUTS)
		disable_timeout(task_timeout_id, false);
	if (task_kill_id != MAX_TIMEOUTS)
		disable_timeout(task_kill_id, false);
}

/* The call itself: identity and search_path switched, timeout armed */
static Datum
invoke_as_owner(Oid fn, int nargs, Oid owner, Jsonb *input, Jsonb *context,
				int64 timeout_ms, int lock_timeout_ms, bool *isnull)
{
	OfUserCode	uc;
	FmgrInfo	flinfo;
	Datum		result;

	LOCAL_FCINFO(fcinfo, 2);

	OfEnterUserCode(owner, &uc);
	if (lock_timeout_ms > 0)
		(void) set_config_option("lock_timeout", psprintf("%d", lock_timeout_ms),
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	OfCheckExecute(fn, owner, "Tasks");

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
		arm_timeouts(timeout_ms);
	result = FunctionCallInvoke(fcinfo);
	*isnull = fcinfo->isnull;
	disarm_timeouts();

	OfLeaveUserCode(&uc);
	return result;
}

/* See task.h */
void
OfCallTask(const pg_uuid_t *execution, Oid fn, int nargs, Oid owner,
		   Jsonb *input, Jsonb *context, int64 timeout_ms, int lock_timeout_ms,
		   OfTaskOutcome *outcome)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	int			locks_before;

	outcome->timeout = OF_TIMEOUT_NONE;
	outcome->sqlerrcode = 0;
	outcome->advisory_locks_released = 0;
	/* this attempt already ended a worker: do not call the task again */
	if (OfTimeoutWasIgnored(execution))
	{
		outcome_timeout(OF_TIMEOUT_WORKER_ENDED, outcome);
		return;
	}
	locks_before = OfIsPoolWorker() ? 0 : count_advisory_locks();
	task_timed_out = false;
	task_execution = *execution;
	task_execution_valid = true;
	OfTaskSlotBegin(owner);
	BeginInternalSubTransaction(NULL);
	/* allocate the result in the caller's context, not the subxact's */
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		bool		isnull;
		Datum		result = invoke_as_owner(fn, nargs, owner, input, context,
											 timeout_ms, lock_timeout_ms, &isnull);

		if (task_timed_out)
		{
			/*
			 * It returned after its timeout fired: it caught the cancel (or
			 * the cancel came just after it returned; then it is still ours
			 * and must not hit the batch).  A timeout, whatever it returned.
			 */
			QueryCancelPending = false;
			RollbackAndReleaseCurrentSubTransaction();
			outcome_timeout(OF_TIMEOUT_CANCEL_IGNORED, outcome);
		}
		else
		{
			outcome->ok = true;
			outcome->output = isnull ? NULL : DatumGetJsonbPCopy(result);
			ReleaseCurrentSubTransaction();
		}
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		bool		timed_out = task_timed_out;

		disarm_timeouts();
		if (timed_out)
			QueryCancelPending = false; /* ours; it must not hit the batch */
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
	task_execution_valid = false;
	OfTaskSlotEnd();
	outcome->advisory_locks_released = release_session_advisory_locks(locks_before);
}
