/* Integration: a sparse matrix (CSR, bins × pixels, splitting weights) built once per
 * geometry and options, then one pass per frame that preprocesses each pixel and
 * accumulates per bin, as pyFAI's "ng" engines do (doc/design.md "integrate").
 *
 * An azs_integrator is read-only after creation and shared by every worker; each worker
 * owns an azs_workspace (scratch). azs_integrate_frame allocates nothing. */
#ifndef AZSTREAM_INTEGRATE_H
#define AZSTREAM_INTEGRATE_H

#include "azstream/export.h"

#include "azstream/codec.h"
#include "azstream/geometry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum azs_split { AZS_SPLIT_NO = 0, AZS_SPLIT_BBOX, AZS_SPLIT_FULL } azs_split;
typedef enum azs_error_model {
    AZS_ERRMODEL_NONE = 0, AZS_ERRMODEL_POISSON, AZS_ERRMODEL_AZIMUTHAL
} azs_error_model;

typedef struct azs_integrate_options {
    uint32_t npt;                  /* radial bins; default 1000 */
    uint32_t npt_azim;             /* 0 = 1D (default); > 0: 2D cake npt_azim × npt */
    azs_unit unit;                 /* default AZS_UNIT_Q_NM */
    azs_split split;               /* default AZS_SPLIT_BBOX */
    int has_radial_range;          /* default 0 */
    double radial_min, radial_max; /* in unit; NaN: that end automatic (half-open range) */
    int has_azimuth_range;         /* default 0 */
    double azimuth_min, azimuth_max; /* degrees, each end taken modulo 360° as pyFAI (the
                                      * upper + 360° when not above the lower); NaN:
                                      * that end automatic */
    int solid_angle;               /* default 1 */
    int has_polarization;          /* default 0 */
    double polarization_factor;    /* in [-1, 1] */
    double polarization_axis_offset; /* radians */
    int has_dummy;                 /* default 0 */
    double dummy, delta_dummy;     /* delta_dummy 0 = exact comparison */
    double normalization_factor;   /* default 1 */
    azs_error_model error_model;   /* default NONE */
    int chi_disc_at_0;             /* default 0: χ in [−180°, 180°); 1: [0°, 360°) (pyFAI's
                                    * setChiDiscAtZero) */
    double empty;                  /* intensity, sigma and std of a bin with no pixel
                                    * (Σ w·norm == 0); default 0 (pyFAI's ai.empty), used
                                    * as float32 as pyFAI does */
    int mask_detector_gaps;        /* default 1: the detector's module-gap mask applies when
                                    * no mask is given (0: no detector mask) */
    const uint8_t *mask;           /* [ny*nx], non-zero = masked; NULL = the detector's mask.
                                    * Replaces the detector's mask, as in pyFAI. Copied. */
    const float *dark;             /* [ny*nx] or NULL. Copied. A pixel whose dark is not
                                    * finite is left out, as if masked (pyFAI). */
    const float *flat;             /* [ny*nx] or NULL. Copied. A pixel whose flat is 0, not
                                    * finite, or a dummy (the dummy test above) is left out,
                                    * as if masked (pyFAI; it still counts for the automatic
                                    * range, as in pyFAI). */
} azs_integrate_options;

AZS_API void azs_integrate_options_default(azs_integrate_options *o);

typedef struct azs_integrator azs_integrator;
typedef struct azs_workspace azs_workspace;

AZS_API azs_status azs_integrator_create(const azs_geometry *g, const azs_integrate_options *o,
                                 azs_integrator **out);
AZS_API void azs_integrator_destroy(azs_integrator *it);

/* Number of output bins: npt (1D) or npt_azim * npt (2D, azimuth-major: [azim][radial]). */
AZS_API size_t azs_integrator_nbins(const azs_integrator *it);
/* Bin centres: radial[npt] in the unit, azimuthal[npt_azim] in degrees (NULL for 1D),
 * computed as pyFAI does (doc/integration.md). */
AZS_API const double *azs_integrator_radial(const azs_integrator *it);
AZS_API const double *azs_integrator_azimuthal(const azs_integrator *it);
AZS_API const azs_integrate_options *azs_integrator_options(const azs_integrator *it);
/* Bytes held by the sparse matrix (both forms: CSR for GPUs, tiled for the CPU engines) and
 * the per-pixel arrays. */
