/* Internal: aligned allocation for hot buffers (64-byte: one cache line, one AVX-512
 * vector). azs_aligned_free accepts NULL. Sizes are rounded up to the alignment. */
#ifndef AZS_COMMON_ALLOC_H
#define AZS_COMMON_ALLOC_H
#include <stddef.h>

#define AZS_ALIGN 64

void *azs_aligned_alloc(size_t size);
void azs_aligned_free(void *p);

/* a*b with overflow check: returns 0 and sets *out on success, -1 on overflow. */
int azs_mul_size(size_t a, size_t b, size_t *out);

#endif
