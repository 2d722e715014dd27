/* Shared by `azstream integrate` and `azstream bench`: the integration settings (from
 * options and/or a pyFAI-style JSON config), and turning them into a geometry + integrator. */
#ifndef AZS_PROGRAMS_INTEGRATE_SETUP_H
#define AZS_PROGRAMS_INTEGRATE_SETUP_H

#include "azstream/integrate.h"
#include "azstream/layout.h"

typedef struct integ_settings {
    char poni_path[4096];
    int have_geom;             /* geometry given inline (JSON config) */
    azs_geometry geom;
    azs_integrate_options io;  /* mask/dark/flat pointers filled by integ_build */
    char mask[4096], dark[4096], flat[4096];
} integ_settings;

void integ_settings_default(integ_settings *s);
/* Apply one option (name without leading dashes, value may be NULL for flags).
 * Returns 1 if consumed, 0 if not an integration option, -1 on a bad value (message
 * printed, cmd names the sub-command). */
int integ_option(integ_settings *s, const char *cmd, const char *name, const char *value);
/* Does the option take a value? (-1: not an integration option) */
int integ_option_takes_value(const char *name);
/* Load a JSON config (pyFAI integration keys or our own option names). 0 ok, else exit code. */
int integ_load_config(integ_settings *s, const char *cmd, const char *path);
/* Load PONI / arrays, check shapes against (ny, nx) of the data, build the integrator.
 * Returns 0 or an exit code (message printed). */
int integ_build(integ_settings *s, const char *cmd, uint32_t ny, uint32_t nx, azs_integrator **it);
/* The effective configuration as JSON (malloc'd string). */
char *integ_settings_json(const integ_settings *s, const char *const *inputs, int ninputs,
                          const char *layout, int workers);
const char *integ_split_name(azs_split s);

/* Layout 2 (procs) / mpi options, shared by integrate and bench (cmd_worker.c). */
#define PAR_MAX_GPUS 64
typedef struct par_opts {
    int threads_per_worker;  /* --threads-per-worker (0 = cores / workers) */
    int inner, inner_set;    /* --inner threads|gpu (gpu by default once --gpus is given) */
    int gpus[PAR_MAX_GPUS], ngpus, gpus_all; /* --gpus LIST|all */
    int per_gpu;             /* --per-gpu K (1) */
    const char **argv;       /* the worker command built by par_apply */
} par_opts;
void par_opts_default(par_opts *p);
/* 1 / -1 (bad value, message printed) / 0 (not ours); takes_value: 1 or -1 (not ours). */
int par_option(par_opts *p, const char *cmd, const char *name, const char *val);
int par_option_takes_value(const char *name);
/* --gpus all → the device list; workers = ngpus * per_gpu when 0. 0 or an exit code. */
int par_resolve(par_opts *p, const char *cmd, int *workers);
/* Fill o's procs/mpi fields; for AZS_LAYOUT_PROCS also the worker command for one input:
 * `azstream worker --input INPUT [--dataset D] -- IARGS` where IARGS replays the
 * integration options (--config F first, then --name [value] as parsed). 0 or exit code. */
int par_apply(par_opts *p, azs_run_options *o, const char *cmd, const char *input, const char *dataset,
              const char *const *iargs, int niargs);
void par_opts_free(par_opts *p);
/* One `azstream bench` row: frames [0, n) of `stack` (already open as src, integrator it
 * built from S) with layout AZS_LAYOUT_PROCS (`workers` processes, par's threads/gpus) or
 * AZS_LAYOUT_MPI (every rank calls it, after azs_mpi_init; fps is rank 0's), into a null
 * sink. Workers replay S as options (S must come from --poni + options). 0 or exit code. */
int par_bench_row(azs_source *src, const azs_integrator *it, const char *stack, const char *dataset,
                  const integ_settings *S, azs_layout layout, int workers, const par_opts *par, uint64_t n,
                  double *fps);

#endif
