/*
 * api_recovery.c — nothing lost by a slip: protected environments and
 * branches, and undoing a discard or a drop within the recovery window.
 *
 * Protection is by name (an environment's name follows it when prod moves
 * to another timeline).  discard_branch, reset_prod and drop_project ask
 * RefuseProtected first.  A discard or a drop only marks rows: the data
 * stays until the window (branchpromote.recovery_window) ends, and the
 * reconciler removes it after that (CatalogPurgeExpired).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "fmgr.h"
#include "utils/acl.h"
#include "utils/builtins.h"

#include "api_recovery.h"
#include "apiutil.h"
#include "catalog.h"
#include "driver.h"
#include "guc.h"
#include "requests.h"

PG_FUNCTION_INFO_V1(branchpromote_protect);
PG_FUNCTION_INFO_V1(branchpromote_unprotect);
PG_FUNCTION_INFO_V1(branchpromote_restore_branch);
PG_FUNCTION_INFO_V1(branchpromote_undrop_project);
PG_FUNCTION_INFO_V1(branchpromote_purge_project);

/* Refuse call on a protected environment or branch. */
void
RefuseProtected(const BpProject *p, const char *name, const char *call)
{
	if (CatalogIsProtected(p->id, name))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s of project \"%s\" is protected", name, p->name),
				 errdetail("%s refuses a protected environment or branch.", call),
				 errhint("If this is really meant, the project's owner unprotects it first: SELECT branchpromote.unprotect('%s', '%s');",
						 p->name, name)));
}

/* Refuse to drop a project with anything protected in it. */
void
RefuseProtectedProject(const BpProject *p)
{
	char	   *names = CatalogProtectedNames(p->id);

	if (names != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("project \"%s\" has protected environments or branches: %s", p->name, names),
				 errdetail("drop_project refuses a project with anything protected in it (prod is protected from its first deploy)."),
				 errhint("If this is really meant, the project's owner unprotects each first: SELECT branchpromote.unprotect('%s', name) FROM branchpromote.protections WHERE project = '%s';",
						 p->name, p->name)));
}

/* A live environment or branch of the project, or an error. */
static void
RequireLiveName(const BpProject *p, const char *name)
{
	BpTimelineRow t;
	int64		tl;

	if (CatalogGetEnvironment(p->id, name, &tl, NULL) ||
		(CatalogFindBranch(p->id, name, &t) && !t.discarded))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("project \"%s\" has no environment or live branch \"%s\"", p->name, name),
			 errhint("SELECT env FROM branchpromote.environments WHERE project = '%s' and SELECT branch FROM branchpromote.timelines WHERE project = '%s' AND discarded_at IS NULL list them.",
					 p->name, p->name)));
}

/* protect(project, name) → jsonb: discard, reset and drop refuse it until unprotected. */
Datum
branchpromote_protect(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *what = ArgText(fcinfo, 1, "name");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	bool		added;

	OperationBegin(&r, "protect", name);
	RequireName("environment or branch", what);
	CatalogBegin();
	LoadProject(name, true, &p);
	RequireLiveName(&p, what);
	added = CatalogProtect(p.id, what, CatalogCaller());
	BpWakeWorkerAtCommit();
	Step(&r, added ? "protect" : "already protected");
	CatalogRecordOperation(name, "protect", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "protected", what);
	PutRaw(&r, "changed", added ? "true" : "false");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/* unprotect(project, name) → jsonb: only the project's owner may. */
Datum
branchpromote_unprotect(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *what = ArgText(fcinfo, 1, "name");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	bool		removed;

	OperationBegin(&r, "unprotect", name);
	RequireName("environment or branch", what);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (!has_privs_of_role(CatalogCaller(), p.owner))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of project \"%s\" may unprotect %s", name, what),
				 errhint("Ask a member of role \"%s\" (the project's owner) or a superuser.",
						 GetUserNameFromId(p.owner, false))));
	removed = CatalogUnprotect(p.id, what);
	Step(&r, removed ? "unprotect" : "was not protected");
	CatalogRecordOperation(name, "unprotect", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "unprotected", what);
	PutRaw(&r, "changed", removed ? "true" : "false");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

#define WINDOW_HINT "branchpromote.recovery_window sets how long discarded branches and dropped projects are kept."

/*
 * restore_branch(project, name) → jsonb: a discarded branch back, within
 * the recovery window: its data, snapshots and ledger as they were; a
 * preview gets its environment (the same connection name) and a compute.
 */
