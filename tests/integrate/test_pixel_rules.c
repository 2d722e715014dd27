/* The one definition of the per-pixel rules (src/integrate/pixel_rules.h) against the CPU
 * engines, which compile it into vectorised loops and carry a hand-written AVX2 form for
 * uint32 (tiled_kernels.c, sig_u32_avx2):
 *  - azs_u32_to_float equals the C cast on every uint32 below 2^25, around every power of
 *    two above, and on random values;
 *  - azs_pixel_kept on NaN, ±inf, exact dummies, values within / just outside delta;
 *  - azs_integrate_frame and azs_integrate_frame_omp equal, bit for bit (memcmp, all eight
 *    outputs, and the intensity-only outputs that take the AVX2 signal kernels), a
 *    reference written here from the scalar rules in the documented order (segments per
 *    tile of azs_csr_view.tile_px, then per bin; the azimuthal update over the row): the
 *    order the GPU engine implements. Every input type; frames with NaN, ±inf, dummies,
 *    values within delta_dummy of the dummy, uint32 above 2^24 and near 2^32; dummy none /
 *    exact / delta; dark or not; error model none / poisson / azimuthal; 1D and 2D; split
 *    no / bbox / full;
 *  - the batch engine (azs_integrate_chunks of AZS_BATCH_MAX bitshuffle-LZ4 chunks: for
 *    uint32 on AVX-512 the frame-interleaved pass, tiled_x8.c) the same, intensity only. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/integrate.h"
#include "integrate/integrator_internal.h"
#include "integrate/pixel_rules.h"

#include "../common/check.h"
#include "analytic_positions.h"

#define NY 173
#define NX 241
#define NPIX (NY * NX)

static double rad[NPIX], chi[NPIX], radc[(NY + 1) * (NX + 1)], chic[(NY + 1) * (NX + 1)];
static float dark[NPIX], flat[NPIX];
static double values[NPIX];
static unsigned char frame[NPIX * 8];

static void test_u32_to_float(void)
{
    uint64_t bad = 0, n = 0;
    for (uint32_t x = 0; x < (1u << 25); x++, n++) bad += azs_u32_to_float(x) != (float)x;
    for (int k = 25; k <= 32; k++)
        for (int64_t d = -70000; d <= 70000; d++) {
            const int64_t x = ((int64_t)1 << k) + d;
            if (x < 0 || x > UINT32_MAX) continue;
            bad += azs_u32_to_float((uint32_t)x) != (float)(uint32_t)x;
            n++;
        }
    uint64_t r = 0x2545F4914F6CDD1Dull;
    for (int i = 0; i < 20000000; i++, n++) {
        r ^= r << 13;
        r ^= r >> 7;
        r ^= r << 17;
        bad += azs_u32_to_float((uint32_t)r) != (float)(uint32_t)r;
    }
    CHECK(bad == 0, "azs_u32_to_float differs from the cast on %llu of %llu values",
          (unsigned long long)bad, (unsigned long long)n);
}

static void test_kept(void)
{
    const float inf = INFINITY, nan = NAN;
    for (int mode = 0; mode < 3; mode++) {
        CHECK(!azs_pixel_kept(nan, mode, 7.0f, 0.5f), "NaN kept (mode %d)", mode);
        CHECK(!azs_pixel_kept(inf, mode, 7.0f, 0.5f), "inf kept (mode %d)", mode);
        CHECK(!azs_pixel_kept(-inf, mode, 7.0f, 0.5f), "-inf kept (mode %d)", mode);
        CHECK(azs_pixel_kept(3.0f, mode, 7.0f, 0.5f), "3 skipped (mode %d)", mode);
        CHECK(azs_pixel_kept(FLT_MAX, mode, 7.0f, 0.5f), "FLT_MAX skipped (mode %d)", mode);
    }
    CHECK(azs_pixel_kept(7.0f, AZS_DUMMY_NONE, 7.0f, 0.0f), "no dummy: 7 skipped");
    CHECK(!azs_pixel_kept(7.0f, AZS_DUMMY_EXACT, 7.0f, 0.0f), "exact: 7 kept");
    CHECK(azs_pixel_kept(nextafterf(7.0f, 8.0f), AZS_DUMMY_EXACT, 7.0f, 0.0f), "exact: 7+ulp");
    CHECK(!azs_pixel_kept(7.5f, AZS_DUMMY_DELTA, 7.0f, 0.5f), "delta: 7.5 kept (|d| <= delta)");
    CHECK(!azs_pixel_kept(6.5f, AZS_DUMMY_DELTA, 7.0f, 0.5f), "delta: 6.5 kept");
    CHECK(azs_pixel_kept(nextafterf(7.5f, 8.0f), AZS_DUMMY_DELTA, 7.0f, 0.5f), "delta: 7.5+ulp");
    azs_pixel_rule r = {1, 7.0f, 0.0f, AZS_ERRMODEL_NONE, 0, 0.0f};
    CHECK(azs_dummy_mode(&r) == AZS_DUMMY_EXACT, "delta 0: exact comparison");
    r.delta_dummy = 1e-30f;
    CHECK(azs_dummy_mode(&r) == AZS_DUMMY_DELTA, "delta > 0: delta comparison");
    r.has_dummy = 0;
    CHECK(azs_dummy_mode(&r) == AZS_DUMMY_NONE, "no dummy");
    CHECK(azs_pixel_variance(0.25f, 2.0f, 0) == 1.0f && azs_pixel_variance(3.0f, 2.0f, 1) == 5.0f,
          "variance max(v, 1) (+ dark)");
}

/* The value of pixel p of the frame as the rules read it. */
static float pixel(const void *px, azs_dtype t, uint32_t p)
{
    switch (t) {
    case AZS_U8: return AZS_PIXEL_FLOAT(((const uint8_t *)px)[p]);
    case AZS_U16: return AZS_PIXEL_FLOAT(((const uint16_t *)px)[p]);
    case AZS_U32: return AZS_PIXEL_FLOAT(((const uint32_t *)px)[p]);
    case AZS_I8: return AZS_PIXEL_FLOAT(((const int8_t *)px)[p]);
    case AZS_I16: return AZS_PIXEL_FLOAT(((const int16_t *)px)[p]);
    case AZS_I32: return AZS_PIXEL_FLOAT(((const int32_t *)px)[p]);
    case AZS_F32: return AZS_PIXEL_FLOAT(((const float *)px)[p]);
    default: return AZS_PIXEL_FLOAT(((const double *)px)[p]);
    }
}

