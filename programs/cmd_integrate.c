/* azstream integrate: arguments → settings + job options → the library's job layer
 * (include/azstream/job.h) → a printed summary. Nothing here integrates; it parses and
 * prints.
 *
 * Several INPUT files are integrated one after the other into one output (the job layer
 * numbers the frames of input k after those of inputs 0..k-1). Ctrl-C sets the run's
 * cancel flag; the run stops, the output is closed (valid, with the rows so far) and the
 * exit code is 1. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "azstream/job.h"
#include "cli.h"
#include "cli_batch.h"
#include "cli_cache.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "par_options.h"

static volatile int g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    azs_cancel_request(&g_cancel);
}


static void usage(FILE *f)
{
    fprintf(f,
            "usage: azstream integrate INPUT... --poni GEOM.poni -o OUT.h5|OUT.dat [options]\n"
            "       azstream integrate INPUT... --config FILE.json -o OUT [options]\n\n"
            "  --poni FILE            pyFAI geometry (PONI v1, 2, 2.1)\n"
            "  --config FILE.json     settings as JSON: these option names, or pyFAI's\n"
            "                         integration-config keys (poni, nbpt_rad, nbpt_azim, unit,\n"
            "                         method, do_solid_angle, polarization_factor, do_dummy/\n"
            "                         val_dummy/delta_dummy, do_dark/dark_current, do_flat/\n"
            "                         flat_field, do_mask/mask_file, error_model, ranges);\n"
            "                         options on the command line override it\n"
            "  --npt N                radial bins (1000)\n"
            "  --npt-azim N           azimuthal bins: a 2D cake (0 = 1D)\n"
            "  --unit U               q_nm^-1 (default), q_A^-1, 2th_deg, 2th_rad, r_mm, r_m, d_m,\n"
            "                         d_nm, d_A, d*2_nm^-2, d*2_A^-2, log(1+q.nm)_None, log(1+q.A)_None,\n"
            "                         arcsinh(q.nm)_None, arcsinh(q.A)_None (pyFAI's names)\n"
            "  --unit-azim U          2D azimuthal axis and --azimuth-range: chi_deg (default), chi_rad\n"
            "  --method M             pixel splitting: no, bbox (default), full\n"
            "  --radial-range A:B     in the unit;  --azimuth-range A:B  in degrees, each end\n"
            "                         modulo 360 as pyFAI (350:10 crosses 0); an end left out\n"
            "                         (5:, :20) is the automatic one\n"
            "  --chi-disc-at-0        chi in [0, 360) instead of [-180, 180) (pyFAI's\n"
            "                         setChiDiscAtZero)\n"
            "  --polarization F       polarization factor in [-1, 1] (default: none)\n"
            "  --polarization-offset R  polarization axis offset in radians (0)\n"
            "  --normalization-factor F  divide every profile by F (1)\n"
            "  --no-solid-angle       skip the solid-angle correction (default: corrected)\n"
            "  --mask F               masked pixels (non-zero); replaces the detector's mask\n"
            "  --no-gap-mask          without --mask: no detector mask (default: its module gaps)\n"
            "  --no-pixel-mask        ignore the input's own pixel_mask (DECTRIS masters; default:\n"
            "                         applied, with any mask above, and recorded in the output)\n"
            "  --dark/--flat F        subtracted / divided; pixels whose flat is 0, NaN/inf or\n"
            "                         a dummy, or whose dark is NaN/inf, are left out as if masked\n"
            "                         (mask/dark/flat: .npy, FILE.h5[:/dataset] or\n"
            "                         FILE.h5::/dataset, .edf or .tif/.tiff (first image),\n"
            "                         the frames' shape)\n"
            "  --dummy V --delta-dummy D   pixels equal to V (within D) are left out; V as\n"
            "                         given (float32), D 0 = exact. Default: the detector's\n"
            "                         own dummy in the frames' type (DECTRIS detectors: -2\n"
            "                         within 1.5, so 4294967294 in uint32 frames, which also\n"
            "                         catches 0xFFFFFFFF; 65534 in uint16; -2 in signed and\n"
            "                         float frames); --delta-dummy alone is not used\n"
            "  --no-dummy             no dummy at all, not even the detector's\n"
            "  --error-model M        none (default), poisson, azimuthal (writes I_errors)\n"
            "  --empty V              I and sigma of bins no pixel reaches (0, as pyFAI's\n"
            "                         ai.empty; float32); not with --layout gpu\n"
            "  Defaults are pyFAI 2026.9's integrate1d_ng / integrate2d_ng (doc/integration.md):\n"
            "  q_nm^-1, bbox splitting, solid angle on, no polarization, the detector's mask\n"
            "  and dummy, empty bins 0.\n"
            "  --frames A:B           frames A..B-1 of each input (default: all)\n"
            "  --dataset PATH         dataset in the inputs (default /entry/data/data)\n"
            "  --layout L             serial, threads, procs, gpu, mpi (under mpirun); default:\n"
            "                         threads on a machine of several cores, else serial (every\n"
            "                         layout gives the same numbers)\n"
            "  --workers N            threads/processes for the threads/procs layouts (0 = all cores);\n"
            "                         gpu: reader threads (0 = min(cores, 16))\n"
            "  --read auto|reader|self|map threads: one reader thread feeds the workers, or each\n"
            "                         worker reads its own chunks (self: pread; map: mapped from\n"
            "                         the page cache, no copy); auto (default): map where the\n"
            "                         stack is read through its chunk index, else self when the\n"
            "                         workers take every core, else a reader\n"
            "  --gpu-feed F           gpu: how chunks reach the device: pread (into pinned\n"
            "                         buffers), register (the file mapped and registered with\n"
            "                         CUDA: no host copy), direct (O_DIRECT reads); auto (default):\n"
            "                         pread, the fastest measured (doc/gpu-notes.md)\n"
            "  --threads-per-worker T procs: threads in each worker process (0 = cores / workers);\n"
            "                         mpi: threads in each rank (0 = --workers, or all cores)\n"
            "  --inner threads|gpu    what runs inside each procs worker / mpi rank (threads)\n"
            "  --gpus LIST|all        procs/mpi on GPUs: devices, workers spread round-robin\n"
            "  --per-gpu K            procs: worker processes per GPU (1); --workers defaults to\n"
            "                         GPUs x K (--inner gpu without --gpus: K on --device)\n"
            "  --worker-timeout S     procs: a worker holding frames that sends nothing for S\n"
            "                         seconds (stopped, hung) is reported, killed and its frames\n"
            "                         re-assigned (30; 0 = wait for ever)\n"
            "  --skip-bad             write corrupt frames as NaN rows and go on (default: stop)\n"
            "  --allow-missing        a master's missing data files: integrate the rest, the\n"
            "                         missing frames written as NaN rows with frame_status 18\n"
            "                         (default: stop before any work, naming the file)\n"
            "  --quiet                no progress, no summary (--log-level error)\n"
            "  --progress S           when stderr is not a terminal (a batch job's log): a line\n"
            "                         every S seconds (10) with frames, frames/s and ETA; 0 = none.\n"
            "                         On a terminal: one line, rewritten\n"
            "  --log-level L          error (errors only), warning (and notices: resume, cache,\n"
            "                         workers), info (default: and progress, summary), debug (and\n"
            "                         the settings and each output before its run); -v = debug\n"
            "  --cache-dir DIR        integrator cache folder (default $XDG_CACHE_HOME/azstream,\n"
            "                         else ~/.cache/azstream): a later run with the same geometry,\n"
            "                         options, mask/dark/flat and frame type maps the matrix\n"
            "                         instead of building it\n"
            "  --no-cache             build the integrator, read and write no cache\n"
            "  -o, --output OUT       .h5/.nxs (NeXus NXazint1d/NXazint2d) or .dat/.xy (one file per\n"
            "                         frame if several); with {stem}, {name}, {dir} or {index}\n"
            "                         (-o {stem}_azint.h5) one output per INPUT, its base name\n"
            "                         without extension, base name, folder, position from 0;\n"
            "                         written as .OUT.azs-partial (text: .OUT.azs-tmp-PID) beside it\n"
            "                         and renamed when the run ends; an existing OUT is refused\n"
            "  --overwrite            replace an existing output (only once a frame is done: a run\n"
            "                         failing before its first frame leaves it as it was)\n"
            "  --resume               .h5 only: continue an interrupted output (OUT, or the partial\n"
            "                         file a killed run left) from its frames_written, if written\n"
            "                         with the same settings, inputs and --frames (else exit 2)\n"
            "%s\n", cli_stream_usage());
    fprintf(f,
            "Several INPUTs are integrated one after the other into one output, or each into its\n"
            "own with an output pattern (one run after the other; the first failure stops).\n"
            "Environment (for measuring): AZS_CPU_BATCH, AZS_GPU_BATCH, AZS_GPU_SLOTS, AZS_GPU_LAG,\n"
            "AZS_GPU_WINDOW_MIB, AZS_GPU_REGISTER_CAP_MIB.\n"
            "Exit codes: 0 ok, 1 runtime failure (the output keeps the frames done), 2 usage\n"
            "error or an output conflict (exists, being written by another run, other settings).\n");
}

static int parse_layout(const char *v, azs_layout *l)
{
    static const struct { const char *n; azs_layout l; } t[] = {
        {"serial", AZS_LAYOUT_SERIAL}, {"0", AZS_LAYOUT_SERIAL}, {"threads", AZS_LAYOUT_THREADS},
        {"1", AZS_LAYOUT_THREADS},     {"procs", AZS_LAYOUT_PROCS}, {"2", AZS_LAYOUT_PROCS},
        {"gpu", AZS_LAYOUT_GPU},       {"3", AZS_LAYOUT_GPU},     {"mpi", AZS_LAYOUT_MPI},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(v, t[i].n)) {
            *l = t[i].l;
            return 0;
        }
    return -1;
}

static int parse_feed(const char *v, azs_feed *f)
{
    static const struct { const char *n; azs_feed f; } t[] = {
        {"auto", AZS_FEED_AUTO}, {"reader", AZS_FEED_READER}, {"self", AZS_FEED_SELF}, {"map", AZS_FEED_MAP},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(v, t[i].n)) {
            *f = t[i].f;
            return 0;
        }
    return -1;
}

static const char *layout_name(azs_layout l)
{
    static const char *const n[] = {"serial", "threads", "procs", "gpu", "mpi"};
    return (unsigned)l < 5 ? n[l] : "?";
}

static int is_hdf5_name(const char *path)
{
    const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        return 0;
    static const char *const ext[] = {".h5", ".hdf5", ".nxs", ".nx5", ".hdf"};
    for (size_t k = 0; k < sizeof ext / sizeof ext[0]; k++)
        if (!strcasecmp(dot, ext[k]))
            return 1;
    return 0;
}

enum { LOG_ERROR = 0, LOG_WARNING, LOG_INFO, LOG_DEBUG };

/* What the command line said. */
typedef struct integrate_args {
    azs_settings *settings;
    azs_job_options job;
    par_opts par;
    const char **inputs;
    int log_level;         /* LOG_ERROR .. LOG_DEBUG */
    double progress;       /* --progress: seconds between lines off a terminal */
    cli_stream_args stream; /* tcp:// and ipc:// inputs (cmd_integrate_stream.c) */
    const char *cache_dir; /* --cache-dir */
    int no_cache;          /* --no-cache */
} integrate_args;

