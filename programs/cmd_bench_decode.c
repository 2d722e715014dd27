/* azstream bench-decode FILE [--dataset P] [--frames a:b] [--repeat N] [--python PATH]
 *                       [--ref-script PATH] [--no-ref]
 *
 * Decoder throughput, one core: the raw chunks of the chosen frames are read once into
 * memory (source API), then, best of N repeats:
 *   - decode of every frame by azs_chunk_decode (GB/s of decoded output);
 *   - the LZ4 blocks alone through liblz4 (the part we do not own: the ceiling);
 *   - the bit-unshuffle alone, per compiled variant the CPU has, block by block from a
 *     shuffled copy of frame 0 into a frame buffer, as the decoder does it;
 *   - the OpenMP decoder (all threads; not per core) for reference;
 * and, side by side in the same run, the reference bitshuffle library's decompressor on
 * the same chunks (bench/ref_decode.py, one thread), with the ratios. */
#define _GNU_SOURCE
#include <limits.h>
#include <lz4.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azstream/codec.h"
#include "azstream/source.h"
#include "cli.h"
#include "codec/bitshuffle.h"
#include "common/alloc.h"
#include "common/cpu.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best wall time and best CPU time of this thread over the repeats: on a shared machine
 * the CPU time is the steadier measure of what one core does. */
typedef struct best_t {
    double wall, cpu, w0, c0;
} best_t;
static best_t best_init(void) { return (best_t){1e300, 1e300, 0, 0}; }
static void best_start(best_t *b)
{
    b->w0 = clock_s(CLOCK_MONOTONIC);
    b->c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
}
static void best_stop(best_t *b)
{
    double w = clock_s(CLOCK_MONOTONIC) - b->w0, c = clock_s(CLOCK_THREAD_CPUTIME_ID) - b->c0;
    b->wall = w < b->wall ? w : b->wall;
    b->cpu = c < b->cpu ? c : b->cpu;
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void usage(void)
{
    printf("usage: azstream bench-decode FILE [--dataset P] [--frames a:b] [--repeat N]\n"
           "                              [--python PATH] [--ref-script PATH] [--no-ref]\n"
           "Single-core GB/s of decoded output of our codec, side by side with the reference\n"
           "bitshuffle library (bench/ref_decode.py run by --python, default .venv/bin/python).\n"
           "Default frames 0:min(n,20), repeat 5.\n");
}

/* Reference run: returns 0 and fills the two rates, or -1 (message printed). */
static int run_reference(const char *py, const char *script, const char *file, const char *dset,
                         int64_t a, int64_t b, int repeat, double dec[2], double uns[2], char *lib,
                         size_t libsz)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "OMP_NUM_THREADS=1 '%s' '%s' '%s' --dataset '%s' --frames %lld:%lld "
             "--repeat %d", py, script, file, dset, (long long)a, (long long)b, repeat);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    char line[4096] = "";
    char *got = fgets(line, sizeof line, p);
    int rc = pclose(p);
    if (!got || rc != 0) {
        fprintf(stderr, "azstream bench-decode: reference run failed: %s\n", cmd);
        return -1;
    }
    const char *d = strstr(line, "\"decode_gbps\":"), *u = strstr(line, "\"unshuffle_gbps\":");
    const char *dc = strstr(line, "\"decode_gbps_cpu\":"), *uc = strstr(line, "\"unshuffle_gbps_cpu\":");
    const char *l = strstr(line, "\"lib\": \"");
    if (!d || !u || !dc || !uc) {
        fprintf(stderr, "azstream bench-decode: reference: %s", line);
        return -1;
    }
    dec[0] = strtod(d + 14, NULL);
    uns[0] = strtod(u + 17, NULL);
    dec[1] = strtod(dc + 18, NULL);
    uns[1] = strtod(uc + 21, NULL);
    if (l) {
        l += 8;
        size_t k = 0;
        while (l[k] && l[k] != '"' && k + 1 < libsz)
            lib[k] = l[k], k++;
        lib[k] = '\0';
    }
    const char *s = strstr(line, "\"simd\": \"");
    if (s && strlen(lib) + 12 < libsz) {
        strcat(lib, ", ");
        size_t k = strlen(lib);
        for (s += 9; *s && *s != '"' && k + 1 < libsz; s++)
            lib[k++] = *s;
        lib[k] = '\0';
    }
    return 0;
}

static const char *find_ref_script(char *buf, size_t n)
{
    if (access("bench/ref_decode.py", R_OK) == 0)
        return "bench/ref_decode.py";
    /* next to the source tree of the executable: <src>/build/azstream -> <src>/bench */
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k > 0) {
        exe[k] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            snprintf(buf, n, "%s/../bench/ref_decode.py", exe);
            if (access(buf, R_OK) == 0)
                return buf;
        }
    }
    return NULL;
}

