/* The HDF5 source (include/azstream/source.h, DESIGN §1).
 *
 * Design. At open, everything HDF5 knows is turned into plain arrays:
 *   - the dataset path is resolved by hand, link by link (soft, hard, external), to a
 *     (real file, path in that file) pair: that is the file we pread from, and it lets
 *     errors name the missing file of a dangling external link (HDF5 only says "can't
 *     open object");
 *   - the dataset becomes one or more *parts* (a plain dataset: one part; an Eiger master:
 *     one part per data_NNNNNN link; a virtual dataset: one part per simple mapping);
 *   - for parts stored one frame per chunk, the chunk index is read once into per-frame
 *     (offset, size, filter mask) arrays: by one walk of its v1 B-tree straight from the
 *     file when it is one (io/chunk_btree.c; spot-checked against libhdf5), else with
 *     H5Dget_chunk_info_by_coord (libhdf5 1.10 has no H5Dchunk_iter, and its lookups scan
 *     the index: quadratic in the frames of a dataset); contiguous parts give offset =
 *     base + i*frame.
 * Afterwards azs_source_read_raw is a pread on a descriptor we opened ourselves: no HDF5,
 * no lock, any thread. The fallbacks (H5Dread_chunk when the index cannot be read, and
 * H5Dread / tile assembly for chunks that are not one frame each) take the io module's
 * HDF5 lock (io/h5lock.h).
 *
 * Filters: 32008 (bitshuffle, with LZ4) and 32004 (LZ4) are decoded by our codec;
 * no filter means raw pixels; any other filter that this libhdf5 can apply itself
 * (deflate, shuffle, ...) is read through H5Dread; anything else fails at open naming the
 * filter id. We install no HDF5 plugins, so H5Dread never sees 32008/32004 chunks: for
 * tiled or multi-frame chunks we read the raw tiles and decode them ourselves. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include "azstream/codec.h"
#include "azstream/source.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"
#include "io/chunk_btree.h"
#include "io/h5lock.h"

#define DEFAULT_DATASET "/entry/data/data"
#define MAX_LINK_DEPTH 16

enum part_path { PART_PREAD = 0, PART_DIRECT = 1, PART_FILTERED = 2 };

typedef struct part {
    char *file;          /* real file holding the dataset */
    char *dset;          /* path of the dataset in that file */
    uint64_t first;      /* first global frame */
    uint64_t n;          /* frames */
    uint64_t src_first;  /* first frame inside the dataset (VDS mappings) */
    int fd;              /* our own descriptor (PREAD), else -1 */
    hid_t did;           /* HDF5 dataset (fallback paths), else -1 */
    int path;            /* enum part_path */
    azs_codec codec;
    unsigned filter_id;
    int rank;            /* 2 or 3 */
    hsize_t chunk[3];    /* chunk dims (rank entries), 0 if not chunked */
} part;

typedef struct file_ent {
    char *path;
    hid_t fid;
} file_ent;

struct azs_source {
    azs_source_info info;
    part *parts;
    size_t nparts, cap_parts;
    file_ent *files;     /* every HDF5 file we opened, closed at the end */
    size_t nfiles, cap_files;
    /* per global frame, for PREAD parts */
    uint64_t *off;
    uint32_t *size;
    uint8_t *flag;       /* FLAG_* */
};

enum { FLAG_SKIPPED = 1, FLAG_UNALLOCATED = 2 };

/* ---------- small helpers ---------- */

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static char *join_path(const char *a, const char *b)
{
    size_t na = strlen(a), nb = strlen(b);
    char *r = malloc(na + nb + 2);
    if (!r)
        return NULL;
    memcpy(r, a, na);
    size_t k = na;
    if (k == 0 || r[k - 1] != '/')
        r[k++] = '/';
    while (*b == '/')
        b++, nb--;
    memcpy(r + k, b, nb + 1);
    return r;
}

/* Directory part of a file name ("." when none); caller frees. */
static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash)
        return xstrdup(".");
    if (slash == file)
        return xstrdup("/");
    size_t n = (size_t)(slash - file);
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, file, n);
        d[n] = 0;
    }
    return d;
}

/* The file an external link or VDS mapping in `from` names: next to `from` first, then
 * as given. NULL (and *missing set to the first candidate) when neither exists. */
static char *locate_file(const char *from, const char *name, char **missing)
{
    *missing = NULL;
    if (name[0] == '/') {
        if (access(name, F_OK) == 0)
            return xstrdup(name);
        *missing = xstrdup(name);
        return NULL;
    }
    char *dir = dir_of(from);
    char *cand = dir ? join_path(dir, name) : NULL;
    free(dir);
    if (cand && access(cand, F_OK) == 0)
        return cand;
    if (access(name, F_OK) == 0) {
        free(cand);
        return xstrdup(name);
    }
    *missing = cand ? cand : xstrdup(name);
    return NULL;
}

/* Fails with HDF5's own message appended. Lock held. */
static azs_status h5_fail_close(azs_status s, const char *what)
{
    char detail[600];
    azs_h5_error_detail(detail, sizeof detail);
    return azs_fail(s, "%s%s%s%s", what, detail[0] ? " (HDF5: " : "", detail,
                    detail[0] ? ")" : "");
}

/* Opens (or finds already open) an HDF5 file. Lock held. */
static azs_status open_file(azs_source *src, const char *path, hid_t *fid)
{
    for (size_t i = 0; i < src->nfiles; i++)
        if (!strcmp(src->files[i].path, path)) {
            *fid = src->files[i].fid;
            return AZS_OK;
        }
    struct stat st;
    if (stat(path, &st) != 0)
        return azs_fail(errno == ENOENT ? AZS_ERR_NOT_FOUND : AZS_ERR_IO, "file '%s': %s",
                        path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return azs_fail(AZS_ERR_IO, "'%s' is not a regular file", path);
    if (access(path, R_OK) != 0)
        return azs_fail(AZS_ERR_IO, "file '%s': %s", path, strerror(errno));
    htri_t is = H5Fis_hdf5(path);
    if (is == 0)
        return azs_fail(AZS_ERR_FORMAT, "file '%s' is not an HDF5 file", path);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        char what[1200];
        snprintf(what, sizeof what, "cannot open HDF5 file '%s' (truncated or corrupt?)", path);
        return h5_fail_close(AZS_ERR_CORRUPT, what);
    }
    if (src->nfiles == src->cap_files) {
        size_t nc = src->cap_files ? 2 * src->cap_files : 8;
        file_ent *nf = realloc(src->files, nc * sizeof *nf);
        if (!nf) {
            H5Fclose(f);
            return azs_fail(AZS_ERR_NOMEM, "file table");
        }
        src->files = nf;
        src->cap_files = nc;
    }
    src->files[src->nfiles].path = xstrdup(path);
    if (!src->files[src->nfiles].path) {
        H5Fclose(f);
        return azs_fail(AZS_ERR_NOMEM, "file table");
    }
    src->files[src->nfiles++].fid = f;
    *fid = f;
    return AZS_OK;
}

/* Resolves `path` in `file` link by link to the real (file, path) of the object.
 * Soft links restart from their target, external links continue in their file. Errors
 * name the missing object or file. Lock held. On success *rfile / *rpath are malloc'd. */
