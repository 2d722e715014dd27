/* Test helpers for the GPU tests: an independent chunk encoder written from the format
 * description (doc/chunk-format.md) on top of liblz4, so the GPU decoder is checked against the
 * original pixels and not against our own decoder. Header-only, tests only. */
#ifndef AZS_TEST_GPU_UTIL_H
#define AZS_TEST_GPU_UTIL_H

#include <lz4.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SKIP 77

static uint64_t tu_rng = 0x9E3779B97F4A7C15ull;
static inline uint64_t tu_next(void)
{
    tu_rng ^= tu_rng << 13;
    tu_rng ^= tu_rng >> 7;
    tu_rng ^= tu_rng << 17;
    return tu_rng;
}

static inline void tu_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void tu_put_be64(uint8_t *p, uint64_t v)
{
    tu_put_be32(p, (uint32_t)(v >> 32));
    tu_put_be32(p + 4, (uint32_t)v);
}

/* Bit shuffle of m elements (m % 8 == 0) of s bytes: row 8b+k holds bit k of byte b of
 * every element, element e at bit e%8 of byte e/8 of the row. */
static inline void tu_bitshuffle(const uint8_t *in, uint8_t *out, size_t m, size_t s)
{
    size_t cols = m / 8;
    memset(out, 0, m * s);
    for (size_t e = 0; e < m; e++)
        for (size_t b = 0; b < s; b++)
            for (int k = 0; k < 8; k++)
                if (in[e * s + b] >> k & 1)
                    out[(8 * b + k) * cols + e / 8] |= (uint8_t)(1u << (e % 8));
}

/* Bitshuffle-LZ4 chunk (filter 32008) of n elements; block_elems % 8 == 0. Returns size. */
static inline size_t tu_encode_bslz4(const uint8_t *src, size_t n, size_t s, size_t block_elems,
                              uint8_t *dst)
{
    size_t pos = 12;
    tu_put_be64(dst, (uint64_t)n * s);
    tu_put_be32(dst + 8, (uint32_t)(block_elems * s));
    uint8_t *tmp = malloc(block_elems * s + 16);
    size_t done = 0;
    while (n - done >= 8) {
        size_t m = n - done >= block_elems ? block_elems : (n - done) - (n - done) % 8;
        tu_bitshuffle(src + done * s, tmp, m, s);
        int c = LZ4_compress_default((const char *)tmp, (char *)dst + pos + 4, (int)(m * s),
                                     LZ4_compressBound((int)(m * s)));
        tu_put_be32(dst + pos, (uint32_t)c);
        pos += 4 + (size_t)c;
        done += m;
    }
    memcpy(dst + pos, src + done * s, (n - done) * s); /* raw tail */
    pos += (n - done) * s;
    free(tmp);
    return pos;
}

/* LZ4 chunk (filter 32004): blocks stored raw when they would not shrink. */
static inline size_t tu_encode_lz4(const uint8_t *src, size_t nbytes, size_t block, uint8_t *dst)
{
    size_t pos = 12;
    tu_put_be64(dst, nbytes);
    tu_put_be32(dst + 8, (uint32_t)block);
    uint8_t *tmp = malloc((size_t)LZ4_compressBound((int)block));
    for (size_t done = 0; done < nbytes;) {
        size_t m = nbytes - done < block ? nbytes - done : block;
        int c = LZ4_compress_default((const char *)src + done, (char *)tmp, (int)m,
                                     LZ4_compressBound((int)m));
        if (c <= 0 || (size_t)c >= m) {
            tu_put_be32(dst + pos, (uint32_t)m);
            memcpy(dst + pos + 4, src + done, m);
            pos += 4 + m;
        } else {
            tu_put_be32(dst + pos, (uint32_t)c);
            memcpy(dst + pos + 4, tmp, (size_t)c);
            pos += 4 + (size_t)c;
        }
        done += m;
    }
    free(tmp);
    return pos;
}

/* Inverse of tu_bitshuffle (reference for hand-made blocks). */
static inline void tu_bitunshuffle(const uint8_t *in, uint8_t *out, size_t m, size_t s)
{
    size_t cols = m / 8;
    memset(out, 0, m * s);
    for (size_t e = 0; e < m; e++)
        for (size_t b = 0; b < s; b++)
            for (int k = 0; k < 8; k++)
                if (in[(8 * b + k) * cols + e / 8] >> (e % 8) & 1)
                    out[e * s + b] |= (uint8_t)(1u << k);
}

/* Detector-like pixels: mostly small counts (compressible), some large, some 0xFF..FF. */
static inline void tu_fill_pixels(uint8_t *p, size_t n, size_t s, int random_bytes)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t r = tu_next();
        uint64_t v;
        if (random_bytes == 1)
            v = r;
        else if (random_bytes == 2) /* short periods: overlapping LZ4 matches */
            v = (i % (3 + (i / 4096) % 5)) * 0x0101010101010101ull;
        else if ((r & 1023) == 0)
            v = ~0ull; /* dummy-like */
        else if ((r & 63) == 1)
            v = r >> 20;
        else
            v = (r >> 40) % 17;
        memcpy(p + i * s, &v, s < 8 ? s : 8); /* little-endian host */
        for (size_t b = 8; b < s; b++)       /* elements over 8 bytes: more of the same kind */
            p[i * s + b] = (uint8_t)(random_bytes == 1 ? tu_next() : v >> (8 * (b % 8)));
    }
}

#endif
