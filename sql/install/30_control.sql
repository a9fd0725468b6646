/* ---------------------------------------------------------------------
 * Callbacks, activities and execution control (issue #5)
 *
 * task_tokens holds one row per parked Task: a .waitForTaskToken callback
 * or an activity task.  Its key starts with execution_id (a distributed
 * setup would shard by it); the token handed out encodes the execution id
 * and a secret of which only a SHA-256 hash is stored.
 *
 *   status  scheduled  activity task not yet taken by a worker (no token)
 *           started    token handed out, waiting for send_task_*
 *           succeeded  send_task_success arrived, not yet processed
 *           failed     send_task_failure arrived, not yet processed
 *           consumed   the executor processed the result
 *           timed_out  HeartbeatSeconds/TimeoutSeconds ran out
 *           canceled   the execution was stopped or moved on
 * --------------------------------------------------------------------- */

-- deleted_at: a deleted activity leaves its row (a tombstone), so only a
-- role with its owner's privileges can create the name again (nobody else
-- can take over the tasks definitions still send to it)
CREATE TABLE orderflow.activities (
    name            text        PRIMARY KEY,
    owner           regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    deleted_at      timestamptz
);

CREATE TABLE orderflow.task_tokens (
    execution_id      uuid        NOT NULL,
    task_id           integer     NOT NULL,   -- event id of its TaskScheduled/ActivityScheduled
    token_hash        bytea,                  -- sha256 of the token's secret; NULL until handed out
    status            text        NOT NULL
                      CHECK (status IN ('scheduled', 'started', 'succeeded', 'failed',
                                        'consumed', 'timed_out', 'canceled')),
    state_name        text        NOT NULL,
    owner             regrole     NOT NULL,   -- the execution's owner
    activity          text,                   -- NULL for a callback
    input             jsonb,                  -- the activity task's input
    worker_name       text,
    heartbeat_seconds integer,
    timeout_at        timestamptz,
    created_at        timestamptz NOT NULL,
    started_at        timestamptz,
    last_heartbeat    timestamptz,
    completed_at      timestamptz,
    output            jsonb,
    error             text,
    cause             text,
    PRIMARY KEY (execution_id, task_id)
);

/* the activity queue: only tasks nobody took yet */
CREATE INDEX task_tokens_queue ON orderflow.task_tokens (activity, created_at)
    WHERE status = 'scheduled';

ALTER TABLE orderflow.activities ENABLE ROW LEVEL SECURITY;
CREATE POLICY activities_owner ON orderflow.activities
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));
ALTER TABLE orderflow.task_tokens ENABLE ROW LEVEL SECURITY;
CREATE POLICY task_tokens_owner ON orderflow.task_tokens
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));
REVOKE ALL ON orderflow.activities, orderflow.task_tokens FROM PUBLIC;
GRANT SELECT ON orderflow.activities TO PUBLIC;
GRANT SELECT (execution_id, task_id, status, state_name, owner, activity, worker_name,
              heartbeat_seconds, timeout_at, created_at, started_at, last_heartbeat,
              completed_at, error, cause)
    ON orderflow.task_tokens TO PUBLIC;

/* redrives, retention and listing */
ALTER TABLE orderflow.executions
    ADD COLUMN redrive_count integer NOT NULL DEFAULT 0,
    ADD COLUMN redriven_at timestamptz;

-- all descendants of a top-level execution (purge, synchronous runs)
CREATE INDEX executions_root ON orderflow.executions (root_id)
    WHERE root_id IS NOT NULL;
-- list_executions() pages through top-level executions newest first
CREATE INDEX executions_list ON orderflow.executions (started_at, id)
    WHERE parent_id IS NULL;
-- retention: finished top-level executions by age
CREATE INDEX executions_stopped ON orderflow.executions (stopped_at)
    WHERE parent_id IS NULL AND stopped_at IS NOT NULL;

/* ---------------------------------------------------------------------
 * Task tokens
 * --------------------------------------------------------------------- */

