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

/* Look the environment up in the catalog (its own transaction). */
void
ProxyLookUp(const char *project, const char *env, ProxyRoute *r)
{
	MemoryContext cxt = CurrentMemoryContext;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	PG_TRY();
	{
		BpProject	p;
		BpComputeRow row;

		CatalogBegin();
		if (!CatalogFindProject(project, false, &p))
		{
			strlcpy(r->sqlstate, "3D000", sizeof(r->sqlstate));
			r->message = psprintf("project \"%s\" does not exist", project);
			r->hint = pstrdup("Check the database name: branchpromote.connection_uri(project, env) gives it.");
		}
		else if (!CatalogGetCompute(p.id, env, &row))
		{
			strlcpy(r->sqlstate, "3D000", sizeof(r->sqlstate));
			if (strcmp(env, "prod") == 0)
			{
				r->message = psprintf("project \"%s\" has no prod environment yet", project);
				r->hint = psprintf("Prod appears at the first promotion; database \"%s.dev\" is dev.", project);
			}
			else
			{
				r->message = psprintf("project \"%s\" has no environment \"%s\"", project, env);
				r->hint = psprintf("Database \"%s\" is prod, \"%s.dev\" is dev, \"%s.<branch>\" a preview or backup branch.",
								   project, project, project);
			}
		}
		else
		{
			r->ok = true;
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
		r->ok = false;
		strlcpy(r->sqlstate, "57P03", sizeof(r->sqlstate));
		r->message = psprintf("the branchpromote catalog could not be read: %s", ed->message);
		r->hint = pstrdup("Try again in a moment; see the control server's log.");
		FreeErrorData(ed);
	}
	PG_END_TRY();
	MemoryContextSwitchTo(cxt);
}
