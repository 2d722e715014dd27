/* azs_run: validates the arguments, clips the frame range to the source and hands over to
 * the layout. Every layout sees first_frame < end_frame <= nframes. */
#include <inttypes.h>
#include <string.h>

#include "azstream/layout.h"
#include "common/error.h"
#include "layouts.h"

void azs_run_options_default(azs_run_options *o)
{
    memset(o, 0, sizeof *o);
    o->layout = AZS_LAYOUT_SERIAL;
    o->workers = 0;
    o->first_frame = 0;
    o->end_frame = UINT64_MAX;
}

azs_status azs_run(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                   const azs_sink_ops *sink, azs_run_summary *summary)
{
    azs_run_summary local;
    azs_run_summary *sum = summary ? summary : &local;
    memset(sum, 0, sizeof *sum);
    if (!src || !it || !o || !sink || !sink->write)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: source, integrator, options and sink are required");
    if (o->workers < 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: workers = %d (0 = all cores)", o->workers);
    const azs_source_info *info = azs_source_get_info(src);
    if (!info)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: source has no info");
    if (o->first_frame > info->nframes || (o->first_frame == info->nframes && info->nframes > 0))
        return azs_fail(AZS_ERR_INVALID_ARG, "frame range starts at %" PRIu64 " but the stack has %" PRIu64 " frames",
                        o->first_frame, info->nframes);
    if (o->end_frame <= o->first_frame)
        return azs_fail(AZS_ERR_INVALID_ARG, "empty frame range [%" PRIu64 ", %" PRIu64 ")",
                        o->first_frame, o->end_frame);
    azs_run_options c = *o;
    if (c.end_frame > info->nframes)
        c.end_frame = info->nframes;
    if (c.first_frame >= c.end_frame) /* empty stack */
        return AZS_OK;
    switch (c.layout) {
    case AZS_LAYOUT_SERIAL: return azs_run_serial(src, it, &c, sink, sum);
    case AZS_LAYOUT_THREADS: return azs_run_threads(src, it, &c, sink, sum);
    case AZS_LAYOUT_PROCS: return azs_run_procs(src, it, &c, sink, sum);
    case AZS_LAYOUT_GPU: return azs_run_gpu(src, it, &c, sink, sum);
    case AZS_LAYOUT_MPI: return azs_run_mpi(src, it, &c, sink, sum);
    }
    return azs_fail(AZS_ERR_INVALID_ARG, "azs_run: unknown layout %d", (int)c.layout);
}
