/* HDF5/NeXus sink (layout of the file: include/azstream/sink.h).
 *
 * Rows are converted to float32 and buffered in memory (a batch of up to ~4 MiB or 256
 * rows), then the extendible datasets are grown and the batch is written with one
 * hyperslab write each: one H5Dset_extent per batch instead of per frame. Every batch
 * ends with frames_written updated and, at most once per second, an H5Fflush, so a run
 * killed between batches leaves a file whose metadata matches its data. Chunks are one
 * frame each so readers can pick frames cheaply. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/clock.h"
#include "common/error.h"
#include "h5/h5lock.h"
#include "sink/sink_internal.h"

typedef struct h5_sink {
    azs_sink base;
    char *path;
    hid_t file, entry, result, process;
    hid_t d_i, d_err, d_frame, d_status;
    int rank;                /* 2 (1D profiles) or 3 (2D) */
    hsize_t row_dims[2];     /* (npt) or (npt_azim, npt) */
    size_t row_len;          /* values per row */
    int with_errors;
    /* batch */
    size_t batch_cap, batch_n;
    float *b_i, *b_err;
    uint64_t *b_frame;
    int32_t *b_status;
    uint64_t written;        /* rows in the file */
    uint64_t bad;
    double last_flush;
} h5_sink;

/* Strings are variable-length UTF-8: h5py reads them back as str, silx and NeXus tools
 * accept them, and no length has to be chosen. */
static hid_t vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static herr_t attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = vstr_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

