/*
 * api_recovery.h — the protection checks of discard_branch, reset_prod and
 * drop_project.
 */
#ifndef BP_API_RECOVERY_H
#define BP_API_RECOVERY_H

#include "catalog.h"

extern void RefuseProtected(const BpProject *p, const char *name, const char *call);
extern void RefuseProtectedProject(const BpProject *p);

#endif
