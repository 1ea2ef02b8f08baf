/*
 * twophase.h — compute transactions that commit or abort with the caller's.
 */
#ifndef BP_TWOPHASE_H
#define BP_TWOPHASE_H

#include "access/transam.h"
#include "libpq-fe.h"

#define BP_GID_PREFIX "branchpromote-"

extern char *BpTwoPhaseGid(void);
extern void BpTwoPhaseAdopt(PGconn *conn, const char *gid);
extern bool BpTwoPhaseParseGid(const char *gid, FullTransactionId *xid);

extern int	BpTwoPhaseDropInherited(PGconn *conn);

#endif
