/* Internal: the pixel-tiled form of the matrix and the engine that streams it.
 *
 * Why: the bin-major CSR gathers each bin's pixels from all over the frame (17.9 MB for an
 * Eiger 4M uint32 frame), about 55 ns per entry on the GPU host once the frame is out of
 * cache. Here the pixels are cut into tiles of AZS_TILE_PX consecutive pixels; each tile
 * is preprocessed once (value, dark, dummy, norm → a few floats per pixel, kept in L1/L2)
 * and then its entries are summed bin by bin ("segments": one bin, the entries of that bin
 * whose pixels lie in the tile), eight segments at a time in SIMD lanes, each segment's
 * sums then added to its bin.
 *
 * Determinism: the sum of bin b is ((0 + seg_b,t1) + seg_b,t2) + ... in tile order, each
 * segment summed the same way whoever computes it. The serial engine walks tiles in order;
 * the OpenMP engine computes segment sums in parallel and then adds them per bin in the
 * same tile order: both give the same bits. */
#ifndef AZS_INTEGRATE_TILED_H
#define AZS_INTEGRATE_TILED_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/codec.h"
#include "azstream/integrate.h"
#include "builder.h"

/* Pixels per tile: 8192 pixels are 64 KiB of preprocessed (signal, norm) pairs, which
 * stays in L2 beside the streamed matrix; local indices fit in 16 bits. */
#define AZS_TILE_PX 8192u

/* Segments are summed AZS_LANES at a time (one per SIMD lane). */
#define AZS_LANES 8

typedef struct azs_tiled {
    uint32_t ntiles;
    uint64_t ngroups, nrows;
    uint64_t *tile_grp;    /* [ntiles+1]: groups of tile t are [tile_grp[t], tile_grp[t+1]) */
    uint64_t *grp_row;     /* [ngroups+1]: rows of group g; a row is AZS_LANES entries, one
                            * per lane (entry j of each of the group's segments) */
    uint32_t *seg_bin;     /* [ngroups * AZS_LANES]: bin of lane g*LANES+l, UINT32_MAX = empty */
    uint16_t *local;       /* [nrows * AZS_LANES]: pixel index within the tile (padding: a
                            * pixel the tile uses, with weight 0) */
    float *weight;         /* [nrows * AZS_LANES] (0: padding) */
    uint64_t *bin_ptr;     /* [nbins+1]: lanes of bin b, in the serial engine's order, are */
    uint32_t *bin_seg;     /*   bin_seg[bin_ptr[b] .. bin_ptr[b+1]) (for the OpenMP engine) */
    /* The intensity-only path (no variance, count or Σnorm² wanted): Σ w·norm of a lane
     * does not depend on the frame unless one of its pixels is skipped in that frame, so
     * it is summed once (azs_tiled_set_norm) and a tile whose used pixels are all kept
     * gathers only the signal: half the gathers, and the norm array is not read. */
    uint8_t *used;         /* [npix]: 1 if the pixel has an entry in the matrix */
    double *norm_lane;     /* [ngroups * AZS_LANES]: Σ w·norm of each lane, every pixel kept */
    int sig_kernel;        /* AZS_SIG_GATHER or AZS_SIG_LOADS: how the AVX2 kernel of that
                            * path loads the signal (same bits; azs_tiled_set_norm times both) */
} azs_tiled;

enum { AZS_SIG_GATHER = 0, AZS_SIG_LOADS = 1 };

/* Derive the tiled form from the CSR (any order of entries within a row). */
azs_status azs_tiled_build(const azs_csr *m, uint64_t npix, azs_tiled *t);
void azs_tiled_free(azs_tiled *t);
size_t azs_tiled_memory(const azs_tiled *t, uint32_t nbins);

/* What the engine needs besides the matrix. */
typedef struct azs_tiled_ctx {
    const azs_tiled *t;
    uint32_t nbins;
    uint64_t npix;
    const float *norm;     /* [npix] */
    const float *dark;     /* [npix] or NULL */
    azs_pixel_rule rule;   /* the integrator's (pixel_rules.h) */
} azs_tiled_ctx;

