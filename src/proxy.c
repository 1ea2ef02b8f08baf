/*
 * proxy.c — the scale-to-zero proxy: one port, routed by database name.
 *
 * A background worker with one event loop (a WaitEventSet holding the
 * latch, postmaster death, the listening sockets and every connection's
 * sockets).  Per client connection:
 *
 *   STARTUP    read the first packet: SSLRequest is answered 'S' and TLS
 *              begins if a certificate is configured, else 'N' (as is
 *              GSSENCRequest), a CancelRequest is forwarded to the compute
 *              whose key it names, a StartupMessage is routed by its
 *              database name ("<project>" is prod, "<project>.<env>" any
 *              other environment) or by options=endpoint=, and its database is
 *              rewritten to the compute's own;
 *   ROUTING    the route is not in the shared route table (or a commit
 *              changed routes since it was read): asked of the route
 *              resolver, whose answer sets the latch (proxyroute.c), so
 *              the loop never reads the catalog itself;
 *   WAKING     the compute is suspended (or refused the connection): one
 *              start request to the reconciler per compute, every client of
 *              it waits on that one, bounded by proxy_connect_timeout;
 *   CONNECTING a non-blocking connect to the compute;
 *   AUTH       bytes pass both ways, and the compute's messages are read one
 *              by one until its first ReadyForQuery, so that its
 *              BackendKeyData's secret can be swapped for the proxy's own
 *              random one (the pid stays the compute's: cancels come to
 *              the proxy, which maps the pair back);
 *   RELAY      bytes pass both ways untouched;
 *   CLOSING    a last message (an error) drains to the client, then close.
 *
 * Each direction has one fixed buffer; a side is read only while the buffer
 * toward the other has room, so a slow reader slows its writer (no
 * unbounded memory).  PostgreSQL 15 cannot remove a socket from a wait
 * event set, so the set is rebuilt after connections close.
 */
#include "postgres.h"

#include <sys/socket.h>
#include <unistd.h>

#include "lib/ilist.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "driver.h"
#include "guc.h"
#include "pgwire.h"
#include "proxy.h"
#include "proxyroute.h"
#include "proxysock.h"
#include "proxytls.h"
#include "proxystats.h"
#include "requests.h"

#define MAX_LISTEN 16
#define CANCEL_SLACK 64			/* cancel forwards beyond max_connections */
#define ACCEPT_BATCH 64

typedef enum ConnState
{
	CS_STARTUP,
	CS_ROUTING,
	CS_WAKING,
	CS_CONNECTING,
	CS_AUTH,
	CS_RELAY,
	CS_CLOSING
} ConnState;

typedef struct Conn
{
	dlist_node	node;
	ConnState	state;
	bool		closed;			/* freed at the end of this loop iteration */
	bool		is_cancel;		/* forwards one CancelRequest */
	bool		admitted;		/* a client counted against proxy_max_connections */
	pgsocket	client;
	pgsocket	server;
	int			client_pos;		/* in the wait event set, -1: not in it */
	int			server_pos;
	uint32		client_events;
	uint32		server_events;
	Buf			c2s;
	Buf			s2c;
	int			s2c_ok;			/* s2c bytes before this are vetted (AUTH) */
	TimestampTz deadline;		/* STARTUP/WAKING/CONNECTING/CLOSING give up then */
	bool		woken;			/* a wake was tried already */
	bool		server_spoke;	/* a message of the compute was vetted */
	int			c2s_sent;		/* bytes sent to the compute in AUTH */
	int			startup_len;	/* the rewritten StartupMessage, kept to send */
	char		startup[PGW_MAX_STARTUP + 128];	/* again after a wake */
	BpComputeSpec spec;
	char		project[64];
	char		env[64];
	BpProxyStat *stat;			/* NULL until routed */
	uint32		key_pid;		/* what the client was given */
	uint32		key_secret;
	uint32		server_pid;		/* what the compute gave */
	uint32		server_secret;
	bool		have_key;
	void	   *tls;			/* the client's TLS session, NULL: in the clear */
	bool		tls_handshake;	/* still shaking hands */
	uint32		tls_want;		/* the socket event the last TLS call waits for */
} Conn;

/* One start request per compute, shared by every client waiting on it. */
typedef struct Wake
{
	dlist_node	node;
	int64		compute_id;
	BpComputeSpec spec;
	int			slot;			/* request slot, -1: not submitted yet */
	TimestampTz started;
	BpProxyStat *stat;
} Wake;

