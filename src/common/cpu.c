#include "common/cpu.h"

#include <stdatomic.h>
#include <unistd.h>

static atomic_uint limit_mask = ~0u;

static unsigned detect(void)
{
    unsigned f = 0;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse2"))
        f |= AZS_CPU_SSE2;
    if (__builtin_cpu_supports("avx2"))
        f |= AZS_CPU_AVX2;
    if (__builtin_cpu_supports("fma"))
        f |= AZS_CPU_FMA;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        f |= AZS_CPU_AVX512BW;
    if (__builtin_cpu_supports("gfni"))
        f |= AZS_CPU_GFNI;
    if (__builtin_cpu_supports("avx512vbmi"))
        f |= AZS_CPU_AVX512VBMI;
#endif
    return f;
}

unsigned azs_cpu_features(void)
{
    static atomic_uint cached = 0;
    static atomic_int done = 0;
    if (!atomic_load_explicit(&done, memory_order_acquire)) {
        atomic_store(&cached, detect());
        atomic_store_explicit(&done, 1, memory_order_release);
    }
    return atomic_load(&cached) & atomic_load(&limit_mask);
}

void azs_cpu_limit(unsigned mask) { atomic_store(&limit_mask, mask); }

int azs_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}
