/*
 * local_defrag.c — the local storage driver's defragment: a timeline's
 * fragmented relation files rewritten contiguously (defrag.c), by the
 * compute OS user through branchpromote_helper when computes run as one,
 * else in this process.  The extents before and after are counted here,
 * read-only, either way.
 */
#include "postgres.h"

#include "miscadmin.h"
#include "portability/instr_time.h"

#include "defrag.h"
#include "driver.h"
#include "guc.h"
#include "local.h"
#include "localuser.h"

/* Count pgdata's relation files and extents (read-only). */
static void
Count(const char *pgdata, uint64 min_extents, uint64 *files, uint64 *extents, uint64 *over)
{
	BpDefragStats st;
	char		err[512];

	if (BpDefragTree(pgdata, min_extents, 1, NULL, &st, err, sizeof(err)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_IO_ERROR),
				 errmsg("could not count the extents of \"%s\": %s", pgdata, err),
				 errhint("The periodic snapshot is taken anyway; branchpromote.defragment_extents = 0 turns the rewrite off.")));
	if (files)
		*files = st.files;
	*extents = st.extents;
	*over = st.over;
}

bool
LocalDefragment(int64 timeline_id, uint64 min_extents, bool running, BpDefragReport *report)
{
	char	   *pgdata = LocalPgdata(timeline_id);
	instr_time	start;
	instr_time	end;

	memset(report, 0, sizeof(*report));
	if (running && !BpDefragOnlineSafe())
		return false;			/* a write could go unseen: see defrag.c */
	INSTR_TIME_SET_CURRENT(start);
	Count(pgdata, min_extents, &report->files, &report->extents_before, &report->over_before);
	if (report->over_before > 0)
	{
		if (LocalSeparateUser())
			LocalHelperWithin("defrag", pgdata, psprintf(UINT64_FORMAT, min_extents),
							  bp_operation_timeout_ms);
		else
		{
			BpDefragStats st;
			char		err[512];
			int			rc = BpDefragTree(pgdata, min_extents, 0, &InterruptPending, &st,
										  err, sizeof(err));

			CHECK_FOR_INTERRUPTS();
			if (rc != 0)
				ereport(ERROR,
						(errcode(ERRCODE_IO_ERROR),
						 errmsg("could not defragment \"%s\": %s", pgdata, err),
						 errhint("The periodic snapshot is taken anyway; branchpromote.defragment_extents = 0 turns the rewrite off.")));
		}
	}
	if (report->over_before == 0)
	{
		report->extents_after = report->extents_before;
		report->over_after = 0;
	}
	else
		Count(pgdata, min_extents, NULL, &report->extents_after, &report->over_after);
	INSTR_TIME_SET_CURRENT(end);
	INSTR_TIME_SUBTRACT(end, start);
	report->ms = INSTR_TIME_GET_MILLISEC(end);
	return true;
}
