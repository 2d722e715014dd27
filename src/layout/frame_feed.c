/* The frame feed: see frame_feed.h and azstream/layout.h ("Bad frames"). */
#include "frame_feed.h"

#include <inttypes.h>
#include <math.h>

#include "azstream/codec.h"
#include "common/error.h"
#include "layout_util.h"

azs_status azs_feed_decode_status(const azs_source_info *info, const void *chunk, size_t size,
                                  azs_status s)
{
    if (s != AZS_ERR_CORRUPT && s != AZS_ERR_TRUNCATED && s != AZS_ERR_SIZE_MISMATCH &&
        s != AZS_ERR_CAPACITY)
        return s;
    /* The size first: a header lying about it makes each decoder fail its own way (the
     * destination is too small, a block decodes short, the fused path counts pixels). */
    if (info->codec == AZS_CODEC_NONE) {
        if (size != info->frame_bytes)
            return azs_fail(AZS_ERR_SIZE_MISMATCH, "uncompressed chunk of %zu bytes, the frame has %zu",
                            size, info->frame_bytes);
    } else if (info->codec == AZS_CODEC_LZ4 || info->codec == AZS_CODEC_BSLZ4) {
        azs_chunk_header h;
        if (azs_chunk_read_header(chunk, size, &h) != AZS_OK)
            return AZS_ERR_TRUNCATED; /* shorter than its header; detail set */
        if (h.total_bytes != info->frame_bytes)
            return azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk header announces %" PRIu64
                            " bytes, the frame has %zu", h.total_bytes, info->frame_bytes);
    }
    return s == AZS_ERR_TRUNCATED ? s : AZS_ERR_CORRUPT; /* the decoder's detail stands */
}

azs_status azs_feed_decoded(azs_source *src, const azs_integrator *it, azs_workspace *ws,
                            uint64_t f, azs_status raw_st, void *pixels, int omp,
                            const azs_frame_result *fr)
{
    (void)raw_st;
    const azs_source_info *info = azs_source_get_info(src);
    /* read_frame would give the fill value of a chunk never written: say so instead */
    azs_status s = azs_source_frame_state(src, f);
    if (s == AZS_OK)
        s = azs_source_read_frame(src, f, pixels, info->frame_bytes);
    if (s == AZS_ERR_CAPACITY) /* a chunk decoded inside read_frame whose header lies */
        s = AZS_ERR_SIZE_MISMATCH;
    if (s == AZS_OK)
        s = omp ? azs_integrate_frame_omp(it, ws, pixels, info->dtype, fr)
                : azs_integrate_frame(it, ws, pixels, info->dtype, fr);
    if (s != AZS_OK)
        azs_layout_frame_error(src, f, s);
    return s;
}

azs_status azs_feed_frame(azs_source *src, const azs_integrator *it, azs_workspace *ws,
                          uint64_t f, void *raw, size_t raw_cap, void *pixels, int omp,
                          const azs_frame_result *fr)
{
    const azs_source_info *info = azs_source_get_info(src);
    if (info->read_path == AZS_READ_FILTERED || !raw)
        return azs_feed_decoded(src, it, ws, f, AZS_OK, pixels, omp, fr);
    size_t got = 0;
    azs_status s = azs_source_read_raw(src, f, raw, raw_cap, &got);
    if (azs_feed_no_raw(s))
        return azs_feed_decoded(src, it, ws, f, s, pixels, omp, fr);
    if (s == AZS_OK) {
        size_t out = 0;
        if (omp && info->codec == AZS_CODEC_BSLZ4)
            s = azs_bslz4_decode_omp(info->elem_size, raw, got, pixels, info->frame_bytes, &out);
        else
            s = azs_chunk_decode(info->codec, info->elem_size, raw, got, pixels, info->frame_bytes,
                                 &out);
        if (s == AZS_OK && out != info->frame_bytes)
            s = azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk decodes to %zu bytes, the frame has %zu", out,
                         info->frame_bytes);
        if (s != AZS_OK)
            s = azs_feed_decode_status(info, raw, got, s);
    }
    if (s == AZS_OK)
        s = omp ? azs_integrate_frame_omp(it, ws, pixels, info->dtype, fr)
                : azs_integrate_frame(it, ws, pixels, info->dtype, fr);
    if (s != AZS_OK)
        azs_layout_frame_error(src, f, s);
    return s;
}

azs_status azs_feed_admit(const azs_run_options *o, azs_run_summary *sum, uint64_t f,
                          azs_status fs)
{
    if (fs == AZS_OK)
        return AZS_OK;
    if (azs_feed_absent(fs)) {
        if (sum->frames_absent++ == 0 && sum->frames_bad == 0)
            sum->first_bad_frame = f;
        sum->frames_bad++;
        return AZS_OK;
    }
    if (azs_feed_stops(o, fs)) {
        sum->first_bad_frame = f;
        return fs;
    }
    if (sum->frames_bad++ == 0)
        sum->first_bad_frame = f;
    return AZS_OK;
}

void azs_feed_bad_row(double *intensity, double *sigma, size_t nbins)
{
    for (size_t i = 0; i < nbins; i++)
        intensity[i] = NAN;
    for (size_t i = 0; sigma && i < nbins; i++)
        sigma[i] = NAN;
}
