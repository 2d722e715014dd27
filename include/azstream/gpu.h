/* The GPU engine behind layout 3 (doc/design.md "gpu"): compressed chunks in, profiles out.
 *
 * Used by src/layout/layout_gpu.c, the GPU tests and bench/gpu_bench.c; not part of the
 * stable user API (users call azs_run with AZS_LAYOUT_GPU).
 *
 * Work is done in batches of up to `batch` frames. An engine owns `nslots` batch slots;
 * each slot has pinned host buffers (compressed bytes, block plan, per-frame status), its
 * device buffers and its own CUDA stream, so a batch can be read into one slot while
 * another slot's batch is copied and integrated. Per slot the caller:
 *   1. fills azs_gpu_host_chunk(e, slot, i) with the raw chunk of its i-th frame
 *      (capacity chunk_stride bytes) and plans it with azs_gpu_plan_chunk() into the
 *      slot's item list (any order, any thread: items carry their frame index);
 *   2. azs_gpu_submit(): asynchronous upload, decode, preprocess + integrate, download;
 *   3. azs_gpu_wait(): blocks, then exposes intensity/sigma [nframes][nbins] and the
 *      per-frame status the GPU found (AZS_OK or a codec error code from status.h).
 *
 * Chunk planning runs on the CPU (it walks the 4-byte block-length chain, which is
 * serial, right after pread while the bytes are in cache); the GPU then decodes every
 * (frame, block) item independently. */
#ifndef AZSTREAM_GPU_H
#define AZSTREAM_GPU_H

#include "azstream/export.h"

#include "azstream/integrate.h"
#include "azstream/status.h"
#include "azstream/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Number of CUDA devices visible (0 without CUDA support or without a device). */
AZS_API int azs_gpu_available(void);

/* One unit of decode work: a block of one frame of the batch.
 * src_off/src_len: the LZ4 block's bytes inside the frame's chunk (relative to the chunk
 * start). dst_off: byte offset of its output inside the decoded frame. dst_len: decoded
 * bytes (a multiple of 8*elem_size for bitshuffle blocks). kind: AZS_GPU_ITEM_*.
 * AZS_GPU_ITEM_BSLZ4_RUN: consecutive bitshuffle blocks smaller than 1 KiB (test vectors,
 * unusual writers), taken one after the other by one warp so that the item count per frame
 * stays bounded; src covers their 4-byte big-endian lengths and payloads; the block size
 * in bytes is kind >> 8 (the last block of a frame may be shorter). */
enum {
    AZS_GPU_ITEM_BSLZ4 = 0,
    AZS_GPU_ITEM_LZ4 = 1,
    AZS_GPU_ITEM_COPY = 2,
    AZS_GPU_ITEM_BSLZ4_RUN = 3
};
typedef struct azs_gpu_item {
    uint32_t src_off, src_len;
    uint32_t dst_off, dst_len;
    uint32_t frame;   /* index of the frame inside the batch */
    uint32_t kind;
} azs_gpu_item;

/* Largest decoded block the GPU decoder accepts (bytes; bitshuffle's default is 8192). */
#define AZS_GPU_MAX_BLOCK_BYTES 32768u
/* Largest element: 1, 2, 4 and 8 bytes take the fast unshuffle, others a bytewise one. */
#define AZS_GPU_MAX_ELEM_BYTES 32u

/* Split one chunk (bitshuffle-LZ4, LZ4 or uncompressed) of a frame whose decoded size must
 * be frame_bytes into items. Checks the header and every block length against the chunk
 * (so the GPU never reads outside it); the LZ4 payloads themselves are checked on the GPU.
 * Writes at most max_items items; *nitems gets the count. *max_block gets the largest
 * block a warp holds in shared memory (an item's dst_len, or a run's block size).
 * Errors: AZS_ERR_CORRUPT / _TRUNCATED / _SIZE_MISMATCH / _UNSUPPORTED / _CAPACITY (more
 * than max_items blocks), with a detail message. Pure C, no CUDA. */
AZS_API azs_status azs_gpu_plan_chunk(azs_codec codec, size_t elem_size, const uint8_t *chunk,
                              size_t chunk_size, size_t frame_bytes, uint32_t frame,
                              azs_gpu_item *items, size_t max_items, size_t *nitems,
                              uint32_t *max_block);
/* Items one chunk can need at most for frame_bytes (bitshuffle blocks under 1 KiB are
 * planned as runs of at least 1 KiB; plain LZ4 blocks that small are refused with
 * AZS_ERR_CAPACITY). */
AZS_API size_t azs_gpu_max_items_per_frame(azs_codec codec, size_t elem_size, size_t frame_bytes);

typedef struct azs_gpu_config {
    int device;              /* CUDA ordinal */
    uint32_t batch;          /* frames per batch (default 32) */
    uint32_t nslots;         /* batch slots (default 3; layout gpu uses 4) */
    size_t chunk_stride;     /* host bytes reserved per frame's chunk (>= max_chunk_bytes) */
    azs_codec codec;
    azs_dtype dtype;         /* pixel type of the decoded frame */
    uint32_t elem_bytes;     /* decode-only engines (csr NULL): element size when it is no
                              * pixel type's (3, 6, 10 ... bytes); 0 = the dtype's size */
    uint64_t npixels;        /* ny * nx (elements) */
} azs_gpu_config;

AZS_API void azs_gpu_config_default(azs_gpu_config *c);

