# The API driven by the real pg_cron (background-worker mode), with the job's
# role privileges respected: a deployer who owns a project schedules a daily
# anchor of prod, a deploy at a fixed date and time and a daily reaping of
# previews without a TTL (the recipes of doc/pg_cron.md); all run as that
# deployer (operations.actor) and succeed.  Another deployer, with no rights
# on the project, schedules an anchor of it: the run fails with permission
# denied and leaves no anchor.  pg_cron 1.4 (Debian 12) schedules by the
# minute, in UTC: the four jobs are due at the same next minute, so the test
# waits for one minute boundary (0 to 60 s).  They run against an app whose
# computes are all at zero, and it is back at zero after them.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);

my $bp = BranchPromoteTest->new_node('main', port_base => 28900, cron => 1);
my $node = $bp->node;

# SQL as a login role (trust on the local socket in TAP clusters).
sub as
{
	my ($role, $sql) = @_;
	return $node->safe_psql('postgres', $sql, extra_params => [ '-U', $role ]);
}

$bp->sql(q{
	CREATE ROLE alice LOGIN;
	CREATE ROLE mallory LOGIN;
	GRANT branchpromote_deployer TO alice, mallory;
	GRANT USAGE ON SCHEMA cron TO alice, mallory;
});

# alice's project, promoted once, with a migration pending for the next deploy
as('alice', "SELECT branchpromote.create_project('shop')");
is($bp->sql("SELECT owner FROM branchpromote.projects WHERE project = 'shop'"),
	'alice', 'the deployer owns the project it created');
compute_safe_psql($bp->uri('shop', 'dev'),
	"CREATE TABLE items (id int PRIMARY KEY, note text); INSERT INTO items VALUES (1, 'dev')");
as('alice', "SELECT branchpromote.promote_branch('shop', 'v1')");
as('alice', q{SELECT branchpromote.apply_migrations('shop', 'dev',
	'[{"version": "0001", "sql": "ALTER TABLE items ADD COLUMN sku text"}]')});
# previews: two without a TTL (to reap), one with a TTL (left to the reconciler)
as('alice', "SELECT branchpromote.fork_branch('shop', '$_')") for qw(pr-1 pr-2);
as('alice', "SELECT branchpromote.fork_branch('shop', 'pr-3', ttl => '1 day')");
my %pr_tl = map { $_ => $bp->sql("SELECT timeline FROM branchpromote.timelines WHERE project = 'shop' AND branch = '$_'") }
  qw(pr-1 pr-2 pr-3);

# The app sits at zero when its jobs run: every compute suspended, and
# suspended again by the idle rule after what a job woke.
as('alice', "SELECT branchpromote.set_suspend_timeout('shop', '1 second')");
sub computes_at_zero
{
	return $bp->sql("SELECT count(*) FROM branchpromote.computes WHERE project = 'shop' AND actual_state <> 'suspended'") eq '0'
	  && !grep { port_accepts($_) } split /,/, $bp->sql("SELECT string_agg(port::text, ',') FROM branchpromote.computes WHERE project = 'shop'");
}
as('alice', "SELECT branchpromote.suspend_compute('shop', env) FROM branchpromote.computes WHERE project = 'shop'");
ok(computes_at_zero(), 'every compute of the app is at zero before its jobs run');

# The next minute (UTC) at least 5 s away: pg_cron's scheduler reads new jobs
# at least once a second, so it knows them when the minute starts.
my $due = (int(time() / 60) + 1) * 60;
$due += 60 if $due - time() < 5;
my (undef, $min, $hour, $mday, $mon) = gmtime($due);
$mon += 1;

