/*
 * catalog.c — the only code that reads and writes branchpromote's tables.
 *
 * Table and column names live here and nowhere else.  API functions are
 * SECURITY INVOKER and check the caller's rights first; CatalogBegin then
 * switches to the extension's owner (tables are REVOKEd from PUBLIC) for
 * the catalog work.  Transaction abort restores the caller's identity.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "commands/extension.h"
#include "executor/spi.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "guc.h"

static Oid	saved_user = InvalidOid;
static int	saved_sec = 0;

/* Is the extension installed in this database? */
bool
CatalogExtensionInstalled(void)
{
	return OidIsValid(get_extension_oid("branchpromote", true));
}

char		bp_incarnation[40] = "";
static LocalTransactionId incarnation_lxid = InvalidLocalTransactionId;
static void ReadIncarnation(void);

/* Connect SPI and act as the extension's owner. */
void
CatalogBegin(void)
{
	Oid			nsp = get_namespace_oid("branchpromote", false);
	HeapTuple	tup = SearchSysCache1(NAMESPACEOID, ObjectIdGetDatum(nsp));
	Oid			owner;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for namespace %u", nsp);
	owner = ((Form_pg_namespace) GETSTRUCT(tup))->nspowner;
	ReleaseSysCache(tup);
	GetUserIdAndSecContext(&saved_user, &saved_sec);
	SetUserIdAndSecContext(owner, saved_sec | SECURITY_LOCAL_USERID_CHANGE);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ReadIncarnation();
}

/*
 * What an owner file says besides its creating transaction: the catalog's
 * incarnation and the control server's WAL timeline.  NULL if no catalog
 * session has read the incarnation yet.
 */
char *
BpOwnerStamp(void)
{
	if (bp_incarnation[0] == '\0')
		return NULL;
	return psprintf("%s %u", bp_incarnation, (unsigned int) GetWALInsertionTimeLine());
}

/* Who called: the user in effect before CatalogBegin switched to the owner. */
Oid
CatalogCaller(void)
{
	Assert(OidIsValid(saved_user));
	return saved_user;
}

/* Disconnect SPI and act as the caller again. */
void
CatalogEnd(void)
{
	SPI_finish();
	SetUserIdAndSecContext(saved_user, saved_sec);
}

/* Run one statement with up to 8 arguments; nulls[i] == 'n' for NULL. */
static int
Run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
	int expect)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expect)
		elog(ERROR, "branchpromote catalog statement failed (%d): %s", rc, sql);
	return (int) SPI_processed;
}

/*
 * May the caller (between CatalogBegin and CatalogEnd) see a project's
 * rows?  As branchpromote._can_see: viewers and admins see every project;
 * others only those whose owner role they have.  project NULL (never
 * routed) or unknown (dropped): only viewers and admins.  actor, if given:
 * the caller's own calls are always theirs to see.
 */
bool
CatalogCallerSees(const char *project, const char *actor)
{
	Oid			caller = CatalogCaller();
	const char *const wide[] = {"branchpromote_viewer", "branchpromote_admin"};
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	bool		isnull;

	if (actor != NULL)
	{
		char	   *me = GetUserNameFromId(caller, true);

		if (me != NULL && strcmp(me, actor) == 0)
			return true;
	}
	for (int i = 0; i < lengthof(wide); i++)
	{
		Oid			role = get_role_oid(wide[i], true);

		if (OidIsValid(role) && has_privs_of_role(caller, role))
			return true;
	}
	if (project == NULL)
		return false;
	values[0] = CStringGetTextDatum(project);
	if (Run("SELECT owner FROM branchpromote.project WHERE name = $1", 1, types, values, NULL,
			SPI_OK_SELECT) != 1)
		return false;
	return has_privs_of_role(caller, DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0],
																	 SPI_tuptable->tupdesc, 1,
																	 &isnull)));
}

static Datum
Col(int row, int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col, isnull);
}

/* The catalog's incarnation, read once per transaction (SPI connected). */
static void
ReadIncarnation(void)
{
	bool		isnull;

	if (incarnation_lxid == MyProc->lxid && bp_incarnation[0] != '\0' &&
		strcmp(bp_incarnation, "pre-0.5.0") != 0)
		return;					/* (the fallback is read again: an update may come) */
	Run("SELECT pg_catalog.to_regclass('branchpromote.incarnation') IS NOT NULL",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	/* a catalog not yet updated to 0.5.0 has none: one stamp for all of it */
	if (DatumGetBool(Col(0, 1, &isnull)) &&
		Run("SELECT id::pg_catalog.text FROM branchpromote.incarnation", 0, NULL, NULL, NULL,
			SPI_OK_SELECT) > 0)
		strlcpy(bp_incarnation, TextDatumGetCString(Col(0, 1, &isnull)), sizeof(bp_incarnation));
	else
		strlcpy(bp_incarnation, "pre-0.5.0", sizeof(bp_incarnation));
	incarnation_lxid = MyProc->lxid;
}


static int64
ColInt64(int row, int col)
{
	bool		isnull;
	Datum		d = Col(row, col, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

static int
ColInt32(int row, int col)
{
	bool		isnull;
	Datum		d = Col(row, col, &isnull);

	return isnull ? 0 : DatumGetInt32(d);
}

/* A text column copied into the caller's memory context (NULL stays NULL). */
static char *
ColText(int row, int col)
{
	char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, col);
	char	   *copy;

	if (v == NULL)
		return NULL;
	copy = SPI_palloc(strlen(v) + 1);
	strcpy(copy, v);
	return copy;
}

/* The first column of every row of a query, as ids (List of int64 *). */
static List *
Ids(const char *sql, int nargs, Oid *types, Datum *values)
{
	List	   *out = NIL;
	int			n = Run(sql, nargs, types, values, NULL, SPI_OK_SELECT);

	for (int i = 0; i < n; i++)
	{
		int64	   *id = SPI_palloc(sizeof(int64));

		*id = ColInt64(i, 1);
		out = lappend(out, id);
	}
	return out;
}

/* Serialize creation of projects with this name (transaction lock). */
void
CatalogLockProjectName(const char *name)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};

	Run("SELECT pg_catalog.pg_advisory_xact_lock("
		"'branchpromote.project'::pg_catalog.regclass::pg_catalog.int4, "
		"pg_catalog.hashtext($1))", 1, types, values, NULL, SPI_OK_SELECT);
}

/*
 * Is the catalog 0.7.0's (recovery window, protection, masking)?  A 0.7.0
 * library on a catalog whose ALTER EXTENSION UPDATE is pending (or inside
 * the update scripts of a fresh CREATE EXTENSION) reads it as before.
 */
