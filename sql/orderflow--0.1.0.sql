/* orderflow--0.1.0.sql: durable Amazon States Language workflows */

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
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE orderflow.state_machine_versions (
    definition_id   uuid        PRIMARY KEY,
    state_machine   text        NOT NULL
                    REFERENCES orderflow.state_machines (name) ON DELETE CASCADE,
    version         integer     NOT NULL CHECK (version > 0),
    definition      jsonb       NOT NULL,
    -- Task Resource string -> function OID, fixed when the version is stored
    resources       jsonb       NOT NULL DEFAULT '{}',
    created_by      regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    UNIQUE (state_machine, version)
);

CREATE TABLE orderflow.resources (
    resource        text        PRIMARY KEY,
    fn              regprocedure NOT NULL,
    owner           regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
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
    variables         jsonb
) WITH (fillfactor = 80);

CREATE UNIQUE INDEX executions_name ON orderflow.executions (state_machine, name);
CREATE INDEX executions_due ON orderflow.executions (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX executions_running ON orderflow.executions (state_machine) WHERE status = 'RUNNING';
CREATE INDEX executions_children ON orderflow.executions (parent_id, parent_tag, branch_index)
    WHERE parent_id IS NOT NULL;

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

/* Row level security: a role sees what it (or a role it belongs to) owns. */
ALTER TABLE orderflow.executions ENABLE ROW LEVEL SECURITY;
ALTER TABLE orderflow.execution_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY executions_owner ON orderflow.executions
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));
CREATE POLICY execution_history_owner ON orderflow.execution_history
    USING (pg_catalog.pg_has_role(CURRENT_USER, owner::oid, 'USAGE'));

REVOKE ALL ON ALL TABLES IN SCHEMA orderflow FROM PUBLIC;
GRANT USAGE ON SCHEMA orderflow TO PUBLIC;
GRANT SELECT ON orderflow.state_machines, orderflow.state_machine_versions,
    orderflow.resources, orderflow.executions, orderflow.execution_history TO PUBLIC;

/* ---------------------------------------------------------------------
 * State machines
 * --------------------------------------------------------------------- */

