# Computes outlive a restart (and a crash) of the control server and are
# adopted; work of a transaction cut short by the crash is cleaned up; a
# compute that dies is restarted by the reconciler with its committed data;
# a stale postmaster.pid whose pid now belongs to another process is told
# apart by the process's start time.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP qw(decode_json);
use PostgreSQL::Test::Utils;
use Test::More;

# This test kills a compute with SIGKILL as the test's own OS user: computes
# run as that user here (not as branchpromote.compute_os_user).
delete $ENV{BP_TEST_COMPUTE_USER};
my $bp = BranchPromoteTest->new_node('main', port_base => 28400);
my $node = $bp->node;

my $c = $bp->json("SELECT branchpromote.create_project('r')");
my $dev_tl = $c->{dev_timeline};
my $dev_uri = $bp->uri('r', 'dev');
compute_safe_psql($dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'r row ' || g FROM generate_series(1, 400) g;
SQL
my $dev_pid = $bp->compute_row('r', 'dev')->{pid};

# ------------------------------------------- control crash during a promotion

# The control server crashes while a promotion's transaction is open: its
# prod timeline and compute are orphans once the server is back.
my $bg = $node->background_psql('postgres');
my $open = decode_json($bg->query_safe("BEGIN; SELECT branchpromote.promote_branch('r', 'v1');"));
my $orphan_tl = $open->{prod_timeline};
is(scalar($bp->postmasters_on($orphan_tl)), 1, 'the open promotion started a prod compute');
$node->stop('immediate');
eval { $bg->quit };
$node->start;
ok( wait_until(
		sub { !-e $bp->timeline_dir($orphan_tl) && !$bp->postmasters_on($orphan_tl) }),
	'after the crash the reconciler removes the open promotion\'s timeline and stops its compute');
is($bp->sql("SELECT count(*) FROM branchpromote.environments WHERE project = 'r' AND env = 'prod'"),
	0, 'the crashed promotion left no prod in the catalog');
ok(pid_alive($dev_pid), 'the dev compute survived the crash of the control server');
is($bp->compute_row('r', 'dev')->{pid}, $dev_pid, 'and is adopted with the same pid');

my $p = $bp->json("SELECT branchpromote.promote_branch('r', 'v1')");
is($p->{action}, 'first_deploy', 'a promotion after the crash succeeds');
my $prod_tl = $p->{prod_timeline};
my $prod_uri = $bp->uri('r', 'prod');
compute_safe_psql($prod_uri, "INSERT INTO items VALUES (100001, 'committed in prod')");
my $prod_digest = compute_safe_psql($prod_uri, ROWS_DIGEST);
like($prod_digest, qr/^401:/, 'prod has dev\'s rows and its own committed row');

my $prod_pid = $bp->compute_row('r', 'prod')->{pid};
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

# ------------------------------------------- a stale postmaster.pid, its pid reused

# After a crash the pid in a postmaster.pid may belong to another process,
# even one of the same OS user: it is neither signalled nor waited for, and
# the compute starts.
$bp->json("SELECT branchpromote.suspend_compute('r', 'dev')");
my $pgdata = $bp->pgdata($dev_tl);
ok(!-e "$pgdata/postmaster.pid", 'a suspended compute has no postmaster.pid');
my $squatter = fork();
if ($squatter == 0) { exec('sleep', '600') or die "exec: $!" }
open(my $fh, '>', "$pgdata/postmaster.pid") or die "could not write $pgdata/postmaster.pid: $!";
print $fh join("\n", $squatter, $pgdata, time() - 3600, $bp->compute_row('r', 'dev')->{port}, '/tmp', 'localhost',
	'  5432001         1', 'ready'), "\n";
close($fh);
$bp->json("SELECT branchpromote.suspend_compute('r', 'dev')");
ok(pid_alive($squatter), 'suspending it does not signal the process that has the old pid');
my $w = $bp->json("SELECT branchpromote.wake_compute('r', 'dev')");
is($w->{state}, 'running', 'waking it starts it');
is(compute_safe_psql($dev_uri, 'SELECT count(*) FROM items'), '400', 'and it serves its rows');
isnt($bp->pidfile_pid($dev_tl), $squatter, 'with a postmaster.pid of its own');
ok(pid_alive($squatter), 'the other process was left alone');
kill 'KILL', $squatter;
waitpid($squatter, 0);

# A compute that exits while it starts (here: a setting its server refuses):
# the wake fails with the compute driver's FAILED, and the compute's own log
# line, not at the start timeout; without the setting it starts again.
$bp->json("SELECT branchpromote.suspend_compute('r', 'dev')");
my $auto = "$pgdata/postgresql.auto.conf";
my $auto_before = slurp_file($auto);
append_to_file($auto, "max_connections = 'many'\n");
my ($st, $err) = $bp->sqlstate("SELECT branchpromote.wake_compute('r', 'dev')");
is($st, '38000', 'waking a compute that exits while starting fails');
like($err, qr/exited while starting/, 'it says the compute exited while starting');
like($err, qr/invalid value for parameter "max_connections"/, "with the compute's log line that says why");
my $row = $bp->compute_row('r', 'dev');
is($row->{actual_state}, 'failed', 'the compute is recorded as failed');
like($row->{last_error}, qr/exited while starting/, 'with the reason as its last error');
open(my $afh, '>', $auto) or die "could not write $auto: $!";
print $afh $auto_before;
close($afh);
$w = $bp->json("SELECT branchpromote.wake_compute('r', 'dev')");
is($w->{state}, 'running', 'without the setting it starts again');
is(compute_safe_psql($dev_uri, 'SELECT count(*) FROM items'), '400', 'and serves its rows');

$bp->teardown;
done_testing();
