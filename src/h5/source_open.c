/* The HDF5 source: open and close, link-by-link resolution, dataset description
 * (source_internal.h has the design). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "h5/source_internal.h"

/* ---------- small helpers ---------- */

char *azs_src_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

char *azs_src_join_path(const char *a, const char *b)
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
        return azs_src_strdup(".");
    if (slash == file)
        return azs_src_strdup("/");
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
char *azs_src_locate_file(const char *from, const char *name, char **missing)
{
    *missing = NULL;
    if (name[0] == '/') {
        if (access(name, F_OK) == 0)
            return azs_src_strdup(name);
        *missing = azs_src_strdup(name);
        return NULL;
    }
    char *dir = dir_of(from);
    char *cand = dir ? azs_src_join_path(dir, name) : NULL;
    free(dir);
    if (cand && access(cand, F_OK) == 0)
        return cand;
    if (access(name, F_OK) == 0) {
        free(cand);
        return azs_src_strdup(name);
    }
    *missing = cand ? cand : azs_src_strdup(name);
    return NULL;
}

/* Fails with HDF5's own message appended. Lock held. */
azs_status azs_src_h5_fail(azs_status s, const char *what)
{
    char detail[600];
    azs_h5_error_detail(detail, sizeof detail);
    return azs_fail(s, "%s%s%s%s", what, detail[0] ? " (HDF5: " : "", detail,
                    detail[0] ? ")" : "");
}

/* The superblock versions this libhdf5 reads (1.10 to 1.14: 0 to 3). */
#define SUPERBLOCK_KNOWN 3

/* The superblock version of an HDF5 file (its signature at 0, 512, 1024, ...; the version
 * byte follows it), -1 if there is none. Why: libhdf5 says only "unable to open file" for
 * a file of a newer format, which reads as "corrupt". */
static int superblock_version(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return -1;
    int v = -1;
    unsigned char b[9];
    for (long off = 0; off <= (1L << 30) && v < 0; off = off ? 2 * off : 512) {
        if (fseek(fp, off, SEEK_SET) != 0 || fread(b, 1, 9, fp) != 9)
            break;
        if (!memcmp(b, sig, 8))
            v = b[8];
    }
    fclose(fp);
    return v;
}

