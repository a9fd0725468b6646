--
-- lambda_invoke: the Lambda optimized integration.  Tasks on
-- "arn:aws:states:::lambda:invoke" name their function in
-- Parameters.FunctionName (bound through register_resource) and pass it
-- Parameters.Payload; the result is Lambda's response (Payload inside).
-- Covered: every FunctionName form and the qualifier rules, the result
-- shape, error names with Retry/Catch, refusals with their JSON location,
-- .waitForTaskToken, FunctionName.$ resolved for the execution's owner
-- (attacked from an unprivileged role), and the seed rewritten in this
-- form running the same orders as the bare-ARN seed.  Request ids are
-- random: they are compared, not printed.
--
\set SHOW_CONTEXT never
CREATE SCHEMA lam;
GRANT USAGE ON SCHEMA lam TO PUBLIC;
CREATE TABLE lam.calls (n serial, fn text, who text, input jsonb);
GRANT ALL ON lam.calls TO PUBLIC;
GRANT ALL ON SEQUENCE lam.calls_n_seq TO PUBLIC;
CREATE FUNCTION lam.echo(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lam.calls (fn, who, input) VALUES ('echo', current_user, input);
    RETURN jsonb_build_object('echo', input);
END $$;
CREATE FUNCTION lam.pinned(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '"pinned prod"'::jsonb $$;
CREATE FUNCTION lam.greet(input jsonb, context jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT jsonb_build_object('hello', input ->> 'name', 'state', context -> 'State' ->> 'Name') $$;
-- fails (as a Lambda function throws) in its first fail_times attempts
CREATE FUNCTION lam.flaky(input jsonb, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE k integer := (context -> 'State' ->> 'RetryCount')::int;
BEGIN
    IF k < (input ->> 'fail_times')::int THEN
        IF input ->> 'how' = 'named' THEN
            PERFORM orderflow.raise_error('PaymentDeclined', 'card 4242 declined');
        ELSIF input ->> 'how' = 'service' THEN
            RAISE EXCEPTION 'out of widgets' USING ERRCODE = 'insufficient_resources';
        ELSE
            RAISE EXCEPTION 'division by zero, sort of' USING ERRCODE = 'division_by_zero';
        END IF;
    END IF;
    RETURN jsonb_build_object('attempts', k + 1);
END $$;
CREATE FUNCTION lam.not_a_task(input jsonb) RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$;

SELECT orderflow.register_resource('arn:aws:lambda:us-east-1:111122223333:function:echo', 'lam.echo(jsonb)'::regprocedure),
       orderflow.register_resource('arn:aws:lambda:us-east-1:111122223333:function:pinned:prod', 'lam.pinned(jsonb)'::regprocedure),
       orderflow.register_resource('greet', 'lam.greet(jsonb,jsonb)'::regprocedure),
       orderflow.register_resource('flaky', 'lam.flaky(jsonb,jsonb)'::regprocedure);

-- a lambda:invoke Task with FunctionName f and Payload.$ = $
CREATE FUNCTION lam.def(fname text, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object('StartAt', 'T', 'States', jsonb_build_object('T',
        jsonb_build_object('Type', 'Task', 'Resource', 'arn:aws:states:::lambda:invoke',
                           'Parameters', jsonb_build_object('FunctionName', fname, 'Payload.$', '$'),
                           'End', true) || extra))
$$;
-- what a definition binds, or its problems
CREATE FUNCTION lam.check(d jsonb) RETURNS TABLE (code text, location text, message text) LANGUAGE sql AS $$
    SELECT code, location, message FROM orderflow.validate_definition(d)
$$;
CREATE FUNCTION lam.bind(name text, d jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.create_state_machine(name, d);
    RETURN (SELECT resources FROM orderflow.state_machine_versions WHERE state_machine = name);
END $$;
-- the result without its random request ids, and whether they agree
CREATE FUNCTION lam.shape(r jsonb) RETURNS jsonb LANGUAGE sql AS $$
    SELECT jsonb_build_object(
        'result', r #- '{SdkResponseMetadata,RequestId}'
                    #- '{SdkHttpMetadata,HttpHeaders,x-amzn-RequestId}'
                    #- '{SdkHttpMetadata,AllHttpHeaders,x-amzn-RequestId}',
        'request_ids_agree', r -> 'SdkResponseMetadata' ->> 'RequestId'
                             = r -> 'SdkHttpMetadata' -> 'HttpHeaders' ->> 'x-amzn-RequestId'
                         AND r -> 'SdkHttpMetadata' -> 'AllHttpHeaders' -> 'x-amzn-RequestId' ->> 0
                             = r -> 'SdkResponseMetadata' ->> 'RequestId'
                         AND r -> 'SdkResponseMetadata' ->> 'RequestId' ~ '^[0-9a-f-]{36}$')
$$;

-- 1. The result: Lambda's response, the function's result as its Payload
SELECT lam.bind('lam_echo', lam.def('arn:aws:lambda:us-east-1:111122223333:function:echo'));
SELECT jsonb_pretty(lam.shape(orderflow.start_sync_execution('lam_echo', '{"order_id": 7}')));
SELECT fn, input FROM lam.calls ORDER BY n;
-- OutputPath $.Payload gives the bare-ARN form's result; no Payload: {}
SELECT lam.bind('lam_echo_out', lam.def('arn:aws:lambda:us-east-1:111122223333:function:echo',
                                        '{"OutputPath": "$.Payload"}'));
SELECT orderflow.start_sync_execution('lam_echo_out', '{"a": [1, 2]}');
SELECT orderflow.create_state_machine('lam_nopayload', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "greet"},
  "ResultSelector": {"p.$": "$.Payload", "v.$": "$.ExecutedVersion", "s.$": "$.StatusCode"}, "End": true}}}');
SELECT orderflow.start_sync_execution('lam_nopayload', '{"name": "ignored"}');

-- 2. FunctionName forms and qualifiers.  Registrations tried, best first:
-- the FunctionName as written (plus a Qualifier parameter), the unqualified
-- full ARN, NAME:QUALIFIER, NAME.  ExecutedVersion: a numeric qualifier,
-- else $LATEST.
CREATE TABLE lam.forms AS SELECT f, i, lam.bind('lam_form_' || i, lam.def(f)) AS bindings
  FROM unnest(ARRAY[
    'arn:aws:lambda:us-east-1:111122223333:function:echo',          -- exact ARN
    'arn:aws:lambda:us-east-1:111122223333:function:echo:7',        -- version: unqualified ARN serves it
    'arn:aws:lambda:us-east-1:111122223333:function:echo:live',     -- alias: the same
    'arn:aws:lambda:us-east-1:111122223333:function:pinned:prod',   -- a qualified registration
    'greet',                                                        -- bare name
    'greet:$LATEST',
    'greet:12',
    '444455556666:function:greet',                                  -- partial ARN
    'arn:aws:lambda:eu-west-1:999999999999:function:greet:live',    -- bare name: any region, account
    'arn:aws-cn:lambda:cn-north-1:999999999999:function:greet'
  ]) WITH ORDINALITY AS t(f, i);
SELECT f AS function_name, bindings,
       orderflow.start_sync_execution('lam_form_' || i, '{"name": "x"}') -> 'ExecutedVersion' AS executed_version
  FROM lam.forms ORDER BY i;
-- Qualifier as a parameter
SELECT orderflow.create_state_machine('lam_qualifier', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "greet", "Qualifier": "3",
  "Payload": {"name": "q"}, "InvocationType": "RequestResponse", "LogType": "None", "ClientContext": "e30="},
  "End": true}}}');
