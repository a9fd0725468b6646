/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  The orderflow launcher, the worker pool, shared memory and wake-ups.
 *
 * A static background worker, the launcher, keeps orderflow.workers dynamic
 * background workers running.  Each worker loops: one transaction that
 * calls OfRunDue() (executor.c), then a sleep on its latch until the next
 * known due time, the poll interval, or a wake-up from a committing
 * backend that created new work.
 *
 * Shared memory holds the launcher's pid, one slot per worker (so other
 * backends can set the workers' latches) and a condition variable that
 * sessions in wait_for_execution() sleep on.  Everything here degrades to
 * a harmless no-op when the library was not preloaded, because then no
 * shared memory exists and no workers run.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "port/atomics.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "orderflow.h"
#include "version.h"

/* Upper bound of orderflow.workers (see its definition in orderflow.c) */
#define OF_MAX_WORKERS			64

/* A worker that dies sooner than this after starting "died quickly" */
#define OF_QUICK_DEATH_MS		10000
/* Longest backoff before restarting a worker that keeps dying quickly */
#define OF_MAX_BACKOFF_MS		60000
/* How long the launcher waits before retrying after running out of slots */
#define OF_NO_SLOT_RETRY_MS		10000
/* Launcher's safety-net nap; it is normally woken by bgw_notify_pid */
#define OF_LAUNCHER_NAP_MS		10000
/* A task running longer than this counts against its role's share */
#define OF_LONG_TASK_MS			1000
/* A role whose task ran long this recently is "slow": all its tasks count */
#define OF_SLOW_ROLE_MEMORY_MS	10000
/* Pause after an error in a worker iteration, so errors cannot flood */
#define OF_ERROR_PAUSE_MS		1000
/* Shortest idle sleep, so "due now but locked by a peer" cannot spin */
#define OF_MIN_SLEEP_MS			10
/* Executions whose task ignored its timeout and was ended (see below) */
#define OF_MAX_IGNORED_TIMEOUTS	64
/* Retention: how often the pool purges, and how many executions a batch */
#define OF_PURGE_INTERVAL_MS	5000
#define OF_PURGE_BATCH			100

/* One worker's entry in shared memory */
typedef struct OfWorkerSlot
{
	pid_t		pid;			/* 0 when no worker runs in this slot */
	Latch	   *latch;			/* the worker's process latch */
	bool		busy;			/* inside an iteration, not sleeping */
	uint32		generation;		/* bumped each time a worker takes the slot */
	/* per-role share of the pool (see OfRoleShareAdmit) */
	Oid			task_role;		/* role of the task it runs, InvalidOid if none */
	TimestampTz task_started;	/* when that task (or its admission) started */
	Oid			long_role;		/* role of its last task that ran over a second */
	TimestampTz long_ended;		/* when that task ended */
} OfWorkerSlot;

/* The orderflow shared memory area */
typedef struct OfSharedData
{
	slock_t		mutex;			/* protects launcher_pid and slots */
	pid_t		launcher_pid;	/* 0 when no launcher runs */
	OfWorkerSlot slots[OF_MAX_WORKERS];
	/* bumped before each finished_cv broadcast; see OfWaitForFinish */
	pg_atomic_uint64 finished_count;
	/* bumped when a commit created work; see of_wake_workers */
	pg_atomic_uint64 work_count;
	ConditionVariable finished_cv;	/* broadcast when executions finish */
	/* bumped before each activity_cv broadcast; see OfWaitForActivity */
	pg_atomic_uint64 activity_count;
	ConditionVariable activity_cv;	/* broadcast when activity tasks are queued */
	/* retention: when a worker last purged (protected by mutex) */
	TimestampTz last_purge;
	/* executions whose task ignored its timeout (protected by mutex) */
	int			ignored_next;	/* ring position of the next new entry */
	bool		ignored_used[OF_MAX_IGNORED_TIMEOUTS];
	pg_uuid_t	ignored[OF_MAX_IGNORED_TIMEOUTS];
} OfSharedData;

/* What the launcher knows about one pool position (launcher-local) */
typedef struct OfLauncherSlot
{
	BackgroundWorkerHandle *handle; /* NULL when nothing is registered */
	TimestampTz started_at;		/* when we registered the current worker */
	TimestampTz restart_at;		/* earliest time to register again */
	int			quick_deaths;	/* consecutive deaths soon after start */
} OfLauncherSlot;

/* NULL unless the library was preloaded and shared memory is set up */
static OfSharedData *of_shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Launcher-local view of the pool */
static OfLauncherSlot launcher_slots[OF_MAX_WORKERS];
/* Launcher: true while dynamic worker slots are exhausted (warned once) */
static bool launcher_out_of_slots = false;

/* Backend-local commit-time actions, see of_xact_callback */
static bool xact_callback_registered = false;
static bool wake_workers_at_commit = false;
static bool notify_finished_at_commit = false;
static bool notify_activity_at_commit = false;

/* Entries of of_shared->ignored this transaction recorded: forget at commit */
static pg_uuid_t ignored_to_forget[OF_MAX_IGNORED_TIMEOUTS];
static int	n_ignored_to_forget = 0;