static MemoryContext proxy_cxt;	/* connections, the wait event set */
static MemoryContext iter_cxt;	/* reset every loop iteration */
static WaitEventSet *wes = NULL;
static bool wes_dirty = true;
static int	wes_size = 0;		/* events the set holds */
static int	wes_used = 0;		/* events added since it was built */
static TimestampTz accept_paused_until = 0; /* out of descriptors: not listening */
static pgsocket listen_fds[MAX_LISTEN];
static int	nlisten = 0;
static dlist_head conns = DLIST_STATIC_INIT(conns);
static dlist_head wakes = DLIST_STATIC_INIT(wakes);
static int	nconns = 0;
static int	nclients = 0;		/* admitted: past their StartupMessage */
static bool latch_seen = true;	/* since the last look at waiting routes */

static void UpdateEvents(Conn *c);

/* ------------------------------------------------------------ connections */

static Conn *
NewConn(pgsocket client)
{
	Conn	   *c = MemoryContextAllocZero(proxy_cxt, sizeof(Conn));

	c->state = CS_STARTUP;
	c->client = client;
	c->server = PGINVALID_SOCKET;
	c->client_pos = c->server_pos = -1;
	c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), bp_proxy_connect_timeout_ms);
	dlist_push_tail(&conns, &c->node);
	nconns++;
	return c;
}

/* Close both sides; the memory goes at the end of the loop iteration. */
static void
CloseConn(Conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->tls)
		ProxyTlsFree(c->tls);
	c->tls = NULL;
	if (c->client != PGINVALID_SOCKET)
		closesocket(c->client);
	if (c->server != PGINVALID_SOCKET)
		closesocket(c->server);
	c->client = c->server = PGINVALID_SOCKET;
	if (c->stat && !c->is_cancel)
	{
		pg_atomic_fetch_sub_u64(&c->stat->open, 1);
		pg_atomic_write_u64(&c->stat->last_active, (uint64) GetCurrentTimestamp());
	}
	if (c->admitted)
		nclients--;
	wes_dirty = true;
}

/* A cancel's client hung up: go on forwarding its request without it. */
static void
CloseClientSide(Conn *c)
{
	if (c->tls)
		ProxyTlsFree(c->tls);
	c->tls = NULL;
	c->tls_handshake = false;
	if (c->client != PGINVALID_SOCKET)
		closesocket(c->client);
	c->client = PGINVALID_SOCKET;
	c->client_pos = -1;
	wes_dirty = true;
}

/*
 * Answer the client with an error and close once it is sent (or the
 * deadline passes).  Counts as an error of the environment, if routed.
 */
static void
Fail(Conn *c, const char *sqlstate, const char *message, const char *hint)
{
	char		pkt[1024];
	int			n = PgwBuildError("FATAL", sqlstate, message, hint, pkt, sizeof(pkt));

	BpProxyStatAdd(&(c->stat ? c->stat : BpProxyStatFor("", ""))->errors, 1);
	if (c->server != PGINVALID_SOCKET)
	{
		closesocket(c->server);
		c->server = PGINVALID_SOCKET;
		c->server_pos = -1;
		wes_dirty = true;
	}
	c->s2c.start = c->s2c.end = 0;
	BufAppend(&c->s2c, pkt, n);
	c->s2c_ok = c->s2c.end;
	c->state = CS_CLOSING;
	c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
}

/*
 * An unsupported protocol version, refused as the server refuses it: its
 * message, and for a client older than protocol 3 in the format that
 * client reads ('E', the text, a NUL).
 */
static void
FailProtocol(Conn *c, uint32 protocol)
{
	char	   *msg = psprintf("unsupported frontend protocol %u.%u: server supports 3.0 to 3.0",
							   protocol >> 16, protocol & 0xFFFF);

	if ((protocol >> 16) >= 3)
	{
		Fail(c, "0A000", msg, NULL);
		return;
	}
	Fail(c, "0A000", msg, NULL);	/* counts the error, closes the server side */
	c->s2c.start = c->s2c.end = 0;
	BufAppend(&c->s2c, "E", 1);
	BufAppend(&c->s2c, "FATAL:  ", 8);
	BufAppend(&c->s2c, msg, strlen(msg));
	BufAppend(&c->s2c, "\n", 2);	/* the newline and the terminating NUL */
	c->s2c_ok = c->s2c.end;
}

/* The client whose (pid, key) a CancelRequest names, if any. */
static Conn *
FindByKey(uint32 pid, uint32 secret)
{
	dlist_iter	it;

	dlist_foreach(it, &conns)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Conn	   *c = dlist_container(Conn, node, it.cur);

		if (!c->closed && !c->is_cancel && c->have_key &&
			c->key_pid == pid && c->key_secret == secret)
			return c;
	}
	return NULL;
}

/* Start a non-blocking connect to the compute; false if it failed at once. */
static bool
StartConnect(Conn *c)
{
	const char *host;
	int			port;
	pgsocket	fd;

	BpCompute()->client_endpoint(&c->spec, &host, &port);
	fd = ProxyConnect(host, port);
	if (fd == PGINVALID_SOCKET)
		return false;
	c->server = fd;
	c->server_pos = -1;
	c->server_events = 0;
	c->state = CS_CONNECTING;
	return true;
}

