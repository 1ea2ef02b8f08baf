/*
 * schemaread.c — a timeline's actual schema, read from its compute's
 * catalogs, and the state its ledger recorded.
 *
 * One query turns the catalogs of the project's database into facts
 * (kind, name, key, value) that schemafp.c sorts into a canonical schema:
 * schemas, tables and their columns, constraints, indexes, views,
 * sequences, functions, triggers, types, extensions and policies, with
 * owners and grants.  System schemas, branchpromote_ledger and the members
 * of extensions are left out.  It runs in the tenant's own session on a
 * fixed search_path (pg_catalog first, every name and operator qualified),
 * so nothing the tenant defined is called and the text of every name is
 * the same on every timeline.
 *
 * The recorded state is branchpromote_ledger.schema_state, one row in the
 * timeline's own database beside the ledger: a fork inherits it, and each
 * migration batch writes the state it leaves (ledger.c).
 */
#include "postgres.h"

#include "portability/instr_time.h"
#include "utils/json.h"
#include "utils/memutils.h"

#include "digest.h"
#include "guc.h"
#include "pgconn.h"
#include "schemaread.h"
#include "tenantconn.h"

static const char *const SchemaQuery =
	"WITH ns AS (\n"
	"  SELECT n.oid, n.nspname, n.nspowner, n.nspacl FROM pg_catalog.pg_namespace n\n"
	"  WHERE n.nspname OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog', 'information_schema', 'branchpromote_ledger'])\n"
	"    AND n.nspname OPERATOR(pg_catalog.!~) '^pg_(toast|temp_)'\n"
	"    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_namespace'::pg_catalog.regclass\n"
	"                    AND d.objid OPERATOR(pg_catalog.=) n.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')\n"
	"),\n"
	"rel AS (\n"
	"  SELECT c.oid, c.relkind, c.relowner, c.relacl, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity,\n"
	"         c.relispartition, c.relpartbound, c.reloptions,\n"
	"         pg_catalog.format('%I.%I', ns.nspname, c.relname) AS qname\n"
	"  FROM pg_catalog.pg_class c JOIN ns ON ns.oid OPERATOR(pg_catalog.=) c.relnamespace\n"
	"  WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'v', 'm', 'S', 'f']::pg_catalog.\"char\"[])\n"
	"    AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass\n"
	"                    AND d.objid OPERATOR(pg_catalog.=) c.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')\n"
	"),\n"
	"relkind(rk, kind) AS (VALUES ('r'::pg_catalog.\"char\", 'table'), ('p', 'table'), ('v', 'view'), ('m', 'materialized view'),\n"
	"                            ('S', 'sequence'), ('f', 'foreign table'))\n"
	"SELECT kind, name, key, value FROM (\n"
	"-- schemas\n"
	"SELECT 'schema' AS kind, pg_catalog.quote_ident(nspname) AS name, k AS key, v AS value\n"
	"FROM ns, LATERAL (VALUES ('owner', pg_catalog.pg_get_userbyid(nspowner)::pg_catalog.text),\n"
	"                         ('acl', (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text) FROM pg_catalog.unnest(nspacl) a))) x(k, v)\n"
	"UNION ALL\n"
	"-- relations\n"
	"SELECT rk.kind, r.qname, k, v\n"
	"FROM rel r JOIN relkind rk ON rk.rk OPERATOR(pg_catalog.=) r.relkind,\n"
	"LATERAL (VALUES ('owner', pg_catalog.pg_get_userbyid(r.relowner)::pg_catalog.text),\n"
	"                ('acl', (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text) FROM pg_catalog.unnest(r.relacl) a)),\n"
	"                ('persistence', CASE r.relpersistence WHEN 'u' THEN 'unlogged' END),\n"
	"                ('row_security', CASE WHEN r.relrowsecurity THEN 'enabled' END),\n"
	"                ('force_row_security', CASE WHEN r.relforcerowsecurity THEN 'forced' END),\n"
	"                ('partition_key', CASE WHEN r.relkind OPERATOR(pg_catalog.=) 'p' THEN pg_catalog.pg_get_partkeydef(r.oid) END),\n"
	"                ('partition_of', CASE WHEN r.relispartition THEN\n"
	"                   (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text, ',') FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) r.oid) END),\n"
	"                ('partition_bound', pg_catalog.pg_get_expr(r.relpartbound, r.oid)),\n"
	"                ('inherits', CASE WHEN NOT r.relispartition THEN\n"
	"                   (SELECT pg_catalog.string_agg(i.inhparent::pg_catalog.regclass::pg_catalog.text, ',' ORDER BY i.inhseqno) FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) r.oid) END),\n"
	"                ('options', (SELECT pg_catalog.string_agg(o, ',' ORDER BY o) FROM pg_catalog.unnest(r.reloptions) o)),\n"
	"                ('definition', CASE WHEN r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::pg_catalog.\"char\"[]) THEN pg_catalog.pg_get_viewdef(r.oid, true) END)) x(k, v)\n"
	"UNION ALL\n"
	"-- columns\n"
	"SELECT 'column', r.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(a.attname), k, v\n"
	"FROM rel r JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) r.oid\n"
	"  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped AND r.relkind OPERATOR(pg_catalog.<>) 'S'\n"
	"LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid OPERATOR(pg_catalog.=) a.attrelid AND ad.adnum OPERATOR(pg_catalog.=) a.attnum\n"
	"LEFT JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid,\n"
	"LATERAL (VALUES ('type', pg_catalog.format_type(a.atttypid, a.atttypmod)),\n"
	"                ('position', (SELECT pg_catalog.count(*) FROM pg_catalog.pg_attribute b WHERE b.attrelid OPERATOR(pg_catalog.=) a.attrelid\n"
	"                              AND b.attnum OPERATOR(pg_catalog.>) 0 AND b.attnum OPERATOR(pg_catalog.<=) a.attnum AND NOT b.attisdropped)::pg_catalog.text),\n"
	"                ('not_null', CASE WHEN a.attnotnull THEN 'true' END),\n"
	"                ('default', CASE WHEN a.attgenerated OPERATOR(pg_catalog.=) '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END),\n"
	"                ('generated', CASE WHEN a.attgenerated OPERATOR(pg_catalog.<>) '' THEN pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) END),\n"
	"                ('identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END),\n"
	"                ('collation', CASE WHEN a.attcollation OPERATOR(pg_catalog.<>) t.typcollation THEN\n"
	"                   (SELECT pg_catalog.format('%I.%I', cn.nspname, co.collname) FROM pg_catalog.pg_collation co\n"
	"                    JOIN pg_catalog.pg_namespace cn ON cn.oid OPERATOR(pg_catalog.=) co.collnamespace WHERE co.oid OPERATOR(pg_catalog.=) a.attcollation) END),\n"
	"                ('acl', (SELECT pg_catalog.string_agg(x::pg_catalog.text, ',' ORDER BY x::pg_catalog.text) FROM pg_catalog.unnest(a.attacl) x))) x(k, v)\n"
	"UNION ALL\n"
	"-- constraints of tables and domains\n"
	"SELECT 'constraint', COALESCE(r.qname, pg_catalog.format('%I.%I', tn.nspname, ty.typname)) OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(co.conname),\n"
	"       'definition', pg_catalog.pg_get_constraintdef(co.oid, true)\n"
	"FROM pg_catalog.pg_constraint co\n"
	"LEFT JOIN rel r ON r.oid OPERATOR(pg_catalog.=) co.conrelid\n"
	"LEFT JOIN pg_catalog.pg_type ty ON ty.oid OPERATOR(pg_catalog.=) co.contypid\n"
	"LEFT JOIN ns tn ON tn.oid OPERATOR(pg_catalog.=) ty.typnamespace\n"
	"WHERE r.oid IS NOT NULL OR tn.oid IS NOT NULL\n"
	"UNION ALL\n"
	"-- indexes\n"
	"SELECT 'index', pg_catalog.format('%I.%I', ns.nspname, ic.relname), k, v\n"
	"FROM pg_catalog.pg_index i JOIN rel r ON r.oid OPERATOR(pg_catalog.=) i.indrelid\n"
	"JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid\n"
	"JOIN pg_catalog.pg_namespace ns ON ns.oid OPERATOR(pg_catalog.=) ic.relnamespace,\n"
	"LATERAL (VALUES ('definition', pg_catalog.pg_get_indexdef(i.indexrelid)),\n"
	"                ('valid', CASE WHEN NOT i.indisvalid THEN 'false' END)) x(k, v)\n"
	"UNION ALL\n"
	"-- sequences\n"
	"SELECT 'sequence', r.qname, k, v\n"
	"FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid OPERATOR(pg_catalog.=) r.oid,\n"
	"LATERAL (VALUES ('type', pg_catalog.format_type(s.seqtypid, NULL)), ('start', s.seqstart::pg_catalog.text),\n"
	"                ('increment', s.seqincrement::pg_catalog.text), ('min', s.seqmin::pg_catalog.text), ('max', s.seqmax::pg_catalog.text),\n"
	"                ('cache', s.seqcache::pg_catalog.text), ('cycle', CASE WHEN s.seqcycle THEN 'true' END),\n"
	"                ('owned_by', (SELECT pg_catalog.format('%s.%I', d.refobjid::pg_catalog.regclass, at.attname) FROM pg_catalog.pg_depend d\n"
	"                              JOIN pg_catalog.pg_attribute at ON at.attrelid OPERATOR(pg_catalog.=) d.refobjid AND at.attnum OPERATOR(pg_catalog.=) d.refobjsubid\n"
	"                              WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid OPERATOR(pg_catalog.=) r.oid\n"
	"                                AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['a', 'i']::pg_catalog.\"char\"[])\n"
	"                              LIMIT 1))) x(k, v)\n"
	"UNION ALL\n"
	"-- functions, procedures, aggregates\n"
	"SELECT CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'a' THEN 'aggregate' ELSE 'function' END,\n"
	"       pg_catalog.format('%I.%I(%s)', ns.nspname, p.proname, pg_catalog.pg_get_function_identity_arguments(p.oid)), k, v\n"
	"FROM pg_catalog.pg_proc p JOIN ns ON ns.oid OPERATOR(pg_catalog.=) p.pronamespace,\n"
	"LATERAL (VALUES ('owner', pg_catalog.pg_get_userbyid(p.proowner)::pg_catalog.text),\n"
	"                ('acl', (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text) FROM pg_catalog.unnest(p.proacl) a)),\n"
	"                ('definition', CASE WHEN p.prokind OPERATOR(pg_catalog.<>) 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END),\n"
	"                ('aggregate', CASE WHEN p.prokind OPERATOR(pg_catalog.=) 'a' THEN\n"
	"                   (SELECT pg_catalog.concat_ws(' ', g.aggtransfn, g.aggfinalfn, g.aggcombinefn, pg_catalog.format_type(g.aggtranstype, NULL), g.agginitval)\n"
	"                    FROM pg_catalog.pg_aggregate g WHERE g.aggfnoid OPERATOR(pg_catalog.=) p.oid) END)) x(k, v)\n"
	"WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass\n"
	"                  AND d.objid OPERATOR(pg_catalog.=) p.oid AND d.deptype OPERATOR(pg_catalog.=) ANY (ARRAY['e', 'i']::pg_catalog.\"char\"[]))\n"
	"UNION ALL\n"
	"-- triggers\n"
	"SELECT 'trigger', r.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(tg.tgname), k, v\n"
	"FROM pg_catalog.pg_trigger tg JOIN rel r ON r.oid OPERATOR(pg_catalog.=) tg.tgrelid,\n"
	"LATERAL (VALUES ('definition', pg_catalog.pg_get_triggerdef(tg.oid, true)),\n"
	"                ('enabled', CASE tg.tgenabled WHEN 'O' THEN NULL WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' END)) x(k, v)\n"
	"WHERE NOT tg.tgisinternal\n"
	"UNION ALL\n"
	"-- types: enums, domains, composites, ranges, base types\n"
	"SELECT 'type', pg_catalog.format('%I.%I', ns.nspname, t.typname), k, v\n"
	"FROM pg_catalog.pg_type t JOIN ns ON ns.oid OPERATOR(pg_catalog.=) t.typnamespace\n"
	"LEFT JOIN pg_catalog.pg_class tc ON tc.oid OPERATOR(pg_catalog.=) t.typrelid,\n"
	"LATERAL (VALUES ('kind', CASE t.typtype WHEN 'e' THEN 'enum' WHEN 'd' THEN 'domain' WHEN 'c' THEN 'composite' WHEN 'r' THEN 'range' WHEN 'b' THEN 'base' ELSE t.typtype::pg_catalog.text END),\n"
	"                ('owner', pg_catalog.pg_get_userbyid(t.typowner)::pg_catalog.text),\n"
	"                ('acl', (SELECT pg_catalog.string_agg(a::pg_catalog.text, ',' ORDER BY a::pg_catalog.text) FROM pg_catalog.unnest(t.typacl) a)),\n"
	"                ('labels', CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'e' THEN\n"
	"                   (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder) FROM pg_catalog.pg_enum e WHERE e.enumtypid OPERATOR(pg_catalog.=) t.oid) END),\n"
	"                ('base_type', CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'd' THEN pg_catalog.format_type(t.typbasetype, t.typtypmod) END),\n"
	"                ('not_null', CASE WHEN t.typnotnull THEN 'true' END),\n"
	"                ('default', t.typdefault),\n"
	"                ('attributes', CASE WHEN t.typtype OPERATOR(pg_catalog.=) 'c' THEN\n"
	"                   (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)\n"
	"                    FROM pg_catalog.pg_attribute a WHERE a.attrelid OPERATOR(pg_catalog.=) t.typrelid AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) END),\n"
	"                ('subtype', (SELECT pg_catalog.format_type(rg.rngsubtype, NULL) FROM pg_catalog.pg_range rg WHERE rg.rngtypid OPERATOR(pg_catalog.=) t.oid))) x(k, v)\n"
	"WHERE t.typtype OPERATOR(pg_catalog.=) ANY (ARRAY['e', 'd', 'c', 'r', 'b']::pg_catalog.\"char\"[])\n"
	"  AND (t.typtype OPERATOR(pg_catalog.<>) 'c' OR tc.relkind OPERATOR(pg_catalog.=) 'c')\n"
	"  AND NOT (t.typtype OPERATOR(pg_catalog.=) 'b' AND t.typcategory OPERATOR(pg_catalog.=) 'A')\n"
	"  AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_type'::pg_catalog.regclass\n"
	"                  AND d.objid OPERATOR(pg_catalog.=) t.oid AND d.deptype OPERATOR(pg_catalog.=) 'e')\n"
	"UNION ALL\n"
	"-- extensions\n"
	"SELECT 'extension', pg_catalog.quote_ident(e.extname), k, v\n"
	"FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace en ON en.oid OPERATOR(pg_catalog.=) e.extnamespace,\n"
	"LATERAL (VALUES ('version', e.extversion), ('schema', en.nspname::pg_catalog.text)) x(k, v)\n"
	"UNION ALL\n"
	"-- row security policies\n"
	"SELECT 'policy', r.qname OPERATOR(pg_catalog.||) '.' OPERATOR(pg_catalog.||) pg_catalog.quote_ident(po.polname), k, v\n"
	"FROM pg_catalog.pg_policy po JOIN rel r ON r.oid OPERATOR(pg_catalog.=) po.polrelid,\n"
	"LATERAL (VALUES ('command', CASE po.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END),\n"
	"                ('permissive', CASE WHEN po.polpermissive THEN 'permissive' ELSE 'restrictive' END),\n"
	"                ('roles', (SELECT pg_catalog.string_agg(rn, ',' ORDER BY rn) FROM (SELECT CASE WHEN ro OPERATOR(pg_catalog.=) 0 THEN 'public'\n"
	"                           ELSE pg_catalog.pg_get_userbyid(ro)::pg_catalog.text END FROM pg_catalog.unnest(po.polroles) ro) rr(rn))),\n"
	"                ('using', pg_catalog.pg_get_expr(po.polqual, po.polrelid)),\n"
	"                ('with_check', pg_catalog.pg_get_expr(po.polwithcheck, po.polrelid))) x(k, v)\n"
	") facts WHERE value IS NOT NULL\n";

