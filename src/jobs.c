/*
 * jobs.c — the reconciler's long work, each in a background worker of its own.
 *
 * A periodic snapshot waits for its WAL to reach the archive (up to
 * operation_timeout), and emptying the trash may remove a large tree.  In
 * the reconciler's loop, either would hold up every request queued behind
 * it, a wake through the proxy for another project included.  So the
 * reconciler hands each to a dynamic background worker ("branchpromote
 * job") and looks at it again in later passes: at most one job of a kind
 * and argument at a time, at most BP_JOB_SLOTS at once.  If no worker can
 * be had (max_worker_processes), the reconciler does the job itself, as
 * before.
 *
 * A job's result comes back through a slot in shared memory, stamped with
 * the slot's generation, so the result of a job started by an earlier
 * reconciler (it restarted meanwhile) is never taken for a new one's.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "storage/spin.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "jobs.h"

#define BP_JOB_SLOTS 4

typedef struct JobSlot
{
	bool		used;
	bool		done;
	uint32		generation;
	BpJobKind	kind;
	int64		arg;
	char		error[1024];	/* "": it succeeded */
} JobSlot;

typedef struct BpJobs
{
	slock_t		mutex;
	JobSlot		slots[BP_JOB_SLOTS];
} BpJobs;

static BpJobs *jobs = NULL;

/* The reconciler's handles of the workers it started, by slot. */
static BackgroundWorkerHandle *handles[BP_JOB_SLOTS];

void
BpJobsShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(BpJobs)));
}

