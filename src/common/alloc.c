#define _POSIX_C_SOURCE 200809L
#include "common/alloc.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/error.h"

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

unsigned long long azs_mem_limit(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    unsigned long long lim = pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page
                                                   : ULLONG_MAX;
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim)
        lim = rl.rlim_cur;
    if (getrlimit(RLIMIT_DATA, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim)
        lim = rl.rlim_cur;
    return lim;
}

const char *azs_fmt_bytes(char *buf, size_t cap, double b)
{
    if (b >= 1e9)
        snprintf(buf, cap, "%.1f GB", b / 1e9);
    else if (b >= 1e6)
        snprintf(buf, cap, "%.0f MB", b / 1e6);
    else
        snprintf(buf, cap, "%.0f kB", b / 1e3);
    return buf;
}

azs_status azs_mem_check(unsigned long long need, const char *what)
{
    const unsigned long long lim = azs_mem_limit();
    if (need <= lim)
        return AZS_OK;
    char a[32], b[32];
    if (need == ULLONG_MAX)
        return azs_fail(AZS_ERR_NOMEM, "%s: the size overflows; %s available", what,
                        azs_fmt_bytes(b, sizeof b, (double)lim));
    return azs_fail(AZS_ERR_NOMEM, "%s needs %s; %s available", what,
                    azs_fmt_bytes(a, sizeof a, (double)need), azs_fmt_bytes(b, sizeof b, (double)lim));
}
