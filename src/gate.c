/*
 * gate.c — a compute closed to clients until the transaction that made it
 * commits.
 *
 * A rollback or a reset starts prod on its new timeline inside the caller's
 * transaction.  If clients could reach it before that transaction commits,
 * an abort would throw away writes they were told had committed (the
 * reconciler removes an uncommitted timeline).  So the compute starts
 * closed to clients (only the control plane's own socket connections get
 * in) and is opened here when the transaction commits; if it aborts, or the
 * savepoint the call ran in is rolled back, it stays closed and the
 * reconciler removes it.  If this backend dies between commit and opening,
 * the reconciler opens every committed compute it finds closed.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"

#include "gate.h"

typedef struct Gated
{
	BpComputeSpec spec;
	SubTransactionId subid;
	struct Gated *next;
} Gated;

static Gated *gated = NULL;

/* Open spec's compute to clients once the current transaction commits. */
void
BpOpenAtCommit(const BpComputeSpec *spec)
{
	Gated	   *g = MemoryContextAllocZero(TopMemoryContext, sizeof(Gated));

	g->spec = *spec;
	g->subid = GetCurrentSubTransactionId();
	g->next = gated;
	gated = g;
}

/* Open one; no ERROR at commit: the reconciler opens what is left closed. */
static void
Open(const BpComputeSpec *spec)
{
	PG_TRY();
	{
		BpCompute()->set_client_access(spec, true);
	}
	PG_CATCH();
	{
		EmitErrorReport();
		FlushErrorState();
	}
	PG_END_TRY();
}

/* Forget (and with commit, open) the entries of subid (0: all). */
static void
Release(bool open, SubTransactionId subid)
{
	Gated	  **link = &gated;

	while (*link)
	{
		Gated	   *g = *link;

		if (subid != InvalidSubTransactionId && g->subid != subid)
		{
			link = &g->next;
			continue;
		}
		*link = g->next;
		if (open)
			Open(&g->spec);
		pfree(g);
	}
}

static void
AtXactEnd(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
		Release(true, InvalidSubTransactionId);
	else if (event == XACT_EVENT_ABORT)
		Release(false, InvalidSubTransactionId);
}

static void
AtSubXactEnd(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		Release(false, sub);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (Gated *g = gated; g; g = g->next)
			if (g->subid == sub)
				g->subid = parent;
}

void
BpGateInit(void)
{
	RegisterXactCallback(AtXactEnd, NULL);
	RegisterSubXactCallback(AtSubXactEnd, NULL);
}
