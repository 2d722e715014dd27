/* The batch engine's frame-interleaved kernels (declared in tiled_kernels.h): the signals
 * of up to AZS_X8 frames side by side per pixel, so that one matrix entry is applied to
 * every frame of the batch with one vector multiply-add.
 *
 * Why: the frame-major kernel (tiled_kernels.c) fetches each lane's signal of each frame
 * on its own (8 scalar loads and inserts, or one gather, per row and frame): on Intel
 * cores the inserts and conversions queue on one shuffle port, about 9 cycles per row and
 * frame. Here the tile's signals are first transposed to x[pixel][frame] (AZS_X8 floats
 * per pixel, 256 KiB for a tile, in L2), and a row costs, per lane, one 32-byte load and
 * one conversion for all frames: about 2 cycles per row and frame, transpose included.
 *
 * Same bits: lane l of frame f is still Σ w·signal over the segment's rows in row order,
 * from +0.0, each step one fused multiply-add of two floats widened to double (their
 * product is exact, so it rounds as the portable kernel's mul then add). Only where the
 * sums sit in the registers changes (a register per lane holding every frame). */
#include <string.h>

#include "common/cpu.h"
#include "pixel_rules.h"
#include "tiled_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define X8_ATTR __attribute__((target("avx512f")))

/* x[p * 8 + f] = sig[f][p] for p < n (rounded up to 16: the tile buffers hold AZS_TILE_PX
 * floats, and pixels past the tile's end are never read by its rows). Frames nf..7 repeat
 * frame 0 (the kernel computes them and nobody reads them). Three rounds of two-source
 * shuffles per 16 pixels of 8 frames: 24 shuffles for 128 values. */