CREATE FUNCTION orderflow.create_state_machine(name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_create_state_machine'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.update_state_machine(name text, definition jsonb)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_update_state_machine'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.validate_definition(definition jsonb,
    OUT severity text, OUT code text, OUT location text, OUT message text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'orderflow_validate_definition'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.delete_state_machine(name text, force boolean DEFAULT false)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_delete_state_machine'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.register_resource(resource text, fn regprocedure)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_register_resource'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.raise_error(error text, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_raise_error'
LANGUAGE C;

/* ---------------------------------------------------------------------
 * Executions
 * --------------------------------------------------------------------- */

CREATE FUNCTION orderflow.start_execution(state_machine text,
    input jsonb DEFAULT '{}', name text DEFAULT NULL)
RETURNS uuid
AS 'MODULE_PATHNAME', 'orderflow_start_execution'
LANGUAGE C;

CREATE FUNCTION orderflow.wait_for_execution(execution uuid,
    timeout interval DEFAULT '30 s')
RETURNS text
AS 'MODULE_PATHNAME', 'orderflow_wait_for_execution'
LANGUAGE C STRICT;

CREATE FUNCTION orderflow.stop_execution(execution uuid,
    error text DEFAULT NULL, cause text DEFAULT NULL)
RETURNS void
AS 'MODULE_PATHNAME', 'orderflow_stop_execution'
LANGUAGE C;

CREATE FUNCTION orderflow.run_pending(max_steps integer DEFAULT NULL)
RETURNS integer
AS 'MODULE_PATHNAME', 'orderflow_run_pending'
LANGUAGE C;

CREATE FUNCTION orderflow.describe_execution(execution uuid,
    OUT status text, OUT input jsonb, OUT output jsonb, OUT error text,
    OUT cause text, OUT started_at timestamptz, OUT stopped_at timestamptz,
    OUT state_machine text, OUT version integer, OUT name text)
RETURNS record
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    SELECT e.status, e.input, e.output, e.error, e.cause, e.started_at,
           e.stopped_at, e.state_machine, e.version, e.name
      INTO status, input, output, error, cause, started_at, stopped_at,
           state_machine, version, name
      FROM orderflow.executions AS e
     WHERE e.id OPERATOR(pg_catalog.=) execution;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution % does not exist', execution
            USING ERRCODE = 'undefined_object',
                  HINT = 'Look the id up in orderflow.executions; you only see executions your role started.';
    END IF;
END
$$;
/* ---------------------------------------------------------------------
 * Pictures: orderflow.render_graph()
 *
 * render_graph(state_machine, execution DEFAULT NULL, format DEFAULT
 * 'mermaid') draws a state machine's definition as a Mermaid flowchart or
 * a Graphviz DOT digraph: one node per state (name, type, retry policy),
 * edges for Next, Default, every Choice rule (with a short rendering of
 * the rule) and every Catch (with its ErrorEquals), Start and End markers,
 * and the branches of Parallel states and the item processor of Map states
 * as nested subgraphs.  Given an execution, it draws the version that
 * execution runs and colours it from the execution's history: the path
 * taken in bold, each state by its outcome.  States inside branches and
 * item processors are coloured from the child executions that ran them,
 * summed over all runs (Map items).
 *
 * The helpers graph_rule_text, graph_retry_text, graph_escape and
 * graph_layout are internal (their output may change); only render_graph
 * is the interface.  Everything is PL/pgSQL over the public tables, so it
 * sees what the caller sees: executions and their history through row
 * level security.
 * --------------------------------------------------------------------- */

/* A short, one-line rendering of a Choice rule: "$.x < $.y", "(a and b)" */
CREATE FUNCTION orderflow.graph_rule_text(rule jsonb)
RETURNS text
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ops CONSTANT jsonb := '{
        "StringEquals": "==", "NumericEquals": "==", "BooleanEquals": "==", "TimestampEquals": "==",
        "StringLessThan": "<", "NumericLessThan": "<", "TimestampLessThan": "<",
        "StringGreaterThan": ">", "NumericGreaterThan": ">", "TimestampGreaterThan": ">",
        "StringLessThanEquals": "<=", "NumericLessThanEquals": "<=", "TimestampLessThanEquals": "<=",
        "StringGreaterThanEquals": ">=", "NumericGreaterThanEquals": ">=", "TimestampGreaterThanEquals": ">=",
        "StringMatches": "matches"}';
    tests CONSTANT jsonb := '{"IsNull": "null", "IsPresent": "present", "IsNumeric": "numeric",
        "IsString": "a string", "IsBoolean": "a boolean", "IsTimestamp": "a timestamp"}';
    k text;
    v jsonb;
    op text;
    variable text;
    parts text[];
BEGIN
    IF rule IS NULL OR jsonb_typeof(rule) <> 'object' THEN
        RETURN '?';
    END IF;
    IF rule ? 'Condition' THEN                          -- JSONata
        RETURN rule ->> 'Condition';
    END IF;
    IF rule ? 'Not' THEN
        RETURN 'not ' || orderflow.graph_rule_text(rule -> 'Not');
    END IF;
    IF rule ? 'And' OR rule ? 'Or' THEN
        SELECT array_agg(orderflow.graph_rule_text(r) ORDER BY n) INTO parts
          FROM jsonb_array_elements(coalesce(rule -> 'And', rule -> 'Or')) WITH ORDINALITY AS a(r, n);
        RETURN '(' || array_to_string(parts, CASE WHEN rule ? 'And' THEN ' and ' ELSE ' or ' END) || ')';
    END IF;
    variable := coalesce(rule ->> 'Variable', '?');
    FOR k, v IN SELECT e.key, e.value FROM jsonb_each(rule) AS e
                 WHERE e.key NOT IN ('Variable', 'Next', 'Comment', 'Assign', 'Output')
    LOOP
        IF tests ? k THEN
            RETURN variable || CASE WHEN v = 'true' THEN ' is ' ELSE ' is not ' END || (tests ->> k);
        END IF;
        IF right(k, 4) = 'Path' AND ops ? left(k, -4) THEN
            RETURN variable || ' ' || (ops ->> left(k, -4)) || ' ' || (v #>> '{}');
        END IF;
        op := ops ->> k;
        IF op IS NOT NULL THEN
            RETURN variable || ' ' || op || ' ' || v::text;
        END IF;
    END LOOP;
    RETURN variable || ' ?';
END
$$;

/*
 * A Retry entry as "retry InventoryError ×3, 3s, ×2": the errors (the
 * first and "+n" when there are more than two), MaxAttempts,
 * IntervalSeconds, BackoffRate, then MaxDelaySeconds and FULL jitter
 */
CREATE FUNCTION orderflow.graph_retry_text(retrier jsonb)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'retry '
           || coalesce((SELECT string_agg(e, ', ' ORDER BY n)
                          FROM jsonb_array_elements_text(retrier -> 'ErrorEquals') WITH ORDINALITY AS a(e, n)
                         WHERE n <= CASE WHEN jsonb_array_length(retrier -> 'ErrorEquals') > 2 THEN 1 ELSE 2 END), '?')
           || CASE WHEN jsonb_array_length(retrier -> 'ErrorEquals') > 2
                   THEN format(' +%s', jsonb_array_length(retrier -> 'ErrorEquals') - 1) ELSE '' END
           || ' ×' || coalesce(retrier ->> 'MaxAttempts', '3')
           || ', ' || trim_scale(coalesce((retrier ->> 'IntervalSeconds')::numeric, 1)) || 's'
           || ', ×' || trim_scale(coalesce((retrier ->> 'BackoffRate')::numeric, 2))
           || coalesce(', max ' || (retrier ->> 'MaxDelaySeconds') || 's', '')
           || CASE WHEN retrier ->> 'JitterStrategy' = 'FULL' THEN ', jitter' ELSE '' END
$$;

/* Make text safe inside a quoted Mermaid label or DOT string */
CREATE FUNCTION orderflow.graph_escape(t text, format text)
RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE format
        WHEN 'dot' THEN
            replace(replace(replace(replace(t, E'\\', E'\\\\'), '"', E'\\"'), E'\r', ''), E'\n', E'\\n')
        ELSE
            replace(replace(replace(replace(replace(replace(replace(replace(
                t, '#', '#35;'), '"', '#quot;'), '<', '#lt;'), '>', '#gt;'),
                '|', '#124;'), '`', '#96;'), E'\r', ''), E'\n', ' ')
    END
$$;

/*
 * The graph of one States object: {"nodes": [...], "edges": [...],
 * "clusters": [...]}.  Node ids are prefix || 'n<k>' in the order a walk
 * from StartAt meets the states (Next, each Choice rule, Default, each
 * Catch), then the unreachable ones; 'S0' / 'E0' are the Start and End
 * markers of the top level.  Parallel branches and Map item processors
 * become clusters "<node id>b<k>" whose states are drawn recursively.
 */
CREATE FUNCTION orderflow.graph_layout(states jsonb, start_at text, prefix text,
                                       cluster text, depth integer DEFAULT 0)
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    ordered text[] := ARRAY[]::text[];
    queue text[] := ARRAY[]::text[];
    ids jsonb := '{}';
    nodes jsonb := '[]';
    edges jsonb := '[]';
    clusters jsonb := '[]';
    s text;
    st jsonb;
    succ text;
    nid text;
    end_id text := prefix || 'E0';
    lines jsonb;
    sub jsonb;
    branch jsonb;
    bidx integer;
    cid text;
    r jsonb;
    i integer;
BEGIN
    IF states IS NULL OR jsonb_typeof(states) <> 'object' THEN
        RETURN jsonb_build_object('nodes', nodes, 'edges', edges, 'clusters', clusters);
    END IF;
    IF depth > 8 THEN
        RAISE EXCEPTION 'state machine nests Parallel/Map states more than 8 deep'
            USING ERRCODE = 'program_limit_exceeded';
    END IF;

    -- the order states are met in, from StartAt
    IF start_at IS NOT NULL AND states ? start_at THEN
        queue := ARRAY[start_at];
    END IF;
    WHILE cardinality(queue) > 0 LOOP
        s := queue[1];
        queue := queue[2:];
        CONTINUE WHEN s = ANY (ordered);
        ordered := ordered || s;
        st := states -> s;
        FOR succ IN
            SELECT x.t FROM (
                SELECT 1 AS k, 0::bigint AS n, st ->> 'Next' AS t
                UNION ALL
                SELECT 2, c.n, c.v ->> 'Next'
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(st -> 'Choices') = 'array'
                                                 THEN st -> 'Choices' ELSE '[]' END) WITH ORDINALITY AS c(v, n)
                UNION ALL
                SELECT 3, 0, st ->> 'Default'
                UNION ALL
                SELECT 4, c.n, c.v ->> 'Next'
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(st -> 'Catch') = 'array'
                                                 THEN st -> 'Catch' ELSE '[]' END) WITH ORDINALITY AS c(v, n)
            ) AS x
            WHERE x.t IS NOT NULL
            ORDER BY x.k, x.n
        LOOP
            IF states ? succ AND NOT succ = ANY (ordered) THEN
                queue := queue || succ;
            END IF;
        END LOOP;
    END LOOP;
    ordered := ordered || ARRAY(SELECT k FROM jsonb_object_keys(states) AS k
                                 WHERE NOT k = ANY (ordered));

    FOR i IN 1 .. cardinality(ordered) LOOP
        ids := ids || jsonb_build_object(ordered[i], prefix || 'n' || i);
    END LOOP;

    -- markers
    IF cluster IS NULL THEN
        nodes := nodes || jsonb_build_array(
            jsonb_build_object('id', prefix || 'S0', 'kind', 'start', 'cluster', NULL),
            jsonb_build_object('id', end_id, 'kind', 'end', 'cluster', NULL));
        IF ids ? start_at THEN
            edges := edges || jsonb_build_array(jsonb_build_object(
                'from', prefix || 'S0', 'to', ids ->> start_at, 'kind', 'start'));
        END IF;
    ELSE
        nodes := nodes || jsonb_build_array(
            jsonb_build_object('id', end_id, 'kind', 'branch_end', 'cluster', cluster));
    END IF;

    FOREACH s IN ARRAY ordered LOOP
        st := states -> s;
        nid := ids ->> s;
        lines := jsonb_build_array(s, coalesce(st ->> 'Type', '?'));
        IF jsonb_typeof(st -> 'Retry') = 'array' THEN
            SELECT lines || coalesce(jsonb_agg(orderflow.graph_retry_text(x.v) ORDER BY x.n), '[]')
              INTO lines
              FROM jsonb_array_elements(st -> 'Retry') WITH ORDINALITY AS x(v, n);
        END IF;
        nodes := nodes || jsonb_build_array(jsonb_build_object(
            'id', nid, 'kind', 'state', 'state', s, 'type', st ->> 'Type',
            'top', cluster IS NULL, 'cluster', cluster, 'lines', lines));

        -- transitions
        IF st ? 'Next' AND ids ? (st ->> 'Next') THEN
            edges := edges || jsonb_build_array(jsonb_build_object(
                'from', nid, 'to', ids ->> (st ->> 'Next'), 'kind', 'next'));
        END IF;
        IF jsonb_typeof(st -> 'Choices') = 'array' THEN
            FOR r IN SELECT c.v FROM jsonb_array_elements(st -> 'Choices') WITH ORDINALITY AS c(v, n) ORDER BY c.n LOOP
                IF ids ? (r ->> 'Next') THEN
                    edges := edges || jsonb_build_array(jsonb_build_object(
                        'from', nid, 'to', ids ->> (r ->> 'Next'), 'kind', 'choice',
                        'label', left(orderflow.graph_rule_text(r), 60)
                                 || CASE WHEN length(orderflow.graph_rule_text(r)) > 60 THEN '…' ELSE '' END));
                END IF;
            END LOOP;
        END IF;
        IF st ? 'Default' AND ids ? (st ->> 'Default') THEN
            edges := edges || jsonb_build_array(jsonb_build_object(
                'from', nid, 'to', ids ->> (st ->> 'Default'), 'kind', 'default', 'label', 'default'));
        END IF;
        IF jsonb_typeof(st -> 'Catch') = 'array' THEN
            FOR r, i IN SELECT c.v, c.n FROM jsonb_array_elements(st -> 'Catch') WITH ORDINALITY AS c(v, n) ORDER BY c.n LOOP
                IF ids ? (r ->> 'Next') THEN
                    edges := edges || jsonb_build_array(jsonb_build_object(
                        'from', nid, 'to', ids ->> (r ->> 'Next'), 'kind', 'catch', 'index', i,
                        'label', 'catch ' || coalesce((SELECT string_agg(e, ', ' ORDER BY n)
                                                         FROM jsonb_array_elements_text(
                                                              CASE WHEN jsonb_typeof(r -> 'ErrorEquals') = 'array'
                                                                   THEN r -> 'ErrorEquals' ELSE '[]' END)
                                                              WITH ORDINALITY AS a(e, n)), '?')));
                END IF;
            END LOOP;
        END IF;
        IF (st -> 'End') = 'true' OR st ->> 'Type' IN ('Succeed', 'Fail') THEN
            edges := edges || jsonb_build_array(jsonb_build_object(
                'from', nid, 'to', end_id, 'kind', CASE WHEN cluster IS NULL THEN 'end' ELSE 'branch_end' END));
        END IF;

        -- nested: Parallel branches, the Map item processor
        bidx := 0;
        FOR branch IN
            SELECT x.v FROM (
                SELECT b.n, b.v
                  FROM jsonb_array_elements(CASE WHEN st ->> 'Type' = 'Parallel'
                                                      AND jsonb_typeof(st -> 'Branches') = 'array'
                                                 THEN st -> 'Branches' ELSE '[]' END) WITH ORDINALITY AS b(v, n)
                UNION ALL
                SELECT 1, coalesce(st -> 'ItemProcessor', st -> 'Iterator')
                 WHERE st ->> 'Type' = 'Map' AND coalesce(st -> 'ItemProcessor', st -> 'Iterator') IS NOT NULL
            ) AS x
            ORDER BY x.n
        LOOP
            bidx := bidx + 1;
            cid := nid || 'b' || bidx;
            clusters := clusters || jsonb_build_array(jsonb_build_object(
                'id', cid, 'parent', cluster, 'state', s, 'type', st ->> 'Type',
                'branch', CASE WHEN st ->> 'Type' = 'Parallel' THEN bidx - 1 END,
                'label', CASE WHEN st ->> 'Type' = 'Map' THEN s || ': each item'
                              ELSE s || ': branch ' || bidx END));
            sub := orderflow.graph_layout(branch -> 'States', branch ->> 'StartAt', cid || '_', cid, depth + 1);
            nodes := nodes || (sub -> 'nodes');
            clusters := clusters || (sub -> 'clusters');
            IF (branch -> 'States') ? (branch ->> 'StartAt') THEN
                edges := edges || jsonb_build_array(jsonb_build_object(
                    'from', nid, 'to', cid || '_n1', 'kind', 'branch',
                    'label', CASE WHEN st ->> 'Type' = 'Map' THEN 'each item' ELSE 'branch ' || bidx END));
            END IF;
            edges := edges || (sub -> 'edges');
        END LOOP;
    END LOOP;
    RETURN jsonb_build_object('nodes', nodes, 'edges', edges, 'clusters', clusters);
