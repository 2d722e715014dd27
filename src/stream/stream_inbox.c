/* The messages of a PULL socket in one connection's order (stream_inbox.h). Held messages
 * are few (a window of ~64 per connection), so they sit in one array scanned linearly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/clock.h"
#include "common/error.h"
#include "stream_inbox.h"

typedef struct held {
    azs_stream_msg *m;
    double t;
} held;

struct azs_stream_inbox {
    azs_stream_socket *sock;
    int reorder;               /* several connections: put the messages back in order */
    size_t window, cap;        /* images of the series in hand held at most; messages at most */
    held *h;
    size_t n;                  /* in arrival order */
    int in_series;             /* a start message passed on, its end not yet */
    uint64_t sid, expected, nimages; /* the series in hand, its next image_id, 0: not announced */
    azs_stream_msg *end;       /* its end message, once received */
    double t_end;
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
};

azs_status azs_stream_inbox_create(azs_stream_socket *sock, int connections,
                                   void (*notice)(void *ctx, const char *msg), void *notice_ctx,
                                   azs_stream_inbox **out)
{
    *out = NULL;
    azs_stream_inbox *ib = calloc(1, sizeof *ib);
    if (!ib)
        return azs_fail(AZS_ERR_NOMEM, "stream inbox");
    ib->sock = sock;
    ib->reorder = connections > 1;
    ib->window = AZS_STREAM_REORDER_PER_CONNECTION * (size_t)(connections > 1 ? connections : 1);
    ib->cap = 2 * ib->window;
    ib->notice = notice;
    ib->notice_ctx = notice_ctx;
    if (ib->reorder && !(ib->h = calloc(ib->cap + 1, sizeof *ib->h))) {
        const size_t cap = ib->cap;
        free(ib);
        return azs_fail(AZS_ERR_NOMEM, "stream inbox: %zu messages", cap);
    }
    *out = ib;
    return AZS_OK;
}

void azs_stream_inbox_destroy(azs_stream_inbox *ib)
{
    if (!ib)
        return;
    for (size_t k = 0; k < ib->n; k++)
        azs_stream_msg_free(ib->h[k].m);
    azs_stream_msg_free(ib->end);
    free(ib->h);
    free(ib);
}

static azs_status recv_one(azs_stream_inbox *ib, int timeout_ms, volatile int *cancel, azs_stream_msg **m,
                           double *t_received, azs_stream_recv_stats *stats)
{
    azs_stream_buffer *buf = NULL;
    const double t_wait = azs_now_seconds();
    azs_status st = azs_stream_recv_buffer(ib->sock, timeout_ms, cancel, &buf);
    const double t = azs_now_seconds();
    if (stats)
        stats->recv_seconds += t - t_wait;
    if (st != AZS_OK)
        return st;
    size_t n = 0;
    (void)azs_stream_buffer_data(buf, &n);
    st = azs_stream_msg_decode_buffer(buf, m); /* in place: *m keeps buf */
    if (stats) {
        stats->bytes += n;
        stats->decode_seconds += azs_now_seconds() - t;
    }
    *t_received = t;
    return st;
}

static azs_stream_msg *take(azs_stream_inbox *ib, size_t k, double *t)
{
    azs_stream_msg *m = ib->h[k].m;
    *t = ib->h[k].t;
    memmove(ib->h + k, ib->h + k + 1, (ib->n - k - 1) * sizeof *ib->h);
    ib->n--;
    return m;
}

/* An image of the series in hand (one without a series_id belongs to it). */
static int of_series(const azs_stream_inbox *ib, const azs_stream_msg *m)
{
    return m->type == AZS_STREAM_IMAGE && (m->image.series_id == ib->sid || m->image.series_id == 0);
}

static void begin_series(azs_stream_inbox *ib, const azs_stream_msg *start)
{
    ib->in_series = 1;
    ib->sid = start->start.series_id;
    ib->expected = 0;
    ib->nimages = start->start.has_nimages ? start->start.number_of_images : 0;
    azs_stream_msg_free(ib->end);
    ib->end = NULL;
    for (size_t k = 0; k < ib->n; k++) /* its end message, come before its start */
        if (ib->h[k].m->type == AZS_STREAM_END && ib->h[k].m->end_series_id == ib->sid) {
            ib->end = take(ib, k, &ib->t_end);
            break;
        }
}

/* A message received: the end of the series in hand aside, the others held. Beyond the
 * bound, the oldest message not of the series in hand is dropped, and told. */
