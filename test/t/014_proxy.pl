# The scale-to-zero proxy: real clients (psql, pgbench, raw sockets) reach
# prod, dev and branches by database name on one port; a suspended compute
# is woken by a connect (concurrent connects share one wake); cancel, COPY,
# cursors, LISTEN/NOTIFY, large results and the extended protocol pass
# through; bad packets and unknown names get errors, and the proxy goes on.
use strict;
use warnings FATAL => 'all';

use Digest::MD5 qw(md5_hex);
use FindBin;
use lib "$FindBin::Bin/../perl";
use BranchPromoteTest;
use IO::Socket::INET;
use IPC::Run ();
use PostgreSQL::Test::Utils;
use Test::More;

my $proxy_port = 29200;
my $bp = BranchPromoteTest->new_node('main', port_base => 29210, proxy_port => $proxy_port);
# room for the 200 concurrent clients below
$bp->sql(q{UPDATE branchpromote.compute_template SET settings = settings || '{"max_connections": "250"}'});

$bp->json("SELECT branchpromote.create_project('acme')");
my $dev = $bp->uri('acme', 'dev');
like($dev, qr{^postgresql://acme:[0-9a-f]+\@localhost:$proxy_port/acme\.dev$}, 'connection_uri names the proxy');
my $dev_direct = $bp->sql("SELECT branchpromote.connection_uri('acme', 'dev', true)");
like($dev_direct, qr{\@127\.0\.0\.1:292\d\d/acme$}, 'connection_uri(..., true) names the compute');

# A URI for another database name on the proxy, with acme's credentials.
sub proxy_uri
{
	my ($dbname) = @_;
	(my $u = $dev) =~ s{/acme\.dev$}{/$dbname};
	return $u;
}

# psql's stderr for a connection expected to fail (verbose: with SQLSTATE).
sub connect_error
{
	my ($uri) = @_;
	my ($rc, $out, $err) = compute_psql($uri, "SELECT 1");
	return $rc == 0 ? "(connected: $out)" : $err;
}

# ------------------------------------------------------------ routing
is(compute_safe_psql($dev, "SELECT current_database()"), 'acme', 'psql through the proxy reaches dev');
compute_safe_psql($dev, "CREATE TABLE items (id int primary key, note text); INSERT INTO items VALUES (1, 'dev')");

like(connect_error(proxy_uri('acme')), qr/project "acme" has no prod environment yet/,
	'prod before the first promotion: an error');
my $err = connect_error(proxy_uri('nosuch'));
like($err, qr/project "nosuch" does not exist/, 'an unknown project: an error naming it');
like($err, qr/HINT:.*connection_uri/, '... with a hint');
like(connect_error(proxy_uri('acme.nope')), qr/project "acme" has no environment "nope".*\n.*HINT/s,
	'an unknown environment: an error with a hint');
like(connect_error(proxy_uri('acme.')), qr/database "acme\." does not exist/, 'an empty environment name');
is($bp->sql("SELECT count(*) FROM branchpromote.computes WHERE project = 'acme'"), '1',
	'no compute was made by those');

$bp->json("SELECT branchpromote.promote_branch('acme')");
my $prod = $bp->uri('acme', 'prod');
like($prod, qr{:$proxy_port/acme$}, 'prod is the bare project name');
compute_safe_psql($prod, "INSERT INTO items VALUES (2, 'prod')");
is(compute_safe_psql($prod, "SELECT string_agg(note, ',' ORDER BY id) FROM items"), 'dev,prod',
	'psql through the proxy reaches prod');
is(compute_safe_psql($dev, "SELECT count(*) FROM items"), '1', 'and dev is another compute');

$bp->json("SELECT branchpromote.fork_branch('acme', 'preview1', 'prod', NULL, '1 hour')");
is(compute_safe_psql(proxy_uri('acme.preview1'), "SELECT count(*) FROM items"), '2',
	'a preview branch by name');

# ------------------------------------------------------------ TLS negotiation
is(compute_safe_psql("$prod?sslmode=prefer", "SELECT 1"), '1', 'sslmode=prefer connects (without TLS)');
like(connect_error("$prod?sslmode=require"), qr/server does not support SSL, but SSL was required/,
	'sslmode=require gets a clear error');

# Raw first packets: SSLRequest and GSSENCRequest are answered 'N'.
sub raw
{
	my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $proxy_port, Proto => 'tcp')
	  or die "connect to the proxy: $!";
	return $s;
}
# The fields of the ErrorResponse the proxy answers a StartupMessage with.
sub startup_error
{
	my ($dbname) = @_;
	my $body = pack('N', 196608) . "user\0acme\0database\0$dbname\0\0";
	my $s = raw();
	syswrite($s, pack('N', 4 + length($body)) . $body);
	my $resp = read_some($s, 2048);
	close $s;
	return {} unless $resp =~ /^E/;
	return { map { substr($_, 0, 1) => substr($_, 1) } grep { length } split /\0/, substr($resp, 5) };
}
sub read_some
{
	my ($s, $n) = @_;
	my $buf = '';
	my $got = eval {
		local $SIG{ALRM} = sub { die "timeout\n" };
		alarm 10;
		while (length($buf) < $n)
		{
			my $r = sysread($s, $buf, $n - length($buf), length($buf));
			last unless $r;
		}
		alarm 0;
		1;
	};
	return $buf;
}
my $e = startup_error('nosuch');
is($e->{C}, '3D000', 'an unknown project: SQLSTATE 3D000');
is($e->{S}, 'FATAL', '... a FATAL error');
like($e->{H} // '', qr/connection_uri/, '... with a hint');
is(startup_error('acme.nope')->{C}, '3D000', 'an unknown environment: SQLSTATE 3D000');
like(startup_error('acme.prod-backup-1')->{H}, qr/a backup branch has no compute: fork a preview of it/,
	'a backup branch is no route: the hint says how to reach its data');

{
	# a client that connects and hangs up at once sends a Terminate first:
	# like PostgreSQL, the proxy closes without answering
	my $s = raw();
	syswrite($s, "X\0\0\0\4");
	is(read_some($s, 1), '', 'a Terminate as the first packet is closed without an answer');
	close $s;
	# a protocol-2 startup gets its error in the format a protocol-2 client reads
	$s = raw();
	my $body = pack('N', 2 << 16) . "user\0acme\0database\0acme\0\0";
	syswrite($s, pack('N', 4 + length($body)) . $body);
	is(read_some($s, 200), "EFATAL:  unsupported frontend protocol 2.0: server supports 3.0 to 3.0\n\0",
		'a protocol-2 startup is refused in the protocol-2 error format');
	close $s;
}

for my $req ([ 'SSLRequest', 80877103 ], [ 'GSSENCRequest', 80877104 ])
{
	my $s = raw();
	syswrite($s, pack('NN', 8, $req->[1]));
	is(read_some($s, 1), 'N', "$req->[0] answered N");
	close $s;
}

# ------------------------------------------------------------ the protocol passes through
# COPY in and out
my $rows = join('', map { "$_\tcopied $_\n" } 100 .. 20099);
compute_safe_psql($prod, "COPY items FROM STDIN;\n$rows\\.\n");
is(compute_safe_psql($prod, "SELECT count(*) FROM items WHERE note LIKE 'copied%'"), '20000', 'COPY FROM STDIN');
my $copied = compute_safe_psql($prod, "COPY (SELECT id, note FROM items WHERE id >= 100 ORDER BY id) TO STDOUT");
is(md5_hex("$copied\n"), md5_hex($rows), 'COPY TO STDOUT gives the same bytes');

# a large result: the same bytes as from the compute directly
my $prod_direct = $bp->sql("SELECT branchpromote.connection_uri('acme', 'prod', true)");
my $big = "SELECT i, repeat(md5(i::text), 30) FROM generate_series(1, 30000) i";
my $via_proxy = compute_safe_psql($prod, $big);
ok(length($via_proxy) > 20_000_000, 'a result of ' . length($via_proxy) . ' bytes');
is(md5_hex($via_proxy), md5_hex(compute_safe_psql($prod_direct, $big)), 'the same as directly');

# server-side cursors
is( compute_safe_psql(
		$prod,
		"BEGIN; DECLARE c CURSOR FOR SELECT id FROM items ORDER BY id; "
		  . "MOVE 999 IN c; FETCH 2 FROM c; CLOSE c; COMMIT;"),
	"1097\n1098",
	'a cursor');

# LISTEN / NOTIFY between two proxied sessions
{
	my ($in, $out, $lerr) = ('', '', '');
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $prod ], '<', \$in, '>', \$out, '2>', \$lerr);
	$in .= "LISTEN deploys;\nSELECT 'listening';\n";
	ok(wait_until(sub { $h->pump_nb; $out =~ /listening/ }), 'a listener');
	compute_safe_psql($prod, "NOTIFY deploys, 'v42'");
	$in .= "SELECT 'polled';\n";
	ok(wait_until(sub { $h->pump_nb; $out =~ /polled/ }), 'the listener polls');
	like($out, qr/Asynchronous notification "deploys" with payload "v42" received/, 'NOTIFY reaches LISTEN');
	$in .= "\\q\n";
	$h->finish;
}

