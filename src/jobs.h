/*
 * jobs.h — the reconciler's long work, each in a background worker of its own.
 */
#ifndef BP_JOBS_H
#define BP_JOBS_H

#include "fmgr.h"

typedef enum BpJobKind
{
	BP_JOB_SNAPSHOT,			/* a periodic snapshot of compute arg */
	BP_JOB_PURGE_TRASH			/* empty the trash of what outlived trash_retention */
} BpJobKind;

/* What a job that ended said (error: NULL if it succeeded). */
typedef void (*BpJobDone) (BpJobKind kind, int64 arg, const char *error);

extern void BpJobsShmemRequest(void);
extern void BpJobsShmemInit(void);

/* The reconciler */
extern void BpJobsAttach(void);
extern bool BpJobRunning(BpJobKind kind, int64 arg);
extern bool BpJobStart(BpJobKind kind, int64 arg);
extern int	BpJobsHarvest(BpJobDone done);

/* The job itself: in a job's worker, or in the reconciler if none could start. */
extern void BpJobRun(BpJobKind kind, int64 arg);

extern PGDLLEXPORT void branchpromote_job_main(Datum arg);

#endif