static void hold(azs_stream_inbox *ib, azs_stream_msg *m, double t)
{
    if (ib->in_series && m->type == AZS_STREAM_END && m->end_series_id == ib->sid && !ib->end) {
        ib->end = m;
        ib->t_end = t;
        return;
    }
    if (ib->n >= ib->cap) {
        size_t k = 0;
        while (k < ib->n && ib->in_series && of_series(ib, ib->h[k].m))
            k++;
        if (k == ib->n)
            k = 0;
        double tk;
        azs_stream_msg *old = take(ib, k, &tk);
        if (ib->notice) {
            char line[256];
            snprintf(line, sizeof line, "%s message of series %llu (image %llu) held longer than %zu messages "
                     "without its start message: dropped", old->type == AZS_STREAM_IMAGE ? "an image" : "a",
                     (unsigned long long)(old->type == AZS_STREAM_IMAGE ? old->image.series_id : old->end_series_id),
                     (unsigned long long)(old->type == AZS_STREAM_IMAGE ? old->image.image_id : 0), ib->cap);
            ib->notice(ib->notice_ctx, line);
        }
        azs_stream_msg_free(old);
    }
    ib->h[ib->n++] = (held){m, t};
}

/* The next message due, if any. drained: nothing more is waiting in the socket now (only
 * then do the time limits apply: what waits in ZeroMQ's queue may be what is missing). */
static azs_stream_msg *pick(azs_stream_inbox *ib, double now, int drained, double *t)
{
    const double wait = AZS_STREAM_REORDER_WAIT_MS / 1e3;
    if (!ib->in_series) {
        for (size_t k = 0; k < ib->n; k++)
            if (ib->h[k].m->type == AZS_STREAM_START) {
                azs_stream_msg *m = take(ib, k, t);
                begin_series(ib, m);
                return m;
            }
        /* messages whose start never came: passed on (the consumer skips them, saying so) */
        if (ib->n && (ib->n >= ib->cap || (drained && now - ib->h[0].t >= wait)))
            return take(ib, 0, t);
        return NULL;
    }
    size_t lowest = ib->n, ncur = 0, next_start = ib->n;
    double oldest = now;
    for (size_t k = 0; k < ib->n; k++) {
        const azs_stream_msg *m = ib->h[k].m;
        if (of_series(ib, m)) {
            ncur++;
            if (lowest == ib->n || m->image.image_id < ib->h[lowest].m->image.image_id)
                lowest = k;
            if (ib->h[k].t < oldest)
                oldest = ib->h[k].t;
        } else if (m->type == AZS_STREAM_START && next_start == ib->n) {
            next_start = k;
        }
    }
    const uint64_t low_id = ncur ? ib->h[lowest].m->image.image_id : 0;
    int pass_lowest = ncur && low_id <= ib->expected; /* its turn (or late: passed on as is) */
    if (!pass_lowest && ib->end) {
        const int all_in = ib->nimages && ib->expected >= ib->nimages;
        const int timed_out = drained && now - ib->t_end >= wait;
        const int quiet = !ib->nimages && drained && now - ib->t_end >= AZS_STREAM_END_QUIET_MS / 1e3;
        if (ncur && (all_in || timed_out))
            pass_lowest = 1;
        else if (!ncur && (all_in || timed_out || quiet)) {
            azs_stream_msg *m = ib->end;
            *t = ib->t_end;
            ib->end = NULL;
            ib->in_series = 0;
            return m;
        }
    }
    if (!pass_lowest && ncur && (ncur > ib->window || (drained && now - oldest >= wait)))
        pass_lowest = 1; /* the ids before it are not coming: the consumer's gap */
    if (pass_lowest) {
        if (low_id >= ib->expected)
            ib->expected = low_id + 1;
        return take(ib, lowest, t);
    }
    /* the next series' start, its end never received: the series in hand ends there */
    if (next_start < ib->n && drained && now - ib->h[next_start].t >= wait) {
        azs_stream_msg *m = take(ib, next_start, t);
        begin_series(ib, m);
        return m;
    }
    return NULL;
}

azs_status azs_stream_inbox_next(azs_stream_inbox *ib, int timeout_ms, volatile int *cancel, azs_stream_msg **m,
                                 double *t_received, azs_stream_recv_stats *stats)
{
    *m = NULL;
    if (!ib->reorder) /* one connection: ZeroMQ keeps the order */
        return recv_one(ib, timeout_ms, cancel, m, t_received, stats);
    const double t0 = azs_now_seconds();
    int drained = 0;
    for (;;) {
        const double now = azs_now_seconds();
        if ((*m = pick(ib, now, drained, t_received)))
            return AZS_OK;
        const double left_ms = timeout_ms < 0 ? 1e9 : timeout_ms - (now - t0) * 1e3;
        if (drained && left_ms <= 0)
            return azs_fail(AZS_ERR_NOT_FOUND, "stream: no message due within %d ms", timeout_ms);
        /* drained: wait for the next message, a few ms at a time so that the time limits are
         * looked at again */
        const int wait_ms = !drained ? 0 : left_ms < 10 ? (int)left_ms : 10;
        azs_stream_msg *got = NULL;
        double t = 0;
        azs_status st = recv_one(ib, wait_ms, cancel, &got, &t, stats);
        if (st == AZS_ERR_NOT_FOUND) {
            drained = 1;
            continue;
        }
        if (st != AZS_OK)
            return st;
        hold(ib, got, t);
        drained = 0;
    }
}