my $stamp = q{to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYYMMDD"T"HH24MISS.US')};
my $nightly = as('alice',
	"SELECT cron.schedule('shop-nightly-anchor', '$min $hour * * *', "
	  . "\$\$SELECT branchpromote.create_anchor('shop', 'prod', 'nightly-' || $stamp)\$\$)");
my $deploy = as('alice',
	"SELECT cron.schedule('shop-deploy-v2', '$min $hour $mday $mon *', "
	  . "\$\$SELECT branchpromote.promote_branch('shop', 'v2')\$\$)");
# doc/pg_cron.md's reaping recipe, with '0 days' for '7 days'
my $reap = as('alice',
	"SELECT cron.schedule('reap-previews', '$min $hour * * *', \$\$"
	  . "SELECT branchpromote.discard_branch(project, branch) FROM branchpromote.timelines "
	  . "WHERE kind = 'preview' AND discarded_at IS NULL AND expires_at IS NULL "
	  . "AND created_at < now() - interval '0 days' AND NOT protected\$\$)");
my $intruder = as('mallory',
	"SELECT cron.schedule('steal-anchor', '$min $hour * * *', "
	  . "\$\$SELECT branchpromote.create_anchor('shop', 'prod', 'mallory-' || $stamp)\$\$)");
is($bp->sql("SELECT string_agg(jobname || '=' || username, ',' ORDER BY jobid) FROM cron.job"),
	'shop-nightly-anchor=alice,shop-deploy-v2=alice,reap-previews=alice,steal-anchor=mallory',
	'each job belongs to the role that scheduled it');
is(as('mallory', 'SELECT count(*) FROM cron.job'), '1', "a role sees only its own jobs");

# One run of each, finished (pg_cron writes job_run_details as it goes).
sub finished
{
	my ($job) = @_;
	return $bp->sql(
		"SELECT status || ': ' || coalesce(return_message, '') FROM cron.job_run_details "
		  . "WHERE jobid = $job AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1");
}
ok(wait_until(sub {
	$bp->sql("SELECT count(DISTINCT jobid) FROM cron.job_run_details WHERE status IN ('succeeded', 'failed')") == 4
}, 100),
	'the four jobs ran at their minute')
  or diag($bp->sql('SELECT jobid, status, return_message FROM cron.job_run_details'));
is($bp->sql("SELECT string_agg(DISTINCT to_char(start_time AT TIME ZONE 'UTC', 'HH24:MI'), ',') FROM cron.job_run_details"),
	sprintf('%02d:%02d', $hour, $min), 'at the minute of their schedule (UTC)');

ok(wait_until(\&computes_at_zero), 'after the jobs the app is back at zero');
is($bp->sql("SELECT count(*) FROM branchpromote.operations WHERE project = 'shop' AND kind = 'create_anchor' AND steps::text LIKE '%wake%'"),
	'0', 'the anchor of the suspended prod woke nothing');
as('alice', "SELECT branchpromote.set_suspend_timeout('shop', NULL)");
as('alice', "SELECT branchpromote.wake_compute('shop', 'prod')");

# the nightly anchor
like(finished($nightly), qr/^succeeded/, 'the anchor job succeeded');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE project = 'shop' AND name LIKE 'nightly-%' AND kind = 'manual'"),
	'1', 'its anchor is in branchpromote.anchors');
is(as('alice', "SELECT count(*) FROM branchpromote.anchors WHERE project = 'shop' AND name LIKE 'nightly-%'"),
	'1', 'and visible to the job owner');
is($bp->sql("SELECT string_agg(DISTINCT actor, ',') FROM branchpromote.operations WHERE project = 'shop' AND kind = 'create_anchor'"),
	'alice', 'the job ran as the role that scheduled it');

# the scheduled deploy
like(finished($deploy), qr/^succeeded/, 'the scheduled deploy succeeded');
is($bp->sql("SELECT action || ' ' || status || ' ' || migrations_applied::text FROM branchpromote.deploys WHERE project = 'shop' AND release = 'v2'"),
	'redeploy succeeded ["0001"]', 'it is in branchpromote.deploys, its migration applied');
is($bp->sql("SELECT actor FROM branchpromote.operations WHERE project = 'shop' AND kind = 'promote_branch' ORDER BY operation DESC LIMIT 1"),
	'alice', 'deployed as the role that scheduled it');
is($bp->sql("SELECT release FROM branchpromote.environments WHERE project = 'shop' AND env = 'prod'"),
	'v2', 'prod is pinned to the new release');
is(compute_safe_psql($bp->uri('shop', 'prod'), "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'sku'"),
	'1', "prod has the migration's column");

# the reaping
like(finished($reap), qr/^succeeded/, 'the reaping job succeeded');
is($bp->sql("SELECT string_agg(branch || '=' || (discarded_at IS NOT NULL), ',' ORDER BY branch) FROM branchpromote.timelines WHERE kind = 'preview'"),
	'pr-1=true,pr-2=true,pr-3=false', 'it discarded the previews without a TTL, and only those');
ok(wait_until(sub { !-d $bp->timeline_dir($pr_tl{'pr-1'}) && !-d $bp->timeline_dir($pr_tl{'pr-2'}) }),
	'their data is removed after the job commits');
is($bp->sql("SELECT string_agg(env, ',' ORDER BY env) FROM branchpromote.computes WHERE project = 'shop'"),
	'dev,pr-3,prod', 'with their computes');
is($bp->sql("SELECT count(*) FROM branchpromote.operations WHERE kind = 'discard_branch' AND actor = 'alice'"),
	'2', 'discarded as the role that scheduled it');

# the intruder's job: refused by the API, nothing made
like(finished($intruder), qr/^failed: .*permission denied for project "shop"/,
	"a job of a role without rights on the project fails with permission denied");
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE name LIKE 'mallory-%'"),
	'0', 'and creates no anchor');
is($bp->sql("SELECT count(*) FROM branchpromote.operations WHERE actor = 'mallory'"),
	'0', 'and records no operation');
is(as('mallory', 'SELECT count(*) FROM cron.job_run_details'), '1',
	'a role sees only the runs of its own jobs');
my ($ret, undef, $err) = $node->psql('postgres', "SELECT cron.unschedule($nightly)",
	extra_params => [ '-U', 'mallory' ]);
ok($ret != 0 && $err =~ /permission denied/, "a role cannot unschedule another role's job");

# nothing keeps running
as('alice', "SELECT cron.unschedule(jobid) FROM cron.job");
as('mallory', "SELECT cron.unschedule(jobid) FROM cron.job");
is($bp->sql('SELECT count(*) FROM cron.job'), '0', 'every job is unscheduled');
is($bp->sql("SELECT count(*) FROM cron.job_run_details WHERE status NOT IN ('succeeded', 'failed')"),
	'0', 'and no run is in progress');

$bp->teardown;
done_testing();
