# Copyright: the orderflow authors.
#
# Task hygiene (issue 10, part 5): one role cannot take the whole worker
# pool, and a worker's definition cache stays bounded.
#
# 1. Definition cache (finding 8).  With orderflow.definition_cache_size =
#    8MB, executions of 16 different definitions of 10,000 states each are
#    run (each cached parse costs about 17 MB: 460 kB of text, see README
#    "How it works").  Unbounded, the workers would keep all 16 (about
#    270 MB between three workers: at least one above 90 MB).  Bound:
#
#        RssAnon <= 64 MB per worker, sampled while they run and after
#
# 2. Per-role share of the pool (finding 9).  orderflow.workers = 3, so
#    orderflow.max_workers_per_role defaults to 2.  Role of_slow starts one
#    execution whose task sleeps 60 s, waits until it has run over a
#    second, then queues 9 more.  Role of_fast then starts 20 executions of
#    two quick tasks each.  Asserted:
#      - all 20 of of_fast's executions SUCCEED within 15 s (without the
#        share, all three workers sit in of_slow's 60 s tasks and none
#        finishes before a minute),
#      - while of_slow's 10 executions are all still RUNNING and exactly 2
#        workers are in its tasks (pg_stat_activity: wait_event PgSleep;
#        history events of a running batch are not committed yet),
#      - the other 8 wait, due, without writing any history event (only
#        ExecutionStarted), and no worker rewrites their rows meanwhile:
#        a deferred execution is marked, and claims skip it while its role
#        is still at its share, instead of claiming and deferring it over
#        and over.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(time sleep);

my $BOUND_KB = 64 * 1024;    # RssAnon bound per worker
my $N_DEFS = 16;             # definitions of part 1
my $N_STATES = 10_000;       # states per definition
my $FAST_BOUND_S = 15;       # of_fast's 20 executions finish within this
my $SLOW_TASK_S = 60;        # of_slow's task duration
# OF_TEST_DEFINITION_CACHE=1GB shows part 1 failing without the bound,
# OF_TEST_ROLE_SHARE=3 part 2 failing without the share
my $CACHE = $ENV{OF_TEST_DEFINITION_CACHE} // '8MB';
my $SHARE = $ENV{OF_TEST_ROLE_SHARE} // 0;

my $node = OfCluster::node('role_share', workers => 3,
	conf => [
		qq{orderflow.definition_cache_size = $CACHE},
		qq{orderflow.max_workers_per_role = $SHARE} ]);


# ------------------------------------------------------------------
# 1. The definition cache is bounded
# ------------------------------------------------------------------

