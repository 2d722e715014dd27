/* x86 SIMD variants of the bit-unshuffle (SSE2, AVX2, AVX-512BW, AVX-512BW+GFNI).
 *
 * Each function carries its own target attribute, so this file builds with the
 * default -march and the dispatcher (unshuffle.c) only calls a variant the CPU has.
 *
 * Pass A, per 16-byte lane: the 8x8 bit transposes are done first on the 8 row
 * vectors (three rounds of delta swaps between row pairs, BITROUNDS), then three rounds
 * of unpack (8-, 16-, 32-bit) put each column's 8 row bytes into one 64-bit word, stored
 * in column order. With GFNI the bit step is instead one affine instruction per vector
 * on the 64-bit words after the unpacks. Unpacks work inside 128-bit lanes, so AVX2/AVX-512 results have lane l of
 * vector m belonging at byte 128*l + 16*m: the stores put the lanes back in order
 * (vperm2i128 / vshufi64x2) instead of extracting 16 bytes at a time.
 * Pass B (s = 2, 4, 8) is the same unpack ladder without the bit step.
 *
 * With `stream` set (the decoder does it for large outputs) the stores to `out` are
 * non-temporal when `out` is vector-aligned: a 35 MB frame does not stay in cache
 * anyway, and skipping the read-for-ownership of every destination line was worth
 * 1.5x on the whole decode on an AVX2 EPYC (memory-bound). One sfence per call orders
 * them before whatever hands the frame to another thread. */
#if defined(__x86_64__) || defined(__i386__)

#include <immintrin.h>

#include "codec/bitshuffle.h"
#include "codec/bitshuffle_tile.h"

#define T_SSE2 __attribute__((target("sse2")))
#define T_AVX2 __attribute__((target("avx2")))
#define T_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl")))
#define T_GFNI __attribute__((target("avx512f,avx512bw,avx512vl,gfni")))

/* The 8x8 bit transpose, done on the 8 row vectors before the byte transpose: three
 * rounds of delta swaps between row pairs (k, k+d), each exchanging bit i+d of row k
 * with bit i of row k+d (i with bit d clear). Per 8 vectors this is 3 x 4 x 6 ops, half
 * of what transposing each 64-bit word after the byte transpose costs. 16-bit shifts
 * are fine: the masks drop the bits that would cross a byte boundary. */
#define BITSWAP(a, k, D, M, SRL, SLL, XOR, AND, SET1)                                           \
    do {                                                                                         \
        __typeof__(a[0]) t_ = AND(XOR(SRL(a[k], D), a[k + D]), SET1(M));                         \
        a[k + D] = XOR(a[k + D], t_);                                                            \
        a[k] = XOR(a[k], SLL(t_, D));                                                            \
    } while (0)