/* finished_count as of the end of this backend's last OfWaitForFinish */
static uint64 finished_count_seen = 0;
/* activity_count as of the end of this backend's last OfWaitForActivity */
static uint64 activity_count_seen = 0;

PGDLLEXPORT void orderflow_launcher_main(Datum main_arg);
PGDLLEXPORT void orderflow_worker_main(Datum main_arg);


/* ---------------------------------------------------------------------
 * Shared memory
 * ---------------------------------------------------------------------
 */

/* Size of the orderflow shared memory area */
static Size
of_shmem_size(void)
{
	return MAXALIGN(sizeof(OfSharedData));
}

#if PG_VERSION_NUM >= 150000
/* shmem_request_hook: reserve our area (PG 15+ only allows it here) */
static void
of_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(of_shmem_size());
}
#endif

/* shmem_startup_hook: create or attach to the area */
static void
of_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	/*
	 * AddinShmemInitLock serializes creation against other processes
	 * attaching (EXEC_BACKEND builds run this hook in every backend).
	 */
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	of_shared = ShmemInitStruct("orderflow", of_shmem_size(), &found);
	if (!found)
	{
		memset(of_shared, 0, of_shmem_size());
		SpinLockInit(&of_shared->mutex);
		pg_atomic_init_u64(&of_shared->finished_count, 0);
		pg_atomic_init_u64(&of_shared->work_count, 0);
		ConditionVariableInit(&of_shared->finished_cv);
		pg_atomic_init_u64(&of_shared->activity_count, 0);
		ConditionVariableInit(&of_shared->activity_cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Install the shared memory hooks; called from _PG_init when preloaded */
void
OfShmemInit(void)
{
#if PG_VERSION_NUM >= 150000
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = of_shmem_request;
#else
	RequestAddinShmemSpace(of_shmem_size());
#endif
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = of_shmem_startup;
}

/* True when shared memory exists and a launcher is running */
bool
OfWorkersAvailable(void)
{
	pid_t		pid;

	if (of_shared == NULL)
		return false;
	SpinLockAcquire(&of_shared->mutex);
	pid = of_shared->launcher_pid;
	SpinLockRelease(&of_shared->mutex);
	return pid != 0;
}

/* Copy the pids of running workers into pids[0..max-1]; return the count */
int
OfWorkerPids(int *pids, int max)
{
	int			n = 0;

	if (of_shared == NULL)
		return 0;
	SpinLockAcquire(&of_shared->mutex);
	for (int i = 0; i < OF_MAX_WORKERS && n < max; i++)
	{
		if (of_shared->slots[i].pid != 0)
			pids[n++] = (int) of_shared->slots[i].pid;
	}
	SpinLockRelease(&of_shared->mutex);
	return n;
}


/* ---------------------------------------------------------------------
 * Commit-time wake-ups (any backend)
 * ---------------------------------------------------------------------
 */

/*
 * Wake one idle pool worker (other than slot `except`, -1 for none).
 * Idle means sleeping on its latch: busy workers are not signalled, they
 * look at work_count before they sleep (of_worker_sleep).  Returns false
 * when no worker was idle.
 */
static bool
of_wake_one_idle(int except)
{
	static int	next = 0;
	Latch	   *latch = NULL;

	SpinLockAcquire(&of_shared->mutex);
	for (int k = 0; k < OF_MAX_WORKERS; k++)
	{
		int			i = (next + k) % OF_MAX_WORKERS;
		OfWorkerSlot *slot = &of_shared->slots[i];

		if (i != except && slot->pid != 0 && slot->latch != NULL && !slot->busy)
		{
			latch = slot->latch;
			slot->busy = true;	/* so the next waker picks another one */
			next = i + 1;
			break;
		}
	}
	SpinLockRelease(&of_shared->mutex);

	/*
	 * SetLatch may signal another process, so do it outside the spinlock.  A
	 * latch we copied may belong to a worker that exited since; it lives in
	 * a PGPROC, so setting it is at worst a spurious wake-up of whoever uses
	 * that PGPROC now, which every latch user must tolerate.
	 */
	if (latch != NULL)
		SetLatch(latch);
	return latch != NULL;
}

/*
 * New work was committed: make sure some worker looks at it.  Bump
 * work_count first (a full barrier), then wake one idle worker.  A worker
 * that is busy right now, or goes idle after our look at the slots, sees
 * the new count before it sleeps and loops again instead; so one wake-up
 * per commit is enough, and a stream of commits (start_execution from many
 * sessions) does not make every worker run an empty transaction for each.
 */
static void
of_wake_workers(void)
{
	pg_atomic_fetch_add_u64(&of_shared->work_count, 1);
	(void) of_wake_one_idle(-1);
}

/* Tell wait_for_execution() sleepers that something finished */
static void
of_broadcast_finished(void)
{
	/* bump first: a sleeper that read the old count is already queued */
	pg_atomic_fetch_add_u64(&of_shared->finished_count, 1);
	ConditionVariableBroadcast(&of_shared->finished_cv);
}

/*
 * The TaskTimedOut of these executions committed: drop their entries from
 * the list of executions whose task ignored its timeout.  Spinlock only,
 * cannot throw.
 */
static void
of_forget_ignored_timeouts(void)
{
	if (n_ignored_to_forget == 0)
		return;
	SpinLockAcquire(&of_shared->mutex);
	for (int k = 0; k < n_ignored_to_forget; k++)
	{
		for (int i = 0; i < OF_MAX_IGNORED_TIMEOUTS; i++)
		{
			if (of_shared->ignored_used[i] &&
				memcmp(&of_shared->ignored[i], &ignored_to_forget[k], sizeof(pg_uuid_t)) == 0)
				of_shared->ignored_used[i] = false;
		}
	}
	SpinLockRelease(&of_shared->mutex);
	n_ignored_to_forget = 0;
}

/* XactCallback: act on the flags at commit, forget them otherwise */
static void
of_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:

			/*
			 * By now the commit is durable and visible (ProcArrayEndTransaction
			 * ran), so whoever we wake will see the new rows.  Nothing here
			 * may throw: the transaction is already committed.
			 */
			if (wake_workers_at_commit)
				of_wake_workers();
			if (notify_finished_at_commit)
				of_broadcast_finished();
			if (notify_activity_at_commit)
			{
				pg_atomic_fetch_add_u64(&of_shared->activity_count, 1);
				ConditionVariableBroadcast(&of_shared->activity_cv);
			}
			of_forget_ignored_timeouts();
			wake_workers_at_commit = false;
			notify_finished_at_commit = false;
			notify_activity_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* aborted work needs nobody; prepared work is not visible yet */
			n_ignored_to_forget = 0;	/* not recorded: fail the task again */
			wake_workers_at_commit = false;
			notify_finished_at_commit = false;
			notify_activity_at_commit = false;
			break;
		default:
			break;
	}
}

