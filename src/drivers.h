/*
 * drivers.h — choosing the storage and compute drivers by setting.
 */
#ifndef BP_DRIVERS_H
#define BP_DRIVERS_H

extern void BpDriversInit(void);

#endif
