/*
 * manifest.c — a compute's manifest, rendered from the one template (pure code).
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "jsonstr.h"
#include "manifest.h"

static void
Pair(StringInfo s, const char *key, const char *value, bool first)
{
	if (!first)
		appendStringInfoString(s, ", ");
	BpJsonString(s, key);
	appendStringInfoString(s, ": ");
	BpJsonString(s, value);
}

bool
BpSettingIsSafe(const char *key, const char *value)
{
	if (key == NULL || value == NULL || key[0] == '\0' || strlen(key) > 63 || strlen(value) > 1024)
		return false;
	for (const char *c = key; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' || *c == '.'))
			return false;
	for (const unsigned char *c = (const unsigned char *) value; *c; c++)
		if (*c < 0x20 || *c == '\'' || *c == '\\')
			return false;
	return true;
}

/*
 * The Postgres settings a tenant's compute may take from the template:
 * tuning, timeouts, logging verbosity, locale of output.  Nothing that
 * names a file, a program, a library or a command (archive_command,
 * restore_command, archive_library, shared_preload_libraries,
 * ssl_passphrase_command, hba_file, data_directory, log_directory, ...), and
 * nothing the control plane sets itself (port, listen_addresses, sockets,
 * archiving, recovery, max_prepared_transactions): those would let whoever
 * edits the template run programs as the server's OS user, or break the
 * timeline's history.  Sorted (bytewise) for the binary search.
 */
static const char *const allowed_settings[] = {
	"autovacuum",
	"autovacuum_analyze_scale_factor",
	"autovacuum_analyze_threshold",
	"autovacuum_max_workers",
	"autovacuum_naptime",
	"autovacuum_vacuum_cost_delay",
	"autovacuum_vacuum_cost_limit",
	"autovacuum_vacuum_insert_scale_factor",
	"autovacuum_vacuum_insert_threshold",
	"autovacuum_vacuum_scale_factor",
	"autovacuum_vacuum_threshold",
	"autovacuum_work_mem",
	"checkpoint_completion_target",
	"checkpoint_timeout",
	"datestyle",
	"default_statistics_target",
	"default_toast_compression",
	"default_transaction_isolation",
	"effective_cache_size",
	"effective_io_concurrency",
	"idle_in_transaction_session_timeout",
	"idle_session_timeout",
	"intervalstyle",
	"jit",
	"lock_timeout",
	"log_autovacuum_min_duration",
	"log_connections",
	"log_disconnections",
	"log_lock_waits",
	"log_min_duration_statement",
	"log_min_messages",
	"log_statement",
	"log_temp_files",
	"maintenance_io_concurrency",
	"maintenance_work_mem",
	"max_connections",
	"max_locks_per_transaction",
	"max_parallel_maintenance_workers",
	"max_parallel_workers",
	"max_parallel_workers_per_gather",
	"max_wal_size",
	"max_worker_processes",
	"min_wal_size",
	"random_page_cost",
	"seq_page_cost",
	"shared_buffers",
	"statement_timeout",
	"synchronous_commit",
	"temp_buffers",
	"temp_file_limit",
	"timezone",
	"track_activities",
	"track_counts",
	"track_functions",
	"track_io_timing",
	"wal_buffers",
	"wal_compression",
	"work_mem",
	NULL
};

/* Extension settings with no file, program or library among them. */
static const char *const allowed_prefixes[] = {"auto_explain.", "pg_stat_statements.", NULL};

bool
BpSettingAllowed(const char *key)
{
	int			lo = 0;
	int			hi = lengthof(allowed_settings) - 2;

	if (key == NULL)
		return false;
	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = strcmp(key, allowed_settings[mid]);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	for (int i = 0; allowed_prefixes[i]; i++)
		if (strncmp(key, allowed_prefixes[i], strlen(allowed_prefixes[i])) == 0)
			return true;
	return false;
}