bool
CatalogHasRecoveryWindow(void)
{
	/* a yes holds for the rest of the transaction (a no may not: an update may follow) */
	static LocalTransactionId yes_lxid = InvalidLocalTransactionId;

	if (yes_lxid == MyProc->lxid)
		return true;
	if (Run("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'branchpromote.project'::pg_catalog.regclass "
			"AND attname = 'dropped_at' AND NOT attisdropped", 0, NULL, NULL, NULL, SPI_OK_SELECT) == 0)
		return false;
	yes_lxid = MyProc->lxid;
	return true;
}

/* Look a project up by name, optionally locking it for the transaction. */
bool
CatalogFindProject(const char *name, bool for_update, BpProject *out)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;
	bool		v7 = CatalogHasRecoveryWindow();
	const char *sql = for_update ?
		(v7 ? "SELECT id, name, owner, app_password FROM branchpromote.project "
		 "WHERE name = $1 AND dropped_at IS NULL FOR UPDATE" :
		 "SELECT id, name, owner, app_password FROM branchpromote.project WHERE name = $1 FOR UPDATE") :
		(v7 ? "SELECT id, name, owner, app_password FROM branchpromote.project "
		 "WHERE name = $1 AND dropped_at IS NULL" :
		 "SELECT id, name, owner, app_password FROM branchpromote.project WHERE name = $1");

	if (Run(sql, 1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	out->id = ColInt64(0, 1);
	out->name = ColText(0, 2);
	out->owner = DatumGetObjectId(Col(0, 3, &isnull));
	out->password = ColText(0, 4);
	return true;
}

int64
CatalogInsertProject(const char *name, Oid owner, const char *password)
{
	Oid			types[3] = {TEXTOID, OIDOID, TEXTOID};
	Datum		values[3] = {CStringGetTextDatum(name), ObjectIdGetDatum(owner),
	CStringGetTextDatum(password)};

	Run("INSERT INTO branchpromote.project (name, owner, app_password) "
		"VALUES ($1, $2, $3) RETURNING id", 3, types, values, NULL, SPI_OK_INSERT_RETURNING);
	return ColInt64(0, 1);
}

/*
 * A dropped project by name, locked, and whether it is still within its
 * recovery window (its data kept); false if no dropped project has it.
 */
bool
CatalogFindDroppedProject(const char *name, BpProject *out, char **kept_until)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(name)};
	bool		isnull;

	if (!CatalogHasRecoveryWindow())
		return false;
	if (Run("SELECT id, name, owner, app_password, kept_until::text FROM branchpromote.project "
			"WHERE name = $1 AND dropped_at IS NOT NULL FOR UPDATE",
			1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	out->id = ColInt64(0, 1);
	out->name = ColText(0, 2);
	out->owner = DatumGetObjectId(Col(0, 3, &isnull));
	out->password = ColText(0, 4);
	*kept_until = ColText(0, 5);
	return true;
}

/*
 * Drop a project for the recovery window: hidden from every call, view and
 * route, its computes stopped by the reconciler, its data kept.  Returns
 * when it will be removed.
 */
char *
CatalogDropProject(int64 project_id, int window_s)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(project_id), Int32GetDatum(window_s)};

	Run("UPDATE branchpromote.compute SET desired_state = 'stopped' WHERE project_id = $1",
		1, types, values, NULL, SPI_OK_UPDATE);
	Run("UPDATE branchpromote.project SET dropped_at = pg_catalog.now(), "
		"kept_until = pg_catalog.now() + $2 * interval '1 second' WHERE id = $1 "
		"RETURNING kept_until::text", 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	return ColText(0, 1);
}

/* Bring a dropped project back: its computes wake on demand, as suspended ones. */
void
CatalogUndropProject(int64 project_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};

	Run("UPDATE branchpromote.compute SET desired_state = 'running', "
		"actual_state = CASE WHEN actual_state = 'stopped' THEN 'suspended' ELSE actual_state END "
		"WHERE project_id = $1", 1, types, values, NULL, SPI_OK_UPDATE);
	Run("UPDATE branchpromote.project SET dropped_at = NULL, kept_until = NULL WHERE id = $1",
		1, types, values, NULL, SPI_OK_UPDATE);
}

/* Delete a project; its timelines, environments, computes and deploys cascade. */
void
CatalogDeleteProject(int64 project_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};

	Run("DELETE FROM branchpromote.project WHERE id = $1", 1, types, values, NULL,
		SPI_OK_DELETE);
}

/*
 * The recovery window's end, for the reconciler: delete the dropped
 * projects past it (their rows cascade; the directories no row names then
 * go by the usual rule), and let go of the discarded branches past it (their
 * snapshot and ledger mirror rows go; the timeline row stays, keeping the
 * name).  Projects and timelines an operation holds wait for the next pass.
 * Returns how many of each.
 */
void
CatalogPurgeExpired(int *projects, int *branches)
{
	*projects = Run("DELETE FROM branchpromote.project WHERE id IN ("
					"SELECT id FROM branchpromote.project WHERE dropped_at IS NOT NULL "
					"AND kept_until <= pg_catalog.now() FOR UPDATE SKIP LOCKED)",
					0, NULL, NULL, NULL, SPI_OK_DELETE);
	*branches = Run("WITH gone AS (UPDATE branchpromote.timeline SET kept_until = NULL "
					"WHERE id IN (SELECT t.id FROM branchpromote.timeline t "
					"JOIN branchpromote.project p ON p.id = t.project_id "
					"WHERE t.discarded_at IS NOT NULL AND t.kept_until <= pg_catalog.now() "
					"FOR KEY SHARE OF p SKIP LOCKED) RETURNING id), "
					"s AS (DELETE FROM branchpromote.snapshot WHERE timeline_id IN (SELECT id FROM gone)), "
					"l AS (DELETE FROM branchpromote.ledger_mirror WHERE timeline_id IN (SELECT id FROM gone)) "
					"SELECT id FROM gone", 0, NULL, NULL, NULL, SPI_OK_SELECT);
}

/* ----------------------------------------------------------- masking */

static char *FirstText(const char *sql, int64 id);
static bool Exists(const char *sql, int64 id);

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

/* ----------------------------------------------------------- protection */

/* Is this environment or branch of the project protected? */
bool
CatalogIsProtected(int64 project_id, const char *name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(name)};

	return Run("SELECT 1 FROM branchpromote.protection WHERE project_id = $1 AND name = $2",
			   2, types, values, NULL, SPI_OK_SELECT) > 0;
}

