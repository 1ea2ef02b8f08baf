# An idle app lives its whole life at zero.  Every call of the API runs on
# a project whose computes were suspended first: it succeeds, its data is
# exact (rows and LSNs), it says what it woke ("woke"), and the computes are
# back at zero afterwards (at once, or by the idle rule).  Every LSN of a new
# prod is reachable at once: rollback_to_lsn to an LSN read in the first
# second after a first deploy, a rollback and a reset.  Races with the idle
# rule: a suspend cannot cut into a call, wakes racing suspends leave the
# catalog true, two calls needing the same compute both succeed.  A crashed
# compute is recovered by the call that needs it.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 29600, proxy_port => 29590);
my $node = $bp->node;

$bp->json("SELECT branchpromote.create_project('acme')");
# an interval is checked whole, and one that would round to 0 ("never") is refused
my ($ist) = $bp->sqlstate("SELECT branchpromote.set_suspend_timeout('acme', '500 microseconds')");
is($ist, '22023', 'a suspend timeout under a millisecond is refused');
($ist) = $bp->sqlstate("SELECT branchpromote.set_suspend_timeout('acme', '100 years 36000 days 870000 hours')");
is($ist, '22023', 'so is one over 100 years in total, each field within it');
$bp->json("SELECT branchpromote.set_suspend_timeout('acme', '1 second')");
my $dev = $bp->uri('acme', 'dev');    # through the proxy: a client wakes what it needs

sub rows
{
	my ($env) = @_;
	return compute_safe_psql($bp->uri('acme', $env), "SELECT string_agg(id::text, ',' ORDER BY id) FROM items");
}

# Write ids before, read the LSN, write ids after: one session, so prod is awake.
sub lsn_between
{
	my ($env, $before, $after) = @_;
	return compute_safe_psql($bp->uri('acme', $env),
		"INSERT INTO items SELECT g, 'x' FROM unnest('{$before}'::int[]) g;\n"
		  . "SELECT pg_current_wal_lsn();\n"
		  . "INSERT INTO items SELECT g, 'y' FROM unnest('{$after}'::int[]) g;");
}

sub envs
{
	return split /,/, $bp->sql("SELECT string_agg(env, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'acme'");
}

# Every compute of the project suspended, as recorded and in fact.
sub at_zero
{
	for my $env (envs())
	{
		my $c = $bp->compute_row('acme', $env);
		return 0 if $c->{actual_state} ne 'suspended' || port_accepts($c->{port});
	}
	return 1;
}

sub to_zero
{
	$bp->json("SELECT branchpromote.suspend_compute('acme', '$_')") for envs();
	ok(at_zero(), 'every compute at zero: ' . join(',', envs()));
}

# A call on an app at zero: what it woke, and back at zero afterwards.
sub on_zero
{
	my ($what, $sql, @woke) = @_;
	to_zero();
	my $r = $bp->json($sql);
	is(join(',', sort keys %{ $r->{woke} }), join(',', @woke), "$what: woke " . (join(',', @woke) || 'nothing'));
	ok($r->{woke}{$_} > 0, "$what: waking $_ took $r->{woke}{$_} ms") for @woke;
	if (@woke == 0 && $what !~ /first deploy|fork_branch/)
	{
		ok(at_zero(), "$what: nothing runs afterwards");
	}
	else
	{
		ok(wait_until(\&at_zero), "$what: back at zero by the idle rule");
	}
	return $r;
}

compute_safe_psql($dev, "CREATE TABLE items (id int PRIMARY KEY, note text); INSERT INTO items VALUES (1, 'dev')");
# dev's history from its first moment: an LSN read right after create_project
my $dev_lsn = lsn_between('dev', '2', '3');

my $r = on_zero('apply_migrations',
	q{SELECT branchpromote.apply_migrations('acme', 'dev', '[{"version": "0001", "sql": "CREATE TABLE t1 (x int)"}]')},
	'dev');
is($r->{applied}[0]{version}, '0001', 'apply_migrations on a suspended dev applied its migration');

$r = on_zero('plan_promotion before prod', "SELECT branchpromote.plan_promotion('acme', 'v1')");
is($r->{action}, 'first_deploy', 'plan_promotion: a first deploy');

