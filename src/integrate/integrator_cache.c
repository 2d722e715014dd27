/* The integrator cache (design: integrator_cache.h, doc/design.md "Integrator cache").
 *
 * File layout (native byte order, recorded; every section 64-byte aligned, so the engines
 * read the mapping exactly as they read their own aligned allocations):
 *
 *   cache_header    magic, format, byte order, file size, the integrator's scalars, where
 *                   the key is, a hash of (header + table + key)
 *   cache_section   × AZS_CSEC_COUNT: id, element size, offset, count, hash of the bytes
 *   key             the key material (text lines, then the mask / dark / flat bytes)
 *   sections        indptr, indices (+ AZS_CSR_PAD zeros), weights, radial, azimuthal,
 *                   norm, dark, then the tiled form's arrays
 *
 * Loading checks, before anything is used: the magic, the format and byte order, the file
 * size against the header's, the header + table + key hash, the key byte for byte, every
 * section's place, size and element count against the scalars, every section's hash, and
 * the row pointers' ends and order. What fails is a miss (another key or format) or damage
 * (anything else): the caller rebuilds and replaces the file. */
#define _GNU_SOURCE
#include "integrator_cache.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "hash64.h"
#include "integrator_struct.h"

#define MAGIC "AZSINTG\n"
#define BYTE_ORDER_TAG 0x01020304u
#define SECTION_ALIGN 64u
#define SEED_META 0x617a7374726d3031ull  /* "azstrm01" */
#define SEED_NAME_A 0x6e616d6530303031ull
#define SEED_NAME_B 0x6e616d6530303032ull

enum {
    AZS_CSEC_INDPTR, AZS_CSEC_INDICES, AZS_CSEC_WEIGHTS, AZS_CSEC_RADIAL, AZS_CSEC_AZIMUTHAL,
    AZS_CSEC_NORM, AZS_CSEC_DARK, AZS_CSEC_TILE_GRP, AZS_CSEC_GRP_ROW, AZS_CSEC_SEG_BIN,
    AZS_CSEC_LOCAL, AZS_CSEC_WEIGHT, AZS_CSEC_BIN_PTR, AZS_CSEC_BIN_SEG, AZS_CSEC_USED,
    AZS_CSEC_NORM_LANE, AZS_CSEC_COUNT
};

static const char *const section_name[AZS_CSEC_COUNT] = {
    "indptr", "indices", "weights", "radial", "azimuthal", "norm", "dark", "tile_grp",
    "grp_row", "seg_bin", "local", "weight", "bin_ptr", "bin_seg", "used", "norm_lane"};

typedef struct cache_header {
    char magic[8];
    uint32_t format, byte_order;
    uint64_t file_bytes;
    uint64_t key_offset, key_bytes;
    uint64_t nsections;
    uint64_t meta_hash; /* of the header (this field 0), the table and the key */
    uint64_t nbins, npt, npt_azim, nnz, ny, nx, has_dark;
    uint64_t ntiles, ngroups, nrows, nseg;
    uint64_t reserved[6];
} cache_header;
_Static_assert(sizeof(cache_header) == 192, "cache header layout");

typedef struct cache_section {
    uint32_t id, elem_bytes;
    uint64_t offset, count, hash;
} cache_section;
_Static_assert(sizeof(cache_section) == 32, "cache section layout");

/* ---------------------------------------------------------------- the key */

typedef struct keybuf {
    uint8_t *p;
    size_t n, cap;
    int oom;
} keybuf;

static void put(keybuf *k, const void *v, size_t n)
{
    if (k->oom) return;
    if (k->n + n > k->cap) {
        size_t cap = k->cap ? k->cap : 4096;
        while (cap < k->n + n) cap *= 2;
        uint8_t *p = realloc(k->p, cap);
        if (!p) { k->oom = 1; return; }
        k->p = p;
        k->cap = cap;
    }
    memcpy(k->p + k->n, v, n);
    k->n += n;
}

