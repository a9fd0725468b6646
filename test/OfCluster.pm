# Copyright: the orderflow authors.
#
# test/OfCluster.pm: what the TAP tests (test/t/*.pl) and the hostile-roles
# suite (test/hostile/*.pl) share: a cluster with orderflow preloaded and its
# workers running in database postgres, and the workers' memory as
# /proc/<pid>/status reports it.
package OfCluster;

use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use Test::More;

# A started cluster with orderflow installed in database postgres and its
# pool of `workers` (default 2) running (one passing test says so).  Lines of
# `conf` come last in postgresql.conf, so they may override the defaults.
# extension => 0: preloaded, but no CREATE EXTENSION (a cluster to restore a
# dump into); no test is run then.
sub node
{
	my ($name, %opt) = @_;
	my $workers = $opt{workers} // 2;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf(
		'postgresql.conf', join("\n",
			"shared_preload_libraries = 'orderflow'",
			"orderflow.database = 'postgres'",
			"orderflow.workers = $workers",
			"orderflow.poll_interval = 200ms",
			"max_worker_processes = " . ($workers + 8),
			"max_logical_replication_workers = 0",
			"synchronous_commit = off",
			@{ $opt{conf} // [] })
		  . "\n");
	$node->start;
	return $node if defined $opt{extension} && !$opt{extension};
	$node->safe_psql('postgres', 'CREATE EXTENSION orderflow');
	ok( $node->poll_query_until(
			'postgres',
			"SELECT count(*) = $workers FROM pg_stat_activity WHERE backend_type = 'orderflow worker'"),
		"$workers workers run");
	return $node;
}

# {pid => {field => kB}} of RssAnon, RssFile, RssShmem and VmHWM for every
# orderflow worker backend
sub worker_status
{
	my ($node) = @_;
	my %st;
	my $pids = $node->safe_psql('postgres',
		"SELECT string_agg(pid::text, ' ') FROM pg_stat_activity WHERE backend_type = 'orderflow worker'");
	for my $pid (split ' ', $pids)
	{
		open(my $fh, '<', "/proc/$pid/status") or next;
		while (my $line = <$fh>)
		{
			$st{$pid}{$1} = $2 if $line =~ /^(RssAnon|RssFile|RssShmem|VmHWM):\s+(\d+)\s+kB/;
		}
		close($fh);
	}
	return \%st;
}

# {pid => RssAnon in kB} of every orderflow worker backend: its private memory
sub worker_rss
{
	my ($node) = @_;
	my $st = worker_status($node);
	return { map { $_ => $st->{$_}{RssAnon} } grep { defined $st->{$_}{RssAnon} } keys %$st };
}

1;
