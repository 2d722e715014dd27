/* The pixel-tiled engine (design note in tiled.h): the serial, fused-decode, batch and
 * OpenMP engines over the tiled matrix (tiled_build.c) with the per-tile kernels of
 * tiled_kernels.c. The per-pixel rules and the order of the sums are pixel_rules.h's.
 *
 * Per tile, the pixels are preprocessed into (signal, norm[, variance, valid]) and each
 * group's AZS_LANES segment sums are added to their bins. Segments are summed AZS_LANES at
 * a time, one per SIMD lane: the segments of a tile are sorted by length and stored in
 * groups of AZS_LANES, entry j of every lane side by side (padding entries have weight 0
 * and a pixel of the tile, so they add +0). Each lane's sums are plain sequential sums in
 * entry order, so the AVX2 kernel and the portable one give the same bits, on any machine,
 * for every engine, and so does the GPU engine, which sums the same segments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/clock.h"
#include "common/error.h"
#include "integrator_internal.h"
#include "tiled_kernels.h"

int azs_tiled_wants_full(const azs_tiled_ctx *c, const azs_frame_result *o)
{
    return o->std || o->sum_variance || o->sum_normalization2 || o->count ||
           (o->sigma && c->rule.error_model == AZS_ERRMODEL_POISSON);
}

static void finish(const azs_frame_result *out, uint32_t b, const double *s, int full, float empty)
{
    azs_bin_sums r = {s[0], full ? s[1] : 0.0, s[2], full ? s[3] : 0.0, full ? s[4] : 0.0};
    azs_store_bin(out, b, &r, empty);
}

/* Tile tt: preprocess its pixels (TPX points at the tile's first pixel), then hand each
 * group's lane sums (sum_[5 * AZS_LANES], group g_) to EMIT. */
#define TILE_LOOP(C, PRE, TPX, TT, TB, FULL, EMIT)                                             \
    do {                                                                                       \
        const azs_tiled *t_ = (C)->t;                                                          \
        const uint64_t p0_ = (uint64_t)(TT) * AZS_TILE_PX;                                     \
        const group_fn gf_ = azs_tiled_pick_group(FULL);                                                 \
        (PRE)((C), (TPX), p0_, tile_pixels((C), (TT)), (TB), (FULL));                          \
        for (uint64_t g_ = t_->tile_grp[TT]; g_ < t_->tile_grp[(TT) + 1]; g_++) {              \
            double sum_[5 * AZS_LANES];                                                        \
            gf_(t_->local, t_->weight, t_->grp_row[g_], t_->grp_row[g_ + 1], (TB), sum_);      \
            EMIT;                                                                              \
        }                                                                                      \
    } while (0)

static uint32_t tile_pixels(const azs_tiled_ctx *c, uint64_t tt)
{
    const uint64_t left = c->npix - tt * AZS_TILE_PX;
    return (uint32_t)(left < AZS_TILE_PX ? left : AZS_TILE_PX);
}

/* The intensity-only path for tile tt if every used pixel is kept in this frame: hands
 * each group's signal sums (sig_[AZS_LANES]) and stored norm sums (nrm_, AZS_LANES
 * doubles) to EMIT and evaluates to 1; else 0, and the tile still needs the general path. */
#define STATIC_TILE(C, SIG, TPX, TT, TB, EMIT)                                                 \
    __extension__({                                                                            \
        const azs_tiled *ts_ = (C)->t;                                                         \
        const uint64_t q0_ = (uint64_t)(TT) * AZS_TILE_PX;                                     \
        const int ok_ = (SIG)((C), (TPX), q0_, tile_pixels((C), (TT)), (TB)) == 0;             \
        if (ok_) {                                                                             \
            const sig_multi_fn sf_ = azs_tiled_pick_sig_multi(ts_->sig_kernel);                          \
            const float *sp_ = (TB)->sig;                                                      \
            for (uint64_t g_ = ts_->tile_grp[TT]; g_ < ts_->tile_grp[(TT) + 1]; g_++) {        \
                double sig_[AZS_LANES];                                                        \
                const double *nrm_ = ts_->norm_lane + g_ * AZS_LANES;                          \
                sf_(ts_->local, ts_->weight, ts_->grp_row[g_], ts_->grp_row[g_ + 1], &sp_, 1,  \
                    sig_);                                                                     \
                EMIT;                                                                          \
            }                                                                                  \
        }                                                                                      \
        ok_;                                                                                   \
    })

