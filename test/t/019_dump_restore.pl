# Copyright: the orderflow authors.
#
# pg_dump and pg_restore of a live database (issue 11, part 1; README
# "Backup and restore").
#
# The source runs its workers while pg_dump -Fc reads it.  At that moment
# it has executions parked on every kind of wait:
#   - a Retry (a task that fails with Flaky until a flag row exists),
#   - a Wait state (30 s),
#   - a callback (.waitForTaskToken: the task function stored its token in
#     a user table, which is dumped with the rest),
#   - an activity task already handed out by get_activity_task (the test
#     keeps that token),
#   - a Map half done (MaxConcurrency 1, six items, a Wait in each),
#   - thousands of finished executions, and a few hundred started just
#     before the dump and still running.
# Every task writes one row per call into dr.calls (no unique key), so a
# step that ran twice shows as a duplicate row, a lost one as a missing row.
#
# 1. The dump is restored with pg_restore --single-transaction into a FRESH
#    cluster with orderflow preloaded, after creating the roles (as README
#    says).  There: the flag is set, the callback tokens and the activity
#    token issued before the dump are completed; every execution finishes
#    exactly once (SUCCEEDED, each task key called once), the top-level
#    execution ids are those of the source, the history of executions that
#    had finished is the source's, every execution's event ids run 1..n
#    without gap or duplicate and next_event_id follows them, and the
#    server log has no ERROR.
# 2. The same dump restored into another fresh cluster without one task
#    function (dr.gone, left out of pg_restore's list): the executions that
#    reach it fail with orderflow.TaskFunctionMissing, each logged once,
#    the others finish, and the log has no ERROR (no loop).
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(sleep);

my $N_QUICK = 3000;    # finished before the dump
my $N_LIVE = 300;      # started just before the dump
my @RETRY = map { "retry-$_" } 1 .. 3;
my @WAIT = map { "wait-$_" } 1 .. 3;
my @CB = map { "cb-$_" } 1 .. 2;
my @GONE = map { "gone-$_" } 1 .. 4;
my $ACT = 'act-1';
my $MAP = 'map-1';
my $MAP_ITEMS = 6;

# the roles are global objects: created on every cluster before a restore
my $ROLES = q{CREATE ROLE dr_app LOGIN; CREATE ROLE dr_reader;};

