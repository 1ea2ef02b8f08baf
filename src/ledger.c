/*
 * ledger.c — the migration ledger inside each timeline's own database.
 *
 * The ledger is a table in the project's database on the compute
 * (branchpromote_ledger.migrations), owned by the project's role, so a fork
 * inherits it with the data.  Migrations run as that role over loopback
 * with its password — never as the compute's superuser — in one remote
 * transaction together with their ledger rows: a failing migration leaves
 * no DDL, no row and no ledger entry behind.  Concurrent runs on one
 * timeline are serialized by an advisory lock taken inside that transaction.
 */
#include "postgres.h"

#include <limits.h>

#include "common/cryptohash.h"
#include "common/sha2.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "guc.h"
#include "ledger.h"
#include "pgconn.h"
#include "process.h"
#include "twophase.h"

#define LEDGER_LOCK_KEY "2042179386"	/* arbitrary: our advisory lock */

/* Lowercase hex sha256 of a string. */
char *
BpSha256Hex(const char *data)
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	if (ctx == NULL || pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, strlen(data)) < 0 ||
		pg_cryptohash_final(ctx, digest, sizeof(digest)) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a sha256 checksum"),
				 errhint("Check the server log for out-of-memory errors.")));
	pg_cryptohash_free(ctx);
	for (int i = 0; i < PG_SHA256_DIGEST_LENGTH; i++)
		snprintf(hex + 2 * i, 3, "%02x", digest[i]);
	return hex;
}

/*
 * Connect to read a ledger: as the project's own role, over the compute's
 * private socket, with pinned settings.  The ledger is the tenant's table
 * in the tenant's database, so it is only ever read with the tenant's own
 * rights: whatever the tenant put there runs as the tenant.
 */
PGconn *
LedgerConnectReader(const BpComputeSpec *spec, const char *project, const char *password)
{
	BpComputeAddr addr;

	BpCompute()->admin_address(spec, &addr);
	return BpConnectAs(&addr, project, password, true, bp_operation_timeout_ms);
}

/*
 * Connect to run migrations: as the project's role with its own defaults
 * (a migration sees the search_path its author expects).
 */
PGconn *
LedgerConnect(const BpComputeSpec *spec, const char *project, const char *password)
{
	BpComputeAddr addr;

	BpCompute()->admin_address(spec, &addr);
	return BpConnectAs(&addr, project, password, false, bp_operation_timeout_ms);
}

static void
Cmd(PGconn *conn, const char *sql)
{
	BpExecCommand(conn, sql, bp_operation_timeout_ms);
}

/* Make the ledger if this timeline has none yet. */
void
EnsureLedger(PGconn *conn)
{
	Cmd(conn, "CREATE SCHEMA IF NOT EXISTS branchpromote_ledger");
	Cmd(conn, "CREATE TABLE IF NOT EXISTS branchpromote_ledger.migrations ("
		"version text PRIMARY KEY, name text, checksum text NOT NULL, "
		"sql text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
		"applied_lsn pg_lsn)");
}

/*
 * Read the ledger (a timeline without one has an empty ledger).  Only a
 * plain table without rules is a ledger: a view, or rules that rewrite its
 * reads, is refused, whatever it would return.  Every name is qualified, so
 * the session's search_path does not matter.
 */
void
LedgerRead(PGconn *conn, BpLedger *out)
{
	PGresult   *res;
	const char *kind;

	res = BpExec(conn, "SELECT c.relkind, c.relhasrules "
				 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
				 "WHERE n.nspname = 'branchpromote_ledger' AND c.relname = 'migrations'",
				 0, NULL, bp_operation_timeout_ms);
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		out->n = 0;
		out->m = palloc0(sizeof(BpMigration));
		out->applied_at = palloc0(sizeof(char *));
		return;
	}
	kind = PQgetvalue(res, 0, 0);
	if (strcmp(kind, "r") != 0 || strcmp(PQgetvalue(res, 0, 1), "t") == 0)
	{
		char	   *what = strcmp(kind, "r") != 0 ?
			psprintf("a relation of kind '%s', not a table", kind) : pstrdup("a table with rules");

		PQclear(res);
		ereport(ERROR,
				(errcode(ERRCODE_WRONG_OBJECT_TYPE),
				 errmsg("the migration ledger branchpromote_ledger.migrations is %s", what),
				 errdetail("The ledger belongs to the project's role; something connected as that role replaced or changed it."),
				 errhint("Put the original table back under its name (see doc/migrations.md), or reset the environment from a healthy timeline.")));
	}
	PQclear(res);
	res = BpExec(conn, "SELECT version, name, checksum, sql, applied_at::pg_catalog.text "
				 "FROM branchpromote_ledger.migrations ORDER BY version COLLATE \"C\"",
				 0, NULL, bp_operation_timeout_ms);
	out->n = PQntuples(res);
	out->m = palloc0(sizeof(BpMigration) * Max(1, out->n));
	out->applied_at = palloc0(sizeof(char *) * Max(1, out->n));
	for (int i = 0; i < out->n; i++)
	{
		out->m[i].version = pstrdup(PQgetvalue(res, i, 0));
		out->m[i].name = PQgetisnull(res, i, 1) ? NULL : pstrdup(PQgetvalue(res, i, 1));
		out->m[i].checksum = pstrdup(PQgetvalue(res, i, 2));
		out->m[i].sql = pstrdup(PQgetvalue(res, i, 3));
		out->applied_at[i] = pstrdup(PQgetvalue(res, i, 4));
	}
	PQclear(res);
}

