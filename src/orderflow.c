/*-------------------------------------------------------------------------
 *
 * orderflow.c
 *	  Module entry point: GUCs, shared memory hooks and the launcher.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "orderflow.h"

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/varlena.h"

PG_MODULE_MAGIC;

int			of_workers = 2;
char	   *of_database = NULL;
int			of_poll_interval_ms = 1000;
int			of_batch_size = 64;
int			of_max_payload_bytes = 256 * 1024;
int			of_max_history_events = 25000;
char	   *of_task_search_path = NULL;
bool		of_loaded_at_startup = false;
int			of_retention_s = 90 * 86400;
int			of_default_task_timeout_ms = 5 * 60 * 1000;
int			of_max_workers_per_role = 0;
int			of_definition_cache_kb = 64 * 1024;
int			of_max_map_items = 100000;

void		_PG_init(void);

/* Define the GUCs that only make sense at server start */
static void
define_postmaster_gucs(void)
{
	/* none today: orderflow.workers and orderflow.database follow reloads */
}

/* orderflow.database must be a list of names (quoted names may hold commas) */
static bool
check_database_list(char **newval, void **extra, GucSource source)
{
	char	   *raw = pstrdup(*newval);
	List	   *names;
	bool		ok = SplitGUCList(raw, ',', &names);

	if (!ok)
		GUC_check_errdetail("List syntax is invalid.");
	list_free(names);
	pfree(raw);
	return ok;
}

/* Define the GUCs that may change at reload or per session */
static void
define_runtime_gucs(void)
{
	DefineCustomStringVariable("orderflow.database",
							   gettext_noop("Databases the orderflow workers serve, comma-separated; empty: every database where the extension is installed."),
							   gettext_noop("A filter: a listed database is served once CREATE EXTENSION orderflow ran there."),
							   &of_database,
							   "",
							   PGC_SIGHUP,
							   GUC_LIST_INPUT,
							   check_database_list, NULL, NULL);
	DefineCustomIntVariable("orderflow.workers",
							gettext_noop("Number of background workers that advance executions."),
							gettext_noop("Changing it takes effect at reload: the launcher starts or stops workers."),
							&of_workers,
							2, 0, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.poll_interval",
							gettext_noop("Longest time an idle worker sleeps before looking for due work."),
							gettext_noop("Workers are woken at commit of new work; this is the fallback."),
							&of_poll_interval_ms,
							1000, 10, 3600 * 1000,
							PGC_SIGHUP,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.batch_size",
							gettext_noop("Most executions a worker advances in one transaction."),
							NULL,
							&of_batch_size,
							64, 1, 10000,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.max_history_events",
							gettext_noop("Most history events one execution may write; then it fails with States.Runtime."),
							gettext_noop("Like Step Functions' 25,000 events; stops endless cycles."),
							&of_max_history_events,
							25000, 100, INT_MAX / 2,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.max_payload_size",
							gettext_noop("Largest execution input, state input or task result, in bytes."),
							gettext_noop("Like Step Functions' 256 KB payload quota, but may be raised."),
							&of_max_payload_bytes,
							256 * 1024, 1024, MaxAllocSize / 4,
							PGC_SUSET,
							GUC_UNIT_BYTE,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.max_map_items",
							gettext_noop("Most iterations one Map state may start; a Map with more items fails with States.DataLimitExceeded."),
							gettext_noop("Checked while the items are read: an ItemReader is read up to this many items plus one."),
							&of_max_map_items,
							100000, 1, INT_MAX - 1,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.retention",
							gettext_noop("How long finished executions and their history are kept."),
							gettext_noop("The workers delete older finished executions in small batches; 0 keeps them forever."),
							&of_retention_s,
							90 * 86400, 0, INT_MAX,
							PGC_SIGHUP,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.default_task_timeout",
							gettext_noop("Timeout of a SQL Task that has no TimeoutSeconds or TimeoutSecondsPath."),
							gettext_noop("On expiry the task fails with States.Timeout; 0 means no timeout."),
							&of_default_task_timeout_ms,
							5 * 60 * 1000, 0, INT_MAX,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.max_workers_per_role",
							gettext_noop("Most workers that may be in long tasks of one role at once."),
							gettext_noop("A task of a role is deferred while this many other workers run tasks of that role "
										 "that have taken over a second; 0 means orderflow.workers - 1 (at least 1)."),
							&of_max_workers_per_role,
							0, 0, 64,
							PGC_SIGHUP,
							0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("orderflow.definition_cache_size",
							gettext_noop("Memory a backend may keep for parsed state machine definitions."),
							gettext_noop("Least recently used definitions are dropped between batches; "
										 "a definition in use is always kept."),
							&of_definition_cache_kb,
							64 * 1024, 0, MAX_KILOBYTES,
							PGC_SUSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	DefineCustomStringVariable("orderflow.task_search_path",
							   gettext_noop("search_path pinned while a task function runs."),
							   gettext_noop("Task functions should schema-qualify what they use or carry their own SET search_path."),
							   &of_task_search_path,
							   "pg_catalog, pg_temp",
							   PGC_SUSET,
							   0,
							   NULL, NULL, NULL);
}

/*
 * Module load: define GUCs everywhere; when preloaded, also reserve shared
 * memory and register the launcher that keeps the worker pool running.
 */
void
_PG_init(void)
{
	define_postmaster_gucs();
	define_runtime_gucs();
	MarkGUCPrefixReserved("orderflow");

	if (!process_shared_preload_libraries_in_progress || IsBinaryUpgrade)
		return;

	of_loaded_at_startup = true;
	OfShmemInit();
	OfInstallUtilityHook();
	OfRegisterLauncher();
}