/* One option of this command (not a settings or procs option). 0, or an exit code. */
static int own_option(integrate_args *A, const char *cmd, const char *name, const char *val)
{
    azs_job_options *j = &A->job;
    if (!strcmp(name, "output"))
        j->output = val;
    else if (!strcmp(name, "config"))
        ; /* read before the other options */
    else if (!strcmp(name, "frames")) {
        if (cli_parse_range_i64(val, &j->first_frame, &j->end_frame))
            return cli_usage_error(cmd, "--frames: '%s' is not A:B (end exclusive), A:, :B or A", val);
    } else if (!strcmp(name, "dataset"))
        j->dataset = val;
    else if (!strcmp(name, "layout")) {
        if (parse_layout(val, &j->run.layout))
            return cli_usage_error(cmd, "--layout: '%s' is not serial, threads, procs, gpu or mpi", val);
    } else if (!strcmp(name, "workers")) {
        int64_t w;
        if (cli_parse_i64(val, &w) || w < 0 || w > 4096)
            return cli_usage_error(cmd, "--workers: '%s' is not a count (0 = all cores)", val);
        j->run.workers = (int)w;
    } else if (!strcmp(name, "read")) {
        if (parse_feed(val, &j->run.feed))
            return cli_usage_error(cmd, "--read: '%s' is not auto, reader, self or map", val);
    } else if (!strcmp(name, "gpu-feed")) {
        if (cli_parse_gpu_feed(val, &j->run.gpu_feed))
            return cli_usage_error(cmd, "--gpu-feed: '%s' is not auto, pread, register or direct", val);
    } else if (!strcmp(name, "worker-timeout")) {
        char *end;
        double t = strtod(val, &end);
        if (end == val || *end || !(t >= 0 && t <= 1e9))
            return cli_usage_error(cmd, "--worker-timeout: '%s' is not a number of seconds (0 = none)", val);
        j->run.worker_timeout = t;
    } else if (!strcmp(name, "skip-bad"))
        j->run.skip_bad = 1;
    else if (!strcmp(name, "allow-missing"))
        j->allow_missing = 1;
    else if (!strcmp(name, "quiet"))
        A->log_level = LOG_ERROR;
    else if (!strcmp(name, "v"))
        A->log_level = LOG_DEBUG;
    else if (!strcmp(name, "log-level")) {
        static const char *const lv[] = {"error", "warning", "info", "debug"};
        int k = 0;
        while (k < 4 && strcasecmp(val, lv[k]))
            k++;
        if (k == 4)
            return cli_usage_error(cmd, "--log-level: '%s' is not error, warning, info or debug", val);
        A->log_level = k;
    } else if (!strcmp(name, "progress")) {
        if (cli_parse_f64(val, &A->progress) || A->progress < 0 || A->progress > 1e6)
            return cli_usage_error(cmd, "--progress: '%s' is not a number of seconds (0 = no progress lines)", val);
    }
    else if (!strcmp(name, "overwrite"))
        j->overwrite = 1;
    else if (!strcmp(name, "resume"))
        j->resume = 1;
    else if (!strcmp(name, "cache-dir"))
        A->cache_dir = val;
    else if (!strcmp(name, "no-cache"))
        A->no_cache = 1;
    else
        return cli_stream_option(&A->stream, name, val);
    return 0;
}