# cancel: psql's Ctrl-C goes to the proxy, which maps the key to the compute
{
	my ($in, $out, $cerr) = ("SELECT pg_sleep(60);\n", '', '');
	my $start = time;
	my $h = IPC::Run::start([ 'psql', '-XAtq', '-d', $prod ], '<', \$in, '>', \$out, '2>', \$cerr);
	ok( wait_until(
			sub {
				$h->pump_nb;
				compute_safe_psql($prod_direct,
					"SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(60)%' AND state = 'active'"
				) eq '1';
			}),
		'a long query runs through the proxy');
	$h->signal('INT');
	$h->finish;
	like($cerr, qr/canceling statement due to user request/, "psql's cancel reaches the compute");
	ok(time - $start < 30, 'long before the query would have ended');
}
# a locked catalog holds up no connection to an environment the proxy knows,
# nor relayed traffic while an unknown route waits for it
{
	is(compute_safe_psql($dev, 'SELECT 1'), '1', 'the proxy knows the route to dev');
	my ($rin, $rout, $rerr) = ('', '', '');
	my $relay = IPC::Run::start([ 'psql', '-XAtq', '-d', $dev ], '<', \$rin, '>', \$rout, '2>', \$rerr);
	$rin .= "SELECT 'relayed';\n";
	ok(wait_until(sub { $relay->pump_nb; $rout =~ /relayed/ }), 'a client relayed through the proxy');
	my ($lin, $lout, $lerr) = ('', '', '');
	my $locker = IPC::Run::start([ 'psql', '-XAtq', '-d', $bp->node->connstr('postgres') ], '<', \$lin, '>', \$lout, '2>', \$lerr);
	$lin .= "BEGIN;\nLOCK TABLE branchpromote.compute, branchpromote.environment IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n";
	ok(wait_until(sub { $locker->pump_nb; $lout =~ /locked/ }), 'the catalog is locked');
	is(compute_safe_psql($dev, 'SELECT 2'), '2', 'a new connection to dev still gets through');
	$rin .= "SELECT 'still relayed';\n";
	ok(wait_until(sub { $relay->pump_nb; $rout =~ /still relayed/ }), 'and relayed traffic keeps flowing');
	# a route the proxy does not know: its client waits for the route
	# resolver, which waits for the catalog; the proxy's loop does not
	my ($win, $wout, $werr) = ('', '', '');
	my $waiting = IPC::Run::start([ 'psql', '-XAtq', '-d', proxy_uri('acme.unrouted'), '-c', 'SELECT 1' ],
		'<', \$win, '>', \$wout, '2>', \$werr);
	ok(wait_until(sub {
		$bp->sql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'branchpromote route resolver' "
			  . "AND wait_event_type = 'Lock'") eq '1' }), 'the route resolver waits for the locked catalog');
	$rin .= "SELECT 'relayed meanwhile';\n";
	ok(wait_until(sub { $relay->pump_nb; $rout =~ /relayed meanwhile/ }), 'relayed traffic flows while a route is read');
	is(compute_safe_psql($dev, 'SELECT 3'), '3', 'and a known route gets through');
	$waiting->pump_nb;
	is($werr, '', 'the client of the unknown route still waits, without an error');
	$lin .= "COMMIT;\n\\q\n";
	$locker->finish;
	$waiting->finish;
	like($werr, qr/FATAL:  project "acme" has no environment "unrouted"/,
		"once the catalog is free, the client gets the catalog's answer");
	$rin .= "\\q\n";
	$relay->finish;
}

