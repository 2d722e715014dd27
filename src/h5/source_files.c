/* The HDF5 source: the files behind it. One pread descriptor per distinct file (parts of
 * one file share it), opened when a frame of that file is read; above a cap derived from
 * RLIMIT_NOFILE the least recently used idle one is closed, so that a master of thousands
 * of data files runs under the usual 1024 descriptors. HDF5 handles are closed as soon as
 * no part needs them (every part of the file on the pread path) and reopened on demand
 * (the fill value of an unwritten chunk, the pixel mask). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "h5/source_internal.h"

/* Descriptors the pool keeps open at most: a quarter of the soft limit (the rest is the
 * process's: outputs, sockets of layout procs, HDF5's own), between 8 and 256. */
static size_t fd_cap(void)
{
    struct rlimit rl;
    size_t cap = 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur / 4 < cap)
        cap = (size_t)(rl.rlim_cur / 4);
    return cap < 8 ? 8 : cap;
}

azs_status azs_src_files_init(azs_source *src)
{
    pthread_mutex_t *mu = malloc(sizeof *mu);
    if (!mu)
        return azs_fail(AZS_ERR_NOMEM, "source lock");
    pthread_mutex_init(mu, NULL);
    src->fd_mu = mu;
    src->fds_cap = fd_cap();
    return AZS_OK;
}

void azs_src_files_fini(azs_source *src)
{
    for (size_t i = 0; i < src->nfiles; i++)
        if (src->files[i].fd >= 0)
            close(src->files[i].fd);
    if (src->fd_mu) {
        pthread_mutex_destroy(src->fd_mu);
        free(src->fd_mu);
    }
    src->fd_mu = NULL;
}

/* Close the least recently used idle descriptor. Pool lock held. */
static void evict_one(azs_source *src)
{
    size_t best = SIZE_MAX;
    for (size_t i = 0; i < src->nfiles; i++) {
        const file_ent *e = &src->files[i];
        if (e->fd >= 0 && e->users == 0 && (best == SIZE_MAX || e->last_use < src->files[best].last_use))
            best = i;
    }
    if (best == SIZE_MAX)
        return; /* every open one is being read: go over the cap for a while */
    close(src->files[best].fd);
    src->files[best].fd = -1;
    src->fds_open--;
}

azs_status azs_src_fd_acquire(azs_source *src, size_t ix, int *fd)
{
    if (ix >= src->nfiles)
        return azs_fail(AZS_ERR_INTERNAL, "file %zu of %zu", ix, src->nfiles);
    pthread_mutex_t *mu = src->fd_mu;
    pthread_mutex_lock(mu);
    file_ent *e = &src->files[ix];
    azs_status s = AZS_OK;
    if (e->fd < 0) {
        if (src->fds_open >= src->fds_cap)
            evict_one(src);
        int d = open(e->path, O_RDONLY | O_CLOEXEC);
        if (d < 0 && errno == EMFILE && src->fds_open > 0) { /* someone else holds many */
            evict_one(src);
            d = open(e->path, O_RDONLY | O_CLOEXEC);
        }
        if (d < 0)
            s = azs_fail(errno == ENOENT ? AZS_ERR_NOT_FOUND : AZS_ERR_IO, "file '%s': %s%s", e->path,
                         strerror(errno), errno == EMFILE ? " (too many open files: raise ulimit -n)" : "");
        else
            src->fds_open++;
        e->fd = d;
    }
    if (s == AZS_OK) {
        e->users++;
        e->last_use = ++src->fd_clock;
        *fd = e->fd;
    }
    pthread_mutex_unlock(mu);
    return s;
}

void azs_src_fd_release(azs_source *src, size_t ix)
{
    pthread_mutex_lock(src->fd_mu);
    if (ix < src->nfiles && src->files[ix].users > 0)
        src->files[ix].users--;
    pthread_mutex_unlock(src->fd_mu);
}

size_t azs_src_file_ix(const azs_source *src, const char *path)
{
    for (size_t i = 0; i < src->nfiles; i++)
        if (!strcmp(src->files[i].path, path))
            return i;
    return SIZE_MAX;
}

hid_t azs_src_fid(azs_source *src, size_t ix)
{
    if (ix >= src->nfiles) {
        azs_fail(AZS_ERR_INTERNAL, "file %zu of %zu", ix, src->nfiles);
        return -1;
    }
    file_ent *e = &src->files[ix];
    if (e->fid < 0) {
        e->fid = H5Fopen(e->path, H5F_ACC_RDONLY, H5P_DEFAULT);
        if (e->fid < 0) {
            char what[1100];
            snprintf(what, sizeof what, "cannot open HDF5 file '%s' again", e->path);
            azs_src_h5_fail(AZS_ERR_IO, what);
        }
    }
    return e->fid;
}

void azs_src_release_file(azs_source *src, size_t ix)
{
    if (ix == 0 || ix >= src->nfiles || src->files[ix].fid < 0)
        return; /* files[0], the one given, may hold the object being walked */
    for (size_t k = 0; k < src->nparts; k++)
        if (src->parts[k].file_ix == ix && src->parts[k].did >= 0)
            return;
    H5Fclose(src->files[ix].fid);
    src->files[ix].fid = -1;
}

void azs_src_release_h5(azs_source *src)
{
    for (size_t i = 0; i < src->nfiles; i++) {
        file_ent *e = &src->files[i];
        int needed = 0;
        for (size_t k = 0; k < src->nparts && !needed; k++)
            needed = src->parts[k].file_ix == i && src->parts[k].did >= 0;
        if (!needed && e->fid >= 0) {
            H5Fclose(e->fid);
            e->fid = -1;
        }
    }
}
