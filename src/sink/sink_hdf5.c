/* HDF5/NeXus sink (layout of the file: include/azstream/sink.h).
 *
 * Rows are converted to float32 and buffered in memory (a batch of up to ~4 MiB or 256
 * rows), then the extendible datasets are grown and the batch is written with one
 * hyperslab write each: one H5Dset_extent per batch instead of per frame. Chunks are one
 * frame each so readers can pick frames cheaply.
 *
 * The file is .NAME.azs-partial beside the output until azs_sink_close renames it
 * (out_file.h). Rows are committed at most once per second, and always at the end: the
 * file is flushed (the rows reach the OS), then frames_written is rewritten in place and
 * the file flushed again. So frames_written on disk never counts a row whose data is not
 * there, whenever the process dies; a resume drops the rows past it. After a failed write
 * (disk full, quota, file size limit) the file is cut back to the rows last committed. */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "h5/h5lock.h"
#include "sink/sink_hdf5_internal.h"

herr_t azs_h5_attr_set_u64(hid_t obj, const char *name, uint64_t v)
{
    /* Rewritten in place, never deleted and created again: the object header keeps its
     * size and place, so a process dying here leaves the old value or the new one. */
    hid_t a = H5Aexists(obj, name) > 0 ? H5Aopen(obj, name, H5P_DEFAULT) : -1;
    if (a < 0) {
        hid_t sp = H5Screate(H5S_SCALAR);
        a = H5Acreate2(obj, name, H5T_STD_U64LE, sp, H5P_DEFAULT, H5P_DEFAULT);
        H5Sclose(sp);
    }
    herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_UINT64, &v);
    if (a >= 0)
        H5Aclose(a);
    return r;
}

/* Extendible [0, row_dims...] dataset chunked one row per chunk, its fill value one no
 * row holds (sink_hdf5_internal.h). */
static hid_t dset_rows(h5_sink *s, const char *name, hid_t type, int rank, const hsize_t *row,
                       hid_t filltype, const void *fill)
{
    hsize_t dims[3] = {0, 0, 0}, maxd[3] = {H5S_UNLIMITED, 0, 0}, chunk[3] = {1, 1, 1};
    for (int i = 1; i < rank; i++)
        dims[i] = maxd[i] = chunk[i] = row[i - 1];
    hid_t sp = H5Screate_simple(rank, dims, maxd);
    hid_t pl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(pl, rank, chunk);
    H5Pset_fill_value(pl, filltype, fill);
    hid_t d = H5Dcreate2(s->result, name, type, sp, H5P_DEFAULT, pl, H5P_DEFAULT);
    H5Pclose(pl);
    H5Sclose(sp);
    return d;
}

typedef struct reason_walk {
    int err;
    char first[256];
} reason_walk;

static herr_t reason_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    reason_walk *w = data;
    (void)n;
    const char *p = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (p && !w->err)
        w->err = atoi(p + 8);
    if (e->desc && e->desc[0] && !w->first[0])
        snprintf(w->first, sizeof w->first, "%s", e->desc);
    return 0;
}

void azs_h5_sink_reason(char *buf, size_t n)
{
    /* libhdf5's sec2 driver puts the errno of a failed write in its message, among much
     * else; the system's words for it are what a user can act on. */
    reason_walk w;
    memset(&w, 0, sizeof w);
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, reason_cb, &w);
    if (w.err > 0)
        snprintf(buf, n, "%s", strerror(w.err));
    else if (w.first[0])
        azs_h5_error_detail(buf, n);
    else
        snprintf(buf, n, "libhdf5 gave no reason");
}

herr_t azs_h5_sink_set_rows(h5_sink *s, uint64_t rows)
{
    hid_t ds[] = {s->d_i, s->d_err, s->d_frame, s->d_status};
    int rank[] = {s->rank, s->rank, 1, 1};
    herr_t r = 0;
    for (size_t k = 0; k < 4; k++) {
        hsize_t dims[3] = {rows, 0, 0};
        for (int i = 1; i < rank[k]; i++)
            dims[i] = s->row_dims[i - 1];
        if (ds[k] >= 0 && H5Dset_extent(ds[k], dims) < 0)
            r = -1;
    }
    return r;
}

/* Notes why the HDF5 call that just failed did (before another call clears the stack). */
static herr_t failed_here(h5_sink *s)
{
    if (!s->why[0])
        azs_h5_sink_reason(s->why, sizeof s->why);
    return -1;
}

