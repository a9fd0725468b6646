# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 finding 2: run_pending() advances only the work
# of roles the caller has the privileges of.  Another role's due work is
# never run in the attacker's session: not with the attacker's temp schema
# first (a temp table with a trigger named like the victim's table), not
# with its session settings, not under its operators in search_path, and
# the attacker cannot make it fail (States.Permissions).
#
# To leave work due long enough for an attacker's run_pending(), the pool
# is scaled to 0 workers (orderflow.workers follows reload) for the attack
# and back to 2 afterwards; the workers then finish the victims' work,
# which must show none of the attacker's influence.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Hostile;

my $node = Hostile::cluster('pending');
Hostile::role($node, $_) for qw(alice mallory);

# alice: a ledger, an audit table named unqualified by her task (whose
# SET search_path leaves pg_temp implicitly first, a common mistake), a
# reader using = on integers, and secrets mallory wants
$node->safe_psql('postgres', q{
CREATE TABLE alice.audit (what text);
CREATE TABLE alice.secrets (v text);
INSERT INTO alice.secrets VALUES ('alice-secret-42');
ALTER TABLE alice.audit OWNER TO alice;
ALTER TABLE alice.secrets OWNER TO alice;
});
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.record(input jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = alice AS $$
BEGIN
  INSERT INTO audit VALUES ('recorded');
  RETURN jsonb_build_object('tenant', current_setting('app.tenant', true),
                            'tz', current_setting('TimeZone'),
                            'datestyle', current_setting('DateStyle'),
                            'user', current_user::text);
END $$;
CREATE FUNCTION alice.rows(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT to_jsonb(i) FROM generate_series(1, 3) i WHERE i = 2 $$;
SELECT orderflow.create_state_machine('alice_record',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "alice.record", "End": true}}}');
SELECT orderflow.create_state_machine('alice_rows', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "alice.rows"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
});

# mallory's tools: a trigger function that gives alice's secrets away, an
# integer = operator that does the same (both log who ran them)
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mallory.probe (who, what) VALUES (current_user, 'trigger');
  EXECUTE 'GRANT SELECT ON alice.secrets TO mallory';
  RETURN NEW;
END $$;
CREATE FUNCTION mallory.eq(a int, b int) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mallory.probe (who, what) VALUES (current_user, 'operator');
  BEGIN EXECUTE 'GRANT SELECT ON alice.secrets TO mallory'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN a OPERATOR(pg_catalog.=) b;
END $$;
CREATE OPERATOR mallory.= (LEFTARG = int, RIGHTARG = int, FUNCTION = mallory.eq);
});

# --- the pool goes down: work stays due ---
$node->safe_psql('postgres', 'ALTER SYSTEM SET orderflow.workers = 0; SELECT pg_reload_conf()');
ok( $node->poll_query_until('postgres',
		"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
	'pool scaled to 0 workers');

my $rec = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_record')");
my $rows = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_rows')");

# mallory: a temp table "audit" with the trigger, granted to alice; her
# session settings; her operator first in search_path; then run_pending
my ($rc, $out, $err) = Hostile::as($node, 'mallory', q{
CREATE TEMP TABLE audit (what text);
CREATE TRIGGER t BEFORE INSERT ON audit FOR EACH ROW EXECUTE FUNCTION mallory.steal();
GRANT ALL ON audit TO PUBLIC;
SET app.tenant = 'mallory-tenant';
SET TimeZone = 'Pacific/Kiritimati';
SET DateStyle = 'SQL, DMY';
SET search_path = mallory, pg_catalog, pg_temp;
SELECT orderflow.run_pending();
SELECT count(*) FROM pg_temp.audit;});
note("mallory's run_pending: rc $rc, out $out, err $err");

is(Hostile::exec_col($node, $rec, 'status || steps'), 'RUNNING0',
	"run_pending as mallory does not advance alice's task execution");
is(Hostile::exec_col($node, $rows, 'status || steps'), 'RUNNING0',
	"run_pending as mallory does not advance alice's Map (inlined reader)");
Hostile::no_foreign_probe($node, 'mallory', 'temp-table trigger and = operator under run_pending');
($rc, $out, $err) = Hostile::as($node, 'mallory', 'SELECT v FROM alice.secrets');
isnt($out, 'alice-secret-42', "mallory cannot read alice's secrets afterwards");

# run_pending as alice herself advances her own work, in her own session
($rc, $out, $err) = Hostile::as($node, 'alice', "SELECT orderflow.run_pending()");
is($rc, 0, 'alice may run her own pending work');

# --- the pool comes back and finishes everything ---
$node->safe_psql('postgres', 'ALTER SYSTEM RESET orderflow.workers; SELECT pg_reload_conf()');
is(Hostile::wait_done($node, $rec, 30), 'SUCCEEDED', "alice's task execution succeeds (not failed by mallory)");
is(Hostile::wait_done($node, $rows, 30), 'SUCCEEDED', "alice's Map succeeds");
my $output = Hostile::exec_col($node, $rec, 'output');
Hostile::lacks($output, qr/mallory-tenant|Kiritimati|DMY/,
	"mallory's session settings (app.tenant, TimeZone, DateStyle) do not reach alice's task");
is(Hostile::exec_col($node, $rows, 'output'), '[2]', "alice's reader used pg_catalog's =");
is(Hostile::su($node, "SELECT count(*) FROM alice.audit"), '1',
	"alice's task wrote her own audit table once (not mallory's temp table)");

# --- a run_pending of mallory cannot fail alice's work either (no grant) ---
$node->safe_psql('postgres', 'ALTER SYSTEM SET orderflow.workers = 0; SELECT pg_reload_conf()');
$node->poll_query_until('postgres',
	"SELECT count(*) = 0 FROM pg_stat_activity WHERE backend_type = 'orderflow worker'");
$rec = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_record', '{\"n\": 2}')");
Hostile::as($node, 'mallory', q{
CREATE TEMP TABLE audit (what text);
SELECT orderflow.run_pending();});
$node->safe_psql('postgres', 'ALTER SYSTEM RESET orderflow.workers; SELECT pg_reload_conf()');
is(Hostile::wait_done($node, $rec, 30), 'SUCCEEDED',
	"mallory's run_pending with an ungranted temp table does not fail alice's execution (no States.Permissions)");

Hostile::no_privilege_gained($node, 'mallory', 'run_pending attacks');
$node->stop('immediate');
done_testing();
