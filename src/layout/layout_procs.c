/* Layout 2 (doc/design.md "layouts"): worker processes.
 *
 * Design note. The parent starts N fresh processes with posix_spawn (exec semantics: no
 * inherited GPU context, no inherited HDF5 state, no threads half-copied by fork). Each
 * worker gets one end of a socketpair dup'ed onto AZS_PROCS_WORKER_FD; every other
 * descriptor we create is close-on-exec, so a worker's death closes its channel and the
 * parent sees EOF at once. (A socketpair rather than two pipes: one descriptor, and
 * send(MSG_NOSIGNAL) so a dead worker cannot SIGPIPE the parent without the library
 * touching signal dispositions.)
 *
 * Scheduling is dynamic: ranges of a few frames are handed out on demand, at most two
 * outstanding per worker (so a worker never idles between ranges), and a slow worker only
 * holds the run up once the re-order window (bounded memory) is full. A worker runs its
 * range with layout 1 (or 3) and so returns the frames of its head range in order: per
 * worker we therefore only track "next frame expected" and, when it dies, the unfinished
 * frames are exactly [expected, head end) plus its queued ranges. Those go on a retry list
 * that is served before new frames. Results are exact: doubles travel as raw bytes
 * (same host, same ABI), so output is bit-identical to the serial layout.
 *
 * Bad frames: each worker's layout takes the frame feed's decisions (frame_feed.h) and
 * sends skipped frames as rows with their status; the parent admits them with the same
 * feed. A frame that stops the run follows the serial contract: the sink receives every
 * frame before the failing one, then the run fails with the worker's message. On every
 * exit path every child is killed (unless it already finished) and reaped. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/cpu.h"
#include "common/error.h"
#include "frame_feed.h"
#include "layout_util.h"
#include "layouts.h"
#include "procs_proto.h"

/* How often the parent looks at the cancel flag and at silent workers (milliseconds). */
#define POLL_MS 100

extern char **environ; /* passed through to the workers unchanged (never interpreted) */
int azs_gpu_available(void);

int azs_gpu_device_count(void) { return azs_gpu_available(); }

typedef struct range {
    uint64_t first, end;
} range;

typedef struct worker {
    int id;
    pid_t pid;
    int fd;           /* -1 once closed */
    int alive;        /* spawned and not yet reaped */
    int hello;        /* HELLO received and checked */
    range q[2];       /* outstanding ranges, q[0] the one being returned */
    int nq;
    uint64_t expect;  /* next frame expected in q[0] */
    uint8_t *rbuf;    /* receive buffer: partial records */
    size_t rhave;
    int device;
    double silent;    /* seconds the parent waited while this worker held frames and sent
                       * nothing (azs_run_options.worker_timeout) */
} worker;

typedef struct procs {
    const azs_run_options *o;
    azs_source *src;
    const azs_sink_ops *sink;
    azs_run_summary *sum;
    size_t nbins;
    int has_sigma;
    size_t rec_payload;   /* bytes of doubles in one RESULT */
    size_t rbuf_cap;
    worker *w;
    int nw;
    int any_hello;        /* some worker has finished its start-up */
    /* scheduling */
    uint64_t next_new, end, chunk;
    range *retry;
    size_t nretry, retry_cap;
    /* re-order window */
    uint64_t window, next_write;
    double *slots;        /* window * (2 * nbins) doubles */
    int32_t *slot_status; /* per slot */
    uint8_t *slot_full;
    /* first fatal error reported by a worker */
    uint64_t stop_at;
    azs_status stop_status;
    char stop_msg[768];
} procs;

static void notice(const procs *p, const char *fmt, ...) AZS_PRINTF(2, 3);
static void notice(const procs *p, const char *fmt, ...)
{
    if (!p->o->notice)
        return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    p->o->notice(p->o->notice_ctx, line);
}

/* ------------------------------------------------------------------ I/O helpers */

azs_status azs_procs_send_all(int fd, const void *buf, size_t n)
{
    const uint8_t *b = buf;
    while (n) {
        ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            int e = k < 0 ? errno : EPIPE;
            azs_status st = azs_fail(AZS_ERR_IO, "worker channel: send failed: %s", strerror(e));
            errno = e; /* the worker tells "the parent closed the channel" (EPIPE) from the rest */
            return st;
        }
        b += k;
        n -= (size_t)k;
    }
    return AZS_OK;
}

