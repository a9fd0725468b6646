# Copyright: the orderflow authors.
#
# test/OfWorkload.pm: the order workload of the crash and failover TAP tests
# (test/t/002_crash_recovery.pl, test/t/003_failover.pl), and the checks
# that nothing was lost or done twice.
#
# The workflow is deliberately NOT idempotent, unlike the demo's tasks
# (demo/order_fulfillment.sql, whose tasks find their work done when they
# run again and whose shipments table has UNIQUE (order_id)): every task
# call inserts a row into a table without a unique key and moves stock.
# Re-running a committed step would therefore show up as a second row, and
# losing one as a missing row or unbalanced stock.  Only the engine's
# guarantee (a task's writes commit in the same transaction as the step
# that records them) keeps the counts at exactly one.
#
#   Process  -> Reserve (fails once with Transient for "flaky" orders,
#               retried after 1 s) -> Choice: "wait" orders Wait 1 s
#            -> Ship
#
# Tables (schema wl): orders, inventory (on_hand + reserved = initial),
# processed, reservations, shipments.
package OfWorkload;

use strict;
use warnings;
use Test::More;

# One SKU per order (SKUs repeat only 5000 orders apart): tasks of
# different executions never wait for each other.  Hot rows shared by many
# executions make the workers' batch transactions (orderflow.batch_size
# executions each) wait for and deadlock with each other; see README.
our $SKUS = 5000;

