/* Internal: the layouts as drivers behind one interface (as ggml's backends). azs_run
 * (run.c) does what every layout shares: argument and option checks, clipping the frame
 * range to the source, the summary's wall time; then the driver's own checks, then its
 * run. A driver sees first_frame < end_frame <= nframes and a zeroed summary, and takes
 * every per-frame decision from the frame feed (frame_feed.h). */
#ifndef AZS_LAYOUT_LAYOUTS_H
#define AZS_LAYOUT_LAYOUTS_H

#include "azstream/gpu.h"
#include "azstream/layout.h"

typedef struct azs_layout_driver {
    const char *name;
    /* The options only this layout reads; NULL: nothing to check. */
    azs_status (*validate)(const azs_source_info *info, const azs_run_options *o);
    azs_status (*run)(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                      const azs_sink_ops *sink, azs_run_summary *sum);
} azs_layout_driver;

extern const azs_layout_driver azs_driver_serial;  /* layout_serial.c */
extern const azs_layout_driver azs_driver_threads; /* layout_threads.c */
extern const azs_layout_driver azs_driver_procs;   /* layout_procs.c */
extern const azs_layout_driver azs_driver_gpu;     /* layout_gpu.c: AZS_ERR_NO_DEVICE when CUDA
                                                    * was not built or no device is present */
extern const azs_layout_driver azs_driver_mpi;     /* mpi_layout.c, or layout_mpi_stub.c
                                                    * without MPI: AZS_ERR_UNSUPPORTED */

/* The GPU engine's configuration for frames of `info` integrated by `it` (layout_gpu.c; also
 * the benchmark's kernels-only measurement). */
void azs_gpu_config_for(azs_gpu_config *c, const azs_source_info *info,
                        const azs_integrator *it, int device, uint32_t batch, uint32_t nslots,
                        size_t chunk_stride);

/* azs_run_prepare's part for layout gpu (layout_gpu.c). */
void azs_gpu_run_prepare(azs_source *src, const azs_run_options *o);

/* Defaults of the tuning knobs (azs_run_options: 0 = these). */
#define AZS_GPU_BATCH_DEFAULT 32
#define AZS_GPU_BATCH_MAX 1024
#define AZS_GPU_SLOTS_DEFAULT 4
#define AZS_GPU_SLOTS_MAX 8
#define AZS_GPU_LAG_DEFAULT 2

#endif
