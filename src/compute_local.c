/*
 * compute_local.c — the local compute driver: a compute is a postmaster.
 *
 * Each compute is an independent postmaster on its timeline's data
 * directory, listening on loopback TCP and on a unix socket in a private
 * (0700) directory.  It is found again from postmaster.pid, so computes
 * outlive a restart of the control server.
 */
#include "postgres.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/memutils.h"
#include "utils/pidfile.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "local.h"
#include "localuser.h"
#include "pgconn.h"
#include "process.h"

#define STOP_TIMEOUT_MS 60000

static bool LocalClientAccessClosed(const BpComputeSpec *spec);
static bool SyncHba(int64 timeline_id, bool open, bool fresh);
static BpComputeStatus LocalObserve(const BpComputeSpec *spec, int *instance);
static void LocalAdminAddress(const BpComputeSpec *spec, BpComputeAddr *addr);

/*
 * A postmaster this process launched that has not been seen ready: until
 * it writes postmaster.pid, only its pid shows that it lives, and that it
 * died (FAILED).  Kept until it is ready, or the compute is started again,
 * stopped or forgotten.
 */
typedef struct Launched
{
	int64		compute_id;
	int64		timeline_id;
	int			pid;
} Launched;

static List *launched = NIL;	/* of Launched *, in TopMemoryContext */

static Launched *
FindLaunched(const BpComputeSpec *spec)
{
	ListCell   *lc;

	foreach(lc, launched)
	{
		Launched   *l = lfirst(lc);

		if (l->compute_id == spec->compute_id && l->timeline_id == spec->timeline_id)
			return l;
	}
	return NULL;
}

static void
ForgetLaunched(int64 compute_id)
{
	ListCell   *lc;

	foreach(lc, launched)
	{
		Launched   *l = lfirst(lc);

		if (l->compute_id == compute_id)
		{
			launched = foreach_delete_current(launched, lc);
			pfree(l);
		}
	}
}

/* The pid of a launch of ours on this timeline not yet seen ready, or 0. */
static int
LaunchedOn(int64 timeline_id)
{
	ListCell   *lc;

	foreach(lc, launched)
		if (((Launched *) lfirst(lc))->timeline_id == timeline_id)
			return ((Launched *) lfirst(lc))->pid;
	return 0;
}

static void
RememberLaunched(const BpComputeSpec *spec, int pid)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	Launched   *l = palloc(sizeof(Launched));

	l->compute_id = spec->compute_id;
	l->timeline_id = spec->timeline_id;
	l->pid = pid;
	launched = lappend(launched, l);
	MemoryContextSwitchTo(old);
}


/*
 * Signal pgdata's postmaster: ours to signal if it runs as the server's
 * user (no compute user, or started before one was set); else through the
 * helper, which checks the process runs as the compute user in pgdata.
 */
static void
SignalPostmaster(const char *pgdata, int pid, int sig, const char *name)
{
	struct stat sb;

	if (LocalSeparateUser() &&
		stat(psprintf("/proc/%d", pid), &sb) == 0 && sb.st_uid != geteuid())
		LocalHelper("signal", pgdata, name);
	else
		kill(pid, sig);
}

/*
 * The postmaster of pgdata, or 0.  A launch of ours (launch_pid) writes
 * postmaster.pid some 30 ms after it began: until then, wait for it, or
 * for the launch to end.  A stop that found no file there would leave
 * the server to come up unrecorded.
 */
static int
AwaitPostmaster(const char *pgdata, int launch_pid)
{
	TimestampTz deadline = BpDeadline(STOP_TIMEOUT_MS);
	int			pid;

	while ((pid = LocalPostmasterPid(pgdata)) == 0 && launch_pid > 0 && BpPidAlive(launch_pid))
	{
		if (BpPast(deadline))
			ereport(ERROR,
					(errcode(ERRCODE_SYSTEM_ERROR),
					 errmsg("compute launched as process %d on \"%s\" wrote no postmaster.pid within %d ms",
							launch_pid, pgdata, STOP_TIMEOUT_MS),
					 errhint("Look for a hung process with ps; the reconciler retries on its next pass.")));
		BpNap(5);
	}
	return pid;
}

/*
 * Stop the postmaster of pgdata: fast shutdown (unless immediate: the data
 * is about to be removed), then immediate shutdown, then kill.
 */
static void
LocalStopPgdata(const char *pgdata, int launch_pid, bool immediate)
{
	int			pid = AwaitPostmaster(pgdata, launch_pid);

	if (pid == 0)
		return;
	if (!immediate)
	{
		SignalPostmaster(pgdata, pid, SIGINT, "INT");
		if (BpWaitGone(pid, STOP_TIMEOUT_MS))
			return;
	}
	SignalPostmaster(pgdata, pid, SIGQUIT, "QUIT");
	if (BpWaitGone(pid, 5000))
		return;
	SignalPostmaster(pgdata, pid, SIGKILL, "KILL");
	if (!BpWaitGone(pid, 5000))
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("compute process %d on \"%s\" did not stop", pid, pgdata),
				 errhint("Look for a hung process with ps; the reconciler retries on its next pass.")));
}

