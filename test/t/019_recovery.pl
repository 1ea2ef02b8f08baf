# Nothing lost by a slip.  Protection: prod is protected from its first
# deploy; reset_prod, drop_project and discard_branch refuse what is
# protected (and change nothing); only the project's owner unprotects; a
# protected preview never expires by TTL.  Undo: a discarded preview keeps
# its data for the recovery window and restore_branch brings it back with
# its rows and its connection name through the proxy; a dropped project is
# hidden from calls, views and the proxy, its computes stop, its name is
# held, and undrop_project brings everything back.  After the window the
# reconciler removes the data and nothing is orphaned; purge_project ends a
# dropped project's window early (admins only).
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 30000, proxy_port => 29990,
	recovery_window => '7d');
my $node = $bp->node;

sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}
sub state_as
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', $sql,
		extra_params => [ '-U', $role, '-v', 'VERBOSITY=verbose' ]);
	return $ret == 0 ? (undef, $err) : ($err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : 'none', $err);
}
sub rows
{
	my ($uri) = @_;
	return compute_safe_psql($uri, "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
}
sub connect_error
{
	my ($uri) = @_;
	my ($rc, $out, $err) = compute_psql($uri, 'SELECT 1');
	return $rc == 0 ? "(connected: $out)" : $err;
}
sub live_dirs_match
{
	my $want = $bp->sql("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM branchpromote.timeline "
		  . "WHERE discarded_at IS NULL OR kept_until IS NOT NULL");
	return join(',', $bp->timeline_dirs) eq $want;
}

$bp->sql(q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE ops LOGIN;
	GRANT branchpromote_deployer TO alice;
	GRANT branchpromote_admin TO ops;
});

# ---- prod protected from its first deploy
as('alice', "SELECT branchpromote.create_project('shop')");
my $dev = $bp->uri('shop', 'dev');
compute_safe_psql($dev, "CREATE TABLE items (id int PRIMARY KEY); INSERT INTO items VALUES (1), (2)");
is($bp->sql("SELECT count(*) FROM branchpromote.protections WHERE project = 'shop'"), '0',
	'nothing is protected before the first deploy');
as('alice', "SELECT branchpromote.promote_branch('shop', 'v1')");
is($bp->sql("SELECT name || ' by ' || protected_by FROM branchpromote.protections WHERE project = 'shop'"),
	'prod by alice', 'the first deploy protects prod');
is($bp->sql("SELECT protected FROM branchpromote.timelines t JOIN branchpromote.environments e "
	  . "USING (project, timeline) WHERE e.project = 'shop' AND e.env = 'prod'"), 't',
	'the timelines view says so');
my $prod = $bp->uri('shop', 'prod');
my $prod_tl = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'shop' AND env = 'prod'");

my ($st, $err) = state_as('alice', "SELECT branchpromote.reset_prod('shop', 'shop')");
is($st, '55000', 'reset_prod of a protected prod: 55000');
like($err, qr/prod of project "shop" is protected.*HINT:.*unprotect\('shop', 'prod'\)/s, 'with the way out');
($st, $err) = state_as('alice', "SELECT branchpromote.drop_project('shop', 'shop')");
is($st, '55000', 'drop_project with a protected prod: 55000');
like($err, qr/protected environments or branches: prod/, 'naming what is protected');
is($bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'shop' AND env = 'prod'"), $prod_tl,
	'prod is where it was');
is(rows($prod), '1,2', 'with its rows');

# protect a preview; the owner's protection and an admin's
as('alice', "SELECT branchpromote.fork_branch('shop', 'pr-ttl', ttl => '1 hour')");
my $pr = $bp->json("SELECT branchpromote.protect('shop', 'pr-ttl')");
is($pr->{changed}, JSON::PP::true, 'protect a preview');
is($bp->json("SELECT branchpromote.protect('shop', 'pr-ttl')")->{changed}, JSON::PP::false,
	'protecting it again changes nothing');
($st) = $bp->sqlstate("SELECT branchpromote.protect('shop', 'nope')");
is($st, '42704', 'protect of no such branch: 42704');
($st, $err) = state_as('alice', "SELECT branchpromote.discard_branch('shop', 'pr-ttl')");
is($st, '55000', 'discard_branch of a protected preview: 55000');
# its TTL ends now (the catalog row, as an hour later would have it)
$bp->sql("UPDATE branchpromote.timeline SET expires_at = now() - interval '1 second' WHERE branch = 'pr-ttl'");
ok($bp->reconciler_pass, 'a reconciler pass after its expiry');
is($bp->sql("SELECT count(*) FROM branchpromote.environments WHERE project = 'shop' AND env = 'pr-ttl'"), '1',
	'a protected preview never expires');