static herr_t append(h5_sink *s, hid_t d, int rank, uint64_t at, size_t n, hid_t memtype, const void *buf)
{
    hsize_t dims[3] = {at + n, 0, 0}, start[3] = {at, 0, 0}, count[3] = {n, 0, 0};
    for (int i = 1; i < rank; i++)
        dims[i] = count[i] = s->row_dims[i - 1];
    if (H5Dset_extent(d, dims) < 0)
        return failed_here(s);
    hid_t fs = H5Dget_space(d);
    hid_t ms = H5Screate_simple(rank, count, NULL);
    herr_t r = H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, count, NULL);
    if (r >= 0 && (r = H5Dwrite(d, memtype, ms, fs, H5P_DEFAULT, buf)) < 0)
        failed_here(s);
    H5Sclose(ms);
    H5Sclose(fs);
    return r;
}

/* A write failed: from now on the file is what it held at the last commit. */
static azs_status write_failed(h5_sink *s, const char *what)
{
    failed_here(s);
    s->failed = 1;
    azs_h5_sink_seal(s);
    return azs_fail(AZS_ERR_IO, "%s: %s failed: %s (the output keeps the %llu rows written before)", s->of.target,
                    what, s->why, (unsigned long long)s->committed);
}

/* A file size limit (ulimit -f) is known in advance, and a write past it would leave a
 * superblock that claims bytes the file cannot hold: a batch that could cross it is
 * refused before anything is written. The estimate is generous: the rows, and per row
 * more than its chunks' index entries take. */
static azs_status check_size_limit(h5_sink *s)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return AZS_OK;
    hsize_t size = 0;
    if (H5Fget_filesize(s->file, &size) < 0)
        return AZS_OK;
    const uint64_t row = (uint64_t)s->row_len * sizeof(float) * (s->with_errors ? 2 : 1) + 12 + 512;
    if ((uint64_t)size + s->batch_n * row + (64u << 10) <= (uint64_t)rl.rlim_cur)
        return AZS_OK;
    snprintf(s->why, sizeof s->why, "%s (the file size limit, ulimit -f, is %llu bytes)", strerror(EFBIG),
             (unsigned long long)rl.rlim_cur);
    s->failed = 1;
    return azs_fail(AZS_ERR_IO, "%s: writing rows failed: %s (the output keeps the %llu rows written before)",
                    s->of.target, s->why, (unsigned long long)s->committed);
}

