/*
 * test_pgwire.c — unit tests of the wire-protocol parser and builders
 * (pgwire.c).  Built and run by `make unitcheck`; no server needed.
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>

#include "pgwire.h"

#include "check.h"

/* Big-endian integer at p. */
static uint32_t
get32(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, 4);
	return ntohl(v);
}

/* Store v big-endian at p. */
static void
put32(char *p, uint32_t v)
{
	uint32_t	n = htonl(v);

	memcpy(p, &n, 4);
}

/*
 * A first packet into buf: length, code, then the body given as nbody raw
 * bytes (a StartupMessage's pairs and terminator).  Returns its length.
 */
static size_t
packet(char *buf, uint32_t code, const char *body, size_t nbody)
{
	put32(buf, (uint32_t) (8 + nbody));
	put32(buf + 4, code);
	memcpy(buf + 8, body, nbody);
	return 8 + nbody;
}

/* A protocol 3.0 StartupMessage; body is a string literal (its final NUL counts). */
#define STARTUP(buf, lit) packet((buf), 3 << 16, (lit), sizeof(lit))

static void
test_startup(void)
{
	char		buf[PGW_MAX_STARTUP + 64];
	PgwStartup	s;
	size_t		n;

	/* several parameters */
	n = STARTUP(buf, "user\0alice\0database\0shop.dev\0application_name\0psql\0client_encoding\0UTF8\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
	CHECK(s.kind == PGW_STARTUP);
	CHECK(s.length == n);
	CHECK(s.protocol == 3 << 16);
	CHECK(s.nparams == 4);
	CHECK(strcmp(s.names[0], "user") == 0 && strcmp(s.values[0], "alice") == 0);
	CHECK(strcmp(s.names[3], "client_encoding") == 0 && strcmp(s.values[3], "UTF8") == 0);
	CHECK(strcmp(PgwParam(&s, "database"), "shop.dev") == 0);
	CHECK(strcmp(PgwParam(&s, "application_name"), "psql") == 0);
	CHECK(PgwParam(&s, "options") == NULL);
	CHECK(PgwParam(&s, "User") == NULL);
	CHECK(s.names[0] >= buf && s.values[3] < buf + n);

	/* bytes after the packet are left to the caller */
	memcpy(buf + n, "Qjunk", 5);
	CHECK(PgwParseStartup(buf, n + 5, &s) == PGW_STARTUP && s.length == n);

	/* every proper prefix is incomplete */
	{
		int			all = 1;

		for (size_t k = 0; k < n; k++)
			if (PgwParseStartup(buf, k, &s) != PGW_INCOMPLETE || s.kind != PGW_INCOMPLETE)
				all = 0;
		CHECK(all);
	}

	/* only a user, an empty value elsewhere, a repeated name (the last wins) */
	n = STARTUP(buf, "user\0bob\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && s.nparams == 1 && PgwParam(&s, "database") == NULL);
	n = STARTUP(buf, "user\0bob\0options\0\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && strcmp(PgwParam(&s, "options"), "") == 0);
	n = STARTUP(buf, "user\0a\0database\0x\0database\0y\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && strcmp(PgwParam(&s, "database"), "y") == 0);

	/* no user, an empty user */
	n = STARTUP(buf, "database\0shop\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && s.error != NULL && strstr(s.error, "user") != NULL);
	n = STARTUP(buf, "user\0\0database\0shop\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && s.kind == PGW_BAD);
	n = STARTUP(buf, "");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);	/* no parameters at all */

	/* missing terminator: last byte is a value's NUL, or no body */
	n = packet(buf, 3 << 16, "user\0alice\0", 11);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && strstr(s.error, "terminator") != NULL);
	n = packet(buf, 3 << 16, "", 0);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	/* unterminated name, unterminated value, name without a value */
	n = packet(buf, 3 << 16, "user\0alice\0datab", 16);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	n = packet(buf, 3 << 16, "user\0alice\0database\0sho", 23);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	n = packet(buf, 3 << 16, "user\0alice\0database\0", 20);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	/* the terminator is not the last byte */
	n = STARTUP(buf, "user\0alice\0\0x");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && strstr(s.error, "terminator") != NULL);
	n = STARTUP(buf, "user\0alice\0\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);

	/* the declared length bounds the parse, not len */
	n = STARTUP(buf, "user\0alice\0");
	put32(buf, (uint32_t) (n - 1));	/* cuts off the terminator */
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);

	/* too many parameters: PGW_MAX_PARAMS pass, one more does not */
	{
		char		body[PGW_MAX_STARTUP];
		size_t		b = 0;

		b += (size_t) sprintf(body + b, "user") + 1;
		b += (size_t) sprintf(body + b, "u") + 1;
		for (int i = 1; i < PGW_MAX_PARAMS; i++)
		{
			b += (size_t) sprintf(body + b, "p%d", i) + 1;
			b += (size_t) sprintf(body + b, "v%d", i) + 1;
		}
		body[b] = '\0';
		n = packet(buf, 3 << 16, body, b + 1);
		CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && s.nparams == PGW_MAX_PARAMS);
		CHECK(strcmp(PgwParam(&s, "p63"), "v63") == 0);
		b += (size_t) sprintf(body + b, "extra") + 1;
		b += (size_t) sprintf(body + b, "x") + 1;
		body[b] = '\0';
		n = packet(buf, 3 << 16, body, b + 1);
		CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && strstr(s.error, "too many") != NULL);
	}

	/* lengths: below 8, above the limit, at the limit */
	for (uint32_t bad = 0; bad < 8; bad++)
	{
		put32(buf, bad);
		put32(buf + 4, 3 << 16);
		CHECK(PgwParseStartup(buf, 8, &s) == PGW_BAD);
		CHECK(PgwParseStartup(buf, 4, &s) == PGW_BAD);	/* known from 4 bytes */
	}
	put32(buf, PGW_MAX_STARTUP + 1);
	CHECK(PgwParseStartup(buf, 4, &s) == PGW_BAD && strstr(s.error, "length") != NULL && s.silent);
	/* a Terminate as the first bytes: a length no server trusts, closed without a word */
	memcpy(buf, "X\0\0\0\4", 5);
	CHECK(PgwParseStartup(buf, 5, &s) == PGW_BAD && s.silent);
	put32(buf, 0xFFFFFFFF);
	CHECK(PgwParseStartup(buf, 8, &s) == PGW_BAD);
	{
		char		body[PGW_MAX_STARTUP];

		memset(body, 'x', sizeof(body));
		memcpy(body, "user\0u\0big\0", 11);
		body[PGW_MAX_STARTUP - 8 - 2] = '\0';
		body[PGW_MAX_STARTUP - 8 - 1] = '\0';
		n = packet(buf, 3 << 16, body, PGW_MAX_STARTUP - 8);
		CHECK(n == PGW_MAX_STARTUP);
		CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && s.length == PGW_MAX_STARTUP);
		CHECK(PgwParseStartup(buf, n - 1, &s) == PGW_INCOMPLETE);
	}

	/* protocol versions: 2.0 and 4.0 refused, 3.2 accepted */
	n = packet(buf, 2 << 16, "user\0alice\0", 12);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD && strstr(s.error, "protocol") != NULL &&
		  !s.silent && s.protocol == (2 << 16));
	n = packet(buf, 4 << 16, "user\0alice\0", 12);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	n = packet(buf, 0, "user\0alice\0", 12);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
	n = packet(buf, (3 << 16) | 2, "user\0alice\0", 12);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP && s.protocol == ((3 << 16) | 2));
	/* 1234.5677: a request code the server does not know */
	n = packet(buf, (1234 << 16) | 5677, "user\0alice\0", 12);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_BAD);
}

