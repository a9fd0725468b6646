/*-------------------------------------------------------------------------
 *
 * pool.c
 *	  The worker pool's shared memory and what any backend does with it:
 *	  commit-time wake-ups of the right database's workers, the condition
 *	  variables of wait_for_execution() and get_activity_task(), the
 *	  per-role share of the pool and the tasks that ignored their timeout.
 *
 * Everything here degrades to a harmless no-op when the library was not
 * preloaded, because then no shared memory exists and no workers run.
 * The layout and the placement rule are described in pool.h.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"

#include "orderflow.h"
#include "pool.h"

/* A task running longer than this counts against its role's share */
#define OF_LONG_TASK_MS			1000
/* A role whose task ran long this recently is "slow": all its tasks count */
#define OF_SLOW_ROLE_MEMORY_MS	10000

OfSharedData *of_shared = NULL;

#if PG_VERSION_NUM >= 150000
static shmem_request_hook_type prev_shmem_request_hook = NULL;
#endif
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* This backend's pool position when it is a pool worker, else -1 */
static int	my_slot = -1;

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
		for (int i = 0; i < OF_MAX_DATABASES; i++)
			pg_atomic_init_u64(&of_shared->dbs[i].work_count, 0);
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

/*
 * See orderflow.h: true when a launcher runs and dboid is a database it
 * serves or will serve (known, allowed by orderflow.database, its
 * extension not known to be absent or of another version).
 */
bool
OfWorkersServeDatabase(Oid dboid)
{
	bool		serves = false;
	int			i;

	if (of_shared == NULL)
		return false;
	SpinLockAcquire(&of_shared->mutex);
	i = OfDbFind(dboid);
	if (of_shared->launcher_pid != 0 && i >= 0)
	{
		OfDbEntry  *db = &of_shared->dbs[i];

		serves = db->eligible &&
			(db->state == OF_DB_SERVED || db->state == OF_DB_UNKNOWN ||
			 db->state == OF_DB_RESTORING ||	/* serves it after the restore */
			 db->probe_gen != db->probe_gen_done);
	}
	SpinLockRelease(&of_shared->mutex);
	return serves;
}

/* ---------------------------------------------------------------------
 * Commit-time wake-ups (any backend)
 * ---------------------------------------------------------------------
 */

/* See pool.h */
int
OfDbFind(Oid dboid)
{
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		if (of_shared->dbs[i].dboid == dboid)
			return i;
	}
	return -1;
}

/* See pool.h */
int
OfDbFindOrAdd(Oid dboid)
{
	int			i = OfDbFind(dboid);

	if (i >= 0)
		return i;
	for (i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];

		if (db->dboid != InvalidOid)
			continue;
		/* work_count stays: it only ever grows, workers compare it for change */
		db->dboid = dboid;
		db->state = OF_DB_UNKNOWN;
		db->eligible = false;	/* until the launcher has checked the filter */
		db->probe_gen = db->probe_gen_done = 0;
		db->probe_wanted = false;
		db->last_busy = 0;
		db->warned = false;
		db->recheck_at = 0;
		db->wake_pending = false;
		db->next_due = DT_NOEND;
		db->blocked_by = 0;
		db->restore_seen_at = 0;
		db->last_purge = 0;
		db->quick_deaths = 0;
		db->restart_at = 0;
		db->last_started = 0;
		db->busy_since = 0;
		return i;
	}
	return -1;
}

/* See pool.h */
int
OfDbFreeEntries(void)
{
	int			n = 0;

	for (int i = 0; i < OF_MAX_DATABASES; i++)
		n += of_shared->dbs[i].dboid == InvalidOid;
	return n;
}

/* See pool.h */
void
OfWakeLauncher(void)
{
	Latch	   *latch;

	if (of_shared == NULL)
		return;
	SpinLockAcquire(&of_shared->mutex);
	latch = of_shared->launcher_pid != 0 ? of_shared->launcher_latch : NULL;
	SpinLockRelease(&of_shared->mutex);
	/* as in OfWakeOneIdle: a stale latch means a spurious wake-up at worst */
	if (latch != NULL)
		SetLatch(latch);
}

/* See pool.h */
void
OfPoolSetMySlot(int slot)
{
	my_slot = slot;
}

/* See pool.h */
long
OfMsUntil(TimestampTz now, TimestampTz ts)
{
	return (ts <= now) ? 0 : (long) ((ts - now) / 1000);
}

/*
 * Wake one idle pool worker of database entry db (other than slot
 * `except`, -1 for none).  Idle means sleeping on its latch: busy workers
 * are not signalled, they look at their database's work_count before they
 * sleep (worker.c).  Returns false when no worker of db was idle.
 */
bool
OfWakeOneIdle(int db, int except)
{
	static int	next = 0;
	Latch	   *latch = NULL;

	SpinLockAcquire(&of_shared->mutex);
	for (int k = 0; k < OF_MAX_WORKERS; k++)
	{
		int			i = (next + k) % OF_MAX_WORKERS;
		OfWorkerSlot *slot = &of_shared->slots[i];

		if (i != except && slot->pid != 0 && slot->latch != NULL && !slot->busy &&
			slot->db_index == db && slot->connected && !slot->leave)
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
 * New work was committed in this database: make sure some worker of it
 * looks at it.  Bump the database's work_count first (a full barrier) and
 * mark it wanting service, then wake one idle worker of it.  A worker that
 * is busy right now, or goes idle after our look at the slots, sees the new
 * count before it sleeps and loops again instead; so one wake-up per commit
 * is enough, and a stream of commits (start_execution from many sessions)
 * does not make every worker run an empty transaction for each.  When the
 * database has no idle worker, the launcher is told: it may have to give
 * the database one (pool.h, launcher.c).
 */
static void
of_wake_workers(void)
{
	static int	cached = -1;	/* MyDatabaseId's entry, checked before use */
	int			db;

	SpinLockAcquire(&of_shared->mutex);
	if (cached < 0 || of_shared->dbs[cached].dboid != MyDatabaseId)
		cached = OfDbFind(MyDatabaseId);
	if (cached < 0)
	{
		/*
		 * Work committed here, so the extension is here: a database the
		 * launcher has not probed yet (or found without it before a
		 * restart of the launcher) is to be probed first.
		 */
		cached = OfDbFindOrAdd(MyDatabaseId);
		if (cached >= 0)
		{
			of_shared->dbs[cached].probe_gen++;
			of_shared->dbs[cached].probe_wanted = true;
			of_shared->rescan_requested = true;
		}
	}
	else if (of_shared->dbs[cached].state == OF_DB_UNKNOWN &&
			 !of_shared->dbs[cached].probe_wanted)
	{
		/*
		 * Known but not probed yet (a copy of a template that holds the
		 * extension, found in pg_database): work committed here proves the
		 * extension, so it is probed like a reported database, not only
		 * when a position happens to be free.
		 */
		of_shared->dbs[cached].probe_wanted = true;
	}
	db = cached;
	if (db >= 0)
		of_shared->dbs[db].wake_pending = true;
	SpinLockRelease(&of_shared->mutex);
	if (db < 0)
		return;					/* the table is full of served databases */
	pg_atomic_fetch_add_u64(&of_shared->dbs[db].work_count, 1);
	if (!OfWakeOneIdle(db, -1))
		OfWakeLauncher();
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
