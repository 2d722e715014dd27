/* Plain-C stand-ins for the AVX-512 intrinsics used by src/codec/unshuffle_avx512.c,
 * written from Intel's operation descriptions, for test_avx512_emu.c. Only what the
 * unshuffle uses; a 512-bit vector is 64 bytes, little-endian lanes. */
#ifndef AZS_TESTS_EMU512_H
#define AZS_TESTS_EMU512_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* src/codec/unshuffle_avx512.c built with AZS_EMULATE_AVX512 (object library
 * azs_unshuffle_avx512_emu) defines these. */
void emu_azs_unshuffle_avx512(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                              size_t elem_size, int stream);
void emu_azs_unshuffle_avx512gfni(const uint8_t *restrict in, uint8_t *restrict out,
                                  size_t n, size_t elem_size, int stream);

typedef struct {
    uint8_t b[64];
} __m512i;

static inline __m512i _mm512_loadu_si512(const void *p)
{
    __m512i r;
    memcpy(r.b, p, 64);
    return r;
}
static inline void _mm512_storeu_si512(void *p, __m512i v) { memcpy(p, v.b, 64); }
static inline void _mm512_stream_si512(void *p, __m512i v)
{
    if ((uintptr_t)p & 63) /* the real instruction faults on a misaligned address */
        __builtin_trap();
    memcpy(p, v.b, 64);
}
static inline void _mm_sfence(void) {}

/* unpacklo/hi on W-byte units, inside each 128-bit lane: interleave the low (or high)
 * halves of a and b. */
static inline __m512i emu_unpack(__m512i a, __m512i b, int w, int hi)
{
    __m512i r;
    for (int l = 0; l < 4; l++) {
        const uint8_t *A = a.b + 16 * l + (hi ? 8 : 0), *B = b.b + 16 * l + (hi ? 8 : 0);
        uint8_t *R = r.b + 16 * l;
        for (int j = 0; j < 8 / w; j++) {
            memcpy(R + 2 * w * j, A + w * j, (size_t)w);
            memcpy(R + 2 * w * j + w, B + w * j, (size_t)w);
        }
    }
    return r;
}
static inline __m512i _mm512_unpacklo_epi8(__m512i a, __m512i b) { return emu_unpack(a, b, 1, 0); }
static inline __m512i _mm512_unpackhi_epi8(__m512i a, __m512i b) { return emu_unpack(a, b, 1, 1); }
static inline __m512i _mm512_unpacklo_epi16(__m512i a, __m512i b) { return emu_unpack(a, b, 2, 0); }
static inline __m512i _mm512_unpackhi_epi16(__m512i a, __m512i b) { return emu_unpack(a, b, 2, 1); }
static inline __m512i _mm512_unpacklo_epi32(__m512i a, __m512i b) { return emu_unpack(a, b, 4, 0); }
static inline __m512i _mm512_unpackhi_epi32(__m512i a, __m512i b) { return emu_unpack(a, b, 4, 1); }

/* lanes 0,1 from a and 2,3 from b, each chosen by two bits of imm */
static inline __m512i _mm512_shuffle_i64x2(__m512i a, __m512i b, int imm)
{
    __m512i r;
    memcpy(r.b, a.b + 16 * (imm & 3), 16);
    memcpy(r.b + 16, a.b + 16 * ((imm >> 2) & 3), 16);
    memcpy(r.b + 32, b.b + 16 * ((imm >> 4) & 3), 16);
    memcpy(r.b + 48, b.b + 16 * ((imm >> 6) & 3), 16);
    return r;
}
static inline __m512i _mm512_set_epi64(long long e7, long long e6, long long e5, long long e4,
                                       long long e3, long long e2, long long e1, long long e0)
{
    const long long e[8] = {e0, e1, e2, e3, e4, e5, e6, e7};
    __m512i r;
    memcpy(r.b, e, 64);
    return r;
}
static inline __m512i _mm512_set1_epi64(long long x)
{
    __m512i r;
    for (int i = 0; i < 8; i++)
        memcpy(r.b + 8 * i, &x, 8);
    return r;
}
static inline __m512i _mm512_set1_epi8(char x)
{
    __m512i r;
    memset(r.b, (uint8_t)x, 64);
    return r;
}
/* qword i = idx[i] < 8 ? a[idx[i]] : b[idx[i] - 8] */
static inline __m512i _mm512_permutex2var_epi64(__m512i a, __m512i idx, __m512i b)
{
    uint64_t I[8], A[8], B[8], R[8];
    memcpy(I, idx.b, 64);
    memcpy(A, a.b, 64);
    memcpy(B, b.b, 64);
    for (int i = 0; i < 8; i++) {
        const unsigned k = (unsigned)(I[i] & 15);
        R[i] = k < 8 ? A[k] : B[k - 8];
    }
    __m512i r;
    memcpy(r.b, R, 64);
    return r;
}
static inline __m512i emu_shift16(__m512i a, unsigned n, int left)
{
    __m512i r;
    for (int i = 0; i < 32; i++) {
        uint16_t v;
        memcpy(&v, a.b + 2 * i, 2);
        v = (uint16_t)(left ? v << n : v >> n);
        memcpy(r.b + 2 * i, &v, 2);
    }
    return r;
}
static inline __m512i _mm512_srli_epi16(__m512i a, unsigned n) { return emu_shift16(a, n, 0); }
static inline __m512i _mm512_slli_epi16(__m512i a, unsigned n) { return emu_shift16(a, n, 1); }
static inline __m512i _mm512_xor_si512(__m512i a, __m512i b)
{
    for (int i = 0; i < 64; i++)
        a.b[i] ^= b.b[i];
    return a;
}
static inline __m512i _mm512_and_si512(__m512i a, __m512i b)
{
    for (int i = 0; i < 64; i++)
        a.b[i] &= b.b[i];
    return a;
}
/* per qword q and byte t: bit i = parity(A.qword[q].byte[7 - i] & x.qword[q].byte[t]) ^ imm.bit[i] */
static inline __m512i _mm512_gf2p8affine_epi64_epi8(__m512i x, __m512i A, int imm)
{
    __m512i r;
    for (int q = 0; q < 8; q++)
        for (int t = 0; t < 8; t++) {
            unsigned o = 0;
            for (int i = 0; i < 8; i++)
                o |= (unsigned)(__builtin_popcount(A.b[8 * q + 7 - i] & x.b[8 * q + t]) & 1) << i;
            r.b[8 * q + t] = (uint8_t)(o ^ (unsigned)imm);
        }
    return r;
}

#endif
