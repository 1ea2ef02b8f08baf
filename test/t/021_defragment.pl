# Defragmenting a busy prod before its periodic snapshots
# (branchpromote.defragment_extents): random writes after a snapshot
# fragment prod's files (copy-on-write), the job rewrites them contiguously,
# and no committed write is lost — also while pgbench writes meanwhile.
# Needs BP_TEST_XFS_DIR (a reflink filesystem), like 002.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use File::Path qw(rmtree);
use IPC::Run ();
use POSIX ();
use PostgreSQL::Test::Utils;
use Test::More;

my $xfs = $ENV{BP_TEST_XFS_DIR};
plan skip_all => 'BP_TEST_XFS_DIR is not set (no reflink filesystem)'
  unless defined $xfs && $xfs ne '';
my ($major, $minor) = (POSIX::uname())[2] =~ /^(\d+)\.(\d+)/;
plan skip_all => "Linux $major.$minor has no multigrain timestamps: a running prod is not defragmented"
  unless $major > 6 || ($major == 6 && $minor >= 13);
my $filefrag = '/usr/sbin/filefrag';
plan skip_all => "no $filefrag" unless -x $filefrag;

my $root = fresh_dir("$xfs/tap-021-$$");
my $bp = BranchPromoteTest->new_node(
	'main',
	port_base => 28300,
	data_root => $root,
	remove_data_root => 1);
my $node = $bp->node;

# The extents of a relation's files on prod (its main fork, every segment).
sub extents
{
	my ($tl, $relpath) = @_;
	my $n = 0;
	for my $f (glob($bp->pgdata($tl) . "/$relpath"), glob($bp->pgdata($tl) . "/$relpath.*"))
	{
		my $out = `$filefrag $f 2>&1`;
		$out =~ /(\d+) extents? found/ or die "filefrag $f: $out";
		$n += $1;
	}
	return $n;
}

sub pgbench
{
	my ($uri, @args) = @_;
	my ($out, $err) = run_command([ 'pgbench', '-n', @args, $uri ]);
	return $out . $err;
}

sub set_gucs
{
	my ($sql) = @_;
	$node->safe_psql('postgres', "$sql; SELECT pg_reload_conf()");
}

my $ACCOUNTS_DIGEST = "SELECT count(*) || ':' || sum(abalance) || ':' || "
  . "md5(string_agg(aid || '=' || abalance, ',' ORDER BY aid)) FROM pgbench_accounts";
# pgbench's simple-update adds each delta to one account and logs it in history
my $BALANCED = "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = "
  . "(SELECT coalesce(sum(delta), 0) FROM pgbench_history)";

$bp->json("SELECT branchpromote.create_project('shop')");
my $out = pgbench($bp->uri('shop', 'dev'), '-i', '-q', '-s', '3');
like($out, qr/done/, 'pgbench -i on dev');
my $p = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
is($p->{action}, 'first_deploy', 'first deploy: prod shares its blocks with dev and its base snapshot');
my $tl = $p->{prod_timeline};
my $prod = $bp->uri('shop', 'prod');
my $relpath = compute_safe_psql($prod, "SELECT pg_relation_filepath('pgbench_accounts')");
my $fresh = extents($tl, $relpath);

# Random updates, written out by the anchor's checkpoint: each block
# written that the snapshots share becomes an extent of its own.
$out = pgbench($prod, '-b', 'simple-update', '-c', '2', '-t', '1500');
like($out, qr/number of transactions actually processed: 3000/, 'pgbench: 3000 random updates on prod');
my $anchor = $bp->json("SELECT branchpromote.create_anchor('shop', 'prod', 'before-defrag')");
my $digest = compute_safe_psql($prod, $ACCOUNTS_DIGEST);
my $fragmented = extents($tl, $relpath);
cmp_ok($fragmented, '>', 10 * $fresh + 500,
	"the updates fragmented pgbench_accounts ($fresh -> $fragmented extents)");

