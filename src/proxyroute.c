/*
 * proxyroute.c — where a proxied client goes: its environment's compute,
 * read from the catalog in a transaction of its own.
 */
#include "postgres.h"

#include "access/xact.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

#include "catalog.h"
#include "proxyroute.h"

typedef enum RouteOutcome
{
	ROUTE_FOUND,
	ROUTE_NO_PROJECT,
	ROUTE_NO_ENV,
	ROUTE_CATALOG_ERROR
} RouteOutcome;

/*
 * Look the environment up in the catalog (its own transaction).  The
 * messages are built afterwards, in the caller's memory context: what is
 * palloc'd inside the transaction is gone once it ends.
 */
void
ProxyLookUp(const char *project, const char *env, ProxyRoute *r)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile RouteOutcome outcome = ROUTE_CATALOG_ERROR;

	r->ok = false;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		BpProject	p;
		BpComputeRow row;

		CatalogBegin();
		if (!CatalogFindProject(project, false, &p))
			outcome = ROUTE_NO_PROJECT;
		else if (!CatalogGetCompute(p.id, env, &row))
			outcome = ROUTE_NO_ENV;
		else
		{
			outcome = ROUTE_FOUND;
			r->spec = row.spec;
			r->running = strcmp(row.actual_state, "running") == 0;
		}
		CatalogEnd();
		PopActiveSnapshot();
		CommitTransactionCommand();
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		FlushErrorState();
		AbortCurrentTransaction();
		outcome = ROUTE_CATALOG_ERROR;
		/* the detail goes to the log, not to a client not yet authenticated */
		ereport(LOG,
				(errmsg("branchpromote proxy: reading the catalog for \"%s\": %s",
						project, ed->message)));
		FreeErrorData(ed);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
	strlcpy(r->sqlstate, "3D000", sizeof(r->sqlstate));
	switch (outcome)
	{
		case ROUTE_FOUND:
			r->ok = true;
			break;
		case ROUTE_NO_PROJECT:
			r->message = psprintf("project \"%s\" does not exist", project);
			r->hint = pstrdup("Check the database name: branchpromote.connection_uri(project, env) gives it.");
			break;
		case ROUTE_NO_ENV:
			if (strcmp(env, "prod") == 0)
			{
				r->message = psprintf("project \"%s\" has no prod environment yet", project);
				r->hint = psprintf("Prod appears at the first promotion; database \"%s.dev\" is dev.", project);
			}
			else
			{
				r->message = psprintf("project \"%s\" has no environment \"%s\"", project, env);
				r->hint = psprintf("Database \"%s\" is prod, \"%s.dev\" is dev, \"%s.<branch>\" a preview; a backup branch has no compute: fork a preview of it with branchpromote.fork_branch.",
								   project, project, project);
			}
			break;
		case ROUTE_CATALOG_ERROR:
			strlcpy(r->sqlstate, "57P03", sizeof(r->sqlstate));
			r->message = pstrdup("the branchpromote catalog could not be read");
			r->hint = pstrdup("Try again in a moment; the control server's log says why.");
			break;
	}
}
