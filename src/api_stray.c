/*
 * api_stray.c — timeline directories no catalog row names that the
 * reconciler must not collect: another catalog incarnation's, or made on
 * another WAL timeline of the control server (a restore, a PITR), or from
 * before stamps existed (see driver.h).  Listed, then purged or adopted
 * only by an admin's explicit call.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/transam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "funcapi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/memutils.h"

#include "apiutil.h"
#include "catalog.h"
#include "driver.h"
#include "xactend.h"

PG_FUNCTION_INFO_V1(branchpromote_stray_timelines);
PG_FUNCTION_INFO_V1(branchpromote_purge_stray_timeline);
PG_FUNCTION_INFO_V1(branchpromote_adopt_stray_timeline);
PG_FUNCTION_INFO_V1(branchpromote_stamp_named_directories);

/* A superuser or an admin. */
static void
RequireAdmin(const char *what)
{
	if (CallerIsSuperuserOr("branchpromote_admin"))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied to %s", what),
			 errhint("Strays may hold any project's data: only a superuser or a branchpromote_admin handles them.")));
}

/* Why a stored timeline no row names is a stray, or NULL if it is not one. */
static const char *
StrayReason(const BpStoredTimeline *t)
{
	if (t->current && FullTransactionIdIsValid(t->creator) &&
		!FullTransactionIdPrecedes(t->creator, ReadNextFullTransactionId()))
		return "made by a transaction in this catalog's future";
	if (t->current)
		return NULL;			/* this catalog's own: the reconciler collects it */
	if (!FullTransactionIdIsValid(t->creator))
		return t->empty ? NULL : "no owner file";
	if (t->stamp[0] == '\0')
		return "an owner file from before 0.5.0";
	if (strlen(t->stamp) > 2 && strcmp(t->stamp + strlen(t->stamp) - 2, " 0") == 0)
		return "made by a transaction in this catalog's future";
	return "made by another catalog incarnation or on another WAL timeline of the control server";
}

/* The stored timeline id's stray entry, or an error saying why it is none. */
static BpStoredTimeline *
FindStray(int64 timeline_id)
{
	ListCell   *lc;

	foreach(lc, BpStorage()->list())
	{
		BpStoredTimeline *t = lfirst(lc);

		if (t->timeline_id != timeline_id)
			continue;
		if (!CatalogTimelineExists(timeline_id) && StrayReason(t) != NULL)
			return t;
		break;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_OBJECT),
			 errmsg("timeline " INT64_FORMAT " is not a stray", timeline_id),
			 errhint("SELECT * FROM branchpromote.stray_timelines lists them; a timeline a catalog row names is not one.")));
	return NULL;
}

static bool
StrayRuns(int64 timeline_id)
{
	BpComputeSpec spec;
	int			instance;

	memset(&spec, 0, sizeof(spec));
	spec.timeline_id = timeline_id;
	return !BpComputeDown(BpCompute()->observe(&spec, &instance));
}

