# Copyright: the orderflow authors.
#
# Redrive as AWS does it (issue 12), with four workers and real tasks:
# a 60-item Map with MaxConcurrency 2 whose execution ended in the middle
# of the Map, redriven until it succeeds.
#
# 1. TIMED_OUT: TimeoutSeconds 2 ends the execution while the Map runs (each
#    item takes 0.1 s, two at a time; the iterations share the deadline, so
#    it may end FAILED with States.Timeout first); every redrive restarts
#    the timeout, so the execution is redriven again until it SUCCEEDED.
# 2. ABORTED: stop_execution once 8 items are done, then one redrive.
# 3. A worker whose batch failed still stops on a fast shutdown.
#
# For both: every item's task succeeded exactly once over all attempts (an
# item that succeeded is never called again; its ok row commits with the
# step), the output is the 60 results in item order, the history has one
# ExecutionRedriven per redrive with redriveCount 1, 2, ... and
# describe_execution reports the count and a date.  MaxConcurrency holds
# across redrives: each call records when it started and ended (its
# successor is released only when its step commits, after that end), and
# at no call's start were more than 2 calls running.  A redrive while a
# cancelled iteration is still being run by a worker is refused (55000)
# and retried.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(sleep);

my $N = 60;
my $node = OfCluster::node('redrive_children', workers => 4);

$node->safe_psql('postgres', q{
CREATE SCHEMA r22;
CREATE TABLE r22.ok (run text, item int, t0 timestamptz, t1 timestamptz);
CREATE FUNCTION r22.work(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_sleep(0.1);
    INSERT INTO r22.ok VALUES (input ->> 'run', (input ->> 'item')::int, t0, clock_timestamp());
    RETURN jsonb_build_object('item', (input ->> 'item')::int, 'sq', ((input ->> 'item')::int) ^ 2);
END
$$;
});

for my $sm ([ 'r22_timeout', ', "TimeoutSeconds": 2' ], [ 'r22_plain', '' ])
{
	my ($name, $extra) = @$sm;
	$node->safe_psql('postgres', qq{
SELECT orderflow.create_state_machine('$name', '{"StartAt": "Each"$extra, "States": {
  "Each": {"Type": "Map", "ItemsPath": "\$.items", "MaxConcurrency": 2, "End": true,
    "ItemSelector": {"item.\$": "\$\$.Map.Item.Value", "run.\$": "\$.run"},
    "ItemProcessor": {"StartAt": "Work", "States": {
      "Work": {"Type": "Task", "Resource": "r22.work", "End": true}}}}}}');
});
}

my $items = join(', ', 0 .. $N - 1);
my $expected = $node->safe_psql('postgres',
	"SELECT jsonb_agg(jsonb_build_object('item', i, 'sq', (i ^ 2)::float8) ORDER BY i)::text FROM generate_series(0, $N - 1) AS i");

sub start
{
	my ($sm, $run) = @_;
	return $node->safe_psql('postgres',
		"SELECT orderflow.start_execution('$sm', '{\"run\": \"$run\", \"items\": [$items]}', '$run')");
}

sub wait_end
{
	my ($id) = @_;
	return $node->safe_psql('postgres', "SELECT orderflow.wait_for_execution('$id', '120 s')");
}

# redrive, retrying while cancelled iterations are still stopping
sub redrive
{
	my ($id) = @_;
	for (1 .. 600)
	{
		my ($rc, $out, $err) = $node->psql('postgres', "SELECT orderflow.redrive_execution('$id')",
			extra_params => [ '-v', 'VERBOSITY=verbose' ]);
		return 'ok' if $rc == 0;
		return $err unless $err =~ /55000/ && $err =~ /still stopping/;
		sleep(0.05);
	}
	return 'still stopping after 30 s';
}

