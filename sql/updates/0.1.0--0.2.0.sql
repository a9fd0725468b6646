/*
 * orderflow 0.1.0 -> 0.2.0: the run-once changes to an existing
 * installation's tables, indexes, constraints and policies, and the data
 * they need.  make appends the sql/functions files (the replay of every
 * function and view of 0.2.0) to build sql/orderflow--0.1.0--0.2.0.sql.
 *
 * Everything here must leave an installation exactly as a fresh
 * CREATE EXTENSION of 0.2.0 (sql/schema/) would: test/t/020_upgrade.pl
 * compares the two in the catalogs.  Nothing here may call an orderflow
 * function (the functions are replaced after this part).
 */

\echo Use "ALTER EXTENSION orderflow UPDATE TO '0.2.0'" to load this file. \quit

/* ---------------------------------------------------------------------
 * Tables (issue 10: tombstones, privileges, per-owner resources, deferral)
 * --------------------------------------------------------------------- */

-- deleted state machines and activities leave a tombstone row; none is
-- deleted yet in 0.1.0 (deletion removed the row), so NULL is right for all
ALTER TABLE orderflow.state_machines ADD COLUMN deleted_at timestamptz;
ALTER TABLE orderflow.activities ADD COLUMN deleted_at timestamptz;

-- 0.1.0 had no grants: only owners (and superusers) used a state machine.
-- grantee is regrole (0, '-', is PUBLIC): a dump names the role
CREATE TABLE orderflow.state_machine_privileges (
    state_machine   text        NOT NULL,
    grantee         regrole     NOT NULL,
    privilege       text        NOT NULL
                    CHECK (privilege IN ('START', 'READ', 'STOP', 'REDRIVE')),
    grantor         regrole     NOT NULL,
    PRIMARY KEY (state_machine, grantee, privilege)
);

-- no foreign keys between extension tables: pg_restore -j loads their data
-- concurrently (see sql/schema/00_core.sql)
ALTER TABLE orderflow.state_machine_versions
    DROP CONSTRAINT state_machine_versions_state_machine_fkey;

-- one registration per resource string and owner (was: per string); every
-- existing row stays unique under the wider key
ALTER TABLE orderflow.resources DROP CONSTRAINT resources_pkey;
ALTER TABLE orderflow.resources ADD CONSTRAINT resources_pkey PRIMARY KEY (resource, owner);

-- claims skip deferred Tasks while their role is at its share; 0.1.0 parked
-- such Tasks with a due_at instead, which the new claim simply picks up
ALTER TABLE orderflow.executions
    ADD COLUMN deferred boolean NOT NULL DEFAULT false;

/* ---------------------------------------------------------------------
 * Row level security (issue 10): owners, grantees and READ
 * --------------------------------------------------------------------- */

ALTER TABLE orderflow.state_machine_privileges ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.state_machines ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.state_machine_versions ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.resources ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.activities ENABLE ROW LEVEL SECURITY;

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
CREATE POLICY activities_owner ON orderflow.activities
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));
ALTER POLICY executions_owner ON orderflow.executions
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM orderflow.state_machines AS s
                       WHERE s.name OPERATOR(pg_catalog.=) state_machine
                         AND (pg_catalog.pg_has_role(CURRENT_USER, s.owner::oid, 'USAGE')
                              OR EXISTS (SELECT 1 FROM orderflow.state_machine_privileges AS p
                                          WHERE p.state_machine OPERATOR(pg_catalog.=) s.name
                                            AND p.privilege OPERATOR(pg_catalog.=) 'READ'
                                            AND (p.grantee::oid OPERATOR(pg_catalog.=) 0::oid
                                                 OR pg_catalog.pg_has_role(CURRENT_USER, p.grantee::oid, 'USAGE'))))));
ALTER POLICY execution_history_owner ON orderflow.execution_history
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM orderflow.executions AS e
                       WHERE e.id OPERATOR(pg_catalog.=) execution_id));

REVOKE ALL ON orderflow.state_machine_privileges FROM PUBLIC;
GRANT SELECT ON orderflow.state_machine_privileges TO PUBLIC;

/* ---------------------------------------------------------------------
 * Bindings by signature (issue 11, dump and restore)
 *
 * 0.1.0 stored function OIDs: {"Resource": 16548} in
 * state_machine_versions.resources and regprocedure in resources.fn; an
 * OID means another function (or none) after a restore.  0.2.0 stores the
 * signature, as regprocedureout prints it with search_path = pg_catalog
 * (the function schema-qualified, argument types qualified unless in
 * pg_catalog): the text the library resolves, with search_path pinned to
 * pg_catalog, when it loads a definition.  A binding whose function is
 * gone already becomes a text that resolves to nothing: executions that
 * reach it fail with orderflow.TaskFunctionMissing, as they would have
 * failed in 0.1.0.
 * --------------------------------------------------------------------- */

SELECT pg_catalog.set_config('search_path', 'pg_catalog', true);

UPDATE orderflow.state_machine_versions AS v
   SET resources = (
       SELECT pg_catalog.jsonb_object_agg(r.key,
                CASE WHEN (r.value #>> '{}') OPERATOR(pg_catalog.!~) '^[0-9]+$'
                     THEN r.value
                     WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_proc AS p
                                   WHERE p.oid OPERATOR(pg_catalog.=) (r.value #>> '{}')::pg_catalog.oid)
                     THEN pg_catalog.to_jsonb((r.value #>> '{}')::pg_catalog.oid::pg_catalog.regprocedure::pg_catalog.text)
                     ELSE pg_catalog.to_jsonb('(OID ' OPERATOR(pg_catalog.||) (r.value #>> '{}')
                                              OPERATOR(pg_catalog.||) ', dropped before 0.2.0)')
                END)
         FROM pg_catalog.jsonb_each(v.resources) AS r)
 WHERE v.resources OPERATOR(pg_catalog.<>) '{}'::pg_catalog.jsonb;

-- regprocedureout prints the number of an OID whose function is gone,
-- which the library never takes for a function (no parenthesis)
ALTER TABLE orderflow.resources
    ALTER COLUMN fn TYPE pg_catalog.text USING fn::pg_catalog.text;

-- back to what ALTER EXTENSION set for the script (extension.c)
SELECT pg_catalog.set_config('search_path', 'orderflow, pg_temp', true);

/*
 * pg_dump writes the rows of these tables (README "Backup and restore");
 * 0.1.0 marked none, so its dumps held no state machine and no execution.
 */
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machines', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machine_privileges', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.state_machine_versions', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.resources', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.executions', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.join_counters', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.execution_history', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.activities', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.task_tokens', '');

/* ---------------------------------------------------------------------
 * Functions and views: the sql/functions files (appended by make) replace
 * them all and create the new ones.  Here are dropped the functions whose
 * arguments or result type change, and the views whose columns change,
 * before the replay recreates them (with the default privileges, as a
 * fresh install has them).
 * --------------------------------------------------------------------- */

-- issue 12: describe_execution reports redrive_count, redrive_date,
-- redrive_status and redrive_status_reason (its OUT columns change)
DROP FUNCTION orderflow.describe_execution(uuid);