SELECT resources FROM orderflow.state_machine_versions WHERE state_machine = 'lam_qualifier';
SELECT r -> 'ExecutedVersion' AS version, r -> 'Payload' AS payload
  FROM orderflow.start_sync_execution('lam_qualifier') AS r;
-- the registration of a qualified ARN serves only that qualifier
SELECT * FROM lam.check(lam.def('arn:aws:lambda:us-east-1:111122223333:function:pinned:beta'));
SELECT * FROM lam.check(lam.def('arn:aws:lambda:us-east-1:111122223333:function:pinned'));
-- another region or account of a full-ARN registration is another function
SELECT * FROM lam.check(lam.def('arn:aws:lambda:us-west-2:111122223333:function:echo'));

-- 3. Refused when the definition is created, with the JSON location
SELECT * FROM lam.check(lam.def('nobody'));
SELECT orderflow.create_state_machine('lam_bad', lam.def('nobody'));
SELECT f, (SELECT array_agg(code || ' at ' || location || ': ' || message) FROM lam.check(lam.def(f))) AS problems
  FROM unnest(ARRAY['', 'bad name!', 'a:b:c', 'arn:aws:lambda:us-east-1:1:function',
                    'arn:aws:s3:us-east-1:1:function:x', 'greet:two words', 'greet:a:b',
                    repeat('x', 65)]) AS f;
