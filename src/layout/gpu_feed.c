/* Layout gpu's feeds (gpu_feed.h; measurements in doc/gpu-notes.md "feeding"). */
#define _POSIX_C_SOURCE 200809L
#include "gpu_feed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"

#define DIRECT_ALIGN 4096u
#define MAX_WINDOWS 512

typedef struct gwin {
    int live;
    size_t file;
    uint64_t start;      /* offset of the window in its file (a multiple of the window size) */
    azs_raw_map map;     /* registered with CUDA while live */
    uint64_t last_frame; /* last frame of the run the registrar found in it */
    uint32_t users;      /* frames read from it and not yet delivered */
} gwin;

struct gfeed {
    azs_source *src;
    azs_gpu_engine *e;
    int device;
    azs_gpu_feed mode;
    uint64_t first, end;
    uint32_t B, S;
    size_t stride;
    int failed;          /* the feed was refused: pread from now on (atomic) */
    int noticed;
    char msg[600];
    uint64_t fed;        /* frames the feed brought (atomic) */
    /* REGISTER */
    uint64_t W, cap, reach;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    gwin win[MAX_WINDOWS];
    uint64_t reg_next;   /* the registrar has placed every frame before this one */
    uint64_t frontier;   /* every frame before this one is delivered */
    int stop, started;
    pthread_t th;
    const void **srcs;   /* [S][B] */
    int32_t *wins;       /* [S][B]: window of the frame, -1 none */
    uint32_t windows;
    uint64_t reg_bytes;
    double reg_s, win_wait;
};

