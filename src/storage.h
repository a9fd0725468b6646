/*-------------------------------------------------------------------------
 *
 * storage.h
 *	  The SQL orderflow runs against its own tables, prepared once.
 *
 *-------------------------------------------------------------------------
 */
#ifndef OF_STORAGE_H
#define OF_STORAGE_H

#include "orderflow.h"

#include "executor/spi.h"
#include "utils/uuid.h"

/* Every statement orderflow runs; texts and argument types in storage.c */
typedef enum OfQuery
{
	OFQ_CLAIM_DUE,
	OFQ_NEXT_DUE,
	OFQ_UPDATE_EXECUTION,
	OFQ_INSERT_EVENTS,
	OFQ_LOAD_DEFINITION,
	OFQ_LATEST_DEFINITION,
	OFQ_INSERT_EXECUTION,
	OFQ_FIND_EXECUTION_BY_NAME,
	OFQ_INSERT_STATE_MACHINE,
	OFQ_INSERT_VERSION,
	OFQ_LOCK_STATE_MACHINE,
	OFQ_BUMP_VERSION,
	OFQ_COUNT_RUNNING,
	OFQ_ABORT_RUNNING,
	OFQ_DELETE_STATE_MACHINE,
	OFQ_FIND_RESOURCE,
	OFQ_UPSERT_RESOURCE,
	OFQ_EXECUTION_STATUS,
	OFQ_LOCK_EXECUTION,
	OFQ_STOP_EXECUTION,
	OFQ_WAIT_STATUS,
	OFQ_INSERT_CHILD,
	OFQ_PARENT_WAITING,
	OFQ_CHILD_COUNTS,
	OFQ_INSERT_COUNTERS,
	OFQ_LOCK_COUNTERS,
	OFQ_UPDATE_COUNTERS,
	OFQ_DELETE_COUNTERS,
	OFQ_DELETE_PARENT_COUNTERS,
	OFQ_RELEASE_QUEUED,
	OFQ_CHILD_RESULTS,
	OFQ_FIRST_CHILD_FAILURE,
	OFQ_WAKE,
	OFQ_CANCEL_DESCENDANTS,
	OFQ_ROOT_INFO,
	/* callbacks, activities, execution control, retention (callback.c, control.c, retention.c) */
	OFQ_TOKEN_INSERT,
	OFQ_TOKEN_CANCEL_OPEN,
	OFQ_TOKEN_OPEN,
	OFQ_TOKEN_SET_STATUS,
	OFQ_TOKEN_FIND,
	OFQ_TOKEN_COMPLETE,
	OFQ_TOKEN_HEARTBEAT,
	OFQ_TOKEN_CANCEL_TREE,
	OFQ_ACTIVITY_INSERT,
	OFQ_ACTIVITY_FIND,
	OFQ_ACTIVITY_DELETE,
	OFQ_ACTIVITY_CLAIM,
	OFQ_ACTIVITY_CLAIMED_WAKE,
	OFQ_REDRIVE_LOCK,
	OFQ_REDRIVE,
	OFQ_CLAIM_TREE,
	OFQ_TREE_NEXT_DUE,
	OFQ_EXECUTION_RESULT,
	OFQ_PURGE,
	/* state machine privileges, tombstones, per-owner resources (privileges.c, api.c) */
	OFQ_PRIV_MACHINE,
	OFQ_PRIV_EXECUTION_MACHINE,
	OFQ_PRIV_GRANT,
	OFQ_PRIV_REVOKE,
	OFQ_LOCK_ANY_STATE_MACHINE,
	OFQ_REVIVE_STATE_MACHINE,
	OFQ_RESOURCE_DELETE,
	OFQ_ACTIVITY_REVIVE,
	/* engine security, issue 10 (executor.c, api.c): run_pending's own work, batch-held trees */
	OFQ_CLAIM_DUE_FOR_ROLE,
	OFQ_EXECUTION_ROOT,
	/* Map ResultWriter, issue 12 (result_writer.c) */
	OFQ_CHILD_RESULT_PAGE,
	/* redrive of Parallel branches and Map iterations, issue 12 (control.c, executor.c) */
	OFQ_REDRIVE_LIVE_DESCENDANTS,
	OFQ_CHILDREN_EXIST,
	OFQ_REDRIVE_CHILDREN,
	OFQ_REDRIVE_COUNTERS,
	OFQ_COUNT
} OfQuery;

