/*-------------------------------------------------------------------------
 *
 * dbhooks.c
 *	  The utility commands the worker pool must hear about, seen through a
 *	  ProcessUtility hook installed while preloading.
 *
 *   CREATE / ALTER EXTENSION orderflow: when the transaction commits, the
 *     launcher is told to look at this database again (a probe worker
 *     finds the new version), instead of waiting for its periodic look.
 *     Run by pg_restore, it marks the database RESTORING at once, so no
 *     worker starts there before the restore's rows are in (restore.c).
 *   DROP EXTENSION orderflow: before it runs, the database's workers leave
 *     (as for DROP DATABASE below) and none comes back until the
 *     transaction ends.  DROP EXTENSION takes AccessExclusiveLock on the
 *     extension's tables one at a time while a batch holds locks on several
 *     of them and on the tasks' tables: with a worker inside, the DROP could
 *     be chosen as a deadlock victim.  At commit the database is marked as
 *     having no extension (no worker is started there to find out).
 *   DROP DATABASE, ALTER DATABASE RENAME / SET TABLESPACE, CREATE DATABASE
 *     ... TEMPLATE: these fail while any other session is connected to the
 *     database ("being accessed by other users"), and our workers are
 *     such sessions.  Before the command runs, the launcher is told to stop
 *     the database's workers and start none there until the command is
 *     over, and we wait (at most OF_STOP_WAIT_MS) for them to exit.  The
 *     way TimescaleDB's loader stops its scheduler for the same commands.
 *
 * A database stays blocked until the transaction of the command ends
 * (commit or abort: the xact callback unblocks, so an ERROR, a cancel
 * while we wait, or a failing command always lets the workers back; a
 * session that dies is noticed by the launcher).  Only a role that may run
 * the command (the owner of the database or of the extension, or a
 * superuser) blocks anything: anyone else's attempt fails in the command
 * itself and must not stop the workers of a database it cannot touch.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_database.h"
#include "catalog/pg_extension.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "commands/extension.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/timestamp.h"

#include "orderflow.h"
#include "pool.h"
#include "restore.h"

/* Longest wait for a database's workers to exit before a DROP DATABASE */
#define OF_STOP_WAIT_MS			5000

static ProcessUtility_hook_type prev_process_utility = NULL;

/* What to tell the pool when the current transaction commits */
static bool probe_at_commit = false;
static bool rescan_at_commit = false;
static bool xact_callback_registered = false;
/* Database entries this backend blocked, unblocked when the transaction ends */
static bool blocked_here[OF_MAX_DATABASES];
static bool any_blocked_here = false;
/* What the blocking command does to its database if it commits */
static bool dropdb_at_commit[OF_MAX_DATABASES];
static bool dropext_at_commit[OF_MAX_DATABASES];

/* Tell the launcher: look at this database again (CREATE/ALTER EXTENSION) */
static void
of_request_probe(void)
{
	int			i;

	SpinLockAcquire(&of_shared->mutex);
	i = OfDbFindOrAdd(MyDatabaseId);
	if (i >= 0)
	{
		of_shared->dbs[i].probe_gen++;
		of_shared->dbs[i].probe_wanted = true;
	}
	/* a database the launcher has not read yet: it may be filtered out */
	of_shared->rescan_requested = true;
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
}

/* Tell the launcher: read pg_database again (CREATE DATABASE committed) */
static void
of_request_rescan(void)
{
	SpinLockAcquire(&of_shared->mutex);
	of_shared->rescan_requested = true;
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
}

/*
 * The transaction that blocked databases ended: let the launcher serve
 * them again.  A committed DROP DATABASE or DROP EXTENSION leaves its
 * database without the extension: mark it so (its pg_database row may
 * still be visible to the launcher for a moment, and no worker needs to
 * be started to find the extension gone).  Spinlock and latch only: runs
 * in the commit and abort callbacks, where nothing may throw.
 */
