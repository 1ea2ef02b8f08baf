/*
 * storage_local.c — the local storage driver: a timeline is a directory.
 *
 * A timeline is a PostgreSQL data directory with its own WAL archive
 * (basic_archive).  Forking at head:
 *   - source running: a base backup over libpq: from the source's last
 *     checkpoint when little WAL followed it (a label of our own, ended by
 *     a flushed restore point, the fork's control file made a standby's),
 *     else pg_backup_start, clone the data directory, pg_backup_stop and
 *     its label as backup_label; then clone the WAL from the backup's
 *     start to its end from the source's pg_wal into the fork's (the
 *     source's archive receives it as usual; the last segment is zeroed
 *     after the backup's end);
 *   - source stopped: it is consistent already; clone everything;
 * then standby.signal and a promote trigger file: the fork's first start
 * replays exactly what its pg_wal holds (no restore_command), promotes to
 * a new WAL timeline at its end, and needs no synchronous end-of-recovery
 * checkpoint.  A new timeline's base snapshot, when asked for, is a clone
 * of those unstarted files.  Forking from a snapshot: clone it, and the
 * WAL its replay needs from the source's archive into the fork's pg_wal;
 * the same standby, its WAL cut at the snapshot's end or right before the
 * first record at or past an LSN target.
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
#include "access/xlog_internal.h"
#include "common/controldata_utils.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/copydir.h"
#include "storage/fd.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "clone.h"
#include "driver.h"
#include "guc.h"
#include "local.h"
#include "localuser.h"
#include "process.h"
#include "walcut.h"


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


/*
 * Create dir (under root) with an owner file naming the current top
 * transaction, and the subdirectory sub (if any), durably: the first effect
 * of every operation that makes a timeline or a snapshot, so the
 * reconciler can tell an orphan (creator finished, no committed row) from
 * work in progress.
 */
static void
MakeOwnedDir(const char *root, const char *dir, const char *what, const char *sub)
{
	FullTransactionId xid = GetTopFullTransactionId();
	char	   *stamp = BpOwnerStamp();

	if (stamp == NULL)
		elog(ERROR, "branchpromote: the catalog's incarnation is not known yet");
	EnsureDir(root);
	if (MakePGDirectory(dir) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create %s directory \"%s\": %m", what, dir),
				 errhint("A directory left by a crash is removed by the reconciler; one left by another catalog is listed in branchpromote.stray_timelines.")));
	LocalWriteFile(psprintf("%s/owner", dir),
				   psprintf(UINT64_FORMAT " %s\n", U64FromFullTransactionId(xid), stamp));
	if (sub)
		EnsureDir(psprintf("%s/%s", dir, sub));
	fsync_fname(dir, true);
	fsync_fname(root, true);
}

/* A new timeline's directory, owner file and (empty) WAL archive. */
static void
BeginTimeline(int64 timeline_id)
{
	EnsureDir(BpDataRoot());
	MakeOwnedDir(psprintf("%s/timelines", BpDataRoot()), LocalTimelineDir(timeline_id),
				 "timeline", "archive");
	/*
	 * With a compute user: it may pass through to the timeline, and its
	 * archiver writes the archive (setgid: every file there is in its group)
	 */
	LocalShare(BpDataRoot(), 0750);
	LocalShare(psprintf("%s/timelines", BpDataRoot()), 0750);
	LocalShare(LocalTimelineDir(timeline_id), 0750);
	LocalShare(LocalArchive(timeline_id), 02770);
}

/* A fork that replays only its own pg_wal is promoted by this file. */
#define FROM_OWN_WAL (-2)
#define PROMOTE_TRIGGER "branchpromote.promote"

/*
 * The timeline's own settings, included from postgresql.conf.  source is
 * the timeline whose archive recovery reads (0: no recovery settings;
 * FROM_OWN_WAL: a standby that replays what its pg_wal holds and is
 * promoted at its end); target is the recovery target setting (NULL:
 * recover everything there is), for either kind of recovery.
 */
static void
WriteTimelineConf(int64 timeline_id, int64 source, const char *target)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s,
					 "# Written by branchpromote for timeline " INT64_FORMAT "; rewritten at every fork.\n"
					 "archive_mode = on\n"
					 "archive_library = 'basic_archive'\n"
					 "basic_archive.archive_directory = '%s'\n",
					 timeline_id, LocalArchive(timeline_id));
	if (source > 0)
	{
		appendStringInfo(&s,
						 "restore_command = 'cp \"%s/%%f\" \"%%p\"'\n"
						 "recovery_target_action = 'promote'\n",
						 LocalArchive(source));
		if (target)
			appendStringInfo(&s, "%s\n", target);
	}
	else if (source == FROM_OWN_WAL)
	{
		/* a standby of its own pg_wal, promoted at its end (or at target) */
		appendStringInfo(&s, "promote_trigger_file = '%s/" PROMOTE_TRIGGER "'\n",
						 LocalPgdata(timeline_id));
		if (target)
			appendStringInfo(&s, "%s\n", target);
	}
	LocalWriteInNewTree(psprintf("%s/branchpromote.conf", LocalPgdata(timeline_id)), s.data);
	pfree(s.data);
}

/* The template is ready once initdb finished and it was renamed in place. */
static bool
LocalTemplateReady(void)
{
	struct stat sb;

	return stat(psprintf("%s/PG_VERSION", LocalTemplateDir()), &sb) == 0;
}

/*
 * initdb the template (reconciler only), with 4 MB WAL segments instead of
 * 16 MB.  A fork ends its replay mid-segment, and its promotion copies that
 * segment to the new WAL timeline whole, zeros included, and fsyncs it
 * (XLogFileCopy): 16 MB took 55-70 ms of every fork's start here.  Each
 * pg_backup_start and pg_backup_stop switches segments, padding the rest
 * of one and archiving it: two per fork of a running source.  Smaller
 * segments cost where much WAL is written: a checkpoint recycles each
 * segment with two fsyncs (CHECKPOINT after a 1.6 GB load: ~60-100 ms at
 * 16 MB, 170-580 ms at 4 MB, ~500 ms at 1 MB) and the archiver fsyncs
 * each one; 1 MB also made a 1.6 GB pg_restore slower.  4 MB is the middle.
 */
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
	argv[10] = "--wal-segsize=4";
	argv[11] = NULL;
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
	/*
	 * initdb scales max_wal_size and min_wal_size with the segment size (64
	 * and 5 segments): at 4 MB a checkpoint every ~135 MB of WAL, at 1 MB
	 * every ~34 MB (a 1.6 GB restore took 1.7 times as long).
	 * PostgreSQL's defaults for 16 MB segments, then, in bytes.
	 */
	fprintf(conf, "\n# branchpromote: PostgreSQL's default WAL sizes, whatever the segment size\n"
			"max_wal_size = 1GB\nmin_wal_size = 80MB\n");
	fprintf(conf, "\n# branchpromote: per-timeline settings\ninclude_if_exists = 'branchpromote.conf'\n");
	FreeFile(conf);
	BpSyncTree(tmp);
	if (rename(tmp, LocalTemplateDir()) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not rename \"%s\" to \"%s\": %m", tmp, LocalTemplateDir()),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	fsync_fname(BpDataRoot(), true);
	BpRemoveTree(LocalOldTemplateDir());	/* no new timeline is cloned from it any more */
}

/* A new root timeline: a clone of the template. */
static const char *
LocalCreateRoot(int64 timeline_id)
{
	BpCloneStats stats;

	BeginTimeline(timeline_id);
	BpCloneTree(LocalTemplateDir(), LocalPgdata(timeline_id), NULL, &stats);
	WriteTimelineConf(timeline_id, 0, NULL);
	BpSyncTree(LocalPgdata(timeline_id));
	return BpCloneMethodName(stats.method);
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
		strcmp(rel, PROMOTE_TRIGGER) == 0 ||
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

/*
 * A data directory's control file into *cf: false if it cannot be read
 * whole or its CRC does not match (torn by a concurrent write of a running
 * server, or damaged).  Never throws.
 */
static bool
ReadControl(const char *pgdata, ControlFileData *cf)
{
	int			fd = BasicOpenFile(psprintf("%s/global/pg_control", pgdata), O_RDONLY | PG_BINARY);
	ssize_t		got;
	pg_crc32c	crc;

	if (fd < 0)
		return false;
	got = read(fd, cf, sizeof(*cf));
	close(fd);
	if (got != (ssize_t) sizeof(*cf))
		return false;
	INIT_CRC32C(crc);
	COMP_CRC32C(crc, cf, offsetof(ControlFileData, crc));
	FIN_CRC32C(crc);
	return EQ_CRC32C(crc, cf->crc);
}

/* A data directory's WAL segment size from its pg_control; 0 if unknown.  Never throws. */
static int
ReadSegSize(const char *pgdata)
{
	ControlFileData cf;

	if (!ReadControl(pgdata, &cf) || !IsValidWalSegSize(cf.xlog_seg_size))
		return 0;
	return (int) cf.xlog_seg_size;
}

/*
 * A timeline no server runs on and that was shut down cleanly: its head,
 * the shutdown checkpoint's LSN.  InvalidXLogRecPtr otherwise (running,
 * starting, stopping, or crashed: recovery has to run first).
 */
/* The control file of a timeline no server runs on that was shut down cleanly, or NULL. */
static ControlFileData *
StoppedControl(int64 timeline_id)
{
	char	   *pgdata = LocalPgdata(timeline_id);
	ControlFileData *control;
	bool		crc_ok;

	if (LocalPostmasterPid(pgdata) != 0)
		return NULL;
	control = get_controlfile(pgdata, &crc_ok);
	if (!crc_ok || control->state != DB_SHUTDOWNED || !IsValidWalSegSize(control->xlog_seg_size))
		return NULL;
	return control;
}

static XLogRecPtr
LocalStoppedHead(int64 timeline_id)
{
	ControlFileData *control = StoppedControl(timeline_id);

	return control ? control->checkPoint : InvalidXLogRecPtr;
}

static XLogRecPtr CopyWalTail(int64 timeline_id, const char *dst_dir, bool seal);

/* A stopped timeline's head, or an error saying why there is none. */
static XLogRecPtr
RequireStoppedHead(int64 timeline_id)
{
	XLogRecPtr	head = LocalStoppedHead(timeline_id);

	if (XLogRecPtrIsInvalid(head))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("timeline " INT64_FORMAT " is neither running nor shut down cleanly", timeline_id),
				 errhint("Start its compute (wake_compute) so it recovers, then try again.")));
	return head;
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

