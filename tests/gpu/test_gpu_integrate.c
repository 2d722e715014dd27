/* GPU engine against the CPU engine: the profiles (intensity, and sigma with an error
 * model) of every frame must equal azs_integrate_frame's bit for bit (memcmp). Integrators
 * from the public API (a generic detector with module gaps, solid angle, polarization, a
 * flat), 1D, 2D with few bins (the GPU's segment kernel + fold) and 2D with many bins (its
 * row kernel), split no / bbox / full, error model none / poisson / azimuthal; frames:
 *   f32 with NaN, ±inf, dummies with delta_dummy > 0, and a dark (Poisson variance + dark
 *   in 2D no/bbox), f32 with an exact dummy (delta 0), u32 with its 0xFFFFFFFF dummy and a
 *   dark, u16 without dummy, i32 with negative values and a delta dummy.
 * Batches of 37 frames (two 32-frame lane groups, the second partial) with one corrupt
 * chunk, which must come back with an error status. Prints one line per case.
 * Exit 77 (skip) without a device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "azstream/integrate.h"
#include "gpu_test_util.h"

#include "../common/check.h"

enum { NY = 211, NX = 263, NPIX = NY * NX, NF = 37, BAD = 11 };

typedef struct frame_case {
    const char *name;
    azs_dtype dtype;
    int has_dummy;
    double dummy, delta;
    int dark;
} frame_case;

static const frame_case cases[] = {
    {"f32 nan/inf, dummy -1 delta 0.5, dark", AZS_F32, 1, -1.0, 0.5, 1},
    {"f32 exact dummy 7", AZS_F32, 1, 7.0, 0.0, 0},
    {"u32 dummy 0xFFFFFFFF, dark", AZS_U32, 1, 4294967295.0, 0.0, 1},
    {"u16 no dummy", AZS_U16, 0, 0.0, 0.0, 0},
    {"i32 dummy -2 delta 1.5, dark", AZS_I32, 1, -2.0, 1.5, 1},
};

static float dark[NPIX], flat[NPIX];

/* Frame j of case fc: counts, some large, some dummies, values within delta of the dummy;
 * f32 frames also NaN, +inf and -inf. */
static void fill_frame(const frame_case *fc, uint32_t j, uint8_t *f)
{
    uint64_t r0 = 0x9E3779B97F4A7C15ull * (j + 1);
    for (uint32_t p = 0; p < NPIX; p++) {
        r0 ^= r0 << 13;
        r0 ^= r0 >> 7;
        r0 ^= r0 << 17;
        const uint64_t r = r0;
        double v = (double)((r >> 33) % 60) + ((r & 255) == 0 ? 3e4 : 0.0);
        if ((r >> 8) % 97 == 0) v = fc->dummy;
        if (fc->delta > 0 && (r >> 8) % 89 == 0) v = fc->dummy + 0.75 * fc->delta;
        if (fc->dtype == AZS_F32) {
            float x = (float)(v + 0.125 * (double)(r >> 61));
            if ((r >> 8) % 101 == 0) x = NAN;
            if ((r >> 8) % 103 == 0) x = INFINITY;
            if ((r >> 8) % 107 == 0) x = -INFINITY;
            if (v == fc->dummy) x = (float)v;
            memcpy(f + 4 * (size_t)p, &x, 4);
        } else if (fc->dtype == AZS_U32) {
            uint32_t x = v < 0 ? 0 : (uint32_t)v;
            if ((r >> 8) % 97 == 0) x = 0xFFFFFFFFu;
            if ((r >> 8) % 113 == 0) x = 0x01000001u + (uint32_t)(r >> 40); /* > 2^24: rounds */
            memcpy(f + 4 * (size_t)p, &x, 4);
        } else if (fc->dtype == AZS_U16) {
            uint16_t x = (uint16_t)(v < 0 ? 0 : v);
            memcpy(f + 2 * (size_t)p, &x, 2);
        } else {
            int32_t x = (int32_t)v - ((r >> 20) % 5 == 0 ? 40 : 0); /* negatives too */
            if (v == fc->dummy) x = (int32_t)v;
            memcpy(f + 4 * (size_t)p, &x, 4);
        }
    }
}

