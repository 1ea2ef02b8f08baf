/*
 * reconcile_twophase.c — 2PC resolution: a compute's prepared transactions
 * whose control transaction ended.  A job of the reconciler; worker.c runs
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
 * Finish compute transactions whose control transaction ended without
 * finishing them (its backend died between PREPARE and COMMIT PREPARED):
 * commit if that transaction committed its catalog row for the gid, roll
 * back if it ended without.  The gid's xid only says whether the creator
 * may still be running: after a crash an unflushed xid can be handed out
 * again, so it never decides the outcome.
 */
int
ResolvePrepared(PGconn *conn, int64 compute_id)
{
	const char **still;
	int			nstill = 0;
	int			finished = 0;

	PGresult   *res = BpExec(conn, "SELECT gid FROM pg_catalog.pg_prepared_xacts "
							 "WHERE gid LIKE '" BP_GID_PREFIX "%' AND database = current_database()",
							 0, NULL, bp_operation_timeout_ms);

	still = palloc(sizeof(char *) * Max(1, PQntuples(res)));
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *gid = PQgetvalue(res, i, 0);
		FullTransactionId fxid;
		bool		commit;

		still[nstill++] = pstrdup(gid);
		if (!BpTwoPhaseParseGid(gid, &fxid))
			continue;
		/* first: may its creator still be running?  (then: its row, fresh snapshot) */
		if (FullTransactionIdPrecedes(fxid, ReadNextFullTransactionId()) &&
			TransactionIdIsInProgress(XidFromFullTransactionId(fxid)))
			continue;
		commit = CatalogPreparedCommitted(gid);
		BpExecCommand(conn, psprintf("%s PREPARED %s", commit ? "COMMIT" : "ROLLBACK",
									 quote_literal_cstr(gid)),
					  bp_operation_timeout_ms);
		ereport(LOG,
				(errmsg("branchpromote reconciler: %s compute transaction %s, left by a control transaction that %s",
						commit ? "committed" : "rolled back", gid,
						commit ? "committed" : "did not commit")));
		nstill--;
		finished++;
	}
	PQclear(res);
	CatalogForgetPrepared(compute_id, still, nstill);
	return finished;
}
