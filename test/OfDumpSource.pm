# Copyright: the orderflow authors.
#
# test/OfDumpSource.pm: the live source database that the dump and restore
# tests (test/t/019_dump_restore.pl, test/t/021_restore_modes.pl) dump, and
# the checks they make on a cluster the dump was restored into.
#
# The source runs its workers while pg_dump -Fc reads it.  At that moment it
# has executions parked on every kind of wait: a Retry (dr.flaky fails with
# Flaky until a flag row exists), a Wait state, a callback (the token is in
# the user table dr.tokens, dumped with the rest), an activity task already
# handed out by get_activity_task, a Map half done (MaxConcurrency 1, a Wait
# in each item); finished executions, and some started just before the dump
# and still running.  Every task writes one row per call into dr.calls (no
# unique key), so a step that ran twice shows as a duplicate row, a lost one
# as a missing row.
#
# What differs between the tests is given to new(): the counts, the Wait
# seconds, the number of Map items, the roles and the SQL a test adds.
package OfDumpSource;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;

# the top-level execution ids, and the history of the executions finished
# before the dump: compared between the source and a restored cluster
our $Q_IDS = q{SELECT count(*) || ' ' || md5(string_agg(id::text, ',' ORDER BY id))
  FROM orderflow.executions WHERE parent_id IS NULL};
our $Q_HISTORY = q{SELECT count(*) || ' ' || md5(string_agg(h.execution_id::text || h.event_id || h.type || h.ts, ',' ORDER BY h.execution_id, h.event_id))
  FROM orderflow.execution_history h JOIN orderflow.executions e ON e.id = h.execution_id
 WHERE e.state_machine = 'dr_quick' AND e.name LIKE 'q-%'};

# Options (all required but the last four):
#   n_quick, n_live        executions finished before / started just before the dump
#   n_retry, n_wait        executions parked on the Retry / the Wait state
#   map_items              items of the Map (map-1)
#   map_done_max           at most this many items done when "half done"
#   retry_interval, wait_seconds, map_wait_seconds   the machines' timings
#   roles                  SQL creating the roles (dr_app at least), run on every cluster
#   quick_pass             dr_quick ends with a Pass state after its task
#   extra_sql              run as dr_app after the shared schema and machines
#   extra_start            run as dr_app with the parked executions
#   extra_keys             task keys extra_start's executions call once
sub new
{
	my ($class, %opt) = @_;
	my $self = bless {%opt}, $class;
	$self->{retry} = [ map { "retry-$_" } 1 .. $opt{n_retry} ];
	$self->{wait} = [ map { "wait-$_" } 1 .. $opt{n_wait} ];
	$self->{cb} = [ map { "cb-$_" } 1 .. 2 ];
	$self->{act} = 'act-1';
	$self->{map} = 'map-1';
	$self->{extra_keys} //= [];
	return $self;
}

# SELECTs starting one execution of $machine per name, input {"key": name}
sub start_sql
{
	my ($machine, @names) = @_;
	return join('', map { "SELECT orderflow.start_execution('$machine', '{\"key\": \"$_\"}', '$_');\n" } @names);
}