sub check_run
{
	my ($id, $run, $redrives) = @_;
	is($node->safe_psql('postgres', "SELECT status FROM orderflow.executions WHERE id = '$id'"),
		'SUCCEEDED', "$run: SUCCEEDED after $redrives redrive(s)")
	  or diag($node->safe_psql('postgres',
			"SELECT string_agg(coalesce(branch_index::text, 'top') || ' ' || status || ' ' || coalesce(error, '') || ' ' || coalesce(cause, '') || ' ' || coalesce(phase, ''), E'\n' ORDER BY branch_index NULLS FIRST)
			   FROM orderflow.executions WHERE (id = '$id' OR parent_id = '$id') AND status <> 'SUCCEEDED'"));
	is($node->safe_psql('postgres',
			"SELECT count(*) FILTER (WHERE c = 1) || '/' || count(*) FROM
			   (SELECT i, (SELECT count(*) FROM r22.ok WHERE run = '$run' AND item = i) AS c
			      FROM generate_series(0, $N - 1) AS i) AS x"),
		"$N/$N", "$run: every item's task succeeded exactly once over all attempts");
	is($node->safe_psql('postgres', "SELECT output::text FROM orderflow.executions WHERE id = '$id'"),
		$expected, "$run: the output is every item's result, in item order");
	# calls running when each call started (itself included)
	cmp_ok($node->safe_psql('postgres',
			"SELECT max((SELECT count(*) FROM r22.ok AS d
			              WHERE d.run = c.run AND d.t0 <= c.t0 AND d.t1 > c.t0))
			   FROM r22.ok AS c WHERE c.run = '$run'"),
		'<=', 2, "$run: never more than MaxConcurrency (2) calls at once, redrives included");
	is($node->safe_psql('postgres',
			"SELECT string_agg(details ->> 'redriveCount', ',' ORDER BY event_id)
			   FROM orderflow.execution_history WHERE execution_id = '$id' AND type = 'ExecutionRedriven'"),
		join(',', 1 .. $redrives), "$run: ExecutionRedriven with redriveCount 1..$redrives");
	is($node->safe_psql('postgres',
			"SELECT count(*) FROM orderflow.execution_history
			  WHERE execution_id = '$id' AND type = 'MapRunRedriven'"),
		$redrives, "$run: one MapRunRedriven per redrive");
	is($node->safe_psql('postgres',
			"SELECT redrive_count || ' ' || (redrive_date IS NOT NULL) || ' ' || redrive_status
			   FROM orderflow.describe_execution('$id')"),
		"$redrives true NOT_REDRIVABLE", "$run: describe_execution reports the count and the date");
}

# 1. TIMED_OUT in the middle of the Map, redriven until it succeeds
my $id = start('r22_timeout', 'timeout');
# the execution's deadline, or its iterations' (they share it) ending first
my $first = wait_end($id);
like($first, qr/^(TIMED_OUT|FAILED)$/, "timeout: the execution ended during the Map ($first)");
my $done = $node->safe_psql('postgres', "SELECT count(*) FROM r22.ok WHERE run = 'timeout'");
cmp_ok($done, '<', $N, "timeout: it ended with items left ($done of $N done)");
my $redrives = 0;
my $status = $first;
while ($status ne 'SUCCEEDED' && $redrives < 40)
{
	my $r = redrive($id);
	if ($r ne 'ok')
	{
		fail("timeout: redrive $redrives: $r");
		last;
	}
	$redrives++;
	$status = wait_end($id);
}
check_run($id, 'timeout', $redrives);

# 2. stopped in the middle of the Map, redriven once
$id = start('r22_plain', 'stop');
ok($node->poll_query_until('postgres', "SELECT count(*) >= 8 FROM r22.ok WHERE run = 'stop'"),
	'stop: 8 items done');
$node->safe_psql('postgres', "SELECT orderflow.stop_execution('$id', 'Test.Stopped')");
is(wait_end($id), 'ABORTED', 'stop: the execution was stopped during the Map');
is($node->safe_psql('postgres', "SELECT redrive_status FROM orderflow.describe_execution('$id')"),
	'REDRIVABLE', 'stop: describe_execution says REDRIVABLE');
is(redrive($id), 'ok', 'stop: redriven');
is(wait_end($id), 'SUCCEEDED', 'stop: the redriven execution finished');
check_run($id, 'stop', 1);

# 3. A worker whose batch failed (lock_timeout on the join counters another
#    session holds) carries on, and still obeys the fast shutdown below
#    (it ignored SIGTERM forever after such an error before: stop bails out)
$node->append_conf('postgresql.conf', 'lock_timeout = 200ms');
$node->reload;
$id = start('r22_plain', 'locked');
ok($node->poll_query_until('postgres', "SELECT count(*) >= 2 FROM r22.ok WHERE run = 'locked'"),
	'locked: the Map runs');
# the iterations' ends now fail their batches when they lock the counters
my $log_offset = -s $node->logfile;
my $bg = $node->background_psql('postgres');
$bg->query_safe('BEGIN; LOCK TABLE orderflow.join_counters IN ACCESS EXCLUSIVE MODE;');
$node->wait_for_log(qr/canceling statement due to lock timeout/, $log_offset);
pass('locked: a worker\'s batch failed on the locked join counters');
$bg->query_safe('COMMIT;');
$bg->quit;
$node->append_conf('postgresql.conf', 'lock_timeout = 0');
$node->reload;
is(wait_end($id), 'SUCCEEDED', 'locked: the execution finished once the lock was gone');
is($node->safe_psql('postgres',
		"SELECT count(DISTINCT item) || '/' || count(*) FROM r22.ok WHERE run = 'locked'"),
	"$N/$N", 'locked: every item ran exactly once');

# nothing left behind
is($node->safe_psql('postgres', 'SELECT count(*) FROM orderflow.join_counters'), '0',
	'no join counters left');

$node->stop;
done_testing();
