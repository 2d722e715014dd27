/* Output file ownership: names beside the target, the writer's lock, the final rename
 * (design note in out_file.h). */
#define _GNU_SOURCE /* F_OFD_SETLK */
#include "sink/out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#ifdef F_OFD_SETLK
#define AZS_SETLK F_OFD_SETLK
#else /* only POSIX record locks: per process, still excluding other runs */
#define AZS_SETLK F_SETLK
#endif

char *azs_sibling_name(const char *path, const char *suffix)
{
    const char *slash = strrchr(path, '/');
    size_t dir = slash ? (size_t)(slash - path) + 1 : 0;
    size_t n = strlen(path) + strlen(suffix) + 2;
    char *s = malloc(n);
    if (s)
        snprintf(s, n, "%.*s.%s%s", (int)dir, path, path + dir, suffix);
    return s;
}

azs_status azs_out_file_init(azs_out_file *f, const char *target)
{
    memset(f, 0, sizeof *f);
    f->lock_fd = -1;
    size_t n = strlen(target) + 1;
    f->target = malloc(n);
    f->partial = azs_sibling_name(target, ".azs-partial");
    f->lockpath = azs_sibling_name(target, ".azs-lock");
    if (!f->target || !f->partial || !f->lockpath) {
        azs_out_file_release(f);
        return azs_fail(AZS_ERR_NOMEM, "%s: output names", target);
    }
    memcpy(f->target, target, n);
    return AZS_OK;
}

static int owner_pid(int fd)
{
    char buf[32];
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    return atoi(buf);
}

azs_status azs_out_file_lock(azs_out_file *f)
{
    for (int attempt = 0; attempt < 100; attempt++) {
        int fd = open(f->lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
        if (fd < 0)
            return azs_fail(AZS_ERR_IO, "%s: cannot create the output (its lock file %s: %s)", f->target,
                            f->lockpath, strerror(errno));
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(fd, AZS_SETLK, &fl) < 0) {
            int e = errno;
            int pid = (e == EAGAIN || e == EACCES) ? owner_pid(fd) : 0;
            close(fd);
            if (e == EAGAIN || e == EACCES) {
                if (pid > 0)
                    return azs_fail(AZS_ERR_CONFLICT, "%s is being written by another run (pid %d)", f->target,
                                    pid);
                return azs_fail(AZS_ERR_CONFLICT, "%s is being written by another run", f->target);
            }
            return azs_fail(AZS_ERR_IO, "%s: cannot lock %s: %s", f->target, f->lockpath, strerror(e));
        }
        /* The previous owner removes the lock file as it lets go: a lock taken on a file no
         * longer at that name excludes nobody. Then open the name again. */
        struct stat a, b;
        if (fstat(fd, &a) == 0 && stat(f->lockpath, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
            char pid[32];
            int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
            if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n) {
                int e = errno;
                close(fd);
                unlink(f->lockpath);
                return azs_fail(AZS_ERR_IO, "%s: cannot write its lock file %s: %s", f->target, f->lockpath,
                                strerror(e));
            }
            f->lock_fd = fd;
            return AZS_OK;
        }
        close(fd);
    }
    return azs_fail(AZS_ERR_CONFLICT, "%s: its lock file %s keeps changing: another run is starting", f->target,
                    f->lockpath);
}

azs_status azs_out_file_commit(azs_out_file *f)
{
    /* Its data on disk before the name points at it: a crash right after the rename must
     * not leave a file of holes under the final name. */
    int fd = open(f->partial, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return azs_fail(AZS_ERR_IO, "%s: cannot reopen %s: %s", f->target, f->partial, strerror(errno));
    int r = fsync(fd), e = errno;
    close(fd);
    if (r != 0 && e != EINVAL)
        return azs_fail(AZS_ERR_IO, "%s: writing %s to disk failed: %s (the rows so far stay there: --resume)",
                        f->target, f->partial, strerror(e));
    if (rename(f->partial, f->target) != 0)
        return azs_fail(AZS_ERR_IO, "%s: cannot rename %s onto it: %s (the rows stay there: --resume)",
                        f->target, f->partial, strerror(errno));
    return AZS_OK;
}

void azs_out_file_release(azs_out_file *f)
{
    if (f->lock_fd >= 0) {
        unlink(f->lockpath); /* before letting go: see azs_out_file_lock */
        close(f->lock_fd);
        f->lock_fd = -1;
    }
    free(f->target);
    free(f->partial);
    free(f->lockpath);
    f->target = f->partial = f->lockpath = NULL;
}

int azs_path_exists(const char *path)
{
    struct stat st;
    if (lstat(path, &st) == 0)
        return 1;
    return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
}

azs_status azs_copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return azs_fail(AZS_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
    int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (out < 0) {
        int e = errno;
        close(in);
        return azs_fail(AZS_ERR_IO, "%s: cannot create: %s", to, strerror(e));
    }
    enum { BUF = 1 << 20 };
    char *buf = malloc(BUF);
    azs_status st = buf ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "copying %s", from);
    for (;;) {
        if (st != AZS_OK)
            break;
        ssize_t n = read(in, buf, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            st = azs_fail(AZS_ERR_IO, "%s: read failed: %s", from, strerror(errno));
            break;
        }
        if (n == 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                st = azs_fail(AZS_ERR_IO, "%s: write failed: %s", to, strerror(errno));
                break;
            }
            done += w;
        }
    }
    free(buf);
    if (st == AZS_OK && fsync(out) != 0 && errno != EINVAL)
        st = azs_fail(AZS_ERR_IO, "%s: write failed: %s", to, strerror(errno));
    close(in);
    if (close(out) != 0 && st == AZS_OK)
        st = azs_fail(AZS_ERR_IO, "%s: write failed: %s", to, strerror(errno));
    if (st != AZS_OK)
        unlink(to);
    return st;
}