static void
of_unblock_all(bool committed)
{
	if (!any_blocked_here)
		return;
	SpinLockAcquire(&of_shared->mutex);
	for (int db = 0; db < OF_MAX_DATABASES; db++)
	{
		OfDbEntry  *e = &of_shared->dbs[db];

		if (!blocked_here[db])
			continue;
		if (e->blocked_by == MyProcPid)
		{
			e->blocked_by = 0;
			if (committed && (dropdb_at_commit[db] || dropext_at_commit[db]))
			{
				e->state = OF_DB_ABSENT;
				e->recheck_at = DT_NOEND;
				e->next_due = DT_NOEND;
				e->wake_pending = false;
			}
		}
		blocked_here[db] = dropdb_at_commit[db] = dropext_at_commit[db] = false;
	}
	any_blocked_here = false;
	of_shared->rescan_requested = true;
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
}

/* XactCallback: act at commit (cannot throw: spinlocks and latches only) */
static void
of_hooks_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			of_unblock_all(true);
			if (probe_at_commit)
				of_request_probe();
			if (rescan_at_commit)
				of_request_rescan();
			probe_at_commit = rescan_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* prepared: its locks keep the command's effect until COMMIT PREPARED */
			of_unblock_all(false);
			probe_at_commit = rescan_at_commit = false;
			break;
		default:
			break;
	}
}

static void
of_hooks_ensure_callback(void)
{
	if (!xact_callback_registered)
	{
		RegisterXactCallback(of_hooks_xact_callback, NULL);
		xact_callback_registered = true;
	}
}

/* Does a DROP statement drop extension orderflow? */
static bool
of_drops_orderflow(DropStmt *stmt)
{
	ListCell   *lc;

	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
	{
		if (strcmp(strVal(lfirst(lc)), "orderflow") == 0)
			return true;
	}
	return false;
}

/* The value of option `name` of a CREATE/ALTER DATABASE, NULL if absent */
static const char *
of_db_option(List *options, const char *name)
{
	ListCell   *lc;

	foreach(lc, options)
	{
		DefElem    *d = lfirst_node(DefElem, lc);

		if (strcmp(d->defname, name) == 0 && d->arg != NULL)
			return defGetString(d);
	}
	return NULL;
}

/* May the current role run a command that needs to own database dboid? */
static bool
of_owns_database(Oid dboid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(DatabaseRelationId, dboid, GetUserId());
#else
	return pg_database_ownercheck(dboid, GetUserId());
#endif
}

/* May the current role drop extension orderflow (its owner or a superuser)? */
static bool
of_owns_extension(Oid extoid)
{
#if PG_VERSION_NUM >= 160000
	return object_ownercheck(ExtensionRelationId, extoid, GetUserId());
#else
	return pg_extension_ownercheck(extoid, GetUserId());
#endif
}

/*
 * Stop the workers of database dboid and keep them away until this
 * transaction ends: block the entry, wake the launcher (it asks them to
 * leave at their batch boundary and terminates them after a grace; a
 * terminated batch rolls back) and wait until none is left, at most
 * OF_STOP_WAIT_MS (the command itself then waits as it always does).
 * The block is recorded before the wait, so a cancel during the wait
 * unblocks at abort like any other error.
 */
