/* The pixel-tiled engine (design note in tiled.h; the preprocessing rules are the ones of
 * integrator.c's header comment).
 *
 * Per pixel of a tile, preprocessing writes (signal, norm) and, when the variance or the
 * count is wanted, (variance, valid); a pixel that is skipped (not finite, dummy) gets zeros
 * everywhere, which adds exactly nothing to any sum (the sums start at +0.0 and w ≥ 0), so
 * the result equals skipping it. Per entry (local pixel i, weight w), in double:
 *   Σsig += w·signal_i   Σnorm += w·norm_i   Σnorm² += (w·norm_i)²   Σvar += w²·variance_i
 *   Σcount += w·valid_i
 * A segment is summed with two partial sums per quantity (even / odd entries, then added),
 * which halves the floating-point add chain; every engine uses this same kernel. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
#include "integrator_internal.h"
#include "tiled.h"

void azs_tiled_free(azs_tiled *t)
{
    if (!t) return;
    free(t->tile_seg);
    free(t->seg_bin);
    free(t->seg_ptr);
    azs_aligned_free(t->local);
    azs_aligned_free(t->weight);
    free(t->bin_ptr);
    free(t->bin_seg);
    memset(t, 0, sizeof *t);
}

size_t azs_tiled_memory(const azs_tiled *t, uint32_t nbins)
{
    return ((size_t)t->ntiles + 1) * 8 + (size_t)t->nseg * (4 + 8 + 4) + 8 +
           ((size_t)nbins + 1) * 8 + (size_t)t->seg_ptr[t->nseg] * (2 + 4);
}

size_t azs_tiled_scratch_bytes(const azs_tiled *t) { return ((size_t)t->nseg + 1) * 5 * sizeof(double); }

azs_status azs_tiled_build(const azs_csr *m, uint64_t npix, azs_tiled *t)
{
    memset(t, 0, sizeof *t);
    const uint64_t nt64 = (npix + AZS_TILE_PX - 1) / AZS_TILE_PX;
    if (nt64 > UINT32_MAX) return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: %llu pixels", (unsigned long long)npix);
    const uint32_t nt = (uint32_t)(nt64 ? nt64 : 1);
    uint64_t *seg_cnt = calloc((size_t)nt + 1, sizeof *seg_cnt);
    uint64_t *ent_cnt = calloc((size_t)nt + 1, sizeof *ent_cnt);
    azs_status st = AZS_OK;
    if (!seg_cnt || !ent_cnt) { st = azs_fail(AZS_ERR_NOMEM, "integrate: tile counts"); goto done; }
    /* Pass 1: segments and entries per tile. A segment is a run of a row's entries in one
     * tile (rows are sorted by pixel in practice, so one segment per (bin, tile)). */
    uint64_t nseg = 0;
    for (uint32_t b = 0; b < m->nbins; b++) {
        uint32_t prev = UINT32_MAX;
        for (uint64_t k = m->indptr[b]; k < m->indptr[b + 1]; k++) {
            uint32_t tt = m->indices[k] / AZS_TILE_PX;
            if (tt != prev) { seg_cnt[tt]++; nseg++; prev = tt; }
            ent_cnt[tt]++;
        }
    }
    if (nseg >= UINT32_MAX) { st = azs_fail(AZS_ERR_UNSUPPORTED, "integrate: %llu segments", (unsigned long long)nseg); goto done; }
    const uint64_t nnz = m->nnz;
    t->ntiles = nt;
    t->nseg = nseg;
    t->tile_seg = malloc(((size_t)nt + 1) * sizeof *t->tile_seg);
    t->seg_bin = malloc((nseg ? nseg : 1) * sizeof *t->seg_bin);
    t->seg_ptr = malloc((nseg + 1) * sizeof *t->seg_ptr);
    t->local = azs_aligned_alloc((nnz ? nnz : 1) * sizeof *t->local);
    t->weight = azs_aligned_alloc((nnz ? nnz : 1) * sizeof *t->weight);
    t->bin_ptr = calloc((size_t)m->nbins + 1, sizeof *t->bin_ptr);
    t->bin_seg = malloc((nseg ? nseg : 1) * sizeof *t->bin_seg);
    if (!t->tile_seg || !t->seg_bin || !t->seg_ptr || !t->local || !t->weight || !t->bin_ptr || !t->bin_seg) {
        st = azs_fail(AZS_ERR_NOMEM, "integrate: tiled matrix (%llu entries)", (unsigned long long)nnz);
        goto done;
    }
    /* Prefix sums: seg_cnt / ent_cnt become the next free slot of each tile. */
    uint64_t s_acc = 0, e_acc = 0;
    for (uint32_t tt = 0; tt < nt; tt++) {
        uint64_t s = seg_cnt[tt], e = ent_cnt[tt];
        t->tile_seg[tt] = s_acc;
        seg_cnt[tt] = s_acc;
        ent_cnt[tt] = e_acc;
        s_acc += s;
        e_acc += e;
    }
    t->tile_seg[nt] = s_acc;
    /* Pass 2: place the entries; segments of a tile come out in bin order. */
    for (uint32_t b = 0; b < m->nbins; b++) {
        uint32_t prev = UINT32_MAX;
        for (uint64_t k = m->indptr[b]; k < m->indptr[b + 1]; k++) {
            uint32_t p = m->indices[k], tt = p / AZS_TILE_PX;
            if (tt != prev) {
                uint64_t s = seg_cnt[tt]++;
                t->seg_bin[s] = b;
                t->seg_ptr[s] = ent_cnt[tt];
                t->bin_ptr[b + 1]++;
                prev = tt;
            }
            uint64_t e = ent_cnt[tt]++;
            t->local[e] = (uint16_t)(p % AZS_TILE_PX);
            t->weight[e] = m->weights[k];
        }
    }
    t->seg_ptr[nseg] = nnz;
    /* Segments of each bin in tile order (the order the serial engine adds them in). */
    for (uint32_t b = 0; b < m->nbins; b++) t->bin_ptr[b + 1] += t->bin_ptr[b];
    free(seg_cnt);
    seg_cnt = malloc(((size_t)m->nbins + 1) * sizeof *seg_cnt);
    if (!seg_cnt) { st = azs_fail(AZS_ERR_NOMEM, "integrate: bin segment lists"); goto done; }
    memcpy(seg_cnt, t->bin_ptr, ((size_t)m->nbins + 1) * sizeof *seg_cnt);
    for (uint64_t s = 0; s < nseg; s++) t->bin_seg[seg_cnt[t->seg_bin[s]]++] = (uint32_t)s;
