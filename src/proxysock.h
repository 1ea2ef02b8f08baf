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
extern int	BufRead(pgsocket fd, void *tls, Buf *b, int *mark, uint32 *want);
extern int	BufWrite(pgsocket fd, void *tls, Buf *b, int limit, uint32 *want);
extern void BufAppend(Buf *b, const char *data, int len);

#endif