# only the owner unprotects
($st, $err) = state_as('ops', "SELECT branchpromote.unprotect('shop', 'pr-ttl')");
is($st, '42501', 'an admin who is not the owner may not unprotect');
like($err, qr/only the owner of project "shop"/, 'told who may');
is(as('alice', "SELECT branchpromote.unprotect('shop', 'pr-ttl')->>'changed'"), 'true', 'the owner unprotects');
ok(wait_until(sub {
	$bp->sql("SELECT count(*) FROM branchpromote.pending_removal WHERE project = 'shop' AND branch = 'pr-ttl'") eq '1'
}), 'unprotected, it expires: pending removal, not gone');

# ---- discard, then restore, with its data and its name through the proxy
as('alice', "SELECT branchpromote.fork_branch('shop', 'pr-1')");
my $pr1 = $bp->uri('shop', 'pr-1');
like($pr1, qr{:29990/shop\.pr-1$}, 'the preview\'s connection name through the proxy');
compute_safe_psql($pr1, "INSERT INTO items VALUES (100)");
my $pr1_tl = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'shop' AND env = 'pr-1'");
my $pr1_pid = $bp->compute_row('shop', 'pr-1')->{pid};
my $d = $bp->json("SELECT branchpromote.discard_branch('shop', 'pr-1')");
ok($d->{kept_until}, "discard_branch says how long it is kept ($d->{kept_until})");
is($bp->sql("SELECT removal_at = '$d->{kept_until}' AND removal_at > now() + interval '6 days' "
	  . "FROM branchpromote.pending_removal WHERE project = 'shop' AND branch = 'pr-1'"), 't',
	'pending_removal shows it and when it goes');
like(connect_error($pr1), qr/no environment "pr-1"/, 'the proxy no longer routes to it');
ok(wait_until(sub { !pid_alive($pr1_pid) }), 'its compute stops');
ok($bp->reconciler_pass, 'a reconciler pass later');
ok(-d $bp->pgdata($pr1_tl), 'its data is still there');
($st) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-1')");
is($st, '42710', 'its name stays taken');
my $res = $bp->json("SELECT branchpromote.restore_branch('shop', 'pr-1')");
is($res->{timeline}, $pr1_tl, 'restore_branch brings back the same timeline');
is(rows($bp->uri('shop', 'pr-1')), '1,2,100', 'with its rows');
is(rows($pr1), '1,2,100', 'under the same connection name through the proxy');
is($bp->sql("SELECT count(*) FROM branchpromote.pending_removal WHERE project = 'shop' AND branch = 'pr-1'"), '0',
	'no longer pending removal');
($st) = $bp->sqlstate("SELECT branchpromote.restore_branch('shop', 'pr-1')");
is($st, '55000', 'restoring a live branch: 55000');
($st) = $bp->sqlstate("SELECT branchpromote.restore_branch('shop', 'nope')");
is($st, '42704', 'restoring no such branch: 42704');

# ---- drop, then undrop, within the window
as('alice', "SELECT branchpromote.apply_migrations('shop', 'dev', '[{\"version\": \"0001\", \"sql\": \"ALTER TABLE items ADD COLUMN note text\"}]')");
as('alice', "SELECT branchpromote.promote_branch('shop', 'v2')");
compute_safe_psql($prod, "INSERT INTO items VALUES (3)");
my $deploys = $bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'shop'");
my $tls = $bp->sql("SELECT string_agg(timeline::text, ',' ORDER BY timeline) FROM branchpromote.timelines WHERE project = 'shop'");
my @pids = split /,/, $bp->sql("SELECT string_agg(pid::text, ',') FROM branchpromote.computes WHERE project = 'shop' AND pid IS NOT NULL");
($st) = state_as('ops', "SELECT branchpromote.unprotect('shop', 'prod')");
is($st, '42501', 'an admin may not unprotect prod either');
as('alice', "SELECT branchpromote.unprotect('shop', 'prod')");
$d = $bp->json("SELECT branchpromote.drop_project('shop', 'shop')");
ok($d->{kept_until}, 'drop_project says how long it is kept');
is($bp->sql("SELECT count(*) FROM branchpromote.projects WHERE project = 'shop'"), '0', 'hidden from projects');
is($bp->sql("SELECT count(*) FROM branchpromote.computes WHERE project = 'shop'"), '0', 'and from computes');
is($bp->sql("SELECT kind FROM branchpromote.pending_removal WHERE project = 'shop' AND branch IS NULL"), 'project',
	'pending_removal shows the project');