done:
    free(seg_cnt);
    free(ent_cnt);
    if (st != AZS_OK) azs_tiled_free(t);
    return st;
}

/* ---- engine ---------------------------------------------------------------------------- */

/* Preprocess pixels [p0, p0+n) of the frame (px points at pixel p0) into b->sg (signal), b->nm (norm) and, if
 * full, b->vr (variance), b->ok (1 valid, 0 skipped). One instantiation per dtype; the
 * branches on dark / dummy / full are hoisted out of the pixel loop so that the compiler
 * vectorises each variant. */
typedef struct tile_buf {
    float sg[AZS_TILE_PX], nm[AZS_TILE_PX], vr[AZS_TILE_PX], ok[AZS_TILE_PX];
} tile_buf;

/* Branch-free selects on the bits (m is all ones or all zeros): SSE2 has no blend, and GCC
 * does not vectorise a float `c ? x : 0` without one; it does vectorise these. */
static inline float keep(float x, uint32_t m)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= m;
    memcpy(&x, &u, sizeof x);
    return x;
}

static inline float pick(uint32_t m, float x, float y) { return keep(x, m) + keep(y, ~m); }

static inline __attribute__((always_inline)) uint32_t pixel_ok(float v, int dummy_mode, float dv,
                                                               float dd)
{
    uint32_t ok = fabsf(v) <= FLT_MAX; /* false for NaN and ±inf */
    if (dummy_mode == 1) ok &= v != dv;
    if (dummy_mode == 2) ok &= !(fabsf(v - dv) <= dd);
    return -ok;
}

/* (float) of a uint32 as two exact int32 conversions and one rounded add: the same value
 * as the plain cast, in instructions SSE2/AVX2 have (they lack an unsigned convert). */
static inline float u32_to_float(uint32_t x)
{
    return (float)(int32_t)(x >> 16) * 65536.0f + (float)(int32_t)(x & 0xFFFFu);
}
#define AZS_TO_FLOAT(x) _Generic((x), uint32_t: u32_to_float((uint32_t)(x)), default: (float)(x))

