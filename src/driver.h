/*
 * driver.h — the storage and compute driver interfaces.
 *
 * The API and the reconciler speak only of timeline ids and compute specs;
 * where a timeline lives (a directory, a pageserver) and how a compute runs
 * (a local postmaster, a Kubernetes pod) is the driver's business.  `local`
 * is the embedded default.
 */
#ifndef BP_DRIVER_H
#define BP_DRIVER_H

#include "access/xlogdefs.h"
#include "access/transam.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "clone.h"
#include "manifest.h"
#include "pgconn.h"

/* Everything a compute driver needs to run one compute. */
typedef struct BpComputeSpec
{
	int64		compute_id;
	int64		timeline_id;
	int			port;
} BpComputeSpec;

typedef enum BpComputeStatus
{
	BP_COMPUTE_DOWN,			/* no server process */
	BP_COMPUTE_STARTING,		/* a process, not yet accepting connections */
	BP_COMPUTE_READY			/* accepting connections as a primary */
} BpComputeStatus;

/* What taking a snapshot gave. */
typedef struct BpSnapshotResult
{
	XLogRecPtr	start_lsn;		/* WAL from here on is needed to use it */
	XLogRecPtr	lsn;			/* consistent from here on */
	BpCloneMethod method;
	uint64		bytes;
	char		phases[192];	/* JSON members "phase": ms, ... of what it took */
} BpSnapshotResult;

typedef struct BpForkResult
{
	XLogRecPtr	start_lsn;		/* replay of the new timeline starts here */
	XLogRecPtr	fork_lsn;		/* the new timeline holds everything up to here */
	BpCloneMethod method;
	bool		source_was_running;
	uint64		bytes;			/* logical bytes cloned */
	BpSnapshotResult base;		/* its base snapshot, when one was asked for */
	char		phases[256];	/* JSON members "phase": ms, ... of what it took */
} BpForkResult;

/* A timeline (or snapshot) found in storage, and the transaction that created it. */
typedef struct BpStoredTimeline
{
	int64		timeline_id;
	FullTransactionId creator;	/* invalid if its owner file is missing */
	bool		young;			/* made less than a minute ago */
	bool		current;		/* made by this catalog incarnation on this WAL timeline */
	bool		empty;			/* nothing but its (missing) owner file in it */
	char		stamp[64];		/* the owner file's incarnation and WAL timeline, or "" */
} BpStoredTimeline;

/*
 * The catalog's incarnation (branchpromote.incarnation, a uuid made by
 * CREATE EXTENSION), read at every CatalogBegin.  Every owner file records
 * it with the control server's WAL timeline: a directory the reconciler
 * may collect is one of this incarnation on this WAL timeline.  A restored
 * catalog (a new WAL timeline after a restore or PITR) or a re-created
 * one (a new incarnation) leaves others alone: they are strays, reported
 * and purged or adopted only by an explicit call.
 */
extern char bp_incarnation[40];
extern char *BpOwnerStamp(void);

