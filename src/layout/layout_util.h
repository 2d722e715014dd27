/* Internal helpers shared by the layouts: naming the file that holds a failing frame, and
 * whether the integrator gives sigma. (The per-frame policy lives in frame_feed.h.) */
#ifndef AZS_LAYOUT_UTIL_H
#define AZS_LAYOUT_UTIL_H

#include <stdint.h>

#include "azstream/layout.h"

/* Add "frame F of FILE: " in front of the current error detail (keeps status s). */
azs_status azs_layout_frame_error(const azs_source *src, uint64_t frame, azs_status s);

/* Does the integrator produce a sigma (error model set)? */
int azs_layout_has_sigma(const azs_integrator *it);

#endif