static void putf(keybuf *k, const char *fmt, ...) AZS_PRINTF(2, 3);
static void putf(keybuf *k, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) put(k, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Doubles in hexadecimal: exact, so that equal text means equal bits (up to NaN payloads
 * and the sign of zero, which only make a needless miss). */
#define KEY_F(k, name, v) putf(k, "%s=%a\n", name, (double)(v))
#define KEY_I(k, name, v) putf(k, "%s=%lld\n", name, (long long)(v))

static void key_array(keybuf *k, const char *name, const void *a, size_t bytes)
{
    putf(k, "%s=%zu bytes\n", name, a ? bytes : 0);
    if (a) put(k, a, bytes);
    put(k, "\n", 1);
}

/* A field added to either struct must be added to the key below: these sizes say so. */
#if UINTPTR_MAX == UINT64_MAX
_Static_assert(sizeof(azs_geometry) == 200, "azs_geometry changed: update the cache key");
_Static_assert(sizeof(azs_integrate_options) == 168,
               "azs_integrate_options changed: update the cache key");
#endif

/* The file this code was loaded from (the executable, or a shared library holding it): its
 * size and modification time. Any rebuild or reinstall then makes new keys, so a changed
 * builder never meets an older one's matrices, even where AZS_CACHE_FORMAT was not bumped
 * (a developer's tree). Processes of one installation (procs workers, MPI ranks) agree. */
static void code_identity(keybuf *k)
{
    Dl_info info;
    struct stat sb;
    if (!dladdr((void *)(uintptr_t)&azs_integrator_cache_path, &info) || !info.dli_fname ||
        stat(info.dli_fname, &sb)) {
        putf(k, "code=unknown\n");
        return;
    }
    putf(k, "code=%lld bytes, modified %lld.%09ld\n", (long long)sb.st_size, (long long)sb.st_mtim.tv_sec,
         (long)sb.st_mtim.tv_nsec);
}

azs_status azs_integrator_cache_key(const azs_geometry *g, const azs_integrate_options *o,
                                    azs_dtype dtype, const char *build_id, uint8_t **key,
                                    size_t *len)
{
    *key = NULL;
    *len = 0;
    keybuf k = {NULL, 0, 0, 0};
    const azs_detector *d = &g->det;
    putf(&k, "azstream integrator cache\nformat=%d\nbuild=%s\ncompiler=%s\n", AZS_CACHE_FORMAT,
         build_id ? build_id : "", __VERSION__);
    code_identity(&k);
    putf(&k, "tile_px=%u\nlanes=%d\ncsr_pad=%d\n", AZS_TILE_PX, AZS_LANES, AZS_CSR_PAD);
    putf(&k, "dtype=%s\nshape=%ux%u\n", azs_dtype_name(dtype), d->ny, d->nx);
    putf(&k, "detector=%.*s\n", (int)strnlen(d->name, sizeof d->name), d->name);
    KEY_F(&k, "pixel1", d->pixel1);
    KEY_F(&k, "pixel2", d->pixel2);
    KEY_I(&k, "orientation", d->orientation);
    putf(&k, "modules=%u,%u,%u,%u\nmid_gap=%d,%u\n", d->module_ny, d->module_nx, d->gap_ny,
         d->gap_nx, d->mid_gap_start, d->mid_gap_width);
    KEY_I(&k, "det_has_dummy", d->has_dummy);
    KEY_F(&k, "det_dummy", d->dummy);
    KEY_F(&k, "det_delta_dummy", d->delta_dummy);
    KEY_F(&k, "dist", g->dist);
    KEY_F(&k, "poni1", g->poni1);
    KEY_F(&k, "poni2", g->poni2);
    KEY_F(&k, "rot1", g->rot1);
    KEY_F(&k, "rot2", g->rot2);
    KEY_F(&k, "rot3", g->rot3);
    KEY_F(&k, "wavelength", g->wavelength);
    KEY_F(&k, "poni_version", g->poni_version);
    KEY_I(&k, "npt", o->npt);
    KEY_I(&k, "npt_azim", o->npt_azim);
    KEY_I(&k, "unit", o->unit);
    KEY_I(&k, "split", o->split);
    KEY_I(&k, "has_radial_range", o->has_radial_range);
    KEY_F(&k, "radial_min", o->radial_min);
    KEY_F(&k, "radial_max", o->radial_max);
    KEY_I(&k, "has_azimuth_range", o->has_azimuth_range);
    KEY_F(&k, "azimuth_min", o->azimuth_min);
    KEY_F(&k, "azimuth_max", o->azimuth_max);
    KEY_I(&k, "solid_angle", o->solid_angle);
    KEY_I(&k, "has_polarization", o->has_polarization);
    KEY_F(&k, "polarization_factor", o->polarization_factor);
    KEY_F(&k, "polarization_axis_offset", o->polarization_axis_offset);
    KEY_I(&k, "has_dummy", o->has_dummy);
    KEY_F(&k, "dummy", o->dummy);
    KEY_F(&k, "delta_dummy", o->delta_dummy);
    KEY_F(&k, "normalization_factor", o->normalization_factor);
    KEY_I(&k, "error_model", o->error_model);
    KEY_I(&k, "chi_disc_at_0", o->chi_disc_at_0);
    KEY_F(&k, "empty", o->empty);
    KEY_I(&k, "mask_detector_gaps", o->mask_detector_gaps);
    const size_t npix = (size_t)d->ny * d->nx;
    key_array(&k, "mask", o->mask, npix);
    key_array(&k, "dark", o->dark, npix * sizeof(float));
    key_array(&k, "flat", o->flat, npix * sizeof(float));
    if (k.oom) {
        free(k.p);
        return azs_fail(AZS_ERR_NOMEM, "integrator cache: key of %zu pixels", npix);
    }
    *key = k.p;
    *len = k.n;
    return AZS_OK;
}

void azs_integrator_cache_path(const char *dir, const uint8_t *key, size_t len, char *path,
                               size_t cap)
{
    /* 128 bits from two seeds: a collision only costs a rebuild (the key is compared). */
    snprintf(path, cap, "%s/integrator-%016llx%016llx.azsi", dir,
             (unsigned long long)azs_hash64(key, len, SEED_NAME_A),
             (unsigned long long)azs_hash64(key, len, SEED_NAME_B));
}

/* ---------------------------------------------------------------- layout of a file */

static uint64_t align_up(uint64_t v) { return (v + SECTION_ALIGN - 1) / SECTION_ALIGN * SECTION_ALIGN; }

/* Element size and count of each section, from the header's scalars. */
static void section_shapes(const cache_header *h, uint32_t *elem, uint64_t *count)
{
    const uint64_t npix = h->ny * h->nx, lanes = AZS_LANES;
    const uint32_t e[AZS_CSEC_COUNT] = {8, 4, 4, 8, 8, 4, 4, 8, 8, 4, 2, 4, 8, 4, 1, 8};
    const uint64_t c[AZS_CSEC_COUNT] = {
        h->nbins + 1, h->nnz + AZS_CSR_PAD, h->nnz, h->npt, h->npt_azim, npix,
        h->has_dark ? npix : 0, h->ntiles + 1, h->ngroups + 1, h->ngroups * lanes,
        h->nrows * lanes, h->nrows * lanes, h->nbins + 1, h->nseg,
        h->ntiles * (uint64_t)AZS_TILE_PX, h->ngroups * lanes};
    memcpy(elem, e, sizeof e);
    memcpy(count, c, sizeof c);
}

/* Room a section takes: at least one element, so that every pointer lies in the file. */
static uint64_t section_room(uint32_t elem, uint64_t count)
{
    return align_up((uint64_t)elem * (count ? count : 1));
}

static uint64_t meta_hash(const cache_header *h, const cache_section *table, const uint8_t *key)
{
    cache_header c = *h;
    c.meta_hash = 0;
    uint64_t parts[3] = {azs_hash64(&c, sizeof c, SEED_META),
                         azs_hash64(table, sizeof *table * AZS_CSEC_COUNT, SEED_META),
                         azs_hash64(key, h->key_bytes, SEED_META)};
    return azs_hash64(parts, sizeof parts, SEED_META);
}

/* ---------------------------------------------------------------- store */

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int write_zeros(int fd, uint64_t n)
{
    static const char zeros[SECTION_ALIGN];
    while (n) {
        size_t k = n < sizeof zeros ? (size_t)n : sizeof zeros;
        if (write_all(fd, zeros, k)) return -1;
        n -= k;
    }
    return 0;
}

azs_status azs_integrator_cache_store(const azs_integrator *it, const char *path,
                                      const uint8_t *key, size_t len)
{
    const azs_tiled *t = &it->tiled;
    cache_header h;
    memset(&h, 0, sizeof h);
    memcpy(h.magic, MAGIC, 8);
    h.format = AZS_CACHE_FORMAT;
    h.byte_order = BYTE_ORDER_TAG;
    h.nsections = AZS_CSEC_COUNT;
    h.nbins = it->m.nbins;
    h.npt = it->m.npt;
    h.npt_azim = it->m.azimuthal ? it->m.npt_azim : 0;
    h.nnz = it->m.nnz;
    h.ny = it->ny;
    h.nx = it->nx;
    h.has_dark = it->dark != NULL;
    h.ntiles = t->ntiles;
    h.ngroups = t->ngroups;
    h.nrows = t->nrows;
    h.nseg = t->bin_ptr[it->m.nbins];
    h.key_offset = sizeof h + sizeof(cache_section) * AZS_CSEC_COUNT;
    h.key_bytes = len;
    const void *data[AZS_CSEC_COUNT] = {
        it->m.indptr, it->m.indices, it->m.weights, it->m.radial, it->m.azimuthal, it->norm,
        it->dark, t->tile_grp, t->grp_row, t->seg_bin, t->local, t->weight, t->bin_ptr,
        t->bin_seg, t->used, t->norm_lane};
    uint32_t elem[AZS_CSEC_COUNT];
    uint64_t count[AZS_CSEC_COUNT];
    section_shapes(&h, elem, count);
    cache_section table[AZS_CSEC_COUNT];
    uint64_t at = align_up(h.key_offset + len);
    for (int s = 0; s < AZS_CSEC_COUNT; s++) {
        const uint64_t bytes = (uint64_t)elem[s] * count[s];
        table[s] = (cache_section){(uint32_t)s, elem[s], at, count[s],
                                   azs_hash64(data[s], bytes, SEED_META + (uint64_t)s)};
        at += section_room(elem[s], count[s]);
    }
    h.file_bytes = at;
    h.meta_hash = meta_hash(&h, table, key);

    /* Same folder as the target, so that rename is atomic; O_EXCL with a name of our own
     * (pid, a counter) so that two writers never share a temporary file. */
    static int serial;
    char tmp[4200];
    const char *slash = strrchr(path, '/');
    const int dlen = slash ? (int)(slash - path) : 0;
    int fd = -1;
    for (int tries = 0; fd < 0 && tries < 100; tries++) {
        snprintf(tmp, sizeof tmp, "%.*s%s.tmp-%ld-%d-%s", dlen, path, slash ? "/" : "",
                 (long)getpid(), __atomic_fetch_add(&serial, 1, __ATOMIC_RELAXED),
                 slash ? slash + 1 : path);
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno != EEXIST) break;
    }
    if (fd < 0)
        return azs_fail(AZS_ERR_IO, "%s: cannot create (%s)", tmp, strerror(errno));
    int bad = write_all(fd, &h, sizeof h) || write_all(fd, table, sizeof table) ||
              write_all(fd, key, len) || write_zeros(fd, table[0].offset - (h.key_offset + len));
    for (int s = 0; s < AZS_CSEC_COUNT && !bad; s++) {
        const uint64_t bytes = (uint64_t)elem[s] * count[s];
        bad = (bytes && write_all(fd, data[s], bytes)) ||
              write_zeros(fd, section_room(elem[s], count[s]) - bytes);
    }
    const int err = errno;
    if (bad || fsync(fd)) {
        const int e = bad ? err : errno;
        close(fd);
        unlink(tmp);
        return azs_fail(AZS_ERR_IO, "%s: cannot write (%s)", tmp, strerror(e));
    }
    if (close(fd) || rename(tmp, path)) {
        const int e = errno;
        unlink(tmp);
        return azs_fail(AZS_ERR_IO, "%s: cannot rename to %s (%s)", tmp, path, strerror(e));
    }
    /* The rename itself on disk: without it a crash may leave the old name (harmless: a miss). */
    char dir[4200];
    snprintf(dir, sizeof dir, "%.*s", dlen ? dlen : 1, dlen ? path : ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return AZS_OK;
}

/* ---------------------------------------------------------------- load */

/* p[0] == 0, non-decreasing, p[n] == last. */
static int monotone(const uint64_t *p, uint64_t n, uint64_t last)
{
    if (p[0] != 0 || p[n] != last) return 0;
    for (uint64_t i = 0; i < n; i++)
        if (p[i + 1] < p[i]) return 0;
    return 1;
}

static azs_status check_header(const char *path, const cache_header *h, uint64_t size)
{
    if (memcmp(h->magic, MAGIC, 8))
        return azs_fail(AZS_ERR_FORMAT, "%s: not an azstream integrator cache file", path);
    if (h->format != AZS_CACHE_FORMAT || h->byte_order != BYTE_ORDER_TAG)
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: cache format %u (byte order %08x), this build "
                        "reads format %d", path, h->format, h->byte_order, AZS_CACHE_FORMAT);
    if (h->file_bytes != size)
        return azs_fail(AZS_ERR_TRUNCATED, "%s: %llu bytes, its header says %llu", path,
                        (unsigned long long)size, (unsigned long long)h->file_bytes);
    if (h->nsections != AZS_CSEC_COUNT ||
        h->key_offset != sizeof *h + sizeof(cache_section) * AZS_CSEC_COUNT ||
        h->key_bytes > size || h->key_offset + h->key_bytes > size)
        return azs_fail(AZS_ERR_CORRUPT, "%s: header: %llu sections, key of %llu bytes at %llu "
                        "in a file of %llu", path, (unsigned long long)h->nsections,
                        (unsigned long long)h->key_bytes, (unsigned long long)h->key_offset,
                        (unsigned long long)size);
    /* Scalars small enough that no product below overflows, and consistent. */
    const uint64_t lim = 1ull << 40;
    if (h->ny > 1u << 20 || h->nx > 1u << 20 || h->nnz > lim || h->ngroups > lim ||
        h->nrows > lim || h->nseg > lim || h->npt > UINT32_MAX || h->npt_azim > UINT32_MAX ||
        h->nbins != h->npt * (h->npt_azim ? h->npt_azim : 1) ||
        h->ntiles != ((h->ny * h->nx + AZS_TILE_PX - 1) / AZS_TILE_PX ?
                      (h->ny * h->nx + AZS_TILE_PX - 1) / AZS_TILE_PX : 1) ||
        h->nseg > h->ngroups * AZS_LANES || h->has_dark > 1)
        return azs_fail(AZS_ERR_CORRUPT, "%s: header: inconsistent sizes", path);
    return AZS_OK;
}

