/* Layout 1 (doc/design.md "layouts"): one reader thread, a pool of workers, an in-order writer.
 *
 *   reader ──raw slots (bounded FIFO, `depth`)──► workers ──result ring (`window`)──► writer
 *
 * - The reader takes raw chunks with azs_source_read_raw (chunk index + pread: no HDF5
 *   call, no global lock) into one of `depth` preallocated slots.
 * - Each worker pops up to `batch` slots (consecutive frames; fewer if fewer are waiting)
 *   and, once their ring entries frame % window are free, decodes and integrates them
 *   single-threaded (no nested OpenMP) in one pass (azs_integrate_chunks: a few LZ4 blocks
 *   of each frame at a time, integrated while in cache, so decoded frames never go to
 *   memory, and each matrix row read once for the whole batch: the matrix is most of the
 *   memory traffic), then gives the slots back. The reader keeps batch + 1 slots per
 *   worker + 2, so reading still runs ahead of the workers.
 * - The writer is the calling thread: it waits for frame next_write, hands it to the sink,
 *   and frees the entry. A worker may only fill entry f % window once f < next_write +
 *   window, which bounds memory: depth raw chunks + one frame of pixels per worker (for
 *   codecs that cannot be fused) +
 *   window result rows + the integrator everyone shares read-only. batch is 1 when an
 *   error model is set (the variance sums need the per-frame path) and shrinks so that
 *   the raw slots stay under 1 GiB.
 * - self_read mode (azs_feed SELF or MAP; always for FILTERED sources, which have no raw
 *   chunks): no reader thread; workers claim `batch` frame numbers at a time from an
 *   atomic counter and read their own chunks (pread is thread-safe thanks to the index),
 *   so reading scales with the workers.
 * - map mode (the default on the pread path): the same, but a worker maps its batch's
 *   chunks (one populated mapping, unmapped once integrated) instead of copying 3-4 MB
 *   per frame: the copy was most of what the pipeline cost at 16 workers. A file cut
 *   short while mapped raises SIGBUS on the lost pages; sigbus_guard turns it into an
 *   error and the batch is read again through pread, which reports where the file ends.
 *
 * Bad frames: the frame feed decides (frame_feed.h): frames without raw bytes go through
 * azs_feed_decoded, a failed decode gets azs_feed_decode_status, and a frame that stops
 * the run (azs_feed_stops) lowers `stop_at`; nothing at or past
 * it is started, every frame before it is still written, and the writer reports the
 * failure when it reaches it. Cancel (polled by the writer every 20 ms) and sink errors
 * set `abort`, which every wait checks after a broadcast. One mutex guards all shared
 * state; it is taken a few times per frame (frames take milliseconds), so it does not
 * contend. The numbers are bit-identical to layout 0's: same deterministic engines. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "common/error.h"
#include "common/sigbus_guard.h"
#include "frame_feed.h"
#include "layout_util.h"
#include "layouts.h"

#define MSG_LEN 512

typedef struct pool pool;

typedef struct worker {
    pool *p;
    pthread_t tid;
    int started;
    void *raw[AZS_BATCH_MAX]; /* self_read: own raw chunk buffers, one per batch frame (map
                               * mode: made on first need, for frames that cannot be mapped) */
    azs_raw_map map;          /* map mode: the batch being integrated */
    void *pixels;        /* decoded frame */
    azs_workspace *ws;
} worker;

struct pool {
    azs_source *src;
    const azs_integrator *it;
    const azs_source_info *info;
    const azs_run_options *o;
    size_t nbins;
    int has_sigma, self_read, filtered, map;
    int batch;                 /* frames a worker takes at once (1..AZS_BATCH_MAX) */
    size_t raw_cap;

    pthread_mutex_t mu;
    pthread_cond_t cv_filled, cv_free, cv_ready, cv_window;

