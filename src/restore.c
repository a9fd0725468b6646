/*-------------------------------------------------------------------------
 *
 * restore.c
 *	  Leaving a database alone while pg_restore fills it.
 *
 * A dump restored with plain `pg_restore -d db file` commits every object
 * in a transaction of its own, and `pg_restore -j N` loads the tables
 * through several connections.  CREATE EXTENSION orderflow commits first,
 * its tables' rows come later, table by table (executions before
 * join_counters, state_machine_versions and task_tokens).  A worker that
 * served the database in between would advance executions whose
 * definitions, join counters or task tokens are not there yet, and write
 * history events that a later COPY collides with.
 *
 * So the pool leaves a database alone while a pg_restore session of a
 * superuser is connected to it.  pg_restore always connects with application_name
 * 'pg_restore' (its fallback_application_name; PGAPPNAME or
 * application_name in the connection string override it, and then this
 * does not see it: README says so).  The backend status array in shared
 * memory tells which sessions are connected where, without a catalog:
 *   - the pg_restore session that runs CREATE EXTENSION orderflow marks
 *     the database RESTORING itself (dbhooks.c), before anything else can
 *     start a worker there;
 *   - a worker looks at most once a second, before a batch, and leaves a
 *     database where a pg_restore session is connected (a restore into a
 *     database that already has the extension), marking it RESTORING;
 *   - the launcher looks at the RESTORING databases every
 *     OF_RESTORE_LOOK_MS and gives them back to the pool (UNKNOWN: a probe
 *     worker starts there) once no pg_restore session has been seen for
 *     OF_RESTORE_GRACE_MS.  The grace covers `pg_restore -j`, whose leader
 *     disconnects before its parallel jobs connect.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#if PG_VERSION_NUM >= 140000
#include "utils/backend_status.h"
#endif
#include "utils/guc.h"
#include "utils/timestamp.h"

#include "orderflow.h"
#include "pool.h"
#include "restore.h"

/* The application_name pg_restore connects with */
#define OF_RESTORE_APPNAME		"pg_restore"
/* A worker looks for pg_restore sessions at most this often */
#define OF_RESTORE_CHECK_MS		1000
/* The launcher looks at RESTORING databases this often */
#define OF_RESTORE_LOOK_MS		500
/* ... and serves one again after no pg_restore session for this long */
#define OF_RESTORE_GRACE_MS		2000

/* Is this backend a superuser's pg_restore session (application_name)? */
bool
OfIsRestoreSession(void)
{
	return application_name != NULL &&
		strcmp(application_name, OF_RESTORE_APPNAME) == 0 &&
		superuser_arg(GetSessionUserId());
}

/* The backend status snapshot: taken by the first fetch, dropped here */
static void
of_forget_status_snapshot(void)
{
#if PG_VERSION_NUM >= 140000
	pgstat_clear_backend_activity_snapshot();
#else
	pgstat_clear_snapshot();
#endif
}

/*
 * Pid of a client backend of a superuser connected to dboid whose
 * application_name is pg_restore's, other than this backend; 0 if none.
 * Reads a copy of the shared backend status array (no catalog, no lock but
 * its change counts) and drops the copy again, so call it outside a
 * transaction that might look at pg_stat_activity itself.  Only a
 * superuser's session counts: anyone who may connect could otherwise name
 * a session pg_restore and hold every execution of the database still
 * (restoring orderflow takes a superuser anyway: CREATE EXTENSION).  That
 * check reads pg_authid, only for a session that looks like pg_restore.
 */
int
OfRestoreSessionIn(Oid dboid)
{
	int			n = pgstat_fetch_stat_numbackends();
	int			pids[8];
	Oid			roles[8];
	int			found = 0;
	int			pid = 0;

	for (int i = 1; i <= n && found < lengthof(pids); i++)
	{
#if PG_VERSION_NUM >= 170000
		LocalPgBackendStatus *local = pgstat_get_local_beentry_by_index(i);
#else
		LocalPgBackendStatus *local = pgstat_fetch_stat_local_beentry(i);
#endif
		PgBackendStatus *be;

		if (local == NULL)
			continue;
		be = &local->backendStatus;
		if (be->st_procpid > 0 && be->st_procpid != MyProcPid &&
			be->st_backendType == B_BACKEND && be->st_databaseid == dboid &&
			be->st_appname != NULL &&
			strcmp(be->st_appname, OF_RESTORE_APPNAME) == 0)
		{
			pids[found] = be->st_procpid;
			roles[found++] = be->st_userid;
		}
	}
	of_forget_status_snapshot();
	if (found == 0)
		return 0;

	/* superuser_arg reads the (shared) pg_authid: in a transaction */
	if (IsTransactionState())
	{
		for (int k = 0; k < found && pid == 0; k++)
			pid = superuser_arg(roles[k]) ? pids[k] : 0;
	}
	else
	{
		SetCurrentStatementStartTimestamp();
		StartTransactionCommand();
		for (int k = 0; k < found && pid == 0; k++)
			pid = superuser_arg(roles[k]) ? pids[k] : 0;
		CommitTransactionCommand();
	}
	return pid;
}

