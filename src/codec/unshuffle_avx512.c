/* AVX-512BW variants of the bit-unshuffle (plain, and with GFNI for the bit step).
 * The scheme is the one of unshuffle_x86.c with 64-byte vectors: four 128-bit lanes,
 * put back in order by a 4x4 lane transpose (vshufi64x2) at the stores.
 *
 * The build machine may lack AVX-512, so tests/codec builds this file a second time, with
 * AZS_EMULATE_AVX512, against plain-C versions of the intrinsics (tests/codec/emu512.h)
 * and test_avx512_emu checks the logic everywhere; test_unshuffle runs the real
 * instructions where the CPU has them. */
#if defined(AZS_EMULATE_AVX512)
#include "emu512.h" /* tests/codec: the intrinsics and the emu_ prototypes */
#define T_AVX512
#define T_GFNI
#define AZS_U512_NAME(x) emu_##x
#elif defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define T_GFNI __attribute__((target("avx512f,avx512bw,avx512vl,gfni")))
#define AZS_U512_NAME(x) x
#endif

#ifdef AZS_U512_NAME
#include "codec/bitshuffle.h"
#include "codec/bitshuffle_tile.h"
#include "codec/unshuffle_simd.h"

/* --------------------------------------------------------------- AVX-512 ---------- */
/* Lane l of z[j] goes to p + l*stride + 16*j (4x4 transpose of 128-bit lanes). */
T_AVX512 static inline void st512(uint8_t *p, __m512i v, int nt)
{
    if (nt)
        _mm512_stream_si512((void *)p, v);
    else
        _mm512_storeu_si512((void *)p, v);
}

T_AVX512 static inline void store4_avx512(uint8_t *p, size_t stride, __m512i z0, __m512i z1,
                                          __m512i z2, __m512i z3, int nt)
{
    __m512i t0 = _mm512_shuffle_i64x2(z0, z1, 0x44), t1 = _mm512_shuffle_i64x2(z0, z1, 0xEE);
    __m512i t2 = _mm512_shuffle_i64x2(z2, z3, 0x44), t3 = _mm512_shuffle_i64x2(z2, z3, 0xEE);
    st512(p, _mm512_shuffle_i64x2(t0, t2, 0x88), nt);
    st512(p + stride, _mm512_shuffle_i64x2(t0, t2, 0xDD), nt);
    st512(p + 2 * stride, _mm512_shuffle_i64x2(t1, t3, 0x88), nt);
    st512(p + 3 * stride, _mm512_shuffle_i64x2(t1, t3, 0xDD), nt);
}

/* mode 0: bytes only; 1: bits by delta swaps on the rows (BITROUNDS); 2: bits by GFNI
 * on each 64-bit word after the byte transpose (rows loaded in reverse order, because
 * the affine instruction indexes the matrix rows from the top byte). */
#define ROWS8_AVX512_BODY(MODE)                                                                  \
    size_t c = 0;                                                                                \
    for (; c + 64 <= w; c += 64) {                                                               \
        __m512i a[8], b[8], d[8];                                                                \
        for (int k = 0; k < 8; k++)                                                              \
            a[k] = _mm512_loadu_si512(                                                           \
                (const void *)(base + (size_t)((MODE) == 2 ? 7 - k : k) * stride + c));          \
        if ((MODE) == 1)                                                                         \
            BITROUNDS(a, _mm512_srli_epi16, _mm512_slli_epi16, _mm512_xor_si512,                 \
                      _mm512_and_si512, _mm512_set1_epi8);                                       \
        for (int k = 0; k < 4; k++) {                                                            \
            b[2 * k] = _mm512_unpacklo_epi8(a[2 * k], a[2 * k + 1]);                             \
            b[2 * k + 1] = _mm512_unpackhi_epi8(a[2 * k], a[2 * k + 1]);                         \
        }                                                                                        \
        __m512i c0 = _mm512_unpacklo_epi16(b[0], b[2]), c1 = _mm512_unpackhi_epi16(b[0], b[2]);  \
        __m512i c2 = _mm512_unpacklo_epi16(b[1], b[3]), c3 = _mm512_unpackhi_epi16(b[1], b[3]);  \
        __m512i c4 = _mm512_unpacklo_epi16(b[4], b[6]), c5 = _mm512_unpackhi_epi16(b[4], b[6]);  \
        __m512i c6 = _mm512_unpacklo_epi16(b[5], b[7]), c7 = _mm512_unpackhi_epi16(b[5], b[7]);  \
        d[0] = _mm512_unpacklo_epi32(c0, c4);                                                    \
        d[1] = _mm512_unpackhi_epi32(c0, c4);                                                    \
        d[2] = _mm512_unpacklo_epi32(c1, c5);                                                    \
        d[3] = _mm512_unpackhi_epi32(c1, c5);                                                    \
        d[4] = _mm512_unpacklo_epi32(c2, c6);                                                    \
        d[5] = _mm512_unpackhi_epi32(c2, c6);                                                    \
        d[6] = _mm512_unpacklo_epi32(c3, c7);                                                    \
        d[7] = _mm512_unpackhi_epi32(c3, c7);                                                    \
        for (int m = 0; m < 8; m++)                                                              \
            d[m] = BITS(d[m]);                                                                   \
        uint8_t *o = dst + 8 * c;                                                                \
        store4_avx512(o, 128, d[0], d[1], d[2], d[3], nt);                                       \
        store4_avx512(o + 64, 128, d[4], d[5], d[6], d[7], nt);                                  \
    }                                                                                            \
    if ((MODE) != 0)                                                                             \
        azs_bitrows_swar(base, stride, dst, c, w);                                               \
    else                                                                                         \
        for (; c < w; c++)                                                                       \
            for (int k = 0; k < 8; k++)                                                          \
                dst[8 * c + k] = base[k * stride + c];

