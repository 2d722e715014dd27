/* Unit checks of the integration module that need no reference program (run under ASan):
 * matrix structure, per-pixel weights summing to 1, mask applied at build time, the
 * OpenMP engine equal to the serial one bit for bit, every input type giving the same
 * result, dummy pixels skipped exactly as if masked, a flat frame integrating to itself,
 * and clear errors for bad arguments. Positions come from a simple analytic geometry
 * (distance and angle from a point near the middle of a small detector). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/integrate.h"
#include "integrate/integrator_internal.h"

#define NY 37
#define NX 53
#include "../common/check.h"
#include "analytic_positions.h"

static double rad[NY * NX], chi[NY * NX], radc[(NY + 1) * (NX + 1)], chic[(NY + 1) * (NX + 1)];

static void make_positions(void)
{
    analytic_positions(NY, NX, 15.3, 21.7, rad, chi, radc, chic);
}

static azs_integrator *build(azs_split split, uint32_t npt_azim, const uint8_t *mask,
                             const azs_integrate_options *base)
{
    azs_integrate_options o;
    if (base) o = *base;
    else azs_integrate_options_default(&o);
    o.npt = 40;
    o.npt_azim = npt_azim;
    o.split = split;
    azs_positions pos = {NY, NX, rad, chi, radc, chic, 1000.0, 3, 0};
    azs_integrator *it = NULL;
    azs_status st = azs_integrator_create_from_positions(&pos, NULL, NULL, mask, &o, &it);
    CHECK(st == AZS_OK, "create split %d azim %u: %s", (int)split, npt_azim, azs_last_error());
    return it;
}

static void integrate(const azs_integrator *it, const void *px, azs_dtype t, double *I,
                      double *cnt, int omp)
{
    azs_workspace *ws = NULL;
    CHECK(azs_workspace_create(it, &ws) == AZS_OK, "workspace");
    azs_frame_result r = {0};
    r.intensity = I;
    r.count = cnt;
    azs_status st = (omp ? azs_integrate_frame_omp : azs_integrate_frame)(it, ws, px, t, &r);
    CHECK(st == AZS_OK, "integrate: %s", azs_last_error());
    azs_workspace_destroy(ws);
}

int main(void)
{
    make_positions();
    static uint8_t mask[NY * NX];
    for (int p = 0; p < NY * NX; p++) mask[p] = (p % 17) == 3;
    static uint16_t f16[NY * NX];
    static uint8_t f8[NY * NX];
    static uint32_t f32u[NY * NX];
    static int32_t fi32[NY * NX];
    static float ff[NY * NX];
    static double fd[NY * NX];
    for (int p = 0; p < NY * NX; p++) {
        f16[p] = (uint16_t)((p * 7919) % 251);
        f8[p] = (uint8_t)f16[p];
        f32u[p] = f16[p];
        fi32[p] = f16[p];
        ff[p] = f16[p];
        fd[p] = f16[p];
    }
    const azs_split splits[3] = {AZS_SPLIT_NO, AZS_SPLIT_BBOX, AZS_SPLIT_FULL};
    for (int s = 0; s < 3; s++)
        for (int d = 0; d < 2; d++) {
            uint32_t na = d ? 12 : 0;
            azs_integrator *it = build(splits[s], na, mask, NULL);
            if (!it) continue;
            azs_csr_view v;
            CHECK(azs_integrator_csr(it, &v) == AZS_OK, "csr view");
            CHECK(v.nbins == azs_integrator_nbins(it) && v.nbins == 40u * (na ? na : 1), "nbins");
            CHECK(v.npixels == NY * NX, "npixels");
            CHECK(v.indptr[0] == 0, "indptr[0]");
            static double wsum[NY * NX];
            memset(wsum, 0, sizeof wsum);
            for (uint32_t b = 0; b < v.nbins; b++) {
                CHECK(v.indptr[b + 1] >= v.indptr[b], "indptr not monotonic at %u", b);
                for (uint64_t k = v.indptr[b]; k < v.indptr[b + 1]; k++) {
                    CHECK(v.indices[k] < NY * NX, "index out of range");
                    if (k > v.indptr[b]) CHECK(v.indices[k] > v.indices[k - 1], "row %u unsorted", b);
                    wsum[v.indices[k]] += v.weights[k];
                }
            }
            /* no range given: every unmasked pixel is entirely inside, weights sum to 1 */
            for (int p = 0; p < NY * NX; p++) {
                if (mask[p]) CHECK(wsum[p] == 0, "masked pixel %d has weight %g", p, wsum[p]);
                else CHECK(fabs(wsum[p] - 1) < 2e-5, "split %d/%u pixel %d: weights sum to %.9g", s, na, p, wsum[p]);
            }
            const double *r = azs_integrator_radial(it);
            for (int b = 1; b < 40; b++) CHECK(r[b] > r[b - 1], "radial not increasing");
            if (na) {
                const double *a = azs_integrator_azimuthal(it);
                CHECK(a && a[0] >= -180.0001 && a[na - 1] <= 180.0001, "azimuthal range");
            } else {
                CHECK(azs_integrator_azimuthal(it) == NULL, "1D has no azimuthal axis");
            }
            /* every input type → identical numbers; OpenMP = serial bit for bit */
            size_t nb = v.nbins;
            double *I0 = calloc(nb, 8), *I1 = calloc(nb, 8), *c0 = calloc(nb, 8), *c1 = calloc(nb, 8);
            integrate(it, ff, AZS_F32, I0, c0, 0);
            const void *frames[5] = {f16, f8, f32u, fi32, fd};
            const azs_dtype types[5] = {AZS_U16, AZS_U8, AZS_U32, AZS_I32, AZS_F64};
            for (int t = 0; t < 5; t++) {
                integrate(it, frames[t], types[t], I1, c1, t & 1);
                CHECK(!memcmp(I0, I1, nb * 8) && !memcmp(c0, c1, nb * 8), "type %s differs",
                      azs_dtype_name(types[t]));
            }
            /* a flat frame integrates to itself in every non-empty bin */
            static float flat[NY * NX];
            for (int p = 0; p < NY * NX; p++) flat[p] = 42.0f;
            integrate(it, flat, AZS_F32, I1, c1, 1);
            for (size_t b = 0; b < nb; b++)
                CHECK(c1[b] == 0 ? I1[b] == 0 : fabs(I1[b] - 42) < 1e-9, "flat bin %zu: %g", b, I1[b]);
            azs_integrator_destroy(it);

            /* dummy: pixels equal to the dummy value are skipped exactly as if masked */
            azs_integrate_options o;
            azs_integrate_options_default(&o);
            o.has_dummy = 1;
            o.dummy = 250;
            static uint8_t mask2[NY * NX];
            for (int p = 0; p < NY * NX; p++) mask2[p] = mask[p] || f16[p] == 250;
            azs_integrator *a = build(splits[s], na, mask, &o), *m = build(splits[s], na, mask2, NULL);
            if (a && m) {
                integrate(a, f16, AZS_U16, I0, c0, 0);
                integrate(m, f16, AZS_U16, I1, c1, 0);
                CHECK(!memcmp(I0, I1, nb * 8) && !memcmp(c0, c1, nb * 8), "dummy != mask");
            }
            azs_integrator_destroy(a);
            azs_integrator_destroy(m);
            free(I0); free(I1); free(c0); free(c1);
        }

    /* errors */
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    azs_positions pos = {NY, NX, rad, chi, radc, chic, 1000.0, 3, 0};
    azs_integrator *it = NULL;
    o.npt = 0;
    CHECK(azs_integrator_create_from_positions(&pos, NULL, NULL, NULL, &o, &it) == AZS_ERR_INVALID_ARG && !it &&
          strstr(azs_last_error(), "npt"), "npt 0: %s", azs_last_error());
    o.npt = 10;
    static uint8_t all[NY * NX];
    memset(all, 1, sizeof all);
    CHECK(azs_integrator_create_from_positions(&pos, NULL, NULL, all, &o, &it) == AZS_ERR_INVALID_ARG &&
          strstr(azs_last_error(), "masked"), "all masked: %s", azs_last_error());
    o.error_model = (azs_error_model)7;
    CHECK(azs_integrator_create_from_positions(&pos, NULL, NULL, NULL, &o, &it) == AZS_ERR_INVALID_ARG,
          "unknown error model");
    o.error_model = AZS_ERRMODEL_NONE;
    o.has_radial_range = 1;
    o.radial_min = 5;
    o.radial_max = 5;
    CHECK(azs_integrator_create_from_positions(&pos, NULL, NULL, NULL, &o, &it) == AZS_ERR_INVALID_ARG,
          "empty range");
    o.has_radial_range = 0;
    CHECK(azs_integrator_create_from_positions(&pos, NULL, NULL, NULL, &o, &it) == AZS_OK, "create");
    double I[10];
    azs_frame_result r = {0};
    r.intensity = I;
    /* 64-bit integers are integrated now (float32, as pyFAI); a non-type is refused */
    CHECK(azs_integrate_frame(it, NULL, f16, AZS_DTYPE_INVALID, &r) == AZS_ERR_UNSUPPORTED, "invalid dtype");
    CHECK(azs_integrate_frame(it, NULL, NULL, AZS_U16, &r) == AZS_ERR_INVALID_ARG, "NULL frame");
    CHECK(azs_integrate_frame(it, NULL, f16, AZS_U16, &r) == AZS_ERR_INVALID_ARG &&
              strstr(azs_last_error(), "workspace"), "NULL workspace: %s", azs_last_error());
    CHECK(azs_integrator_memory(it) > 0, "memory");
    azs_integrator_destroy(it);
    azs_integrator_destroy(NULL);
    azs_workspace_destroy(NULL);
    azs_geometry g;
    memset(&g, 0, sizeof g);
    CHECK(azs_integrator_create(&g, &o, &it) == AZS_ERR_INVALID_ARG, "no shape: %s", azs_last_error());
    if (failures) fprintf(stderr, "%d failure(s)\n", failures);
    else printf("integrate unit checks: ok\n");
    return failures != 0;
}