my $src = OfCluster::node('dump_src', workers => 2);
$src->safe_psql('postgres', $ROLES);
$src->safe_psql(
	'postgres', q{
CREATE SCHEMA dr AUTHORIZATION dr_app;
SET ROLE dr_app;
CREATE TABLE dr.calls (key text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dr.tokens (key text PRIMARY KEY, token text NOT NULL);
CREATE TABLE dr.flags (name text PRIMARY KEY);
CREATE FUNCTION dr.work(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.calls (key) VALUES (input ->> 'key') RETURNING jsonb_build_object('done', key) $$;
CREATE FUNCTION dr.flaky(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dr.flags WHERE name = 'retry_ok') THEN
        PERFORM orderflow.raise_error('Flaky', 'not yet');
    END IF;
    INSERT INTO dr.calls (key) VALUES (input ->> 'key');
    RETURN '{"flaky": "ok"}';
END $$;
CREATE FUNCTION dr.ask(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.tokens VALUES (input ->> 'key', input ->> 'token') RETURNING '{}'::jsonb $$;
-- the function the second restore leaves out
CREATE FUNCTION dr.gone(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.calls (key) VALUES (input ->> 'key') RETURNING '{}'::jsonb $$;
SELECT orderflow.create_activity('dr_act');

SELECT orderflow.create_state_machine('dr_quick', $j${"StartAt": "W", "States": {
  "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_retry', $j${"StartAt": "F", "States": {
  "F": {"Type": "Task", "Resource": "dr.flaky", "Parameters": {"key.$": "$.key"},
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 2, "MaxAttempts": 1000, "BackoffRate": 1.0}],
        "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_wait', $j${"StartAt": "P", "States": {
  "P": {"Type": "Wait", "Seconds": 30, "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_cb', $j${"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "dr.ask.waitForTaskToken",
          "Parameters": {"key.$": "$.key", "token.$": "$$.Task.Token"}, "ResultPath": "$.answer", "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work",
        "Parameters": {"key.$": "States.Format('{}-after', $.key)"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_act', $j${"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "activity:dr_act", "ResultPath": "$.answer", "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work",
        "Parameters": {"key.$": "States.Format('{}-after', $.key)"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_map', $j${"StartAt": "M", "States": {
  "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "End": true,
        "Iterator": {"StartAt": "P", "States": {
          "P": {"Type": "Wait", "Seconds": 3, "Next": "W"},
          "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}}}}$j$);
SELECT orderflow.create_state_machine('dr_gone', $j${"StartAt": "P", "States": {
  "P": {"Type": "Wait", "Seconds": 30, "Next": "G"},
  "G": {"Type": "Task", "Resource": "dr.gone", "Parameters": {"key.$": "$.key"}, "End": true}}}$j$);
SELECT orderflow.grant_state_machine('dr_quick', 'READ', 'dr_reader');
SELECT orderflow.grant_state_machine('dr_wait', 'START', 'PUBLIC');
});

sub start_sql
{
	my ($machine, @names) = @_;
	return join('', map { "SELECT orderflow.start_execution('$machine', '{\"key\": \"$_\"}', '$_');\n" } @names);
}

# thousands finished
$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'q-' || g), 'q-' || g))
  FROM generate_series(1, $N_QUICK) AS g;});
ok( $src->poll_query_until('postgres',
		"SELECT count(*) = $N_QUICK FROM orderflow.executions WHERE state_machine = 'dr_quick' AND status = 'SUCCEEDED'"),
	"$N_QUICK executions finished on the source");

# the parked ones
my $map_items = join(', ', map { "{\"key\": \"map-$_\"}" } 1 .. $MAP_ITEMS);
$src->safe_psql('postgres', "SET ROLE dr_app;\n"
	  . start_sql('dr_retry', @RETRY) . start_sql('dr_wait', @WAIT)
	  . start_sql('dr_cb', @CB) . start_sql('dr_act', $ACT) . start_sql('dr_gone', @GONE)
	  . "SELECT orderflow.start_execution('dr_map', '{\"items\": [$map_items]}', '$MAP');\n");
ok( $src->poll_query_until('postgres', q{
SELECT (SELECT count(DISTINCT h.execution_id) FROM orderflow.execution_history h
          JOIN orderflow.executions e ON e.id = h.execution_id
         WHERE e.state_machine = 'dr_retry' AND h.type = 'TaskFailed') = 3
   AND (SELECT count(*) FROM dr.tokens) = 2
   AND (SELECT count(*) FROM orderflow.task_tokens WHERE activity = 'dr_act' AND status = 'scheduled') = 1}),
	'retries, callbacks and the activity task are parked');
my $act_token = $src->safe_psql('postgres',
	"SET ROLE dr_app; SELECT task_token FROM orderflow.get_activity_task('dr_act', 'tap', '30 s')");
like($act_token, qr/^[A-Za-z0-9_-]{64}$/, 'get_activity_task handed out the activity task');
ok( $src->poll_query_until('postgres', q{
SELECT count(*) FILTER (WHERE c.status = 'SUCCEEDED') BETWEEN 1 AND 4
  FROM orderflow.executions p JOIN orderflow.executions c ON c.parent_id = p.id
 WHERE p.name = 'map-1'}),
	'the Map is half done');

# a few hundred still running while pg_dump reads
$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'l-' || g), 'l-' || g))
  FROM generate_series(1, $N_LIVE) AS g;});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/orderflow.dump';
$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('postgres'), '-f', $dump ],
	'pg_dump -Fc of the live database');
my $map_done_at_dump = $src->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE c.status = 'SUCCEEDED')
  FROM orderflow.executions p JOIN orderflow.executions c ON c.parent_id = p.id WHERE p.name = 'map-1'});
