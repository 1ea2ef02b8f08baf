/*
 * maskapply.c — masking rules against a compute: checked on dev when set,
 * applied to a new fork before any client can connect.
 *
 * A fork is masked on its closed compute (gate.c: clients get in once the
 * creating transaction commits) in three steps:
 *   1. as the project's role, in one transaction: the foreign keys on a
 *      masked column dropped (so no cascade masks a value twice, and
 *      each side is masked on its own); per table with rules, its enabled
 *      user triggers off (an audit trigger must not copy the old values
 *      elsewhere), one UPDATE of every masked column (row security off, so
 *      no row is silently left out), the triggers back on; the foreign
 *      keys added again, as they were (validated: a key masked on one side
 *      only fails here); every populated materialized view refreshed.  A
 *      rule that fails aborts the fork.
 *   2. as the compute's superuser, fixed statements only: VACUUM (FULL,
 *      ANALYZE) of those tables and views (no dead tuple, index entry or
 *      statistic keeps an old value), VACUUM FULL of pg_statistic.
 *   3. the caller seals the fork's WAL, cuts its archive there and takes
 *      its base snapshot after; that LSN is where its history starts.
 * The seed goes as a parameter, never in a statement's text.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "ledger.h"
#include "maskapply.h"
#include "guc.h"
#include "pgconn.h"

/* What a compute's catalogs say of one rule's column. */
typedef struct MaskColumn
{
	bool		table_found;
	bool		column_found;
	bool		has_pk;
	bool		update_rule;
	char		relkind;
	BpMaskType	type;
	char	   *qtable;			/* quoted, qualified */
	char	   *qcolumn;		/* quoted */
} MaskColumn;

/* A text[] literal of n values. */
static char *
TextArray(const char *const *v, int n)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	for (int i = 0; i < n; i++)
	{
		appendStringInfoString(&s, i > 0 ? ",\"" : "\"");
		for (const char *p = v[i]; *p; p++)
		{
			if (*p == '"' || *p == '\\')
				appendStringInfoChar(&s, '\\');
			appendStringInfoChar(&s, *p);
		}
		appendStringInfoChar(&s, '"');
	}
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* The rules' columns as three text[] parameters: schemas, tables, columns. */
static void
RuleArrays(const BpMaskRule *rules, int n, const char *params[3])
{
	const char **s = palloc(sizeof(char *) * Max(1, n));
	const char **t = palloc(sizeof(char *) * Max(1, n));
	const char **c = palloc(sizeof(char *) * Max(1, n));

	for (int i = 0; i < n; i++)
	{
		s[i] = rules[i].schema;
		t[i] = rules[i].table;
		c[i] = rules[i].column;
	}
	params[0] = TextArray(s, n);
	params[1] = TextArray(t, n);
	params[2] = TextArray(c, n);
}