int cmd_bench_decode(int argc, char **argv)
{
    const char *cmd = "bench-decode", *file = NULL, *dset = NULL, *py = NULL, *script = NULL;
    int64_t fa = 0, fb = -1, repeat = 5;
    int no_ref = 0;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
            usage();
            return CLI_OK;
        } else if (!strcmp(o, "--no-ref")) {
            no_ref = 1;
        } else if (i + 1 < argc && !strcmp(o, "--dataset")) {
            dset = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--python")) {
            py = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--ref-script")) {
            script = argv[++i];
        } else if (i + 1 < argc && !strcmp(o, "--frames")) {
            if (cli_parse_range_i64(argv[++i], &fa, &fb))
                return cli_usage_error(cmd, "bad --frames '%s'", argv[i]);
            if (fa < 0)
                fa = 0;
        } else if (i + 1 < argc && !strcmp(o, "--repeat")) {
            if (cli_parse_i64(argv[++i], &repeat) || repeat < 1 || repeat > 1000)
                return cli_usage_error(cmd, "bad --repeat '%s'", argv[i]);
        } else if (o[0] == '-') {
            return cli_usage_error(cmd, "unknown option '%s'", o);
        } else if (!file) {
            file = o;
        } else {
            return cli_usage_error(cmd, "more than one FILE");
        }
    }
    if (!file)
        return cli_usage_error(cmd, "FILE missing");

    azs_source *src = NULL;
    azs_status st = azs_source_open(file, dset, &src);
    if (st != AZS_OK)
        return cli_report(cmd, st, file);
    const azs_source_info *info = azs_source_get_info(src);
    if (fb < 0)
        fb = (int64_t)info->nframes < fa + 20 ? (int64_t)info->nframes : fa + 20;
    if (fa >= fb || (uint64_t)fb > info->nframes) {
        azs_source_close(src);
        return cli_usage_error(cmd, "--frames %lld:%lld outside 0:%llu", (long long)fa,
                               (long long)fb, (unsigned long long)info->nframes);
    }
    const size_t nf = (size_t)(fb - fa), fbytes = info->frame_bytes, s = info->elem_size;
    uint8_t *raw = malloc(nf * info->max_chunk_bytes);
    size_t *len = calloc(nf, sizeof *len);
    uint8_t *frame = azs_aligned_alloc(fbytes), *shuf = azs_aligned_alloc(fbytes);
    int rc = CLI_FAIL;
    if (!raw || !len || !frame || !shuf) {
        fprintf(stderr, "azstream %s: out of memory\n", cmd);
        goto done;
    }
    size_t stored = 0;
    for (size_t i = 0; i < nf; i++) {
        st = azs_source_read_raw(src, (uint64_t)fa + i, raw + i * info->max_chunk_bytes,
                                 info->max_chunk_bytes, &len[i]);
        if (st != AZS_OK) {
            rc = cli_report(cmd, st, "read raw chunk");
            goto done;
        }
        stored += len[i];
    }
    /* one decode first: validates every chunk (the timed loops then trust them) */
    for (size_t i = 0; i < nf; i++) {
        size_t out;
        st = azs_chunk_decode(info->codec, s, raw + i * info->max_chunk_bytes, len[i], frame,
                              fbytes, &out);
        if (st != AZS_OK || out != fbytes) {
            rc = cli_report(cmd, st != AZS_OK ? st : AZS_ERR_SIZE_MISMATCH, "decode");
            goto done;
        }
    }
    const double total = (double)nf * (double)fbytes;
    best_t best = best_init(), best_omp = best_init(), best_lz4 = best_init();
    for (int r = 0; r < repeat; r++) {
        best_start(&best);
        for (size_t i = 0; i < nf; i++) {
            size_t out;
            (void)azs_chunk_decode(info->codec, s, raw + i * info->max_chunk_bytes, len[i], frame,
                                   fbytes, &out);
        }
        best_stop(&best);
    }
    uint32_t block_bytes = 0;
    if (info->codec == AZS_CODEC_BSLZ4) {
        for (int r = 0; r < repeat; r++) {
            best_start(&best_omp);
            for (size_t i = 0; i < nf; i++) {
                size_t out;
                (void)azs_bslz4_decode_omp(s, raw + i * info->max_chunk_bytes, len[i], frame, fbytes,
                                           &out);
            }
            best_stop(&best_omp);
        }
        /* LZ4 blocks alone, into an L1-sized buffer as the decoder does */
        const uint8_t *c0 = raw;
        block_bytes = be32(c0 + 8);
        uint8_t *tmp = malloc(block_bytes);
        for (int r = 0; r < repeat && tmp; r++) {
            best_start(&best_lz4);
            for (size_t i = 0; i < nf; i++) {
                const uint8_t *c = raw + i * info->max_chunk_bytes;
                size_t pos = 12, done = 0, coded = fbytes - (fbytes / s % 8) * s;
                while (done < coded) {
                    size_t want = coded - done < block_bytes ? coded - done : block_bytes;
                    want -= want % (8 * s);
                    if (!want)
                        break;
                    uint32_t cl = be32(c + pos);
                    (void)LZ4_decompress_safe((const char *)c + pos + 4, (char *)tmp, (int)cl, (int)want);
                    pos += 4 + cl;
                    done += want;
                }
            }
            best_stop(&best_lz4);
        }
        free(tmp);
    }

    char head[256];
    snprintf(head, sizeof head, "%zu frame%s %ux%u %s, %s", nf, nf > 1 ? "s" : "", info->ny,
             info->nx, azs_dtype_name(info->dtype),
             info->codec == AZS_CODEC_BSLZ4 ? "bitshuffle-lz4" : info->codec == AZS_CODEC_LZ4 ? "lz4" : "uncompressed");
    printf("azstream bench-decode: %s [%s]\n", file, dset ? dset : "/entry/data/data");
    printf("  %s, block %u bytes, compression %.2f:1, best of %lld, one core unless noted\n", head,
           block_bytes, total / (double)stored, (long long)repeat);

    /* reference */
    double ref_dec[2] = {0, 0}, ref_uns[2] = {0, 0};
    char lib[128] = "bitshuffle";
    int have_ref = 0;
    if (!no_ref && info->codec == AZS_CODEC_BSLZ4) {
        char sbuf[PATH_MAX + 64];
        if (!py)
            py = access(".venv/bin/python", X_OK) == 0 ? ".venv/bin/python" : "python3";
        if (!script)
            script = find_ref_script(sbuf, sizeof sbuf);
        if (!script)
            fprintf(stderr, "azstream %s: bench/ref_decode.py not found (--ref-script)\n", cmd);
        else
            have_ref = run_reference(py, script, file, dset ? dset : "/entry/data/data", fa, fb,
                                     (int)repeat, ref_dec, ref_uns, lib, sizeof lib) == 0;
    }
    printf("  %-44s %10s %10s %10s %10s\n", "", "GB/s wall", "vs ref", "GB/s cpu", "vs ref");
    /* rates: [0] wall, [1] cpu; ref NULL: no ratio */