# routing by options=endpoint=<project>.<env> keeps the database name true
{
	(my $by_endpoint = $dev) =~ s{/acme\.dev$}{/acme?options=endpoint%3Dacme.dev};
	is(compute_safe_psql($by_endpoint, "SELECT current_database() || ' ' || inet_server_port()"),
		'acme ' . $bp->compute_row('acme', 'dev')->{port}, 'options=endpoint=acme.dev reaches dev, database "acme" as named');
	(my $other = $by_endpoint) =~ s/\?options=/?options=-c%20work_mem%3D5MB%20/;
	is(compute_safe_psql($other, "SELECT current_setting('work_mem')"), '5MB', 'the other options go through');
	(my $nope = $by_endpoint) =~ s/endpoint%3Dacme\.dev/endpoint%3Dacme.nope/;
	my ($rc, undef, $err) = compute_psql($nope, 'SELECT 1');
	like($err, qr/endpoint "acme.nope" does not exist|has no environment "nope"/, 'an unknown endpoint is refused');
}

# the client is told its server process's real pid: PQbackendPID() is
# pg_backend_pid(), and a NOTIFY it sent itself comes from that pid
{
	my ($out, $err) = ('', '');
	IPC::Run::run([ "$FindBin::Bin/../tools/pidcheck", $prod ], '>', \$out, '2>', \$err)
	  or die "pidcheck: $err";
	my ($told, $real, $notify) = split ' ', $out;
	is($told, $real, 'through the proxy, PQbackendPID() is the compute backend\'s pid');
	is($notify, $real, "and a NOTIFY of the client's own comes from it");
}
{
	# a CancelRequest with a key nobody holds: closed, nothing happens
	my $s = raw();
	syswrite($s, pack('NNNN', 16, 80877102, 12345, 67890));
	is(read_some($s, 1), '', 'a cancel with an unknown key is closed silently');
	close $s;
}

