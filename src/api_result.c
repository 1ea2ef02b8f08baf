/*
 * api_result.c — the jsonb result of every call and its step journal (with
 * the crash points of the crash matrix).  Shared by the SQL-callable
 * functions (apiutil.h).
 */
#include "postgres.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/json.h"

#include "apiutil.h"
#include "journal.h"
#include "guc.h"

void
ResultInit(ApiResult *r)
{
	initStringInfo(&r->json);
	initStringInfo(&r->steps);
	appendStringInfoChar(&r->json, '{');
	appendStringInfoChar(&r->steps, '[');
	initStringInfo(&r->woke);
	r->woken = NIL;
	INSTR_TIME_SET_CURRENT(r->start);
	r->last = r->start;
	r->started_at = GetCurrentTimestamp();
}

/*
 * A mutating call begins: the result, and its journal on disk before any
 * effect (see journal.c).
 */
void
OperationBegin(ApiResult *r, const char *kind, const char *project)
{
	ResultInit(r);
	JournalBegin(kind, project, CallerName(), r->started_at);
}

double
MsSince(instr_time t)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, t);
	return INSTR_TIME_GET_MILLISEC(now);
}

/*
 * Fault injection (tests only): branchpromote.crash_at names a step; the
 * backend kills itself with SIGKILL right after it ("postmaster:<step>":
 * the control postmaster first), as a crash between two effects would.
 */
static void
CrashPoint(const char *step)
{
	const char *at = bp_crash_at;
	bool		postmaster = false;
	bool		worker = false;

	if (at == NULL || at[0] == '\0')
		return;
	if (strncmp(at, "postmaster:", 11) == 0)
	{
		postmaster = true;
		at += 11;
	}
	else if (strncmp(at, "worker:", 7) == 0)
	{
		worker = true;
		at += 7;
	}
	if (strcmp(at, step) != 0)
		return;
	ereport(LOG,
			(errmsg("branchpromote.crash_at: killing %s after step \"%s\"",
					postmaster ? "the postmaster and this backend" :
					worker ? "the reconciler (the postmaster then ends every backend)" :
					"this backend", step)));
	if (postmaster)
		kill(PostmasterPid, SIGKILL);
	if (worker && BpWorkerPid() > 0)
	{
		/* a child killed: the postmaster ends us too; never go on to commit */
		kill(BpWorkerPid(), SIGKILL);
		for (int i = 0; i < 1000; i++)
			pg_usleep(10000L);
	}
	kill(MyProcPid, SIGKILL);
}

/*
 * Journal a finished step with its duration; extra: more JSON members of
 * its object ("key": value, ...), or NULL.
 */
void
StepWith(ApiResult *r, const char *name, const char *extra)
{
	double		ms = MsSince(r->last);

	JournalStep(name, ms, extra);	/* durable before the next effect */
	CrashPoint(name);
	if (r->steps.len > 1)
		appendStringInfoString(&r->steps, ", ");
	appendStringInfo(&r->steps, "{\"step\": \"%s\", \"ms\": %.3f%s%s}", name, ms,
					 extra ? ", " : "", extra ? extra : "");
	INSTR_TIME_SET_CURRENT(r->last);
}

/* A step with the phases a driver measured ("phase": ms, ...; "": none). */
void
StepPhases(ApiResult *r, const char *name, const char *phases)
{
	StepWith(r, name, phases[0] ? psprintf("\"phases\": {%s}", phases) : NULL);
}

void
PhaseBegin(PhaseClock *pc)
{
	initStringInfo(&pc->buf);
	INSTR_TIME_SET_CURRENT(pc->last);
}

void
Phase(PhaseClock *pc, const char *name)
{
	appendStringInfo(&pc->buf, "%s\"%s\": %.3f", pc->buf.len ? ", " : "", name, MsSince(pc->last));
	INSTR_TIME_SET_CURRENT(pc->last);
}

void
Step(ApiResult *r, const char *name)
{
	StepWith(r, name, NULL);
}

void
Key(ApiResult *r, const char *key)
{
	if (r->json.len > 1)
		appendStringInfoString(&r->json, ", ");
	escape_json(&r->json, key);
	appendStringInfoString(&r->json, ": ");
}

void
PutStr(ApiResult *r, const char *key, const char *value)
{
	Key(r, key);
	if (value)
		escape_json(&r->json, value);
	else
		appendStringInfoString(&r->json, "null");
}

void
PutInt(ApiResult *r, const char *key, int64 value)
{
	Key(r, key);
	appendStringInfo(&r->json, INT64_FORMAT, value);
}

void
PutRaw(ApiResult *r, const char *key, const char *json)
{
	Key(r, key);
	appendStringInfoString(&r->json, json);
}

void
PutLsn(ApiResult *r, const char *key, XLogRecPtr lsn)
{
	char		buf[32];

	snprintf(buf, sizeof(buf), "%X/%X", LSN_FORMAT_ARGS(lsn));
	PutStr(r, key, buf);
}

Datum
ResultJsonb(ApiResult *r)
{
	Key(r, "elapsed_ms");
	appendStringInfo(&r->json, "%.3f}", MsSince(r->start));
	return DirectFunctionCall1(jsonb_in, CStringGetDatum(r->json.data));
}

char *
StepsJson(ApiResult *r)
{
	appendStringInfoChar(&r->steps, ']');
	return r->steps.data;
}

/*
 * The result's "woke": what the call woke and what each cost (ms).  The
 * idle time of each counts from here, the call's end.
 */
void
PutWoke(ApiResult *r)
{
	ListCell   *lc;

	foreach(lc, r->woken)
		CatalogTouchCompute(*(int64 *) lfirst(lc));	/* (a read call's: the reconciler's row) */
	PutRaw(r, "woke", psprintf("{%s}", r->woke.data));
}
