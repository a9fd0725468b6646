# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 finding 11 and attacks beyond the issue's list:
# task tokens never reach the history in plain text and refusals never
# name the owning role; stolen or guessed tokens complete nothing; a task
# cannot take back the worker's identity (RESET ROLE, SET ROLE,
# SET SESSION AUTHORIZATION, set_config('role')), cannot kill or cancel
# the workers, cannot leave session settings behind for the next role's
# task in the same worker (search_path, TimeZone, app.*, statement_timeout,
# default_transaction_read_only), and cannot escape TimeoutSeconds by
# catching query_canceled; a role's own = operators and built-in look-alikes
# first in its search_path never run inside orderflow's API under another
# identity; the views show only the caller's work.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use Hostile;

my $node = Hostile::cluster('tokens');
Hostile::role($node, $_) for qw(alice mallory);
my ($rc, $out, $err);

# --- 11: tokens in history, and refusals naming the owner ---
$node->safe_psql('postgres', q{
CREATE TABLE alice.tokens (token text);
ALTER TABLE alice.tokens OWNER TO alice;});
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.ask(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO alice.tokens VALUES (input->>'token') RETURNING '{}'::jsonb $$;
SELECT orderflow.create_state_machine('alice_cb', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "alice.ask.waitForTaskToken",
        "Parameters": {"token.$": "$$.Task.Token", "card": "alice-card-5555"},
        "TimeoutSeconds": 300, "End": true}}}');});
my $cb = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_cb')");
ok(Hostile::poll($node, "SELECT count(*) = 1 FROM alice.tokens", 15), 'the callback task got its token');
my $token = Hostile::su($node, 'SELECT token FROM alice.tokens');
Hostile::lacks(Hostile::all_about($node, $cb), qr/\Q$token\E/,
	'the plain task token is not in the history (TaskScheduled parameters) nor in the execution row');

