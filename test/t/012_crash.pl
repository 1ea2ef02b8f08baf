# The crash matrix: every mutating operation is killed (SIGKILL of the
# calling backend, which makes the control postmaster reinitialize; for some
# steps the control postmaster itself, or the reconciler worker) right after
# each of its steps, with
# the test-only GUC branchpromote.crash_at.  After each crash the system must
# converge to exactly the committed state before the call: the same
# environments on the same timelines, the same rows in prod, no timeline or
# snapshot directory that no committed row references, every compute
# running, no prepared transaction left on a compute.  Undo (restore_branch,
# undrop_project), protection and masked forks are in the matrix too.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);

# a discarded branch and a dropped project stay restorable for the whole test
my $bp = BranchPromoteTest->new_node('main', port_base => 26800, recovery_window => '7d');
my $node = $bp->node;
# a killed backend makes the postmaster reinitialize, as in production
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->reload;

sub mig
{
	my ($v, $sql) = @_;
	return qq{[{"version": "$v", "sql": "$sql"}]};
}

# acme: dev and prod (one re-deploy done: rollback_deploy has a target),
# migration 0002 pending on dev, a preview "keep"; "second": dev only.
$bp->json("SELECT branchpromote.create_project('acme')");
my $dev = $bp->uri('acme', 'dev');
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', '" . mig('0001', 'CREATE TABLE items (id int PRIMARY KEY)') . "')");
compute_safe_psql($dev, "INSERT INTO items VALUES (1)");
$bp->json("SELECT branchpromote.promote_branch('acme', 'v1')");
my $prod = $bp->uri('acme', 'prod');
compute_safe_psql($prod, "INSERT INTO items SELECT g FROM generate_series(2, 100) g");
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', '" . mig('0002', 'ALTER TABLE items ADD COLUMN a int') . "')");
$bp->json("SELECT branchpromote.promote_branch('acme', 'v2')");
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', '" . mig('0003', 'ALTER TABLE items ADD COLUMN b int') . "')");
$bp->json("SELECT branchpromote.fork_branch('acme', 'keep')");
$bp->json("SELECT branchpromote.create_project('second')");
# undo: a discarded preview "kept" and a dropped project "gone", both in
# their recovery window; reset_prod needs acme's prod unprotected
$bp->json("SELECT branchpromote.fork_branch('acme', 'kept')");
$bp->json("SELECT branchpromote.discard_branch('acme', 'kept')");
$bp->json("SELECT branchpromote.create_project('gone')");
$bp->json("SELECT branchpromote.drop_project('gone', 'gone')");
$bp->json("SELECT branchpromote.unprotect('acme', 'prod')");
# masking: a rule for masked forks
$bp->json("SELECT branchpromote.set_mask_rule('acme', 'items', 'a', 'null')");
ok(BranchPromoteTest::wait_until(sub {
	$bp->sql("SELECT count(*) FROM branchpromote.snapshots WHERE project = 'acme'") > 0
}), 'setup: prod has a snapshot');
my $lsn = compute_safe_psql($prod, "SELECT pg_current_wal_lsn()");
compute_safe_psql($prod, "INSERT INTO items VALUES (101, 1)");

# The committed state a crashed call must leave untouched.
sub state
{
	return $bp->sql(<<'SQL');
SELECT concat_ws(' | ',
  (SELECT string_agg(project || '/' || env || '=' || timeline || ':' || coalesce(release, '-'), ',' ORDER BY project, env)
     FROM branchpromote.environments),
  (SELECT string_agg(timeline::text || kind || coalesce(branch, ''), ',' ORDER BY timeline)
     FROM branchpromote.timelines WHERE discarded_at IS NULL),
  (SELECT string_agg(project || '/' || env || '@' || timeline || ':' || port, ',' ORDER BY project, env)
     FROM branchpromote.computes),
  (SELECT count(*) FROM branchpromote.deploys WHERE status = 'succeeded'),
  (SELECT count(*) FROM branchpromote.anchors),
  (SELECT count(*) FROM branchpromote.operations WHERE status = 'succeeded'))
SQL
}

