# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 findings 3, 5, 12, 13 and the privilege model of
# docs/security.md: state machines, activities and resource registrations
# belong to their owner.  Another role cannot start, delete, update, grant
# on or read someone else's state machine, cannot capture a name its owner
# deleted (tombstones), cannot squat an activity or a Resource string, and
# a START grantee starts with its own privileges but reads nothing of the
# owner's or other starters' executions.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Hostile;

my $node = Hostile::cluster('names');
Hostile::role($node, $_) for qw(alice bob mallory);

$node->safe_psql('postgres', q{
CREATE TABLE alice.ledger (v text);
ALTER TABLE alice.ledger OWNER TO alice;
});
# alice's machine writes her ledger; mallory's "capture" task gives the
# caller's ledger away and logs who ran it
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.bill(input jsonb) RETURNS jsonb LANGUAGE sql
AS $$ INSERT INTO alice.ledger VALUES ('billed by ' || current_user) RETURNING '{}'::jsonb $$;
SELECT orderflow.create_state_machine('nightly_billing',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "alice.bill", "End": true}}}');
SELECT orderflow.create_state_machine('alice_pass',
  '{"Comment": "alice-definition-secret", "StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
});
Hostile::as_ok($node, 'mallory', q{
CREATE FUNCTION mallory.capture(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mallory.probe (who, what) VALUES (current_user, 'capture');
  BEGIN EXECUTE 'GRANT ALL ON alice.ledger TO mallory'; EXCEPTION WHEN OTHERS THEN NULL; END;
  RETURN input;
END $$;
CREATE FUNCTION mallory.steal(input jsonb) RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mallory.probe (who, what) VALUES (current_user, 'steal: ' || input::text);
  RETURN input;
END $$;});

my ($rc, $out, $err);

# --- 5: starting someone else's state machine ---
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.start_execution('nightly_billing')");
like($err, qr/ERROR:  42501: permission denied for state machine "nightly_billing"/,
	"start_execution of alice's machine by mallory: 42501 permission denied");
like($err, qr/HINT:  .*orderflow\.grant_state_machine\('nightly_billing', 'START'/,
	'the refusal hints at grant_state_machine');
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.start_sync_execution('nightly_billing')");
like($err, qr/ERROR:  42501/, "start_sync_execution of alice's machine by mallory: 42501");
is(Hostile::su($node, "SELECT count(*) FROM orderflow.executions WHERE owner = 'mallory'::regrole"),
	'0', 'mallory started no execution of alice\'s machine');

# --- deleting, updating, granting on someone else's machine ---
Hostile::as($node, 'mallory', "SELECT orderflow.delete_state_machine('nightly_billing', true)");
Hostile::as($node, 'mallory', q{SELECT orderflow.update_state_machine('nightly_billing',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.capture", "End": true}}}')});
is(Hostile::su($node, "SELECT latest_version || ' ' || owner::text FROM orderflow.state_machines WHERE name = 'nightly_billing'"),
	'1 alice', "mallory can neither delete nor update alice's machine");
($rc, $out, $err) = Hostile::as($node, 'mallory',
	"SELECT orderflow.grant_state_machine('nightly_billing', 'ALL', 'mallory')");
like($err, qr/ERROR:  42501/, "grant_state_machine by a non-owner: 42501");
($rc, $out, $err) = Hostile::as($node, 'mallory',
	"SELECT orderflow.has_state_machine_privilege('nightly_billing', 'START')");
is($out, 'f', 'mallory has no START on alice\'s machine after trying to grant it');

# --- 13: definitions, resources, activities are not readable by others ---
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.charge(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT input $$;
SELECT orderflow.register_resource('arn:aws:lambda:eu-west-1:111111111111:function:alice-charge',
  'alice.charge(jsonb)');
SELECT orderflow.create_activity('alice_printer');});
$out = Hostile::as_ok($node, 'mallory', q{
SELECT (SELECT count(*) FROM orderflow.state_machines WHERE name IN ('nightly_billing', 'alice_pass'))
     + (SELECT count(*) FROM orderflow.state_machine_versions WHERE state_machine IN ('nightly_billing', 'alice_pass'))
     + (SELECT count(*) FROM orderflow.resources WHERE resource LIKE '%alice-charge%')
     + (SELECT count(*) FROM orderflow.activities WHERE name = 'alice_printer')});
is($out, '0', "mallory sees none of alice's state machines, versions, resources, activities");
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT * FROM orderflow.describe_state_machine('alice_pass')");
Hostile::lacks($out . $err, qr/alice-definition-secret/, "describe_state_machine: alice's definition is not shown to mallory");
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.render_graph('alice_pass')");
Hostile::lacks($out . $err, qr/alice_pass v\d|Pass/, "render_graph of alice's machine: nothing drawn for mallory");

# --- the name of a deleted machine cannot be captured ---
Hostile::as_ok($node, 'alice', "SELECT orderflow.delete_state_machine('nightly_billing')");
($rc, $out, $err) = Hostile::as($node, 'mallory', q{SELECT orderflow.create_state_machine('nightly_billing',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "mallory.capture", "End": true}}}')});
isnt($rc, 0, "mallory cannot re-create alice's deleted name 'nightly_billing'");
Hostile::as($node, 'alice', "SELECT orderflow.start_execution('nightly_billing')");
sleep 1;
Hostile::no_foreign_probe($node, 'mallory', "alice starting her deleted name");
($rc, $out, $err) = Hostile::as($node, 'mallory', 'SELECT count(*) FROM alice.ledger');
isnt($rc, 0, "mallory still has no access to alice's ledger");
($rc, $out, $err) = Hostile::as($node, 'alice', q{SELECT orderflow.create_state_machine('nightly_billing',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "alice.bill", "End": true}}}')});
is($rc, 0, 'alice herself may create her deleted name again');

# --- 3: activities cannot be squatted ---
Hostile::as_ok($node, 'mallory', "SELECT orderflow.create_activity('labels')");
($rc, $out, $err) = Hostile::as($node, 'alice', q{SELECT orderflow.create_state_machine('alice_labels',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:labels", "TimeoutSeconds": 60, "End": true}}}')});
isnt($rc, 0, "alice's definition cannot bind mallory's activity 'labels'");
Hostile::as_ok($node, 'alice', q{
SELECT orderflow.create_activity('payroll') \g /dev/null
SELECT orderflow.create_state_machine('alice_payroll',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:payroll", "TimeoutSeconds": 60, "End": true}}}') \g /dev/null
SELECT orderflow.delete_activity('payroll');});
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.create_activity('payroll')");
isnt($rc, 0, "mallory cannot re-create alice's deleted activity 'payroll'");
Hostile::as($node, 'alice', q{SELECT orderflow.start_execution('alice_payroll', '{"salary": "alice-salary-777"}')});
Hostile::as($node, 'alice', q{SELECT orderflow.start_execution('alice_labels', '{"salary": "alice-salary-777"}')});
my $alice_exec = Hostile::as_ok($node, 'alice', q{
SELECT orderflow.create_state_machine('alice_print',
  '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "activity:alice_printer", "TimeoutSeconds": 60, "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('alice_print', '{"salary": "alice-salary-777"}');});
($rc, $out, $err) = Hostile::as($node, 'mallory', q{
SELECT * FROM orderflow.get_activity_task('payroll', 'm', '1 s');
SELECT * FROM orderflow.get_activity_task('labels', 'm', '1 s');});
($rc, my $out2, my $err2) = Hostile::as($node, 'mallory',
	"SELECT * FROM orderflow.get_activity_task('alice_printer', 'm', '1 s')");
like($err2, qr/ERROR:  42501/, "get_activity_task on alice's activity by mallory: 42501");
Hostile::lacks("$out $err $out2 $err2", qr/alice-salary-777/,
	"mallory's get_activity_task (squatted, re-created, or alice's) never receives alice's task input");

# --- 12: resource strings cannot be squatted ---
Hostile::su($node, 'TRUNCATE mallory.probe');
my $arn = 'arn:aws:lambda:us-east-1:123456789012:function:charge';
Hostile::as_ok($node, 'mallory', "SELECT orderflow.register_resource('$arn', 'mallory.steal(jsonb)')");
($rc, $out, $err) = Hostile::as($node, 'alice', qq{
SELECT orderflow.register_resource('$arn', 'alice.charge(jsonb)') \\g /dev/null
SELECT orderflow.create_state_machine('alice_charge',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "$arn", "End": true}}}') \\g /dev/null
SELECT orderflow.start_execution('alice_charge', '{"card": "alice-card-9999"}');});
is($rc, 0, "alice registers the ARN mallory registered first, for herself");
Hostile::wait_done($node, $out, 30) if $rc == 0;
Hostile::no_foreign_probe($node, 'mallory', "alice's task on the squatted ARN");
($rc, $out, $err) = Hostile::as($node, 'bob', qq{SELECT orderflow.create_state_machine('bob_charge',
  '{"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "$arn", "End": true}}}')});
is(Hostile::su($node, qq{SELECT count(*) FROM orderflow.state_machine_versions
  WHERE state_machine = 'bob_charge' AND resources::text LIKE '%' || 'mallory.steal'::regproc::oid || '%'}),
	'0', "bob's definition does not bind mallory's registration of the ARN");
Hostile::as($node, 'mallory', "SELECT orderflow.unregister_resource('$arn')");
is(Hostile::su($node, "SELECT count(*) FROM orderflow.resources WHERE owner = 'alice'::regrole"), '2',
	"mallory's unregister_resource does not remove alice's registrations");

# --- a START grantee runs with its own rights and reads nothing else ---
Hostile::as($node, 'alice', q{
SELECT orderflow.create_state_machine('alice_shared',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}') \g /dev/null
SELECT orderflow.grant_state_machine('alice_shared', 'START', 'bob');});
my (undef, $a1) = Hostile::as($node, 'alice', q{SELECT orderflow.start_execution('alice_shared', '{"card": "alice-card-1234"}')});
my (undef, $b1) = Hostile::as($node, 'bob', q{SELECT orderflow.start_execution('alice_shared', '{"mine": "bob-input"}')});
is(Hostile::wait_done($node, $b1, 30), 'SUCCEEDED', "bob (START) runs alice's shared machine");
Hostile::wait_done($node, $a1, 30);
(undef, $out) = Hostile::as($node, 'bob', q{
SELECT (SELECT count(*) FROM orderflow.executions WHERE state_machine = 'alice_shared')
     || ' ' || (SELECT count(*) FROM orderflow.list_executions('alice_shared'))});
is($out, '1 1', "bob sees only his own execution of alice's machine (table and list_executions)");
($rc, $out, $err) = Hostile::as($node, 'bob', qq{
SELECT * FROM orderflow.describe_execution('$a1');
SELECT * FROM orderflow.execution_history WHERE execution_id = '$a1';});
Hostile::lacks($out . $err, qr/alice-card-1234/, "bob (START) cannot read alice's execution");
Hostile::as($node, 'bob', "SELECT orderflow.stop_execution('$a1')");
Hostile::as($node, 'bob', "SELECT orderflow.grant_state_machine('alice_shared', 'START', 'mallory')");
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.start_execution('alice_shared')");
like($err, qr/ERROR:  42501/, 'a START grantee cannot pass START on');
is(Hostile::as_ok($node, 'alice', "SELECT count(*) FROM orderflow.executions WHERE state_machine = 'alice_shared'"),
	'2', "the owner alice reads every execution of her machine, bob's too");
Hostile::as($node, 'alice', "SELECT orderflow.revoke_state_machine('alice_shared', 'START', 'bob')");
($rc, $out, $err) = Hostile::as($node, 'bob', "SELECT orderflow.start_execution('alice_shared')");
like($err, qr/ERROR:  42501/, 'after revoke_state_machine bob may no longer start it');

# --- READ lets bob read, not stop; PUBLIC START lets mallory start, not read ---
my (undef, $a2) = Hostile::as($node, 'alice', q{
SELECT orderflow.grant_state_machine('alice_shared', 'READ', 'bob') \g /dev/null
SELECT orderflow.grant_state_machine('alice_shared', 'START', 'PUBLIC') \g /dev/null
SELECT orderflow.create_state_machine('alice_waits', '{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}') \g /dev/null
SELECT orderflow.grant_state_machine('alice_waits', 'READ', 'bob') \g /dev/null
SELECT orderflow.start_execution('alice_waits', '{"card": "alice-card-2222"}');});
($rc, $out, $err) = Hostile::as($node, 'bob', "SELECT input FROM orderflow.describe_execution('$a2')");
like($out, qr/alice-card-2222/, "bob (READ) reads alice's execution of the machine he may read");
Hostile::as($node, 'bob', "SELECT orderflow.stop_execution('$a2')");
Hostile::as($node, 'mallory', "SELECT orderflow.stop_execution('$a2')");
is(Hostile::exec_col($node, $a2, 'status'), 'RUNNING', 'neither bob (READ, no STOP) nor mallory can stop it');
($rc, $out, $err) = Hostile::as($node, 'mallory', "SELECT orderflow.start_execution('alice_shared')");
is($rc, 0, 'mallory may start alice_shared after START was granted to PUBLIC');
(undef, $out) = Hostile::as($node, 'mallory', q{SELECT count(*) FROM orderflow.executions WHERE state_machine IN ('alice_shared', 'alice_waits')});
is($out, '1', 'mallory (PUBLIC START) sees only her own execution of it');

# --- odd names: nothing injected into the HINT a DBA may copy ---
my $odd = q{x'');DROP TABLE alice.ledger;--};
($rc, $out, $err) = Hostile::as($node, 'mallory', qq{
SELECT orderflow.create_state_machine('$odd', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}')});
if ($rc == 0)
{
	($rc, $out, $err) = Hostile::as($node, 'bob', qq{SELECT orderflow.start_execution('$odd')});
	unlike($err, qr/grant_state_machine\('x'\);DROP/,
		'a quote in a machine name is quoted in the permission HINT');
}
else
{
	pass('a machine name with a quote is refused at creation');
}

# --- dropping a role that owns executions leaves nothing runnable as anyone else ---
Hostile::role($node, 'gone');
Hostile::as_ok($node, 'gone', q{
CREATE FUNCTION gone.who(input jsonb) RETURNS jsonb LANGUAGE sql AS $$ SELECT to_jsonb(current_user::text) $$;
SELECT orderflow.create_state_machine('gone_wait', '{"StartAt": "W", "States": {
  "W": {"Type": "Wait", "Seconds": 1, "Next": "T"},
  "T": {"Type": "Task", "Resource": "gone.who", "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('gone_wait');});
$node->safe_psql('postgres', 'DROP SCHEMA gone CASCADE');
$node->psql('postgres', 'DROP ROLE gone');
sleep 2;
my $bob_pass = Hostile::as_ok($node, 'bob', q{
SELECT orderflow.create_state_machine('bob_pass', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('bob_pass');});
is(Hostile::wait_done($node, $bob_pass, 10), 'SUCCEEDED',
	'after DROP ROLE of an execution owner the engine still serves others');
is(Hostile::su($node, q{SELECT count(*) FROM orderflow.executions WHERE status = 'SUCCEEDED' AND state_machine = 'gone_wait'}),
	'0', "the dropped role's execution never ran its task as anybody");

Hostile::no_privilege_gained($node, $_, 'names attacks') for qw(mallory bob);
$node->stop('immediate');
done_testing();
