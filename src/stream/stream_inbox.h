/* Internal: the messages of a PULL socket in the order one connection would give them.
 *
 * Over one connection ZeroMQ keeps the sender's order, and the inbox passes each message on
 * as it comes. Over several (azs_stream_pull_open_n: the sender's PUSH socket round-robins
 * its messages over them) they arrive out of order, and the inbox puts them back: a series'
 * start message first (images and the end of a series that arrive before its start are
 * held), then its images in image_id order, then its end. An image is held until the ones
 * before it came, at most AZS_STREAM_REORDER_PER_CONNECTION x connections images or
 * AZS_STREAM_REORDER_WAIT_MS; then it is passed on and the consumer sees the ids skipped as
 * a gap (rows "not received"), as with one connection. The end message is passed on once
 * the images up to number_of_images came, or the wait passed (the missing ones then are the
 * consumer's rows "not received"); without number_of_images, once nothing came for
 * AZS_STREAM_END_QUIET_MS. Bounded: at most 2 x the window held. */
#ifndef AZS_STREAM_STREAM_INBOX_H
#define AZS_STREAM_STREAM_INBOX_H

#include "azstream/stream.h"

#define AZS_STREAM_REORDER_PER_CONNECTION 64
#define AZS_STREAM_REORDER_WAIT_MS 1000
#define AZS_STREAM_END_QUIET_MS 100

typedef struct azs_stream_inbox azs_stream_inbox;

/* What receiving cost: in ZeroMQ's receive (waiting included), decoding; bytes received. */
typedef struct azs_stream_recv_stats {
    double recv_seconds, decode_seconds;
    uint64_t bytes;
} azs_stream_recv_stats;

/* The inbox of sock (not owned), connected `connections` times. notice (may be NULL): told
 * about messages it drops (images of a series whose start never came, beyond the bound). */
azs_status azs_stream_inbox_create(azs_stream_socket *sock, int connections,
                                   void (*notice)(void *ctx, const char *msg), void *notice_ctx,
                                   azs_stream_inbox **out);
void azs_stream_inbox_destroy(azs_stream_inbox *ib);

/* The next message in order, waiting at most timeout_ms (-1: forever) for one to be due:
 * AZS_ERR_NOT_FOUND when none is, AZS_ERR_INTERRUPTED on cancel, AZS_ERR_UNSUPPORTED for a
 * message of a type not read (its detail set, nothing returned: call again), the decoder's
 * error for a bad message. *t_received: when it was received. stats (may be NULL) gets
 * what receiving cost. */
azs_status azs_stream_inbox_next(azs_stream_inbox *ib, int timeout_ms, volatile int *cancel, azs_stream_msg **m,
                                 double *t_received, azs_stream_recv_stats *stats);

#endif
