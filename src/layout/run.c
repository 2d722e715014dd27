/* azs_run: the checks every layout shares, the frame range clipped to the source, then the
 * layout's driver (layouts.h). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "azstream/layout.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "common/error.h"
#include "layouts.h"

static const azs_layout_driver *const drivers[] = {
    [AZS_LAYOUT_SERIAL] = &azs_driver_serial,
    [AZS_LAYOUT_THREADS] = &azs_driver_threads,
    [AZS_LAYOUT_PROCS] = &azs_driver_procs,
    [AZS_LAYOUT_GPU] = &azs_driver_gpu,
    [AZS_LAYOUT_MPI] = &azs_driver_mpi,
};

void azs_run_options_default(azs_run_options *o)
{
    memset(o, 0, sizeof *o);
    o->layout = AZS_LAYOUT_SERIAL;
    o->workers = 0;
    o->first_frame = 0;
    o->end_frame = UINT64_MAX;
    o->worker_timeout = AZS_WORKER_TIMEOUT_DEFAULT;
}

void azs_cancel_request(volatile int *flag)
{
    if (flag)
        __atomic_store_n(flag, 1, __ATOMIC_RELAXED); /* lock-free: async-signal-safe */
}

/* The options every layout may read (procs and mpi hand them to the layout inside). */
static azs_status check_options(const azs_run_options *o)
{
    if (o->workers < 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: workers = %d (0 = all cores)", o->workers);
    if (o->threads_per_worker < 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: threads_per_worker = %d (0 = auto)",
                        o->threads_per_worker);
    if (o->feed < AZS_FEED_AUTO || o->feed > AZS_FEED_MAP)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: unknown feed %d", (int)o->feed);
    if (o->cpu_batch < 0 || o->cpu_batch > AZS_BATCH_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: cpu_batch = %d (0 = auto, 1..%d)",
                        o->cpu_batch, AZS_BATCH_MAX);
    if (o->gpu_batch > AZS_GPU_BATCH_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: gpu_batch = %u (0 = %d, 1..%d)",
                        o->gpu_batch, AZS_GPU_BATCH_DEFAULT, AZS_GPU_BATCH_MAX);
    if (o->gpu_slots == 1 || o->gpu_slots > AZS_GPU_SLOTS_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: gpu_slots = %u (0 = %d, 2..%d)",
                        o->gpu_slots, AZS_GPU_SLOTS_DEFAULT, AZS_GPU_SLOTS_MAX);
    if (o->gpu_feed < AZS_GPU_FEED_AUTO || o->gpu_feed > AZS_GPU_FEED_DIRECT)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: unknown gpu_feed %d", (int)o->gpu_feed);
    if (o->gpu_window_mib == 1 || o->gpu_window_mib > 65536)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: gpu_window_mib = %u (0 = 512, 2..65536)",
                        o->gpu_window_mib);
    const uint32_t slots = o->gpu_slots ? o->gpu_slots : AZS_GPU_SLOTS_DEFAULT;
    if (o->gpu_lag >= slots)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: gpu_lag = %u (0 = auto, 1..%u with %u slots)",
                        o->gpu_lag, slots - 1, slots);
    return AZS_OK;
}

void azs_run_prepare(azs_source *src, const azs_run_options *o)
{
    if (!src)
        azs_gpu_run_prepare(NULL, NULL);
    else if (o && o->layout == AZS_LAYOUT_GPU && check_options(o) == AZS_OK)
        azs_gpu_run_prepare(src, o);
}

azs_status azs_run(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                   const azs_sink_ops *sink, azs_run_summary *summary)
{
    azs_run_summary local;
    azs_run_summary *sum = summary ? summary : &local;
    memset(sum, 0, sizeof *sum);
    if (!src || !it || !o || !sink || !sink->write)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: source, integrator, options and sink are required");
    if ((unsigned)o->layout >= sizeof drivers / sizeof drivers[0])
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: unknown layout %d", (int)o->layout);
    const azs_layout_driver *d = drivers[o->layout];
    azs_status st = check_options(o);
    if (st != AZS_OK)
        return st;
    const azs_source_info *info = azs_source_get_info(src);
    if (!info)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: source has no info");
    if (o->first_frame > info->nframes || (o->first_frame == info->nframes && info->nframes > 0))
        return azs_fail(AZS_ERR_INVALID_ARG, "frame range starts at %" PRIu64 " but the stack has %" PRIu64 " frames",
                        o->first_frame, info->nframes);
    if (o->end_frame <= o->first_frame)
        return azs_fail(AZS_ERR_INVALID_ARG, "empty frame range [%" PRIu64 ", %" PRIu64 ")",
                        o->first_frame, o->end_frame);
    if (d->validate && (st = d->validate(info, o)) != AZS_OK)
        return st;
    {
        /* Every CPU layout holds, per worker, at least one decoded frame and one chunk: check
         * that against memory before a layout allocates them (a hostile or mistaken shape is a
         * message, not an out-of-memory kill). Layouts procs / mpi / gpu start threads inside
         * and are checked there. */
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned long long nbuf = o->layout == AZS_LAYOUT_THREADS
                                      ? (unsigned long long)(o->workers > 0 ? o->workers : (cores > 0 ? cores : 1))
                                      : 1;
        const unsigned long long per = (unsigned long long)info->frame_bytes + info->max_chunk_bytes;
        char what[200];
        snprintf(what, sizeof what, "a frame of %u x %u %s (%llu bytes) and its chunk, x %llu buffer%s",
                 info->ny, info->nx, azs_dtype_name(info->dtype), (unsigned long long)info->frame_bytes,
                 nbuf, nbuf > 1 ? "s (one per worker)" : "");
        if ((st = azs_mem_check(per * nbuf, what)) != AZS_OK)
            return st;
    }
    azs_run_options c = *o;
    if (c.end_frame > info->nframes)
        c.end_frame = info->nframes;
    if (c.first_frame >= c.end_frame) /* empty stack */
        return AZS_OK;
    const double t0 = azs_now_seconds();
    st = d->run(src, it, &c, sink, sum);
    sum->seconds = azs_now_seconds() - t0;
    return st;
}
