/*
 * worker.h — the reconciler background worker.
 */
#ifndef BP_WORKER_H
#define BP_WORKER_H

extern PGDLLEXPORT void branchpromote_reconciler_main(Datum arg);

#endif
