# Copyright: the orderflow authors.
#
# Many databases (issue 11, items 4 and 6): one pool of workers serves
# every database where the extension is installed (orderflow.database
# empty).  Two databases run a surge of the seed workflow
# (demo/order_fulfillment.sql) at once; DROP EXTENSION in one of them
# mid-run leaves the other unharmed and leaves no worker looping on errors;
# CREATE EXTENSION again starts clean; with two workers a database with a
# big backlog does not keep a second database's executions from finishing;
# DROP DATABASE and ALTER DATABASE RENAME of a served database succeed.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OfCluster;

my $demo = "$ENV{TESTDIR}/../demo/order_fulfillment.sql";
plan skip_all => "no $demo" unless -f $demo;
my $N = $ENV{OF_MULTIDB_ORDERS} || 2000;

my $node = OfCluster::node('multidb', workers => 2,
	conf => [ "orderflow.database = ''", 'orderflow.poll_interval = 100ms' ]);
# OfCluster installs it in postgres: the two shops below are the databases here
$node->safe_psql('postgres', 'DROP EXTENSION orderflow');

# The demo's schema, task functions and state machine, with stock for
# $orders orders and the orders themselves (not started)
sub setup_shop
{
	my ($db, $orders) = @_;
	$node->safe_psql($db, 'CREATE EXTENSION orderflow');
	$node->command_ok(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr($db), '-f', $demo ],
		"demo/order_fulfillment.sql loads in $db");
	$node->safe_psql(
		$db, qq{
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'east'), ('WEST', 'west');
INSERT INTO fulfillment.products (sku, name)
SELECT format('SKU-%s', lpad(i::text, 4, '0')), 'product ' || i FROM generate_series(1, 2000) AS i;
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand)
SELECT p.sku, w.warehouse, 1000 FROM fulfillment.products AS p CROSS JOIN fulfillment.warehouses AS w;
SELECT count(fulfillment.create_order('customer-' || o,
         jsonb_build_array(jsonb_build_object('sku', format('SKU-%s', lpad((1 + o % 2000)::text, 4, '0')), 'qty', 1)), o))
  FROM generate_series(1, $orders) AS o;
});
}

# Start the executions of orders $from..$to in one transaction each 500
sub start_orders
{
	my ($db, $from, $to) = @_;
	for (my $a = $from; $a <= $to; $a += 500)
	{
		my $b = $a + 499 > $to ? $to : $a + 499;
		$node->safe_psql($db,
			"SELECT count(orderflow.start_execution('order_fulfillment', jsonb_build_object('order_id', o), 'order-' || o)) "
			  . "FROM generate_series($a, $b) AS o");
	}
}

sub running
{
	my ($db) = @_;
	return $node->safe_psql($db,
		"SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING'");
}

sub workers_in
{
	my ($db) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = '$db'");
}

# ERROR and WARNING lines of the server log after byte offset $from
sub log_problems
{
	my ($from) = @_;
	my $log = slurp_file($node->logfile, $from);
	return grep { /\b(ERROR|WARNING|FATAL|PANIC):/ } split /\n/, $log;
}

# --- two databases, one pool ---
$node->safe_psql('postgres', 'CREATE DATABASE shop_a');
$node->safe_psql('postgres', 'CREATE DATABASE shop_b');
setup_shop('shop_a', $N);
setup_shop('shop_b', $N);
start_orders('shop_a', 1, $N);
start_orders('shop_b', 1, $N);

# --- DROP EXTENSION in shop_b mid-run ---
ok( $node->poll_query_until(
		'shop_b', "SELECT count(*) > 0 FROM orderflow.executions WHERE status = 'SUCCEEDED'"),
	'shop_b is being served');
cmp_ok(running('shop_b'), '>', 0, 'shop_b still has executions in flight');
# The hook has the database's workers leave before the drop runs (a batch
# holding orderflow's locks could otherwise make the DROP a deadlock
# victim): one attempt, no retry.
# The log window starts when the drop has committed.
my ($rc, $out, $err);
my $drop_offset = -s $node->logfile;
($rc, $out, $err) = $node->psql('shop_b', 'DROP EXTENSION orderflow');
is($rc, 0, 'DROP EXTENSION orderflow with executions in flight') or diag($err);
my $offset = -s $node->logfile;
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_b'"),
	'the workers let go of shop_b');
