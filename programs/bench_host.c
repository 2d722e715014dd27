#define _POSIX_C_SOURCE 200809L
#include "bench_host.h"
#include "common/clock.h"

#include <omp.h>
#include <stdio.h>
#include <string.h>
#include <time.h>


/* 64 dependent additions of a register the compiler cannot see (the empty asm makes x
 * and y opaque), so each add waits for the one before: 1 cycle each. Adds of an immediate
 * would not do: recent Intel cores fold chains of them at register renaming (measured:
 * "10-17 GHz" on the H200 host's Xeon). */
#define AZS_ADD1 x += y; __asm__ volatile("" : "+r"(x));
#define AZS_ADD8 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1 AZS_ADD1
static unsigned long long add_chain(unsigned long long x, long rounds)
{
    unsigned long long y = 1;
    __asm__ volatile("" : "+r"(y));
    for (long r = 0; r < rounds; r++) {
        AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8 AZS_ADD8
    }
    return x;
}

/* 8 independent chains of 8 adds each per round: throughput, not latency. */
#define AZS_TADD x0 += y; x1 += y; x2 += y; x3 += y; x4 += y; x5 += y; x6 += y; x7 += y; \
    __asm__ volatile("" : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x5), "+r"(x6), "+r"(x7));
static unsigned long long add_wide(unsigned long long x, long rounds)
{
    unsigned long long y = 1, x0 = x, x1 = x, x2 = x, x3 = x, x4 = x, x5 = x, x6 = x, x7 = x;
    __asm__ volatile("" : "+r"(y));
    for (long r = 0; r < rounds; r++) {
        AZS_TADD AZS_TADD AZS_TADD AZS_TADD AZS_TADD AZS_TADD AZS_TADD AZS_TADD
    }
    return x0 ^ x1 ^ x2 ^ x3 ^ x4 ^ x5 ^ x6 ^ x7;
}

/* Adds per second of one thread running `fn` for `seconds` (64 adds per round). The
 * chains cannot be dropped by the compiler: their asm statements are volatile. */
static double run_loop(unsigned long long (*fn)(unsigned long long, long), double seconds,
                       unsigned long long x)
{
    const long rounds = 1L << 14;
    x = fn(x, rounds); /* warm-up */
    const double t0 = azs_now_seconds();
    double t = t0;
    long n = 0;
    while (t - t0 < seconds) {
        x = fn(x, rounds);
        n++;
        t = azs_now_seconds();
    }
    return 64.0 * (double)rounds * (double)n / (t - t0) / 1e9;
}

static double loop_rate(unsigned long long (*fn)(unsigned long long, long), int nthreads,
                        double seconds, double *slowest)
{
    double sum = 0, lo = 1e300;
#pragma omp parallel num_threads(nthreads) reduction(+ : sum) reduction(min : lo)
    {
#pragma omp barrier
        const double r = run_loop(fn, seconds, (unsigned long long)omp_get_thread_num());
        sum += r;
        lo = r < lo ? r : lo;
    }
    if (slowest)
        *slowest = lo;
    return sum / nthreads;
}

double host_alu_gops(int nthreads, double seconds, double *slowest)
{
    return loop_rate(add_wide, nthreads, seconds, slowest);
}

double host_clock_ghz(int nthreads, double seconds, double *slowest)
{
    return loop_rate(add_chain, nthreads, seconds, slowest);
}

void host_probe_run(int cores, host_probe *h)
{
    h->clk1 = host_clock_ghz(1, 0.5, NULL);
    h->clkn = host_clock_ghz(cores, 0.5, &h->clk_lo);
    h->alu1 = host_alu_gops(1, 0.5, NULL);
    h->alun = host_alu_gops(cores, 0.5, &h->alu_lo);
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
