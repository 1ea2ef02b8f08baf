/*
 * catalog_project.c — projects: lookup and locks, create, drop and undrop,
 * the end of recovery windows, protection, the idle timeout.  Part of the
 * catalog (catalog.h); only the catalog_*.c files read and write its tables.
 */
#include "postgres.h"

#include "storage/proc.h"
#include "utils/builtins.h"

#include "catalog.h"
#include "catalog_spi.h"

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
