/* The AVX-512 unshuffle variants built against plain-C versions of the intrinsics
 * (emu512.h, written from Intel's definitions) and compared with the scalar reference,
 * so that their logic (lane order, shuffles, GFNI matrix, streaming-store alignment) is
 * checked on machines without AVX-512 too. The emulated build is the object library
 * azs_unshuffle_avx512_emu (tests/codec/CMakeLists.txt), linked in. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bitshuffle.h"
#include "emu512.h"

int main(void)
{
    static const size_t ss[] = {1, 2, 3, 4, 8, 10};
    static const size_t ns[] = {8, 64, 512, 520, 1024, 2048, 4096, 8192, 8200, 65536 + 8 * 5};
    int fails = 0, cases = 0;
    uint8_t *in = malloc(1 << 20), *ref = malloc(1 << 20), *o = aligned_alloc(64, 1 << 20);
    if (!in || !ref || !o)
        return 1;
    unsigned x = 12345;
    for (size_t a = 0; a < sizeof ss / sizeof *ss; a++)
        for (size_t b = 0; b < sizeof ns / sizeof *ns; b++) {
            const size_t s = ss[a], n = ns[b];
            if (n * s > (1u << 20))
                continue;
            for (size_t i = 0; i < n * s; i++)
                in[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
            azs_unshuffle_scalar(in, ref, n, s, 0);
            for (int st = 0; st < 2; st++) {
                memset(o, 0, n * s);
                emu_azs_unshuffle_avx512(in, o, n, s, st);
                cases++;
                if (memcmp(o, ref, n * s)) {
                    fprintf(stderr, "FAIL avx512 (emulated) s=%zu n=%zu stream=%d\n", s, n, st);
                    fails++;
                }
                memset(o, 0, n * s);
                emu_azs_unshuffle_avx512gfni(in, o, n, s, st);
                cases++;
                if (memcmp(o, ref, n * s)) {
                    fprintf(stderr, "FAIL avx512gfni (emulated) s=%zu n=%zu stream=%d\n", s, n, st);
                    fails++;
                }
            }
        }
    printf("emulated AVX-512 variants: %d cases, %d failures\n", cases, fails);
    free(in);
    free(ref);
    free(o);
    return fails ? 1 : 0;
}
