/* Layout 3 (doc/design.md "layouts"): compressed chunks in, profiles out, on one GPU.
 *
 * Pipeline, with S batch slots of B frames (azstream/gpu.h):
 *   reader threads  pread raw chunks straight into a slot's pinned buffer and plan each
 *                   chunk's blocks on the CPU (frames of a batch claimed one by one);
 *   main thread     in batch order: wait until a slot's batch is read, compact its items,
 *                   submit (async upload + decode + integrate + download on the slot's
 *                   stream), then deliver batch b - lag (wait for its stream, hand profiles
 *                   to the sink in frame order) and give that slot to the readers for batch
 *                   b - lag + S.
 * So `lag` batches are on the GPU (one uploading while another computes) and S - lag are
 * being read. Defaults (32 frames, 4 slots, lag 2) come from the sweep in doc/gpu-notes.md:
 * with them the readers (pread from the page cache) are the limit, not the GPU.
 *
 * Frames the device path does not take go through the host: a frame without raw bytes
 * (never written, filter skipped), a read or plan error, a block layout the GPU decoder
 * does not handle, a frame the device found bad. The main thread integrates them at
 * delivery with the frame feed, as layout 0 does (azs_feed_frame: read, decode, CPU engine,
 * OpenMP inside), so their rows, statuses and messages are the CPU layouts' by
 * construction; azs_feed_admit then skips or stops as everywhere. They are rare (or the
 * source suits no GPU), so this costs nothing in the common case.
 *
 * Frames per batch, slots and lag: azs_run_options.gpu_* (0 = the defaults, from the
 * measurements in doc/gpu-notes.md); where the main thread waited: azs_run_summary.gpu. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "common/error.h"
#include "common/sigbus_guard.h"
#include "frame_feed.h"
#include "gpu_feed.h"
#include "layout_util.h"
#include "layouts.h"

#define MAX_READERS 32

typedef struct gslot {
    int state;             /* 0 idle, 1 reading, 2 read */
    uint64_t batch;        /* batch index being read */
    uint64_t first;        /* first frame of the batch */
    uint32_t nframes, next, done;
    size_t *sizes;         /* [B] chunk bytes */
    size_t *nitems;        /* [B] items planned for frame i (at items + i * max_items) */
    uint32_t *maxblock;    /* [B] */
    int32_t *status;       /* [B] AZS_OK, or why the frame goes through the host */
} gslot;

typedef struct gctx {
    azs_source *src;
    const azs_source_info *info;
    azs_gpu_engine *e;
    gfeed *feed;
    size_t max_items, frame_bytes;
    uint32_t B, S;
    gslot slots[AZS_GPU_SLOTS_MAX];
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    int stop;
} gctx;

/* The planner's call, packed for azs_sigbus_guard (the chunk may lie in a file mapping). */
typedef struct plan_call {
    gctx *g;
    const uint8_t *chunk;
    size_t size;
    uint32_t i;
    azs_gpu_item *items;
    size_t ni;
    uint32_t mb;
    azs_status st;
} plan_call;

static void plan_run(void *arg)
{
    plan_call *p = arg;
    p->st = azs_gpu_plan_chunk(p->g->info->codec, p->g->info->elem_size, p->chunk, p->size,
                               p->g->frame_bytes, p->i, p->items, p->g->max_items, &p->ni, &p->mb);
}

