# Copyright: the orderflow authors.
#
# The restore commands a DBA types (issue 11, part 1; README "Backup and
# restore"): the same live dump as in 019_dump_restore.pl, smaller, restored
#   1. with plain `pg_restore -d db file` (one transaction per object, the
#      default), and
#   2. with `pg_restore -j 2` (parallel jobs, several connections),
#   3. as a plain-format script run by psql in autocommit with
#      PGAPPNAME=pg_restore (README's way for plain-format dumps),
# each into a FRESH cluster with orderflow preloaded and two workers
# running during the whole restore.  The workers must leave the database
# alone until the restore is over (they see pg_restore connected to it),
# so a later COPY finds nothing written by a worker before it.
# Asserted for each, as in 019: pg_restore exits 0 and prints no ERROR;
# the workers left the database while pg_restore was connected and came
# back without anyone waking them; every execution finishes exactly once;
# the finished executions' history equals the source's; every history is
# contiguous; tokens issued before the dump complete their tasks after it;
# the server log has no ERROR.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;

my $N_QUICK = 300;     # finished before the dump
my $N_LIVE = 100;      # started just before the dump
my @RETRY = map { "retry-$_" } 1 .. 2;
my @WAIT = map { "wait-$_" } 1 .. 2;
my @CB = map { "cb-$_" } 1 .. 2;
my $ACT = 'act-1';
my $MAP = 'map-1';
my $MAP_ITEMS = 4;

my $ROLES = q{CREATE ROLE dr_app LOGIN;};

my $src = OfCluster::node('modes_src', workers => 2);
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
SELECT orderflow.create_activity('dr_act');

SELECT orderflow.create_state_machine('dr_quick', $j${"StartAt": "W", "States": {
  "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "Next": "V"},
  "V": {"Type": "Pass", "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_retry', $j${"StartAt": "F", "States": {
  "F": {"Type": "Task", "Resource": "dr.flaky", "Parameters": {"key.$": "$.key"},
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": 1, "MaxAttempts": 1000, "BackoffRate": 1.0}],
        "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_wait', $j${"StartAt": "P", "States": {
  "P": {"Type": "Wait", "Seconds": 2, "Next": "W"},
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
          "P": {"Type": "Wait", "Seconds": 2, "Next": "W"},
          "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}}}}$j$);
});

sub start_sql
{
	my ($machine, @names) = @_;
	return join('', map { "SELECT orderflow.start_execution('$machine', '{\"key\": \"$_\"}', '$_');\n" } @names);
}

$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'q-' || g), 'q-' || g))
  FROM generate_series(1, $N_QUICK) AS g;});
ok( $src->poll_query_until('postgres',
		"SELECT count(*) = $N_QUICK FROM orderflow.executions WHERE state_machine = 'dr_quick' AND status = 'SUCCEEDED'"),
	"$N_QUICK executions finished on the source");

my $map_items = join(', ', map { "{\"key\": \"map-$_\"}" } 1 .. $MAP_ITEMS);
$src->safe_psql('postgres', "SET ROLE dr_app;\n"
	  . start_sql('dr_retry', @RETRY) . start_sql('dr_wait', @WAIT)
	  . start_sql('dr_cb', @CB) . start_sql('dr_act', $ACT)
	  . "SELECT orderflow.start_execution('dr_map', '{\"items\": [$map_items]}', '$MAP');\n");
ok( $src->poll_query_until('postgres', q{
SELECT (SELECT count(DISTINCT h.execution_id) FROM orderflow.execution_history h
          JOIN orderflow.executions e ON e.id = h.execution_id
         WHERE e.state_machine = 'dr_retry' AND h.type = 'TaskFailed') = 2
   AND (SELECT count(*) FROM dr.tokens) = 2
   AND (SELECT count(*) FROM orderflow.task_tokens WHERE activity = 'dr_act' AND status = 'scheduled') = 1}),
	'retries, callbacks and the activity task are parked');
my $act_token = $src->safe_psql('postgres',
	"SET ROLE dr_app; SELECT task_token FROM orderflow.get_activity_task('dr_act', 'tap', '30 s')");
