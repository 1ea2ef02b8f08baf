/*
 * api.c — the SQL-callable functions.
 *
 * Each one: validate input, check the caller's rights, lock the project
 * row, plan (pure), execute through the drivers, record in the catalog,
 * return jsonb.  Effects on files and processes cannot roll back, so every
 * new timeline directory names its creating transaction and the reconciler
 * removes it if that transaction aborts (see storage_local.c, worker.c).
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_authid.h"
#include "common/jsonapi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"
#include "utils/varlena.h"

#include "api_schema.h"
#include "api_recovery.h"
#include "apiutil.h"
#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "ledger.h"
#include "manifest.h"
#include "migcheck.h"
#include "names.h"
#include "pgconn.h"
#include "planner.h"
#include "requests.h"
#include "tenantconn.h"
#include "twophase.h"

/* initdb of the template, once per data root, may take a while */
#define TEMPLATE_TIMEOUT_MS (10 * 60 * 1000)

PG_FUNCTION_INFO_V1(branchpromote_create_project);
PG_FUNCTION_INFO_V1(branchpromote_apply_migrations);
PG_FUNCTION_INFO_V1(branchpromote_plan_promotion);
PG_FUNCTION_INFO_V1(branchpromote_promote_branch);
PG_FUNCTION_INFO_V1(branchpromote_connection_uri);
PG_FUNCTION_INFO_V1(branchpromote_drop_project);
PG_FUNCTION_INFO_V1(branchpromote_suspend_compute);
PG_FUNCTION_INFO_V1(branchpromote_wake_compute);
PG_FUNCTION_INFO_V1(branchpromote_stored_timeline_max);
PG_FUNCTION_INFO_V1(branchpromote_compute_manifests);
PG_FUNCTION_INFO_V1(branchpromote_check_compute_settings);
PG_FUNCTION_INFO_V1(branchpromote_set_suspend_timeout);

/* -------------------------------------------------------------- API */

/* create_project(project) → jsonb: a dev timeline and its running compute. */
Datum
branchpromote_create_project(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	Oid			caller = GetUserId();
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	existing;
	char	   *kept_until;
	char	   *password;
	int64		project_id;
	int64		timeline_id;
	const char *method;
	BpComputeRow c;

	OperationBegin(&r, "create_project", name);
	RequireDeployer();
	RequireNewProjectName(name);
	CatalogBegin();
	CatalogLockProjectName(name);
	if (CatalogFindProject(name, false, &existing))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("project \"%s\" already exists", name),
				 errhint("Choose another name, or drop the existing one with branchpromote.drop_project('%s', '%s').", name, name)));
	if (CatalogFindDroppedProject(name, &existing, &kept_until))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("project \"%s\" was dropped and is still kept", name),
				 errdetail("It is kept until %s.", kept_until),
				 errhint("SELECT branchpromote.undrop_project('%s') brings it back; the name is free once the reconciler removes it (branchpromote.recovery_window).", name)));
	if (!BpStorage()->template_ready())
		(void) AskWorker(BP_REQ_TEMPLATE, NULL, false, TEMPLATE_TIMEOUT_MS);
	Step(&r, "template");

	password = NewPassword();
	project_id = CatalogInsertProject(name, caller, password);
	timeline_id = CatalogNextTimelineId();
	BpWakeWorkerAtCommit();
	method = BpStorage()->create_root(timeline_id);
	Step(&r, "create timeline");
	CatalogInsertTimeline(timeline_id, project_id, "dev", 0, InvalidXLogRecPtr,
						  method);
	CatalogSetEnvironment(project_id, "dev", timeline_id, NULL);
	c = ProvisionCompute(&r, project_id, "dev", timeline_id, true);
	BootstrapApplication(&c.spec, name, password);
	Step(&r, "bootstrap application role and database");
	BaseSnapshot(&r, &c.spec);
	CatalogRecordOperation(name, "create_project", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "env", "dev");
	PutInt(&r, "dev_timeline", timeline_id);
	PutStr(&r, "clone_method", method);
	PutInt(&r, "port", c.spec.port);
	PutStr(&r, "compute", "running");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* Dev's and prod's ledgers and what a re-deploy would apply. */
typedef struct Ledgers
{
	BpComputeRow dev;
	BpComputeRow prod;
	BpLedger	dev_ledger;
	BpLedger	prod_ledger;
	BpLedgerPlan plan;
	bool		live;			/* the schema checks below were read */
	BpSchemaCheck dev_schema;
	BpSchemaCheck prod_schema;
} Ledgers;

/*
 * What the planner needs.  With live, both ledgers are read from the
 * computes (promote_branch acts on them), woken if they are suspended;
 * without, from the catalog's mirrors when both timelines have one
 * (plan_promotion: fast, nothing woken), else live too.
 */
static BpProjectState
ProjectState(ApiResult *r, const BpProject *p, int64 *prod_tl, char **prod_release, Ledgers *lg,
			 bool live)
{
	int64		dev_tl = 0;

	BpProjectState s;

	*prod_tl = 0;
	*prod_release = NULL;
	memset(lg, 0, sizeof(Ledgers));
	s.has_prod = CatalogGetEnvironment(p->id, "prod", prod_tl, prod_release);
	s.prod_release = *prod_release;
	s.npending = 0;
	s.drift = false;
	s.dev_schema_drift = false;
	s.prod_schema_drift = false;
	if (s.has_prod)
	{
		if (live || !CatalogGetEnvironment(p->id, "dev", &dev_tl, NULL) ||
			!CatalogLedgerMirror(dev_tl, &lg->dev_ledger) ||
			!CatalogLedgerMirror(*prod_tl, &lg->prod_ledger))
		{
			LoadCompute(p, "dev", &lg->dev);
			LoadCompute(p, "prod", &lg->prod);
			/* live: promote_branch, which holds the project; else plan_promotion, which does not */
			(void) UseComputeLocked(r, p, &lg->dev, "dev", true, live);
			(void) UseComputeLocked(r, p, &lg->prod, "prod", true, live);
			ReadLedgerAndSchema(p, &lg->dev, &lg->dev_ledger, &lg->dev_schema);
			ReadLedgerAndSchema(p, &lg->prod, &lg->prod_ledger, &lg->prod_schema);
			lg->live = true;
			s.dev_schema_drift = lg->dev_schema.drift != NULL;
			s.prod_schema_drift = lg->prod_schema.drift != NULL;
		}
		lg->plan = BpPlanLedger(lg->prod_ledger.m, lg->prod_ledger.n,
								lg->dev_ledger.m, lg->dev_ledger.n, true,
								palloc(sizeof(int) * Max(1, lg->dev_ledger.n)));
		s.drift = lg->plan.verdict != BP_LEDGER_OK;
		s.npending = s.drift ? 0 : lg->plan.npending;
	}
	return s;
}

