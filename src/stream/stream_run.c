/* One series of a stream: the receiving thread (the caller's) decodes each message and puts
 * it in a ring of slots in arrival order (layout gpu: stream_run_gpu.c, the same receiving
 * loop and row policy, batches on the GPU); worker threads decode and integrate the slots'
 * images (the same engine calls as layout 1, so the same bits); a writer thread hands the
 * rows to the sink in slot order. The ring is bounded: when it is full the receiver stops
 * reading, ZeroMQ's queue fills to its high-water mark and the sender is held back: a slow
 * receiver slows the detector's stream down instead of losing frames.
 *
 * Row policy (doc/streams.md): one row per image_id, in arrival order; an image_id gap
 * gives a row for each id skipped, NaN with frame_status AZS_ERR_STREAM_GAP, as do the ids
 * short of number_of_images at the end message. A bad image (corrupt chunk, wrong shape)
 * is the frame feed's policy: skip_bad writes it as a NaN row with its status, else the
 * run stops there with every row before it written. */
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "azstream/codec.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "common/error.h"
#include "stream_run.h"

/* A gap larger than this is a sender's bug (or hostile), not frames lost: it stops the run
 * rather than writing millions of NaN rows. */
#define STREAM_MAX_GAP 1000000u

enum { SLOT_FREE = 0, SLOT_FILLED, SLOT_READY };

typedef struct slot {
    int state;
    uint64_t image_id;
    azs_stream_msg *msg;       /* NULL: a frame never received */
    azs_status status;
    char detail[256];
    double t_received;
    double *intensity, *sigma; /* nbins each (sigma NULL without an error model) */
} slot;

typedef struct series_run {
    const azs_stream_series *s;
    size_t nbins, nslots;
    int has_sigma;
    int batch;                 /* slots a worker takes at once (AZS_BATCH_MAX; 1 with an error model) */
    slot *slots;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t nfilled, nclaimed, nwritten;
    int closing;               /* the receiver has put its last slot */
    int stop;                  /* the writer stopped the run: receiver and workers give up */
    azs_status write_status;
    char write_detail[1024];
    azs_stream_series_summary *sum;
    size_t latency_cap;
} series_run;

static void notice(const azs_stream_series *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void notice(const azs_stream_series *s, const char *fmt, ...)
{
    if (!s->notice)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->notice(s->notice_ctx, line);
}

const azs_stream_array *azs_stream_series_array(const azs_stream_series *s, uint64_t image_id,
                                                const azs_stream_msg *m, azs_status *st)
{
    const azs_stream_array *a = azs_stream_image_channel(&m->image, s->channel);
    *st = AZS_OK;
    if (!a)
        *st = azs_fail(AZS_ERR_FORMAT, "image %llu has no channel %s", (unsigned long long)image_id, s->channel);
    else if (a->ny != s->ny || a->nx != s->nx || a->dtype != s->dtype)
        *st = azs_fail(AZS_ERR_SIZE_MISMATCH, "image %llu: %u x %u %s, the series' images are %u x %u %s",
                       (unsigned long long)image_id, a->ny, a->nx, azs_dtype_name(a->dtype), s->ny, s->nx,
                       azs_dtype_name(s->dtype));
    return *st == AZS_OK ? a : NULL;
}

azs_status azs_stream_integrate_array(const azs_stream_series *s, azs_workspace *ws, void *frame_buf,
                                      const azs_stream_array *a, double *intensity, double *sigma)
{
    azs_frame_result fr = {0};
    fr.intensity = intensity;
    fr.sigma = sigma;
    const size_t frame_bytes = (size_t)a->ny * a->nx * a->elem_size;
    if (a->codec == AZS_CODEC_NONE) {
        /* Length checked by the decoder. In place when aligned for its type; the bytes lie
         * inside the received message at any offset, so otherwise copied first (a
         * misaligned typed load is undefined behaviour). */
        const void *px = a->bytes;
        if ((uintptr_t)px % (a->elem_size ? a->elem_size : 1) != 0) {
            memcpy(frame_buf, px, frame_bytes);
            px = frame_buf;
        }
        return azs_integrate_frame(s->it, ws, px, a->dtype, &fr);
    }
    azs_chunk_header h;
    azs_status st = azs_chunk_read_header(a->bytes, a->nbytes, &h);
    if (st == AZS_OK && h.total_bytes != frame_bytes)
        st = azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk header announces %llu bytes, the frame has %zu",
                      (unsigned long long)h.total_bytes, frame_bytes);
    if (st == AZS_OK)
        st = azs_integrate_chunk(s->it, ws, a->codec, a->dtype, a->bytes, a->nbytes, frame_buf, &fr);
    if (st == AZS_ERR_CAPACITY)
        st = AZS_ERR_CORRUPT;
    return st;
}

