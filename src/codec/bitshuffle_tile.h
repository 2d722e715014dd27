/* Internal: the tiled two-pass unshuffle driver shared by every variant (see
 * bitshuffle.h). A variant supplies two kernels, inlined into its own copy of the driver
 * so that the compiler sees one function per instruction set:
 *   BITROWS(base, stride, dst, w): rows k = base + k*stride (k < 8), columns [0, w):
 *       dst[8c + i] = byte whose bit k is bit i of row k's byte c       (pass A)
 *   INTERLEAVE(planes, m, s, out): plane b = planes + b*m (b < s), m elements:
 *       out[e*s + b] = plane b [e]                                      (pass B)
 * Scalar helpers for the leftovers of the vector loops live here too. */
#ifndef AZS_CODEC_BITSHUFFLE_TILE_H
#define AZS_CODEC_BITSHUFFLE_TILE_H

#include "codec/bitshuffle.h"

/* One column of pass A without SIMD. */
static inline void azs_bitcol(const uint8_t *restrict base, size_t stride, size_t c,
                              uint8_t *restrict dst8)
{
    uint64_t x = 0;
    for (unsigned k = 0; k < 8; k++)
        x |= (uint64_t)base[k * stride + c] << (8 * k);
    x = azs_transpose8x8(x);
    for (unsigned i = 0; i < 8; i++)
        dst8[i] = (uint8_t)(x >> (8 * i));
}

static inline void azs_bitrows_swar(const uint8_t *restrict base, size_t stride,
                                    uint8_t *restrict dst, size_t c0, size_t w)
{
    for (size_t c = c0; c < w; c++)
        azs_bitcol(base, stride, c, dst + 8 * c);
}

/* Pass B without SIMD for elements [e0, m). */
static inline void azs_interleave_swar(const uint8_t *restrict planes, size_t m, size_t s,
                                       uint8_t *restrict out, size_t e0)
{
    for (size_t e = e0; e < m; e++)
        for (size_t b = 0; b < s; b++)
            out[e * s + b] = planes[b * m + e];
}

/* The driver. n must be a multiple of 8 (only n/8 columns are read). VEC is the store
 * width in bytes: non-temporal stores need `out` aligned to it. */
#define AZS_DEFINE_UNSHUFFLE(NAME, ATTR, BITROWS, INTERLEAVE, VEC, FENCE)                       \
    ATTR void NAME(const uint8_t *restrict in, uint8_t *restrict out, size_t n, size_t s,       \
                   int stream)                                                                  \
    {                                                                                           \
        if (s == 0 || n < 8)                                                                    \
            return;                                                                             \
        if (s > AZS_UNSHUFFLE_MAX_ELEM) {                                                       \
            azs_unshuffle_scalar(in, out, n, s, 0);                                             \
            return;                                                                             \
        }                                                                                       \
        const size_t nb = n / 8;                                                                \
        const int nt = stream && ((uintptr_t)out % (VEC)) == 0;                                 \
        if (s == 1) {                                                                           \
            if (nt)                                                                             \
                BITROWS(in, nb, out, nb, 1);                                                    \
            else                                                                                \
                BITROWS(in, nb, out, nb, 0);                                                    \
        } else {                                                                                \
            _Alignas(64) uint8_t tile[AZS_UNSHUFFLE_TILE_BYTES];                                \
            size_t tcols = AZS_UNSHUFFLE_TILE_BYTES / (8 * s);                                  \
            tcols -= tcols % 64;                                                                \
            for (size_t c0 = 0; c0 < nb; c0 += tcols) {                                         \
                const size_t w = nb - c0 < tcols ? nb - c0 : tcols;                             \
                for (size_t b = 0; b < s; b++)                                                  \
                    BITROWS(in + 8 * b * nb + c0, nb, tile + b * 8 * w, w, 0);                  \
                if (nt)                                                                         \
                    INTERLEAVE(tile, 8 * w, s, out + 8 * c0 * s, 1);                            \
                else                                                                            \
                    INTERLEAVE(tile, 8 * w, s, out + 8 * c0 * s, 0);                            \
            }                                                                                   \
        }                                                                                       \
        if (nt)                                                                                 \
            FENCE;                                                                              \
    }

#endif