static void general_tile(const azs_tiled_ctx *c, pre_fn pre, const void *tpx, uint32_t tt,
                         double *acc, tile_buf *tb, int full);

/* The serial engine's per-tile step: add the tile's lane sums to their bins. */
static void serial_tile(const azs_tiled_ctx *c, pre_fn pre, sig_fn sig, const void *tpx,
                        uint32_t tt, double *acc, tile_buf *tb, int full)
{
    if (!full && STATIC_TILE(c, sig, tpx, tt, tb, {
            for (int l_ = 0; l_ < AZS_LANES; l_++) {
                const uint32_t b_ = ts_->seg_bin[g_ * AZS_LANES + l_];
                if (b_ == UINT32_MAX) continue;
                double *a_ = acc + (size_t)b_ * 5;
                a_[0] += sig_[l_];
                a_[2] += nrm_[l_];
            }
        }))
        return;
    general_tile(c, pre, tpx, tt, acc, tb, full);
}

/* The general path of one tile: preprocess (signal, norm[, variance, valid]) and sum. */
static void general_tile(const azs_tiled_ctx *c, pre_fn pre, const void *tpx, uint32_t tt,
                         double *acc, tile_buf *tb, int full)
{
    const azs_tiled *t = c->t;
    if (full)
        TILE_LOOP(c, pre, tpx, tt, tb, 1, {
            for (int l_ = 0; l_ < AZS_LANES; l_++) {
                const uint32_t b_ = t->seg_bin[g_ * AZS_LANES + l_];
                if (b_ == UINT32_MAX) continue;
                double *a_ = acc + (size_t)b_ * 5;
                for (int q_ = 0; q_ < 5; q_++) a_[q_] += sum_[q_ * AZS_LANES + l_];
            }
        });
    else
        TILE_LOOP(c, pre, tpx, tt, tb, 0, {
            for (int l_ = 0; l_ < AZS_LANES; l_++) {
                const uint32_t b_ = t->seg_bin[g_ * AZS_LANES + l_];
                if (b_ == UINT32_MAX) continue;
                double *a_ = acc + (size_t)b_ * 5;
                a_[0] += sum_[l_];
                a_[2] += sum_[2 * AZS_LANES + l_];
            }
        });
}

static void serial_finish(const azs_tiled_ctx *c, const azs_frame_result *out, const double *acc,
                          int full)
{
    for (uint32_t b = 0; b < c->nbins; b++) finish(out, b, acc + (size_t)b * 5, full, c->rule.empty);
}

size_t azs_tiled_buffer_bytes(void) { return sizeof(tile_buf); }

azs_status azs_tiled_frame(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer)
{
    pre_fn pre = azs_tiled_pre_for(dtype);
    sig_fn sig = azs_tiled_sig_for(dtype);
    if (!pre || !sig)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const int full = azs_tiled_wants_full(c, out);
    const size_t es = azs_dtype_size(dtype);
    memset(acc, 0, (size_t)c->nbins * 5 * sizeof(double));
    for (uint32_t tt = 0; tt < c->t->ntiles; tt++)
        serial_tile(c, pre, sig, (const char *)px + (size_t)tt * AZS_TILE_PX * es, tt, acc,
                    tile_buffer, full);
    serial_finish(c, out, acc, full);
    return AZS_OK;
}

size_t azs_tiled_stage_bytes(void) { return AZS_TILE_PX * 8 + AZS_FUSED_MAX_BLOCK; }

size_t azs_tiled_xbuf_bytes(void) { return (size_t)AZS_TILE_PX * AZS_X8 * sizeof(float); }

/* Decode blocks into stage until it holds the `need` pixels of tile tt (*have: elements
 * already there). */
