/*
 * proxystats.c — the proxy's counters per environment, in shared memory.
 *
 * A fixed table of BP_PROXY_STATS_SLOTS entries keyed by project and
 * environment.  The proxy, the only writer, makes entries under the lock and
 * bumps counters with atomics; readers take the lock shared to read keys.
 * When the table is full, an entry with no open connection is reused.
 * Entry 0 counts connections that were never routed.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "proxystats.h"

typedef struct ProxyStats
{
	LWLock	   *lock;
	pg_atomic_uint64 suspending;	/* the compute the idle rule is suspending, or 0 */
	pg_atomic_uint64 routes;	/* bumped by every commit that may change a route */
	BpProxyStat slots[BP_PROXY_STATS_SLOTS];
} ProxyStats;

static ProxyStats *stats = NULL;

/* Ask for our shared memory (shmem_request_hook). */
void
BpProxyStatsShmemRequest(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(ProxyStats)));
	RequestNamedLWLockTranche("branchpromote_proxy_stats", 1);
}

static void
InitSlot(BpProxyStat *s, const char *project, const char *env)
{
	s->used = true;
	strlcpy(s->project, project, sizeof(s->project));
	strlcpy(s->env, env, sizeof(s->env));
	pg_atomic_init_u64(&s->open, 0);
	pg_atomic_init_u64(&s->total, 0);
	pg_atomic_init_u64(&s->bytes_in, 0);
	pg_atomic_init_u64(&s->bytes_out, 0);
	pg_atomic_init_u64(&s->wakes, 0);
	pg_atomic_init_u64(&s->wake_us_total, 0);
	pg_atomic_init_u64(&s->wake_us_max, 0);
	pg_atomic_init_u64(&s->errors, 0);
	pg_atomic_init_u64(&s->last_active, 0);
}

/* Attach to (and the first time, initialize) shared memory. */
void
BpProxyStatsShmemInit(void)
{
	bool		found;

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	stats = ShmemInitStruct("branchpromote_proxy_stats", sizeof(ProxyStats), &found);
	if (!found)
	{
		memset(stats, 0, sizeof(ProxyStats));
		stats->lock = &(GetNamedLWLockTranche("branchpromote_proxy_stats"))->lock;
		InitSlot(&stats->slots[0], "", "");
		stats->slots[0].used = false;	/* shown once something is unrouted */
	}
	LWLockRelease(AddinShmemInitLock);
}

static BpProxyStat *
Find(const char *project, const char *env)
{
	for (int i = 0; i < BP_PROXY_STATS_SLOTS; i++)
		if (stats->slots[i].used && strcmp(stats->slots[i].project, project) == 0 &&
			strcmp(stats->slots[i].env, env) == 0)
			return &stats->slots[i];
	return NULL;
}

/* The counters of an environment, made (or an idle entry reused) if new. */
BpProxyStat *
BpProxyStatFor(const char *project, const char *env)
{
	BpProxyStat *s;

	if (project[0] == '\0')
	{
		stats->slots[0].used = true;	/* one writer: no lock needed to set it */
		return &stats->slots[0];
	}
	LWLockAcquire(stats->lock, LW_SHARED);
	s = Find(project, env);
	LWLockRelease(stats->lock);
	if (s)
		return s;
	LWLockAcquire(stats->lock, LW_EXCLUSIVE);
	for (int i = 1; i < BP_PROXY_STATS_SLOTS && s == NULL; i++)
		if (!stats->slots[i].used)
			s = &stats->slots[i];
	for (int i = 1; i < BP_PROXY_STATS_SLOTS && s == NULL; i++)
		if (pg_atomic_read_u64(&stats->slots[i].open) == 0)
			s = &stats->slots[i];
	if (s)
		InitSlot(s, project, env);
	else
	{
		s = &stats->slots[0];	/* every entry busy: count as unrouted */
		s->used = true;
	}
	LWLockRelease(stats->lock);
	return s;
}

void
BpProxyStatAdd(pg_atomic_uint64 *counter, uint64 n)
{
	(void) pg_atomic_fetch_add_u64(counter, n);
}

/* Raise a maximum (one writer: no compare-and-swap loop needed). */
void
BpProxyStatMax(pg_atomic_uint64 *counter, uint64 value)
{
	if (value > pg_atomic_read_u64(counter))
		pg_atomic_write_u64(counter, value);
}

/* When a proxied client last used an environment: now if one is connected. */
TimestampTz
BpProxyLastActive(const char *project, const char *env)
{
	BpProxyStat *s;
	TimestampTz t = 0;

	if (stats == NULL)
		return 0;
	LWLockAcquire(stats->lock, LW_SHARED);
	s = Find(project, env);
	if (s)
		t = pg_atomic_read_u64(&s->open) > 0 ? GetCurrentTimestamp() :
			(TimestampTz) pg_atomic_read_u64(&s->last_active);
	LWLockRelease(stats->lock);
	return t;
}