$r = on_zero('first deploy', "SELECT branchpromote.promote_branch('acme', 'v1')");
is($r->{action}, 'first_deploy', 'promote_branch of a suspended dev: the first deploy');
is($r->{dev_was_running}, JSON::PP::false, 'forked from its files');
is(rows('prod'), '1,2,3', "prod has dev's rows");

# History from the first moment: right after the first deploy
my $l1 = lsn_between('prod', '10', '11');
$r = $bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l1')");
is(rows('prod'), '1,2,3,10', 'rollback_to_lsn to an LSN of the first second after a first deploy: exact');
# ... right after a rollback
my $l2 = lsn_between('prod', '20', '21');
$bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l2')");
is(rows('prod'), '1,2,3,10,20', 'and of the first second after a rollback: exact');

# dev forked at the LSN read right after create_project
$r = on_zero('fork_branch of dev at an LSN', "SELECT branchpromote.fork_branch('acme', 'dev-early', 'dev', '$dev_lsn')");
is(rows('dev-early'), '1,2', 'fork of dev at an LSN of its first moments: exact');
$bp->json("SELECT branchpromote.discard_branch('acme', 'dev-early')");

# anchors and rollbacks of a suspended prod: from its files, nothing woken
my $l3 = lsn_between('prod', '30', '31');
$r = on_zero('create_anchor', "SELECT branchpromote.create_anchor('acme', 'prod', 'nightly')");
is($bp->sql("SELECT lsn FROM branchpromote.anchors WHERE project = 'acme' AND name = 'nightly'"), $r->{lsn},
	'the anchor of a suspended prod is recorded at its LSN');
my $prod_tl = $bp->compute_row('acme', 'prod')->{timeline};
$r = on_zero('rollback_to_lsn', "SELECT branchpromote.rollback_to_lsn('acme', '$l3')");
is($bp->compute_row('acme', 'prod')->{timeline}, $r->{new_timeline}, 'prod moved to the new timeline while suspended');
is($r->{backup_timeline}, $prod_tl, 'the old one is the backup');
is(rows('prod'), '1,2,3,10,20,30', 'rollback_to_lsn of a suspended prod: exact');
# forks at a stopped snapshot's own LSN, no WAL after it: nothing to replay
my $moved = $r;
$r = on_zero('rollback_to_lsn at the new timeline\'s fork point', "SELECT branchpromote.rollback_to_lsn('acme', '$moved->{lsn}')");
is(rows('prod'), '1,2,3,10,20,30', 'a rollback to the fork point of a suspended prod (its base snapshot, from files): exact');
my $anchor = on_zero('create_anchor again', "SELECT branchpromote.create_anchor('acme', 'prod', 'idle-anchor')");
$r = on_zero('rollback_to_lsn at that anchor', "SELECT branchpromote.rollback_to_lsn('acme', '$anchor->{lsn}')");
is(rows('prod'), '1,2,3,10,20,30', 'a rollback to an anchor of a suspended prod taken from its files: exact');
$r = on_zero('fork_branch of a backup at its head', "SELECT branchpromote.fork_branch('acme', 'old', 'prod-backup-$prod_tl')");
is(rows('old'), '1,2,3,10,20,30,31', 'a fork of the backup has its head');
$bp->json("SELECT branchpromote.discard_branch('acme', 'old')");

# re-deploys of a suspended app: both computes woken, with and without rehearsal
$bp->json(q{SELECT branchpromote.apply_migrations('acme', 'dev', '[{"version": "0001", "sql": "CREATE TABLE t1 (x int)"}, {"version": "0002", "sql": "CREATE TABLE t2 (x int)"}]')});
$r = on_zero('plan_promotion', "SELECT branchpromote.plan_promotion('acme', 'v2')");
is(join(',', @{ $r->{pending} }), '0002', 'plan_promotion from the mirrors: 0002 pending');
$r = on_zero('re-deploy', "SELECT branchpromote.promote_branch('acme', 'v2')", 'dev', 'prod');
is($r->{action}, 'redeploy', 'promote_branch of a suspended app: a re-deploy');
is($r->{rehearsal}{passed}, JSON::PP::true, 'rehearsed');
is(compute_safe_psql($bp->uri('acme', 'prod'), "SELECT to_regclass('t2') IS NOT NULL"), 't', 'prod has the migration');
my $deploy = $r->{deploy_id};
$r = on_zero('rollback_deploy', "SELECT branchpromote.rollback_deploy('acme')");
is($r->{rolled_back_deploy}, $deploy, 'rollback_deploy of a suspended prod');
is(compute_safe_psql($bp->uri('acme', 'prod'), "SELECT to_regclass('t2') IS NULL"), 't', 'the migration is undone');
$r = on_zero('re-deploy without rehearsal', "SELECT branchpromote.promote_branch('acme', 'v3', rehearse => false)", 'dev', 'prod');
is(compute_safe_psql($bp->uri('acme', 'prod'), "SELECT to_regclass('t2') IS NOT NULL"), 't', 'prod has the migration again');