static azs_status check_sections(const char *path, const cache_header *h, const cache_section *tb,
                                 const uint8_t *base)
{
    uint32_t elem[AZS_CSEC_COUNT];
    uint64_t count[AZS_CSEC_COUNT];
    section_shapes(h, elem, count);
    uint64_t at = align_up(h->key_offset + h->key_bytes);
    for (int s = 0; s < AZS_CSEC_COUNT; s++) {
        const cache_section *c = &tb[s];
        if (c->id != (uint32_t)s || c->elem_bytes != elem[s] || c->count != count[s] ||
            c->offset != at || c->offset > h->file_bytes ||
            section_room(elem[s], count[s]) > h->file_bytes - c->offset)
            return azs_fail(AZS_ERR_CORRUPT, "%s: section %s: %llu elements of %u bytes at %llu, "
                            "expected %llu of %u at %llu (file of %llu bytes)", path,
                            section_name[s], (unsigned long long)c->count, c->elem_bytes,
                            (unsigned long long)c->offset, (unsigned long long)count[s], elem[s],
                            (unsigned long long)at, (unsigned long long)h->file_bytes);
        at += section_room(elem[s], count[s]);
    }
    if (at != h->file_bytes)
        return azs_fail(AZS_ERR_CORRUPT, "%s: sections end at %llu, the file at %llu", path,
                        (unsigned long long)at, (unsigned long long)h->file_bytes);
    for (int s = 0; s < AZS_CSEC_COUNT; s++) {
        const uint64_t bytes = (uint64_t)tb[s].elem_bytes * tb[s].count;
        if (azs_hash64(base + tb[s].offset, bytes, SEED_META + (uint64_t)s) != tb[s].hash)
            return azs_fail(AZS_ERR_CORRUPT, "%s: section %s: checksum mismatch (damaged)", path,
                            section_name[s]);
    }
    /* Row pointers: the engines index with them without further checks. */
    const uint64_t *indptr = (const void *)(base + tb[AZS_CSEC_INDPTR].offset);
    const uint64_t *tile_grp = (const void *)(base + tb[AZS_CSEC_TILE_GRP].offset);
    const uint64_t *grp_row = (const void *)(base + tb[AZS_CSEC_GRP_ROW].offset);
    const uint64_t *bin_ptr = (const void *)(base + tb[AZS_CSEC_BIN_PTR].offset);
    if (!monotone(indptr, h->nbins, h->nnz) || !monotone(tile_grp, h->ntiles, h->ngroups) ||
        !monotone(grp_row, h->ngroups, h->nrows) || !monotone(bin_ptr, h->nbins, h->nseg))
        return azs_fail(AZS_ERR_CORRUPT, "%s: row pointers out of order", path);
    return AZS_OK;
}

