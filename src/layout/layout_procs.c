/* PLACEHOLDER for layout 2 (processes): another helper replaces this file. */
#include "common/error.h"
#include "layouts.h"

azs_status azs_run_procs(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                         const azs_sink_ops *sink, azs_run_summary *sum)
{
    (void)src, (void)it, (void)o, (void)sink, (void)sum;
    return azs_fail(AZS_ERR_UNSUPPORTED, "layout 'procs' is not built yet");
}
