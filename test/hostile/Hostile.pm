# Copyright: the orderflow authors.
#
# test/hostile/Hostile.pm: the harness of the hostile-roles suite
# (test/hostile/*.pl, docs/security.md).  Every attack runs as an ordinary
# LOGIN role (NOSUPERUSER, the default grants, a schema of its own) through
# psql -U ROLE on the cluster's unix socket (trust authentication), against
# a live cluster with the orderflow workers running.  The checks that
# "nothing crossed" are made as the bootstrap superuser.
package Hostile;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use OfCluster;
use Test::More;
use Time::HiRes qw(time usleep);

# A cluster with the preload and two workers, orderflow installed in
# database postgres (test/OfCluster.pm).  Extra postgresql.conf lines may
# follow the name.
sub cluster
{
	my ($name, @conf) = @_;
	return OfCluster::node($name, workers => 2,
		conf => [ "orderflow.poll_interval = 100ms", "max_worker_processes = 12",
			"fsync = off", "log_line_prefix = '%m [%p] %b %u: '", @conf ]);
}

# An unprivileged login role with a schema of its own that everybody may
# look into (the attacks need to name each other's objects), and the probe
# table: every piece of attacker code inserts current_user into
# <role>.probe, so a row naming another role proves that the attacker's
# code ran under that role's identity.
sub role
{
	my ($node, $role) = @_;
	$node->safe_psql('postgres', qq{
CREATE ROLE $role LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
CREATE SCHEMA $role AUTHORIZATION $role;
GRANT USAGE ON SCHEMA $role TO PUBLIC;
CREATE TABLE $role.probe (who text, what text, at timestamptz DEFAULT clock_timestamp());
ALTER TABLE $role.probe OWNER TO $role;
GRANT INSERT ON $role.probe TO PUBLIC;
});
	return $role;
}

# Run SQL as ROLE: (exit code, stdout, stderr).  Errors are printed with
# their SQLSTATE (VERBOSITY verbose), so tests can match "ERROR:  42501".
sub as
{
	my ($node, $role, $sql, %opt) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql(
		'postgres', "\\set VERBOSITY verbose\n$sql",
		stdout => \$out,
		stderr => \$err,
		on_error_stop => 1,
		extra_params => [ '-U', $role ],
		timeout => $opt{timeout} // 120);
	return ($rc, $out, $err);
}

# Run SQL as ROLE and return its output; die on an error
sub as_ok
{
	my ($node, $role, $sql) = @_;
	my ($rc, $out, $err) = as($node, $role, $sql);
	die "as $role failed (exit $rc): $err\nSQL: $sql" if $rc != 0;
	return $out;
}

# As the superuser
sub su
{
	my ($node, $sql) = @_;
	return $node->safe_psql('postgres', $sql);
}

# Nothing was gained: the role is no superuser, has none of the
# privileged attributes and is a member of no role it was not made one of
sub no_privilege_gained
{
	my ($node, $role, $what) = @_;
	is( su($node, qq{
SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication
       OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m WHERE m.member = r.oid)
  FROM pg_catalog.pg_roles r WHERE rolname = '$role'}),
		'f', "$what: $role gained no privilege (not superuser, no role membership)");
}

# The probe rows of ROLE that were written by another identity
sub foreign_probes
{
	my ($node, $role) = @_;
	return su($node,
		"SELECT coalesce(string_agg(who || ':' || coalesce(what, ''), ', '), '') FROM $role.probe WHERE who <> '$role'");
}

sub no_foreign_probe
{
	my ($node, $role, $what) = @_;
	is(foreign_probes($node, $role), '', "$what: no code of $role ran as another role");
}

# Wait (as the superuser) until execution ID is no longer RUNNING, at most
# SECS seconds; returns its status (RUNNING if it never ended)
sub wait_done
{
	my ($node, $id, $secs) = @_;
	return '' if ($id // '') !~ /^[0-9a-f-]{36}$/;    # the start was refused
	my $deadline = time + ($secs // 60);
	my $st;
	while (1)
	{
		$st = su($node, "SELECT status FROM orderflow.executions WHERE id = '$id'");
		last if $st ne 'RUNNING' || time > $deadline;
		usleep(50_000);
	}
	return $st;
}

# Poll SQL (as the superuser) until it returns 't', at most SECS seconds
sub poll
{
	my ($node, $sql, $secs) = @_;
	my $deadline = time + ($secs // 15);
	while (1)
	{
		return 1 if su($node, $sql) eq 't';
		return 0 if time > $deadline;
		usleep(100_000);
	}
}

# One column of an execution, read as the superuser
sub exec_col
{
	my ($node, $id, $col) = @_;
	return '' if ($id // '') !~ /^[0-9a-f-]{36}$/;    # the start was refused
	return su($node, "SELECT $col FROM orderflow.executions WHERE id = '$id'");
}

# Everything the engine recorded about an execution and its children
# (rows and history), as text, for "does not contain" checks
sub all_about
{
	my ($node, $id) = @_;
	return '' if ($id // '') !~ /^[0-9a-f-]{36}$/;
	return su($node, qq{
SELECT coalesce(string_agg(t, E'\\n'), '') FROM (
  SELECT e::text AS t FROM orderflow.executions e WHERE e.id = '$id' OR e.root_id = '$id'
  UNION ALL
  SELECT h::text FROM orderflow.execution_history h
   WHERE h.execution_id IN (SELECT id FROM orderflow.executions WHERE id = '$id' OR root_id = '$id')) s});
}

# History of an execution is whole: event ids 1..n, one terminal event last
sub history_whole
{
	my ($node, $id) = @_;
	return su($node, qq{
SELECT count(*) = max(event_id) AND min(event_id) = 1
   AND (array_agg(type ORDER BY event_id DESC))[1] IN
       ('ExecutionSucceeded', 'ExecutionFailed', 'ExecutionAborted', 'ExecutionTimedOut')
  FROM orderflow.execution_history WHERE execution_id = '$id'});
}

# HAYSTACK does not match RE; on failure shows only the match in context
sub lacks
{
	my ($haystack, $re, $name) = @_;
	my $ok = ok($haystack !~ $re, $name);
	diag('found: ...' . substr($haystack, $-[0] > 60 ? $-[0] - 60 : 0, 180) . '...')
	  if !$ok && $haystack =~ $re;
	return $ok;
}

# A definition of N+2 states that are all reachable but that an input
# without "go" does not run: what it costs is parsing it
sub big_definition
{
	my ($n) = @_;
	my $chain = join(',', map { '"S' . $_ . '": {"Type": "Pass", "Next": "S' . ($_ + 1) . '"}' } 1 .. $n - 1);
	return '{"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": '
	  . '[{"Variable": "$.go", "IsPresent": true, "Next": "S1"}], "Default": "Done"}, '
	  . '"Done": {"Type": "Succeed"}, ' . $chain . ', "S' . $n . '": {"Type": "Pass", "End": true}}}';
}

sub worker_pids
{
	my ($node) = @_;
	return split /\n/, su($node,
		"SELECT pid FROM pg_stat_activity WHERE backend_type = 'orderflow worker' ORDER BY pid");
}

# RssAnon of a process in kB (0 if it is gone)
sub rss_anon_kb
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/status") or return 0;
	while (my $l = <$fh>)
	{
		return $1 if $l =~ /^RssAnon:\s+(\d+)\s+kB/;
	}
	return 0;
}

1;
