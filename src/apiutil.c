/*
 * apiutil.c — what every SQL-callable function shares: the jsonb result
 * and step journal, argument checks, access checks, and asking the
 * reconciler for computes.
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "apiutil.h"
#include "gate.h"
#include "journal.h"
#include "guc.h"
#include "names.h"
#include "pgconn.h"
#include "process.h"
#include "tenantconn.h"
#include "twophase.h"
#include "xactend.h"



void
ResultInit(ApiResult *r)
{
	initStringInfo(&r->json);
	initStringInfo(&r->steps);
	appendStringInfoChar(&r->json, '{');
	appendStringInfoChar(&r->steps, '[');
	initStringInfo(&r->woke);
	r->woken = NIL;
	INSTR_TIME_SET_CURRENT(r->start);
	r->last = r->start;
	r->started_at = GetCurrentTimestamp();
}

/*
 * A mutating call begins: the result, and its journal on disk before any
 * effect (see journal.c).
 */
void
OperationBegin(ApiResult *r, const char *kind, const char *project)
{
	ResultInit(r);
	JournalBegin(kind, project, CallerName(), r->started_at);
}

double
MsSince(instr_time t)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, t);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * Fault injection (tests only): branchpromote.crash_at names a step; the
 * backend kills itself with SIGKILL right after it ("postmaster:<step>":
 * the control postmaster first), as a crash between two effects would.
 */
static void
CrashPoint(const char *step)
{
	const char *at = bp_crash_at;
	bool		postmaster = false;
	bool		worker = false;

	if (at == NULL || at[0] == '\0')
		return;
	if (strncmp(at, "postmaster:", 11) == 0)
	{
		postmaster = true;
		at += 11;
	}
	else if (strncmp(at, "worker:", 7) == 0)
	{
		worker = true;
		at += 7;
	}
	if (strcmp(at, step) != 0)
		return;
	ereport(LOG,
			(errmsg("branchpromote.crash_at: killing %s after step \"%s\"",
					postmaster ? "the postmaster and this backend" :
					worker ? "the reconciler (the postmaster then ends every backend)" :
					"this backend", step)));
	if (postmaster)
		kill(PostmasterPid, SIGKILL);
	if (worker && BpWorkerPid() > 0)
	{
		/* a child killed: the postmaster ends us too; never go on to commit */
		kill(BpWorkerPid(), SIGKILL);
		for (int i = 0; i < 1000; i++)
			pg_usleep(10000L);
	}
	kill(MyProcPid, SIGKILL);
}

/*
 * Journal a finished step with its duration; extra: more JSON members of
 * its object ("key": value, ...), or NULL.
 */
void
StepWith(ApiResult *r, const char *name, const char *extra)
{
	double		ms = MsSince(r->last);

	JournalStep(name, ms, extra);	/* durable before the next effect */
	CrashPoint(name);
	if (r->steps.len > 1)
		appendStringInfoString(&r->steps, ", ");
	appendStringInfo(&r->steps, "{\"step\": \"%s\", \"ms\": %.3f%s%s}", name, ms,
					 extra ? ", " : "", extra ? extra : "");
	INSTR_TIME_SET_CURRENT(r->last);
}

/* A step with the phases a driver measured ("phase": ms, ...; "": none). */
void
StepPhases(ApiResult *r, const char *name, const char *phases)
{
	StepWith(r, name, phases[0] ? psprintf("\"phases\": {%s}", phases) : NULL);
}

void
Step(ApiResult *r, const char *name)
{
	StepWith(r, name, NULL);
}

void
Key(ApiResult *r, const char *key)
{
	if (r->json.len > 1)
		appendStringInfoString(&r->json, ", ");
	escape_json(&r->json, key);
	appendStringInfoString(&r->json, ": ");
}

void
PutStr(ApiResult *r, const char *key, const char *value)
{
	Key(r, key);
	if (value)
		escape_json(&r->json, value);
	else
		appendStringInfoString(&r->json, "null");
}

void
PutInt(ApiResult *r, const char *key, int64 value)
{
	Key(r, key);
	appendStringInfo(&r->json, INT64_FORMAT, value);
}