/* 1 takes a value, 0 a flag, -1 unknown. */
static int option_arity(const char *name)
{
    static const char *const value[] = {"output", "config", "frames", "dataset", "layout", "workers", "read",
                                          "gpu-feed", "worker-timeout", "cache-dir", "progress", "log-level"};
    static const char *const flag[] = {"skip-bad", "quiet", "allow-missing", "no-cache", "overwrite", "resume",
                                       "v"};
    for (size_t k = 0; k < sizeof value / sizeof value[0]; k++)
        if (!strcmp(name, value[k]))
            return 1;
    for (size_t k = 0; k < sizeof flag / sizeof flag[0]; k++)
        if (!strcmp(name, flag[k]))
            return 0;
    if (par_option_takes_value(name) >= 0)
        return par_option_takes_value(name);
    if (cli_stream_option_arity(name) >= 0)
        return cli_stream_option_arity(name);
    return azs_settings_option_arity(name);
}

/* Parse argv into A. 0, or an exit code (-1: --help printed). */
static int parse_args(integrate_args *A, int argc, char **argv)
{
    const char *cmd = argv[0];
    /* Config files first, so that command-line options override them. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
            const char *config = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[i + 1] : NULL);
            if (!config)
                return cli_usage_error(cmd, "--config needs a file name");
            azs_status st = azs_settings_load_config(A->settings, config);
            if (st != AZS_OK) {
                cli_report(cmd, st, "--config");
                return CLI_USAGE;
            }
        }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return -1;
        }
        if (a[0] != '-' || !a[1]) {
            A->inputs[A->job.ninputs++] = a;
            continue;
        }
        char name[64];
        const char *val = NULL;
        if (!strcmp(a, "-o")) {
            snprintf(name, sizeof name, "output");
        } else if (!strcmp(a, "-v")) {
            snprintf(name, sizeof name, "v");
        } else if (a[1] == '-' && strcspn(a + 2, "=") < sizeof name) {
            size_t n = strcspn(a + 2, "=");
            memcpy(name, a + 2, n);
            name[n] = 0;
            val = a[2 + n] ? a + 3 + n : NULL;
        } else {
            return cli_usage_error(cmd, "unknown option '%s'", a);
        }
        int takes = option_arity(name);
        if (takes < 0)
            return cli_usage_error(cmd, "unknown option '%s'", a);
        if (takes && !val) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            val = argv[++i];
        } else if (!takes && val) {
            return cli_usage_error(cmd, "option '--%s' takes no value", name);
        }
        int rc = 0;
        if (par_option_takes_value(name) >= 0) {
            if (par_option(&A->par, cmd, name, val) < 0)
                rc = CLI_USAGE;
        } else if (azs_settings_option_arity(name) >= 0) {
            azs_status st = azs_settings_set(A->settings, name, val);
            if (st != AZS_OK)
                rc = cli_usage_error(cmd, "%s", azs_last_error());
        } else {
            rc = own_option(A, cmd, name, val);
        }
        if (rc)
            return rc;
    }
    if (A->job.ninputs == 0)
        return cli_usage_error(cmd, "no INPUT file");
    if (!A->job.output)
        return cli_usage_error(cmd, "no output: -o OUT.h5 or -o OUT.dat");
    if (!azs_settings_geometry(A->settings) && !azs_settings_poni_path(A->settings)[0] &&
        !cli_is_stream_input(A->inputs[0])) /* a stream's start message may give the geometry */
        return cli_usage_error(cmd, "--poni GEOMETRY.poni is required (or a config with 'poni')");
    if (A->job.resume && A->job.overwrite)
        return cli_usage_error(cmd, "--resume continues the output, --overwrite replaces it: one of them");
    if (A->job.resume && !is_hdf5_name(A->job.output))
        return cli_usage_error(cmd, "--resume is for HDF5 outputs (.h5/.nxs): a text output is written whole, "
                               "one file per frame (--overwrite to write it again)");
    if (A->job.resume && A->job.run.layout == AZS_LAYOUT_MPI)
        return cli_usage_error(cmd, "--resume is not available with --layout mpi (resume with another layout: "
                               "the rows are the same)");
    return par_resolve(&A->par, cmd, A->job.run.layout, &A->job.run.workers);
}

