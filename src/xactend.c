/*
 * xactend.c — work that must follow the caller's transaction.
 *
 * Each entry belongs to the (sub)transaction that registered it: a
 * savepoint rolled back ends its entries with commit = false, a released
 * one hands them to its parent, and the top transaction's end runs the
 * rest with its outcome.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"

#include "xactend.h"

typedef struct Entry
{
	BpXactEndFn fn;
	void	   *arg;
	SubTransactionId subid;
	struct Entry *next;
} Entry;

static Entry *entries = NULL;

void
BpAtXactEnd(BpXactEndFn fn, void *arg)
{
	Entry	   *e = MemoryContextAllocZero(TopMemoryContext, sizeof(Entry));

	e->fn = fn;
	e->arg = arg;
	e->subid = GetCurrentSubTransactionId();
	e->next = entries;
	entries = e;
}

/* Run (and forget) the entries of subid (InvalidSubTransactionId: all). */
static void
RunEntries(bool commit, SubTransactionId subid)
{
	Entry	  **link = &entries;

	while (*link)
	{
		Entry	   *e = *link;

		if (subid != InvalidSubTransactionId && e->subid != subid)
		{
			link = &e->next;
			continue;
		}
		*link = e->next;
		e->fn(e->arg, commit);
		pfree(e);
	}
}

static void
AtXactEnd(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT)
		RunEntries(true, InvalidSubTransactionId);
	else if (event == XACT_EVENT_ABORT)
		RunEntries(false, InvalidSubTransactionId);
}

static void
AtSubXactEnd(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		RunEntries(false, sub);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (Entry *e = entries; e; e = e->next)
			if (e->subid == sub)
				e->subid = parent;	/* now the parent's */
}

/* Per-backend setup. */
void
BpXactEndInit(void)
{
	RegisterXactCallback(AtXactEnd, NULL);
	RegisterSubXactCallback(AtSubXactEnd, NULL);
}
