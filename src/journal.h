/*
 * journal.h — the operation journal: each mutating call's steps, on disk
 * before each of its effects.
 */
#ifndef BP_JOURNAL_H
#define BP_JOURNAL_H

#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

/* A journal file as the reconciler or the operations view reads it. */
typedef struct BpJournalEntry
{
	char	   *path;
	bool		ended;			/* its transaction aborted (else: running, or its backend died) */
	bool		exited;			/* ... as its backend exited (FATAL, pg_terminate_backend) */
	char	   *header;			/* JSON: kind, project, actor, started_at, pid */
	char	   *steps_json;		/* JSON array of {step, ms} */
} BpJournalEntry;

/* Backends: the call that begins, and each step it finishes. */
extern void JournalBegin(const char *kind, const char *project, const char *actor,
						 TimestampTz started_at);
/* extra: more JSON members for the step's object ("key": value, ...), or NULL */
extern void JournalStep(const char *name, double ms, const char *extra);

/* Ended calls (ended_only) or running ones. */
extern List *JournalList(bool ended_only);
/* The reconciler recorded it. */
extern void JournalForget(const BpJournalEntry *e);

#endif
