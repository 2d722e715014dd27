/* GPU engine end to end on synthetic data: frames encoded by the independent test encoder,
 * a random bbox-like CSR matrix (each pixel split over 1-3 neighbouring bins, some pixels
 * masked), dummies, dark, Poisson variance; the profiles are compared with a plain double
 * loop over the matrix written here from the preprocessing rules of integrate.h. Batches
 * of 13 frames (not a multiple of the kernel's 8-frame chunk) on two slots in flight; one
 * corrupt frame per batch must come back with an error status, the others exact.
 * Exit 77 (skip) without a device. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "gpu_test_util.h"

static int failures;

typedef struct {
    uint32_t nbins;
    uint64_t npix;
    uint64_t *indptr;
    uint32_t *indices;
    float *weights, *norm, *dark;
} mat_t;

static void make_matrix(mat_t *m, uint32_t ny, uint32_t nx, uint32_t nbins, int with_dark)
{
    m->nbins = nbins;
    m->npix = (uint64_t)ny * nx;
    uint32_t *cnt = calloc(nbins + 1, sizeof *cnt);
    /* pixel → first bin by distance from an off-centre point, span 1-3 bins */
    uint32_t *b0 = malloc(m->npix * sizeof *b0);
    uint8_t *span = malloc(m->npix);
    double rmax = sqrt((double)ny * ny + (double)nx * nx);
    for (uint64_t p = 0; p < m->npix; p++) {
        double y = (double)(p / nx) - 0.3 * ny, x = (double)(p % nx) - 0.6 * nx;
        uint32_t b = (uint32_t)(sqrt(y * y + x * x) / rmax * (nbins - 2));
        b0[p] = b;
        span[p] = (tu_next() % 20 == 0) ? 0 : (uint8_t)(1 + tu_next() % 3); /* 0 = masked */
        for (int k = 0; k < span[p]; k++)
            cnt[b + k]++;
    }
    m->indptr = malloc((nbins + 1) * sizeof(uint64_t));
    m->indptr[0] = 0;
    for (uint32_t b = 0; b < nbins; b++)
        m->indptr[b + 1] = m->indptr[b] + cnt[b];
    uint64_t nnz = m->indptr[nbins];
    m->indices = malloc(nnz * sizeof(uint32_t));
    m->weights = malloc(nnz * sizeof(float));
    memset(cnt, 0, (nbins + 1) * sizeof *cnt);
    for (uint64_t p = 0; p < m->npix; p++) /* increasing p within each row, as CSR builders do */
        for (int k = 0; k < span[p]; k++) {
            uint32_t b = b0[p] + k;
            uint64_t e = m->indptr[b] + cnt[b]++;
            m->indices[e] = (uint32_t)p;
            m->weights[e] = (float)(1.0 / span[p] * (0.8 + 0.4 * (double)(tu_next() % 1000) / 1000));
        }
    m->norm = malloc(m->npix * sizeof(float));
    m->dark = with_dark ? malloc(m->npix * sizeof(float)) : NULL;
    for (uint64_t p = 0; p < m->npix; p++) {
        m->norm[p] = (float)(0.5 + (double)(tu_next() % 10000) / 10000);
        if (m->dark)
            m->dark[p] = (float)((double)(tu_next() % 1000) / 500);
    }
    free(cnt);
    free(b0);
    free(span);
}

static double pix(const uint8_t *f, azs_dtype t, uint64_t p)
{
    switch (t) {
    case AZS_U16: { uint16_t v; memcpy(&v, f + p * 2, 2); return v; }
    case AZS_U32: { uint32_t v; memcpy(&v, f + p * 4, 4); return v; }
    case AZS_F32: { float v; memcpy(&v, f + p * 4, 4); return v; }
    default: return NAN;
    }
}

/* Reference: integrate.h's rules in a plain double loop. */
static void reference(const mat_t *m, const uint8_t *frame, azs_dtype t, int has_dummy, double dummy,
                      double delta, int poisson, double *inten, double *sig)
{
    for (uint32_t b = 0; b < m->nbins; b++) {
        double s_sig = 0, s_var = 0, s_norm = 0;
        for (uint64_t e = m->indptr[b]; e < m->indptr[b + 1]; e++) {
            uint32_t p = m->indices[e];
            double raw = pix(frame, t, p);
            if (has_dummy && fabs(raw - dummy) <= delta)
                continue;
            double w = m->weights[e];
            double s = raw - (m->dark ? m->dark[p] : 0.0);
            double v = raw > 1.0 ? raw : 1.0;
            s_sig += w * s;
            s_var += w * w * v;
            s_norm += w * (double)m->norm[p];
        }
        inten[b] = s_norm != 0 ? s_sig / s_norm : 0;
        sig[b] = poisson && s_norm != 0 ? sqrt(s_var) / s_norm : 0;
    }
}

static void fill_frame(uint8_t *f, azs_dtype t, uint64_t n, double dummy)
{
    for (uint64_t p = 0; p < n; p++) {
        uint64_t r = tu_next();
        double v = (double)((r >> 33) % 50) + ((r & 255) == 0 ? 1e5 : 0);
        if ((r >> 8 & 511) == 0)
            v = dummy;
        if (t == AZS_U16) { uint16_t x = (uint16_t)(v > 65535 ? 65535 : v); memcpy(f + p * 2, &x, 2); }
        if (t == AZS_U32) { uint32_t x = (uint32_t)v; memcpy(f + p * 4, &x, 4); }
        if (t == AZS_F32) { float x = (float)(v == dummy ? v : v + 0.25 * (double)(r >> 60)); memcpy(f + p * 4, &x, 4); }
    }
}