# The next periodic snapshot defragments first.
my $snaps = "SELECT count(*) FROM branchpromote.snapshots WHERE project = 'shop' AND reason = 'periodic'";
my $logged = qr/defragmented timeline $tl of compute \d+: \d+ of \d+ files had over 100 extents, 0 after/;
set_gucs("ALTER SYSTEM SET branchpromote.defragment_extents = 100; "
	  . "ALTER SYSTEM SET branchpromote.snapshot_interval = '1s'");
ok(wait_until(sub { $node->log_contains($logged) && $bp->sql($snaps) ne '0' }),
	'the job defragmented prod, then took its periodic snapshot');
set_gucs("ALTER SYSTEM RESET branchpromote.snapshot_interval");
my $after = extents($tl, $relpath);
cmp_ok($after, '<=', 100, "pgbench_accounts is back to few extents ($fragmented -> $after)");
is(compute_safe_psql($prod, $ACCOUNTS_DIGEST), $digest, 'prod reads the same rows');
$bp->json("SELECT branchpromote.suspend_compute('shop', 'prod')");
$bp->json("SELECT branchpromote.wake_compute('shop', 'prod')");
is(compute_safe_psql($prod, $ACCOUNTS_DIGEST), $digest, 'and the same rows from disk, after a restart');

# The anchor kept the old blocks: a rollback to it reads the same rows.
my $r = $bp->json("SELECT branchpromote.rollback_to_lsn('shop', '$anchor->{lsn}')");
is($r->{lsn}, $anchor->{lsn}, 'rollback to the anchor taken before the rewrite');
is(compute_safe_psql($prod, $ACCOUNTS_DIGEST), $digest, 'the rolled-back prod has the same rows');
$tl = $bp->compute_row('shop', 'prod')->{timeline};

# Rewrites racing the server's own writes: pgbench writes for 20 s
# while a periodic snapshot (a checkpoint that shares every block again)
# and a rewrite of whatever fragmented since come every second.  A rewrite
# that completes (nothing left over the threshold) must be seen while
# pgbench still runs.
my $helper_log = "$root/helper.log";
my $helper_from = -s $helper_log // 0;
my $log_from = -s $node->logfile;
set_gucs("ALTER SYSTEM SET branchpromote.snapshot_interval = '1s'");
my ($pb_out, $pb_err) = ('', '');
my $pb = IPC::Run::start([ 'pgbench', '-n', '-b', 'simple-update', '-c', '2', '-T', '20', $prod ],
	'>', \$pb_out, '2>', \$pb_err);
my $raced = wait_until(
	sub {
		$pb->pumpable && $node->log_contains(
			qr/defragmented timeline $tl of compute \d+: [1-9]\d* of \d+ files had over 100 extents, 0 after/, $log_from);
	});
