/*-------------------------------------------------------------------------
 *
 * launcher.c
 *	  The orderflow launcher: finds the databases to serve and places the
 *	  pool's workers among them.
 *
 * A static background worker, connected to no database (it reads only the
 * shared catalog pg_database, as autovacuum's launcher does), keeps
 * orderflow.workers dynamic workers (worker.c) running.  Each worker is
 * connected to one database for its whole life, so sharing the pool
 * between databases means choosing, for every free pool position, the
 * database its next worker connects to, and asking a worker to leave when
 * another database needs its position more.
 *
 * Finding the databases.  pg_database is read at start, on reload, when a
 * backend asks (CREATE/ALTER EXTENSION orderflow committed, a database
 * was created or renamed: dbhooks.c) and every OF_RESCAN_MS (a database
 * created from a template that holds the extension).  Templates, databases
 * that refuse connections and those orderflow.database leaves out are not
 * served.  Whether a database has the extension, and at which version, is
 * known only inside it: a new database is UNKNOWN until a worker started
 * there (a probe) looks; it then stays as a worker when the extension is
 * there at the library's version (SERVED), and leaves it otherwise
 * (ABSENT, OTHER: looked at again after a while, or as soon as CREATE or
 * ALTER EXTENSION orderflow commits there).  A database where pg_restore
 * is connected is RESTORING and gets no worker until it is gone
 * (restore.c).
 *
 * Placing the workers (of_place_workers).  A database is busy when it has
 * due work: a session committed new work no worker has seen yet, one of
 * its workers' last batch did something, or a due time its departed
 * workers left has come (Waits and retries of a database without a
 * worker).  An UNKNOWN database waiting for its probe counts as busy.
 *   - A free position goes to the busy database with the fewest workers
 *     (the one that got a worker longest ago on a tie); with no busy one
 *     in need, to a served database without a worker, then to the served
 *     database with the fewest: an idle pool spreads over the databases.
 *   - With the pool full, a busy database below its fair share
 *     (orderflow.workers / number of busy databases, rounded down) takes a
 *     position from the database furthest above its share (an idle
 *     database's share is 0): one worker of it is asked to leave at its
 *     next batch boundary.  One departure at a time, so the pool does not
 *     thrash.
 *   - With more busy databases than workers, shares round down to 0; a busy
 *     database left without a worker for OF_SLICE_MS takes the position of
 *     the busy database that got its worker longest ago: time slices.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "libpq/pqsignal.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/varlena.h"

#include "orderflow.h"
#include "pool.h"
#include "restore.h"

/* A worker that dies sooner than this after starting "died quickly" */
#define OF_QUICK_DEATH_MS		10000
/* Longest backoff before restarting a worker that keeps dying quickly */
#define OF_MAX_BACKOFF_MS		60000
/* How long the launcher waits before retrying after running out of slots */
#define OF_NO_SLOT_RETRY_MS		10000
/* Launcher's safety-net nap; it is normally woken by bgw_notify_pid */
#define OF_LAUNCHER_NAP_MS		10000
/* How often pg_database is read for databases nobody told us about */
#define OF_RESCAN_MS			10000
/* A worker asked to leave for a DROP DATABASE is terminated after this */
#define OF_LEAVE_GRACE_MS		1000
/* A busy database without a worker takes one from another busy one after */
#define OF_SLICE_MS				5000
/* A database that just went idle keeps its workers this long */
#define OF_IDLE_GRACE_MS		2000

/* What the launcher knows about one pool position (launcher-local) */
typedef struct OfLauncherSlot
{
	BackgroundWorkerHandle *handle; /* NULL when nothing is registered */
	TimestampTz started_at;		/* when we registered the current worker */
	int			db;				/* its database entry */
	TimestampTz leave_asked_at; /* when it was asked to leave, 0 if not */
} OfLauncherSlot;

