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

#include "miscadmin.h"
#include "portability/instr_time.h"
#include "utils/builtins.h"
#include "utils/pg_lsn.h"

#include "common/pg_prng.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "digest.h"
#include "guc.h"
#include "ledger.h"
#include "migcheck.h"
#include "pgconn.h"
#include "process.h"
#include "twophase.h"

#define LEDGER_LOCK_KEY "2042179386"	/* arbitrary: our advisory lock */

/*
 * A migration's checksum: sha256 of its SQL; for a non-transactional one,
 * of a marker line and its SQL, so changing how it runs is an edit.
 */
char *
BpMigrationChecksum(const BpMigration *m)
{
	return BpSha256Hex(m->nontransactional ?
					   psprintf("-- branchpromote: transaction false\n%s", m->sql) : m->sql);
}


static void
Cmd(PGconn *conn, const char *sql)
{
	BpExecCommand(conn, sql, bp_operation_timeout_ms);
}

/* Make the ledger and its recorded schema state if this timeline has none yet. */
void
EnsureLedger(PGconn *conn)
{
	PGresult   *res;
	bool		has_transactional = false;
	bool		has_fingerprint = false;

	Cmd(conn, "CREATE SCHEMA IF NOT EXISTS branchpromote_ledger");
	Cmd(conn, "CREATE TABLE IF NOT EXISTS branchpromote_ledger.migrations ("
		"version text PRIMARY KEY, name text, checksum text NOT NULL, "
		"sql text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(), "
		"applied_lsn pg_lsn, transactional boolean NOT NULL DEFAULT true, "
		"schema_fingerprint text)");
	SchemaEnsureTable(conn);
	/*
	 * A ledger made before 0.5.0 or 0.6.0 (a fork inherits it as it was).
	 * Only if a column is missing: ALTER TABLE would hold an ACCESS
	 * EXCLUSIVE lock on the ledger until the run's prepared transaction
	 * commits, and every read of the ledger would wait for it.
	 */
	res = BpExec(conn, "SELECT attname FROM pg_catalog.pg_attribute "
				 "WHERE attrelid = pg_catalog.to_regclass('branchpromote_ledger.migrations') "
				 "AND attname IN ('transactional', 'schema_fingerprint') AND NOT attisdropped",
				 0, NULL, bp_operation_timeout_ms);
	for (int i = 0; i < PQntuples(res); i++)
	{
		has_transactional |= strcmp(PQgetvalue(res, i, 0), "transactional") == 0;
		has_fingerprint |= strcmp(PQgetvalue(res, i, 0), "schema_fingerprint") == 0;
	}
	PQclear(res);
	if (!has_transactional)
		Cmd(conn, "ALTER TABLE branchpromote_ledger.migrations "
			"ADD COLUMN IF NOT EXISTS transactional boolean NOT NULL DEFAULT true");
	if (!has_fingerprint)
		Cmd(conn, "ALTER TABLE branchpromote_ledger.migrations "
			"ADD COLUMN IF NOT EXISTS schema_fingerprint text");
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
	/* a ledger made before 0.5.0 has no column transactional: all were */
	res = BpExec(conn, "SELECT version, name, checksum, sql, applied_at::pg_catalog.text, "
				 "pg_catalog.to_jsonb(m) OPERATOR(pg_catalog.->>) 'transactional' "
				 "FROM branchpromote_ledger.migrations m ORDER BY version COLLATE \"C\"",
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
		out->m[i].nontransactional = !PQgetisnull(res, i, 5) && strcmp(PQgetvalue(res, i, 5), "false") == 0;
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

/* ------------------------------------------------------------ applying */

/* A retry budget shared by every wait of one apply, and the attempts made. */
typedef struct Retry
{
	TimestampTz give_up;
	int			failures;		/* retried so far */
	StringInfoData log;			/* JSON objects, one per attempt */
} Retry;

/*
 * Could waiting cure it: a lock wait on the compute that timed out, a
 * deadlock there?  Only the compute's own ("compute refused: ..."): our
 * ledger lock held by someone else is no passing lock, and fails at once.
 */
static bool
Retryable(const ErrorData *ed)
{
	return (ed->sqlerrcode == ERRCODE_LOCK_NOT_AVAILABLE ||
			ed->sqlerrcode == ERRCODE_T_R_DEADLOCK_DETECTED) &&
		ed->message != NULL && strncmp(ed->message, "compute refused: ", 17) == 0;
}

/*
 * Log an attempt (ed NULL: it succeeded).  After a retryable failure within
 * the budget, sleep a jittered exponential backoff (one lock timeout, at
 * least 100 ms, doubling up to 5 s, each drawn from its upper half) and
 * return true: try again.
 */
static bool
Attempt(Retry *rt, const char *what, const ErrorData *ed, instr_time start)
{
	instr_time	now;
	int			backoff;
	double		cap;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, start);
	appendStringInfo(&rt->log, "%s{\"what\": ", rt->log.len > 1 ? ", " : "");
	escape_json(&rt->log, what);
	appendStringInfo(&rt->log, ", \"result\": \"%s\", \"ms\": %.3f}",
					 ed ? unpack_sql_state(ed->sqlerrcode) : "ok", INSTR_TIME_GET_MILLISEC(now));
	if (ed == NULL || !Retryable(ed) || BpPast(rt->give_up))
		return false;
	rt->failures++;
	/* at least one lock timeout: prod's clients get at least as long as they waited */
	cap = Min(5000.0, (double) Max(100, bp_migration_lock_timeout_ms) *
			  (double) (1 << Min(rt->failures - 1, 6)));
	cap = Max(cap, (double) Max(100, bp_migration_lock_timeout_ms));
	backoff = (int) (cap / 2 + pg_prng_double(&pg_global_prng_state) * cap / 2);
	ereport(LOG,
			(errmsg("branchpromote: %s: %s; retrying in %d ms (attempt %d)", what, ed->message,
					backoff, rt->failures + 1)));
	BpNap(backoff);
	return true;
}

typedef void (*TryFn) (void *arg);

/*
 * Run fn; on an error, return it (copied) instead of raising it, else NULL.
 * Only for work that talks to a compute over libpq and allocates memory:
 * it takes no lock, pin or other resource here that only an abort would
 * release, so no subtransaction is needed (and a subtransaction's abort
 * would close the compute connections, requests.c).  The caller raises
 * anything it does not retry.
 */
static ErrorData *
Try(TryFn fn, void *arg)
{
	MemoryContext cxt = CurrentMemoryContext;
	ErrorData  *volatile ed = NULL;

	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
	}
	PG_END_TRY();
	return ed;
}

