/* Internal: helpers shared by the SIMD unshuffle variants (see bitshuffle.h). */
#ifndef AZS_CODEC_UNSHUFFLE_SIMD_H
#define AZS_CODEC_UNSHUFFLE_SIMD_H

/* The 8x8 bit transpose, done on the 8 row vectors before the byte transpose: three
 * rounds of delta swaps between row pairs (k, k+d), each exchanging bit i+d of row k
 * with bit i of row k+d (i with bit d clear). Per 8 vectors this is 3 x 4 x 6 ops, half
 * of what transposing each 64-bit word after the byte transpose costs. 16-bit shifts
 * are fine: the masks drop the bits that would cross a byte boundary. */
#define BITSWAP(a, k, D, M, SRL, SLL, XOR, AND, SET1)                                           \
    do {                                                                                         \
        __typeof__(a[0]) t_ = AND(XOR(SRL(a[k], D), a[k + D]), SET1(M));                         \
        a[k + D] = XOR(a[k + D], t_);                                                            \
        a[k] = XOR(a[k], SLL(t_, D));                                                            \
    } while (0)
#define BITROUNDS(a, SRL, SLL, XOR, AND, SET1)                                                   \
    do {                                                                                         \
        BITSWAP(a, 0, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 2, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 4, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 6, 1, 0x55, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 0, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 1, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 4, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 5, 2, 0x33, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 0, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 1, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 2, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
        BITSWAP(a, 3, 4, 0x0F, SRL, SLL, XOR, AND, SET1);                                        \
    } while (0)


#endif
