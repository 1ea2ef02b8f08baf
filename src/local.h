/*
 * local.h — on-disk layout shared by the local storage and compute drivers
 * (local.c), which use nothing of each other.
 *
 *   <data_root>/template/               initdb'd base, never started
 *   <data_root>/timelines/<id>/owner    creating transaction's xid
 *   <data_root>/timelines/<id>/pgdata/  the cluster
 *   <data_root>/timelines/<id>/archive/ its WAL archive (basic_archive)
 *   <data_root>/timelines/<id>/compute.log
 *   <data_root>/timelines/<id>/pg_hba.conf  the compute's (hba_file), written by us alone
 *   <data_root>/timelines/<id>/closed       (only while closed to clients)
 *   <socket_directory>/c<compute id>/   private unix-socket directory
 */
#ifndef BP_LOCAL_H
#define BP_LOCAL_H

#include "access/xlogdefs.h"

#include "driver.h"

extern char *LocalTimelineDir(int64 timeline_id);
extern char *LocalPgdata(int64 timeline_id);
extern char *LocalArchive(int64 timeline_id);
extern char *LocalLogFile(int64 timeline_id);
extern char *LocalTemplateDir(void);
extern char *LocalOldTemplateDir(void);
extern char *LocalSocketDir(int64 compute_id);
extern char *LocalHbaFile(int64 timeline_id);
extern void LocalWriteFile(const char *path, const char *content);
extern void LocalWriteInNewTree(const char *path, const char *content);
extern int	LocalPidFile(const char *pgdata, bool *ready);
extern int	LocalPostmasterPid(const char *pgdata);

/* local_defrag.c: the storage driver's defragment */
extern bool LocalDefragment(int64 timeline_id, uint64 min_extents, bool running,
							BpDefragReport *report);

/* the drivers themselves, chosen by name in drivers.c */
extern const BpStorageDriver bp_local_storage;
extern const BpComputeDriver bp_local_compute;

#endif
