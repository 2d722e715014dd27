/* libFuzzer harness: bitshuffle-LZ4 chunks. Byte 0 picks the element size, the rest is
 * the chunk. Serial and OpenMP decoders must agree; valid chunks must round-trip. */
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t sizes[] = {1, 2, 4, 8, 3, 10};
    if (size < 1)
        return 0;
    fuzz_codec_one(AZS_CODEC_BSLZ4, sizes[data[0] % 6], data + 1, size - 1, 1);
    return 0;
}
