/*
 * storage_local.c — the local storage driver: a timeline is a directory.
 *
 * A timeline is a PostgreSQL data directory with its own WAL archive
 * (basic_archive).  Forking at head:
 *   - source running: pg_backup_start over libpq, clone the data directory,
 *     pg_backup_stop (waits for the WAL to be archived), write its label as
 *     backup_label, recovery.signal with restore_command reading the source's
 *     archive and recovery_target = 'immediate': the fork's first start
 *     replays to exactly the backup's end and promotes to a new WAL timeline;
 *   - source stopped: it is consistent already; clone everything, and the
 *     first start replays nothing and promotes.
 * Every new timeline directory first gets an "owner" file naming the
 * creating transaction, so the reconciler can tell an orphan (creator
 * finished, no committed row) from work in progress.
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"

#include "driver.h"
#include "guc.h"
#include "local.h"
#include "process.h"

char *
LocalTimelineDir(int64 timeline_id)
{
	return psprintf("%s/timelines/" INT64_FORMAT, BpDataRoot(), timeline_id);
}

char *
LocalPgdata(int64 timeline_id)
{
	return psprintf("%s/pgdata", LocalTimelineDir(timeline_id));
}

char *
LocalArchive(int64 timeline_id)
{
	return psprintf("%s/archive", LocalTimelineDir(timeline_id));
}

char *
LocalLogFile(int64 timeline_id)
{
	return psprintf("%s/compute.log", LocalTimelineDir(timeline_id));
}

char *
LocalTemplateDir(void)
{
	return psprintf("%s/template", BpDataRoot());
}

/* mkdir -p for one level; an existing directory is fine. */
static void
EnsureDir(const char *path)
{
	if (MakePGDirectory(path) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", path),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
}

/* Write a whole small file durably (replacing it). */
static void
WriteFileDurably(const char *path, const char *content)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	size_t		len = strlen(content);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	if (write(fd, content, len) != (ssize_t) len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	if (pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	CloseTransientFile(fd);
}

/*
 * Create the timeline's directory and its owner file.  This is the first
 * effect of every operation that makes a timeline.
 */
static void
BeginTimeline(int64 timeline_id)
{
	char	   *root = psprintf("%s/timelines", BpDataRoot());
	char	   *dir = LocalTimelineDir(timeline_id);
	FullTransactionId xid = GetTopFullTransactionId();

	EnsureDir(BpDataRoot());
	EnsureDir(root);
	if (MakePGDirectory(dir) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create timeline directory \"%s\": %m", dir),
				 errhint("A directory left by a crash is removed by the reconciler; try again shortly.")));
	WriteFileDurably(psprintf("%s/owner", dir),
					 psprintf(UINT64_FORMAT "\n", U64FromFullTransactionId(xid)));
	EnsureDir(LocalArchive(timeline_id));
	fsync_fname(dir, true);
	fsync_fname(root, true);
}

/*
 * The timeline's own settings, included from postgresql.conf.  source is
 * the timeline whose archive recovery reads (0: none).
 */
static void
WriteTimelineConf(int64 timeline_id, int64 source, bool to_backup_end)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "# Written by branchpromote for timeline " INT64_FORMAT "; rewritten at every fork.\n"
					 "archive_mode = on\n"
					 "archive_library = 'basic_archive'\n"
					 "basic_archive.archive_directory = '%s'\n",
					 timeline_id, LocalArchive(timeline_id));
	if (source != 0)
	{
		appendStringInfo(&s,
						 "restore_command = 'cp \"%s/%%f\" \"%%p\"'\n"
						 "recovery_target_action = 'promote'\n",
						 LocalArchive(source));
		if (to_backup_end)
			appendStringInfoString(&s, "recovery_target = 'immediate'\n");
	}
	WriteFileDurably(psprintf("%s/branchpromote.conf", LocalPgdata(timeline_id)), s.data);
	pfree(s.data);
}

