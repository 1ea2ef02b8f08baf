/*
 * api_history.c — the SQL-callable functions of point-in-time history:
 * anchors, rollbacks, previews, reset.
 *
 * All of them are one primitive: fork a timeline at an LSN (from a
 * snapshot at or below it plus the WAL archive) or at its head, then
 * either point prod at the fork (rollback, reset: the timeline prod moves
 * away from stays as a backup branch) or give it an environment of its own
 * (a preview).  Effects cannot roll back, so as everywhere: every new
 * directory names its creating transaction and the reconciler removes
 * what no committed row references.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "funcapi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"
#include "utils/timestamp.h"

#include "api_mask.h"
#include "api_recovery.h"
#include "apiutil.h"
#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "history.h"
#include "gate.h"
#include "names.h"
#include "pgconn.h"
#include "twophase.h"

PG_FUNCTION_INFO_V1(branchpromote_create_anchor);
PG_FUNCTION_INFO_V1(branchpromote_rollback_to_lsn);
PG_FUNCTION_INFO_V1(branchpromote_rollback_deploy);
PG_FUNCTION_INFO_V1(branchpromote_fork_branch);
PG_FUNCTION_INFO_V1(branchpromote_discard_branch);
PG_FUNCTION_INFO_V1(branchpromote_reset_prod);
PG_FUNCTION_INFO_V1(branchpromote_timeline_usage);

/* Backup branches are named BACKUP_PREFIX<timeline id>; previews may not be. */
#define BACKUP_PREFIX "prod-backup-"

/* Where a point-in-time fork comes from. */
typedef struct ForkSource
{
	int64		timeline_id;	/* the lineage step that has the snapshot */
	int64		snapshot_id;
	XLogRecPtr	snapshot_lsn;
	XLogRecPtr	target;
	XLogRecPtr	replay_to;		/* recovery's target: invalid for the snapshot's own LSN */
	const BpComputeSpec *seal_on;	/* the running source to seal while the
									 * snapshot is cloned (NULL: none) */
	BpSeal		seal;
} ForkSource;

static char *
LsnText(XLogRecPtr lsn)
{
	return psprintf("%X/%X", LSN_FORMAT_ARGS(lsn));
}

/*
 * Plan a fork of timeline_id (whose history reaches head) at target, or
 * refuse with the reachable ranges in the hint.  If the plan reads the
 * running timeline's own history, the fork seals it while it clones the
 * snapshot (ForkAt), so the fork reaches WAL up to head (running: NULL when
 * it is stopped; the fork takes its last WAL from its files): a source
 * that keeps running with BP_SEAL_FORKS, one stopped
 * next (a rollback's prod) with BP_SEAL_ARCHIVE, so that its shutdown, in
 * the downtime, has only what it wrote since to switch and archive.  A
 * target a base snapshot stands for, below the snapshot's own LSN, forks at
 * the snapshot: only the control plane's records lie between.
 */
static ForkSource
PlanFork(const char *what, int64 timeline_id, const BpComputeSpec *running,
		 BpSeal seal, XLogRecPtr head, XLogRecPtr target)
{
	int			n;
	BpLineageStep *steps = CatalogLineage(timeline_id, &n);
	BpPitChoice c;
	ForkSource  src;

	for (int i = 0; i < n; i++)	/* what the store keeps of each by itself */
		steps[i].own_from = BpStorage()->history_start(steps[i].timeline_id);
	c = BpPlanPointInTime(steps, n, head, target);

	if (XLogRecPtrIsInvalid(target))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("LSN 0/0 is not a point in %s's history", what),
				 errhint("Reachable: %s.", BpPitRanges(steps, n, head))));
	if (c.verdict == BP_PIT_FUTURE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("LSN %s is in the future of %s", LsnText(target), what),
				 errdetail("Its WAL ends at %s.", LsnText(head)),
				 errhint("Reachable: %s.", BpPitRanges(steps, n, head))));
	if (c.verdict == BP_PIT_OUTSIDE)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("LSN %s is outside the history retained for %s", LsnText(target), what),
				 errdetail("A fork needs a snapshot at or below the LSN and the WAL after it; history is kept for branchpromote.history_retention, from the first snapshot on."),
				 errhint("Reachable: %s.", BpPitRanges(steps, n, head))));
	src.timeline_id = steps[c.step].timeline_id;
	src.snapshot_id = c.snap < 0 ? 0 : steps[c.step].snap[c.snap].id;	/* 0: its own history */
	src.snapshot_lsn = c.snap < 0 ? target : steps[c.step].snap[c.snap].lsn;
	src.target = target;
	src.replay_to = target < src.snapshot_lsn ? InvalidXLogRecPtr : target;
	src.seal_on = c.step == 0 ? running : NULL;
	src.seal = seal;
	if (src.seal_on == NULL && !CatalogTimelineHasCompute(src.timeline_id))
	{
		/*
		 * A backup (no compute: it never runs again): its last, partial
		 * segment never reached the archive; put it there.  Not done when
		 * prod leaves it, since an abort restarts it and archiving would
		 * then collide with the copy.
		 */
		(void) BpStorage()->seal_stopped(src.timeline_id);
	}
	return src;
}

