# Copyright: the orderflow authors.
#
# The per-backend definition cache is bounded (issue 11, part 5).
#
# 10,000 versions of a state machine (a Choice over 40 Pass states, 5 kB of
# definition text each) are created, one execution per version, and the
# workers run them all: every worker loads thousands of different
# definitions into its cache.  With orderflow.definition_cache_size = 4MB
# the least recently used ones must be dropped between batches, so each
# worker's private memory (RssAnon, /proc) stays flat:
#
#     max RssAnon during the run - RssAnon after a warm-up
#         <= definition_cache_size + 16 MB
#
# Without eviction it would grow by the 10,000 parsed definitions: about
# 40 kB each in RssAnon as measured (400 MB per worker), so the bound is
# far from the failure it guards against.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(sleep);

my $CACHE_KB = 4 * 1024;
my $MARGIN_KB = 16 * 1024;
my $VERSIONS = 10_000;
my $WARMUP = 500;

my $node = OfCluster::node('definition_cache', workers => 2,
	conf => [ "orderflow.definition_cache_size = '${CACHE_KB}kB'" ]);

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA mem;
CREATE FUNCTION mem.def(v int) RETURNS jsonb LANGUAGE sql AS $f$
SELECT jsonb_build_object('Comment', 'version ' || v, 'StartAt', 'C', 'States',
  jsonb_build_object('C', jsonb_build_object('Type', 'Choice', 'Default', 'Done',
      'Choices', (SELECT jsonb_agg(jsonb_build_object('Variable', '$.x', 'NumericEquals', i, 'Next', 'S' || i))
                    FROM generate_series(1, 40) AS i)),
   'Done', jsonb_build_object('Type', 'Pass', 'End', true))
  || (SELECT jsonb_object_agg('S' || i, jsonb_build_object('Type', 'Pass',
                                'Result', jsonb_build_object('i', i, 'v', v), 'End', true))
        FROM generate_series(1, 40) AS i))
$f$;
SELECT orderflow.create_state_machine('mem', mem.def(0));
CREATE PROCEDURE mem.run(lo int, hi int) LANGUAGE plpgsql AS $$
BEGIN
    FOR v IN lo .. hi LOOP
        PERFORM orderflow.update_state_machine('mem', mem.def(v));
        PERFORM orderflow.start_execution('mem', '{"x": 0}', 'e' || v);
    END LOOP;
END $$;
});

sub run_versions
{
	my ($lo, $hi) = @_;
	my $max = 0;
	$node->safe_psql('postgres', "CALL mem.run($lo, $hi)");
	for (1 .. 3000)
	{
		for my $kb (values %{ OfCluster::worker_rss($node) })
		{
			$max = $kb if $kb > $max;
		}
		last if $node->safe_psql('postgres',
			"SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING'") eq '0';
		sleep(0.1);
	}
	return $max;
}

# warm-up: caches of every kind filled once, the cache at its size
run_versions(1, $WARMUP);
my $baseline = 0;
for my $kb (values %{ OfCluster::worker_rss($node) })
{
	$baseline = $kb if $kb > $baseline;
}
note("worker RssAnon after $WARMUP versions: $baseline kB");

my $max = run_versions($WARMUP + 1, $WARMUP + $VERSIONS);
note("max worker RssAnon while $VERSIONS versions ran: $max kB");
is( $node->safe_psql('postgres',
		"SELECT count(DISTINCT definition_id) || ' ' || string_agg(DISTINCT status, ',') FROM orderflow.executions"),
	($WARMUP + $VERSIONS) . ' SUCCEEDED',
	"one execution per version, $VERSIONS versions after the warm-up, all SUCCEEDED");
cmp_ok($max - $baseline, '<=', $CACHE_KB + $MARGIN_KB,
	"worker RssAnon grew by at most definition_cache_size + 16 MB (grew " . ($max - $baseline) . " kB)");

$node->stop;
done_testing();