/* Launch the postmaster (reconciler only); LocalObserve follows it. */
static void
LocalStart(const BpComputeSpec *spec, const BpKeyValue *settings, int nsettings)
{
	char	   *sockdir = LocalSocketDir(spec->compute_id);
	char	   *pgdata = LocalPgdata(spec->timeline_id);
	int			nargs = 24 + 2 * nsettings;
	char	  **argv;
	int			i = 0;
	int			pid;

	if (strlen(sockdir) + 20 >= sizeof(((struct sockaddr_un *) 0)->sun_path))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("socket directory \"%s\" is too long for a unix socket path", sockdir),
				 errhint("Set branchpromote.socket_directory to a shorter path.")));
	if (MakePGDirectory(BpSocketRoot()) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", BpSocketRoot())));
	if (mkdir(sockdir, 0700) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create socket directory \"%s\": %m", sockdir)));
	/* a compute user creates its socket here; the server's user connects */
	LocalShare(BpSocketRoot(), 0750);
	LocalShare(sockdir, 0770);
	(void) SyncHba(spec->timeline_id, !LocalClientAccessClosed(spec), false);
	/*
	 * A postmaster.pid that names a live process which is not this data
	 * directory's postmaster (a pid reused after a crash) would make the new
	 * postmaster refuse to start: remove it (the helper does, for a data
	 * directory of the compute user's).
	 */
	if (!LocalSeparateUser() && LocalPostmasterPid(pgdata) == 0 &&
		unlink(psprintf("%s/postmaster.pid", pgdata)) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove the stale \"%s/postmaster.pid\": %m", pgdata)));
	if (LocalSeparateUser())
		argv = LocalExecArgv(pgdata, nargs, &i);	/* it adopts a new data directory first */
	else
	{
		argv = palloc0(sizeof(char *) * (nargs + 3));
		argv[i++] = BpBinPath("postgres");
		argv[i++] = "-D";
		argv[i++] = pgdata;
	}
	/* the manifest's settings first: ours below win where they overlap */
	for (int k = 0; k < nsettings; k++)
	{
		argv[i++] = "-c";
		argv[i++] = psprintf("%s=%s", settings[k].key, settings[k].value);
	}
	argv[i++] = "-c";
	argv[i++] = psprintf("port=%d", spec->port);
	argv[i++] = "-c";
	argv[i++] = "listen_addresses=127.0.0.1";
	argv[i++] = "-c";
	argv[i++] = psprintf("unix_socket_directories=%s", sockdir);
	if (LocalSeparateUser())
	{
		argv[i++] = "-c";
		argv[i++] = "unix_socket_permissions=0770";
		argv[i++] = "-c";
		argv[i++] = psprintf("unix_socket_group=%s", LocalComputeGroupName());
	}
	else
	{
		argv[i++] = "-c";
		argv[i++] = "unix_socket_permissions=0700";
	}
	argv[i++] = "-c";
	argv[i++] = psprintf("hba_file=%s", LocalHbaFile(spec->timeline_id));
	argv[i++] = "-c";
	argv[i++] = "hot_standby=off";	/* answer only once promoted */
	argv[i++] = "-c";
	argv[i++] = "recovery_init_sync_method=syncfs";
	argv[i++] = "-c";
	argv[i++] = "max_prepared_transactions=16";	/* migrations commit with the control */
	argv[i++] = "-c";
	argv[i++] = psprintf("cluster_name=bp-compute-" INT64_FORMAT, spec->compute_id);
	argv[i] = NULL;
	pid = BpSpawnDetached(argv, LocalLogFile(spec->timeline_id));
	ForgetLaunched(spec->compute_id);
	RememberLaunched(spec, pid);
}

/*
 * From the data directory's postmaster.pid: its postmaster (the instance)
 * and whether it says it is ready; else a launch of ours not yet there.
 */
static BpComputeStatus
LocalObserve(const BpComputeSpec *spec, int *instance)
{
	bool		ready;
	Launched   *l = FindLaunched(spec);

	*instance = LocalPidFile(LocalPgdata(spec->timeline_id), &ready);
	if (*instance != 0)
	{
		if (ready && l != NULL)
			ForgetLaunched(spec->compute_id);
		return ready ? BP_COMPUTE_READY : BP_COMPUTE_STARTING;
	}
	if (l == NULL)
		return BP_COMPUTE_DOWN;
	return BpPidAlive(l->pid) ? BP_COMPUTE_STARTING : BP_COMPUTE_FAILED;
}