/* The seal a fork's plan asked for (ForkAt runs it while the snapshot clones). */
static void
SealSource(void *arg)
{
	const ForkSource *src = arg;

	(void) BpStorage()->head_lsn(src->timeline_id, BpServerOn(src->seal_on, false), src->seal);
}

/*
 * Fork src into a new timeline (directory only; the caller records it),
 * sealing the source's history meanwhile if the plan says so.
 */
static int64
ForkAt(ApiResult *r, const ForkSource *src, BpForkResult *fork)
{
	int64		new_tl = CatalogNextTimelineId();

	BpWakeWorkerAtCommit();		/* removes it if this transaction aborts */
	BpStorage()->fork_at_snapshot(src->timeline_id, src->snapshot_id, src->replay_to, new_tl, fork,
								  src->seal_on ? SealSource : NULL, (void *) src);
	StepPhases(r, "fork from a snapshot", fork->phases);
	return new_tl;
}

/* A project's prod: timeline, compute, release. */
typedef struct Prod
{
	int64		timeline_id;
	char	   *release;
	BpComputeRow compute;
	bool		running;		/* its compute runs (else: stopped cleanly) */
} Prod;

static void
LoadProd(ApiResult *r, const BpProject *p, Prod *prod)
{
	if (!CatalogGetEnvironment(p->id, "prod", &prod->timeline_id, &prod->release))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no prod environment yet", p->name),
				 errhint("Prod appears at the first promotion: SELECT branchpromote.promote_branch('%s');", p->name)));
	LoadCompute(p, "prod", &prod->compute);
	prod->running = UseCompute(r, p, &prod->compute, "prod", false);
}

/* Moving prod onto a new timeline (a rollback or a reset): MoveProd's inputs. */
typedef struct ProdMove
{
	ApiResult  *r;
	const BpProject *p;
	Prod	   *prod;			/* as loaded; its compute follows the move */
	int64		new_tl;			/* forked, never started */
	int64		parent_tl;		/* what new_tl was forked from */
	XLogRecPtr	fork_lsn;		/* and where */
	const BpForkResult *fork;
	const char *release;		/* prod's release once moved */
} ProdMove;

/*
 * Point prod at new_tl (forked, never started).  First, while prod still
 * serves, the fork replays and promotes on a port nobody knows (bounded by
 * operation_timeout, not compute_start_timeout: the replay is as long as
 * the WAL since the snapshot), drops inherited prepared transactions, and
 * its ledger is read; it is stopped cleanly (it ran without archiving, so
 * its shutdown neither switches segments nor waits for the archiver), what
 * it wrote goes into the timeline's archive, and its files become its base
 * snapshot.  Then the catalog moves (a failure there costs no downtime):
 * the old timeline becomes a backup branch, prod points at the new one,
 * the compute row moves (same id, port, credentials: connection URIs keep
 * working).  Then the swap: prod's compute stops, and it starts on the new
 * timeline closed to clients until this transaction commits (gate.c), so
 * no client can write to a timeline an abort would remove.  A prod that
 * was suspended stays so, now on the new timeline: the next client wakes
 * it there.  Returns the backup branch's name.
 */