END
$$;

/*
 * The picture.  format 'mermaid' (a flowchart TD, for Markdown) or 'dot'
 * (Graphviz: dot -Tsvg).  With an execution: that execution's version,
 * the path it took in bold, and each top-level state coloured by its
 * outcome: green succeeded, orange succeeded after retries, red failed,
 * purple its error was caught, blue where it is now (RUNNING), grey not
 * reached.  Notes on the node say how often it was entered, retried, and
 * with which error it failed or was caught.
 */
CREATE FUNCTION orderflow.render_graph(state_machine text, execution uuid DEFAULT NULL,
                                       format text DEFAULT 'mermaid')
RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    fmt text := lower(btrim(format));
    def jsonb;
    ver integer;
    ex record;
    g jsonb;
    stats jsonb := '{}';        -- state -> {entered, exited, retries, caught, caught_errors}
    taken jsonb := '{}';        -- "from>to>kind" -> true, for the path
    node_by_id jsonb;           -- node id -> node
    cluster_execs jsonb := '{}';    -- cluster id -> [child execution ids]
    nstats jsonb := '{}';       -- cluster id -> state -> stats, from the child executions
    ntaken jsonb := '{}';       -- "cluster|from>to" -> true
    fnode jsonb;
    tnode jsonb;
    ids uuid[];
    outcome jsonb := '{}';      -- node id -> class
    out text[] := ARRAY[]::text[];
    n jsonb;
    e jsonb;
    st jsonb;
    cls text;
    label text;
    notes text[];
    title text;
    shape_open text;
    shape_close text;
    edge_no integer := 0;
    path_links integer[] := ARRAY[]::integer[];
    dim_links integer[] := ARRAY[]::integer[];
    catch_links integer[] := ARRAY[]::integer[];
    c jsonb;
    last_state text;
    prev text;
    prev_caught integer;
    ev record;
    is_taken boolean;
    classes CONSTANT jsonb := '{
        "succeeded": {"fill": "#c8e6c9", "stroke": "#2e7d32"},
        "retried":   {"fill": "#ffe0b2", "stroke": "#ef6c00"},
        "failed":    {"fill": "#ffcdd2", "stroke": "#c62828"},
        "caught":    {"fill": "#e1bee7", "stroke": "#6a1b9a"},
        "running":   {"fill": "#bbdefb", "stroke": "#1565c0"},
        "failed_retried":  {"fill": "#ffcdd2", "stroke": "#ef6c00"},
        "caught_retried":  {"fill": "#e1bee7", "stroke": "#ef6c00"},
        "running_retried": {"fill": "#bbdefb", "stroke": "#ef6c00"},
        "unvisited": {"fill": "#f5f5f5", "stroke": "#9e9e9e"}}';
