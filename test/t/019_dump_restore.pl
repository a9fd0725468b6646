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
# The source and the checks shared with 021_restore_modes.pl are in
# test/OfDumpSource.pm; this file adds dr.gone, dr_gone and the grants.
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
use OfDumpSource;
use Test::More;

my @GONE = map { "gone-$_" } 1 .. 4;

# the source (test/OfDumpSource.pm), plus dr.gone, dr_gone and grants
my $ds = OfDumpSource->new(
	n_quick => 3000,    # finished before the dump
	n_live => 300,      # started just before the dump
	n_retry => 3,
	n_wait => 3,
	map_items => 6,
	map_done_max => 4,
	retry_interval => 2,
	wait_seconds => 30,
	map_wait_seconds => 3,
	# the roles are global objects: created on every cluster before a restore
	roles => q{CREATE ROLE dr_app LOGIN; CREATE ROLE dr_reader;},
	extra_sql => q{
-- the function the second restore leaves out
CREATE FUNCTION dr.gone(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.calls (key) VALUES (input ->> 'key') RETURNING '{}'::jsonb $$;
SELECT orderflow.create_state_machine('dr_gone', $j${"StartAt": "P", "States": {
  "P": {"Type": "Wait", "Seconds": 30, "Next": "G"},
  "G": {"Type": "Task", "Resource": "dr.gone", "Parameters": {"key.$": "$.key"}, "End": true}}}$j$);
SELECT orderflow.grant_state_machine('dr_quick', 'READ', 'dr_reader');
SELECT orderflow.grant_state_machine('dr_wait', 'START', 'PUBLIC');
},
	extra_start => OfDumpSource::start_sql('dr_gone', @GONE),
	extra_keys => \@GONE);

my $src = $ds->build_source('dump_src');
# thousands finished
$ds->finish_quick;
# the parked ones
$ds->park;
# a few hundred still running while pg_dump reads
my $dump = $ds->take_dump;
my $map_done_at_dump = $src->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE c.status = 'SUCCEEDED')
  FROM orderflow.executions p JOIN orderflow.executions c ON c.parent_id = p.id WHERE p.name = 'map-1'});
note("Map items done on the source right after the dump: $map_done_at_dump");

# A cluster to restore into: orderflow preloaded, roles first, then pg_restore
sub restore_into
{
	my ($name, @list_opt) = @_;
	my $node = $ds->restore_target($name);
	$node->command_ok([ 'pg_restore', '--single-transaction', @list_opt, '-d', $node->connstr('postgres'), $dump ],
		"$name: pg_restore --single-transaction");
	return $node;
}

# ---- 1. a fresh cluster with everything ----
my $dst = restore_into('dump_dst');
ok( $dst->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'dst: the workers run');
$ds->same_as_source($dst, 'dst');
is( $dst->safe_psql('postgres', q{SELECT count(*) FROM orderflow.state_machine_privileges p
  WHERE (p.state_machine, p.grantee::text, p.privilege) IN (('dr_quick', 'dr_reader', 'READ'), ('dr_wait', '-', 'START'))}),
	'2', 'dst: the grants name the same roles (and PUBLIC)');
$ds->release_waits($dst);
$ds->check_all_done($dst, 'dst');
is($dst->safe_psql('postgres', $OfDumpSource::Q_IDS), $ds->{src_ids}, 'dst: still the same top-level executions');
OfDumpSource::history_checks($dst, 'dst');
is(OfDumpSource::log_errors(slurp_file($dst->logfile)), 0, 'dst: no ERROR in the server log');

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
$ds->release_waits($dst2);
ok(OfDumpSource::all_finished($dst2), 'dst2: every execution finished');
is( $dst2->safe_psql('postgres', q{SELECT string_agg(name || ' ' || status || ' ' || coalesce(error, ''), ', ' ORDER BY name)
  FROM orderflow.executions WHERE state_machine = 'dr_gone'}),
	join(', ', map { "$_ FAILED orderflow.TaskFunctionMissing" } @GONE),
	'dst2: the executions that reach the missing function fail with orderflow.TaskFunctionMissing');
is( $dst2->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine <> 'dr_gone' AND status <> 'SUCCEEDED'"),
	'0', 'dst2: the others finished');
OfDumpSource::no_task_twice($dst2, 'dst2');
OfDumpSource::history_checks($dst2, 'dst2');
my $missing_lines = () = slurp_file($dst2->logfile) =~ /of Resource "dr\.gone" does not exist/g;
is($missing_lines, scalar(@GONE), 'dst2: the worker logged each failure once (no loop)');
is(OfDumpSource::log_errors(slurp_file($dst2->logfile)), 0, 'dst2: no ERROR in the server log');

$src->stop;
$dst->stop;
$dst2->stop;
done_testing();
