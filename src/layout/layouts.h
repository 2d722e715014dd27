/* Internal: one entry point per layout; azs_run (run.c) validates and dispatches. Each
 * takes a frame range already clipped to the source. */
#ifndef AZS_LAYOUT_LAYOUTS_H
#define AZS_LAYOUT_LAYOUTS_H

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
/* layout_gpu.c: AZS_ERR_NO_DEVICE when CUDA was not built or no device is present. */
azs_status azs_run_gpu(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                       const azs_sink_ops *sink, azs_run_summary *sum);

#endif