/* The row of a slot that failed (or a gap): NaN, and the detail naming the image. */
static void fail_slot(series_run *r, slot *sl, azs_status st, const char *why)
{
    if (sl->msg) /* the detail names the frame for the writer's report */
        snprintf(sl->detail, sizeof sl->detail, "image %llu: %s", (unsigned long long)sl->image_id, why);
    for (size_t b = 0; b < r->nbins; b++) {
        sl->intensity[b] = NAN;
        if (sl->sigma)
            sl->sigma[b] = NAN;
    }
    sl->status = st;
}

/* The images of n consecutive slots into their rows: each the chosen channel, checked
 * against the series' shape, decoded and integrated. bslz4 chunks go through
 * azs_integrate_chunks together (the matrix read once for all of them, as layout threads
 * does for files; each row that of azs_integrate_chunk bit for bit), the others one by one.
 * Each slot's status is the frame's (the feed's vocabulary). */
static void integrate_slots(series_run *r, azs_workspace *ws, void *frame_buf, slot **sl, int n, azs_status setup)
{
    enum { MSG = 256 };
    const void *chunks[AZS_BATCH_MAX];
    size_t sizes[AZS_BATCH_MAX];
    azs_frame_result out[AZS_BATCH_MAX];
    azs_status st[AZS_BATCH_MAX];
    slot *in[AZS_BATCH_MAX];
    char msgs[AZS_BATCH_MAX * MSG];
    int nc = 0;
    const size_t frame_bytes = (size_t)r->s->ny * r->s->nx * azs_dtype_size(r->s->dtype);
    for (int k = 0; k < n; k++) {
        slot *s = sl[k];
        azs_status fs = setup;
        s->status = AZS_OK;
        if (!s->msg) {
            fs = azs_fail(AZS_ERR_STREAM_GAP, "image %llu was never received", (unsigned long long)s->image_id);
        } else if (setup == AZS_OK) {
            const azs_stream_array *a = azs_stream_series_array(r->s, s->image_id, s->msg, &fs);
            azs_chunk_header h;
            if (a && n > 1 && a->codec == AZS_CODEC_BSLZ4 &&
                azs_chunk_read_header(a->bytes, a->nbytes, &h) == AZS_OK && h.total_bytes == frame_bytes) {
                chunks[nc] = a->bytes;
                sizes[nc] = a->nbytes;
                memset(&out[nc], 0, sizeof out[nc]);
                out[nc].intensity = s->intensity;
                out[nc].sigma = s->sigma;
                in[nc++] = s;
                continue;
            }
            if (a)
                fs = azs_stream_integrate_array(r->s, ws, frame_buf, a, s->intensity, s->sigma);
        }
        if (fs != AZS_OK)
            fail_slot(r, s, fs, azs_last_error());
    }
    if (nc == 0)
        return;
    if (azs_integrate_chunks(r->s->it, ws, AZS_CODEC_BSLZ4, r->s->dtype, nc, chunks, sizes, frame_buf, out, st, msgs,
                             MSG) == AZS_OK)
        return;
    for (int j = 0; j < nc; j++)
        if (st[j] != AZS_OK) /* as azs_stream_integrate_array says it */
            fail_slot(r, in[j], st[j] == AZS_ERR_CAPACITY ? AZS_ERR_CORRUPT : st[j], msgs + (size_t)j * MSG);
}

