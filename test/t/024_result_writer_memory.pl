# Copyright: the orderflow authors.
#
# A Map of 100,000 items with a ResultWriter (issue 12) writes every result
# to its bound table in bounded objects, and the workers' memory stays
# bounded while it does.
#
# The ItemReader returns 100,000 items of about 400 bytes; each iteration
# passes its item on, so the NONE entries (Input and Output as JSON text
# plus metadata) add up to about 100 MB.  A writer that gathered them (or
# read all 100,000 iterations back at once) would pass the bound of
#
#     RssAnon <= 64 MB per worker
#
# (sampled every 0.2 s from /proc/<pid>/status, as test/t/011_big_map.pl
# does); the writer reads them a page at a time and writes an object each
# time one passes orderflow.max_payload_size (256 kB, left at its default:
# only the summary is the Map's output).  Checked too: every item written
# once, in item order across the objects, the manifest lists every object,
# and the Map's output is the summary.
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
my $BOUND_KB = 64 * 1024;
my $TIMEOUT = 600;

my $node = OfCluster::node('result_writer_memory', workers => 2);

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA rwm;
CREATE FUNCTION rwm.items(params jsonb) RETURNS SETOF jsonb
LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object('i', g, 'pad', repeat('x', 400))
      FROM generate_series(1, (params ->> 'n')::int) AS g
$$;
CREATE TABLE rwm.objects (id bigserial, key text, body jsonb);
SELECT orderflow.register_resource_table('arn:aws:s3:::rwm-bucket/big', 'rwm.objects');
SELECT orderflow.create_state_machine('rwm_big', $j${
  "StartAt": "Items",
  "States": {"Items": {"Type": "Map",
    "ItemReader": {"Resource": "rwm.items", "Parameters": {"n.$": "$.n"}},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
      "StartAt": "X", "States": {"X": {"Type": "Pass", "End": true}}},
    "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
      "Parameters": {"Bucket": "rwm-bucket", "Prefix": "big"}},
    "End": true}}
}$j$);
});

my $id = $node->safe_psql('postgres',
	"SELECT orderflow.start_execution('rwm_big', '{\"n\": $N}')");
my $t0 = time;
my ($max, $samples, $status) = (0, 0, 'RUNNING');
while (time - $t0 < $TIMEOUT)
{
	for my $kb (values %{ OfCluster::worker_rss($node) })
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
note(sprintf("rwm_big: %s after %.1f s, max worker RssAnon %d kB over %d samples",
		$status, $secs, $max, $samples));

is($status, 'SUCCEEDED', "a $N-item Map with a ResultWriter succeeded (" . sprintf('%.1f', $secs) . " s)");
like(
	$node->safe_psql('postgres', "SELECT output FROM orderflow.executions WHERE id = '$id'"),
	qr/^\{"MapRunArn": "arn:aws:states:::mapRun:rwm_big\/Items:$id-\d+", "ResultWriterDetails": \{"Key": "big\/$id-\d+\/manifest.json", "Bucket": "rwm-bucket"\}\}$/,
	'the output is the summary AWS returns');
my $objects = $node->safe_psql('postgres',
	"SELECT count(*) FROM rwm.objects WHERE key LIKE '%/SUCCEEDED\\_%'");
note("$objects SUCCEEDED objects");
ok($objects > 100, "written in many bounded objects ($objects)");
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) || ' ' || bool_and(e.idx = e.n) FROM (
  SELECT (x.e ->> 'Input')::jsonb ->> 'i' AS n_text,
         ((x.e ->> 'Input')::jsonb ->> 'i')::int AS n,
         row_number() OVER (ORDER BY (regexp_match(o.key, 'SUCCEEDED_(\d+)'))[1]::int, x.ord) AS idx
    FROM rwm.objects AS o, jsonb_array_elements(o.body) WITH ORDINALITY AS x(e, ord)
   WHERE o.key LIKE '%/SUCCEEDED\_%') AS e}),
	"$N true", "every item written once, in item order across the objects");
is( $node->safe_psql(
		'postgres', q{
SELECT jsonb_array_length(body -> 'ResultFiles' -> 'SUCCEEDED') =
       (SELECT count(*) FROM rwm.objects WHERE key LIKE '%/SUCCEEDED\_%')
  FROM rwm.objects WHERE key LIKE '%manifest.json'}),
	't', 'the manifest lists every object');
note("the step that wrote them took "
	  . $node->safe_psql(
		'postgres', qq{
SELECT round(extract(epoch FROM e.stopped_at - max(c.stopped_at))::numeric, 1) || ' s, '
       || pg_size_pretty((SELECT sum(pg_column_size(body)) FROM rwm.objects)) || ' written'
  FROM orderflow.executions AS e JOIN orderflow.executions AS c ON c.parent_id = e.id
 WHERE e.id = '$id' GROUP BY e.stopped_at}));
ok($samples >= 2, "memory sampled $samples times during the run");
ok($max > 0 && $max <= $BOUND_KB, "worker RssAnon stayed within 64 MB (max $max kB)");

$node->stop;
done_testing();