/* Per-database counts of one placement round */
typedef struct OfDbCount
{
	int			alive;			/* registered and not asked to leave */
	int			registered;		/* registered, leaving or not */
	bool		busy;			/* has due work (see the file header) */
} OfDbCount;

PGDLLEXPORT void orderflow_launcher_main(Datum main_arg);

/* Launcher-local view of the pool */
static OfLauncherSlot launcher_slots[OF_MAX_WORKERS];
/* Launcher: true while dynamic worker slots are exhausted (warned once) */
static bool launcher_out_of_slots = false;
/* Launcher: the database table is full (warned once) */
static bool launcher_table_full = false;
/* When pg_database was last read */
static TimestampTz last_scan = 0;
/*
 * Databases a probe found without the extension (OIDs, launcher-local, no
 * size limit): never probed again unless CREATE/ALTER EXTENSION commits
 * there or work is committed there (both put them back in the shared
 * table).  So a role that creates many databases costs one worker start
 * per database, once, and none of them holds a shared entry.
 */
static HTAB *absent_dbs = NULL;

/* Register the launcher as a static background worker */
void
OfRegisterLauncher(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));

	/*
	 * The database connection flag is only there so the launcher can attach
	 * to the shared catalogs (as the logical replication launcher does),
	 * which is what makes it visible in pg_stat_activity and lets it read
	 * pg_database.  It never opens a database, so it blocks no DROP
	 * DATABASE.
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

/* Does orderflow.database ('' = every database) allow database dbname? */
static bool
of_database_allowed(const char *dbname)
{
	char	   *raw;
	List	   *names;
	ListCell   *lc;
	bool		allowed = false;

	if (of_database == NULL || of_database[0] == '\0')
		return true;
	raw = pstrdup(of_database);
	if (!SplitGUCList(raw, ',', &names))
		return false;			/* the check hook refuses such a value */
	foreach(lc, names)
	{
		if (strcmp((char *) lfirst(lc), dbname) == 0)
			allowed = true;
	}
	list_free(names);
	pfree(raw);
	return allowed;
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


/* ---------------------------------------------------------------------
 * Finding the databases
 * ---------------------------------------------------------------------
 */

/* One row of pg_database, as far as the launcher cares */
typedef struct OfDbRow
{
	Oid			oid;
	bool		servable;		/* not a template, allows connections, allowed */
} OfDbRow;

/*
 * Read pg_database (a shared catalog: no database connection needed) into
 * rows[]; returns the count.  The filter is applied here because the
 * launcher has the names only here.
 */
static int
of_read_pg_database(OfDbRow **rowsp)
{
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	int			n = 0;
	int			max = 64;
	OfDbRow    *rows = palloc(sizeof(OfDbRow) * max);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	(void) GetTransactionSnapshot();
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while ((tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		Form_pg_database d = (Form_pg_database) GETSTRUCT(tup);

		if (n == max)
		{
			max *= 2;
			rows = repalloc(rows, sizeof(OfDbRow) * max);
		}

		rows[n].oid = d->oid;
		rows[n].servable = !d->datistemplate && d->datallowconn &&
			of_database_allowed(NameStr(d->datname));
		n++;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	CommitTransactionCommand();
	*rowsp = rows;
	return n;
}

static int
of_row_cmp(const void *a, const void *b)
{
	Oid			x = ((const OfDbRow *) a)->oid;
	Oid			y = ((const OfDbRow *) b)->oid;

	return (x > y) - (x < y);
}

/* The row of database dboid in the sorted rows[], NULL if none */
static OfDbRow *
of_row_of(OfDbRow *rows, int n, Oid dboid)
{
	OfDbRow		key = {.oid = dboid};

	return bsearch(&key, rows, n, sizeof(OfDbRow), of_row_cmp);
}

/* How many registered workers database entry db has (launcher-local) */
static int
of_registered_in(int db)
{
	int			n = 0;

	for (int i = 0; i < OF_MAX_WORKERS; i++)
		n += (launcher_slots[i].handle != NULL && launcher_slots[i].db == db);
	return n;
}

/*
 * Bring the database entries in line with pg_database: add the new ones
 * (UNKNOWN: to be probed), refresh which may be served, and free the
 * entries of dropped databases once none of our workers is left there.
 */
static void
of_scan_databases(void)
{
	OfDbRow    *rows;
	int			n = of_read_pg_database(&rows);
	bool		full = false;
	HASH_SEQ_STATUS seq;
	Oid		   *absent;

	qsort(rows, n, sizeof(OfDbRow), of_row_cmp);

	/* forget absent databases that were dropped */
	hash_seq_init(&seq, absent_dbs);
	while ((absent = hash_seq_search(&seq)) != NULL)
	{
		if (of_row_of(rows, n, *absent) == NULL)
			(void) hash_search(absent_dbs, absent, HASH_REMOVE, NULL);
	}

	SpinLockAcquire(&of_shared->mutex);
	of_shared->rescan_requested = false;
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];
		OfDbRow    *row;

		if (db->dboid == InvalidOid)
			continue;
		row = of_row_of(rows, n, db->dboid);
		if (row == NULL)
		{
			db->eligible = false;
			if (db->blocked_by == 0 && of_registered_in(i) == 0)
				db->dboid = InvalidOid;
		}
		else
			db->eligible = row->servable;
	}

	/*
	 * New candidates (not known, not known to be without the extension)
	 * are added while more than the reserve is free; the rest wait for
	 * the next scan, when the probes of these have freed their entries.
	 */
	for (int k = 0; k < n; k++)
	{
		int			i;

		if (!rows[k].servable || OfDbFind(rows[k].oid) >= 0 ||
			hash_search(absent_dbs, &rows[k].oid, HASH_FIND, NULL) != NULL)
			continue;
		if (OfDbFreeEntries() <= OF_DB_RESERVE)
		{
			full = true;
			break;
		}
		i = OfDbFindOrAdd(rows[k].oid);
		of_shared->dbs[i].eligible = true;
	}
	/* only a table full of databases with the extension is worth a warning */
	for (int i = 0; i < OF_MAX_DATABASES && full; i++)
		full = of_shared->dbs[i].dboid == InvalidOid ||
			of_shared->dbs[i].state != OF_DB_UNKNOWN;
	full = full && OfDbFreeEntries() == 0;
	SpinLockRelease(&of_shared->mutex);
	pfree(rows);

	if (full && !launcher_table_full)
		ereport(WARNING,
				(errcode(ERRCODE_INSUFFICIENT_RESOURCES),
				 errmsg("orderflow serves at most %d databases", OF_MAX_DATABASES),
				 errdetail("The extension is installed in more databases; the others are not served."),
				 errhint("List the databases to serve in \"orderflow.database\".")));
	launcher_table_full = full;
	last_scan = GetCurrentTimestamp();
}

/*
 * Move the databases a probe found without the extension out of the
 * shared table into absent_dbs, once none of our workers is there (and
 * no CREATE EXTENSION asked for a new look meanwhile).
 */
static void
of_forget_absent(void)
{
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];
		Oid			dboid = InvalidOid;

		SpinLockAcquire(&of_shared->mutex);
		if (db->dboid != InvalidOid && db->state == OF_DB_ABSENT &&
			db->blocked_by == 0 && db->probe_gen == db->probe_gen_done &&
			of_registered_in(i) == 0)
		{
			dboid = db->dboid;
			db->dboid = InvalidOid;
		}
		SpinLockRelease(&of_shared->mutex);
		if (OidIsValid(dboid))
			(void) hash_search(absent_dbs, &dboid, HASH_ENTER, NULL);
	}
}


