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
CREATE OR REPLACE FUNCTION orderflow.graph_rule_text(rule jsonb)
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
CREATE OR REPLACE FUNCTION orderflow.graph_retry_text(retrier jsonb)
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
CREATE OR REPLACE FUNCTION orderflow.graph_escape(t text, format text)
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
CREATE OR REPLACE FUNCTION orderflow.graph_layout(states jsonb, start_at text, prefix text,
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
CREATE OR REPLACE FUNCTION orderflow.render_graph(state_machine text, execution uuid DEFAULT NULL,
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
         WHERE m.name = render_graph.state_machine AND m.deleted_at IS NULL;
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
                      HINT = 'Look the id up in orderflow.executions; you only see executions your role started or may READ.';
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