$node->safe_psql('shop_b', 'DROP SCHEMA fulfillment CASCADE');

ok( $node->poll_query_until(
		'shop_a', "SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 't'),
	'shop_a: every execution finished');
is($node->safe_psql('shop_a', "SELECT status || ' ' || count(*) FROM orderflow.executions GROUP BY status"),
	"SUCCEEDED $N", "shop_a: all $N executions SUCCEEDED");
is( $node->safe_psql(
		'shop_a', q{
SELECT count(*) FROM fulfillment.orders AS o
 WHERE o.status <> 'SHIPPED'
    OR (SELECT count(*) FROM fulfillment.shipments AS s WHERE s.order_id = o.order_id) <> 1}),
	'0', 'shop_a: every order SHIPPED exactly once');
# a window with the pool running on: nobody may loop on errors about shop_b
sleep 2;
my @problems = log_problems($offset);
is(scalar(@problems), 0, 'no ERROR or WARNING in the server log after the drop')
  or diag(join("\n", @problems[0 .. ($#problems > 20 ? 20 : $#problems)]));
my @left = grep { /orderflow workers leave database "shop_b"/ } split /\n/, slurp_file($node->logfile, $drop_offset);
is(scalar(@left), 1, 'one LOG line says the workers left shop_b');

# --- CREATE EXTENSION again starts clean ---
setup_shop('shop_b', 200);
start_orders('shop_b', 1, 200);
ok( $node->poll_query_until(
		'shop_b', "SELECT count(*) = 200 FROM orderflow.executions WHERE status = 'SUCCEEDED'"),
	'shop_b after CREATE EXTENSION again: its 200 new executions SUCCEEDED');

# --- fair share: a big backlog in shop_a does not starve shop_b ---
my $big = 4 * $N;
$node->safe_psql('shop_a', "SELECT count(fulfillment.create_order('customer-' || o,
         jsonb_build_array(jsonb_build_object('sku', format('SKU-%s', lpad((1 + o % 2000)::text, 4, '0')), 'qty', 1)), o))
  FROM generate_series($N + 1, $N + $big) AS o");
start_orders('shop_a', $N + 1, $N + $big);
ok($node->poll_query_until('shop_a', "SELECT count(*) > 0 FROM orderflow.executions WHERE status = 'SUCCEEDED' AND (input->>'order_id')::int > $N"),
	'shop_a works on its backlog');
$node->safe_psql('shop_b', "SELECT count(fulfillment.create_order('customer-' || o,
         jsonb_build_array(jsonb_build_object('sku', 'SKU-0001', 'qty', 1)), o))
  FROM generate_series(201, 300) AS o");
start_orders('shop_b', 201, 300);
ok( $node->poll_query_until(
		'shop_b', "SELECT count(*) = 300 FROM orderflow.executions WHERE status = 'SUCCEEDED'"),
	'shop_b: its 100 executions started during the backlog SUCCEEDED');
my $backlog = running('shop_a');
cmp_ok($backlog, '>', 0, "shop_a still had a backlog ($backlog running) when shop_b was done");
ok( $node->poll_query_until(
		'shop_a', "SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'"),
	'shop_a: the backlog finishes too');

# --- a command of the hook that fails leaves the database served ---
sub workers_back_in
{
	my ($db, $what) = @_;
	ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = '$db'"),
		"$db is served again after $what");
}
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_b'"),
	'shop_b has a worker');
($rc, $out, $err) = $node->psql('shop_b', 'DROP DATABASE shop_b');
isnt($rc, 0, 'DROP DATABASE of the current database fails');
workers_back_in('shop_b', 'a DROP DATABASE that failed');
# cancelled while the hook waits for the workers to leave, in a session that
# stays connected: the block must go with the aborted statement, not with
# the session (the DO block looks for a worker from that same session)
my $back;
($rc, $back, $err) = $node->psql('postgres', q{
SET statement_timeout = '1ms';
CREATE DATABASE shop_copy TEMPLATE shop_b;
RESET statement_timeout;
DO $$
BEGIN
  FOR i IN 1 .. 600 LOOP
    PERFORM pg_stat_clear_snapshot();
    IF EXISTS (SELECT FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_b') THEN
      RAISE NOTICE 'served';
      RETURN;
    END IF;
    PERFORM pg_sleep(0.1);
  END LOOP;
  RAISE EXCEPTION 'shop_b stays without a worker while this session lives';
END $$;
SELECT 'back';
}, on_error_stop => 0);
is($back, 'back', 'a cancelled CREATE DATABASE ... TEMPLATE leaves shop_b served (same session)');
$node->safe_psql('postgres', 'DROP DATABASE IF EXISTS shop_copy');
# BEGIN; DROP EXTENSION; ROLLBACK: the workers come back
$node->safe_psql('shop_b', 'BEGIN; DROP EXTENSION orderflow; ROLLBACK;');
workers_back_in('shop_b', 'DROP EXTENSION rolled back');

# --- idle: neither the launcher nor the workers wake up more than their
# poll interval asks for (context switches over a window) ---
sub ctxt
{
	my $pids = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type IN ('orderflow launcher', 'orderflow worker')");
	my %n;
	for my $pid (split ' ', $pids)
	{
		my $st = slurp_file("/proc/$pid/status");
		$n{$pid} = $1 if $st =~ /^voluntary_ctxt_switches:\s+(\d+)/m;
	}
	return \%n;
}
sub launcher_pid
{
	return $node->safe_psql('postgres', "SELECT pid FROM pg_stat_activity WHERE backend_type = 'orderflow launcher'");
}
# orderflow.workers = 0 with work due: nothing can serve it, the launcher
# must sleep anyway (it used to loop every 10 ms once a time slice was due)
$node->append_conf('postgresql.conf', 'orderflow.workers = 0');
$node->reload;
ok($node->poll_query_until('postgres', "SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'orderflow.workers = 0 at reload: the workers stop');
$node->safe_psql('shop_b', "SELECT count(fulfillment.create_order('customer-' || o,
         jsonb_build_array(jsonb_build_object('sku', 'SKU-0001', 'qty', 1)), o))
  FROM generate_series(301, 301) AS o");
start_orders('shop_b', 301, 301);
sleep 6;		# past the time slice
my $lp = launcher_pid();
my $c0 = ctxt()->{$lp};
sleep 10;
my $c1 = ctxt()->{$lp};
cmp_ok($c1 - $c0, '<', 50, "the launcher sleeps with work due and no worker to give it (woke " . ($c1 - $c0) . " times in 10 s)");
$node->append_conf('postgresql.conf', 'orderflow.workers = 2');
$node->reload;
ok( $node->poll_query_until(
		'shop_b', "SELECT count(*) = 301 FROM orderflow.executions WHERE status = 'SUCCEEDED'"),
	'orderflow.workers = 2 again: the waiting execution finishes');

# --- ALTER DATABASE RENAME and DROP DATABASE of a served database ---
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_b'"),
	'an idle pool spreads: shop_b has a worker again');
$node->safe_psql('postgres', 'ALTER DATABASE shop_b RENAME TO shop_c');
pass('ALTER DATABASE RENAME of a served database succeeds');
ok($node->poll_query_until('postgres', "SELECT count(*) > 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_c'"),
	'the renamed database is served again');
$offset = -s $node->logfile;
($rc, $out, $err) = $node->psql('postgres', 'DROP DATABASE shop_c');
is($rc, 0, 'DROP DATABASE of a served database succeeds') or diag($err);
ok($node->poll_query_until('postgres', "SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND datname = 'shop_a'"),
	'the pool goes back to shop_a');
@problems = log_problems($offset);
is(scalar(@problems), 0, 'no ERROR, WARNING or FATAL after the DROP DATABASE')
  or diag(join("\n", @problems));

$node->stop;
done_testing();