static herr_t attr_str_array(hid_t obj, const char *name, const char *const *v, size_t n)
{
    hid_t t = vstr_type();
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

static herr_t attr_u64(hid_t obj, const char *name, uint64_t v)
{
    if (H5Aexists(obj, name) > 0)
        H5Adelete(obj, name);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return r;
}

static herr_t attr_i32(hid_t obj, const char *name, int v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return r;
}

static hid_t group(hid_t parent, const char *name, const char *nxclass)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && attr_str(g, "NX_class", nxclass) < 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

static herr_t dset_str(hid_t parent, const char *name, const char *value)
{
    hid_t t = vstr_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(parent, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

static hid_t dset_1d_f64(hid_t parent, const char *name, const double *v, hsize_t n)
{
    hid_t sp = H5Screate_simple(1, &n, NULL);
    hid_t d = H5Dcreate2(parent, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0 && H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) {
        H5Dclose(d);
        d = -1;
    }
    H5Sclose(sp);
    return d;
}

/* Extendible [0, row_dims...] dataset chunked one row per chunk. */
static hid_t dset_rows(h5_sink *s, const char *name, hid_t type, int rank, const hsize_t *row)
{
    hsize_t dims[3] = {0, 0, 0}, maxd[3] = {H5S_UNLIMITED, 0, 0}, chunk[3] = {1, 1, 1};
    for (int i = 1; i < rank; i++)
        dims[i] = maxd[i] = chunk[i] = row[i - 1];
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    hid_t d = H5Dcreate2(s->result, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return d;
}

static azs_status append(hid_t d, int rank, const hsize_t *row, uint64_t at, size_t n, hid_t memtype,
                         const void *buf)
{
    hsize_t dims[3] = {at + n, 0, 0}, start[3] = {at, 0, 0}, count[3] = {n, 0, 0};
    for (int i = 1; i < rank; i++)
        dims[i] = count[i] = row[i - 1];
    if (H5Dset_extent(d, dims) < 0)
        return AZS_ERR_IO;
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0)
        r = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf);
    H5Sclose(ms);
    H5Sclose(fs);
    return r < 0 ? AZS_ERR_IO : AZS_OK;
}

static azs_status h5_flush_batch(h5_sink *s, int force_file_flush)
{
    if (s->batch_n) {
        azs_status st = append(s->d_i, s->rank, s->row_dims, s->written, s->batch_n,
                               H5T_NATIVE_FLOAT, s->b_i);
        if (st == AZS_OK && s->d_err >= 0)
            st = append(s->d_err, s->rank, s->row_dims, s->written, s->batch_n, H5T_NATIVE_FLOAT,
                        s->b_err);
        if (st == AZS_OK)
            st = append(s->d_frame, 1, NULL, s->written, s->batch_n, H5T_NATIVE_UINT64, s->b_frame);
        if (st == AZS_OK)
            st = append(s->d_status, 1, NULL, s->written, s->batch_n, H5T_NATIVE_INT32, s->b_status);
        if (st != AZS_OK)
            return azs_fail(st, "%s: writing %zu rows after row %llu failed", s->path, s->batch_n,
                            (unsigned long long)s->written);
        s->written += s->batch_n;
        s->batch_n = 0;
        if (attr_u64(s->result, "frames_written", s->written) < 0 ||
            attr_u64(s->result, "frames_bad", s->bad) < 0)
            return azs_fail(AZS_ERR_IO, "%s: updating frames_written failed", s->path);
    }
    double t = azs_now_seconds();
    if (force_file_flush || t - s->last_flush > 1.0) {
        if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
            return azs_fail(AZS_ERR_IO, "%s: flush failed", s->path);
        s->last_flush = t;
    }
    return AZS_OK;
}

static azs_status h5_write(azs_sink *b, uint64_t frame, const double *inten, const double *sigma,
                           azs_status fs)
{
    h5_sink *s = (h5_sink *)b;
    float *ri = s->b_i + s->batch_n * s->row_len;
    for (size_t i = 0; i < s->row_len; i++)
        ri[i] = (float)inten[i];
    if (s->with_errors) {
        float *re = s->b_err + s->batch_n * s->row_len;
        for (size_t i = 0; i < s->row_len; i++)
            re[i] = sigma ? (float)sigma[i] : NAN;
    }
    s->b_frame[s->batch_n] = frame;
    s->b_status[s->batch_n] = (int32_t)fs;
    if (fs != AZS_OK)
        s->bad++;
    s->batch_n++;
    if (s->batch_n == s->batch_cap) {
        azs_h5_lock(); /* libhdf5 is not thread-safe: workers may be in it (FILTERED reads) */
        azs_status st = h5_flush_batch(s, 0);
        azs_h5_unlock();
        return st;
    }
    return AZS_OK;
}

static azs_status h5_flush(azs_sink *b)
{
    azs_h5_lock();
    azs_status st = h5_flush_batch((h5_sink *)b, 1);
    azs_h5_unlock();
    return st;
}

static azs_status h5_close_locked(azs_sink *b)
{
    h5_sink *s = (h5_sink *)b;
    azs_status st = AZS_OK;
    if (s->file >= 0)
        st = h5_flush_batch(s, 0);
    hid_t ds[] = {s->d_i, s->d_err, s->d_frame, s->d_status};
    for (size_t i = 0; i < 4; i++)
        if (ds[i] >= 0)
            H5Dclose(ds[i]);
    if (s->process >= 0)
        H5Gclose(s->process);
    if (s->result >= 0)
        H5Gclose(s->result);
    if (s->entry >= 0)
        H5Gclose(s->entry);
    if (s->file >= 0 && H5Fclose(s->file) < 0 && st == AZS_OK)
        st = azs_fail(AZS_ERR_IO, "%s: closing failed", s->path);
    free(s->b_i);
    free(s->b_err);
    free(s->b_frame);
    free(s->b_status);
    free(s->path);
    free(s);
    return st;
}

static azs_status h5_close(azs_sink *b)
{
    azs_h5_lock();
    azs_status st = h5_close_locked(b);
    azs_h5_unlock();
    return st;
}

static azs_status open_locked(const char *path, const azs_sink_config *cfg, azs_sink **out);

azs_status azs_sink_open_hdf5(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    azs_h5_lock();
    azs_status st = open_locked(path, cfg, out);
    azs_h5_unlock();
    return st;
}

static azs_status open_locked(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    *out = NULL;
    if (!cfg->radial || cfg->npt == 0 || (cfg->npt_azim > 0 && !cfg->azimuthal))
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: sink needs the radial (and azimuthal) axis", path);
    h5_sink *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "hdf5 sink");
    s->file = s->entry = s->result = s->process = -1;
    s->d_i = s->d_err = s->d_frame = s->d_status = -1;
    s->base.write = h5_write;
    s->base.flush = h5_flush;
    s->base.close = h5_close;
    s->with_errors = cfg->with_errors;
    s->rank = cfg->npt_azim ? 3 : 2;
    if (cfg->npt_azim) {
        s->row_dims[0] = cfg->npt_azim;
        s->row_dims[1] = cfg->npt;
    } else {
        s->row_dims[0] = cfg->npt;
    }
    s->row_len = (size_t)cfg->npt * (cfg->npt_azim ? cfg->npt_azim : 1);
    size_t cap = (4u << 20) / (s->row_len * sizeof(float) * (cfg->with_errors ? 2 : 1));
    s->batch_cap = cap < 1 ? 1 : cap > 256 ? 256 : cap;
    size_t n = strlen(path) + 1;
    s->path = malloc(n);
    s->b_i = malloc(s->batch_cap * s->row_len * sizeof(float));
    s->b_err = cfg->with_errors ? malloc(s->batch_cap * s->row_len * sizeof(float)) : NULL;
    s->b_frame = malloc(s->batch_cap * sizeof(uint64_t));
    s->b_status = malloc(s->batch_cap * sizeof(int32_t));
    if (!s->path || !s->b_i || (cfg->with_errors && !s->b_err) || !s->b_frame || !s->b_status) {
        h5_close_locked(&s->base);
        return azs_fail(AZS_ERR_NOMEM, "hdf5 sink buffers");
    }
    memcpy(s->path, path, n);

    s->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (s->file < 0) {
        h5_close_locked(&s->base);
        return azs_fail(AZS_ERR_IO, "%s: cannot create the output file", path);
    }
    int ok = attr_str(s->file, "default", "entry") >= 0;
    ok = ok && (s->entry = group(s->file, "entry", "NXentry")) >= 0;
    ok = ok && attr_str(s->entry, "default", "result") >= 0;
    ok = ok && (s->result = group(s->entry, "result", "NXdata")) >= 0;
    ok = ok && attr_str(s->result, "signal", "I") >= 0;
    if (ok && cfg->npt_azim) {
        const char *axes[] = {".", "azimuthal", "radial"};
        ok = attr_str_array(s->result, "axes", axes, 3) >= 0 &&
             attr_i32(s->result, "azimuthal_indices", 1) >= 0 &&
             attr_i32(s->result, "radial_indices", 2) >= 0;
    } else if (ok) {
        const char *axes[] = {".", "radial"};
        ok = attr_str_array(s->result, "axes", axes, 2) >= 0 &&
             attr_i32(s->result, "radial_indices", 1) >= 0;
    }
    hid_t d = -1;
    ok = ok && (d = dset_1d_f64(s->result, "radial", cfg->radial, cfg->npt)) >= 0;
    if (ok) {
        ok = attr_str(d, "units", cfg->unit ? cfg->unit : "") >= 0 &&
             attr_str(d, "long_name", cfg->unit ? cfg->unit : "radial") >= 0;
        H5Dclose(d);
    }
    if (ok && cfg->npt_azim) {
        ok = (d = dset_1d_f64(s->result, "azimuthal", cfg->azimuthal, cfg->npt_azim)) >= 0;
        if (ok) {
            const char *au = cfg->azimuthal_unit ? cfg->azimuthal_unit : "chi_deg";
            ok = attr_str(d, "units", au) >= 0 && attr_str(d, "long_name", au) >= 0;
            H5Dclose(d);
        }
    }
    ok = ok && (s->d_i = dset_rows(s, "I", H5T_IEEE_F32LE, s->rank, s->row_dims)) >= 0;
    if (ok && cfg->with_errors)
        ok = (s->d_err = dset_rows(s, "I_errors", H5T_IEEE_F32LE, s->rank, s->row_dims)) >= 0;
    ok = ok && (s->d_frame = dset_rows(s, "frame", H5T_STD_U64LE, 1, NULL)) >= 0;
    ok = ok && (s->d_status = dset_rows(s, "frame_status", H5T_STD_I32LE, 1, NULL)) >= 0;
    ok = ok && attr_u64(s->result, "frames_written", 0) >= 0 && attr_u64(s->result, "frames_bad", 0) >= 0;

    ok = ok && (s->process = group(s->entry, "process", "NXprocess")) >= 0;
    if (ok) {
        char date[64];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
        ok = dset_str(s->process, "program", cfg->program ? cfg->program : "azstream") >= 0 &&
             dset_str(s->process, "version", cfg->version ? cfg->version : "") >= 0 &&
             dset_str(s->process, "date", date) >= 0 &&
             dset_str(s->process, "configuration", cfg->config_json ? cfg->config_json : "{}") >= 0;
    }
    if (!ok) {
        h5_close_locked(&s->base);
        return azs_fail(AZS_ERR_IO, "%s: writing the NeXus structure failed", path);
    }
    s->last_flush = azs_now_seconds();
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
        h5_close_locked(&s->base);
        return azs_fail(AZS_ERR_IO, "%s: flush failed", path);
    }
    *out = &s->base;
    return AZS_OK;
}
