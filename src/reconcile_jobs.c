/*
 * reconcile_jobs.c — handing slow work (snapshots, emptying the trash) to
 * background job workers.  A job of the reconciler; worker.c runs the
 * passes.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "jobs.h"
#include "journal.h"
#include "ledger.h"
#include "pgconn.h"
#include "process.h"
#include "proxystats.h"
#include "requests.h"
#include "twophase.h"
#include "reconcile.h"

/* A job the reconciler could not hand to a worker: done in its own loop. */
typedef struct InlineJob
{
	BpJobKind	kind;
	int64		arg;
} InlineJob;

static void
DoJob(void *arg)
{
	InlineJob  *j = arg;

	BpJobRun(j->kind, j->arg);
}

/* A job's worker ended: a failed snapshot backs off. */
void
JobDone(BpJobKind kind, int64 arg, const char *error)
{
	if (kind == BP_JOB_SNAPSHOT && error != NULL)
	{
		ereport(LOG,
				(errmsg("branchpromote reconciler: periodic snapshot of compute " INT64_FORMAT " failed: %s",
						arg, error)));
		SnapshotBackOff(arg);
	}
}

/*
 * Hand a job to a worker of its own; if none can be had, do it here.
 * Returns false if it was done here and failed.
 */
bool
StartJob(const char *what, BpJobKind kind, int64 arg)
{
	InlineJob	j = {kind, arg};

	if (BpJobStart(kind, arg))
		return true;
	return RunItem(what, true, DoJob, &j, NULL, 0);
}
