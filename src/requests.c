/*
 * requests.c — backends asking the reconciler to act, through shared memory.
 *
 * Backends never spawn processes.  A backend that needs a compute started or
 * stopped puts a request in a slot, sets the reconciler's latch and sleeps
 * on a condition variable until the reply comes or its timeout passes.  A
 * requester that gives up marks its slot abandoned; the reconciler frees it
 * when done.  Committing a catalog change also wakes the reconciler so it
 * converges at once instead of at its next periodic pass.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/condition_variable.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "pgconn.h"
#include "proxystats.h"
#include "requests.h"


typedef enum SlotState
{
	SLOT_FREE,
	SLOT_PENDING,
	SLOT_RUNNING,
	SLOT_DONE,
	SLOT_ABANDONED				/* requester gone; free once done */
} SlotState;

typedef struct Slot
{
	SlotState	state;
	Latch	   *latch;			/* set on reply (NULL: the requester waits on cv) */
	BpRequest	req;
	BpReply		reply;
} Slot;

typedef struct BpShared
{
	LWLock	   *lock;
	Latch	   *worker_latch;
	int			worker_pid;
	bool		pass_requested;
	uint64		passes;			/* the reconciler's, since the server started */
	uint64		full_passes;
	TimestampTz last_pass_end;
	double		last_pass_ms;
	double		last_full_pass_ms;
	ConditionVariable cv;
	Slot		slots[BP_REQUEST_SLOTS];
} BpShared;

static BpShared *shared = NULL;
static bool wake_at_commit = false;

/* Ask for our shared memory (shmem_request_hook). */
void
BpRequestsShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(BpShared)));
	RequestNamedLWLockTranche("branchpromote", 1);
}

/* Attach to (and the first time, initialize) shared memory. */
void
BpRequestsShmemInit(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("branchpromote", sizeof(BpShared), &found);
	if (!found)
	{
		memset(shared, 0, sizeof(BpShared));
		shared->lock = &(GetNamedLWLockTranche("branchpromote"))->lock;
		ConditionVariableInit(&shared->cv);
	}
	LWLockRelease(AddinShmemInitLock);
}

static void
WakeWorker(bool pass)
{
	Latch	   *latch;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (pass)
		shared->pass_requested = true;
	latch = shared->worker_latch;
	LWLockRelease(shared->lock);
	if (latch)
		SetLatch(latch);
}

/* At commit, wake the reconciler; at abort, also close stray connections. */
static void
AtXactEnd(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (wake_at_commit)
			{
				BpProxyRoutesChanged();	/* what the proxy remembers may be stale */
				WakeWorker(true);
			}
			wake_at_commit = false;
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			BpDisconnectAll();
			/* an aborted operation may have left files to clean up */
			if (wake_at_commit)
				WakeWorker(true);
			wake_at_commit = false;
			break;
		default:
			break;
	}
}

/*
 * An error caught by a savepoint (PL/pgSQL EXCEPTION) must not leave a
 * connection open either: it could hold a source compute in backup mode.
 * API calls open and close their connections within one call, so any still
 * open when a subtransaction aborts belongs to the failed call.
 */
static void
AtSubXactEnd(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		BpDisconnectAll();
}

/* Per-backend setup. */
void
BpRequestsInit(void)
{
	RegisterXactCallback(AtXactEnd, NULL);
	RegisterSubXactCallback(AtSubXactEnd, NULL);
}

/* This transaction changed what the reconciler should converge to. */
void
BpWakeWorkerAtCommit(void)
{
	wake_at_commit = true;
}

static long
ElapsedMs(instr_time start)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	return (long) INSTR_TIME_GET_MILLISEC(now);
}

/* Give up on a slot: free it if untouched, else let the worker free it. */
static void
Abandon(int slot)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->slots[slot].state == SLOT_PENDING ||
		shared->slots[slot].state == SLOT_DONE)
		shared->slots[slot].state = SLOT_FREE;
	else if (shared->slots[slot].state == SLOT_RUNNING)
		shared->slots[slot].state = SLOT_ABANDONED;
	LWLockRelease(shared->lock);
}