/* Opens (or finds already open) an HDF5 file. Lock held. */
static azs_status open_file(azs_source *src, const char *path, hid_t *fid)
{
    size_t ix = azs_src_file_ix(src, path);
    if (ix != SIZE_MAX) {
        *fid = azs_src_fid(src, ix);
        return *fid < 0 ? AZS_ERR_IO : AZS_OK;
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
        int v = superblock_version(path);
        unsigned maj = 0, min = 0, rel = 0;
        H5get_libversion(&maj, &min, &rel);
        if (v > SUPERBLOCK_KNOWN)
            return azs_fail(AZS_ERR_UNSUPPORTED, "HDF5 file '%s' was written by a newer HDF5 "
                            "(superblock version %d); this libhdf5 is %u.%u.%u, which reads "
                            "versions up to %d", path, v, maj, min, rel, SUPERBLOCK_KNOWN);
        char what[1200];
        snprintf(what, sizeof what, "cannot open HDF5 file '%s' (truncated or corrupt?)", path);
        return azs_src_h5_fail(AZS_ERR_CORRUPT, what);
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
    file_ent *e = &src->files[src->nfiles];
    memset(e, 0, sizeof *e);
    e->fd = -1;
    e->path = azs_src_strdup(path);
    if (!e->path) {
        H5Fclose(f);
        return azs_fail(AZS_ERR_NOMEM, "file table");
    }
    e->fid = f;
    src->nfiles++;
    *fid = f;
    return AZS_OK;
}

/* Resolves `path` in `file` link by link to the real (file, path) of the object.
 * Soft links restart from their target, external links continue in their file. Errors
 * name the missing object or file. Lock held. On success *rfile / *rpath are malloc'd. */
azs_status azs_src_resolve(azs_source *src, const char *file, const char *path, int depth,
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
            return azs_src_h5_fail(AZS_ERR_CORRUPT, what);
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
            return azs_src_h5_fail(AZS_ERR_CORRUPT, what);
        }
        val[li.u.val_size] = 0;
        if (li.type == H5L_TYPE_SOFT) {
            /* A relative soft link is relative to the group holding it. */
            char *target;
            if (val[0] == '/') {
                target = azs_src_join_path(val, p);
            } else {
                char *slash = strrchr(cur, '/');
                *slash = 0;
                char *base = azs_src_join_path(cur[0] ? cur : "/", val);
                target = base ? azs_src_join_path(base, p) : NULL;
                free(base);
            }
            free(val);
            free(cur);
            if (!target)
                return azs_fail(AZS_ERR_NOMEM, "path");
            s = azs_src_resolve(src, file, target, depth + 1, rfile, rpath);
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
        char *found = azs_src_locate_file(file, efile, &missing);
        if (!found) {
            free(src->missing_file);
            src->missing_file = azs_src_strdup(missing ? missing : efile);
            s = azs_fail(AZS_ERR_NOT_FOUND,
                         "external link '%s' in '%s' points to missing file '%s' (looked for "
                         "'%s')",
                         cur, file, efile, missing ? missing : efile);
            free(missing);
            free(val);
            free(cur);
            return s;
        }
        char *target = azs_src_join_path(eobj, p);
        free(val);
        free(cur);
        if (!target) {
            free(found);
            return azs_fail(AZS_ERR_NOMEM, "path");
        }
        s = azs_src_resolve(src, found, target, depth + 1, rfile, rpath);
        free(found);
        free(target);
        return s;
    }
    if (clen == 0) {
        cur[0] = '/';
        cur[1] = 0;
    }
    *rfile = azs_src_strdup(file);
    *rpath = cur;
    if (!*rfile) {
        free(cur);
        return azs_fail(AZS_ERR_NOMEM, "path");
    }
    return AZS_OK;
}

hid_t azs_src_file_id(azs_source *src, const char *path)
{
    size_t ix = azs_src_file_ix(src, path);
    return ix == SIZE_MAX ? -1 : azs_src_fid(src, ix);
}

/* ---------- dataset description ---------- */

azs_status azs_src_map_dtype(hid_t tid, const char *where, azs_dtype *dt)
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
        s = azs_src_h5_fail(AZS_ERR_CORRUPT, where);
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
    if ((s = azs_src_map_dtype(tid, where, &dt)) != AZS_OK)
        goto out;
    H5Sget_simple_extent_dims(sid, dims, NULL);
    uint64_t nf = rank == 3 ? dims[0] : 1;
    uint64_t ny = dims[rank - 2], nx = dims[rank - 1];
    if (ny == 0 || nx == 0 || ny > UINT32_MAX || nx > UINT32_MAX) {
        s = azs_fail(AZS_ERR_FORMAT, "%s: frame shape %llu x %llu", where,
                     (unsigned long long)ny, (unsigned long long)nx);
        goto out;
    }
    if ((s = azs_src_check_shape(src, where, nf, ny, nx, azs_dtype_size(dt), did)) != AZS_OK)
        goto out;
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
    if (!src->described) {
        src->described = 1;
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

azs_status azs_src_push_part(azs_source *src, part **out)
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
    pt->file_ix = SIZE_MAX;
    pt->did = -1;
    *out = pt;
    return AZS_OK;
}

/* Adds the non-virtual dataset (rfile, rpath) frames [src_first, src_first+n) as a part;
 * n = UINT64_MAX means all frames. Lock held. */
