/* The transport floor of a stream (a benchmark, not a test): how many messages of a given
 * size go through one ZeroMQ PUSH/PULL connection when nobody does anything with them.
 *   stream_floor send ENDPOINT BYTES COUNT   PUSH bound to ENDPOINT: one image message of
 *       BYTES chunk bytes (a valid Stream V2 image message, bslz4 tag), built once, sent
 *       COUNT times without a copy (zmq_msg_init_data), then an end message
 *   stream_floor sink ENDPOINT [drop|decode|copy]
 *       PULL connected to ENDPOINT, until an end message: drop (receive, close), decode
 *       (receive, azs_stream_msg_decode_buffer in place, free: the integrate receiver's
 *       path without the ring), copy (receive, copy into a malloc'd buffer and decode the
 *       copy: the receiver's path before it stopped copying). Prints messages/s, GB/s and
 *       where the time went (recv, decode).
 * Socket settings from the environment (bench only): FLOOR_IO_THREADS, FLOOR_SNDBUF,
 * FLOOR_RCVBUF (bytes; 0 = the kernel's autotuning), FLOOR_HWM; FLOOR_CONNECTIONS: the drop sink
 * connects that many times (with FLOOR_IO_THREADS to match), counting images that come after
 * the end message (up to 300 ms). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <zmq.h>

#include "azstream/stream.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int env_int(const char *name, int dflt)
{
    const char *v = getenv(name);
    return v && *v ? atoi(v) : dflt;
}

static void *open_sock(void *ctx, int type)
{
    void *s = zmq_socket(ctx, type);
    int hwm = env_int("FLOOR_HWM", 64), linger = -1;
    zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    int buf = env_int(type == ZMQ_PUSH ? "FLOOR_SNDBUF" : "FLOOR_RCVBUF", 0);
    if (buf > 0)
        zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDBUF : ZMQ_RCVBUF, &buf, sizeof buf);
    return s;
}

static int do_send(void *ctx, const char *ep, size_t bytes, uint64_t count)
{
    uint8_t *chunk = malloc(bytes ? bytes : 1), *img = NULL, *end = NULL;
    size_t nimg = 0, nend = 0;
    if (!chunk)
        return 1;
    for (size_t i = 0; i < bytes; i++)
        chunk[i] = (uint8_t)(i * 2654435761u >> 13);
    /* the shape only has to be plausible: nobody decompresses */
    azs_stream_array a = {2162, 2068, AZS_U32, 4, AZS_CODEC_BSLZ4, chunk, bytes};
    if (azs_stream_encode_image(1, 0, "threshold_1", &a, &img, &nimg) != AZS_OK ||
        azs_stream_encode_end(1, &end, &nend) != AZS_OK) {
        fprintf(stderr, "stream_floor: encode: %s\n", azs_last_error());
        return 1;
    }
    void *s = open_sock(ctx, ZMQ_PUSH);
    if (zmq_bind(s, ep) != 0) {
        fprintf(stderr, "stream_floor: bind %s: %s\n", ep, zmq_strerror(zmq_errno()));
        return 1;
    }
    double t0 = 0;
    for (uint64_t k = 0; k < count; k++) {
        zmq_msg_t m;
        zmq_msg_init_data(&m, img, nimg, NULL, NULL); /* the same bytes every time, never freed */
        if (zmq_msg_send(&m, s, 0) < 0) {
            fprintf(stderr, "stream_floor: send: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        if (k == 0)
            t0 = now(); /* from the first message taken: the receiver's connection is up */
    }
    zmq_send(s, end, nend, 0);
    const double dt = now() - t0;
    printf("stream_floor send: %" PRIu64 " messages of %zu bytes in %.3f s, %.1f messages/s, %.2f GB/s\n", count,
           nimg, dt, (double)(count - 1) / dt, (double)(count - 1) * (double)nimg / dt / 1e9);
    zmq_close(s); /* img, end and chunk stay: ZeroMQ may still be sending them until the context ends */
    return 0;
}

/* decode: the library's own receive path (azs_stream_recv_buffer, decode in place), the
 * socket as the integrate receiver opens it */
static int sink_decode(const char *ep)
{
    azs_stream_socket *s = NULL;
    if (azs_stream_pull_open(ep, 0, &s) != AZS_OK) {
        fprintf(stderr, "stream_floor: %s\n", azs_last_error());
        return 1;
    }
    uint64_t n = 0, bytes = 0;
    double t_first = 0, t_last = 0, t_recv = 0, t_decode = 0;
    for (;;) {
        azs_stream_buffer *b = NULL;
        const double t0 = now();
        if (azs_stream_recv_buffer(s, -1, NULL, &b) != AZS_OK) {
            fprintf(stderr, "stream_floor: %s\n", azs_last_error());
            return 1;
        }
        const double t1 = now();
        size_t len = 0;
        (void)azs_stream_buffer_data(b, &len);
        if (n == 0)
            t_first = t1;
        else
            t_recv += t1 - t0;
        azs_stream_msg *m = NULL;
        if (azs_stream_msg_decode_buffer(b, &m) != AZS_OK) {
            fprintf(stderr, "stream_floor: %s\n", azs_last_error());
            return 1;
        }
        const int is_end = m->type == AZS_STREAM_END;
        azs_stream_msg_free(m);
        t_decode += now() - t1;
        if (is_end)
            break;
        n++;
        bytes += len;
        t_last = now();
    }
    const double dt = t_last - t_first;
    printf("stream_floor sink (decode): %" PRIu64 " messages, %.2f MB each, in %.3f s: %.1f messages/s, %.2f GB/s; "
           "recv %.1f %%, decode %.1f %% of the time\n", n, n ? (double)bytes / (double)n / 1e6 : 0.0, dt,
           dt > 0 ? (double)(n - 1) / dt : 0.0, dt > 0 ? (double)bytes * (double)(n - 1) / (double)n / dt / 1e9 : 0.0,
           dt > 0 ? 100 * t_recv / dt : 0.0, dt > 0 ? 100 * t_decode / dt : 0.0);
    azs_stream_close(s, 0);
    return 0;
}

/* drop / copy: a raw ZeroMQ PULL socket (FLOOR_* settings) */
static int do_sink(void *ctx, const char *ep, const char *mode)
{
    const int copy = !strcmp(mode, "copy");
    void *s = open_sock(ctx, ZMQ_PULL);
    const int connections = env_int("FLOOR_CONNECTIONS", 1);
    for (int k = 0; k < connections; k++)
        if (zmq_connect(s, ep) != 0) {
            fprintf(stderr, "stream_floor: connect %s: %s\n", ep, zmq_strerror(zmq_errno()));
            return 1;
        }
    int ended = 0;
    uint64_t n = 0, bytes = 0;
    double t_first = 0, t_last = 0, t_recv = 0, t_decode = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        const double t0 = now();
        if (zmq_msg_recv(&m, s, 0) < 0) {
            if (ended && zmq_errno() == EAGAIN)
                break; /* nothing more after the end message */
            fprintf(stderr, "stream_floor: recv: %s\n", zmq_strerror(zmq_errno()));
            return 1;
        }
        const double t1 = now();
        const size_t len = zmq_msg_size(&m);
        if (n == 0)
            t_first = t1; /* from the first message: the sender's start is not the transport */
        else
            t_recv += t1 - t0;
        const int is_end = len < 64; /* the end message; an image message is far larger */
        if (copy && !is_end) {
            uint8_t *c = malloc(len);
            azs_stream_msg *msg = NULL;
            if (c) {
                memcpy(c, zmq_msg_data(&m), len);
                (void)azs_stream_msg_decode(c, len, &msg);
            }
            free(c);
            azs_stream_msg_free(msg);
            t_decode += now() - t1;
        }
        zmq_msg_close(&m);
        if (is_end && connections == 1)
            break;
        if (is_end) { /* over several connections images may still come after it */
            int wait_ms = 300;
            zmq_setsockopt(s, ZMQ_RCVTIMEO, &wait_ms, sizeof wait_ms);
            ended = 1;
            continue;
        }
        n++;
        bytes += len;
        t_last = now();
    }
    const double dt = t_last - t_first;
    printf("stream_floor sink (%s): %" PRIu64 " messages, %.2f MB each, in %.3f s: %.1f messages/s, %.2f GB/s; "
           "recv %.1f %%, %s %.1f %% of the time\n", mode, n, n ? (double)bytes / (double)n / 1e6 : 0.0, dt,
           dt > 0 ? (double)(n - 1) / dt : 0.0, dt > 0 ? (double)bytes * (double)(n - 1) / (double)n / dt / 1e9 : 0.0,
           dt > 0 ? 100 * t_recv / dt : 0.0, copy ? "copy + decode" : "nothing else", dt > 0 ? 100 * t_decode / dt : 0.0);
    zmq_close(s);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3 || (strcmp(argv[1], "send") && strcmp(argv[1], "sink")) || (!strcmp(argv[1], "send") && argc < 5)) {
        fprintf(stderr, "usage: stream_floor send ENDPOINT BYTES COUNT | sink ENDPOINT [drop|decode|copy]\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    zmq_ctx_set(ctx, ZMQ_IO_THREADS, env_int("FLOOR_IO_THREADS", 1));
    const char *mode = argc > 3 ? argv[3] : "drop";
    int rc = !strcmp(argv[1], "send") ? do_send(ctx, argv[2], strtoull(argv[3], NULL, 10), strtoull(argv[4], NULL, 10))
             : !strcmp(mode, "decode") ? sink_decode(argv[2])
                                       : do_sink(ctx, argv[2], mode);
    zmq_ctx_term(ctx);
    return rc;
}