like(connect_error($prod), qr/project "shop" does not exist/, 'the proxy no longer routes to it');
ok(wait_until(sub { !grep { pid_alive($_) } @pids }), 'its computes stop');
($st, $err) = $bp->sqlstate("SELECT branchpromote.connection_uri('shop', 'prod')");
is($st, '42704', 'calls do not see it');
like($err, qr/was dropped.*undrop_project\('shop'\)/s, 'and name the way back');
($st, $err) = state_as('alice', "SELECT branchpromote.create_project('shop')");
is($st, '42710', 'its name is held');
ok($bp->reconciler_pass, 'a reconciler pass later');
ok((grep { -d $bp->pgdata($_) } split /,/, $tls) == scalar(split /,/, $tls), 'all its data is still there');
($st) = state_as('alice', "SELECT branchpromote.purge_project('shop')");
ok(defined $st, 'a deployer may not purge');

as('alice', "SELECT branchpromote.undrop_project('shop')");
is($bp->sql("SELECT count(*) FROM branchpromote.projects WHERE project = 'shop'"), '1', 'undrop_project brings it back');
is(rows($prod), '1,2,3', "prod's rows under its connection name, woken through the proxy");
is(rows($bp->uri('shop', 'dev')), '1,2', "dev's rows");
is(rows($pr1), '1,2,100', "the preview's rows");
is($bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'shop'"), $deploys, 'its deploys');
is($bp->sql("SELECT string_agg(timeline::text, ',' ORDER BY timeline) FROM branchpromote.timelines WHERE project = 'shop'"),
	$tls, 'its timelines');
is(as('alice', "SELECT branchpromote.plan_promotion('shop', 'v3')->>'action'"), 'redeploy', 'and it deploys again');
($st) = $bp->sqlstate("SELECT branchpromote.undrop_project('shop')");
is($st, '55000', 'undrop of a live project: 55000');

# ---- after the window: the data goes, nothing orphaned
$node->safe_psql('postgres', "ALTER SYSTEM SET branchpromote.recovery_window = '1s'; SELECT pg_reload_conf()");
ok(wait_until(sub { $bp->sql("SHOW branchpromote.recovery_window") eq '1s' }), 'a one-second window');
$bp->json("SELECT branchpromote.discard_branch('shop', 'pr-1')");
ok(wait_until(sub { !-e $bp->timeline_dir($pr1_tl) }), 'after its window a discarded branch\'s data is removed');
($st, $err) = $bp->sqlstate("SELECT branchpromote.restore_branch('shop', 'pr-1')");
is($st, '55000', 'and it can no longer be restored');
like($err, qr/recovery window ended/, 'saying why');
$tls = $bp->sql("SELECT string_agg(timeline::text, ',') FROM branchpromote.timelines WHERE project = 'shop' "
	  . "AND (discarded_at IS NULL OR kept_until IS NOT NULL)");
$bp->json("SELECT branchpromote.drop_project('shop', 'shop')");
ok(wait_until(sub { $bp->sql("SELECT count(*) FROM branchpromote.project WHERE name = 'shop'") eq '0' }),
	'after its window a dropped project\'s rows are removed');
ok(wait_until(sub { !grep { -e $bp->timeline_dir($_) } split /,/, $tls }), 'and its data');
($st) = $bp->sqlstate("SELECT branchpromote.undrop_project('shop')");
is($st, '42704', 'it can no longer be undropped');
ok($bp->reconciler_pass, 'a reconciler pass later');
ok(live_dirs_match(), 'no timeline directory without a row, none kept without one');
is($bp->sql("SELECT count(*) FROM branchpromote.stray_timelines"), '0', 'no stray');
is($bp->sql("SELECT count(*) FROM branchpromote.pending_removal"), '0', 'nothing pending');
# the trash is emptied by a job of its own: a removal may still be ending
ok(wait_until(sub { !$bp->processes_under_root }), 'no compute process left')
  or diag(join("\n", map { my $c = slurp_file("/proc/$_/cmdline"); $c =~ s/\0/ /g; "$_: $c" } $bp->processes_under_root));
as('alice', "SELECT branchpromote.create_project('shop')");
is($bp->sql("SELECT count(*) FROM branchpromote.projects WHERE project = 'shop'"), '1', 'the name is free again');

# ---- purge_project: an admin ends a dropped project's window early
$node->safe_psql('postgres', "ALTER SYSTEM RESET branchpromote.recovery_window; SELECT pg_reload_conf()");
ok(wait_until(sub { $bp->sql("SHOW branchpromote.recovery_window") eq '7d' }), 'the default window again');
my $shop_dev = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'shop' AND env = 'dev'");
$bp->json("SELECT branchpromote.drop_project('shop', 'shop')");
($st) = state_as('ops', "SELECT branchpromote.purge_project('nope')");
is($st, '55000', 'purging what is not dropped: 55000');
is(as('ops', "SELECT branchpromote.purge_project('shop')->>'purged'"), 'shop', 'an admin purges it');
ok(wait_until(sub { !-e $bp->timeline_dir($shop_dev) }), 'its data goes at the next pass');

$bp->teardown;
done_testing();