/* What a base backup of a running compute gave. */
typedef struct Backup
{
	XLogRecPtr	start_lsn;		/* replay starts here */
	XLogRecPtr	end_lsn;		/* consistent from here on */
	BpCloneStats stats;
	double		ms[4];			/* backup start, clone, backup stop, WAL (copy or archive wait) */
	/* with a snapshot cloned beside it (BackupClone's snapshot) */
	BpCloneStats snap_stats;
	double		snap_ms;		/* the snapshot's clone, alongside */
	double		snap_wait_ms;	/* what the backup waited for it after its WAL, and its tail */
} Backup;

static double
MsSinceInstr(instr_time *since)
{
	instr_time	now;
	double		ms;

	INSTR_TIME_SET_CURRENT(now);
	ms = INSTR_TIME_GET_MILLISEC(now) - INSTR_TIME_GET_MILLISEC(*since);
	*since = now;
	return ms;
}

/* Remove a file if it is there. */
static void
RemoveIfThere(const char *path)
{
	if (unlink(path) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not remove file \"%s\": %m", path)));
}

/*
 * Zero a WAL segment from offset on (a hole where the filesystem can
 * punch one), so replay ends exactly there: records other sessions wrote
 * after the backup's end are not part of the fork.
 */
static void
ZeroWalTail(const char *path, off_t from, off_t size)
{
	int			fd = OpenTransientFile(path, O_RDWR | PG_BINARY);
	off_t		aligned = TYPEALIGN(XLOG_BLCKSZ, from);
	char	   *zeros;

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
	zeros = palloc0(XLOG_BLCKSZ);
	if (aligned > from && pg_pwrite(fd, zeros, aligned - from, from) != aligned - from)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path)));
	if (aligned < size &&
		fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, aligned, size - aligned) != 0)
	{
		for (off_t off = aligned; off < size; off += XLOG_BLCKSZ)
			if (pg_pwrite(fd, zeros, XLOG_BLCKSZ, off) != XLOG_BLCKSZ)
				ereport(ERROR,
						(errcode_for_file_access(),
						 errmsg("could not write file \"%s\": %m", path)));
	}
	pfree(zeros);
	CloseTransientFile(fd);
}

/*
 * A WAL file of a running source into pgdata's pg_wal: from the source's
 * own pg_wal (cloned, while its archive still receives it), or, if it was
 * recycled meanwhile, from its archive once it is there.  Marked archived
 * (.done) in the copy, so the fork never archives its parent's WAL.
 */
static void
CloneWalFile(int64 source_tl, const char *pgdata, const char *fname, BpCloneStats *stats)
{
	char	   *src = psprintf("%s/pg_wal/%s", LocalPgdata(source_tl), fname);
	char	   *dst = psprintf("%s/pg_wal/%s", pgdata, fname);
	struct stat sb;

	if (stat(src, &sb) != 0)
	{
		WaitArchived(source_tl, fname);
		src = psprintf("%s/%s", LocalArchive(source_tl), fname);
	}
	BpCloneFile(src, dst, 0600, stats);
	LocalWriteInNewTree(psprintf("%s/pg_wal/archive_status/%s.done", pgdata, fname), "");
}

/*
 * The WAL a base backup needs, start_lsn up to end_lsn, into its own
 * pg_wal, cut at end_lsn; and the history file of the source's timeline.
 */
static void
CloneBackupWal(int64 source_tl, const char *pgdata, TimeLineID tli, int segsz,
			   XLogRecPtr start_lsn, XLogRecPtr end_lsn, BpCloneStats *stats)
{
	XLogSegNo	first;
	XLogSegNo	last;
	char		fname[MAXFNAMELEN];

	XLByteToSeg(start_lsn, first, segsz);
	XLByteToPrevSeg(end_lsn, last, segsz);
	for (XLogSegNo segno = first; segno <= last; segno++)
	{
		XLogFileName(fname, tli, segno, segsz);
		CloneWalFile(source_tl, pgdata, fname, stats);
	}
	if (XLogSegmentOffset(end_lsn, segsz) != 0)
		ZeroWalTail(psprintf("%s/pg_wal/%s", pgdata, fname), XLogSegmentOffset(end_lsn, segsz),
					segsz);
	if (tli > 1)
	{
		TLHistoryFileName(fname, tli);
		CloneWalFile(source_tl, pgdata, fname, stats);
	}
}


/*
 * A fork of a running source may start its replay at the source's last
 * checkpoint instead of asking for a new one (pg_backup_start's fast
 * checkpoint, ~25 ms on an idle source, plus a segment switch), while no
 * more WAL than this has been written since that checkpoint's redo point:
 * the fork replays it instead.
 */
#define REUSE_CHECKPOINT_MAX_WAL (16 * 1024 * 1024)

/* Where a base backup of a running source starts. */
typedef struct BackupStart
{
	TimeLineID	tli;			/* the source's WAL timeline */
	int			segsz;
	bool		reused;			/* from the last checkpoint, label ours */
	XLogRecPtr	checkpoint;		/* with reused: its record ... */
	ControlFileData control;	/* ... and the control file that named it */
} BackupStart;

static void BackupCopy(PGconn *conn, int64 source_tl, const char *pgdata, bool own_wal,
					   const BackupStart *bs, instr_time *t, Backup *out);

/* A snapshot cloned alongside a backup: its WAL and label come after. */
static BpCloneFilter
RunningNoWalFilter(const char *rel, bool is_dir)
{
	return strcmp(rel, "pg_wal") == 0 ? BP_CLONE_SKIP : RunningFilter(rel, is_dir);
}

