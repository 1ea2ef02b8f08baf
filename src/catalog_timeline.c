/*
 * catalog_timeline.c — timelines, environments and branches: ids, rows,
 * discard and restore, expiry, states for the reconciler.  Part of the
 * catalog (catalog.h); only the catalog_*.c files read and write its tables.
 */
#include "postgres.h"

#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "catalog_spi.h"

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

/* Name a timeline as a branch of kind, with no expiry (CatalogSetExpiry gives one). */
void
CatalogLabelTimeline(int64 id, const char *kind, const char *branch)
{
	Oid			types[3] = {INT8OID, TEXTOID, TEXTOID};
	Datum		values[3] = {Int64GetDatum(id), CStringGetTextDatum(kind),
	CStringGetTextDatum(branch)};

	Run("UPDATE branchpromote.timeline SET kind = $2, branch = $3, "
		"durable = $2 IN ('dev', 'prod', 'backup'), expires_at = NULL "
		"WHERE id = $1", 3, types, values, NULL, SPI_OK_UPDATE);
}

/*
 * A preview's expiry, counted from now (the end of the call that made it,
 * just before it commits, however long its fork took); returns it.
 */
TimestampTz
CatalogSetExpiry(int64 id, int64 ttl_ms)
{
	Oid			types[2] = {INT8OID, INT8OID};
	Datum		values[2] = {Int64GetDatum(id), Int64GetDatum(ttl_ms)};
	bool		isnull;

	Run("UPDATE branchpromote.timeline "
		"SET expires_at = pg_catalog.clock_timestamp() + $2 * interval '1 millisecond' "
		"WHERE id = $1 RETURNING expires_at", 2, types, values, NULL, SPI_OK_UPDATE_RETURNING);
	return DatumGetTimestampTz(Col(0, 1, &isnull));
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
