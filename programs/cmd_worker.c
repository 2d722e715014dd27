/* Layout 2 (procs) and mpi on the command line.
 *
 * 1. `azstream worker --input FILE [--dataset D] -- ARGS...` (hidden): a worker process
 *    started by the procs layout. ARGS replay the parent's integration settings exactly as
 *    the parent parsed them (its --config files first, then the options in order), so the
 *    worker builds a bit-identical integrator; then it serves frame ranges on fd
 *    AZS_PROCS_WORKER_FD until the parent closes it.
 * 2. The options of `azstream integrate` / `bench` for procs and mpi (--threads-per-worker,
 *    --gpus, --per-gpu, --inner) and building the worker command for azs_run_options.
 *
 * Test hook: AZS_TEST_WORKER_DIE_AFTER=ID:N makes worker ID kill itself (SIGKILL) right
 * after it has sent N frames (N alone means worker 0), so tests can kill a worker
 * mid-run deterministically. The CLI may read the environment; the library does not. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "azstream/layout.h"
#include "azstream/sink.h"
#include "azstream/source.h"
#include "cli.h"
#include "integrate_setup.h"

/* ---------------------------------------------------------------- options */

void par_opts_default(par_opts *p)
{
    memset(p, 0, sizeof *p);
    p->per_gpu = 1;
}

int par_option_takes_value(const char *name)
{
    static const char *const v[] = {"threads-per-worker", "gpus", "per-gpu", "inner"};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        if (!strcmp(name, v[i]))
            return 1;
    return -1;
}

int par_option(par_opts *p, const char *cmd, const char *name, const char *val)
{
    int64_t v;
    if (!strcmp(name, "threads-per-worker")) {
        if (cli_parse_i64(val, &v) || v < 0 || v > 4096) {
            cli_usage_error(cmd, "--threads-per-worker: '%s' is not a count (0 = cores / workers)", val);
            return -1;
        }
        p->threads_per_worker = (int)v;
        return 1;
    }
    if (!strcmp(name, "per-gpu")) {
        if (cli_parse_i64(val, &v) || v < 1 || v > 256) {
            cli_usage_error(cmd, "--per-gpu: '%s' is not a count >= 1", val);
            return -1;
        }
        p->per_gpu = (int)v;
        return 1;
    }
    if (!strcmp(name, "inner")) {
        if (!strcmp(val, "threads") || !strcmp(val, "1"))
            p->inner = AZS_LAYOUT_THREADS;
        else if (!strcmp(val, "gpu") || !strcmp(val, "3"))
            p->inner = AZS_LAYOUT_GPU;
        else {
            cli_usage_error(cmd, "--inner: '%s' is not threads or gpu", val);
            return -1;
        }
        p->inner_set = 1;
        return 1;
    }
    if (!strcmp(name, "gpus")) {
        p->ngpus = 0;
        p->gpus_all = !strcmp(val, "all");
        if (!p->gpus_all) {
            const char *s = val;
            while (*s) {
                char *e;
                long d = strtol(s, &e, 10);
                if (e == s || d < 0 || d > 1023 || (*e && *e != ',') || p->ngpus == PAR_MAX_GPUS) {
                    cli_usage_error(cmd, "--gpus: '%s' is not 'all' or a list like 0,1,3", val);
                    return -1;
                }
                p->gpus[p->ngpus++] = (int)d;
                s = *e ? e + 1 : e;
            }
            if (!p->ngpus) {
                cli_usage_error(cmd, "--gpus: empty list");
                return -1;
            }
        }
        if (!p->inner_set)
            p->inner = AZS_LAYOUT_GPU;
        return 1;
    }
    return 0;
}

/* Resolve --gpus all, and the worker count implied by --gpus/--per-gpu. 0 or exit code. */
int par_resolve(par_opts *p, const char *cmd, int *workers)
{
    if (p->gpus_all) {
        int n = azs_gpu_device_count();
        if (n <= 0) {
            fprintf(stderr, "azstream %s: --gpus all: no GPU found (or CUDA support not built)\n", cmd);
            return CLI_FAIL;
        }
        p->ngpus = n < PAR_MAX_GPUS ? n : PAR_MAX_GPUS;
        for (int i = 0; i < p->ngpus; i++)
            p->gpus[i] = i;
        p->gpus_all = 0;
    }
    if (p->ngpus && *workers == 0)
        *workers = p->ngpus * p->per_gpu;
    return 0;
}

static const char *self_exe(void)
{
    static char path[4096];
    if (!path[0]) {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        if (n <= 0 || (size_t)n >= sizeof path - 1)
            snprintf(path, sizeof path, "/proc/self/exe");
        else
            path[n] = 0;
    }
    return path;
}

