/*
 * proxyroute.h — where a proxied client goes.
 */
#ifndef BP_PROXYROUTE_H
#define BP_PROXYROUTE_H

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

/* Look the environment up (its own transaction; never throws). */
extern void ProxyLookUp(const char *project, const char *env, ProxyRoute *r);

#endif