/* Register of_xact_callback once per backend */
static void
of_ensure_xact_callback(void)
{
	if (xact_callback_registered)
		return;
	RegisterXactCallback(of_xact_callback, NULL);
	xact_callback_registered = true;
}

/* Wake the pool when the current transaction commits */
void
OfWakeWorkersAtCommit(void)
{
	if (of_shared == NULL)
		return;					/* not preloaded: there is no pool to wake */
	of_ensure_xact_callback();
	wake_workers_at_commit = true;
}

/* Wake wait_for_execution() callers when the current transaction commits */
void
OfNotifyFinishedAtCommit(void)
{
	if (of_shared == NULL)
		return;					/* not preloaded: waiters poll instead */
	of_ensure_xact_callback();
	notify_finished_at_commit = true;
}

/* Wake get_activity_task() callers when the current transaction commits */
void
OfNotifyActivityAtCommit(void)
{
	if (of_shared == NULL)
		return;					/* not preloaded: waiters poll instead */
	of_ensure_xact_callback();
	notify_activity_at_commit = true;
}

/*
 * Sleep until an activity task was queued somewhere, or timeout_ms passed;
 * the counter closes the gap between the caller's look and the sleep, as
 * in OfWaitForFinish.  Without shared memory, nap 100 ms (the caller polls).
 */
void
OfWaitForActivity(long timeout_ms)
{
	ConditionVariable *cv;

	CHECK_FOR_INTERRUPTS();
	if (of_shared == NULL)
	{
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 Max(1, Min(timeout_ms, 100)), PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		return;
	}
	cv = &of_shared->activity_cv;
	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;
	ConditionVariablePrepareToSleep(cv);
	if (pg_atomic_read_u64(&of_shared->activity_count) == activity_count_seen)
		(void) ConditionVariableTimedSleep(cv, timeout_ms, PG_WAIT_EXTENSION);
	activity_count_seen = pg_atomic_read_u64(&of_shared->activity_count);
	ConditionVariableCancelSleep();
	CHECK_FOR_INTERRUPTS();
}

/* Without shared memory, nap briefly so the caller can poll */
static void
of_wait_without_shmem(long timeout_ms)
{
	long		nap = (timeout_ms < 0) ? 10 : Min(timeout_ms, 10);

	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 nap, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

/*
 * Sleep until some execution finished somewhere, or timeout_ms passed
 * (-1: no timeout).
 *
 * The caller checks its condition between calls, and a broadcast during
 * that check would be lost, because a condition variable only wakes
 * processes already queued.  finished_count closes that gap: if it moved
 * since our previous return, something finished while the caller was
 * looking, so return at once and let it look again.
 */
void
OfWaitForFinish(long timeout_ms)
{
	ConditionVariable *cv;

	CHECK_FOR_INTERRUPTS();
	if (of_shared == NULL)
	{
		of_wait_without_shmem(timeout_ms);
		return;
	}

	cv = &of_shared->finished_cv;
	if (timeout_ms > INT_MAX)
		timeout_ms = INT_MAX;

	/* queue first, then read the count: a later bump will find us queued */
	ConditionVariablePrepareToSleep(cv);
	if (pg_atomic_read_u64(&of_shared->finished_count) == finished_count_seen)
		(void) ConditionVariableTimedSleep(cv, timeout_ms, PG_WAIT_EXTENSION);
	finished_count_seen = pg_atomic_read_u64(&of_shared->finished_count);
	ConditionVariableCancelSleep();
	CHECK_FOR_INTERRUPTS();
}


/* ---------------------------------------------------------------------
 * Launcher
 * ---------------------------------------------------------------------
 */

/* Register the launcher as a static background worker */
void
OfRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));

	/*
	 * The database connection flag is only there so the launcher can attach
	 * to the shared catalogs (as the logical replication launcher does),
	 * which is what makes it visible in pg_stat_activity.  It never opens
	 * a database, so it blocks no DROP DATABASE.
	 */
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	/* if the launcher dies, the postmaster brings it back */
	worker.bgw_restart_time = 5;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "orderflow");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "orderflow_launcher_main");
	snprintf(worker.bgw_name, BGW_MAXLEN, "orderflow launcher");
	snprintf(worker.bgw_type, BGW_MAXLEN, "orderflow launcher");
	worker.bgw_main_arg = (Datum) 0;
	worker.bgw_notify_pid = 0;
	RegisterBackgroundWorker(&worker);
}