/* ---------------------------------------------------------------------
 * Starting and reaping workers
 * ---------------------------------------------------------------------
 */

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
	 * to stop them for good when orderflow.workers shrinks or a database
	 * needs the position; a postmaster restart policy would fight both.
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

/*
 * Register a worker for database entry db at pool position i; false if no
 * background worker slot is free.  The slot says which database to connect
 * to (written before the worker exists, so it cannot race it).
 */
static bool
of_start_worker(int i, int db)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	MemoryContext oldcxt;
	OfWorkerSlot *slot = &of_shared->slots[i];
	bool		ok;

	SpinLockAcquire(&of_shared->mutex);
	slot->dboid = of_shared->dbs[db].dboid;
	slot->db_index = db;
	slot->leave = false;
	slot->clean_exit = false;
	slot->connected = false;
	slot->did_work = false;
	SpinLockRelease(&of_shared->mutex);

	of_init_worker_struct(&worker, i);
	/* the handle must outlive this call; keep it in TopMemoryContext */
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(oldcxt);
	if (!ok)
		return false;

	launcher_slots[i].handle = handle;
	launcher_slots[i].started_at = GetCurrentTimestamp();
	launcher_slots[i].db = db;
	launcher_slots[i].leave_asked_at = 0;
	of_shared->dbs[db].last_started = launcher_slots[i].started_at;
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

