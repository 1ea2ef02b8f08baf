# Migrations that never take prod down.  Checked by PostgreSQL's own parser
# before anything runs (transaction control, statements that cannot run in
# a transaction block, COPY, syntax errors: refused with an SQLSTATE,
# nothing changed on dev or prod).  Non-transactional migrations
# ("transaction": false): CREATE INDEX CONCURRENTLY on dev and through a
# rehearsed re-deploy on prod, valid on both; a failure part way (what took
# effect stays, no INVALID index, nothing recorded) and a retry; a crash of
# the calling backend inside one.  A call stays cancellable.  A re-deploy
# whose ALTER TABLE meets a long prod transaction retries after short lock
# timeouts and succeeds once the blocker is gone, while prod's other
# clients never wait longer than one lock timeout.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use JSON::PP;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);

my $bp = BranchPromoteTest->new_node('main', port_base => 29700);
my $node = $bp->node;
# a killed backend makes the postmaster reinitialize, as in production
$node->append_conf('postgresql.conf', "restart_after_crash = on\n");
$node->reload;

$bp->json("SELECT branchpromote.create_project('shop')");
my $dev = $bp->uri('shop', 'dev');
compute_safe_psql($dev, "CREATE TABLE items (id int PRIMARY KEY, note text); INSERT INTO items SELECT g, 'n' || (g % 10) FROM generate_series(1, 1000) g");

sub migs { return JSON::PP->new->canonical->encode(\@_) }
sub apply
{
	my ($env, @m) = @_;
	return "SELECT branchpromote.apply_migrations('shop', '$env', '" . (migs(@m) =~ s/'/''/gr) . "')";
}
# what a refused call must leave as it was: the ledger and the schema
sub schema
{
	my ($uri) = @_;
	return compute_safe_psql($uri,
		"SELECT (SELECT string_agg(version, ',' ORDER BY version) FROM branchpromote_ledger.migrations) || ' | ' || "
		  . "(SELECT string_agg(relname, ',' ORDER BY relname) FROM pg_class WHERE relnamespace = 'public'::regnamespace)");
}
sub refused
{
	my ($what, $env, $uri, $want_state, $want_msg, @m) = @_;
	my $before = schema($uri);
	my ($st, $err) = $bp->sqlstate(apply($env, @m));
	is($st, $want_state, "$what: refused with $want_state");
	like($err, $want_msg, "$what: says why") if $want_msg;
	is(schema($uri), $before, "$what: nothing changed");
	return $err;
}

$bp->json(apply('dev', { version => '0000', sql => 'CREATE TABLE base (x int)' }));

# ------------------------------------------------------------- the checks
my $err = refused('COMMIT in a transactional migration', 'dev', $dev, '25000', qr/contains transaction control \(COMMIT\).*HINT:.*remove "COMMIT"/s,
	{ version => '0001', sql => "CREATE TABLE a (x int); COMMIT; CREATE TABLE b (x int)" });
refused('PREPARE TRANSACTION', 'dev', $dev, '25000', qr/PREPARE TRANSACTION/,
	{ version => '0001', sql => "CREATE TABLE a (x int); PREPARE TRANSACTION 'x'" });
refused('CREATE INDEX CONCURRENTLY in a transactional migration', 'dev', $dev, '25001',
	qr/CREATE INDEX cannot run inside a transaction block.*HINT:.*"transaction": false/s,
	{ version => '0001', sql => "CREATE INDEX CONCURRENTLY items_note ON items (note)" });
refused('VACUUM in a transactional migration', 'dev', $dev, '25001', qr/VACUUM cannot run inside a transaction block/,
	{ version => '0001', sql => "VACUUM items" });
refused('COPY from the client', 'dev', $dev, '0A000', qr/uses COPY from the client/,
	{ version => '0001', sql => "COPY items FROM STDIN" });
refused('COPY to the client', 'dev', $dev, '0A000', qr/uses COPY to the client/,
	{ version => '0001', sql => "COPY items TO STDOUT", transaction => JSON::PP::false });
