/* The MPI layout (doc/design.md): ranks share the frames, each runs layout 1 (or 3) on its
 * share, rank 0 writes everything in frame order. The only file that includes mpi.h.
 *
 * Design note. Frames are cut into chunks of B frames dealt round-robin (chunk c to rank
 * c % size): a static split, so no scheduler round-trips, and rank 0 always knows who
 * sends the next chunk, which makes in-order writing a plain blocking receive from that
 * rank. Round-robin (rather than one contiguous block per rank) keeps every rank busy
 * while rank 0 writes: rank 0 computes its own chunks inline, the others compute into one
 * of two buffers while the previous chunk is still in flight (MPI_Isend), and poke MPI's
 * progress engine from the sink so a large send advances while they compute.
 * A chunk message is, per frame, one double holding the frame status (NOT_DONE for frames
 * never computed: the rank stopped) followed by the I (and sigma) row as raw doubles, so
 * results are bit-identical to the serial layout; a 512-byte trailer carries the error
 * text of the chunk. Every rank walks all its chunks even after an error (marking them
 * NOT_DONE), and rank 0 receives them all, so a failure never leaves a rank blocked in a
 * send; the run then fails on rank 0 at the first frame that is not good. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <mpi.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/error.h"
#include "frame_feed.h"
#include "layout_util.h"
#include "layouts.h"

#define NOT_DONE (-1.0)
#define TRAILER_DOUBLES 64

static int g_we_initialised;
/* A rank went silent (worker_timeout): it will never join MPI_Finalize. */
static int g_rank_lost;
static int g_thread_level = MPI_THREAD_SINGLE;

int azs_mpi_built(void) { return 1; }

azs_status azs_mpi_init(int *argc, char ***argv, int *rank, int *size)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        if (MPI_Init_thread(argc, argv, MPI_THREAD_SERIALIZED, &g_thread_level) != MPI_SUCCESS)
            return azs_fail(AZS_ERR_MPI, "MPI_Init_thread failed");
        g_we_initialised = 1;
    } else {
        MPI_Query_thread(&g_thread_level);
    }
    if (rank)
        MPI_Comm_rank(MPI_COMM_WORLD, rank);
    if (size)
        MPI_Comm_size(MPI_COMM_WORLD, size);
    return AZS_OK;
}

void azs_mpi_finalize(void)
{
    int fin = 0;
    MPI_Finalized(&fin);
    if (g_rank_lost && !fin)
        MPI_Abort(MPI_COMM_WORLD, 1); /* the lost rank would hold MPI_Finalize for ever */
    if (g_we_initialised && !fin)
        MPI_Finalize();
    g_we_initialised = 0;
}

int azs_mpi_all_ok(int ok)
{
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        return ok;
    if (g_rank_lost)
        return 0; /* a collective would wait for the lost rank for ever */
    int in = ok ? 1 : 0, out = 0;
    MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return out;
}

/* Sink of a non-root rank: rows into the chunk buffer. */
typedef struct chunk_sink {
    double *buf;
    uint64_t first;
    size_t rowd, nbins;
    int has_sigma;
    MPI_Request *pending; /* the previous chunk's send, to progress */
} chunk_sink;

static azs_status chunk_write(void *ctx, uint64_t frame, const double *inten, const double *sigma,
                              azs_status fs)
{
    chunk_sink *c = ctx;
    double *r = c->buf + (frame - c->first) * c->rowd;
    r[0] = (double)fs;
    memcpy(r + 1, inten, c->nbins * sizeof(double));
    if (c->has_sigma)
        memcpy(r + 1 + c->nbins, sigma, c->nbins * sizeof(double));
    if (c->pending && *c->pending != MPI_REQUEST_NULL && g_thread_level >= MPI_THREAD_SERIALIZED) {
        int flag;
        MPI_Test(c->pending, &flag, MPI_STATUS_IGNORE);
    }
    return AZS_OK;
}

static azs_status run_inner(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                            uint64_t a, uint64_t b, const azs_sink_ops *sink, azs_run_summary *s)
{
    azs_run_options c;
    azs_run_options_default(&c);
    c.layout = o->inner == AZS_LAYOUT_GPU ? AZS_LAYOUT_GPU : AZS_LAYOUT_THREADS;
    c.workers = o->threads_per_worker > 0 ? o->threads_per_worker : o->workers;
    c.device = o->device;
    c.first_frame = a;
    c.end_frame = b;
    c.skip_bad = o->skip_bad;
    c.cancel = o->cancel;
    c.feed = o->feed;
    c.cpu_batch = o->cpu_batch;
    c.gpu_batch = o->gpu_batch;
    c.gpu_slots = o->gpu_slots;
    c.gpu_lag = o->gpu_lag;
    c.gpu_feed = o->gpu_feed;
    c.gpu_window_mib = o->gpu_window_mib;
    c.gpu_register_cap_mib = o->gpu_register_cap_mib;
    return azs_run(src, it, &c, sink, s);
}

