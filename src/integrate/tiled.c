/* The pixel-tiled engine (design note in tiled.h; the preprocessing rules are the ones of
 * integrator.c's header comment).
 *
 * Per pixel of a tile, preprocessing writes (signal, norm) and, when the variance or the
 * count is wanted, (variance, valid); a pixel that is skipped (not finite, dummy) gets zeros
 * everywhere, which adds exactly nothing to any sum (the sums start at +0.0 and w ≥ 0), so
 * the result equals skipping it. Per entry (local pixel i, weight w), in double:
 *   Σsig += w·signal_i   Σnorm += w·norm_i   Σnorm² += (w·norm_i)²   Σvar += (w·w)·variance_i
 *   Σcount += w·valid_i
 * Segments are summed AZS_LANES at a time, one per SIMD lane: the segments of a tile are
 * sorted by length and stored in groups of AZS_LANES, entry j of every lane side by side
 * (padding entries have weight 0 and a pixel of the tile, so they add +0). Each lane's sums
 * are plain sequential sums in entry order, so the AVX2 kernel (gathers) and the portable one
 * give the same bits, on any machine, for every engine. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/alloc.h"
#include "common/cpu.h"
#include "common/error.h"
#include "integrator_internal.h"
#include "tiled.h"

void azs_tiled_free(azs_tiled *t)
{
    if (!t) return;
    free(t->tile_grp);
    free(t->grp_row);
    free(t->seg_bin);
    azs_aligned_free(t->local);
    azs_aligned_free(t->weight);
    free(t->bin_ptr);
    free(t->bin_seg);
    free(t->used);
    free(t->norm_lane);
    memset(t, 0, sizeof *t);
}

size_t azs_tiled_memory(const azs_tiled *t, uint32_t nbins)
{
    return ((size_t)t->ntiles + 1) * 8 + ((size_t)t->ngroups + 1) * 8 +
           (size_t)t->ngroups * AZS_LANES * (4 + 4) + ((size_t)nbins + 1) * 8 +
           (size_t)t->nrows * AZS_LANES * (2 + 4) + (size_t)t->ngroups * AZS_LANES * 8 +
           (size_t)t->ntiles * AZS_TILE_PX;
}

size_t azs_tiled_scratch_bytes(const azs_tiled *t)
{
    return ((size_t)t->ngroups * AZS_LANES + 1) * 5 * sizeof(double);
}

/* Segment order inside a tile: longest first (ties: original order), so that the lanes of
 * a group have similar lengths and little padding. */