refused('SQL that does not parse', 'dev', $dev, '42601', qr/does not parse: syntax error at or near "\(".*DETAIL:\s+At line 2, column 14/s,
	{ version => '0001', sql => "SELECT 1;\nCREATE TABLE (x int)" });
refused('BEGIN in a non-transactional migration', 'dev', $dev, '25000', qr/transaction control \(BEGIN\)/,
	{ version => '0001', sql => "BEGIN; CREATE INDEX CONCURRENTLY i ON items (note)", transaction => JSON::PP::false });
refused('an unnamed CREATE INDEX CONCURRENTLY', 'dev', $dev, '22023', qr/needs an index name/,
	{ version => '0001', sql => "CREATE INDEX CONCURRENTLY ON items (note)", transaction => JSON::PP::false });
refused('"transaction" not a boolean', 'dev', $dev, '22023', qr/"transaction" must be true or false/,
	{ version => '0001', sql => "SELECT 1", transaction => 'no' });
refused('"name": null', 'dev', $dev, '22023', qr/"name" must be a string/,
	{ version => '0001', name => undef, sql => "SELECT 1" });
refused('a good migration before a refused one', 'dev', $dev, '25000', undef,
	{ version => '0001', sql => "CREATE TABLE a (x int)" }, { version => '0002', sql => "ROLLBACK" });

# the test-only fault injection is a superuser's alone
$bp->sql("CREATE ROLE plain LOGIN");
my ($cst) = $bp->sqlstate("SET ROLE plain; SET branchpromote.crash_at = 'plan'");
is($cst, '42501', 'branchpromote.crash_at cannot be set by a non-superuser');
is($bp->sql("SELECT count(*) FROM pg_settings WHERE name = 'branchpromote.crash_at'"), '0', 'and SHOW ALL hides it');

# ------------------------------------------- non-transactional migrations
my @history = (
	{ version => '0000', sql => 'CREATE TABLE base (x int)' },
	{ version => '0001', sql => 'CREATE TABLE audit (id int)' },
	{ version => '0002', sql => 'CREATE INDEX CONCURRENTLY items_note ON items (note)', transaction => JSON::PP::false },
	{ version => '0003', sql => 'CREATE TABLE after_index (id int)' });
