/* Internal to src/integrate: the integrator object itself, shared by integrator.c (which
 * builds it) and integrator_cache.c (which writes it to a cache file and maps it back). */
#ifndef AZS_INTEGRATOR_STRUCT_H
#define AZS_INTEGRATOR_STRUCT_H

#include "builder.h"
#include "tiled.h"

struct azs_integrator {
    azs_integrate_options opt; /* mask/dark/flat pointers cleared: copies live below */
    azs_csr m;
    uint32_t ny, nx;
    size_t npix;
    float *norm;   /* [npix] */
    float *dark;   /* [npix] or NULL */
    azs_tiled tiled;
    azs_tiled_ctx ctx;
    /* Loaded from a cache file (integrator_cache.c): every array above points into this
     * read-only mapping, which destroy unmaps instead of freeing the arrays. */
    void *map;
    size_t map_bytes;
};

/* The engine context (it->ctx) from the arrays and the options: after a build, and after a
 * cache load. */
void azs_integrator_set_ctx(azs_integrator *it, const azs_integrate_options *o);

#endif
