/*
 * proxystats.h — the proxy's counters per environment, in shared memory.
 *
 * Only the proxy writes them; any backend reads them (the proxy_stats view)
 * and the reconciler reads when an environment last had a proxied client.
 */
#ifndef BP_PROXYSTATS_H
#define BP_PROXYSTATS_H

#include "datatype/timestamp.h"
#include "port/atomics.h"

#define BP_PROXY_STATS_SLOTS 1024

typedef struct BpProxyStat
{
	bool		used;
	char		project[64];	/* "" for connections never routed */
	char		env[64];
	pg_atomic_uint64 open;
	pg_atomic_uint64 total;
	pg_atomic_uint64 bytes_in;	/* client to compute */
	pg_atomic_uint64 bytes_out; /* compute to client */
	pg_atomic_uint64 wakes;
	pg_atomic_uint64 wake_us_total;
	pg_atomic_uint64 wake_us_max;
	pg_atomic_uint64 errors;
	pg_atomic_uint64 last_active;	/* TimestampTz: a client was connected */
} BpProxyStat;

extern void BpProxyStatsShmemRequest(void);
extern void BpProxyStatsShmemInit(void);

/* The proxy: the counters of an environment ("", "": unrouted), made if new. */
extern BpProxyStat *BpProxyStatFor(const char *project, const char *env);
extern void BpProxyStatAdd(pg_atomic_uint64 *counter, uint64 n);
extern void BpProxyStatMax(pg_atomic_uint64 *counter, uint64 value);

/* Anyone: when a proxied client last used an environment (0: never). */
extern TimestampTz BpProxyLastActive(const char *project, const char *env);

/* The idle rule against the proxy (see proxystats.c). */
extern bool BpProxyBeginSuspend(int64 compute_id, const char *project, const char *env);
extern void BpProxyEndSuspend(void);
extern bool BpProxySuspending(int64 compute_id);

/* Routes the proxy remembers: changed by a commit (see proxystats.c). */
extern void BpProxyRoutesChanged(void);
extern uint64 BpProxyRoutesGeneration(void);

#endif
