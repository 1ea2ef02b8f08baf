/*
 * catalog.h — the only code that reads and writes branchpromote's tables.
 */
#ifndef BP_CATALOG_H
#define BP_CATALOG_H

#include "access/xlogdefs.h"
#include "datatype/timestamp.h"
#include "nodes/pg_list.h"

#include "driver.h"
#include "history.h"
#include "ledger.h"
#include "manifest.h"
#include "masking.h"

typedef struct BpProject
{
	int64		id;
	char	   *name;
	Oid			owner;
	char	   *password;
} BpProject;

typedef struct BpComputeRow
{
	int64		id;
	int64		project_id;
	char	   *project;
	char	   *project_password;
	char	   *env;
	char	   *desired_state;
	char	   *actual_state;
	int			pid;
	BpComputeSpec spec;
} BpComputeRow;

/* A compute as one pass of the reconciler lists it. */
typedef struct BpComputeBrief
{
	int64		id;
	bool		running;		/* desired state */
	bool		actual_running;
	bool		suspended;		/* actual state */
	bool		stopped;		/* actual state */
	BpComputeSpec spec;
	char		manifest_key[33];	/* what its manifest is rendered from, digested */
	bool		manifest_current;	/* stored from those very inputs */
	bool		quiet;			/* the reconciler's: down as recorded, nothing to do */
} BpComputeBrief;

/* A live timeline and its committed snapshots. */
typedef struct BpTimelineHistory
{
	int64		timeline_id;
	int			nsnap;
	BpSnapshotInfo *snap;		/* ascending by lsn */
} BpTimelineHistory;

typedef struct BpTimelineState
{
	int64		timeline_id;
	bool		has_compute;
} BpTimelineState;

typedef struct BpDeployRow
{
	int64		project_id;
	const char *release;
	const char *action;
	int64		from_timeline;
	int64		to_timeline;
	XLogRecPtr	fork_lsn;
	const char *clone_method;
	TimestampTz started_at;
	double		elapsed_ms;
	XLogRecPtr	anchor_lsn;		/* InvalidXLogRecPtr: none */
	const char *migrations_json;	/* JSON array of versions applied */
	const char *rehearsal_json;	/* JSON object, or NULL */
	const char *previous_release;	/* prod's release before, or NULL */
	const char *attempts_json;	/* JSON array of the migration run's attempts, or NULL */
	const char *dev_schema;		/* dev's schema fingerprint, or NULL */
	const char *result_schema;	/* prod's once deployed, or NULL */
	bool		schema_override;	/* accept_schema => true let a difference through */
} BpDeployRow;

/* A deploy as rollback_deploy needs it. */
typedef struct BpDeployInfo
{
	int64		id;
	char	   *action;
	char	   *status;
	int64		to_timeline;
	XLogRecPtr	anchor_lsn;
	char	   *release;
	char	   *previous_release;
	int64		rolled_back_by;
} BpDeployInfo;

typedef struct BpTimelineRow
{
	int64		id;
	char	   *kind;
	bool		discarded;
	char	   *kept_until;		/* discarded, data kept until (text); NULL: live or gone */
} BpTimelineRow;

/* Session: SPI connected, running as the extension owner. */
extern void CatalogBegin(void);
extern void CatalogEnd(void);
extern bool CatalogCallerSees(const char *project, const char *actor);
extern Oid	CatalogCaller(void);
extern bool CatalogExtensionInstalled(void);

extern void CatalogLockProjectName(const char *name);
extern bool CatalogHasRecoveryWindow(void);
extern bool CatalogFindProject(const char *name, bool for_update, BpProject *out);
extern int64 CatalogInsertProject(const char *name, Oid owner, const char *password);
extern bool CatalogFindDroppedProject(const char *name, BpProject *out, char **kept_until);
extern char *CatalogDropProject(int64 project_id, int window_s);
extern void CatalogUndropProject(int64 project_id);
extern void CatalogDeleteProject(int64 project_id);
extern void CatalogPurgeExpired(int *projects, int *branches);
extern BpMaskRule *CatalogMaskRules(int64 project_id, int *n);
extern char *CatalogMaskSeed(int64 project_id, const char *make);
extern char *CatalogSetMaskRule(int64 project_id, const BpMaskRule *rule, Oid by);
extern bool CatalogDropMaskRule(int64 project_id, const char *schema, const char *table,
								const char *column);
extern void CatalogSetPreviewMasking(int64 project_id, bool on);
extern bool CatalogPreviewMasking(int64 project_id);
extern char *CatalogTimelineMask(int64 timeline_id);
extern void CatalogSetTimelineMask(int64 timeline_id, const char *digest, XLogRecPtr lsn);
extern bool CatalogIsProtected(int64 project_id, const char *name);
extern bool CatalogProtect(int64 project_id, const char *name, Oid by);
extern bool CatalogUnprotect(int64 project_id, const char *name);
extern char *CatalogProtectedNames(int64 project_id);

extern int64 CatalogNextTimelineId(void);
extern void CatalogInsertTimeline(int64 id, int64 project_id, const char *kind,
								  int64 parent_id, XLogRecPtr fork_lsn,
								  const char *clone_method);
