/*-------------------------------------------------------------------------
 *
 * pool.h
 *	  The shared memory of the worker pool: one slot per pool position, one
 *	  entry per database, and what the launcher (launcher.c), the workers
 *	  (worker.c) and the utility hook (dbhooks.c) read and write in it.
 *
 * pool.c owns the area and everything any backend does with it (commit
 * wake-ups, the wait_for_execution condition variables, role shares); the
 * launcher and the workers only call into pool.c, never into each other.
 *
 * How the pool is shared between databases (the launcher places workers,
 * see launcher.c for the rule): a worker is connected to one database for
 * its whole life.  Each database has an entry, keyed by OID, that says
 * whether orderflow serves it (state), how much it wants (its demand,
 * reported by its workers at every batch and by committing sessions) and
 * how many workers it has.  The launcher reads the entries and starts
 * workers where they are needed; when the pool is full, it asks a worker
 * of an over-served database to leave at its next batch boundary.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_POOL_H
#define OF_POOL_H

#include "port/atomics.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/spin.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

/* Upper bound of orderflow.workers (see its definition in orderflow.c) */
#define OF_MAX_WORKERS			64
/*
 * Most databases the launcher keeps in shared memory: those with the
 * extension and those waiting for a probe (databases found without it are
 * remembered in the launcher's own memory, without limit).  The last
 * OF_DB_RESERVE entries are kept for databases someone reported (CREATE
 * EXTENSION): the periodic scan never fills them with mere candidates.
 */
#define OF_MAX_DATABASES		256
#define OF_DB_RESERVE			16
/* Executions whose task ignored its timeout and was ended (pool.c) */
#define OF_MAX_IGNORED_TIMEOUTS	64

/* What orderflow knows about a database */
typedef enum OfDbState
{
	OF_DB_UNKNOWN,				/* not looked at yet: a worker must probe it */
	OF_DB_SERVED,				/* the extension is installed at our version */
	OF_DB_ABSENT,				/* no extension orderflow there */
	OF_DB_OTHER,				/* installed at another version: left alone */
	OF_DB_RESTORING				/* pg_restore is connected: left alone (restore.c) */
} OfDbState;

/* One database's entry (dboid == InvalidOid: a free entry) */
typedef struct OfDbEntry
{
	Oid			dboid;
	OfDbState	state;
	bool		eligible;		/* allowed by orderflow.database, connectable */
	uint32		probe_gen;		/* bumped when CREATE/ALTER EXTENSION commits */
	uint32		probe_gen_done;	/* launcher: the probe_gen it acted on */
	bool		probe_wanted;	/* UNKNOWN because someone said the extension
								 * may be there (CREATE/ALTER EXTENSION, a
								 * commit of work): probed first */
	bool		warned;			/* the OTHER warning was given */
	TimestampTz recheck_at;		/* ABSENT/OTHER: probe again after this */
	/* demand, see of_db_busy() in launcher.c */
	bool		wake_pending;	/* a session committed work no worker saw yet */
	TimestampTz next_due;		/* known due time left by departed workers */
	pg_atomic_uint64 work_count;	/* bumped when a commit created work */
	/* DROP/ALTER DATABASE, CREATE DATABASE ... TEMPLATE in progress */
	pid_t		blocked_by;		/* backend running it, 0 if none */
	/* RESTORING: when a pg_restore session was last seen there (restore.c) */
	TimestampTz restore_seen_at;
	/* retention: when a worker of this database last purged */
	TimestampTz last_purge;
	/* launcher-only: restart backoff of workers that die quickly */
	int			quick_deaths;
	TimestampTz restart_at;
	TimestampTz last_started;	/* when it last got a worker (round robin) */
	TimestampTz busy_since;		/* busy without a worker since (for slices) */
	TimestampTz last_busy;		/* when it was last seen busy (idle grace) */
} OfDbEntry;

/* One pool position's entry */
typedef struct OfWorkerSlot
{
	pid_t		pid;			/* 0 when no worker runs in this slot */
	Latch	   *latch;			/* the worker's process latch */
	bool		busy;			/* inside an iteration, not sleeping */
	uint32		generation;		/* bumped each time a worker takes the slot */
	/* placement (set by the launcher before it registers the worker) */
	Oid			dboid;			/* database of the worker in this position */
	int			db_index;		/* its entry in dbs[] */
	bool		leave;			/* launcher: exit at the next batch boundary */
	bool		clean_exit;		/* worker: exited on purpose (no backoff) */
	bool		connected;		/* worker: connected to its database */
	bool		did_work;		/* its last batch advanced something */
	/* per-role share of the pool (see OfRoleShareAdmit) */
	Oid			task_role;		/* role of the task it runs, InvalidOid if none */
	TimestampTz task_started;	/* when that task (or its admission) started */
	Oid			long_role;		/* role of its last task that ran over a second */
	TimestampTz long_ended;		/* when that task ended */
} OfWorkerSlot;

/* The orderflow shared memory area */
typedef struct OfSharedData
{
	slock_t		mutex;			/* protects everything not atomic below */
	pid_t		launcher_pid;	/* 0 when no launcher runs */
	Latch	   *launcher_latch;	/* set to make the launcher look again */
	bool		rescan_requested;	/* launcher: read pg_database again */
	OfWorkerSlot slots[OF_MAX_WORKERS];
	OfDbEntry	dbs[OF_MAX_DATABASES];
	/* bumped before each finished_cv broadcast; see OfWaitForFinish */
	pg_atomic_uint64 finished_count;
	ConditionVariable finished_cv;	/* broadcast when executions finish */
	/* bumped before each activity_cv broadcast; see OfWaitForActivity */
	pg_atomic_uint64 activity_count;
	ConditionVariable activity_cv;	/* broadcast when activity tasks are queued */
	/* executions whose task ignored its timeout (protected by mutex) */
	int			ignored_next;	/* ring position of the next new entry */
	bool		ignored_used[OF_MAX_IGNORED_TIMEOUTS];
	pg_uuid_t	ignored[OF_MAX_IGNORED_TIMEOUTS];
} OfSharedData;

/* NULL unless the library was preloaded and shared memory is set up */
extern OfSharedData *of_shared;

/* Index of dboid's entry, -1 if none.  Caller holds of_shared->mutex. */
extern int	OfDbFind(Oid dboid);
/* Index of dboid's entry, added (UNKNOWN) if missing; -1 if full.  Mutex held. */
extern int	OfDbFindOrAdd(Oid dboid);
/* Number of free entries.  Mutex held. */
extern int	OfDbFreeEntries(void);
/* Wake the launcher (no-op when none runs) */
extern void OfWakeLauncher(void);
/* Wake one idle worker of database entry db other than slot except */
extern bool OfWakeOneIdle(int db, int except);
/* Slot `my` belongs to a worker: the per-role share and busy flag use it */
extern void OfPoolSetMySlot(int slot);
/* Milliseconds from now until ts, at least 0 */
extern long OfMsUntil(TimestampTz now, TimestampTz ts);

#endif							/* OF_POOL_H */
