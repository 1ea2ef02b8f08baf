/*
 * localuser.h — the computes' own OS user (branchpromote.compute_os_user).
 */
#ifndef BP_LOCALUSER_H
#define BP_LOCALUSER_H

#include <sys/types.h>

/* Do computes run as an OS user of their own? */
extern bool LocalSeparateUser(void);
extern uid_t LocalComputeUid(void);
extern const char *LocalComputeGroupName(void);
/* Let the compute user's group into path (mode: e.g. 0750) if separate; no-op otherwise. */
extern void LocalShare(const char *path, mode_t mode);
/* Run branchpromote_helper cmd on pgdata (reconciler only); ERROR if it fails. */
extern void LocalHelper(const char *cmd, const char *pgdata, const char *arg);
/* The same, with a second argument and a time limit of its own (LocalHelper: compute_start_timeout). */
extern void LocalHelperWithin(const char *cmd, const char *pgdata, const char *arg,
							  const char *arg2, int timeout_ms);
/* argv to start postgres on pgdata as the compute user, with room for nextra more arguments. */
extern char **LocalExecArgv(const char *pgdata, int nextra, int *n);

#endif
