/*
 * api_mask.c — the SQL-callable functions of masking rules: set one
 * (checked against dev's schema), drop one, and a project's default for
 * forks of prod.  Masked forks themselves are fork_branch's (api_history.c,
 * MaskNewFork below).
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "api_mask.h"
#include "apiutil.h"
#include "catalog.h"
#include "digest.h"
#include "driver.h"
#include "ledger.h"
#include "maskapply.h"
#include "guc.h"
#include "pgconn.h"
#include "tenantconn.h"

PG_FUNCTION_INFO_V1(branchpromote_set_mask_rule);
PG_FUNCTION_INFO_V1(branchpromote_drop_mask_rule);
PG_FUNCTION_INFO_V1(branchpromote_set_preview_masking);

/* "schema.table" or "table" (schema public), as named in the catalog. */
static void
SplitTable(const char *in, const char **schema, const char **table)
{
	const char *dot = strchr(in, '.');

	if (dot == NULL)
	{
		*schema = "public";
		*table = in;
	}
	else
	{
		*schema = pnstrdup(in, dot - in);
		*table = dot + 1;
	}
	if (**schema == '\0' || **table == '\0' || strchr(*table, '.') != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("table_name \"%s\" is not schema.table or table", in),
				 errhint("Name the table as it is in the catalog, e.g. 'public.customers' or 'customers'.")));
}

/* The rule set's digest: sha256 of its canonical text. */
char *
MaskDigest(const BpMaskRule *rules, int n)
{
	return BpSha256Hex(BpMaskCanonical(rules, n));
}

static char *
ProjectDigest(int64 project_id)
{
	int			n;
	BpMaskRule *rules = CatalogMaskRules(project_id, &n);

	return n > 0 ? MaskDigest(rules, n) : NULL;
}

/*
 * set_mask_rule(project, table_name, column_name, rule, arg) → jsonb: the
 * column's rule, checked on dev (woken if suspended): the column exists,
 * its table has a primary key, the rule fits its type and its SQL
 * type-checks there.
 */
Datum
branchpromote_set_mask_rule(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *table_name = ArgText(fcinfo, 1, "table_name");
	char	   *column = ArgText(fcinfo, 2, "column_name");
	char	   *kind = ArgText(fcinfo, 3, "rule");
	char	   *arg = PG_ARGISNULL(4) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(4));
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpComputeRow dev;
	BpMaskRule	rule;
	char	   *seed;
	char	   *replaced;
	PGconn	   *conn;
	char	   *digest;

	OperationBegin(&r, "set_mask_rule", name);
	rule.column = column;
	rule.arg = arg;
	SplitTable(table_name, &rule.schema, &rule.table);
	if (!BpMaskParseKind(kind, &rule.kind))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown masking rule \"%s\"", kind),
				 errhint("Use value, null, hash, partial, fake or expression.")));
	CatalogBegin();
	LoadProject(name, true, &p);
	LoadCompute(&p, "dev", &dev);
	(void) UseCompute(&r, &p, &dev, "dev", true);
	seed = CatalogMaskSeed(p.id, NewPassword());
	conn = LedgerConnectReader(&dev.spec, p.name, p.password);
	MaskCheckRule(conn, &rule, seed);
	BpDisconnect(conn);
	Step(&r, "check on dev");
	replaced = CatalogSetMaskRule(p.id, &rule, CatalogCaller());
	digest = ProjectDigest(p.id);
	Step(&r, "set");
	CatalogRecordOperation(name, "set_mask_rule", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "table", psprintf("%s.%s", rule.schema, rule.table));
	PutStr(&r, "column", column);
	PutStr(&r, "rule", BpMaskKindName(rule.kind));
	if (arg)
		PutStr(&r, "arg", arg);
	else
		PutRaw(&r, "arg", "null");
	if (replaced)
		PutStr(&r, "replaced", replaced);
	else
		PutRaw(&r, "replaced", "null");
	PutStr(&r, "mask_digest", digest);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* drop_mask_rule(project, table_name, column_name) → jsonb */