/* ------------------------------------------------------------ waking */

static Wake *
FindWake(int64 compute_id)
{
	dlist_iter	it;

	dlist_foreach(it, &wakes)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Wake	   *w = dlist_container(Wake, node, it.cur);

		if (w->compute_id == compute_id)
			return w;
	}
	return NULL;
}

/* Submit a wake's start request (again, if every slot was busy). */
static void
SubmitWake(Wake *w)
{
	BpRequest	req;

	memset(&req, 0, sizeof(req));
	req.kind = BP_REQ_START;
	req.committed = true;
	req.timeout_ms = bp_proxy_connect_timeout_ms;
	req.spec = w->spec;
	w->slot = BpSubmit(&req);
}

/* The client needs its compute started: join (or make) the compute's wake. */
static void
NeedWake(Conn *c)
{
	Wake	   *w = FindWake(c->spec.compute_id);

	if (c->server != PGINVALID_SOCKET)
	{
		closesocket(c->server);
		c->server = PGINVALID_SOCKET;
		c->server_pos = -1;
		wes_dirty = true;
	}
	c->woken = true;
	c->state = CS_WAKING;
	if (w == NULL)
	{
		w = MemoryContextAllocZero(proxy_cxt, sizeof(Wake));
		w->compute_id = c->spec.compute_id;
		w->spec = c->spec;
		w->started = GetCurrentTimestamp();
		w->stat = c->stat;
		dlist_push_tail(&wakes, &w->node);
		SubmitWake(w);
	}
}

/* Forget our pending requests when the proxy exits. */
static void
ForgetWakes(int code, Datum arg)
{
	dlist_iter	it;

	dlist_foreach(it, &wakes)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Wake	   *w = dlist_container(Wake, node, it.cur);

		if (w->slot >= 0)
			BpForget(w->slot);
	}
}

/* Collect finished wakes and move their clients on. */
static void
PollWakes(void)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &wakes)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Wake	   *w = dlist_container(Wake, node, it.cur);
		BpReply		reply;
		dlist_iter	ci;
		uint64		us;

		if (w->slot < 0)
		{
			SubmitWake(w);
			continue;
		}
		if (!BpPoll(w->slot, &reply))
			continue;
		us = (uint64) (GetCurrentTimestamp() - w->started);
		if (w->stat)
		{
			BpProxyStatAdd(&w->stat->wakes, 1);
			BpProxyStatAdd(&w->stat->wake_us_total, us);
			BpProxyStatMax(&w->stat->wake_us_max, us);
		}
		if (reply.ok)
			ereport(DEBUG1,
					(errmsg("branchpromote proxy: compute " INT64_FORMAT " woke in %.1f ms",
							w->compute_id, us / 1000.0)));
		dlist_foreach(ci, &conns)
		{
			/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
			Conn	   *c = dlist_container(Conn, node, ci.cur);

			if (c->closed || c->state != CS_WAKING || c->spec.compute_id != w->compute_id)
				continue;
			if (!reply.ok)
				Fail(c, "57P03", psprintf("compute of \"%s\" (%s) could not be started: %s",
										  c->project, c->env, reply.error),
					 "See last_error in branchpromote.computes and the control server's log.");
			else if (!StartConnect(c))
				Fail(c, "08006", psprintf("could not connect to the compute of \"%s\" (%s): %m",
										  c->project, c->env), NULL);
			UpdateEvents(c);
		}
		dlist_delete(&w->node);
		pfree(w);
	}
}

/* ------------------------------------------------------------ routing */

static void OnStartupBytes(Conn *c);

/* Clients waiting for a route: those the resolver answered move on. */
static void
PollRoutes(void)
{
	dlist_iter	it;

	dlist_foreach(it, &conns)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Conn	   *c = dlist_container(Conn, node, it.cur);

		if (c->closed || c->state != CS_ROUTING)
			continue;
		OnStartupBytes(c);		/* its StartupMessage is still unread in c2s */
		UpdateEvents(c);
	}
}

/*
 * The client's cancel key: the compute's real backend pid (the client's
 * pg_backend_pid(), NOTIFY's sender pid and pg_stat_activity must agree
 * with what it was told) with a random secret of the proxy's own, unique
 * among the open connections as a (pid, secret) pair: computes' pids may
 * repeat, and a cancel names the pair.
 */
static void
NewKey(Conn *c, uint32 server_pid)
{
	c->key_pid = server_pid;
	do
	{
		if (!pg_strong_random(&c->key_secret, sizeof(c->key_secret)))
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("could not generate a random cancel key")));
	} while (FindByKey(c->key_pid, c->key_secret) != NULL);
}

