/*
 * catalog_spi.h — the SPI helpers the catalog's table groups (catalog*.c)
 * share.  Internal to the catalog: nothing else includes it.
 */
#ifndef BP_CATALOG_SPI_H
#define BP_CATALOG_SPI_H

#include "executor/spi.h"
#include "nodes/pg_list.h"

extern int Run(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls, int expect);
extern Datum Col(int row, int col, bool *isnull);
extern int64 ColInt64(int row, int col);
extern int ColInt32(int row, int col);
extern char *ColText(int row, int col);
extern List *Ids(const char *sql, int nargs, Oid *types, Datum *values);
extern bool Exists(const char *sql, int64 id);
extern char *FirstText(const char *sql, int64 id);

#endif