static char *
MoveProd(const ProdMove *m)
{
	ApiResult  *r = m->r;
	const BpProject *p = m->p;
	Prod	   *prod = m->prod;
	int64		old_tl = prod->timeline_id;
	int64		new_tl = m->new_tl;
	char	   *backup = psprintf(BACKUP_PREFIX INT64_FORMAT, old_tl);
	BpComputeSpec trial;
	BpReply		reply;
	BpLedger	ledger;
	BpSchemaCheck schema;		/* the new prod's, mirrored: a plan of it at zero wakes nothing */
	PhaseClock	pc;

	PhaseBegin(&pc);
	trial.compute_id = CatalogNextComputeId();
	trial.timeline_id = new_tl;
	BpCompute()->assign_endpoint(&trial);
	(void) AskTrialStart(&trial, bp_operation_timeout_ms);
	Phase(&pc, "start");		/* replayed and promoted */
	DropInheritedPrepared(&trial, p->name, p->password, &ledger, &schema);
	Phase(&pc, "ledger");		/* and the schema read */
	(void) AskWorker(BP_REQ_STOP, &trial, false, bp_compute_start_timeout_ms);
	Phase(&pc, "stop");
	BpStorage()->archive_trial(new_tl);
	Phase(&pc, "archive");		/* what the trial wrote without archiving */
	StepPhases(r, "replay on the new timeline", pc.buf.data);

	CatalogLabelTimeline(old_tl, "backup", backup);
	CatalogInsertTimeline(new_tl, p->id, "prod", m->parent_tl, m->fork_lsn,
						  m->fork->method);
	BaseSnapshot(r, &trial);	/* the stopped trial's files */
	CatalogSetEnvironment(p->id, "prod", new_tl, m->release);
	CatalogMoveCompute(prod->compute.id, new_tl);
	CatalogReplaceLedgerMirror(new_tl, &ledger);
	CatalogSetSchemaMirror(new_tl, SchemaCheckJson(&schema));

	if (!prod->running)
	{
		prod->compute.spec.timeline_id = new_tl;
		CatalogSetComputeState(prod->compute.id, "suspended", 0, NULL);
		return backup;
	}
	(void) AskWorker(BP_REQ_STOP, &prod->compute.spec, false, bp_compute_start_timeout_ms);
	Step(r, "stop prod's compute");
	prod->compute.spec.timeline_id = new_tl;
	BpCompute()->set_client_access(&prod->compute.spec, false, false);
	BpOpenAtCommit(&prod->compute.spec);
	reply = AskWorker(BP_REQ_START, &prod->compute.spec, false, bp_compute_start_timeout_ms);
	CatalogSetComputeState(prod->compute.id, "running", reply.pid, NULL);
	Step(r, "start prod on the new timeline");
	return backup;
}

static XLogRecPtr
ArgLsn(FunctionCallInfo fcinfo, int n, const char *name)
{
	if (PG_ARGISNULL(n))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name),
				 errhint("Pass an LSN such as the result of pg_current_wal_lsn() on the compute.")));
	return PG_GETARG_LSN(n);
}

/* A deploy row for a rollback or a reset. */
static int64
RecordProdMove(const ProdMove *m, const char *action)
{
	BpDeployRow d;

	memset(&d, 0, sizeof(d));
	d.project_id = m->p->id;
	d.release = m->release;
	d.action = action;
	d.from_timeline = m->prod->timeline_id;
	d.to_timeline = m->new_tl;
	d.fork_lsn = m->fork_lsn;
	d.clone_method = m->fork->method;
	d.started_at = m->r->started_at;
	d.elapsed_ms = MsSince(m->r->start);
	d.anchor_lsn = InvalidXLogRecPtr;
	d.migrations_json = "[]";
	d.previous_release = m->prod->release;
	return CatalogInsertDeploy(&d);
}

static void
PutFork(ApiResult *r, const ForkSource *src, const BpForkResult *fork)
{
	PutInt(r, "source_timeline", src->timeline_id);
	PutLsn(r, "snapshot_lsn", src->snapshot_lsn);
	PutInt(r, "replay_bytes", src->target > src->snapshot_lsn ? (int64) (src->target - src->snapshot_lsn) : 0);
	PutStr(r, "clone_method", fork->method);
}