static MaskColumn *
Inspect(PGconn *conn, const BpMaskRule *rules, int n)
{
	const char *params[3];
	MaskColumn *out = palloc0(sizeof(MaskColumn) * Max(1, n));
	PGresult   *res;

	RuleArrays(rules, n, params);
	res = BpExec(conn,
				 "SELECT k.oid IS NOT NULL, a.attnum IS NOT NULL, "
				 "EXISTS (SELECT 1 FROM pg_catalog.pg_constraint x WHERE x.conrelid OPERATOR(pg_catalog.=) k.oid "
				 " AND x.contype OPERATOR(pg_catalog.=) 'p'), "
				 "EXISTS (SELECT 1 FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) k.oid "
				 " AND w.ev_type OPERATOR(pg_catalog.=) '2'), "
				 "COALESCE(k.relkind, '-'), "
				 "CASE WHEN y.typcategory OPERATOR(pg_catalog.=) 'S' THEN 'text' "
				 " WHEN a.atttypid OPERATOR(pg_catalog.=) 'pg_catalog.uuid'::pg_catalog.regtype THEN 'uuid' "
				 " ELSE 'other' END, "
				 "pg_catalog.format('%I.%I', r.s, r.t), pg_catalog.quote_ident(r.c) "
				 "FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[])) "
				 " WITH ORDINALITY AS r(s, t, c, i) "
				 "LEFT JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.s "
				 "LEFT JOIN pg_catalog.pg_class k ON k.relnamespace OPERATOR(pg_catalog.=) n.oid "
				 " AND k.relname OPERATOR(pg_catalog.=) r.t "
				 "LEFT JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) k.oid "
				 " AND a.attname OPERATOR(pg_catalog.=) r.c AND a.attnum OPERATOR(pg_catalog.>) 0 "
				 " AND NOT a.attisdropped "
				 "LEFT JOIN pg_catalog.pg_type y ON y.oid OPERATOR(pg_catalog.=) a.atttypid "
				 "ORDER BY r.i",
				 3, params, bp_operation_timeout_ms);
	if (PQntuples(res) != n)
		elog(ERROR, "masking: %d columns inspected for %d rules", PQntuples(res), n);
	for (int i = 0; i < n; i++)
	{
		const char *type = PQgetvalue(res, i, 5);

		out[i].table_found = PQgetvalue(res, i, 0)[0] == 't';
		out[i].column_found = PQgetvalue(res, i, 1)[0] == 't';
		out[i].has_pk = PQgetvalue(res, i, 2)[0] == 't';
		out[i].update_rule = PQgetvalue(res, i, 3)[0] == 't';
		out[i].relkind = PQgetvalue(res, i, 4)[0];
		out[i].type = strcmp(type, "text") == 0 ? BP_MASK_TYPE_TEXT :
			strcmp(type, "uuid") == 0 ? BP_MASK_TYPE_UUID : BP_MASK_TYPE_OTHER;
		out[i].qtable = pstrdup(PQgetvalue(res, i, 6));
		out[i].qcolumn = pstrdup(PQgetvalue(res, i, 7));
	}
	PQclear(res);
	return out;
}

/* A table a rule may mask: a plain or partitioned one, with a key, no UPDATE rule. */
static void
RequireMaskable(const BpMaskRule *rule, const MaskColumn *col, const char *where)
{
	if (col->relkind != 'r' && col->relkind != 'p')
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("%s.%s %s is not a table", rule->schema, rule->table, where),
				 errhint("Masking rules apply to tables; a view shows what its tables hold.")));
	if (!col->has_pk)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s.%s has a masking rule and no primary key %s", rule->schema, rule->table, where),
				 errhint("Add a primary key to it with a migration, or drop its rules.")));
	if (col->update_rule)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s.%s has an ON UPDATE rule %s, which could leave its rows unmasked",
						rule->schema, rule->table, where),
				 errhint("Drop the rule with a migration, or drop the table's masking rules.")));
}

/* Only the rendered rules write $1 (BpMaskCheck refuses it in an expression). */
static int
SeedParams(const char *sql)
{
	return strstr(sql, "$1") ? 1 : 0;
}

/* The session a rule's SQL runs in: the seed as $1 (text), pinned names. */
static void
MaskSession(PGconn *conn)
{
	BpExecCommand(conn, "BEGIN", bp_operation_timeout_ms);
	BpExecCommand(conn, "SET LOCAL search_path = pg_catalog, public", bp_operation_timeout_ms);
	BpExecCommand(conn, "SET LOCAL standard_conforming_strings = on", bp_operation_timeout_ms);
	BpExecCommand(conn, "SET LOCAL row_security = off", bp_operation_timeout_ms);
}

void
MaskCheckRule(PGconn *conn, const BpMaskRule *rule, const char *seed)
{
	MaskColumn *col = Inspect(conn, rule, 1);
	const char *why;
	const char *hint;
	const char *params[1] = {seed};
	MemoryContext cxt = CurrentMemoryContext;

	if (!col->table_found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("dev of this project has no table %s.%s", rule->schema, rule->table),
				 errhint("Name the table as schema.table, as it is in dev's catalog (the schema defaults to public).")));
	if (!col->column_found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("table %s.%s on dev has no column \"%s\"", rule->schema, rule->table, rule->column),
				 errhint("Name the column as it is in dev's catalog.")));
	RequireMaskable(rule, col, "on dev");
	if ((why = BpMaskCheck(rule->kind, rule->arg, col->type, &hint)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s (%s.%s.%s)", why, rule->schema, rule->table, rule->column),
				 errhint("%s", hint)));

	/* parsed and type-checked by the compute, not run: EXPLAIN, rolled back */
	PG_TRY();
	{
		char	   *sql = psprintf("EXPLAIN (COSTS OFF) UPDATE %s SET %s = %s", col->qtable, col->qcolumn,
								   BpMaskSql(rule->kind, rule->arg, col->type, col->qcolumn));

		MaskSession(conn);
		PQclear(BpExec(conn, sql, SeedParams(sql), params, bp_operation_timeout_ms));
		BpExecCommand(conn, "ROLLBACK", bp_operation_timeout_ms);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		/* libpq only: nothing an abort must release */
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(ed->sqlerrcode),
				 errmsg("the rule for %s.%s.%s does not check on dev", rule->schema, rule->table, rule->column),
				 errdetail("%s", ed->message),
				 errhint("An expression sees the row's columns by name, pg_catalog and public; it must yield the column's type.")));
	}
	PG_END_TRY();
}