/* A JSON array of the pending versions. */
static char *
PendingJson(const Ledgers *lg)
{
	StringInfoData j;

	initStringInfo(&j);
	appendStringInfoChar(&j, '[');
	for (int i = 0; i < lg->plan.npending && lg->plan.verdict == BP_LEDGER_OK; i++)
	{
		if (i > 0)
			appendStringInfoString(&j, ", ");
		escape_json(&j, lg->dev_ledger.m[lg->plan.pending[i]].version);
	}
	appendStringInfoChar(&j, ']');
	return j.data;
}

/* JSON for drift, or null. */
static char *
DriftJson(const Ledgers *lg)
{
	StringInfoData j;
	const char *v;

	if (lg->plan.verdict == BP_LEDGER_OK)
		return "null";
	v = lg->plan.verdict == BP_LEDGER_MISSING ?
		lg->prod_ledger.m[lg->plan.culprit].version :
		lg->dev_ledger.m[lg->plan.culprit].version;
	initStringInfo(&j);
	appendStringInfoString(&j, "{\"kind\": ");
	escape_json(&j, BpLedgerVerdictName(lg->plan.verdict));
	appendStringInfoString(&j, ", \"version\": ");
	escape_json(&j, v);
	appendStringInfoChar(&j, '}');
	return j.data;
}

/*
 * plan_promotion's view of an environment's schema check (JSON): live if
 * its compute runs, else the check mirrored when it last ran (the
 * reconciler takes one just before it suspends a compute, whose schema
 * cannot change while it is down), else woken and read.  *drift: the
 * differences, or NULL.
 */
static char *
PlanSchema(ApiResult *r, const BpProject *p, const char *env, char **drift)
{
	BpComputeRow c;
	BpSchemaCheck check;
	char	   *json;

	LoadCompute(p, env, &c);
	if (strcmp(c.actual_state, "running") != 0 &&
		CatalogSchemaMirror(c.spec.timeline_id, &json, drift))
		return json;
	(void) UseComputeLocked(r, p, &c, env, true, false);
	ReadLedgerAndSchema(p, &c, NULL, &check);
	*drift = check.drift ? BpSchemaDiffJson(check.drift) : NULL;
	return SchemaCheckJson(&check);
}

/* plan_promotion(project, release) → jsonb: what promote_branch would do. */
Datum
branchpromote_plan_promotion(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *release = OptText(fcinfo, 1);
	ApiResult	r;
	BpProject	p;
	BpProjectState s;
	BpPlan		plan;
	int64		prod_tl;
	char	   *prod_release;
	int64		dev_tl = 0;
	Ledgers		lg;
	char	   *dev_schema = NULL;
	char	   *prod_schema = NULL;
	char	   *dev_drift = NULL;
	char	   *prod_drift = NULL;

	ResultInit(&r);
	CatalogBegin();
	LoadProject(name, false, &p);
	s = ProjectState(&r, &p, &prod_tl, &prod_release, &lg, false);
	if (!CatalogGetEnvironment(p.id, "dev", &dev_tl, NULL))
		elog(ERROR, "project \"%s\" has no dev environment", name);
	if (s.has_prod)
	{
		dev_schema = PlanSchema(&r, &p, "dev", &dev_drift);
		prod_schema = PlanSchema(&r, &p, "prod", &prod_drift);
		s.dev_schema_drift = dev_drift != NULL;
		s.prod_schema_drift = prod_drift != NULL;
	}
	PutWoke(&r);
	plan = BpPlanPromotion(&s, release);

	PutStr(&r, "action", BpActionName(plan.action));
	PutStr(&r, "project", name);
	PutStr(&r, "release", release);
	PutStr(&r, "summary", plan.summary);
	PutInt(&r, "dev_timeline", dev_tl);
	if (s.has_prod)
	{
		PutInt(&r, "prod_timeline", prod_tl);
		PutStr(&r, "prod_release", prod_release);
		PutRaw(&r, "pending", PendingJson(&lg));
		/* the ledger's drift first; then prod's schema, then dev's */
		PutRaw(&r, "drift", lg.plan.verdict != BP_LEDGER_OK ? DriftJson(&lg) :
			   prod_drift ? SchemaDriftJson("prod", prod_drift) :
			   dev_drift ? SchemaDriftJson("dev", dev_drift) : "null");
		PutRaw(&r, "schema", psprintf("{\"dev\": %s, \"prod\": %s}", dev_schema, prod_schema));
	}
	else
		PutRaw(&r, "prod_timeline", "null");
	CatalogEnd();		/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * The plan step's note: what the promotion is, so a promotion whose backend
 * exits (FATAL, pg_terminate_backend) is still recorded as a failed deploy
 * (the reconciler reads it from the journal).
 */
static char *
PlanNote(const char *action, const char *release)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "\"action\": ");
	escape_json(&s, action);
	appendStringInfoString(&s, ", \"release\": ");
	if (release)
		escape_json(&s, release);
	else
		appendStringInfoString(&s, "null");
	return s.data;
}

