/*
 * reconcile_requests.c — backends' requests: start, stop, the template, a
 * failed deploy to record.  A job of the reconciler; worker.c runs the
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

typedef struct ReqItem
{
	int			slot;
	BpRequest	req;
	BpReply		reply;
	bool		deferred;		/* its project is held: asked again later */
	bool		pending;		/* a start goes on: EndStart answers it */
	bool		refused;		/* a start of a compute not to run: nothing failed */
} ReqItem;

/* Record a failed deploy once the failed transaction let go of its project. */
static void
DoRecordFailedDeploy(void *arg)
{
	ReqItem    *it = arg;
	const BpFailedDeploy *f = &it->req.failed;
	int			lock = CatalogLockProjectKeyShare(f->project_id);

	if (lock == 0)
	{
		it->deferred = true;
		return;
	}
	if (lock > 0)
		CatalogInsertFailedDeploy(f->project_id, f->action,
								  f->release[0] ? f->release : NULL,
								  f->started_at, f->elapsed_ms, f->error);
	it->reply.ok = true;
}

void
DoTemplate(void *arg)
{
	BpStorage()->ensure_template();
}

/*
 * The schema check a suspend_compute read before the stop, from the
 * segment its backend holds while it waits; gone (it gave up): none.
 */
static void
MirrorHandedOver(dsm_handle h, int64 timeline_id)
{
	dsm_segment *seg;
	char	   *json;

	if (h == DSM_HANDLE_INVALID || (seg = dsm_attach(h)) == NULL)
		return;
	json = pnstrdup(dsm_segment_address(seg), dsm_segment_map_length(seg));
	dsm_detach(seg);
	CatalogSetSchemaMirror(timeline_id, json);
}

/* Carry out one start/stop request. */
static void
DoRequest(void *arg)
{
	ReqItem    *it = arg;
	BpComputeSpec spec = it->req.spec;
	BpComputeRow row;
	bool		locked;

	if (it->req.committed)
	{
		if (!CatalogGetComputeById(spec.compute_id, true, &locked, &row))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("compute " INT64_FORMAT " does not exist", spec.compute_id)));
		if (!locked)
		{
			it->deferred = true;	/* an operation holds its project */
			return;
		}
		spec = row.spec;
		/* asked before its project's drop committed: it is not to run now */
		if (it->req.kind == BP_REQ_START && strcmp(row.desired_state, "running") != 0)
		{
			snprintf(it->reply.error, sizeof(it->reply.error),
					 "compute " INT64_FORMAT " is not to run: its project was dropped", spec.compute_id);
			it->refused = true;
			return;
		}
	}
	if (it->req.kind == BP_REQ_START)
	{
		it->reply.pid = BeginStart(&spec, it->req.timeout_ms > 0 ? it->req.timeout_ms :
								   bp_compute_start_timeout_ms, it->req.committed, it->req.trial, it->slot);
		if (it->reply.pid == 0)
		{
			it->pending = true;
			return;
		}
		if (it->req.committed)
			CatalogSetComputeState(spec.compute_id, "running", it->reply.pid, NULL);
	}
	else
	{
		StopCompute(&spec);
		if (it->req.committed)
		{
			CatalogSetComputeState(spec.compute_id, "suspended", 0, NULL);
			MirrorHandedOver(it->req.mirror, spec.timeline_id);
		}
	}
	it->reply.ok = true;
}

/* Answer every pending request once; true if some had to wait. */
bool
ProcessRequests(void)
{
	int			slot;
	bool		deferred_any = false;
	ReqItem		it;

	CheckStarts();
	(void) BpJobsHarvest(JobDone);
	for (int from = 0; BpWorkerNextRequest(from, &slot, &it.req); from = slot + 1)
	{
		TimestampTz start = GetCurrentTimestamp();
		bool		ok;

		memset(&it.reply, 0, sizeof(it.reply));
		it.slot = slot;
		it.deferred = false;
		it.pending = false;
		it.refused = false;
		if (it.req.kind == BP_REQ_TEMPLATE)
			ok = RunItem("making the timeline template", false, DoTemplate, &it,
						 it.reply.error, sizeof(it.reply.error));
		else if (it.req.kind == BP_REQ_RECORD_FAILED_DEPLOY)
			ok = RunItem("recording a failed deploy", true, DoRecordFailedDeploy, &it,
						 it.reply.error, sizeof(it.reply.error));
		else
			ok = RunItem(it.req.kind == BP_REQ_START ? "starting a compute" : "stopping a compute",
						 true, DoRequest, &it,
						 it.reply.error, sizeof(it.reply.error));
		if (it.deferred)
		{
			BpWorkerDefer(slot);
			deferred_any = true;
			continue;
		}
		if (ok && it.pending)
			continue;			/* answered when its start ends */
		it.reply.ok = ok && !it.refused;
		if (!ok && it.req.committed && it.req.kind != BP_REQ_RECORD_FAILED_DEPLOY)
			RecordFailure(it.req.spec.compute_id, it.reply.error);
		it.reply.elapsed_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
		BpWorkerReply(slot, &it.reply);
	}
	return deferred_any;
}
