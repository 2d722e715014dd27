/* Codec unit tests: encode/decode consistency for every codec, element size, block size
 * and length (partial block, raw tail), the OpenMP decoder equal to the serial one, and
 * hostile input: every truncation, wrong sizes, lengths pointing outside, zero/huge
 * block sizes, garbage, random corruption -> an error status with a message, never a
 * crash or overread (run under ASan in make test).
 * Agreement with the reference implementation is tested separately (golden_codec.py). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"

#define CHECK_CONTEXT() fprintf(stderr, " [%s]", azs_last_error())
#include "../common/check.h"

static uint64_t rng = 88172645463325252ull;
static uint32_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng >> 16);
}

/* Detector-like data: small Poisson-ish counts so that the chunks compress. */
static void fill(uint8_t *p, size_t nbytes, size_t s, int kind)
{
    for (size_t i = 0; i < nbytes; i++)
        p[i] = kind ? (i % s == 0 ? (uint8_t)(rnd() % 7) : (uint8_t)(rnd() % 50 == 0)) : (uint8_t)rnd();
}

static uint8_t *encode(azs_codec c, size_t s, size_t be, const uint8_t *src, size_t nb, size_t *len)
{
    size_t cap = azs_chunk_encode_bound(c, nb, s, be);
    uint8_t *buf = malloc(cap ? cap : 1);
    azs_status st = azs_chunk_encode(c, s, be, src, nb, buf, cap, len);
    CHECK(st == AZS_OK, "encode codec %d s %zu be %zu nbytes %zu: %s", (int)c, s, be, nb,
          azs_status_str(st));
    return buf;
}

static void roundtrips(void)
{
    static const size_t sizes[] = {1, 2, 3, 4, 8};
    static const size_t blocks[] = {0, 8, 64, 128, 2048, 4096};
    static const size_t ns[] = {0, 1, 7, 8, 9, 63, 64, 65, 1000, 2047, 2048, 2049, 5003, 20000};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof blocks / sizeof *blocks; b++)
            for (size_t c = 0; c < sizeof ns / sizeof *ns; c++)
                for (int codec = 0; codec < 3; codec++) {
                    const azs_codec cd = codec == 0 ? AZS_CODEC_BSLZ4 : codec == 1 ? AZS_CODEC_LZ4 : AZS_CODEC_NONE;
                    const size_t s = sizes[a], be = blocks[b], nb = ns[c] * s;
                    uint8_t *src = malloc(nb + 1), *dst = malloc(nb + 1), *dst2 = malloc(nb + 1);
                    fill(src, nb, s, (int)(c & 1));
                    size_t len = 0, out = 0;
                    uint8_t *chunk = encode(cd, s, be, src, nb, &len);
                    azs_status st = azs_chunk_decode(cd, s, chunk, len, dst, nb, &out);
                    CHECK(st == AZS_OK && out == nb && (nb == 0 || !memcmp(src, dst, nb)),
                          "roundtrip codec %d s %zu block %zu n %zu: %s", (int)cd, s, be, ns[c],
                          azs_status_str(st));
                    if (cd == AZS_CODEC_BSLZ4) {
                        memset(dst2, 0, nb + 1);
                        st = azs_bslz4_decode_omp(s, chunk, len, dst2, nb, &out);
                        CHECK(st == AZS_OK && out == nb && (nb == 0 || !memcmp(src, dst2, nb)),
                              "omp decode s %zu block %zu n %zu", s, be, ns[c]);
                    }
                    if (nb > 0 && cd != AZS_CODEC_NONE) {
                        st = azs_chunk_decode(cd, s, chunk, len, dst, nb - 1, &out);
                        CHECK(st == AZS_ERR_CAPACITY, "capacity s %zu n %zu: %s", s, ns[c],
                              azs_status_str(st));
                    }
                    free(chunk);
                    free(src);
                    free(dst);
                    free(dst2);
                }
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

