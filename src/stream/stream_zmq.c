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

static azs_status open_socket(const char *endpoint, int type, int bind, int hwm, azs_stream_socket **out)
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
    s->sock = s->ctx ? zmq_socket(s->ctx, type) : NULL;
    azs_status st = AZS_OK;
    if (!s->sock) {
        st = azs_fail(AZS_ERR_IO, "%s: cannot create a ZeroMQ socket: %s", endpoint, zmq_strerror(zmq_errno()));
    } else {
        if (hwm > 0)
            zmq_setsockopt(s->sock, type == ZMQ_PULL ? ZMQ_RCVHWM : ZMQ_SNDHWM, &hwm, sizeof hwm);
        int linger = 0;
        zmq_setsockopt(s->sock, ZMQ_LINGER, &linger, sizeof linger);
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
    return open_socket(endpoint, ZMQ_PULL, 0, rcvhwm > 0 ? rcvhwm : 64, out);
}

azs_status azs_stream_push_bind(const char *endpoint, azs_stream_socket **out)
{
    return open_socket(endpoint, ZMQ_PUSH, 1, 64, out);
}

azs_status azs_stream_pub_bind(const char *endpoint, azs_stream_socket **out)
{
    return open_socket(endpoint, ZMQ_PUB, 1, 0, out);
}

azs_status azs_stream_recv(azs_stream_socket *s, int timeout_ms, volatile int *cancel, uint8_t **buf,
                           size_t *size)
{
    *buf = NULL;
    *size = 0;
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
            break;
        waited += step;
        if (timeout_ms >= 0 && waited >= timeout_ms)
            return azs_fail(AZS_ERR_NOT_FOUND, "%s: no message within %d ms", s->endpoint, timeout_ms);
    }
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int n;
    while ((n = zmq_msg_recv(&msg, s->sock, 0)) < 0 && zmq_errno() == EINTR)
        ;
    if (n < 0) {
        zmq_msg_close(&msg);
        return azs_fail(AZS_ERR_IO, "%s: receive: %s", s->endpoint, zmq_strerror(zmq_errno()));
    }
    size_t len = zmq_msg_size(&msg);
    uint8_t *copy = malloc(len ? len : 1);
    if (copy)
        memcpy(copy, zmq_msg_data(&msg), len);
    zmq_msg_close(&msg);
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
