/* Internal: bit-shuffle kernels of the codec (format: doc/chunk-format.md).
 *
 * A bit-shuffled block of n elements (n a multiple of 8) of s bytes is 8*s rows of n/8
 * bytes: row 8*b + k holds bit k of byte b of every element, element e at bit e%8 of
 * byte e/8 of the row. Unshuffling is therefore, for each byte b of the element and
 * each group of 8 elements (one "column" c = e/8 of the rows), an 8x8 bit-matrix
 * transpose: 8 bytes gathered from rows 8b..8b+7 at column c become byte b of the
 * elements 8c..8c+7.
 *
 * Every variant below works in two passes over an L1-sized tile of columns:
 *   A. per byte b: gather the 8 rows' bytes per column into one 64-bit word, transpose
 *      its 8x8 bits, store it: this makes "plane" b (byte b of every element, in order);
 *   B. interleave the s planes into whole elements (skipped for s == 1).
 * Both passes are plain byte transposes plus an in-register 8x8 bit transpose, which
 * vectorise well with unpack instructions (or GFNI's affine instruction for the bits). */
#ifndef AZS_CODEC_BITSHUFFLE_H
#define AZS_CODEC_BITSHUFFLE_H

#include <stddef.h>
#include <stdint.h>

/* stream != 0: the caller will not read `out` soon (large frames): SIMD variants may
 * use non-temporal stores (see unshuffle_x86.c). Results are identical either way. */
typedef void (*azs_unshuffle_fn)(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                                 size_t elem_size, int stream);

/* Reference: one bit at a time, straight from the definition. */
void azs_unshuffle_scalar(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                          size_t elem_size, int stream);
/* Portable 64-bit (SWAR) variant: the fallback on CPUs without the x86 SIMD variants. */
void azs_unshuffle_swar(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                        size_t elem_size, int stream);
#if defined(__x86_64__) || defined(__i386__)
void azs_unshuffle_sse2(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                        size_t elem_size, int stream);
void azs_unshuffle_avx2(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                        size_t elem_size, int stream);
void azs_unshuffle_avx512(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                          size_t elem_size, int stream);
void azs_unshuffle_avx512gfni(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                              size_t elem_size, int stream);
#endif

/* Variant table for tests and benchmarks: every variant compiled in, with the CPU
 * features (common/cpu.h bits) it needs. */
typedef struct azs_unshuffle_variant {
    const char *name;
    azs_unshuffle_fn fn;
    unsigned needs;
} azs_unshuffle_variant;
size_t azs_unshuffle_variants(const azs_unshuffle_variant **list);

/* The variant dispatch picks now (respects azs_cpu_limit). */
azs_unshuffle_fn azs_unshuffle_pick(const char **name);

/* Forward shuffle (encoder only; portable SWAR). n a multiple of 8; in != out. */
void azs_bitshuffle_fwd(const uint8_t *restrict in, uint8_t *restrict out, size_t n,
                        size_t elem_size);

/* Transpose the 8x8 bit matrix held in x (byte k = row k, bit i = column i). */
static inline uint64_t azs_transpose8x8(uint64_t x)
{
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x = x ^ t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x = x ^ t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    x = x ^ t ^ (t << 28);
    return x;
}

/* Largest element size the tiled variants handle; larger ones use the reference. */
#define AZS_UNSHUFFLE_MAX_ELEM 32
/* Bytes of the on-stack tile of planes (pass A output, pass B input). */
#define AZS_UNSHUFFLE_TILE_BYTES 16384

#endif