/* rollback_to_lsn(project, lsn) → jsonb: prod forked at lsn, the old prod kept as a backup. */
Datum
branchpromote_rollback_to_lsn(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	XLogRecPtr	target = ArgLsn(fcinfo, 1, "lsn");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	Prod		prod;
	int64		old_tl;
	XLogRecPtr	head;
	ForkSource	src;
	BpForkResult fork;
	int64		new_tl;
	char	   *backup;

	OperationBegin(&r, "rollback_to_lsn", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	LoadProd(&r, &p, &prod);
	old_tl = prod.timeline_id;
	head = BpStorage()->head_lsn(old_tl, BpServerOn(&prod.compute.spec, false), BP_SEAL_NONE);
	src = PlanFork("prod", old_tl, prod.running ? &prod.compute.spec : NULL, BP_SEAL_ARCHIVE, head,
				   target);
	Step(&r, "plan");
	new_tl = ForkAt(&r, &src, &fork);
	backup = MoveProd(&(ProdMove) {.r = &r, .p = &p, .prod = &prod, .new_tl = new_tl,
								   .parent_tl = src.timeline_id, .fork_lsn = target, .fork = &fork,
								   .release = prod.release});
	CatalogRecordOperation(name, "rollback_to_lsn", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutInt(&r, "new_timeline", new_tl);
	PutStr(&r, "backup_branch", backup);
	PutInt(&r, "backup_timeline", old_tl);
	PutLsn(&r, "lsn", target);
	PutFork(&r, &src, &fork);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * Is a deploy in effect on prod: did it run on prod's history as it is now
 * (its timeline in prod's lineage, its anchor before prod left that
 * timeline), and was it not undone?  A rollback elsewhere or a reset takes
 * the deploys after that point out of effect.
 */
static bool
InEffect(const BpLineageStep *steps, int n, XLogRecPtr head, const BpDeployInfo *d)
{
	return d->rolled_back_by == 0 && !XLogRecPtrIsInvalid(d->anchor_lsn) &&
		BpLineageFind(steps, n, head, d->to_timeline, d->anchor_lsn) >= 0;
}

/* rollback_deploy(project, deploy_id) → jsonb: prod forked at the deploy's pre-deploy anchor. */
Datum
branchpromote_rollback_deploy(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	int64		deploy_id = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT64(1);
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	Prod		prod;
	BpDeployInfo d;
	BpDeployInfo *all;
	int			nall;
	BpLineageStep *steps;
	int			nsteps;
	int64		old_tl;
	XLogRecPtr	head;
	ForkSource	src;
	BpForkResult fork;
	int64		new_tl;
	int64		rollback_id;
	ProdMove	move;
	char	   *backup;
	bool		found = false;

	OperationBegin(&r, "rollback_deploy", name);
	if (!PG_ARGISNULL(1) && deploy_id <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("deploy_id must be positive"),
				 errhint("SELECT deploy_id FROM branchpromote.deploys WHERE project = '%s' lists them; NULL means the latest.", name)));
	CatalogBegin();
	LoadProject(name, true, &p);
	LoadProd(&r, &p, &prod);
	old_tl = prod.timeline_id;
	head = BpStorage()->head_lsn(old_tl, BpServerOn(&prod.compute.spec, false), BP_SEAL_NONE);
	steps = CatalogLineage(old_tl, &nsteps);
	all = CatalogDeploysNewestFirst(p.id, &nall);
	if (deploy_id != 0)
	{
		if (!CatalogGetDeploy(p.id, deploy_id, &d))
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_OBJECT),
					 errmsg("project \"%s\" has no deploy " INT64_FORMAT, name, deploy_id),
					 errhint("SELECT deploy_id, action, status FROM branchpromote.deploys WHERE project = '%s' lists them.", name)));
		if (strcmp(d.status, "succeeded") != 0 ||
			(strcmp(d.action, "redeploy") != 0 && strcmp(d.action, "first_deploy") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("deploy " INT64_FORMAT " is a %s %s, not a succeeded deploy", d.id, d.status, d.action),
					 errhint("Only succeeded re-deploys can be rolled back; rollback_to_lsn reaches any retained point.")));
		if (d.rolled_back_by != 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("deploy " INT64_FORMAT " was already rolled back by deploy " INT64_FORMAT, d.id, d.rolled_back_by),
					 errhint("Call rollback_deploy('%s') without an id to undo the latest deploy still in effect.", name)));
		found = true;
	}
	else
		for (int i = 0; i < nall && !found; i++)
			if (InEffect(steps, nsteps, head, &all[i]) ||
				(strcmp(all[i].action, "first_deploy") == 0 &&
				 BpLineageFind(steps, nsteps, head, all[i].to_timeline, InvalidXLogRecPtr) >= 0))
			{
				d = all[i];
				found = true;
			}
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no deploy in effect to roll back", name),
				 errhint("SELECT deploy_id, action, status FROM branchpromote.deploys WHERE project = '%s' lists them; rollback_to_lsn reaches any retained point.", name)));
	if (XLogRecPtrIsInvalid(d.anchor_lsn))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deploy " INT64_FORMAT " created prod; there is no prod before it to go back to", d.id),
				 errhint("To make prod a copy of dev again, use branchpromote.reset_prod('%s', '%s').", name, name)));
	if (!InEffect(steps, nsteps, head, &d))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("deploy " INT64_FORMAT " is no longer in effect on prod", d.id),
				 errdetail("Prod has moved since (a rollback to before it, or a reset), so undoing it would move prod sideways."),
				 errhint("rollback_to_lsn reaches any retained point of prod's history; fork_branch from its backup branch reaches the rest.")));
	src = PlanFork("prod", old_tl, prod.running ? &prod.compute.spec : NULL, BP_SEAL_ARCHIVE, head,
				   d.anchor_lsn);
	Step(&r, "plan");
	new_tl = ForkAt(&r, &src, &fork);
	move = (ProdMove) {.r = &r, .p = &p, .prod = &prod, .new_tl = new_tl,
					   .parent_tl = src.timeline_id, .fork_lsn = d.anchor_lsn, .fork = &fork,
					   .release = d.previous_release};
	backup = MoveProd(&move);
	rollback_id = RecordProdMove(&move, "rollback");
	/* it and every later deploy still in effect are undone */
	for (int i = 0; i < nall; i++)
		if (all[i].id == d.id || (all[i].id > d.id && InEffect(steps, nsteps, head, &all[i])))
			CatalogMarkRolledBack(all[i].id, rollback_id);
	CatalogRecordOperation(name, "rollback_deploy", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutInt(&r, "rolled_back_deploy", d.id);
	PutInt(&r, "deploy_id", rollback_id);
	PutStr(&r, "release", d.previous_release);
	PutInt(&r, "new_timeline", new_tl);
	PutStr(&r, "backup_branch", backup);
	PutInt(&r, "backup_timeline", old_tl);
	PutLsn(&r, "lsn", d.anchor_lsn);
	PutFork(&r, &src, &fork);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* An anchor's name: 1 to 63 bytes, no control characters. */
static char *
AnchorName(FunctionCallInfo fcinfo, int n)
{
	char	   *s = ArgText(fcinfo, n, "name");

	for (const char *c = s; *c; c++)
		if ((unsigned char) *c < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_NAME),
					 errmsg("anchor name must not contain control characters"),
					 errhint("Use a short label such as 'before-import' or 'nightly 2026-11-24'.")));
	if (s[0] == '\0' || strlen(s) > 63)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_NAME),
				 errmsg("anchor name must be 1 to 63 bytes long"),
				 errhint("Use a short label such as 'before-import' or 'nightly 2026-11-24'.")));
	return s;
}

