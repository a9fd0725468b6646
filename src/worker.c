/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  A pool worker: serves one database, batch after batch.
 *
 * The launcher (launcher.c) starts each worker for one database (its pool
 * slot names it).  The worker loops: one transaction that checks the
 * extension is there at the library's version (version.c) and calls
 * OfRunDue() (executor.c), then a sleep on its latch until the next known
 * due time, the poll interval, or a wake-up from a session of its database
 * that committed new work.  After every batch it reports its database's
 * demand (pool.h) and leaves if the launcher asked it to.
 *
 * A worker leaves a database where a pg_restore session is connected, at
 * its first batch or within a second of the session connecting (restore.c
 * says why and when the pool comes back).
 *
 * A worker whose database has no extension orderflow (a probe that found
 * none, or DROP EXTENSION) or has it at another version (awaiting ALTER
 * EXTENSION UPDATE) leaves it: one LOG line, or one WARNING for the
 * version, per database, never an error loop.  An ERROR whose cause is
 * that the extension went away under a batch counts as such a departure.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timeout.h"
#include "utils/timestamp.h"

#include "orderflow.h"
#include "pool.h"
#include "restore.h"
#include "version.h"

/* Pause after an error in a worker iteration, so errors cannot flood */
#define OF_ERROR_PAUSE_MS		1000
/* Shortest idle sleep, so "due now but locked by a peer" cannot spin */
#define OF_MIN_SLEEP_MS			10
/* Retention: how often a database is purged, and how many executions a batch */
#define OF_PURGE_INTERVAL_MS	5000
#define OF_PURGE_BATCH			100
/* A database without the extension is looked at again after this */
#define OF_ABSENT_RECHECK_MS	(10 * 60 * 1000)
/* A database at another version is looked at again after this */
#define OF_OTHER_RECHECK_MS		(60 * 1000)

PGDLLEXPORT void orderflow_worker_main(Datum main_arg);

/* This worker's pool position and database entry */
static int	my_slot = -1;
static int	my_db = -1;
/* OID of the extension this worker serves (a new CREATE EXTENSION: leave) */
static Oid	my_extension = InvalidOid;
/* The database's probe_gen when this worker's current batch began */
static uint32 my_probe_gen = 0;
/* When this worker's database has its next known due work (DT_NOEND: none) */
static TimestampTz my_next_due = DT_NOEND;

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
		slot->did_work = false;
		slot->task_role = InvalidOid;
		slot->long_role = InvalidOid;
	}
	SpinLockRelease(&of_shared->mutex);
}

/* Publish this worker's pid and latch in slot i; returns its database */
static Oid
of_worker_attach(int i)
{
	OfWorkerSlot *slot;
	Oid			dboid;

	if (i < 0 || i >= OF_MAX_WORKERS)
		elog(FATAL, "orderflow worker started with invalid slot %d", i);
	my_slot = i;
	OfPoolSetMySlot(i);
	slot = &of_shared->slots[i];

	SpinLockAcquire(&of_shared->mutex);
	slot->pid = MyProcPid;
	slot->latch = MyLatch;
	slot->busy = true;
	slot->generation++;
	slot->task_role = InvalidOid;
	slot->long_role = InvalidOid;
	dboid = slot->dboid;
	my_db = slot->db_index;
	SpinLockRelease(&of_shared->mutex);
	before_shmem_exit(of_worker_on_exit, (Datum) 0);
	return dboid;
}

/*
 * Leave on purpose: hand what this worker knows of its database's due work
 * to the database entry (so the launcher gives it a worker again when that
 * comes due), mark the exit clean (no restart backoff) and exit.
 */
static void
of_worker_leave(void)
{
	OfDbEntry  *db = &of_shared->dbs[my_db];

	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->slots[my_slot].did_work)
		db->wake_pending = true;	/* still busy: whoever comes next goes on */
	else if (my_next_due < db->next_due)
		db->next_due = my_next_due;
	of_shared->slots[my_slot].clean_exit = true;
	SpinLockRelease(&of_shared->mutex);
	proc_exit(0);
}

/* Has the launcher asked this worker to leave? */
static bool
of_asked_to_leave(void)
{
	bool		leave;

	SpinLockAcquire(&of_shared->mutex);
	leave = of_shared->slots[my_slot].leave;
	SpinLockRelease(&of_shared->mutex);
	return leave;
}

/*
 * The database does not have the extension at our version (status ABSENT
 * or OTHER, installed the version found): record it for the launcher and
 * leave.  The first worker to see a change says so, once: LOG when a
 * served database lost its extension, WARNING for another version; a probe
 * that finds nothing stays silent.  Outside a transaction.
 */