void
PutRaw(ApiResult *r, const char *key, const char *json)
{
	Key(r, key);
	appendStringInfoString(&r->json, json);
}

void
PutLsn(ApiResult *r, const char *key, XLogRecPtr lsn)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%X/%X", LSN_FORMAT_ARGS(lsn));
	PutStr(r, key, buf);
}

Datum
ResultJsonb(ApiResult *r)
{
	Key(r, "elapsed_ms");
	appendStringInfo(&r->json, "%.3f}", MsSince(r->start));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(r->json.data));
}

char *
StepsJson(ApiResult *r)
{
	appendStringInfoChar(&r->steps, ']');
	return r->steps.data;
}

/* A required text argument; NULL is an error, not a NULL result. */
char *
ArgText(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("Pass a value for %s.", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(n));
}

void
RequireName(const char *what, const char *name)
{
	if (!BpNameIsValid(name))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("invalid %s name \"%s\"", what, name),
				 errhint("Names start with a lowercase letter followed by at most 62 lowercase letters, digits, '_' or '-'.")));
}

/* A new project's name: valid, and not one every compute already has. */
void
RequireNewProjectName(const char *name)
{
	RequireName("project", name);
	if (BpNameIsReserved(name) || strcmp(name, BpOsUserName()) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("project name \"%s\" is reserved", name),
				 errhint("A project's name is also its role and database on every compute; choose a name that is not postgres, template0/1, public, none, branchpromote, the OS user's name or pg_*.")));
}

/* Is the caller a superuser, or has it the privileges of role (if it exists)? */
bool
CallerIsSuperuserOr(const char *role)
{
	Oid			r = get_role_oid(role, true);

	return superuser() || (OidIsValid(r) && has_privs_of_role(GetUserId(), r));
}

/* The caller may create projects: superuser or a deployer. */
void
RequireDeployer(void)
{
	if (CallerIsSuperuserOr("branchpromote_deployer"))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to manage branchpromote projects"),
			 errhint("Ask an administrator to GRANT branchpromote_deployer to your role.")));
}

/*
 * The caller may act on this project: its owner (or a member of the owner
 * role), or an admin.  Runs inside the catalog session, where the current
 * user is the extension owner, so it asks about the saved caller.
 */
void
RequireProjectAccess(const BpProject *p)
{
	Oid			admin = get_role_oid("branchpromote_admin", true);
	Oid			me = CatalogCaller();
	char	   *owner;

	if (superuser_arg(me) || has_privs_of_role(me, p->owner) ||
		(OidIsValid(admin) && has_privs_of_role(me, admin)))
		return;
	owner = GetUserNameFromId(p->owner, true);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for project \"%s\"", p->name),
			 errhint("Ask its owner to GRANT role \"%s\" to you, or ask a branchpromote_admin.",
					 owner ? owner : "(dropped role)")));
}

/*
 * May the caller see a project of this owner (the views' rule, _can_see):
 * a superuser, a viewer, an admin, or a member of the owner role.
 */
bool
CanSeeProject(Oid owner)
{
	Oid			me = CatalogCaller();
	Oid			viewer = get_role_oid("branchpromote_viewer", true);
	Oid			admin = get_role_oid("branchpromote_admin", true);

	return superuser_arg(me) || has_privs_of_role(me, owner) ||
		(OidIsValid(viewer) && has_privs_of_role(me, viewer)) ||
		(OidIsValid(admin) && has_privs_of_role(me, admin));
}

/* Load a project the caller may act on (catalog session open). */
void
LoadProject(const char *name, bool for_update, BpProject *p)
{
	/*
	 * Check access before taking the lock, so a caller without rights is
	 * refused at once instead of queueing behind the project's operations;
	 * then lock and read again (it may have been dropped meanwhile).
	 */
	RequireName("project", name);
	for (int pass = 0; pass < (for_update ? 2 : 1); pass++)
	{
		if (!CatalogFindProject(name, pass == 1, p))
		{
			char	   *kept_until;

			if (CatalogFindDroppedProject(name, p, &kept_until) && CanSeeProject(p->owner))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_OBJECT),
						 errmsg("project \"%s\" was dropped", name),
						 errdetail("It is kept until %s.", kept_until),
						 errhint("SELECT branchpromote.undrop_project('%s') brings it back.", name)));
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" does not exist", name),
					 errhint("SELECT project FROM branchpromote.projects lists the projects you can see.")));
		}
		RequireProjectAccess(p);
	}
}