static void
test_requests(void)
{
	char		buf[64];
	char		built[16];
	PgwStartup	s;

	/* SSLRequest, GSSENCRequest: exactly 8 bytes */
	packet(buf, PGW_CODE_SSL, "", 0);
	CHECK(PgwParseStartup(buf, 8, &s) == PGW_SSL_REQUEST && s.length == 8);
	CHECK(PgwParseStartup(buf, 7, &s) == PGW_INCOMPLETE);
	CHECK(PgwParseStartup(buf, 3, &s) == PGW_INCOMPLETE);
	packet(buf, PGW_CODE_GSSENC, "", 0);
	CHECK(PgwParseStartup(buf, 8, &s) == PGW_GSSENC_REQUEST && s.length == 8);
	packet(buf, PGW_CODE_SSL, "\0\0\0\0", 4);
	CHECK(PgwParseStartup(buf, 12, &s) == PGW_BAD && strstr(s.error, "SSL") != NULL);
	packet(buf, PGW_CODE_GSSENC, "\0\0\0\0", 4);
	CHECK(PgwParseStartup(buf, 12, &s) == PGW_BAD);
	/* an SSLRequest followed by the TLS handshake: only 8 bytes are its */
	packet(buf, PGW_CODE_SSL, "", 0);
	memcpy(buf + 8, "\x16\x03\x01", 3);
	CHECK(PgwParseStartup(buf, 11, &s) == PGW_SSL_REQUEST && s.length == 8);

	/* CancelRequest: exactly 16 bytes, pid and key big-endian */
	packet(buf, PGW_CODE_CANCEL, "\x00\x00\x30\x39\xde\xad\xbe\xef", 8);
	CHECK(PgwParseStartup(buf, 16, &s) == PGW_CANCEL && s.length == 16);
	CHECK(s.cancel_pid == 12345 && s.cancel_key == 0xdeadbeef);
	CHECK(PgwParseStartup(buf, 15, &s) == PGW_INCOMPLETE);
	PgwBuildCancel(12345, 0xdeadbeef, built);
	CHECK(memcmp(built, buf, 16) == 0);
	PgwBuildCancel(7, 0xFFFFFFFF, built);
	CHECK(PgwParseStartup(built, 16, &s) == PGW_CANCEL && s.cancel_pid == 7 && s.cancel_key == 0xFFFFFFFF);
	packet(buf, PGW_CODE_CANCEL, "\0\0\0\1\0\0\0\2\0\0\0\0", 12);
	CHECK(PgwParseStartup(buf, 20, &s) == PGW_BAD && strstr(s.error, "cancel") != NULL);
	packet(buf, PGW_CODE_CANCEL, "\0\0\0\1", 4);
	CHECK(PgwParseStartup(buf, 12, &s) == PGW_BAD);
	packet(buf, PGW_CODE_CANCEL, "", 0);
	CHECK(PgwParseStartup(buf, 8, &s) == PGW_BAD);
}

