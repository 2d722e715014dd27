#define _POSIX_C_SOURCE 200809L
#include "layout_util.h"

#include <inttypes.h>
#include <math.h>
#include <time.h>

#include "azstream/codec.h"
#include "common/error.h"

azs_status azs_layout_frame_error(const azs_source *src, uint64_t frame, azs_status s)
{
    const azs_source_info *info = azs_source_get_info(src);
    const char *file = NULL;
    for (size_t i = 0; info && i < info->nparts; i++) {
        azs_source_part p;
        if (azs_source_get_part(src, i, &p) == AZS_OK && frame >= p.first_frame &&
            frame < p.first_frame + p.nframes) {
            file = p.file;
            break;
        }
    }
    if (file)
        return azs_fail_context(s, "frame %" PRIu64 " of %s: ", frame, file);
    return azs_fail_context(s, "frame %" PRIu64 ": ", frame);
}

void azs_layout_fill_nan(double *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = NAN;
}

double azs_layout_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int azs_layout_has_sigma(const azs_integrator *it)
{
    const azs_integrate_options *o = azs_integrator_options(it);
    return o && o->error_model != AZS_ERRMODEL_NONE;
}

azs_status azs_layout_decode(const azs_source_info *info, int omp, const void *raw,
                             size_t raw_size, void *pixels)
{
    size_t got = 0;
    azs_status s;
    if (omp && info->codec == AZS_CODEC_BSLZ4)
        s = azs_bslz4_decode_omp(info->elem_size, raw, raw_size, pixels, info->frame_bytes, &got);
    else
        s = azs_chunk_decode(info->codec, info->elem_size, raw, raw_size, pixels,
                             info->frame_bytes, &got);
    if (s != AZS_OK)
        return s;
    if (got != info->frame_bytes)
        return azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk decodes to %zu bytes, frame needs %zu", got,
                        info->frame_bytes);
    return AZS_OK;
}