static void run_case(azs_dtype t, int with_dark, int poisson, double dummy, double delta)
{
    const uint32_t ny = 317, nx = 411, nbins = 300, B = 13, NB = 2;
    size_t s = azs_dtype_size(t);
    mat_t m;
    make_matrix(&m, ny, nx, nbins, with_dark);
    azs_csr_view v = {m.nbins, m.npix, m.indptr, m.indices, m.weights, m.norm, m.dark};
    azs_gpu_config c;
    azs_gpu_config_default(&c);
    c.batch = B;
    c.nslots = NB;
    c.codec = AZS_CODEC_BSLZ4;
    c.dtype = t;
    c.npixels = m.npix;
    c.chunk_stride = 2 * m.npix * s + 4096;
    c.has_dummy = 1;
    c.dummy = dummy;
    c.delta_dummy = delta;
    c.error_model = poisson ? AZS_ERRMODEL_POISSON : AZS_ERRMODEL_NONE;
    azs_gpu_engine *e = NULL;
    azs_status rc = azs_gpu_engine_create(&c, &v, &e);
    if (rc != AZS_OK) {
        fprintf(stderr, "engine: %s\n", azs_last_error());
        failures++;
        return;
    }
    uint8_t *frames = malloc((size_t)NB * B * m.npix * s);
    size_t sizes[2][13];
    for (uint32_t sl = 0; sl < NB; sl++) {
        azs_gpu_item *items = azs_gpu_host_items(e, sl);
        size_t nitems = 0, cap = azs_gpu_items_capacity(e);
        uint32_t maxb = 0;
        int32_t hs[13];
        for (uint32_t i = 0; i < B; i++) {
            uint8_t *f = frames + ((size_t)sl * B + i) * m.npix * s;
            fill_frame(f, t, m.npix, dummy);
            uint8_t *ch = azs_gpu_host_chunk(e, sl, i);
            sizes[sl][i] = tu_encode_bslz4(f, m.npix, s, 8192 / s, ch);
            if (i == 5 + sl) /* one corrupt frame per batch: a match offset beyond the output */
                for (size_t k = 40; k < sizes[sl][i]; k += 97)
                    ch[k] ^= 0x5A;
            size_t ni;
            uint32_t mb;
            hs[i] = azs_gpu_plan_chunk(AZS_CODEC_BSLZ4, s, ch, sizes[sl][i], m.npix * s, i,
                                       items + nitems, cap - nitems, &ni, &mb);
            if (hs[i] == AZS_OK) {
                nitems += ni;
                maxb = mb > maxb ? mb : maxb;
            }
        }
        rc = azs_gpu_submit(e, sl, B, sizes[sl], nitems, maxb, hs);
        if (rc != AZS_OK) {
            fprintf(stderr, "submit: %s\n", azs_last_error());
            failures++;
        }
    }
    double *ri = malloc(nbins * sizeof(double)), *rs = malloc(nbins * sizeof(double));
    double worst = 0;
    for (uint32_t sl = 0; sl < NB; sl++) {
        const double *gi, *gs;
        const int32_t *st;
        float ms;
        rc = azs_gpu_wait(e, sl, &gi, &gs, &st, &ms);
        if (rc != AZS_OK) {
            fprintf(stderr, "wait: %s\n", azs_last_error());
            failures++;
            continue;
        }
        for (uint32_t i = 0; i < B; i++) {
            if (i == 5 + sl) {
                if (st[i] == AZS_OK) {
                    fprintf(stderr, "FAIL: corrupt frame %u of slot %u reported ok\n", i, sl);
                    failures++;
                }
                continue;
            }
            if (st[i] != AZS_OK) {
                fprintf(stderr, "FAIL: frame %u slot %u status %d\n", i, sl, st[i]);
                failures++;
                continue;
            }
            reference(&m, frames + ((size_t)sl * B + i) * m.npix * s, t, 1, dummy, delta, poisson, ri, rs);
            for (uint32_t b = 0; b < nbins; b++) {
                double gv = gi[(size_t)i * nbins + b];
                double d = fabs(gv - ri[b]) / (fabs(ri[b]) > 1e-300 ? fabs(ri[b]) : 1.0);
                if (!(d <= worst))
                    worst = d; /* NaN sticks */
                if (poisson) {
                    double gsv = gs[(size_t)i * nbins + b];
                    d = fabs(gsv - rs[b]) / (fabs(rs[b]) > 1e-300 ? fabs(rs[b]) : 1.0);
                    if (!(d <= worst))
                        worst = d;
                }
            }
        }
    }
    printf("dtype %s dark %d poisson %d: worst relative difference %.3g (nnz %llu)\n",
           azs_dtype_name(t), with_dark, poisson, worst, (unsigned long long)m.indptr[nbins]);
    if (!(worst <= 1e-9)) {
        fprintf(stderr, "FAIL: worst relative difference %.3g > 1e-9\n", worst);
        failures++;
    }
    azs_gpu_engine_destroy(e);
    free(frames);
    free(ri);
    free(rs);
    free(m.indptr);
    free(m.indices);
    free(m.weights);
    free(m.norm);
    free(m.dark);
}

int main(void)
{
    if (azs_gpu_available() == 0) {
        printf("no CUDA device: skipped\n");
        return SKIP;
    }
    run_case(AZS_U32, 0, 0, 4294967295.0, 0.0);
    run_case(AZS_U32, 1, 1, 4294967295.0, 0.0);
    run_case(AZS_U16, 0, 1, 65535.0, 0.0);
    run_case(AZS_F32, 1, 1, -1.0, 0.5);
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("gpu integrate: all cases match the double reference\n");
    return 0;
}
