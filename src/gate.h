/*
 * gate.h — a compute closed to clients until the transaction that made it
 * commits.
 */
#ifndef BP_GATE_H
#define BP_GATE_H

#include "driver.h"

extern void BpOpenAtCommit(const BpComputeSpec *spec);

#endif