/*
 * The result columns of every statement that returns rows, by name, as
 * PostgreSQL's catalog headers name theirs (Anum_pg_class_relname): read
 * rows only through these.  Each block repeats its statement's select list
 * (storage.c); its Natts_ value is stored with the statement, and
 * OfExecQuery fails loudly when a statement returns another number of
 * columns, so a select list and its readers cannot drift apart unseen.
 */

/* OFQ_CLAIM_DUE, OFQ_CLAIM_DUE_FOR_ROLE, OFQ_CLAIM_TREE (OF_CLAIMED_COLUMNS) */
enum
{
	Anum_claimed_id = 1,
	Anum_claimed_definition_id,
	Anum_claimed_state_machine,
	Anum_claimed_version,
	Anum_claimed_name,
	Anum_claimed_owner,
	Anum_claimed_input,
	Anum_claimed_started_at,
	Anum_claimed_current_state,
	Anum_claimed_state_input,
	Anum_claimed_state_entered_at,
	Anum_claimed_retry_count,
	Anum_claimed_retrier_attempts,
	Anum_claimed_phase,
	Anum_claimed_next_event_id,
	Anum_claimed_timeout_at,
	Anum_claimed_parent_id,
	Anum_claimed_root_id,
	Anum_claimed_parent_state,
	Anum_claimed_branch_index,
	Anum_claimed_parent_tag,
	Anum_claimed_children_tag,
	Anum_claimed_variables,
	Natts_claimed = Anum_claimed_variables
};

/* OFQ_NEXT_DUE, OFQ_TREE_NEXT_DUE: SELECT due_at */
enum { Anum_next_due_due_at = 1, Natts_next_due = 1 };

/* OFQ_LOAD_DEFINITION: SELECT state_machine, version, definition, resources */
enum
{
	Anum_load_definition_state_machine = 1,
	Anum_load_definition_version,
	Anum_load_definition_definition,
	Anum_load_definition_resources,
	Natts_load_definition = Anum_load_definition_resources
};

/* OFQ_LATEST_DEFINITION: SELECT definition_id, version */
enum
{
	Anum_latest_definition_definition_id = 1,
	Anum_latest_definition_version,
	Natts_latest_definition = Anum_latest_definition_version
};

/* OFQ_FIND_EXECUTION_BY_NAME: SELECT id, input, owner */
enum
{
	Anum_find_execution_id = 1,
	Anum_find_execution_input,
	Anum_find_execution_owner,
	Natts_find_execution = Anum_find_execution_owner
};

/* OFQ_LOCK_STATE_MACHINE: SELECT latest_version, owner */
enum
{
	Anum_lock_state_machine_latest_version = 1,
	Anum_lock_state_machine_owner,
	Natts_lock_state_machine = Anum_lock_state_machine_owner
};

/* OFQ_COUNT_RUNNING, OFQ_CANCEL_DESCENDANTS, OFQ_PURGE: SELECT count(*) */
enum { Anum_count_count = 1, Natts_count = 1 };

/* OFQ_ABORT_RUNNING: SELECT id */
enum { Anum_abort_running_id = 1, Natts_abort_running = 1 };

/* OFQ_FIND_RESOURCE: SELECT fn, owner */
enum
{
	Anum_find_resource_fn = 1,
	Anum_find_resource_owner,
	Natts_find_resource = Anum_find_resource_owner
};

/* OFQ_EXECUTION_STATUS: SELECT status, owner */
enum
{
	Anum_execution_status_status = 1,
	Anum_execution_status_owner,
	Natts_execution_status = Anum_execution_status_owner
};