/* create_anchor(project, env, name) → jsonb: a named LSN with a snapshot. */
Datum
branchpromote_create_anchor(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *env = ArgText(fcinfo, 1, "env");
	char	   *anchor = AnchorName(fcinfo, 2);
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpComputeRow c;
	int64		snapshot_id;
	BpSnapshotResult snap;

	OperationBegin(&r, "create_anchor", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	LoadCompute(&p, env, &c);
	(void) UseCompute(&r, &p, &c, env, false);	/* a stopped one: from its files */
	if (CatalogAnchorExists(c.spec.timeline_id, anchor))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("%s of project \"%s\" already has an anchor named \"%s\"", env, name, anchor),
				 errhint("Choose another name; SELECT name, lsn FROM branchpromote.anchors WHERE project = '%s' lists them.", name)));
	snapshot_id = CatalogNextSnapshotId();
	BpWakeWorkerAtCommit();		/* removes the snapshot if this transaction aborts */
	BpStorage()->snapshot(c.spec.timeline_id, BpServerOn(&c.spec, false), snapshot_id, &snap);
	StepPhases(&r, "snapshot", snap.phases);
	CatalogInsertSnapshot(snapshot_id, c.spec.timeline_id, snap.start_lsn, snap.lsn, "anchor");
	CatalogInsertAnchor(c.spec.timeline_id, anchor, "manual", snap.lsn);
	CatalogRecordOperation(name, "create_anchor", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "env", env);
	PutInt(&r, "timeline", c.spec.timeline_id);
	PutStr(&r, "name", anchor);
	PutLsn(&r, "lsn", snap.lsn);
	PutInt(&r, "snapshot", snapshot_id);
	PutStr(&r, "clone_method", snap.method);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

#define TTL_HINT "Pass an interval such as '2 hours', or NULL for a preview that stays until discarded."

/* The ttl argument as milliseconds (0: NULL, no expiry). */
static int64
ArgTtlMs(FunctionCallInfo fcinfo, int n)
{
	int64		ms;

	if (PG_ARGISNULL(n))
		return 0;
	ms = IntervalMs(PG_GETARG_INTERVAL_P(n), "ttl", TTL_HINT);
	if (ms <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ttl must be positive"),
				 errhint(TTL_HINT)));
	return ms;
}