/* A StartupMessage: route it, rewrite its database, connect or wake. */
static void
RouteStartup(Conn *c, const PgwStartup *st)
{
	const char *db = PgwParam(st, "database");
	const char *opts = PgwParam(st, "options");
	char		endpoint[160];
	char		rest[PGW_MAX_STARTUP];
	bool		by_endpoint;
	char		pkt[PGW_MAX_STARTUP + 128];
	int			n;
	ProxyRoute	r;

	if (db == NULL || db[0] == '\0')
		db = PgwParam(st, "user");
	/* options=endpoint=<project>.<env>: routed by it, the database name kept as given */
	by_endpoint = opts != NULL && PgwEndpoint(opts, endpoint, sizeof(endpoint), rest, sizeof(rest));
	if (!PgwSplitRoute(by_endpoint ? endpoint : db, c->project, sizeof(c->project), c->env,
					   sizeof(c->env)))
	{
		if (by_endpoint)
			Fail(c, "3D000", psprintf("endpoint \"%s\" does not exist", endpoint),
				 "Use options=endpoint=<project> for prod, <project>.dev for dev, <project>.<branch> for a branch.");
		else
			Fail(c, "3D000", psprintf("database \"%s\" does not exist", db),
				 "Connect to database \"<project>\" for prod, \"<project>.dev\" for dev, \"<project>.<branch>\" for a branch.");
		return;
	}
	if (!ProxyRouteFor(c->project, c->env, c->deadline, &r))
	{
		c->state = CS_ROUTING;	/* the resolver's answer sets our latch */
		return;
	}
	c->state = CS_STARTUP;
	if (!r.ok)
	{
		Fail(c, r.sqlstate, r.message, r.hint);
		return;
	}
	c->spec = r.spec;
	c->stat = BpProxyStatFor(c->project, c->env);
	BpProxyStatAdd(&c->stat->open, 1);
	BpProxyStatAdd(&c->stat->total, 1);
	pg_atomic_write_u64(&c->stat->last_active, (uint64) GetCurrentTimestamp());

	/*
	 * The compute's database has the project's name: by database name, the
	 * name is rewritten to it; by endpoint, the client names it itself (and
	 * current_database() is what it used), and the endpoint token goes.
	 */
	n = by_endpoint ? PgwBuildStartupWith(st, db, rest, pkt, sizeof(pkt)) :
		PgwBuildStartup(st, c->project, pkt, sizeof(pkt));
	c->c2s.start += st->length;
	if (n < 0 || c->c2s.end - c->c2s.start + n > BUF_SIZE)
	{
		Fail(c, "08P01", "startup packet too long", NULL);
		return;
	}
	/* put the rewritten packet before anything the client already sent */
	memmove(c->c2s.data + n, c->c2s.data + c->c2s.start, c->c2s.end - c->c2s.start);
	c->c2s.end = n + (c->c2s.end - c->c2s.start);
	c->c2s.start = 0;
	memcpy(c->c2s.data, pkt, n);
	memcpy(c->startup, pkt, n);
	c->startup_len = n;

	/*
	 * Counted in above.  A compute being suspended is woken again after it;
	 * one being woken for another client is joined: it may listen already
	 * and refuse us while it starts up.
	 */
	if (!r.running || FindWake(c->spec.compute_id) != NULL ||
		BpProxySuspending(c->spec.compute_id) || !StartConnect(c))
		NeedWake(c);
}

/* A CancelRequest: forward it to the compute of the connection it names. */
static void
ForwardCancel(Conn *c, const PgwStartup *st)
{
	Conn	   *target = FindByKey(st->cancel_pid, st->cancel_key);
	char		pkt[16];

	c->is_cancel = true;
	if (target == NULL || target->server_pid == 0)
	{
		CloseConn(c);			/* like the server: say nothing */
		return;
	}
	c->spec = target->spec;
	c->c2s.start = c->c2s.end = 0;
	PgwBuildCancel(target->server_pid, target->server_secret, pkt);
	BufAppend(&c->c2s, pkt, sizeof(pkt));
	if (!StartConnect(c))
		CloseConn(c);
}

/* Shake hands further; on success the StartupMessage comes through TLS. */
static void
Handshake(Conn *c)
{
	int			rc = ProxyTlsHandshake(c->tls, &c->tls_want);

	if (rc == 1)
	{
		c->tls_handshake = false;
		c->tls_want = 0;
	}
	else if (rc < 0)
	{
		BpProxyStatAdd(&BpProxyStatFor("", "")->errors, 1);
		CloseConn(c);			/* no way to tell the client in either protocol */
	}
}

