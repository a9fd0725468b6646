# Copyright: the orderflow authors.
#
# Failover: a streaming replica (synchronous, so every commit the primary
# acknowledged is on it) is promoted after the primary is killed with
# SIGKILL in the middle of a run of order executions (test/OfWorkload.pm).
# The workers start on the new primary once recovery ends and finish every
# execution; what the old primary had committed is not run again: the
# history each execution had on the replica at promotion is still its
# history's beginning, and every order shipped exactly once.
#
# OF_FAILOVER_ORDERS (default 1500) sets the number of orders.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OfWorkload;

my $N = $ENV{OF_FAILOVER_ORDERS} || 1500;

my $conf = qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 2
orderflow.poll_interval = 100ms
max_worker_processes = 8
max_logical_replication_workers = 0
log_min_messages = warning
};

my $primary = PostgreSQL::Test::Cluster->new('primary');
$primary->init(allows_streaming => 1);
$primary->append_conf('postgresql.conf', $conf);
$primary->start;
OfWorkload::setup($primary);

$primary->backup('b');
my $standby = PostgreSQL::Test::Cluster->new('standby');
$standby->init_from_backup($primary, 'b', has_streaming => 1);
$standby->start;
# synchronous: a commit returns only once the standby has flushed it
$primary->append_conf('postgresql.conf', "synchronous_standby_names = 'standby'");
$primary->reload;
ok( $primary->poll_query_until(
		'postgres',
		"SELECT sync_state = 'sync' FROM pg_stat_replication WHERE application_name = 'standby'"),
	'the standby streams synchronously');
is( $standby->safe_psql(
		'postgres', "SELECT count(*) FROM pg_stat_activity WHERE backend_type LIKE 'orderflow%'"),
	'0',
	'no orderflow launcher or worker runs on the standby');

# start the run and kill the primary when about a third has shipped
OfWorkload::start_orders($primary, 1, $N);
my $third = int($N / 3);
ok($primary->poll_query_until('postgres', "SELECT count(*) >= $third FROM wl.shipments"),
	'a third of the orders shipped on the primary');
$primary->kill9;
note 'primary killed with SIGKILL';

# what the standby has: wait until it replayed all it received.  The
# primary died mid-write, so the received WAL may end in a partial record
# that is never replayed (receive stays ahead of replay): done when replay
# reached the receive position or stands still for a second
ok( $standby->poll_query_until(
		'postgres', q{
SELECT r >= pg_last_wal_receive_lsn() OR r = pg_last_wal_replay_lsn()
  FROM (SELECT pg_last_wal_replay_lsn() AS r, pg_sleep(1)) AS s}),
	'the standby replayed everything it received');
my %before;
for my $line (
	split /\n/,
	$standby->safe_psql(
		'postgres', q{
SELECT e.name, count(h.event_id),
       md5(string_agg(h.event_id || ':' || h.type || ':' || coalesce(h.state_name, ''), ',' ORDER BY h.event_id))
  FROM orderflow.executions AS e
  JOIN orderflow.execution_history AS h ON h.execution_id = e.id
 WHERE e.state_machine = 'wl_order'
 GROUP BY e.name}))
{
	my ($name, $n, $md5) = split /\|/, $line;
	$before{$name} = [ $n, $md5 ];
}
my $running_before = $standby->safe_psql('postgres',
	"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'wl_order' AND status = 'RUNNING'");
my $shipped_before = $standby->safe_psql('postgres', 'SELECT count(*) FROM wl.shipments');
note "at promotion: $shipped_before orders shipped, $running_before executions running";
ok($running_before > 0, "executions were still running at promotion ($running_before)");

$standby->promote;
ok( $standby->poll_query_until(
		'postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'the workers start on the promoted standby');
ok(OfWorkload::wait_all_finished($standby, 180), 'the new primary finished every execution');
OfWorkload::check_all($standby, $N, 'after failover');

# the history each execution had at promotion is the beginning of its
# history now: nothing committed before was redone or rewritten
my $prefix_sql = join(
	' UNION ALL ',
	map {
		my ($n, $md5) = @{ $before{$_} };
		"SELECT '$_'::text AS name, $n AS n, '$md5'::text AS md5"
	} sort keys %before);
my $changed = $standby->safe_psql(
	'postgres', qq{
WITH b AS ($prefix_sql)
SELECT count(*) FROM b
 WHERE b.md5 IS DISTINCT FROM (
   SELECT md5(string_agg(h.event_id || ':' || h.type || ':' || coalesce(h.state_name, ''), ',' ORDER BY h.event_id))
     FROM orderflow.executions AS e
     JOIN orderflow.execution_history AS h ON h.execution_id = e.id
    WHERE e.state_machine = 'wl_order' AND e.name = b.name AND h.event_id <= b.n)});
is($changed, '0',
	'every execution\'s history at promotion is unchanged at the beginning of its final history ('
	  . scalar(keys %before)
	  . ' executions compared)');

$standby->stop;
done_testing();
