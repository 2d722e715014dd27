/* Layout 0 (doc/design.md): one loop, frame after frame: read the raw chunk, decode it with
 * OpenMP over the LZ4 blocks, integrate with OpenMP over pixel tiles (then over bins to
 * add up the tiles' sums), hand the row to the sink; all through the frame feed. The
 * baseline every other layout is compared with; its numbers are bit-identical to layout
 * 1's because both engines are deterministic (the OpenMP variants promise the same result
 * as the single-threaded ones). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/error.h"
#include "frame_feed.h"
#include "layout_util.h"
#include "layouts.h"

static azs_status run_serial(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                             const azs_sink_ops *sink, azs_run_summary *sum)
{
    const azs_source_info *info = azs_source_get_info(src);
    const size_t nbins = azs_integrator_nbins(it);
    const int has_sigma = azs_layout_has_sigma(it);
    const int filtered = info->read_path == AZS_READ_FILTERED;
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

    double last_progress = azs_now_seconds();
    for (uint64_t f = o->first_frame; f < o->end_frame; f++) {
        if (azs_feed_cancelled(o)) {
            st = azs_fail(AZS_ERR_INTERRUPTED, "stopped on request after %" PRIu64 " frames",
                          sum->frames_done);
            break;
        }
        azs_status fs = azs_feed_frame(src, it, ws, f, raw, raw_cap, pixels, 1, &fr);
        if ((st = azs_feed_admit(o, sum, f, fs)) != AZS_OK)
            break; /* the feed's detail stands */
        if (fs != AZS_OK)
            azs_feed_bad_row(inten, sigma, nbins);
        if ((st = sink->write(sink->ctx, f, inten, sigma, fs)) != AZS_OK)
            break;
        sum->frames_done++;
        if (o->progress) {
            double now = azs_now_seconds();
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
    return st;
}

const azs_layout_driver azs_driver_serial = {"serial", NULL, run_serial};
