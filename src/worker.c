/*
 * worker.c — the reconciler: makes reality match the catalog.
 *
 * Level-triggered: every pass reads desired state from the catalog and
 * compares it with what runs and what is on disk.  It
 *   - answers backends' requests (start or stop a compute, make the template);
 *   - starts computes that should run and do not, adopts running ones after
 *     a restart of the control server (same pid, no restart);
 *   - removes timeline directories no committed row references once the
 *     transaction that created them has finished (aborted operations,
 *     dropped projects), stopping any server running on them first.
 * One transaction per item; an error on one item is logged and recorded on
 * it (compute.last_error) and the loop goes on.  It waits only on its latch
 * (with postmaster death), woken by requests and by commits that change the
 * catalog, with a periodic pass as a backstop.
 *
 * This file runs the loop and the passes; each job is in its own file:
 * the item runner (reconcile_items.c), requests (reconcile_requests.c),
 * compute starts and convergence (reconcile_starts.c, reconcile_computes.c),
 * 2PC resolution (reconcile_twophase.c), idle suspend (reconcile_idle.c),
 * timeline cleanup (reconcile_timelines.c), retention
 * (reconcile_retention.c), snapshots (reconcile_snapshots.c,
 * reconcile_jobs.c) and manifest restarts (reconcile_manifests.c).
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "jobs.h"
#include "journal.h"
#include "ledger.h"
#include "pgconn.h"
#include "process.h"
#include "proxystats.h"
#include "requests.h"
#include "twophase.h"
#include "reconcile.h"
#include "worker.h"

/* A full pass at least this often, even when nothing asked for one. */
#define FULL_PASS_INTERVAL_MS 60000

static void
DoCheckExtension(void *arg)
{
	*(bool *) arg = CatalogExtensionInstalled();
}

static void
DoListJournals(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	*(List **) arg = JournalList(true);
	MemoryContextSwitchTo(old);
}

/*
 * A call that ended without committing (its transaction aborted, or its
 * backend died): record it as a failed operation with the steps it
 * reached — unless its operation row committed after all — and forget it.
 * What it left behind is undone by the other items of the pass.
 */
static void
DoJournal(void *arg)
{
	BpJournalEntry *e = arg;

	const char *why = e->exited ? "its backend was ended (FATAL or pg_terminate_backend)" :
		e->ended ? "its transaction aborted" : "its backend ended (a crash?) without finishing";

	if (!CatalogOperationRecorded(e->header))
	{
		CatalogRecordFailedOperation(e->header, e->steps_json, why);
		ereport(LOG,
				(errmsg("branchpromote reconciler: recorded a failed operation: %s", e->header)));
	}
	/* a promotion whose backend could not record its failed deploy itself */
	if (e->exited || !e->ended)
		CatalogRecordJournaledDeploy(e->header, e->steps_json, why);
}

/*
 * How often timelines' history is maintained: a quarter of the retention
 * window, between one pass and a minute.
 */
static long
HistoryIntervalMs(void)
{
	int64		ms = (int64) bp_history_retention_s * 1000 / 4;

	return (long) Max(Min(ms, FULL_PASS_INTERVAL_MS), bp_reconcile_interval_ms);
}

/*
 * One level-triggered pass.  A full pass (asked for by a commit or an abort
 * that changed something, the first one, and one a minute anyway) looks at
 * every compute; the periodic passes between skip computes suspended on
 * purpose (only a wake, which is a request, changes those).  History is
 * maintained in full passes and every HistoryIntervalMs().  Manifests are
 * rendered only when their inputs changed.  Running computes' orphaned
 * prepared transactions are finished in every full pass, their ledger and
 * schema mirrors refreshed once a minute (mirrors), or at once where
 * finishing one changed them.  Returns whether some request had to wait.
 */
