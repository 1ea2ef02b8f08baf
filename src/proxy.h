/*
 * proxy.h — the scale-to-zero proxy background worker.
 */
#ifndef BP_PROXY_H
#define BP_PROXY_H

extern PGDLLEXPORT void branchpromote_proxy_main(Datum arg);

#endif