/* Does a data directory link any tablespace (an entry in pg_tblspc)? */
static bool
HasTablespaces(const char *pgdata)
{
	char	   *path = psprintf("%s/pg_tblspc", pgdata);
	DIR		   *dir = AllocateDir(path);
	struct dirent *de;
	bool		any = false;

	while ((de = ReadDir(dir, path)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			any = true;
	FreeDir(dir);
	return any;
}

/*
 * Can a fork of the running source start from its last checkpoint, its WAL
 * insert position at insert and full_page_writes as fpw?
 * Only if its control file reads whole and says "in production", the
 * checkpoint is on the source's current WAL timeline, full_page_writes is
 * on (what pg_backup_start would force: the first change of each page
 * after the checkpoint carries the whole page, so no page of the clone can
 * be torn), at most REUSE_CHECKPOINT_MAX_WAL has been written since, and
 * no tablespace is linked (pg_backup_start's path refuses those).
 * The control file is read before anything is cloned: every change before
 * its checkpoint's redo point is in the files by then, and every later
 * one is in the WAL the fork replays.  insert was read before it: a
 * checkpoint that completed in between leaves insert behind the new redo
 * point, and the fork takes pg_backup_start's path.
 */
static bool
ReuseCheckpoint(int64 source_tl, XLogRecPtr insert, bool fpw, BackupStart *bs)
{
	ControlFileData *cf = &bs->control;

	if (HasTablespaces(LocalPgdata(source_tl)))
		return false;			/* pg_backup_stop's map refuses them */
	if (!ReadControl(LocalPgdata(source_tl), cf) || cf->state != DB_IN_PRODUCTION ||
		cf->xlog_seg_size != (uint32) bs->segsz)
		return false;			/* torn by a concurrent write, or not a primary */
	elog(DEBUG1, "timeline " INT64_FORMAT ": last checkpoint's redo at %X/%X on WAL timeline %u, insert at %X/%X on %u, full_page_writes %s",
		 source_tl, LSN_FORMAT_ARGS(cf->checkPointCopy.redo), cf->checkPointCopy.ThisTimeLineID,
		 LSN_FORMAT_ARGS(insert), bs->tli, fpw ? "on" : "off");
	if (!fpw || cf->checkPointCopy.ThisTimeLineID != bs->tli ||
		insert < cf->checkPointCopy.redo ||
		insert - cf->checkPointCopy.redo > REUSE_CHECKPOINT_MAX_WAL)
		return false;
	bs->checkpoint = cf->checkPoint;
	return true;
}

/*
 * The source's WAL timeline and segment size, and the start of a base
 * backup: its last checkpoint (ReuseCheckpoint), when a fork may start
 * there; else pg_backup_start's.
 */
static XLogRecPtr
StartBackup(PGconn *conn, int64 source_tl, bool own_wal, BackupStart *bs)
{
	PGresult   *res;
	const char *label[1];
	XLogRecPtr	start;
	XLogRecPtr	insert;
	bool		fpw;

	res = BpExec(conn, "SELECT i, pg_catalog.pg_walfile_name(i), "
				 "(SELECT setting FROM pg_catalog.pg_settings WHERE name = 'wal_segment_size'), "
				 "pg_catalog.current_setting('full_page_writes') = 'on' "
				 "FROM pg_catalog.pg_current_wal_insert_lsn() i",
				 0, NULL, bp_operation_timeout_ms);
	insert = ParseLsn(PQgetvalue(res, 0, 0));
	bs->tli = (TimeLineID) strtoul(pnstrdup(PQgetvalue(res, 0, 1), 8), NULL, 16);
	bs->segsz = atoi(PQgetvalue(res, 0, 2));
	fpw = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	if (!IsValidWalSegSize(bs->segsz))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("the source compute reported a WAL segment size of \"%s\"", PQgetvalue(res, 0, 2)),
				 errhint("The source compute answered oddly; see its log.")));
	PQclear(res);
	bs->reused = own_wal && ReuseCheckpoint(source_tl, insert, fpw, bs);
	if (bs->reused)
		return bs->control.checkPointCopy.redo;
	label[0] = psprintf("branchpromote base backup of timeline " INT64_FORMAT, source_tl);
	res = BpExec(conn, "SELECT pg_catalog.pg_backup_start($1, true)", 1, label,
				 bp_operation_timeout_ms);
	start = ParseLsn(PQgetvalue(res, 0, 0));
	PQclear(res);
	return start;
}

/*
 * Clone a running compute's data directory into pgdata as a base backup:
 * start it (StartBackup), clone, end it, its label as backup_label;
 * returns once the WAL up to the backup's end is in the fork (own_wal) or
 * archived.
 *
 * With snapshot, a second copy of the same backup goes there, cloned from
 * the source in a thread of its own during the backup (clone.c), while
 * this one clones, stops the backup and takes its WAL; then the label, the
 * control file and the WAL are cloned into it.  Both copies are taken
 * between the same start and end, so both are that backup.
 */
static void
BackupClone(int64 source_tl, const BpComputeAddr *source, const char *pgdata, bool own_wal,
			const char *snapshot, Backup *out)
{
	BpCloneJob *job = NULL;
	BpCloneStats tail;
	PGconn	   *conn;
	instr_time	t;
	BackupStart bs;

	INSTR_TIME_SET_CURRENT(t);
	conn = BpConnect(source, bp_operation_timeout_ms);
	memset(&bs, 0, sizeof(bs));
	out->start_lsn = StartBackup(conn, source_tl, own_wal, &bs);
	out->ms[0] = MsSinceInstr(&t);
	if (snapshot)
		job = BpCloneTreeBegin(LocalPgdata(source_tl), snapshot, RunningNoWalFilter);
	PG_TRY();
	{
		BackupCopy(conn, source_tl, pgdata, own_wal, &bs, &t, out);
	}
	PG_CATCH();
	{
		if (job)
			BpCloneTreeAbandon(job);
		PG_RE_THROW();
	}
	PG_END_TRY();
	BpDisconnect(conn);
	if (job == NULL)
		return;
	BpCloneTreeEnd(job, &out->snap_stats, &out->snap_ms);
	BpCloneFile(psprintf("%s/backup_label", pgdata), psprintf("%s/backup_label", snapshot),
				0600, &out->snap_stats);
	if (bs.reused)
	{
		char	   *control = psprintf("%s/global/pg_control", snapshot);

		RemoveIfThere(control);
		BpCloneFile(psprintf("%s/global/pg_control", pgdata), control, 0600, &out->snap_stats);
	}
	BpCloneTree(psprintf("%s/pg_wal", pgdata), psprintf("%s/pg_wal", snapshot), NULL, &tail);
	out->snap_stats.files += tail.files;
	out->snap_stats.bytes += tail.bytes;
	if (tail.method == BP_CLONE_COPY)
		out->snap_stats.method = BP_CLONE_COPY;
	out->snap_wait_ms = MsSinceInstr(&t);
}

/*
 * End a backup that started at the source's last checkpoint: a restore
 * point, flushed by a synchronous commit.  Its end is past every change
 * the clone can hold (a page reaches its file only after the WAL up to
 * the page's LSN is flushed, and the clone was done before the restore
 * point was written).  The fork is then a backup "from a standby": its
 * backup_label names the checkpoint, and its control file says "in
 * archive recovery" with that end as its minimum recovery point, so the
 * fork's recovery is consistent only once it has replayed that far.
 */
static XLogRecPtr
EndReusedBackup(PGconn *conn, int64 source_tl, const char *pgdata, const BackupStart *bs)
{
	const char *label[1];
	PGresult   *res;
	XLogRecPtr	end;
	XLogSegNo	segno;
	char		fname[MAXFNAMELEN];
	ControlFileData control = bs->control;
	XLogRecPtr	redo = control.checkPointCopy.redo;

	label[0] = psprintf("branchpromote fork of timeline " INT64_FORMAT, source_tl);
	res = BpExec(conn, "SELECT pg_catalog.pg_create_restore_point($1), pg_catalog.pg_current_xact_id(), "
				 "pg_catalog.set_config('synchronous_commit', 'on', true)", 1, label,
				 bp_operation_timeout_ms);
	end = ParseLsn(PQgetvalue(res, 0, 0));
	PQclear(res);
	XLByteToSeg(redo, segno, bs->segsz);
	XLogFileName(fname, bs->tli, segno, bs->segsz);
	LocalWriteInNewTree(psprintf("%s/backup_label", pgdata),
						psprintf("START WAL LOCATION: %X/%X (file %s)\n"
								 "CHECKPOINT LOCATION: %X/%X\n"
								 "BACKUP METHOD: streamed\n"
								 "BACKUP FROM: standby\n"
								 "START TIME: %s\n"
								 "LABEL: %s (from its last checkpoint)\n"
								 "START TIMELINE: %u\n",
								 LSN_FORMAT_ARGS(redo), fname, LSN_FORMAT_ARGS(bs->checkpoint),
								 timestamptz_to_str(GetCurrentTimestamp()), label[0], bs->tli));
	control.state = DB_IN_ARCHIVE_RECOVERY;
	control.minRecoveryPoint = end;
	control.minRecoveryPointTLI = bs->tli;
	control.backupStartPoint = InvalidXLogRecPtr;
	control.backupEndPoint = InvalidXLogRecPtr;
	control.backupEndRequired = false;
	update_controlfile(pgdata, &control, false);	/* durable with the tree's one sync */
	return end;
}

/* BackupClone's part between the backup's start and its WAL (conn in backup mode, unless reused). */
static void
BackupCopy(PGconn *conn, int64 source_tl, const char *pgdata, bool own_wal, const BackupStart *bs,
		   instr_time *t, Backup *out)
{
	PGresult   *res;

	BpCloneTree(LocalPgdata(source_tl), pgdata, RunningFilter, &out->stats);
	EnsureDir(psprintf("%s/pg_wal/archive_status", pgdata));
	out->ms[1] = MsSinceInstr(t);
	if (bs->reused)
	{
		out->end_lsn = EndReusedBackup(conn, source_tl, pgdata, bs);
		out->ms[2] = MsSinceInstr(t);
		CloneBackupWal(source_tl, pgdata, bs->tli, bs->segsz, out->start_lsn, out->end_lsn,
					   &out->stats);
		out->ms[3] = MsSinceInstr(t);
		return;
	}

	/*
	 * pg_backup_stop(true) polls the archive once a second; instead, stop
	 * without waiting.  Then either take the WAL the backup needs from the
	 * source's pg_wal (own_wal), or wait on our latch for the one segment
	 * that ends the backup to reach the archive (earlier ones are archived
	 * before it, in order).
	 */
	res = BpExec(conn, "SELECT s.lsn, s.labelfile, s.spcmapfile, pg_catalog.pg_walfile_name(s.lsn) "
				 "FROM pg_catalog.pg_backup_stop(false) s", 0, NULL, bp_operation_timeout_ms);
	if (PQntuples(res) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("pg_backup_stop returned %d rows", PQntuples(res)),
				 errhint("The source compute answered pg_backup_stop oddly; see its log.")));
	out->end_lsn = ParseLsn(PQgetvalue(res, 0, 0));
	LocalWriteInNewTree(psprintf("%s/backup_label", pgdata), PQgetvalue(res, 0, 1));
	if (!PQgetisnull(res, 0, 2) && PQgetvalue(res, 0, 2)[0] != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the source timeline uses tablespaces"),
				 errhint("The local driver forks only timelines without tablespaces.")));
	out->ms[2] = MsSinceInstr(t);
	if (own_wal)
		CloneBackupWal(source_tl, pgdata, bs->tli, bs->segsz, out->start_lsn, out->end_lsn,
					   &out->stats);
	else
		WaitArchived(source_tl, PQgetvalue(res, 0, 3));
	out->ms[3] = MsSinceInstr(t);
	PQclear(res);
}