/* errcontext: the failure happened on the rehearsal fork. */
static void
RehearsalContext(void *arg)
{
	errcontext("rehearsal on a throwaway fork of prod (timeline " INT64_FORMAT "); prod was not touched",
			   *(int64 *) arg);
}

/*
 * Verified deploy: fork prod from its pre-deploy snapshot into a throwaway
 * timeline (no catalog row: the reconciler removes it after this
 * transaction), start a compute on it, apply the pending migrations there,
 * stop it.  Raises the
 * migration's error if the rehearsal fails, before prod is touched.
 */
static char *
Rehearse(ApiResult *r, const BpProject *p, int64 prod_tl, int64 snapshot_id, const Ledgers *lg,
		 BpSchemaState *result)
{
	BpForkResult fork;
	BpComputeSpec spec;
	PGconn	   *conn;
	BpApplied	applied;
	BpLedger	after;
	ErrorContextCallback cb;
	instr_time	start;
	PhaseClock	pc;

	INSTR_TIME_SET_CURRENT(start);
	PhaseBegin(&pc);
	spec.timeline_id = CatalogNextTimelineId();
	BpWakeWorkerAtCommit();		/* the fork is removed once we end, either way */
	BpStorage()->fork_at_snapshot(prod_tl, snapshot_id, InvalidXLogRecPtr, spec.timeline_id, &fork,
								  NULL, NULL);
	Phase(&pc, "fork");
	spec.compute_id = CatalogNextComputeId();
	BpCompute()->assign_endpoint(&spec);
	(void) AskWorker(BP_REQ_START, &spec, false, bp_compute_start_timeout_ms);
	Phase(&pc, "start");
	cb.callback = RehearsalContext;
	cb.arg = &spec.timeline_id;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	conn = LedgerConnect(&spec, p->name, p->password);
	LedgerApply(&(BpApplyRequest) {.conn = conn, .env = "the rehearsal fork",
								   .wanted = lg->dev_ledger.m, .nwanted = lg->dev_ledger.n,
								   .from_dev = true, .end = BP_APPLY_ROLLBACK},
				&applied, &after);
	BpDisconnect(conn);
	error_context_stack = cb.previous;
	*result = applied.result;
	Phase(&pc, "migrations");
	(void) AskWorker(BP_REQ_STOP, &spec, false, bp_compute_start_timeout_ms);
	Phase(&pc, "stop");
	StepPhases(r, "rehearse on a fork of prod", pc.buf.data);
	return psprintf("{\"passed\": true, \"ms\": %.3f, \"timeline\": " INT64_FORMAT
					", \"clone_method\": \"%s\", \"migrations\": %d, \"attempts\": %s, "
					"\"schema\": \"%s\", \"schema_matches_dev\": %s}",
					MsSince(start), spec.timeline_id, fork.method, applied.n,
					applied.attempts, result->fingerprint,
					strcmp(result->fingerprint, lg->dev_schema.actual.fingerprint) == 0 ? "true" : "false");
}

/* A re-deploy's inputs: what promote_branch was asked and what it found. */
typedef struct Redeployment
{
	ApiResult  *r;
	const BpProject *p;
	const char *release;		/* NULL: prod keeps its release */
	bool		rehearse;
	bool		accept_schema;
	int64		prod_tl;
	const char *prod_release;
	const Ledgers *lg;
} Redeployment;

/* What a run of migrations left, in the timeline's ledger and schema mirrors. */
static void
MirrorApplied(int64 timeline_id, const BpApplied *applied, const BpLedger *after)
{
	CatalogReplaceLedgerMirror(timeline_id, after);
	if (applied->n > 0)			/* its last batch recorded the schema it read */
		CatalogSetSchemaMirror(timeline_id, SchemaRecordedJson(&applied->result));
}

/*
 * A re-deploy: keep prod's data, anchor its current LSN, apply the
 * migrations dev has and prod lacks (SQL from dev's ledger), pin the release.
 */
