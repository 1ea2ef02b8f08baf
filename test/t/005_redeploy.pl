# Re-deploys end to end, with real clients on the computes' URIs: migrations
# on dev through apply_migrations, a first promotion, rows only prod has, a
# re-deploy that keeps every prod row and applies only the pending version,
# noop, an edited migration refused, drift (a hotfix applied to prod alone)
# refused with a hint and resolved by following it, and a migration that
# fails on prod (prod has rows the NOT NULL column cannot take; dev has none)
# leaving prod exactly as it was.  Every re-deploy has one pre-deploy anchor
# at the deploy's anchor_lsn.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28500);

my $LSN = qr{^[0-9A-F]+/[0-9A-F]+$};
my $json = JSON::PP->new->canonical;

# Migrations as the API takes them: [[version, name, sql], ...].
sub migrations_json
{
	return $json->encode(
		[ map { { version => $_->[0], name => $_->[1], sql => $_->[2] } } @_ ]);
}

sub apply_migrations
{
	my ($env, @m) = @_;
	return $bp->json("SELECT branchpromote.apply_migrations('acme', '$env', \$m\$"
		  . migrations_json(@m) . "\$m\$)");
}

sub apply_migrations_sql
{
	my ($env, @m) = @_;
	return "SELECT branchpromote.apply_migrations('acme', '$env', \$m\$"
	  . migrations_json(@m) . "\$m\$)";
}

# "version:checksum,..." of a ledger: the catalog's view, and the compute's own table.
sub view_ledger
{
	my ($env) = @_;
	return $bp->sql(
		"SELECT coalesce(string_agg(version || ':' || checksum, ',' ORDER BY version), '') "
		  . "FROM branchpromote.ledger WHERE project = 'acme' AND env = '$env'");
}

sub compute_ledger
{
	my ($uri) = @_;
	return compute_safe_psql($uri,
		"SELECT coalesce(string_agg(version || ':' || checksum, ',' ORDER BY version COLLATE \"C\"), '') "
		  . "FROM branchpromote_ledger.migrations");
}

# Every row of customers and orders, as counts and hashes.
my $DIGEST = <<'SQL';
SELECT (SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || name, ',' ORDER BY id)), '-') FROM customers)
    || '|' ||
       (SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || customer_id || '=' || amount, ',' ORDER BY id)), '-') FROM orders)
SQL

# Does the compute's catalog have this column / this table?
sub has_column
{
	my ($uri, $table, $column) = @_;
	return compute_safe_psql($uri,
		"SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass('public.$table') "
		  . "AND attname = '$column' AND NOT attisdropped");
}

sub has_table
{
	my ($uri, $table) = @_;
	return compute_safe_psql($uri, "SELECT to_regclass('public.$table') IS NOT NULL");
}

# One value from the catalog about project acme.  Only succeeded deploys are
# counted: a failed promotion may be recorded as a failed deploy.
sub deploys_count
{
	return $bp->sql(
		"SELECT count(*) FROM branchpromote.deploys WHERE project = 'acme' AND status = 'succeeded'");
}

sub all_deploys_count
{
	return $bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'acme'");
}

# Failed deploys are recorded by the reconciler in its own transaction,
# shortly after the failed call: wait until there are $n of them.
sub wait_failed_deploys
{
	my ($n) = @_;
	return wait_until(
		sub {
			$bp->sql(
				"SELECT count(*) FROM branchpromote.deploys WHERE project = 'acme' AND status = 'failed'"
			) >= $n;
		});
}

# A timeline with no catalog row (a rehearsal's fork) is removed by the
# reconciler, its compute stopped.
sub timeline_gone
{
	my ($tl) = @_;
	return wait_until(sub { !-e $bp->timeline_dir($tl) && !$bp->postmasters_on($tl) });
}

sub prod_release
{
	return $bp->sql(
		"SELECT release FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'");
}

sub anchors_count
{
	return $bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE project = 'acme'");
}

