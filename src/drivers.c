/*
 * drivers.c — which storage and compute drivers this server uses:
 * branchpromote.storage_driver and branchpromote.compute_driver, read once
 * at startup (a name no driver has stops the server, with the list of
 * those built in).  Only "local" exists.
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/guc.h"

#include "driver.h"
#include "drivers.h"
#include "local.h"

static const BpStorageDriver *const storage_drivers[] = {&bp_local_storage};
static const BpComputeDriver *const compute_drivers[] = {&bp_local_compute};

#define NSTORAGE ((int) lengthof(storage_drivers))
#define NCOMPUTE ((int) lengthof(compute_drivers))

static char *storage_driver = NULL;
static char *compute_driver = NULL;
static const BpStorageDriver *storage = &bp_local_storage;
static const BpComputeDriver *compute = &bp_local_compute;

const BpStorageDriver *
BpStorage(void)
{
	return storage;
}

const BpComputeDriver *
BpCompute(void)
{
	return compute;
}

const BpComputeAddr *
BpServerOn(const BpComputeSpec *spec, bool settled)
{
	BpComputeAddr *addr;
	int			instance;
	BpComputeStatus st = compute->observe(spec, &instance);

	if (BpComputeDown(st))
		return NULL;
	if (settled && st == BP_COMPUTE_STARTING)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the source compute is starting or stopping"),
				 errhint("Try again when SELECT * FROM branchpromote.computes shows it running or suspended.")));
	addr = palloc(sizeof(BpComputeAddr));
	compute->admin_address(spec, addr);
	return addr;
}

static int
StorageIndex(const char *name)
{
	for (int i = 0; name != NULL && i < NSTORAGE; i++)
		if (strcmp(name, storage_drivers[i]->name) == 0)
			return i;
	return -1;
}

static int
ComputeIndex(const char *name)
{
	for (int i = 0; name != NULL && i < NCOMPUTE; i++)
		if (strcmp(name, compute_drivers[i]->name) == 0)
			return i;
	return -1;
}

/* "local", or "local, neon": the names built in, for a hint */
static char *
Names(bool of_storage)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < (of_storage ? NSTORAGE : NCOMPUTE); i++)
		appendStringInfo(&s, "%s\"%s\"", i > 0 ? ", " : "",
						 of_storage ? storage_drivers[i]->name : compute_drivers[i]->name);
	return s.data;
}

/* Register branchpromote.storage_driver and branchpromote.compute_driver (from _PG_init). */
void
BpDriversInit(void)
{
	DefineCustomStringVariable("branchpromote.storage_driver",
							   "The storage driver: where timelines live and how they fork.",
							   "Only \"local\" (data directories on this machine) is built in.",
							   &storage_driver, "local",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("branchpromote.compute_driver",
							   "The compute driver: where computes run.",
							   "Only \"local\" (postmasters on this machine) is built in.",
							   &compute_driver, "local",
							   PGC_POSTMASTER, 0,
							   NULL, NULL, NULL);

	/*
	 * Checked here, not by a check hook: a value from the configuration
	 * file that a hook refuses only draws a WARNING and the default.  In
	 * _PG_init an ERROR stops the server from starting.
	 */
	if (StorageIndex(storage_driver) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown storage driver \"%s\"", storage_driver),
				 errhint("Drivers built in: %s.  Set branchpromote.storage_driver to one of them.", Names(true))));
	if (ComputeIndex(compute_driver) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown compute driver \"%s\"", compute_driver),
				 errhint("Drivers built in: %s.  Set branchpromote.compute_driver to one of them.", Names(false))));
	storage = storage_drivers[StorageIndex(storage_driver)];
	compute = compute_drivers[ComputeIndex(compute_driver)];
}
