/*
 * pgconn.c — libpq from inside the server, waited on through the latch.
 *
 * Every wait of a connection or a query goes through WaitLatchOrSocket
 * with a deadline, so a stuck compute never hangs a backend or the reconciler, interrupts are honoured
 * and postmaster death ends the wait.  Connections are tracked and closed
 * at transaction end if an error left them open (BpDisconnectAll).
 */
#include "postgres.h"

#include <pwd.h>
#include <unistd.h>

#include "miscadmin.h"
#include "pgstat.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/memutils.h"

#include "guc.h"
#include "pgconn.h"

#define MAX_OPEN_CONNS 8

static PGconn *open_conns[MAX_OPEN_CONNS];

static PGresult *Collect(PGconn *conn, const char *sql, int timeout_ms);
static PGresult *CollectResults(PGconn *conn, const char *sql, int timeout_ms,
								volatile bool *answered);

/* A compute's notices are not ours to print (libpq would write them to stderr). */
static void
IgnoreNotice(void *arg, const char *message)
{
}

/* The OS user this server runs as: the superuser of every compute. */
const char *
BpOsUserName(void)
{
	static char name[NAMEDATALEN];

	if (name[0] == '\0')
	{
		struct passwd *pw = getpwuid(geteuid());

		if (pw == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not look up the name of OS user %d", (int) geteuid()),
				 errhint("Run the control server as an OS user with an /etc/passwd entry.")));
		strlcpy(name, pw->pw_name, sizeof(name));
	}
	return name;
}

/* Milliseconds left until deadline (never negative). */
static long
MsLeft(instr_time deadline)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(deadline, now);
	return Max(0, (long) INSTR_TIME_GET_MILLISEC(deadline));
}

static instr_time
Deadline(int timeout_ms)
{
	instr_time	d;
	instr_time	add;

	INSTR_TIME_SET_CURRENT(d);
	INSTR_TIME_SET_ZERO(add);
	add.tv_sec = timeout_ms / 1000;
	add.tv_nsec = (long) (timeout_ms % 1000) * 1000000L;
	INSTR_TIME_ADD(d, add);
	return d;
}

/* The last wait ended at its deadline (the compute may not answer at all). */
static bool timed_out = false;

/* Wait until conn's socket is ready for what libpq asked, or time out. */
static void
WaitSocket(PGconn *conn, bool for_write, instr_time deadline, const char *what)
{
	long		left = MsLeft(deadline);
	int			rc;

	timed_out = left <= 0;
	if (left <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_QUERY_CANCELED),
				 errmsg("timed out while %s", what),
				 errhint("Check the compute's log, or raise branchpromote.operation_timeout.")));
	rc = WaitLatchOrSocket(MyLatch,
						   WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH |
						   (for_write ? WL_SOCKET_WRITEABLE : WL_SOCKET_READABLE),
						   PQsocket(conn), left, PG_WAIT_EXTENSION);
	if (rc & WL_LATCH_SET)
		ResetLatch(MyLatch);
	CHECK_FOR_INTERRUPTS();
}

static void
Track(PGconn *conn)
{
	for (int i = 0; i < MAX_OPEN_CONNS; i++)
		if (open_conns[i] == NULL)
		{
			open_conns[i] = conn;
			return;
		}
	PQfinish(conn);
	ereport(ERROR,
			(errcode(ERRCODE_TOO_MANY_CONNECTIONS),
			 errmsg("too many open connections to computes in one backend"),
				 errhint("This is a bug in branchpromote; reconnect and report it.")));
}

/*
 * Session settings of every control-plane connection that runs our own SQL
 * on a compute: a fixed search_path (a setting from the client overrides
 * whatever ALTER DATABASE or ALTER ROLE put there, so no object a tenant
 * made can stand in for a built-in) and a bound on lock waits, so a lock a
 * tenant holds fails the call in seconds instead of holding the project.
 */