SELECT * FROM lam.check('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": true}}}');
SELECT * FROM lam.check('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
  "Parameters": {"Payload.$": "$"}, "End": true}}}');
SELECT * FROM lam.check('{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
  "Parameters": {"FunctionName": "greet", "FunctionName.$": "$.f"}, "End": true}}}');
SELECT * FROM lam.check(lam.def('greet', '{"Parameters": {"FunctionName": "greet", "InvocationType": "Event"}}'));
SELECT * FROM lam.check(lam.def('greet', '{"Parameters": {"FunctionName": "greet", "InvocationType": "DryRun"}}'));
SELECT * FROM lam.check(lam.def('greet', '{"Parameters": {"FunctionName": "greet:2", "Qualifier": "3"}}'));
SELECT * FROM lam.check(lam.def('greet', '{"Parameters": {"FunctionName": "greet", "Qualifier.$": "$.q", "Foo": 1, "LogType": "Verbose", "ClientContext": 5}}'));
SELECT * FROM lam.check(lam.def('greet', '{"Parameters": {"FunctionName": 42}}'));
SELECT * FROM lam.check('{"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true, "Branches": [
  {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
   "Parameters": {"FunctionName": "nobody"}, "End": true}}}]}}}');
SELECT orderflow.register_resource('not_a_task', 'lam.not_a_task(jsonb)'::regprocedure);
SELECT * FROM lam.check(lam.def('not_a_task'));
-- a FunctionName's binding key may not name another function than a bare
-- Resource that happens to be the same string
SELECT orderflow.register_resource('lambda:greet', 'lam.echo(jsonb)'::regprocedure);
SELECT code, location, message FROM lam.check('{"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "lambda:greet", "Next": "B"},
  "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "greet"}, "End": true}}}');
SELECT orderflow.unregister_resource('lambda:greet');
-- the placeholders of a template are words like any other
SELECT orderflow.register_resource('arn:aws:lambda:REGION:ACCOUNT_ID:function:Templated', 'lam.echo(jsonb)'::regprocedure);
SELECT lam.bind('lam_templated', lam.def('arn:aws:lambda:REGION:ACCOUNT_ID:function:Templated:1'));

-- 4. Errors.  A function error keeps its name; its cause is the error
-- payload Lambda shows.  Retry and Catch match these names.
CREATE FUNCTION lam.failure(sm text, input jsonb, OUT error text, OUT cause text) LANGUAGE plpgsql AS $$
BEGIN
    PERFORM orderflow.start_sync_execution(sm, input);
EXCEPTION WHEN SQLSTATE 'OF002' THEN
    GET STACKED DIAGNOSTICS error = MESSAGE_TEXT, cause = PG_EXCEPTION_DETAIL;
    IF cause LIKE '{%' THEN
        cause := (cause::jsonb - 'requestId' || jsonb_build_object('requestId_is_uuid',
                  (cause::jsonb ->> 'requestId') ~ '^[0-9a-f-]{36}$'))::text;
    ELSE
        cause := regexp_replace(cause, '[0-9a-f-]{36}', '<id>');
    END IF;
END $$;
SELECT lam.bind('lam_flaky', lam.def('flaky'));
SELECT * FROM lam.failure('lam_flaky', '{"how": "named", "fail_times": 1, "k": 1}');
SELECT * FROM lam.failure('lam_flaky', '{"how": "sql", "fail_times": 1, "k": 2}');
-- Catch: the error output is {"Error", "Cause"} with the cause as text
SELECT orderflow.create_state_machine('lam_catch2', jsonb_set(jsonb_set(lam.def('flaky',
  '{"Catch": [{"ErrorEquals": ["PaymentDeclined"], "Next": "Caught"}]}') #- '{States,T,End}',
  '{States,T,Next}', '"Caught"'), '{States,Caught}', '{"Type": "Pass", "End": true}'));
SELECT r ->> 'Error' AS error, (r ->> 'Cause')::jsonb - 'requestId' AS cause
  FROM orderflow.start_sync_execution('lam_catch2', '{"how": "named", "fail_times": 1, "k": 3}') AS r;
-- Retry as AWS recommends for Lambda's transient errors: an engine error
-- (SQLSTATE class 53) is Lambda.ServiceException and is retried
SELECT lam.bind('lam_retry', lam.def('flaky', '{"Retry": [{"ErrorEquals": ["Lambda.ClientExecutionTimeoutException",
  "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
  "IntervalSeconds": 1, "MaxAttempts": 2, "BackoffRate": 2}]}'));
