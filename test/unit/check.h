/*
 * check.h — the unit tests' one assertion and their tally.
 */
#ifndef BP_UNIT_CHECK_H
#define BP_UNIT_CHECK_H

#include <stdio.h>

static int	passed = 0;
static int	failed = 0;

/* Count cond; if false, say where. */
#define CHECK(cond) \
	do { \
		if (cond) passed++; \
		else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
	} while (0)

/* Print the tally of suite; main's exit status. */
static inline int
CheckReport(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed == 0 ? 0 : 1;
}

#endif
