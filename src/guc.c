/*
 * guc.c — branchpromote's configuration parameters.
 */
#include "postgres.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/guc.h"

#include "guc.h"
#include "names.h"

char	   *bp_data_root_setting = NULL;
char	   *bp_socket_directory_setting = NULL;
char	   *bp_database_name = NULL;
char	   *bp_compute_os_user = NULL;
int			bp_compute_port_base = 55432;
int			bp_compute_port_count = 1000;
int			bp_compute_start_timeout_ms = 60000;
int			bp_operation_timeout_ms = 300000;
int			bp_reconcile_interval_ms = 10000;
int			bp_migration_lock_timeout_ms = 500;
int			bp_migration_retry_for_ms = 2 * 60 * 1000;
int			bp_migration_statement_timeout_ms = 15 * 60 * 1000;
int			bp_history_retention_s = 7 * 24 * 3600;
int			bp_trash_retention_s = 24 * 3600;
int			bp_snapshot_interval_s = 3600;
int			bp_defragment_extents = 0;
int			bp_suspend_timeout_s = 300;
int			bp_recovery_window_s = 7 * 24 * 3600;
char	   *bp_crash_at = NULL;
int			bp_proxy_port = 0;
char	   *bp_proxy_listen_addresses = NULL;
int			bp_proxy_connect_timeout_ms = 30000;
int			bp_proxy_max_connections = 1000;
char	   *bp_proxy_ssl_cert_file = NULL;
char	   *bp_proxy_ssl_key_file = NULL;

/* A path setting must be empty (use the default) or absolute and safe. */
static bool
CheckPathSetting(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0' || BpPathIsSafe(*newval))
		return true;
	GUC_check_errdetail("The path must be absolute and must not contain quotes, backslashes, '%%', '$', '`' or control characters.");
	return false;
}

