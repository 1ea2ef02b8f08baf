/*
 * reconcile_timelines.c — timeline cleanup: orphans, strays, endpoints,
 * expired previews, ended recovery windows.  A job of the reconciler;
 * worker.c runs the passes.
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
 * Has the transaction that created a timeline finished?  An unknown creator,
 * or one that is not a plausible xid of this cluster, counts as finished.
 */
bool
CreatorFinished(FullTransactionId creator)
{
	FullTransactionId next = ReadNextFullTransactionId();

	if (!FullTransactionIdIsValid(creator))
		return true;
	if (!FullTransactionIdPrecedes(creator, next))
		return false;			/* from a future this catalog never saw: not ours to judge */
	if (U64FromFullTransactionId(next) - U64FromFullTransactionId(creator) > (UINT64CONST(1) << 31))
		return true;
	return !TransactionIdIsInProgress(XidFromFullTransactionId(creator));
}

/*
 * May the reconciler collect this directory once no committed row names
 * it?  Only one this catalog incarnation made on this WAL timeline (a
 * restored or re-created catalog does not know what another made), or one
 * with nothing in it (a crash between mkdir and its owner file).
 */
bool
Collectable(const BpStoredTimeline *t)
{
	if (t->current)
		return true;
	return !FullTransactionIdIsValid(t->creator) && t->empty && !t->young;
}

/*
 * A directory of this stamp whose creator is in this catalog's future, and
 * no row names it: restamp it with WAL timeline 0 (never current), so it
 * stays a stray however far the xid counter goes.  True if it did.
 */
bool
MarkFuture(const BpStoredTimeline *t, int64 timeline_of_snapshot)
{
	char	   *stamp;
	char	   *space;

	if (!t->current || !FullTransactionIdIsValid(t->creator) ||
		FullTransactionIdPrecedes(t->creator, ReadNextFullTransactionId()))
		return false;
	if (timeline_of_snapshot == 0 ? CatalogTimelineExists(t->timeline_id) :
		CatalogSnapshotExists(t->timeline_id))
		return false;
	stamp = pstrdup(t->stamp);
	if ((space = strchr(stamp, ' ')) != NULL)
		*space = '\0';
	if (timeline_of_snapshot == 0)
		BpStorage()->restamp(t->timeline_id, 0, t->creator, psprintf("%s 0", stamp));
	else
		BpStorage()->restamp(timeline_of_snapshot, t->timeline_id, t->creator, psprintf("%s 0", stamp));
	ereport(LOG,
			(errmsg("branchpromote reconciler: %s " INT64_FORMAT " was made by a transaction in this catalog's future; kept as a stray",
					timeline_of_snapshot == 0 ? "timeline" : "snapshot", t->timeline_id)));
	return true;
}

/* Remove a timeline nothing committed references; stop stray servers. */
void
DoReconcileTimeline(void *arg)
{
	BpStoredTimeline *t = arg;

	/*
	 * A creator in this catalog's future (it was restored to an earlier
	 * point on the same WAL timeline): the xid counter will pass it one day
	 * and it would look finished; mark the directory a stray for good first.
	 */
	if (MarkFuture(t, 0))
		return;
	/* SPI takes a fresh snapshot per statement: after this check, so a
	 * creator that committed has its rows visible. */
	if (t->current && !CreatorFinished(t->creator))
		return;
	/* no owner file yet: its creator may be between mkdir and writing it */
	if (!FullTransactionIdIsValid(t->creator) && t->young)
		return;
	if (!CatalogTimelineExists(t->timeline_id))
	{
		if (!Collectable(t))
			return;				/* a stray: branchpromote.stray_timelines lists it */
		BpCompute()->stop_timeline(t->timeline_id, true);
		BpStorage()->remove(t->timeline_id);
		ereport(LOG,
				(errmsg("branchpromote reconciler: moved timeline " INT64_FORMAT
						", which no committed row references, to the trash", t->timeline_id)));
	}
	else if (!StartingOn(t->timeline_id) && !CatalogTimelineHasCompute(t->timeline_id))
		BpCompute()->stop_timeline(t->timeline_id, false);
}

/* Release the endpoint of a compute no committed row names. */
void
DoReconcileEndpoint(void *arg)
{
	int64		id = *(int64 *) arg;

	/* a start in progress: its row may not be committed yet */
	if (FindStart(id) == NULL && !CatalogComputeExists(id))
		BpCompute()->forget(id);
}

void
DoListEndpoints(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	*(List **) arg = BpCompute()->list_endpoints();
	MemoryContextSwitchTo(old);
}

static int
CompareTimelineState(const void *a, const void *b)
{
	int64		x = ((const BpTimelineState *) a)->timeline_id;
	int64		y = ((const BpTimelineState *) b)->timeline_id;

	return x < y ? -1 : x > y;
}

/*
 * The timelines in storage that need a look: those no live row names (an
 * orphan, or one whose creator has not committed yet) and those without a
 * compute (a stray server may run there).  One query for all of them.
 */
void
DoListTimelines(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	List	   *stored = BpStorage()->list();
	int64	   *ids = palloc(sizeof(int64) * Max(1, list_length(stored)));
	int			nids = 0;
	int			n = 0;
	BpTimelineState *states = NULL;
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, stored)
		ids[nids++] = ((BpStoredTimeline *) lfirst(lc))->timeline_id;
	if (nids > 0)
		states = CatalogTimelineStates(loop_cxt, ids, nids, &n);

	MemoryContextSwitchTo(loop_cxt);	/* SPI left us in its own */
	foreach(lc, stored)
	{
		BpStoredTimeline *t = lfirst(lc);
		BpTimelineState key = {t->timeline_id, false};
		BpTimelineState *st = n > 0 ? bsearch(&key, states, n, sizeof(key), CompareTimelineState) : NULL;

		if (st == NULL || !st->has_compute)
			out = lappend(out, t);
	}
	*(List **) arg = out;
	MemoryContextSwitchTo(old);
}

/* Discard previews past their expiry (a catalog not yet updated to 0.7.0: later). */
void
DoExpirePreviews(void *arg)
{
	int			n = CatalogHasRecoveryWindow() ? CatalogExpirePreviews(bp_recovery_window_s) : 0;

	if (n > 0)
		BpWakeWorkerAtCommit();	/* their routes go (the proxy asks again) */
	if (n > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: discarded %d expired preview(s)", n)));
}

/*
 * The recovery window's end: dropped projects and discarded branches past
 * it let go of their rows; their directories then go by the usual rule
 * (no live row names them) in this same pass.
 */
void
DoPurgeExpired(void *arg)
{
	int			projects;
	int			branches;

	if (!CatalogHasRecoveryWindow())
		return;					/* ALTER EXTENSION UPDATE pending */
	CatalogPurgeExpired(&projects, &branches);
	if (projects > 0 || branches > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: the recovery window of %d dropped project(s) and %d discarded branch(es) ended; removing their data",
						projects, branches)));
}