like($act_token, qr/^[A-Za-z0-9_-]{64}$/, 'get_activity_task handed out the activity task');
ok( $src->poll_query_until('postgres', qq{
SELECT count(*) FILTER (WHERE c.status = 'SUCCEEDED') BETWEEN 1 AND @{[ $MAP_ITEMS - 1 ]}
  FROM orderflow.executions p JOIN orderflow.executions c ON c.parent_id = p.id
 WHERE p.name = '$MAP'}),
	'the Map is half done');

# a hundred still running while pg_dump reads
$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'l-' || g), 'l-' || g))
  FROM generate_series(1, $N_LIVE) AS g;});
my $dump = PostgreSQL::Test::Utils::tempdir() . '/orderflow.dump';
$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('postgres'), '-f', $dump ],
	'pg_dump -Fc of the live database');

my $q_ids = q{SELECT count(*) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
  FROM orderflow.executions WHERE parent_id IS NULL};
my $q_history = q{SELECT count(*) || ' ' || md5(string_agg(h.execution_id::text || h.event_id || h.type || h.ts, ',' ORDER BY h.execution_id, h.event_id))
  FROM orderflow.execution_history h JOIN orderflow.executions e ON e.id = h.execution_id
 WHERE e.state_machine = 'dr_quick' AND e.name LIKE 'q-%'};
my $src_ids = $src->safe_psql('postgres', $q_ids);
my $src_history = $src->safe_psql('postgres', $q_history);
$src->stop;

my @keys = ((map { "q-$_" } 1 .. $N_QUICK), (map { "l-$_" } 1 .. $N_LIVE), @RETRY, @WAIT,
	(map { "$_-after" } @CB, $ACT), (map { "map-$_" } 1 .. $MAP_ITEMS));

sub log_errors
{
	my ($text) = @_;
	my @errors = grep { /\bERROR:|\bFATAL:|PANIC:|terminated by signal/ } split /\n/, $text;
	diag(join("\n", @errors[ 0 .. ($#errors < 9 ? $#errors : 9) ])) if @errors;
	return scalar(@errors);
}

# Restore the dump into a fresh preloaded cluster whose workers run, with
# the given pg_restore options, and check everything 019 checks.
sub restore_and_check
{
	my ($name, $what, $appname, @cmd) = @_;
	my $node = OfCluster::node($name, workers => 2, extension => 0);
	$node->safe_psql('postgres', $ROLES);
	# the pool is up (its workers probed postgres, found no extension and
	# left): CREATE EXTENSION's commit would send them there at once
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'orderflow launcher'"),
		"$name: the launcher runs before the restore");

	# PostgreSQL::Test::Utils sets PGAPPNAME to the test's name; a DBA's
	# pg_restore has none, so it connects as "pg_restore"
	my ($out, $err);
	local %ENV = %ENV;
	delete $ENV{PGAPPNAME};
	$ENV{PGAPPNAME} = $appname if defined $appname;
	my $ok = IPC::Run::run([ map { $_ eq 'DB' ? $node->connstr('postgres') : $_ } @cmd ],
		'>', \$out, '2>', \$err);
	ok($ok, "$name: $what exits 0");
	is(log_errors($out . $err), 0, "$name: $what printed no ERROR");
	like(slurp_file($node->logfile), qr/orderflow workers leave database "postgres" while pg_restore/,
		"$name: the workers left the database while pg_restore was connected");

	# come back by themselves (nobody commits anything here)
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'postgres'"),
		"$name: the workers came back after pg_restore disconnected");
	is($node->safe_psql('postgres', $q_ids), $src_ids, "$name: the same top-level executions as the source");
	is($node->safe_psql('postgres', $q_history), $src_history,
		"$name: the history of the finished executions is the source's");

	$node->safe_psql('postgres', q{SET ROLE dr_app;
INSERT INTO dr.flags VALUES ('retry_ok');
SELECT orderflow.send_task_success(token, jsonb_build_object('answer', key)) FROM dr.tokens;});
	$node->safe_psql('postgres',
		"SET ROLE dr_app; SELECT orderflow.send_task_success('$act_token', '{\"answer\": \"act\"}')");
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 't'),
		"$name: every execution finished");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM orderflow.executions GROUP BY status) s"),
		'SUCCEEDED ' . $node->safe_psql('postgres', 'SELECT count(*) FROM orderflow.executions'),
		"$name: all of them SUCCEEDED");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT key FROM dr.calls GROUP BY key HAVING count(*) > 1) d'),
		'0', "$name: no task ran twice");
	is( $node->safe_psql('postgres',
			'SELECT count(*) FROM dr.calls WHERE key = ANY (ARRAY[' . join(',', map { "'$_'" } @keys) . '])'),
		scalar(@keys), "$name: every task key was called");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM dr.calls'), scalar(@keys),
		"$name: and nothing else was called");
	is( $node->safe_psql('postgres', q{
SELECT string_agg(e.name || ':' || h.type, ',' ORDER BY e.name)
  FROM orderflow.executions e JOIN orderflow.execution_history h ON h.execution_id = e.id
 WHERE e.state_machine IN ('dr_cb', 'dr_act') AND h.state_name IN ('Ask', 'A')
   AND h.type IN ('TaskSucceeded', 'ActivitySucceeded')}),
		'act-1:ActivitySucceeded,cb-1:TaskSucceeded,cb-2:TaskSucceeded',
		"$name: the tokens issued before the dump completed their tasks");
	is( $node->safe_psql('postgres', qq{SELECT count(*) FROM orderflow.executions c JOIN orderflow.executions p ON p.id = c.parent_id
  WHERE p.name = '$MAP' AND c.status = 'SUCCEEDED'}),
		$MAP_ITEMS, "$name: the Map ran each item once");
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT execution_id, count(*) AS n, min(event_id) AS lo, max(event_id) AS hi
                        FROM orderflow.execution_history GROUP BY execution_id) s
 WHERE lo <> 1 OR hi <> n}),
		'0', "$name: every execution's event ids run 1..n, no gap, no duplicate");
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions e
 WHERE e.next_event_id <> 1 + (SELECT coalesce(max(event_id), 0) FROM orderflow.execution_history
                                WHERE execution_id = e.id)}),
		'0', "$name: next_event_id follows the history");
	is(log_errors(slurp_file($node->logfile)), 0, "$name: no ERROR in the server log");
	return $node;
}