/* 1: got n bytes, 0: clean EOF before the first byte, -1: error or EOF mid-message. */
int azs_procs_recv_all(int fd, void *buf, size_t n)
{
    uint8_t *b = buf;
    size_t got = 0;
    while (got < n) {
        ssize_t k = read(fd, b + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return got == 0 ? 0 : -1;
        got += (size_t)k;
    }
    return 1;
}

/* ------------------------------------------------------------------ children */

static void describe_exit(int wstatus, char *buf, size_t cap)
{
    if (WIFSIGNALED(wstatus))
        snprintf(buf, cap, "killed by signal %d (%s)", WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
    else if (WIFEXITED(wstatus))
        snprintf(buf, cap, "exited with code %d", WEXITSTATUS(wstatus));
    else
        snprintf(buf, cap, "ended (status 0x%x)", wstatus);
}

static void close_fd(worker *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* Kill (if still running) and reap one child; returns its wait status. */
static int kill_reap(worker *w)
{
    int ws = 0;
    close_fd(w);
    if (!w->alive)
        return 0;
    kill(w->pid, SIGKILL);
    while (waitpid(w->pid, &ws, 0) < 0 && errno == EINTR)
        ;
    w->alive = 0;
    return ws;
}

/* End of run: close every channel (workers exit on EOF), give them a moment, then kill and
 * reap whatever is left. graceful = 0 kills at once. Never leaves a zombie. */
static void reap_all(procs *p, int graceful)
{
    /* On failure, kill before closing: a worker that sees its channel close first would
     * only print a pointless "broken pipe". */
    for (int i = 0; !graceful && i < p->nw; i++)
        if (p->w[i].alive)
            kill(p->w[i].pid, SIGKILL);
    for (int i = 0; i < p->nw; i++)
        close_fd(&p->w[i]);
    if (graceful) {
        double t0 = azs_now_seconds();
        for (;;) {
            int left = 0;
            for (int i = 0; i < p->nw; i++) {
                worker *w = &p->w[i];
                if (!w->alive)
                    continue;
                int ws;
                pid_t r = waitpid(w->pid, &ws, WNOHANG);
                if (r == w->pid || (r < 0 && errno == ECHILD))
                    w->alive = 0;
                else
                    left++;
            }
            if (!left || azs_now_seconds() - t0 > 2.0)
                break;
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
    }
    for (int i = 0; i < p->nw; i++)
        kill_reap(&p->w[i]);
}

static azs_status spawn_one(procs *p, worker *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        return azs_fail(AZS_ERR_WORKER, "worker %d: socketpair: %s", w->id, strerror(errno));
    /* dup2 onto the fixed fd clears close-on-exec there; if the child end already is that
     * fd, dup2 would be a no-op that keeps the flag, so move it out of the way first. */
    if (sv[1] == AZS_PROCS_WORKER_FD) {
        int d = fcntl(sv[1], F_DUPFD_CLOEXEC, AZS_PROCS_WORKER_FD + 1);
        close(sv[1]);
        sv[1] = d;
    }
    if (sv[1] < 0) {
        close(sv[0]);
        return azs_fail(AZS_ERR_WORKER, "worker %d: fcntl: %s", w->id, strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    posix_spawn_file_actions_adddup2(&fa, sv[1], AZS_PROCS_WORKER_FD);
    /* Default signal dispositions in the child (the CLI's Ctrl-C handler is not inherited
     * anyway across exec, but an ignored SIGPIPE/SIGINT would be). */
    sigset_t def;
    sigemptyset(&def);
    sigaddset(&def, SIGPIPE);
    sigaddset(&def, SIGTERM);
    posix_spawnattr_setsigdefault(&at, &def);
    sigset_t none;
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    pid_t pid;
    /* posix_spawn's argv is not const-qualified by history only: it does not write it. */
    char *const *argv;
    memcpy(&argv, &p->o->worker_argv, sizeof argv);
    int e = posix_spawn(&pid, p->o->worker_argv[0], &fa, &at, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(sv[1]);
    if (e) {
        close(sv[0]);
        return azs_fail(AZS_ERR_WORKER, "cannot start worker %d (%s): %s", w->id, p->o->worker_argv[0], strerror(e));
    }
    w->pid = pid;
    w->fd = sv[0];
    w->alive = 1;
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);

    procs_req c = {0};
    c.magic = AZS_PROCS_MAGIC;
    c.type = REQ_CONFIG;
    c.worker_id = w->id;
    c.inner = p->o->inner == AZS_LAYOUT_GPU ? AZS_LAYOUT_GPU : AZS_LAYOUT_THREADS;
    c.threads = p->o->threads_per_worker;
    c.device = w->device;
    c.skip_bad = p->o->skip_bad;
    c.feed = (int32_t)p->o->feed;
    c.cpu_batch = p->o->cpu_batch;
    c.gpu_batch = p->o->gpu_batch;
    c.gpu_slots = p->o->gpu_slots;
    c.gpu_lag = p->o->gpu_lag;
    c.gpu_feed = (uint32_t)p->o->gpu_feed;
    c.parent_pid = (int32_t)getpid();
    c.nbins = p->nbins;
    c.has_sigma = (uint32_t)p->has_sigma;
    /* A small message into an empty socket buffer: the non-blocking send cannot be short. */
    return azs_procs_send_all(w->fd, &c, sizeof c);
}

/* ------------------------------------------------------------------ scheduling */

static int alive_count(const procs *p)
{
    int n = 0;
    for (int i = 0; i < p->nw; i++)
        n += p->w[i].fd >= 0;
    return n;
}

static azs_status push_retry(procs *p, uint64_t a, uint64_t b)
{
    if (a >= b)
        return AZS_OK;
    if (p->nretry == p->retry_cap) {
        size_t cap = p->retry_cap ? 2 * p->retry_cap : 16;
        range *r = realloc(p->retry, cap * sizeof *r);
        if (!r)
            return azs_fail(AZS_ERR_NOMEM, "procs layout: retry list");
        p->retry = r;
        p->retry_cap = cap;
    }
    p->retry[p->nretry++] = (range){a, b};
    return AZS_OK;
}

/* Next range to hand out, or 0 if none may be handed out now. */
static int take_range(procs *p, range *r)
{
    while (p->nretry) {
        /* lowest first: it is what the writer waits for */
        size_t best = 0;
        for (size_t i = 1; i < p->nretry; i++)
            if (p->retry[i].first < p->retry[best].first)
                best = i;
        *r = p->retry[best];
        p->retry[best] = p->retry[--p->nretry];
        if (r->end > p->stop_at)
            r->end = p->stop_at;
        if (r->first < r->end)
            return 1;
    }
    uint64_t lim = p->end;
    if (p->stop_at < lim)
        lim = p->stop_at;
    if (p->next_write + p->window < lim)
        lim = p->next_write + p->window;
    if (p->next_new >= lim)
        return 0;
    r->first = p->next_new;
    r->end = p->next_new + p->chunk < lim ? p->next_new + p->chunk : lim;
    p->next_new = r->end;
    return 1;
}

static azs_status worker_died(procs *p, worker *w, const char *why);

/* Keep every live worker busy with up to two ranges. */
static azs_status feed(procs *p)
{
    for (int i = 0; i < p->nw; i++) {
        worker *w = &p->w[i];
        while (w->fd >= 0 && w->nq < 2) {
            range r;
            if (!take_range(p, &r))
                return AZS_OK;
            procs_req q = {0};
            q.magic = AZS_PROCS_MAGIC;
            q.type = REQ_RANGE;
            q.first = r.first;
            q.end = r.end;
            w->q[w->nq++] = r;
            if (w->nq == 1) {
                w->expect = r.first;
                w->silent = 0; /* idle until now: its silence starts with this range */
            }
            if (azs_procs_send_all(w->fd, &q, sizeof q) != AZS_OK) {
                azs_status s = worker_died(p, w, "its channel closed");
                if (s != AZS_OK)
                    return s;
            }
        }
    }
    return AZS_OK;
}

/* why: what the parent saw (EOF ...); NULL: the parent killed it for its silence. */
static azs_status worker_died(procs *p, worker *w, const char *why)
{
    int ws = kill_reap(w);
    char how[192];
    if (why)
        describe_exit(ws, how, sizeof how);
    else
        snprintf(how, sizeof how, "sent nothing for %g s while holding frames (stopped or hung) and was killed",
                 p->o->worker_timeout);
    p->sum->workers_lost++;
    char frames[160] = "";
    size_t len = 0;
    for (int k = 0; k < w->nq; k++) {
        uint64_t a = k == 0 ? w->expect : w->q[k].first, b = w->q[k].end;
        if (a < b && len < sizeof frames - 48)
            len += (size_t)snprintf(frames + len, sizeof frames - len, "%s%" PRIu64 "..%" PRIu64,
                                    len ? ", " : "", a, b - 1);
        azs_status s = push_retry(p, a, b);
        if (s != AZS_OK)
            return s;
    }
    w->nq = 0;
    int left = alive_count(p);
    if (len)
        notice(p, "worker %d (pid %d) %s%s%s%s; its unfinished frames %s %s", w->id, (int)w->pid, how,
               why ? " (" : "", why ? why : "", why ? ")" : "", frames,
               left ? "are re-assigned to the remaining workers" : "have no worker left");
    else
        notice(p, "worker %d (pid %d) %s%s%s%s", w->id, (int)w->pid, how, why ? " (" : "", why ? why : "",
               why ? ")" : "");
    return AZS_OK;
}

/* ------------------------------------------------------------------ receiving */

static void record_error(procs *p, uint64_t frame, azs_status st, const char *msg, int wid)
{
    if (frame >= p->stop_at)
        return;
    p->stop_at = frame;
    p->stop_status = st;
    snprintf(p->stop_msg, sizeof p->stop_msg, "%s (in worker %d)", msg, wid);
}

/* Parse complete records in w->rbuf. Returns AZS_OK, or a fatal status; a protocol
 * violation by the worker counts as its death (*bad = 1). */
static azs_status parse_records(procs *p, worker *w, int *bad)
{
    size_t off = 0;
    azs_status st = AZS_OK;
    while (w->rhave - off >= sizeof(procs_rec)) {
        procs_rec h;
        memcpy(&h, w->rbuf + off, sizeof h);
        if (h.magic != AZS_PROCS_MAGIC) {
            *bad = 1;
            break;
        }
        size_t plen = h.type == REC_RESULT ? p->rec_payload : h.msglen;
        if (plen > p->rbuf_cap - sizeof h) {
            *bad = 1;
            break;
        }
        if (w->rhave - off < sizeof h + plen)
            break; /* incomplete */
        const uint8_t *payload = w->rbuf + off + sizeof h;
        off += sizeof h + plen;
        if (h.type == REC_HELLO) {
            if (h.nbins != p->nbins || (int)h.has_sigma != p->has_sigma) {
                kill_reap(w);
                return azs_fail(AZS_ERR_WORKER,
                                "worker %d built a different integrator (%" PRIu64 " bins%s, parent %zu bins%s): "
                                "the worker command does not carry the same settings",
                                w->id, h.nbins, h.has_sigma ? " with sigma" : "", p->nbins,
                                p->has_sigma ? " with sigma" : "");
            }
            w->hello = 1;
            if (!p->any_hello) {
                /* Start-ups take about as long as each other: a worker still starting is
                 * timed from the first one's HELLO on (before it, see check_silent). */
                p->any_hello = 1;
                for (int i = 0; i < p->nw; i++)
                    if (!p->w[i].hello)
                        p->w[i].silent = 0;
            }
        } else if (h.type == REC_RESULT) {
            if (!w->hello || !w->nq || h.frame != w->expect) {
                *bad = 1;
                break;
            }
            uint64_t f = h.frame;
            if (f >= p->next_write && f < p->next_write + p->window) {
                size_t s = (size_t)(f % p->window);
                memcpy(p->slots + s * 2 * p->nbins, payload, p->rec_payload);
                p->slot_status[s] = h.status;
                p->slot_full[s] = 1;
            }
            if (++w->expect == w->q[0].end) {
                w->q[0] = w->q[1];
                if (--w->nq)
                    w->expect = w->q[0].first;
            }
        } else if (h.type == REC_ERROR) {
            char msg[512];
            size_t n = plen < sizeof msg - 1 ? plen : sizeof msg - 1;
            memcpy(msg, payload, n);
            msg[n] = 0;
            /* The worker stopped this range at h.frame: frames after it in the range will
             * not come. Everything at or after stop_at is not needed any more. */
            record_error(p, h.frame, h.status ? (azs_status)h.status : AZS_ERR_WORKER, msg, w->id);
            if (w->nq) {
                w->q[0] = w->q[1];
                if (--w->nq)
                    w->expect = w->q[0].first;
            }
        } else {
            *bad = 1;
            break;
        }
    }
    if (off) {
        memmove(w->rbuf, w->rbuf + off, w->rhave - off);
        w->rhave -= off;
    }
    return st;
}

static azs_status pump(procs *p, worker *w)
{
    for (;;) {
        ssize_t k = read(w->fd, w->rbuf + w->rhave, p->rbuf_cap - w->rhave);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return AZS_OK;
        if (k <= 0) {
            w->rhave = 0;
            return worker_died(p, w, k == 0 ? "its channel reached EOF" : strerror(errno));
        }
        w->rhave += (size_t)k;
        w->silent = 0;
        int bad = 0;
        azs_status s = parse_records(p, w, &bad);
        if (s != AZS_OK)
            return s;
        if (bad) {
            w->rhave = 0;
            return worker_died(p, w, "it broke the protocol");
        }
    }
}

/* Workers that hold frames (from their start: ranges are queued before the HELLO) and said
 * nothing for worker_timeout seconds of the parent's waiting are stopped (SIGSTOP, a debugger) or hung: report them, kill them, re-assign
 * their frames. Only the time spent in poll counts, at most one poll period per call, so
 * neither a slow sink nor the parent being stopped itself (Ctrl-Z stops the workers too)
 * makes a healthy worker look silent. */
static azs_status check_silent(procs *p, double waited)
{
    const double limit = p->o->worker_timeout;
    if (limit <= 0)
        return AZS_OK;
    if (waited > POLL_MS / 1000.0)
        waited = POLL_MS / 1000.0;
    for (int i = 0; i < p->nw; i++) {
        worker *w = &p->w[i];
        if (w->fd < 0 || !w->nq)
            continue;
        w->silent += waited;
        /* Until one worker is up, building the integrator may take long (a large detector,
         * one thread per worker, a loaded machine): ten times the limit. */
        if (w->silent < (p->any_hello ? limit : 10 * limit))
            continue;
        azs_status s = worker_died(p, w, NULL);
        if (s != AZS_OK)
            return s;
    }
    return AZS_OK;
}

/* Deliver ready frames in order. */
static azs_status deliver(procs *p, double *last_progress, uint64_t total)
{
    uint64_t lim = p->stop_at < p->end ? p->stop_at : p->end;
    while (p->next_write < lim) {
        size_t s = (size_t)(p->next_write % p->window);
        if (!p->slot_full[s])
            break;
        double *inten = p->slots + s * 2 * p->nbins;
        double *sigma = p->has_sigma ? inten + p->nbins : NULL;
        azs_status fs = (azs_status)p->slot_status[s];
        if (azs_feed_admit(p->o, p->sum, p->next_write, fs) != AZS_OK) /* not sent as a row */
            return azs_fail(AZS_ERR_WORKER, "frame %" PRIu64 ": a worker sent status %d as a row",
                            p->next_write, (int)fs);
        azs_status st = p->sink->write(p->sink->ctx, p->next_write, inten, sigma, fs);
        if (st != AZS_OK)
            return st;
        p->slot_full[s] = 0;
        p->next_write++;
        p->sum->frames_done++;
        if (p->o->progress) {
            double now = azs_now_seconds();
            if (now - *last_progress > 0.1 || p->next_write == p->end) {
                p->o->progress(p->o->progress_ctx, p->sum->frames_done, total);
                *last_progress = now;
            }
        }
    }
    return AZS_OK;
}

/* ------------------------------------------------------------------ the layout */

static azs_status validate_procs(const azs_source_info *info, const azs_run_options *o)
{
    (void)info;
    if (!o->worker_argv || !o->worker_argv[0])
        return azs_fail(AZS_ERR_INVALID_ARG, "layout procs: no worker command (azs_run_options.worker_argv)");
    if (o->inner != AZS_LAYOUT_SERIAL && o->inner != AZS_LAYOUT_THREADS && o->inner != AZS_LAYOUT_GPU)
        return azs_fail(AZS_ERR_INVALID_ARG, "layout procs: the inner layout must be threads or gpu");
    if (o->ngpus < 0 || (o->ngpus > 0 && !o->gpus))
        return azs_fail(AZS_ERR_INVALID_ARG, "layout procs: %d GPUs but no list", o->ngpus);
    if (!(o->worker_timeout >= 0 && o->worker_timeout <= 1e9))
        return azs_fail(AZS_ERR_INVALID_ARG, "layout procs: worker_timeout = %g s (0 = none)", o->worker_timeout);
    return AZS_OK;
}

static azs_status run_procs(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                            const azs_sink_ops *sink, azs_run_summary *sum)
{
    const double t0 = azs_now_seconds();
    const uint64_t total = o->end_frame - o->first_frame;
    procs P;
    memset(&P, 0, sizeof P);
    procs *p = &P;
    azs_run_options oc = *o;
    int ncpu = azs_cpu_count();
    /* default: a worker per core, or per GPU for GPU workers (each starts a CUDA context) */
    int nw = o->workers > 0 ? o->workers : o->inner != AZS_LAYOUT_GPU ? ncpu : o->ngpus > 0 ? o->ngpus : 1;
    if ((uint64_t)nw > total)
        nw = (int)total; /* more workers than frames only cost start-up */
    if (oc.threads_per_worker <= 0)
        oc.threads_per_worker = ncpu / nw > 1 ? ncpu / nw : 1;
    p->o = &oc;
    p->src = src;
    p->sink = sink;
    p->sum = sum;
    p->nbins = azs_integrator_nbins(it);
    p->has_sigma = azs_layout_has_sigma(it);
    p->rec_payload = (p->has_sigma ? 2 : 1) * p->nbins * sizeof(double);
    p->rbuf_cap = sizeof(procs_rec) + (p->rec_payload > 4096 ? p->rec_payload : 4096) + 65536;
    p->next_new = p->next_write = o->first_frame;
    p->end = o->end_frame;
    p->stop_at = UINT64_MAX;
    int gpu = oc.inner == AZS_LAYOUT_GPU;
    if (gpu && nw > (oc.ngpus > 0 ? oc.ngpus : 1)) {
        /* Workers sharing a GPU each take a smaller pipeline (2 slots of 16 frames instead of
         * 4 of 32): a quarter of the pinned and device buffers to set up per process. H200,
         * 4 workers, 2,000 W1 frames: 1,419-1,434 frames/s against 1,227-1,275. */
        if (!oc.gpu_slots)
            oc.gpu_slots = 2;
        if (!oc.gpu_batch)
            oc.gpu_batch = 16;
    }
    uint64_t chunk = o->chunk_frames;
    if (!chunk) {
        /* Small ranges balance load (8..32 frames, ~4 per worker); GPU workers start a
         * device run per range, so they get longer ones. */
        uint64_t lo = gpu ? 64 : 8, hi = gpu ? 512 : 32;
        chunk = total / ((uint64_t)nw * 4);
        chunk = chunk < lo ? lo : chunk > hi ? hi : chunk;
    }
    p->chunk = chunk;
    /* Window: room for every outstanding range plus slack, capped near 1 GiB of rows. */
    uint64_t win = (uint64_t)nw * 2 * chunk * 4;
    uint64_t row = 2 * p->nbins * sizeof(double);
    uint64_t cap = ((uint64_t)1 << 30) / (row ? row : 1);
    uint64_t need = (uint64_t)nw * 2 * chunk + chunk;
    if (win > cap)
        win = cap > need ? cap : need;
    if (win > total)
        win = total;
    p->window = win;
    azs_status st = AZS_OK;
    size_t nslot_d;
    if (azs_mul_size((size_t)win, 2 * p->nbins, &nslot_d))
        return azs_fail(AZS_ERR_NOMEM, "procs layout: re-order window too large");
    p->slots = azs_aligned_alloc(nslot_d * sizeof(double) + 64);
    p->slot_status = calloc(win, sizeof *p->slot_status);
    p->slot_full = calloc(win, 1);
    p->w = calloc((size_t)nw, sizeof *p->w);
    struct pollfd *pfd = calloc((size_t)nw, sizeof *pfd);
    int *pidx = calloc((size_t)nw, sizeof *pidx);
    if (!p->slots || !p->slot_status || !p->slot_full || !p->w || !pfd || !pidx) {
        st = azs_fail(AZS_ERR_NOMEM, "procs layout: buffers for %" PRIu64 " frames in flight", win);
        goto done;
    }
    p->nw = nw;
    for (int i = 0; i < nw; i++) {
        worker *w = &p->w[i];
        w->id = i;
        w->fd = -1;
        w->device = gpu ? (oc.ngpus > 0 ? oc.gpus[i % oc.ngpus] : oc.device) : -1;
        w->rbuf = malloc(p->rbuf_cap);
        if (!w->rbuf) {
            st = azs_fail(AZS_ERR_NOMEM, "procs layout: receive buffer");
            goto done;
        }
    }
    for (int i = 0; i < nw && st == AZS_OK; i++)
        st = spawn_one(p, &p->w[i]);
    if (st != AZS_OK)
        goto done;
    if ((st = feed(p)) != AZS_OK)
        goto done;

    double last_progress = t0;
    while (p->next_write < (p->stop_at < p->end ? p->stop_at : p->end)) {
        if (azs_feed_cancelled(o)) {
            st = azs_fail(AZS_ERR_INTERRUPTED, "stopped on request after %" PRIu64 " frames", sum->frames_done);
            goto done;
        }
        int n = 0;
        for (int i = 0; i < nw; i++)
            if (p->w[i].fd >= 0) {
                pfd[n].fd = p->w[i].fd;
                pfd[n].events = POLLIN;
                pfd[n].revents = 0;
                pidx[n++] = i;
            }
        if (!n) {
            uint64_t lim = p->stop_at < p->end ? p->stop_at : p->end;
            st = azs_fail(AZS_ERR_WORKER,
                          "every worker process died: frames %" PRIu64 "..%" PRIu64
                          " (%" PRIu64 " frames) were not integrated",
                          p->next_write, lim - 1, lim - p->next_write);
            goto done;
        }
        /* The timeout only bounds how late a cancel request (or a silent worker) is seen. */
        double before = azs_now_seconds();
        int r = poll(pfd, (nfds_t)n, POLL_MS);
        if (r < 0 && errno != EINTR) {
            st = azs_fail(AZS_ERR_WORKER, "procs layout: poll: %s", strerror(errno));
            goto done;
        }
        for (int k = 0; r > 0 && k < n; k++)
            if (pfd[k].revents)
                if ((st = pump(p, &p->w[pidx[k]])) != AZS_OK)
                    goto done;
        if ((st = check_silent(p, azs_now_seconds() - before)) != AZS_OK)
            goto done;
        if ((st = deliver(p, &last_progress, total)) != AZS_OK)
            goto done;
        if ((st = feed(p)) != AZS_OK)
            goto done;
    }
    if (p->stop_at < p->end) {
        sum->first_bad_frame = p->stop_at;
        st = azs_fail(p->stop_status, "%s", p->stop_msg);
    }
done:
    reap_all(p, st == AZS_OK);
    for (int i = 0; p->w && i < p->nw; i++)
        free(p->w[i].rbuf);
    free(p->w);
    free(pfd);
    free(pidx);
    free(p->retry);
    azs_aligned_free(p->slots);
    free(p->slot_status);
    free(p->slot_full);
    return st;
}

const azs_layout_driver azs_driver_procs = {"procs", validate_procs, run_procs};