static void hostile_one(azs_codec cd, size_t s)
{
    const size_t n = 1000 + 3, nb = n * s; /* several blocks, a partial one and a raw tail */
    uint8_t *src = malloc(nb), *dst = malloc(nb);
    fill(src, nb, s, 1);
    size_t len, out;
    uint8_t *chunk = encode(cd, s, 128, src, nb, &len);
    uint8_t *work = malloc(len + 16);
    azs_status st;

    /* every truncation fails (copy to an exact-size buffer so ASan sees any overread) */
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, chunk, cut);
        st = azs_chunk_decode(cd, s, t, cut, dst, nb, &out);
        CHECK(st == AZS_ERR_TRUNCATED || st == AZS_ERR_CORRUPT || st == AZS_ERR_SIZE_MISMATCH,
              "codec %d truncated to %zu of %zu: status %s", (int)cd, cut, len, azs_status_str(st));
        CHECK(st == AZS_OK || azs_last_error()[0], "no message for truncation at %zu", cut);
        if (cd == AZS_CODEC_BSLZ4) {
            st = azs_bslz4_decode_omp(s, t, cut, dst, nb, &out);
            CHECK(st != AZS_OK, "omp truncated to %zu accepted", cut);
        }
        free(t);
    }
    /* total larger than the destination */
    memcpy(work, chunk, len);
    put_be64(work, (uint64_t)nb * 2);
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st == AZS_ERR_CAPACITY, "doubled total: %s", azs_status_str(st));
    /* huge total: bitshuffle says the header lies (the chunk cannot hold that many
     * blocks), not "buffer too small" */
    put_be64(work, UINT64_MAX / (8 * s) * (8 * s)); /* whole elements */
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(cd == AZS_CODEC_BSLZ4 ? st == AZS_ERR_CORRUPT && strstr(azs_last_error(), "header says") &&
                                      strstr(azs_last_error(), "chunk holds")
                                : st == AZS_ERR_CAPACITY,
          "huge total: %s %s", azs_status_str(st), azs_last_error());
    /* total smaller than the data: a block decodes to more than expected */
    put_be64(work, (uint64_t)(nb - 8 * s * 20));
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st != AZS_OK || cd == AZS_CODEC_LZ4, "short total accepted: %s", azs_status_str(st));
    /* zero block size */
    memcpy(work, chunk, len);
    put_be32(work + 8, 0);
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st == AZS_ERR_CORRUPT, "zero block: %s", azs_status_str(st));
    /* huge block size */
    put_be32(work + 8, 0xFFFFFFF8u);
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st != AZS_OK, "huge block accepted");
    /* block size not a multiple of 8 elements */
    if (cd == AZS_CODEC_BSLZ4) {
        put_be32(work + 8, (uint32_t)(12 * s));
        st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
        CHECK(st == AZS_ERR_CORRUPT, "block of 12 elements: %s", azs_status_str(st));
        /* total not a whole number of elements */
        if (s > 1) {
            memcpy(work, chunk, len);
            put_be64(work, nb - 1);
            st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
            CHECK(st == AZS_ERR_CORRUPT, "total %zu not a multiple of %zu: %s", nb - 1, s,
                  azs_status_str(st));
        }
    }
    /* first block length pointing outside the buffer */
    memcpy(work, chunk, len);
    put_be32(work + 12, (uint32_t)len);
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st == AZS_ERR_TRUNCATED, "block length outside: %s", azs_status_str(st));
    CHECK(strstr(azs_last_error(), "block 0") != NULL, "message names the block: '%s'",
          azs_last_error());
    put_be32(work + 12, 0xFFFFFFFFu);
    st = azs_chunk_decode(cd, s, work, len, dst, nb, &out);
    CHECK(st == AZS_ERR_TRUNCATED, "block length 2^32-1: %s", azs_status_str(st));
    /* garbage in the LZ4 data of each block */
    for (size_t off = 16; off < len; off += 7) {
        memcpy(work, chunk, len);
        work[off] ^= (uint8_t)(1 + rnd() % 255);
        st = azs_chunk_decode(cd, s, work, len, dst, nb, &out); /* any status; no crash */
        if (cd == AZS_CODEC_BSLZ4)
            (void)azs_bslz4_decode_omp(s, work, len, dst, nb, &out);
    }
    /* pure garbage */
    for (int r = 0; r < 200; r++) {
        size_t gl = rnd() % 300;
        uint8_t *g = malloc(gl ? gl : 1);
        for (size_t i = 0; i < gl; i++)
            g[i] = (uint8_t)rnd();
        if (gl >= 12 && r % 2)
            put_be64(g, rnd() % (nb + 1)); /* plausible total so blocks get parsed */
        (void)azs_chunk_decode(cd, s, g, gl, dst, nb, &out);
        free(g);
    }
    free(work);
    free(chunk);
    free(src);
    free(dst);
}

static void headers(void)
{
    azs_chunk_header h;
    uint8_t b[12] = {0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0x20, 0};
    CHECK(azs_chunk_read_header(b, 12, &h) == AZS_OK && h.total_bytes == 256 && h.block_bytes == 8192,
          "header parse");
    CHECK(azs_chunk_read_header(b, 11, &h) == AZS_ERR_TRUNCATED, "short header");
    size_t out;
    CHECK(azs_chunk_decode((azs_codec)12345, 1, b, 12, b, 12, &out) == AZS_ERR_UNSUPPORTED,
          "unknown codec");
    CHECK(azs_chunk_decode(AZS_CODEC_BSLZ4, 0, b, 12, b, 12, &out) != AZS_OK, "element size 0");
}

int main(void)
{
    headers();
    roundtrips();
    for (size_t s = 1; s <= 8; s *= 2) {
        hostile_one(AZS_CODEC_BSLZ4, s);
        hostile_one(AZS_CODEC_LZ4, s);
    }
    hostile_one(AZS_CODEC_BSLZ4, 3);
    printf("codec unit tests: %d failures\n", failures);
    return failures ? 1 : 0;
}