static bool
ReconcilePass(bool full, bool mirrors)
{
	static TimestampTz next_history = 0;
	bool		installed = false;
	ComputeList cl = {false, NULL, 0};
	List	   *timelines = NIL;
	List	   *endpoints = NIL;
	List	   *due = NIL;
	List	   *live = NIL;
	List	   *journals = NIL;
	ManifestItem manifest = {0, "", false};
	ListCell   *lc;
	bool		deferred = false;

	if (!RunItem("checking the extension", false, DoCheckExtension, &installed, NULL, 0) ||
		!installed)
		return false;
	(void) RunItem("making the timeline template", false, DoTemplate, NULL, NULL, 0);
	(void) RunItem("expiring previews", true, DoExpirePreviews, NULL, NULL, 0);
	(void) RunItem("ending recovery windows", true, DoPurgeExpired, NULL, NULL, 0);
	if (RunItem("listing ended operations", false, DoListJournals, &journals, NULL, 0))
		foreach(lc, journals)
		{
			/* forgotten only once the record committed (it is idempotent) */
			if (RunItem("recording a failed operation", true, DoJournal, lfirst(lc), NULL, 0))
				JournalForget(lfirst(lc));
		}
	if (RunItem("listing timelines", true, DoListTimelines, &timelines, NULL, 0))
		foreach(lc, timelines)
		{
			(void) RunItem("checking a timeline", true, DoReconcileTimeline, lfirst(lc),
						   NULL, 0);
			deferred |= ProcessRequests();
		}
	cl.full = full;
	if (!RunItem("listing computes", true, DoListComputes, &cl, NULL, 0))
		cl.n = 0;
	for (int i = 0; i < cl.n; i++)
	{
		BpComputeBrief *b = &cl.briefs[i];
		char		err[1024];

		if (b->running && b->suspended && !full)
			continue;			/* down on purpose: only a wake changes that */
		if (b->quiet)
			continue;
		if (!RunItem("reconciling a compute", true, DoReconcileCompute, &b->id,
					 err, sizeof(err)))
			RecordFailure(b->id, err);
		else if (b->actual_running)
		{
			/* API calls refresh the mirrors they change: the others once a minute */
			RefreshItem refresh = {b->id, mirrors};

			if (full)
			{
				deferred |= ProcessRequests();
				(void) RunItem("refreshing a ledger mirror", true, DoRefreshLedger, &refresh,
							   NULL, 0);
			}
			deferred |= ProcessRequests();
			(void) RunItem("checking a compute for clients", true, DoIdle, &b->id,
						   NULL, 0);
		}
		deferred |= ProcessRequests();	/* keep requesters waiting briefly */
	}
	for (int i = 0; i < cl.n; i++)	/* prod last */
	{
		BpComputeBrief *b = &cl.briefs[i];
		char		err[1024];

		if (b->manifest_current)
			continue;
		manifest.compute_id = b->id;
		strlcpy(manifest.key, b->manifest_key, sizeof(manifest.key));
		if (!RunItem("rendering a compute's manifest", true, DoManifest, &manifest,
					 err, sizeof(err)))
			RecordFailure(manifest.compute_id, err);
		deferred |= ProcessRequests();
	}
	if (bp_snapshot_interval_s > 0 &&
		RunItem("listing snapshots due", true, DoListSnapshotsDue, &due, NULL, 0))
		foreach(lc, due)
		{
			int64		id = *(int64 *) lfirst(lc);

			if (SnapshotBackingOff(id) || BpJobRunning(BP_JOB_SNAPSHOT, id))
				continue;
			if (!StartJob("taking a periodic snapshot", BP_JOB_SNAPSHOT, id))
				SnapshotBackOff(id);
			deferred |= ProcessRequests();
		}
	if ((full || GetCurrentTimestamp() >= next_history) &&
		RunItem("listing live timelines", true, DoListLiveTimelines, &live, NULL, 0))
	{
		foreach(lc, live)
		{
			(void) RunItem("maintaining a timeline's history", true, DoReconcileHistory,
						   lfirst(lc), NULL, 0);
			deferred |= ProcessRequests();
		}
		next_history = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HistoryIntervalMs());
	}
	if (RunItem("listing compute endpoints", false, DoListEndpoints, &endpoints, NULL, 0))
		foreach(lc, endpoints)
			(void) RunItem("checking a compute endpoint", true, DoReconcileEndpoint,
						   lfirst(lc), NULL, 0);
	/* last: with trash_retention 0, what this pass moved there goes too */
	if (full)
		(void) StartJob("emptying the trash", BP_JOB_PURGE_TRASH, 0);
	return deferred;
}

/* Entry point of the reconciler. */
void
branchpromote_reconciler_main(Datum arg)
{
	TimestampTz next_pass = 0;
	TimestampTz next_full = 0;
	TimestampTz next_mirrors = 0;	/* requested full passes do not move it */

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGCHLD, SIG_DFL);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(bp_database_name, NULL, 0);

	/*
	 * Yield to whoever else wants a lock: DDL on the catalog (DROP or ALTER
	 * EXTENSION, DROP DATABASE) takes its tables one by one and would
	 * otherwise deadlock with a pass that holds one of them, and the
	 * deadlock detector may pick the user's statement.  Well below
	 * deadlock_timeout, so the reconciler's item fails first (it is
	 * retried on the next pass); row locks it must respect are taken with
	 * SKIP LOCKED anyway.
	 */
	SetConfigOption("lock_timeout", "100", PGC_SUSET, PGC_S_OVERRIDE);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "branchpromote reconciler",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loop_cxt);
	BpWorkerAttach();
	BpJobsAttach();
	ereport(LOG, (errmsg("branchpromote reconciler started on database \"%s\", data root \"%s\"",
						 bp_database_name, BpDataRoot())));

	for (;;)
	{
		bool		deferred;
		bool		requested;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		deferred = ProcessRequests();
		requested = BpWorkerPassRequested();
		if (requested || want_full || GetCurrentTimestamp() >= next_pass)
		{
			TimestampTz start = GetCurrentTimestamp();
			bool		mirrors = start >= next_mirrors;	/* the first, then one a minute */
			bool		full = requested || want_full || mirrors || start >= next_full;

			if (mirrors)
				next_mirrors = TimestampTzPlusMilliseconds(start, FULL_PASS_INTERVAL_MS);
			deferred |= ReconcilePass(full, mirrors);
			if (full)
			{
				want_full = false;
				next_full = TimestampTzPlusMilliseconds(start, FULL_PASS_INTERVAL_MS);
			}
			BpWorkerPassDone(full, (double) (GetCurrentTimestamp() - start) / 1000.0);
			next_pass = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													bp_reconcile_interval_ms);
		}
		MemoryContextReset(loop_cxt);
		/* a start in progress is looked at about as often as it used to be polled */
		timeout = starts != NIL ? 3 : deferred ? 50 :
			Max(1, (long) ((next_pass - GetCurrentTimestamp()) / 1000));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