/* Number of workers the launcher should keep running right now */
static int
of_target_workers(void)
{
	return Max(0, Min(of_workers, OF_MAX_WORKERS));
}

/* Report the pool size in pg_stat_activity if it changed */
static void
of_launcher_report(int running, int target)
{
	static int	last_running = -1;
	static int	last_target = -1;
	char		activity[64];

	if (running == last_running && target == last_target)
		return;
	last_running = running;
	last_target = target;
	snprintf(activity, sizeof(activity), "%d of %d orderflow workers running",
			 running, target);
	/* no transaction here; give query_start a real value */
	SetCurrentStatementStartTimestamp();
	pgstat_report_activity(STATE_IDLE, activity);
}

/* Fill in the BackgroundWorker for pool position i */
static void
of_init_worker_struct(BackgroundWorker *worker, int i)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS |
		BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;

	/*
	 * The launcher restarts workers itself, with backoff, and must be able
	 * to stop them for good when orderflow.workers shrinks; a postmaster
	 * restart policy would fight both.
	 */
	worker->bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker->bgw_library_name, BGW_MAXLEN, "orderflow");
	snprintf(worker->bgw_function_name, BGW_MAXLEN, "orderflow_worker_main");
	snprintf(worker->bgw_name, BGW_MAXLEN, "orderflow worker %d", i);
	snprintf(worker->bgw_type, BGW_MAXLEN, "orderflow worker");
	worker->bgw_main_arg = Int32GetDatum(i);

	/*
	 * Have the postmaster SIGUSR1 us when the worker starts or stops; that
	 * sets our latch, so we notice a dead worker at once instead of polling.
	 */
	worker->bgw_notify_pid = MyProcPid;
}

/* Register the dynamic worker for pool position i; false if no slot */
static bool
of_start_worker(int i)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext oldcxt;

	of_init_worker_struct(&worker, i);

	/* the handle must outlive this call; keep it in TopMemoryContext */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		MemoryContextSwitchTo(oldcxt);
		return false;
	}
	MemoryContextSwitchTo(oldcxt);

	launcher_slots[i].handle = handle;
	launcher_slots[i].started_at = GetCurrentTimestamp();
	return true;
}

/* Warn once per shortage that no dynamic worker slot was free */
static void
of_warn_out_of_slots(int registered, int target)
{
	if (launcher_out_of_slots)
		return;
	launcher_out_of_slots = true;
	ereport(WARNING,
			(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
			 errmsg("orderflow launcher could not start a worker: no background worker slot is free"),
			 errdetail("Only %d of %d orderflow workers have a slot; the launcher retries every %d seconds.",
					   registered, target, OF_NO_SLOT_RETRY_MS / 1000),
			 errhint("Raise \"max_worker_processes\" (requires a restart) or lower \"orderflow.workers\".")));
}

/* Backoff before restarting a worker that died quickly n times in a row */
static long
of_backoff_ms(int n)
{
	long		ms = 1000;

	while (--n > 0 && ms < OF_MAX_BACKOFF_MS)
		ms *= 2;
	return Min(ms, OF_MAX_BACKOFF_MS);
}

/* Forget pool position i's stopped worker and schedule its restart */
static void
of_worker_stopped(int i, TimestampTz now)
{
	OfLauncherSlot *ls = &launcher_slots[i];

	pfree(ls->handle);
	ls->handle = NULL;

	/*
	 * A worker that keeps dying right after start (say orderflow.database
	 * does not exist) would otherwise be restarted in a tight loop.
	 */
	if (TimestampDifferenceExceeds(ls->started_at, now, OF_QUICK_DEATH_MS))
		ls->quick_deaths = 0;
	else
		ls->quick_deaths++;

	if (ls->quick_deaths > 1)
	{
		long		delay = of_backoff_ms(ls->quick_deaths - 1);

		ls->restart_at = TimestampTzPlusMilliseconds(now, delay);
		elog(DEBUG1, "orderflow worker %d died %d times in a row soon after starting; restarting in %ld ms",
			 i, ls->quick_deaths, delay);
	}
	else
		ls->restart_at = now;
}

