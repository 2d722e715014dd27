/* GPU decoder (LZ4 + bit-unshuffle kernels) against the original pixels of chunks made by
 * an independent encoder (gpu_test_util.h: liblz4 + a bit shuffle from doc/chunk-format.md):
 * every element size, partial last block, raw tail, frames smaller than one block, plain
 * LZ4 with raw-stored blocks, uncompressed chunks; then hand-made corrupt blocks and random
 * corruption, which must give a per-frame status (and never touch other frames of the
 * batch). Exit 77 (skip) without a device. Run it under compute-sanitizer on the device. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "gpu_test_util.h"

#include "../common/check.h"

static azs_dtype dtype_of(size_t s)
{
    return s == 1 ? AZS_U8 : s == 2 ? AZS_U16 : s == 4 ? AZS_U32 : AZS_U64;
}

/* A batch: nf frames, each with its own chunk. Returns statuses in st (host copy). */
typedef struct {
    azs_codec codec;
    size_t s, n;
    uint32_t nf;
    uint8_t **chunks;
    size_t *sizes;
} batch_t;

static int run_batch(const batch_t *b, uint8_t **out, int32_t *st, int32_t *plan_st)
{
    azs_gpu_config c;
    azs_gpu_config_default(&c);
    c.batch = b->nf;
    c.nslots = 1;
    c.codec = b->codec;
    c.dtype = dtype_of(b->s);
    if (b->s != 1 && b->s != 2 && b->s != 4 && b->s != 8)
        c.elem_bytes = (uint32_t)b->s; /* decode only: no pixel type this size */
    c.npixels = b->n;
    size_t maxc = 16;
    for (uint32_t i = 0; i < b->nf; i++)
        if (b->sizes[i] > maxc)
            maxc = b->sizes[i];
    c.chunk_stride = maxc;
    azs_gpu_engine *e = NULL;
    azs_status rc = azs_gpu_engine_create(&c, NULL, &e);
    if (rc != AZS_OK) {
        fprintf(stderr, "engine: %s: %s\n", azs_status_str(rc), azs_last_error());
        return -1;
    }
    azs_gpu_item *items = azs_gpu_host_items(e, 0);
    size_t cap = azs_gpu_items_capacity(e), nitems = 0;
    uint32_t maxb = 0;
    int32_t hs[64];
    for (uint32_t i = 0; i < b->nf; i++) {
        memcpy(azs_gpu_host_chunk(e, 0, i), b->chunks[i], b->sizes[i]);
        size_t ni = 0;
        uint32_t mb = 0;
        azs_status p = azs_gpu_plan_chunk(b->codec, b->s, azs_gpu_host_chunk(e, 0, i), b->sizes[i],
                                          b->n * b->s, i, items + nitems, cap - nitems, &ni, &mb);
        hs[i] = (int32_t)p;
        plan_st[i] = (int32_t)p;
        if (p == AZS_OK) {
            nitems += ni;
            if (mb > maxb)
                maxb = mb;
        }
    }
    rc = azs_gpu_submit(e, 0, b->nf, b->sizes, nitems, maxb, hs);
    const int32_t *gs = NULL;
    if (rc == AZS_OK)
        rc = azs_gpu_wait(e, 0, NULL, NULL, &gs, NULL);
    if (rc != AZS_OK) {
        fprintf(stderr, "submit/wait: %s: %s\n", azs_status_str(rc), azs_last_error());
        azs_gpu_engine_destroy(e);
        return -1;
    }
    for (uint32_t i = 0; i < b->nf; i++) {
        st[i] = gs[i];
        if (out && out[i])
            azs_gpu_download_decoded(e, 0, i, out[i], b->n * b->s);
    }
    azs_gpu_engine_destroy(e);
    return 0;
}

