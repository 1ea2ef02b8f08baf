/*
 * defrag.h — rewriting fragmented relation files of a data directory in
 * place, so that cloning them costs what their size costs, not what their
 * history of copy-on-write writes cost.  Plain C, system calls only: the
 * server and branchpromote_helper both link it.
 */
#ifndef BP_DEFRAG_H
#define BP_DEFRAG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

typedef struct BpDefragStats
{
	uint64_t	files;			/* regular files looked at */
	uint64_t	extents;		/* their extents (before, or after a dry run) */
	uint64_t	over;			/* files with more than the threshold */
	uint64_t	rewritten;		/* files rewritten */
	uint64_t	bytes;			/* bytes they hold */
	uint64_t	busy;			/* files left alone: written while being copied */
	uint64_t	skipped;		/* files left alone: no room, or the filesystem refused */
} BpDefragStats;

/*
 * Walk pgdata's relation files (global/ and base/<db>/); rewrite each one
 * that has more than min_extents extents (never, when dry) as one
 * contiguous copy swapped in atomically, unless it was written meanwhile.
 * Stops between chunks once *stop is set or timeout_ms (> 0) has passed.
 * Returns 0 (done), 1 (stopped early: what was done stays done), or -1
 * with the first failure in err (what could not be walked; a file that
 * cannot be rewritten is only counted).
 */
extern int	BpDefragTree(const char *pgdata, uint64_t min_extents, int dry, int timeout_ms,
						 volatile sig_atomic_t *stop, BpDefragStats *st,
						 char *err, size_t errlen);

/* Whether pgdata is on XFS, the one filesystem whose swap this uses. */
extern int	BpDefragSupported(const char *pgdata);

/*
 * Whether this kernel's timestamps show every write to a file someone
 * looked at (Linux 6.13+, multigrain timestamps): only then is a file a
 * running server writes safe to rewrite.
 */
extern int	BpDefragOnlineSafe(void);

#endif
