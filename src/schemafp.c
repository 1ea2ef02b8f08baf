/*
 * schemafp.c — a timeline's schema as canonical data, and the difference
 * between two of them (pure code).
 *
 * Rows (kind, name, key, value) from the catalog reader sort into objects
 * ordered by (kind, name), each with its attributes ordered by key, all
 * compared bytewise (strcmp), so the order the catalogs listed them in
 * never shows.  The canonical text is a line per attribute; its inverse
 * accepts exactly what the serializer writes.  A comparison walks two
 * sorted schemas side by side; its result renders as JSON (for the API),
 * as text (for a reviewer) and as one line (for an error message).
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "lib/stringinfo.h"

#include "jsonstr.h"
#include "schemafp.h"

/* NULL sorts before every string. */
static int
NullsFirstCmp(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return (a != NULL) - (b != NULL);
	return strcmp(a, b);
}

/* Order of two objects: by kind, then by name. */
static int
ObjectCmp(const char *akind, const char *aname, const char *bkind, const char *bname)
{
	int			c = strcmp(akind, bkind);

	return c != 0 ? c : strcmp(aname, bname);
}

/* qsort order of rows: (kind, name, key, value), NULL key or value first. */
static int
RowCmp(const void *a, const void *b)
{
	const BpSchemaRow *ra = *(const BpSchemaRow *const *) a;
	const BpSchemaRow *rb = *(const BpSchemaRow *const *) b;
	int			c = ObjectCmp(ra->kind, ra->name, rb->kind, rb->name);

	if (c == 0)
		c = NullsFirstCmp(ra->key, rb->key);
	if (c == 0)
		c = NullsFirstCmp(ra->value, rb->value);
	return c;
}

/*
 * The attribute of sorted rows[*i..end) sharing rows[*i]'s (non-NULL) key:
 * their non-NULL values, already in bytewise order, joined by "\n"; false
 * when all of them are NULL.  Advances *i past those rows.
 */
static bool
MergeKey(const BpSchemaRow *const *rows, int end, int *i, BpSchemaAttr *attr)
{
	const char *key = rows[*i]->key;
	StringInfoData v;
	bool		any = false;

	initStringInfo(&v);
	for (; *i < end && strcmp(rows[*i]->key, key) == 0; (*i)++)
	{
		if (rows[*i]->value == NULL)
			continue;
		if (any)
			appendStringInfoChar(&v, '\n');
		appendStringInfoString(&v, rows[*i]->value);
		any = true;
	}
	if (!any)
	{
		pfree(v.data);
		return false;
	}
	attr->key = pstrdup(key);
	attr->value = v.data;
	return true;
}

/* The schema of rows, in any order; it copies every string it keeps. */
BpSchema *
BpSchemaBuild(const BpSchemaRow *rows, int nrows)
{
	BpSchema   *s = palloc0(sizeof(BpSchema));
	const BpSchemaRow **sorted = palloc(sizeof(BpSchemaRow *) * Max(1, nrows));
	int			i = 0;

	for (int r = 0; r < nrows; r++)
		sorted[r] = &rows[r];
	if (nrows > 1)
		qsort(sorted, nrows, sizeof(BpSchemaRow *), RowCmp);
	s->objects = palloc0(sizeof(BpSchemaObject) * Max(1, nrows));
	while (i < nrows)
	{
		BpSchemaObject *o = &s->objects[s->nobjects++];
		const BpSchemaRow *first = sorted[i];
		int			end = i;

		while (end < nrows &&
			   ObjectCmp(sorted[end]->kind, sorted[end]->name, first->kind, first->name) == 0)
			end++;
		o->kind = pstrdup(first->kind);
		o->name = pstrdup(first->name);
		o->attrs = palloc0(sizeof(BpSchemaAttr) * (end - i));
		/* rows that only declare the object sort first */
		while (i < end && sorted[i]->key == NULL)
			i++;
		while (i < end)
			if (MergeKey(sorted, end, &i, &o->attrs[o->nattrs]))
				o->nattrs++;
	}
	pfree(sorted);
	return s;
}

/* Append field to t with tab, newline and backslash escaped. */
static void
AppendField(StringInfo t, const char *field)
{
	for (const char *c = field; *c; c++)
	{
		if (*c == '\t')
			appendStringInfoString(t, "\\t");
		else if (*c == '\n')
			appendStringInfoString(t, "\\n");
		else if (*c == '\\')
			appendStringInfoString(t, "\\\\");
		else
			appendStringInfoChar(t, *c);
	}
}