/* Protect a name (true) or find it already protected (false). */
bool
CatalogProtect(int64 project_id, const char *name, Oid by)
{
	Oid			types[3] = {INT8OID, TEXTOID, OIDOID};
	Datum		values[3] = {Int64GetDatum(project_id), CStringGetTextDatum(name),
	ObjectIdGetDatum(by)};

	return Run("INSERT INTO branchpromote.protection (project_id, name, protected_by) "
			   "VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
			   3, types, values, NULL, SPI_OK_INSERT) > 0;
}

/* Unprotect a name (true) or find it unprotected (false). */
bool
CatalogUnprotect(int64 project_id, const char *name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(name)};

	return Run("DELETE FROM branchpromote.protection WHERE project_id = $1 AND name = $2",
			   2, types, values, NULL, SPI_OK_DELETE) > 0;
}

/* The project's protected names, comma-separated in order; NULL if none. */
char *
CatalogProtectedNames(int64 project_id)
{
	return FirstText("SELECT pg_catalog.string_agg(name, ', ' ORDER BY name) "
					 "FROM branchpromote.protection WHERE project_id = $1", project_id);
}

/* A timeline id, taken before the directory is made (non-transactional). */
int64
CatalogNextTimelineId(void)
{
	Run("SELECT pg_catalog.nextval('branchpromote.timeline_id_seq')", 0, NULL, NULL, NULL,
		SPI_OK_SELECT);
	return ColInt64(0, 1);
}

void
CatalogInsertTimeline(int64 id, int64 project_id, const char *kind, int64 parent_id,
					  XLogRecPtr fork_lsn, const char *clone_method)
{
	Oid			types[6] = {INT8OID, INT8OID, TEXTOID, INT8OID, PG_LSNOID, TEXTOID};
	Datum		values[6] = {Int64GetDatum(id), Int64GetDatum(project_id),
		CStringGetTextDatum(kind), Int64GetDatum(parent_id), LSNGetDatum(fork_lsn),
	CStringGetTextDatum(clone_method)};
	char		nulls[7] = "      ";

	if (parent_id == 0)
	{
		nulls[3] = 'n';
		nulls[4] = 'n';
	}
	Run("INSERT INTO branchpromote.timeline "
		"(id, project_id, kind, parent_id, fork_lsn, durable, clone_method) "
		"VALUES ($1, $2, $3, $4, $5, $3 IN ('dev', 'prod', 'backup'), $6)",
		6, types, values, nulls, SPI_OK_INSERT);
}

static bool
Exists(const char *sql, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	return Run(sql, 1, types, values, NULL, SPI_OK_SELECT) > 0;
}

/* The first column of the first row of a query on one id, or NULL. */
static char *
FirstText(const char *sql, int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	if (Run(sql, 1, types, values, NULL, SPI_OK_SELECT) == 0)
		return NULL;
	return ColText(0, 1);
}

bool
CatalogTimelineExists(int64 id)
{
	if (!CatalogHasRecoveryWindow())
		return Exists("SELECT 1 FROM branchpromote.timeline WHERE id = $1 AND discarded_at IS NULL", id);
	return Exists("SELECT 1 FROM branchpromote.timeline WHERE id = $1 "
				  "AND (discarded_at IS NULL OR kept_until IS NOT NULL)", id);
}

bool
CatalogTimelineHasCompute(int64 id)
{
	return Exists("SELECT 1 FROM branchpromote.compute WHERE timeline_id = $1", id);
}

bool
CatalogComputeExists(int64 id)
{
	return Exists("SELECT 1 FROM branchpromote.compute WHERE id = $1", id);
}

/* Ids of a project's timelines (List of int64 *). */
List *
CatalogProjectTimelines(int64 project_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(project_id)};

	return Ids("SELECT id FROM branchpromote.timeline WHERE project_id = $1 ORDER BY id",
			   1, types, values);
}

/* Point env at a timeline (insert or move the pointer). */
void
CatalogSetEnvironment(int64 project_id, const char *env, int64 timeline_id,
					  const char *release)
{
	Oid			types[4] = {INT8OID, TEXTOID, INT8OID, TEXTOID};
	Datum		values[4] = {Int64GetDatum(project_id), CStringGetTextDatum(env),
		Int64GetDatum(timeline_id),
	release ? CStringGetTextDatum(release) : (Datum) 0};
	char		nulls[5] = "    ";

	if (release == NULL)
		nulls[3] = 'n';
	Run("INSERT INTO branchpromote.environment (project_id, name, timeline_id, release) "
		"VALUES ($1, $2, $3, $4) ON CONFLICT (project_id, name) DO UPDATE "
		"SET timeline_id = EXCLUDED.timeline_id, release = EXCLUDED.release",
		4, types, values, nulls, SPI_OK_INSERT);
}

bool
CatalogGetEnvironment(int64 project_id, const char *env, int64 *timeline_id,
					  char **release)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(env)};

	if (Run("SELECT timeline_id, release FROM branchpromote.environment "
			"WHERE project_id = $1 AND name = $2", 2, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	*timeline_id = ColInt64(0, 1);
	if (release)
		*release = ColText(0, 2);
	return true;
}

/*
 * Ports in the configured range that no compute row uses, lowest first (at
 * most max): candidates; CatalogClaimPort takes one.
 */
List *
CatalogFreePorts(int max)
{
	Oid			types[3] = {INT4OID, INT4OID, INT4OID};
	Datum		values[3] = {Int32GetDatum(bp_compute_port_base),
		Int32GetDatum(Min(65535, bp_compute_port_base + bp_compute_port_count - 1)),
	Int32GetDatum(max)};
	List	   *out = NIL;
	int			n;

	n = Run("SELECT p FROM pg_catalog.generate_series($1, $2) AS p "
			"WHERE NOT EXISTS (SELECT 1 FROM branchpromote.compute c WHERE c.port = p) "
			"ORDER BY p LIMIT $3", 3, types, values, NULL, SPI_OK_SELECT);
	for (int i = 0; i < n; i++)
		out = lappend_int(out, ColInt32(i, 1));
	return out;
}

/* Serialize admin calls on one stored timeline (purge, adopt) until this transaction ends. */
void
CatalogLockStoredTimeline(int64 timeline_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};

	Run("SELECT pg_catalog.pg_advisory_xact_lock("
		"'branchpromote.timeline'::pg_catalog.regclass::pg_catalog.int4, ($1 % 2147483647)::pg_catalog.int4)",
		1, types, values, NULL, SPI_OK_SELECT);
}

