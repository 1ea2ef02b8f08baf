# Tenant isolation: a tenant with full control of its project's own role,
# connected to its own compute, plays the attacks of issue 16 and gets
# nothing outside its project:
#   - the ledger replaced by a view over the tenant's function, a
#     search_path steered with ALTER DATABASE (a function and an operator
#     shadowing built-ins), a trigger on the ledger: none of them runs as a
#     superuser (promote, plan, apply_migrations, fork, rollback);
#   - the compute's own database template1 is closed to it;
#   - its password reaches the compute only as a SCRAM verifier (16
#     iterations: a 128-bit random secret needs no stretching);
#   - holding the ledger's advisory lock or every prepared-transaction slot
#     fails a deploy within seconds, saying what blocks;
# and, on the control side: the stats helpers show a deployer only its own
# projects, and CREATE EXTENSION refuses roles a non-superuser pre-made.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $proxy_port = 29390;
my $bp = BranchPromoteTest->new_node('main', port_base => 29400, proxy_port => $proxy_port);
my $node = $bp->node;
$node->append_conf('postgresql.conf', "branchpromote.migration_lock_timeout = '2s'\n");
$node->reload;
# every statement logged on every compute (set before any compute starts,
# so no restart to match a changed template happens during the test)
$bp->sql(q{UPDATE branchpromote.compute_template
             SET settings = settings || '{"log_statement": "all"}'});

$bp->json("SELECT branchpromote.create_project('acme')");
my $direct = sub { $bp->sql("SELECT branchpromote.connection_uri('acme', '$_[0]', true)") };
my $dev = $direct->('dev');
# dev's compute as its superuser (the control plane's own peer connection)
my $dev_row = $bp->compute_row('acme', 'dev');
my $dev_admin = 'postgresql:///template1?host=' . $bp->socket_dir_for_port($dev_row->{port}) . "&port=$dev_row->{port}";

# --- 0. computes run as an OS user of their own: even a compute superuser
# (here: the control plane's own peer connection) is not the control's
SKIP:
{
	my $cuser = $ENV{BP_TEST_COMPUTE_USER};
	skip 'no compute OS user set up (scripts/test.sh sets one)', 5 unless $cuser;
	my $uid = (stat("/proc/$dev_row->{pid}"))[4];
	is(scalar(getpwuid($uid)), $cuser, "the dev compute runs as $cuser");
	isnt($uid, $>, "not as the control server's OS user");
	is(compute_safe_psql($dev_admin,
			"CREATE TEMP TABLE w (x text); COPY w FROM PROGRAM 'id -un'; SELECT x FROM w"),
		$cuser, "a compute superuser's programs run as $cuser");
	my $control_conf = $node->data_dir . '/postgresql.conf';
	my ($rc, $out, $err) = compute_psql($dev_admin, "SELECT pg_read_file('$control_conf')");
	like($err, qr/Permission denied/, "it cannot read the control server's files");
	my $csock = $node->host;
	my $cport = $node->port;
	($rc, $out, $err) = compute_psql($dev_admin,
		"CREATE TEMP TABLE w (x text); "
		  . "COPY w FROM PROGRAM 'psql -XAtq -h $csock -p $cport -d postgres -c \"SELECT 1\" 2>&1; echo rc=\$?' WITH (DELIMITER '|'); "
		  . "SELECT string_agg(x, ' ') FROM w");
	like($out, qr/rc=[12]$/, "nor log in to the control server (it said: $out)") or diag($err);
}

