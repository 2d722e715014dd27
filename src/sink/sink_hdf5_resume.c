/* The HDF5 sink's resume: the partial file (or a copy of the output) opened for writing
 * again, its configuration checked by the caller, every row up to frames_written read back
 * (a row whose chunk never reached the disk reads as the fill value, which no written row
 * holds), the rows past it dropped. Called with the HDF5 lock held and the file's lock
 * taken (out_file.h). */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "sink/sink_hdf5_internal.h"

static hid_t open_dset(hid_t parent, const char *name, int rank, const hsize_t *row, hsize_t *rows)
{
    if (H5Lexists(parent, name, H5P_DEFAULT) <= 0)
        return -1;
    hid_t d = H5Dopen2(parent, name, H5P_DEFAULT);
    if (d < 0)
        return -1;
    hid_t sp = H5Dget_space(d);
    hsize_t dims[3] = {0, 0, 0};
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, dims, NULL) == rank;
    for (int i = 1; ok && i < rank; i++)
        ok = dims[i] == row[i - 1];
    if (sp >= 0)
        H5Sclose(sp);
    if (!ok) {
        H5Dclose(d);
        return -1;
    }
    *rows = dims[0];
    return d;
}

static int read_u64_attr(hid_t obj, const char *name, uint64_t *v)
{
    if (H5Aexists(obj, name) <= 0)
        return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Aread(a, H5T_NATIVE_UINT64, v);
    if (a >= 0)
        H5Aclose(a);
    return r < 0 ? -1 : 0;
}

static char *read_config(hid_t file)
{
    if (H5Lexists(file, "entry/reduction", H5P_DEFAULT) <= 0 ||
        H5Lexists(file, "entry/reduction/input", H5P_DEFAULT) <= 0 ||
        H5Lexists(file, AZS_H5_CONFIG_PATH, H5P_DEFAULT) <= 0)
        return NULL;
    hid_t d = H5Dopen2(file, AZS_H5_CONFIG_PATH, H5P_DEFAULT);
    if (d < 0)
        return NULL;
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    char *v = NULL, *copy = NULL;
    if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 && v) {
        size_t n = strlen(v) + 1;
        if ((copy = malloc(n)))
            memcpy(copy, v, n);
        H5free_memory(v);
    }
    H5Tclose(t);
    H5Dclose(d);
    return copy;
}

/* Rows [at, at+n) of d into buf. */
static herr_t read_rows(hid_t d, int rank, const hsize_t *row, uint64_t at, size_t n, hid_t memtype, void *buf)
{
    hsize_t start[3] = {at, 0, 0}, count[3] = {n, 0, 0};
    for (int i = 1; i < rank; i++)
        count[i] = row[i - 1];
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t r = fs < 0 || ms < 0 ? -1 : H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0)
        r = H5Dread(d, memtype, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0)
        H5Sclose(ms);
    if (fs >= 0)
        H5Sclose(fs);
    return r;
}

static int has_fill_f32(const float *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof bits);
        if (bits == AZS_H5_FILL_F32)
            return 1;
    }
    return 0;
}

/* Every row before `rows` read back and checked; counts the bad frames. 0, or -1 with why. */
static int verify_rows(h5_sink *s, uint64_t rows, uint64_t *bad, char *why, size_t why_n)
{
    *bad = 0;
    for (uint64_t at = 0; at < rows; at += s->batch_cap) {
        size_t n = rows - at < s->batch_cap ? (size_t)(rows - at) : s->batch_cap;
        if (read_rows(s->d_frame, 1, NULL, at, n, H5T_NATIVE_UINT64, s->b_frame) < 0 ||
            read_rows(s->d_status, 1, NULL, at, n, H5T_NATIVE_INT32, s->b_status) < 0 ||
            read_rows(s->d_i, s->rank, s->row_dims, at, n, H5T_NATIVE_FLOAT, s->b_i) < 0) {
            snprintf(why, why_n, "rows %llu..%llu cannot be read", (unsigned long long)at,
                     (unsigned long long)(at + n - 1));
            return -1;
        }
        int missing = has_fill_f32(s->b_i, n * s->row_len);
        if (!missing && s->d_err >= 0) {
            if (read_rows(s->d_err, s->rank, s->row_dims, at, n, H5T_NATIVE_FLOAT, s->b_i) < 0) {
                snprintf(why, why_n, "rows %llu..%llu of I_errors cannot be read", (unsigned long long)at,
                         (unsigned long long)(at + n - 1));
                return -1;
            }
            missing = has_fill_f32(s->b_i, n * s->row_len);
        }
        for (size_t r = 0; r < n && !missing; r++) {
            missing = s->b_frame[r] == AZS_H5_FILL_FRAME || s->b_status[r] == AZS_H5_FILL_STATUS;
            *bad += s->b_status[r] != 0;
        }
        if (missing) {
            snprintf(why, why_n, "a row among %llu..%llu never reached the disk", (unsigned long long)at,
                     (unsigned long long)(at + n - 1));
            return -1;
        }
    }
    return 0;
}

