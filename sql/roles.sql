--
-- roles: what sql/security.sql does not already show.  (security.sql covers
-- tasks running as the starting role, EXECUTE checked at creation and at
-- every run (States.Permissions once revoked), row level security on
-- executions and history, stop/update/delete of others' objects, SQL text
-- in Resources.)  Here:
--   1. search_path attacks: a role that puts a schema of its own before
--      pg_catalog, with its own "=" operators for text and uuid and its own
--      functions named like built-ins, calls every API function; none of its
--      objects ever runs (before the fix in OfExecQuery they ran inside
--      orderflow's queries as the extension owner, a superuser);
--   2. every orderflow function written in SQL or PL/pgSQL pins its
--      search_path; the C functions pin it for their own queries;
--   3. the extension is not trusted: CREATE EXTENSION needs a superuser
--      (README "Security" says why).
--
CREATE ROLE regress_of_mallory;
CREATE SCHEMA mal AUTHORIZATION regress_of_mallory;
-- where the attacker's objects record that they ran, and as whom
CREATE TABLE public.mal_ran (who text, superuser boolean, what text);
GRANT INSERT, SELECT, DELETE ON public.mal_ran TO PUBLIC;
CREATE FUNCTION public.mal_try(sql text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN 'ERROR ' || SQLSTATE || ': ' ||
        regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g');
END
$$;
CREATE FUNCTION public.mal_echo(input jsonb) RETURNS jsonb LANGUAGE sql AS 'SELECT input';

SET ROLE regress_of_mallory;
CREATE FUNCTION mal.note(what text) RETURNS void LANGUAGE sql AS $$
  INSERT INTO public.mal_ran
  SELECT current_user, (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user), what
$$;
CREATE FUNCTION mal.text_eq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('text ='); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION mal.uuid_eq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('uuid ='); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE FUNCTION mal.int_lt(a integer, b integer) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('int <'); RETURN a OPERATOR(pg_catalog.<) b; END $$;
CREATE OPERATOR mal.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mal.text_eq);
CREATE OPERATOR mal.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = mal.uuid_eq);
CREATE OPERATOR mal.< (LEFTARG = integer, RIGHTARG = integer, FUNCTION = mal.int_lt);
-- built-in names, with exactly the built-ins' argument types
CREATE FUNCTION mal.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION mal.count(anyelement) RETURNS bigint LANGUAGE sql AS 'SELECT 1::bigint';
CREATE FUNCTION mal.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('pg_has_role'); RETURN true; END $$;
CREATE FUNCTION mal.jsonb_build_object(VARIADIC "any") RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN PERFORM mal.note('jsonb_build_object'); RETURN '{}'; END $$;

-- the trap works: an ordinary query with this search_path runs mallory's "="
SET search_path = mal, pg_catalog;
SELECT 'a'::text = 'a'::text AS trap_works;
SELECT what, superuser FROM public.mal_ran;
DELETE FROM public.mal_ran;

-- every API function, with the trap set
SELECT orderflow.create_state_machine('mal_sm', '{"StartAt": "W", "States": {
  "W": {"Type": "Wait", "Seconds": 3600, "Next": "T"},
  "T": {"Type": "Task", "Resource": "public.mal_echo", "End": true}}}');
SELECT orderflow.update_state_machine('mal_sm', '{"StartAt": "W", "States": {
  "W": {"Type": "Wait", "Seconds": 3600, "Next": "T"},
  "T": {"Type": "Task", "Resource": "public.mal_echo", "End": true}}}');
SELECT count(*) AS problems FROM orderflow.validate_definition('{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.register_resource('mal:echo', 'public.mal_echo(jsonb)');
SELECT orderflow.start_execution('mal_sm', '{"n": 1}', 'one') AS one \gset
-- the same name and input again returns the same execution (this also
-- shows start_execution's result survives its SPI_finish(): it used to be
-- freed memory, read as all zeros when the call sat inside an expression)
SELECT orderflow.start_execution('mal_sm', '{"n": 1}', 'one')::text AS again \gset
SELECT pg_catalog.texteq(orderflow.start_execution('mal_sm', '{"n": 1}', 'one')::text, :'one') AS same_in_expression;
SELECT status, name FROM orderflow.describe_execution(:'one');
SELECT orderflow.wait_for_execution(:'one', '10 ms');
SELECT orderflow.stop_execution(:'one', 'Mal.Stopped');
SELECT public.mal_try(format('SELECT orderflow.redrive_execution(%L)', :'one')) IS NOT NULL AS redrive_tried;
SELECT public.mal_try('SELECT count(*) FROM orderflow.list_executions(''mal_sm'')') IS NOT NULL AS list_tried;
SELECT orderflow.run_pending() >= 0 AS ran;
SELECT public.mal_try('SELECT orderflow.delete_state_machine(''mal_sm'', force => true)');
RESET search_path;
RESET ROLE;
SELECT :'again' = :'one' AS same_again;
SELECT status, error FROM orderflow.executions WHERE id = :'one';
-- none of mallory's objects ran, as mallory or as anybody else
SELECT who, superuser, what, count(*) FROM public.mal_ran GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;

--
-- Every function of the extension written in SQL or PL/pgSQL pins its
-- search_path (no rows expected)
--
SELECT p.proname, l.lanname
  FROM pg_proc AS p JOIN pg_language AS l ON l.oid = p.prolang
 WHERE p.pronamespace = 'orderflow'::regnamespace
   AND l.lanname NOT IN ('c', 'internal')
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c WHERE c LIKE 'search_path=%')
 ORDER BY 1;
-- and none is SECURITY DEFINER (the C functions switch to the owner only
-- for their own, pinned, queries)
SELECT p.proname FROM pg_proc AS p
 WHERE p.pronamespace = 'orderflow'::regnamespace AND p.prosecdef ORDER BY 1;

--
-- Not a trusted extension: orderflow starts a launcher and workers that
-- connect as the bootstrap superuser and switch to each execution's
-- owner; a non-superuser who could create it could also pick
-- orderflow.database and run work in it.
--
SELECT name, version, superuser, trusted FROM pg_available_extension_versions WHERE name = 'orderflow' ORDER BY version;

-- leave no rows owned by the role about to be dropped
DELETE FROM orderflow.execution_history WHERE owner = 'regress_of_mallory'::regrole;
DELETE FROM orderflow.executions WHERE owner = 'regress_of_mallory'::regrole;
DELETE FROM orderflow.resources WHERE owner = 'regress_of_mallory'::regrole;
DROP SCHEMA mal CASCADE;
DROP TABLE public.mal_ran;
DROP FUNCTION public.mal_try(text);
DROP FUNCTION public.mal_echo(jsonb);
DROP ROLE regress_of_mallory;