AZS_API size_t azs_integrator_memory(const azs_integrator *it);
/* Bytes the CPU engine reads per frame besides the pixels when frames_per_pass frames
 * share one pass over the matrix (layout 1's batches; 1 for one frame at a time): the floor
 * of memory traffic per frame, with the compressed chunk. Without an error model (the
 * intensity-only path) that is the tiled matrix and one byte per pixel, once per pass; else
 * the matrix and the per-pixel constants, once per frame. */
AZS_API size_t azs_integrator_stream_bytes(const azs_integrator *it, int frames_per_pass);

/* How each pixel of a frame is preprocessed, fixed per integrator (from its options). The
 * rule (pyFAI 2026.9's CSR "ng" engine, see doc/integration.md), for pixel p of a frame
 * `raw`:
 *   v = (float) raw[p]                    (every input type is converted to float32 first)
 *   skip the pixel (no contribution to any sum) if v is not finite, or if has_dummy and
 *        (delta_dummy == 0 ? v == dummy : |v - dummy| <= delta_dummy)   (float32)
 *   signal = v - dark[p]                  (float32; dark NULL → v)
 *   norm   = norm_factor[p]               (float32: flat · solid angle · polarization ·
 *                                          normalization_factor, multiplied in float32)
 *   variance (error model poisson) = max(v, 1), the raw counts before dark subtraction;
 *        in 2D (npt_azim > 0) with split no or bbox, pyFAI adds the dark: max(v, 1) + dark[p]
 *        (its full-split 2D path and its 1D paths do not): variance_dark; error model
 *        none: 0
 * and per bin b, over its entries (p, w), in double:
 *   Σ w·signal, Σ (w·w)·variance, Σ w·norm, Σ (w·norm)², Σ w   (error model none / poisson)
 * summed per tile of tile_px consecutive pixels, then per bin (the exact order, which makes
 * every engine give the same bits: src/integrate/pixel_rules.h); the azimuthal model's sums
 * are its one-pass update over the whole row (same file). */
typedef struct azs_pixel_rule {
    int has_dummy;
    float dummy, delta_dummy;     /* (float) of the options' values */
    azs_error_model error_model;
    int variance_dark;            /* poisson: add dark[p] to the variance (see above) */
    float empty;                  /* the value of empty bins (options' empty) */
} azs_pixel_rule;

/* The matrix, the per-pixel constants and the rule, for engines outside this module (GPU).
 * Pixels that are masked at build time have no entries; each row's entries are in
 * increasing pixel order; indices[] is followed by 64 zero entries (engines may read ahead
 * of a row end). */
typedef struct azs_csr_view {
    uint32_t nbins;
    uint64_t npixels;
    const uint64_t *indptr;   /* [nbins + 1] */
    const uint32_t *indices;  /* pixel index p = y * nx + x */
    const float *weights;     /* splitting fraction of pixel p in bin b */
    const float *norm_factor; /* [npixels]: solid angle · polarization · flat · normalization */
    const float *dark;        /* [npixels] or NULL */
    azs_pixel_rule rule;
    uint32_t tile_px;         /* pixels per tile of the summation order (see above) */
} azs_csr_view;

AZS_API azs_status azs_integrator_csr(const azs_integrator *it, azs_csr_view *view);

/* Which CPU kernel the intensity-only path of this integrator runs (chosen at run time;
 * every choice gives the same bits), for benchmark output. */
AZS_API const char *azs_integrator_kernel(const azs_integrator *it);

/* About nbins × 40 bytes + 320 KiB, plus room for the OpenMP engine's per-segment sums
 * (allocated, touched only if azs_integrate_frame_omp runs). */
AZS_API azs_status azs_workspace_create(const azs_integrator *it, azs_workspace **out);
AZS_API void azs_workspace_destroy(azs_workspace *ws);

/* Error model "azimuthal": the variance sums come from the spread of the pixel values
 * signal/norm around the bin's running mean, in pyFAI's one-pass weighted update
 * (azs_azim_update in src/integrate/pixel_rules.h, which the GPU engine runs too). */

