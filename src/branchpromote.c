/*
 * branchpromote.c — module entry: wires the modules together, nothing else.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "utils/guc.h"

#include "drivers.h"
#include "guc.h"
#include "jobs.h"
#include "proxy.h"
#include "proxyroute.h"
#include "proxystats.h"
#include "requests.h"
#include "worker.h"
#include "xactend.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static void
ShmemRequest(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	BpRequestsShmemRequest();
	BpJobsShmemRequest();
	BpProxyStatsShmemRequest();
	ProxyRoutesShmemRequest();
}

static void
ShmemStartup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	BpRequestsShmemInit();
	BpJobsShmemInit();
	BpProxyStatsShmemInit();
	ProxyRoutesShmemInit();
}

/* Register one of the module's background workers (restarted 1 s after it exits). */
static void
RegisterWorker(const char *function, const char *name)
{
	BackgroundWorker w;

	memset(&w, 0, sizeof(w));
	w.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	w.bgw_start_time = BgWorkerStart_RecoveryFinished;
	w.bgw_restart_time = 1;
	strlcpy(w.bgw_library_name, "branchpromote", BGW_MAXLEN);
	strlcpy(w.bgw_function_name, function, BGW_MAXLEN);
	strlcpy(w.bgw_name, name, BGW_MAXLEN);
	strlcpy(w.bgw_type, name, BGW_MAXLEN);
	RegisterBackgroundWorker(&w);
}

void
_PG_init(void)
{
	if (IsBinaryUpgrade)
		return;
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branchpromote must be loaded via shared_preload_libraries"),
				 errhint("Add branchpromote to shared_preload_libraries in postgresql.conf and restart the server.")));
	BpGucInit();
	BpDriversInit();
	MarkGUCPrefixReserved("branchpromote");	/* after every setting of ours is defined */
	(void) BpDataRoot();		/* refuse to start with an unsafe derived data root */
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ShmemStartup;
	BpRequestsInit();
	BpXactEndInit();
	RegisterWorker("branchpromote_reconciler_main", "branchpromote reconciler");
	if (bp_proxy_port != 0)
	{
		RegisterWorker("branchpromote_proxy_main", "branchpromote proxy");
		RegisterWorker("branchpromote_route_resolver_main", "branchpromote route resolver");
	}
}

PG_FUNCTION_INFO_V1(branchpromote_check_install);

/* CREATE EXTENSION runs this: the catalog must live where the worker looks. */
Datum
branchpromote_check_install(PG_FUNCTION_ARGS)
{
	char	   *db = get_database_name(MyDatabaseId);

	if (strcmp(db, bp_database_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branchpromote must be created in database \"%s\", not \"%s\"",
						bp_database_name, db),
				 errhint("Connect to \"%s\", or set branchpromote.database_name and restart.",
						 bp_database_name)));
	PG_RETURN_VOID();
}