/* An SSLRequest with TLS configured: 'S', then the TLS handshake. */
static void
StartTls(Conn *c, const PgwStartup *st)
{
	c->c2s.start += st->length;
	if (c->c2s.start < c->c2s.end)
	{
		/* bytes sent before our answer could be injected by a man in the middle */
		Fail(c, "08P01", "received unencrypted data after SSL request", NULL);
		return;
	}
	if (c->s2c.end > c->s2c.start)
	{
		/* an answer ('N' to a GSSENCRequest) it has not waited for */
		Fail(c, "08P01", "SSL request sent before the answer to the previous request was read", NULL);
		return;
	}
	c->c2s.start = c->c2s.end = 0;
	if (send(c->client, "S", 1, MSG_NOSIGNAL) != 1 || (c->tls = ProxyTlsNew(c->client)) == NULL)
	{
		CloseConn(c);
		return;
	}
	c->tls_handshake = true;
	Handshake(c);
}

/* Parse what the client sent first. */
static void
OnStartupBytes(Conn *c)
{
	PgwStartup	st;

	switch (PgwParseStartup(c->c2s.data + c->c2s.start, c->c2s.end - c->c2s.start, &st))
	{
		case PGW_INCOMPLETE:
			if (c->c2s.end - c->c2s.start >= PGW_MAX_STARTUP)
				Fail(c, "08P01", "invalid startup packet", NULL);
			break;
		case PGW_BAD:
			if (st.silent)
			{
				/* as the server does: log it, close without a word */
				ereport(COMMERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("branchpromote proxy: %s", st.error)));
				CloseConn(c);
			}
			else if (st.protocol != 0 && (st.protocol >> 16) != 3)
				FailProtocol(c, st.protocol);
			else
				Fail(c, "08P01", psprintf("invalid startup packet: %s", st.error), NULL);
			break;
		case PGW_SSL_REQUEST:
			if (c->tls == NULL && ProxyTlsConfigured())
			{
				StartTls(c, &st);
				break;
			}
			/* FALLTHROUGH */
		case PGW_GSSENC_REQUEST:
			c->c2s.start += st.length;
			BufAppend(&c->s2c, "N", 1);
			c->s2c_ok = c->s2c.end;
			if (c->c2s.start < c->c2s.end)
				OnStartupBytes(c);	/* the client did not wait for the answer */
			break;
		case PGW_CANCEL:
			ForwardCancel(c, &st);
			break;
		case PGW_STARTUP:
			/* like the server: after TLS, so the client can read why; never a cancel */
			if (!c->admitted && nclients >= bp_proxy_max_connections)
				Fail(c, "53300", "too many connections to the branchpromote proxy",
					 "Raise branchpromote.proxy_max_connections, or use fewer connections.");
			else
			{
				if (!c->admitted)
					nclients++;
				c->admitted = true;
				RouteStartup(c, &st);
			}
			break;
	}
}

/*
 * The compute refused the connection as its first word, before the client
 * was sent anything of it or sent it more than the StartupMessage, because
 * it is starting up or shutting down (57P03): a start by someone else (a
 * deploy, the reconciler) the route did not know of, or a stop.  Wake it
 * (once) and send the StartupMessage again.  False: relay the refusal.
 */
static bool
RetryRefusal(Conn *c, uint32 total)
{
	char		code[6];
	int			unsent = c->c2s.end - c->c2s.start;

	if (c->woken || c->server_spoke || c->c2s_sent != c->startup_len ||
		!PgwErrorCode(c->s2c.data + c->s2c_ok, total, code) ||
		strcmp(code, "57P03") != 0 || c->startup_len + unsent > BUF_SIZE)
		return false;
	ereport(LOG,
			(errmsg("branchpromote proxy: the compute of \"%s\" (%s) refused a client while starting or stopping; waking it for the client",
					c->project, c->env)));
	c->s2c.end = c->s2c_ok;		/* the refusal goes nowhere */
	memmove(c->c2s.data + c->startup_len, c->c2s.data + c->c2s.start, unsent);
	memcpy(c->c2s.data, c->startup, c->startup_len);
	c->c2s.start = 0;
	c->c2s.end = c->startup_len + unsent;
	c->c2s_sent = 0;
	NeedWake(c);
	return true;
}

/*
 * AUTH: vet the compute's messages up to its first ReadyForQuery, giving
 * the client our key instead of the compute's.
 */
static void
VetServerBytes(Conn *c)
{
	for (;;)
	{
		char		type;
		uint32		total;
		int			rc = PgwMessage(c->s2c.data + c->s2c_ok, c->s2c.end - c->s2c_ok,
									BUF_SIZE - 1, &type, &total);

		if (rc < 0)
		{
			Fail(c, "08P01", "the compute sent an invalid message", NULL);
			return;
		}
		if (rc == 0)
		{
			if (c->s2c_ok == 0 && c->s2c.end == BUF_SIZE)
				Fail(c, "08P01", "the compute sent a message too long to relay during startup", NULL);
			return;
		}
		if (type == 'E' && RetryRefusal(c, total))
			return;
		c->server_spoke = true;
		if (type == 'K' && PgwParseKeyData(c->s2c.data + c->s2c_ok, total,
										   &c->server_pid, &c->server_secret))
		{
			NewKey(c, c->server_pid);
			PgwBuildKeyData(c->key_pid, c->key_secret, c->s2c.data + c->s2c_ok);
			c->have_key = true;
		}
		c->s2c_ok += total;
		if (type == 'Z')
		{
			c->state = CS_RELAY;
			return;
		}
	}
}

