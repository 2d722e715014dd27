/* The HDF5 source: the per-frame chunk index (h5_index.c's walk, else libhdf5). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/error.h"
#include "h5/h5_index.h"
#include "h5/h5lock.h"
#include "h5/source_internal.h"

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
    while (i < pt->n && !(src->flag[pt->first + i] & FLAG_PRESENT))
        i++;
    if (i == pt->n)
        return 0;
    const size_t g = (size_t)(pt->first + i), n = src->size[g];
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    int fd = -1;
    if (azs_src_fd_acquire(src, pt->file_ix, &fd) != AZS_OK)
        fd = -1;
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
        azs_src_fd_release(src, pt->file_ix);
    free(a);
    free(b);
    return shift;
}

/* The part's chunk index by one walk of its v1 B-tree, fixed array or extensible array
 * (h5_index.h): returns 1 when it
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
    int fd = -1;
    struct stat st;
    if (azs_src_fd_acquire(src, pt->file_ix, &fd) != AZS_OK)
        return 0;
    if (fstat(fd, &st) != 0) {
        azs_src_fd_release(src, pt->file_ix);
        return 0;
    }
    azs_h5_bytes f = {fd, (uint64_t)ub, (uint64_t)st.st_size, (unsigned)sa, (unsigned)ss};
    uint64_t btree = 0;
    unsigned key_dims = 0;
    const size_t g0 = (size_t)pt->first;
    /* calloc: pages of frames without a chunk are never touched (a dataset may declare far
     * more frames than it holds) */
    uint8_t *skipped = calloc(pt->n ? (size_t)pt->n : 1, 1), *found = calloc(pt->n ? (size_t)pt->n : 1, 1);
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
    azs_src_fd_release(src, pt->file_ix);
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
            if (!found[i]) /* read only: the page stays unmapped */
                continue;
            src->flag[g0 + i] = FLAG_PRESENT | (skipped[i] ? FLAG_SKIPPED : 0);
            src->off[g0 + i] += ub; /* HDF5 addresses count from the end of the user block */
        }
    free(skipped);
    free(found);
    return s == AZS_OK;
}

azs_status azs_src_check_shape(azs_source *src, const char *where, uint64_t nframes,
                               uint64_t ny, uint64_t nx, size_t elem, hid_t did)
{
    (void)src;
    char what[1400];
    const unsigned long long frame = ny > ULLONG_MAX / nx / elem ? ULLONG_MAX : ny * nx * elem;
    snprintf(what, sizeof what, "%s: one frame of %llu x %llu pixels of %zu bytes", where,
             (unsigned long long)ny, (unsigned long long)nx, elem);
    azs_status s = azs_mem_check(frame, what);
    if (s != AZS_OK)
        return s;
    /* Contiguous storage must lie inside its file: a declared shape larger than the file is
     * a truncated copy or a lie, said before anything is sized from it. */
    hid_t dcpl = H5Dget_create_plist(did);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    int external = dcpl >= 0 && H5Pget_external_count(dcpl) > 0;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    haddr_t base = lay == H5D_CONTIGUOUS && !external ? H5Dget_offset(did) : HADDR_UNDEF;
    if (base != HADDR_UNDEF) {
        hid_t fid = H5Iget_file_id(did);
        hsize_t fsize = 0;
        int ok = fid >= 0 && H5Fget_filesize(fid, &fsize) >= 0;
        if (fid >= 0)
            H5Fclose(fid);
        const unsigned long long total =
            nframes && frame > ULLONG_MAX / nframes ? ULLONG_MAX : frame * nframes;
        if (ok && (total == ULLONG_MAX || base > fsize || total > fsize - base))
            return azs_fail(AZS_ERR_TRUNCATED, "%s: declares %llu frames of %llu x %llu (%llu "
                            "bytes from offset %llu) but the file holds %llu bytes: truncated or "
                            "not what it says", where, (unsigned long long)nframes,
                            (unsigned long long)ny, (unsigned long long)nx, total,
                            (unsigned long long)base, (unsigned long long)fsize);
    }
    return AZS_OK;
}

/* Part pt's chunks asked of libhdf5, chunk by chunk in storage order (H5Dget_chunk_info:
 * only the chunks that exist, so a dataset declaring many frames and holding few costs
 * what it holds). 1: done; 0: libhdf5 cannot say (the caller reads through
 * H5Dread_chunk); -1: error set. */
static int index_from_h5(azs_source *src, const part *pt, size_t *maxb, uint64_t *stored)
{
    hid_t sp = H5Dget_space(pt->did);
    hsize_t nchunks = 0;
    int ok = sp >= 0 && H5Dget_num_chunks(pt->did, sp, &nchunks) >= 0;
    for (hsize_t k = 0; ok && k < nchunks; k++) {
        hsize_t coord[3] = {0, 0, 0}, sz = 0;
        unsigned mask = 0;
        haddr_t addr = HADDR_UNDEF;
        if (H5Dget_chunk_info(pt->did, sp, k, coord, &mask, &addr, &sz) < 0) {
            ok = 0;
            break;
        }
        const uint64_t fr = pt->rank == 3 ? coord[0] : 0;
        if (addr == HADDR_UNDEF || fr < pt->src_first || fr - pt->src_first >= pt->n)
            continue;
        if (sz > UINT32_MAX) {
            H5Sclose(sp);
            azs_fail(AZS_ERR_UNSUPPORTED, "'%s' in '%s': chunk over 4 GiB", pt->dset, pt->file);
            return -1;
        }
        const size_t g = (size_t)(pt->first + fr - pt->src_first);
        src->off[g] = addr;
        src->size[g] = (uint32_t)sz;
        src->flag[g] = FLAG_PRESENT | ((mask & 1u) ? FLAG_SKIPPED : 0);
        *maxb = sz > *maxb ? (size_t)sz : *maxb;
        *stored += sz;
    }
    if (sp >= 0)
        H5Sclose(sp);
    return ok;
}

