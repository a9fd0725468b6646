-- test/validator/orderflow.sql: orderflow's verdict on every definition of
-- the corpus, in one psql session against a live cluster (run.sh).
--
--   psql -X -v corpus=FILE -v results=FILE -v tasks=FILE -f orderflow.sql
--
-- corpus: oracle.js's output (one JSON object a line); tasks: the
-- conformance suite's tasks.sql (the conf.* functions the cases name).
-- Every definition goes through orderflow.validate_definition AND
-- orderflow.create_state_machine (in a subtransaction that is rolled back,
-- so nothing is kept); results gets one JSON object a line: id, refused
-- (validate_definition reported an ERROR), codes and locations of the
-- ERRORs, created, and the error create_state_machine raised (sqlstate,
-- message, detail, hint).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
\i :tasks

CREATE SCHEMA validator_oracle;
CREATE FUNCTION validator_oracle.echo(input jsonb) RETURNS jsonb
  LANGUAGE sql AS 'SELECT input';

CREATE TABLE validator_oracle.raw (n bigserial PRIMARY KEY, line text NOT NULL);
-- one line, one value: no quoting or delimiter can occur in JSON text (a
-- server-side COPY: psql's \copy does not expand variables; the cluster
-- runs as the user that wrote the file)
COPY validator_oracle.raw(line) FROM :'corpus' WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');

CREATE TABLE validator_oracle.corpus (
  n bigint PRIMARY KEY, id text NOT NULL, mutation text NOT NULL,
  definition jsonb, load_error text);
DO $$
DECLARE r record; e jsonb;
BEGIN
  FOR r IN SELECT n, line FROM validator_oracle.raw ORDER BY n LOOP
    e := r.line::json::jsonb - 'definition';
    BEGIN
      INSERT INTO validator_oracle.corpus
        VALUES (r.n, e->>'id', e->>'mutation', (r.line::json->'definition')::jsonb, NULL);
    EXCEPTION WHEN others THEN          -- e.g. \u0000, which jsonb cannot hold
      INSERT INTO validator_oracle.corpus VALUES (r.n, e->>'id', e->>'mutation', NULL, SQLERRM);
    END;
  END LOOP;
END $$;

-- The valid sources name Lambda ARNs (demo, seed): bind each to a function,
-- as a deployment would with register_resource.  conf.* are SQL functions.
DO $$
DECLARE r text;
BEGIN
  FOR r IN SELECT DISTINCT v #>> '{}'
             FROM validator_oracle.corpus,
                  LATERAL jsonb_path_query(definition, 'lax $.**.Resource') AS v
            WHERE mutation = 'none' AND jsonb_typeof(v) = 'string' AND v #>> '{}' LIKE 'arn:%'
  LOOP
    PERFORM orderflow.register_resource(r, 'validator_oracle.echo(jsonb)'::regprocedure);
  END LOOP;
END $$;

CREATE TABLE validator_oracle.results (n bigint PRIMARY KEY, result jsonb NOT NULL);

CREATE FUNCTION validator_oracle.verdict(p_def jsonb, p_name text) RETURNS jsonb
LANGUAGE plpgsql AS $f$
DECLARE
  refused boolean; codes text[]; locs text[];
  created boolean := false; vstate text; vmsg text;
  st text; msg text; det text; hnt text;
BEGIN
  BEGIN
    SELECT coalesce(bool_or(p.severity = 'ERROR'), false),
           array_agg(p.code) FILTER (WHERE p.severity = 'ERROR'),
           array_agg(p.location) FILTER (WHERE p.severity = 'ERROR')
      INTO refused, codes, locs
      FROM orderflow.validate_definition(p_def) AS p;
  EXCEPTION WHEN others THEN
    GET STACKED DIAGNOSTICS vstate = RETURNED_SQLSTATE, vmsg = MESSAGE_TEXT;
  END;
  BEGIN
    PERFORM orderflow.create_state_machine(p_name, p_def);
    created := true;
    RAISE SQLSTATE 'VO001';             -- roll the creation back
  EXCEPTION
    WHEN SQLSTATE 'VO001' THEN NULL;
    WHEN others THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                              det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  END;
  RETURN jsonb_build_object('refused', refused, 'codes', codes, 'locations', locs,
                            'validate_error', CASE WHEN vstate IS NOT NULL THEN vstate || ': ' || vmsg END,
                            'created', created, 'sqlstate', st, 'message', msg,
                            'detail', det, 'hint', hnt);
END
$f$;

-- one statement per definition would be 5000 round trips; one DO block
-- commits nothing it does not need to (the creations are rolled back)
DO $$
DECLARE c record;
BEGIN
  FOR c IN SELECT * FROM validator_oracle.corpus ORDER BY n LOOP
    IF c.definition IS NULL THEN
      INSERT INTO validator_oracle.results
        VALUES (c.n, jsonb_build_object('id', c.id, 'load_error', c.load_error));
    ELSE
      INSERT INTO validator_oracle.results
        VALUES (c.n, jsonb_build_object('id', c.id)
                     || validator_oracle.verdict(c.definition, 'oracle_' || c.n));
    END IF;
  END LOOP;
END $$;

\pset format unaligned
\pset tuples_only on
\o :results
SELECT result::text FROM validator_oracle.results ORDER BY n;
\o
SELECT format('orderflow: %s definitions, %s refused by validate_definition, %s created',
              count(*), count(*) FILTER (WHERE (result->>'refused')::boolean),
              count(*) FILTER (WHERE (result->>'created')::boolean))
  FROM validator_oracle.results;