/* OFQ_LOCK_EXECUTION: SELECT status, owner, next_event_id, current_state */
enum
{
	Anum_lock_execution_status = 1,
	Anum_lock_execution_owner,
	Anum_lock_execution_next_event_id,
	Anum_lock_execution_current_state,
	Natts_lock_execution = Anum_lock_execution_current_state
};

/* OFQ_WAIT_STATUS: SELECT status, xmin */
enum
{
	Anum_wait_status_status = 1,
	Anum_wait_status_xmin,
	Natts_wait_status = Anum_wait_status_xmin
};

/* OFQ_PARENT_WAITING: SELECT (the parent still waits for these children) */
enum { Anum_parent_waiting_waiting = 1, Natts_parent_waiting = 1 };

/* OFQ_CHILD_COUNTS: SELECT pending, failed, total, tolerated_count, tolerated_percentage */
enum
{
	Anum_child_counts_pending = 1,
	Anum_child_counts_failed,
	Anum_child_counts_total,
	Anum_child_counts_tolerated_count,
	Anum_child_counts_tolerated_percentage,
	Natts_child_counts = Anum_child_counts_tolerated_percentage
};

/* OFQ_LOCK_COUNTERS: SELECT pending, failed, total, next_queued, tolerated_count, tolerated_percentage */
enum
{
	Anum_lock_counters_pending = 1,
	Anum_lock_counters_failed,
	Anum_lock_counters_total,
	Anum_lock_counters_next_queued,
	Anum_lock_counters_tolerated_count,
	Anum_lock_counters_tolerated_percentage,
	Natts_lock_counters = Anum_lock_counters_tolerated_percentage
};

/* OFQ_CHILD_RESULTS: SELECT status, output, error, cause, running */
enum
{
	Anum_child_results_status = 1,
	Anum_child_results_output,
	Anum_child_results_error,
	Anum_child_results_cause,
	Anum_child_results_running,
	Natts_child_results = Anum_child_results_running
};

/* OFQ_FIRST_CHILD_FAILURE: SELECT error, cause */
enum
{
	Anum_first_child_failure_error = 1,
	Anum_first_child_failure_cause,
	Natts_first_child_failure = Anum_first_child_failure_cause
};

/* OFQ_ROOT_INFO: SELECT name, input, started_at */
enum
{
	Anum_root_info_name = 1,
	Anum_root_info_input,
	Anum_root_info_started_at,
	Natts_root_info = Anum_root_info_started_at
};

/*
 * OFQ_TOKEN_OPEN: SELECT task_id, status, output, error, cause, activity,
 * created_at, started_at, last_heartbeat, heartbeat_seconds, timeout_at,
 * worker_name
 */
enum
{
	Anum_token_open_task_id = 1,
	Anum_token_open_status,
	Anum_token_open_output,
	Anum_token_open_error,
	Anum_token_open_cause,
	Anum_token_open_activity,
	Anum_token_open_created_at,
	Anum_token_open_started_at,
	Anum_token_open_last_heartbeat,
	Anum_token_open_heartbeat_seconds,
	Anum_token_open_timeout_at,
	Anum_token_open_worker_name,
	Natts_token_open = Anum_token_open_worker_name
};

/* OFQ_TOKEN_FIND: SELECT task_id, status, activity, the activity's owner */
enum
{
	Anum_token_find_task_id = 1,
	Anum_token_find_status,
	Anum_token_find_activity,
	Anum_token_find_activity_owner,
	Natts_token_find = Anum_token_find_activity_owner
};

/* OFQ_ACTIVITY_FIND, OFQ_LOCK_ANY_STATE_MACHINE: SELECT owner, deleted */
enum
{
	Anum_owner_deleted_owner = 1,
	Anum_owner_deleted_deleted,
	Natts_owner_deleted = Anum_owner_deleted_deleted
};

/* OFQ_ACTIVITY_CLAIM: RETURNING execution_id, input, heartbeat_seconds */
enum
{
	Anum_activity_claim_execution_id = 1,
	Anum_activity_claim_input,
	Anum_activity_claim_heartbeat_seconds,
	Natts_activity_claim = Anum_activity_claim_heartbeat_seconds
};

