/*
 * test_core.c — unit tests of the pure core (names.c, planner.c).
 * Built and run by `make unitcheck`; no server needed.
 */
#include "postgres_fe.h"

#include "names.h"
#include "planner.h"

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
	BpProjectState none = {false, NULL};
	BpProjectState pinned = {true, "v1"};
	BpProjectState unpinned = {true, NULL};

	CHECK(BpPlanPromotion(&none, NULL).action == BP_ACTION_FIRST_DEPLOY);
	CHECK(BpPlanPromotion(&none, "v1").action == BP_ACTION_FIRST_DEPLOY);
	CHECK(BpPlanPromotion(&pinned, "v1").action == BP_ACTION_NOOP);
	CHECK(BpPlanPromotion(&pinned, "v2").action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&pinned, NULL).action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&unpinned, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&unpinned, NULL).action == BP_ACTION_REDEPLOY);
	CHECK(BpPlanPromotion(&none, NULL).summary != NULL);
	CHECK(strcmp(BpActionName(BP_ACTION_FIRST_DEPLOY), "first_deploy") == 0);
	CHECK(strcmp(BpActionName(BP_ACTION_REDEPLOY), "redeploy") == 0);
	CHECK(strcmp(BpActionName(BP_ACTION_NOOP), "noop") == 0);
}

int
main(void)
{
	test_names();
	test_planner();
	printf("unit: %d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
