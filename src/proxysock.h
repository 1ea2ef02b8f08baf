/*
 * proxysock.h — the proxy's sockets and relay buffers.
 */
#ifndef BP_PROXYSOCK_H
#define BP_PROXYSOCK_H

#define BUF_SIZE 32768			/* per direction per connection */

typedef struct Buf
{
	int			start;			/* first unsent byte */
	int			end;			/* first free byte */
	char		data[BUF_SIZE];
} Buf;

extern int	ProxyListen(const char *addresses, int port, pgsocket *fds, int max);
extern pgsocket ProxyConnect(const char *host, int port);
extern void ProxySocketOptions(pgsocket fd);
extern int	BufRead(pgsocket fd, Buf *b, int *mark);
extern int	BufWrite(pgsocket fd, Buf *b, int limit);
extern void BufAppend(Buf *b, const char *data, int len);

#endif
