/* What the host gives a compute-bound job, measured beside `azstream bench`'s rows: on a
 * shared or virtual machine one core's pace is not a constant, and parallel efficiency
 * (rate at N / (N × rate at 1)) inherits every change of clock or of stolen time between
 * the one-core and the all-core moments. These probes put numbers on both. */
#ifndef AZS_PROGRAMS_BENCH_HOST_H
#define AZS_PROGRAMS_BENCH_HOST_H

/* Dependent integer additions per second and per thread (one add per cycle on every
 * current x86 and Arm core: the core's effective clock, stolen time included), with
 * `nthreads` threads running at once for about `seconds`. Returns the mean over threads
 * and puts the slowest thread's rate in *slowest (may be NULL). In Gadd/s, i.e. ~GHz. */
double host_clock_ghz(int nthreads, double seconds, double *slowest);

/* Independent integer additions per second and per thread (8 chains: as many adds per
 * cycle as the core's ALUs take), same protocol as host_clock_ghz. Where the clock holds
 * but this drops when every core runs it, something else shares the cores' execution
 * units: hardware threads of other tenants, on a virtual machine. */
double host_alu_gops(int nthreads, double seconds, double *slowest);

/* CPU time of the whole machine from /proc/stat (Linux; all zero elsewhere). */
typedef struct host_ticks {
    unsigned long long total, steal;
} host_ticks;

void host_ticks_now(host_ticks *t);
/* Share of the machine's CPU time between a and b that the hypervisor gave to someone
 * else (the "steal" column of /proc/stat); negative when it cannot be read. */
double host_steal_share(const host_ticks *a, const host_ticks *b);

/* Both probes, on one core alone and then on `cores` cores at once (0.5 s each). */
typedef struct host_probe {
    double clk1, clkn, clk_lo; /* GHz: alone, mean and slowest with all cores busy */
    double alu1, alun, alu_lo; /* Gadd/s, the same */
} host_probe;
void host_probe_run(int cores, host_probe *h);

/* The kernel's transparent-huge-page mode ("always", "madvise", "never"), or "?". */
const char *host_thp_mode(void);

#endif
