/* Stack writer: see synth.h. Every HDF5 call under the HDF5 lock (src/h5/h5lock.h). */
#include <hdf5.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "synth/synth.h"

struct azs_stack_writer {
    hid_t fid, did;
    uint64_t nframes;
    uint32_t ny, nx;
    char *path;
};

static hid_t file_type(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return H5T_STD_U8LE;
    case AZS_U16: return H5T_STD_U16LE;
    case AZS_U32: return H5T_STD_U32LE;
    case AZS_U64: return H5T_STD_U64LE;
    case AZS_I8: return H5T_STD_I8LE;
    case AZS_I16: return H5T_STD_I16LE;
    case AZS_I32: return H5T_STD_I32LE;
    case AZS_I64: return H5T_STD_I64LE;
    case AZS_F32: return H5T_IEEE_F32LE;
    case AZS_F64: return H5T_IEEE_F64LE;
    default: return -1;
    }
}

static azs_status h5err(azs_status s, const char *what, const char *path)
{
    char d[600];
    azs_h5_error_detail(d, sizeof d);
    return azs_fail(s, "'%s': %s%s%s%s", path, what, d[0] ? " (HDF5: " : "", d, d[0] ? ")" : "");
}

azs_status azs_stack_writer_create(const char *path, const char *dataset, uint64_t nframes,
                                   uint32_t ny, uint32_t nx, azs_dtype dtype, azs_codec codec,
                                   azs_stack_writer **out)
{
    if (!out || !path)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_stack_writer_create: NULL argument");
    *out = NULL;
    if (nframes == 0 || ny == 0 || nx == 0 || file_type(dtype) < 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "'%s': stack of %llu x %u x %u %s", path,
                        (unsigned long long)nframes, ny, nx, azs_dtype_name(dtype));
    azs_stack_writer *w = calloc(1, sizeof *w);
    size_t pl = strlen(path) + 1;
    if (!w || !(w->path = malloc(pl))) {
        free(w);
        return azs_fail(AZS_ERR_NOMEM, "stack writer");
    }
    memcpy(w->path, path, pl);
    w->fid = w->did = -1;
    w->nframes = nframes;
    w->ny = ny;
    w->nx = nx;
    azs_status s = AZS_OK;
    hid_t sp = -1, dcpl = -1, lcpl = -1;
    azs_h5_lock();
    w->fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->fid < 0) {
        s = h5err(AZS_ERR_IO, "cannot create file", path);
        goto out;
    }
    hsize_t dims[3] = {nframes, ny, nx}, chunk[3] = {1, ny, nx};
    sp = H5Screate_simple(3, dims, NULL);
    dcpl = H5Pcreate(H5P_DATASET_CREATE);
    lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    H5Pset_chunk(dcpl, 3, chunk);
    /* Chunks are written whole: no fill of the allocated space needed. */
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
    if (codec == AZS_CODEC_BSLZ4) {
        unsigned cd[5] = {0, 2, (unsigned)azs_dtype_size(dtype), 0, 2};
        H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
    } else if (codec == AZS_CODEC_LZ4) {
        H5Pset_filter(dcpl, 32004, H5Z_FLAG_OPTIONAL, 0, NULL);
    }
    w->did = H5Dcreate2(w->fid, dataset ? dataset : "/entry/data/data", file_type(dtype), sp,
                        lcpl, dcpl, H5P_DEFAULT);
    if (w->did < 0)
        s = h5err(AZS_ERR_IO, "cannot create the dataset", path);
out:
    if (sp >= 0)
        H5Sclose(sp);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    if (lcpl >= 0)
        H5Pclose(lcpl);
    azs_h5_unlock();
    if (s) {
        azs_stack_writer_close(w);
        return s;
    }
    *out = w;
    return AZS_OK;
}

azs_status azs_stack_writer_put(azs_stack_writer *w, uint64_t frame, const void *chunk,
                                size_t size)
{
    if (!w || !chunk || frame >= w->nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "stack writer: frame %llu of %llu",
                        (unsigned long long)frame, w ? (unsigned long long)w->nframes : 0ULL);
    hsize_t off[3] = {frame, 0, 0};
    azs_status s = AZS_OK;
    azs_h5_lock();
    if (H5Dwrite_chunk(w->did, H5P_DEFAULT, 0, off, size, chunk) < 0)
        s = h5err(AZS_ERR_IO, "writing a chunk", w->path);
    azs_h5_unlock();
    return s;
}

azs_status azs_stack_writer_close(azs_stack_writer *w)
{
    if (!w)
        return AZS_OK;
    azs_status s = AZS_OK;
    azs_h5_lock();
    if (w->did >= 0 && H5Dclose(w->did) < 0)
        s = h5err(AZS_ERR_IO, "closing the dataset", w->path);
    if (w->fid >= 0 && H5Fclose(w->fid) < 0 && s == AZS_OK)
        s = h5err(AZS_ERR_IO, "closing the file", w->path);
    azs_h5_unlock();
    free(w->path);
    free(w);
    return s;
}
