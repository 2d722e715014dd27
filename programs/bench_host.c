#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include "bench_host.h"

#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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

/* Adds per second of one thread running `fn` for `seconds` (64 adds per round). */
static double run_loop(unsigned long long (*fn)(unsigned long long, long), double seconds,
                       unsigned long long *keep)
{
    const long rounds = 1L << 14;
    unsigned long long x = *keep;
    x = fn(x, rounds); /* warm-up */
    const double t0 = mono_s();
    double t = t0;
    long n = 0;
    while (t - t0 < seconds) {
        x = fn(x, rounds);
        n++;
        t = mono_s();
    }
    *keep = x;
    return 64.0 * (double)rounds * (double)n / (t - t0) / 1e9;
}

static double loop_rate(unsigned long long (*fn)(unsigned long long, long), int nthreads,
                        double seconds, double *slowest)
{
    double sum = 0, lo = 1e300;
    unsigned long long keep = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : sum, keep) reduction(min : lo)
    {
        unsigned long long x = (unsigned long long)omp_get_thread_num();
#pragma omp barrier
        const double r = run_loop(fn, seconds, &x);
        sum += r;
        lo = r < lo ? r : lo;
        keep += x;
    }
    if (keep == 42) /* keeps the loops alive */
        fputs("", stdout);
    if (slowest)
        *slowest = lo;
    return sum / nthreads;
}

double host_alu_gops(int nthreads, double seconds, double *slowest)
{
    return loop_rate(add_wide, nthreads, seconds, slowest);
}

typedef struct pair_arg {
    int cpu;
    double seconds, rate;
    unsigned long long keep;
    pthread_barrier_t *go;
} pair_arg;

static void *pair_main(void *v)
{
    pair_arg *a = v;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(a->cpu, &one);
    a->rate = pthread_setaffinity_np(pthread_self(), sizeof one, &one) == 0 ? 0 : -1;
    pthread_barrier_wait(a->go);
    if (a->rate == 0)
        a->rate = run_loop(add_wide, a->seconds, &a->keep);
    return NULL;
}

/* Throughput of a thread on CPU a, alone (b < 0) or with another on CPU b; < 0 on failure. */
static double pair_rate(int a, int b, double seconds)
{
    pthread_barrier_t go;
    pthread_t t[2];
    pair_arg arg[2] = {{a, seconds, 0, 0, &go}, {b, seconds, 0, 0, &go}};
    const int n = b < 0 ? 1 : 2;
    int started = 0;
    pthread_barrier_init(&go, NULL, (unsigned)n);
    for (int i = 0; i < n; i++)
        if (pthread_create(&t[i], NULL, pair_main, &arg[i]) == 0)
            started++;
    if (started < n) /* the barrier would never open: no measurement */
        for (int i = started; i < n; i++)
            pthread_barrier_wait(&go);
    for (int i = 0; i < started; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    return started == n && arg[1 % n].rate >= 0 ? arg[0].rate : -1.0;
}

int host_shared_cores(double seconds, int (*pairs)[2], int max, int *ncpu)
{
    cpu_set_t allowed;
    int cpus[CPU_SETSIZE], n = 0, found = 0;
    *ncpu = 0;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0)
        return -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &allowed))
            cpus[n++] = c;
    *ncpu = n;
    for (int i = 0; i < n; i++) {
        const double alone = pair_rate(cpus[i], -1, seconds);
        if (alone <= 0)
            return -1;
        for (int j = i + 1; j < n; j++) {
            const double with = pair_rate(cpus[i], cpus[j], seconds);
            if (with < 0)
                return -1;
            /* measured alone again if it looks shared: a neighbour's burst is not a sibling */
            if (with < 0.75 * alone && with < 0.75 * pair_rate(cpus[i], -1, seconds)) {
                if (found < max) {
                    pairs[found][0] = cpus[i];
                    pairs[found][1] = cpus[j];
                }
                found++;
            }
        }
    }
    return found;
}

double host_clock_ghz(int nthreads, double seconds, double *slowest)
{
    return loop_rate(add_chain, nthreads, seconds, slowest);
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
