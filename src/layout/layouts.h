/* Internal: one entry point per layout; azs_run (run.c) validates and dispatches. Each
 * takes a frame range already clipped to the source. */
#ifndef AZS_LAYOUT_LAYOUTS_H
#define AZS_LAYOUT_LAYOUTS_H

#include "azstream/gpu.h"
#include "azstream/layout.h"

azs_status azs_run_serial(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                          const azs_sink_ops *sink, azs_run_summary *sum);
azs_status azs_run_threads(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                           const azs_sink_ops *sink, azs_run_summary *sum);
azs_status azs_run_procs(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                         const azs_sink_ops *sink, azs_run_summary *sum);
/* mpi_layout.c (or layout_mpi_stub.c without MPI: AZS_ERR_UNSUPPORTED). */
azs_status azs_run_mpi(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                       const azs_sink_ops *sink, azs_run_summary *sum);
/* The GPU engine's configuration for frames of `info` integrated by `it` (layout_gpu.c; also
 * the benchmark's kernels-only measurement). */
void azs_gpu_config_for(azs_gpu_config *c, const azs_source_info *info,
                        const azs_integrator *it, int device, uint32_t batch, uint32_t nslots,
                        size_t chunk_stride);
/* layout_gpu.c: AZS_ERR_NO_DEVICE when CUDA was not built or no device is present. */
azs_status azs_run_gpu(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                       const azs_sink_ops *sink, azs_run_summary *sum);

#endif
