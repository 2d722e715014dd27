/* Layout 0 (DESIGN §2): one loop, frame after frame: read the raw chunk, decode it with
 * OpenMP over the LZ4 blocks, integrate with OpenMP over pixel tiles (then over bins to
 * add up the tiles' sums), hand the row to the sink. The baseline every other layout is compared with; its numbers are bit-identical
 * to layout 1's because both engines are deterministic (the OpenMP variants promise the
 * same result as the single-threaded ones). */
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "common/alloc.h"
#include "common/error.h"
#include "layout_util.h"
#include "layouts.h"

azs_status azs_run_serial(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                          const azs_sink_ops *sink, azs_run_summary *sum)
{
    const azs_source_info *info = azs_source_get_info(src);
    const size_t nbins = azs_integrator_nbins(it);
    const int has_sigma = azs_layout_has_sigma(it);
    const int filtered = info->read_path == AZS_READ_FILTERED;
    const double t0 = azs_layout_now();
    const uint64_t total = o->end_frame - o->first_frame;
    azs_status st = AZS_OK;

    void *raw = NULL, *pixels = NULL;
    double *res = NULL;
    azs_workspace *ws = NULL;
    size_t raw_cap = info->max_chunk_bytes ? info->max_chunk_bytes : 1;
    if (!filtered)
        raw = azs_aligned_alloc(raw_cap);
    pixels = azs_aligned_alloc(info->frame_bytes ? info->frame_bytes : 1);
    res = azs_aligned_alloc(2 * nbins * sizeof(double) + 64);
    if ((!filtered && !raw) || !pixels || !res) {
        st = azs_fail(AZS_ERR_NOMEM, "serial layout: buffers for one frame (%zu + %zu bytes)",
                      raw_cap, info->frame_bytes);
        goto done;
    }
    if ((st = azs_workspace_create(it, &ws)) != AZS_OK)
        goto done;
    double *inten = res, *sigma = has_sigma ? res + nbins : NULL;
    azs_frame_result fr = {0};
    fr.intensity = inten;
    fr.sigma = sigma;

    double last_progress = t0;
    for (uint64_t f = o->first_frame; f < o->end_frame; f++) {
        if (o->cancel && atomic_load(o->cancel)) {
            st = azs_fail(AZS_ERR_INTERRUPTED, "stopped on request after %llu frames",
                          (unsigned long long)sum->frames_done);
            break;
        }
        azs_status fs;
        if (filtered) {
            fs = azs_source_read_frame(src, f, pixels, info->frame_bytes);
        } else {
            size_t got = 0;
            fs = azs_source_read_raw(src, f, raw, raw_cap, &got);
            if (fs == AZS_OK)
                fs = azs_layout_decode(info, 1, raw, got, pixels);
            else if (azs_layout_raw_fallback(fs))
                fs = azs_source_read_frame(src, f, pixels, info->frame_bytes);
        }
        if (fs == AZS_OK)
            fs = azs_integrate_frame_omp(it, ws, pixels, info->dtype, &fr);
        if (fs != AZS_OK) {
            azs_layout_frame_error(src, f, fs);
            if (!sum->frames_bad)
                sum->first_bad_frame = f;
            if (!o->skip_bad) {
                sum->first_bad_frame = f;
                st = fs;
                break;
            }
            sum->frames_bad++;
            azs_layout_fill_nan(inten, nbins);
            if (sigma)
                azs_layout_fill_nan(sigma, nbins);
        }
        st = sink->write(sink->ctx, f, inten, sigma, fs);
        if (st != AZS_OK)
            break;
        sum->frames_done++;
        if (o->progress) {
            double now = azs_layout_now();
            if (now - last_progress > 0.1 || f + 1 == o->end_frame) {
                o->progress(o->progress_ctx, sum->frames_done, total);
                last_progress = now;
            }
        }
    }
done:
    azs_workspace_destroy(ws);
    azs_aligned_free(raw);
    azs_aligned_free(pixels);
    azs_aligned_free(res);
    sum->seconds = azs_layout_now() - t0;
    return st;
}