/* ------------------------------------------------------------ the loop */

/* Wanted events of one socket in the set (a socket always watches for close). */
static void
SetEvents(pgsocket fd, int *pos, uint32 *have, uint32 want, void *conn)
{
	if (fd == PGINVALID_SOCKET)
		return;
	if (want == 0)
		want = WL_SOCKET_CLOSED;
	if (*pos < 0)
	{
		if (wes_used >= wes_size)
		{
			wes_dirty = true;	/* full of closed sockets' events: the rebuild adds it */
			return;
		}
		*pos = AddWaitEventToSet(wes, want, fd, NULL, conn);
		wes_used++;
		*have = want;
	}
	else if (*have != want)
	{
		ModifyWaitEvent(wes, *pos, want, NULL);
		*have = want;
	}
}

/* Bytes the client may be sent now. */
static int
S2CLimit(Conn *c)
{
	return (c->state == CS_AUTH || c->state == CS_CLOSING) ? c->s2c_ok : c->s2c.end;
}

/* What each side of a connection waits for, from its state and buffers. */
static void
UpdateEvents(Conn *c)
{
	uint32		cw = 0;
	uint32		sw = 0;
	bool		server_up = c->state == CS_AUTH || c->state == CS_RELAY;

	if (c->closed || wes_dirty)
		return;					/* the rebuild sets them */
	if (c->state != CS_CLOSING && (c->c2s.end < BUF_SIZE || c->c2s.start > 0))
		cw |= WL_SOCKET_READABLE;
	if (S2CLimit(c) > c->s2c.start)
		cw |= WL_SOCKET_WRITEABLE;
	if (c->state == CS_CONNECTING || (server_up && c->c2s.end > c->c2s.start))
		sw |= WL_SOCKET_WRITEABLE;
	if (server_up && (c->s2c.end < BUF_SIZE || c->s2c.start > 0))
		sw |= WL_SOCKET_READABLE;
	if (c->tls)
		cw = c->tls_handshake ? (c->tls_want ? c->tls_want : WL_SOCKET_READABLE) :
			cw | c->tls_want;
	if (c->is_cancel)
		cw = WL_SOCKET_CLOSED;
	SetEvents(c->client, &c->client_pos, &c->client_events, cw, c);
	SetEvents(c->server, &c->server_pos, &c->server_events, sw, c);
}

static void
RebuildWaitEventSet(void)
{
	dlist_iter	it;

	if (wes)
		FreeWaitEventSet(wes);
	wes_size = 2 * (bp_proxy_max_connections + CANCEL_SLACK) + nlisten + 2;
	wes = CreateWaitEventSet(proxy_cxt, wes_size);
	AddWaitEventToSet(wes, WL_LATCH_SET, PGINVALID_SOCKET, MyLatch, NULL);
	AddWaitEventToSet(wes, WL_EXIT_ON_PM_DEATH, PGINVALID_SOCKET, NULL, NULL);
	wes_used = 2;
	for (int i = 0; i < nlisten && accept_paused_until == 0; i++)
	{
		AddWaitEventToSet(wes, WL_SOCKET_READABLE, listen_fds[i], NULL, NULL);
		wes_used++;
	}
	wes_dirty = false;
	dlist_foreach(it, &conns)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Conn	   *c = dlist_container(Conn, node, it.cur);

		c->client_pos = c->server_pos = -1;
		UpdateEvents(c);
	}
}

/*
 * Beyond what the wait-event set holds: say why in one non-blocking send
 * and close, without ever watching the socket.
 */
static void
RefuseNow(pgsocket fd)
{
	char		pkt[512];
	int			n = PgwBuildError("FATAL", "53300", "too many connections to the branchpromote proxy",
								  "Raise branchpromote.proxy_max_connections, or use fewer connections.",
								  pkt, sizeof(pkt));

	BpProxyStatAdd(&BpProxyStatFor("", "")->errors, 1);
	if (n > 0)
		(void) send(fd, pkt, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	closesocket(fd);
}

/* Take new connections; refuse beyond proxy_max_connections. */
static void
Accept(pgsocket lfd)
{
	for (int i = 0; i < ACCEPT_BATCH; i++)
	{
		pgsocket	fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		Conn	   *c;

		if (fd == PGINVALID_SOCKET)
		{
			if (errno == EMFILE || errno == ENFILE)
			{
				/* the listen socket stays readable: stop watching it a while */
				ereport(LOG,
						(errcode_for_socket_access(),
						 errmsg("branchpromote proxy: could not accept a connection: %m"),
						 errhint("Raise the open files limit of the control server (ulimit -n) to at least twice branchpromote.proxy_max_connections; accepting again in 1 s.")));
				accept_paused_until = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
				wes_dirty = true;
			}
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
				ereport(LOG,
						(errcode_for_socket_access(),
						 errmsg("branchpromote proxy: could not accept a connection: %m")));
			return;
		}
		if (nconns >= bp_proxy_max_connections + CANCEL_SLACK)
		{
			RefuseNow(fd);
			continue;
		}
		ProxySocketOptions(fd);
		c = NewConn(fd);
		/*
		 * Full: it is refused at its StartupMessage (after TLS) unless it is
		 * a cancel, either of which comes at once; a silent one must not
		 * hold a slot of the cancel slack for long.
		 */
		if (nclients >= bp_proxy_max_connections)
			c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 2000);
		UpdateEvents(c);
	}
}

