/* Internal helpers shared by the CPU layouts: per-frame result buffers, NaN rows for
 * skipped frames, and naming the file that holds a failing frame. */
#ifndef AZS_LAYOUT_UTIL_H
#define AZS_LAYOUT_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/layout.h"

/* Add "frame F of FILE: " in front of the current error detail (keeps status s). */
azs_status azs_layout_frame_error(const azs_source *src, uint64_t frame, azs_status s);

/* Fill n doubles with quiet NaN (a skipped bad frame). */
void azs_layout_fill_nan(double *p, size_t n);

/* Seconds on a monotonic clock. */
double azs_layout_now(void);

/* Does the integrator produce a sigma (error model set)? */
int azs_layout_has_sigma(const azs_integrator *it);

/* Decode a raw chunk into pixels single-threaded (omp = 0) or with OpenMP over blocks
 * (omp = 1, bitshuffle-LZ4 only; other codecs fall back to the single-threaded path).
 * Fails with SIZE_MISMATCH unless exactly frame_bytes come out. */
azs_status azs_layout_decode(const azs_source_info *info, int omp, const void *raw,
                             size_t raw_size, void *pixels);

/* read_raw statuses that mean "this chunk has no raw bytes to decode: use read_frame"
 * (a chunk stored with its filter skipped, or never written: fill value). */
static inline int azs_layout_raw_fallback(azs_status s)
{
    return s == AZS_ERR_UNSUPPORTED || s == AZS_ERR_NOT_FOUND;
}

#endif
