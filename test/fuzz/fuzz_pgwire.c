/*
 * fuzz_pgwire.c — libFuzzer target for the wire-protocol code (pgwire.c).
 *
 * Every input is taken as what a client could send first (PgwParseStartup),
 * as a regular message (PgwMessage, PgwParseKeyData) and as the text of an
 * error (PgwBuildError).  Besides ASan and UBSan, the invariants below trap:
 * a complete kind never claims more bytes than there are, parameters point
 * inside the packet, and whatever is built parses back to what went in.
 *
 * Built and run for a bounded time by `make fuzzcheck` (FUZZ_SECONDS);
 * bench/fuzz runs it longer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgwire.h"

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ASSERT(cond) do { if (!(cond)) __builtin_trap(); } while (0)

/* A NUL-terminated copy of the first n bytes at p (stops at an inner NUL). */
static char *
CopyString(const char *p, size_t n)
{
	char	   *s = malloc(n + 1);

	ASSERT(s != NULL);
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

/* Is [p, p + strlen(p)] inside the first length bytes of buf? */
static int
Inside(const char *buf, uint32_t length, const char *p)
{
	return p >= buf + 8 && p + strlen(p) < buf + length;
}

/* Route a database name and check the parts put back together give it. */
static void
CheckRoute(const char *dbname)
{
	char		project[64];
	char		env[16];
	size_t		dlen = strlen(dbname);

	if (!PgwSplitRoute(dbname, project, sizeof(project), env, sizeof(env)))
		return;
	ASSERT(project[0] != '\0' && strlen(project) < sizeof(project));
	ASSERT(env[0] != '\0' && strlen(env) < sizeof(env));
	ASSERT(strchr(project, '.') == NULL);
	if (strchr(dbname, '.') == NULL)
		ASSERT(strcmp(project, dbname) == 0 && strcmp(env, "prod") == 0);
	else
		ASSERT(strlen(project) + 1 + strlen(env) == dlen &&
			   strncmp(dbname, project, strlen(project)) == 0 &&
			   dbname[strlen(project)] == '.' &&
			   strcmp(dbname + strlen(project) + 1, env) == 0);
}

/* Rebuild s with database into outlen bytes; check it parses back the same. */
static void
CheckRebuild(const PgwStartup *s, const char *database, size_t outlen)
{
	char	   *out = malloc(outlen ? outlen : 1);
	PgwStartup	r;
	int			len;
	int			j = 0;
	int			had_db = PgwParam(s, "database") != NULL;

	ASSERT(out != NULL);
	len = PgwBuildStartup(s, database, out, outlen);
	if (len < 0)
	{
		free(out);
		return;
	}
	ASSERT((size_t) len <= outlen && len <= PGW_MAX_STARTUP);
	ASSERT(PgwParseStartup(out, (size_t) len, &r) == PGW_STARTUP);
	ASSERT(r.length == (uint32_t) len && r.protocol == s->protocol);
	ASSERT(r.nparams == s->nparams + (had_db ? 0 : 1));
	for (int i = 0; i < s->nparams; i++, j++)
	{
		ASSERT(strcmp(r.names[j], s->names[i]) == 0);
		if (strcmp(s->names[i], "database") == 0)
			ASSERT(strcmp(r.values[j], database) == 0);
		else
			ASSERT(strcmp(r.values[j], s->values[i]) == 0);
	}
	if (!had_db)
		ASSERT(strcmp(r.names[j], "database") == 0 && strcmp(r.values[j], database) == 0);
	ASSERT(strcmp(PgwParam(&r, "database"), database) == 0);
	free(out);
}

/* The first packet of a connection, and what the proxy does with it. */
static void
FuzzStartup(const char *buf, size_t size)
{
	PgwStartup	s;
	PgwKind		kind = PgwParseStartup(buf, size, &s);
	const char *user;
	const char *db;

	ASSERT(kind == s.kind);
	if (kind == PGW_INCOMPLETE)
		return;
	if (kind == PGW_BAD)
	{
		ASSERT(s.error != NULL && s.error[0] != '\0');
		return;
	}
	ASSERT(s.length >= 8 && s.length <= size && s.length <= PGW_MAX_STARTUP);
	/* a complete packet is never incomplete with its bytes all there */
	if (kind == PGW_SSL_REQUEST || kind == PGW_GSSENC_REQUEST)
	{
		ASSERT(s.length == 8);
		return;
	}
	if (kind == PGW_CANCEL)
	{
		char		cancel[16];

		ASSERT(s.length == 16);
		PgwBuildCancel(s.cancel_pid, s.cancel_key, cancel);
		ASSERT(memcmp(cancel, buf, 16) == 0);
		return;
	}
	ASSERT(kind == PGW_STARTUP);
	ASSERT((s.protocol >> 16) == 3);
	ASSERT(s.nparams >= 1 && s.nparams <= PGW_MAX_PARAMS);
	ASSERT(buf[s.length - 1] == '\0');
	for (int i = 0; i < s.nparams; i++)
		ASSERT(Inside(buf, s.length, s.names[i]) && Inside(buf, s.length, s.values[i]) &&
			   s.names[i][0] != '\0');
	user = PgwParam(&s, "user");
	ASSERT(user != NULL && user[0] != '\0');
	/* parsing a prefix of it never yields a packet */
	ASSERT(PgwParseStartup(buf, s.length - 1, &s) == PGW_INCOMPLETE);
	PgwParseStartup(buf, size, &s);

	db = PgwParam(&s, "database");
	if (db != NULL)
	{
		char	   *copy = CopyString(db, strlen(db));
		int			ndb = 0;

		CheckRoute(copy);
		for (int i = 0; i < s.nparams; i++)
			ndb += strcmp(s.names[i], "database") == 0;
		/* one database: rebuilding with it gives the same bytes */
		if (ndb == 1)
		{
			char	   *out = malloc(s.length);

			ASSERT(out != NULL);
			ASSERT(PgwBuildStartup(&s, copy, out, s.length) == (int) s.length);
			ASSERT(memcmp(out, buf, s.length) == 0);
			free(out);
		}
		free(copy);
	}
	CheckRebuild(&s, "shop.dev", 64);
	CheckRebuild(&s, "shop.dev", PGW_MAX_STARTUP);
	CheckRebuild(&s, "", 16);
	CheckRebuild(&s, user, PGW_MAX_STARTUP);
}

/* The same bytes as a regular message, with a few limits. */
static void
FuzzMessage(const char *buf, size_t size)
{
	static const uint32_t maxlens[] = {0, 4, 12, 8192, 1 << 30, UINT32_MAX};
	uint32_t	pid;
	uint32_t	key;

	for (size_t i = 0; i < sizeof(maxlens) / sizeof(maxlens[0]); i++)
	{
		char		type = 0;
		uint32_t	total = 0;
		int			r = PgwMessage(buf, size, maxlens[i], &type, &total);

		ASSERT(r >= -1 && r <= 1);
		if (r != 1)
			continue;
		ASSERT(total >= 5 && total <= size && total - 1 <= maxlens[i]);
		ASSERT(type == buf[0]);
		if (PgwParseKeyData(buf, total, &pid, &key))
		{
			char		kd[13];

			ASSERT(total == 13);
			PgwBuildKeyData(pid, key, kd);
			ASSERT(memcmp(kd, buf, 13) == 0);
		}
		{
			char		code[6];
			char		again[6];
			char		err[64];

			/* a code read is five bytes, and builds into an error that reads back the same */
			if (PgwErrorCode(buf, total, code))
			{
				int			n = PgwBuildError("FATAL", code, "m", NULL, err, sizeof(err));

				ASSERT(buf[0] == 'E' && strlen(code) == 5);
				ASSERT(n > 0 && PgwErrorCode(err, n, again) && strcmp(code, again) == 0);
			}
		}
	}
	if (size >= 13 && PgwParseKeyData(buf, 13, &pid, &key))
		ASSERT(buf[0] == 'K');
}

/* Walk an ErrorResponse of len bytes built into a buffer of outlen. */
static void
CheckError(const char *out, int len, size_t outlen, const char *message)
{
	int			pos = 5;
	int			fields = 0;

	ASSERT(len > 0 && (size_t) len <= outlen);
	ASSERT(out[0] == 'E' && out[len - 1] == '\0');
	ASSERT(((uint32_t) (unsigned char) out[1] << 24 | (uint32_t) (unsigned char) out[2] << 16 |
			(uint32_t) (unsigned char) out[3] << 8 | (unsigned char) out[4]) == (uint32_t) len - 1);
	while (out[pos] != '\0')
	{
		char		type = out[pos++];
		const char *end = memchr(out + pos, '\0', (size_t) (len - 1 - pos));

		ASSERT(end != NULL);
		ASSERT(type == 'S' || type == 'V' || type == 'C' || type == 'M' || type == 'H');
		/* the message is a prefix of the one given */
		if (type == 'M')
			ASSERT(strncmp(out + pos, message, (size_t) (end - (out + pos))) == 0);
		pos = (int) (end - out) + 1;
		fields++;
	}
	ASSERT(pos == len - 1 && fields >= 4 && fields <= 5);
}

/* The bytes as an error's message (and hint). */
static void
FuzzError(const char *buf, size_t size)
{
	static const size_t outlens[] = {64, 65, 100, 512, 9000};
	char	   *message = CopyString(buf, size);
	char		out[9000];

	ASSERT(PgwBuildError("FATAL", "08P01", message, NULL, out, 63) == -1);
	for (size_t i = 0; i < sizeof(outlens) / sizeof(outlens[0]); i++)
	{
		int			len;

		len = PgwBuildError("FATAL", "08P01", message, NULL, out, outlens[i]);
		CheckError(out, len, outlens[i], message);
		len = PgwBuildError("ERROR", "57P03", message, message, out, outlens[i]);
		CheckError(out, len, outlens[i], message);
		len = PgwBuildError(message, message, "m", "h", out, outlens[i]);
		ASSERT(len > 0 && (size_t) len <= outlens[i] && out[0] == 'E');
	}
	free(message);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *) data;

	FuzzStartup(buf, size);
	FuzzMessage(buf, size);
	FuzzError(buf, size);
	return 0;
}
