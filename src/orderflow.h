/*-------------------------------------------------------------------------
 *
 * orderflow.h
 *	  Server-side declarations shared by the orderflow C files.
 *
 * The pure-C ASL model lives in asl.h; this header is for code that runs
 * inside PostgreSQL: GUCs, the definition cache, storage, the executor,
 * the workers and the SQL-callable API.
 *
 *-------------------------------------------------------------------------
 */
#ifndef ORDERFLOW_H
#define ORDERFLOW_H

#include "postgres.h"

#include "asl.h"				/* first: see the note on json_object there */

#include "fmgr.h"
#include "funcapi.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#define OF_SCHEMA "orderflow"

/* ---- GUCs (orderflow.c) ---- */
extern int	of_workers;				/* orderflow.workers */
extern char *of_database;			/* orderflow.database */
extern int	of_poll_interval_ms;	/* orderflow.poll_interval */
extern int	of_batch_size;			/* orderflow.batch_size */
extern int	of_max_payload_bytes;	/* orderflow.max_payload_size */
extern int	of_max_history_events;	/* orderflow.max_history_events */
extern char *of_task_search_path;	/* orderflow.task_search_path */
extern bool of_loaded_at_startup;	/* true under shared_preload_libraries */
extern int	of_retention_s;			/* orderflow.retention, seconds (0: keep) */
/* task hygiene (issue 10) */
extern int	of_default_task_timeout_ms;	/* orderflow.default_task_timeout (0: none) */
extern int	of_max_workers_per_role;	/* orderflow.max_workers_per_role (0: workers-1) */
extern int	of_definition_cache_kb;	/* orderflow.definition_cache_size, kB */
extern int	of_max_map_items;		/* orderflow.max_map_items */

/*
 * ---- the pool: pool.c (shared memory, wake-ups), launcher.c, worker.c,
 * dbhooks.c (CREATE/DROP EXTENSION and DATABASE); see pool.h ----
 */
extern void OfShmemInit(void);		/* hooks, called from _PG_init (pool.c) */
extern void OfRegisterLauncher(void);	/* launcher.c */
extern void OfInstallUtilityHook(void);	/* dbhooks.c, when preloaded */
/* Wake the pool when the current transaction commits (new or due work). */
extern void OfWakeWorkersAtCommit(void);
/* Wake wait_for_execution() callers when the current transaction commits. */
extern void OfNotifyFinishedAtCommit(void);
/* Sleep until something finished somewhere, or timeout_ms passed. */
extern void OfWaitForFinish(long timeout_ms);
/* Wake get_activity_task() callers when the current transaction commits. */
extern void OfNotifyActivityAtCommit(void);
/* Sleep until an activity task was queued somewhere, or timeout_ms passed. */
extern void OfWaitForActivity(long timeout_ms);
/* true when a launcher is running (the library was preloaded) */
extern bool OfWorkersAvailable(void);
/* true when a launcher runs and serves (or will serve) database dboid */
extern bool OfWorkersServeDatabase(Oid dboid);
/*
 * Per-role share of the pool (orderflow.max_workers_per_role).  A pool
 * worker asks OfRoleShareAdmit(role) before it runs a task of `role`: false
 * means too many other workers are in long tasks of that role, defer.
 * OfTaskSlotBegin/End bracket the call itself; outside a pool worker
 * (run_pending, start_sync_execution) all three do nothing (admit: true).
 */
extern bool OfRoleShareAdmit(Oid role);
/* The roles at their share for this worker (at most max), into roles[] */
extern int	OfSaturatedRoles(Oid *roles, int max);
extern void OfTaskSlotBegin(Oid role);
extern void OfTaskSlotEnd(void);
/* true in a pool worker (not in a client backend calling run_pending) */
extern bool OfIsPoolWorker(void);
/*
 * Executions whose task ignored its timeout and whose worker ended itself
 * (task.c).  OfNoteTimeoutIgnored lists one (from the dying worker's exit
 * path); OfTimeoutWasIgnored tells whether one is listed, before its task
 * is called again, and drops the entry when the current transaction
 * commits.  Without shared memory: nothing is listed.
 */
struct pg_uuid_t;
extern void OfNoteTimeoutIgnored(const struct pg_uuid_t *execution);
extern bool OfTimeoutWasIgnored(const struct pg_uuid_t *execution);

/* ---- util.c: helpers shared by the SQL-callable functions ---- */
typedef struct OfOwnerSwitch
{
	Oid			save_userid;
	int			save_sec_context;
} OfOwnerSwitch;