static azs_status fill_stage(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, unsigned char *stage,
                             size_t *have, uint32_t need, uint32_t tt, void *scratch)
{
    const size_t es = bl->elem_size, cap = azs_tiled_stage_bytes();
    while (*have < need) {
        size_t got = 0;
        azs_status st =
            azs_bslz4_blocks_next(bl, stage + *have * es, cap - *have * es, scratch, &got);
        if (st != AZS_OK) return st;
        if (got == 0)
            return azs_fail(AZS_ERR_TRUNCATED, "integrate: chunk ends after %zu of %llu pixels",
                            (size_t)tt * AZS_TILE_PX + *have, (unsigned long long)c->npix);
        *have += got;
    }
    return AZS_OK;
}

azs_status azs_tiled_chunk(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer,
                           void *stage_, void *scratch)
{
    pre_fn pre = azs_tiled_pre_for(dtype);
    sig_fn sig = azs_tiled_sig_for(dtype);
    if (!pre || !sig)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const size_t es = azs_dtype_size(dtype);
    if (bl->elem_size != es || bl->n != c->npix || bl->max_block_bytes > AZS_FUSED_MAX_BLOCK)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: chunk of %zu x %zu-byte elements "
                        "(blocks of %zu bytes) for %llu pixels of %zu bytes", bl->n, bl->elem_size,
                        bl->max_block_bytes, (unsigned long long)c->npix, es);
    const int full = azs_tiled_wants_full(c, out);
    unsigned char *stage = stage_;
    size_t have = 0; /* decoded elements waiting in stage */
    memset(acc, 0, (size_t)c->nbins * 5 * sizeof(double));
    for (uint32_t tt = 0; tt < c->t->ntiles; tt++) {
        const uint32_t need = tile_pixels(c, tt);
        azs_status st = fill_stage(c, bl, stage, &have, need, tt, scratch);
        if (st != AZS_OK) return st;
        serial_tile(c, pre, sig, stage, tt, acc, tile_buffer, full);
        memmove(stage, stage + (size_t)need * es, (have - need) * es);
        have -= need;
    }
    serial_finish(c, out, acc, full);
    return AZS_OK;
}

/* The matrix rows of tile tt applied to the ns frames whose signals are in sigs (frame k's
 * sums added to acc[who[k]]): frame-interleaved (tiled_x8.c) where the CPU and the batch
 * allow, else the frame-major kernel, AZS_SIG_MULTI_MAX frames per pass. */
/* The rows of tile tt over x (frame-interleaved signals, tiled_x8.c): frame who[k]'s sums,
 * column col[k] of x, added to acc[who[k]]. */
static void x8_rows(const azs_tiled_ctx *c, uint32_t tt, const float *x, sig_x8_fn x8,
                    const int *col, const int *who, int ns, double *const *acc)
{
    const azs_tiled *t = c->t;
    for (uint64_t g = t->tile_grp[tt]; g < t->tile_grp[tt + 1]; g++) {
        _Alignas(64) double sum[AZS_LANES * AZS_X8];
        x8(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], x, sum);
        const double *nrm = t->norm_lane + g * AZS_LANES;
        for (int l = 0; l < AZS_LANES; l++) {
            const uint32_t b = t->seg_bin[g * AZS_LANES + l];
            if (b == UINT32_MAX) continue;
            for (int k = 0; k < ns; k++) {
                double *a = acc[who[k]] + (size_t)b * 5;
                a[0] += sum[l * AZS_X8 + col[k]];
                a[2] += nrm[l];
            }
        }
    }
}

static void batch_rows(const azs_tiled_ctx *c, uint32_t tt, const float *const *sigs,
                       const int *who, int ns, double *const *acc, float *x)
{
    const azs_tiled *t = c->t;
    xpose_fn xp;
    sig_x8_fn x8;
    if (x && ns >= AZS_X8_MIN_FRAMES && azs_tiled_pick_x8(&xp, &x8)) {
        static const int col[AZS_X8] = {0, 1, 2, 3, 4, 5, 6, 7};
        xp(sigs, ns, tile_pixels(c, tt), x);
        x8_rows(c, tt, x, x8, col, who, ns, acc);
        return;
    }
    const sig_multi_fn mf = azs_tiled_pick_sig_multi(t->sig_kernel);
    for (int k0 = 0; k0 < ns; k0 += AZS_SIG_MULTI_MAX) {
        const int nk = ns - k0 < AZS_SIG_MULTI_MAX ? ns - k0 : AZS_SIG_MULTI_MAX;
        for (uint64_t g = t->tile_grp[tt]; g < t->tile_grp[tt + 1]; g++) {
            double sum[AZS_SIG_MULTI_MAX * AZS_LANES];
            mf(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], sigs + k0, nk, sum);
            const double *nrm = t->norm_lane + g * AZS_LANES;
            for (int l = 0; l < AZS_LANES; l++) {
                const uint32_t b = t->seg_bin[g * AZS_LANES + l];
                if (b == UINT32_MAX) continue;
                for (int k = 0; k < nk; k++) {
                    double *a = acc[who[k0 + k]] + (size_t)b * 5;
                    a[0] += sum[k * AZS_LANES + l];
                    a[2] += nrm[l];
                }
            }
        }
    }
}