    /* raw slots (reader mode) */
    size_t depth;
    void **raw;
    size_t *raw_size;
    uint64_t *raw_frame;
    azs_status *raw_status;
    char (*raw_msg)[MSG_LEN];
    size_t *fifo, fifo_head, fifo_count; /* filled slots in frame order */
    size_t *freel, free_count;           /* free slots */
    int reader_done;

    /* results */
    size_t window;
    double *res;               /* window × (1 or 2) × nbins */
    azs_status *res_status;
    unsigned char *res_ready;
    char (*res_msg)[MSG_LEN];
    uint64_t next_write;

    uint64_t stop_at;          /* first frame that failed (no skip_bad); end_frame if none */
    int abort;                 /* under mu */
    _Atomic uint64_t next_claim; /* self_read mode */
};

static void broadcast_all(pool *p)
{
    pthread_cond_broadcast(&p->cv_filled);
    pthread_cond_broadcast(&p->cv_free);
    pthread_cond_broadcast(&p->cv_ready);
    pthread_cond_broadcast(&p->cv_window);
}

static void set_abort(pool *p)
{
    pthread_mutex_lock(&p->mu);
    p->abort = 1;
    broadcast_all(p);
    pthread_mutex_unlock(&p->mu);
}

static double *res_row(pool *p, uint64_t f)
{
    return p->res + (size_t)(f % p->window) * (p->has_sigma ? 2 : 1) * p->nbins;
}