/*
 * Put a request in a free slot; the reply will set latch (NULL: none).
 * noreply: nobody collects the reply, the slot frees itself.  Returns the
 * slot, or -1 if every slot is busy.  No ereport(ERROR): safe while an error
 * is being handled and in the proxy's loop.
 */
static int
Submit(const BpRequest *req, bool noreply, Latch *latch)
{
	int			slot = -1;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < BP_REQUEST_SLOTS && slot < 0; i++)
		if (shared->slots[i].state == SLOT_FREE)
		{
			slot = i;
			shared->slots[i].state = SLOT_PENDING;
			shared->slots[i].req = *req;
			shared->slots[i].req.noreply = noreply;
			shared->slots[i].latch = latch;
			memset(&shared->slots[i].reply, 0, sizeof(BpReply));
		}
	LWLockRelease(shared->lock);
	if (slot >= 0)
		WakeWorker(false);
	return slot;
}

/* Hand the reconciler a request nobody waits for; false if every slot is busy. */
bool
BpTell(const BpRequest *req)
{
	return Submit(req, true, NULL) >= 0;
}

/*
 * Hand the reconciler a request without waiting: the reply sets MyLatch and
 * BpPoll collects it.  Returns the slot, or -1 if every slot is busy.
 */
int
BpSubmit(const BpRequest *req)
{
	return Submit(req, false, MyLatch);
}

/* Has the reply to slot come?  Then copy it and free the slot. */
bool
BpPoll(int slot, BpReply *reply)
{
	bool		done;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	done = shared->slots[slot].state == SLOT_DONE;
	if (done)
	{
		*reply = shared->slots[slot].reply;
		shared->slots[slot].state = SLOT_FREE;
	}
	LWLockRelease(shared->lock);
	return done;
}

/* Stop waiting for slot's reply (the reconciler still finishes the request). */
void
BpForget(int slot)
{
	Abandon(slot);
}

/* Ask the reconciler to act and wait for its reply (or error on timeout). */
void
BpAsk(const BpRequest *req, int timeout_ms, BpReply *reply)
{
	volatile int slot;
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	slot = Submit(req, false, NULL);
	if (slot < 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("too many requests waiting for the branchpromote reconciler"),
				 errhint("Try again in a moment.")));

	PG_TRY();
	{
		ConditionVariablePrepareToSleep(&shared->cv);
		while (!BpPoll(slot, reply))
		{
			long		left = timeout_ms - ElapsedMs(start);

			if (left <= 0)
				ereport(ERROR,
						(errcode(ERRCODE_QUERY_CANCELED),
						 errmsg("the branchpromote reconciler did not answer within %d ms", timeout_ms),
						 errhint("Check that the \"branchpromote reconciler\" process runs (pg_stat_activity) and see the server log; compute starts are bounded by branchpromote.compute_start_timeout.")));
			(void) ConditionVariableTimedSleep(&shared->cv, Min(left, 1000), PG_WAIT_EXTENSION);
		}
		ConditionVariableCancelSleep();
	}
	PG_CATCH();
	{
		ConditionVariableCancelSleep();
		Abandon(slot);
		PG_RE_THROW();
	}
	PG_END_TRY();
}

/* The reconciler announces itself; its latch is cleared when it exits. */
static void
Detach(int code, Datum arg)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->worker_latch = NULL;
	shared->worker_pid = 0;
	for (int i = 0; i < BP_REQUEST_SLOTS; i++)
		if (shared->slots[i].state == SLOT_RUNNING)
			shared->slots[i].state = SLOT_PENDING;	/* the next worker retries */
		else if (shared->slots[i].state == SLOT_ABANDONED)
			shared->slots[i].state = SLOT_FREE;
	LWLockRelease(shared->lock);
}

