/*
 * clone.h — copy-on-write directory cloning.
 */
#ifndef BP_CLONE_H
#define BP_CLONE_H

#include <sys/types.h>

typedef enum BpCloneMethod
{
	BP_CLONE_REFLINK,			/* every file shared its extents: O(metadata) */
	BP_CLONE_COPY				/* at least one file was copied: O(size) */
} BpCloneMethod;

/* What to do with one entry of the tree being cloned. */
typedef enum BpCloneFilter
{
	BP_CLONE_KEEP,
	BP_CLONE_SKIP,				/* leave the entry out */
	BP_CLONE_EMPTY				/* a directory: create it, leave its contents out */
} BpCloneFilter;

typedef BpCloneFilter (*BpCloneFilterFn) (const char *relpath, bool is_dir);

typedef struct BpCloneStats
{
	BpCloneMethod method;
	uint64		files;
	uint64		bytes;
} BpCloneStats;

extern void BpCloneTree(const char *src, const char *dst, BpCloneFilterFn filter,
						BpCloneStats *stats);
extern void BpCloneFile(const char *src, const char *dst, mode_t mode, BpCloneStats *stats);

/* BpCloneTree in a thread of its own, while the backend goes on */
typedef struct BpCloneJob BpCloneJob;
extern BpCloneJob *BpCloneTreeBegin(const char *src, const char *dst, BpCloneFilterFn filter);
extern void BpCloneTreeEnd(BpCloneJob *job, BpCloneStats *stats, double *ms);
extern void BpCloneTreeAbandon(BpCloneJob *job);
extern const char *BpCloneMethodName(BpCloneMethod method);
extern void BpRemoveTree(const char *path);
extern void BpSyncTree(const char *path);
extern void BpTreeUsage(const char *path, uint64 *bytes, uint64 *shared);

#endif
