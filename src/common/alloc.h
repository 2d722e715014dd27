/* Internal: aligned allocation for hot buffers (64-byte: one cache line, one AVX-512
 * vector). azs_aligned_free accepts NULL. Sizes are rounded up to the alignment. */
#ifndef AZS_COMMON_ALLOC_H
#define AZS_COMMON_ALLOC_H
#include <stddef.h>

#include "azstream/status.h"

#define AZS_ALIGN 64

void *azs_aligned_alloc(size_t size);
void azs_aligned_free(void *p);

/* a*b with overflow check: returns 0 and sets *out on success, -1 on overflow. */
int azs_mul_size(size_t a, size_t b, size_t *out);

/* Memory this process may use: the physical memory (sysconf), lowered by RLIMIT_AS and
 * RLIMIT_DATA when they are set. Large allocations sized from input (frame buffers, chunk
 * indexes, bins) are checked against it before they are made, so a hostile or mistaken
 * size is a message, not an out-of-memory kill. */
unsigned long long azs_mem_limit(void);

/* "3.4 GB", "512 MB", "12 kB" into buf. */
const char *azs_fmt_bytes(char *buf, size_t cap, double bytes);

/* AZS_OK if `need` bytes (saturating arithmetic: pass UINT64_MAX for an overflow) fit in
 * azs_mem_limit(), else AZS_ERR_NOMEM with "<what> needs N; M available" (what: a
 * description such as "frame of 30000x30000 uint32 x 4 buffers"). */
azs_status azs_mem_check(unsigned long long need, const char *what);

#endif