#define ROW(name, r, ref)                                                                         \
    do {                                                                                          \
        const double *ref_ = (ref);                                                               \
        printf("  %-44s %10.2f", name, (r)[0]);                                                   \
        if (ref_ && ref_[0] > 0)                                                                  \
            printf(" %9.2fx", (r)[0] / ref_[0]);                                                  \
        else                                                                                      \
            printf(" %10s", "");                                                                  \
        printf(" %10.2f", (r)[1]);                                                                \
        if (ref_ && ref_[1] > 0)                                                                  \
            printf(" %9.2fx", (r)[1] / ref_[1]);                                                  \
        printf("\n");                                                                             \
    } while (0)
#define RATE(b, bytes) ((double[2]){(bytes) / (b).wall / 1e9, (bytes) / (b).cpu / 1e9})
    char name[256];
    snprintf(name, sizeof name, "decode, azstream (unshuffle %s)", azs_bitunshuffle_variant());
    ROW(name, RATE(best, total), have_ref ? ref_dec : NULL);
    if (have_ref) {
        snprintf(name, sizeof name, "decode, reference (%s)", lib);
        ROW(name, ref_dec, ref_dec);
    }
    if (info->codec == AZS_CODEC_BSLZ4) {
        ROW("lz4 blocks alone (liblz4, the ceiling)", RATE(best_lz4, total), NULL);
        snprintf(name, sizeof name, "decode, azstream OpenMP (%d threads, all cores)", azs_cpu_count());
        /* all threads: wall time only (the thread CPU clock sees the calling thread) */
        printf("  %-44s %10.2f\n", name, total / best_omp.wall / 1e9);

        /* unshuffle alone: shuffled copy of the decoded frame 0, block by block */
        size_t out;
        (void)azs_chunk_decode(info->codec, s, raw, len[0], frame, fbytes, &out);
        const size_t n = fbytes / s, be = block_bytes / s;
        const size_t coded = n - n % 8;
        for (size_t e0 = 0; e0 < coded; e0 += be) {
            size_t m = coded - e0 < be ? coded - e0 : be;
            m -= m % 8;
            azs_bitshuffle_fwd(frame + e0 * s, shuf + e0 * s, m, s);
        }
        const azs_unshuffle_variant *vs;
        size_t nv = azs_unshuffle_variants(&vs);
        for (size_t v = 0; v < nv; v++) {
            if ((azs_cpu_features() & vs[v].needs) != vs[v].needs)
                continue;
            best_t bu = best_init();
            /* the bit-by-bit reference is slow: once is enough */
            const int reps = !strcmp(vs[v].name, "scalar") ? 1 : (int)repeat;
            for (int r = 0; r < reps; r++) {
                best_start(&bu);
                for (size_t e0 = 0; e0 < coded; e0 += be) {
                    size_t m = coded - e0 < be ? coded - e0 : be;
                    m -= m % 8;
                    vs[v].fn(shuf + e0 * s, frame + e0 * s, m, s, 1);
                }
                best_stop(&bu);
            }
            snprintf(name, sizeof name, "unshuffle alone, %s", vs[v].name);
            ROW(name, RATE(bu, (double)fbytes), have_ref ? ref_uns : NULL);
        }
        if (have_ref)
            ROW("unshuffle alone, reference", ref_uns, ref_uns);
    }
    rc = CLI_OK;
done:
    free(raw);
    free(len);
    azs_aligned_free(frame);
    azs_aligned_free(shuf);
    azs_source_close(src);
    return rc;
}