CREATE FUNCTION orderflow.send_task_success(task_token text, output jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_success'
LANGUAGE C;

CREATE FUNCTION orderflow.send_task_failure(task_token text,
    error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_failure'
LANGUAGE C;

CREATE FUNCTION orderflow.send_task_heartbeat(task_token text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_heartbeat'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Activities
 * --------------------------------------------------------------------- */

CREATE FUNCTION orderflow.create_activity(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_create_activity'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.delete_activity(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_delete_activity'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.get_activity_task(activity text, worker_name text DEFAULT NULL,
    wait interval DEFAULT '60 s')
RETURNS TABLE (task_token text, input jsonb)
AS 'MODULE_PATHNAME', 'orderflow_get_activity_task'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Execution control
 * --------------------------------------------------------------------- */

CREATE FUNCTION orderflow.redrive_execution(execution uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_redrive_execution'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.start_sync_execution(state_machine text,
    input jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'orderflow_start_sync_execution'
LANGUAGE C;

CREATE FUNCTION orderflow.purge_expired(older_than interval DEFAULT NULL,
    max_executions integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'orderflow_purge_expired'
LANGUAGE C;
REVOKE ALL ON FUNCTION orderflow.purge_expired(interval, integer) FROM PUBLIC;

/* list_executions' argument checks; returns the LIMIT of its query */
CREATE FUNCTION orderflow.list_executions_check(status text, max_results integer,
    next_token text)
RETURNS bigint
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM orderflow.list_executions_cursor(status, max_results, next_token);
    RETURN max_results OPERATOR(pg_catalog.+) 1;
END
$$;

/* list_executions' argument checks and its page cursor (the last row seen) */
CREATE FUNCTION orderflow.list_executions_cursor(status text, max_results integer,
    next_token text, OUT after_ts timestamptz, OUT after_id uuid)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF max_results IS NULL OR max_results < 1 OR max_results > 1000 THEN
        RAISE EXCEPTION 'max_results must be between 1 and 1000'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF status IS NOT NULL AND status NOT IN
       ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED') THEN
        RAISE EXCEPTION 'unknown execution status "%"', status
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use RUNNING, SUCCEEDED, FAILED, TIMED_OUT or ABORTED.';
    END IF;
    IF next_token IS NULL THEN
        RETURN;
    END IF;
    BEGIN
        after_id := next_token::uuid;
    EXCEPTION WHEN invalid_text_representation THEN
        after_id := NULL;
    END;
    SELECT e.started_at INTO after_ts FROM orderflow.executions AS e
     WHERE e.id OPERATOR(pg_catalog.=) after_id AND e.parent_id IS NULL;
    IF after_ts IS NULL THEN
        RAISE EXCEPTION 'invalid next_token'
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Pass the next_token of the last row of the previous page unchanged.';
    END IF;
END
$$;

/*
 * list_executions: top-level executions, newest first, max_results a page
 * (keyset paging on started_at, id).  The last row of a page carries
 * next_token when more rows follow; pass it back for the next page.  Row
 * level security applies: a role lists what it may see.
 */
CREATE FUNCTION orderflow.list_executions(state_machine text DEFAULT NULL,
    status text DEFAULT NULL, max_results integer DEFAULT 100,
    next_token text DEFAULT NULL)
RETURNS TABLE (execution_id uuid, name text, state_machine text, version integer,
               status text, started_at timestamptz, stopped_at timestamptz,
               redrive_count integer, next_token text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH page AS (
        SELECT e.id, e.name, e.state_machine, e.version, e.status, e.started_at,
               e.stopped_at, e.redrive_count,
               pg_catalog.row_number() OVER (ORDER BY e.started_at DESC, e.id DESC) AS rn
          FROM orderflow.executions AS e
         WHERE e.parent_id IS NULL
           AND ($1 IS NULL OR e.state_machine OPERATOR(pg_catalog.=) $1)
           AND ($2 IS NULL OR e.status OPERATOR(pg_catalog.=) $2)
           AND ($4 IS NULL
                OR (e.started_at, e.id) OPERATOR(pg_catalog.<)
                   ((SELECT c.after_ts FROM orderflow.list_executions_cursor($2, $3, $4) AS c),
                    (SELECT c.after_id FROM orderflow.list_executions_cursor($2, $3, $4) AS c)))
         ORDER BY e.started_at DESC, e.id DESC
         -- evaluated once, first: the argument checks run even when no row matches
         LIMIT orderflow.list_executions_check($2, $3, $4))
    SELECT p.id, p.name, p.state_machine, p.version, p.status, p.started_at,
           p.stopped_at, p.redrive_count,
           CASE WHEN p.rn OPERATOR(pg_catalog.=) $3
                 AND EXISTS (SELECT 1 FROM page AS q WHERE q.rn OPERATOR(pg_catalog.>) $3)
                THEN p.id::text END
      FROM page AS p
     WHERE p.rn OPERATOR(pg_catalog.<=) $3
     ORDER BY p.rn
$$;

-- describe_state_machine(name): the latest version, owner, times and counts
CREATE FUNCTION orderflow.describe_state_machine(text,
    OUT name text, OUT latest_version integer, OUT definition jsonb,
    OUT owner regrole, OUT created_at timestamptz, OUT updated_at timestamptz,
    OUT running bigint, OUT succeeded bigint, OUT failed bigint,
    OUT timed_out bigint, OUT aborted bigint)
RETURNS record
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    wanted text := $1;
BEGIN
    SELECT s.name, s.latest_version, v.definition, s.owner, s.created_at, s.updated_at
      INTO name, latest_version, definition, owner, created_at, updated_at
      FROM orderflow.state_machines AS s
      JOIN orderflow.state_machine_versions AS v
        ON v.state_machine OPERATOR(pg_catalog.=) s.name
       AND v.version OPERATOR(pg_catalog.=) s.latest_version
     WHERE s.name OPERATOR(pg_catalog.=) wanted AND s.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'state machine "%" does not exist', wanted
            USING ERRCODE = 'undefined_object',
                  HINT = 'Create it with orderflow.create_state_machine().';
    END IF;
    SELECT count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'RUNNING'),
           count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'SUCCEEDED'),
           count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'FAILED'),
           count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'TIMED_OUT'),
           count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'ABORTED')
      INTO running, succeeded, failed, timed_out, aborted
      FROM orderflow.executions AS e
     WHERE e.state_machine OPERATOR(pg_catalog.=) wanted AND e.parent_id IS NULL;
END
$$;