azs_status azs_src_add_plain(azs_source *src, const char *rfile, const char *rpath,
                             uint64_t src_first, uint64_t n)
{
    part *pt = NULL;
    azs_status s = azs_src_push_part(src, &pt);
    if (s)
        return s;
    char where[1100];
    snprintf(where, sizeof where, "'%s' in '%s'", rpath, rfile);
    hid_t fid = azs_src_file_id(src, rfile);
    hid_t did = H5Dopen2(fid, rpath, H5P_DEFAULT);
    if (did < 0) {
        char what[1200];
        snprintf(what, sizeof what, "%s: cannot open dataset (not a dataset?)", where);
        return azs_src_h5_fail(AZS_ERR_FORMAT, what);
    }
    pt->did = did;
    pt->file = azs_src_strdup(rfile);
    pt->dset = azs_src_strdup(rpath);
    pt->file_ix = azs_src_file_ix(src, rfile);
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
    /* No handle stays open per part while the others are added (a master of thousands of
     * data files): the index reopens it (source_index.c). */
    if (pt->path != PART_FILTERED) {
        H5Dclose(pt->did);
        pt->did = -1;
        azs_src_release_file(src, pt->file_ix);
    }
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
    s = azs_src_resolve(src, path, dpath, 0, &rf, &rp);
    if (s == AZS_ERR_NOT_FOUND && !strcmp(dpath, DEFAULT_DATASET) &&
        H5Lexists(fid, "/entry", H5P_DEFAULT) > 0 && H5Lexists(fid, "/entry/data", H5P_DEFAULT) > 0 &&
        H5Lexists(fid, DEFAULT_DATASET, H5P_DEFAULT) == 0) {
        /* An Eiger master without /entry/data/data: its data_NNNNNN links. */
        char saved[1024];
        snprintf(saved, sizeof saved, "%s", azs_last_error());
        s = azs_src_resolve(src, path, "/entry/data", 0, &rf, &rp);
        if (s == AZS_OK) {
            name_list l = {0};
            s = azs_src_list_data_links(azs_src_file_id(src, rf), rp, &l);
            size_t n = l.n;
            azs_src_free_names(&l);
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
    hid_t rfid = azs_src_file_id(src, rf);
    hid_t oid = H5Oopen(rfid, rp, H5P_DEFAULT);
    if (oid < 0) {
        char what[1200];
        snprintf(what, sizeof what, "'%s' in '%s': cannot open object", rp, rf);
        s = azs_src_h5_fail(AZS_ERR_CORRUPT, what);
    } else {
        H5I_type_t t = H5Iget_type(oid);
        if (t == H5I_GROUP) {
            s = azs_src_add_master(src, rf, rp);
        } else if (t == H5I_DATASET) {
            hid_t dcpl = H5Dget_create_plist(oid);
            H5D_layout_t lay = H5Pget_layout(dcpl);
            H5Pclose(dcpl);
            if (lay == H5D_VIRTUAL)
                s = azs_src_add_virtual(src, rf, rp, oid);
            else
                s = azs_src_add_plain(src, rf, rp, 0, UINT64_MAX);
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
    if ((s = azs_src_build_index(src)) != AZS_OK)
        return s;
    azs_src_release_h5(src);
    return AZS_OK;
}

azs_status azs_source_open(const char *path, const char *dataset, azs_source **out)
{
    return azs_source_open_opts(path, dataset, NULL, out);
}

azs_status azs_source_open_opts(const char *path, const char *dataset,
                                const azs_source_options *o, azs_source **out)
{
    if (!out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_open: out is NULL");
    *out = NULL;
    if (!path || !path[0])
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_open: no file name");
    azs_source *src = calloc(1, sizeof *src);
    if (!src)
        return azs_fail(AZS_ERR_NOMEM, "source");
    if (o)
        src->opts = *o;
    azs_status fs = azs_src_files_init(src);
    if (fs != AZS_OK) {
        free(src);
        return fs;
    }
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
        free(pt->file);
        free(pt->dset);
    }
    for (size_t i = 0; i < src->nfiles; i++)
        if (src->files[i].fid >= 0)
            H5Fclose(src->files[i].fid);
    azs_h5_unlock();
    azs_src_files_fini(src);
    for (size_t i = 0; i < src->nfiles; i++)
        free(src->files[i].path);
    free(src->missing_file);
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
    p->missing = src->parts[i].path == PART_MISSING;
    return AZS_OK;
}