/* Canonical text of s: a line per attribute, one per bare object. */
char *
BpSchemaSerialize(const BpSchema *s)
{
	StringInfoData t;

	initStringInfo(&t);
	for (int i = 0; i < s->nobjects; i++)
	{
		const BpSchemaObject *o = &s->objects[i];

		if (o->nattrs == 0)
		{
			AppendField(&t, o->kind);
			appendStringInfoChar(&t, '\t');
			AppendField(&t, o->name);
			appendStringInfoChar(&t, '\n');
		}
		for (int a = 0; a < o->nattrs; a++)
		{
			AppendField(&t, o->kind);
			appendStringInfoChar(&t, '\t');
			AppendField(&t, o->name);
			appendStringInfoChar(&t, '\t');
			AppendField(&t, o->attrs[a].key);
			appendStringInfoChar(&t, '\t');
			AppendField(&t, o->attrs[a].value);
			appendStringInfoChar(&t, '\n');
		}
	}
	return t.data;
}

/* The field [start, end) unescaped into *out; false on an unknown or cut escape. */
static bool
UnescapeField(const char *start, const char *end, char **out)
{
	StringInfoData f;

	initStringInfo(&f);
	for (const char *c = start; c < end; c++)
	{
		if (*c != '\\')
		{
			appendStringInfoChar(&f, *c);
			continue;
		}
		if (++c == end || (*c != 't' && *c != 'n' && *c != '\\'))
		{
			pfree(f.data);
			return false;
		}
		appendStringInfoChar(&f, *c == 't' ? '\t' : *c == 'n' ? '\n' : '\\');
	}
	*out = f.data;
	return true;
}

/*
 * The fields of the line [line, eol) (eol its newline) into row: two for a
 * bare object, four for an attribute; false for any other count or a bad
 * escape.
 */
static bool
ParseLine(const char *line, const char *eol, BpSchemaRow *row)
{
	char	   *fields[4];
	int			nfields = 0;
	const char *start = line;

	for (const char *c = line;; c++)
	{
		if (c != eol && *c != '\t')
			continue;
		if (nfields == 4 || !UnescapeField(start, c, &fields[nfields]))
			return false;
		nfields++;
		start = c + 1;
		if (c == eol)
			break;
	}
	if (nfields != 2 && nfields != 4)
		return false;
	row->kind = fields[0];
	row->name = fields[1];
	row->key = nfields == 4 ? fields[2] : NULL;
	row->value = nfields == 4 ? fields[3] : NULL;
	return true;
}

/*
 * The schema of BpSchemaSerialize's text, or NULL when text is malformed:
 * a line without its newline, a wrong field count, a bad escape, or lines
 * the serializer would not have written (out of order, a key twice, a bare
 * line for an object with attributes), so that parsing inverts exactly.
 */
BpSchema *
BpSchemaParse(const char *text)
{
	int			nlines = 0;
	int			nrows = 0;
	BpSchemaRow *rows;
	BpSchema   *s;
	char	   *again;
	bool		same;

	for (const char *c = text; *c; c++)
		nlines += *c == '\n';
	rows = palloc(sizeof(BpSchemaRow) * Max(1, nlines));
	for (const char *line = text; *line; nrows++)
	{
		const char *eol = strchr(line, '\n');

		if (eol == NULL || !ParseLine(line, eol, &rows[nrows]))
			return NULL;
		line = eol + 1;
	}
	s = BpSchemaBuild(rows, nrows);
	again = BpSchemaSerialize(s);
	same = strcmp(again, text) == 0;
	pfree(again);
	return same ? s : NULL;
}

/*
 * The attributes that differ between two versions of an object, walking
 * both key-sorted lists; into delta's changes, false when none differ.
 */
static bool
CompareAttrs(const BpSchemaObject *from, const BpSchemaObject *to, BpSchemaDelta *delta)
{
	int			i = 0;
	int			j = 0;

	delta->nchanges = 0;
	delta->changes = palloc0(sizeof(BpSchemaChange) * Max(1, from->nattrs + to->nattrs));
	while (i < from->nattrs || j < to->nattrs)
	{
		BpSchemaChange *ch = &delta->changes[delta->nchanges];
		int			c;

		if (i == from->nattrs)
			c = 1;
		else if (j == to->nattrs)
			c = -1;
		else
			c = strcmp(from->attrs[i].key, to->attrs[j].key);
		if (c < 0)
		{
			ch->key = from->attrs[i].key;
			ch->from = from->attrs[i++].value;
			ch->to = NULL;
			delta->nchanges++;
		}
		else if (c > 0)
		{
			ch->key = to->attrs[j].key;
			ch->from = NULL;
			ch->to = to->attrs[j++].value;
			delta->nchanges++;
		}
		else
		{
			if (strcmp(from->attrs[i].value, to->attrs[j].value) != 0)
			{
				ch->key = from->attrs[i].key;
				ch->from = from->attrs[i].value;
				ch->to = to->attrs[j].value;
				delta->nchanges++;
			}
			i++;
			j++;
		}
	}
	return delta->nchanges > 0;
}

