# Copyright: the orderflow authors.
#
# Parallel branches run at the same time in different workers, and the
# join happens exactly once (issue #4, "What must be shown").
#
# 1. One Parallel whose two branches each run a task that records
#    pg_backend_pid() and its start/end time around pg_sleep(0.5): the two
#    branches ran in two different worker backends with overlapping
#    intervals, the parent's history has exactly one ParallelStateSucceeded
#    and one ExecutionSucceeded, the output is in branch order.
# 2. 200 Parallel executions of three branches at once, first with
#    orderflow.batch_size = 1 (siblings end in different workers at nearly
#    the same moment), then with the default batch size: every parent
#    joined exactly once (one ParallelStateStarted, one
#    ParallelStateSucceeded, one ExecutionSucceeded), every branch task ran
#    exactly once, outputs in branch order, and orderflow.join_counters is
#    empty at the end.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('parallel_join');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 2
orderflow.batch_size = 1
orderflow.poll_interval = 200ms
max_worker_processes = 8
max_logical_replication_workers = 0
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION orderflow');

ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'two workers run');

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA pj;
-- one row per branch task run: which execution, which branch, which backend, when
CREATE TABLE pj.runs (key text, branch int, pid int, started timestamptz, finished timestamptz);
CREATE FUNCTION pj.work(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    t0 timestamptz := clock_timestamp();
BEGIN
    PERFORM pg_catalog.pg_sleep((input ->> 'sleep')::float8);
    INSERT INTO pj.runs VALUES (input ->> 'key', (input ->> 'branch')::int,
                                pg_catalog.pg_backend_pid(), t0, clock_timestamp());
    RETURN pg_catalog.to_jsonb(input ->> 'branch');
END
$$;
});