# previews of a suspended prod: at head and at an LSN
my $l4 = lsn_between('prod', '40', '41');
$r = on_zero('fork_branch at head', "SELECT branchpromote.fork_branch('acme', 'pr-1', 'prod')");
is(rows('pr-1'), '1,2,3,10,20,30,40,41', "a preview of a suspended prod at head has prod's rows");
$r = on_zero('fork_branch at an LSN', "SELECT branchpromote.fork_branch('acme', 'pr-2', 'prod', '$l4')");
is(rows('pr-2'), '1,2,3,10,20,30,40', 'a preview of a suspended prod at an LSN: exact');
on_zero('discard_branch', "SELECT branchpromote.discard_branch('acme', 'pr-1')");

# reset of a suspended app, then history from the new prod's first moment
$bp->json("SELECT branchpromote.unprotect('acme', 'prod')");
$r = on_zero('reset_prod', "SELECT branchpromote.reset_prod('acme', 'acme')");
is(rows('prod'), '1,2,3', "after reset_prod prod has dev's rows");
my $l5 = lsn_between('prod', '50', '51');
$bp->json("SELECT branchpromote.rollback_to_lsn('acme', '$l5')");
is(rows('prod'), '1,2,3,50', 'rollback_to_lsn to an LSN of the first second after a reset: exact');

# what only reads the catalog
to_zero();
like($bp->sql("SELECT branchpromote.connection_uri('acme', 'prod')"), qr/^postgresql:/, 'connection_uri of a suspended prod');
is($bp->sql("SELECT branchpromote.compute_manifests('acme', 'prod')->>'kind'") ne '', 1, 'compute_manifests of a suspended prod');
ok(at_zero(), 'neither wakes anything');

# ---------------------------------------------------------------- races

# A suspend cannot cut into a call: it holds the project; after it, the idle rule.
to_zero();
my ($in, $out, $err) = ('', '', '');
my $s1 = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$in, '>', \$out, '2>', \$err);
$in .= "BEGIN;\nSELECT branchpromote.create_anchor('acme', 'dev', 'in-a-transaction') IS NOT NULL;\n"
  . "SELECT branchpromote.apply_migrations('acme', 'dev', '[{\"version\": \"0001\", \"sql\": \"CREATE TABLE t1 (x int)\"}, {\"version\": \"0002\", \"sql\": \"CREATE TABLE t2 (x int)\"}, {\"version\": \"0003\", \"sql\": \"CREATE TABLE t3 (x int)\"}]')->>'woke';\n";
ok(wait_until(sub { $s1->pump_nb; $out =~ /dev/ }), 'a call woke dev inside an open transaction') or diag($err);
my $dev_pid = $bp->pidfile_pid($bp->compute_row('acme', 'dev')->{timeline});
my $since = time();
ok($bp->reconciler_pass && $bp->reconciler_pass, 'the reconciler passes');
ok(time() - $since >= 1, 'past the suspend timeout');
ok($dev_pid && pid_alive($dev_pid), 'dev is not suspended under an open call: the same server runs');
is($bp->compute_row('acme', 'dev')->{actual_state}, 'suspended', 'the committed catalog still says suspended (the call records running at its commit)');
$in .= "COMMIT;\n\\q\n";
$s1->finish;
ok(wait_until(\&at_zero), 'after the commit the idle rule suspends it');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE project = 'acme' AND name = 'in-a-transaction'"), '1',
	'the call committed');

# Each statement in a psql of its own, all at once; returns when all ended
# (an error is one of the outcomes a race may have).
sub concurrently
{
	my @h;
	for my $sql (@_)
	{
		my ($o, $e) = ('', '');
		push @h, IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', $sql ], '>', \$o, '2>', \$e);
	}
	$_->finish for @h;
	return;
}