azs_status azs_tiled_chunks(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, int n, azs_dtype dtype,
                            const azs_frame_result *out, double *const *acc,
                            void *const *tile_buffer, void *const *stage_, void *scratch,
                            void *xbuf, azs_status *status, char *msgs, size_t msg_len)
{
    pre_fn pre = azs_tiled_pre_for(dtype);
    sig_fn sig = azs_tiled_sig_for(dtype);
    const azs_tiled *t = c->t;
    const size_t es = azs_dtype_size(dtype);
    size_t have[AZS_BATCH_MAX] = {0};
    int live = 0;
    if (n < 1 || n > AZS_BATCH_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: batch of %d frames (1 to %d)", n,
                        AZS_BATCH_MAX);
    if (!pre || !sig)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    for (int j = 0; j < n; j++) {
        status[j] = AZS_OK;
        if (azs_tiled_wants_full(c, &out[j]))
            return azs_fail(AZS_ERR_INVALID_ARG, "integrate: batches compute intensity only");
        if (bl[j].elem_size != es || bl[j].n != c->npix ||
            bl[j].max_block_bytes > AZS_FUSED_MAX_BLOCK)
            return azs_fail(AZS_ERR_INVALID_ARG, "integrate: batch frame %d: chunk of %zu x "
                            "%zu-byte elements for %llu pixels of %zu bytes", j, bl[j].n,
                            bl[j].elem_size, (unsigned long long)c->npix, es);
        memset(acc[j], 0, (size_t)c->nbins * 5 * sizeof(double));
        live |= 1 << j;
    }
    /* uint32 on AVX-512: decoded pixels straight into the interleaved signals */
    xpose_fn xp;
    sig_x8_fn x8 = NULL;
    const sigx_fn sx = xbuf && azs_tiled_pick_x8(&xp, &x8) ? azs_tiled_sigx_for(dtype) : NULL;
    for (uint32_t tt = 0; tt < t->ntiles && live; tt++) {
        const uint32_t need = tile_pixels(c, tt);
        const void *lp[AZS_BATCH_MAX]; /* the tile's pixels of each live frame */
        int lj[AZS_BATCH_MAX], nl = 0;
        const float *sigs[AZS_BATCH_MAX];
        int who[AZS_BATCH_MAX], col[AZS_BATCH_MAX], ns = 0;
        const int interleave = sx && __builtin_popcount((unsigned)live) >= AZS_X8_MIN_FRAMES;
        for (int j = 0; j < n; j++) {
            if (!(live >> j & 1)) continue;
            unsigned char *stage = stage_[j];
            const azs_status st = fill_stage(c, &bl[j], stage, &have[j], need, tt, scratch);
            if (st != AZS_OK) {
                /* This frame stops here; the others go on. */
                status[j] = st;
                if (msgs) snprintf(msgs + (size_t)j * msg_len, msg_len, "%s", azs_last_error());
                live &= ~(1 << j);
                continue;
            }
            if (!interleave) { /* preprocessed while its decoded pixels are in L1 */
                tile_buf *tb = tile_buffer[j];
                if (sig(c, stage, (uint64_t)tt * AZS_TILE_PX, need, tb) == 0) {
                    sigs[ns] = tb->sig;
                    who[ns++] = j;
                } else {
                    general_tile(c, pre, stage, tt, acc[j], tb, 0);
                }
                continue;
            }
            lp[nl] = stage;
            lj[nl++] = j;
        }
        if (interleave && nl) {
            uint32_t lost[AZS_X8];
            sx(c, lp, nl, (uint64_t)tt * AZS_TILE_PX, need, xbuf, lost);
            for (int k = 0; k < nl; k++) {
                if (lost[k]) {
                    general_tile(c, pre, lp[k], tt, acc[lj[k]], tile_buffer[lj[k]], 0);
                    continue;
                }
                col[ns] = k;
                who[ns++] = lj[k];
            }
            if (ns) x8_rows(c, tt, xbuf, x8, col, who, ns, acc);
        } else if (ns) {
            batch_rows(c, tt, sigs, who, ns, acc, xbuf);
        }
        for (int j = 0; j < n; j++) {
            if (!(live >> j & 1)) continue;
            unsigned char *stage = stage_[j];
            memmove(stage, stage + (size_t)need * es, (have[j] - need) * es);
            have[j] -= need;
        }
    }
    for (int j = 0; j < n; j++)
        if (live >> j & 1) serial_finish(c, &out[j], acc[j], 0);
    return AZS_OK;
}