BEGIN
    IF fmt IS NULL OR fmt NOT IN ('mermaid', 'dot', 'graphviz') THEN
        RAISE EXCEPTION 'unknown graph format "%"', format
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use format => ''mermaid'' (Markdown) or format => ''dot'' (Graphviz: dot -Tsvg).';
    END IF;
    IF fmt = 'graphviz' THEN
        fmt := 'dot';
    END IF;

    IF execution IS NULL THEN
        SELECT v.definition, v.version INTO def, ver
          FROM orderflow.state_machines AS m
          JOIN orderflow.state_machine_versions AS v
            ON v.state_machine = m.name AND v.version = m.latest_version
         WHERE m.name = render_graph.state_machine;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'state machine "%" does not exist', render_graph.state_machine
                USING ERRCODE = 'undefined_object',
                      HINT = 'SELECT name FROM orderflow.state_machines; lists the state machines.';
        END IF;
    ELSE
        SELECT x.id, x.state_machine, x.version, x.definition_id, x.name, x.status,
               x.error, x.cause, x.current_state, x.phase
          INTO ex
          FROM orderflow.executions AS x
         WHERE x.id = render_graph.execution;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'execution % does not exist', render_graph.execution
                USING ERRCODE = 'undefined_object',
                      HINT = 'Look the id up in orderflow.executions; you only see executions your role started.';
        END IF;
        IF ex.state_machine IS DISTINCT FROM render_graph.state_machine THEN
            RAISE EXCEPTION 'execution "%" belongs to state machine "%", not "%"',
                            ex.name, ex.state_machine, render_graph.state_machine
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('Call orderflow.render_graph(%L, <the execution id>).', ex.state_machine);
        END IF;
        SELECT v.definition, v.version INTO def, ver
          FROM orderflow.state_machine_versions AS v
         WHERE v.definition_id = ex.definition_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'version % of state machine "%" does not exist any more', ex.version, ex.state_machine
                USING ERRCODE = 'undefined_object';
        END IF;
    END IF;

    g := orderflow.graph_layout(def -> 'States', def ->> 'StartAt', '', NULL);

    /* ---- what the execution did, from its history (top-level states) */
    IF execution IS NOT NULL THEN
        SELECT coalesce(jsonb_object_agg(x.state_name, jsonb_build_object(
                   'entered', x.entered, 'exited', x.exited, 'retries', x.retries,
                   'caught', x.caught, 'caught_errors', x.caught_errors)), '{}')
          INTO stats
          FROM (SELECT h.state_name,
                       count(*) FILTER (WHERE h.type LIKE '%StateEntered') AS entered,
                       count(*) FILTER (WHERE h.type LIKE '%StateExited') AS exited,
                       count(*) FILTER (WHERE h.type = 'RetryScheduled') AS retries,
                       count(*) FILTER (WHERE h.type = 'CatchMatched') AS caught,
                       string_agg(DISTINCT h.details ->> 'error', ', ')
                           FILTER (WHERE h.type = 'CatchMatched') AS caught_errors
                  FROM orderflow.execution_history AS h
                 WHERE h.execution_id = render_graph.execution AND h.state_name IS NOT NULL
                 GROUP BY h.state_name) AS x;

        -- the path: consecutive state entries, and whether a catch led there
        prev := NULL;
        prev_caught := NULL;
        FOR ev IN SELECT h.type, h.state_name, h.details ->> 'error' AS error
                    FROM orderflow.execution_history AS h
                   WHERE h.execution_id = render_graph.execution
                     AND (h.type LIKE '%StateEntered' OR h.type = 'CatchMatched')
                   ORDER BY h.event_id
        LOOP
            IF ev.type = 'CatchMatched' THEN
                -- which catcher: the first whose ErrorEquals matches, as the engine picks it
                SELECT min(c.n) INTO prev_caught
                  FROM jsonb_array_elements(CASE WHEN jsonb_typeof(def #> ARRAY['States', ev.state_name, 'Catch']) = 'array'
                                                 THEN def #> ARRAY['States', ev.state_name, 'Catch'] ELSE '[]' END)
                       WITH ORDINALITY AS c(v, n)
                 WHERE jsonb_typeof(c.v -> 'ErrorEquals') = 'array'
                   AND ((c.v -> 'ErrorEquals') ? ev.error OR (c.v -> 'ErrorEquals') ? 'States.ALL'
                        OR ((c.v -> 'ErrorEquals') ? 'States.TaskFailed' AND ev.error <> 'States.Timeout'));
                prev_caught := coalesce(prev_caught, 0);
                CONTINUE;
            END IF;
            IF prev IS NULL THEN
                taken := taken || jsonb_build_object('>' || ev.state_name || '>start', true);
            ELSE
                taken := taken || jsonb_build_object(prev || '>' || ev.state_name || '>'
                                                     || coalesce('catch' || prev_caught, 'step'), true);
            END IF;
            prev := ev.state_name;
            prev_caught := NULL;
        END LOOP;
        last_state := prev;
        IF ex.status = 'SUCCEEDED' AND last_state IS NOT NULL THEN
            taken := taken || jsonb_build_object(last_state || '>>end', true);
        END IF;

        -- Parallel branches and Map iterations ran as child executions:
        -- each cluster's are the children of its parent cluster's (or of
        -- this execution) that its state started, for its branch
        FOR c IN SELECT x.v FROM jsonb_array_elements(g -> 'clusters') AS x(v) LOOP
            IF c -> 'parent' = 'null'::jsonb THEN
                ids := ARRAY[render_graph.execution];
            ELSE
                ids := ARRAY(SELECT jsonb_array_elements_text(cluster_execs -> (c ->> 'parent'))::uuid);
            END IF;
            ids := ARRAY(SELECT x.id FROM orderflow.executions AS x
                          WHERE x.parent_id = ANY (ids) AND x.parent_state = c ->> 'state'
                            AND (c -> 'branch' = 'null'::jsonb OR x.branch_index = (c ->> 'branch')::integer));
            cluster_execs := cluster_execs || jsonb_build_object(c ->> 'id', to_jsonb(ids));
            CONTINUE WHEN cardinality(ids) = 0;
            SELECT coalesce(jsonb_object_agg(x.state_name, jsonb_build_object(
                       'entered', x.entered, 'exited', x.exited, 'retries', x.retries,
                       'caught', x.caught, 'caught_errors', x.caught_errors,
                       'running', (SELECT count(*) FROM orderflow.executions AS k
                                    WHERE k.id = ANY (ids) AND k.status = 'RUNNING' AND k.current_state = x.state_name),
                       'failed', (SELECT count(*) FROM orderflow.executions AS k
                                   WHERE k.id = ANY (ids) AND k.status IN ('FAILED', 'TIMED_OUT', 'ABORTED')
                                     AND k.current_state = x.state_name),
                       'ended_ok', (SELECT count(*) FROM orderflow.executions AS k
                                     WHERE k.id = ANY (ids) AND k.status = 'SUCCEEDED' AND k.current_state = x.state_name),
                       'runs', cardinality(ids))), '{}')
              INTO st
              FROM (SELECT h.state_name,
                           count(*) FILTER (WHERE h.type LIKE '%StateEntered') AS entered,
                           count(*) FILTER (WHERE h.type LIKE '%StateExited') AS exited,
                           count(*) FILTER (WHERE h.type = 'RetryScheduled') AS retries,
                           count(*) FILTER (WHERE h.type = 'CatchMatched') AS caught,
                           string_agg(DISTINCT h.details ->> 'error', ', ')
                               FILTER (WHERE h.type = 'CatchMatched') AS caught_errors
                      FROM orderflow.execution_history AS h
                     WHERE h.execution_id = ANY (ids) AND h.state_name IS NOT NULL
                     GROUP BY h.state_name) AS x;
            nstats := nstats || jsonb_build_object(c ->> 'id', st);
            SELECT coalesce(jsonb_object_agg((c ->> 'id') || '|' || y.prev || '>' || y.state_name, true), '{}')
              INTO st
              FROM (SELECT DISTINCT lag(h.state_name) OVER w AS prev, h.state_name
                      FROM orderflow.execution_history AS h
                     WHERE h.execution_id = ANY (ids) AND h.type LIKE '%StateEntered'
                    WINDOW w AS (PARTITION BY h.execution_id ORDER BY h.event_id)) AS y
             WHERE y.prev IS NOT NULL;
            ntaken := ntaken || st;
        END LOOP;
    END IF;

    /* ---- header */
    title := def ->> 'Comment';
    IF execution IS NOT NULL THEN
        title := format('%s v%s · execution %s: %s%s', render_graph.state_machine, ver, ex.name, ex.status,
                        coalesce(' (' || ex.error || ')', ''));
    ELSE
        title := format('%s v%s', render_graph.state_machine, ver);
    END IF;
    IF fmt = 'mermaid' THEN
        out := out || ARRAY['---', 'title: "' || replace(replace(title, E'\\', E'\\\\'), '"', E'\\"') || '"',
                            '---', 'flowchart TD'];
    ELSE
        out := out || ARRAY[
            format('digraph "%s" {', orderflow.graph_escape(render_graph.state_machine, 'dot')),
            format('  graph [rankdir=TB, fontname="Helvetica", fontsize=13, labelloc=t, label="%s", nodesep=0.4, ranksep=0.45];',
                   orderflow.graph_escape(title, 'dot')),
            '  node [fontname="Helvetica", fontsize=11, shape=box, style="rounded,filled", fillcolor="#ffffff", color="#455a64", penwidth=1.2];',
            '  edge [fontname="Helvetica", fontsize=9, color="#455a64", fontcolor="#37474f", arrowsize=0.7];'];
    END IF;

    /* ---- nodes, cluster by cluster (NULL = the top level) */
    FOR c IN SELECT 'null'::jsonb UNION ALL SELECT x.v FROM jsonb_array_elements(g -> 'clusters') AS x(v) LOOP
        IF c <> 'null'::jsonb THEN
            IF fmt = 'mermaid' THEN
                out := out || format('  subgraph %s["%s"]', c ->> 'id', orderflow.graph_escape(c ->> 'label', 'mermaid'));
            ELSE
                out := out || format('  subgraph "cluster_%s" {', c ->> 'id')
                           || format('    label="%s"; style="rounded,dashed"; color="#90a4ae"; fontsize=10;',
                                     orderflow.graph_escape(c ->> 'label', 'dot'));
            END IF;
        END IF;
        FOR n IN SELECT x.v FROM jsonb_array_elements(g -> 'nodes') AS x(v)
                  WHERE (x.v -> 'cluster') IS NOT DISTINCT FROM
                        (CASE WHEN c = 'null'::jsonb THEN 'null'::jsonb ELSE c -> 'id' END)
        LOOP
            IF n ->> 'kind' = 'start' THEN
                out := out || CASE fmt WHEN 'mermaid' THEN format('  %s(("Start"))', n ->> 'id')
                    ELSE format('  "%s" [label="Start", shape=circle, style=filled, fillcolor="#37474f", fontcolor="#ffffff", fontsize=9, width=0.55, fixedsize=true];', n ->> 'id') END;
                CONTINUE;
            ELSIF n ->> 'kind' = 'end' THEN
                out := out || CASE fmt WHEN 'mermaid' THEN format('  %s((("End")))', n ->> 'id')
                    ELSE format('  "%s" [label="End", shape=doublecircle, style=filled, fillcolor="#37474f", fontcolor="#ffffff", fontsize=9, width=0.5, fixedsize=true];', n ->> 'id') END;
                CONTINUE;
            ELSIF n ->> 'kind' = 'branch_end' THEN
                out := out || CASE fmt WHEN 'mermaid' THEN format('    %s((("end")))', n ->> 'id')
                    ELSE format('    "%s" [label="", shape=doublecircle, style=filled, fillcolor="#90a4ae", width=0.18, fixedsize=true];', n ->> 'id') END;
                CONTINUE;
            END IF;

            -- a state
            SELECT array_agg(x.l ORDER BY x.k) INTO notes
              FROM jsonb_array_elements_text(n -> 'lines') WITH ORDINALITY AS x(l, k);
            cls := NULL;
            IF execution IS NOT NULL THEN
                IF (n -> 'top') = 'true' THEN
                    st := stats -> (n ->> 'state');
                ELSE
                    st := nstats #> ARRAY[n ->> 'cluster', n ->> 'state'];
                END IF;
                IF st IS NOT NULL AND (n -> 'top') <> 'true' AND (st ->> 'runs')::integer > 1 THEN
                    notes := notes || format('entered %s× in %s runs', st ->> 'entered', st ->> 'runs');
                ELSIF st IS NOT NULL AND (st ->> 'entered')::integer > 1 THEN
                    notes := notes || format('entered %s×', st ->> 'entered');
                END IF;
                IF st IS NOT NULL AND (st ->> 'retries')::integer > 0 THEN
                    notes := notes || format('retried %s×', st ->> 'retries');
                END IF;
                IF st IS NULL THEN
                    cls := 'unvisited';
                ELSIF (n -> 'top') <> 'true' THEN
                    -- a state of a branch / item processor, over its runs
                    IF (st ->> 'running')::integer > 0 THEN
                        cls := 'running';
                        notes := notes || format('now: %s here', st ->> 'running');
                    ELSIF (st ->> 'failed')::integer > 0 THEN
                        cls := 'failed';
                        notes := notes || format('failed in %s of %s runs', st ->> 'failed', st ->> 'runs');
                    ELSIF (st ->> 'caught')::integer > 0 THEN
                        cls := 'caught';
                        notes := notes || ('caught: ' || coalesce(st ->> 'caught_errors', '?'));
                    ELSIF (st ->> 'retries')::integer > 0 THEN
                        cls := 'retried';
                    ELSIF (st ->> 'exited')::integer > 0 THEN
                        cls := 'succeeded';
                    ELSE
                        cls := 'unvisited';
                    END IF;
                ELSIF ex.status = 'RUNNING' AND ex.current_state = n ->> 'state' THEN
                    cls := 'running';
                    notes := notes || CASE WHEN ex.phase = 'retry' THEN 'now: waiting to retry' ELSE 'now: here' END;
                ELSIF ex.status <> 'RUNNING' AND n ->> 'state' = last_state AND ex.status <> 'SUCCEEDED' THEN
                    cls := 'failed';
                    notes := notes || (lower(ex.status) || coalesce(': ' || ex.error, ''));
                    IF ex.cause IS NOT NULL THEN
                        notes := notes || (left(ex.cause, 60) || CASE WHEN length(ex.cause) > 60 THEN '…' ELSE '' END);
                    END IF;
                ELSIF (st ->> 'caught')::integer > 0 THEN
                    cls := 'caught';
                    notes := notes || ('caught: ' || coalesce(st ->> 'caught_errors', '?'));
                ELSIF (st ->> 'retries')::integer > 0 THEN
                    cls := 'retried';
                ELSIF (st ->> 'exited')::integer > 0 THEN
                    cls := 'succeeded';
                ELSE
                    cls := 'unvisited';
                END IF;
                IF cls IN ('failed', 'caught', 'running') AND (st ->> 'retries')::integer > 0 THEN
                    cls := cls || '_retried';       -- its outcome's fill, an orange border
                END IF;
                outcome := outcome || jsonb_build_object(n ->> 'id', cls);
            END IF;

            IF fmt = 'mermaid' THEN
                SELECT string_agg(orderflow.graph_escape(l, 'mermaid'), '<br/>' ORDER BY k) INTO label
                  FROM unnest(notes) WITH ORDINALITY AS x(l, k);
                CASE n ->> 'type'
                    WHEN 'Choice' THEN shape_open := '{"'; shape_close := '"}';
                    WHEN 'Wait' THEN shape_open := '{{"'; shape_close := '"}}';
                    WHEN 'Succeed' THEN shape_open := '(["'; shape_close := '"])';
                    WHEN 'Fail' THEN shape_open := '(["'; shape_close := '"])';
                    WHEN 'Parallel' THEN shape_open := '[["'; shape_close := '"]]';
                    WHEN 'Map' THEN shape_open := '[["'; shape_close := '"]]';
                    WHEN 'Pass' THEN shape_open := '["'; shape_close := '"]';
                    ELSE shape_open := '("'; shape_close := '")';
                END CASE;
                out := out || format('  %s%s%s%s%s', CASE WHEN n ->> 'cluster' IS NULL THEN '' ELSE '  ' END,
                                     n ->> 'id', shape_open, label, shape_close);
            ELSE
                SELECT string_agg(orderflow.graph_escape(l, 'dot'), '\n' ORDER BY k) INTO label
                  FROM unnest(notes) WITH ORDINALITY AS x(l, k);
                out := out || format('  %s"%s" [label="%s"%s%s];',
                    CASE WHEN n ->> 'cluster' IS NULL THEN '' ELSE '  ' END,
                    n ->> 'id', label,
                    CASE n ->> 'type'
                        WHEN 'Choice' THEN ', shape=diamond, style=filled'
                        WHEN 'Wait' THEN ', shape=hexagon, style=filled'
                        WHEN 'Succeed' THEN ', style="rounded,filled,bold"'
                        WHEN 'Fail' THEN ', style="rounded,filled,bold"'
                        WHEN 'Parallel' THEN ', shape=box3d, style=filled'
                        WHEN 'Map' THEN ', shape=box3d, style=filled'
                        WHEN 'Pass' THEN ', style=filled'
                        ELSE '' END,
                    CASE WHEN cls IS NULL THEN ''
                         ELSE format(', fillcolor="%s", color="%s"%s',
                                     classes #>> ARRAY[cls, 'fill'], classes #>> ARRAY[cls, 'stroke'],
                                     CASE WHEN cls = 'unvisited' THEN ', fontcolor="#757575"'
                                          WHEN cls LIKE '%\_retried' THEN ', penwidth=3.5' ELSE ', penwidth=2' END)
                    END);
            END IF;
        END LOOP;
        IF c <> 'null'::jsonb THEN
            out := out || CASE fmt WHEN 'mermaid' THEN '  end' ELSE '  }' END;
        END IF;
    END LOOP;

    /* ---- DOT: a legend for the colours, at the bottom */
    IF fmt = 'dot' AND execution IS NOT NULL THEN
        out := out || ARRAY[
            '  "legend" [shape=plaintext, style="", fontsize=9, label=<<table border="0" cellborder="1" cellspacing="3" cellpadding="3"><tr>'
            || '<td bgcolor="#c8e6c9" color="#2e7d32">succeeded</td>'
            || '<td bgcolor="#ffe0b2" color="#ef6c00">succeeded after retries</td>'
            || '<td bgcolor="#ffcdd2" color="#c62828">failed</td>'
            || '<td bgcolor="#e1bee7" color="#6a1b9a">error caught</td>'
            || '<td bgcolor="#bbdefb" color="#1565c0">running</td>'
            || '<td bgcolor="#f5f5f5" color="#9e9e9e">not reached</td>'
            || '<td color="#ef6c00" border="3">orange border: retried</td></tr></table>>];',
            '  { rank=sink; "legend"; }'];
    END IF;

    /* ---- edges */
    SELECT jsonb_object_agg(x.v ->> 'id', x.v) INTO node_by_id FROM jsonb_array_elements(g -> 'nodes') AS x(v);
    FOR e IN SELECT x.v FROM jsonb_array_elements(g -> 'edges') AS x(v) LOOP
        is_taken := false;
        IF execution IS NOT NULL THEN
            fnode := node_by_id -> (e ->> 'from');
            tnode := node_by_id -> (e ->> 'to');
            is_taken := coalesce(CASE
                WHEN e ->> 'kind' = 'start' THEN taken ? ('>' || (tnode ->> 'state') || '>start')
                WHEN e ->> 'kind' = 'end' THEN taken ? ((fnode ->> 'state') || '>>end')
                WHEN e ->> 'kind' = 'branch' THEN (nstats #> ARRAY[tnode ->> 'cluster', tnode ->> 'state']) IS NOT NULL
                WHEN e ->> 'kind' = 'branch_end'
                    THEN coalesce((nstats #>> ARRAY[fnode ->> 'cluster', fnode ->> 'state', 'ended_ok'])::integer, 0) > 0
                WHEN fnode ->> 'cluster' IS NOT NULL
                    THEN ntaken ? ((fnode ->> 'cluster') || '|' || (fnode ->> 'state') || '>' || (tnode ->> 'state'))
                WHEN e ->> 'kind' = 'catch'
                    THEN taken ? ((fnode ->> 'state') || '>' || (tnode ->> 'state') || '>catch' || (e ->> 'index'))
                ELSE taken ? ((fnode ->> 'state') || '>' || (tnode ->> 'state') || '>step')
            END, false);
        END IF;
        IF fmt = 'mermaid' THEN
            out := out || format('  %s %s%s %s', e ->> 'from',
                CASE WHEN e ->> 'kind' IN ('catch', 'branch', 'branch_end') THEN '-.->' ELSE '-->' END,
                coalesce('|"' || orderflow.graph_escape(e ->> 'label', 'mermaid') || '"|', ''),
                e ->> 'to');
            IF execution IS NOT NULL THEN
                IF is_taken AND e ->> 'kind' = 'catch' THEN
                    catch_links := catch_links || edge_no;
                ELSIF is_taken THEN
                    path_links := path_links || edge_no;
                ELSE
                    dim_links := dim_links || edge_no;
                END IF;
            END IF;
            edge_no := edge_no + 1;
        ELSE
            out := out || format('  "%s" -> "%s"%s;', e ->> 'from', e ->> 'to',
                coalesce(' [' || nullif(concat_ws(', ',
                    CASE WHEN e ? 'label' THEN format('label="%s"', orderflow.graph_escape(e ->> 'label', 'dot')) END,
                    CASE WHEN e ->> 'kind' IN ('catch', 'branch', 'branch_end') THEN 'style=dashed' END,
                    CASE WHEN e ->> 'kind' = 'catch' AND NOT is_taken THEN 'color="#8e24aa", fontcolor="#6a1b9a"' END,
                    CASE WHEN execution IS NOT NULL AND is_taken AND e ->> 'kind' = 'catch'
                             THEN 'color="#6a1b9a", penwidth=3'
                         WHEN execution IS NOT NULL AND is_taken THEN 'color="#1b5e20", penwidth=3'
                         WHEN execution IS NOT NULL THEN 'color="#bdbdbd"' END), '') || ']', ''));
        END IF;
    END LOOP;

    /* ---- Mermaid styles */
    IF fmt = 'mermaid' THEN
        FOR cls IN SELECT DISTINCT v #>> '{}' FROM jsonb_each(outcome) AS o(k, v) ORDER BY 1 LOOP
            out := out || format('  classDef %s fill:%s,stroke:%s,stroke-width:%s%s;', cls,
                                 classes #>> ARRAY[cls, 'fill'], classes #>> ARRAY[cls, 'stroke'],
                                 CASE WHEN cls = 'unvisited' THEN '1px' WHEN cls LIKE '%\_retried' THEN '4px' ELSE '2px' END,
                                 CASE WHEN cls = 'unvisited' THEN ',color:#757575' ELSE '' END);
            out := out || format('  class %s %s;',
                                 (SELECT string_agg(o.k, ',' ORDER BY length(o.k), o.k) FROM jsonb_each_text(outcome) AS o(k, v)
                                   WHERE o.v = cls), cls);
        END LOOP;
        IF cardinality(path_links) > 0 THEN
            out := out || format('  linkStyle %s stroke:#1b5e20,stroke-width:3px;', array_to_string(path_links, ','));
        END IF;
        IF cardinality(catch_links) > 0 THEN
            out := out || format('  linkStyle %s stroke:#6a1b9a,stroke-width:3px;', array_to_string(catch_links, ','));
        END IF;
        IF cardinality(dim_links) > 0 THEN
            out := out || format('  linkStyle %s stroke:#bdbdbd;', array_to_string(dim_links, ','));
        END IF;
    ELSE
        out := out || '}'::text;
    END IF;
    RETURN array_to_string(out, E'\n') || E'\n';
END
$$;

COMMENT ON FUNCTION orderflow.render_graph(text, uuid, text) IS
    'Draw a state machine (and optionally one execution''s path) as Mermaid or Graphviz DOT';
/* ---------------------------------------------------------------------
 * Views for operators: the first questions about a running system.
 *
 *   orderflow.execution_counts  how many executions per state machine and
 *                               status, and since when
 *   orderflow.throughput        per minute over the last hour: executions
 *                               started and finished, state transitions,
 *                               start-to-finish latency p50/p95/p99
 *   orderflow.state_stats       per state machine and state: entries,
 *                               failures, retries, caught errors, where
 *                               executions failed, time spent in the state
 *
 * Executions counts and latencies are of top-level executions: the child
 * executions that run Parallel branches and Map iterations are not counted
 * again, but their state transitions and states are.
 *
 * All are security_invoker views: they read orderflow.executions and
 * orderflow.execution_history as the querying role, so row level security
 * still shows each role only its own executions.  They scan the history,
 * so on a very large history prefer a WHERE on the view's leading columns
 * or a materialized copy.
 * --------------------------------------------------------------------- */

CREATE VIEW orderflow.execution_counts WITH (security_invoker = true) AS
SELECT e.state_machine,
       e.status,
       pg_catalog.count(*) AS executions,
       pg_catalog.min(e.started_at) AS first_started_at,
       pg_catalog.max(e.started_at) AS last_started_at,
       pg_catalog.max(e.stopped_at) AS last_stopped_at
  FROM orderflow.executions AS e
 WHERE e.parent_id IS NULL                   -- not Parallel branches / Map iterations
 GROUP BY e.state_machine, e.status;

COMMENT ON VIEW orderflow.execution_counts IS
    'Executions per state machine and status (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED)';

CREATE VIEW orderflow.throughput WITH (security_invoker = true) AS
WITH minutes AS (
    SELECT m.minute
      FROM pg_catalog.generate_series(
               (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes'),
               pg_catalog.date_trunc('minute', pg_catalog.now()),
               interval '1 minute') AS m(minute)
), started AS (
    SELECT pg_catalog.date_trunc('minute', e.started_at) AS minute, pg_catalog.count(*) AS n
      FROM orderflow.executions AS e
     WHERE e.parent_id IS NULL
       AND e.started_at OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
     GROUP BY 1
), finished AS (
    SELECT pg_catalog.date_trunc('minute', e.stopped_at) AS minute,
           pg_catalog.count(*) AS n,
           pg_catalog.count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.=) 'SUCCEEDED') AS succeeded,
           pg_catalog.count(*) FILTER (WHERE e.status OPERATOR(pg_catalog.<>) 'SUCCEEDED') AS not_succeeded,
           pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p50,
           pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p95,
           pg_catalog.percentile_cont(0.99) WITHIN GROUP (ORDER BY pg_catalog.date_part('epoch', e.stopped_at OPERATOR(pg_catalog.-) e.started_at)) AS p99
      FROM orderflow.executions AS e
     WHERE e.parent_id IS NULL
       AND e.stopped_at OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
     GROUP BY 1
), transitions AS (
    SELECT pg_catalog.date_trunc('minute', h.ts) AS minute, pg_catalog.count(*) AS n
      FROM orderflow.execution_history AS h
     WHERE h.ts OPERATOR(pg_catalog.>=)
           (pg_catalog.date_trunc('minute', pg_catalog.now()) OPERATOR(pg_catalog.-) interval '59 minutes')
       AND h.type OPERATOR(pg_catalog.~~) '%StateExited'
     GROUP BY 1
)
SELECT m.minute,
       COALESCE(s.n, 0) AS started,
       COALESCE(f.n, 0) AS finished,
       COALESCE(f.succeeded, 0) AS succeeded,
       COALESCE(f.not_succeeded, 0) AS failed,
       COALESCE(t.n, 0) AS transitions,
       pg_catalog.round(COALESCE(t.n, 0) OPERATOR(pg_catalog./) 60.0, 1) AS transitions_per_second,
       pg_catalog.round(f.p50::numeric, 3) AS latency_p50_s,
       pg_catalog.round(f.p95::numeric, 3) AS latency_p95_s,
       pg_catalog.round(f.p99::numeric, 3) AS latency_p99_s
  FROM minutes AS m
  LEFT JOIN started AS s ON s.minute OPERATOR(pg_catalog.=) m.minute
  LEFT JOIN finished AS f ON f.minute OPERATOR(pg_catalog.=) m.minute
  LEFT JOIN transitions AS t ON t.minute OPERATOR(pg_catalog.=) m.minute
 ORDER BY m.minute;

COMMENT ON VIEW orderflow.throughput IS
    'Per minute of the last hour: executions started and finished (failed = FAILED, TIMED_OUT or ABORTED), '
    'state transitions, and latency percentiles (seconds) of the executions that finished in that minute';

CREATE VIEW orderflow.state_stats WITH (security_invoker = true) AS
WITH ev AS (
    SELECT e.state_machine, e.status, h.execution_id, h.event_id, h.state_name, h.type, h.ts,
           CASE WHEN h.type OPERATOR(pg_catalog.~~) '%StateEntered' THEN 'entered'
                WHEN h.type OPERATOR(pg_catalog.~~) '%StateExited' THEN 'exited'
           END AS edge
      FROM orderflow.execution_history AS h
      JOIN orderflow.executions AS e ON e.id OPERATOR(pg_catalog.=) h.execution_id
     WHERE h.state_name IS NOT NULL
), durations AS (
    SELECT x.state_machine, x.state_name,
           pg_catalog.date_part('epoch', x.ts OPERATOR(pg_catalog.-) x.entered_ts) AS seconds
      FROM (SELECT ev.state_machine, ev.state_name, ev.edge, ev.ts,
                   pg_catalog.lag(ev.edge) OVER w AS prev_edge,
                   pg_catalog.lag(ev.ts) OVER w AS entered_ts
              FROM ev
             WHERE ev.edge IS NOT NULL
            WINDOW w AS (PARTITION BY ev.execution_id, ev.state_name ORDER BY ev.event_id)) AS x
     WHERE x.edge OPERATOR(pg_catalog.=) 'exited' AND x.prev_edge OPERATOR(pg_catalog.=) 'entered'
), died AS (
    -- the state each unsuccessful finished execution stopped in
    SELECT DISTINCT ON (ev.execution_id) ev.state_machine, ev.state_name
      FROM ev
     WHERE ev.edge OPERATOR(pg_catalog.=) 'entered'
       AND ev.status OPERATOR(pg_catalog.=) ANY (ARRAY['FAILED', 'TIMED_OUT', 'ABORTED'])
     ORDER BY ev.execution_id, ev.event_id DESC
), counts AS (
    SELECT ev.state_machine, ev.state_name,
           pg_catalog.max(pg_catalog.regexp_replace(ev.type, 'StateEntered$', ''))
               FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS state_type,
           pg_catalog.count(*) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS entries,
           pg_catalog.count(*) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'exited') AS exits,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) ANY (ARRAY['TaskFailed', 'TaskTimedOut'])) AS failures,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) 'RetryScheduled') AS retries,
           pg_catalog.count(*) FILTER (WHERE ev.type OPERATOR(pg_catalog.=) 'CatchMatched') AS caught,
           pg_catalog.avg(ev.event_id) FILTER (WHERE ev.edge OPERATOR(pg_catalog.=) 'entered') AS position
      FROM ev
     GROUP BY ev.state_machine, ev.state_name
)
SELECT c.state_machine,
       c.state_name,
       c.state_type,
       c.entries,
       c.exits,
       c.failures,
       c.retries,
       c.caught,
       (SELECT pg_catalog.count(*) FROM died AS d
         WHERE d.state_machine OPERATOR(pg_catalog.=) c.state_machine
           AND d.state_name OPERATOR(pg_catalog.=) c.state_name) AS executions_failed_here,
       pg_catalog.round(d.mean::numeric, 3) AS mean_duration_s,
       pg_catalog.round(d.p95::numeric, 3) AS p95_duration_s
  FROM counts AS c
  LEFT JOIN (SELECT du.state_machine, du.state_name,
                    pg_catalog.avg(du.seconds) AS mean,
                    pg_catalog.percentile_cont(0.95) WITHIN GROUP (ORDER BY du.seconds) AS p95
               FROM durations AS du
              GROUP BY du.state_machine, du.state_name) AS d
         ON d.state_machine OPERATOR(pg_catalog.=) c.state_machine
        AND d.state_name OPERATOR(pg_catalog.=) c.state_name
 ORDER BY c.state_machine, c.position, c.state_name;

COMMENT ON VIEW orderflow.state_stats IS
    'Per state machine and state: entries, exits, task failures (each failed attempt), retries scheduled, '
    'errors caught, executions that failed in the state, and the time from StateEntered to StateExited (seconds)';

GRANT SELECT ON orderflow.execution_counts, orderflow.throughput, orderflow.state_stats TO PUBLIC;
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

CREATE TABLE orderflow.activities (
    name            text        PRIMARY KEY,
    owner           regrole     NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now()
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
     WHERE s.name OPERATOR(pg_catalog.=) wanted;
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
