#define _DEFAULT_SOURCE
#include "common/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* Buffers of 4 MiB and more (the integration matrix, the per-pixel factors, frame
 * buffers) are aligned to 2 MiB and marked for transparent huge pages: the workers
 * stream the 45-130 MB matrix once per batch, and with 4 KiB pages each of its pages is a
 * TLB miss (Debian's default THP mode, "madvise", gives huge pages only when asked). */
#define AZS_HUGE_MIN ((size_t)4 << 20)
#define AZS_HUGE_ALIGN ((size_t)2 << 20)

void *azs_aligned_alloc(size_t size)
{
    if (size == 0)
        size = AZS_ALIGN;
    if (size > SIZE_MAX - AZS_HUGE_ALIGN)
        return NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE) && !defined(AZS_NO_HUGEPAGES)
    if (size >= AZS_HUGE_MIN) {
        size = (size + AZS_HUGE_ALIGN - 1) / AZS_HUGE_ALIGN * AZS_HUGE_ALIGN;
        void *p = aligned_alloc(AZS_HUGE_ALIGN, size);
        if (p)
            (void)madvise(p, size, MADV_HUGEPAGE); /* a hint: failure changes nothing */
        return p;
    }
#endif
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
