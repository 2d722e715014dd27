/* A tool library, not part of the azstream library (used by `azstream synth`, and through
 * it by the tests): writing stacks of pre-encoded chunks, and synthetic powder stacks.
 *
 * The writer makes an Eiger-like layout: /entry/data/data (nframes, ny, nx), one frame per
 * chunk, filter 32008 with cd_values (0, 2, elem_size, 0, 2) (bitshuffle 0.2, default
 * block, LZ4) or 32004, and takes chunks already encoded by the codec (H5Dwrite_chunk): no
 * HDF5 filter plugin is needed to write, and readers with the reference plugin
 * (h5py + hdf5plugin) decode them. The filter is recorded as optional in the pipeline
 * because this libhdf5 has no 32008 filter registered (a mandatory unknown filter cannot
 * be created); readers ignore that flag. */
#ifndef AZS_TOOLS_SYNTH_H
#define AZS_TOOLS_SYNTH_H

#include <stdint.h>

#include "azstream/status.h"
#include "azstream/types.h"

typedef struct azs_stack_writer azs_stack_writer;

/* dataset NULL = "/entry/data/data" (intermediate groups created). Truncates path. */
azs_status azs_stack_writer_create(const char *path, const char *dataset, uint64_t nframes,
                                   uint32_t ny, uint32_t nx, azs_dtype dtype, azs_codec codec,
                                   azs_stack_writer **out);
/* Stores one encoded frame (chunk bytes as azs_chunk_encode made them). Any order. */
azs_status azs_stack_writer_put(azs_stack_writer *w, uint64_t frame, const void *chunk,
                                size_t size);
/* Flushes and closes; returns the first error of the close. Accepts NULL. */
azs_status azs_stack_writer_close(azs_stack_writer *w);

/* A synthetic powder stack: LaB6 rings (cubic, a = 4.15689 Å, every hkl allowed in
 * Pm-3m; d = a/sqrt(h²+k²+l²), 2θ = 2 asin(λ/2d)) with Gaussian profiles, a smooth
 * background, Poisson noise and masked pixels set to 0xFFFFFFFF, uint32, bitshuffle-LZ4.
 *
 * Speed trade-off (documented in `azstream synth --help`): the expected image is computed
 * once; `nbase` frames (default 4) are fully Poisson-sampled; every frame is a base frame
 * in which one pixel in 16 (a per-frame random phase) is redrawn fresh. Every pixel is
 * Poisson-distributed and every frame differs, but consecutive frames share most of their
 * noise. Expected counts >= 30 are sampled by the normal approximation, rounded. Frames
 * are built and encoded in parallel (OpenMP) and written in order; the result depends on
 * the seed only, not on the number of threads. */
typedef struct azs_synth_params {
    uint32_t ny, nx;
    uint64_t nframes;
    uint64_t seed;
    const double *tth;        /* 2θ in radians per pixel centre, [ny*nx] */
    const uint8_t *mask;      /* 1 = masked (module gap), [ny*nx]; NULL = none */
    double wavelength;        /* metres */
    double peak_counts;       /* expected counts at the strongest ring's maximum (0 = 400) */
    unsigned nbase;           /* fully sampled base frames (0 = 4) */
    const char *dataset;      /* NULL = /entry/data/data */
} azs_synth_params;

azs_status azs_synth_write(const char *path, const azs_synth_params *p);

/* The expected (noise-free) image of those parameters, [ny*nx] (for tests). */
azs_status azs_synth_expected(const azs_synth_params *p, float *out);

#endif