/* The labels every resource carries. */
static char *
Labels(const BpManifestInput *in)
{
	StringInfoData s;
	char		buf[32];

	initStringInfo(&s);
	appendStringInfoChar(&s, '{');
	Pair(&s, "app.kubernetes.io/name", "branchpromote-compute", true);
	Pair(&s, "branchpromote/project", in->project, false);
	Pair(&s, "branchpromote/env", in->env, false);
	Pair(&s, "branchpromote/kind", in->kind, false);
	snprintf(buf, sizeof(buf), INT64_FORMAT, in->timeline_id);
	Pair(&s, "branchpromote/timeline", buf, false);
	snprintf(buf, sizeof(buf), INT64_FORMAT, in->compute_id);
	Pair(&s, "branchpromote/compute", buf, false);
	for (int i = 0; i < in->nlabels; i++)
		Pair(&s, in->labels[i].key, in->labels[i].value, false);
	appendStringInfoChar(&s, '}');
	return s.data;
}

/* postgresql.conf lines of the settings. */
static char *
Conf(const BpManifestInput *in)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < in->nsettings; i++)
		appendStringInfo(&s, "%s = '%s'\n", in->settings[i].key, in->settings[i].value);
	return s.data;
}

char *
BpRenderRuntime(const BpManifestInput *in)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"image\": ");
	BpJsonString(&s, in->image);
	appendStringInfo(&s, ", \"resources\": %s, \"postgresql.conf\": ", in->resources_json);
	BpJsonString(&s, Conf(in));
	appendStringInfoChar(&s, '}');
	return s.data;
}

char *
BpRenderManifest(const BpManifestInput *in)
{
	StringInfoData s;
	char	   *name = psprintf("%s-%s", in->project, in->env);
	char	   *labels = Labels(in);
	char		selector[64];
	char		tl[32];

	snprintf(selector, sizeof(selector), "{\"branchpromote/compute\": \"" INT64_FORMAT "\"}",
			 in->compute_id);
	snprintf(tl, sizeof(tl), INT64_FORMAT, in->timeline_id);
	initStringInfo(&s);
	appendStringInfoString(&s, "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [");

	/* ConfigMap: the Postgres settings */
	appendStringInfoString(&s, "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": ");
	BpJsonString(&s, psprintf("%s-config", name));
	appendStringInfo(&s, ", \"labels\": %s}, \"data\": {\"postgresql.conf\": ", labels);
	BpJsonString(&s, Conf(in));
	appendStringInfoString(&s, "}}, ");

	/* Deployment: one compute bound to one timeline */
	appendStringInfoString(&s, "{\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\", \"metadata\": {\"name\": ");
	BpJsonString(&s, name);
	appendStringInfo(&s, ", \"labels\": %s}, \"spec\": {\"replicas\": 1, \"selector\": {\"matchLabels\": %s}, "
					 "\"template\": {\"metadata\": {\"labels\": %s}, \"spec\": {\"containers\": [{"
					 "\"name\": \"compute\", \"image\": ", labels, selector, labels);
	BpJsonString(&s, in->image);
	appendStringInfoString(&s, ", \"args\": [\"-c\", \"config_file=/etc/branchpromote/postgresql.conf\"], "
						   "\"env\": [{\"name\": \"BRANCHPROMOTE_TIMELINE\", \"value\": ");
	BpJsonString(&s, tl);
	appendStringInfo(&s, "}], \"ports\": [{\"name\": \"postgres\", \"containerPort\": 5432}], "
					 "\"resources\": %s, \"volumeMounts\": [{\"name\": \"config\", "
					 "\"mountPath\": \"/etc/branchpromote\"}]}], \"volumes\": [{\"name\": \"config\", "
					 "\"configMap\": {\"name\": ", in->resources_json);
	BpJsonString(&s, psprintf("%s-config", name));
	appendStringInfoString(&s, "}}]}}}}, ");

	/* Service: where clients connect */
	appendStringInfoString(&s, "{\"apiVersion\": \"v1\", \"kind\": \"Service\", \"metadata\": {\"name\": ");
	BpJsonString(&s, name);
	appendStringInfo(&s, ", \"labels\": %s}, \"spec\": {\"selector\": %s, \"ports\": [{\"name\": \"postgres\", "
					 "\"port\": %d, \"targetPort\": 5432}]}}", labels, selector, in->port);
	appendStringInfoString(&s, "]}");
	return s.data;
}
