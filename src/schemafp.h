/*
 * schemafp.h — a timeline's schema as canonical data, and the difference
 * between two of them (pure code).
 *
 * The catalog reader (schemaread.c) turns a compute's catalogs into rows
 * (kind, name, key, value): "table public.orders owner app", "column
 * public.orders.id type bigint".  This module sorts them into objects, each
 * with sorted attributes, so the same schema listed in any order has one
 * serialization; the fingerprint is the sha256 of that text (taken by the
 * caller).  Two schemas compare object by object and attribute by attribute.
 */
#ifndef BP_SCHEMAFP_H
#define BP_SCHEMAFP_H

/* One fact read from a catalog; key NULL only declares the object. */
typedef struct BpSchemaRow
{
	const char *kind;			/* "table", "column", "index", ... */
	const char *name;			/* qualified: "public.orders", "public.orders.id" */
	const char *key;			/* "type", "default", "acl", ...; NULL: no attribute */
	const char *value;			/* NULL: the attribute is absent */
} BpSchemaRow;

typedef struct BpSchemaAttr
{
	char	   *key;
	char	   *value;
} BpSchemaAttr;

typedef struct BpSchemaObject
{
	char	   *kind;
	char	   *name;
	int			nattrs;
	BpSchemaAttr *attrs;		/* sorted by key, keys unique */
} BpSchemaObject;

typedef struct BpSchema
{
	int			nobjects;
	BpSchemaObject *objects;	/* sorted by (kind, name), unique */
} BpSchema;

typedef enum BpSchemaDeltaKind
{
	BP_SCHEMA_ADDED,			/* in "to" only */
	BP_SCHEMA_REMOVED,			/* in "from" only */
	BP_SCHEMA_CHANGED			/* in both, some attribute differs */
} BpSchemaDeltaKind;

/* One attribute that differs; from or to NULL when absent on that side. */
typedef struct BpSchemaChange
{
	const char *key;
	const char *from;
	const char *to;
} BpSchemaChange;

typedef struct BpSchemaDelta
{
	BpSchemaDeltaKind what;
	const BpSchemaObject *object;	/* to's for ADDED, from's otherwise */
	int			nchanges;		/* CHANGED only */
	BpSchemaChange *changes;	/* sorted by key */
} BpSchemaDelta;

typedef struct BpSchemaDiff
{
	int			ndeltas;
	BpSchemaDelta *deltas;		/* sorted by (kind, name) */
} BpSchemaDiff;

/*
 * The schema of rows, in any order.  Rows with the same (kind, name, key)
 * merge: their non-NULL values, sorted bytewise, joined by "\n".
 */
extern BpSchema *BpSchemaBuild(const BpSchemaRow *rows, int nrows);

/*
 * Canonical text: one line per attribute, "kind\tname\tkey\tvalue\n", and
 * "kind\tname\n" for an object without attributes; tab, newline and
 * backslash inside fields written as \t, \n and \\.  Equal schemas give
 * equal text.
 */
extern char *BpSchemaSerialize(const BpSchema *s);

/* The schema of BpSchemaSerialize's text; NULL when text is malformed. */
extern BpSchema *BpSchemaParse(const char *text);

/* What changes from "from" to "to". */
extern BpSchemaDiff *BpSchemaCompare(const BpSchema *from, const BpSchema *to);

/*
 * As JSON: {"equal": bool, "added": [{"kind","name","attributes":{k:v}}],
 * "removed": [...same...], "changed": [{"kind","name",
 * "changes":{k:{"from":v|null,"to":v|null}}}]}.
 */
extern char *BpSchemaDiffJson(const BpSchemaDiff *d);

/*
 * As text for a reviewer: "+ kind name" with its attributes indented,
 * "- kind name", "~ kind name" with "key: from -> to" lines (multi-line
 * values as indented blocks); "no differences\n" when equal.
 */
extern char *BpSchemaDiffText(const BpSchemaDiff *d);

/*
 * One line for an error message: "column public.t.note added, index
 * public.t_idx removed" with at most limit items, then "and N more".
 */
extern char *BpSchemaDiffSummary(const BpSchemaDiff *d, int limit);

#endif
