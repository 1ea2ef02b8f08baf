/*
 * xactend.h — work that must follow the caller's transaction: done with
 * commit = true when it commits, false when it (or the savepoint it was
 * registered in) aborts.
 */
#ifndef BP_XACTEND_H
#define BP_XACTEND_H

/*
 * Called once, at transaction end, where an ERROR is not allowed (report
 * failures as WARNINGs); it owns arg (allocate it in TopMemoryContext).
 */
typedef void (*BpXactEndFn) (void *arg, bool commit);

extern void BpAtXactEnd(BpXactEndFn fn, void *arg);
extern void BpXactEndInit(void);

#endif
