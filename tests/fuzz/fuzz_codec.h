/* Shared body of the codec fuzz harnesses: decode, and when the chunk is valid, encode
 * the result again and check that our decoder reads our encoder's chunk back. For
 * bitshuffle-LZ4 the OpenMP decoder and the block-by-block reader (the fused engine's
 * input) must agree with the serial decoder. */
#ifndef AZS_TESTS_FUZZ_CODEC_H
#define AZS_TESTS_FUZZ_CODEC_H

#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"

#define FUZZ_MAX_OUT (1u << 22)

static void fuzz_codec_one(azs_codec codec, size_t s, const uint8_t *data, size_t size, int omp)
{
    azs_chunk_header h;
    size_t cap = 64;
    if (azs_chunk_read_header(data, size, &h) == AZS_OK)
        cap = h.total_bytes < FUZZ_MAX_OUT ? (size_t)h.total_bytes : FUZZ_MAX_OUT;
    /* exact-size copies so that ASan sees any read or write outside the buffers */
    uint8_t *src = malloc(size ? size : 1), *dst = malloc(cap ? cap : 1);
    if (!src || !dst)
        abort();
    if (size)
        memcpy(src, data, size);
    size_t out = 0;
    azs_status st = azs_chunk_decode(codec, s, src, size, dst, cap, &out);
    if (omp && codec == AZS_CODEC_BSLZ4) {
        uint8_t *d2 = malloc(cap ? cap : 1);
        size_t out2 = 0;
        azs_status st2 = azs_bslz4_decode_omp(s, src, size, d2, cap, &out2);
        if ((st == AZS_OK) != (st2 == AZS_OK) || (st == AZS_OK && memcmp(dst, d2, out) != 0))
            abort(); /* the two decoders must agree */
        free(d2);
    }
    if (codec == AZS_CODEC_BSLZ4 && st != AZS_ERR_CAPACITY) {
        /* Block by block into an exact-size buffer; the blocks must be the decoder's bytes. */
        azs_bslz4_blocks b;
        azs_status sb = azs_bslz4_blocks_init(&b, s, src, size);
        uint8_t *d4 = NULL, *scratch = NULL;
        size_t at = 0;
        if (sb == AZS_OK && b.total_bytes <= FUZZ_MAX_OUT) {
            d4 = malloc(b.total_bytes ? (size_t)b.total_bytes : 1);
            scratch = malloc(b.max_block_bytes ? b.max_block_bytes : 1);
            if (!d4 || !scratch)
                abort();
            for (;;) {
                size_t got = 0;
                sb = azs_bslz4_blocks_next(&b, d4 + at, (size_t)b.total_bytes - at, scratch, &got);
                if (sb != AZS_OK || got == 0)
                    break;
                at += got * s;
            }
            if ((st == AZS_OK) != (sb == AZS_OK) ||
                (st == AZS_OK && (at != out || memcmp(dst, d4, out) != 0)))
                abort();
        } else if (st == AZS_OK && sb != AZS_OK) {
            abort();
        }
        free(d4);
        free(scratch);
    }
    if (st == AZS_OK && out <= (1u << 20)) {
        size_t ecap = azs_chunk_encode_bound(codec, out, s, 0), elen = 0, out3 = 0;
        uint8_t *e = malloc(ecap ? ecap : 1), *d3 = malloc(out ? out : 1);
        if (azs_chunk_encode(codec, s, 0, dst, out, e, ecap, &elen) != AZS_OK)
            abort();
        if (azs_chunk_decode(codec, s, e, elen, d3, out, &out3) != AZS_OK || out3 != out ||
            (out && memcmp(d3, dst, out) != 0))
            abort();
        free(e);
        free(d3);
    }
    free(src);
    free(dst);
}

#endif