static void *reader_main(void *arg)
{
    pool *p = arg;
    const azs_run_options *o = p->o;
    for (uint64_t f = o->first_frame; f < o->end_frame; f++) {
        pthread_mutex_lock(&p->mu);
        while (p->free_count == 0 && !p->abort && f < p->stop_at)
            pthread_cond_wait(&p->cv_free, &p->mu);
        if (p->abort || f >= p->stop_at) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        size_t s = p->freel[--p->free_count];
        pthread_mutex_unlock(&p->mu);

        size_t got = 0;
        azs_status st = azs_source_read_raw(p->src, f, p->raw[s], p->raw_cap, &got);
        if (st != AZS_OK && !azs_feed_no_raw(st)) {
            azs_layout_frame_error(p->src, f, st);
            snprintf(p->raw_msg[s], MSG_LEN, "%s", azs_last_error());
        }
        p->raw_frame[s] = f;
        p->raw_size[s] = got;
        p->raw_status[s] = st;

        pthread_mutex_lock(&p->mu);
        p->fifo[(p->fifo_head + p->fifo_count) % p->depth] = s;
        p->fifo_count++;
        pthread_cond_signal(&p->cv_filled);
        pthread_mutex_unlock(&p->mu);
        if (!azs_feed_no_raw(st) && azs_feed_stops(o, st))
            break; /* the worker that takes this slot reports it */
    }
    pthread_mutex_lock(&p->mu);
    p->reader_done = 1;
    pthread_cond_broadcast(&p->cv_filled);
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static void give_back_slot(pool *p, size_t s)
{
    pthread_mutex_lock(&p->mu);
    p->freel[p->free_count++] = s;
    pthread_cond_signal(&p->cv_free);
    pthread_mutex_unlock(&p->mu);
}

/* One frame a worker has taken: its raw chunk (held in a reader slot, or in the worker's
 * own buffer in self_read mode), or a status to report, or neither (chunk NULL, st AZS_OK:
 * no raw bytes, raw_st says why; the frame goes through azs_feed_decoded into w->pixels). */
typedef struct job {
    uint64_t f;
    azs_status st, raw_st;
    const void *chunk;
    size_t chunk_size, held;
    char msg[MSG_LEN];
} job;

/* Take up to p->batch consecutive frames. Returns how many (0 is possible when every
 * frame taken was past stop_at), or -1 when there is no more work. */
static int take_jobs(worker *w, job *jb)
{
    pool *p = w->p;
    const azs_run_options *o = p->o;
    int n = 0;
    if (p->self_read) {
        const uint64_t f0 = atomic_fetch_add(&p->next_claim, (uint64_t)p->batch);
        if (f0 >= o->end_frame)
            return -1;
        pthread_mutex_lock(&p->mu);
        const int stop = p->abort;
        const uint64_t stop_at = p->stop_at;
        pthread_mutex_unlock(&p->mu);
        if (stop || f0 >= stop_at)
            return -1;
        uint64_t f1 = f0 + (uint64_t)p->batch;
        f1 = f1 < o->end_frame ? f1 : o->end_frame;
        f1 = f1 < stop_at ? f1 : stop_at;
        const void *mc[AZS_BATCH_MAX];
        size_t ms[AZS_BATCH_MAX];
        const int mapped = p->map && azs_source_map_raw(p->src, f0, (int)(f1 - f0), mc, ms,
                                                        &w->map) == AZS_OK;
        for (uint64_t f = f0; f < f1; f++) {
            job *j = &jb[n];
            memset(j, 0, offsetof(job, msg));
            j->msg[0] = '\0';
            j->f = f;
            j->held = SIZE_MAX;
            if (mapped) {
                j->chunk = mc[n];
                j->chunk_size = ms[n];
            } else if (!p->filtered && !w->raw[n] &&
                       !(w->raw[n] = azs_aligned_alloc(p->raw_cap))) {
                j->st = azs_fail(AZS_ERR_NOMEM, "threads layout: chunk buffer of %zu bytes",
                                 p->raw_cap);
                snprintf(j->msg, MSG_LEN, "%s", azs_last_error());
            } else if (!p->filtered) {
                size_t got = 0;
                j->st = azs_source_read_raw(p->src, f, w->raw[n], p->raw_cap, &got);
                if (j->st == AZS_OK) {
                    j->chunk = w->raw[n];
                    j->chunk_size = got;
                } else if (azs_feed_no_raw(j->st)) {
                    j->raw_st = j->st;
                    j->st = AZS_OK;
                } else {
                    azs_layout_frame_error(p->src, f, j->st);
                    snprintf(j->msg, MSG_LEN, "%s", azs_last_error());
                }
            }
            n++;
        }
        return n;
    }
    size_t slot[AZS_BATCH_MAX];
    int taken = 0;
    pthread_mutex_lock(&p->mu);
    while (p->fifo_count == 0 && !p->reader_done && !p->abort)
        pthread_cond_wait(&p->cv_filled, &p->mu);
    if (p->abort || p->fifo_count == 0) {
        pthread_mutex_unlock(&p->mu);
        return -1;
    }
    /* Popped together, so the frames are consecutive (the FIFO is in frame order). */
    while (taken < p->batch && p->fifo_count > 0) {
        slot[taken++] = p->fifo[p->fifo_head];
        p->fifo_head = (p->fifo_head + 1) % p->depth;
        p->fifo_count--;
    }
    const uint64_t stop_at = p->stop_at;
    pthread_mutex_unlock(&p->mu);
    for (int k = 0; k < taken; k++) {
        const size_t s = slot[k];
        if (p->raw_frame[s] >= stop_at) {
            give_back_slot(p, s);
            continue;
        }
        job *j = &jb[n++];
        memset(j, 0, offsetof(job, msg));
        j->msg[0] = '\0';
        j->f = p->raw_frame[s];
        j->held = SIZE_MAX;
        j->st = p->raw_status[s];
        if (azs_feed_no_raw(j->st)) {
            j->raw_st = j->st;
            j->st = AZS_OK;
        } else if (j->st != AZS_OK) {
            snprintf(j->msg, MSG_LEN, "%s", p->raw_msg[s]);
        } else {
            j->chunk = p->raw[s];
            j->chunk_size = p->raw_size[s];
            j->held = s;
        }
        if (j->held == SIZE_MAX)
            give_back_slot(p, s);
    }
    return n;
}

static void job_failed(pool *p, job *j, azs_status st)
{
    j->st = st;
    azs_layout_frame_error(p->src, j->f, st);
    snprintf(j->msg, MSG_LEN, "%s", azs_last_error());
}

/* The batch call, packed for azs_sigbus_guard. */
typedef struct batch_call {
    worker *w;
    int nc;
    const void **chunks;
    size_t *sizes;
    azs_frame_result *out;
    azs_status *st;  /* per frame */
    char *msgs;
    azs_status ret;
} batch_call;

static void batch_run(void *arg)
{
    batch_call *c = arg;
    pool *p = c->w->p;
    c->ret = azs_integrate_chunks(p->it, c->w->ws, p->info->codec, p->info->dtype, c->nc,
                                  c->chunks, c->sizes, c->w->pixels, c->out, c->st, c->msgs,
                                  MSG_LEN);
    /* Failed frames get the feed's status; here, under the guard, as the chunks may be
     * mapped. */
    for (int k = 0; c->ret != AZS_OK && k < c->nc; k++) {
        if (c->st[k] == AZS_OK)
            continue;
        char *msg = c->msgs + (size_t)k * MSG_LEN;
        azs_fail(c->st[k], "%s", msg);
        c->st[k] = azs_feed_decode_status(p->info, c->chunks[k], c->sizes[k], c->st[k]);
        snprintf(msg, MSG_LEN, "%s", azs_last_error());
    }
}

/* A frame without raw bytes, through the source. */
static void run_decoded(worker *w, job *j, const azs_frame_result *fr)
{
    pool *p = w->p;
    azs_status s = azs_feed_decoded(p->src, p->it, w->ws, j->f, j->raw_st, w->pixels, 0, fr);
    if (s != AZS_OK) {
        j->st = s;
        snprintf(j->msg, MSG_LEN, "%s", azs_last_error());
    }
}

/* A mapped frame again, after its mapping faulted: read by pread (which reports where the
 * file now ends) into the worker's first chunk buffer (free: the whole batch was mapped). */
static void run_reread(worker *w, job *j, const azs_frame_result *fr)
{
    pool *p = w->p;
    azs_status s;
    if (!w->raw[0] && !(w->raw[0] = azs_aligned_alloc(p->raw_cap)))
        s = azs_layout_frame_error(p->src, j->f,
                                   azs_fail(AZS_ERR_NOMEM, "threads layout: chunk buffer of %zu bytes",
                                            p->raw_cap));
    else
        s = azs_feed_frame(p->src, p->it, w->ws, j->f, w->raw[0], p->raw_cap, w->pixels, 0, fr);
    if (s != AZS_OK) {
        j->st = s;
        snprintf(j->msg, MSG_LEN, "%s", azs_last_error());
    }
}

/* Integrate the jobs that have a chunk together (the matrix is read once for all of them),
 * then the ones read through the source, one by one. */
static void run_jobs(worker *w, job *jb, int n)
{
    pool *p = w->p;
    const void *chunks[AZS_BATCH_MAX];
    size_t sizes[AZS_BATCH_MAX];
    azs_frame_result out[AZS_BATCH_MAX];
    azs_status st[AZS_BATCH_MAX];
    char msgs[AZS_BATCH_MAX][MSG_LEN];
    int who[AZS_BATCH_MAX], nc = 0;
    for (int k = 0; k < n; k++) {
        job *j = &jb[k];
        if (j->st != AZS_OK)
            continue;
        double *row = res_row(p, j->f);
        azs_frame_result fr = {0};
        fr.intensity = row;
        fr.sigma = p->has_sigma ? row + p->nbins : NULL;
        if (j->chunk) {
            chunks[nc] = j->chunk;
            sizes[nc] = j->chunk_size;
            out[nc] = fr;
            who[nc++] = k;
            continue;
        }
        run_decoded(w, j, &fr);
    }
    if (nc == 0)
        return;
    batch_call c = {w, nc, chunks, sizes, out, st, &msgs[0][0], AZS_OK};
    if (!w->map.base) {
        batch_run(&c);
    } else {
        /* Mapped chunks: a file truncated under us faults here (SIGBUS). Then read these
         * frames again through pread, which reports where the file now ends. */
        size_t at = 0;
        if (azs_sigbus_guard(w->map.base, w->map.len, batch_run, &c, &at) != AZS_OK) {
            azs_source_unmap_raw(&w->map);
            for (int k = 0; k < nc; k++)
                run_reread(w, &jb[who[k]], &out[k]);
            return;
        }
    }
    azs_status s = c.ret;
    for (int k = 0; k < nc; k++) {
        if (s == AZS_OK || st[k] == AZS_OK)
            continue;
        azs_fail(st[k], "%s", msgs[k]);
        job_failed(p, &jb[who[k]], st[k]);
    }
}

/* Hand one finished frame to the writer. */
static void publish(pool *p, job *j)
{
    const azs_run_options *o = p->o;
    size_t r = (size_t)(j->f % p->window);
    if (j->st != AZS_OK) {
        double *row = res_row(p, j->f);
        azs_feed_bad_row(row, p->has_sigma ? row + p->nbins : NULL, p->nbins);
        memcpy(p->res_msg[r], j->msg, MSG_LEN);
    }
    pthread_mutex_lock(&p->mu);
    if (azs_feed_stops(o, j->st) && j->f < p->stop_at) {
        p->stop_at = j->f;
        pthread_cond_broadcast(&p->cv_free); /* the reader may wait for a slot */
    }
    p->res_status[r] = j->st;
    p->res_ready[r] = 1;
    pthread_cond_broadcast(&p->cv_ready);
    pthread_mutex_unlock(&p->mu);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *p = w->p;
    job jb[AZS_BATCH_MAX];
    for (;;) {
        const int n = take_jobs(w, jb);
        if (n < 0)
            break;
        if (n == 0)
            continue;
        /* Wait until the ring entries are free: the frames are consecutive, so the last one
         * decides (window ≥ batch, so the worker holding next_write never waits). */
        pthread_mutex_lock(&p->mu);
        while (jb[n - 1].f >= p->next_write + p->window && !p->abort)
            pthread_cond_wait(&p->cv_window, &p->mu);
        const int ab = p->abort;
        pthread_mutex_unlock(&p->mu);
        if (!ab)
            run_jobs(w, jb, n);
        azs_source_unmap_raw(&w->map);
        for (int k = 0; k < n; k++)
            if (jb[k].held != SIZE_MAX)
                give_back_slot(p, jb[k].held);
        if (ab)
            break;
        for (int k = 0; k < n; k++)
            publish(p, &jb[k]);
    }
    return NULL;
}

static void pool_free(pool *p, worker *ws, int nworkers)
{
    for (int i = 0; ws && i < nworkers; i++) {
        for (int k = 0; k < AZS_BATCH_MAX; k++)
            azs_aligned_free(ws[i].raw[k]);
        azs_aligned_free(ws[i].pixels);
        azs_workspace_destroy(ws[i].ws);
    }
    free(ws);
    for (size_t i = 0; p->raw && i < p->depth; i++)
        azs_aligned_free(p->raw[i]);
    free(p->raw);
    free(p->raw_size);
    free(p->raw_frame);
    free(p->raw_status);
    free(p->raw_msg);
    free(p->fifo);
    free(p->freel);
    azs_aligned_free(p->res);
    free(p->res_status);
    free(p->res_ready);
    free(p->res_msg);
}

static azs_status run_threads(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                              const azs_sink_ops *sink, azs_run_summary *sum)
{
    pool P;
    memset(&P, 0, sizeof P);
    pool *p = &P;
    p->src = src;
    p->it = it;
    p->o = o;
    p->info = azs_source_get_info(src);
    p->nbins = azs_integrator_nbins(it);
    p->has_sigma = azs_layout_has_sigma(it);
    p->filtered = p->info->read_path == AZS_READ_FILTERED;
    p->raw_cap = p->info->max_chunk_bytes ? p->info->max_chunk_bytes : 1;
    p->stop_at = o->end_frame;
    p->next_write = o->first_frame;
    atomic_init(&p->next_claim, o->first_frame);

    const uint64_t total = o->end_frame - o->first_frame;
    int nworkers = o->workers > 0 ? o->workers : azs_cpu_count();
    if ((uint64_t)nworkers > total)
        nworkers = (int)total;
    /* azs_feed, auto: mapped wherever every part is on the pread path (measured on the
     * 16-core host and on 2 cores: mapping was as fast as a reader thread or faster at
     * every worker count, and 3-14 % faster than pread at 16); otherwise a reader thread
     * only where a core is left for it (16 self-reading workers ran 7-20 % faster than
     * 16 workers + a reader). */
    const int auto_map = o->feed == AZS_FEED_AUTO && p->info->read_path == AZS_READ_PREAD;
    p->map = !p->filtered && (o->feed == AZS_FEED_MAP || auto_map);
    p->self_read = p->filtered || p->map || o->feed == AZS_FEED_SELF ||
                   (o->feed == AZS_FEED_AUTO && nworkers >= azs_cpu_count());
    sum->self_read = p->self_read;
    sum->mapped = p->map;
    /* Frames per batch: azs_integrate_chunks reads the matrix once for up to
     * AZS_BATCH_MAX frames when only the intensity is wanted (no error model); fewer when
     * the chunks are so large that the raw slots would pass 1 GiB. */
    p->batch = p->has_sigma || p->filtered ? 1 : AZS_BATCH_MAX;
    if (o->cpu_batch >= 1 && o->cpu_batch < p->batch) /* for measuring: 1 = one at a time */
        p->batch = o->cpu_batch;
    while (p->batch > 1 && ((size_t)nworkers * (p->batch + 1) + 2) * p->raw_cap > ((size_t)1 << 30))
        p->batch--;
    /* ... and so that a worker's per-bin sums of a batch (5 doubles per bin and frame) stay
     * under 64 MiB: 2D profiles of 10^5+ bins keep batches of 4 or fewer, as before 8. */
    while (p->batch > 4 && (size_t)p->batch * p->nbins * 5 * sizeof(double) > ((size_t)64 << 20))
        p->batch--;
    sum->cpu_batch = p->batch;
    /* Reader mode: each worker holds one batch while the next waits in the FIFO. */
    p->depth = p->self_read ? 0 : (size_t)nworkers * (p->batch + 1) + 2;
    p->window = (size_t)nworkers * 2 * p->batch + p->depth + 1;

    azs_status st = AZS_OK;
    worker *w = calloc((size_t)nworkers, sizeof *w);
    size_t row_doubles = (p->has_sigma ? 2 : 1) * p->nbins;
    size_t res_bytes;
    if (azs_mul_size(row_doubles * sizeof(double), p->window, &res_bytes)) {
        free(w);
        return azs_fail(AZS_ERR_NOMEM, "threads layout: result ring too large");
    }
    p->res = azs_aligned_alloc(res_bytes);
    p->res_status = calloc(p->window, sizeof *p->res_status);
    p->res_ready = calloc(p->window, 1);
    p->res_msg = calloc(p->window, MSG_LEN);
    int ok = w && p->res && p->res_status && p->res_ready && p->res_msg;
    if (ok && p->depth) {
        p->raw = calloc(p->depth, sizeof *p->raw);
        p->raw_size = calloc(p->depth, sizeof *p->raw_size);
        p->raw_frame = calloc(p->depth, sizeof *p->raw_frame);
        p->raw_status = calloc(p->depth, sizeof *p->raw_status);
        p->raw_msg = calloc(p->depth, MSG_LEN);
        p->fifo = calloc(p->depth, sizeof *p->fifo);
        p->freel = calloc(p->depth, sizeof *p->freel);
        ok = p->raw && p->raw_size && p->raw_frame && p->raw_status && p->raw_msg && p->fifo &&
             p->freel;
        for (size_t i = 0; ok && i < p->depth; i++) {
            ok = (p->raw[i] = azs_aligned_alloc(p->raw_cap)) != NULL;
            p->freel[p->free_count++] = i;
        }
    }
    for (int i = 0; ok && i < nworkers; i++) {
        w[i].p = p;
        w[i].pixels = azs_aligned_alloc(p->info->frame_bytes ? p->info->frame_bytes : 1);
        ok = w[i].pixels != NULL;
        for (int k = 0; ok && p->self_read && !p->filtered && !p->map && k < p->batch; k++)
            ok = (w[i].raw[k] = azs_aligned_alloc(p->raw_cap)) != NULL;
    }
    if (!ok) {
        pool_free(p, w, w ? nworkers : 0);
        return azs_fail(AZS_ERR_NOMEM, "threads layout: buffers for %d workers (frame %zu bytes, chunk %zu bytes)",
                        nworkers, p->info->frame_bytes, p->raw_cap);
    }
    for (int i = 0; i < nworkers; i++)
        if ((st = azs_workspace_create(it, &w[i].ws)) != AZS_OK) {
            pool_free(p, w, nworkers);
            return st;
        }

    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv_filled, NULL);
    pthread_cond_init(&p->cv_free, NULL);
    pthread_cond_init(&p->cv_ready, NULL);
    pthread_cond_init(&p->cv_window, NULL);

    pthread_t reader;
    int reader_started = 0;
    if (!p->self_read) {
        if (pthread_create(&reader, NULL, reader_main, p) != 0)
            st = azs_fail(AZS_ERR_WORKER, "threads layout: cannot start the reader thread");
        else
            reader_started = 1;
    }
    for (int i = 0; st == AZS_OK && i < nworkers; i++) {
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            st = azs_fail(AZS_ERR_WORKER, "threads layout: cannot start worker %d of %d", i, nworkers);
        else
            w[i].started = 1;
    }

    /* The writer: this thread. */
    double last_progress = azs_now_seconds();
    while (st == AZS_OK && p->next_write < o->end_frame) {
        uint64_t f = p->next_write;
        size_t r = (size_t)(f % p->window);
        pthread_mutex_lock(&p->mu);
        while (!p->res_ready[r] && !p->abort) {
            if (azs_feed_cancelled(o))
                break;
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 20 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&p->cv_ready, &p->mu, &ts);
        }
        int ready = p->res_ready[r];
        pthread_mutex_unlock(&p->mu);
        if (azs_feed_cancelled(o)) {
            st = azs_fail(AZS_ERR_INTERRUPTED, "stopped on request after %" PRIu64 " frames",
                          sum->frames_done);
            break;
        }
        if (!ready) {
            st = azs_fail(AZS_ERR_INTERNAL, "threads layout: aborted while waiting for frame %" PRIu64, f);
            break;
        }
        azs_status fs = p->res_status[r];
        double *row = res_row(p, f);
        if (azs_feed_admit(o, sum, f, fs) != AZS_OK) {
            st = azs_fail(fs, "%s", p->res_msg[r]);
            break;
        }
        st = sink->write(sink->ctx, f, row, p->has_sigma ? row + p->nbins : NULL, fs);
        if (st != AZS_OK)
            break;
        sum->frames_done++;
        pthread_mutex_lock(&p->mu);
        p->res_ready[r] = 0;
        p->next_write++;
        pthread_cond_broadcast(&p->cv_window);
        pthread_mutex_unlock(&p->mu);
        if (o->progress) {
            double now = azs_now_seconds();
            if (now - last_progress > 0.1 || p->next_write == o->end_frame) {
                o->progress(o->progress_ctx, sum->frames_done, total);
                last_progress = now;
            }
        }
    }
    set_abort(p); /* done or failed: release anyone still waiting */
    if (reader_started)
        pthread_join(reader, NULL);
    for (int i = 0; i < nworkers; i++)
        if (w[i].started)
            pthread_join(w[i].tid, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv_filled);
    pthread_cond_destroy(&p->cv_free);
    pthread_cond_destroy(&p->cv_ready);
    pthread_cond_destroy(&p->cv_window);
    pool_free(p, w, nworkers);
    return st;
}

const azs_layout_driver azs_driver_threads = {"threads", NULL, run_threads};