/*
 * Fork a running source through a non-exclusive base backup; with
 * snapshot, the same backup's second copy goes there (BackupClone).
 */
static void
ForkRunning(int64 source_tl, const BpComputeAddr *source, int64 new_tl, const char *snapshot,
			BpForkResult *result)
{
	Backup		b;

	memset(&b, 0, sizeof(b));
	BackupClone(source_tl, source, LocalPgdata(new_tl), true, snapshot, &b);
	WriteTimelineConf(new_tl, FROM_OWN_WAL, NULL);
	snprintf(result->phases, sizeof(result->phases),
			 "\"backup start\": %.3f, \"clone\": %.3f, \"backup stop\": %.3f, \"wal\": %.3f",
			 b.ms[0], b.ms[1], b.ms[2], b.ms[3]);
	result->start_lsn = b.start_lsn;
	result->fork_lsn = b.end_lsn;
	result->method = BpCloneMethodName(b.stats.method);
	result->bytes = b.stats.bytes;
	result->source_was_running = true;
	if (snapshot)
	{
		size_t		len = strlen(result->phases);

		result->base.method = BpCloneMethodName(b.snap_stats.method);
		result->base.bytes = b.snap_stats.bytes;
		snprintf(result->phases + len, sizeof(result->phases) - len,
				 ", \"base snapshot\": %.3f, \"base snapshot alongside\": %.3f",
				 b.snap_wait_ms, b.snap_ms);
	}
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
	result->start_lsn = result->fork_lsn = control->checkPoint;
	WriteTimelineConf(new_tl, FROM_OWN_WAL, NULL);
	result->method = BpCloneMethodName(stats.method);
	result->bytes = stats.bytes;
	result->source_was_running = false;
}

static char *LocalSnapshotRoot(int64 timeline_id);
static char *LocalSnapshotDir(int64 timeline_id, int64 snapshot_id);
static BpCloneFilter SnapshotFilter(const char *rel, bool is_dir);
static void WriteSnapshotEnd(const char *snapdir, XLogRecPtr end);

/*
 * Fork source's head into new_tl; with base_snapshot_id, also its base
 * snapshot, before the fork's first start: of a running source, a second
 * copy of the same base backup, cloned alongside (BackupClone); of a
 * stopped one, a clone of the fork's files.  Either holds all the WAL it
 * needs, so the snapshot is one more clone, not a second base backup of
 * the new compute.
 */
static void
LocalForkAtHead(int64 source_tl, const BpComputeAddr *running, int64 new_tl,
				int64 base_snapshot_id, BpForkResult *result)
{
	char	   *pgdata = LocalPgdata(new_tl);
	char	   *dir = base_snapshot_id != 0 ? LocalSnapshotDir(new_tl, base_snapshot_id) : NULL;
	instr_time	t;
	size_t		len;

	result->phases[0] = '\0';
	memset(&result->base, 0, sizeof(result->base));
	BeginTimeline(new_tl);
	if (dir)
		MakeOwnedDir(LocalSnapshotRoot(new_tl), dir, "snapshot", NULL);
	if (running != NULL)
		ForkRunning(source_tl, running, new_tl, dir ? psprintf("%s/pgdata", dir) : NULL, result);
	else
		ForkStopped(source_tl, new_tl, result);

	INSTR_TIME_SET_CURRENT(t);
	if (dir)
	{
		result->base.start_lsn = result->start_lsn;
		result->base.lsn = result->fork_lsn;
		if (result->source_was_running)
			WriteSnapshotEnd(dir, result->fork_lsn);	/* its files came with the backup */
		else
		{
			BpCloneStats stats;

			BpCloneTree(pgdata, psprintf("%s/pgdata", dir), SnapshotFilter, &stats);
			result->base.method = BpCloneMethodName(stats.method);
			result->base.bytes = stats.bytes;
			len = strlen(result->phases);
			snprintf(result->phases + len, sizeof(result->phases) - len, "%s\"base snapshot\": %.3f",
					 len ? ", " : "", MsSinceInstr(&t));
		}
	}

	/*
	 * A standby of its own pg_wal, told to promote when that ends: so it
	 * runs no restore_command (no shell per WAL file), and promotes at once
	 * without the synchronous end-of-recovery checkpoint a recovery target
	 * costs (the checkpoint runs in the background after the promotion).
	 */
	LocalWriteInNewTree(psprintf("%s/standby.signal", pgdata), "");
	LocalWriteInNewTree(psprintf("%s/" PROMOTE_TRIGGER, pgdata), "");

	/*
	 * Make the clone durable before anything commits that references it.  A
	 * clone of a running source needs nothing here: its control file says
	 * "in production" or "in archive recovery", so the fork's first start
	 * syncs the whole data directory (recovery_init_sync_method) before it
	 * accepts connections,
	 * and callers wait for that before they commit.  A stopped source's
	 * clone starts as cleanly shut down, with no such sync, and a base
	 * snapshot is never started: sync here (one syncfs covers both).
	 */
	if (!result->source_was_running || base_snapshot_id != 0)
	{
		BpSyncTree(pgdata);
		len = strlen(result->phases);
		snprintf(result->phases + len, sizeof(result->phases) - len, "%s\"sync\": %.3f",
				 len ? ", " : "", MsSinceInstr(&t));
	}
}


/* A directory becomes this catalog's: its owner file names creator (committed). */
static void
LocalRestamp(int64 timeline_id, int64 snapshot_id, FullTransactionId creator, const char *stamp)
{
	char	   *dir = snapshot_id != 0 ? LocalSnapshotDir(timeline_id, snapshot_id) :
		LocalTimelineDir(timeline_id);

	LocalWriteFile(psprintf("%s/owner", dir),
				   psprintf(UINT64_FORMAT " %s\n", U64FromFullTransactionId(creator), stamp));
}

/*
 * Fill in who created dir (its owner file: "<xid> <incarnation> <WAL
 * timeline>"), whether that is this catalog on this WAL timeline, whether
 * it is under a minute old, and whether it is empty but for an owner file
 * being written.
 */
static void
ReadOwner(const char *dir, BpStoredTimeline *t)
{
	FILE	   *f;
	unsigned long long xid = 0;
	char		inc[40] = "";
	unsigned int tli = 0;
	struct stat sb;
	DIR		   *d;
	struct dirent *de;

	t->creator = InvalidFullTransactionId;
	t->current = false;
	t->stamp[0] = '\0';
	t->young = stat(dir, &sb) == 0 && sb.st_mtime > time(NULL) - 60;
	f = AllocateFile(psprintf("%s/owner", dir), "r");
	if (f == NULL && errno != ENOENT)
		t->young = true;		/* unreadable owner file: never collected as ownerless */
	if (f != NULL)
	{
		int			got = fscanf(f, "%llu %39s %u", &xid, inc, &tli);

		if (got >= 1)
			t->creator = FullTransactionIdFromU64(xid);
		if (got == 3)
		{
			char	   *now = BpOwnerStamp();

			snprintf(t->stamp, sizeof(t->stamp), "%s %u", inc, tli);
			t->current = now != NULL && strcmp(t->stamp, now) == 0;
		}
		FreeFile(f);
	}
	d = AllocateDir(dir);
	t->empty = d != NULL;		/* unreadable: not known to be empty, so kept */
	while (d != NULL && (de = ReadDirExtended(d, dir, LOG)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
			strncmp(de->d_name, "owner", 5) != 0)
			t->empty = false;
	if (d != NULL)
		FreeDir(d);
}

/* The id a directory entry named by a positive number stands for; 0 if none. */
static int64
OwnedDirId(const char *name)
{
	char	   *end;
	long long	id = strtoll(name, &end, 10);

	return (*end != '\0' || id <= 0) ? 0 : (int64) id;
}

/*
 * The directories under root named by a positive number, each with the
 * transaction that created it (List of BpStoredTimeline *; NIL if root is
 * missing).
 */
static List *
ListOwned(const char *root)
{
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
		int64		id = OwnedDirId(de->d_name);

		if (id == 0)
			continue;
		t = palloc0(sizeof(BpStoredTimeline));
		t->timeline_id = id;
		ReadOwner(psprintf("%s/%s", root, de->d_name), t);
		out = lappend(out, t);
	}
	FreeDir(dir);
	return out;
}

