/*
 * catalog_compute.c — computes: ports, rows, states, briefs for the
 * reconciler, activity, manifests and the template.  Part of the catalog
 * (catalog.h); only the catalog_*.c files read and write its tables.
 */
#include "postgres.h"

#include "utils/builtins.h"

#include "catalog.h"
#include "catalog_spi.h"
#include "guc.h"

bool
CatalogComputeExists(int64 id)
{
	return Exists("SELECT 1 FROM branchpromote.compute WHERE id = $1", id);
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

/* A compute id for a compute that gets no row (a rehearsal's). */
int64
CatalogNextComputeId(void)
{
	Run("SELECT pg_catalog.nextval(pg_catalog.pg_get_serial_sequence('branchpromote.compute', 'id'))",
		0, NULL, NULL, NULL, SPI_OK_SELECT);
	return ColInt64(0, 1);
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