static Datum
Redeploy(const Redeployment *rd)
{
	ApiResult  *r = rd->r;
	const BpProject *p = rd->p;
	const char *release = rd->release;
	int64		prod_tl = rd->prod_tl;
	const Ledgers *lg = rd->lg;
	bool		rehearse = rd->rehearse;
	bool		accept_schema = rd->accept_schema;
	PGconn	   *conn;
	BpApplied	applied;
	char	   *rehearsal;
	BpLedger	after;
	BpDeployRow d;
	int64		deploy_id;
	StringInfoData versions;
	StringInfoData timings;
	char		anchor_name[64];
	int64		snapshot_id;
	BpSnapshotResult snap;
	BpSchemaState rehearsed;
	const BpSchemaState *dev_schema = &lg->dev_schema.actual;
	bool		schema_differs;

	LedgerRefuse(&lg->plan, lg->dev_ledger.m, &lg->prod_ledger, "prod", true);
	/* schema drift: dev's always; prod's unless pending migrations may correct it */
	if (lg->dev_schema.drift && !accept_schema)
		SchemaRefuseDrift(p, "dev", &lg->dev_schema);
	if (lg->prod_schema.drift && lg->plan.npending == 0 && !accept_schema)
		SchemaRefuseDrift(p, "prod", &lg->prod_schema);
	for (int i = 0; i < lg->plan.npending; i++)	/* before anything runs */
		(void) BpCheckMigration(&lg->dev_ledger.m[lg->plan.pending[i]]);
	StepWith(r, "plan", PlanNote("redeploy", release));
	/* the pre-deploy anchor's snapshot (the rehearsal forks from it too) */
	snapshot_id = CatalogNextSnapshotId();
	BpWakeWorkerAtCommit();
	BpStorage()->snapshot(prod_tl, BpServerOn(&lg->prod.spec, false), snapshot_id, &snap);
	CatalogInsertSnapshot(snapshot_id, prod_tl, snap.start_lsn, snap.lsn, "anchor");
	StepPhases(r, "snapshot prod", snap.phases);
	rehearsal = !rehearse ? "null" :
		lg->plan.npending == 0 ? "{\"passed\": true, \"skipped\": \"nothing pending\"}" :
		Rehearse(r, p, prod_tl, snapshot_id, lg, &rehearsed);
	/* the rehearsal proves the result before prod is touched */
	if (rehearse && lg->plan.npending > 0 && !accept_schema &&
		strcmp(rehearsed.fingerprint, dev_schema->fingerprint) != 0)
		SchemaRefuseResult(p, "the rehearsal fork of prod", dev_schema, &rehearsed);
	conn = LedgerConnect(&lg->prod.spec, p->name, p->password);
	LedgerApply(&(BpApplyRequest) {.conn = conn, .env = "prod",
								   .wanted = lg->dev_ledger.m, .nwanted = lg->dev_ledger.n, .from_dev = true,
								   .end = accept_schema ? BP_APPLY_PREPARE_ACCEPT : BP_APPLY_PREPARE},
				&applied, &after);
	CatalogRecordPrepared(applied.gid, lg->prod.id);
	NotePrepared(lg->prod.id);
	Step(r, "apply pending migrations to prod");
	/*
	 * And prod's own result, read inside its prepared transaction: raising
	 * now aborts it with ours (twophase.c), so prod keeps its schema.
	 */
	schema_differs = strcmp(applied.result.fingerprint, dev_schema->fingerprint) != 0;
	if (schema_differs && !accept_schema)
		SchemaRefuseResult(p, "prod", dev_schema, &applied.result);

	snprintf(anchor_name, sizeof(anchor_name), "pre-deploy %s", timestamptz_to_str(r->started_at));
	CatalogInsertAnchor(prod_tl, anchor_name, "pre-deploy", applied.lsn_before);
	CatalogSetEnvironment(p->id, "prod", prod_tl, release ? release : rd->prod_release);
	MirrorApplied(prod_tl, &applied, &after);
	CatalogReplaceLedgerMirror(lg->dev.spec.timeline_id, &lg->dev_ledger);

	initStringInfo(&versions);
	initStringInfo(&timings);
	appendStringInfoChar(&versions, '[');
	appendStringInfoChar(&timings, '{');
	for (int i = 0; i < applied.n; i++)
	{
		appendStringInfoString(&versions, i ? ", " : "");
		escape_json(&versions, applied.versions[i]);
		appendStringInfoString(&timings, i ? ", " : "");
		escape_json(&timings, applied.versions[i]);
		appendStringInfo(&timings, ": %.3f", applied.ms[i]);
	}
	appendStringInfoChar(&versions, ']');
	appendStringInfoChar(&timings, '}');

	memset(&d, 0, sizeof(d));
	d.project_id = p->id;
	d.release = release;
	d.action = "redeploy";
	d.from_timeline = prod_tl;
	d.to_timeline = prod_tl;
	d.fork_lsn = InvalidXLogRecPtr;
	d.clone_method = NULL;
	d.started_at = r->started_at;
	d.elapsed_ms = MsSince(r->start);
	d.anchor_lsn = applied.lsn_before;
	d.migrations_json = versions.data;
	d.rehearsal_json = rehearse ? rehearsal : NULL;
	d.previous_release = rd->prod_release;
	d.attempts_json = applied.attempts;
	d.dev_schema = dev_schema->fingerprint;
	d.result_schema = applied.result.fingerprint;
	d.schema_override = accept_schema &&
		(schema_differs || lg->dev_schema.drift != NULL || lg->prod_schema.drift != NULL);
	deploy_id = CatalogInsertDeploy(&d);
	CatalogRecordOperation(p->name, "promote_branch", GetUserNameFromId(CatalogCaller(), false),
						   r->started_at, StepsJson(r));
	PutWoke(r);

	PutStr(r, "action", "redeploy");
	PutStr(r, "project", p->name);
	PutInt(r, "deploy_id", deploy_id);
	PutStr(r, "release", release);
	PutInt(r, "prod_timeline", prod_tl);
	PutLsn(r, "anchor_lsn", applied.lsn_before);
	PutRaw(r, "migrations_applied", versions.data);
	PutRaw(r, "migration_ms", timings.data);
	PutRaw(r, "attempts", applied.attempts);
	PutRaw(r, "rehearsal", rehearsal);
	PutRaw(r, "schema", psprintf("{\"dev\": \"%s\", \"result\": \"%s\", \"equal\": %s, \"override\": %s}",
								 dev_schema->fingerprint, applied.result.fingerprint,
								 schema_differs ? "false" : "true", d.schema_override ? "true" : "false"));
	CatalogEnd();		/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(r));
}

/*
 * A first deploy's new prod, in one session as the project's role: dev's
 * prepared transactions dropped (they are not prod's), the ledger it
 * inherited read, and its schema recorded.  Prod is dev's copy, so what dev
 * had is what both now record, DDL made outside migrations included: prod's
 * copy read, written into prod's ledger and (a second session) into a
 * running dev's (a stopped dev keeps its record; its drift stays visible
 * until accept_schema).  What prod inherited is what dev recorded at the
 * fork: when that is what prod's copy reads, neither record changes, and
 * dev needs no session.  Steps "read ledger" and "record dev's schema"
 * (only when dev's record changes).
 */