# big_i: a Choice that skips straight to Done, and a chain of $N_STATES
# Pass states that is never taken (but is parsed and cached)
for my $i (1 .. $N_DEFS)
{
	$node->safe_psql(
		'postgres', qq{
SELECT orderflow.create_state_machine('big_$i', jsonb_build_object(
  'StartAt', 'Skip',
  'States', (SELECT jsonb_object_agg('S' || g,
        CASE WHEN g < $N_STATES THEN jsonb_build_object('Type', 'Pass', 'Next', 'S' || (g + 1))
             ELSE '{"Type": "Pass", "Next": "Done"}'::jsonb END)
      FROM generate_series(1, $N_STATES) AS g)
    || '{"Skip": {"Type": "Choice", "Choices": [{"Variable": "\$.skip", "BooleanEquals": true, "Next": "Done"}], "Default": "S1"},
         "Done": {"Type": "Succeed"}}'::jsonb))});
}
my $max_rss = 0;
for my $round (1 .. 2)
{
	for my $i (1 .. $N_DEFS)
	{
		my $id = $node->safe_psql('postgres',
			"SELECT orderflow.start_execution('big_$i', '{\"skip\": true}')");
		$node->safe_psql('postgres',
			"SELECT orderflow.wait_for_execution('$id', '60 s')");
		my $rss = OfCluster::worker_rss($node);
		for my $kb (values %$rss) { $max_rss = $kb if $kb > $max_rss; }
	}
}
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine LIKE 'big_%' AND status = 'SUCCEEDED'"),
	2 * $N_DEFS,
	"executions of $N_DEFS definitions of $N_STATES states succeeded");
cmp_ok($max_rss, '<=', $BOUND_KB,
	"definition cache bounded: worker RssAnon peaked at $max_rss kB (bound $BOUND_KB kB)");

# ------------------------------------------------------------------
# 2. One role's slow tasks leave workers for the others
# ------------------------------------------------------------------
$node->safe_psql(
	'postgres', q{
CREATE ROLE of_slow LOGIN;
CREATE ROLE of_fast LOGIN;
CREATE SCHEMA of_slow AUTHORIZATION of_slow;
CREATE SCHEMA of_fast AUTHORIZATION of_fast;
SET ROLE of_slow;
CREATE FUNCTION of_slow.work(input jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT pg_catalog.to_jsonb(pg_catalog.pg_sleep((input ->> 'seconds')::float8)::text) $$;
SELECT orderflow.create_state_machine('slow',
  '{"StartAt": "Work", "States": {"Work": {"Type": "Task", "Resource": "of_slow.work", "End": true}}}');
RESET ROLE;
SET ROLE of_fast;
CREATE FUNCTION of_fast.work(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
SELECT orderflow.create_state_machine('fast',
  '{"StartAt": "One", "States": {
     "One": {"Type": "Task", "Resource": "of_fast.work", "Next": "Two"},
     "Two": {"Type": "Task", "Resource": "of_fast.work", "End": true}}}');
RESET ROLE;
});

# Workers in a task of of_slow right now (their history events are only
# written when their batch commits, so pg_stat_activity tells)
sub workers_in_slow_tasks
{
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND wait_event = 'PgSleep'");
}

# of_slow: one task running for over a second, then 9 more queued
$node->safe_psql('postgres',
	"SET ROLE of_slow; SELECT orderflow.start_execution('slow', '{\"seconds\": $SLOW_TASK_S}')");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND wait_event = 'PgSleep'"),
	"of_slow's first task started");
sleep(1.5);
$node->safe_psql('postgres',
	"SET ROLE of_slow; SELECT count(orderflow.start_execution('slow', '{\"seconds\": $SLOW_TASK_S}')) FROM generate_series(1, 9)");
# let the pool look at the queue: one more worker takes a slow task, the
# third must defer the rest
sleep(2);
is(workers_in_slow_tasks(), 2, 'two of the three workers are in of_slow tasks');

# of_fast: 20 executions, all done within the bound
my $t0 = time;
$node->safe_psql('postgres',
	"SET ROLE of_fast; SELECT count(orderflow.start_execution('fast', jsonb_build_object('n', g))) FROM generate_series(1, 20) AS g");
my $done = 0;
while (time - $t0 < $FAST_BOUND_S)
{
	$done = $node->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'fast' AND status = 'SUCCEEDED'");
	last if $done == 20;
	sleep(0.2);
}
my $elapsed = time - $t0;
is($done, 20, sprintf("of_fast's 20 executions succeeded in %.1f s (bound $FAST_BOUND_S s)", $elapsed));

# ... while of_slow's are all still running, two in tasks, eight deferred
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'slow' AND status = 'RUNNING'"),
	10, "of_slow's 10 executions are all still running");
is(workers_in_slow_tasks(), 2,
	'still exactly 2 workers in of_slow tasks (orderflow.max_workers_per_role = workers - 1)');
# The other 8 wait, due, and no worker keeps claiming and deferring them:
# their row versions (xmin) stay the same while the share is taken (before,
# each was rewritten every 200 ms: a busy loop of updates while it waits)
# (the two in tasks are locked by their workers' batches: skipped)
my $waiting_rows = q{
SELECT count(*) || ':' || string_agg(w.x, ',' ORDER BY w.id)
  FROM (SELECT e.id, e.xmin::text AS x FROM orderflow.executions AS e
         WHERE e.state_machine = 'slow' AND e.due_at IS NOT NULL
           FOR UPDATE SKIP LOCKED) AS w};
my $before = $node->safe_psql('postgres', $waiting_rows);
sleep(2);
my $after = $node->safe_psql('postgres', $waiting_rows);
like($before, qr/^8:/, 'the other 8 wait, due');
is($after, $before, 'nobody rewrote the 8 waiting rows in 2 s (no claim-and-defer loop)');
is( $node->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions AS e
 WHERE e.state_machine = 'slow'
   AND (SELECT count(*) FROM orderflow.execution_history AS h WHERE h.execution_id = e.id) = 1}),
	10, 'deferring wrote no history event (ExecutionStarted only)');

$node->stop('immediate');
done_testing();