/* The template is ready once initdb finished and it was renamed in place. */
static bool
LocalTemplateReady(void)
{
	struct stat sb;

	return stat(psprintf("%s/PG_VERSION", LocalTemplateDir()), &sb) == 0;
}

/* initdb the template (reconciler only). */
static void
LocalEnsureTemplate(void)
{
	char	   *tmp;
	char	   *argv[12];
	int			rc;
	FILE	   *conf;

	if (LocalTemplateReady())
		return;
	EnsureDir(BpDataRoot());
	tmp = psprintf("%s/template.tmp", BpDataRoot());
	BpRemoveTree(tmp);
	argv[0] = BpBinPath("initdb");
	argv[1] = "-D";
	argv[2] = tmp;
	argv[3] = "-U";
	argv[4] = unconstify(char *, BpOsUserName());
	argv[5] = "--auth-local=peer";
	argv[6] = "--auth-host=scram-sha-256";
	argv[7] = "--encoding=UTF8";
	argv[8] = "--locale=C.UTF-8";
	argv[9] = "--no-instructions";
	argv[10] = NULL;
	rc = BpRunAndWait(argv, psprintf("%s/template.log", BpDataRoot()), 10 * 60 * 1000);
	if (rc != 0)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("initdb of the timeline template failed with exit code %d", rc),
				 errhint("See %s/template.log.", BpDataRoot())));
	conf = AllocateFile(psprintf("%s/postgresql.conf", tmp), "a");
	if (conf == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open \"%s/postgresql.conf\": %m", tmp),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	fprintf(conf, "\n# branchpromote: per-timeline settings\ninclude_if_exists = 'branchpromote.conf'\n");
	FreeFile(conf);
	BpSyncTree(tmp);
	if (rename(tmp, LocalTemplateDir()) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m", tmp, LocalTemplateDir()),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	fsync_fname(BpDataRoot(), true);
}

/* A new root timeline: a clone of the template. */
static BpCloneMethod
LocalCreateRoot(int64 timeline_id)
{
	BpCloneStats stats;

	BeginTimeline(timeline_id);
	BpCloneTree(LocalTemplateDir(), LocalPgdata(timeline_id), NULL, &stats);
	WriteTimelineConf(timeline_id, 0, false);
	BpSyncTree(LocalPgdata(timeline_id));
	return stats.method;
}

/* Files that are never part of a fork, whatever the source's state. */
static bool
AlwaysSkipped(const char *rel)
{
	const char *base = strrchr(rel, '/');

	base = base ? base + 1 : rel;
	return strcmp(rel, "postmaster.pid") == 0 ||
		strcmp(rel, "postmaster.opts") == 0 ||
		strcmp(rel, "branchpromote.conf") == 0 ||
		strcmp(rel, "recovery.signal") == 0 ||
		strcmp(rel, "standby.signal") == 0 ||
		strcmp(rel, "backup_label") == 0 ||
		strcmp(rel, "backup_label.old") == 0 ||
		strcmp(rel, "tablespace_map") == 0 ||
		strcmp(rel, "current_logfiles") == 0 ||
		strcmp(base, "pg_internal.init") == 0;
}

/* A stopped source: everything but the lock and our own settings. */
static BpCloneFilter
StoppedFilter(const char *rel, bool is_dir)
{
	return AlwaysSkipped(rel) ? BP_CLONE_SKIP : BP_CLONE_KEEP;
}

/* A running source: also leave out what pg_basebackup leaves out. */
static BpCloneFilter
RunningFilter(const char *rel, bool is_dir)
{
	static const char *const emptied[] = {
		"pg_wal", "pg_dynshmem", "pg_notify", "pg_replslot", "pg_serial",
		"pg_snapshots", "pg_stat_tmp", "pg_subtrans", NULL
	};

	if (AlwaysSkipped(rel))
		return BP_CLONE_SKIP;
	if (is_dir)
		for (int i = 0; emptied[i]; i++)
			if (strcmp(rel, emptied[i]) == 0)
				return BP_CLONE_EMPTY;
	return BP_CLONE_KEEP;
}

