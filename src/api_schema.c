/*
 * api_schema.c — schema truth: a timeline's fingerprint, its drift from
 * what its ledger recorded, accepting a schema, and the diff between any
 * two branches (schema_fingerprint, accept_schema, schema_diff), plus the
 * checks promote_branch and plan_promotion make.
 *
 * A timeline's actual schema is read from its compute (woken if it is
 * suspended; a backup, which has no compute, and "prod+pending" are read
 * from a throwaway fork that this transaction's end removes, as a
 * rehearsal's).  Comparison and rendering are pure (schemafp.c).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"

#include "api_schema.h"
#include "apiutil.h"
#include "driver.h"
#include "guc.h"
#include "pgconn.h"
#include "tenantconn.h"

PG_FUNCTION_INFO_V1(branchpromote_schema_fingerprint);
PG_FUNCTION_INFO_V1(branchpromote_accept_schema);
PG_FUNCTION_INFO_V1(branchpromote_schema_diff);

#define PENDING_SUFFIX "+pending"

/*
 * A running compute's ledger (unless ledger is NULL) and schema check, in
 * one session as the project's role; the check is mirrored in the catalog.
 */
void
ReadLedgerAndSchema(const BpProject *p, const BpComputeRow *c, BpLedger *ledger,
					BpSchemaCheck *check)
{
	PGconn	   *conn = LedgerConnectReader(&c->spec, p->name, p->password);

	if (ledger)
		LedgerRead(conn, ledger);
	SchemaCheck(conn, check, true);
	BpDisconnect(conn);
	CatalogSetSchemaMirror(c->spec.timeline_id, SchemaCheckJson(check));
}

/* Drift of kind schema for plan_promotion: {"kind", "env", "differences"}. */
char *
SchemaDriftJson(const char *env, const char *differences)
{
	StringInfoData j;

	initStringInfo(&j);
	appendStringInfoString(&j, "{\"kind\": \"schema\", \"env\": ");
	escape_json(&j, env);
	appendStringInfo(&j, ", \"differences\": %s}", differences);
	return j.data;
}

/* Refuse a timeline whose schema is not what its ledger recorded. */
void
SchemaRefuseDrift(const BpProject *p, const char *env, const BpSchemaCheck *c)
{
	bool		dev = strcmp(env, "dev") == 0;

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s's schema is not what its migrations left (schema drift)", env),
			 errdetail("Since its last migration: %s.", BpSchemaDiffSummary(c->drift, 8)),
			 dev ?
			 errhint("DDL ran on dev outside apply_migrations: make it a migration, or record dev's schema as it is with branchpromote.accept_schema('%s', 'dev'). branchpromote.schema_fingerprint('%s', 'dev') lists every difference.",
					 p->name, p->name) :
			 errhint("Deploy a corrective migration that leaves prod with dev's schema, replace prod with dev by branchpromote.reset_prod('%s', '%s'), or accept prod's schema explicitly: promote_branch(..., accept_schema => true). branchpromote.schema_fingerprint('%s', 'prod') lists every difference.",
					 p->name, p->name, p->name)));
}

/* Refuse a migration run whose result is not dev's schema. */
void
SchemaRefuseResult(const BpProject *p, const char *where, const BpSchemaState *dev,
				   const BpSchemaState *result)
{
	BpSchemaDiff *d = BpSchemaCompare(dev->schema, result->schema);

	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("after the pending migrations, %s's schema would not be dev's", where),
			 errdetail("From dev's schema (%.12s) to the result (%.12s): %s.", dev->fingerprint,
					   result->fingerprint, BpSchemaDiffSummary(d, 8)),
			 errhint("A migration behaves differently on prod's data or schema; see branchpromote.schema_diff('%s', 'dev', 'prod+pending'). Make it deterministic, or deploy anyway with promote_branch(..., accept_schema => true) (recorded in the deploy).",
					 p->name)));
}

/* s as a JSON string. */
static char *
JsonString(const char *s)
{
	StringInfoData q;

	initStringInfo(&q);
	escape_json(&q, s);
	return q.data;
}

/*
 * The check (and the ledger, unless NULL) of an environment's compute,
 * woken if it is down; locked: the caller holds the project.
 */
static void
CheckEnv(ApiResult *r, const BpProject *p, const char *env, bool locked, BpComputeRow *c,
		 BpLedger *ledger, BpSchemaCheck *check)
{
	LoadCompute(p, env, c);
	(void) UseComputeLocked(r, p, c, env, true, locked);
	ReadLedgerAndSchema(p, c, ledger, check);
}

