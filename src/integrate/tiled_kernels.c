/* The tiled engine's per-tile kernels (declared in tiled_kernels.h): preprocessing of a
 * tile per input type, compiled from the rules of pixel_rules.h, and the sums of a group
 * of AZS_LANES segments, portable and AVX2 (the same bits; picked at run time). */
#include <math.h>
#include <string.h>

#include "common/cpu.h"
#include "pixel_rules.h"
#include "tiled_kernels.h"

/* Branch-free zeroing on the bits (m is all ones or all zeros): SSE2 has no blend, and GCC
 * does not vectorise a float `c ? x : 0` without one; it does vectorise this. */
static inline float keep(float x, uint32_t m)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= m;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The rules (pixel_rules.h) over a tile; a skipped pixel's values are zeroed with keep().
 * DUMMY (the azs_dummy_mode) and PDARK (variance_dark) are constants in each instantiation:
 * a select on them inside the loop costs 25 % of the full path. */
#define AZS_PRE_LOOP(T, DK, DUMMY, FULL, PDARK)                                                     \
    for (uint32_t i = 0; i < n; i++) {                                                         \
        const float v = AZS_PIXEL_FLOAT(px[i]);                                                \
        const uint32_t ok = -(uint32_t)azs_pixel_kept(v, DUMMY, dv, dd);                       \
        const float d = DK ? dk[i] : 0.0f;                                                     \
        b->sn[2 * i] = keep(DK ? azs_pixel_signal(v, d) : v, ok);                              \
        b->sn[2 * i + 1] = keep(nf[i], ok);                                                    \
        if (FULL) {                                                                            \
            b->vo[2 * i] = keep(azs_pixel_variance(v, d, PDARK), ok & pois);                    \
            b->vo[2 * i + 1] = keep(1.0f, ok);                                                 \
        }                                                                                      \
    }

#define AZS_PRE_DUMMY(T, DK, FULL, PDARK)                                                      \
    do {                                                                                       \
        if (mode == AZS_DUMMY_NONE) AZS_PRE_LOOP(T, DK, AZS_DUMMY_NONE, FULL, PDARK)           \
        else if (mode == AZS_DUMMY_EXACT) AZS_PRE_LOOP(T, DK, AZS_DUMMY_EXACT, FULL, PDARK)    \
        else AZS_PRE_LOOP(T, DK, AZS_DUMMY_DELTA, FULL, PDARK)                                 \
    } while (0)

/* An AVX2 clone of each preprocessing loop (twice the SSE2 width; no FMA in "avx2", so
 * the same roundings), picked by the loader. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define AZS_PRE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AZS_PRE_CLONES
#endif

#define AZS_PRE(NAME, T)                                                                       \
    AZS_PRE_CLONES static void NAME(const azs_tiled_ctx *restrict c, const T *restrict px,    \
                                    uint64_t p0, uint32_t n, tile_buf *restrict b, int full)   \
    {                                                                                          \
        const float *restrict nf = c->norm + p0;                                               \
        const float *restrict dk = c->dark ? c->dark + p0 : NULL;                              \
        const float dv = c->rule.dummy, dd = c->rule.delta_dummy;                              \
        const int mode = azs_dummy_mode(&c->rule), pdark = c->rule.variance_dark;              \
        const uint32_t pois = c->rule.error_model == AZS_ERRMODEL_POISSON ? ~0u : 0u;          \
        if (dk) {                                                                              \
            if (full && pdark) AZS_PRE_DUMMY(T, 1, 1, 1);                                      \
            else if (full) AZS_PRE_DUMMY(T, 1, 1, 0);                                          \
            else AZS_PRE_DUMMY(T, 1, 0, 0);                                                    \
        } else {                                                                               \
            if (full) AZS_PRE_DUMMY(T, 0, 1, 0);                                               \
            else AZS_PRE_DUMMY(T, 0, 0, 0);                                                    \
        }                                                                                      \
    }
AZS_PRE(pre_u8, uint8_t)
AZS_PRE(pre_u16, uint16_t)
AZS_PRE(pre_u32, uint32_t)
AZS_PRE(pre_i8, int8_t)
AZS_PRE(pre_i16, int16_t)
AZS_PRE(pre_i32, int32_t)
AZS_PRE(pre_u64, uint64_t) /* 64-bit integers: the C cast to float, as numpy's astype(float32) */
AZS_PRE(pre_i64, int64_t)
AZS_PRE(pre_f32, float)
AZS_PRE(pre_f64, double)

/* The intensity-only preprocessing: b->sig[i] = signal (0 when skipped), as sn[2i] above;
 * returns non-zero if a used pixel was skipped (then the tile needs its per-frame norm). */