my @M1 = ('0001', 'customers', 'CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL)');
my @M2 = ('0002', 'orders',
	'CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers, amount numeric NOT NULL)'
);
my @M3 = ('0003', 'email and invoices',
	'ALTER TABLE customers ADD COLUMN email text; '
	  . 'CREATE TABLE invoices (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, total numeric NOT NULL)'
);
my @M3_EDITED = ('0003', 'email and invoices',
	'ALTER TABLE customers ADD COLUMN phone text; '
	  . 'CREATE TABLE invoices (id int PRIMARY KEY, order_id int NOT NULL REFERENCES orders, total numeric NOT NULL)'
);
my @M4 = ('0004', 'hotfix index', 'CREATE INDEX orders_customer_idx ON orders (customer_id)');
# Dev has no orders, so this works there; prod has 500, which cannot take a
# NOT NULL column without a default.  The CREATE TABLE before it must not
# survive the failure.
my @M5 = ('0005', 'currency',
	'CREATE TABLE audit_log (id int PRIMARY KEY, note text); '
	  . 'ALTER TABLE orders ADD COLUMN currency text NOT NULL');
my @M5_HOTFIX = ('0005', 'currency',
	"CREATE TABLE audit_log (id int PRIMARY KEY, note text); "
	  . "ALTER TABLE orders ADD COLUMN currency text NOT NULL DEFAULT 'EUR'");

# ------------------------------------------------------------ dev, then v1

my $c = $bp->json("SELECT branchpromote.create_project('acme')");
is($c->{project}, 'acme', 'create_project acme');
my $dev_tl = $c->{dev_timeline};
my $dev_uri = $bp->uri('acme', 'dev');

my $ap = apply_migrations('dev', \@M1, \@M2);
is_deeply([ map { $_->{version} } @{ $ap->{applied} } ], [ '0001', '0002' ],
	'apply_migrations on dev applies 0001 and 0002');
is_deeply($ap->{skipped}, [], 'nothing skipped on a fresh ledger');
is($ap->{timeline}, $dev_tl, 'apply_migrations reports the dev timeline');
is(has_table($dev_uri, 'orders'), 't', 'dev has the orders table');
is( compute_safe_psql($dev_uri,
		"SELECT string_agg(version || '=' || (checksum = encode(sha256(convert_to(sql, 'UTF8')), 'hex')), ',' ORDER BY version) FROM branchpromote_ledger.migrations"
	),
	'0001=true,0002=true',
	'dev\'s own ledger holds each migration with the sha256 of its SQL');
is(view_ledger('dev'), compute_ledger($dev_uri), 'the ledger view mirrors dev\'s ledger');

my $p = $bp->json("SELECT branchpromote.promote_branch('acme', 'v1')");
is($p->{action}, 'first_deploy', 'the first promotion is a first_deploy');
my $prod_tl = $p->{prod_timeline};
my $prod_uri = $bp->uri('acme', 'prod');
is(compute_ledger($prod_uri), compute_ledger($dev_uri), 'prod inherited dev\'s ledger with the fork');

# Customers and orders written to prod only.
compute_safe_psql($prod_uri, <<'SQL');
INSERT INTO customers SELECT g, 'customer ' || g FROM generate_series(1, 200) g;
INSERT INTO orders SELECT g, 1 + g % 200, g * 1.25 FROM generate_series(1, 500) g;
SQL
my $prod_digest = compute_safe_psql($prod_uri, $DIGEST);
like($prod_digest, qr/^200:[0-9a-f]{32}\|500:[0-9a-f]{32}$/, 'prod has 200 customers and 500 orders');
# Dev writes a customer of its own: data never travels dev -> prod in a re-deploy.
compute_safe_psql($dev_uri, "INSERT INTO customers VALUES (900001, 'dev only')");
my $prod_applied_at = compute_safe_psql($prod_uri,
	"SELECT string_agg(version || '#' || applied_at, ',' ORDER BY version) FROM branchpromote_ledger.migrations");

# ------------------------------------------------------ a new migration, v2

