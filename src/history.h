/*
 * history.h — point-in-time planning and retention arithmetic (pure code).
 *
 * A timeline's history is its snapshots (un-started base backups, each
 * consistent from its lsn on) plus its WAL archive.  Forking at an LSN
 * needs a snapshot at or below it on the timeline, or — for an LSN at or
 * below the point where the timeline left its parent — on an ancestor,
 * whose history is the same up to there.
 */
#ifndef BP_HISTORY_H
#define BP_HISTORY_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"

typedef struct BpSnapshotInfo
{
	int64		id;
	XLogRecPtr	start_lsn;		/* WAL from here on is needed to use it */
	XLogRecPtr	lsn;			/* consistent from here on */
	/*
	 * It stands for every LSN from here on (at most lsn).  Below lsn only for
	 * a timeline's base snapshot, taken before the call that made the
	 * timeline returned: between the timeline's fork point and it lie only
	 * the control plane's own records, so forking there means forking at it.
	 */
	XLogRecPtr	from_lsn;
	TimestampTz created_at;
} BpSnapshotInfo;

/* One timeline of a lineage, the starting one first, then its ancestors. */
typedef struct BpLineageStep
{
	int64		timeline_id;
	XLogRecPtr	fork_lsn;		/* where it left its parent; invalid for a root */
	int			nsnap;
	const BpSnapshotInfo *snap; /* ascending by lsn */
	/*
	 * The storage driver keeps this timeline's history itself from own_from
	 * on (invalid: it keeps none, as the local driver), so a fork there
	 * needs no snapshot; never below floor (a mask's LSN: what came before
	 * it must stay out of reach).
	 */
	XLogRecPtr	own_from;
	XLogRecPtr	floor;
} BpLineageStep;

typedef enum BpPitVerdict
{
	BP_PIT_OK,
	BP_PIT_FUTURE,				/* beyond the starting timeline's head */
	BP_PIT_OUTSIDE				/* no retained snapshot at or below it */
} BpPitVerdict;

typedef struct BpPitChoice
{
	BpPitVerdict verdict;
	int			step;			/* BP_PIT_OK: index into the lineage */
	int			snap;			/* BP_PIT_OK: index into that step's snapshots; -1: its own history */
} BpPitChoice;

extern BpPitChoice BpPlanPointInTime(const BpLineageStep *steps, int nsteps,
									 XLogRecPtr head, XLogRecPtr target);

/*
 * The LSN ranges a fork can reach, as text ("0/3000060 to 0/5A0B1C8 on
 * timeline 12; ..."), newest first; "none" if there are none.
 */
extern char *BpPitRanges(const BpLineageStep *steps, int nsteps, XLogRecPtr head);

/*
 * Is (timeline_id, lsn) part of the history of the lineage's first timeline
 * (whose head is head)?  The index of the step, or -1.
 */
extern int	BpLineageFind(const BpLineageStep *steps, int nsteps, XLogRecPtr head,
						  int64 timeline_id, XLogRecPtr lsn);

/*
 * Which snapshots (ascending by creation) the retention window keeps: all
 * made inside it, and the newest made before it, so its start stays
 * reachable.  Returns the start LSN of the oldest kept one (WAL older than
 * that can go), or InvalidXLogRecPtr if nothing is kept.
 */
extern XLogRecPtr BpRetentionKeep(const BpSnapshotInfo *snap, int n, TimestampTz now,
								  int64 retention_ms, bool *keep);

#endif
