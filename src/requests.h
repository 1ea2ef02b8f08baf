/*
 * requests.h — backends asking the reconciler to act, through shared memory.
 */
#ifndef BP_REQUESTS_H
#define BP_REQUESTS_H

#include "datatype/timestamp.h"
#include "storage/dsm.h"

#include "driver.h"

/* Requests that can wait for the reconciler at once. */
#define BP_REQUEST_SLOTS 32

typedef enum BpRequestKind
{
	BP_REQ_TEMPLATE,			/* make the timeline template */
	BP_REQ_START,				/* start a compute, wait until it is ready */
	BP_REQ_STOP,				/* suspend a compute */
	BP_REQ_RECORD_FAILED_DEPLOY /* record a deploy whose transaction failed */
} BpRequestKind;

/* A deploy that failed: recorded by the reconciler in its own transaction. */
typedef struct BpFailedDeploy
{
	int64		project_id;
	char		action[16];
	char		release[201];	/* empty: none */
	char		error[1024];
	TimestampTz started_at;
	double		elapsed_ms;
} BpFailedDeploy;

/*
 * A request.  "committed" says the compute's catalog row is committed, so
 * the reconciler locks its project and records the new state; otherwise the
 * requester's own (uncommitted) transaction holds the lock and records it.
 */
typedef struct BpRequest
{
	BpRequestKind kind;
	bool		committed;
	bool		noreply;		/* nobody waits: free the slot when done */
	int			timeout_ms;		/* BP_REQ_START: how long the start may take (0: compute_start_timeout) */
	bool		trial;			/* BP_REQ_START: a trial run, archiving off (see AskTrialStart) */
	BpComputeSpec spec;
	BpFailedDeploy failed;		/* BP_REQ_RECORD_FAILED_DEPLOY */
	dsm_handle	mirror;			/* committed BP_REQ_STOP: the schema check to
								 * mirror with the new state (0: none) */
} BpRequest;

typedef struct BpReply
{
	bool		ok;
	int			pid;
	double		elapsed_ms;		/* from the reconciler's taking it to its answer */
	double		spawn_ms;		/* BP_REQ_START: of which launching the postmaster */
	double		ready_ms;		/* ... and from its being ready to the answer */
	char		error[1024];
} BpReply;

extern void BpRequestsShmemRequest(void);
extern void BpRequestsShmemInit(void);
extern void BpRequestsInit(void);

/* Backends */
extern void BpAsk(const BpRequest *req, int timeout_ms, BpReply *reply);
extern bool BpTell(const BpRequest *req);
extern int	BpSubmit(const BpRequest *req);
extern bool BpPoll(int slot, BpReply *reply);
extern void BpForget(int slot);
extern void BpWakeWorkerAtCommit(void);
extern int	BpWorkerPid(void);

/* The reconciler */
extern void BpWorkerAttach(void);
extern bool BpWorkerNextRequest(int from, int *slot, BpRequest *req);
extern void BpWorkerReply(int slot, const BpReply *reply);
extern void BpWorkerDefer(int slot);
extern bool BpWorkerPassRequested(void);
extern void BpWorkerPassDone(bool full, double ms);

#endif
