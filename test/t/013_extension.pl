# The reconciler never holds up DDL on its catalog: DROP EXTENSION, CREATE
# EXTENSION at the old version and ALTER EXTENSION UPDATE, and DROP DATABASE
# of the catalog's database (WITH (FORCE)) all complete while it runs; it
# idles without the extension, and once the extension is back it leaves
# what the old catalog left on disk alone (strays, another incarnation's)
# until an admin purges it.  The proxy does not hold them up
# either: without the catalog it answers clients with an error, and it comes
# back with the database.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $proxy_port = 26790;
my $bp = BranchPromoteTest->new_node('main', port_base => 26700, proxy_port => $proxy_port);
my $node = $bp->node;

sub reconciler_running
{
	return $node->safe_psql('template1',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'branchpromote reconciler'") eq '1';
}

sub proxy_running
{
	return $node->safe_psql('template1',
		"SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'branchpromote proxy'") eq '1';
}

$bp->json("SELECT branchpromote.create_project('acme')");
ok(scalar($bp->timeline_dirs) > 0, 'a project with data on disk');

# timed with a statement_timeout: a hang fails instead of blocking the suite
my ($ret, $out, $err) = $node->psql('postgres', "SET statement_timeout = '30s'; DROP EXTENSION branchpromote");
is($ret, 0, 'DROP EXTENSION completes with the reconciler running') or diag($err);
ok(BranchPromoteTest::wait_until(\&reconciler_running), 'the reconciler keeps running, idle');
my ($rc, $pout, $perr) = compute_psql("postgresql://acme:x\@localhost:$proxy_port/acme.dev", 'SELECT 1');
like($perr, qr/the branchpromote catalog could not be read/, 'the proxy answers a client without the catalog');
ok(proxy_running(), 'and keeps running');

($ret, $out, $err) = $node->psql('postgres',
	"SET statement_timeout = '30s'; CREATE EXTENSION branchpromote VERSION '0.1.0'; ALTER EXTENSION branchpromote UPDATE");
is($ret, 0, 'CREATE EXTENSION at 0.1.0 and ALTER EXTENSION UPDATE complete') or diag($err);
is($bp->sql("SELECT extversion FROM pg_extension WHERE extname = 'branchpromote'"),
	$bp->sql("SELECT default_version FROM pg_available_extensions WHERE name = 'branchpromote'"), 'at the default version, through every update script');
is($bp->sql("SELECT pg_get_function_identity_arguments('branchpromote.promote_branch'::regproc)"),
	'project text, release text, rehearse boolean, accept_schema boolean', 'the updated promote_branch takes accept_schema');
# what the dropped catalog left is not the new one's to delete: strays, kept
my @left = $bp->timeline_dirs;
ok($bp->reconciler_pass && $bp->reconciler_pass, 'the reconciler passes');
is(join(',', $bp->timeline_dirs), join(',', @left), 'it removes nothing the dropped catalog left on disk');
is($bp->sql("SELECT string_agg(timeline::text, ',' ORDER BY timeline) FROM branchpromote.stray_timelines"),
	join(',', @left), 'branchpromote.stray_timelines lists it');
like($bp->sql("SELECT string_agg(DISTINCT reason, ',') FROM branchpromote.stray_timelines"), qr/another catalog incarnation/,
	'saying why');
$bp->sql("SELECT branchpromote.purge_stray_timeline(timeline) FROM branchpromote.stray_timelines");
is(scalar($bp->timeline_dirs), 0, 'an explicit purge removes it');
ok(BranchPromoteTest::wait_until(sub { scalar($bp->processes_under_root) == 0 }), 'and stops its server');
ok(-d $bp->data_root . '/trash', 'into the trash');
$bp->json("SELECT branchpromote.create_project('acme')");
is($bp->sql("SELECT count(*) FROM branchpromote.computes WHERE actual_state = 'running'"), '1',
	'the updated extension works');
is(compute_safe_psql($bp->uri('acme', 'dev'), 'SELECT 1'), '1', 'through the proxy too');
# 0.8.0: clone_method is the storage driver's word, not only reflink or copy
my $acme_tl = $bp->sql("SELECT timeline FROM branchpromote.timelines WHERE project = 'acme'");
my $method = $bp->sql("SELECT clone_method FROM branchpromote.timeline WHERE id = $acme_tl");
$bp->sql("UPDATE branchpromote.timeline SET clone_method = 'branch' WHERE id = $acme_tl");
is($bp->sql("SELECT clone_method FROM branchpromote.timeline WHERE id = $acme_tl"), 'branch',
	"the updated catalog takes another driver's clone method");
my ($cst) = $bp->sqlstate("UPDATE branchpromote.timeline SET clone_method = 'Not A Word' WHERE id = $acme_tl");
is($cst, '23514', 'and refuses one that is not a lowercase word');
$bp->sql("UPDATE branchpromote.timeline SET clone_method = '$method' WHERE id = $acme_tl");

($ret, $out, $err) = $node->psql('template1', "SET statement_timeout = '30s'; DROP DATABASE postgres WITH (FORCE)");
is($ret, 0, "DROP DATABASE of the catalog's database completes") or diag($err);
is($node->safe_psql('template1', 'SELECT 1'), '1', 'the server stays up');
$node->safe_psql('template1', 'CREATE DATABASE postgres');
$node->safe_psql('postgres', 'CREATE EXTENSION branchpromote');
ok(BranchPromoteTest::wait_until(\&reconciler_running), 'the reconciler is back once the database is');
ok(BranchPromoteTest::wait_until(\&proxy_running), 'so is the proxy');
ok($bp->reconciler_pass, 'the reconciler passes');
ok(scalar($bp->timeline_dirs) > 0, "and keeps the dropped catalog's data");
$bp->sql("SELECT branchpromote.purge_stray_timeline(timeline) FROM branchpromote.stray_timelines");
is(scalar($bp->timeline_dirs), 0, 'until an admin purges it');

$bp->teardown;

# A driver no build has: the server refuses to start, saying which exist.
for my $kind (qw(storage compute))
{
	my $bad = PostgreSQL::Test::Cluster->new("bad_$kind");
	$bad->init;
	$bad->append_conf('postgresql.conf',
		"shared_preload_libraries = 'branchpromote'\nbranchpromote.${kind}_driver = 'neon'\n");
	ok(!$bad->start(fail_ok => 1), "a server with ${kind}_driver = 'neon' does not start");
	like(slurp_file($bad->logfile), qr/FATAL:  unknown $kind driver "neon".*HINT:  Drivers built in: "local"\./s,
		'and says why, with the drivers built in');
}
done_testing();
