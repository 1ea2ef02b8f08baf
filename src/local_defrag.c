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

	if (BpDefragTree(pgdata, min_extents, 1, 0, NULL, &st, err, sizeof(err)) != 0)
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
	{
		/* a write could go unseen: see defrag.c */
		report->why_not = "this kernel has no multigrain timestamps (Linux 6.13+), so a running server's files are not rewritten";
		return false;
	}
	if (!BpDefragSupported(pgdata))
	{
		report->why_not = "the data root is not on XFS";
		return false;
	}
	INSTR_TIME_SET_CURRENT(start);
	Count(pgdata, min_extents, &report->files, &report->extents_before, &report->over_before);
	if (report->over_before > 0 && LocalSeparateUser())
		LocalHelperWithin("defrag", pgdata, psprintf(UINT64_FORMAT, min_extents),
						  psprintf("%d", bp_operation_timeout_ms),
						  bp_operation_timeout_ms + 10000);	/* its own limit first */
	else if (report->over_before > 0)
	{
		BpDefragStats st;
		char		err[512];
		int			rc;

		/* stopped only by a shutdown (the job's SIGTERM) or the time limit */
		rc = BpDefragTree(pgdata, min_extents, 0, bp_operation_timeout_ms, &ProcDiePending,
						  &st, err, sizeof(err));
		CHECK_FOR_INTERRUPTS();
		if (rc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_IO_ERROR),
					 errmsg("could not defragment \"%s\": %s", pgdata, err),
					 errhint("The periodic snapshot is taken anyway; branchpromote.defragment_extents = 0 turns the rewrite off.")));
		report->stopped = rc > 0;
		report->rewritten = st.rewritten;
		report->busy = st.busy;
		report->skipped = st.skipped;
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