azs_status azs_tiled_frame_omp(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                               const azs_frame_result *out, double *scratch)
{
    pre_fn pre = azs_tiled_pre_for(dtype);
    sig_fn sig = azs_tiled_sig_for(dtype);
    if (!pre || !sig)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const int full = azs_tiled_wants_full(c, out);
    const size_t es = azs_dtype_size(dtype);
    const azs_tiled *t = c->t;
    const int64_t nt = t->ntiles, nb = c->nbins;
#pragma omp parallel
    {
        /* 128 KiB on each OpenMP thread's stack (their default stacks are megabytes). */
        tile_buf tile __attribute__((aligned(64)));
        tile_buf *tb = &tile;
#pragma omp for schedule(dynamic, 4)
        for (int64_t tt = 0; tt < nt; tt++) {
            const char *tpx = (const char *)px + (size_t)tt * AZS_TILE_PX * es;
            if (!full && STATIC_TILE(c, sig, tpx, tt, tb, {
                    for (int l_ = 0; l_ < AZS_LANES; l_++) {
                        scratch[(g_ * AZS_LANES + l_) * 5] = sig_[l_];
                        scratch[(g_ * AZS_LANES + l_) * 5 + 2] = nrm_[l_];
                    }
                }))
                continue;
            if (full)
                TILE_LOOP(c, pre, tpx, tt, tb, 1, {
                    for (int l_ = 0; l_ < AZS_LANES; l_++)
                        for (int q_ = 0; q_ < 5; q_++)
                            scratch[(g_ * AZS_LANES + l_) * 5 + q_] = sum_[q_ * AZS_LANES + l_];
                });
            else
                TILE_LOOP(c, pre, tpx, tt, tb, 0, {
                    for (int l_ = 0; l_ < AZS_LANES; l_++) {
                        scratch[(g_ * AZS_LANES + l_) * 5] = sum_[l_];
                        scratch[(g_ * AZS_LANES + l_) * 5 + 2] = sum_[2 * AZS_LANES + l_];
                    }
                });
        }
        /* Per bin, its lanes in the serial engine's order, added to +0.0 as it does. */
#pragma omp for schedule(static, 64)
        for (int64_t b = 0; b < nb; b++) {
            double a[5] = {0, 0, 0, 0, 0};
            for (uint64_t j = t->bin_ptr[b]; j < t->bin_ptr[b + 1]; j++) {
                const double *s = scratch + (size_t)t->bin_seg[j] * 5;
                a[0] += s[0];
                a[2] += s[2];
                if (full) { a[1] += s[1]; a[3] += s[3]; a[4] += s[4]; }
            }
            finish(out, (uint32_t)b, a, full, c->rule.empty);
        }
    }
    return AZS_OK;
}

/* Time the gather and scalar-load kernels on a few tiles, 4 frames at a time as layout 1
 * runs them, and keep the faster (best of 5 interleaved trials each; about a millisecond).
 * Both give the same bits, so the choice changes only the speed. */