SELECT orderflow.start_execution('lam_retry', '{"how": "service", "fail_times": 1}') AS r1,
       orderflow.start_execution('lam_retry', '{"how": "service", "fail_times": 5}') AS r2 \gset
SELECT orderflow.wait_for_execution(:'r1', '60 s') AS r1, orderflow.wait_for_execution(:'r2', '60 s') AS r2;
SELECT output -> 'Payload' AS payload FROM orderflow.describe_execution(:'r1');
SELECT status, error, regexp_replace(cause, '[0-9a-f-]{36}', '<id>') AS cause FROM orderflow.describe_execution(:'r2');
SELECT e.input ->> 'fail_times' AS fail_times, h.type, h.details ->> 'error' AS error,
       h.details ->> 'retryAttempt' AS attempt
  FROM orderflow.execution_history h JOIN orderflow.executions e ON e.id = h.execution_id
 WHERE e.id IN (:'r1', :'r2') AND h.type IN ('TaskFailed', 'RetryScheduled', 'TaskSucceeded')
 ORDER BY 1, h.event_id;

-- a static FunctionName whose function was dropped: as for a bare Resource,
-- orderflow.TaskFunctionMissing (create it again and redrive)
CREATE FUNCTION lam.doomed(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '1'::jsonb $$;
SELECT orderflow.register_resource('doomed', 'lam.doomed(jsonb)'::regprocedure);
SELECT lam.bind('lam_doomed', lam.def('doomed'));
DROP FUNCTION lam.doomed(jsonb);
SELECT orderflow.start_sync_execution('lam_doomed');

-- 5. FunctionName.$: resolved when the task runs, for the execution's owner
SELECT orderflow.create_state_machine('lam_dynamic', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName.$": "$.fn", "Payload": {"name": "dyn"}},
  "ResultSelector": {"p.$": "$.Payload", "v.$": "$.ExecutedVersion"},
  "Catch": [{"ErrorEquals": ["Lambda.ResourceNotFoundException", "Lambda.InvalidParameterValueException"], "Next": "NotFound"}],
  "End": true}, "NotFound": {"Type": "Pass", "End": true}}}');
SELECT orderflow.start_sync_execution('lam_dynamic', '{"fn": "greet:5"}');
SELECT orderflow.start_sync_execution('lam_dynamic', '{"fn": "arn:aws:lambda:us-east-1:111122223333:function:echo"}') -> 'p';
SELECT f AS fn, r ->> 'Error' AS error, regexp_replace(r ->> 'Cause', '[0-9a-f-]{36}', '<id>') AS cause
  FROM unnest(ARRAY['nobody', 'lam.echo', 'x''; DROP TABLE lam.calls; --']) AS f,
       orderflow.start_sync_execution('lam_dynamic', jsonb_build_object('fn', f)) AS r;