static azs_status resolve(azs_source *src, const char *file, const char *path, int depth,
                          char **rfile, char **rpath)
{
    hid_t fid;
    azs_status s;
    if (depth > MAX_LINK_DEPTH)
        return azs_fail(AZS_ERR_FORMAT, "'%s' in '%s': more than %d nested links (a loop?)",
                        path, file, MAX_LINK_DEPTH);
    if ((s = open_file(src, file, &fid)) != AZS_OK)
        return s;
    size_t plen = strlen(path);
    char *cur = malloc(plen + 2);
    if (!cur)
        return azs_fail(AZS_ERR_NOMEM, "path");
    cur[0] = 0;
    const char *p = path;
    size_t clen = 0;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        cur[clen++] = '/';
        memcpy(cur + clen, p, n);
        clen += n;
        cur[clen] = 0;
        p += n;
        if (n == 1 && cur[clen - 1] == '.') { /* "a/./b" */
            clen -= 2;
            cur[clen] = 0;
            continue;
        }
        htri_t ex = H5Lexists(fid, cur, H5P_DEFAULT);
        if (ex <= 0) {
            s = azs_fail(AZS_ERR_NOT_FOUND, "file '%s' has no object '%s'", file, cur);
            free(cur);
            return s;
        }
        H5L_info_t li;
        if (H5Lget_info(fid, cur, &li, H5P_DEFAULT) < 0) {
            char what[1200];
            snprintf(what, sizeof what, "'%s' in '%s': cannot read link", cur, file);
            free(cur);
            return h5_fail_close(AZS_ERR_CORRUPT, what);
        }
        if (li.type == H5L_TYPE_HARD)
            continue;
        if (li.type != H5L_TYPE_SOFT && li.type != H5L_TYPE_EXTERNAL) {
            s = azs_fail(AZS_ERR_UNSUPPORTED, "'%s' in '%s': user-defined link type %d", cur,
                         file, (int)li.type);
            free(cur);
            return s;
        }
        char *val = malloc(li.u.val_size + 1);
        if (!val) {
            free(cur);
            return azs_fail(AZS_ERR_NOMEM, "link value");
        }
        if (H5Lget_val(fid, cur, val, li.u.val_size, H5P_DEFAULT) < 0) {
            char what[1200];
            snprintf(what, sizeof what, "'%s' in '%s': cannot read link value", cur, file);
            free(val);
            free(cur);
            return h5_fail_close(AZS_ERR_CORRUPT, what);
        }
        val[li.u.val_size] = 0;
        if (li.type == H5L_TYPE_SOFT) {
            /* A relative soft link is relative to the group holding it. */
            char *target;
            if (val[0] == '/') {
                target = join_path(val, p);
            } else {
                char *slash = strrchr(cur, '/');
                *slash = 0;
                char *base = join_path(cur[0] ? cur : "/", val);
                target = base ? join_path(base, p) : NULL;
                free(base);
            }
            free(val);
            free(cur);
            if (!target)
                return azs_fail(AZS_ERR_NOMEM, "path");
            s = resolve(src, file, target, depth + 1, rfile, rpath);
            free(target);
            return s;
        }
        /* external */
        const char *efile = NULL, *eobj = NULL;
        unsigned flags;
        if (H5Lunpack_elink_val(val, li.u.val_size, &flags, &efile, &eobj) < 0) {
            free(val);
            s = azs_fail(AZS_ERR_CORRUPT, "'%s' in '%s': bad external link", cur, file);
            free(cur);
            return s;
        }
        char *missing = NULL;
        char *found = locate_file(file, efile, &missing);
        if (!found) {
            s = azs_fail(AZS_ERR_NOT_FOUND,
                         "external link '%s' in '%s' points to missing file '%s' (looked for "
                         "'%s')",
                         cur, file, efile, missing ? missing : efile);
            free(missing);
            free(val);
            free(cur);
            return s;
        }
        char *target = join_path(eobj, p);
        free(val);
        free(cur);
        if (!target) {
            free(found);
            return azs_fail(AZS_ERR_NOMEM, "path");
        }
        s = resolve(src, found, target, depth + 1, rfile, rpath);
        free(found);
        free(target);
        return s;
    }
    if (clen == 0) {
        cur[0] = '/';
        cur[1] = 0;
    }
    *rfile = xstrdup(file);
    *rpath = cur;
    if (!*rfile) {
        free(cur);
        return azs_fail(AZS_ERR_NOMEM, "path");
    }
    return AZS_OK;
}

static hid_t file_id(azs_source *src, const char *path)
{
    for (size_t i = 0; i < src->nfiles; i++)
        if (!strcmp(src->files[i].path, path))
            return src->files[i].fid;
    return -1;
}

/* ---------- dataset description ---------- */

static azs_status map_dtype(hid_t tid, const char *where, azs_dtype *dt)
{
    H5T_class_t cls = H5Tget_class(tid);
    size_t sz = H5Tget_size(tid);
    H5T_order_t order = H5Tget_order(tid);
    if (cls == H5T_INTEGER) {
        int sgn = H5Tget_sign(tid) == H5T_SGN_2;
        switch (sz) {
        case 1: *dt = sgn ? AZS_I8 : AZS_U8; break;
        case 2: *dt = sgn ? AZS_I16 : AZS_U16; break;
        case 4: *dt = sgn ? AZS_I32 : AZS_U32; break;
        case 8: *dt = sgn ? AZS_I64 : AZS_U64; break;
        default:
            return azs_fail(AZS_ERR_UNSUPPORTED, "%s: integer of %zu bytes", where, sz);
        }
    } else if (cls == H5T_FLOAT && (sz == 4 || sz == 8)) {
        *dt = sz == 4 ? AZS_F32 : AZS_F64;
    } else {
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "%s: element type (class %d, %zu bytes) is not an integer or float",
                        where, (int)cls, sz);
    }
    if (sz > 1 && order != H5T_ORDER_LE)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s: big-endian pixels", where);
    return AZS_OK;
}

/* Reads dtype/shape/layout/filter of one dataset into a new part; checks it agrees with
 * what earlier parts said. Lock held. */
static azs_status describe(azs_source *src, part *pt, hid_t did, const char *where,
                           uint64_t *nframes_in_dset)
{
    azs_status s = AZS_OK;
    hid_t tid = H5Dget_type(did), sid = H5Dget_space(did), dcpl = H5Dget_create_plist(did);
    azs_dtype dt = AZS_DTYPE_INVALID;
    if (tid < 0 || sid < 0 || dcpl < 0) {
        s = h5_fail_close(AZS_ERR_CORRUPT, where);
        goto out;
    }
    int rank = H5Sget_simple_extent_ndims(sid);
    hsize_t dims[H5S_MAX_RANK];
    if (rank != 2 && rank != 3) {
        s = azs_fail(AZS_ERR_FORMAT,
                     "%s: dataset has %d dimension%s, expected 3 (frames, ny, nx) or 2 (one "
                     "frame)",
                     where, rank, rank == 1 ? "" : "s");
        goto out;
    }
    if ((s = map_dtype(tid, where, &dt)) != AZS_OK)
        goto out;
    H5Sget_simple_extent_dims(sid, dims, NULL);
    uint64_t nf = rank == 3 ? dims[0] : 1;
    uint64_t ny = dims[rank - 2], nx = dims[rank - 1];
    if (ny == 0 || nx == 0 || ny > UINT32_MAX || nx > UINT32_MAX) {
        s = azs_fail(AZS_ERR_FORMAT, "%s: frame shape %llu x %llu", where,
                     (unsigned long long)ny, (unsigned long long)nx);
        goto out;
    }
    pt->rank = rank;
    *nframes_in_dset = nf;

    /* filter */
    pt->codec = AZS_CODEC_NONE;
    pt->filter_id = 0;
    unsigned cd[8] = {0};
    size_t ncd = 0;
    int nfil = H5Pget_nfilters(dcpl);
    if (nfil > 0) {
        unsigned flags;
        size_t ncd_all = 8;
        char name[64] = "";
        H5Z_filter_t id = H5Pget_filter2(dcpl, 0, &flags, &ncd_all, cd, sizeof name, name, NULL);
        ncd = ncd_all < 8 ? ncd_all : 8;
        pt->filter_id = (unsigned)id;
        if (nfil == 1 && id == 32008) {
            /* cd_values: (major, minor, elem size, block size, compression[, level]);
             * compression 2 = LZ4, 0/absent = bitshuffle alone, 3 = zstd. */
            unsigned comp = ncd_all > 4 ? cd[4] : 0;
            if (comp != 2) {
                s = azs_fail(AZS_ERR_UNSUPPORTED,
                             "%s: bitshuffle filter (32008) with compression %u (only 2 = LZ4 "
                             "is supported)",
                             where, comp);
                goto out;
            }
            pt->codec = AZS_CODEC_BSLZ4;
        } else if (nfil == 1 && id == 32004) {
            pt->codec = AZS_CODEC_LZ4;
        } else {
            /* Filters this libhdf5 applies itself go through H5Dread; others fail. */
            for (int i = 0; i < nfil; i++) {
                unsigned fl;
                size_t n0 = 0;
                char nm[64] = "";
                H5Z_filter_t fid = H5Pget_filter2(dcpl, (unsigned)i, &fl, &n0, NULL, sizeof nm,
                                                  nm, NULL);
                if (fid == 32008 || fid == 32004 || H5Zfilter_avail(fid) <= 0) {
                    s = azs_fail(AZS_ERR_UNSUPPORTED,
                                 "%s: filter %d%s%s%s%s is not supported (known: 32008 "
                                 "bitshuffle-LZ4, 32004 LZ4 alone, and filters built into "
                                 "libhdf5)",
                                 where, (int)fid, nm[0] ? " ('" : "", nm, nm[0] ? "')" : "",
                                 nfil > 1 ? " in a pipeline of several filters" : "");
                    goto out;
                }
            }
            pt->path = PART_FILTERED;
        }
    }

    /* layout */
    H5D_layout_t lay = H5Pget_layout(dcpl);
    memset(pt->chunk, 0, sizeof pt->chunk);
    if (lay == H5D_CHUNKED) {
        hsize_t cd3[H5S_MAX_RANK];
        H5Pget_chunk(dcpl, rank, cd3);
        for (int i = 0; i < rank; i++)
            pt->chunk[i] = cd3[i];
        int one_frame = (rank == 2 || cd3[0] == 1) && cd3[rank - 2] == ny && cd3[rank - 1] == nx;
        if (!one_frame)
            pt->path = PART_FILTERED;
    } else if (lay == H5D_CONTIGUOUS) {
        if (H5Pget_external(dcpl, 0, 0, NULL, NULL, NULL) >= 0 && H5Pget_external_count(dcpl) > 0)
            pt->path = PART_FILTERED; /* raw data in external flat files */
    } else {
        pt->path = PART_FILTERED; /* compact (virtual is handled by the caller) */
    }

    /* agreement with the first part */
    if (pt == &src->parts[0]) {
        azs_source_info *in = &src->info;
        in->ny = (uint32_t)ny;
        in->nx = (uint32_t)nx;
        in->dtype = dt;
        in->elem_size = azs_dtype_size(dt);
        in->frame_bytes = (size_t)(ny * nx) * in->elem_size;
        in->codec = pt->codec;
        in->filter_id = pt->filter_id;
        memcpy(in->filter_params, cd, sizeof cd);
        in->n_filter_params = ncd;
        for (int i = 0; i < 3; i++)
            in->chunk_dims[i] = rank == 3 ? pt->chunk[i] : (i == 0 ? (pt->chunk[0] ? 1 : 0) : pt->chunk[i - 1]);
    } else {
        const azs_source_info *in = &src->info;
        if (ny != in->ny || nx != in->nx || dt != in->dtype) {
            s = azs_fail(AZS_ERR_FORMAT,
                         "%s: frames %llu x %llu %s differ from the first part's %u x %u %s",
                         where, (unsigned long long)ny, (unsigned long long)nx,
                         azs_dtype_name(dt), in->ny, in->nx, azs_dtype_name(in->dtype));
            goto out;
        }
        if (pt->codec != in->codec || pt->filter_id != in->filter_id) {
            s = azs_fail(AZS_ERR_FORMAT, "%s: filter %u differs from the first part's %u",
                         where, pt->filter_id, in->filter_id);
            goto out;
        }
    }
out:
    if (tid >= 0)
        H5Tclose(tid);
    if (sid >= 0)
        H5Sclose(sid);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return s;
}

