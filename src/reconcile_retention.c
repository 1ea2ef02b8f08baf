/*
 * reconcile_retention.c — retention: each live timeline's snapshots and
 * archive kept to history_retention.  A job of the reconciler; worker.c runs
 * the passes.
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

/*
 * Might a live timeline's history need work: a snapshot the retention
 * window no longer keeps, a snapshot directory no committed row names, or
 * archived WAL to prune?  Without a transaction of its own per timeline.
 */
static bool
HistoryDue(const BpTimelineHistory *h, TimestampTz now)
{
	int64		retention_ms = (int64) bp_history_retention_s * 1000;
	bool	   *keep = palloc(sizeof(bool) * Max(1, h->nsnap));
	int64	   *ids = palloc(sizeof(int64) * Max(1, h->nsnap));
	XLogRecPtr	cutoff = BpRetentionKeep(h->snap, h->nsnap, now, retention_ms, keep);

	for (int i = 0; i < h->nsnap; i++)
	{
		if (!keep[i])
			return true;
		ids[i] = h->snap[i].id;
	}
	return BpStorage()->history_due(h->timeline_id, ids, h->nsnap, cutoff,
									TimestampTzPlusMilliseconds(now, -retention_ms));
}

/* The live timelines whose history needs work (List of int64 *). */
void
DoListLiveTimelines(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	int			n;
	BpTimelineHistory *h = CatalogLiveHistories(loop_cxt, &n);
	TimestampTz now = GetCurrentTimestamp();
	List	   *due = NIL;

	MemoryContextSwitchTo(loop_cxt);	/* SPI left us in its own */
	for (int i = 0; i < n; i++)
		if (HistoryDue(&h[i], now))
			due = lappend(due, &h[i].timeline_id);
	*(List **) arg = due;
	MemoryContextSwitchTo(old);
}

/*
 * A live timeline's history: remove snapshot directories no committed row
 * references, drop snapshots the retention window no longer keeps, and
 * the WAL that only they needed — unless an operation holds the project
 * (it may be forking from them, or deleting them itself).
 */
void
DoReconcileHistory(void *arg)
{
	int64		tl = *(int64 *) arg;
	ListCell   *lc;
	int			n;
	BpSnapshotInfo *snap;
	bool	   *keep;
	XLogRecPtr	cutoff;
	TimestampTz now = GetCurrentTimestamp();
	int64		retention_ms = (int64) bp_history_retention_s * 1000;
	int			pruned;

	/* an operation on the project may be forking from these: next pass */
	if (!CatalogLockTimelineProject(tl))
		return;
	foreach(lc, BpStorage()->list_snapshots(tl))
	{
		BpStoredTimeline *s = lfirst(lc);

		if (MarkFuture(s, tl) || (s->current && !CreatorFinished(s->creator)) ||
			(!FullTransactionIdIsValid(s->creator) && s->young) || !Collectable(s))
			continue;			/* in progress, or another catalog's (kept) */
		if (!CatalogSnapshotExists(s->timeline_id))
		{
			BpStorage()->remove_snapshot(tl, s->timeline_id);
			ereport(LOG,
					(errmsg("branchpromote reconciler: removed snapshot " INT64_FORMAT
							" of timeline " INT64_FORMAT ", which no committed row references",
							s->timeline_id, tl)));
		}
	}
	snap = CatalogSnapshots(tl, &n);
	keep = palloc(sizeof(bool) * Max(1, n));
	cutoff = BpRetentionKeep(snap, n, now, retention_ms, keep);
	for (int i = 0; i < n; i++)
		if (!keep[i])
			CatalogDeleteSnapshot(snap[i].id);	/* its directory goes next pass */
	pruned = BpStorage()->prune_history(tl, cutoff,
										TimestampTzPlusMilliseconds(now, -retention_ms));
	if (pruned > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: pruned %d WAL segment(s) of timeline " INT64_FORMAT " before %X/%X",
						pruned, tl, LSN_FORMAT_ARGS(cutoff))));
}
