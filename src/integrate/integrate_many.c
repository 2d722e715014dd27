/* azs_integrate_frames: many in-memory frames (decoded, or compressed chunks) integrated on
 * a few threads, for callers that hold frames in memory rather than in a file (a binding, a
 * stream receiver). The integrator is read-only once built (integrate.h), so the threads
 * share it; each owns a workspace and, for chunks, a frame buffer. Frames are handed out
 * one at a time through an atomic counter: frames cost the same, so this balances well and
 * needs no queue. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/integrate.h"
#include "common/alloc.h"
#include "common/cpu.h"
#include "common/error.h"

/* Most threads one call starts: more than the cores of any machine we run on, and a bound
 * on what a wrong argument can ask for. */
#define AZS_FRAMES_MAX_THREADS 256

typedef struct frames_job {
    const azs_integrator *it;
    azs_codec codec;
    azs_dtype dtype;
    size_t n;
    const void *const *frames;
    const size_t *sizes;
    const azs_frame_result *out;
    azs_status *status;
    size_t frame_bytes;
    atomic_size_t next;
    /* The failure of the lowest-numbered frame: its message, carried from the worker's
     * thread-local detail to the caller's. */
    pthread_mutex_t lock;
    size_t first_bad;
    azs_status first_status;
    char first_msg[512];
} frames_job;

static void note_failure(frames_job *j, size_t i, azs_status st, const char *msg)
{
    pthread_mutex_lock(&j->lock);
    if (i < j->first_bad) {
        j->first_bad = i;
        j->first_status = st;
        snprintf(j->first_msg, sizeof j->first_msg, "%s", msg);
    }
    pthread_mutex_unlock(&j->lock);
}

static void *frames_worker(void *arg)
{
    frames_job *j = arg;
    azs_workspace *ws = NULL;
    void *frame_buf = NULL;
    azs_status setup = azs_workspace_create(j->it, &ws);
    if (setup == AZS_OK && j->codec != AZS_CODEC_NONE) {
        frame_buf = azs_aligned_alloc(j->frame_bytes);
        if (!frame_buf) setup = azs_fail(AZS_ERR_NOMEM, "frame buffer of %zu bytes", j->frame_bytes);
    }
    for (;;) {
        const size_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n) break;
        azs_status st = setup;
        if (st == AZS_OK) {
            if (!j->frames[i])
                st = azs_fail(AZS_ERR_INVALID_ARG, "NULL frame pointer");
            else if (j->codec == AZS_CODEC_NONE)
                st = azs_integrate_frame(j->it, ws, j->frames[i], j->dtype, &j->out[i]);
            else
                st = azs_integrate_chunk(j->it, ws, j->codec, j->dtype, j->frames[i], j->sizes[i],
                                         frame_buf, &j->out[i]);
        }
        if (j->status) j->status[i] = st;
        if (st != AZS_OK) note_failure(j, i, st, azs_last_error());
    }
    azs_aligned_free(frame_buf);
    azs_workspace_destroy(ws);
    return NULL;
}

azs_status azs_integrate_frames(const azs_integrator *it, int nthreads, azs_codec codec,
                                azs_dtype dtype, size_t n, const void *const *frames,
                                const size_t *sizes, const azs_frame_result *out,
                                azs_status *status)
{
    if (!it || (n > 0 && (!frames || !out)))
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate frames: NULL argument");
    if (codec != AZS_CODEC_NONE && codec != AZS_CODEC_LZ4 && codec != AZS_CODEC_BSLZ4)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate frames: unknown codec %d", (int)codec);
    if (codec != AZS_CODEC_NONE && n > 0 && !sizes)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate frames: chunks without their sizes");
    if (nthreads < 0 || nthreads > AZS_FRAMES_MAX_THREADS)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate frames: %d threads (0 to %d)", nthreads,
                        AZS_FRAMES_MAX_THREADS);
    if (azs_dtype_size(dtype) == 0)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate frames: pixel type %s", azs_dtype_name(dtype));
    if (n == 0) return AZS_OK;
    azs_csr_view v;
    azs_status st = azs_integrator_csr(it, &v);
    if (st != AZS_OK) return st;

    frames_job j = {.it = it, .codec = codec, .dtype = dtype, .n = n, .frames = frames,
                    .sizes = sizes, .out = out, .status = status, .first_bad = SIZE_MAX,
                    .first_status = AZS_OK};
    if (azs_mul_size((size_t)v.npixels, azs_dtype_size(dtype), &j.frame_bytes) != 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate frames: frame size overflows");
    atomic_init(&j.next, 0);
    pthread_mutex_init(&j.lock, NULL);

    int nt = nthreads > 0 ? nthreads : azs_cpu_count();
    if ((size_t)nt > n) nt = (int)n;
    /* The calling thread is one of the workers; threads that cannot be started leave their
     * share to the others (the counter hands out every frame whatever the count). */
    pthread_t tid[AZS_FRAMES_MAX_THREADS];
    int started = 0;
    for (int t = 1; t < nt; t++) {
        if (pthread_create(&tid[started], NULL, frames_worker, &j) != 0) break;
        started++;
    }
    frames_worker(&j);
    for (int t = 0; t < started; t++) pthread_join(tid[t], NULL);
    pthread_mutex_destroy(&j.lock);

    if (j.first_status != AZS_OK)
        return azs_fail(j.first_status, "frame %zu of %zu: %s", j.first_bad, n, j.first_msg);
    azs_clear_error();
    return AZS_OK;
}
