/*
 * reconcile_items.c — the item runner: one transaction per item, an error
 * logged (and a compute's recorded on it) and the loop goes on.  A job of
 * the reconciler; worker.c runs the passes.
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

MemoryContext loop_cxt;

/*
 * Run fn in its own transaction (with the catalog open if with_catalog).
 * On error: log it, copy its message to errbuf, roll back, return false.
 */
bool
RunItem(const char *what, bool with_catalog, ItemFn fn, void *arg,
		char *errbuf, size_t errlen)
{
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		if (with_catalog)
			CatalogBegin();
		fn(arg);
		if (with_catalog)
			CatalogEnd();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(loop_cxt);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("branchpromote reconciler: %s: %s", what, ed->message),
				 ed->detail ? errdetail_internal("%s", ed->detail) : 0));
		if (errbuf)
			snprintf(errbuf, errlen, "%s%s%s", ed->message,
					 ed->detail ? ": " : "", ed->detail ? ed->detail : "");
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/* A list of int64 ids, copied into the loop's context (outlives the item). */
List *
CopyIds(List *ids)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, ids)
	{
		int64	   *id = palloc(sizeof(int64));

		*id = *(int64 *) lfirst(lc);
		out = lappend(out, id);
	}
	MemoryContextSwitchTo(old);
	return out;
}

typedef struct FailItem
{
	int64		compute_id;
	const char *error;
} FailItem;

static void
DoRecordFailure(void *arg)
{
	FailItem   *f = arg;

	if (CatalogComputeExists(f->compute_id))
		CatalogSetComputeState(f->compute_id, "failed", 0, f->error);
}

void
RecordFailure(int64 compute_id, const char *error)
{
	FailItem	f = {compute_id, error};

	(void) RunItem("recording a compute failure", true, DoRecordFailure, &f, NULL, 0);
}