azs_status azs_integrator_cache_load(const char *path, const uint8_t *key, size_t len,
                                     const azs_integrate_options *o, azs_integrator **out)
{
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return azs_fail(errno == ENOENT ? AZS_ERR_NOT_FOUND : AZS_ERR_IO, "%s: %s", path,
                        strerror(errno));
    struct stat sb;
    cache_header h;
    azs_status st = AZS_OK;
    if (fstat(fd, &sb))
        st = azs_fail(AZS_ERR_IO, "%s: %s", path, strerror(errno));
    else if ((uint64_t)sb.st_size < sizeof h)
        st = azs_fail(AZS_ERR_TRUNCATED, "%s: %lld bytes, shorter than a header", path,
                      (long long)sb.st_size);
    else if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
        st = azs_fail(AZS_ERR_IO, "%s: cannot read the header", path);
    if (st == AZS_OK) st = check_header(path, &h, (uint64_t)sb.st_size);
    if (st != AZS_OK) {
        close(fd);
        return st;
    }
    /* MAP_SHARED: every process mapping the file shares its pages; populated at once, as
     * the checksums read every page anyway. */
    void *map = mmap(NULL, (size_t)h.file_bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    const int map_err = errno;
    close(fd);
    if (map == MAP_FAILED)
        return azs_fail(AZS_ERR_IO, "%s: cannot map %llu bytes (%s)", path,
                        (unsigned long long)h.file_bytes, strerror(map_err));
    const uint8_t *base = map;
    const cache_section *tb = (const void *)(base + sizeof h);
    const uint8_t *fkey = base + h.key_offset;
    if (meta_hash(&h, tb, fkey) != h.meta_hash)
        st = azs_fail(AZS_ERR_CORRUPT, "%s: header checksum mismatch (damaged)", path);
    else if (h.key_bytes != len || memcmp(fkey, key, len))
        st = azs_fail(AZS_ERR_NOT_FOUND, "%s: built for other settings (a name collision)", path);
    if (st == AZS_OK) st = check_sections(path, &h, tb, base);
    azs_integrator *it = st == AZS_OK ? calloc(1, sizeof *it) : NULL;
    if (st == AZS_OK && !it) st = azs_fail(AZS_ERR_NOMEM, "integrate: integrator");
    if (st != AZS_OK) {
        munmap(map, (size_t)h.file_bytes);
        return st;
    }
#define SEC(s) ((void *)((uint8_t *)map + tb[s].offset))
    it->map = map;
    it->map_bytes = (size_t)h.file_bytes;
    it->opt = *o;
    it->opt.mask = NULL;
    it->opt.dark = NULL;
    it->opt.flat = NULL;
    it->ny = (uint32_t)h.ny;
    it->nx = (uint32_t)h.nx;
    it->npix = (size_t)(h.ny * h.nx);
    it->m.nbins = (uint32_t)h.nbins;
    it->m.npt = (uint32_t)h.npt;
    it->m.npt_azim = (uint32_t)h.npt_azim;
    it->m.nnz = h.nnz;
    it->m.indptr = SEC(AZS_CSEC_INDPTR);
    it->m.indices = SEC(AZS_CSEC_INDICES);
    it->m.weights = SEC(AZS_CSEC_WEIGHTS);
    it->m.radial = SEC(AZS_CSEC_RADIAL);
    it->m.azimuthal = h.npt_azim ? SEC(AZS_CSEC_AZIMUTHAL) : NULL;
    it->norm = SEC(AZS_CSEC_NORM);
    it->dark = h.has_dark ? SEC(AZS_CSEC_DARK) : NULL;
    azs_tiled *t = &it->tiled;
    t->ntiles = (uint32_t)h.ntiles;
    t->ngroups = h.ngroups;
    t->nrows = h.nrows;
    t->tile_grp = SEC(AZS_CSEC_TILE_GRP);
    t->grp_row = SEC(AZS_CSEC_GRP_ROW);
    t->seg_bin = SEC(AZS_CSEC_SEG_BIN);
    t->local = SEC(AZS_CSEC_LOCAL);
    t->weight = SEC(AZS_CSEC_WEIGHT);
    t->bin_ptr = SEC(AZS_CSEC_BIN_PTR);
    t->bin_seg = SEC(AZS_CSEC_BIN_SEG);
    t->used = SEC(AZS_CSEC_USED);
    t->norm_lane = SEC(AZS_CSEC_NORM_LANE);
#undef SEC
    azs_integrator_set_ctx(it, o);
    /* The kernel choice is timed on this machine, not stored (a cache folder may be shared). */
    if ((st = azs_tiled_choose_sig_kernel(t)) != AZS_OK) {
        azs_integrator_destroy(it);
        return st;
    }
    *out = it;
    return AZS_OK;
}

/* ---------------------------------------------------------------- keeping the folder small */

typedef struct cache_entry {
    char name[256];
    uint64_t bytes;
    int64_t mtime_ns;
} cache_entry;

static int older_first(const void *a, const void *b)
{
    const cache_entry *x = a, *y = b;
    return (x->mtime_ns > y->mtime_ns) - (x->mtime_ns < y->mtime_ns);
}

/* Every rebuild of azstream, every new geometry makes a new file: after a write, the least
 * recently used cache files go until the folder's cache files hold AZS_CACHE_KEEP_BYTES or
 * less (a hit refreshes a file's time), and temporary files a crashed writer left (over a day
 * old) go too. Errors are ignored: this is housekeeping. */
static void prune(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d) return;
    cache_entry *e = NULL;
    size_t n = 0, cap = 0;
    uint64_t total = 0;
    struct dirent *de;
    char path[4400];
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        const size_t len = strlen(nm);
        const int tmp = !strncmp(nm, ".tmp-", 5), ours = !strncmp(nm, "integrator-", 11) &&
                        len > 5 && !strcmp(nm + len - 5, ".azsi");
        struct stat sb;
        if ((!tmp && !ours) || len >= sizeof e->name) continue;
        snprintf(path, sizeof path, "%s/%s", dir, nm);
        if (lstat(path, &sb) || !S_ISREG(sb.st_mode)) continue;
        const int64_t t = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
        if (tmp) {
            if ((int64_t)time(NULL) - (int64_t)sb.st_mtim.tv_sec > 86400) unlink(path);
            continue;
        }
        if (n == cap) {
            cache_entry *m = realloc(e, (cap = cap ? 2 * cap : 64) * sizeof *e);
            if (!m) break;
            e = m;
        }
        snprintf(e[n].name, sizeof e[n].name, "%s", nm);
        e[n].bytes = (uint64_t)sb.st_size;
        e[n++].mtime_ns = t;
        total += (uint64_t)sb.st_size;
    }
    closedir(d);
    qsort(e, n, sizeof *e, older_first);
    for (size_t i = 0; i < n && total > AZS_CACHE_KEEP_BYTES; i++) {
        if (!strcmp(e[i].name, keep)) continue;
        snprintf(path, sizeof path, "%s/%s", dir, e[i].name);
        if (!unlink(path)) total -= e[i].bytes;
    }
    free(e);
}

