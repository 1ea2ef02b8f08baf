/*
 * reconcile_starts.c — compute starts in progress: launched, then looked at
 * each round, never waited on.  A job of the reconciler; worker.c runs the
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

List *starts = NIL;		/* of Start *, in TopMemoryContext */
bool want_full = false;	/* a start could not be recorded: adopt it */

Start *
FindStart(int64 compute_id)
{
	ListCell   *lc;

	foreach(lc, starts)
		if (((Start *) lfirst(lc))->spec.compute_id == compute_id)
			return lfirst(lc);
	return NULL;
}

/* Is a start in progress on this timeline? */
bool
StartingOn(int64 timeline_id)
{
	ListCell   *lc;

	foreach(lc, starts)
		if (((Start *) lfirst(lc))->spec.timeline_id == timeline_id)
			return true;
	return false;
}

/*
 * Ask the driver to start it (catalog session open: the template gives its
 * settings).  A trial run also gets archive_mode = off, after the
 * template's settings so that it wins.
 */
static void
Launch(const BpComputeSpec *spec, bool trial)
{
	BpManifestInput tmpl;
	BpKeyValue *settings;

	memset(&tmpl, 0, sizeof(tmpl));
	CatalogComputeTemplate(&tmpl);	/* refuses unusable settings */
	settings = palloc((tmpl.nsettings + 1) * sizeof(BpKeyValue));
	if (tmpl.nsettings > 0)
		memcpy(settings, tmpl.settings, tmpl.nsettings * sizeof(BpKeyValue));
	if (trial)
		settings[tmpl.nsettings] = (BpKeyValue) {.key = "archive_mode", .value = "off"};
	BpCompute()->start(spec, settings, tmpl.nsettings + (trial ? 1 : 0));
}

/*
 * Start a compute unless it runs (in an item's transaction).  Returns its
 * pid if it accepts connections already; else 0, and the start goes on
 * without us, answering slot (-1: nobody waits) when it ends.  trial: a
 * trial run, if this call launches it (Launch).
 */
int
BeginStart(const BpComputeSpec *spec, int timeout_ms, bool record, bool trial, int slot)
{
	Start	   *s = FindStart(spec->compute_id);
	TimestampTz deadline = BpDeadline(timeout_ms);
	TimestampTz asked = GetCurrentTimestamp();	/* a waiter's time counts the launch too */
	int			pid;
	MemoryContext old;

	if (s == NULL)
	{
		BpComputeStatus st = BpCompute()->observe(spec, &pid);

		if (st == BP_COMPUTE_READY)
			return pid;
		s = MemoryContextAllocZero(TopMemoryContext, sizeof(Start));
		s->spec = *spec;
		s->timeout_ms = timeout_ms;
		s->deadline = deadline;
		s->trial = trial;
		if (BpComputeDown(st))
		{
			TimestampTz t = GetCurrentTimestamp();

			Launch(spec, s->trial);
			s->launched = true;
			s->spawn_ms = (double) (GetCurrentTimestamp() - t) / 1000.0;
		}
		old = MemoryContextSwitchTo(TopMemoryContext);
		starts = lappend(starts, s);	/* after the launch: an error leaves none */
		MemoryContextSwitchTo(old);
	}
	else if (deadline > s->deadline)
	{
		s->deadline = deadline;
		s->timeout_ms = timeout_ms;
	}
	s->record |= record;
	if (slot >= 0)
	{
		s->waiters[s->nwaiters].slot = slot;
		s->waiters[s->nwaiters].since = asked;
		s->nwaiters++;
	}
	return 0;
}

typedef struct Started
{
	Start	   *start;
	int			pid;
} Started;

/* Record a start that ended well, unless an operation holds its project. */
static void
DoRecordStarted(void *arg)
{
	Started    *d = arg;
	BpComputeRow row;
	bool		locked;

	if (!CatalogGetComputeById(d->start->spec.compute_id, true, &locked, &row))
		return;
	if (!locked)
		want_full = true;		/* the next full pass adopts it */
	else if (row.spec.timeline_id == d->start->spec.timeline_id)
		CatalogSetComputeState(row.id, "running", d->pid, NULL);
}

/* A start ended (error NULL: it accepts connections as pid): tell its waiters. */
void
EndStart(Start *s, int pid, const char *error)
{
	BpReply		reply;

	if (error == NULL && s->record)
	{
		Started		d = {s, pid};

		(void) RunItem("recording a started compute", true, DoRecordStarted, &d, NULL, 0);
	}
	else if (error != NULL && s->record)
		RecordFailure(s->spec.compute_id, error);
	for (int i = 0; i < s->nwaiters; i++)
	{
		memset(&reply, 0, sizeof(reply));
		reply.ok = error == NULL;
		reply.pid = pid;
		reply.spawn_ms = s->spawn_ms;
		reply.ready_ms = s->ready_ms;
		if (error)
			strlcpy(reply.error, error, sizeof(reply.error));
		reply.elapsed_ms = (double) (GetCurrentTimestamp() - s->waiters[i].since) / 1000.0;
		BpWorkerReply(s->waiters[i].slot, &reply);
	}
	starts = list_delete_ptr(starts, s);
	pfree(s);
}

/*
 * Stop a compute.  A stop wins over a start in progress: the start ends
 * first, its waiters are told, and it is not recorded as failed.
 */
void
StopCompute(const BpComputeSpec *spec)
{
	Start	   *s = FindStart(spec->compute_id);

	if (s != NULL)
	{
		s->record = false;
		EndStart(s, 0, psprintf("compute " INT64_FORMAT " was stopped while it was starting",
								spec->compute_id));
	}
	BpCompute()->stop(spec);
}

static void
DoRelaunch(void *arg)
{
	Start	   *s = arg;

	Launch(&s->spec, s->trial);
	s->launched = true;
}

/* Look at every start in progress once, without waiting. */
void
CheckStarts(void)
{
	ListCell   *lc;

	foreach(lc, starts)
	{
		Start	   *s = lfirst(lc);
		int			pid;
		BpComputeStatus st = BpCompute()->observe(&s->spec, &pid);
		char		err[1024];

		if (st == BP_COMPUTE_READY)
		{
			TimestampTz since = BpCompute()->ready_since(&s->spec);

			if (since != 0)
				s->ready_ms = Max(0.0, (double) (GetCurrentTimestamp() - since) / 1000.0);
			EndStart(s, pid, NULL);
		}
		else if (st == BP_COMPUTE_FAILED || (st == BP_COMPUTE_DOWN && s->launched))
			EndStart(s, 0, psprintf("compute " INT64_FORMAT " exited while starting: %s",
									s->spec.compute_id, BpCompute()->log_tail(&s->spec)));
		else if (st == BP_COMPUTE_DOWN && !s->launched &&
				 !RunItem("starting a compute", true, DoRelaunch, s, err, sizeof(err)))
			EndStart(s, 0, err);	/* found starting, then it went down: launched again */
		else if (BpPast(s->deadline))
			EndStart(s, 0, psprintf("compute " INT64_FORMAT " did not accept connections within %d ms: %s",
									s->spec.compute_id, s->timeout_ms,
									BpCompute()->log_tail(&s->spec)));
		else
			continue;
		CheckStarts();			/* the list changed under foreach */
		return;
	}
}