$ap = apply_migrations('dev', \@M1, \@M2, \@M3);
is_deeply([ map { $_->{version} } @{ $ap->{applied} } ], ['0003'], 'dev applies only 0003');
is_deeply($ap->{skipped}, [ '0001', '0002' ], 'dev skips what its ledger has');
is(has_column($dev_uri, 'customers', 'email'), 1, 'dev has customers.email');
is(has_column($prod_uri, 'customers', 'email'), 0, 'prod does not, yet');

my $plan = $bp->json("SELECT branchpromote.plan_promotion('acme', 'v2')");
is($plan->{action}, 'redeploy', 'plan_promotion: redeploy');
is_deeply($plan->{pending}, ['0003'], 'plan_promotion: 0003 pending');
ok(!defined $plan->{drift}, 'plan_promotion: no drift');
is($plan->{prod_release}, 'v1', 'plan_promotion: prod is on v1');

my $prod_pid = $bp->compute_row('acme', 'prod')->{pid};
my $r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v2')");
is($r->{action}, 'redeploy', 'promote_branch v2: redeploy');
is_deeply($r->{migrations_applied}, ['0003'], 'promote_branch v2 applied exactly 0003');
is($r->{prod_timeline}, $prod_tl, 'prod stays on its timeline');
like($r->{anchor_lsn}, $LSN, 'the re-deploy reports an anchor LSN');
is($bp->compute_row('acme', 'prod')->{pid}, $prod_pid, 'the prod compute kept running (same pid)');

# Verified deploy (the default): 0003 ran first on a throwaway fork of prod.
my $reh = $r->{rehearsal};
ok(ref $reh eq 'HASH' && JSON::PP::is_bool($reh->{passed}) && $reh->{passed},
	'the re-deploy was rehearsed and the rehearsal passed');
is($reh->{migrations}, 1, 'the rehearsal applied the one pending migration');
like($reh->{timeline}, qr/^\d+$/, 'the rehearsal names its fork\'s timeline');
ok($reh->{timeline} != $prod_tl && $reh->{timeline} != $dev_tl, 'the rehearsal ran on a timeline of its own');
is($reh->{clone_method}, 'copy', 'the rehearsal fork was cloned by copy on ext4');
is( $bp->sql("SELECT rehearsal = '" . $json->encode($reh) . "'::jsonb FROM branchpromote.deploys WHERE deploy_id = $r->{deploy_id}"),
	't', 'deploys.rehearsal records the rehearsal');
is($bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE timeline = $reh->{timeline}"),
	0, 'the rehearsal fork has no timeline row');
ok(timeline_gone($reh->{timeline}), 'the reconciler removed the rehearsal fork and stopped its compute');

is(compute_safe_psql($prod_uri, $DIGEST), $prod_digest, 'the re-deploy kept every prod row');
is(compute_safe_psql($prod_uri, "SELECT count(*) FROM customers WHERE id = 900001"),
	0, 'dev\'s rows did not reach prod');
is(has_column($prod_uri, 'customers', 'email'), 1, 'prod now has customers.email');
is(has_table($prod_uri, 'invoices'), 't', 'prod now has the invoices table');
is( compute_safe_psql($prod_uri, "SELECT count(*) FILTER (WHERE email IS NULL) || '/' || count(*) FROM customers"),
	'200/200', 'prod\'s existing customers got the new column, empty');

my $dev_ledger = compute_ledger($dev_uri);
is(compute_ledger($prod_uri), $dev_ledger, 'prod\'s own ledger now equals dev\'s (0001-0003)');
is(view_ledger('prod'), $dev_ledger, 'the ledger view shows the same for prod');
is(view_ledger('dev'), $dev_ledger, 'and for dev');
is( compute_safe_psql($prod_uri,
		"SELECT string_agg(version || '#' || applied_at, ',' ORDER BY version) FROM branchpromote_ledger.migrations WHERE version < '0003'"
	),
	$prod_applied_at,
	'0001 and 0002 were not re-applied on prod (applied_at unchanged)');
is( compute_safe_psql($prod_uri,
		"SELECT applied_lsn >= '$r->{anchor_lsn}' FROM branchpromote_ledger.migrations WHERE version = '0003'"),
	't', 'prod\'s ledger row for 0003 was written after the anchor LSN');