static void case_roundtrip(azs_codec codec, size_t s, size_t n, size_t block_elems, int mode)
{
    enum { NF = 4 };
    uint8_t *orig[NF], *chunks[NF], *out[NF];
    size_t sizes[NF];
    size_t nbytes = n * s;
    for (int i = 0; i < NF; i++) {
        orig[i] = malloc(nbytes + 1);
        out[i] = malloc(nbytes + 1);
        chunks[i] = malloc(2 * nbytes + 64 + n / 16 * 4 + 4096);
        tu_fill_pixels(orig[i], n, s, i == 3 ? 1 : mode);
        if (codec == AZS_CODEC_BSLZ4)
            sizes[i] = tu_encode_bslz4(orig[i], n, s, block_elems, chunks[i]);
        else if (codec == AZS_CODEC_LZ4)
            sizes[i] = tu_encode_lz4(orig[i], nbytes, block_elems * s, chunks[i]);
        else {
            memcpy(chunks[i], orig[i], nbytes);
            sizes[i] = nbytes;
        }
        memset(out[i], 0xA5, nbytes);
    }
    batch_t b = {codec, s, n, NF, chunks, sizes};
    int32_t st[NF], ps[NF];
    if (run_batch(&b, out, st, ps) != 0) {
        failures++;
        return;
    }
    for (int i = 0; i < NF; i++) {
        CHECK(ps[i] == AZS_OK && st[i] == AZS_OK, "codec %d s=%zu n=%zu block=%zu frame %d: plan %d gpu %d",
              (int)codec, s, n, block_elems, i, ps[i], st[i]);
        size_t bad = nbytes;
        for (size_t k = 0; k < nbytes; k++)
            if (out[i][k] != orig[i][k]) {
                bad = k;
                break;
            }
        CHECK(bad == nbytes, "codec %d s=%zu n=%zu block=%zu frame %d: first wrong byte %zu",
              (int)codec, s, n, block_elems, i, bad);
    }
    for (int i = 0; i < NF; i++) {
        free(orig[i]);
        free(out[i]);
        free(chunks[i]);
    }
}

/* One-block chunks with hand-made LZ4 payloads: n = 256 u32 = 1024 bytes. */
static size_t hand_chunk(uint8_t *dst, const uint8_t *payload, size_t plen)
{
    tu_put_be64(dst, 1024);
    tu_put_be32(dst + 8, 1024);
    tu_put_be32(dst + 12, (uint32_t)plen);
    memcpy(dst + 16, payload, plen);
    return 16 + plen;
}

static void case_corrupt(void)
{
    static const uint8_t p_off0[] = {0x10, 'A', 0x00, 0x00};
    static const uint8_t p_offbig[] = {0x10, 'A', 0x05, 0x00};
    static const uint8_t p_litpast[] = {0xF0, 0x10, 'A'};
    static const uint8_t p_matchpast[] = {0x1F, 'A', 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x10, 0x00};
    static const uint8_t p_noext[] = {0xF0};
    static const uint8_t p_short[] = {0x10, 'A'}; /* valid LZ4, decodes to 1 byte: size */
    static const uint8_t p_good[] = {0x1F, 'A', 0x01, 0x00, 0xFF, 0xFF, 0xFF, 0xEF, 0x00};
    struct { const uint8_t *p; size_t n; int expect_ok; } cases[] = {
        {p_good, sizeof p_good, 1},       {p_off0, sizeof p_off0, 0},
        {p_offbig, sizeof p_offbig, 0},   {p_litpast, sizeof p_litpast, 0},
        {p_matchpast, sizeof p_matchpast, 0}, {p_noext, sizeof p_noext, 0},
        {p_short, sizeof p_short, 0},     {p_good, sizeof p_good, 1},
    };
    enum { NF = sizeof cases / sizeof cases[0] };
    uint8_t *chunks[NF], *out[NF];
    size_t sizes[NF];
    for (int i = 0; i < NF; i++) {
        chunks[i] = malloc(64);
        out[i] = malloc(1024);
        sizes[i] = hand_chunk(chunks[i], cases[i].p, cases[i].n);
    }
    batch_t b = {AZS_CODEC_BSLZ4, 4, 256, NF, chunks, sizes};
    int32_t st[NF], ps[NF];
    if (run_batch(&b, out, st, ps) != 0) {
        failures++;
        return;
    }
    uint8_t ones[1024], expect[1024];
    memset(ones, 'A', sizeof ones);
    tu_bitunshuffle(ones, expect, 256, 4);
    for (int i = 0; i < NF; i++) {
        if (cases[i].expect_ok) {
            CHECK(ps[i] == AZS_OK, "hand case %d: planner said %d", i, ps[i]);
            CHECK(st[i] == AZS_OK, "hand case %d: status %d", i, st[i]);
            CHECK(memcmp(out[i], expect, 1024) == 0, "hand case %d: wrong bytes", i);
        } else {
            /* Found by the planner (a payload too short for the block the header
             * announces: codec's lying-header check) or by the GPU decoder. */
            const int32_t e = ps[i] != AZS_OK ? ps[i] : st[i];
            CHECK(e == AZS_ERR_CORRUPT || e == AZS_ERR_TRUNCATED || e == AZS_ERR_SIZE_MISMATCH,
                  "hand case %d: planner %d, GPU %d, want a codec error", i, ps[i], st[i]);
        }
        printf("hand case %d: planner %d, GPU %d (%s)\n", i, ps[i], st[i],
               azs_status_str((azs_status)(ps[i] != AZS_OK ? ps[i] : st[i])));
        free(chunks[i]);
        free(out[i]);
    }
}

