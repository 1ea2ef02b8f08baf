/*
 * proxyroute.c — where a proxied client goes: its environment's compute,
 * kept in a table in shared memory and read from the catalog by a worker
 * of its own, the route resolver.
 *
 * The proxy's event loop never touches the catalog: a locked or slow
 * catalog would stall every relayed byte behind one new connection.  It
 * looks a route up in the table; an answer read at the current routes
 * generation (bumped by every commit that changes routes) is used, else
 * the route is asked of the resolver and the client waits (ROUTING) until
 * it answers, bounded by proxy_connect_timeout.  The resolver reads the
 * catalog in a transaction of its own per route, yielding to DDL on the
 * catalog (a short lock_timeout) and trying again until the client gives
 * up (a lock or statement timeout; any other error is answered at once).
 * Answers of every kind (a compute, no such project, no such environment)
 * are kept until the next change; a catalog that could not be read is
 * asked again next time.
 */
#include "postgres.h"

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "guc.h"
#include "proxyroute.h"
#include "proxystats.h"

typedef enum RouteOutcome
{
	ROUTE_FOUND,
	ROUTE_NO_PROJECT,
	ROUTE_NO_ENV,
	ROUTE_CATALOG_BUSY,			/* locked or slow (lock or statement timeout): try again */
	ROUTE_CATALOG_ERROR
} RouteOutcome;

#define BP_ROUTES 1024

typedef enum EntryState
{
	ENTRY_FREE,
	ENTRY_ASKED,				/* the resolver owes an answer */
	ENTRY_ANSWERED
} EntryState;

typedef struct RouteEntry
{
	EntryState	state;
	char		project[64];
	char		env[64];
	uint64		generation;		/* answered at (0: ask again) */
	RouteOutcome outcome;
	BpComputeSpec spec;
	bool		running;
	bool		fresh;			/* answered, not yet used: good for the clients who asked */
	TimestampTz until;			/* ASKED: nobody waits after this */
	TimestampTz used;			/* the least recently used goes when full */
} RouteEntry;

typedef struct BpRoutes
{
	LWLock	   *lock;
	Latch	   *resolver;		/* set: a route was asked */
	Latch	   *proxy;			/* set: a route was answered */
	RouteEntry	e[BP_ROUTES];
} BpRoutes;

static BpRoutes *routes = NULL;

void
ProxyRoutesShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(BpRoutes)));
	RequestNamedLWLockTranche("branchpromote routes", 1);
}

void
ProxyRoutesShmemInit(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	routes = ShmemInitStruct("branchpromote routes", sizeof(BpRoutes), &found);
	if (!found)
	{
		memset(routes, 0, sizeof(BpRoutes));
		routes->lock = &(GetNamedLWLockTranche("branchpromote routes"))->lock;
	}
	LWLockRelease(AddinShmemInitLock);
}

/*
 * Look the environment up in the catalog (its own transaction).  The
 * messages are built afterwards, in the caller's memory context: what is
 * palloc'd inside the transaction is gone once it ends.
 */
/*
 * Look the environment up in the catalog (its own transaction; the
 * resolver only).  Never throws: an error is ROUTE_CATALOG_ERROR.
 */