/* ---------------------------------------------------------------- the cached build */

static void note(azs_cache_outcome *oc, const char *fmt, ...) AZS_PRINTF(2, 3);
static void note(azs_cache_outcome *oc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(oc->notice, sizeof oc->notice, fmt, ap);
    va_end(ap);
}

azs_status azs_integrator_create_cached(const azs_geometry *g, const azs_integrate_options *o,
                                        const azs_cache_request *rq, azs_integrator **out,
                                        azs_cache_outcome *oc)
{
    azs_cache_outcome local;
    if (!oc) oc = &local;
    memset(oc, 0, sizeof *oc);
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL output");
    *out = NULL;
    const double t0 = azs_now_seconds();
    if (!g || !o || !rq || !rq->dir || !rq->dir[0]) {
        azs_status st = azs_integrator_create(g, o, out);
        oc->seconds = azs_now_seconds() - t0;
        return st;
    }
    uint8_t *key = NULL;
    size_t len = 0;
    azs_status st = azs_integrator_cache_key(g, o, rq->dtype, rq->build_id, &key, &len);
    if (st != AZS_OK) return st;
    azs_integrator_cache_path(rq->dir, key, len, oc->path, sizeof oc->path);
    st = azs_integrator_cache_load(oc->path, key, len, o, out);
    if (st == AZS_OK) {
        utimensat(AT_FDCWD, oc->path, NULL, 0); /* recently used (a read-only folder: no matter) */
        oc->origin = AZS_CACHE_LOADED;
        oc->seconds = azs_now_seconds() - t0;
        free(key);
        return AZS_OK;
    }
    /* A miss is silent; a file we could not use is worth a word (it is replaced). */
    if (st != AZS_ERR_NOT_FOUND)
        note(oc, "integrator cache: %s; rebuilt%s", azs_last_error(),
             rq->load_only ? "" : " and replaced");
    if ((st = azs_integrator_create(g, o, out)) != AZS_OK) {
        free(key);
        return st;
    }
    oc->origin = AZS_CACHE_BUILT;
    if (!rq->load_only) {
        if (azs_integrator_cache_store(*out, oc->path, key, len) == AZS_OK) {
            oc->origin = AZS_CACHE_STORED;
            prune(rq->dir, strrchr(oc->path, '/') + 1);
        }
        else
            note(oc, "integrator cache: %s: built without the cache", azs_last_error());
    }
    free(key);
    oc->seconds = azs_now_seconds() - t0;
    return AZS_OK;
}
