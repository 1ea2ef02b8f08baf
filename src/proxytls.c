/*
 * proxytls.c — TLS termination for the proxy's clients (OpenSSL).
 *
 * With branchpromote.proxy_ssl_cert_file and _key_file set, the proxy
 * answers SSLRequest with 'S' and speaks TLS with the client; the hop to
 * the compute stays on loopback in the clear.  Every call is non-blocking:
 * one that cannot go on says which socket event it waits for.
 */
#include "postgres.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "storage/latch.h"

#include "guc.h"
#include "proxytls.h"

static SSL_CTX *ctx = NULL;

/* The last OpenSSL error, as text. */
static const char *
TlsError(void)
{
	unsigned long e = ERR_get_error();

	return e ? ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "unknown error" :
		"no OpenSSL error reported";
}

/* Are a certificate and a key configured? */
bool
ProxyTlsConfigured(void)
{
	return bp_proxy_ssl_cert_file && bp_proxy_ssl_cert_file[0] != '\0' &&
		bp_proxy_ssl_key_file && bp_proxy_ssl_key_file[0] != '\0';
}

/* Load the certificate and key (FATAL if they do not work); no-op without them. */
void
ProxyTlsInit(void)
{
	if (!ProxyTlsConfigured())
	{
		if ((bp_proxy_ssl_cert_file && bp_proxy_ssl_cert_file[0]) ||
			(bp_proxy_ssl_key_file && bp_proxy_ssl_key_file[0]))
			ereport(FATAL,
					(errcode(ERRCODE_CONFIG_FILE_ERROR),
					 errmsg("branchpromote.proxy_ssl_cert_file and branchpromote.proxy_ssl_key_file must be set together"),
					 errhint("Set both for TLS in the proxy, or neither.")));
		return;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (ctx == NULL)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not create the proxy's TLS context: %s", TlsError())));
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, bp_proxy_ssl_cert_file) != 1)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not load the proxy's certificate file \"%s\": %s",
						bp_proxy_ssl_cert_file, TlsError()),
				 errhint("branchpromote.proxy_ssl_cert_file must name a PEM certificate (chain) readable by the server; a relative path is relative to the data directory.")));
	if (SSL_CTX_use_PrivateKey_file(ctx, bp_proxy_ssl_key_file, SSL_FILETYPE_PEM) != 1 ||
		SSL_CTX_check_private_key(ctx) != 1)
		ereport(FATAL,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("could not load the proxy's private key file \"%s\": %s",
						bp_proxy_ssl_key_file, TlsError()),
				 errhint("branchpromote.proxy_ssl_key_file must name the unencrypted PEM key of the certificate.")));
	ereport(LOG,
			(errmsg("branchpromote proxy: TLS enabled with certificate \"%s\"", bp_proxy_ssl_cert_file)));
}

/* A TLS session for an accepted client socket; NULL if it could not be made. */
void *
ProxyTlsNew(pgsocket fd)
{
	SSL		   *ssl = SSL_new(ctx);

	if (ssl == NULL)
		return NULL;
	if (SSL_set_fd(ssl, fd) != 1)
	{
		SSL_free(ssl);
		return NULL;
	}
	SSL_set_accept_state(ssl);
	return ssl;
}

/* What an OpenSSL call that returned rc waits for: an event, 0 for EOF, -1 error. */
static int
Want(SSL *ssl, int rc, uint32 *want)
{
	switch (SSL_get_error(ssl, rc))
	{
		case SSL_ERROR_WANT_READ:
			*want = WL_SOCKET_READABLE;
			return 1;
		case SSL_ERROR_WANT_WRITE:
			*want = WL_SOCKET_WRITEABLE;
			return 1;
		case SSL_ERROR_ZERO_RETURN:
			return 0;
		default:
			ERR_clear_error();
			return -1;
	}
}

/* Go on with the handshake: 1 done, 0 not yet (*want says on what), -1 failed. */
int
ProxyTlsHandshake(void *tls, uint32 *want)
{
	int			rc;

	*want = 0;
	ERR_clear_error();
	rc = SSL_do_handshake((SSL *) tls);
	if (rc == 1)
		return 1;
	return Want((SSL *) tls, rc, want) == 1 ? 0 : -1;
}

/* Read: >0 bytes, 0 end of stream, -1 error, -2 nothing yet (*want set). */
int
ProxyTlsRead(void *tls, char *buf, int len, uint32 *want)
{
	int			rc;
	int			w;

	*want = 0;
	ERR_clear_error();
	rc = SSL_read((SSL *) tls, buf, len);
	if (rc > 0)
		return rc;
	w = Want((SSL *) tls, rc, want);
	return w == 1 ? -2 : w;
}

/* Write: bytes written (0: none yet, *want set), -1 error. */
int
ProxyTlsWrite(void *tls, const char *buf, int len, uint32 *want)
{
	int			rc;

	*want = 0;
	ERR_clear_error();
	rc = SSL_write((SSL *) tls, buf, len);
	if (rc > 0)
		return rc;
	return Want((SSL *) tls, rc, want) == 1 ? 0 : -1;
}

/* Decrypted bytes OpenSSL holds that no socket event will announce. */
bool
ProxyTlsPending(void *tls)
{
	return SSL_pending((SSL *) tls) > 0;
}

/* End the session (a close_notify if it can go at once) and free it. */
void
ProxyTlsFree(void *tls)
{
	ERR_clear_error();
	(void) SSL_shutdown((SSL *) tls);
	SSL_free((SSL *) tls);
	ERR_clear_error();
}
