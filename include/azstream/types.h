/* Element types of detector pixels and of the chunk codecs (HDF5 filter ids). */
#ifndef AZSTREAM_TYPES_H
#define AZSTREAM_TYPES_H

#include "azstream/export.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum azs_dtype {
    AZS_DTYPE_INVALID = 0,
    AZS_U8, AZS_U16, AZS_U32, AZS_U64,
    AZS_I8, AZS_I16, AZS_I32, AZS_I64,
    AZS_F32, AZS_F64
} azs_dtype;

/* Bytes per element (0 for AZS_DTYPE_INVALID) and a short name ("uint32", ...). */
AZS_API size_t azs_dtype_size(azs_dtype t);
AZS_API const char *azs_dtype_name(azs_dtype t);

/* How a chunk is stored; the values are the HDF5 filter ids. */
typedef enum azs_codec {
    AZS_CODEC_NONE = 0,        /* uncompressed chunk */
    AZS_CODEC_LZ4 = 32004,     /* HDF5 LZ4 filter framing */
    AZS_CODEC_BSLZ4 = 32008    /* bitshuffle + LZ4 (bitshuffle filter, compression 2) */
} azs_codec;

#ifdef __cplusplus
}
#endif
#endif
