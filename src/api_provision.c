/*
 * api_provision.c — asking the reconciler for computes, provisioning a new
 * one (closed until commit), bootstrapping a project, base snapshots.
 * Shared by the SQL-callable functions (apiutil.h).
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "apiutil.h"
#include "gate.h"
#include "guc.h"
#include "tenantconn.h"

/* Ask the reconciler; error if it could not. */
static BpReply
Ask(BpRequest *req, const char *mirror)
{
	BpReply		reply;
	dsm_segment *seg = NULL;

	if (mirror)
	{
		Size		len = strlen(mirror) + 1;

		seg = dsm_create(len, 0);
		memcpy(dsm_segment_address(seg), mirror, len);
		req->mirror = dsm_segment_handle(seg);
	}
	BpAsk(req, req->timeout_ms + 5000, &reply);	/* the worker's own bound fires first */
	if (seg)
		dsm_detach(seg);
	if (!reply.ok)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s failed",
						req->kind == BP_REQ_TEMPLATE ? "making the timeline template" :
						req->kind == BP_REQ_START ? "starting the compute" : "stopping the compute"),
				 errdetail_internal("%s", reply.error),
				 errhint("The server log and the compute's log have more; SELECT * FROM branchpromote.computes shows its state.")));
	return reply;
}

static BpRequest
Request(BpRequestKind kind, const BpComputeSpec *spec, bool committed, int timeout_ms)
{
	BpRequest	req;

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.committed = committed;
	req.timeout_ms = timeout_ms;
	if (spec)
		req.spec = *spec;
	return req;
}

/* Ask the reconciler to start or stop a compute; error if it could not. */
BpReply
AskWorker(BpRequestKind kind, const BpComputeSpec *spec, bool committed, int timeout_ms)
{
	BpRequest	req = Request(kind, spec, committed, timeout_ms);

	return Ask(&req, NULL);
}

/*
 * The same, and for a committed stop the schema check (JSON) the reconciler
 * mirrors in the transaction that records the new state: handed over in a
 * dynamic shared memory segment, so the caller's transaction writes nothing
 * (and a loop of suspends in one statement stays possible).  The segment
 * goes with the caller's resource owner, even if this errors.
 */
BpReply
AskWorkerMirroring(BpRequestKind kind, const BpComputeSpec *spec, bool committed,
				   int timeout_ms, const char *mirror)
{
	BpRequest	req = Request(kind, spec, committed, timeout_ms);

	return Ask(&req, mirror);
}

/*
 * Start a trial run of a new timeline that has no catalog row yet: a fork
 * started once to be checked, then stopped cleanly, before anything else
 * runs on it.  It runs with archive_mode = off, so its shutdown neither
 * switches WAL segments nor waits for the archiver; the caller puts what it
 * wrote into the timeline's archive afterwards (the storage driver's
 * archive_trial).
 */
BpReply
AskTrialStart(const BpComputeSpec *spec, int timeout_ms)
{
	BpRequest	req = Request(BP_REQ_START, spec, false, timeout_ms);

	req.trial = true;
	return Ask(&req, NULL);
}

/*
 * A new compute for env on timeline, started and recorded as running;
 * clients get in once the calling transaction commits, so none writes to
 * a timeline an abort would remove, and none before its base snapshot.
 * fresh: the timeline is new in this transaction (an abort removes it, so
 * its access files need no fsync); false for one kept (restore_branch).
 */
BpComputeRow
ProvisionCompute(ApiResult *r, int64 project_id, const char *env, int64 timeline_id, bool fresh)
{
	BpComputeRow c;
	BpReply		reply;
	double		prepare_ms;

	memset(&c, 0, sizeof(c));
	c.spec.timeline_id = timeline_id;
	BpCompute()->assign_endpoint(&c.spec);
	c.spec.compute_id = CatalogInsertCompute(project_id, env, timeline_id, c.spec.port, 0);
	c.id = c.spec.compute_id;
	/* closed to clients until this transaction commits (gate.c) */
	BpCompute()->set_client_access(&c.spec, false, fresh);
	BpOpenAtCommit(&c.spec);
	prepare_ms = MsSince(r->last);
	reply = AskWorker(BP_REQ_START, &c.spec, false, bp_compute_start_timeout_ms);
	c.pid = reply.pid;
	CatalogSetComputeState(c.id, "running", c.pid, NULL);
	/*
	 * prepare: a port, the row, closed to clients; hand-off: to the
	 * reconciler and back; spawn: the launch; recovery: from the launch to
	 * the compute's being ready; ready: from then to the reconciler's
	 * answer (readiness detection, the reply)
	 */
	StepWith(r, "start compute",
			 psprintf("\"phases\": {\"prepare\": %.3f, \"hand-off\": %.3f, \"spawn\": %.3f, \"recovery\": %.3f, \"ready\": %.3f}",
					  prepare_ms, Max(0.0, MsSince(r->last) - prepare_ms - reply.elapsed_ms),
					  reply.spawn_ms, Max(0.0, reply.elapsed_ms - reply.spawn_ms - reply.ready_ms),
					  reply.ready_ms));
	return c;
}