static void
FirstLedgerAndSchema(ApiResult *r, const BpProject *p, const BpComputeRow *prod,
					 const BpComputeRow *dev, BpLedger *inherited, BpSchemaState *out)
{
	PhaseClock	pc;
	PGconn	   *conn;
	bool		recorded;

	PhaseBegin(&pc);
	conn = LedgerConnectReader(&prod->spec, p->name, p->password);
	Phase(&pc, "connect");
	(void) BpTwoPhaseDropInherited(conn);
	Phase(&pc, "prepared");
	LedgerRead(conn, inherited);
	Phase(&pc, "ledger");
	SchemaRead(conn, out);
	Phase(&pc, "schema read");
	recorded = SchemaRecordedIs(conn, out);
	EnsureLedger(conn);
	if (!recorded)
		SchemaRecord(conn, out, NULL, 0);
	BpDisconnect(conn);
	CatalogSetSchemaMirror(prod->spec.timeline_id, SchemaRecordedJson(out));
	Phase(&pc, "record");
	StepPhases(r, "read ledger", pc.buf.data);
	if (dev == NULL || recorded)
		return;
	PhaseBegin(&pc);
	conn = LedgerConnectReader(&dev->spec, p->name, p->password);
	Phase(&pc, "connect");
	EnsureLedger(conn);
	SchemaRecord(conn, out, NULL, 0);
	BpDisconnect(conn);
	Phase(&pc, "record");
	StepPhases(r, "record dev's schema", pc.buf.data);
}

/* What a failed promotion needs to be recorded as a failed deploy. */
typedef struct Attempt
{
	int64		project_id;		/* 0 until the promotion is planned */
	const char *action;
	const char *release;
	TimestampTz started_at;
	instr_time	start;
} Attempt;

/* The body of promote_branch: first deploy or re-deploy. */
static Datum
Promote(FunctionCallInfo fcinfo, Attempt *attempt)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *release = OptText(fcinfo, 1);
	bool		rehearse;
	bool		accept_schema;
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpProjectState s;
	BpPlan		plan;
	int64		prod_tl;
	char	   *prod_release;
	int64		dev_tl;
	int64		base_id;
	BpComputeRow dev;
	BpForkResult fork;
	BpComputeRow prod;
	BpDeployRow d;
	int64		deploy_id;
	Ledgers		lg;
	bool		dev_running;
	BpSchemaState schema;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("rehearse must not be null"),
				 errhint("Pass true (the default) to rehearse on a fork of prod first, or false to skip it.")));
	rehearse = PG_GETARG_BOOL(2);
	if (PG_NARGS() > 3 && PG_ARGISNULL(3))	/* the 0.5.0 SQL definition has 3 */
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("accept_schema must not be null"),
				 errhint("Pass false (the default) to require that prod ends with dev's schema, or true to accept a difference (recorded in the deploy).")));
	accept_schema = PG_NARGS() > 3 && PG_GETARG_BOOL(3);
	OperationBegin(&r, "promote_branch", name);
	CatalogBegin();
	LoadProject(name, true, &p);	/* serializes operations on the project */
	s = ProjectState(&r, &p, &prod_tl, &prod_release, &lg, true);
	plan = BpPlanPromotion(&s, release);
	if (plan.action != BP_ACTION_NOOP)
	{
		attempt->project_id = p.id;
		attempt->action = BpActionName(plan.action);
		attempt->release = release;
		attempt->started_at = r.started_at;
		attempt->start = r.start;
	}
	if (plan.action == BP_ACTION_NOOP)
	{
		PutWoke(&r);
		CatalogEnd();
		PutStr(&r, "action", "noop");
		PutStr(&r, "project", name);
		PutStr(&r, "release", release);
		PutInt(&r, "prod_timeline", prod_tl);
		PG_RETURN_DATUM(ResultJsonb(&r));
	}
	if (plan.action == BP_ACTION_REDEPLOY)
	{
		RefuseSecondRun(&p, &lg.prod, "prod");
		return Redeploy(&(Redeployment) {.r = &r, .p = &p, .release = release,
										 .rehearse = rehearse, .accept_schema = accept_schema,
										 .prod_tl = prod_tl, .prod_release = prod_release,
										 .lg = &lg});
	}

	if (!CatalogGetEnvironment(p.id, "dev", &dev_tl, NULL))
		elog(ERROR, "project \"%s\" has no dev environment", name);
	LoadCompute(&p, "dev", &dev);
	dev_running = UseCompute(&r, &p, &dev, "dev", false);	/* a stopped dev: from its files */
	StepWith(&r, "plan", PlanNote(BpActionName(plan.action), release));

	prod_tl = CatalogNextTimelineId();
	base_id = CatalogNextSnapshotId();
	BpWakeWorkerAtCommit();
	BpStorage()->fork_at_head(dev_tl, BpServerOn(&dev.spec, true), prod_tl, base_id, &fork);
	StepPhases(&r, fork.source_was_running ? "fork running dev (backup mode)" : "fork stopped dev",
			   fork.phases);
	CatalogInsertTimeline(prod_tl, p.id, "prod", dev_tl, fork.fork_lsn,
						  fork.method);
	CatalogSetEnvironment(p.id, "prod", prod_tl, release);
	(void) CatalogProtect(p.id, "prod", CatalogCaller());	/* from its first deploy */
	prod = ProvisionCompute(&r, p.id, "prod", prod_tl, true);
	{
		BpLedger	inherited;

		/* prod starts with dev's ledger */
		FirstLedgerAndSchema(&r, &p, &prod, dev_running ? &dev : NULL, &inherited, &schema);
		CatalogReplaceLedgerMirror(prod_tl, &inherited);
		CatalogReplaceLedgerMirror(dev_tl, &inherited);
	}
	InsertBaseSnapshot(&r, prod_tl, base_id, &fork.base);

	memset(&d, 0, sizeof(d));
	d.project_id = p.id;
	d.release = release;
	d.action = BpActionName(plan.action);
	d.from_timeline = dev_tl;
	d.to_timeline = prod_tl;
	d.fork_lsn = fork.fork_lsn;
	d.clone_method = fork.method;
	d.started_at = r.started_at;
	d.elapsed_ms = MsSince(r.start);
	d.anchor_lsn = InvalidXLogRecPtr;
	d.migrations_json = "[]";
	d.dev_schema = schema.fingerprint;
	d.result_schema = schema.fingerprint;
	deploy_id = CatalogInsertDeploy(&d);
	CatalogRecordOperation(name, "promote_branch", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);

	PutStr(&r, "action", BpActionName(plan.action));
	PutStr(&r, "project", name);
	PutInt(&r, "deploy_id", deploy_id);
	PutStr(&r, "release", release);
	PutInt(&r, "dev_timeline", dev_tl);
	PutInt(&r, "prod_timeline", prod_tl);
	PutLsn(&r, "fork_lsn", fork.fork_lsn);
	PutStr(&r, "clone_method", fork.method);
	PutRaw(&r, "dev_was_running", fork.source_was_running ? "true" : "false");
	PutInt(&r, "bytes_cloned", (int64) fork.bytes);
	PutInt(&r, "prod_port", prod.spec.port);
	PutRaw(&r, "schema", psprintf("{\"dev\": \"%s\", \"result\": \"%s\", \"equal\": true, \"override\": false}",
								  schema.fingerprint, schema.fingerprint));
	CatalogEnd();		/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * promote_branch(project, release, rehearse) → jsonb.  A failure after
 * planning is also recorded as a failed deploy: the reconciler writes that
 * row in its own transaction, since this one is about to roll back.
 */