static void unreadable(h5_sink *s, char *why, size_t why_n, const char *what)
{
    char reason[256] = "";
    if (H5Eget_num(H5E_DEFAULT) > 0)
        azs_h5_sink_reason(reason, sizeof reason);
    snprintf(why, why_n, "%s%s%s", what, reason[0] ? ": " : "", reason);
    (void)s;
}

/* A write that failed for want of space can leave the superblock claiming more bytes than
 * the file holds (it is rewritten in place, the blocks past the end were not); libhdf5
 * then refuses the file as truncated. Extending it (sparse, no space taken) to the end
 * the superblock names lets it open; what lies in the hole is checked as any row is. */
static void extend_to_stored_eof(const char *path)
{
    unsigned char sb[48];
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    if (pread(fd, sb, sizeof sb, 0) == (ssize_t)sizeof sb && !memcmp(sb, "\211HDF\r\n\032\n", 8) &&
        fstat(fd, &st) == 0) {
        size_t at = sb[8] == 0 ? 40 : sb[8] == 1 ? 44 : 28; /* superblock versions 0, 1, 2-3 */
        int offsets = sb[8] <= 1 ? sb[13] : sb[9];
        uint64_t eof = 0;
        for (int i = 7; offsets == 8 && i >= 0; i--)
            eof = eof << 8 | sb[at + (size_t)i];
        if (offsets == 8 && eof > (uint64_t)st.st_size && eof < ((uint64_t)1 << 50) &&
            ftruncate(fd, (off_t)eof) != 0) {
            /* nothing more to try: the open below says why */
        }
    }
    close(fd);
}

azs_status azs_h5_sink_resume(h5_sink *s, const azs_sink_config *cfg, char *why, size_t why_n)
{
    why[0] = 0;
    s->file = H5Fopen(s->of.partial, H5F_ACC_RDWR, H5P_DEFAULT);
    if (s->file < 0) {
        extend_to_stored_eof(s->of.partial);
        s->file = H5Fopen(s->of.partial, H5F_ACC_RDWR, H5P_DEFAULT);
    }
    if (s->file < 0) {
        unreadable(s, why, why_n, "libhdf5 cannot open it");
        return AZS_OK;
    }
    azs_h5_sink_cloexec(s);
    int ok = H5Lexists(s->file, "entry", H5P_DEFAULT) > 0 &&
             (s->entry = H5Gopen2(s->file, "entry", H5P_DEFAULT)) >= 0;
    char *stored = ok ? read_config(s->file) : NULL;
    if (!stored) { /* an output of another layout (azstream before NXazint) is one too */
        unreadable(s, why, why_n, "no " AZS_H5_CONFIG_PATH);
        azs_h5_sink_close_objects(s);
        return AZS_OK;
    }
    /* Settings first: a file of other settings is refused, never started over. */
    azs_status st = cfg->resume_check ? cfg->resume_check(cfg->resume_ctx, stored) : AZS_OK;
    free(stored);
    if (st != AZS_OK) {
        azs_h5_sink_close_objects(s);
        return st;
    }
    hsize_t n_i = 0, n_err = 0, n_frame = 0, n_status = 0;
    ok = H5Lexists(s->entry, "result", H5P_DEFAULT) > 0 &&
         (s->result = H5Gopen2(s->entry, "result", H5P_DEFAULT)) >= 0;
    ok = ok && (s->d_i = open_dset(s->result, "I", s->rank, s->row_dims, &n_i)) >= 0;
    if (ok && s->with_errors)
        ok = (s->d_err = open_dset(s->result, "I_errors", s->rank, s->row_dims, &n_err)) >= 0;
    ok = ok && (s->d_frame = open_dset(s->result, "frame", 1, NULL, &n_frame)) >= 0;
    ok = ok && (s->d_status = open_dset(s->result, "frame_status", 1, NULL, &n_status)) >= 0;
    if (!ok) {
        unreadable(s, why, why_n, "no entry/result with I, frame and frame_status of this run's shape");
        azs_h5_sink_close_objects(s);
        return AZS_OK;
    }
    uint64_t rows = 0, bad = 0;
    if (read_u64_attr(s->result, "frames_written", &rows) < 0) {
        unreadable(s, why, why_n, "no frames_written attribute");
    } else if (rows > n_i || (s->with_errors && rows > n_err) || rows > n_frame || rows > n_status) {
        snprintf(why, why_n, "frames_written says %llu rows, the datasets hold fewer", (unsigned long long)rows);
    } else if (verify_rows(s, rows, &bad, why, why_n) == 0 &&
               (azs_h5_sink_set_rows(s, rows) < 0 || H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)) {
        unreadable(s, why, why_n, "dropping the rows past frames_written failed");
    }
    if (why[0]) {
        azs_h5_sink_close_objects(s);
        return AZS_OK;
    }
    s->written = s->committed = rows;
    s->bad = s->committed_bad = bad;
    s->base.rows = s->base.resumed = rows;
    s->base.bad = bad;
    s->last_flush = azs_now_seconds();
    return AZS_OK;
}
