/* One series of a stream on the GPU engine (azstream/gpu.h; doc/streams.md "layout gpu").
 *
 * The receiving loop is the CPU path's (azs_stream_receive: the same gap rows, notices and
 * limits); its rows go into batch slots instead of a ring:
 *   receiver (caller)  puts each row (an image, or an id never received) at the next
 *                      position of the open batch; the batch is sealed when full, or when no
 *                      message arrived for STREAM_GPU_FLUSH_MS (latency stays bounded at low
 *                      rates), or at the series' end;
 *   planners           copy each image's chunk bytes from the decoded message into the slot's
 *                      pinned buffer (the one copy the DMA needs; the message is freed right
 *                      after) and plan its blocks (azs_gpu_plan_chunk), as layout gpu's
 *                      readers do after pread;
 *   driver             in batch order: submit a sealed, planned batch while fewer than `lag`
 *                      are on the device, else (or when nothing is ready: latency again)
 *                      deliver the oldest: wait for it, rows to the sink in position order.
 * Rows the device did not integrate take the host path at delivery, from the same bytes
 * (the pinned copy): a chunk the planner refused (bad header, blocks the GPU decoder does not
 * take), a chunk the device found bad, a chunk too large for its slot. The host path is the
 * CPU path's own call (azs_stream_integrate_array), so those rows, statuses and messages are
 * the CPU layouts' by construction, and the device's rows equal them bit for bit (the GPU
 * engine's rule, doc/gpu-notes.md). Every row then goes through azs_stream_write_row: the
 * same skip_bad policy, counts, latency and --publish as the CPU path. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "common/error.h"
#include "layout/layouts.h" /* the GPU knobs' defaults, shared with layout gpu */
#include "stream_run.h"

/* A partial batch waits at most this long for the next message before it is submitted. */
#define STREAM_GPU_FLUSH_MS 2
#define STREAM_GPU_MAX_PLANNERS 16

enum { B_FREE = 0, B_FILLING, B_SEALED, B_SUBMITTED };

typedef struct gpos {          /* one row of a batch */
    uint64_t image_id;
    double t_received;
    azs_stream_msg *msg;       /* until planned; kept only when the chunk did not fit its slot */
    azs_stream_array a;        /* the image's array, bytes in the pinned copy (or in msg) */
    azs_status status;         /* why the device does not integrate it (AZS_OK: it does) */
    int final;                 /* status final (never received, wrong channel or shape); else
                                * the host path decides */
    char detail[256];
} gpos;

typedef struct gbatch {
    int state;
    uint64_t seq;              /* batch number in the series */
    uint32_t n, next, planned; /* rows put, claimed by planners, planned */
    int on_device;             /* submitted (some row had blocks to decode) */
    gpos *pos;                 /* [B] */
    size_t *sizes, *nitems;    /* [B] chunk bytes and items of each row */
    uint32_t *maxblock;        /* [B] */
    int32_t *hstatus;          /* [B] the host's status of each row, told to the device */
} gbatch;

typedef struct grun {
    const azs_stream_series *s;
    azs_stream_series_summary *sum;
    azs_gpu_engine *e;
    uint32_t B, S, lag;
    size_t max_items, frame_bytes, stride, nbins;
    int has_sigma;
    gbatch b[AZS_GPU_SLOTS_MAX];
    pthread_mutex_t mu;
    pthread_cond_t cv, work;   /* cv: receiver and driver; work: planners */
    uint64_t nopened, nsubmitted, ndelivered;
    int filling;               /* batch nopened - 1 takes rows */
    int closing, quit;         /* closing: the receiver has put its last row */
    int stop;                  /* the driver stopped the run */
    azs_status stop_status;
    char stop_detail[1024];
    /* host path, made on first need (driver thread only) */
    azs_workspace *ws;
    void *frame_buf;
    double *row;
} grun;

static void seal_locked(grun *g)
{
    g->b[(g->nopened - 1) % g->S].state = B_SEALED;
    g->filling = 0;
    pthread_cond_broadcast(&g->cv);
}

