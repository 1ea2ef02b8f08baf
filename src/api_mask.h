/*
 * api_mask.h — masking a new fork (fork_branch's), and a rule set's digest.
 */
#ifndef BP_API_MASK_H
#define BP_API_MASK_H

#include "access/xlogdefs.h"

#include "apiutil.h"
#include "catalog.h"
#include "masking.h"

extern char *MaskDigest(const BpMaskRule *rules, int n);
extern XLogRecPtr MaskNewFork(ApiResult *r, const BpProject *p, const BpComputeSpec *spec,
							  const BpMaskRule *rules, int n, const char *seed, char **digest);

#endif
