/*
 * manifest.h — a compute's manifest, rendered from the one template (pure code).
 *
 * Kubernetes-shaped (a ConfigMap with the Postgres settings, a Deployment,
 * a Service), the shape Neon's computes use, so the same document can drive
 * a cluster scheduler; the local driver uses its settings and identity.
 */
#ifndef BP_MANIFEST_H
#define BP_MANIFEST_H

typedef struct BpKeyValue
{
	const char *key;
	const char *value;
} BpKeyValue;

typedef struct BpManifestInput
{
	const char *project;
	const char *env;
	const char *kind;			/* the timeline's kind */
	int64		timeline_id;
	int64		compute_id;
	int			port;
	const char *image;
	const char *resources_json; /* a JSON object, inserted as is */
	const BpKeyValue *labels;	/* the template's extra labels, sorted by key */
	int			nlabels;
	const BpKeyValue *settings; /* Postgres settings, sorted by key */
	int			nsettings;
} BpManifestInput;

/* A setting whose name and value can be passed to a postmaster as -c key=value. */
extern bool BpSettingIsSafe(const char *key, const char *value);
/* A setting a tenant's compute may take from the template (an allowlist). */
extern bool BpSettingAllowed(const char *key);

/* The manifest as JSON text (palloc'd); identical inputs give identical text. */
extern char *BpRenderManifest(const BpManifestInput *in);

/*
 * What the compute's process depends on (image, resources, settings) as
 * text: a change here means a restart, unlike a new timeline or label.
 */
extern char *BpRenderRuntime(const BpManifestInput *in);

#endif