/* Fill st's text, fingerprint and count from its schema. */
static void
Seal(BpSchemaState *st)
{
	st->text = BpSchemaSerialize(st->schema);
	st->fingerprint = BpSha256Hex(st->text);
	st->objects = st->schema->nobjects;
}

/*
 * The actual schema of the connected database.  The caller's session has
 * search_path pg_catalog first (a reader's pinned session, or SET LOCAL
 * inside a migration batch): regclass output is qualified by it.
 */
void
SchemaRead(PGconn *conn, BpSchemaState *out)
{
	instr_time	start;
	instr_time	end;
	PGresult   *res;
	int			n;
	BpSchemaRow *rows;

	INSTR_TIME_SET_CURRENT(start);
	res = BpExec(conn, SchemaQuery, 0, NULL, bp_operation_timeout_ms);
	n = PQntuples(res);
	rows = palloc(sizeof(BpSchemaRow) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		rows[i].kind = PQgetvalue(res, i, 0);
		rows[i].name = PQgetvalue(res, i, 1);
		rows[i].key = PQgetvalue(res, i, 2);
		rows[i].value = PQgetvalue(res, i, 3);
	}
	out->schema = BpSchemaBuild(rows, n);	/* copies what it keeps */
	PQclear(res);
	Seal(out);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	out->ms = INSTR_TIME_GET_MILLISEC(end);
}