static void refuse(gfeed *f, const char *what)
{
    pthread_mutex_lock(&f->mu);
    if (!__atomic_load_n(&f->failed, __ATOMIC_ACQUIRE)) {
        snprintf(f->msg, sizeof f->msg, "layout gpu: --gpu-feed %s refused (%s): reading with pread",
                 f->mode == AZS_GPU_FEED_REGISTER ? "register" : "direct", what);
        __atomic_store_n(&f->failed, 1, __ATOMIC_RELEASE);
    }
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int find_window(const gfeed *f, size_t file, uint64_t start)
{
    for (int k = 0; k < MAX_WINDOWS; k++)
        if (f->win[k].live && f->win[k].file == file && f->win[k].start == start)
            return k;
    return -1;
}

/* Release windows (least recent last_frame first) whose frames are all delivered until
 * `need` more bytes fit the cap; the ones released are moved to out[] (unregistered by the
 * caller, outside the lock). Lock held. */
static int evict_for(gfeed *f, uint64_t need, gwin *out)
{
    int n = 0;
    for (;;) {
        uint64_t live = 0;
        int best = -1;
        for (int k = 0; k < MAX_WINDOWS; k++) {
            const gwin *w = &f->win[k];
            if (!w->live)
                continue;
            live += w->map.len;
            if (w->users == 0 && w->last_frame < f->frontier &&
                (best < 0 || w->last_frame < f->win[best].last_frame))
                best = k;
        }
        if (live + need <= f->cap || best < 0)
            return n; /* fits, or nothing can go yet: over the cap for a while */
        out[n++] = f->win[best];
        f->win[best].live = 0;
    }
}

static void *registrar_main(void *arg)
{
    gfeed *f = arg;
    gwin *out = calloc(MAX_WINDOWS, sizeof *out);
    if (!out) {
        refuse(f, "no memory for the window list");
        return NULL;
    }
    for (uint64_t fr = f->first; fr < f->end; fr++) {
        pthread_mutex_lock(&f->mu);
        while (!f->stop && fr >= f->frontier + f->reach)
            pthread_cond_wait(&f->cv, &f->mu);
        const int stop = f->stop || __atomic_load_n(&f->failed, __ATOMIC_ACQUIRE);
        pthread_mutex_unlock(&f->mu);
        if (stop)
            break;
        size_t file = 0, size = 0;
        uint64_t off = 0;
        int place = azs_source_raw_extent(f->src, fr, &file, &off, &size) == AZS_OK;
        const uint64_t start = off / f->W * f->W;
        place = place && off + size <= start + f->W;
        pthread_mutex_lock(&f->mu);
        int k = place ? find_window(f, file, start) : -1;
        if (k >= 0 && f->win[k].last_frame < fr)
            f->win[k].last_frame = fr;
        int nout = 0;
        if (place && k < 0)
            nout = evict_for(f, f->W, out);
        pthread_mutex_unlock(&f->mu);
        for (int j = 0; j < nout; j++) {
            azs_gpu_host_unregister(f->device, out[j].map.base);
            azs_source_unmap_raw(&out[j].map);
        }
        if (place && k < 0) {
            const double t0 = azs_now_seconds();
            azs_raw_map m = {0};
            azs_status st = azs_source_map_window(f->src, file, start, (size_t)f->W, &m);
            if (st == AZS_OK && (st = azs_gpu_host_register(f->device, m.base, m.len)) != AZS_OK)
                azs_source_unmap_raw(&m);
            if (st != AZS_OK) {
                refuse(f, azs_last_error());
                break;
            }
            pthread_mutex_lock(&f->mu);
            for (k = 0; k < MAX_WINDOWS && f->win[k].live; k++)
                ;
            if (k == MAX_WINDOWS) { /* cannot happen below the cap's window count */
                pthread_mutex_unlock(&f->mu);
                azs_gpu_host_unregister(f->device, m.base);
                azs_source_unmap_raw(&m);
                refuse(f, "too many windows");
                break;
            }
            f->win[k] = (gwin){1, file, start, m, fr, 0};
            f->windows++;
            f->reg_bytes += m.len;
            f->reg_s += azs_now_seconds() - t0;
            pthread_mutex_unlock(&f->mu);
        }
        pthread_mutex_lock(&f->mu);
        f->reg_next = fr + 1;
        pthread_cond_broadcast(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
    pthread_mutex_lock(&f->mu);
    f->reg_next = f->end; /* nothing more will come: readers waiting read by pread */
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    free(out);
    return NULL;
}

azs_status gfeed_create(gfeed **out, azs_source *src, azs_gpu_engine *e, const azs_run_options *o,
                        uint64_t first, uint64_t end, uint32_t B, uint32_t S, size_t stride)
{
    gfeed *f = calloc(1, sizeof *f);
    if (!f)
        return azs_fail(AZS_ERR_NOMEM, "layout gpu: feed");
    f->src = src;
    f->e = e;
    f->device = o->device;
    /* AUTO: pread, the fastest on the H200 host (doc/gpu-notes.md "Feeding", session 9) */
    f->mode = o->gpu_feed == AZS_GPU_FEED_AUTO ? AZS_GPU_FEED_PREAD : o->gpu_feed;
    f->first = first;
    f->end = end;
    f->B = B;
    f->S = S;
    f->stride = stride;
    f->reg_next = f->frontier = first;
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
    f->srcs = calloc((size_t)S * B, sizeof *f->srcs);
    f->wins = malloc((size_t)S * B * sizeof *f->wins);
    if (!f->srcs || !f->wins) {
        gfeed_destroy(f, o->device, NULL);
        return azs_fail(AZS_ERR_NOMEM, "layout gpu: feed bookkeeping");
    }
    for (size_t k = 0; k < (size_t)S * B; k++)
        f->wins[k] = -1;
    if (f->mode == AZS_GPU_FEED_REGISTER) {
        f->W = (uint64_t)(o->gpu_window_mib ? o->gpu_window_mib : 512) << 20;
        f->cap = (uint64_t)(o->gpu_register_cap_mib ? o->gpu_register_cap_mib : 4096) << 20;
        if (f->cap > (uint64_t)(MAX_WINDOWS / 2) * f->W)
            f->cap = (uint64_t)(MAX_WINDOWS / 2) * f->W;
        const azs_source_info *info = azs_source_get_info(src);
        const uint64_t mean = info->nframes && info->stored_bytes / info->nframes
                                  ? info->stored_bytes / info->nframes
                                  : 1;
        /* the registrar stays about one window ahead of what the readers may claim */
        f->reach = (uint64_t)S * B + f->W / mean + 1;
        if (pthread_create(&f->th, NULL, registrar_main, f) != 0)
            refuse(f, "cannot start the registrar thread");
        else
            f->started = 1;
    }
    *out = f;
    return AZS_OK;
}

static azs_status by_pread(gfeed *f, uint32_t s, uint32_t i, uint64_t frame, const uint8_t **chunk,
                           size_t *size)
{
    uint8_t *buf = azs_gpu_host_chunk(f->e, s, i);
    *chunk = buf;
    return azs_source_read_raw(f->src, frame, buf, f->stride, size);
}

azs_status gfeed_read(gfeed *f, uint32_t s, uint32_t i, uint64_t frame, const uint8_t **chunk,
                      size_t *size, int *mapped, const void **lo, size_t *len)
{
    const size_t slot_ix = (size_t)s * f->B + i;
    f->srcs[slot_ix] = NULL;
    f->wins[slot_ix] = -1;
    *mapped = 0;
    size_t file = 0, n = 0;
    uint64_t off = 0;
    if (f->mode == AZS_GPU_FEED_PREAD) {
        __atomic_fetch_add(&f->fed, 1, __ATOMIC_RELAXED);
        return by_pread(f, s, i, frame, chunk, size);
    }
    if (__atomic_load_n(&f->failed, __ATOMIC_ACQUIRE) ||
        azs_source_raw_extent(f->src, frame, &file, &off, &n) != AZS_OK)
        return by_pread(f, s, i, frame, chunk, size);
    if (f->mode == AZS_GPU_FEED_DIRECT) {
        uint8_t *buf = azs_gpu_host_chunk(f->e, s, i);
        size_t at = 0;
        azs_status st = azs_source_read_raw_direct(f->src, frame, buf, f->stride, DIRECT_ALIGN,
                                                   &at, size);
        if (st == AZS_ERR_UNSUPPORTED) {
            refuse(f, azs_last_error());
            return by_pread(f, s, i, frame, chunk, size);
        }
        if (st == AZS_OK) {
            *chunk = buf + at;
            f->srcs[slot_ix] = buf + at;
            __atomic_fetch_add(&f->fed, 1, __ATOMIC_RELAXED);
        }
        return st;
    }
    /* REGISTER */
    const uint64_t start = off / f->W * f->W;
    if (off + n > start + f->W)
        return by_pread(f, s, i, frame, chunk, size); /* across two windows */
    pthread_mutex_lock(&f->mu);
    int k = find_window(f, file, start);
    if (k < 0) {
        const double t0 = azs_now_seconds();
        while (f->reg_next <= frame && !__atomic_load_n(&f->failed, __ATOMIC_ACQUIRE))
            pthread_cond_wait(&f->cv, &f->mu);
        f->win_wait += azs_now_seconds() - t0;
        k = find_window(f, file, start);
    }
    if (k < 0) {
        pthread_mutex_unlock(&f->mu);
        return by_pread(f, s, i, frame, chunk, size);
    }
    gwin *w = &f->win[k];
    w->users++;
    f->wins[slot_ix] = k;
    *chunk = (const uint8_t *)w->map.base + (off - start);
    *lo = w->map.base;
    *len = w->map.len;
    pthread_mutex_unlock(&f->mu);
    *size = n;
    *mapped = 1;
    f->srcs[slot_ix] = *chunk;
    __atomic_fetch_add(&f->fed, 1, __ATOMIC_RELAXED);
    return AZS_OK;
}

const void *const *gfeed_sources(gfeed *f, uint32_t s) { return f->srcs + (size_t)s * f->B; }

void gfeed_delivered(gfeed *f, uint32_t s, uint32_t nframes, uint64_t done)
{
    pthread_mutex_lock(&f->mu);
    for (uint32_t i = 0; i < nframes; i++) {
        int32_t *k = &f->wins[(size_t)s * f->B + i];
        if (*k >= 0 && f->win[*k].users > 0)
            f->win[*k].users--;
        *k = -1;
    }
    if (done > f->frontier)
        f->frontier = done;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

const char *gfeed_notice(gfeed *f)
{
    if (f->noticed || !__atomic_load_n(&f->failed, __ATOMIC_ACQUIRE))
        return NULL;
    f->noticed = 1;
    return f->msg;
}

void gfeed_stop(gfeed *f)
{
    if (!f || !f->started)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->th, NULL);
    f->started = 0;
}

void gfeed_destroy(gfeed *f, int device, azs_gpu_trace *tr)
{
    if (!f)
        return;
    gfeed_stop(f);
    for (int k = 0; k < MAX_WINDOWS; k++)
        if (f->win[k].live) {
            azs_gpu_host_unregister(device, f->win[k].map.base);
            azs_source_unmap_raw(&f->win[k].map);
            f->win[k].live = 0;
        }
    if (tr) {
        tr->feed = f->mode;
        tr->feed_fallback = f->failed;
        tr->fed_frames = f->fed;
        tr->windows = f->windows;
        tr->registered_bytes = f->reg_bytes;
        tr->register_seconds = f->reg_s;
        tr->window_wait = f->win_wait;
    }
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    free(f->srcs);
    free(f->wins);
    free(f);
}