# Wakes racing suspends: whatever wins, the catalog says what runs.
for my $round (1 .. 10)
{
	concurrently("SELECT branchpromote.wake_compute('acme', 'dev')", "SELECT branchpromote.suspend_compute('acme', 'dev')");
	my $c = $bp->compute_row('acme', 'dev');
	is(($c->{actual_state} eq 'running') ? 1 : 0, port_accepts($c->{port}) ? 1 : 0,
		"round $round: the catalog says $c->{actual_state}, and so it is");
}

# A wake racing its project's drop: whichever commits first, the pass
# stops what the drop left, nothing is recorded as failed, and
# undrop_project brings the compute back at zero.
$bp->json("SELECT branchpromote.create_project('racer')");
$node->safe_psql('postgres', "ALTER SYSTEM SET branchpromote.recovery_window = '7d'; SELECT pg_reload_conf()");
ok(wait_until(sub { $bp->sql("SHOW branchpromote.recovery_window") eq '7d' }), 'dropped projects are kept for now');
my $racer = "(SELECT c.actual_state || ':' || c.port FROM branchpromote.compute c JOIN branchpromote.project p "
  . "ON p.id = c.project_id WHERE p.name = 'racer' AND c.env = 'dev')";
# First in a known order: a wake asked while the drop is open waits for
# the project; once the drop commits, it is refused, and nothing starts.
$bp->json("SELECT branchpromote.suspend_compute('racer', 'dev')");
my ($din, $dout, $derr) = ('', '', '');
my $drop = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$din, '>', \$dout, '2>', \$derr);
$din .= "BEGIN;\nSELECT branchpromote.drop_project('racer', 'racer') IS NOT NULL;\n";
ok(wait_until(sub { $drop->pump_nb; $dout =~ /^t$/m }), 'a drop holds the project, not committed yet') or diag($derr);
my ($rwout, $rwerr) = ('', '');
my $rwake = IPC::Run::start([ 'psql', '-XAtq', '-v', 'VERBOSITY=verbose', '-d', $node->connstr('postgres'), '-c',
	"SELECT branchpromote.wake_compute('racer', 'dev')" ], '>', \$rwout, '2>', \$rwerr);
ok( wait_until(
		sub {
			$bp->sql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%wake_compute(''racer''%' "
				  . "AND wait_event_type = 'Extension' AND pid <> pg_backend_pid()") eq '1';
		}),
	'a wake waits on the reconciler meanwhile');
$din .= "COMMIT;\n\\q\n";
$drop->finish;
ok(!$rwake->finish, 'once the drop commits, the wake fails');
like($rwerr, qr/compute \d+ is not to run: its project was dropped/, 'refused: its project was dropped');
ok($bp->reconciler_pass, 'the reconciler passes');
like($bp->sql("SELECT $racer"), qr/^stopped:/, 'its dev is recorded stopped: nothing started, nothing failed');
$bp->json("SELECT branchpromote.undrop_project('racer')");

# Then racing, in whatever order they come.
for my $round (1 .. 3)
{
	concurrently("SELECT branchpromote.wake_compute('racer', 'dev')", "SELECT branchpromote.drop_project('racer', 'racer')");
	ok($bp->reconciler_pass, "drop round $round: the reconciler passes");
	my ($state, $port) = split /:/, $bp->sql("SELECT $racer");
	is($state, 'stopped', "drop round $round: the dropped project's dev is recorded stopped, not failed");
	ok(!port_accepts($port), "drop round $round: and nothing listens on its port");
	$bp->json("SELECT branchpromote.undrop_project('racer')");
	is((split /:/, $bp->sql("SELECT $racer"))[0], 'suspended', "drop round $round: undrop_project brings it back at zero");
}
$node->safe_psql('postgres', "ALTER SYSTEM RESET branchpromote.recovery_window; SELECT pg_reload_conf()");
ok(wait_until(sub { $bp->sql("SHOW branchpromote.recovery_window") eq '0' }), 'and removed at once again');

