# Side effects of aborted transactions and of drop_project are cleaned up by
# the reconciler; refused calls leave nothing behind.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP qw(decode_json);
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28300);
my $node = $bp->node;

# A timeline directory is gone and no postmaster runs on it.
sub timeline_gone
{
	my ($tl) = @_;
	return !-e $bp->timeline_dir($tl) && !$bp->postmasters_on($tl);
}

my $c = $bp->json("SELECT branchpromote.create_project('p')");
my $p_dev_tl = $c->{dev_timeline};
my $p_dev_uri = $bp->uri('p', 'dev');
compute_safe_psql($p_dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'p row ' || g FROM generate_series(1, 200) g;
SQL
my $p_digest = compute_safe_psql($p_dev_uri, ROWS_DIGEST);

# Orphans planted by hand: a directory whose owner transaction finished, and
# one left without an owner file (a crash between mkdir and writing it),
# which gets a grace period in case its creator is still writing it.
ok($bp->reconciler_pass,
	'the reconciler removes timeline directories whose creating transaction finished');
my $old_ownerless = $bp->plant_orphan(age => 120);
my $young_ownerless = $bp->plant_orphan();
ok(wait_until(sub { !-e $old_ownerless }),
	'the reconciler removes an old timeline directory without an owner file');
ok($bp->reconciler_pass, 'the reconciler completed a pass meanwhile');
ok(-d $young_ownerless, 'the reconciler keeps a young timeline directory without an owner file');
utime(time() - 120, time() - 120, $young_ownerless);
ok(wait_until(sub { !-e $young_ownerless }),
	'once it is old, the reconciler removes it');

# Strays: directories another catalog made (another incarnation, or this one
# before a restore, on another WAL timeline of the control server), and one
# with data but no owner file.  The reconciler must not delete them: it
# cannot know what they hold.
my $incarnation = $bp->sql('SELECT id FROM branchpromote.incarnation');
my $other_incarnation = $bp->plant_orphan(owner => 3, stamp => '00000000-0000-0000-0000-000000000000 1', content => 1, age => 120);
my $other_wal_timeline = $bp->plant_orphan(owner => 3, stamp => "$incarnation 7", content => 1, age => 120);
my $no_owner_with_data = $bp->plant_orphan(content => 1, age => 120);
my $future = $bp->plant_orphan(owner => 4000000000, content => 1, age => 120);
ok($bp->reconciler_pass && $bp->reconciler_pass, 'the reconciler passes twice');
ok(-d $other_incarnation, "it keeps another catalog incarnation's directory");
ok(-d $other_wal_timeline, 'and one made on another WAL timeline (a restored catalog)');
ok(-d $no_owner_with_data, 'and one with data but no owner file');
ok(-d $future, 'and one whose creating transaction is in the future of this catalog');
my %stray = map { split /=/ } split /,/, $bp->sql(
	"SELECT string_agg(timeline || '=' || reason, ',') FROM branchpromote.stray_timelines");
my ($oi) = $other_incarnation =~ /(\d+)$/;
my ($ow) = $other_wal_timeline =~ /(\d+)$/;
my ($no) = $no_owner_with_data =~ /(\d+)$/;
like($stray{$oi}, qr/another catalog incarnation/, 'stray_timelines lists the first');
like($stray{$ow}, qr/another WAL timeline/, 'and the second');
is($stray{$no}, 'no owner file', 'and the third');
my ($st) = $bp->sqlstate("SELECT branchpromote.purge_stray_timeline((SELECT id FROM branchpromote.timeline LIMIT 1))");
is($st, '42704', 'a timeline the catalog names is not a stray to purge');
$bp->json("SELECT branchpromote.purge_stray_timeline($oi)");
ok(!-e $other_incarnation, 'purge_stray_timeline removes a stray');
ok(-d $bp->data_root . "/trash", 'into the trash');
$bp->json("SELECT branchpromote.create_project('keeper')");
my $adopted = $bp->json("SELECT branchpromote.adopt_stray_timeline($ow, 'keeper')");
is($adopted->{branch}, "stray-$ow", 'adopt_stray_timeline makes it a backup branch');
is($bp->sql("SELECT kind || ' ' || branch FROM branchpromote.timelines WHERE timeline = $ow"), "backup stray-$ow", 'of the project');
like(slurp_file("$other_wal_timeline/owner"), qr/ \Q$incarnation\E 1$/m, "its owner file is this catalog's now");
$bp->json("SELECT branchpromote.discard_branch('keeper', 'stray-$ow')");
ok(wait_until(sub { !-e $other_wal_timeline }), 'so discarding it lets the reconciler remove it');
$bp->sql("SELECT branchpromote.purge_stray_timeline(timeline) FROM branchpromote.stray_timelines");
ok(!-e $no_owner_with_data && !-e $future, 'the other strays are purged too');
# a directory made before 0.5.0 (an owner file without a stamp) that a row
# names is stamped by the update, so it is collected like any other later
my $keeper_dev = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'keeper' AND env = 'dev'");
my $owner_file = $bp->timeline_dir($keeper_dev) . '/owner';
my ($old_xid) = slurp_file($owner_file) =~ /^(\d+)/;
open(my $ofh, '>', $owner_file) or die "could not write $owner_file: $!";
print $ofh "$old_xid\n";
close($ofh);
ok($bp->sql('SELECT branchpromote._stamp_named_directories()') >= 1, 'the 0.5.0 update stamps what the catalog names');
like(slurp_file($owner_file), qr/^$old_xid \Q$incarnation\E 1$/, 'with its creator kept');
$bp->json("SELECT branchpromote.drop_project('keeper', 'keeper')");
ok(wait_until(sub { !-e $bp->timeline_dir($keeper_dev) }), 'so dropping it removes it');

# ------------------------------------------- aborted promote_branch

# While the promoting transaction is open, its directory is work in progress.
my $bg = $node->background_psql('postgres');
my $out = $bg->query_safe("BEGIN; SELECT branchpromote.promote_branch('p', 'v1');");
my $aborted = decode_json($out);
my $a_tl = $aborted->{prod_timeline};
like($a_tl, qr/^\d+$/, 'the promote inside an open transaction made a prod timeline');
ok(-d $bp->pgdata($a_tl), 'its directory exists while the transaction is open');
my @a_pm = $bp->postmasters_on($a_tl);
is(scalar @a_pm, 1, 'a prod compute runs on it while the transaction is open');
is($bp->json("SELECT branchpromote.plan_promotion('p', 'v1')")->{action},
	'first_deploy', 'other sessions do not see the uncommitted prod');
ok($bp->reconciler_pass, 'the reconciler completed a pass meanwhile');
ok(-d $bp->pgdata($a_tl), 'the reconciler keeps the directory of an in-progress promotion');
ok(pid_alive($a_pm[0]), 'and keeps its compute running');
my $a_sock = $bp->socket_dir_for_port($aborted->{prod_port});
ok(defined $a_sock, 'the open promotion\'s compute has a private socket directory');
is($bp->sql("SELECT kind || ' ' || status || ' ' || (steps->-1->>'step') FROM branchpromote.operations "
		. "WHERE project = 'p' AND operation IS NULL"),
	'promote_branch running base snapshot', 'the journal shows the open promotion running, with its last step');
$bg->query_safe('ROLLBACK');
$bg->quit;
ok( wait_until(sub {
			$bp->sql("SELECT count(*) FROM branchpromote.operations WHERE project = 'p' AND kind = 'promote_branch' "
				  . "AND status = 'failed' AND error = 'its transaction aborted after step \"base snapshot\"'") eq '1';
		}),
	'after ROLLBACK the journal records it as failed, with the step it reached');
is($bp->sql("SELECT count(*) FROM branchpromote.operations WHERE project = 'p' AND status = 'running'"), '0',
	'and no longer as running');

ok(wait_until(sub { timeline_gone($a_tl) }),
	'after ROLLBACK the reconciler removes the aborted prod timeline and stops its compute')
  or diag('left: dir ' . (-e $bp->timeline_dir($a_tl) ? 'present' : 'gone')
	  . ', postmasters ' . join(' ', $bp->postmasters_on($a_tl)));
ok(!port_accepts($aborted->{prod_port}), 'nothing listens on the aborted prod compute\'s port');
ok(wait_until(sub { !defined $a_sock || !-e $a_sock }, 10),
	'the aborted prod compute\'s private socket directory is removed')
  or diag("left: $a_sock");
is($bp->sql("SELECT string_agg(env, ',' ORDER BY env) FROM branchpromote.environments WHERE project = 'p'"),
	'dev', 'the catalog has no prod environment for p');
is($bp->sql("SELECT string_agg(timeline::text, ',') FROM branchpromote.timelines WHERE project = 'p'"),
	$p_dev_tl, 'the catalog has only the dev timeline for p');
is($bp->sql("SELECT string_agg(env, ',') FROM branchpromote.computes WHERE project = 'p'"),
	'dev', 'the catalog has only the dev compute for p');
is($bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'p'"), 0,
	'the catalog has no deploy for p');
is(compute_safe_psql($p_dev_uri, ROWS_DIGEST), $p_digest, 'dev still serves its rows after the aborted fork');

# The aborted attempt left nothing in the way of a real one.
my $p = $bp->json("SELECT branchpromote.promote_branch('p', 'v1')");
is($p->{action}, 'first_deploy', 'a promotion after the aborted one succeeds');
my $p_prod_tl = $p->{prod_timeline};
is(compute_safe_psql($bp->uri('p', 'prod'), ROWS_DIGEST), $p_digest, 'and its prod has dev\'s rows');

# ------------------------------------------- aborted create_project

$out = $bp->sql("BEGIN; SELECT branchpromote.create_project('q'); ROLLBACK;");
my $q_aborted = decode_json($out);
my $q_tl = $q_aborted->{dev_timeline};
like($q_tl, qr/^\d+$/, 'the aborted create_project had made a dev timeline');
ok(wait_until(sub { timeline_gone($q_tl) }),
	'after ROLLBACK the reconciler removes the aborted dev timeline and stops its compute');
ok(!port_accepts($q_aborted->{port}), 'nothing listens on the aborted dev compute\'s port');
is($bp->sql("SELECT count(*) FROM branchpromote.projects WHERE project = 'q'"), 0,
	'the aborted project is not in the catalog');
$c = $bp->json("SELECT branchpromote.create_project('q')");
is($c->{project}, 'q', 'the name of an aborted project can be created again');
isnt($c->{dev_timeline}, $q_tl, 'with a new timeline');
my $q_tl2 = $c->{dev_timeline};
is(compute_safe_psql($bp->uri('q', 'dev'), 'SELECT current_user || \'@\' || current_database()'),
	'q@q', 'the re-created project serves its application role and database');

# ------------------------------------------- drop_project

my $p_dev_pid = $bp->compute_row('p', 'dev')->{pid};
my $p_prod_pid = $bp->compute_row('p', 'prod')->{pid};
my @p_socks = map { $bp->socket_dir_for_port($bp->compute_row('p', $_)->{port}) } qw(dev prod);
is(scalar(grep { defined } @p_socks), 2, 'both computes of p have a private socket directory');
my @dirs = $bp->timeline_dirs;
my ($state, $err) = $bp->sqlstate("SELECT branchpromote.drop_project('p', 'wrong')");
is($state, '22023', 'drop_project with a wrong confirmation fails with 22023') or diag($err);
is($bp->sql("SELECT count(*) FROM branchpromote.projects WHERE project = 'p'"), 1,
	'the refused drop left the project');
is($bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE project = 'p'"), 2,
	'the refused drop left both timelines in the catalog');
ok($bp->reconciler_pass, 'the reconciler completed a pass after the refused drop');
is_deeply([ $bp->timeline_dirs ], \@dirs, 'the refused drop removed no directory');
ok(pid_alive($p_dev_pid) && pid_alive($p_prod_pid), 'the refused drop stopped no compute');

($state, $err) = $bp->sqlstate("SELECT branchpromote.drop_project('p', 'p')");
is($state, '55000', 'drop_project refuses a project whose prod is protected') or diag($err);
like($err, qr/unprotect\('p', name\)/, 'the hint names the way: unprotect');
$bp->json("SELECT branchpromote.unprotect('p', 'prod')");
my $d = $bp->json("SELECT branchpromote.drop_project('p', 'p')");
is($d->{dropped}, 'p', 'drop_project reports the dropped project');
is_deeply([ sort { $a <=> $b } @{ $d->{timelines} } ], [ $p_dev_tl, $p_prod_tl ],
	'drop_project lists both timelines');
ok(wait_until(sub { timeline_gone($p_dev_tl) && timeline_gone($p_prod_tl) }),
	'after the drop the reconciler removes both timeline directories and stops their computes');
ok(!pid_alive($p_dev_pid) && !pid_alive($p_prod_pid), 'both compute processes of p are gone');
ok(wait_until(sub { !grep { defined && -e } @p_socks }, 10),
	'the private socket directories of p\'s computes are removed')
  or diag('left: ' . join(' ', grep { defined && -e } @p_socks));
is( $bp->sql(
		"SELECT (SELECT count(*) FROM branchpromote.timelines WHERE project = 'p') + (SELECT count(*) FROM branchpromote.computes WHERE project = 'p') + (SELECT count(*) FROM branchpromote.environments WHERE project = 'p') + (SELECT count(*) FROM branchpromote.deploys WHERE project = 'p')"
	),
	0,
	'no catalog row of p is left');
ok(-d $bp->pgdata($q_tl2), 'the other project\'s timeline is untouched');
is(compute_safe_psql($bp->uri('q', 'dev'), 'SELECT 1'), 1, 'the other project still serves');

# ------------------------------------------- refused input leaves nothing

@dirs = $bp->timeline_dirs;
($state, $err) = $bp->sqlstate("SELECT branchpromote.create_project('Bad Name')");
is($state, '42602', 'create_project(\'Bad Name\') fails with 42602') or diag($err);
($state, $err) = $bp->sqlstate("SELECT branchpromote.create_project('q')");
is($state, '42710', 'create_project of an existing name fails with 42710') or diag($err);
is_deeply([ $bp->timeline_dirs ], \@dirs, 'the refused create_project calls made no directory');
is($bp->sql('SELECT string_agg(project, \',\') FROM branchpromote.projects'), 'q',
	'the refused create_project calls made no project');

$bp->teardown;
done_testing();