/* Ctrl-C from here on stops the run cleanly (also while the matrix is built). */
static void catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* Past a file size limit (ulimit -f) a write then fails with EFBIG, which the output's
     * error names and survives, instead of the signal killing the process mid-write. */
    signal(SIGXFSZ, SIG_IGN);
}

/* One job: jo's inputs into jo->output. Prints its summary (rank 0); an exit code. */
static int run_one(const char *cmd, const integrate_args *A, azs_job_options *jo, int quiet, cli_progress *prog,
                   const char *label)
{
    azs_job *job = NULL;
    azs_job_summary sum;
    memset(&sum, 0, sizeof sum);
    sum.failed_input = -1;
    if (A->log_level >= LOG_DEBUG && !quiet) {
        char *js = azs_settings_to_json(A->settings);
        fprintf(stderr, "azstream %s: %d input%s -> %s, layout %s, settings:\n%s\n", cmd, jo->ninputs,
                jo->ninputs == 1 ? "" : "s", jo->output, layout_name(jo->run.layout), js ? js : "?");
        free(js);
    }
    azs_status st = azs_job_open(A->settings, jo, &job);
    int rc = CLI_OK;
    if (st != AZS_OK) {
        cli_report(cmd, st, NULL);
        return st == AZS_ERR_CONFLICT ? CLI_USAGE : CLI_FAIL; /* the output as it stands: an option's matter */
    }
    cli_progress_start(prog, label); /* frames/s of the run, as `bench` counts them: set-up apart */
    const double t0 = azs_now_seconds();
    st = azs_job_run(job, NULL, &sum);
    cli_progress_end(prog);
    if (st != AZS_OK)
        rc = cli_report(cmd, st, NULL);
    double seconds = azs_now_seconds() - t0;
    char absent[64] = ""; /* frames never written or in missing files: frame_status 18/19 */
    if (sum.frames_absent)
        snprintf(absent, sizeof absent, ", of which %" PRIu64 " without data", sum.frames_absent);
    if (azs_job_rank(job) != 0) { /* layout mpi: rank 0 alone writes, and names, the output */
        if (!quiet || rc)
            printf("azstream integrate: rank %d: its frames sent to rank 0%s\n", azs_job_rank(job),
                   rc ? " (incomplete)" : "");
    } else if (!quiet || rc)
        printf("azstream integrate: %" PRIu64 " frames (%" PRIu64 " bad%s) in %.3f s, "
               "%.1f frames/s, layout %s -> %s%s\n",
               sum.frames_done, sum.frames_bad, absent, seconds,
               seconds > 0 ? (double)sum.frames_done / seconds : 0.0,
               layout_name(jo->run.layout), jo->output, rc ? " (incomplete)" : "");
    if ((!quiet || rc) && sum.frames_resumed)
        printf("azstream integrate: %" PRIu64 " frames were in the output already (--resume)\n",
               sum.frames_resumed);
    if (!quiet)
        cli_cache_summary(job);
    fflush(stdout);
    azs_job_close(job);
    return rc;
}