static const char *
PinnedOptions(void)
{
	static char opts[128];

	snprintf(opts, sizeof(opts), "-c search_path=pg_catalog,pg_temp -c lock_timeout=%d",
			 bp_migration_lock_timeout_ms);
	return opts;
}

/*
 * Keywords for a connection over the compute's private socket: as the
 * compute's superuser (user NULL: the server's OS user, peer) to database
 * template1 (BP_ADMIN_DATABASE), or as a project's role with its password
 * to its database.
 * options NULL: the role's own defaults.
 */
static void
Fill(const BpComputeAddr *addr, const char *dbname, const char *user, const char *password,
	 const char *options, const char **k, const char **v, char *portbuf)
{
	int			n = 0;

	snprintf(portbuf, 16, "%d", addr->port);
	k[n] = "host";
	v[n++] = addr->host;
	k[n] = "port";
	v[n++] = portbuf;
	k[n] = "dbname";
	v[n++] = dbname ? dbname : user ? user : BP_ADMIN_DATABASE;
	k[n] = "user";
	v[n++] = user ? user : addr->user[0] ? addr->user : BpOsUserName();
	k[n] = "application_name";
	v[n++] = "branchpromote";
	if (!user && addr->password[0])
	{
		k[n] = "password";
		v[n++] = addr->password;
	}
	else if (password)
	{
		k[n] = "password";
		v[n++] = password;
	}
	if (options)
	{
		k[n] = "options";
		v[n++] = options;
	}
	k[n] = NULL;
	v[n] = NULL;
}

/* Connect with these keywords, waiting at most timeout_ms. */
static PGconn *
ConnectParams(const char *const *k, const char *const *v, int port, int timeout_ms)
{
	instr_time	deadline = Deadline(timeout_ms);
	PGconn	   *conn;

	conn = PQconnectStartParams(k, v, false);
	if (conn == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory while connecting to a compute")));
	Track(conn);
	for (;;)
	{
		PostgresPollingStatusType st = PQconnectPoll(conn);

		if (st == PGRES_POLLING_OK)
			break;
		if (st == PGRES_POLLING_FAILED)
		{
			char	   *msg = pchomp(PQerrorMessage(conn));

			BpDisconnect(conn);
			ereport(ERROR,
					(errcode(ERRCODE_SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION),
					 errmsg("could not connect to compute on port %d", port),
					 errdetail_internal("%s", msg),
					 errhint("Check SELECT * FROM branchpromote.computes for its state.")));
		}
		WaitSocket(conn, st == PGRES_POLLING_WRITING, deadline, "connecting to a compute");
	}
	PQsetNoticeProcessor(conn, IgnoreNotice, NULL);
	return conn;
}

/*
 * Connect to a compute's database template1 as its superuser, over its
 * private socket, with pinned settings.  Never to a project's database: a
 * tenant owns that one, and whatever it defines there must never run as a
 * superuser.
 */
PGconn *
BpConnect(const BpComputeAddr *addr, int timeout_ms)
{
	const char *k[8];
	const char *v[8];
	char		port[16];

	Fill(addr, NULL, NULL, NULL, PinnedOptions(), k, v, port);
	return ConnectParams(k, v, addr->port, timeout_ms);
}

/* The same, to another database (a project's: its role's name). */
PGconn *
BpConnectTo(const BpComputeAddr *addr, const char *dbname, int timeout_ms)
{
	const char *k[8];
	const char *v[8];
	char		port[16];

	Fill(addr, dbname, NULL, NULL, PinnedOptions(), k, v, port);
	return ConnectParams(k, v, addr->port, timeout_ms);
}

/*
 * Connect to a project's database as the project's own role (the tenant),
 * over the compute's private socket with the role's password.  pinned: our
 * own SQL runs there (fixed search_path, bounded lock waits); else the
 * role's own defaults apply (migrations).
 */
PGconn *
BpConnectAs(const BpComputeAddr *addr, const char *role, const char *password,
			bool pinned, int timeout_ms)
{
	const char *k[8];
	const char *v[8];
	char		port[16];

	Fill(addr, NULL, role, password, pinned ? PinnedOptions() : NULL, k, v, port);
	return ConnectParams(k, v, addr->port, timeout_ms);
}

/*
 * Run one statement; returns its (last) result, which the caller PQclears.
 * On error the context names the statement only up to its first literal,
 * so a password in it never reaches a log or a client.
 */
PGresult *
BpExec(PGconn *conn, const char *sql, int nparams, const char *const *params,
	   int timeout_ms)
{
	if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL, NULL, 0))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send a query to a compute"),
				 errhint("Check SELECT * FROM branchpromote.computes for its state, and its log."),
				 errdetail_internal("%s", pchomp(PQerrorMessage(conn)))));
	return Collect(conn, sql, timeout_ms);
}