/* Every timeline directory, with its creating transaction. */
static List *
LocalList(void)
{
	return ListOwned(psprintf("%s/timelines", BpDataRoot()));
}

/*
 * The trash: <data_root>/trash/<epoch seconds>/timelines/<id> (a removed
 * timeline: the same shape, so the helper still knows its data directory)
 * and .../snapshots/<timeline>-<id>.  Removal is final only when the
 * reconciler empties what has been there for branchpromote.trash_retention.
 */
static char *
TrashDir(void)
{
	return psprintf("%s/trash", BpDataRoot());
}

/* This pass's trash directory, made if new (a rename target on the same filesystem). */
static char *
TrashNow(const char *sub)
{
	char	   *dir = psprintf("%s/" INT64_FORMAT, TrashDir(), (int64) time(NULL));

	EnsureDir(TrashDir());
	EnsureDir(dir);
	dir = psprintf("%s/%s", dir, sub);
	EnsureDir(dir);
	return dir;
}

/*
 * fsync a directory, unless it is gone: the trash job may have emptied a
 * trash directory the moment something was moved into it (with
 * branchpromote.trash_retention = 0), and fsync_fname would PANIC.
 */
static void
FsyncDirIfThere(const char *path)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY);

	if (fd < 0)
	{
		if (errno == ENOENT)
			return;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open directory \"%s\": %m", path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync directory \"%s\": %m", path)));
	CloseTransientFile(fd);
}

/*
 * Move path into the trash as trash/<now>/<sub>/<name>, durably.  A move
 * that finds its trash directory already emptied leaves path where it was,
 * for the reconciler's next pass.
 */
static void
MoveToTrash(const char *path, const char *sub, const char *name)
{
	char	   *into = TrashNow(sub);
	char	   *to = psprintf("%s/%s", into, name);

	if (rename(path, to) != 0 && errno != ENOENT)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not move \"%s\" to the trash \"%s\": %m", path, to),
				 errhint("Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user.")));
	FsyncDirIfThere(into);
	FsyncDirIfThere(pnstrdup(path, strrchr(path, '/') - path));	/* where it was */
}

/* Remove a timeline (data, archive, log, snapshots): into the trash. */
static void
LocalRemove(int64 timeline_id)
{
	MoveToTrash(LocalTimelineDir(timeline_id), "timelines", psprintf(INT64_FORMAT, timeline_id));
}

/* Remove a directory tree of the trash for good (a compute user's data directories through the helper). */
static void
PurgeTree(const char *path)
{
	char	   *timelines = psprintf("%s/timelines", path);
	DIR		   *d = AllocateDir(timelines);
	struct dirent *de;

	while (d != NULL && (de = ReadDirExtended(d, timelines, LOG)) != NULL)
	{
		char	   *pgdata = psprintf("%s/%s/pgdata", timelines, de->d_name);
		struct stat sb;

		if (OwnedDirId(de->d_name) != 0 && LocalSeparateUser() && lstat(pgdata, &sb) == 0 &&
			sb.st_uid == LocalComputeUid())
			LocalHelper("remove", pgdata, NULL);
	}
	if (d != NULL)
		FreeDir(d);
	BpRemoveTree(path);
}

/* Empty the trash of what went there before older_than. */
static int
LocalPurgeTrash(TimestampTz older_than)
{
	char	   *root = TrashDir();
	DIR		   *d = AllocateDir(root);
	struct dirent *de;
	List	   *old = NIL;
	ListCell   *lc;

	while (d != NULL && (de = ReadDirExtended(d, root, LOG)) != NULL)
	{
		int64		when = OwnedDirId(de->d_name);

		if (when != 0 && time_t_to_timestamptz((pg_time_t) when) <= older_than)
			old = lappend(old, psprintf("%s/%s", root, de->d_name));
	}
	if (d != NULL)
		FreeDir(d);
	foreach(lc, old)
		PurgeTree(lfirst(lc));
	return list_length(old);
}

/* ------------------------------------------------------------ history */

static char *
LocalSnapshotRoot(int64 timeline_id)
{
	return psprintf("%s/snapshots", LocalTimelineDir(timeline_id));
}

static char *
LocalSnapshotDir(int64 timeline_id, int64 snapshot_id)
{
	return psprintf("%s/" INT64_FORMAT, LocalSnapshotRoot(timeline_id), snapshot_id);
}

/*
 * A snapshot, kept un-started under snapshots/<id>/pgdata (with an owner
 * file, like a timeline, so the reconciler removes one whose transaction
 * aborted): a base backup of the running compute, or a clone of a cleanly
 * stopped one's files.
 */
static void
LocalSnapshot(int64 timeline_id, const BpComputeAddr *running, int64 snapshot_id,
			  BpSnapshotResult *result)
{
	char	   *dir = LocalSnapshotDir(timeline_id, snapshot_id);
	Backup		b;
	instr_time	t;

	INSTR_TIME_SET_CURRENT(t);
	if (running == NULL)
	{
		/* stopped cleanly: its files are consistent at the shutdown checkpoint */
		XLogRecPtr	head = RequireStoppedHead(timeline_id);

		MakeOwnedDir(LocalSnapshotRoot(timeline_id), dir, "snapshot", NULL);
		BpCloneTree(LocalPgdata(timeline_id), psprintf("%s/pgdata", dir), StoppedFilter,
					&b.stats);
		b.start_lsn = b.end_lsn = head;
		snprintf(result->phases, sizeof(result->phases), "\"clone\": %.3f", MsSinceInstr(&t));
	}
	else
	{
		MakeOwnedDir(LocalSnapshotRoot(timeline_id), dir, "snapshot", NULL);
		BackupClone(timeline_id, running, psprintf("%s/pgdata", dir), false, NULL, &b);
		WriteSnapshotEnd(dir, b.end_lsn);
		snprintf(result->phases, sizeof(result->phases),
				 "\"backup start\": %.3f, \"clone\": %.3f, \"backup stop\": %.3f, \"archive wait\": %.3f",
				 b.ms[0], b.ms[1], b.ms[2], b.ms[3]);
		INSTR_TIME_SET_CURRENT(t);
	}
	BpSyncTree(dir);			/* it must outlive a crash once its row commits */
	{
		size_t		len = strlen(result->phases);

		snprintf(result->phases + len, sizeof(result->phases) - len, ", \"sync\": %.3f",
				 MsSinceInstr(&t));
	}
	result->start_lsn = b.start_lsn;
	result->lsn = b.end_lsn;
	result->method = BpCloneMethodName(b.stats.method);
	result->bytes = b.stats.bytes;
}

/* A snapshot's files: everything (its backup_label above all) but our settings and signals. */
static BpCloneFilter
SnapshotFilter(const char *rel, bool is_dir)
{
	return strcmp(rel, "branchpromote.conf") == 0 || strcmp(rel, "recovery.signal") == 0 ||
		strcmp(rel, "standby.signal") == 0 || strcmp(rel, PROMOTE_TRIGGER) == 0 ?
		BP_CLONE_SKIP : BP_CLONE_KEEP;
}

/*
 * A snapshot's end, where it is consistent (a base backup's end), beside
 * its pgdata; a fork at the snapshot replays exactly up to it.  A snapshot
 * of a stopped timeline needs none: it is consistent at its shutdown
 * checkpoint.
 */
#define SNAPSHOT_END "end_lsn"

static void
WriteSnapshotEnd(const char *snapdir, XLogRecPtr end)
{
	LocalWriteInNewTree(psprintf("%s/" SNAPSHOT_END, snapdir),
				   psprintf("%X/%X\n", LSN_FORMAT_ARGS(end)));
}

/* InvalidXLogRecPtr if the snapshot has no end file (made before snapshots recorded it). */
static XLogRecPtr
ReadSnapshotEnd(const char *snapdir)
{
	char	   *path = psprintf("%s/" SNAPSHOT_END, snapdir);
	FILE	   *f = AllocateFile(path, "r");
	char		line[64];
	XLogRecPtr	end = InvalidXLogRecPtr;

	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not read file \"%s\": %m", path)));
		return InvalidXLogRecPtr;
	}
	if (fgets(line, sizeof(line), f) != NULL)
		end = ParseLsn(line);
	FreeFile(f);
	return end;
}

/* A base backup's start and WAL timeline, from its backup_label. */
static void
ReadBackupStart(const char *pgdata, XLogRecPtr *start, TimeLineID *tli)
{
	char	   *path = psprintf("%s/backup_label", pgdata);
	FILE	   *f = AllocateFile(path, "r");
	char		line[MAXPGPATH];
	uint32		hi;
	uint32		lo;
	unsigned int t;

	*start = InvalidXLogRecPtr;
	*tli = 0;
	if (f == NULL)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read file \"%s\": %m", path)));
	while (fgets(line, sizeof(line), f) != NULL)
	{
		if (sscanf(line, "START WAL LOCATION: %X/%X", &hi, &lo) == 2)
			*start = ((uint64) hi << 32) | lo;
		else if (sscanf(line, "START TIMELINE: %u", &t) == 1)
			*tli = (TimeLineID) t;
	}
	FreeFile(f);
	if (XLogRecPtrIsInvalid(*start) || *tli == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("backup label \"%s\" names no start", path),
				 errhint("Fork from another snapshot: pick an LSN another one reaches.")));
}