/*
 * The idle rule and the proxy, without a lock between them: the reconciler
 * announces the compute it is about to suspend, then looks for a proxied
 * client; the proxy counts a new client in, then looks for the
 * announcement.  With a full barrier on each side, at least one of them
 * sees the other: either the suspend is called off, or the proxy waits
 * for the suspend to end and has the compute woken again.  A client never
 * reaches a server that is shutting down under it.
 */
bool
BpProxyBeginSuspend(int64 compute_id, const char *project, const char *env)
{
	if (stats == NULL)
		return true;
	pg_atomic_write_u64(&stats->suspending, (uint64) compute_id);
	pg_memory_barrier();
	if (BpProxyLastActive(project, env) > GetCurrentTimestamp() - USECS_PER_SEC)
	{
		pg_atomic_write_u64(&stats->suspending, 0);
		return false;
	}
	return true;
}

void
BpProxyEndSuspend(void)
{
	if (stats != NULL)
		pg_atomic_write_u64(&stats->suspending, 0);
}

/*
 * Routes: the proxy keeps what the catalog said per environment and asks
 * again only after a commit that may have changed one (a call that
 * changed the catalog, a preview expired): so a locked or slow catalog
 * holds up only connections to an environment it has not seen since.
 */
void
BpProxyRoutesChanged(void)
{
	if (stats != NULL)
		pg_atomic_fetch_add_u64(&stats->routes, 1);
}

uint64
BpProxyRoutesGeneration(void)
{
	return stats != NULL ? pg_atomic_read_u64(&stats->routes) : 0;
}

/* The proxy, after counting its client in (a full barrier): is this compute being suspended? */
bool
BpProxySuspending(int64 compute_id)
{
	pg_memory_barrier();
	return stats != NULL && pg_atomic_read_u64(&stats->suspending) == (uint64) compute_id;
}

PG_FUNCTION_INFO_V1(branchpromote_proxy_stats);

/* One slot's figures, copied out under the lock. */
typedef struct StatRow
{
	char		project[64];
	Datum		values[11];
	bool		nulls[11];
} StatRow;

/*
 * _proxy_stats() → setof record: the entries the caller may see (as the
 * proxy_stats view: its own projects; unrouted and dropped ones only to
 * viewers and admins), so a direct call leaks no other project's traffic.
 */
Datum
branchpromote_proxy_stats(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	StatRow    *rows = palloc0(sizeof(StatRow) * BP_PROXY_STATS_SLOTS);
	int			n = 0;

	if (stats == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("branchpromote must be loaded via shared_preload_libraries"),
				 errhint("Add branchpromote to shared_preload_libraries in postgresql.conf and restart the server.")));
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(stats->lock, LW_SHARED);
	for (int i = 0; i < BP_PROXY_STATS_SLOTS; i++)
	{
		BpProxyStat *s = &stats->slots[i];
		Datum	   *values = rows[n].values;
		bool	   *nulls = rows[n].nulls;
		uint64		wakes;
		TimestampTz last;

		if (!s->used)
			continue;
		strlcpy(rows[n].project, s->project, sizeof(rows[n].project));
		wakes = pg_atomic_read_u64(&s->wakes);
		last = (TimestampTz) pg_atomic_read_u64(&s->last_active);
		values[0] = CStringGetTextDatum(s->project);
		nulls[0] = s->project[0] == '\0';
		values[1] = CStringGetTextDatum(s->env);
		nulls[1] = s->env[0] == '\0';
		values[2] = Int64GetDatum((int64) pg_atomic_read_u64(&s->open));
		values[3] = Int64GetDatum((int64) pg_atomic_read_u64(&s->total));
		values[4] = Int64GetDatum((int64) pg_atomic_read_u64(&s->bytes_in));
		values[5] = Int64GetDatum((int64) pg_atomic_read_u64(&s->bytes_out));
		values[6] = Int64GetDatum((int64) wakes);
		values[7] = Float8GetDatum(wakes ? (double) pg_atomic_read_u64(&s->wake_us_total) / wakes / 1000.0 : 0);
		nulls[7] = wakes == 0;
		values[8] = Float8GetDatum((double) pg_atomic_read_u64(&s->wake_us_max) / 1000.0);
		nulls[8] = wakes == 0;
		values[9] = Int64GetDatum((int64) pg_atomic_read_u64(&s->errors));
		values[10] = TimestampTzGetDatum(last);
		nulls[10] = last == 0;
		n++;
	}
	LWLockRelease(stats->lock);
	/* the catalog is asked only after the lock is released */
	CatalogBegin();
	for (int i = 0; i < n; i++)
		if (CatalogCallerSees(rows[i].project[0] ? rows[i].project : NULL, NULL))
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, rows[i].values, rows[i].nulls);
	CatalogEnd();
	return (Datum) 0;
}