typedef struct seg_key { uint64_t len; uint64_t id; } seg_key;
static int by_len_desc(const void *a, const void *b)
{
    const seg_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

azs_status azs_tiled_build(const azs_csr *m, uint64_t npix, azs_tiled *t)
{
    memset(t, 0, sizeof *t);
    const uint64_t nt64 = (npix + AZS_TILE_PX - 1) / AZS_TILE_PX;
    if (nt64 > UINT32_MAX)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: %llu pixels", (unsigned long long)npix);
    const uint32_t nt = (uint32_t)(nt64 ? nt64 : 1);
    const uint64_t nnz = m->nnz;
    azs_status st = AZS_OK;
    /* Stage 1: segments per tile (a segment = a run of one row's entries in one tile; rows
     * are sorted by pixel in practice, so one segment per (bin, tile)), in bin order. */
    uint64_t *seg_cnt = calloc((size_t)nt + 1, sizeof *seg_cnt);
    uint64_t *ent_cnt = calloc((size_t)nt + 1, sizeof *ent_cnt);
    uint64_t *tile_seg = NULL, *seg_ptr = NULL, *fill = NULL;
    uint32_t *sbin = NULL, *spix = NULL;
    float *sw = NULL;
    seg_key *keys = NULL;
    if (!seg_cnt || !ent_cnt) { st = azs_fail(AZS_ERR_NOMEM, "integrate: tile counts"); goto done; }
    uint64_t nseg = 0;
    for (uint32_t b = 0; b < m->nbins; b++) {
        uint32_t prev = UINT32_MAX;
        for (uint64_t k = m->indptr[b]; k < m->indptr[b + 1]; k++) {
            uint32_t tt = m->indices[k] / AZS_TILE_PX;
            if (tt != prev) { seg_cnt[tt]++; nseg++; prev = tt; }
            ent_cnt[tt]++;
        }
    }
    tile_seg = malloc(((size_t)nt + 1) * sizeof *tile_seg);
    seg_ptr = malloc((nseg + 1) * sizeof *seg_ptr);
    sbin = malloc((nseg ? nseg : 1) * sizeof *sbin);
    spix = malloc((nnz ? nnz : 1) * sizeof *spix);
    sw = malloc((nnz ? nnz : 1) * sizeof *sw);
    if (!tile_seg || !seg_ptr || !sbin || !spix || !sw) {
        st = azs_fail(AZS_ERR_NOMEM, "integrate: tiled matrix (%llu entries)",
                      (unsigned long long)nnz);
        goto done;
    }
    uint64_t s_acc = 0, e_acc = 0;
    for (uint32_t tt = 0; tt < nt; tt++) {
        uint64_t sc = seg_cnt[tt], ec = ent_cnt[tt];
        tile_seg[tt] = seg_cnt[tt] = s_acc;
        ent_cnt[tt] = e_acc;
        s_acc += sc;
        e_acc += ec;
    }
    tile_seg[nt] = s_acc;
    for (uint32_t b = 0; b < m->nbins; b++) {
        uint32_t prev = UINT32_MAX;
        for (uint64_t k = m->indptr[b]; k < m->indptr[b + 1]; k++) {
            uint32_t p = m->indices[k], tt = p / AZS_TILE_PX;
            if (tt != prev) {
                uint64_t sg = seg_cnt[tt]++;
                sbin[sg] = b;
                seg_ptr[sg] = ent_cnt[tt];
                prev = tt;
            }
            uint64_t e = ent_cnt[tt]++;
            spix[e] = p % AZS_TILE_PX;
            sw[e] = m->weights[k];
        }
    }
    seg_ptr[nseg] = nnz;
    /* Stage 2: per tile, segments by length, in groups of AZS_LANES lanes. */
    uint64_t ngroups = 0, nrows = 0, maxseg = 0;
    for (uint32_t tt = 0; tt < nt; tt++)
        if (tile_seg[tt + 1] - tile_seg[tt] > maxseg) maxseg = tile_seg[tt + 1] - tile_seg[tt];
    keys = malloc((maxseg ? maxseg : 1) * sizeof *keys);
    if (!keys) { st = azs_fail(AZS_ERR_NOMEM, "integrate: segment order"); goto done; }
    for (int pass = 0; pass < 2; pass++) {
        uint64_t g = 0, row = 0;
        for (uint32_t tt = 0; tt < nt; tt++) {
            const uint64_t s0 = tile_seg[tt], ns = tile_seg[tt + 1] - s0;
            for (uint64_t i = 0; i < ns; i++) {
                keys[i].len = seg_ptr[s0 + i + 1] - seg_ptr[s0 + i];
                keys[i].id = s0 + i;
            }
            qsort(keys, ns, sizeof *keys, by_len_desc);
            if (pass) t->tile_grp[tt] = g;
            /* Padding entries point at a pixel the tile uses (weight 0): whether the frame's
             * norm or the stored one is used, they then multiply the same finite value. */
            uint32_t pad = UINT32_MAX;
            for (uint64_t i = 0; i < ns; i++)
                if (spix[seg_ptr[s0 + i]] < pad) pad = spix[seg_ptr[s0 + i]];
            for (uint64_t i = 0; i < ns; i += AZS_LANES, g++) {
                const uint64_t len = keys[i].len; /* the longest of the group */
                if (pass) {
                    t->grp_row[g] = row;
                    for (uint32_t l = 0; l < AZS_LANES; l++) {
                        const uint64_t lane_id = g * AZS_LANES + l;
                        const int real = i + l < ns;
                        const uint64_t sid = real ? keys[i + l].id : 0;
                        const uint64_t n = real ? keys[i + l].len : 0;
                        t->seg_bin[lane_id] = real ? sbin[sid] : UINT32_MAX;
                        for (uint64_t j = 0; j < len; j++) {
                            const uint64_t at = (row + j) * AZS_LANES + l;
                            t->local[at] = (uint16_t)(j < n ? spix[seg_ptr[sid] + j] : pad);
                            t->weight[at] = j < n ? sw[seg_ptr[sid] + j] : 0.0f;
                        }
                    }
                }
                row += len;
            }
        }
        if (!pass) {
            ngroups = g;
            nrows = row;
            if (ngroups * AZS_LANES >= UINT32_MAX) {
                st = azs_fail(AZS_ERR_UNSUPPORTED, "integrate: %llu segments",
                              (unsigned long long)nseg);
                goto done;
            }
            t->ntiles = nt;
            t->ngroups = ngroups;
            t->nrows = nrows;
            t->tile_grp = malloc(((size_t)nt + 1) * sizeof *t->tile_grp);
            t->grp_row = malloc((ngroups + 1) * sizeof *t->grp_row);
            t->seg_bin = malloc((ngroups ? ngroups : 1) * AZS_LANES * sizeof *t->seg_bin);
            t->local = azs_aligned_alloc((nrows ? nrows : 1) * AZS_LANES * sizeof *t->local);
            t->weight = azs_aligned_alloc((nrows ? nrows : 1) * AZS_LANES * sizeof *t->weight);
            t->bin_ptr = calloc((size_t)m->nbins + 1, sizeof *t->bin_ptr);
            t->bin_seg = malloc((nseg ? nseg : 1) * sizeof *t->bin_seg);
            /* used[] spans whole tiles so that the last tile's check needs no bound */
            t->used = calloc((size_t)nt * AZS_TILE_PX, 1);
            t->norm_lane = calloc(ngroups ? ngroups * AZS_LANES : 1, sizeof *t->norm_lane);
            if (!t->tile_grp || !t->grp_row || !t->seg_bin || !t->local || !t->weight || !t->bin_ptr ||
                !t->bin_seg || !t->used || !t->norm_lane) {
                st = azs_fail(AZS_ERR_NOMEM, "integrate: tiled matrix (%llu rows of %d)",
                              (unsigned long long)nrows, AZS_LANES);
                goto done;
            }
        }
    }
    t->tile_grp[nt] = ngroups;
    t->grp_row[ngroups] = nrows;
    for (uint64_t k = 0; k < nnz; k++) t->used[m->indices[k]] = 1;
    /* The lanes of each bin in the order the serial engine adds them (tile, group, lane). */
    for (uint64_t l = 0; l < ngroups * AZS_LANES; l++)
        if (t->seg_bin[l] != UINT32_MAX) t->bin_ptr[t->seg_bin[l] + 1]++;
    for (uint32_t b = 0; b < m->nbins; b++) t->bin_ptr[b + 1] += t->bin_ptr[b];
    fill = malloc(((size_t)m->nbins + 1) * sizeof *fill);
    if (!fill) { st = azs_fail(AZS_ERR_NOMEM, "integrate: bin segment lists"); goto done; }
    memcpy(fill, t->bin_ptr, ((size_t)m->nbins + 1) * sizeof *fill);
    for (uint64_t l = 0; l < ngroups * AZS_LANES; l++)
        if (t->seg_bin[l] != UINT32_MAX) t->bin_seg[fill[t->seg_bin[l]]++] = (uint32_t)l;
done:
    free(seg_cnt);
    free(ent_cnt);
    free(tile_seg);
    free(seg_ptr);
    free(sbin);
    free(spix);
    free(sw);
    free(keys);
    free(fill);
    if (st != AZS_OK) azs_tiled_free(t);
    return st;
}

/* ---- engine ---------------------------------------------------------------------------- */

/* Preprocess pixels [p0, p0+n) of the frame (px points at pixel p0) into pairs
 * b->sn[2i] = signal, b->sn[2i+1] = norm and, if full, b->vo[2i] = variance,
 * b->vo[2i+1] = valid (1 or 0): pairs, so that one 64-bit gather fetches both. One
 * instantiation per dtype; the branches on dark / dummy / full are hoisted out of the pixel
 * loop so that the compiler vectorises each variant. */
typedef struct tile_buf {
    float sn[2 * AZS_TILE_PX];
    union {
        float vo[2 * AZS_TILE_PX];
        float sig[AZS_TILE_PX]; /* the intensity-only path: signal alone */
    };
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
        b->sn[2 * i] = keep(DK ? v - d : v, ok);                                               \
        b->sn[2 * i + 1] = keep(nf[i], ok);                                                    \
        if (FULL) {                                                                            \
            float vr = pick(-(uint32_t)(v > 1.0f), v, 1.0f);                                   \
            if (DK && pdark) vr += d;                                                          \
            b->vo[2 * i] = keep(vr, ok & pois);                                                \
            b->vo[2 * i + 1] = keep(1.0f, ok);                                                 \
        }                                                                                      \
    }

#define AZS_PRE_DUMMY(T, DK, FULL)                                                             \
    do {                                                                                       \
        if (!c->has_dummy) AZS_PRE_LOOP(T, DK, 0, FULL)                                        \
        else if (dd == 0.0f) AZS_PRE_LOOP(T, DK, 1, FULL)                                      \
        else AZS_PRE_LOOP(T, DK, 2, FULL)                                                      \
    } while (0)

/* An AVX2 clone of each preprocessing loop (twice the SSE2 width; no FMA in "avx2", so
 * the same roundings), picked by the loader. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__SANITIZE_THREAD__)
#define AZS_PRE_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define AZS_PRE_CLONES
#endif

#define AZS_PRE(NAME, T)                                                                       \
    AZS_PRE_CLONES static void NAME(const azs_tiled_ctx *restrict c, const T *restrict px,    \
                                    uint64_t p0, uint32_t n, tile_buf *restrict b, int full)   \
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

/* The intensity-only preprocessing: b->sig[i] = signal (0 when skipped), as sn[2i] above;
 * returns non-zero if a used pixel was skipped (then the tile needs its per-frame norm). */
#define AZS_SIG_LOOP(T, DK, DUMMY)                                                             \
    for (uint32_t i = 0; i < n; i++) {                                                         \
        const float v = AZS_TO_FLOAT(px[i]);                                                   \
        const uint32_t ok = pixel_ok(v, DUMMY, dv, dd);                                        \
        b->sig[i] = keep(DK ? v - dk[i] : v, ok);                                              \
        lost |= ~ok & -(uint32_t)used[i];                                                      \
    }

#define AZS_SIG(NAME, T)                                                                       \
    AZS_PRE_CLONES static uint32_t NAME(const azs_tiled_ctx *restrict c, const T *restrict px, \
                                        uint64_t p0, uint32_t n, tile_buf *restrict b)         \
    {                                                                                          \
        const uint8_t *restrict used = c->t->used + p0;                                        \
        const float *restrict dk = c->dark ? c->dark + p0 : NULL;                              \
        const float dv = c->dummy, dd = c->delta_dummy;                                        \
        uint32_t lost = 0;                                                                     \
        if (dk) {                                                                              \
            if (!c->has_dummy) AZS_SIG_LOOP(T, 1, 0)                                           \
            else if (dd == 0.0f) AZS_SIG_LOOP(T, 1, 1)                                         \
            else AZS_SIG_LOOP(T, 1, 2)                                                         \
        } else {                                                                               \
            if (!c->has_dummy) AZS_SIG_LOOP(T, 0, 0)                                           \
            else if (dd == 0.0f) AZS_SIG_LOOP(T, 0, 1)                                         \
            else AZS_SIG_LOOP(T, 0, 2)                                                         \
        }                                                                                      \
        return lost;                                                                           \
    }
AZS_SIG(sig_u8, uint8_t)
AZS_SIG(sig_u16, uint16_t)
AZS_SIG(sig_u32, uint32_t)
AZS_SIG(sig_i8, int8_t)
AZS_SIG(sig_i16, int16_t)
AZS_SIG(sig_i32, int32_t)
AZS_SIG(sig_f32, float)
AZS_SIG(sig_f64, double)

typedef uint32_t (*sig_fn)(const azs_tiled_ctx *, const void *, uint64_t, uint32_t, tile_buf *);

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* uint32 (every Eiger stack) by hand: GCC's vectorisation of AZS_SIG_LOOP for it spills,
 * and this pass was 17 % of a frame's time on the dev machine. Same operations as the
 * loop: the value as float(x >> 16) · 65536 + float(x & 0xFFFF) (the product is exact, so
 * the fused multiply-add rounds as the loop's multiply and add do), no finiteness test (a
 * uint32 is always finite), the same dummy comparisons, signal − dark. */
__attribute__((target("avx2,fma"))) static uint32_t
sig_u32_avx2(const azs_tiled_ctx *restrict c, const uint32_t *restrict px, uint64_t p0, uint32_t n,
             tile_buf *restrict b)
{
    const uint8_t *restrict used = c->t->used + p0;
    const float *restrict dk = c->dark ? c->dark + p0 : NULL;
    const int mode = !c->has_dummy ? 0 : c->delta_dummy == 0.0f ? 1 : 2;
    const __m256 dv = _mm256_set1_ps(c->dummy), dd = _mm256_set1_ps(c->delta_dummy);
    const __m256 k65536 = _mm256_set1_ps(65536.0f);
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7FFFFFFF));
    const __m256i lo16 = _mm256_set1_epi32(0xFFFF);
    __m256i lost = _mm256_setzero_si256();
    uint32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i x = _mm256_loadu_si256((const __m256i *)(px + i));
        const __m256 v = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(x, 16)), k65536,
                                         _mm256_cvtepi32_ps(_mm256_and_si256(x, lo16)));
        __m256 ok = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        if (mode == 1) ok = _mm256_cmp_ps(v, dv, _CMP_NEQ_UQ);
        if (mode == 2)
            ok = _mm256_xor_ps(ok, _mm256_cmp_ps(_mm256_and_ps(_mm256_sub_ps(v, dv), absmask), dd,
                                                 _CMP_LE_OQ));
        const __m256 sgn = dk ? _mm256_sub_ps(v, _mm256_loadu_ps(dk + i)) : v;
        _mm256_storeu_ps(b->sig + i, _mm256_and_ps(sgn, ok));
        const __m256i u = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(used + i)));
        lost = _mm256_or_si256(lost, _mm256_andnot_si256(_mm256_castps_si256(ok), u));
    }
    uint32_t tail = 0;
    const float fdv = c->dummy, fdd = c->delta_dummy;
    for (; i < n; i++) {
        const float v = u32_to_float(px[i]);
        const uint32_t ok = pixel_ok(v, mode, fdv, fdd);
        b->sig[i] = keep(dk ? v - dk[i] : v, ok);
        tail |= ~ok & -(uint32_t)used[i];
    }
    return tail | (uint32_t)!_mm256_testz_si256(lost, lost);
}
#endif