/* _stray_timelines() → (timeline, stamp, running, reason): the view's rows. */
Datum
branchpromote_stray_timelines(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	ListCell   *lc;

	RequireAdmin("list stray timelines");
	InitMaterializedSRF(fcinfo, 0);
	CatalogBegin();
	foreach(lc, BpStorage()->list())
	{
		BpStoredTimeline *t = lfirst(lc);
		const char *why = StrayReason(t);
		Datum		values[4];
		bool		nulls[4] = {false, false, false, false};

		if (why == NULL || CatalogTimelineExists(t->timeline_id))
			continue;
		values[0] = Int64GetDatum(t->timeline_id);
		values[1] = CStringGetTextDatum(t->stamp);
		nulls[1] = t->stamp[0] == '\0';
		values[2] = BoolGetDatum(StrayRuns(t->timeline_id));
		values[3] = CStringGetTextDatum(why);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	CatalogEnd();
	return (Datum) 0;
}

/* purge_stray_timeline(timeline) → jsonb: stop its server, move it to the trash. */
Datum
branchpromote_purge_stray_timeline(PG_FUNCTION_ARGS)
{
	int64		tl = PG_GETARG_INT64(0);
	ApiResult	r;

	RequireAdmin("purge stray timelines");
	ResultInit(&r);
	CatalogBegin();
	CatalogLockStoredTimeline(tl);	/* not while an adopt of it is open; held to the end */
	(void) FindStray(tl);
	CatalogEnd();
	BpCompute()->stop_timeline(tl, true);
	BpStorage()->remove(tl);
	ereport(LOG, (errmsg("branchpromote: stray timeline " INT64_FORMAT " moved to the trash by %s",
						 tl, CallerName())));
	PutInt(&r, "purged", tl);
	PutStr(&r, "cleanup", "moved to the trash; deleted for good after branchpromote.trash_retention");
	PG_RETURN_DATUM(ResultJsonb(&r));
}

typedef struct Restamp
{
	int64		timeline_id;
	FullTransactionId creator;
	char		stamp[64];
} Restamp;

/* At commit, the adopted stray's owner file becomes this catalog's. */
static void
RestampAtEnd(void *arg, bool commit)
{
	Restamp    *rs = arg;

	if (commit)
	{
		PG_TRY();
		{
			BpStorage()->restamp(rs->timeline_id, 0, rs->creator, rs->stamp);
		}
		PG_CATCH();
		{
			/* its row protects it; only a later drop would leave it a stray again */
			EmitErrorReport();
			FlushErrorState();
		}
		PG_END_TRY();
	}
	pfree(rs);
}

/*
 * adopt_stray_timeline(timeline, project) → jsonb: a backup branch of the
 * project ("stray-<id>"): fork it to reach its data, discard it to remove it.
 */
Datum
branchpromote_adopt_stray_timeline(PG_FUNCTION_ARGS)
{
	int64		tl = PG_GETARG_INT64(0);
	char	   *name = ArgText(fcinfo, 1, "project");
	char	   *branch = psprintf("stray-" INT64_FORMAT, tl);
	ApiResult	r;
	BpProject	p;
	Restamp    *rs;

	RequireAdmin("adopt stray timelines");
	OperationBegin(&r, "adopt_stray_timeline", name);
	CatalogBegin();
	LoadProject(name, true, &p);
	CatalogLockStoredTimeline(tl);	/* not while a purge of it runs */
	(void) FindStray(tl);
	if (StrayRuns(tl))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("a server runs on stray timeline " INT64_FORMAT, tl),
				 errhint("Stop it first (pg_ctl stop -D <its pgdata>, as the computes' OS user); a timeline is adopted stopped.")));
	CatalogInsertTimeline(tl, p.id, "backup", 0, InvalidXLogRecPtr, "copy");
	CatalogLabelTimeline(tl, "backup", branch);
	rs = MemoryContextAllocZero(TopMemoryContext, sizeof(Restamp));
	rs->timeline_id = tl;
	rs->creator = GetTopFullTransactionId();
	strlcpy(rs->stamp, BpOwnerStamp(), sizeof(rs->stamp));
	BpAtXactEnd(RestampAtEnd, rs);
	Step(&r, "adopt");
	CatalogRecordOperation(name, "adopt_stray_timeline", CallerName(), r.started_at, StepsJson(&r));
	CatalogEnd();
	PutStr(&r, "project", name);
	PutInt(&r, "timeline", tl);
	PutStr(&r, "branch", branch);
	PG_RETURN_DATUM(ResultJsonb(&r));
}

/*
 * _stamp_named_directories() → integer: every timeline and snapshot
 * directory a catalog row names gets this catalog's stamp (the 0.5.0
 * update: owner files made before had none, and without one they would
 * become strays once their rows go).  Returns how many were stamped.
 */
Datum
branchpromote_stamp_named_directories(PG_FUNCTION_ARGS)
{
	ListCell   *lc;
	int			n = 0;
	char	   *stamp;
	FullTransactionId old = FullTransactionIdFromEpochAndXid(0, FirstNormalTransactionId);

	RequireAdmin("stamp timeline directories");
	CatalogBegin();
	stamp = BpOwnerStamp();
	foreach(lc, BpStorage()->list())
	{
		BpStoredTimeline *t = lfirst(lc);
		ListCell   *sc;

		if (!CatalogTimelineExists(t->timeline_id))
			continue;
		if (!t->current)
		{
			BpStorage()->restamp(t->timeline_id, 0,
								 FullTransactionIdIsValid(t->creator) ? t->creator : old, stamp);
			n++;
		}
		foreach(sc, BpStorage()->list_snapshots(t->timeline_id))
		{
			BpStoredTimeline *sn = lfirst(sc);

			if (sn->current || !CatalogSnapshotExists(sn->timeline_id))
				continue;
			BpStorage()->restamp(t->timeline_id, sn->timeline_id,
								 FullTransactionIdIsValid(sn->creator) ? sn->creator : old, stamp);
			n++;
		}
	}
	CatalogEnd();
	PG_RETURN_INT32(n);
}
