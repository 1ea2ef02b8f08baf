/*
 * pgconn.h — libpq from inside the server, waited on through the latch.
 */
#ifndef BP_PGCONN_H
#define BP_PGCONN_H

#include "libpq-fe.h"

/*
 * How the control plane reaches a compute as its superuser: a libpq host
 * (a name, an address or a socket directory) and port, and the
 * credential (empty user: the server's OS user, by peer authentication —
 * the local driver's private unix socket).
 */
typedef struct BpComputeAddr
{
	char		host[MAXPGPATH];
	int			port;
	char		user[NAMEDATALEN];
	char		password[128];
} BpComputeAddr;

/*
 * The control plane's own database on a compute, closed to the tenant: every
 * compute has template1 (a new one has no postgres and no template0:
 * BootstrapApplication), and the tenant has no CREATEDB to copy it.
 */
#define BP_ADMIN_DATABASE "template1"

extern PGconn *BpConnect(const BpComputeAddr *addr, int timeout_ms);
extern PGconn *BpConnectTo(const BpComputeAddr *addr, const char *dbname, int timeout_ms);
extern PGconn *BpConnectAs(const BpComputeAddr *addr, const char *role,
						   const char *password, bool pinned, int timeout_ms);
extern PGresult *BpExecScript(PGconn *conn, const char *sql, int timeout_ms);
extern PGresult *BpExec(PGconn *conn, const char *sql, int nparams,
						const char *const *params, int timeout_ms);
extern void BpExecCommand(PGconn *conn, const char *sql, int timeout_ms);
extern void BpDisconnect(PGconn *conn);
extern void BpDisconnectAll(void);
extern void BpUntrack(PGconn *conn);
extern const char *BpOsUserName(void);

#endif
