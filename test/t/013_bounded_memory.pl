# Copyright: the orderflow authors.
#
# Bounded evaluation through the workers (issue 10, findings 6 and 7).
#
# 1. Each hostile input of the issue is run by the workers while the
#    workers' memory is watched:
#      - nested States.Format (10 levels of '{}{}' over 64 kB: 64 MB if
#        built) fails with States.DataLimitExceeded;
#      - $..*..* over a 4 kB input (it took a worker to 1.6 GB) fails with
#        States.DataLimitExceeded;
#      - StringMatches, a 130,000-character pattern against 260,000
#        characters, answers (no match);
#      - States.StringSplit of 50 kB by 50 kB of delimiters answers.
#    The bound, per worker, is
#
#        private memory <= 64 MB
#
#    read two ways: RssAnon of every 'orderflow worker' sampled every 0.1 s,
#    and, because a short peak falls between samples (json-c returns large
#    blocks to the system at once), the peak since the worker started:
#    VmHWM - RssFile - RssShmem (VmHWM is the peak resident size; the
#    shared and file-backed parts are read after the run, they only grow).
#    Measured: about 10-20 MB per worker.
#
# 2. A worker busy in a long but bounded evaluation (a Parameters template
#    of 5,000 fields, each counting the 62,000 matches of $..*..b in the
#    4 kB input: about 15 s of work) obeys pg_terminate_backend within 5 s: a
#    responsiveness bound, not a speed goal.  The evaluator polls
#    InterruptPending in its loops, unwinds, and the worker then raises the
#    termination.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(time sleep);

my $BOUND_KB = 64 * 1024;    # private memory bound per worker
my $TIMEOUT = 120;           # seconds per execution, generous on a loaded machine
my $TERMINATE_BOUND = 5;     # seconds for pg_terminate_backend to take effect

my $node = OfCluster::node('bounded_memory', workers => 2,
	conf => [
		qq{orderflow.poll_interval = 100ms} ]);

$node->safe_psql(
	'postgres', q{
CREATE SCHEMA bm;
CREATE FUNCTION bm.format_bomb(levels int) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    e text := '$.s';
BEGIN
    FOR i IN 1 .. levels LOOP
        e := format('States.Format(''{}{}'', %s, %s)', e, e);
    END LOOP;
    RETURN e;
END
$$;
CREATE FUNCTION bm.nested(depth int) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    t text := '1';
BEGIN
    FOR i IN 1 .. depth LOOP
        t := '{"a":' || t || ',"b":12}';
    END LOOP;
    RETURN t::jsonb;
END
$$;
CREATE TABLE bm.inputs (name text PRIMARY KEY, input jsonb NOT NULL);
INSERT INTO bm.inputs VALUES
  ('bm_format', jsonb_build_object('s', repeat('x', 64 * 1024))),
  ('bm_path', bm.nested(250)),
  ('bm_matches', jsonb_build_object('t', repeat('a', 260000))),
  ('bm_split', jsonb_build_object('s', repeat('ab,cd;', 8333), 'd', repeat(',;', 25000))),
  ('bm_slow', bm.nested(250));
SELECT orderflow.create_state_machine('bm_format', jsonb_build_object(
  'StartAt', 'P', 'States', jsonb_build_object('P', jsonb_build_object(
    'Type', 'Pass', 'End', true,
    'Parameters', jsonb_build_object('r.$', bm.format_bomb(10))))));
SELECT orderflow.create_state_machine('bm_path', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {"r.$": "$..*..*"}, "End": true}}}');
SELECT orderflow.create_state_machine('bm_matches', jsonb_build_object(
  'StartAt', 'C', 'States', jsonb_build_object(
    'C', jsonb_build_object('Type', 'Choice',
      'Choices', jsonb_build_array(jsonb_build_object(
        'Variable', '$.t', 'StringMatches', '*' || repeat('a', 129997) || 'b*', 'Next', 'Yes')),
      'Default', 'No'),
    'Yes', '{"Type": "Pass", "Result": "matched", "End": true}'::jsonb,
    'No', '{"Type": "Pass", "Result": "no match", "End": true}'::jsonb)));
SELECT orderflow.create_state_machine('bm_split', '{"StartAt": "P", "States": {
  "P": {"Type": "Pass", "Parameters": {
    "n.$": "States.ArrayLength(States.StringSplit($.s, $.d))"}, "End": true}}}');
SELECT orderflow.create_state_machine('bm_slow', jsonb_build_object(
  'StartAt', 'P', 'States', jsonb_build_object('P', jsonb_build_object(
    'Type', 'Pass', 'End', true,
    'Parameters', (SELECT jsonb_object_agg('f' || g || '.$', 'States.ArrayLength($..*..b)')
                     FROM generate_series(1, 5000) AS g)))));
});


