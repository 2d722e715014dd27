/* Execution layouts (DESIGN §2): the same integration of a stack, run serially, on a
 * thread pool, on worker processes, on a GPU or across MPI ranks. Every layout delivers
 * results to the sink in frame order; CPU layouts give bit-identical numbers. */
#ifndef AZSTREAM_LAYOUT_H
#define AZSTREAM_LAYOUT_H

#include <stdatomic.h>

#include "azstream/integrate.h"
#include "azstream/source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum azs_layout {
    AZS_LAYOUT_SERIAL = 0, /* layout 0: one loop, OpenMP inside decode and integrate */
    AZS_LAYOUT_THREADS,    /* layout 1: reader + worker pool + in-order writer */
    AZS_LAYOUT_PROCS,      /* layout 2: spawned worker processes */
    AZS_LAYOUT_GPU,        /* layout 3: compressed chunks in, profiles out */
    AZS_LAYOUT_MPI         /* ranks, each running threads or gpu inside */
} azs_layout;

/* Called once per frame, in increasing frame order, from one thread at a time.
 * intensity/sigma have azs_integrator_nbins() values; sigma is NULL without an error
 * model. A bad frame skipped with skip_bad arrives with frame_status != AZS_OK and
 * intensity/sigma filled with NaN. A non-OK return stops the run. */
typedef struct azs_sink_ops {
    void *ctx;
    azs_status (*write)(void *ctx, uint64_t frame, const double *intensity, const double *sigma,
                        azs_status frame_status);
} azs_sink_ops;

typedef struct azs_run_options {
    azs_layout layout;
    int workers;               /* threads (or processes); 0 = all online cores */
    uint64_t first_frame;      /* default 0 */
    uint64_t end_frame;        /* exclusive; UINT64_MAX (default) = to the last frame */
    int skip_bad;              /* 0 (default): a corrupt frame stops the run */
    int device;                /* GPU ordinal for AZS_LAYOUT_GPU */
    atomic_int *cancel;        /* set non-zero (e.g. from a signal handler) to stop; may be NULL */
    /* Optional progress, called from the writer thread now and then. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
} azs_run_options;

void azs_run_options_default(azs_run_options *o);

typedef struct azs_run_summary {
    uint64_t frames_done;      /* frames delivered to the sink (bad ones included) */
    uint64_t frames_bad;       /* of which corrupt and skipped */
    uint64_t first_bad_frame;  /* valid when frames_bad > 0 or the run failed on a frame */
    double seconds;            /* wall time of the run */
} azs_run_summary;

/* Integrate frames [first_frame, end_frame) of src with it, delivering to sink. On
 * failure the sink has received every frame before the failing one, in order. */
azs_status azs_run(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                   const azs_sink_ops *sink, azs_run_summary *summary);

#ifdef __cplusplus
}
#endif
#endif