extern bool CatalogTimelineExists(int64 id);
extern bool CatalogTimelineHasCompute(int64 id);
extern List *CatalogProjectTimelines(int64 project_id);

extern void CatalogSetEnvironment(int64 project_id, const char *env, int64 timeline_id,
								  const char *release);
extern bool CatalogGetEnvironment(int64 project_id, const char *env, int64 *timeline_id,
								  char **release);

extern List *CatalogFreePorts(int max);
extern bool CatalogClaimPort(int port);
extern void CatalogLockStoredTimeline(int64 timeline_id);
extern int64 CatalogInsertCompute(int64 project_id, const char *env, int64 timeline_id,
								  int port, int pid);
extern bool CatalogGetCompute(int64 project_id, const char *env, BpComputeRow *out);
extern bool CatalogGetComputeById(int64 id, bool lock_project, bool *locked,
								  BpComputeRow *out);
extern void CatalogSetComputeState(int64 id, const char *actual_state, int pid,
								   const char *error);
extern BpComputeBrief *CatalogComputeBriefs(const char *renderer, int *n);
extern bool CatalogComputeExists(int64 id);

extern int64 CatalogInsertDeploy(const BpDeployRow *d);
extern int	CatalogLockProjectKeyShare(int64 project_id);
extern void CatalogInsertFailedDeploy(int64 project_id, const char *action, const char *release,
									  TimestampTz started_at, double elapsed_ms,
									  const char *error);
extern int64 CatalogNextComputeId(void);
extern void CatalogRecordPrepared(const char *gid, int64 compute_id);
extern bool CatalogPreparedCommitted(const char *gid);
extern void CatalogForgetPrepared(int64 compute_id, const char *const *still_prepared, int n);
extern void CatalogInsertAnchor(int64 timeline_id, const char *name, const char *kind,
								XLogRecPtr lsn);
extern void CatalogReplaceLedgerMirror(int64 timeline_id, const BpLedger *ledger);
extern bool CatalogLedgerMirror(int64 timeline_id, BpLedger *out);
extern void CatalogSetSchemaMirror(int64 timeline_id, const char *json);
extern bool CatalogSchemaMirror(int64 timeline_id, char **json, char **drift);
extern void CatalogRecordOperation(const char *project, const char *kind,
								   const char *actor, TimestampTz started_at,
								   const char *steps_json);


extern bool CatalogOperationRecorded(const char *header);
extern void CatalogRecordFailedOperation(const char *header, const char *steps_json,
										 const char *why);
extern void CatalogRecordJournaledDeploy(const char *header, const char *steps_json,
										 const char *why);
extern int64 CatalogNextSnapshotId(void);
extern void CatalogInsertSnapshot(int64 id, int64 timeline_id, XLogRecPtr start_lsn,
								  XLogRecPtr lsn, const char *reason);
extern bool CatalogSnapshotExists(int64 id);
extern void CatalogDeleteSnapshot(int64 id);
extern BpSnapshotInfo *CatalogSnapshots(int64 timeline_id, int *n);
extern BpLineageStep *CatalogLineage(int64 timeline_id, int *n);
extern List *CatalogSnapshotsDue(int interval_s);
extern BpTimelineHistory *CatalogLiveHistories(MemoryContext cxt, int *n);
extern BpTimelineState *CatalogTimelineStates(MemoryContext cxt, const int64 *ids, int nids,
											   int *n);
extern bool CatalogTimelineOwner(int64 timeline_id, Oid *owner);
extern bool CatalogLockTimelineProject(int64 timeline_id);
extern bool CatalogFindBranch(int64 project_id, const char *branch, BpTimelineRow *out);
extern void CatalogLabelTimeline(int64 id, const char *kind, const char *branch);
extern TimestampTz CatalogSetExpiry(int64 id, int64 ttl_ms);
extern char *CatalogDiscardTimeline(int64 id, int window_s);
extern void CatalogRestoreTimeline(int64 id);
extern int	CatalogExpirePreviews(int window_s);
extern char *CatalogTimelineEnvironment(int64 timeline_id);
extern void CatalogMoveCompute(int64 compute_id, int64 timeline_id);
extern bool CatalogAnchorExists(int64 timeline_id, const char *name);
extern bool CatalogGetDeploy(int64 project_id, int64 deploy_id, BpDeployInfo *out);
extern BpDeployInfo *CatalogDeploysNewestFirst(int64 project_id, int *n);
extern void CatalogMarkRolledBack(int64 deploy_id, int64 by);
extern void BpRequireUsableSetting(const char *key, const char *value);
extern void CatalogComputeTemplate(BpManifestInput *in);
extern bool CatalogComputeManifestInput(int64 compute_id, BpManifestInput *in);
extern char *CatalogComputeRuntimeHash(int64 compute_id);
extern void CatalogSetComputeManifest(int64 compute_id, const char *manifest, const char *hash,
									  const char *runtime_hash, const char *key);
extern bool CatalogRuntimeBehind(const char *runtime_hash);
extern int64 CatalogSuspendTimeout(int64 compute_id, int default_s);
extern int64 CatalogComputeIdleSeconds(int64 compute_id);
extern void CatalogTouchCompute(int64 compute_id);
extern void CatalogSetSuspendTimeout(int64 project_id, int64 timeout_ms);

#endif
