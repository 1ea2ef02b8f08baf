/*
 * schemaread.h — a timeline's actual schema, read from its compute's
 * catalogs, and the state its ledger recorded.
 */
#ifndef BP_SCHEMAREAD_H
#define BP_SCHEMAREAD_H

#include "libpq-fe.h"

#include "driver.h"

#include "schemafp.h"

/* A schema with its canonical text and fingerprint (sha256 of the text). */
typedef struct BpSchemaState
{
	BpSchema   *schema;
	char	   *text;
	char	   *fingerprint;
	int			objects;
	double		ms;				/* time the read took */
} BpSchemaState;

/* A timeline's schema as it is and as its ledger recorded it. */
typedef struct BpSchemaCheck
{
	BpSchemaState actual;
	bool		recorded;		/* its ledger recorded a state (0.6.0 and later) */
	BpSchemaState rec;
	BpSchemaDiff *drift;		/* recorded → actual; NULL when equal or unknown */
} BpSchemaCheck;

extern void SchemaRead(PGconn *conn, BpSchemaState *out);
extern void SchemaCheck(PGconn *conn, BpSchemaCheck *out, bool strict);
extern char *SchemaCheckJson(const BpSchemaCheck *c);
extern char *SchemaRecordedJson(const BpSchemaState *st);
extern bool SchemaCheckQuietly(const BpComputeSpec *spec, const char *project,
							   const char *password, BpSchemaCheck *check);
extern bool SchemaRecorded(PGconn *conn, BpSchemaState *out, bool strict);
extern bool SchemaRecordedIs(PGconn *conn, const BpSchemaState *st);
extern void SchemaRecord(PGconn *conn, const BpSchemaState *st, const char *const *versions,
						 int nversions);
extern void SchemaEnsureTable(PGconn *conn);

#endif
