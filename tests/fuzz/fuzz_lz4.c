/* libFuzzer harness: HDF5 LZ4 (32004) chunks and uncompressed chunks. Byte 0 picks the
 * codec (even: LZ4, odd: none), the rest is the chunk. */
#include "fuzz_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_codec_one(data[0] % 2 ? AZS_CODEC_NONE : AZS_CODEC_LZ4, 1, data + 1, size - 1, 0);
    return 0;
}