/*
 * Check on pool position i.  Returns true if a worker is registered there;
 * *started tells whether it is actually running yet.
 */
static bool
of_poll_worker(int i, TimestampTz now, bool *started)
{
	pid_t		pid;

	*started = false;
	if (launcher_slots[i].handle == NULL)
		return false;

	switch (GetBackgroundWorkerPid(launcher_slots[i].handle, &pid))
	{
		case BGWH_STARTED:
			*started = true;
			return true;
		case BGWH_NOT_YET_STARTED:
			return true;
		case BGWH_STOPPED:
			of_worker_stopped(i, now);
			return false;
		case BGWH_POSTMASTER_DIED:
			proc_exit(1);
	}
	return false;
}

/* Milliseconds from now until ts, at least 0 */
static long
of_ms_until(TimestampTz now, TimestampTz ts)
{
	return (ts <= now) ? 0 : (long) ((ts - now) / 1000);
}

/*
 * Bring the pool to orderflow.workers: reap stopped workers, start missing
 * ones (respecting backoff), stop surplus ones.  Returns how long the
 * launcher may sleep before it needs to look again.
 */
static long
of_adjust_pool(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			target = of_target_workers();
	int			registered = 0;
	int			running = 0;
	long		nap = OF_LAUNCHER_NAP_MS;
	bool		no_slot = false;

	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		OfLauncherSlot *ls = &launcher_slots[i];
		bool		started;

		if (of_poll_worker(i, now, &started))
		{
			/* surplus after orderflow.workers went down: stop it */
			if (i >= target)
				TerminateBackgroundWorker(ls->handle);
			else
			{
				registered++;
				running += started ? 1 : 0;
			}
			continue;
		}
		if (i >= target)
		{
			ls->quick_deaths = 0;	/* a later raise starts fresh */
			continue;
		}
		if (no_slot || ls->restart_at > now)
		{
			nap = Min(nap, no_slot ? OF_NO_SLOT_RETRY_MS :
					  of_ms_until(now, ls->restart_at));
			continue;
		}
		if (of_start_worker(i))
			registered++;
		else
		{
			no_slot = true;
			nap = Min(nap, OF_NO_SLOT_RETRY_MS);
		}
	}

	if (no_slot)
		of_warn_out_of_slots(registered, target);
	else if (registered == target)
		launcher_out_of_slots = false;
	of_launcher_report(running, target);
	return nap;
}

/* before_shmem_exit callback: take the pool down with the launcher */
static void
of_launcher_on_exit(int code, Datum arg)
{
	/*
	 * The handles die with this process, so a new launcher could never
	 * stop or watch these workers.  Terminate them; the next launcher
	 * starts a fresh pool.  Their in-flight steps roll back and are retried.
	 */
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		if (launcher_slots[i].handle != NULL)
			TerminateBackgroundWorker(launcher_slots[i].handle);
	}

	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->launcher_pid == MyProcPid)
		of_shared->launcher_pid = 0;
	SpinLockRelease(&of_shared->mutex);
}

/* Entry point of the launcher */
void
orderflow_launcher_main(Datum main_arg)
{
	/* die instead of the default bgworker_die, which ignores crit sections */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (of_shared == NULL)
		elog(FATAL, "orderflow shared memory is not initialized");

	/* shared catalogs only: enough for pg_stat_activity, no database */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("orderflow launcher");

	SpinLockAcquire(&of_shared->mutex);
	of_shared->launcher_pid = MyProcPid;
	SpinLockRelease(&of_shared->mutex);
	before_shmem_exit(of_launcher_on_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("orderflow launcher started"),
			 errdetail("Keeping %d workers on database \"%s\".",
					   of_target_workers(), of_database)));

	for (;;)
	{
		long		nap;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		nap = of_adjust_pool();

		/*
		 * WL_EXIT_ON_PM_DEATH: if the postmaster is gone, nobody can restart
		 * or stop our workers, so there is nothing sensible left to do.
		 */
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 nap, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}


/* ---------------------------------------------------------------------
 * Worker
 * ---------------------------------------------------------------------
 */

/* This worker's pool position (index into of_shared->slots) */
static int	my_slot = -1;

/* Per-iteration scratch memory, reset at the top of every loop */
static MemoryContext worker_loop_cxt = NULL;

/* Mark this worker busy or idle in its slot */
static void
of_set_busy(bool busy)
{
	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->slots[my_slot].pid == MyProcPid)
		of_shared->slots[my_slot].busy = busy;
	SpinLockRelease(&of_shared->mutex);
}

/* ---- Per-role share of the pool ---- */

/* See orderflow.h */
bool
OfIsPoolWorker(void)
{
	return my_slot >= 0 && of_shared != NULL;
}

/* orderflow.max_workers_per_role in effect: 0 means workers - 1, at least 1 */
static int
of_role_share(void)
{
	int			share = of_max_workers_per_role;

	if (share <= 0)
		share = of_workers - 1;
	return Max(share, 1);
}