/* What changes from "from" to "to": a merge walk of both sorted object lists. */
BpSchemaDiff *
BpSchemaCompare(const BpSchema *from, const BpSchema *to)
{
	BpSchemaDiff *d = palloc0(sizeof(BpSchemaDiff));
	int			i = 0;
	int			j = 0;

	d->deltas = palloc0(sizeof(BpSchemaDelta) * Max(1, from->nobjects + to->nobjects));
	while (i < from->nobjects || j < to->nobjects)
	{
		BpSchemaDelta *delta = &d->deltas[d->ndeltas];
		int			c;

		if (i == from->nobjects)
			c = 1;
		else if (j == to->nobjects)
			c = -1;
		else
			c = ObjectCmp(from->objects[i].kind, from->objects[i].name,
						  to->objects[j].kind, to->objects[j].name);
		if (c < 0)
		{
			delta->what = BP_SCHEMA_REMOVED;
			delta->object = &from->objects[i++];
			d->ndeltas++;
		}
		else if (c > 0)
		{
			delta->what = BP_SCHEMA_ADDED;
			delta->object = &to->objects[j++];
			d->ndeltas++;
		}
		else
		{
			if (CompareAttrs(&from->objects[i], &to->objects[j], delta))
			{
				delta->what = BP_SCHEMA_CHANGED;
				delta->object = &from->objects[i];
				d->ndeltas++;
			}
			else
			{
				pfree(delta->changes);
				delta->changes = NULL;
			}
			i++;
			j++;
		}
	}
	return d;
}

/* v as JSON: a string, or null for an absent value. */
static void
AppendJsonValue(StringInfo s, const char *v)
{
	if (v == NULL)
		appendStringInfoString(s, "null");
	else
		BpJsonString(s, v);
}

/* The JSON array of d's deltas of one kind (added, removed or changed). */
static void
AppendJsonDeltas(StringInfo s, const BpSchemaDiff *d, BpSchemaDeltaKind what)
{
	bool		first = true;

	appendStringInfoChar(s, '[');
	for (int i = 0; i < d->ndeltas; i++)
	{
		const BpSchemaDelta *delta = &d->deltas[i];
		const BpSchemaObject *o = delta->object;

		if (delta->what != what)
			continue;
		if (!first)
			appendStringInfoString(s, ", ");
		first = false;
		appendStringInfoString(s, "{\"kind\": ");
		BpJsonString(s, o->kind);
		appendStringInfoString(s, ", \"name\": ");
		BpJsonString(s, o->name);
		if (what == BP_SCHEMA_CHANGED)
		{
			appendStringInfoString(s, ", \"changes\": {");
			for (int c = 0; c < delta->nchanges; c++)
			{
				if (c > 0)
					appendStringInfoString(s, ", ");
				BpJsonString(s, delta->changes[c].key);
				appendStringInfoString(s, ": {\"from\": ");
				AppendJsonValue(s, delta->changes[c].from);
				appendStringInfoString(s, ", \"to\": ");
				AppendJsonValue(s, delta->changes[c].to);
				appendStringInfoChar(s, '}');
			}
		}
		else
		{
			appendStringInfoString(s, ", \"attributes\": {");
			for (int a = 0; a < o->nattrs; a++)
			{
				if (a > 0)
					appendStringInfoString(s, ", ");
				BpJsonString(s, o->attrs[a].key);
				appendStringInfoString(s, ": ");
				BpJsonString(s, o->attrs[a].value);
			}
		}
		appendStringInfoString(s, "}}");
	}
	appendStringInfoChar(s, ']');
}

