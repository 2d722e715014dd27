/* core_bench: one core's time per frame for each part of layout 1's work, on a stack's
 * first chunks preloaded in memory (not a test: a measurement; doc/performance.md).
 *   core_bench STACK.h5 PONI [bbox|full] [SECONDS] [REPEAT] [ROW]
 * Rows (frames/s and ms per frame; best and median of REPEAT interleaved runs of about
 * SECONDS each):
 *   lz4           LZ4_decompress_safe of every block (the bytes liblz4 decodes, nothing else)
 *   decode        azs_chunk_decode of the whole chunk into a frame buffer
 *   decode blocks azs_bslz4_blocks_next block by block into an L1-sized stage (the decode
 *                 half of the fused path)
 *   engine        azs_integrate_frame of decoded frames (one by one: the matrix per frame)
 *   fused bN      azs_integrate_chunks in batches of N frames (layout 1's worker loop)
 * ROW (a name below, e.g. "fused b4"): that row alone (for perf).
 * Times are the thread's CPU time. Run it pinned (taskset -c K) with OMP_NUM_THREADS=1. */
#define _POSIX_C_SOURCE 200809L
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/codec.h"
#include "azstream/geometry.h"
#include "azstream/integrate.h"
#include "azstream/source.h"
#include "integrate/integrator_internal.h"
#include "integrate/tiled.h"

#define NPRE 16

/* The thread's CPU time, not the wall clock: on a shared machine the time this thread
 * waits for its core does not count (caches and memory shared with others still do). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct ctx {
    const azs_integrator *it;
    azs_workspace *ws;
    const azs_source_info *info;
    char *raw[NPRE];
    size_t size[NPRE];
    char *pix[NPRE];
    void *fbuf, *stage, *scratch;
    double *rows;
} ctx;

static unsigned be32(const unsigned char *p)
{
    return (unsigned)p[0] << 24 | (unsigned)p[1] << 16 | (unsigned)p[2] << 8 | p[3];
}

static int run_lz4(ctx *c, int k)
{
    const unsigned char *p = (const unsigned char *)c->raw[k];
    const size_t n = c->size[k];
    const unsigned block = be32(p + 8);
    size_t pos = 12;
    while (pos + 4 <= n) {
        const unsigned clen = be32(p + pos);
        if (clen == 0 || pos + 4 + clen > n) break;
        if (LZ4_decompress_safe((const char *)p + pos + 4, c->scratch, (int)clen, (int)block) < 0)
            return 1;
        pos += 4 + clen;
    }
    return 0;
}

static int run_decode(ctx *c, int k)
{
    size_t got = 0;
    return azs_chunk_decode(c->info->codec, c->info->elem_size, c->raw[k], c->size[k], c->fbuf,
                            c->info->frame_bytes, &got) != AZS_OK;
}

static int run_blocks(ctx *c, int k)
{
    azs_bslz4_blocks bl;
    if (azs_bslz4_blocks_init(&bl, c->info->elem_size, c->raw[k], c->size[k]) != AZS_OK) return 1;
    size_t got = 1;
    while (got)
        if (azs_bslz4_blocks_next(&bl, c->stage, 65536, c->scratch, &got) != AZS_OK) return 1;
    return 0;
}

static int run_engine(ctx *c, int k)
{
    azs_frame_result r = {0};
    r.intensity = c->rows;
    return azs_integrate_frame(c->it, c->ws, c->pix[k], c->info->dtype, &r) != AZS_OK;
}

static int run_fused(ctx *c, int k, int nb)
{
    const void *cp[AZS_BATCH_MAX];
    size_t cs[AZS_BATCH_MAX];
    azs_frame_result fo[AZS_BATCH_MAX];
    azs_status st[AZS_BATCH_MAX];
    const size_t nbins = azs_integrator_nbins(c->it);
    memset(fo, 0, sizeof fo);
    for (int j = 0; j < nb; j++) {
        cp[j] = c->raw[(k + j) % NPRE];
        cs[j] = c->size[(k + j) % NPRE];
        fo[j].intensity = c->rows + (size_t)j * nbins;
    }
    return azs_integrate_chunks(c->it, c->ws, c->info->codec, c->info->dtype, nb, cp, cs, c->fbuf,
                                fo, st, NULL, 0) != AZS_OK;
}

/* Frames per second of one row over about `seconds`. */
static double time_row(ctx *c, int row, double seconds)
{
    int done = 0, k = 0;
    const double t0 = now();
    while (now() - t0 < seconds || done < NPRE) {
        int nf = 1, bad;
        switch (row) {
        case 0: bad = run_lz4(c, k); break;
        case 1: bad = run_decode(c, k); break;
        case 2: bad = run_blocks(c, k); break;
        case 3: bad = run_engine(c, k); break;
        default: nf = row - 3; bad = run_fused(c, k, nf); break;
        }
        if (bad) {
            fprintf(stderr, "core_bench: row %d failed: %s\n", row, azs_last_error());
            exit(1);
        }
        done += nf;
        k = (k + nf) % NPRE;
    }
    return done / (now() - t0);
}