/* Has this timeline the table of the recorded state (not before 0.6.0)? */
static bool
StateTableExists(PGconn *conn)
{
	PGresult   *res = BpExec(conn, "SELECT pg_catalog.to_regclass('branchpromote_ledger.schema_state') IS NOT NULL",
							 0, NULL, bp_operation_timeout_ms);
	bool		exists = strcmp(PQgetvalue(res, 0, 0), "t") == 0;

	PQclear(res);
	return exists;
}

/*
 * The state this timeline's ledger recorded; false when it has none (a
 * timeline made before 0.6.0: unknown, not drift).  A row that does not
 * parse (it is the tenant's table: something changed it) is refused when
 * strict, else taken as none (accept_schema, which records it again).
 */
bool
SchemaRecorded(PGconn *conn, BpSchemaState *out, bool strict)
{
	PGresult   *res;

	if (!StateTableExists(conn))
		return false;
	res = BpExec(conn, "SELECT objects FROM branchpromote_ledger.schema_state", 0, NULL,
				 bp_operation_timeout_ms);
	if (PQntuples(res) != 1)
	{
		PQclear(res);
		return false;
	}
	memset(out, 0, sizeof(*out));
	out->schema = BpSchemaParse(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (out->schema == NULL && !strict)
		return false;
	if (out->schema == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the recorded schema in branchpromote_ledger.schema_state does not parse"),
				 errdetail("The table belongs to the project's role; something connected as that role changed it."),
				 errhint("Record the timeline's current schema again with branchpromote.accept_schema().")));
	Seal(out);
	return true;
}

