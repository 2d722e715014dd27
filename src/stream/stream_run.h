/* Internal: one series of a stream through decode → integrate workers → an in-order writer
 * (stream_run.c), and the profile messages of --publish (stream_encode.c). The job layer
 * (src/job/job_stream.c) opens the socket, reads the start message, builds the integrator
 * and the output, then calls azs_stream_run_series. */
#ifndef AZS_STREAM_STREAM_RUN_H
#define AZS_STREAM_STREAM_RUN_H

#include "azstream/frame_sink.h"
#include "azstream/integrate.h"
#include "azstream/layout.h"
#include "azstream/stream.h"

typedef struct azs_stream_series {
    azs_stream_socket *sock;
    const char *channel;          /* the channel integrated (a name present in the images) */
    uint32_t ny, nx;              /* the series' image shape and type (first image) */
    azs_dtype dtype;
    uint64_t series_id;
    uint64_t number_of_images;    /* 0: not announced */
    azs_stream_msg *first;        /* the series' first message after start (consumed) */
    const azs_integrator *it;
    const azs_run_options *run;   /* workers, skip_bad, cancel (layout serial: one worker) */
    const azs_sink_ops *sink;
    azs_stream_socket *pub;       /* --publish, or NULL */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
} azs_stream_series;

typedef struct azs_stream_series_summary {
    uint64_t received;            /* image messages of the series */
    uint64_t frames_done, frames_missing, frames_bad;
    double *latency;              /* seconds from receipt to row written, per frame received
                                   * (malloc'd, nlatency of them; the caller frees) */
    size_t nlatency;
} azs_stream_series_summary;

/* Receive the series' images until its end message (or another start message: *next_start,
 * for the caller's next series), integrate them and write a row per image_id in arrival
 * order, gaps as rows of their own. On cancel: every frame received is written, then
 * AZS_ERR_INTERRUPTED. */
azs_status azs_stream_run_series(const azs_stream_series *s, azs_stream_series_summary *sum,
                                 azs_stream_msg **next_start);

/* {"type": "profile", "image_id", "radial", "intensity"[, "sigma"]} as CBOR, the arrays
 * float64 little-endian typed arrays (tag 86). */
azs_status azs_stream_encode_profile(uint64_t series_id, uint64_t image_id, const double *radial,
                                     size_t nradial, const double *intensity, const double *sigma,
                                     size_t nbins, uint8_t **out, size_t *size);

#endif