/* errcontext: which migration failed. */
static void
MigrationContext(void *arg)
{
	errcontext("migration \"%s\"", (const char *) arg);
}

/* Refuse a plan (no-op for BP_LEDGER_OK), saying what to do next. */
void
LedgerRefuse(const BpLedgerPlan *plan, const BpMigration *wanted, const BpLedger *have,
	   const char *env, bool from_dev)
{
	const char *v = plan->verdict == BP_LEDGER_MISSING ?
		have->m[plan->culprit].version : wanted[plan->culprit].version;

	switch (plan->verdict)
	{
		case BP_LEDGER_UNSORTED:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("migration versions must be strictly increasing; \"%s\" follows \"%s\"",
							v, wanted[plan->culprit - 1].version),
					 errhint("Versions compare bytewise: use zero-padded numbers or timestamps, in order.")));
			break;
		case BP_LEDGER_EDITED:
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("migration \"%s\" was already applied to %s with a different checksum", v, env),
					 errhint(from_dev ?
							 "Prod has drifted from dev: restore the migration's original text on dev, or reset prod explicitly." :
							 "Migrations are forward-only: never edit an applied one; add a new version that makes the change.")));
			break;
		case BP_LEDGER_OUT_OF_ORDER:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("pending migration \"%s\" sorts before \"%s\", the newest applied to %s",
							v, have->m[have->n - 1].version, env),
					 errhint("Migrations are forward-only: give it a version after \"%s\".",
							 have->m[have->n - 1].version)));
			break;
		case BP_LEDGER_MISSING:
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("prod has migration \"%s\", which dev's ledger lacks", v),
					 errhint("Prod has drifted from dev: apply that migration to dev first, or reset prod explicitly.")));
			break;
		case BP_LEDGER_OK:
			break;
	}
}

/*
 * Serialize runs on this timeline: our advisory lock, waited for at most
 * migration_lock_timeout.  The project's role can take the same key (it is
 * no secret), so the wait is bounded and the error says who holds it.
 */
static void
LockLedger(PGconn *conn)
{
	TimestampTz deadline = BpDeadline(bp_migration_lock_timeout_ms);
	PGresult   *res;
	char	   *holder;

	for (;;)
	{
		bool		got;

		res = BpExec(conn, "SELECT pg_catalog.pg_try_advisory_xact_lock(" LEDGER_LOCK_KEY ")",
					 0, NULL, bp_operation_timeout_ms);
		got = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (got)
			return;
		if (BpPast(deadline))
			break;
		BpNap(20);
	}
	res = BpExec(conn, "SELECT COALESCE(pg_catalog.string_agg(CASE WHEN l.pid IS NULL "
				 "THEN 'a prepared transaction' ELSE 'process ' || l.pid END, ', '), 'a session that just ended') "
				 "FROM pg_catalog.pg_locks l WHERE l.locktype = 'advisory' AND l.granted "
				 "AND l.classid = 0 AND l.objid = " LEDGER_LOCK_KEY " AND l.objsubid = 1",
				 0, NULL, bp_operation_timeout_ms);
	holder = pstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	ereport(ERROR,
			(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
			 errmsg("the migration ledger is locked by %s on the compute", holder),
			 errdetail("branchpromote serializes migrations with advisory lock " LEDGER_LOCK_KEY "; it was not free within branchpromote.migration_lock_timeout (%d ms).",
					   bp_migration_lock_timeout_ms),
			 errhint("End the session that holds it (pg_terminate_backend on the compute, or finish the prepared transaction), then retry.")));
}

/*
 * A transaction that commits with the caller's needs a free prepared
 * transaction slot on the compute; the project's role can use them up
 * with its own PREPARE TRANSACTION.  Refuse before running anything.
 */