/* One apply: what LedgerApply was asked and what it has done so far. */
typedef struct Apply
{
	PGconn	   *conn;
	const char *env;
	const BpMigration *wanted;
	int			nwanted;
	bool		from_dev;
	bool		record_always;	/* BP_APPLY_PREPARE_ACCEPT */
	BpApplied  *out;
	BpLedger   *after;
	Retry		rt;
	int			next_nontx;		/* a batch stopped before wanted[next_nontx]; -1: ran to the end */
	bool		checked;		/* every pending migration parsed and checked */
	bool		committed_any;	/* a commit point passed: the anchor stays */
	const BpMigration *m;		/* the non-transactional one being run */
	BpStatement *st;			/* its statement being run */
} Apply;

static void
Applied(Apply *a, const BpMigration *m, instr_time start)
{
	instr_time	end;

	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	a->out->versions[a->out->n] = m->version;
	a->out->ms[a->out->n] = INSTR_TIME_GET_MILLISEC(end);
	a->out->n++;
}

/* How long one migration's SQL may take, seen from here. */
static int
ScriptTimeout(void)
{
	return bp_migration_statement_timeout_ms > INT_MAX - 1000 ? INT_MAX :
		bp_migration_statement_timeout_ms + 1000;
}

static void
InsertLedgerRow(PGconn *conn, const BpMigration *m)
{
	const char *params[5] = {m->version, m->name, m->checksum, m->sql,
	m->nontransactional ? "false" : "true"};

	PQclear(BpExec(conn, "INSERT INTO branchpromote_ledger.migrations "
				   "(version, name, checksum, sql, applied_lsn, transactional) "
				   "VALUES ($1, $2, $3, $4, pg_catalog.pg_current_wal_insert_lsn(), $5)",
				   5, params, bp_operation_timeout_ms));
}