/*
 * Forget pool position i's stopped worker.  A worker that exited on purpose
 * (asked to leave, its database has no extension) is no failure; one that
 * keeps dying right after start (its database went away, say) makes its
 * database wait, with a growing backoff, instead of being restarted in a
 * tight loop.
 */
static void
of_worker_stopped(int i, TimestampTz now)
{
	OfLauncherSlot *ls = &launcher_slots[i];
	OfDbEntry  *db = &of_shared->dbs[ls->db];
	bool		clean;
	bool		connected;

	pfree(ls->handle);
	ls->handle = NULL;

	SpinLockAcquire(&of_shared->mutex);
	clean = of_shared->slots[i].clean_exit;
	connected = of_shared->slots[i].connected;
	if (!connected)
		of_shared->rescan_requested = true; /* is its database still there? */
	SpinLockRelease(&of_shared->mutex);

	if (clean || TimestampDifferenceExceeds(ls->started_at, now, OF_QUICK_DEATH_MS))
		db->quick_deaths = 0;
	else
		db->quick_deaths++;

	if (db->quick_deaths > 1)
	{
		long		delay = of_backoff_ms(db->quick_deaths - 1);

		db->restart_at = TimestampTzPlusMilliseconds(now, delay);
		elog(DEBUG1, "orderflow worker %d died %d times in a row soon after starting; restarting in %ld ms",
			 i, db->quick_deaths, delay);
	}
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

/* Ask the worker at position i to leave at its next batch boundary */
static void
of_ask_to_leave(int i)
{
	Latch	   *latch;

	SpinLockAcquire(&of_shared->mutex);
	of_shared->slots[i].leave = true;
	latch = of_shared->slots[i].pid != 0 ? of_shared->slots[i].latch : NULL;
	SpinLockRelease(&of_shared->mutex);
	if (latch != NULL)
		SetLatch(latch);		/* an idle one leaves now */
}


/* ---------------------------------------------------------------------
 * Placing the workers (see the file header for the rule)
 * ---------------------------------------------------------------------
 */

/*
 * May database entry i have workers at all right now?  Also moves an
 * ABSENT or OTHER database whose time has come, or where CREATE/ALTER
 * EXTENSION committed, back to UNKNOWN (to be probed).  Caller holds the
 * mutex.
 */
static bool
of_db_servable(int i, TimestampTz now)
{
	OfDbEntry  *db = &of_shared->dbs[i];

	if (db->dboid == InvalidOid || !db->eligible || db->blocked_by != 0)
		return false;
	/* a restore's own CREATE EXTENSION must not end its RESTORING state */
	if (db->state == OF_DB_RESTORING)
		return false;
	if (db->probe_gen != db->probe_gen_done)
	{
		db->probe_gen_done = db->probe_gen;
		db->state = OF_DB_UNKNOWN;
	}
	else if (db->state == OF_DB_OTHER && db->recheck_at <= now)
		db->state = OF_DB_UNKNOWN;
	return db->state == OF_DB_SERVED || db->state == OF_DB_UNKNOWN;
}

/* Fill cnt[] from the slots; caller holds the mutex */
static void
of_count_workers(OfDbCount *cnt, TimestampTz now)
{
	memset(cnt, 0, sizeof(OfDbCount) * OF_MAX_DATABASES);
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		OfLauncherSlot *ls = &launcher_slots[i];

		if (ls->handle == NULL)
			continue;
		cnt[ls->db].registered++;
		if (!of_shared->slots[i].leave)
		{
			cnt[ls->db].alive++;
			if (of_shared->slots[i].did_work)
				cnt[ls->db].busy = true;
		}
	}
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];

		if (!of_db_servable(i, now))
		{
			cnt[i].busy = false;
			continue;
		}
		if (db->state == OF_DB_UNKNOWN)
		{
			/* one probe at a time; only a wanted one competes for workers */
			cnt[i].busy = cnt[i].registered == 0 && db->probe_wanted;
			continue;
		}
		if (db->wake_pending || db->next_due <= now)
			cnt[i].busy = true;
		if (cnt[i].busy)
			db->last_busy = now;
		else if (cnt[i].alive > 0 && db->last_busy != 0 &&
				 !TimestampDifferenceExceeds(db->last_busy, now, OF_IDLE_GRACE_MS))
			cnt[i].busy = true; /* just went idle: keeps its workers a while */
		if (!cnt[i].busy || cnt[i].alive > 0)
			db->busy_since = 0;
		else if (db->busy_since == 0)
			db->busy_since = now;
	}
}