/* Rank 0: receive chunk c from its owner, waiting at most worker_timeout seconds (0: for
 * ever). A rank that sends nothing for that long is stopped or hung; MPI (without fault-
 * tolerance extensions) cannot take a rank out of the job, so its frames cannot be
 * re-assigned: report it and fail the run, and azs_mpi_finalize aborts the job. Only time
 * spent waiting counts, at most a poll period per look (a stopped rank 0 blames no one). */
static azs_status recv_chunk(double *buf, size_t count, int owner, uint64_t c, uint64_t a, uint64_t b,
                             const azs_run_options *o)
{
    MPI_Request rq;
    if (MPI_Irecv(buf, (int)count, MPI_DOUBLE, owner, 0, MPI_COMM_WORLD, &rq) != MPI_SUCCESS) {
        /* With MPI's default error handler we do not get here; the job is aborted anyway. */
        g_rank_lost = 1;
        return azs_fail(AZS_ERR_MPI, "rank 0: receiving chunk %" PRIu64 " from rank %d failed", c, owner);
    }
    double waited = 0, last = azs_now_seconds();
    for (unsigned spin = 0;; spin++) {
        int done = 0;
        MPI_Test(&rq, &done, MPI_STATUS_IGNORE);
        if (done)
            return AZS_OK;
        double now = azs_now_seconds();
        waited += now - last < 0.1 ? now - last : 0.1;
        last = now;
        if (o->worker_timeout > 0 && waited >= o->worker_timeout) {
            MPI_Cancel(&rq); /* buf is freed after the run: the receive must not land in it */
            MPI_Wait(&rq, MPI_STATUS_IGNORE);
            g_rank_lost = 1;
            return azs_fail(AZS_ERR_MPI,
                            "rank %d sent nothing for %g s (its frames %" PRIu64 "..%" PRIu64
                            "): stopped or hung; MPI cannot re-assign a rank's frames, so the job is aborted",
                            owner, o->worker_timeout, a, b - 1);
        }
        if (spin > 1000) { /* a blocking MPI_Recv spins too; after a while, spin gently */
            struct timespec ts = {0, 200000};
            nanosleep(&ts, NULL);
        }
    }
}

static azs_status validate_mpi(const azs_source_info *info, const azs_run_options *o)
{
    (void)info;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited)
        return azs_fail(AZS_ERR_MPI, "layout mpi: MPI is not initialised (azs_mpi_init)");
    if (o->inner != AZS_LAYOUT_SERIAL && o->inner != AZS_LAYOUT_THREADS && o->inner != AZS_LAYOUT_GPU)
        return azs_fail(AZS_ERR_INVALID_ARG, "layout mpi: the inner layout must be threads or gpu");
    return AZS_OK;
}

