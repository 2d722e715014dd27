/* Layout 3 (DESIGN §2): compressed chunks in, profiles out, on one GPU.
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
 * Bad frames: errors found while reading/planning (truncated chunk, bad header) or on the
 * GPU (bad LZ4 block) are per-frame statuses. Codec errors follow skip_bad like the CPU
 * layouts (stop at the first bad frame with its index, or deliver NaN and go on); other
 * errors (I/O, unsupported block layout) stop the run. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azstream/gpu.h"
#include "common/error.h"
#include "layouts.h"

/* Frames per batch and batches in flight. Defaults from the measurements in
 * doc/gpu-notes.md; AZS_GPU_BATCH / AZS_GPU_SLOTS override them (for measuring), and
 * AZS_GPU_TRACE=1 prints where the main thread waited (readers or GPU) at the end. */
#define GPU_BATCH 32
#define GPU_SLOTS 4
#define GPU_LAG 2
#define MAX_SLOTS 8
#define MAX_READERS 32

typedef struct gslot {
    int state;             /* 0 idle, 1 reading, 2 read */
    uint64_t batch;        /* batch index being read */
    uint64_t first;        /* first frame of the batch */
    uint32_t nframes, next, done;
    size_t *sizes;         /* [B] chunk bytes */
    size_t *nitems;        /* [B] items planned for frame i (at items + i * max_items) */
    uint32_t *maxblock;    /* [B] */
    int32_t *status;       /* [B] */
    uint32_t first_bad;    /* lowest frame index with a read/plan error (UINT32_MAX: none) */
    char msg[256];         /* its detail message */
} gslot;

typedef struct gctx {
    azs_source *src;
    const azs_source_info *info;
    azs_gpu_engine *e;
    size_t max_items, frame_bytes;
    uint32_t B, S;
    gslot slots[MAX_SLOTS];
    pthread_mutex_t mu;
    pthread_cond_t work, ready;
    int stop;
} gctx;

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

        uint8_t *buf = azs_gpu_host_chunk(g->e, s, i);
        azs_gpu_item *items = azs_gpu_host_items(g->e, s) + (size_t)i * g->max_items;
        size_t size = 0, ni = 0;
        uint32_t mb = 0;
        azs_status st = azs_source_read_raw(g->src, frame, buf, g->info->max_chunk_bytes, &size);
        if (st == AZS_OK)
            st = azs_gpu_plan_chunk(g->info->codec, g->info->elem_size, buf, size, g->frame_bytes,
                                    i, items, g->max_items, &ni, &mb);
        pthread_mutex_lock(&g->mu);
        sl->sizes[i] = st == AZS_OK ? size : 0;
        sl->nitems[i] = st == AZS_OK ? ni : 0;
        sl->maxblock[i] = mb;
        sl->status[i] = (int32_t)st;
        if (st != AZS_OK && i < sl->first_bad) {
            sl->first_bad = i;
            snprintf(sl->msg, sizeof sl->msg, "%s", azs_last_error());
        }
        if (++sl->done == sl->nframes) {
            sl->state = 2;
            pthread_cond_broadcast(&g->ready);
        }
    }
    pthread_mutex_unlock(&g->mu);
    return NULL;
}

static uint32_t env_u32(const char *name, uint32_t def, uint32_t lo, uint32_t hi)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *e;
    unsigned long x = strtoul(v, &e, 10);
    return (*e || x < lo || x > hi) ? def : (uint32_t)x;
}

static int is_frame_error(azs_status s)
{
    return s == AZS_ERR_CORRUPT || s == AZS_ERR_TRUNCATED || s == AZS_ERR_SIZE_MISMATCH;
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
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
    sl->first_bad = UINT32_MAX;
    sl->msg[0] = 0;
    sl->state = 1;
    pthread_cond_broadcast(&g->work);
}

