/* Where a run delivers its rows: one callback, called in frame order. Its own header so
 * that both the layouts (azstream/layout.h) and the sinks (azstream/sink.h) can name it
 * without one including the other. */
#ifndef AZSTREAM_FRAME_SINK_H
#define AZSTREAM_FRAME_SINK_H

#include <stdint.h>

#include "azstream/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called once per frame, in increasing frame order, from one thread at a time.
 * intensity/sigma have azs_integrator_nbins() values; sigma is NULL without an error
 * model. A bad frame skipped with skip_bad, and a frame without data (never written, or in
 * a missing data file), arrive with frame_status != AZS_OK and intensity/sigma filled with
 * NaN (the statuses: azstream/layout.h, "Bad frames").
 * A non-OK return stops the run. */
typedef struct azs_sink_ops {
    void *ctx;
    azs_status (*write)(void *ctx, uint64_t frame, const double *intensity, const double *sigma,
                        azs_status frame_status);
} azs_sink_ops;

#ifdef __cplusplus
}
#endif
#endif