/* Move bytes that can move; close what ended. */
static void
Pump(Conn *c, bool client_readable, bool server_readable)
{
	int			n;
	uint32		ignored;

	if (c->tls_handshake)
	{
		Handshake(c);
		if (c->closed || c->tls_handshake)
			return;
		client_readable = true; /* the StartupMessage may have come with it */
	}
	if (client_readable && c->state != CS_CLOSING)
	{
		n = BufRead(c->client, c->tls, &c->c2s, NULL, &c->tls_want);
		if ((n == 0 || n == -1) && c->is_cancel)
		{
			/* it may hang up at once: the request is ours, forward it anyway */
			CloseClientSide(c);
		}
		else if (n == 0 || n == -1)
		{
			/* the client left: pass on what it said last (Terminate), then close */
			if (c->server != PGINVALID_SOCKET && (c->state == CS_AUTH || c->state == CS_RELAY))
				(void) BufWrite(c->server, NULL, &c->c2s, c->c2s.end, &ignored);
			CloseConn(c);
			return;
		}
		if (n > 0 && c->state == CS_STARTUP)
			OnStartupBytes(c);
		if (c->closed)
			return;
		if (n > 0 && c->stat && !c->is_cancel && c->state != CS_STARTUP)
			BpProxyStatAdd(&c->stat->bytes_in, n);
	}
	if (server_readable && (c->state == CS_AUTH || c->state == CS_RELAY))
	{
		n = BufRead(c->server, NULL, &c->s2c, &c->s2c_ok, &ignored);
		if (n > 0 && c->stat && !c->is_cancel)
			BpProxyStatAdd(&c->stat->bytes_out, n);
		if (n > 0 && c->state == CS_AUTH)
			VetServerBytes(c);
		if (n == 0 || n == -1)
		{
			/* the compute closed (an error, a shutdown): drain to the client */
			closesocket(c->server);
			c->server = PGINVALID_SOCKET;
			c->server_pos = -1;
			wes_dirty = true;
			c->s2c_ok = c->s2c.end;
			c->state = CS_CLOSING;
			c->deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), 1000);
		}
	}
	if ((c->state == CS_AUTH || c->state == CS_RELAY) && c->c2s.end > c->c2s.start)
	{
		n = BufWrite(c->server, NULL, &c->c2s, c->c2s.end, &ignored);
		if (n < 0)
		{
			CloseConn(c);
			return;
		}
		if (c->state == CS_AUTH)
			c->c2s_sent += n;
	}
	if (S2CLimit(c) > c->s2c.start &&
		BufWrite(c->client, c->tls, &c->s2c, S2CLimit(c), &c->tls_want) < 0)
	{
		CloseConn(c);
		return;
	}
	if (c->state == CS_CLOSING && c->s2c.start >= c->s2c_ok)
		CloseConn(c);
	/* bytes OpenSSL decrypted beyond what fitted: no socket event will say so */
	else if (c->tls && c->state != CS_CLOSING &&
			 (c->c2s.end < BUF_SIZE || c->c2s.start > 0) && ProxyTlsPending(c->tls))
		Pump(c, true, false);
}

