/* Internal: the integrator cache (design: doc/design.md "Integrator cache"). An integrator
 * (the CSR, its tiled form, bin centres, per-pixel norm and dark) is written once to a file
 * named by a hash of everything it was built from, and later runs map that file read-only
 * instead of building it again (0.8-1 s and 139 MB of CSR for an Eiger 4M): processes
 * then share the pages. The file holds the key material itself (geometry, detector, every
 * option, the mask / dark / flat content, the frames' type and shape, versions), compared
 * byte for byte on load; a file that is damaged, truncated or of another key is rebuilt
 * and replaced atomically (temporary file + fsync + rename), never trusted. */
#ifndef AZS_INTEGRATOR_CACHE_H
#define AZS_INTEGRATOR_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/integrate.h"

/* Bump when what the builders produce for the same inputs changes (a new rounding, a
 * reordered matrix): older files then miss instead of being used. */
#define AZS_CACHE_FORMAT 1

/* After a write, the least recently used files of the folder go until its cache files hold
 * this much or less (about 25 Eiger 4M full-split integrators). */
#define AZS_CACHE_KEEP_BYTES (4ull << 30)

typedef struct azs_cache_request {
    const char *dir;      /* an existing folder; NULL: build, no cache */
    int load_only;        /* 1: load or build, never write (procs workers, MPI ranks > 0) */
    azs_dtype dtype;      /* the frames' pixel type (key material) */
    const char *build_id; /* the library's version (key material) */
} azs_cache_request;

enum {
    AZS_CACHE_OFF = 0,    /* built, no cache asked for */
    AZS_CACHE_LOADED,     /* mapped from the cache file */
    AZS_CACHE_STORED,     /* built, then written to the cache file */
    AZS_CACHE_BUILT       /* built, not written (load_only, or writing failed: see notice) */
};

typedef struct azs_cache_outcome {
    int origin;           /* AZS_CACHE_* */
    char path[4096];      /* the cache file ("" without a cache) */
    char notice[1024];    /* "" or what went wrong with the cache; the build went on */
    double seconds;       /* to load, or to build (and write) */
} azs_cache_outcome;

/* azs_integrator_create through the cache. Only a failure to build is an error: a cache
 * that cannot be read or written is a notice in oc (may be NULL) and the integrator is
 * built. */
azs_status azs_integrator_create_cached(const azs_geometry *g, const azs_integrate_options *o,
                                        const azs_cache_request *rq, azs_integrator **out,
                                        azs_cache_outcome *oc);

/* The parts, for tests. The key material of (g, o, dtype, build_id): malloc'ed. */
azs_status azs_integrator_cache_key(const azs_geometry *g, const azs_integrate_options *o,
                                    azs_dtype dtype, const char *build_id, uint8_t **key,
                                    size_t *len);
/* The file name of a key within dir: dir/integrator-<32 hex digits>.azsi. */
void azs_integrator_cache_path(const char *dir, const uint8_t *key, size_t len, char *path,
                               size_t cap);
/* Write it to path atomically (a temporary file in the same folder, fsync, rename). */
azs_status azs_integrator_cache_store(const azs_integrator *it, const char *path,
                                      const uint8_t *key, size_t len);
/* Map path: AZS_ERR_NOT_FOUND if it is missing or holds another key or format (a miss),
 * AZS_ERR_TRUNCATED / AZS_ERR_CORRUPT / AZS_ERR_FORMAT if damaged; o as given to the
 * build (the integrator keeps a copy, without the array pointers). */
azs_status azs_integrator_cache_load(const char *path, const uint8_t *key, size_t len,
                                     const azs_integrate_options *o, azs_integrator **out);

#endif
