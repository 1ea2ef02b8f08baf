/*
 * catalog_deploy.c — deploys, prepared compute transactions, and the
 * operations journal.  Part of the catalog (catalog.h); only the catalog_*.c
 * files read and write its tables.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "catalog.h"
#include "catalog_spi.h"

int64
CatalogInsertDeploy(const BpDeployRow *d)
{
	Oid			types[16] = {INT8OID, TEXTOID, TEXTOID, INT8OID, INT8OID, PG_LSNOID,
		TEXTOID, TIMESTAMPTZOID, PG_LSNOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID};
	Datum		values[16] = {Int64GetDatum(d->project_id),
		d->release ? CStringGetTextDatum(d->release) : (Datum) 0,
		CStringGetTextDatum(d->action), Int64GetDatum(d->from_timeline),
		Int64GetDatum(d->to_timeline), LSNGetDatum(d->fork_lsn),
		d->clone_method ? CStringGetTextDatum(d->clone_method) : (Datum) 0,
		TimestampTzGetDatum(d->started_at), LSNGetDatum(d->anchor_lsn),
		CStringGetTextDatum(d->migrations_json ? d->migrations_json : "[]"),
		d->rehearsal_json ? CStringGetTextDatum(d->rehearsal_json) : (Datum) 0,
		d->previous_release ? CStringGetTextDatum(d->previous_release) : (Datum) 0,
		d->attempts_json ? CStringGetTextDatum(d->attempts_json) : (Datum) 0,
		d->dev_schema ? CStringGetTextDatum(d->dev_schema) : (Datum) 0,
		d->result_schema ? CStringGetTextDatum(d->result_schema) : (Datum) 0,
	BoolGetDatum(d->schema_override)};
	char		nulls[17] = "                ";
	char	   *sql;

	if (d->release == NULL)
		nulls[1] = 'n';
	if (XLogRecPtrIsInvalid(d->fork_lsn))
		nulls[5] = 'n';
	if (d->clone_method == NULL)
		nulls[6] = 'n';
	if (XLogRecPtrIsInvalid(d->anchor_lsn))
		nulls[8] = 'n';
	if (d->rehearsal_json == NULL)
		nulls[10] = 'n';
	if (d->previous_release == NULL)
		nulls[11] = 'n';
	if (d->attempts_json == NULL)
		nulls[12] = 'n';
	if (d->dev_schema == NULL)
		nulls[13] = 'n';
	if (d->result_schema == NULL)
		nulls[14] = 'n';
	sql = psprintf("INSERT INTO branchpromote.deploy (project_id, release, action, "
				   "from_timeline, to_timeline, fork_lsn, clone_method, status, started_at, "
				   "finished_at, elapsed_ms, anchor_lsn, migrations_applied, rehearsal, previous_release, "
				   "attempts, dev_schema, result_schema, schema_override) "
				   "VALUES ($1, $2, $3, $4, $5, $6, $7, 'succeeded', $8, "
				   "pg_catalog.clock_timestamp(), %.3f, $9, $10::pg_catalog.jsonb, "
				   "$11::pg_catalog.jsonb, $12, $13::pg_catalog.jsonb, $14, $15, $16) RETURNING id",
				   d->elapsed_ms);
	Run(sql, 16, types, values, nulls, SPI_OK_INSERT_RETURNING);
	return ColInt64(0, 1);
}

/* A deploy whose transaction failed (the reconciler records it). */
void
CatalogInsertFailedDeploy(int64 project_id, const char *action, const char *release,
						  TimestampTz started_at, double elapsed_ms, const char *error)
{
	Oid			types[6] = {INT8OID, TEXTOID, TEXTOID, TIMESTAMPTZOID, FLOAT8OID, TEXTOID};
	Datum		values[6] = {Int64GetDatum(project_id),
		release ? CStringGetTextDatum(release) : (Datum) 0, CStringGetTextDatum(action),
		TimestampTzGetDatum(started_at), Float8GetDatum(elapsed_ms),
	CStringGetTextDatum(error)};
	char		nulls[7] = "      ";

	if (release == NULL)
		nulls[1] = 'n';
	Run("INSERT INTO branchpromote.deploy (project_id, release, action, status, started_at, "
		"finished_at, elapsed_ms, error) VALUES ($1, $2, $3, 'failed', $4, "
		"$4 + $5 * interval '1 millisecond', $5, $6)",
		6, types, values, nulls, SPI_OK_INSERT);
}

