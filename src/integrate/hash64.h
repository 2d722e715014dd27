/* Internal: a 64-bit non-cryptographic hash (the XXH64 algorithm, written from its
 * published specification), for the integrator cache: the file name comes from the key
 * hashed with two seeds, and every section of a cache file carries its hash so that a
 * damaged file is detected (integrator_cache.c). Not for anything an attacker chooses. */
#ifndef AZS_HASH64_H
#define AZS_HASH64_H

#include <stddef.h>
#include <stdint.h>

uint64_t azs_hash64(const void *data, size_t len, uint64_t seed);

#endif
