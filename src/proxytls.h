/*
 * proxytls.h — TLS termination for the proxy's clients.
 */
#ifndef BP_PROXYTLS_H
#define BP_PROXYTLS_H

extern bool ProxyTlsConfigured(void);
extern void ProxyTlsInit(void);
extern void *ProxyTlsNew(pgsocket fd);
extern int	ProxyTlsHandshake(void *tls, uint32 *want);
extern int	ProxyTlsRead(void *tls, char *buf, int len, uint32 *want);
extern int	ProxyTlsWrite(void *tls, const char *buf, int len, uint32 *want);
extern bool ProxyTlsPending(void *tls);
extern void ProxyTlsFree(void *tls);

#endif