/* Parse "X/Y" as returned by pg_backup_stop. */
static XLogRecPtr
ParseLsn(const char *s)
{
	uint32		hi;
	uint32		lo;

	if (sscanf(s, "%X/%X", &hi, &lo) != 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("unexpected LSN \"%s\" from a compute", s),
				 errhint("The source compute answered pg_backup_stop oddly; see its log.")));
	return ((uint64) hi << 32) | lo;
}

/* Wait until walfile is in timeline's archive (basic_archive renames it in). */
static void
WaitArchived(int64 timeline_id, const char *walfile)
{
	char	   *path = psprintf("%s/%s", LocalArchive(timeline_id), walfile);
	struct stat sb;
	TimestampTz deadline = BpDeadline(bp_operation_timeout_ms);

	while (stat(path, &sb) != 0)
	{
		if (BpPast(deadline))
			ereport(ERROR,
					(errcode(ERRCODE_QUERY_CANCELED),
					 errmsg("WAL segment %s was not archived within %d ms", walfile,
							bp_operation_timeout_ms),
					 errhint("Check the source compute's log for archiver errors.")));
		BpNap(5);
	}
}

/* Fork a running source through a non-exclusive base backup. */
static void
ForkRunning(int64 source_tl, const BpComputeSpec *source, int64 new_tl,
			BpForkResult *result)
{
	BpComputeAddr addr;
	PGconn	   *conn;
	PGresult   *res;
	const char *label[1];
	BpCloneStats stats;
	char	   *pgdata = LocalPgdata(new_tl);

	BpCompute()->admin_address(source, &addr);
	conn = BpConnect(&addr, "postgres", bp_operation_timeout_ms);
	label[0] = psprintf("branchpromote fork to timeline " INT64_FORMAT, new_tl);
	PQclear(BpExec(conn, "SELECT pg_catalog.pg_backup_start($1, true)", 1, label,
				   bp_operation_timeout_ms));
	BpCloneTree(LocalPgdata(source_tl), pgdata, RunningFilter, &stats);
	EnsureDir(psprintf("%s/pg_wal/archive_status", pgdata));
	/*
	 * pg_backup_stop(true) polls the archive once a second; instead, stop
	 * without waiting and wait on our latch for the one segment that ends
	 * the backup (earlier ones are archived before it, in order).
	 */
	res = BpExec(conn, "SELECT s.lsn, s.labelfile, s.spcmapfile, pg_catalog.pg_walfile_name(s.lsn) "
				 "FROM pg_catalog.pg_backup_stop(false) s", 0, NULL, bp_operation_timeout_ms);
	if (PQntuples(res) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("pg_backup_stop returned %d rows", PQntuples(res)),
				 errhint("The source compute answered pg_backup_stop oddly; see its log.")));
	result->fork_lsn = ParseLsn(PQgetvalue(res, 0, 0));
	WriteFileDurably(psprintf("%s/backup_label", pgdata), PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2) && PQgetvalue(res, 0, 2)[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the source timeline uses tablespaces"),
				 errhint("The local driver forks only timelines without tablespaces.")));
	WaitArchived(source_tl, PQgetvalue(res, 0, 3));
	PQclear(res);
	BpDisconnect(conn);
	WriteTimelineConf(new_tl, source_tl, true);
	result->method = stats.method;
	result->bytes = stats.bytes;
	result->source_was_running = true;
}

