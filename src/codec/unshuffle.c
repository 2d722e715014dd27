/* Bit-unshuffle: the scalar reference, the portable SWAR variant, the forward shuffle
 * of the encoder, and the run-time dispatch (CPU features from common/cpu.h, which
 * tests cap with azs_cpu_limit to exercise every variant). */
#include <string.h>

#include "azstream/codec.h"
#include "codec/bitshuffle.h"
#include "codec/bitshuffle_tile.h"
#include "common/cpu.h"

void azs_unshuffle_scalar(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                          size_t s, int stream)
{
    (void)stream;
    const size_t nb = n / 8;
    for (size_t e = 0; e < nb * 8; e++) {
        for (size_t b = 0; b < s; b++) {
            unsigned v = 0;
            for (unsigned k = 0; k < 8; k++)
                v |= ((in[(8 * b + k) * nb + e / 8] >> (e % 8)) & 1u) << k;
            out[e * s + b] = (uint8_t)v;
        }
    }
}

static inline void bitrows_swar(const uint8_t *restrict base, size_t stride,
                                uint8_t *restrict dst, size_t w, int nt)
{
    (void)nt;
    azs_bitrows_swar(base, stride, dst, 0, w);
}

static inline void interleave_swar(const uint8_t *restrict planes, size_t m, size_t s,
                                   uint8_t *restrict out, int nt)
{
    (void)nt;
    azs_interleave_swar(planes, m, s, out, 0);
}

AZS_DEFINE_UNSHUFFLE(azs_unshuffle_swar, , bitrows_swar, interleave_swar, 1, (void)0)

void azs_bitshuffle_fwd(const uint8_t *restrict in, uint8_t *restrict out, size_t n, size_t s)
{
    const size_t nb = n / 8;
    for (size_t b = 0; b < s; b++) {
        for (size_t c = 0; c < nb; c++) {
            uint64_t x = 0;
            for (unsigned i = 0; i < 8; i++)
                x |= (uint64_t)in[(8 * c + i) * s + b] << (8 * i);
            x = azs_transpose8x8(x); /* its own inverse */
            for (unsigned k = 0; k < 8; k++)
                out[(8 * b + k) * nb + c] = (uint8_t)(x >> (8 * k));
        }
    }
}

static const azs_unshuffle_variant variants[] = {
    {"scalar", azs_unshuffle_scalar, 0},
    {"swar", azs_unshuffle_swar, 0},
#if defined(__x86_64__) || defined(__i386__)
    {"sse2", azs_unshuffle_sse2, AZS_CPU_SSE2},
    {"avx2", azs_unshuffle_avx2, AZS_CPU_AVX2},
    {"avx512", azs_unshuffle_avx512, AZS_CPU_AVX512BW},
    {"avx512gfni", azs_unshuffle_avx512gfni, AZS_CPU_AVX512BW | AZS_CPU_GFNI},
#endif
};

size_t azs_unshuffle_variants(const azs_unshuffle_variant **list)
{
    *list = variants;
    return sizeof variants / sizeof variants[0];
}

azs_unshuffle_fn azs_unshuffle_pick(const char **name)
{
    const unsigned f = azs_cpu_features();
    /* The table is ordered slowest first; the last usable one wins ("scalar" is the
     * reference and is only chosen through the table, never by dispatch). */
    size_t best = 1;
    for (size_t i = 1; i < sizeof variants / sizeof variants[0]; i++)
        if ((variants[i].needs & f) == variants[i].needs)
            best = i;
    if (name)
        *name = variants[best].name;
    return variants[best].fn;
}

void azs_bitunshuffle(const void *in, void *out, size_t n, size_t elem_size)
{
    azs_unshuffle_pick(NULL)((const uint8_t *)in, (uint8_t *)out, n, elem_size, 0);
}

const char *azs_bitunshuffle_variant(void)
{
    const char *name = "swar";
    (void)azs_unshuffle_pick(&name);
    return name;
}