my $SETUP = q{
CREATE EXTENSION IF NOT EXISTS orderflow;
CREATE SCHEMA wl;
CREATE TABLE wl.inventory (sku text PRIMARY KEY, initial integer NOT NULL,
    on_hand integer NOT NULL CHECK (on_hand >= 0), reserved integer NOT NULL DEFAULT 0);
CREATE TABLE wl.orders (order_id integer PRIMARY KEY, sku text NOT NULL,
    qty integer NOT NULL, flaky boolean NOT NULL, wait boolean NOT NULL);
-- no unique keys on purpose: a task that ran twice leaves two rows
CREATE TABLE wl.processed (order_id integer NOT NULL, at timestamptz DEFAULT clock_timestamp());
CREATE TABLE wl.reservations (order_id integer NOT NULL, sku text NOT NULL, qty integer NOT NULL,
    attempt integer NOT NULL);
CREATE TABLE wl.shipments (order_id integer NOT NULL, sku text NOT NULL, qty integer NOT NULL);

CREATE FUNCTION wl.process(input jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
DECLARE o record;
BEGIN
    SELECT * INTO o FROM wl.orders WHERE order_id = (input->>'order_id')::int;
    INSERT INTO wl.processed (order_id) VALUES (o.order_id);
    PERFORM pg_sleep(0.001);
    RETURN input || jsonb_build_object('sku', o.sku, 'qty', o.qty, 'flaky', o.flaky, 'wait', o.wait);
END $$;

CREATE FUNCTION wl.reserve(input jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    -- the stock moves first, so that the failure below must undo it
    UPDATE wl.inventory SET on_hand = on_hand - (input->>'qty')::int,
                            reserved = reserved + (input->>'qty')::int
     WHERE sku = input->>'sku';
    INSERT INTO wl.reservations VALUES ((input->>'order_id')::int, input->>'sku',
        (input->>'qty')::int, (input->>'attempt')::int);
    IF (input->>'flaky')::boolean AND (input->>'attempt')::int = 0 THEN
        PERFORM orderflow.raise_error('Transient', 'first attempts of flaky orders fail');
    END IF;
    PERFORM pg_sleep(0.001);
    RETURN jsonb_build_object('reserved', (input->>'qty')::int);
END $$;

CREATE FUNCTION wl.ship(input jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    UPDATE wl.inventory SET reserved = reserved - (input->>'qty')::int
     WHERE sku = input->>'sku';
    INSERT INTO wl.shipments VALUES ((input->>'order_id')::int, input->>'sku', (input->>'qty')::int);
    PERFORM pg_sleep(0.001);
    RETURN jsonb_build_object('shipped', true);
END $$;

SELECT orderflow.create_state_machine('wl_order', $j$
{"StartAt": "Process",
 "States": {
  "Process": {"Type": "Task", "Resource": "wl.process", "Next": "Reserve"},
  "Reserve": {"Type": "Task", "Resource": "wl.reserve",
     "Parameters": {"order_id.$": "$.order_id", "sku.$": "$.sku", "qty.$": "$.qty",
                    "flaky.$": "$.flaky", "attempt.$": "$$.State.RetryCount"},
     "ResultPath": "$.reservation",
     "Retry": [{"ErrorEquals": ["Transient"], "IntervalSeconds": 1,
                "MaxAttempts": 3, "BackoffRate": 1},
               {"ErrorEquals": ["Postgres.DeadlockDetected"], "IntervalSeconds": 1,
                "MaxAttempts": 10, "BackoffRate": 1, "JitterStrategy": "FULL"}],
     "Next": "WaitOrNot"},
  "WaitOrNot": {"Type": "Choice",
     "Choices": [{"Variable": "$.wait", "BooleanEquals": true, "Next": "Hold"}],
     "Default": "Ship"},
  "Hold": {"Type": "Wait", "Seconds": 1, "Next": "Ship"},
  "Ship": {"Type": "Task", "Resource": "wl.ship", "ResultPath": "$.shipment",
     "Retry": [{"ErrorEquals": ["Postgres.DeadlockDetected"], "IntervalSeconds": 1,
                "MaxAttempts": 10, "BackoffRate": 1, "JitterStrategy": "FULL"}],
     "End": true}}}
$j$);
};

# Create the schema, tables, tasks and the state machine wl_order
sub setup
{
	my ($node) = @_;
	$node->safe_psql('postgres', $SETUP);
	$node->safe_psql('postgres',
		"INSERT INTO wl.inventory (sku, initial, on_hand) "
		  . "SELECT 'SKU-' || s, 1000000, 1000000 FROM generate_series(1, $SKUS) AS s");
}

# Create orders $from..$to and start one execution each (in batches, so
# that work starts while the rest is being submitted).  One in five is
# flaky (a retry), one in four waits.
sub start_orders
{
	my ($node, $from, $to) = @_;
	for (my $a = $from; $a <= $to; $a += 500)
	{
		my $b = $a + 499 > $to ? $to : $a + 499;
		$node->safe_psql(
			'postgres', qq{
INSERT INTO wl.orders
SELECT n, 'SKU-' || (1 + n % $SKUS), 1 + n % 7, n % 5 = 0, n % 4 = 1
  FROM generate_series($a, $b) AS n;
SELECT count(orderflow.start_execution('wl_order', jsonb_build_object('order_id', n), 'order-' || n))
  FROM generate_series($a, $b) AS n;
});
	}
}

# Poll (tolerating a server that is down or restarting) until every
# execution of wl_order is finished; returns true when they are
sub wait_all_finished
{
	my ($node, $timeout) = @_;
	my $deadline = time + $timeout;
	while (time < $deadline)
	{
		my ($rc, $out, $err) = $node->psql('postgres',
			"SELECT count(*) FILTER (WHERE status = 'RUNNING') FROM orderflow.executions WHERE state_machine = 'wl_order'"
		);
		return 1 if $rc == 0 && $out eq '0';
		sleep 1;
	}
	return 0;
}

# Run a query, retrying for a while when the server is not there (yet)
sub query_retry
{
	my ($node, $sql) = @_;
	for (1 .. 60)
	{
		my ($rc, $out, $err) = $node->psql('postgres', $sql);
		return $out if $rc == 0;
		sleep 1;
	}
	die "query failed for a minute: $sql";
}

# History of every execution of state machine $sm: event ids 1..n without
# gaps or duplicates (the primary key rules duplicates out; count = max =
# next_event_id - 1 rules out gaps), one ExecutionStarted (event 1), one
# terminal event (the last one)
sub check_history
{
	my ($node, $sm, $what) = @_;
	is( $node->safe_psql(
			'postgres', qq{SELECT count(*) FROM (
			    SELECT e.id, e.next_event_id, count(h.event_id) AS n, min(h.event_id) AS lo,
			           max(h.event_id) AS hi,
			           count(*) FILTER (WHERE h.type = 'ExecutionStarted') AS started,
			           count(*) FILTER (WHERE h.type IN ('ExecutionSucceeded', 'ExecutionFailed',
			                  'ExecutionAborted', 'ExecutionTimedOut')) AS terminal,
			           max(h.event_id) FILTER (WHERE h.type IN ('ExecutionSucceeded', 'ExecutionFailed',
			                  'ExecutionAborted', 'ExecutionTimedOut')) AS terminal_at,
			           max(h.event_id) FILTER (WHERE h.type = 'ExecutionStarted') AS started_at
			      FROM orderflow.executions AS e
			      LEFT JOIN orderflow.execution_history AS h ON h.execution_id = e.id
			     WHERE e.state_machine = '$sm'
			     GROUP BY e.id, e.next_event_id) AS x
			   WHERE lo <> 1 OR hi <> n OR next_event_id <> n + 1 OR started <> 1 OR terminal <> 1
			      OR started_at <> 1 OR terminal_at <> hi}
		),
		'0',
		"$what: history event ids contiguous 1..n, one ExecutionStarted first, one terminal event last"
	);
}

# Every check that nothing was lost or done twice, for orders 1..$n
sub check_all
{
	my ($node, $n, $what) = @_;
	my $q = sub { $node->safe_psql('postgres', $_[0]) };

	is( $q->(
			"SELECT count(*) || ' ' || count(*) FILTER (WHERE status = 'SUCCEEDED') FROM orderflow.executions WHERE state_machine = 'wl_order'"
		),
		"$n $n",
		"$what: all $n executions SUCCEEDED");
	is( $q->(
			q{SELECT count(*) FROM wl.orders AS o
			   WHERE (SELECT count(*) FROM wl.shipments AS s WHERE s.order_id = o.order_id) <> 1}
		),
		'0',
		"$what: every order shipped exactly once");
	is( $q->(
			q{SELECT count(*) FROM wl.orders AS o
			   WHERE (SELECT count(*) FROM wl.processed AS s WHERE s.order_id = o.order_id) <> 1
			      OR (SELECT count(*) FROM wl.reservations AS s WHERE s.order_id = o.order_id) <> 1}
		),
		'0',
		"$what: every order processed once and reserved once (the failed attempt rolled back)");
	is( $q->(
			q{SELECT count(*) FROM wl.inventory AS i
			   WHERE i.reserved <> 0
			      OR i.on_hand + coalesce((SELECT sum(s.qty) FROM wl.shipments AS s WHERE s.sku = i.sku), 0)
			         <> i.initial}
		),
		'0',
		"$what: inventory balances (on hand + shipped = initial, nothing left reserved)");
	is( $q->(
			q{SELECT count(*) FROM wl.reservations AS r JOIN wl.orders AS o USING (order_id)
			   WHERE o.flaky AND r.attempt < 1}
		),
		'0',
		"$what: flaky orders reserved on a later attempt (the first one rolled back)");
	# history: event ids 1..n without gaps or duplicates (the primary key
	# rules duplicates out; count = max = next_event_id - 1 rules out gaps),
	# one ExecutionStarted (event 1), one terminal event (the last one)
	is( $q->(
			q{SELECT count(*) FROM (
			    SELECT e.id, e.next_event_id, count(h.event_id) AS n, min(h.event_id) AS lo,
			           max(h.event_id) AS hi,
			           count(*) FILTER (WHERE h.type = 'ExecutionStarted') AS started,
			           count(*) FILTER (WHERE h.type IN ('ExecutionSucceeded', 'ExecutionFailed',
			                  'ExecutionAborted', 'ExecutionTimedOut')) AS terminal,
			           max(h.event_id) FILTER (WHERE h.type = 'ExecutionSucceeded') AS succeeded_at,
			           max(h.event_id) FILTER (WHERE h.type = 'ExecutionStarted') AS started_at
			      FROM orderflow.executions AS e
			      LEFT JOIN orderflow.execution_history AS h ON h.execution_id = e.id
			     WHERE e.state_machine = 'wl_order'
			     GROUP BY e.id, e.next_event_id) AS x
			   WHERE lo <> 1 OR hi <> n OR next_event_id <> n + 1 OR started <> 1 OR terminal <> 1
			      OR started_at <> 1 OR succeeded_at <> hi}
		),
		'0',
		"$what: history event ids contiguous 1..n, one ExecutionStarted first, one terminal event last"
	);
	# each task succeeded exactly once per execution; flaky ones failed once
	# with Transient; every failure was retried (deadlocks between the
	# workers' batches are retried too, see the definition)
	is( $q->(
			q{SELECT count(*) FROM (
			    SELECT o.order_id, o.flaky,
			           count(*) FILTER (WHERE h.type = 'TaskSucceeded') AS ok,
			           count(*) FILTER (WHERE h.type = 'TaskFailed') AS failed,
			           count(*) FILTER (WHERE h.type = 'TaskFailed' AND h.details->>'error' = 'Transient') AS transient,
			           count(*) FILTER (WHERE h.type = 'TaskScheduled') AS scheduled,
			           count(*) FILTER (WHERE h.type = 'RetryScheduled') AS retries
			      FROM wl.orders AS o
			      JOIN orderflow.executions AS e
			        ON e.state_machine = 'wl_order' AND e.name = 'order-' || o.order_id
			      JOIN orderflow.execution_history AS h ON h.execution_id = e.id
			     GROUP BY o.order_id, o.flaky) AS x
			   WHERE ok <> 3 OR transient <> flaky::int OR retries <> failed
			      OR scheduled <> 3 + failed}
		),
		'0',
		"$what: per execution 3 TaskSucceeded, one TaskFailed (Transient) only for flaky orders, every failure retried"
	);
	note "$what: deadlocks between workers retried: "
	  . $q->(
		q{SELECT count(*) FROM orderflow.execution_history
		   WHERE type = 'TaskFailed' AND details->>'error' = 'Postgres.DeadlockDetected'});
}

1;