static azs_status run_mpi(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                          const azs_sink_ops *sink, azs_run_summary *sum)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    azs_run_options od = *o;
    if (o->inner == AZS_LAYOUT_GPU && o->ngpus > 0 && o->gpus) {
        /* One node, several ranks: spread them over the listed devices by node-local rank
         * (collective: every rank calls azs_run_mpi). */
        MPI_Comm node;
        int lrank = 0;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
            MPI_Comm_rank(node, &lrank);
            MPI_Comm_free(&node);
        }
        od.device = o->gpus[lrank % o->ngpus];
    }
    o = &od;
    const double t0 = azs_now_seconds();
    const uint64_t total = o->end_frame - o->first_frame;
    if (size == 1)
        return run_inner(src, it, o, o->first_frame, o->end_frame, sink, sum);
    const size_t nbins = azs_integrator_nbins(it);
    const int has_sigma = azs_layout_has_sigma(it);
    const size_t rowd = 1 + (has_sigma ? 2 : 1) * nbins;
    uint64_t B = o->chunk_frames;
    if (!B) {
        int gpu = o->inner == AZS_LAYOUT_GPU;
        uint64_t lo = gpu ? 64 : 8, hi = gpu ? 512 : 64;
        B = total / ((uint64_t)size * 4);
        B = B < lo ? lo : B > hi ? hi : B;
    }
    /* Every rank computes the same B and chunk count: same options, same frame range. */
    const uint64_t nchunks = (total + B - 1) / B;
    size_t count;
    if (azs_mul_size((size_t)B, rowd, &count) || count + TRAILER_DOUBLES > (size_t)INT32_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "layout mpi: chunks of %" PRIu64 " frames x %zu doubles are too large",
                        B, rowd);
    count += TRAILER_DOUBLES;
    double *buf[2] = {azs_aligned_alloc(count * sizeof(double)), rank ? azs_aligned_alloc(count * sizeof(double)) : NULL};
    int alloc_ok = buf[0] && (rank == 0 || buf[1]);
    /* Collective: no rank may start sending or receiving unless all have their buffers. */
    if (!azs_mpi_all_ok(alloc_ok)) {
        azs_aligned_free(buf[0]);
        azs_aligned_free(buf[1]);
        return alloc_ok ? azs_fail(AZS_ERR_NOMEM, "layout mpi: another rank could not allocate its buffers")
                        : azs_fail(AZS_ERR_NOMEM, "layout mpi: two chunk buffers of %zu doubles", count);
    }
    azs_status st = AZS_OK;
    if (rank != 0) {
        MPI_Request req[2] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL};
        int k = 0;
        for (uint64_t c = (uint64_t)rank; c < nchunks; c += (uint64_t)size, k ^= 1) {
            MPI_Wait(&req[k], MPI_STATUS_IGNORE);
            uint64_t a = o->first_frame + c * B, b = a + B < o->end_frame ? a + B : o->end_frame;
            double *bf = buf[k];
            for (uint64_t f = 0; f < b - a; f++)
                bf[f * rowd] = NOT_DONE;
            memset(bf + (size_t)B * rowd, 0, TRAILER_DOUBLES * sizeof(double));
            if (st == AZS_OK) {
                chunk_sink cs = {bf, a, rowd, nbins, has_sigma, &req[k ^ 1]};
                azs_sink_ops ops = {&cs, chunk_write};
                azs_run_summary s;
                st = run_inner(src, it, o, a, b, &ops, &s);
                sum->frames_done += s.frames_done;
                sum->frames_bad += s.frames_bad;
                if (st != AZS_OK) {
                    uint64_t bad = a + s.frames_done;
                    if (bad < b && st != AZS_ERR_INTERRUPTED)
                        bf[(bad - a) * rowd] = (double)st;
                    snprintf((char *)(bf + (size_t)B * rowd), TRAILER_DOUBLES * sizeof(double), "%s",
                             azs_last_error());
                    sum->first_bad_frame = bad;
                }
            }
            if (MPI_Isend(bf, (int)count, MPI_DOUBLE, 0, 0, MPI_COMM_WORLD, &req[k]) != MPI_SUCCESS && st == AZS_OK)
                st = azs_fail(AZS_ERR_MPI, "rank %d: MPI_Isend of chunk %" PRIu64 " failed", rank, c);
        }
        MPI_Waitall(2, req, MPI_STATUSES_IGNORE);
    } else {
        double last_progress = t0;
        int stopped = 0;
        for (uint64_t c = 0; c < nchunks; c++) {
            int owner = (int)(c % (uint64_t)size);
            uint64_t a = o->first_frame + c * B, b = a + B < o->end_frame ? a + B : o->end_frame;
            if (owner == 0) {
                if (stopped)
                    continue;
                azs_run_summary s;
                st = run_inner(src, it, o, a, b, sink, &s);
                sum->frames_done += s.frames_done;
                if (s.frames_bad && !sum->frames_bad)
                    sum->first_bad_frame = s.first_bad_frame;
                sum->frames_bad += s.frames_bad;
                if (st != AZS_OK) {
                    sum->first_bad_frame = a + s.frames_done;
                    stopped = 1;
                }
                continue;
            }
            azs_status rs = recv_chunk(buf[0], count, owner, c, a, b, o);
            if (rs != AZS_OK) {
                if (!stopped)
                    sum->first_bad_frame = a;
                st = stopped ? st : rs;
                break; /* the owner will not send: nothing more can be received */
            }
            if (stopped)
                continue;
            for (uint64_t f = a; f < b && !stopped; f++) {
                const double *r = buf[0] + (f - a) * rowd;
                double fsd = r[0];
                azs_status fs = (azs_status)(int)fsd;
                if (fsd == NOT_DONE || azs_feed_stops(o, fs)) {
                    char msg[TRAILER_DOUBLES * sizeof(double)];
                    memcpy(msg, buf[0] + (size_t)B * rowd, sizeof msg);
                    msg[sizeof msg - 1] = 0;
                    sum->first_bad_frame = f;
                    st = azs_fail(fsd == NOT_DONE ? AZS_ERR_WORKER : fs, "rank %d stopped at frame %" PRIu64 ": %s",
                                  owner, f, msg[0] ? msg : "(no detail)");
                    stopped = 1;
                    break;
                }
                azs_feed_admit(o, sum, f, fs); /* a skipped frame: counted */
                azs_status ws = sink->write(sink->ctx, f, r + 1, has_sigma ? r + 1 + nbins : NULL, fs);
                if (ws != AZS_OK) {
                    st = ws;
                    stopped = 1;
                    break;
                }
                sum->frames_done++;
            }
            if (o->progress && !stopped) {
                double now = azs_now_seconds();
                if (now - last_progress > 0.1 || b == o->end_frame) {
                    o->progress(o->progress_ctx, sum->frames_done, total);
                    last_progress = now;
                }
            }
        }
    }
    azs_aligned_free(buf[0]);
    azs_aligned_free(buf[1]);
    return st;
}

const azs_layout_driver azs_driver_mpi = {"mpi", validate_mpi, run_mpi};
