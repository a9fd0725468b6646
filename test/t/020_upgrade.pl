# Copyright: the orderflow authors.
#
# Upgrades (issue 11, README "Upgrading"):
#   1. the library of this version still exports every C symbol that the
#      frozen 0.1.0 script names (else CREATE EXTENSION ... VERSION '0.1.0'
#      and every 0.1.0 installation fail to load it);
#   2. a fresh CREATE EXTENSION orderflow and CREATE EXTENSION orderflow
#      VERSION '0.1.0' + ALTER EXTENSION orderflow UPDATE have the same
#      objects, compared in the catalogs (test/upgrade/catalog.sql: members,
#      functions with their ACLs and bodies, columns, indexes, constraints,
#      policies, views, triggers, table ACLs and RLS flags, extconfig);
#   3. a REAL 0.1.0 installation (the library built from its released
#      source, test/upgrade/orderflow-0.1.0.tar.gz, by test/run_all.sh:
#      OF_OLD_INSTALL) with executions
#      parked on a Wait and on a Retry, and some running, is stopped and its
#      data directory started with the new library preloaded: the SQL
#      functions refuse with the hint, the workers leave the database alone
#      (one WARNING with the hint, no row touched); ALTER EXTENSION orderflow UPDATE with
#      the workers up; then every execution finishes exactly once with the
#      right output and a contiguous history.
use strict;
use warnings;

use File::Copy qw(move);
use File::Path qw(rmtree);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use OfCluster;

my $testdir = $ENV{TESTDIR} // 'test';

# ------------------------------------------------------------------
# 1 and 2: the new installation alone
# ------------------------------------------------------------------
# wait (up to 60 s) until the server log after offset $from matches $re
sub wait_for_log
{
	my ($n, $from, $re) = @_;
	for (1 .. 600)
	{
		return 1 if substr(slurp_file($n->logfile), $from) =~ $re;
		select(undef, undef, undef, 0.1);
	}
	return 0;
}

my $node = OfCluster::node('catalog');

my $sharedir = $node->config_data('--sharedir');
my $pkglibdir = $node->config_data('--pkglibdir');
my $frozen = slurp_file("$sharedir/extension/orderflow--0.1.0.sql");
my %wanted = map { $_ => 1 } ($frozen =~ /'MODULE_PATHNAME',\s*'(\w+)'/g);
my $c_functions = () = $frozen =~ /\bLANGUAGE C\b/g;
is(scalar(keys %wanted), $c_functions, "$c_functions C functions in orderflow--0.1.0.sql, each with its symbol");
my %exported;
for my $line (split /\n/, `nm -D --defined-only "$pkglibdir/orderflow.so"`)
{
	$exported{$1} = 1 if $line =~ /\s[TtWw]\s+(\w+)$/;
}
my @missing = grep { !$exported{$_} } sort keys %wanted;
is("@missing", '', 'the new orderflow.so exports every symbol the 0.1.0 script names');

$node->safe_psql('postgres', 'CREATE DATABASE fresh; CREATE DATABASE updated;');
$node->safe_psql('fresh', 'CREATE EXTENSION orderflow');
$node->safe_psql('updated', "CREATE EXTENSION orderflow VERSION '0.1.0'");
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'orderflow'"),
	'0.1.0', 'CREATE EXTENSION orderflow VERSION 0.1.0 with the new library');
$node->safe_psql('updated', 'ALTER EXTENSION orderflow UPDATE');
is($node->safe_psql('updated', "SELECT extversion FROM pg_extension WHERE extname = 'orderflow'"),
	'0.2.0', 'ALTER EXTENSION orderflow UPDATE to 0.2.0');

my $catalog_sql = slurp_file("$testdir/upgrade/catalog.sql");

sub catalog
{
	my ($db) = @_;
	return [ split /\n/, $node->safe_psql($db, $catalog_sql) ];
}

# the lines in one list and not in the other, marked - (fresh) and + (updated)
sub catalog_diff
{
	my ($a, $b) = @_;
	my (%in_a, %in_b);
	$in_a{$_}++ for @$a;
	$in_b{$_}++ for @$b;
	return (
		(map { "- $_" } grep { !$in_b{$_} } @$a),
		(map { "+ $_" } grep { !$in_a{$_} } @$b));
}

