/*
 * worker.c — the reconciler: makes reality match the catalog.
 *
 * Level-triggered: every pass reads desired state from the catalog and
 * compares it with what runs and what is on disk.  It
 *   - answers backends' requests (start or stop a compute, make the template);
 *   - starts computes that should run and do not, adopts running ones after
 *     a restart of the control server (same pid, no restart);
 *   - removes timeline directories no committed row references once the
 *     transaction that created them has finished (aborted operations,
 *     dropped projects), stopping any server running on them first.
 * One transaction per item; an error on one item is logged and recorded on
 * it (compute.last_error) and the loop goes on.  It waits only on its latch
 * (with postmaster death), woken by requests and by commits that change the
 * catalog, with a periodic pass as a backstop.
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
#include "worker.h"


typedef void (*ItemFn) (void *arg);

/* A full pass at least this often, even when nothing asked for one. */
#define FULL_PASS_INTERVAL_MS 60000

static MemoryContext loop_cxt;

/*
 * Run fn in its own transaction (with the catalog open if with_catalog).
 * On error: log it, copy its message to errbuf, roll back, return false.
 */
static bool
RunItem(const char *what, bool with_catalog, ItemFn fn, void *arg,
		char *errbuf, size_t errlen)
{
	volatile bool ok = true;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, what);
	PG_TRY();
	{
		if (with_catalog)
			CatalogBegin();
		fn(arg);
		if (with_catalog)
			CatalogEnd();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(loop_cxt);
		ed = CopyErrorData();
		FlushErrorState();
		ereport(LOG,
				(errmsg("branchpromote reconciler: %s: %s", what, ed->message),
				 ed->detail ? errdetail_internal("%s", ed->detail) : 0));
		if (errbuf)
			snprintf(errbuf, errlen, "%s%s%s", ed->message,
					 ed->detail ? ": " : "", ed->detail ? ed->detail : "");
		AbortCurrentTransaction();
		ok = false;
	}
	PG_END_TRY();
	MemoryContextSwitchTo(loop_cxt);
	pgstat_report_activity(STATE_IDLE, NULL);
	return ok;
}

/*
 * Compute starts in progress.  A start is launched inside an item's
 * transaction and then left to run: every round of requests (between the
 * items of a pass, and each turn of the loop) looks at each start without
 * waiting, and answers the requests waiting on it once it accepts
 * connections, exits or runs out of time.  So one slow start never holds
 * up another compute's wake, nor the pass.
 */
typedef struct Waiter
{
	int			slot;
	TimestampTz since;
} Waiter;

typedef struct Start
{
	BpComputeSpec spec;
	int			launched;		/* the postmaster launched (0: found starting) */
	double		spawn_ms;		/* what launching it took */
	TimestampTz deadline;
	int			timeout_ms;
	bool		record;			/* a committed row: record its new state */
	int			nwaiters;
	Waiter		waiters[BP_REQUEST_SLOTS];
} Start;

static List *starts = NIL;		/* of Start *, in TopMemoryContext */
static bool want_full = false;	/* a start could not be recorded: adopt it */

static Start *
FindStart(int64 compute_id)
{
	ListCell   *lc;

	foreach(lc, starts)
		if (((Start *) lfirst(lc))->spec.compute_id == compute_id)
			return lfirst(lc);
	return NULL;
}

/* Is a start in progress on this timeline? */
static bool
StartingOn(int64 timeline_id)
{
	ListCell   *lc;

	foreach(lc, starts)
		if (((Start *) lfirst(lc))->spec.timeline_id == timeline_id)
			return true;
	return false;
}

/* Launch the postmaster (catalog session open: the template gives its settings). */
static int
Launch(const BpComputeSpec *spec)
{
	BpManifestInput tmpl;

	memset(&tmpl, 0, sizeof(tmpl));
	CatalogComputeTemplate(&tmpl);	/* refuses unusable settings */
	return BpCompute()->start(spec, tmpl.settings, tmpl.nsettings);
}

/*
 * Start a compute unless it runs (in an item's transaction).  Returns its
 * pid if it accepts connections already; else 0, and the start goes on
 * without us, answering slot (-1: nobody waits) when it ends.
 */
