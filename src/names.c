/*
 * names.c — validation of user-supplied names and paths.
 *
 * Pure code: no I/O, no SPI, no globals.  Every name a user gives
 * (project, environment) passes through BpNameIsValid before it reaches
 * the catalog, a file path, a process title or a connection string.
 */
#ifndef FRONTEND
#include "postgres.h"
#else
#include "postgres_fe.h"
#endif

#include "names.h"

/* Does name match ^[a-z][a-z0-9_-]{0,62}$ ? */
bool
BpNameIsValid(const char *name)
{
	size_t		i;

	if (name == NULL || name[0] < 'a' || name[0] > 'z')
		return false;
	for (i = 1; name[i] != '\0'; i++)
	{
		char		c = name[i];

		if (i >= BP_NAME_MAXLEN)
			return false;
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '-'))
			return false;
	}
	return true;
}

/*
 * Is name one a project may not take?  A project's name is also its role
 * and database on every compute, so names that PostgreSQL reserves or that
 * every cluster already has are refused.
 */
bool
BpNameIsReserved(const char *name)
{
	static const char *const reserved[] = {
		"postgres", "template0", "template1", "public", "none", "current_user",
		"current_role", "session_user", "branchpromote", NULL
	};

	if (strncmp(name, "pg_", 3) == 0)
		return true;
	for (int i = 0; reserved[i]; i++)
		if (strcmp(name, reserved[i]) == 0)
			return true;
	return false;
}

/*
 * Is path absolute and free of characters that could break out of a quoted
 * configuration value or a restore_command ('  "  \  newline, control)?
 */
bool
BpPathIsSafe(const char *path)
{
	const unsigned char *p;

	if (path == NULL || path[0] != '/')
		return false;
	for (p = (const unsigned char *) path; *p; p++)
	{
		if (*p < 0x20 || *p == 0x7f || *p == '\'' || *p == '"' ||
			*p == '\\' || *p == '%' || *p == '`' || *p == '$')
			return false;
	}
	return true;
}
