/*
 * reconcile_manifests.c — manifest restarts: a compute's manifest rendered
 * again when its inputs change.  A job of the reconciler; worker.c runs the
 * passes.
 */
#include "postgres.h"

#include "access/transam.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "catalog.h"
#include "digest.h"
#include "driver.h"
#include "guc.h"
#include "jobs.h"
#include "journal.h"
#include "ledger.h"
#include "pgconn.h"
#include "process.h"
#include "proxystats.h"
#include "requests.h"
#include "twophase.h"
#include "reconcile.h"

/*
 * A digest of what the renderer makes of a fixed input, part of every
 * manifest key: a new version of the rendering code renders every
 * manifest again, though no input changed.
 */
char *
RendererDigest(void)
{
	static const BpKeyValue kv[1] = {{"shared_buffers", "128MB"}};
	BpManifestInput in;

	memset(&in, 0, sizeof(in));
	in.project = "p";
	in.env = "dev";
	in.kind = "dev";
	in.timeline_id = 1;
	in.compute_id = 1;
	in.port = 5432;
	in.image = "postgres:15";
	in.resources_json = "{\"cpu\": \"1\"}";
	in.labels = kv;
	in.nlabels = 1;
	in.settings = kv;
	in.nsettings = 1;
	return BpSha256Hex(psprintf("%s\n%s", BpRenderManifest(&in), BpRenderRuntime(&in)));
}

/*
 * Render a compute's manifest from the template and store it with its
 * hash.  If what its process depends on changed since it was last
 * rendered and it runs, restart it with the new settings — one compute per
 * pass, and computes come prod last, so prod restarts only once every other
 * compute has.
 */
void
DoManifest(void *arg)
{
	ManifestItem *it = arg;
	BpComputeRow row;
	bool		locked;
	int			pid;
	BpManifestInput in;
	char	   *manifest;
	char	   *runtime_hash;
	char	   *stored;

	if (!CatalogGetComputeById(it->compute_id, true, &locked, &row) || !locked)
		return;
	memset(&in, 0, sizeof(in));
	if (!CatalogComputeManifestInput(it->compute_id, &in))	/* refuses unusable settings */
		return;					/* before anything is stopped */
	manifest = BpRenderManifest(&in);
	runtime_hash = BpSha256Hex(BpRenderRuntime(&in));
	stored = CatalogComputeRuntimeHash(it->compute_id);
	if (stored != NULL && strcmp(stored, runtime_hash) != 0 &&
		strcmp(row.desired_state, "running") == 0 &&
		BpCompute()->observe(&row.spec, &pid) == BP_COMPUTE_READY)
	{
		if (it->restarted)
			return;				/* one at a time: next pass */
		if (strcmp(row.env, "prod") == 0 && CatalogRuntimeBehind(runtime_hash))
			return;				/* prod last: another compute still runs the old one */
		it->restarted = true;	/* even if this one fails */
		ereport(LOG,
				(errmsg("branchpromote reconciler: restarting compute %s/%s: its manifest changed",
						row.project, row.env)));
		BpCompute()->stop(&row.spec);
		pid = BeginStart(&row.spec, bp_compute_start_timeout_ms, true, false, -1);
		if (pid > 0)
			CatalogSetComputeState(row.id, "running", pid, NULL);
	}
	CatalogSetComputeManifest(it->compute_id, manifest, BpSha256Hex(manifest), runtime_hash,
							  it->key);
}
