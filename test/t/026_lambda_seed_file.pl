# Copyright: the orderflow authors.
#
# 026_lambda_seed_file: the demo's seed definition is the user's document,
# byte for byte.  demo/order_fulfillment.asl.json is committed so that the
# demo and the regression tests (fulfillment_workflow, lambda_invoke) run
# without ../shared; where the shared seed is there (the CI clone has
# ../shared beside the repository, test/run_all.sh copies it next to its
# copy of the tree), the two files must be identical.  The demo must load
# that file, not a copy of its text.
use strict;
use warnings;

use PostgreSQL::Test::Utils;
use Test::More;

my $repo = "$ENV{TESTDIR}/..";
my $ours = "$repo/demo/order_fulfillment.asl.json";
my $shared = "$repo/../shared/seed/order_fulfillment.asl.json";

ok(-f $ours, 'demo/order_fulfillment.asl.json is committed');
my $ours_bytes = slurp_file($ours);
like($ours_bytes, qr/arn:aws:lambda:REGION:ACCOUNT_ID:function:ProcessOrderFunction/,
	'it keeps the document\'s REGION and ACCOUNT_ID placeholders');

SKIP:
{
	skip "no shared seed at $shared", 1 unless -f $shared;
	my $shared_bytes = slurp_file($shared);
	ok($ours_bytes eq $shared_bytes,
		'demo/order_fulfillment.asl.json is byte-identical to ../shared/seed/order_fulfillment.asl.json')
	  or diag(sprintf('ours %d bytes, shared %d bytes', length($ours_bytes), length($shared_bytes)));
}

my $demo = slurp_file("$repo/demo/order_fulfillment.sql");
like($demo, qr/^\\set seed_definition `cat demo\/order_fulfillment\.asl\.json`$/m,
	'demo/order_fulfillment.sql reads the seed from that file');
unlike($demo, qr/\$seed\$/, 'and carries no copy of its text');

done_testing();
