/* Internal: build an integrator from per-pixel arrays (positions in pyFAI's internal
 * units, see builder.h) instead of a geometry. azs_integrator_create computes these arrays
 * with the geometry module and calls this; the golden tests call it with arrays computed
 * by pyFAI itself. solid_angle / polarization: [ny*nx] or NULL (= 1). mask: final mask
 * (file mask OR detector gaps), [ny*nx] or NULL; o->mask and o->mask_detector_gaps are
 * ignored here. */
#ifndef AZS_INTEGRATE_INTERNAL_H
#define AZS_INTEGRATE_INTERNAL_H

#include "builder.h"

azs_status azs_integrator_create_from_positions(const azs_positions *pos,
                                                const double *solid_angle,
                                                const double *polarization,
                                                const uint8_t *mask,
                                                const azs_integrate_options *o,
                                                azs_integrator **out);

#endif
