/*-------------------------------------------------------------------------
 *
 * storage.c
 *	  Access to orderflow's tables: every statement in one table, each
 *	  prepared once per backend and kept, and the history event buffer.
 *
 * Keeping all SQL here makes it easy to see what orderflow does to the
 * database (and which index each statement relies on).  Plans are saved
 * with SPI_keepplan; the plan cache re-plans them by itself if the
 * extension's tables are dropped and created again.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "storage.h"

#include "catalog/pg_type.h"
#include "utils/array.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/uuid.h"

#define MAX_QUERY_ARGS 20

typedef struct OfQueryDef
{
	const char *sql;
	int			nargs;
	Oid			argtypes[MAX_QUERY_ARGS];
	int			natts;			/* result columns (storage.h), 0: returns no rows */
} OfQueryDef;

/*
 * The columns every claim returns, named by Anum_claimed_* (storage.h),
 * through which load_run (executor.c) reads them: one list, so that no
 * claim can leave one out (the tree claim of start_sync_execution once
 * lacked `variables`, and its runs lost their workflow variables).
 */
#define OF_CLAIMED_COLUMNS \
	"SELECT id, definition_id, state_machine, version, name, owner::oid, input," \
	" started_at, current_state, state_input, state_entered_at, retry_count," \
	" retrier_attempts, phase, next_event_id, timeout_at," \
	" parent_id, root_id, parent_state, branch_index, parent_tag, children_tag," \
	" variables" \
	" FROM orderflow.executions"