/*
 * Is a new fork of this source masked?  A fork of a masked timeline always
 * is (inherited: its source's digest, the rules not applied again); else
 * as asked, or by the project's default for forks of prod.  When the
 * rules are to be applied, they are loaded (an error if there are none).
 */
typedef struct ForkMask
{
	bool		apply;			/* apply the project's rules to the fork */
	char	   *inherited;		/* the masked source's digest */
	BpMaskRule *rules;
	int			nrules;
	char	   *seed;
} ForkMask;

static void
DecideMask(FunctionCallInfo fcinfo, const BpProject *p, const char *from, int64 from_tl, ForkMask *m)
{
	bool		asked = !PG_ARGISNULL(5);
	bool		want = asked && PG_GETARG_BOOL(5);

	memset(m, 0, sizeof(*m));
	m->inherited = CatalogTimelineMask(from_tl);
	if (m->inherited)
	{
		if (asked && !want)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" is masked: a fork of it is masked too", from),
					 errhint("Fork prod itself for unmasked data (masked => false), if you may see it.")));
		return;
	}
	m->apply = asked ? want : strcmp(from, "prod") == 0 && CatalogPreviewMasking(p->id);
	if (!m->apply)
		return;
	m->rules = CatalogMaskRules(p->id, &m->nrules);
	if (m->nrules == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has no masking rules", p->name),
				 errhint("Set them with branchpromote.set_mask_rule first%s.",
						 asked ? "" : ", or fork with masked => false (or set_preview_masking(..., false))")));
	m->seed = CatalogMaskSeed(p->id, NULL);
}