/*
 * Does the timeline record exactly st already (fingerprint and objects)?
 * Compared by the compute, so nothing is parsed here.
 */
bool
SchemaRecordedIs(PGconn *conn, const BpSchemaState *st)
{
	const char *params[2] = {st->fingerprint, st->text};
	PGresult   *res;
	bool		same;

	if (!StateTableExists(conn))
		return false;
	res = BpExec(conn, "SELECT count(*) FROM branchpromote_ledger.schema_state "
				 "WHERE fingerprint OPERATOR(pg_catalog.=) $1 AND objects OPERATOR(pg_catalog.=) $2",
				 2, params, bp_operation_timeout_ms);
	same = strcmp(PQgetvalue(res, 0, 0), "1") == 0;
	PQclear(res);
	return same;
}

/* Make the table of the recorded state if this timeline has none yet. */
void
SchemaEnsureTable(PGconn *conn)
{
	BpExecCommand(conn, "CREATE TABLE IF NOT EXISTS branchpromote_ledger.schema_state ("
				  "singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton), "
				  "fingerprint text NOT NULL, objects text NOT NULL, "
				  "recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now())",
				  bp_operation_timeout_ms);
}

/*
 * Record st as this timeline's schema, and give the ledger rows of versions
 * its fingerprint (the state those migrations left).
 */
