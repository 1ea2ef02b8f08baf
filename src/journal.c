/*
 * journal.c — the operation journal: each mutating call's steps, on disk
 * before each of its effects.
 *
 * A call's catalog rows commit or vanish with its transaction, so its
 * progress is written where an abort or a crash cannot take it back: one
 * file per call under <control data directory>/branchpromote_journal
 * (earlier versions: <data_root>/journal, still read), named after the
 * backend, made (and fsynced) when the call begins and appended to (and
 * fsynced) when each step finishes — before the next effect starts.  The
 * first line says what the call is, each later line one finished step.
 *
 * The call's own transaction decides the rest: at commit (its operation
 * row is then committed) the file goes; at an abort — of the transaction,
 * or of the savepoint the call ran in — it is renamed "*.ended", or simply
 * removed if the call did not finish its first step (a refused call: what
 * the first step may have left on disk is an orphan like any other).
 * After a crash the file stays as it was.  The reconciler records
 * every ended file, and every file whose backend is gone, as a failed
 * operation with its steps (what it then undid is orphan removal and the
 * finishing of prepared transactions), unless the call's operation row
 * committed, and removes the file.  Until then the operations view shows
 * the call as running.
 */
#include "postgres.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "common/file_perm.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/procarray.h"
#include "utils/backend_status.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "guc.h"
#include "catalog.h"
#include "journal.h"
#include "requests.h"
#include "xactend.h"

#define ENDED_SUFFIX ".ended"
#define EXITED_SUFFIX ".exited"	/* ended as its backend exited (FATAL, pg_terminate_backend) */

typedef struct OpenJournal
{
	char		path[MAXPGPATH];
	int			steps;
} OpenJournal;

static OpenJournal *current = NULL;
static int	seq = 0;

/*
 * In the control server's own data directory, beside the catalog it
 * completes: its fsyncs wait only for the control's own file system, not
 * for the computes' (a data root busy with a fork's start made each one
 * cost up to ~15 ms).
 */
static char *
JournalDir(void)
{
	return psprintf("%s/branchpromote_journal", DataDir);
}

/* Where earlier versions kept it: still read, never written. */
static char *
LegacyJournalDir(void)
{
	return psprintf("%s/journal", BpDataRoot());
}

/* Append one line and make it durable. */
static void
AppendLine(const char *path, const char *line)
{
	int			fd = OpenTransientFile(path, O_WRONLY | O_APPEND | O_CREAT | PG_BINARY);
	size_t		len = strlen(line);

	if (fd < 0)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not open operation journal \"%s\": %m", path)));
	errno = 0;
	if (write(fd, line, len) != (ssize_t) len || write(fd, "\n", 1) != 1)
	{
		int			save = errno ? errno : ENOSPC;

		CloseTransientFile(fd);
		errno = save;
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not write operation journal \"%s\": %m", path)));
	}
	if (pg_fsync(fd) != 0)
		ereport(data_sync_elevel(ERROR),
				(errcode_for_file_access(),
				 errmsg("could not fsync operation journal \"%s\": %m", path)));
	CloseTransientFile(fd);
}

/* The call's transaction ended: drop the file, or leave it to the reconciler. */
static void
AtEnd(void *arg, bool commit)
{
	OpenJournal *j = arg;

	if (commit || j->steps == 0)
	{
		if (unlink(j->path) != 0 && errno != ENOENT)
			ereport(WARNING,
					(errcode_for_file_access(),
					 errmsg("could not remove operation journal \"%s\": %m", j->path)));
	}
	else if (rename(j->path, psprintf("%s%s", j->path,
									  proc_exit_inprogress ? EXITED_SUFFIX : ENDED_SUFFIX)) != 0 &&
			 errno != ENOENT)
		ereport(WARNING,
				(errcode_for_file_access(),
				 errmsg("could not close operation journal \"%s\": %m", j->path)));
	if (current == j)
		current = NULL;
	pfree(j);
}

/* A mutating call begins: its journal file, durable before any effect. */
void
JournalBegin(const char *kind, const char *project, const char *actor, TimestampTz started_at)
{
	char	   *dir = JournalDir();
	OpenJournal *j;
	StringInfoData line;

	if (pg_mkdir_p(dir, pg_dir_create_mode) != 0 && errno != EEXIST)
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not create directory \"%s\": %m", dir)));
	j = MemoryContextAllocZero(TopMemoryContext, sizeof(OpenJournal));
	snprintf(j->path, sizeof(j->path), "%s/%d-" INT64_FORMAT "-%d", dir, MyProcPid,
			 (int64) started_at, ++seq);
	initStringInfo(&line);
	appendStringInfoString(&line, "{\"kind\": ");
	escape_json(&line, kind);
	appendStringInfoString(&line, ", \"project\": ");
	escape_json(&line, project);
	appendStringInfoString(&line, ", \"actor\": ");
	escape_json(&line, actor);
	appendStringInfo(&line, ", \"started_at\": \"%s\", \"pid\": %d}",
					 timestamptz_to_str(started_at), MyProcPid);
	AppendLine(j->path, line.data);
	fsync_fname(dir, true);
	current = j;
	BpAtXactEnd(AtEnd, j);
	BpWakeWorkerAtCommit();		/* a full pass after it commits or aborts */
}

/* A step of the current call finished: on disk before the next effect. */
void
JournalStep(const char *name, double ms, const char *extra)
{
	StringInfoData line;

	if (current == NULL)
		return;
	initStringInfo(&line);
	appendStringInfoString(&line, "{\"step\": ");
	escape_json(&line, name);
	appendStringInfo(&line, ", \"ms\": %.3f%s%s}", ms, extra ? ", " : "", extra ? extra : "");
	AppendLine(current->path, line.data);
	current->steps++;
}