/* Run a script of one or more statements (simple query protocol). */
PGresult *
BpExecScript(PGconn *conn, const char *sql, int timeout_ms)
{
	if (!PQsendQuery(conn, sql))
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("could not send a query to a compute"),
				 errdetail_internal("%s", pchomp(PQerrorMessage(conn))),
				 errhint("Check SELECT * FROM branchpromote.computes for its state, and its log.")));
	return Collect(conn, sql, timeout_ms);
}

static void
LostConnection(PGconn *conn)
{
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("lost the connection to a compute"),
			 errhint("Check SELECT * FROM branchpromote.computes for its state, and its log."),
			 errdetail_internal("%s", pchomp(PQerrorMessage(conn)))));
}

/* Wait until libpq has a whole result (or the deadline, or an interrupt). */
static void
AwaitResult(PGconn *conn, instr_time deadline)
{
	while (PQisBusy(conn))
	{
		WaitSocket(conn, false, deadline, "waiting for a compute to answer");
		if (!PQconsumeInput(conn))
			LostConnection(conn);
	}
}

/*
 * A statement went into COPY: we have no data to give or take.  COPY FROM
 * is ended with an error (the compute rolls the statement back); COPY TO's
 * rows are read and dropped.  Returns true if it was a COPY.
 */
static bool
EndCopy(PGconn *conn, PGresult *res, instr_time deadline)
{
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COPY_IN)
	{
		if (PQputCopyEnd(conn, "branchpromote sends no COPY data: COPY from the client is not supported") != 1)
			LostConnection(conn);
		return true;
	}
	if (st == PGRES_COPY_OUT)
	{
		for (;;)
		{
			char	   *buf = NULL;
			int			n = PQgetCopyData(conn, &buf, true);

			if (buf)
				PQfreemem(buf);
			if (n == -1)
				return true;	/* done: the COPY's own result follows */
			if (n == -2)
				LostConnection(conn);
			if (n == 0)
			{
				WaitSocket(conn, false, deadline, "waiting for a compute to answer");
				if (!PQconsumeInput(conn))
					LostConnection(conn);
			}
		}
	}
	if (st == PGRES_COPY_BOTH)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a statement sent to a compute started replication (COPY BOTH)"),
				 errhint("branchpromote runs no replication commands; this is a bug, report it.")));
	return false;
}

/*
 * Wait for a sent query's results; return the last, or raise its error.
 * If this backend is interrupted (pg_cancel_backend, statement_timeout) or
 * the wait times out, the compute is asked to cancel the statement too.
 */
