/*
 * tenantconn.h — connections to a compute as the project's role.
 */
#ifndef BP_TENANTCONN_H
#define BP_TENANTCONN_H

#include "libpq-fe.h"

#include "driver.h"

extern PGconn *LedgerConnectReader(const BpComputeSpec *spec, const char *project,
								   const char *password);
extern PGconn *LedgerConnect(const BpComputeSpec *spec, const char *project,
							 const char *password);
extern char *ScramVerifier(const char *password);

#endif