void
SchemaRecord(PGconn *conn, const BpSchemaState *st, const char *const *versions, int nversions)
{
	const char *params[2] = {st->fingerprint, st->text};

	SchemaEnsureTable(conn);
	PQclear(BpExec(conn, "INSERT INTO branchpromote_ledger.schema_state (fingerprint, objects) "
				   "VALUES ($1, $2) ON CONFLICT (singleton) DO UPDATE SET "
				   "fingerprint = EXCLUDED.fingerprint, objects = EXCLUDED.objects, "
				   "recorded_at = pg_catalog.now()", 2, params, bp_operation_timeout_ms));
	for (int i = 0; i < nversions; i++)
	{
		const char *p[2] = {st->fingerprint, versions[i]};

		PQclear(BpExec(conn, "UPDATE branchpromote_ledger.migrations SET schema_fingerprint = $1 "
					   "WHERE version = $2", 2, p, bp_operation_timeout_ms));
	}
}

/*
 * Read actual and recorded over one session; drift if both exist and
 * differ.  strict: see SchemaRecorded.
 */
void
SchemaCheck(PGconn *conn, BpSchemaCheck *out, bool strict)
{
	memset(out, 0, sizeof(*out));
	SchemaRead(conn, &out->actual);
	out->recorded = SchemaRecorded(conn, &out->rec, strict);
	if (out->recorded && strcmp(out->rec.fingerprint, out->actual.fingerprint) != 0)
		out->drift = BpSchemaCompare(out->rec.schema, out->actual.schema);
}