/* Indexed by OfQuery; the comment says which index a hot statement uses */
static const OfQueryDef query_defs[OFQ_COUNT] = {
	/* OFQ_CLAIM_DUE: partial index executions_due (due_at) */
	[OFQ_CLAIM_DUE] = {
		OF_CLAIMED_COLUMNS
		" WHERE due_at <= $1 AND NOT (deferred AND owner::oid = ANY ($3))"
		" ORDER BY due_at LIMIT $2"
		" FOR UPDATE SKIP LOCKED",
		3, {TIMESTAMPTZOID, INT4OID, OIDARRAYOID},
		Natts_claimed
	},
	/*
	 * OFQ_NEXT_DUE: first entry of executions_due.  Both skip the tasks
	 * deferred for their role's share of the pool while that role is still
	 * at its share ($1 of this one, $3 of the claim)
	 */
	[OFQ_NEXT_DUE] = {
		"SELECT due_at FROM orderflow.executions"
		" WHERE due_at IS NOT NULL AND NOT (deferred AND owner::oid = ANY ($1))"
		" ORDER BY due_at LIMIT 1",
		1, {OIDARRAYOID},
		Natts_next_due
	},
	/* OFQ_UPDATE_EXECUTION: primary key; HOT when due_at stays NULL */
	[OFQ_UPDATE_EXECUTION] = {
		"UPDATE orderflow.executions SET status = $2, output = $3, error = $4,"
		" cause = $5, stopped_at = $6, current_state = $7, state_input = $8,"
		" state_entered_at = $9, retry_count = $10, retrier_attempts = $11,"
		" phase = $12, due_at = $13, next_event_id = $14, steps = steps + $15,"
		" children_tag = $16, variables = $17, deferred = $18"
		" WHERE id = $1",
		18, {UUIDOID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
			JSONBOID, TIMESTAMPTZOID, INT4OID, INT4ARRAYOID, TEXTOID,
		TIMESTAMPTZOID, INT4OID, INT4OID, INT4OID, JSONBOID, BOOLOID}
	},
	[OFQ_INSERT_EVENTS] = {
		"INSERT INTO orderflow.execution_history"
		" (execution_id, event_id, previous_event_id, type, state_name, ts, details, owner)"
		" SELECT * FROM ROWS FROM (pg_catalog.unnest($1::uuid[]), pg_catalog.unnest($2::int4[]),"
		" pg_catalog.unnest($3::int4[]), pg_catalog.unnest($4::text[]), pg_catalog.unnest($5::text[]),"
		" pg_catalog.unnest($6::timestamptz[]), pg_catalog.unnest($7::jsonb[]),"
		" pg_catalog.unnest($8::oid[]::regrole[]))",
		8, {UUIDARRAYOID, INT4ARRAYOID, INT4ARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		TIMESTAMPTZARRAYOID, JSONBARRAYOID, OIDARRAYOID}
	},
	[OFQ_LOAD_DEFINITION] = {
		"SELECT state_machine, version, definition::text, resources::text"
		" FROM orderflow.state_machine_versions WHERE definition_id = $1",
		1, {UUIDOID},
		Natts_load_definition
	},
	[OFQ_LATEST_DEFINITION] = {
		"SELECT v.definition_id, v.version FROM orderflow.state_machines s"
		" JOIN orderflow.state_machine_versions v"
		" ON v.state_machine = s.name AND v.version = s.latest_version"
		" WHERE s.name = $1 AND s.deleted_at IS NULL",
		1, {TEXTOID},
		Natts_latest_definition
	},
	[OFQ_INSERT_EXECUTION] = {
		"INSERT INTO orderflow.executions (id, state_machine, version, definition_id,"
		" name, owner, input, started_at, current_state, state_input, state_entered_at,"
		" due_at, timeout_at, next_event_id)"
		" VALUES ($1, $2, $3, $4, $5, $6::regrole, $7, $8, $9, $7, $8, $8, $10, 2)"
		" ON CONFLICT (state_machine, name) DO NOTHING",
		10, {UUIDOID, TEXTOID, INT4OID, UUIDOID, TEXTOID, OIDOID, JSONBOID,
		TIMESTAMPTZOID, TEXTOID, TIMESTAMPTZOID}
	},
	[OFQ_FIND_EXECUTION_BY_NAME] = {
		"SELECT id, input, owner::oid FROM orderflow.executions WHERE state_machine = $1 AND name = $2",
		2, {TEXTOID, TEXTOID},
		Natts_find_execution
	},
	[OFQ_INSERT_STATE_MACHINE] = {
		"INSERT INTO orderflow.state_machines (name, latest_version, owner)"
		" VALUES ($1, 1, $2::regrole) ON CONFLICT (name) DO NOTHING",
		2, {TEXTOID, OIDOID}
	},
	[OFQ_INSERT_VERSION] = {
		"INSERT INTO orderflow.state_machine_versions"
		" (definition_id, state_machine, version, definition, resources, created_by)"
		" VALUES (pg_catalog.gen_random_uuid(), $1, $2, $3, $4, $5::regrole)",
		5, {TEXTOID, INT4OID, JSONBOID, JSONBOID, OIDOID}
	},
	[OFQ_LOCK_STATE_MACHINE] = {
		"SELECT latest_version, owner::oid FROM orderflow.state_machines"
		" WHERE name = $1 AND deleted_at IS NULL FOR UPDATE",
		1, {TEXTOID},
		Natts_lock_state_machine
	},
	[OFQ_BUMP_VERSION] = {
		"UPDATE orderflow.state_machines SET latest_version = $2, updated_at = pg_catalog.now()"
		" WHERE name = $1",
		2, {TEXTOID, INT4OID}
	},
	/* OFQ_COUNT_RUNNING: partial index executions_running */
	[OFQ_COUNT_RUNNING] = {
		"SELECT pg_catalog.count(*) FROM orderflow.executions"
		" WHERE state_machine = $1 AND status = 'RUNNING'",
		1, {TEXTOID},
		Natts_count
	},
	[OFQ_ABORT_RUNNING] = {
		"SELECT id FROM orderflow.executions"
		" WHERE state_machine = $1 AND status = 'RUNNING' FOR UPDATE",
		1, {TEXTOID},
		Natts_abort_running
	},
	/* a tombstone: the name stays with its owner; versions and grants go */
	[OFQ_DELETE_STATE_MACHINE] = {
		"WITH v AS (DELETE FROM orderflow.state_machine_versions WHERE state_machine = $1),"
		" p AS (DELETE FROM orderflow.state_machine_privileges WHERE state_machine = $1)"
		" UPDATE orderflow.state_machines SET deleted_at = pg_catalog.now(),"
		" updated_at = pg_catalog.now() WHERE name = $1",
		1, {TEXTOID}
	},
	[OFQ_FIND_RESOURCE] = {
		"SELECT fn::text, owner::oid FROM orderflow.resources WHERE resource = $1",
		1, {TEXTOID},
		Natts_find_resource
	},
	[OFQ_UPSERT_RESOURCE] = {
		"INSERT INTO orderflow.resources (resource, fn, owner)"
		" VALUES ($1, $2, $3::regrole)"
		" ON CONFLICT (resource, owner) DO UPDATE SET fn = EXCLUDED.fn,"
		" created_at = pg_catalog.now()",
		3, {TEXTOID, TEXTOID, OIDOID}
	},
	[OFQ_EXECUTION_STATUS] = {
		"SELECT status, owner::oid FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_execution_status
	},
	[OFQ_LOCK_EXECUTION] = {
		"SELECT status, owner::oid, next_event_id, current_state"
		" FROM orderflow.executions WHERE id = $1 FOR UPDATE",
		1, {UUIDOID},
		Natts_lock_execution
	},
	[OFQ_STOP_EXECUTION] = {
		"UPDATE orderflow.executions SET status = 'ABORTED', error = $2, cause = $3,"
		" stopped_at = $4, due_at = NULL, next_event_id = $5 WHERE id = $1",
		5, {UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, INT4OID}
	},
	/* runs as the caller: row level security decides what is visible */
	[OFQ_WAIT_STATUS] = {
		"SELECT status, xmin FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_wait_status
	},
	[OFQ_INSERT_CHILD] = {
		"INSERT INTO orderflow.executions (id, state_machine, version, definition_id,"
		" name, owner, input, started_at, current_state, state_input, state_entered_at,"
		" due_at, timeout_at, next_event_id, parent_id, root_id, parent_state,"
		" branch_index, parent_tag, phase, variables)"
		" SELECT $1, state_machine, version, definition_id, $1::text, owner, $2, $3, $4, $2, $3,"
		" CASE WHEN $8 THEN NULL ELSE $3 END, timeout_at, 1, id, COALESCE(root_id, id), $5, $6, $7,"
		" CASE WHEN $8 THEN 'queued' END, $10"
		" FROM orderflow.executions WHERE id = $9",
		10, {UUIDOID, JSONBOID, TIMESTAMPTZOID, TEXTOID, TEXTOID, INT4OID, INT4OID, BOOLOID, UUIDOID,
		JSONBOID}
	},
	[OFQ_PARENT_WAITING] = {
		"SELECT status = 'RUNNING' AND phase = 'children' AND children_tag = $2"
		" FROM orderflow.executions WHERE id = $1",
		2, {UUIDOID, INT4OID},
		Natts_parent_waiting
	},
	/* OFQ_CHILD_COUNTS and the next three: primary key of join_counters */
	[OFQ_CHILD_COUNTS] = {
		"SELECT pending, failed, total, tolerated_count, tolerated_percentage"
		" FROM orderflow.join_counters WHERE parent_id = $1 AND parent_tag = $2",
		2, {UUIDOID, INT4OID},
		Natts_child_counts
	},
	[OFQ_INSERT_COUNTERS] = {
		"INSERT INTO orderflow.join_counters (parent_id, parent_tag, total, pending, next_queued,"
		" tolerated_count, tolerated_percentage) VALUES ($1, $2, $3, $3, $4, $5, $6)",
		6, {UUIDOID, INT4OID, INT4OID, INT4OID, INT4OID, FLOAT8OID}
	},
	[OFQ_LOCK_COUNTERS] = {
		"SELECT pending, failed, total, next_queued, tolerated_count, tolerated_percentage"
		" FROM orderflow.join_counters WHERE parent_id = $1 AND parent_tag = $2 FOR UPDATE",
		2, {UUIDOID, INT4OID},
		Natts_lock_counters
	},
	[OFQ_UPDATE_COUNTERS] = {
		"UPDATE orderflow.join_counters SET pending = $3, failed = $4, next_queued = $5"
		" WHERE parent_id = $1 AND parent_tag = $2",
		5, {UUIDOID, INT4OID, INT4OID, INT4OID, INT4OID}
	},
	[OFQ_DELETE_PARENT_COUNTERS] = {
		"DELETE FROM orderflow.join_counters WHERE parent_id = $1",
		1, {UUIDOID}
	},
	[OFQ_DELETE_COUNTERS] = {
		"DELETE FROM orderflow.join_counters WHERE parent_id = $1 AND parent_tag = $2",
		2, {UUIDOID, INT4OID}
	},
	/*
	 * Start the next $4 queued children from branch_index $3 on, in item
	 * order (index executions_children), and return the last index started.
	 * Queued children are a contiguous tail in a first run; after a redrive
	 * they are the items that did not succeed, with succeeded ones between
	 * them, so the statement counts children, not indexes.  A redriven one
	 * ('queued_redrive') resumes its own children when it starts ('redrive').
	 */
	[OFQ_RELEASE_QUEUED] = {
		"WITH r AS (SELECT id FROM orderflow.executions"
		" WHERE parent_id = $1 AND parent_tag = $2 AND branch_index >= $3"
		" AND phase IN ('queued', 'queued_redrive') AND status = 'RUNNING'"
		" ORDER BY branch_index LIMIT $4),"
		" u AS (UPDATE orderflow.executions x SET due_at = $5,"
		" phase = CASE WHEN x.phase = 'queued_redrive' THEN 'redrive' END"
		" WHERE x.id = ANY (ARRAY(SELECT id FROM r))"
		" AND x.phase IN ('queued', 'queued_redrive') AND x.status = 'RUNNING'"
		" RETURNING x.branch_index)"
		" SELECT pg_catalog.max(branch_index) FROM u",
		5, {UUIDOID, INT4OID, INT4OID, INT4OID, TIMESTAMPTZOID},
		Natts_release_queued
	},
	/*
	 * The children's results in order, only as far as their stored sizes
	 * add up to $3 bytes, plus the row that goes over it (running > $3
	 * tells): 100,000 iterations of 256 kB each must never be read into
	 * memory at once just to find out that their array is too large.
	 */
	[OFQ_CHILD_RESULTS] = {
		"SELECT status, output, error, cause, running FROM"
		" (SELECT status, output, error, cause, branch_index, size,"
		"         pg_catalog.sum(size) OVER (ORDER BY branch_index) AS running"
		"    FROM (SELECT status, output, error, cause, branch_index,"
		"                 COALESCE(pg_catalog.pg_column_size(output), 0)"
		"                 + COALESCE(pg_catalog.pg_column_size(error), 0)"
		"                 + COALESCE(pg_catalog.pg_column_size(cause), 0) AS size"
		"            FROM orderflow.executions"
		"           WHERE parent_id = $1 AND parent_tag = $2) AS c) AS r"
		" WHERE running - size <= $3 ORDER BY branch_index",
		3, {UUIDOID, INT4OID, INT8OID},
		Natts_child_results
	},
	[OFQ_FIRST_CHILD_FAILURE] = {
		"SELECT error, cause FROM orderflow.executions"
		" WHERE parent_id = $1 AND parent_tag = $2 AND status <> 'RUNNING' AND status <> 'SUCCEEDED'"
		" ORDER BY stopped_at, branch_index LIMIT 1",
		2, {UUIDOID, INT4OID},
		Natts_first_child_failure
	},
	[OFQ_WAKE] = {
		"UPDATE orderflow.executions SET due_at = $2 WHERE id = $1 AND status = 'RUNNING'",
		2, {UUIDOID, TIMESTAMPTZOID}
	},
	/*
	 * Cancel the descendants of an execution (of one Parallel/Map entry, or
	 * all when $2 is NULL).  Rows locked by a worker right now are skipped:
	 * that worker notices the parent moved on when it claims them next
	 * (OFQ_PARENT_WAITING), so nobody ever waits on a child's lock while
	 * holding its parent's, and the two cannot deadlock.  Their
	 * ExecutionAborted events are written by the same statement (a Map may
	 * have orderflow.max_map_items iterations): set-based, nothing per row
	 * in C.  The ids pass between the steps as arrays (x.id = ANY
	 * (ARRAY(...)), a primary key index scan): joined to the CTE instead,
	 * a plan made while the table's statistics were stale rescanned the
	 * CTE per row (100,000 iterations: over ten minutes).  Stale statistics
	 * can still make the array a filter (100,000: 20 s instead of 2 s);
	 * analyzed, it is 2 s.  Returns how many were aborted.
	 */
	[OFQ_CANCEL_DESCENDANTS] = {
		"WITH RECURSIVE d(id) AS ("
		" SELECT id FROM orderflow.executions WHERE parent_id = $1"
		" AND ($2::int4 IS NULL OR parent_tag = $2)"
		" UNION ALL SELECT e.id FROM orderflow.executions e JOIN d ON e.parent_id = d.id),"
		" c AS (SELECT x.id FROM orderflow.executions x"
		" WHERE x.id = ANY (ARRAY(SELECT id FROM d))"
		" AND x.status = 'RUNNING' FOR UPDATE SKIP LOCKED),"
		" u AS (UPDATE orderflow.executions x SET status = 'ABORTED', due_at = NULL, stopped_at = $3,"
		" error = $4, cause = $5, next_event_id = x.next_event_id + 1"
		" WHERE x.id = ANY (ARRAY(SELECT id FROM c))"
		" RETURNING x.id, x.next_event_id - 1 AS event_id, x.owner),"
		" h AS (INSERT INTO orderflow.execution_history"
		" (execution_id, event_id, previous_event_id, type, ts, details, owner)"
		" SELECT u.id, u.event_id, u.event_id - 1, 'ExecutionAborted', $3,"
		" pg_catalog.jsonb_build_object('error', $4, 'cause', $5), u.owner FROM u)"
		" SELECT pg_catalog.count(*) FROM u",
		5, {UUIDOID, INT4OID, TIMESTAMPTZOID, TEXTOID, TEXTOID},
		Natts_count
	},
	[OFQ_ROOT_INFO] = {
		"SELECT name, input, started_at FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_root_info
	},

	/* ---- callbacks and activities: primary key of task_tokens ---- */
	[OFQ_TOKEN_INSERT] = {
		"INSERT INTO orderflow.task_tokens (execution_id, task_id, token_hash, status,"
		" state_name, owner, activity, input, heartbeat_seconds, timeout_at, created_at,"
		" started_at, last_heartbeat)"
		" VALUES ($1, $2, $3, $4, $5, $6::regrole, $7, $8, $9, $10, $11, $12, $12)",
		12, {UUIDOID, INT4OID, BYTEAOID, TEXTOID, TEXTOID, OIDOID, TEXTOID, JSONBOID,
		INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TIMESTAMPTZOID}
	},
	[OFQ_TOKEN_CANCEL_OPEN] = {
		"UPDATE orderflow.task_tokens SET status = 'canceled', completed_at = $2"
		" WHERE execution_id = $1 AND status IN ('scheduled', 'started', 'succeeded', 'failed')",
		2, {UUIDOID, TIMESTAMPTZOID}
	},
	/* the executor, holding the execution's row lock, locks its open task */
	[OFQ_TOKEN_OPEN] = {
		"SELECT task_id, status, output, error, cause, activity, created_at, started_at,"
		" last_heartbeat, heartbeat_seconds, timeout_at, worker_name"
		" FROM orderflow.task_tokens"
		" WHERE execution_id = $1 AND status IN ('scheduled', 'started', 'succeeded', 'failed')"
		" ORDER BY task_id DESC LIMIT 1 FOR UPDATE",
		1, {UUIDOID},
		Natts_token_open
	},
	[OFQ_TOKEN_SET_STATUS] = {
		"UPDATE orderflow.task_tokens SET status = $3,"
		" completed_at = COALESCE(completed_at, $4)"
		" WHERE execution_id = $1 AND task_id = $2",
		4, {UUIDOID, INT4OID, TEXTOID, TIMESTAMPTZOID}
	},
	/* send_task_*: after locking the execution row (always in that order) */
	[OFQ_TOKEN_FIND] = {
		"SELECT t.task_id, t.status, t.activity,"
		" (SELECT a.owner::oid FROM orderflow.activities a WHERE a.name = t.activity)"
		" FROM orderflow.task_tokens t"
		" WHERE t.execution_id = $1 AND t.token_hash = $2 FOR UPDATE OF t",
		2, {UUIDOID, BYTEAOID},
		Natts_token_find
	},
	[OFQ_TOKEN_COMPLETE] = {
		"UPDATE orderflow.task_tokens SET status = $3, output = $4, error = $5, cause = $6,"
		" completed_at = $7 WHERE execution_id = $1 AND task_id = $2",
		7, {UUIDOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, TEXTOID, TIMESTAMPTZOID}
	},
	[OFQ_TOKEN_HEARTBEAT] = {
		"UPDATE orderflow.task_tokens SET last_heartbeat = $3"
		" WHERE execution_id = $1 AND task_id = $2",
		3, {UUIDOID, INT4OID, TIMESTAMPTZOID}
	},
	/* stop_execution: the open tasks of an execution and its descendants */
	[OFQ_TOKEN_CANCEL_TREE] = {
		"UPDATE orderflow.task_tokens SET status = 'canceled', completed_at = $2"
		" WHERE execution_id IN (SELECT id FROM orderflow.executions WHERE id = $1"
		" UNION ALL SELECT id FROM orderflow.executions WHERE root_id = $1)"
		" AND status IN ('scheduled', 'started', 'succeeded', 'failed')",
		2, {UUIDOID, TIMESTAMPTZOID}
	},
	[OFQ_ACTIVITY_INSERT] = {
		"INSERT INTO orderflow.activities (name, owner) VALUES ($1, $2::regrole)"
		" ON CONFLICT (name) DO NOTHING",
		2, {TEXTOID, OIDOID}
	},
	[OFQ_ACTIVITY_FIND] = {
		"SELECT owner::oid, deleted_at IS NOT NULL FROM orderflow.activities WHERE name = $1",
		1, {TEXTOID},
		Natts_owner_deleted
	},
	/* a tombstone: only the owner can create the name again */
	[OFQ_ACTIVITY_DELETE] = {
		"UPDATE orderflow.activities SET deleted_at = pg_catalog.now() WHERE name = $1",
		1, {TEXTOID}
	},
	/*
	 * get_activity_task: the oldest task nobody took yet, index
	 * task_tokens_queue; SKIP LOCKED hands each task to one caller only.
	 */
	[OFQ_ACTIVITY_CLAIM] = {
		"UPDATE orderflow.task_tokens t SET status = 'started', token_hash = $2,"
		" worker_name = $3, started_at = $4, last_heartbeat = $4"
		" FROM (SELECT q.execution_id, q.task_id FROM orderflow.task_tokens q"
		" WHERE q.activity = $1 AND q.status = 'scheduled'"
		" AND EXISTS (SELECT 1 FROM orderflow.executions e"
		" WHERE e.id = q.execution_id AND e.status = 'RUNNING')"
		" ORDER BY q.created_at LIMIT 1 FOR UPDATE OF q SKIP LOCKED) c"
		" WHERE t.execution_id = c.execution_id AND t.task_id = c.task_id"
		" AND t.status = 'scheduled'"
		" RETURNING t.execution_id, t.input, t.heartbeat_seconds",
		4, {TEXTOID, BYTEAOID, TEXTOID, TIMESTAMPTZOID},
		Natts_activity_claim
	},
	/*
	 * The heartbeat clock of a taken activity task starts now: make the
	 * execution due by then.  SKIP LOCKED: a worker holding the row reads
	 * the task after this commits and computes the deadline itself.
	 */
	[OFQ_ACTIVITY_CLAIMED_WAKE] = {
		"UPDATE orderflow.executions SET due_at = LEAST(COALESCE(due_at, $2), $2)"
		" WHERE id = (SELECT id FROM orderflow.executions WHERE id = $1"
		" AND status = 'RUNNING' FOR UPDATE SKIP LOCKED)",
		2, {UUIDOID, TIMESTAMPTZOID}
	},
	/* ---- redrive, synchronous runs, retention ---- */
	[OFQ_REDRIVE_LOCK] = {
		"SELECT status, owner::oid, next_event_id, current_state, parent_id IS NOT NULL,"
		" started_at, timeout_at, redrive_count,"
		" EXISTS (SELECT 1 FROM orderflow.state_machine_versions v"
		" WHERE v.definition_id = executions.definition_id)"
		" FROM orderflow.executions WHERE id = $1 FOR UPDATE",
		1, {UUIDOID},
		Natts_redrive_lock
	},
	[OFQ_REDRIVE] = {
		"UPDATE orderflow.executions SET status = 'RUNNING', output = NULL, error = NULL,"
		" cause = NULL, stopped_at = NULL, phase = 'redrive', retry_count = 0,"
		" retrier_attempts = NULL, due_at = $2, timeout_at = $3, next_event_id = $4,"
		" redrive_count = redrive_count + 1, redriven_at = $2"
		" WHERE id = $1",
		4, {UUIDOID, TIMESTAMPTZOID, TIMESTAMPTZOID, INT4OID}
	},
	/* start_sync_execution: due rows of one execution tree, index executions_root */
	[OFQ_CLAIM_TREE] = {
		OF_CLAIMED_COLUMNS
		" WHERE (id = $1 OR root_id = $1) AND due_at <= $2"
		" ORDER BY due_at LIMIT $3 FOR UPDATE",
		3, {UUIDOID, TIMESTAMPTZOID, INT4OID},
		Natts_claimed
	},
	[OFQ_TREE_NEXT_DUE] = {
		"SELECT pg_catalog.min(due_at) FROM orderflow.executions"
		" WHERE (id = $1 OR root_id = $1) AND due_at IS NOT NULL",
		1, {UUIDOID},
		Natts_next_due
	},
	[OFQ_EXECUTION_RESULT] = {
		"SELECT status, output, error, cause FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_execution_result
	},
	/*
	 * Retention: up to $2 finished top-level executions that stopped before
	 * $1, with their descendants (root_id), history and tasks.  SKIP LOCKED
	 * leaves rows someone works on for the next round.
	 */
	[OFQ_PURGE] = {
		"WITH doomed AS (SELECT id FROM orderflow.executions"
		" WHERE parent_id IS NULL AND stopped_at < $1 AND status <> 'RUNNING'"
		" ORDER BY stopped_at LIMIT $2 FOR UPDATE SKIP LOCKED),"
		" tree AS (SELECT id FROM doomed UNION ALL"
		" SELECT e.id FROM orderflow.executions e WHERE e.root_id IN (SELECT id FROM doomed)),"
		" h AS (DELETE FROM orderflow.execution_history WHERE execution_id IN (SELECT id FROM tree)),"
		" t AS (DELETE FROM orderflow.task_tokens WHERE execution_id IN (SELECT id FROM tree)),"
		" j AS (DELETE FROM orderflow.join_counters WHERE parent_id IN (SELECT id FROM tree)),"
		" x AS (DELETE FROM orderflow.executions WHERE id IN (SELECT id FROM tree) RETURNING parent_id)"
		" SELECT pg_catalog.count(*) FILTER (WHERE parent_id IS NULL) FROM x",
		2, {TIMESTAMPTZOID, INT4OID},
		Natts_count
	},

	/* ---- state machine privileges, tombstones, per-owner resources ---- */
	/* the owner, whether deleted, and the grantees of one privilege */
	[OFQ_PRIV_MACHINE] = {
		"SELECT s.owner::oid, s.deleted_at IS NOT NULL,"
		" ARRAY(SELECT p.grantee::oid FROM orderflow.state_machine_privileges p"
		" WHERE p.state_machine = s.name AND p.privilege = $2)"
		" FROM orderflow.state_machines s WHERE s.name = $1",
		2, {TEXTOID, TEXTOID},
		Natts_priv_machine
	},
	[OFQ_PRIV_EXECUTION_MACHINE] = {
		"SELECT state_machine FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_priv_execution_machine
	},
	[OFQ_PRIV_GRANT] = {
		"INSERT INTO orderflow.state_machine_privileges (state_machine, grantee, privilege, grantor)"
		" VALUES ($1, $2::regrole, $3, $4::regrole) ON CONFLICT DO NOTHING",
		4, {TEXTOID, OIDOID, TEXTOID, OIDOID}
	},
	[OFQ_PRIV_REVOKE] = {
		"DELETE FROM orderflow.state_machine_privileges"
		" WHERE state_machine = $1 AND grantee::oid = $2 AND privilege = $3",
		3, {TEXTOID, OIDOID, TEXTOID}
	},
	/* create_state_machine on a taken name: live or a tombstone? */
	[OFQ_LOCK_ANY_STATE_MACHINE] = {
		"SELECT owner::oid, deleted_at IS NOT NULL FROM orderflow.state_machines"
		" WHERE name = $1 FOR UPDATE",
		1, {TEXTOID},
		Natts_owner_deleted
	},
	[OFQ_REVIVE_STATE_MACHINE] = {
		"UPDATE orderflow.state_machines SET owner = $2::regrole, latest_version = 1,"
		" deleted_at = NULL, created_at = pg_catalog.now(), updated_at = pg_catalog.now()"
		" WHERE name = $1",
		2, {TEXTOID, OIDOID}
	},
	[OFQ_RESOURCE_DELETE] = {
		"DELETE FROM orderflow.resources WHERE resource = $1 AND owner = $2::regrole",
		2, {TEXTOID, OIDOID}
	},
	[OFQ_ACTIVITY_REVIVE] = {
		"UPDATE orderflow.activities SET deleted_at = NULL, owner = $2::regrole,"
		" created_at = pg_catalog.now() WHERE name = $1",
		2, {TEXTOID, OIDOID}
	},
	/* ---- engine security (issue 10) ---- */
	/*
	 * run_pending() called by a role that is not a superuser: OFQ_CLAIM_DUE
	 * restricted to executions whose owner the caller ($3) has the
	 * privileges of (pg_has_role USAGE is has_privs_of_role), so nobody runs
	 * another role's work in a session, transaction and settings of its own.
	 */
	[OFQ_CLAIM_DUE_FOR_ROLE] = {
		OF_CLAIMED_COLUMNS
		" WHERE due_at <= $1 AND pg_catalog.pg_has_role($3, owner::oid, 'USAGE')"
		" ORDER BY due_at LIMIT $2"
		" FOR UPDATE SKIP LOCKED",
		3, {TIMESTAMPTZOID, INT4OID, OIDOID},
		Natts_claimed
	},
	/* the top-level execution of an execution's tree (itself when top-level) */
	[OFQ_EXECUTION_ROOT] = {
		"SELECT COALESCE(root_id, id) FROM orderflow.executions WHERE id = $1",
		1, {UUIDOID},
		Natts_execution_root
	},
	/*
	 * Map ResultWriter (result_writer.c): the next page of a Map's
	 * iterations after branch_index $3, through executions_children, so a
	 * 100,000-item Map is written a page at a time, never held whole.
	 * Dates as AWS writes them (ISO 8601, UTC).
	 */
	[OFQ_CHILD_RESULT_PAGE] = {
		"SELECT branch_index, id::text, name, status, input::text, output, error, cause,"
		"       pg_catalog.to_char(pg_catalog.timezone('UTC', started_at),"
		"                          'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
		"       pg_catalog.to_char(pg_catalog.timezone('UTC', stopped_at),"
		"                          'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
		"  FROM orderflow.executions"
		" WHERE parent_id = $1 AND parent_tag = $2 AND branch_index > $3"
		" ORDER BY branch_index LIMIT $4",
		4, {UUIDOID, INT4OID, INT4OID, INT4OID},
		Natts_child_result_page
	},
	/* ---- redrive of branches and iterations (issue 12) ---- */
	/* descendants of a top-level execution still ending (index executions_root) */
	[OFQ_REDRIVE_LIVE_DESCENDANTS] = {
		"SELECT pg_catalog.count(*) FROM orderflow.executions"
		" WHERE root_id = $1 AND status = 'RUNNING'",
		1, {UUIDOID},
		Natts_redrive_live
	},
	/* did this entry of a Parallel/Map make its children? (executions_children) */
	[OFQ_CHILDREN_EXIST] = {
		"SELECT true FROM orderflow.executions WHERE parent_id = $1 AND parent_tag = $2 LIMIT 1",
		2, {UUIDOID, INT4OID},
		Natts_children_exist
	},
	/*
	 * A redriven Parallel/Map: the children of entry $2 that did not
	 * succeed run again (their own ExecutionRedriven, phase 'redrive' so
	 * that a nested Parallel/Map resumes its children too), in item order;
	 * beyond MaxConcurrency $3 (0: none) they wait 'queued_redrive'.  The
	 * succeeded ones are left alone: their outputs are the results.
	 * A child that lost its state (it failed inside the engine) starts
	 * again at its branch's StartAt ($6, by branch_index, or $6[1] for a
	 * Map's iterator when $7) with its input and the parent's variables
	 * ($8).  Returns all children, how many run again, the first queued
	 * index and the parent's redrive count.  Set-based, as
	 * OFQ_CANCEL_DESCENDANTS.
	 */
	[OFQ_REDRIVE_CHILDREN] = {
		"WITH r AS (SELECT id, pg_catalog.row_number() OVER (ORDER BY branch_index) AS nth"
		" FROM orderflow.executions WHERE parent_id = $1 AND parent_tag = $2"
		" AND status <> 'SUCCEEDED'),"
		" u AS (UPDATE orderflow.executions x SET status = 'RUNNING', output = NULL,"
		" error = NULL, cause = NULL, stopped_at = NULL, retry_count = 0,"
		" retrier_attempts = NULL, deferred = false, timeout_at = $5,"
		" current_state = COALESCE(x.current_state,"
		"   $6[CASE WHEN $7 THEN 1 ELSE x.branch_index + 1 END]),"
		" state_input = CASE WHEN x.current_state IS NULL THEN x.input ELSE x.state_input END,"
		" state_entered_at = COALESCE(x.state_entered_at, $4),"
		" variables = CASE WHEN x.current_state IS NULL THEN $8 ELSE x.variables END,"
		" phase = CASE WHEN $3 > 0 AND r.nth > $3 THEN 'queued_redrive' ELSE 'redrive' END,"
		" due_at = CASE WHEN $3 > 0 AND r.nth > $3 THEN NULL ELSE $4 END,"
		" next_event_id = x.next_event_id + 1, redrive_count = x.redrive_count + 1,"
		" redriven_at = $4"
		" FROM r WHERE x.id = r.id"
		" RETURNING x.id, x.next_event_id - 1 AS event_id, x.owner, x.redrive_count,"
		" x.branch_index, x.phase),"
		" h AS (INSERT INTO orderflow.execution_history"
		" (execution_id, event_id, previous_event_id, type, ts, details, owner)"
		" SELECT u.id, u.event_id, u.event_id - 1, 'ExecutionRedriven', $4,"
		" pg_catalog.jsonb_build_object('redriveCount', u.redrive_count), u.owner FROM u)"
		" SELECT (SELECT pg_catalog.count(*) FROM orderflow.executions"
		"         WHERE parent_id = $1 AND parent_tag = $2),"
		" (SELECT pg_catalog.count(*) FROM u),"
		" (SELECT pg_catalog.min(branch_index) FROM u WHERE phase = 'queued_redrive'),"
		" (SELECT redrive_count FROM orderflow.executions WHERE id = $1)",
		8, {UUIDOID, INT4OID, INT4OID, TIMESTAMPTZOID, TIMESTAMPTZOID, TEXTARRAYOID, BOOLOID,
		JSONBOID},
		Natts_redrive_children
	},
	/* the join counters of a redriven entry (a timed-out one may have left its own) */
	[OFQ_REDRIVE_COUNTERS] = {
		"INSERT INTO orderflow.join_counters (parent_id, parent_tag, total, pending, failed,"
		" next_queued, tolerated_count, tolerated_percentage)"
		" VALUES ($1, $2, $3, $4, 0, $5, $6, $7)"
		" ON CONFLICT (parent_id, parent_tag) DO UPDATE SET total = EXCLUDED.total,"
		" pending = EXCLUDED.pending, failed = 0, next_queued = EXCLUDED.next_queued,"
		" tolerated_count = EXCLUDED.tolerated_count,"
		" tolerated_percentage = EXCLUDED.tolerated_percentage",
		7, {UUIDOID, INT4OID, INT4OID, INT4OID, INT4OID, INT4OID, FLOAT8OID}
	},
};

