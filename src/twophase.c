/*
 * twophase.c — compute transactions that commit or abort with the caller's.
 *
 * Migrations run in a transaction on a compute, but promote_branch and
 * apply_migrations run inside the caller's transaction on the control
 * server.  So the compute's transaction is PREPAREd, named after the
 * caller's (sub)transaction id, and finished from here: COMMIT PREPARED
 * once the caller's transaction commits, ROLLBACK PREPARED if it (or the
 * savepoint the call ran in) aborts.  If this backend dies in between, the
 * reconciler finds the prepared transaction on the compute and finishes it
 * the way the named transaction ended (worker.c).
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "guc.h"

#include "pgconn.h"
#include "twophase.h"
#include "xactend.h"

typedef struct Prepared
{
	PGconn	   *conn;
	char		gid[64];
} Prepared;

static uint32 gid_counter = 0;

/* A name for a compute transaction, tied to the current (sub)transaction. */
char *
BpTwoPhaseGid(void)
{
	FullTransactionId xid = GetCurrentFullTransactionId();

	return psprintf(BP_GID_PREFIX UINT64_FORMAT "-%d-%u", U64FromFullTransactionId(xid),
					MyProcPid, ++gid_counter);
}

/* Which control transaction a gid names. */
bool
BpTwoPhaseParseGid(const char *gid, FullTransactionId *xid)
{
	unsigned long long v;

	if (strncmp(gid, BP_GID_PREFIX, strlen(BP_GID_PREFIX)) != 0 ||
		sscanf(gid + strlen(BP_GID_PREFIX), "%llu-", &v) != 1)
		return false;
	*xid = FullTransactionIdFromU64(v);
	return true;
}

/*
 * COMMIT or ROLLBACK PREPARED over the connection that prepared it.  Runs
 * at transaction end, where an ERROR is not allowed: a failure is a
 * WARNING, and the reconciler finishes what is left.
 */
static void
Finish(void *arg, bool commit)
{
	Prepared   *p = arg;
	char		sql[128];
	PGresult   *res;

	snprintf(sql, sizeof(sql), "%s PREPARED '%s'", commit ? "COMMIT" : "ROLLBACK", p->gid);
	res = PQexec(p->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		ereport(WARNING,
				(errmsg("could not %s compute transaction %s: %s",
						commit ? "commit" : "roll back", p->gid,
						pchomp(PQerrorMessage(p->conn))),
				 errhint("The branchpromote reconciler finishes it on its next pass.")));
	PQclear(res);
	PQfinish(p->conn);
	pfree(p);
}

/* conn has just run PREPARE TRANSACTION gid: finish it with this transaction. */
void
BpTwoPhaseAdopt(PGconn *conn, const char *gid)
{
	Prepared   *p = MemoryContextAllocZero(TopMemoryContext, sizeof(Prepared));

	BpUntrack(conn);
	p->conn = conn;
	strlcpy(p->gid, gid, sizeof(p->gid));
	BpAtXactEnd(Finish, p);
}

/*
 * A fork starts with whatever its source had prepared: transactions of
 * calls that had not committed at the fork's point.  They belong to the
 * source; on the fork they are rolled back before anyone uses it (conn: to
 * the fork's project database, as a superuser).  Returns how many.
 */
int
BpTwoPhaseDropInherited(PGconn *conn)
{
	PGresult   *res = BpExec(conn, "SELECT gid FROM pg_catalog.pg_prepared_xacts "
							 "WHERE gid LIKE '" BP_GID_PREFIX "%' AND database = current_database()",
							 0, NULL, bp_operation_timeout_ms);
	int			n = PQntuples(res);

	for (int i = 0; i < n; i++)
		BpExecCommand(conn, psprintf("ROLLBACK PREPARED %s",
									 quote_literal_cstr(PQgetvalue(res, i, 0))),
					  bp_operation_timeout_ms);
	PQclear(res);
	return n;
}