static int cmp(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: core_bench STACK.h5 PONI [bbox|full] [SECONDS] [REPEAT]\n");
        return 2;
    }
    const char *method = argc > 3 ? argv[3] : "bbox";
    const double seconds = argc > 4 ? atof(argv[4]) : 1.0;
    int repeat = argc > 5 ? atoi(argv[5]) : 3;
    if (repeat < 1 || repeat > 16) repeat = 3;
    azs_source *src;
    if (azs_source_open(argv[1], NULL, &src) != AZS_OK) {
        fprintf(stderr, "core_bench: %s\n", azs_last_error());
        return 1;
    }
    ctx c = {0};
    c.info = azs_source_get_info(src);
    if (c.info->nframes < NPRE || c.info->codec != AZS_CODEC_BSLZ4) {
        fprintf(stderr, "core_bench: need %d bitshuffle-LZ4 frames\n", NPRE);
        return 1;
    }
    for (int k = 0; k < NPRE; k++) {
        c.raw[k] = malloc(c.info->max_chunk_bytes);
        c.pix[k] = malloc(c.info->frame_bytes);
        if (azs_source_read_raw(src, (uint64_t)k, c.raw[k], c.info->max_chunk_bytes, &c.size[k]) !=
                AZS_OK ||
            azs_chunk_decode(c.info->codec, c.info->elem_size, c.raw[k], c.size[k], c.pix[k],
                             c.info->frame_bytes, NULL) != AZS_OK) {
            fprintf(stderr, "core_bench: frame %d: %s\n", k, azs_last_error());
            return 1;
        }
    }
    azs_geometry g;
    if (azs_poni_load(argv[2], &g) != AZS_OK) {
        fprintf(stderr, "core_bench: %s\n", azs_last_error());
        return 1;
    }
    azs_integrate_options o;
    azs_integrate_options_default(&o); /* the bench defaults: azstream bench's W1 settings */
    o.split = !strcmp(method, "full") ? AZS_SPLIT_FULL : !strcmp(method, "no") ? AZS_SPLIT_NO
                                                                              : AZS_SPLIT_BBOX;
    o.has_polarization = 1;
    o.polarization_factor = 0.99;
    o.has_dummy = 1;
    o.dummy = 4294967295.0;
    azs_integrator *it;
    if (azs_integrator_create(&g, &o, &it) != AZS_OK || azs_workspace_create(it, &c.ws) != AZS_OK) {
        fprintf(stderr, "core_bench: %s\n", azs_last_error());
        return 1;
    }
    c.it = it;
    c.fbuf = malloc(c.info->frame_bytes);
    c.stage = malloc(65536);
    c.scratch = malloc(65536);
    c.rows = malloc(AZS_BATCH_MAX * azs_integrator_nbins(it) * sizeof(double));
    const char *names[] = {"lz4", "decode", "decode blocks", "engine", "fused b1", "fused b2",
                           "fused b3", "fused b4", "fused b5", "fused b6", "fused b7", "fused b8"};
    const int nrows = 4 + AZS_BATCH_MAX;
    double r[12][16];
    const char *only = argc > 6 ? argv[6] : NULL;
    for (int rep = 0; rep < repeat; rep++)
        for (int row = 0; row < nrows; row++)
            r[row][rep] = only && strcmp(only, names[row]) ? 0 : time_row(&c, row, seconds);
    printf("core_bench %s %s, %s: one core, %d preloaded frames, %d runs of %.1f s of CPU time\n", argv[1],
           method, azs_tiled_sig_kernel_name(azs_integrator_tiled(it)), NPRE, repeat, seconds);
    const azs_tiled *tl = azs_integrator_tiled(it);
    printf("matrix: %u tiles, %llu groups of %d lanes, %llu rows\n", tl->ntiles,
           (unsigned long long)tl->ngroups, AZS_LANES, (unsigned long long)tl->nrows);
    for (int row = 0; row < nrows; row++) {
        if (only && strcmp(only, names[row])) continue;
        qsort(r[row], (size_t)repeat, sizeof(double), cmp);
        const double best = r[row][repeat - 1], med = r[row][repeat / 2];
        printf("%-14s best %7.1f frames/s (%6.3f ms)  median %7.1f (%6.3f ms)\n", names[row], best,
               1e3 / best, med, 1e3 / med);
    }
    azs_workspace_destroy(c.ws);
    azs_integrator_destroy(it);
    azs_source_close(src);
    return 0;
}
