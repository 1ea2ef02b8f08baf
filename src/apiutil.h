/*
 * apiutil.h — helpers shared by the SQL-callable functions (api*.c).
 */
#ifndef BP_APIUTIL_H
#define BP_APIUTIL_H

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "portability/instr_time.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "driver.h"
#include "ledger.h"
#include "requests.h"

/* A JSON object under construction, plus an operation's step journal. */
typedef struct ApiResult
{
	StringInfoData json;
	StringInfoData steps;
	instr_time	start;
	instr_time	last;
	TimestampTz started_at;
	StringInfoData woke;		/* "env": ms of each compute the call woke */
	List	   *woken;			/* their compute ids (int64 *) */
} ApiResult;

extern void ResultInit(ApiResult *r);
extern void OperationBegin(ApiResult *r, const char *kind, const char *project);
extern double MsSince(instr_time t);
extern void Step(ApiResult *r, const char *name);
extern void StepPhases(ApiResult *r, const char *name, const char *phases);
extern void StepWith(ApiResult *r, const char *name, const char *extra);

/* Phases of one step, timed where they happen: "name": ms, ... */
typedef struct PhaseClock
{
	StringInfoData buf;
	instr_time	last;
} PhaseClock;

extern void PhaseBegin(PhaseClock *pc);
extern void Phase(PhaseClock *pc, const char *name);
extern void Key(ApiResult *r, const char *key);
extern void PutStr(ApiResult *r, const char *key, const char *value);
extern void PutInt(ApiResult *r, const char *key, int64 value);
extern void PutRaw(ApiResult *r, const char *key, const char *json);
extern void PutLsn(ApiResult *r, const char *key, XLogRecPtr lsn);
extern Datum ResultJsonb(ApiResult *r);
extern char *StepsJson(ApiResult *r);
extern char *ArgText(FunctionCallInfo fcinfo, int n, const char *name);
extern void RequireName(const char *what, const char *name);
extern void RequireNewProjectName(const char *name);
extern bool CallerIsSuperuserOr(const char *role);
extern void RequireDeployer(void);
extern void RequireProjectAccess(const BpProject *p);
extern bool CanSeeProject(Oid owner);
extern void LoadProject(const char *name, bool for_update, BpProject *p);
extern void LoadCompute(const BpProject *p, const char *env, BpComputeRow *c);
extern BpReply AskWorker(BpRequestKind kind, const BpComputeSpec *spec, bool committed, int timeout_ms);
extern BpReply AskTrialStart(const BpComputeSpec *spec, int timeout_ms);
extern BpReply AskWorkerMirroring(BpRequestKind kind, const BpComputeSpec *spec, bool committed,
								  int timeout_ms, const char *mirror);
extern BpComputeRow ProvisionCompute(ApiResult *r, int64 project_id, const char *env, int64 timeline_id,
									 bool fresh);
extern void BootstrapApplication(const BpComputeSpec *spec, const char *name, const char *password);
extern char *NewPassword(void);
extern char *CallerName(void);
extern bool UseCompute(ApiResult *r, const BpProject *p, BpComputeRow *c, const char *env,
					   bool need_server);
extern bool UseComputeLocked(ApiResult *r, const BpProject *p, BpComputeRow *c, const char *env,
							 bool need_server, bool locked);
extern void PutWoke(ApiResult *r);
extern void NotePrepared(int64 compute_id);
extern void RefuseSecondRun(const BpProject *p, const BpComputeRow *c, const char *env);
extern void BaseSnapshot(ApiResult *r, const BpComputeSpec *spec);
extern void InsertBaseSnapshot(ApiResult *r, int64 timeline_id, int64 snapshot_id,
							   const BpSnapshotResult *snap);
extern void ReadLedger(const BpProject *p, const BpComputeRow *c, BpLedger *out);
extern char *OptText(FunctionCallInfo fcinfo, int n);
extern int64 IntervalMs(const Interval *iv, const char *what, const char *hint);
extern void DropInheritedPrepared(const BpComputeSpec *spec, const char *project,
								  const char *password, BpLedger *ledger, BpSchemaCheck *schema);

#endif