Datum
branchpromote_promote_branch(PG_FUNCTION_ARGS)
{
	Attempt		attempt;
	MemoryContext cxt = CurrentMemoryContext;
	volatile Datum result = (Datum) 0;

	memset(&attempt, 0, sizeof(attempt));
	PG_TRY();
	{
		result = Promote(fcinfo, &attempt);
	}
	PG_CATCH();
	{
		if (attempt.project_id != 0)
		{
			BpRequest	req;
			ErrorData  *ed;

			MemoryContextSwitchTo(cxt);
			ed = CopyErrorData();
			memset(&req, 0, sizeof(req));
			req.kind = BP_REQ_RECORD_FAILED_DEPLOY;
			req.failed.project_id = attempt.project_id;
			strlcpy(req.failed.action, attempt.action, sizeof(req.failed.action));
			if (attempt.release)
				strlcpy(req.failed.release, attempt.release, sizeof(req.failed.release));
			snprintf(req.failed.error, sizeof(req.failed.error), "%s%s%s", ed->message,
					 ed->context ? "; " : "", ed->context ? ed->context : "");
			req.failed.started_at = attempt.started_at;
			req.failed.elapsed_ms = MsSince(attempt.start);
			if (!BpTell(&req))
				elog(WARNING, "could not queue the failed deploy of project %lld for recording",
					 (long long) attempt.project_id);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	return result;
}

/* The proxy's host for URIs: the first listen address ("*": localhost). */
static char *
ProxyHost(void)
{
	char	   *raw = pstrdup(bp_proxy_listen_addresses);
	List	   *hosts;
	char	   *host;

	if (!SplitGUCList(raw, ',', &hosts) || hosts == NIL)
		return "localhost";
	host = linitial(hosts);
	if (strcmp(host, "*") == 0 || strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		return "localhost";
	return strchr(host, ':') ? psprintf("[%s]", host) : host;	/* IPv6 in brackets */
}

/*
 * connection_uri(project, env, direct) → text: a libpq URI with credentials,
 * through the proxy when it runs (unless direct), else the compute's own.
 */
Datum
branchpromote_connection_uri(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	BpProject	p;
	BpComputeRow c;
	const char *host;
	int			port;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("direct must not be null"),
				 errhint("Pass true for the compute's own address or false (the default).")));
	CatalogBegin();
	LoadProject(name, false, &p);
	LoadCompute(&p, env, &c);
	CatalogEnd();
	if (bp_proxy_port > 0 && !PG_GETARG_BOOL(2))
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("postgresql://%s:%s@%s:%d/%s%s%s",
												  p.name, p.password, ProxyHost(), bp_proxy_port,
												  p.name, strcmp(env, "prod") == 0 ? "" : ".",
												  strcmp(env, "prod") == 0 ? "" : env)));
	BpCompute()->client_endpoint(&c.spec, &host, &port);
	PG_RETURN_TEXT_P(cstring_to_text(psprintf("postgresql://%s:%s@%s:%d/%s",
											  p.name, p.password, host, port, p.name)));
}

