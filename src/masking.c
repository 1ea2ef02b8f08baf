/*
 * masking.c — masking rules as SQL (pure code; see masking.h).
 *
 * Every rendered expression calls only pg_catalog functions, qualified,
 * and reads the project's seed from parameter $1 (text).  hash keeps
 * equality (so joins on a masked key still match) and, at 64 or 128 bits
 * of sha256, distinctness (so unique constraints still hold); an email
 * stays an email.  fake picks from fixed lists by the same keyed hash, so
 * a value always gets the same fake.
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "lib/stringinfo.h"

#include "jsonstr.h"
#include "masking.h"

static const char *const kind_names[] = {
	[BP_MASK_VALUE] = "value",
	[BP_MASK_NULL] = "null",
	[BP_MASK_HASH] = "hash",
	[BP_MASK_PARTIAL] = "partial",
	[BP_MASK_FAKE] = "fake",
	[BP_MASK_EXPRESSION] = "expression",
};

#define NKINDS ((int) (sizeof(kind_names) / sizeof(kind_names[0])))

static const char *const fakes[] = {"name", "first_name", "last_name", "email", "phone", "city", "company"};

#define NFAKES ((int) (sizeof(fakes) / sizeof(fakes[0])))

#define FIRST_NAMES "ARRAY['Ada','Alan','Grace','Edsger','Barbara','Donald','Frances','John'," \
	"'Katherine','Leslie','Margaret','Niklaus','Radia','Tony','Hedy','Ken','Lynn','Dennis'," \
	"'Shafi','Whitfield','Anita','Butler','Carol','Ivan']"
#define LAST_NAMES "ARRAY['Lovelace','Turing','Hopper','Dijkstra','Liskov','Knuth','Allen','Backus'," \
	"'Johnson','Lamport','Hamilton','Wirth','Perlman','Hoare','Lamarr','Thompson','Conway','Ritchie'," \
	"'Goldwasser','Diffie','Borg','Lampson','Shaw','Sutherland']"
#define CITIES "ARRAY['Springfield','Riverside','Fairview','Greenville','Franklin','Clinton'," \
	"'Salem','Madison','Georgetown','Arlington','Ashland','Oakland']"
#define COMPANIES "ARRAY['Acme Corp','Globex','Initech','Umbrella','Hooli','Vandelay Industries'," \
	"'Stark Industries','Wayne Enterprises','Wonka','Soylent','Cyberdyne','Tyrell']"
#define NLIST 24
#define NSHORT 12

bool
BpMaskParseKind(const char *name, BpMaskKind *kind)
{
	for (int i = 0; name != NULL && i < NKINDS; i++)
		if (strcmp(name, kind_names[i]) == 0)
		{
			*kind = (BpMaskKind) i;
			return true;
		}
	return false;
}

const char *
BpMaskKindName(BpMaskKind kind)
{
	return (int) kind >= 0 && (int) kind < NKINDS ? kind_names[kind] : "?";
}

/* "first,last": two numbers from 0 to 1000. */
static bool
ParsePartial(const char *arg, int *first, int *last)
{
	char		tail;

	if (arg == NULL || strspn(arg, "0123456789,") != strlen(arg) ||
		sscanf(arg, "%d,%d%c", first, last, &tail) != 2)
		return false;
	return *first >= 0 && *first <= 1000 && *last >= 0 && *last <= 1000;
}

static bool
IsFake(const char *arg)
{
	for (int i = 0; arg != NULL && i < NFAKES; i++)
		if (strcmp(arg, fakes[i]) == 0)
			return true;
	return false;
}