static azs_status push_part(azs_source *src, part **out)
{
    if (src->nparts == src->cap_parts) {
        size_t nc = src->cap_parts ? 2 * src->cap_parts : 4;
        part *np = realloc(src->parts, nc * sizeof *np);
        if (!np)
            return azs_fail(AZS_ERR_NOMEM, "part table");
        src->parts = np;
        src->cap_parts = nc;
    }
    part *pt = &src->parts[src->nparts];
    memset(pt, 0, sizeof *pt);
    pt->fd = -1;
    pt->did = -1;
    *out = pt;
    return AZS_OK;
}

/* Adds the non-virtual dataset (rfile, rpath) frames [src_first, src_first+n) as a part;
 * n = UINT64_MAX means all frames. Lock held. */
static azs_status add_plain(azs_source *src, const char *rfile, const char *rpath,
                            uint64_t src_first, uint64_t n)
{
    part *pt = NULL;
    azs_status s = push_part(src, &pt);
    if (s)
        return s;
    char where[1100];
    snprintf(where, sizeof where, "'%s' in '%s'", rpath, rfile);
    hid_t fid = file_id(src, rfile);
    hid_t did = H5Dopen2(fid, rpath, H5P_DEFAULT);
    if (did < 0) {
        char what[1200];
        snprintf(what, sizeof what, "%s: cannot open dataset (not a dataset?)", where);
        return h5_fail_close(AZS_ERR_FORMAT, what);
    }
    pt->did = did;
    pt->file = xstrdup(rfile);
    pt->dset = xstrdup(rpath);
    src->nparts++; /* from here on, close() cleans the part up */
    if (!pt->file || !pt->dset)
        return azs_fail(AZS_ERR_NOMEM, "part");
    hid_t dcpl = H5Dget_create_plist(did);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lay == H5D_VIRTUAL)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s: a virtual dataset whose sources are virtual "
                        "datasets", where);
    uint64_t nf = 0;
    if ((s = describe(src, pt, did, where, &nf)) != AZS_OK)
        return s;
    if (n == UINT64_MAX)
        n = nf;
    if (src_first > nf || n > nf - src_first)
        return azs_fail(AZS_ERR_FORMAT, "%s: frames %llu..%llu requested, dataset has %llu",
                        where, (unsigned long long)src_first,
                        (unsigned long long)(src_first + n), (unsigned long long)nf);
    pt->src_first = src_first;
    pt->n = n;
    pt->first = src->info.nframes;
    src->info.nframes += n;
    return AZS_OK;
}

/* ---------- Eiger master: data_NNNNNN links ---------- */

typedef struct {
    char **names;
    size_t n, cap;
    int nomem;
} name_list;

static int is_data_link(const char *name)
{
    if (strncmp(name, "data_", 5))
        return 0;
    const char *d = name + 5;
    size_t k = 0;
    while (d[k] >= '0' && d[k] <= '9')
        k++;
    return k >= 6 && d[k] == 0;
}

static herr_t collect_cb(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    name_list *l = data;
    (void)g;
    (void)info;
    if (!is_data_link(name))
        return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 16;
        char **nn = realloc(l->names, nc * sizeof *nn);
        if (!nn) {
            l->nomem = 1;
            return 1;
        }
        l->names = nn;
        l->cap = nc;
    }
    l->names[l->n] = xstrdup(name);
    if (!l->names[l->n]) {
        l->nomem = 1;
        return 1;
    }
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists data_NNNNNN links of group `gpath` (already resolved) in name order. */
static azs_status list_data_links(hid_t fid, const char *gpath, name_list *l)
{
    hid_t gid = H5Gopen2(fid, gpath, H5P_DEFAULT);
    if (gid < 0)
        return h5_fail_close(AZS_ERR_FORMAT, "cannot open group");
    hsize_t idx = 0;
    herr_t r = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_cb, l);
    H5Gclose(gid);
    if (l->nomem)
        return azs_fail(AZS_ERR_NOMEM, "link list");
    if (r < 0)
        return h5_fail_close(AZS_ERR_CORRUPT, "cannot list links");
    if (l->n > 1)
        qsort(l->names, l->n, sizeof *l->names, cmp_str);
    return AZS_OK;
}

static void free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

static azs_status add_master(azs_source *src, const char *file, const char *gpath)
{
    name_list l = {0};
    hid_t fid = file_id(src, file);
    azs_status s = list_data_links(fid, gpath, &l);
    if (s) {
        azs_fail_context(s, "'%s' in '%s': ", gpath, file);
        free_names(&l);
        return s;
    }
    if (l.n == 0) {
        free_names(&l);
        return azs_fail(AZS_ERR_NOT_FOUND, "'%s' in '%s' is a group without data_NNNNNN links",
                        gpath, file);
    }
    /* Resolve every link first: missing files at the end are dropped (a master written
     * ahead of its data files), a missing one followed by a present one is an error. */
    char **rf = calloc(l.n, sizeof *rf), **rp = calloc(l.n, sizeof *rp);
    size_t nok = 0;
    char first_missing[1024] = "";
    size_t first_missing_i = 0;
    if (!rf || !rp) {
        s = azs_fail(AZS_ERR_NOMEM, "link list");
        goto out;
    }
    for (size_t i = 0; i < l.n; i++) {
        char *lp = join_path(gpath, l.names[i]);
        if (!lp) {
            s = azs_fail(AZS_ERR_NOMEM, "path");
            goto out;
        }
        s = resolve(src, file, lp, 0, &rf[i], &rp[i]);
        free(lp);
        if (s == AZS_ERR_NOT_FOUND) {
            if (!first_missing[0]) {
                snprintf(first_missing, sizeof first_missing, "%s", azs_last_error());
                first_missing_i = i;
            }
            s = AZS_OK;
            continue;
        }
        if (s)
            goto out;
        if (first_missing[0]) {
            s = azs_fail(AZS_ERR_NOT_FOUND, "master '%s': %s (but a later link, %s, exists)",
                         file, first_missing, l.names[i]);
            goto out;
        }
        nok = i + 1;
    }
    if (nok == 0) {
        s = azs_fail(AZS_ERR_NOT_FOUND, "master '%s': no data file found: %s", file,
                     first_missing);
        goto out;
    }
    (void)first_missing_i;
    for (size_t i = 0; i < nok; i++)
        if ((s = add_plain(src, rf[i], rp[i], 0, UINT64_MAX)) != AZS_OK)
            goto out;
out:
    for (size_t i = 0; i < l.n; i++) {
        if (rf)
            free(rf[i]);
        if (rp)
            free(rp[i]);
    }
    free(rf);
    free(rp);
    free_names(&l);
    return s;
}