static int
BeginStart(const BpComputeSpec *spec, int timeout_ms, bool record, int slot)
{
	Start	   *s = FindStart(spec->compute_id);
	TimestampTz deadline = BpDeadline(timeout_ms);
	TimestampTz asked = GetCurrentTimestamp();	/* a waiter's time counts the launch too */
	int			pid;
	MemoryContext old;

	if (s == NULL)
	{
		BpComputeStatus st = BpCompute()->status(spec, &pid);

		if (st == BP_COMPUTE_READY)
			return pid;
		s = MemoryContextAllocZero(TopMemoryContext, sizeof(Start));
		s->spec = *spec;
		s->timeout_ms = timeout_ms;
		s->deadline = deadline;
		if (st == BP_COMPUTE_DOWN)
		{
			TimestampTz t = GetCurrentTimestamp();

			s->launched = Launch(spec);
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

static void RecordFailure(int64 compute_id, const char *error);
static void JobDone(BpJobKind kind, int64 arg, const char *error);

/* A start ended (error NULL: it accepts connections as pid): tell its waiters. */
static void
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
		if (error)
			strlcpy(reply.error, error, sizeof(reply.error));
		reply.elapsed_ms = (double) (GetCurrentTimestamp() - s->waiters[i].since) / 1000.0;
		BpWorkerReply(s->waiters[i].slot, &reply);
	}
	starts = list_delete_ptr(starts, s);
	pfree(s);
}

static void
DoRelaunch(void *arg)
{
	Start	   *s = arg;

	s->launched = Launch(&s->spec);
}

/* Look at every start in progress once, without waiting. */
static void
CheckStarts(void)
{
	ListCell   *lc;

	foreach(lc, starts)
	{
		Start	   *s = lfirst(lc);
		int			pid;
		BpComputeStatus st = BpCompute()->status(&s->spec, &pid);
		char		err[1024];

		if (st == BP_COMPUTE_READY)
			EndStart(s, pid, NULL);
		else if (st == BP_COMPUTE_DOWN && s->launched > 0 && !BpPidAlive(s->launched))
			EndStart(s, 0, psprintf("compute " INT64_FORMAT " exited while starting: %s",
									s->spec.compute_id, BpCompute()->log_tail(&s->spec)));
		else if (st == BP_COMPUTE_DOWN && s->launched == 0 &&
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

typedef struct ReqItem
{
	int			slot;
	BpRequest	req;
	BpReply		reply;
	bool		deferred;		/* its project is held: asked again later */
	bool		pending;		/* a start goes on: EndStart answers it */
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

static void
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
	}
	if (it->req.kind == BP_REQ_START)
	{
		it->reply.pid = BeginStart(&spec, it->req.timeout_ms > 0 ? it->req.timeout_ms :
								   bp_compute_start_timeout_ms, it->req.committed, it->slot);
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
		Start	   *s = FindStart(spec.compute_id);

		/*
		 * A stop that comes while the compute starts wins: the start's
		 * waiters are told, and the compute is not recorded as failed.
		 */
		if (s != NULL)
		{
			s->record = false;
			EndStart(s, 0, psprintf("compute " INT64_FORMAT " was stopped while it was starting",
									spec.compute_id));
		}
		BpCompute()->stop(&spec);
		if (it->req.committed)
		{
			CatalogSetComputeState(spec.compute_id, "suspended", 0, NULL);
			MirrorHandedOver(it->req.mirror, spec.timeline_id);
		}
	}
	it->reply.ok = true;
}

typedef struct FailItem
{
	int64		compute_id;
	const char *error;
} FailItem;

static void
DoRecordFailure(void *arg)
{
	FailItem   *f = arg;

	if (CatalogComputeExists(f->compute_id))
		CatalogSetComputeState(f->compute_id, "failed", 0, f->error);
}

static void
RecordFailure(int64 compute_id, const char *error)
{
	FailItem	f = {compute_id, error};

	(void) RunItem("recording a compute failure", true, DoRecordFailure, &f, NULL, 0);
}

/* Answer every pending request once; true if some had to wait. */
static bool
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
		it.reply.ok = ok;
		if (!ok && it.req.committed && it.req.kind != BP_REQ_RECORD_FAILED_DEPLOY)
			RecordFailure(it.req.spec.compute_id, it.reply.error);
		it.reply.elapsed_ms = (double) (GetCurrentTimestamp() - start) / 1000.0;
		BpWorkerReply(slot, &it.reply);
	}
	return deferred_any;
}

/* A list of int64 ids, copied into the loop's context (outlives the item). */
static List *
CopyIds(List *ids)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, ids)
	{
		int64	   *id = palloc(sizeof(int64));

		*id = *(int64 *) lfirst(lc);
		out = lappend(out, id);
	}
	MemoryContextSwitchTo(old);
	return out;
}

static void
DoCheckExtension(void *arg)
{
	*(bool *) arg = CatalogExtensionInstalled();
}

/*
 * A digest of what the renderer makes of a fixed input, part of every
 * manifest key: a new version of the rendering code renders every
 * manifest again, though no input changed.
 */
static char *
RendererDigest(void)
{
	static const BpKeyValue kv[1] = {{"shared_buffers", "128MB"}};
	BpManifestInput in;

	memset(&in, 0, sizeof(in));
	in.project = "p";
	in.env = "dev";
	in.kind = "dev";
	in.timeline_id = 1;
	in.compute_id = 1;
	in.port = 5432;
	in.image = "postgres:15";
	in.resources_json = "{\"cpu\": \"1\"}";
	in.labels = kv;
	in.nlabels = 1;
	in.settings = kv;
	in.nsettings = 1;
	return BpSha256Hex(psprintf("%s\n%s", BpRenderManifest(&in), BpRenderRuntime(&in)));
}

static char *renderer = NULL;	/* RendererDigest(), once */

typedef struct ComputeList
{
	bool		full;			/* in: a full pass (tell the quiet ones) */
	BpComputeBrief *briefs;
	int			n;
} ComputeList;

/*
 * Down as recorded (suspended, or stopped on purpose), no server process
 * and client access not left closed: reconciling it would do nothing.  A
 * cheap look at its files, so a full pass needs no transaction for it;
 * if the row changed since it was listed, the next pass sees that.
 */
