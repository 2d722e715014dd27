/* The HDF5 source: reading a frame (pread of our own descriptor, the mapped raw path,
 * libhdf5 fallbacks). */
#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE /* MAP_POPULATE, O_DIRECT */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "h5/source_internal.h"

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

static azs_status pread_fd(int fd, void *buf, size_t n, uint64_t off, const part *pt,
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

/* n bytes at off of the part's file, through the descriptor pool. */
static azs_status pread_all(azs_source *src, const part *pt, void *buf, size_t n, uint64_t off,
                            uint64_t frame)
{
    int fd = -1;
    azs_status s = azs_src_fd_acquire(src, pt->file_ix, &fd);
    if (s != AZS_OK)
        return s;
    s = pread_fd(fd, buf, n, off, pt, frame);
    azs_src_fd_release(src, pt->file_ix);
    return s;
}

static azs_status missing_frame(const part *pt, uint64_t frame)
{
    return azs_fail(AZS_ERR_MISSING, "frame %llu: its data file '%s' is missing (frames %llu..%llu)",
                    (unsigned long long)frame, pt->file, (unsigned long long)pt->first,
                    (unsigned long long)(pt->first + pt->n - 1));
}

azs_status azs_source_frame_state(azs_source *src, uint64_t frame)
{
    if (!src)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_frame_state: NULL source");
    if (frame >= src->info.nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "frame %llu out of range (%llu frames)",
                        (unsigned long long)frame, (unsigned long long)src->info.nframes);
    const part *pt = find_part(src, frame);
    const uint64_t local = pt->src_first + (frame - pt->first);
    if (pt->path == PART_MISSING)
        return missing_frame(pt, frame);
    if (pt->path == PART_PREAD)
        return src->flag[frame] & FLAG_PRESENT
                   ? AZS_OK
                   : azs_fail(AZS_ERR_UNWRITTEN, "'%s' in '%s': frame %llu was never written",
                              pt->dset, pt->file, (unsigned long long)local);
    if (pt->did < 0 || pt->rank != 3)
        return AZS_OK; /* a virtual dataset read as a whole (HDF5 maps it) */
    azs_status s = AZS_OK;
    azs_h5_lock();
    hid_t dcpl = H5Dget_create_plist(pt->did);
    H5D_layout_t lay = dcpl >= 0 ? H5Pget_layout(dcpl) : H5D_LAYOUT_ERROR;
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lay == H5D_CONTIGUOUS && H5Dget_offset(pt->did) == HADDR_UNDEF) {
        s = AZS_ERR_UNWRITTEN; /* storage never allocated (not an external file: it has none) */
        hid_t d2 = H5Dget_create_plist(pt->did);
        if (d2 >= 0 && H5Pget_external_count(d2) > 0)
            s = AZS_OK;
        if (d2 >= 0)
            H5Pclose(d2);
    } else if (lay == H5D_CHUNKED) {
        /* every tile of the frame's chunk row: any one never written, the frame is not data */
        const hsize_t cy = pt->chunk[1] ? pt->chunk[1] : 1, cx = pt->chunk[2] ? pt->chunk[2] : 1;
        const hsize_t f0 = pt->chunk[0] ? local / pt->chunk[0] * pt->chunk[0] : local;
        for (hsize_t y = 0; y < src->info.ny && s == AZS_OK; y += cy)
            for (hsize_t x = 0; x < src->info.nx && s == AZS_OK; x += cx) {
                hsize_t c[3] = {f0, y, x}, sz = 0;
                if (H5Dget_chunk_storage_size(pt->did, c, &sz) < 0 || sz == 0)
                    s = AZS_ERR_UNWRITTEN;
            }
    }
    azs_h5_unlock();
    if (s == AZS_ERR_UNWRITTEN)
        return azs_fail(s, "'%s' in '%s': frame %llu was never written", pt->dset, pt->file,
                        (unsigned long long)local);
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
    if (pt->path == PART_MISSING)
        return missing_frame(pt, frame);
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
            s = azs_src_h5_fail(AZS_ERR_IO, "chunk size");
        else if (sz == 0)
            s = azs_fail(AZS_ERR_UNWRITTEN, "frame %llu was never written",
                         (unsigned long long)local);
        else if (sz > capacity)
            s = azs_fail(AZS_ERR_CAPACITY, "frame %llu: chunk of %llu bytes, buffer %zu",
                         (unsigned long long)frame, (unsigned long long)sz, capacity);
        else if (H5Dread_chunk(pt->did, H5P_DEFAULT, pt->rank == 3 ? c : c + 1, &mask, buf) < 0)
            s = azs_src_h5_fail(AZS_ERR_IO, "H5Dread_chunk");
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
    if (!(fl & FLAG_PRESENT))
        return azs_fail(AZS_ERR_UNWRITTEN, "'%s' in '%s': frame %llu was never written",
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
    azs_status s = pread_all(src, pt, buf, n, src->off[frame], frame);
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
        if ((src->flag[f] & (FLAG_PRESENT | FLAG_SKIPPED)) != FLAG_PRESENT)
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
    int fd = -1;
    if (azs_src_fd_acquire(src, pt->file_ix, &fd) != AZS_OK)
        return AZS_ERR_UNSUPPORTED; /* read_raw says why */
    /* the mapping outlives the descriptor, which the pool may close */
    void *b = mmap(NULL, (size_t)(hi - start), PROT_READ, MAP_SHARED | MAP_POPULATE, fd,
                   (off_t)start);
    azs_src_fd_release(src, pt->file_ix);
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

/* ---------- byte ranges for callers that read or map the file themselves ---------- */

azs_status azs_source_raw_extent(azs_source *src, uint64_t frame, size_t *file, uint64_t *offset,
                                 size_t *size)
{
    if (!src || !file || !offset || !size || frame >= src->info.nframes)
        return AZS_ERR_UNSUPPORTED;
    const part *pt = find_part(src, frame);
    if (pt->path != PART_PREAD || (src->flag[frame] & (FLAG_PRESENT | FLAG_SKIPPED)) != FLAG_PRESENT)
        return AZS_ERR_UNSUPPORTED;
    *file = pt->file_ix;
    *offset = src->off[frame];
    *size = src->size[frame];
    return AZS_OK;
}

azs_status azs_source_map_window(azs_source *src, size_t file, uint64_t start, size_t len,
                                 azs_raw_map *map)
{
    if (!src || !map || file >= src->nfiles || len == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_map_window: bad argument");
    map->base = NULL;
    map->len = 0;
    const uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
    const char *path = src->files[file].path;
    if (start % page)
        return azs_fail(AZS_ERR_INVALID_ARG, "'%s': window at %llu is not on a page boundary", path,
                        (unsigned long long)start);
    int fd = -1;
    azs_status s = azs_src_fd_acquire(src, file, &fd);
    if (s != AZS_OK)
        return s;
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        s = azs_fail(AZS_ERR_IO, "'%s': %s", path, strerror(errno));
        goto out;
    }
    const uint64_t end = ((uint64_t)sb.st_size + page - 1) / page * page;
    if (start >= end) {
        s = azs_fail(AZS_ERR_INVALID_ARG, "'%s': window at %llu past the end (%llu bytes)", path,
                     (unsigned long long)start, (unsigned long long)sb.st_size);
        goto out;
    }
    if (len > end - start)
        len = (size_t)(end - start);
    void *b = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)start);
    if (b == MAP_FAILED) {
        s = azs_fail(AZS_ERR_UNSUPPORTED, "'%s': cannot map %zu bytes at %llu: %s", path, len,
                     (unsigned long long)start, strerror(errno));
        goto out;
    }
    map->base = b;
    map->len = len;
out:
    azs_src_fd_release(src, file);
    return s;
}