/* Fill t->norm_lane from c->norm (c->t == t), with the same kernel and roundings as a
 * frame's, and choose t->sig_kernel by timing both. */
azs_status azs_tiled_set_norm(azs_tiled *t, const azs_tiled_ctx *c);
/* Choose t->sig_kernel by timing alone (a matrix whose norm_lane is already filled: one
 * mapped from a cache file, which keeps the machine-dependent choice out of the file). */
azs_status azs_tiled_choose_sig_kernel(azs_tiled *t);
/* For tests: use this kind of signal load from now on. */
void azs_tiled_force_sig_kernel(azs_tiled *t, int kind);
/* "portable", "avx2+fma, gathers" or "avx2+fma, scalar loads". */
const char *azs_tiled_sig_kernel_name(const azs_tiled *t);

/* How many tiles of this decoded frame the intensity-only path can take (every used pixel
 * kept); the rest are integrated with their per-frame norm. For tests and diagnostics
 * (0 if out of memory). */
uint32_t azs_tiled_static_tiles(const azs_tiled_ctx *c, const void *px, azs_dtype dtype);

/* Does out need the general path (variance, count or Σnorm² sums)? Else intensity only. */
int azs_tiled_wants_full(const azs_tiled_ctx *c, const azs_frame_result *out);

/* Scratch of the OpenMP engine: one 5-double sum per lane. */
size_t azs_tiled_scratch_bytes(const azs_tiled *t);

/* The segment kernel dispatch chose ("avx2" or "portable"; same bits either way). */
const char *azs_tiled_kernel_name(void);

/* Bytes of the serial engine's tile buffer (preprocessed pixels of one tile). */
size_t azs_tiled_buffer_bytes(void);

/* Integrate one frame. acc: nbins × 5 doubles (the serial engine's per-bin sums);
 * tile_buffer: azs_tiled_buffer_bytes, 64-byte aligned; scratch: azs_tiled_scratch_bytes
 * (the OpenMP engine's per-segment sums). Unsupported dtypes return AZS_ERR_UNSUPPORTED. */
azs_status azs_tiled_frame(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer);
/* Fused decode + integrate of a bitshuffle-LZ4 chunk: blocks are decoded into `stage`
 * (azs_tiled_stage_bytes) one tile's worth at a time and integrated from there, so the
 * decoded frame never goes to memory. Blocks of up to AZS_FUSED_MAX_BLOCK bytes; the
 * chunk must hold exactly npix elements of dtype. Same bits as azs_tiled_frame. */
#define AZS_FUSED_MAX_BLOCK 65536u
size_t azs_tiled_stage_bytes(void);
azs_status azs_tiled_chunk(const azs_tiled_ctx *c, azs_bslz4_blocks *blocks, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer,
                           void *stage, void *scratch);

/* The fused path for n (1..AZS_BATCH_MAX) frames at once, intensity only (no output that
 * needs variance, count or Σnorm²): each tile of every frame is decoded and preprocessed,
 * then the matrix rows of the tile are read once for all of them. Per frame the same bits
 * as azs_tiled_chunk. acc, tile_buffer, stage: one per frame. xbuf: NULL, or
 * azs_tiled_xbuf_bytes (64-byte aligned) for the frame-interleaved kernel where the CPU
 * has it (tiled_kernels.h). A frame whose chunk fails
 * gets its status in status[j] (and its message in msgs + j * msg_len, if msgs) and the
 * others go on; the return value is not AZS_OK only for bad arguments. */
azs_status azs_tiled_chunks(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, int n, azs_dtype dtype,
                            const azs_frame_result *out, double *const *acc,
                            void *const *tile_buffer, void *const *stage, void *scratch,
                            void *xbuf, azs_status *status, char *msgs, size_t msg_len);
size_t azs_tiled_xbuf_bytes(void);

azs_status azs_tiled_frame_omp(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                               const azs_frame_result *out, double *scratch);

#endif