/*
 * Claim a port for this transaction: its own transaction lock (so callers
 * in other projects never wait for each other: each skips a port another
 * holds), and, with the lock held, no committed row using it.
 */
bool
CatalogClaimPort(int port)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(port)};
	bool		isnull;

	Run("SELECT pg_catalog.pg_try_advisory_xact_lock("
		"'branchpromote.compute'::pg_catalog.regclass::pg_catalog.int4, $1) "
		"AND NOT EXISTS (SELECT 1 FROM branchpromote.compute c WHERE c.port = $1)",
		1, types, values, NULL, SPI_OK_SELECT);
	return DatumGetBool(Col(0, 1, &isnull));
}

int64
CatalogInsertCompute(int64 project_id, const char *env, int64 timeline_id, int port,
					 int pid)
{
	Oid			types[5] = {INT8OID, TEXTOID, INT8OID, INT4OID, INT4OID};
	Datum		values[5] = {Int64GetDatum(project_id), CStringGetTextDatum(env),
	Int64GetDatum(timeline_id), Int32GetDatum(port), Int32GetDatum(pid)};

	Run("INSERT INTO branchpromote.compute "
		"(project_id, env, timeline_id, port, actual_state, pid) "
		"VALUES ($1, $2, $3, $4, 'starting', NULLIF($5, 0)) RETURNING id",
		5, types, values, NULL, SPI_OK_INSERT_RETURNING);
	return ColInt64(0, 1);
}

#define COMPUTE_COLUMNS \
	"SELECT c.id, c.project_id, p.name, c.env, c.timeline_id, c.port, " \
	"c.desired_state, c.actual_state, c.pid, p.app_password " \
	"FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id "

static void
ComputeFromRow(BpComputeRow *out)
{
	out->id = ColInt64(0, 1);
	out->project_id = ColInt64(0, 2);
	out->project = ColText(0, 3);
	out->env = ColText(0, 4);
	out->spec.compute_id = out->id;
	out->spec.timeline_id = ColInt64(0, 5);
	out->spec.port = ColInt32(0, 6);
	out->desired_state = ColText(0, 7);
	out->actual_state = ColText(0, 8);
	out->pid = ColInt32(0, 9);
	out->project_password = ColText(0, 10);
}

