/* azstream bench: frames/s of the single-thread engine, of layout 0 and of layout 1 per
 * worker count, on one stack and geometry, in one run, against the machine's limits
 * measured in the same run:
 *   compute limit   = cores × one core's rate of decode + integrate of preloaded chunks
 *                     (azs_integrate_chunks, batches as layout 1 runs them: the work each
 *                     core has per frame; with the reader's and writer's work outside it)
 *   memory limit    = stream-copy bandwidth / bytes moved per frame (compressed chunk +
 *                     azs_integrator_stream_bytes for layout 1's batches of
 *                     AZS_BATCH_MAX frames; bitshuffle-LZ4 frames are integrated as they
 *                     decode, so the decoded frame is not counted; for other codecs it is,
 *                     written once and read once)
 *   limit           = the smaller of the two; "of limit" = frames/s / limit.
 *   all cores at once = the compute loop on every core together, no pipeline: how much of
 *                     cores × one core this machine gives (clock, shared cache and memory
 *                     under full load), i.e. the efficiency no pipeline could pass.
 * Results go to a null sink: only the pipeline is timed. Not a test: a measurement. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azstream/codec.h"
#include "azstream/gpu.h"
#include "azstream/sink.h"
#include "bench_host.h"
#include "cli.h"
#include "common/alloc.h"
#include "common/clock.h"
#include "par_options.h"
#include "layout/layouts.h"


/* Multi-threaded copy bandwidth (read + write bytes per second) over 2 × 256 MiB. */
static double stream_bandwidth(void)
{
    const size_t n = (size_t)32 << 20; /* doubles = 256 MiB */
    double *a = azs_aligned_alloc(n * sizeof(double)), *b = azs_aligned_alloc(n * sizeof(double));
    if (!a || !b) {
        azs_aligned_free(a);
        azs_aligned_free(b);
        return 0;
    }
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        a[i] = (double)i;
        b[i] = 0;
    }
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t = azs_now_seconds();
#pragma omp parallel for schedule(static)
        for (size_t i = 0; i < n; i++)
            b[i] = a[i] * 1.000001;
        t = azs_now_seconds() - t;
        double bw = 2.0 * (double)n * sizeof(double) / t;
        if (bw > best)
            best = bw;
    }
    volatile double sink = b[n / 2];
    (void)sink;
    azs_aligned_free(a);
    azs_aligned_free(b);
    return best;
}

/* Frames/s of `nthreads` threads running at once, each its own decode + integrate loop
 * over the preloaded chunks (azs_integrate_chunks, batches of AZS_BATCH_MAX as layout 1's
 * workers run them), for `seconds`. With one thread: one core's rate; with every
 * core: what the machine gives this work when all cores run it (clock, shared cache and
 * memory included), with no pipeline around it. Returns < 0 on failure (st set). */
static double fused_rate(const azs_integrator *it, const azs_source_info *info, const char *raw,
                         size_t cap, const size_t *sizes, int npre, int want_sigma, int nthreads,
                         double seconds, azs_status *st)
{
    const size_t nbins = azs_integrator_nbins(it);
    const int nb = npre < AZS_BATCH_MAX ? npre : AZS_BATCH_MAX;
    double rate = 0;
    int failed = 0;
    *st = AZS_OK;
    double t0 = 0;
#pragma omp parallel num_threads(nthreads) reduction(+ : rate)
    {
        azs_workspace *ws = NULL;
        double *rows = azs_aligned_alloc((size_t)AZS_BATCH_MAX * 2 * nbins * sizeof(double));
        void *fbuf = azs_aligned_alloc(info->frame_bytes);
        azs_status s = rows && fbuf ? azs_workspace_create(it, &ws) : AZS_ERR_NOMEM;
        if (s != AZS_OK) {
#pragma omp atomic write
            failed = 1;
        }
        const void *cp[AZS_BATCH_MAX];
        size_t cs[AZS_BATCH_MAX];
        azs_frame_result fo[AZS_BATCH_MAX];
        azs_status fst[AZS_BATCH_MAX];
        memset(fo, 0, sizeof fo);
        for (int j = 0; j < nb && rows; j++) {
            fo[j].intensity = rows + (size_t)j * 2 * nbins;
            fo[j].sigma = want_sigma ? fo[j].intensity + nbins : NULL;
        }
#pragma omp barrier
#pragma omp single
        t0 = azs_now_seconds();
        /* each thread starts at its own chunk and runs for `seconds` after t0 (set, like
         * `failed`, before the barrier: no race) */
        int done = 0, k0 = omp_get_thread_num() * nb;
        while (!failed && s == AZS_OK && (azs_now_seconds() - t0 < seconds || done < npre)) {
            for (int j = 0; j < nb; j++) {
                const int k = (k0 + done + j) % npre;
                cp[j] = raw + cap * (size_t)k;
                cs[j] = sizes[k];
            }
            s = azs_integrate_chunks(it, ws, info->codec, info->dtype, nb, cp, cs, fbuf, fo, fst,
                                     NULL, 0);
            done += nb;
        }
        rate += done / (azs_now_seconds() - t0);
        if (s != AZS_OK) {
#pragma omp critical
            *st = s;
        }
        azs_workspace_destroy(ws);
        azs_aligned_free(rows);
        azs_aligned_free(fbuf);
    }
    if (failed && *st == AZS_OK)
        *st = AZS_ERR_NOMEM;
    return *st == AZS_OK ? rate : -1.0;
}

