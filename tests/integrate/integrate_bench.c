/* Benchmark driver (not a test): build the matrix for a PONI and time the engines on one
 * raw frame repeated. Driven by bench/integrate_engine.py, which runs pyFAI alongside.
 *   integrate_bench PONI FRAME.raw DTYPE(u16|u32|i32|f32) SPLIT(no|bbox|full) NPT NPT_AZIM NFRAMES
 * Prints key=value lines. AZS_KERNEL=portable caps the CPU features to SSE2 (the portable
 * segment kernel instead of AVX2 gathers; same bits). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/integrate.h"
#include "common/cpu.h"
#include "integrate/tiled.h"

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s PONI FRAME DTYPE SPLIT NPT NPT_AZIM NFRAMES\n", argv[0]);
        return 2;
    }
    const char *kern = getenv("AZS_KERNEL");
    if (kern && !strcmp(kern, "portable")) azs_cpu_limit(AZS_CPU_SSE2);
    printf("kernel=%s\n", azs_tiled_kernel_name());
    azs_geometry g;
    if (azs_poni_load(argv[1], &g) != AZS_OK) { fprintf(stderr, "%s\n", azs_last_error()); return 1; }
    azs_dtype t = !strcmp(argv[3], "u16") ? AZS_U16 : !strcmp(argv[3], "u32") ? AZS_U32
                : !strcmp(argv[3], "i32") ? AZS_I32 : AZS_F32;
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    o.split = !strcmp(argv[4], "no") ? AZS_SPLIT_NO : !strcmp(argv[4], "full") ? AZS_SPLIT_FULL : AZS_SPLIT_BBOX;
    o.npt = (uint32_t)atoi(argv[5]);
    o.npt_azim = (uint32_t)atoi(argv[6]);
    int nframes = atoi(argv[7]);
    o.has_polarization = 1;
    o.polarization_factor = 0.99;
    o.has_dummy = 1;
    o.dummy = t == AZS_U32 ? 4294967295.0 : -1.0;
    size_t n = (size_t)g.det.ny * g.det.nx, es = azs_dtype_size(t);
    void *frame = malloc(n * es);
    FILE *f = fopen(argv[2], "rb");
    if (!f || fread(frame, es, n, f) != n) { fprintf(stderr, "cannot read %s\n", argv[2]); return 1; }
    fclose(f);
    double t0 = now();
    azs_integrator *it;
    if (azs_integrator_create(&g, &o, &it) != AZS_OK) { fprintf(stderr, "%s\n", azs_last_error()); return 1; }
    double t1 = now();
    azs_csr_view v;
    azs_integrator_csr(it, &v);
    printf("build_s=%.3f\nnnz=%llu\nmatrix_bytes=%zu\n", t1 - t0, (unsigned long long)v.indptr[v.nbins],
           azs_integrator_memory(it));
    azs_workspace *ws;
    azs_workspace_create(it, &ws);
    size_t nb = azs_integrator_nbins(it);
    double *I = malloc(nb * 8), *sg = malloc(nb * 8);
    azs_frame_result r = {0};
    r.intensity = I;
    r.sigma = sg;
    azs_integrate_frame(it, ws, frame, t, &r); /* warm up */
    t0 = now();
    for (int k = 0; k < nframes; k++) azs_integrate_frame(it, ws, frame, t, &r);
    t1 = now();
    printf("serial_fps=%.2f\n", nframes / (t1 - t0));
    azs_integrate_frame_omp(it, ws, frame, t, &r);
    t0 = now();
    for (int k = 0; k < nframes; k++) azs_integrate_frame_omp(it, ws, frame, t, &r);
    t1 = now();
    printf("omp_fps=%.2f\n", nframes / (t1 - t0));
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
    free(frame); free(I); free(sg);
    return 0;
}
