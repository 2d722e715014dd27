/* The detector's own pixel mask of a DECTRIS master (source.h: azs_source_pixel_mask).
 * Read once, under the HDF5 lock, from the file the source was opened with. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "source_internal.h"

#define PIXEL_MASK_PATH "/entry/instrument/detector/detectorSpecific/pixel_mask"

/* Every link of `path` exists (H5Lexists on a path whose parent is missing is an error). */
static int path_exists(hid_t fid, const char *path)
{
    char buf[sizeof PIXEL_MASK_PATH];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || !*p) {
            const char c = *p;
            *p = 0;
            if (H5Lexists(fid, buf, H5P_DEFAULT) <= 0)
                return 0;
            if (!c)
                return 1;
            *p = c;
        }
    }
}

static azs_status read_locked(azs_source *src, uint8_t **mask, size_t *nmasked)
{
    if (src->nfiles == 0)
        return azs_fail(AZS_ERR_INTERNAL, "pixel mask: the source has no file");
    const char *file = src->files[0].path;
    hid_t fid = azs_src_fid(src, 0); /* reopened: closed once the source was indexed */
    if (fid < 0)
        return AZS_ERR_IO;
    if (!path_exists(fid, PIXEL_MASK_PATH))
        return azs_fail(AZS_ERR_NOT_FOUND, "'%s' has no %s", file, PIXEL_MASK_PATH);
    char what[1200];
    snprintf(what, sizeof what, "'%s' in '%s'", PIXEL_MASK_PATH, file);
    hid_t did = H5Dopen2(fid, PIXEL_MASK_PATH, H5P_DEFAULT);
    if (did < 0)
        return azs_src_h5_fail(AZS_ERR_CORRUPT, what);
    azs_status st = AZS_OK;
    hid_t sid = H5Dget_space(did), tid = H5Dget_type(did);
    hsize_t dims[3] = {0, 0, 0};
    int rank = sid >= 0 ? H5Sget_simple_extent_ndims(sid) : -1;
    if (rank == 2)
        H5Sget_simple_extent_dims(sid, dims, NULL);
    uint64_t *v = NULL;
    const size_t n = (size_t)src->info.ny * src->info.nx;
    if (sid < 0 || tid < 0) {
        st = azs_src_h5_fail(AZS_ERR_CORRUPT, what);
    } else if (H5Tget_class(tid) != H5T_INTEGER) {
        st = azs_fail(AZS_ERR_FORMAT, "%s: not integers", what);
    } else if (rank != 2 || dims[0] != src->info.ny || dims[1] != src->info.nx) {
        st = azs_fail(AZS_ERR_FORMAT, "%s: shape %s%llux%llu does not match the frames' %ux%u", what,
                      rank == 2 ? "" : "(not 2D) ", (unsigned long long)dims[0],
                      (unsigned long long)dims[1], src->info.ny, src->info.nx);
    } else if (!(v = malloc((n ? n : 1) * sizeof *v)) || !(*mask = malloc(n ? n : 1))) {
        st = azs_fail(AZS_ERR_NOMEM, "%s: %zu pixels", what, n);
    } else {
        /* Read as 64-bit integers of the stored signedness: any bit set is a masked pixel,
         * and no conversion may turn one into 0 (a negative value read as unsigned would). */
        hid_t mt = H5Tget_sign(tid) == H5T_SGN_NONE ? H5T_NATIVE_ULLONG : H5T_NATIVE_LLONG;
        if (H5Dread(did, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
            st = azs_src_h5_fail(AZS_ERR_IO, what);
        } else {
            size_t count = 0;
            for (size_t p = 0; p < n; p++) {
                (*mask)[p] = v[p] != 0;
                count += v[p] != 0;
            }
            if (nmasked)
                *nmasked = count;
        }
    }
    if (st != AZS_OK) {
        free(*mask);
        *mask = NULL;
    }
    free(v);
    if (tid >= 0)
        H5Tclose(tid);
    if (sid >= 0)
        H5Sclose(sid);
    H5Dclose(did);
    return st;
}

azs_status azs_source_pixel_mask(azs_source *src, uint8_t **mask, size_t *nmasked)
{
    if (!src || !mask)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_source_pixel_mask: NULL argument");
    *mask = NULL;
    if (nmasked)
        *nmasked = 0;
    azs_h5_lock();
    azs_status st = read_locked(src, mask, nmasked);
    azs_h5_unlock();
    return st;
}