static int gput(void *ctx, uint64_t image_id, azs_stream_msg *msg, double t)
{
    grun *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (!g->filling) {
        gbatch *nb = &g->b[g->nopened % g->S];
        while (!g->stop && nb->state != B_FREE) /* every slot in use: hold the sender back */
            pthread_cond_wait(&g->cv, &g->mu);
        if (!g->stop) {
            nb->seq = g->nopened++;
            nb->n = nb->next = nb->planned = 0;
            nb->on_device = 0;
            nb->state = B_FILLING;
            g->filling = 1;
        }
    }
    if (g->stop) {
        pthread_mutex_unlock(&g->mu);
        azs_stream_msg_free(msg);
        return 1;
    }
    gbatch *b = &g->b[(g->nopened - 1) % g->S];
    gpos *p = &b->pos[b->n++];
    memset(p, 0, sizeof *p);
    p->image_id = image_id;
    p->t_received = t;
    p->msg = msg;
    if (b->n == g->B)
        seal_locked(g);
    pthread_cond_broadcast(&g->work);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

static int gstopped(void *ctx)
{
    grun *g = ctx;
    pthread_mutex_lock(&g->mu);
    const int st = g->stop;
    pthread_mutex_unlock(&g->mu);
    return st;
}

static int gidle_ms(void *ctx)
{
    grun *g = ctx;
    pthread_mutex_lock(&g->mu);
    const int ms = g->filling ? STREAM_GPU_FLUSH_MS : -1;
    pthread_mutex_unlock(&g->mu);
    return ms;
}

static void gidle(void *ctx)
{
    grun *g = ctx;
    pthread_mutex_lock(&g->mu);
    if (g->filling)
        seal_locked(g);
    pthread_mutex_unlock(&g->mu);
}

/* Row i of slot k: checked, copied into the pinned buffer, planned. */
static void plan_row(grun *g, uint32_t k, uint32_t i)
{
    gbatch *b = &g->b[k];
    gpos *p = &b->pos[i];
    b->sizes[i] = b->nitems[i] = 0;
    b->maxblock[i] = 0;
    azs_status st;
    if (!p->msg) {
        p->status = AZS_ERR_STREAM_GAP;
        p->final = 1;
        b->hstatus[i] = (int32_t)p->status;
        return;
    }
    const azs_stream_array *a = azs_stream_series_array(g->s, p->image_id, p->msg, &st);
    if (!a) { /* as the CPU path words it */
        snprintf(p->detail, sizeof p->detail, "image %llu: %s", (unsigned long long)p->image_id, azs_last_error());
        p->status = st;
        p->final = 1;
        b->hstatus[i] = (int32_t)st;
        azs_stream_msg_free(p->msg);
        p->msg = NULL;
        return;
    }
    p->a = *a;
    if (a->nbytes > g->stride) { /* the host path reads it from the message, kept */
        p->status = AZS_ERR_CAPACITY;
        b->hstatus[i] = (int32_t)p->status;
        return;
    }
    uint8_t *dst = azs_gpu_host_chunk(g->e, k, i);
    memcpy(dst, a->bytes, a->nbytes);
    p->a.bytes = dst;
    azs_stream_msg_free(p->msg);
    p->msg = NULL;
    size_t ni = 0;
    uint32_t mb = 0;
    st = azs_gpu_plan_chunk(p->a.codec, p->a.elem_size, dst, p->a.nbytes, g->frame_bytes, i,
                            azs_gpu_host_items(g->e, k) + (size_t)i * g->max_items, g->max_items, &ni, &mb);
    p->status = st;
    b->hstatus[i] = (int32_t)st;
    if (st == AZS_OK) {
        b->sizes[i] = p->a.nbytes;
        b->nitems[i] = ni;
        b->maxblock[i] = mb;
    }
}

static void *planner_main(void *arg)
{
    grun *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        gbatch *b = NULL;
        for (uint32_t k = 0; k < g->S; k++) { /* the oldest batch with rows left to plan */
            gbatch *c = &g->b[k];
            if ((c->state == B_FILLING || c->state == B_SEALED) && c->next < c->n && (!b || c->seq < b->seq))
                b = c;
        }
        if (!b) {
            if (g->quit)
                break;
            pthread_cond_wait(&g->work, &g->mu);
            continue;
        }
        const uint32_t i = b->next++;
        pthread_mutex_unlock(&g->mu);
        plan_row(g, (uint32_t)(b - g->b), i);
        pthread_mutex_lock(&g->mu);
        if (++b->planned == b->n)
            pthread_cond_broadcast(&g->cv);
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static void stop_locked(grun *g, azs_status st, const char *detail)
{
    if (!g->stop) {
        g->stop_status = st;
        snprintf(g->stop_detail, sizeof g->stop_detail, "%s", detail);
    }
    g->stop = 1;
    pthread_cond_broadcast(&g->cv);
    pthread_cond_broadcast(&g->work);
}

/* Compact the rows' items (planned at stride max_items) and start the batch. */
static azs_status submit(grun *g, uint32_t k)
{
    gbatch *b = &g->b[k];
    azs_gpu_item *items = azs_gpu_host_items(g->e, k);
    size_t n = 0;
    uint32_t maxb = 0;
    for (uint32_t i = 0; i < b->n; i++) {
        if (b->hstatus[i] != AZS_OK)
            continue;
        if (n != (size_t)i * g->max_items)
            memmove(items + n, items + (size_t)i * g->max_items, b->nitems[i] * sizeof *items);
        n += b->nitems[i];
        if (b->maxblock[i] > maxb)
            maxb = b->maxblock[i];
    }
    b->on_device = n > 0; /* gaps and refused rows only: nothing for the device */
    return n ? azs_gpu_submit(g->e, k, b->n, b->sizes, n, maxb, b->hstatus) : AZS_OK;
}

/* A row the device did not integrate: its final status, or the CPU path's call. */
static azs_status host_row(grun *g, gpos *p)
{
    if (!g->row) {
        g->frame_buf = azs_aligned_alloc(g->frame_bytes ? g->frame_bytes : 1);
        g->row = azs_aligned_alloc(2 * g->nbins * sizeof(double) + 64);
        if (!g->frame_buf || !g->row) {
            azs_aligned_free(g->row);
            g->row = NULL;
            return azs_fail(AZS_ERR_NOMEM, "stream gpu: host buffers for one frame");
        }
    }
    if (p->final)
        return p->status;
    azs_status st = g->ws ? AZS_OK : azs_workspace_create(g->s->it, &g->ws);
    if (st == AZS_OK)
        st = azs_stream_integrate_array(g->s, g->ws, g->frame_buf, &p->a, g->row,
                                        g->has_sigma ? g->row + g->nbins : NULL);
    if (st != AZS_OK)
        snprintf(p->detail, sizeof p->detail, "image %llu: %s", (unsigned long long)p->image_id,
                 azs_last_error());
    return st;
}

/* Batch slot k's rows to the sink, in position order. */
static azs_status deliver(grun *g, uint32_t k)
{
    gbatch *b = &g->b[k];
    const double *inten = NULL, *sig = NULL;
    const int32_t *dst = NULL;
    azs_status st = b->on_device ? azs_gpu_wait(g->e, k, &inten, &sig, &dst, NULL) : AZS_OK;
    if (st != AZS_OK)
        return st;
    for (uint32_t i = 0; i < b->n; i++) {
        gpos *p = &b->pos[i];
        const double *ri, *rs;
        azs_status fs = AZS_OK;
        if (b->on_device && dst[i] == AZS_OK) {
            ri = inten + (size_t)i * g->nbins;
            rs = sig ? sig + (size_t)i * g->nbins : NULL;
        } else {
            fs = host_row(g, p);
            if (!g->row) /* no host buffers: nothing to write */
                return fs;
            if (fs != AZS_OK)
                for (size_t j = 0; j < 2 * g->nbins; j++)
                    g->row[j] = NAN;
            ri = g->row;
            rs = g->has_sigma ? g->row + g->nbins : NULL;
        }
        azs_stream_msg_free(p->msg);
        p->msg = NULL;
        st = azs_stream_write_row(g->s, g->sum, AZS_STREAM_LATENCY_CAP, p->image_id, ri, rs, fs, p->t_received,
                                  p->detail);
        if (st != AZS_OK)
            return st;
    }
    return AZS_OK;
}

static void *driver_main(void *arg)
{
    grun *g = arg;
    pthread_mutex_lock(&g->mu);
    while (!g->stop) {
        gbatch *nb = &g->b[g->nsubmitted % g->S];
        const int ready = g->nsubmitted < g->nopened && nb->seq == g->nsubmitted && nb->state == B_SEALED &&
                          nb->planned == nb->n;
        azs_status st = AZS_OK;
        if (ready && g->nsubmitted - g->ndelivered < g->lag) {
            pthread_mutex_unlock(&g->mu);
            st = submit(g, (uint32_t)(nb - g->b));
            pthread_mutex_lock(&g->mu);
            nb->state = B_SUBMITTED;
            g->nsubmitted++;
        } else if (g->ndelivered < g->nsubmitted) { /* the oldest on the device */
            const uint32_t k = (uint32_t)(g->ndelivered % g->S);
            pthread_mutex_unlock(&g->mu);
            st = deliver(g, k);
            pthread_mutex_lock(&g->mu);
            g->b[k].state = B_FREE;
            g->ndelivered++;
            pthread_cond_broadcast(&g->cv);
        } else if (g->closing && !g->filling && g->nsubmitted == g->nopened) {
            break;
        } else {
            pthread_cond_wait(&g->cv, &g->mu);
        }
        if (st != AZS_OK)
            stop_locked(g, st, azs_last_error());
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

azs_status azs_stream_gpu_check(const azs_run_options *o)
{
    if (azs_gpu_available() == 0)
        return azs_fail(AZS_ERR_NO_DEVICE, "layout gpu: no CUDA device visible (or azstream built without CUDA)");
    if (o->gpu_batch > AZS_GPU_BATCH_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu_batch = %u (0 = %d, 1..%d)", o->gpu_batch,
                        AZS_GPU_BATCH_DEFAULT, AZS_GPU_BATCH_MAX);
    if (o->gpu_slots == 1 || o->gpu_slots > AZS_GPU_SLOTS_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu_slots = %u (0 = %d, 2..%d)", o->gpu_slots,
                        AZS_GPU_SLOTS_DEFAULT, AZS_GPU_SLOTS_MAX);
    const uint32_t slots = o->gpu_slots ? o->gpu_slots : AZS_GPU_SLOTS_DEFAULT;
    if (o->gpu_lag >= slots)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu_lag = %u (0 = auto, 1..%u with %u slots)", o->gpu_lag,
                        slots - 1, slots);
    return AZS_OK;
}

static void free_batches(grun *g)
{
    for (uint32_t k = 0; k < AZS_GPU_SLOTS_MAX; k++) {
        gbatch *b = &g->b[k];
        if (b->pos)
            for (uint32_t i = 0; i < g->B; i++)
                azs_stream_msg_free(b->pos[i].msg);
        free(b->pos);
        free(b->sizes);
        free(b->nitems);
        free(b->maxblock);
        free(b->hstatus);
    }
}

/* Engine and bookkeeping of a series. */
static azs_status setup(grun *g, const azs_stream_series *s)
{
    const azs_run_options *o = s->run;
    azs_status st = azs_stream_gpu_check(o);
    if (st != AZS_OK)
        return st;
    if (s->dtype == AZS_U64 || s->dtype == AZS_I64)
        return azs_fail(AZS_ERR_UNSUPPORTED, "layout gpu: series %llu has %s pixels (the device kernels take at "
                        "most 32-bit ones); use a CPU layout", (unsigned long long)s->series_id,
                        azs_dtype_name(s->dtype));
    azs_csr_view csr;
    if ((st = azs_integrator_csr(s->it, &csr)) != AZS_OK)
        return st;
    g->B = o->gpu_batch ? o->gpu_batch : AZS_GPU_BATCH_DEFAULT;
    g->S = o->gpu_slots ? o->gpu_slots : AZS_GPU_SLOTS_DEFAULT;
    g->lag = o->gpu_lag ? o->gpu_lag : (AZS_GPU_LAG_DEFAULT < g->S ? AZS_GPU_LAG_DEFAULT : g->S - 1);
    const size_t elem = azs_dtype_size(s->dtype);
    g->frame_bytes = (size_t)s->ny * s->nx * elem;
    /* The largest compressed chunk a slot takes: LZ4's bound for blocks of 1 KiB or more
     * (incompressible data grows); a larger one takes the host path from its message. */
    g->stride = g->frame_bytes + g->frame_bytes / 32 + 4096;
    /* Rows are planned at a stride of the most items any codec needs (bitshuffle-LZ4): an
     * image of another codec than the first fits as well. */
    g->max_items = azs_gpu_max_items_per_frame(AZS_CODEC_BSLZ4, elem, g->frame_bytes);
    g->nbins = csr.nbins;
    g->has_sigma = azs_integrator_options(s->it)->error_model != AZS_ERRMODEL_NONE;
    azs_gpu_config c;
    azs_gpu_config_default(&c);
    c.device = o->device;
    c.batch = g->B;
    c.nslots = g->S;
    c.chunk_stride = g->stride;
    c.codec = AZS_CODEC_BSLZ4;
    c.dtype = s->dtype;
    c.npixels = (uint64_t)s->ny * s->nx;
    if ((st = azs_gpu_engine_create(&c, &csr, &g->e)) != AZS_OK)
        return st;
    for (uint32_t k = 0; k < g->S; k++) {
        gbatch *b = &g->b[k];
        b->pos = calloc(g->B, sizeof *b->pos);
        b->sizes = calloc(g->B, sizeof *b->sizes);
        b->nitems = calloc(g->B, sizeof *b->nitems);
        b->maxblock = calloc(g->B, sizeof *b->maxblock);
        b->hstatus = calloc(g->B, sizeof *b->hstatus);
        if (!b->pos || !b->sizes || !b->nitems || !b->maxblock || !b->hstatus)
            return azs_fail(AZS_ERR_NOMEM, "stream gpu: bookkeeping of %u x %u rows", g->S, g->B);
    }
    return AZS_OK;
}

azs_status azs_stream_run_series_gpu(const azs_stream_series *s, azs_stream_series_summary *sum,
                                     azs_stream_msg **next_start)
{
    *next_start = NULL;
    grun g;
    memset(&g, 0, sizeof g);
    g.s = s;
    g.sum = sum;
    azs_status st = azs_stream_summary_init(sum, AZS_STREAM_LATENCY_CAP);
    if (st == AZS_OK)
        st = setup(&g, s);
    if (st != AZS_OK) {
        azs_stream_msg_free(s->first);
        free_batches(&g);
        azs_gpu_engine_destroy(g.e);
        return st;
    }
    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.cv, NULL);
    pthread_cond_init(&g.work, NULL);
    const int ncpu = azs_cpu_count();
    int nplanners = s->run->workers > 0 ? s->run->workers : ncpu;
    if (nplanners > STREAM_GPU_MAX_PLANNERS)
        nplanners = STREAM_GPU_MAX_PLANNERS;
    pthread_t planners[STREAM_GPU_MAX_PLANNERS], driver;
    int nstarted = 0, have_driver = 0;
    for (; nstarted < nplanners; nstarted++)
        if (pthread_create(&planners[nstarted], NULL, planner_main, &g) != 0)
            break;
    if (nstarted == 0)
        st = azs_fail(AZS_ERR_WORKER, "stream gpu: cannot start planner threads");
    else if (!(have_driver = pthread_create(&driver, NULL, driver_main, &g) == 0))
        st = azs_fail(AZS_ERR_WORKER, "stream gpu: cannot start the driver thread");
    const azs_stream_feed feed = {gput, gstopped, gidle_ms, gidle, &g};
    if (st == AZS_OK)
        st = azs_stream_receive(s, sum, &feed, next_start);
    else
        azs_stream_msg_free(s->first);
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", azs_last_error());
    pthread_mutex_lock(&g.mu);
    if (g.filling) /* what was received is integrated and written (also on Ctrl-C) */
        seal_locked(&g);
    g.closing = 1;
    if (st == AZS_ERR_WORKER || st == AZS_ERR_NOMEM || !have_driver)
        stop_locked(&g, st, detail);
    pthread_cond_broadcast(&g.cv);
    pthread_mutex_unlock(&g.mu);
    if (have_driver)
        pthread_join(driver, NULL);
    pthread_mutex_lock(&g.mu);
    g.quit = 1;
    if (g.stop) /* rows left unplanned are not needed */
        for (uint32_t k = 0; k < g.S; k++)
            g.b[k].next = g.b[k].n;
    pthread_cond_broadcast(&g.work);
    pthread_mutex_unlock(&g.mu);
    for (int t = 0; t < nstarted; t++)
        pthread_join(planners[t], NULL);
    if (g.stop && g.stop_status != AZS_OK && have_driver) /* the driver's failure came first */
        st = azs_fail(g.stop_status, "%s", g.stop_detail);
    else if (st != AZS_OK)
        azs_fail(st, "%s", detail);
    azs_gpu_engine_destroy(g.e); /* waits for work still in flight */
    free_batches(&g);
    azs_workspace_destroy(g.ws);
    azs_aligned_free(g.frame_buf);
    azs_aligned_free(g.row);
    pthread_cond_destroy(&g.work);
    pthread_cond_destroy(&g.cv);
    pthread_mutex_destroy(&g.mu);
    return st;
}
