/* x86 SIMD variants of the bit-unshuffle: SSE2 and AVX2 (AVX-512: unshuffle_avx512.c).
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
#include "codec/unshuffle_simd.h"

#define T_SSE2 __attribute__((target("sse2")))
#define T_AVX2 __attribute__((target("avx2")))

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

#endif
