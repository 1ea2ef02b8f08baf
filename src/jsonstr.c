/*
 * jsonstr.c — a JSON string literal (pure code).
 *
 * The backend's escape_json is not in libpgcommon, so the pure modules
 * that render JSON (manifest.c, schemafp.c) share this one.
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "jsonstr.h"

/* Append v to s as a quoted JSON string: ", \ and control characters escaped. */
void
BpJsonString(StringInfo s, const char *v)
{
	appendStringInfoChar(s, '"');
	for (const unsigned char *c = (const unsigned char *) v; *c; c++)
	{
		switch (*c)
		{
			case '"':
				appendStringInfoString(s, "\\\"");
				break;
			case '\\':
				appendStringInfoString(s, "\\\\");
				break;
			case '\b':
				appendStringInfoString(s, "\\b");
				break;
			case '\f':
				appendStringInfoString(s, "\\f");
				break;
			case '\n':
				appendStringInfoString(s, "\\n");
				break;
			case '\r':
				appendStringInfoString(s, "\\r");
				break;
			case '\t':
				appendStringInfoString(s, "\\t");
				break;
			default:
				if (*c < 0x20)
					appendStringInfo(s, "\\u%04x", *c);
				else
					appendStringInfoChar(s, (char) *c);
				break;
		}
	}
	appendStringInfoChar(s, '"');
}
