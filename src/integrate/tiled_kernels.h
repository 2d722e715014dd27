/* Internal: the tiled engine's per-tile kernels (tiled_kernels.c), used by tiled.c only:
 * preprocessing of one tile per input type (the rules of pixel_rules.h), and the sums of
 * a group of AZS_LANES segments, portable and AVX2 (chosen at run time, the same bits). */
#ifndef AZS_INTEGRATE_TILED_KERNELS_H
#define AZS_INTEGRATE_TILED_KERNELS_H

#include "tiled.h"

/* One tile's preprocessed pixels: pairs sn[2i] = signal, sn[2i+1] = norm and, when the
 * variance or the count is wanted, vo[2i] = variance, vo[2i+1] = valid (1 or 0): pairs, so
 * that one 64-bit gather fetches both. A skipped pixel gets zeros everywhere, which adds
 * exactly nothing to any sum (pixel_rules.h). */
typedef struct tile_buf {
    float sn[2 * AZS_TILE_PX];
    union {
        float vo[2 * AZS_TILE_PX];
        float sig[AZS_TILE_PX]; /* the intensity-only path: signal alone */
    };
} tile_buf;

/* Preprocess pixels [p0, p0+n) of the frame (px points at pixel p0) into b (full: the
 * variance and valid pairs too). */
typedef void (*pre_fn)(const azs_tiled_ctx *, const void *, uint64_t, uint32_t, tile_buf *, int);
/* The intensity-only preprocessing: b->sig[i] = signal (0 when skipped); returns non-zero
 * if a used pixel was skipped (then the tile needs its per-frame norm). */
typedef uint32_t (*sig_fn)(const azs_tiled_ctx *, const void *, uint64_t, uint32_t, tile_buf *);
/* Sums of one group of AZS_LANES segments, rows [r0, r1): out[q * AZS_LANES + lane] for
 * q = 0 sig, 1 var, 2 norm, 3 norm², 4 count (the fast variant: sig and norm only). */
typedef void (*group_fn)(const uint16_t *, const float *, uint64_t, uint64_t, const tile_buf *,
                         double *);
/* Σ w·signal per lane for nf (1..AZS_SIG_MULTI_MAX) frames at once (the batch engine): each matrix row is read
 * once for all of them; frame f's lane sums go to out[f * AZS_LANES ..]. */
#define AZS_SIG_MULTI_MAX 4
typedef void (*sig_multi_fn)(const uint16_t *, const float *, uint64_t, uint64_t,
                             const float *const *, int, double *);

/* The frame-interleaved batch path (tiled_x8.c): up to AZS_X8 frames' signals of a tile
 * transposed to x[pixel * AZS_X8 + frame] (x: AZS_TILE_PX * AZS_X8 floats, 64-byte
 * aligned; n pixels, frames past nf copy frame 0), then per group
 * out[lane * AZS_X8 + frame] = Σ w·signal, the same bits as sig_multi_fn's. */
#define AZS_X8 8
/* Fewer frames than this take the frame-major kernel (the interleaved one costs the same
 * for 1 frame as for 8). */
#define AZS_X8_MIN_FRAMES 5
typedef void (*xpose_fn)(const float *const *sig, int nf, uint32_t n, float *x);
typedef void (*sig_x8_fn)(const uint16_t *, const float *, uint64_t, uint64_t, const float *,
                          double *);
/* 1 and the two kernels where the CPU has AVX-512 (F, BW, VL); else 0 and NULLs. */
int azs_tiled_pick_x8(xpose_fn *xpose, sig_x8_fn *sum);
/* The intensity-only preprocessing of nf frames' tile straight into x (px[f]: the tile's
 * first pixel in frame f; columns as xpose_fn's), lost[f] as sig_fn returns it; NULL where
 * there is none for this type and CPU (then sig_fn + xpose_fn). */
typedef void (*sigx_fn)(const azs_tiled_ctx *, const void *const *px, int nf, uint64_t p0,
                        uint32_t n, float *x, uint32_t *lost);
sigx_fn azs_tiled_sigx_for(azs_dtype t);

pre_fn azs_tiled_pre_for(azs_dtype t);   /* NULL: unsupported dtype */
sig_fn azs_tiled_sig_for(azs_dtype t);
group_fn azs_tiled_pick_group(int full);
/* kind: the matrix's choice (AZS_SIG_GATHER or AZS_SIG_LOADS), used where the CPU allows. */
sig_multi_fn azs_tiled_pick_sig_multi(int kind);

#endif