static sig_fn sig_for(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return (sig_fn)sig_u8;
    case AZS_U16: return (sig_fn)sig_u16;
    case AZS_U32:
#if defined(__x86_64__) && defined(__GNUC__)
        if ((azs_cpu_features() & (AZS_CPU_AVX2 | AZS_CPU_FMA)) == (AZS_CPU_AVX2 | AZS_CPU_FMA))
            return (sig_fn)sig_u32_avx2;
#endif
        return (sig_fn)sig_u32;
    case AZS_I8: return (sig_fn)sig_i8;
    case AZS_I16: return (sig_fn)sig_i16;
    case AZS_I32: return (sig_fn)sig_i32;
    case AZS_F32: return (sig_fn)sig_f32;
    case AZS_F64: return (sig_fn)sig_f64;
    default: return NULL;
    }
}

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

/* Sums of one group of AZS_LANES segments, rows [r0, r1): out[q * AZS_LANES + lane] for
 * q = 0 sig, 1 var, 2 norm, 3 norm², 4 count. full = 0 computes only sig and norm (what
 * intensity needs); their values are the same either way. Each lane is a sequential sum in
 * row order; the AVX2 variant computes exactly the same operations lane-wise (no FMA). */
static inline __attribute__((always_inline)) void
group_body(const uint16_t *restrict li, const float *restrict wt, uint64_t r0, uint64_t r1,
           const tile_buf *restrict tb, int full, double *restrict out)
{
    double sg[AZS_LANES] = {0}, nm[AZS_LANES] = {0}, vr[AZS_LANES] = {0}, q[AZS_LANES] = {0},
           ct[AZS_LANES] = {0};
    for (uint64_t r = r0; r < r1; r++) {
        const uint16_t *ix = li + r * AZS_LANES;
        const float *ww = wt + r * AZS_LANES;
        for (int l = 0; l < AZS_LANES; l++) {
            const uint32_t i = ix[l];
            const double w = ww[l], wn = w * (double)tb->sn[2 * i + 1];
            sg[l] += w * (double)tb->sn[2 * i];
            nm[l] += wn;
            if (full) {
                q[l] += wn * wn;
                vr[l] += (w * w) * (double)tb->vo[2 * i];
                ct[l] += w * (double)tb->vo[2 * i + 1];
            }
        }
    }
    for (int l = 0; l < AZS_LANES; l++) {
        out[l] = sg[l];
        out[2 * AZS_LANES + l] = nm[l];
        if (full) {
            out[AZS_LANES + l] = vr[l];
            out[3 * AZS_LANES + l] = q[l];
            out[4 * AZS_LANES + l] = ct[l];
        }
    }
}

