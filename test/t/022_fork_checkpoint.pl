# Forks of a running source that start from its last checkpoint instead of
# pg_backup_start's: while pgbench writes, checkpoints complete and tables
# are created and dropped on the source, every fork (a first deploy,
# previews of dev and of prod, a fork at an LSN from such a fork's base
# snapshot) is consistent; with more WAL than the limit since the
# checkpoint, a fork asks pg_backup_start for a fresh one.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 30200);

# The compute's superuser: the control plane's OS user, by peer.
sub admin_uri
{
	my ($project, $env) = @_;
	my $port = $bp->compute_row($project, $env)->{port};
	return 'postgresql:///' . $project . '?host=' . $bp->socket_dir_for_port($port) . "&port=$port";
}

# pgbench's tpcb-like transaction adds one delta to an account, its teller
# and its branch, and logs it in history: the four sums agree in any
# consistent state.
my $BALANCED = "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history) "
  . "AND (SELECT sum(tbalance) FROM pgbench_tellers) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history) "
  . "AND (SELECT sum(bbalance) FROM pgbench_branches) = (SELECT coalesce(sum(delta), 0) FROM pgbench_history)";

# A fork is consistent: balanced sums, and its indexes agree with its heap.
sub check_fork
{
	my ($project, $env, $what) = @_;
	is(compute_safe_psql($bp->uri($project, $env), $BALANCED), 't', "$what: the pgbench sums agree");
	is( compute_safe_psql(admin_uri($project, $env),
			"CREATE EXTENSION IF NOT EXISTS amcheck; "
			  . "SELECT count(*) FROM (SELECT bt_index_parent_check(c.oid, true) FROM pg_class c "
			  . "WHERE c.relkind = 'i' AND c.relname LIKE 'pgbench%') s"),
		'3', "$what: its three pgbench indexes pass amcheck, every heap tuple indexed");
}

# The label a fork's first start left as backup_label.old.
sub fork_label
{
	my ($project, $env) = @_;
	return slurp_file($bp->pgdata($bp->compute_row($project, $env)->{timeline}) . '/backup_label.old');
}

$bp->json("SELECT branchpromote.create_project('shop')");
my $dev = $bp->uri('shop', 'dev');
my ($out, $err) = run_command([ 'pgbench', '-i', '-q', '-s', '2', $dev ]);
like($out . $err, qr/done/, 'pgbench -i on dev');
compute_safe_psql($dev, 'CREATE TABLE stop_churn (x int)');
compute_safe_psql(admin_uri('shop', 'dev'), 'CHECKPOINT');

# The load: pgbench, a session creating, filling and dropping tables (files
# that come and go between the checkpoint and the clone), and checkpoints
# completing while forks clone; paced, so that less WAL than the limit
# follows each checkpoint.
my ($bench_out, $bench_err) = ('', '');
my $bench = IPC::Run::start([ 'pgbench', '-n', '-c', '2', '-R', '100', '-T', '600', $dev ],
	'>', \$bench_out, '2>', \$bench_err);
my ($churn_out, $churn_err) = ('', '');
my $churn = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $dev, '-c', <<'SQL' ], '>', \$churn_out, '2>', \$churn_err);
DO $$
BEGIN
	LOOP
		CREATE TABLE churn (id int PRIMARY KEY, pad text);
		INSERT INTO churn SELECT g, repeat('c', 200) FROM generate_series(1, 200) g;
		COMMIT;
		TRUNCATE churn;
		COMMIT;
		DROP TABLE churn;
		COMMIT;
		PERFORM pg_sleep(0.05);
		EXIT WHEN EXISTS (SELECT 1 FROM stop_churn);
	END LOOP;