/*
 * A record read at an LSN target may end beyond the target's segment;
 * this many segments after it are cloned too (WAL records are far smaller).
 */
#define REPLAY_HEADROOM_SEGS 16

/*
 * Segments first..last (of any WAL timeline) in a running source's pg_wal
 * that its archive lacks (a seal flushed them, BP_SEAL_FORKS; the archiver
 * has not copied them yet), into wal (a fork's pg_wal), replacing the
 * snapshot's own (which may be recycled files under later names), marked
 * archived.  Before CloneArchivedWal: one archived meanwhile is replaced
 * again by the archive's copy there.  Recovery validates each page and
 * record, so a segment the source recycled under a later name only ends
 * the WAL there; one recycled between the look and the clone was archived
 * first, and is taken from there.
 */
static void
CloneUnarchivedWal(int64 source_tl, const char *wal, int segsz,
				   XLogSegNo first, XLogSegNo last, BpCloneStats *stats)
{
	char	   *srcwal = psprintf("%s/pg_wal", LocalPgdata(source_tl));
	DIR		   *dir = AllocateDir(srcwal);
	struct dirent *de;

	EnsureDir(psprintf("%s/archive_status", wal));
	while ((de = ReadDirExtended(dir, srcwal, DEBUG1)) != NULL)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;
		char	   *dst;
		char	   *src;
		struct stat sb;

		if (!IsXLogFileName(de->d_name))
			continue;
		XLogFromFileName(de->d_name, &tli, &segno, segsz);
		if (segno < first || segno > last)
			continue;
		if (stat(psprintf("%s/%s", LocalArchive(source_tl), de->d_name), &sb) == 0)
			continue;			/* the archive's copy comes next */
		dst = psprintf("%s/%s", wal, de->d_name);
		RemoveIfThere(dst);
		src = psprintf("%s/%s", srcwal, de->d_name);
		if (stat(src, &sb) != 0)
			src = psprintf("%s/%s", LocalArchive(source_tl), de->d_name);
		BpCloneFile(src, dst, 0600, stats);
		LocalWriteInNewTree(psprintf("%s/archive_status/%s.done", wal, de->d_name), "");
	}
	if (dir != NULL)
		FreeDir(dir);
}

/*
 * Into pgdata's pg_wal, marked archived (the fork never archives its
 * parent's WAL): every history file in the source's archive, and its
 * archived segments first..last, of the WAL timeline only_tli or (0) of
 * every one; recovery picks among them as the histories say.  A segment
 * the archive has replaces the snapshot's own: that may be a recycled
 * file under a later name.  Returns how many segments first..need are
 * now in pg_wal, on any WAL timeline.
 */
static int
CloneArchivedWal(int64 source_tl, const char *pgdata, int segsz, TimeLineID only_tli,
				 XLogSegNo first, XLogSegNo last, XLogSegNo need, BpCloneStats *stats)
{
	char	   *archive = LocalArchive(source_tl);
	char	   *wal = psprintf("%s/pg_wal", pgdata);
	int			n = need >= first ? (int) (need - first + 1) : 0;
	bool	   *have = palloc0(Max(n, 1) * sizeof(bool));
	int			found = 0;
	DIR		   *dir;
	struct dirent *de;

	EnsureDir(psprintf("%s/archive_status", wal));
	dir = AllocateDir(archive);
	while ((de = ReadDir(dir, archive)) != NULL)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;
		char	   *dst;

		if (IsXLogFileName(de->d_name))
		{
			XLogFromFileName(de->d_name, &tli, &segno, segsz);
			if (segno < first || segno > last || (only_tli != 0 && tli != only_tli))
				continue;
		}
		else if (!IsTLHistoryFileName(de->d_name))
			continue;
		dst = psprintf("%s/%s", wal, de->d_name);
		RemoveIfThere(dst);
		BpCloneFile(psprintf("%s/%s", archive, de->d_name), dst, 0600, stats);
		LocalWriteInNewTree(psprintf("%s/archive_status/%s.done", wal, de->d_name), "");
	}
	FreeDir(dir);
	/* what the fork's pg_wal holds now, the snapshot's own segments included */
	dir = AllocateDir(wal);
	while ((de = ReadDir(dir, wal)) != NULL)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;

		if (!IsXLogFileName(de->d_name))
			continue;
		XLogFromFileName(de->d_name, &tli, &segno, segsz);
		if (segno >= first && segno <= need && !have[segno - first])
		{
			have[segno - first] = true;
			found++;
		}
	}
	FreeDir(dir);
	pfree(have);
	return found;
}

/* The WAL a fork needs, from first to need (inclusive), is not all there: say which. */
static void
RequireWal(int64 source_tl, int64 snapshot_id, int found, XLogSegNo first, XLogSegNo need)
{
	if (found < (int) (need - first + 1))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the WAL of timeline " INT64_FORMAT " after its snapshot " INT64_FORMAT " is incomplete",
						source_tl, snapshot_id),
				 errdetail("%d of the " UINT64_FORMAT " segments it needs are in its archive.",
						   found, (uint64) (need - first + 1)),
				 errhint("Fork from another snapshot: pick an LSN another one reaches.")));
}

/*
 * Clone a snapshot's files into pgdata in a thread while meanwhile(arg)
 * runs here; returns meanwhile's time (the clone's own in *clone_ms).
 */
static double
CloneWhile(const char *snapdata, const char *pgdata, void (*meanwhile) (void *arg), void *arg,
		   BpCloneStats *stats, double *clone_ms)
{
	BpCloneJob *job = BpCloneTreeBegin(snapdata, pgdata, SnapshotFilter);
	instr_time	t;
	double		ms;

	INSTR_TIME_SET_CURRENT(t);
	PG_TRY();
	{
		meanwhile(arg);
	}
	PG_CATCH();
	{
		BpCloneTreeAbandon(job);
		PG_RE_THROW();
	}
	PG_END_TRY();
	ms = MsSinceInstr(&t);
	BpCloneTreeEnd(job, stats, clone_ms);
	return ms;
}

/*
 * End a fork's WAL right before the first record at or past target, as
 * recovery_target_lsn = target with recovery_target_inclusive = off would
 * stop: that record's segment is zeroed from it on, and every later segment
 * removed.  The fork, a standby of its own pg_wal, then promotes by its
 * trigger file at the end of its WAL, with no synchronous end-of-recovery
 * checkpoint (a recovery target ends recovery with one).
 */
static void
CutWalAt(int64 source_tl, const char *wal, int segsz, XLogRecPtr target)
{
	TimeLineID	tli;
	XLogRecPtr	cut = BpFirstRecordFrom(wal, segsz, target, &tli);
	XLogSegNo	cutseg;
	char		fname[MAXFNAMELEN];
	DIR		   *dir;
	struct dirent *de;

	if (XLogRecPtrIsInvalid(cut))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the WAL of timeline " INT64_FORMAT " has no whole record at or past %X/%X",
						source_tl, LSN_FORMAT_ARGS(target)),
				 errdetail("A fork at an LSN replays up to the first record at or past it."),
				 errhint("Pick an earlier LSN, or fork from another snapshot.")));
	XLByteToSeg(cut, cutseg, segsz);
	XLogFileName(fname, tli, cutseg, segsz);
	ZeroWalTail(psprintf("%s/%s", wal, fname), XLogSegmentOffset(cut, segsz), segsz);
	dir = AllocateDir(wal);
	while ((de = ReadDir(dir, wal)) != NULL)
	{
		TimeLineID	seg_tli = 0;
		XLogSegNo	segno = 0;

		if (!IsXLogFileName(de->d_name))
			continue;
		XLogFromFileName(de->d_name, &seg_tli, &segno, segsz);
		if (segno < cutseg || (segno == cutseg && seg_tli <= tli))
			continue;
		RemoveIfThere(psprintf("%s/%s", wal, de->d_name));
		(void) unlink(psprintf("%s/archive_status/%s.done", wal, de->d_name));
	}
	FreeDir(dir);
}

/*
 * Fork source at target (InvalidXLogRecPtr: the snapshot's own LSN) from
 * one of its snapshots.  The snapshot is cloned, and so is the WAL its
 * replay needs, from the source's archive into the fork's pg_wal: the fork
 * is a standby of its own pg_wal, promoted by its trigger file, and runs
 * no restore_command (no shell per WAL file).  At the snapshot itself the
 * WAL is cut at the snapshot's end; at a later target, right before the
 * first record at or past target (CutWalAt).  Either way it promotes at the
 * end of its WAL, without the synchronous end-of-recovery checkpoint.
 * A missing segment fails the fork here, or its start ("recovery ended
 * before configured recovery target was reached"), never silently early.
 */
