/* Synthetic Eiger2-like frame for the GPU benchmarks: Poisson counts of a given mean,
 * module gaps (every 514 of 551 rows, 1030 of 1040 columns) set to 0xFFFFFFFF, encoded as a
 * bitshuffle-LZ4 chunk (2048-element blocks) by the tests' independent encoder. */
#ifndef AZS_BENCH_GPU_SYNTH_H
#define AZS_BENCH_GPU_SYNTH_H
#include <math.h>

#include "../tests/gpu/gpu_test_util.h"

static inline uint32_t gb_poisson(double mean)
{
    double l = exp(-mean), p = 1.0;
    uint32_t k = 0;
    do {
        k++;
        p *= (double)(tu_next() >> 11) * (1.0 / 9007199254740992.0);
    } while (p > l && k < 1000);
    return k - 1;
}

static inline uint8_t *gb_synth_frame(uint32_t ny, uint32_t nx, double mean, size_t *size)
{
    size_t npx = (size_t)ny * nx, fbytes = npx * 4;
    uint32_t *px = malloc(fbytes);
    for (uint32_t y = 0; y < ny; y++)
        for (uint32_t x = 0; x < nx; x++) {
            int gap = (y % 551) >= 514 || (x % 1040) >= 1030;
            px[(size_t)y * nx + x] = gap ? 0xFFFFFFFFu : gb_poisson(mean);
        }
    uint8_t *c = malloc(fbytes + fbytes / 8 + 65536);
    *size = tu_encode_bslz4((const uint8_t *)px, npx, 4, 2048, c);
    free(px);
    return c;
}
#endif