/* ---------- virtual datasets ---------- */

/* A selection that is one block [start, start+block) per dimension. */
static int simple_block(hid_t sp, int rank, hsize_t *start, hsize_t *block)
{
    if (H5Sget_select_type(sp) == H5S_SEL_ALL) {
        hsize_t dims[H5S_MAX_RANK];
        if (H5Sget_simple_extent_dims(sp, dims, NULL) != rank)
            return 0;
        for (int i = 0; i < rank; i++)
            start[i] = 0, block[i] = dims[i];
        return 1;
    }
    if (H5Sget_select_type(sp) != H5S_SEL_HYPERSLABS || H5Sis_regular_hyperslab(sp) <= 0)
        return 0;
    if (H5Sget_simple_extent_ndims(sp) != rank)
        return 0;
    hsize_t st[H5S_MAX_RANK], sd[H5S_MAX_RANK], ct[H5S_MAX_RANK], bl[H5S_MAX_RANK];
    if (H5Sget_regular_hyperslab(sp, st, sd, ct, bl) < 0)
        return 0;
    for (int i = 0; i < rank; i++) {
        if (ct[i] == H5S_UNLIMITED || bl[i] == H5S_UNLIMITED)
            return 0;
        /* count blocks of 1 with stride 1 are one block too */
        if (ct[i] == 1) {
            start[i] = st[i], block[i] = bl[i];
        } else if (bl[i] == 1 && sd[i] == 1) {
            start[i] = st[i], block[i] = ct[i];
        } else {
            return 0;
        }
    }
    return 1;
}

static azs_status add_virtual(azs_source *src, const char *file, const char *path, hid_t did)
{
    char where[1100];
    snprintf(where, sizeof where, "'%s' in '%s'", path, file);
    hid_t dcpl = H5Dget_create_plist(did);
    hid_t vsp = H5Dget_space(did);
    azs_status s = AZS_OK;
    size_t count = 0;
    int rank = H5Sget_simple_extent_ndims(vsp);
    hsize_t vdims[H5S_MAX_RANK];
    if (dcpl < 0 || vsp < 0 || H5Pget_virtual_count(dcpl, &count) < 0) {
        s = h5_fail_close(AZS_ERR_CORRUPT, where);
        goto out;
    }
    if (rank != 2 && rank != 3) {
        s = azs_fail(AZS_ERR_FORMAT,
                     "%s: virtual dataset has %d dimensions, expected 3 (frames, ny, nx) or 2",
                     where, rank);
        goto out;
    }
    H5Sget_simple_extent_dims(vsp, vdims, NULL);
    /* Each mapping must be frames [a, b) x whole frame -> frames [c, c+b-a) of a source,
     * mappings in frame order without gaps; otherwise H5Dread serves the whole VDS. */
    typedef struct { uint64_t va, n, sa; char *sfile, *sdset; } mapping;
    mapping *m = calloc(count ? count : 1, sizeof *m);
    if (!m) {
        s = azs_fail(AZS_ERR_NOMEM, "mappings");
        goto out;
    }
    int simple = count > 0;
    uint64_t next = 0;
    for (size_t i = 0; i < count && s == AZS_OK; i++) {
        hid_t vs = H5Pget_virtual_vspace(dcpl, i), ss = H5Pget_virtual_srcspace(dcpl, i);
        ssize_t nf = H5Pget_virtual_filename(dcpl, i, NULL, 0);
        ssize_t nd = H5Pget_virtual_dsetname(dcpl, i, NULL, 0);
        if (vs < 0 || ss < 0 || nf < 0 || nd < 0) {
            s = h5_fail_close(AZS_ERR_CORRUPT, where);
        } else {
            m[i].sfile = malloc((size_t)nf + 1);
            m[i].sdset = malloc((size_t)nd + 1);
            if (!m[i].sfile || !m[i].sdset) {
                s = azs_fail(AZS_ERR_NOMEM, "mapping");
            } else {
                H5Pget_virtual_filename(dcpl, i, m[i].sfile, (size_t)nf + 1);
                H5Pget_virtual_dsetname(dcpl, i, m[i].sdset, (size_t)nd + 1);
                hsize_t vst[H5S_MAX_RANK], vbl[H5S_MAX_RANK], sst[H5S_MAX_RANK],
                    sbl[H5S_MAX_RANK];
                /* A source selection "all" keeps no extent in the property list: it
                 * is the whole source, as large as the virtual block (add_plain checks
                 * the source's real shape). */
                int src_all = H5Sget_select_type(ss) == H5S_SEL_ALL;
                int vok = simple_block(vs, rank, vst, vbl);
                if (vok && src_all)
                    for (int k = 0; k < rank; k++)
                        sst[k] = 0, sbl[k] = vbl[k];
                if (!vok || (!src_all && (H5Sget_simple_extent_ndims(ss) != rank ||
                                          !simple_block(ss, rank, sst, sbl)))) {
                    simple = 0;
                } else {
                    for (int k = rank - 2; k < rank; k++)
                        if (vst[k] != 0 || vbl[k] != vdims[k] || sst[k] != 0 || sbl[k] != vdims[k])
                            simple = 0;
                    if (rank == 3) {
                        if (vst[0] != next || vbl[0] != sbl[0])
                            simple = 0;
                        m[i].va = vst[0];
                        m[i].n = vbl[0];
                        m[i].sa = sst[0];
                        next = vst[0] + vbl[0];
                    } else {
                        m[i].n = 1;
                    }
                }
            }
        }
        if (vs >= 0)
            H5Sclose(vs);
        if (ss >= 0)
            H5Sclose(ss);
    }
    if (s == AZS_OK && simple && (rank == 3 ? next != vdims[0] : count != 1))
        simple = 0;
    /* Sources must exist whatever the mapping: HDF5 silently fills missing ones. */
    for (size_t i = 0; i < count && s == AZS_OK; i++) {
        char *sfile;
        if (!strcmp(m[i].sfile, ".")) {
            sfile = xstrdup(file);
        } else {
            char *missing = NULL;
            sfile = locate_file(file, m[i].sfile, &missing);
            if (!sfile) {
                s = azs_fail(AZS_ERR_NOT_FOUND,
                             "%s: virtual dataset source file '%s' is missing (looked for '%s')",
                             where, m[i].sfile, missing ? missing : m[i].sfile);
                free(missing);
                break;
            }
        }
        char *rf = NULL, *rp = NULL;
        s = resolve(src, sfile, m[i].sdset, 0, &rf, &rp);
        if (s)
            azs_fail_context(s, "%s: source %zu of the virtual dataset: ", where, i);
        else if (simple)
            s = add_plain(src, rf, rp, m[i].sa, m[i].n);
        free(sfile);
        free(rf);
        free(rp);
    }
    if (s == AZS_OK && !simple) {
        /* One part: the VDS itself, read through H5Dread. Start over on the parts the
         * simple attempt may have added. */
        for (size_t i = 0; i < src->nparts; i++) {
            part *pt = &src->parts[i];
            if (pt->did >= 0)
                H5Dclose(pt->did);
            free(pt->file);
            free(pt->dset);
        }
        src->nparts = 0;
        src->info.nframes = 0;
        part *pt = NULL;
        if ((s = push_part(src, &pt)) == AZS_OK) {
            pt->did = H5Dopen2(file_id(src, file), path, H5P_DEFAULT);
            pt->file = xstrdup(file);
            pt->dset = xstrdup(path);
            src->nparts++;
            if (pt->did < 0) {
                s = h5_fail_close(AZS_ERR_IO, where);
            } else if (!pt->file || !pt->dset) {
                s = azs_fail(AZS_ERR_NOMEM, "part");
            } else {
                pt->path = PART_FILTERED;
                azs_dtype dt;
                hid_t tid = H5Dget_type(did);
                s = map_dtype(tid, where, &dt);
                H5Tclose(tid);
                if (s == AZS_OK) {
                    pt->rank = rank;
                    pt->n = rank == 3 ? vdims[0] : 1;
                    src->info.nframes = pt->n;
                    src->info.ny = (uint32_t)vdims[rank - 2];
                    src->info.nx = (uint32_t)vdims[rank - 1];
                    src->info.dtype = dt;
                    src->info.elem_size = azs_dtype_size(dt);
                    src->info.frame_bytes =
                        (size_t)vdims[rank - 2] * vdims[rank - 1] * src->info.elem_size;
                }
            }
        }
    }
    for (size_t i = 0; i < count; i++) {
        free(m[i].sfile);
        free(m[i].sdset);
    }
    free(m);
out:
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (vsp >= 0)
        H5Sclose(vsp);
    return s;
}