/* drop_project(project, confirm) → jsonb: the reconciler removes it after commit. */
Datum
branchpromote_drop_project(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *confirm = ArgText(fcinfo, 1, "confirm");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	List	   *timelines;
	ListCell   *lc;
	StringInfoData ids;
	char	   *kept_until;

	OperationBegin(&r, "drop_project", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (strcmp(confirm, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confirm does not match the project name"),
				 errhint("To drop project \"%s\" (kept for branchpromote.recovery_window, then removed), call branchpromote.drop_project('%s', '%s').", name, name, name)));
	RefuseProtectedProject(&p);
	timelines = CatalogProjectTimelines(p.id);
	kept_until = CatalogDropProject(p.id, bp_recovery_window_s);
	BpWakeWorkerAtCommit();
	Step(&r, "drop");
	CatalogRecordOperation(name, "drop_project", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	initStringInfo(&ids);
	appendStringInfoChar(&ids, '[');
	foreach(lc, timelines)
		appendStringInfo(&ids, "%s" INT64_FORMAT, ids.len > 1 ? ", " : "", *(int64 *) lfirst(lc));
	appendStringInfoChar(&ids, ']');
	PutStr(&r, "dropped", name);
	PutRaw(&r, "timelines", ids.data);
	PutStr(&r, "kept_until", kept_until);
	PutStr(&r, "cleanup", "after commit the reconciler stops the computes; undrop_project brings it all back "
		   "until kept_until, then the reconciler removes the timelines' data");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* Shared by suspend_compute and wake_compute. */
static Datum
ComputeRequest(FunctionCallInfo fcinfo, BpRequestKind kind)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	ApiResult	r;
	BpProject	p;
	BpComputeRow c;
	BpReply		reply;
	BpSchemaCheck check;
	MemoryContext outer;
	char	   *mirror = NULL;

	/*
	 * The reconciler acts on committed state and takes the project's lock:
	 * a transaction that already changed something (a promotion, a drop)
	 * would hide its changes from it or hold the lock it needs.
	 */
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		ereport(ERROR,
				(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
				 errmsg("%s cannot run in a transaction that has already made changes",
						kind == BP_REQ_START ? "wake_compute" : "suspend_compute"),
				 errhint("Commit first, then call it in its own transaction.")));
	ResultInit(&r);
	outer = CurrentMemoryContext;
	CatalogBegin();
	LoadProject(name, false, &p);
	LoadCompute(&p, env, &c);
	/* suspend: the schema check first; the reconciler mirrors it with the new state (as an idle suspend's) */
	if (kind == BP_REQ_STOP && strcmp(c.actual_state, "running") == 0 &&
		SchemaCheckQuietly(&c.spec, p.name, p.password, &check))
		mirror = MemoryContextStrdup(outer, SchemaCheckJson(&check));
	CatalogEnd();
	reply = AskWorkerMirroring(kind, &c.spec, true, bp_compute_start_timeout_ms, mirror);
	PutStr(&r, "project", name);
	PutStr(&r, "env", env);
	PutStr(&r, "state", kind == BP_REQ_START ? "running" : "suspended");
	if (kind == BP_REQ_START)
		PutInt(&r, "pid", reply.pid);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* suspend_compute(project, env) → jsonb: shut the compute down cleanly. */
Datum
branchpromote_suspend_compute(PG_FUNCTION_ARGS)
{
	return ComputeRequest(fcinfo, BP_REQ_STOP);
}

/* wake_compute(project, env) → jsonb: start it; returns once it accepts connections. */
Datum
branchpromote_wake_compute(PG_FUNCTION_ARGS)
{
	return ComputeRequest(fcinfo, BP_REQ_START);
}

#define SUSPEND_HINT "Pass an interval such as '15 minutes', '0' for never, or NULL for branchpromote.suspend_timeout."

/* set_suspend_timeout(project, timeout) → jsonb: the project's own idle timeout (NULL: the default). */
Datum
branchpromote_set_suspend_timeout(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *actor = CallerName();
	int64		ms = -1;
	ApiResult	r;
	BpProject	p;

	if (!PG_ARGISNULL(1))
	{
		ms = IntervalMs(PG_GETARG_INTERVAL_P(1), "timeout", SUSPEND_HINT);
		if (ms < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("timeout must not be negative"),
					 errhint(SUSPEND_HINT)));
	}
	OperationBegin(&r, "set_suspend_timeout", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	CatalogSetSuspendTimeout(p.id, ms);
	BpWakeWorkerAtCommit();
	Step(&r, "set");
	CatalogRecordOperation(name, "set_suspend_timeout", actor, r.started_at, StepsJson(&r));
	CatalogEnd();
	PutStr(&r, "project", name);
	if (ms < 0)
		PutRaw(&r, "suspend_timeout_ms", "null");
	else
		PutInt(&r, "suspend_timeout_ms", ms);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* compute_manifests(project, env) → jsonb: the compute's manifest from the template. */
Datum
branchpromote_compute_manifests(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	BpProject	p;
	BpComputeRow c;
	BpManifestInput in;

	CatalogBegin();
	LoadProject(name, false, &p);
	LoadCompute(&p, env, &c);
	memset(&in, 0, sizeof(in));
	if (!CatalogComputeManifestInput(c.id, &in))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("the %s compute of project \"%s\" was removed meanwhile", env, name),
				 errhint("The project or the environment was dropped by a concurrent call; SELECT env FROM branchpromote.environments WHERE project = '%s' lists what is left.", name)));
	CatalogEnd();
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(BpRenderManifest(&in))));
}

/*
 * _check_compute_settings(settings jsonb) → true, or an ERROR naming the
 * first setting that is malformed or not allowed: compute_template's CHECK.
 */
Datum
branchpromote_check_compute_settings(PG_FUNCTION_ARGS)
{
	Jsonb	   *j = PG_GETARG_JSONB_P(0);
	JsonbIterator *it = JsonbIteratorInit(&j->root);
	JsonbValue	v;
	JsonbIteratorToken tok;
	char	   *key = NULL;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			key = pnstrdup(v.val.string.val, v.val.string.len);
		else if (tok == WJB_VALUE)
		{
			const char *value = NULL;	/* an object or array: not a setting */

			if (v.type == jbvString)
				value = pnstrdup(v.val.string.val, v.val.string.len);
			else if (v.type == jbvNumeric)
				value = DatumGetCString(DirectFunctionCall1(numeric_out,
															NumericGetDatum(v.val.numeric)));
			else if (v.type == jbvBool)
				value = v.val.boolean ? "on" : "off";
			BpRequireUsableSetting(key, value);
		}
	}
	PG_RETURN_BOOL(true);
}

/* _stored_timeline_max() → bigint: the highest timeline id in storage (0 if none). */
Datum
branchpromote_stored_timeline_max(PG_FUNCTION_ARGS)
{
	ListCell   *lc;
	int64		max = 0;

	foreach(lc, BpStorage()->list())
		max = Max(max, ((BpStoredTimeline *) lfirst(lc))->timeline_id);
	PG_RETURN_INT64(max);
}

/* A string member of a migration object, or NULL if absent. */
static char *
MemberText(JsonbContainer *obj, const char *key, int index)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(obj, key, strlen(key), &v) == NULL)
		return NULL;
	if (v.type != jbvString)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration %d: \"%s\" must be a string", index, key),
				 errhint("Each migration is {\"version\": text, \"name\": text (optional), \"sql\": text, \"transaction\": boolean (optional)}.")));
	return pnstrdup(v.val.string.val, v.val.string.len);
}

/* A boolean member of a migration object; dflt if absent or JSON null. */
static bool
MemberBool(JsonbContainer *obj, const char *key, int index, bool dflt)
{
	JsonbValue	v;

	if (getKeyJsonValueFromContainer(obj, key, strlen(key), &v) == NULL || v.type == jbvNull)
		return dflt;
	if (v.type != jbvBool)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migration %d: \"%s\" must be true or false", index, key),
				 errhint("\"transaction\": false runs the migration's statements one at a time, outside a transaction block; the default is true.")));
	return v.val.boolean;
}