/* Fork a stopped (cleanly shut down) source: a plain clone. */
static void
ForkStopped(int64 source_tl, int64 new_tl, BpForkResult *result)
{
	BpCloneStats stats;
	ControlFileData *control;
	bool		crc_ok;
	char	   *pgdata = LocalPgdata(new_tl);

	BpCloneTree(LocalPgdata(source_tl), pgdata, StoppedFilter, &stats);
	control = get_controlfile(pgdata, &crc_ok);
	if (!crc_ok)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("control file of timeline " INT64_FORMAT " has a bad checksum", source_tl),
				 errhint("Wake the source compute so it recovers, then try again; if it cannot start, its data directory is damaged.")));
	if (control->state != DB_SHUTDOWNED)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("timeline " INT64_FORMAT " was not shut down cleanly", source_tl),
				 errhint("Start its compute (wake_compute) so it recovers, then promote again.")));
	result->fork_lsn = control->checkPoint;
	WriteTimelineConf(new_tl, source_tl, false);
	result->method = stats.method;
	result->bytes = stats.bytes;
	result->source_was_running = false;
}

/* Fork source's head into new_tl. */
static void
LocalForkAtHead(int64 source_tl, const BpComputeSpec *source, int64 new_tl,
				BpForkResult *result)
{
	int			pid;
	BpComputeStatus st = BpCompute()->status(source, &pid);

	if (st == BP_COMPUTE_STARTING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the source compute is starting or stopping"),
				 errhint("Try again when SELECT * FROM branchpromote.computes shows it running or suspended.")));
	BeginTimeline(new_tl);
	if (st == BP_COMPUTE_READY)
		ForkRunning(source_tl, source, new_tl, result);
	else
		ForkStopped(source_tl, new_tl, result);
	WriteFileDurably(psprintf("%s/recovery.signal", LocalPgdata(new_tl)), "");

	/*
	 * Make the clone durable before anything commits that references it.  A
	 * clone of a running source needs nothing here: its control file says
	 * "in production", so the fork's first start syncs the whole data
	 * directory (recovery_init_sync_method) before it accepts connections,
	 * and callers wait for that before they commit.  A stopped source's
	 * clone starts as cleanly shut down, with no such sync: do it here.
	 */
	if (!result->source_was_running)
		BpSyncTree(LocalPgdata(new_tl));
}

/* Every timeline directory, with its creating transaction. */
static List *
LocalList(void)
{
	char	   *root = psprintf("%s/timelines", BpDataRoot());
	List	   *out = NIL;
	DIR		   *dir;
	struct dirent *de;

	dir = AllocateDir(root);
	if (dir == NULL && errno == ENOENT)
		return NIL;
	/* ReadDir below reports any other error opening it */
	while ((de = ReadDir(dir, root)) != NULL)
	{
		BpStoredTimeline *t;
		char	   *end;
		long long	id = strtoll(de->d_name, &end, 10);
		FILE	   *f;
		unsigned long long xid = 0;
		struct stat sb;

		if (*end != '\0' || id <= 0)
			continue;
		t = palloc0(sizeof(BpStoredTimeline));
		t->timeline_id = id;
		t->creator = InvalidFullTransactionId;
		t->young = stat(psprintf("%s/%s", root, de->d_name), &sb) == 0 &&
			sb.st_mtime > time(NULL) - 60;
		f = AllocateFile(psprintf("%s/%s/owner", root, de->d_name), "r");
		if (f != NULL)
		{
			if (fscanf(f, "%llu", &xid) == 1)
				t->creator = FullTransactionIdFromU64(xid);
			FreeFile(f);
		}
		out = lappend(out, t);
	}
	FreeDir(dir);
	return out;
}

/* Remove a timeline: data, archive, log. */
static void
LocalRemove(int64 timeline_id)
{
	BpRemoveTree(LocalTimelineDir(timeline_id));
}

static uint64
LocalSize(int64 timeline_id)
{
	return BpTreeSize(LocalTimelineDir(timeline_id));
}

static const BpStorageDriver local_storage = {
	.name = "local",
	.template_ready = LocalTemplateReady,
	.ensure_template = LocalEnsureTemplate,
	.create_root = LocalCreateRoot,
	.fork_at_head = LocalForkAtHead,
	.list = LocalList,
	.remove = LocalRemove,
	.size_bytes = LocalSize,
};

const BpStorageDriver *
BpStorage(void)
{
	return &local_storage;
}
