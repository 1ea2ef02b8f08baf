/*
 * api_compute.c — a compute a call works on: settled, woken if it must run,
 * one migration run per transaction, its ledger and inherited prepared
 * transactions.  Shared by the SQL-callable functions (apiutil.h).
 */
#include "postgres.h"

#include "utils/memutils.h"

#include "apiutil.h"
#include "guc.h"
#include "process.h"
#include "tenantconn.h"
#include "twophase.h"
#include "xactend.h"

/*
 * Make a compute usable by a call, whatever state it is in: wait out a
 * start or a stop in progress (within compute_start_timeout), then, if it
 * is down, wake it when the call needs a server (need_server) or when its
 * files are not enough (not shut down cleanly: recovery has to run).  A
 * wake goes through the reconciler, like the proxy's; the call records
 * the compute as running, and it is suspended again by the idle rule,
 * counted from the call's end (PutWoke).  Returns whether it runs.
 */
bool
UseCompute(ApiResult *r, const BpProject *p, BpComputeRow *c, const char *env, bool need_server)
{
	return UseComputeLocked(r, p, c, env, need_server, true);
}

/*
 * locked: the caller holds the project (a mutating call); else (a read
 * such as plan_promotion) the reconciler takes it for the wake and records
 * the state itself, so no call that holds it sees its compute start.
 */
bool
UseComputeLocked(ApiResult *r, const BpProject *p, BpComputeRow *c, const char *env,
				 bool need_server, bool locked)
{
	TimestampTz deadline = BpDeadline(bp_compute_start_timeout_ms);
	BpComputeStatus st;
	BpReply		reply;
	instr_time	start;
	int64	   *id;
	int			pid;

	while ((st = BpCompute()->observe(&c->spec, &pid)) == BP_COMPUTE_STARTING)
	{
		if (BpPast(deadline))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the %s compute of project \"%s\" was still starting or stopping after %d ms",
							env, p->name, bp_compute_start_timeout_ms),
					 errhint("SELECT * FROM branchpromote.computes shows its state and last error; try again once it settles.")));
		BpNap(10);
	}
	if (st == BP_COMPUTE_READY)
		return true;
	if (!need_server && !XLogRecPtrIsInvalid(BpStorage()->stopped_head(c->spec.timeline_id)))
		return false;
	INSTR_TIME_SET_CURRENT(start);
	/* if the call aborts, the reconciler adopts the server and idles it out */
	BpWakeWorkerAtCommit();
	reply = AskWorker(BP_REQ_START, &c->spec, !locked, bp_compute_start_timeout_ms);
	c->pid = reply.pid;
	if (locked)
		CatalogSetComputeState(c->id, "running", reply.pid, NULL);
	appendStringInfo(&r->woke, "%s\"%s\": %.3f", r->woke.len > 0 ? ", " : "", env, MsSince(start));
	id = palloc(sizeof(int64));
	*id = c->id;
	r->woken = lappend(r->woken, id);
	Step(r, psprintf("wake %s", env));
	return true;
}

/* Computes this transaction has migrations prepared on (int64 ids, TopMemoryContext). */
static List *prepared_on = NIL;

static void
ForgetPrepared(void *arg, bool commit)
{
	list_free_deep(prepared_on);
	prepared_on = NIL;
}

/* A migration run prepared a transaction on this compute; it ends with ours. */
void
NotePrepared(int64 compute_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	int64	   *id = palloc(sizeof(int64));

	*id = compute_id;
	if (prepared_on == NIL)
		BpAtXactEnd(ForgetPrepared, NULL);
	prepared_on = lappend(prepared_on, id);
	MemoryContextSwitchTo(old);
}

/*
 * A second migration run on a compute in one caller transaction would wait
 * on the first's prepared transaction (its ledger lock and its locks hold
 * until this transaction ends): refuse it at once.
 */
void
RefuseSecondRun(const BpProject *p, const BpComputeRow *c, const char *env)
{
	ListCell   *lc;

	foreach(lc, prepared_on)
		if (*(int64 *) lfirst(lc) == c->id)
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("this transaction already ran migrations on the %s compute of project \"%s\"",
							env, p->name),
					 errdetail("They are prepared on the compute and commit with this transaction; a second run would wait on their locks."),
					 errhint("Commit first, then call again in a new transaction.")));
}

/* Read one environment's ledger from its running compute. */
void
ReadLedger(const BpProject *p, const BpComputeRow *c, BpLedger *out)
{
	PGconn	   *conn;

	conn = LedgerConnectReader(&c->spec, p->name, p->password);
	LedgerRead(conn, out);
	BpDisconnect(conn);
}

/*
 * Roll back, on a fork just started, the compute transactions its source
 * had prepared (they belong to calls that had not committed at the fork's
 * point; the reconciler would otherwise finish them there as they end on
 * the source).  As the project's role, which prepared them.  With ledger,
 * also read the fork's ledger into it.
 */
void
DropInheritedPrepared(const BpComputeSpec *spec, const char *project, const char *password,
					  BpLedger *ledger, BpSchemaCheck *schema)
{
	PGconn	   *conn;

	conn = LedgerConnectReader(spec, project, password);
	(void) BpTwoPhaseDropInherited(conn);
	if (ledger)					/* and its ledger, in the same session */
		LedgerRead(conn, ledger);
	if (schema)					/* and its schema check */
		SchemaCheck(conn, schema, true);
	BpDisconnect(conn);
}