static void
of_block_database(Oid dboid, bool dropdb, bool dropext)
{
	TimestampTz deadline;
	int			db;

	SpinLockAcquire(&of_shared->mutex);
	db = OfDbFind(dboid);
	if (db >= 0 && of_shared->dbs[db].blocked_by != 0 &&
		of_shared->dbs[db].blocked_by != MyProcPid)
		db = -2;				/* another session's command holds it */
	else if (db >= 0)
		of_shared->dbs[db].blocked_by = MyProcPid;
	SpinLockRelease(&of_shared->mutex);
	if (db == -1)
		return;					/* not a database the pool knows */
	if (db >= 0)
	{
		of_hooks_ensure_callback();
		blocked_here[db] = any_blocked_here = true;
		dropdb_at_commit[db] |= dropdb;
		dropext_at_commit[db] |= dropext;
		OfWakeLauncher();
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), OF_STOP_WAIT_MS);
	pgstat_report_wait_start(PG_WAIT_EXTENSION);
	for (;;)
	{
		int			left = 0;

		SpinLockAcquire(&of_shared->mutex);
		for (int i = 0; i < OF_MAX_WORKERS; i++)
			left += of_shared->slots[i].pid != 0 && of_shared->slots[i].dboid == dboid;
		SpinLockRelease(&of_shared->mutex);
		if (left == 0 || GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 20, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	pgstat_report_wait_end();
}

/*
 * The database whose workers must leave before this statement runs, and
 * whether the statement drops it or its extension; InvalidOid for any
 * other statement and when the current role may not run it (it then fails
 * in the command, and must not have stopped anything).
 */
static Oid
of_database_to_free(Node *parsetree, bool *dropdb, bool *dropext)
{
	const char *dbname = NULL;
	Oid			dboid;

	*dropdb = *dropext = false;
	switch (nodeTag(parsetree))
	{
		case T_DropStmt:
			if (of_drops_orderflow((DropStmt *) parsetree))
			{
				Oid			extoid = get_extension_oid("orderflow", true);

				if (!OidIsValid(extoid) || !of_owns_extension(extoid))
					return InvalidOid;
				*dropext = true;
				return MyDatabaseId;
			}
			return InvalidOid;
		case T_DropdbStmt:
			dbname = ((DropdbStmt *) parsetree)->dbname;
			*dropdb = true;
			break;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				dbname = ((RenameStmt *) parsetree)->subname;
			break;
		case T_AlterDatabaseStmt:
			if (of_db_option(((AlterDatabaseStmt *) parsetree)->options, "tablespace"))
				dbname = ((AlterDatabaseStmt *) parsetree)->dbname;
			break;
		case T_CreatedbStmt:
			/* a template (datistemplate) is never served: only owners matter */
			dbname = of_db_option(((CreatedbStmt *) parsetree)->options, "template");
			break;
		default:
			break;
	}
	if (dbname == NULL)
		return InvalidOid;
	dboid = get_database_oid(dbname, true);
	if (!OidIsValid(dboid) || !of_owns_database(dboid))
		return InvalidOid;
	return dboid;
}

/* The ProcessUtility hook */
static void
of_process_utility(PlannedStmt *pstmt, const char *queryString,
#if PG_VERSION_NUM >= 140000
				   bool readOnlyTree,
#endif
				   ProcessUtilityContext context, ParamListInfo params,
				   QueryEnvironment *queryEnv, DestReceiver *dest,
				   QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	bool		logged_drop = false;

	if (of_shared != NULL)
	{
		bool		dropdb;
		bool		dropext;
		Oid			dboid;

		switch (nodeTag(parsetree))
		{
			case T_CreateExtensionStmt:
				if (strcmp(((CreateExtensionStmt *) parsetree)->extname, "orderflow") == 0)
				{
					of_hooks_ensure_callback();
					probe_at_commit = true;
					if (OfIsRestoreSession() && OfRestoreMark(MyDatabaseId, MyProcPid))
						OfRestoreLogLeave(get_database_name(MyDatabaseId), MyProcPid);
				}
				break;
			case T_AlterExtensionStmt:
				if (strcmp(((AlterExtensionStmt *) parsetree)->extname, "orderflow") == 0)
				{
					of_hooks_ensure_callback();
					probe_at_commit = true;
				}
				break;
			case T_CreatedbStmt:
				/* a copy of a template that holds the extension: find it then */
				of_hooks_ensure_callback();
				rescan_at_commit = true;
				break;
			default:
				break;
		}
		dboid = of_database_to_free(parsetree, &dropdb, &dropext);
		if (OidIsValid(dboid))
			of_block_database(dboid, dropdb, dropext);
		logged_drop = dropext;
	}
	if (prev_process_utility)
		prev_process_utility(pstmt, queryString,
#if PG_VERSION_NUM >= 140000
							 readOnlyTree,
#endif
							 context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString,
#if PG_VERSION_NUM >= 140000
								readOnlyTree,
#endif
								context, params, queryEnv, dest, qc);
	if (logged_drop)
		ereport(LOG,
				(errmsg("orderflow workers leave database \"%s\": the extension was dropped",
						get_database_name(MyDatabaseId))));
}

/* See orderflow.h: install the hook (while preloading) */
void
OfInstallUtilityHook(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = of_process_utility;
}
