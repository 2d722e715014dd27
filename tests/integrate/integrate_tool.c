/* Test driver: integrate one frame from per-pixel arrays written by golden_integrate.py
 * (positions computed by pyFAI itself), write the results and the matrix back as raw
 * binary files for the Python side to compare with pyFAI. Also checks that the OpenMP
 * engine equals the serial one bit for bit.
 *   integrate_tool DIR   reads DIR/params.txt and DIR/<name>.bin, writes DIR/out_<name>.bin */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/integrate.h"
#include "integrate/integrator_internal.h"

static char dir[1024];

static void *load(const char *name, size_t size, int optional)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (optional) return NULL;
        fprintf(stderr, "cannot open %s\n", path);
        exit(2);
    }
    void *p = malloc(size ? size : 1);
    if (!p || fread(p, 1, size, f) != size) {
        fprintf(stderr, "short read %s\n", path);
        exit(2);
    }
    fclose(f);
    return p;
}

static void save(const char *name, const void *p, size_t size)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, size, f) != size) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    fclose(f);
}

static int run(azs_integrator *it, void *frame, int dtype, azs_integrate_options o)
{
    azs_status st;
    size_t nb = azs_integrator_nbins(it);
    double *r[2][8];
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 8; j++) r[k][j] = calloc(nb, sizeof(double));
    azs_workspace *ws;
    if (azs_workspace_create(it, &ws) != AZS_OK) return 1;
    for (int k = 0; k < 2; k++) {
        azs_frame_result res = {r[k][0], r[k][1], r[k][2], r[k][3], r[k][4], r[k][5], r[k][6], r[k][7]};
        st = (k ? azs_integrate_frame_omp : azs_integrate_frame)(it, ws, frame, (azs_dtype)dtype, &res);
        if (st != AZS_OK) {
            fprintf(stderr, "integrate: %s: %s\n", azs_status_str(st), azs_last_error());
            return 1;
        }
    }
    for (int j = 0; j < 8; j++)
        if (memcmp(r[0][j], r[1][j], nb * sizeof(double))) {
            fprintf(stderr, "omp engine differs from serial engine (array %d)\n", j);
            return 1;
        }
    static const char *names[8] = {"I", "sigma", "std", "sum_signal", "sum_variance",
                                   "sum_normalization", "sum_normalization2", "count"};
    for (int j = 0; j < 8; j++) {
        char nm[64];
        snprintf(nm, sizeof nm, "out_%s.bin", names[j]);
        save(nm, r[0][j], nb * sizeof(double));
    }
    save("out_radial.bin", azs_integrator_radial(it), azs_integrator_options(it)->npt * sizeof(double));
    if (o.npt_azim) save("out_azimuthal.bin", azs_integrator_azimuthal(it), o.npt_azim * sizeof(double));
    azs_csr_view v;
    azs_integrator_csr(it, &v);
    save("out_indptr.bin", v.indptr, (v.nbins + 1) * sizeof(uint64_t));
    save("out_indices.bin", v.indices, v.indptr[v.nbins] * sizeof(uint32_t));
    save("out_weights.bin", v.weights, v.indptr[v.nbins] * sizeof(float));
    for (int k = 0; k < 2; k++)
        for (int j = 0; j < 8; j++) free(r[k][j]);
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
    free(frame);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) return 2;
    snprintf(dir, sizeof dir, "%s", argv[1]);
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    char path[1200];
    snprintf(path, sizeof path, "%s/params.txt", dir);
    FILE *f = fopen(path, "r");
    if (!f) return 2;
    unsigned ny = 0, nx = 0;
    int dtype = AZS_F32, has_dark = 0, has_flat = 0, has_mask = 0;
    double scale = 1;
    int chi_disc0 = 0;
    char key[64];
    double val;
    while (fscanf(f, "%63s %lf", key, &val) == 2) {
        if (!strcmp(key, "ny")) ny = (unsigned)val;
        else if (!strcmp(key, "nx")) nx = (unsigned)val;
        else if (!strcmp(key, "npt")) o.npt = (uint32_t)val;
        else if (!strcmp(key, "npt_azim")) o.npt_azim = (uint32_t)val;
        else if (!strcmp(key, "split")) o.split = (azs_split)(int)val;
        else if (!strcmp(key, "scale")) scale = val;
        else if (!strcmp(key, "radial_min")) { o.has_radial_range = 1; o.radial_min = val; }
        else if (!strcmp(key, "radial_max")) o.radial_max = val;
        else if (!strcmp(key, "azimuth_min")) { o.has_azimuth_range = 1; o.azimuth_min = val; }
        else if (!strcmp(key, "azimuth_max")) o.azimuth_max = val;
        else if (!strcmp(key, "solid_angle")) o.solid_angle = (int)val;
        else if (!strcmp(key, "polarization")) o.has_polarization = (int)val;
        else if (!strcmp(key, "dummy")) { o.has_dummy = 1; o.dummy = val; }
        else if (!strcmp(key, "delta_dummy")) o.delta_dummy = val;
        else if (!strcmp(key, "normalization_factor")) o.normalization_factor = val;
        else if (!strcmp(key, "error_model")) o.error_model = (azs_error_model)(int)val;
        else if (!strcmp(key, "dtype")) dtype = (int)val;
        else if (!strcmp(key, "dark")) has_dark = (int)val;
        else if (!strcmp(key, "flat")) has_flat = (int)val;
        else if (!strcmp(key, "mask")) has_mask = (int)val;
        else if (!strcmp(key, "unit")) o.unit = (azs_unit)(int)val;
        else if (!strcmp(key, "pol_factor")) o.polarization_factor = val;
        else if (!strcmp(key, "pol_offset")) o.polarization_axis_offset = val;
        else if (!strcmp(key, "gaps")) o.mask_detector_gaps = (int)val;
        else if (!strcmp(key, "chi_disc0")) chi_disc0 = (int)val;
    }
    fclose(f);
    size_t n = (size_t)ny * nx, nc = (size_t)(ny + 1) * (nx + 1);
    char poni[1200];
    snprintf(poni, sizeof poni, "%s/geometry.poni", dir);
    FILE *pf = fopen(poni, "r");
    azs_integrator *it;
    azs_status st;
    void *frame;
    if (pf) { /* end to end: geometry module + azs_integrator_create */
        fclose(pf);
        azs_geometry g;
        st = azs_poni_load(poni, &g);
        if (st != AZS_OK) {
            fprintf(stderr, "poni: %s: %s\n", azs_status_str(st), azs_last_error());
            return 1;
        }
        if (g.det.ny == 0) { g.det.ny = ny; g.det.nx = nx; }
        ny = g.det.ny;
        nx = g.det.nx;
        n = (size_t)ny * nx;
        uint8_t *mask = has_mask ? load("mask.bin", n, 0) : NULL;
        float *dark = has_dark ? load("dark.bin", n * 4, 0) : NULL;
        float *flat = has_flat ? load("flat.bin", n * 4, 0) : NULL;
        o.mask = mask;
        o.dark = dark;
        o.flat = flat;
        frame = load("frame.bin", n * azs_dtype_size((azs_dtype)dtype), 0);
        st = azs_integrator_create(&g, &o, &it);
        free(mask);
        if (st != AZS_OK) {
            fprintf(stderr, "create: %s: %s\n", azs_status_str(st), azs_last_error());
            return 1;
        }
        const int rc = run(it, frame, dtype, o);
        free(dark);
        free(flat);
        return rc;
    }
    double *radial = load("radial.bin", n * 8, 0), *chi = load("chi.bin", n * 8, 0);
    double *radial_corner = load("radial_corner.bin", nc * 8, 0);
    double *chi_corner = load("chi_corner.bin", nc * 8, 0);
    azs_positions pos = {ny, nx, radial, chi, radial_corner, chi_corner, scale, 0, chi_disc0};
    double *sa = load("solid_angle.bin", n * 8, 0), *pol = load("polarization.bin", n * 8, 0);
    uint8_t *mask = has_mask ? load("mask.bin", n, 0) : NULL;
    float *dark = has_dark ? load("dark.bin", n * 4, 0) : NULL;
    float *flat = has_flat ? load("flat.bin", n * 4, 0) : NULL;
    o.dark = dark;
    o.flat = flat;
    frame = load("frame.bin", n * azs_dtype_size((azs_dtype)dtype), 0);
    st = azs_integrator_create_from_positions(&pos, sa, pol, mask, &o, &it);
    if (st != AZS_OK) {
        fprintf(stderr, "create: %s: %s\n", azs_status_str(st), azs_last_error());
        return 1;
    }
    int rc = run(it, frame, dtype, o);
    free(radial); free(chi); free(radial_corner); free(chi_corner); free(sa); free(pol);
    free(mask); free(dark); free(flat);
    return rc;
}