/* d as JSON: {"equal", "added", "removed", "changed"} (see schemafp.h). */
char *
BpSchemaDiffJson(const BpSchemaDiff *d)
{
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"equal\": %s, \"added\": ", d->ndeltas == 0 ? "true" : "false");
	AppendJsonDeltas(&s, d, BP_SCHEMA_ADDED);
	appendStringInfoString(&s, ", \"removed\": ");
	AppendJsonDeltas(&s, d, BP_SCHEMA_REMOVED);
	appendStringInfoString(&s, ", \"changed\": ");
	AppendJsonDeltas(&s, d, BP_SCHEMA_CHANGED);
	appendStringInfoChar(&s, '}');
	return s.data;
}

/*
 * A multi-line value as a block: "    label:" then each of its lines
 * indented by 8 spaces (a final newline adds no empty line); "(none)" when
 * absent.
 */
static void
AppendBlock(StringInfo s, const char *label, const char *v)
{
	appendStringInfo(s, "    %s:", label);
	if (v == NULL)
	{
		appendStringInfoString(s, " (none)\n");
		return;
	}
	appendStringInfoChar(s, '\n');
	while (*v)
	{
		const char *eol = strchr(v, '\n');
		int			len = eol ? (int) (eol - v) : (int) strlen(v);

		appendStringInfo(s, "        %.*s\n", len, v);
		v += len;
		if (*v == '\n')
			v++;
	}
}

/* v for a one-line change: itself, or "(none)" when absent. */
static const char *
Shown(const char *v)
{
	return v == NULL ? "(none)" : v;
}

/* d as text for a reviewer, a block per delta (see schemafp.h). */
char *
BpSchemaDiffText(const BpSchemaDiff *d)
{
	StringInfoData s;

	if (d->ndeltas == 0)
		return pstrdup("no differences\n");
	initStringInfo(&s);
	for (int i = 0; i < d->ndeltas; i++)
	{
		const BpSchemaDelta *delta = &d->deltas[i];
		const BpSchemaObject *o = delta->object;

		switch (delta->what)
		{
			case BP_SCHEMA_ADDED:
				appendStringInfo(&s, "+ %s %s\n", o->kind, o->name);
				for (int a = 0; a < o->nattrs; a++)
				{
					if (strchr(o->attrs[a].value, '\n'))
						AppendBlock(&s, o->attrs[a].key, o->attrs[a].value);
					else
						appendStringInfo(&s, "    %s: %s\n", o->attrs[a].key, o->attrs[a].value);
				}
				break;
			case BP_SCHEMA_REMOVED:
				appendStringInfo(&s, "- %s %s\n", o->kind, o->name);
				break;
			case BP_SCHEMA_CHANGED:
				appendStringInfo(&s, "~ %s %s\n", o->kind, o->name);
				for (int c = 0; c < delta->nchanges; c++)
				{
					const BpSchemaChange *ch = &delta->changes[c];

					if ((ch->from && strchr(ch->from, '\n')) || (ch->to && strchr(ch->to, '\n')))
					{
						AppendBlock(&s, psprintf("%s (from)", ch->key), ch->from);
						AppendBlock(&s, psprintf("%s (to)", ch->key), ch->to);
					}
					else
						appendStringInfo(&s, "    %s: %s -> %s\n", ch->key,
										 Shown(ch->from), Shown(ch->to));
				}
				break;
		}
	}
	return s.data;
}

/*
 * d in one line: "kind name added|removed|changed (keys)" items joined by
 * ", ", at most limit of them (at least one), then ", and N more".
 */
char *
BpSchemaDiffSummary(const BpSchemaDiff *d, int limit)
{
	StringInfoData s;
	int			shown;

	if (d->ndeltas == 0)
		return pstrdup("no differences");
	shown = Min(d->ndeltas, Max(1, limit));
	initStringInfo(&s);
	for (int i = 0; i < shown; i++)
	{
		const BpSchemaDelta *delta = &d->deltas[i];

		if (i > 0)
			appendStringInfoString(&s, ", ");
		appendStringInfo(&s, "%s %s %s", delta->object->kind, delta->object->name,
						 delta->what == BP_SCHEMA_ADDED ? "added" :
						 delta->what == BP_SCHEMA_REMOVED ? "removed" : "changed");
		if (delta->what == BP_SCHEMA_CHANGED)
		{
			appendStringInfoString(&s, " (");
			for (int c = 0; c < delta->nchanges; c++)
				appendStringInfo(&s, "%s%s", c > 0 ? ", " : "", delta->changes[c].key);
			appendStringInfoChar(&s, ')');
		}
	}
	if (d->ndeltas > shown)
		appendStringInfo(&s, ", and %d more", d->ndeltas - shown);
	return s.data;
}
