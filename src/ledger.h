/*
 * ledger.h — the migration ledger inside each timeline's own database.
 */
#ifndef BP_LEDGER_H
#define BP_LEDGER_H

#include "access/xlogdefs.h"
#include "libpq-fe.h"

#include "driver.h"
#include "ledgerplan.h"
#include "schemaread.h"

typedef struct BpLedger
{
	int			n;
	BpMigration *m;				/* increasing version order */
	char	  **applied_at;		/* text timestamps, parallel to m */
} BpLedger;

typedef struct BpApplied
{
	int			n;
	const char **versions;
	double	   *ms;				/* time each took */
	XLogRecPtr	lsn_before;		/* prod's insert LSN just before applying */
	char	   *gid;			/* BP_APPLY_PREPARE: the prepared transaction */
	char	   *attempts;		/* JSON array: every attempt, retried or not */
	BpSchemaState result;		/* the schema once this commits (the last batch's end) */
} BpApplied;

extern char *BpMigrationChecksum(const BpMigration *m);
extern void EnsureLedger(PGconn *conn);
extern void LedgerRefuse(const BpLedgerPlan *plan, const BpMigration *wanted,
						 const BpLedger *have, const char *env, bool from_dev);
extern void LedgerRead(PGconn *conn, BpLedger *out);
/* How LedgerApply ends its transaction on the compute. */
typedef enum BpApplyEnd
{
	BP_APPLY_ROLLBACK,			/* a rehearsal: leave nothing behind */
	BP_APPLY_PREPARE,			/* commit or abort with the caller's transaction */
	BP_APPLY_PREPARE_ACCEPT		/* that, recording the schema it ends with even if nothing ran */
} BpApplyEnd;

/* What LedgerApply is asked to do. */
typedef struct BpApplyRequest
{
	PGconn	   *conn;			/* the compute, as the project's role */
	const char *env;			/* what to call it in messages */
	const BpMigration *wanted;	/* the ledger to reach */
	int			nwanted;
	bool		from_dev;		/* wanted is dev's: a version it lacks is drift */
	BpApplyEnd	end;
} BpApplyRequest;

extern void LedgerApply(const BpApplyRequest *req, BpApplied *out, BpLedger *after);

#endif