typedef void (*group_fn)(const uint16_t *, const float *, uint64_t, uint64_t, const tile_buf *,
                         double *);

static void group_fast_portable(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                                const tile_buf *tb, double *out)
{
    group_body(li, wt, r0, r1, tb, 0, out);
}

static void group_full_portable(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                                const tile_buf *tb, double *out)
{
    group_body(li, wt, r0, r1, tb, 1, out);
}

/* The intensity-only kernel: Σ w·signal per lane (out[0..7]), the same operations as sg
 * in group_body. */

static void group_sig_portable(const uint16_t *restrict li, const float *restrict wt, uint64_t r0,
                               uint64_t r1, const float *restrict sig, double *restrict out)
{
    double sg[AZS_LANES] = {0};
    for (uint64_t r = r0; r < r1; r++)
        for (int l = 0; l < AZS_LANES; l++)
            sg[l] += (double)wt[r * AZS_LANES + l] * (double)sig[li[r * AZS_LANES + l]];
    memcpy(out, sg, sizeof sg);
}

/* The same for nf frames at once (the batch engine): each matrix row is read once for all
 * of them; frame f's lane sums go to out[f * AZS_LANES ..], the same bits as one by one. */
typedef void (*sig_multi_fn)(const uint16_t *, const float *, uint64_t, uint64_t,
                             const float *const *, int, double *);