static bool
DownAsRecorded(const BpComputeBrief *b)
{
	int			pid;

	if (!(b->running ? b->suspended : b->stopped))
		return false;
	return BpCompute()->status(&b->spec, &pid) == BP_COMPUTE_DOWN &&
		!BpCompute()->client_access_closed(&b->spec);
}

static void
DoListComputes(void *arg)
{
	ComputeList *cl = arg;
	BpComputeBrief *b;

	if (renderer == NULL)		/* hashing needs a transaction's resource owner */
		renderer = MemoryContextStrdup(TopMemoryContext, RendererDigest());
	b = CatalogComputeBriefs(renderer, &cl->n);

	cl->briefs = MemoryContextAlloc(loop_cxt, sizeof(BpComputeBrief) * Max(1, cl->n));
	memcpy(cl->briefs, b, sizeof(BpComputeBrief) * cl->n);
	for (int i = 0; i < cl->n; i++)
		if (cl->full || !cl->briefs[i].running)
			cl->briefs[i].quiet = DownAsRecorded(&cl->briefs[i]);
}

/* Converge one compute to its desired state. */
static void
DoReconcileCompute(void *arg)
{
	int64		id = *(int64 *) arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	BpComputeStatus st;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked)
		return;					/* gone, or an operation holds its project */
	/* committed, yet closed: the backend that made it died before opening it */
	if (BpCompute()->client_access_closed(&row.spec))
		BpCompute()->set_client_access(&row.spec, true);
	/* running as recorded: the same server process is still there */
	if (strcmp(row.desired_state, "running") == 0 && strcmp(row.actual_state, "running") == 0 &&
		row.pid > 0 && BpCompute()->server_pid(&row.spec) == row.pid)
		return;
	st = BpCompute()->status(&row.spec, &pid);
	if (strcmp(row.desired_state, "running") == 0)
	{
		if (st == BP_COMPUTE_READY)
		{
			if (strcmp(row.actual_state, "running") != 0 || row.pid != pid)
			{
				/* adopt; a server started by an older version gets today's pg_hba.conf */
				BpCompute()->set_client_access(&row.spec, true);
				CatalogSetComputeState(id, "running", pid, NULL);
			}
			return;
		}
		if (st == BP_COMPUTE_STARTING || strcmp(row.actual_state, "suspended") == 0)
			return;
		ereport(LOG,
				(errmsg("branchpromote reconciler: starting compute %s/%s (was %s)",
						row.project, row.env, row.actual_state)));
		pid = BeginStart(&row.spec, bp_compute_start_timeout_ms, true, -1);
		if (pid > 0)
			CatalogSetComputeState(id, "running", pid, NULL);
	}
	else
	{
		if (st != BP_COMPUTE_DOWN)
			BpCompute()->stop(&row.spec);
		if (strcmp(row.actual_state, "stopped") != 0)
			CatalogSetComputeState(id, "stopped", 0, NULL);
	}
}

/*
 * Finish compute transactions whose control transaction ended without
 * finishing them (its backend died between PREPARE and COMMIT PREPARED):
 * commit if that transaction committed its catalog row for the gid, roll
 * back if it ended without.  The gid's xid only says whether the creator
 * may still be running: after a crash an unflushed xid can be handed out
 * again, so it never decides the outcome.
 */
static void
ResolvePrepared(PGconn *conn, int64 compute_id)
{
	const char **still;
	int			nstill = 0;

	PGresult   *res = BpExec(conn, "SELECT gid FROM pg_catalog.pg_prepared_xacts "
							 "WHERE gid LIKE '" BP_GID_PREFIX "%' AND database = current_database()",
							 0, NULL, bp_operation_timeout_ms);

	still = palloc(sizeof(char *) * Max(1, PQntuples(res)));
	for (int i = 0; i < PQntuples(res); i++)
	{
		const char *gid = PQgetvalue(res, i, 0);
		FullTransactionId fxid;
		bool		commit;

		still[nstill++] = pstrdup(gid);
		if (!BpTwoPhaseParseGid(gid, &fxid))
			continue;
		/* first: may its creator still be running?  (then: its row, fresh snapshot) */
		if (FullTransactionIdPrecedes(fxid, ReadNextFullTransactionId()) &&
			TransactionIdIsInProgress(XidFromFullTransactionId(fxid)))
			continue;
		commit = CatalogPreparedCommitted(gid);
		BpExecCommand(conn, psprintf("%s PREPARED %s", commit ? "COMMIT" : "ROLLBACK",
									 quote_literal_cstr(gid)),
					  bp_operation_timeout_ms);
		ereport(LOG,
				(errmsg("branchpromote reconciler: %s compute transaction %s, left by a control transaction that %s",
						commit ? "committed" : "rolled back", gid,
						commit ? "committed" : "did not commit")));
		nstill--;
	}
	PQclear(res);
	CatalogForgetPrepared(compute_id, still, nstill);
}

/*
 * Mirror a running compute's schema check in the catalog, so that
 * plan_promotion sees it once the compute is down; "unknown" if it could
 * not be read (plan_promotion then wakes the compute).
 */
static void
MirrorSchema(const BpComputeRow *row)
{
	BpSchemaCheck check;

	CatalogSetSchemaMirror(row->spec.timeline_id,
						   SchemaCheckQuietly(&row->spec, row->project, row->project_password, &check) ?
						   SchemaCheckJson(&check) : NULL);
}

