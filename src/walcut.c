/*
 * walcut.c — find the first WAL record that begins at or past an LSN in a
 * directory of WAL segment files (a fork's pg_wal), with PostgreSQL's own
 * WAL reader (every page header and record CRC checked on the way).
 *
 * A fork at an LSN is cut there (storage_local.c): its WAL ends right
 * before that record, exactly where recovery_target_lsn with
 * recovery_target_inclusive = off would stop, so the fork is promoted by its
 * trigger file at the end of its WAL instead of by a recovery target, and
 * needs no synchronous end-of-recovery checkpoint.
 *
 * Each segment is read from the file of the highest WAL timeline present
 * for it: the directory holds one lineage (the source timeline's archive
 * and its snapshot), where a later WAL timeline's file of a segment holds
 * its parent's records up to the switch and its own after it.
 */
#include "postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include "access/xlog_internal.h"
#include "access/xlogreader.h"
#include "storage/fd.h"

#include "walcut.h"

typedef struct WalDir
{
	const char *dir;
	XLogSegNo	segno;			/* the segment tli was looked up for */
	TimeLineID	tli;			/* its highest WAL timeline there (0: none) */
} WalDir;

/* The highest WAL timeline with a file for segment want in dir (0: none). */
static TimeLineID
HighestTli(const char *dir, XLogSegNo want, int segsz)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;
	TimeLineID	best = 0;

	while ((de = ReadDir(d, dir)) != NULL)
	{
		TimeLineID	tli = 0;
		XLogSegNo	segno = 0;	/* not "seg": XLogFromFileName is a macro with one */

		if (!IsXLogFileName(de->d_name))
			continue;
		XLogFromFileName(de->d_name, &tli, &segno, segsz);
		if (segno == want && tli > best)
			best = tli;
	}
	FreeDir(d);
	return best;
}

static void
SegmentOpen(XLogReaderState *state, XLogSegNo segno, TimeLineID *tli)
{
	char		fname[MAXFNAMELEN];
	char	   *path;

	XLogFileName(fname, *tli, segno, state->segcxt.ws_segsize);
	path = psprintf("%s/%s", state->segcxt.ws_dir, fname);
	state->seg.ws_file = OpenTransientFile(path, O_RDONLY | PG_BINARY);
	if (state->seg.ws_file < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open file \"%s\": %m", path)));
}

static void
SegmentClose(XLogReaderState *state)
{
	CloseTransientFile(state->seg.ws_file);
	state->seg.ws_file = -1;
}

/* A page, or XLREAD_FAIL where the directory has no file for its segment. */
static int
PageRead(XLogReaderState *state, XLogRecPtr page, int reqLen, XLogRecPtr target, char *buf)
{
	WalDir	   *w = state->private_data;
	XLogSegNo	segno;
	WALReadError err;

	(void) reqLen;
	(void) target;
	XLByteToSeg(page, segno, state->segcxt.ws_segsize);
	if (segno != w->segno || w->tli == 0)
	{
		w->segno = segno;
		w->tli = HighestTli(w->dir, segno, state->segcxt.ws_segsize);
	}
	if (w->tli == 0)
		return XLREAD_FAIL;
	if (!WALRead(state, buf, page, XLOG_BLCKSZ, w->tli, &err))
	{
		errno = err.wre_errno;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read WAL at %X/%X in \"%s\": %m", LSN_FORMAT_ARGS(page), w->dir)));
	}
	return XLOG_BLCKSZ;
}

/*
 * The LSN of the first record that begins at or past lsn in waldir, and
 * the WAL timeline of the file it begins in; InvalidXLogRecPtr if the
 * directory holds no whole such record.
 */
XLogRecPtr
BpFirstRecordFrom(const char *waldir, int segsz, XLogRecPtr lsn, TimeLineID *tli)
{
	WalDir		w = {.dir = waldir, .segno = 0, .tli = 0};
	XLogReaderState *reader;
	XLogRecPtr	found;

	reader = XLogReaderAllocate(segsz, waldir,
								XL_ROUTINE(.page_read = PageRead,
										   .segment_open = SegmentOpen,
										   .segment_close = SegmentClose),
								&w);
	if (reader == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while allocating a WAL reader")));
	found = XLogFindNextRecord(reader, lsn);
	*tli = 0;
	if (!XLogRecPtrIsInvalid(found))
	{
		XLogSegNo	segno;

		XLByteToSeg(found, segno, segsz);
		*tli = HighestTli(waldir, segno, segsz);
	}
	XLogReaderFree(reader);
	return found;
}
