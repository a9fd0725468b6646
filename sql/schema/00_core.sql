/*
 * orderflow: durable Amazon States Language workflows.
 *
 * sql/schema/: the run-once DDL of the current version (tables, indexes,
 * constraints, row level security), run by a fresh CREATE EXTENSION only.
 * A change here needs the same change in sql/updates/ for existing
 * installations (README, "Upgrading").
 */

\echo Use "CREATE EXTENSION orderflow" to load this file. \quit

/*
 * Tables.  Every object is schema-qualified and every operator in policies
 * is pg_catalog's, so a hostile search_path cannot redirect anything.
 *
 * Users never write these tables directly: the C functions below switch to
 * the extension owner for their own writes (as pg_cron does) and check the
 * caller's rights themselves.  Reads go through row level security keyed on
 * the owning role.
 */

CREATE TABLE orderflow.state_machines (
    name            text        PRIMARY KEY,
    latest_version  integer     NOT NULL,
    owner           regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- a deleted state machine leaves this row (a tombstone): its name stays
    -- with its owner, so no other role can create it again and capture the
    -- executions its callers start.  A superuser frees the name by
    -- deleting the row.
    deleted_at      timestamptz
);

/*
 * Privileges on a state machine granted by its owner
 * (orderflow.grant_state_machine); the owner has them all implicitly.
 * grantee 0 ('-' as text) is PUBLIC.  grantor is the machine's owner,
 * whoever (a member of it, a superuser) made the grant, as PostgreSQL
 * records grants.  Roles are regrole, so a dump names them (a restore into
 * another cluster maps them by name), PUBLIC included.
 */
/*
 * No foreign key to state_machines, here or in state_machine_versions:
 * pg_dump records no order between the data of an extension's tables, so
 * `pg_restore -j` would COPY them concurrently and a key check would fail
 * (README "Backup and restore").  State machines are never deleted (a
 * tombstone stays, deleted_at; delete_state_machine deletes versions and
 * grants itself), so the key's ON DELETE CASCADE never ran, and orderflow's
 * functions insert versions and grants only for a machine they found.
 */
CREATE TABLE orderflow.state_machine_privileges (
    state_machine   text        NOT NULL,
    grantee         regrole     NOT NULL,
    privilege       text        NOT NULL
                    CHECK (privilege IN ('START', 'READ', 'STOP', 'REDRIVE')),
    grantor         regrole     NOT NULL,
    PRIMARY KEY (state_machine, grantee, privilege)
);

CREATE TABLE orderflow.state_machine_versions (
    definition_id   uuid        PRIMARY KEY,
    state_machine   text        NOT NULL,
    version         integer     NOT NULL CHECK (version > 0),
    definition      jsonb       NOT NULL,
    -- Task/ItemReader Resource string -> function signature, fixed when the
    -- version is stored: {"fulfil.pick": "fulfil.pick(jsonb)"}.  Signatures,
    -- not OIDs: resolved when a backend loads the definition (definition.c),
    -- so they survive a dump and restore
    resources       jsonb       NOT NULL DEFAULT '{}',
    created_by      regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (state_machine, version)
);

-- one registration per resource string and owner: a definition binds its
-- creator's own, else one of a role whose privileges the creator has, else
-- a superuser's (definition.c), so nobody squats a string for another role.
-- fn is the function's signature as text, like the bindings of a version:
-- a regprocedure column would make the restore's COPY of the whole table
-- fail when one function is missing; text restores every registration, and
-- a missing function fails only the definitions that try to bind it
CREATE TABLE orderflow.resources (
    resource        text        NOT NULL,
    fn              text        NOT NULL,
    owner           regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (resource, owner)
);

