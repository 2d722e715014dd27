/* The integrator cache (src/integrate/integrator_cache.c): the hash against XXH64's
 * published vectors; an integrator written and mapped back is the built one bit for bit
 * (arrays and integrated frames, every engine); damaged files (a flipped byte, truncated,
 * a header claiming more than the file holds, garbage, another key) are refused on load and
 * rebuilt and replaced by the cached build; a cache folder that cannot be written is a
 * notice, the integrator is still built. */
#define _GNU_SOURCE
#define _XOPEN_SOURCE 700
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/check.h"
#include "integrate/hash64.h"
#include "integrate/integrator_cache.h"

static char g_dir[256];

static void hash_vectors(void)
{
    /* XXH64 reference vectors (xxHash's own and python-xxhash's documentation). */
    CHECK_EXPR(azs_hash64("", 0, 0) == 0xEF46DB3751D8E999ull);
    CHECK_EXPR(azs_hash64("a", 1, 0) == 0xD24EC4F1A98C6E5Bull);
    CHECK_EXPR(azs_hash64("abc", 3, 0) == 0x44BC2CF5AD770999ull);
    const char *s = "Nobody inspects the spammish repetition"; /* 39 bytes: the stripe loop */
    CHECK_EXPR(azs_hash64(s, strlen(s), 0) == 0xFBCEA83C8A378BF1ull);
    s = "The quick brown fox jumps over the lazy dog";
    CHECK_EXPR(azs_hash64(s, strlen(s), 0) == 0x0B242D361FDA71BCull);
    char a32[32];
    memset(a32, 'a', sizeof a32);
    CHECK_EXPR(azs_hash64(a32, 32, 0) == 0x856E843298F99AD7ull);
}

static void geometry(azs_geometry *g)
{
    memset(g, 0, sizeof *g);
    azs_detector_generic(&g->det, 75e-6, 75e-6, 96, 130);
    g->dist = 0.08;
    g->poni1 = 20 * 75e-6;
    g->poni2 = 50 * 75e-6;
    g->rot1 = 0.02;
    g->rot2 = -0.01;
    g->wavelength = 1e-10;
    g->poni_version = 2;
}

static size_t file_size(const char *p)
{
    struct stat sb;
    return stat(p, &sb) ? 0 : (size_t)sb.st_size;
}

static void patch(const char *p, size_t at, const void *bytes, size_t n)
{
    int fd = open(p, O_WRONLY);
    CHECK(fd >= 0 && pwrite(fd, bytes, n, (off_t)at) == (ssize_t)n, "patch %s", p);
    if (fd >= 0) close(fd);
}

static void copy_file(const char *from, const char *to)
{
    size_t n = file_size(from);
    char *b = malloc(n ? n : 1);
    FILE *f = fopen(from, "rb"), *t = fopen(to, "wb");
    CHECK(b && f && t && fread(b, 1, n, f) == n && fwrite(b, 1, n, t) == n, "copy %s", from);
    if (f) fclose(f);
    if (t) fclose(t);
    free(b);
}