sub live_ids
{
	# with the data of discarded branches and dropped projects still kept
	return $bp->sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM branchpromote.timeline "
		  . "WHERE discarded_at IS NULL OR kept_until IS NOT NULL");
}

# Snapshot directories on disk / in the catalog, as "timeline:id" lists.
sub snapshot_dirs
{
	my @out;
	for my $tl ($bp->timeline_dirs)
	{
		opendir(my $dh, $bp->timeline_dir($tl) . '/snapshots') or next;
		push @out, map { "$tl:$_" } sort { $a <=> $b } grep { /^\d+$/ } readdir($dh);
		closedir($dh);
	}
	return join(',', sort @out);
}

sub snapshot_rows
{
	return join(',', sort split /,/, $bp->sql(
		"SELECT coalesce(string_agg(timeline || ':' || snapshot, ','), '') FROM branchpromote.snapshots"));
}

my $digest = compute_safe_psql($prod, "SELECT count(*) || ':' || sum(id) FROM items");

# Has the system converged back to $want?  (a reason on failure)
sub converged
{
	my ($want) = @_;
	my $ok = eval {
		# a compute suspended before the call stays so (committed): wake it to look
		$bp->sql("SELECT branchpromote.wake_compute(project, env) FROM branchpromote.computes WHERE actual_state = 'suspended'");
		return 'state' unless state() eq $want;
		return 'timeline dirs' unless join(',', $bp->timeline_dirs) eq live_ids();
		return 'snapshot dirs' unless snapshot_dirs() eq snapshot_rows();
		return 'computes' unless $bp->sql(
			"SELECT count(*) FROM branchpromote.computes WHERE actual_state <> 'running'") eq '0';
		for my $env (qw(dev prod keep))
		{
			my ($rc) = compute_psql($bp->uri('acme', $env), 'SELECT 1');
			return "acme/$env not serving" if $rc;
		}
		my ($rc, $out) = compute_psql($prod, "SELECT count(*) || ':' || sum(id) FROM items");
		return 'prod rows' unless $rc == 0 && $out eq $digest;
		($rc, $out) = compute_psql($prod, "SELECT count(*) FROM pg_prepared_xacts");
		return 'prepared transactions' unless $rc == 0 && $out eq '0';
		return '';
	};
	return defined $ok ? $ok : "error: $@";
}

# Start the control server again after its postmaster was killed.
sub restart_control
{
	my $pid = $node->{_pid};

	# the killed postmaster gone (not even a zombie), and every child of it
	BranchPromoteTest::wait_until(sub { !defined $pid || !-e "/proc/$pid" }, 30);
	BranchPromoteTest::wait_until(sub {
		# list form, no shell: a shell's own command line would match
		open(my $ps, '-|', 'pgrep', '-f', '--', '-D ' . $node->data_dir) or die "pgrep: $!";
		my $out = join('', <$ps>);
		close($ps);
		$out eq '';
	}, 30);
	for (1 .. 50)
	{
		$node->{_pid} = undef;	# a failed start read the old postmaster.pid
		return if $node->start(fail_ok => 1);
		usleep(200_000);
	}
	die 'control server did not start again';
}

# a case may begin with a setup run before each of its steps
sub suspend
{
	my @envs = @_;
	return sub { $bp->sql("SELECT branchpromote.suspend_compute('acme', '$_')") for @envs };
}

