/* CPU chunk planner of the GPU decoder (no GPU needed; runs under ASan): items of valid
 * chunks tile the decoded frame exactly and stay inside the chunk; every truncation of a
 * chunk and random damage to its block lengths give an error status, never an overread. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/gpu.h"
#include "gpu_test_util.h"

static int failures;

static int check_tiling(const azs_gpu_item *it, size_t n, size_t frame_bytes, size_t chunk_size)
{
    /* items are produced in dst order */
    uint64_t dst = 0;
    for (size_t i = 0; i < n; i++) {
        if (it[i].dst_off != dst || (uint64_t)it[i].src_off + it[i].src_len > chunk_size)
            return 0;
        if (it[i].kind == AZS_GPU_ITEM_COPY && it[i].src_len != it[i].dst_len)
            return 0;
        dst += it[i].dst_len;
    }
    return dst == frame_bytes;
}

static void one(azs_codec codec, size_t s, size_t n, size_t block_elems)
{
    size_t nbytes = n * s;
    uint8_t *px = malloc(nbytes + 1), *ch = malloc(2 * nbytes + 4096);
    tu_fill_pixels(px, n, s, 0);
    size_t size = codec == AZS_CODEC_BSLZ4 ? tu_encode_bslz4(px, n, s, block_elems, ch)
                                           : tu_encode_lz4(px, nbytes, block_elems * s, ch);
    size_t cap = azs_gpu_max_items_per_frame(codec, s, nbytes);
    azs_gpu_item *items = malloc(cap * sizeof *items);
    size_t ni;
    uint32_t mb;
    azs_status st = azs_gpu_plan_chunk(codec, s, ch, size, nbytes, 0, items, cap, &ni, &mb);
    if (st != AZS_OK || !check_tiling(items, ni, nbytes, size)) {
        fprintf(stderr, "FAIL codec %d s %zu n %zu: status %d / bad tiling\n", (int)codec, s, n, st);
        failures++;
    }
    /* every truncation: an error (copied to an exact-size buffer so ASan sees overreads) */
    for (size_t cut = 0; cut < size; cut += 1 + size / 300) {
        uint8_t *t = malloc(cut ? cut : 1);
        memcpy(t, ch, cut);
        st = azs_gpu_plan_chunk(codec, s, t, cut, nbytes, 0, items, cap, &ni, &mb);
        if (st == AZS_OK) {
            fprintf(stderr, "FAIL codec %d: chunk cut at %zu of %zu accepted\n", (int)codec, cut, size);
            failures++;
        }
        free(t);
    }
    /* damaged bytes anywhere: any status, and if OK the items stay inside */
    for (int r = 0; r < 300; r++) {
        uint8_t *t = malloc(size);
        memcpy(t, ch, size);
        for (int k = 0; k < 3; k++)
            t[tu_next() % size] ^= (uint8_t)(1 + tu_next() % 255);
        st = azs_gpu_plan_chunk(codec, s, t, size, nbytes, 0, items, cap, &ni, &mb);
        if (st == AZS_OK && !check_tiling(items, ni, nbytes, size)) {
            fprintf(stderr, "FAIL codec %d: damaged chunk gave items outside\n", (int)codec);
            failures++;
        }
        free(t);
    }
    free(items);
    free(px);
    free(ch);
}

int main(void)
{
    for (size_t s = 1; s <= 8; s *= 2) {
        one(AZS_CODEC_BSLZ4, s, 3 * (8192 / s) + 1001, 8192 / s);
        one(AZS_CODEC_BSLZ4, s, 5, 8192 / s);
        one(AZS_CODEC_LZ4, s, 20000, 8192 / s);
    }
    /* blocks under 1 KiB: runs of blocks, items stay within the per-frame bound */
    for (size_t s = 1; s <= 10; s++) {
        one(AZS_CODEC_BSLZ4, s, 8 * 300 + 3, 8);
        one(AZS_CODEC_BSLZ4, s, 64 * 50 + 21, 64);
        one(AZS_CODEC_BSLZ4, s, 1000, 8192 / s / 8 * 8);
    }
    /* too small a capacity: AZS_ERR_CAPACITY, not an overflow */
    uint8_t px[4096 * 4], ch[40000];
    tu_fill_pixels(px, 4096, 4, 0);
    size_t size = tu_encode_bslz4(px, 4096, 4, 256, ch);
    azs_gpu_item items[2];
    size_t ni;
    uint32_t mb;
    if (azs_gpu_plan_chunk(AZS_CODEC_BSLZ4, 4, ch, size, sizeof px, 0, items, 2, &ni, &mb) !=
        AZS_ERR_CAPACITY) {
        fprintf(stderr, "FAIL: capacity not reported\n");
        failures++;
    }
    if (azs_gpu_plan_chunk(AZS_CODEC_BSLZ4, 4, ch, size, sizeof px + 4, 0, items, 2, &ni, &mb) !=
        AZS_ERR_SIZE_MISMATCH) {
        fprintf(stderr, "FAIL: size mismatch not reported\n");
        failures++;
    }
    if (failures)
        return 1;
    printf("gpu plan: ok\n");
    return 0;
}