static PGresult *
Collect(PGconn *conn, const char *sql, int timeout_ms)
{
	PGresult   *volatile last = NULL;
	volatile bool answered = false;

	PG_TRY();
	{
		last = CollectResults(conn, sql, timeout_ms, &answered);
	}
	PG_CATCH();
	{
		/*
		 * Still running there: cancel it, unless our deadline passed (a
		 * compute that does not answer would not answer PQcancel either,
		 * which waits without a bound; closing the connection at the end of
		 * this transaction ends the statement there instead).
		 */
		PGcancel   *cancel = answered || timed_out ? NULL : PQgetCancel(conn);
		char		errbuf[256];

		if (cancel)
		{
			(void) PQcancel(cancel, errbuf, sizeof(errbuf));	/* local socket: quick */
			PQfreeCancel(cancel);
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	return last;
}

static PGresult *
CollectResults(PGconn *conn, const char *sql, int timeout_ms, volatile bool *answered)
{
	instr_time	deadline = Deadline(timeout_ms);
	PGresult   *last = NULL;
	PGresult   *res;
	bool		copied = false;

	for (;;)
	{
		AwaitResult(conn, deadline);
		res = PQgetResult(conn);
		if (res == NULL)
		{
			*answered = true;	/* the compute is done with it */
			break;
		}
		if (EndCopy(conn, res, deadline))
		{
			copied = true;
			PQclear(res);
			continue;
		}
		/* keep the first error: later results of a script don't hide it */
		if (last && PQresultStatus(last) == PGRES_FATAL_ERROR)
		{
			PQclear(res);
			continue;
		}
		if (last)
			PQclear(last);
		last = res;
	}
	if (copied && last && PQresultStatus(last) != PGRES_FATAL_ERROR)
	{
		PQclear(last);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a statement sent to a compute used COPY to the client, which branchpromote does not support"),
				 errhint("Read data with SELECT instead."),
				 errcontext("statement sent to a compute: %.*s%s", (int) strcspn(sql, "'$"),
							sql, sql[strcspn(sql, "'$")] ? "..." : "")));
	}
	if (last == NULL || (PQresultStatus(last) != PGRES_TUPLES_OK &&
						 PQresultStatus(last) != PGRES_COMMAND_OK))
	{
		const char *primary = last ? PQresultErrorField(last, PG_DIAG_MESSAGE_PRIMARY) : NULL;
		char	   *msg = pstrdup(primary ? primary : PQerrorMessage(conn));
		char	   *state = last ? PQresultErrorField(last, PG_DIAG_SQLSTATE) : NULL;
		int			code = state ? MAKE_SQLSTATE(state[0], state[1], state[2], state[3], state[4])
			: ERRCODE_CONNECTION_FAILURE;

		if (last)
			PQclear(last);
		ereport(ERROR,
				(errcode(code),
				 errmsg("compute refused: %s", pchomp(msg)),
				 code == ERRCODE_QUERY_CANCELED || code == ERRCODE_LOCK_NOT_AVAILABLE ?
				 errhint("A migration's waits are bounded by branchpromote.migration_statement_timeout and branchpromote.migration_lock_timeout; raise them for this call with SET, or retry when the lock is free.") :
				 errhint("The statement ran on the compute itself; its SQLSTATE is passed through."),
				 errcontext("statement sent to a compute: %.*s%s", (int) strcspn(sql, "'$"),
							sql, sql[strcspn(sql, "'$")] ? "..." : "")));
	}
	return last;
}

/* Run one statement and discard its result. */
void
BpExecCommand(PGconn *conn, const char *sql, int timeout_ms)
{
	PQclear(BpExec(conn, sql, 0, NULL, timeout_ms));
}

/* Stop tracking a connection: its new owner closes it. */
void
BpUntrack(PGconn *conn)
{
	for (int i = 0; i < MAX_OPEN_CONNS; i++)
		if (open_conns[i] == conn)
			open_conns[i] = NULL;
}

/* Close one connection. */
void
BpDisconnect(PGconn *conn)
{
	for (int i = 0; i < MAX_OPEN_CONNS; i++)
		if (open_conns[i] == conn)
			open_conns[i] = NULL;
	PQfinish(conn);
}

/* Close whatever an error left open (called at transaction end). */
void
BpDisconnectAll(void)
{
	for (int i = 0; i < MAX_OPEN_CONNS; i++)
		if (open_conns[i] != NULL)
		{
			PQfinish(open_conns[i]);
			open_conns[i] = NULL;
		}
}
