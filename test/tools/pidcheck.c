/*
 * pidcheck — what a libpq client is told about its server process, for the
 * proxy's TAP test: prints PQbackendPID(), the server's pg_backend_pid(),
 * and the sender pid of a notification the connection sent itself.  A
 * client compares these to tell its own NOTIFYs, to cancel or terminate
 * its own backend, and to find itself in pg_stat_activity.
 *
 *   pidcheck CONNINFO  ->  "<PQbackendPID> <pg_backend_pid()> <NOTIFY pid>"
 */
#include <stdio.h>
#include <stdlib.h>

#include "libpq-fe.h"

static PGresult *
Run(PGconn *conn, const char *sql, ExecStatusType want)
{
	PGresult   *res = PQexec(conn, sql);

	if (PQresultStatus(res) != want)
	{
		fprintf(stderr, "pidcheck: %s: %s", sql, PQerrorMessage(conn));
		exit(1);
	}
	return res;
}

int
main(int argc, char **argv)
{
	PGconn	   *conn;
	PGresult   *res;
	PGnotify   *n;

	if (argc != 2)
	{
		fprintf(stderr, "usage: pidcheck CONNINFO\n");
		return 2;
	}
	conn = PQconnectdb(argv[1]);
	if (PQstatus(conn) != CONNECTION_OK)
	{
		fprintf(stderr, "pidcheck: %s", PQerrorMessage(conn));
		return 1;
	}
	res = Run(conn, "SELECT pg_backend_pid()", PGRES_TUPLES_OK);
	PQclear(Run(conn, "LISTEN pidcheck", PGRES_COMMAND_OK));
	PQclear(Run(conn, "NOTIFY pidcheck", PGRES_COMMAND_OK));
	(void) PQconsumeInput(conn);
	n = PQnotifies(conn);
	printf("%d %s %d\n", PQbackendPID(conn), PQgetvalue(res, 0, 0), n ? n->be_pid : -1);
	PQclear(res);
	if (n)
		PQfreemem(n);
	PQfinish(conn);
	return 0;
}