/* -o PATTERN: each input into its own output, one after the other; the first failure
 * stops. Every name is made (and checked to differ) before any run. */
static int run_each(const char *cmd, const integrate_args *A, azs_job_options *jo, int quiet, cli_progress *prog)
{
    const int n = jo->ninputs;
    const char *pattern = jo->output, *const *inputs = jo->inputs;
    char (*names)[4096] = calloc((size_t)n, sizeof *names);
    if (!names)
        return cli_report(cmd, AZS_ERR_NOMEM, "output names");
    int rc = CLI_OK;
    for (int k = 0; k < n && !rc; k++) {
        const char *bad = NULL;
        if (cli_output_expand(pattern, inputs[k], k, names[k], sizeof names[k], &bad))
            rc = bad ? cli_usage_error(cmd, "-o %s: '%.*s' is not {stem}, {name}, {dir} or {index}", pattern,
                                       (int)(strchr(bad, '}') ? strchr(bad, '}') - bad + 1 : 1), bad)
                     : cli_usage_error(cmd, "-o %s: the name for %s is too long", pattern, inputs[k]);
        for (int i = 0; i < k && !rc; i++)
            if (!strcmp(names[i], names[k]))
                rc = cli_usage_error(cmd, "-o %s gives %s for both %s and %s: one output per input needs a "
                                     "pattern that tells them apart ({stem}, {index})", pattern, names[k],
                                     inputs[i], inputs[k]);
    }
    for (int k = 0; k < n && !rc && !g_cancel; k++) {
        azs_job_options one = *jo;
        one.inputs = &inputs[k];
        one.ninputs = 1;
        one.output = names[k];
        rc = run_one(cmd, A, &one, quiet, prog, names[k]);
    }
    if (!rc && g_cancel)
        rc = cli_report(cmd, AZS_ERR_INTERRUPTED, "the inputs after the interrupted one were not integrated");
    free(names);
    return rc;
}