struct pg_uuid_t;
extern void OfBecomeExtensionOwner(OfOwnerSwitch *sw);
extern void OfRestoreIdentity(OfOwnerSwitch *sw);

/*
 * Run user code (a task function, a Map ItemReader) as the execution's
 * owner: its identity inside a security-restricted operation and
 * orderflow.task_search_path pinned in a GUC nest level of its own.  Enter
 * and leave inside a subtransaction, whose abort undoes both on error.
 */
typedef struct OfUserCode
{
	Oid			save_userid;
	int			save_sec_context;
	int			nest_level;
} OfUserCode;
extern void OfEnterUserCode(Oid owner, OfUserCode *uc);
extern void OfLeaveUserCode(OfUserCode *uc);
/*
 * In a pool worker: release the session-level advisory locks the owner's
 * code left (a Map's ItemReader or ResultWriter; tasks: task.c).
 */
extern void OfReleaseUserAdvisoryLocks(void);
/* Refuse (42501) to run fn for owner without EXECUTE; what: "Tasks", ... */
extern void OfCheckExecute(Oid fn, Oid owner, const char *what);
extern void OfConnectSpi(void);
extern void OfRandomUuid(struct pg_uuid_t *id);
extern char *OfUuidText(struct pg_uuid_t *id);
/* the server's callbacks for States.Hash, States.UUID, States.MathRandom */
extern bool OfHashForIntrinsic(const char *algorithm, const char *data, size_t len,
							   char *hex_out, size_t hex_out_size);
extern void OfUuidForIntrinsic(char out[37]);
extern double OfRandomForIntrinsic(void);
/* bounded evaluation: the interrupt poll, and raising what it saw */
extern bool OfEvalInterrupted(void);
extern void OfRaiseEvalInterrupt(const char *error);

/* ---- executor.c ---- */
/*
 * Advance due executions in the current transaction (the caller has
 * started it and pushed a snapshot; SPI need not be connected).  Claims up
 * to max_executions due executions with FOR UPDATE SKIP LOCKED and moves
 * each forward as far as it can go now.  Returns the number of state
 * transitions done; *next_due_ms is how long until the next known due work
 * (-1 if none known), so an idle worker can sleep exactly that long.
 */
extern int	OfRunDue(int max_executions, long *next_due_ms);

/*
 * OfRunDue restricted to executions whose owner `role` has the privileges
 * of (run_pending() called by a role that is not a superuser);
 * InvalidOid: every execution.
 */
extern int	OfRunDueForRole(int max_executions, Oid role, long *next_due_ms);

/*
 * Reentrancy (issue 10): true while OfRunDue or OfRunExecutionTree runs in
 * this backend, i.e. when an API function is called from inside a task (or
 * an ItemReader).  OfRefuseInsideTask raises "<function> cannot be called
 * from inside a task" then.  OfCheckNotHeldByBatch raises (OBJECT_IN_USE)
 * when the execution's tree is one the running batch claimed, and
 * OfCheckStateMachineNotHeld when the batch holds an execution of that
 * state machine; both need SPI connected and do nothing outside the engine.
 */
struct pg_uuid_t;
extern bool OfEngineActive(void);
extern void OfRefuseInsideTask(const char *function, const char *hint);
extern void OfCheckNotHeldByBatch(struct pg_uuid_t *id);
extern void OfCheckStateMachineNotHeld(const char *name);

/*
 * Run one execution and its descendants to the end in the current
 * transaction (start_sync_execution), sleeping for retry delays.  SPI need
 * not be connected.
 */
struct pg_uuid_t;
extern void OfRunExecutionTree(struct pg_uuid_t *root_id);

/* ---- retention.c ---- */
/* Delete up to max_executions expired executions (transaction started) */
extern int64 OfPurgeExpired(int max_executions);

/*
 * Abort the running descendants (Parallel branches, Map iterations) of an
 * execution: those of one entry of its Parallel/Map state (tag > 0) or all
 * (tag <= 0).  SPI must be connected.
 */
struct pg_uuid_t;
extern void OfCancelDescendants(struct pg_uuid_t *parent_id, int tag,
								const char *error, const char *cause);

/* InitMaterializedSRF is PostgreSQL 15's; util.c provides it before that */
#if PG_VERSION_NUM < 150000
extern void OfInitMaterializedSRF(FunctionCallInfo fcinfo);
#define InitMaterializedSRF(fcinfo, flags) OfInitMaterializedSRF(fcinfo)
#endif

#endif							/* ORDERFLOW_H */