typedef enum JournalRead
{
	JOURNAL_OK,
	JOURNAL_EMPTY,				/* no complete header line */
	JOURNAL_UNREADABLE			/* could not be opened (try again later) */
} JournalRead;

/* Read one journal file: its header line and its step lines as a JSON array. */
static JournalRead
ReadJournal(const char *path, BpJournalEntry *e)
{
	FILE	   *f = AllocateFile(path, "r");
	StringInfoData steps;
	char		buf[4096];
	bool		first = true;

	if (f == NULL)
	{
		if (errno != ENOENT)
			ereport(LOG,
					(errcode_for_file_access(),
					 errmsg("could not read operation journal \"%s\": %m", path)));
		return JOURNAL_UNREADABLE;
	}
	initStringInfo(&steps);
	appendStringInfoChar(&steps, '[');
	e->header = NULL;
	while (fgets(buf, sizeof(buf), f))
	{
		size_t		len = strlen(buf);

		if (len == 0 || buf[len - 1] != '\n')
			break;				/* a torn last line: the write never finished */
		buf[len - 1] = '\0';
		if (first)
		{
			e->header = pstrdup(buf);
			first = false;
			continue;
		}
		if (steps.len > 1)
			appendStringInfoString(&steps, ", ");
		appendStringInfoString(&steps, buf);
	}
	FreeFile(f);
	appendStringInfoChar(&steps, ']');
	e->steps_json = steps.data;
	return e->header != NULL ? JOURNAL_OK : JOURNAL_EMPTY;
}

/*
 * Is the backend that wrote a journal still running the call?  Its pid
 * alone does not say: after a crash the pid may be another process's, so
 * a process that started after the call began is not its writer.
 */
static bool
WriterAlive(int pid, TimestampTz call_started)
{
	int			n;

	if (BackendPidGetProc(pid) == NULL)
		return false;
	n = pgstat_fetch_stat_numbackends();
	for (int i = 1; i <= n; i++)
	{
		PgBackendStatus *be = pgstat_fetch_stat_beentry(i);

		if (be != NULL && be->st_procpid == pid)
			return be->st_proc_start_timestamp <= call_started;
	}
	return true;				/* no status entry to compare: assume it is */
}

/* JournalList's entries in dir, appended to out. */
static List *
JournalListIn(const char *dir, bool ended_only, List *out)
{
	DIR		   *d = AllocateDir(dir);
	struct dirent *de;

	if (d == NULL && errno == ENOENT)
		return out;
	while ((de = ReadDir(d, dir)) != NULL)
	{
		BpJournalEntry *e;
		int			pid;
		int64		started;
		bool		ended;
		int			n;
		JournalRead rd;

		if (sscanf(de->d_name, "%d-" INT64_FORMAT "-%*d%n", &pid, &started, &n) != 2)
			continue;
		ended = strcmp(de->d_name + n, ENDED_SUFFIX) == 0 ||
			strcmp(de->d_name + n, EXITED_SUFFIX) == 0;
		if (!ended && de->d_name[n] != '\0')
			continue;			/* not ours */
		if (ended_only != (ended || !WriterAlive(pid, (TimestampTz) started)))
			continue;
		e = palloc0(sizeof(BpJournalEntry));
		e->path = psprintf("%s/%s", dir, de->d_name);
		e->ended = ended;
		e->exited = strcmp(de->d_name + n, EXITED_SUFFIX) == 0;
		rd = ReadJournal(e->path, e);
		if (rd == JOURNAL_EMPTY && ended_only)
			(void) unlink(e->path); /* it died before its first line */
		if (rd != JOURNAL_OK)
			continue;
		out = lappend(out, e);
	}
	FreeDir(d);
	return out;
}

/*
 * Journal files (List of BpJournalEntry *).  With ended_only, only those
 * the reconciler should record: ended, or left by a backend that is gone.
 * Without, only those of calls still running.
 */
List *
JournalList(bool ended_only)
{
	return JournalListIn(LegacyJournalDir(), ended_only,
						 JournalListIn(JournalDir(), ended_only, NIL));
}

/* The reconciler recorded it (outside a transaction: never throws). */
void
JournalForget(const BpJournalEntry *e)
{
	if (unlink(e->path) != 0 && errno != ENOENT)
		ereport(LOG,
				(errcode_for_file_access(),
				 errmsg("could not remove operation journal \"%s\": %m", e->path)));
}

PG_FUNCTION_INFO_V1(branchpromote_operations_running);

/* A string field of a journal header (NULL if absent). */
static char *
HeaderField(Jsonb *header, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = unconstify(char *, key);
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(&header->root, JB_FOBJECT, &k);
	return v && v->type == jbvString ? pnstrdup(v->val.string.val, v->val.string.len) : NULL;
}

/*
 * _operations_running() → setof (header jsonb, steps jsonb): calls still
 * running that the caller may see (its own, and those of projects it may
 * see, as the operations view), so a direct call leaks no other project's.
 */
Datum
branchpromote_operations_running(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	CatalogBegin();
	foreach(lc, JournalList(false))
	{
		BpJournalEntry *e = lfirst(lc);
		Datum		values[2];
		bool		nulls[2] = {false, false};
		Jsonb	   *header = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(e->header)));

		if (!CatalogCallerSees(HeaderField(header, "project"), HeaderField(header, "actor")))
			continue;
		values[0] = JsonbPGetDatum(header);
		values[1] = DirectFunctionCall1(jsonb_in, CStringGetDatum(e->steps_json));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	CatalogEnd();
	return (Datum) 0;
}