# --- a compute holds no template0 and no postgres: fewer files for every fork to clone
{
	is(compute_safe_psql($dev_admin, "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database"),
		'acme,template1', 'a new compute holds its project database and template1, no template0, no postgres');
	compute_safe_psql($dev_admin, 'CREATE DATABASE template0 TEMPLATE template1 IS_TEMPLATE true ALLOW_CONNECTIONS false');
	is(compute_safe_psql($dev_admin, "SELECT datistemplate AND NOT datallowconn FROM pg_database WHERE datname = 'template0'"),
		't', 'an operator can make template0 again from template1');
	compute_safe_psql($dev_admin, 'CREATE DATABASE postgres');
	(my $postgres_admin = $dev_admin) =~ s{:///template1\?}{:///postgres?};
	is(compute_safe_psql($postgres_admin, 'SELECT current_database()'), 'postgres', 'and postgres, for tools that expect it');
	compute_safe_psql($dev_admin, "ALTER DATABASE template0 IS_TEMPLATE false");
	compute_safe_psql($dev_admin, "DROP DATABASE template0");
	compute_safe_psql($dev_admin, "DROP DATABASE postgres");
}

# The payload: try to become a superuser, and log who ran it.
compute_safe_psql($dev, <<'SQL');
CREATE TABLE pwn_log (who text, superuser boolean);
CREATE FUNCTION public.pwn() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE 'ALTER ROLE acme SUPERUSER';
  EXCEPTION WHEN OTHERS THEN NULL;
  END;
  INSERT INTO public.pwn_log
    SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
  RETURN 1;
END $$;
CREATE TABLE items (id int PRIMARY KEY, note text);
INSERT INTO items VALUES (1, 'one');
SQL

# Nothing the tenant defined ran as a superuser on this compute.
sub held
{
	my ($uri, $label) = @_;
	is(compute_safe_psql($uri,
			"SELECT (SELECT rolsuper FROM pg_roles WHERE rolname = 'acme')::text || '/' || "
			  . "(SELECT count(*) FROM pwn_log WHERE superuser OR who <> 'acme')"),
		'false/0', "$label: the tenant's code never ran as a superuser");
}

# --- 1. the ledger replaced by a view over the tenant's function
compute_safe_psql($dev, <<'SQL');
ALTER TABLE branchpromote_ledger.migrations RENAME TO migrations_real;
CREATE VIEW branchpromote_ledger.migrations AS
  SELECT m.* FROM branchpromote_ledger.migrations_real m, (SELECT public.pwn()) x;
SQL
my ($st, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme')");
is($st, '42809', 'a first deploy refuses a ledger that is a view');
like($err, qr/is a relation of kind 'v', not a table/, 'and says what it found');
like($err, qr/HINT:.*original table back/, 'with a hint');
held($dev, 'ledger view');
my $prod_made = $bp->sql("SELECT count(*) FROM branchpromote.environments WHERE project = 'acme' AND env = 'prod'");
is($prod_made, '0', 'the refused first deploy made no prod');
held($direct->('prod'), 'ledger view, on the prod it made') if $prod_made;
compute_safe_psql($dev, <<'SQL');
DROP VIEW branchpromote_ledger.migrations;
ALTER TABLE branchpromote_ledger.migrations_real RENAME TO migrations;
SQL

# --- 2. search_path steered for every session of the database, with a
# function and an operator that shadow built-ins our own SQL calls
compute_safe_psql($dev, <<'SQL');
CREATE SCHEMA evil;
CREATE FUNCTION evil.to_regclass(text) RETURNS regclass LANGUAGE plpgsql AS $$
BEGIN PERFORM public.pwn(); RETURN pg_catalog.to_regclass($1); END $$;
CREATE FUNCTION evil.like_pwn(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN PERFORM public.pwn(); RETURN $1 OPERATOR(pg_catalog.~~) $2; END $$;
CREATE OPERATOR evil.~~ (LEFTARG = text, RIGHTARG = text, FUNCTION = evil.like_pwn);
CREATE FUNCTION evil.pg_current_wal_insert_lsn() RETURNS pg_lsn LANGUAGE plpgsql AS $$
BEGIN PERFORM public.pwn(); RETURN pg_catalog.pg_current_wal_insert_lsn(); END $$;
ALTER DATABASE acme SET search_path = evil, pg_catalog, public;
SQL
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', "
	  . "'[{\"version\": \"0001\", \"sql\": \"CREATE TABLE public.t1 (id int)\"}]')");
my $r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v1')");
is($r->{action}, 'first_deploy', 'a first deploy with the search_path steered');
my $prod = $direct->('prod');
$bp->json("SELECT branchpromote.fork_branch('acme', 'pr-1')");
$bp->json("SELECT branchpromote.plan_promotion('acme')");
held($dev, 'search_path on dev');
held($prod, 'search_path on prod');
held($direct->('pr-1'), 'search_path on a preview');

# --- 3. a trigger on the ledger: it runs, as the tenant
my $ledger_trigger = <<'SQL';
CREATE FUNCTION public.pwn_trg() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN PERFORM public.pwn(); RETURN NEW; END $$;
CREATE TRIGGER pwn BEFORE INSERT ON branchpromote_ledger.migrations
  FOR EACH ROW EXECUTE FUNCTION public.pwn_trg();
SQL
compute_safe_psql($_, $ledger_trigger) for ($dev, $prod);
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', "
	  . "'[{\"version\": \"0001\", \"sql\": \"CREATE TABLE public.t1 (id int)\"},"
	  . " {\"version\": \"0002\", \"sql\": \"CREATE TABLE public.t2 (id int)\"}]')");
$r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v2')");
is($r->{action}, 'redeploy', 'a re-deploy through the trigger (rehearsed on a fork of prod)');
ok(compute_safe_psql($prod, "SELECT count(*) FROM pwn_log") > 0, 'the trigger did run on prod');
held($dev, 'ledger trigger on dev');
held($prod, 'ledger trigger on prod');
$r = $bp->json("SELECT branchpromote.rollback_deploy('acme')");
held($direct->('prod'), 'a rollback with all of the above in place');
$prod = $direct->('prod');

# --- 4. the compute's database template1, the control plane's own, is not the tenant's
(my $admin_db = $dev) =~ s{/acme(\?|$)}{/template1$1};
my ($rc, $out, $perr) = compute_psql($admin_db, 'SELECT 1');
isnt($rc, 0, "the tenant cannot connect to its compute's database template1");
like($perr, qr/permission denied for database "template1"/, 'refused by privilege');

# --- 5. the password reaches a compute only as a SCRAM verifier
$bp->json("SELECT branchpromote.create_project('beta')");
my $pw = $bp->sql("SELECT app_password FROM branchpromote.project WHERE name = 'beta'");
my $tl = $bp->compute_row('beta', 'dev')->{timeline};
my $log = slurp_file($bp->timeline_dir($tl) . '/compute.log');
like($log, qr/CREATE ROLE beta .*PASSWORD 'SCRAM-SHA-256\$/, 'CREATE ROLE was logged, with a verifier');
like($log, qr/CREATE ROLE beta .*PASSWORD 'SCRAM-SHA-256\$16:[A-Za-z0-9+\/=]{24}\$/,
	'the verifier has 16 iterations (a 128-bit random secret needs no stretching) and a 16-byte salt');
unlike($log, qr/\Q$pw\E/, 'the plaintext password is nowhere in the compute log');
is(compute_safe_psql($bp->sql("SELECT branchpromote.connection_uri('beta', 'dev', true)"), 'SELECT 1'),
	'1', 'and the password still works');

# --- 6. a tenant holding the ledger's advisory lock blocks for seconds, not minutes
my ($in, $hout, $herr) = ('', '', '');
my $holder = IPC::Run::start([ 'psql', '-XAtq', '-d', $prod ], '<', \$in, '>', \$hout, '2>', \$herr);
$in .= "SELECT pg_advisory_lock(2042179386); SELECT 'held';\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /held/ }), 'the tenant holds the ledger lock on prod');
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', "
	  . "'[{\"version\": \"0001\", \"sql\": \"CREATE TABLE public.t1 (id int)\"},"
	  . " {\"version\": \"0002\", \"sql\": \"CREATE TABLE public.t2 (id int)\"},"
	  . " {\"version\": \"0003\", \"sql\": \"CREATE TABLE public.t3 (id int)\"}]')");
my $t0 = time;
($st, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v3', rehearse => false)");
my $took = time - $t0;
is($st, '55P03', 'a re-deploy blocked by the lock fails with lock_not_available');
like($err, qr/the migration ledger is locked by process \d+ on the compute/, 'naming the holder');
ok($took < 30, sprintf('within seconds (%.1f s; migration_lock_timeout is 2 s)', $took));
$in .= "SELECT pg_advisory_unlock_all(); SELECT 'released';\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /released/ }), 'the tenant lets go');
$r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v3', rehearse => false)");
is_deeply($r->{migrations_applied}, ['0002', '0003'], 'then the re-deploy goes through (prod was rolled back to v1)');

# --- 7. and every prepared-transaction slot taken: a clear refusal, at once
$in .= "SELECT current_setting('max_prepared_transactions');\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /released\n(\d+)/ }), 'max_prepared_transactions read');
my ($slots) = $hout =~ /released\n(\d+)/;
for my $i (1 .. $slots)
{
	$in .= "BEGIN; PREPARE TRANSACTION 'hog-$i';\n";
}
$in .= "SELECT 'hogged';\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /hogged/ }), "the tenant takes all $slots slots");
$bp->json("SELECT branchpromote.apply_migrations('acme', 'dev', "
	  . "'[{\"version\": \"0001\", \"sql\": \"CREATE TABLE public.t1 (id int)\"},"
	  . " {\"version\": \"0002\", \"sql\": \"CREATE TABLE public.t2 (id int)\"},"
	  . " {\"version\": \"0003\", \"sql\": \"CREATE TABLE public.t3 (id int)\"},"
	  . " {\"version\": \"0004\", \"sql\": \"CREATE TABLE public.t4 (id int)\"}]')");
($st, $err) = $bp->sqlstate("SELECT branchpromote.promote_branch('acme', 'v4', rehearse => false)");
is($st, '53400', 'no free slot: configuration_limit_exceeded');
like($err, qr/no free prepared transaction slot \($slots of $slots in use, $slots not made by branchpromote\)/,
	'saying how many are taken and by whom');
for my $i (1 .. $slots)
{
	$in .= "ROLLBACK PREPARED 'hog-$i';\n";
}
$in .= "SELECT 'freed';\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /freed/ }), 'the tenant frees them');
$r = $bp->json("SELECT branchpromote.promote_branch('acme', 'v4', rehearse => false)");
is_deeply($r->{migrations_applied}, ['0004'], 'then the re-deploy goes through');
$in .= "\\q\n";
$holder->finish;
held($direct->('prod'), 'after the blocking attempts');

# --- 7b. a tenant that locks the control plane out of its own compute: its
# password changed, CONNECT revoked, no connection allowed to its database;
# the next call gives the role its access and the control's password back
{
	my $beta = $bp->sql("SELECT branchpromote.connection_uri('beta', 'dev', true)");
	compute_safe_psql($beta, "ALTER ROLE beta PASSWORD 'mine'; REVOKE CONNECT ON DATABASE beta FROM PUBLIC, beta; "
		  . "ALTER DATABASE beta CONNECTION LIMIT 0");
	my ($rc, undef, $lerr) = compute_psql($beta, 'SELECT 1');
	isnt($rc, 0, 'the tenant locked itself and the control plane out') or diag($lerr);
	my $ap = $bp->json("SELECT branchpromote.apply_migrations('beta', 'dev', '"
		  . '[{"version": "0001", "sql": "CREATE TABLE t (id int)"}]' . "')");
	is_deeply([ map { $_->{version} } @{ $ap->{applied} } ], ['0001'], 'a migration still goes through');
	is(compute_safe_psql($beta, 'SELECT count(*) FROM t'), '0', "and the application's URI works again");
	like(slurp_file($bp->node->logfile), qr/gave role "beta" its password and its way into database "beta" back/,
		'the server log says what was repaired');
}

# --- 8. stats helpers called directly show a deployer only its own projects
$bp->sql(<<'SQL');
CREATE ROLE bp_alice; CREATE ROLE bp_bob;
GRANT branchpromote_deployer TO bp_alice, bp_bob;
SQL
$bp->sql("SET ROLE bp_alice; SELECT branchpromote.create_project('alices')");
is(compute_safe_psql($bp->uri('alices', 'dev'), 'SELECT 1'), '1', 'a client of alices through the proxy');
my $seen = sub {
	my ($role, $sql) = @_;
	return $bp->sql("SET ROLE $role; $sql");
};
is($seen->('bp_alice', "SELECT count(*) FROM branchpromote._proxy_stats() WHERE project = 'alices'"),
	'1', "alice sees her project's proxy counters");
is($seen->('bp_bob', "SELECT count(*) FROM branchpromote._proxy_stats()"),
	'0', "bob, calling the helper directly, sees no one else's");
is($seen->('bp_bob', "SELECT count(*) FROM branchpromote.proxy_stats"), '0', 'nor through the view');

# a call of alice's that waits (the tenant holds the ledger lock on dev)
my $alices_dev = $bp->sql("SELECT branchpromote.connection_uri('alices', 'dev', true)");
($in, $hout, $herr) = ('', '', '');
$holder = IPC::Run::start([ 'psql', '-XAtq', '-d', $alices_dev ], '<', \$in, '>', \$hout, '2>', \$herr);
$in .= "SELECT pg_advisory_lock(2042179386); SELECT 'held';\n";
ok(wait_until(sub { $holder->pump_nb; $hout =~ /held/ }), "alices' tenant holds its ledger lock");
my ($cin, $cout, $cerr) = ('', '', '');
my $call = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ],
	'<', \$cin, '>', \$cout, '2>', \$cerr);