static RouteOutcome
LookUp(const char *project, const char *env, RouteEntry *e)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile RouteOutcome outcome = ROUTE_CATALOG_ERROR;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		BpProject	p;
		BpComputeRow row;

		CatalogBegin();
		if (!CatalogFindProject(project, false, &p))
			outcome = ROUTE_NO_PROJECT;
		else if (!CatalogGetCompute(p.id, env, &row))
			outcome = ROUTE_NO_ENV;
		else
		{
			outcome = ROUTE_FOUND;
			e->spec = row.spec;
			e->running = strcmp(row.actual_state, "running") == 0;
		}
		CatalogEnd();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		outcome = ed->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
			ed->sqlerrcode == ERRCODE_QUERY_CANCELED ? ROUTE_CATALOG_BUSY : ROUTE_CATALOG_ERROR;
		/* the detail goes to the log, not to a client not yet authenticated
		 * (a busy catalog only at DEBUG1: it is tried again every 50 ms) */
		ereport(outcome == ROUTE_CATALOG_BUSY ? DEBUG1 : LOG,
				(errmsg("branchpromote route resolver: reading the catalog for \"%s\": %s",
						project, ed->message)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	return outcome;
}

/* What the client is told (in the caller's memory context). */
static void
Answer(const char *project, const char *env, const RouteEntry *e, ProxyRoute *r)
{
	memset(r, 0, sizeof(*r));
	strlcpy(r->sqlstate, "3D000", sizeof(r->sqlstate));
	switch (e->outcome)
	{
		case ROUTE_FOUND:
			r->ok = true;
			r->spec = e->spec;
			r->running = e->running;
			break;
		case ROUTE_NO_PROJECT:
			r->message = psprintf("project \"%s\" does not exist", project);
			r->hint = pstrdup("Check the database name: branchpromote.connection_uri(project, env) gives it.");
			break;
		case ROUTE_NO_ENV:
			if (strcmp(env, "prod") == 0)
			{
				r->message = psprintf("project \"%s\" has no prod environment yet", project);
				r->hint = psprintf("Prod appears at the first promotion; database \"%s.dev\" is dev.", project);
			}
			else
			{
				r->message = psprintf("project \"%s\" has no environment \"%s\"", project, env);
				r->hint = psprintf("Database \"%s\" is prod, \"%s.dev\" is dev, \"%s.<branch>\" a preview; a backup branch has no compute: fork a preview of it with branchpromote.fork_branch.",
								   project, project, project);
			}
			break;
		case ROUTE_CATALOG_BUSY:
		case ROUTE_CATALOG_ERROR:
			strlcpy(r->sqlstate, "57P03", sizeof(r->sqlstate));
			r->message = pstrdup("the branchpromote catalog could not be read");
			r->hint = pstrdup("Try again in a moment; the control server's log says why.");
			break;
	}
}

static RouteEntry *
FindEntry(const char *project, const char *env)
{
	for (int i = 0; i < BP_ROUTES; i++)
		if (routes->e[i].state != ENTRY_FREE && strcmp(routes->e[i].project, project) == 0 &&
			strcmp(routes->e[i].env, env) == 0)
			return &routes->e[i];
	return NULL;
}

/* A free entry, else the least recently used answered one (NULL: all asked). */
static RouteEntry *
TakeEntry(void)
{
	RouteEntry *lru = NULL;

	for (int i = 0; i < BP_ROUTES; i++)
	{
		if (routes->e[i].state == ENTRY_FREE)
			return &routes->e[i];
		if (routes->e[i].state == ENTRY_ANSWERED && (lru == NULL || routes->e[i].used < lru->used))
			lru = &routes->e[i];
	}
	return lru;
}

/*
 * The proxy: the route of project/env into r (true), or false: it was
 * asked of the resolver, whose answer sets our latch; ask again then.
 * until: how long the client waits (the resolver stops trying after).
 */
bool
ProxyRouteFor(const char *project, const char *env, TimestampTz until, ProxyRoute *r)
{
	uint64		gen = BpProxyRoutesGeneration();
	RouteEntry *e;
	RouteEntry	copy;
	Latch	   *resolver;

	LWLockAcquire(routes->lock, LW_EXCLUSIVE);
	routes->proxy = MyLatch;
	e = FindEntry(project, env);
	/* a fresh answer was read after the client asked: good for it even if
	 * a commit came since, or it is an error (kept for nobody else) */
	if (e != NULL && e->state == ENTRY_ANSWERED && (e->generation == gen || e->fresh))
	{
		e->used = GetCurrentTimestamp();
		copy = *e;
		/* whether it runs may have changed without a commit (the idle rule):
		 * after its first use, try it; a refused connect wakes it */
		e->running = true;
		e->fresh = false;
		LWLockRelease(routes->lock);
		Answer(project, env, &copy, r);
		return true;
	}
	if (e == NULL && (e = TakeEntry()) == NULL)
	{
		LWLockRelease(routes->lock);
		memset(&copy, 0, sizeof(copy));
		copy.outcome = ROUTE_CATALOG_ERROR;
		Answer(project, env, &copy, r);
		return true;			/* every entry is being asked: too many at once */
	}
	if (e->state != ENTRY_ASKED)
	{
		e->state = ENTRY_ASKED;
		strlcpy(e->project, project, sizeof(e->project));
		strlcpy(e->env, env, sizeof(e->env));
		e->until = until;
	}
	else if (until > e->until)
		e->until = until;
	e->used = GetCurrentTimestamp();
	resolver = routes->resolver;
	LWLockRelease(routes->lock);
	if (resolver)
		SetLatch(resolver);
	return false;
}

/*
 * The resolver: answer every route asked, once each.  True if some could
 * not be read and a client still waits for it (try again shortly).
 */
static bool
ResolveRound(void)
{
	bool		retry = false;

	for (int i = 0; i < BP_ROUTES; i++)
	{
		RouteEntry *e = &routes->e[i];
		RouteEntry	want;
		RouteEntry	got;
		uint64		gen;
		Latch	   *proxy = NULL;

		LWLockAcquire(routes->lock, LW_SHARED);
		want = *e;
		LWLockRelease(routes->lock);
		if (want.state != ENTRY_ASKED)
			continue;
		CHECK_FOR_INTERRUPTS();
		gen = BpProxyRoutesGeneration();	/* before the read: a change meanwhile asks again */
		memset(&got, 0, sizeof(got));
		got.outcome = LookUp(want.project, want.env, &got);

		LWLockAcquire(routes->lock, LW_EXCLUSIVE);
		if (e->state == ENTRY_ASKED && strcmp(e->project, want.project) == 0 &&
			strcmp(e->env, want.env) == 0)
		{
			if (got.outcome != ROUTE_CATALOG_BUSY || GetCurrentTimestamp() >= e->until)
			{
				e->outcome = got.outcome;
				e->spec = got.spec;
				e->running = got.running;
				e->generation = got.outcome >= ROUTE_CATALOG_BUSY ? 0 : gen;
				e->fresh = true;
				e->state = ENTRY_ANSWERED;
				proxy = routes->proxy;
			}
			else
				retry = true;	/* locked or slow: again, until nobody waits */
		}
		LWLockRelease(routes->lock);
		if (proxy)
			SetLatch(proxy);
	}
	return retry;
}

/* Entry point of the route resolver. */
void
branchpromote_route_resolver_main(Datum arg)
{
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(bp_database_name, NULL, 0);
	/* yield to DDL on the catalog: try again rather than queue up behind it */
	SetConfigOption("lock_timeout", "100", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("statement_timeout", "2000", PGC_SUSET, PGC_S_OVERRIDE);
	SetConfigOption("application_name", "branchpromote route resolver", PGC_USERSET, PGC_S_OVERRIDE);

	LWLockAcquire(routes->lock, LW_EXCLUSIVE);
	routes->resolver = MyLatch;
	LWLockRelease(routes->lock);

	for (;;)
	{
		bool		retry;

		CHECK_FOR_INTERRUPTS();
		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		pgstat_report_activity(STATE_RUNNING, "resolving routes");
		retry = ResolveRound();
		pgstat_report_activity(STATE_IDLE, NULL);
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 retry ? 50 : 60000, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
	}
}