#define AZS_SIG_LOOP(T, DK, DUMMY)                                                             \
    for (uint32_t i = 0; i < n; i++) {                                                         \
        const float v = AZS_PIXEL_FLOAT(px[i]);                                                \
        const uint32_t ok = -(uint32_t)azs_pixel_kept(v, DUMMY, dv, dd);                       \
        b->sig[i] = keep(DK ? azs_pixel_signal(v, dk[i]) : v, ok);                             \
        lost |= ~ok & -(uint32_t)used[i];                                                      \
    }

#define AZS_SIG(NAME, T)                                                                       \
    AZS_PRE_CLONES static uint32_t NAME(const azs_tiled_ctx *restrict c, const T *restrict px, \
                                        uint64_t p0, uint32_t n, tile_buf *restrict b)         \
    {                                                                                          \
        const uint8_t *restrict used = c->t->used + p0;                                        \
        const float *restrict dk = c->dark ? c->dark + p0 : NULL;                              \
        const float dv = c->rule.dummy, dd = c->rule.delta_dummy;                              \
        const int mode = azs_dummy_mode(&c->rule);                                             \
        uint32_t lost = 0;                                                                     \
        if (dk) {                                                                              \
            if (mode == AZS_DUMMY_NONE) AZS_SIG_LOOP(T, 1, AZS_DUMMY_NONE)                     \
            else if (mode == AZS_DUMMY_EXACT) AZS_SIG_LOOP(T, 1, AZS_DUMMY_EXACT)              \
            else AZS_SIG_LOOP(T, 1, AZS_DUMMY_DELTA)                                           \
        } else {                                                                               \
            if (mode == AZS_DUMMY_NONE) AZS_SIG_LOOP(T, 0, AZS_DUMMY_NONE)                     \
            else if (mode == AZS_DUMMY_EXACT) AZS_SIG_LOOP(T, 0, AZS_DUMMY_EXACT)              \
            else AZS_SIG_LOOP(T, 0, AZS_DUMMY_DELTA)                                           \
        }                                                                                      \
        return lost;                                                                           \
    }
AZS_SIG(sig_u8, uint8_t)
AZS_SIG(sig_u16, uint16_t)
AZS_SIG(sig_u32, uint32_t)
AZS_SIG(sig_i8, int8_t)
AZS_SIG(sig_i16, int16_t)
AZS_SIG(sig_i32, int32_t)
AZS_SIG(sig_u64, uint64_t)
AZS_SIG(sig_i64, int64_t)
AZS_SIG(sig_f32, float)
AZS_SIG(sig_f64, double)

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* uint32 (every Eiger stack) by hand: GCC's vectorisation of AZS_SIG_LOOP for it spills,
 * and this pass was 17 % of a frame's time on the dev machine. The vector form of the
 * rules: the value as azs_u32_to_float (the product is exact, so the fused multiply-add
 * rounds as its multiply and add do), no finiteness test (a uint32 is always finite), the
 * dummy comparisons of azs_pixel_kept (NEQ_UQ: true for NaN as `!=`; NOT LE_OQ as `!(<=)`),
 * signal − dark; the tail runs the scalar rule. tests/integrate/test_pixel_rules.c checks
 * it against the scalar rule. */
__attribute__((target("avx2,fma"))) static uint32_t
sig_u32_avx2(const azs_tiled_ctx *restrict c, const uint32_t *restrict px, uint64_t p0, uint32_t n,
             tile_buf *restrict b)
{
    const uint8_t *restrict used = c->t->used + p0;
    const float *restrict dk = c->dark ? c->dark + p0 : NULL;
    const int mode = azs_dummy_mode(&c->rule);
    const __m256 dv = _mm256_set1_ps(c->rule.dummy), dd = _mm256_set1_ps(c->rule.delta_dummy);
    const __m256 k65536 = _mm256_set1_ps(65536.0f);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    __m256i lost = _mm256_setzero_si256();
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(px + i));
        const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x, 16)), k65536,
                                         _mm256_cvtepi32_ps(_mm256_and_si256(x, lo16)));
        __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        if (mode == AZS_DUMMY_EXACT) ok = _mm256_cmp_ps(v, dv, _CMP_NEQ_UQ);
        if (mode == AZS_DUMMY_DELTA)
            ok = _mm256_xor_ps(ok, _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(v, dv), absmask), dd,
                                                 _CMP_LE_OQ));
        const __m256 sgn = dk ? _mm256_sub_ps(v, _mm256_loadu_ps(dk + i)) : v;
        _mm256_storeu_ps(b->sig + i, _mm256_and_ps(sgn, ok));
        const __m256i u = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(used + i)));
        lost = _mm256_or_si256(lost, _mm256_andnot_si256(_mm256_castps_si256(ok), u));
    }
    uint32_t tail = 0;
    const float fdv = c->rule.dummy, fdd = c->rule.delta_dummy;
    for (; i < n; i++) {
        const float v = azs_u32_to_float(px[i]);
        const uint32_t ok = -(uint32_t)azs_pixel_kept(v, mode, fdv, fdd);
        b->sig[i] = keep(dk ? azs_pixel_signal(v, dk[i]) : v, ok);
        tail |= ~ok & -(uint32_t)used[i];
    }
    return tail | (uint32_t)!_mm256_testz_si256(lost, lost);
}
#endif