my $r = $bp->json(apply('dev', @history));
is(join(',', map { $_->{version} } @{ $r->{applied} }), '0001,0002,0003', 'CREATE INDEX CONCURRENTLY through apply_migrations on dev');
is(compute_safe_psql($dev, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_note'::regclass"), 't', 'the index is valid on dev');
is(compute_safe_psql($dev, "SELECT string_agg(version || '=' || transactional, ',' ORDER BY version) FROM branchpromote_ledger.migrations"),
	'0000=true,0001=true,0002=false,0003=true', 'the ledger says which ran outside a transaction');
ok(scalar @{ $r->{attempts} } >= 3, 'the result lists the attempts');

$bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
my $prod = $bp->uri('shop', 'prod');
compute_safe_psql($prod, "INSERT INTO items SELECT g, 'p' FROM generate_series(1001, 2000) g");
push @history,
  { version => '0004', sql => "CREATE INDEX CONCURRENTLY items_id_note ON items (id, note);\nCREATE INDEX CONCURRENTLY items_note2 ON items (note)", transaction => JSON::PP::false },
  { version => '0005', sql => 'ALTER TABLE items ADD COLUMN flag int' };
$bp->json(apply('dev', @history));
$r = $bp->json("SELECT branchpromote.promote_branch('shop', 'v2')");
is(join(',', @{ $r->{migrations_applied} }), '0004,0005', 'a rehearsed re-deploy applied the non-transactional migration to prod');
is($r->{rehearsal}{passed}, JSON::PP::true, 'the rehearsal ran it too');
is(compute_safe_psql($prod, "SELECT count(*) FILTER (WHERE indisvalid) || '/' || count(*) FROM pg_index WHERE indexrelid IN ('items_id_note'::regclass, 'items_note2'::regclass)"),
	'2/2', 'both indexes are valid on prod');
is(compute_safe_psql($prod, "SELECT count(*) FROM items"), '2000', "prod kept its rows");

# a tenant who slips transaction control into dev's ledger cannot get it to prod
compute_safe_psql($dev, "INSERT INTO branchpromote_ledger.migrations (version, checksum, sql) VALUES ('0006', 'x', 'COMMIT')");
my $prod_before = schema($prod);
my ($st) = $bp->sqlstate("SELECT branchpromote.promote_branch('shop', 'v3')");
is($st, '25000', 'a re-deploy of a ledger row with COMMIT is refused');
is(schema($prod), $prod_before, 'and prod is unchanged');
compute_safe_psql($dev, "DELETE FROM branchpromote_ledger.migrations WHERE version = '0006'");

# a failure part way, then a retry
my $part = { version => '0006', transaction => JSON::PP::false,
	sql => "ALTER TABLE items ADD COLUMN code int;\nCREATE UNIQUE INDEX CONCURRENTLY items_code ON items (note)" };
($st, $err) = $bp->sqlstate(apply('dev', @history, $part));
is($st, '23505', 'a non-transactional migration that fails part way fails the call with its error');
like($err, qr/statement 2 of 2 of non-transactional migration "0006" \(the statements before it took effect/, 'and says which statement, and what stays');
is(compute_safe_psql($dev, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'code'"), '1',
	'the statement before it took effect');
is(compute_safe_psql($dev, "SELECT to_regclass('items_code') IS NULL"), 't', 'the failed build left no INVALID index');
is(compute_safe_psql($dev, "SELECT count(*) FROM branchpromote_ledger.migrations WHERE version = '0006'"), '0', 'the migration is not recorded');
$part->{sql} = "ALTER TABLE items ADD COLUMN IF NOT EXISTS code int;\nCREATE UNIQUE INDEX CONCURRENTLY items_code ON items (id)";
$r = $bp->json(apply('dev', @history, $part));
is(join(',', map { $_->{version} } @{ $r->{applied} }), '0006', 'the re-runnable retry applies it');
is(compute_safe_psql($dev, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_code'::regclass"), 't', 'its index is valid');
push @history, $part;

# ------------------------------------------------------------ cancellable
my ($in, $out, $cerr) = ('', '', '');
my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ], '<', \$in, '>', \$out, '2>', \$cerr);
$in .= "SELECT pg_backend_pid();\n" . apply('dev', @history, { version => '0007', sql => 'SELECT pg_sleep(600)' }) . ";\n";
ok(wait_until(sub { $h->pump_nb; $out =~ /^\d+$/m }), 'a call that runs a long migration');
my ($caller) = $out =~ /^(\d+)$/m;
ok(wait_until(sub { compute_safe_psql($dev, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '1' }),
	'its statement runs on dev');
my $t0 = time();
$bp->sql("SELECT pg_cancel_backend($caller)");
$in .= "\\q\n";
$h->finish;
like($cerr, qr/canceling statement due to user request/, 'pg_cancel_backend ends the call');
ok(time() - $t0 < 10, 'within seconds');
ok(wait_until(sub { compute_safe_psql($dev, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '0' }, 10),
	'and the statement on dev is cancelled too');

# ------------------------------------------ a crash inside a non-transactional one
my $crash = { version => '0007', transaction => JSON::PP::false,
	sql => "CREATE INDEX CONCURRENTLY items_flag ON items (flag);\nSELECT pg_sleep(600)" };
($in, $out, $cerr) = ('', '', '');
$h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ], '<', \$in, '>', \$out, '2>', \$cerr);
$in .= "SELECT pg_backend_pid();\n" . apply('dev', @history, $crash) . ";\n";
ok(wait_until(sub { $h->pump_nb; $out =~ /^\d+$/m }), 'a call inside a non-transactional migration');
($caller) = $out =~ /^(\d+)$/m;
ok(wait_until(sub { compute_safe_psql($dev, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '1' }),
	'at its second statement');
kill 'KILL', $caller;
$h->finish;
ok(wait_until(sub { $node->psql('postgres', 'SELECT 1') == 0 }, 60), 'the control server is back after the crash');
ok(wait_until(sub { compute_safe_psql($dev, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '0' }, 15),
	'the statement does not outlive the crashed caller');
is(compute_safe_psql($dev, "SELECT count(*) FROM branchpromote_ledger.migrations WHERE version = '0007'"), '0', 'the migration is not recorded');
is(compute_safe_psql($dev, "SELECT indisvalid FROM pg_index WHERE indexrelid = 'items_flag'::regclass"), 't', 'what finished before the crash stays');
ok(wait_until(sub { $bp->sql("SELECT count(*) FROM branchpromote.operations WHERE kind = 'apply_migrations' AND status = 'failed' AND error LIKE 'its backend ended%'") eq '1' }),
	'the journal records the call as failed');
$crash->{sql} = "CREATE INDEX CONCURRENTLY IF NOT EXISTS items_flag ON items (flag);\nSELECT 1";
$r = $bp->json(apply('dev', @history, $crash));
is(join(',', map { $_->{version} } @{ $r->{applied} }), '0007', 'the retry applies it');
push @history, $crash;

# ------------------------------ a migration that switches its timeouts off
my ($kin, $kout, $kerr) = ('', '', '');
my $locker = IPC::Run::start([ 'psql', '-XAtq', '-d', $dev ], '<', \$kin, '>', \$kout, '2>', \$kerr);
$kin .= "BEGIN;\nSELECT 'holding', count(*) FROM items;\n";
ok(wait_until(sub { $locker->pump_nb; $kout =~ /holding/ }), 'a transaction on dev holds a lock on items');
$t0 = time();
($st, $err) = $bp->sqlstate("SET branchpromote.migration_statement_timeout = '2s'; "
	  . apply('dev', @history, { version => '0008', sql => 'SET lock_timeout = 0; SET statement_timeout = 0; ALTER TABLE items ADD COLUMN x8 int' }));
my $took = time() - $t0;
is($st, '57014', 'a migration that switches its own timeouts off is still stopped');
ok($took >= 2 && $took < 10, sprintf('after migration_statement_timeout + 1 s (%.1f s)', $took));
ok(wait_until(sub { compute_safe_psql($dev, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%ADD COLUMN x8%' AND pid <> pg_backend_pid()") eq '0' }, 10),
	'and its statement is cancelled on the compute');
$kin .= "COMMIT;\n\\q\n";
$locker->finish;

# ------------------------------ two migration runs in one caller transaction
($st, $err) = $bp->sqlstate("BEGIN; " . apply('dev', @history, { version => '0008', sql => 'CREATE TABLE t8 (x int)' }) . "; "
	  . apply('dev', @history, { version => '0008', sql => 'CREATE TABLE t8 (x int)' }, { version => '0009', sql => 'CREATE TABLE t9 (x int)' }) . "; COMMIT");
is($st, '25001', 'a second migration run on a compute in one transaction is refused at once');
like($err, qr/already ran migrations on the dev compute/, 'saying why');
is(compute_safe_psql($dev, "SELECT count(*) FROM branchpromote_ledger.migrations WHERE version >= '0008'"), '0', 'and nothing of either stays');

# ---------------------------------------- short lock waits, retried, on a busy prod
push @history, { version => '0008', sql => 'ALTER TABLE items ADD COLUMN tag text' };
$bp->json(apply('dev', @history));
my $lock_ms = 500;
is($bp->sql("SHOW branchpromote.migration_lock_timeout"), '500ms', 'the default lock timeout is 500 ms');
# a long prod transaction holds a lock the ALTER TABLE needs
my ($bin, $bout, $berr) = ('', '', '');
my $blocker = IPC::Run::start([ 'psql', '-XAtq', '-d', $prod ], '<', \$bin, '>', \$bout, '2>', \$berr);
$bin .= "BEGIN;\nSELECT 'holding', count(*) FROM items;\n";
ok(wait_until(sub { $blocker->pump_nb; $bout =~ /holding/ }), 'a long transaction on prod holds a lock on items');
# prod's other clients, timed per transaction
my $logdir = PostgreSQL::Test::Utils::tempdir();
my $script = "$logdir/select.sql";
open(my $fh, '>', $script) or die;
print $fh "SELECT count(*) FROM items WHERE id = 1;\n";
close($fh);
my ($pout, $perr) = ('', '');
my $pgbench = IPC::Run::start([ 'pgbench', '-n', '-c', '4', '-T', '8', '-f', $script, '-l', "--log-prefix=$logdir/lat", $prod ],
	'>', \$pout, '2>', \$perr);
usleep(500_000);
my ($din, $dout, $derr) = ('', '', '');
my $log_from = -s $node->logfile;
my $deploy = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'),
	'-c', "SELECT branchpromote.promote_branch('shop', 'v4', rehearse => false)" ], '>', \$dout, '2>', \$derr);
# the blocker lives for several lock timeouts: three retries logged
ok(wait_until(sub { my @r = (substr(slurp_file($node->logfile), $log_from) =~ /retrying in \d+ ms/g); @r >= 3 }, 30),
	'the deploy meets the lock and retries');
$bin .= "COMMIT;\n\\q\n";
$blocker->finish;
ok($deploy->finish, 'the re-deploy succeeds once the blocker is gone') or diag($derr);
$pgbench->finish;
$r = decode_json($dout);
my @failed = grep { $_->{result} eq '55P03' } @{ $r->{attempts} };
ok(@failed >= 2, scalar(@failed) . ' lock timeouts were retried');
is($r->{attempts}[-1]{result}, 'ok', 'the last attempt succeeded');
is($bp->sql("SELECT jsonb_array_length(attempts) FROM branchpromote.deploys WHERE release = 'v4'"), scalar @{ $r->{attempts} },
	'the deploy row lists the attempts');
is(compute_safe_psql($prod, "SELECT count(*) FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'tag'"), '1', 'prod has the column');
my $max_us = 0;
my $n = 0;
for my $f (glob("$logdir/lat*"))
{
	open(my $lf, '<', $f) or die;
	while (<$lf>) { my @c = split; $n++; $max_us = $c[2] if $c[2] > $max_us }
	close($lf);
}
ok($n > 100, "prod's clients ran $n transactions meanwhile");
cmp_ok($max_us / 1000, '<=', $lock_ms + 250, sprintf("their worst wait was %.0f ms: within one lock timeout (%d ms) and a margin", $max_us / 1000, $lock_ms));

# ------------------------------------------- a promotion ended by pg_terminate_backend
push @history, { version => '0009', sql => 'SELECT pg_sleep(600)' };
$bp->json(apply('dev', @history[0 .. $#history - 1]));
compute_safe_psql($dev, "INSERT INTO branchpromote_ledger.migrations (version, checksum, sql) VALUES ('0009', 'x', 'SELECT pg_sleep(600)')");
($in, $out, $cerr) = ('', '', '');
$h = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres') ], '<', \$in, '>', \$out, '2>', \$cerr);
$in .= "SELECT pg_backend_pid();\nSELECT branchpromote.promote_branch('shop', 'v5', rehearse => false);\n";
ok(wait_until(sub { $h->pump_nb; $out =~ /^\d+$/m }), 'a re-deploy that runs a long migration');
($caller) = $out =~ /^(\d+)$/m;
ok(wait_until(sub { compute_safe_psql($prod, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '1' }),
	'its migration runs on prod');
$bp->sql("SELECT pg_terminate_backend($caller)");
eval { $h->finish };    # psql ends with its connection
ok(wait_until(sub { $bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE release = 'v5' AND status = 'failed' AND action = 'redeploy'") eq '1' }),
	'a re-deploy ended by pg_terminate_backend is recorded in deploys');
like($bp->sql("SELECT error FROM branchpromote.deploys WHERE release = 'v5'"), qr/^its backend was ended/, 'saying how it ended');
ok(wait_until(sub { compute_safe_psql($prod, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()") eq '0' }, 15),
	'and its migration does not keep running on prod');

$bp->teardown;
done_testing();
