# Copyright: the orderflow authors.
#
# The worker pool (src/worker.c): the launcher keeps exactly
# orderflow.workers workers running, replaces workers that die, comes back
# with a fresh pool after it is itself terminated, and follows
# orderflow.workers on reload.  Needs "make install" first; run through
# test/run_all.sh (SUITES=tap) or prove with PG_REGRESS and PERL5LIB set.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('pool');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 3
max_worker_processes = 8
max_logical_replication_workers = 0
restart_after_crash = on
});
$node->start;
# the workers serve the databases where the extension is installed
$node->safe_psql('postgres', 'CREATE EXTENSION orderflow');

# Comma-separated pids of the backends of one type, in pid order
sub pids_of
{
	my ($type) = @_;
	return $node->safe_psql('postgres',
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') "
		  . "FROM pg_stat_activity WHERE backend_type = '$type'");
}

# Wait until exactly $n workers run and none of the pids in $gone does
sub wait_for_pool
{
	my ($n, $gone, $what) = @_;
	my $exclude = $gone eq '' ? '' : "AND pid NOT IN ($gone)";
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT count(*) FILTER (WHERE backend_type = 'orderflow worker' $exclude) = $n
   AND count(*) FILTER (WHERE backend_type = 'orderflow worker') = $n
  FROM pg_stat_activity}),
		$what);
}

# Wait until the launcher reports the pool as "$n of $n" in pg_stat_activity
sub wait_for_launcher_report
{
	my ($n) = @_;
	ok( $node->poll_query_until(
			'postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'orderflow launcher'
   AND query = '$n of $n orderflow workers running'}),
		"launcher reports $n of $n workers running");
}

# --- the pool starts with orderflow.workers workers ---
wait_for_pool(3, '', 'three workers start');
wait_for_launcher_report(3);
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'orderflow launcher'
   AND application_name = 'orderflow launcher'}),
	'1',
	'one launcher, named in pg_stat_activity');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM pg_stat_activity
 WHERE backend_type = 'orderflow worker'
   AND application_name = 'orderflow worker'
   AND datname = 'postgres'}),
	'3',
	'workers are connected to orderflow.database and named');
ok( $node->poll_query_until(
		'postgres', q{
SELECT bool_and(query = 'advancing due executions') FROM pg_stat_activity
 WHERE backend_type = 'orderflow worker'}),
	'workers report their activity');

# --- a worker that exits is replaced by the launcher ---
my $launcher = pids_of('orderflow launcher');
my ($victim) = split /,/, pids_of('orderflow worker');
$node->safe_psql('postgres', "SELECT pg_terminate_backend($victim)");
wait_for_pool(3, $victim, 'terminated worker replaced');
is(pids_of('orderflow launcher'),
	$launcher, 'the launcher itself replaced it');

# --- a worker killed with SIGKILL comes back (after crash recovery) ---
($victim) = split /,/, pids_of('orderflow worker');
my $log_offset = -s $node->logfile;
kill 'KILL', $victim;
# The postmaster resets shared memory and restarts everything; wait until it
# accepts connections again, since psql polling a server that is down dies.
$node->wait_for_log(qr/terminated by signal 9: Killed/, $log_offset);
$node->wait_for_log(qr/database system is ready to accept connections/,
	$log_offset);
wait_for_pool(3, $victim, 'killed worker comes back');
wait_for_launcher_report(3);

# --- terminating the launcher takes the pool down; it comes back fresh ---
$launcher = pids_of('orderflow launcher');
my $old_workers = pids_of('orderflow worker');
kill 'TERM', $launcher;
ok( $node->poll_query_until(
		'postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'orderflow launcher' AND pid <> $launcher}),
	'launcher restarted after SIGTERM');
wait_for_pool(3, $old_workers, 'new launcher started a fresh pool');

# --- orderflow.workers follows reload, both ways ---
$node->append_conf('postgresql.conf', 'orderflow.workers = 5');
$node->reload;
wait_for_pool(5, '', 'reload raises the pool to five');
wait_for_launcher_report(5);

$node->append_conf('postgresql.conf', 'orderflow.workers = 1');
$node->reload;
wait_for_pool(1, '', 'reload shrinks the pool to one');
wait_for_launcher_report(1);

$node->append_conf('postgresql.conf', 'orderflow.workers = 0');
$node->reload;
wait_for_pool(0, '', 'orderflow.workers = 0 stops every worker');
wait_for_launcher_report(0);

# --- too few background worker slots: a WARNING with a hint, partial pool ---
# max_worker_processes = 8 and the launcher takes one (there is no logical
# replication launcher), so at most seven orderflow workers fit.
$log_offset = -s $node->logfile;
$node->append_conf('postgresql.conf', 'orderflow.workers = 10');
$node->reload;
$node->wait_for_log(qr/no background worker slot is free/, $log_offset);
ok($node->log_contains(qr/HINT:  Raise "max_worker_processes"/, $log_offset),
	'slot shortage hints at max_worker_processes');
wait_for_pool(7, '', 'as many workers as slots allow');

$node->append_conf('postgresql.conf', 'orderflow.workers = 2');
$node->reload;
wait_for_pool(2, '', 'back to two workers');
wait_for_launcher_report(2);

$node->stop;
done_testing();