bool
CatalogGetCompute(int64 project_id, const char *env, BpComputeRow *out)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(env)};

	if (Run(COMPUTE_COLUMNS "WHERE c.project_id = $1 AND c.env = $2",
			2, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	ComputeFromRow(out);
	return true;
}

/*
 * A compute by id.  With lock_project, its project is locked FOR SHARE
 * unless an operation holds it; *locked then says which (a compute that
 * exists but is busy returns true with *locked = false).
 */
bool
CatalogGetComputeById(int64 id, bool lock_project, bool *locked, BpComputeRow *out)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	*locked = false;
	if (lock_project)
	{
		if (Run(COMPUTE_COLUMNS "WHERE c.id = $1 FOR SHARE OF p SKIP LOCKED",
				1, types, values, NULL, SPI_OK_SELECT) > 0)
		{
			*locked = true;
			ComputeFromRow(out);
			return true;
		}
	}
	if (Run(COMPUTE_COLUMNS "WHERE c.id = $1", 1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	ComputeFromRow(out);
	return true;
}

/* Record what the reconciler observed or did. */
void
CatalogSetComputeState(int64 id, const char *actual_state, int pid, const char *error)
{
	Oid			types[4] = {INT8OID, TEXTOID, INT4OID, TEXTOID};
	Datum		values[4] = {Int64GetDatum(id), CStringGetTextDatum(actual_state),
	Int32GetDatum(pid), error ? CStringGetTextDatum(error) : (Datum) 0};
	char		nulls[5] = "    ";

	if (pid == 0)
		nulls[2] = 'n';
	if (error == NULL)
		nulls[3] = 'n';
	Run("UPDATE branchpromote.compute SET actual_state = $2, pid = $3, last_error = $4, "
		"last_active = CASE WHEN $2 = 'running' THEN pg_catalog.clock_timestamp() ELSE last_active END "
		"WHERE id = $1", 4, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * Every compute as the reconciler's pass sees it, previews and dev first,
 * prod last (SPI_palloc'd array of *n).  manifest_key digests everything its
 * manifest is rendered from: the template row, its own row's inputs, and
 * renderer (a digest of the rendering code's output, so a new version of
 * the renderer renders every manifest again).
 */
BpComputeBrief *
CatalogComputeBriefs(const char *renderer, int *n)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(renderer)};
	BpComputeBrief *out;
	const char *stored;

	*n = Run("SELECT c.id, c.desired_state, c.actual_state, "
			 "pg_catalog.md5(pg_catalog.concat_ws('|', p.name, c.env, t.kind, c.timeline_id, c.port, "
			 "(SELECT pg_catalog.md5($1 || tm::text) FROM branchpromote.compute_template tm))), "
			 "c.timeline_id, c.port, c.manifest_key "
			 "FROM branchpromote.compute c "
			 "JOIN branchpromote.project p ON p.id = c.project_id "
			 "JOIN branchpromote.timeline t ON t.id = c.timeline_id "
			 "ORDER BY c.env = 'prod', c.id", 1, types, values, NULL, SPI_OK_SELECT);
	out = SPI_palloc(sizeof(BpComputeBrief) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].id = ColInt64(i, 1);
		out[i].running = strcmp(ColText(i, 2), "running") == 0;
		out[i].suspended = strcmp(ColText(i, 3), "suspended") == 0;
		out[i].actual_running = strcmp(ColText(i, 3), "running") == 0;
		out[i].stopped = strcmp(ColText(i, 3), "stopped") == 0;
		strlcpy(out[i].manifest_key, ColText(i, 4), sizeof(out[i].manifest_key));
		out[i].spec.compute_id = out[i].id;
		out[i].spec.timeline_id = ColInt64(i, 5);
		out[i].spec.port = ColInt32(i, 6);
		stored = ColText(i, 7);
		out[i].manifest_current = stored != NULL && strcmp(stored, out[i].manifest_key) == 0;
		out[i].quiet = false;
	}
	return out;
}

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

/*
 * Lock a project FOR KEY SHARE unless an operation holds it: 1 locked,
 * 0 busy (try again later), -1 the project does not exist.
 */
int
CatalogLockProjectKeyShare(int64 project_id)
{
	if (Exists("SELECT 1 FROM branchpromote.project WHERE id = $1 FOR KEY SHARE SKIP LOCKED",
			   project_id))
		return 1;
	return Exists("SELECT 1 FROM branchpromote.project WHERE id = $1", project_id) ? 0 : -1;
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

/* A compute id for a compute that gets no row (a rehearsal's). */
int64
CatalogNextComputeId(void)
{
	Run("SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence('branchpromote.compute', 'id'))",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	return ColInt64(0, 1);
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

/* Record a named LSN on a timeline. */
void
CatalogInsertAnchor(int64 timeline_id, const char *name, const char *kind, XLogRecPtr lsn)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, PG_LSNOID};
	Datum		values[4] = {Int64GetDatum(timeline_id), CStringGetTextDatum(name),
	CStringGetTextDatum(kind), LSNGetDatum(lsn)};

	Run("INSERT INTO branchpromote.anchor (timeline_id, name, kind, lsn) VALUES ($1, $2, $3, $4)",
		4, types, values, NULL, SPI_OK_INSERT);
}

/* Replace the catalog's copy of a timeline's ledger. */
void
CatalogReplaceLedgerMirror(int64 timeline_id, const BpLedger *ledger)
{
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
	Datum		values[5];
	char		nulls[6] = "     ";

	values[0] = Int64GetDatum(timeline_id);
	Run("DELETE FROM branchpromote.ledger_mirror WHERE timeline_id = $1", 1, types, values,
		NULL, SPI_OK_DELETE);
	Run("UPDATE branchpromote.timeline SET ledger_mirrored_at = pg_catalog.now() WHERE id = $1",
		1, types, values, NULL, SPI_OK_UPDATE);
	for (int i = 0; i < ledger->n; i++)
	{
		values[1] = CStringGetTextDatum(ledger->m[i].version);
		values[2] = ledger->m[i].name ? CStringGetTextDatum(ledger->m[i].name) : (Datum) 0;
		nulls[2] = ledger->m[i].name ? ' ' : 'n';
		values[3] = CStringGetTextDatum(ledger->m[i].checksum);
		values[4] = DirectFunctionCall3(timestamptz_in, CStringGetDatum(ledger->applied_at[i]),
										ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		Run("INSERT INTO branchpromote.ledger_mirror "
			"(timeline_id, version, name, checksum, applied_at) VALUES ($1, $2, $3, $4, $5)",
			5, types, values, nulls, SPI_OK_INSERT);
	}
}

/*
 * The catalog's copy of a timeline's ledger, in version order; false if it
 * was never mirrored.
 */
bool
CatalogLedgerMirror(int64 timeline_id, BpLedger *out)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};
	int			n;

	if (Run("SELECT 1 FROM branchpromote.timeline WHERE id = $1 AND ledger_mirrored_at IS NOT NULL",
			1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	n = Run("SELECT version, name, checksum, applied_at::text FROM branchpromote.ledger_mirror "
			"WHERE timeline_id = $1 ORDER BY version COLLATE \"C\"",
			1, types, values, NULL, SPI_OK_SELECT);
	out->n = n;
	out->m = palloc0(sizeof(BpMigration) * Max(1, n));
	out->applied_at = palloc0(sizeof(char *) * Max(1, n));
	for (int i = 0; i < n; i++)
	{
		out->m[i].version = ColText(i, 1);
		out->m[i].name = ColText(i, 2);
		out->m[i].checksum = ColText(i, 3);
		out->applied_at[i] = ColText(i, 4);
	}
	return true;
}

/* Keep a timeline's last schema check (JSON, see schema_mirror; NULL: unknown). */
void
CatalogSetSchemaMirror(int64 timeline_id, const char *json)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(timeline_id), json ? CStringGetTextDatum(json) : (Datum) 0};

	/* a catalog not yet updated to 0.6.0 (ALTER EXTENSION UPDATE pending) has no mirror */
	if (Run("SELECT 1 FROM pg_catalog.pg_attribute WHERE attrelid = 'branchpromote.timeline'::pg_catalog.regclass "
			"AND attname = 'schema_mirror' AND NOT attisdropped", 0, NULL, NULL, NULL, SPI_OK_SELECT) == 0)
		return;
	Run("UPDATE branchpromote.timeline SET schema_mirror = $2::pg_catalog.jsonb WHERE id = $1",
		2, types, values, json ? NULL : " n", SPI_OK_UPDATE);
}

/*
 * A timeline's last schema check: false if never checked; else its JSON
 * and its drift's differences (NULL: none).
 */
bool
CatalogSchemaMirror(int64 timeline_id, char **json, char **drift)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};

	if (Run("SELECT schema_mirror::pg_catalog.text, "
			"NULLIF(schema_mirror OPERATOR(pg_catalog.->) 'drift', 'null'::pg_catalog.jsonb)::pg_catalog.text "
			"FROM branchpromote.timeline WHERE id = $1 AND schema_mirror IS NOT NULL",
			1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	*json = ColText(0, 1);
	*drift = ColText(0, 2);
	return true;
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

/* ------------------------------------------------------------ history */

/* A snapshot id, taken before its directory is made (non-transactional). */
int64
CatalogNextSnapshotId(void)
{
	Run("SELECT pg_catalog.nextval('branchpromote.snapshot_id_seq')", 0, NULL, NULL, NULL,
		SPI_OK_SELECT);
	return ColInt64(0, 1);
}

void
CatalogInsertSnapshot(int64 id, int64 timeline_id, XLogRecPtr start_lsn, XLogRecPtr lsn,
					  const char *reason)
{
	Oid			types[5] = {INT8OID, INT8OID, PG_LSNOID, PG_LSNOID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(id), Int64GetDatum(timeline_id),
		LSNGetDatum(start_lsn), LSNGetDatum(lsn), CStringGetTextDatum(reason)};

	Run("INSERT INTO branchpromote.snapshot (id, timeline_id, start_lsn, lsn, reason) "
		"VALUES ($1, $2, $3, $4, $5)", 5, types, values, NULL, SPI_OK_INSERT);
}

bool
CatalogSnapshotExists(int64 id)
{
	return Exists("SELECT 1 FROM branchpromote.snapshot WHERE id = $1", id);
}

void
CatalogDeleteSnapshot(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	Run("DELETE FROM branchpromote.snapshot WHERE id = $1", 1, types, values, NULL,
		SPI_OK_DELETE);
}

/* A live timeline's snapshots, ascending by lsn (palloc'd array). */
BpSnapshotInfo *
CatalogSnapshots(int64 timeline_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};
	BpSnapshotInfo *out;
	bool		isnull;

	/*
	 * a base snapshot stands for its timeline's history from the fork point
	 * on (a masked one's: from its mask on)
	 */
	*n = Run("SELECT s.id, s.start_lsn, s.lsn, s.created_at, "
			 "CASE WHEN s.reason = 'base' AND t.fork_lsn IS NOT NULL "
			 "THEN LEAST(COALESCE(t.mask_lsn, t.fork_lsn), s.lsn) ELSE s.lsn END "
			 "FROM branchpromote.snapshot s "
			 "JOIN branchpromote.timeline t ON t.id = s.timeline_id "
			 "WHERE s.timeline_id = $1 AND t.discarded_at IS NULL ORDER BY s.lsn, s.id",
			 1, types, values, NULL, SPI_OK_SELECT);
	out = SPI_palloc(sizeof(BpSnapshotInfo) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].id = ColInt64(i, 1);
		out[i].start_lsn = DatumGetLSN(Col(i, 2, &isnull));
		out[i].lsn = DatumGetLSN(Col(i, 3, &isnull));
		out[i].created_at = DatumGetTimestampTz(Col(i, 4, &isnull));
		out[i].from_lsn = DatumGetLSN(Col(i, 5, &isnull));
	}
	return out;
}

/* A timeline and its ancestors, nearest first, each with its snapshots. */
BpLineageStep *
CatalogLineage(int64 timeline_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};
	int64	   *ids;
	XLogRecPtr *forks;
	BpLineageStep *out;
	bool		isnull;

	/* a timeline masked in place has no history before its mask: the walk stops there */
	*n = Run("WITH RECURSIVE l(id, parent_id, fork_lsn, mask_lsn, depth) AS ("
			 " SELECT id, parent_id, fork_lsn, mask_lsn, 0 FROM branchpromote.timeline WHERE id = $1"
			 " UNION ALL SELECT t.id, t.parent_id, t.fork_lsn, t.mask_lsn, l.depth + 1"
			 " FROM branchpromote.timeline t JOIN l ON t.id = l.parent_id"
			 " WHERE l.depth < 1000 AND l.mask_lsn IS NULL)"
			 " SELECT id, fork_lsn FROM l ORDER BY depth", 1, types, values, NULL, SPI_OK_SELECT);
	ids = palloc(sizeof(int64) * Max(1, *n));
	forks = palloc(sizeof(XLogRecPtr) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		Datum		d = Col(i, 2, &isnull);

		ids[i] = ColInt64(i, 1);
		forks[i] = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	}
	out = SPI_palloc(sizeof(BpLineageStep) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].timeline_id = ids[i];
		out[i].fork_lsn = forks[i];
		out[i].snap = CatalogSnapshots(ids[i], &out[i].nsnap);
	}
	return out;
}