/* ---------- chunk index ---------- */

/* The part's file: sizes of offsets and lengths, user block size. 0 if libhdf5 cannot say. */
static int file_layout(const part *pt, size_t *sa, size_t *ss, hsize_t *ub)
{
    hid_t fid = H5Iget_file_id(pt->did), fcpl = fid >= 0 ? H5Fget_create_plist(fid) : -1;
    int ok = fcpl >= 0 && H5Pget_sizes(fcpl, sa, ss) >= 0 && H5Pget_userblock(fcpl, ub) >= 0;
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fid >= 0)
        H5Fclose(fid);
    return ok;
}

/* libhdf5 1.10's H5Dget_chunk_info_by_coord gives chunk addresses relative to the end of
 * the user block (later versions: file offsets). For a file with a user block, find which
 * by reading one chunk both through libhdf5 and at both offsets: returns the shift to add
 * (0 or the user block size), or -1 when neither matches (the caller reads through
 * libhdf5). */
static int64_t chunk_addr_shift(azs_source *src, const part *pt)
{
    size_t sa, ss;
    hsize_t ub = 0;
    if (!file_layout(pt, &sa, &ss, &ub))
        return -1;
    if (ub == 0)
        return 0;
    uint64_t i = 0;
    while (i < pt->n && (src->flag[pt->first + i] & FLAG_UNALLOCATED))
        i++;
    if (i == pt->n)
        return 0;
    const size_t g = (size_t)(pt->first + i), n = src->size[g];
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    int fd = open(pt->file, O_RDONLY | O_CLOEXEC);
    hsize_t c[3] = {pt->src_first + i, 0, 0};
    uint32_t mask = 0;
    int64_t shift = -1;
    if (a && b && fd >= 0 &&
        H5Dread_chunk(pt->did, H5P_DEFAULT, pt->rank == 3 ? c : c + 1, &mask, a) >= 0) {
        if (pread(fd, b, n, (off_t)(src->off[g] + ub)) == (ssize_t)n && !memcmp(a, b, n))
            shift = (int64_t)ub;
        else if (pread(fd, b, n, (off_t)src->off[g]) == (ssize_t)n && !memcmp(a, b, n))
            shift = 0;
    }
    if (fd >= 0)
        close(fd);
    free(a);
    free(b);
    return shift;
}

/* The part's chunk index by one walk of its v1 B-tree, fixed array or extensible array
 * (chunk_btree.h): returns 1 when it
 * filled the part's entries of off/size/flag; 0 when the caller must ask libhdf5 chunk by
 * chunk (another index type or layout version, or a disagreement with libhdf5 on the
 * frames spot-checked, or an object header we do not read); -1 with the error set when
 * the tree is damaged (a frame out of order or twice, a node outside the file ...):
 * libhdf5's lookups and scans disagree with each other on such a tree, so no frame of it
 * is trusted. */