/* A project's compute for env, with a precise error when there is none. */
void
LoadCompute(const BpProject *p, const char *env, BpComputeRow *c)
{
	RequireName("environment", env);
	if (!CatalogGetCompute(p->id, env, c))
	{
		if (strcmp(env, "prod") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" has no prod environment yet", p->name),
					 errhint("Prod appears at the first promotion: SELECT branchpromote.promote_branch('%s');", p->name)));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no environment \"%s\"", p->name, env),
				 errhint("SELECT env FROM branchpromote.environments WHERE project = '%s' lists them.", p->name)));
	}
}

/* Ask the reconciler to start or stop a compute; error if it could not. */
BpReply
AskWorker(BpRequestKind kind, const BpComputeSpec *spec, bool committed, int timeout_ms)
{
	return AskWorkerMirroring(kind, spec, committed, timeout_ms, NULL);
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
	BpRequest	req;
	BpReply		reply;
	dsm_segment *seg = NULL;

	memset(&req, 0, sizeof(req));
	req.kind = kind;
	req.committed = committed;
	req.timeout_ms = timeout_ms;
	if (spec)
		req.spec = *spec;
	if (mirror)
	{
		Size		len = strlen(mirror) + 1;

		seg = dsm_create(len, 0);
		memcpy(dsm_segment_address(seg), mirror, len);
		req.mirror = dsm_segment_handle(seg);
	}
	BpAsk(&req, timeout_ms + 5000, &reply);	/* the worker's own bound fires first */
	if (seg)
		dsm_detach(seg);
	if (!reply.ok)
		ereport(ERROR,
				(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
				 errmsg("%s failed",
						kind == BP_REQ_TEMPLATE ? "making the timeline template" :
						kind == BP_REQ_START ? "starting the compute" : "stopping the compute"),
				 errdetail_internal("%s", reply.error),
				 errhint("The server log and the compute's log have more; SELECT * FROM branchpromote.computes shows its state.")));
	return reply;
}

/* A port no compute row uses and nothing on this machine listens on. */
int
FreePort(void)
{
	ListCell   *lc;

	foreach(lc, CatalogFreePorts(256))
		if (BpCompute()->port_available(lfirst_int(lc)) && CatalogClaimPort(lfirst_int(lc)))
			return lfirst_int(lc);
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("no free compute port from %d (%d ports)", bp_compute_port_base,
					bp_compute_port_count),
			 errhint("Raise branchpromote.compute_port_count, move branchpromote.compute_port_base, or drop unused projects.")));
	return 0;					/* keep the compiler quiet */
}

/*
 * A new compute for env on timeline, started and recorded as running;
 * clients get in once the calling transaction commits, so none writes to
 * a timeline an abort would remove, and none before its base snapshot.
 */
BpComputeRow
ProvisionCompute(ApiResult *r, int64 project_id, const char *env, int64 timeline_id)
{
	BpComputeRow c;
	BpReply		reply;
	double		prepare_ms;

	memset(&c, 0, sizeof(c));
	c.spec.port = FreePort();
	c.spec.timeline_id = timeline_id;
	c.spec.compute_id = CatalogInsertCompute(project_id, env, timeline_id, c.spec.port, 0);
	c.id = c.spec.compute_id;
	/* closed to clients until this transaction commits (gate.c) */
	BpCompute()->set_client_access(&c.spec, false);
	BpOpenAtCommit(&c.spec);
	prepare_ms = MsSince(r->last);
	reply = AskWorker(BP_REQ_START, &c.spec, false, bp_compute_start_timeout_ms);
	c.pid = reply.pid;
	CatalogSetComputeState(c.id, "running", c.pid, NULL);
	/*
	 * prepare: a port, the row, closed to clients; hand-off: to the
	 * reconciler and back; recovery: from the launch to ready
	 */
	StepWith(r, "start compute",
			 psprintf("\"phases\": {\"prepare\": %.3f, \"hand-off\": %.3f, \"spawn\": %.3f, \"recovery\": %.3f}",
					  prepare_ms, Max(0.0, MsSince(r->last) - prepare_ms - reply.elapsed_ms),
					  reply.spawn_ms, Max(0.0, reply.elapsed_ms - reply.spawn_ms)));
	return c;
}