/* Plans, prepared on first use and kept for the life of the backend */
static SPIPlanPtr query_plans[OFQ_COUNT];

/* Return the kept plan for q, preparing it the first time */
static SPIPlanPtr
get_plan(OfQuery q)
{
	if (query_plans[q] == NULL)
	{
		const OfQueryDef *def = &query_defs[q];
		SPIPlanPtr	plan = SPI_prepare(def->sql, def->nargs, (Oid *) def->argtypes);

		if (plan == NULL)
			elog(ERROR, "orderflow: could not prepare \"%s\": %s",
				 def->sql, SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		query_plans[q] = plan;
	}
	return query_plans[q];
}

/*
 * Execute a prepared statement and check that SPI liked it.
 *
 * The statements run (often as the extension owner, a superuser) with
 * search_path pinned to pg_catalog, pg_temp: their tables are
 * schema-qualified, but operators such as "=" are not, and a caller who
 * put a schema of its own before pg_catalog in search_path could otherwise
 * have its own "=" (text, text) resolved, and run, inside orderflow's
 * queries with the owner's rights.  The plan cache re-plans a statement
 * when search_path differs from the one it was planned with, so plans
 * prepared or cached under another search_path are not reused as they are.
 */
int
OfExecQuery(OfQuery q, Datum *values, const char *nulls, bool read_only, long count)
{
	int			nest = NewGUCNestLevel();
	int			rc;

	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);

	/*
	 * The due-work queries must probe executions_due whatever the
	 * statistics say.  Planned while the table is still empty (a new
	 * installation, before autovacuum's first ANALYZE), they would become a
	 * sequential scan plus sort, kept by the plan cache and run by every
	 * worker iteration over a table that is filling up.  Cancelling a big
	 * Map's iterations must use its indexes too (see OFQ_CANCEL_DESCENDANTS),
	 * and so must redriving them and starting their queued ones.
	 */
	if (q == OFQ_CLAIM_DUE || q == OFQ_NEXT_DUE || q == OFQ_CLAIM_DUE_FOR_ROLE ||
		q == OFQ_CANCEL_DESCENDANTS || q == OFQ_REDRIVE_CHILDREN || q == OFQ_RELEASE_QUEUED)
		(void) set_config_option("enable_seqscan", "off",
								 PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	rc = SPI_execute_plan(get_plan(q), values, nulls, read_only, count);
	AtEOXact_GUC(true, nest);

	if (rc < 0)
		elog(ERROR, "orderflow: \"%s\" failed: %s",
			 query_defs[q].sql, SPI_result_code_string(rc));
	/* its readers take columns by the names declared in storage.h */
	if (SPI_tuptable != NULL && SPI_tuptable->tupdesc->natts != query_defs[q].natts)
		elog(ERROR, "orderflow: \"%s\" returned %d columns, storage.h declares %d",
			 query_defs[q].sql, SPI_tuptable->tupdesc->natts, query_defs[q].natts);
	return rc;
}

/* ---------------------------------------------------------------------
 * History event buffer
 * --------------------------------------------------------------------- */

typedef struct EventBuffer
{
	int			n;
	int			size;
	Datum	   *execution_id;
	Datum	   *event_id;
	Datum	   *previous_event_id;
	bool	   *previous_null;
	Datum	   *type;
	Datum	   *state_name;
	bool	   *state_name_null;
	Datum	   *ts;
	Datum	   *details;
	bool	   *details_null;
	Datum	   *owner;
} EventBuffer;

/*
 * The buffer lives in TopTransactionContext: a transaction that aborts
 * takes its events with it, which is exactly right since they describe
 * work that did not happen.  `events_xact` tells a stale pointer from one
 * of the current transaction.
 */
static EventBuffer *events = NULL;
static LocalTransactionId events_xact = InvalidLocalTransactionId;

/* Get the current transaction's buffer, creating it on first use */
static EventBuffer *
current_buffer(void)
{
	MemoryContext old;

	if (events != NULL && events_xact == MyProc->lxid)
		return events;
	old = MemoryContextSwitchTo(TopTransactionContext);
	events = palloc0(sizeof(EventBuffer));
	events->size = 64;
	events->execution_id = palloc(sizeof(Datum) * events->size);
	events->event_id = palloc(sizeof(Datum) * events->size);
	events->previous_event_id = palloc(sizeof(Datum) * events->size);
	events->previous_null = palloc(sizeof(bool) * events->size);
	events->type = palloc(sizeof(Datum) * events->size);
	events->state_name = palloc(sizeof(Datum) * events->size);
	events->state_name_null = palloc(sizeof(bool) * events->size);
	events->ts = palloc(sizeof(Datum) * events->size);
	events->details = palloc(sizeof(Datum) * events->size);
	events->details_null = palloc(sizeof(bool) * events->size);
	events->owner = palloc(sizeof(Datum) * events->size);
	MemoryContextSwitchTo(old);
	events_xact = MyProc->lxid;
	return events;
}

/* Double the buffer's arrays */
static void
grow_buffer(EventBuffer *b)
{
	b->size *= 2;
	b->execution_id = repalloc(b->execution_id, sizeof(Datum) * b->size);
	b->event_id = repalloc(b->event_id, sizeof(Datum) * b->size);
	b->previous_event_id = repalloc(b->previous_event_id, sizeof(Datum) * b->size);
	b->previous_null = repalloc(b->previous_null, sizeof(bool) * b->size);
	b->type = repalloc(b->type, sizeof(Datum) * b->size);
	b->state_name = repalloc(b->state_name, sizeof(Datum) * b->size);
	b->state_name_null = repalloc(b->state_name_null, sizeof(bool) * b->size);
	b->ts = repalloc(b->ts, sizeof(Datum) * b->size);
	b->details = repalloc(b->details, sizeof(Datum) * b->size);
	b->details_null = repalloc(b->details_null, sizeof(bool) * b->size);
	b->owner = repalloc(b->owner, sizeof(Datum) * b->size);
}

/* Remember one history event until OfFlushEvents */
void
OfBufferEvent(pg_uuid_t *execution_id, int event_id, int previous_event_id,
			  const char *type, const char *state_name,
			  TimestampTz ts, Jsonb *details, Oid owner)
{
	EventBuffer *b = current_buffer();
	MemoryContext old = MemoryContextSwitchTo(TopTransactionContext);
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));
	int			i;

	if (b->n == b->size)
		grow_buffer(b);
	i = b->n++;
	memcpy(id, execution_id, sizeof(pg_uuid_t));
	b->execution_id[i] = UUIDPGetDatum(id);
	b->event_id[i] = Int32GetDatum(event_id);
	b->previous_event_id[i] = Int32GetDatum(previous_event_id);
	b->previous_null[i] = (previous_event_id <= 0);
	b->type[i] = CStringGetTextDatum(type);
	b->state_name[i] = state_name ? CStringGetTextDatum(state_name) : (Datum) 0;
	b->state_name_null[i] = (state_name == NULL);
	b->ts[i] = TimestampTzGetDatum(ts);
	if (details != NULL)
	{
		Jsonb	   *copy = palloc(VARSIZE(details));

		memcpy(copy, details, VARSIZE(details));
		b->details[i] = JsonbPGetDatum(copy);
	}
	b->details_null[i] = (details == NULL);
	b->owner[i] = ObjectIdGetDatum(owner);
	MemoryContextSwitchTo(old);
}