void azs_gpu_config_for(azs_gpu_config *c, const azs_source_info *info,
                        const azs_integrator *it, int device, uint32_t batch, uint32_t nslots,
                        size_t chunk_stride)
{
    const azs_integrate_options *io = azs_integrator_options(it);
    azs_gpu_config_default(c);
    c->device = device;
    c->batch = batch;
    c->nslots = nslots;
    c->chunk_stride = chunk_stride;
    c->codec = info->codec;
    c->dtype = info->dtype;
    c->npixels = (uint64_t)info->ny * info->nx;
    c->has_dummy = io->has_dummy;
    c->dummy = io->dummy;
    c->delta_dummy = io->delta_dummy;
    c->error_model = io->error_model;
}

azs_status azs_run_gpu(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                       const azs_sink_ops *sink, azs_run_summary *sum)
{
    const double t0 = wall_now();
    memset(sum, 0, sizeof *sum);
    if (azs_gpu_available() == 0)
        return azs_fail(AZS_ERR_NO_DEVICE,
                        "layout gpu: no CUDA device visible (or azstream built without CUDA)");
    const azs_source_info *info = azs_source_get_info(src);
    if (info->read_path == AZS_READ_FILTERED)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "layout gpu: this dataset gives no raw chunks (filtered read path); "
                        "use a CPU layout");
    if (info->codec != AZS_CODEC_BSLZ4 && info->codec != AZS_CODEC_LZ4 &&
        info->codec != AZS_CODEC_NONE)
        return azs_fail(AZS_ERR_UNSUPPORTED, "layout gpu: codec %d", (int)info->codec);
    azs_csr_view csr;
    azs_status st = azs_integrator_csr(it, &csr);
    if (st != AZS_OK)
        return st;
    const uint64_t first = o->first_frame, end = o->end_frame;
    if (end <= first)
        return AZS_OK;

    gctx g;
    memset(&g, 0, sizeof g);
    g.src = src;
    g.info = info;
    g.B = env_u32("AZS_GPU_BATCH", GPU_BATCH, 1, 1024);
    g.S = env_u32("AZS_GPU_SLOTS", GPU_SLOTS, 2, MAX_SLOTS);
    const int trace = getenv("AZS_GPU_TRACE") != NULL;
    double t_read_wait = 0, t_gpu_wait = 0, t_sink = 0, t_submit = 0, t_device = 0;
    int nreaders = 0;
    uint32_t lag = 1;
    double t_end = 0;
    uint64_t delivered = 0; /* batches delivered */
    g.frame_bytes = info->frame_bytes;
    g.max_items = azs_gpu_max_items_per_frame(info->codec, info->elem_size, info->frame_bytes);
    azs_gpu_config c;
    azs_gpu_config_for(&c, info, it, o->device, g.B, g.S, info->max_chunk_bytes);
    st = azs_gpu_engine_create(&c, &csr, &g.e);
    if (st != AZS_OK)
        return st;
    const size_t nbins = csr.nbins;
    double *nan_row = malloc(nbins * sizeof(double));
    int alloc_ok = nan_row != NULL;
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
    for (size_t b = 0; b < nbins; b++)
        nan_row[b] = NAN;

    pthread_mutex_init(&g.mu, NULL);
    pthread_cond_init(&g.work, NULL);
    pthread_cond_init(&g.ready, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    nreaders = o->workers > 0 ? o->workers : (int)(ncpu > 16 ? 16 : (ncpu > 0 ? ncpu : 1));
    sum->setup_seconds = wall_now() - t0;
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

    delivered = 0;
    int stop_run = 0;
    /* Batches on the GPU at once: submit b, then deliver b - lag. */
    lag = env_u32("AZS_GPU_LAG", GPU_LAG < g.S ? GPU_LAG : g.S - 1, 1, g.S - 1);
    for (uint64_t b = 0; b < nb + lag && !stop_run; b++) {
        if (b < nb) {
            const uint32_t s = (uint32_t)(b % g.S);
            gslot *sl = &g.slots[s];
            double tw = wall_now();
            pthread_mutex_lock(&g.mu);
            while (sl->state != 2)
                pthread_cond_wait(&g.ready, &g.mu);
            pthread_mutex_unlock(&g.mu);
            t_read_wait += wall_now() - tw;
            /* a non-codec error stops the run once the frames before it are delivered */
            if (sl->first_bad != UINT32_MAX && !is_frame_error((azs_status)sl->status[sl->first_bad])) {
                for (uint32_t i = sl->first_bad + 1; i < sl->nframes; i++)
                    sl->status[i] = AZS_ERR_INTERRUPTED; /* not delivered */
            }
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
            double ts = wall_now();
            st = azs_gpu_submit(g.e, s, sl->nframes, sl->sizes, n, maxb, sl->status);
            t_submit += wall_now() - ts;
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
        double tw = wall_now();
        float ms = 0;
        st = azs_gpu_wait(g.e, s, &inten, &sig, &fst, &ms);
        t_gpu_wait += wall_now() - tw;
        t_device += 1e-3 * ms;
        if (st != AZS_OK)
            break;
        tw = wall_now();
        for (uint32_t i = 0; i < sl->nframes && !stop_run; i++) {
            const uint64_t frame = sl->first + i;
            azs_status fs = (azs_status)fst[i];
            if (fs == AZS_OK) {
                st = sink->write(sink->ctx, frame, inten + (size_t)i * nbins,
                                 sig ? sig + (size_t)i * nbins : NULL, AZS_OK);
            } else if (is_frame_error(fs) && o->skip_bad) {
                if (sum->frames_bad++ == 0)
                    sum->first_bad_frame = frame;
                st = sink->write(sink->ctx, frame, nan_row, sig ? nan_row : NULL, fs);
            } else {
                sum->first_bad_frame = frame;
                if (i == sl->first_bad)
                    st = azs_fail(fs, "frame %llu: %s", (unsigned long long)frame, sl->msg);
                else
                    st = azs_fail(fs, "frame %llu: %s (found by the GPU decoder)",
                                  (unsigned long long)frame, azs_status_str(fs));
                stop_run = 1;
                break;
            }
            if (st != AZS_OK) {
                stop_run = 1;
                break;
            }
            sum->frames_done++;
        }
        t_sink += wall_now() - tw;
        delivered++;
        if (stop_run)
            break;
        if (o->cancel && atomic_load(o->cancel)) {
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

    t_end = wall_now();
    pthread_mutex_lock(&g.mu);
    g.stop = 1;
    pthread_cond_broadcast(&g.work);
    pthread_mutex_unlock(&g.mu);
    for (int t = 0; t < nstarted; t++)
        pthread_join(th[t], NULL);
out_sync:
    pthread_cond_destroy(&g.work);
    pthread_cond_destroy(&g.ready);
    pthread_mutex_destroy(&g.mu);
out_free:
    azs_gpu_engine_destroy(g.e); /* waits for work still in flight */
    for (uint32_t s = 0; s < g.S; s++) {
        free(g.slots[s].sizes);
        free(g.slots[s].nitems);
        free(g.slots[s].maxblock);
        free(g.slots[s].status);
    }
    free(nan_row);
    sum->seconds = wall_now() - t0;
    const double t_teardown = t_end > 0 ? wall_now() - t_end : 0.0;
    if (trace)
        fprintf(stderr, "layout gpu trace: batch %u x %u slots (%u on the GPU), %d readers: %.3f s "
                "total, set-up %.3f s, tear-down %.3f s; main thread waited for readers %.3f s, for "
                "the GPU %.3f s, submitted %.3f s, sink %.3f s; %llu batches, device time per batch "
                "%.2f ms\n",
                g.B, g.S, lag, nreaders, sum->seconds, sum->setup_seconds, t_teardown, t_read_wait,
                t_gpu_wait, t_submit, t_sink, (unsigned long long)delivered,
                delivered ? 1e3 * t_device / (double)delivered : 0.0);
    return st;
}