static void group_sig_multi_portable(const uint16_t *restrict li, const float *restrict wt,
                                     uint64_t r0, uint64_t r1, const float *const *sig, int nf,
                                     double *restrict out)
{
    for (int f = 0; f < nf; f++) group_sig_portable(li, wt, r0, r1, sig[f], out + f * AZS_LANES);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* Eight lanes: four doubles in each of two registers per quantity. A lane's (signal, norm)
 * pair is one 64-bit gather (half the gathered elements of two 32-bit gathers), then the
 * pairs are split with one permute. target("avx2") without "fma": mul and add stay
 * separate roundings, as in the portable kernel. */
#define LO(x) _mm256_cvtps_pd(_mm256_castps256_ps128(x))
#define HI(x) _mm256_cvtps_pd(_mm256_extractf128_ps((x), 1))

/* Gather the pairs of the 4 lanes in idx4 and return [first × 4 | second × 4]. */
__attribute__((target("avx2"))) static inline __m256 gather_pairs(const float *base, __m128i idx4)
{
    const __m256i perm = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);
    const __m256i p = _mm256_i32gather_epi64((const long long *)base, idx4, 8);
    return _mm256_permutevar8x32_ps(_mm256_castsi256_ps(p), perm);
}

__attribute__((target("avx2"), always_inline)) static inline void
group_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
           int full, double *out)
{
    __m256d sg0 = _mm256_setzero_pd(), sg1 = sg0, nm0 = sg0, nm1 = sg0, vr0 = sg0, vr1 = sg0,
            q0 = sg0, q1 = sg0, ct0 = sg0, ct1 = sg0;
    for (uint64_t r = r0; r < r1; r++) {
        const __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(li + r * 8)));
        const __m128i ilo = _mm256_castsi256_si128(ix), ihi = _mm256_extracti128_si256(ix, 1);
        const __m256 w8 = _mm256_loadu_ps(wt + r * 8);
        const __m256d w0 = LO(w8), w1 = HI(w8);
        const __m256 a = gather_pairs(tb->sn, ilo), b = gather_pairs(tb->sn, ihi);
        /* a = [sig lanes 0-3 | norm lanes 0-3], b = the same for lanes 4-7 */
        const __m256d wn0 = _mm256_mul_pd(w0, HI(a)), wn1 = _mm256_mul_pd(w1, HI(b));
        sg0 = _mm256_add_pd(sg0, _mm256_mul_pd(w0, LO(a)));
        sg1 = _mm256_add_pd(sg1, _mm256_mul_pd(w1, LO(b)));
        nm0 = _mm256_add_pd(nm0, wn0);
        nm1 = _mm256_add_pd(nm1, wn1);
        if (full) {
            const __m256 c = gather_pairs(tb->vo, ilo), d = gather_pairs(tb->vo, ihi);
            q0 = _mm256_add_pd(q0, _mm256_mul_pd(wn0, wn0));
            q1 = _mm256_add_pd(q1, _mm256_mul_pd(wn1, wn1));
            vr0 = _mm256_add_pd(vr0, _mm256_mul_pd(_mm256_mul_pd(w0, w0), LO(c)));
            vr1 = _mm256_add_pd(vr1, _mm256_mul_pd(_mm256_mul_pd(w1, w1), LO(d)));
            ct0 = _mm256_add_pd(ct0, _mm256_mul_pd(w0, HI(c)));
            ct1 = _mm256_add_pd(ct1, _mm256_mul_pd(w1, HI(d)));
        }
    }
    _mm256_storeu_pd(out, sg0);
    _mm256_storeu_pd(out + 4, sg1);
    _mm256_storeu_pd(out + 16, nm0);
    _mm256_storeu_pd(out + 20, nm1);
    if (full) {
        _mm256_storeu_pd(out + 8, vr0);
        _mm256_storeu_pd(out + 12, vr1);
        _mm256_storeu_pd(out + 24, q0);
        _mm256_storeu_pd(out + 28, q1);
        _mm256_storeu_pd(out + 32, ct0);
        _mm256_storeu_pd(out + 36, ct1);
    }
}
/* The signal of the eight lanes comes from one 32-bit gather (gather = 1) or from eight
 * scalar loads (gather = 0): the same values, so the same bits; which is faster depends on
 * the core (AMD Zen 4 microcodes its gathers: 1.6x slower end to end here), so
 * azs_tiled_set_norm times both and keeps the faster. w and the signal are floats, so
 * their product is exact in double and a fused multiply-add rounds exactly as mul + add
 * (the portable kernel's bits). */
