# Schema truth.  Each timeline's ledger records the schema its migrations
# left; plan_promotion and promote_branch compare it with the schema the
# compute actually has.  A column added to prod by hand and an index
# dropped on prod: drift of kind "schema" in the plan, the refusal, and each
# way out (a corrective migration, accept_schema => true recorded in the
# deploy, accept_schema(), reset_prod).  DDL on dev outside
# apply_migrations: refused.  schema_diff between dev, prod, a preview, a
# backup and prod+pending, as JSON and as text.  A migration that behaves
# differently on prod's data (a DO block) is caught by the rehearsal, and,
# without a rehearsal, inside prod's own transaction: prod keeps its schema.
# After a normal re-deploy the diff between dev and prod is empty.  On
# suspended computes: plan_promotion reads the mirrored check, wakes
# nothing, and still sees the drift.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 29800);

sub migs { return JSON::PP->new->canonical->encode(\@_) }
sub apply
{
	my (@m) = @_;
	return $bp->json("SELECT branchpromote.apply_migrations('shop', 'dev', '" . (migs(@m) =~ s/'/''/gr) . "')");
}
sub plan_now { return $bp->json("SELECT branchpromote.plan_promotion('shop', 'v9')") }
sub diff
{
	my ($a, $b) = @_;
	return $bp->json("SELECT branchpromote.schema_diff('shop', '$a', '$b')");
}
sub names
{
	my ($list) = @_;
	return join(',', map { "$_->{kind} $_->{name}" } @$list);
}
sub refused_promote
{
	my ($what, $args, $want) = @_;
	my $prod_before = compute_safe_psql($bp->uri('shop', 'prod'), "SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute WHERE attrelid = 'public.customers'::regclass AND attnum > 0 AND NOT attisdropped");
	my $deploys = $bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'shop' AND status = 'succeeded'");
	my ($st, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('shop'$args)");
	is($st, '55000', "$what: refused with 55000");
	like($err, $want, "$what: the refusal lists what differs") if $want;
	like($err, qr/HINT:/, "$what: with a hint");
	is(compute_safe_psql($bp->uri('shop', 'prod'), "SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute WHERE attrelid = 'public.customers'::regclass AND attnum > 0 AND NOT attisdropped"),
		$prod_before, "$what: prod's schema unchanged");
	is($bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'shop' AND status = 'succeeded'"), $deploys, "$what: no deploy recorded");
	return $err;
}

$bp->json("SELECT branchpromote.create_project('shop')");
apply({ version => '0001', sql => 'CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL); CREATE INDEX customers_name ON customers (name)' },
	{ version => '0002', sql => 'CREATE TABLE orders (id int PRIMARY KEY, customer_id int REFERENCES customers, amount numeric DEFAULT 0)' });
my $fp = $bp->json("SELECT branchpromote.schema_fingerprint('shop', 'dev')");
like($fp->{fingerprint}, qr/^[0-9a-f]{64}$/, 'dev has a fingerprint');
is($fp->{recorded}, $fp->{fingerprint}, 'dev recorded the schema its migrations left');
is($fp->{drift}, undef, 'no drift on dev');
my $ledger_fp = compute_safe_psql($bp->uri('shop', 'dev'), "SELECT schema_fingerprint FROM branchpromote_ledger.migrations WHERE version = '0002'");
is($ledger_fp, $fp->{fingerprint}, 'the ledger row of the last migration stores the fingerprint it left');

my $r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
is($r->{action}, 'first_deploy', 'first deploy');
is($r->{schema}{result}, $fp->{fingerprint}, 'the first deploy records dev\'s schema as prod\'s');
is(diff('dev', 'prod')->{equal}, JSON::PP::true, 'dev and prod: no difference after the first deploy');
is(compute_safe_psql($bp->uri('shop', 'prod'), "SELECT fingerprint FROM branchpromote_ledger.schema_state"), $fp->{fingerprint},
	'prod inherited the recorded state with the ledger');

# ---- a column added to prod by hand, an index dropped during an incident
my $prod = $bp->uri('shop', 'prod');
compute_safe_psql($prod, "ALTER TABLE customers ADD COLUMN vip boolean; DROP INDEX customers_name");
my $plan = plan_now();
is($plan->{drift}{kind}, 'schema', 'plan: drift of kind schema');
is($plan->{drift}{env}, 'prod', 'plan: on prod');
is(names($plan->{drift}{differences}{added}), 'column public.customers.vip', 'plan: the hand-added column');
is(names($plan->{drift}{differences}{removed}), 'index public.customers_name', 'plan: the dropped index');
like($plan->{summary}, qr/refused/, 'plan: the re-deploy would be refused');
refused_promote('prod drift, nothing pending', "", qr/column public\.customers\.vip added.*index public\.customers_name removed/s);
my $fpp = $bp->json("SELECT branchpromote.schema_fingerprint('shop', 'prod')");
is(names($fpp->{drift}{added}), 'column public.customers.vip', 'schema_fingerprint lists prod\'s drift');

# a pending migration that does not correct it: refused after the rehearsal
apply({ version => '0003', sql => 'CREATE TABLE notes (id int)' });
refused_promote('prod drift, a pending migration that does not correct it', "", qr/would not be dev's|schema drift/);

# way out 1: a corrective migration that leaves prod with dev's schema
apply({ version => '0004', sql => 'ALTER TABLE customers ADD COLUMN IF NOT EXISTS vip boolean; CREATE INDEX IF NOT EXISTS customers_name ON customers (name)' });
$r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v2')");
is($r->{action}, 'redeploy', 'a corrective migration: the re-deploy proceeds');
is($r->{schema}{equal}, JSON::PP::true, 'prod ends with dev\'s schema');
is($r->{rehearsal}{schema_matches_dev}, JSON::PP::true, 'the rehearsal proved it first');
my $d = $bp->json("SELECT to_jsonb(d) FROM branchpromote.deploys d WHERE deploy_id = $r->{deploy_id}");
is($d->{dev_schema}, $d->{result_schema}, 'the deploy row stores both fingerprints, equal');
is($d->{schema_override}, JSON::PP::false, 'no override');
is(diff('dev', 'prod')->{equal}, JSON::PP::true, 'after the re-deploy the diff between dev and prod is empty');
is(plan_now()->{drift}, undef, 'and the plan shows no drift');

# way out 2: accept prod's schema explicitly, recorded in the deploy
compute_safe_psql($prod, "CREATE INDEX orders_amount ON orders (amount)");
refused_promote('an index added by hand', ", 'v3'", qr/index public\.orders_amount added/);
$r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v3', accept_schema => true)");
is($r->{schema}{override}, JSON::PP::true, 'accept_schema => true: deployed, the override recorded');
$d = $bp->json("SELECT to_jsonb(d) FROM branchpromote.deploys d WHERE deploy_id = $r->{deploy_id}");
is($d->{schema_override}, JSON::PP::true, 'the deploy row says so');
isnt($d->{dev_schema}, $d->{result_schema}, 'with both fingerprints, different');
is(names(diff('dev', 'prod')->{added}), 'index public.orders_amount', 'schema_diff shows what prod has beyond dev');

# way out 3: accept_schema() records prod's schema; dev catches up by a migration
my $acc = $bp->json("SELECT branchpromote.accept_schema('shop', 'prod')");
is(names($acc->{accepted}{added} // []), '', 'accept_schema: prod had no drift left to accept (the override recorded it)');
compute_safe_psql($prod, "ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 1");
is(plan_now()->{drift}{kind}, 'schema', 'a changed default is drift');
is(join(',', keys %{ plan_now()->{drift}{differences}{changed}[0]{changes} }), 'default', 'the changed attribute: default');
$acc = $bp->json("SELECT branchpromote.accept_schema('shop', 'prod')");
is($acc->{accepted}{changed}[0]{changes}{default}{to}, '1', 'accept_schema lists what it accepted');
is(plan_now()->{drift}, undef, 'accepted: no drift');
apply({ version => '0005', sql => 'CREATE INDEX IF NOT EXISTS orders_amount ON orders (amount); ALTER TABLE orders ALTER COLUMN amount SET DEFAULT 1' });
$r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v4')");
is($r->{schema}{equal}, JSON::PP::true, 'dev caught up by a migration: dev and prod equal again');

# way out 4: reset_prod (prod kept as a backup first)
compute_safe_psql($prod, "CREATE FUNCTION total() RETURNS numeric LANGUAGE sql AS 'SELECT sum(amount) FROM orders'");
is(plan_now()->{drift}{differences}{added}[0]{kind}, 'function', 'a function made by hand on prod is drift');
$bp->json("SELECT branchpromote.unprotect('shop', 'prod')");
$r = $bp->json("SELECT branchpromote.reset_prod('shop', 'shop')");
my $backup = $r->{backup_branch};
ok($backup, "reset_prod: prod replaced by dev, kept as $backup");
is(plan_now()->{drift}, undef, 'after reset_prod: no drift');
is(names(diff('dev', $backup)->{added}), 'function public.total()', 'schema_diff against the backup branch shows the function');
is(diff('dev', 'prod')->{equal}, JSON::PP::true, 'dev and prod equal after reset_prod');

# ---- DDL on dev outside apply_migrations
compute_safe_psql($bp->uri('shop', 'dev'), "ALTER TABLE customers RENAME COLUMN name TO full_name");
$plan = plan_now();
is($plan->{drift}{env}, 'dev', 'DDL on dev outside migrations: drift on dev');
is(names($plan->{drift}{differences}{removed}), 'column public.customers.name', 'the renamed column: removed ...');
is(names($plan->{drift}{differences}{added}), 'column public.customers.full_name', '... and added');
refused_promote('DDL on dev outside migrations', ", 'v5'", qr/dev's schema is not what its migrations left/);
compute_safe_psql($bp->uri('shop', 'dev'), "ALTER TABLE customers RENAME COLUMN full_name TO name");
is(plan_now()->{drift}, undef, 'undone by hand: no drift');
# a migration run on a drifted dev says what it absorbs; the deploy still catches it
compute_safe_psql($bp->uri('shop', 'dev'), "CREATE TABLE scratch (x int)");
$r = apply({ version => '0005a', sql => 'CREATE TABLE t5a (x int)' });
is(names($r->{schema_drift}{added}), 'column public.scratch.x,table public.scratch', 'apply_migrations on a drifted dev reports the drift it absorbs');
is(plan_now()->{drift}, undef, 'absorbed: the ledger-side check no longer sees it');
refused_promote('... but the deploy proves prod would lack it', ", 'v5'", qr/table public\.scratch removed/);
compute_safe_psql($bp->uri('shop', 'dev'), "DROP TABLE scratch");
is(plan_now()->{drift}{env}, 'dev', 'dropped again by hand: drift on dev');
$acc = $bp->json("SELECT branchpromote.accept_schema('shop', 'dev')");
is(names($acc->{accepted}{removed}), 'column public.scratch.x,table public.scratch', 'accept_schema on dev records it');
is(plan_now()->{drift}, undef, 'no drift');

# ---- schema_diff between dev, prod, a preview and prod+pending
apply({ version => '0006', sql => 'ALTER TABLE customers ADD COLUMN email text' });
$bp->json("SELECT branchpromote.fork_branch('shop', 'pr-1', 'prod')");
compute_safe_psql($bp->uri('shop', 'pr-1'), "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 100; GRANT SELECT ON customers TO PUBLIC");
is(names(diff('prod', 'dev')->{added}), 'column public.customers.email,column public.t5a.x,table public.t5a', 'prod → dev: what the pending migrations add');
is(diff('prod+pending', 'dev')->{equal}, JSON::PP::true, 'prod+pending equals dev');
is(names(diff('prod', 'prod+pending')->{added}), 'column public.customers.email,column public.t5a.x,table public.t5a', 'prod → prod+pending: what the deploy adds');
my $pd = diff('prod', 'pr-1');
is(names($pd->{added}), 'column public.big_orders.amount,column public.big_orders.customer_id,column public.big_orders.id,view public.big_orders',
	'prod → preview: the view and its columns');
like($pd->{added}[3]{attributes}{definition}, qr/WHERE \(?orders\.amount > /, 'with its whole definition');
is($pd->{changed}[0]{name}, 'public.customers', 'prod → preview: the grant changed a table');
ok(exists $pd->{changed}[0]{changes}{acl}, 'the changed attribute: acl');
my $text = $bp->sql("SELECT branchpromote.schema_diff('shop', 'prod', 'pr-1', format => 'text') #>> '{}'");
like($text, qr/^--- prod .*\n\+\+\+ pr-1 /, 'text form: a header naming both sides');
like($text, qr/^\+ view public\.big_orders$/m, 'text form: the added view');
like($text, qr/^~ table public\.customers$/m, 'text form: the changed table');
my ($st) = $bp->sqlstate("SELECT branchpromote.schema_diff('shop', 'prod', 'pr-1', format => 'yaml')");
is($st, '22023', 'an unknown format: 22023');
($st) = $bp->sqlstate("SELECT branchpromote.schema_diff('shop', 'prod', 'nope')");
is($st, '42704', 'an unknown branch: 42704');
($st) = $bp->sqlstate("SELECT branchpromote.schema_diff('shop', 'dev+pending', 'prod')");
is($st, '22023', 'only prod takes +pending');
$r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v6')");
is(diff('dev', 'prod')->{equal}, JSON::PP::true, 'after a normal re-deploy the diff between dev and prod is empty');

# ---- a migration that behaves differently on prod's data
compute_safe_psql($prod, "INSERT INTO customers VALUES (1, 'big'), (2, 'spender')");
my $cond = q{DO $$ BEGIN IF (SELECT count(*) FROM customers) > 0 THEN ALTER TABLE customers ADD COLUMN legacy boolean; END IF; END $$; CREATE TABLE audit (id int)};
apply({ version => '0007', sql => $cond });
refused_promote('a DO block that adds a column only where there are rows: the rehearsal', ", 'v7'", qr/rehearsal fork of prod.*column public\.customers\.legacy added/s);
refused_promote('the same without a rehearsal: prod\'s own transaction', ", 'v7', rehearse => false", qr/after the pending migrations, prod's schema would not be dev's/);
is(compute_safe_psql($prod, "SELECT to_regclass('audit') IS NULL AND (SELECT count(*) FROM branchpromote_ledger.migrations WHERE version = '0007') = 0"), 't',
	'prod kept its schema and ledger: the prepared transaction aborted');
is($bp->sql("SELECT count(*) FROM pg_prepared_xacts"), '0', 'no prepared transaction left on the control');

# ---- a hostile tenant breaks its own record: refused with a hint, repaired by accept_schema
compute_safe_psql($bp->uri('shop', 'dev'), "UPDATE branchpromote_ledger.schema_state SET objects = 'not a schema'");
my $err;
($st, $err) = $bp->sqlstate("SELECT branchpromote.plan_promotion('shop', 'v9')");
is($st, 'XX001', 'a recorded schema that does not parse: XX001');
like($err, qr/accept_schema/, 'the hint names the way out');
$acc = $bp->json("SELECT branchpromote.accept_schema('shop', 'dev')");
is($acc->{previous}, undef, 'accept_schema replaces the broken record');
is(plan_now()->{drift}, undef, 'and the plan works again');

# ---- suspended computes: the plan reads the mirrored check and wakes nothing
apply({ version => '0008', sql => 'DROP TABLE audit' });
# (dev's 0007 and 0008 leave dev as before; the conditional column never happened on dev)
compute_safe_psql($prod, "ALTER TABLE orders ADD COLUMN note text");
# both in one statement: the checks are handed to the reconciler, the
# caller's transaction writes nothing (so the second suspend is allowed)
$bp->sql("SELECT branchpromote.suspend_compute('shop', env) FROM (VALUES ('dev'), ('prod')) v(env)");
$plan = plan_now();
is_deeply($plan->{woke}, {}, 'plan_promotion of a suspended app wakes nothing');
is(names($plan->{drift}{differences}{added} // []), 'column public.orders.note', 'and still sees prod\'s drift, from the check taken at suspend');
is($bp->compute_row('shop', 'prod')->{actual_state}, 'suspended', 'prod stayed suspended');
my $sfp = $bp->json("SELECT branchpromote.schema_fingerprint('shop', 'prod')");
is(names($sfp->{drift}{added}), 'column public.orders.note', 'schema_fingerprint of a suspended prod (woken)');

# ---- a first deploy of a dev with DDL made outside migrations: prod's
# copy is read and recorded on both (a running dev gets a second session);
# without such DDL neither record changes and dev gets no session
sub first_deploy_steps
{
	my ($project) = @_;
	return $bp->sql("SELECT string_agg(s->>'step', ',') FROM branchpromote.operations o, jsonb_array_elements(o.steps) s "
		  . "WHERE o.project = '$project' AND o.kind = 'promote_branch'");
}
for my $case ([ 'clean', 0 ], [ 'drifted', 1 ])
{
	my ($project, $by_hand) = @$case;
	$bp->json("SELECT branchpromote.create_project('$project')");
	$bp->json("SELECT branchpromote.apply_migrations('$project', 'dev', '"
		  . migs({ version => '0001', sql => 'CREATE TABLE t (id int PRIMARY KEY)' }) . "')");
	compute_safe_psql($bp->uri($project, 'dev'), 'ALTER TABLE t ADD COLUMN by_hand text') if $by_hand;
	my $before = $bp->json("SELECT branchpromote.schema_fingerprint('$project', 'dev')");
	is(defined $before->{drift}, !!$by_hand, "$project: dev's drift before its first deploy");
	my $d = $bp->json("SELECT branchpromote.promote_branch('$project', 'v1')");
	is($d->{schema}{result}, $before->{fingerprint}, "$project: the first deploy records dev's actual schema");
	my $dev_after = $bp->json("SELECT branchpromote.schema_fingerprint('$project', 'dev')");
	my $prod_after = $bp->json("SELECT branchpromote.schema_fingerprint('$project', 'prod')");
	is($dev_after->{recorded}, $before->{fingerprint}, "$project: dev records it");
	is($prod_after->{recorded}, $before->{fingerprint}, "$project: prod records it");
	is($dev_after->{drift}, undef, "$project: no drift left on dev");
	is(first_deploy_steps($project),
		'plan,fork running dev (backup mode),start compute,read ledger,' . ($by_hand ? "record dev's schema," : '') . 'base snapshot',
		$by_hand ? "$project: dev's record changed in a session of its own" : "$project: no session on dev, nothing to record there");
}

# ---- apply_migrations and a re-deploy write the schema mirror of what they
# change themselves (the reconciler refreshes running computes' only once a
# minute): seen inside the call's own transaction, before any pass could
sub mirror_in_call
{
	my ($env, $call, $path) = @_;
	my @out = split /\n/, $bp->sql("BEGIN; SELECT ($call) #>> '$path'; "
		  . "SELECT t.schema_mirror->>'fingerprint' FROM branchpromote.timeline t "
		  . "JOIN branchpromote.environments e ON e.timeline = t.id WHERE e.project = 'clean' AND e.env = '$env'; COMMIT;");
	return @out;
}
my $clean_before = $bp->json("SELECT branchpromote.schema_fingerprint('clean', 'dev')")->{fingerprint};
my ($applied_fp, $dev_mirror) = mirror_in_call('dev', "SELECT branchpromote.apply_migrations('clean', 'dev', '"
	  . migs({ version => '0002', sql => 'CREATE TABLE u (id int)' }) . "')", '{schema_fingerprint}');
isnt($applied_fp, $clean_before, 'apply_migrations changed the schema');
is($dev_mirror, $applied_fp, "and wrote dev's schema mirror in its own transaction");
my ($result_fp, $prod_mirror) = mirror_in_call('prod', "SELECT branchpromote.promote_branch('clean', 'v2', rehearse => false)",
	'{schema,result}');
is($result_fp, $applied_fp, 'the re-deploy gave prod that schema');
is($prod_mirror, $applied_fp, "and wrote prod's schema mirror in its own transaction");

$bp->teardown;
done_testing();
