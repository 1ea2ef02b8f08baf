/*
 * reconcile.h — what the reconciler's jobs (reconcile_*.c) share with each
 * other and with the pass in worker.c.  Internal to the reconciler.
 */
#ifndef BP_RECONCILE_H
#define BP_RECONCILE_H

#include "catalog.h"
#include "driver.h"
#include "jobs.h"
#include "requests.h"

typedef void (*ItemFn) (void *arg);

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
	bool		launched;		/* started by us (else: found starting) */
	double		spawn_ms;		/* what launching it took */
	double		ready_ms;		/* from its being ready to our seeing it */
	TimestampTz deadline;
	int			timeout_ms;
	bool		record;			/* a committed row: record its new state */
	bool		trial;			/* a trial run (AskTrialStart): archiving off */
	int			nwaiters;
	Waiter		waiters[BP_REQUEST_SLOTS];
} Start;

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

typedef struct ComputeList
{
	bool		full;			/* in: a full pass (tell the quiet ones) */
	BpComputeBrief *briefs;
	int			n;
} ComputeList;

extern MemoryContext loop_cxt;
extern List *starts;
extern bool want_full;

extern bool RunItem(const char *what, bool with_catalog, ItemFn fn, void *arg, char *errbuf, size_t errlen);
extern List *CopyIds(List *ids);
extern Start *FindStart(int64 compute_id);
extern bool StartingOn(int64 timeline_id);
extern int BeginStart(const BpComputeSpec *spec, int timeout_ms, bool record, bool trial, int slot);
extern void EndStart(Start *s, int pid, const char *error);
extern void StopCompute(const BpComputeSpec *spec);
extern void CheckStarts(void);
extern void DoTemplate(void *arg);
extern void RecordFailure(int64 compute_id, const char *error);
extern bool ProcessRequests(void);
extern char *RendererDigest(void);
extern void DoManifest(void *arg);
extern void DoListComputes(void *arg);
extern void DoReconcileCompute(void *arg);
extern int	ResolvePrepared(PGconn *conn, int64 compute_id);

/* DoRefreshLedger's argument: the compute, and whether to mirror it anyway */
typedef struct RefreshItem
{
	int64		compute_id;
	bool		mirrors;
} RefreshItem;
extern void DoRefreshLedger(void *arg);
extern void DoIdle(void *arg);
extern bool CreatorFinished(FullTransactionId creator);
extern bool Collectable(const BpStoredTimeline *t);
extern bool MarkFuture(const BpStoredTimeline *t, int64 timeline_of_snapshot);
extern void DoReconcileTimeline(void *arg);
extern void DoReconcileEndpoint(void *arg);
extern void DoListEndpoints(void *arg);
extern void DoListTimelines(void *arg);
extern void DoExpirePreviews(void *arg);
extern void DoPurgeExpired(void *arg);
extern void DoListSnapshotsDue(void *arg);
extern bool SnapshotBackingOff(int64 compute_id);
extern void SnapshotBackOff(int64 compute_id);
extern void JobDone(BpJobKind kind, int64 arg, const char *error);
extern bool StartJob(const char *what, BpJobKind kind, int64 arg);
extern void DoListLiveTimelines(void *arg);
extern void DoReconcileHistory(void *arg);

#endif
