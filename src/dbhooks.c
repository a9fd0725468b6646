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
 *   DROP EXTENSION orderflow: when it commits, the database's workers are
 *     woken; their next batch finds the extension gone and they leave.
 *   DROP DATABASE, ALTER DATABASE RENAME / SET TABLESPACE, CREATE DATABASE
 *     ... TEMPLATE: these fail while any other session is connected to the
 *     database ("being accessed by other users"), and our workers are
 *     such sessions.  Before the command runs, the launcher is told to stop
 *     the database's workers and start none there until the command is
 *     over, and we wait (at most OF_STOP_WAIT_MS) for them to exit.  The
 *     way TimescaleDB's loader stops its scheduler for the same commands.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "pgstat.h"
#include "storage/latch.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#include "orderflow.h"
#include "pool.h"
#include "restore.h"

/* Longest wait for a database's workers to exit before a DROP DATABASE */
#define OF_STOP_WAIT_MS			5000

static ProcessUtility_hook_type prev_process_utility = NULL;

/* What to tell the pool when the current transaction commits */
static bool probe_at_commit = false;
static bool wake_all_at_commit = false;
static bool xact_callback_registered = false;

/* Tell the launcher: look at this database again (CREATE/ALTER EXTENSION) */
static void
of_request_probe(void)
{
	int			i;

	SpinLockAcquire(&of_shared->mutex);
	i = OfDbFindOrAdd(MyDatabaseId);
	if (i >= 0)
		of_shared->dbs[i].probe_gen++;
	/* a database the launcher has not read yet: it may be filtered out */
	of_shared->rescan_requested = true;
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
}

/* Wake every worker of this database (DROP EXTENSION: let them leave) */
static void
of_wake_database(void)
{
	Latch	   *latches[OF_MAX_WORKERS];
	int			n = 0;

	SpinLockAcquire(&of_shared->mutex);
	for (int i = 0; i < OF_MAX_WORKERS; i++)
	{
		OfWorkerSlot *slot = &of_shared->slots[i];

		if (slot->pid != 0 && slot->dboid == MyDatabaseId && slot->latch != NULL)
			latches[n++] = slot->latch;
	}
	SpinLockRelease(&of_shared->mutex);
	for (int i = 0; i < n; i++)
		SetLatch(latches[i]);
}

/* XactCallback: act at commit (cannot throw: spinlocks and latches only) */
static void
of_hooks_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (probe_at_commit)
				of_request_probe();
			if (wake_all_at_commit)
				of_wake_database();
			probe_at_commit = wake_all_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			probe_at_commit = wake_all_at_commit = false;
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

/*
 * The database whose workers must stop before this statement runs (DROP
 * DATABASE, ALTER DATABASE RENAME / SET TABLESPACE, CREATE DATABASE ...
 * TEMPLATE), NULL for any other statement.
 */
static const char *
of_database_to_free(Node *parsetree)
{
	switch (nodeTag(parsetree))
	{
		case T_DropdbStmt:
			return ((DropdbStmt *) parsetree)->dbname;
		case T_RenameStmt:
			if (((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
				return ((RenameStmt *) parsetree)->subname;
			return NULL;
		case T_AlterDatabaseStmt:
			if (of_db_option(((AlterDatabaseStmt *) parsetree)->options, "tablespace"))
				return ((AlterDatabaseStmt *) parsetree)->dbname;
			return NULL;
		case T_CreatedbStmt:
			return of_db_option(((CreatedbStmt *) parsetree)->options, "template");
		default:
			return NULL;
	}
}

/*
 * Stop the workers of database dboid and keep them away while this
 * backend runs its command: block the entry, wake the launcher (it
 * terminates them, their batches roll back) and wait until none is left,
 * at most OF_STOP_WAIT_MS (the command itself then waits as it always
 * does).  Returns the entry index to unblock, -1 if there was nothing to do.
 */
static int
of_block_database(Oid dboid)
{
	TimestampTz deadline;
	int			db;

	SpinLockAcquire(&of_shared->mutex);
	db = OfDbFind(dboid);
	if (db >= 0)
		of_shared->dbs[db].blocked_by = MyProcPid;
	SpinLockRelease(&of_shared->mutex);
	if (db < 0)
		return -1;
	OfWakeLauncher();

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
	return db;
}

/* The command is over: let the launcher serve the database again */
static void
of_unblock_database(int db, bool dropped)
{
	SpinLockAcquire(&of_shared->mutex);
	if (of_shared->dbs[db].blocked_by == MyProcPid)
	{
		of_shared->dbs[db].blocked_by = 0;
		/*
		 * Dropped: its pg_database row goes when our transaction commits,
		 * after this; a rescan before that still lists it, so mark the
		 * entry itself (the rescan after the commit frees it).
		 */
		if (dropped)
		{
			of_shared->dbs[db].state = OF_DB_ABSENT;
			of_shared->dbs[db].recheck_at = DT_NOEND;
		}
	}
	of_shared->rescan_requested = true;
	SpinLockRelease(&of_shared->mutex);
	OfWakeLauncher();
}

/* Run the statement with the database's workers stopped around it */
static void
of_run_with_database_free(Node *parsetree, const char *dbname,
						  PlannedStmt *pstmt, const char *queryString,
#if PG_VERSION_NUM >= 140000
						  bool readOnlyTree,
#endif
						  ProcessUtilityContext context, ParamListInfo params,
						  QueryEnvironment *queryEnv, DestReceiver *dest,
						  QueryCompletion *qc)
{
	Oid			dboid = get_database_oid(dbname, true);
	int			db = OidIsValid(dboid) ? of_block_database(dboid) : -1;

	PG_TRY();
	{
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
	}
	PG_CATCH();
	{
		if (db >= 0)
			of_unblock_database(db, false);
		PG_RE_THROW();
	}
	PG_END_TRY();
	if (db >= 0)
		of_unblock_database(db, IsA(parsetree, DropdbStmt));
	else if (IsA(parsetree, CreatedbStmt))
	{
		/* a copy of a template that holds the extension: find it now */
		SpinLockAcquire(&of_shared->mutex);
		of_shared->rescan_requested = true;
		SpinLockRelease(&of_shared->mutex);
		OfWakeLauncher();
	}
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
	const char *dbname = NULL;

	if (of_shared != NULL)
	{
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
			case T_DropStmt:
				if (of_drops_orderflow((DropStmt *) parsetree))
				{
					of_hooks_ensure_callback();
					wake_all_at_commit = true;
				}
				break;
			default:
				dbname = of_database_to_free(parsetree);
				break;
		}
	}
	if (dbname != NULL)
	{
		of_run_with_database_free(parsetree, dbname, pstmt, queryString,
#if PG_VERSION_NUM >= 140000
								  readOnlyTree,
#endif
								  context, params, queryEnv, dest, qc);
		return;
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
}

/* See orderflow.h: install the hook (while preloading) */
void
OfInstallUtilityHook(void)
{
	prev_process_utility = ProcessUtility_hook;
	ProcessUtility_hook = of_process_utility;
}