void
BpJobsShmemInit(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	jobs = ShmemInitStruct("branchpromote jobs", sizeof(BpJobs), &found);
	if (!found)
	{
		memset(jobs, 0, sizeof(BpJobs));
		SpinLockInit(&jobs->mutex);
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * A new reconciler: forget the slots of the one before (a job it started
 * may still run; its result, stamped with an old generation, is dropped).
 */
void
BpJobsAttach(void)
{
	SpinLockAcquire(&jobs->mutex);
	for (int i = 0; i < BP_JOB_SLOTS; i++)
	{
		jobs->slots[i].used = false;
		jobs->slots[i].generation++;
	}
	SpinLockRelease(&jobs->mutex);
}

bool
BpJobRunning(BpJobKind kind, int64 arg)
{
	bool		running = false;

	SpinLockAcquire(&jobs->mutex);
	for (int i = 0; i < BP_JOB_SLOTS; i++)
		if (jobs->slots[i].used && jobs->slots[i].kind == kind && jobs->slots[i].arg == arg)
			running = true;
	SpinLockRelease(&jobs->mutex);
	return running;
}

/*
 * Hand a job to a worker of its own.  True if one runs it now (or already
 * did); false if none could be had: then the caller does the job.
 */
bool
BpJobStart(BpJobKind kind, int64 arg)
{
	int			slot = -1;
	uint32		generation = 0;
	BackgroundWorker w;
	MemoryContext old;
	bool		registered;

	if (BpJobRunning(kind, arg))
		return true;
	SpinLockAcquire(&jobs->mutex);
	for (int i = 0; i < BP_JOB_SLOTS && slot < 0; i++)
		if (!jobs->slots[i].used)
		{
			slot = i;
			jobs->slots[i].used = true;
			jobs->slots[i].done = false;
			jobs->slots[i].kind = kind;
			jobs->slots[i].arg = arg;
			jobs->slots[i].error[0] = '\0';
			generation = ++jobs->slots[i].generation;
		}
	SpinLockRelease(&jobs->mutex);
	if (slot < 0)
		return false;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = BGW_NEVER_RESTART;
	strlcpy(w.bgw_library_name, "branchpromote", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, "branchpromote_job_main", BGW_MAXLEN);
	snprintf(w.bgw_name, BGW_MAXLEN, "branchpromote job: %s " INT64_FORMAT,
			 kind == BP_JOB_SNAPSHOT ? "snapshot of compute" : "empty the trash", arg);
	strlcpy(w.bgw_type, "branchpromote job", BGW_MAXLEN);
	w.bgw_main_arg = Int32GetDatum(slot);
	memcpy(w.bgw_extra, &generation, sizeof(generation));
	w.bgw_notify_pid = MyProcPid;	/* its exit sets our latch */
	old = MemoryContextSwitchTo(TopMemoryContext);	/* the handle outlives this pass */
	registered = RegisterDynamicBackgroundWorker(&w, &handles[slot]);
	MemoryContextSwitchTo(old);
	if (!registered)
	{
		SpinLockAcquire(&jobs->mutex);
		jobs->slots[slot].used = false;
		SpinLockRelease(&jobs->mutex);
		handles[slot] = NULL;
		return false;
	}
	return true;
}

/*
 * Collect the jobs that ended: done is told each one's outcome (a worker
 * that exited without one failed).  Returns how many still run.
 */
int
BpJobsHarvest(BpJobDone done)
{
	int			running = 0;

	for (int i = 0; i < BP_JOB_SLOTS; i++)
	{
		JobSlot		s;
		pid_t		pid;
		bool		ended;

		SpinLockAcquire(&jobs->mutex);
		s = jobs->slots[i];
		SpinLockRelease(&jobs->mutex);
		if (!s.used || handles[i] == NULL)
			continue;
		ended = s.done || GetBackgroundWorkerPid(handles[i], &pid) == BGWH_STOPPED;
		if (!ended)
		{
			running++;
			continue;
		}
		SpinLockAcquire(&jobs->mutex);
		s = jobs->slots[i];		/* it may have finished just now */
		jobs->slots[i].used = false;
		SpinLockRelease(&jobs->mutex);
		pfree(handles[i]);
		handles[i] = NULL;
		done(s.kind, s.arg, !s.done ? "the job's worker exited without a result (see the server log)" :
			 s.error[0] ? s.error : NULL);
	}
	return running;
}

/*
 * Before a periodic snapshot: the running prod's files rewritten where
 * copy-on-write has fragmented them (defragment_extents), so that this
 * snapshot and what later forks it or prod clone few extents.  No lock is
 * held: the rewrite is safe against the server's own writes and against the
 * timeline being replaced meanwhile (its files stay open).
 */
static void
DefragmentNow(int64 compute_id)
{
	BpComputeRow row;
	bool		locked;
	int			pid;
	BpDefragReport r;

	if (BpStorage()->defragment == NULL ||
		!CatalogGetComputeById(compute_id, false, &locked, &row) ||
		BpCompute()->observe(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	if (!BpStorage()->defragment(row.spec.timeline_id, (uint64) bp_defragment_extents, true, &r))
	{
		ereport(LOG,
				(errmsg("branchpromote: defragment_extents is set, but timeline " INT64_FORMAT " of compute " INT64_FORMAT " is not rewritten: %s",
						row.spec.timeline_id, compute_id, r.why_not ? r.why_not : "the storage driver cannot")));
		return;
	}
	if (r.over_before > 0)
		ereport(LOG,
				(errmsg("branchpromote: defragmented timeline " INT64_FORMAT " of compute " INT64_FORMAT
						": " UINT64_FORMAT " of " UINT64_FORMAT " files had over %d extents, "
						UINT64_FORMAT " after; extents " UINT64_FORMAT " -> " UINT64_FORMAT " (%.1f ms%s)",
						row.spec.timeline_id, compute_id, r.over_before, r.files, bp_defragment_extents,
						r.over_after, r.extents_before, r.extents_after, r.ms,
						r.stopped ? "; stopped at operation_timeout" : "")));
}

/* DefragmentNow in a subtransaction: its failure is logged, and the snapshot still taken. */
static void
Defragment(int64 compute_id)
{
	MemoryContext cxt = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;

	if (bp_defragment_extents <= 0)
		return;
	BeginInternalSubTransaction(NULL);
	PG_TRY();
	{
		DefragmentNow(compute_id);
		ReleaseCurrentSubTransaction();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		ereport(LOG,
				(errcode(ed->sqlerrcode),
				 errmsg("branchpromote: could not defragment compute " INT64_FORMAT "'s timeline: %s",
						compute_id, ed->message),
				 ed->detail ? errdetail_internal("%s", ed->detail) : 0,
				 ed->hint ? errhint("%s", ed->hint) : 0));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	CurrentResourceOwner = owner;
}

/* The periodic snapshot of a running prod (bounds a rollback's replay). */
static void
JobSnapshot(int64 compute_id)
{
	BpComputeRow row;
	bool		locked;
	int			pid;
	int64		snapshot_id;
	BpSnapshotResult snap;

	Defragment(compute_id);
	if (!CatalogGetComputeById(compute_id, true, &locked, &row) || !locked ||
		BpCompute()->observe(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	snapshot_id = CatalogNextSnapshotId();
	BpStorage()->snapshot(row.spec.timeline_id, BpServerOn(&row.spec, false), snapshot_id, &snap);
	CatalogInsertSnapshot(snapshot_id, row.spec.timeline_id, snap.start_lsn, snap.lsn, "periodic");
}

/* Empty the trash of what has been there for branchpromote.trash_retention. */
static void
JobPurgeTrash(void)
{
	int			n = BpStorage()->purge_trash(TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
																	   -(int64) bp_trash_retention_s * 1000));

	if (n > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: emptied %d trash director%s", n, n == 1 ? "y" : "ies")));
}

/* The job (in a transaction, catalog session open). */
void
BpJobRun(BpJobKind kind, int64 arg)
{
	switch (kind)
	{
		case BP_JOB_SNAPSHOT:
			JobSnapshot(arg);
			break;
		case BP_JOB_PURGE_TRASH:
			JobPurgeTrash();
			break;
	}
}

/* Put the outcome in our slot, unless a newer reconciler took it over. */
static void
Report(int slot, uint32 generation, const char *error)
{
	SpinLockAcquire(&jobs->mutex);
	if (jobs->slots[slot].used && jobs->slots[slot].generation == generation)
	{
		strlcpy(jobs->slots[slot].error, error ? error : "", sizeof(jobs->slots[slot].error));
		jobs->slots[slot].done = true;
	}
	SpinLockRelease(&jobs->mutex);
}

/* Entry point of a job's worker: one job in one transaction, then exit. */
void
branchpromote_job_main(Datum main_arg)
{
	int			slot = DatumGetInt32(main_arg);
	uint32		generation;
	JobSlot		s;

	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	memcpy(&generation, MyBgworkerEntry->bgw_extra, sizeof(generation));
	SpinLockAcquire(&jobs->mutex);
	s = jobs->slots[slot];
	SpinLockRelease(&jobs->mutex);
	if (!s.used || s.generation != generation)
		proc_exit(0);			/* the reconciler that asked is gone */
	BackgroundWorkerInitializeConnection(bp_database_name, NULL, 0);
	/* like the reconciler: yield to DDL on the catalog */
	SetConfigOption("lock_timeout", "100", PGC_SUSET, PGC_S_OVERRIDE);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, MyBgworkerEntry->bgw_name);
	PG_TRY();
	{
		CatalogBegin();
		BpJobRun(s.kind, s.arg);
		CatalogEnd();
		PopActiveSnapshot();
		CommitTransactionCommand();
		Report(slot, generation, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(TopMemoryContext);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("branchpromote job: %s: %s", MyBgworkerEntry->bgw_name, ed->message),
				 ed->detail ? errdetail_internal("%s", ed->detail) : 0));
		AbortCurrentTransaction();
		Report(slot, generation, ed->message);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}