/*
 * Does `role` have slow tasks?  Yes if a worker is in a task of it that
 * has run over OF_LONG_TASK_MS, or a task of it ended after running that
 * long within the last OF_SLOW_ROLE_MEMORY_MS.  Caller holds the mutex.
 */
static bool
of_role_is_slow(const OfWorkerSlot *slots, Oid role, TimestampTz now)
{
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		const OfWorkerSlot *slot = &slots[i];

		if (slot->pid == 0)
			continue;
		if (slot->task_role == role &&
			now - slot->task_started > (TimestampTz) OF_LONG_TASK_MS * 1000)
			return true;
		if (slot->long_role == role &&
			now - slot->long_ended < (TimestampTz) OF_SLOW_ROLE_MEMORY_MS * 1000)
			return true;
	}
	return false;
}

/*
 * See orderflow.h.  Counts the OTHER workers in tasks of `role` that have
 * run over a second; once the role is known to be slow, every task of it
 * counts, so workers that finish their slow tasks together do not all
 * start the next ones together.  Fast tasks never make a role slow, so a
 * single role's fast tasks are never deferred.  Admission reserves this
 * worker's slot for the role (check and set under one lock, so two workers
 * cannot both take the last share).
 */
bool
OfRoleShareAdmit(Oid role)
{
	TimestampTz now;
	int			others = 0;
	bool		slow;
	bool		admit;

	if (!OfIsPoolWorker())
		return true;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&of_shared->mutex);
	slow = of_role_is_slow(of_shared->slots, role, now);
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		OfWorkerSlot *slot = &of_shared->slots[i];

		if (i == my_slot || slot->pid == 0 || slot->task_role != role)
			continue;
		if (slow || now - slot->task_started > (TimestampTz) OF_LONG_TASK_MS * 1000)
			others++;
	}
	admit = others < of_role_share();
	if (admit)
	{
		of_shared->slots[my_slot].task_role = role;
		of_shared->slots[my_slot].task_started = now;
	}
	SpinLockRelease(&of_shared->mutex);
	return admit;
}

/*
 * See orderflow.h.  The roles whose next task this worker would not be
 * admitted to run (OfRoleShareAdmit's rule, for every role some other
 * worker is in a task of), so that claiming and the idle sleep skip their
 * due executions instead of claiming and deferring them over and over.
 */
int
OfSaturatedRoles(Oid *roles, int max)
{
	OfWorkerSlot slots[OF_MAX_WORKERS];
	TimestampTz now;
	int			n = 0;

	if (!OfIsPoolWorker())
		return 0;
	/* a copy, so that the spinlock is held for a memcpy only */
	SpinLockAcquire(&of_shared->mutex);
	memcpy(slots, of_shared->slots, sizeof(slots));
	SpinLockRelease(&of_shared->mutex);
	now = GetCurrentTimestamp();
	for (int i = 0; i < OF_MAX_WORKERS && n < max; i++)
	{
		Oid			role = slots[i].task_role;
		int			others = 0;
		bool		seen = false;
		bool		slow;

		if (i == my_slot || slots[i].pid == 0 || !OidIsValid(role))
			continue;
		for (int k = 0; k < n; k++)
			seen = seen || roles[k] == role;
		if (seen)
			continue;
		slow = of_role_is_slow(slots, role, now);
		for (int j = 0; j < OF_MAX_WORKERS; j++)
		{
			if (j == my_slot || slots[j].pid == 0 || slots[j].task_role != role)
				continue;
			if (slow || now - slots[j].task_started > (TimestampTz) OF_LONG_TASK_MS * 1000)
				others++;
		}
		if (others >= of_role_share())
			roles[n++] = role;
	}
	return n;
}

/* See orderflow.h: this worker now calls a task of `role` */
void
OfTaskSlotBegin(Oid role)
{
	TimestampTz now;

	if (!OfIsPoolWorker())
		return;
	now = GetCurrentTimestamp();
	SpinLockAcquire(&of_shared->mutex);
	of_shared->slots[my_slot].task_role = role;
	of_shared->slots[my_slot].task_started = now;
	SpinLockRelease(&of_shared->mutex);
}

/* See orderflow.h: the task (or the admission) is over; remember a long one */
void
OfTaskSlotEnd(void)
{
	TimestampTz now;
	OfWorkerSlot *slot;

	if (!OfIsPoolWorker())
		return;
	now = GetCurrentTimestamp();
	slot = &of_shared->slots[my_slot];
	SpinLockAcquire(&of_shared->mutex);
	if (slot->task_role != InvalidOid &&
		now - slot->task_started > (TimestampTz) OF_LONG_TASK_MS * 1000)
	{
		slot->long_role = slot->task_role;
		slot->long_ended = now;
	}
	slot->task_role = InvalidOid;
	SpinLockRelease(&of_shared->mutex);
}