/*
 * One row per execution.  The engine's bookkeeping (current_state,
 * state_input, due_at, ...) lives next to the public columns so that one
 * UPDATE records a step.  fillfactor leaves room for HOT updates.
 *
 * due_at is the work queue: NULL for finished or parked executions, so the
 * partial index executions_due holds only work that can become due.  It
 * stays small however many finished executions pile up, which is what
 * keeps claiming fast.
 */
CREATE TABLE orderflow.executions (
    id                uuid        PRIMARY KEY,
    state_machine     text        NOT NULL,
    version           integer     NOT NULL,
    definition_id     uuid        NOT NULL,
    name              text        NOT NULL,
    owner             regrole     NOT NULL,
    status            text        NOT NULL DEFAULT 'RUNNING'
                      CHECK (status IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'TIMED_OUT', 'ABORTED')),
    input             jsonb       NOT NULL,
    output            jsonb,
    error             text,
    cause             text,
    started_at        timestamptz NOT NULL,
    stopped_at        timestamptz,
    -- engine state
    current_state     text,
    state_input       jsonb,
    state_entered_at  timestamptz,
    retry_count       integer     NOT NULL DEFAULT 0,
    retrier_attempts  integer[],
    phase             text,
    due_at            timestamptz,
    timeout_at        timestamptz,
    next_event_id     integer     NOT NULL DEFAULT 1,
    steps             bigint      NOT NULL DEFAULT 0,
    -- Parallel branches and Map iterations are child executions: rows of
    -- their own that any worker can claim.  parent_state names the
    -- Parallel/Map state of the parent, branch_index the branch or item,
    -- parent_tag which entry of that state they belong to.
    parent_id         uuid,
    root_id           uuid,
    parent_state      text,
    branch_index      integer,
    parent_tag        integer,
    children_tag      integer,
    -- workflow variables (Assign); a child starts with a copy of its
    -- parent's, so branches read outer variables but never change them
    variables         jsonb,
    -- redrive_execution() counts its redrives
    redrive_count     integer     NOT NULL DEFAULT 0,
    redriven_at       timestamptz,
    -- its Task waits for its role's share of the pool
    -- (orderflow.max_workers_per_role): claims skip it while the role is
    -- still at its share, so a waiting backlog is not rewritten over and over
    deferred          boolean     NOT NULL DEFAULT false
) WITH (fillfactor = 80);

CREATE UNIQUE INDEX executions_name ON orderflow.executions (state_machine, name);
CREATE INDEX executions_due ON orderflow.executions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX executions_running ON orderflow.executions (state_machine) WHERE status = 'RUNNING';
CREATE INDEX executions_children ON orderflow.executions (parent_id, parent_tag, branch_index)
    WHERE parent_id IS NOT NULL;
-- all descendants of a top-level execution (purge, synchronous runs)
CREATE INDEX executions_root ON orderflow.executions (root_id)
    WHERE root_id IS NOT NULL;
-- list_executions() pages through top-level executions newest first
CREATE INDEX executions_list ON orderflow.executions (started_at, id)
    WHERE parent_id IS NULL;
-- retention: finished top-level executions by age
CREATE INDEX executions_stopped ON orderflow.executions (stopped_at)
    WHERE parent_id IS NULL AND stopped_at IS NOT NULL;

/*
 * One row per entry of a Parallel/Map state: how many children are still
 * pending or failed, and the next queued item to start (MaxConcurrency).
 * Each ending child updates this small row under its row lock, so the
 * join happens exactly once, without counting children and without
 * rewriting the parent's row per item.
 */
CREATE TABLE orderflow.join_counters (
    parent_id    uuid    NOT NULL,
    parent_tag   integer NOT NULL,
    total        integer NOT NULL,
    pending      integer NOT NULL,
    failed       integer NOT NULL DEFAULT 0,
    next_queued  integer NOT NULL,
    -- a Map's tolerated failures, fixed when it started (literal or *Path)
    tolerated_count      integer NOT NULL DEFAULT 0,
    tolerated_percentage double precision NOT NULL DEFAULT 0,
    PRIMARY KEY (parent_id, parent_tag)
);