END
$$;
SQL
my ($ckpt_out, $ckpt_err) = ('', '');
my $ckpt = IPC::Run::start(
	[ 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', admin_uri('shop', 'dev'), '-c', <<'SQL' ], '>', \$ckpt_out, '2>', \$ckpt_err);
DO $$
BEGIN
	LOOP
		CHECKPOINT;
		PERFORM pg_sleep(0.1);
		EXIT WHEN EXISTS (SELECT 1 FROM stop_churn);
	END LOOP;
END
$$;
SQL
ok(wait_until(sub { compute_safe_psql($dev, 'SELECT count(*) FROM pgbench_history') >= 200 }),
	'pgbench is committing on dev');

my $p = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");
is($p->{action}, 'first_deploy', 'a first deploy of the busy dev');
like(fork_label('shop', 'prod'), qr/^BACKUP FROM: standby$/m,
	"it started from dev's last checkpoint: a label of a backup from a standby");
like(fork_label('shop', 'prod'), qr/^LABEL: .*\(from its last checkpoint\)$/m, 'named as such');
check_fork('shop', 'prod', 'the first deploy');

my $history = 0;
for my $i (1 .. 3)
{
	$bp->json("SELECT branchpromote.fork_branch('shop', 'pr-$i', 'dev')");
	like(fork_label('shop', "pr-$i"), qr/^BACKUP FROM: standby$/m, "preview $i of dev: from the last checkpoint");
	check_fork('shop', "pr-$i", "preview $i of dev");
	my $n = compute_safe_psql($bp->uri('shop', "pr-$i"), 'SELECT count(*) FROM pgbench_history');
	cmp_ok($n, '>', $history, "preview $i has more of dev's commits than the one before");
	$history = $n;
}

# A preview of the new prod, running and written to, and a fork at an LSN
# of prod: from prod's base snapshot, whose label and control file are the
# first deploy's own.
my $prod = $bp->uri('shop', 'prod');
($out, $err) = run_command([ 'pgbench', '-n', '-c', '1', '-t', '200', $prod ]);
like($out, qr/number of transactions actually processed: 200/, 'pgbench on prod');
my $lsn = compute_safe_psql(admin_uri('shop', 'prod'), 'SELECT pg_current_wal_insert_lsn()');
my $prod_history = compute_safe_psql($prod, 'SELECT count(*) FROM pgbench_history');
$bp->json("SELECT branchpromote.fork_branch('shop', 'pr-prod', 'prod')");
check_fork('shop', 'pr-prod', 'a preview of prod');
$bp->json("SELECT branchpromote.fork_branch('shop', 'pr-at', 'prod', '$lsn')");
check_fork('shop', 'pr-at', "a fork at an LSN of prod, from its base snapshot");
is(compute_safe_psql($bp->uri('shop', 'pr-at'), 'SELECT count(*) FROM pgbench_history'), $prod_history,
	"it has prod's history up to that LSN, no more, no less");

compute_safe_psql($dev, 'INSERT INTO stop_churn VALUES (1)');
ok(eval { $churn->finish } // 0, 'the churn session stopped cleanly') or diag($churn_err);
ok(eval { $ckpt->finish } // 0, 'the checkpoint loop stopped cleanly') or diag($ckpt_err);
$bench->signal('INT');
eval { $bench->finish };
unlike($bench_err, qr/error|abort/i, 'pgbench on dev met no error') or diag($bench_err);

# Past the limit of WAL since the last checkpoint, pg_backup_start's own.
compute_safe_psql($dev, "CREATE TABLE big AS SELECT g AS id, repeat('x', 400) AS pad FROM generate_series(1, 60000) g");
cmp_ok(
	compute_safe_psql(admin_uri('shop', 'dev'),
		'SELECT pg_current_wal_insert_lsn() - redo_lsn FROM pg_control_checkpoint()'),
	'>', 16 * 1024 * 1024, 'dev wrote more than 16 MB of WAL since its last checkpoint');
$bp->json("SELECT branchpromote.fork_branch('shop', 'pr-big', 'dev')");
my $label = fork_label('shop', 'pr-big');
like($label, qr/^BACKUP FROM: primary$/m, 'then a fork takes a base backup of its own');
like($label, qr/^LABEL: branchpromote base backup of timeline \d+$/m, "pg_backup_start's");
is(compute_safe_psql($bp->uri('shop', 'pr-big'), 'SELECT count(*) FROM big'), 60000, 'with every row');
check_fork('shop', 'pr-big', 'that fork');

$bp->teardown;
done_testing();
