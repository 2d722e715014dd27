#include "layout_util.h"

#include <inttypes.h>

#include "common/error.h"

azs_status azs_layout_frame_error(const azs_source *src, uint64_t frame, azs_status s)
{
    const azs_source_info *info = azs_source_get_info(src);
    const char *file = NULL;
    for (size_t i = 0; info && i < info->nparts; i++) {
        azs_source_part p;
        if (azs_source_get_part(src, i, &p) == AZS_OK && frame >= p.first_frame &&
            frame < p.first_frame + p.nframes) {
            file = p.file;
            break;
        }
    }
    if (file)
        return azs_fail_context(s, "frame %" PRIu64 " of %s: ", frame, file);
    return azs_fail_context(s, "frame %" PRIu64 ": ", frame);
}

int azs_layout_has_sigma(const azs_integrator *it)
{
    const azs_integrate_options *o = azs_integrator_options(it);
    return o && o->error_model != AZS_ERRMODEL_NONE;
}