sig_fn azs_tiled_sig_for(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return (sig_fn)sig_u8;
    case AZS_U16: return (sig_fn)sig_u16;
    case AZS_U32:
#if defined(__x86_64__) && defined(__GNUC__)
        if ((azs_cpu_features() & (AZS_CPU_AVX2 | AZS_CPU_FMA)) == (AZS_CPU_AVX2 | AZS_CPU_FMA))
            return (sig_fn)sig_u32_avx2;
#endif
        return (sig_fn)sig_u32;
    case AZS_I8: return (sig_fn)sig_i8;
    case AZS_I16: return (sig_fn)sig_i16;
    case AZS_I32: return (sig_fn)sig_i32;
    case AZS_U64: return (sig_fn)sig_u64;
    case AZS_I64: return (sig_fn)sig_i64;
    case AZS_F32: return (sig_fn)sig_f32;
    case AZS_F64: return (sig_fn)sig_f64;
    default: return NULL;
    }
}

pre_fn azs_tiled_pre_for(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return (pre_fn)pre_u8;
    case AZS_U16: return (pre_fn)pre_u16;
    case AZS_U32: return (pre_fn)pre_u32;
    case AZS_I8: return (pre_fn)pre_i8;
    case AZS_I16: return (pre_fn)pre_i16;
    case AZS_I32: return (pre_fn)pre_i32;
    case AZS_U64: return (pre_fn)pre_u64;
    case AZS_I64: return (pre_fn)pre_i64;
    case AZS_F32: return (pre_fn)pre_f32;
    case AZS_F64: return (pre_fn)pre_f64;
    default: return NULL;
    }
}

/* Sums of one group of AZS_LANES segments, rows [r0, r1): out[q * AZS_LANES + lane] for
 * q = 0 sig, 1 var, 2 norm, 3 norm², 4 count. full = 0 computes only sig and norm (what
 * intensity needs); their values are the same either way. Each lane is a sequential sum in
 * row order; the AVX2 variant computes exactly the same operations lane-wise (no FMA). */
static inline __attribute__((always_inline)) void
group_body(const uint16_t *restrict li, const float *restrict wt, uint64_t r0, uint64_t r1,
           const tile_buf *restrict tb, int full, double *restrict out)
{
    double sg[AZS_LANES] = {0}, nm[AZS_LANES] = {0}, vr[AZS_LANES] = {0}, q[AZS_LANES] = {0},
           ct[AZS_LANES] = {0};
    for (uint64_t r = r0; r < r1; r++) {
        const uint16_t *ix = li + r * AZS_LANES;
        const float *ww = wt + r * AZS_LANES;
        for (int l = 0; l < AZS_LANES; l++) {
            const uint32_t i = ix[l];
            const double w = ww[l], wn = w * (double)tb->sn[2 * i + 1];
            sg[l] += w * (double)tb->sn[2 * i];
            nm[l] += wn;
            if (full) {
                q[l] += wn * wn;
                vr[l] += (w * w) * (double)tb->vo[2 * i];
                ct[l] += w * (double)tb->vo[2 * i + 1];
            }
        }
    }
    for (int l = 0; l < AZS_LANES; l++) {
        out[l] = sg[l];
        out[2 * AZS_LANES + l] = nm[l];
        if (full) {
            out[AZS_LANES + l] = vr[l];
            out[3 * AZS_LANES + l] = q[l];
            out[4 * AZS_LANES + l] = ct[l];
        }
    }
}

static void group_fast_portable(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                                const tile_buf *tb, double *out)
{
    group_body(li, wt, r0, r1, tb, 0, out);
}

static void group_full_portable(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                                const tile_buf *tb, double *out)
{
    group_body(li, wt, r0, r1, tb, 1, out);
}

