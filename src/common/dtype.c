#include "azstream/types.h"

size_t azs_dtype_size(azs_dtype t)
{
    switch (t) {
    case AZS_U8: case AZS_I8: return 1;
    case AZS_U16: case AZS_I16: return 2;
    case AZS_U32: case AZS_I32: case AZS_F32: return 4;
    case AZS_U64: case AZS_I64: case AZS_F64: return 8;
    default: return 0;
    }
}

const char *azs_dtype_name(azs_dtype t)
{
    static const char *names[] = {"invalid", "uint8", "uint16", "uint32", "uint64", "int8",
                                  "int16",   "int32", "int64",  "float32", "float64"};
    return (unsigned)t < sizeof names / sizeof names[0] ? names[t] : "invalid";
}