T_AVX512 static inline __m512i nobits_avx512(__m512i x) { return x; }

T_AVX512 static inline void bytes8_avx512(const uint8_t *restrict base, size_t stride,
                                          uint8_t *restrict dst, size_t w, int nt)
{
#define BITS nobits_avx512
    ROWS8_AVX512_BODY(0)
#undef BITS
}

T_AVX512 static inline void bitrows_avx512(const uint8_t *restrict base, size_t stride,
                                           uint8_t *restrict dst, size_t w, int nt)
{
#define BITS nobits_avx512
    ROWS8_AVX512_BODY(1)
#undef BITS
}

T_GFNI static inline __m512i bits_gfni(__m512i x)
{
    /* Byte t of the constant is 1 << t: result byte t, bit i = bit t of matrix byte
     * 7 - i = bit t of row i (rows were loaded reversed). */
    return _mm512_gf2p8affine_epi64_epi8(_mm512_set1_epi64(0x8040201008040201LL), x, 0);
}

T_GFNI static inline void bitrows_gfni(const uint8_t *restrict base, size_t stride,
                                       uint8_t *restrict dst, size_t w, int nt)
{
#define BITS bits_gfni
    ROWS8_AVX512_BODY(2)
#undef BITS
}

T_AVX512 static inline void interleave_avx512(const uint8_t *restrict p, size_t m, size_t s,
                                              uint8_t *restrict out, int nt)
{
    size_t e = 0;
    if (s == 2) {
        const __m512i i0 = _mm512_set_epi64(11, 10, 3, 2, 9, 8, 1, 0);
        const __m512i i1 = _mm512_set_epi64(15, 14, 7, 6, 13, 12, 5, 4);
        for (; e + 64 <= m; e += 64) {
            __m512i p0 = _mm512_loadu_si512((const void *)(p + e));
            __m512i p1 = _mm512_loadu_si512((const void *)(p + m + e));
            __m512i lo = _mm512_unpacklo_epi8(p0, p1), hi = _mm512_unpackhi_epi8(p0, p1);
            st512(out + 2 * e, _mm512_permutex2var_epi64(lo, i0, hi), nt);
            st512(out + 2 * e + 64, _mm512_permutex2var_epi64(lo, i1, hi), nt);
        }
    } else if (s == 4) {
        for (; e + 64 <= m; e += 64) {
            __m512i p0 = _mm512_loadu_si512((const void *)(p + e));
            __m512i p1 = _mm512_loadu_si512((const void *)(p + m + e));
            __m512i p2 = _mm512_loadu_si512((const void *)(p + 2 * m + e));
            __m512i p3 = _mm512_loadu_si512((const void *)(p + 3 * m + e));
            __m512i x0 = _mm512_unpacklo_epi8(p0, p1), x1 = _mm512_unpackhi_epi8(p0, p1);
            __m512i y0 = _mm512_unpacklo_epi8(p2, p3), y1 = _mm512_unpackhi_epi8(p2, p3);
            store4_avx512(out + 4 * e, 64, _mm512_unpacklo_epi16(x0, y0),
                          _mm512_unpackhi_epi16(x0, y0), _mm512_unpacklo_epi16(x1, y1),
                          _mm512_unpackhi_epi16(x1, y1), nt);
        }
    } else if (s == 8) {
        bytes8_avx512(p, m, out, m, nt);
        return;
    }
    azs_interleave_swar(p, m, s, out, e);
}

T_GFNI static inline void interleave_gfni(const uint8_t *restrict p, size_t m, size_t s,
                                          uint8_t *restrict out, int nt)
{
    interleave_avx512(p, m, s, out, nt);
}

AZS_DEFINE_UNSHUFFLE(AZS_U512_NAME(azs_unshuffle_avx512), T_AVX512, bitrows_avx512, interleave_avx512, 64, _mm_sfence())
AZS_DEFINE_UNSHUFFLE(AZS_U512_NAME(azs_unshuffle_avx512gfni), T_GFNI, bitrows_gfni, interleave_gfni, 64, _mm_sfence())

#endif