note("Map items done on the source right after the dump: $map_done_at_dump");

# what the dump holds, compared with the source below
my $q_ids = q{SELECT count(*) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
  FROM orderflow.executions WHERE parent_id IS NULL};
my $q_history = q{SELECT count(*) || ' ' || md5(string_agg(h.execution_id::text || h.event_id || h.type || h.ts, ',' ORDER BY h.execution_id, h.event_id))
  FROM orderflow.execution_history h JOIN orderflow.executions e ON e.id = h.execution_id
 WHERE e.state_machine = 'dr_quick' AND e.name LIKE 'q-%'};
my $src_ids = $src->safe_psql('postgres', $q_ids);
my $src_history = $src->safe_psql('postgres', $q_history);

# A cluster to restore into: orderflow preloaded, roles first, then pg_restore
sub restore_into
{
	my ($name, @list_opt) = @_;
	my $node = OfCluster::node($name, workers => 2, extension => 0);
	$node->safe_psql('postgres', $ROLES);
	$node->command_ok([ 'pg_restore', '--single-transaction', @list_opt, '-d', $node->connstr('postgres'), $dump ],
		"$name: pg_restore --single-transaction");
	return $node;
}

# complete what waits for the outside world: the flag, the tokens
sub release_waits
{
	my ($node) = @_;
	$node->safe_psql('postgres', q{SET ROLE dr_app;
INSERT INTO dr.flags VALUES ('retry_ok');
SELECT orderflow.send_task_success(token, jsonb_build_object('answer', key)) FROM dr.tokens;});
	$node->safe_psql('postgres',
		"SET ROLE dr_app; SELECT orderflow.send_task_success('$act_token', '{\"answer\": \"act\"}')");
}

sub all_finished
{
	my ($node) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 't');
}

sub history_checks
{
	my ($node, $what) = @_;
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT execution_id, count(*) AS n, min(event_id) AS lo, max(event_id) AS hi
                        FROM orderflow.execution_history GROUP BY execution_id) s
 WHERE lo <> 1 OR hi <> n}),
		'0', "$what: every execution's event ids run 1..n, no gap, no duplicate");
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions e
 WHERE e.next_event_id <> 1 + (SELECT coalesce(max(event_id), 0) FROM orderflow.execution_history
                                WHERE execution_id = e.id)}),
		'0', "$what: next_event_id follows the history");
}

