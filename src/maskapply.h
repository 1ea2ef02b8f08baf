/*
 * maskapply.h — masking rules against a compute: checked on dev, applied
 * to a closed fork.
 */
#ifndef BP_MASKAPPLY_H
#define BP_MASKAPPLY_H

#include "lib/stringinfo.h"
#include "libpq-fe.h"
#include "nodes/pg_list.h"

#include "masking.h"

typedef struct BpMaskOutcome
{
	List	   *tables;			/* quoted names of the tables masked */
	int			views;			/* materialized views refreshed */
	int			keys;			/* foreign keys on masked columns, dropped and added again */
	int64		rows;			/* rows updated */
	StringInfoData skipped;		/* JSON array: rules whose table or column the fork lacks */
} BpMaskOutcome;

/* Does the rule fit dev's schema (conn: as the project's role)?  Error if not. */
extern void MaskCheckRule(PGconn *conn, const BpMaskRule *rule, const char *seed);

/* Mask a fork: the rules as the project's role (conn), then the hygiene as its superuser (admin). */
extern void MaskApply(PGconn *conn, PGconn *admin, const BpMaskRule *rules, int n, const char *seed,
					  BpMaskOutcome *out);

#endif
