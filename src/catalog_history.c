/*
 * catalog_history.c — history: anchors, snapshots, lineage, live histories
 * for retention, and the ledger and schema mirrors.  Part of the catalog
 * (catalog.h); only the catalog_*.c files read and write its tables.
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "catalog.h"
#include "catalog_spi.h"

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

/*
 * A timeline and its ancestors, nearest first, each with its snapshots and
 * its mask's LSN as floor (own_from is the storage driver's: left invalid).
 */
BpLineageStep *
CatalogLineage(int64 timeline_id, int *n)
{
	Oid			types[1] = {INT8OID};
	Datum		values[1] = {Int64GetDatum(timeline_id)};
	int64	   *ids;
	XLogRecPtr *forks;
	XLogRecPtr *masks;
	BpLineageStep *out;
	bool		isnull;

	/* a timeline masked in place has no history before its mask: the walk stops there */
	*n = Run("WITH RECURSIVE l(id, parent_id, fork_lsn, mask_lsn, depth) AS ("
			 " SELECT id, parent_id, fork_lsn, mask_lsn, 0 FROM branchpromote.timeline WHERE id = $1"
			 " UNION ALL SELECT t.id, t.parent_id, t.fork_lsn, t.mask_lsn, l.depth + 1"
			 " FROM branchpromote.timeline t JOIN l ON t.id = l.parent_id"
			 " WHERE l.depth < 1000 AND l.mask_lsn IS NULL)"
			 " SELECT id, fork_lsn, mask_lsn FROM l ORDER BY depth", 1, types, values, NULL, SPI_OK_SELECT);
	ids = palloc(sizeof(int64) * Max(1, *n));
	forks = palloc(sizeof(XLogRecPtr) * Max(1, *n));
	masks = palloc(sizeof(XLogRecPtr) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		Datum		d = Col(i, 2, &isnull);

		ids[i] = ColInt64(i, 1);
		forks[i] = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
		d = Col(i, 3, &isnull);
		masks[i] = isnull ? InvalidXLogRecPtr : DatumGetLSN(d);
	}
	out = SPI_palloc(sizeof(BpLineageStep) * Max(1, *n));
	for (int i = 0; i < *n; i++)
	{
		out[i].timeline_id = ids[i];
		out[i].fork_lsn = forks[i];
		out[i].snap = CatalogSnapshots(ids[i], &out[i].nsnap);
		out[i].own_from = InvalidXLogRecPtr;
		out[i].floor = masks[i];
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

bool
CatalogAnchorExists(int64 timeline_id, const char *name)
{
	Oid			types[2] = {INT8OID, TEXTOID};
	Datum		values[2] = {Int64GetDatum(timeline_id), CStringGetTextDatum(name)};

	return Run("SELECT 1 FROM branchpromote.anchor WHERE timeline_id = $1 AND name = $2",
			   2, types, values, NULL, SPI_OK_SELECT) > 0;
}
