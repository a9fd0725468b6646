# Copyright: the orderflow authors.
#
# Crashes during a run of a few thousand order executions (test/OfWorkload.pm:
# non-idempotent tasks, so anything run twice or lost shows):
#   1. kill -9 of a worker in the middle of a step, several times: the
#      postmaster resets everything, the pool comes back, the run finishes;
#   2. `pg_ctl stop -m immediate` at random moments, including one with
#      retries pending and one with Waits pending, then a restart;
#   3. SIGTERM of the launcher while work is pending (the pool comes back
#      and finishes it; 001_worker_pool.pl covers the pool itself).
# After each part: every execution SUCCEEDED, every order shipped exactly
# once, stock balances, history contiguous with one start and one end.
#
# OF_CRASH_ORDERS (default 1500) sets the orders per part.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OfWorkload;

my $N = $ENV{OF_CRASH_ORDERS} || 1500;
my $KILLS = $ENV{OF_CRASH_KILLS} || 6;

my $node = PostgreSQL::Test::Cluster->new('crash');
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
OfWorkload::setup($node);

sub worker_pids
{
	my ($filter) = @_;
	my $out = OfWorkload::query_retry($node,
		"SELECT coalesce(string_agg(pid::text, ',' ORDER BY pid), '') FROM pg_stat_activity "
		  . "WHERE backend_type = 'orderflow worker' $filter");
	return grep { $_ ne '' } split /,/, $out;
}

sub running_count
{
	return OfWorkload::query_retry($node,
		"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'wl_order' AND status = 'RUNNING'"
	);
}

# ------------------------------------------------------------------
# 1. kill -9 of a worker mid-step
# ------------------------------------------------------------------
OfWorkload::start_orders($node, 1, $N);
my $kills = 0;
my $mid_step = 0;
for my $i (1 .. $KILLS)
{
	last if running_count() == 0;
	select(undef, undef, undef, 0.3 + rand(1.2));
	# a worker that has written in its current transaction is mid-step
	my @pids;
	for (1 .. 200)
	{
		@pids = worker_pids('AND backend_xid IS NOT NULL');
		last if @pids;
		select(undef, undef, undef, 0.01);
	}
	my $in_step = scalar @pids;
	@pids = worker_pids('') unless @pids;
	next unless @pids;
	my $victim = $pids[ int(rand(@pids)) ];
	my $offset = -s $node->logfile;
	kill 'KILL', $victim;
	$node->wait_for_log(qr/terminated by signal 9: Killed/, $offset);
	$node->wait_for_log(qr/database system is ready to accept connections/, $offset);
	$kills++;
	$mid_step++ if $in_step;
}
note "kill -9: $kills workers killed, $mid_step of them inside a step's transaction";
ok($kills >= 3, "killed a worker with SIGKILL $kills times during the run ($mid_step mid-step)");
ok(OfWorkload::wait_all_finished($node, 240), 'every execution finished after the kills');
OfWorkload::check_all($node, $N, 'kill -9');

# ------------------------------------------------------------------
# 2. immediate shutdowns
# ------------------------------------------------------------------
my $from = $N + 1;
my $to = 2 * $N;
OfWorkload::start_orders($node, $from, $to);
my @moments = (
	[ 'random moment', undef ],
	[ 'retries pending', "phase = 'retry'" ],
	[ 'Waits pending', "phase = 'waiting'" ],
	[ 'random moment', undef ]);
my $stops = 0;
for my $m (@moments)
{
	my ($what, $cond) = @$m;
	last if running_count() == 0;
	if (defined $cond)
	{
		my $seen = 0;
		for (1 .. 300)
		{
			my $c = OfWorkload::query_retry($node,
				"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'wl_order' "
				  . "AND status = 'RUNNING' AND $cond");
			if ($c > 0) { $seen = $c; last; }
			select(undef, undef, undef, 0.02);
		}
		ok($seen > 0, "immediate stop with $what ($seen executions)");
	}
	else
	{
		select(undef, undef, undef, 0.2 + rand(1.5));
		pass("immediate stop at a $what");
	}
	$node->stop('immediate');
	$node->start;
	$stops++;
}
ok(OfWorkload::wait_all_finished($node, 240), "every execution finished after $stops immediate shutdowns");
OfWorkload::check_all($node, $to, 'immediate shutdown');

# ------------------------------------------------------------------
# 3. SIGTERM of the launcher with work pending
# ------------------------------------------------------------------
$from = $to + 1;
$to = $to + 300;
OfWorkload::start_orders($node, $from, $to);
my $launcher = OfWorkload::query_retry($node,
	"SELECT pid FROM pg_stat_activity WHERE backend_type = 'orderflow launcher'");
kill 'TERM', $launcher;
ok( $node->poll_query_until(
		'postgres', qq{
SELECT count(*) = 1 FROM pg_stat_activity
 WHERE backend_type = 'orderflow launcher' AND pid <> $launcher}),
	'launcher restarted after SIGTERM');
ok(OfWorkload::wait_all_finished($node, 120), 'the new pool finished the work of the old one');
OfWorkload::check_all($node, $to, 'launcher SIGTERM');

$node->stop;
done_testing();