/* Per table, quoted: the rules' indexes (first..last) share it. */
static void
MaskTable(PGconn *conn, const BpMaskRule *rules, const MaskColumn *cols, int first, int last,
		  const char *seed, BpMaskOutcome *out)
{
	StringInfoData sql;
	const char *params[1] = {seed};
	const char *tparams[1] = {cols[first].qtable};
	PGresult   *trig;
	int			ncols = 0;

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s SET ", cols[first].qtable);
	for (int i = first; i <= last; i++)
	{
		if (!cols[i].column_found)
		{
			appendStringInfo(&out->skipped, "%s\"%s.%s.%s\"", out->skipped.len > 1 ? ", " : "",
							 rules[i].schema, rules[i].table, rules[i].column);
			continue;
		}
		appendStringInfo(&sql, "%s%s = %s", ncols++ > 0 ? ", " : "", cols[i].qcolumn,
						 BpMaskSql(rules[i].kind, rules[i].arg, cols[i].type, cols[i].qcolumn));
	}
	if (ncols == 0)
		return;
	RequireMaskable(&rules[first], &cols[first], "on the fork");
	for (int i = first; i <= last; i++)
	{
		const char *why;
		const char *hint;

		if (cols[i].column_found && (why = BpMaskCheck(rules[i].kind, rules[i].arg, cols[i].type, &hint)) != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("%s (%s.%s.%s, on the fork)", why, rules[i].schema, rules[i].table, rules[i].column),
					 errhint("%s", hint)));
	}

	trig = BpExec(conn, "SELECT pg_catalog.quote_ident(tgname), tgenabled FROM pg_catalog.pg_trigger "
				  "WHERE tgrelid OPERATOR(pg_catalog.=) $1::pg_catalog.regclass AND NOT tgisinternal "
				  "AND tgenabled OPERATOR(pg_catalog.<>) 'D'", 1, tparams, bp_operation_timeout_ms);
	for (int i = 0; i < PQntuples(trig); i++)
		BpExecCommand(conn, psprintf("ALTER TABLE %s DISABLE TRIGGER %s", cols[first].qtable,
									 PQgetvalue(trig, i, 0)), bp_operation_timeout_ms);
	{
		PGresult   *res = BpExec(conn, sql.data, SeedParams(sql.data), params, bp_operation_timeout_ms);

		out->rows += strtol(PQcmdTuples(res), NULL, 10);
		PQclear(res);
	}
	for (int i = 0; i < PQntuples(trig); i++)
	{
		char		mode = PQgetvalue(trig, i, 1)[0];

		BpExecCommand(conn, psprintf("ALTER TABLE %s ENABLE %sTRIGGER %s", cols[first].qtable,
									 mode == 'A' ? "ALWAYS " : mode == 'R' ? "REPLICA " : "",
									 PQgetvalue(trig, i, 0)), bp_operation_timeout_ms);
	}
	PQclear(trig);
	out->tables = lappend(out->tables, cols[first].qtable);
}