__attribute__((target("avx2,fma"), always_inline)) static inline void
group_sig_nf_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1,
                  const float *const *sig, const int nf, const int gather, double *out)
{
    __m256d a[AZS_BATCH_MAX][2];
    for (int f = 0; f < nf; f++) a[f][0] = a[f][1] = _mm256_setzero_pd();
    for (uint64_t r = r0; r < r1; r++) {
        const __m256i ix = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(li + r * 8)));
        const __m256 w8 = _mm256_loadu_ps(wt + r * 8);
        const __m256d w0 = LO(w8), w1 = HI(w8);
        for (int f = 0; f < nf; f++) {
            const uint16_t *q = li + r * 8;
            const float *sf = sig[f];
            const __m256 s8 = gather ? _mm256_i32gather_ps(sf, ix, 4)
                                     : _mm256_setr_ps(sf[q[0]], sf[q[1]], sf[q[2]], sf[q[3]],
                                                      sf[q[4]], sf[q[5]], sf[q[6]], sf[q[7]]);
            a[f][0] = _mm256_fmadd_pd(w0, LO(s8), a[f][0]);
            a[f][1] = _mm256_fmadd_pd(w1, HI(s8), a[f][1]);
        }
    }
    for (int f = 0; f < nf; f++) {
        _mm256_storeu_pd(out + f * AZS_LANES, a[f][0]);
        _mm256_storeu_pd(out + f * AZS_LANES + 4, a[f][1]);
    }
}