/* This transaction prepared gid on a compute (commits with it). */
void
CatalogRecordPrepared(const char *gid, int64 compute_id)
{
	Oid			types[2] = {TEXTOID, INT8OID};
	Datum		values[2] = {CStringGetTextDatum(gid), Int64GetDatum(compute_id)};

	Run("INSERT INTO branchpromote.prepared (gid, compute_id) VALUES ($1, $2)",
		2, types, values, NULL, SPI_OK_INSERT);
}

/* Did the transaction that prepared gid commit (is its row there)? */
bool
CatalogPreparedCommitted(const char *gid)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(gid)};

	return Run("SELECT 1 FROM branchpromote.prepared WHERE gid = $1", 1, types, values, NULL,
			   SPI_OK_SELECT) > 0;
}

/* Drop the rows of a compute's prepared transactions that are finished. */
void
CatalogForgetPrepared(int64 compute_id, const char *const *still_prepared, int n)
{
	Oid			types[2] = {INT8OID, TEXTARRAYOID};
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, n));
	Datum		values[2];

	for (int i = 0; i < n; i++)
		elems[i] = CStringGetTextDatum(still_prepared[i]);
	values[0] = Int64GetDatum(compute_id);
	values[1] = PointerGetDatum(construct_array(elems, n, TEXTOID, -1, false, TYPALIGN_INT));
	Run("DELETE FROM branchpromote.prepared WHERE compute_id = $1 AND gid <> ALL ($2) "
		"AND created_at < pg_catalog.now() - interval '1 minute'",
		2, types, values, NULL, SPI_OK_DELETE);
}

/* Journal a finished operation with its steps (a JSON array). */
void
CatalogRecordOperation(const char *project, const char *kind, const char *actor,
					   TimestampTz started_at, const char *steps_json)
{
	Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[5] = {CStringGetTextDatum(project), CStringGetTextDatum(kind),
		CStringGetTextDatum(actor), CStringGetTextDatum(steps_json),
	TimestampTzGetDatum(started_at)};

	Run("INSERT INTO branchpromote.operation "
		"(project, kind, status, steps, actor, started_at, finished_at) "
		"VALUES ($1, $2, 'succeeded', $4::pg_catalog.jsonb, $3, $5, pg_catalog.clock_timestamp())",
		5, types, values, NULL, SPI_OK_INSERT);
}

/* Did the call a journal header describes commit its operation row? */
bool
CatalogOperationRecorded(const char *header)
{
	Oid			types[1] = {JSONBOID};
	Datum		values[1] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(header))};

	Run("SELECT 1 FROM branchpromote.operation "
		"WHERE project = $1->>'project' AND kind = $1->>'kind' "
		"AND started_at = ($1->>'started_at')::pg_catalog.timestamptz",
		1, types, values, NULL, SPI_OK_SELECT);
	return SPI_processed > 0;
}

/* Run sql with a journal's header ($1, jsonb), steps ($2, jsonb) and why ($3, text). */
static void
RunJournaled(const char *sql, const char *header, const char *steps_json, const char *why)
{
	Oid			types[3] = {JSONBOID, JSONBOID, TEXTOID};
	Datum		values[3] = {DirectFunctionCall1(jsonb_in, CStringGetDatum(header)),
		DirectFunctionCall1(jsonb_in, CStringGetDatum(steps_json)),
	CStringGetTextDatum(why)};

	Run(sql, 3, types, values, NULL, SPI_OK_INSERT);
}

