# Copyright: the orderflow authors.
#
# A Map over 100,000 items finishes, and the workers' memory stays bounded
# (issue #4, "What must be shown").
#
# 1. A Map whose ItemReader is a SETOF jsonb function over
#    generate_series(1, 100000): SUCCEEDED, 100,000 results in order
#    (checked through a ResultSelector: count, first and last).
# 2. A Map over 100 chunk starts made by States.ArrayRange(0, 99000, 1000),
#    each iteration building its own 1000 items with
#    States.ArrayRange($.start, States.MathAdd($.start, 999), 1) for an
#    inner Map: 100,000 leaf iterations, SUCCEEDED, every chunk complete.
#
# While they run, the RssAnon of every 'orderflow worker' backend is read
# from /proc/<pid>/status every 0.2 s.  The bound is
#
#     RssAnon <= 64 MB per worker
#
# (measured: about 13-20 MB per worker at 100,000 items on 2 cores;
# RssAnon is the worker's private memory: palloc'd contexts, json-c
# objects; shared buffers are RssShmem and do not count).  A worker that
# kept a per-item structure for the whole map (100,000 json-c objects, the
# whole result array per item, ...) would exceed it.
#
# The parent's own history stays a handful of events: iterations are child
# executions with their own history, the parent row is not rewritten per
# item.  synchronous_commit is off: this test is about memory, not
# durability, and it keeps the run within about a minute.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(time sleep);

my $N = 100_000;
my $BOUND_KB = 64 * 1024;    # RssAnon bound per worker
my $TIMEOUT = 300;           # seconds per map, generous for a loaded machine

# the 100,000 results of part 1 take over 1 MB before the ResultSelector
# counts them; a Map's results over max_payload_size fail the Map (as on AWS)
my $node = OfCluster::node('big_map', workers => 2,
	conf => [
		qq{orderflow.max_payload_size = '16MB'} ]);

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA bm;
CREATE FUNCTION bm.items(params jsonb) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('i', g) FROM generate_series(1, (params ->> 'n')::int) AS g
$$;
SELECT orderflow.create_state_machine('bm_reader', $j${
  "StartAt": "Items",
  "States": {"Items": {"Type": "Map",
    "ItemReader": {"Resource": "bm.items", "Parameters": {"n.$": "$.n"}},
    "ItemProcessor": {"StartAt": "X", "States": {"X": {"Type": "Pass", "OutputPath": "$.i", "End": true}}},
    "ResultSelector": {"count.$": "States.ArrayLength($)", "first.$": "$[0]", "last.$": "$[99999]"},
    "End": true}}
}$j$);
SELECT orderflow.create_state_machine('bm_chunks', $j${
  "StartAt": "Starts",
  "States": {
    "Starts": {"Type": "Pass", "Parameters": {"starts.$": "States.ArrayRange(0, 99000, 1000)"}, "Next": "Chunks"},
    "Chunks": {"Type": "Map", "ItemsPath": "$.starts",
      "ItemSelector": {"start.$": "$$.Map.Item.Value"},
      "ItemProcessor": {"StartAt": "Range", "States": {
        "Range": {"Type": "Pass",
          "Parameters": {"items.$": "States.ArrayRange($.start, States.MathAdd($.start, 999), 1)"},
          "Next": "Each"},
        "Each": {"Type": "Map", "ItemsPath": "$.items",
          "ItemProcessor": {"StartAt": "Y", "States": {"Y": {"Type": "Pass", "End": true}}},
          "ResultSelector": {"n.$": "States.ArrayLength($)", "first.$": "$[0]", "last.$": "$[999]"},
          "End": true}}},
      "End": true}}
}$j$);
});


