/* The HDF5 source: an Eiger master's data_NNNNNN links and a virtual dataset's mappings
 * as parts. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "h5/source_internal.h"

/* ---------- Eiger master: data_NNNNNN links ---------- */

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
    l->names[l->n] = azs_src_strdup(name);
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
azs_status azs_src_list_data_links(hid_t fid, const char *gpath, name_list *l)
{
    hid_t gid = H5Gopen2(fid, gpath, H5P_DEFAULT);
    if (gid < 0)
        return azs_src_h5_fail(AZS_ERR_FORMAT, "cannot open group");
    hsize_t idx = 0;
    herr_t r = H5Literate(gid, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_cb, l);
    H5Gclose(gid);
    if (l->nomem)
        return azs_fail(AZS_ERR_NOMEM, "link list");
    if (r < 0)
        return azs_src_h5_fail(AZS_ERR_CORRUPT, "cannot list links");
    if (l->n > 1)
        qsort(l->names, l->n, sizeof *l->names, cmp_str);
    return AZS_OK;
}

void azs_src_free_names(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->names[i]);
    free(l->names);
}

/* nimages x ntrigger of a DECTRIS master (detectorSpecific), 0 if it does not say. */
static uint64_t master_total_frames(azs_source *src, const char *file)
{
    static const char *const keys[2] = {"/entry/instrument/detector/detectorSpecific/nimages",
                                        "/entry/instrument/detector/detectorSpecific/ntrigger"};
    hid_t fid = azs_src_file_id(src, file);
    uint64_t v[2] = {0, 1};
    for (int k = 0; k < 2 && fid >= 0; k++) {
        const char *p = keys[k];
        /* H5Lexists on each level: a missing parent group is an error, not "no" */
        int ok = 1;
        char buf[128];
        for (const char *q = strchr(p + 1, '/'); ok; q = strchr(q + 1, '/')) {
            size_t len = q ? (size_t)(q - p) : strlen(p);
            snprintf(buf, sizeof buf, "%.*s", (int)len, p);
            ok = H5Lexists(fid, buf, H5P_DEFAULT) > 0;
            if (!q)
                break;
        }
        if (!ok) {
            if (k == 0)
                return 0;
            continue; /* no ntrigger: 1 */
        }
        hid_t did = H5Dopen2(fid, p, H5P_DEFAULT);
        unsigned long long x = 0;
        if (did >= 0 && H5Dread(did, H5T_NATIVE_ULLONG, H5S_ALL, H5S_ALL, H5P_DEFAULT, &x) >= 0)
            v[k] = x;
        else if (k == 0)
            v[0] = 0;
        if (did >= 0)
            H5Dclose(did);
    }
    return v[1] && v[0] <= UINT64_MAX / v[1] ? v[0] * v[1] : 0;
}

static const char *count_str(size_t n)
{
    static _Thread_local char buf[32];
    snprintf(buf, sizeof buf, "%zu", n);
    return buf;
}

/* Adds a part for the frames of a data file that is missing (allow_missing); its frame
 * count is set by the caller once the present files are known. Lock held. */
static azs_status add_missing(azs_source *src, const char *missing, const char *link)
{
    part *pt = NULL;
    azs_status s = azs_src_push_part(src, &pt);
    if (s)
        return s;
    pt->path = PART_MISSING;
    pt->file = azs_src_strdup(missing);
    pt->dset = azs_src_strdup(link);
    src->nparts++;
    return pt->file && pt->dset ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "part");
}

