/* PLACEHOLDER for layout 3 (GPU): delete on merge when src/layout/layout_gpu.c lands
 * (it provides azs_run_gpu for CUDA and non-CUDA builds). */
#include "common/error.h"
#include "layouts.h"

azs_status azs_run_gpu(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                       const azs_sink_ops *sink, azs_run_summary *sum)
{
    (void)src, (void)it, (void)o, (void)sink, (void)sum;
    return azs_fail(AZS_ERR_NO_DEVICE, "layout 'gpu' is not built yet");
}