/* Per-frame result. Arrays of nbins each; any may be NULL if not wanted. Bins with no
 * pixel (Σ w·norm == 0) give intensity, sigma and std the options' empty value (default 0,
 * as pyFAI's ai.empty); the raw sums are written as they are. sigma without an error model is 0. */
typedef struct azs_frame_result {
    double *intensity;   /* Σsig / Σnorm */
    double *sigma;       /* sem = √Σvar / Σnorm (error model set), else unused */
    double *std;         /* √(Σvar / Σnorm²) */
    double *sum_signal, *sum_variance, *sum_normalization, *sum_normalization2, *count;
} azs_frame_result;

/* Integrate one decoded frame of ny*nx pixels of `dtype` (any azs_dtype; 64-bit integers
 * are converted to float32 like the others, as pyFAI does). Single-threaded, allocation-free, deterministic. `ws` is
 * the caller's workspace (per-bin sums, one preprocessed tile); one workspace must not be
 * used by two threads at once. NULL is AZS_ERR_INVALID_ARG (except for the azimuthal error
 * model, which needs no scratch). */
AZS_API azs_status azs_integrate_frame(const azs_integrator *it, azs_workspace *ws, const void *pixels,
                               azs_dtype dtype, const azs_frame_result *out);
/* Decode one chunk of `codec` holding a whole frame and integrate it: the result of
 * azs_chunk_decode + azs_integrate_frame, bit for bit. Bitshuffle-LZ4 chunks with blocks of
 * up to 64 KiB (every Dectris file) are decoded a few blocks at a time and integrated while
 * those pixels are in cache, so the decoded frame is never written to memory; other codecs
 * (and the azimuthal error model) decode into frame_buf (ny*nx pixels of dtype) first.
 * A chunk that does not decode to exactly ny*nx pixels is AZS_ERR_SIZE_MISMATCH. */
AZS_API azs_status azs_integrate_chunk(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                               azs_dtype dtype, const void *chunk, size_t chunk_size,
                               void *frame_buf, const azs_frame_result *out);
/* Up to AZS_BATCH_MAX chunks integrated together, each with the result of
 * azs_integrate_chunk bit for bit. Where the matrix streaming dominates (intensity only:
 * no output that needs the variance, the count or Σnorm², bitshuffle-LZ4 chunks), the
 * matrix is read once for the whole batch instead of once per frame; otherwise the frames
 * are integrated one by one. status[j] is frame j's status; msgs (n × msg_len, or NULL)
 * gets each failed frame's message. Returns AZS_OK if every frame succeeded, else the
 * first failed frame's status (the other frames' results stand). frame_buf: as for
 * azs_integrate_chunk (used by the frames done one by one). */
#define AZS_BATCH_MAX 8
AZS_API azs_status azs_integrate_chunks(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                                azs_dtype dtype, int n, const void *const *chunks,
                                const size_t *chunk_sizes, void *frame_buf,
                                const azs_frame_result *out, azs_status *status, char *msgs,
                                size_t msg_len);
/* Many frames held in memory, integrated on nthreads threads (0 = one per online core,
 * never more than n; at most 256): frames[i] is frame i, decoded pixels of `dtype` (codec
 * AZS_CODEC_NONE; sizes may be NULL) or a compressed chunk of sizes[i] bytes (codec
 * AZS_CODEC_LZ4 or AZS_CODEC_BSLZ4), and out[i] gets its result, that of
 * azs_integrate_frame / azs_integrate_chunk bit for bit, whatever the thread count. The
 * integrator is shared (read-only); each thread makes its own workspace and frame buffer.
 * status[i] (or NULL) gets frame i's status; every frame is attempted. Returns AZS_OK if
 * every frame succeeded, else the status of the lowest-numbered failed frame, with its
 * detail ("frame 3 of 8: ..."). */
AZS_API azs_status azs_integrate_frames(const azs_integrator *it, int nthreads, azs_codec codec,
                                        azs_dtype dtype, size_t n, const void *const *frames,
                                        const size_t *sizes, const azs_frame_result *out,
                                        azs_status *status);
/* The same result bit for bit, bins spread over OpenMP threads (layout 0). */
AZS_API azs_status azs_integrate_frame_omp(const azs_integrator *it, azs_workspace *ws,
                                   const void *pixels, azs_dtype dtype,
                                   const azs_frame_result *out);

#ifdef __cplusplus
}
#endif
#endif