azs_status azs_src_add_master(azs_source *src, const char *file, const char *gpath)
{
    name_list l = {0};
    hid_t fid = azs_src_file_id(src, file);
    azs_status s = azs_src_list_data_links(fid, gpath, &l);
    if (s) {
        azs_fail_context(s, "'%s' in '%s': ", gpath, file);
        azs_src_free_names(&l);
        return s;
    }
    if (l.n == 0) {
        azs_src_free_names(&l);
        return azs_fail(AZS_ERR_NOT_FOUND, "'%s' in '%s' is a group without data_NNNNNN links",
                        gpath, file);
    }
    /* Every link in order: a present data file is a part; a missing one (its external
     * link's file does not exist) becomes a missing part, sized below. */
    const size_t part0 = src->nparts;
    size_t nmissing = 0, npresent = 0;
    for (size_t i = 0; i < l.n && s == AZS_OK; i++) {
        char *lp = azs_src_join_path(gpath, l.names[i]);
        char *rf = NULL, *rp = NULL;
        if (!lp) {
            s = azs_fail(AZS_ERR_NOMEM, "path");
            break;
        }
        free(src->missing_file);
        src->missing_file = NULL;
        s = azs_src_resolve(src, file, lp, 0, &rf, &rp);
        if (s == AZS_ERR_NOT_FOUND && src->missing_file) {
            s = add_missing(src, src->missing_file, lp);
            nmissing++;
        } else if (s == AZS_OK) {
            s = azs_src_add_plain(src, rf, rp, 0, UINT64_MAX);
            npresent++;
        }
        free(lp);
        free(rf);
        free(rp);
    }
    if (s == AZS_OK && npresent == 0)
        s = azs_fail(AZS_ERR_NOT_FOUND, "master '%s': none of its %zu data files exists (the "
                     "first: '%s')", file, l.n, src->parts[part0].file);
    if (s == AZS_OK && nmissing) {
        /* A missing file holds as many frames as the largest present one (DECTRIS writes
         * all but the last full); the last link, the rest of nimages x ntrigger when the
         * master says so. Then renumber the parts. */
        uint64_t per_file = 0, present_sum = 0, missing_sum = 0;
        for (size_t i = part0; i < src->nparts; i++)
            if (src->parts[i].path != PART_MISSING) {
                per_file = src->parts[i].n > per_file ? src->parts[i].n : per_file;
                present_sum += src->parts[i].n;
            }
        const uint64_t total = master_total_frames(src, file);
        for (size_t i = part0; i < src->nparts; i++) {
            part *pt = &src->parts[i];
            if (pt->path != PART_MISSING)
                continue;
            pt->n = per_file;
            if (i + 1 == src->nparts && total) {
                const uint64_t before = present_sum + missing_sum;
                pt->n = total > before && total - before <= per_file ? total - before : per_file;
            }
            missing_sum += pt->n;
        }
        uint64_t first = part0 ? src->parts[part0 - 1].first + src->parts[part0 - 1].n : 0;
        for (size_t i = part0; i < src->nparts; i++) {
            src->parts[i].first = first;
            first += src->parts[i].n;
        }
        src->info.nframes = first;
        src->info.nparts_missing += nmissing;
        src->info.frames_missing += missing_sum;
        if (!src->opts.allow_missing) {
            const part *m = NULL;
            for (size_t i = part0; i < src->nparts && !m; i++)
                if (src->parts[i].path == PART_MISSING)
                    m = &src->parts[i];
            s = azs_fail(AZS_ERR_NOT_FOUND, "master '%s': data file '%s' (link %s) is missing: "
                         "frames %llu..%llu (%llu frames)%s%s; --allow-missing integrates the "
                         "rest and marks these frames absent", file, m->file, m->dset,
                         (unsigned long long)m->first, (unsigned long long)(m->first + m->n - 1),
                         (unsigned long long)m->n, nmissing > 1 ? "; missing files in all: " : "",
                         nmissing > 1 ? count_str(nmissing) : "");
        }
    }
    azs_src_free_names(&l);
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

azs_status azs_src_add_virtual(azs_source *src, const char *file, const char *path, hid_t did)
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
        s = azs_src_h5_fail(AZS_ERR_CORRUPT, where);
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
            s = azs_src_h5_fail(AZS_ERR_CORRUPT, where);
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
            sfile = azs_src_strdup(file);
        } else {
            char *missing = NULL;
            sfile = azs_src_locate_file(file, m[i].sfile, &missing);
            if (!sfile && simple && rank == 3 && src->opts.allow_missing) {
                /* its frames are known from the mapping: kept as frames without data */
                part *pt = NULL;
                s = add_missing(src, missing ? missing : m[i].sfile, m[i].sdset);
                if (s == AZS_OK) {
                    pt = &src->parts[src->nparts - 1];
                    pt->first = src->info.nframes;
                    pt->n = m[i].n;
                    src->info.nframes += m[i].n;
                    src->info.nparts_missing++;
                    src->info.frames_missing += m[i].n;
                }
                free(missing);
                continue;
            }
            if (!sfile) {
                char frames[96] = "";
                if (simple && rank == 3)
                    snprintf(frames, sizeof frames, ": frames %llu..%llu (%llu frames)",
                             (unsigned long long)m[i].va,
                             (unsigned long long)(m[i].va + m[i].n - 1), (unsigned long long)m[i].n);
                s = azs_fail(AZS_ERR_NOT_FOUND,
                             "%s: virtual dataset source file '%s' is missing (looked for '%s')%s%s",
                             where, m[i].sfile, missing ? missing : m[i].sfile, frames,
                             simple && rank == 3 ? "; --allow-missing integrates the rest and marks "
                                                   "these frames absent" : "");
                free(missing);
                break;
            }
        }
        char *rf = NULL, *rp = NULL;
        s = azs_src_resolve(src, sfile, m[i].sdset, 0, &rf, &rp);
        if (s)
            azs_fail_context(s, "%s: source %zu of the virtual dataset: ", where, i);
        else if (simple)
            s = azs_src_add_plain(src, rf, rp, m[i].sa, m[i].n);
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
        if ((s = azs_src_push_part(src, &pt)) == AZS_OK) {
            pt->did = H5Dopen2(azs_src_file_id(src, file), path, H5P_DEFAULT);
            pt->file = azs_src_strdup(file);
            pt->dset = azs_src_strdup(path);
            pt->file_ix = azs_src_file_ix(src, file);
            src->nparts++;
            if (pt->did < 0) {
                s = azs_src_h5_fail(AZS_ERR_IO, where);
            } else if (!pt->file || !pt->dset) {
                s = azs_fail(AZS_ERR_NOMEM, "part");
            } else {
                pt->path = PART_FILTERED;
                azs_dtype dt;
                hid_t tid = H5Dget_type(did);
                s = azs_src_map_dtype(tid, where, &dt);
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
