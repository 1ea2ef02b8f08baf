/*
 * masking.h — masking rules as SQL (pure code).
 *
 * A rule masks one column.  This module checks a rule's kind and argument
 * against the column's type class, renders the SQL expression that
 * replaces the column's value in the masking UPDATE (the project's secret
 * seed is its parameter $1, never in the statement's text), and renders
 * a rule set's canonical text (its digest is taken by the caller).
 */
#ifndef BP_MASKING_H
#define BP_MASKING_H

#include <stdbool.h>

typedef enum BpMaskKind
{
	BP_MASK_VALUE,				/* a fixed value (arg: its text, coerced to the column's type) */
	BP_MASK_NULL,				/* NULL */
	BP_MASK_HASH,				/* deterministic: equal values stay equal, distinct stay distinct */
	BP_MASK_PARTIAL,			/* arg "first,last": keep that many characters, '*' the rest */
	BP_MASK_FAKE,				/* arg: name, first_name, last_name, email, phone, city, company */
	BP_MASK_EXPRESSION			/* arg: an SQL expression over the row */
} BpMaskKind;

/* What the column holds, as far as a rule cares. */
typedef enum BpMaskType
{
	BP_MASK_TYPE_TEXT,			/* text, varchar, char, citext, name */
	BP_MASK_TYPE_UUID,
	BP_MASK_TYPE_OTHER
} BpMaskType;

typedef struct BpMaskRule
{
	const char *schema;
	const char *table;
	const char *column;
	BpMaskKind	kind;
	const char *arg;			/* NULL: none */
} BpMaskRule;

extern bool BpMaskParseKind(const char *name, BpMaskKind *kind);
extern const char *BpMaskKindName(BpMaskKind kind);

/* NULL if the rule fits a column of this type class, else why not (and a hint). */
extern const char *BpMaskCheck(BpMaskKind kind, const char *arg, BpMaskType type, const char **hint);

/*
 * The expression for SET <column> = (...), column being the quoted column
 * name; NULL stays NULL for hash, partial and fake.  The rule must have
 * passed BpMaskCheck.
 */
extern char *BpMaskSql(BpMaskKind kind, const char *arg, BpMaskType type, const char *column);

/* A rule set's canonical text: one line per rule, in the given (sorted) order. */
extern char *BpMaskCanonical(const BpMaskRule *rules, int n);

#endif
