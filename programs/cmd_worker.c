/* Layout 2 (procs) and mpi on the command line.
 *
 * 1. `azstream worker --input FILE [--dataset D] --settings JSON` (hidden): a worker process
 *    started by the procs layout; the job layer's azs_job_worker_main does the work (it
 *    builds the parent's integrator from the settings as JSON and serves frame ranges on
 *    fd AZS_PROCS_WORKER_FD until the parent closes it).
 * 2. The options of `azstream integrate` / `bench` for procs and mpi (--threads-per-worker,
 *    --gpus, --per-gpu, --inner).
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

#include "azstream/sink.h"
#include "common/clock.h"
#include "cli.h"
#include "par_options.h"

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
int par_resolve(par_opts *p, const char *cmd, azs_layout layout, int *workers)
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
    /* procs --inner gpu without --gpus: the one device (--device), K workers on it (not one per
     * core: 16 processes each starting a CUDA context and its pinned buffers on one GPU took
     * 2.7-3.4 s before their first frame on the H200 host) */
    if (layout == AZS_LAYOUT_PROCS && !p->ngpus && p->inner == AZS_LAYOUT_GPU && *workers == 0)
        *workers = p->per_gpu;
    return 0;
}

const char *cli_self_exe(void)
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

static const char *g_notice_cmd = "integrate"; /* the sub-command that prints notices */

static void print_notice(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "%sazstream %s: %s\n", isatty(2) ? "\n" : "", g_notice_cmd, msg);
}

void par_apply(const par_opts *p, azs_run_options *o, const char *cmd)
{
    o->inner = p->inner ? p->inner : AZS_LAYOUT_THREADS;
    o->threads_per_worker = p->threads_per_worker;
    o->gpus = p->ngpus ? p->gpus : NULL;
    o->ngpus = p->ngpus;
    g_notice_cmd = cmd;
    o->notice = print_notice;
    o->notice_ctx = NULL;
}

/* ---------------------------------------------------------------- worker */

static int g_die_id = -1;
static uint64_t g_die_after;

/* AZS_GPU_TRACE (as for `integrate`): where a worker's time went, on stderr at its exit: from
 * its start to its first frame sent (start-up: integrator, device, first range), and the
 * pauses between frames over 20 ms (a range's start and drain). */
static struct {
    int on, id;
    double t0, first, last, paused;
    uint64_t npauses, nsent;
} g_trace;

static void frame_hook(void *ctx, int id, uint64_t nsent)
{
    (void)ctx;
    if (g_trace.on) {
        const double t = azs_now_seconds();
        if (!g_trace.nsent)
            g_trace.first = t;
        else if (t - g_trace.last > 0.020) {
            g_trace.npauses++;
            g_trace.paused += t - g_trace.last;
        }
        g_trace.last = t;
        g_trace.nsent = nsent;
        g_trace.id = id;
    }
    if (id == g_die_id && nsent >= g_die_after)
        raise(SIGKILL);
}

int cmd_worker(int argc, char **argv)
{
    /* Backstop: die with the parent even if it could not close our channel (SIGKILL). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    /* Ctrl-C reaches the whole process group: the parent's cancel flag decides, then it
     * stops us; dying here first would look like a crash to it. */
    signal(SIGINT, SIG_IGN);
    const char *die = getenv("AZS_TEST_WORKER_DIE_AFTER");
    if (die && *die) {
        const char *c = strchr(die, ':');
        g_die_id = c ? atoi(die) : 0;
        g_die_after = strtoull(c ? c + 1 : die, NULL, 10);
    }
    const char *tr = getenv("AZS_GPU_TRACE");
    g_trace.on = tr && *tr && strcmp(tr, "0");
    g_trace.t0 = azs_now_seconds();
    azs_worker_hooks hooks = {frame_hook, NULL};
    azs_status st = azs_job_worker_main(argc, argv, g_die_id >= 0 || g_trace.on ? &hooks : NULL);
    if (g_trace.on)
        fprintf(stderr, "worker %d trace: %.3f s from its start to its first frame sent, %" PRIu64 " frames in %.3f s "
                "after it, %" PRIu64 " pauses over 20 ms totalling %.3f s, exit %.3f s after its start\n",
                g_trace.id, g_trace.nsent ? g_trace.first - g_trace.t0 : 0.0, g_trace.nsent,
                g_trace.nsent ? g_trace.last - g_trace.first : 0.0, g_trace.npauses, g_trace.paused,
                azs_now_seconds() - g_trace.t0);
    return st == AZS_OK ? CLI_OK : cli_report("worker", st, NULL);
}

/* ---------------------------------------------------------------- bench rows */

int par_bench_row(azs_source *src, const azs_integrator *it, const char *stack, const char *dataset,
                  const azs_settings *S, azs_layout layout, int workers, const par_opts *par, uint64_t n,
                  double *fps)
{
    char *settings = azs_settings_to_json(S);
    if (!settings)
        return cli_report("bench", AZS_ERR_NOMEM, "settings");
    const char *argv[AZS_WORKER_ARGV_MAX];
    azs_run_options o;
    azs_run_options_default(&o);
    o.layout = layout;
    o.workers = workers;
    o.end_frame = n;
    par_apply(par, &o, "bench");
    o.worker_argv = azs_job_worker_argv(argv, cli_self_exe(), stack, dataset, settings);
    uint64_t count = 0;
    azs_sink_ops ops = azs_null_sink_ops(&count);
    azs_run_summary sum;
    azs_status st = azs_run(src, it, &o, &ops, &sum);
    free(settings);
    if (st != AZS_OK)
        return cli_report("bench", st, layout == AZS_LAYOUT_MPI ? "mpi row" : "procs row");
    *fps = sum.seconds > 0 ? (double)sum.frames_done / sum.seconds : 0;
    return 0;
}