static azs_status h5_flush_batch(h5_sink *s, int force_commit)
{
    if (s->failed)
        return azs_fail(AZS_ERR_IO, "%s: an earlier write failed", s->of.target);
    if (s->batch_n && check_size_limit(s) != AZS_OK)
        return AZS_ERR_IO;
    if (s->batch_n) {
        herr_t r = append(s, s->d_i, s->rank, s->written, s->batch_n, H5T_NATIVE_FLOAT, s->b_i);
        if (r >= 0 && s->d_err >= 0)
            r = append(s, s->d_err, s->rank, s->written, s->batch_n, H5T_NATIVE_FLOAT, s->b_err);
        if (r >= 0)
            r = append(s, s->d_frame, 1, s->written, s->batch_n, H5T_NATIVE_UINT64, s->b_frame);
        if (r >= 0)
            r = append(s, s->d_status, 1, s->written, s->batch_n, H5T_NATIVE_INT32, s->b_status);
        if (r < 0)
            return write_failed(s, "writing rows");
        s->written += s->batch_n;
        s->batch_n = 0;
    }
    (void)force_commit; /* every batch is committed: a failure keeps all but the last one */
    if (s->committed == s->written)
        return AZS_OK;
    /* The rows first, then the count that vouches for them (see the top of this file). */
    if (H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        return write_failed(s, "writing rows");
    if (azs_h5_attr_set_u64(s->result, "frames_written", s->written) < 0 ||
        azs_h5_attr_set_u64(s->result, "frames_bad", s->bad) < 0 || H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0)
        return write_failed(s, "updating frames_written");
    double t = azs_now_seconds();
    s->committed = s->written;
    s->committed_bad = s->bad;
    s->last_flush = t;
    return AZS_OK;
}

static azs_status h5_write(azs_sink *b, uint64_t frame, const double *inten, const double *sigma,
                           azs_status fs)
{
    h5_sink *s = (h5_sink *)b;
    if (s->failed)
        return azs_fail(AZS_ERR_IO, "%s: an earlier write failed", s->of.target);
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

void azs_h5_sink_seal(h5_sink *s)
{
    void *h = NULL;
    if (s->sealed || s->file < 0 || H5Fget_vfd_handle(s->file, H5P_DEFAULT, &h) < 0 || !h)
        return;
    int m = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (m >= 0 && dup2(m, *(int *)h) >= 0)
        s->sealed = 1;
    if (m >= 0)
        close(m);
}

void azs_h5_sink_cloexec(h5_sink *s)
{
    void *h = NULL;
    if (s->file >= 0 && H5Fget_vfd_handle(s->file, H5P_DEFAULT, &h) >= 0 && h)
        fcntl(*(int *)h, F_SETFD, fcntl(*(int *)h, F_GETFD) | FD_CLOEXEC);
}

int azs_h5_sink_close_objects(h5_sink *s)
{
    /* What cannot be flushed cannot be closed, and libhdf5 1.10 crashes at exit over a
     * file whose H5Fclose failed: seal it first. */
    int bad = s->sealed;
    if (s->file >= 0 && !s->sealed && H5Fflush(s->file, H5F_SCOPE_GLOBAL) < 0) {
        failed_here(s);
        azs_h5_sink_seal(s);
        bad = 1;
    }
    hid_t ds[] = {s->d_i, s->d_err, s->d_frame, s->d_status};
    for (size_t i = 0; i < 4; i++)
        if (ds[i] >= 0 && H5Dclose(ds[i]) < 0)
            bad = 1;
    hid_t gs[] = {s->process, s->result, s->entry};
    for (size_t i = 0; i < 3; i++)
        if (gs[i] >= 0 && H5Gclose(gs[i]) < 0)
            bad = 1;
    if (s->file >= 0 && H5Fclose(s->file) < 0)
        bad = 1;
    s->d_i = s->d_err = s->d_frame = s->d_status = -1;
    s->process = s->result = s->entry = s->file = -1;
    s->sealed = 0;
    return bad;
}

static void free_sink(h5_sink *s)
{
    azs_out_file_release(&s->of);
    free(s->b_i);
    free(s->b_err);
    free(s->b_frame);
    free(s->b_status);
    free(s);
}

/* After a failed write, the file as the failure left it (sealed, closed) is opened again
 * and cut back to the rows its frames_written vouches for, each read back: the resume's
 * path, without a configuration to check. 1 if it now holds exactly those rows. */
static int repair(h5_sink *s, char *why, size_t why_n)
{
    azs_sink_config none;
    memset(&none, 0, sizeof none);
    s->why[0] = 0;
    azs_status st = azs_h5_sink_resume(s, &none, why, why_n);
    if (st != AZS_OK || why[0])
        return 0;
    if (azs_h5_sink_close_objects(s)) {
        snprintf(why, why_n, "%s", s->why[0] ? s->why : "closing failed");
        return 0;
    }
    return 1;
}

/* Adds words after the current error detail. */
static void fail_more(azs_status st, const char *fmt, ...) AZS_PRINTF(2, 3);
static void fail_more(azs_status st, const char *fmt, ...)
{
    char prev[1024], more[512];
    snprintf(prev, sizeof prev, "%s", azs_last_error());
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(more, sizeof more, fmt, ap);
    va_end(ap);
    azs_fail(st, "%s%s", prev, more);
}

static azs_status h5_close_locked(h5_sink *s, int put_in_place)
{
    azs_status st = AZS_OK;
    int consistent = 1;
    if (s->file >= 0 && put_in_place && !s->failed)
        st = h5_flush_batch(s, 1);
    if (azs_h5_sink_close_objects(s) && put_in_place && !s->failed) {
        s->failed = 1;
        if (st == AZS_OK)
            st = azs_fail(AZS_ERR_IO, "%s: closing failed: %s", s->of.target, s->why);
    }
    if (put_in_place && s->failed) {
        /* The detail is the failed write's (write_failed): it says why. */
        char why[512];
        st = AZS_ERR_IO;
        if (!(consistent = repair(s, why, sizeof why)))
            fail_more(st, "; cutting %s back to its good rows failed too: %s", s->of.target, why);
    }
    if (put_in_place && consistent) {
        azs_status cs = azs_out_file_commit(&s->of);
        if (cs != AZS_OK) {
            if (st == AZS_OK)
                st = cs;
            else /* keep the first failure's words, add where the rows are */
                fail_more(st, "; and the rows could not be put in place: see %s", s->of.partial);
        }
    } else if (put_in_place) {
        /* Not renamed onto the output: a file libhdf5 could not finish is no result. */
        fail_more(st, " (left as %s, not renamed onto the output)", s->of.partial);
    } else if (!s->keep_partial && s->of.partial) {
        unlink(s->of.partial);
    }
    free_sink(s);
    return st;
}

static azs_status h5_close(azs_sink *b)
{
    azs_h5_lock();
    azs_status st = h5_close_locked((h5_sink *)b, 1);
    azs_h5_unlock();
    return st;
}

static void h5_discard(azs_sink *b)
{
    azs_h5_lock();
    h5_close_locked((h5_sink *)b, 0);
    azs_h5_unlock();
}

/* The row datasets of a new file (the rest of its structure: sink_hdf5_nexus.c). */
int azs_h5_sink_make_rows(h5_sink *s, const azs_sink_config *cfg)
{
    const uint32_t fill_f32 = AZS_H5_FILL_F32;
    float fill_i;
    memcpy(&fill_i, &fill_f32, sizeof fill_i);
    const uint64_t fill_frame = AZS_H5_FILL_FRAME;
    const int32_t fill_status = AZS_H5_FILL_STATUS;
    int ok = (s->d_i = dset_rows(s, "I", H5T_IEEE_F32LE, s->rank, s->row_dims, H5T_NATIVE_FLOAT, &fill_i)) >= 0 &&
             azs_h5_attr_str(s->d_i, "long_name", "intensity") >= 0 &&
             azs_h5_attr_str(s->d_i, "units", "arbitrary units") >= 0;
    if (ok && cfg->with_errors)
        ok = (s->d_err = dset_rows(s, "I_errors", H5T_IEEE_F32LE, s->rank, s->row_dims, H5T_NATIVE_FLOAT,
                                   &fill_i)) >= 0 &&
             azs_h5_attr_str(s->d_err, "long_name", "estimated intensity error") >= 0 &&
             azs_h5_attr_str(s->d_err, "units", "arbitrary units") >= 0;
    ok = ok && (s->d_frame = dset_rows(s, "frame", H5T_STD_U64LE, 1, NULL, H5T_NATIVE_UINT64, &fill_frame)) >= 0;
    ok = ok &&
         (s->d_status = dset_rows(s, "frame_status", H5T_STD_I32LE, 1, NULL, H5T_NATIVE_INT32, &fill_status)) >= 0;
    ok = ok && azs_h5_attr_set_u64(s->result, "frames_written", 0) >= 0 &&
         azs_h5_attr_set_u64(s->result, "frames_bad", 0) >= 0;
    return ok && H5Fflush(s->file, H5F_SCOPE_GLOBAL) >= 0;
}

/* A new partial file (none is there: the lock is held and any old one removed). */
static azs_status create_partial(h5_sink *s, const azs_sink_config *cfg)
{
    s->file = H5Fcreate(s->of.partial, H5F_ACC_EXCL, H5P_DEFAULT, H5P_DEFAULT);
    if (s->file < 0) {
        char why[256];
        azs_h5_sink_reason(why, sizeof why);
        return azs_fail(AZS_ERR_IO, "%s: cannot create the output file %s: %s", s->of.target, s->of.partial, why);
    }
    azs_h5_sink_cloexec(s);
    if (!azs_h5_sink_create_structure(s, cfg)) {
        char why[256];
        azs_h5_sink_reason(why, sizeof why);
        return azs_fail(AZS_ERR_IO, "%s: writing the NeXus structure failed: %s", s->of.target, why);
    }
    s->last_flush = azs_now_seconds();
    return AZS_OK;
}

static azs_status remove_partial(h5_sink *s)
{
    if (unlink(s->of.partial) != 0 && errno != ENOENT)
        return azs_fail(AZS_ERR_IO, "%s: cannot remove the old partial file %s: %s", s->of.target, s->of.partial,
                        strerror(errno));
    return AZS_OK;
}

/* AZS_OUTPUT_RESUME: the partial file, else a copy of the output, else nothing to resume. */
static azs_status resume_or_create(h5_sink *s, const azs_sink_config *cfg, int have_target, int have_partial)
{
    int copied = 0;
    if (!have_partial && have_target) {
        azs_status st = azs_copy_file(s->of.target, s->of.partial);
        if (st != AZS_OK)
            return azs_fail_context(st, "%s: resuming: ", s->of.target);
        copied = 1;
    }
    if (!have_partial && !copied)
        return create_partial(s, cfg);
    char why[512] = "";
    azs_status st = azs_h5_sink_resume(s, cfg, why, sizeof why);
    if (st == AZS_OK && !why[0]) {
        s->keep_partial = !copied;
        snprintf(s->base.resume_note, sizeof s->base.resume_note, "resuming %s after its %llu rows (from %s)",
                 s->of.target, (unsigned long long)s->base.resumed, copied ? "the output" : s->of.partial);
        return AZS_OK;
    }
    if (copied)
        unlink(s->of.partial);
    if (st != AZS_OK)
        return st;
    if (copied) /* the user's file, finished by a clean close: not ours to throw away */
        return azs_fail(AZS_ERR_CONFLICT, "%s cannot be resumed: %s (--overwrite to replace it)", s->of.target,
                        why);
    snprintf(s->base.resume_note, sizeof s->base.resume_note,
             "the partial output %s of an interrupted run cannot be read back (%s): starting over", s->of.partial,
             why);
    st = remove_partial(s);
    return st == AZS_OK ? create_partial(s, cfg) : st;
}

static azs_status open_locked(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    *out = NULL;
    if (!cfg->radial || cfg->npt == 0 || (cfg->npt_azim > 0 && !cfg->azimuthal))
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: sink needs the radial (and azimuthal) axis", path);
    h5_sink *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "hdf5 sink");
    s->of.lock_fd = -1;
    s->file = s->entry = s->result = s->process = -1;
    s->d_i = s->d_err = s->d_frame = s->d_status = -1;
    s->base.write = h5_write;
    s->base.flush = h5_flush;
    s->base.close = h5_close;
    s->base.discard = h5_discard;
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
    s->b_i = malloc(s->batch_cap * s->row_len * sizeof(float));
    s->b_err = cfg->with_errors ? malloc(s->batch_cap * s->row_len * sizeof(float)) : NULL;
    s->b_frame = malloc(s->batch_cap * sizeof(uint64_t));
    s->b_status = malloc(s->batch_cap * sizeof(int32_t));
    if (!s->b_i || (cfg->with_errors && !s->b_err) || !s->b_frame || !s->b_status) {
        free_sink(s);
        return azs_fail(AZS_ERR_NOMEM, "hdf5 sink buffers");
    }
    azs_status st = azs_out_file_init(&s->of, path);
    if (st == AZS_OK)
        st = azs_out_file_lock(&s->of);
    int have_target = 0, have_partial = 0;
    if (st == AZS_OK) {
        have_target = azs_path_exists(s->of.target);
        have_partial = azs_path_exists(s->of.partial);
        if (have_target < 0 || have_partial < 0)
            st = azs_fail(AZS_ERR_IO, "%s: cannot create the output: %s", path, strerror(errno));
    }
    if (st == AZS_OK && cfg->mode == AZS_OUTPUT_NEW && have_target)
        st = azs_fail(AZS_ERR_CONFLICT, "%s exists: --overwrite to replace it, --resume to continue it", path);
    else if (st == AZS_OK && cfg->mode == AZS_OUTPUT_NEW && have_partial)
        st = azs_fail(AZS_ERR_CONFLICT, "%s: the partial output %s of an interrupted run is there: --resume to "
                      "continue it, --overwrite to start over", path, s->of.partial);
    if (st == AZS_OK && cfg->mode == AZS_OUTPUT_RESUME)
        st = resume_or_create(s, cfg, have_target, have_partial);
    else if (st == AZS_OK && (st = remove_partial(s)) == AZS_OK)
        st = create_partial(s, cfg);
    if (st != AZS_OK) {
        /* Ours to remove only once the lock is held and the file was made by this open. */
        s->keep_partial = s->of.lock_fd < 0 || (have_partial && cfg->mode != AZS_OUTPUT_OVERWRITE);
        h5_close_locked(s, 0);
        return st;
    }
    *out = &s->base;
    return AZS_OK;
}

azs_status azs_sink_open_hdf5(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    if (!path || !cfg || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_sink_open_hdf5: path, config and out are required");
    azs_h5_lock();
    azs_status st = open_locked(path, cfg, out);
    azs_h5_unlock();
    return st;
}