/* The same for this backend's database, looked at most once a second */
int
OfRestoreSessionHere(void)
{
	static TimestampTz last_look = 0;
	TimestampTz now = GetCurrentTimestamp();

	if (last_look != 0 &&
		!TimestampDifferenceExceeds(last_look, now, OF_RESTORE_CHECK_MS))
		return 0;
	last_look = now;
	return OfRestoreSessionIn(MyDatabaseId);
}

/*
 * Mark database dboid RESTORING: no worker is placed there, the launcher
 * asks those there to leave, until OfRestoreRelease gives it back.
 * Returns true if it was not RESTORING (the caller says so in the log).
 * No-op (false) without shared memory or with the database table full.
 */
bool
OfRestoreMark(Oid dboid, int pid)
{
	TimestampTz now = GetCurrentTimestamp();
	bool		newly = false;
	int			i;

	if (of_shared == NULL)
		return false;
	SpinLockAcquire(&of_shared->mutex);
	i = OfDbFindOrAdd(dboid);
	if (i >= 0)
	{
		OfDbEntry  *db = &of_shared->dbs[i];

		newly = db->state != OF_DB_RESTORING;
		db->state = OF_DB_RESTORING;
		db->restore_seen_at = now;
		db->wake_pending = true;	/* whoever comes back looks at once */
		/* a database the launcher has not read yet: check its filter */
		of_shared->rescan_requested = true;
	}
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
	return newly;
}

/* The LOG line of a database left alone for pg_restore session pid */
void
OfRestoreLogLeave(const char *dbname, int pid)
{
	ereport(LOG,
			(errmsg("orderflow workers leave database \"%s\" while pg_restore is connected to it", dbname),
			 errdetail("Session %d has application_name \"%s\"; the workers come back %d seconds after the last such session of the database ends.",
					   pid, OF_RESTORE_APPNAME, OF_RESTORE_GRACE_MS / 1000)));
}

/*
 * Launcher: look at every RESTORING database; one where a pg_restore
 * session is still connected stays so, one without for OF_RESTORE_GRACE_MS
 * becomes UNKNOWN (a probe worker starts there and finds it served).
 * Returns how long until the next look, -1 when no database is RESTORING.
 * Called with no lock held.
 */
long
OfRestoreRelease(TimestampTz now)
{
	Oid			oids[OF_MAX_DATABASES];
	int			pids[OF_MAX_DATABASES];
	int			n = 0;

	SpinLockAcquire(&of_shared->mutex);
	for (int i = 0; i < OF_MAX_DATABASES; i++)
	{
		if (of_shared->dbs[i].dboid != InvalidOid &&
			of_shared->dbs[i].state == OF_DB_RESTORING)
			oids[n++] = of_shared->dbs[i].dboid;
	}
	SpinLockRelease(&of_shared->mutex);
	if (n == 0)
		return -1;

	/* outside the spinlock: reading the status array allocates */
	for (int k = 0; k < n; k++)
		pids[k] = OfRestoreSessionIn(oids[k]);

	SpinLockAcquire(&of_shared->mutex);
	for (int k = 0; k < n; k++)
	{
		int			i = OfDbFind(oids[k]);
		OfDbEntry  *db;

		if (i < 0 || of_shared->dbs[i].state != OF_DB_RESTORING)
			continue;
		db = &of_shared->dbs[i];
		if (pids[k] != 0)
			db->restore_seen_at = now;
		else if (TimestampDifferenceExceeds(db->restore_seen_at, now, OF_RESTORE_GRACE_MS))
		{
			db->state = OF_DB_UNKNOWN;
			db->probe_gen_done = db->probe_gen; /* this probe covers them */
			db->probe_wanted = true;	/* the extension is there: probe now */
		}
	}
	SpinLockRelease(&of_shared->mutex);
	return OF_RESTORE_LOOK_MS;
}