void
MaskApply(PGconn *conn, PGconn *admin, const BpMaskRule *rules, int n, const char *seed,
		  BpMaskOutcome *out)
{
	MaskColumn *cols = Inspect(conn, rules, n);
	PGresult   *views;
	PGresult   *keys;
	const char *params[3];
	List	   *rewritten;
	ListCell   *lc;

	memset(out, 0, sizeof(*out));
	initStringInfo(&out->skipped);
	appendStringInfoChar(&out->skipped, '[');

	/* 1. the project's role, one transaction */
	MaskSession(conn);
	RuleArrays(rules, n, params);
	keys = BpExec(conn,
				  "WITH m AS (SELECT a.attrelid, a.attnum "
				  " FROM ROWS FROM (pg_catalog.unnest($1::pg_catalog.text[]), pg_catalog.unnest($2::pg_catalog.text[]), pg_catalog.unnest($3::pg_catalog.text[])) r(s, t, c) "
				  " JOIN pg_catalog.pg_namespace n ON n.nspname OPERATOR(pg_catalog.=) r.s "
				  " JOIN pg_catalog.pg_class k ON k.relnamespace OPERATOR(pg_catalog.=) n.oid AND k.relname OPERATOR(pg_catalog.=) r.t "
				  " JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) k.oid AND a.attname OPERATOR(pg_catalog.=) r.c) "
				  "SELECT pg_catalog.format('%I.%I', n.nspname, k.relname), pg_catalog.quote_ident(c.conname), "
				  " pg_catalog.pg_get_constraintdef(c.oid) "
				  "FROM pg_catalog.pg_constraint c JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.conrelid "
				  "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) k.relnamespace "
				  "WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.conparentid OPERATOR(pg_catalog.=) 0 "
				  "AND EXISTS (SELECT 1 FROM m WHERE (m.attrelid OPERATOR(pg_catalog.=) c.conrelid "
				  " AND m.attnum OPERATOR(pg_catalog.=) ANY (c.conkey)) OR (m.attrelid OPERATOR(pg_catalog.=) c.confrelid "
				  " AND m.attnum OPERATOR(pg_catalog.=) ANY (c.confkey))) ORDER BY 1, 2",
				  3, params, bp_operation_timeout_ms);
	for (int i = 0; i < PQntuples(keys); i++)
		BpExecCommand(conn, psprintf("ALTER TABLE %s DROP CONSTRAINT %s", PQgetvalue(keys, i, 0),
									 PQgetvalue(keys, i, 1)), bp_operation_timeout_ms);
	for (int first = 0; first < n;)
	{
		int			last = first;

		while (last + 1 < n && strcmp(rules[last + 1].schema, rules[first].schema) == 0 &&
			   strcmp(rules[last + 1].table, rules[first].table) == 0)
			last++;
		if (cols[first].table_found)
			MaskTable(conn, rules, cols, first, last, seed, out);
		else
			for (int i = first; i <= last; i++)
				appendStringInfo(&out->skipped, "%s\"%s.%s.%s\"", out->skipped.len > 1 ? ", " : "",
								 rules[i].schema, rules[i].table, rules[i].column);
		first = last + 1;
	}
	for (int i = 0; i < PQntuples(keys); i++)
		BpExecCommand(conn, psprintf("ALTER TABLE %s ADD CONSTRAINT %s %s", PQgetvalue(keys, i, 0),
									 PQgetvalue(keys, i, 1), PQgetvalue(keys, i, 2)), bp_operation_timeout_ms);
	out->keys = PQntuples(keys);
	PQclear(keys);
	rewritten = list_copy(out->tables);
	views = BpExec(conn, "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) FROM pg_catalog.pg_class c "
				   "JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace "
				   "WHERE c.relkind OPERATOR(pg_catalog.=) 'm' AND c.relispopulated "
				   "AND n.nspname OPERATOR(pg_catalog.<>) 'information_schema' "
				   "AND n.nspname OPERATOR(pg_catalog.!~) '^pg_' ORDER BY 1", 0, NULL, bp_operation_timeout_ms);
	for (int i = 0; i < PQntuples(views); i++)
	{
		char	   *v = pstrdup(PQgetvalue(views, i, 0));

		BpExecCommand(conn, psprintf("REFRESH MATERIALIZED VIEW %s", v), bp_operation_timeout_ms);
		rewritten = lappend(rewritten, v);
		out->views++;
	}
	PQclear(views);
	BpExecCommand(conn, "COMMIT", bp_operation_timeout_ms);
	appendStringInfoChar(&out->skipped, ']');

	/* 2. no old value left in a dead tuple, an index or a statistic */
	foreach(lc, rewritten)
		BpExecCommand(admin, psprintf("VACUUM (FULL, ANALYZE) %s", (char *) lfirst(lc)), bp_operation_timeout_ms);
	BpExecCommand(admin, "VACUUM FULL pg_catalog.pg_statistic, pg_catalog.pg_statistic_ext_data",
				  bp_operation_timeout_ms);
	BpExecCommand(admin, "CHECKPOINT", bp_operation_timeout_ms);
}