static void *worker_main(void *arg)
{
    series_run *r = arg;
    azs_workspace *ws = NULL;
    const size_t frame_bytes = (size_t)r->s->ny * r->s->nx * azs_dtype_size(r->s->dtype);
    void *frame_buf = azs_aligned_alloc(frame_bytes ? frame_bytes : 1);
    azs_status setup = frame_buf ? azs_workspace_create(r->s->it, &ws)
                                 : azs_fail(AZS_ERR_NOMEM, "stream worker: a frame of %zu bytes", frame_bytes);
    char setup_msg[256];
    snprintf(setup_msg, sizeof setup_msg, "%s", setup == AZS_OK ? "" : azs_last_error());
    for (;;) {
        slot *batch[AZS_BATCH_MAX];
        int n = 0;
        pthread_mutex_lock(&r->mu);
        while (r->nclaimed == r->nfilled && !r->closing && !r->stop)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop || r->nclaimed == r->nfilled) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        /* the slots waiting, up to a batch: one at a time when images come slowly (latency),
         * batches when they queue up (the rate) */
        while (n < r->batch && r->nclaimed < r->nfilled)
            batch[n++] = &r->slots[r->nclaimed++ % r->nslots];
        pthread_mutex_unlock(&r->mu);

        if (setup != AZS_OK)
            azs_fail(setup, "%s", setup_msg);
        integrate_slots(r, ws, frame_buf, batch, n, setup);
        for (int k = 0; k < n; k++) { /* the images' bytes are no longer needed */
            azs_stream_msg_free(batch[k]->msg);
            batch[k]->msg = NULL;
        }
        pthread_mutex_lock(&r->mu);
        for (int k = 0; k < n; k++)
            batch[k]->state = SLOT_READY;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    azs_workspace_destroy(ws);
    azs_aligned_free(frame_buf);
    return NULL;
}

