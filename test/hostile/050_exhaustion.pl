# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 findings 6-10: what one role can make the
# workers consume is bounded.  Each attack runs as mallory against the
# live pool while bob's work must go on; the bounds are stated in the test
# names (docs/security.md lists them):
#   - parsed definitions: orderflow.definition_cache_size (8MB here);
#     five 10,000-state definitions keep each worker under 64 MB RssAnon;
#   - a $..*..* path over a 160-deep document and a 6-deep nested
#     States.Format keep each worker under 128 MB RssAnon (sizes checked
#     while results are built);
#   - a task's session-level advisory lock is released after it
#     (AdvisoryLocksReleased), so other roles' tasks get it;
#   - one role's slow tasks leave a worker free (orderflow.max_workers_per_role):
#     bob's execution finishes within 3 s while mallory's three 10 s tasks
#     are due;
#   - orderflow.default_task_timeout ends a task that has no TimeoutSeconds;
#   - Map children are checked against orderflow.max_payload_size (64kB
#     here) and a Map of more than orderflow.max_map_items (1000 here)
#     items fails while reading with States.DataLimitExceeded;
#   - stop_execution of a 1000-item Map takes under 5 s;
#   - a quadratic StringSplit does not make a worker deaf to
#     pg_terminate_backend (gone within 2 s).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use Hostile;

my $node = Hostile::cluster('exhaust',
	"orderflow.definition_cache_size = '8MB'",
	"orderflow.max_payload_size = '64kB'",
	"orderflow.max_map_items = 1000",
	"orderflow.default_task_timeout = 0");
Hostile::role($node, $_) for qw(mallory bob);
my ($rc, $out, $err, $id, $t0);

Hostile::as_ok($node, 'bob', q{
SELECT orderflow.create_state_machine('bob_pass', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');});

# the largest RssAnon of the workers while execution ID runs (kB)
sub peak_rss_while
{
	my ($id, $secs) = @_;
	my @pids = Hostile::worker_pids($node);
	my $max = 0;
	my $deadline = time + $secs;
	while (time < $deadline)
	{
		for my $p (@pids)
		{
			my $r = Hostile::rss_anon_kb($p);
			$max = $r if $r > $max;
		}
		last if Hostile::exec_col($node, $id, 'status') ne 'RUNNING';
		usleep(20_000);
	}
	return $max;
}

# --- 8: the definition cache is bounded ---
for my $k (1 .. 5)
{
	Hostile::as_ok($node, 'mallory', qq{
SELECT orderflow.create_state_machine('big$k', '${\ Hostile::big_definition(10000)}') \\g /dev/null
SELECT orderflow.start_execution('big$k') FROM generate_series(1, 4) \\g /dev/null});
}
ok(Hostile::poll($node, "SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 60),
	'the executions of five 10,000-state definitions ran');
my @rss = map { Hostile::rss_anon_kb($_) } Hostile::worker_pids($node);
cmp_ok((sort { $b <=> $a } @rss)[0], '<', 64 * 1024,
	"definition cache (8MB): every worker stays under 64 MB RssAnon after five big definitions (@rss kB)");

# --- 7: path expansion ---
my $doc = ('{"a":' x 160) . '1' . ('}' x 160);
$id = Hostile::as_ok($node, 'mallory', qq{
SELECT orderflow.create_state_machine('deep', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"r.\$": "\$..*..*"}, "End": true}}}') \\g /dev/null
SELECT orderflow.start_execution('deep', '$doc')});
my $peak = peak_rss_while($id, 60);
cmp_ok($peak, '<', 128 * 1024, "\$..*..* over a 160-deep document: workers stay under 128 MB RssAnon (peak $peak kB)");
is(Hostile::exec_col($node, $id, 'status || \' \' || error'), 'FAILED States.DataLimitExceeded',
	'... and the state fails with States.DataLimitExceeded');

# --- 7: nested States.Format: 10 kB copied 4^6 times ---
my $fmt = '$.s';
$fmt = "States.Format('{}{}{}{}', $fmt, $fmt, $fmt, $fmt)" for 1 .. 6;
$fmt =~ s/'/''/g;    # inside a SQL literal
$id = Hostile::as_ok($node, 'mallory', qq{
SELECT orderflow.create_state_machine('fmt', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "Parameters": {"r.\$": "$fmt"}, "End": true}}}') \\g /dev/null
SELECT orderflow.start_execution('fmt', jsonb_build_object('s', repeat('f', 10000)))});
$peak = peak_rss_while($id, 60);
cmp_ok($peak, '<', 128 * 1024, "nested States.Format (6 deep, 4 copies of 10 kB each): workers stay under 128 MB RssAnon (peak $peak kB)");
is(Hostile::exec_col($node, $id, 'status || \' \' || error'), 'FAILED States.DataLimitExceeded',
	'... and the state fails with States.DataLimitExceeded');