/* ---- Tasks that ignored their timeout ----
 *
 * A pool worker whose task is still running a grace period after its
 * timeout fired ends itself with FATAL (task.c).  Its batch rolls back, so
 * the execution is due again at the same task: before the worker's
 * transaction is aborted (its exit callback runs before ShutdownPostgres)
 * it records the execution here, and whoever claims the execution next
 * fails that task with States.Timeout instead of calling it.  The entry
 * goes when that failure commits.  A small ring: if more executions than
 * it holds are waiting to be failed, the oldest entry is overwritten (and
 * that task may run, and be ended, once more).  It lives in shared memory
 * only: a server restart forgets it.
 */

/* See orderflow.h: called by a worker ending itself in its task */
void
OfNoteTimeoutIgnored(const pg_uuid_t *execution)
{
	int			free_at = -1;

	if (of_shared == NULL)
		return;
	SpinLockAcquire(&of_shared->mutex);
	for (int i = 0; i < OF_MAX_IGNORED_TIMEOUTS; i++)
	{
		if (!of_shared->ignored_used[i])
		{
			if (free_at < 0)
				free_at = i;
		}
		else if (memcmp(&of_shared->ignored[i], execution, sizeof(pg_uuid_t)) == 0)
		{
			free_at = -2;		/* already listed */
			break;
		}
	}
	if (free_at == -1)
	{
		free_at = of_shared->ignored_next;
		of_shared->ignored_next = (free_at + 1) % OF_MAX_IGNORED_TIMEOUTS;
	}
	if (free_at >= 0)
	{
		of_shared->ignored[free_at] = *execution;
		of_shared->ignored_used[free_at] = true;
	}
	SpinLockRelease(&of_shared->mutex);
}

/*
 * See orderflow.h: is the execution listed?  If so, its entry is dropped
 * when the current transaction commits (the caller records the failure in
 * it); if the transaction aborts, the entry stays.  Once per transaction:
 * the execution's next task in the same batch (a Catch's Next, a retry)
 * is called as usual.
 */
bool
OfTimeoutWasIgnored(const pg_uuid_t *execution)
{
	bool		listed = false;

	if (of_shared == NULL)
		return false;
	for (int k = 0; k < n_ignored_to_forget; k++)
	{
		if (memcmp(&ignored_to_forget[k], execution, sizeof(pg_uuid_t)) == 0)
			return false;		/* already failed in this transaction */
	}
	SpinLockAcquire(&of_shared->mutex);
	for (int i = 0; i < OF_MAX_IGNORED_TIMEOUTS && !listed; i++)
		listed = of_shared->ignored_used[i] &&
			memcmp(&of_shared->ignored[i], execution, sizeof(pg_uuid_t)) == 0;
	SpinLockRelease(&of_shared->mutex);
	if (!listed)
		return false;
	/* more than the ring holds in one transaction: call it (and end it) */
	if (n_ignored_to_forget >= OF_MAX_IGNORED_TIMEOUTS)
		return false;
	of_ensure_xact_callback();
	ignored_to_forget[n_ignored_to_forget++] = *execution;
	return true;
}

/* before_shmem_exit callback: leave the slot so nobody wakes a dead worker */
static void
of_worker_on_exit(int code, Datum arg)
{
	OfWorkerSlot *slot = &of_shared->slots[my_slot];

	SpinLockAcquire(&of_shared->mutex);
	/* a successor may already have taken the slot; leave it alone then */
	if (slot->pid == MyProcPid)
	{
		slot->pid = 0;
		slot->latch = NULL;
		slot->busy = false;
		slot->task_role = InvalidOid;
		slot->long_role = InvalidOid;
	}
	SpinLockRelease(&of_shared->mutex);
}

/* Publish this worker's pid and latch in slot i */
static void
of_worker_attach(int i)
{
	OfWorkerSlot *slot;

	if (i < 0 || i >= OF_MAX_WORKERS)
		elog(FATAL, "orderflow worker started with invalid slot %d", i);
	my_slot = i;
	slot = &of_shared->slots[i];

	SpinLockAcquire(&of_shared->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->busy = true;
	slot->generation++;
	slot->task_role = InvalidOid;
	slot->long_role = InvalidOid;
	SpinLockRelease(&of_shared->mutex);
	before_shmem_exit(of_worker_on_exit, (Datum) 0);
}

/*
 * One transaction: advance due executions.  Returns the number of steps
 * done; *next_due_ms as from OfRunDue (-1 when unknown or not installed).
 */
static int
of_worker_iteration(long *next_due_ms)
{
	int			steps = 0;

	*next_due_ms = -1;

	/* statement start doubles as transaction start: now() must be current */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "advancing due executions");

	/*
	 * the preloaded library runs before CREATE EXTENSION, and a new library
	 * before ALTER EXTENSION UPDATE: wait for the SQL objects of its version
	 */
	if (OfGetSchemaStatus(NULL) == OF_SCHEMA_CURRENT)
		steps = OfRunDue(of_batch_size, next_due_ms);
	/* an admission whose task was never called must not linger */
	OfTaskSlotEnd();

	PopActiveSnapshot();
	CommitTransactionCommand();
	/* commit leaves us in TopMemoryContext; go back to the scratch one */
	MemoryContextSwitchTo(worker_loop_cxt);
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return steps;
}