/*
 * Refresh the catalog's copy of a running compute's ledger (the ledger
 * itself lives in the timeline: migrations applied there directly, or
 * inherited by a fork, show up here).
 */
static void
DoRefreshLedger(void *arg)
{
	int64		id = *(int64 *) arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	PGconn	   *conn;
	BpLedger	ledger;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked ||
		BpCompute()->status(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	conn = LedgerConnect(&row.spec, row.project, row.project_password);
	ResolvePrepared(conn, id);
	LedgerRead(conn, &ledger);
	BpDisconnect(conn);
	CatalogReplaceLedgerMirror(row.spec.timeline_id, &ledger);
	MirrorSchema(&row);
}

/*
 * Scale to zero: a running compute with client connections is active now;
 * one without any for longer than its suspend timeout is shut down cleanly
 * (the proxy or wake_compute starts it again).
 */
static void
DoIdle(void *arg)
{
	int64		id = *(int64 *) arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	int64		timeout_s;
	BpComputeAddr addr;
	PGconn	   *conn;
	PGresult   *res;
	int			clients;
	int64		idle_s;
	int64		proxy_idle_s;

	if (!CatalogGetComputeById(id, true, &locked, &row) || !locked ||
		strcmp(row.desired_state, "running") != 0 || strcmp(row.actual_state, "running") != 0)
		return;
	timeout_s = CatalogSuspendTimeout(id, bp_suspend_timeout_s);
	if (timeout_s <= 0)
		return;					/* never suspended: no need to count clients */
	if (BpCompute()->status(&row.spec, &pid) != BP_COMPUTE_READY)
		return;
	BpCompute()->admin_address(&row.spec, &addr);
	conn = BpConnect(&addr, bp_operation_timeout_ms);
	res = BpExec(conn, "SELECT count(*) FROM pg_catalog.pg_stat_activity "
				 "WHERE backend_type = 'client backend' "
				 "AND application_name IS DISTINCT FROM 'branchpromote'",	/* not ours */
				 0, NULL, bp_operation_timeout_ms);
	clients = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	BpDisconnect(conn);
	if (clients > 0)
	{
		CatalogTouchCompute(id);
		return;
	}
	/* a client of the proxy may have come and gone since the last pass */
	proxy_idle_s = (GetCurrentTimestamp() - BpProxyLastActive(row.project, row.env)) / USECS_PER_SEC;
	idle_s = CatalogComputeIdleSeconds(id);
	if (proxy_idle_s < idle_s)
	{
		CatalogTouchCompute(id);
		idle_s = proxy_idle_s;
	}
	if (idle_s < timeout_s)
		return;
	if (!BpProxyBeginSuspend(id, row.project, row.env))
	{
		CatalogTouchCompute(id);	/* a proxied client arrived just now */
		return;
	}
	PG_TRY();
	{
		ereport(LOG,
				(errmsg("branchpromote reconciler: suspending compute %s/%s: no client for " INT64_FORMAT " s",
						row.project, row.env, CatalogComputeIdleSeconds(id))));
		MirrorSchema(&row);		/* closed to new clients: exact while it is down */
		BpCompute()->stop(&row.spec);
		CatalogSetComputeState(id, "suspended", 0, NULL);
	}
	PG_FINALLY();
	{
		BpProxyEndSuspend();
	}
	PG_END_TRY();
}

/*
 * Has the transaction that created a timeline finished?  An unknown creator,
 * or one that is not a plausible xid of this cluster, counts as finished.
 */
static bool
CreatorFinished(FullTransactionId creator)
{
	FullTransactionId next = ReadNextFullTransactionId();

	if (!FullTransactionIdIsValid(creator))
		return true;
	if (!FullTransactionIdPrecedes(creator, next))
		return false;			/* from a future this catalog never saw: not ours to judge */
	if (U64FromFullTransactionId(next) - U64FromFullTransactionId(creator) > (UINT64CONST(1) << 31))
		return true;
	return !TransactionIdIsInProgress(XidFromFullTransactionId(creator));
}

/*
 * May the reconciler collect this directory once no committed row names
 * it?  Only one this catalog incarnation made on this WAL timeline (a
 * restored or re-created catalog does not know what another made), or one
 * with nothing in it (a crash between mkdir and its owner file).
 */
static bool
Collectable(const BpStoredTimeline *t)
{
	if (t->current)
		return true;
	return !FullTransactionIdIsValid(t->creator) && t->empty && !t->young;
}

/*
 * A directory of this stamp whose creator is in this catalog's future, and
 * no row names it: restamp it with WAL timeline 0 (never current), so it
 * stays a stray however far the xid counter goes.  True if it did.
 */
static bool
MarkFuture(const BpStoredTimeline *t, int64 timeline_of_snapshot)
{
	char	   *stamp;
	char	   *space;

	if (!t->current || !FullTransactionIdIsValid(t->creator) ||
		FullTransactionIdPrecedes(t->creator, ReadNextFullTransactionId()))
		return false;
	if (timeline_of_snapshot == 0 ? CatalogTimelineExists(t->timeline_id) :
		CatalogSnapshotExists(t->timeline_id))
		return false;
	stamp = pstrdup(t->stamp);
	if ((space = strchr(stamp, ' ')) != NULL)
		*space = '\0';
	if (timeline_of_snapshot == 0)
		BpStorage()->restamp(t->timeline_id, 0, t->creator, psprintf("%s 0", stamp));
	else
		BpStorage()->restamp(timeline_of_snapshot, t->timeline_id, t->creator, psprintf("%s 0", stamp));
	ereport(LOG,
			(errmsg("branchpromote reconciler: %s " INT64_FORMAT " was made by a transaction in this catalog's future; kept as a stray",
					timeline_of_snapshot == 0 ? "timeline" : "snapshot", t->timeline_id)));
	return true;
}

/* Remove a timeline nothing committed references; stop stray servers. */
static void
DoReconcileTimeline(void *arg)
{
	BpStoredTimeline *t = arg;

	/*
	 * A creator in this catalog's future (it was restored to an earlier
	 * point on the same WAL timeline): the xid counter will pass it one day
	 * and it would look finished; mark the directory a stray for good first.
	 */
	if (MarkFuture(t, 0))
		return;
	/* SPI takes a fresh snapshot per statement: after this check, so a
	 * creator that committed has its rows visible. */
	if (t->current && !CreatorFinished(t->creator))
		return;
	/* no owner file yet: its creator may be between mkdir and writing it */
	if (!FullTransactionIdIsValid(t->creator) && t->young)
		return;
	if (!CatalogTimelineExists(t->timeline_id))
	{
		if (!Collectable(t))
			return;				/* a stray: branchpromote.stray_timelines lists it */
		BpCompute()->stop_timeline(t->timeline_id, true);
		BpStorage()->remove(t->timeline_id);
		ereport(LOG,
				(errmsg("branchpromote reconciler: moved timeline " INT64_FORMAT
						", which no committed row references, to the trash", t->timeline_id)));
	}
	else if (!StartingOn(t->timeline_id) && !CatalogTimelineHasCompute(t->timeline_id))
		BpCompute()->stop_timeline(t->timeline_id, false);
}

/* Release the endpoint of a compute no committed row names. */
static void
DoReconcileEndpoint(void *arg)
{
	int64		id = *(int64 *) arg;

	/* a start in progress: its row may not be committed yet */
	if (FindStart(id) == NULL && !CatalogComputeExists(id))
		BpCompute()->forget(id);
}

static void
DoListEndpoints(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	*(List **) arg = BpCompute()->list_endpoints();
	MemoryContextSwitchTo(old);
}

static int
CompareTimelineState(const void *a, const void *b)
{
	int64		x = ((const BpTimelineState *) a)->timeline_id;
	int64		y = ((const BpTimelineState *) b)->timeline_id;

	return x < y ? -1 : x > y;
}

/*
 * The timelines in storage that need a look: those no live row names (an
 * orphan, or one whose creator has not committed yet) and those without a
 * compute (a stray server may run there).  One query for all of them.
 */
static void
DoListTimelines(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	List	   *stored = BpStorage()->list();
	int64	   *ids = palloc(sizeof(int64) * Max(1, list_length(stored)));
	int			nids = 0;
	int			n = 0;
	BpTimelineState *states = NULL;
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, stored)
		ids[nids++] = ((BpStoredTimeline *) lfirst(lc))->timeline_id;
	if (nids > 0)
		states = CatalogTimelineStates(loop_cxt, ids, nids, &n);

	MemoryContextSwitchTo(loop_cxt);	/* SPI left us in its own */
	foreach(lc, stored)
	{
		BpStoredTimeline *t = lfirst(lc);
		BpTimelineState key = {t->timeline_id, false};
		BpTimelineState *st = n > 0 ? bsearch(&key, states, n, sizeof(key), CompareTimelineState) : NULL;

		if (st == NULL || !st->has_compute)
			out = lappend(out, t);
	}
	*(List **) arg = out;
	MemoryContextSwitchTo(old);
}