static void
LocalForkAtSnapshot(int64 source_tl, int64 snapshot_id, XLogRecPtr target, int64 new_tl,
					BpForkResult *result, void (*meanwhile) (void *arg), void *arg)
{
	BpCloneStats stats;
	char	   *snapdir = LocalSnapshotDir(source_tl, snapshot_id);
	char	   *snapdata = psprintf("%s/pgdata", snapdir);
	char	   *pgdata = LocalPgdata(new_tl);
	struct stat sb;
	bool		stopped;
	int			segsz;
	XLogRecPtr	start;			/* replay starts here */
	XLogRecPtr	end;			/* the snapshot is consistent here */
	TimeLineID	tli;
	bool		at_snapshot;
	XLogSegNo	first;
	XLogSegNo	last;
	XLogSegNo	need;
	int			found;
	instr_time	t;
	double		clone_ms;
	double		seal_ms = -1;	/* meanwhile's time, alongside the clone */

	if (snapshot_id == 0)		/* history_start gave nothing to fork from */
		elog(ERROR, "the local storage driver keeps no history outside snapshots");
	stopped = stat(psprintf("%s/backup_label", snapdata), &sb) != 0;
	segsz = ReadSegSize(snapdata);
	if (segsz == 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("control file of snapshot " INT64_FORMAT " has a bad checksum", snapshot_id),
				 errhint("Fork from another snapshot: pick an LSN another one reaches.")));
	if (stopped)
	{
		/* a clone of a cleanly stopped compute: consistent at its shutdown checkpoint */
		bool		crc_ok;
		ControlFileData *control = get_controlfile(snapdata, &crc_ok);

		if (!crc_ok)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("control file of snapshot " INT64_FORMAT " has a bad checksum", snapshot_id),
					 errhint("Fork from another snapshot: pick an LSN another one reaches.")));
		start = end = control->checkPoint;
		tli = control->checkPointCopy.ThisTimeLineID;
	}
	else
	{
		ReadBackupStart(snapdata, &start, &tli);
		end = ReadSnapshotEnd(snapdir);
	}
	at_snapshot = XLogRecPtrIsInvalid(target) ||
		(!XLogRecPtrIsInvalid(end) && target <= end);
	result->fork_lsn = target;
	result->source_was_running = false;
	result->phases[0] = '\0';

	INSTR_TIME_SET_CURRENT(t);
	BeginTimeline(new_tl);
	if (meanwhile == NULL)
	{
		BpCloneTree(snapdata, pgdata, SnapshotFilter, &stats);
		clone_ms = MsSinceInstr(&t);
	}
	else
	{
		seal_ms = CloneWhile(snapdata, pgdata, meanwhile, arg, &stats, &clone_ms);
		(void) MsSinceInstr(&t);
	}
	if (at_snapshot && XLogRecPtrIsInvalid(end))
	{
		/* a base backup from before snapshots recorded their end: archive recovery finds it */
		WriteTimelineConf(new_tl, source_tl, "recovery_target = 'immediate'");
		LocalWriteInNewTree(psprintf("%s/recovery.signal", pgdata), "");
		result->method = BpCloneMethodName(stats.method);
		result->bytes = stats.bytes;
		return;
	}
	XLByteToSeg(start, first, segsz);
	if (at_snapshot)
	{
		/* a stopped one's pg_wal holds its checkpoint: only the histories */
		XLByteToPrevSeg(end, need, segsz);
		last = stopped ? first - 1 : need;
		found = CloneArchivedWal(source_tl, pgdata, segsz, tli, first, last, last, &stats);
		if (!stopped)
		{
			char		fname[MAXFNAMELEN];

			RequireWal(source_tl, snapshot_id, found, first, need);
			XLogFileName(fname, tli, need, segsz);
			if (XLogSegmentOffset(end, segsz) != 0)
				ZeroWalTail(psprintf("%s/pg_wal/%s", pgdata, fname),
							XLogSegmentOffset(end, segsz), segsz);
		}
		WriteTimelineConf(new_tl, FROM_OWN_WAL, NULL);
	}
	else
	{
		char	   *wal = psprintf("%s/pg_wal", pgdata);

		XLByteToSeg(target, need, segsz);
		last = need + REPLAY_HEADROOM_SEGS;
		/*
		 * The WAL its archive lacks, from its pg_wal: a stopped source's
		 * last segment (never archived), or what a running one's archiver
		 * has not copied yet.
		 */
		if (XLogRecPtrIsInvalid(CopyWalTail(source_tl, wal, false)))
			CloneUnarchivedWal(source_tl, wal, segsz, first, last, &stats);
		found = CloneArchivedWal(source_tl, pgdata, segsz, 0, first, last, need, &stats);
		RequireWal(source_tl, snapshot_id, found, first, need);
		CutWalAt(source_tl, wal, segsz, target);
		WriteTimelineConf(new_tl, FROM_OWN_WAL, NULL);
	}
	LocalWriteInNewTree(psprintf("%s/standby.signal", pgdata), "");
	LocalWriteInNewTree(psprintf("%s/" PROMOTE_TRIGGER, pgdata), "");
	snprintf(result->phases, sizeof(result->phases), "\"clone\": %.3f, \"wal\": %.3f",
			 clone_ms, MsSinceInstr(&t));
	if (seal_ms >= 0)
	{
		size_t		len = strlen(result->phases);

		snprintf(result->phases + len, sizeof(result->phases) - len,
				 ", \"seal alongside\": %.3f", seal_ms);
	}
	/*
	 * Durable before its row commits: a base backup's clone is synced by its
	 * first start (its control file says "in production" or "in archive
	 * recovery"); a stopped one's
	 * by the base snapshot its caller takes before committing (one syncfs
	 * of the data root), and a rehearsal's never commits.
	 */
	result->method = BpCloneMethodName(stats.method);
	result->bytes = stats.bytes;
}

/*
 * The running compute's insert LSN; with a seal, also a restore point after
 * it (so recovery has a record at or past any LSN up to it), flushed: forks
 * then find every record up to it in the archive or, what the archiver has
 * not copied yet, in the compute's pg_wal (CloneUnarchivedWal).  FORKS flushes
 * by a synchronous commit; ARCHIVE by a WAL segment switch, and waits until
 * the archive has that segment.  A cleanly stopped one's shutdown
 * checkpoint.
 */
static XLogRecPtr
LocalHeadLsn(int64 timeline_id, const BpComputeAddr *running, BpSeal seal)
{
	PGconn	   *conn;
	PGresult   *res;
	XLogRecPtr	head;

	/* stopped: the shutdown checkpoint; forks copy what the archive lacks */
	if (running == NULL)
		return RequireStoppedHead(timeline_id);
	conn = BpConnect(running, bp_operation_timeout_ms);
	res = BpExec(conn, "SELECT pg_catalog.pg_current_wal_insert_lsn()", 0, NULL,
				 bp_operation_timeout_ms);
	head = ParseLsn(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (seal == BP_SEAL_FORKS)
		PQclear(BpExecScript(conn, "BEGIN READ WRITE; SET LOCAL synchronous_commit = on; "
							 "SELECT pg_catalog.pg_create_restore_point('branchpromote'), "
							 "pg_catalog.pg_current_xact_id(); COMMIT", bp_operation_timeout_ms));
	else if (seal == BP_SEAL_ARCHIVE)
	{
		res = BpExec(conn, "SELECT pg_catalog.pg_create_restore_point('branchpromote'), "
					 "pg_catalog.pg_walfile_name(pg_catalog.pg_switch_wal())", 0, NULL,
					 bp_operation_timeout_ms);
		WaitArchived(timeline_id, PQgetvalue(res, 0, 1));
		PQclear(res);
	}
	BpDisconnect(conn);
	return head;
}

/* History is snapshots plus the WAL archive: none kept otherwise. */
static XLogRecPtr
LocalHistoryStart(int64 timeline_id)
{
	return InvalidXLogRecPtr;
}

/* Snapshot directories of a timeline, with their creating transactions. */
static List *
LocalListSnapshots(int64 timeline_id)
{
	return ListOwned(LocalSnapshotRoot(timeline_id));
}

static void
LocalRemoveSnapshot(int64 timeline_id, int64 snapshot_id)
{
	MoveToTrash(LocalSnapshotDir(timeline_id, snapshot_id), "snapshots",
				psprintf(INT64_FORMAT "-" INT64_FORMAT, timeline_id, snapshot_id));
}

/*
 * The archived segments wholly before keep_from or, without one (no
 * snapshot needs any), those last written before older_than: removed if
 * remove, else only looked for (1 if there is one).  Returns how many, or
 * -1 with errno set if the archive could not be read.  Never throws; with
 * an unknown segment size nothing is old (never guess).
 */
static int
ScanArchive(int64 timeline_id, XLogRecPtr keep_from, TimestampTz older_than, bool remove)
{
	char	   *root = LocalArchive(timeline_id);
	DIR		   *dir = AllocateDir(root);	/* released by an ERROR, too */
	struct dirent *de;
	int			segsize = 0;
	XLogSegNo	keep_seg = 0;
	int			found = 0;
	int			save;

	if (dir == NULL)
		return errno == ENOENT ? 0 : -1;
	for (;;)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;	/* not "seg": XLogFromFileName is a macro with one */
		char	   *path;
		struct stat sb;

		errno = 0;
		if ((de = ReadDirExtended(dir, root, DEBUG1)) == NULL)
			break;
		/* segments and .partial ones; history files stay */
		if (strspn(de->d_name, "0123456789ABCDEF") != XLOG_FNAME_LEN ||
			(de->d_name[XLOG_FNAME_LEN] != '\0' &&
			 strcmp(de->d_name + XLOG_FNAME_LEN, ".partial") != 0))
			continue;
		if (segsize == 0 && (segsize = ReadSegSize(LocalPgdata(timeline_id))) == 0)
			break;
		XLByteToSeg(keep_from, keep_seg, segsize);	/* 0 when keep_from is invalid */
		XLogFromFileName(de->d_name, &tli, &segno, segsize);
		if (!XLogRecPtrIsInvalid(keep_from) && segno >= keep_seg)
			continue;
		path = psprintf("%s/%s", root, de->d_name);
		if (XLogRecPtrIsInvalid(keep_from) &&
			!(stat(path, &sb) == 0 && time_t_to_timestamptz(sb.st_mtime) < older_than))
		{
			pfree(path);		/* called for every timeline in one context */
			continue;
		}
		if (!remove)
		{
			found = 1;
			break;
		}
		if (unlink(path) == 0)
			found++;
		pfree(path);
	}
	save = errno;
	FreeDir(dir);
	errno = save;
	return save != 0 && de == NULL ? -1 : found;
}

