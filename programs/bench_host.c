#define _POSIX_C_SOURCE 200809L
#include "bench_host.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* 64 dependent additions; the empty asm makes x opaque, so the compiler cannot fold the
 * chain and each add waits for the one before (1 cycle of latency each). */
#define AZS_ADD1 x += 1; __asm__ volatile("" : "+r"(x));
#define AZS_ADD8 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1
static unsigned long long add_chain(unsigned long long x, long rounds)
{
    for (long r = 0; r < rounds; r++) {
        AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8
    }
    return x;
}

double host_clock_ghz(int nthreads, double seconds, double *slowest)
{
    double sum = 0, lo = 1e300;
    unsigned long long keep = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : sum, keep) reduction(min : lo)
    {
        const long rounds = 1L << 16; /* ~4 M adds: about a millisecond */
        unsigned long long x = (unsigned long long)omp_get_thread_num();
        x = add_chain(x, rounds); /* warm-up */
#pragma omp barrier
        const double t0 = mono_s();
        double t = t0;
        long n = 0;
        while (t - t0 < seconds) {
            x = add_chain(x, rounds);
            n++;
            t = mono_s();
        }
        const double r = 64.0 * (double)rounds * (double)n / (t - t0) / 1e9;
        sum += r;
        lo = r < lo ? r : lo;
        keep += x;
    }
    if (keep == 42) /* keeps the chains alive */
        fputs("", stdout);
    if (slowest)
        *slowest = lo;
    return sum / nthreads;
}

void host_ticks_now(host_ticks *t)
{
    memset(t, 0, sizeof *t);
    FILE *f = fopen("/proc/stat", "r");
    if (!f)
        return;
    unsigned long long v[8] = {0};
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
               &v[4], &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            t->total += v[i];
        t->steal = v[7];
    }
    fclose(f);
}

double host_steal_share(const host_ticks *a, const host_ticks *b)
{
    if (!a->total || b->total <= a->total || b->steal < a->steal)
        return -1.0;
    return (double)(b->steal - a->steal) / (double)(b->total - a->total);
}

const char *host_thp_mode(void)
{
    static char mode[16] = "?";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f)
        return mode;
    char line[128];
    if (fgets(line, sizeof line, f)) {
        char *a = strchr(line, '['), *b = a ? strchr(a, ']') : NULL;
        if (a && b && b - a - 1 < (long)sizeof mode) {
            memcpy(mode, a + 1, (size_t)(b - a - 1));
            mode[b - a - 1] = '\0';
        }
    }
    fclose(f);
    return mode;
}
