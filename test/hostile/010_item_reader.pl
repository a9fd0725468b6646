# Copyright: the orderflow authors.
#
# Hostile roles, issue 10 finding 1: a Map ItemReader is planned, opened
# and read as the execution's owner, never as the worker's superuser (or
# the extension owner under start_sync_execution).  An inlinable
# LANGUAGE sql STABLE reader whose body updates pg_authid, reads
# pg_authid, other roles' executions or server files, writes a file with
# lo_export or grants itself pg_execute_server_program (for COPY TO
# PROGRAM) gains nothing; a reader's EXECUTE is checked for the role that
# starts the execution, at every Map start.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Hostile;

my $node = Hostile::cluster('reader');
my $dir = $node->basedir;

Hostile::role($node, $_) for qw(alice bob mal_a mal_b mal_c mal_d mal_e mal_f);
$node->safe_psql('postgres', q{
CREATE TABLE alice.payroll (who text, salary int);
INSERT INTO alice.payroll VALUES ('alice', 123456);
ALTER TABLE alice.payroll OWNER TO alice;
ALTER ROLE alice PASSWORD 'alice-password';
});

# A Map over the rows of READER (a function of the attacker)
sub map_def
{
	my ($reader) = @_;
	return qq{'{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "$reader"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}},
  "End": true}}}'};
}

# Create the machine NAME over READER as ROLE, start it, wait; returns the
# execution id ('' if the start itself was refused)
sub run_map
{
	my ($role, $name, $reader) = @_;
	my $id = Hostile::as_ok($node, $role, qq{
SELECT orderflow.create_state_machine('$name', ${\ map_def($reader)}) \\g /dev/null
SELECT orderflow.start_execution('$name');});
	Hostile::wait_done($node, $id, 60);
	return $id;
}

# --- 1a: the promote shell of the issue, through start_execution ---
Hostile::as_ok($node, 'mal_a', q{
CREATE FUNCTION mal_a.promote(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true WHERE rolname = 'mal_a' RETURNING rolname)
  SELECT pg_catalog.to_jsonb(u) FROM u $$;});
my $id = run_map('mal_a', 'mal_a_promote', 'mal_a.promote');
Hostile::no_privilege_gained($node, 'mal_a', 'ItemReader UPDATE pg_authid (start_execution)');
isnt(Hostile::exec_col($node, $id, 'status'), 'SUCCEEDED',
	'ItemReader UPDATE pg_authid: the Map does not succeed (the reader is refused as its owner)');

# --- 1b: the same through start_sync_execution (extension owner) ---
Hostile::as_ok($node, 'mal_b', q{
CREATE FUNCTION mal_b.promote(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true, rolbypassrls = true
              WHERE rolname = 'mal_b' RETURNING rolname)
  SELECT pg_catalog.to_jsonb(u) FROM u $$;});
Hostile::as($node, 'mal_b', qq{
SELECT orderflow.create_state_machine('mal_b_sync', ${\ map_def('mal_b.promote')}) \\g /dev/null
SELECT orderflow.start_sync_execution('mal_b_sync');});
Hostile::no_privilege_gained($node, 'mal_b', 'ItemReader UPDATE pg_authid (start_sync_execution)');