/*
 * Running computes of live prod timelines whose newest snapshot is older
 * than interval_s (or that have none): (List of int64 * compute ids).
 */
List *
CatalogSnapshotsDue(int interval_s)
{
	Oid			types[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(interval_s)};

	return Ids("SELECT c.id FROM branchpromote.compute c "
			   "JOIN branchpromote.timeline t ON t.id = c.timeline_id "
			   "WHERE t.kind = 'prod' AND t.discarded_at IS NULL AND c.actual_state = 'running' "
			   "AND NOT EXISTS (SELECT 1 FROM branchpromote.snapshot s WHERE s.timeline_id = t.id "
			   "AND s.created_at > pg_catalog.now() - $1 * interval '1 second') ORDER BY c.id",
			   1, types, values);
}

/* The owner role of a timeline's project; false if there is no such timeline. */
bool
CatalogTimelineOwner(int64 timeline_id, Oid *owner)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};
	bool		isnull;

	if (Run("SELECT p.owner FROM branchpromote.timeline t "
			"JOIN branchpromote.project p ON p.id = t.project_id WHERE t.id = $1",
			1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	*owner = DatumGetObjectId(Col(0, 1, &isnull));
	return !isnull;
}

/*
 * Every live timeline with its snapshots (ascending by lsn), in one query;
 * allocated in cxt.
 */
BpTimelineHistory *
CatalogLiveHistories(MemoryContext cxt, int *n)
{
	int			rows = Run("SELECT t.id, s.id, s.start_lsn, s.lsn, s.created_at "
						   "FROM branchpromote.timeline t "
						   "LEFT JOIN branchpromote.snapshot s ON s.timeline_id = t.id "
						   "WHERE t.discarded_at IS NULL ORDER BY t.id, s.lsn, s.id",
						   0, NULL, NULL, NULL, SPI_OK_SELECT);
	BpTimelineHistory *out = MemoryContextAllocZero(cxt, sizeof(BpTimelineHistory) * Max(1, rows));
	BpSnapshotInfo *snap = MemoryContextAlloc(cxt, sizeof(BpSnapshotInfo) * Max(1, rows));
	BpTimelineHistory *h = NULL;
	bool		isnull;

	*n = 0;
	for (int i = 0; i < rows; i++)
	{
		int64		tl = ColInt64(i, 1);

		if (h == NULL || h->timeline_id != tl)
		{
			h = &out[(*n)++];
			h->timeline_id = tl;
			h->snap = &snap[i];
		}
		(void) Col(i, 2, &isnull);
		if (isnull)
			continue;			/* no snapshot */
		snap[i].id = ColInt64(i, 2);
		snap[i].start_lsn = DatumGetLSN(Col(i, 3, &isnull));
		snap[i].lsn = DatumGetLSN(Col(i, 4, &isnull));
		snap[i].from_lsn = snap[i].lsn;	/* retention does not look at it */
		snap[i].created_at = DatumGetTimestampTz(Col(i, 5, &isnull));
		h->nsnap++;
	}
	return out;
}

/*
 * Of the timelines ids (say, those in storage), the live ones, ascending
 * by id, each with whether a compute serves it (allocated in cxt).
 */
BpTimelineState *
CatalogTimelineStates(MemoryContext cxt, const int64 *ids, int nids, int *n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(1, nids));
	Oid			types[1] = {INT8ARRAYOID};
	Datum		values[1];
	BpTimelineState *out;

	for (int i = 0; i < nids; i++)
		elems[i] = Int64GetDatum(ids[i]);
	values[0] = PointerGetDatum(construct_array(elems, nids, INT8OID, sizeof(int64),
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	*n = Run(CatalogHasRecoveryWindow() ?
			 "SELECT t.id, EXISTS (SELECT 1 FROM branchpromote.compute c WHERE c.timeline_id = t.id) "
			 "FROM branchpromote.timeline t WHERE t.id = ANY ($1) "
			 "AND (t.discarded_at IS NULL OR t.kept_until IS NOT NULL) "
			 "ORDER BY t.id" :
			 "SELECT t.id, EXISTS (SELECT 1 FROM branchpromote.compute c WHERE c.timeline_id = t.id) "
			 "FROM branchpromote.timeline t WHERE t.id = ANY ($1) AND t.discarded_at IS NULL "
			 "ORDER BY t.id",
			 1, types, values, NULL, SPI_OK_SELECT);
	out = MemoryContextAlloc(cxt, sizeof(BpTimelineState) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		bool		isnull;

		out[i].timeline_id = ColInt64(i, 1);
		out[i].has_compute = DatumGetBool(Col(i, 2, &isnull));
	}
	return out;
}

/* ----------------------------------------------------------- branches */

/* A timeline by branch name: false if there is none (discarded ones count). */
bool
CatalogFindBranch(int64 project_id, const char *branch, BpTimelineRow *out)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(project_id), CStringGetTextDatum(branch)};

	if (Run("SELECT id, kind, discarded_at IS NOT NULL, kept_until::text FROM branchpromote.timeline "
			"WHERE project_id = $1 AND branch = $2", 2, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	out->id = ColInt64(0, 1);
	out->kind = ColText(0, 2);
	out->discarded = ColText(0, 3)[0] == 't';
	out->kept_until = ColText(0, 4);
	return true;
}

/* Name a timeline as a branch of kind (ttl_ms > 0: it expires then). */
void
CatalogLabelTimeline(int64 id, const char *kind, const char *branch, int64 ttl_ms)
{
	Oid			types[4] = {INT8OID, TEXTOID, TEXTOID, INT8OID};
	Datum		values[4] = {Int64GetDatum(id), CStringGetTextDatum(kind),
	CStringGetTextDatum(branch), Int64GetDatum(ttl_ms)};

	Run("UPDATE branchpromote.timeline SET kind = $2, branch = $3, "
		"durable = $2 IN ('dev', 'prod', 'backup'), "
		"expires_at = CASE WHEN $4 > 0 THEN pg_catalog.now() + $4 * interval '1 millisecond' END "
		"WHERE id = $1", 4, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * Discard a branch: drop its environment and compute rows (the reconciler
 * then stops its server) and mark the timeline discarded, its data (with
 * its snapshots and ledger mirror) kept for the recovery window.  Returns
 * when it will be removed.
 */
char *
CatalogDiscardTimeline(int64 id, int window_s)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(id), Int32GetDatum(window_s)};

	Run("DELETE FROM branchpromote.compute WHERE timeline_id = $1", 1, types, values, NULL,
		SPI_OK_DELETE);
	Run("DELETE FROM branchpromote.environment WHERE timeline_id = $1", 1, types, values, NULL,
		SPI_OK_DELETE);
	Run("UPDATE branchpromote.timeline SET discarded_at = pg_catalog.now(), "
		"kept_until = pg_catalog.now() + $2 * interval '1 second' WHERE id = $1 "
		"RETURNING kept_until::text", 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	return ColText(0, 1);
}

/*
 * Undo a discard within the window: the timeline is live again; a TTL that
 * has passed meanwhile is dropped (the restore is the newer wish).
 */
void
CatalogRestoreTimeline(int64 id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(id)};

	Run("UPDATE branchpromote.timeline SET discarded_at = NULL, kept_until = NULL, "
		"expires_at = CASE WHEN expires_at > pg_catalog.now() THEN expires_at END WHERE id = $1",
		1, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * Discard previews past their expiry whose projects no operation holds;
 * returns how many.
 */
int
CatalogExpirePreviews(int window_s)
{
	int			n = Run("SELECT t.id FROM branchpromote.timeline t "
						"JOIN branchpromote.project p ON p.id = t.project_id "
						"WHERE t.kind = 'preview' AND t.discarded_at IS NULL "
						"AND t.expires_at < pg_catalog.now() AND p.dropped_at IS NULL "
						"AND NOT EXISTS (SELECT 1 FROM branchpromote.protection x "
						"WHERE x.project_id = t.project_id AND x.name = t.branch) "
						"FOR KEY SHARE OF p SKIP LOCKED", 0, NULL, NULL, NULL, SPI_OK_SELECT);
	int64	   *ids = palloc(sizeof(int64) * Max(1, n));

	for (int i = 0; i < n; i++)
		ids[i] = ColInt64(i, 1);
	for (int i = 0; i < n; i++)
		(void) CatalogDiscardTimeline(ids[i], window_s);
	return n;
}

/* Is this timeline an environment's (dev, prod, a preview's)? Which one? */
char *
CatalogTimelineEnvironment(int64 timeline_id)
{
	return FirstText("SELECT name FROM branchpromote.environment WHERE timeline_id = $1 "
					 "ORDER BY name LIMIT 1", timeline_id);
}

/* Move a compute to another timeline (its port and id stay). */
void
CatalogMoveCompute(int64 compute_id, int64 timeline_id)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(compute_id), Int64GetDatum(timeline_id)};

	Run("UPDATE branchpromote.compute SET timeline_id = $2, actual_state = 'starting', pid = NULL "
		"WHERE id = $1", 2, types, values, NULL, SPI_OK_UPDATE);
}

bool
CatalogAnchorExists(int64 timeline_id, const char *name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(timeline_id), CStringGetTextDatum(name)};

	return Run("SELECT 1 FROM branchpromote.anchor WHERE timeline_id = $1 AND name = $2",
			   2, types, values, NULL, SPI_OK_SELECT) > 0;
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

/* ---------------------------------------------------------- manifests */

/*
 * Refuse a template setting that is malformed or not on the allowlist
 * (manifest.c): both where the template is written (its CHECK) and where
 * it is read, so one that slipped in never reaches a postmaster.
 */
void
BpRequireUsableSetting(const char *key, const char *value)
{
	if (!BpSettingIsSafe(key, value))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("compute template setting \"%s\" is not usable", key),
				 errhint("Setting names are lowercase letters, digits, '_' and '.'; values are strings without quotes, backslashes or control characters; fix branchpromote.compute_template.settings.")));
	if (!BpSettingAllowed(key))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("compute template setting \"%s\" is not allowed", key),
				 errdetail("A tenant's compute takes only tuning, timeout and logging settings; settings that name files, programs, libraries or what branchpromote sets itself are refused."),
				 errhint("Remove it from branchpromote.compute_template.settings; doc/reference.md lists the settings allowed.")));
}

