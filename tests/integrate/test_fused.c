/* The tiled engines over many tiles, and the fused decode + integrate (azs_integrate_chunk):
 *  - serial, OpenMP and fused engines give the same bits, for every input type, with and
 *    without dark / dummy (exact, and with delta_dummy in 2D) / poisson, 1D and 2D, all
 *    eight outputs;
 *  - the same frame encoded with the default block size, an odd block size (partial last
 *    block + raw tail) and blocks above the fused limit (the decode-first path) gives the
 *    same bits;
 *  - a reference computed here by brute force (a plain loop over the CSR view with the
 *    documented preprocessing, in double) agrees to 1e-12 relative;
 *  - azs_integrate_chunks (batches of 1-8 frames, the matrix read once per batch; the
 *    frame-interleaved AVX-512 kernel and the frame-major ones): every
 *    frame's result equals azs_integrate_chunk's bit for bit, in every order, with frames
 *    that take different paths side by side (static tiles, per-frame norm tiles, blocks
 *    above the fused limit, full outputs), a truncated frame that fails alone, and damaged
 *    chunks (truncations, bit flips) between intact ones;
 *  - corrupt, truncated and wrong-size chunks: the fused path returns the same status as
 *    azs_chunk_decode (never crashes; this runs under ASan), mutated chunks that still
 *    decode give the same numbers as decode + integrate.
 *  - the portable segment kernel (features capped to SSE2) gives the same bits as the AVX2
 *    one (where the CPU has AVX2);
 *  - the intensity-only path (only intensity / Σsig / Σnorm wanted: stored norm sums for
 *    tiles whose used pixels are all kept) gives the same bits as the general path, serial,
 *    OpenMP and fused, portable and AVX2 with the signal gathered or loaded one by one; the
 *    frames make it take both kinds of tiles (checked), including tiles whose only skipped
 *    pixels are masked ones;
 * The detector is 301 x 211 = 63511 pixels: 8 tiles, the last one partial, n % 8 = 7. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/integrate.h"
#include "common/cpu.h"
#include "integrate/integrator_internal.h"
#include "integrate/tiled.h"

#define NY 301
#define NX 211
#define NPIX (NY * NX)
#include "../common/check.h"
#include "analytic_positions.h"

static double rad[NPIX], chi[NPIX], radc[(NY + 1) * (NX + 1)], chic[(NY + 1) * (NX + 1)];
static float dark[NPIX], flat[NPIX];

static void make_positions(void)
{
    analytic_positions(NY, NX, 120.3, 80.7, rad, chi, radc, chic);
    for (int p = 0; p < NPIX; p++) {
        dark[p] = (float)(p % 5) * 0.25f;
        flat[p] = 0.8f + 0.4f * (float)((p * 31) % 97) / 97.0f;
    }
}

enum { OUTS = 8 };

typedef struct result { double *a[OUTS]; } result;

static void res_alloc(result *r, size_t nb)
{
    for (int j = 0; j < OUTS; j++) r->a[j] = calloc(nb, sizeof(double));
}
static void res_free(result *r)
{
    for (int j = 0; j < OUTS; j++) free(r->a[j]);
}
static azs_frame_result res_view(result *r)
{
    azs_frame_result f = {r->a[0], r->a[1], r->a[2], r->a[3], r->a[4], r->a[5], r->a[6], r->a[7]};
    return f;
}
/* intensity, Σsig, Σnorm: what the intensity-only path computes */
static azs_frame_result res_view_intensity(result *r)
{
    azs_frame_result f = {0};
    f.intensity = r->a[0];
    f.sum_signal = r->a[3];
    f.sum_normalization = r->a[5];
    return f;
}
static int res_same_intensity(const result *x, const result *y, size_t nb)
{
    const int q[3] = {0, 3, 5};
    for (int j = 0; j < 3; j++)
        if (memcmp(x->a[q[j]], y->a[q[j]], nb * sizeof(double))) return 0;
    return 1;
}

static int res_same(const result *x, const result *y, size_t nb)
{
    for (int j = 0; j < OUTS; j++)
        if (memcmp(x->a[j], y->a[j], nb * sizeof(double))) return 0;
    return 1;
}