Datum
branchpromote_restore_branch(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *branch = ArgText(fcinfo, 1, "name");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	BpTimelineRow t;
	BpComputeRow c;
	bool		preview;

	OperationBegin(&r, "restore_branch", name);
	RequireName("branch", branch);
	CatalogBegin();
	LoadProject(name, true, &p);
	if (!CatalogFindBranch(p.id, branch, &t))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("project \"%s\" has no branch \"%s\"", name, branch),
				 errhint("SELECT branch, removal_at FROM branchpromote.pending_removal WHERE project = '%s' lists what can be restored.", name)));
	if (!t.discarded)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branch \"%s\" of project \"%s\" is not discarded", branch, name),
				 errhint("Only a discarded branch can be restored; this one is live.")));
	if (t.kept_until == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branch \"%s\" of project \"%s\" is gone: its recovery window ended and its data was removed",
						branch, name),
				 errhint(WINDOW_HINT)));
	preview = strcmp(t.kind, "preview") == 0;
	CatalogRestoreTimeline(t.id);
	Step(&r, "restore");
	if (preview)
	{
		/* its server may still run until the reconciler's next pass: down first */
		BpCompute()->stop_timeline(t.id, false);
		CatalogSetEnvironment(p.id, branch, t.id, NULL);
		c = ProvisionCompute(&r, p.id, branch, t.id, false);	/* a kept timeline */
	}
	BpWakeWorkerAtCommit();
	CatalogRecordOperation(name, "restore_branch", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "restored", branch);
	PutStr(&r, "kind", t.kind);
	PutInt(&r, "timeline", t.id);
	if (preview)
		PutInt(&r, "port", c.spec.port);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * undrop_project(project) → jsonb: a dropped project back, within the
 * recovery window: every environment, branch, deploy and its history as
 * they were; its computes wake on demand.
 */
Datum
branchpromote_undrop_project(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	char	   *kept_until;

	OperationBegin(&r, "undrop_project", name);
	RequireName("project", name);
	CatalogBegin();
	CatalogLockProjectName(name);
	if (!CatalogFindDroppedProject(name, &p, &kept_until))
	{
		if (CatalogFindProject(name, false, &p))
		{
			RequireProjectAccess(&p);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("project \"%s\" is not dropped", name),
					 errhint("Only a dropped project can be brought back; this one is live.")));
		}
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("no dropped project \"%s\" is kept", name),
				 errhint("SELECT project, removal_at FROM branchpromote.pending_removal WHERE branch IS NULL lists them; " WINDOW_HINT)));
	}
	RequireProjectAccess(&p);
	CatalogUndropProject(p.id);
	BpWakeWorkerAtCommit();
	Step(&r, "undrop");
	CatalogRecordOperation(name, "undrop_project", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "undropped", name);
	PutStr(&r, "was_kept_until", kept_until);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * purge_project(project) → jsonb: end a dropped project's recovery window
 * now (an erasure request, or its name wanted back): its rows go in this
 * transaction (its name is free at commit), its data at the reconciler's
 * next pass.  Only a superuser or an admin, and only for a project already
 * dropped: no single call destroys a live one.
 */
Datum
branchpromote_purge_project(PG_FUNCTION_ARGS)
{
	char	   *name = ArgText(fcinfo, 0, "project");
	char	   *actor = CallerName();
	ApiResult	r;
	BpProject	p;
	char	   *kept_until;

	OperationBegin(&r, "purge_project", name);
	RequireName("project", name);
	if (!CallerIsSuperuserOr("branchpromote_admin"))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to purge project \"%s\"", name),
				 errhint("Only a superuser or a branchpromote_admin ends a recovery window early.")));
	CatalogBegin();
	CatalogLockProjectName(name);
	if (!CatalogFindDroppedProject(name, &p, &kept_until))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no dropped project \"%s\" is kept", name),
				 errhint("Only a dropped project is purged: SELECT branchpromote.drop_project('%s', '%s') first.", name, name)));
	CatalogDeleteProject(p.id);
	BpWakeWorkerAtCommit();
	Step(&r, "purge");
	CatalogRecordOperation(name, "purge_project", actor, r.started_at, StepsJson(&r));
	CatalogEnd();

	PutStr(&r, "project", name);
	PutStr(&r, "purged", name);
	PutStr(&r, "cleanup", "after commit the reconciler removes its data at its next pass");
	PG_RETURN_DATUM(ResultJsonb(&r));
}