/*
 * The postmaster writes its status "ready" into postmaster.pid last: the
 * file's change time is when it became ready (to the file system's
 * timestamp granularity, a few ms at most).
 */
static TimestampTz
LocalReadySince(const BpComputeSpec *spec)
{
	struct stat sb;

	if (stat(psprintf("%s/postmaster.pid", LocalPgdata(spec->timeline_id)), &sb) != 0)
		return 0;
	return time_t_to_timestamptz(sb.st_mtim.tv_sec) + sb.st_mtim.tv_nsec / 1000;
}

static void
LocalStop(const BpComputeSpec *spec)
{
	LocalStopPgdata(LocalPgdata(spec->timeline_id), LaunchedOn(spec->timeline_id), false);
	ForgetLaunched(spec->compute_id);
}

static void
LocalStopTimeline(int64 timeline_id, bool immediate)
{
	LocalStopPgdata(LocalPgdata(timeline_id), LaunchedOn(timeline_id), immediate);
}

static void
LocalAdminAddress(const BpComputeSpec *spec, BpComputeAddr *addr)
{
	memset(addr, 0, sizeof(BpComputeAddr));	/* no credential: peer, as the server's OS user */
	strlcpy(addr->host, LocalSocketDir(spec->compute_id), sizeof(addr->host));
	addr->port = spec->port;
}

/* Client backends in pg_stat_activity, not the control plane's (application_name). */
static int
LocalClientSessions(const BpComputeSpec *spec)
{
	BpComputeAddr addr;
	PGconn	   *conn;
	PGresult   *res;
	int			n;

	LocalAdminAddress(spec, &addr);
	conn = BpConnect(&addr, bp_operation_timeout_ms);
	res = BpExec(conn, "SELECT count(*) FROM pg_catalog.pg_stat_activity "
				 "WHERE backend_type = 'client backend' "
				 "AND application_name IS DISTINCT FROM 'branchpromote'",
				 0, NULL, bp_operation_timeout_ms);
	n = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	BpDisconnect(conn);
	return n;
}

/* Is 127.0.0.1:port free to bind (nothing else listening there)? */
static bool
PortAvailable(int port)
{
	int			fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa;
	bool		ok;

	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *) &sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

/*
 * A new compute's port: one no compute row uses (the catalog's compute.port
 * is this driver's column), claimed for the calling transaction, and that
 * nothing on this machine listens on.
 */
static void
LocalAssignEndpoint(BpComputeSpec *spec)
{
	ListCell   *lc;

	foreach(lc, CatalogFreePorts(256))
		if (PortAvailable(lfirst_int(lc)) && CatalogClaimPort(lfirst_int(lc)))
		{
			spec->port = lfirst_int(lc);
			return;
		}
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("no free compute port from %d (%d ports)", bp_compute_port_base,
					bp_compute_port_count),
			 errhint("Raise branchpromote.compute_port_count, move branchpromote.compute_port_base, or drop unused projects.")));
}

static void
LocalClientEndpoint(const BpComputeSpec *spec, const char **host, int *port)
{
	*host = "127.0.0.1";
	*port = spec->port;
}

/*
 * The last lines of the compute's log, at most TAIL_BYTES: what ends up in
 * an error detail (a reply's 1 kB, after its own words), so the newest
 * lines — the reason a start failed — are the ones kept.
 */
#define TAIL_BYTES 900

static char *
LocalLogTail(const BpComputeSpec *spec)
{
	FILE	   *f = AllocateFile(LocalLogFile(spec->timeline_id), "r");
	char		buf[TAIL_BYTES + 1];
	size_t		n;
	char	   *start;

	if (f == NULL)
		return pstrdup("(no log)");
	if (fseek(f, -TAIL_BYTES, SEEK_END) != 0)
		rewind(f);
	n = fread(buf, 1, TAIL_BYTES, f);
	FreeFile(f);
	buf[n] = '\0';
	start = strchr(buf, '\n');
	return pstrdup(start && n == TAIL_BYTES ? start + 1 : buf);
}

/* Ids of computes that have a socket directory. */
static List *
LocalListEndpoints(void)
{
	List	   *out = NIL;
	DIR		   *dir = AllocateDir(BpSocketRoot());
	struct dirent *de;

	if (dir == NULL && errno == ENOENT)
		return NIL;
	while ((de = ReadDir(dir, BpSocketRoot())) != NULL)
	{
		char	   *end;
		long long	id;
		int64	   *p;

		if (de->d_name[0] != 'c')
			continue;
		id = strtoll(de->d_name + 1, &end, 10);
		if (*end != '\0' || id <= 0)
			continue;
		p = palloc(sizeof(int64));
		*p = id;
		out = lappend(out, p);
	}
	FreeDir(dir);
	return out;
}