static void
of_worker_leave_database(OfSchemaStatus status, const char *installed,
						 const char *dbname)
{
	OfDbEntry  *db = &of_shared->dbs[my_db];
	TimestampTz now = GetCurrentTimestamp();
	bool		log_dropped = false;
	bool		warn_other = false;

	SpinLockAcquire(&of_shared->mutex);
	if (db->probe_gen != my_probe_gen)
	{
		/*
		 * CREATE or ALTER EXTENSION committed after this batch's snapshot:
		 * what it saw is stale, so the launcher is to look again now.
		 */
		db->state = OF_DB_UNKNOWN;
	}
	else if (status == OF_SCHEMA_ABSENT)
	{
		log_dropped = db->state == OF_DB_SERVED;
		db->state = OF_DB_ABSENT;
		db->warned = false;
		db->recheck_at = TimestampTzPlusMilliseconds(now, OF_ABSENT_RECHECK_MS);
	}
	else
	{
		warn_other = !db->warned;
		db->warned = true;
		db->state = OF_DB_OTHER;
		db->recheck_at = TimestampTzPlusMilliseconds(now, OF_OTHER_RECHECK_MS);
	}
	if (db->state != OF_DB_UNKNOWN)
		db->probe_wanted = false;
	db->next_due = DT_NOEND;
	db->wake_pending = false;
	of_shared->slots[my_slot].did_work = false;
	of_shared->slots[my_slot].clean_exit = true;
	SpinLockRelease(&of_shared->mutex);

	if (log_dropped)
		ereport(LOG,
				(errmsg("orderflow workers leave database \"%s\": the extension was dropped", dbname)));
	else if (warn_other)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("orderflow does not serve database \"%s\": its SQL objects are at version %s, the library is at version %s",
						dbname, installed, OF_EXTVERSION),
				 errdetail("Its executions wait; the workers look again when ALTER EXTENSION commits there, or in a minute."),
				 errhint("Run ALTER EXTENSION orderflow UPDATE; in database \"%s\".", dbname)));
	else
		elog(DEBUG1, "orderflow worker leaves database \"%s\": no extension at version %s there",
			 dbname, OF_EXTVERSION);
	proc_exit(0);
}

/*
 * A pg_restore session (pid) is connected to this worker's database: mark
 * the database RESTORING for the launcher and leave, before a batch could
 * touch rows the restore has not finished loading.  The first to see the
 * restore says so in the log.  Outside a transaction.
 */
static void
of_worker_leave_for_restore(int pid)
{
	if (OfRestoreMark(MyDatabaseId, pid))
	{
		char	   *dbname;

		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		dbname = get_database_name(MyDatabaseId);
		OfRestoreLogLeave(dbname ? dbname : "?", pid);
		CommitTransactionCommand();
	}
	SpinLockAcquire(&of_shared->mutex);
	of_shared->slots[my_slot].did_work = false;
	of_shared->slots[my_slot].clean_exit = true;
	SpinLockRelease(&of_shared->mutex);
	proc_exit(0);
}

/*
 * Is the extension still the one this worker serves?  Reads pg_extension
 * (inside the current transaction).  ABSENT also when it was dropped and
 * created again since this worker started (its caches describe the old
 * objects: a fresh worker starts clean).  *installed is the version found.
 */
static OfSchemaStatus
of_schema_status(char **installed)
{
	OfSchemaStatus status = OfGetSchemaStatus(installed);

	if (status == OF_SCHEMA_CURRENT)
	{
		Oid			ext = get_extension_oid("orderflow", true);

		if (!OidIsValid(my_extension))
			my_extension = ext;
		else if (ext != my_extension)
			status = OF_SCHEMA_ABSENT;
	}
	return status;
}

/*
 * A probe found the extension at our version: the database is served.
 * The launcher is told at once: it places the rest of the pool there
 * (it would otherwise wait for its next periodic look).
 */
static void
of_mark_served(void)
{
	bool		news = false;

	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->dbs[my_db].state != OF_DB_SERVED)
	{
		of_shared->dbs[my_db].state = OF_DB_SERVED;
		of_shared->dbs[my_db].warned = false;
		of_shared->dbs[my_db].probe_wanted = false;
		news = true;
	}
	of_shared->slots[my_slot].connected = true;
	SpinLockRelease(&of_shared->mutex);
	if (news)
		OfWakeLauncher();
}

/*
 * Before a batch: take over the database's pending demand (this batch will
 * see that work) and return its work_count as of now, before the snapshot.
 */
static uint64
of_begin_batch(void)
{
	OfDbEntry  *db = &of_shared->dbs[my_db];

	SpinLockAcquire(&of_shared->mutex);
	db->wake_pending = false;
	db->next_due = DT_NOEND;
	my_probe_gen = db->probe_gen;
	SpinLockRelease(&of_shared->mutex);
	return pg_atomic_read_u64(&db->work_count);
}