/* schema_fingerprint(project, env) → jsonb: the actual schema, the recorded one, the drift. */
Datum
branchpromote_schema_fingerprint(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	ApiResult	r;
	BpProject	p;
	BpComputeRow c;
	BpSchemaCheck check;

	ResultInit(&r);
	CatalogBegin();
	LoadProject(name, false, &p);
	CheckEnv(&r, &p, env, false, &c, NULL, &check);
	PutWoke(&r);
	PutStr(&r, "project", name);
	PutStr(&r, "env", env);
	PutInt(&r, "timeline", c.spec.timeline_id);
	PutStr(&r, "fingerprint", check.actual.fingerprint);
	PutInt(&r, "objects", check.actual.objects);
	PutStr(&r, "recorded", check.recorded ? check.rec.fingerprint : NULL);
	PutRaw(&r, "drift", check.drift ? BpSchemaDiffJson(check.drift) : "null");
	PutRaw(&r, "ms", psprintf("%.3f", check.actual.ms));
	CatalogEnd();				/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * accept_schema(project, env) → jsonb: record the environment's schema as
 * it is now as the state its ledger left (a drift accepted explicitly).
 */
Datum
branchpromote_accept_schema(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	ApiResult	r;
	BpProject	p;
	BpComputeRow c;
	BpSchemaCheck check;
	PGconn	   *conn;

	OperationBegin(&r, "accept_schema", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	LoadCompute(&p, env, &c);
	(void) UseCompute(&r, &p, &c, env, true);
	conn = LedgerConnectReader(&c.spec, p.name, p.password);
	SchemaCheck(conn, &check, false);	/* a record that does not parse is replaced */
	EnsureLedger(conn);
	SchemaRecord(conn, &check.actual, NULL, 0);
	BpDisconnect(conn);
	Step(&r, "record the schema");
	CatalogSetSchemaMirror(c.spec.timeline_id, SchemaRecordedJson(&check.actual));
	CatalogRecordOperation(name, "accept_schema", CallerName(), r.started_at, StepsJson(&r));
	PutWoke(&r);
	PutStr(&r, "project", name);
	PutStr(&r, "env", env);
	PutStr(&r, "fingerprint", check.actual.fingerprint);
	PutStr(&r, "previous", check.recorded ? check.rec.fingerprint : NULL);
	PutRaw(&r, "accepted", check.drift ? BpSchemaDiffJson(check.drift) : "null");
	CatalogEnd();				/* after the results are copied into r: SPI frees its memory */
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * The schema of a throwaway fork of source's head (no catalog row: the
 * reconciler removes it after this transaction), with dev's pending
 * migrations applied and rolled back when dev_ledger is given.
 */
static void
ReadThrowaway(ApiResult *r, const BpProject *p, int64 source_tl, const BpComputeSpec *source,
			  const BpLedger *dev_ledger, BpSchemaState *out)
{
	BpForkResult fork;
	BpComputeSpec spec;
	PGconn	   *conn;

	memset(&spec, 0, sizeof(spec));
	spec.timeline_id = CatalogNextTimelineId();
	BpWakeWorkerAtCommit();
	BpStorage()->fork_at_head(source_tl, BpServerOn(source, true), spec.timeline_id, 0, &fork);
	spec.compute_id = CatalogNextComputeId();
	BpCompute()->assign_endpoint(&spec);
	(void) AskWorker(BP_REQ_START, &spec, false, bp_compute_start_timeout_ms);
	Step(r, "start a throwaway fork");
	if (dev_ledger)
	{
		BpApplied	applied;
		BpLedger	after;

		conn = LedgerConnect(&spec, p->name, p->password);
		LedgerApply(&(BpApplyRequest) {.conn = conn, .env = "a throwaway fork of prod",
										   .wanted = dev_ledger->m, .nwanted = dev_ledger->n,
										   .from_dev = true, .end = BP_APPLY_ROLLBACK},
					&applied, &after);
		*out = applied.result;
	}
	else
	{
		conn = LedgerConnectReader(&spec, p->name, p->password);
		SchemaRead(conn, out);
	}
	BpDisconnect(conn);
	(void) AskWorker(BP_REQ_STOP, &spec, false, bp_compute_start_timeout_ms);
	Step(r, "read the schema");
}

/* The schema of a name schema_diff takes: an environment, a branch, or prod+pending. */
static void
ReadNamed(ApiResult *r, const BpProject *p, const char *what, BpSchemaState *out)
{
	size_t		len = strlen(what);
	size_t		slen = strlen(PENDING_SUFFIX);
	int64		tl;
	BpTimelineRow branch;

	if (len > slen && strcmp(what + len - slen, PENDING_SUFFIX) == 0)
	{
		char	   *env = pnstrdup(what, len - slen);
		BpComputeRow dev;
		BpComputeRow src;
		BpLedger	dev_ledger;
		BpSchemaCheck ignored;

		if (strcmp(env, "prod") != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"%s\" is not a schema_diff name", what),
					 errhint("Only prod takes \"+pending\": 'prod+pending' is prod after dev's pending migrations.")));
		CheckEnv(r, p, "dev", true, &dev, &dev_ledger, &ignored);
		LoadCompute(p, "prod", &src);
		(void) UseCompute(r, p, &src, "prod", false);	/* stopped: forked from its files */
		ReadThrowaway(r, p, src.spec.timeline_id, &src.spec, &dev_ledger, out);
		return;
	}
	RequireName("environment or branch", what);
	if (CatalogGetEnvironment(p->id, what, &tl, NULL))
	{
		BpComputeRow c;
		BpSchemaCheck check;

		CheckEnv(r, p, what, true, &c, NULL, &check);
		*out = check.actual;
		return;
	}
	if (CatalogFindBranch(p->id, what, &branch) && !branch.discarded)
	{
		BpComputeSpec source;

		memset(&source, 0, sizeof(source));
		source.timeline_id = branch.id;
		ReadThrowaway(r, p, branch.id, &source, NULL, out);
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("project \"%s\" has no environment or branch \"%s\"", p->name, what),
			 errhint("Name dev, prod, a preview, a backup branch (SELECT branch FROM branchpromote.timelines WHERE project = '%s'), or 'prod+pending'.",
					 p->name)));
}

