/* Layout 2 (procs) and mpi options of `azstream integrate` and `bench` (cmd_worker.c):
 * --threads-per-worker, --inner, --gpus, --per-gpu, and the hidden `worker` command. */
#ifndef AZS_PROGRAMS_PAR_OPTIONS_H
#define AZS_PROGRAMS_PAR_OPTIONS_H

#include "azstream/job.h"

#define PAR_MAX_GPUS 64
typedef struct par_opts {
    int threads_per_worker;  /* --threads-per-worker (0 = cores / workers) */
    int inner, inner_set;    /* --inner threads|gpu (gpu by default once --gpus is given) */
    int gpus[PAR_MAX_GPUS], ngpus, gpus_all; /* --gpus LIST|all */
    int per_gpu;             /* --per-gpu K (1) */
} par_opts;
void par_opts_default(par_opts *p);
/* 1 / -1 (bad value, message printed) / 0 (not ours); takes_value: 1 or -1 (not ours). */
int par_option(par_opts *p, const char *cmd, const char *name, const char *val);
int par_option_takes_value(const char *name);
/* --gpus all → the device list; workers = ngpus * per_gpu when 0. 0 or an exit code. */
int par_resolve(par_opts *p, const char *cmd, azs_layout layout, int *workers);
/* Fill o's procs/mpi fields (inner layout, threads per worker, GPUs) and the notice
 * callback that prints events (a worker died, its frames re-assigned). */
void par_apply(const par_opts *p, azs_run_options *o, const char *cmd);
/* The running executable (the procs workers are started from it). */
const char *cli_self_exe(void);
/* One `azstream bench` row: frames [0, n) of `stack` (already open as src, integrator it
 * built from S) with layout AZS_LAYOUT_PROCS (`workers` processes, par's threads/gpus) or
 * AZS_LAYOUT_MPI (every rank calls it, after azs_mpi_init; fps is rank 0's), into a null
 * sink. 0 or an exit code. */
int par_bench_row(azs_source *src, const azs_integrator *it, const char *stack, const char *dataset,
                  const azs_settings *S, azs_layout layout, int workers, const par_opts *par, uint64_t n,
                  double *fps);

#endif
