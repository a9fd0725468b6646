# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 finding 4: a task that calls orderflow's own API
# cannot corrupt the batch its worker is advancing.  start_execution from
# a task that then fails loses no other execution's history; run_pending,
# start_sync_execution, wait_for_execution and get_activity_task are
# refused inside a task (55000 -> Postgres.ObjectNotInPrerequisiteState);
# stopping the execution the batch holds is refused (55006 ->
# Postgres.ObjectInUse); the engine keeps serving the other roles.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Hostile;

my $node = Hostile::cluster('reentry', 'orderflow.batch_size = 64');
Hostile::role($node, $_) for qw(alice bob);

Hostile::as_ok($node, 'bob', q{
CREATE FUNCTION bob.ok(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
SELECT orderflow.create_state_machine('bob_steps', '{"StartAt": "A", "States": {
  "A": {"Type": "Pass", "Next": "B"},
  "B": {"Type": "Task", "Resource": "bob.ok", "Next": "C"},
  "C": {"Type": "Pass", "End": true}}}');});
# the attacker's task: calls the API named in its input, then maybe fails
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.reenter(input jsonb, ctx jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
  op text := input->>'op';
BEGIN
  IF op = 'start_then_fail' THEN
    PERFORM orderflow.start_execution('alice_child');
    RAISE EXCEPTION 'failing after start_execution';
  ELSIF op = 'start' THEN
    PERFORM orderflow.start_execution('alice_child');
  ELSIF op = 'run_pending' THEN
    PERFORM orderflow.run_pending();
  ELSIF op = 'start_sync' THEN
    PERFORM orderflow.start_sync_execution('alice_child');
  ELSIF op = 'wait' THEN
    PERFORM orderflow.wait_for_execution((ctx->'Execution'->>'Id')::uuid, '2 s');
  ELSIF op = 'activity' THEN
    PERFORM * FROM orderflow.get_activity_task('alice_act', 'me', '1 s');
  ELSIF op = 'stop_self' THEN
    PERFORM orderflow.stop_execution((ctx->'Execution'->>'Id')::uuid);
  END IF;
  RETURN input;
END $$;
SELECT orderflow.create_activity('alice_act');
SELECT orderflow.create_state_machine('alice_child', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.create_state_machine('alice_reenter', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "alice.reenter", "End": true}}}');});

# Start N of bob's executions, alice's attack with OP, N more of bob's, in
# one transaction, so that one worker claims them in one batch; returns
# (alice's id, bob's ids)
sub batch_with
{
	my ($op, $n) = @_;
	my $out = $node->safe_psql('postgres', qq{
BEGIN;
SET ROLE bob;
SELECT orderflow.start_execution('bob_steps', jsonb_build_object('i', i)) FROM generate_series(1, $n) i;
SET ROLE alice;
SELECT 'A' || orderflow.start_execution('alice_reenter', '{"op": "$op"}');
SET ROLE bob;
SELECT orderflow.start_execution('bob_steps', jsonb_build_object('i', i)) FROM generate_series(1, $n) i;
RESET ROLE;
COMMIT;});
	my ($alice) = $out =~ /^A(\S+)$/m;
	my @bob = grep { !/^A/ && /\S/ } split /\n/, $out;
	return ($alice, @bob);
}

# every one of bob's executions succeeded, with its history whole
sub bob_intact
{
	my ($what, @bob) = @_;
	my $list = join(',', map { "'$_'" } @bob);
	# one deadline for all of them: a stalled engine costs 15 s, not 15 s each
	Hostile::poll($node,
		"SELECT count(*) = 0 FROM orderflow.executions WHERE id IN ($list) AND status = 'RUNNING'", 12)
	  if @bob;
	my @bad;
	for my $id (@bob)
	{
		my $st = Hostile::exec_col($node, $id, 'status');
		push @bad, "$id:$st" if $st ne 'SUCCEEDED' || Hostile::history_whole($node, $id) ne 't';
	}
	is(scalar(@bad) . ' bad', '0 bad',
		"$what: bob's " . scalar(@bob) . ' executions in the same batch succeeded with whole histories');
	diag("bad: @bad[0 .. ($#bad < 2 ? $#bad : 2)]") if @bad;
}

# --- start_execution inside a task that then fails ---
my ($a, @bob) = batch_with('start_then_fail', 10);
is(Hostile::wait_done($node, $a, 8), 'FAILED', 'start_execution then failing: the task fails');
bob_intact('start_execution inside a failing task', @bob);
is(Hostile::history_whole($node, $a), 't', "the attacker's own history is whole");
is(Hostile::su($node, "SELECT count(*) FROM orderflow.executions WHERE state_machine = 'alice_child'"),
	'0', 'the execution started by the failed task was rolled back with it');

# --- start_execution inside a task that succeeds: safe, the child runs ---
($a, @bob) = batch_with('start', 5);
is(Hostile::wait_done($node, $a, 8), 'SUCCEEDED', 'start_execution inside a task is allowed');
bob_intact('start_execution inside a task', @bob);
ok( Hostile::poll($node,
		"SELECT count(*) = 1 FROM orderflow.executions WHERE state_machine = 'alice_child' AND status = 'SUCCEEDED'"),
	'the child it started ran');

# --- refused inside a task ---
for my $op (qw(run_pending start_sync wait activity))
{
	($a, @bob) = batch_with($op, 5);
	my $st = Hostile::wait_done($node, $a, 8);
	is($st . ' ' . Hostile::exec_col($node, $a, 'error'),
		'FAILED Postgres.ObjectNotInPrerequisiteState', "$op inside a task is refused (55000)");
	like(Hostile::exec_col($node, $a, 'cause'), qr/cannot be called from inside a task/,
		"$op refusal says it cannot be called from inside a task");
	bob_intact("$op inside a task", @bob);
}

# --- stopping the execution the batch holds ---
($a, @bob) = batch_with('stop_self', 5);
is(Hostile::wait_done($node, $a, 8) . ' ' . Hostile::exec_col($node, $a, 'error'),
	'FAILED Postgres.ObjectInUse', 'stop_execution of its own execution from inside its task: 55006');
is(Hostile::history_whole($node, $a), 't', 'its history is whole');
bob_intact('stop_execution inside a task', @bob);

# --- the engine still serves everyone, promptly ---
my $t0 = time;
my $id = Hostile::as_ok($node, 'bob', "SELECT orderflow.start_execution('bob_steps')");
is(Hostile::wait_done($node, $id, 10), 'SUCCEEDED', 'after the attacks a new execution of bob succeeds');
cmp_ok(time - $t0, '<=', 5, '... within 5 s');
is(Hostile::su($node, q{SELECT count(*) FROM orderflow.executions WHERE status = 'RUNNING'}), '0',
	'nothing is left running');

$node->stop('immediate');
done_testing();
