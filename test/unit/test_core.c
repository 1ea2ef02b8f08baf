/*
 * test_core.c — unit tests of the pure core (names.c, planner.c,
 * ledgerplan.c, history.c, manifest.c).
 * Built and run by `make unitcheck`; no server needed.
 */
#include "postgres_fe.h"

#include "names.h"
#include "planner.h"
#include "ledgerplan.h"
#include "history.h"
#include "manifest.h"

#include "check.h"

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

#define M(v, c) {v, NULL, c, "select 1", false}

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

/*
 * Lineage: prod (timeline 3) forked at 0/5000000 from a backup (2), which was
 * forked at 0/3000000 from dev (1, no snapshots).
 */
static void
test_history(void)
{
	BpSnapshotInfo s3[] = {{30, 0x5000100, 0x5000200, 0x5000200, 1000}, {31, 0x7000000, 0x7000100, 0x7000100, 2000}};
	BpSnapshotInfo s2[] = {{20, 0x3000100, 0x3000200, 0x3000200, 500}, {21, 0x4000000, 0x4000100, 0x4000100, 600}};
	/* the same prod whose first snapshot is its base: it stands for 0/5000000 on */
	BpSnapshotInfo b3[] = {{30, 0x5000100, 0x5000200, 0x5000000, 1000}, {31, 0x7000000, 0x7000100, 0x7000100, 2000}};
	BpLineageStep lb[] = {{3, 0x5000000, 2, b3}, {2, 0x3000000, 2, s2}};
	BpLineageStep l[] = {{3, 0x5000000, 2, s3}, {2, 0x3000000, 2, s2}, {1, InvalidXLogRecPtr, 0, NULL}};
	XLogRecPtr	head = 0x9000000;
	BpPitChoice c;
	char	   *ranges;
	bool		keep[4];
	BpSnapshotInfo r[] = {{1, 0x100, 0x200, 0x200, 0}, {2, 0x1000, 0x1100, 0x1100, 100},
	{3, 0x2000, 0x2100, 0x2100, 200}, {4, 0x3000, 0x3100, 0x3100, 300}};

	c = BpPlanPointInTime(l, 3, head, 0x9000001);
	CHECK(c.verdict == BP_PIT_FUTURE);
	c = BpPlanPointInTime(l, 3, head, head);
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 1);
	c = BpPlanPointInTime(l, 3, head, 0x6000000);
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 0);
	c = BpPlanPointInTime(l, 3, head, 0x5000200);	/* exactly a snapshot's LSN */
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 0);
	c = BpPlanPointInTime(l, 3, head, 0x5000100);	/* after the fork, before prod's first snapshot */
	CHECK(c.verdict == BP_PIT_OUTSIDE);
	c = BpPlanPointInTime(l, 3, head, 0x4800000);	/* before the fork: the parent has it */
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == 1);
	c = BpPlanPointInTime(l, 3, head, 0x5000000);	/* the fork point itself */
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == 1);
	c = BpPlanPointInTime(l, 3, head, 0x3500000);
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == 0);
	c = BpPlanPointInTime(l, 3, head, 0x3000100);	/* before every snapshot of the lineage */
	CHECK(c.verdict == BP_PIT_OUTSIDE);
	c = BpPlanPointInTime(l, 1, head, 0x4800000);	/* without the parent: nothing */
	CHECK(c.verdict == BP_PIT_OUTSIDE);
	c = BpPlanPointInTime(lb, 2, head, 0x5000100);	/* after the fork, before the base's LSN */
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 0);
	c = BpPlanPointInTime(lb, 2, head, 0x5000000);	/* the fork point: the base too */
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 0);
	c = BpPlanPointInTime(lb, 2, head, 0x4FFFFFF);	/* just before it: the parent */
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == 1);
	c = BpPlanPointInTime(lb, 2, head, 0x7000000);	/* below the second snapshot: the base */
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == 0);
	CHECK(strcmp(BpPitRanges(lb, 1, head), "0/5000000 to 0/9000000 on timeline 3") == 0);
	ranges = BpPitRanges(l, 3, head);
	CHECK(strcmp(ranges, "0/5000200 to 0/9000000 on timeline 3; 0/3000200 to 0/5000000 on timeline 2") == 0);
	CHECK(strcmp(BpPitRanges(&l[2], 1, head), "none") == 0);
	CHECK(BpLineageFind(l, 3, head, 3, 0x8000000) == 0);
	CHECK(BpLineageFind(l, 3, head, 2, 0x4000000) == 1);	/* before prod left it */
	CHECK(BpLineageFind(l, 3, head, 2, 0x5000001) == -1);	/* after: not prod's history */
	CHECK(BpLineageFind(l, 3, head, 1, 0x3000000) == 2);
	CHECK(BpLineageFind(l, 3, head, 9, 0x100) == -1);	/* another lineage */

	/* retention with a zero-length window: "now" is the boundary (µs) */
	CHECK(BpRetentionKeep(r, 4, 250, 0, keep) == 0x2000);	/* keeps the newest before, and after */
	CHECK(!keep[0] && !keep[1] && keep[2] && keep[3]);
	CHECK(BpRetentionKeep(r, 4, 150 - 1000, 0, keep) == 0x100);	/* all inside the window */
	CHECK(keep[0] && keep[1] && keep[2] && keep[3]);
	CHECK(BpRetentionKeep(r, 4, 100000, 0, keep) == 0x3000);	/* all old: the newest stays */
	CHECK(!keep[0] && !keep[1] && !keep[2] && keep[3]);
	CHECK(XLogRecPtrIsInvalid(BpRetentionKeep(r, 0, 100000, 0, keep)));
}