void
BpWorkerAttach(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->worker_latch = MyLatch;
	shared->worker_pid = MyProcPid;
	shared->pass_requested = true;
	LWLockRelease(shared->lock);
	before_shmem_exit(Detach, 0);
}

/* Take the next pending request in a slot numbered from or above, if any. */
bool
BpWorkerNextRequest(int from, int *slot, BpRequest *req)
{
	bool		found = false;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = from; i < BP_REQUEST_SLOTS && !found; i++)
		if (shared->slots[i].state == SLOT_PENDING)
		{
			shared->slots[i].state = SLOT_RUNNING;
			*req = shared->slots[i].req;
			*slot = i;
			found = true;
		}
	LWLockRelease(shared->lock);
	return found;
}

/* Answer a request and wake its requester. */
void
BpWorkerReply(int slot, const BpReply *reply)
{
	Latch	   *latch = NULL;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->slots[slot].state == SLOT_ABANDONED || shared->slots[slot].req.noreply)
		shared->slots[slot].state = SLOT_FREE;
	else
	{
		shared->slots[slot].reply = *reply;
		shared->slots[slot].state = SLOT_DONE;
		latch = shared->slots[slot].latch;
	}
	LWLockRelease(shared->lock);
	if (latch)
		SetLatch(latch);
	ConditionVariableBroadcast(&shared->cv);
}

/* Put a request back (its project is locked by an operation in progress). */
void
BpWorkerDefer(int slot)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->slots[slot].state == SLOT_ABANDONED)
		shared->slots[slot].state = SLOT_FREE;
	else
		shared->slots[slot].state = SLOT_PENDING;
	LWLockRelease(shared->lock);
}

/* Was a full pass asked for since the last call?  Clears the flag. */
bool
BpWorkerPassRequested(void)
{
	bool		r;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	r = shared->pass_requested;
	shared->pass_requested = false;
	LWLockRelease(shared->lock);
	return r;
}

/* The reconciler finished a pass (full: with the disk scans) in ms. */
void
BpWorkerPassDone(bool full, double ms)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->passes++;
	shared->last_pass_ms = ms;
	if (full)
	{
		shared->full_passes++;
		shared->last_full_pass_ms = ms;
	}
	shared->last_pass_end = GetCurrentTimestamp();
	LWLockRelease(shared->lock);
}

PG_FUNCTION_INFO_V1(branchpromote_reconciler_stats);

/* _reconciler_stats() → record: the reconciler view's one row. */
Datum
branchpromote_reconciler_stats(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[7];
	bool		nulls[7] = {0};
	Latch	   *latch;

	if (shared == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branchpromote must be loaded via shared_preload_libraries"),
				 errhint("Add branchpromote to shared_preload_libraries in postgresql.conf and restart the server.")));
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	LWLockAcquire(shared->lock, LW_SHARED);
	latch = shared->worker_latch;
	values[0] = BoolGetDatum(latch != NULL);
	values[1] = Int64GetDatum((int64) shared->passes);
	values[2] = Int64GetDatum((int64) shared->full_passes);
	values[3] = TimestampTzGetDatum(shared->last_pass_end);
	nulls[3] = shared->passes == 0;
	values[4] = Float8GetDatum(shared->last_pass_ms);
	nulls[4] = shared->passes == 0;
	values[5] = Float8GetDatum(shared->last_full_pass_ms);
	nulls[5] = shared->full_passes == 0;
	{
		int			busy = 0;

		for (int i = 0; i < BP_REQUEST_SLOTS; i++)
			busy += shared->slots[i].state != SLOT_FREE;
		values[6] = Int32GetDatum(busy);
	}
	LWLockRelease(shared->lock);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

/* The reconciler's process id (0: not running). */
int
BpWorkerPid(void)
{
	int			pid;

	LWLockAcquire(shared->lock, LW_SHARED);
	pid = shared->worker_pid;
	LWLockRelease(shared->lock);
	return pid;
}