ok($raced, 'a rewrite of prod completed while pgbench wrote');
set_gucs("ALTER SYSTEM RESET branchpromote.snapshot_interval; ALTER SYSTEM RESET branchpromote.defragment_extents");
$pb->finish;
like($pb_out, qr/number of transactions actually processed: [1-9]/, 'pgbench ran to its end, no client failed');
ok(wait_until(sub { $bp->sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'branchpromote job'") eq '0' }),
	'no job runs any more');
my $rows = compute_safe_psql($prod, "SELECT count(*) FROM pgbench_history");
$bp->json("SELECT branchpromote.suspend_compute('shop', 'prod')");
$bp->json("SELECT branchpromote.wake_compute('shop', 'prod')");
is(compute_safe_psql($prod, "SELECT count(*) FROM pgbench_history"), $rows,
	'after a restart, every committed history row is there');
is(compute_safe_psql($prod, $BALANCED), 't', 'and every account holds the sum of its logged deltas');
if ($ENV{BP_TEST_COMPUTE_USER})
{
	my $log = -e $helper_log ? substr(slurp_file($helper_log), $helper_from) : '';
	like($log, qr/defrag \S+: \d+ files, \d+ extents, \d+ over 100, [1-9]\d* rewritten/,
		'the helper, as the compute user, rewrote files while pgbench wrote');
}

# defrag.c itself against a writer thread: a swap is refused whenever the
# file was written during its copy, done when it was not, and every block
# ends with the last value written to it (test/tools/defragrace.c).
for my $mode (qw(quiet busy bursts))
{
	my $dir = fresh_dir("$xfs/tap-021-race-$mode-$$");
	my ($rc, $o, $e) = (0, '', '');
	IPC::Run::run([ "$FindBin::Bin/../tools/defragrace", $dir, $mode ], '>', \$o, '2>', \$e)
	  or $rc = $? >> 8;
	is($rc, 0, "defragrace $mode: $o$e");
	rmtree($dir);
}

$bp->teardown;

# Computes as the control server's own OS user: the rewrite runs in the
# job's process.  Then a failure: a database directory it cannot read.  The
# error is logged and the job goes on to the periodic snapshot.
{
	local $ENV{BP_TEST_COMPUTE_USER};
	my $root2 = fresh_dir("$xfs/tap-021b-$$");
	$bp = BranchPromoteTest->new_node(
		'same_user',
		port_base => 28360,
		data_root => $root2,
		remove_data_root => 1);
	$node = $bp->node;
	$bp->json("SELECT branchpromote.create_project('shop')");
	pgbench($bp->uri('shop', 'dev'), '-i', '-q', '-s', '2');
	$tl = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')")->{prod_timeline};
	$prod = $bp->uri('shop', 'prod');
	$relpath = compute_safe_psql($prod, "SELECT pg_relation_filepath('pgbench_accounts')");
	pgbench($prod, '-b', 'simple-update', '-c', '2', '-t', '1000');
	$bp->json("SELECT branchpromote.create_anchor('shop', 'prod', 'fragmented')");
	$digest = compute_safe_psql($prod, $ACCOUNTS_DIGEST);
	$fragmented = extents($tl, $relpath);
	cmp_ok($fragmented, '>', 500, "same user: pgbench_accounts fragmented ($fragmented extents)");
	set_gucs("ALTER SYSTEM SET branchpromote.defragment_extents = 100; "
		  . "ALTER SYSTEM SET branchpromote.snapshot_interval = '1s'");
	ok(wait_until(sub { $node->log_contains(qr/defragmented timeline $tl of compute \d+: \d+ of \d+ files had over 100 extents, 0 after/) }),
		'same user: the job rewrote prod in its own process');
	cmp_ok(extents($tl, $relpath), '<=', 100, 'same user: few extents left');
	is(compute_safe_psql($prod, $ACCOUNTS_DIGEST), $digest, 'same user: the same rows');

	my $unreadable = $bp->pgdata($tl) . '/base/4242424242';
	mkdir($unreadable, 0) or die "mkdir $unreadable: $!";
	ok(wait_until(sub { $node->log_contains(qr/could not defragment compute \d+'s timeline: could not count the extents of "[^"]+": could not open directory "\Q$unreadable\E": Permission denied/) }),
		'an unreadable directory fails the rewrite, with the reason logged');
	# the snapshot cannot clone it either, but it is tried: its own error,
	# not the rewrite's, is what the job reports
	ok(wait_until(sub { $node->log_contains(qr/periodic snapshot of compute \d+ failed: could not open directory "\Q$unreadable\E"/) }),
		'and the job went on to the snapshot (which fails on its own)');
	ok(!$node->log_contains(qr/periodic snapshot of compute \d+ failed: could not count the extents/),
		'the rewrite\'s error did not fail the job');
	set_gucs("ALTER SYSTEM RESET branchpromote.snapshot_interval; ALTER SYSTEM RESET branchpromote.defragment_extents");
	rmdir($unreadable) or die "rmdir $unreadable: $!";
	is(compute_safe_psql($prod, $BALANCED), 't', 'same user: every account holds the sum of its logged deltas');
	$bp->teardown;
}
done_testing();
