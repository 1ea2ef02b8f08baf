# Scale to zero: with a short per-project suspend timeout, dev (no client)
# is suspended while prod (a client connected) keeps running; once that
# client leaves, prod is suspended too; wake_compute brings it back with its
# data, and reports how long it took.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 26900);

$bp->json("SELECT branchpromote.create_project('acme')");
compute_safe_psql($bp->uri('acme', 'dev'), "CREATE TABLE items (id int); INSERT INTO items VALUES (1)");
$bp->json("SELECT branchpromote.promote_branch('acme')");
my $prod = $bp->uri('acme', 'prod');

my ($st) = $bp->sqlstate("SELECT branchpromote.set_suspend_timeout('acme', '-1 second')");
is($st, '22023', 'a negative timeout is refused');

# a client stays connected to prod
my ($in, $out, $err) = ('', '', '');
my $client = IPC::Run::start([ 'psql', '-XAtq', '-d', $prod ], '<', \$in, '>', \$out, '2>', \$err);
$in .= "SELECT 'connected';\n";
ok(BranchPromoteTest::wait_until(sub { $client->pump_nb; $out =~ /connected/ }), 'a client on prod');
my $prod_pid = $bp->compute_row('acme', 'prod')->{pid};

my $r = $bp->json("SELECT branchpromote.set_suspend_timeout('acme', '2 seconds')");
is($r->{suspend_timeout_ms}, 2000, 'set_suspend_timeout');
ok(BranchPromoteTest::wait_until(sub { $bp->compute_row('acme', 'dev')->{actual_state} eq 'suspended' }),
	'dev, with no client, is suspended');
my $dev_port = $bp->compute_row('acme', 'dev')->{port};
ok(!port_accepts($dev_port), 'its server is gone');
is($bp->compute_row('acme', 'prod')->{actual_state}, 'running', 'prod, with a client, keeps running');
is($bp->compute_row('acme', 'prod')->{pid}, $prod_pid, 'the same process');

$in .= "\\q\n";
$client->finish;
ok(BranchPromoteTest::wait_until(sub { $bp->compute_row('acme', 'prod')->{actual_state} eq 'suspended' }),
	'once the client left, prod is suspended too');

$bp->json("SELECT branchpromote.set_suspend_timeout('acme', NULL)");
$r = $bp->json("SELECT branchpromote.wake_compute('acme', 'prod')");
is($r->{state}, 'running', 'wake_compute');
ok($r->{elapsed_ms} > 0, "reports the time it took ($r->{elapsed_ms} ms)");
is(compute_safe_psql($prod, "SELECT count(*) FROM items"), '1', 'prod serves its data again');
is($bp->compute_row('acme', 'dev')->{actual_state}, 'suspended', 'dev stays suspended');

$bp->teardown;
done_testing();