static void writer_stop(series_run *r, azs_status st, const char *detail)
{
    pthread_mutex_lock(&r->mu);
    r->write_status = st;
    snprintf(r->write_detail, sizeof r->write_detail, "%s", detail);
    r->stop = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

azs_status azs_stream_write_row(const azs_stream_series *s, azs_stream_series_summary *sum, size_t latency_cap,
                                uint64_t image_id, const double *intensity, const double *sigma, azs_status fs,
                                double t_received, const char *detail)
{
    const int skippable = fs == AZS_ERR_CORRUPT || fs == AZS_ERR_TRUNCATED || fs == AZS_ERR_SIZE_MISMATCH;
    if (fs != AZS_OK && fs != AZS_ERR_STREAM_GAP && !(s->run->skip_bad && skippable))
        return azs_fail(fs, "%s", detail);
    azs_status st = s->sink->write(s->sink->ctx, image_id, intensity, sigma, fs);
    if (st != AZS_OK)
        return st;
    sum->frames_done++;
    if (fs == AZS_ERR_STREAM_GAP)
        sum->frames_missing++;
    else if (fs != AZS_OK)
        sum->frames_bad++;
    if (fs != AZS_ERR_STREAM_GAP && sum->nlatency < latency_cap)
        sum->latency[sum->nlatency++] = azs_now_seconds() - t_received;
    if (s->pub && fs == AZS_OK) { /* PUB never blocks: a slow subscriber loses profiles, not us */
        const size_t nbins = azs_integrator_nbins(s->it);
        uint8_t *buf = NULL;
        size_t n = 0;
        if (azs_stream_encode_profile(s->series_id, image_id, azs_integrator_radial(s->it),
                                      azs_integrator_options(s->it)->npt, intensity, sigma, nbins, &buf,
                                      &n) == AZS_OK)
            azs_stream_send(s->pub, buf, n, NULL);
        free(buf);
    }
    return AZS_OK;
}

/* Rows in slot order; the skip_bad policy as the frame feed's (azs_feed_admit). */
static void *writer_main(void *arg)
{
    series_run *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        slot *sl = &r->slots[r->nwritten % r->nslots];
        while (!r->stop && !(r->nwritten < r->nfilled && sl->state == SLOT_READY) &&
               !(r->closing && r->nwritten == r->nfilled))
            pthread_cond_wait(&r->cv, &r->mu);
        const int done = r->stop || r->nwritten == r->nfilled;
        pthread_mutex_unlock(&r->mu);
        if (done)
            break;
        azs_status st = azs_stream_write_row(r->s, r->sum, r->latency_cap, sl->image_id, sl->intensity, sl->sigma,
                                             sl->status, sl->t_received, sl->detail);
        if (st != AZS_OK) {
            writer_stop(r, st, azs_last_error());
            break;
        }
        pthread_mutex_lock(&r->mu);
        sl->state = SLOT_FREE;
        r->nwritten++;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    return NULL;
}

/* Put one slot (msg NULL: a frame never received) once the ring has room. 0, or 1 when the
 * writer stopped the run. */
static int put_slot(void *ctx, uint64_t image_id, azs_stream_msg *msg, double t)
{
    series_run *r = ctx;
    pthread_mutex_lock(&r->mu);
    while (!r->stop && r->nfilled - r->nwritten >= r->nslots)
        pthread_cond_wait(&r->cv, &r->mu);
    if (r->stop) {
        pthread_mutex_unlock(&r->mu);
        azs_stream_msg_free(msg);
        return 1;
    }
    slot *sl = &r->slots[r->nfilled % r->nslots];
    sl->image_id = image_id;
    sl->msg = msg;
    sl->t_received = t;
    sl->status = AZS_OK;
    sl->detail[0] = 0;
    sl->state = SLOT_FILLED;
    r->nfilled++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return 0;
}

static int run_stopped(void *ctx)
{
    series_run *r = ctx;
    pthread_mutex_lock(&r->mu);
    const int stopped = r->stop;
    pthread_mutex_unlock(&r->mu);
    return stopped;
}

/* Rows for the ids [from, to) never received. */
static azs_status put_missing(const azs_stream_series *s, const azs_stream_feed *f, uint64_t from, uint64_t to,
                              const char *why)
{
    if (to <= from)
        return AZS_OK;
    if (to - from > STREAM_MAX_GAP)
        return azs_fail(AZS_ERR_FORMAT, "series %llu: %s: images %llu to %llu missing, more than %u: not a gap "
                        "but a wrong image_id", (unsigned long long)s->series_id, why,
                        (unsigned long long)from, (unsigned long long)to - 1, STREAM_MAX_GAP);
    notice(s, "series %llu: %s: image%s %llu%s%llu not received", (unsigned long long)s->series_id, why,
           to - from > 1 ? "s" : "", (unsigned long long)from, to - from > 1 ? " to " : "",
           to - from > 1 ? (unsigned long long)to - 1 : 0ull);
    for (uint64_t i = from; i < to; i++)
        if (f->put(f->ctx, i, NULL, 0))
            return AZS_OK;
    return AZS_OK;
}

azs_status azs_stream_receive(const azs_stream_series *s, azs_stream_series_summary *sum, const azs_stream_feed *f,
                              azs_stream_msg **next_start)
{
    uint64_t expected = 0; /* the next image_id in order */
    double t_received = azs_now_seconds(); /* of the message in hand */
    azs_stream_msg *m = s->first;
    azs_status st = AZS_OK;
    for (;;) {
        if (!m) {
            const int wait_ms = f->idle_ms ? f->idle_ms(f->ctx) : -1;
            azs_stream_recv_stats rs = {0, 0, 0};
            st = azs_stream_inbox_next(s->inbox, wait_ms, s->run->cancel, &m, &t_received, &rs);
            sum->recv_seconds += rs.recv_seconds;
            sum->decode_seconds += rs.decode_seconds;
            sum->bytes_received += rs.bytes;
            if (st == AZS_ERR_NOT_FOUND && wait_ms >= 0) { /* nothing within wait_ms: the feed's turn */
                f->idle(f->ctx);
                continue;
            }
            if (st == AZS_ERR_UNSUPPORTED) { /* a message type we do not read: say so, go on */
                notice(s, "series %llu: message skipped: %s", (unsigned long long)s->series_id, azs_last_error());
                continue;
            }
            if (st == AZS_ERR_INTERRUPTED || st == AZS_ERR_NOT_FOUND)
                return st;
            if (st != AZS_OK)
                return azs_fail_context(st, "series %llu, after image %llu: ", (unsigned long long)s->series_id,
                                        (unsigned long long)expected);
        }
        if (f->stopped(f->ctx)) {
            azs_stream_msg_free(m);
            return AZS_OK;
        }
        if (m->type == AZS_STREAM_START) {
            notice(s, "series %llu: a start message (series %llu) before its end message",
                   (unsigned long long)s->series_id, (unsigned long long)m->start.series_id);
            *next_start = m;
            return AZS_OK;
        }
        if (m->type == AZS_STREAM_END) {
            azs_stream_msg_free(m);
            return s->number_of_images ? put_missing(s, f, expected, s->number_of_images, "end of series") : AZS_OK;
        }
        const uint64_t id = m->image.image_id;
        sum->received++;
        if (id > expected && (st = put_missing(s, f, expected, id, "image_id gap")) != AZS_OK) {
            azs_stream_msg_free(m);
            return st;
        }
        if (id < expected)
            notice(s, "series %llu: image %llu arrived after image %llu (written where it arrived)",
                   (unsigned long long)s->series_id, (unsigned long long)id, (unsigned long long)expected - 1);
        else
            expected = id + 1;
        const double t_put = azs_now_seconds();
        const int stopped = f->put(f->ctx, id, m, t_received);
        sum->put_seconds += azs_now_seconds() - t_put;
        if (stopped)
            return AZS_OK;
        m = NULL;
    }
}

azs_status azs_stream_summary_init(azs_stream_series_summary *sum, size_t latency_cap)
{
    memset(sum, 0, sizeof *sum);
    sum->latency = malloc(latency_cap * sizeof *sum->latency);
    return sum->latency ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "stream: latencies of %zu frames", latency_cap);
}