typedef struct azs_gpu_engine azs_gpu_engine;

/* csr may be NULL: decode-only engine (tests, decoder benchmark). Uploads the matrix and
 * the per-pixel constants once; the preprocessing and the error model are csr->rule (the
 * integrator's), and the profiles are those of azs_integrate_frame bit for bit: the same
 * float32 per-pixel rules and the same double sums in the same order (pixel_rules.h). */
AZS_API azs_status azs_gpu_engine_create(const azs_gpu_config *c, const azs_csr_view *csr,
                                 azs_gpu_engine **out);
AZS_API void azs_gpu_engine_destroy(azs_gpu_engine *e);
/* Instead of destroying e: keep it (its pinned and device buffers, its uploaded matrix)
 * for the next azs_gpu_engine_create of this process with the same config and the same
 * matrix (a view with the same arrays, rule and sizes), which then returns it at once. A
 * process running many short runs on one integrator (a procs worker's frame ranges, a
 * stream's series) so pays the set-up once. One engine is kept per process: keeping
 * another, or azs_gpu_engine_keep(NULL), destroys the one kept. Work in flight is waited
 * for; an engine whose stream failed is destroyed instead. */
AZS_API void azs_gpu_engine_keep(azs_gpu_engine *e);

/* Pinned host memory of a slot. */
AZS_API uint8_t *azs_gpu_host_chunk(azs_gpu_engine *e, uint32_t slot, uint32_t frame);
AZS_API azs_gpu_item *azs_gpu_host_items(azs_gpu_engine *e, uint32_t slot);
AZS_API size_t azs_gpu_items_capacity(const azs_gpu_engine *e);

/* Start a batch of nframes frames in slot. chunk_sizes[i]: bytes of frame i's chunk to
 * upload; host_status[i]: AZS_OK, or an error found on the CPU (read/plan) so the GPU
 * skips the frame and reports that status back. max_block: largest item dst_len. */
AZS_API azs_status azs_gpu_submit(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                          const size_t *chunk_sizes, size_t nitems, uint32_t max_block,
                          const int32_t *host_status);

/* azs_gpu_submit where the chunks lie elsewhere than the slot's own buffers: chunk_src[i]
 * non-NULL: frame i's chunk_sizes[i] bytes are read from there (memory registered with
 * azs_gpu_host_register, or pinned; it must stay so until azs_gpu_wait of this slot);
 * NULL: from azs_gpu_host_chunk(e, slot, i) as azs_gpu_submit does. chunk_src NULL: all
 * from the slot. The items' src_off stay relative to each chunk's start. */
AZS_API azs_status azs_gpu_submit_from(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                               const size_t *chunk_sizes, const void *const *chunk_src,
                               size_t nitems, uint32_t max_block, const int32_t *host_status);

/* Page-lock host memory that is read, never written, by the device's copies (a read-only
 * file mapping: the copy engine then reads the page cache's pages, no host copy), for
 * azs_gpu_submit_from. cudaHostRegister with cudaHostRegisterReadOnly | Portable. Costs
 * about what pinning costs (each page locked and mapped for the device), so register large
 * ranges once. AZS_ERR_UNSUPPORTED (with CUDA's reason) where the device or driver refuses
 * it; AZS_ERR_GPU for other errors. */
AZS_API azs_status azs_gpu_host_register(int device, void *ptr, size_t len);
AZS_API void azs_gpu_host_unregister(int device, void *ptr);

/* Start, on a thread of its own, what an engine of config c needs before it has its matrix:
 * the device's context, the streams, the pinned and device buffers of every slot (for an
 * engine that will be given a matrix); the next azs_gpu_engine_create with a matrix and an
 * equal config (memcmp: both made from azs_gpu_config_default) takes them; engines of other
 * configs leave them alone. So that set-up overlaps building or loading the integrator.
 * One at a time per process (a second call releases the first). Returns at once; a failure
 * is not reported here (create then allocates by itself and reports it). c NULL: release
 * what was prepared, if anything. */
AZS_API void azs_gpu_engine_prepare(const azs_gpu_config *c);

/* Wait for the slot's batch. Pointers stay valid until the slot is submitted again:
 * intensity/sigma [nframes][nbins] (sigma NULL without error model; both NULL for a
 * decode-only engine), status [nframes]. ms_gpu: device time of the batch (upload to
 * download), may be NULL. */
AZS_API azs_status azs_gpu_wait(azs_gpu_engine *e, uint32_t slot, const double **intensity,
                        const double **sigma, const int32_t **status, float *ms_gpu);

/* Tests/bench: copy decoded frame i of the slot's last batch to host (frame_bytes). */
AZS_API azs_status azs_gpu_download_decoded(azs_gpu_engine *e, uint32_t slot, uint32_t frame,
                                    void *dst, size_t capacity);

/* Bench: re-run only the kernels of the slot's last batch `reps` times (data already on
 * the device) and report device ms per batch for decode and integrate. */
AZS_API azs_status azs_gpu_time_kernels(azs_gpu_engine *e, uint32_t slot, int reps, float *ms_decode,
                                float *ms_integrate);

/* Bench: the two ceilings on this device: pinned host→device copy and device→device copy
 * (counting bytes read + written), GB/s, medians of a few copies of `bytes`. */
AZS_API azs_status azs_gpu_measure_bandwidth(int device, size_t bytes, double *h2d_gbs, double *d2d_gbs);

#ifdef __cplusplus
}
#endif
#endif