# a Parallel of $n branches, branch i runs pj.work with {"branch": i}
sub parallel_definition
{
	my ($n) = @_;
	my @branches = map {
		qq({"StartAt": "B$_", "States": {"B$_": {"Type": "Task", "Resource": "pj.work",
		    "Parameters": {"key.\$": "\$.key", "sleep.\$": "\$.sleep", "branch": $_}, "End": true}}})
	} (0 .. $n - 1);
	return qq({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
	    "Branches": [) . join(', ', @branches) . ']}}}';
}

$node->safe_psql('postgres',
	"SELECT orderflow.create_state_machine('pj_two', '" . parallel_definition(2) . "')");
$node->safe_psql('postgres',
	"SELECT orderflow.create_state_machine('pj_three', '" . parallel_definition(3) . "')");

# ------------------------------------------------------------------
# 1. two branches, two workers, at the same time
# ------------------------------------------------------------------
my $id = $node->safe_psql('postgres',
	q{SELECT orderflow.start_execution('pj_two', '{"key": "one", "sleep": 0.5}')});
is( $node->safe_psql('postgres',
		"SELECT orderflow.wait_for_execution('$id', '60 s')"),
	'SUCCEEDED', 'the Parallel succeeded');
is( $node->safe_psql('postgres',
		"SELECT output FROM orderflow.executions WHERE id = '$id'"),
	'["0", "1"]', 'outputs in branch order');
is($node->safe_psql('postgres', "SELECT count(*) FROM pj.runs WHERE key = 'one'"),
	'2', 'each branch task ran once');
is( $node->safe_psql(
		'postgres', q{
SELECT count(DISTINCT r.pid) FROM pj.runs AS r
  JOIN pg_stat_activity AS a ON a.pid = r.pid AND a.backend_type = 'orderflow worker'
 WHERE r.key = 'one'}),
	'2', 'the two branches ran in two different worker backends');
is( $node->safe_psql(
		'postgres', q{
SELECT a.started < b.finished AND b.started < a.finished
  FROM pj.runs AS a, pj.runs AS b
 WHERE a.key = 'one' AND b.key = 'one' AND a.branch = 0 AND b.branch = 1}),
	't', 'the two branches ran at the same time (intervals overlap)');
is( $node->safe_psql(
		'postgres', qq{
SELECT string_agg(type || ':' || n, ',' ORDER BY type) FROM (
  SELECT type, count(*) AS n FROM orderflow.execution_history
   WHERE execution_id = '$id'
     AND type IN ('ParallelStateStarted', 'ParallelStateSucceeded', 'ParallelStateFailed',
                  'ExecutionSucceeded', 'ExecutionFailed')
   GROUP BY type) AS t}),
	'ExecutionSucceeded:1,ParallelStateStarted:1,ParallelStateSucceeded:1',
	'the parent joined exactly once');
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE parent_id = '$id' AND status = 'SUCCEEDED'"),
	'2', 'two child executions, both SUCCEEDED');

# ------------------------------------------------------------------
# 2. many Parallels at once, each must join exactly once
# ------------------------------------------------------------------
my $N = 200;

# true once the boolean query is true, false after $secs seconds
sub wait_until
{
	my ($query, $secs) = @_;
	for (1 .. $secs * 10)
	{
		return 1 if $node->safe_psql('postgres', $query) eq 't';
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

sub many_parallels
{
	my ($round) = @_;
	# all started in one transaction, so the workers find them all due at once
	$node->safe_psql(
		'postgres', qq{
SELECT count(orderflow.start_execution('pj_three',
         jsonb_build_object('key', '$round-' || i, 'sleep', (i % 3) * 0.005),
         '$round-' || i))
  FROM generate_series(1, $N) AS i});
	ok( wait_until(
			qq{
SELECT count(*) = 0 FROM orderflow.executions
 WHERE state_machine = 'pj_three' AND name LIKE '$round-%' AND status = 'RUNNING'},
			90),
		"$round: all $N Parallel executions finished");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FILTER (WHERE status = 'SUCCEEDED' AND output = '["0", "1", "2"]')
  FROM orderflow.executions
 WHERE state_machine = 'pj_three' AND name LIKE '$round-%' AND parent_id IS NULL}),
		$N, "$round: all SUCCEEDED with outputs in branch order");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM (
  SELECT e.id,
         count(*) FILTER (WHERE h.type = 'ParallelStateStarted') AS started,
         count(*) FILTER (WHERE h.type = 'ParallelStateSucceeded') AS joined,
         count(*) FILTER (WHERE h.type = 'ParallelStateFailed') AS failed,
         count(*) FILTER (WHERE h.type = 'ExecutionSucceeded') AS succeeded
    FROM orderflow.executions AS e
    JOIN orderflow.execution_history AS h ON h.execution_id = e.id
   WHERE e.state_machine = 'pj_three' AND e.name LIKE '$round-%' AND e.parent_id IS NULL
   GROUP BY e.id) AS t
 WHERE started = 1 AND joined = 1 AND failed = 0 AND succeeded = 1}),
		$N, "$round: every parent has exactly one ParallelStateStarted, ParallelStateSucceeded, ExecutionSucceeded");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM (
  SELECT key, branch FROM pj.runs WHERE key LIKE '$round-%'
   GROUP BY key, branch HAVING count(*) = 1) AS t}),
		3 * $N, "$round: every branch task ran exactly once");
	is( $node->safe_psql(
			'postgres', qq{
SELECT count(*) FROM orderflow.executions AS c
  JOIN orderflow.executions AS p ON p.id = c.parent_id
 WHERE p.state_machine = 'pj_three' AND p.name LIKE '$round-%' AND c.status = 'SUCCEEDED'}),
		3 * $N, "$round: three SUCCEEDED child executions per parent");
	my $pids = $node->safe_psql('postgres',
		"SELECT count(DISTINCT pid) FROM pj.runs WHERE key LIKE '$round-%'");
	ok($pids >= 2, "$round: branch tasks ran in $pids worker backends");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM orderflow.join_counters'),
		'0', "$round: orderflow.join_counters is empty");
}

many_parallels('batch1');

# the default batch size: a worker ends many siblings in one transaction
$node->append_conf('postgresql.conf', "orderflow.batch_size = 64\n");
$node->reload;
ok( $node->poll_query_until('postgres', "SELECT current_setting('orderflow.batch_size') = '64'"),
	'batch size 64 after reload');
many_parallels('batch64');

$node->stop;
done_testing();
