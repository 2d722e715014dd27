/* Synthetic Eiger-like powder stacks (synth.h has the model and the speed trade-off).
 *
 * Model per pixel of 2θ (radians):
 *   background  b(2θ) = 4 + 40 exp(-2θ/0.25) + 12 exp(-((2θ - 0.45)/0.2)²)   (air + hump)
 *   ring r      A_r G(2θ - 2θ_r; σ_r), A_r ∝ multiplicity · Lorentz-polarization
 *               (1 + cos² 2θ)/(sin² θ cos θ) · Debye-Waller exp(-2 B sin²θ/λ²), B = 0.5 Å²,
 *               scaled so the strongest ring peaks at peak_counts;
 *               FWHM² = U tan²θ + W (Caglioti without V), U = (2e-3)², W = (9e-4)² rad².
 * Deterministic: every base frame and every frame draws from its own generator seeded from
 * (seed, index), so the output does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "common/alloc.h"
#include "common/error.h"
#include "synth/synth.h"
#ifdef _OPENMP
#include <omp.h>
#endif

#define LAB6_A 4.15689e-10 /* metres */
#define REDRAW_STRIDE 16   /* one pixel in 16 redrawn per frame */
#define TWO_PI 6.283185307179586

/* ---- random numbers: splitmix64 seeding xoshiro256** ---- */
typedef struct { uint64_t s[4]; } rng;

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream, uint64_t index)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ull) ^ (index * 0x8cb92ba72f3d8dd7ull);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rng_next(rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

static inline double rng_uniform(rng *r) { return (double)(rng_next(r) >> 11) * 0x1.0p-53; }

/* Poisson(lam): sequential inversion below 30 (exact), rounded normal above. */
static inline uint32_t poisson(rng *r, float lam)
{
    if (lam <= 0.0f)
        return 0;
    if (lam < 30.0f) {
        double u = rng_uniform(r), p = exp(-(double)lam), f = p;
        uint32_t k = 0;
        while (u > f && k < 200) {
            k++;
            p *= (double)lam / k;
            f += p;
        }
        return k;
    }
    double u1 = rng_uniform(r), u2 = rng_uniform(r);
    double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 0x1.0p-53)) * cos(TWO_PI * u2);
    double v = floor((double)lam + sqrt((double)lam) * z + 0.5);
    return v < 0 ? 0 : (v > 4e9 ? 4000000000u : (uint32_t)v);
}

/* ---- the expected image ---- */
typedef struct { double tth, sigma, amp; } ring;

static int cmp_ring(const void *a, const void *b)
{
    double x = ((const ring *)a)->tth, y = ((const ring *)b)->tth;
    return (x > y) - (x < y);
}

/* LaB6 rings up to tth_max: every N = h²+k²+l² reachable, multiplicity = number of signed
 * (h, k, l) with that N. */
static size_t lab6_rings(double lambda, double tth_max, ring *out, size_t cap)
{
    enum { M = 40 };
    static unsigned mult[3 * M * M + 1];
    memset(mult, 0, sizeof mult);
    for (int h = -M; h <= M; h++)
        for (int k = -M; k <= M; k++)
            for (int l = -M; l <= M; l++)
                mult[h * h + k * k + l * l]++;
    size_t n = 0;
    double amax = 0;
    const double lam_A = lambda * 1e10, B = 0.5;
    for (int N = 1; N <= M * M && n < cap; N++) {
        if (!mult[N])
            continue;
        double d = LAB6_A / sqrt((double)N), s = lambda / (2 * d);
        if (s >= 1)
            break;
        double th = asin(s), tth = 2 * th;
        if (tth > tth_max + 0.02)
            break;
        double lp = (1 + cos(tth) * cos(tth)) / (s * s * cos(th));
        double dw = exp(-2 * B * s * s / (lam_A * lam_A));
        double t = tan(th), fwhm = sqrt(4e-6 * t * t + 8.1e-7);
        out[n].tth = tth;
        out[n].sigma = fwhm / 2.3548200450309493;
        out[n].amp = mult[N] * lp * dw;
        if (out[n].amp > amax)
            amax = out[n].amp;
        n++;
    }
    for (size_t i = 0; i < n; i++)
        out[i].amp /= amax ? amax : 1;
    qsort(out, n, sizeof *out, cmp_ring);
    return n;
}