CREATE TABLE orderflow.execution_history (
    execution_id      uuid        NOT NULL,
    event_id          integer     NOT NULL,
    previous_event_id integer,
    type              text        NOT NULL,
    state_name        text,
    ts                timestamptz NOT NULL,
    details           jsonb,
    owner             regrole     NOT NULL,
    PRIMARY KEY (execution_id, event_id)
);

/*
 * Row level security.  A role sees what it owns (has the privileges of the
 * owning role: pg_has_role ... 'USAGE'), tested first because it is cheap,
 * and besides:
 *   state_machine_privileges  grants to it (or to PUBLIC, or to a role it
 *                             has the privileges of), and every grant of a
 *                             machine it owns (grantor is the owner);
 *   state_machines            machines it has any privilege on;
 *   state_machine_versions    the versions of the machines it sees;
 *   executions, history       executions of machines it owns or may READ.
 * resources are visible to their owners only.  Workers and the API's own
 * queries run as the extension owner (superuser, table owner) and see all.
 * No policy refers back to a table whose policy refers to it.
 */
ALTER TABLE orderflow.state_machine_privileges ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.state_machines ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.state_machine_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.execution_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY state_machine_privileges_visible ON orderflow.state_machine_privileges
    USING (pg_catalog.pg_has_role(CURRENT_USER, grantor::oid, 'USAGE')
           OR grantee::oid OPERATOR(pg_catalog.=) 0::oid
           OR pg_catalog.pg_has_role(CURRENT_USER, grantee::oid, 'USAGE'));
CREATE POLICY state_machines_visible ON orderflow.state_machines
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM orderflow.state_machine_privileges AS p
                       WHERE p.state_machine OPERATOR(pg_catalog.=) name
                         AND (p.grantee::oid OPERATOR(pg_catalog.=) 0::oid
                              OR pg_catalog.pg_has_role(CURRENT_USER, p.grantee::oid, 'USAGE'))));
CREATE POLICY state_machine_versions_visible ON orderflow.state_machine_versions
    USING (EXISTS (SELECT 1 FROM orderflow.state_machines AS s
                    WHERE s.name OPERATOR(pg_catalog.=) state_machine));
CREATE POLICY resources_owner ON orderflow.resources
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));
CREATE POLICY executions_owner ON orderflow.executions
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM orderflow.state_machines AS s
                       WHERE s.name OPERATOR(pg_catalog.=) state_machine
                         AND (pg_catalog.pg_has_role(CURRENT_USER, s.owner::oid, 'USAGE')
                              OR EXISTS (SELECT 1 FROM orderflow.state_machine_privileges AS p
                                          WHERE p.state_machine OPERATOR(pg_catalog.=) s.name
                                            AND p.privilege OPERATOR(pg_catalog.=) 'READ'
                                            AND (p.grantee::oid OPERATOR(pg_catalog.=) 0::oid
                                                 OR pg_catalog.pg_has_role(CURRENT_USER, p.grantee::oid, 'USAGE'))))));
CREATE POLICY execution_history_owner ON orderflow.execution_history
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM orderflow.executions AS e
                       WHERE e.id OPERATOR(pg_catalog.=) execution_id));

REVOKE ALL ON ALL TABLES IN SCHEMA orderflow FROM PUBLIC;
GRANT USAGE ON SCHEMA orderflow TO PUBLIC;
GRANT SELECT ON orderflow.state_machines, orderflow.state_machine_versions,
    orderflow.state_machine_privileges, orderflow.resources,
    orderflow.executions, orderflow.execution_history TO PUBLIC;

/*
 * pg_dump writes the rows of these tables (extension members are left out
 * otherwise): everything here is user data.  README "Backup and restore".
 */
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machines', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machine_privileges', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machine_versions', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.resources', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.executions', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.join_counters', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.execution_history', '');
