/*
 * pgwire.c — the parts of the PostgreSQL wire protocol the proxy reads and
 * writes: a client's first packet, ErrorResponse, CancelRequest,
 * BackendKeyData, message framing and the routing of a database name.
 *
 * Pure code: no server headers, no allocation, no I/O, no globals.  The same
 * file is linked into the extension, the unit tests (test/unit/test_pgwire.c)
 * and the fuzzer (test/fuzz/fuzz_pgwire.c).  Every read is bounds-checked
 * against the bytes the caller says it has: nothing here trusts a length
 * that came from the network before comparing it with that count.
 */
#include <string.h>
#include <arpa/inet.h>

#include "pgwire.h"

/* Longest severity and SQLSTATE that PgwBuildError copies. */
#define PGW_MAX_SEVERITY 10
#define PGW_SQLSTATE_LEN 5

/* A big-endian 32-bit integer at p (any alignment). */
static uint32_t
GetU32(const char *p)
{
	uint32_t	v;

	memcpy(&v, p, sizeof(v));
	return ntohl(v);
}

/* Store v big-endian at p (any alignment). */
static void
PutU32(char *p, uint32_t v)
{
	uint32_t	n = htonl(v);

	memcpy(p, &n, sizeof(n));
}

/* Length of s, at most max (s need not be terminated within max bytes). */
static size_t
BoundedLen(const char *s, size_t max)
{
	const char *nul = memchr(s, '\0', max);

	return nul ? (size_t) (nul - s) : max;
}

/* Mark out as malformed for reason and return PGW_BAD. */
static PgwKind
Bad(PgwStartup *out, const char *reason)
{
	out->kind = PGW_BAD;
	out->length = 0;
	out->nparams = 0;
	out->error = reason;
	out->silent = false;
	return PGW_BAD;
}

/*
 * Malformed where PostgreSQL logs it and closes without answering (its
 * COMMERROR): a length it cannot trust.  A client that connects and hangs
 * up at once (a Terminate as its first bytes) must see just the close.
 */
static PgwKind
BadSilent(PgwStartup *out, const char *reason)
{
	(void) Bad(out, reason);
	out->silent = true;
	return PGW_BAD;
}

/* Parse the first packet of a connection (see pgwire.h). */
PgwKind
PgwParseStartup(const char *buf, size_t len, PgwStartup *out)
{
	uint32_t	length;
	uint32_t	code;
	size_t		pos;
	const char *user;

	memset(out, 0, sizeof(*out));
	out->kind = PGW_INCOMPLETE;
	if (len < 4)
		return PGW_INCOMPLETE;
	length = GetU32(buf);
	if (length < 8 || length > PGW_MAX_STARTUP)
		return BadSilent(out, "invalid length of startup packet");
	if (len < length)
		return PGW_INCOMPLETE;
	code = GetU32(buf + 4);

	if (code == PGW_CODE_SSL || code == PGW_CODE_GSSENC)
	{
		if (length != 8)
			return Bad(out, code == PGW_CODE_SSL ?
					   "invalid length of SSL request" :
					   "invalid length of GSSAPI encryption request");
		out->kind = code == PGW_CODE_SSL ? PGW_SSL_REQUEST : PGW_GSSENC_REQUEST;
		out->length = length;
		return out->kind;
	}
	if (code == PGW_CODE_CANCEL)
	{
		if (length != 16)
			return BadSilent(out, "invalid length of cancel request");
		out->kind = PGW_CANCEL;
		out->length = length;
		out->cancel_pid = GetU32(buf + 8);
		out->cancel_key = GetU32(buf + 12);
		return PGW_CANCEL;
	}
	out->protocol = code;
	if ((code >> 16) != 3)
		return Bad(out, "unsupported frontend protocol");

	/* name NUL value NUL ... NUL, all within buf[8 .. length - 1] */
	pos = 8;
	for (;;)
	{
		size_t		nlen;
		size_t		vlen;

		if (pos >= length)
			return Bad(out, "invalid startup packet layout: expected terminator as last byte");
		nlen = BoundedLen(buf + pos, length - pos);
		if (nlen == length - pos)
			return Bad(out, "invalid startup packet layout: expected terminator as last byte");
		if (nlen == 0)
		{
			if (pos != (size_t) length - 1)
				return Bad(out, "invalid startup packet layout: expected terminator as last byte");
			break;
		}
		if (pos + nlen + 1 >= length)
			return Bad(out, "invalid startup packet layout: parameter without a value");
		vlen = BoundedLen(buf + pos + nlen + 1, length - (pos + nlen + 1));
		if (vlen == length - (pos + nlen + 1))
			return Bad(out, "invalid startup packet layout: parameter without a value");
		if (out->nparams >= PGW_MAX_PARAMS)
			return Bad(out, "too many parameters in startup packet");
		out->names[out->nparams] = buf + pos;
		out->values[out->nparams] = buf + pos + nlen + 1;
		out->nparams++;
		pos += nlen + 1 + vlen + 1;
	}

	user = PgwParam(out, "user");
	if (user == NULL || user[0] == '\0')
		return Bad(out, "no PostgreSQL user name specified in startup packet");
	out->kind = PGW_STARTUP;
	out->length = length;
	return PGW_STARTUP;
}