azs_status azs_synth_expected(const azs_synth_params *p, float *out)
{
    if (!p || !p->tth || !out || p->ny == 0 || p->nx == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_synth_expected: missing parameters");
    if (!(p->wavelength > 0))
        return azs_fail(AZS_ERR_INVALID_ARG, "synth: the geometry has no wavelength");
    const size_t n = (size_t)p->ny * p->nx;
    double tmax = 0;
    for (size_t i = 0; i < n; i++)
        if (p->tth[i] > tmax)
            tmax = p->tth[i];
    ring rings[512];
    size_t nr = lab6_rings(p->wavelength, tmax, rings, 512);
    const double peak = p->peak_counts > 0 ? p->peak_counts : 400.0;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        double t = p->tth[i];
        double v = 4 + 40 * exp(-t / 0.25) + 12 * exp(-((t - 0.45) / 0.2) * ((t - 0.45) / 0.2));
        /* rings are sorted by 2θ; only those within 6σ matter */
        size_t lo = 0, hi = nr;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (rings[mid].tth < t - 0.02)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (size_t r = lo; r < nr && rings[r].tth < t + 0.02; r++) {
            double x = (t - rings[r].tth) / rings[r].sigma;
            if (x > -6 && x < 6)
                v += peak * rings[r].amp * exp(-0.5 * x * x);
        }
        out[i] = (float)v;
    }
    return AZS_OK;
}

azs_status azs_synth_write(const char *path, const azs_synth_params *p)
{
    if (!path || !p || p->nframes == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_synth_write: missing parameters");
    const size_t n = (size_t)p->ny * p->nx, fb = n * 4;
    const unsigned nbase = (unsigned)(p->nframes < (p->nbase ? p->nbase : 4)
                                          ? p->nframes
                                          : (p->nbase ? p->nbase : 4));
    const size_t bound = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, fb, 4, 0);
    float *lam = azs_aligned_alloc(n * sizeof *lam);
    uint32_t *base = azs_aligned_alloc(nbase * fb);
    azs_status s = AZS_OK;
    azs_stack_writer *w = NULL;
    /* frames are built and encoded `batch` at a time in parallel, then written in order */
    int batch = 1;
#ifdef _OPENMP
    batch = omp_get_max_threads();
#endif
    if (batch < 1)
        batch = 1;
    if ((uint64_t)batch > p->nframes)
        batch = (int)p->nframes;
    uint32_t *frame = azs_aligned_alloc((size_t)batch * fb);
    uint8_t *enc = azs_aligned_alloc((size_t)batch * bound);
    size_t *encn = calloc((size_t)batch, sizeof *encn);
    azs_status *st = calloc((size_t)batch, sizeof *st);
    if (!lam || !base || !frame || !enc || !encn || !st) {
        s = azs_fail(AZS_ERR_NOMEM, "synth buffers for %zu pixels", n);
        goto out;
    }
    if ((s = azs_synth_expected(p, lam)) != AZS_OK)
        goto out;
#pragma omp parallel for schedule(dynamic)
    for (unsigned b = 0; b < nbase; b++) {
        rng r;
        rng_seed(&r, p->seed, 1, b);
        uint32_t *o = base + (size_t)b * n;
        for (size_t i = 0; i < n; i++)
            o[i] = poisson(&r, lam[i]);
    }
    if ((s = azs_stack_writer_create(path, p->dataset, p->nframes, p->ny, p->nx, AZS_U32,
                                     AZS_CODEC_BSLZ4, &w)) != AZS_OK)
        goto out;
    for (uint64_t f0 = 0; f0 < p->nframes && s == AZS_OK; f0 += (uint64_t)batch) {
        int nb = (int)(p->nframes - f0 < (uint64_t)batch ? p->nframes - f0 : (uint64_t)batch);
#pragma omp parallel for schedule(static, 1)
        for (int j = 0; j < nb; j++) {
            uint64_t f = f0 + (uint64_t)j;
            uint32_t *restrict o = frame + (size_t)j * n;
            memcpy(o, base + (size_t)(f % nbase) * n, fb);
            if (f >= nbase) { /* the base frames themselves go out as drawn */
                rng r;
                rng_seed(&r, p->seed, 2, f);
                size_t phase = (size_t)(rng_next(&r) % REDRAW_STRIDE);
                for (size_t i = phase; i < n; i += REDRAW_STRIDE)
                    o[i] = poisson(&r, lam[i]);
            }
            if (p->mask)
                for (size_t i = 0; i < n; i++)
                    if (p->mask[i])
                        o[i] = 0xFFFFFFFFu;
            st[j] = azs_chunk_encode(AZS_CODEC_BSLZ4, 4, 0, o, fb, enc + (size_t)j * bound, bound,
                                     &encn[j]);
        }
        for (int j = 0; j < nb && s == AZS_OK; j++) {
            s = st[j];
            if (s == AZS_OK)
                s = azs_stack_writer_put(w, f0 + (uint64_t)j, enc + (size_t)j * bound, encn[j]);
            else
                azs_fail_context(s, "synth frame %llu: ", (unsigned long long)(f0 + (uint64_t)j));
        }
    }
out:;
    azs_status sc = azs_stack_writer_close(w);
    if (s == AZS_OK)
        s = sc;
    azs_aligned_free(lam);
    azs_aligned_free(base);
    azs_aligned_free(frame);
    azs_aligned_free(enc);
    free(encn);
    free(st);
    return s;
}
