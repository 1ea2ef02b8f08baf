# Compute manifests from one template: dev's and prod's have the same shape
# and differ only in identity; each compute stores its manifest hash; a
# template change restarts the computes with the new settings, one at a time
# and prod last; nothing changed → no restart; an unusable setting is refused
# and reaches no postmaster.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28000);

$bp->json("SELECT branchpromote.create_project('acme')");
$bp->json("SELECT branchpromote.promote_branch('acme')");
my $dev = $bp->uri('acme', 'dev');
my $prod = $bp->uri('acme', 'prod');

# The structure of a JSON value with every scalar replaced by its type.
sub shape
{
	my ($v) = @_;
	return { map { $_ => shape($v->{$_}) } keys %$v } if ref $v eq 'HASH';
	return [ map { shape($_) } @$v ] if ref $v eq 'ARRAY';
	return defined $v && $v =~ /^-?\d+$/ ? 'number' : 'string';
}

my $md = $bp->json("SELECT branchpromote.compute_manifests('acme', 'dev')");
my $mp = $bp->json("SELECT branchpromote.compute_manifests('acme', 'prod')");
is_deeply(shape($md), shape($mp), "dev's and prod's manifests have the same shape");
is_deeply([ map { $_->{kind} } @{ $md->{items} } ], [qw(ConfigMap Deployment Service)],
	'a ConfigMap, a Deployment and a Service');
is($md->{items}[1]{metadata}{name}, 'acme-dev', 'distinct names');
is($mp->{items}[1]{metadata}{name}, 'acme-prod', '');
is($mp->{items}[1]{metadata}{labels}{'branchpromote/timeline'},
	$bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'"),
	'and timelines');
is_deeply($md->{items}[0]{data}, $mp->{items}[0]{data}, 'the same settings');
is_deeply($md->{items}[1]{spec}{template}{spec}{containers}[0]{resources},
	$mp->{items}[1]{spec}{template}{spec}{containers}[0]{resources}, 'the same resources');

sub hashes
{
	return $bp->sql("SELECT string_agg(env || '=' || coalesce(manifest_hash, ''), ',' ORDER BY env) "
		  . "FROM branchpromote.computes WHERE project = 'acme'");
}
ok(BranchPromoteTest::wait_until(sub { hashes() =~ /^dev=[0-9a-f]{64},prod=[0-9a-f]{64}$/ }),
	'each compute stores its manifest hash');
my $h1 = hashes();
my $pids = $bp->sql("SELECT string_agg(pid::text, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'");
ok($bp->reconciler_pass && $bp->reconciler_pass, 'two reconciler passes');
is($bp->sql("SELECT string_agg(pid::text, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'"),
	$pids, 'nothing changed: no restart');
is(hashes(), $h1, 'and the same hashes');

# Each manifest is stored with the digest of what it was rendered from (the
# template, the compute's row, the renderer): a restart of the control
# server renders none again, since the digests come out the same.
sub input_keys
{
	return $bp->sql("SELECT string_agg(c.env || '=' || coalesce(c.manifest_key, ''), ',' ORDER BY c.env) "
		  . "FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id "
		  . "WHERE p.name = 'acme'");
}
my $k1 = input_keys();
like($k1, qr/^dev=[0-9a-f]{32},prod=[0-9a-f]{32}$/, 'each compute stores the digest of its manifest inputs');
$bp->node->restart;
ok($bp->reconciler_pass && $bp->reconciler_pass, 'after a restart of the control server, two passes');
is(input_keys(), $k1, 'the same digests');
is(hashes(), $h1, 'and the same manifests');
is($bp->sql("SELECT string_agg(pid::text, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'"),
	$pids, 'and no restart of a compute');

# a template change
$bp->sql(q{UPDATE branchpromote.compute_template SET settings = settings || '{"work_mem": "7MB"}'});
ok(BranchPromoteTest::wait_until(sub {
	my ($rc1, $w1) = compute_psql($dev, 'SHOW work_mem');
	my ($rc2, $w2) = compute_psql($prod, 'SHOW work_mem');
	$rc1 == 0 && $rc2 == 0 && $w1 eq '7MB' && $w2 eq '7MB'
}), 'a template change restarts the computes with the new setting');
ok(BranchPromoteTest::wait_until(sub { my $h = hashes(); $h ne $h1 && $h !~ /=(,|$)/ }),
	'with new manifest hashes');
my $dev_start = compute_safe_psql($dev, "SELECT extract(epoch FROM pg_postmaster_start_time())");
my $prod_start = compute_safe_psql($prod, "SELECT extract(epoch FROM pg_postmaster_start_time())");
cmp_ok($prod_start, '>', $dev_start, 'prod restarted last');
isnt($bp->sql("SELECT string_agg(pid::text, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'"),
	$pids, 'new processes');

# an unusable setting never reaches a postmaster
$pids = $bp->sql("SELECT string_agg(pid::text, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'");
my ($st) = $bp->sqlstate(q{UPDATE branchpromote.compute_template SET settings = settings || '{"work_mem": "1MB'' port=''1"}'});
is($st, '22023', 'the template refuses an unusable setting where it is written');
# one that got in past the CHECK (a superuser dropped it) is refused where it is read
$bp->sql(q{ALTER TABLE branchpromote.compute_template DROP CONSTRAINT compute_template_settings_allowed});
$bp->sql(q{UPDATE branchpromote.compute_template SET settings = settings || '{"work_mem": "1MB'' port=''1"}'});
($st) = $bp->sqlstate("SELECT branchpromote.compute_manifests('acme', 'dev')");
is($st, '22023', 'compute_manifests refuses an unusable setting');
ok(BranchPromoteTest::wait_until(sub {
	$bp->sql("SELECT count(*) FROM branchpromote.computes WHERE project = 'acme' AND last_error LIKE '%not usable%'") > 0
}), 'the reconciler records it on the compute');
is(compute_safe_psql($dev, 'SHOW work_mem'), '7MB', 'and the compute keeps running as it was');
$bp->sql(q{UPDATE branchpromote.compute_template SET settings = settings - 'work_mem'});
$bp->sql(q{ALTER TABLE branchpromote.compute_template ADD CONSTRAINT compute_template_settings_allowed
             CHECK (branchpromote._check_compute_settings(settings))});

$bp->teardown;
done_testing();