SELECT orderflow.start_sync_execution('lam_dynamic', '{"fn": 42}') ->> 'Error' AS error;

-- 6. The attack: an unprivileged role points FunctionName.$ at another
-- role's registration, at a superuser's whose function it may not run,
-- and at its own.
CREATE ROLE regress_lam_alice;
CREATE ROLE regress_lam_mallory;
CREATE SCHEMA lam_alice AUTHORIZATION regress_lam_alice;
GRANT USAGE ON SCHEMA lam_alice TO PUBLIC;
SET ROLE regress_lam_alice;
CREATE FUNCTION lam_alice.secret(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lam.calls (fn, who, input) VALUES ('alice.secret', current_user, input);
    RETURN '{"secret": "alice"}';
END $$;
SELECT orderflow.register_resource('alice_fn', 'lam_alice.secret(jsonb)'::regprocedure);
RESET ROLE;
CREATE FUNCTION lam.admin_only(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT '"admin"'::jsonb $$;
REVOKE EXECUTE ON FUNCTION lam.admin_only(jsonb) FROM PUBLIC;
SELECT orderflow.register_resource('admin_fn', 'lam.admin_only(jsonb)'::regprocedure);
SET ROLE regress_lam_mallory;
SELECT orderflow.register_resource('mallory_fn', 'lam.echo(jsonb)'::regprocedure);
-- static: refused at creation
SELECT code, location FROM lam.check(lam.def('alice_fn'));
SELECT code, location, message FROM lam.check(lam.def('admin_fn'));
-- dynamic: only what mallory may use is found; the rest is not found
SELECT orderflow.create_state_machine('lam_mallory', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName.$": "$.fn", "Payload.$": "$"},
  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Failed"}], "OutputPath": "$.Payload", "End": true},
  "Failed": {"Type": "Pass", "End": true}}}');
SELECT f AS fn, r ->> 'Error' AS error, r - 'Cause' - 'Error' AS output
  FROM unnest(ARRAY['alice_fn', 'arn:aws:lambda:us-east-1:1:function:alice_fn', 'admin_fn', 'mallory_fn']) AS f,
       orderflow.start_sync_execution('lam_mallory', jsonb_build_object('fn', f)) AS r;
RESET ROLE;
SELECT who, input ->> 'fn' AS fn FROM lam.calls WHERE fn IN ('alice.secret', 'echo') AND input ? 'fn' ORDER BY n;
SELECT count(*) AS alice_secret_calls FROM lam.calls WHERE fn = 'alice.secret';
-- alice herself (the owner of the registration) reaches it
SET ROLE regress_lam_alice;
SELECT orderflow.create_state_machine('lam_alice', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName.$": "$.fn", "Payload.$": "$"},
  "OutputPath": "$.Payload", "End": true}}}');
SELECT orderflow.start_sync_execution('lam_alice', '{"fn": "alice_fn"}');
RESET ROLE;

-- 7. .waitForTaskToken: the Payload carries $$.Task.Token; the state's
-- result is what send_task_success sends
CREATE TABLE lam.tokens (sm text, token text);
CREATE FUNCTION lam.remember(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO lam.tokens VALUES (input ->> 'sm', input ->> 'token') RETURNING '{"queued": true}'::jsonb
$$;
SELECT orderflow.register_resource('arn:aws:lambda:us-east-1:111122223333:function:Carrier', 'lam.remember(jsonb)'::regprocedure);
SELECT orderflow.create_state_machine('lam_wait', '{"StartAt": "T", "States": {"T": {"Type": "Task",
  "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
  "Parameters": {"FunctionName": "arn:aws:lambda:us-east-1:111122223333:function:Carrier",
                 "Payload": {"sm": "lam_wait", "token.$": "$$.Task.Token"}},
  "TimeoutSeconds": 60, "End": true}}}');