restore_and_check('modes_plain', 'pg_restore -d', undef, 'pg_restore', '-d', 'DB', $dump)->stop;
restore_and_check('modes_jobs', 'pg_restore -j 2', undef, 'pg_restore', '-j', '2', '-d', 'DB', $dump)->stop;

# a plain-format dump fed to psql in autocommit, named as README says
my $plain = PostgreSQL::Test::Utils::tempdir() . '/orderflow.sql';
command_ok([ 'pg_restore', '-f', $plain, $dump ], 'the dump as a plain-format script');
my $node = restore_and_check('modes_psql', 'PGAPPNAME=pg_restore psql -f', 'pg_restore',
	'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', 'DB', '-f', $plain);

# Only a superuser's session counts: a role that may merely connect names
# its session pg_restore and stays; the workers go on serving.
my $log_at = -s $node->logfile;
my ($in, $out, $err) = ('', '', '');
my $squatter;
{
	local $ENV{PGAPPNAME} = 'pg_restore';
	$squatter = IPC::Run::start([ 'psql', '-X', '-U', 'dr_app', '-d', $node->connstr('postgres'), '-c', 'SELECT pg_sleep(600)' ],
		'<', \$in, '>', \$out, '2>', \$err);
}
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE application_name = 'pg_restore' AND usename = 'dr_app'"),
	'a non-superuser session named pg_restore is connected');
$node->safe_psql('postgres', q{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'after-' || g), 'after-' || g))
  FROM generate_series(1, 20) AS g;});
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 20 FROM orderflow.executions WHERE name LIKE 'after-%' AND status = 'SUCCEEDED'"),
	'... and the workers serve the database all the same');
unlike(substr(slurp_file($node->logfile), $log_at), qr/orderflow workers leave database/,
	'... without leaving it');
$node->safe_psql('postgres',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pg_restore' AND usename = 'dr_app'");
$squatter->finish;
$node->stop;

done_testing();
