/*
 * migcheck.c — a migration's statements, checked with PostgreSQL's own
 * parser (raw_parser, grammar only: no catalog is read, nothing runs)
 * before anything is sent to a compute.
 *
 * A transactional migration runs in one transaction with its ledger row,
 * so it must not end that transaction (COMMIT, ROLLBACK, PREPARE
 * TRANSACTION, ...) nor contain a statement PostgreSQL refuses inside a
 * transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...): those belong
 * in a migration marked "transaction": false, whose statements run one at
 * a time.  COPY to or from the client has no client to talk to here.
 */
#include "postgres.h"

#include "commands/defrem.h"
#include "mb/pg_wchar.h"
#include "nodes/parsenodes.h"
#include "parser/parser.h"
#include "tcop/cmdtag.h"
#include "tcop/utility.h"
#include "utils/builtins.h"

#include "migcheck.h"

#define NONTX_HINT "Put it in a migration of its own marked \"transaction\": false: its statements then run one at a time, outside a transaction block."

/* A statement's text (its location and length in the migration), without leading blanks. */
static char *
StatementText(const char *sql, const RawStmt *rs)
{
	const char *start = sql + rs->stmt_location;
	int			len = rs->stmt_len > 0 ? rs->stmt_len : (int) strlen(start);

	while (len > 0 && (*start == ' ' || *start == '\n' || *start == '\t' || *start == '\r'))
	{
		start++;
		len--;
	}
	return pnstrdup(start, len);
}

/* The statement, shortened for a hint. */
static char *
Shown(const char *text)
{
	char	   *s = pstrdup(text);
	int			len;

	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	len = pg_mbcliplen(s, strlen(s), 60);
	for (int i = 0; i < len; i++)
		if (s[i] == '\n' || s[i] == '\r' || s[i] == '\t')
			s[i] = ' ';
	return psprintf("%.*s%s", len, s, s[len] ? "..." : "");
}

/* Does a REINDEX run CONCURRENTLY, or over a whole database or system? */
static bool
ReindexOutsideOnly(const ReindexStmt *stmt)
{
	ListCell   *lc;

	if (stmt->kind == REINDEX_OBJECT_SYSTEM || stmt->kind == REINDEX_OBJECT_DATABASE)
		return true;
	foreach(lc, stmt->params)
	{
		DefElem    *opt = (DefElem *) lfirst(lc);

		if (strcmp(opt->defname, "concurrently") == 0 && defGetBoolean(opt))
			return true;
	}
	return false;
}

/* Is it one PostgreSQL refuses inside a transaction block (PreventInTransactionBlock)? */
static bool
CannotRunInTransaction(const Node *n)
{
	switch (nodeTag(n))
	{
		case T_IndexStmt:
			return ((const IndexStmt *) n)->concurrent;
		case T_DropStmt:
			return ((const DropStmt *) n)->concurrent;
		case T_ReindexStmt:
			return ReindexOutsideOnly((const ReindexStmt *) n);
		case T_VacuumStmt:
			return ((const VacuumStmt *) n)->is_vacuumcmd;
		case T_ClusterStmt:
			return ((const ClusterStmt *) n)->relation == NULL;
		case T_DiscardStmt:
			return ((const DiscardStmt *) n)->target == DISCARD_ALL;
		case T_AlterTableStmt:
			{
				ListCell   *lc;

				foreach(lc, ((const AlterTableStmt *) n)->cmds)
				{
					AlterTableCmd *cmd = lfirst(lc);

					if (cmd->subtype == AT_DetachPartition &&
						((PartitionCmd *) cmd->def)->concurrent)
						return true;
				}
				return false;
			}
		case T_CreatedbStmt:
		case T_DropdbStmt:
		case T_CreateTableSpaceStmt:
		case T_DropTableSpaceStmt:
		case T_AlterSystemStmt:
		case T_CreateSubscriptionStmt:
		case T_AlterSubscriptionStmt:
		case T_DropSubscriptionStmt:
			return true;
		default:
			return false;
	}
}

