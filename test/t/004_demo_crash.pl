# Copyright: the orderflow authors.
#
# The real order-fulfillment workflow (demo/order_fulfillment.sql, state
# machine order_fulfillment: ProcessOrder -> CheckInventory ->
# UpdateOrderStatus -> ShipOrder) under crashes: 2000 orders with enough
# stock, a worker killed with kill -9 in the middle of a step four times
# and one immediate shutdown.  Every execution SUCCEEDED, every order is
# SHIPPED with exactly one shipment, stock balances (on hand + shipped =
# initial, nothing left reserved), history contiguous.  (The demo's tasks
# are idempotent and its tables forbid a second shipment, so this shows the
# demo survives; test/t/002_crash_recovery.pl shows with non-idempotent
# tasks that the engine itself never repeats a step.)
#
# Skipped when demo/order_fulfillment.sql is not there.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OfWorkload;

my $demo = "$ENV{TESTDIR}/../demo/order_fulfillment.sql";
plan skip_all => "no $demo" unless -f $demo;
my $N = $ENV{OF_DEMO_CRASH_ORDERS} || 2000;

my $node = PostgreSQL::Test::Cluster->new('demo_crash');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 2
orderflow.poll_interval = 100ms
max_worker_processes = 8
max_logical_replication_workers = 0
restart_after_crash = on
log_min_messages = warning
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION orderflow');
$node->command_ok(
	[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-f', $demo ],
	'demo/order_fulfillment.sql loads');

# 2 warehouses, 2000 SKUs with plenty of stock, orders of 1-2 distinct SKUs
# (SKUs shared by few orders, so tasks of different orders rarely wait for
# each other's row locks)
$node->safe_psql(
	'postgres', qq{
INSERT INTO fulfillment.warehouses (warehouse, name) VALUES ('EAST', 'east'), ('WEST', 'west');
INSERT INTO fulfillment.products (sku, name)
SELECT format('SKU-%s', lpad(i::text, 4, '0')), 'product ' || i FROM generate_series(1, 2000) AS i;
INSERT INTO fulfillment.inventory (sku, warehouse, on_hand)
SELECT p.sku, w.warehouse, 50 FROM fulfillment.products AS p CROSS JOIN fulfillment.warehouses AS w;
CREATE TABLE public.initial_stock AS SELECT sku, warehouse, on_hand FROM fulfillment.inventory;
SELECT count(fulfillment.create_order('customer-' || o,
         CASE WHEN o % 2 = 0
              THEN jsonb_build_array(jsonb_build_object('sku', format('SKU-%s', lpad((1 + o % 2000)::text, 4, '0')), 'qty', 1 + o % 3))
              ELSE jsonb_build_array(jsonb_build_object('sku', format('SKU-%s', lpad((1 + o % 2000)::text, 4, '0')), 'qty', 1),
                                     jsonb_build_object('sku', format('SKU-%s', lpad((1 + (o + 1000) % 2000)::text, 4, '0')), 'qty', 2))
         END, o))
  FROM generate_series(1, $N) AS o;
});

for (my $a = 1; $a <= $N; $a += 250)
{
	my $b = $a + 249 > $N ? $N : $a + 249;
	$node->safe_psql('postgres',
		"SELECT count(orderflow.start_execution('order_fulfillment', jsonb_build_object('order_id', o), 'order-' || o)) "
		  . "FROM generate_series($a, $b) AS o");
}

my $kills = 0;
my @running_at_kill;
for (1 .. 4)
{
	select(undef, undef, undef, 0.1 + rand(0.4));
	push @running_at_kill, OfWorkload::query_retry($node,
		"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'order_fulfillment' AND status = 'RUNNING'");
	my $pids = OfWorkload::query_retry($node,
		"SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity "
		  . "WHERE backend_type = 'orderflow worker' AND backend_xid IS NOT NULL");
	$pids = OfWorkload::query_retry($node,
		"SELECT coalesce(string_agg(pid::text, ','), '') FROM pg_stat_activity WHERE backend_type = 'orderflow worker'")
	  if $pids eq '';
	my @p = grep { $_ ne '' } split /,/, $pids;
	next unless @p;
	my $offset = -s $node->logfile;
	kill 'KILL', $p[0];
	$node->wait_for_log(qr/terminated by signal 9: Killed/, $offset);
	$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	$kills++;
}
note "executions running at the kills: @running_at_kill";
ok($kills >= 2 && $running_at_kill[0] > 0,
	"killed a worker with SIGKILL $kills times during the run (running then: @running_at_kill)");
my $running_at_stop = OfWorkload::query_retry($node,
	"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'order_fulfillment' AND status = 'RUNNING'");
note "executions running at the immediate shutdown: $running_at_stop";
$node->stop('immediate');
$node->start;
pass('immediate shutdown and restart during the run');

my $finished = 0;
for (1 .. 180)
{
	my ($rc, $out) = $node->psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'order_fulfillment' AND status = 'RUNNING'");
	if ($rc == 0 && $out eq '0') { $finished = 1; last; }
	sleep 1;
}
ok($finished, 'every execution finished');
is( $node->safe_psql('postgres',
		"SELECT status || ' ' || count(*) FROM orderflow.executions WHERE state_machine = 'order_fulfillment' GROUP BY status"),
	"SUCCEEDED $N",
	"all $N executions SUCCEEDED");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM fulfillment.orders AS o
 WHERE o.status <> 'SHIPPED'
    OR (SELECT count(*) FROM fulfillment.shipments AS s WHERE s.order_id = o.order_id) <> 1}),
	'0',
	'every order SHIPPED, with exactly one shipment');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM fulfillment.inventory AS i
  JOIN public.initial_stock AS s USING (sku, warehouse)
 WHERE i.reserved <> 0
    OR i.on_hand + coalesce((SELECT sum(l.qty) FROM fulfillment.shipment_lines AS l
                              WHERE l.sku = i.sku AND l.warehouse = i.warehouse), 0) <> s.on_hand}),
	'0',
	'stock balances: on hand + shipped = initial, nothing left reserved');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM fulfillment.order_items AS it
 WHERE it.qty <> (SELECT coalesce(sum(l.qty), 0) FROM fulfillment.shipment_lines AS l
                    JOIN fulfillment.shipments AS s USING (shipment_id)
                   WHERE s.order_id = it.order_id AND l.sku = it.sku)}),
	'0',
	'every order line shipped its quantity, no more, no less');
OfWorkload::check_history($node, 'order_fulfillment', 'demo');

$node->stop;
done_testing();
