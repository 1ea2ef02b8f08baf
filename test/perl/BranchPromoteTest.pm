# BranchPromoteTest.pm — shared helpers for branchpromote's TAP tests.
#
# A control node with branchpromote preloaded, ways to talk to computes
# (psql with a project's connection URI), bounded waits, process and
# directory inspection, and the cleanup that guarantees no compute outlives
# a test: computes outlive the control server by design, so the harness's own
# teardown (an immediate stop of the control node) would leave them behind.
#
#   use FindBin;
#   use lib "$FindBin::Bin/../perl";
#   use BranchPromoteTest;
#   my $bp = BranchPromoteTest->new_node('main', port_base => 28100);
#   ...
#   $bp->teardown;    # drop projects, assert everything is gone
#   done_testing();
package BranchPromoteTest;

use strict;
use warnings FATAL => 'all';

use Carp;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Path qw(rmtree);
use File::Spec;
use IO::Socket::INET;
use IPC::Run;
use JSON::PP;
use Time::HiRes qw(usleep time);

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(wait_until compute_psql compute_safe_psql pid_alive fresh_dir
  port_accepts ROWS_DIGEST wal_segment_bytes lsn_segment walfile_segment);

# A query that summarises a table "items" (id, note): count and a hash of
# every row in id order.  Equal digests mean the same rows.
use constant ROWS_DIGEST =>
  "SELECT count(*) || ':' || coalesce(md5(string_agg(id || '=' || note, ',' ORDER BY id)), '-') FROM items";

# Every node made here, for the END-block safety net.
my @registered;

# Default bound on waits for the reconciler, in seconds.
our $WAIT_SECONDS = 90;

=pod

=item BranchPromoteTest->new_node($name, port_base => N, data_root => DIR, remove_data_root => 0|1, cron => 0|1, proxy_port => N, recovery_window => INTERVAL)

Initialise and start a control node with branchpromote preloaded and the
extension created in database postgres.  port_base must differ per test
file.  data_root defaults to the extension's own default (beside the control
node's data directory).  With cron => 1, pg_cron is preloaded too (jobs in
database postgres, run by background workers, so no password is needed) and
CREATE EXTENSION pg_cron follows branchpromote's.  With proxy_port, the proxy
listens there (on localhost; new_node returns once it does) and
connection_uri returns its URIs.

=cut