/* fork_branch(project, name, from_env, at_lsn, ttl, masked) → jsonb: a preview with its own compute. */
Datum
branchpromote_fork_branch(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *branch = ArgText(fcinfo, 1, "name");
	char	   *from = ArgText(fcinfo, 2, "from_env");
	bool		at_head = PG_ARGISNULL(3);
	XLogRecPtr	target = at_head ? InvalidXLogRecPtr : PG_GETARG_LSN(3);
	int64		ttl_ms = ArgTtlMs(fcinfo, 4);
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpTimelineRow existing;
	int64		base_id = 0;
	int64		from_tl;
	BpComputeRow from_compute;
	bool		from_has_compute;
	bool		from_running;
	BpComputeSpec source;
	BpForkResult fork;
	ForkSource	src;
	int64		new_tl;
	int64		parent_tl;
	BpComputeRow c;
	ForkMask	mask;
	TimestampTz expires_at = 0;

	OperationBegin(&r, "fork_branch", name);
	RequireName("branch", branch);
	RequireName("environment or branch", from);
	if (strcmp(branch, "dev") == 0 || strcmp(branch, "prod") == 0 || BpNameIsReserved(branch) ||
		strncmp(branch, BACKUP_PREFIX, strlen(BACKUP_PREFIX)) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_RESERVED_NAME),
				 errmsg("branch name \"%s\" is reserved", branch),
				 errhint("dev and prod are the project's environments and " BACKUP_PREFIX "* names its backups; choose another name, e.g. 'pr-123'.")));
	CatalogBegin();
	LoadProject(name, true, &p);
	if (CatalogFindBranch(p.id, branch, &existing) ||
		CatalogGetEnvironment(p.id, branch, &from_tl, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_DUPLICATE_OBJECT),
				 errmsg("project \"%s\" already has a branch named \"%s\"", name, branch),
				 errhint("Choose another name (discarded branches keep theirs), or discard the live one: SELECT branchpromote.discard_branch('%s', '%s');", name, branch)));

	/* the source: an environment (dev, prod, a preview) or a backup branch */
	from_has_compute = false;
	from_running = false;
	if (CatalogGetEnvironment(p.id, from, &from_tl, NULL))
	{
		LoadCompute(&p, from, &from_compute);
		from_has_compute = true;
		from_running = UseCompute(&r, &p, &from_compute, from, false);
		source = from_compute.spec;
	}
	else if (CatalogFindBranch(p.id, from, &existing) && !existing.discarded)
	{
		from_tl = existing.id;
		memset(&source, 0, sizeof(source));
		source.timeline_id = from_tl;
	}
	else
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no environment or branch \"%s\"", name, from),
				 errhint("SELECT env FROM branchpromote.environments WHERE project = '%s' lists environments; SELECT branch FROM branchpromote.timelines lists branches.", name)));
	DecideMask(fcinfo, &p, from, from_tl, &mask);
	Step(&r, "plan");

	if (at_head)
	{
		new_tl = CatalogNextTimelineId();
		base_id = CatalogNextSnapshotId();
		BpWakeWorkerAtCommit();
		/* a masked fork's base snapshot is taken after the mask */
		BpStorage()->fork_at_head(from_tl, BpServerOn(&source, true), new_tl, mask.apply ? 0 : base_id, &fork);
		StepPhases(&r, fork.source_was_running ? "fork running source (backup mode)" : "fork stopped source",
				   fork.phases);
		parent_tl = from_tl;
		target = fork.fork_lsn;
	}
	else
	{
		XLogRecPtr	head;

		if (from_has_compute)
			head = BpStorage()->head_lsn(from_tl, BpServerOn(&source, false), BP_SEAL_NONE);
		else
		{
			/* a backup: stopped; its whole history into its archive */
			head = BpStorage()->seal_stopped(from_tl);
			if (XLogRecPtrIsInvalid(head))
				head = target;	/* not stopped cleanly: recovery will tell */
		}
		src = PlanFork(from, from_tl, from_running ? &source : NULL, BP_SEAL_FORKS, head, target);
		new_tl = ForkAt(&r, &src, &fork);
		parent_tl = src.timeline_id;
	}
	CatalogInsertTimeline(new_tl, p.id, "preview", parent_tl, target, fork.method);
	CatalogLabelTimeline(new_tl, "preview", branch);	/* its expiry: at the end */
	CatalogSetEnvironment(p.id, branch, new_tl, NULL);
	c = ProvisionCompute(&r, p.id, branch, new_tl, true);
	DropInheritedPrepared(&c.spec, p.name, p.password, NULL, NULL);
	if (mask.apply)
	{
		char	   *digest;
		XLogRecPtr	floor = MaskNewFork(&r, &p, &c.spec, mask.rules, mask.nrules, mask.seed, &digest);

		CatalogSetTimelineMask(new_tl, digest, floor);
		BaseSnapshot(&r, &c.spec);
	}
	else
	{
		if (mask.inherited)
		{
			CatalogSetTimelineMask(new_tl, mask.inherited, InvalidXLogRecPtr);
			PutRaw(&r, "masked", "true");
			PutStr(&r, "mask_digest", mask.inherited);
		}
		else
			PutRaw(&r, "masked", "false");
		if (at_head)
			InsertBaseSnapshot(&r, new_tl, base_id, &fork.base);
		else
			BaseSnapshot(&r, &c.spec);	/* a fork at an LSN replays to it first: a backup of it */
	}
	if (ttl_ms > 0)
		expires_at = CatalogSetExpiry(new_tl, ttl_ms);
	CatalogRecordOperation(name, "fork_branch", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "branch", branch);
	PutStr(&r, "from", from);
	PutInt(&r, "timeline", new_tl);
	PutInt(&r, "parent", parent_tl);
	PutLsn(&r, "fork_lsn", target);
	PutStr(&r, "clone_method", fork.method);
	PutInt(&r, "port", c.spec.port);
	if (ttl_ms > 0)
		PutStr(&r, "expires_at", timestamptz_to_str(expires_at));
	else
		PutRaw(&r, "expires_at", "null");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* discard_branch(project, name) → jsonb: a preview or backup branch and its data go. */
Datum
branchpromote_discard_branch(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *branch = ArgText(fcinfo, 1, "name");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpTimelineRow t;
	int64		env_tl;
	char	   *env;
	char	   *kept_until;

	OperationBegin(&r, "discard_branch", name);
	RequireName("branch", branch);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (!CatalogFindBranch(p.id, branch, &t) || t.discarded)
	{
		if (CatalogGetEnvironment(p.id, branch, &env_tl, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("\"%s\" is an environment of project \"%s\", not a branch", branch, name),
					 errhint("Only previews and backup branches can be discarded; drop_project removes everything.")));
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no live branch \"%s\"", name, branch),
				 errhint("SELECT branch, kind FROM branchpromote.timelines WHERE project = '%s' AND discarded_at IS NULL lists them.", name)));
	}
	env = CatalogTimelineEnvironment(t.id);
	if (env != NULL && strcmp(env, branch) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branch \"%s\" is the %s environment's timeline", branch, env),
				 errhint("Move %s elsewhere first.", env)));
	RefuseProtected(&p, branch, "discard_branch");
	kept_until = CatalogDiscardTimeline(t.id, bp_recovery_window_s);
	BpWakeWorkerAtCommit();
	Step(&r, "discard");
	CatalogRecordOperation(name, "discard_branch", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "discarded", branch);
	PutStr(&r, "kind", t.kind);
	PutInt(&r, "timeline", t.id);
	PutStr(&r, "kept_until", kept_until);
	PutStr(&r, "cleanup", "after commit the reconciler stops its compute; restore_branch brings it back "
		   "until kept_until, then the reconciler removes its data");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* reset_prod(project, confirm) → jsonb: prod := dev's head, the old prod anchored and kept. */