SELECT orderflow.start_execution('lam_wait', '{}') AS ew \gset
CREATE FUNCTION lam.token(name text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE t text;
BEGIN
    FOR i IN 1..400 LOOP
        SELECT token INTO t FROM lam.tokens WHERE sm = name;
        IF t IS NOT NULL THEN RETURN t; END IF;
        PERFORM pg_sleep(0.05);
    END LOOP;
    RAISE EXCEPTION 'no token for %', name;
END $$;
SELECT length(lam.token('lam_wait')) > 40 AS got_token;
SELECT orderflow.send_task_success(lam.token('lam_wait'), '{"tracking": "1Z999"}');
SELECT orderflow.wait_for_execution(:'ew', '60 s') AS status;
SELECT status, output FROM orderflow.describe_execution(:'ew');
SELECT type FROM orderflow.execution_history WHERE execution_id = :'ew' ORDER BY event_id;
-- the token is not recorded in the history
SELECT count(*) AS history_rows_with_token FROM orderflow.execution_history
 WHERE execution_id = :'ew' AND details::text LIKE '%' || lam.token('lam_wait') || '%';
-- a wait task is refused by start_sync_execution, as the bare form is
SELECT orderflow.start_sync_execution('lam_wait', '{}');

-- 8. The seed in the lambda:invoke form runs the same orders to the same
-- result as the seed itself (the document's bare function ARNs)
\set ECHO none
SET client_min_messages = warning;
\i demo/order_fulfillment.sql
RESET client_min_messages;
\set ECHO all
\set seed_file `cat demo/order_fulfillment.asl.json`
-- every Task rewritten: Resource lambda:invoke, FunctionName its ARN,
-- Payload.$ the state input, OutputPath $.Payload the function's result
SELECT orderflow.create_state_machine('order_fulfillment_lambda', jsonb_set(:'seed_file'::jsonb, '{States}',
  (SELECT jsonb_object_agg(key, (value - 'Resource') || jsonb_build_object(
            'Resource', 'arn:aws:states:::lambda:invoke',
            'Parameters', jsonb_build_object('FunctionName', value ->> 'Resource', 'Payload.$', '$'),
            'OutputPath', '$.Payload'))
     FROM jsonb_each(:'seed_file'::jsonb -> 'States'))));
SELECT jsonb_pretty(definition -> 'States' -> 'CheckInventory'), resources
  FROM orderflow.state_machine_versions WHERE state_machine = 'order_fulfillment_lambda';
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'Newark'), ('WEST', 'Reno');
INSERT INTO fulfillment.products (sku, name) VALUES ('A', 'apples'), ('B', 'bananas'), ('C', 'cherries'), ('D', 'dates');
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand) VALUES
    ('A', 'EAST', 100), ('B', 'EAST', 50), ('C', 'WEST', 0), ('D', 'EAST', 5);
-- the same orders twice: 5xx through the seed, 6xx through its lambda:invoke form
SELECT count(fulfillment.create_order(c, i::jsonb, base + k)) AS orders
  FROM (VALUES (1, 'ann', '[{"sku": "A", "qty": 2}, {"sku": "B", "qty": 1}]'),
               (2, 'ben', '[{"sku": "A", "qty": 1}, {"sku": "C", "qty": 3}]'),
               (3, 'cat', '[{"sku": "B", "qty": 4}]'),
               (4, 'dan', '[{"sku": "D", "qty": 200}]'),
               (5, 'eve', '[{"sku": "B", "qty": 1}]')) AS o(k, c, i),
       (VALUES (500), (600)) AS b(base);
SELECT fulfillment.set_status(505, 'CANCELLED', 'changed her mind'),
       fulfillment.set_status(605, 'CANCELLED', 'changed her mind');
