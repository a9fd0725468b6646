/* ---------------------------------------------------------------------
 * Task tokens
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION orderflow.send_task_success(task_token text, output jsonb)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_success'
LANGUAGE C;

CREATE OR REPLACE FUNCTION orderflow.send_task_failure(task_token text,
    error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_failure'
LANGUAGE C;

CREATE OR REPLACE FUNCTION orderflow.send_task_heartbeat(task_token text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_send_task_heartbeat'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Activities
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION orderflow.create_activity(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_create_activity'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.delete_activity(name text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_delete_activity'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.get_activity_task(activity text, worker_name text DEFAULT NULL,
    wait interval DEFAULT '60 s')
RETURNS TABLE (task_token text, input jsonb)
AS 'MODULE_PATHNAME', 'orderflow_get_activity_task'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Execution control
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION orderflow.redrive_execution(execution uuid)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_redrive_execution'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.start_sync_execution(state_machine text,
    input jsonb DEFAULT '{}')
RETURNS jsonb
AS 'MODULE_PATHNAME', 'orderflow_start_sync_execution'
LANGUAGE C;

CREATE OR REPLACE FUNCTION orderflow.purge_expired(older_than interval DEFAULT NULL,
    max_executions integer DEFAULT 1000)
RETURNS bigint
AS 'MODULE_PATHNAME', 'orderflow_purge_expired'
LANGUAGE C;
REVOKE ALL ON FUNCTION orderflow.purge_expired(interval, integer) FROM PUBLIC;

/* list_executions' argument checks; returns the LIMIT of its query */
CREATE OR REPLACE FUNCTION orderflow.list_executions_check(status text, max_results integer,
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
CREATE OR REPLACE FUNCTION orderflow.list_executions_cursor(status text, max_results integer,
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
CREATE OR REPLACE FUNCTION orderflow.list_executions(state_machine text DEFAULT NULL,
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
CREATE OR REPLACE FUNCTION orderflow.describe_state_machine(text,
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