/* Layout 3's kernels alone: one batch of 32 frames (the preloaded chunks, repeated)
 * decoded and integrated from device memory, against the two floors of doc/gpu-notes.md:
 * PCIe for the compressed bytes that go in, HBM for what the kernels must move per frame
 * (compressed read, decoded frame written and read, the matrix once per batch, the
 * per-pixel factors). Prints one line; returns the PCIe floor in frames/s (0 on failure). */
static double gpu_kernel_line(const azs_integrator *it, const azs_source_info *info,
                              const char *raw, size_t cap, const size_t *sizes, int npre,
                              double chunk_mean, int device)
{
    enum { B = 32 };
    azs_csr_view csr;
    azs_status st = azs_integrator_csr(it, &csr);
    if (st != AZS_OK || npre < 1 || chunk_mean <= 0)
        return 0;
    azs_gpu_config c;
    azs_gpu_config_for(&c, info, it, device, B, 1, cap);
    azs_gpu_engine *e = NULL;
    if ((st = azs_gpu_engine_create(&c, &csr, &e)) != AZS_OK) {
        printf("GPU kernels only: %s\n", azs_last_error());
        return 0;
    }
    azs_gpu_item *items = azs_gpu_host_items(e, 0);
    size_t nitems = 0, room = azs_gpu_items_capacity(e), bsizes[B];
    uint32_t maxb = 0;
    int32_t hs[B];
    for (uint32_t i = 0; i < B; i++) {
        const int k = (int)(i % (uint32_t)npre);
        uint8_t *h = azs_gpu_host_chunk(e, 0, i);
        memcpy(h, raw + cap * (size_t)k, sizes[k]);
        bsizes[i] = sizes[k];
        size_t ni = 0;
        uint32_t mb = 0;
        hs[i] = (int32_t)azs_gpu_plan_chunk(info->codec, info->elem_size, h, sizes[k],
                                            info->frame_bytes, i, items + nitems, room - nitems,
                                            &ni, &mb);
        if (hs[i] != AZS_OK && st == AZS_OK)
            st = (azs_status)hs[i];
        nitems += ni;
        maxb = mb > maxb ? mb : maxb;
    }
    const int32_t *gs = NULL;
    float msd = 0, msi = 0;
    double h2d = 0, d2d = 0;
    if (st == AZS_OK)
        st = azs_gpu_submit(e, 0, B, bsizes, nitems, maxb, hs);
    if (st == AZS_OK)
        st = azs_gpu_wait(e, 0, NULL, NULL, &gs, NULL);
    for (uint32_t i = 0; st == AZS_OK && i < B; i++)
        if (gs[i] != AZS_OK)
            st = (azs_status)gs[i];
    if (st == AZS_OK)
        st = azs_gpu_time_kernels(e, 0, 20, &msd, &msi);
    if (st == AZS_OK)
        st = azs_gpu_measure_bandwidth(device, (size_t)256 << 20, &h2d, &d2d);
    azs_gpu_engine_destroy(e);
    if (st != AZS_OK) {
        printf("GPU kernels only: %s: %s\n", azs_status_str(st), azs_last_error());
        return 0;
    }
    const double kfps = B / ((double)(msd + msi) * 1e-3);
    const double pcie = h2d * 1e9 / chunk_mean;
    const double hbm_bytes = chunk_mean + 2.0 * (double)info->frame_bytes +
                             8.0 * (double)csr.indptr[csr.nbins] / B + 4.0 * (double)csr.npixels;
    const double hbm = d2d * 1e9 / hbm_bytes;
    printf("GPU kernels only (batch of %d from device memory): decode %.2f + integrate %.2f ms = "
           "%.0f frames/s; floors: PCIe %.1f GB/s / %.2f MB = %.0f frames/s, HBM %.0f GB/s / "
           "%.1f MB = %.0f frames/s; kernels at %.0f%% of the HBM floor\n",
           B, msd, msi, kfps, h2d, chunk_mean / 1e6, pcie, d2d, hbm_bytes / 1e6, hbm,
           100 * kfps / hbm);
    return pcie;
}