/*
 * After a batch: report whether it advanced anything and when the next
 * known work is due.  The launcher is told when the database turns busy or
 * idle, the two moments it may want to move workers.
 */
static void
of_end_batch(int steps, long next_due_ms)
{
	bool		did_work = steps > 0;
	bool		changed;

	my_next_due = did_work ? GetCurrentTimestamp() :
		next_due_ms < 0 ? DT_NOEND :
		TimestampTzPlusMilliseconds(GetCurrentTimestamp(), next_due_ms);
	SpinLockAcquire(&of_shared->mutex);
	changed = of_shared->slots[my_slot].did_work != did_work;
	of_shared->slots[my_slot].did_work = did_work;
	SpinLockRelease(&of_shared->mutex);
	if (changed)
		OfWakeLauncher();
}

/*
 * One transaction: advance due executions.  Returns the number of steps
 * done; *next_due_ms as from OfRunDue (-1 when unknown).  Leaves the
 * database (does not return) when the extension is not there at our
 * version.
 */
static int
of_worker_iteration(long *next_due_ms)
{
	int			steps = 0;
	OfSchemaStatus status;
	char	   *installed = NULL;
	char	   *dbname = NULL;

	*next_due_ms = -1;

	/* statement start doubles as transaction start: now() must be current */
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "advancing due executions");

	status = of_schema_status(&installed);
	if (status == OF_SCHEMA_CURRENT)
		steps = OfRunDue(of_batch_size, next_due_ms);
	else
	{
		MemoryContext old = MemoryContextSwitchTo(worker_loop_cxt);

		dbname = get_database_name(MyDatabaseId);
		installed = installed ? pstrdup(installed) : NULL;
		MemoryContextSwitchTo(old);
	}
	/* an admission whose task was never called must not linger */
	OfTaskSlotEnd();

	PopActiveSnapshot();
	CommitTransactionCommand();
	/* commit leaves us in TopMemoryContext; go back to the scratch one */
	MemoryContextSwitchTo(worker_loop_cxt);
	if (status != OF_SCHEMA_CURRENT)
		of_worker_leave_database(status, installed, dbname ? dbname : "?");
	pgstat_report_stat(false);
	pgstat_report_activity(STATE_IDLE, NULL);
	return steps;
}

/*
 * Retention: at most every OF_PURGE_INTERVAL_MS one worker of each
 * database deletes a small batch of expired executions in a transaction
 * of its own (retention.c).  A full batch means more are waiting: purge
 * again on the next loop.
 */
static void
of_maybe_purge(void)
{
	TimestampTz now = GetCurrentTimestamp();
	OfDbEntry  *db = &of_shared->dbs[my_db];
	bool		mine = false;
	int64		purged = 0;

	if (of_retention_s <= 0)
		return;
	SpinLockAcquire(&of_shared->mutex);
	if (db->last_purge == 0 ||
		now - db->last_purge >= (TimestampTz) OF_PURGE_INTERVAL_MS * 1000)
	{
		db->last_purge = now;
		mine = true;
	}
	SpinLockRelease(&of_shared->mutex);
	if (!mine)
		return;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "purging expired executions");
	/* the batch that follows leaves a database that is not ours any more */
	if (of_schema_status(NULL) == OF_SCHEMA_CURRENT)
		purged = OfPurgeExpired(OF_PURGE_BATCH);
	PopActiveSnapshot();
	CommitTransactionCommand();
	MemoryContextSwitchTo(worker_loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	if (purged >= OF_PURGE_BATCH)
	{
		SpinLockAcquire(&of_shared->mutex);
		db->last_purge = 0;
		SpinLockRelease(&of_shared->mutex);
	}
}

/*
 * Sleep on the latch for up to timeout_ms, unless work was committed in
 * this database since work_seen was read (before the iteration's
 * snapshot): see of_wake_workers in pool.c.
 */
static void
of_worker_sleep(long timeout_ms, uint64 work_seen)
{
	of_set_busy(false);
	/* of_set_busy's spinlock orders this read after the store of busy */
	if (pg_atomic_read_u64(&of_shared->dbs[my_db].work_count) != work_seen)
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
 * SIGTERM, postmaster death and the launcher asking us to leave.
 */
static void
of_worker_pause(long ms)
{
	TimestampTz until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), ms);
	long		left;

	of_set_busy(false);
	while ((left = OfMsUntil(GetCurrentTimestamp(), until)) > 0 &&
		   !of_asked_to_leave())
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
 * After an ERROR: is the extension still ours?  Read in a transaction of
 * its own; an error there (the catalogs are fine, but be safe) counts as
 * "yes", so the original error is reported as usual.
 */