/* Make the project's application role and database on its new dev compute. */
void
BootstrapApplication(const BpComputeSpec *spec, const char *name, const char *password)
{
	BpComputeAddr addr;
	PGconn	   *conn;
	const char *ident = quote_identifier(name);

	char	   *verifier;

	BpCompute()->admin_address(spec, &addr);
	conn = BpConnect(&addr, bp_operation_timeout_ms);
	/* only a SCRAM verifier goes over the wire (and into any statement log) */
	verifier = PQencryptPasswordConn(conn, password, name, "scram-sha-256");
	if (verifier == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not make a SCRAM verifier for role \"%s\"", name),
				 errdetail_internal("%s", pchomp(PQerrorMessage(conn))),
				 errhint("Check the server log for out-of-memory errors.")));
	/* an ordinary role: no attribute that reaches beyond its own database */
	BpExecCommand(conn, psprintf("CREATE ROLE %s LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
								 "NOREPLICATION NOBYPASSRLS PASSWORD %s", ident,
								 quote_literal_cstr(verifier)), bp_operation_timeout_ms);
	PQfreemem(verifier);
	BpExecCommand(conn, psprintf("CREATE DATABASE %s OWNER %s", ident, ident),
				  bp_operation_timeout_ms);
	/* the control plane's own database on the compute is not the tenant's to enter */
	BpExecCommand(conn, "REVOKE ALL ON DATABASE postgres FROM PUBLIC", bp_operation_timeout_ms);
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

char *
CallerName(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

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

	while ((st = BpCompute()->status(&c->spec, &pid)) == BP_COMPUTE_STARTING)
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

/*
 * The result's "woke": what the call woke and what each cost (ms).  The
 * idle time of each counts from here, the call's end.
 */
void
PutWoke(ApiResult *r)
{
	ListCell   *lc;

	foreach(lc, r->woken)
		CatalogTouchCompute(*(int64 *) lfirst(lc));	/* (a read call's: the reconciler's row) */
	PutRaw(r, "woke", psprintf("{%s}", r->woke.data));
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
	BpStorage()->snapshot(spec->timeline_id, spec, snapshot_id, &snap);
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
 * An interval argument in milliseconds.  Months count 30 days, as
 * interval arithmetic does; beyond 100 years either way, as a whole, is
 * refused, and so is a positive one below a millisecond (it would round to
 * 0, which means "never" where a timeout takes it).
 */
int64
IntervalMs(const Interval *iv, const char *what, const char *hint)
{
	const int64 limit_us = INT64CONST(100) * 366 * USECS_PER_DAY;
	int64		us;

	/* each field bounded first, so the sum cannot overflow; then the whole */
	if (iv->month > 12 * 100 || iv->month < -12 * 100 || iv->day > 36600 || iv->day < -36600 ||
		iv->time > limit_us || iv->time < -limit_us ||
		(us = iv->time + ((int64) iv->day + (int64) iv->month * DAYS_PER_MONTH) * USECS_PER_DAY) > limit_us ||
		us < -limit_us)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at most 100 years", what),
				 errhint("%s", hint)));
	if (us > 0 && us < 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be at least 1 millisecond, or 0", what),
				 errhint("%s", hint)));
	return us / 1000;
}

/* An optional release argument: NULL, or 1 to 200 bytes without control characters. */
char *
OptText(FunctionCallInfo fcinfo, int n)
{
	char	   *s;

	if (PG_ARGISNULL(n))
		return NULL;
	s = text_to_cstring(PG_GETARG_TEXT_PP(n));
	for (const char *c = s; *c; c++)
		if ((unsigned char) *c < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("release must not contain control characters"),
					 errhint("Pass the released commit or tag, e.g. a git SHA, or NULL.")));
	if (s[0] == '\0' || strlen(s) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("release must be 1 to 200 bytes long"),
				 errhint("Pass the released commit or tag, e.g. a git SHA, or NULL.")));
	return s;
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