# Two calls that both need dev: one wakes it, both succeed.
to_zero();
my @calls;
for my $i (1 .. 2)
{
	my ($o, $e) = ('', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres'), '-c',
		q{SELECT branchpromote.apply_migrations('acme', 'dev', '[{"version": "0001", "sql": "CREATE TABLE t1 (x int)"}, {"version": "0002", "sql": "CREATE TABLE t2 (x int)"}, {"version": "0003", "sql": "CREATE TABLE t3 (x int)"}, {"version": "0004", "sql": "CREATE TABLE t4 (x int)"}]')} ],
		'>', \$o, '2>', \$e);
	push @calls, [ $h, \$o, \$e ];
}
my @results;
for my $c (@calls)
{
	ok($c->[0]->finish, 'a concurrent call on a suspended dev succeeded') or diag(${ $c->[2] });
	push @results, JSON::PP::decode_json(${ $c->[1] });
}
is(join(',', sort map { join('+', keys %{ $_->{woke} }) } @results), ',dev', 'exactly one of them woke dev');
is(join(',', sort map { scalar @{ $_->{applied} } } @results), '0,1', 'the migration was applied once');
ok(wait_until(\&at_zero), 'back at zero');

# One project's open call holds up no other project's (no global lock on ports).
my ($oin, $oout, $oerr) = ('', '', '');
my $open = IPC::Run::start([ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$oin, '>', \$oout, '2>', \$oerr);
$oin .= "BEGIN;\nSELECT branchpromote.fork_branch('acme', 'held', 'dev') IS NOT NULL;\n";
ok(wait_until(sub { $open->pump_nb; $oout =~ /^t$/m }), 'a fork of acme in a transaction left open') or diag($oerr);
my $t_other = time();
my ($rc_other) = $node->psql('postgres', "SET statement_timeout = '30s'; SELECT branchpromote.create_project('other')");
is($rc_other, 0, 'another project is created meanwhile');
ok(time() - $t_other < 30, 'without waiting for the open transaction');
$oin .= "ROLLBACK;\n\\q\n";
$open->finish;

# One project's slow start holds up no other project's wake: the reconciler
# never waits on a start.  acme's dev start hangs: a FIFO stands where its
# postmaster makes its socket's lock file, and opening it blocks.
$bp->json("SELECT branchpromote.suspend_compute('other', 'dev')");
to_zero();
my $adev = $bp->compute_row('acme', 'dev');
my $acme_dev_id = $bp->sql("SELECT c.id FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id "
	  . "WHERE p.name = 'acme' AND c.env = 'dev'");
my $hang = "$bp->{sockdir}/c$acme_dev_id/.s.PGSQL.$adev->{port}.lock";
mkdir("$bp->{sockdir}/c$acme_dev_id");
unlink($hang);
system('mkfifo', '-m', '0666', $hang) == 0 or die "mkfifo $hang failed";
my ($win, $wout, $werr) = ('', '', '');
my $wake_a = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	"SET statement_timeout = '120s'; SELECT branchpromote.wake_compute('acme', 'dev')" ], '>', \$wout, '2>', \$werr);
ok(wait_until(sub { $bp->pidfile_pid($adev->{timeline}) > 0 }), "acme's dev start is under way");
my $t_b = time();
is(compute_safe_psql($bp->uri('other', 'dev'), 'SELECT 1'), '1', "other's dev is woken through the proxy meanwhile");
ok(time() - $t_b < 30, 'within its usual time, not after the hung start gives up');
$wake_a->pump_nb;
ok($wout eq '' && $werr eq '' && $bp->compute_row('acme', 'dev')->{actual_state} eq 'suspended',
	"acme's dev start still hangs: the wake did not wait behind it");
# A suspend while the start hangs wins: the waiting wake is told at once,
# and the compute is recorded suspended, not failed.
my $hung = $bp->pidfile_pid($adev->{timeline});
my ($sout, $serr) = ('', '');
my $suspend_a = IPC::Run::start([ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
	"SET statement_timeout = '120s'; SELECT branchpromote.suspend_compute('acme', 'dev')->>'state'" ],
	'>', \$sout, '2>', \$serr);
ok(wait_until(sub { $wake_a->pump_nb; $werr =~ /was stopped while it was starting/ }),
	"a suspend during the hung start answers the waiting wake: it was stopped while starting");
