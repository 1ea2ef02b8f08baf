/*
 * ledgerplan.c — which migrations a timeline lacks, and what refuses them.
 *
 * Pure code.  Versions are compared bytewise (C collation), so they should
 * be zero-padded numbers or timestamps ("0001", "20261124T0930").  Both
 * lists are in increasing version order.  The same plan serves
 * apply_migrations (wanted = the caller's array) and re-deploys (wanted =
 * dev's ledger, applied = prod's, require_superset: prod must not have a
 * version dev lacks).
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "ledgerplan.h"

/* Order of two versions. */
int
BpVersionCmp(const char *a, const char *b)
{
	return strcmp(a, b);
}

static BpLedgerPlan
Verdict(BpLedgerVerdict v, int culprit)
{
	BpLedgerPlan p;

	p.verdict = v;
	p.culprit = culprit;
	p.npending = 0;
	p.pending = NULL;
	return p;
}

/* Plan: the wanted entries applied lacks, or the reason to refuse. */
BpLedgerPlan
BpPlanLedger(const BpMigration *applied, int napplied,
			 const BpMigration *wanted, int nwanted,
			 bool require_superset, int *pending_buf)
{
	BpLedgerPlan plan = Verdict(BP_LEDGER_OK, -1);
	int			a = 0;
	const char *newest = napplied > 0 ? applied[napplied - 1].version : NULL;

	for (int w = 1; w < nwanted; w++)
		if (BpVersionCmp(wanted[w - 1].version, wanted[w].version) >= 0)
			return Verdict(BP_LEDGER_UNSORTED, w);

	/* a re-deploy: every version prod has must be in dev's ledger */
	if (require_superset)
	{
		int			w = 0;

		for (int i = 0; i < napplied; i++)
		{
			while (w < nwanted && BpVersionCmp(wanted[w].version, applied[i].version) < 0)
				w++;
			if (w == nwanted || BpVersionCmp(wanted[w].version, applied[i].version) != 0)
				return Verdict(BP_LEDGER_MISSING, i);
		}
	}

	plan.pending = pending_buf;
	/* merge the two sorted lists */
	for (int w = 0; w < nwanted; w++)
	{
		int			c = 1;

		while (a < napplied && (c = BpVersionCmp(applied[a].version, wanted[w].version)) < 0)
		{
			if (require_superset)
				return Verdict(BP_LEDGER_MISSING, a);
			a++;
		}
		if (a < napplied && c == 0)
		{
			if (strcmp(applied[a].checksum, wanted[w].checksum) != 0)
				return Verdict(BP_LEDGER_EDITED, w);
			a++;
			continue;
		}
		if (newest != NULL && BpVersionCmp(wanted[w].version, newest) < 0)
			return Verdict(BP_LEDGER_OUT_OF_ORDER, w);
		plan.pending[plan.npending++] = w;
	}
	if (require_superset && a < napplied)
		return Verdict(BP_LEDGER_MISSING, a);
	return plan;
}

/* A short name for a verdict. */
const char *
BpLedgerVerdictName(BpLedgerVerdict v)
{
	switch (v)
	{
		case BP_LEDGER_OK:
			return "ok";
		case BP_LEDGER_UNSORTED:
			return "unsorted";
		case BP_LEDGER_EDITED:
			return "edited";
		case BP_LEDGER_OUT_OF_ORDER:
			return "out_of_order";
		case BP_LEDGER_MISSING:
			return "missing";
	}
	return "unknown";
}