/* The documented rules and order, from the CSR view, all eight outputs. */
static void reference(const azs_csr_view *v, const void *px, azs_dtype t,
                      const azs_frame_result *out)
{
    const azs_pixel_rule *r = &v->rule;
    const int mode = azs_dummy_mode(r), poisson = r->error_model == AZS_ERRMODEL_POISSON;
    for (uint32_t b = 0; b < v->nbins; b++) {
        azs_bin_sums acc = {0, 0, 0, 0, 0}, seg = {0, 0, 0, 0, 0};
        for (uint64_t k = v->indptr[b]; k < v->indptr[b + 1]; k++) {
            const uint32_t p = v->indices[k];
            const float x = pixel(px, t, p), d = v->dark ? v->dark[p] : 0.0f;
            const int ok = azs_pixel_kept(x, mode, r->dummy, r->delta_dummy);
            const float s = v->dark ? azs_pixel_signal(x, d) : x;
            if (r->error_model == AZS_ERRMODEL_AZIMUTHAL) {
                if (ok) azs_azim_update(&acc, (double)v->weights[k], (double)s,
                                        (double)v->norm_factor[p]);
                continue;
            }
            if (k > v->indptr[b] && p / v->tile_px != v->indices[k - 1] / v->tile_px) {
                acc.sig += seg.sig; acc.var += seg.var; acc.nrm += seg.nrm;
                acc.nrm2 += seg.nrm2; acc.cnt += seg.cnt;
                memset(&seg, 0, sizeof seg);
            }
            const float var = azs_pixel_variance(x, d, r->variance_dark);
            azs_entry_add(&seg, (double)v->weights[k], ok ? s : 0.0f, ok && poisson ? var : 0.0f,
                          ok ? v->norm_factor[p] : 0.0f, ok ? 1.0f : 0.0f);
        }
        if (r->error_model != AZS_ERRMODEL_AZIMUTHAL && v->indptr[b + 1] > v->indptr[b]) {
            acc.sig += seg.sig; acc.var += seg.var; acc.nrm += seg.nrm;
            acc.nrm2 += seg.nrm2; acc.cnt += seg.cnt;
        }
        azs_store_bin(out, b, &acc, r->empty);
    }
}