azs_status azs_src_build_index(azs_source *src)
{
    uint64_t n = src->info.nframes;
    size_t nn = n ? (size_t)n : 1;
    char what[200];
    snprintf(what, sizeof what, "the chunk index of %llu frames (13 bytes each)", (unsigned long long)n);
    azs_status ms = azs_mem_check(n > ULLONG_MAX / 13 ? ULLONG_MAX : 13ull * n, what);
    if (ms != AZS_OK)
        return ms;
    /* calloc'd, and written only where a chunk exists: a dataset that declares millions of
     * frames but holds few costs address space, not memory */
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
        if (pt->path == PART_FILTERED || pt->path == PART_MISSING)
            continue;
        if (pt->did < 0) { /* closed after it was described (azs_src_add_plain) */
            hid_t fid = azs_src_fid(src, pt->file_ix);
            pt->did = fid >= 0 ? H5Dopen2(fid, pt->dset, H5P_DEFAULT) : -1;
            if (pt->did < 0) {
                char w[1200];
                snprintf(w, sizeof w, "'%s' in '%s': cannot open the dataset again", pt->dset, pt->file);
                return azs_src_h5_fail(AZS_ERR_IO, w);
            }
        }
        hid_t dcpl = H5Dget_create_plist(pt->did);
        H5D_layout_t lay = H5Pget_layout(dcpl);
        H5Pclose(dcpl);
        if (lay == H5D_CONTIGUOUS) {
            haddr_t base = H5Dget_offset(pt->did);
            if (base == HADDR_UNDEF) { /* never written: H5Dread gives the fill value */
                pt->path = PART_FILTERED;
                continue;
            }
            if (src->info.frame_bytes > UINT32_MAX)
                return azs_fail(AZS_ERR_UNSUPPORTED, "frames over 4 GiB");
            for (uint64_t f = 0; f < pt->n; f++) {
                src->off[pt->first + f] = base + (pt->src_first + f) * src->info.frame_bytes;
                src->size[pt->first + f] = (uint32_t)src->info.frame_bytes;
                src->flag[pt->first + f] = FLAG_PRESENT;
            }
            maxb = src->info.frame_bytes > maxb ? src->info.frame_bytes : maxb;
            stored += pt->n * src->info.frame_bytes;
        } else if ((fast = index_from_btree(src, pt, &fast_err)) != 0) {
            if (fast < 0)
                return fast_err;
            src->info.nparts_walked++;
            for (uint64_t f = 0; f < pt->n; f++) {
                size_t g = (size_t)(pt->first + f);
                if (!(src->flag[g] & FLAG_PRESENT))
                    continue;
                maxb = src->size[g] > maxb ? (size_t)src->size[g] : maxb;
                stored += src->size[g];
            }
        } else {
            const uint64_t stored0 = stored;
            const int got = index_from_h5(src, pt, &maxb, &stored);
            if (got < 0)
                return AZS_ERR_UNSUPPORTED;
            if (got == 0) /* index unreadable by address: H5Dread_chunk still works */
                pt->path = PART_DIRECT;
            if (pt->path == PART_PREAD) {
                int64_t shift = chunk_addr_shift(src, pt);
                if (shift < 0) { /* counted again below */
                    pt->path = PART_DIRECT;
                    stored = stored0;
                }
                for (uint64_t f = 0; shift > 0 && f < pt->n; f++)
                    if (src->flag[pt->first + f] & FLAG_PRESENT)
                        src->off[pt->first + f] += (uint64_t)shift;
            }
            if (pt->path == PART_DIRECT) {
                stored = stored0;
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
            int fd = -1;
            struct stat st;
            azs_status s = azs_src_fd_acquire(src, pt->file_ix, &fd);
            if (s != AZS_OK)
                return s;
            int e = fstat(fd, &st) != 0 ? errno : 0;
            azs_src_fd_release(src, pt->file_ix);
            if (e)
                return azs_fail(AZS_ERR_IO, "file '%s': %s", pt->file, strerror(e));
            for (uint64_t f = 0; f < pt->n; f++) {
                size_t g = (size_t)(pt->first + f);
                if (!(src->flag[g] & FLAG_PRESENT))
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
            /* pread path: HDF5 handles no longer needed */
            H5Dclose(pt->did);
            pt->did = -1;
            azs_src_release_file(src, pt->file_ix);
        }
    }
    src->info.max_chunk_bytes = maxb;
    src->info.stored_bytes = stored;
    azs_read_path rp = AZS_READ_PREAD;
    for (size_t pi = 0; pi < src->nparts; pi++) {
        if (src->parts[pi].path == PART_MISSING)
            continue; /* its frames are AZS_ERR_MISSING whatever the path */
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