static int index_from_btree(azs_source *src, const part *pt, azs_status *err)
{
    H5D_chunk_index_t idx;
    if (pt->rank != 3 || pt->chunk[0] != 1 || H5Dget_chunk_index_type(pt->did, &idx) < 0 ||
        (idx != H5D_CHUNK_IDX_BTREE && idx != H5D_CHUNK_IDX_EARRAY &&
         idx != H5D_CHUNK_IDX_FARRAY))
        return 0;
    hsize_t dims[3] = {0, 0, 0};
    hid_t sp = H5Dget_space(pt->did);
    int ok = sp >= 0 && H5Sget_simple_extent_dims(sp, dims, NULL) == 3;
    if (sp >= 0)
        H5Sclose(sp);
    size_t sa = 0, ss = 0;
    hsize_t ub = 0;
    ok = ok && file_layout(pt, &sa, &ss, &ub);
#if H5_VERSION_GE(1, 12, 0)
    H5O_info1_t oi;
#else
    H5O_info_t oi;
#endif
    ok = ok && H5Oget_info2(pt->did, &oi, H5O_INFO_BASIC) >= 0;
    if (!ok)
        return 0;
    int fd = open(pt->file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    azs_h5_bytes f = {fd, (uint64_t)ub, (uint64_t)st.st_size, (unsigned)sa, (unsigned)ss};
    uint64_t btree = 0;
    unsigned key_dims = 0;
    const size_t g0 = (size_t)pt->first;
    uint8_t *skipped = malloc(pt->n ? (size_t)pt->n : 1), *found = malloc(pt->n ? (size_t)pt->n : 1);
    /* libhdf5 has read this object header: if we cannot, that is our limit, not damage */
    azs_status s = AZS_ERR_UNSUPPORTED;
    if (idx == H5D_CHUNK_IDX_BTREE && skipped && found &&
        azs_h5_chunk_btree_addr(&f, oi.addr, &btree, &key_dims) == AZS_OK)
        s = azs_h5_chunk_btree_walk(&f, btree, key_dims, pt->src_first, pt->n, dims[0],
                                    src->off + g0, src->size + g0, skipped, found);
    /* fixed and extensible arrays have no order to check: any trouble, and libhdf5 is asked */
    unsigned atype = 0;
    if (idx != H5D_CHUNK_IDX_BTREE && skipped && found &&
        azs_h5_chunk_array_addr(&f, oi.addr, &atype, &btree) == AZS_OK &&
        (atype == 3 ? azs_h5_chunk_farray_walk : azs_h5_chunk_earray_walk)(
            &f, btree, pt->src_first, pt->n, dims[0], (uint32_t)src->info.frame_bytes,
            src->off + g0, src->size + g0, skipped, found) == AZS_OK)
        s = AZS_OK;
    close(fd);
    if (s == AZS_ERR_CORRUPT || s == AZS_ERR_TRUNCATED || s == AZS_ERR_IO) {
        char why[512];
        snprintf(why, sizeof why, "%s", azs_last_error());
        *err = azs_fail(s, "'%s' in '%s': damaged %s", pt->dset, pt->file, why);
        free(skipped);
        free(found);
        return -1;
    }
    /* spot checks: 9 frames found, first to last, must agree with libhdf5 (each check is a
     * scan of the index by libhdf5: 9 of them stay linear) */
    for (int k = 0; s == AZS_OK && k < 9 && pt->n; k++) {
        uint64_t i = (pt->n - 1) * (uint64_t)k / 8;
        while (i < pt->n && !found[i])
            i++;
        if (i == pt->n)
            break;
        hsize_t c[3] = {pt->src_first + i, 0, 0}, sz = 0;
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        /* (libhdf5 1.10 gives addresses relative to the user block, later ones absolute) */
        if (H5Dget_chunk_info_by_coord(pt->did, c, &mask, &addr, &sz) < 0 ||
            (addr != src->off[g0 + i] && addr != src->off[g0 + i] + ub) ||
            sz != src->size[g0 + i] || (mask & 1u) != skipped[i])
            s = AZS_ERR_CORRUPT;
    }
    if (s == AZS_OK)
        for (uint64_t i = 0; i < pt->n; i++) {
            src->flag[g0 + i] |= !found[i] ? FLAG_UNALLOCATED : skipped[i] ? FLAG_SKIPPED : 0;
            src->off[g0 + i] += ub; /* HDF5 addresses count from the end of the user block */
        }
    free(skipped);
    free(found);
    return s == AZS_OK;
}

static azs_status build_index(azs_source *src)
{
    uint64_t n = src->info.nframes;
    size_t nn = n ? (size_t)n : 1;
    src->off = calloc(nn, sizeof *src->off);
    src->size = calloc(nn, sizeof *src->size);
    src->flag = calloc(nn, 1);
    if (!src->off || !src->size || !src->flag)
        return azs_fail(AZS_ERR_NOMEM, "chunk index of %llu frames", (unsigned long long)n);
    size_t maxb = 0;
    uint64_t stored = 0;
    int fast;
    azs_status fast_err = AZS_OK;
    for (size_t pi = 0; pi < src->nparts; pi++) {
        part *pt = &src->parts[pi];
        if (pt->path == PART_FILTERED)
            continue;
        hid_t dcpl = H5Dget_create_plist(pt->did);
        H5D_layout_t lay = H5Pget_layout(dcpl);
        H5Pclose(dcpl);
        if (lay == H5D_CONTIGUOUS) {
            haddr_t base = H5Dget_offset(pt->did);
            if (base == HADDR_UNDEF) { /* never written: H5Dread gives the fill value */
                pt->path = PART_FILTERED;
                continue;
            }
            for (uint64_t f = 0; f < pt->n; f++) {
                src->off[pt->first + f] = base + (pt->src_first + f) * src->info.frame_bytes;
                src->size[pt->first + f] = (uint32_t)src->info.frame_bytes;
            }
            if (src->info.frame_bytes > UINT32_MAX)
                return azs_fail(AZS_ERR_UNSUPPORTED, "frames over 4 GiB");
            maxb = src->info.frame_bytes > maxb ? src->info.frame_bytes : maxb;
            stored += pt->n * src->info.frame_bytes;
        } else if ((fast = index_from_btree(src, pt, &fast_err)) != 0) {
            if (fast < 0)
                return fast_err;
            src->info.nparts_walked++;
            for (uint64_t f = 0; f < pt->n; f++) {
                size_t g = (size_t)(pt->first + f);
                if (src->flag[g] & FLAG_UNALLOCATED)
                    continue;
                maxb = src->size[g] > maxb ? (size_t)src->size[g] : maxb;
                stored += src->size[g];
            }
        } else {
            const uint64_t stored0 = stored;
            for (uint64_t f = 0; f < pt->n; f++) {
                hsize_t c[3] = {pt->src_first + f, 0, 0};
                unsigned mask = 0;
                haddr_t addr = HADDR_UNDEF;
                hsize_t sz = 0;
                if (H5Dget_chunk_info_by_coord(pt->did, pt->rank == 3 ? c : c + 1, &mask, &addr,
                                               &sz) < 0) {
                    /* index unreadable by address: H5Dread_chunk still works */
                    pt->path = PART_DIRECT;
                    break;
                }
                size_t g = (size_t)(pt->first + f);
                if (addr == HADDR_UNDEF) {
                    src->flag[g] |= FLAG_UNALLOCATED;
                    continue;
                }
                if (sz > UINT32_MAX)
                    return azs_fail(AZS_ERR_UNSUPPORTED, "'%s' in '%s': chunk over 4 GiB",
                                    pt->dset, pt->file);
                src->off[g] = addr;
                src->size[g] = (uint32_t)sz;
                if (mask & 1u)
                    src->flag[g] |= FLAG_SKIPPED;
                maxb = sz > maxb ? (size_t)sz : maxb;
                stored += sz;
            }
            if (pt->path == PART_PREAD) {
                int64_t shift = chunk_addr_shift(src, pt);
                if (shift < 0) { /* counted again below */
                    pt->path = PART_DIRECT;
                    stored = stored0;
                }
                for (uint64_t f = 0; shift > 0 && f < pt->n; f++)
                    src->off[pt->first + f] += (uint64_t)shift;
            }
            if (pt->path == PART_DIRECT) {
                for (uint64_t f = 0; f < pt->n; f++) {
                    hsize_t c[3] = {pt->src_first + f, 0, 0}, sz = 0;
                    if (H5Dget_chunk_storage_size(pt->did, pt->rank == 3 ? c : c + 1, &sz) >= 0) {
                        maxb = sz > maxb ? (size_t)sz : maxb;
                        stored += sz;
                    }
                }
            }
        }
        if (pt->path == PART_PREAD) {
            pt->fd = open(pt->file, O_RDONLY | O_CLOEXEC);
            struct stat st;
            if (pt->fd < 0 || fstat(pt->fd, &st) != 0)
                return azs_fail(AZS_ERR_IO, "file '%s': %s", pt->file, strerror(errno));
            for (uint64_t f = 0; f < pt->n; f++) {
                size_t g = (size_t)(pt->first + f);
                if (src->flag[g] & FLAG_UNALLOCATED)
                    continue;
                if (src->off[g] > (uint64_t)st.st_size ||
                    src->size[g] > (uint64_t)st.st_size - src->off[g])
                    return azs_fail(AZS_ERR_TRUNCATED,
                                    "file '%s' (%lld bytes) ends before frame %llu of '%s' "
                                    "(bytes %llu..%llu): truncated copy?",
                                    pt->file, (long long)st.st_size,
                                    (unsigned long long)(pt->src_first + f), pt->dset,
                                    (unsigned long long)src->off[g],
                                    (unsigned long long)(src->off[g] + src->size[g]));
            }
            /* pread path: HDF5 handle no longer needed */
            H5Dclose(pt->did);
            pt->did = -1;
        }
    }
    src->info.max_chunk_bytes = maxb;
    src->info.stored_bytes = stored;
    azs_read_path rp = AZS_READ_PREAD;
    for (size_t pi = 0; pi < src->nparts; pi++) {
        azs_read_path q = src->parts[pi].path == PART_PREAD    ? AZS_READ_PREAD
                          : src->parts[pi].path == PART_DIRECT ? AZS_READ_DIRECT_CHUNK
                                                               : AZS_READ_FILTERED;
        if (q > rp)
            rp = q;
    }
    src->info.read_path = rp;
    if (rp == AZS_READ_FILTERED)
        src->info.max_chunk_bytes = 0;
    return AZS_OK;
}

/* ---------- open / close ---------- */

static azs_status open_locked(azs_source *src, const char *path, const char *dataset)
{
    const char *dpath = dataset && dataset[0] ? dataset : DEFAULT_DATASET;
    hid_t fid;
    azs_status s = open_file(src, path, &fid);
    if (s)
        return s;
    char *rf = NULL, *rp = NULL;
    s = resolve(src, path, dpath, 0, &rf, &rp);
    if (s == AZS_ERR_NOT_FOUND && !strcmp(dpath, DEFAULT_DATASET) &&
        H5Lexists(fid, "/entry", H5P_DEFAULT) > 0 && H5Lexists(fid, "/entry/data", H5P_DEFAULT) > 0 &&
        H5Lexists(fid, DEFAULT_DATASET, H5P_DEFAULT) == 0) {
        /* An Eiger master without /entry/data/data: its data_NNNNNN links. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", azs_last_error());
        s = resolve(src, path, "/entry/data", 0, &rf, &rp);
        if (s == AZS_OK) {
            name_list l = {0};
            s = list_data_links(file_id(src, rf), rp, &l);
            size_t n = l.n;
            free_names(&l);
            if (s == AZS_OK && n == 0)
                s = azs_fail(AZS_ERR_NOT_FOUND, "%s (and /entry/data has no data_NNNNNN links)",
                             saved);
        }
        if (s) {
            free(rf);
            free(rp);
            return s;
        }
    } else if (s) {
        return s;
    }
    hid_t rfid = file_id(src, rf);
    hid_t oid = H5Oopen(rfid, rp, H5P_DEFAULT);
    if (oid < 0) {
        char what[1200];
        snprintf(what, sizeof what, "'%s' in '%s': cannot open object", rp, rf);
        s = h5_fail_close(AZS_ERR_CORRUPT, what);
    } else {
        H5I_type_t t = H5Iget_type(oid);
        if (t == H5I_GROUP) {
            s = add_master(src, rf, rp);
        } else if (t == H5I_DATASET) {
            hid_t dcpl = H5Dget_create_plist(oid);
            H5D_layout_t lay = H5Pget_layout(dcpl);
            H5Pclose(dcpl);
            if (lay == H5D_VIRTUAL)
                s = add_virtual(src, rf, rp, oid);
            else
                s = add_plain(src, rf, rp, 0, UINT64_MAX);
        } else {
            s = azs_fail(AZS_ERR_FORMAT, "'%s' in '%s' is neither a dataset nor a group", rp, rf);
        }
        H5Oclose(oid);
    }
    free(rf);
    free(rp);
    if (s)
        return s;
    if (src->info.nframes == 0)
        return azs_fail(AZS_ERR_FORMAT, "'%s' in '%s' holds no frames", dpath, path);
    src->info.nparts = src->nparts;
    return build_index(src);
}

azs_status azs_source_open(const char *path, const char *dataset, azs_source **out)
{
    if (!out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_open: no file name");
    azs_source *src = calloc(1, sizeof *src);
    if (!src)
        return azs_fail(AZS_ERR_NOMEM, "source");
    azs_h5_lock();
    azs_status s = open_locked(src, path, dataset);
    azs_h5_unlock();
    if (s) {
        azs_fail_context(s, "%s%s%s: ", path, dataset ? ":" : "", dataset ? dataset : "");
        azs_source_close(src);
        return s;
    }
    *out = src;
    return AZS_OK;
}

void azs_source_close(azs_source *src)
{
    if (!src)
        return;
    azs_h5_lock();
    for (size_t i = 0; i < src->nparts; i++) {
        part *pt = &src->parts[i];
        if (pt->did >= 0)
            H5Dclose(pt->did);
        if (pt->fd >= 0)
            close(pt->fd);
        free(pt->file);
        free(pt->dset);
    }
    for (size_t i = 0; i < src->nfiles; i++) {
        H5Fclose(src->files[i].fid);
        free(src->files[i].path);
    }
    azs_h5_unlock();
    free(src->parts);
    free(src->files);
    free(src->off);
    free(src->size);
    free(src->flag);
    free(src);
}

const azs_source_info *azs_source_get_info(const azs_source *src) { return &src->info; }

azs_status azs_source_get_part(const azs_source *src, size_t i, azs_source_part *p)
{
    if (!src || !p || i >= src->nparts)
        return azs_fail(AZS_ERR_INVALID_ARG, "part %zu of %zu", i, src ? src->nparts : 0);
    p->file = src->parts[i].file;
    p->dataset = src->parts[i].dset;
    p->first_frame = src->parts[i].first;
    p->nframes = src->parts[i].n;
    return AZS_OK;
}

/* ---------- reading ---------- */

static const part *find_part(const azs_source *src, uint64_t frame)
{
    size_t lo = 0, hi = src->nparts;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (src->parts[mid].first <= frame)
            lo = mid;
        else
            hi = mid;
    }
    return &src->parts[lo];
}

static azs_status pread_all(int fd, void *buf, size_t n, uint64_t off, const part *pt,
                            uint64_t frame)
{
    char *b = buf;
    while (n > 0) {
        ssize_t r = pread(fd, b, n, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return azs_fail(AZS_ERR_IO, "'%s': reading frame %llu: %s", pt->file,
                            (unsigned long long)frame, strerror(errno));
        if (r == 0)
            return azs_fail(AZS_ERR_TRUNCATED, "'%s': file ends inside frame %llu (offset %llu)",
                            pt->file, (unsigned long long)frame, (unsigned long long)off);
        b += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return AZS_OK;
}

azs_status azs_source_read_raw(azs_source *src, uint64_t frame, void *buf, size_t capacity,
                               size_t *size)
{
    if (!src || !buf || !size)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_read_raw: NULL argument");
    if (frame >= src->info.nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "frame %llu out of range (%llu frames)",
                        (unsigned long long)frame, (unsigned long long)src->info.nframes);
    const part *pt = find_part(src, frame);
    uint64_t local = pt->src_first + (frame - pt->first);
    if (pt->path == PART_FILTERED)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "'%s' in '%s': no raw chunks (chunks are not one frame each, or the "
                        "filter is applied by HDF5): use azs_source_read_frame",
                        pt->dset, pt->file);
    if (pt->path == PART_DIRECT) {
        hsize_t c[3] = {local, 0, 0}, sz = 0;
        uint32_t mask = 0;
        azs_status s = AZS_OK;
        azs_h5_lock();
        if (H5Dget_chunk_storage_size(pt->did, pt->rank == 3 ? c : c + 1, &sz) < 0)
            s = h5_fail_close(AZS_ERR_IO, "chunk size");
        else if (sz == 0)
            s = azs_fail(AZS_ERR_NOT_FOUND, "frame %llu was never written",
                         (unsigned long long)frame);
        else if (sz > capacity)
            s = azs_fail(AZS_ERR_CAPACITY, "frame %llu: chunk of %llu bytes, buffer %zu",
                         (unsigned long long)frame, (unsigned long long)sz, capacity);
        else if (H5Dread_chunk(pt->did, H5P_DEFAULT, pt->rank == 3 ? c : c + 1, &mask, buf) < 0)
            s = h5_fail_close(AZS_ERR_IO, "H5Dread_chunk");
        else if (mask & 1u)
            s = azs_fail(AZS_ERR_UNSUPPORTED, "frame %llu stored with its filter skipped",
                         (unsigned long long)frame);
        azs_h5_unlock();
        if (s)
            return azs_fail_context(s, "'%s' in '%s': ", pt->dset, pt->file);
        *size = (size_t)sz;
        return AZS_OK;
    }
    uint8_t fl = src->flag[frame];
    if (fl & FLAG_UNALLOCATED)
        return azs_fail(AZS_ERR_NOT_FOUND, "'%s' in '%s': frame %llu was never written",
                        pt->dset, pt->file, (unsigned long long)local);
    if (fl & FLAG_SKIPPED)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "'%s' in '%s': frame %llu stored with its filter skipped (filter mask): "
                        "use azs_source_read_frame",
                        pt->dset, pt->file, (unsigned long long)local);
    size_t n = src->size[frame];
    if (n > capacity)
        return azs_fail(AZS_ERR_CAPACITY, "frame %llu: chunk of %zu bytes, buffer %zu",
                        (unsigned long long)frame, n, capacity);
    azs_status s = pread_all(pt->fd, buf, n, src->off[frame], pt, frame);
    if (s)
        return s;
    *size = n;
    return AZS_OK;
}

azs_status azs_source_map_raw(azs_source *src, uint64_t first, int n, const void **chunks,
                              size_t *sizes, azs_raw_map *map)
{
    if (!src || !chunks || !sizes || !map || n < 1)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_map_raw: bad argument");
    map->base = NULL;
    map->len = 0;
    if (first >= src->info.nframes || (uint64_t)n > src->info.nframes - first)
        return azs_fail(AZS_ERR_INVALID_ARG, "frames %llu..%llu out of range (%llu frames)",
                        (unsigned long long)first, (unsigned long long)(first + (uint64_t)n - 1),
                        (unsigned long long)src->info.nframes);
    const part *pt = find_part(src, first);
    if (pt->path != PART_PREAD || first + (uint64_t)n > pt->first + pt->n)
        return AZS_ERR_UNSUPPORTED;
    uint64_t lo = UINT64_MAX, hi = 0, sum = 0;
    for (int k = 0; k < n; k++) {
        const uint64_t f = first + (uint64_t)k;
        if (src->flag[f] & (FLAG_UNALLOCATED | FLAG_SKIPPED))
            return AZS_ERR_UNSUPPORTED;
        lo = src->off[f] < lo ? src->off[f] : lo;
        hi = src->off[f] + src->size[f] > hi ? src->off[f] + src->size[f] : hi;
        sum += src->size[f];
    }
    /* One mapping for the batch only where its chunks lie together (as a detector writes
     * them): mapping what lies between them would cost page-table work for nothing. */
    if (hi - lo > 2 * sum + ((uint64_t)1 << 16))
        return AZS_ERR_UNSUPPORTED;
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const uint64_t start = lo & ~(page - 1);
    if (hi - start > SIZE_MAX)
        return AZS_ERR_UNSUPPORTED;
    /* MAP_POPULATE: the page-table entries are made in this one call instead of a fault
     * per page while decoding. */
    void *b = mmap(NULL, (size_t)(hi - start), PROT_READ, MAP_SHARED | MAP_POPULATE, pt->fd,
                   (off_t)start);
    if (b == MAP_FAILED)
        return AZS_ERR_UNSUPPORTED; /* e.g. a file system that cannot map: pread it */
    for (int k = 0; k < n; k++) {
        const uint64_t f = first + (uint64_t)k;
        chunks[k] = (const char *)b + (src->off[f] - start);
        sizes[k] = src->size[f];
    }
    map->base = b;
    map->len = (size_t)(hi - start);
    return AZS_OK;
}

void azs_source_unmap_raw(azs_raw_map *map)
{
    if (map && map->base)
        munmap(map->base, map->len);
    if (map)
        map->base = NULL, map->len = 0;
}

static hid_t mem_type(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return H5T_NATIVE_UINT8;
    case AZS_U16: return H5T_NATIVE_UINT16;
    case AZS_U32: return H5T_NATIVE_UINT32;
    case AZS_U64: return H5T_NATIVE_UINT64;
    case AZS_I8: return H5T_NATIVE_INT8;
    case AZS_I16: return H5T_NATIVE_INT16;
    case AZS_I32: return H5T_NATIVE_INT32;
    case AZS_I64: return H5T_NATIVE_INT64;
    case AZS_F32: return H5T_NATIVE_FLOAT;
    case AZS_F64: return H5T_NATIVE_DOUBLE;
    default: return -1;
    }
}

/* H5Dread of one frame (HDF5 applies its own filters). Lock held. */
static azs_status read_h5(const azs_source *src, const part *pt, uint64_t local, void *pixels)
{
    hid_t fsp = H5Dget_space(pt->did);
    hsize_t start[3] = {local, 0, 0}, cnt[3] = {1, src->info.ny, src->info.nx};
    hsize_t mcnt[1] = {(hsize_t)src->info.ny * src->info.nx};
    hid_t msp = H5Screate_simple(1, mcnt, NULL);
    azs_status s = AZS_OK;
    if (fsp < 0 || msp < 0 ||
        H5Sselect_hyperslab(fsp, H5S_SELECT_SET, pt->rank == 3 ? start : start + 1, NULL,
                            pt->rank == 3 ? cnt : cnt + 1, NULL) < 0 ||
        H5Dread(pt->did, mem_type(src->info.dtype), msp, fsp, H5P_DEFAULT, pixels) < 0)
        s = h5_fail_close(AZS_ERR_IO, "H5Dread");
    if (fsp >= 0)
        H5Sclose(fsp);
    if (msp >= 0)
        H5Sclose(msp);
    return s;
}

/* Frame assembled from raw tiles (H5Dread_chunk) decoded by our codec: for chunk
 * layouts that are not one frame per chunk, with filters HDF5 cannot apply here.
 * Allocates one chunk's scratch per call: this is the slow fallback path. Lock held. */
static azs_status read_tiles(const azs_source *src, const part *pt, uint64_t local, void *pixels)
{
    const size_t es = src->info.elem_size;
    const uint64_t ny = src->info.ny, nx = src->info.nx;
    const int r = pt->rank;
    const hsize_t cf = r == 3 ? pt->chunk[0] : 1, cy = pt->chunk[r - 2], cx = pt->chunk[r - 1];
    size_t cbytes = (size_t)(cf * cy * cx) * es;
    uint8_t *dec = malloc(cbytes), *raw = NULL;
    size_t rawcap = 0;
    azs_status s = AZS_OK;
    if (!dec)
        return azs_fail(AZS_ERR_NOMEM, "tile buffer of %zu bytes", cbytes);
    uint64_t f0 = (local / cf) * cf, fi = local - f0;
    for (uint64_t y0 = 0; y0 < ny && s == AZS_OK; y0 += cy) {
        for (uint64_t x0 = 0; x0 < nx && s == AZS_OK; x0 += cx) {
            hsize_t c[3] = {f0, y0, x0}, sz = 0;
            const hsize_t *co = r == 3 ? c : c + 1;
            uint32_t mask = 0;
            uint64_t h = ny - y0 < cy ? ny - y0 : cy, w = nx - x0 < cx ? nx - x0 : cx;
            if (H5Dget_chunk_storage_size(pt->did, co, &sz) < 0 || sz == 0) {
                /* unwritten tile: the fill value, 0 for the default fill */
                for (uint64_t y = 0; y < h; y++)
                    memset((uint8_t *)pixels + ((y0 + y) * nx + x0) * es, 0, (size_t)w * es);
                continue;
            }
            if (sz > rawcap) {
                free(raw);
                raw = malloc((size_t)sz);
                rawcap = raw ? (size_t)sz : 0;
                if (!raw) {
                    s = azs_fail(AZS_ERR_NOMEM, "tile of %llu bytes", (unsigned long long)sz);
                    break;
                }
            }
            if (H5Dread_chunk(pt->did, H5P_DEFAULT, co, &mask, raw) < 0) {
                s = h5_fail_close(AZS_ERR_IO, "H5Dread_chunk");
                break;
            }
            size_t got = 0;
            if (mask & 1u) {
                if (sz != cbytes) {
                    s = azs_fail(AZS_ERR_SIZE_MISMATCH, "unfiltered tile of %llu bytes, "
                                 "expected %zu", (unsigned long long)sz, cbytes);
                    break;
                }
                memcpy(dec, raw, cbytes);
                got = cbytes;
            } else {
                s = azs_chunk_decode(pt->codec, es, raw, (size_t)sz, dec, cbytes, &got);
                if (s == AZS_OK && got != cbytes)
                    s = azs_fail(AZS_ERR_SIZE_MISMATCH, "tile decoded to %zu bytes, expected %zu",
                                 got, cbytes);
                if (s) {
                    azs_fail_context(s, "tile at (%llu, %llu, %llu): ", (unsigned long long)f0,
                                     (unsigned long long)y0, (unsigned long long)x0);
                    break;
                }
            }
            for (uint64_t y = 0; y < h; y++)
                memcpy((uint8_t *)pixels + ((y0 + y) * nx + x0) * es,
                       dec + ((fi * cy + y) * cx) * es, (size_t)w * es);
        }
    }
    free(raw);
    free(dec);
    return s;
}

azs_status azs_source_read_frame(azs_source *src, uint64_t frame, void *pixels, size_t capacity)
{
    if (!src || !pixels)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_read_frame: NULL argument");
    if (frame >= src->info.nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "frame %llu out of range (%llu frames)",
                        (unsigned long long)frame, (unsigned long long)src->info.nframes);
    const size_t fb = src->info.frame_bytes;
    if (capacity < fb)
        return azs_fail(AZS_ERR_CAPACITY, "frame needs %zu bytes, buffer has %zu", fb, capacity);
    const part *pt = find_part(src, frame);
    uint64_t local = pt->src_first + (frame - pt->first);
    azs_status s;
    if (pt->path == PART_FILTERED || (pt->path == PART_PREAD && (src->flag[frame] & FLAG_UNALLOCATED))) {
        azs_h5_lock();
        if (pt->did < 0) {
            /* unwritten chunk on the pread path: reopen to get HDF5's fill value */
            hid_t did = H5Dopen2(file_id(src, pt->file), pt->dset, H5P_DEFAULT);
            part tmp = *pt;
            tmp.did = did;
            s = did < 0 ? h5_fail_close(AZS_ERR_IO, "reopen") : read_h5(src, &tmp, local, pixels);
            if (did >= 0)
                H5Dclose(did);
        } else if (pt->codec == AZS_CODEC_NONE) {
            s = read_h5(src, pt, local, pixels);
        } else {
            s = read_tiles(src, pt, local, pixels);
        }
        azs_h5_unlock();
        if (s)
            azs_fail_context(s, "'%s' in '%s' frame %llu: ", pt->dset, pt->file,
                             (unsigned long long)local);
        return s;
    }
    if (pt->codec == AZS_CODEC_NONE || (pt->path == PART_PREAD && (src->flag[frame] & FLAG_SKIPPED))) {
        if (pt->path == PART_PREAD) {
            if (src->size[frame] != fb)
                return azs_fail(AZS_ERR_SIZE_MISMATCH,
                                "'%s' in '%s' frame %llu: unfiltered chunk of %u bytes, frame "
                                "is %zu",
                                pt->dset, pt->file, (unsigned long long)local, src->size[frame], fb);
            return pread_all(pt->fd, pixels, fb, src->off[frame], pt, frame);
        }
        size_t got = 0;
        s = azs_source_read_raw(src, frame, pixels, capacity, &got);
        if (s == AZS_OK && got != fb)
            s = azs_fail(AZS_ERR_SIZE_MISMATCH, "frame %llu: %zu bytes, expected %zu",
                         (unsigned long long)frame, got, fb);
        return s;
    }
    size_t cap = src->info.max_chunk_bytes;
    if (pt->path == PART_DIRECT) {
        hsize_t c[3] = {local, 0, 0}, sz = 0;
        azs_h5_lock();
        H5Dget_chunk_storage_size(pt->did, pt->rank == 3 ? c : c + 1, &sz);
        azs_h5_unlock();
        cap = (size_t)sz;
    }
    /* Scratch for the compressed bytes, per call: read_frame is the convenient path; hot
     * loops use read_raw with their own buffers (DESIGN §6). */
    void *raw = malloc(cap ? cap : 1);
    if (!raw)
        return azs_fail(AZS_ERR_NOMEM, "chunk buffer of %zu bytes", cap);
    size_t n = 0, got = 0;
    s = azs_source_read_raw(src, frame, raw, cap, &n);
    if (s == AZS_OK) {
        s = azs_chunk_decode(pt->codec, src->info.elem_size, raw, n, pixels, fb, &got);
        if (s == AZS_OK && got != fb)
            s = azs_fail(AZS_ERR_SIZE_MISMATCH, "decoded %zu bytes, frame is %zu", got, fb);
        if (s)
            azs_fail_context(s, "'%s' in '%s' frame %llu: ", pt->dset, pt->file,
                             (unsigned long long)local);
    }
    free(raw);
    return s;
}