/*
 * Stop what must stop: workers past orderflow.workers (at once, as
 * before), workers of a database being dropped, renamed or copied (at
 * their batch boundary, terminated after OF_LEAVE_GRACE_MS: dbhooks.c
 * waits for them), workers of a database no longer to be served (at their
 * batch boundary).  Caller holds no lock.
 */
static void
of_stop_unwanted(int target, TimestampTz now)
{
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		OfLauncherSlot *ls = &launcher_slots[i];
		OfDbEntry  *db;
		bool		blocked;
		bool		unwanted;

		if (ls->handle == NULL)
			continue;
		db = &of_shared->dbs[ls->db];
		SpinLockAcquire(&of_shared->mutex);
		blocked = db->blocked_by != 0;
		unwanted = !db->eligible || db->state == OF_DB_ABSENT ||
			db->state == OF_DB_OTHER || db->state == OF_DB_RESTORING;
		unwanted = unwanted && !of_shared->slots[i].leave;
		SpinLockRelease(&of_shared->mutex);
		if (i >= target)
			TerminateBackgroundWorker(ls->handle);
		else if (blocked && ls->leave_asked_at == 0)
		{
			ls->leave_asked_at = now;
			of_ask_to_leave(i);
		}
		else if (blocked &&
				 TimestampDifferenceExceeds(ls->leave_asked_at, now, OF_LEAVE_GRACE_MS))
			TerminateBackgroundWorker(ls->handle);
		else if (unwanted)
			of_ask_to_leave(i);
	}
}

/* Release blocks whose backend is gone (it died inside the command) */
static void
of_release_stale_blocks(void)
{
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		pid_t		pid = of_shared->dbs[i].blocked_by;

		if (pid != 0 && BackendPidGetProc(pid) == NULL)
		{
			SpinLockAcquire(&of_shared->mutex);
			if (of_shared->dbs[i].blocked_by == pid)
				of_shared->dbs[i].blocked_by = 0;
			SpinLockRelease(&of_shared->mutex);
		}
	}
}

