/* Internal: CPU features for run-time SIMD dispatch, read once (thread-safe). The
 * environment is never read here: the CLI may cap features through azs_cpu_limit(). */
#ifndef AZS_COMMON_CPU_H
#define AZS_COMMON_CPU_H

enum {
    AZS_CPU_SSE2 = 1u << 0,
    AZS_CPU_AVX2 = 1u << 1,
    AZS_CPU_AVX512BW = 1u << 2, /* F + BW + VL */
    AZS_CPU_GFNI = 1u << 3,
    AZS_CPU_AVX512VBMI = 1u << 4,
    AZS_CPU_FMA = 1u << 5
};

unsigned azs_cpu_features(void);
/* Restrict the features dispatch may use (for tests and benchmarks of each variant). */
void azs_cpu_limit(unsigned mask);
/* Number of online CPUs (>= 1). */
int azs_cpu_count(void);

#endif
