/*
 * planner.c — decides what a promotion would do.
 *
 * Pure code: a function of the project's state and the requested release,
 * with no I/O.  plan_promotion() returns its answer; promote_branch() acts
 * on the same answer, so the two can never disagree.
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "planner.h"

/* Plan a promotion of dev into prod. */
BpPlan
BpPlanPromotion(const BpProjectState *state, const char *release)
{
	BpPlan		plan;

	if (!state->has_prod)
	{
		plan.action = BP_ACTION_FIRST_DEPLOY;
		plan.summary = "fork dev's head into a new durable prod timeline, "
			"point prod at it and start its compute";
	}
	else if (state->drift)
	{
		plan.action = BP_ACTION_REDEPLOY;
		plan.summary = "refused: prod's migration ledger disagrees with dev's (drift)";
	}
	else if (state->dev_schema_drift)
	{
		plan.action = BP_ACTION_REDEPLOY;
		plan.summary = "refused: dev's schema is not what its migrations left (DDL ran outside "
			"apply_migrations; schema drift)";
	}
	else if (state->prod_schema_drift && state->npending == 0)
	{
		plan.action = BP_ACTION_REDEPLOY;
		plan.summary = "refused: prod's schema is not what its migrations left (schema drift), "
			"and no pending migration corrects it";
	}
	else if (state->prod_schema_drift)
	{
		plan.action = BP_ACTION_REDEPLOY;
		plan.summary = "prod's schema has drifted: the re-deploy proceeds only if the pending "
			"migrations leave prod with exactly dev's schema";
	}
	else if (state->npending == 0 && release != NULL && state->prod_release != NULL &&
			 strcmp(release, state->prod_release) == 0)
	{
		plan.action = BP_ACTION_NOOP;
		plan.summary = "the release is already pinned on prod and nothing is pending; nothing to do";
	}
	else
	{
		plan.action = BP_ACTION_REDEPLOY;
		plan.summary = "keep prod's data, anchor prod's current LSN, pin the "
			"release and apply the pending migrations";
	}
	return plan;
}

/* The name of an action as the SQL API spells it. */
const char *
BpActionName(BpAction action)
{
	switch (action)
	{
		case BP_ACTION_FIRST_DEPLOY:
			return "first_deploy";
		case BP_ACTION_REDEPLOY:
			return "redeploy";
		case BP_ACTION_NOOP:
			return "noop";
	}
	return "unknown";
}
