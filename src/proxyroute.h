/*
 * proxyroute.h — where a proxied client goes.
 */
#ifndef BP_PROXYROUTE_H
#define BP_PROXYROUTE_H

#include "datatype/timestamp.h"
#include "fmgr.h"

#include "driver.h"

/* The catalog's answer for "<project>.<env>": a compute, or an error to send. */
typedef struct ProxyRoute
{
	bool		ok;
	char		sqlstate[6];	/* !ok: the error for the client */
	char	   *message;
	char	   *hint;
	BpComputeSpec spec;			/* ok: the compute */
	bool		running;		/* ok: the catalog says it runs */
} ProxyRoute;

extern void ProxyRoutesShmemRequest(void);
extern void ProxyRoutesShmemInit(void);

/* The proxy: the route, or false: asked of the resolver, whose answer sets our latch. */
extern bool ProxyRouteFor(const char *project, const char *env, TimestampTz until, ProxyRoute *r);

extern PGDLLEXPORT void branchpromote_route_resolver_main(Datum arg);

#endif