/* Build a one-dimensional array datum of n elements */
static Datum
make_array(Datum *elems, bool *nulls, int n, Oid elemtype)
{
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			dims[1] = {n};
	int			lbs[1] = {1};

	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	return PointerGetDatum(construct_md_array(elems, nulls, 1, dims, lbs,
											  elemtype, typlen, typbyval, typalign));
}

/* Write every buffered event with a single INSERT */
void
OfFlushEvents(void)
{
	OfFlushEventsFrom(0);
}

/* See storage.h: write the events buffered after mark, with one INSERT */
void
OfFlushEventsFrom(int mark)
{
	EventBuffer *b;
	Datum		values[8];
	int			n;

	if (events == NULL || events_xact != MyProc->lxid || events->n <= mark)
		return;
	b = events;
	n = b->n - Max(mark, 0);
	mark = b->n - n;
	values[0] = make_array(b->execution_id + mark, NULL, n, UUIDOID);
	values[1] = make_array(b->event_id + mark, NULL, n, INT4OID);
	values[2] = make_array(b->previous_event_id + mark, b->previous_null + mark, n, INT4OID);
	values[3] = make_array(b->type + mark, NULL, n, TEXTOID);
	values[4] = make_array(b->state_name + mark, b->state_name_null + mark, n, TEXTOID);
	values[5] = make_array(b->ts + mark, NULL, n, TIMESTAMPTZOID);
	values[6] = make_array(b->details + mark, b->details_null + mark, n, JSONBOID);
	values[7] = make_array(b->owner + mark, NULL, n, OIDOID);
	OfExecQuery(OFQ_INSERT_EVENTS, values, NULL, false, 0);
	b->n = mark;
}

/* Number of events buffered in this transaction so far */
int
OfEventMark(void)
{
	if (events == NULL || events_xact != MyProc->lxid)
		return 0;
	return events->n;
}

/* Forget events buffered after mark (their subtransaction rolled back) */
void
OfTruncateEvents(int mark)
{
	if (events != NULL && events_xact == MyProc->lxid && events->n > mark)
		events->n = mark;
}