typedef struct BpStorageDriver
{
	const char *name;
	/* Backend: is the shared base for new root timelines ready? */
	bool		(*template_ready) (void);
	/* Reconciler only (runs initdb): make the shared base. */
	void		(*ensure_template) (void);
	/* Backend: a new root timeline from the template. */
	BpCloneMethod (*create_root) (int64 timeline_id);
	/*
	 * Backend: fork source's head into a new timeline (source running or
	 * not); with base_snapshot_id (else 0), also the new timeline's base
	 * snapshot under that id, consistent at the fork LSN (result->base).
	 */
	void		(*fork_at_head) (int64 source_timeline, const BpComputeSpec *source,
								 int64 new_timeline, int64 base_snapshot_id,
								 BpForkResult *result);
	/* Reconciler only: every timeline in storage (List of BpStoredTimeline *). */
	List	   *(*list) (void);
	/* Reconciler only: move a timeline and its history to the trash. */
	void		(*remove) (int64 timeline_id);
	/* Reconciler only: empty the trash of what went there before older_than; returns how many. */
	int			(*purge_trash) (TimestampTz older_than);
	/*
	 * Stamp a timeline (snapshot_id 0) or one of its snapshots as this
	 * catalog's, made by creator: an adopted stray, or one a row names.
	 */
	void		(*restamp) (int64 timeline_id, int64 snapshot_id, FullTransactionId creator,
							const char *stamp);
	/* Bytes on disk, and how many of them are shared with other files (reflink). */
	void		(*usage) (int64 timeline_id, uint64 *bytes, uint64 *shared);
	/*
	 * Backend or reconciler: a snapshot (un-started base backup) of a timeline
	 * that runs or was shut down cleanly (then its files at the shutdown
	 * checkpoint, no server started).
	 */
	void		(*snapshot) (int64 timeline_id, const BpComputeSpec *spec, int64 snapshot_id,
							 BpSnapshotResult *result);
	/* Backend: fork source at target (invalid: the snapshot's LSN) from its snapshot. */
	void		(*fork_at_snapshot) (int64 source_timeline, int64 snapshot_id,
									 XLogRecPtr target, int64 new_timeline,
									 BpForkResult *result);
	/*
	 * Backend: a timeline's head.  Running: with seal, every LSN up to it is
	 * archived.  Shut down cleanly: its shutdown checkpoint, and forks from
	 * its snapshots find the WAL its archive lacks without a seal.
	 */
	XLogRecPtr	(*head_lsn) (int64 timeline_id, const BpComputeSpec *spec, bool seal);
	/* Reconciler only: a timeline's snapshots in storage (List of BpStoredTimeline *). */
	List	   *(*list_snapshots) (int64 timeline_id);
	void		(*remove_snapshot) (int64 timeline_id, int64 snapshot_id);
	/*
	 * Reconciler only: drop archived WAL before keep_from (invalid: WAL last
	 * written before older_than); returns segments removed.
	 */
	int			(*prune_archive) (int64 timeline_id, XLogRecPtr keep_from,
								  TimestampTz older_than);
	/*
	 * Reconciler only, never throws: might the history of a timeline whose
	 * committed snapshots are ids need work — a snapshot directory not
	 * among them, or archived WAL prune_archive(keep_from, older_than)
	 * would drop?  True when unsure.
	 */
	bool		(*history_due) (int64 timeline_id, const int64 *ids, int n,
								XLogRecPtr keep_from, TimestampTz older_than);
	/*
	 * Backend: a cleanly stopped timeline that never runs again (a backup):
	 * its whole history into its archive; returns its head (invalid: not
	 * stopped cleanly).
	 */
	XLogRecPtr	(*seal_stopped) (int64 timeline_id);
	/*
	 * Backend: a timeline no server runs on that was shut down cleanly (its
	 * files are enough to snapshot and fork it): its head; else invalid.
	 */
	XLogRecPtr	(*stopped_head) (int64 timeline_id);
} BpStorageDriver;

typedef struct BpComputeDriver
{
	const char *name;
	/*
	 * Reconciler only: launch the compute with the manifest's Postgres
	 * settings; returns the launched process id.
	 */
	int			(*start) (const BpComputeSpec *spec, const BpKeyValue *settings, int nsettings);
	/* Reconciler only: stop it (fast shutdown) and wait until it is gone. */
	void		(*stop) (const BpComputeSpec *spec);
	/* Reconciler only: stop whatever server runs on a timeline. */
	void		(*stop_timeline) (int64 timeline_id, bool immediate);
	BpComputeStatus (*status) (const BpComputeSpec *spec, int *pid);
	/* Its server's process id if one runs (no connection attempt); 0 if none. */
	int			(*server_pid) (const BpComputeSpec *spec);
	/* Superuser address for the control plane's own connections. */
	void		(*admin_address) (const BpComputeSpec *spec, BpComputeAddr *addr);
	/* Can a new compute listen on this port (nothing else holds it)? */
	bool		(*port_available) (int port);
	/* Where clients connect: host and port. */
	void		(*client_endpoint) (const BpComputeSpec *spec, const char **host, int *port);
	/* Reconciler only: ids of computes that have local endpoints (List of int64 *). */
	List	   *(*list_endpoints) (void);
	/* Reconciler only: release a gone compute's endpoint (no-op while in use). */
	void		(*forget) (int64 compute_id);
	/*
	 * Close a compute to clients (only the control plane's own connections
	 * get in) or open it again; takes effect at its next start or at once.
	 */
	void		(*set_client_access) (const BpComputeSpec *spec, bool open);
	/* Is it closed to clients? */
	bool		(*client_access_closed) (const BpComputeSpec *spec);
	/* The last lines the compute logged, for error details (palloc'd). */
	char	   *(*log_tail) (const BpComputeSpec *spec);
} BpComputeDriver;

/* The drivers branchpromote.storage_driver and compute_driver chose (drivers.c). */
extern const BpStorageDriver *BpStorage(void);
extern const BpComputeDriver *BpCompute(void);

#endif
