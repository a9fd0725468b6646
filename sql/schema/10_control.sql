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

-- user data: dumped by pg_dump (README "Backup and restore")
SELECT pg_catalog.pg_extension_config_dump('orderflow.activities', '');
SELECT pg_catalog.pg_extension_config_dump('orderflow.task_tokens', '');
