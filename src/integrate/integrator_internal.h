/* Internal: build an integrator from per-pixel arrays (positions in pyFAI's internal
 * units, see builder.h) instead of a geometry. azs_integrator_create computes these arrays
 * with the geometry module and calls this; the golden tests call it with arrays computed
 * by pyFAI itself. solid_angle / polarization: [ny*nx] or NULL (= 1). mask: final mask
 * (the given mask, else the detector gaps), [ny*nx] or NULL; o->mask and
 * o->mask_detector_gaps are ignored here; o->flat and o->dark drop their invalid pixels. */
#ifndef AZS_INTEGRATE_INTERNAL_H
#define AZS_INTEGRATE_INTERNAL_H

#include "builder.h"
#include "pixel_rules.h"

/* How the five sums of one bin become the outputs (every CPU engine ends here); a bin with
 * Σnorm == 0 gives `empty` for intensity, sigma and std, as pyFAI (measured, 1D and 2D,
 * every method and error model). */
static inline void azs_store_bin(const azs_frame_result *o, uint32_t b, const azs_bin_sums *s, float empty)
{
    const int e = s->nrm == 0.0;
    if (o->intensity) o->intensity[b] = e ? (double)empty : azs_bin_intensity(s);
    if (o->sigma) o->sigma[b] = e ? (double)empty : azs_bin_sem(s);
    if (o->std) o->std[b] = e ? (double)empty : azs_bin_std(s);
    if (o->sum_signal) o->sum_signal[b] = s->sig;
    if (o->sum_variance) o->sum_variance[b] = s->var;
    if (o->sum_normalization) o->sum_normalization[b] = s->nrm;
    if (o->sum_normalization2) o->sum_normalization2[b] = s->nrm2;
    if (o->count) o->count[b] = s->cnt;
}

azs_status azs_integrator_create_from_positions(const azs_positions *pos,
                                                const double *solid_angle,
                                                const double *polarization,
                                                const uint8_t *mask,
                                                const azs_integrate_options *o,
                                                azs_integrator **out);

/* The tiled engine's context and matrix (tiled.h), for tests and diagnostics (a test may
 * force the matrix's choice of signal kernel). */
struct azs_tiled_ctx;
struct azs_tiled;
const struct azs_tiled_ctx *azs_integrator_tiled_ctx(const azs_integrator *it);
struct azs_tiled *azs_integrator_tiled(azs_integrator *it);

#endif
