/*
 * history.c — point-in-time planning and retention arithmetic (pure code).
 */
#include "postgres.h"

#include "lib/stringinfo.h"

#include "history.h"

/* How far step i's history reaches: the head, or where its child left it. */
static XLogRecPtr
StepUpper(const BpLineageStep *steps, int i, XLogRecPtr head)
{
	return i == 0 ? head : steps[i - 1].fork_lsn;
}

/* Where step i's own history starts (invalid: the store keeps none). */
static XLogRecPtr
OwnFrom(const BpLineageStep *step)
{
	if (XLogRecPtrIsInvalid(step->own_from))
		return InvalidXLogRecPtr;
	return Max(step->own_from, step->floor);
}

BpPitChoice
BpPlanPointInTime(const BpLineageStep *steps, int nsteps, XLogRecPtr head,
				  XLogRecPtr target)
{
	BpPitChoice c = {BP_PIT_OUTSIDE, -1, -1};

	if (target > head)
	{
		c.verdict = BP_PIT_FUTURE;
		return c;
	}
	for (int i = 0; i < nsteps; i++)
	{
		if (target > StepUpper(steps, i, head))
			break;
		if (!XLogRecPtrIsInvalid(OwnFrom(&steps[i])) && target >= OwnFrom(&steps[i]))
		{
			c.verdict = BP_PIT_OK;
			c.step = i;
			c.snap = -1;
			return c;
		}
		for (int k = steps[i].nsnap - 1; k >= 0; k--)
			if (steps[i].snap[k].from_lsn <= target)
			{
				c.verdict = BP_PIT_OK;
				c.step = i;
				c.snap = k;
				return c;
			}
		/* older than every snapshot here: only the parent can have it */
		if (XLogRecPtrIsInvalid(steps[i].fork_lsn) || target > steps[i].fork_lsn)
			break;
	}
	return c;
}

char *
BpPitRanges(const BpLineageStep *steps, int nsteps, XLogRecPtr head)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < nsteps; i++)
	{
		XLogRecPtr	upper = StepUpper(steps, i, head);
		XLogRecPtr	lower = steps[i].nsnap > 0 ? steps[i].snap[0].from_lsn : InvalidXLogRecPtr;
		XLogRecPtr	own = OwnFrom(&steps[i]);

		if (!XLogRecPtrIsInvalid(own) && (XLogRecPtrIsInvalid(lower) || own < lower))
			lower = own;
		if (XLogRecPtrIsInvalid(lower) || lower > upper)
			continue;
		appendStringInfo(&s, "%s%X/%X to %X/%X on timeline " INT64_FORMAT,
						 s.len > 0 ? "; " : "", LSN_FORMAT_ARGS(lower),
						 LSN_FORMAT_ARGS(upper), steps[i].timeline_id);
	}
	if (s.len == 0)
		appendStringInfoString(&s, "none");
	return s.data;
}

int
BpLineageFind(const BpLineageStep *steps, int nsteps, XLogRecPtr head, int64 timeline_id,
			  XLogRecPtr lsn)
{
	for (int i = 0; i < nsteps; i++)
		if (steps[i].timeline_id == timeline_id)
			return lsn <= StepUpper(steps, i, head) ? i : -1;
	return -1;
}

XLogRecPtr
BpRetentionKeep(const BpSnapshotInfo *snap, int n, TimestampTz now, int64 retention_ms,
				bool *keep)
{
	TimestampTz boundary = now - retention_ms * INT64CONST(1000);
	int			newest_before = -1;
	XLogRecPtr	cutoff = InvalidXLogRecPtr;

	for (int i = 0; i < n; i++)
	{
		keep[i] = snap[i].created_at >= boundary;
		if (!keep[i])
			newest_before = i;
	}
	if (newest_before >= 0)
		keep[newest_before] = true;
	for (int i = 0; i < n; i++)
		if (keep[i] && (XLogRecPtrIsInvalid(cutoff) || snap[i].start_lsn < cutoff))
			cutoff = snap[i].start_lsn;
	return cutoff;
}