/*
 * Inside the open transaction: read the schema the migrations from
 * out->versions[first] on leave, record it as the timeline's state and in
 * their ledger rows; it is also the run's result so far.  Our fixed
 * search_path for the rest of the transaction only: the migrations ran.
 */
static void
RecordSchema(Apply *a, int first)
{
	Cmd(a->conn, "SET LOCAL search_path = pg_catalog, pg_temp");
	SchemaRead(a->conn, &a->out->result);
	SchemaRecord(a->conn, &a->out->result, a->out->versions + first, a->out->n - first);
}

/*
 * One transaction on the compute: lock and read the ledger, plan, then run
 * the pending transactional migrations in order with their ledger rows, up
 * to the first non-transactional one (a->next_nontx) or the end.  The
 * first batch checks every pending migration with the parser before it
 * runs any.  The transaction is left open for the caller to end.
 */
static void
Batch(void *arg)
{
	Apply	   *a = arg;
	BpLedger	have;
	BpLedgerPlan plan;
	int		   *pending = palloc(sizeof(int) * Max(1, a->nwanted));
	PGresult   *res;
	int			first = a->out->n;	/* what this batch applies starts here */

	Cmd(a->conn, "BEGIN");
	Cmd(a->conn, psprintf("SET LOCAL lock_timeout = %d", bp_migration_lock_timeout_ms));
	Cmd(a->conn, psprintf("SET LOCAL statement_timeout = %d", bp_migration_statement_timeout_ms));
	/* a statement does not outlive this backend: the compute checks we are there */
	Cmd(a->conn, "SET LOCAL client_connection_check_interval = 1000");
	LockLedger(a->conn);
	EnsureLedger(a->conn);
	LedgerRead(a->conn, &have);
	plan = BpPlanLedger(have.m, have.n, a->wanted, a->nwanted, a->from_dev, pending);
	LedgerRefuse(&plan, a->wanted, &have, a->env, a->from_dev);
	if (!a->checked)
	{
		for (int i = 0; i < plan.npending; i++)
			(void) BpCheckMigration(&a->wanted[plan.pending[i]]);
		a->checked = true;
	}
	if (XLogRecPtrIsInvalid(a->out->lsn_before))
	{
		res = BpExec(a->conn, "SELECT pg_catalog.pg_current_wal_insert_lsn()::pg_catalog.text", 0, NULL,
					 bp_operation_timeout_ms);
		a->out->lsn_before = DatumGetLSN(DirectFunctionCall1(pg_lsn_in, CStringGetDatum(PQgetvalue(res, 0, 0))));
		PQclear(res);
	}
	a->next_nontx = -1;
	for (int i = 0; i < plan.npending; i++)
	{
		const BpMigration *m = &a->wanted[plan.pending[i]];
		instr_time	start;
		ErrorContextCallback cb;

		if (m->nontransactional)
		{
			a->next_nontx = plan.pending[i];
			if (a->out->n > first)
				RecordSchema(a, first);
			return;
		}
		INSTR_TIME_SET_CURRENT(start);
		cb.callback = MigrationContext;
		cb.arg = unconstify(char *, m->version);
		cb.previous = error_context_stack;
		error_context_stack = &cb;
		/*
		 * The compute bounds each statement (statement_timeout, lock_timeout),
		 * but the script may switch those off: the whole script gets
		 * migration_statement_timeout + 1 s here, then it is cancelled there.
		 */
		PQclear(BpExecScript(a->conn, m->sql, ScriptTimeout()));
		error_context_stack = cb.previous;
		InsertLedgerRow(a->conn, m);
		Applied(a, m, start);
	}
	if (a->out->n > first || (a->record_always && a->next_nontx < 0))
		RecordSchema(a, first);
	else
	{
		Cmd(a->conn, "SET LOCAL search_path = pg_catalog, pg_temp");
		SchemaRead(a->conn, &a->out->result);
	}
	LedgerRead(a->conn, a->after);	/* as it will be once this commits */
}

/* What a batch is, for the attempts' log. */
static char *
BatchName(const Apply *a)
{
	return a->out->n == 0 ? pstrdup("the transactional migrations") :
		psprintf("the transactional migrations after \"%s\"", a->out->versions[a->out->n - 1]);
}

/* errcontext: which statement of a non-transactional migration failed. */
typedef struct StatementWhere
{
	const char *version;
	int			k;
	int			n;
} StatementWhere;

