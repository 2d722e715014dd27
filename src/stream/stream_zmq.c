/* ZeroMQ sockets of the stream input (PULL), of replay (PUSH) and of --publish (PUB).
 * Waits are cut in 100 ms polls so that a cancel flag set by a signal handler is seen. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <zmq.h>

#include "azstream/stream.h"
#include "common/error.h"

struct azs_stream_socket {
    void *ctx, *sock;
    char endpoint[256];
};

static int cancelled(volatile int *c) { return c && __atomic_load_n(c, __ATOMIC_RELAXED) != 0; }

/* connections: how many times a PULL socket connects to the endpoint (each one a connection
 * the sender's PUSH socket round-robins over); io_threads: ZeroMQ's I/O threads, one per
 * connection so that no one thread moves every byte. */
static azs_status open_socket(const char *endpoint, int type, int bind, int hwm, int connections, int io_threads,
                              azs_stream_socket **out)
{
    *out = NULL;
    if (!azs_stream_is_endpoint(endpoint))
        return azs_fail(AZS_ERR_INVALID_ARG, "'%s' is not a stream endpoint (tcp://HOST:PORT or ipc://PATH)",
                        endpoint ? endpoint : "(null)");
    azs_stream_socket *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "stream socket");
    snprintf(s->endpoint, sizeof s->endpoint, "%s", endpoint);
    s->ctx = zmq_ctx_new();
    if (s->ctx && io_threads > 1)
        zmq_ctx_set(s->ctx, ZMQ_IO_THREADS, io_threads);
    s->sock = s->ctx ? zmq_socket(s->ctx, type) : NULL;
    azs_status st = AZS_OK;
    if (!s->sock) {
        st = azs_fail(AZS_ERR_IO, "%s: cannot create a ZeroMQ socket: %s", endpoint, zmq_strerror(zmq_errno()));
    } else {
        if (hwm > 0)
            zmq_setsockopt(s->sock, type == ZMQ_PULL ? ZMQ_RCVHWM : ZMQ_SNDHWM, &hwm, sizeof hwm);
        int linger = 0;
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
        for (int k = 0; k < (bind ? 1 : connections) && st == AZS_OK; k++)
            if ((bind ? zmq_bind(s->sock, endpoint) : zmq_connect(s->sock, endpoint)) != 0)
                st = azs_fail(AZS_ERR_IO, "%s: cannot %s: %s", endpoint, bind ? "bind" : "connect",
                              zmq_strerror(zmq_errno()));
    }
    if (st != AZS_OK) {
        azs_stream_close(s, 0);
        return st;
    }
    *out = s;
    return AZS_OK;
}

azs_status azs_stream_pull_open(const char *endpoint, int rcvhwm, azs_stream_socket **out)
{
    return azs_stream_pull_open_n(endpoint, rcvhwm, 1, out);
}

azs_status azs_stream_pull_open_n(const char *endpoint, int rcvhwm, int connections, azs_stream_socket **out)
{
    if (connections < 1 || connections > AZS_STREAM_MAX_CONNECTIONS) {
        *out = NULL;
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: %d connections (1 to %d)", endpoint ? endpoint : "(null)",
                        connections, AZS_STREAM_MAX_CONNECTIONS);
    }
    return open_socket(endpoint, ZMQ_PULL, 0, rcvhwm > 0 ? rcvhwm : 64, connections, connections, out);
}

azs_status azs_stream_push_bind(const char *endpoint, azs_stream_socket **out)
{
    return azs_stream_push_bind_io(endpoint, 1, out);
}

azs_status azs_stream_push_bind_io(const char *endpoint, int io_threads, azs_stream_socket **out)
{
    if (io_threads < 1 || io_threads > AZS_STREAM_MAX_CONNECTIONS) {
        *out = NULL;
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: %d I/O threads (1 to %d)", endpoint ? endpoint : "(null)",
                        io_threads, AZS_STREAM_MAX_CONNECTIONS);
    }
    return open_socket(endpoint, ZMQ_PUSH, 1, 64, 1, io_threads, out);
}

azs_status azs_stream_pub_bind(const char *endpoint, azs_stream_socket **out)
{
    return open_socket(endpoint, ZMQ_PUB, 1, 0, 1, 1, out);
}

struct azs_stream_buffer {
    zmq_msg_t msg;
    const uint8_t *data; /* the message's, once received */
    size_t size;
};

const uint8_t *azs_stream_buffer_data(const azs_stream_buffer *b, size_t *size)
{
    *size = b->size;
    return b->data;
}

void azs_stream_buffer_free(azs_stream_buffer *b)
{
    if (!b)
        return;
    zmq_msg_close(&b->msg);
    free(b);
}