const char *
BpMaskCheck(BpMaskKind kind, const char *arg, BpMaskType type, const char **hint)
{
	*hint = NULL;
	switch (kind)
	{
		case BP_MASK_VALUE:
			if (arg == NULL)
				return (*hint = "Pass the value as arg, e.g. 'redacted'; for NULL use rule 'null'."),
					"rule \"value\" needs the value as its argument";
			return NULL;
		case BP_MASK_NULL:
		case BP_MASK_HASH:
			if (arg != NULL)
				return (*hint = "Pass arg => NULL."), "this rule takes no argument";
			if (kind == BP_MASK_HASH && type == BP_MASK_TYPE_OTHER)
				return (*hint = "hash masks text and uuid columns; for others use 'value', 'null' or 'expression'."),
					"rule \"hash\" does not fit the column's type";
			return NULL;
		case BP_MASK_PARTIAL:
			{
				int			first,
							last;

				if (!ParsePartial(arg, &first, &last))
					return (*hint = "Pass how many characters to keep at the start and at the end, e.g. '0,4' for ****1234."),
						"rule \"partial\" needs an argument \"first,last\"";
				if (type != BP_MASK_TYPE_TEXT)
					return (*hint = "partial masks text columns; for others use 'value', 'null' or 'expression'."),
						"rule \"partial\" does not fit the column's type";
				return NULL;
			}
		case BP_MASK_FAKE:
			if (!IsFake(arg))
				return (*hint = "Pass one of name, first_name, last_name, email, phone, city, company."),
					"rule \"fake\" needs the kind of value as its argument";
			if (type != BP_MASK_TYPE_TEXT)
				return (*hint = "fake values are text; for other columns use 'value', 'null' or 'expression'."),
					"rule \"fake\" does not fit the column's type";
			return NULL;
		case BP_MASK_EXPRESSION:
			if (arg == NULL || arg[strspn(arg, " \t\r\n")] == '\0')
				return (*hint = "Pass an SQL expression over the row, e.g. 'left(name, 1) || ''.'''."),
					"rule \"expression\" needs the expression as its argument";
			/* $1 is the project's seed: an expression must not copy it into the data */
			for (const char *p = strchr(arg, '$'); p != NULL; p = strchr(p + 1, '$'))
				if (p[1] >= '0' && p[1] <= '9')
					return (*hint = "An expression sees the row's columns; it takes no parameters."),
						"rule \"expression\" may not refer to a parameter ($n)";
			return NULL;
	}
	return (*hint = "Use value, null, hash, partial, fake or expression."), "unknown rule";
}

/* Append an SQL string literal (standard_conforming_strings on). */
static void
Literal(StringInfo s, const char *v)
{
	appendStringInfoChar(s, '\'');
	for (const char *p = v; *p; p++)
	{
		if (*p == '\'')
			appendStringInfoChar(s, '\'');
		appendStringInfoChar(s, *p);
	}
	appendStringInfoChar(s, '\'');
}

/* The keyed hash of the column's text, as 64 hex digits. */
static void
Hex(StringInfo s, const char *column)
{
	appendStringInfo(s, "pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to($1::pg_catalog.text || (%s)::pg_catalog.text, 'UTF8')), 'hex')",
					 column);
}

/* A number from the keyed hash: 32 bits of it. */
static void
HashNumber(StringInfo s, const char *column)
{
	appendStringInfoString(s, "(('x' || pg_catalog.left(");
	Hex(s, column);
	appendStringInfoString(s, ", 8))::pg_catalog.bit(32)::pg_catalog.int8)");
}

/* list[1 + hash / div % n] */
static void
Pick(StringInfo s, const char *list, int n, int div, const char *column)
{
	appendStringInfo(s, "(%s)[1 + ", list);
	HashNumber(s, column);
	appendStringInfo(s, " / %d %% %d]", div, n);
}