static OfSchemaStatus
of_status_after_error(char **installed, char **dbname)
{
	OfSchemaStatus status = OF_SCHEMA_CURRENT;
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		PushActiveSnapshot(GetTransactionSnapshot());
		status = of_schema_status(installed);
		MemoryContextSwitchTo(cxt);
		*dbname = get_database_name(MyDatabaseId);
		if (*installed)
			*installed = pstrdup(*installed);
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		FlushErrorState();
		AbortCurrentTransaction();
		status = OF_SCHEMA_CURRENT;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return status;
}

/*
 * Report an error saved with CopyErrorData, as the server would have.
 * Throwing an ERROR zeroes InterruptHoldoffCount (errfinish): restore it,
 * or the caller's RESUME_INTERRUPTS would wrap it around and the worker
 * would never again act on SIGTERM or a cancel (seen as a fast shutdown
 * that waited forever for a worker after its batch hit a deadlock).
 */
static void
of_report_saved_error(ErrorData *edata)
{
	MemoryContext cxt = CurrentMemoryContext;
	uint32		holdoff = InterruptHoldoffCount;

	PG_TRY();
	{
		ThrowErrorData(edata);
	}
	PG_CATCH();
	{
		InterruptHoldoffCount = holdoff;
		MemoryContextSwitchTo(cxt);
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

/*
 * Recover from an ERROR thrown in an iteration: abort the transaction, and
 * unless the cause is that the extension went away under the batch (DROP
 * EXTENSION: leave quietly), log the error and pause, the way postgres.c
 * and autovacuum do.  The executor isolates task failures itself; this is
 * the last line that keeps one bad iteration from taking the pool down.
 */
static void
of_worker_recover(void)
{
	ErrorData  *edata;
	OfSchemaStatus status;
	char	   *installed = NULL;
	char	   *dbname = NULL;

	/* since not using PG_TRY, reset the error context stack by hand */
	error_context_stack = NULL;
	HOLD_INTERRUPTS();

	/* forget a pending statement timeout or cancel aimed at the dead work */
	disable_all_timeouts(false);
	QueryCancelPending = false;

	MemoryContextSwitchTo(TopMemoryContext);
	edata = CopyErrorData();
	FlushErrorState();
	/* releases locks, buffer pins, snapshots, SPI and a CV sleep */
	AbortCurrentTransaction();
	OfTaskSlotEnd();
	MemoryContextSwitchTo(worker_loop_cxt);
	MemoryContextReset(worker_loop_cxt);

	status = of_status_after_error(&installed, &dbname);
	if (status != OF_SCHEMA_CURRENT)
	{
		elog(DEBUG1, "orderflow worker: error after the extension went away: %s", edata->message);
		FreeErrorData(edata);
		RESUME_INTERRUPTS();
		of_worker_leave_database(status, installed, dbname ? dbname : "?");
	}
	of_report_saved_error(edata);
	MemoryContextSwitchTo(TopMemoryContext);
	FreeErrorData(edata);
	MemoryContextSwitchTo(worker_loop_cxt);
	MemoryContextReset(worker_loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	RESUME_INTERRUPTS();

	of_worker_pause(OF_ERROR_PAUSE_MS);
}

/* Entry point of a pool worker; main_arg is its pool position */
void
orderflow_worker_main(Datum main_arg)
{
	sigjmp_buf	local_sigjmp_buf;
	Oid			dboid;

	/* die instead of the default bgworker_die, which ignores crit sections */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (of_shared == NULL)
		elog(FATAL, "orderflow shared memory is not initialized");
	dboid = of_worker_attach(DatumGetInt32(main_arg));

	/*
	 * Connect as the bootstrap superuser; the executor switches to each
	 * execution's owner around its tasks.
	 */
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
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
		int			steps;
		int			restore_pid;

		MemoryContextReset(worker_loop_cxt);
		MemoryContextSwitchTo(worker_loop_cxt);

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		if (of_asked_to_leave())
			of_worker_leave();
		if ((restore_pid = OfRestoreSessionHere()) != 0)
			of_worker_leave_for_restore(restore_pid);

		/*
		 * More work may be due right away: loop without sleeping, and let an
		 * idle peer help with it.
		 */
		work_seen = of_begin_batch();
		steps = of_worker_iteration(&next_due_ms);
		of_mark_served();		/* the first batch found the extension */
		of_end_batch(steps, next_due_ms);

		of_maybe_purge();

		if (steps > 0)
		{
			(void) OfWakeOneIdle(my_db, my_slot);
			continue;
		}
		if (of_asked_to_leave())
			of_worker_leave();
		of_worker_sleep(of_idle_timeout(next_due_ms), work_seen);
	}
}