my $fresh = catalog('fresh');
my $updated = catalog('updated');
ok(scalar(@$fresh) > 300, scalar(@$fresh) . ' catalog facts about a fresh 0.2.0');
ok((grep { /^function orderflow\.start_execution/ } @$fresh)
	  && (grep { /^policy executions\.executions_owner/ } @$fresh)
	  && (grep { /^column executions\.deferred/ } @$fresh)
	  && (grep { /^index / } @$fresh)
	  && (grep { /^view execution_counts/ } @$fresh),
	'the facts cover functions, policies, columns, indexes and views');
my @diff = catalog_diff($fresh, $updated);
is(scalar(@diff), 0, 'fresh 0.2.0 and 0.1.0 + ALTER EXTENSION UPDATE have the same objects')
  or diag("catalog differences (- fresh, + updated):\n" . join("\n", @diff));

# the comparison sees a difference of one column default
$node->safe_psql('updated', 'ALTER TABLE orderflow.resources ALTER COLUMN created_at DROP DEFAULT');
@diff = catalog_diff($fresh, catalog('updated'));
is(scalar(@diff), 2, 'the comparison sees one changed column default')
  or diag(join("\n", @diff));
$node->stop;

# ------------------------------------------------------------------
# 3: a real 0.1.0 installation, upgraded under running workers
# ------------------------------------------------------------------
my $old_install = $ENV{OF_OLD_INSTALL} // '';
if ($old_install eq '' || !-x "$old_install/bin/postgres")
{
	my $why = $ENV{OF_OLD_NOTE} || 'OF_OLD_INSTALL is not set (run the TAP suite through test/run_all.sh)';
	diag('#' x 70);
	diag("# NO UPGRADE FROM A REAL 0.1.0 INSTALLATION WAS TESTED: $why");
	diag('#' x 70);
	fail("orderflow 0.1.0 is installed for the upgrade test ($why)");
	done_testing();
	exit;
}

my $conf = join("\n",
	"shared_preload_libraries = 'orderflow'",
	"orderflow.database = 'postgres'",
	"orderflow.workers = 2",
	"orderflow.poll_interval = 200ms",
	"max_worker_processes = 10",
	"max_logical_replication_workers = 0",
	"log_line_prefix = '%m [%p] %b: '",
	"log_min_messages = warning")
  . "\n";

my $old = PostgreSQL::Test::Cluster->new('v010', install_path => $old_install);
$old->init;
$old->append_conf('postgresql.conf', $conf);
$old->start;
$old->safe_psql('postgres', 'CREATE EXTENSION orderflow');
is($old->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'orderflow'"),
	'0.1.0', 'the old installation runs orderflow 0.1.0');
