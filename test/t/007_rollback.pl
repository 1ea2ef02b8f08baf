# Point in time, end to end with real clients on prod's connection URI:
# rollback_to_lsn at several LSNs (one past a WAL segment switch, one on the
# timeline prod left, i.e. through the lineage), refusals (future, before
# prod existed, 0/0) that change nothing, rollback_deploy after a destructive
# migration bringing the dropped column's data back (its snapshot is the
# pre-deploy anchor's), create_anchor, previews (isolation both ways, TTL
# expiry, discard), reset_prod (wrong confirm refused, backup kept) and the
# timelines view's lineage.  After every operation prod's URI still works.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use JSON::PP ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28700);
my $LSN = qr{^[0-9A-F]+/[0-9A-F]+$};

$bp->json("SELECT branchpromote.create_project('acme')");
my $dev = $bp->uri('acme', 'dev');
compute_safe_psql($dev, "CREATE TABLE items (id int PRIMARY KEY, note text)");
compute_safe_psql($dev, "INSERT INTO items VALUES (0, 'from dev')");
$bp->json("SELECT branchpromote.promote_branch('acme', 'v1')");
my $prod = $bp->uri('acme', 'prod');

sub prod_ids
{
	return compute_safe_psql($prod, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
}

# Insert one row on prod; returns the LSN right after its commit.
sub insert_prod
{
	my ($id) = @_;
	return compute_safe_psql($prod,
		"INSERT INTO items VALUES ($id, 'prod $id'); SELECT pg_current_wal_lsn()");
}

# The WAL segment number of an LSN.
my $segsz = wal_segment_bytes($prod);
sub segment
{
	return lsn_segment(shift, $segsz);
}

sub prod_timeline
{
	return $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'");
}

# A new prod has its base snapshot before the first deploy returns.
my $tl1 = prod_timeline();
is($bp->sql("SELECT count(*) FROM branchpromote.snapshots WHERE timeline = $tl1 AND reason = 'base'"), '1',
	'a new prod has its base snapshot');

my $l1 = insert_prod(1);
my $l2 = insert_prod(2);
# more than a WAL segment (4 MB) between rows 2 and 3
compute_safe_psql($prod, "CREATE TABLE filler AS SELECT g, repeat('x', 900) AS pad FROM generate_series(1, 20000) g");
my $l3 = insert_prod(3);
isnt(segment($l3), segment($l2), 'a WAL segment boundary lies between rows 2 and 3');
insert_prod(4);
like($l1, $LSN, 'LSNs from the compute');
is(prod_ids(), '0,1,2,3,4', 'prod has its rows');

# refusals change nothing
my $before = $bp->sql("SELECT count(*) FROM branchpromote.timeline");
my ($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_to_lsn('acme', 'FFFFFFFF/0')");
is($st, '22023', 'an LSN in the future is refused');
like($err, qr/HINT:.*Reachable: [0-9A-F]+\/[0-9A-F]+ to/, 'with the reachable range in the hint');
($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_to_lsn('acme', '0/10')");
is($st, '22023', 'an LSN before prod existed is refused');
like($err, qr/outside the history retained/, 'as outside the retained history');
($st) = $bp->sqlstate("SELECT branchpromote.rollback_to_lsn('acme', NULL)");
is($st, '22004', 'a NULL LSN is refused');
($st) = $bp->sqlstate("SELECT branchpromote.rollback_to_lsn('nope', '0/10')");
is($st, '42704', 'an unknown project is refused');
is($bp->sql("SELECT count(*) FROM branchpromote.timeline"), $before, 'refusals made no timeline');
is(prod_timeline(), $tl1, 'and prod did not move');

# a rollback whose transaction aborts after prod was stopped and the fork
# started on prod's port: the reconciler removes the fork and starts prod
# again on its old timeline
my @dirs_before = $bp->timeline_dirs;
{
	# the call returns inside an open transaction: prod runs on the new
	# timeline, closed to clients until the transaction commits
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $bp->node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "BEGIN;\nSELECT (branchpromote.rollback_to_lsn('acme', '$l3'))->>'lsn';\n";
	ok(BranchPromoteTest::wait_until(sub { $h->pump_nb; $out =~ /\Q$l3\E/ }), 'a rollback in an open transaction');
	my ($rc, undef, $cerr) = compute_psql($prod, 'SELECT 1');
	ok($rc != 0 && $cerr =~ /pg_hba\.conf/, 'until it commits, the new prod refuses clients')
	  or diag("rc $rc: $cerr");
	$in .= "ROLLBACK;\n\\q\n";
	$h->finish;
}
ok(BranchPromoteTest::wait_until(sub {
	my ($rc, $out) = compute_psql($prod, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
	$rc == 0 && $out eq '0,1,2,3,4' && join(',', $bp->timeline_dirs) eq join(',', @dirs_before)
}), 'an aborted rollback leaves prod serving its old timeline, and no fork behind');
is(prod_timeline(), $tl1, 'the catalog never moved');

# rollbacks cancelled early: in the seal of prod's history, which runs while
# a thread of the backend clones the snapshot, or in that clone; the thread
# is stopped, no backend dies, and the reconciler removes each fork
my %cancel_states;
for my $ms (5, 10, 20, 30, 45, 60)
{
	my ($st, $cerr) = $bp->sqlstate("SET statement_timeout = '${ms}ms'; SELECT branchpromote.rollback_to_lsn('acme', '$l3')");
	$cancel_states{$st // 'none'}++;
	like($cerr // '', qr/canceling statement due to statement timeout/, "a rollback cancelled after $ms ms")
	  or diag($cerr);
}
is(join(',', keys %cancel_states), '57014', 'every cancelled rollback failed with 57014');
ok(BranchPromoteTest::wait_until(sub {
	$bp->reconciler_pass;
	join(',', $bp->timeline_dirs) eq join(',', @dirs_before)
}), 'the cancelled rollbacks left no fork behind');
is(prod_timeline(), $tl1, 'and prod never moved');
is(prod_ids(), '0,1,2,3,4', 'prod serves its data');
unlike(slurp_file($bp->node->logfile), qr/terminated by signal/, 'no backend died on the way');

# a rollback that fails in its base snapshot, the last step before prod's
# compute stops: a lock held on the snapshot table stalls the snapshot's
# row until the statement times out; the call aborts and prod never
# stopped serving its old timeline
{
	my ($in, $out, $err) = ('', '', '');
	my $locker = IPC::Run::start([ 'psql', '-XAtq', '-d', $bp->node->connstr('postgres') ],
		'<', \$in, '>', \$out, '2>', \$err);
	$in .= "BEGIN;\nLOCK TABLE branchpromote.snapshot IN SHARE ROW EXCLUSIVE MODE;\nSELECT 'locked';\n";
	ok(BranchPromoteTest::wait_until(sub { $locker->pump_nb; $out =~ /locked/ }), 'the snapshot table is locked');
	my $prod_pid = $bp->compute_row('acme', 'prod')->{pid};
	my ($st, $lerr) = $bp->sqlstate("SET statement_timeout = '4s'; SELECT branchpromote.rollback_to_lsn('acme', '$l3')");
	is($st, '57014', 'a rollback stalled in its base snapshot times out') or diag($lerr);
	ok(pid_alive($prod_pid), "prod's compute was never stopped");
	ok(BranchPromoteTest::wait_until(sub {
		$bp->sql("SELECT error FROM branchpromote.operations WHERE project = 'acme' AND kind = 'rollback_to_lsn' "
			  . "ORDER BY started_at DESC LIMIT 1") eq 'its transaction aborted after step "replay on the new timeline"'
	}), 'it failed in its base snapshot, the step after the replay');
	$in .= "ROLLBACK;\n\\q\n";
	$locker->finish;
	ok(BranchPromoteTest::wait_until(sub {
		my ($rc, $o) = compute_psql($prod, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
		$bp->reconciler_pass;
		$rc == 0 && $o eq '0,1,2,3,4' && join(',', $bp->timeline_dirs) eq join(',', @dirs_before)
	}), 'prod serves its old timeline, and the fork is gone');
	is(prod_timeline(), $tl1, 'the catalog never moved');
}

# rollback across a segment switch: rows up to 3 back, 4 gone
my $r = $bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l3')");
is($r->{lsn}, $l3, 'rollback_to_lsn reports the LSN');
is($r->{backup_branch}, "prod-backup-$tl1", 'and the backup branch');
is(prod_timeline(), $r->{new_timeline}, 'prod points at the new timeline');
is(prod_ids(), '0,1,2,3', 'rows committed at or before the LSN are there, later ones are not');
is($bp->sql("SELECT kind || ' ' || branch FROM branchpromote.timelines WHERE timeline = $tl1"),
	"backup prod-backup-$tl1", 'the old prod is a backup branch');
my $tl2 = $r->{new_timeline};
is($bp->sql("SELECT parent || ' ' || fork_lsn FROM branchpromote.timelines WHERE timeline = $tl2"),
	"$tl1 $l3", 'lineage: parent and fork LSN');
# the trial run before the swap ran without archiving: its shutdown made
# no segment switch, so its shutdown checkpoint (the base snapshot's LSN)
# is in the segment the fork began in; and the rollback put the new WAL
# timeline's history file into the archive itself
{
	my $segsz = compute_safe_psql($prod, "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'");
	is($bp->sql("SELECT floor((lsn - '0/0') / $segsz) = floor(('$l3'::pg_lsn - '0/0') / $segsz) "
		  . "FROM branchpromote.snapshots WHERE timeline = $tl2 AND reason = 'base'"), 't',
		'the trial run switched no WAL segment at its shutdown');
	my ($wal_tli) = slurp_file($bp->timeline_dir($tl2) . '/compute.log') =~ /selected new timeline ID: (\d+)/;
	my $hex = sprintf('%08X', $wal_tli // 0);
	ok(-f $bp->timeline_dir($tl2) . "/archive/$hex.history", "the new timeline's archive has its WAL timeline's history ($hex)");
}
compute_safe_psql($prod, "INSERT INTO items VALUES (5, 'after rollback')");
is(prod_ids(), '0,1,2,3,5', 'prod takes writes on its new timeline');

# the rollback's fork replayed its own pg_wal (prod's WAL cloned from its
# archive), no restore_command
my $trial_log = slurp_file($bp->timeline_dir($tl2) . '/compute.log');
unlike($trial_log, qr/restored log file/, "the rollback's fork restored no WAL through a shell");
# its WAL cut right before the first record at or past the target: promoted
# by its trigger file at the end of it, with no end-of-recovery checkpoint
like($trial_log, qr/promote trigger file found/, 'it was promoted by its trigger file at the end of its WAL');
unlike($trial_log, qr/recovery stopping before|checkpoint starting: end-of-recovery/,
	'not by a recovery target, and with no end-of-recovery checkpoint');

# further back: an LSN on the timeline prod left, through the lineage
$r = $bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l1')");
is($r->{source_timeline}, $tl1, 'an LSN before the fork is read from the parent timeline');
is(prod_ids(), '0,1', 'prod is back at the earlier LSN');
my $tl3 = $r->{new_timeline};

# rollback_deploy after a destructive migration
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', '[{\"version\": \"0001\", \"sql\": \"ALTER TABLE items DROP COLUMN note\"}]')");
my $d = $bp->json("SELECT branchpromote.promote_branch('acme', 'v2')");
is($d->{action}, 'redeploy', 'a re-deploy');
is(compute_safe_psql($prod, "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'note'"),
	'0', 'the migration dropped the column on prod');
is($bp->sql("SELECT count(*) FROM branchpromote.snapshots WHERE timeline = $tl3 AND reason = 'anchor' AND lsn <= '$d->{anchor_lsn}'"),
	'1', 'the pre-deploy anchor has its snapshot');
($st) = $bp->sqlstate("SELECT branchpromote.rollback_deploy('acme', 999999)");
is($st, '42704', 'an unknown deploy is refused');
$r = $bp->json("SELECT branchpromote.rollback_deploy('acme')");
is($r->{rolled_back_deploy}, $d->{deploy_id}, 'rollback_deploy undoes the latest deploy');
is($r->{lsn}, $d->{anchor_lsn}, 'at its pre-deploy anchor');
is($r->{snapshot_lsn}, $bp->sql("SELECT lsn FROM branchpromote.snapshots WHERE timeline = $tl3 AND reason = 'anchor'"),
	"from the pre-deploy anchor's snapshot");
is(compute_safe_psql($prod, "SELECT string_agg(note, ',' ORDER BY id) FROM items"),
	'from dev,prod 1', "the dropped column's data is back");
is($bp->sql("SELECT release FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'"),
	'v1', 'the release before the deploy is pinned again');
is($bp->sql("SELECT count(*) FROM branchpromote.ledger WHERE project = 'acme' AND env = 'prod'"),
	'0', 'the ledger follows the data');
($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_deploy('acme', $d->{deploy_id})");
is($st, '55000', 'a deploy is rolled back once');

# create_anchor, then a rollback to it
compute_safe_psql($prod, "INSERT INTO items VALUES (7)");
my $a = $bp->json("SELECT branchpromote.create_anchor('acme', 'prod', 'before-import')");
like($a->{lsn}, $LSN, 'create_anchor returns its LSN');
($st) = $bp->sqlstate("SELECT branchpromote.create_anchor('acme', 'prod', 'before-import')");
is($st, '42710', 'anchor names are unique per timeline');
compute_safe_psql($prod, "INSERT INTO items VALUES (8)");
$r = $bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$a->{lsn}')");
is($r->{replay_bytes}, 0, "an anchor's own snapshot needs no replay");
is(prod_ids(), '0,1,7', 'rolled back to the anchor');

# the first LSN of the first prod: its base snapshot, taken from the fork's
# own files before it ever started, forked at its own LSN (a standby cut
# at the snapshot's end, promoted by its trigger file: no checkpoint waited for)
my $first = $bp->sql("SELECT fork_lsn FROM branchpromote.timelines WHERE timeline = $tl1");
is($bp->sql("SELECT lsn FROM branchpromote.snapshots WHERE timeline = $tl1 AND reason = 'base'"), $first,
	"the first prod's base snapshot is at its fork LSN");
$r = $bp->json("SELECT branchpromote.fork_branch('acme', 'pr-0', 'prod-backup-$tl1', '$first')");
is(compute_safe_psql($bp->uri('acme', 'pr-0'), "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '0',
	'a fork at the first LSN of the first prod has what dev had');
my $pr0_log = slurp_file($bp->timeline_dir($r->{timeline}) . '/compute.log');
like($pr0_log, qr/promote trigger file found/, 'it was promoted by its trigger file');
unlike($pr0_log, qr/checkpoint starting: end-of-recovery|restored log file/,
	'with no end-of-recovery checkpoint and no WAL restored through a shell');
$bp->json("SELECT branchpromote.discard_branch('acme', 'pr-0')");

# previews
$r = $bp->json("SELECT branchpromote.fork_branch('acme', 'pr-1')");
my $pr = $bp->uri('acme', 'pr-1');
is(compute_safe_psql($pr, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '0,1,7', 'a preview starts as prod');
compute_safe_psql($pr, "INSERT INTO items VALUES (100)");
compute_safe_psql($prod, "INSERT INTO items VALUES (9)");
is(prod_ids(), '0,1,7,9', "the preview's writes do not reach prod");
is(compute_safe_psql($pr, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '0,1,7,100',
	"prod's writes do not reach the preview");
($st) = $bp->sqlstate("SELECT branchpromote.fork_branch('acme', 'pr-1')");
is($st, '42710', 'branch names are unique');
($st) = $bp->sqlstate("SELECT branchpromote.fork_branch('acme', 'prod')");
is($st, '42939', 'environment names are reserved');
($st) = $bp->sqlstate("SELECT branchpromote.discard_branch('acme', 'prod')");
is($st, '55000', 'discard_branch refuses an environment');
$r = $bp->json("SELECT branchpromote.discard_branch('acme', 'pr-1')");
my $prtl = $r->{timeline};
ok(BranchPromoteTest::wait_until(sub { !-d $bp->timeline_dir($prtl) }), "a discarded preview's data goes");

# a preview whose transaction aborts leaves nothing
@dirs_before = $bp->timeline_dirs;
$bp->sql("BEGIN; SELECT branchpromote.fork_branch('acme', 'pr-x'); ROLLBACK;");
ok(BranchPromoteTest::wait_until(sub { join(',', $bp->timeline_dirs) eq join(',', @dirs_before) }),
	"an aborted fork_branch's data is removed");
is($bp->sql("SELECT count(*) FROM branchpromote.environments WHERE project = 'acme' AND env = 'pr-x'"), '0',
	'and it has no environment');

# a preview at an LSN, with a TTL
my $l9 = compute_safe_psql($prod, "SELECT pg_current_wal_lsn()");
compute_safe_psql($prod, "INSERT INTO items VALUES (10)");
my $t0 = $bp->sql("SELECT clock_timestamp()");
$r = $bp->json("SELECT branchpromote.fork_branch('acme', 'pr-2', 'prod', '$l9', '2 seconds')");
# the TTL counts from the end of the call's work, not from its start: a
# fork slower than its TTL must not be born expired
is($bp->sql("SELECT '$r->{expires_at}'::timestamptz - interval '2 seconds' >= "
	  . "'$t0'::timestamptz + ($r->{elapsed_ms} - 20) * interval '1 millisecond'"), 't',
	'a preview expires its TTL after the call that made it did its work');
my $pr2 = $bp->uri('acme', 'pr-2');
is(compute_safe_psql($pr2, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '0,1,7,9',
	'a preview at an LSN has what was committed by then');
my $pr2tl = $r->{timeline};
ok(BranchPromoteTest::wait_until(sub {
	$bp->sql("SELECT discarded_at IS NOT NULL FROM branchpromote.timelines WHERE timeline = $pr2tl") eq 't'
	  && !-d $bp->timeline_dir($pr2tl)
}), 'a preview past its TTL is discarded automatically');
is($bp->sql("SELECT count(*) FROM branchpromote.computes WHERE project = 'acme' AND env = 'pr-2'"), '0',
	'with its compute');

# an LSN inside a record: the record that begins before it is replayed (the
# fork's WAL is cut at the first record that begins at or past the LSN, not
# at the LSN itself); here the LSN is the last byte of the commit of 10
my $l10 = compute_safe_psql($prod, "SELECT pg_current_wal_lsn()");
my $inside = $bp->sql("SELECT '$l10'::pg_lsn - 1");
$r = $bp->json("SELECT branchpromote.fork_branch('acme', 'pr-3', 'prod', '$inside')");
is(compute_safe_psql($bp->uri('acme', 'pr-3'), "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"),
	'0,1,7,9,10', 'a preview at an LSN inside a commit record has that commit');
like(slurp_file($bp->timeline_dir($r->{timeline}) . '/compute.log'), qr/promote trigger file found/,
	'promoted at the end of its cut WAL');
$bp->json("SELECT branchpromote.discard_branch('acme', 'pr-3')");

# reset_prod
($st) = $bp->sqlstate("SELECT branchpromote.reset_prod('acme', 'yes')");
is($st, '22023', 'reset_prod refuses a wrong confirm');
is(prod_ids(), '0,1,7,9,10', 'and prod is untouched');
my $old = prod_timeline();
($st) = $bp->sqlstate("SELECT branchpromote.reset_prod('acme', 'acme')");
is($st, '55000', 'reset_prod refuses a protected prod (protected from its first deploy)');
$bp->json("SELECT branchpromote.unprotect('acme', 'prod')");
$r = $bp->json("SELECT branchpromote.reset_prod('acme', 'acme')");
is(prod_ids(), '0', "prod has dev's data after a reset");
is($r->{backup_branch}, "prod-backup-$old", 'the old prod is kept as a backup');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE timeline = $old AND kind = 'pre-reset'"), '1',
	'and anchored');
($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_deploy('acme')");
is($st, '42704', 'after a reset no earlier deploy is in effect to roll back');
($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_deploy('acme', $d->{deploy_id})");
is($st, '55000', 'and an explicit one is refused');
$r = $bp->json("SELECT branchpromote.fork_branch('acme', 'rescue', 'prod-backup-$old')");
is(compute_safe_psql($bp->uri('acme', 'rescue'), "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"),
	'0,1,7,9,10', 'a backup branch can be forked to get its data back');

# the timelines view
is($bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE project = 'acme' AND discarded_at IS NULL AND size_bytes > 0"),
	$bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE project = 'acme' AND discarded_at IS NULL"),
	'every live timeline reports its size');
is($bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'acme' AND action IN ('rollback', 'reset')"),
	'2', 'rollbacks of deploys and resets are deploys');

$bp->teardown;
done_testing();
