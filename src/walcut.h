/*
 * walcut.h — the first WAL record at or past an LSN, in a directory of WAL
 * segment files (a fork's pg_wal), without a server.
 */
#ifndef BP_WALCUT_H
#define BP_WALCUT_H

#include "access/xlogdefs.h"

extern XLogRecPtr BpFirstRecordFrom(const char *waldir, int segsz, XLogRecPtr lsn, TimeLineID *tli);

#endif