X8_ATTR static void xpose_x8_avx512(const float *const *sig, int nf, uint32_t n, float *restrict x)
{
    const float *s[AZS_X8];
    for (int f = 0; f < AZS_X8; f++) s[f] = sig[f < nf ? f : 0];
    /* Round 3 takes 128-bit lane j of q (frames 0-3) then of r (frames 4-7): pixels 4j + m. */
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29,
                                         30, 31);
    for (uint32_t i = 0; i < n; i += 16) {
        __m512 a[AZS_X8], t[AZS_X8];
        for (int f = 0; f < AZS_X8; f++) a[f] = _mm512_loadu_ps(s[f] + i);
        /* t[2k] lane j: (4j, f=2k), (4j, 2k+1), (4j+1, 2k), (4j+1, 2k+1); t[2k+1]: 4j+2, 4j+3 */
        for (int k = 0; k < 4; k++) {
            t[2 * k] = _mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]);
            t[2 * k + 1] = _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]);
        }
        /* q[m] lane j: pixel 4j + m, frames 0-3 (from t0..t3); q[4 + m]: frames 4-7 */
        __m512 q[AZS_X8];
        for (int h = 0; h < 2; h++) {
            const __m512d t0 = _mm512_castps_pd(t[4 * h]), t1 = _mm512_castps_pd(t[4 * h + 1]),
                          t2 = _mm512_castps_pd(t[4 * h + 2]), t3 = _mm512_castps_pd(t[4 * h + 3]);
            q[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
            q[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
            q[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
            q[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
        }
        float *xo = x + (size_t)i * AZS_X8;
        for (int m = 0; m < 4; m++) {
            const __m512 o0 = _mm512_permutex2var_ps(q[m], lo, q[4 + m]); /* pixels m, m + 4 */
            const __m512 o1 = _mm512_permutex2var_ps(q[m], hi, q[4 + m]); /* m + 8, m + 12 */
            _mm256_store_ps(xo + (m + 0) * 8, _mm512_castps512_ps256(o0));
            _mm256_store_pd((double *)(xo + (m + 4) * 8), _mm512_extractf64x4_pd(_mm512_castps_pd(o0), 1));
            _mm256_store_ps(xo + (m + 8) * 8, _mm512_castps512_ps256(o1));
            _mm256_store_pd((double *)(xo + (m + 12) * 8), _mm512_extractf64x4_pd(_mm512_castps_pd(o1), 1));
        }
    }
}

/* Round 1-3 of the transpose above for one block of 16 pixels of 8 frames (a[f]: frame f),
 * stored at xo (x of the block's first pixel). */
X8_ATTR static inline __attribute__((always_inline)) void xpose_block(const __m512 *a, float *xo)
{
    const __m512i lo = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    const __m512i hi = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29,
                                         30, 31);
    __m512 t[AZS_X8], q[AZS_X8];
    for (int k = 0; k < 4; k++) {
        t[2 * k] = _mm512_unpacklo_ps(a[2 * k], a[2 * k + 1]);
        t[2 * k + 1] = _mm512_unpackhi_ps(a[2 * k], a[2 * k + 1]);
    }
    for (int h = 0; h < 2; h++) {
        const __m512d t0 = _mm512_castps_pd(t[4 * h]), t1 = _mm512_castps_pd(t[4 * h + 1]),
                      t2 = _mm512_castps_pd(t[4 * h + 2]), t3 = _mm512_castps_pd(t[4 * h + 3]);
        q[4 * h + 0] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
        q[4 * h + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
        q[4 * h + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
        q[4 * h + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int m = 0; m < 4; m++) {
        const __m512d o0 = _mm512_castps_pd(_mm512_permutex2var_ps(q[m], lo, q[4 + m]));
        const __m512d o1 = _mm512_castps_pd(_mm512_permutex2var_ps(q[m], hi, q[4 + m]));
        _mm256_store_pd((double *)(xo + (m + 0) * 8), _mm512_castpd512_pd256(o0));
        _mm256_store_pd((double *)(xo + (m + 4) * 8), _mm512_extractf64x4_pd(o0, 1));
        _mm256_store_pd((double *)(xo + (m + 8) * 8), _mm512_castpd512_pd256(o1));
        _mm256_store_pd((double *)(xo + (m + 12) * 8), _mm512_extractf64x4_pd(o1, 1));
    }
}

/* uint32 frames straight from their decoded pixels (px[f]: pixel p0 of frame f) to x, the
 * rules of sig_u32_avx2 (tiled_kernels.c) in 16 lanes: the value converted with one
 * rounding (as azs_u32_to_float), the dummy tests, signal − dark, zero when skipped.
 * lost[f] != 0 if a used pixel of frame f is skipped (its tile then needs the general
 * path; its column is computed all the same and not read). Frames nf..7 repeat frame 0. */
/* one target attribute: clang keeps only the last of several */
__attribute__((target("avx512f,avx512bw,avx512vl"))) static void
sigx_u32_avx512(const azs_tiled_ctx *restrict c, const void *const *px, int nf, uint64_t p0,
                uint32_t n, float *restrict x, uint32_t *lost)
{
    const uint32_t *s[AZS_X8];
    for (int f = 0; f < AZS_X8; f++) s[f] = px[f < nf ? f : 0];
    const uint8_t *used = c->t->used + p0;
    const float *dk = c->dark ? c->dark + p0 : NULL;
    const int mode = azs_dummy_mode(&c->rule);
    const __m512 dv = _mm512_set1_ps(c->rule.dummy), dd = _mm512_set1_ps(c->rule.delta_dummy);
    const __m512i absmask = _mm512_set1_epi32(0x7FFFFFFF);
    __mmask16 lostm[AZS_X8] = {0};
    for (uint32_t i = 0; i < n; i += 16) {
        const __mmask16 in = n - i >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (n - i)) - 1u);
        const __mmask16 u = _mm_mask_test_epi8_mask(in, _mm_maskz_loadu_epi8(in, used + i),
                                                    _mm_set1_epi8(1));
        const __m512 d = dk ? _mm512_maskz_loadu_ps(in, dk + i) : _mm512_setzero_ps();
        __m512 a[AZS_X8];
        for (int f = 0; f < AZS_X8; f++) {
            const __m512 v = _mm512_cvtepu32_ps(_mm512_maskz_loadu_epi32(in, s[f] + i));
            __mmask16 ok = in;
            if (mode == AZS_DUMMY_EXACT) ok = _mm512_mask_cmp_ps_mask(in, v, dv, _CMP_NEQ_UQ);
            if (mode == AZS_DUMMY_DELTA) {
                const __m512 dist = _mm512_castsi512_ps(
                    _mm512_and_si512(_mm512_castps_si512(_mm512_sub_ps(v, dv)), absmask));
                ok = _mm512_mask_cmp_ps_mask(in, dist, dd, _CMP_NLE_UQ);
            }
            a[f] = _mm512_maskz_mov_ps(ok, dk ? _mm512_sub_ps(v, d) : v);
            lostm[f] |= u & ~ok;
        }
        xpose_block(a, x + (size_t)i * AZS_X8);
    }
    for (int f = 0; f < AZS_X8; f++) lost[f] = lostm[f];
}

/* Rows [r0, r1) of a group for all AZS_X8 frames: out[l * AZS_X8 + f] = lane l, frame f.
 * The row's weights go through a small buffer so that each lane's weight is broadcast by a
 * load rather than by a shuffle (the shuffle port is what this kernel saves). */
X8_ATTR static void group_sig_x8_avx512(const uint16_t *restrict li, const float *restrict wt,
                                        uint64_t r0, uint64_t r1, const float *restrict x,
                                        double *restrict out)
{
    __m512d a0 = _mm512_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
            a7 = a0;
    _Alignas(64) double wb[AZS_LANES];
    for (uint64_t r = r0; r < r1; r++) {
        const uint16_t *q = li + r * AZS_LANES;
        _mm512_store_pd(wb, _mm512_cvtps_pd(_mm256_loadu_ps(wt + r * AZS_LANES)));
        /* keep wb in memory: the broadcasts below are loads */
        __asm__ volatile("" : : "m"(wb) : "memory");
#define X8_LANE(A, L)                                                                          \
    A = _mm512_fmadd_pd(_mm512_set1_pd(wb[L]),                                                 \
                        _mm512_cvtps_pd(_mm256_load_ps(x + (size_t)q[L] * AZS_X8)), A)
        X8_LANE(a0, 0);
        X8_LANE(a1, 1);
        X8_LANE(a2, 2);
        X8_LANE(a3, 3);
        X8_LANE(a4, 4);
        X8_LANE(a5, 5);
        X8_LANE(a6, 6);
        X8_LANE(a7, 7);
#undef X8_LANE
    }
    _mm512_storeu_pd(out + 0 * AZS_X8, a0);
    _mm512_storeu_pd(out + 1 * AZS_X8, a1);
    _mm512_storeu_pd(out + 2 * AZS_X8, a2);
    _mm512_storeu_pd(out + 3 * AZS_X8, a3);
    _mm512_storeu_pd(out + 4 * AZS_X8, a4);
    _mm512_storeu_pd(out + 5 * AZS_X8, a5);
    _mm512_storeu_pd(out + 6 * AZS_X8, a6);
    _mm512_storeu_pd(out + 7 * AZS_X8, a7);
}
#endif

_Static_assert(AZS_LANES == 8 && AZS_X8 == 8, "the AVX-512 kernel holds 8 lanes x 8 frames");

int azs_tiled_pick_x8(xpose_fn *xpose, sig_x8_fn *sum)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (azs_cpu_features() & AZS_CPU_AVX512BW) {
        *xpose = xpose_x8_avx512;
        *sum = group_sig_x8_avx512;
        return 1;
    }
#endif
    *xpose = NULL;
    *sum = NULL;
    return 0;
}

sigx_fn azs_tiled_sigx_for(azs_dtype t)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (t == AZS_U32 && (azs_cpu_features() & AZS_CPU_AVX512BW)) return sigx_u32_avx512;
#else
    (void)t;
#endif
    return NULL;
}
