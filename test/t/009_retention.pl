# History retention: with branchpromote.history_retention shortened, the
# reconciler keeps only the newest snapshot made before the window (so the
# window's start stays reachable), removes the others' rows and directories
# and the WAL only they needed; an LSN that only a pruned snapshot could reach
# is then refused with the reachable range, and one after the kept snapshot
# still works.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28800);

$bp->json("SELECT branchpromote.create_project('acme')");
compute_safe_psql($bp->uri('acme', 'dev'), "CREATE TABLE items (id int PRIMARY KEY)");
$bp->json("SELECT branchpromote.promote_branch('acme')");
my $prod = $bp->uri('acme', 'prod');
my $tl = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'");

sub insert_prod
{
	my ($id) = @_;
	return compute_safe_psql($prod, "INSERT INTO items VALUES ($id); SELECT pg_current_wal_lsn()");
}

sub snapshot_ids
{
	return $bp->sql("SELECT string_agg(snapshot::text, ',' ORDER BY snapshot) FROM branchpromote.snapshots WHERE timeline = $tl");
}

sub snapshot_dirs
{
	opendir(my $dh, $bp->timeline_dir($tl) . '/snapshots') or return '';
	my @ids = sort { $a <=> $b } grep { /^\d+$/ } readdir($dh);
	closedir($dh);
	return join(',', @ids);
}

# Archived WAL segment numbers of the timeline.
my $segsz = wal_segment_bytes($prod);
sub archived_segments
{
	opendir(my $dh, $bp->timeline_dir($tl) . '/archive') or die "no archive: $!";
	my @segs = map { walfile_segment($_, $segsz) } grep { /^[0-9A-F]{24}$/ } readdir($dh);
	closedir($dh);
	return sort { $a <=> $b } @segs;
}

sub segment
{
	return lsn_segment(shift, $segsz);
}

ok(BranchPromoteTest::wait_until(sub { snapshot_ids() ne '' }), "prod's first snapshot");
my $l1 = insert_prod(1);
my $a1 = $bp->json("SELECT branchpromote.create_anchor('acme', 'prod', 'one')");
insert_prod(2);
my $a2 = $bp->json("SELECT branchpromote.create_anchor('acme', 'prod', 'two')");
my $l3 = insert_prod(3);
my @all = split /,/, snapshot_ids();
is(scalar(@all), 3, 'three snapshots: the base one and two anchors');
is(snapshot_dirs(), snapshot_ids(), 'each with its directory');
ok((archived_segments())[0] < segment($a2->{lsn}), 'WAL from before the newest snapshot is archived');

# shorten the window: every snapshot is now older than it
$bp->node->append_conf('postgresql.conf', "branchpromote.history_retention = '1s'\n");
$bp->node->reload;
ok(BranchPromoteTest::wait_until(sub { snapshot_ids() eq $a2->{snapshot} && snapshot_dirs() eq $a2->{snapshot} }),
	'only the newest snapshot before the window is kept, rows and directories');
my $start = $bp->sql("SELECT start_lsn FROM branchpromote.snapshots WHERE snapshot = $a2->{snapshot}");
ok(BranchPromoteTest::wait_until(sub { (archived_segments())[0] >= segment($start) }),
	'WAL before its start is pruned');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE timeline = $tl"), '2',
	'anchors stay (as names for LSNs)');

my ($st, $err) = $bp->sqlstate("SELECT branchpromote.rollback_to_lsn('acme', '$l1')");
is($st, '22023', 'an LSN only a pruned snapshot could reach is refused');
like($err, qr/outside the history retained.*HINT:\s+Reachable: \Q$a2->{lsn}\E to /s,
	'with the reachable range, from the kept snapshot on');
is(compute_safe_psql($prod, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '1,2,3',
	'and prod is untouched');

my $r = $bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l3')");
is($r->{snapshot_lsn}, $a2->{lsn}, 'an LSN after the kept snapshot is served by it');
is(compute_safe_psql($prod, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items"), '1,2,3',
	'with every row up to it');

$bp->teardown;
done_testing();