azs_status azs_source_read_raw_direct(azs_source *src, uint64_t frame, void *buf,
                                      size_t capacity, size_t align, size_t *at, size_t *size)
{
    size_t file = 0, n = 0;
    uint64_t off = 0;
    if (!buf || !at || !size || align == 0 || (align & (align - 1)) || (uintptr_t)buf % align)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_read_raw_direct: bad buffer or alignment");
    if (azs_source_raw_extent(src, frame, &file, &off, &n) != AZS_OK)
        return azs_fail(AZS_ERR_UNSUPPORTED, "frame %llu is not a byte range of a file: read it "
                        "with azs_source_read_raw", (unsigned long long)frame);
    const uint64_t lo = off & ~(uint64_t)(align - 1);
    const uint64_t hi = (off + n + align - 1) & ~(uint64_t)(align - 1);
    if (hi - lo > capacity)
        return azs_fail(AZS_ERR_CAPACITY, "frame %llu: %llu bytes of whole blocks, buffer %zu",
                        (unsigned long long)frame, (unsigned long long)(hi - lo), capacity);
    const part *pt = find_part(src, frame);
    /* A descriptor of its own per read: O_DIRECT is a property of the open file, and the
     * pool's descriptors serve the page-cache readers. */
    int fd = open(pt->file, O_RDONLY | O_DIRECT | O_CLOEXEC);
    if (fd < 0)
        return azs_fail(errno == EINVAL ? AZS_ERR_UNSUPPORTED : AZS_ERR_IO,
                        "'%s': cannot open with O_DIRECT: %s", pt->file, strerror(errno));
    azs_status s = AZS_OK;
    uint8_t *b = buf;
    uint64_t pos = lo;
    while (pos < off + n) { /* the last block may end past the file's end: a short read */
        ssize_t r = pread(fd, b + (pos - lo), (size_t)(hi - pos), (off_t)pos);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            s = azs_fail(errno == EINVAL ? AZS_ERR_UNSUPPORTED : AZS_ERR_IO,
                         "'%s': O_DIRECT read of frame %llu: %s", pt->file,
                         (unsigned long long)frame, strerror(errno));
            break;
        }
        if (r == 0) {
            s = azs_fail(AZS_ERR_TRUNCATED, "'%s': file ends inside frame %llu (offset %llu)",
                         pt->file, (unsigned long long)frame, (unsigned long long)off);
            break;
        }
        pos += (uint64_t)r;
        if (pos % align && pos < off + n) { /* a short read not at the end: O_DIRECT needs whole blocks */
            s = azs_fail(AZS_ERR_IO, "'%s': O_DIRECT read of frame %llu stopped at %llu", pt->file,
                         (unsigned long long)frame, (unsigned long long)pos);
            break;
        }
    }
    close(fd);
    if (s != AZS_OK)
        return s;
    *at = (size_t)(off - lo);
    *size = n;
    return AZS_OK;
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
        s = azs_src_h5_fail(AZS_ERR_IO, "H5Dread");
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
                s = azs_src_h5_fail(AZS_ERR_IO, "H5Dread_chunk");
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
    if (pt->path == PART_MISSING)
        return missing_frame(pt, frame);
    if (pt->path == PART_FILTERED || (pt->path == PART_PREAD && !(src->flag[frame] & FLAG_PRESENT))) {
        azs_h5_lock();
        if (pt->did < 0) {
            /* unwritten chunk on the pread path: reopen to get HDF5's fill value */
            hid_t fid = azs_src_fid(src, pt->file_ix);
            hid_t did = fid >= 0 ? H5Dopen2(fid, pt->dset, H5P_DEFAULT) : -1;
            part tmp = *pt;
            tmp.did = did;
            s = did < 0 ? azs_src_h5_fail(AZS_ERR_IO, "reopen") : read_h5(src, &tmp, local, pixels);
            if (did >= 0)
                H5Dclose(did);
            azs_src_release_file(src, pt->file_ix);
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
            return pread_all(src, pt, pixels, fb, src->off[frame], frame);
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
     * loops use read_raw with their own buffers (doc/design.md "decisions and why"). */
    void *raw = malloc(cap ? cap : 1);
    if (!raw)
        return azs_fail(AZS_ERR_NOMEM, "chunk buffer of %zu bytes", cap);
    size_t n = 0, got = 0;
    s = azs_source_read_raw(src, frame, raw, cap, &n);
    if (s == AZS_OK) {
        s = azs_chunk_decode(pt->codec, src->info.elem_size, raw, n, pixels, fb, &got);
        if (s == AZS_ERR_CAPACITY) /* the header announces more than the frame: its detail says so */
            s = AZS_ERR_SIZE_MISMATCH;
        if (s == AZS_OK && got != fb)
            s = azs_fail(AZS_ERR_SIZE_MISMATCH, "decoded %zu bytes, frame is %zu", got, fb);
        if (s)
            azs_fail_context(s, "'%s' in '%s' frame %llu: ", pt->dset, pt->file,
                             (unsigned long long)local);
    }
    free(raw);
    return s;
}
