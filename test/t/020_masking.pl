# Masked previews.  Rules on a prod with real rows (hash on an email and on
# the key that joins to it, hash on a uuid, fake names, a partial mask, a
# fixed value, NULL, an expression): the preview's values are masked, joins
# and unique constraints hold, a trigger that would copy old values stays
# quiet, a materialized view and the statistics hold no old value, no
# data file of the preview holds one, and prod is untouched.  No client
# sees unmasked data, even by connecting while the fork is being made.  A
# fork of the preview (at an LSN, at its head) is still masked; one before
# the mask is refused.  Bad rules are refused against dev's schema; a rule
# that fails on prod's data, or a table without a primary key, aborts the
# fork with nothing left behind.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use File::Find;
use IPC::Run;
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;

my $proxy_port = 30190;
my $bp = BranchPromoteTest->new_node('main', port_base => 30100, proxy_port => $proxy_port);
my $node = $bp->node;

sub migs { return JSON::PP->new->canonical->encode(\@_) }
sub apply
{
	my (@m) = @_;
	return $bp->json("SELECT branchpromote.apply_migrations('shop', 'dev', '" . (migs(@m) =~ s/'/''/gr) . "')");
}
sub rule
{
	my ($table, $column, $rule, $arg) = @_;
	my $a = defined $arg ? "'" . ($arg =~ s/'/''/gr) . "'" : 'NULL';
	return $bp->json("SELECT branchpromote.set_mask_rule('shop', '$table', '$column', '$rule', $a)");
}
sub rule_state
{
	my ($table, $column, $rule, $arg) = @_;
	my $a = defined $arg ? "'" . ($arg =~ s/'/''/gr) . "'" : 'NULL';
	return $bp->sqlstate("SELECT branchpromote.set_mask_rule('shop', '$table', '$column', '$rule', $a)");
}
sub q1
{
	my ($env, $sql) = @_;
	return compute_safe_psql($bp->uri('shop', $env), $sql);
}
sub live_dirs_match
{
	my $want = $bp->sql("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM branchpromote.timeline "
		  . "WHERE discarded_at IS NULL OR kept_until IS NOT NULL");
	return join(',', $bp->timeline_dirs) eq $want;
}

# ---- dev's schema, and prod with real rows
$bp->json("SELECT branchpromote.create_project('shop')");
apply({ version => '0001', sql => q{
	CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL UNIQUE, name text, card text,
		phone text, token uuid UNIQUE, note text, ssn text, amount int);
	CREATE INDEX ON customers (name);
	CREATE TABLE orders (id int PRIMARY KEY, customer_email text REFERENCES customers (email) ON UPDATE CASCADE,
		total int);
	CREATE TABLE audit (at timestamptz DEFAULT now(), old_email text);
	CREATE FUNCTION remember() RETURNS trigger LANGUAGE plpgsql AS
		$$BEGIN INSERT INTO audit (old_email) VALUES (OLD.email); RETURN NEW; END$$;
	CREATE TRIGGER customers_audit AFTER UPDATE ON customers FOR EACH ROW EXECUTE FUNCTION remember();
	CREATE MATERIALIZED VIEW customer_emails AS SELECT email FROM customers;
	CREATE TABLE logs (msg text)} });
$bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
my $prod = $bp->uri('shop', 'prod');
compute_safe_psql($prod, q{
	INSERT INTO customers
	SELECT g, 'customer' || g || '@shop.test', 'Real Person ' || g, '4111-0000-0000-' || lpad(g::text, 4, '0'),
		'+44 20 7946 ' || lpad(g::text, 4, '0'), md5('token' || g)::uuid, 'private note ' || g,
		'SSN-' || g, g * 10
	  FROM generate_series(1, 40) g;
	INSERT INTO orders SELECT g, 'customer' || (g % 40 + 1) || '@shop.test', g FROM generate_series(1, 100) g;
	INSERT INTO logs VALUES ('customer1@shop.test logged in');
	REFRESH MATERIALIZED VIEW customer_emails;
	ANALYZE customers;
});
my $prod_digest = compute_safe_psql($prod, "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c");
my $prod_joins = compute_safe_psql($prod, "SELECT count(*) FROM orders o JOIN customers c ON c.email = o.customer_email");
is($prod_joins, '100', 'prod: every order joins its customer');

# ---- bad rules: refused against dev's schema, nothing recorded
my ($st, $err) = rule_state('nosuch', 'email', 'hash');
is($st, '42P01', 'a rule on no such table: 42P01');
($st, $err) = rule_state('customers', 'nosuch', 'hash');
is($st, '42703', 'on no such column: 42703');
($st, $err) = rule_state('logs', 'msg', 'hash');
is($st, '55000', 'on a table without a primary key: 55000');
like($err, qr/no primary key.*HINT:/s, 'with a hint');
($st, $err) = rule_state('customers', 'amount', 'hash');
is($st, '22023', 'hash on an integer column: 22023');
($st) = rule_state('customers', 'card', 'partial', '4');
is($st, '22023', 'partial without first,last: 22023');
($st) = rule_state('customers', 'name', 'fake', 'ssn');
is($st, '22023', 'fake of an unknown kind: 22023');
($st) = rule_state('customers', 'name', 'scramble');
is($st, '22023', 'an unknown rule: 22023');
($st, $err) = rule_state('customers', 'amount', 'expression', "'many'");
is($st, '22P02', 'an expression of the wrong type: the compute\'s SQLSTATE');
like($err, qr/does not check on dev/, 'named as a check on dev');
($st) = rule_state('customers', 'note', 'expression', 'id +');
is($st, '42601', 'an expression that does not parse: 42601');
($st) = rule_state('customers', 'note', 'expression', 'nosuchfn(id)');
is($st, '42883', 'an expression calling no such function: 42883');
($st) = rule_state('customers', 'note', 'expression', 'md5($1)');
is($st, '22023', 'an expression reading the seed ($1): 22023');
($st) = rule_state('customers', 'amount', 'value', 'lots');
is($st, '22P02', 'a value the column cannot hold: 22P02');
is($bp->sql("SELECT count(*) FROM branchpromote.mask_rules"), '0', 'no refused rule was recorded');
($st) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-x', masked => true)");
is($st, '55000', 'a masked fork without rules: 55000');

# ---- the rules
rule('customers', 'email', 'hash');
rule('orders', 'customer_email', 'hash');
rule('customers', 'token', 'hash');
rule('customers', 'name', 'fake', 'name');
rule('customers', 'card', 'partial', '0,4');
rule('customers', 'phone', 'value', '000');
rule('customers', 'ssn', 'null');
my $last = rule('public.customers', 'note', 'expression', "'note #' || id");
is($bp->sql("SELECT count(*) FROM branchpromote.mask_rules WHERE project = 'shop'"), '8', 'eight rules');
my $digest = $last->{mask_digest};
like($digest, qr/^[0-9a-f]{64}$/, 'the rule set has a digest');
is(rule('customers', 'phone', 'value', '000')->{replaced}, 'value', 'setting a rule again replaces it');

# ---- connecting while the masked fork is made: nobody gets in before it commits
my $dev_uri = $bp->uri('shop', 'dev');
my ($pw) = $dev_uri =~ m{//shop:([^@]+)@};
my $via_proxy = $dev_uri =~ s{/shop\.dev$}{/shop.pr-1}r;
my %known = map { $_ => 1 } split /,/, $bp->sql("SELECT string_agg(port::text, ',') FROM branchpromote.computes");
# slow the mask down (a rule sleeping per row) so the probes overlap it
rule('customers', 'amount', 'expression', '(SELECT 0 FROM pg_catalog.pg_sleep(0.05))');
my ($out, $ferr) = ('', '');
my $fork = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		"SELECT branchpromote.fork_branch('shop', 'pr-1', masked => true)" ], '>', \$out, '2>', \$ferr);
my ($probes, $in, @seen) = (0, 0);
while ($fork->pumpable)
{
	$fork->pump_nb;
	for my $uri ($via_proxy, map { "postgresql://shop:$pw\@127.0.0.1:$_/shop" } grep { !$known{$_} } 30100 .. 30149)
	{
		my ($rc, $got) = compute_psql($uri, "SELECT string_agg(email, ',') FROM customers");
		$probes++;
		next unless $rc == 0;
		$in++;
		push @seen, $got;
	}
}
$fork->finish;
my $pr = eval { decode_json($out) } or BAIL_OUT("the masked fork failed: $ferr");
ok($probes > 20, "$probes connection attempts while the fork was made");
ok(!grep({ /\@shop\.test/ } @seen), "no client saw an unmasked email ($in got in, after the commit)");
is($pr->{masked}, JSON::PP::true, 'the fork says it is masked');
$digest = $bp->json("SELECT branchpromote.set_mask_rule('shop', 'customers', 'amount', 'value', '0')")->{mask_digest};
isnt($pr->{mask_digest}, $digest, 'its digest is the rule set it was masked with');
is($pr->{masked_tables}, 2, 'two tables masked');
is($pr->{masked_rows}, 140, 'every row of them');
is($pr->{refreshed_views}, 1, 'the materialized view refreshed');
is($pr->{foreign_keys_revalidated}, 1, 'the foreign key on a masked column dropped and validated again');
is($bp->sql("SELECT masked::text || ' ' || mask_digest FROM branchpromote.timelines WHERE project = 'shop' AND branch = 'pr-1'"),
	"true $pr->{mask_digest}", 'the timelines view says so, with the digest');

# ---- the preview's values
my $pr1 = $bp->uri('shop', 'pr-1');
is(compute_safe_psql($pr1, "SELECT count(*) FROM customers WHERE email LIKE '%\@shop.test'"), '0', 'no real email is left');
is(compute_safe_psql($pr1, "SELECT count(*) FROM customers WHERE email ~ '^user-[0-9a-f]{16}\@example\\.com\$'"), '40',
	'every email is still an email');
is(compute_safe_psql($pr1, "SELECT count(DISTINCT email) || ' ' || count(DISTINCT token) FROM customers"), '40 40',
	'distinct values stay distinct (unique constraints hold)');
is(compute_safe_psql($pr1, "SELECT count(*) FROM orders o JOIN customers c ON c.email = o.customer_email"), $prod_joins,
	'every order still joins its customer');
is(compute_safe_psql($pr1, "SELECT count(*) FROM customers WHERE token = md5('token' || id)::uuid"), '0', 'no real token');
is(compute_safe_psql($pr1, "SELECT count(*) FROM customers WHERE name LIKE 'Real Person%' OR name !~ '^[A-Z][a-z]+ [A-Z][a-z]+\$'"), '0',
	'fake names');
is(compute_safe_psql($pr1, "SELECT card FROM customers WHERE id = 7"), '***************0007', 'a partial mask keeps the last four');
is(compute_safe_psql($pr1, "SELECT string_agg(DISTINCT phone, ',') || ' ' || count(ssn) FROM customers"), '000 0',
	'a fixed value and NULL');
is(compute_safe_psql($pr1, "SELECT note FROM customers WHERE id = 5"), 'note #5', 'an expression over the row');
is(compute_safe_psql($pr1, "SELECT count(*) FROM audit"), '0', 'the audit trigger did not copy the old values');
is(compute_safe_psql($pr1, "SELECT tgenabled FROM pg_trigger WHERE tgname = 'customers_audit'"), 'O', 'and it is enabled again');
is(compute_safe_psql($pr1, "SELECT count(*) FROM customer_emails WHERE email LIKE '%\@shop.test'"), '0',
	'the materialized view holds no real email');
is(compute_safe_psql($pr1, "SELECT count(*) FROM pg_stats WHERE tablename = 'customers' "
	  . "AND (most_common_vals::text LIKE '%shop.test%' OR histogram_bounds::text LIKE '%shop.test%' "
	  . "OR histogram_bounds::text LIKE '%Real Person%')"), '0', 'nor do the statistics');
is(compute_safe_psql($pr1, "SELECT count(*) FROM logs"), '1', 'a table without rules is as it was');
is(compute_safe_psql($prod, "SELECT md5(string_agg(c::text, ',' ORDER BY id)) FROM customers c"), $prod_digest,
	'prod is untouched');
is(compute_safe_psql($prod, "SELECT count(*) FROM audit"), '0', "prod's audit too");

# No data file, snapshot or archived segment of the preview holds a real
# value of a masked column (pg_wal's recycled segment files may keep bytes
# no LSN reaches: not looked at).  logs keeps its own: skipped.
my $pr1_tl = $bp->sql("SELECT timeline FROM branchpromote.environments WHERE project = 'shop' AND env = 'pr-1'");
$bp->sql("SELECT branchpromote.suspend_compute('shop', 'pr-1')");
my $logs_file = compute_safe_psql($prod, "SELECT pg_relation_filepath('logs')");
my @leaks;
find({ no_chdir => 1, wanted => sub {
	return if -d $_ || m{/pg_wal/} || m{/\Q$logs_file\E$};
	open(my $fh, '<:raw', $_) or return;
	local $/;
	my $bytes = <$fh>;
	push @leaks, $_ if $bytes =~ /customer\d+\@shop\.test|Real Person|private note|SSN-\d/;
} }, $bp->timeline_dir($pr1_tl));
is(join(' ', @leaks), '', 'no file of the preview holds a real value');
$bp->sql("SELECT branchpromote.wake_compute('shop', 'pr-1')");

# ---- forks of the preview stay masked; nothing before the mask is reachable
compute_safe_psql($pr1, "INSERT INTO orders VALUES (1000, NULL, 1)");
my $l1 = compute_safe_psql($pr1, "SELECT pg_current_wal_lsn()");
compute_safe_psql($pr1, "INSERT INTO orders VALUES (1001, NULL, 1)");
$bp->json("SELECT branchpromote.create_anchor('shop', 'pr-1', 'later')");
my $f = $bp->json("SELECT branchpromote.fork_branch('shop', 'pr-2', 'pr-1', '$l1')");
is($f->{masked}, JSON::PP::true, 'a fork of the preview at an LSN is masked');
is(compute_safe_psql($bp->uri('shop', 'pr-2'), "SELECT count(*) FILTER (WHERE email LIKE '%\@shop.test') || ' ' || "
	  . "count(*) FROM customers"), '0 40', 'with the masked values');
is(compute_safe_psql($bp->uri('shop', 'pr-2'), "SELECT string_agg(id::text, ',') FROM orders WHERE id >= 1000"), '1000',
	'as of that LSN');
$f = $bp->json("SELECT branchpromote.fork_branch('shop', 'pr-3', 'pr-1')");
is($f->{mask_digest}, $pr->{mask_digest}, 'a fork at its head is masked, with its digest');
is(compute_safe_psql($bp->uri('shop', 'pr-3'), "SELECT count(*) FROM customers WHERE email LIKE '%\@shop.test'"), '0',
	'and its values');
my $mask_lsn = $bp->sql("SELECT mask_lsn FROM branchpromote.timelines WHERE branch = 'pr-1'");
my $fork_lsn = $bp->sql("SELECT fork_lsn FROM branchpromote.timelines WHERE branch = 'pr-1'");
($st, $err) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-4', 'pr-1', '$fork_lsn')");
is($st, '22023', "a fork of the preview before its mask ($fork_lsn < $mask_lsn) is refused");
like($err, qr/outside the history/, 'as outside its history');
($st) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-4', 'pr-1', masked => false)");
is($st, '55000', 'masked => false on a masked source: 55000');

# ---- default for forks of prod; explicit unmasked
$bp->json("SELECT branchpromote.set_preview_masking('shop', true)");
$f = $bp->json("SELECT branchpromote.fork_branch('shop', 'pr-5')");
is($f->{masked}, JSON::PP::true, 'with set_preview_masking a fork of prod is masked by default');
$f = $bp->json("SELECT branchpromote.fork_branch('shop', 'pr-6', masked => false)");
is($f->{masked}, JSON::PP::false, 'unless it says masked => false');
is(compute_safe_psql($bp->uri('shop', 'pr-6'), "SELECT count(*) FROM customers WHERE email LIKE '%\@shop.test'"), '40',
	'which has the real values');

# ---- a rule that fails, a table that lost its key: the fork aborts, nothing left
rule('customers', 'amount', 'expression', '100 / (id - 3)');
my $tl_before = $bp->sql("SELECT count(*) FROM branchpromote.timeline");
($st, $err) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-7', masked => true)");
is($st, '22012', 'a rule failing on prod\'s rows aborts the fork with its SQLSTATE');
$bp->json("SELECT branchpromote.set_mask_rule('shop', 'customers', 'amount', 'null')");
compute_safe_psql($prod, "ALTER TABLE customers DROP CONSTRAINT customers_pkey");
($st, $err) = $bp->sqlstate("SELECT branchpromote.fork_branch('shop', 'pr-7', masked => true)");
is($st, '55000', 'a table without a primary key on the fork aborts it');
like($err, qr/no primary key on the fork/, 'saying so');
compute_safe_psql($prod, "ALTER TABLE customers ADD PRIMARY KEY (id)");
is($bp->sql("SELECT count(*) FROM branchpromote.timeline"), $tl_before, 'no timeline row was left');
ok($bp->reconciler_pass, 'a reconciler pass later');
ok(live_dirs_match(), 'no directory was left');
is($bp->sql("SELECT count(*) FROM branchpromote.computes WHERE env = 'pr-7'"), '0', 'no compute');

# ---- a dropped rule no longer applies
$bp->json("SELECT branchpromote.drop_mask_rule('shop', 'customers', 'note')");
($st) = $bp->sqlstate("SELECT branchpromote.drop_mask_rule('shop', 'customers', 'note')");
is($st, '42704', 'dropping it again: 42704');
$f = $bp->json("SELECT branchpromote.fork_branch('shop', 'pr-8')");
is(compute_safe_psql($bp->uri('shop', 'pr-8'), "SELECT note FROM customers WHERE id = 5"), 'private note 5',
	'a column whose rule was dropped keeps its value');

$bp->teardown;
done_testing();