static void make_frame(azs_dtype t, double dummy, double delta)
{
    const size_t es = azs_dtype_size(t);
    for (int p = 0; p < NPIX; p++) {
        double v = values[p];
        if (v == 1000.5) v = dummy;                    /* the dummy itself */
        if (v == 1001.5) v = dummy + 0.5 * delta;      /* within delta */
        if (v == 1002.5) v = dummy + 1.5 * delta + 1;  /* outside */
        switch (t) {
        case AZS_U8: { uint8_t x = isfinite(v) && v >= 0 && v < 256 ? (uint8_t)v : 255; memcpy(frame + p * es, &x, es); break; }
        case AZS_U16: { uint16_t x = isfinite(v) && v >= 0 && v < 65536 ? (uint16_t)v : 65535; memcpy(frame + p * es, &x, es); break; }
        case AZS_U32: { uint32_t x = isfinite(v) && v >= 0 && v <= 4294967295.0 ? (uint32_t)v : 4294967295u; memcpy(frame + p * es, &x, es); break; }
        case AZS_I8: { int8_t x = isfinite(v) && v > -128 && v < 128 ? (int8_t)v : -1; memcpy(frame + p * es, &x, es); break; }
        case AZS_I16: { int16_t x = isfinite(v) && fabs(v) < 32768 ? (int16_t)v : -1; memcpy(frame + p * es, &x, es); break; }
        case AZS_I32: { int32_t x = isfinite(v) && fabs(v) < 2147483647.0 ? (int32_t)v : -1; memcpy(frame + p * es, &x, es); break; }
        case AZS_F32: { float x = (float)v; memcpy(frame + p * es, &x, es); break; }
        default: memcpy(frame + p * es, &v, es); break;
        }
    }
}

/* The batch engine (azs_integrate_chunks, AZS_BATCH_MAX frames of `frame`, bitshuffle-LZ4:
 * for uint32 on AVX-512 the frame-interleaved pass of tiled_x8.c) against the reference's
 * intensity-only outputs. */