/* A parameter's value, or NULL; the last one if repeated (as the server). */
const char *
PgwParam(const PgwStartup *s, const char *name)
{
	for (int i = s->nparams - 1; i >= 0; i--)
		if (strcmp(s->names[i], name) == 0)
			return s->values[i];
	return NULL;
}

/* Rebuild a StartupMessage with every "database" set to database (see pgwire.h). */
int
PgwBuildStartup(const PgwStartup *s, const char *database, char *out, size_t outlen)
{
	return PgwBuildStartupWith(s, database, NULL, out, outlen);
}

int
PgwBuildStartupWith(const PgwStartup *s, const char *database, const char *options,
					char *out, size_t outlen)
{
	size_t		need = 8 + 1;
	size_t		dblen;
	size_t		pos = 8;
	bool		have_db = false;

	if (s->kind != PGW_STARTUP || database == NULL)
		return -1;
	dblen = strlen(database);
	for (int i = 0; i < s->nparams; i++)
	{
		bool		is_db = strcmp(s->names[i], "database") == 0;
		bool		is_opts = options != NULL && strcmp(s->names[i], "options") == 0;

		if (is_opts && options[0] == '\0')
			continue;			/* dropped */
		need += strlen(s->names[i]) + 1 +
			(is_db ? dblen : is_opts ? strlen(options) : strlen(s->values[i])) + 1;
		have_db = have_db || is_db;
	}
	if (!have_db)
		need += sizeof("database") + dblen + 1;
	if (need > outlen || need > PGW_MAX_STARTUP)
		return -1;

	PutU32(out, (uint32_t) need);
	PutU32(out + 4, s->protocol);
	for (int i = 0; i < s->nparams; i++)
	{
		bool		is_db = strcmp(s->names[i], "database") == 0;
		bool		is_opts = options != NULL && strcmp(s->names[i], "options") == 0;
		const char *value = is_db ? database : is_opts ? options : s->values[i];
		size_t		nlen = strlen(s->names[i]) + 1;
		size_t		vlen = strlen(value) + 1;

		if (is_opts && options[0] == '\0')
			continue;
		memcpy(out + pos, s->names[i], nlen);
		pos += nlen;
		memcpy(out + pos, value, vlen);
		pos += vlen;
	}
	if (!have_db)
	{
		memcpy(out + pos, "database", sizeof("database"));
		pos += sizeof("database");
		memcpy(out + pos, database, dblen + 1);
		pos += dblen + 1;
	}
	out[pos++] = '\0';
	return (int) pos;
}

bool
PgwEndpoint(const char *options, char *endpoint, size_t endpoint_size, char *rest, size_t rest_size)
{
	const char *p = options;
	size_t		rlen = 0;
	bool		found = false;

	if (rest_size == 0 || endpoint_size == 0)
		return false;
	rest[0] = '\0';
	endpoint[0] = '\0';
	while (*p)
	{
		const char *start;
		size_t		len;

		while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
			p++;
		if (*p == '\0')
			break;
		start = p;
		/* a token ends at unescaped white space (libpq's options syntax) */
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
		{
			if (*p == '\\' && p[1] != '\0')
				p++;
			p++;
		}
		len = (size_t) (p - start);
		if (!found && len > 9 && strncmp(start, "endpoint=", 9) == 0 &&
			memchr(start, '\\', len) == NULL)
		{
			if (len - 9 >= endpoint_size)
				return false;
			memcpy(endpoint, start + 9, len - 9);
			endpoint[len - 9] = '\0';
			found = true;
			continue;
		}
		if (rlen + (rlen > 0) + len >= rest_size)
			return false;
		if (rlen > 0)
			rest[rlen++] = ' ';
		memcpy(rest + rlen, start, len);
		rlen += len;
		rest[rlen] = '\0';
	}
	return found;
}

/* At most max bytes of s, cut back to the start of a UTF-8 character. */
static size_t
TruncatedLen(const char *s, size_t max)
{
	size_t		len = strlen(s);

	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char) s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

/* Append field type and the first len bytes of text, NUL-terminated. */
static size_t
PutField(char *out, size_t pos, char type, const char *text, size_t len)
{
	out[pos++] = type;
	memcpy(out + pos, text, len);
	pos += len;
	out[pos++] = '\0';
	return pos;
}