static void
RequirePreparedSlot(PGconn *conn)
{
	PGresult   *res = BpExec(conn, "SELECT count(*), pg_catalog.current_setting('max_prepared_transactions')::int, "
							 "count(*) FILTER (WHERE gid NOT LIKE '" BP_GID_PREFIX "%') "
							 "FROM pg_catalog.pg_prepared_xacts", 0, NULL, bp_operation_timeout_ms);
	int			used = atoi(PQgetvalue(res, 0, 0));
	int			max = atoi(PQgetvalue(res, 0, 1));
	int			foreign = atoi(PQgetvalue(res, 0, 2));

	PQclear(res);
	if (used < max)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
			 errmsg("the compute has no free prepared transaction slot (%d of %d in use, %d not made by branchpromote)",
					used, max, foreign),
			 errdetail("Migrations are prepared on the compute and committed with the calling transaction."),
			 errhint("Finish the project's own prepared transactions on the compute (SELECT gid FROM pg_prepared_xacts; then COMMIT PREPARED or ROLLBACK PREPARED), then retry.")));
}

/*
 * Apply to the connected timeline every wanted migration its ledger lacks,
 * in one transaction with their ledger rows, and end that transaction as
 * asked: rolled back (a rehearsal), or prepared so that it commits or
 * aborts with the caller's (conn then belongs to twophase.c).  from_dev:
 * wanted is dev's ledger (a re-deploy), so a version prod has and dev
 * lacks is drift.  *after is the ledger as it is once this commits.
 */
void
LedgerApply(PGconn *conn, const char *project, const char *env,
			const BpMigration *wanted, int nwanted, bool from_dev,
			BpApplyEnd end, BpApplied *out, BpLedger *after)
{
	BpLedger	have;
	BpLedgerPlan plan;
	int		   *pending = palloc(sizeof(int) * Max(1, nwanted));
	PGresult   *res;

	if (end == BP_APPLY_PREPARE)
		RequirePreparedSlot(conn);
	Cmd(conn, "BEGIN");
	Cmd(conn, psprintf("SET LOCAL lock_timeout = %d", bp_migration_lock_timeout_ms));
	Cmd(conn, psprintf("SET LOCAL statement_timeout = %d", bp_migration_statement_timeout_ms));
	LockLedger(conn);
	EnsureLedger(conn);
	LedgerRead(conn, &have);
	plan = BpPlanLedger(have.m, have.n, wanted, nwanted, from_dev, pending);
	LedgerRefuse(&plan, wanted, &have, env, from_dev);

	res = BpExec(conn, "SELECT pg_catalog.pg_current_wal_insert_lsn()::pg_catalog.text", 0, NULL, bp_operation_timeout_ms);
	out->lsn_before = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 0))));
	PQclear(res);
	out->n = plan.npending;
	out->gid = NULL;
	out->versions = palloc0(sizeof(char *) * Max(1, plan.npending));
	out->ms = palloc0(sizeof(double) * Max(1, plan.npending));
	for (int i = 0; i < plan.npending; i++)
	{
		const BpMigration *m = &wanted[plan.pending[i]];
		const char *params[4] = {m->version, m->name, m->checksum, m->sql};
		instr_time	start;
		instr_time	end;
		ErrorContextCallback cb;

		INSTR_TIME_SET_CURRENT(start);
		cb.callback = MigrationContext;
		cb.arg = unconstify(char *, m->version);
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		/* the compute bounds each statement (statement_timeout, lock_timeout);
		 * a script may hold many, so the wait for all of them is not bounded
		 * here beyond what a cancel of this call does */
		PQclear(BpExecScript(conn, m->sql, INT_MAX));
		error_context_stack = cb.previous;
		PQclear(BpExec(conn, "INSERT INTO branchpromote_ledger.migrations "
					   "(version, name, checksum, sql, applied_lsn) "
					   "VALUES ($1, $2, $3, $4, pg_catalog.pg_current_wal_insert_lsn())",
					   4, params, bp_operation_timeout_ms));
		INSTR_TIME_SET_CURRENT(end);
		INSTR_TIME_SUBTRACT(end, start);
		out->versions[i] = m->version;
		out->ms[i] = INSTR_TIME_GET_MILLISEC(end);
	}
	LedgerRead(conn, after);	/* as it will be once this commits */
	if (end == BP_APPLY_ROLLBACK)
		Cmd(conn, "ROLLBACK");
	else
	{
		char	   *gid = BpTwoPhaseGid();

		Cmd(conn, psprintf("PREPARE TRANSACTION '%s'", gid));
		BpTwoPhaseAdopt(conn, gid);
		out->gid = gid;
	}
}
