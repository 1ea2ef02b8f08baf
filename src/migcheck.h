/*
 * migcheck.h — a migration's statements, checked with PostgreSQL's own
 * parser before anything runs.
 */
#ifndef BP_MIGCHECK_H
#define BP_MIGCHECK_H

#include "nodes/pg_list.h"

#include "ledgerplan.h"

/* One statement of a migration, as a non-transactional run sends it. */
typedef struct BpStatement
{
	char	   *sql;
	/* CREATE INDEX CONCURRENTLY: its table as written, and the index's name */
	char	   *cic_table;
	char	   *cic_index;
} BpStatement;

/*
 * Parse m and refuse what cannot run as it says (ERROR with SQLSTATE and
 * hint): SQL that does not parse; transaction control; COPY to or from the
 * client; in a transactional migration, a statement that cannot run in a
 * transaction block.  Returns its statements (List of BpStatement *).
 */
extern List *BpCheckMigration(const BpMigration *m);

#endif
