/* GPU engine benchmark on a W1-like workload (doc/design.md) that needs no other module:
 * Eiger2 4M frames (2162×2068 uint32, bitshuffle-LZ4, module gaps = 0xFFFFFFFF dummies),
 * synthetic Poisson counts (or a real raw chunk from a file), a radial 1000-bin matrix with
 * bbox-like (2-3 bins per pixel) or full-like (3-4) splitting.
 *
 * Prints: PCIe H2D and HBM D2D bandwidth (the two ceilings), kernel-only frames/s (decode,
 * integrate) and end-to-end frames/s from host memory (memcpy into pinned buffers + CPU
 * plan on OpenMP threads, upload, kernels, download, several slots in flight), with the
 * fraction of the PCIe floor. Usage:
 *   gpu_bench [--split bbox|full] [--batch B] [--slots S] [--frames N] [--mean M]
 *             [--real chunk.bin NY NX] [--reps R] [--device K] */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../tests/gpu/gpu_test_util.h"
#include "azstream/gpu.h"
#include "common/clock.h"
#include "gpu_bench_synth.h"


int main(int argc, char **argv)
{
    const char *split = "bbox", *real = NULL;
    uint32_t B = 32, S = 3, reps = 20, ny = 2162, nx = 2068, nbins = 1000;
    uint64_t N = 20000;
    double mean = 0.5;
    int device = 0;
    unsigned long long expect_fnv = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--split") && i + 1 < argc) split = argv[++i];
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc) B = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--slots") && i + 1 < argc) S = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--frames") && i + 1 < argc) N = (uint64_t)atoll(argv[++i]);
        else if (!strcmp(argv[i], "--mean") && i + 1 < argc) mean = atof(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc) reps = (uint32_t)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--expect-fnv") && i + 1 < argc)
            expect_fnv = strtoull(argv[++i], NULL, 16);
        else if (!strcmp(argv[i], "--real") && i + 3 < argc) {
            real = argv[++i];
            ny = (uint32_t)atoi(argv[++i]);
            nx = (uint32_t)atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: see the comment at the top of bench/gpu_bench.c\n");
            return 2;
        }
    }
    if (azs_gpu_available() == 0) {
        printf("no CUDA device\n");
        return 77;
    }
    const uint64_t npx = (uint64_t)ny * nx;
    const size_t fbytes = npx * 4;
    double h2d = 0, d2d = 0;
    if (azs_gpu_measure_bandwidth(device, (size_t)512 << 20, &h2d, &d2d) != AZS_OK)
        fprintf(stderr, "bandwidth: %s\n", azs_last_error());
    printf("ceilings: H2D pinned %.1f GB/s, D2D %.0f GB/s (read+write)\n", h2d, d2d);

    /* frames */
    enum { K = 8 };
    uint8_t *chunk[K];
    size_t csize[K], maxc = 0;
    int nk = K;
    if (real) {
        FILE *f = fopen(real, "rb");
        if (!f) { perror(real); return 1; }
        fseek(f, 0, SEEK_END);
        long sz = ftell(f);
        fseek(f, 0, SEEK_SET);
        chunk[0] = malloc((size_t)sz);
        if (fread(chunk[0], 1, (size_t)sz, f) != (size_t)sz) { perror("read"); return 1; }
        fclose(f);
        csize[0] = (size_t)sz;
        nk = 1;
    } else {
        double t0 = azs_now_seconds();
        for (int k = 0; k < K; k++)
            chunk[k] = gb_synth_frame(ny, nx, mean, &csize[k]);
        fprintf(stderr, "synthesised %d frames in %.1f s\n", K, azs_now_seconds() - t0);
    }
    double cavg = 0;
    for (int k = 0; k < nk; k++) {
        cavg += (double)csize[k] / nk;
        if (csize[k] > maxc) maxc = csize[k];
    }
    printf("frame %ux%u uint32: %.2f MB compressed (ratio %.2f)\n", ny, nx, cavg / 1e6,
           (double)fbytes / cavg);

    /* matrix: radial bins around an off-centre beam, each pixel spread over a window */
    const double half = !strcmp(split, "full") ? 1.3 : 0.75; /* window half-width in bins */
    double cy = 0.45 * ny, cx = 0.55 * nx, rmax = 0;
    for (int c = 0; c < 4; c++) {
        double dy = (c & 1 ? ny : 0) - cy, dx = (c & 2 ? nx : 0) - cx;
        double r = sqrt(dy * dy + dx * dx);
        if (r > rmax) rmax = r;
    }
    uint64_t *indptr = calloc(nbins + 1, sizeof *indptr);
    /* count, then fill */
    uint32_t *cnt = calloc(nbins, sizeof *cnt);
    for (uint64_t p = 0; p < npx; p++) {
        double dy = (double)(p / nx) + 0.5 - cy, dx = (double)(p % nx) + 0.5 - cx;
        double r = sqrt(dy * dy + dx * dx) / rmax * (nbins - 3) + 1.5;
        for (int b = (int)floor(r - half); b <= (int)floor(r + half); b++)
            cnt[b]++;
    }
    for (uint32_t b = 0; b < nbins; b++)
        indptr[b + 1] = indptr[b] + cnt[b];
    uint64_t nnz = indptr[nbins];
    uint32_t *indices = malloc(nnz * 4);
    float *weights = malloc(nnz * 4), *norm = malloc(npx * 4);
    memset(cnt, 0, nbins * sizeof *cnt);
    for (uint64_t p = 0; p < npx; p++) {
        double dy = (double)(p / nx) + 0.5 - cy, dx = (double)(p % nx) + 0.5 - cx;
        double r = sqrt(dy * dy + dx * dx) / rmax * (nbins - 3) + 1.5;
        for (int b = (int)floor(r - half); b <= (int)floor(r + half); b++) {
            double lo = fmax(r - half, b), hi = fmin(r + half, b + 1.0);
            uint64_t e = indptr[b] + cnt[b]++;
            indices[e] = (uint32_t)p;
            weights[e] = (float)((hi - lo) / (2 * half));
        }
        norm[p] = (float)(0.7 + 0.3 * cos(r * 0.001));
    }
    free(cnt);
    printf("matrix %s: %u bins, %llu entries (%.2f per pixel, %.0f MB)\n", split, nbins,
           (unsigned long long)nnz, (double)nnz / npx, nnz * 8 / 1e6);
    /* the rule: the 0xFFFFFFFF module gaps are dummies, Poisson variance; the CPU's tiles */
    azs_csr_view v = {nbins, npx, indptr, indices, weights, norm, NULL,
                      {1, 4294967295.0f, 0.0f, AZS_ERRMODEL_POISSON, 0, 0.0f}, 8192};

    azs_gpu_config c;
    azs_gpu_config_default(&c);
    c.device = device;
    c.batch = B;
    c.nslots = S;
    c.dtype = AZS_U32;
    c.npixels = npx;
    c.chunk_stride = maxc;
    azs_gpu_engine *e;
    if (azs_gpu_engine_create(&c, &v, &e) != AZS_OK) {
        fprintf(stderr, "engine: %s\n", azs_last_error());
        return 1;
    }
    const size_t maxi = azs_gpu_max_items_per_frame(AZS_CODEC_BSLZ4, 4, fbytes);
    azs_gpu_item *scratch = malloc((size_t)B * maxi * sizeof *scratch);
    size_t *nit = malloc(B * sizeof *nit), *sizes = malloc(B * sizeof *sizes);
    uint32_t *mbs = malloc(B * sizeof *mbs);
    int32_t *hs = malloc(B * sizeof *hs);

    /* host side of one batch: "pread" (memcpy from the page-cache copy) + plan, in parallel */