/* Brute force from the CSR view and the documented rules (azs_csr_view comment). */
static double reference_worst(const azs_integrator *it, const double *px, const result *got)
{
    azs_csr_view v;
    azs_integrator_csr(it, &v);
    const azs_integrate_options *o = azs_integrator_options(it);
    double worst = 0;
    double maxI = 0;
    for (uint32_t b = 0; b < v.nbins; b++) maxI = fmax(maxI, fabs(got->a[0][b]));
    for (uint32_t b = 0; b < v.nbins; b++) {
        double sig = 0, nrm = 0, cnt = 0, var = 0;
        for (uint64_t k = v.indptr[b]; k < v.indptr[b + 1]; k++) {
            uint32_t p = v.indices[k];
            float x = (float)px[p];
            if (!isfinite(x)) continue;
            if (o->has_dummy && (o->delta_dummy == 0.0 ? x == (float)o->dummy
                                                       : fabsf(x - (float)o->dummy) <= (float)o->delta_dummy))
                continue;
            double w = v.weights[k];
            sig += w * (double)(v.dark ? x - v.dark[p] : x);
            nrm += w * (double)v.norm_factor[p];
            cnt += w;
            if (o->error_model == AZS_ERRMODEL_POISSON) var += w * w * (double)(x > 1 ? x : 1.0f);
        }
        double I = nrm != 0 ? sig / nrm : 0;
        worst = fmax(worst, fabs(I - got->a[0][b]) / (maxI > 0 ? maxI : 1));
        worst = fmax(worst, fabs(cnt - got->a[7][b]) / (fabs(cnt) > 1 ? fabs(cnt) : 1));
        worst = fmax(worst, fabs(var - got->a[4][b]) / (fabs(var) > 1 ? fabs(var) : 1));
    }
    return worst;
}

static void *convert(const double *src, azs_dtype t)
{
    size_t es = azs_dtype_size(t);
    unsigned char *d = malloc((size_t)NPIX * es);
    for (int p = 0; p < NPIX; p++) {
        double x = src[p];
        switch (t) {
        case AZS_U8: ((uint8_t *)d)[p] = (uint8_t)x; break;
        case AZS_U16: ((uint16_t *)d)[p] = (uint16_t)x; break;
        case AZS_U32: ((uint32_t *)d)[p] = (uint32_t)x; break;
        case AZS_I16: ((int16_t *)d)[p] = (int16_t)x; break;
        case AZS_I32: ((int32_t *)d)[p] = (int32_t)x; break;
        case AZS_F32: ((float *)d)[p] = (float)x; break;
        default: ((double *)d)[p] = x; break;
        }
    }
    return d;
}

static void *encode(const void *px, size_t es, size_t block_elems, size_t *size)
{
    size_t nbytes = (size_t)NPIX * es, cap = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, nbytes, es, block_elems);
    void *c = malloc(cap);
    azs_status st = azs_chunk_encode(AZS_CODEC_BSLZ4, es, block_elems, px, nbytes, c, cap, size);
    CHECK(st == AZS_OK, "encode: %s", azs_last_error());
    return c;
}

/* Batches over u32 frames against azs_integrate_chunk one by one: a (dummies everywhere:
 * per-frame norm in every tile), b (dummies at masked pixels only: every tile static), c
 * (other counts, dummies at masked pixels and at one used pixel of tile 3), d (a truncated
 * chunk of a), e (c with blocks above the fused limit), f and g (other counts, every tile
 * static), h (other counts, a dummy at a used pixel of tile 5): up to five frames whose
 * tile is static side by side, all different, so that the frame-interleaved kernel runs
 * and a frame put in another's column would show. */