/* Register every GUC but the drivers' (drivers.c); _PG_init reserves the prefix. */
void
BpGucInit(void)
{
	DefineCustomStringVariable("branchpromote.data_root",
							   "Directory where timelines (data directories and WAL archives) live.",
							   "Empty means \"branchpromote\" beside the control server's data directory. Must be one filesystem.",
							   &bp_data_root_setting, "",
							   PGC_POSTMASTER, 0,
							   CheckPathSetting, NULL, NULL);
	DefineCustomStringVariable("branchpromote.socket_directory",
							   "Directory holding each compute's private unix-socket directory.",
							   "Empty means \"run\" under branchpromote.data_root.",
							   &bp_socket_directory_setting, "",
							   PGC_POSTMASTER, 0,
							   CheckPathSetting, NULL, NULL);
	DefineCustomStringVariable("branchpromote.database_name",
							   "Database of the control server that holds the branchpromote catalog.",
							   NULL,
							   &bp_database_name, "postgres",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.compute_os_user",
							   "OS user the computes run as; empty means the control server's own.",
							   "Set it in production: a compute's superuser can run programs as this user. It must not be root or the server's user; the server's user must be in its group, and may run branchpromote_helper through sudo (see doc/computes.md).",
							   &bp_compute_os_user, "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.compute_port_base",
							"First loopback TCP port handed to computes.",
							NULL,
							&bp_compute_port_base, 55432, 1024, 65535 - 1,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.compute_port_count",
							"How many ports from compute_port_base computes may use.",
							NULL,
							&bp_compute_port_count, 1000, 1, 64511,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.compute_start_timeout",
							"How long a call waits for a compute to accept connections.",
							NULL,
							&bp_compute_start_timeout_ms, 60000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.operation_timeout",
							"Upper bound on each remote step of an operation (backup start/stop, bootstrap).",
							NULL,
							&bp_operation_timeout_ms, 300000, 100, INT_MAX,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.reconcile_interval",
							"Time between the reconciler's periodic passes (it also runs on every catalog change).",
							NULL,
							&bp_reconcile_interval_ms, 10000, 100, 3600 * 1000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.migration_lock_timeout",
							"lock_timeout for migrations: how long one waits for a lock before giving up.",
							"Short, so a migration queued behind a long transaction does not block every query behind it.",
							&bp_migration_lock_timeout_ms, 500, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.migration_retry_for",
							"How long a migration run retries lock timeouts and deadlocks (0: never).",
							"Each retry rolls back what the wait failed, then waits a jittered exponential backoff (one lock timeout, at least 100 ms, doubling up to 5 s).",
							&bp_migration_retry_for_ms, 2 * 60 * 1000, 0, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.migration_statement_timeout",
							"statement_timeout for each migration.",
							NULL,
							&bp_migration_statement_timeout_ms, 15 * 60 * 1000, 1, INT_MAX,
							PGC_USERSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.history_retention",
							"How long WAL and snapshots are kept for point-in-time forks.",
							"Older ones are pruned by the reconciler, except the newest snapshot before the window (so its start stays reachable).",
							&bp_history_retention_s, 7 * 24 * 3600, 1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.trash_retention",
							"How long removed timelines and snapshots stay in the trash before the reconciler deletes them.",
							"<data_root>/trash/<epoch seconds>/...: move a timeline back from there by hand within this time to undo a removal.",
							&bp_trash_retention_s, 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.snapshot_interval",
							"How often the reconciler takes a snapshot of each running prod (0: never; anchors still take theirs).",
							"A snapshot bounds the WAL a rollback replays.",
							&bp_snapshot_interval_s, 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.defragment_extents",
							"Before each periodic snapshot, relation files of the running prod with more extents than this are rewritten contiguously (0: never).",
							"A reflink clone costs per extent: this keeps snapshots, previews and rollbacks of a busy prod as cheap as its first ones.",
							&bp_defragment_extents, 0, 0, INT_MAX,
							PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.suspend_timeout",
							"A compute with no client connection for this long is shut down (scale to zero; 0: never).",
							"A project can override it with branchpromote.set_suspend_timeout.",
							&bp_suspend_timeout_s, 300, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.recovery_window",
							"How long a discarded branch or a dropped project keeps its data for restore_branch or undrop_project.",
							"After it the reconciler removes them (0: at its next pass).",
							&bp_recovery_window_s, 7 * 24 * 3600, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.crash_at",
							   "Tests only: kill the backend (\"postmaster:<step>\": and the control postmaster) with SIGKILL right after the named operation step.",
							   NULL,
							   &bp_crash_at, "",
							   PGC_SUSET, GUC_NOT_IN_SAMPLE | GUC_NO_SHOW_ALL,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.proxy_port",
							"TCP port of the proxy that routes clients to computes by database name (0: no proxy).",
							"Clients connect to database \"<project>\" for prod, \"<project>.dev\" for dev, \"<project>.<branch>\" for a branch.",
							&bp_proxy_port, 0, 0, 65535,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.proxy_listen_addresses",
							   "Comma-separated host names or IP addresses the proxy listens on (\"*\": every address).",
							   NULL,
							   &bp_proxy_listen_addresses, "localhost",
							   PGC_POSTMASTER, GUC_LIST_INPUT,
							   NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.proxy_connect_timeout",
							"How long the proxy lets a client wait for its compute to wake and accept the connection.",
							NULL,
							&bp_proxy_connect_timeout_ms, 30000, 100, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("branchpromote.proxy_max_connections",
							"Most client connections the proxy relays at once; more are refused with SQLSTATE 53300.",
							NULL,
							&bp_proxy_max_connections, 1000, 1, 100000,
							PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.proxy_ssl_cert_file",
							   "PEM certificate (chain) with which the proxy answers clients' TLS requests (empty: no TLS).",
							   "Relative paths are relative to the data directory. Set together with proxy_ssl_key_file.",
							   &bp_proxy_ssl_cert_file, "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.proxy_ssl_key_file",
							   "The proxy certificate's unencrypted PEM private key.",
							   NULL,
							   &bp_proxy_ssl_key_file, "",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
}

/* The data root: the setting, or "branchpromote" beside the data directory. */
const char *
BpDataRoot(void)
{
	static char *derived = NULL;

	if (bp_data_root_setting != NULL && bp_data_root_setting[0] != '\0')
		return bp_data_root_setting;
	if (derived == NULL)
	{
		char		parent[MAXPGPATH];
		char	   *abs = make_absolute_path(DataDir);

		if (abs == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_OUT_OF_MEMORY),
					 errmsg("out of memory")));
		strlcpy(parent, abs, sizeof(parent));
		get_parent_directory(parent);
		derived = MemoryContextStrdup(TopMemoryContext,
									  psprintf("%s/branchpromote", parent));
		free(abs);			/* make_absolute_path mallocs */
		if (!BpPathIsSafe(derived))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("derived data root \"%s\" is not a safe path", derived),
					 errhint("Set branchpromote.data_root to an absolute path without quotes or special characters.")));
	}
	return derived;
}

/* Where per-compute socket directories live. */
const char *
BpSocketRoot(void)
{
	static char *derived = NULL;

	if (bp_socket_directory_setting != NULL && bp_socket_directory_setting[0] != '\0')
		return bp_socket_directory_setting;
	if (derived == NULL)
		derived = MemoryContextStrdup(TopMemoryContext,
									  psprintf("%s/run", BpDataRoot()));
	return derived;
}
