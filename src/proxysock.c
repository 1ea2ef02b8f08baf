/*
 * proxysock.c — the proxy's sockets: listening, connecting, and the one
 * buffer per direction each connection relays through.
 */
#include "postgres.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include "utils/varlena.h"

#include "proxysock.h"
#include "proxytls.h"

/* Listen on one address of host ("*": every address); logs failures. */
static void
ListenOn(const char *host, int port, pgsocket *fds, int max, int *n)
{
	char		portstr[16];
	struct addrinfo hints;
	struct addrinfo *res = NULL;
	int			rc;

	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, portstr, &hints, &res);
	if (rc != 0)
	{
		ereport(LOG,
				(errmsg("branchpromote proxy: could not translate host name \"%s\": %s",
						host, gai_strerror(rc))));
		return;
	}
	for (struct addrinfo *ai = res; ai != NULL && *n < max; ai = ai->ai_next)
	{
		pgsocket	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		int			on = 1;

		if (fd == PGINVALID_SOCKET)
			continue;
		(void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
		if (ai->ai_family == AF_INET6)
			(void) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0)
		{
			ereport(LOG,
					(errcode_for_socket_access(),
					 errmsg("branchpromote proxy: could not listen on \"%s\" port %d: %m",
							host, port)));
			closesocket(fd);
			continue;
		}
		fds[(*n)++] = fd;
	}
	freeaddrinfo(res);
}

/*
 * Listen on port at every address of a comma-separated list ("*": every
 * address); returns how many sockets (at most max), FATAL if none.
 */
int
ProxyListen(const char *addresses, int port, pgsocket *fds, int max)
{
	char	   *raw = pstrdup(addresses);
	List	   *hosts;
	ListCell   *lc;
	int			n = 0;

	if (!SplitGUCList(raw, ',', &hosts))
		ereport(FATAL,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid list syntax in branchpromote.proxy_listen_addresses")));
	foreach(lc, hosts)
		ListenOn(lfirst(lc), port, fds, max, &n);
	if (n == 0)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("the branchpromote proxy could not listen on port %d", port),
				 errhint("Check branchpromote.proxy_listen_addresses and that nothing else uses the port.")));
	return n;
}

/* No Nagle delay (the protocol is request/response), keepalives. */
void
ProxySocketOptions(pgsocket fd)
{
	int			on = 1;

	(void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
	(void) setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
}

/*
 * Read what fits into b: >0 bytes, 0 end of stream, -1 error, -2 nothing
 * yet.  Moves unsent bytes to the front first if b is full; *mark (an offset
 * into b, if given) moves with them.  Through tls (if not NULL), reading as
 * much as OpenSSL has decrypted, since no socket event announces that;
 * *want says what a TLS read waits for.
 */
int
BufRead(pgsocket fd, void *tls, Buf *b, int *mark, uint32 *want)
{
	ssize_t		n;
	int			shift = 0;

	if (b->start == b->end)
		shift = b->start;
	else if (b->end == BUF_SIZE && b->start > 0)
	{
		memmove(b->data, b->data + b->start, b->end - b->start);
		shift = b->start;
	}
	b->start -= shift;
	b->end -= shift;
	if (mark)
		*mark = Max(*mark - shift, 0);
	if (b->end == BUF_SIZE)
		return -2;
	if (tls)
	{
		int			got = 0;

		while (b->end < BUF_SIZE)
		{
			int			r = ProxyTlsRead(tls, b->data + b->end, BUF_SIZE - b->end, want);

			if (r <= 0 && r != -2)
				return got > 0 ? got : r;	/* the end comes on the next call */
			if (r == -2)
				break;
			b->end += r;
			got += r;
		}
		return got > 0 ? got : -2;
	}
	n = recv(fd, b->data + b->end, BUF_SIZE - b->end, 0);
	if (n > 0)
	{
		b->end += n;
		return (int) n;
	}
	if (n == 0)
		return 0;
	return (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) ? -2 : -1;
}

/* Send b's bytes before limit (through tls if not NULL); the count sent, or -1 on error. */
int
BufWrite(pgsocket fd, void *tls, Buf *b, int limit, uint32 *want)
{
	int			sent = 0;

	while (tls && b->start < limit)
	{
		int			n = ProxyTlsWrite(tls, b->data + b->start, limit - b->start, want);

		if (n < 0)
			return -1;
		if (n == 0)
			return sent;
		b->start += n;
		sent += n;
	}
	while (b->start < limit)
	{
		ssize_t		n = send(fd, b->data + b->start, limit - b->start, MSG_NOSIGNAL);

		if (n < 0)
		{
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -1;
		}
		b->start += n;
		sent += n;
	}
	return sent;
}

/* Append our own small message (an error, an answer byte). */
void
BufAppend(Buf *b, const char *data, int len)
{
	if (b->start == b->end)
		b->start = b->end = 0;
	if (len > BUF_SIZE - b->end)
		len = BUF_SIZE - b->end;	/* never: our messages are small */
	memcpy(b->data + b->end, data, len);
	b->end += len;
}

/* Start a non-blocking connect to host:port; the socket, or -1 if it failed at once. */
pgsocket
ProxyConnect(const char *host, int port)
{
	char		portstr[16];
	struct addrinfo hints;
	struct addrinfo *ai = NULL;
	pgsocket	fd;
	int			rc;

	snprintf(portstr, sizeof(portstr), "%d", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	if (getaddrinfo(host, portstr, &hints, &ai) != 0 || ai == NULL)
		return PGINVALID_SOCKET;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == PGINVALID_SOCKET)
	{
		freeaddrinfo(ai);
		return PGINVALID_SOCKET;
	}
	ProxySocketOptions(fd);
	rc = connect(fd, ai->ai_addr, ai->ai_addrlen);
	freeaddrinfo(ai);
	if (rc != 0 && errno != EINPROGRESS)
	{
		closesocket(fd);
		return PGINVALID_SOCKET;
	}
	return fd;
}
