/*
 * ledgerplan.h — which migrations a timeline lacks (pure code).
 */
#ifndef BP_LEDGERPLAN_H
#define BP_LEDGERPLAN_H

/* One migration: a row of a ledger, or an entry asked for. */
typedef struct BpMigration
{
	const char *version;
	const char *name;			/* may be NULL */
	const char *checksum;		/* sha256 of sql (non-transactional: of a marker line and sql) */
	const char *sql;
	bool		nontransactional;	/* "transaction": false: statements one at a time */
} BpMigration;

typedef enum BpLedgerVerdict
{
	BP_LEDGER_OK,
	BP_LEDGER_UNSORTED,			/* wanted versions not strictly increasing */
	BP_LEDGER_EDITED,			/* a wanted version applied with another checksum */
	BP_LEDGER_OUT_OF_ORDER,		/* a pending version sorts before the newest applied */
	BP_LEDGER_MISSING			/* an applied version the wanted list lacks */
} BpLedgerVerdict;

typedef struct BpLedgerPlan
{
	BpLedgerVerdict verdict;
	int			culprit;		/* index into wanted (into applied for MISSING) */
	int			npending;
	int		   *pending;		/* indexes into wanted, in order; caller allocates nwanted */
} BpLedgerPlan;

extern int	BpVersionCmp(const char *a, const char *b);
extern BpLedgerPlan BpPlanLedger(const BpMigration *applied, int napplied,
								 const BpMigration *wanted, int nwanted,
								 bool require_superset, int *pending_buf);
extern const char *BpLedgerVerdictName(BpLedgerVerdict v);

#endif
