# Copyright: the orderflow authors.
#
# A task cannot hold a pool worker past its timeout by catching the cancel
# (issue 10, found beyond the issue's list by the hostile-roles suite).
#
# A task's timeout cancels it the way statement_timeout does, and PL/pgSQL
# can catch that: the task below catches every cancel forever.  Before, it
# held its worker for good and its execution stayed RUNNING.  Now, a pool
# worker whose task is still running a grace period after its timeout
# fired (max(2 s, 10% of the timeout), OF_TASK_KILL_GRACE_MIN_MS in
# src/task.h) ends itself with FATAL, which no PL can catch, and lists the
# execution in shared memory; whoever claims the execution next does not
# call the task again but fails it with States.Timeout ("the task ignored
# its timeout and its worker was ended"), so Retry and Catch apply.
#
# The task advances a sequence before its loop (nextval is not rolled back
# with the worker's batch), so the calls are counted.  Asserted, for role
# of_esc (an ordinary login role):
#   1. TimeoutSeconds 1: the worker in the task ends within
#      1 + 2 + $MARGIN_S s (its pid is gone, the launcher restarts the pool
#      to three workers), the execution ends FAILED States.Timeout with
#      that cause and TaskScheduled/TaskTimedOut in its history, the task
#      was called exactly once, and stays so; the server log says why.
#   2. meanwhile another role's 10 executions all succeed.
#   3. Retry (MaxAttempts 1) then Catch on States.Timeout: two calls (one
#      per allowed attempt), two workers ended, the execution SUCCEEDS
#      through the Catch, whose next task (run in the same batch as the
#      failure) is called as usual; two TaskTimedOut events.
#   4. no TimeoutSeconds, orderflow.default_task_timeout = 1s: the same.
#
# Needs "make install" first; run through test/run_all.sh (SUITES=tap).
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(time sleep);

my $TIMEOUT_S = 1;           # the tasks' TimeoutSeconds
my $GRACE_S = 2;             # OF_TASK_KILL_GRACE_MIN_MS
my $MARGIN_S = 4;            # scheduling slack on a loaded machine
my $CAUSE = 'the task ignored its timeout and its worker was ended';

my $node = OfCluster::node('timeout_escape', workers => 3,
	conf => [
		qq{orderflow.default_task_timeout = 1s} ]);

$node->safe_psql(
	'postgres', q{
CREATE ROLE of_esc LOGIN;
CREATE ROLE of_other LOGIN;
CREATE SCHEMA of_esc AUTHORIZATION of_esc;
CREATE SCHEMA of_other AUTHORIZATION of_other;
SET ROLE of_esc;
CREATE SEQUENCE of_esc.calls_plain;
CREATE SEQUENCE of_esc.calls_retry;
CREATE SEQUENCE of_esc.calls_default;
-- the Catch's Next, in the same batch: it is called as usual
CREATE FUNCTION of_esc.quick(input jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT input || '{"quick": true}' $$;
-- counts its call, then catches every cancel forever
CREATE FUNCTION of_esc.endless(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_catalog.nextval(input ->> 'counter');
  LOOP
    BEGIN PERFORM pg_catalog.pg_sleep(1); EXCEPTION WHEN query_canceled THEN NULL; END;
  END LOOP;
END $$;
SELECT orderflow.create_state_machine('esc_plain',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "of_esc.endless",
    "TimeoutSeconds": 1, "End": true}}}');
SELECT orderflow.create_state_machine('esc_retry',
  '{"StartAt": "T", "States": {
     "T": {"Type": "Task", "Resource": "of_esc.endless", "TimeoutSeconds": 1,
           "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 1, "MaxAttempts": 1}],
           "Catch": [{"ErrorEquals": ["States.Timeout"], "ResultPath": "$.error", "Next": "Caught"}],
           "End": true},
     "Caught": {"Type": "Task", "Resource": "of_esc.quick", "TimeoutSeconds": 5, "End": true}}}');
SELECT orderflow.create_state_machine('esc_default',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "of_esc.endless", "End": true}}}');
RESET ROLE;
SET ROLE of_other;
CREATE FUNCTION of_other.work(input jsonb) RETURNS jsonb LANGUAGE sql AS
  $$ SELECT pg_catalog.to_jsonb(pg_catalog.pg_sleep(0.2)::text) $$;
SELECT orderflow.create_state_machine('other',
  '{"StartAt": "W", "States": {"W": {"Type": "Task", "Resource": "of_other.work", "End": true}}}');
RESET ROLE;
});

sub q1 { return $node->safe_psql('postgres', shift); }

# pid of the worker in an endless task (pg_sleep), or '' after $wait_s
sub worker_in_task
{
	my ($wait_s) = @_;
	my $t0 = time;
	while (time - $t0 < $wait_s)
	{
		my $pid = q1("SELECT pid FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND wait_event = 'PgSleep' LIMIT 1");
		return $pid if $pid ne '';
		sleep(0.05);
	}
	return '';
}

# seconds until backend $pid is gone, or undef after $wait_s
sub seconds_until_gone
{
	my ($pid, $t0, $wait_s) = @_;
	while (time - $t0 < $wait_s)
	{
		return time - $t0
		  if q1("SELECT count(*) FROM pg_stat_activity WHERE pid = $pid") == 0;
		sleep(0.05);
	}
	return undef;
}

# status of execution $id once it is not RUNNING, or RUNNING after $wait_s
sub wait_status
{
	my ($id, $wait_s) = @_;
	return q1("SELECT orderflow.wait_for_execution('$id', '$wait_s s')");
}

