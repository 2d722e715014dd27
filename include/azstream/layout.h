/* Execution layouts (doc/design.md "layouts"): the same integration of a stack, run serially, on a
 * thread pool, on worker processes, on a GPU or across MPI ranks. Every layout delivers
 * results to the sink in frame order; CPU layouts give bit-identical numbers.
 *
 * Bad frames: one policy for every layout (src/layout/frame_feed.c), so every layout
 * writes the same rows and the same frame_status for the same input.
 * - A frame whose chunk has no raw bytes (never written: the fill value; stored with its
 *   filter skipped) is read decoded through the source and integrated like any other;
 *   the GPU layout integrates such frames, and any frame its device path cannot take, on
 *   the host, with the CPU engine.
 * - A chunk that does not decode gets one status, whichever decoder found it:
 *     AZS_ERR_SIZE_MISMATCH  its header (uncompressed: its length) announces a size other
 *                            than the frame's;
 *     AZS_ERR_TRUNCATED      it ends before its block lengths say it should (also a file
 *                            that ends inside the frame);
 *     AZS_ERR_CORRUPT        anything else wrong in it (a bad LZ4 block, a bad header
 *                            field, a block that decodes to the wrong size).
 * - skip_bad skips exactly these three: the frame's row is NaN, its frame_status the
 *   status, and the run goes on. Every other failure stops the run at that frame, skip_bad
 *   or not: I/O errors of the disk (AZS_ERR_IO), out of memory, a GPU error, Ctrl-C ...;
 *   the sink has then received every frame before it.
 * Frames without data: a frame whose chunk was never written (AZS_ERR_UNWRITTEN: HDF5
 * would give the dataset's fill value) and a frame of a data file that is missing
 * (AZS_ERR_MISSING, only when the source was opened with allow_missing) are not integrated:
 * their row is NaN, their frame_status says why, and the run goes on, skip_bad or not
 * (they are what the input holds, not a failure to read it). They count in frames_bad and
 * in frames_absent. */
#ifndef AZSTREAM_LAYOUT_H
#define AZSTREAM_LAYOUT_H

#include "azstream/export.h"

#include "azstream/frame_sink.h"
#include "azstream/integrate.h"
#include "azstream/source.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum azs_layout {
    AZS_LAYOUT_SERIAL = 0, /* layout 0: one loop, OpenMP inside decode and integrate */
    AZS_LAYOUT_THREADS,    /* layout 1: reader + worker pool + in-order writer */
    AZS_LAYOUT_PROCS,      /* layout 2: spawned worker processes */
    AZS_LAYOUT_GPU,        /* layout 3: compressed chunks in, profiles out */
    AZS_LAYOUT_MPI         /* ranks, each running threads or gpu inside */
} azs_layout;

/* How layout 1 gets its raw chunks. A reader thread reads in frame order, ahead of the
 * workers; but it needs a core of its own: when the workers already take every core, it
 * steals time from them, so there each worker reads (pread, through the chunk index) its
 * own chunks instead. Mapping the chunks (no copy at all) beat both wherever measured. */
typedef enum azs_feed {
    AZS_FEED_AUTO = 0, /* default: map when every part of the source is on the pread path;
                        * else self when workers >= online cores, else reader */
    AZS_FEED_READER,   /* one reader thread + bounded queue */
    AZS_FEED_SELF,     /* each worker reads its own chunks (pread into its buffers) */
    AZS_FEED_MAP       /* each worker maps its own chunks (azs_source_map_raw: no copy);
                        * frames that cannot be mapped are read as with SELF */
} azs_feed;

/* How layout gpu gets the compressed chunks to the device (doc/gpu-notes.md "feeding"). */
typedef enum azs_gpu_feed {
    AZS_GPU_FEED_AUTO = 0, /* default: the fastest measured (pread: doc/gpu-notes.md) */
    AZS_GPU_FEED_PREAD,    /* reader threads pread each chunk into pinned buffers (a CPU copy
                            * out of the page cache), then the copy engine uploads them */
    AZS_GPU_FEED_REGISTER, /* the file mapped read-only in windows of gpu_window_mib, each
                            * registered with CUDA once (cudaHostRegister, read-only): the
                            * copy engine reads the page cache's pages, no CPU copy; frames
                            * outside a window (or if registration is refused: all, with a
                            * notice) are read as with PREAD */
    AZS_GPU_FEED_DIRECT    /* O_DIRECT reads into the pinned buffers (the disk's DMA, past the
                            * page cache); where the file system refuses O_DIRECT, PREAD with
                            * a notice */
} azs_gpu_feed;

