/*
 * pgwire.h — the parts of the PostgreSQL wire protocol the proxy reads and
 * writes (pure code: no server state, no allocation; fuzzed and unit tested).
 *
 * A client's first packet has no type byte: a 4-byte length (itself
 * included) and a 4-byte code, which is a protocol version (StartupMessage)
 * or one of the request codes below.  Every later message, both ways, is a
 * type byte and a 4-byte length (itself included, type byte not).
 */
#ifndef BP_PGWIRE_H
#define BP_PGWIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The server's own limit on a startup packet (MAX_STARTUP_PACKET_LENGTH). */
#define PGW_MAX_STARTUP 10000
/* More parameters than this in one StartupMessage: refused as malformed. */
#define PGW_MAX_PARAMS 64

#define PGW_CODE_CANCEL 80877102
#define PGW_CODE_SSL 80877103
#define PGW_CODE_GSSENC 80877104

typedef enum PgwKind
{
	PGW_INCOMPLETE,				/* a valid prefix: read more bytes */
	PGW_BAD,					/* malformed: answer with an error, close */
	PGW_SSL_REQUEST,
	PGW_GSSENC_REQUEST,
	PGW_CANCEL,
	PGW_STARTUP
} PgwKind;

typedef struct PgwStartup
{
	PgwKind		kind;
	uint32_t	length;			/* bytes of the packet (all of it is consumed) */
	uint32_t	protocol;		/* PGW_STARTUP: major << 16 | minor */
	int			nparams;
	const char *names[PGW_MAX_PARAMS];	/* point into the parsed buffer */
	const char *values[PGW_MAX_PARAMS];
	uint32_t	cancel_pid;		/* PGW_CANCEL */
	uint32_t	cancel_key;
	const char *error;			/* PGW_BAD: what is wrong (a constant string) */
	bool		silent;			/* PGW_BAD: the server closes without a word (a length it cannot trust) */
} PgwStartup;

/*
 * Parse the first len bytes a client sent on a new connection.  The
 * parameters point into buf, which must outlive out.  A StartupMessage must
 * be protocol 3.x, have NUL-terminated name/value pairs ending in an empty
 * name, and name a user.  Never reads beyond buf[len - 1], nor beyond the
 * packet's own length: bytes after it (out->length) are the caller's.
 */
extern PgwKind PgwParseStartup(const char *buf, size_t len, PgwStartup *out);

/* A parameter's value, or NULL; the last one if repeated (as the server). */
extern const char *PgwParam(const PgwStartup *s, const char *name);

/*
 * The same StartupMessage with "database" set to database (every copy of it
 * if repeated; added last if absent; every other parameter kept in order).
 * Returns the packet's length, or -1 if s is not a PGW_STARTUP or the packet
 * does not fit in outlen or in PGW_MAX_STARTUP (the server would refuse it).
 */
extern int	PgwBuildStartup(const PgwStartup *s, const char *database, char *out, size_t outlen);
/* The same, and "options" replaced by options (NULL: kept; "": dropped). */
extern int	PgwBuildStartupWith(const PgwStartup *s, const char *database, const char *options,
								char *out, size_t outlen);

/*
 * Routing that keeps the database name true (as Neon's): a token
 * "endpoint=<project>.<env>" in the options parameter (libpq's
 * options=endpoint%3D...).  true if there is one: *endpoint is its value,
 * *rest the options without it (tokens joined by one space).  false if
 * none, or if either does not fit its buffer.
 */
extern bool PgwEndpoint(const char *options, char *endpoint, size_t endpoint_size,
						char *rest, size_t rest_size);

/*
 * An ErrorResponse ('E') with severity (FATAL, ERROR), SQLSTATE, message and
 * hint (NULL: none).  Truncates long texts to fit (the message first, at a
 * UTF-8 character boundary; severity at 10 bytes, SQLSTATE at 5); returns
 * the bytes written (type byte included), or -1 if outlen is below 64.
 */
extern int	PgwBuildError(const char *severity, const char *sqlstate, const char *message,
						  const char *hint, char *out, size_t outlen);

/* A CancelRequest packet (16 bytes) into out. */
extern void PgwBuildCancel(uint32_t pid, uint32_t key, char out[16]);

/*
 * A message of the regular protocol at buf: 1 when a whole one is there
 * (*type and *total set: type byte + length), 0 when more bytes are needed,
 * -1 when its length is impossible (below 4 or above maxlen).  maxlen bounds
 * the length field, which excludes the type byte: *total can be maxlen + 1.
 */
extern int	PgwMessage(const char *buf, size_t len, uint32_t maxlen, char *type, uint32_t *total);

/*
 * A BackendKeyData message ('K', 12 bytes after the type) at buf, whose
 * total length is total (all of it in buf): its pid and key.  false if it is
 * not one, or a longer key than protocol 3.0's 4 bytes.
 */
extern bool PgwParseKeyData(const char *buf, uint32_t total, uint32_t *pid, uint32_t *key);

/*
 * The SQLSTATE (5 characters) of an ErrorResponse ('E') whose total length
 * is total (all of it in buf).  false if it is not one, or it has no
 * well-formed code field.
 */
extern bool PgwErrorCode(const char *buf, uint32_t total, char sqlstate[6]);

/* A BackendKeyData message (13 bytes) into out. */
extern void PgwBuildKeyData(uint32_t pid, uint32_t key, char out[13]);

/*
 * Route a database name: "<project>" is prod, "<project>.<env>" is that
 * environment (dev, a preview or backup branch).  false if either part is
 * empty or longer than its buffer (size includes the NUL).
 */
extern bool PgwSplitRoute(const char *dbname, char *project, size_t project_size,
						  char *env, size_t env_size);

#endif
