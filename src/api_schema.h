/*
 * api_schema.h — schema truth for the API: a timeline's actual schema
 * against the one its ledger recorded, and the refusals.
 */
#ifndef BP_API_SCHEMA_H
#define BP_API_SCHEMA_H

#include "catalog.h"
#include "ledger.h"
#include "schemaread.h"

extern void ReadLedgerAndSchema(const BpProject *p, const BpComputeRow *c, BpLedger *ledger,
								BpSchemaCheck *check);
extern char *SchemaDriftJson(const char *env, const char *differences);
extern void SchemaRefuseDrift(const BpProject *p, const char *env, const BpSchemaCheck *c);
extern void SchemaRefuseResult(const BpProject *p, const char *where, const BpSchemaState *dev,
							   const BpSchemaState *result);

#endif