/* Discard previews past their expiry (a catalog not yet updated to 0.7.0: later). */
static void
DoExpirePreviews(void *arg)
{
	int			n = CatalogHasRecoveryWindow() ? CatalogExpirePreviews(bp_recovery_window_s) : 0;

	if (n > 0)
		BpWakeWorkerAtCommit();	/* their routes go (the proxy asks again) */
	if (n > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: discarded %d expired preview(s)", n)));
}

/*
 * The recovery window's end: dropped projects and discarded branches past
 * it let go of their rows; their directories then go by the usual rule
 * (no live row names them) in this same pass.
 */
static void
DoPurgeExpired(void *arg)
{
	int			projects;
	int			branches;

	if (!CatalogHasRecoveryWindow())
		return;					/* ALTER EXTENSION UPDATE pending */
	CatalogPurgeExpired(&projects, &branches);
	if (projects > 0 || branches > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: the recovery window of %d dropped project(s) and %d discarded branch(es) ended; removing their data",
						projects, branches)));
}

static void
DoListSnapshotsDue(void *arg)
{
	*(List **) arg = CopyIds(CatalogSnapshotsDue(bp_snapshot_interval_s));
}

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

/*
 * A periodic snapshot that failed (e.g. the compute's archiving is broken:
 * the wait for its WAL runs into operation_timeout) is not retried for a
 * while, so one broken compute does not stall every pass.
 */
