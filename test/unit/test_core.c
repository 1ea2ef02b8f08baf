/*
 * test_core.c — unit tests of the pure core (names.c, planner.c,
 * ledgerplan.c, history.c, manifest.c, jsonstr.c, schemafp.c, masking.c).
 * Built and run by `make unitcheck`; no server needed.
 */
#include "postgres_fe.h"

#include "names.h"
#include "planner.h"
#include "ledgerplan.h"
#include "history.h"
#include "manifest.h"
#include "schemafp.h"
#include "masking.h"

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
	BpProjectState none = {false, NULL, 0, false, false, false};
	BpProjectState pinned = {true, "v1", 0, false, false, false};
	BpProjectState unpinned = {true, NULL, 0, false, false, false};
	BpProjectState pending = {true, "v1", 2, false, false, false};
	BpProjectState drifted = {true, "v1", 0, true, false, false};
	BpProjectState dev_schema = {true, "v1", 0, false, true, false};
	BpProjectState prod_schema = {true, "v1", 0, false, false, true};
	BpProjectState prod_schema_pending = {true, "v1", 1, false, false, true};

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
	/* schema drift: never a noop, even with the release pinned and nothing pending */
	CHECK(BpPlanPromotion(&dev_schema, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(strstr(BpPlanPromotion(&dev_schema, "v1").summary, "refused: dev's schema") != NULL);
	CHECK(BpPlanPromotion(&prod_schema, "v1").action == BP_ACTION_REDEPLOY);
	CHECK(strstr(BpPlanPromotion(&prod_schema, "v1").summary, "refused: prod's schema") != NULL);
	CHECK(BpPlanPromotion(&prod_schema_pending, "v2").action == BP_ACTION_REDEPLOY);
	CHECK(strstr(BpPlanPromotion(&prod_schema_pending, "v2").summary, "refused") == NULL);
	CHECK(strstr(BpPlanPromotion(&prod_schema_pending, "v2").summary, "exactly dev's schema") != NULL);
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
	BpLineageStep lb[] = {{3, 0x5000000, 2, b3, 0, 0}, {2, 0x3000000, 2, s2, 0, 0}};
	BpLineageStep l[] = {{3, 0x5000000, 2, s3, 0, 0}, {2, 0x3000000, 2, s2, 0, 0},
	{1, InvalidXLogRecPtr, 0, NULL, 0, 0}};
	/* the same, with history kept by the store: 3 from 0/5800000, 2 from 0/3800000 under a mask at 0/3900000, 1 from 0/1000000 */
	BpLineageStep lo[] = {{3, 0x5000000, 2, s3, 0x5800000, InvalidXLogRecPtr},
	{2, 0x3000000, 2, s2, 0x3800000, 0x3900000}, {1, InvalidXLogRecPtr, 0, NULL, 0x1000000, InvalidXLogRecPtr}};
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
	/* a store that keeps history itself (history_start): no snapshot needed there */
	c = BpPlanPointInTime(lo, 3, head, 0x6000000);
	CHECK(c.verdict == BP_PIT_OK && c.step == 0 && c.snap == -1);
	c = BpPlanPointInTime(lo, 3, head, 0x5000100);	/* below its own history and every snapshot */
	CHECK(c.verdict == BP_PIT_OUTSIDE);
	c = BpPlanPointInTime(lo, 3, head, 0x4800000);	/* before the fork: the parent's own history */
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == -1);
	c = BpPlanPointInTime(lo, 3, head, 0x3850000);	/* below the parent's mask: not its own history */
	CHECK(c.verdict == BP_PIT_OK && c.step == 1 && c.snap == 0);
	c = BpPlanPointInTime(lo, 3, head, 0x2000000);	/* the root's own history, where no snapshot is */
	CHECK(c.verdict == BP_PIT_OK && c.step == 2 && c.snap == -1);
	c = BpPlanPointInTime(lo, 3, head, 0x0800000);	/* older than all of it */
	CHECK(c.verdict == BP_PIT_OUTSIDE);
	ranges = BpPitRanges(lo, 3, head);
	CHECK(strcmp(ranges, "0/5000200 to 0/9000000 on timeline 3; 0/3000200 to 0/5000000 on timeline 2; "
				 "0/1000000 to 0/3000000 on timeline 1") == 0);
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

/* The schema of rows, serialized: the canonical text. */
static char *
SchemaText(const BpSchemaRow *rows, int n)
{
	return BpSchemaSerialize(BpSchemaBuild(rows, n));
}

/* The diff of two row lists. */
static BpSchemaDiff *
RowsDiff(const BpSchemaRow *from, int nfrom, const BpSchemaRow *to, int nto)
{
	return BpSchemaCompare(BpSchemaBuild(from, nfrom), BpSchemaBuild(to, nto));
}

static void
test_schema(void)
{
	BpSchemaRow base[] = {
		{"table", "public.t", "owner", "app"},
		{"table", "public.t", "acl", "app=arwdDxt/app"},
		{"column", "public.t.id", "type", "bigint"},
		{"column", "public.t.id", "not_null", "true"},
		{"column", "public.t.amount", "type", "integer"},
		{"column", "public.t.amount", "default", "0"},
		{"index", "public.t_idx", "definition", "CREATE INDEX t_idx ON public.t USING btree (amount)"},
		{"function", "public.f(integer)", "definition", "CREATE FUNCTION f(integer)\nAS $$\nSELECT 1\n$$\n"},
		{"schema", "public", NULL, NULL},
	};
	int			n = lengthof(base);
	BpSchemaRow shuffled[lengthof(base)];
	BpSchemaRow edited[lengthof(base)];
	BpSchemaRow dup1[] = {
		{"type", "public.e", "labels", "b"},
		{"type", "public.e", "labels", "a"},
		{"type", "public.e", "labels", NULL},
		{"type", "public.e", "owner", "app"},
	};
	BpSchemaRow dup2[] = {
		{"type", "public.e", "owner", "app"},
		{"type", "public.e", "labels", "a"},
		{"type", "public.e", "labels", "b"},
	};
	BpSchemaRow nulls[] = {
		{"view", "public.v", "definition", NULL},
		{"view", "public.v", NULL, NULL},
		{"schema", "s", "acl", NULL},
	};
	BpSchemaRow odd[] = {
		{"column", "public.\"a\tb\".c\\d", "default", "'x\ty'\n'z\\w'"},
		{"column", "public.\"a\tb\".c\\d", "type", ""},
		{"function", "public.g()", "definition", "line1\nline2\n"},
		{"schema", "bare", NULL, NULL},
		{"view", "public.\"q\"\"v\"", "definition", "SELECT '\"quoted\"'\r\x01"},
	};
	BpSchemaRow many_from[] = {{"schema", "public", NULL, NULL}};
	BpSchemaRow many_to[] = {
		{"column", "public.t.a", "type", "text"},
		{"column", "public.t.b", "type", "text"},
		{"column", "public.t.c", "type", "text"},
		{"column", "public.t.d", "type", "text"},
		{"column", "public.t.e", "type", "text"},
		{"schema", "public", NULL, NULL},
	};
	BpSchema   *s;
	BpSchema   *p;
	BpSchemaDiff *d;
	char	   *text;
	char	   *json;

	/* the same objects in another order: the same text, no differences */
	for (int i = 0; i < n; i++)
		shuffled[i] = base[(i * 4 + 3) % n];
	CHECK(strcmp(SchemaText(base, n), SchemaText(shuffled, n)) == 0);
	d = RowsDiff(base, n, shuffled, n);
	CHECK(d->ndeltas == 0);
	CHECK(strcmp(BpSchemaDiffText(d), "no differences\n") == 0);
	CHECK(strcmp(BpSchemaDiffSummary(d, 3), "no differences") == 0);
	CHECK(strcmp(BpSchemaDiffJson(d),
				 "{\"equal\": true, \"added\": [], \"removed\": [], \"changed\": []}") == 0);

	/* sorted by (kind, name), attributes by key; a bare object has one line */
	s = BpSchemaBuild(shuffled, n);
	CHECK(s->nobjects == 6);
	CHECK(strcmp(s->objects[0].kind, "column") == 0 && strcmp(s->objects[0].name, "public.t.amount") == 0);
	CHECK(strcmp(s->objects[1].name, "public.t.id") == 0);
	CHECK(s->objects[1].nattrs == 2 && strcmp(s->objects[1].attrs[0].key, "not_null") == 0 &&
		  strcmp(s->objects[1].attrs[1].key, "type") == 0);
	CHECK(strcmp(s->objects[4].kind, "schema") == 0 && s->objects[4].nattrs == 0);
	CHECK(strcmp(s->objects[5].kind, "table") == 0 && strcmp(s->objects[5].attrs[0].key, "acl") == 0);
	text = BpSchemaSerialize(s);
	CHECK(strncmp(text, "column\tpublic.t.amount\tdefault\t0\ncolumn\tpublic.t.amount\ttype\tinteger\n",
				  strlen("column\tpublic.t.amount\tdefault\t0\ncolumn\tpublic.t.amount\ttype\tinteger\n")) == 0);
	CHECK(strstr(text, "\nschema\tpublic\ntable\tpublic.t\tacl\t") != NULL);
	CHECK(strstr(text, "\tdefinition\tCREATE FUNCTION f(integer)\\nAS $$\\nSELECT 1\\n$$\\n\n") != NULL);

	/* a renamed column: one removed, one added */
	memcpy(edited, base, sizeof(base));
	edited[4].name = edited[5].name = "public.t.total";
	d = RowsDiff(base, n, edited, n);
	CHECK(d->ndeltas == 2);
	CHECK(d->deltas[0].what == BP_SCHEMA_REMOVED && strcmp(d->deltas[0].object->name, "public.t.amount") == 0);
	CHECK(d->deltas[1].what == BP_SCHEMA_ADDED && strcmp(d->deltas[1].object->name, "public.t.total") == 0);
	CHECK(strcmp(BpSchemaDiffText(d),
				 "- column public.t.amount\n"
				 "+ column public.t.total\n"
				 "    default: 0\n"
				 "    type: integer\n") == 0);
	CHECK(strcmp(BpSchemaDiffSummary(d, 5),
				 "column public.t.amount removed, column public.t.total added") == 0);
	json = BpSchemaDiffJson(d);
	CHECK(strstr(json, "\"equal\": false") != NULL);
	CHECK(strstr(json, "\"added\": [{\"kind\": \"column\", \"name\": \"public.t.total\", "
				 "\"attributes\": {\"default\": \"0\", \"type\": \"integer\"}}]") != NULL);
	CHECK(strstr(json, "\"removed\": [{\"kind\": \"column\", \"name\": \"public.t.amount\", "
				 "\"attributes\": {\"default\": \"0\", \"type\": \"integer\"}}]") != NULL);
	CHECK(strstr(json, "\"changed\": []}") != NULL);

	/* a changed default, a dropped NOT NULL, a changed grant */
	memcpy(edited, base, sizeof(base));
	edited[5].value = "42";
	edited[3].key = NULL;		/* public.t.id stays, without not_null */
	edited[1].value = "app=arwdDxt/app,\"reader\"=r/app";
	d = RowsDiff(base, n, edited, n);
	CHECK(d->ndeltas == 3);
	CHECK(d->deltas[0].what == BP_SCHEMA_CHANGED && d->deltas[0].nchanges == 1 &&
		  strcmp(d->deltas[0].changes[0].key, "default") == 0 &&
		  strcmp(d->deltas[0].changes[0].from, "0") == 0 && strcmp(d->deltas[0].changes[0].to, "42") == 0);
	CHECK(d->deltas[1].what == BP_SCHEMA_CHANGED && d->deltas[1].changes[0].to == NULL);
	CHECK(d->deltas[2].what == BP_SCHEMA_CHANGED && strcmp(d->deltas[2].object->kind, "table") == 0 &&
		  strcmp(d->deltas[2].changes[0].key, "acl") == 0);
	text = BpSchemaDiffText(d);
	CHECK(strstr(text, "~ column public.t.amount\n    default: 0 -> 42\n") != NULL);
	CHECK(strstr(text, "~ column public.t.id\n    not_null: true -> (none)\n") != NULL);
	CHECK(strstr(text, "~ table public.t\n    acl: app=arwdDxt/app -> app=arwdDxt/app,\"reader\"=r/app\n") != NULL);
	json = BpSchemaDiffJson(d);
	CHECK(strstr(json, "\"changes\": {\"default\": {\"from\": \"0\", \"to\": \"42\"}}") != NULL);
	CHECK(strstr(json, "\"changes\": {\"not_null\": {\"from\": \"true\", \"to\": null}}") != NULL);
	CHECK(strstr(json, "{\"from\": \"app=arwdDxt/app\", \"to\": \"app=arwdDxt/app,\\\"reader\\\"=r/app\"}") != NULL);
	CHECK(strstr(json, "\"added\": [], \"removed\": []") != NULL);
	CHECK(strcmp(BpSchemaDiffSummary(d, 2),
				 "column public.t.amount changed (default), column public.t.id changed (not_null), and 1 more") == 0);

	/* a changed function body: multi-line blocks */
	memcpy(edited, base, sizeof(base));
	edited[7].value = "CREATE FUNCTION f(integer)\nAS $$\nSELECT 2\n$$\n";
	edited[2].key = "owner";	/* and a column's type becomes its owner */
	d = RowsDiff(base, n, edited, n);
	CHECK(d->ndeltas == 2);
	CHECK(d->deltas[0].nchanges == 2 && strcmp(d->deltas[0].changes[0].key, "owner") == 0 &&
		  d->deltas[0].changes[0].from == NULL && d->deltas[0].changes[1].to == NULL);
	CHECK(d->deltas[1].what == BP_SCHEMA_CHANGED && strcmp(d->deltas[1].object->kind, "function") == 0);
	CHECK(strcmp(BpSchemaDiffSummary(d, 10),
				 "column public.t.id changed (owner, type), function public.f(integer) changed (definition)") == 0);
	CHECK(strcmp(BpSchemaDiffText(d),
				 "~ column public.t.id\n"
				 "    owner: (none) -> bigint\n"
				 "    type: bigint -> (none)\n"
				 "~ function public.f(integer)\n"
				 "    definition (from):\n"
				 "        CREATE FUNCTION f(integer)\n"
				 "        AS $$\n"
				 "        SELECT 1\n"
				 "        $$\n"
				 "    definition (to):\n"
				 "        CREATE FUNCTION f(integer)\n"
				 "        AS $$\n"
				 "        SELECT 2\n"
				 "        $$\n") == 0);
	CHECK(strstr(BpSchemaDiffJson(d), "\"from\": \"CREATE FUNCTION f(integer)\\nAS $$\\nSELECT 1\\n$$\\n\"") != NULL);

	/* duplicate keys merge, sorted, whatever the order; NULL values add nothing */
	s = BpSchemaBuild(dup1, lengthof(dup1));
	CHECK(s->nobjects == 1 && s->objects[0].nattrs == 2 &&
		  strcmp(s->objects[0].attrs[0].key, "labels") == 0 &&
		  strcmp(s->objects[0].attrs[0].value, "a\nb") == 0);
	CHECK(strcmp(SchemaText(dup1, lengthof(dup1)), SchemaText(dup2, lengthof(dup2))) == 0);
	CHECK(RowsDiff(dup1, lengthof(dup1), dup2, lengthof(dup2))->ndeltas == 0);
	/* only NULLs: the objects exist, without attributes */
	CHECK(strcmp(SchemaText(nulls, lengthof(nulls)), "schema\ts\nview\tpublic.v\n") == 0);
	CHECK(strcmp(SchemaText(NULL, 0), "") == 0);

	/* parse inverts serialize, tabs, newlines and backslashes included */
	s = BpSchemaBuild(odd, lengthof(odd));
	text = BpSchemaSerialize(s);
	CHECK(strstr(text, "column\tpublic.\"a\\tb\".c\\\\d\tdefault\t'x\\ty'\\n'z\\\\w'\n") != NULL);
	CHECK(strstr(text, "\ttype\t\n") != NULL);
	p = BpSchemaParse(text);
	CHECK(p != NULL);
	if (p != NULL)
	{
		CHECK(strcmp(BpSchemaSerialize(p), text) == 0);
		CHECK(BpSchemaCompare(s, p)->ndeltas == 0);
		CHECK(p->nobjects == 4 && strcmp(p->objects[0].name, "public.\"a\tb\".c\\d") == 0 &&
			  strcmp(p->objects[0].attrs[0].value, "'x\ty'\n'z\\w'") == 0 &&
			  strcmp(p->objects[0].attrs[1].value, "") == 0 && p->objects[2].nattrs == 0);
	}
	p = BpSchemaParse("");
	CHECK(p != NULL && p->nobjects == 0);
	p = BpSchemaParse(SchemaText(base, n));
	CHECK(p != NULL && strcmp(BpSchemaSerialize(p), SchemaText(base, n)) == 0);
	/* escaping in JSON: quotes, backslashes and control characters */
	json = BpSchemaDiffJson(BpSchemaCompare(BpSchemaBuild(NULL, 0), s));
	CHECK(strstr(json, "\"name\": \"public.\\\"q\\\"\\\"v\\\"\"") != NULL);
	CHECK(strstr(json, "\"definition\": \"SELECT '\\\"quoted\\\"'\\r\\u0001\"") != NULL);
	CHECK(strstr(json, "\"name\": \"public.\\\"a\\tb\\\".c\\\\d\"") != NULL);
	CHECK(strstr(json, "\"attributes\": {}") != NULL);
	/* an added multi-line value is a block */
	CHECK(strstr(BpSchemaDiffText(BpSchemaCompare(BpSchemaBuild(NULL, 0), s)),
				 "+ function public.g()\n    definition:\n        line1\n        line2\n+ schema bare\n") != NULL);

	/* malformed text */
	CHECK(BpSchemaParse("table\n") == NULL);	/* one field */
	CHECK(BpSchemaParse("table\tpublic.t\towner\n") == NULL);	/* three */
	CHECK(BpSchemaParse("table\tpublic.t\towner\tapp\textra\n") == NULL);	/* five */
	CHECK(BpSchemaParse("table\tpublic.t\towner\tapp") == NULL);	/* no newline */
	CHECK(BpSchemaParse("table\tpublic.t\towner\ta\\pp\n") == NULL);	/* unknown escape */
	CHECK(BpSchemaParse("table\tpublic.t\towner\tapp\\\n") == NULL);	/* cut escape */
	CHECK(BpSchemaParse("\n") == NULL);
	CHECK(BpSchemaParse("table\tpublic.u\ntable\tpublic.t\n") == NULL);	/* out of order */
	CHECK(BpSchemaParse("table\tpublic.t\towner\ta\ntable\tpublic.t\towner\tb\n") == NULL);	/* key twice */
	CHECK(BpSchemaParse("table\tpublic.t\ntable\tpublic.t\towner\ta\n") == NULL);	/* bare and attributes */
	CHECK(BpSchemaParse("table\tpublic.t\towner\ta\\\\pp\n") != NULL);

	/* the summary stops at limit */
	d = RowsDiff(many_from, 1, many_to, lengthof(many_to));
	CHECK(d->ndeltas == 5);
	CHECK(strcmp(BpSchemaDiffSummary(d, 2),
				 "column public.t.a added, column public.t.b added, and 3 more") == 0);
	CHECK(strcmp(BpSchemaDiffSummary(d, 5),
				 "column public.t.a added, column public.t.b added, column public.t.c added, "
				 "column public.t.d added, column public.t.e added") == 0);
	CHECK(strcmp(BpSchemaDiffSummary(d, 0), "column public.t.a added, and 4 more") == 0);
	d = RowsDiff(many_to, lengthof(many_to), many_from, 1);
	CHECK(strcmp(BpSchemaDiffSummary(d, 1), "column public.t.a removed, and 4 more") == 0);
	CHECK(strncmp(BpSchemaDiffText(d), "- column public.t.a\n- column public.t.b\n", 40) == 0);
}

static void
test_masking(void)
{
	BpMaskKind	k;
	const char *hint;
	char	   *sql;
	BpMaskRule	rules[2] = {
		{"public", "customers", "email", BP_MASK_HASH, NULL},
		{"public", "customers", "note", BP_MASK_EXPRESSION, "left(note, 1) || E'\t\"'"},
	};
	char	   *canon;

	/* kinds */
	CHECK(BpMaskParseKind("hash", &k) && k == BP_MASK_HASH);
	CHECK(BpMaskParseKind("expression", &k) && k == BP_MASK_EXPRESSION);
	CHECK(!BpMaskParseKind("Hash", &k));
	CHECK(!BpMaskParseKind("", &k));
	CHECK(!BpMaskParseKind(NULL, &k));
	CHECK_STR(BpMaskKindName(BP_MASK_PARTIAL), "partial");

	/* arguments and types */
	CHECK(BpMaskCheck(BP_MASK_VALUE, "x", BP_MASK_TYPE_OTHER, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_VALUE, NULL, BP_MASK_TYPE_TEXT, &hint) != NULL && hint != NULL);
	CHECK(BpMaskCheck(BP_MASK_NULL, NULL, BP_MASK_TYPE_OTHER, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_NULL, "x", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_HASH, NULL, BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_HASH, NULL, BP_MASK_TYPE_UUID, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_HASH, NULL, BP_MASK_TYPE_OTHER, &hint) != NULL && strstr(hint, "expression"));
	CHECK(BpMaskCheck(BP_MASK_HASH, "sha1", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "0,4", BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "2,2", BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "4", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "0,4,1", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "-1,4", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "0, 4", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "1001,0", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, NULL, BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_PARTIAL, "0,4", BP_MASK_TYPE_UUID, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_FAKE, "email", BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_FAKE, "company", BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_FAKE, "ssn", BP_MASK_TYPE_TEXT, &hint) != NULL && strstr(hint, "phone"));
	CHECK(BpMaskCheck(BP_MASK_FAKE, "name", BP_MASK_TYPE_OTHER, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, "id * 2", BP_MASK_TYPE_OTHER, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, " \t\n", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, NULL, BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, "$1", BP_MASK_TYPE_TEXT, &hint) != NULL);	/* the seed */
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, "md5($1 || id)", BP_MASK_TYPE_TEXT, &hint) != NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, "$$x$$ || id", BP_MASK_TYPE_TEXT, &hint) == NULL);
	CHECK(BpMaskCheck(BP_MASK_EXPRESSION, "'US$' || id", BP_MASK_TYPE_TEXT, &hint) == NULL);

	/* SQL: the seed is $1, never inlined; NULL stays NULL; literals escaped */
	sql = BpMaskSql(BP_MASK_HASH, NULL, BP_MASK_TYPE_TEXT, "\"e mail\"");
	CHECK(strstr(sql, "$1::pg_catalog.text") != NULL);
	CHECK(strncmp(sql, "CASE WHEN \"e mail\" IS NULL THEN NULL ", strlen("CASE WHEN \"e mail\" IS NULL THEN NULL ")) == 0);
	CHECK(strstr(sql, "'@example.com'") != NULL);
	sql = BpMaskSql(BP_MASK_HASH, NULL, BP_MASK_TYPE_UUID, "id");
	CHECK(strstr(sql, "AS pg_catalog.uuid") != NULL && strstr(sql, "example") == NULL);
	CHECK_STR(BpMaskSql(BP_MASK_VALUE, "it's", BP_MASK_TYPE_TEXT, "c"), "'it''s'");
	CHECK_STR(BpMaskSql(BP_MASK_VALUE, "a\\b", BP_MASK_TYPE_TEXT, "c"), "'a\\b'");
	CHECK_STR(BpMaskSql(BP_MASK_NULL, NULL, BP_MASK_TYPE_OTHER, "c"), "NULL");
	CHECK_STR(BpMaskSql(BP_MASK_EXPRESSION, "id * 2", BP_MASK_TYPE_OTHER, "c"), "(id * 2)");
	sql = BpMaskSql(BP_MASK_PARTIAL, "1,4", BP_MASK_TYPE_TEXT, "card");
	CHECK(strstr(sql, "<= 5 THEN") != NULL);
	CHECK(strstr(sql, "pg_catalog.left((card)::pg_catalog.text, 1)") != NULL);
	CHECK(strstr(sql, "pg_catalog.right((card)::pg_catalog.text, 4)") != NULL);
	CHECK(strstr(sql, "$1") == NULL);
	sql = BpMaskSql(BP_MASK_FAKE, "email", BP_MASK_TYPE_TEXT, "mail");
	CHECK(strstr(sql, "@example.com") != NULL && strstr(sql, "$1") != NULL);
	sql = BpMaskSql(BP_MASK_FAKE, "phone", BP_MASK_TYPE_TEXT, "tel");
	CHECK(strstr(sql, "'+1-555-'") != NULL);

	/* canonical text: one JSON array per rule, arguments escaped */
	canon = BpMaskCanonical(rules, 2);
	CHECK_STR(canon, "[\"public\", \"customers\", \"email\", \"hash\", null]\n"
			  "[\"public\", \"customers\", \"note\", \"expression\", \"left(note, 1) || E'\\t\\\"'\"]\n");
	CHECK_STR(BpMaskCanonical(rules, 0), "");
}

int
main(void)
{
	test_names();
	test_planner();
	test_ledger();
	test_history();
	test_manifest();
	test_schema();
	test_masking();
	return CheckReport("unit");
}