($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.send_task_success('$token', '{\"stolen\": true}')");
isnt($rc, 0, "mallory cannot complete alice's task with her stolen token");
Hostile::lacks($err, qr/\balice\b/, "the refusal of a foreign token does not name the owning role");
Hostile::as($node, 'mallory', "SELECT orderflow.send_task_heartbeat('$token')");
Hostile::as($node, 'mallory', "SELECT orderflow.send_task_failure('$token', 'Stolen', 'by mallory')");
# guessed tokens: random ones, and alice's execution id with a random secret
my $prefix = substr($token, 0, 22);
my $guesses = join("\n", map {
	my $g = ($_ % 2 ? $prefix : '') . join('', map { ('A' .. 'Z', 'a' .. 'z', 0 .. 9, '-', '_')[ int rand 64 ] } 1 .. 64);
	"SELECT orderflow.send_task_success('" . substr($g, 0, 64) . "', '{}');"
} 1 .. 50);
$node->psql('postgres', $guesses, on_error_stop => 0, extra_params => [ '-U', 'mallory' ]);
is(Hostile::su($node, "SELECT status FROM orderflow.task_tokens WHERE execution_id = '$cb'"),
	'started', "stolen and 50 guessed tokens changed nothing: alice's task still waits");
Hostile::as_ok($node, 'alice', "SELECT orderflow.send_task_success('$token', '{\"ok\": 1}')");
is(Hostile::wait_done($node, $cb, 15), 'SUCCEEDED', 'alice herself completes it');

# --- a task cannot take the worker's identity back ---
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.escape(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE r text := '';
BEGIN
  BEGIN RESET ROLE; r := r || ' reset:' || current_user; EXCEPTION WHEN OTHERS THEN r := r || ' reset:refused'; END;
  BEGIN SET ROLE postgres; r := r || ' set:' || current_user; EXCEPTION WHEN OTHERS THEN r := r || ' set:refused'; END;
  BEGIN SET SESSION AUTHORIZATION DEFAULT; r := r || ' sa:' || current_user; EXCEPTION WHEN OTHERS THEN r := r || ' sa:refused'; END;
  BEGIN PERFORM pg_catalog.set_config('role', 'none', false); r := r || ' cfg:' || current_user; EXCEPTION WHEN OTHERS THEN r := r || ' cfg:refused'; END;
  BEGIN PERFORM pg_catalog.pg_terminate_backend(pg_catalog.pg_backend_pid()); r := r || ' kill:done'; EXCEPTION WHEN OTHERS THEN r := r || ' kill:refused'; END;
  BEGIN PERFORM pg_catalog.pg_cancel_backend(p::int) FROM pg_catalog.jsonb_array_elements_text(input->'pids') p; r := r || ' cancel:done'; EXCEPTION WHEN OTHERS THEN r := r || ' cancel:refused'; END;
  INSERT INTO mallory.probe (who, what) VALUES (current_user, 'escape' || r);
  RETURN pg_catalog.to_jsonb(r);
END $$;
SELECT orderflow.create_state_machine('mal_escape', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.escape", "End": true}}}');});
my @pids = Hostile::worker_pids($node);
my $id = Hostile::as_ok($node, 'mallory',
	"SELECT orderflow.start_execution('mal_escape', '{\"pids\": [" . join(',', @pids) . "]}')");
Hostile::wait_done($node, $id, 15);
is(Hostile::exec_col($node, $id, 'output'),
	'" reset:refused set:refused sa:refused cfg:refused kill:refused cancel:refused"',
	'RESET ROLE, SET ROLE, SET SESSION AUTHORIZATION, set_config(role), terminating and cancelling workers: all refused in a task');
is(join(',', Hostile::worker_pids($node)), join(',', @pids), 'the workers are the same processes');
Hostile::no_foreign_probe($node, 'mallory', 'identity escape');

# --- a task leaves no session settings behind for the next role's task ---
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.settings(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_catalog.set_config('app.tenant', 'mallory-tenant', false);
  PERFORM pg_catalog.set_config('TimeZone', 'Pacific/Kiritimati', false);
  PERFORM pg_catalog.set_config('search_path', 'mallory, pg_catalog', false);
  PERFORM pg_catalog.set_config('statement_timeout', '1', false);
  PERFORM pg_catalog.set_config('default_transaction_read_only', 'on', false);
  RETURN '{}';
END $$;
SELECT orderflow.create_state_machine('mal_settings', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.settings", "End": true}}}');
SELECT orderflow.start_execution('mal_settings') FROM generate_series(1, 6);});
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.settings(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('tenant', current_setting('app.tenant', true), 'tz', current_setting('TimeZone'),
       'path', current_setting('search_path'), 'st', current_setting('statement_timeout')) $$;
SELECT orderflow.create_state_machine('alice_settings', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "alice.settings", "End": true}}}');});
sleep 1;
my @ids = split /\n/, Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_settings') FROM generate_series(1, 6)");
my $outs = '';
$outs .= Hostile::wait_done($node, $_, 15) . ' ' . Hostile::exec_col($node, $_, 'output') . "\n" for @ids;
is(scalar(() = $outs =~ /^SUCCEEDED/mg), 6, "alice's 6 tasks after mallory's succeed (no read-only or 1 ms statement_timeout left behind)");
Hostile::lacks($outs, qr/mallory|Kiritimati|"st": "1ms"/, "mallory's session settings do not reach alice's tasks");

# --- TimeoutSeconds cannot be escaped by catching query_canceled ---
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.stubborn(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1 .. 40 LOOP
    BEGIN PERFORM pg_catalog.pg_sleep(0.5); EXCEPTION WHEN query_canceled THEN NULL; END;
  END LOOP;
  RETURN '{}';
END $$;
SELECT orderflow.create_state_machine('mal_stubborn', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.stubborn", "TimeoutSeconds": 1, "End": true}}}');});
my $t0 = time;
$id = Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('mal_stubborn')");
my $st = Hostile::wait_done($node, $id, 25);
my $took = time - $t0;
is($st . ' ' . Hostile::exec_col($node, $id, 'error'), 'FAILED States.Timeout', 'a task catching query_canceled still times out');
cmp_ok($took, '<', 5, "... within 5 s of a 1 s TimeoutSeconds (took ${\ sprintf('%.1f', $took)} s)");

# --- search_path hijack of orderflow's own queries, and the views ---
my $exec_alice = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_settings', '{\"k\": \"alice-view-secret\"}')");
Hostile::wait_done($node, $exec_alice, 15);
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.texteq(a text, b text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mallory.probe (who, what) VALUES (current_user, 'texteq'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR mallory.= (LEFTARG = text, RIGHTARG = text, FUNCTION = mallory.texteq);
CREATE FUNCTION mallory.uuideq(a uuid, b uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mallory.probe (who, what) VALUES (current_user, 'uuideq'); RETURN a OPERATOR(pg_catalog.=) b; END $$;
CREATE OPERATOR mallory.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = mallory.uuideq);
CREATE FUNCTION mallory.now() RETURNS timestamptz LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mallory.probe (who, what) VALUES (current_user, 'now'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION mallory.pg_has_role(name, oid, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN INSERT INTO mallory.probe (who, what) VALUES (current_user, 'pg_has_role'); RETURN true; END $$;});
($rc, $out, $err) = Hostile::as($node, 'mallory', qq{
SET search_path = mallory, pg_catalog;
SELECT orderflow.create_state_machine('mal_hijack', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.start_execution('mal_hijack', '{}', 'n1');
SELECT orderflow.start_execution('mal_hijack', '{}', 'n1');
SELECT * FROM orderflow.describe_execution('$exec_alice');
SELECT * FROM orderflow.list_executions();
SELECT orderflow.render_graph('alice_settings', '$exec_alice');
SELECT orderflow.stop_execution('$exec_alice');
SELECT * FROM orderflow.execution_counts;
SELECT * FROM orderflow.throughput;
SELECT * FROM orderflow.state_stats;
SELECT * FROM orderflow.executions WHERE owner <> 'mallory'::regrole;
}, timeout => 60);
$node->psql('postgres', "SET search_path = mallory, pg_catalog;
SELECT orderflow.update_state_machine('mal_hijack', '{\"StartAt\": \"P\", \"States\": {\"P\": {\"Type\": \"Pass\", \"End\": true}}}');
SELECT orderflow.wait_for_execution('$exec_alice', '1 s');
SELECT orderflow.redrive_execution('$exec_alice');
SELECT orderflow.delete_state_machine('alice_settings', true);",
	on_error_stop => 0, extra_params => [ '-U', 'mallory' ]);
Hostile::no_foreign_probe($node, 'mallory', "mallory's operators and look-alikes first in search_path under every API call");
Hostile::lacks($out, qr/alice-view-secret|alice_settings/,
	"mallory's API calls and the views show nothing of alice's executions or machines");
is(Hostile::exec_col($node, $exec_alice, 'status'), 'SUCCEEDED', "alice's execution was not stopped or redriven by mallory");

Hostile::no_privilege_gained($node, 'mallory', 'token and task attacks');
$node->stop('immediate');
done_testing();