/*
 * The database the next free position should go to, -1 for none: the busy
 * one (or one reported by CREATE EXTENSION, to be probed) with the fewest
 * workers (longest without a new one on a tie), else a served one without
 * a worker, else a candidate to be probed, else the served one with the
 * fewest.
 */
static int
of_pick_database(const OfDbCount *cnt, TimestampTz now)
{
	int			best = -1;
	int			rank_best = 0;

	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];
		int			rank;

		if (db->dboid == InvalidOid || !db->eligible || db->blocked_by != 0 ||
			db->restart_at > now)
			continue;
		if (db->state == OF_DB_UNKNOWN)
		{
			if (cnt[i].registered > 0)
				continue;
			/* a reported database first; mere candidates after the served */
			rank = db->probe_wanted ? 6 : 3;
		}
		else if (db->state != OF_DB_SERVED)
			continue;
		else if (cnt[i].busy)
			rank = 6;
		else if (cnt[i].alive == 0)
			rank = 4;
		else
			rank = 2;
		if (best < 0 || rank > rank_best ||
			(rank == rank_best &&
			 (cnt[i].alive < cnt[best].alive ||
			  (cnt[i].alive == cnt[best].alive &&
			   db->last_started < of_shared->dbs[best].last_started))))
		{
			best = i;
			rank_best = rank;
		}
	}
	return best;
}

/*
 * The worker of database entry db that should leave: a sleeping one if
 * any (it leaves at once), -1 if none.  Caller holds the mutex.
 */
static int
of_leaver_of(int db)
{
	int			pick = -1;

	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		if (launcher_slots[i].handle == NULL || launcher_slots[i].db != db ||
			of_shared->slots[i].leave)
			continue;
		if (pick < 0 || !of_shared->slots[i].busy)
			pick = i;
	}
	return pick;
}

/*
 * With the pool full: if a busy database is below its fair share, the
 * position of the worker (of the database furthest above its own share)
 * that should leave, else -1.  None while a worker is already leaving.
 * Caller holds the mutex.
 */
static int
of_rebalance(const OfDbCount *cnt, int target, TimestampTz now)
{
	int			nbusy = 0;
	int			floor_share;
	int			ceil_share;
	int			needy = -1;
	int			victim = -1;
	int			surplus_best = 0;

	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		if (cnt[i].registered > cnt[i].alive)
			return -1;			/* a departure is under way: wait for it */
		nbusy += cnt[i].busy;
	}
	if (target == 0)
		return -1;
	if (nbusy == 0)
	{
		/*
		 * An idle pool spreads over the served databases: one without a
		 * worker takes one from a database that has several (so its next
		 * work, or a timer, finds a worker ready).
		 */
		for (int i = 0; i < OF_MAX_DATABASES && needy < 0; i++)
		{
			OfDbEntry  *db = &of_shared->dbs[i];

			if (db->dboid != InvalidOid && db->eligible && db->blocked_by == 0 &&
				db->state == OF_DB_SERVED && cnt[i].alive == 0 && db->restart_at <= now)
				needy = i;
		}
		if (needy < 0)
			return -1;
		for (int i = 0; i < OF_MAX_DATABASES; i++)
		{
			if (cnt[i].alive >= 2 && (victim < 0 || cnt[i].alive > cnt[victim].alive))
				victim = i;
		}
		if (victim < 0)
			return -1;
		return of_leaver_of(victim);
	}
	floor_share = target / nbusy;
	ceil_share = (target + nbusy - 1) / nbusy;

	/* the busy database furthest below its share, longest waiting first */
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];
		bool		below;

		if (!cnt[i].busy || db->restart_at > now)
			continue;
		below = cnt[i].alive < floor_share ||
			(cnt[i].alive == 0 && db->busy_since != 0 &&
			 TimestampDifferenceExceeds(db->busy_since, now, OF_SLICE_MS));
		if (below && (needy < 0 || cnt[i].alive < cnt[needy].alive))
			needy = i;
	}
	if (needy < 0)
		return -1;

	/* the database furthest above its share (an idle one's share is 0) */
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		int			share = cnt[i].busy ? ceil_share : 0;
		int			surplus = cnt[i].alive - share;

		if (i != needy && surplus > surplus_best)
		{
			victim = i;
			surplus_best = surplus;
		}
	}
	/* more busy databases than workers: the longest served gives way */
	if (victim < 0 && cnt[needy].alive == 0)
	{
		for (int i = 0; i < OF_MAX_DATABASES; i++)
		{
			if (i != needy && cnt[i].alive > 0 &&
				(victim < 0 ||
				 of_shared->dbs[i].last_started < of_shared->dbs[victim].last_started))
				victim = i;
		}
	}
	if (victim < 0)
		return -1;

	return of_leaver_of(victim);
}