static void print_notice(void *ctx, const char *msg)
{
    fprintf(stderr, "%sazstream %s: %s\n", isatty(2) ? "\n" : "", (const char *)ctx, msg);
}

int par_apply(par_opts *p, azs_run_options *o, const char *cmd, const char *input, const char *dataset,
              const char *const *iargs, int niargs)
{
    o->inner = p->inner ? p->inner : AZS_LAYOUT_THREADS;
    o->threads_per_worker = p->threads_per_worker;
    o->gpus = p->ngpus ? p->gpus : NULL;
    o->ngpus = p->ngpus;
    o->notice = print_notice;
    o->notice_ctx = (void *)cmd;
    if (o->layout != AZS_LAYOUT_PROCS)
        return 0;
    free(p->argv);
    p->argv = calloc((size_t)niargs + 8, sizeof *p->argv);
    if (!p->argv)
        return CLI_FAIL;
    int n = 0;
    p->argv[n++] = self_exe();
    p->argv[n++] = "worker";
    p->argv[n++] = "--input";
    p->argv[n++] = input;
    if (dataset) {
        p->argv[n++] = "--dataset";
        p->argv[n++] = dataset;
    }
    p->argv[n++] = "--";
    for (int i = 0; i < niargs; i++)
        p->argv[n++] = iargs[i];
    p->argv[n] = NULL;
    o->worker_argv = p->argv;
    return 0;
}

void par_opts_free(par_opts *p)
{
    free(p->argv);
    p->argv = NULL;
}

/* ---------------------------------------------------------------- worker */

static int g_die_id = -1;
static uint64_t g_die_after;

static void test_hook(void *ctx, int id, uint64_t nsent)
{
    (void)ctx;
    if (id == g_die_id && nsent >= g_die_after)
        raise(SIGKILL);
}

int cmd_worker(int argc, char **argv)
{
    const char *cmd = "worker";
    /* Backstop: die with the parent even if it could not close our channel (SIGKILL). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Ctrl-C reaches the whole process group: the parent's cancel flag decides, then it
     * stops us; dying here first would look like a crash to it. */
    signal(SIGINT, SIG_IGN);

    const char *input = NULL, *dataset = NULL;
    int i = 1;
    for (; i < argc && strcmp(argv[i], "--"); i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc)
            input = argv[++i];
        else if (!strcmp(argv[i], "--dataset") && i + 1 < argc)
            dataset = argv[++i];
        else
            return cli_usage_error(cmd, "'%s': this hidden command is started by --layout procs", argv[i]);
    }
    if (!input || i >= argc)
        return cli_usage_error(cmd, "this hidden command is started by --layout procs");
    int first = i + 1;
    integ_settings S;
    integ_settings_default(&S);
    int rc = 0;
    /* The parent's order: config files first, then the options as given. */
    for (i = first; i < argc && !rc; i++)
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            rc = integ_load_config(&S, cmd, argv[++i]);
    for (i = first; i < argc && !rc; i++) {
        if (strncmp(argv[i], "--", 2))
            return cli_usage_error(cmd, "unexpected '%s'", argv[i]);
        char name[64];
        const char *eq = strchr(argv[i], '=');
        size_t nl = eq ? (size_t)(eq - argv[i] - 2) : strlen(argv[i] + 2);
        if (nl >= sizeof name)
            return cli_usage_error(cmd, "unknown integration option '%s'", argv[i]);
        memcpy(name, argv[i] + 2, nl);
        name[nl] = 0;
        if (!strcmp(name, "config")) {
            i += !eq;
            continue;
        }
        int tv = integ_option_takes_value(name);
        if (tv < 0)
            return cli_usage_error(cmd, "unknown integration option '%s'", argv[i]);
        const char *val = eq ? eq + 1 : NULL;
        if (tv && !eq) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "'%s' needs a value", argv[i]);
            val = argv[++i];
        }
        if (integ_option(&S, cmd, name, val) < 0)
            rc = CLI_USAGE;
    }
    if (rc)
        return rc;

    const char *die = getenv("AZS_TEST_WORKER_DIE_AFTER");
    if (die && *die) {
        const char *c = strchr(die, ':');
        g_die_id = c ? atoi(die) : 0;
        g_die_after = strtoull(c ? c + 1 : die, NULL, 10);
    }

    azs_source *src = NULL;
    azs_integrator *it = NULL;
    azs_status st = azs_source_open(input, dataset, &src);
    if (st != AZS_OK)
        return cli_report(cmd, st, input);
    const azs_source_info *in = azs_source_get_info(src);
    if ((rc = integ_build(&S, cmd, in->ny, in->nx, &it))) {
        azs_source_close(src);
        return rc;
    }
    azs_worker_hooks hooks = {test_hook, NULL};
    st = azs_procs_worker_serve(AZS_PROCS_WORKER_FD, src, it, g_die_id >= 0 ? &hooks : NULL);
    if (st != AZS_OK)
        rc = cli_report(cmd, st, input);
    azs_integrator_destroy(it);
    azs_source_close(src);
    return rc;
}