/* Frames for one row: --frames, or with --seconds S about S seconds at the expected rate
 * (short runs of many workers measure their start and their tail more than their pace),
 * never more than the stack holds. */
static uint64_t row_frames(int64_t nframes, double seconds, double expected_fps, uint64_t stack)
{
    double n = seconds * expected_fps;
    uint64_t r = n > (double)nframes ? (uint64_t)n : (uint64_t)nframes;
    return r < stack ? r : stack;
}

#define AZS_BENCH_MAX_REPEAT 15

/* Median of n values (sorted in place), with their range. */
static double median(double *v, int n, double *lo, double *hi)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    *lo = v[0];
    *hi = v[n - 1];
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: azstream bench STACK --poni GEOM.poni [--method bbox|full|no] [--workers 1,2,4,...]\n"
               "                       [--frames N] [--npt N] [--npt-azim N] [--dataset PATH]\n"
               "                       [--layouts serial,threads,procs,gpu] [--device K]\n"
               "                       [--read reader,self,map|both|all] [--seconds S] [--repeat R]\n"
               "                       [--gpu-feed auto|pread|register|direct] [--gpu-prepare]\n"
               "                       [other integrate options]\n"
               "Defaults: W1 settings (1000 bins q_nm^-1, solid angle, polarization 0.99, dummy\n"
               "0xFFFFFFFF for uint32 stacks), frames = min(stack, 200), workers 1,2,4,.. up to all cores.\n"
               "--seconds S: layout 0 and 1 rows run at least --frames and about S seconds each\n"
               "(up to the whole stack). --repeat R (1..15): the layout-1 sweep runs R times,\n"
               "interleaved; rows show the median and the range. --read: which layout-1 rows: a\n"
               "reader thread, workers reading (pread) or mapping their own chunks (the default\n"
               "of integrate on most stacks); both = reader,self; all = the three (default).\n"
               "Rows \"decode+integrate alone\" run the same work on the same thread counts with\n"
               "no pipeline: the host's own scaling, measured within the same sweeps.\n"
               "--gpu-feed: how layout gpu's chunks reach the device (as integrate's).\n"
               "--gpu-prepare: start the GPU engine (context, buffers) before the integrator is\n"
               "built, as integrate does; its set-up then leaves the gpu rows' times.\n");
}

/* Is `name` one of the comma-separated words of `list`? */
static int layout_listed(const char *list, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = list; p && *p;) {
        const char *e = strchr(p, ',');
        size_t w = e ? (size_t)(e - p) : strlen(p);
        if (w == len && !strncmp(p, name, len))
            return 1;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

enum { READ_READER = 1, READ_SELF = 2, READ_MAP = 4 };

/* --read: comma-separated reader, self, map, both (reader,self), all; 0 if malformed. */
static int parse_read_rows(const char *v)
{
    int m = 0;
    const char *p = v;
    while (p) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 6 && !strncmp(p, "reader", 6))
            m |= READ_READER;
        else if (len == 4 && !strncmp(p, "self", 4))
            m |= READ_SELF;
        else if (len == 3 && !strncmp(p, "map", 3))
            m |= READ_MAP;
        else if (len == 4 && !strncmp(p, "both", 4))
            m |= READ_READER | READ_SELF;
        else if (len == 3 && !strncmp(p, "all", 3))
            m |= READ_READER | READ_SELF | READ_MAP;
        else
            return 0;
        p = e ? e + 1 : NULL;
    }
    return m;
}

static int bench_device;
static azs_gpu_feed bench_gpu_feed; /* --gpu-feed */
static void bench_notice(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "azstream bench: %s\n", msg);
}

static double last_setup_s; /* set-up seconds of the last run_layout */

