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

#include "manifest.h"
#include "pgconn.h"

/*
 * Everything a compute driver needs to run one compute: which one, bound
 * to which timeline, and the port of its endpoint, which the driver
 * assigns (assign_endpoint) and the catalog keeps (compute.port).
 */
typedef struct BpComputeSpec
{
	int64		compute_id;
	int64		timeline_id;
	int			port;
} BpComputeSpec;

/* What observing a compute finds. */
typedef enum BpComputeStatus
{
	BP_COMPUTE_DOWN,			/* not running, no start under way */
	BP_COMPUTE_STARTING,		/* started (or stopping), not yet accepting connections */
	BP_COMPUTE_READY,			/* accepting connections as a primary */
	BP_COMPUTE_FAILED			/* down: the start this process asked for ended before ready */
} BpComputeStatus;

/* No server runs (whether or not a start of ours failed). */
static inline bool
BpComputeDown(BpComputeStatus st)
{
	return st == BP_COMPUTE_DOWN || st == BP_COMPUTE_FAILED;
}

/* What taking a snapshot gave. */
typedef struct BpSnapshotResult
{
	XLogRecPtr	start_lsn;		/* WAL from here on is needed to use it */
	XLogRecPtr	lsn;			/* consistent from here on */
	const char *method;			/* how the driver made it (local: "reflink" or "copy") */
	uint64		bytes;
	char		phases[192];	/* JSON members "phase": ms, ... of what it took */
} BpSnapshotResult;

typedef struct BpForkResult
{
	XLogRecPtr	start_lsn;		/* replay of the new timeline starts here */
	XLogRecPtr	fork_lsn;		/* the new timeline holds everything up to here */
	const char *method;			/* as for a snapshot: recorded as clone_method */
	bool		source_was_running;
	uint64		bytes;			/* logical bytes cloned */
	BpSnapshotResult base;		/* its base snapshot, when one was asked for */
	char		phases[256];	/* JSON members "phase": ms, ... of what it took */
} BpForkResult;

/*
 * A timeline (or snapshot) found in storage, with the ownership tag the
 * driver stored with it when it was made, outside the creating transaction
 * (so it outlives an abort): which control-plane transaction asked for it,
 * and the catalog stamp.  The local driver keeps the tag in an owner file;
 * another store keeps it in the object's own metadata, or in a record the
 * driver writes before the create call.  The reconciler collects what an
 * aborted transaction made, and leaves strays alone.
 */
typedef struct BpStoredTimeline
{
	int64		timeline_id;
	FullTransactionId creator;	/* invalid if it has no tag */
	bool		young;			/* made less than a minute ago: its tag may be coming */
	bool		current;		/* tagged by this catalog incarnation on this WAL timeline */
	bool		empty;			/* made, nothing stored in it yet */
	char		stamp[64];		/* the tag's incarnation and WAL timeline, or "" */
} BpStoredTimeline;

/*
 * The catalog's incarnation (branchpromote.incarnation, a uuid made by
 * CREATE EXTENSION), read at every CatalogBegin.  Every ownership tag
 * records it with the control server's WAL timeline (BpOwnerStamp): what
 * the reconciler may collect is of this incarnation on this WAL timeline.
 * A restored catalog (a new WAL timeline after a restore or PITR) or a
 * re-created one (a new incarnation) leaves others alone: they are strays,
 * reported and purged or adopted only by an explicit call.
 */
extern char bp_incarnation[40];
extern char *BpOwnerStamp(void);

/* What defragmenting a timeline did: its relation files before and after. */
typedef struct BpDefragReport
{
	uint64		files;
	uint64		extents_before;
	uint64		over_before;	/* files over the threshold */
	uint64		extents_after;
	uint64		over_after;
	/* where the driver can tell (local: in this process, not through the helper) */
	uint64		rewritten;
	uint64		busy;			/* written while being copied: left as they were */
	uint64		skipped;		/* no room, or refused */
	bool		stopped;		/* the time limit came first */
	double		ms;
	const char *why_not;		/* when it returns false */
} BpDefragReport;

/* What head_lsn makes of a running timeline's WAL up to its head. */
typedef enum BpSeal
{
	BP_SEAL_NONE,				/* nothing: only the LSN */
	BP_SEAL_FORKS,				/* reachable by forks */
	BP_SEAL_ARCHIVE				/* and in the timeline's own store */
} BpSeal;

