/* Internal: the frame feed, the one place that decides what a frame becomes (a row and a
 * frame_status) in every layout: where its pixels come from, which status a bad chunk
 * gets, which failures skip_bad may skip. The policy is written out in azstream/layout.h
 * ("Bad frames"); a layout only moves bytes and rows around these calls.
 *
 *   read_raw ─ok──► decode + integrate ─fail─► azs_feed_decode_status (one vocabulary)
 *      │
 *      └─ no raw bytes (azs_feed_no_raw) ─► azs_feed_decoded: read_frame + integrate
 *
 * and on the writer's side azs_feed_admit: write the row, count a skipped frame, or stop. */
#ifndef AZS_LAYOUT_FRAME_FEED_H
#define AZS_LAYOUT_FRAME_FEED_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/layout.h"

/* read_raw statuses that mean "this chunk has no raw bytes to decode: use read_frame"
 * (stored with its filter skipped). A chunk never written (AZS_ERR_UNWRITTEN) or a frame
 * of a missing data file (AZS_ERR_MISSING) is not one: it is the frame's status. */
static inline int azs_feed_no_raw(azs_status s)
{
    return s == AZS_ERR_UNSUPPORTED;
}

/* Frames without data: their row is NaN and their frame_status says why; they never stop
 * a run, skip_bad or not (they are what the input holds, not a failure to read it). */
static inline int azs_feed_absent(azs_status s)
{
    return s == AZS_ERR_MISSING || s == AZS_ERR_UNWRITTEN;
}

/* Per-frame data errors, the ones skip_bad skips (after azs_feed_decode_status). */
static inline int azs_feed_skippable(azs_status s)
{
    return s == AZS_ERR_CORRUPT || s == AZS_ERR_TRUNCATED || s == AZS_ERR_SIZE_MISMATCH;
}

/* Does a frame that ended with status s stop the run? */
static inline int azs_feed_stops(const azs_run_options *o, azs_status s)
{
    return s != AZS_OK && !azs_feed_absent(s) && !(o->skip_bad && azs_feed_skippable(s));
}

/* The status every layout reports for a chunk (chunk, size: its raw bytes) whose decode
 * failed with s, whichever decoder ran (OpenMP, fused, batched, the GPU's): the header
 * decides SIZE_MISMATCH, then TRUNCATED stays, any other decode error is CORRUPT.
 * Statuses that are not about the chunk's bytes pass unchanged. Cold path only. */
azs_status azs_feed_decode_status(const azs_source_info *info, const void *chunk, size_t size,
                                  azs_status s);

/* Frame f, which has no raw bytes (raw_st: what read_raw said, or AZS_OK on a filtered
 * source): read it decoded into pixels and integrate into fr (omp: OpenMP inside, as
 * layout 0). The one place that handles such frames: a frame without data
 * (azs_source_frame_state: never written, or in a missing file) gets its status instead
 * of the fill value. On failure the detail names frame and file. */
azs_status azs_feed_decoded(azs_source *src, const azs_integrator *it, azs_workspace *ws,
                            uint64_t f, azs_status raw_st, void *pixels, int omp,
                            const azs_frame_result *fr);

/* Frame f through the whole host path: read_raw into raw (capacity raw_cap; raw may be
 * NULL on a filtered source), decode into pixels and integrate (omp: OpenMP inside both),
 * or azs_feed_decoded when there are no raw bytes. Returns the frame's status (normalised;
 * the detail names frame and file). */
azs_status azs_feed_frame(azs_source *src, const azs_integrator *it, azs_workspace *ws,
                          uint64_t f, void *raw, size_t raw_cap, void *pixels, int omp,
                          const azs_frame_result *fr);

/* The writer, at frame f which ended with status fs (in frame order): AZS_OK to write its
 * row (a skipped bad frame or a frame without data is counted in sum), else fs: the run stops there (first_bad_frame
 * set; the detail message is the caller's to set). */
azs_status azs_feed_admit(const azs_run_options *o, azs_run_summary *sum, uint64_t f,
                          azs_status fs);

/* The row of a skipped frame or of a frame without data: NaN (sigma may be NULL). */
void azs_feed_bad_row(double *intensity, double *sigma, size_t nbins);

/* Has the caller asked the run to stop (azs_run_options.cancel)? */
static inline int azs_feed_cancelled(const azs_run_options *o)
{
    return o->cancel && __atomic_load_n(o->cancel, __ATOMIC_RELAXED) != 0;
}

#endif