static void
Fake(StringInfo s, const char *what, const char *column)
{
	if (strcmp(what, "name") == 0)
	{
		Pick(s, FIRST_NAMES, NLIST, 1, column);
		appendStringInfoString(s, " || ' ' || ");
		Pick(s, LAST_NAMES, NLIST, NLIST, column);
	}
	else if (strcmp(what, "first_name") == 0)
		Pick(s, FIRST_NAMES, NLIST, 1, column);
	else if (strcmp(what, "last_name") == 0)
		Pick(s, LAST_NAMES, NLIST, NLIST, column);
	else if (strcmp(what, "email") == 0)
	{
		/* the hash's digits keep distinct emails distinct */
		appendStringInfoString(s, "pg_catalog.lower(");
		Pick(s, FIRST_NAMES, NLIST, 1, column);
		appendStringInfoString(s, " || '.' || ");
		Pick(s, LAST_NAMES, NLIST, NLIST, column);
		appendStringInfoString(s, ") || '.' || pg_catalog.substr(");
		Hex(s, column);
		appendStringInfoString(s, ", 9, 12) || '@example.com'");
	}
	else if (strcmp(what, "phone") == 0)
	{
		appendStringInfoString(s, "'+1-555-' || pg_catalog.lpad((");
		HashNumber(s, column);
		appendStringInfoString(s, " % 10000000)::pg_catalog.text, 7, '0')");
	}
	else if (strcmp(what, "city") == 0)
		Pick(s, CITIES, NSHORT, 1, column);
	else
		Pick(s, COMPANIES, NSHORT, 1, column);
}

char *
BpMaskSql(BpMaskKind kind, const char *arg, BpMaskType type, const char *column)
{
	StringInfoData s;
	int			first = 0,
				last = 0;

	initStringInfo(&s);
	switch (kind)
	{
		case BP_MASK_VALUE:
			Literal(&s, arg);
			return s.data;
		case BP_MASK_NULL:
			appendStringInfoString(&s, "NULL");
			return s.data;
		case BP_MASK_EXPRESSION:
			appendStringInfo(&s, "(%s)", arg);
			return s.data;
		default:
			break;
	}
	appendStringInfo(&s, "CASE WHEN %s IS NULL THEN NULL ", column);
	if (kind == BP_MASK_HASH && type == BP_MASK_TYPE_UUID)
	{
		appendStringInfoString(&s, "ELSE CAST(pg_catalog.left(");
		Hex(&s, column);
		appendStringInfoString(&s, ", 32) AS pg_catalog.uuid)");
	}
	else if (kind == BP_MASK_HASH)
	{
		appendStringInfo(&s, "WHEN pg_catalog.strpos((%s)::pg_catalog.text, '@') > 1 THEN 'user-' || pg_catalog.left(", column);
		Hex(&s, column);
		appendStringInfoString(&s, ", 16) || '@example.com' ELSE pg_catalog.left(");
		Hex(&s, column);
		appendStringInfoString(&s, ", 32)");
	}
	else if (kind == BP_MASK_PARTIAL)
	{
		(void) ParsePartial(arg, &first, &last);
		appendStringInfo(&s, "WHEN pg_catalog.char_length((%s)::pg_catalog.text) <= %d "
						 "THEN pg_catalog.repeat('*', pg_catalog.char_length((%s)::pg_catalog.text)) "
						 "ELSE pg_catalog.left((%s)::pg_catalog.text, %d) || "
						 "pg_catalog.repeat('*', pg_catalog.char_length((%s)::pg_catalog.text) - %d) || "
						 "pg_catalog.right((%s)::pg_catalog.text, %d)",
						 column, first + last, column, column, first, column, first + last, column, last);
	}
	else
	{
		appendStringInfoString(&s, "ELSE ");
		Fake(&s, arg, column);
	}
	appendStringInfoString(&s, " END");
	return s.data;
}

char *
BpMaskCanonical(const BpMaskRule *rules, int n)
{
	StringInfoData s;

	initStringInfo(&s);
	for (int i = 0; i < n; i++)
	{
		appendStringInfoChar(&s, '[');
		BpJsonString(&s, rules[i].schema);
		appendStringInfoString(&s, ", ");
		BpJsonString(&s, rules[i].table);
		appendStringInfoString(&s, ", ");
		BpJsonString(&s, rules[i].column);
		appendStringInfoString(&s, ", ");
		BpJsonString(&s, BpMaskKindName(rules[i].kind));
		appendStringInfoString(&s, ", ");
		if (rules[i].arg)
			BpJsonString(&s, rules[i].arg);
		else
			appendStringInfoString(&s, "null");
		appendStringInfoString(&s, "]\n");
	}
	return s.data;
}