# the largest peak private memory of any worker since it started, in kB
sub peak_private_kb
{
	my $max = 0;
	my $st = OfCluster::worker_status($node);
	for my $pid (keys %$st)
	{
		my $s = $st->{$pid};
		next unless defined $s->{VmHWM};
		my $kb = $s->{VmHWM} - ($s->{RssFile} // 0) - ($s->{RssShmem} // 0);
		$max = $kb if $kb > $max;
	}
	return $max;
}

# start an execution of $sm on its bm.inputs row
sub start
{
	my ($sm) = @_;
	return $node->safe_psql('postgres',
		"SELECT orderflow.start_execution('$sm', (SELECT input FROM bm.inputs WHERE name = '$sm'))");
}

# Run a state machine, sampling the workers' RssAnon until it stops;
# returns (status, error, output, max sampled RssAnon kB)
sub run_sampled
{
	my ($sm) = @_;
	my $id = start($sm);
	my $t0 = time;
	my ($max, $samples, $status) = (0, 0, 'RUNNING');
	while (time - $t0 < $TIMEOUT)
	{
		my $st = OfCluster::worker_status($node);
		for my $pid (keys %$st)
		{
			my $kb = $st->{$pid}{RssAnon} // 0;
			$max = $kb if $kb > $max;
		}
		$samples++;
		$status = $node->safe_psql('postgres',
			"SELECT status FROM orderflow.executions WHERE id = '$id'");
		last if $status ne 'RUNNING';
		sleep(0.1);
	}
	my $row = $node->safe_psql('postgres',
		"SELECT coalesce(error, '') || '|' || coalesce(left(output::text, 60), '') FROM orderflow.executions WHERE id = '$id'");
	my ($error, $output) = split /\|/, $row, 2;
	note(sprintf("%s: %s %s %s after %.1f s, max worker RssAnon %d kB over %d samples",
			$sm, $status, $error, $output, time - $t0, $max, $samples));
	return ($status, $error, $output, $max);
}

note('worker peak private memory before: ' . peak_private_kb() . ' kB');

my %expect = (
	bm_format => [ 'FAILED', 'States.DataLimitExceeded', '' ],
	bm_path => [ 'FAILED', 'States.DataLimitExceeded', '' ],
	bm_matches => [ 'SUCCEEDED', '', '"no match"' ],
	bm_split => [ 'SUCCEEDED', '', '{"n": 16666}' ]);
for my $sm (qw(bm_format bm_path bm_matches bm_split))
{
	my ($status, $error, $output, $max) = run_sampled($sm);
	is("$status $error $output", join(' ', @{ $expect{$sm} }), "$sm: $status $error");
	cmp_ok($max, '<=', $BOUND_KB, "$sm: sampled worker RssAnon $max kB <= $BOUND_KB kB");
	my $peak = peak_private_kb();
	cmp_ok($peak, '<=', $BOUND_KB,
		"$sm: worker peak private memory (VmHWM - RssFile - RssShmem) $peak kB <= $BOUND_KB kB");
}

# ------------------------------------------------------------------
# 2. pg_terminate_backend of a worker in a long evaluation
# ------------------------------------------------------------------
my $id = start('bm_slow');
# the worker that claimed it: the one whose activity is not idle; wait until
# the execution has been claimed and the state entered
my $pid;
my $t0 = time;
while (time - $t0 < $TIMEOUT)
{
	$pid = $node->safe_psql('postgres',
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'orderflow worker' "
		  . "AND xact_start < now() - interval '1 second' LIMIT 1");
	last if $pid ne '';
	sleep(0.1);
}
ok($pid ne '', 'a worker is busy evaluating the slow Pass state for over a second');
my $status = $node->safe_psql('postgres', "SELECT status FROM orderflow.executions WHERE id = '$id'");
is($status, 'RUNNING', 'the slow execution is still running');
my $t1 = time;
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
my $gone = 0;
while (time - $t1 < 60)
{
	if (!kill(0, $pid))
	{
		$gone = 1;
		last;
	}
	sleep(0.02);
}
my $secs = time - $t1;
note(sprintf('worker %d ended %.2f s after pg_terminate_backend', $pid, $secs));
ok($gone, 'the busy worker ended');
cmp_ok($secs, '<=', $TERMINATE_BOUND,
	sprintf('pg_terminate_backend took effect in %.2f s (bound %d s)', $secs, $TERMINATE_BOUND));

# the execution is left running: a restarted worker takes it up again
$node->stop('immediate');
done_testing();
