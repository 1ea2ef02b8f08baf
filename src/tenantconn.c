/*
 * tenantconn.c — connections to a compute as the project's own role (the
 * tenant), over the compute's private socket: pinned for the control
 * plane's own reads (ledgers, schemas, masking), or with the role's own
 * defaults for migrations.
 */
#include "postgres.h"

#include "common/scram-common.h"
#include "utils/builtins.h"

#include "driver.h"
#include "guc.h"
#include "pgconn.h"
#include "tenantconn.h"

/*
 * The SCRAM-SHA-256 verifier of a password made by NewPassword: only the
 * verifier goes over the wire (and into any statement log).  Its iteration
 * count is 16, not libpq's 4096.  PBKDF2's iterations slow down guessing a
 * human's password from a stolen verifier; this one is 128 random bits,
 * which no number of guesses finds, at 16 iterations or at 4096.  Every
 * login pays them on the client's side (libpq: ~7 ms at 4096 here), and
 * the control plane logs in as the role at every deploy, as the
 * application's clients do at every connection.
 */
#define BP_SCRAM_ITERATIONS 16

char *
ScramVerifier(const char *password)
{
	char		salt[SCRAM_DEFAULT_SALT_LEN];
	const char *errstr = NULL;
	char	   *verifier;

	if (!pg_strong_random(salt, sizeof(salt)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random salt for a SCRAM verifier"),
				 errhint("Check that the operating system's random source (getrandom, /dev/urandom) works.")));
	verifier = scram_build_secret(salt, sizeof(salt), BP_SCRAM_ITERATIONS, password, &errstr);
	if (verifier == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not make a SCRAM verifier: %s", errstr ? errstr : "unknown error"),
				 errhint("Check the server log for out-of-memory errors.")));
	return verifier;
}

/*
 * Give the project's role its way into its own database back, as the
 * compute's superuser (in template1, pinned): the tenant owns its role's
 * password and its database, and can change both (ALTER ROLE ... PASSWORD,
 * REVOKE CONNECT, ALTER DATABASE ... CONNECTION LIMIT 0 or ALLOW_CONNECTIONS
 * false), locking the control plane out of its ledger.  The password is
 * the one the control plane holds (so the application's URIs work again).
 */
static void
RepairAccess(const BpComputeAddr *addr, const char *project, const char *password)
{
	const char *ident = quote_identifier(project);
	PGconn	   *conn = BpConnect(addr, bp_operation_timeout_ms);

	BpExecCommand(conn, psprintf("ALTER ROLE %s LOGIN PASSWORD %s", ident,
								 quote_literal_cstr(ScramVerifier(password))), bp_operation_timeout_ms);
	BpExecCommand(conn, psprintf("ALTER DATABASE %s WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1", ident),
				  bp_operation_timeout_ms);
	BpExecCommand(conn, psprintf("GRANT CONNECT ON DATABASE %s TO %s", ident, ident), bp_operation_timeout_ms);
	BpDisconnect(conn);
	ereport(LOG,
			(errmsg("branchpromote: gave role \"%s\" its password and its way into database \"%s\" back on the compute on port %d",
					project, project, addr->port),
			 errdetail("Its connection had been refused while the compute answered its superuser.")));
}

/*
 * As the project's role; if that is refused while the compute answers its
 * superuser, repair the role's access (above) and try once more.  The
 * repair is idempotent: a refusal for another reason (the compute's
 * connection slots full) fails the second try as it did the first.
 */
static PGconn *
ConnectTenant(const BpComputeSpec *spec, const char *project, const char *password, bool pinned)
{
	BpComputeAddr addr;
	MemoryContext cxt = CurrentMemoryContext;
	PGconn	   *volatile conn = NULL;
	int			pid;

	BpCompute()->admin_address(spec, &addr);
	PG_TRY();
	{
		conn = BpConnectAs(&addr, project, password, pinned, bp_operation_timeout_ms);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		if (ed->sqlerrcode != ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION ||
			BpCompute()->observe(spec, &pid) != BP_COMPUTE_READY)
			PG_RE_THROW();
		FlushErrorState();
		FreeErrorData(ed);
	}
	PG_END_TRY();
	if (conn != NULL)
		return conn;
	RepairAccess(&addr, project, password);
	return BpConnectAs(&addr, project, password, pinned, bp_operation_timeout_ms);
}

/*
 * Connect to read a ledger: as the project's own role, over the compute's
 * private socket, with pinned settings.  The ledger is the tenant's table
 * in the tenant's database, so it is only ever read with the tenant's own
 * rights: whatever the tenant put there runs as the tenant.
 */
PGconn *
LedgerConnectReader(const BpComputeSpec *spec, const char *project, const char *password)
{
	return ConnectTenant(spec, project, password, true);
}

/*
 * Connect to run migrations: as the project's role with its own defaults
 * (a migration sees the search_path its author expects).
 */
PGconn *
LedgerConnect(const BpComputeSpec *spec, const char *project, const char *password)
{
	return ConnectTenant(spec, project, password, false);
}