static int run_layout(azs_source *src, const azs_integrator *it, azs_layout l, int workers,
                      azs_feed feed, uint64_t n, double *fps)
{
    azs_run_options o;
    azs_run_options_default(&o);
    o.layout = l;
    o.device = bench_device;
    o.workers = workers;
    o.end_frame = n;
    uint64_t count = 0;
    azs_sink_ops ops = azs_null_sink_ops(&count);
    azs_run_summary sum;
    azs_status st;
    o.feed = feed;
    o.gpu_feed = bench_gpu_feed;
    o.notice = bench_notice;
    int trace = cli_run_knobs(&o);
    st = azs_run(src, it, &o, &ops, &sum);
    if (st != AZS_OK)
        return cli_report("bench", st, "run");
    if (trace && l == AZS_LAYOUT_GPU)
        cli_print_gpu_trace(&sum);
    *fps = (double)count / sum.seconds;
    last_setup_s = sum.setup_seconds;
    return 0;
}

static int bench_main(azs_settings *S, int argc, char **argv)
{
    const char *cmd = argv[0];
    const char *stack = NULL, *dataset = NULL, *wlist = NULL;
    int64_t nframes = 200;
    double seconds = 0;
    int repeat = 1;
    int read_rows = READ_READER | READ_SELF | READ_MAP; /* layout-1 rows: READ_* */
    const char *layouts = "serial,threads,procs,gpu";
    int64_t device = 0;
    int gpu_prepare = 0; /* --gpu-prepare */
    int layouts_given = 0;
    int user_pol = 0, user_dummy = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return CLI_OK;
        }
        if (a[0] != '-') {
            if (stack)
                return cli_usage_error(cmd, "one STACK only ('%s' and '%s')", stack, a);
            stack = a;
            continue;
        }
        const char *n = a + 2;
        if (a[1] != '-')
            return cli_usage_error(cmd, "unknown option '%s'", a);
        if (!strcmp(n, "no-self-read")) { /* the older spelling of --read reader */
            read_rows = READ_READER;
            continue;
        }
        int own = !strcmp(n, "workers") || !strcmp(n, "frames") || !strcmp(n, "dataset") ||
                  !strcmp(n, "layout") || !strcmp(n, "layouts") || !strcmp(n, "device") ||
                  !strcmp(n, "seconds") || !strcmp(n, "repeat") || !strcmp(n, "read") ||
                  !strcmp(n, "gpu-feed");
        if (!strcmp(n, "gpu-prepare")) {
            gpu_prepare = 1;
            continue;
        }
        int tv = own ? 1 : azs_settings_option_arity(n);
        if (tv < 0)
            return cli_usage_error(cmd, "unknown option '%s'", a);
        const char *v = NULL;
        if (tv) {
            if (i + 1 >= argc)
                return cli_usage_error(cmd, "option '%s' needs a value", a);
            v = argv[++i];
        }
        if (!strcmp(n, "workers"))
            wlist = v;
        else if (!strcmp(n, "gpu-feed")) {
            if (cli_parse_gpu_feed(v, &bench_gpu_feed))
                return cli_usage_error(cmd, "--gpu-feed: '%s' is not auto, pread, register or direct", v);
        } else if (!strcmp(n, "read")) {
            if ((read_rows = parse_read_rows(v)) == 0)
                return cli_usage_error(cmd, "--read: '%s' is not a list of reader, self, map "
                                       "(or both, all)", v);
        }
        else if (!strcmp(n, "repeat")) {
            int64_t r;
            if (cli_parse_i64(v, &r) || r < 1 || r > AZS_BENCH_MAX_REPEAT)
                return cli_usage_error(cmd, "--repeat: '%s' is not a count in 1..%d", v,
                                       AZS_BENCH_MAX_REPEAT);
            repeat = (int)r;
        } else if (!strcmp(n, "seconds")) {
            char *e;
            seconds = strtod(v, &e);
            if (e == v || *e || !(seconds >= 0 && seconds <= 3600))
                return cli_usage_error(cmd, "--seconds: '%s' is not a duration in 0..3600", v);
        }
        else if (!strcmp(n, "frames")) {
            if (cli_parse_i64(v, &nframes) || nframes < 1)
                return cli_usage_error(cmd, "--frames: '%s' is not a frame count", v);
        } else if (!strcmp(n, "dataset"))
            dataset = v;
        else if (!strcmp(n, "layout") || !strcmp(n, "layouts"))
            layouts = v, layouts_given = 1;
        else if (!strcmp(n, "device")) {
            if (cli_parse_i64(v, &device) || device < 0 || device > 1024)
                return cli_usage_error(cmd, "--device: '%s' is not a GPU ordinal", v);
        } else {
            if (azs_settings_set(S, n, v) != AZS_OK)
                return cli_usage_error(cmd, "%s", azs_last_error());
            user_pol |= !strcmp(n, "polarization");
            user_dummy |= !strcmp(n, "dummy");
        }
    }
    if (!stack)
        return cli_usage_error(cmd, "no STACK");
    int want_serial = layout_listed(layouts, "serial"), want_threads = layout_listed(layouts, "threads");
    int want_procs = layout_listed(layouts, "procs"), want_gpu = layout_listed(layouts, "gpu");
    if (!(want_serial | want_threads | want_procs | want_gpu))
        return cli_usage_error(cmd, "--layouts: '%s' names none of serial,threads,procs,gpu", layouts);

    int cores = omp_get_num_procs();
    int wl[64], nw = 0;
    if (wlist) {
        const char *p = wlist;
        while (*p && nw < 64) {
            char *e;
            long w = strtol(p, &e, 10);
            if (e == p || w < 1 || w > 4096 || (*e && *e != ','))
                return cli_usage_error(cmd, "--workers: '%s' is not a list like 1,2,4", wlist);
            wl[nw++] = (int)w;
            p = *e ? e + 1 : e;
        }
    } else {
        for (int w = 1; w < cores && nw < 63; w *= 2)
            wl[nw++] = w;
        wl[nw++] = cores;
    }

    azs_source *src = NULL;
    azs_integrator *it = NULL;
    azs_workspace *ws = NULL;
    void *raw = NULL, *pix = NULL;
    double *res = NULL;
    size_t *sizes = NULL; /* of the preloaded chunks */
    int rc = 0;
    azs_status st = azs_source_open(stack, dataset, &src);
    if (st != AZS_OK)
        return cli_report(cmd, st, stack);
    const azs_source_info *info = azs_source_get_info(src);
    if ((uint64_t)nframes > info->nframes)
        nframes = (int64_t)info->nframes;
    if (nframes < 1) {
        azs_source_close(src);
        fprintf(stderr, "azstream %s: %s has no frames\n", cmd, stack);
        return CLI_FAIL;
    }
    /* W1 defaults (doc/performance.md) unless the user said otherwise. */
    if (!user_pol)
        azs_settings_set(S, "polarization", "0.99");
    if (!user_dummy && info->dtype == AZS_U32) {
        azs_settings_set(S, "dummy", "4294967295");
        azs_settings_set(S, "delta-dummy", "0");
    }
    if (gpu_prepare && want_gpu) { /* as integrate does: the engine comes up during the build */
        azs_run_options po;
        azs_run_options_default(&po);
        po.layout = AZS_LAYOUT_GPU;
        po.device = (int)device;
        po.gpu_feed = bench_gpu_feed;
        cli_run_knobs(&po);
        azs_run_prepare(src, &po);
    }
    double tb = azs_now_seconds();
    if ((st = azs_settings_build(S, info->ny, info->nx, info->dtype, &it)) != AZS_OK) {
        rc = cli_report(cmd, st, NULL);
        goto out;
    }
    const azs_integrate_options *io = azs_settings_integrate_options(S);
    double t_build = azs_now_seconds() - tb;
    const size_t nbins = azs_integrator_nbins(it);
    size_t mat = azs_integrator_memory(it);

    /* Preload up to 16 raw chunks and decode one: single-core decode and engine rates. */
    const int npre = nframes < 16 ? (int)nframes : 16;
    size_t cap = info->max_chunk_bytes ? info->max_chunk_bytes : info->frame_bytes;
    raw = malloc(cap * (size_t)npre);
    sizes = calloc((size_t)npre, sizeof *sizes);
    pix = azs_aligned_alloc(info->frame_bytes * (size_t)npre);
    res = azs_aligned_alloc(2 * nbins * sizeof(double));
    if (!raw || !sizes || !pix || !res) {
        rc = cli_report(cmd, AZS_ERR_NOMEM, "buffers");
        goto out;
    }
    int have_raw = info->read_path != AZS_READ_FILTERED;
    for (int k = 0; k < npre; k++) {
        char *px = (char *)pix + (size_t)k * info->frame_bytes;
        if (have_raw) {
            st = azs_source_read_raw(src, (uint64_t)k, (char *)raw + cap * (size_t)k, cap, &sizes[k]);
            if (st == AZS_OK) {
                size_t got;
                st = azs_chunk_decode(info->codec, info->elem_size, (char *)raw + cap * (size_t)k,
                                      sizes[k], px, info->frame_bytes, &got);
            }
        } else {
            st = azs_source_read_frame(src, (uint64_t)k, px, info->frame_bytes);
        }
        if (st != AZS_OK) {
            rc = cli_report(cmd, st, "reading the first frames");
            goto out;
        }
    }
    double dec_fps = 0, chunk_mean = 0;
    if (have_raw) {
        int reps = 0;
        double t = azs_now_seconds();
        void *dst = azs_aligned_alloc(info->frame_bytes);
        while (azs_now_seconds() - t < 1.0 || reps < npre) {
            size_t got;
            int k = reps % npre;
            azs_chunk_decode(info->codec, info->elem_size, (char *)raw + cap * (size_t)k, sizes[k],
                             dst, info->frame_bytes, &got);
            reps++;
        }
        dec_fps = reps / (azs_now_seconds() - t);
        azs_aligned_free(dst);
        for (int k = 0; k < npre; k++)
            chunk_mean += (double)sizes[k] / npre;
    }
    if ((st = azs_workspace_create(it, &ws)) != AZS_OK) {
        rc = cli_report(cmd, st, "workspace");
        goto out;
    }
    azs_frame_result fr = {0};
    fr.intensity = res;
    fr.sigma = io->error_model != AZS_ERRMODEL_NONE ? res + nbins : NULL;
    int reps = 0;
    double t = azs_now_seconds();
    while (azs_now_seconds() - t < 1.0 || reps < npre) {
        azs_integrate_frame(it, ws, (char *)pix + (size_t)(reps % npre) * info->frame_bytes,
                            info->dtype, &fr);
        reps++;
    }
    double eng_fps = reps / (azs_now_seconds() - t);
    /* One core's whole job in layout 1 (decode + integrate in one pass, batches as its
     * workers run them), on one core and then on every core at once. */
    double fused_fps = eng_fps, fused_all = eng_fps * cores;
    if (have_raw) {
        fused_fps = fused_rate(it, info, raw, cap, sizes, npre, fr.sigma != NULL, 1, 1.0, &st);
        if (st == AZS_OK)
            fused_all = fused_rate(it, info, raw, cap, sizes, npre, fr.sigma != NULL, cores, 1.0, &st);
        if (st != AZS_OK) {
            rc = cli_report(cmd, st, "decode + integrate of the first frames");
            goto out;
        }
    }
    double bw = stream_bandwidth();
    host_probe hp;
    host_probe_run(cores, &hp);
    double bytes_per_frame = chunk_mean + (double)azs_integrator_stream_bytes(it, AZS_BATCH_MAX) +
                             (info->codec == AZS_CODEC_BSLZ4 ? 0.0 : 2.0 * (double)info->frame_bytes);
    double mem_limit = bw / bytes_per_frame;
    double cpu_limit = cores * fused_fps;
    double limit = mem_limit < cpu_limit ? mem_limit : cpu_limit;

    printf("azstream bench: %s  %" PRIu64 " frames %ux%u %s, %s, chunk %.2f MB (%.1f:1)\n", stack,
           info->nframes, info->ny, info->nx, azs_dtype_name(info->dtype),
           info->codec == AZS_CODEC_BSLZ4 ? "bitshuffle-LZ4" : info->codec == AZS_CODEC_LZ4 ? "LZ4" : "uncompressed",
           chunk_mean / 1e6, chunk_mean > 0 ? (double)info->frame_bytes / chunk_mean : 0);
    printf("integration: %u%s bins %s, method %s, matrix %.1f MB (built in %.2f s); %d frames per run"
           "%s\n",
           io->npt, io->npt_azim ? "" : "", azs_unit_name(io->unit), azs_split_name(io->split),
           (double)mat / 1e6, t_build, (int)nframes, seconds > 0 ? " or more (--seconds)" : "");
    if (io->npt_azim)
        printf("             2D cake: %u azimuthal × %u radial\n", io->npt_azim, io->npt);
    printf("             CPU kernel (intensity only): %s\n", azs_integrator_kernel(it));
    printf("machine: %d cores; per core: decode %.0f frames/s, decode + integrate %.0f (compute "
           "limit %.0f); stream copy %.1f GB/s (%.0f MB/frame → limit %.0f frames/s)\n",
           cores, dec_fps, fused_fps, cpu_limit, bw / 1e9, bytes_per_frame / 1e6, mem_limit);
    printf("         decode + integrate on all %d cores at once, no pipeline: %.0f frames/s = %.0f%% "
           "of %d × one core\n",
           cores, fused_all, 100 * fused_all / cpu_limit, cores);
    printf("         clock (dependent adds): one core alone %.2f GHz, all %d at once %.2f GHz each "
           "(slowest %.2f) = %.0f%%; transparent huge pages: %s\n",
           hp.clk1, cores, hp.clkn, hp.clk_lo, 100 * hp.clkn / hp.clk1, host_thp_mode());
    printf("         ALU throughput (8 independent adds): one core alone %.2f Gadd/s, all %d at once "
           "%.2f each (slowest %.2f) = %.0f%%\n",
           hp.alu1, cores, hp.alun, hp.alu_lo, 100 * hp.alun / hp.alu1);
    printf("\n%-22s %7s %10s %9s %11s %9s %8s %6s\n", "layout", "workers", "frames/s", "speed-up",
           "efficiency", "of limit", "frames", "steal");
    printf("%-22s %7d %10.1f %9s %11s %9s\n", "engine only (1 thread)", 1, eng_fps, "-", "-", "-");
    double fps = 0;
    bench_device = (int)device;
    if (want_serial) {
        uint64_t n = row_frames(nframes, seconds, fused_all, info->nframes);
        if ((rc = run_layout(src, it, AZS_LAYOUT_SERIAL, 0, AZS_FEED_AUTO, n, &fps)))
            goto out;
        printf("%-22s %7d %10.1f %9s %11s %8.0f%% %8" PRIu64 "\n", "0 serial (OpenMP)", cores, fps,
               "-", "-", 100 * fps / limit, n);
        fflush(stdout);
    }
    /* Layout 1: with --repeat R the sweep over the worker counts runs R times, interleaved,
     * and each row shows the median (and the range): on a shared host one core's pace drifts
     * by tens of percent from one minute to the next, and a speed-up taken between a 1-worker
     * row and a 16-worker row measured at different moments would carry that drift. Each
     * sweep also times the work alone on the same thread counts ("no pipeline"), so the
     * host's own scaling at that moment sits beside the pipeline's. */
    enum { M_NOPIPE, M_READER, M_SELF, M_MAP, M_COUNT };
    const char *mname[M_COUNT] = {"decode+integrate alone", "1 threads", "1 threads (self-read)",
                                  "1 threads (mapped)"};
    const azs_feed mfeed[M_COUNT] = {AZS_FEED_AUTO, AZS_FEED_READER, AZS_FEED_SELF, AZS_FEED_MAP};
    int on[M_COUNT] = {want_threads && have_raw, want_threads && (read_rows & READ_READER),
                       want_threads && have_raw && (read_rows & READ_SELF),
                       want_threads && have_raw && (read_rows & READ_MAP)};
    static double runs[M_COUNT][64][AZS_BENCH_MAX_REPEAT], paired[M_COUNT][64][AZS_BENCH_MAX_REPEAT];
    static host_ticks tk[M_COUNT][64][2]; /* summed over the repeats: [0] before, [1] after */
    uint64_t nrow[M_COUNT][64];
    memset(tk, 0, sizeof tk);
    for (int r = 0; r < repeat; r++)
        for (int m = 0; m < M_COUNT; m++)
            for (int k = 0; on[m] && k < nw; k++) {
                host_ticks a, b;
                double *v = &runs[m][k][r];
                host_ticks_now(&a);
                if (m == M_NOPIPE) {
                    nrow[m][k] = 0;
                    *v = fused_rate(it, info, raw, cap, sizes, npre, fr.sigma != NULL, wl[k],
                                    seconds > 0 ? seconds : 1.0, &st);
                    if (st != AZS_OK) {
                        rc = cli_report(cmd, st, "decode + integrate of the first frames");
                        goto out;
                    }
                } else {
                    nrow[m][k] = row_frames(nframes, seconds, wl[k] * fused_fps, info->nframes);
                    if ((rc = run_layout(src, it, AZS_LAYOUT_THREADS, wl[k], mfeed[m],
                                         nrow[m][k], v)))
                        goto out;
                }
                host_ticks_now(&b);
                tk[m][k][0].total += a.total, tk[m][k][0].steal += a.steal;
                tk[m][k][1].total += b.total, tk[m][k][1].steal += b.steal;
                /* this sweep's own efficiency: its row against its own first row */
                paired[m][k][r] = *v / runs[m][0][r] * wl[0] / wl[k];
            }
    for (int m = 0; m < M_COUNT; m++) {
        double base = 0;
        for (int k = 0; on[m] && k < nw; k++) {
            double lo, hi, plo, phi;
            const double pe = median(paired[m][k], repeat, &plo, &phi);
            fps = median(runs[m][k], repeat, &lo, &hi);
            if (k == 0)
                base = fps / wl[0];
            double sp = fps / base;
            const double steal = host_steal_share(&tk[m][k][0], &tk[m][k][1]);
            printf("%-22s %7d %10.1f %8.2fx %10.0f%% %8.0f%% ", mname[m], wl[k], fps, sp,
                   100 * sp / wl[k], 100 * fps / limit);
            if (nrow[m][k])
                printf("%8" PRIu64, nrow[m][k]);
            else
                printf("%8s", "-");
            if (steal >= 0)
                printf(" %5.1f%%", 100 * steal);
            else
                printf(" %6s", "-");
            if (repeat > 1)
                printf("   (%d runs: %.1f..%.1f; per-sweep efficiency %.0f%%, %.0f..%.0f)", repeat,
                       lo, hi, 100 * pe, 100 * plo, 100 * phi);
            printf("\n");
        }
        fflush(stdout);
    }
    if (want_gpu && azs_gpu_device_count() > 0) {
        double pcie = have_raw ? gpu_kernel_line(it, info, raw, cap, sizes, npre, chunk_mean,
                                                 (int)device)
                               : 0;
        /* Layout 3: the reader threads default to min(cores, 16); "of limit" is the CPU limit. */
        /* --workers given: its values are the GPU layout's reader-thread counts. */
        for (int k = 0; k < (wlist ? nw : 1); k++) {
            int readers = wlist ? wl[k] : 0;
            if ((rc = run_layout(src, it, AZS_LAYOUT_GPU, readers, AZS_FEED_AUTO, (uint64_t)nframes, &fps)))
                goto out;
            double after = (double)nframes / ((double)nframes / fps - last_setup_s);
            printf("%-22s %7d %10.1f %9s %11s %8.0f%% %8" PRIu64 "   (set-up %.2f s; %.1f frames/s "
                   "after it",
                   "3 gpu (reader threads)", readers, fps, "-", "-", 100 * fps / limit,
                   (uint64_t)nframes, last_setup_s, after);
            if (pcie > 0)
                printf(" = %.0f%% of the PCIe floor", 100 * after / pcie);
            printf(")\n");
        }
        fflush(stdout);
    } else if (want_gpu && layouts_given) {
        rc = cli_usage_error(cmd, "--layouts gpu: no GPU device (or CUDA support not built)");
        goto out;
    }
    if (want_procs) { /* layout 2 rows (procs helper): N processes x 1 thread, workers replaying S */
        par_opts par;
        par_opts_default(&par);
        par.threads_per_worker = 1;
        double base = 0;
        for (int k = 0; k < nw; k++) {
            if ((rc = par_bench_row(src, it, stack, dataset, S, AZS_LAYOUT_PROCS, wl[k], &par,
                                    (uint64_t)nframes, &fps)))
                goto out;
            if (k == 0)
                base = fps / wl[0];
            double sp = fps / base;
            printf("%-22s %7d %10.1f %8.2fx %10.0f%% %8.0f%% %8" PRIu64 "\n", "2 procs (x1 thread)",
                   wl[k], fps, sp, 100 * sp / wl[k], 100 * fps / limit, (uint64_t)nframes);
            fflush(stdout);
        }
    }
    host_probe_run(cores, &hp);
    printf("\nat the end: clock one core alone %.2f GHz, all %d at once %.2f GHz each (slowest %.2f) "
           "= %.0f%%; ALU throughput %.2f, %.2f each (slowest %.2f) = %.0f%%\n", hp.clk1, cores,
           hp.clkn, hp.clk_lo, 100 * hp.clkn / hp.clk1, hp.alu1, hp.alun, hp.alu_lo,
           100 * hp.alun / hp.alu1);
    printf("speed-up is over %d worker(s) of the same layout; efficiency = speed-up / workers\n"
           "(per-sweep efficiency: each sweep's row over that sweep's first row, median);\n"
           "steal = share of the machine's CPU time the hypervisor gave elsewhere during the row;\n"
           "limit = min(cores × one core's decode + integrate, bandwidth / bytes per frame);\n"
           "\"all cores at once\" is the work itself on every core, with no pipeline around it:\n"
           "its share of cores × one core is what the machine leaves for parallel efficiency.\n",
           wl[0]);
out:
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
    azs_source_close(src);
    free(raw);
    free(sizes);
    azs_aligned_free(pix);
    azs_aligned_free(res);
    return rc;
}

int cmd_bench(int argc, char **argv)
{
    azs_settings *S = NULL;
    if (azs_settings_create(&S) != AZS_OK)
        return cli_report(argv[0], AZS_ERR_NOMEM, "settings");
    int rc = bench_main(S, argc, argv);
    azs_settings_destroy(S);
    return rc;
}
