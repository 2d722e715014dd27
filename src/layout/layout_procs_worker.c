/* Layout 2, worker side: serve frame ranges to the parent (protocol in procs_proto.h).
 * Each range is one azs_run of layout 1 (or 3) whose sink streams one record per frame
 * back, in frame order. The worker holds no state between ranges but its integrator, so a
 * range can be re-run anywhere after a worker dies. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "azstream/gpu.h"
#include "common/error.h"
#include "layout_util.h"
#include "layouts.h"
#include "procs_proto.h"

typedef struct wsink {
    int fd;
    int id;
    size_t nbins;
    int has_sigma;
    uint64_t nsent;
    const azs_worker_hooks *hooks;
    int parent_closed; /* a send found the parent's end closed */
} wsink;

static azs_status send_rec(int *parent_closed, int fd, uint32_t type, int32_t status, uint64_t frame, const void *a,
                           size_t alen, const void *b, size_t blen, size_t nbins, int has_sigma)
{
    procs_rec h = {0};
    h.magic = AZS_PROCS_MAGIC;
    h.type = type;
    h.status = status;
    h.msglen = (uint32_t)(alen + blen);
    h.frame = frame;
    h.nbins = nbins;
    h.has_sigma = (uint32_t)has_sigma;
    azs_status s = azs_procs_send_all(fd, &h, sizeof h);
    if (s == AZS_OK && alen)
        s = azs_procs_send_all(fd, a, alen);
    if (s == AZS_OK && blen)
        s = azs_procs_send_all(fd, b, blen);
    if (s != AZS_OK && (errno == EPIPE || errno == ECONNRESET))
        *parent_closed = 1;
    return s;
}

static azs_status wsink_write(void *ctx, uint64_t frame, const double *inten, const double *sigma,
                              azs_status fs)
{
    wsink *w = ctx;
    size_t n = w->nbins * sizeof(double);
    azs_status s = send_rec(&w->parent_closed, w->fd, REC_RESULT, (int32_t)fs, frame, inten, n, w->has_sigma ? sigma : NULL,
                            w->has_sigma ? n : 0, w->nbins, w->has_sigma);
    if (s != AZS_OK)
        return s;
    w->nsent++;
    if (w->hooks && w->hooks->frame_sent)
        w->hooks->frame_sent(w->hooks->ctx, w->id, w->nsent);
    return AZS_OK;
}

/* The parent closes its end when the run is over (every frame in, or it failed and is
 * killing us): a worker still starting up then finds the channel closed at its HELLO, or
 * one still in a range at its next result. That is the end of the conversation, not an
 * error of ours: end quietly (the parent reports its own failures). */
static azs_status parent_done(const wsink *ws, azs_status s)
{
    return ws->parent_closed ? AZS_OK : s;
}

static azs_status serve(int fd, azs_source *src, const azs_integrator *it, const azs_worker_hooks *hooks);

azs_status azs_procs_worker_serve(int fd, azs_source *src, const azs_integrator *it,
                                  const azs_worker_hooks *hooks)
{
    azs_status st = serve(fd, src, it, hooks);
    azs_gpu_engine_keep(NULL); /* the ranges' engine holds its matrix: gone before `it` is */
    return st;
}

static azs_status serve(int fd, azs_source *src, const azs_integrator *it, const azs_worker_hooks *hooks)
{
    if (fd < 0 || !src || !it)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_procs_worker_serve: channel, source and integrator are required");
    procs_req c;
    errno = 0;
    int r = azs_procs_recv_all(fd, &c, sizeof c);
    if (r == 0 || (r < 0 && errno == ECONNRESET))
        return AZS_OK; /* parent gone before saying anything */
    if (r < 0 || c.magic != AZS_PROCS_MAGIC || c.type != REQ_CONFIG)
        return azs_fail(AZS_ERR_WORKER, "worker: no valid configuration from the parent on fd %d", fd);
    /* The parent may have died between spawning us and now (prctl(PDEATHSIG) set after
     * that would never fire): then we are someone else's child. */
    if (c.parent_pid > 0 && getppid() != (pid_t)c.parent_pid)
        return azs_fail(AZS_ERR_WORKER, "worker: the parent (pid %d) is gone", (int)c.parent_pid);
    wsink ws = {fd, c.worker_id, azs_integrator_nbins(it), azs_layout_has_sigma(it), 0, hooks, 0};
    azs_status s = send_rec(&ws.parent_closed, fd, REC_HELLO, 0, 0, NULL, 0, NULL, 0, ws.nbins, ws.has_sigma);
    if (s != AZS_OK)
        return parent_done(&ws, s);
    const azs_source_info *info = azs_source_get_info(src);
    for (;;) {
        procs_req q;
        errno = 0;
        r = azs_procs_recv_all(fd, &q, sizeof q);
        /* ECONNRESET: the parent closed its end with our HELLO or results unread (it had
         * every frame it needed), the same end of the conversation as EOF. */
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return AZS_OK;
        if (r < 0 || q.magic != AZS_PROCS_MAGIC)
            return azs_fail(AZS_ERR_WORKER, "worker %d: broken request from the parent", c.worker_id);
        if (q.type == REQ_STOP)
            return AZS_OK;
        if (q.type != REQ_RANGE || q.first >= q.end || q.end > info->nframes)
            return azs_fail(AZS_ERR_WORKER, "worker %d: bad request (type %u, frames %" PRIu64 "..%" PRIu64 ")",
                            c.worker_id, q.type, q.first, q.end);
        azs_run_options o;
        azs_run_options_default(&o);
        o.layout = c.inner == AZS_LAYOUT_GPU ? AZS_LAYOUT_GPU : AZS_LAYOUT_THREADS;
        o.workers = c.threads > 0 ? c.threads : 1;
        o.device = c.device;
        o.first_frame = q.first;
        o.end_frame = q.end;
        o.skip_bad = c.skip_bad;
        o.feed = (azs_feed)c.feed;
        o.cpu_batch = c.cpu_batch;
        o.gpu_batch = c.gpu_batch;
        o.gpu_slots = c.gpu_slots;
        o.gpu_lag = c.gpu_lag;
        o.gpu_feed = (azs_gpu_feed)c.gpu_feed;
        /* one engine for every range: its set-up (pinned buffers, the matrix's upload) cost
         * 5 s of a 2,000-frame run with 4 workers on the H200, each range paying it again */
        o.gpu_keep_engine = o.layout == AZS_LAYOUT_GPU;
        azs_sink_ops ops = {&ws, wsink_write};
        azs_run_summary sum;
        uint64_t before = ws.nsent;
        s = azs_run(src, it, &o, &ops, &sum);
        if (s != AZS_OK) {
            uint64_t sent = ws.nsent - before;
            /* If the parent is gone this send fails too and we return. */
            char msg[512];
            snprintf(msg, sizeof msg, "%s", azs_last_error());
            uint64_t at = q.first + sent;
            azs_status e = send_rec(&ws.parent_closed, fd, REC_ERROR, (int32_t)s, at, msg, strlen(msg), NULL, 0, ws.nbins,
                                    ws.has_sigma);
            if (e != AZS_OK)
                return parent_done(&ws, e);
        }
    }
}
