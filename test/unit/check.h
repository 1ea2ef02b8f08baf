/*
 * check.h — the unit tests' one assertion and their tally.
 */
#ifndef BP_UNIT_CHECK_H
#define BP_UNIT_CHECK_H

#include <stdio.h>
#include <string.h>

static int	passed = 0;
static int	failed = 0;

/* Count cond; if false, say where. */
#define CHECK(cond) \
	do { \
		if (cond) passed++; \
		else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
	} while (0)

/* CHECK that two strings are equal; if not, show both. */
#define CHECK_STR(got, want) \
	do { \
		const char *g_ = (got), *w_ = (want); \
		if (g_ != NULL && strcmp(g_, w_) == 0) passed++; \
		else { failed++; fprintf(stderr, "FAIL %s:%d: %s\n  got:  %s\n  want: %s\n", __FILE__, __LINE__, #got, g_ ? g_ : "(null)", w_); } \
	} while (0)

/* Print the tally of suite; main's exit status. */
static inline int
CheckReport(const char *suite)
{
	printf("%s: %d passed, %d failed\n", suite, passed, failed);
	return failed == 0 ? 0 : 1;
}

#endif
