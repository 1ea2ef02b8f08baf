/*
 * tenantconn.c — connections to a compute as the project's own role (the
 * tenant), over the compute's private socket: pinned for the control
 * plane's own reads (ledgers, schemas, masking), or with the role's own
 * defaults for migrations.
 */
#include "postgres.h"

#include "driver.h"
#include "guc.h"
#include "pgconn.h"
#include "tenantconn.h"

/*
 * Connect to read a ledger: as the project's own role, over the compute's
 * private socket, with pinned settings.  The ledger is the tenant's table
 * in the tenant's database, so it is only ever read with the tenant's own
 * rights: whatever the tenant put there runs as the tenant.
 */
PGconn *
LedgerConnectReader(const BpComputeSpec *spec, const char *project, const char *password)
{
	BpComputeAddr addr;

	BpCompute()->admin_address(spec, &addr);
	return BpConnectAs(&addr, project, password, true, bp_operation_timeout_ms);
}

/*
 * Connect to run migrations: as the project's role with its own defaults
 * (a migration sees the search_path its author expects).
 */
PGconn *
LedgerConnect(const BpComputeSpec *spec, const char *project, const char *password)
{
	BpComputeAddr addr;

	BpCompute()->admin_address(spec, &addr);
	return BpConnectAs(&addr, project, password, false, bp_operation_timeout_ms);
}