typedef struct Backoff
{
	int64		compute_id;
	TimestampTz until;
} Backoff;

static List *snapshot_backoff = NIL;	/* of Backoff *, in TopMemoryContext */

static bool
SnapshotBackingOff(int64 compute_id)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, snapshot_backoff)
	{
		Backoff    *b = lfirst(lc);

		if (b->compute_id == compute_id)
		{
			if (b->until > now)
				return true;
			snapshot_backoff = foreach_delete_current(snapshot_backoff, lc);
			pfree(b);
			return false;
		}
	}
	return false;
}

static void
SnapshotBackOff(int64 compute_id)
{
	MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);
	Backoff    *b = palloc(sizeof(Backoff));
	int			wait_s = Max(60, Min(bp_snapshot_interval_s, 600));

	b->compute_id = compute_id;
	b->until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), wait_s * 1000);
	snapshot_backoff = lappend(snapshot_backoff, b);
	MemoryContextSwitchTo(old);
}

/* A job's worker ended: a failed snapshot backs off. */
static void
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
static bool
StartJob(const char *what, BpJobKind kind, int64 arg)
{
	InlineJob	j = {kind, arg};

	if (BpJobStart(kind, arg))
		return true;
	return RunItem(what, true, DoJob, &j, NULL, 0);
}

/*
 * Might a live timeline's history need work: a snapshot the retention
 * window no longer keeps, a snapshot directory no committed row names, or
 * archived WAL to prune?  Without a transaction of its own per timeline.
 */
static bool
HistoryDue(const BpTimelineHistory *h, TimestampTz now)
{
	int64		retention_ms = (int64) bp_history_retention_s * 1000;
	bool	   *keep = palloc(sizeof(bool) * Max(1, h->nsnap));
	int64	   *ids = palloc(sizeof(int64) * Max(1, h->nsnap));
	XLogRecPtr	cutoff = BpRetentionKeep(h->snap, h->nsnap, now, retention_ms, keep);

	for (int i = 0; i < h->nsnap; i++)
	{
		if (!keep[i])
			return true;
		ids[i] = h->snap[i].id;
	}
	return BpStorage()->history_due(h->timeline_id, ids, h->nsnap, cutoff,
									TimestampTzPlusMilliseconds(now, -retention_ms));
}

/* The live timelines whose history needs work (List of int64 *). */
static void
DoListLiveTimelines(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);
	int			n;
	BpTimelineHistory *h = CatalogLiveHistories(loop_cxt, &n);
	TimestampTz now = GetCurrentTimestamp();
	List	   *due = NIL;

	MemoryContextSwitchTo(loop_cxt);	/* SPI left us in its own */
	for (int i = 0; i < n; i++)
		if (HistoryDue(&h[i], now))
			due = lappend(due, &h[i].timeline_id);
	*(List **) arg = due;
	MemoryContextSwitchTo(old);
}

/*
 * A live timeline's history: remove snapshot directories no committed row
 * references, drop snapshots the retention window no longer keeps, and
 * the WAL that only they needed — unless an operation holds the project
 * (it may be forking from them, or deleting them itself).
 */
static void
DoReconcileHistory(void *arg)
{
	int64		tl = *(int64 *) arg;
	ListCell   *lc;
	int			n;
	BpSnapshotInfo *snap;
	bool	   *keep;
	XLogRecPtr	cutoff;
	TimestampTz now = GetCurrentTimestamp();
	int64		retention_ms = (int64) bp_history_retention_s * 1000;
	int			pruned;

	/* an operation on the project may be forking from these: next pass */
	if (!CatalogLockTimelineProject(tl))
		return;
	foreach(lc, BpStorage()->list_snapshots(tl))
	{
		BpStoredTimeline *s = lfirst(lc);

		if (MarkFuture(s, tl) || (s->current && !CreatorFinished(s->creator)) ||
			(!FullTransactionIdIsValid(s->creator) && s->young) || !Collectable(s))
			continue;			/* in progress, or another catalog's (kept) */
		if (!CatalogSnapshotExists(s->timeline_id))
		{
			BpStorage()->remove_snapshot(tl, s->timeline_id);
			ereport(LOG,
					(errmsg("branchpromote reconciler: removed snapshot " INT64_FORMAT
							" of timeline " INT64_FORMAT ", which no committed row references",
							s->timeline_id, tl)));
		}
	}
	snap = CatalogSnapshots(tl, &n);
	keep = palloc(sizeof(bool) * Max(1, n));
	cutoff = BpRetentionKeep(snap, n, now, retention_ms, keep);
	for (int i = 0; i < n; i++)
		if (!keep[i])
			CatalogDeleteSnapshot(snap[i].id);	/* its directory goes next pass */
	pruned = BpStorage()->prune_archive(tl, cutoff,
										TimestampTzPlusMilliseconds(now, -retention_ms));
	if (pruned > 0)
		ereport(LOG,
				(errmsg("branchpromote reconciler: pruned %d WAL segment(s) of timeline " INT64_FORMAT " before %X/%X",
						pruned, tl, LSN_FORMAT_ARGS(cutoff))));
}

static void
DoListJournals(void *arg)
{
	MemoryContext old = MemoryContextSwitchTo(loop_cxt);

	*(List **) arg = JournalList(true);
	MemoryContextSwitchTo(old);
}

