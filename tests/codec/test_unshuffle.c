/* Each bit-unshuffle variant against the scalar reference on random data, for element
 * sizes 1..10, 16, 32, 40 and many n (multiples of 8, small and large, around tile and
 * vector edges). Also: the encoder's forward shuffle inverted by the reference, and the
 * dispatcher honouring azs_cpu_limit.
 * Usage: test_unshuffle VARIANT   (exit 77 = skipped: the CPU lacks the variant). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "codec/bitshuffle.h"
#include "common/cpu.h"

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint8_t rnd8(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s VARIANT\n", argv[0]);
        return 2;
    }
    const azs_unshuffle_variant *vs;
    size_t nv = azs_unshuffle_variants(&vs);
    const azs_unshuffle_variant *v = NULL;
    for (size_t i = 0; i < nv; i++)
        if (!strcmp(vs[i].name, argv[1]))
            v = &vs[i];
    if (!v) {
        printf("variant %s not compiled for this architecture: skip\n", argv[1]);
        return 77;
    }
    if ((azs_cpu_features() & v->needs) != v->needs) {
        printf("CPU lacks the features of variant %s: skip\n", v->name);
        return 77;
    }
    static const size_t sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, 10, 16, 32, 40};
    static const size_t ns[] = {8, 16, 24, 64, 120, 128, 136, 256, 504, 512, 520, 1016, 1024,
                                2048, 2056, 4096, 8192, 8200, 16384, 16392, 65536, 131072 + 8 * 77};
    const size_t maxn = 131072 + 8 * 77, maxs = 40;
    uint8_t *in = malloc(maxn * maxs), *ref = malloc(maxn * maxs);
    uint8_t *out = aligned_alloc(64, (maxn * maxs + 128) / 64 * 64);
    uint8_t *shuf = malloc(maxn * maxs);
    if (!in || !ref || !out || !shuf)
        return 1;
    int fails = 0, cases = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        const size_t s = sizes[si];
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++) {
            const size_t n = ns[ni];
            if (n * s > 2 * 1024 * 1024 && s != 4)
                continue; /* keep the run short: the largest n only for one size */
            for (size_t i = 0; i < n * s; i++)
                in[i] = rnd8();
            azs_unshuffle_scalar(in, ref, n, s, 0);
            /* guard bytes after the output must stay untouched */
            /* alternate plain and streaming stores; out + 64 keeps the vector alignment
             * that streaming needs, out + 8 exercises the fallback */
            const int stream = (int)(ni % 3);
            uint8_t *o = stream == 2 ? out + 8 : out;
            memset(out, 0xA5, n * s + 72);
            v->fn(in, o, n, s, stream != 0);
            memmove(out, o, n * s + 64);
            cases++;
            if (memcmp(out, ref, n * s) != 0) {
                size_t j = 0;
                while (out[j] == ref[j])
                    j++;
                fprintf(stderr, "FAIL %s: elem_size %zu n %zu: first difference at byte %zu "
                        "(%02x vs reference %02x)\n", v->name, s, n, j, out[j], ref[j]);
                fails++;
            }
            for (size_t j = n * s; j < n * s + 64; j++)
                if (out[j] != 0xA5) {
                    fprintf(stderr, "FAIL %s: elem_size %zu n %zu wrote past the end\n", v->name, s, n);
                    fails++;
                    break;
                }
            /* forward shuffle then reference unshuffle is the identity */
            azs_bitshuffle_fwd(ref, shuf, n, s);
            if (memcmp(shuf, in, n * s) != 0) {
                fprintf(stderr, "FAIL forward shuffle: elem_size %zu n %zu\n", s, n);
                fails++;
            }
        }
    }
    /* Dispatch: capping the features to this variant's picks it (or a faster one that
     * needs no more than it). */
    azs_cpu_limit(v->needs);
    const char *picked = azs_bitunshuffle_variant();
    if (v->needs && strcmp(picked, v->name) != 0 && strcmp(v->name, "scalar") != 0) {
        fprintf(stderr, "FAIL dispatch under limit %#x picked %s, expected %s\n", v->needs, picked,
                v->name);
        fails++;
    }
    azs_cpu_limit(~0u);
    printf("%s: %d cases, %d failures (dispatch default: %s)\n", v->name, cases, fails,
           azs_bitunshuffle_variant());
    free(in);
    free(ref);
    free(out);
    free(shuf);
    return fails ? 1 : 0;
}