typedef struct azs_run_options {
    azs_layout layout;
    int workers;               /* threads (or processes); 0 = all online cores (layout gpu:
                                * reader threads, 0 = min(cores, 16)) */
    uint64_t first_frame;      /* default 0 */
    uint64_t end_frame;        /* exclusive; UINT64_MAX (default) = to the last frame */
    int skip_bad;              /* 0 (default): a bad frame stops the run; 1: a bad chunk
                                * is written as a NaN row with its status ("Bad frames") */
    int device;                /* GPU ordinal for AZS_LAYOUT_GPU */
    azs_feed feed;             /* layout threads (also inside procs / mpi): see azs_feed */
    /* Set non-zero to stop, with azs_cancel_request (async-signal-safe: a signal handler
     * may call it); may be NULL. A plain int so that this header needs no <stdatomic.h>
     * (C++ includes it too); the library reads it atomically. */
    volatile int *cancel;
    /* Optional progress, called from the writer thread now and then. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;

    /* ---- layout 2 (procs) and mpi ---- */
    /* What runs inside each worker process / rank: AZS_LAYOUT_THREADS (also meant by the
     * default 0) or AZS_LAYOUT_GPU. */
    azs_layout inner;
    /* procs: threads in each worker (0 = online cores / workers, at least 1).
     * mpi: threads in each rank (0 = all online cores). */
    int threads_per_worker;
    /* procs: how to start one worker process: a NULL-terminated argv whose argv[0] is the
     * executable (e.g. the resolved /proc/self/exe). It is started with posix_spawn (never a
     * bare fork), inherits the environment and working directory, and must open the same
     * stack and integration settings and then call azs_procs_worker_serve() on
     * AZS_PROCS_WORKER_FD. Required for AZS_LAYOUT_PROCS. */
    const char *const *worker_argv;
    /* procs + inner gpu: worker i uses device gpus[i % ngpus] (NULL: every worker uses
     * `device`). Several workers may share one device. */
    const int *gpus;
    int ngpus;
    /* procs / mpi: frames per range handed out (0 = auto: 8..32 for CPU workers, more for
     * GPU workers, whose runs cost more to start). */
    uint32_t chunk_frames;
    /* procs (and mpi, rank 0 waiting for a rank's chunk: there the run fails, see
     * azs_mpi_finalize): seconds a worker that holds frames may stay silent (no result, no message)
     * before it is reported through `notice` (its pid and the frames it held), killed, and
     * its frames re-assigned to the other workers: a stopped (SIGSTOP) or hung worker
     * would otherwise stall the run for ever. Only time the parent spends waiting for its
     * workers counts (not its own writing, nor time it was stopped itself), and a worker's
     * start-up (building its integrator) counts too. azs_run_options_default sets
     * AZS_WORKER_TIMEOUT_DEFAULT; 0 = no timeout. */
    double worker_timeout;
    /* Optional: told about events the caller may want to report (a worker process died and
     * its frames were re-assigned ...). One line, no newline. */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;

    /* ---- tuning, for measurements (0 = the default, measured best) ---- */
    /* threads: frames a worker integrates together, 1..AZS_BATCH_MAX (0: AZS_BATCH_MAX
     * when only the intensity is wanted; 1 turns batches off) */
    int cpu_batch;
    /* gpu: frames per batch (0: 32, at most 1024), batch slots (0: 4, 2..8) and batches on
     * the device at once (0: 2, 1..slots - 1) */
    uint32_t gpu_batch, gpu_slots, gpu_lag;
    /* gpu: how chunks reach the device (azs_gpu_feed); with REGISTER, the window of the file
     * registered at once (MiB, 0: 512, 2..65536) and the most kept registered (MiB, 0: 4096;
     * raised to what the batches in flight need); windows are reused while they stay
     * registered, the least recently used one released first */
    azs_gpu_feed gpu_feed;
    uint32_t gpu_window_mib, gpu_register_cap_mib;
    /* gpu: 1 = at the end of the run keep the engine (pinned buffers, uploaded matrix) for
     * the next run on the same integrator (azs_gpu_engine_keep), which then starts at once;
     * the caller calls azs_gpu_engine_keep(NULL) before it destroys the integrator. For
     * processes that run many short ranges (procs workers). */
    int gpu_keep_engine;
} azs_run_options;

#define AZS_WORKER_TIMEOUT_DEFAULT 30.0 /* seconds (azs_run_options.worker_timeout) */

AZS_API void azs_run_options_default(azs_run_options *o);

/* Set *flag (azs_run_options.cancel) atomically; safe in a signal handler. */
AZS_API void azs_cancel_request(volatile int *flag);