static azs_status wait_readable(azs_stream_socket *s, int timeout_ms, volatile int *cancel)
{
    int waited = 0;
    for (;;) {
        if (cancelled(cancel))
            return azs_fail(AZS_ERR_INTERRUPTED, "%s: stopped on request while waiting for a message", s->endpoint);
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
        int step = timeout_ms < 0 || timeout_ms - waited > 100 ? 100 : timeout_ms - waited;
        int r = zmq_poll(&it, 1, step);
        if (r < 0 && zmq_errno() == EINTR)
            continue; /* a signal: look at the cancel flag again */
        if (r < 0)
            return azs_fail(AZS_ERR_IO, "%s: poll: %s", s->endpoint, zmq_strerror(zmq_errno()));
        if (r > 0)
            return AZS_OK;
        waited += step;
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return azs_fail(AZS_ERR_NOT_FOUND, "%s: no message within %d ms", s->endpoint, timeout_ms);
    }
}

azs_status azs_stream_recv_buffer(azs_stream_socket *s, int timeout_ms, volatile int *cancel,
                                  azs_stream_buffer **out)
{
    *out = NULL;
    azs_stream_buffer *b = malloc(sizeof *b);
    if (!b)
        return azs_fail(AZS_ERR_NOMEM, "%s: a message", s->endpoint);
    zmq_msg_init(&b->msg);
    /* a message already queued is taken without a poll: one system call less per message */
    int n = zmq_msg_recv(&b->msg, s->sock, ZMQ_DONTWAIT);
    while (n < 0 && (zmq_errno() == EAGAIN || zmq_errno() == EINTR)) {
        azs_status st = wait_readable(s, timeout_ms, cancel);
        if (st != AZS_OK) {
            azs_stream_buffer_free(b);
            return st;
        }
        n = zmq_msg_recv(&b->msg, s->sock, ZMQ_DONTWAIT);
    }
    if (n < 0) {
        azs_status st = azs_fail(AZS_ERR_IO, "%s: receive: %s", s->endpoint, zmq_strerror(zmq_errno()));
        azs_stream_buffer_free(b);
        return st;
    }
    b->data = zmq_msg_data(&b->msg);
    b->size = zmq_msg_size(&b->msg);
    *out = b;
    return AZS_OK;
}

azs_status azs_stream_recv(azs_stream_socket *s, int timeout_ms, volatile int *cancel, uint8_t **buf,
                           size_t *size)
{
    *buf = NULL;
    *size = 0;
    azs_stream_buffer *b = NULL;
    azs_status st = azs_stream_recv_buffer(s, timeout_ms, cancel, &b);
    if (st != AZS_OK)
        return st;
    size_t len = 0;
    const uint8_t *data = azs_stream_buffer_data(b, &len);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy)
        memcpy(copy, data, len);
    azs_stream_buffer_free(b);
    if (!copy)
        return azs_fail(AZS_ERR_NOMEM, "%s: a message of %zu bytes", s->endpoint, len);
    *buf = copy;
    *size = len;
    return AZS_OK;
}

azs_status azs_stream_send(azs_stream_socket *s, const void *buf, size_t size, volatile int *cancel)
{
    for (;;) {
        if (zmq_send(s->sock, buf, size, ZMQ_DONTWAIT) >= 0)
            return AZS_OK;
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR)
            return azs_fail(AZS_ERR_IO, "%s: send: %s", s->endpoint, zmq_strerror(zmq_errno()));
        if (cancelled(cancel))
            return azs_fail(AZS_ERR_INTERRUPTED, "%s: stopped on request while sending", s->endpoint);
        /* no peer, or every peer at its high-water mark: wait for room, nothing is dropped */
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&it, 1, 100);
    }
}

static void free_sent(void *data, void *hint)
{
    (void)hint;
    free(data);
}

azs_status azs_stream_send_owned(azs_stream_socket *s, void *buf, size_t size, volatile int *cancel)
{
    return azs_stream_send_lent(s, buf, size, free_sent, NULL, cancel);
}

azs_status azs_stream_send_lent(azs_stream_socket *s, void *data, size_t size, void (*release)(void *data, void *hint),
                                void *hint, volatile int *cancel)
{
    zmq_msg_t msg;
    if (zmq_msg_init_data(&msg, data, size, release, hint) != 0) {
        release(data, hint);
        return azs_fail(AZS_ERR_NOMEM, "%s: a message of %zu bytes", s->endpoint, size);
    }
    for (;;) {
        if (zmq_msg_send(&msg, s->sock, ZMQ_DONTWAIT) >= 0)
            return AZS_OK; /* ZeroMQ owns msg now, and frees buf once sent */
        if (zmq_errno() != EAGAIN && zmq_errno() != EINTR) {
            azs_status st = azs_fail(AZS_ERR_IO, "%s: send: %s", s->endpoint, zmq_strerror(zmq_errno()));
            zmq_msg_close(&msg);
            return st;
        }
        if (cancelled(cancel)) {
            zmq_msg_close(&msg);
            return azs_fail(AZS_ERR_INTERRUPTED, "%s: stopped on request while sending", s->endpoint);
        }
        zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&it, 1, 100);
    }
}

void azs_stream_close(azs_stream_socket *s, int linger_ms)
{
    if (!s)
        return;
    if (s->sock) {
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms);
        zmq_close(s->sock);
    }
    if (s->ctx)
        zmq_ctx_term(s->ctx);
    free(s);
}
