# Reflink clones on a data root that supports them (XFS, reflink=1).
# Needs BP_TEST_XFS_DIR: a directory on such a filesystem, writable by the
# test's OS user (scripts/test.sh loop-mounts one).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP ();
use PostgreSQL::Test::Utils;
use Test::More;

my $xfs = $ENV{BP_TEST_XFS_DIR};
plan skip_all => 'BP_TEST_XFS_DIR is not set (no reflink filesystem)'
  unless defined $xfs && $xfs ne '';
plan skip_all => "BP_TEST_XFS_DIR=$xfs is not a writable directory"
  unless -d $xfs && -w $xfs;

my $root = fresh_dir("$xfs/tap-002-$$");

my $bp = BranchPromoteTest->new_node(
	'main',
	port_base => 28200,
	data_root => $root,
	remove_data_root => 1);

my $c = $bp->json("SELECT branchpromote.create_project('shop')");
is($c->{clone_method}, 'reflink', 'create_project on XFS reports clone_method reflink');
my $dev_tl = $c->{dev_timeline};
ok(-f $bp->pgdata($dev_tl) . '/PG_VERSION', 'the dev timeline lives under the configured data root');
my $dev_uri = $bp->uri('shop', 'dev');
compute_safe_psql($dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'row ' || g FROM generate_series(1, 1000) g;
SQL
my $digest = compute_safe_psql($dev_uri, ROWS_DIGEST);

my $p = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
is($p->{action}, 'first_deploy', 'promote: first_deploy');
is($p->{clone_method}, 'reflink', 'promote on XFS reports clone_method reflink');
ok(JSON::PP::is_bool($p->{dev_was_running}) && $p->{dev_was_running}, 'promote forked a running dev');
my $prod_tl = $p->{prod_timeline};
is( $bp->sql(
		"SELECT string_agg(kind || ':' || clone_method, ',' ORDER BY timeline) FROM branchpromote.timelines WHERE project = 'shop'"
	),
	'dev:reflink,prod:reflink',
	'timelines view: both timelines were made by reflink');
is($bp->sql("SELECT clone_method FROM branchpromote.deploys WHERE project = 'shop'"),
	'reflink', 'deploys view: reflink');
is(compute_safe_psql($bp->uri('shop', 'prod'), ROWS_DIGEST), $digest, 'prod has exactly dev\'s rows');

$bp->teardown;
done_testing();