/* One instantiation per frame count, so that the accumulators stay in registers. */
#define AZS_SIG_MULTI(NAME, GATHER)                                                            \
    __attribute__((target("avx2,fma"))) static void NAME(                                      \
        const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const float *const *sig, \
        int nf, double *out)                                                                   \
    {                                                                                          \
        switch (nf) {                                                                          \
        case 1: group_sig_nf_avx2(li, wt, r0, r1, sig, 1, GATHER, out); break;                 \
        case 2: group_sig_nf_avx2(li, wt, r0, r1, sig, 2, GATHER, out); break;                 \
        case 3: group_sig_nf_avx2(li, wt, r0, r1, sig, 3, GATHER, out); break;                 \
        default: group_sig_nf_avx2(li, wt, r0, r1, sig, 4, GATHER, out); break;                \
        }                                                                                      \
    }
AZS_SIG_MULTI(group_sig_multi_gather, 1)
AZS_SIG_MULTI(group_sig_multi_loads, 0)
_Static_assert(AZS_BATCH_MAX == 4, "AZS_SIG_MULTI has one case per frame count");

__attribute__((target("avx2"))) static void
group_fast_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
               double *out)
{
    group_avx2(li, wt, r0, r1, tb, 0, out);
}

__attribute__((target("avx2"))) static void
group_full_avx2(const uint16_t *li, const float *wt, uint64_t r0, uint64_t r1, const tile_buf *tb,
               double *out)
{
    group_avx2(li, wt, r0, r1, tb, 1, out);
}
#undef LO
#undef HI
#endif

_Static_assert(AZS_LANES == 8, "the AVX2 kernel holds 8 lanes");

static group_fn pick_group(int full)
{
#if defined(__x86_64__) && defined(__GNUC__)
    if (azs_cpu_features() & AZS_CPU_AVX2) return full ? group_full_avx2 : group_fast_avx2;
#endif
    return full ? group_full_portable : group_fast_portable;
}

/* kind: the matrix's choice (AZS_SIG_GATHER or AZS_SIG_LOADS), used where the CPU allows. */
static sig_multi_fn pick_sig_multi(int kind)
{
#if defined(__x86_64__) && defined(__GNUC__)
    const unsigned need = AZS_CPU_AVX2 | AZS_CPU_FMA;
    if ((azs_cpu_features() & need) == need)
        return kind == AZS_SIG_LOADS ? group_sig_multi_loads : group_sig_multi_gather;
#else
    (void)kind;
#endif
    return group_sig_multi_portable;
}

const char *azs_tiled_sig_kernel_name(const azs_tiled *t)
{
    sig_multi_fn f = pick_sig_multi(t->sig_kernel);
    return f == group_sig_multi_portable ? "portable"
           : t->sig_kernel == AZS_SIG_LOADS ? "avx2+fma, scalar loads" : "avx2+fma, gathers";
}

const char *azs_tiled_kernel_name(void)
{
    return pick_group(0) == group_fast_portable ? "portable" : "avx2";
}

int azs_tiled_wants_full(const azs_tiled_ctx *c, const azs_frame_result *o)
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
 * group's lane sums (sum_[5 * AZS_LANES], group g_) to EMIT. */
#define TILE_LOOP(C, PRE, TPX, TT, TB, FULL, EMIT)                                             \
    do {                                                                                       \
        const azs_tiled *t_ = (C)->t;                                                          \
        const uint64_t p0_ = (uint64_t)(TT) * AZS_TILE_PX;                                     \
        const group_fn gf_ = pick_group(FULL);                                                 \
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
            const sig_multi_fn sf_ = pick_sig_multi(ts_->sig_kernel);                          \
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
    for (uint32_t b = 0; b < c->nbins; b++) finish(out, b, acc + (size_t)b * 5, full);
}

size_t azs_tiled_buffer_bytes(void) { return sizeof(tile_buf); }

