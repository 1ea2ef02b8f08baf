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
#include "xactend.h"

/* At commit, open the compute; at abort it stays closed (and is removed). */
static void
OpenAtEnd(void *arg, bool commit)
{
	BpComputeSpec *spec = arg;

	if (commit)
	{
		/* no ERROR at commit: the reconciler opens what is left closed */
		PG_TRY();
		{
			BpCompute()->set_client_access(spec, true, false);
		}
		PG_CATCH();
		{
			EmitErrorReport();
			FlushErrorState();
		}
		PG_END_TRY();
	}
	pfree(spec);
}

/* Open spec's compute to clients once the current transaction commits. */
void
BpOpenAtCommit(const BpComputeSpec *spec)
{
	BpComputeSpec *copy = MemoryContextAlloc(TopMemoryContext, sizeof(BpComputeSpec));

	*copy = *spec;
	BpAtXactEnd(OpenAtEnd, copy);
}