/*
 * schema_diff(project, source, target, format) → jsonb: what changes from
 * source's schema to target's, as JSON (format 'json') or as a text a
 * reviewer reads (format 'text': a jsonb string; ->> '{}' or #>> '{}').
 */
Datum
branchpromote_schema_diff(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *from = ArgText(fcinfo, 1, "source");
	char	   *to = ArgText(fcinfo, 2, "target");
	char	   *format = ArgText(fcinfo, 3, "format");
	ApiResult	r;
	BpProject	p;
	BpSchemaState a;
	BpSchemaState b;
	BpSchemaDiff *d;
	MemoryContext outer;
	char	   *out;

	if (strcmp(format, "json") != 0 && strcmp(format, "text") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown schema_diff format \"%s\"", format),
				 errhint("Use format => 'json' (the default) or format => 'text'.")));
	OperationBegin(&r, "schema_diff", name);
	outer = CurrentMemoryContext;
	CatalogBegin();
	LoadProject(name, true, &p);	/* forks are made: no prod move meanwhile */
	ReadNamed(&r, &p, from, &a);
	ReadNamed(&r, &p, to, &b);
	CatalogRecordOperation(name, "schema_diff", CallerName(), r.started_at, StepsJson(&r));
	PutWoke(&r);
	d = BpSchemaCompare(a.schema, b.schema);
	if (strcmp(format, "text") == 0)
		out = MemoryContextStrdup(outer, JsonString(psprintf("--- %s (%.12s)\n+++ %s (%.12s)\n%s", from,
															  a.fingerprint, to, b.fingerprint,
															  BpSchemaDiffText(d))));
	else
	{
		PutStr(&r, "project", name);
		PutStr(&r, "source", from);
		PutStr(&r, "target", to);
		PutStr(&r, "source_fingerprint", a.fingerprint);
		PutStr(&r, "target_fingerprint", b.fingerprint);
		out = MemoryContextStrdup(outer, BpSchemaDiffJson(d));
	}
	CatalogEnd();				/* SPI frees what was read; out and r live on */
	if (strcmp(format, "text") == 0)
		PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out)));
	/* the diff's own keys (equal, added, removed, changed) beside ours */
	PG_RETURN_DATUM(DirectFunctionCall2(jsonb_concat, ResultJsonb(&r),
										DirectFunctionCall1(jsonb_in, CStringGetDatum(out))));
}