sub new_node
{
	my ($class, $name, %opt) = @_;
	croak "port_base is required" unless $opt{port_base};

	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;

	# Unix socket paths are limited to 107 bytes; tmp_check paths are long.
	my $sockdir = PostgreSQL::Test::Utils::tempdir_short();
	my $preload = $opt{cron} ? 'branchpromote,pg_cron' : 'branchpromote';
	my $conf = join("\n",
		"shared_preload_libraries = '$preload'",
		"branchpromote.socket_directory = '$sockdir'",
		"branchpromote.compute_port_base = $opt{port_base}",
		"branchpromote.compute_port_count = 50",
		"branchpromote.reconcile_interval = '500ms'",
		# the trash is emptied at the next full pass: teardown waits for it
		"branchpromote.trash_retention = 0",
		# scale to zero only where a test asks for it (set_suspend_timeout)
		"branchpromote.suspend_timeout = 0",
		# discarded branches and dropped projects go at the next pass unless
		# a test keeps them (recovery_window => '7d'): teardown waits for it
		"branchpromote.recovery_window = '" . ($opt{recovery_window} // '0') . "'");
	$conf .= "\nbranchpromote.data_root = '$opt{data_root}'" if $opt{data_root};
	# computes as their own OS user (scripts/test.sh sets it up: user, group, sudo rule)
	if ($ENV{BP_TEST_COMPUTE_USER})
	{
		$conf .= "\nbranchpromote.compute_os_user = '$ENV{BP_TEST_COMPUTE_USER}'";
		# the compute user passes through to the data root beside the data directory
		for (my $d = dirname($node->data_dir); $d =~ m{/tmp_check}; $d = dirname($d))
		{
			chmod(0755, $d);
		}
	}
	$conf .= "\nbranchpromote.proxy_port = $opt{proxy_port}" if $opt{proxy_port};
	if ($opt{cron})
	{
		# Jobs run in background workers connected as their role: no libpq
		# connection, so the cluster's authentication does not matter.
		$conf .= join("\n", '',
			"cron.database_name = 'postgres'",
			"cron.use_background_workers = on",
			"max_worker_processes = 32");
	}
	$node->append_conf('postgresql.conf', "$conf\n");

	# The default data root is "branchpromote" beside the data directory.
	my $root = $opt{data_root}
	  // File::Spec->rel2abs(dirname($node->data_dir)) . '/branchpromote';

	my $self = bless {
		node => $node,
		root => $root,
		sockdir => $sockdir,
		remove_data_root => $opt{remove_data_root} ? 1 : 0,
		torn_down => 0,
		fake_id => 900_000_000,
	}, $class;
	push @registered, $self;

	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION branchpromote');
	$node->safe_psql('postgres', 'CREATE EXTENSION pg_cron') if $opt{cron};
	# the proxy is a background worker: listening a moment after the start
	croak "the proxy does not listen on port $opt{proxy_port}"
	  if $opt{proxy_port} && !wait_until(sub { port_accepts($opt{proxy_port}) }, 30);
	return $self;
}

sub node { return $_[0]{node} }
sub data_root { return $_[0]{root} }

# ------------------------------------------------------------ control SQL

# safe_psql on the control's postgres database.
sub sql
{
	my ($self, $sql) = @_;
	return $self->{node}->safe_psql('postgres', $sql);
}

# A query whose output is one jsonb value, decoded.
sub json
{
	my ($self, $sql) = @_;
	my $out = $self->sql($sql);
	my $v = eval { decode_json($out) };
	croak "not JSON from <$sql>: <$out>" unless defined $v;
	return $v;
}

# Run SQL expected to fail; return (sqlstate, stderr). sqlstate is undef if
# it did not fail.
sub sqlstate
{
	my ($self, $sql) = @_;
	my ($ret, $out, $err) = $self->{node}->psql(
		'postgres', $sql,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	return (undef, $err) if $ret == 0;
	return ($err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : 'none', $err);
}

sub uri
{
	my ($self, $project, $env) = @_;
	return $self->sql("SELECT branchpromote.connection_uri('$project', '$env')");
}

# One row of the computes view as a hash (undef if none).
sub compute_row
{
	my ($self, $project, $env) = @_;
	my $j = $self->sql(
		"SELECT row_to_json(c) FROM branchpromote.computes c WHERE project = '$project' AND env = '$env'"
	);
	return $j eq '' ? undef : decode_json($j);
}

# ------------------------------------------------------ files and processes

sub timeline_dir
{
	my ($self, $tl) = @_;
	return "$self->{root}/timelines/$tl";
}

sub pgdata
{
	my ($self, $tl) = @_;
	return "$self->{root}/timelines/$tl/pgdata";
}

# Names of the timeline directories on disk, sorted numerically.
sub timeline_dirs
{
	my ($self) = @_;
	my $dir = "$self->{root}/timelines";
	opendir(my $dh, $dir) or return ();
	my @ids = sort { $a <=> $b } grep { /^\d+$/ } readdir($dh);
	closedir($dh);
	return @ids;
}

# /proc/<pid>/stat: (state, ppid), or () if the process is gone.
sub _proc_stat
{
	my ($pid) = @_;
	open(my $fh, '<', "/proc/$pid/stat") or return ();
	my $line = <$fh>;
	close($fh);
	return () unless defined $line && $line =~ /\)\s+(\S)\s+(\d+)/;
	return ($1, $2);
}

# Alive and not a zombie (init here reaps orphans lazily).
sub pid_alive
{
	my ($pid) = @_;
	return 0 unless $pid && $pid =~ /^\d+$/ && $pid > 0;
	my ($state) = _proc_stat($pid);
	return defined $state && $state ne 'Z' && $state ne 'X';
}

# Live processes whose argv satisfies $match->(\@argv).
sub _procs_matching
{
	my ($match) = @_;
	my @pids;
	opendir(my $dh, '/proc') or return ();
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		next if $pid == $$;
		open(my $fh, '<', "/proc/$pid/cmdline") or next;
		local $/;
		my $cmd = <$fh>;
		close($fh);
		next unless defined $cmd && $cmd ne '';
		my @argv = split /\0/, $cmd;
		# sudo waiting on a compute it started as the compute OS user is not a server
		next if $argv[0] =~ m{(^|/)sudo$};
		push @pids, $pid if $match->(\@argv) && pid_alive($pid);
	}
	closedir($dh);
	@pids = sort { $a <=> $b } @pids;
	return @pids;    # a count in scalar context
}

# Live postmasters running on timeline $tl's data directory.
sub postmasters_on
{
	my ($self, $tl) = @_;
	my $pgdata = $self->pgdata($tl);
	return _procs_matching(sub { grep { $_ eq $pgdata } @{ $_[0] } });
}

# Live processes whose command line mentions this node's data root.
sub processes_under_root
{
	my ($self) = @_;
	my $root = "$self->{root}/";
	return _procs_matching(sub { index(join(' ', @{ $_[0] }), $root) >= 0 });
}

# The pid in a timeline's postmaster.pid, or 0.
sub pidfile_pid
{
	my ($self, $tl) = @_;
	open(my $fh, '<', $self->pgdata($tl) . '/postmaster.pid') or return 0;
	my $pid = <$fh>;
	close($fh);
	chomp $pid if defined $pid;
	return defined $pid && $pid =~ /^\d+$/ ? $pid : 0;
}

# The private directory under branchpromote.socket_directory that holds the
# unix socket of the compute listening on $port (undef if none).
sub socket_dir_for_port
{
	my ($self, $port) = @_;
	my @dirs = grep { -S "$_/.s.PGSQL.$port" } glob("$self->{sockdir}/*");
	return $dirs[0];
}

# Entries left under branchpromote.socket_directory.
sub socket_dirs
{
	my ($self) = @_;
	my @dirs = sort glob("$self->{sockdir}/*");
	return @dirs;
}

# Does something accept TCP connections on 127.0.0.1:$port?
# fresh_dir PATH: an empty directory at PATH (whatever was there removed);
# returns PATH.
sub fresh_dir
{
	my ($path) = @_;
	rmtree($path);
	mkdir($path) or BAIL_OUT("could not create $path: $!");
	return $path;
}

sub port_accepts
{
	my ($port) = @_;
	my $s = IO::Socket::INET->new(
		PeerAddr => '127.0.0.1',
		PeerPort => $port,
		Proto => 'tcp',
		Timeout => 5);
	return 0 unless $s;
	close($s);
	return 1;
}

# ---------------------------------------------------------------- waiting

=pod

=item wait_until($cond, $seconds)

Poll $cond (a code ref) every 100 ms until it returns true (returns 1) or
$seconds (default $WAIT_SECONDS) have passed (returns 0).

=cut

sub wait_until
{
	my ($cond, $seconds) = @_;
	my $deadline = time() + ($seconds // $WAIT_SECONDS);
	while (1)
	{
		return 1 if $cond->();
		return 0 if time() > $deadline;
		usleep(100_000);
	}
}

=pod

=item $bp->reconciler_pass

Return once the reconciler has run at least one complete pass that began
after this call: plant two fake orphan timeline directories (owner file
naming a long-finished transaction, no catalog row) one after the other and
wait until each is removed.  The second one cannot be seen before a pass
that starts after the first one's removal, and the pass that removed the
first has finished by then.  Returns true if both were removed in time.

=cut

sub reconciler_pass
{
	my ($self, $seconds) = @_;
	for (1 .. 2)
	{
		my $dir = $self->plant_orphan(owner => 3);
		return 0 unless wait_until(sub { !-e $dir }, $seconds);
	}
	return 1;
}

=pod

=item $bp->plant_orphan(owner => XID, age => SECONDS, stamp => TEXT, content => 1)

Make a timeline directory no catalog row references, as an aborted or
crashed operation leaves it: with an owner file naming XID (none if XID is
undef) and STAMP (default: this catalog's incarnation and WAL timeline, so
the reconciler may collect it), its modification time SECONDS in the past
(default 0), with an (empty) pgdata directory if content.  It is made
under another name and renamed into place, so the reconciler never sees it
half made.  Returns its path.

=cut

sub plant_orphan
{
	my ($self, %opt) = @_;
	my $id = ++$self->{fake_id};
	my $root = "$self->{root}/timelines";
	my $tmp = "$root/planting-$id";
	my $dir = "$root/$id";
	mkdir($root);
	mkdir($tmp) or croak "could not create $tmp: $!";
	if (defined $opt{owner})
	{
		# this catalog's incarnation on this WAL timeline, unless stamp says otherwise
		my $stamp = $opt{stamp} // $self->sql(
			"SELECT (SELECT id FROM branchpromote.incarnation) || ' ' || timeline_id FROM pg_control_checkpoint()");
		open(my $fh, '>', "$tmp/owner") or croak "could not write $tmp/owner: $!";
		print $fh "$opt{owner} $stamp\n";
		close($fh) or croak "could not write $tmp/owner: $!";
	}
	if ($opt{content})
	{
		mkdir("$tmp/pgdata") or croak "could not create $tmp/pgdata: $!";
	}
	my $t = time() - ($opt{age} // 0);
	utime($t, $t, $tmp) or croak "could not set the times of $tmp: $!";
	rename($tmp, $dir) or croak "could not rename $tmp to $dir: $!";
	utime($t, $t, $dir);
	return $dir;
}

# ------------------------------------------------------------------ computes

# psql with a libpq URI: (exit code, stdout, stderr).  SQL goes in on stdin.
sub compute_psql
{
	my ($uri, $sql) = @_;
	my ($out, $err) = ('', '');
	my $sep = $uri =~ /\?/ ? '&' : '?';
	my @cmd = (
		'psql', '-XAtq', '-v', 'ON_ERROR_STOP=1',
		'-d', "$uri${sep}connect_timeout=10",
		'-f', '-');
	my $ok = eval {
		IPC::Run::run(\@cmd, '<', \$sql, '>', \$out, '2>', \$err,
			IPC::Run::timeout(120));
	};
	my $rc = $ok ? 0 : ($@ ? 255 : ($? >> 8) || 1);
	$err .= $@ if $@;
	chomp $out;
	chomp $err;
	return ($rc, $out, $err);
}

# The WAL segment size of the compute at uri, in bytes.
sub wal_segment_bytes
{
	my ($uri) = @_;
	return compute_safe_psql($uri, "SELECT pg_size_bytes(current_setting('wal_segment_size'))");
}

# The number of the WAL segment holding an LSN ("X/Y"), for segments of segsz bytes.
sub lsn_segment
{
	my ($lsn, $segsz) = @_;
	my ($hi, $lo) = map { hex } split m{/}, $lsn;
	return int(($hi * 4294967296 + $lo) / $segsz);
}

# The segment number a WAL file's name stands for (its timeline aside).
sub walfile_segment
{
	my ($name, $segsz) = @_;
	return hex(substr($name, 8, 8)) * (4294967296 / $segsz) + hex(substr($name, 16, 8));
}

# compute_psql that dies on failure and returns stdout.
sub compute_safe_psql
{
	my ($uri, $sql) = @_;
	my ($rc, $out, $err) = compute_psql($uri, $sql);
	croak "psql via $uri failed (exit $rc): $err\nSQL: $sql" if $rc != 0;
	return $out;
}

# ---------------------------------------------------------------- cleanup

# Drop every project and wait for the reconciler to remove all timeline
# directories and stop their computes.  Returns (dirs_gone, procs_gone).
sub _drop_all
{
	my ($self, $seconds) = @_;
	my @projects = grep { $_ ne '' }
	  split /\n/, $self->sql('SELECT project FROM branchpromote.projects ORDER BY 1');
	# prod is protected from its first deploy; the superuser may unprotect
	$self->sql("SELECT branchpromote.unprotect(project, name) FROM branchpromote.protections");
	$self->sql("SELECT branchpromote.drop_project('$_', '$_')") for @projects;
	# a test that keeps dropped projects (recovery_window): their data goes
	# now (those whose window has ended are the reconciler's already)
	$self->sql("SELECT branchpromote.purge_project(project) FROM branchpromote.pending_removal "
		  . "WHERE branch IS NULL AND removal_at > now()");
	my $dirs_gone = wait_until(sub { !$self->timeline_dirs && !glob("$self->{root}/trash/*") }, $seconds);
	my $procs_gone = wait_until(sub { !$self->processes_under_root }, $seconds);
	return ($dirs_gone, $procs_gone);
}

# SIGQUIT, then SIGKILL, every process under the data root and its children.
sub kill_leftovers
{
	my ($self) = @_;
	my @pm = $self->processes_under_root;
	return 0 unless @pm;
	my %parents = map { $_ => 1 } @pm;
	my @children;
	opendir(my $dh, '/proc');
	for my $pid (grep { /^\d+$/ } readdir($dh))
	{
		my (undef, $ppid) = _proc_stat($pid);
		push @children, $pid if defined $ppid && $parents{$ppid};
	}
	closedir($dh);
	my @all = (@pm, @children);
	kill 'QUIT', @pm;
	unless (wait_until(sub { !grep { pid_alive($_) } @all }, 5))
	{
		kill 'KILL', grep { pid_alive($_) } @all;
		wait_until(sub { !grep { pid_alive($_) } @all }, 5);
	}
	return scalar @pm;
}

=pod

=item $bp->teardown

Drop every project; assert that the reconciler removed every timeline
directory and stopped every compute; then kill whatever is left anyway.

=cut

sub teardown
{
	my ($self) = @_;
	local $Test::Builder::Level = $Test::Builder::Level + 1;
	my ($dirs_gone, $procs_gone) = $self->_drop_all;
	ok($dirs_gone, 'teardown: the reconciler removed every timeline directory')
	  or diag('left: ' . join(' ', $self->timeline_dirs));
	ok($procs_gone, 'teardown: no compute process runs after the projects were dropped')
	  or diag('left: ' . join(' ', $self->processes_under_root));
	my $killed = $self->kill_leftovers;
	diag("teardown killed $killed leftover postmaster(s)") if $killed;
	$self->{torn_down} = 1;
	return;
}

# Safety net: whatever happened, no compute survives the test script.  Runs
# before PostgreSQL::Test::Cluster's END (LIFO), so the node is still up.
END
{
	my $exit = $?;
	for my $self (@registered)
	{
		if (!$self->{torn_down} && defined $self->{node}{_pid})
		{
			eval { $self->_drop_all(30); 1 }
			  or diag("END: dropping projects failed: $@");
		}
		my $killed = eval { $self->kill_leftovers } // 0;
		diag("END: killed $killed leftover postmaster(s) under $self->{root}")
		  if $killed;
		rmtree($self->{root})
		  if $self->{remove_data_root} && !defined $ENV{PG_TEST_NOCLEAN};
	}
	$? = $exit;
}

1;