# --- 1c: reading pg_authid (password hashes) ---
Hostile::as_ok($node, 'mal_c', q{
CREATE FUNCTION mal_c.authid(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT pg_catalog.jsonb_build_object('r', rolname, 'p', rolpassword) FROM pg_catalog.pg_authid $$;});
$id = run_map('mal_c', 'mal_c_authid', 'mal_c.authid');
my $seen = Hostile::all_about($node, $id)
  . Hostile::as_ok($node, 'mal_c', "SELECT output FROM orderflow.describe_execution('$id')");
Hostile::lacks($seen, qr/SCRAM-SHA-256|md5[0-9a-f]{32}/,
	'ItemReader SELECT pg_authid: no password hash reaches the execution');
# (the synchronous run fails now: what it returns or raises must not leak)
my ($sync_rc, $sync_out, $sync_err) = Hostile::as($node, 'mal_c',
	"SELECT orderflow.start_sync_execution('mal_c_authid')");
$seen = $sync_out . $sync_err;
Hostile::lacks($seen, qr/SCRAM-SHA-256|md5[0-9a-f]{32}/,
	'ItemReader SELECT pg_authid through start_sync_execution: no password hash');

# --- 1d: reading other roles' executions (row level security) ---
my $alice_exec = Hostile::as_ok($node, 'alice', q{
SELECT orderflow.create_state_machine('alice_pass',
  '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}') \g /dev/null
SELECT orderflow.start_execution('alice_pass', '{"card": "alice-card-4111"}');});
Hostile::wait_done($node, $alice_exec, 30);
Hostile::as_ok($node, 'mal_d', q{
CREATE FUNCTION mal_d.others(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  SELECT e.input FROM orderflow.executions e
  UNION ALL SELECT h.details FROM orderflow.execution_history h WHERE h.details IS NOT NULL $$;});
$id = run_map('mal_d', 'mal_d_others', 'mal_d.others');
Hostile::lacks(Hostile::all_about($node, $id), qr/alice-card-4111/,
	"ItemReader SELECT orderflow.executions: another role's input is not read");

# --- 1e: pg_read_file and lo_export (files) ---
Hostile::as_ok($node, 'mal_e', qq{
CREATE FUNCTION mal_e.readfile(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS \$\$
  SELECT pg_catalog.to_jsonb(pg_catalog.pg_read_file('postgresql.conf')) \$\$;
CREATE FUNCTION mal_e.writefile(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS \$\$
  SELECT pg_catalog.to_jsonb(pg_catalog.lo_export(424242, '$dir/lo_export_pwned')) \$\$;
SELECT pg_catalog.lo_from_bytea(424242, '\\x70776e6564'::bytea);});
$id = run_map('mal_e', 'mal_e_read', 'mal_e.readfile');
Hostile::lacks(Hostile::all_about($node, $id), qr/shared_preload_libraries/,
	'ItemReader pg_read_file: the server file is not read');
Hostile::as($node, 'mal_e', "SELECT orderflow.start_sync_execution('mal_e_read')");
$id = run_map('mal_e', 'mal_e_write', 'mal_e.writefile');
Hostile::as($node, 'mal_e',
	qq{SELECT orderflow.create_state_machine('mal_e_write_sync', ${\ map_def('mal_e.writefile')}) \\g /dev/null
SELECT orderflow.start_sync_execution('mal_e_write_sync')});
ok(!-e "$dir/lo_export_pwned", 'ItemReader lo_export (start and start_sync): no file written');

# --- 1f: granting itself pg_execute_server_program, then COPY TO PROGRAM ---
Hostile::as_ok($node, 'mal_f', q{
CREATE FUNCTION mal_f.member(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  WITH g AS (INSERT INTO pg_catalog.pg_auth_members (roleid, member, grantor, admin_option)
             SELECT r.oid, m.oid, 10, true FROM pg_catalog.pg_roles r, pg_catalog.pg_roles m
              WHERE r.rolname IN ('pg_execute_server_program', 'pg_write_server_files',
                                  'pg_read_server_files')
                AND m.rolname = 'mal_f' RETURNING member)
  SELECT pg_catalog.to_jsonb(g) FROM g $$;});
run_map('mal_f', 'mal_f_member', 'mal_f.member');
Hostile::as($node, 'mal_f', "SELECT orderflow.start_sync_execution('mal_f_member')");
Hostile::no_privilege_gained($node, 'mal_f', 'ItemReader INSERT pg_auth_members');
Hostile::as($node, 'mal_f',
	"COPY (SELECT 1) TO PROGRAM 'touch $dir/copy_program_pwned'");
ok(!-e "$dir/copy_program_pwned", 'COPY TO PROGRAM after the reader: no command ran');

# --- 1g: EXECUTE of the reader is checked for the starter (bob) ---
# alice's SECURITY DEFINER reader of her payroll, not executable by PUBLIC;
# alice grants bob START on her machine (he may run it, with his rights)
Hostile::as_ok($node, 'alice', q{
CREATE FUNCTION alice.payroll_reader(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE
SECURITY DEFINER SET search_path = pg_catalog AS $$ SELECT to_jsonb(p) FROM alice.payroll p $$;
REVOKE EXECUTE ON FUNCTION alice.payroll_reader(jsonb) FROM PUBLIC;});
Hostile::as_ok($node, 'alice', qq{
SELECT orderflow.create_state_machine('alice_payroll', ${\ map_def('alice.payroll_reader')})});
Hostile::as($node, 'alice',
	"SELECT orderflow.grant_state_machine('alice_payroll', 'START', 'bob')");
my ($rc, $out, $err) = Hostile::as($node, 'bob',
	"SELECT orderflow.start_execution('alice_payroll')");
my $bob_exec = $rc == 0 ? $out : '';
Hostile::wait_done($node, $bob_exec, 30) if $bob_exec;
is($rc == 0 ? Hostile::exec_col($node, $bob_exec, 'status') : 'not started',
	'FAILED', "bob (START grantee) runs alice's Map: it fails, bob may not EXECUTE her reader");
Hostile::lacks(($bob_exec ? Hostile::all_about($node, $bob_exec) : '') . $out, qr/123456/,
	"reader EXECUTE checked for the starter: alice's payroll never reaches bob's execution");

# --- 1h: REVOKE EXECUTE from the owner after creation: the Map stops reading ---
Hostile::su($node, q{
CREATE SCHEMA lib;
GRANT USAGE ON SCHEMA lib TO PUBLIC;
CREATE FUNCTION lib.rows(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE
AS $$ SELECT to_jsonb('lib-row-' || i) FROM generate_series(1, 3) i $$;
REVOKE EXECUTE ON FUNCTION lib.rows(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION lib.rows(jsonb) TO alice;});
Hostile::as_ok($node, 'alice', qq{
SELECT orderflow.create_state_machine('alice_lib', ${\ map_def('lib.rows')})});
Hostile::su($node, 'REVOKE EXECUTE ON FUNCTION lib.rows(jsonb) FROM alice');
$id = Hostile::as_ok($node, 'alice', "SELECT orderflow.start_execution('alice_lib')");
is(Hostile::wait_done($node, $id, 30), 'FAILED',
	'reader EXECUTE revoked from the owner after creation: the Map fails');
Hostile::lacks(Hostile::all_about($node, $id), qr/lib-row-/, 'revoked reader: no row was read');

# every attacker, once more
Hostile::no_privilege_gained($node, $_, 'after all reader attacks') for qw(mal_c mal_d mal_e bob);

$node->stop('immediate');
done_testing();