# let the hung postmaster read its lock file (empty: it gives up and exits)
open(my $fifo, '>', $hang) or die "open $hang: $!";
close($fifo);
$wake_a->finish;
ok($suspend_a->finish, 'the suspend succeeds') or diag($serr);
is($sout, "suspended\n", 'it says suspended');
ok(wait_until(sub { !pid_alive($hung) }), 'the hung postmaster is gone');
my $after = $bp->compute_row('acme', 'dev');
is(($after->{actual_state} // '') . '|' . ($after->{last_error} // ''), 'suspended|',
	'recorded suspended, with no error: not failed');
unlink($hang);
$bp->json("SELECT branchpromote.wake_compute('acme', 'dev')");
ok(port_accepts($bp->compute_row('acme', 'dev')->{port}), "acme's dev starts once nothing blocks it");

# ... nor its slow snapshot: periodic snapshots run in a job's worker.
# acme's prod cannot archive (its archive is read-only), so the snapshot
# waits for its WAL up to operation_timeout.
$bp->json("SELECT branchpromote.suspend_compute('other', 'dev')");
$bp->json("SELECT branchpromote.set_suspend_timeout('acme', '0')");
$bp->json("SELECT branchpromote.wake_compute('acme', 'prod')");
my $archive = $bp->timeline_dir($bp->compute_row('acme', 'prod')->{timeline}) . '/archive';
my $archive_mode = (stat($archive))[2] & 07777;
chmod(0550, $archive) or die "chmod $archive: $!";
my $snaps_before = $bp->sql("SELECT count(*) FROM branchpromote.snapshots WHERE project = 'acme' AND reason = 'periodic'");
$node->safe_psql('postgres', "ALTER SYSTEM SET branchpromote.snapshot_interval = '1s'; "
	  . "ALTER SYSTEM SET branchpromote.operation_timeout = '15s'; SELECT pg_reload_conf()");
my $job_sql = "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'branchpromote job' "
  . "AND query LIKE '%snapshot of compute%'";
ok(wait_until(sub { $bp->sql($job_sql) eq '1' }), "a job's worker takes acme's prod snapshot");
$t_b = time();
is(compute_safe_psql($bp->uri('other', 'dev'), 'SELECT 1'), '1', "other's dev is woken through the proxy meanwhile");
ok(time() - $t_b < 10, 'within its usual time');
is($bp->sql($job_sql), '1', 'while the snapshot still waits for its WAL');
ok(wait_until(sub { $node->log_contains(qr/periodic snapshot of compute \d+ failed: WAL segment \S+ was not archived within 15000 ms/) }),
	'the job gave up at operation_timeout, and the reconciler heard it');
ok(wait_until(sub { $bp->sql($job_sql) eq '0' }), "the job's worker is gone");
chmod($archive_mode, $archive) or die "chmod $archive: $!";
$node->safe_psql('postgres', "ALTER SYSTEM RESET branchpromote.snapshot_interval; "
	  . "ALTER SYSTEM RESET branchpromote.operation_timeout; SELECT pg_reload_conf()");
is($bp->sql("SELECT count(*) FROM branchpromote.snapshots WHERE project = 'acme' AND reason = 'periodic'"),
	$snaps_before, 'no snapshot was recorded for it');
$bp->json("SELECT branchpromote.set_suspend_timeout('acme', '1 second')");
$bp->json("SELECT branchpromote.drop_project('other', 'other')");

# A crashed compute: the call that needs it has it recovered.
compute_safe_psql($bp->uri('acme', 'prod'), "INSERT INTO items VALUES (60, 'before the crash')");
my $prod = $bp->compute_row('acme', 'prod');
my $pgdata = $bp->pgdata($prod->{timeline});
my $pid = $bp->pidfile_pid($prod->{timeline});
if ($ENV{BP_TEST_COMPUTE_USER})
{
	system('sudo', '-n', $node->config_data('--bindir') . '/branchpromote_helper', $ENV{BP_TEST_COMPUTE_USER},
		'signal', $pgdata, 'KILL') == 0 or die "could not kill prod's postmaster";
}
else
{
	kill 'KILL', $pid;
}
ok(wait_until(sub { !pid_alive($pid) }), "prod's postmaster is killed");
$r = $bp->json("SELECT branchpromote.create_anchor('acme', 'prod', 'after-crash')");
ok($r->{lsn}, 'create_anchor on a crashed prod succeeds');
is(rows('prod'), '1,2,3,50,60', 'prod recovered its committed rows');

$r = on_zero('drop_project', "SELECT branchpromote.drop_project('acme', 'acme')");
is($r->{dropped}, 'acme', 'drop_project of a suspended app');

$bp->teardown;
done_testing();