/* Random corruption of real-looking chunks: any status, no crash, good frames intact. */
static void case_fuzz(void)
{
    enum { NF = 24 };
    const size_t s = 4, n = 20000;
    uint8_t *orig[NF], *chunks[NF], *out[NF];
    size_t sizes[NF];
    int bad_frame[NF];
    for (int i = 0; i < NF; i++) {
        orig[i] = malloc(n * s);
        out[i] = malloc(n * s);
        chunks[i] = malloc(2 * n * s + 4096);
        tu_fill_pixels(orig[i], n, s, i % 3 == 2 ? 2 : 0);
        sizes[i] = tu_encode_bslz4(orig[i], n, s, 2048, chunks[i]);
        bad_frame[i] = i % 2;
        if (bad_frame[i]) {
            /* damage bytes inside LZ4 payloads, not the 12-byte header */
            int k = 1 + (int)(tu_next() % 8);
            for (int j = 0; j < k; j++)
                chunks[i][16 + tu_next() % (sizes[i] - 16)] ^= (uint8_t)(1 + tu_next() % 255);
        }
    }
    batch_t b = {AZS_CODEC_BSLZ4, s, n, NF, chunks, sizes};
    int32_t st[NF], ps[NF];
    if (run_batch(&b, out, st, ps) != 0) {
        failures++;
        return;
    }
    int nbad = 0;
    for (int i = 0; i < NF; i++) {
        if (!bad_frame[i]) {
            CHECK(st[i] == AZS_OK && memcmp(out[i], orig[i], n * s) == 0,
                  "fuzz: intact frame %d: status %d or wrong bytes", i, st[i]);
        } else if (st[i] != AZS_OK) {
            nbad++;
        }
    }
    printf("fuzz: %d of %d damaged frames reported (others decoded to some bytes)\n", nbad, NF / 2);
    CHECK(nbad > 0, "fuzz: no damaged frame was reported");
    for (int i = 0; i < NF; i++) {
        free(orig[i]);
        free(out[i]);
        free(chunks[i]);
    }
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && !strcmp(argv[1], "--quick"); /* under compute-sanitizer */
    if (azs_gpu_available() == 0) {
        printf("no CUDA device: skipped\n");
        return SKIP;
    }
    const size_t sizes[] = {1, 2, 4, 8};
    for (int k = 0; k < 4; k++) {
        size_t s = sizes[k];
        size_t be = 8192 / s;
        case_roundtrip(AZS_CODEC_BSLZ4, s, 5 * be, be, 0);           /* whole blocks */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 3 * be + 1000 + 5, be, 0); /* partial + tail */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 301, be, 2);               /* one partial block */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 7, be, 0);                 /* tail only */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 4 * (1024 / s) + 13, 1024 / s, 2); /* small blocks */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 2 * (32768 / s) + 77, 32768 / s, 0); /* largest */
        case_roundtrip(AZS_CODEC_LZ4, s, 100003, 8192 / s, 2);
        case_roundtrip(AZS_CODEC_LZ4, s, 50000, 1 << 20, 0); /* one large block, global */
        case_roundtrip(AZS_CODEC_NONE, s, 30011, 0, 0);
    }
    /* Blocks under 1 KiB (planned as runs of blocks, as in the bitshuffle regression files)
     * and element sizes without a pixel type (bytewise unshuffle). */
    const size_t odd[] = {1, 2, 3, 4, 6, 8, 10};
    for (int k = 0; k < 7; k++) {
        size_t s = odd[k];
        case_roundtrip(AZS_CODEC_BSLZ4, s, 8 * 37 + 5, 8, 0);       /* 8-element blocks */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 64 * 40 + 19, 64, 2);    /* partial block + tail */
        case_roundtrip(AZS_CODEC_BSLZ4, s, 3 * (8192 / s / 8 * 8) + 13, 8192 / s / 8 * 8, 1);
        case_roundtrip(AZS_CODEC_BSLZ4, s, 200, 1024, 0);           /* one partial block */
    }
    if (!quick)
        case_roundtrip(AZS_CODEC_BSLZ4, 4, 2162 * 2068, 2048, 0); /* Eiger 4M shape */
    case_corrupt();
    case_fuzz();
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    printf("gpu decode: all cases bit-exact\n");
    return 0;
}