/* An ErrorResponse that fits in outlen (see pgwire.h). */
int
PgwBuildError(const char *severity, const char *sqlstate, const char *message,
			  const char *hint, char *out, size_t outlen)
{
	size_t		slen;
	size_t		clen;
	size_t		mlen;
	size_t		hlen = 0;
	size_t		fixed;
	size_t		avail;
	size_t		pos = 5;

	if (outlen < 64)
		return -1;
	if (severity == NULL)
		severity = "FATAL";
	if (sqlstate == NULL)
		sqlstate = "XX000";
	if (message == NULL)
		message = "";
	if (outlen > (size_t) INT32_MAX)
		outlen = (size_t) INT32_MAX;

	slen = TruncatedLen(severity, PGW_MAX_SEVERITY);
	clen = TruncatedLen(sqlstate, PGW_SQLSTATE_LEN);
	/* type, length, S, V, C, M (empty), final NUL: at most 41 bytes */
	fixed = 1 + 4 + 2 * (slen + 2) + (clen + 2) + 2 + 1;
	avail = outlen - fixed;
	mlen = TruncatedLen(message, avail);
	if (hint != NULL && hint[0] != '\0' && avail - mlen > 2)
		hlen = TruncatedLen(hint, avail - mlen - 2);

	out[0] = 'E';
	pos = PutField(out, pos, 'S', severity, slen);
	pos = PutField(out, pos, 'V', severity, slen);
	pos = PutField(out, pos, 'C', sqlstate, clen);
	pos = PutField(out, pos, 'M', message, mlen);
	if (hlen > 0)
		pos = PutField(out, pos, 'H', hint, hlen);
	out[pos++] = '\0';
	PutU32(out + 1, (uint32_t) (pos - 1));
	return (int) pos;
}

/* A CancelRequest for the backend pid with its secret key. */
void
PgwBuildCancel(uint32_t pid, uint32_t key, char out[16])
{
	PutU32(out, 16);
	PutU32(out + 4, PGW_CODE_CANCEL);
	PutU32(out + 8, pid);
	PutU32(out + 12, key);
}

/* Frame one regular message at buf (see pgwire.h). */
int
PgwMessage(const char *buf, size_t len, uint32_t maxlen, char *type, uint32_t *total)
{
	uint32_t	length;

	if (len < 5)
		return 0;
	length = GetU32(buf + 1);
	if (length < 4 || length > maxlen || length == UINT32_MAX)
		return -1;
	if (len < (size_t) length + 1)
		return 0;
	*type = buf[0];
	*total = length + 1;
	return 1;
}

/* The pid and key of a BackendKeyData message of total bytes at buf. */
bool
PgwParseKeyData(const char *buf, uint32_t total, uint32_t *pid, uint32_t *key)
{
	if (total != 13 || buf[0] != 'K' || GetU32(buf + 1) != 12)
		return false;
	*pid = GetU32(buf + 5);
	*key = GetU32(buf + 9);
	return true;
}

/* The SQLSTATE of an ErrorResponse of total bytes at buf. */
bool
PgwErrorCode(const char *buf, uint32_t total, char sqlstate[6])
{
	uint32_t	at = 5;

	if (total < 6 || buf[0] != 'E' || GetU32(buf + 1) != total - 1)
		return false;
	/* fields: a type byte and a string each, a zero byte after the last */
	while (at < total && buf[at] != '\0')
	{
		char		field = buf[at++];
		size_t		len = BoundedLen(buf + at, total - at);

		if (at + len >= total)
			return false;		/* not terminated within the message */
		if (field == 'C' && len == PGW_SQLSTATE_LEN)
		{
			memcpy(sqlstate, buf + at, PGW_SQLSTATE_LEN);
			sqlstate[PGW_SQLSTATE_LEN] = '\0';
			return true;
		}
		at += len + 1;
	}
	return false;
}

/* A BackendKeyData message for pid and key. */
void
PgwBuildKeyData(uint32_t pid, uint32_t key, char out[13])
{
	out[0] = 'K';
	PutU32(out + 1, 12);
	PutU32(out + 5, pid);
	PutU32(out + 9, key);
}

/* Split "<project>[.<env>]" at its first dot; env is "prod" without one. */
bool
PgwSplitRoute(const char *dbname, char *project, size_t project_size,
			  char *env, size_t env_size)
{
	const char *dot;
	const char *e;
	size_t		plen;
	size_t		elen;

	if (dbname == NULL)
		return false;
	dot = strchr(dbname, '.');
	plen = dot ? (size_t) (dot - dbname) : strlen(dbname);
	e = dot ? dot + 1 : "prod";
	elen = strlen(e);
	if (plen == 0 || elen == 0 || plen >= project_size || elen >= env_size)
		return false;
	memcpy(project, dbname, plen);
	project[plen] = '\0';
	memcpy(env, e, elen + 1);
	return true;
}