my @cases = (
	[ "create_project('third')", 'create timeline', 'start compute', 'bootstrap application role and database', 'base snapshot' ],
	[ "promote_branch('second')", 'plan', 'fork running dev (backup mode)', 'start compute', 'base snapshot' ],
	[ suspend('dev'), "promote_branch('acme', 'v3')", 'wake dev' ],
	[ suspend('prod'), "promote_branch('acme', 'v3')", 'wake prod' ],
	[ suspend('dev'), "apply_migrations('acme', 'dev', '" . mig('0004', 'ALTER TABLE items ADD COLUMN c int') . "')", 'wake dev' ],
	[ suspend('prod'), "rollback_to_lsn('acme', '$lsn')", 'plan', 'fork from a snapshot', 'replay on the new timeline', 'base snapshot' ],
	[ suspend('prod'), "create_anchor('acme', 'prod', 'a2')", 'snapshot' ],
	[ "promote_branch('acme', 'v3')", 'plan', 'snapshot prod', 'rehearse on a fork of prod', 'apply pending migrations to prod' ],
	[ "rollback_to_lsn('acme', '$lsn')", 'plan', 'fork from a snapshot', "stop prod's compute", 'start prod on the new timeline' ],
	[ "rollback_deploy('acme')", 'plan', 'fork from a snapshot', "stop prod's compute", 'start prod on the new timeline' ],
	[ "reset_prod('acme', 'acme')", 'anchor prod', 'fork running dev (backup mode)', "stop prod's compute", 'start prod on the new timeline' ],
	[ "fork_branch('acme', 'crash')", 'plan', 'fork running source (backup mode)', 'start compute', 'base snapshot' ],
	[ "discard_branch('acme', 'keep')", 'discard' ],
	[ "create_anchor('acme', 'prod', 'a1')", 'snapshot' ],
	[ "apply_migrations('acme', 'dev', '" . mig('0004', 'ALTER TABLE items ADD COLUMN c int') . "')", 'apply migrations' ],
	[ "drop_project('second', 'second')", 'drop' ],
	[ "restore_branch('acme', 'kept')", 'restore', 'start compute' ],
	[ "undrop_project('gone')", 'undrop' ],
	[ "protect('acme', 'keep')", 'protect' ],
	[ "fork_branch('acme', 'crashm', masked => true)", 'plan', 'fork running source (backup mode)', 'start compute',
		'mask', 'cut history before the mask', 'base snapshot' ],
	[ "rollback_to_lsn('acme', '$lsn')", "postmaster:stop prod's compute" ],
	[ "reset_prod('acme', 'acme')", 'postmaster:fork running dev (backup mode)' ],
	[ "promote_branch('acme', 'v3')", 'worker:rehearse on a fork of prod' ],
	[ "fork_branch('acme', 'crash')", 'worker:plan' ],
	[ "rollback_deploy('acme')", "worker:stop prod's compute" ],
);

for my $case (@cases)
{
	my ($setup, $call, @steps) = ref $case->[0] eq 'CODE' ? @$case : (sub { }, @$case);
	for my $step (@steps)
	{
		$setup->();
		my $want = state();
		my $gucval = $step =~ s/'/''/gr;
		my ($ret, $out, $err) = $node->psql('postgres',
			"SET branchpromote.crash_at = '$gucval'; SELECT branchpromote.$call");
		my $name = ($call =~ s/\(.*//r) . " killed after \"$step\"";
		isnt($ret, 0, "$name: the call died") or diag($out);
		restart_control() if $step =~ /^postmaster:/;
		# a killed reconciler makes the postmaster end every backend and reinitialize
		ok(BranchPromoteTest::wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 60),
			"$name: the control server is back") if $step =~ /^worker:/;
		my $why;
		ok(BranchPromoteTest::wait_until(sub { ($why = converged($want)) eq '' }, 90),
			"$name: converged to the committed state") or diag("not converged: $why");
		my $journaled = ($call =~ s/\(.*//r) . ' failed: its backend ended (a crash?) without finishing after step "'
		  . ($step =~ s/^(postmaster|worker)://r) . '"';
		my $last = '';
		ok( BranchPromoteTest::wait_until(sub {
					$last = $bp->sql("SELECT kind || ' ' || status || ': ' || error FROM branchpromote.operations "
						  . "WHERE status <> 'succeeded' ORDER BY started_at DESC LIMIT 1");
					$last eq $journaled;
				}, 30),
			"$name: journaled as failed after that step") or diag("last: $last");
	}
}

is(compute_safe_psql($prod, "SELECT count(*) || ':' || sum(id) FROM items"), $digest, 'no committed prod row was lost');

$bp->teardown;
done_testing();