#define FILL_BATCH(slot, first, nf)                                                            \
    do {                                                                                       \
        _Pragma("omp parallel for schedule(dynamic, 1)")                                       \
        for (uint32_t i = 0; i < (nf); i++) {                                                  \
            int k = (int)(((first) + i) % (uint64_t)nk);                                       \
            uint8_t *dst = azs_gpu_host_chunk(e, (slot), i);                                   \
            memcpy(dst, chunk[k], csize[k]);                                                   \
            sizes[i] = csize[k];                                                               \
            hs[i] = azs_gpu_plan_chunk(AZS_CODEC_BSLZ4, 4, dst, csize[k], fbytes, i,           \
                                       scratch + (size_t)i * maxi, maxi, &nit[i], &mbs[i]);    \
        }                                                                                      \
        n_items = 0;                                                                           \
        max_b = 0;                                                                             \
        azs_gpu_item *items = azs_gpu_host_items(e, (slot));                                   \
        for (uint32_t i = 0; i < (nf); i++) {                                                  \
            memcpy(items + n_items, scratch + (size_t)i * maxi, nit[i] * sizeof *items);       \
            n_items += nit[i];                                                                 \
            if (mbs[i] > max_b) max_b = mbs[i];                                                \
        }                                                                                      \
    } while (0)

    size_t n_items;
    uint32_t max_b;
    FILL_BATCH(0, 0, B);
    const double *gi, *gsig;
    const int32_t *st;
    float ms_batch = 0;
    if (azs_gpu_submit(e, 0, B, sizes, n_items, max_b, hs) != AZS_OK ||
        azs_gpu_wait(e, 0, &gi, &gsig, &st, &ms_batch) != AZS_OK) {
        fprintf(stderr, "batch: %s\n", azs_last_error());
        return 1;
    }
    for (uint32_t i = 0; i < B; i++)
        if (st[i] != 0) {
            fprintf(stderr, "frame %u: status %d\n", i, st[i]);
            return 1;
        }
    if (expect_fnv) { /* decoded frame 0 against a hash of the reference decoder's output */
        uint8_t *d = malloc(fbytes);
        azs_gpu_download_decoded(e, 0, 0, d, fbytes);
        unsigned long long h = 1469598103934665603ull;
        for (size_t k = 0; k < fbytes; k++)
            h = (h ^ d[k]) * 1099511628211ull;
        free(d);
        printf("real frame decode: FNV-1a %016llx, reference %016llx: %s\n", h, expect_fnv,
               h == expect_fnv ? "bit-exact" : "MISMATCH");
        if (h != expect_fnv)
            return 1;
    }
    printf("check: I[500] of frame 0 = %.6g (sigma %.3g)\n", gi[500], gsig[500]);
    float msd = 0, msi = 0;
    azs_gpu_time_kernels(e, 0, (int)reps, &msd, &msi);
    double kfps_dec = B / (msd * 1e-3), kfps_int = B / (msi * 1e-3);
    double kfps = B / ((msd + msi) * 1e-3);
    printf("kernels per batch of %u: decode %.3f ms (%.0f frames/s, %.1f GB/s out), "
           "integrate %.3f ms (%.0f frames/s); together %.0f frames/s\n",
           B, msd, kfps_dec, B * fbytes / (msd * 1e-3) / 1e9, msi, kfps_int, kfps);

    /* end to end from host memory */
    uint64_t nb = (N + B - 1) / B;
    double t0 = azs_now_seconds(), t_host = 0;
    for (uint64_t b = 0; b < nb; b++) {
        uint32_t slot = (uint32_t)(b % S);
        uint32_t nf = (uint32_t)((b + 1) * B <= N ? B : N - b * B);
        if (b >= S && azs_gpu_wait(e, slot, &gi, &gsig, &st, NULL) != AZS_OK) {
            fprintf(stderr, "wait: %s\n", azs_last_error());
            return 1;
        }
        double th = azs_now_seconds();
        FILL_BATCH(slot, b * B, nf);
        t_host += azs_now_seconds() - th;
        if (azs_gpu_submit(e, slot, nf, sizes, n_items, max_b, hs) != AZS_OK) {
            fprintf(stderr, "submit: %s\n", azs_last_error());
            return 1;
        }
    }
    for (uint64_t b = nb > S ? nb - S : 0; b < nb; b++)
        azs_gpu_wait(e, (uint32_t)(b % S), &gi, &gsig, &st, NULL);
    double wall = azs_now_seconds() - t0;
    double fps = (double)N / wall;
    double floor_fps = h2d * 1e9 / cavg;
    printf("end to end: %llu frames in %.3f s = %.0f frames/s (host fill %.0f%% of wall, %d threads); "
           "PCIe %.1f GB/s = %.0f%% of the H2D floor (%.0f frames/s)\n",
           (unsigned long long)N, wall, fps, 100 * t_host / wall, omp_get_max_threads(),
           fps * cavg / 1e9, 100 * fps / floor_fps, floor_fps);
    printf("RESULT split=%s batch=%u slots=%u mean=%g ratio=%.2f kernel_fps=%.0f decode_fps=%.0f "
           "integrate_fps=%.0f e2e_fps=%.0f pcie_floor_fps=%.0f\n",
           split, B, S, mean, (double)fbytes / cavg, kfps, kfps_dec, kfps_int, fps, floor_fps);
    azs_gpu_engine_destroy(e);
    return 0;
}
