# First promotion in copy mode (default data root, on ext4): dev running
# (backup mode + clone) and dev suspended (plain clone); isolation of the two
# timelines after the fork; the catalog views; the re-deploy refusal.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run;
use JSON::PP ();
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('main', port_base => 28100);

my $LSN = qr{^[0-9A-F]+/[0-9A-F]+$};

# A psql session on a compute running in the background: input from
# $s->{in} (appended to and pumped), or one command with -c.
sub start_psql
{
	my ($uri, %arg) = @_;
	my $s = { in => $arg{stdin} // '', out => '', err => '' };
	$s->{h} = IPC::Run::start(
		[
			'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1', '-d', $uri,
			defined $arg{command} ? ('-c', $arg{command}) : ()
		],
		'<', \$s->{in}, '>', \$s->{out}, '2>', \$s->{err},
		IPC::Run::timeout(120));
	return $s;
}

sub pump_until_output
{
	my ($s, $re) = @_;
	my $ok = eval {
		$s->{h}->pump until $s->{out} =~ $re;
		1;
	};
	diag("psql: $@ $s->{err}") unless $ok;
	return $ok;
}

sub count_in
{
	my ($uri, $where) = @_;
	return compute_safe_psql($uri, "SELECT count(*) FROM items WHERE $where");
}

# ------------------------------------------------ project 1: dev is running

my $c = $bp->json("SELECT branchpromote.create_project('shop')");
is($c->{project}, 'shop', 'create_project names the project');
is($c->{compute}, 'running', 'create_project reports a running dev compute');
is($c->{clone_method}, 'copy', 'create_project on ext4 reports clone_method copy');
my $dev_tl = $c->{dev_timeline};
ok(-f $bp->pgdata($dev_tl) . '/PG_VERSION',
	'the dev timeline is a data directory under the default data root');
ok(-f $bp->timeline_dir($dev_tl) . '/owner', 'the dev timeline directory has an owner file');

# The template (and so every timeline) has 4 MB WAL segments; a data root of
# an earlier build has a 16 MB "template": the reconciler makes the new
# one when a project needs it, and removes the old one.
my $root = $bp->{root};
ok(-f "$root/template-wal4M/PG_VERSION", 'the template is template-wal4M');
rename("$root/template-wal4M", "$root/template") or die "rename: $!";
$bp->json("SELECT branchpromote.create_project('later')");
ok(-f "$root/template-wal4M/PG_VERSION", 'a project with no template makes it again');
ok(!-e "$root/template", 'the old template is removed once the new one exists');
is(wal_segment_bytes($bp->uri('later', 'dev')), 4 * 1024 * 1024, 'timelines have 4 MB WAL segments');
is( compute_safe_psql($bp->uri('later', 'dev'),
		"SELECT current_setting('max_wal_size') || ' ' || current_setting('min_wal_size')"),
	'1GB 80MB', "with PostgreSQL's default WAL sizes (initdb would scale them down)");
$bp->json("SELECT branchpromote.drop_project('later', 'later')");

my $dev_uri = $bp->uri('shop', 'dev');
like($dev_uri, qr{^postgresql://shop:[0-9a-f]{32}\@127\.0\.0\.1:\d+/shop$},
	'connection_uri for dev has the documented form');
compute_safe_psql($dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'dev row ' || g FROM generate_series(1, 500) g;
SQL
my $dev_digest = compute_safe_psql($dev_uri, ROWS_DIGEST);
like($dev_digest, qr/^500:[0-9a-f]{32}$/, 'dev has the 500 rows written through its URI');

# During the fork, dev is busy: one session holds an uncommitted row, another
# commits one row per transaction into "seq", in id order, until told to stop.
compute_safe_psql($dev_uri, 'CREATE TABLE seq (id int PRIMARY KEY); CREATE TABLE stop_writer (x int);');
my $open_txn = start_psql($dev_uri, stdin =>
	  "BEGIN;\nINSERT INTO items VALUES (999999, 'uncommitted at the fork');\nSELECT 'in-txn';\n");
ok(pump_until_output($open_txn, qr/in-txn/), 'a dev session holds an uncommitted row');
my $writer = start_psql($dev_uri, command => <<'SQL');
DO $$
DECLARE i int := 0;
BEGIN
	LOOP
		i := i + 1;
		INSERT INTO seq VALUES (i);
		COMMIT;
		EXIT WHEN i >= 1000000 OR EXISTS (SELECT 1 FROM stop_writer);
	END LOOP;
END
$$;
SQL
ok(wait_until(sub { compute_safe_psql($dev_uri, 'SELECT count(*) FROM seq') >= 300 }),
	'the dev writer is committing');
my $seq_before = compute_safe_psql($dev_uri, 'SELECT max(id) FROM seq');

my $p = $bp->json("SELECT branchpromote.promote_branch('shop', 'v1')");

my $seq_after = compute_safe_psql($dev_uri, 'SELECT max(id) FROM seq');
compute_safe_psql($dev_uri, 'INSERT INTO stop_writer VALUES (1)');
ok(eval { $writer->{h}->finish } // 0, 'the dev writer stopped cleanly') or diag($writer->{err});
ok($seq_after > $seq_before, 'the writer kept committing during the promotion');

is($p->{action}, 'first_deploy', 'promote (dev running): action first_deploy');
is($p->{project}, 'shop', 'promote (dev running): project');
is($p->{release}, 'v1', 'promote (dev running): release pinned');
like($p->{deploy_id}, qr/^\d+$/, 'promote (dev running): a deploy_id');
ok($p->{deploy_id} > 0, 'promote (dev running): deploy_id is positive');
is($p->{dev_timeline}, $dev_tl, 'promote (dev running): forked from the dev timeline');
like($p->{prod_timeline}, qr/^\d+$/, 'promote (dev running): a prod_timeline');
isnt($p->{prod_timeline}, $dev_tl, 'promote (dev running): prod is a new timeline');
like($p->{fork_lsn}, $LSN, 'promote (dev running): fork_lsn is an LSN');
is($p->{clone_method}, 'copy', 'promote (dev running): clone_method copy on ext4');
ok(JSON::PP::is_bool($p->{dev_was_running}) && $p->{dev_was_running},
	'promote (dev running): dev_was_running is JSON true');
my $prod_tl = $p->{prod_timeline};
ok(-f $bp->pgdata($prod_tl) . '/PG_VERSION', 'the prod timeline is its own data directory');

my $prod_uri = $bp->uri('shop', 'prod');
isnt($prod_uri, $dev_uri, 'prod has its own connection URI');
like($prod_uri, qr{:$p->{prod_port}/shop$}, 'the prod URI names the prod port from the promote result');
is(compute_safe_psql($prod_uri, ROWS_DIGEST), $dev_digest, 'prod has exactly the rows dev had at the fork');

# Forking a busy dev gives a consistent state: a gap-free prefix of the
# writer's commits, all those committed before the call, none after it.
my ($seq_count, $seq_max) = split / /,
  compute_safe_psql($prod_uri, "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM seq");
is($seq_count, $seq_max, 'prod has a gap-free prefix of the commits dev made during the fork');
cmp_ok($seq_max, '>=', $seq_before, 'prod has every commit made before promote_branch was called');
cmp_ok($seq_max, '<=', $seq_after, 'prod has no commit made after promote_branch returned');
is(count_in($prod_uri, 'id = 999999'), 0, 'a row uncommitted at the fork is not in prod');
$open_txn->{in} .= "COMMIT;\n\\q\n";
ok(eval { $open_txn->{h}->finish } // 0, 'the open dev transaction commits after the fork')
  or diag($open_txn->{err});
is(count_in($dev_uri, 'id = 999999'), 1, 'dev has the row committed after the fork');
is(count_in($prod_uri, 'id = 999999'), 0, 'prod does not');

# After the fork, writes never cross in either direction.
compute_safe_psql($prod_uri, "INSERT INTO items VALUES (100001, 'written in prod')");
compute_safe_psql($dev_uri, "INSERT INTO items VALUES (200001, 'written in dev')");
is(count_in($dev_uri, 'id = 100001'), 0, 'a row inserted in prod is not visible in dev');
is(count_in($prod_uri, 'id = 200001'), 0, 'a row inserted in dev is not visible in prod');
is(count_in($prod_uri, 'id = 100001'), 1, 'prod sees its own insert');
is(count_in($dev_uri, 'id = 200001'), 1, 'dev sees its own insert');
is(count_in($prod_uri, 'true'), 501, 'prod has dev\'s 500 rows plus its own');
is(count_in($dev_uri, 'true'), 502, 'dev has its 500 rows plus its own two');

# The views.
is( $bp->sql(
		"SELECT env || '|' || timeline || '|' || coalesce(release, '') FROM branchpromote.environments WHERE project = 'shop' ORDER BY env"
	),
	"dev|$dev_tl|\nprod|$prod_tl|v1",
	'environments: dev and prod point at their timelines, prod pins v1');
is( $bp->sql(
		"SELECT kind || '|' || parent || '|' || fork_lsn || '|' || clone_method || '|' || durable FROM branchpromote.timelines WHERE timeline = $prod_tl"
	),
	"prod|$dev_tl|$p->{fork_lsn}|copy|true",
	'timelines: prod is a durable child of dev at the fork LSN, cloned by copy');
my $prod_c = $bp->compute_row('shop', 'prod');
ok(defined $prod_c, 'computes: prod has a compute');
is($prod_c->{timeline}, $prod_tl, 'computes: the prod compute runs the prod timeline');
is($prod_c->{desired_state} . '/' . $prod_c->{actual_state}, 'running/running',
	'computes: prod is desired and actually running');
ok($prod_c->{pid} && pid_alive($prod_c->{pid}), 'computes: prod has the pid of a live process');
is($prod_c->{pid}, $bp->pidfile_pid($prod_tl), 'computes: the prod pid is the postmaster of the prod timeline');
is($prod_c->{port}, $p->{prod_port}, 'computes: prod port matches the promote result');
is( $bp->sql(
		"SELECT deploy_id || '|' || action || '|' || status || '|' || from_timeline || '|' || to_timeline || '|' || fork_lsn || '|' || clone_method || '|' || release || '|' || (error IS NULL) || '|' || (finished_at >= started_at) FROM branchpromote.deploys WHERE project = 'shop'"
	),
	"$p->{deploy_id}|first_deploy|succeeded|$dev_tl|$prod_tl|$p->{fork_lsn}|copy|v1|true|true",
	'deploys: one succeeded first_deploy row matching the promote result');
is( $bp->sql(
		"SELECT string_agg(kind || ':' || status, ',' ORDER BY operation) FROM branchpromote.operations WHERE project = 'shop'"
	),
	'create_project:succeeded,promote_branch:succeeded',
	'operations: create_project and promote_branch journaled as succeeded');

# The fork replayed its own pg_wal as a standby and was promoted by its
# trigger file: no restore_command ran, no end-of-recovery checkpoint was
# waited for; the journal has the phases of the fork, of the start and of
# the tenant sessions on prod and dev.
my $fork_log = slurp_file($bp->timeline_dir($prod_tl) . '/compute.log');
unlike($fork_log, qr/restored log file/, "the fork's first start restored no WAL from an archive");
like($fork_log, qr/promote trigger file found/, 'it was promoted by its trigger file');
unlike($fork_log, qr/checkpoint starting: end-of-recovery/, 'without an end-of-recovery checkpoint');
is( $bp->sql(
		"SELECT string_agg(s->>'step' || ':' || (SELECT string_agg(k, '+' ORDER BY k) FROM jsonb_object_keys(s->'phases') k), ',') "
		  . "FROM branchpromote.operations o, jsonb_array_elements(o.steps) s "
		  . "WHERE o.project = 'shop' AND o.kind = 'promote_branch' AND s ? 'phases'"),
	'fork running dev (backup mode):backup start+backup stop+base snapshot+base snapshot alongside+clone+sync+wal,start compute:hand-off+prepare+ready+recovery+spawn,'
	  . "read ledger:connect+ledger+prepared+record+schema read,record dev's schema:connect+record",
	'operations: the fork, the start and the two tenant sessions say what their phases took');
is( $bp->sql(
		"SELECT string_agg(s->>'step', ',') FROM branchpromote.operations o, jsonb_array_elements(o.steps) s "
		  . "WHERE o.project = 'shop' AND o.kind = 'promote_branch'"),
	"plan,fork running dev (backup mode),start compute,read ledger,record dev's schema,base snapshot",
	"a first deploy's steps: one session on the new prod, one on the running dev (its tables were made by hand: its record changes; 018 has the other case)");
is( $bp->sql(
		"SELECT (s->'phases'->>'recovery')::float8 > 0 AND (s->'phases'->>'ready')::float8 >= 0 "
		  . "AND (s->'phases'->>'ready')::float8 < (s->>'ms')::float8 "
		  . "FROM branchpromote.operations o, jsonb_array_elements(o.steps) s "
		  . "WHERE o.project = 'shop' AND o.kind = 'promote_branch' AND s->>'step' = 'start compute'"),
	't', "the start's ready phase is a part of it, after its recovery");

# Its base snapshot: a second copy of the same backup, cloned from the
# running dev in a thread alongside the fork, with the fork's label and
# cut WAL, and none of the fork's own settings.
my $snapdata = $bp->timeline_dir($prod_tl) . '/snapshots/'
  . $bp->sql("SELECT snapshot FROM branchpromote.snapshots WHERE timeline = $prod_tl AND reason = 'base'") . '/pgdata';
my $label = slurp_file("$snapdata/backup_label");
like($label, qr/^START WAL LOCATION: \S+ \(file [0-9A-F]{24}\)\nCHECKPOINT LOCATION:/, "the base snapshot holds the backup's label");
my ($first_wal) = $label =~ /\(file ([0-9A-F]{24})\)/;
ok(-f "$snapdata/pg_wal/$first_wal" && -f "$snapdata/pg_wal/archive_status/$first_wal.done",
	'and the WAL from its start, marked archived');
ok(-f "$snapdata/global/pg_control" && !-e "$snapdata/branchpromote.conf" && !-e "$snapdata/standby.signal"
	  && !-e "$snapdata/postmaster.pid", "and dev's files, without the fork's settings or a pid file");

# A first deploy cancelled anywhere in its fork (the snapshot's thread
# stopped and joined on the way out) leaves nothing the reconciler does not
# remove, and the next one succeeds.
$bp->json("SELECT branchpromote.create_project('cancelled')");
my %cancel_states;
my $deployed = 0;
for my $ms (20, 35, 50, 65, 80, 100)
{
	my ($st, $err) = $bp->sqlstate("SET statement_timeout = '${ms}ms'; SELECT branchpromote.promote_branch('cancelled', 'v1')");
	$deployed = 1, last unless defined $st;	# it finished within the timeout
	$cancel_states{$st}++;
	like($err, qr/canceling statement due to statement timeout/, "cancelled after $ms ms: the timeout's own error")
	  or diag($err);
}
is(join(',', keys %cancel_states), '57014', 'every cancelled first deploy failed with 57014');
ok($deployed || $bp->json("SELECT branchpromote.promote_branch('cancelled', 'v1')")->{action} eq 'first_deploy',
	'then the first deploy succeeds');
ok( wait_until(
		sub {
			$bp->reconciler_pass;
			join(',', $bp->timeline_dirs) eq $bp->sql("SELECT string_agg(id::text, ',' ORDER BY id) FROM branchpromote.timeline");
		}),
	'the cancelled forks left no timeline directory behind');
unlike(slurp_file($bp->node->logfile), qr/terminated by signal/, 'no backend died on the way');

# Planning after prod exists: a re-deploy, which keeps prod where it is.
my $plan = $bp->json("SELECT branchpromote.plan_promotion('shop', 'v2')");
is($plan->{action}, 'redeploy', 'plan_promotion after the first deploy: redeploy');
is($plan->{prod_timeline}, $prod_tl, 'plan_promotion reports the current prod timeline');
is($plan->{prod_release}, 'v1', 'plan_promotion reports the pinned release');
is_deeply($plan->{pending}, [], 'plan_promotion: no migrations pending');
my $tl_count = $bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE project = 'shop'");
is($tl_count, 2, 'shop has two timelines');
my @dirs_before = $bp->timeline_dirs;
my $re = $bp->json("SELECT branchpromote.promote_branch('shop', 'v2')");
is($re->{action}, 'redeploy', 'a second promote_branch is a re-deploy');
is($re->{prod_timeline}, $prod_tl, 'the re-deploy keeps prod on its timeline');
like($re->{anchor_lsn}, qr{^[0-9A-F]+/[0-9A-F]+$}, 'the re-deploy anchors a pre-deploy LSN');
is_deeply($re->{migrations_applied}, [], 'nothing pending, nothing applied');
is($bp->sql("SELECT count(*) FROM branchpromote.timelines WHERE project = 'shop'"),
	$tl_count, 'the re-deploy created no timeline row');
is_deeply([ $bp->timeline_dirs ], \@dirs_before, 'the re-deploy created no timeline directory');
is($bp->sql("SELECT string_agg(action, ',' ORDER BY deploy_id) FROM branchpromote.deploys WHERE project = 'shop'"),
	'first_deploy,redeploy', 'deploys: the first deploy and the re-deploy');
is($bp->sql("SELECT release FROM branchpromote.environments WHERE project = 'shop' AND env = 'prod'"),
	'v2', 'the re-deploy pinned v2');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE project = 'shop' AND kind = 'pre-deploy'"),
	1, 'one pre-deploy anchor');
is($bp->json("SELECT branchpromote.promote_branch('shop', 'v2')")->{action},
	'noop', 'promoting the release already pinned, nothing pending, is a noop');

# ------------------------------------------------ project 2: dev is suspended

$c = $bp->json("SELECT branchpromote.create_project('blog')");
my $blog_dev_tl = $c->{dev_timeline};
my $blog_dev_port = $c->{port};
my $blog_dev_uri = $bp->uri('blog', 'dev');
compute_safe_psql($blog_dev_uri, <<'SQL');
CREATE TABLE items (id int PRIMARY KEY, note text NOT NULL);
INSERT INTO items SELECT g, 'blog row ' || g FROM generate_series(1, 300) g;
SQL
my $blog_digest = compute_safe_psql($blog_dev_uri, ROWS_DIGEST);
like($blog_digest, qr/^300:/, 'blog dev has its 300 rows');
my $blog_dev_pid = $bp->compute_row('blog', 'dev')->{pid};

is($bp->json("SELECT branchpromote.suspend_compute('blog', 'dev')")->{state},
	'suspended', 'suspend_compute reports suspended');
my $dc = $bp->compute_row('blog', 'dev');
is($dc->{actual_state}, 'suspended', 'computes: blog dev is suspended');
ok(!defined $dc->{pid}, 'computes: a suspended compute has no pid');
ok(!pid_alive($blog_dev_pid), 'the dev postmaster process is gone');
is_deeply([ $bp->postmasters_on($blog_dev_tl) ], [], 'no postmaster runs on the suspended dev timeline');
ok(!port_accepts($blog_dev_port), 'the suspended dev port refuses TCP connections');
my ($rc, undef, $perr) = compute_psql($blog_dev_uri, 'SELECT 1');
isnt($rc, 0, 'psql through the suspended dev URI fails');
like($perr, qr/refused|could not connect/i, 'the failure is a refused connection');

$p = $bp->json("SELECT branchpromote.promote_branch('blog', 'r1')");
is($p->{action}, 'first_deploy', 'promote (dev suspended): action first_deploy');
ok(JSON::PP::is_bool($p->{dev_was_running}) && !$p->{dev_was_running},
	'promote (dev suspended): dev_was_running is JSON false');
is($p->{clone_method}, 'copy', 'promote (dev suspended): clone_method copy');
like($p->{fork_lsn}, $LSN, 'promote (dev suspended): fork_lsn is an LSN');
my $blog_prod_tl = $p->{prod_timeline};
my $blog_prod_uri = $bp->uri('blog', 'prod');
is(compute_safe_psql($blog_prod_uri, ROWS_DIGEST), $blog_digest,
	'prod forked from a suspended dev has exactly dev\'s rows');
is($bp->sql(
		"SELECT fork_lsn || '|' || parent FROM branchpromote.timelines WHERE timeline = $blog_prod_tl"),
	"$p->{fork_lsn}|$blog_dev_tl", 'timelines: blog prod forked from blog dev at the reported LSN');
is($bp->compute_row('blog', 'dev')->{actual_state}, 'suspended', 'promotion did not wake the suspended dev');
is_deeply([ $bp->postmasters_on($blog_dev_tl) ], [], 'still no postmaster on the suspended dev timeline');

my $w = $bp->json("SELECT branchpromote.wake_compute('blog', 'dev')");
is($w->{state}, 'running', 'wake_compute reports running');
ok(pid_alive($w->{pid}), 'wake_compute returns the pid of a live process');
$dc = $bp->compute_row('blog', 'dev');
is($dc->{actual_state} . '/' . $dc->{pid}, "running/$w->{pid}", 'computes: blog dev running with the new pid');
is(compute_safe_psql($blog_dev_uri, ROWS_DIGEST), $blog_digest, 'the woken dev serves its rows again');
compute_safe_psql($blog_dev_uri, "INSERT INTO items VALUES (300001, 'after wake')");
is(count_in($blog_prod_uri, 'id = 300001'), 0, 'a dev write after the wake does not reach prod');

$bp->teardown;
done_testing();
