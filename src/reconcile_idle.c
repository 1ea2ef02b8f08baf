/*
 * reconcile_idle.c — idle suspend, and the ledger and schema mirrors of
 * running computes.  A job of the reconciler; worker.c runs the passes.
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
#include "tenantconn.h"
#include "twophase.h"
#include "reconcile.h"

/*
 * Mirror a running compute's schema check in the catalog, so that
 * plan_promotion sees it once the compute is down; "unknown" if it could
 * not be read (plan_promotion then wakes the compute).
 */
static void
MirrorSchema(const BpComputeRow *row)
{
	BpSchemaCheck check;

	CatalogSetSchemaMirror(row->spec.timeline_id,
						   SchemaCheckQuietly(&row->spec, row->project, row->project_password, &check) ?
						   SchemaCheckJson(&check) : NULL);
}

/*
 * Finish a running compute's orphaned prepared transactions, and refresh
 * the catalog's copies of its ledger and schema check (the ledger itself
 * lives in the timeline: migrations applied there directly, or inherited
 * by a fork, show up here) when asked to (the pass once a minute) or when
 * finishing one changed them.  The mirrors cost a second session and the
 * schema read, so the full passes after each call skip them: every call
 * that changes a ledger writes its mirrors itself.
 */
void
DoRefreshLedger(void *arg)
{
	const RefreshItem *item = arg;
	int64		id = item->compute_id;
	BpComputeRow row;
	bool		locked;
	int			pid;
	PGconn	   *conn;
	BpLedger	ledger;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked ||
		BpCompute()->observe(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	conn = LedgerConnect(&row.spec, row.project, row.project_password);
	if (ResolvePrepared(conn, id) == 0 && !item->mirrors)
	{
		BpDisconnect(conn);
		return;
	}
	LedgerRead(conn, &ledger);
	BpDisconnect(conn);
	CatalogReplaceLedgerMirror(row.spec.timeline_id, &ledger);
	MirrorSchema(&row);
}

/*
 * Scale to zero: a running compute with client connections is active now;
 * one without any for longer than its suspend timeout is shut down cleanly
 * (the proxy or wake_compute starts it again).
 */
void
DoIdle(void *arg)
{
	int64		id = *(int64 *) arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	int64		timeout_s;
	int			clients;
	int64		idle_s;
	int64		proxy_idle_s;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked ||
		strcmp(row.desired_state, "running") != 0 || strcmp(row.actual_state, "running") != 0)
		return;
	timeout_s = CatalogSuspendTimeout(id, bp_suspend_timeout_s);
	if (timeout_s <= 0)
		return;					/* never suspended: no need to count clients */
	if (BpCompute()->observe(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	clients = BpCompute()->client_sessions(&row.spec);
	if (clients > 0)
	{
		CatalogTouchCompute(id);
		return;
	}
	/* a client of the proxy may have come and gone since the last pass */
	proxy_idle_s = (GetCurrentTimestamp() - BpProxyLastActive(row.project, row.env)) / USECS_PER_SEC;
	idle_s = CatalogComputeIdleSeconds(id);
	if (proxy_idle_s < idle_s)
	{
		CatalogTouchCompute(id);
		idle_s = proxy_idle_s;
	}
	if (idle_s < timeout_s)
		return;
	if (!BpProxyBeginSuspend(id, row.project, row.env))
	{
		CatalogTouchCompute(id);	/* a proxied client arrived just now */
		return;
	}
	PG_TRY();
	{
		ereport(LOG,
				(errmsg("branchpromote reconciler: suspending compute %s/%s: no client for " INT64_FORMAT " s",
						row.project, row.env, CatalogComputeIdleSeconds(id))));
		MirrorSchema(&row);		/* closed to new clients: exact while it is down */
		BpCompute()->stop(&row.spec);
		CatalogSetComputeState(id, "suspended", 0, NULL);
	}
	PG_FINALLY();
	{
		BpProxyEndSuspend();
	}
	PG_END_TRY();
}