ok( $old->poll_query_until('postgres',
		"SELECT count(*) = 2 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'0.1.0 workers run');

# non-idempotent tasks: each call is recorded, (name, step) unique, so a
# step run twice fails its execution and shows
$old->safe_psql('postgres', q{
CREATE SCHEMA up;
CREATE TABLE up.gate (open boolean NOT NULL);
INSERT INTO up.gate VALUES (false);
CREATE TABLE up.calls (name text, step text, PRIMARY KEY (name, step));
CREATE FUNCTION up.double(input jsonb, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO up.calls VALUES (context -> 'Execution' ->> 'Name', context -> 'State' ->> 'Name');
    RETURN jsonb_build_object('v', (input ->> 'v')::int * 2);
END $$;
CREATE FUNCTION up.gated(input jsonb, context jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    IF NOT (SELECT open FROM up.gate) THEN
        PERFORM orderflow.raise_error('NotYet', 'the gate is closed');
    END IF;
    INSERT INTO up.calls VALUES (context -> 'Execution' ->> 'Name', context -> 'State' ->> 'Name');
    RETURN input || '{"gated": true}';
END $$;
SELECT orderflow.create_state_machine('up_wait', '{"StartAt": "D1", "States": {
  "D1": {"Type": "Task", "Resource": "up.double", "Next": "W"},
  "W":  {"Type": "Wait", "Seconds": 15, "Next": "D2"},
  "D2": {"Type": "Task", "Resource": "up.double", "End": true}}}');
SELECT orderflow.create_state_machine('up_retry', '{"StartAt": "G", "States": {
  "G": {"Type": "Task", "Resource": "up.gated", "End": true,
        "Retry": [{"ErrorEquals": ["NotYet"], "IntervalSeconds": 2, "MaxAttempts": 1000, "BackoffRate": 1.0}]}}}');
SELECT orderflow.create_state_machine('up_run', '{"StartAt": "D1", "States": {
  "D1": {"Type": "Task", "Resource": "up.double", "Next": "W"},
  "W":  {"Type": "Wait", "Seconds": 1, "Next": "D2"},
  "D2": {"Type": "Task", "Resource": "up.double", "Next": "D3"},
  "D3": {"Type": "Task", "Resource": "up.double", "End": true}}}');
SELECT orderflow.start_execution('up_wait', jsonb_build_object('v', i), 'w' || i) FROM generate_series(1, 20) AS i;
SELECT orderflow.start_execution('up_retry', jsonb_build_object('v', i), 'r' || i) FROM generate_series(1, 20) AS i;
});
ok( $old->poll_query_until('postgres', q{
SELECT count(*) = 20 FROM orderflow.executions
 WHERE state_machine = 'up_wait' AND current_state = 'W' AND status = 'RUNNING' AND due_at > now()}),
	'20 executions parked on a Wait under 0.1.0');
ok( $old->poll_query_until('postgres', q{
SELECT count(*) = 20 FROM orderflow.executions
 WHERE state_machine = 'up_retry' AND status = 'RUNNING' AND retry_count >= 1}),
	'20 executions parked on a Retry under 0.1.0');
# and some in flight at the stop
$old->safe_psql('postgres',
	"SELECT orderflow.start_execution('up_run', jsonb_build_object('v', i), 'n' || i) FROM generate_series(1, 20) AS i");
my $in_flight = $old->safe_psql('postgres',
	"SELECT count(*) FROM orderflow.executions WHERE state_machine = 'up_run' AND status = 'RUNNING'");
$old->stop('fast');
note("up_run executions running at the stop: $in_flight of 20");

# the same data directory, on the new installation
my $new = PostgreSQL::Test::Cluster->new('v020');
$new->init;
rmtree($new->data_dir);
move($old->data_dir, $new->data_dir) or die "moving the data directory: $!";
$new->append_conf('postgresql.conf', "port = " . $new->port . "\n");
my $log_start = -s $new->logfile // 0;
$new->start;
ok( $new->poll_query_until('postgres',
		"SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'orderflow launcher'"),
	'the new library is preloaded and its launcher runs');
is($new->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'orderflow'"),
	'0.1.0', 'the database still holds the 0.1.0 SQL objects');

my $rows_sql = q{SELECT md5(string_agg(concat_ws('|', id, status, current_state, retry_count, next_event_id, due_at), ',' ORDER BY id))
                   FROM orderflow.executions};
my $rows_before = $new->safe_psql('postgres', $rows_sql);

my ($rc, $out, $err) = $new->psql('postgres',
	"SELECT orderflow.start_execution('up_run', '{\"v\": 1}', 'refused')");
isnt($rc, 0, 'a SQL function of the new library refuses the 0.1.0 schema');
like($err, qr/ERROR:  orderflow's SQL objects in this database are at version 0\.1\.0, its library is at version 0\.2\.0/,
	'... with an ERROR naming both versions');
like($err, qr/HINT:  Run ALTER EXTENSION orderflow UPDATE;/, '... and the hint to update');
($rc, $out, $err) = $new->psql('postgres', 'SELECT orderflow.run_pending()');
like($err, qr/HINT:  Run ALTER EXTENSION orderflow UPDATE;/, 'run_pending refuses too');
is($new->safe_psql('postgres', 'SELECT 1'), '1', 'the session survives');
is( $new->safe_psql('postgres',
		"SELECT d.status FROM orderflow.executions AS e, orderflow.describe_execution(e.id) AS d WHERE e.name = 'w1'"),
	'RUNNING', "the old version's PL/pgSQL functions still read the tables");

# a worker that finds the database at another version leaves it with ONE
# warning whose hint names the update (README, "Many databases"), and the
# launcher looks again only after a minute or when ALTER EXTENSION commits:
# wait for the warning, then for a while longer, and count
ok( wait_for_log($new, $log_start,
		qr/orderflow does not serve database "postgres": its SQL objects are at version 0\.1\.0/),
	'a worker found the database at 0.1.0 and said so');
sleep 3;
my $log = substr(slurp_file($new->logfile), $log_start);
my @warnings = grep { /orderflow does not serve database "postgres"/ } split /\n/, $log;
is(scalar(@warnings), 1, 'one warning for the database, not one per poll');
like($log, qr/HINT:\s+Run ALTER EXTENSION orderflow UPDATE; in database "postgres"/,
	'its hint says to run ALTER EXTENSION orderflow UPDATE');
my @worker_lines = grep { /orderflow worker/ && /ERROR|FATAL|PANIC/ } split /\n/, $log;
is(scalar(@worker_lines), 0, 'no error from the workers before the update')
  or diag(join("\n", @worker_lines[0 .. ($#worker_lines < 9 ? $#worker_lines : 9)]));
is($new->safe_psql('postgres', $rows_sql), $rows_before, 'no execution was touched before the update');

# open the gate, then update with the workers up
$new->safe_psql('postgres', 'UPDATE up.gate SET open = true');
$new->safe_psql('postgres', 'ALTER EXTENSION orderflow UPDATE');
is($new->safe_psql('postgres', "SELECT extversion FROM pg_extension WHERE extname = 'orderflow'"),
	'0.2.0', 'ALTER EXTENSION orderflow UPDATE with the workers up');
$new->safe_psql('postgres',
	"SELECT orderflow.start_execution('up_run', jsonb_build_object('v', i), 'm' || i) FROM generate_series(1, 5) AS i");

ok( $new->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM orderflow.executions WHERE status = 'RUNNING'"),
	'every execution finished after the update');
is( $new->safe_psql('postgres', q{
SELECT state_machine || ' ' || status || ' ' || count(*) FROM orderflow.executions
 GROUP BY state_machine, status ORDER BY 1}),
	"up_retry SUCCEEDED 20\nup_run SUCCEEDED 25\nup_wait SUCCEEDED 20",
	'all of them succeeded');
is( $new->safe_psql('postgres', q{
SELECT count(*) FROM orderflow.executions
 WHERE NOT CASE state_machine
         WHEN 'up_wait' THEN output = jsonb_build_object('v', (input ->> 'v')::int * 4)
         WHEN 'up_run' THEN output = jsonb_build_object('v', (input ->> 'v')::int * 8)
         WHEN 'up_retry' THEN output = input || '{"gated": true}' END}),
	'0', 'every output is right');
is( $new->safe_psql('postgres', q{
SELECT string_agg(step || ' ' || n, ', ' ORDER BY step) FROM (
  SELECT step, count(*) AS n FROM up.calls GROUP BY step) AS s}),
	'D1 45, D2 45, D3 25, G 20', 'every task ran exactly once per execution');
is( $new->safe_psql('postgres', q{
SELECT count(*) FROM (
  SELECT e.id FROM orderflow.executions AS e JOIN orderflow.execution_history AS h ON h.execution_id = e.id
   GROUP BY e.id
  HAVING min(h.event_id) <> 1 OR max(h.event_id) <> count(*)
      OR count(*) FILTER (WHERE h.type = 'ExecutionStarted') <> 1
      OR count(*) FILTER (WHERE h.type = 'ExecutionSucceeded') <> 1) AS bad}),
	'0', 'every history is contiguous with one start and one end');

$log = substr(slurp_file($new->logfile), $log_start);
@worker_lines = grep { /orderflow worker/ && /ERROR|FATAL|PANIC/ } split /\n/, $log;
is(scalar(@worker_lines), 0, 'no worker error at all across the upgrade')
  or diag(join("\n", @worker_lines[0 .. ($#worker_lines < 9 ? $#worker_lines : 9)]));

$new->stop;
done_testing();
