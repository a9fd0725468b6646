/*
 * sql/functions/: the functions, views and the grants on them, of the
 * current version.  Replayed by every script: a fresh CREATE EXTENSION runs
 * the sql/schema files and then these files; ALTER EXTENSION UPDATE runs
 * sql/updates/<from>--<to>.sql and then these files again.  So everything
 * here is CREATE OR REPLACE (or otherwise idempotent) and creates no table.
 * A function whose signature or result type changes, or a view whose
 * columns change, is dropped first by the update script.
 */

/* ---------------------------------------------------------------------
 * State machines
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION orderflow.create_state_machine(name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_create_state_machine'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.update_state_machine(name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_update_state_machine'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.validate_definition(definition jsonb,
    OUT severity text, OUT code text, OUT location text, OUT message text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'orderflow_validate_definition'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.delete_state_machine(name text, force boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_delete_state_machine'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.register_resource(resource text, fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_register_resource'
LANGUAGE C STRICT;

/* binds a ResultWriter's 'arn:aws:s3:::bucket/prefix' to a table (key text, body jsonb) */
CREATE OR REPLACE FUNCTION orderflow.register_resource_table(resource text, target regclass)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_register_resource_table'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.unregister_resource(resource text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_unregister_resource'
LANGUAGE C STRICT;

/* privileges: a comma-separated list of START, READ, STOP, REDRIVE or ALL;
 * grantee: a role name or PUBLIC */
CREATE OR REPLACE FUNCTION orderflow.grant_state_machine(state_machine text, privileges text, grantee text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_grant_state_machine'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.revoke_state_machine(state_machine text, privileges text, grantee text)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_revoke_state_machine'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.has_state_machine_privilege(state_machine text, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'orderflow_has_state_machine_privilege'
LANGUAGE C STABLE STRICT;

CREATE OR REPLACE FUNCTION orderflow.raise_error(error text, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_raise_error'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Executions
 * --------------------------------------------------------------------- */

CREATE OR REPLACE FUNCTION orderflow.start_execution(state_machine text,
    input jsonb DEFAULT '{}', name text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'orderflow_start_execution'
LANGUAGE C;

CREATE OR REPLACE FUNCTION orderflow.wait_for_execution(execution uuid,
    timeout interval DEFAULT '30 s')
RETURNS text
AS 'MODULE_PATHNAME', 'orderflow_wait_for_execution'
LANGUAGE C STRICT;

CREATE OR REPLACE FUNCTION orderflow.stop_execution(execution uuid,
    error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_stop_execution'
LANGUAGE C;

CREATE OR REPLACE FUNCTION orderflow.run_pending(max_steps integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_run_pending'
LANGUAGE C;

/*
 * describe_execution: AWS DescribeExecution, with redriveCount, redriveDate
 * (NULL until the first redrive), redriveStatus and redriveStatusReason
 * (why not, when NOT_REDRIVABLE) as redrive_execution() decides them.
 */
CREATE OR REPLACE FUNCTION orderflow.describe_execution(execution uuid,
    OUT status text, OUT input jsonb, OUT output jsonb, OUT error text,
    OUT cause text, OUT started_at timestamptz, OUT stopped_at timestamptz,
    OUT state_machine text, OUT version integer, OUT name text,
    OUT redrive_count integer, OUT redrive_date timestamptz,
    OUT redrive_status text, OUT redrive_status_reason text)
RETURNS record
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    is_child boolean;
    has_state boolean;
BEGIN
    SELECT e.status, e.input, e.output, e.error, e.cause, e.started_at,
           e.stopped_at, e.state_machine, e.version, e.name,
           e.redrive_count, e.redriven_at, e.parent_id IS NOT NULL,
           e.current_state IS NOT NULL
      INTO status, input, output, error, cause, started_at, stopped_at,
           state_machine, version, name, redrive_count, redrive_date,
           is_child, has_state
      FROM orderflow.executions AS e
     WHERE e.id OPERATOR(pg_catalog.=) execution;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', execution
            USING ERRCODE = 'undefined_object',
                  HINT = 'Look the id up in orderflow.executions; you only see executions your role started or may READ.';
    END IF;
    redrive_status := 'NOT_REDRIVABLE';
    IF status NOT IN ('FAILED', 'TIMED_OUT', 'ABORTED') THEN
        redrive_status_reason := 'Execution is ' OPERATOR(pg_catalog.||) status
                                 OPERATOR(pg_catalog.||) ' and cannot be redriven';
    ELSIF is_child THEN
        redrive_status_reason := 'Execution is a Parallel branch or Map iteration: redrive its top-level execution';
    ELSIF NOT has_state THEN
        redrive_status_reason := 'Execution failed before it entered a state';
    ELSE
        redrive_status := 'REDRIVABLE';
    END IF;
END
$$;