static void check_batch(const azs_integrator *it, azs_workspace *ws, const azs_csr_view *v,
                        azs_dtype t, const char *what)
{
    const size_t nb = v->nbins, es = azs_dtype_size(t);
    const size_t cap = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, NPIX * es, es, 0);
    void *chunk = malloc(cap);
    size_t csize = 0;
    CHECK(azs_chunk_encode(AZS_CODEC_BSLZ4, es, 0, frame, NPIX * es, chunk, cap, &csize) == AZS_OK,
          "encode: %s", azs_last_error());
    double *a = calloc(8 * nb, sizeof(double));
    azs_frame_result ra = {a, a + nb, a + 2 * nb, a + 3 * nb, a + 4 * nb, a + 5 * nb, a + 6 * nb,
                           a + 7 * nb};
    reference(v, frame, t, &ra);
    double *e = calloc((size_t)AZS_BATCH_MAX * 3 * nb, sizeof(double));
    const void *cp[AZS_BATCH_MAX];
    size_t cs[AZS_BATCH_MAX];
    azs_frame_result fo[AZS_BATCH_MAX];
    azs_status st[AZS_BATCH_MAX];
    memset(fo, 0, sizeof fo);
    for (int j = 0; j < AZS_BATCH_MAX; j++) {
        cp[j] = chunk;
        cs[j] = csize;
        fo[j].intensity = e + (size_t)j * 3 * nb;
        fo[j].sum_signal = fo[j].intensity + nb;
        fo[j].sum_normalization = fo[j].intensity + 2 * nb;
    }
    CHECK(azs_integrate_chunks(it, ws, AZS_CODEC_BSLZ4, t, AZS_BATCH_MAX, cp, cs, NULL, fo, st, NULL,
                               0) == AZS_OK, "batch: %s", azs_last_error());
    for (int j = 0; j < AZS_BATCH_MAX; j++)
        CHECK(!memcmp(a, fo[j].intensity, nb * sizeof(double)) &&
                  !memcmp(a + 3 * nb, fo[j].sum_signal, nb * sizeof(double)) &&
                  !memcmp(a + 5 * nb, fo[j].sum_normalization, nb * sizeof(double)),
              "%s %s: batch frame %d differs from the scalar rules", azs_dtype_name(t), what, j);
    free(a);
    free(e);
    free(chunk);
}

