# Migrations commit with the caller's transaction, not before it: the
# compute's transaction is prepared and finished when the control's ends.
# A rolled-back re-deploy or a rolled-back savepoint leaves the compute as it
# was; a backend killed between PREPARE and its commit leaves a prepared
# transaction that the reconciler rolls back; a committed call applies.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use PostgreSQL::Test::Utils;
use Test::More;

my $bp = BranchPromoteTest->new_node('twophase', port_base => 28600);
my $node = $bp->node;
# kill -9 of a backend restarts the control server (as in production)
$node->append_conf('postgresql.conf', 'restart_after_crash = on');
$node->reload;

sub migrate
{
	my ($env, $version, $sql) = @_;
	return "SELECT branchpromote.apply_migrations('tp', '$env', "
	  . "'[{\"version\": \"$version\", \"sql\": \"$sql\"}]')";
}

$bp->json("SELECT branchpromote.create_project('tp')");
$bp->sql(migrate('dev', '0001', 'CREATE TABLE c (id int)'));
$bp->json("SELECT branchpromote.promote_branch('tp', 'v1')");
my $prod = $bp->uri('tp', 'prod');
my $dev = $bp->uri('tp', 'dev');
$bp->sql(migrate('dev', '0002', 'ALTER TABLE c ADD COLUMN a int'));

# ledger versions | has column a | prepared transactions
sub state_of
{
	my ($uri) = @_;
	return compute_safe_psql($uri, <<'SQL');
SELECT coalesce((SELECT string_agg(version, ',' ORDER BY version) FROM branchpromote_ledger.migrations), '')
    || '|' || (SELECT count(*) FROM information_schema.columns WHERE table_name = 'c' AND column_name = 'a')
    || '|' || (SELECT count(*) FROM pg_prepared_xacts)
SQL
}

is(state_of($prod), '0001|0|0', 'prod before: 0001 only');

# 1. The caller rolls back: prod stays as it was, nothing is left prepared.
$node->safe_psql('postgres',
	"BEGIN; SELECT branchpromote.promote_branch('tp', 'v2'); ROLLBACK;");
is(state_of($prod), '0001|0|0', 'a rolled-back re-deploy leaves prod as it was');
is($bp->sql("SELECT count(*) FROM branchpromote.deploys WHERE project = 'tp' AND action = 'redeploy' AND status = 'succeeded'"),
	0, 'no re-deploy recorded');
is($bp->sql("SELECT count(*) FROM branchpromote.anchors WHERE project = 'tp'"),
	0, 'no anchor recorded');

# 2. A savepoint around apply_migrations is rolled back, the rest commits.
$node->safe_psql('postgres', 'BEGIN; SAVEPOINT s; '
	  . migrate('dev', '0003', 'CREATE TABLE d (x int)')
	  . '; ROLLBACK TO SAVEPOINT s; COMMIT;');
is(state_of($dev), '0001,0002|1|0',
	'a migration rolled back with its savepoint is not on dev, nothing prepared');
$node->safe_psql('postgres', 'BEGIN; SAVEPOINT s; '
	  . migrate('dev', '0003', 'CREATE TABLE d (x int)')
	  . '; RELEASE SAVEPOINT s; COMMIT;');
is(state_of($dev), '0001,0002,0003|1|0', 'a released savepoint commits with its transaction');

# 3. The calling backend dies between PREPARE and COMMIT PREPARED.
my $bg = $node->background_psql('postgres', on_error_stop => 0);
$bg->query_safe('BEGIN');
my $pid = $bg->query_safe('SELECT pg_backend_pid()');
$bg->query_safe("SELECT branchpromote.promote_branch('tp', 'v2')");
is(state_of($prod), '0001|0|1', 'while the caller is open, prod has one prepared transaction');
kill 'KILL', $pid;
eval { $bg->quit };
$node->poll_query_until('postgres', 'SELECT true') or die 'control did not come back';
ok(wait_until(sub { state_of($prod) eq '0001|0|0' }, 60),
	'the reconciler rolled back the transaction a dead backend prepared');
ok($node->log_contains('rolled back compute transaction branchpromote-'),
	'the reconciler logged it');

# 4. A committed re-deploy applies.
my $r = $bp->json("SELECT branchpromote.promote_branch('tp', 'v2')");
is_deeply($r->{migrations_applied}, [ '0002', '0003' ], 'the re-deploy applied the pending versions');
is(state_of($prod), '0001,0002,0003|1|0', 'and they are on prod, nothing left prepared');

$bp->teardown;
done_testing();