/* key/value pairs of a jsonb object column of the template, sorted by key. */
static BpKeyValue *
TemplatePairs(const char *column, int *n)
{
	BpKeyValue *out;

	*n = Run(psprintf("SELECT e.key, e.value FROM branchpromote.compute_template t, "
					  "pg_catalog.jsonb_each_text(t.%s) e ORDER BY e.key COLLATE \"C\"", column),
			 0, NULL, NULL, NULL, SPI_OK_SELECT);
	out = SPI_palloc(sizeof(BpKeyValue) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].key = ColText(i, 1);
		out[i].value = ColText(i, 2);
	}
	return out;
}

/*
 * The template's parts in a manifest input (identity fields untouched).
 * Every reader of the template comes through here, so its settings are
 * checked here: an unusable one never reaches a manifest or a postmaster.
 */
void
CatalogComputeTemplate(BpManifestInput *in)
{
	in->settings = TemplatePairs("settings", &in->nsettings);
	for (int i = 0; i < in->nsettings; i++)
		BpRequireUsableSetting(in->settings[i].key, in->settings[i].value);
	in->labels = TemplatePairs("labels", &in->nlabels);
	if (Run("SELECT image, resources::text FROM branchpromote.compute_template",
			0, NULL, NULL, NULL, SPI_OK_SELECT) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branchpromote.compute_template has no row"),
				 errhint("INSERT INTO branchpromote.compute_template DEFAULT VALUES;")));
	in->image = ColText(0, 1);
	in->resources_json = ColText(0, 2);
}

