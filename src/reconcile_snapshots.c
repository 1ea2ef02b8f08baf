/*
 * reconcile_snapshots.c — periodic snapshots of running prods, with a
 * backoff for a broken one.  A job of the reconciler; worker.c runs the
 * passes.
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

void
DoListSnapshotsDue(void *arg)
{
	*(List **) arg = CopyIds(CatalogSnapshotsDue(bp_snapshot_interval_s));
}

/*
 * A periodic snapshot that failed (e.g. the compute's archiving is broken:
 * the wait for its WAL runs into operation_timeout) is not retried for a
 * while, so one broken compute does not stall every pass.
 */
typedef struct Backoff
{
	int64		compute_id;
	TimestampTz until;
} Backoff;

static List *snapshot_backoff = NIL;	/* of Backoff *, in TopMemoryContext */

bool
SnapshotBackingOff(int64 compute_id)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, snapshot_backoff)
	{
		Backoff    *b = lfirst(lc);

		if (b->compute_id == compute_id)
		{
			if (b->until > now)
				return true;
			snapshot_backoff = foreach_delete_current(snapshot_backoff, lc);
			pfree(b);
			return false;
		}
	}
	return false;
}

void
SnapshotBackOff(int64 compute_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	Backoff    *b = palloc(sizeof(Backoff));
	int			wait_s = Max(60, Min(bp_snapshot_interval_s, 600));

	b->compute_id = compute_id;
	b->until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_s * 1000);
	snapshot_backoff = lappend(snapshot_backoff, b);
	MemoryContextSwitchTo(old);
}
