/*
 * branchpromote.c — module entry: wires the modules together, nothing else.
 */
#include "postgres.h"

#include "commands/dbcommands.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/ipc.h"

#include "guc.h"
#include "proxy.h"
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
	BpProxyStatsShmemRequest();
}

static void
ShmemStartup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	BpRequestsShmemInit();
	BpProxyStatsShmemInit();
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
	(void) BpDataRoot();		/* refuse to start with an unsafe derived data root */
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = ShmemRequest;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = ShmemStartup;
	BpRequestsInit();
	BpXactEndInit();
	BpWorkerRegister();
	BpProxyRegister();
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