/* The intensity-only kernel: Σ w·signal per lane (out[0..7]), the same operations as sg
 * in group_body. */

static void group_sig_portable(const uint16_t *restrict li, const float *restrict wt, uint64_t r0,
                               uint64_t r1, const float *restrict sig, double *restrict out)
{
    double sg[AZS_LANES] = {0};
    for (uint64_t r = r0; r < r1; r++)
        for (int l = 0; l < AZS_LANES; l++)
            sg[l] += (double)wt[r * AZS_LANES + l] * (double)sig[li[r * AZS_LANES + l]];
    memcpy(out, sg, sizeof sg);
}

/* The same for nf frames at once (the batch engine): each matrix row is read once for all
 * of them; frame f's lane sums go to out[f * AZS_LANES ..], the same bits as one by one. */

static void group_sig_multi_portable(const uint16_t *restrict li, const float *restrict wt,
                                     uint64_t r0, uint64_t r1, const float *const *sig, int nf,
                                     double *restrict out)
{
    for (int f = 0; f < nf; f++) group_sig_portable(li, wt, r0, r1, sig[f], out + f * AZS_LANES);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Eight lanes: four doubles in each of two registers per quantity. A lane's (signal, norm)
 * pair is one 64-bit gather (half the gathered elements of two 32-bit gathers), then the
 * pairs are split with one permute. target("avx2") without "fma": mul and add stay
 * separate roundings, as in the portable kernel. */
#define LO(x) _mm256_cvtps_pd(_mm256_castps256_ps128(x))
#define HI(x) _mm256_cvtps_pd(_mm256_extractf128_ps((x), 1))

/* Gather the pairs of the 4 lanes in idx4 and return [first × 4 | second × 4]. */
__attribute__((target("avx2"))) static inline __m256 gather_pairs(const float *base, __m128i idx4)
{
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i p = _mm256_i32gather_epi64((const long long *)base, idx4, 8);
    return _mm256_permutevar8x32_ps(_mm256_castsi256_ps(p), perm);
}

__attribute__((target("avx2"), always_inline)) static inline void
group_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
           int full, double *out)
{
    __m256d sg0 = _mm256_setzero_pd(), sg1 = sg0, nm0 = sg0, nm1 = sg0, vr0 = sg0, vr1 = sg0,
            q0 = sg0, q1 = sg0, ct0 = sg0, ct1 = sg0;
    for (uint64_t r = r0; r < r1; r++) {
        const __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(li + r * 8)));
        const __m128i ilo = _mm256_castsi256_si128(ix), ihi = _mm256_extracti128_si256(ix, 1);
        const __m256 w8 = _mm256_loadu_ps(wt + r * 8);
        const __m256d w0 = LO(w8), w1 = HI(w8);
        const __m256 a = gather_pairs(tb->sn, ilo), b = gather_pairs(tb->sn, ihi);
        /* a = [sig lanes 0-3 | norm lanes 0-3], b = the same for lanes 4-7 */
        const __m256d wn0 = _mm256_mul_pd(w0, HI(a)), wn1 = _mm256_mul_pd(w1, HI(b));
        sg0 = _mm256_add_pd(sg0, _mm256_mul_pd(w0, LO(a)));
        sg1 = _mm256_add_pd(sg1, _mm256_mul_pd(w1, LO(b)));
        nm0 = _mm256_add_pd(nm0, wn0);
        nm1 = _mm256_add_pd(nm1, wn1);
        if (full) {
            const __m256 c = gather_pairs(tb->vo, ilo), d = gather_pairs(tb->vo, ihi);
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(wn0, wn0));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(wn1, wn1));
            vr0 = _mm256_add_pd(vr0, _mm256_mul_pd(_mm256_mul_pd(w0, w0), LO(c)));
            vr1 = _mm256_add_pd(vr1, _mm256_mul_pd(_mm256_mul_pd(w1, w1), LO(d)));
            ct0 = _mm256_add_pd(ct0, _mm256_mul_pd(w0, HI(c)));
            ct1 = _mm256_add_pd(ct1, _mm256_mul_pd(w1, HI(d)));
        }
    }
    _mm256_storeu_pd(out, sg0);
    _mm256_storeu_pd(out + 4, sg1);
    _mm256_storeu_pd(out + 16, nm0);
    _mm256_storeu_pd(out + 20, nm1);
    if (full) {
        _mm256_storeu_pd(out + 8, vr0);
        _mm256_storeu_pd(out + 12, vr1);
        _mm256_storeu_pd(out + 24, q0);
        _mm256_storeu_pd(out + 28, q1);
        _mm256_storeu_pd(out + 32, ct0);
        _mm256_storeu_pd(out + 36, ct1);
    }
}
/* The signal of the eight lanes comes from one 32-bit gather (gather = 1) or from eight
 * scalar loads (gather = 0): the same values, so the same bits; which is faster depends on
 * the core (AMD Zen 4 microcodes its gathers: 1.6x slower end to end here), so
 * azs_tiled_set_norm times both and keeps the faster. w and the signal are floats, so
 * their product is exact in double and a fused multiply-add rounds exactly as mul + add
 * (the portable kernel's bits). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
group_sig_nf_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                  const float *const *sig, const int nf, const int gather, double *out)
{
    __m256d a[AZS_SIG_MULTI_MAX][2];
    for (int f = 0; f < nf; f++) a[f][0] = a[f][1] = _mm256_setzero_pd();
    for (uint64_t r = r0; r < r1; r++) {
        const __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(li + r * 8)));
        const __m256 w8 = _mm256_loadu_ps(wt + r * 8);
        const __m256d w0 = LO(w8), w1 = HI(w8);
        for (int f = 0; f < nf; f++) {
            const uint16_t *q = li + r * 8;
            const float *sf = sig[f];
            const __m256 s8 = gather ? _mm256_i32gather_ps(sf, ix, 4)
                                     : _mm256_setr_ps(sf[q[0]], sf[q[1]], sf[q[2]], sf[q[3]],
                                                      sf[q[4]], sf[q[5]], sf[q[6]], sf[q[7]]);
            a[f][0] = _mm256_fmadd_pd(w0, LO(s8), a[f][0]);
            a[f][1] = _mm256_fmadd_pd(w1, HI(s8), a[f][1]);
        }
    }
    for (int f = 0; f < nf; f++) {
        _mm256_storeu_pd(out + f * AZS_LANES, a[f][0]);
        _mm256_storeu_pd(out + f * AZS_LANES + 4, a[f][1]);
    }
}

/* One instantiation per frame count, so that the accumulators stay in registers. */
#define AZS_SIG_MULTI(NAME, GATHER)                                                            \
    __attribute__((target("avx2,fma"))) static void NAME(                                      \
        const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const float *const *sig, \
        int nf, double *out)                                                                   \
    {                                                                                          \
        switch (nf) {                                                                          \
        case 1: group_sig_nf_avx2(li, wt, r0, r1, sig, 1, GATHER, out); break;                 \
        case 2: group_sig_nf_avx2(li, wt, r0, r1, sig, 2, GATHER, out); break;                 \
        case 3: group_sig_nf_avx2(li, wt, r0, r1, sig, 3, GATHER, out); break;                 \
        default: group_sig_nf_avx2(li, wt, r0, r1, sig, 4, GATHER, out); break;                \
        }                                                                                      \
    }
