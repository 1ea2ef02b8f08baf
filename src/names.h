/*
 * names.h — validation of user-supplied names and paths (pure code).
 */
#ifndef BP_NAMES_H
#define BP_NAMES_H

#define BP_NAME_MAXLEN 63

extern bool BpNameIsValid(const char *name);
extern bool BpPathIsSafe(const char *path);
extern bool BpNameIsReserved(const char *name);

#endif
