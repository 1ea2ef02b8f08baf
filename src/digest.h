/*
 * digest.h — sha256 as lowercase hex.
 */
#ifndef BP_DIGEST_H
#define BP_DIGEST_H

extern char *BpSha256Hex(const char *data);

#endif