/* A check as JSON: {"fingerprint", "objects", "recorded", "drift", "ms"}. */
char *
SchemaCheckJson(const BpSchemaCheck *c)
{
	StringInfoData j;

	initStringInfo(&j);
	appendStringInfoString(&j, "{\"fingerprint\": ");
	escape_json(&j, c->actual.fingerprint);
	appendStringInfo(&j, ", \"objects\": %d, \"recorded\": ", c->actual.objects);
	if (c->recorded)
		escape_json(&j, c->rec.fingerprint);
	else
		appendStringInfoString(&j, "null");
	appendStringInfo(&j, ", \"drift\": %s, \"ms\": %.3f}",
					 c->drift ? BpSchemaDiffJson(c->drift) : "null", c->actual.ms);
	return j.data;
}

/*
 * A running compute's check, as its project's role, or false (logged) if
 * it could not be read.  libpq only: nothing an abort must release, as
 * ledger.c's Try, so the error is dropped here without one.
 */
bool
SchemaCheckQuietly(const BpComputeSpec *spec, const char *project, const char *password,
				   BpSchemaCheck *check)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		PGconn	   *conn = LedgerConnectReader(spec, project, password);

		SchemaCheck(conn, check, true);
		BpDisconnect(conn);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("branchpromote: could not read the schema of project %s's timeline " INT64_FORMAT ": %s",
						project, spec->timeline_id, ed->message)));
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* The check of a timeline whose record is st, just written: no drift. */
char *
SchemaRecordedJson(const BpSchemaState *st)
{
	BpSchemaCheck c;

	memset(&c, 0, sizeof(c));
	c.actual = *st;
	c.recorded = true;
	c.rec = *st;
	return SchemaCheckJson(&c);
}
