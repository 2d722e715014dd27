#include "common/alloc.h"

#include <stdint.h>
#include <stdlib.h>

void *azs_aligned_alloc(size_t size)
{
    if (size == 0)
        size = AZS_ALIGN;
    if (size > SIZE_MAX - AZS_ALIGN)
        return NULL;
    size = (size + AZS_ALIGN - 1) / AZS_ALIGN * AZS_ALIGN;
    return aligned_alloc(AZS_ALIGN, size);
}

void azs_aligned_free(void *p) { free(p); }

int azs_mul_size(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}