$cin .= "SET branchpromote.migration_lock_timeout = '60s'; SET ROLE bp_alice; "
  . "SELECT branchpromote.apply_migrations('alices', 'dev', "
  . "'[{\"version\": \"0001\", \"sql\": \"CREATE TABLE t (id int)\"}]') IS NOT NULL;\n\\q\n";
ok(wait_until(sub {
			$call->pump_nb;
			$seen->('bp_alice', "SELECT count(*) FROM branchpromote._operations_running()") eq '1' }),
	"alice sees her running call");
is($seen->('bp_bob', "SELECT count(*) FROM branchpromote._operations_running()"), '0',
	"bob, calling the helper directly, does not");
$in .= "SELECT pg_advisory_unlock_all();\n\\q\n";
$holder->finish;
$call->finish;
like($cout, qr/^t$/m, "alice's call completes once the lock is free");

# --- 9. CREATE EXTENSION refuses roles a non-superuser made first
$bp->_drop_all;
$bp->sql("DROP EXTENSION branchpromote; DROP SCHEMA branchpromote CASCADE");
$bp->sql("DROP ROLE bp_alice, bp_bob");
$bp->sql("DROP ROLE branchpromote_admin, branchpromote_deployer, branchpromote_viewer");
$bp->sql("CREATE ROLE mallory CREATEROLE");
$bp->sql("SET ROLE mallory; CREATE ROLE branchpromote_admin; GRANT branchpromote_admin TO mallory");
($st, $err) = $bp->sqlstate("CREATE EXTENSION branchpromote");
is($st, '42710', 'CREATE EXTENSION over a squatted role is refused');
like($err, qr/role "branchpromote_admin" exists already and was not made by a superuser alone/, 'naming it');
like($err, qr/membership of "mallory" granted by mallory/, 'and what was granted');
is($bp->sql("SELECT count(*) FROM pg_extension WHERE extname = 'branchpromote'"), '0', 'nothing installed');
$bp->sql("REVOKE branchpromote_admin FROM mallory");
$bp->sql("ALTER ROLE branchpromote_admin LOGIN");
($st, $err) = $bp->sqlstate("CREATE EXTENSION branchpromote");
is($st, '42710', 'an attribute it must not have is refused too');
like($err, qr/attributes a group role of branchpromote never has/, 'saying so');
$bp->sql("ALTER ROLE branchpromote_admin NOLOGIN");
$bp->sql("CREATE EXTENSION branchpromote");
is($bp->sql("SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid "
		  . "WHERE r.rolname = 'branchpromote_admin'"), '0',
	'a verified role is taken over, with no member but those a superuser granted');
$bp->sql("DROP EXTENSION branchpromote");
$bp->sql("GRANT branchpromote_deployer TO mallory");    # by a superuser: fine
$bp->sql("CREATE EXTENSION branchpromote");
pass('re-creating the extension keeps memberships a superuser granted');
$bp->sql("DROP ROLE mallory");

$bp->teardown;
done_testing();