/* Everything a compute's manifest is rendered from. */
bool
CatalogComputeManifestInput(int64 compute_id, BpManifestInput *in)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(compute_id)};

	if (Run("SELECT p.name, c.env, t.kind, c.timeline_id, c.port FROM branchpromote.compute c "
			"JOIN branchpromote.project p ON p.id = c.project_id "
			"JOIN branchpromote.timeline t ON t.id = c.timeline_id WHERE c.id = $1",
			1, types, values, NULL, SPI_OK_SELECT) == 0)
		return false;
	in->project = ColText(0, 1);
	in->env = ColText(0, 2);
	in->kind = ColText(0, 3);
	in->timeline_id = ColInt64(0, 4);
	in->compute_id = compute_id;
	in->port = ColInt32(0, 5);
	CatalogComputeTemplate(in);
	return true;
}

/* The runtime hash a compute was last rendered with (NULL: never). */
char *
CatalogComputeRuntimeHash(int64 compute_id)
{
	return FirstText("SELECT runtime_hash FROM branchpromote.compute WHERE id = $1", compute_id);
}

/*
 * Store a compute's manifest, its hashes, and the key of the inputs it was
 * rendered from (the pass's listing: if they changed since, the next pass
 * renders it again).
 */
void
CatalogSetComputeManifest(int64 compute_id, const char *manifest, const char *hash,
						  const char *runtime_hash, const char *key)
{
	Oid			types[5] = {INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[5] = {Int64GetDatum(compute_id), CStringGetTextDatum(manifest),
		CStringGetTextDatum(hash), CStringGetTextDatum(runtime_hash),
	CStringGetTextDatum(key)};

	Run("UPDATE branchpromote.compute SET manifest = $2::pg_catalog.jsonb, manifest_hash = $3, "
		"runtime_hash = $4, manifest_key = $5 WHERE id = $1 "
		"AND (manifest_hash IS DISTINCT FROM $3 OR manifest_key IS DISTINCT FROM $5)",
		5, types, values, NULL, SPI_OK_UPDATE);
}

/* ------------------------------------------------------ scale to zero */

/*
 * Seconds a compute may idle before it is suspended: its project's
 * override, else default_s (0: never).
 */
int64
CatalogSuspendTimeout(int64 compute_id, int default_s)
{
	Oid			types[2] = {INT8OID, INT4OID};
	Datum		values[2] = {Int64GetDatum(compute_id), Int32GetDatum(default_s)};

	if (Run("SELECT COALESCE(extract(epoch FROM p.suspend_timeout)::bigint, $2) "
			"FROM branchpromote.compute c JOIN branchpromote.project p ON p.id = c.project_id "
			"WHERE c.id = $1", 2, types, values, NULL, SPI_OK_SELECT) == 0)
		return 0;
	return ColInt64(0, 1);
}

/* Seconds since the compute's last_active (NULL counts as just now). */
int64
CatalogComputeIdleSeconds(int64 compute_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(compute_id)};

	if (Run("SELECT COALESCE(extract(epoch FROM pg_catalog.now() - last_active)::bigint, 0) "
			"FROM branchpromote.compute WHERE id = $1", 1, types, values, NULL, SPI_OK_SELECT) == 0)
		return 0;
	return ColInt64(0, 1);
}

void
CatalogTouchCompute(int64 compute_id)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(compute_id)};

	Run("UPDATE branchpromote.compute SET last_active = pg_catalog.clock_timestamp() WHERE id = $1",
		1, types, values, NULL, SPI_OK_UPDATE);
}

void
CatalogSetSuspendTimeout(int64 project_id, int64 timeout_ms)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(project_id), Int64GetDatum(timeout_ms)};
	char		nulls[3] = "  ";

	if (timeout_ms < 0)
		nulls[1] = 'n';
	Run("UPDATE branchpromote.project SET suspend_timeout = $2 * interval '1 millisecond' WHERE id = $1",
		2, types, values, nulls, SPI_OK_UPDATE);
}

/*
 * Lock the project of a timeline FOR SHARE unless an operation holds it:
 * true if locked (false: busy, or no such timeline).
 */
bool
CatalogLockTimelineProject(int64 timeline_id)
{
	return Exists("SELECT 1 FROM branchpromote.timeline t JOIN branchpromote.project p "
				  "ON p.id = t.project_id WHERE t.id = $1 FOR SHARE OF p SKIP LOCKED", timeline_id);
}

/*
 * Does a running compute other than a prod still run with another runtime
 * hash than this one (so prod must wait its turn)?
 */
bool
CatalogRuntimeBehind(const char *runtime_hash)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(runtime_hash)};

	return Run("SELECT 1 FROM branchpromote.compute WHERE env <> 'prod' "
			   "AND desired_state = 'running' AND actual_state = 'running' "
			   "AND runtime_hash IS DISTINCT FROM $1 LIMIT 1",
			   1, types, values, NULL, SPI_OK_SELECT) > 0;
}