# --- 9: advisory locks left by a task ---
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.hog(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ SELECT jsonb_build_object('locked', pg_advisory_lock(42) IS NULL) $$;
SELECT orderflow.create_state_machine('hog', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.hog", "End": true}}}');});
my @hogs = split /\n/, Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('hog') FROM generate_series(1, 4)");
Hostile::wait_done($node, $_, 15) for @hogs;
ok(Hostile::poll($node, "SELECT count(*) = 0 FROM pg_locks WHERE locktype = 'advisory'", 3),
	'no advisory lock is held after the tasks that took them');
is(Hostile::su($node, "SELECT count(*) FROM orderflow.execution_history WHERE execution_id = '$hogs[0]' AND type = 'AdvisoryLocksReleased' AND details->>'count' = '1'"),
	'1', 'the history says AdvisoryLocksReleased {"count": 1}');
is(Hostile::as_ok($node, 'bob', 'SELECT pg_try_advisory_lock(42)'), 't',
	"bob's own session gets the advisory lock mallory's tasks took");

# --- 9: one role taking every worker ---
# mallory's slow tasks start 1.2 s apart, so that with the per-role share
# the second one finds the first running for over 1 s and is deferred
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.slow(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input FROM (SELECT pg_sleep(10)) s $$;
SELECT orderflow.create_state_machine('slow', '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.slow", "End": true}}}');});
my @slow;
for (1 .. 3)
{
	push @slow, Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('slow')");
	sleep 1.2;
}
$t0 = time;
$id = Hostile::as_ok($node, 'bob', "SELECT orderflow.start_execution('bob_pass')");
my $st = Hostile::wait_done($node, $id, 20);
my $took = time - $t0;
is($st, 'SUCCEEDED', "bob's execution succeeds while mallory's slow tasks run");
cmp_ok($took, '<', 3, sprintf("... within 3 s: a worker is left for bob (took %.1f s)", $took));
Hostile::as($node, 'mallory', "SELECT orderflow.stop_execution('$_')", timeout => 30) for @slow;
Hostile::poll($node, "SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 30);

# --- 9: default task timeout ---
$node->psql('postgres', "ALTER SYSTEM SET orderflow.default_task_timeout = '2s'");
$node->reload;
sleep 1;
$t0 = time;
$id = Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('slow')");
$st = Hostile::wait_done($node, $id, 20) . ' ' . Hostile::exec_col($node, $id, 'error');
$took = time - $t0;
is($st, 'FAILED States.Timeout', 'orderflow.default_task_timeout = 2s ends a task without TimeoutSeconds');
cmp_ok($took, '<', 4.5, sprintf('... within 4.5 s (took %.1f s)', $took));

# --- 10: Map child payloads and item counts ---
$id = Hostile::as_ok($node, 'mallory', q{
SELECT orderflow.create_state_machine('fat_children', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemsPath": "$.items", "ItemSelector": {"a.$": "$.blob", "b.$": "$.blob"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('fat_children', jsonb_build_object('blob', repeat('x', 40000), 'items', '[1, 2, 3]'::jsonb));});
is(Hostile::wait_done($node, $id, 20) . ' ' . Hostile::exec_col($node, $id, 'error'), 'FAILED States.DataLimitExceeded',
	'a Map whose child inputs are over orderflow.max_payload_size (64kB) fails with States.DataLimitExceeded');
is(Hostile::su($node, "SELECT count(*) FROM orderflow.executions WHERE root_id = '$id' AND octet_length(input::text) > 65536"),
	'0', '... and no child input over the limit was stored');

Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.many(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE
AS $$ SELECT to_jsonb(i) FROM generate_series(1, 20000) i $$;
SELECT orderflow.create_state_machine('many_read', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "mallory.many"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
SELECT orderflow.create_state_machine('many_path', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemsPath": "$.items",
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');});
$t0 = time;
$id = Hostile::as_ok($node, 'mallory', "SELECT orderflow.start_execution('many_read')");
$st = Hostile::wait_done($node, $id, 60) . ' ' . Hostile::exec_col($node, $id, 'error');
$took = time - $t0;
is($st, 'FAILED States.DataLimitExceeded', 'a 20,000-row ItemReader over orderflow.max_map_items (1000) fails with States.DataLimitExceeded');
cmp_ok(Hostile::su($node, "SELECT count(*) FROM orderflow.executions WHERE root_id = '$id'"), '<=', 1000,
	'... having stored at most max_map_items children (it stops while reading)');
cmp_ok($took, '<', 5, sprintf('... within 5 s (took %.1f s)', $took));
$id = Hostile::as_ok($node, 'mallory',
	"SELECT orderflow.start_execution('many_path', jsonb_build_object('items', (SELECT jsonb_agg(i) FROM generate_series(1, 1500) i)))");
is(Hostile::wait_done($node, $id, 30) . ' ' . Hostile::exec_col($node, $id, 'error'), 'FAILED States.DataLimitExceeded',
	'a 1,500-item ItemsPath array over max_map_items fails with States.DataLimitExceeded');

# --- 10: stopping a big Map ---
$id = Hostile::as_ok($node, 'mallory', q{
SELECT orderflow.create_state_machine('wide', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemsPath": "$.items",
  "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 600, "End": true}}}, "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('wide', jsonb_build_object('items', (SELECT jsonb_agg(i) FROM generate_series(1, 1000) i)));});
# every iteration parked in its Wait, so no worker holds one while the stop
# runs (an iteration a worker is advancing at that moment is skipped by the
# stop and ends at its next step: README "Limits")
ok(Hostile::poll($node, "SELECT count(*) = 1000 FROM orderflow.executions WHERE root_id = '$id' AND phase = 'waiting'", 60),
	'the 1,000 iterations are parked in their Wait');
$t0 = time;
Hostile::as_ok($node, 'mallory', "SELECT orderflow.stop_execution('$id')");
$took = time - $t0;
cmp_ok($took, '<', 5, sprintf('stop_execution of a 1,000-item Map takes under 5 s (took %.1f s)', $took));
ok(Hostile::poll($node, "SELECT count(*) = 0 FROM orderflow.executions WHERE root_id = '$id' AND status = 'RUNNING'", 10),
	'... and every iteration ends');

# --- 6: a long evaluation stays responsive to pg_terminate_backend ---
$id = Hostile::as_ok($node, 'mallory', q{
SELECT orderflow.create_state_machine('split', '{"StartAt": "P", "States": {"P": {"Type": "Pass",
  "Parameters": {"r.$": "States.ArrayLength(States.StringSplit($.s, $.d))"}, "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('split', jsonb_build_object('s', repeat('a', 30000), 'd', repeat('b', 30000)));});
sleep 1;
my @pids = Hostile::worker_pids($node);
$t0 = time;
Hostile::su($node, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (" . join(',', @pids) . ")");
my $gone = Hostile::poll($node, "SELECT count(*) = 0 FROM pg_stat_activity WHERE pid IN (" . join(',', @pids) . ")", 15);
$took = time - $t0;
cmp_ok($took, '<', 2, sprintf('a worker in a 30,000 x 30,000 StringSplit is gone within 2 s of pg_terminate_backend (took %.1f s)', $took));
Hostile::as($node, 'mallory', "SELECT orderflow.stop_execution('$id')", timeout => 30);

Hostile::no_privilege_gained($node, 'mallory', 'exhaustion attacks');
$node->stop('immediate');
done_testing();
