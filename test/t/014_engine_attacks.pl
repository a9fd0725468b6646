# Copyright: the orderflow authors.
#
# Issue 10, the engine side, with real login roles in separate sessions:
# mallory's run_pending() does not advance alice's committed, due work (nor
# carry mallory's settings or temporary tables into it); alice's execution
# stays due until alice (or the workers) run it; a Map ItemReader that
# would update pg_authid runs as mallory, under the workers and under
# start_sync_execution, and mallory stays NOSUPERUSER.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

my $node = PostgreSQL::Test::Cluster->new('engine_attacks');
$node->init;
# no workers at first: committed work stays due until someone runs it
$node->append_conf(
	'postgresql.conf', qq{
shared_preload_libraries = 'orderflow'
orderflow.database = 'postgres'
orderflow.workers = 0
orderflow.poll_interval = 200ms
max_worker_processes = 8
max_logical_replication_workers = 0
});
$node->start;

$node->safe_psql('postgres', q{
CREATE EXTENSION orderflow;
CREATE ROLE alice LOGIN;
CREATE ROLE mallory LOGIN;
CREATE SCHEMA alice AUTHORIZATION alice;
CREATE SCHEMA mallory AUTHORIZATION mallory;
});

sub as_role
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

# alice: a task reporting its settings, another writing an unqualified
# table through its own search_path (pg_temp comes first in it)
as_role('alice', q{
CREATE TABLE alice.audit (note text);
CREATE TABLE alice.secrets (secret text);
CREATE FUNCTION alice.settings(p jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT pg_catalog.jsonb_build_object(
    'tenant', pg_catalog.current_setting('app.tenant', true),
    'timezone', pg_catalog.current_setting('TimeZone')) $$;
CREATE FUNCTION alice.note(p jsonb) RETURNS jsonb LANGUAGE plpgsql
SET search_path = alice AS $$
BEGIN
    INSERT INTO audit VALUES ('noted');
    RETURN p;
END $$;
SELECT orderflow.create_state_machine('a_settings', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "alice.settings", "End": true}}}');
SELECT orderflow.create_state_machine('a_note', '{"StartAt": "T", "States": {
  "T": {"Type": "Task", "Resource": "alice.note", "End": true}}}');
});
my $settings_id = as_role('alice', q{SELECT orderflow.start_execution('a_settings')});
my $note_id = as_role('alice', q{SELECT orderflow.start_execution('a_note')});

# mallory, in a session of her own with her settings and a trap table
as_role('mallory', q{
CREATE FUNCTION mallory.steal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'GRANT SELECT ON alice.secrets TO mallory';
    RETURN NULL;
END $$;
GRANT USAGE ON SCHEMA mallory TO alice;
});
my $steps = as_role('mallory', q{
SET app.tenant = 'mallory';
SET TimeZone = 'Pacific/Chatham';
CREATE TEMP TABLE audit (note text);
CREATE TRIGGER steal AFTER INSERT ON audit FOR EACH ROW EXECUTE FUNCTION mallory.steal();
GRANT ALL ON audit TO alice;
SELECT orderflow.run_pending();
});
is($steps, '0', "mallory's run_pending() advances none of alice's due executions");
is( $node->safe_psql(
		'postgres',
		"SELECT string_agg(status || ':' || (due_at IS NOT NULL)::text, ',' ORDER BY started_at)"
		  . " FROM orderflow.executions WHERE id IN ('$settings_id', '$note_id')"),
	'RUNNING:true,RUNNING:true',
	"alice's executions are still RUNNING and due");
is($node->safe_psql('postgres', q{SELECT has_table_privilege('mallory', 'alice.secrets', 'SELECT')}),
	'f', "mallory's trap table never ran as alice");

# a superuser's run_pending() would run them; alice's own does
my $alice_steps = as_role('alice', q{SELECT orderflow.run_pending()});
cmp_ok($alice_steps, '>', 0, "alice's run_pending() advances her own executions");
is( $node->safe_psql(
		'postgres',
		"SELECT output->>'tenant' IS NULL AND output->>'timezone' <> 'Pacific/Chatham'"
		  . " FROM orderflow.executions WHERE id = '$settings_id'"),
	't',
	"mallory's settings did not reach alice's task");
is( $node->safe_psql('postgres',
		"SELECT status FROM orderflow.executions WHERE id = '$note_id'"),
	'SUCCEEDED',
	"alice's note task wrote her own table");
is($node->safe_psql('postgres', q{SELECT count(*) FROM alice.audit}),
	'1', "the note is in alice.audit");

# a superuser's run_pending() runs everybody's work
as_role('mallory', q{
SELECT orderflow.create_state_machine('m_pass', '{"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}');
SELECT orderflow.start_execution('m_pass');
});
cmp_ok($node->safe_psql('postgres', q{SELECT orderflow.run_pending()}),
	'>', 0, "a superuser's run_pending() runs mallory's execution");

# now with workers: the ItemReader that would make mallory superuser
$node->append_conf('postgresql.conf', "orderflow.workers = 2\n");
$node->reload;
as_role('mallory', q{
CREATE FUNCTION mallory.promote(p jsonb) RETURNS SETOF jsonb LANGUAGE sql STABLE AS $$
  WITH u AS (UPDATE pg_catalog.pg_authid SET rolsuper = true WHERE rolname = 'mallory' RETURNING rolname)
  SELECT pg_catalog.to_jsonb(u) FROM u $$;
SELECT orderflow.create_state_machine('m_promote', '{"StartAt": "M", "States": {"M": {"Type": "Map",
  "ItemReader": {"Resource": "mallory.promote"},
  "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}}');
});
my $promote_id = as_role('mallory', q{SELECT orderflow.start_execution('m_promote')});
is( as_role('mallory', "SELECT orderflow.wait_for_execution('$promote_id', '60 s')"),
	'FAILED', 'the promoting Map fails under the workers');
is( $node->safe_psql('postgres',
		"SELECT error || ': ' || cause FROM orderflow.executions WHERE id = '$promote_id'"),
	'States.ItemReaderFailed: permission denied for table pg_authid',
	'its reader ran as mallory');
my ($rc, $out, $err) = $node->psql('postgres',
	q{SELECT orderflow.start_sync_execution('m_promote')},
	extra_params => [ '-U', 'mallory' ]);
like($err, qr/permission denied for table pg_authid/,
	'start_sync_execution runs the reader as mallory too');
is($node->safe_psql('postgres', q{SELECT rolsuper FROM pg_roles WHERE rolname = 'mallory'}),
	'f', 'mallory is not a superuser');

$node->stop;
done_testing();