static void
StatementContext(void *arg)
{
	StatementWhere *w = arg;

	errcontext("statement %d of %d of non-transactional migration \"%s\"%s", w->k, w->n, w->version,
			   w->k > 1 ? " (the statements before it took effect; the migration is not recorded as applied)" : "");
}

/* The schema-qualified name of a CREATE INDEX CONCURRENTLY's index, or NULL if its table is unknown. */
static char *
CicIndexName(PGconn *conn, const BpStatement *st)
{
	const char *params[2] = {st->cic_table, st->cic_index};
	PGresult   *res = BpExec(conn, "SELECT pg_catalog.format('%I.%I', n.nspname, $2::pg_catalog.text) "
							 "FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace "
							 "WHERE c.oid = pg_catalog.to_regclass($1)", 2, params, bp_operation_timeout_ms);
	char	   *name = PQntuples(res) == 1 ? pstrdup(PQgetvalue(res, 0, 0)) : NULL;

	PQclear(res);
	return name;
}

/* Does that index exist, and is it INVALID? */
static bool
IndexExists(PGconn *conn, const char *qualified, bool *invalid)
{
	const char *params[1] = {qualified};
	PGresult   *res = BpExec(conn, "SELECT NOT i.indisvalid FROM pg_catalog.pg_index i "
							 "WHERE i.indexrelid = pg_catalog.to_regclass($1)", 1, params,
							 bp_operation_timeout_ms);
	bool		exists = PQntuples(res) == 1;

	*invalid = exists && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return exists;
}

static void
RunStatement(void *arg)
{
	Apply	   *a = arg;

	PQclear(BpExecScript(a->conn, a->st->sql, ScriptTimeout()));
}

static void
DropInvalidIndex(void *arg)
{
	Apply	   *a = arg;

	Cmd(a->conn, psprintf("DROP INDEX CONCURRENTLY IF EXISTS %s", a->st->cic_index));
}

/*
 * A non-transactional migration: each statement on its own, outside a
 * transaction block, with the same lock timeout and retries as a batch; a
 * statement that fails for good fails the call, the ones before it staying
 * in effect.  A CREATE INDEX CONCURRENTLY that fails leaves no INVALID
 * index behind: the one it made is dropped (concurrently).  The ledger row
 * goes in after the last statement.  The session stays under our advisory
 * lock, and a compute notices within a second if this backend is gone
 * (client_connection_check_interval), so a crash does not leave a
 * statement running.
 */
static void
NonTransactional(Apply *a, const BpMigration *m)
{
	List	   *stmts = BpCheckMigration(m);
	instr_time	start;
	ListCell   *lc;
	StatementWhere where = {m->version, 0, list_length(stmts)};
	ErrorContextCallback cb;
	PGresult   *res;

	INSTR_TIME_SET_CURRENT(start);
	Cmd(a->conn, psprintf("SET lock_timeout = %d", bp_migration_lock_timeout_ms));
	Cmd(a->conn, psprintf("SET statement_timeout = %d", bp_migration_statement_timeout_ms));
	Cmd(a->conn, "SET client_connection_check_interval = 1000");
	res = BpExec(a->conn, "SELECT pg_catalog.pg_try_advisory_lock(" LEDGER_LOCK_KEY ")", 0, NULL,
				 bp_operation_timeout_ms);
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
				 errmsg("the migration ledger is locked by another session on the compute"),
				 errhint("End the session that holds advisory lock " LEDGER_LOCK_KEY " on the compute, then retry.")));
	PQclear(res);
	cb.callback = StatementContext;
	cb.arg = &where;
	cb.previous = error_context_stack;
	error_context_stack = &cb;
	foreach(lc, stmts)
	{
		BpStatement *st = lfirst(lc);
		char	   *index = NULL;
		bool		existed = false;
		bool		invalid;

		where.k++;
		a->m = m;
		a->st = st;
		if (st->cic_index)
		{
			index = CicIndexName(a->conn, st);
			existed = index == NULL || IndexExists(a->conn, index, &invalid);
		}
		for (;;)
		{
			instr_time	t0;
			ErrorData  *ed;

			INSTR_TIME_SET_CURRENT(t0);
			ed = Try(RunStatement, a);
			if (ed && index && !existed && PQtransactionStatus(a->conn) == PQTRANS_IDLE &&
				IndexExists(a->conn, index, &invalid) && invalid)
			{
				/* the failed build's INVALID index: ours to drop, so a retry starts clean */
				BpStatement drop = *st;
				ErrorData  *dropped;

				drop.cic_index = index;
				a->st = &drop;
				while ((dropped = Try(DropInvalidIndex, a)) != NULL)
				{
					if (!Retryable(dropped) || BpPast(a->rt.give_up))
						ReThrowError(dropped);	/* a cancel, a timeout: not ours to swallow */
					BpNap(200);
				}
				a->st = st;
			}
			if (!Attempt(&a->rt, psprintf("statement %d of \"%s\"", where.k, m->version), ed, t0))
			{
				if (ed)
					ReThrowError(ed);
				break;
			}
		}
	}
	error_context_stack = cb.previous;
	Cmd(a->conn, "BEGIN");
	InsertLedgerRow(a->conn, m);
	Applied(a, m, start);
	RecordSchema(a, a->out->n - 1);
	Cmd(a->conn, "COMMIT");
	Cmd(a->conn, "SELECT pg_catalog.pg_advisory_unlock(" LEDGER_LOCK_KEY ")");
	Cmd(a->conn, "RESET ALL");
}