/* Does a re-parse of the len bytes at out have exactly these name=value pairs? */
static int
has_params(const char *out, int len, const char *const *pairs, int npairs)
{
	PgwStartup	s;

	if (len < 0 || PgwParseStartup(out, (size_t) len, &s) != PGW_STARTUP ||
		s.length != (uint32_t) len || s.nparams != npairs)
		return 0;
	for (int i = 0; i < npairs; i++)
		if (strcmp(s.names[i], pairs[2 * i]) != 0 || strcmp(s.values[i], pairs[2 * i + 1]) != 0)
			return 0;
	return 1;
}

static void
test_build_startup(void)
{
	char		buf[256];
	char		out[PGW_MAX_STARTUP + 64];
	PgwStartup	s;
	PgwStartup	r;
	size_t		n;
	int			len;

	/* database replaced in place, everything else kept in order */
	n = packet(buf, (3 << 16) | 2, "user\0alice\0database\0shop.dev\0options\0-c x=1\0\0", 45);
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
	len = PgwBuildStartup(&s, "shop", out, sizeof(out));
	{
		static const char *const want[] = {"user", "alice", "database", "shop", "options", "-c x=1"};

		CHECK(len == (int) n - 4);
		CHECK(has_params(out, len, want, 3));
		CHECK(PgwParseStartup(out, (size_t) len, &r) == PGW_STARTUP && r.protocol == ((3 << 16) | 2));
	}
	/* the same database: the same bytes */
	len = PgwBuildStartup(&s, "shop.dev", out, sizeof(out));
	CHECK(len == (int) n && memcmp(out, buf, n) == 0);

	/* database appended when absent */
	n = STARTUP(buf, "user\0alice\0application_name\0psql\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
	len = PgwBuildStartup(&s, "shop", out, sizeof(out));
	{
		static const char *const want[] = {"user", "alice", "application_name", "psql", "database", "shop"};

		CHECK(len == (int) n + 14);
		CHECK(has_params(out, len, want, 3));
	}
	/* an empty database is still a parameter */
	len = PgwBuildStartup(&s, "", out, sizeof(out));
	CHECK(PgwParseStartup(out, (size_t) len, &r) == PGW_STARTUP && strcmp(PgwParam(&r, "database"), "") == 0);

	/* a repeated database: every copy replaced */
	n = STARTUP(buf, "database\0a\0user\0alice\0database\0b\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
	len = PgwBuildStartup(&s, "c", out, sizeof(out));
	{
		static const char *const want[] = {"database", "c", "user", "alice", "database", "c"};

		CHECK(has_params(out, len, want, 3));
	}

	/* routing by endpoint: the token goes, the rest of options stays; "" drops options */
	{
		char		ep[64];
		char		rest[128];

		CHECK(PgwEndpoint("endpoint=shop.dev", ep, sizeof(ep), rest, sizeof(rest)) &&
			  strcmp(ep, "shop.dev") == 0 && strcmp(rest, "") == 0);
		CHECK(PgwEndpoint("-c x=1  endpoint=shop -c\\ y=2", ep, sizeof(ep), rest, sizeof(rest)) &&
			  strcmp(ep, "shop") == 0 && strcmp(rest, "-c x=1 -c\\ y=2") == 0);
		CHECK(!PgwEndpoint("-c x=1", ep, sizeof(ep), rest, sizeof(rest)));
		CHECK(!PgwEndpoint("endpoint=", ep, sizeof(ep), rest, sizeof(rest)));	/* no value */
		CHECK(!PgwEndpoint("endpoint=averyveryverylongname", ep, 8, rest, sizeof(rest)));
		n = STARTUP(buf, "user\0alice\0database\0shop\0options\0endpoint=shop.dev\0");
		CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
		len = PgwBuildStartupWith(&s, "shop", "", out, sizeof(out));
		{
			static const char *const want[] = {"user", "alice", "database", "shop"};

			CHECK(has_params(out, len, want, 2));
			CHECK(PgwParseStartup(out, (size_t) len, &r) == PGW_STARTUP && PgwParam(&r, "options") == NULL);
		}
		len = PgwBuildStartupWith(&s, "shop", "-c x=1", out, sizeof(out));
		CHECK(PgwParseStartup(out, (size_t) len, &r) == PGW_STARTUP &&
			  strcmp(PgwParam(&r, "options"), "-c x=1") == 0);
	}

	/* output buffer: exact size fits, one byte less does not */
	n = STARTUP(buf, "user\0alice\0database\0shop\0");
	CHECK(PgwParseStartup(buf, n, &s) == PGW_STARTUP);
	len = PgwBuildStartup(&s, "project", out, sizeof(out));
	CHECK(len == (int) n + 3);
	CHECK(PgwBuildStartup(&s, "project", out, (size_t) len) == len);
	CHECK(PgwBuildStartup(&s, "project", out, (size_t) len - 1) == -1);
	CHECK(PgwBuildStartup(&s, "project", out, 0) == -1);
	CHECK(PgwBuildStartup(&s, NULL, out, sizeof(out)) == -1);
	/* nor beyond what the server accepts */
	{
		char		huge[PGW_MAX_STARTUP];

		memset(huge, 'd', sizeof(huge) - 1);
		huge[sizeof(huge) - 1] = '\0';
		CHECK(PgwBuildStartup(&s, huge, out, sizeof(out)) == -1);
	}
	/* only from a StartupMessage */
	packet(buf, PGW_CODE_SSL, "", 0);
	CHECK(PgwParseStartup(buf, 8, &s) == PGW_SSL_REQUEST);
	CHECK(PgwBuildStartup(&s, "shop", out, sizeof(out)) == -1);
}

/* Walk an ErrorResponse of len bytes: its fields into f[type] (NULL: absent). */
static int
parse_error(const char *out, int len, const char *f[256])
{
	int			pos = 5;

	memset(f, 0, 256 * sizeof(f[0]));
	if (len < 6 || out[0] != 'E' || get32(out + 1) != (uint32_t) len - 1 || out[len - 1] != '\0')
		return 0;
	while (out[pos] != '\0')
	{
		unsigned char type = (unsigned char) out[pos++];
		const char *end = memchr(out + pos, '\0', (size_t) (len - 1 - pos));

		if (end == NULL || f[type] != NULL)
			return 0;
		f[type] = out + pos;
		pos = (int) (end - out) + 1;
	}
	return pos == len - 1;
}

static void
test_error(void)
{
	char		out[512];
	char		longmsg[1000];
	const char *f[256];
	int			len;

	len = PgwBuildError("FATAL", "3D000", "project \"x\" does not exist", "Check the name.", out, sizeof(out));
	CHECK(len > 0 && len <= (int) sizeof(out));
	CHECK(parse_error(out, len, f));
	CHECK(f['S'] && strcmp(f['S'], "FATAL") == 0);
	CHECK(f['V'] && strcmp(f['V'], "FATAL") == 0);
	CHECK(f['C'] && strcmp(f['C'], "3D000") == 0);
	CHECK(f['M'] && strcmp(f['M'], "project \"x\" does not exist") == 0);
	CHECK(f['H'] && strcmp(f['H'], "Check the name.") == 0);
	CHECK(len == 1 + 4 + 7 + 7 + 7 + 28 + 17 + 1);
	/* the exact layout */
	CHECK(memcmp(out + 5, "SFATAL\0VFATAL\0C3D000\0M", 22) == 0);

	/* no hint, an empty hint */
	len = PgwBuildError("ERROR", "57P03", "starting", NULL, out, sizeof(out));
	CHECK(parse_error(out, len, f) && f['H'] == NULL && strcmp(f['S'], "ERROR") == 0 && strcmp(f['M'], "starting") == 0);
	len = PgwBuildError("ERROR", "57P03", "starting", "", out, sizeof(out));
	CHECK(parse_error(out, len, f) && f['H'] == NULL);

	/* truncation: the message comes first, then the hint; never above outlen */
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	len = PgwBuildError("FATAL", "08006", longmsg, "hint", out, 100);
	CHECK(len == 100 && parse_error(out, len, f) && f['H'] == NULL);
	CHECK(strlen(f['M']) == 100 - 29 && f['M'][0] == 'm');
	len = PgwBuildError("FATAL", "08006", "short", longmsg, out, 100);
	CHECK(len == 100 && parse_error(out, len, f) && strcmp(f['M'], "short") == 0 && f['H'] && f['H'][0] == 'm');
	{
		int			all = 1;

		for (size_t outlen = 64; outlen <= sizeof(out); outlen++)
		{
			len = PgwBuildError("FATAL", "08006", longmsg, longmsg, out, outlen);
			if (len != (int) outlen || !parse_error(out, len, f))
				all = 0;
		}
		CHECK(all);
	}
	CHECK(PgwBuildError("FATAL", "08006", "x", NULL, out, 64) > 0);
	/* the SQLSTATE read back, as the proxy reads a compute's refusal */
	{
		char		code[6];

		len = PgwBuildError("FATAL", "57P03", "the database system is starting up", NULL, out, sizeof(out));
		CHECK(PgwErrorCode(out, len, code) && strcmp(code, "57P03") == 0);
		CHECK(!PgwErrorCode(out, len - 1, code));	/* length field disagrees */
		out[0] = 'N';
		CHECK(!PgwErrorCode(out, len, code));	/* a NoticeResponse is no refusal */
		/* no code field, a code of the wrong length, an unterminated field */
		memcpy(out, "E\0\0\0\x0cSFATAL\0\0", 13);
		CHECK(!PgwErrorCode(out, 13, code));
		memcpy(out, "E\0\0\0\x0a" "C57P0\0\0", 11);
		CHECK(!PgwErrorCode(out, 11, code));
		memcpy(out, "E\0\0\0\x0b" "C57P03X", 12);
		CHECK(!PgwErrorCode(out, 12, code));
		memcpy(out, "E\0\0\0\x04", 5);
		CHECK(!PgwErrorCode(out, 5, code));
	}
	CHECK(PgwBuildError("FATAL", "08006", "x", NULL, out, 63) == -1);
	CHECK(PgwBuildError("FATAL", "08006", "x", NULL, out, 0) == -1);
	/* a multibyte character is not cut in half */
	{
		char		utf[200];

		for (int i = 0; i < 99; i++)
			memcpy(utf + 2 * i, "\xc3\xa9", 2);
		utf[198] = '\0';
		len = PgwBuildError("FATAL", "08006", utf, NULL, out, 64);	/* room for 35 bytes */
		CHECK(parse_error(out, len, f) && strlen(f['M']) == 34);
	}
	/* long severity and SQLSTATE are cut, not trusted */
	len = PgwBuildError("VERYVERYLONGSEVERITY", "1234567890", longmsg, NULL, out, 64);
	CHECK(len == 64 && parse_error(out, len, f) && strlen(f['S']) <= 10 && strlen(f['C']) == 5);
}

static void
test_messages(void)
{
	char		buf[64];
	char		type = 0;
	uint32_t	total = 0;
	uint32_t	pid = 0;
	uint32_t	key = 0;

	/* ReadyForQuery: Z, length 5, status */
	memcpy(buf, "Z\0\0\0\5I", 6);
	CHECK(PgwMessage(buf, 6, 8192, &type, &total) == 1 && type == 'Z' && total == 6);
	CHECK(PgwMessage(buf, 60, 8192, &type, &total) == 1 && total == 6);	/* more behind it */
	for (size_t k = 0; k < 6; k++)
		CHECK(PgwMessage(buf, k, 8192, &type, &total) == 0);
	/* impossible lengths; maxlen bounds the length field */
	memcpy(buf, "Z\0\0\0\3", 5);
	CHECK(PgwMessage(buf, 5, 8192, &type, &total) == -1);
	memcpy(buf, "Z\0\0\0\0", 5);
	CHECK(PgwMessage(buf, 5, 8192, &type, &total) == -1);
	memcpy(buf, "Z\0\0\0\4", 5);
	CHECK(PgwMessage(buf, 5, 8192, &type, &total) == 1 && total == 5);
	CHECK(PgwMessage(buf, 5, 4, &type, &total) == 1);
	CHECK(PgwMessage(buf, 5, 3, &type, &total) == -1);
	memcpy(buf, "D\0\1\0\0", 5);
	CHECK(PgwMessage(buf, 5, 65535, &type, &total) == -1);
	CHECK(PgwMessage(buf, 5, 65536, &type, &total) == 0);	/* legal: wait for it */
	memcpy(buf, "D\xff\xff\xff\xff", 5);
	CHECK(PgwMessage(buf, 5, 0xFFFFFFFF, &type, &total) == -1);
	memcpy(buf, "D\x7f\xff\xff\xff", 5);
	CHECK(PgwMessage(buf, 5, 0xFFFFFFFF, &type, &total) == 0);

	/* BackendKeyData round trip */
	PgwBuildKeyData(4242, 0x01020304, buf);
	CHECK(memcmp(buf, "K\0\0\0\x0c\0\0\x10\x92\x01\x02\x03\x04", 13) == 0);
	CHECK(PgwMessage(buf, 13, 8192, &type, &total) == 1 && type == 'K' && total == 13);
	CHECK(PgwParseKeyData(buf, total, &pid, &key) && pid == 4242 && key == 0x01020304);
	PgwBuildKeyData(0xFFFFFFFF, 0, buf);
	CHECK(PgwParseKeyData(buf, 13, &pid, &key) && pid == 0xFFFFFFFF && key == 0);
	CHECK(!PgwParseKeyData(buf, 12, &pid, &key));
	CHECK(!PgwParseKeyData(buf, 14, &pid, &key));
	buf[0] = 'Z';
	CHECK(!PgwParseKeyData(buf, 13, &pid, &key));
	PgwBuildKeyData(1, 2, buf);
	buf[4] = 13;
	CHECK(!PgwParseKeyData(buf, 13, &pid, &key));
}

static void
test_route(void)
{
	char		project[64];
	char		env[16];
	char		longname[100];

	CHECK(PgwSplitRoute("shop", project, sizeof(project), env, sizeof(env)));
	CHECK(strcmp(project, "shop") == 0 && strcmp(env, "prod") == 0);
	CHECK(PgwSplitRoute("shop.dev", project, sizeof(project), env, sizeof(env)));
	CHECK(strcmp(project, "shop") == 0 && strcmp(env, "dev") == 0);
	CHECK(PgwSplitRoute("shop.preview-42", project, sizeof(project), env, sizeof(env)));
	CHECK(strcmp(env, "preview-42") == 0);
	/* the first dot splits; the rest is the env's to validate */
	CHECK(PgwSplitRoute("shop.dev.x", project, sizeof(project), env, sizeof(env)));
	CHECK(strcmp(project, "shop") == 0 && strcmp(env, "dev.x") == 0);
	CHECK(!PgwSplitRoute("shop.", project, sizeof(project), env, sizeof(env)));
	CHECK(!PgwSplitRoute(".dev", project, sizeof(project), env, sizeof(env)));
	CHECK(!PgwSplitRoute(".", project, sizeof(project), env, sizeof(env)));
	CHECK(!PgwSplitRoute("", project, sizeof(project), env, sizeof(env)));
	CHECK(!PgwSplitRoute(NULL, project, sizeof(project), env, sizeof(env)));
	/* sizes include the NUL */
	CHECK(PgwSplitRoute("abc.def", project, 4, env, 4));
	CHECK(!PgwSplitRoute("abcd.def", project, 4, env, 4));
	CHECK(!PgwSplitRoute("abc.defg", project, 4, env, 4));
	CHECK(PgwSplitRoute("abc", project, 4, env, 5) && strcmp(env, "prod") == 0);
	CHECK(!PgwSplitRoute("abc", project, 4, env, 4));	/* "prod" does not fit */
	memset(longname, 'p', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	CHECK(!PgwSplitRoute(longname, project, sizeof(project), env, sizeof(env)));
	longname[63] = '\0';
	CHECK(PgwSplitRoute(longname, project, sizeof(project), env, sizeof(env)) && strlen(project) == 63);
	longname[64 - 1] = 'p';
	longname[64] = '\0';
	CHECK(!PgwSplitRoute(longname, project, sizeof(project), env, sizeof(env)));
	/* a failed split leaves the outputs alone */
	strcpy(project, "keep");
	CHECK(!PgwSplitRoute("shop.", project, sizeof(project), env, sizeof(env)) && strcmp(project, "keep") == 0);
}

int
main(void)
{
	test_startup();
	test_requests();
	test_build_startup();
	test_error();
	test_messages();
	test_route();
	return CheckReport("unit (pgwire)");
}
