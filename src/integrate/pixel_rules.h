/* The per-pixel rules of integration (contract: integrate.h, above azs_csr_view), written
 * once and compiled into the CPU engines (tiled.c, integrator.c) and the CUDA kernels
 * (src/gpu), so that every engine gives the same bits.
 *
 * Float semantics: these functions must be compiled without contraction of a multiply and
 * an add into an FMA where that changes a rounding (C11 mode of GCC: -ffp-contract=off;
 * nvcc: -fmad=false, set in src/gpu/CMakeLists.txt). Where a product is exact (float ×
 * float in double, × a power of two) an FMA gives the same bits and the CPU's vector
 * kernels use one. */
#ifndef AZS_INTEGRATE_PIXEL_RULES_H
#define AZS_INTEGRATE_PIXEL_RULES_H

#include <float.h>
#include <math.h>
#include <stdint.h>

#include "azstream/integrate.h"

#if defined(__CUDACC__)
#define AZS_RULE __host__ __device__ static __forceinline__
#elif defined(__GNUC__)
#define AZS_RULE static inline __attribute__((always_inline))
#else
#define AZS_RULE static inline
#endif

/* ---- raw value → float32 ------------------------------------------------------------
 * Every input type is converted to float32 first, rounded to nearest: the C cast. For
 * uint32 the engines use this form, two exact int32 conversions and one rounded add, which
 * is the same value and is what SSE2/AVX2 have (no unsigned convert). */
AZS_RULE float azs_u32_to_float(uint32_t x)
{
    return (float)(int32_t)(x >> 16) * 65536.0f + (float)(int32_t)(x & 0xFFFFu);
}

#ifdef __CUDACC__
template <typename T> AZS_RULE float azs_pixel_float(T x) { return (float)x; }
AZS_RULE float azs_pixel_float(uint32_t x) { return azs_u32_to_float(x); }
#define AZS_PIXEL_FLOAT(x) azs_pixel_float(x)
#else
#define AZS_PIXEL_FLOAT(x)                                                                     \
    _Generic((x), uint32_t: azs_u32_to_float((uint32_t)(x)), default: (float)(x))
#endif

/* ---- which pixels are skipped -------------------------------------------------------
 * The dummy comparison is fixed per integrator; the hot loops take it as a constant so
 * that each variant vectorises. */
enum { AZS_DUMMY_NONE = 0, AZS_DUMMY_EXACT = 1, AZS_DUMMY_DELTA = 2 };

AZS_RULE int azs_dummy_mode(const azs_pixel_rule *r)
{
    return !r->has_dummy ? AZS_DUMMY_NONE
           : r->delta_dummy == 0.0f ? AZS_DUMMY_EXACT : AZS_DUMMY_DELTA;
}

/* 1 if the value v takes part in the sums; 0 if the pixel is skipped: v not finite, or a
 * dummy (exact: v == dummy; delta: |v − dummy| ≤ delta, in float32). */
AZS_RULE int azs_pixel_kept(float v, int mode, float dummy, float delta)
{
    int ok = fabsf(v) <= FLT_MAX; /* false for NaN and ±inf */
    if (mode == AZS_DUMMY_EXACT) ok &= v != dummy;
    if (mode == AZS_DUMMY_DELTA) ok &= !(fabsf(v - dummy) <= delta);
    return ok;
}

/* ---- what a kept pixel contributes --------------------------------------------------- */
/* Signal: the value less the dark current (float32). Without a dark the signal is v. */
AZS_RULE float azs_pixel_signal(float v, float dark) { return v - dark; }

/* Poisson variance: the raw counts before dark subtraction, at least 1; pyFAI's 2D paths
 * with split no or bbox add the dark (add_dark = azs_pixel_rule.variance_dark). */
AZS_RULE float azs_pixel_variance(float v, float dark, int add_dark)
{
    const float m = v > 1.0f ? v : 1.0f;
    return add_dark ? m + dark : m;
}

/* ---- per-bin sums --------------------------------------------------------------------
 * Error models none and poisson, per entry (pixel p, weight w), in double:
 *   Σsig += w·signal   Σvar += (w·w)·variance   Σnorm += w·norm   Σnorm² += (w·norm)²
 *   Σcount += w
 * where a skipped pixel contributes signal = variance = norm = 0 and count 0 (the same as
 * leaving it out: the sums start at +0.0 and w ≥ 0). Order: the entries of a row (bin) are
 * cut into segments, runs of consecutive entries whose pixels lie in the same tile
 * (p / AZS_RULE_TILE_PX); each segment is summed on its own from +0.0 in entry order, and
 * the segment sums are added to the bin's sums (from +0.0) in row order. That is the order
 * of the CPU's tiled engine (tiled.h), for matrices whose rows are sorted by pixel, which
 * the integrator's are. */
#define AZS_RULE_TILE_PX 8192u

typedef struct azs_bin_sums { double sig, var, nrm, nrm2, cnt; } azs_bin_sums;

/* Add one entry of weight w to a segment's sums; sig_, nrm_ ... are the preprocessed
 * pixel's values (0 when skipped), valid 1 or 0. */
AZS_RULE void azs_entry_add(azs_bin_sums *s, double w, float signal, float variance, float norm,
                            float valid)
{
    const double wn = w * (double)norm;
    s->sig += w * (double)signal;
    s->nrm += wn;
    s->nrm2 += wn * wn;
    s->var += (w * w) * (double)variance;
    s->cnt += w * (double)valid;
}

/* Error model "azimuthal": the variance is the spread of the pixels of a bin around the
 * bin's mean, accumulated over the whole row in entry order (no segments) with the
 * weighted one-pass update pyFAI uses (pixel value b = signal/norm, weight ω = w·norm):
 *   first pixel:  Σsig = w·signal, Σnorm = ω, Σnorm² = ω²
 *   next pixels:  Δ1 = Σsig/Σnorm − b;  Σsig += w·signal;  Σnorm += ω;  Σnorm² += ω²;
 *                 Δ2 = Σsig/Σnorm − b;  Σvar += ω²·Δ1·Δ2
 * (pixels with norm 0 add nothing but their count). Skipped pixels are left out; w, signal
 * and norm are the float values widened to double. */
AZS_RULE void azs_azim_update(azs_bin_sums *s, double w, double signal, double norm)
{
    const double om = w * norm, om2 = om * om;
    s->cnt += w;
    if (s->nrm2 > 0.0) {
        if (norm != 0.0) {
            const double b = signal / norm;
            const double d1 = s->sig / s->nrm - b;
            s->sig += w * signal;
            s->nrm += om;
            s->nrm2 += om2;
            const double d2 = s->sig / s->nrm - b;
            s->var += om2 * d1 * d2;
        }
    } else {
        s->sig = w * signal;
        s->nrm = om;
        s->nrm2 = om2;
    }
}

/* ---- outputs --------------------------------------------------------------------------
 * A bin with Σnorm == 0 gives 0 (pyFAI's default "empty" value). */
AZS_RULE double azs_bin_intensity(const azs_bin_sums *s)
{
    return s->nrm == 0.0 ? 0.0 : s->sig / s->nrm;
}
AZS_RULE double azs_bin_sem(const azs_bin_sums *s)
{
    return s->nrm == 0.0 ? 0.0 : sqrt(s->var) / s->nrm;
}
AZS_RULE double azs_bin_std(const azs_bin_sums *s)
{
    return s->nrm == 0.0 ? 0.0 : sqrt(s->var / s->nrm2);
}

#endif
