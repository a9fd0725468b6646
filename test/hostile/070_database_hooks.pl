# Copyright: the orderflow authors.
#
# Hostile roles against the utility hook (dbhooks.c, issue 11): before
# DROP DATABASE, ALTER DATABASE RENAME / SET TABLESPACE, CREATE DATABASE
# ... TEMPLATE and DROP EXTENSION orderflow, the hook makes the workers
# of the database leave.  A role that may not run the command (not the
# owner of the database or of the extension) must not get that far: its
# attempt fails in the command, and the workers of the database it named
# are the same processes as before (none was asked to leave or killed;
# a loop of such attempts would otherwise keep the database unserved).
# A CREATEDB role creating databases must not push the databases with the
# extension out of the pool either (the launcher probes each new database
# once, and only databases with the extension stay in its table).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Hostile;

# every database (the default filter '' rather than OfCluster's 'postgres')
my $node = Hostile::cluster('dbhooks', "orderflow.database = ''");
Hostile::role($node, 'mallory');
$node->safe_psql('postgres', 'ALTER ROLE mallory CREATEDB');

sub worker_pids
{
	return $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity "
		  . "WHERE backend_type = 'orderflow worker' AND datname = 'postgres'");
}

my $before = worker_pids();
isnt($before, '', "the workers serve postgres ($before)");

my @attacks = (
	[ 'DROP DATABASE postgres',                      qr/must be owner|permission denied/ ],
	[ 'ALTER DATABASE postgres RENAME TO gone',      qr/must be owner|permission denied/ ],
	[ 'ALTER DATABASE postgres SET TABLESPACE pg_default', qr/must be owner|permission denied/ ],
	[ 'CREATE DATABASE stolen TEMPLATE postgres',    qr/permission denied/ ],
	[ 'DROP EXTENSION orderflow',                    qr/must be owner/ ],
	[ 'DROP EXTENSION IF EXISTS orderflow CASCADE',  qr/must be owner/ ],);
for my $a (@attacks)
{
	my ($sql, $re) = @$a;
	my ($rc, $out, $err) = Hostile::as($node, 'mallory', $sql);
	isnt($rc, 0, "mallory: $sql fails");
	like($err, $re, "mallory: $sql: refused by the command");
}
is(worker_pids(), $before, 'the workers of postgres are the same processes: none was made to leave');

# --- a CREATEDB role fills the cluster with databases ---
my $n = $ENV{OF_HOSTILE_DATABASES} || 300;
for my $i (1 .. $n)
{
	my ($rc, $out, $err) = Hostile::as($node, 'mallory', "CREATE DATABASE junk_$i STRATEGY file_copy");
	die "CREATE DATABASE junk_$i: $err" if $rc != 0;
}
pass("mallory created $n databases");
# a database with the extension created after them is served
$node->safe_psql('postgres', 'CREATE DATABASE late');
$node->safe_psql('late', 'CREATE EXTENSION orderflow');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'late'"),
	'a database where CREATE EXTENSION ran after them gets a worker');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'postgres'"),
	'postgres is still served');
# probing is bounded: once every junk database was looked at, no worker
# is started for them again
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname LIKE 'junk_%'"),
	'no worker stays in a database without the extension');
$node->stop;
done_testing();