/* Every array and the result of a frame through every engine, byte for byte. */
static void same_integrator(const azs_integrator *a, const azs_integrator *b, const char *what)
{
    azs_csr_view va, vb;
    CHECK_EXPR(azs_integrator_csr(a, &va) == AZS_OK && azs_integrator_csr(b, &vb) == AZS_OK);
    CHECK(va.nbins == vb.nbins && va.npixels == vb.npixels, "%s: shape", what);
    if (va.nbins != vb.nbins || va.npixels != vb.npixels) return;
    const uint64_t nnz = va.indptr[va.nbins];
    CHECK(!memcmp(va.indptr, vb.indptr, (va.nbins + 1) * 8) &&
          !memcmp(va.indices, vb.indices, (nnz + 64) * 4) && !memcmp(va.weights, vb.weights, nnz * 4) &&
          !memcmp(va.norm_factor, vb.norm_factor, va.npixels * 4), "%s: CSR arrays", what);
    CHECK(!va.dark == !vb.dark && (!va.dark || !memcmp(va.dark, vb.dark, va.npixels * 4)), "%s: dark", what);
    const azs_integrate_options *o = azs_integrator_options(a);
    CHECK(!memcmp(azs_integrator_radial(a), azs_integrator_radial(b), o->npt * 8), "%s: radial", what);
    CHECK(!azs_integrator_azimuthal(a) == !azs_integrator_azimuthal(b) &&
          (!o->npt_azim || !memcmp(azs_integrator_azimuthal(a), azs_integrator_azimuthal(b), o->npt_azim * 8)),
          "%s: azimuthal", what);
    const size_t nb = va.nbins;
    uint32_t *px = malloc(va.npixels * 4);
    double *r = calloc(nb * 8 * 2, sizeof *r);
    azs_workspace *wa = NULL, *wb = NULL;
    CHECK_EXPR(px && r && azs_workspace_create(a, &wa) == AZS_OK && azs_workspace_create(b, &wb) == AZS_OK);
    if (px && r && wa && wb) {
        for (size_t p = 0; p < va.npixels; p++) px[p] = (uint32_t)((p * 2654435761u) % 1000u);
        px[7] = 0xFFFFFFFFu; /* a dummy */
        for (int omp = 0; omp < 2; omp++) {
            azs_frame_result out[2];
            for (int k = 0; k < 2; k++) {
                double *q = r + (size_t)k * nb * 8;
                out[k] = (azs_frame_result){q, q + nb, q + 2 * nb, q + 3 * nb, q + 4 * nb, q + 5 * nb,
                                            q + 6 * nb, q + 7 * nb};
            }
            memset(r, 0, nb * 16 * sizeof *r);
            azs_status s1 = omp ? azs_integrate_frame_omp(a, wa, px, AZS_U32, &out[0])
                                : azs_integrate_frame(a, wa, px, AZS_U32, &out[0]);
            azs_status s2 = omp ? azs_integrate_frame_omp(b, wb, px, AZS_U32, &out[1])
                                : azs_integrate_frame(b, wb, px, AZS_U32, &out[1]);
            CHECK(s1 == AZS_OK && s2 == AZS_OK && !memcmp(r, r + nb * 8, nb * 8 * sizeof *r),
                  "%s: frame results (omp %d)", what, omp);
        }
    }
    azs_workspace_destroy(wa);
    azs_workspace_destroy(wb);
    free(px);
    free(r);
}

typedef struct variant {
    const char *name;
    uint32_t npt_azim;
    azs_split split;
    azs_error_model em;
    int dark;
} variant;

static void round_trip(const variant *v)
{
    azs_geometry g;
    geometry(&g);
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    o.npt = 150;
    o.npt_azim = v->npt_azim;
    o.split = v->split;
    o.error_model = v->em;
    o.has_polarization = 1;
    o.polarization_factor = 0.95;
    const size_t n = (size_t)g.det.ny * g.det.nx;
    float *dark = v->dark ? malloc(n * sizeof *dark) : NULL;
    uint8_t *mask = malloc(n);
    for (size_t p = 0; p < n; p++) {
        if (dark) dark[p] = (float)(p % 7);
        mask[p] = p % 97 == 3;
    }
    o.dark = dark;
    o.mask = mask;
    azs_integrator *built = NULL, *mapped = NULL;
    uint8_t *key = NULL;
    size_t len = 0;
    char path[512];
    snprintf(path, sizeof path, "%s/%s.azsi", g_dir, v->name);
    CHECK(azs_integrator_create(&g, &o, &built) == AZS_OK, "%s: build", v->name);
    CHECK_EXPR(azs_integrator_cache_key(&g, &o, AZS_U32, "test", &key, &len) == AZS_OK);
    CHECK(azs_integrator_cache_store(built, path, key, len) == AZS_OK, "%s: store: %s", v->name, azs_last_error());
    CHECK(azs_integrator_cache_load(path, key, len, &o, &mapped) == AZS_OK, "%s: load: %s", v->name,
          azs_last_error());
    if (built && mapped) same_integrator(built, mapped, v->name);
    azs_integrator_destroy(mapped);
    azs_integrator_destroy(built);
    free(key);
    free(dark);
    free(mask);
}

/* A damaged copy of a good file: refused on load, with the status expected. */
typedef struct damage {
    const char *what;
    size_t at;          /* byte to flip (SIZE_MAX: none) */
    size_t truncate_to; /* 0: keep the size */
    int header_field;   /* uint64 index in the header to add `add` to (-1: none) */
    uint64_t add;
    azs_status expect;
} damage;