typedef struct BpStorageDriver
{
	const char *name;
	/* Backend: is the shared base for new root timelines ready? */
	bool		(*template_ready) (void);
	/* Reconciler only (runs initdb): make the shared base. */
	void		(*ensure_template) (void);
	/* Backend: a new root timeline from the template. */
	const char *(*create_root) (int64 timeline_id);	/* returns how it was made */
	/*
	 * Backend: fork source's head into a new timeline; running: the admin
	 * address of the server on it (BpServerOn), NULL if none runs (then it
	 * was shut down cleanly).  With base_snapshot_id (else 0), also the new
	 * timeline's base snapshot under that id, consistent at the fork LSN
	 * (result->base).
	 */
	void		(*fork_at_head) (int64 source_timeline, const BpComputeAddr *running,
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
	/* Bytes stored, and how many are shared with other timelines (local: reflinked extents). */
	void		(*usage) (int64 timeline_id, uint64 *bytes, uint64 *shared);
	/*
	 * Job worker: rewrite the timeline's fragmented files (more than
	 * min_extents extents) so that clones of it cost what its size costs;
	 * running: a server may be writing them.  False if this store or host
	 * cannot (nothing done); NULL: the store never fragments.
	 */
	bool		(*defragment) (int64 timeline_id, uint64 min_extents, bool running,
							   BpDefragReport *report);
	/*
	 * Backend or reconciler: a snapshot of a timeline — a point its forks
	 * can start from for as long as it is kept (the local driver: an
	 * un-started base backup) — that runs (running: as for fork_at_head) or
	 * was shut down cleanly (then at its shutdown checkpoint, no server
	 * started).
	 */
	void		(*snapshot) (int64 timeline_id, const BpComputeAddr *running, int64 snapshot_id,
							 BpSnapshotResult *result);
	/*
	 * Backend: fork source at target (invalid: the snapshot's LSN) from its
	 * snapshot; snapshot_id 0: from the history the store keeps itself
	 * (only at or above what history_start gave).  meanwhile (may be NULL;
	 * its argument arg) runs while the snapshot is copied, before any of
	 * the history after it is read: the source's seal (head_lsn).
	 */
	void		(*fork_at_snapshot) (int64 source_timeline, int64 snapshot_id,
									 XLogRecPtr target, int64 new_timeline,
									 BpForkResult *result,
									 void (*meanwhile) (void *arg), void *arg);
	/*
	 * Backend: a timeline's head (running: as for fork_at_head).  Running,
	 * with BP_SEAL_FORKS: forks from its snapshots, in any session, can
	 * reach every LSN up to it; with BP_SEAL_ARCHIVE also the timeline's own
	 * store holds it, so a prune_history at a later LSN leaves none of it
	 * to arrive afterwards, and a shutdown right after has none of it left
	 * to hand over (local: forks read what the archive lacks from the
	 * compute's pg_wal; ARCHIVE switches the segment and waits for the
	 * archiver).  Shut down cleanly: its last checkpoint, and forks reach
	 * it without a seal.
	 */
	XLogRecPtr	(*head_lsn) (int64 timeline_id, const BpComputeAddr *running, BpSeal seal);
	/*
	 * Backend: the oldest LSN from which the store keeps a timeline's
	 * history itself, so a fork at any later point up to its head needs no
	 * snapshot (the reachable range is this, or the oldest snapshot, to
	 * the head); invalid if it keeps none — the local driver's history is
	 * its snapshots and WAL archive.
	 */
	XLogRecPtr	(*history_start) (int64 timeline_id);
	/* Reconciler only: a timeline's snapshots in storage (List of BpStoredTimeline *). */
	List	   *(*list_snapshots) (int64 timeline_id);
	void		(*remove_snapshot) (int64 timeline_id, int64 snapshot_id);
	/*
	 * Reconciler, or a backend masking a fork: cut a timeline's history
	 * before keep_from (invalid: what was last written before older_than),
	 * so no fork reaches a point before it; returns how many pieces went
	 * (the local driver: archived WAL segments; 0 if nothing went, or the
	 * store cuts history by its own policy).
	 */
	int			(*prune_history) (int64 timeline_id, XLogRecPtr keep_from,
								  TimestampTz older_than);
	/*
	 * Reconciler only, never throws: might the history of a timeline whose
	 * committed snapshots are ids need work — a stored snapshot not among
	 * them, or history prune_history(keep_from, older_than) would cut?
	 * True when unsure.
	 */
	bool		(*history_due) (int64 timeline_id, const int64 *ids, int n,
								XLogRecPtr keep_from, TimestampTz older_than);
	/*
	 * Backend: a cleanly stopped timeline that never runs again (a backup):
	 * make its whole history reachable for forks (local: into its archive);
	 * returns its head (invalid: not stopped cleanly).
	 */
	XLogRecPtr	(*seal_stopped) (int64 timeline_id);
	/*
	 * Backend: a new timeline's trial run (AskTrialStart: archiving off) was
	 * stopped cleanly and runs again later with archiving on: make what it
	 * wrote that its later archiving would miss reachable for forks (local:
	 * its new WAL timeline's history file and completed segments, into its
	 * archive; the segment it stopped in is archived once it is full).
	 * Error if it was not stopped cleanly.
	 */
	void		(*archive_trial) (int64 timeline_id);
	/*
	 * Backend: a timeline no server runs on that was shut down cleanly (its
	 * files are enough to snapshot and fork it): its head; else invalid.
	 */
	XLogRecPtr	(*stopped_head) (int64 timeline_id);
} BpStorageDriver;

/*
 * A compute driver runs computes: servers bound to one timeline each.  It
 * is asked to converge (start, stop) and observed; it never blocks for a
 * start to finish — the reconciler observes until ready or failed.
 */
typedef struct BpComputeDriver
{
	const char *name;
	/*
	 * Backend: give a new compute (spec's ids set) its endpoint port, fixed
	 * for its life, claimed for the calling transaction.
	 */
	void		(*assign_endpoint) (BpComputeSpec *spec);
	/*
	 * Reconciler only: start the compute on its timeline with the
	 * manifest's Postgres settings; returns once launched.
	 */
	void		(*start) (const BpComputeSpec *spec, const BpKeyValue *settings, int nsettings);
	/* Reconciler only: stop it (fast shutdown) and wait until it is gone. */
	void		(*stop) (const BpComputeSpec *spec);
	/* Reconciler only: stop whatever server runs on a timeline. */
	void		(*stop_timeline) (int64 timeline_id, bool immediate);
	/*
	 * Its state, without connecting, and (non-zero unless down) the id of
	 * the running instance, which changes with every start (the catalog's
	 * compute.pid; the local driver's is the postmaster's pid).
	 */
	BpComputeStatus (*observe) (const BpComputeSpec *spec, int *instance);
	/*
	 * Reconciler only: when the ready compute began to accept connections,
	 * as the driver can tell (0: it cannot); how late observe saw it is a
	 * start's "ready" phase.
	 */
	TimestampTz (*ready_since) (const BpComputeSpec *spec);
	/*
	 * Reconciler only: how many client sessions the running compute serves
	 * now, the control plane's own not counted (its activity: idle suspend
	 * counts from the last time this was not 0, or the proxy's last use).
	 */
	int			(*client_sessions) (const BpComputeSpec *spec);
	/* Superuser address and credential for the control plane's own connections. */
	void		(*admin_address) (const BpComputeSpec *spec, BpComputeAddr *addr);
	/* Where clients connect: host and port. */
	void		(*client_endpoint) (const BpComputeSpec *spec, const char **host, int *port);
	/* Reconciler only: ids of computes the driver holds an endpoint for (List of int64 *). */
	List	   *(*list_endpoints) (void);
	/* Reconciler only: release a gone compute's endpoint (no-op while in use). */
	void		(*forget) (int64 compute_id);
	/*
	 * Close a compute to clients (only the control plane's own connections
	 * get in) or open it again; takes effect at its next start or at once.
	 * fresh: a compute the caller's transaction just made, not started yet:
	 * nothing needs to be durable (a crash before commit leaves an orphan;
	 * after it, a start renders the access again and the reconciler opens
	 * committed computes).
	 */
	void		(*set_client_access) (const BpComputeSpec *spec, bool open, bool fresh);
	/* Is it closed to clients? */
	bool		(*client_access_closed) (const BpComputeSpec *spec);
	/* The last lines the compute logged, for error details (palloc'd). */
	char	   *(*log_tail) (const BpComputeSpec *spec);
} BpComputeDriver;

/* The drivers branchpromote.storage_driver and compute_driver chose (drivers.c). */
extern const BpStorageDriver *BpStorage(void);
extern const BpComputeDriver *BpCompute(void);

/*
 * What storage needs of a compute to back up its running timeline: the
 * server's admin address (palloc'd), or NULL if none runs.  settled: one
 * starting or stopping is refused, not taken for running.
 */
extern const BpComputeAddr *BpServerOn(const BpComputeSpec *spec, bool settled);

#endif