int main(void)
{
    test_u32_to_float();
    test_kept();
    analytic_positions(NY, NX, 50.3, 140.7, rad, chi, radc, chic);
    uint64_t rng = 88172645463325252ull;
    for (int p = 0; p < NPIX; p++) {
        dark[p] = (float)(p % 7) * 0.375f;
        flat[p] = 0.8f + 0.4f * (float)((p * 31) % 97) / 97.0f;
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        const uint64_t r = rng;
        double v = (double)(r % 40) + 0.25 * (double)(r >> 62);
        if (r % 97 == 0) v = 1000.5;
        if (r % 89 == 0) v = 1001.5;
        if (r % 83 == 0) v = 1002.5;
        if (r % 79 == 0) v = NAN;
        if (r % 73 == 0) v = INFINITY;
        if (r % 71 == 0) v = -INFINITY;
        if (r % 61 == 0) v = -3;
        if (r % 53 == 0) v = 16777217.0 + (double)(r % 100000) * 3; /* above 2^24: rounds */
        if (r % 47 == 0) v = 4294967295.0 - (double)(r % 1000);     /* near 2^32 */
        values[p] = v;
    }
    const azs_dtype dts[8] = {AZS_U8, AZS_U16, AZS_U32, AZS_I8, AZS_I16, AZS_I32, AZS_F32, AZS_F64};
    int runs = 0;
    for (int split = 0; split < 3; split++)
        for (int twod = 0; twod < 2; twod++)
            for (int dk = 0; dk < 2; dk++)
                for (int dm = 0; dm < 3; dm++)
                    for (int em = 0; em < 3; em++)
                        for (int d = 0; d < 8; d++) {
                            const int u32 = dts[d] == AZS_U32;
                            const double dummy = u32 ? 4294967295.0 : 7.0;
                            /* uint32: 512 = 2 float ulps below 2^32, so that values near 2^32
                             * lie exactly at delta from the dummy */
                            const double delta = dm == 2 ? (u32 ? 512.0 : 0.5) : 0.0;
                            azs_integrate_options o;
                            azs_integrate_options_default(&o);
                            o.npt = 97;
                            o.npt_azim = twod ? 36 : 0;
                            o.split = (azs_split)split;
                            o.dark = dk ? dark : NULL;
                            o.flat = flat;
                            o.has_dummy = dm > 0;
                            o.dummy = dummy;
                            o.delta_dummy = delta;
                            o.error_model = (azs_error_model)em;
                            azs_positions pos = {NY, NX, rad, chi, radc, chic, 1.0, 3, 0};
                            azs_integrator *it = NULL;
                            azs_workspace *ws = NULL;
                            if (azs_integrator_create_from_positions(&pos, NULL, NULL, NULL, &o,
                                                                     &it) != AZS_OK ||
                                azs_workspace_create(it, &ws) != AZS_OK) {
                                CHECK(0, "integrator: %s", azs_last_error());
                                return 1;
                            }
                            azs_csr_view v;
                            azs_integrator_csr(it, &v);
                            const size_t nb = v.nbins;
                            double *a = calloc(24 * nb, sizeof(double));
                            double *e = a + 8 * nb, *f = a + 16 * nb;
                            azs_frame_result ra = {a, a + nb, a + 2 * nb, a + 3 * nb, a + 4 * nb,
                                                   a + 5 * nb, a + 6 * nb, a + 7 * nb};
                            azs_frame_result re = {e, e + nb, e + 2 * nb, e + 3 * nb, e + 4 * nb,
                                                   e + 5 * nb, e + 6 * nb, e + 7 * nb};
                            azs_frame_result rf = {f, f + nb, f + 2 * nb, f + 3 * nb, f + 4 * nb,
                                                   f + 5 * nb, f + 6 * nb, f + 7 * nb};
                            make_frame(dts[d], dummy, delta);
                            reference(&v, frame, dts[d], &ra);
                            CHECK(azs_integrate_frame(it, ws, frame, dts[d], &re) == AZS_OK, "frame");
                            CHECK(azs_integrate_frame_omp(it, ws, frame, dts[d], &rf) == AZS_OK, "omp");
                            CHECK(!memcmp(a, e, 8 * nb * sizeof(double)) &&
                                      !memcmp(a, f, 8 * nb * sizeof(double)),
                                  "%s split %d %dD dark %d dummy mode %d error model %d: the "
                                  "engines differ from the scalar rules", azs_dtype_name(dts[d]),
                                  split, twod + 1, dk, dm, em);
                            /* intensity only: the signal kernels (AVX2 for uint32) */
                            azs_frame_result ri = {0};
                            ri.intensity = e;
                            ri.sum_signal = e + 3 * nb;
                            ri.sum_normalization = e + 5 * nb;
                            memset(e, 0, 8 * nb * sizeof(double));
                            CHECK(azs_integrate_frame(it, ws, frame, dts[d], &ri) == AZS_OK, "frame");
                            CHECK(!memcmp(a, e, nb * sizeof(double)) &&
                                      !memcmp(a + 3 * nb, e + 3 * nb, nb * sizeof(double)) &&
                                      !memcmp(a + 5 * nb, e + 5 * nb, nb * sizeof(double)),
                                  "%s split %d %dD dark %d dummy mode %d error model %d: the "
                                  "intensity-only path differs from the scalar rules",
                                  azs_dtype_name(dts[d]), split, twod + 1, dk, dm, em);
                            if (em != AZS_ERRMODEL_AZIMUTHAL) {
                                char what[96];
                                snprintf(what, sizeof what, "split %d %dD dark %d dummy mode %d "
                                         "error model %d", split, twod + 1, dk, dm, em);
                                check_batch(it, ws, &v, dts[d], what);
                                if (u32 && dm == 2) {
                                    /* only the values exactly at delta from the dummy left
                                     * skipped: tiles whose one reason to need their per-frame
                                     * norm is that boundary */
                                    static unsigned char keep[NPIX * 8];
                                    memcpy(keep, frame, sizeof keep);
                                    for (int p = 0; p < NPIX; p++) {
                                        const float x = pixel(frame, AZS_U32, (uint32_t)p);
                                        if (!azs_pixel_kept(x, dm, (float)dummy, (float)delta) &&
                                            fabsf(x - (float)dummy) != (float)delta)
                                            ((uint32_t *)frame)[p] = 5u;
                                    }
                                    check_batch(it, ws, &v, dts[d], what);
                                    memcpy(frame, keep, sizeof keep);
                                }
                            }
                            runs++;
                            free(a);
                            azs_workspace_destroy(ws);
                            azs_integrator_destroy(it);
                        }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("pixel rules: %d configurations, every engine bit-identical to the scalar rules\n",
           runs);
    return 0;
}