sub history
{
	my ($id) = @_;
	return q1("SELECT string_agg(type, ' ' ORDER BY event_id) FROM orderflow.execution_history WHERE execution_id = '$id' AND type LIKE 'Task%'");
}

my $log_offset = -s $node->logfile;

# ------------------------------------------------------------------
# 1. TimeoutSeconds 1: the worker ends itself, the task is not called again
# ------------------------------------------------------------------
my $t0 = time;
my $id = q1("SET ROLE of_esc; SELECT orderflow.start_execution('esc_plain', '{\"counter\": \"of_esc.calls_plain\"}')");
my $pid = worker_in_task(10);
isnt($pid, '', "a worker runs esc_plain's endless task (pid $pid)");

# 2. meanwhile another role's executions run on the other workers
my $others = q1("SET ROLE of_other; SELECT string_agg(orderflow.start_execution('other')::text, ' ') FROM generate_series(1, 10)");

my $gone = seconds_until_gone($pid, $t0, $TIMEOUT_S + $GRACE_S + $MARGIN_S);
ok(defined $gone,
	sprintf('the worker in the task ended within %d s of the start (took %s s)',
		$TIMEOUT_S + $GRACE_S + $MARGIN_S, defined $gone ? sprintf('%.1f', $gone) : 'longer'));
is(wait_status($id, 15), 'FAILED', 'esc_plain ended FAILED');
is( q1("SELECT error || ': ' || cause FROM orderflow.executions WHERE id = '$id'"),
	"States.Timeout: $CAUSE", '... with States.Timeout, the task ignored its timeout');
is(history($id), 'TaskStateEntered TaskScheduled TaskTimedOut',
	'... and TaskScheduled, TaskTimedOut in its history');
is( q1("SELECT details ->> 'cause' FROM orderflow.execution_history WHERE execution_id = '$id' AND type = 'TaskTimedOut'"),
	$CAUSE, '... whose cause says so');
my $done = 0;
for my $o (split ' ', $others)
{
	$done++ if wait_status($o, 15) eq 'SUCCEEDED';
}
is($done, 10, "another role's 10 executions succeeded meanwhile");
ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = 3 AND count(*) FILTER (WHERE pid = $pid) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	"the launcher restarted the pool: three workers again, pid $pid not among them");
sleep(2);
is(q1('SELECT last_value FROM of_esc.calls_plain'), 1, 'the task was called exactly once');
is(q1("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'orderflow worker' AND wait_event = 'PgSleep'"),
	0, 'no worker is in the task any more');
ok($node->log_contains(qr/orderflow worker ended itself: a task of execution \Q$id\E ignored its timeout/, $log_offset),
	'the server log says why the worker ended');

# ------------------------------------------------------------------
# 3. Retry once, then Catch: one call per allowed attempt
# ------------------------------------------------------------------
$t0 = time;
$id = q1("SET ROLE of_esc; SELECT orderflow.start_execution('esc_retry', '{\"counter\": \"of_esc.calls_retry\"}')");
my @pids;
for my $attempt (1 .. 2)
{
	my $p = worker_in_task(15);
	push @pids, $p;
	ok(defined seconds_until_gone($p, time, $TIMEOUT_S + $GRACE_S + $MARGIN_S),
		"attempt $attempt: its worker (pid $p) ended") if $p ne '';
}
ok($pids[0] ne '' && $pids[1] ne '' && $pids[0] ne $pids[1],
	'the two attempts ran in two different workers (the first one ended)');
is(wait_status($id, 15), 'SUCCEEDED', 'esc_retry SUCCEEDED through its Catch');
is( q1("SELECT output -> 'error' ->> 'Error' FROM orderflow.executions WHERE id = '$id'"),
	'States.Timeout', '... with States.Timeout as the caught error');
is( history($id),
	'TaskStateEntered TaskScheduled TaskTimedOut TaskScheduled TaskTimedOut TaskStateExited '
	  . 'TaskStateEntered TaskScheduled TaskSucceeded TaskStateExited',
	'... after two TaskTimedOut (the attempt and its retry)');
is( q1("SELECT output ->> 'quick' FROM orderflow.executions WHERE id = '$id'"),
	'true', "... and the Catch's next task, in the same batch, was called as usual");
sleep(2);
is(q1('SELECT last_value FROM of_esc.calls_retry'), 2, 'the task was called exactly twice (MaxAttempts 1)');

# ------------------------------------------------------------------
# 4. orderflow.default_task_timeout (1s) bounds a task without TimeoutSeconds
# ------------------------------------------------------------------
$id = q1("SET ROLE of_esc; SELECT orderflow.start_execution('esc_default', '{\"counter\": \"of_esc.calls_default\"}')");
$pid = worker_in_task(10);
isnt($pid, '', "a worker runs esc_default's endless task");
ok(defined seconds_until_gone($pid, time, $TIMEOUT_S + $GRACE_S + $MARGIN_S), '... and ended');
is(wait_status($id, 15), 'FAILED', 'esc_default ended FAILED');
is( q1("SELECT error || ': ' || cause FROM orderflow.executions WHERE id = '$id'"),
	"States.Timeout: $CAUSE", '... with States.Timeout, the task ignored its timeout');
sleep(2);
is(q1('SELECT last_value FROM of_esc.calls_default'), 1, 'the task was called exactly once');

$node->stop('immediate');
done_testing();