static void damaged_files(void)
{
    azs_geometry g;
    geometry(&g);
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    o.npt = 120;
    o.split = AZS_SPLIT_FULL;
    char dir[300], good[400], bad[4096];
    snprintf(dir, sizeof dir, "%s/cached", g_dir);
    mkdir(dir, 0755);
    azs_cache_request rq = {dir, 0, AZS_U32, "test"};
    azs_cache_outcome oc;
    azs_integrator *first = NULL, *it = NULL;
    CHECK(azs_integrator_create_cached(&g, &o, &rq, &first, &oc) == AZS_OK && oc.origin == AZS_CACHE_STORED,
          "first build stored (origin %d: %s)", oc.origin, oc.notice);
    snprintf(good, sizeof good, "%s/good.copy", g_dir);
    copy_file(oc.path, good);
    snprintf(bad, sizeof bad, "%s", oc.path);
    CHECK(azs_integrator_create_cached(&g, &o, &rq, &it, &oc) == AZS_OK && oc.origin == AZS_CACHE_LOADED &&
              !oc.notice[0], "second build mapped (origin %d: %s)", oc.origin, oc.notice);
    if (first && it) same_integrator(first, it, "cached");
    azs_integrator_destroy(it);
    it = NULL;
    const size_t size = file_size(good);
    /* The header: 8 bytes of magic, then uint32 format and byte order, then uint64s
     * (file_bytes is the first, nnz the ninth: integrator_cache.c's cache_header). */
    const damage d[] = {
        {"a flipped byte in the payload", size - 100, 0, -1, 0, AZS_ERR_CORRUPT},
        {"a flipped byte in the middle", size / 2, 0, -1, 0, AZS_ERR_CORRUPT},
        {"a flipped byte in the key", 192 + 16 * 32 + 40, 0, -1, 0, AZS_ERR_CORRUPT},
        {"truncated by 1000 bytes", SIZE_MAX, size - 1000, -1, 0, AZS_ERR_TRUNCATED},
        {"truncated inside the header", SIZE_MAX, 100, -1, 0, AZS_ERR_TRUNCATED},
        {"a header claiming a larger file", SIZE_MAX, 0, 0, 4096, AZS_ERR_TRUNCATED},
        {"a header claiming more entries", SIZE_MAX, 0, 8, 1u << 20, AZS_ERR_CORRUPT},
        {"a header claiming 2^50 entries", SIZE_MAX, 0, 8, 1ull << 50, AZS_ERR_CORRUPT},
        {"another magic", 0, 0, -1, 0, AZS_ERR_FORMAT},
    };
    uint8_t *key = NULL;
    size_t len = 0;
    CHECK_EXPR(azs_integrator_cache_key(&g, &o, AZS_U32, "test", &key, &len) == AZS_OK);
    for (size_t k = 0; k < sizeof d / sizeof d[0]; k++) {
        copy_file(good, bad);
        if (d[k].at != SIZE_MAX) {
            uint8_t b = 0;
            FILE *f = fopen(bad, "rb");
            CHECK_EXPR(f && fseek(f, (long)d[k].at, SEEK_SET) == 0 && fread(&b, 1, 1, f) == 1);
            if (f) fclose(f);
            b ^= 0x10;
            patch(bad, d[k].at, &b, 1);
        }
        if (d[k].truncate_to) CHECK_EXPR(truncate(bad, (off_t)d[k].truncate_to) == 0);
        if (d[k].header_field >= 0) {
            uint64_t v = 0;
            const size_t at = 16 + 8 * (size_t)d[k].header_field;
            FILE *f = fopen(bad, "rb");
            CHECK_EXPR(f && fseek(f, (long)at, SEEK_SET) == 0 && fread(&v, 8, 1, f) == 1);
            if (f) fclose(f);
            v += d[k].add;
            patch(bad, at, &v, 8);
        }
        azs_status st = azs_integrator_cache_load(bad, key, len, &o, &it);
        CHECK(st == d[k].expect && !it, "%s: load gave %s (%s), expected %s", d[k].what, azs_status_str(st),
              azs_last_error(), azs_status_str(d[k].expect));
        azs_integrator_destroy(it);
        it = NULL;
        /* The cached build rebuilds it, says so, and replaces the file with a good one. */
        st = azs_integrator_create_cached(&g, &o, &rq, &it, &oc);
        CHECK(st == AZS_OK && oc.origin == AZS_CACHE_STORED && strstr(oc.notice, "rebuilt"),
              "%s: cached build: origin %d, notice '%s'", d[k].what, oc.origin, oc.notice);
        if (first && it) same_integrator(first, it, d[k].what);
        azs_integrator_destroy(it);
        it = NULL;
        CHECK(azs_integrator_cache_load(bad, key, len, &o, &it) == AZS_OK, "%s: replaced file: %s", d[k].what,
              azs_last_error());
        azs_integrator_destroy(it);
        it = NULL;
    }
    /* Another key under the same name (a hash collision): a miss, not damage. */
    key[len - 1] ^= 1;
    CHECK_EXPR(azs_integrator_cache_load(bad, key, len, &o, &it) == AZS_ERR_NOT_FOUND && !it);
    free(key);
    /* A folder that cannot take the file: built all the same, with a notice. /proc refuses
     * new files even to root; a missing folder too. */
    const char *unusable[] = {"/proc", "/nonexistent-azstream-cache/x"};
    for (int k = 0; k < 2; k++) {
        azs_cache_request r2 = {unusable[k], 0, AZS_U32, "test"};
        azs_status st = azs_integrator_create_cached(&g, &o, &r2, &it, &oc);
        CHECK(st == AZS_OK && it && oc.origin == AZS_CACHE_BUILT && strstr(oc.notice, "without the cache"),
              "%s: status %s, origin %d, notice '%s'", unusable[k], azs_status_str(st), oc.origin, oc.notice);
        azs_integrator_destroy(it);
        it = NULL;
    }
    /* load_only (procs workers): a miss builds and writes nothing. */
    char empty[320];
    snprintf(empty, sizeof empty, "%s/empty", g_dir);
    mkdir(empty, 0755);
    azs_cache_request r3 = {empty, 1, AZS_U32, "test"};
    CHECK_EXPR(azs_integrator_create_cached(&g, &o, &r3, &it, &oc) == AZS_OK && oc.origin == AZS_CACHE_BUILT &&
               !oc.notice[0] && file_size(oc.path) == 0);
    azs_integrator_destroy(it);
    azs_integrator_destroy(first);
}