#define AZS_PRE_LOOP(T, DK, DUMMY, FULL)                                                       \
    for (uint32_t i = 0; i < n; i++) {                                                         \
        const float v = AZS_TO_FLOAT(px[i]);                                                   \
        const uint32_t ok = pixel_ok(v, DUMMY, dv, dd);                                        \
        const float d = DK ? dk[i] : 0.0f;                                                     \
        b->sg[i] = keep(DK ? v - d : v, ok);                                                   \
        b->nm[i] = keep(nf[i], ok);                                                            \
        if (FULL) {                                                                            \
            float vr = pick(-(uint32_t)(v > 1.0f), v, 1.0f);                                   \
            if (DK && pdark) vr += d;                                                          \
            b->vr[i] = keep(vr, ok & pois);                                                    \
            b->ok[i] = keep(1.0f, ok);                                                         \
        }                                                                                      \
    }

#define AZS_PRE_DUMMY(T, DK, FULL)                                                             \
    do {                                                                                       \
        if (!c->has_dummy) AZS_PRE_LOOP(T, DK, 0, FULL)                                        \
        else if (dd == 0.0f) AZS_PRE_LOOP(T, DK, 1, FULL)                                      \
        else AZS_PRE_LOOP(T, DK, 2, FULL)                                                      \
    } while (0)

#define AZS_PRE(NAME, T)                                                                       \
    static void NAME(const azs_tiled_ctx *restrict c, const T *restrict px, uint64_t p0,      \
                     uint32_t n, tile_buf *restrict b, int full)                               \
    {                                                                                          \
        const float *restrict nf = c->norm + p0;                                               \
        const float *restrict dk = c->dark ? c->dark + p0 : NULL;                              \
        const float dv = c->dummy, dd = c->delta_dummy;                                        \
        const int pdark = c->poisson_dark;                                                     \
        const uint32_t pois = c->poisson ? ~0u : 0u;                                           \
        if (dk) {                                                                              \
            if (full) AZS_PRE_DUMMY(T, 1, 1);                                                  \
            else AZS_PRE_DUMMY(T, 1, 0);                                                       \
        } else {                                                                               \
            if (full) AZS_PRE_DUMMY(T, 0, 1);                                                  \
            else AZS_PRE_DUMMY(T, 0, 0);                                                       \
        }                                                                                      \
    }
AZS_PRE(pre_u8, uint8_t)
AZS_PRE(pre_u16, uint16_t)
AZS_PRE(pre_u32, uint32_t)
AZS_PRE(pre_i8, int8_t)
AZS_PRE(pre_i16, int16_t)
AZS_PRE(pre_i32, int32_t)
AZS_PRE(pre_f32, float)
AZS_PRE(pre_f64, double)

typedef void (*pre_fn)(const azs_tiled_ctx *, const void *, uint64_t, uint32_t, tile_buf *, int);

static pre_fn pre_for(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return (pre_fn)pre_u8;
    case AZS_U16: return (pre_fn)pre_u16;
    case AZS_U32: return (pre_fn)pre_u32;
    case AZS_I8: return (pre_fn)pre_i8;
    case AZS_I16: return (pre_fn)pre_i16;
    case AZS_I32: return (pre_fn)pre_i32;
    case AZS_F32: return (pre_fn)pre_f32;
    case AZS_F64: return (pre_fn)pre_f64;
    default: return NULL;
    }
}

/* Sum of one segment into s[0..4] = sig, var, norm, norm², count. full = 0 computes only
 * sig and norm (what intensity needs); their values are the same either way. */