enum { NCH = 8 };
static void test_batches(const azs_integrator *it, azs_workspace *ws, size_t nb, int cfg,
                         const uint32_t *fa, const uint32_t *fb)
{
    static uint32_t fc[NPIX], f5[NPIX], f6[NPIX], fh[NPIX];
    for (int p = 0; p < NPIX; p++) {
        const int masked = fb[p] == 250u;
        fc[p] = masked ? 250u : (fb[p] * 3u + 1u) % 249u;
        f5[p] = masked ? 250u : (fb[p] * 5u + 2u) % 249u;
        f6[p] = masked ? 250u : (fb[p] * 7u + 3u) % 249u;
        fh[p] = masked ? 250u : (fb[p] * 11u + 4u) % 249u;
    }
    fc[3 * AZS_TILE_PX + 100] = 250u;
    fh[5 * AZS_TILE_PX + 33] = 250u;
    const uint32_t *src[NCH] = {fa, fb, fc, NULL, NULL, f5, f6, fh};
    void *ch[NCH];
    size_t sz[NCH];
    for (int i = 0; i < NCH; i++)
        if (src[i]) ch[i] = encode(src[i], 4, 0, &sz[i]);
    ch[3] = ch[0];
    sz[3] = sz[0] / 2; /* truncated */
    ch[4] = encode(fc, 4, 65536 / 4 * 2, &sz[4]); /* blocks above the fused limit */
    void *buf = malloc((size_t)NPIX * 4);
    result ref[NCH], got[AZS_BATCH_MAX];
    azs_status ref_st[NCH];
    for (int i = 0; i < NCH; i++) {
        res_alloc(&ref[i], nb);
        azs_frame_result fr = res_view_intensity(&ref[i]);
        ref_st[i] = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, AZS_U32, ch[i], sz[i], buf, &fr);
    }
    for (int i = 0; i < NCH; i++)
        CHECK((ref_st[i] == AZS_OK) == (i != 3), "cfg %d: reference status of %d", cfg, i);
    for (int k = 0; k < AZS_BATCH_MAX; k++) res_alloc(&got[k], nb);
    /* orders: every n from 1 to AZS_BATCH_MAX, rotating which frames go in */
    for (int n = 1; n <= AZS_BATCH_MAX; n++)
        for (int rot = 0; rot < NCH; rot++) {
            int pick[AZS_BATCH_MAX];
            const void *cp[AZS_BATCH_MAX];
            size_t cs[AZS_BATCH_MAX];
            azs_frame_result fo[AZS_BATCH_MAX];
            azs_status st[AZS_BATCH_MAX];
            char msgs[AZS_BATCH_MAX][256];
            for (int j = 0; j < n; j++) {
                pick[j] = (rot + j * 3) % NCH;
                cp[j] = ch[pick[j]];
                cs[j] = sz[pick[j]];
                for (int q = 0; q < OUTS; q++) memset(got[j].a[q], 0xCD, nb * sizeof(double));
                fo[j] = res_view_intensity(&got[j]);
            }
            azs_status all = azs_integrate_chunks(it, ws, AZS_CODEC_BSLZ4, AZS_U32, n, cp, cs, buf, fo,
                                                  st, &msgs[0][0], sizeof msgs[0]);
            int any_bad = 0;
            for (int j = 0; j < n; j++) {
                const int i = pick[j];
                CHECK(st[j] == ref_st[i], "cfg %d n %d frame %d: status %s, alone %s", cfg, n, i,
                      azs_status_str(st[j]), azs_status_str(ref_st[i]));
                if (st[j] == AZS_OK)
                    CHECK(res_same_intensity(&ref[i], &got[j], nb), "cfg %d n %d rot %d: frame %d differs "
                          "from azs_integrate_chunk", cfg, n, rot, i);
                else {
                    CHECK(msgs[j][0] != '\0', "cfg %d: failed frame without message", cfg);
                    if (!any_bad) CHECK(all == st[j], "cfg %d: batch status %s", cfg, azs_status_str(all));
                    any_bad = 1;
                }
            }
            if (!any_bad) CHECK(all == AZS_OK, "cfg %d: batch status %s", cfg, azs_status_str(all));
        }
    /* damaged chunks between intact ones (this runs under ASan): each frame gets the status
     * azs_integrate_chunk gives it alone, and the frames that decode the same numbers */
    {
        unsigned seed = 777u + (unsigned)cfg;
        uint8_t *bad = malloc(sz[1]);
        result alone, in_batch[3];
        res_alloc(&alone, nb);
        for (int k = 0; k < 3; k++) res_alloc(&in_batch[k], nb);
        for (int trial = 0; trial < 60; trial++) {
            memcpy(bad, ch[1], sz[1]);
            size_t len = trial < 10 ? sz[1] * (size_t)trial / 10 : sz[1];
            for (int k = 0; trial >= 10 && k < 1 + trial % 3; k++) {
                seed = seed * 1103515245u + 12345u;
                bad[(seed >> 8) % sz[1]] ^= (uint8_t)(1u << ((seed >> 3) % 8));
            }
            azs_frame_result fr1 = res_view_intensity(&alone);
            const azs_status st1 = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, AZS_U32, bad, len, buf, &fr1);
            const void *cp[3] = {ch[0], bad, ch[2]};
            size_t cs[3] = {sz[0], len, sz[2]};
            azs_frame_result fo[3];
            azs_status st[3];
            for (int k = 0; k < 3; k++) fo[k] = res_view_intensity(&in_batch[k]);
            azs_integrate_chunks(it, ws, AZS_CODEC_BSLZ4, AZS_U32, 3, cp, cs, buf, fo, st, NULL, 0);
            CHECK(st[0] == AZS_OK && st[2] == AZS_OK && res_same_intensity(&ref[0], &in_batch[0], nb) &&
                      res_same_intensity(&ref[2], &in_batch[2], nb),
                  "cfg %d trial %d: a damaged frame changed its neighbours", cfg, trial);
            CHECK(st[1] == st1, "cfg %d trial %d: damaged frame %s in a batch, %s alone", cfg, trial,
                  azs_status_str(st[1]), azs_status_str(st1));
            if (st1 == AZS_OK && st[1] == AZS_OK)
                CHECK(res_same_intensity(&alone, &in_batch[1], nb), "cfg %d trial %d: numbers differ", cfg,
                      trial);
        }
        res_free(&alone);
        for (int k = 0; k < 3; k++) res_free(&in_batch[k]);
        free(bad);
    }
    /* full outputs in a batch: frames done one by one, same bits as the general path */
    {
        result fa_full;
        res_alloc(&fa_full, nb);
        azs_frame_result ff = res_view(&fa_full), fo[2] = {res_view(&got[0]), res_view(&got[1])};
        const void *cp[2] = {ch[0], ch[1]};
        size_t cs[2] = {sz[0], sz[1]};
        azs_status st[2];
        CHECK(azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, AZS_U32, ch[1], sz[1], buf, &ff) == AZS_OK, "full");
        CHECK(azs_integrate_chunks(it, ws, AZS_CODEC_BSLZ4, AZS_U32, 2, cp, cs, buf, fo, st, NULL, 0) ==
                  AZS_OK && res_same(&fa_full, &got[1], nb), "cfg %d: batch with full outputs differs", cfg);
        res_free(&fa_full);
    }
    /* bad arguments are refused by name */
    {
        enum { TOO_MANY = AZS_BATCH_MAX + 1 };
        azs_status st[TOO_MANY];
        azs_frame_result fo[TOO_MANY] = {0};
        const void *cp[TOO_MANY];
        size_t cs[TOO_MANY];
        for (int j = 0; j < TOO_MANY; j++) {
            cp[j] = ch[0];
            cs[j] = sz[0];
        }
        CHECK(azs_integrate_chunks(it, ws, AZS_CODEC_BSLZ4, AZS_U32, TOO_MANY, cp, cs, buf, fo, st, NULL,
                                   0) == AZS_ERR_INVALID_ARG && strstr(azs_last_error(), "batch"),
              "%d frames: %s", TOO_MANY, azs_last_error());
        CHECK(azs_integrate_chunks(it, NULL, AZS_CODEC_BSLZ4, AZS_U32, 1, cp, cs, buf, fo, st, NULL, 0) ==
                  AZS_ERR_INVALID_ARG, "NULL workspace");
    }
    for (int i = 0; i < NCH; i++) res_free(&ref[i]);
    for (int k = 0; k < AZS_BATCH_MAX; k++) res_free(&got[k]);
    for (int i = 0; i < NCH; i++)
        if (i != 3) free(ch[i]);
    free(buf);
}