# extended protocol and prepared statements (pgbench), 200 clients at once
my @pgbench_dev = ('pgbench', '-n', '-q', '-d', $prod);
my ($rc, $out, $perr) = ('', '', '');
IPC::Run::run([ 'pgbench', '-i', '-s', '1', '-q', '-n', $prod ], '>', \$out, '2>', \$perr)
  or die "pgbench -i: $perr";
for my $mode ('extended', 'prepared')
{
	IPC::Run::run([ 'pgbench', '-n', '-M', $mode, '-c', '4', '-t', '200', $prod ], '>', \$out, '2>', \$perr);
	like($out, qr/number of failed transactions: 0/, "pgbench -M $mode through the proxy");
}
IPC::Run::run([ 'pgbench', '-n', '-S', '-c', '200', '-j', '4', '-T', '5', $prod ], '>', \$out, '2>', \$perr);
like($out, qr/number of clients: 200/, '200 concurrent clients');
like($out, qr/number of failed transactions: 0 /, '... with no failed transaction');
unlike($perr, qr/error|FATAL/i, '... and no error');
IPC::Run::run([ 'pgbench', '-n', '-S', '-C', '-c', '8', '-t', '50', $prod ], '>', \$out, '2>', \$perr);
like($out, qr/number of transactions actually processed: 400\/400/, 'pgbench -C: a new connection per transaction');