AZS_SIG_MULTI(group_sig_multi_gather, 1)
AZS_SIG_MULTI(group_sig_multi_loads, 0)
_Static_assert(AZS_SIG_MULTI_MAX == 4, "AZS_SIG_MULTI has one case per frame count");

__attribute__((target("avx2"))) static void
group_fast_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
               double *out)
{
    group_avx2(li, wt, r0, r1, tb, 0, out);
}

__attribute__((target("avx2"))) static void
group_full_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
               double *out)
{
    group_avx2(li, wt, r0, r1, tb, 1, out);
}
#undef LO
#undef HI
#endif

_Static_assert(AZS_LANES == 8, "the AVX2 kernel holds 8 lanes");

group_fn azs_tiled_pick_group(int full)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (azs_cpu_features() & AZS_CPU_AVX2) return full ? group_full_avx2 : group_fast_avx2;
#endif
    return full ? group_full_portable : group_fast_portable;
}

sig_multi_fn azs_tiled_pick_sig_multi(int kind)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const unsigned need = AZS_CPU_AVX2 | AZS_CPU_FMA;
    if ((azs_cpu_features() & need) == need)
        return kind == AZS_SIG_LOADS ? group_sig_multi_loads : group_sig_multi_gather;
#else
    (void)kind;
#endif
    return group_sig_multi_portable;
}

const char *azs_tiled_sig_kernel_name(const azs_tiled *t)
{
    sig_multi_fn f = azs_tiled_pick_sig_multi(t->sig_kernel);
    return f == group_sig_multi_portable ? "portable"
           : t->sig_kernel == AZS_SIG_LOADS ? "avx2+fma, scalar loads" : "avx2+fma, gathers";
}

const char *azs_tiled_kernel_name(void)
{
    return azs_tiled_pick_group(0) == group_fast_portable ? "portable" : "avx2";
}
