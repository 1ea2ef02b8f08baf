/*
 * local.c — the on-disk layout of the local drivers, used by both the
 * storage driver (storage_local.c) and the compute driver
 * (compute_local.c), which use nothing of each other: where a timeline's
 * data directory, archive, log and pg_hba.conf live, a compute's private
 * socket directory, whose postmaster a data directory's postmaster.pid
 * names, and the durable write of a small file.  See local.h.
 */
#include "postgres.h"

#include <fcntl.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/pidfile.h"

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

/*
 * The template every new root timeline is cloned from, named for what
 * sets it apart: initdb'd with 4 MB WAL segments (see LocalEnsureTemplate).
 */
char *
LocalTemplateDir(void)
{
	return psprintf("%s/template-wal4M", BpDataRoot());
}

/* The template of earlier builds (16 MB WAL segments): removed once its successor exists. */
char *
LocalOldTemplateDir(void)
{
	return psprintf("%s/template", BpDataRoot());
}

char *
LocalSocketDir(int64 compute_id)
{
	return psprintf("%s/c" INT64_FORMAT, BpSocketRoot(), compute_id);
}

/*
 * The compute's pg_hba.conf: beside its data directory, not in it (the
 * data directory may belong to the compute user, and a fork must not
 * inherit its source's).
 */
char *
LocalHbaFile(int64 timeline_id)
{
	return psprintf("%s/pg_hba.conf", LocalTimelineDir(timeline_id));
}

#define WRITE_HINT "Check that branchpromote.data_root is on one writable filesystem with free space, owned by the server's OS user."

/* Write content as the whole of path (created or truncated); fsync'd if sync. */
static void
WriteWhole(const char *path, const char *content, bool sync)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_CREAT | O_TRUNC | PG_BINARY);
	size_t		len = strlen(content);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create file \"%s\": %m", path),
				 errhint(WRITE_HINT)));
	if (write(fd, content, len) != (ssize_t) len)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write file \"%s\": %m", path),
				 errhint(WRITE_HINT)));
	if (sync && pg_fsync(fd) != 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not fsync file \"%s\": %m", path),
				 errhint(WRITE_HINT)));
	CloseTransientFile(fd);
}

/*
 * Write a whole small file durably, replacing it atomically: a temporary
 * file beside it, fsync'd, then renamed over it, so a crash leaves the old
 * content or the new, never a torn file.
 */
void
LocalWriteFile(const char *path, const char *content)
{
	char	   *tmp = psprintf("%s.tmp", path);

	WriteWhole(tmp, content, true);
	(void) durable_rename(tmp, path, ERROR);
}

/*
 * Write a small file in a new tree that is made durable as a whole, by one
 * syncfs, before anything commits that references it (a fork's or a
 * snapshot's files), or that a crash may lose (a new compute's access
 * files, compute_local.c): written and closed, no fsync of its own, no
 * rename.  A crash before that sync leaves an uncommitted tree, which goes
 * whole.
 */
void
LocalWriteInNewTree(const char *path, const char *content)
{
	WriteWhole(path, content, false);
}

/*
 * The pid in pgdata/postmaster.pid if that process is alive, the file
 * names this directory, and the process started when the file says its
 * postmaster did, within two minutes (after a crash the pid may be another
 * process's, even one of ours; the slack absorbs wall-clock steps, which
 * move the boot time the process start is read against); 0 otherwise.
 * ready (if not NULL): the postmaster says it accepts connections (its
 * status line, the eighth, is "ready"); read from the file, so a hung
 * postmaster never blocks the reader.
 */
int
LocalPidFile(const char *pgdata, bool *ready)
{
	FILE	   *f = AllocateFile(psprintf("%s/postmaster.pid", pgdata), "r");
	char		line[LOCK_FILE_LINE_PM_STATUS][MAXPGPATH];
	int			n = 0;
	int			pid;

	if (ready)
		*ready = false;
	if (f == NULL)
		return 0;
	while (n < LOCK_FILE_LINE_PM_STATUS && fgets(line[n], MAXPGPATH, f))
	{
		line[n][strcspn(line[n], "\n")] = '\0';
		n++;
	}
	FreeFile(f);
	if (n < LOCK_FILE_LINE_START_TIME)
		return 0;
	pid = atoi(line[LOCK_FILE_LINE_PID - 1]);
	if (strcmp(line[LOCK_FILE_LINE_DATA_DIR - 1], pgdata) != 0 || !BpPidAlive(pid) ||
		!BpProcessStartedNear(pid, (time_t) atoll(line[LOCK_FILE_LINE_START_TIME - 1]), 120))
		return 0;
	if (ready && n == LOCK_FILE_LINE_PM_STATUS)
		*ready = strncmp(line[LOCK_FILE_LINE_PM_STATUS - 1], PM_STATUS_READY,
						 strlen("ready")) == 0;
	return pid;
}

int
LocalPostmasterPid(const char *pgdata)
{
	return LocalPidFile(pgdata, NULL);
}