is(prod_release(), 'v2', 'prod pins v2');
is( $bp->sql(
		"SELECT action || '|' || status || '|' || release || '|' || anchor_lsn || '|' || migrations_applied::text || '|' || from_timeline || '|' || to_timeline FROM branchpromote.deploys WHERE deploy_id = $r->{deploy_id}"
	),
	"redeploy|succeeded|v2|$r->{anchor_lsn}|[\"0003\"]|$prod_tl|$prod_tl",
	'deploys: a succeeded redeploy row with the anchor and the applied version');

# --------------------------------------------------------------- noop

is($bp->json("SELECT branchpromote.plan_promotion('acme', 'v2')")->{action},
	'noop', 'plan_promotion: noop when v2 is pinned and nothing is pending');
my $deploys = all_deploys_count();
my $anchors = anchors_count();
$r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v2')");
is($r->{action}, 'noop', 'promote_branch v2 again: noop');
is(all_deploys_count(), $deploys, 'noop records no deploy');
is(anchors_count(), $anchors, 'noop records no anchor');

# ---------------------------------------------- an edited migration

my $dev_digest = compute_safe_psql($dev_uri, $DIGEST);
my ($state, $err) = $bp->sqlstate(apply_migrations_sql('dev', \@M1, \@M2, \@M3_EDITED));
is($state, '22000', 'an edited 0003 is refused with 22000');
like($err, qr/migration "0003" was already applied to dev with a different checksum/,
	'the error names the edited version');
like($err, qr/HINT:\s+Migrations are forward-only/, 'with a forward-only hint');
is(compute_ledger($dev_uri), $dev_ledger, 'dev\'s ledger is unchanged');
is(view_ledger('dev'), $dev_ledger, 'the ledger view of dev is unchanged');
is(has_column($dev_uri, 'customers', 'phone'), 0, 'the edited SQL did not run on dev');
is(compute_safe_psql($dev_uri, $DIGEST), $dev_digest, 'dev\'s rows are unchanged');
is($bp->json("SELECT branchpromote.plan_promotion('acme', 'v2')")->{action},
	'noop', 'and nothing became pending');

# --------------------------------------------- drift: a hotfix on prod only

$ap = apply_migrations('prod', \@M1, \@M2, \@M3, \@M4);
is_deeply([ map { $_->{version} } @{ $ap->{applied} } ], ['0004'], 'a hotfix 0004 applied to prod alone');
$prod_digest = compute_safe_psql($prod_uri, $DIGEST);
my $prod_ledger = compute_ledger($prod_uri);
$plan = $bp->json("SELECT branchpromote.plan_promotion('acme', 'v3')");
is_deeply($plan->{drift}, { kind => 'missing', version => '0004' },
	'plan_promotion shows the drift: prod has 0004, dev lacks it');