/*
 * Apply to the connected timeline every wanted migration its ledger lacks,
 * in order, and end as asked: rolled back (a rehearsal), or prepared so
 * that it commits or aborts with the caller's (conn then belongs to
 * twophase.c).  Transactional migrations run in one transaction with their
 * ledger rows; a non-transactional one is a commit point: what comes
 * before it commits on the compute first (in a rehearsal too: the fork is
 * thrown away), it runs statement by statement, and what comes after runs
 * in a new transaction — the last one ends as asked.  A lock wait that
 * times out (migration_lock_timeout) or a deadlock rolls back the batch
 * (or the statement) and retries it after a backoff, for up to
 * migration_retry_for; out->attempts lists every attempt.  from_dev:
 * wanted is dev's ledger (a re-deploy), so a version prod has and dev
 * lacks is drift.  *after is the ledger as it is once this commits.
 */
void
LedgerApply(const BpApplyRequest *req, BpApplied *out, BpLedger *after)
{
	PGconn	   *conn = req->conn;
	int			nwanted = req->nwanted;
	BpApplyEnd	end = req->end;
	Apply		a;

	memset(&a, 0, sizeof(a));
	a.conn = conn;
	a.env = req->env;
	a.wanted = req->wanted;
	a.nwanted = nwanted;
	a.from_dev = req->from_dev;
	a.record_always = end == BP_APPLY_PREPARE_ACCEPT;
	a.out = out;
	a.after = after;
	a.rt.give_up = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), bp_migration_retry_for_ms);
	initStringInfo(&a.rt.log);
	appendStringInfoChar(&a.rt.log, '[');
	memset(out, 0, sizeof(BpApplied));
	out->versions = palloc0(sizeof(char *) * Max(1, nwanted));
	out->ms = palloc0(sizeof(double) * Max(1, nwanted));
	if (end != BP_APPLY_ROLLBACK)
		RequirePreparedSlot(conn);
	for (;;)
	{
		for (;;)
		{
			int			done = out->n;
			char	   *what = BatchName(&a);
			instr_time	t0;
			ErrorData  *ed;

			INSTR_TIME_SET_CURRENT(t0);
			ed = Try(Batch, &a);
			if (ed)
			{
				out->n = done;	/* rolled back with the batch */
				if (!a.committed_any)
					out->lsn_before = InvalidXLogRecPtr;	/* the anchor: taken again */
				if (PQtransactionStatus(conn) == PQTRANS_INTRANS ||
					PQtransactionStatus(conn) == PQTRANS_INERROR)
					Cmd(conn, "ROLLBACK");
			}
			if (!Attempt(&a.rt, what, ed, t0))
			{
				if (ed)
					ReThrowError(ed);
				break;
			}
		}
		if (a.next_nontx < 0)
			break;
		Cmd(conn, "COMMIT");	/* in place before the non-transactional one runs */
		a.committed_any = true;
		NonTransactional(&a, &req->wanted[a.next_nontx]);
	}
	appendStringInfoChar(&a.rt.log, ']');
	out->attempts = a.rt.log.data;
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