/* Make the project's application role and database on its new dev compute. */
void
BootstrapApplication(const BpComputeSpec *spec, const char *name, const char *password)
{
	BpComputeAddr addr;
	PGconn	   *conn;
	const char *ident = quote_identifier(name);

	char	   *verifier = ScramVerifier(password);

	BpCompute()->admin_address(spec, &addr);
	conn = BpConnect(&addr, bp_operation_timeout_ms);
	/* an ordinary role: no attribute that reaches beyond its own database */
	BpExecCommand(conn, psprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
								 "NOREPLICATION NOBYPASSRLS PASSWORD %s", ident,
								 quote_literal_cstr(verifier)), bp_operation_timeout_ms);
	BpExecCommand(conn, psprintf("CREATE DATABASE %s OWNER %s", ident, ident),
				  bp_operation_timeout_ms);
	/* the control plane's own database on the compute is not the tenant's to enter */
	BpExecCommand(conn, "REVOKE ALL ON DATABASE template1 FROM PUBLIC", bp_operation_timeout_ms);
	/*
	 * No template0 and no postgres: every fork clones, hands over and syncs
	 * each file, and each of them is ~300 of a new timeline's ~1,280
	 * (bench/promote's clone 54 -> 44 ms without template0).  The control
	 * plane's own sessions use template1 (pgconn.c); the tenant has no
	 * CREATEDB; an operator who needs either makes it again from template1
	 * (doc/computes.md).
	 */
	BpExecCommand(conn, "ALTER DATABASE template0 IS_TEMPLATE false", bp_operation_timeout_ms);
	BpExecCommand(conn, "DROP DATABASE template0", bp_operation_timeout_ms);
	BpExecCommand(conn, "DROP DATABASE postgres", bp_operation_timeout_ms);
	BpDisconnect(conn);
	conn = LedgerConnectReader(spec, name, password);
	EnsureLedger(conn);
	{
		BpSchemaState empty;	/* the baseline: what no migration made yet */

		SchemaRead(conn, &empty);
		SchemaRecord(conn, &empty, NULL, 0);
	}
	BpDisconnect(conn);
}

char *
NewPassword(void)
{
	uint8		raw[16];
	char	   *hex = palloc(sizeof(raw) * 2 + 1);

	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random password")));
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	return hex;
}

/*
 * A new timeline's base snapshot, before the call that made it returns:
 * its history is reachable from its fork point on at once (history.h).
 */
void
BaseSnapshot(ApiResult *r, const BpComputeSpec *spec)
{
	int64		snapshot_id = CatalogNextSnapshotId();
	BpSnapshotResult snap;

	BpWakeWorkerAtCommit();		/* removes the snapshot if this transaction aborts */
	BpStorage()->snapshot(spec->timeline_id, BpServerOn(spec, false), snapshot_id, &snap);
	CatalogInsertSnapshot(snapshot_id, spec->timeline_id, snap.start_lsn, snap.lsn, "base");
	StepPhases(r, "base snapshot", snap.phases);
}

/*
 * The base snapshot fork_at_head took of a new timeline before its first
 * start (the same guarantee as BaseSnapshot's, at one clone's cost).
 */
void
InsertBaseSnapshot(ApiResult *r, int64 timeline_id, int64 snapshot_id, const BpSnapshotResult *snap)
{
	CatalogInsertSnapshot(snapshot_id, timeline_id, snap->start_lsn, snap->lsn, "base");
	Step(r, "base snapshot");	/* recorded; its clone is the fork step's phase of that name */
}
