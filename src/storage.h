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
	OFQ_EXTENSION_OWNER,
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
	/* redrive of Parallel branches and Map iterations, issue 12 (control.c, executor.c) */
	OFQ_REDRIVE_LIVE_DESCENDANTS,
	OFQ_CHILDREN_EXIST,
	OFQ_REDRIVE_CHILDREN,
	OFQ_REDRIVE_COUNTERS,
	OFQ_COUNT
} OfQuery;

/* OFQ_REDRIVE_LOCK: SELECT status, owner, next_event_id, current_state, ... (storage.c) */
enum
{
	Anum_redrive_lock_status = 1, Anum_redrive_lock_owner, Anum_redrive_lock_next_event_id,
	Anum_redrive_lock_current_state, Anum_redrive_lock_is_child, Anum_redrive_lock_started_at,
	Anum_redrive_lock_timeout_at, Anum_redrive_lock_redrive_count,
	Natts_redrive_lock = Anum_redrive_lock_redrive_count
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
extern void OfDiscardEvents(void);

#endif