/* Remove the archived segments ScanArchive names; returns how many. */
static int
LocalPruneArchive(int64 timeline_id, XLogRecPtr keep_from, TimestampTz older_than)
{
	int			removed = ScanArchive(timeline_id, keep_from, older_than, true);

	if (removed < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read directory \"%s\": %m", LocalArchive(timeline_id))));
	return removed;
}

/* See history_due in driver.h. */
static bool
LocalHistoryDue(int64 timeline_id, const int64 *ids, int n, XLogRecPtr keep_from,
				TimestampTz older_than)
{
	DIR		   *dir = AllocateDir(LocalSnapshotRoot(timeline_id));	/* released by an ERROR, too */
	struct dirent *de;
	bool		due = false;

	if (dir == NULL && errno != ENOENT)
		return true;
	while (dir != NULL && !due)
	{
		int64		id;

		/* an error reading it is logged, and the archive decides */
		if ((de = ReadDirExtended(dir, LocalSnapshotRoot(timeline_id), LOG)) == NULL)
			break;
		if ((id = OwnedDirId(de->d_name)) == 0)
			continue;			/* not a snapshot */
		due = true;				/* unless the catalog has it */
		for (int i = 0; i < n && due; i++)
			due = ids[i] != id;
	}
	if (dir != NULL)
		FreeDir(dir);
	return due || ScanArchive(timeline_id, keep_from, older_than, false) != 0;
}

static void
LocalUsage(int64 timeline_id, uint64 *bytes, uint64 *shared)
{
	BpTreeUsage(LocalTimelineDir(timeline_id), bytes, shared);
}

/* A copy of src at dst, durably, arriving under its name atomically; readable by group. */
static void
CopyDurably(char *src, const char *dst)
{
	char	   *tmp = psprintf("%s.branchpromote-tail", dst);

	copy_file(src, tmp);
	LocalShare(tmp, 0640);		/* forks restore from it as the compute user */
	fsync_fname(tmp, false);
	(void) durable_rename(tmp, dst, ERROR);
}

/*
 * Copy into dst the WAL segments of a cleanly stopped timeline, up to its
 * shutdown checkpoint, that its archive lacks (PostgreSQL does not archive
 * the last, partial segment at shutdown).  With seal, dst is the archive
 * itself: each arrives under its final name atomically.  Returns the
 * shutdown checkpoint's LSN (its head), or InvalidXLogRecPtr if it was not
 * shut down cleanly (then nothing is copied).
 */
static XLogRecPtr
CopyWalTail(int64 timeline_id, const char *dst_dir, bool seal)
{
	char	   *pgdata = LocalPgdata(timeline_id);
	char	   *wal = psprintf("%s/pg_wal", pgdata);
	char	   *archive = LocalArchive(timeline_id);
	ControlFileData *control = StoppedControl(timeline_id);
	XLogSegNo	last;
	DIR		   *dir;
	struct dirent *de;

	if (control == NULL)
		return InvalidXLogRecPtr;
	XLByteToSeg(control->checkPoint, last, control->xlog_seg_size);
	dir = AllocateDir(wal);
	while ((de = ReadDir(dir, wal)) != NULL)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;	/* not "seg": XLogFromFileName is a macro with one */
		struct stat sb;

		if (strspn(de->d_name, "0123456789ABCDEF") != XLOG_FNAME_LEN || de->d_name[XLOG_FNAME_LEN] != '\0')
			continue;
		XLogFromFileName(de->d_name, &tli, &segno, control->xlog_seg_size);
		if (segno > last || stat(psprintf("%s/%s", archive, de->d_name), &sb) == 0)
			continue;			/* recycled for later use, or archived already */
		CopyDurably(psprintf("%s/%s", wal, de->d_name), psprintf("%s/%s", dst_dir, de->d_name));
	}
	FreeDir(dir);
	if (!seal)
		fsync_fname(dst_dir, true);
	return control->checkPoint;
}

/*
 * A stopped trial run (archive_mode off): its WAL timeline's history file
 * and the segments of that timeline it completed, into its archive, each
 * atomically under its final name, as its archiver would have put them.
 * Not the segment it stopped in: the next start writes on in it, and
 * archives it once full.  Each copy is durable before this returns.
 */
static void
LocalArchiveTrial(int64 timeline_id)
{
	char	   *wal = psprintf("%s/pg_wal", LocalPgdata(timeline_id));
	char	   *archive = LocalArchive(timeline_id);
	ControlFileData *control = StoppedControl(timeline_id);
	TimeLineID	tli;
	XLogSegNo	current;
	char		fname[MAXFNAMELEN];
	struct stat sb;
	DIR		   *dir;
	struct dirent *de;

	if (control == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("timeline " INT64_FORMAT "'s trial run did not shut down cleanly", timeline_id),
				 errhint("Its compute's log says why; the operation changed nothing.")));
	tli = control->checkPointCopy.ThisTimeLineID;
	XLByteToSeg(control->checkPoint, current, control->xlog_seg_size);
	TLHistoryFileName(fname, tli);
	if (tli > 1 && stat(psprintf("%s/%s", archive, fname), &sb) != 0)
		CopyDurably(psprintf("%s/%s", wal, fname), psprintf("%s/%s", archive, fname));
	dir = AllocateDir(wal);
	while ((de = ReadDir(dir, wal)) != NULL)
	{
		TimeLineID	seg_tli = 0;
		XLogSegNo	segno = 0;

		if (strspn(de->d_name, "0123456789ABCDEF") != XLOG_FNAME_LEN || de->d_name[XLOG_FNAME_LEN] != '\0')
			continue;
		XLogFromFileName(de->d_name, &seg_tli, &segno, control->xlog_seg_size);
		if (seg_tli != tli || segno >= current || stat(psprintf("%s/%s", archive, de->d_name), &sb) == 0)
			continue;
		CopyDurably(psprintf("%s/%s", wal, de->d_name), psprintf("%s/%s", archive, de->d_name));
	}
	FreeDir(dir);
}

/*
 * A cleanly stopped timeline that never runs again (a backup): its whole
 * history into its archive.  Not for one that may run again: its archiver
 * would later find the partial segment there and fail on it.
 */
static XLogRecPtr
LocalSealStopped(int64 timeline_id)
{
	return CopyWalTail(timeline_id, LocalArchive(timeline_id), true);
}

const BpStorageDriver bp_local_storage = {
	.name = "local",
	.template_ready = LocalTemplateReady,
	.ensure_template = LocalEnsureTemplate,
	.create_root = LocalCreateRoot,
	.fork_at_head = LocalForkAtHead,
	.list = LocalList,
	.remove = LocalRemove,
	.purge_trash = LocalPurgeTrash,
	.restamp = LocalRestamp,
	.usage = LocalUsage,
	.defragment = LocalDefragment,
	.snapshot = LocalSnapshot,
	.fork_at_snapshot = LocalForkAtSnapshot,
	.head_lsn = LocalHeadLsn,
	.list_snapshots = LocalListSnapshots,
	.remove_snapshot = LocalRemoveSnapshot,
	.prune_history = LocalPruneArchive,
	.history_due = LocalHistoryDue,
	.history_start = LocalHistoryStart,
	.seal_stopped = LocalSealStopped,
	.archive_trial = LocalArchiveTrial,
	.stopped_head = LocalStoppedHead,
};