/* Parse and check the migrations array (it changes nothing if refused). */
static BpMigration *
ParseMigrations(Jsonb *j, int *n)
{
	BpMigration *m;

	if (!JB_ROOT_IS_ARRAY(j) || JB_ROOT_IS_SCALAR(j))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("migrations must be a JSON array"),
				 errhint("Pass '[{\"version\": \"0001\", \"name\": \"init\", \"sql\": \"CREATE TABLE ...\"}]'.")));
	*n = JB_ROOT_COUNT(j);
	m = palloc0(sizeof(BpMigration) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		JsonbValue *e = getIthJsonbValueFromContainer(&j->root, i);
		int			known = 0;

		if (e->type != jbvBinary || !JsonContainerIsObject(e->val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration %d is not a JSON object", i),
					 errhint("Each migration is {\"version\": text, \"name\": text (optional), \"sql\": text, \"transaction\": boolean (optional)}.")));
		m[i].version = MemberText(e->val.binary.data, "version", i);
		m[i].name = MemberText(e->val.binary.data, "name", i);
		m[i].sql = MemberText(e->val.binary.data, "sql", i);
		m[i].nontransactional = !MemberBool(e->val.binary.data, "transaction", i, true);
		for (const char *const *k = (const char *const[]) {"version", "name", "sql", "transaction", NULL}; *k; k++)
		{
			JsonbValue	v;

			if (getKeyJsonValueFromContainer(e->val.binary.data, *k, strlen(*k), &v) != NULL)
				known++;
		}
		if (m[i].version == NULL || m[i].version[0] == '\0' || strlen(m[i].version) > 200 ||
			strpbrk(m[i].version, "\t\n\r") != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration %d needs a \"version\" of 1 to 200 bytes without tabs or newlines", i),
					 errhint("Use zero-padded numbers or timestamps: versions compare bytewise.")));
		if (m[i].sql == NULL || m[i].sql[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration \"%s\" has no \"sql\"", m[i].version),
					 errhint("Each migration is {\"version\": text, \"name\": text (optional), \"sql\": text, \"transaction\": boolean (optional)}.")));
		if (JsonContainerSize(e->val.binary.data) > known)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration \"%s\" has keys other than version, name, sql and transaction", m[i].version),
					 errhint("Check the key names for typos.")));
		m[i].checksum = BpMigrationChecksum(&m[i]);
	}
	return m;
}

/* apply_migrations(project, env, migrations) → jsonb: apply what the ledger lacks. */
Datum
branchpromote_apply_migrations(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpComputeRow c;
	BpMigration *m;
	int			n;
	PGconn	   *conn;
	BpApplied	applied;
	BpLedger	after;
	BpSchemaCheck before;
	StringInfoData list;
	StringInfoData skipped;

	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("migrations must not be null"),
				 errhint("Pass a JSON array, possibly empty.")));
	OperationBegin(&r, "apply_migrations", name);
	m = ParseMigrations(PG_GETARG_JSONB_P(2), &n);
	CatalogBegin();
	LoadProject(name, true, &p);	/* serializes with promotions of the project */
	LoadCompute(&p, env, &c);
	RefuseSecondRun(&p, &c, env);
	(void) UseCompute(&r, &p, &c, env, true);
	/*
	 * DDL made outside migrations is absorbed into the state this run
	 * records: say so (a re-deploy still compares prod's result with dev).
	 */
	ReadLedgerAndSchema(&p, &c, NULL, &before);
	if (before.drift)
		ereport(WARNING,
				(errmsg("%s's schema was not what its migrations left: %s", env,
						BpSchemaDiffSummary(before.drift, 8)),
				 errdetail("A run that applies a migration records the schema it leaves, those changes included."),
				 errhint("Make them migrations, or a re-deploy will find that prod lacks them.")));
	conn = LedgerConnect(&c.spec, p.name, p.password);
	LedgerApply(&(BpApplyRequest) {.conn = conn, .env = env, .wanted = m, .nwanted = n,
								   .from_dev = false, .end = BP_APPLY_PREPARE},
				&applied, &after);
	CatalogRecordPrepared(applied.gid, c.id);
	NotePrepared(c.id);
	Step(&r, "apply migrations");
	MirrorApplied(c.spec.timeline_id, &applied, &after);
	CatalogRecordOperation(name, "apply_migrations", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);

	initStringInfo(&list);
	initStringInfo(&skipped);
	appendStringInfoChar(&list, '[');
	appendStringInfoChar(&skipped, '[');
	for (int i = 0, k = 0; i < n; i++)
	{
		if (k < applied.n && strcmp(applied.versions[k], m[i].version) == 0)
		{
			appendStringInfoString(&list, k ? ", " : "");
			appendStringInfo(&list, "{\"version\": ");
			escape_json(&list, m[i].version);
			appendStringInfo(&list, ", \"ms\": %.3f}", applied.ms[k]);
			k++;
		}
		else
		{
			appendStringInfoString(&skipped, skipped.len > 1 ? ", " : "");
			escape_json(&skipped, m[i].version);
		}
	}
	appendStringInfoChar(&list, ']');
	appendStringInfoChar(&skipped, ']');
	PutStr(&r, "project", name);
	PutStr(&r, "env", env);
	PutInt(&r, "timeline", c.spec.timeline_id);
	PutRaw(&r, "applied", list.data);
	PutRaw(&r, "skipped", skipped.data);
	PutRaw(&r, "attempts", applied.attempts);
	PutStr(&r, "schema_fingerprint", applied.result.fingerprint);
	PutRaw(&r, "schema_drift", before.drift ? BpSchemaDiffJson(before.drift) : "null");
	CatalogEnd();				/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(&r));
}