/*
 * Retention: at most every OF_PURGE_INTERVAL_MS one worker of the pool
 * deletes a small batch of expired executions in a transaction of its
 * own (retention.c).  A full batch means more are waiting: purge again
 * on the next loop.
 */
static void
of_maybe_purge(void)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		mine = false;
	int64		purged = 0;

	if (of_retention_s <= 0)
		return;
	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->last_purge == 0 ||
		now - of_shared->last_purge >= (TimestampTz) OF_PURGE_INTERVAL_MS * 1000)
	{
		of_shared->last_purge = now;
		mine = true;
	}
	SpinLockRelease(&of_shared->mutex);
	if (!mine)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "purging expired executions");
	if (OfGetSchemaStatus(NULL) == OF_SCHEMA_CURRENT)
		purged = OfPurgeExpired(OF_PURGE_BATCH);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(worker_loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (purged >= OF_PURGE_BATCH)
	{
		SpinLockAcquire(&of_shared->mutex);
		of_shared->last_purge = 0;
		SpinLockRelease(&of_shared->mutex);
	}
}

/*
 * Sleep on the latch for up to timeout_ms, unless work was committed since
 * work_seen was read (before the iteration's snapshot): see of_wake_workers.
 */
static void
of_worker_sleep(long timeout_ms, uint64 work_seen)
{
	of_set_busy(false);
	/* of_set_busy's spinlock orders this read after the store of busy */
	if (pg_atomic_read_u64(&of_shared->work_count) != work_seen)
	{
		of_set_busy(true);
		return;
	}

	/*
	 * WL_EXIT_ON_PM_DEATH: after a postmaster crash, shared memory is about
	 * to be reinitialized; a worker that lingers would hold it and run
	 * without supervision.
	 */
	(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					 timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
	of_set_busy(true);
}

/*
 * Sleep a full ms milliseconds, even if woken: a persistent error must not
 * fill the log as fast as committing sessions wake us.  Still honours
 * SIGTERM and postmaster death.
 */
static void
of_worker_pause(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	long		left;

	of_set_busy(false);
	while ((left = of_ms_until(GetCurrentTimestamp(), until)) > 0)
	{
		(void) WaitLatch(MyLatch,
						 WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 left, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	of_set_busy(true);
}

/* How long an idle worker sleeps, given OfRunDue's next due time */
static long
of_idle_timeout(long next_due_ms)
{
	long		timeout = of_poll_interval_ms;

	if (next_due_ms >= 0)
		timeout = Min(timeout, next_due_ms);
	return Max(timeout, OF_MIN_SLEEP_MS);
}

/*
 * Recover from an ERROR thrown in an iteration: log it, abort the
 * transaction, and pause, the way postgres.c and autovacuum do.  The
 * executor isolates task failures itself; this is the last line that keeps
 * one bad iteration from taking the pool down.
 */
static void
of_worker_recover(void)
{
	/* since not using PG_TRY, reset the error context stack by hand */
	error_context_stack = NULL;
	HOLD_INTERRUPTS();

	/* forget a pending statement timeout or cancel aimed at the dead work */
	disable_all_timeouts(false);
	QueryCancelPending = false;

	EmitErrorReport();
	/* releases locks, buffer pins, snapshots, SPI and a CV sleep */
	AbortCurrentTransaction();
	OfTaskSlotEnd();

	MemoryContextSwitchTo(worker_loop_cxt);
	FlushErrorState();
	MemoryContextReset(worker_loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	RESUME_INTERRUPTS();

	of_worker_pause(OF_ERROR_PAUSE_MS);
}

/* Entry point of a pool worker; main_arg is its slot index */
void
orderflow_worker_main(Datum main_arg)
{
	sigjmp_buf	local_sigjmp_buf;

	/* die instead of the default bgworker_die, which ignores crit sections */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (of_shared == NULL)
		elog(FATAL, "orderflow shared memory is not initialized");
	of_worker_attach(DatumGetInt32(main_arg));

	/*
	 * Connect as the bootstrap superuser; the executor switches to each
	 * execution's owner around its tasks.
	 */
	BackgroundWorkerInitializeConnection(of_database, NULL, 0);
	pgstat_report_appname("orderflow worker");

	worker_loop_cxt = AllocSetContextCreate(TopMemoryContext,
											"orderflow worker loop",
											ALLOCSET_DEFAULT_SIZES);

	/* from here on an ERROR lands here instead of ending the process */
	if (sigsetjmp(local_sigjmp_buf, 1) != 0)
		of_worker_recover();
	PG_exception_stack = &local_sigjmp_buf;

	for (;;)
	{
		long		next_due_ms;
		uint64		work_seen;

		MemoryContextReset(worker_loop_cxt);
		MemoryContextSwitchTo(worker_loop_cxt);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}

		of_maybe_purge();

		/*
		 * More work may be due right away: loop without sleeping, and let an
		 * idle peer help with it.
		 */
		work_seen = pg_atomic_read_u64(&of_shared->work_count);
		if (of_worker_iteration(&next_due_ms) > 0)
		{
			(void) of_wake_one_idle(my_slot);
			continue;
		}
		of_worker_sleep(of_idle_timeout(next_due_ms), work_seen);
	}
}