static void *reader_main(void *arg)
{
    gctx *g = arg;
    pthread_mutex_lock(&g->mu);
    for (;;) {
        gslot *sl = NULL;
        uint32_t s = 0;
        while (!g->stop) {
            /* the oldest batch with frames left to claim */
            for (uint32_t k = 0; k < g->S; k++) {
                gslot *c = &g->slots[k];
                if (c->state == 1 && c->next < c->nframes && (!sl || c->batch < sl->batch)) {
                    sl = c;
                    s = k;
                }
            }
            if (sl)
                break;
            pthread_cond_wait(&g->work, &g->mu);
        }
        if (g->stop)
            break;
        uint32_t i = sl->next++;
        uint64_t frame = sl->first + i;
        pthread_mutex_unlock(&g->mu);

        azs_gpu_item *items = azs_gpu_host_items(g->e, s) + (size_t)i * g->max_items;
        plan_call pc = {g, NULL, 0, i, items, 0, 0, AZS_OK};
        int mapped = 0;
        const void *lo = NULL;
        size_t len = 0, at = 0;
        pc.st = gfeed_read(g->feed, s, i, frame, &pc.chunk, &pc.size, &mapped, &lo, &len);
        if (pc.st == AZS_OK && !mapped)
            plan_run(&pc);
        else if (pc.st == AZS_OK && azs_sigbus_guard(lo, len, plan_run, &pc, &at) != AZS_OK)
            pc.st = azs_fail(AZS_ERR_TRUNCATED, "layout gpu: frame %llu: its file shrank while mapped",
                             (unsigned long long)frame);
        azs_status st = pc.st;
        size_t size = pc.size, ni = pc.ni;
        uint32_t mb = pc.mb;
        pthread_mutex_lock(&g->mu);
        sl->sizes[i] = st == AZS_OK ? size : 0;
        sl->nitems[i] = st == AZS_OK ? ni : 0;
        sl->maxblock[i] = mb;
        sl->status[i] = (int32_t)st; /* not OK: the host takes it, and reports it */
        if (++sl->done == sl->nframes) {
            sl->state = 2;
            pthread_cond_broadcast(&g->ready);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

/* The host path for frames the device did not integrate (frame_feed.h), its buffers made
 * on first need. */
typedef struct host_path {
    azs_workspace *ws;
    void *raw, *pixels;
    double *row; /* intensity, then sigma */
} host_path;

static azs_status host_frame(host_path *h, azs_source *src, const azs_integrator *it,
                             uint64_t frame, size_t nbins, int has_sigma)
{
    const azs_source_info *info = azs_source_get_info(src);
    if (!h->row) {
        h->raw = azs_aligned_alloc(info->max_chunk_bytes ? info->max_chunk_bytes : 1);
        h->pixels = azs_aligned_alloc(info->frame_bytes ? info->frame_bytes : 1);
        h->row = azs_aligned_alloc(2 * nbins * sizeof(double) + 64);
        if (!h->raw || !h->pixels || !h->row) {
            azs_aligned_free(h->row);
            h->row = NULL;
            return azs_fail(AZS_ERR_NOMEM, "layout gpu: host buffers for one frame");
        }
    }
    if (!h->ws) {
        azs_status s = azs_workspace_create(it, &h->ws);
        if (s != AZS_OK)
            return s;
    }
    azs_frame_result fr = {0};
    fr.intensity = h->row;
    fr.sigma = has_sigma ? h->row + nbins : NULL;
    return azs_feed_frame(src, it, h->ws, frame, h->raw, info->max_chunk_bytes, h->pixels, 1, &fr);
}

static void host_free(host_path *h)
{
    azs_workspace_destroy(h->ws);
    azs_aligned_free(h->raw);
    azs_aligned_free(h->pixels);
    azs_aligned_free(h->row);
}

/* Hand slot s to the readers for batch b (caller holds the mutex). */
static void post_read(gctx *g, uint32_t s, uint64_t b, uint64_t first, uint64_t end)
{
    gslot *sl = &g->slots[s];
    sl->batch = b;
    sl->first = first + b * g->B;
    uint64_t left = end - sl->first;
    sl->nframes = (uint32_t)(left < g->B ? left : g->B);
    sl->next = sl->done = 0;
    sl->state = 1;
    pthread_cond_broadcast(&g->work);
}

void azs_gpu_config_for(azs_gpu_config *c, const azs_source_info *info,
                        const azs_integrator *it, int device, uint32_t batch, uint32_t nslots,
                        size_t chunk_stride)
{
    (void)it; /* the preprocessing comes with the matrix (azs_csr_view.rule) */
    azs_gpu_config_default(c);
    c->device = device;
    c->batch = batch;
    c->nslots = nslots;
    c->chunk_stride = chunk_stride;
    c->codec = info->codec;
    c->dtype = info->dtype;
    c->npixels = (uint64_t)info->ny * info->nx;
}

/* Bytes of a frame's pinned buffer: the largest chunk and the up to two partial 4 KiB
 * blocks an O_DIRECT read of it adds (gpu_feed.h), so that every feed has the same engine
 * (and azs_run_prepare's matches whichever runs). */
static size_t chunk_stride(const azs_source_info *info)
{
    return (info->max_chunk_bytes + 2 * 4096 + 4095) / 4096 * 4096;
}

static void run_config(azs_gpu_config *c, const azs_source_info *info, const azs_run_options *o)
{
    azs_gpu_config_for(c, info, NULL, o->device, o->gpu_batch ? o->gpu_batch : AZS_GPU_BATCH_DEFAULT,
                       o->gpu_slots ? o->gpu_slots : AZS_GPU_SLOTS_DEFAULT, chunk_stride(info));
}

static azs_status validate_gpu(const azs_source_info *info, const azs_run_options *o)
{
    (void)o;
    if (azs_gpu_available() == 0)
        return azs_fail(AZS_ERR_NO_DEVICE,
                        "layout gpu: no CUDA device visible (or azstream built without CUDA)");
    if (info->read_path == AZS_READ_FILTERED)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "layout gpu: this dataset gives no raw chunks (filtered read path); "
                        "use a CPU layout");
    if (info->codec != AZS_CODEC_BSLZ4 && info->codec != AZS_CODEC_LZ4 &&
        info->codec != AZS_CODEC_NONE)
        return azs_fail(AZS_ERR_UNSUPPORTED, "layout gpu: codec %d", (int)info->codec);
    if (info->dtype == AZS_U64 || info->dtype == AZS_I64)
        return azs_fail(AZS_ERR_UNSUPPORTED, "layout gpu: %s pixels (the device kernels take at most "
                        "32-bit ones); use a CPU layout", azs_dtype_name(info->dtype));
    return AZS_OK;
}

void azs_gpu_run_prepare(azs_source *src, const azs_run_options *o)
{
    if (!src) {
        azs_gpu_engine_prepare(NULL);
        return;
    }
    const azs_source_info *info = azs_source_get_info(src);
    if (!info || !o || azs_gpu_available() == 0 || validate_gpu(info, o) != AZS_OK)
        return;
    azs_gpu_config c;
    run_config(&c, info, o);
    azs_gpu_engine_prepare(&c);
}

static azs_status run_gpu(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                          const azs_sink_ops *sink, azs_run_summary *sum)
{
    const double t0 = azs_now_seconds();
    const azs_source_info *info = azs_source_get_info(src);
    azs_csr_view csr;
    azs_status st = azs_integrator_csr(it, &csr);
    if (st != AZS_OK)
        return st;
    const uint64_t first = o->first_frame, end = o->end_frame;
    azs_gpu_trace *tr = &sum->gpu;
    host_path host = {0};
    const int has_sigma = azs_layout_has_sigma(it);

    gctx g;
    memset(&g, 0, sizeof g);
    g.src = src;
    g.info = info;
    g.B = o->gpu_batch ? o->gpu_batch : AZS_GPU_BATCH_DEFAULT;
    g.S = o->gpu_slots ? o->gpu_slots : AZS_GPU_SLOTS_DEFAULT;
    /* Batches on the GPU at once: submit b, then deliver b - lag. */
    const uint32_t lag = o->gpu_lag ? o->gpu_lag
                                    : (AZS_GPU_LAG_DEFAULT < g.S ? AZS_GPU_LAG_DEFAULT : g.S - 1);
    int nreaders = 0;
    double t_end = 0;
    g.frame_bytes = info->frame_bytes;
    g.max_items = azs_gpu_max_items_per_frame(info->codec, info->elem_size, info->frame_bytes);
    azs_gpu_config c;
    run_config(&c, info, o);
    st = azs_gpu_engine_create(&c, &csr, &g.e);
    if (st != AZS_OK)
        return st;
    if ((st = gfeed_create(&g.feed, src, g.e, o, first, end, g.B, g.S, c.chunk_stride)) != AZS_OK) {
        azs_gpu_engine_destroy(g.e);
        return st;
    }
    const size_t nbins = csr.nbins;
    int alloc_ok = 1;
    for (uint32_t s = 0; s < g.S && alloc_ok; s++) {
        gslot *sl = &g.slots[s];
        sl->sizes = calloc(g.B, sizeof *sl->sizes);
        sl->nitems = calloc(g.B, sizeof *sl->nitems);
        sl->maxblock = calloc(g.B, sizeof *sl->maxblock);
        sl->status = calloc(g.B, sizeof *sl->status);
        alloc_ok = sl->sizes && sl->nitems && sl->maxblock && sl->status;
    }
    if (!alloc_ok) {
        st = azs_fail(AZS_ERR_NOMEM, "layout gpu: bookkeeping");
        goto out_free;
    }

    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.work, NULL);
    pthread_cond_init(&g.ready, NULL);
    const int ncpu = azs_cpu_count();
    nreaders = o->workers > 0 ? o->workers : (ncpu > 16 ? 16 : ncpu);
    sum->setup_seconds = azs_now_seconds() - t0;
    if (nreaders > MAX_READERS)
        nreaders = MAX_READERS;
    pthread_t th[MAX_READERS];
    int nstarted = 0;
    for (; nstarted < nreaders; nstarted++)
        if (pthread_create(&th[nstarted], NULL, reader_main, &g) != 0)
            break;
    if (nstarted == 0) {
        st = azs_fail(AZS_ERR_WORKER, "layout gpu: cannot start reader threads");
        goto out_sync;
    }

    const uint64_t nb = (end - first + g.B - 1) / g.B;
    pthread_mutex_lock(&g.mu);
    for (uint64_t b = 0; b < nb && b < g.S; b++)
        post_read(&g, (uint32_t)b, b, first, end);
    pthread_mutex_unlock(&g.mu);

    int stop_run = 0;
    for (uint64_t b = 0; b < nb + lag && !stop_run; b++) {
        if (b < nb) {
            const uint32_t s = (uint32_t)(b % g.S);
            gslot *sl = &g.slots[s];
            double tw = azs_now_seconds();
            pthread_mutex_lock(&g.mu);
            while (sl->state != 2)
                pthread_cond_wait(&g.ready, &g.mu);
            pthread_mutex_unlock(&g.mu);
            tr->read_wait += azs_now_seconds() - tw;
            /* compact the items of the frames (planned at stride max_items) in place */
            azs_gpu_item *items = azs_gpu_host_items(g.e, s);
            size_t n = 0;
            uint32_t maxb = 0;
            for (uint32_t i = 0; i < sl->nframes; i++) {
                if (sl->status[i] != AZS_OK)
                    continue;
                if (n != (size_t)i * g.max_items)
                    memmove(items + n, items + (size_t)i * g.max_items,
                            sl->nitems[i] * sizeof *items);
                n += sl->nitems[i];
                if (sl->maxblock[i] > maxb)
                    maxb = sl->maxblock[i];
            }
            double ts = azs_now_seconds();
            st = azs_gpu_submit_from(g.e, s, sl->nframes, sl->sizes, gfeed_sources(g.feed, s), n,
                                     maxb, sl->status);
            tr->submit += azs_now_seconds() - ts;
            if (st != AZS_OK)
                break;
        }
        if (b < lag)
            continue;
        /* deliver batch b - lag */
        const uint64_t d = b - lag;
        const uint32_t s = (uint32_t)(d % g.S);
        gslot *sl = &g.slots[s];
        const double *inten, *sig;
        const int32_t *fst;
        double tw = azs_now_seconds();
        float ms = 0;
        st = azs_gpu_wait(g.e, s, &inten, &sig, &fst, &ms);
        tr->gpu_wait += azs_now_seconds() - tw;
        tr->device += 1e-3 * ms;
        if (st != AZS_OK)
            break;
        tw = azs_now_seconds();
        const double host_before = tr->host;
        for (uint32_t i = 0; i < sl->nframes; i++) {
            const uint64_t frame = sl->first + i;
            const double *ri = inten + (size_t)i * nbins;
            const double *rs = sig ? sig + (size_t)i * nbins : NULL;
            azs_status fs = AZS_OK;
            if (fst[i] != AZS_OK) { /* not integrated on the device: the host path decides */
                const double th0 = azs_now_seconds();
                fs = host_frame(&host, src, it, frame, nbins, has_sigma);
                tr->host += azs_now_seconds() - th0;
                tr->host_frames++;
                if (!host.row) { /* no host buffers: nothing to write */
                    st = fs;
                    stop_run = 1;
                    break;
                }
                if (fs != AZS_OK)
                    azs_feed_bad_row(host.row, has_sigma ? host.row + nbins : NULL, nbins);
                ri = host.row;
                rs = has_sigma ? host.row + nbins : NULL;
            }
            if ((st = azs_feed_admit(o, sum, frame, fs)) != AZS_OK) { /* the feed's detail */
                stop_run = 1;
                break;
            }
            st = sink->write(sink->ctx, frame, ri, rs, fs);
            if (st != AZS_OK) {
                stop_run = 1;
                break;
            }
            sum->frames_done++;
        }
        tr->sink += azs_now_seconds() - tw - (tr->host - host_before);
        tr->batches++;
        gfeed_delivered(g.feed, s, sl->nframes, sl->first + sl->nframes);
        const char *why = gfeed_notice(g.feed);
        if (why && o->notice)
            o->notice(o->notice_ctx, why);
        if (stop_run)
            break;
        if (azs_feed_cancelled(o)) {
            st = azs_fail(AZS_ERR_INTERRUPTED, "layout gpu: stopped after frame %llu",
                          (unsigned long long)(first + sum->frames_done));
            break;
        }
        if (o->progress)
            o->progress(o->progress_ctx, sum->frames_done, end - first);
        /* the slot is free again: read batch d + S into it */
        if (d + g.S < nb) {
            pthread_mutex_lock(&g.mu);
            post_read(&g, s, d + g.S, first, end);
            pthread_mutex_unlock(&g.mu);
        }
    }

    t_end = azs_now_seconds();
    pthread_mutex_lock(&g.mu);
    g.stop = 1;
    pthread_cond_broadcast(&g.work);
    pthread_mutex_unlock(&g.mu);
    for (int t = 0; t < nstarted; t++)
        pthread_join(th[t], NULL);
    gfeed_stop(g.feed);
out_sync:
    pthread_cond_destroy(&g.work);
    pthread_cond_destroy(&g.ready);
    pthread_mutex_destroy(&g.mu);
out_free:
    if (o->gpu_keep_engine && st == AZS_OK)
        azs_gpu_engine_keep(g.e); /* waits for work still in flight */
    else
        azs_gpu_engine_destroy(g.e); /* waits for work still in flight */
    gfeed_destroy(g.feed, o->device, tr); /* after: no copy reads its windows any more */
    for (uint32_t s = 0; s < g.S; s++) {
        free(g.slots[s].sizes);
        free(g.slots[s].nitems);
        free(g.slots[s].maxblock);
        free(g.slots[s].status);
    }
    host_free(&host);
    tr->batch = g.B;
    tr->slots = g.S;
    tr->lag = lag;
    tr->readers = nreaders;
    tr->teardown = t_end > 0 ? azs_now_seconds() - t_end : 0.0;
    return st;
}

const azs_layout_driver azs_driver_gpu = {"gpu", validate_gpu, run_gpu};