azs_status azs_stream_run_series(const azs_stream_series *s, azs_stream_series_summary *sum,
                                 azs_stream_msg **next_start)
{
    *next_start = NULL;
    if (s->run->layout == AZS_LAYOUT_GPU)
        return azs_stream_run_series_gpu(s, sum, next_start);
    series_run r;
    memset(&r, 0, sizeof r);
    r.s = s;
    r.sum = sum;
    r.nbins = azs_integrator_nbins(s->it);
    r.has_sigma = azs_integrator_options(s->it)->error_model != AZS_ERRMODEL_NONE;
    int nworkers = s->run->layout == AZS_LAYOUT_SERIAL ? 1 : s->run->workers;
    if (nworkers <= 0) {
        nworkers = azs_cpu_count();
    }
    /* as layout threads: batches read the matrix once for several frames when only the
     * intensity is wanted */
    r.batch = r.has_sigma ? 1 : AZS_BATCH_MAX;
    /* and, as there, batches above 4 only while a worker's per-bin sums stay under 64 MiB */
    while (r.batch > 4 && (size_t)r.batch * r.nbins * 5 * sizeof(double) > ((size_t)64 << 20))
        r.batch--;
    r.nslots = (size_t)(r.batch + 3) * (size_t)nworkers + 4;
    r.latency_cap = AZS_STREAM_LATENCY_CAP;
    if (azs_stream_summary_init(sum, r.latency_cap) != AZS_OK) {
        azs_stream_msg_free(s->first);
        return AZS_ERR_NOMEM;
    }
    r.slots = calloc(r.nslots, sizeof *r.slots);
    double *rows = r.slots ? calloc(r.nslots * r.nbins * (r.has_sigma ? 2 : 1), sizeof *rows) : NULL;
    if (!r.slots || !rows) {
        free(r.slots);
        free(rows);
        azs_stream_msg_free(s->first);
        return azs_fail(AZS_ERR_NOMEM, "stream: %zu slots of %zu bins", r.nslots, r.nbins);
    }
    for (size_t k = 0; k < r.nslots; k++) {
        r.slots[k].intensity = rows + k * r.nbins * (r.has_sigma ? 2 : 1);
        r.slots[k].sigma = r.has_sigma ? r.slots[k].intensity + r.nbins : NULL;
    }
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    pthread_t *tid = calloc((size_t)nworkers + 1, sizeof *tid);
    int started = 0, writer = 0;
    azs_status st = tid ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "stream: threads");
    if (st == AZS_OK && !(writer = pthread_create(&tid[0], NULL, writer_main, &r) == 0))
        st = azs_fail(AZS_ERR_WORKER, "stream: cannot start the writer thread");
    for (int k = 0; st == AZS_OK && k < nworkers; k++, started++)
        if (pthread_create(&tid[k + 1], NULL, worker_main, &r) != 0)
            st = azs_fail(AZS_ERR_WORKER, "stream: cannot start worker thread %d", k);
    const azs_stream_feed feed = {put_slot, run_stopped, NULL, NULL, &r};
    if (st == AZS_OK)
        st = azs_stream_receive(s, sum, &feed, next_start);
    else
        azs_stream_msg_free(s->first);
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", azs_last_error());
    pthread_mutex_lock(&r.mu);
    r.closing = 1; /* what was received is integrated and written (also on Ctrl-C) */
    if (st == AZS_ERR_WORKER || st == AZS_ERR_NOMEM)
        r.stop = 1;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int k = 0; k < started; k++)
        pthread_join(tid[k + 1], NULL);
    if (writer)
        pthread_join(tid[0], NULL);
    for (size_t k = 0; k < r.nslots; k++)
        azs_stream_msg_free(r.slots[k].msg);
    if (r.write_status != AZS_OK) /* the writer's failure came first: the run stopped there */
        st = azs_fail(r.write_status, "%s", r.write_detail);
    else if (st != AZS_OK)
        azs_fail(st, "%s", detail);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    free(tid);
    free(rows);
    free(r.slots);
    return st;
}