# The source cluster: roles, schema dr with its task functions, the activity
# dr_act and the machines dr_quick, dr_retry, dr_wait, dr_cb, dr_act, dr_map.
sub build_source
{
	my ($self, $name) = @_;
	my $src = OfCluster::node($name, workers => 2);
	$self->{src} = $src;
	$src->safe_psql('postgres', $self->{roles});
	# the timings and dr_quick's end go into the SQL below in place of @...@
	my %fill = (
		'@QUICK_END@' => $self->{quick_pass}
		? "\"Next\": \"V\"},\n  \"V\": {\"Type\": \"Pass\", \"End\": true"
		: '"End": true',
		'@RETRY_INTERVAL@' => $self->{retry_interval},
		'@WAIT_SECONDS@' => $self->{wait_seconds},
		'@MAP_WAIT_SECONDS@' => $self->{map_wait_seconds});
	my $sql = q{
CREATE SCHEMA dr AUTHORIZATION dr_app;
SET ROLE dr_app;
CREATE TABLE dr.calls (key text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dr.tokens (key text PRIMARY KEY, token text NOT NULL);
CREATE TABLE dr.flags (name text PRIMARY KEY);
CREATE FUNCTION dr.work(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.calls (key) VALUES (input ->> 'key') RETURNING jsonb_build_object('done', key) $$;
CREATE FUNCTION dr.flaky(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM dr.flags WHERE name = 'retry_ok') THEN
        PERFORM orderflow.raise_error('Flaky', 'not yet');
    END IF;
    INSERT INTO dr.calls (key) VALUES (input ->> 'key');
    RETURN '{"flaky": "ok"}';
END $$;
CREATE FUNCTION dr.ask(input jsonb) RETURNS jsonb LANGUAGE sql AS $$
    INSERT INTO dr.tokens VALUES (input ->> 'key', input ->> 'token') RETURNING '{}'::jsonb $$;
SELECT orderflow.create_activity('dr_act');

SELECT orderflow.create_state_machine('dr_quick', $j${"StartAt": "W", "States": {
  "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, @QUICK_END@}}}$j$);
SELECT orderflow.create_state_machine('dr_retry', $j${"StartAt": "F", "States": {
  "F": {"Type": "Task", "Resource": "dr.flaky", "Parameters": {"key.$": "$.key"},
        "Retry": [{"ErrorEquals": ["Flaky"], "IntervalSeconds": @RETRY_INTERVAL@, "MaxAttempts": 1000, "BackoffRate": 1.0}],
        "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_wait', $j${"StartAt": "P", "States": {
  "P": {"Type": "Wait", "Seconds": @WAIT_SECONDS@, "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_cb', $j${"StartAt": "Ask", "States": {
  "Ask": {"Type": "Task", "Resource": "dr.ask.waitForTaskToken",
          "Parameters": {"key.$": "$.key", "token.$": "$$.Task.Token"}, "ResultPath": "$.answer", "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work",
        "Parameters": {"key.$": "States.Format('{}-after', $.key)"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_act', $j${"StartAt": "A", "States": {
  "A": {"Type": "Task", "Resource": "activity:dr_act", "ResultPath": "$.answer", "Next": "W"},
  "W": {"Type": "Task", "Resource": "dr.work",
        "Parameters": {"key.$": "States.Format('{}-after', $.key)"}, "End": true}}}$j$);
SELECT orderflow.create_state_machine('dr_map', $j${"StartAt": "M", "States": {
  "M": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 1, "End": true,
        "Iterator": {"StartAt": "P", "States": {
          "P": {"Type": "Wait", "Seconds": @MAP_WAIT_SECONDS@, "Next": "W"},
          "W": {"Type": "Task", "Resource": "dr.work", "Parameters": {"key.$": "$.key"}, "End": true}}}}}}$j$);
};
	$sql =~ s/(\@[A-Z_]+\@)/$fill{$1}/g;
	$src->safe_psql('postgres', $sql . ($self->{extra_sql} // ''));
	return $src;
}

# n_quick executions of dr_quick (keys q-1..) run to the end (one test)
sub finish_quick
{
	my ($self) = @_;
	my ($src, $n) = ($self->{src}, $self->{n_quick});
	$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'q-' || g), 'q-' || g))
  FROM generate_series(1, $n) AS g;});
	ok( $src->poll_query_until('postgres',
			"SELECT count(*) = $n FROM orderflow.executions WHERE state_machine = 'dr_quick' AND status = 'SUCCEEDED'"),
		"$n executions finished on the source");
}

# Start the executions that park, wait until they have, and take the
# activity task; keeps its token in $self->{act_token} (four tests).
sub park
{
	my ($self) = @_;
	my $src = $self->{src};
	my $map_items = join(', ', map { "{\"key\": \"map-$_\"}" } 1 .. $self->{map_items});
	$src->safe_psql('postgres', "SET ROLE dr_app;\n"
		  . start_sql('dr_retry', @{ $self->{retry} }) . start_sql('dr_wait', @{ $self->{wait} })
		  . start_sql('dr_cb', @{ $self->{cb} }) . start_sql('dr_act', $self->{act})
		  . ($self->{extra_start} // '')
		  . "SELECT orderflow.start_execution('dr_map', '{\"items\": [$map_items]}', '$self->{map}');\n");
	ok( $src->poll_query_until('postgres', qq{
SELECT (SELECT count(DISTINCT h.execution_id) FROM orderflow.execution_history h
          JOIN orderflow.executions e ON e.id = h.execution_id
         WHERE e.state_machine = 'dr_retry' AND h.type = 'TaskFailed') = $self->{n_retry}
   AND (SELECT count(*) FROM dr.tokens) = @{[ scalar @{ $self->{cb} } ]}
   AND (SELECT count(*) FROM orderflow.task_tokens WHERE activity = 'dr_act' AND status = 'scheduled') = 1}),
		'retries, callbacks and the activity task are parked');
	$self->{act_token} = $src->safe_psql('postgres',
		"SET ROLE dr_app; SELECT task_token FROM orderflow.get_activity_task('dr_act', 'tap', '30 s')");
	like($self->{act_token}, qr/^[A-Za-z0-9_-]{64}$/, 'get_activity_task handed out the activity task');
	ok( $src->poll_query_until('postgres', qq{
SELECT count(*) FILTER (WHERE c.status = 'SUCCEEDED') BETWEEN 1 AND $self->{map_done_max}
  FROM orderflow.executions p JOIN orderflow.executions c ON c.parent_id = p.id
 WHERE p.name = '$self->{map}'}),
		'the Map is half done');
}

# Start n_live executions of dr_quick (keys l-1..) and pg_dump -Fc the
# database while they run (one test); keeps the source's ids and history of
# the finished executions.  Returns the dump's path.
sub take_dump
{
	my ($self) = @_;
	my $src = $self->{src};
	$src->safe_psql('postgres', qq{SET ROLE dr_app;
SELECT count(orderflow.start_execution('dr_quick', jsonb_build_object('key', 'l-' || g), 'l-' || g))
  FROM generate_series(1, $self->{n_live}) AS g;});
	my $dump = PostgreSQL::Test::Utils::tempdir() . '/orderflow.dump';
	$src->command_ok([ 'pg_dump', '-Fc', '-d', $src->connstr('postgres'), '-f', $dump ],
		'pg_dump -Fc of the live database');
	$self->{dump} = $dump;
	$self->{src_ids} = $src->safe_psql('postgres', $Q_IDS);
	$self->{src_history} = $src->safe_psql('postgres', $Q_HISTORY);
	return $dump;
}

# every task key the executions call once in all (after release_waits)
sub task_keys
{
	my ($self) = @_;
	return ((map { "q-$_" } 1 .. $self->{n_quick}), (map { "l-$_" } 1 .. $self->{n_live}),
		@{ $self->{retry} }, @{ $self->{wait} }, (map { "$_-after" } @{ $self->{cb} }, $self->{act}),
		(map { "map-$_" } 1 .. $self->{map_items}), @{ $self->{extra_keys} });
}

# A fresh cluster to restore into: orderflow preloaded (no extension), the
# roles created first, as README says.
sub restore_target
{
	my ($self, $name) = @_;
	my $node = OfCluster::node($name, workers => 2, extension => 0);
	$node->safe_psql('postgres', $self->{roles});
	return $node;
}

# the same top-level executions and finished history as the source (two tests)
sub same_as_source
{
	my ($self, $node, $what) = @_;
	is($node->safe_psql('postgres', $Q_IDS), $self->{src_ids}, "$what: the same top-level executions as the source");
	is($node->safe_psql('postgres', $Q_HISTORY), $self->{src_history},
		"$what: the history of the finished executions is the source's");
}

# complete what waits for the outside world: the flag, the tokens
sub release_waits
{
	my ($self, $node) = @_;
	$node->safe_psql('postgres', q{SET ROLE dr_app;
INSERT INTO dr.flags VALUES ('retry_ok');
SELECT orderflow.send_task_success(token, jsonb_build_object('answer', key)) FROM dr.tokens;});
	$node->safe_psql('postgres',
		"SET ROLE dr_app; SELECT orderflow.send_task_success('$self->{act_token}', '{\"answer\": \"act\"}')");
}

# true once no execution is RUNNING
sub all_finished
{
	my ($node) = @_;
	return $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'", 't');
}

# After release_waits: every execution finishes, SUCCEEDED, and called each
# task key exactly once; the tokens issued before the dump completed their
# tasks; the Map ran each item once (seven tests).
sub check_all_done
{
	my ($self, $node, $what) = @_;
	my @keys = $self->task_keys;
	ok(all_finished($node), "$what: every execution finished");
	is( $node->safe_psql('postgres',
			"SELECT string_agg(status || ' ' || n, ', ') FROM (SELECT status, count(*) AS n FROM orderflow.executions GROUP BY status) s"),
		'SUCCEEDED ' . $node->safe_psql('postgres', 'SELECT count(*) FROM orderflow.executions'),
		"$what: all of them SUCCEEDED");
	no_task_twice($node, $what);
	is( $node->safe_psql('postgres',
			'SELECT count(*) FROM dr.calls WHERE key = ANY (ARRAY[' . join(',', map { "'$_'" } @keys) . '])'),
		scalar(@keys), "$what: every task key was called (exactly once, with the check above)");
	is($node->safe_psql('postgres', 'SELECT count(*) FROM dr.calls'), scalar(@keys),
		"$what: and nothing else was called");
	is( $node->safe_psql('postgres', q{
SELECT string_agg(e.name || ':' || h.type, ',' ORDER BY e.name)
  FROM orderflow.executions e JOIN orderflow.execution_history h ON h.execution_id = e.id
 WHERE e.state_machine IN ('dr_cb', 'dr_act') AND h.state_name IN ('Ask', 'A')
   AND h.type IN ('TaskSucceeded', 'ActivitySucceeded')}),
		'act-1:ActivitySucceeded,cb-1:TaskSucceeded,cb-2:TaskSucceeded',
		"$what: the callback and activity tokens issued before the dump completed their tasks");
	is( $node->safe_psql('postgres', qq{SELECT count(*) FROM orderflow.executions c JOIN orderflow.executions p ON p.id = c.parent_id
  WHERE p.name = '$self->{map}' AND c.status = 'SUCCEEDED'}),
		$self->{map_items}, "$what: the Map ran each item once");
}

# no task key in dr.calls twice (one test)
sub no_task_twice
{
	my ($node, $what) = @_;
	is($node->safe_psql('postgres', 'SELECT count(*) FROM (SELECT key FROM dr.calls GROUP BY key HAVING count(*) > 1) d'),
		'0', "$what: no task ran twice");
}

# every history contiguous, next_event_id after it (two tests)
sub history_checks
{
	my ($node, $what) = @_;
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM (SELECT execution_id, count(*) AS n, min(event_id) AS lo, max(event_id) AS hi
                        FROM orderflow.execution_history GROUP BY execution_id) s
 WHERE lo <> 1 OR hi <> n}),
		'0', "$what: every execution's event ids run 1..n, no gap, no duplicate");
	is( $node->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions e
 WHERE e.next_event_id <> 1 + (SELECT coalesce(max(event_id), 0) FROM orderflow.execution_history
                                WHERE execution_id = e.id)}),
		'0', "$what: next_event_id follows the history");
}

# the number of ERROR/FATAL/PANIC/crash lines in $text (a server log or a
# command's output); the first ten are shown
sub log_errors
{
	my ($text) = @_;
	my @errors = grep { /\bERROR:|\bFATAL:|PANIC:|terminated by signal/ } split /\n/, $text;
	diag(join("\n", @errors[ 0 .. ($#errors < 9 ? $#errors : 9) ])) if @errors;
	return scalar(@errors);
}

1;
