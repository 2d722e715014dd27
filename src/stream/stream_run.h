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
#include "stream_inbox.h"

typedef struct azs_stream_series {
    azs_stream_inbox *inbox;      /* the socket's messages, in order */
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
    /* the receiving thread's time: in recv (waiting for the sender included), decoding,
     * putting into the ring (waiting for room included); bytes of the messages received */
    double recv_seconds, decode_seconds, put_seconds;
    uint64_t bytes_received;
} azs_stream_series_summary;

/* Receive the series' images until its end message (or another start message: *next_start,
 * for the caller's next series), integrate them and write a row per image_id in arrival
 * order, gaps as rows of their own. On cancel: every frame received is written, then
 * AZS_ERR_INTERRUPTED. Layout serial / threads: CPU workers (stream_run.c); layout gpu:
 * batches on the GPU engine (stream_run_gpu.c; AZS_ERR_NO_DEVICE without one). */
azs_status azs_stream_run_series(const azs_stream_series *s, azs_stream_series_summary *sum,
                                 azs_stream_msg **next_start);
azs_status azs_stream_run_series_gpu(const azs_stream_series *s, azs_stream_series_summary *sum,
                                     azs_stream_msg **next_start);
/* Can layout gpu run (before any socket is opened)? AZS_ERR_NO_DEVICE without CUDA or a
 * device; AZS_ERR_INVALID_ARG for gpu_batch / gpu_slots / gpu_lag out of range. */
azs_status azs_stream_gpu_check(const azs_run_options *o);

/* ---- shared by the CPU and GPU paths (stream_run.c), so both write the same rows ---- */

/* Latencies kept per series (the summary's median and 99th percentile). */
#define AZS_STREAM_LATENCY_CAP (1u << 20)
/* Zero the summary and allocate its latencies (latency_cap of them). */
azs_status azs_stream_summary_init(azs_stream_series_summary *sum, size_t latency_cap);

/* Where the receiving loop puts its rows, in arrival order. put: an image (msg, owned by the
 * callee from then on) or, msg NULL, an image_id never received; returns 1 when the run
 * stopped (the loop ends). stopped: has the run stopped? idle_ms (may be NULL: wait
 * forever): how long to wait for the next message before calling idle() (-1: forever). */
typedef struct azs_stream_feed {
    int (*put)(void *ctx, uint64_t image_id, azs_stream_msg *msg, double t_received);
    int (*stopped)(void *ctx);
    int (*idle_ms)(void *ctx);
    void (*idle)(void *ctx);
    void *ctx;
} azs_stream_feed;
/* The receiving loop: messages until the series' end (or the next start: *next_start),
 * image_id gaps and the ids short of number_of_images put as ids never received (with a
 * notice), a gap over 10^6 ids an error. */
azs_status azs_stream_receive(const azs_stream_series *s, azs_stream_series_summary *sum, const azs_stream_feed *f,
                              azs_stream_msg **next_start);

/* The series' channel of image m, checked against the series' shape and type; NULL with
 * *st the frame's status (AZS_ERR_FORMAT: no such channel; AZS_ERR_SIZE_MISMATCH). */
const azs_stream_array *azs_stream_series_array(const azs_stream_series *s, uint64_t image_id,
                                                const azs_stream_msg *m, azs_status *st);
/* A checked array decoded and integrated on the CPU (layout 1's engine calls, its bits):
 * the frame's status (CORRUPT, TRUNCATED, SIZE_MISMATCH as the frame feed names them).
 * frame_buf: ny * nx * elem_size bytes. */
azs_status azs_stream_integrate_array(const azs_stream_series *s, azs_workspace *ws, void *frame_buf,
                                      const azs_stream_array *a, double *intensity, double *sigma);
/* One row to the sink with the frame feed's policy: a bad frame (fs) is written when
 * skip_bad allows, else the run stops there (returns fs, with detail); a gap is written;
 * counts, latency since t_received, and the --publish message. */
azs_status azs_stream_write_row(const azs_stream_series *s, azs_stream_series_summary *sum, size_t latency_cap,
                                uint64_t image_id, const double *intensity, const double *sigma, azs_status fs,
                                double t_received, const char *detail);

/* {"type": "profile", "image_id", "radial", "intensity"[, "sigma"]} as CBOR, the arrays
 * float64 little-endian typed arrays (tag 86). */
azs_status azs_stream_encode_profile(uint64_t series_id, uint64_t image_id, const double *radial,
                                     size_t nradial, const double *intensity, const double *sigma,
                                     size_t nbins, uint8_t **out, size_t *size);

#endif