static void
test_manifest(void)
{
	BpKeyValue	settings[] = {{"max_connections", "50"}, {"work_mem", "8MB"}};
	BpKeyValue	labels[] = {{"team", "payments"}};
	BpManifestInput dev = {"shop", "dev", "dev", 3, 7, 55432, "postgres:15",
	"{\"limits\": {\"cpu\": \"1\"}}", labels, 1, settings, 2};
	BpManifestInput prod = dev;
	char	   *d;
	char	   *p;

	CHECK(BpSettingIsSafe("work_mem", "8MB"));
	CHECK(BpSettingIsSafe("auto_explain.log_min_duration", "250ms"));
	CHECK(!BpSettingIsSafe("Work_mem", "8MB"));
	CHECK(!BpSettingIsSafe("work_mem", "8MB' port=1"));
	CHECK(!BpSettingIsSafe("work_mem", "a\nb"));
	CHECK(!BpSettingIsSafe("work-mem", "1"));
	CHECK(!BpSettingIsSafe("", "1"));

	prod.env = "prod";
	prod.kind = "prod";
	prod.timeline_id = 4;
	prod.compute_id = 8;
	prod.port = 55433;
	d = BpRenderManifest(&dev);
	p = BpRenderManifest(&prod);
	CHECK(strcmp(d, BpRenderManifest(&dev)) == 0);	/* deterministic */
	CHECK(strcmp(d, p) != 0);
	CHECK(strstr(d, "\"kind\": \"Deployment\"") && strstr(d, "\"kind\": \"Service\"") &&
		  strstr(d, "\"kind\": \"ConfigMap\""));
	CHECK(strstr(d, "\"name\": \"shop-dev\"") && strstr(p, "\"name\": \"shop-prod\""));
	CHECK(strstr(d, "work_mem = '8MB'\\n") != NULL);
	CHECK(strstr(p, "\"team\": \"payments\"") != NULL);
	/* same process for dev and prod: only identity differs */
	CHECK(strcmp(BpRenderRuntime(&dev), BpRenderRuntime(&prod)) == 0);
	settings[1].value = "16MB";
	CHECK(strcmp(BpRenderRuntime(&dev), BpRenderRuntime(&prod)) == 0);
	CHECK(strstr(BpRenderRuntime(&dev), "16MB") != NULL);
	/* strings are escaped */
	dev.image = "a\"b";
	CHECK(strstr(BpRenderManifest(&dev), "\"image\": \"a\\\"b\"") != NULL);
}

int
main(void)
{
	test_names();
	test_planner();
	test_ledger();
	test_history();
	test_manifest();
	return CheckReport("unit");
}
