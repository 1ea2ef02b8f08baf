/*
 * requests.h — backends asking the reconciler to act, through shared memory.
 */
#ifndef BP_REQUESTS_H
#define BP_REQUESTS_H

#include "driver.h"

typedef enum BpRequestKind
{
	BP_REQ_TEMPLATE,			/* make the timeline template */
	BP_REQ_START,				/* start a compute, wait until it is ready */
	BP_REQ_STOP					/* suspend a compute */
} BpRequestKind;

/*
 * A request.  "committed" says the compute's catalog row is committed, so
 * the reconciler locks its project and records the new state; otherwise the
 * requester's own (uncommitted) transaction holds the lock and records it.
 */
typedef struct BpRequest
{
	BpRequestKind kind;
	bool		committed;
	BpComputeSpec spec;
} BpRequest;

typedef struct BpReply
{
	bool		ok;
	int			pid;
	double		elapsed_ms;
	char		error[1024];
} BpReply;

extern void BpRequestsShmemRequest(void);
extern void BpRequestsShmemInit(void);
extern void BpRequestsInit(void);

/* Backends */
extern void BpAsk(const BpRequest *req, int timeout_ms, BpReply *reply);
extern void BpWakeWorkerAtCommit(void);

/* The reconciler */
extern void BpWorkerAttach(void);
extern bool BpWorkerNextRequest(int from, int *slot, BpRequest *req);
extern void BpWorkerReply(int slot, const BpReply *reply);
extern void BpWorkerDefer(int slot);
extern bool BpWorkerPassRequested(void);

#endif