int cmd_integrate(int argc, char **argv)
{
    const char *cmd = argv[0];
    integrate_args A;
    memset(&A, 0, sizeof A);
    A.log_level = LOG_INFO;
    A.progress = 10;
    azs_job_options_default(&A.job);
    /* The fastest correct layout by default: threads where there are cores to use. */
    A.job.run.layout = azs_cpu_count() > 1 ? AZS_LAYOUT_THREADS : AZS_LAYOUT_SERIAL;
    par_opts_default(&A.par);
    A.inputs = calloc((size_t)argc, sizeof *A.inputs);
    if (!A.inputs || azs_settings_create(&A.settings) != AZS_OK) {
        free(A.inputs);
        return cli_report(cmd, AZS_ERR_NOMEM, "arguments");
    }
    A.job.inputs = A.inputs;
    int rc = parse_args(&A, argc, argv);
    if (rc) {
        azs_settings_destroy(A.settings);
        free(A.inputs);
        return rc < 0 ? CLI_OK : rc;
    }
    azs_job_options *jo = &A.job;
    jo->run.cancel = &g_cancel;
    cli_run_knobs(&jo->run);
    par_apply(&A.par, &jo->run, cmd);
    if (A.log_level < LOG_WARNING) /* errors only */
        jo->run.notice = NULL;
    jo->worker_exe = cli_self_exe();
    char cache_buf[4096];
    jo->cache_dir = cli_cache_dir(cmd, A.cache_dir, A.no_cache, cache_buf, sizeof cache_buf);
    int mpi_rank = 0;
    if (jo->run.layout == AZS_LAYOUT_MPI) {
        azs_status ms = azs_mpi_init(NULL, NULL, &mpi_rank, NULL);
        if (ms != AZS_OK)
            rc = cli_report(cmd, ms, "--layout mpi");
    }
    int quiet = A.log_level < LOG_INFO || mpi_rank != 0; /* rank 0 speaks for the run */
    cli_progress prog;
    cli_progress_init(&prog, cmd, A.progress);
    if (!quiet && (prog.tty || A.progress > 0)) {
        jo->progress = cli_on_progress;
        jo->progress_ctx = &prog;
    }
    catch_signals();
    if (!rc && cli_is_stream_input(A.inputs[0])) {
        rc = cli_integrate_stream(cmd, A.settings, jo, &A.stream, quiet);
        azs_settings_destroy(A.settings);
        free(A.inputs);
        return rc;
    }
    if (!rc && cli_output_is_pattern(jo->output))
        rc = run_each(cmd, &A, jo, quiet, &prog);
    else if (!rc)
        rc = run_one(cmd, &A, jo, quiet, &prog, NULL);
    if (jo->run.layout == AZS_LAYOUT_MPI)
        azs_mpi_finalize();
    azs_settings_destroy(A.settings);
    free(A.inputs);
    return rc;
}