/*
 * A call that ended without committing (its transaction aborted, or its
 * backend died): record it as a failed operation with the steps it
 * reached — unless its operation row committed after all — and forget it.
 * What it left behind is undone by the other items of the pass.
 */
static void
DoJournal(void *arg)
{
	BpJournalEntry *e = arg;

	const char *why = e->exited ? "its backend was ended (FATAL or pg_terminate_backend)" :
		e->ended ? "its transaction aborted" : "its backend ended (a crash?) without finishing";

	if (!CatalogOperationRecorded(e->header))
	{
		CatalogRecordFailedOperation(e->header, e->steps_json, why);
		ereport(LOG,
				(errmsg("branchpromote reconciler: recorded a failed operation: %s", e->header)));
	}
	/* a promotion whose backend could not record its failed deploy itself */
	if (e->exited || !e->ended)
		CatalogRecordJournaledDeploy(e->header, e->steps_json, why);
}

/*
 * A compute's manifest item: key, what the pass's listing said it is
 * rendered from; restarted, that the pass already restarted a compute.
 */
typedef struct ManifestItem
{
	int64		compute_id;
	char		key[33];
	bool		restarted;
} ManifestItem;

/*
 * Render a compute's manifest from the template and store it with its
 * hash.  If what its process depends on changed since it was last
 * rendered and it runs, restart it with the new settings — one compute per
 * pass, and computes come prod last, so prod restarts only once every other
 * compute has.
 */
static void
DoManifest(void *arg)
{
	ManifestItem *it = arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	BpManifestInput in;
	char	   *manifest;
	char	   *runtime_hash;
	char	   *stored;

	if (!CatalogGetComputeById(it->compute_id, true, &locked, &row) || !locked)
		return;
	memset(&in, 0, sizeof(in));
	if (!CatalogComputeManifestInput(it->compute_id, &in))	/* refuses unusable settings */
		return;					/* before anything is stopped */
	manifest = BpRenderManifest(&in);
	runtime_hash = BpSha256Hex(BpRenderRuntime(&in));
	stored = CatalogComputeRuntimeHash(it->compute_id);
	if (stored != NULL && strcmp(stored, runtime_hash) != 0 &&
		strcmp(row.desired_state, "running") == 0 &&
		BpCompute()->status(&row.spec, &pid) == BP_COMPUTE_READY)
	{
		if (it->restarted)
			return;				/* one at a time: next pass */
		if (strcmp(row.env, "prod") == 0 && CatalogRuntimeBehind(runtime_hash))
			return;				/* prod last: another compute still runs the old one */
		it->restarted = true;	/* even if this one fails */
		ereport(LOG,
				(errmsg("branchpromote reconciler: restarting compute %s/%s: its manifest changed",
						row.project, row.env)));
		BpCompute()->stop(&row.spec);
		pid = BeginStart(&row.spec, bp_compute_start_timeout_ms, true, -1);
		if (pid > 0)
			CatalogSetComputeState(row.id, "running", pid, NULL);
	}
	CatalogSetComputeManifest(it->compute_id, manifest, BpSha256Hex(manifest), runtime_hash,
							  it->key);
}

/*
 * How often timelines' history is maintained: a quarter of the retention
 * window, between one pass and a minute.
 */
static long
HistoryIntervalMs(void)
{
	int64		ms = (int64) bp_history_retention_s * 1000 / 4;

	return (long) Max(Min(ms, FULL_PASS_INTERVAL_MS), bp_reconcile_interval_ms);
}

/*
 * One level-triggered pass.  A full pass (asked for by a commit or an abort
 * that changed something, the first one, and one a minute anyway) looks at
 * every compute; the periodic passes between skip computes suspended on
 * purpose (only a wake, which is a request, changes those).  History is
 * maintained in full passes and every HistoryIntervalMs().  Manifests are
 * rendered only when their inputs changed.  Returns whether some request
 * had to wait.
 */