/*
 * Remove a gone compute's socket directory.  A server still listening
 * there keeps its socket and lock files in it, so rmdir fails and the
 * directory stays until that server is gone.
 */
static void
LocalForget(int64 compute_id)
{
	char	   *dir = LocalSocketDir(compute_id);

	ForgetLaunched(compute_id);
	if (rmdir(dir) != 0 && errno != ENOENT && errno != ENOTEMPTY && errno != EEXIST)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove socket directory \"%s\": %m", dir)));
}

/* Present while the compute is closed to clients. */
static char *
ClosedMarkerPath(int64 timeline_id)
{
	return psprintf("%s/closed", LocalTimelineDir(timeline_id));
}


static bool
LocalClientAccessClosed(const BpComputeSpec *spec)
{
	struct stat sb;

	return stat(ClosedMarkerPath(spec->timeline_id), &sb) == 0;
}

/*
 * Every compute's pg_hba.conf, written by us alone.  Over the private
 * (0700) socket directory, which only the server's OS user can enter: that
 * user as the compute's superuser (peer), and project roles with their
 * password (the control plane reads ledgers and runs migrations as the
 * tenant, never as a superuser).  Clients, over loopback, only while open.
 */
static char *
HbaContent(bool open)
{
	return psprintf("# written by branchpromote; rewritten at every start\n"
					"local all %s peer\n"
					"local all all scram-sha-256\n%s",
					BpOsUserName(),
					open ? "host all all 127.0.0.1/32 scram-sha-256\n"
					"host all all ::1/128 scram-sha-256\n" : "");
}

/* A compute's access file: durably, unless it is fresh (driver.h). */
static void
WriteAccessFile(const char *path, const char *content, bool fresh)
{
	if (fresh)
		LocalWriteInNewTree(path, content);
	else
		LocalWriteFile(path, content);
}

/* Make pg_hba.conf say what it should (fresh: no fsync); true if it changed. */
static bool
SyncHba(int64 timeline_id, bool open, bool fresh)
{
	char	   *path = LocalHbaFile(timeline_id);
	char	   *want = HbaContent(open);
	FILE	   *f = AllocateFile(path, "r");
	char		buf[1024];
	size_t		n = 0;

	if (f != NULL)
	{
		n = fread(buf, 1, sizeof(buf) - 1, f);
		FreeFile(f);
	}
	buf[n] = '\0';
	if (f != NULL && strcmp(buf, want) == 0)
		return false;
	WriteAccessFile(path, want, fresh);
	LocalShare(path, 0640);
	return true;
}

/*
 * Closed: only the control plane's own socket connections get in.  The
 * marker is written before the file and removed after it, so a crash in
 * between leaves the compute closed (the reconciler opens committed ones).
 * A fresh compute's are written without fsync (driver.h): its start writes
 * pg_hba.conf again from the marker, so a lost marker means open (what its
 * commit does anyway), a lost pg_hba.conf is rendered again.
 * Idempotent: it also brings a file written by an older version up to date.
 */
static void
LocalSetClientAccess(const BpComputeSpec *spec, bool open, bool fresh)
{
	char	   *marker = ClosedMarkerPath(spec->timeline_id);
	bool		changed;
	int			pid;
	BpComputeAddr addr;
	PGconn	   *conn;

	if (!open && !LocalClientAccessClosed(spec))
		WriteAccessFile(marker, "closed to clients by branchpromote until its operation commits\n", fresh);
	changed = SyncHba(spec->timeline_id, open, fresh);
	if (open && LocalClientAccessClosed(spec))
	{
		if (unlink(marker) != 0 && errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not remove \"%s\": %m", marker)));
		fsync_fname(LocalTimelineDir(spec->timeline_id), true);
	}
	/* a running server reads it again (a starting one reads it as it starts) */
	if (!changed || LocalObserve(spec, &pid) != BP_COMPUTE_READY)
		return;
	LocalAdminAddress(spec, &addr);
	conn = BpConnect(&addr, bp_operation_timeout_ms);
	BpExecCommand(conn, "SELECT pg_catalog.pg_reload_conf()", bp_operation_timeout_ms);
	BpDisconnect(conn);
}

const BpComputeDriver bp_local_compute = {
	.name = "local",
	.start = LocalStart,
	.stop = LocalStop,
	.stop_timeline = LocalStopTimeline,
	.observe = LocalObserve,
	.ready_since = LocalReadySince,
	.client_sessions = LocalClientSessions,
	.assign_endpoint = LocalAssignEndpoint,
	.admin_address = LocalAdminAddress,
	.client_endpoint = LocalClientEndpoint,
	.list_endpoints = LocalListEndpoints,
	.forget = LocalForget,
	.log_tail = LocalLogTail,
	.set_client_access = LocalSetClientAccess,
	.client_access_closed = LocalClientAccessClosed,
};