azs_status azs_tiled_frame(const azs_tiled_ctx *c, const void *px, azs_dtype dtype,
                           const azs_frame_result *out, double *acc, void *tile_buffer)
{
    pre_fn pre = pre_for(dtype);
    sig_fn sig = sig_for(dtype);
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
    pre_fn pre = pre_for(dtype);
    sig_fn sig = sig_for(dtype);
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

azs_status azs_tiled_chunks(const azs_tiled_ctx *c, azs_bslz4_blocks *bl, int n, azs_dtype dtype,
                            const azs_frame_result *out, double *const *acc,
                            void *const *tile_buffer, void *const *stage_, void *scratch,
                            azs_status *status, char *msgs, size_t msg_len)
{
    pre_fn pre = pre_for(dtype);
    sig_fn sig = sig_for(dtype);
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
    const sig_multi_fn mf = pick_sig_multi(t->sig_kernel);
    for (uint32_t tt = 0; tt < t->ntiles && live; tt++) {
        const uint32_t need = tile_pixels(c, tt);
        const float *sigs[AZS_BATCH_MAX];
        int who[AZS_BATCH_MAX], ns = 0;
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
            tile_buf *tb = tile_buffer[j];
            if (sig(c, stage, (uint64_t)tt * AZS_TILE_PX, need, tb) == 0) {
                sigs[ns] = tb->sig;
                who[ns++] = j;
            } else {
                general_tile(c, pre, stage, tt, acc[j], tb, 0);
            }
        }
        for (uint64_t g = t->tile_grp[tt]; ns && g < t->tile_grp[tt + 1]; g++) {
            double sum[AZS_BATCH_MAX * AZS_LANES];
            mf(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], sigs, ns, sum);
            const double *nrm = t->norm_lane + g * AZS_LANES;
            for (int l = 0; l < AZS_LANES; l++) {
                const uint32_t b = t->seg_bin[g * AZS_LANES + l];
                if (b == UINT32_MAX) continue;
                for (int k = 0; k < ns; k++) {
                    double *a = acc[who[k]] + (size_t)b * 5;
                    a[0] += sum[k * AZS_LANES + l];
                    a[2] += nrm[l];
                }
            }
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
    pre_fn pre = pre_for(dtype);
    sig_fn sig = sig_for(dtype);
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
            finish(out, (uint32_t)b, a, full);
        }
    }
    return AZS_OK;
}

static double seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Time the gather and scalar-load kernels on a few tiles, 4 frames at a time as layout 1
 * runs them, and keep the faster (best of 5 interleaved trials each; about a millisecond).
 * Both give the same bits, so the choice changes only the speed. */
static void choose_sig_kernel(azs_tiled *t, tile_buf *tb)
{
    t->sig_kernel = AZS_SIG_GATHER;
    if (pick_sig_multi(AZS_SIG_GATHER) == pick_sig_multi(AZS_SIG_LOADS) || t->ntiles == 0) return;
    for (uint32_t i = 0; i < AZS_TILE_PX; i++) tb->sig[i] = (float)(i & 1023);
    const float *sigs[AZS_BATCH_MAX] = {tb->sig, tb->sig, tb->sig, tb->sig};
    const uint32_t t0 = t->ntiles / 2, t1 = t0 + 8 < t->ntiles ? t0 + 8 : t->ntiles;
    double best[2] = {1e30, 1e30}, sink = 0;
    for (int trial = 0; trial < 5; trial++)
        for (int k = 0; k < 2; k++) {
            const sig_multi_fn f = pick_sig_multi(k ? AZS_SIG_LOADS : AZS_SIG_GATHER);
            const double s0 = seconds();
            for (uint32_t tt = t0; tt < t1; tt++)
                for (uint64_t g = t->tile_grp[tt]; g < t->tile_grp[tt + 1]; g++) {
                    double sum[AZS_BATCH_MAX * AZS_LANES];
                    f(t->local, t->weight, t->grp_row[g], t->grp_row[g + 1], sigs, AZS_BATCH_MAX,
                      sum);
                    sink += sum[0];
                }
            const double dt = seconds() - s0;
            if (dt < best[k]) best[k] = dt;
        }
    if (best[1] < best[0] && sink == sink) t->sig_kernel = AZS_SIG_LOADS;
}

void azs_tiled_force_sig_kernel(azs_tiled *t, int kind) { t->sig_kernel = kind; }

azs_status azs_tiled_set_norm(azs_tiled *t, const azs_tiled_ctx *c)
{
    if (c->t != t) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: context of another matrix");
    tile_buf *tb = azs_aligned_alloc(sizeof *tb);
    if (!tb) return azs_fail(AZS_ERR_NOMEM, "integrate: tile buffer");
    const group_fn gf = pick_group(0);
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
    sig_fn sig = sig_for(dtype);
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