/* Layout gpu: where the time went (what the CLI prints for a trace), and the settings run. */
typedef struct azs_gpu_trace {
    uint32_t batch, slots, lag; /* frames per batch, slots, batches on the device */
    int readers;                /* reader threads */
    uint64_t batches;           /* batches delivered */
    uint64_t host_frames;       /* frames integrated on the host: no raw bytes, or not
                                 * decodable on the device (bad ones included) */
    double read_wait;           /* seconds the main thread waited for the readers */
    double gpu_wait;            /* ... for the device */
    double submit, sink;        /* ... submitting batches, in the sink */
    double host;                /* ... integrating frames on the host */
    double device;              /* device time of the batches (upload to download) */
    double teardown;            /* after the last frame */
    azs_gpu_feed feed;          /* the feed asked for (AUTO resolved) */
    int feed_fallback;          /* 1: it was refused (see the notice) and PREAD took over */
    uint64_t fed_frames;        /* frames the feed itself brought (the rest: pread) */
    uint32_t windows;           /* REGISTER: windows mapped and registered (again after a
                                 * release counted again) */
    uint64_t registered_bytes;  /* ... their bytes */
    double register_seconds;    /* ... time spent mapping and registering them (registrar
                                 * thread, beside the readers) */
    double window_wait;         /* ... reader-thread time spent waiting for a window (summed
                                 * over the readers) */
} azs_gpu_trace;

typedef struct azs_run_summary {
    uint64_t frames_done;      /* frames delivered to the sink (bad ones included) */
    uint64_t frames_bad;       /* of which not integrated: bad and skipped, or without data */
    uint64_t first_bad_frame;  /* valid when frames_bad > 0 or the run failed on a frame */
    double seconds;            /* wall time of the run */
    double setup_seconds;      /* of which set-up before the first frame is read (layout
                                * gpu: device buffers, pinned memory, matrix upload) */
    uint32_t workers_lost;     /* procs: worker processes that died before the end */
    int self_read;             /* threads: 1 if the workers read their own chunks */
    int mapped;                /* threads: 1 if they map them (AZS_FEED_MAP, or auto on the
                                * pread path) */
    int cpu_batch;             /* threads: frames integrated together (as run) */
    azs_gpu_trace gpu;         /* layout gpu only */
    uint64_t frames_absent;    /* of frames_bad, those without data (never written, or in a
                                * missing data file: "Frames without data") */
} azs_run_summary;

/* Optional, before azs_run with the same src and options: start what the layout can set up
 * before the integrator exists, on a thread of its own, so that it overlaps building or
 * loading the integrator (layout gpu: the CUDA context, the streams, the pinned and device
 * buffers of its batch slots; azs_run then takes them). Returns at once, reports nothing (a
 * failure shows in azs_run); other layouts: nothing. src NULL: release what was prepared
 * and not taken (a run that failed before it started). */
AZS_API void azs_run_prepare(azs_source *src, const azs_run_options *o);

/* Integrate frames [first_frame, end_frame) of src with it, delivering to sink. On
 * failure the sink has received every frame before the failing one, in order. */
AZS_API azs_status azs_run(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                   const azs_sink_ops *sink, azs_run_summary *summary);

/* ---- layout 2: the worker side ----
 * A worker process (started from azs_run_options.worker_argv) opens the stack, builds the
 * integrator with the same settings as the parent, and serves the parent over this file
 * descriptor: it receives frame ranges, integrates them (layout 1 or 3 inside, as the
 * parent says) and streams back one exact binary record per frame. Returns AZS_OK when the
 * parent closes the channel or says stop. */
#define AZS_PROCS_WORKER_FD 3

typedef struct azs_worker_hooks {
    /* Called after each frame record was sent (nsent counts them). Test hook: the CLI uses
     * it to make one worker die at a chosen point. May be NULL. */
    void (*frame_sent)(void *ctx, int worker_id, uint64_t nsent);
    void *ctx;
} azs_worker_hooks;

AZS_API azs_status azs_procs_worker_serve(int fd, azs_source *src, const azs_integrator *it,
                                  const azs_worker_hooks *hooks);

/* Number of usable GPUs (0 without CUDA or without a device). */
AZS_API int azs_gpu_device_count(void);

/* ---- mpi ----
 * azs_run with layout AZS_LAYOUT_MPI must be called by every rank with the same frame
 * range and integrator settings; ranks share the frames and rank 0 delivers every frame to
 * its sink in order (the other ranks' sinks are never called). Fails with
 * AZS_ERR_UNSUPPORTED when azstream was built without MPI. */
AZS_API int azs_mpi_built(void);
/* MPI_Init (thread level FUNNELED); rank and size out. Call once, before azs_run. */
AZS_API azs_status azs_mpi_init(int *argc, char ***argv, int *rank, int *size);
/* MPI_Finalize if azs_mpi_init initialised MPI. After a run in which rank 0 found a rank
 * silent for worker_timeout seconds (stopped or hung: the run failed with AZS_ERR_MPI
 * naming it), MPI_Abort instead: the lost rank would never join MPI_Finalize, so the whole
 * job ends there with exit status 1 (close the output first). */
AZS_API void azs_mpi_finalize(void);
/* Global logical AND of ok over the ranks (collective); returns ok on one rank or without
 * MPI, and 0 without a collective once a rank is lost. */
AZS_API int azs_mpi_all_ok(int ok);

#ifdef __cplusplus
}
#endif
#endif