# ------------------------------------------------------------ garbage
{
	my $s = raw();
	syswrite($s, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	my $resp = read_some($s, 512);
	is($resp, '', 'HTTP on the port: closed without an answer, as PostgreSQL does');
	close $s;

	$s = raw();
	syswrite($s, pack('N', 100) . "\0\3\0\0user\0acme");    # truncated, then gone
	close $s;

	$s = raw();
	syswrite($s, pack('NN', 1_000_000, 196608));            # oversized
	is(read_some($s, 512), '', 'an oversized startup packet: closed without an answer');
	close $s;

	$s = raw();
	syswrite($s, pack('NN', 8, 2 << 16));                   # protocol 2.0
	like(read_some($s, 512), qr/^EFATAL:  unsupported frontend protocol 2\.0/s, 'protocol 2: an error, in its format');
	close $s;

	srand(42);
	for (1 .. 20)
	{
		$s = raw();
		syswrite($s, join('', map { chr(int(rand(256))) } 1 .. 1 + int(rand(2000))));
		close $s;
	}
	is(compute_safe_psql($prod, "SELECT 'still serving'"), 'still serving', 'after garbage the proxy still serves');
}

# ------------------------------------------------------------ wake on connect
my $stats = sub {
	my ($env, $col) = @_;
	return $bp->sql("SELECT $col FROM branchpromote.proxy_stats WHERE project = 'acme' AND env = '$env'");
};
my $wakes_before = $stats->('prod', 'wakes');
$bp->json("SELECT branchpromote.suspend_compute('acme', 'prod')");
is($bp->compute_row('acme', 'prod')->{actual_state}, 'suspended', 'prod suspended');
my @clients;
for my $i (1 .. 5)
{
	my $o = '';
	push @clients,
	  [
		IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $prod, '-c', "SELECT count(*) FROM items WHERE id = 2" ],
			'>', \$o, '2>', \my $e),
		\$o
	  ];
}
$_->[0]->finish for @clients;
is(join(',', map { ${ $_->[1] } =~ s/\s+//gr } @clients), '1,1,1,1,1',
	'five clients connecting to a suspended prod all get their answer');
is($stats->('prod', 'wakes'), $wakes_before + 1, 'they shared one wake');
is($bp->compute_row('acme', 'prod')->{actual_state}, 'running', 'prod runs again');
ok($stats->('prod', 'wake_ms_max') > 0, 'the wake took ' . $stats->('prod', 'wake_ms_max') . ' ms');

# A compute started by someone else (here the reconciler, after a crash)
# listens before it can serve: while it replays its WAL it refuses clients
# with 57P03 "the database system is starting up".  A client whose route
# says "running" meets that refusal; the proxy must wait for the compute
# for it, not relay the refusal.
is(compute_safe_psql($prod, 'SELECT 1'), '1', 'the route to prod is in use (running)');
compute_safe_psql($prod_direct,
	"CREATE TABLE replayed AS SELECT g, repeat('r', 40) AS pad FROM generate_series(1, 3000000) g");
my $crashed = $bp->compute_row('acme', 'prod');
my $crashed_pid = $bp->pidfile_pid($crashed->{timeline});
if ($ENV{BP_TEST_COMPUTE_USER})
{
	system('sudo', '-n', $bp->node->config_data('--bindir') . '/branchpromote_helper', $ENV{BP_TEST_COMPUTE_USER},
		'signal', $bp->pgdata($crashed->{timeline}), 'KILL') == 0 or die "could not kill prod's postmaster";
}
else
{
	kill 'KILL', $crashed_pid;
}
ok(wait_until(sub { !pid_alive($crashed_pid) }), "prod's postmaster is killed, with 3 million rows to replay");
my $log_at = -s $bp->node->logfile;
ok(wait_until(sub { port_accepts($crashed->{port}) }, 60), 'the reconciler restarts it: its port accepts');
my ($replay_rc, $replay_out, $replay_err) = compute_psql($prod, 'SELECT count(*) FROM replayed');
is("$replay_rc/$replay_out", '0/3000000',
	'a client connecting while the restarted prod replays gets its answer, not "starting up"')
  or diag($replay_err);
like(substr(slurp_file($bp->node->logfile), $log_at), qr/refused a client while starting or stopping; waking it/,
	'the proxy met the refusal and waited for the compute');
compute_safe_psql($prod_direct, 'DROP TABLE replayed');

# ------------------------------------------------------------ proxy_stats
ok($stats->('prod', 'connections_total') > 200, 'proxy_stats counts connections');
ok($stats->('prod', 'bytes_out') > 20_000_000, 'and bytes to clients');
ok($stats->('prod', 'bytes_in') > 100_000, 'and bytes from clients');
is($stats->('prod', 'connections_open'), '0', 'none open now');
ok($bp->sql("SELECT errors FROM branchpromote.proxy_stats WHERE project IS NULL") >= 5,
	'unrouted errors are counted');

# ------------------------------------------------------------ TLS
# With a certificate the proxy answers SSLRequest with 'S' and terminates
# TLS; the hop to the compute stays on loopback.
my $certdir = PostgreSQL::Test::Utils::tempdir();
my ($ossl_out, $ossl_err) = ('', '');
IPC::Run::run(
	[
		'openssl', 'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
		'-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
		'-keyout', "$certdir/proxy.key", '-out', "$certdir/proxy.crt"
	],
	'>', \$ossl_out, '2>', \$ossl_err) or die "openssl req: $ossl_err";
$bp->node->append_conf('postgresql.conf',
	"branchpromote.proxy_ssl_cert_file = '$certdir/proxy.crt'\n"
	  . "branchpromote.proxy_ssl_key_file = '$certdir/proxy.key'\n");
$bp->node->restart;
ok(wait_until(sub { (compute_psql("$prod?sslmode=require", 'SELECT 1'))[0] == 0 }),
	'after a restart with a certificate, sslmode=require connects');
like(compute_safe_psql("$prod?sslmode=require", '\\conninfo'), qr/SSL connection \(protocol: TLSv1\.[23]/,
	'and the session is TLS');
is( compute_safe_psql("$prod?sslmode=verify-full&sslrootcert=$certdir/proxy.crt",
		'SELECT count(*) FROM items WHERE id = 2'),
	'1', 'verify-full against the proxy certificate reaches prod');
is(compute_safe_psql("$prod?sslmode=disable", 'SELECT 1'), '1', 'clients without TLS still connect');
is(md5_hex(compute_safe_psql("$prod?sslmode=require", $big)), md5_hex(compute_safe_psql($prod_direct, $big)),
	'a large result through TLS, byte for byte');
compute_safe_psql("$prod?sslmode=require", "COPY items FROM STDIN;\n30000\tover tls\n\\.\n");
is(compute_safe_psql($prod_direct, "SELECT note FROM items WHERE id = 30000"), 'over tls', 'COPY FROM STDIN through TLS');
IPC::Run::run([ 'pgbench', '-n', '-S', '-c', '20', '-j', '2', '-T', '3', "$prod?sslmode=require" ], '>', \$out, '2>', \$perr);
like($out, qr/number of failed transactions: 0 /, 'pgbench with 20 TLS clients: no failed transaction');
# Client to compute over TLS, far more than the proxy's 32 kB buffer: the
# bytes OpenSSL decrypted beyond a full buffer must still come through.
my $tls_rows = join('', map { sprintf("%d\t%s\n", 40000 + $_, 'x' x 200) } 1 .. 5000);
compute_safe_psql("$prod?sslmode=require", "COPY items FROM STDIN;\n${tls_rows}\\.\n");
is(compute_safe_psql($prod_direct, "SELECT count(*) FROM items WHERE id > 40000"), '5000',
	'a 1 MB COPY FROM STDIN through TLS arrives whole');

# ------------------------------------------------------------ connection limit
$bp->node->append_conf('postgresql.conf', "branchpromote.proxy_max_connections = 2\n");
$bp->node->restart;
ok(wait_until(sub { (compute_psql($prod, 'SELECT 1'))[0] == 0 }), 'the proxy is back with a limit of 2');
my @idle = (raw(), raw());    # not clients until their StartupMessage: do not count
my @held;
for (1 .. 2)    # two psql sessions waiting on their stdin
{
	my ($in, $o, $e) = ('', '', '');
	push @held, IPC::Run::start([ 'psql', '-X', '-At', $prod ], '<', \$in, '>', \$o, '2>', \$e);
}
ok( wait_until(sub {
			$bp->sql("SELECT connections_open FROM branchpromote.proxy_stats WHERE project = 'acme' AND env = 'prod'")
			  eq '2' }),
	'two clients of the limit of 2 are connected (two silent sockets do not count)');
like(connect_error($prod), qr/too many connections to the branchpromote proxy/,
	'a third client is refused: too many connections');
$_->kill_kill for @held;
close $_ for @idle;
ok(wait_until(sub { (compute_psql($prod, 'SELECT 1'))[0] == 0 }), 'once they hang up, a client connects again');

$bp->teardown;
done_testing();
