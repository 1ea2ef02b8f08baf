/*
 * jsonstr.h — a JSON string literal, for code that renders JSON without
 * the backend's escape_json (pure code: it builds in the backend and with
 * -DFRONTEND).
 */
#ifndef BP_JSONSTR_H
#define BP_JSONSTR_H

#include "lib/stringinfo.h"

/* Append v to s as a quoted JSON string. */
extern void BpJsonString(StringInfo s, const char *v);

#endif
