/*
 * test_core.c — unit tests of the pure core (names.c, planner.c).
 * Built and run by `make unitcheck`; no server needed.
 */
#include "postgres_fe.h"

#include "names.h"
#include "planner.h"
#include "ledgerplan.h"

static int	passed = 0;
static int	failed = 0;

#define CHECK(cond) \
	do { \
		if (cond) passed++; \
		else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
	} while (0)

static void
test_names(void)
{
	char		long_ok[64];
	char		too_long[65];

	CHECK(BpNameIsValid("a"));
	CHECK(BpNameIsValid("shop"));
	CHECK(BpNameIsValid("my-app_2"));
	CHECK(!BpNameIsValid(NULL));
	CHECK(!BpNameIsValid(""));
	CHECK(!BpNameIsValid("1shop"));
	CHECK(!BpNameIsValid("_shop"));
	CHECK(!BpNameIsValid("-shop"));
	CHECK(!BpNameIsValid("Shop"));
	CHECK(!BpNameIsValid("sh op"));
	CHECK(!BpNameIsValid("shop;drop"));
	CHECK(!BpNameIsValid("shop/../x"));
	CHECK(!BpNameIsValid("shop\n"));
	CHECK(!BpNameIsValid("caf\xc3\xa9"));
	memset(long_ok, 'a', 63);
	long_ok[63] = '\0';
	CHECK(BpNameIsValid(long_ok));
	memset(too_long, 'a', 64);
	too_long[64] = '\0';
	CHECK(!BpNameIsValid(too_long));

	CHECK(BpNameIsReserved("postgres"));
	CHECK(BpNameIsReserved("template1"));
	CHECK(BpNameIsReserved("pg_shop"));
	CHECK(BpNameIsReserved("public"));
	CHECK(!BpNameIsReserved("shop"));
	CHECK(!BpNameIsReserved("pgshop"));

	CHECK(BpPathIsSafe("/var/lib/branchpromote/data"));
	CHECK(BpPathIsSafe("/"));
	CHECK(!BpPathIsSafe(NULL));
	CHECK(!BpPathIsSafe("relative/path"));
	CHECK(!BpPathIsSafe("/a'b"));
	CHECK(!BpPathIsSafe("/a\"b"));
	CHECK(!BpPathIsSafe("/a\\b"));
	CHECK(!BpPathIsSafe("/a%f"));
	CHECK(!BpPathIsSafe("/a$HOME"));
	CHECK(!BpPathIsSafe("/a`id`"));
	CHECK(!BpPathIsSafe("/a\nb"));
}

static void
test_planner(void)
{
	BpProjectState none = {false, NULL, 0, false};
	BpProjectState pinned = {true, "v1", 0, false};
	BpProjectState unpinned = {true, NULL, 0, false};
	BpProjectState pending = {true, "v1", 2, false};
	BpProjectState drifted = {true, "v1", 0, true};

	CHECK(BpPlanPromotion(&none, NULL).action == BP_ACTION_FIRST_DEPLOY);
	CHECK(BpPlanPromotion(&none, "v1").action == BP_ACTION_FIRST_DEPLOY);
	CHECK(BpPlanPromotion(&pinned, "v1").action == BP_ACTION_NOOP);
	CHECK(BpPlanPromotion(&pinned, "v2").action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&pinned, NULL).action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&unpinned, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&unpinned, NULL).action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&none, NULL).summary != NULL);
	CHECK(BpPlanPromotion(&pending, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&drifted, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(strstr(BpPlanPromotion(&drifted, "v1").summary, "drift") != NULL);
	CHECK(strcmp(BpActionName(BP_ACTION_FIRST_DEPLOY), "first_deploy") == 0);
	CHECK(strcmp(BpActionName(BP_ACTION_REDEPLOY), "redeploy") == 0);
	CHECK(strcmp(BpActionName(BP_ACTION_NOOP), "noop") == 0);
}

#define M(v, c) {v, NULL, c, "select 1"}

static void
test_ledger(void)
{
	BpMigration applied[] = {M("001", "a"), M("002", "b")};
	BpMigration same[] = {M("001", "a"), M("002", "b")};
	BpMigration more[] = {M("001", "a"), M("002", "b"), M("003", "c"), M("004", "d")};
	BpMigration edited[] = {M("001", "a"), M("002", "X"), M("003", "c")};
	BpMigration late[] = {M("001", "a"), M("0015", "z"), M("002", "b")};
	BpMigration unsorted[] = {M("003", "c"), M("002", "b")};
	BpMigration fewer[] = {M("001", "a"), M("003", "c")};
	int			buf[8];
	BpLedgerPlan p;

	p = BpPlanLedger(applied, 2, same, 2, false, buf);
	CHECK(p.verdict == BP_LEDGER_OK && p.npending == 0);
	p = BpPlanLedger(applied, 2, more, 4, false, buf);
	CHECK(p.verdict == BP_LEDGER_OK && p.npending == 2 && p.pending[0] == 2 && p.pending[1] == 3);
	p = BpPlanLedger(NULL, 0, more, 4, false, buf);
	CHECK(p.verdict == BP_LEDGER_OK && p.npending == 4);
	p = BpPlanLedger(applied, 2, edited, 3, false, buf);
	CHECK(p.verdict == BP_LEDGER_EDITED && p.culprit == 1);
	p = BpPlanLedger(applied, 2, late, 3, false, buf);
	CHECK(p.verdict == BP_LEDGER_OUT_OF_ORDER && p.culprit == 1);
	p = BpPlanLedger(applied, 2, unsorted, 2, false, buf);
	CHECK(p.verdict == BP_LEDGER_UNSORTED && p.culprit == 1);
	/* a caller's array may omit applied versions; dev's ledger may not */
	p = BpPlanLedger(applied, 2, fewer, 2, false, buf);
	CHECK(p.verdict == BP_LEDGER_OK && p.npending == 1 && p.pending[0] == 1);
	p = BpPlanLedger(applied, 2, fewer, 2, true, buf);
	CHECK(p.verdict == BP_LEDGER_MISSING && p.culprit == 1);
	p = BpPlanLedger(more, 4, applied, 2, true, buf);
	CHECK(p.verdict == BP_LEDGER_MISSING && p.culprit == 2);
	{
		/* prod got 0004 directly; dev has 0003: drift, not "out of order" */
		BpMigration prod[] = {M("001", "a"), M("004", "d")};
		BpMigration dev[] = {M("001", "a"), M("003", "c")};

		p = BpPlanLedger(prod, 2, dev, 2, true, buf);
		CHECK(p.verdict == BP_LEDGER_MISSING && p.culprit == 1);
		p = BpPlanLedger(prod, 2, dev, 2, false, buf);
		CHECK(p.verdict == BP_LEDGER_OUT_OF_ORDER && p.culprit == 1);
	}
	CHECK(strcmp(BpLedgerVerdictName(BP_LEDGER_EDITED), "edited") == 0);
}

int
main(void)
{
	test_names();
	test_planner();
	test_ledger();
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
