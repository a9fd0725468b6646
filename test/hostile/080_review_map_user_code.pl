# Copyright: the orderflow authors.
#
# Hostile roles, found in the review of issue 12: a Map's ItemReader and
# ResultWriter run the owner's code in a pool worker, as a task does, so
# they are bounded like tasks:
#   - a slow ResultWriter (or ItemReader) is counted in its owner's share of
#     the pool (orderflow.max_workers_per_role): mallory's three Maps whose
#     writers sleep 20 s leave a worker for bob, whose execution succeeds
#     while all three are still running (before, both workers sat in her
#     writers and bob waited for them);
#   - the session-level advisory locks a ResultWriter or an ItemReader
#     leaves are released after it, so another role gets them (before, the
#     worker kept them until it exited).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Hostile;

my $node = Hostile::cluster('mapcode', "orderflow.default_task_timeout = 0");
Hostile::role($node, $_) for qw(mallory bob);

Hostile::as_ok($node, 'bob', q{
SELECT orderflow.create_state_machine('bob_pass', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');});

# A Map of mallory that writes its results to BUCKET (one Pass per item)
sub writer_map
{
	my ($name, $bucket) = @_;
	return qq{SELECT orderflow.create_state_machine('$name', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
    "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
  "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject", "Parameters": {"Bucket": "$bucket"}},
  "End": true}}}') \\g /dev/null};
}

# --- the share of the pool: slow writers ---
# started 1.2 s apart, so that the second finds the first in its writer
# for over a second (as 050_exhaustion.pl does with tasks)
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.slow_writer(obj jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT pg_sleep(12); SELECT obj $$;
SELECT orderflow.register_resource('arn:aws:s3:::slow-bucket', 'mallory.slow_writer(jsonb)');
} . writer_map('slow_writer_map', 'slow-bucket'));
my @slow;
for (1 .. 3)
{
	push @slow, Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('slow_writer_map', '[1]')");
	sleep 1.2;
}
# a worker sleeps in a writer (its probe row would not be committed yet)
ok(Hostile::poll($node, "SELECT count(*) > 0 FROM pg_stat_activity"
	  . " WHERE backend_type = 'orderflow worker' AND wait_event = 'PgSleep'", 10),
	"a writer of mallory's is running");
my $id = Hostile::as_ok($node, 'bob', "SELECT orderflow.start_execution('bob_pass')");
my $st = Hostile::wait_done($node, $id, 8);
my $slow_running = Hostile::su($node,
	"SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING' AND id IN ('"
	  . join("', '", @slow) . "')");
is($st, 'SUCCEEDED', "bob's execution succeeds while mallory's Maps sit in their slow ResultWriters");
is($slow_running, '3', '... all three of them still running then: a worker was left for bob');
# one after the other, within mallory's share
is(Hostile::wait_done($node, $_, 60), 'SUCCEEDED', "mallory's slow Map $_ ends") for @slow;

# --- advisory locks left by a ResultWriter and by an ItemReader ---
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.lock_writer(obj jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT pg_advisory_lock(43); SELECT obj $$;
SELECT orderflow.register_resource('arn:aws:s3:::lock-bucket', 'mallory.lock_writer(jsonb)');
CREATE FUNCTION mallory.lock_reader(p jsonb) RETURNS SETOF jsonb LANGUAGE sql
AS $$ SELECT pg_advisory_lock(44); SELECT '1'::jsonb $$;
SELECT orderflow.create_state_machine('lock_reader_map', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "mallory.lock_reader"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
  "End": true}}}') \g /dev/null
} . writer_map('lock_writer_map', 'lock-bucket'));
for my $case ([ 'lock_writer_map', 43, 'ResultWriter' ], [ 'lock_reader_map', 44, 'ItemReader' ])
{
	my ($machine, $key, $what) = @$case;
	$id = Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('$machine', '[1]')");
	is(Hostile::wait_done($node, $id, 30), 'SUCCEEDED', "mallory's Map with the locking $what succeeds");
	ok(Hostile::poll($node,
		"SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory' AND objid = $key", 3),
		"no worker holds the advisory lock mallory's $what took");
	is(Hostile::as_ok($node, 'bob', "SELECT pg_try_advisory_lock($key)"), 't',
		"bob's own session gets the advisory lock mallory's $what took");
}

Hostile::no_privilege_gained($node, 'mallory', 'slow and locking Map reader and writer');
$node->stop('immediate');
done_testing();