/*
 * OFQ_REDRIVE_LOCK: SELECT status, owner, next_event_id, current_state,
 * is_child, started_at, timeout_at, redrive_count, its version still exists
 */
enum
{
	Anum_redrive_lock_status = 1,
	Anum_redrive_lock_owner,
	Anum_redrive_lock_next_event_id,
	Anum_redrive_lock_current_state,
	Anum_redrive_lock_is_child,
	Anum_redrive_lock_started_at,
	Anum_redrive_lock_timeout_at,
	Anum_redrive_lock_redrive_count,
	Anum_redrive_lock_has_definition,
	Natts_redrive_lock = Anum_redrive_lock_has_definition
};

/* OFQ_EXECUTION_RESULT: SELECT status, output, error, cause */
enum
{
	Anum_execution_result_status = 1,
	Anum_execution_result_output,
	Anum_execution_result_error,
	Anum_execution_result_cause,
	Natts_execution_result = Anum_execution_result_cause
};

/* OFQ_PRIV_MACHINE: SELECT owner, deleted, grantees */
enum
{
	Anum_priv_machine_owner = 1,
	Anum_priv_machine_deleted,
	Anum_priv_machine_grantees,
	Natts_priv_machine = Anum_priv_machine_grantees
};

/* OFQ_PRIV_EXECUTION_MACHINE: SELECT state_machine */
enum { Anum_priv_execution_machine_state_machine = 1, Natts_priv_execution_machine = 1 };

/* OFQ_EXECUTION_ROOT: SELECT root_id */
enum { Anum_execution_root_root_id = 1, Natts_execution_root = 1 };

/* OFQ_CHILD_RESULT_PAGE: SELECT branch_index, id, name, status, input, output, error, cause, start, stop (storage.c) */
enum
{
	Anum_child_result_page_branch_index = 1, Anum_child_result_page_id,
	Anum_child_result_page_name, Anum_child_result_page_status,
	Anum_child_result_page_input, Anum_child_result_page_output,
	Anum_child_result_page_error, Anum_child_result_page_cause,
	Anum_child_result_page_start_date, Anum_child_result_page_stop_date,
	Natts_child_result_page = Anum_child_result_page_stop_date
};

/* OFQ_REDRIVE_LIVE_DESCENDANTS: SELECT count (storage.c) */
enum { Anum_redrive_live_count = 1, Natts_redrive_live = Anum_redrive_live_count };
/* OFQ_RELEASE_QUEUED: SELECT max(branch_index) of the started ones (storage.c) */
enum { Anum_release_queued_last = 1, Natts_release_queued = Anum_release_queued_last };
/* OFQ_CHILDREN_EXIST: SELECT true (storage.c) */
enum { Anum_children_exist_found = 1, Natts_children_exist = Anum_children_exist_found };
/* OFQ_REDRIVE_CHILDREN: SELECT total, rerun, first_queued, redrive_count (storage.c) */
enum
{
	Anum_redrive_children_total = 1, Anum_redrive_children_rerun,
	Anum_redrive_children_first_queued, Anum_redrive_children_redrive_count,
	Natts_redrive_children = Anum_redrive_children_redrive_count
};

/* Execute a prepared statement; SPI must be connected */
extern int	OfExecQuery(OfQuery q, Datum *values, const char *nulls, bool read_only, long count);

/*
 * History events are buffered per transaction and written with one INSERT
 * (OfFlushEvents) just before the work is committed.
 */
extern void OfBufferEvent(pg_uuid_t *execution_id, int event_id, int previous_event_id,
						  const char *type, const char *state_name,
						  TimestampTz ts, Jsonb *details, Oid owner);
extern void OfFlushEvents(void);
/*
 * Write only the events buffered after mark (OfEventMark() taken before
 * buffering them) and forget them: what an API function called from inside
 * a task uses, so that it never writes the engine's own buffered events in
 * the task's subtransaction.
 */
extern void OfFlushEventsFrom(int mark);
/* How many events are buffered; OfTruncateEvents(mark) forgets later ones */
extern int	OfEventMark(void);
extern void OfTruncateEvents(int mark);

#endif