Datum
branchpromote_drop_mask_rule(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *table_name = ArgText(fcinfo, 1, "table_name");
	char	   *column = ArgText(fcinfo, 2, "column_name");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	const char *schema;
	const char *table;
	char	   *digest;

	OperationBegin(&r, "drop_mask_rule", name);
	SplitTable(table_name, &schema, &table);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (!CatalogDropMaskRule(p.id, schema, table, column))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no masking rule for %s.%s.%s", name, schema, table, column),
				 errhint("SELECT * FROM branchpromote.mask_rules WHERE project = '%s' lists them.", name)));
	digest = ProjectDigest(p.id);
	Step(&r, "drop");
	CatalogRecordOperation(name, "drop_mask_rule", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "dropped", psprintf("%s.%s.%s", schema, table, column));
	if (digest)
		PutStr(&r, "mask_digest", digest);
	else
		PutRaw(&r, "mask_digest", "null");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* set_preview_masking(project, masked) → jsonb: forks of prod masked by default (or not). */
Datum
branchpromote_set_preview_masking(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	bool		on;
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	int			n;

	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("masked must not be NULL"),
				 errhint("Pass true (forks of prod are masked unless fork_branch says masked => false) or false.")));
	on = PG_GETARG_BOOL(1);
	OperationBegin(&r, "set_preview_masking", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	(void) CatalogMaskRules(p.id, &n);
	if (on && n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no masking rules", name),
				 errhint("Set them first: SELECT branchpromote.set_mask_rule('%s', 'customers', 'email', 'hash');", name)));
	CatalogSetPreviewMasking(p.id, on);
	Step(&r, "set");
	CatalogRecordOperation(name, "set_preview_masking", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutRaw(&r, "mask_previews", on ? "true" : "false");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * Mask a new fork on its closed compute, then seal its WAL: the LSN its
 * history starts at (nothing before it is kept: the archive is cut there,
 * and the caller takes its base snapshot after).  Result keys: masked,
 * mask_digest, masked_tables, masked_rows, refreshed_views, skipped_rules.
 */
XLogRecPtr
MaskNewFork(ApiResult *r, const BpProject *p, const BpComputeSpec *spec, const BpMaskRule *rules,
			int n, const char *seed, char **digest)
{
	PGconn	   *conn = LedgerConnectReader(spec, p->name, p->password);
	BpComputeAddr addr;
	PGconn	   *admin;
	BpMaskOutcome out;
	XLogRecPtr	floor;
	PGresult   *res;
	int			pruned;

	BpCompute()->admin_address(spec, &addr);
	admin = BpConnectTo(&addr, p->name, bp_operation_timeout_ms);	/* the project's database */
	MaskApply(conn, admin, rules, n, seed, &out);
	BpDisconnect(conn);
	Step(r, "mask");

	/* the WAL up to here holds the old values: sealed into the archive, then cut */
	(void) BpStorage()->head_lsn(spec->timeline_id, BpServerOn(spec, false), BP_SEAL_ARCHIVE);
	res = BpExec(admin, "SELECT pg_catalog.pg_current_wal_insert_lsn()", 0, NULL, bp_operation_timeout_ms);
	floor = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 0))));
	PQclear(res);
	BpExecCommand(admin, "CHECKPOINT", bp_operation_timeout_ms);
	BpDisconnect(admin);
	pruned = BpStorage()->prune_history(spec->timeline_id, floor, 0);
	Step(r, "cut history before the mask");

	*digest = MaskDigest(rules, n);
	PutRaw(r, "masked", "true");
	PutStr(r, "mask_digest", *digest);
	PutInt(r, "masked_tables", list_length(out.tables));
	PutInt(r, "masked_rows", out.rows);
	PutInt(r, "refreshed_views", out.views);
	PutInt(r, "foreign_keys_revalidated", out.keys);
	PutRaw(r, "skipped_rules", out.skipped.data);
	PutLsn(r, "mask_lsn", floor);
	PutInt(r, "archive_segments_cut", pruned);
	return floor;
}
