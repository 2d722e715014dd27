/* Internal to layout gpu: how a reader thread brings frame i of a batch slot to where the
 * device's copy reads it (azs_gpu_feed, doc/gpu-notes.md "feeding").
 *   PREAD     pread into the slot's pinned buffer (a CPU copy out of the page cache);
 *   DIRECT    O_DIRECT read of the chunk's whole 4 KiB blocks into the pinned buffer (the
 *             chunk then starts up to 4 KiB in);
 *   REGISTER  no read at all: the chunk's bytes in a read-only mapping of the file,
 *             registered with CUDA by windows (a registrar thread maps and registers the
 *             windows of the run's frames in frame order, a little ahead of the readers,
 *             keeps them while they fit the cap and releases the least recently used one
 *             whose frames are all delivered).
 * Frames the feed cannot take (not a byte range of a file, a chunk across two windows) and,
 * after a refusal (O_DIRECT or registration refused: one notice), every frame go by pread. */
#ifndef AZS_LAYOUT_GPU_FEED_H
#define AZS_LAYOUT_GPU_FEED_H

#include "azstream/gpu.h"
#include "azstream/layout.h"

typedef struct gfeed gfeed;

/* For frames [first, end) in slots of B frames; `stride`: bytes of a frame's pinned buffer
 * (azs_gpu_host_chunk, 4 KiB aligned, at least max_chunk_bytes + 8 KiB). tr: the run's
 * trace (feed fields written at destroy). */
azs_status gfeed_create(gfeed **out, azs_source *src, azs_gpu_engine *e, const azs_run_options *o,
                        uint64_t first, uint64_t end, uint32_t B, uint32_t S, size_t stride);

/* Reader thread: frame `frame` as frame i of slot s. *chunk: where its bytes are now (the
 * planner reads them there), *size their count. *mapped: 1 when they are in a file
 * mapping (read them under the SIGBUS guard of that range: *lo, *len). */
azs_status gfeed_read(gfeed *f, uint32_t s, uint32_t i, uint64_t frame, const uint8_t **chunk,
                      size_t *size, int *mapped, const void **lo, size_t *len);

/* The slot's per-frame chunk sources for azs_gpu_submit_from (NULL entries: the slot's own
 * buffer). */
const void *const *gfeed_sources(gfeed *f, uint32_t s);

/* Main thread, after slot s's batch was delivered: its frames up to `done` (exclusive) are
 * finished with; the windows they held may be released. */
void gfeed_delivered(gfeed *f, uint32_t s, uint32_t nframes, uint64_t done);

/* A refusal to report (one line, once), else NULL. Main thread. */
const char *gfeed_notice(gfeed *f);

/* Stop the registrar thread (before the engine is destroyed) ... */
void gfeed_stop(gfeed *f);
/* ... then, with no copy in flight (the engine destroyed), unregister and unmap; fill tr. */
void gfeed_destroy(gfeed *f, int device, azs_gpu_trace *tr);

#endif