/* Does a transaction statement end (or leave) the transaction it runs in? */
static bool
EndsTransaction(const TransactionStmt *t)
{
	return t->kind != TRANS_STMT_SAVEPOINT && t->kind != TRANS_STMT_RELEASE &&
		t->kind != TRANS_STMT_ROLLBACK_TO;
}

/* raw_parser, its syntax error restated for the migration (line and column). */
static List *
Parse(const BpMigration *m)
{
	MemoryContext cxt = CurrentMemoryContext;
	List	   *volatile parsed = NIL;

	PG_TRY();
	{
		parsed = raw_parser(m->sql, RAW_PARSE_DEFAULT);
	}
	PG_CATCH();
	{
		ErrorData  *ed;
		int			line = 1;
		int			col = 1;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		/* cursorpos counts characters from 1 */
		for (int i = 0, chars = 1; m->sql[i] && chars < ed->cursorpos; i += pg_mblen(m->sql + i), chars++)
		{
			if (m->sql[i] == '\n')
			{
				line++;
				col = 1;
			}
			else
				col++;
		}
		ereport(ERROR,
				(errcode(ed->sqlerrcode),
				 errmsg("migration \"%s\" does not parse: %s", m->version, ed->message),
				 ed->cursorpos > 0 ? errdetail("At line %d, column %d of its SQL.", line, col) : 0,
				 errhint("Nothing was run. Fix the SQL and call again; PostgreSQL's own parser checks every migration before anything runs.")));
	}
	PG_END_TRY();
	return parsed;
}

List *
BpCheckMigration(const BpMigration *m)
{
	List	   *out = NIL;
	ListCell   *lc;

	foreach(lc, Parse(m))
	{
		RawStmt    *rs = lfirst_node(RawStmt, lc);
		Node	   *n = rs->stmt;
		char	   *text = StatementText(m->sql, rs);
		const char *tag = GetCommandTagName(CreateCommandTag(n));
		BpStatement *st;

		if (IsA(n, TransactionStmt) &&
			(m->nontransactional || EndsTransaction((TransactionStmt *) n)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
					 errmsg("migration \"%s\" contains transaction control (%s)", m->version, tag),
					 errdetail("The statement: %s", Shown(text)),
					 errhint(m->nontransactional ?
							 "A migration marked \"transaction\": false runs each statement on its own; remove \"%s\"." :
							 "A migration runs in one transaction with its ledger row, which commits with the call; remove \"%s\" (or split the migration).",
							 tag)));
		if (IsA(n, CopyStmt) && ((CopyStmt *) n)->filename == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("migration \"%s\" uses COPY %s the client", m->version,
							((CopyStmt *) n)->is_from ? "from" : "to"),
					 errdetail("The statement: %s", Shown(text)),
					 errhint("A migration has no client to stream data to or from: load data with INSERT ... SELECT or INSERT ... VALUES instead.")));
		if (!m->nontransactional && CannotRunInTransaction(n))
			ereport(ERROR,
					(errcode(ERRCODE_ACTIVE_SQL_TRANSACTION),
					 errmsg("migration \"%s\": %s cannot run inside a transaction block", m->version, tag),
					 errdetail("The statement: %s", Shown(text)),
					 errhint(NONTX_HINT)));
		st = palloc0(sizeof(BpStatement));
		st->sql = text;
		if (IsA(n, IndexStmt) && ((IndexStmt *) n)->concurrent)
		{
			IndexStmt  *ix = (IndexStmt *) n;

			if (ix->idxname == NULL)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("migration \"%s\": CREATE INDEX CONCURRENTLY needs an index name", m->version),
						 errdetail("The statement: %s", Shown(text)),
						 errhint("Name the index (CREATE INDEX CONCURRENTLY name ON ...): if the build fails part way, branchpromote drops the INVALID index it left, by that name.")));
			st->cic_index = pstrdup(ix->idxname);
			st->cic_table = ix->relation->schemaname ?
				psprintf("%s.%s", quote_identifier(ix->relation->schemaname),
						 quote_identifier(ix->relation->relname)) :
				pstrdup(quote_identifier(ix->relation->relname));
		}
		out = lappend(out, st);
	}
	return out;					/* NIL for SQL of comments only: nothing to run */
}
