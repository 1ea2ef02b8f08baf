/*
 * planner.h — the promotion planner (pure code).
 */
#ifndef BP_PLANNER_H
#define BP_PLANNER_H

typedef enum BpAction
{
	BP_ACTION_FIRST_DEPLOY,
	BP_ACTION_REDEPLOY,
	BP_ACTION_NOOP
} BpAction;

/* What the planner needs to know about a project. */
typedef struct BpProjectState
{
	bool		has_prod;
	const char *prod_release;	/* release pinned on prod, or NULL */
	int			npending;		/* migrations dev has applied and prod has not */
	bool		drift;			/* prod's ledger disagrees with dev's */
	bool		dev_schema_drift;	/* dev's schema is not what its ledger recorded */
	bool		prod_schema_drift;	/* prod's schema is not what its ledger recorded */
} BpProjectState;

typedef struct BpPlan
{
	BpAction	action;
	const char *summary;		/* one sentence: what promote_branch would do */
} BpPlan;

extern BpPlan BpPlanPromotion(const BpProjectState *state, const char *release);
extern const char *BpActionName(BpAction action);

#endif