/* A connect finished (or failed): send the startup packet, or wake. */
static void
OnConnected(Conn *c)
{
	int			err = 0;
	socklen_t	len = sizeof(err);

	if (getsockopt(c->server, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0)
	{
		c->state = c->is_cancel ? CS_RELAY : CS_AUTH;
		c->s2c_ok = c->s2c.start;
		c->server_spoke = false;
		return;
	}
	if (c->is_cancel)
		CloseConn(c);
	else if (!c->woken && (err == ECONNREFUSED || err == ENOENT))
		NeedWake(c);			/* suspended since we looked, or died */
	else
	{
		errno = err;
		Fail(c, "08006", psprintf("could not connect to the compute of \"%s\" (%s): %m",
								  c->project, c->env), NULL);
	}
}

/* Give up on connections past their deadline; the next deadline. */
static long
Expire(void)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = TimestampTzPlusMilliseconds(now, 1000);
	dlist_iter	it;

	dlist_foreach(it, &conns)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Conn	   *c = dlist_container(Conn, node, it.cur);

		if (c->closed || c->state == CS_AUTH || c->state == CS_RELAY)
			continue;
		if (c->deadline <= now)
		{
			if (c->state == CS_CLOSING || c->state == CS_STARTUP || c->is_cancel)
				CloseConn(c);
			else if (c->state == CS_ROUTING)
			{
				Fail(c, "57P03", psprintf("the branchpromote catalog could not be read within %d ms",
										  bp_proxy_connect_timeout_ms),
					 "The catalog may be locked (DDL on it) or slow: try again; the control server's log says more.");
				UpdateEvents(c);
			}
			else
			{
				Fail(c, "57P03", psprintf("the compute of \"%s\" (%s) did not accept connections within %d ms",
										  c->project, c->env, bp_proxy_connect_timeout_ms),
					 "It may still be starting: try again, or see last_error in branchpromote.computes. The wait is bounded by branchpromote.proxy_connect_timeout.");
				UpdateEvents(c);
			}
		}
		else if (c->deadline < next)
			next = c->deadline;
	}
	return Max(0, (long) ((next - now + 999) / 1000));
}

/* Free closed connections (after their events were handled). */
static void
Reap(void)
{
	dlist_mutable_iter it;

	dlist_foreach_modify(it, &conns)
	{
		/* cppcheck-suppress nullPointer ; dlist_container is offsetof arithmetic */
		Conn	   *c = dlist_container(Conn, node, it.cur);

		if (c->closed)
		{
			dlist_delete(&c->node);
			nconns--;
			pfree(c);
		}
	}
}

/* The proxy's entry point. */
void
branchpromote_proxy_main(Datum arg)
{
	WaitEvent  *events;
	int			maxevents;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	/* in pg_stat_activity, connected to no database: the loop never reads the
	 * catalog (the route resolver does) */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	proxy_cxt = AllocSetContextCreate(TopMemoryContext, "branchpromote proxy",
									  ALLOCSET_DEFAULT_SIZES);
	iter_cxt = AllocSetContextCreate(proxy_cxt, "branchpromote proxy iteration",
									 ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(proxy_cxt);
	nlisten = ProxyListen(bp_proxy_listen_addresses, bp_proxy_port, listen_fds, MAX_LISTEN);
	ProxyTlsInit();
	before_shmem_exit(ForgetWakes, 0);
	maxevents = 2 * (bp_proxy_max_connections + CANCEL_SLACK) + nlisten + 2;
	events = palloc(sizeof(WaitEvent) * maxevents);
	ereport(LOG,
			(errmsg("branchpromote proxy listening on port %d", bp_proxy_port)));
	MemoryContextSwitchTo(iter_cxt);

	for (;;)
	{
		long		timeout;
		int			n;

		MemoryContextReset(iter_cxt);
		if (latch_seen)
			PollRoutes();		/* an answer of the resolver sets the latch */
		latch_seen = false;
		PollWakes();
		timeout = Expire();
		if (accept_paused_until != 0)
		{
			TimestampTz now = GetCurrentTimestamp();

			if (now >= accept_paused_until)
			{
				accept_paused_until = 0;
				wes_dirty = true;
			}
			else
				timeout = Min(timeout, (long) ((accept_paused_until - now + 999) / 1000));
		}
		if (wes_dirty)
			RebuildWaitEventSet();
		n = WaitEventSetWait(wes, timeout, events, maxevents, PG_WAIT_EXTENSION);
		for (int i = 0; i < n; i++)
		{
			WaitEvent  *e = &events[i];
			Conn	   *c = e->user_data;

			if (e->events & WL_LATCH_SET)
			{
				ResetLatch(MyLatch);
				latch_seen = true;
				CHECK_FOR_INTERRUPTS();
				if (ConfigReloadPending)
				{
					ConfigReloadPending = false;
					ProcessConfigFile(PGC_SIGHUP);
				}
				continue;
			}
			if (c == NULL)
			{
				Accept(e->fd);
				continue;
			}
			if (c->closed)
				continue;
			if (e->fd == c->server && c->state == CS_CONNECTING)
			{
				OnConnected(c);
				if (c->closed)
					continue;
			}
			if (e->fd == c->client)		/* TLS may read when the socket is writable */
				Pump(c, (e->events & (WL_SOCKET_READABLE | WL_SOCKET_CLOSED)) != 0 ||
					 c->tls != NULL, false);
			else if (e->fd == c->server)
				Pump(c, false, (e->events & (WL_SOCKET_READABLE | WL_SOCKET_CLOSED)) != 0);
			UpdateEvents(c);
		}
		Reap();
		MemoryContextSwitchTo(iter_cxt);
		CHECK_FOR_INTERRUPTS();
	}
}