/* ---------------------------------------------------------------- bench rows */

/* The effective integration settings as options a worker replays exactly (doubles as
 * %.17g, which strtod reads back bit for bit). NULL when S holds something options cannot
 * say (an inline geometry, a polarization axis offset, a normalization factor, gap
 * masking off): then use `integrate --config` instead. */
static char **settings_args(const integ_settings *S, int *n)
{
    const azs_integrate_options *o = &S->io;
    azs_integrate_options d;
    azs_integrate_options_default(&d);
    if (S->have_geom || !S->poni_path[0] || o->polarization_axis_offset != d.polarization_axis_offset ||
        o->normalization_factor != d.normalization_factor || o->mask_detector_gaps != d.mask_detector_gaps)
        return NULL;
    char **a = calloc(40, sizeof *a);
    if (!a)
        return NULL;
    int k = 0;
#define ARG(...)                                                                                   \
    do {                                                                                           \
        char b_[4200];                                                                             \
        snprintf(b_, sizeof b_, __VA_ARGS__);                                                      \
        a[k++] = strdup(b_);                                                                       \
    } while (0)
    ARG("--poni=%s", S->poni_path);
    ARG("--npt=%u", o->npt);
    ARG("--npt-azim=%u", o->npt_azim);
    ARG("--unit=%s", azs_unit_name(o->unit));
    ARG("--method=%s", integ_split_name(o->split));
    if (o->has_radial_range)
        ARG("--radial-range=%.17g:%.17g", o->radial_min, o->radial_max);
    if (o->has_azimuth_range)
        ARG("--azimuth-range=%.17g:%.17g", o->azimuth_min, o->azimuth_max);
    if (o->has_polarization)
        ARG("--polarization=%.17g", o->polarization_factor);
    if (!o->solid_angle)
        ARG("--no-solid-angle");
    if (S->mask[0])
        ARG("--mask=%s", S->mask);
    if (S->dark[0])
        ARG("--dark=%s", S->dark);
    if (S->flat[0])
        ARG("--flat=%s", S->flat);
    if (o->has_dummy) {
        ARG("--dummy=%.17g", o->dummy);
        ARG("--delta-dummy=%.17g", o->delta_dummy);
    }
    ARG("--error-model=%s", o->error_model == AZS_ERRMODEL_NONE      ? "none"
                            : o->error_model == AZS_ERRMODEL_POISSON ? "poisson"
                                                                     : "azimuthal");
#undef ARG
    for (int i = 0; i < k; i++)
        if (!a[i]) {
            for (int j = 0; j < k; j++)
                free(a[j]);
            free(a);
            return NULL;
        }
    *n = k;
    return a;
}

int par_bench_row(azs_source *src, const azs_integrator *it, const char *stack, const char *dataset,
                  const integ_settings *S, azs_layout layout, int workers, const par_opts *par, uint64_t n,
                  double *fps)
{
    int na = 0;
    char **args = settings_args(S, &na);
    if (!args) {
        fprintf(stderr, "azstream bench: the procs/mpi rows need --poni and plain options\n");
        return CLI_USAGE;
    }
    par_opts p = *par;
    p.argv = NULL;
    azs_run_options o;
    azs_run_options_default(&o);
    o.layout = layout;
    o.workers = workers;
    o.end_frame = n;
    int rc = par_apply(&p, &o, "bench", stack, dataset, (const char *const *)args, na);
    if (!rc) {
        uint64_t count = 0;
        azs_sink_ops ops = azs_null_sink_ops(&count);
        azs_run_summary sum;
        azs_status st = azs_run(src, it, &o, &ops, &sum);
        if (st != AZS_OK)
            rc = cli_report("bench", st, layout == AZS_LAYOUT_MPI ? "mpi row" : "procs row");
        else
            *fps = sum.seconds > 0 ? (double)sum.frames_done / sum.seconds : 0;
    }
    par_opts_free(&p);
    for (int i = 0; i < na; i++)
        free(args[i]);
    free(args);
    return rc;
}