/* Record a call that did not commit, from its journal: why, and after which step. */
void
CatalogRecordFailedOperation(const char *header, const char *steps_json, const char *why)
{
	RunJournaled("INSERT INTO branchpromote.operation "
		"(project, kind, status, steps, actor, started_at, finished_at, error) "
		"VALUES ($1->>'project', $1->>'kind', 'failed', $2, $1->>'actor', "
		"($1->>'started_at')::pg_catalog.timestamptz, pg_catalog.clock_timestamp(), "
		"$3 || CASE WHEN pg_catalog.jsonb_array_length($2) = 0 THEN ' before its first step' "
		"ELSE ' after step \"' || ($2->-1->>'step') || '\"' END)",
		header, steps_json, why);
}

/*
 * A promotion whose backend ended without recording its failed deploy (it
 * exited, or died): from its journal, once its plan step said what it was;
 * not if a deploy row of that start already exists.
 */
void
CatalogRecordJournaledDeploy(const char *header, const char *steps_json, const char *why)
{
	RunJournaled("INSERT INTO branchpromote.deploy (project_id, release, action, status, started_at, "
		"finished_at, elapsed_ms, error) "
		"SELECT p.id, s->>'release', s->>'action', 'failed', ($1->>'started_at')::pg_catalog.timestamptz, "
		"pg_catalog.clock_timestamp(), "
		"(SELECT pg_catalog.sum((x->>'ms')::pg_catalog.float8) FROM pg_catalog.jsonb_array_elements($2) x), "
		"$3 || ' after step \"' || ($2->-1->>'step') || '\"' "
		"FROM branchpromote.project p, pg_catalog.jsonb_array_elements($2) s "
		"WHERE $1->>'kind' = 'promote_branch' AND p.name = $1->>'project' "
		"AND s->>'step' = 'plan' AND s ? 'action' "
		"AND NOT EXISTS (SELECT 1 FROM branchpromote.deploy d WHERE d.project_id = p.id "
		"AND d.started_at = ($1->>'started_at')::pg_catalog.timestamptz)",
		header, steps_json, why);
}

#define DEPLOY_COLUMNS \
	"SELECT id, action, status, to_timeline, anchor_lsn, previous_release, " \
	"rolled_back_by, release FROM branchpromote.deploy "

static void
DeployFromRow(int row, BpDeployInfo *out)
{
	bool		isnull;
	Datum		d = Col(row, 5, &isnull);

	out->id = ColInt64(row, 1);
	out->action = ColText(row, 2);
	out->status = ColText(row, 3);
	out->to_timeline = ColInt64(row, 4);
	out->anchor_lsn = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	out->previous_release = ColText(row, 6);
	out->rolled_back_by = ColInt64(row, 7);
	out->release = ColText(row, 8);
}

/* The project's succeeded first deploys and re-deploys, newest first. */
BpDeployInfo *
CatalogDeploysNewestFirst(int64 project_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};
	BpDeployInfo *out;

	*n = Run(DEPLOY_COLUMNS "WHERE project_id = $1 AND status = 'succeeded' "
			 "AND action IN ('first_deploy', 'redeploy') ORDER BY id DESC",
			 1, types, values, NULL, SPI_OK_SELECT);
	out = SPI_palloc(sizeof(BpDeployInfo) * Max(1, *n));
	for (int i = 0; i < *n; i++)
		DeployFromRow(i, &out[i]);
	return out;
}

/* Any deploy of the project by id (status and action as they are). */
bool
CatalogGetDeploy(int64 project_id, int64 deploy_id, BpDeployInfo *out)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(project_id), Int64GetDatum(deploy_id)};

	if (Run(DEPLOY_COLUMNS "WHERE project_id = $1 AND id = $2",
			2, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	DeployFromRow(0, out);
	return true;
}

void
CatalogMarkRolledBack(int64 deploy_id, int64 by)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(deploy_id), Int64GetDatum(by)};

	Run("UPDATE branchpromote.deploy SET rolled_back_by = $2 WHERE id = $1", 2, types, values,
		NULL, SPI_OK_UPDATE);
}