Datum
branchpromote_reset_prod(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *confirm = ArgText(fcinfo, 1, "confirm");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	Prod		prod;
	int64		dev_tl;
	BpComputeRow dev;
	int64		old_tl;
	int64		snapshot_id;
	BpSnapshotResult snap;
	BpForkResult fork;
	int64		new_tl;
	int64		deploy_id;
	ProdMove	move;
	char	   *backup;
	char		anchor[64];

	OperationBegin(&r, "reset_prod", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (strcmp(confirm, name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("confirm does not match the project name"),
				 errhint("To replace prod's data with dev's (prod is kept as a backup branch), call branchpromote.reset_prod('%s', '%s').", name, name)));
	RefuseProtected(&p, "prod", "reset_prod");
	LoadProd(&r, &p, &prod);
	old_tl = prod.timeline_id;
	if (!CatalogGetEnvironment(p.id, "dev", &dev_tl, NULL))
		elog(ERROR, "project \"%s\" has no dev environment", name);
	LoadCompute(&p, "dev", &dev);
	(void) UseCompute(&r, &p, &dev, "dev", false);

	/* anchor prod first: a snapshot, and its archive sealed up to now */
	snapshot_id = CatalogNextSnapshotId();
	BpWakeWorkerAtCommit();
	BpStorage()->snapshot(old_tl, BpServerOn(&prod.compute.spec, false), snapshot_id, &snap);
	CatalogInsertSnapshot(snapshot_id, old_tl, snap.start_lsn, snap.lsn, "anchor");
	snprintf(anchor, sizeof(anchor), "pre-reset %s", timestamptz_to_str(r.started_at));
	CatalogInsertAnchor(old_tl, anchor, "pre-reset", snap.lsn);
	if (prod.running)			/* stopped: forks of the backup seal it (PlanFork) */
		(void) BpStorage()->head_lsn(old_tl, BpServerOn(&prod.compute.spec, false), BP_SEAL_ARCHIVE);
	Step(&r, "anchor prod");

	new_tl = CatalogNextTimelineId();
	BpStorage()->fork_at_head(dev_tl, BpServerOn(&dev.spec, true), new_tl, 0, &fork);	/* MoveProd takes its base */
	StepPhases(&r, fork.source_was_running ? "fork running dev (backup mode)" : "fork stopped dev",
			   fork.phases);
	move = (ProdMove) {.r = &r, .p = &p, .prod = &prod, .new_tl = new_tl,
					   .parent_tl = dev_tl, .fork_lsn = fork.fork_lsn, .fork = &fork,
					   .release = NULL};
	backup = MoveProd(&move);
	deploy_id = RecordProdMove(&move, "reset");
	CatalogRecordOperation(name, "reset_prod", actor, r.started_at, StepsJson(&r));
	PutWoke(&r);
	CatalogEnd();

	PutStr(&r, "project", name);
	PutInt(&r, "deploy_id", deploy_id);
	PutInt(&r, "new_timeline", new_tl);
	PutLsn(&r, "fork_lsn", fork.fork_lsn);
	PutStr(&r, "backup_branch", backup);
	PutInt(&r, "backup_timeline", old_tl);
	PutStr(&r, "anchor", anchor);
	PutLsn(&r, "anchor_lsn", snap.lsn);
	PutStr(&r, "clone_method", fork.method);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* _timeline_usage(timeline) → (size_bytes, shared_bytes); NULLs for a timeline the caller may not see */
Datum
branchpromote_timeline_usage(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	uint64		bytes = 0;
	uint64		shared = 0;

	Oid			owner;
	bool		visible;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	CatalogBegin();
	visible = CatalogTimelineOwner(PG_GETARG_INT64(0), &owner) && CanSeeProject(owner);
	CatalogEnd();
	if (visible)				/* sizes of others' projects stay theirs */
		BpStorage()->usage(PG_GETARG_INT64(0), &bytes, &shared);
	values[0] = Int64GetDatum((int64) bytes);
	values[1] = Int64GetDatum((int64) shared);
	nulls[0] = nulls[1] = !visible;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