/*
 * How long the launcher may sleep: until a backoff ends, a departed
 * database's due time comes, an ABSENT/OTHER database is to be looked at
 * again, a time slice ends, or pg_database is to be read again (and at
 * most until a RESTORING database is looked at again: of_place_workers).
 */
static long
of_launcher_nap(const OfDbCount *cnt, TimestampTz now, long nap)
{
	nap = Min(nap, OfMsUntil(now, TimestampTzPlusMilliseconds(last_scan, OF_RESCAN_MS)));
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		OfDbEntry  *db = &of_shared->dbs[i];

		if (db->blocked_by != 0 && of_registered_in(i) > 0)
			nap = Min(nap, 100);	/* its workers' grace ends soon */
		if (db->dboid == InvalidOid || !db->eligible)
			continue;
		if (db->restart_at > now)
			nap = Min(nap, OfMsUntil(now, db->restart_at));
		if (db->state == OF_DB_OTHER && db->recheck_at > now)
			nap = Min(nap, OfMsUntil(now, db->recheck_at));
		if (db->state == OF_DB_SERVED && cnt[i].alive == 0 && db->next_due > now &&
			db->next_due != DT_NOEND)
			nap = Min(nap, OfMsUntil(now, db->next_due));
		/*
		 * Deadlines still ahead only: once a slice or a grace is over, what
		 * follows (a worker leaving) wakes us through bgw_notify_pid; a
		 * deadline in the past must not turn the nap into a 10 ms loop
		 * (orderflow.workers = 0 with work due, a victim in a long task).
		 */
		if (db->busy_since != 0)
		{
			TimestampTz end = TimestampTzPlusMilliseconds(db->busy_since, OF_SLICE_MS);

			if (end > now)
				nap = Min(nap, OfMsUntil(now, end));
		}
		if (db->last_busy != 0 && cnt[i].alive > 0)
		{
			TimestampTz end = TimestampTzPlusMilliseconds(db->last_busy, OF_IDLE_GRACE_MS);

			if (end > now)
				nap = Min(nap, OfMsUntil(now, end) + 1);
		}
	}
	return Max(nap, 10);
}

/*
 * One round: reap stopped workers, stop unwanted ones, fill free positions,
 * rebalance a full pool.  Returns how long the launcher may sleep.
 */