static inline __attribute__((always_inline)) void
seg_sum_body(const uint16_t *restrict li, const float *restrict wt, uint64_t a, uint64_t e,
             const tile_buf *restrict tb, int full, double *restrict s)
{
    double sg0 = 0, sg1 = 0, n0 = 0, n1 = 0, v0 = 0, v1 = 0, q0 = 0, q1 = 0, c0 = 0, c1 = 0;
    uint64_t k = a;
    for (; k + 1 < e; k += 2) {
        const uint32_t i = li[k], j = li[k + 1];
        const double w = wt[k], x = wt[k + 1];
        const double wn = w * (double)tb->nm[i], xn = x * (double)tb->nm[j];
        sg0 += w * (double)tb->sg[i];
        sg1 += x * (double)tb->sg[j];
        n0 += wn;
        n1 += xn;
        if (full) {
            q0 += wn * wn;
            q1 += xn * xn;
            v0 += w * w * (double)tb->vr[i];
            v1 += x * x * (double)tb->vr[j];
            c0 += w * (double)tb->ok[i];
            c1 += x * (double)tb->ok[j];
        }
    }
    if (k < e) {
        const uint32_t i = li[k];
        const double w = wt[k], wn = w * (double)tb->nm[i];
        sg0 += w * (double)tb->sg[i];
        n0 += wn;
        if (full) {
            q0 += wn * wn;
            v0 += w * w * (double)tb->vr[i];
            c0 += w * (double)tb->ok[i];
        }
    }
    s[0] = sg0 + sg1;
    s[2] = n0 + n1;
    if (full) {
        s[1] = v0 + v1;
        s[3] = q0 + q1;
        s[4] = c0 + c1;
    }
}

/* Two out-of-line instances: every engine runs the very same machine code per segment, so
 * no inlining context can change the rounding (e.g. by contracting into FMAs). */
static __attribute__((noinline)) void seg_sum_full(const uint16_t *li, const float *wt, uint64_t a,
                                                   uint64_t e, const tile_buf *tb, double *s)
{
    seg_sum_body(li, wt, a, e, tb, 1, s);
}

static __attribute__((noinline)) void seg_sum_fast(const uint16_t *li, const float *wt, uint64_t a,
                                                   uint64_t e, const tile_buf *tb, double *s)
{
    seg_sum_body(li, wt, a, e, tb, 0, s);
}

static int wants_full(const azs_tiled_ctx *c, const azs_frame_result *o)
{
    return o->std || o->sum_variance || o->sum_normalization2 || o->count ||
           (o->sigma && c->poisson);
}

static void finish(const azs_frame_result *out, uint32_t b, const double *s, int full)
{
    bin_sums r = {s[0], full ? s[1] : 0.0, s[2], full ? s[3] : 0.0, full ? s[4] : 0.0};
    azs_store_bin(out, b, &r);
}

/* Tile tt: preprocess its pixels (TPX points at the tile's first pixel), then hand each
 * segment's sum (sum_[5], segment s_) to EMIT. */
#define TILE_LOOP(C, PRE, TPX, TT, TB, FULL, EMIT)                                             \
    do {                                                                                       \
        const azs_tiled *t_ = (C)->t;                                                          \
        const uint64_t p0_ = (uint64_t)(TT) * AZS_TILE_PX;                                     \
        (PRE)((C), (TPX), p0_, tile_pixels((C), (TT)), (TB), (FULL));                          \
        for (uint64_t s_ = t_->tile_seg[TT]; s_ < t_->tile_seg[(TT) + 1]; s_++) {              \
            double sum_[5];                                                                    \
            if (FULL)                                                                          \
                seg_sum_full(t_->local, t_->weight, t_->seg_ptr[s_], t_->seg_ptr[s_ + 1], (TB), \
                             sum_);                                                            \
            else                                                                               \
                seg_sum_fast(t_->local, t_->weight, t_->seg_ptr[s_], t_->seg_ptr[s_ + 1], (TB), \
                             sum_);                                                            \
            EMIT;                                                                              \
        }                                                                                      \
    } while (0)

static uint32_t tile_pixels(const azs_tiled_ctx *c, uint64_t tt)
{
    const uint64_t left = c->npix - tt * AZS_TILE_PX;
    return (uint32_t)(left < AZS_TILE_PX ? left : AZS_TILE_PX);
}

/* The serial engine's per-tile step: add the tile's segment sums to the bins. */
static void serial_tile(const azs_tiled_ctx *c, pre_fn pre, const void *tpx, uint32_t tt,
                        double *acc, tile_buf *tb, int full)
{
    const azs_tiled *t = c->t;
    if (full)
        TILE_LOOP(c, pre, tpx, tt, tb, 1, {
            double *a_ = acc + (size_t)t->seg_bin[s_] * 5;
            for (int j_ = 0; j_ < 5; j_++) a_[j_] += sum_[j_];
        });
    else
        TILE_LOOP(c, pre, tpx, tt, tb, 0, {
            double *a_ = acc + (size_t)t->seg_bin[s_] * 5;
            a_[0] += sum_[0];
            a_[2] += sum_[2];
        });
}

