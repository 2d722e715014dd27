/* Internal: the parent <-> worker protocol of layout 2 (one socketpair per worker, same
 * host, so integers and doubles travel in native byte order and doubles stay exact).
 *
 * parent -> worker: fixed-size procs_req messages: one CONFIG first, then RANGE
 *   [first, end) requests (at most two outstanding), then STOP (or just EOF).
 * worker -> parent: procs_rec headers, each followed by a payload:
 *   HELLO   (no payload)   nbins and has_sigma of the worker's integrator, checked;
 *   RESULT  nbins doubles of I, then nbins of sigma when has_sigma: one frame, in frame
 *           order within a range; status != 0 marks a skipped bad frame (NaN rows);
 *   ERROR   msglen bytes of text: the range stopped at `frame` with `status` (a fatal
 *           frame error without skip_bad, or a failure of the worker's run). */
#ifndef AZS_LAYOUT_PROCS_PROTO_H
#define AZS_LAYOUT_PROCS_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/status.h"

#define AZS_PROCS_MAGIC 0x50535a41u /* "AZSP" */

enum { REQ_CONFIG = 1, REQ_RANGE = 2, REQ_STOP = 3 };
enum { REC_HELLO = 1, REC_RESULT = 2, REC_ERROR = 3 };

typedef struct procs_req {
    uint32_t magic, type;
    int32_t worker_id, inner, threads, device, skip_bad, parent_pid;
    /* CONFIG: the run options the worker's own layout takes from the parent's */
    int32_t feed, cpu_batch;
    uint32_t gpu_batch, gpu_slots, gpu_lag, gpu_feed;
    uint64_t first, end;     /* RANGE */
    uint64_t nbins;          /* CONFIG: what the parent's integrator has */
    uint32_t has_sigma, pad;
} procs_req;

typedef struct procs_rec {
    uint32_t magic, type;
    int32_t status;
    uint32_t msglen;
    uint64_t frame;
    uint64_t nbins;
    uint32_t has_sigma, pad;
} procs_rec;

/* On failure errno says why: EPIPE / ECONNRESET when the other end closed the channel. */
azs_status azs_procs_send_all(int fd, const void *buf, size_t n);
/* 1: got n bytes, 0: clean EOF before the first byte, -1: error or EOF mid-message. */
int azs_procs_recv_all(int fd, void *buf, size_t n);

#endif