CREATE TABLE lam.seed_runs AS
SELECT base, k, orderflow.start_execution(sm, jsonb_build_object('order_id', base + k), sm || '-' || (base + k)) AS id
  FROM (VALUES (500, 'order_fulfillment'), (600, 'order_fulfillment_lambda')) AS s(base, sm),
       generate_series(1, 5) AS k;
SELECT count(*) FILTER (WHERE orderflow.wait_for_execution(id, '90 s') IN ('SUCCEEDED', 'FAILED')) AS finished
  FROM lam.seed_runs;
-- per order: status, error, cause, output (without what differs by order
-- id or by which shipment came first); the two forms agree, and the
-- lambda:invoke form's causes are Lambda error payloads with the same message
CREATE FUNCTION lam.comparable(o jsonb) RETURNS jsonb LANGUAGE sql AS
$$ SELECT o - 'order_id' #- '{shipment,tracking}' #- '{shipment,shipment_id}' $$;
SELECT r.k, d.status, d.error, d.cause, lam.comparable(d.output) AS output
  FROM lam.seed_runs AS r, orderflow.describe_execution(r.id) AS d
 WHERE r.base = 500 ORDER BY r.k;
SELECT r5.k, d5.status = d6.status AS same_status, d5.error IS NOT DISTINCT FROM d6.error AS same_error,
       d5.cause IS NOT DISTINCT FROM replace(d6.cause::jsonb ->> 'errorMessage', (600 + r5.k)::text, (500 + r5.k)::text) AS same_cause,
       d6.cause::jsonb ->> 'errorType' IS NOT DISTINCT FROM d5.error AS cause_names_error,
       lam.comparable(d5.output) IS NOT DISTINCT FROM lam.comparable(d6.output) AS same_output
  FROM lam.seed_runs AS r5 JOIN lam.seed_runs AS r6 ON r6.base = 600 AND r6.k = r5.k,
       orderflow.describe_execution(r5.id) AS d5, orderflow.describe_execution(r6.id) AS d6
 WHERE r5.base = 500 ORDER BY r5.k;
-- the order tables: the same rows, order id for order id
SELECT o5.order_id, o5.status, o6.status = o5.status AS same_status,
       (SELECT array_agg(to_status || ':' || coalesce(note, '') ORDER BY seq) FROM fulfillment.order_status_log WHERE order_id = o5.order_id)
     = (SELECT array_agg(to_status || ':' || coalesce(note, '') ORDER BY seq) FROM fulfillment.order_status_log WHERE order_id = o6.order_id)
       AS same_status_log,
       (SELECT array_agg(sku || 'x' || qty ORDER BY sku) FROM fulfillment.shipment_lines l JOIN fulfillment.shipments s USING (shipment_id) WHERE s.order_id = o5.order_id)
       IS NOT DISTINCT FROM
       (SELECT array_agg(sku || 'x' || qty ORDER BY sku) FROM fulfillment.shipment_lines l JOIN fulfillment.shipments s USING (shipment_id) WHERE s.order_id = o6.order_id)
       AS same_shipment
  FROM fulfillment.orders AS o5 JOIN fulfillment.orders AS o6 ON o6.order_id = o5.order_id + 100
 WHERE o5.order_id BETWEEN 501 AND 505 ORDER BY o5.order_id;
-- the step sequences agree too
SELECT r5.k, (SELECT array_agg(type || '/' || coalesce(state_name, '') ORDER BY event_id) FROM orderflow.execution_history WHERE execution_id = r5.id)
           = (SELECT array_agg(type || '/' || coalesce(state_name, '') ORDER BY event_id) FROM orderflow.execution_history WHERE execution_id = r6.id)
         AS same_history
  FROM lam.seed_runs AS r5 JOIN lam.seed_runs AS r6 ON r6.base = 600 AND r6.k = r5.k
 WHERE r5.base = 500 ORDER BY r5.k;

-- clean up what other tests might see
SELECT count(orderflow.delete_state_machine(name, force => true)) >= 0 AS deleted
  FROM orderflow.state_machines WHERE (name LIKE 'lam\_%' OR name = 'order_fulfillment_lambda') AND deleted_at IS NULL;