#define BITROUNDS(a, SRL, SLL, XOR, AND, SET1)                                                   \
    do {                                                                                         \
        BITSWAP(a, 0, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 2, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 4, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 6, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 0, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 1, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 4, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 5, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 0, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 1, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 2, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 3, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
    } while (0)

/* ------------------------------------------------------------------ SSE2 ---------- */
T_SSE2 static inline void st128(uint8_t *p, __m128i v, int nt)
{
    if (nt)
        _mm_stream_si128((__m128i *)p, v);
    else
        _mm_storeu_si128((__m128i *)p, v);
}

/* 8 rows x w columns -> w words of 8 bytes (bits: also transpose each word's bits). */
T_SSE2 static inline void rows8_sse2(const uint8_t *restrict base, size_t stride,
                                     uint8_t *restrict dst, size_t w, int bits, int nt)
{
    size_t c = 0;
    for (; c + 16 <= w; c += 16) {
        __m128i a[8], b[8], d[8];
        for (int k = 0; k < 8; k++)
            a[k] = _mm_loadu_si128((const __m128i *)(base + k * stride + c));
        if (bits)
            BITROUNDS(a, _mm_srli_epi16, _mm_slli_epi16, _mm_xor_si128, _mm_and_si128, _mm_set1_epi8);
        for (int k = 0; k < 4; k++) {
            b[2 * k] = _mm_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
            b[2 * k + 1] = _mm_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
        }
        __m128i c0 = _mm_unpacklo_epi16(b[0], b[2]), c1 = _mm_unpackhi_epi16(b[0], b[2]);
        __m128i c2 = _mm_unpacklo_epi16(b[1], b[3]), c3 = _mm_unpackhi_epi16(b[1], b[3]);
        __m128i c4 = _mm_unpacklo_epi16(b[4], b[6]), c5 = _mm_unpackhi_epi16(b[4], b[6]);
        __m128i c6 = _mm_unpacklo_epi16(b[5], b[7]), c7 = _mm_unpackhi_epi16(b[5], b[7]);
        d[0] = _mm_unpacklo_epi32(c0, c4);
        d[1] = _mm_unpackhi_epi32(c0, c4);
        d[2] = _mm_unpacklo_epi32(c1, c5);
        d[3] = _mm_unpackhi_epi32(c1, c5);
        d[4] = _mm_unpacklo_epi32(c2, c6);
        d[5] = _mm_unpackhi_epi32(c2, c6);
        d[6] = _mm_unpacklo_epi32(c3, c7);
        d[7] = _mm_unpackhi_epi32(c3, c7);
        for (int m = 0; m < 8; m++)
            st128(dst + 8 * c + 16 * m, d[m], nt);
    }
    if (bits)
        azs_bitrows_swar(base, stride, dst, c, w);
    else
        for (; c < w; c++)
            for (int k = 0; k < 8; k++)
                dst[8 * c + k] = base[k * stride + c];
}

T_SSE2 static inline void bitrows_sse2(const uint8_t *restrict base, size_t stride,
                                       uint8_t *restrict dst, size_t w, int nt)
{
    rows8_sse2(base, stride, dst, w, 1, nt);
}

T_SSE2 static inline void interleave_sse2(const uint8_t *restrict p, size_t m, size_t s,
                                          uint8_t *restrict out, int nt)
{
    size_t e = 0;
    if (s == 2) {
        for (; e + 16 <= m; e += 16) {
            __m128i p0 = _mm_loadu_si128((const __m128i *)(p + e));
            __m128i p1 = _mm_loadu_si128((const __m128i *)(p + m + e));
            st128(out + 2 * e, _mm_unpacklo_epi8(p0, p1), nt);
            st128(out + 2 * e + 16, _mm_unpackhi_epi8(p0, p1), nt);
        }
    } else if (s == 4) {
        for (; e + 16 <= m; e += 16) {
            __m128i p0 = _mm_loadu_si128((const __m128i *)(p + e));
            __m128i p1 = _mm_loadu_si128((const __m128i *)(p + m + e));
            __m128i p2 = _mm_loadu_si128((const __m128i *)(p + 2 * m + e));
            __m128i p3 = _mm_loadu_si128((const __m128i *)(p + 3 * m + e));
            __m128i x0 = _mm_unpacklo_epi8(p0, p1), x1 = _mm_unpackhi_epi8(p0, p1);
            __m128i y0 = _mm_unpacklo_epi8(p2, p3), y1 = _mm_unpackhi_epi8(p2, p3);
            uint8_t *o = out + 4 * e;
            st128(o, _mm_unpacklo_epi16(x0, y0), nt);
            st128(o + 16, _mm_unpackhi_epi16(x0, y0), nt);
            st128(o + 32, _mm_unpacklo_epi16(x1, y1), nt);
            st128(o + 48, _mm_unpackhi_epi16(x1, y1), nt);
        }
    } else if (s == 8) {
        rows8_sse2(p, m, out, m, 0, nt);
        return;
    }
    azs_interleave_swar(p, m, s, out, e);
}

AZS_DEFINE_UNSHUFFLE(azs_unshuffle_sse2, T_SSE2, bitrows_sse2, interleave_sse2, 16, _mm_sfence())

/* ------------------------------------------------------------------ AVX2 ---------- */
/* Lane l of a goes to p + l*stride, lane l of b right after it. */
T_AVX2 static inline void st256(uint8_t *p, __m256i v, int nt)
{
    if (nt)
        _mm256_stream_si256((__m256i *)p, v);
    else
        _mm256_storeu_si256((__m256i *)p, v);
}

T_AVX2 static inline void store2_avx2(uint8_t *p, size_t stride, __m256i a, __m256i b, int nt)
{
    st256(p, _mm256_permute2x128_si256(a, b, 0x20), nt);
    st256(p + stride, _mm256_permute2x128_si256(a, b, 0x31), nt);
}

T_AVX2 static inline void rows8_avx2(const uint8_t *restrict base, size_t stride,
                                     uint8_t *restrict dst, size_t w, int bits, int nt)
{
    size_t c = 0;
    for (; c + 32 <= w; c += 32) {
        __m256i a[8], b[8], d[8];
        for (int k = 0; k < 8; k++)
            a[k] = _mm256_loadu_si256((const __m256i *)(base + k * stride + c));
        if (bits)
            BITROUNDS(a, _mm256_srli_epi16, _mm256_slli_epi16, _mm256_xor_si256, _mm256_and_si256,
                      _mm256_set1_epi8);
        for (int k = 0; k < 4; k++) {
            b[2 * k] = _mm256_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
            b[2 * k + 1] = _mm256_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
        }
        __m256i c0 = _mm256_unpacklo_epi16(b[0], b[2]), c1 = _mm256_unpackhi_epi16(b[0], b[2]);
        __m256i c2 = _mm256_unpacklo_epi16(b[1], b[3]), c3 = _mm256_unpackhi_epi16(b[1], b[3]);
        __m256i c4 = _mm256_unpacklo_epi16(b[4], b[6]), c5 = _mm256_unpackhi_epi16(b[4], b[6]);
        __m256i c6 = _mm256_unpacklo_epi16(b[5], b[7]), c7 = _mm256_unpackhi_epi16(b[5], b[7]);
        d[0] = _mm256_unpacklo_epi32(c0, c4);
        d[1] = _mm256_unpackhi_epi32(c0, c4);
        d[2] = _mm256_unpacklo_epi32(c1, c5);
        d[3] = _mm256_unpackhi_epi32(c1, c5);
        d[4] = _mm256_unpacklo_epi32(c2, c6);
        d[5] = _mm256_unpackhi_epi32(c2, c6);
        d[6] = _mm256_unpacklo_epi32(c3, c7);
        d[7] = _mm256_unpackhi_epi32(c3, c7);
        uint8_t *o = dst + 8 * c;
        for (int m = 0; m < 8; m += 2)
            store2_avx2(o + 16 * m, 128, d[m], d[m + 1], nt);
    }
    if (bits)
        azs_bitrows_swar(base, stride, dst, c, w);
    else
        for (; c < w; c++)
            for (int k = 0; k < 8; k++)
                dst[8 * c + k] = base[k * stride + c];
}

T_AVX2 static inline void bitrows_avx2(const uint8_t *restrict base, size_t stride,
                                       uint8_t *restrict dst, size_t w, int nt)
{
    rows8_avx2(base, stride, dst, w, 1, nt);
}

T_AVX2 static inline void interleave_avx2(const uint8_t *restrict p, size_t m, size_t s,
                                          uint8_t *restrict out, int nt)
{
    size_t e = 0;
    if (s == 2) {
        for (; e + 32 <= m; e += 32) {
            __m256i p0 = _mm256_loadu_si256((const __m256i *)(p + e));
            __m256i p1 = _mm256_loadu_si256((const __m256i *)(p + m + e));
            store2_avx2(out + 2 * e, 32, _mm256_unpacklo_epi8(p0, p1), _mm256_unpackhi_epi8(p0, p1), nt);
        }
    } else if (s == 4) {
        for (; e + 32 <= m; e += 32) {
            __m256i p0 = _mm256_loadu_si256((const __m256i *)(p + e));
            __m256i p1 = _mm256_loadu_si256((const __m256i *)(p + m + e));
            __m256i p2 = _mm256_loadu_si256((const __m256i *)(p + 2 * m + e));
            __m256i p3 = _mm256_loadu_si256((const __m256i *)(p + 3 * m + e));
            __m256i x0 = _mm256_unpacklo_epi8(p0, p1), x1 = _mm256_unpackhi_epi8(p0, p1);
            __m256i y0 = _mm256_unpacklo_epi8(p2, p3), y1 = _mm256_unpackhi_epi8(p2, p3);
            uint8_t *o = out + 4 * e;
            store2_avx2(o, 64, _mm256_unpacklo_epi16(x0, y0), _mm256_unpackhi_epi16(x0, y0), nt);
            store2_avx2(o + 32, 64, _mm256_unpacklo_epi16(x1, y1), _mm256_unpackhi_epi16(x1, y1), nt);
        }
    } else if (s == 8) {
        rows8_avx2(p, m, out, m, 0, nt);
        return;
    }
    azs_interleave_swar(p, m, s, out, e);
}

AZS_DEFINE_UNSHUFFLE(azs_unshuffle_avx2, T_AVX2, bitrows_avx2, interleave_avx2, 32, _mm_sfence())

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

AZS_DEFINE_UNSHUFFLE(azs_unshuffle_avx512, T_AVX512, bitrows_avx512, interleave_avx512, 64, _mm_sfence())
AZS_DEFINE_UNSHUFFLE(azs_unshuffle_avx512gfni, T_GFNI, bitrows_gfni, interleave_gfni, 64, _mm_sfence())

#endif