is_deeply($plan->{pending}, [], 'plan_promotion shows nothing pending while drifted');
$deploys = deploys_count();
$anchors = anchors_count();
($state, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v3')");
is($state, '55000', 'promote_branch refuses a drifted prod with 55000');
like($err, qr/prod has migration "0004", which dev's ledger lacks/, 'the error names the drifted version');
like($err, qr/HINT:\s+Prod has drifted from dev: apply that migration to dev first/,
	'the hint says how to resolve it');
is(prod_release(), 'v2', 'the refused promotion did not pin v3');
is(deploys_count(), $deploys, 'the refused promotion recorded no succeeded deploy');
is(anchors_count(), $anchors, 'the refused promotion recorded no anchor');
ok(wait_failed_deploys(1), 'the refused promotion is recorded as a failed deploy');
is( $bp->sql(
		"SELECT action || '|' || release || '|' || (error LIKE '%prod has migration \"0004\", which dev''s ledger lacks%') || '|' || (anchor_lsn IS NULL) FROM branchpromote.deploys WHERE project = 'acme' AND status = 'failed'"
	),
	'redeploy|v3|true|true',
	'the failed deploy row: redeploy of v3, its error names the drift, no anchor');
is(compute_ledger($prod_uri), $prod_ledger, 'prod\'s ledger is unchanged');

# Following the hint resolves it: the same 0004 on dev, then a re-deploy with
# nothing to apply.
apply_migrations('dev', \@M1, \@M2, \@M3, \@M4);
$plan = $bp->json("SELECT branchpromote.plan_promotion('acme', 'v3')");
ok(!defined $plan->{drift}, 'after applying 0004 to dev: no drift');
is_deeply($plan->{pending}, [], 'and nothing pending (prod has 0004 already)');
$r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v3')");
is($r->{action}, 'redeploy', 'promote_branch v3: redeploy');
is_deeply($r->{migrations_applied}, [], 'it applied nothing');
is_deeply($r->{rehearsal}, { passed => JSON::PP::true, skipped => 'nothing pending' },
	'with nothing pending the rehearsal is skipped');
is(prod_release(), 'v3', 'prod pins v3');
is(compute_safe_psql($prod_uri, $DIGEST), $prod_digest, 'prod\'s rows are unchanged');

# ---------------------------------------- a migration that fails on prod

$ap = apply_migrations('dev', \@M1, \@M2, \@M3, \@M4, \@M5);
is_deeply([ map { $_->{version} } @{ $ap->{applied} } ], ['0005'],
	'0005 (NOT NULL column on orders) applies on dev, which has no orders');
is_deeply($bp->json("SELECT branchpromote.plan_promotion('acme', 'v4')")->{pending},
	['0005'], 'plan_promotion: 0005 pending');
$prod_digest = compute_safe_psql($prod_uri, $DIGEST);
$prod_ledger = compute_ledger($prod_uri);
my $prod_view_ledger = view_ledger('prod');
$deploys = deploys_count();
$anchors = anchors_count();

# Prod is exactly as it was: rows, catalog (no partial DDL), ledger, release.
sub prod_unchanged
{
	my ($how) = @_;
	is(compute_safe_psql($prod_uri, $DIGEST), $prod_digest, "$how: prod keeps exactly its rows");
	is(has_table($prod_uri, 'audit_log'), 'f',
		"$how: no partial DDL (the table 0005 creates first is not on prod)");
	is(has_column($prod_uri, 'orders', 'currency'), 0, "$how: orders has no currency column");
	is(compute_ledger($prod_uri), $prod_ledger, "$how: prod's own ledger has no 0005");
	is(view_ledger('prod'), $prod_view_ledger, "$how: the ledger view of prod has no 0005");
	is(prod_release(), 'v3', "$how: prod still pins v3");
	is(deploys_count(), $deploys, "$how: no succeeded deploy was recorded");
	is(anchors_count(), $anchors, "$how: no anchor was recorded");
	is_deeply($bp->json("SELECT branchpromote.plan_promotion('acme', 'v4')")->{pending},
		['0005'], "$how: 0005 is still pending");
	is(compute_safe_psql($prod_uri, 'SELECT count(*) FROM orders'), 500, "$how: prod serves its orders");
	return;
}

# Rehearsed (the default): the fork fails, prod is never touched.
($state, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v4')");
is($state, '23502', 'rehearsed: the re-deploy fails with the compute\'s SQLSTATE (not_null_violation)');
like($err, qr/column "currency" of relation "orders" contains null values/,
	'rehearsed: the error is the compute\'s');
like($err, qr/CONTEXT:.*migration "0005"/s, 'rehearsed: the error context names the failing version');
like($err, qr/CONTEXT:.*rehearsal on a throwaway fork of prod \(timeline \d+\); prod was not touched/s,
	'rehearsed: the error context says it failed in the rehearsal and prod was not touched');
my ($reh_tl) = $err =~ /throwaway fork of prod \(timeline (\d+)\)/;
prod_unchanged('rehearsed');
ok(timeline_gone($reh_tl // 0), 'rehearsed: the reconciler removed the failed rehearsal\'s fork and its compute');
ok(wait_failed_deploys(2), 'rehearsed: the failure is recorded as a failed deploy');
is( $bp->sql(
		"SELECT release || '|' || (error LIKE '%column \"currency\" of relation \"orders\" contains null values%') || '|' || (error LIKE '%migration \"0005\"%') || '|' || (error LIKE '%rehearsal on a throwaway fork of prod%') FROM branchpromote.deploys WHERE project = 'acme' AND status = 'failed' ORDER BY started_at DESC LIMIT 1"
	),
	'v4|true|true|true',
	'rehearsed: the failed deploy\'s error has the message, the version and the rehearsal');

# Not rehearsed: the migration fails on prod itself, in one transaction.
($state, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v4', rehearse => false)");
is($state, '23502', 'unrehearsed: the re-deploy fails on prod with not_null_violation');
like($err, qr/CONTEXT:.*migration "0005"/s, 'unrehearsed: the error context names the failing version');
unlike($err, qr/rehearsal/, 'unrehearsed: no rehearsal ran');
prod_unchanged('unrehearsed');
is($bp->compute_row('acme', 'prod')->{pid}, $prod_pid, 'prod\'s compute is still the same process');
ok(wait_failed_deploys(3), 'unrehearsed: the failure is recorded as a failed deploy');
is( $bp->sql(
		"SELECT release || '|' || (error LIKE '%migration \"0005\"%') || '|' || (error LIKE '%rehearsal%') FROM branchpromote.deploys WHERE project = 'acme' AND status = 'failed' ORDER BY started_at DESC LIMIT 1"
	),
	'v4|true|false',
	'unrehearsed: the failed deploy\'s error names the version');

# A hotfix of 0005 on prod with other SQL: the same version, another checksum.
apply_migrations('prod', \@M1, \@M2, \@M3, \@M4, \@M5_HOTFIX);
$plan = $bp->json("SELECT branchpromote.plan_promotion('acme', 'v4')");
is_deeply($plan->{drift}, { kind => 'edited', version => '0005' },
	'plan_promotion shows the drift: 0005 differs between dev and prod');
($state, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v4')");
is($state, '22000', 'promote_branch refuses an edited migration on prod with 22000');
like($err, qr/migration "0005" was already applied to prod with a different checksum/,
	'the error names the version');
like($err, qr/HINT:\s+Prod has drifted from dev/, 'the hint calls it drift');
ok(wait_failed_deploys(4), 'the refused promotion is recorded as a failed deploy');

# ------------------------------------------------------ deploys, anchors

is( $bp->sql(
		"SELECT string_agg(coalesce(release, '-') || ':' || action || ':' || status || ':' || migrations_applied::text, ' ' ORDER BY started_at) FROM branchpromote.deploys WHERE project = 'acme'"
	),
	'v1:first_deploy:succeeded:[] v2:redeploy:succeeded:["0003"] v3:redeploy:failed:[] v3:redeploy:succeeded:[] '
	  . 'v4:redeploy:failed:[] v4:redeploy:failed:[] v4:redeploy:failed:[]',
	'deploys: the whole history, failures included, in order');

is( $bp->sql(
		"SELECT count(*) FROM branchpromote.deploys WHERE project = 'acme' AND action = 'redeploy' AND status = 'succeeded'"),
	2, 'two re-deploys succeeded (v2, v3)');
is( $bp->sql(
		"SELECT string_agg((SELECT count(*) FROM branchpromote.anchors a WHERE a.project = 'acme' "
		  . "AND a.kind = 'pre-deploy' AND a.timeline = $prod_tl AND a.lsn = d.anchor_lsn)::text, ',' ORDER BY d.deploy_id) "
		  . "FROM branchpromote.deploys d WHERE d.project = 'acme' AND d.action = 'redeploy' AND d.status = 'succeeded'"),
	'1,1',
	'each re-deploy has exactly one pre-deploy anchor on prod whose lsn is its anchor_lsn');
is(anchors_count(), 2, 'and there are no other anchors');
is( $bp->sql(
		"SELECT count(DISTINCT lsn) FROM branchpromote.anchors WHERE project = 'acme'"),
	2, 'the two anchors are at distinct LSNs');

$bp->teardown;
done_testing();