sub log_errors
{
	my ($node) = @_;
	my $log = slurp_file($node->logfile);
	my @errors = grep { /\bERROR:|\bFATAL:|PANIC:|terminated by signal/ } split /\n/, $log;
	diag(join("\n", @errors[ 0 .. ($#errors < 9 ? $#errors : 9) ])) if @errors;
	return scalar(@errors);
}

# ---- 1. a fresh cluster with everything ----
my $dst = restore_into('dump_dst');
ok( $dst->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'dst: the workers run');
is($dst->safe_psql('postgres', $q_ids), $src_ids, 'dst: the same top-level executions as the source');
is($dst->safe_psql('postgres', $q_history), $src_history,
	'dst: the history of the finished executions is the source\'s');
is( $dst->safe_psql('postgres', q{SELECT count(*) FROM orderflow.state_machine_privileges p
  WHERE (p.state_machine, p.grantee::text, p.privilege) IN (('dr_quick', 'dr_reader', 'READ'), ('dr_wait', '-', 'START'))}),
	'2', 'dst: the grants name the same roles (and PUBLIC)');
release_waits($dst);
ok(all_finished($dst), 'dst: every execution finished');
is( $dst->safe_psql('postgres',
		"SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM orderflow.executions GROUP BY status) s"),
	'SUCCEEDED ' . $dst->safe_psql('postgres', 'SELECT count(*) FROM orderflow.executions'),
	'dst: all of them SUCCEEDED');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM (SELECT key FROM dr.calls GROUP BY key HAVING count(*) > 1) d'),
	'0', 'dst: no task ran twice');
my @keys = ((map { "q-$_" } 1 .. $N_QUICK), (map { "l-$_" } 1 .. $N_LIVE), @RETRY, @WAIT,
	(map { "$_-after" } @CB, $ACT), (map { "map-$_" } 1 .. $MAP_ITEMS), @GONE);
is( $dst->safe_psql('postgres',
		'SELECT count(*) FROM dr.calls WHERE key = ANY (ARRAY[' . join(',', map { "'$_'" } @keys) . '])'),
	scalar(@keys), 'dst: every task key was called (exactly once, with the check above)');
is($dst->safe_psql('postgres', 'SELECT count(*) FROM dr.calls'), scalar(@keys), 'dst: and nothing else was called');
is( $dst->safe_psql('postgres', q{
SELECT string_agg(e.name || ':' || h.type, ',' ORDER BY e.name)
  FROM orderflow.executions e JOIN orderflow.execution_history h ON h.execution_id = e.id
 WHERE e.state_machine IN ('dr_cb', 'dr_act') AND h.state_name IN ('Ask', 'A')
   AND h.type IN ('TaskSucceeded', 'ActivitySucceeded')}),
	'act-1:ActivitySucceeded,cb-1:TaskSucceeded,cb-2:TaskSucceeded',
	'dst: the callback and activity tokens issued before the dump completed their tasks');
is( $dst->safe_psql('postgres', q{SELECT count(*) FROM orderflow.executions c JOIN orderflow.executions p ON p.id = c.parent_id
  WHERE p.name = 'map-1' AND c.status = 'SUCCEEDED'}),
	$MAP_ITEMS, 'dst: the Map ran each item once');
is($dst->safe_psql('postgres', $q_ids), $src_ids, 'dst: still the same top-level executions');
history_checks($dst, 'dst');
is(log_errors($dst), 0, 'dst: no ERROR in the server log');

# ---- 2. a cluster where one task function is missing ----
my $list = PostgreSQL::Test::Utils::tempdir() . '/list';
my ($stdout, $stderr);
IPC::Run::run([ 'pg_restore', '-l', $dump ], '>', \$stdout, '2>', \$stderr);
my @without = grep { !/ FUNCTION dr gone\(/ } split /\n/, $stdout;
is(scalar(split /\n/, $stdout) - scalar(@without), 1, 'the list without dr.gone');
open(my $fh, '>', $list) or die;
print $fh join("\n", @without), "\n";
close($fh);
my $dst2 = restore_into('dump_dst2', '-L', $list);
is($dst2->safe_psql('postgres', "SELECT to_regprocedure('dr.gone(jsonb)') IS NULL"), 't', 'dst2: dr.gone is missing');
release_waits($dst2);
ok(all_finished($dst2), 'dst2: every execution finished');
is( $dst2->safe_psql('postgres', q{SELECT string_agg(name || ' ' || status || ' ' || coalesce(error, ''), ', ' ORDER BY name)
  FROM orderflow.executions WHERE state_machine = 'dr_gone'}),
	join(', ', map { "$_ FAILED orderflow.TaskFunctionMissing" } @GONE),
	'dst2: the executions that reach the missing function fail with orderflow.TaskFunctionMissing');
is( $dst2->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine <> 'dr_gone' AND status <> 'SUCCEEDED'"),
	'0', 'dst2: the others finished');
is($dst2->safe_psql('postgres', 'SELECT count(*) FROM (SELECT key FROM dr.calls GROUP BY key HAVING count(*) > 1) d'),
	'0', 'dst2: no task ran twice');
history_checks($dst2, 'dst2');
my $missing_lines = () = slurp_file($dst2->logfile) =~ /of Resource "dr\.gone" does not exist/g;
is($missing_lines, scalar(@GONE), 'dst2: the worker logged each failure once (no loop)');
is(log_errors($dst2), 0, 'dst2: no ERROR in the server log');

$src->stop;
$dst->stop;
$dst2->stop;
done_testing();