int main(void)
{
    make_positions();
    static uint8_t mask[NPIX];
    for (int p = 0; p < NPIX; p++) mask[p] = (p % 101) == 7;
    /* Counts with a few dummies (250) and, for float types, NaN / inf pixels. */
    static double frame[NPIX], frame_f[NPIX];
    for (int p = 0; p < NPIX; p++) {
        frame[p] = (double)((p * 7919u) % 251u);
        frame_f[p] = frame[p] + 0.25;
        if (p % 977 == 5) frame_f[p] = NAN;
        if (p % 1231 == 9) frame_f[p] = INFINITY;
    }
    const azs_dtype types[7] = {AZS_U8, AZS_U16, AZS_U32, AZS_I16, AZS_I32, AZS_F32, AZS_F64};
    /* The same counts with the dummy value only at masked pixels: every tile can take the
     * intensity-only path although pixels are skipped. */
    static uint32_t frame_m[NPIX];
    for (int p = 0; p < NPIX; p++) frame_m[p] = mask[p] ? 250u : (frame[p] == 250 ? 249u : (uint32_t)frame[p]);
    int saw_mixed = 0, saw_none = 0;
    const azs_split splits[2] = {AZS_SPLIT_BBOX, AZS_SPLIT_FULL};
    azs_positions pos = {NY, NX, rad, chi, radc, chic, 1000.0, 3, 0};
    for (int cfg = 0; cfg < 16; cfg++) {
        const int with_dark = cfg & 1, with_dummy = (cfg >> 1) & 1, two_d = (cfg >> 2) & 1;
        azs_integrate_options o;
        azs_integrate_options_default(&o);
        o.npt = 97;
        o.npt_azim = two_d ? 18 : 0;
        o.split = splits[(cfg >> 3) & 1];
        o.error_model = AZS_ERRMODEL_POISSON;
        o.has_dummy = with_dummy;
        o.dummy = 250;
        o.delta_dummy = two_d ? 0.5 : 0.0; /* 2D configs: the delta-dummy rule (250.25 is a dummy too) */
        o.dark = with_dark ? dark : NULL;
        o.flat = flat;
        azs_integrator *it = NULL;
        azs_status st = azs_integrator_create_from_positions(&pos, NULL, NULL, mask, &o, &it);
        CHECK(st == AZS_OK, "create cfg %d: %s", cfg, azs_last_error());
        if (!it) continue;
        const size_t nb = azs_integrator_nbins(it);
        azs_workspace *ws = NULL;
        CHECK(azs_workspace_create(it, &ws) == AZS_OK, "workspace");
        result serial, omp, fused;
        res_alloc(&serial, nb);
        res_alloc(&omp, nb);
        res_alloc(&fused, nb);
        for (int ti = 0; ti < 7; ti++) {
            const azs_dtype t = types[ti];
            const double *src = (t == AZS_F32 || t == AZS_F64) ? frame_f : frame;
            void *px = convert(src, t);
            azs_frame_result fs = res_view(&serial), fo = res_view(&omp), ff = res_view(&fused);
            CHECK(azs_integrate_frame(it, ws, px, t, &fs) == AZS_OK, "serial: %s", azs_last_error());
            CHECK(azs_integrate_frame_omp(it, ws, px, t, &fo) == AZS_OK, "omp: %s", azs_last_error());
            CHECK(res_same(&serial, &omp, nb), "cfg %d %s: omp differs from serial", cfg, azs_dtype_name(t));
            {
                const azs_tiled_ctx *tc = azs_integrator_tiled_ctx(it);
                const uint32_t k = azs_tiled_static_tiles(tc, px, t);
                saw_mixed |= k > 0 && k < tc->t->ntiles;
                saw_none |= k == 0;
                result io;
                res_alloc(&io, nb);
                azs_frame_result fi = res_view_intensity(&io);
                /* both ways of loading the signal (the test may pick; the library times them) */
                azs_tiled *tw = azs_integrator_tiled(it);
                const int chosen = tw->sig_kernel;
                for (int kind = AZS_SIG_GATHER; kind <= AZS_SIG_LOADS; kind++) {
                    azs_tiled_force_sig_kernel(tw, kind);
                    memset(io.a[0], 0, nb * sizeof(double));
                    CHECK(azs_integrate_frame(it, ws, px, t, &fi) == AZS_OK, "intensity: %s", azs_last_error());
                    CHECK(res_same_intensity(&serial, &io, nb), "cfg %d %s (%s): intensity-only path differs "
                          "(%u of %u tiles)", cfg, azs_dtype_name(t), azs_tiled_sig_kernel_name(tw), k,
                          tc->t->ntiles);
                }
                azs_tiled_force_sig_kernel(tw, chosen);
                memset(io.a[0], 0, nb * sizeof(double));
                CHECK(azs_integrate_frame_omp(it, ws, px, t, &fi) == AZS_OK, "omp intensity: %s", azs_last_error());
                CHECK(res_same_intensity(&serial, &io, nb), "cfg %d %s: OpenMP intensity-only differs", cfg,
                      azs_dtype_name(t));
                azs_cpu_limit(AZS_CPU_SSE2);
                memset(io.a[0], 0, nb * sizeof(double));
                CHECK(azs_integrate_frame(it, ws, px, t, &fi) == AZS_OK, "portable intensity: %s", azs_last_error());
                azs_cpu_limit(~0u);
                CHECK(res_same_intensity(&serial, &io, nb), "cfg %d %s: portable intensity-only differs", cfg,
                      azs_dtype_name(t));
                if (t == AZS_U32 && with_dummy) {
                    /* dummies at masked pixels only: every tile static, same bits as general */
                    CHECK(azs_tiled_static_tiles(tc, frame_m, t) == tc->t->ntiles, "cfg %d: masked dummies "
                          "should not force the per-frame norm", cfg);
                    result gm;
                    res_alloc(&gm, nb);
                    azs_frame_result fg = res_view(&gm);
                    CHECK(azs_integrate_frame(it, ws, frame_m, t, &fg) == AZS_OK, "general: %s", azs_last_error());
                    CHECK(azs_integrate_frame(it, ws, frame_m, t, &fi) == AZS_OK, "static: %s", azs_last_error());
                    CHECK(res_same_intensity(&gm, &io, nb), "cfg %d: masked-dummy frame differs", cfg);
                    /* plus one dummy at a used pixel of tile 3: that tile alone goes general */
                    static uint32_t frame_1[NPIX];
                    memcpy(frame_1, frame_m, sizeof frame_1);
                    frame_1[3 * AZS_TILE_PX + 100] = 250u;
                    const uint32_t k1 = azs_tiled_static_tiles(tc, frame_1, t);
                    CHECK(k1 == tc->t->ntiles - 1, "cfg %d: %u of %u tiles static", cfg, k1, tc->t->ntiles);
                    saw_mixed |= k1 == tc->t->ntiles - 1;
                    CHECK(azs_integrate_frame(it, ws, frame_1, t, &fg) == AZS_OK, "general: %s", azs_last_error());
                    CHECK(azs_integrate_frame(it, ws, frame_1, t, &fi) == AZS_OK, "static: %s", azs_last_error());
                    CHECK(res_same_intensity(&gm, &io, nb), "cfg %d: one-dummy frame differs", cfg);
                    res_free(&gm);
                    /* batches: the frame-interleaved kernel where the CPU has AVX-512 (from
                     * AZS_X8_MIN_FRAMES frames on), then the frame-major one for every size
                     * (AVX-512 capped; 5-8 frames in two passes), both signal loads */
                    for (int kind = AZS_SIG_GATHER; kind <= AZS_SIG_LOADS; kind++) {
                        azs_tiled_force_sig_kernel(tw, kind);
                        test_batches(it, ws, nb, cfg, (const uint32_t *)px, frame_m);
                        azs_cpu_limit(~(unsigned)AZS_CPU_AVX512BW);
                        test_batches(it, ws, nb, cfg, (const uint32_t *)px, frame_m);
                        azs_cpu_limit(~0u);
                    }
                    azs_tiled_force_sig_kernel(tw, chosen);
                } else if (t == AZS_U32) {
                    test_batches(it, ws, nb, cfg, (const uint32_t *)px, frame_m); /* no dummy */
                }
                res_free(&io);
            }
            {
                result port;
                res_alloc(&port, nb);
                azs_frame_result fp = res_view(&port);
                azs_cpu_limit(AZS_CPU_SSE2);
                CHECK(!strcmp(azs_tiled_kernel_name(), "portable"), "cap: %s", azs_tiled_kernel_name());
                CHECK(azs_integrate_frame(it, ws, px, t, &fp) == AZS_OK, "portable: %s", azs_last_error());
                azs_cpu_limit(~0u);
                CHECK(res_same(&serial, &port, nb), "cfg %d %s: portable kernel differs from %s", cfg,
                      azs_dtype_name(t), azs_tiled_kernel_name());
                res_free(&port);
            }
            if (!(with_dark && two_d)) { /* the brute force lacks pyFAI's 2D dark-in-variance rule */
                double w = reference_worst(it, src, &serial);
                CHECK(w < 1e-12, "cfg %d %s: brute force differs by %.3g", cfg, azs_dtype_name(t), w);
            }
            const size_t es = azs_dtype_size(t);
            const size_t blocks[3] = {0, 136, 65536 / es * 2}; /* default, odd, above the limit */
            void *buf = malloc((size_t)NPIX * es);
            for (int bi = 0; bi < 3; bi++) {
                size_t csize = 0;
                void *chunk = encode(px, es, blocks[bi], &csize);
                memset(buf, 0xAB, (size_t)NPIX * es);
                for (int j = 0; j < OUTS; j++) memset(fused.a[j], 0xCD, nb * sizeof(double));
                st = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, t, chunk, csize, buf, &ff);
                CHECK(st == AZS_OK, "fused: %s", azs_last_error());
                CHECK(res_same(&serial, &fused, nb), "cfg %d %s block %zu: fused differs", cfg,
                      azs_dtype_name(t), blocks[bi]);
                azs_frame_result fi = res_view_intensity(&fused);
                memset(fused.a[0], 0xCD, nb * sizeof(double));
                CHECK(azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, t, chunk, csize, buf, &fi) == AZS_OK &&
                          res_same_intensity(&serial, &fused, nb),
                      "cfg %d %s block %zu: fused intensity-only differs", cfg, azs_dtype_name(t), blocks[bi]);
                if (ti == 2 && bi == 0 && cfg == 0) {
                    /* Truncations and mutations: same status as the decoder; when both
                     * succeed, the same numbers as decode + integrate. */
                    unsigned char *m = malloc(csize);
                    result ref;
                    res_alloc(&ref, nb);
                    azs_frame_result fr = res_view(&ref);
                    unsigned seed = 12345;
                    for (int trial = 0; trial < 400; trial++) {
                        memcpy(m, chunk, csize);
                        size_t len = csize;
                        if (trial < 40) {
                            len = (size_t)trial * csize / 40;
                        } else {
                            for (int k = 0; k < 1 + trial % 4; k++) {
                                seed = seed * 1103515245u + 12345u;
                                m[(seed >> 8) % csize] ^= (unsigned char)(1u << ((seed >> 3) % 8));
                            }
                        }
                        size_t got = 0;
                        azs_status sd = azs_chunk_decode(AZS_CODEC_BSLZ4, es, m, len, buf, (size_t)NPIX * es, &got);
                        if (sd == AZS_OK && got != (size_t)NPIX * es) sd = AZS_ERR_SIZE_MISMATCH;
                        if (sd == AZS_OK) sd = azs_integrate_frame(it, ws, buf, t, &fr);
                        azs_status sf = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, t, m, len, buf, &ff);
                        CHECK((sd == AZS_OK) == (sf == AZS_OK), "trial %d: decode %s, fused %s (%s)",
                              trial, azs_status_str(sd), azs_status_str(sf), azs_last_error());
                        if (sd == AZS_OK && sf == AZS_OK)
                            CHECK(res_same(&ref, &fused, nb), "trial %d: numbers differ", trial);
                        if (sf != AZS_OK) CHECK(azs_last_error()[0] != '\0', "trial %d: no message", trial);
                    }
                    res_free(&ref);
                    free(m);
                    /* A chunk of a different frame size is refused by name. */
                    size_t small = 0;
                    void *c2 = NULL;
                    {
                        size_t nbytes = 1000 * es, cap = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, nbytes, es, 0);
                        c2 = malloc(cap);
                        CHECK(azs_chunk_encode(AZS_CODEC_BSLZ4, es, 0, px, nbytes, c2, cap, &small) == AZS_OK, "enc");
                    }
                    st = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, t, c2, small, buf, &ff);
                    CHECK(st == AZS_ERR_SIZE_MISMATCH && strstr(azs_last_error(), "frame needs"),
                          "short frame: %s", azs_last_error());
                    free(c2);
                }
                free(chunk);
            }
            /* Other codecs go through the decode-first path. */
            size_t lsize = 0, lcap = azs_chunk_encode_bound(AZS_CODEC_LZ4, (size_t)NPIX * es, es, 0);
            void *lz = malloc(lcap);
            CHECK(azs_chunk_encode(AZS_CODEC_LZ4, es, 0, px, (size_t)NPIX * es, lz, lcap, &lsize) == AZS_OK, "lz4");
            CHECK(azs_integrate_chunk(it, ws, AZS_CODEC_LZ4, t, lz, lsize, buf, &ff) == AZS_OK &&
                      res_same(&serial, &fused, nb), "cfg %d %s: lz4 path differs", cfg, azs_dtype_name(t));
            free(lz);
            free(buf);
            free(px);
        }
        res_free(&serial);
        res_free(&omp);
        res_free(&fused);
        azs_workspace_destroy(ws);
        azs_integrator_destroy(it);
    }
    CHECK(saw_mixed && saw_none, "frames should take both paths (mixed %d, none static %d)", saw_mixed, saw_none);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("tiled and fused engines (segment kernel %s): all checks passed\n", azs_tiled_kernel_name());
    return failures ? 1 : 0;
}