static long
of_place_workers(void)
{
	TimestampTz now = GetCurrentTimestamp();
	int			target = of_target_workers();
	int			registered = 0;
	int			running = 0;
	long		nap = OF_LAUNCHER_NAP_MS;
	bool		no_slot = false;
	OfDbCount  *cnt = palloc(sizeof(OfDbCount) * OF_MAX_DATABASES);
	long		restore_nap = OfRestoreRelease(now);

	if (restore_nap >= 0)
		nap = Min(nap, restore_nap);
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		bool		started;

		(void) of_poll_worker(i, now, &started);
	}
	of_release_stale_blocks();
	of_forget_absent();
	of_stop_unwanted(target, now);

	SpinLockAcquire(&of_shared->mutex);
	of_count_workers(cnt, now);
	SpinLockRelease(&of_shared->mutex);

	for (int i = 0; i < target; i++)
	{
		int			db;

		if (launcher_slots[i].handle != NULL)
			continue;
		if (no_slot)
		{
			nap = Min(nap, OF_NO_SLOT_RETRY_MS);
			break;
		}
		SpinLockAcquire(&of_shared->mutex);
		db = of_pick_database(cnt, now);
		SpinLockRelease(&of_shared->mutex);
		if (db < 0)
			break;
		if (!of_start_worker(i, db))
		{
			no_slot = true;
			nap = Min(nap, OF_NO_SLOT_RETRY_MS);
			continue;
		}
		cnt[db].alive++;
		cnt[db].registered++;
	}

	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		bool		started = false;

		if (launcher_slots[i].handle == NULL || i >= target)
			continue;
		registered++;
		if (GetBackgroundWorkerPid(launcher_slots[i].handle, &(pid_t){0}) == BGWH_STARTED)
			started = true;
		running += started;
	}

	if (registered == target)
	{
		int			pick;

		SpinLockAcquire(&of_shared->mutex);
		pick = of_rebalance(cnt, target, now);
		SpinLockRelease(&of_shared->mutex);
		if (pick >= 0)
			of_ask_to_leave(pick);
	}

	if (no_slot)
		of_warn_out_of_slots(registered, target);
	else if (registered == target)
		launcher_out_of_slots = false;
	of_launcher_report(running, target);
	nap = of_launcher_nap(cnt, now, nap);
	pfree(cnt);
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
	{
		of_shared->launcher_pid = 0;
		of_shared->launcher_latch = NULL;
	}
	SpinLockRelease(&of_shared->mutex);
}

/* Entry point of the launcher */
void
orderflow_launcher_main(Datum main_arg)
{
	MemoryContext loop_cxt;

	/* die instead of the default bgworker_die, which ignores crit sections */
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();

	if (of_shared == NULL)
		elog(FATAL, "orderflow shared memory is not initialized");

	/* shared catalogs only: enough for pg_database and pg_stat_activity */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);
	pgstat_report_appname("orderflow launcher");

	SpinLockAcquire(&of_shared->mutex);
	of_shared->launcher_pid = MyProcPid;
	of_shared->launcher_latch = MyLatch;
	/* a restarted launcher starts a fresh pool: forget the old placement */
	for (int i = 0; i < OF_MAX_WORKERS; i++)
		of_shared->slots[i].leave = false;
	SpinLockRelease(&of_shared->mutex);
	before_shmem_exit(of_launcher_on_exit, (Datum) 0);

	ereport(LOG,
			(errmsg("orderflow launcher started"),
			 (of_database == NULL || of_database[0] == '\0') ?
			 errdetail("Keeping a pool of %d workers for every database where the extension is installed.",
					   of_target_workers()) :
			 errdetail("Keeping a pool of %d workers for the databases \"%s\" where the extension is installed.",
					   of_target_workers(), of_database)));

	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(Oid);
		absent_dbs = hash_create("orderflow databases without the extension", 64,
								 &ctl, HASH_ELEM | HASH_BLOBS);
	}
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "orderflow launcher",
									 ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		nap;
		bool		rescan;

		CHECK_FOR_INTERRUPTS();
		MemoryContextSwitchTo(loop_cxt);
		MemoryContextReset(loop_cxt);
		rescan = last_scan == 0 ||
			TimestampDifferenceExceeds(last_scan, GetCurrentTimestamp(), OF_RESCAN_MS);
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			rescan = true;		/* orderflow.database may have changed */
		}
		SpinLockAcquire(&of_shared->mutex);
		rescan = rescan || of_shared->rescan_requested;
		SpinLockRelease(&of_shared->mutex);
		if (rescan)
			of_scan_databases();
		MemoryContextSwitchTo(loop_cxt);

		nap = of_place_workers();

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