# Run a state machine, sampling the workers' memory until it stops;
# returns (status, seconds, max RssAnon kB, samples, id)
sub run_sampled
{
	my ($sm, $input) = @_;
	my $id = $node->safe_psql('postgres',
		"SELECT orderflow.start_execution('$sm', '$input')");
	my $t0 = time;
	my ($max, $samples, $status) = (0, 0, 'RUNNING');
	while (time - $t0 < $TIMEOUT)
	{
		my $rss = OfCluster::worker_rss($node);
		for my $kb (values %$rss)
		{
			$max = $kb if $kb > $max;
		}
		$samples++;
		$status = $node->safe_psql('postgres',
			"SELECT status FROM orderflow.executions WHERE id = '$id'");
		last if $status ne 'RUNNING';
		sleep(0.2);
	}
	my $secs = time - $t0;
	note(sprintf("%s: %s after %.1f s, max worker RssAnon %d kB over %d samples",
			$sm, $status, $secs, $max, $samples));
	return ($status, $secs, $max, $samples, $id);
}

my $baseline = 0;
for my $kb (values %{ OfCluster::worker_rss($node) })
{
	$baseline = $kb if $kb > $baseline;
}
note("worker RssAnon before the maps: $baseline kB");

# ------------------------------------------------------------------
# 1. ItemReader over generate_series(1, 100000)
# ------------------------------------------------------------------
my ($status, $secs, $max, $samples, $id) = run_sampled('bm_reader', qq({"n": $N}));
is($status, 'SUCCEEDED', "a $N-item ItemReader Map succeeded (${\ sprintf('%.1f', $secs)} s)");
is( $node->safe_psql('postgres', "SELECT output FROM orderflow.executions WHERE id = '$id'"),
	qq({"last": $N, "count": $N, "first": 1}),
	"$N results, in item order");
is( $node->safe_psql('postgres',
		"SELECT count(*) FROM orderflow.executions WHERE parent_id = '$id' AND status = 'SUCCEEDED'"),
	$N, "$N iterations, each a SUCCEEDED child execution");
ok($samples >= 2, "memory sampled $samples times during the run");
ok($max > 0 && $max <= $BOUND_KB,
	"worker RssAnon stayed within 64 MB (max $max kB)");
is( $node->safe_psql(
		'postgres', qq{
SELECT string_agg(type, ',' ORDER BY event_id) FROM orderflow.execution_history
 WHERE execution_id = '$id'}),
	'ExecutionStarted,MapStateEntered,MapStateStarted,MapStateSucceeded,MapStateExited,ExecutionSucceeded',
	'the parent history is six events, whatever the number of items');

# ------------------------------------------------------------------
# 2. ItemsPath over States.ArrayRange chunks, 100 x 1000 iterations
# ------------------------------------------------------------------
($status, $secs, $max, $samples, $id) = run_sampled('bm_chunks', '{}');
is($status, 'SUCCEEDED', "100 chunks of 1000 ArrayRange items succeeded (${\ sprintf('%.1f', $secs)} s)");
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FILTER (WHERE (c ->> 'n')::int = 1000
                          AND (c ->> 'first')::int = (ord - 1) * 1000
                          AND (c ->> 'last')::int = (ord - 1) * 1000 + 999)
  FROM orderflow.executions AS e, jsonb_array_elements(e.output) WITH ORDINALITY AS t(c, ord)
 WHERE e.id = '$id'}),
	'100', 'every chunk has its 1000 items, in order');
is( $node->safe_psql(
		'postgres', qq{
SELECT count(*) FROM orderflow.executions AS leaf
  JOIN orderflow.executions AS chunk ON chunk.id = leaf.parent_id
 WHERE chunk.parent_id = '$id' AND leaf.status = 'SUCCEEDED'}),
	$N, "$N leaf iterations SUCCEEDED");
ok($max > 0 && $max <= $BOUND_KB,
	"worker RssAnon stayed within 64 MB (max $max kB)");

is($node->safe_psql('postgres', 'SELECT count(*) FROM orderflow.join_counters'),
	'0', 'no join counters left');

$node->stop;
done_testing();