static void serial_finish(const azs_tiled_ctx *c, const azs_frame_result *out, const double *acc,
                          int full)
{
    for (uint32_t b = 0; b < c->nbins; b++) finish(out, b, acc + (size_t)b * 5, full);
}

size_t azs_tiled_buffer_bytes(void) { return sizeof(tile_buf); }

azs_status azs_tiled_frame(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer)
{
    pre_fn pre = pre_for(dtype);
    if (!pre) return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const int full = wants_full(c, out);
    const size_t es = azs_dtype_size(dtype);
    memset(acc, 0, (size_t)c->nbins * 5 * sizeof(double));
    for (uint32_t tt = 0; tt < c->t->ntiles; tt++)
        serial_tile(c, pre, (const char *)px + (size_t)tt * AZS_TILE_PX * es, tt, acc, tile_buffer,
                    full);
    serial_finish(c, out, acc, full);
    return AZS_OK;
}

size_t azs_tiled_stage_bytes(void) { return AZS_TILE_PX * 8 + AZS_FUSED_MAX_BLOCK; }

azs_status azs_tiled_chunk(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer,
                           void *stage_, void *scratch)
{
    pre_fn pre = pre_for(dtype);
    if (!pre) return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const size_t es = azs_dtype_size(dtype), cap = azs_tiled_stage_bytes();
    if (bl->elem_size != es || bl->n != c->npix || bl->max_block_bytes > AZS_FUSED_MAX_BLOCK)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: chunk of %zu x %zu-byte elements "
                        "(blocks of %zu bytes) for %llu pixels of %zu bytes", bl->n, bl->elem_size,
                        bl->max_block_bytes, (unsigned long long)c->npix, es);
    const int full = wants_full(c, out);
    unsigned char *stage = stage_;
    size_t have = 0; /* decoded elements waiting in stage */
    memset(acc, 0, (size_t)c->nbins * 5 * sizeof(double));
    for (uint32_t tt = 0; tt < c->t->ntiles; tt++) {
        const uint32_t need = tile_pixels(c, tt);
        while (have < need) {
            size_t got = 0;
            azs_status st = azs_bslz4_blocks_next(bl, stage + have * es, cap - have * es, scratch, &got);
            if (st != AZS_OK) return st;
            if (got == 0)
                return azs_fail(AZS_ERR_TRUNCATED, "integrate: chunk ends after %zu of %llu pixels",
                                (size_t)tt * AZS_TILE_PX + have, (unsigned long long)c->npix);
            have += got;
        }
        serial_tile(c, pre, stage, tt, acc, tile_buffer, full);
        memmove(stage, stage + (size_t)need * es, (have - need) * es);
        have -= need;
    }
    serial_finish(c, out, acc, full);
    return AZS_OK;
}

azs_status azs_tiled_frame_omp(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                               const azs_frame_result *out, double *scratch)
{
    pre_fn pre = pre_for(dtype);
    if (!pre) return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(dtype));
    const int full = wants_full(c, out);
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
            if (full)
                TILE_LOOP(c, pre, (const char *)px + (size_t)tt * AZS_TILE_PX * es, tt, tb, 1, memcpy(scratch + s_ * 5, sum_, sizeof sum_));
            else
                TILE_LOOP(c, pre, (const char *)px + (size_t)tt * AZS_TILE_PX * es, tt, tb, 0, {
                    scratch[s_ * 5] = sum_[0];
                    scratch[s_ * 5 + 2] = sum_[2];
                });
        }
        /* Per bin, its segments in tile order, added to +0.0 as the serial engine does. */
#pragma omp for schedule(static, 64)
        for (int64_t b = 0; b < nb; b++) {
            double a[5] = {0, 0, 0, 0, 0};
            for (uint64_t j = t->bin_ptr[b]; j < t->bin_ptr[b + 1]; j++) {
                const double *s = scratch + (size_t)t->bin_seg[j] * 5;
                a[0] += s[0];
                a[2] += s[2];
                if (full) { a[1] += s[1]; a[3] += s[3]; a[4] += s[4]; }
            }
            finish(out, (uint32_t)b, a, full);
        }
    }
    return AZS_OK;
}
