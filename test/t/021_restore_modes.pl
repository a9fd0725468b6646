# Copyright: the orderflow authors.
#
# The restore commands a DBA types (issue 11, part 1; README "Backup and
# restore"): the same live dump as in 019_dump_restore.pl (both built by
# test/OfDumpSource.pm), smaller, restored
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
use OfDumpSource;
use Test::More;

# the source (test/OfDumpSource.pm), smaller and quicker than 019's
my $ds = OfDumpSource->new(
	n_quick => 300,     # finished before the dump
	n_live => 100,      # started just before the dump
	n_retry => 2,
	n_wait => 2,
	map_items => 4,
	map_done_max => 3,
	retry_interval => 1,
	wait_seconds => 2,
	map_wait_seconds => 2,
	quick_pass => 1,
	roles => q{CREATE ROLE dr_app LOGIN;});

$ds->build_source('modes_src');
$ds->finish_quick;
$ds->park;
# a hundred still running while pg_dump reads
my $dump = $ds->take_dump;
$ds->{src}->stop;

# Restore the dump into a fresh preloaded cluster whose workers run, with
# the given pg_restore options, and check everything 019 checks.
sub restore_and_check
{
	my ($name, $what, $appname, @cmd) = @_;
	my $node = $ds->restore_target($name);
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
	is(OfDumpSource::log_errors($out . $err), 0, "$name: $what printed no ERROR");
	like(slurp_file($node->logfile), qr/orderflow workers leave database "postgres" while pg_restore/,
		"$name: the workers left the database while pg_restore was connected");

	# come back by themselves (nobody commits anything here)
	ok( $node->poll_query_until('postgres',
			"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'postgres'"),
		"$name: the workers came back after pg_restore disconnected");
	$ds->same_as_source($node, $name);

	$ds->release_waits($node);
	$ds->check_all_done($node, $name);
	OfDumpSource::history_checks($node, $name);
	is(OfDumpSource::log_errors(slurp_file($node->logfile)), 0, "$name: no ERROR in the server log");
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
