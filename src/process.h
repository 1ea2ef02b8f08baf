/*
 * process.h — starting programs: argv arrays only, never a shell.
 */
#ifndef BP_PROCESS_H
#define BP_PROCESS_H

#include "datatype/timestamp.h"

extern pid_t BpSpawnDetached(char *const argv[], const char *logpath);
extern int	BpRunAndWait(char *const argv[], const char *logpath, int timeout_ms);
extern char *BpBinPath(const char *program);
extern bool BpPidAlive(pid_t pid);
extern bool BpWaitGone(pid_t pid, int timeout_ms);
extern bool BpProcessStartedNear(pid_t pid, time_t when, int slack_s);
extern TimestampTz BpDeadline(int timeout_ms);
extern bool BpPast(TimestampTz deadline);
extern void BpNap(int ms);

#endif