static void make_geometry(azs_geometry *g)
{
    memset(g, 0, sizeof *g);
    azs_detector_generic(&g->det, 172e-6, 172e-6, NY, NX);
    g->det.module_ny = 97; /* two module rows and columns: gap pixels are masked */
    g->det.module_nx = 125;
    g->det.gap_ny = 17;
    g->det.gap_nx = 13;
    g->dist = 0.08;
    g->poni1 = 0.4 * NY * 172e-6; /* beam inside the detector: the χ cut crosses it */
    g->poni2 = 0.55 * NX * 172e-6;
    g->rot1 = 0.02;
    g->rot2 = -0.015;
    g->wavelength = 1e-10;
    g->poni_version = 2.1;
}

static const char *split_name[] = {"no", "bbox", "full"};
static const char *em_name[] = {"none", "poisson", "azimuthal"};

/* One integrator and one frame case: NF frames on the GPU (one corrupt) against the CPU. */
static void run(const azs_geometry *g, azs_split split, uint32_t npt, uint32_t npt_azim,
                azs_error_model em, const frame_case *fc, int *ncase)
{
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    o.npt = npt;
    o.npt_azim = npt_azim;
    o.split = split;
    o.unit = AZS_UNIT_2TH_DEG;
    o.has_polarization = 1;
    o.polarization_factor = 0.95;
    o.normalization_factor = 1.7;
    o.flat = flat;
    o.dark = fc->dark ? dark : NULL;
    o.has_dummy = fc->has_dummy;
    o.dummy = fc->dummy;
    o.delta_dummy = fc->delta;
    o.error_model = em;
    azs_integrator *it = NULL;
    azs_workspace *ws = NULL;
    azs_gpu_engine *e = NULL;
    azs_status st = azs_integrator_create(g, &o, &it);
    CHECK(st == AZS_OK, "integrator: %s", azs_last_error());
    if (st != AZS_OK) return;
    CHECK(azs_workspace_create(it, &ws) == AZS_OK, "workspace");
    azs_csr_view v;
    CHECK(azs_integrator_csr(it, &v) == AZS_OK, "csr view");
    const size_t es = azs_dtype_size(fc->dtype), fb = (size_t)NPIX * es;
    azs_gpu_config c;
    azs_gpu_config_default(&c);
    c.batch = NF;
    c.nslots = 1;
    c.codec = AZS_CODEC_BSLZ4;
    c.dtype = fc->dtype;
    c.npixels = NPIX;
    c.chunk_stride = 2 * fb + 4096;
    st = azs_gpu_engine_create(&c, &v, &e);
    CHECK(st == AZS_OK, "gpu engine: %s", azs_last_error());
    const size_t nb = v.nbins;
    uint8_t *frames = malloc(NF * fb);
    double *ci = malloc(nb * sizeof(double)), *cs = malloc(nb * sizeof(double));
    azs_gpu_item *items = e ? azs_gpu_host_items(e, 0) : NULL;
    size_t nitems = 0, cap = e ? azs_gpu_items_capacity(e) : 0, sizes[NF];
    uint32_t maxb = 0;
    int32_t hs[NF];
    for (uint32_t j = 0; j < NF && e; j++) {
        fill_frame(fc, j, frames + j * fb);
        uint8_t *ch = azs_gpu_host_chunk(e, 0, j);
        sizes[j] = tu_encode_bslz4(frames + j * fb, NPIX, es, 8192 / es, ch);
        if (j == BAD) /* a match offset beyond the output, or any other damage */
            for (size_t k = 40; k < sizes[j]; k += 97) ch[k] ^= 0x5A;
        size_t ni = 0;
        uint32_t mb = 0;
        hs[j] = azs_gpu_plan_chunk(AZS_CODEC_BSLZ4, es, ch, sizes[j], fb, j, items + nitems,
                                   cap - nitems, &ni, &mb);
        if (hs[j] == AZS_OK) {
            nitems += ni;
            maxb = mb > maxb ? mb : maxb;
        }
    }
    const double *gi = NULL, *gs = NULL;
    const int32_t *gst = NULL;
    if (e) {
        st = azs_gpu_submit(e, 0, NF, sizes, nitems, maxb, hs);
        CHECK(st == AZS_OK, "submit: %s", azs_last_error());
        st = azs_gpu_wait(e, 0, &gi, &gs, &gst, NULL);
        CHECK(st == AZS_OK, "wait: %s", azs_last_error());
    }
    uint32_t same = 0, compared = 0;
    double worst = 0;
    for (uint32_t j = 0; j < NF && gi && gst; j++) {
        if (j == BAD) {
            CHECK(gst[j] != AZS_OK, "corrupt frame %u reported ok", j);
            continue;
        }
        CHECK(gst[j] == AZS_OK, "frame %u: GPU status %d", j, gst[j]);
        azs_frame_result r = {0};
        r.intensity = ci;
        r.sigma = em != AZS_ERRMODEL_NONE ? cs : NULL;
        CHECK(azs_integrate_frame(it, ws, frames + j * fb, fc->dtype, &r) == AZS_OK, "cpu: %s",
              azs_last_error());
        const double *g1 = gi + j * nb, *g2 = gs ? gs + j * nb : NULL;
        int eq = memcmp(g1, ci, nb * sizeof(double)) == 0 &&
                 (!r.sigma || (g2 && memcmp(g2, cs, nb * sizeof(double)) == 0));
        compared++;
        same += eq;
        for (size_t b = 0; b < nb && !eq; b++) {
            double d = fabs(g1[b] - ci[b]) / (fabs(ci[b]) > 1e-300 ? fabs(ci[b]) : 1.0);
            if (!(d <= worst)) worst = d;
            if (r.sigma && g2) {
                d = fabs(g2[b] - cs[b]) / (fabs(cs[b]) > 1e-300 ? fabs(cs[b]) : 1.0);
                if (!(d <= worst)) worst = d;
            }
        }
    }
    printf("%3d  %-4s  %4ux%-4u %-9s  %-40s  %2u/%2u frames bit-identical%s", ++*ncase,
           split_name[split], npt_azim, npt, em_name[em], fc->name, same, compared,
           same == compared && compared ? "" : "  FAIL");
    if (same != compared) printf(" (worst relative difference %.3g)", worst);
    printf("\n");
    CHECK(compared == NF - 1 && same == compared, "%s split %s %ux%u %s: %u of %u frames differ",
          fc->name, split_name[split], npt_azim, npt, em_name[em], compared - same, compared);
    azs_gpu_engine_destroy(e);
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
    free(frames);
    free(ci);
    free(cs);
}

int main(int argc, char **argv)
{
    if (azs_gpu_available() == 0) {
        printf("no CUDA device: skipped\n");
        return SKIP;
    }
    const int quick = argc > 1 && !strcmp(argv[1], "--quick");
    for (int p = 0; p < NPIX; p++) {
        dark[p] = (float)(p % 7) * 0.375f;
        flat[p] = 0.8f + 0.4f * (float)((p * 31) % 97) / 97.0f;
    }
    azs_geometry g;
    make_geometry(&g);
    /* 1D; 2D with few bins (segment kernel + fold); 2D with >= 8192 bins (row kernel) */
    const uint32_t shapes[3][2] = {{300, 0}, {100, 36}, {128, 72}};
    int ncase = 0;
    printf("  #  split  azim x rad error     frames                                    result\n");
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 3; d++)
            for (int em = 0; em < 3; em++)
                for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
                    if (quick && k != 0 && k != 2) continue;
                    run(&g, (azs_split)s, shapes[d][0], shapes[d][1], (azs_error_model)em,
                        &cases[k], &ncase);
                }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("gpu integrate: %d cases, every profile bit-identical to azs_integrate_frame\n", ncase);
    return 0;
}