static void choose_sig_kernel(azs_tiled *t, tile_buf *tb)
{
    t->sig_kernel = AZS_SIG_GATHER;
    if (azs_tiled_pick_sig_multi(AZS_SIG_GATHER) == azs_tiled_pick_sig_multi(AZS_SIG_LOADS) || t->ntiles == 0) return;
    for (uint32_t i = 0; i < AZS_TILE_PX; i++) tb->sig[i] = (float)(i & 1023);
    const float *sigs[AZS_SIG_MULTI_MAX] = {tb->sig, tb->sig, tb->sig, tb->sig};
    const uint32_t t0 = t->ntiles / 2, t1 = t0 + 8 < t->ntiles ? t0 + 8 : t->ntiles;
    double best[2] = {1e30, 1e30}, sink = 0;
    for (int trial = 0; trial < 5; trial++)
        for (int k = 0; k < 2; k++) {
            const sig_multi_fn f = azs_tiled_pick_sig_multi(k ? AZS_SIG_LOADS : AZS_SIG_GATHER);
            const double s0 = azs_now_seconds();
            for (uint32_t tt = t0; tt < t1; tt++)
                for (uint64_t g = t->tile_grp[tt]; g < t->tile_grp[tt + 1]; g++) {
                    double sum[AZS_SIG_MULTI_MAX * AZS_LANES];
                    f(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], sigs, AZS_SIG_MULTI_MAX,
                      sum);
                    sink += sum[0];
                }
            const double dt = azs_now_seconds() - s0;
            if (dt < best[k]) best[k] = dt;
        }
    if (best[1] < best[0] && sink == sink) t->sig_kernel = AZS_SIG_LOADS;
}

void azs_tiled_force_sig_kernel(azs_tiled *t, int kind) { t->sig_kernel = kind; }

azs_status azs_tiled_choose_sig_kernel(azs_tiled *t)
{
    tile_buf *tb = azs_aligned_alloc(sizeof *tb);
    if (!tb) return azs_fail(AZS_ERR_NOMEM, "integrate: tile buffer");
    choose_sig_kernel(t, tb);
    azs_aligned_free(tb);
    return AZS_OK;
}

azs_status azs_tiled_set_norm(azs_tiled *t, const azs_tiled_ctx *c)
{
    if (c->t != t) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: context of another matrix");
    tile_buf *tb = azs_aligned_alloc(sizeof *tb);
    if (!tb) return azs_fail(AZS_ERR_NOMEM, "integrate: tile buffer");
    const group_fn gf = azs_tiled_pick_group(0);
    for (uint32_t tt = 0; tt < t->ntiles; tt++) {
        /* What the preprocessing writes when every pixel of the tile is kept. */
        const uint64_t p0 = (uint64_t)tt * AZS_TILE_PX;
        const uint32_t n = tile_pixels(c, tt);
        for (uint32_t i = 0; i < n; i++) {
            tb->sn[2 * i] = 0.0f;
            tb->sn[2 * i + 1] = c->norm[p0 + i];
        }
        for (uint64_t g = t->tile_grp[tt]; g < t->tile_grp[tt + 1]; g++) {
            double sum[5 * AZS_LANES];
            gf(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], tb, sum);
            memcpy(t->norm_lane + g * AZS_LANES, sum + 2 * AZS_LANES, AZS_LANES * sizeof(double));
        }
    }
    choose_sig_kernel(t, tb);
    azs_aligned_free(tb);
    return AZS_OK;
}

uint32_t azs_tiled_static_tiles(const azs_tiled_ctx *c, const void *px, azs_dtype dtype)
{
    sig_fn sig = azs_tiled_sig_for(dtype);
    if (!sig) return 0;
    tile_buf *tb = azs_aligned_alloc(sizeof *tb);
    if (!tb) return 0;
    const size_t es = azs_dtype_size(dtype);
    uint32_t k = 0;
    for (uint32_t tt = 0; tt < c->t->ntiles; tt++)
        k += sig(c, (const char *)px + (size_t)tt * AZS_TILE_PX * es, (uint64_t)tt * AZS_TILE_PX,
                 tile_pixels(c, tt), tb) == 0;
    azs_aligned_free(tb);
    return k;
}
