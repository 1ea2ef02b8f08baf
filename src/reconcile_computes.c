/*
 * reconcile_computes.c — compute convergence: each compute's desired state
 * against what runs.  A job of the reconciler; worker.c runs the passes.
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

static char *renderer = NULL;	/* RendererDigest(), once */

/*
 * Down as recorded (suspended, or stopped on purpose), no server process
 * and client access not left closed: reconciling it would do nothing.  A
 * cheap look at its files, so a full pass needs no transaction for it;
 * if the row changed since it was listed, the next pass sees that.
 */
static bool
DownAsRecorded(const BpComputeBrief *b)
{
	int			pid;
	BpComputeStatus st;

	if (!(b->running ? b->suspended : b->stopped))
		return false;
	st = BpCompute()->observe(&b->spec, &pid);
	return BpComputeDown(st) &&
		!BpCompute()->client_access_closed(&b->spec);
}

void
DoListComputes(void *arg)
{
	ComputeList *cl = arg;
	BpComputeBrief *b;

	if (renderer == NULL)		/* hashing needs a transaction's resource owner */
		renderer = MemoryContextStrdup(TopMemoryContext, RendererDigest());
	b = CatalogComputeBriefs(renderer, &cl->n);

	cl->briefs = MemoryContextAlloc(loop_cxt, sizeof(BpComputeBrief) * Max(1, cl->n));
	memcpy(cl->briefs, b, sizeof(BpComputeBrief) * cl->n);
	for (int i = 0; i < cl->n; i++)
		if (cl->full || !cl->briefs[i].running)
			cl->briefs[i].quiet = DownAsRecorded(&cl->briefs[i]);
}

/* Converge one compute to its desired state. */
void
DoReconcileCompute(void *arg)
{
	int64		id = *(int64 *) arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	BpComputeStatus st;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked)
		return;					/* gone, or an operation holds its project */
	/* committed, yet closed: the backend that made it died before opening it */
	if (BpCompute()->client_access_closed(&row.spec))
		BpCompute()->set_client_access(&row.spec, true, false);
	st = BpCompute()->observe(&row.spec, &pid);
	/* running as recorded: the same instance is still there */
	if (strcmp(row.desired_state, "running") == 0 && strcmp(row.actual_state, "running") == 0 &&
		row.pid > 0 && !BpComputeDown(st) && pid == row.pid)
		return;
	if (strcmp(row.desired_state, "running") == 0)
	{
		if (st == BP_COMPUTE_READY)
		{
			if (strcmp(row.actual_state, "running") != 0 || row.pid != pid)
			{
				/* adopt; a server started by an older version gets today's pg_hba.conf */
				BpCompute()->set_client_access(&row.spec, true, false);
				CatalogSetComputeState(id, "running", pid, NULL);
			}
			return;
		}
		if (st == BP_COMPUTE_STARTING || strcmp(row.actual_state, "suspended") == 0)
			return;
		ereport(LOG,
				(errmsg("branchpromote reconciler: starting compute %s/%s (was %s)",
						row.project, row.env, row.actual_state)));
		pid = BeginStart(&row.spec, bp_compute_start_timeout_ms, true, false, -1);
		if (pid > 0)
			CatalogSetComputeState(id, "running", pid, NULL);
	}
	else
	{
		if (!BpComputeDown(st) || FindStart(id) != NULL)
			StopCompute(&row.spec);
		if (strcmp(row.actual_state, "stopped") != 0)
			CatalogSetComputeState(id, "stopped", 0, NULL);
	}
}