/* After a write the least recently used files go down to AZS_CACHE_KEEP_BYTES (sparse
 * stand-ins of 3 GiB each), and a temporary file over a day old goes; a recent one stays. */
static void pruning(void)
{
    char dir[300], p[5][400];
    snprintf(dir, sizeof dir, "%s/prune", g_dir);
    mkdir(dir, 0755);
    const char *names[4] = {"integrator-old.azsi", "integrator-newer.azsi", ".tmp-1-0-stale", ".tmp-1-1-fresh"};
    const time_t now = time(NULL), age[4] = {now - 7200, now - 3600, now - 200000, now - 60};
    for (int k = 0; k < 4; k++) {
        snprintf(p[k], sizeof p[k], "%s/%s", dir, names[k]);
        int fd = open(p[k], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        CHECK_EXPR(fd >= 0 && ftruncate(fd, k < 2 ? (off_t)3 << 30 : 10) == 0);
        if (fd >= 0) close(fd);
        struct timespec ts[2] = {{age[k], 0}, {age[k], 0}};
        CHECK_EXPR(utimensat(AT_FDCWD, p[k], ts, 0) == 0);
    }
    azs_geometry g;
    geometry(&g);
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    azs_cache_request rq = {dir, 0, AZS_U32, "test"};
    azs_cache_outcome oc;
    azs_integrator *it = NULL;
    CHECK_EXPR(azs_integrator_create_cached(&g, &o, &rq, &it, &oc) == AZS_OK && oc.origin == AZS_CACHE_STORED);
    azs_integrator_destroy(it);
    CHECK(file_size(oc.path) > 0 && access(p[0], F_OK) != 0 && file_size(p[1]) == (size_t)3 << 30,
          "%s", "the oldest file goes, the newer and the new one stay");
    CHECK(access(p[2], F_OK) != 0 && access(p[3], F_OK) == 0, "%s", "stale temporary file gone, fresh one kept");
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

int main(int argc, char **argv)
{
    /* A folder of this run's own: the checks expect a cache that starts empty (a second
     * run in the same build tree used to find the first run's files and load them). */
    snprintf(g_dir, sizeof g_dir, "%s.XXXXXX", argc > 1 ? argv[1] : "integrator_cache_test");
    if (!mkdtemp(g_dir)) {
        perror(g_dir);
        return 1;
    }
    hash_vectors();
    const variant v[] = {
        {"1d_bbox", 0, AZS_SPLIT_BBOX, AZS_ERRMODEL_NONE, 0},
        {"1d_full_poisson_dark", 0, AZS_SPLIT_FULL, AZS_ERRMODEL_POISSON, 1},
        {"1d_no_azimuthal", 0, AZS_SPLIT_NO, AZS_ERRMODEL_AZIMUTHAL, 1},
        {"2d_full", 36, AZS_SPLIT_FULL, AZS_ERRMODEL_POISSON, 0},
        {"2d_bbox_dark", 24, AZS_SPLIT_BBOX, AZS_ERRMODEL_NONE, 1},
    };
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++) round_trip(&v[k]);
    damaged_files();
    pruning();
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    else nftw(g_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); /* kept to look at when a check failed */
    return failures ? 1 : 0;
}