static bool
ReconcilePass(bool full)
{
	static TimestampTz next_history = 0;
	bool		installed = false;
	ComputeList cl = {false, NULL, 0};
	List	   *timelines = NIL;
	List	   *endpoints = NIL;
	List	   *due = NIL;
	List	   *live = NIL;
	List	   *journals = NIL;
	ManifestItem manifest = {0, "", false};
	ListCell   *lc;
	bool		deferred = false;

	if (!RunItem("checking the extension", false, DoCheckExtension, &installed, NULL, 0) ||
		!installed)
		return false;
	(void) RunItem("making the timeline template", false, DoTemplate, NULL, NULL, 0);
	(void) RunItem("expiring previews", true, DoExpirePreviews, NULL, NULL, 0);
	(void) RunItem("ending recovery windows", true, DoPurgeExpired, NULL, NULL, 0);
	if (RunItem("listing ended operations", false, DoListJournals, &journals, NULL, 0))
		foreach(lc, journals)
		{
			/* forgotten only once the record committed (it is idempotent) */
			if (RunItem("recording a failed operation", true, DoJournal, lfirst(lc), NULL, 0))
				JournalForget(lfirst(lc));
		}
	if (RunItem("listing timelines", true, DoListTimelines, &timelines, NULL, 0))
		foreach(lc, timelines)
		{
			(void) RunItem("checking a timeline", true, DoReconcileTimeline, lfirst(lc),
						   NULL, 0);
			deferred |= ProcessRequests();
		}
	cl.full = full;
	if (!RunItem("listing computes", true, DoListComputes, &cl, NULL, 0))
		cl.n = 0;
	for (int i = 0; i < cl.n; i++)
	{
		BpComputeBrief *b = &cl.briefs[i];
		char		err[1024];

		if (b->running && b->suspended && !full)
			continue;			/* down on purpose: only a wake changes that */
		if (b->quiet)
			continue;
		if (!RunItem("reconciling a compute", true, DoReconcileCompute, &b->id,
					 err, sizeof(err)))
			RecordFailure(b->id, err);
		else if (b->actual_running)
		{
			if (full)			/* API calls refresh the mirrors they change */
				(void) RunItem("refreshing a ledger mirror", true, DoRefreshLedger, &b->id,
							   NULL, 0);
			(void) RunItem("checking a compute for clients", true, DoIdle, &b->id,
						   NULL, 0);
		}
		deferred |= ProcessRequests();	/* keep requesters waiting briefly */
	}
	for (int i = 0; i < cl.n; i++)	/* prod last */
	{
		BpComputeBrief *b = &cl.briefs[i];
		char		err[1024];

		if (b->manifest_current)
			continue;
		manifest.compute_id = b->id;
		strlcpy(manifest.key, b->manifest_key, sizeof(manifest.key));
		if (!RunItem("rendering a compute's manifest", true, DoManifest, &manifest,
					 err, sizeof(err)))
			RecordFailure(manifest.compute_id, err);
		deferred |= ProcessRequests();
	}
	if (bp_snapshot_interval_s > 0 &&
		RunItem("listing snapshots due", true, DoListSnapshotsDue, &due, NULL, 0))
		foreach(lc, due)
		{
			int64		id = *(int64 *) lfirst(lc);

			if (SnapshotBackingOff(id) || BpJobRunning(BP_JOB_SNAPSHOT, id))
				continue;
			if (!StartJob("taking a periodic snapshot", BP_JOB_SNAPSHOT, id))
				SnapshotBackOff(id);
			deferred |= ProcessRequests();
		}
	if ((full || GetCurrentTimestamp() >= next_history) &&
		RunItem("listing live timelines", true, DoListLiveTimelines, &live, NULL, 0))
	{
		foreach(lc, live)
		{
			(void) RunItem("maintaining a timeline's history", true, DoReconcileHistory,
						   lfirst(lc), NULL, 0);
			deferred |= ProcessRequests();
		}
		next_history = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), HistoryIntervalMs());
	}
	if (RunItem("listing compute endpoints", false, DoListEndpoints, &endpoints, NULL, 0))
		foreach(lc, endpoints)
			(void) RunItem("checking a compute endpoint", true, DoReconcileEndpoint,
						   lfirst(lc), NULL, 0);
	/* last: with trash_retention 0, what this pass moved there goes too */
	if (full)
		(void) StartJob("emptying the trash", BP_JOB_PURGE_TRASH, 0);
	return deferred;
}

/* Entry point of the reconciler. */
void
branchpromote_reconciler_main(Datum arg)
{
	TimestampTz next_pass = 0;
	TimestampTz next_full = 0;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	pqsignal(SIGCHLD, SIG_DFL);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(bp_database_name, NULL, 0);

	/*
	 * Yield to whoever else wants a lock: DDL on the catalog (DROP or ALTER
	 * EXTENSION, DROP DATABASE) takes its tables one by one and would
	 * otherwise deadlock with a pass that holds one of them, and the
	 * deadlock detector may pick the user's statement.  Well below
	 * deadlock_timeout, so the reconciler's item fails first (it is
	 * retried on the next pass); row locks it must respect are taken with
	 * SKIP LOCKED anyway.
	 */
	SetConfigOption("lock_timeout", "100", PGC_SUSET, PGC_S_OVERRIDE);
	loop_cxt = AllocSetContextCreate(TopMemoryContext, "branchpromote reconciler",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(loop_cxt);
	BpWorkerAttach();
	BpJobsAttach();
	ereport(LOG, (errmsg("branchpromote reconciler started on database \"%s\", data root \"%s\"",
						 bp_database_name, BpDataRoot())));

	for (;;)
	{
		bool		deferred;
		bool		requested;
		long		timeout;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		deferred = ProcessRequests();
		requested = BpWorkerPassRequested();
		if (requested || want_full || GetCurrentTimestamp() >= next_pass)
		{
			TimestampTz start = GetCurrentTimestamp();
			bool		full = requested || want_full || start >= next_full;

			deferred |= ReconcilePass(full);
			if (full)
			{
				want_full = false;
				next_full = TimestampTzPlusMilliseconds(start, FULL_PASS_INTERVAL_MS);
			}
			BpWorkerPassDone(full, (double) (GetCurrentTimestamp() - start) / 1000.0);
			next_pass = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													bp_reconcile_interval_ms);
		}
		MemoryContextReset(loop_cxt);
		/* a start in progress is looked at about as often as it used to be polled */
		timeout = starts != NIL ? 3 : deferred ? 50 :
			Max(1, (long) ((next_pass - GetCurrentTimestamp()) / 1000));
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 timeout, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
