# Copyright: the orderflow authors.
#
# Activities end to end: 1,000 executions each queue an activity task;
# four copies of the example worker outside the database
# (test/activity_worker.sh, bash and psql) long-poll get_activity_task()
# and complete them with send_task_success().  Every task is done exactly
# once, every execution succeeds, and the idle workers exit.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use File::Basename qw(dirname);
use Cwd qw(abs_path);

my $worker_script = abs_path(dirname(__FILE__) . '/../activity_worker.sh');
my $tasks = 1000;
my $workers = 4;

my $node = PostgreSQL::Test::Cluster->new('activities');
$node->init;
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 2
orderflow.poll_interval = 200ms
max_worker_processes = 8
max_logical_replication_workers = 0
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION orderflow;
SELECT orderflow.create_activity('label_printer');
SELECT orderflow.create_state_machine('print_labels', '{"StartAt": "Print", "States": {
  "Print": {"Type": "Task", "Resource": "arn:aws:states:eu-west-1:123456789012:activity:label_printer",
            "HeartbeatSeconds": 60, "TimeoutSeconds": 300, "ResultPath": "$.label", "End": true}}}');
});

# the workers start first and long-poll: the tasks wake them as they are queued
my @procs;
my %env = (
	PGHOST => $node->host,
	PGPORT => $node->port,
	PGDATABASE => 'postgres',
	PGUSER => $ENV{USER} // scalar getpwuid($<));
for my $i (1 .. $workers)
{
	my $out = $node->basedir . "/worker$i.out";
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		@ENV{ keys %env } = values %env;
		open(STDOUT, '>', $out) or die;
		open(STDERR, '>&', \*STDOUT) or die;
		exec('bash', $worker_script, 'label_printer', "printer-$i", '3') or die;
	}
	push @procs, [ $pid, $out ];
}

my $t0 = time();
$node->safe_psql('postgres',
	"SELECT count(orderflow.start_execution('print_labels', jsonb_build_object('order', i), 'order-' || i)) FROM generate_series(1, $tasks) AS i"
);

ok( $node->poll_query_until(
		'postgres',
		"SELECT count(*) = $tasks FROM orderflow.executions WHERE status <> 'RUNNING'"),
	'all executions finished');
note sprintf('%d tasks done in about %d s', $tasks, time() - $t0);

my $total = 0;
for my $p (@procs)
{
	my ($pid, $out) = @$p;
	waitpid($pid, 0);
	is($? >> 8, 0, "worker $pid exited cleanly");
	my $log = slurp_file($out);
	like($log, qr/completed (\d+)/, "worker $pid reported") or diag $log;
	$total += $1 if $log =~ /completed (\d+)/;
}
is($total, $tasks, 'the workers completed every task once between them');

is( $node->safe_psql('postgres',
		"SELECT status, count(*) FROM orderflow.executions GROUP BY status"),
	"SUCCEEDED|$tasks",
	'every execution succeeded');
is( $node->safe_psql('postgres', q{
SELECT count(*), count(DISTINCT execution_id), count(*) FILTER (WHERE status = 'consumed')
  FROM orderflow.task_tokens}),
	"$tasks|$tasks|$tasks",
	'one task per execution, each consumed once');
is( $node->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions
 WHERE output -> 'label' ->> 'worker' IS NULL
    OR (output -> 'label' -> 'done' ->> 'order')::int <> (input ->> 'order')::int}),
	'0',
	'each output is the result its worker computed for that input');
is( $node->safe_psql('postgres', q{
SELECT count(DISTINCT worker_name) FROM orderflow.task_tokens}),
	$workers,
	'every worker took tasks');
is( $node->safe_psql('postgres', q{
SELECT string_agg(type, ',' ORDER BY event_id) FROM orderflow.execution_history
 WHERE execution_id = (SELECT id FROM orderflow.executions WHERE name = 'order-1')}),
	'ExecutionStarted,TaskStateEntered,ActivityScheduled,ActivityStarted,ActivitySucceeded,TaskStateExited,ExecutionSucceeded',
	'history of one execution');

$node->stop;
done_testing();
