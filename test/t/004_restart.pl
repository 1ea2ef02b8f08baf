# Computes outlive a restart of the control server and are adopted; a
# compute that dies is restarted by the reconciler with its committed data.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 58400);
my $node = $bp->node;

my $c = $bp->json("SELECT branchpromote.create_project('r')");
my $dev_tl = $c->{dev_timeline};
my $dev_uri = $bp->uri('r', 'dev');
compute_safe_psql($dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'r row ' || g FROM generate_series(1, 400) g;
SQL
my $p = $bp->json("SELECT branchpromote.promote_branch('r', 'v1')");
my $prod_tl = $p->{prod_timeline};
my $prod_uri = $bp->uri('r', 'prod');
compute_safe_psql($prod_uri, "INSERT INTO items VALUES (100001, 'committed in prod')");
my $prod_digest = compute_safe_psql($prod_uri, ROWS_DIGEST);
like($prod_digest, qr/^401:/, 'prod has dev\'s rows and its own committed row');

my $prod_pid = $bp->compute_row('r', 'prod')->{pid};
my $dev_pid = $bp->compute_row('r', 'dev')->{pid};
ok(pid_alive($prod_pid), 'prod compute is running');
is($prod_pid, $bp->pidfile_pid($prod_tl), 'the recorded prod pid is the postmaster of the prod timeline');

# ------------------------------------------- restart of the control server

my $control_pid_before = $node->{_pid};
$node->restart;
isnt($node->{_pid}, $control_pid_before, 'the control server restarted');
ok(pid_alive($prod_pid), 'the prod compute survived the restart of the control server');
ok(pid_alive($dev_pid), 'the dev compute survived the restart of the control server');
ok($bp->reconciler_pass, 'the restarted reconciler completed a pass');
my $pc = $bp->compute_row('r', 'prod');
is("$pc->{actual_state}/$pc->{pid}", "running/$prod_pid",
	'after a reconciler pass prod is adopted: running with the same pid');
my $dc = $bp->compute_row('r', 'dev');
is("$dc->{actual_state}/$dc->{pid}", "running/$dev_pid", 'dev is adopted with the same pid');
is($bp->pidfile_pid($prod_tl), $prod_pid, 'prod was not restarted (postmaster.pid unchanged)');
is(compute_safe_psql($prod_uri, ROWS_DIGEST), $prod_digest, 'the adopted prod compute keeps serving');

# ------------------------------------------- prod compute crashes

kill 'KILL', $prod_pid;
ok(wait_until(sub { !pid_alive($prod_pid) }, 10), 'the prod postmaster was killed with SIGKILL');
my $new_pid;
ok( wait_until(
		sub {
			my $r = $bp->compute_row('r', 'prod');
			return 0
			  unless $r->{actual_state} eq 'running'
			  && defined $r->{pid}
			  && $r->{pid} != $prod_pid
			  && pid_alive($r->{pid});
			my ($rc) = compute_psql($prod_uri, 'SELECT 1');
			$new_pid = $r->{pid};
			return $rc == 0;
		}),
	'the reconciler restarts the killed prod compute: running with a new pid and serving')
  or diag(explain($bp->compute_row('r', 'prod')));
is($bp->pidfile_pid($prod_tl), $new_pid // -1, 'the new prod pid is the postmaster of the prod timeline');
is(compute_safe_psql($prod_uri, ROWS_DIGEST), $prod_digest,
	'every committed prod row survived the crash, the one written in prod included');
ok(!defined $bp->compute_row('r', 'prod')->{last_error}, 'the recovered compute shows no last_error');
ok(pid_alive($dev_pid), 'the dev compute was not touched');

$bp->teardown;
done_testing();
