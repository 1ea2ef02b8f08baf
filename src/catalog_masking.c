/*
 * catalog_masking.c — masking rules, the project's seed and default, masked
 * timelines.  Part of the catalog (catalog.h); only the catalog_*.c files
 * read and write its tables.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "catalog.h"
#include "catalog_spi.h"

/* The project's rules, sorted by schema, table, column (n: how many). */
BpMaskRule *
CatalogMaskRules(int64 project_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};
	BpMaskRule *out;

	*n = Run("SELECT schema_name, table_name, column_name, rule, arg FROM branchpromote.mask_rule "
			 "WHERE project_id = $1 ORDER BY schema_name COLLATE \"C\", table_name COLLATE \"C\", "
			 "column_name COLLATE \"C\"", 1, types, values, NULL, SPI_OK_SELECT);
	out = SPI_palloc(sizeof(BpMaskRule) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].schema = ColText(i, 1);
		out[i].table = ColText(i, 2);
		out[i].column = ColText(i, 3);
		if (!BpMaskParseKind(ColText(i, 4), &out[i].kind))
			elog(ERROR, "mask rule of unknown kind \"%s\"", ColText(i, 4));
		out[i].arg = ColText(i, 5);
	}
	return out;
}

/* The project's masking seed, made (random) the first time if make. */
char *
CatalogMaskSeed(int64 project_id, const char *make)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(make ? make : "")};

	if (make)
		Run("UPDATE branchpromote.project SET mask_seed = $2 WHERE id = $1 AND mask_seed IS NULL",
			2, types, values, NULL, SPI_OK_UPDATE);
	return FirstText("SELECT mask_seed FROM branchpromote.project WHERE id = $1", project_id);
}

/* Set a column's rule; returns the rule it replaced (NULL: none). */
char *
CatalogSetMaskRule(int64 project_id, const BpMaskRule *rule, Oid by)
{
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, OIDOID};
	Datum		values[7] = {Int64GetDatum(project_id), CStringGetTextDatum(rule->schema),
		CStringGetTextDatum(rule->table), CStringGetTextDatum(rule->column),
		CStringGetTextDatum(BpMaskKindName(rule->kind)),
	rule->arg ? CStringGetTextDatum(rule->arg) : (Datum) 0, ObjectIdGetDatum(by)};
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', rule->arg ? ' ' : 'n', ' '};

	Run("WITH old AS (SELECT rule FROM branchpromote.mask_rule WHERE project_id = $1 "
		"AND schema_name = $2 AND table_name = $3 AND column_name = $4), "
		"up AS (INSERT INTO branchpromote.mask_rule (project_id, schema_name, table_name, column_name, rule, arg, created_by) "
		"VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (project_id, schema_name, table_name, column_name) "
		"DO UPDATE SET rule = EXCLUDED.rule, arg = EXCLUDED.arg, created_by = EXCLUDED.created_by, "
		"created_at = pg_catalog.now()) SELECT (SELECT rule FROM old)",
		7, types, values, nulls, SPI_OK_SELECT);
	return ColText(0, 1);
}

/* Drop a column's rule; false if it had none. */
bool
CatalogDropMaskRule(int64 project_id, const char *schema, const char *table, const char *column)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4] = {Int64GetDatum(project_id), CStringGetTextDatum(schema),
	CStringGetTextDatum(table), CStringGetTextDatum(column)};

	return Run("DELETE FROM branchpromote.mask_rule WHERE project_id = $1 AND schema_name = $2 "
			   "AND table_name = $3 AND column_name = $4", 4, types, values, NULL, SPI_OK_DELETE) > 0;
}

void
CatalogSetPreviewMasking(int64 project_id, bool on)
{
	Oid			types[2] = {INT8OID, BOOLOID};
	Datum		values[2] = {Int64GetDatum(project_id), BoolGetDatum(on)};

	Run("UPDATE branchpromote.project SET mask_previews = $2 WHERE id = $1", 2, types, values, NULL,
		SPI_OK_UPDATE);
}

bool
CatalogPreviewMasking(int64 project_id)
{
	return Exists("SELECT 1 FROM branchpromote.project WHERE id = $1 AND mask_previews", project_id);
}

/* A masked timeline's rule set digest; NULL if it is not masked. */
char *
CatalogTimelineMask(int64 timeline_id)
{
	return FirstText("SELECT mask_digest FROM branchpromote.timeline WHERE id = $1", timeline_id);
}

/* Mark a timeline masked (lsn valid: masked here, its history starts there). */
void
CatalogSetTimelineMask(int64 timeline_id, const char *digest, XLogRecPtr lsn)
{
	Oid			types[3] = {INT8OID, TEXTOID, PG_LSNOID};
	Datum		values[3] = {Int64GetDatum(timeline_id), CStringGetTextDatum(digest), LSNGetDatum(lsn)};
	char		nulls[3] = {' ', ' ', XLogRecPtrIsInvalid(lsn) ? 'n' : ' '};

	Run("UPDATE branchpromote.timeline SET mask_digest = $2, mask_lsn = $3 WHERE id = $1",
		3, types, values, nulls, SPI_OK_UPDATE);
}
