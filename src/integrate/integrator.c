/* The integrator object (matrix + per-pixel constants + the pixel rule) and the CPU
 * engines' entry points. The per-pixel rules and the order of the sums are those of
 * pixel_rules.h (contract: integrate.h, above azs_csr_view).
 *
 * Engines: the error models none and poisson run the pixel-tiled engine (tiled.h), which
 * streams the frame and the matrix. The azimuthal model needs each bin's pixels in one
 * ordered pass (its running mean), so it runs a bin-major gather over the CSR: every bin is
 * owned by one loop iteration, and the OpenMP variant (bins split over threads) equals the
 * serial one bit for bit. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "azstream/integrate.h"
#include "common/alloc.h"
#include "common/error.h"
#include "integrator_internal.h"
#include "integrator_struct.h"
#include "tiled.h"

struct azs_workspace {
    double *acc;     /* nbins × 5: the serial tiled engine's per-bin sums */
    void *tile;      /* the serial tiled engine's preprocessed tile */
    void *stage;     /* fused decode: decoded blocks waiting for their tile */
    void *scratch_block; /* fused decode: one LZ4 block before the bit-unshuffle */
    double *scratch; /* nseg × 5: the OpenMP tiled engine's per-segment sums (untouched,
                      * so never resident, unless that engine runs) */
    /* azs_integrate_chunks: per-bin sums, tile and stage of batch frames 1.. (frame 0 uses
     * the ones above) */
    double *b_acc[AZS_BATCH_MAX - 1];
    void *b_tile[AZS_BATCH_MAX - 1], *b_stage[AZS_BATCH_MAX - 1];
    void *xbuf; /* azs_integrate_chunks: a tile's signals of the batch, frame-interleaved */
};

void azs_integrate_options_default(azs_integrate_options *o)
{
    memset(o, 0, sizeof *o);
    o->npt = 1000;
    o->npt_azim = 0;
    o->unit = AZS_UNIT_Q_NM;
    o->split = AZS_SPLIT_BBOX;
    o->solid_angle = 1;
    o->normalization_factor = 1.0;
    o->error_model = AZS_ERRMODEL_NONE;
    o->mask_detector_gaps = 1;
}

void azs_integrator_destroy(azs_integrator *it)
{
    if (!it) return;
    if (it->map) { /* arrays in a cache file's mapping (integrator_cache.c) */
        munmap(it->map, it->map_bytes);
        free(it);
        return;
    }
    azs_csr_free(&it->m);
    azs_aligned_free(it->norm);
    azs_aligned_free(it->dark);
    azs_tiled_free(&it->tiled);
    free(it);
}

/* pyFAI 2026.9 leaves out a pixel whose flat is 0 or not finite, or is a dummy (the
 * frames' dummy test applied to the flat: within delta of the dummy, float32), or whose
 * dark is not finite, in every engine, exactly as if it were masked (measured: same
 * intensities and counts; a flat of −1 is kept when no dummy covers it). Unlike a masked
 * pixel it still counts for the automatic range, so the matrix is built first and then
 * loses that pixel's entries. */
static int pixel_invalid(const azs_integrate_options *o, size_t p)
{
    if (o->dark && !isfinite(o->dark[p])) return 1;
    if (!o->flat) return 0;
    const float f = o->flat[p];
    if (f == 0.0f || !isfinite(f)) return 1;
    if (!o->has_dummy) return 0;
    const float d = (float)o->dummy, dd = (float)o->delta_dummy;
    return dd == 0.0f ? f == d : fabsf(f - d) <= dd;
}

static void csr_drop_invalid(azs_csr *m, const azs_integrate_options *o)
{
    if (!o->flat && !o->dark) return;
    uint64_t k = 0, start = 0;
    for (uint32_t b = 0; b < m->nbins; b++) {
        const uint64_t end = m->indptr[b + 1];
        for (uint64_t e = start; e < end; e++) {
            if (pixel_invalid(o, m->indices[e])) continue;
            m->indices[k] = m->indices[e];
            m->weights[k++] = m->weights[e];
        }
        start = end;
        m->indptr[b + 1] = k;
    }
    /* the padding after the last entry stays zero (azs_csr_build's contract) */
    memset(m->indices + k, 0, (size_t)(m->nnz - k + AZS_CSR_PAD) * sizeof *m->indices);
    m->nnz = k;
}

void azs_integrator_set_ctx(azs_integrator *it, const azs_integrate_options *o)
{
    azs_tiled_ctx *c = &it->ctx;
    c->t = &it->tiled;
    c->nbins = it->m.nbins;
    c->npix = it->npix;
    c->norm = it->norm;
    c->dark = it->dark;
    c->rule.has_dummy = o->has_dummy;
    c->rule.dummy = (float)o->dummy;
    c->rule.delta_dummy = (float)o->delta_dummy;
    c->rule.error_model = o->error_model;
    c->rule.empty = (float)o->empty; /* pyFAI keeps ai.empty as float32 */
    /* pyFAI 2026.9's 2D no/bbox paths add the dark to the variance; its others do not. */
    c->rule.variance_dark = o->error_model == AZS_ERRMODEL_POISSON && it->dark &&
                            o->npt_azim > 0 && o->split != AZS_SPLIT_FULL;
}

azs_status azs_integrator_create_from_positions(const azs_positions *pos,
                                                const double *solid_angle,
                                                const double *polarization,
                                                const uint8_t *mask,
                                                const azs_integrate_options *o,
                                                azs_integrator **out)
{
    *out = NULL;
    if (!pos || !o) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL argument");
    if (o->error_model != AZS_ERRMODEL_NONE && o->error_model != AZS_ERRMODEL_POISSON &&
        o->error_model != AZS_ERRMODEL_AZIMUTHAL)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: unknown error model %d", (int)o->error_model);
    azs_integrator *it = calloc(1, sizeof *it);
    if (!it) return azs_fail(AZS_ERR_NOMEM, "integrate: integrator");
    it->opt = *o;
    it->opt.mask = NULL;
    it->opt.dark = NULL;
    it->opt.flat = NULL;
    it->ny = pos->ny;
    it->nx = pos->nx;
    it->npix = (size_t)pos->ny * pos->nx;
    azs_status st = azs_csr_build(pos, mask, o, &it->m);
    if (st != AZS_OK) { azs_integrator_destroy(it); return st; }
    csr_drop_invalid(&it->m, o);
    it->norm = azs_aligned_alloc(it->npix * sizeof(float));
    if (o->dark) it->dark = azs_aligned_alloc(it->npix * sizeof(float));
    if (!it->norm || (o->dark && !it->dark)) {
        azs_integrator_destroy(it);
        return azs_fail(AZS_ERR_NOMEM, "integrate: per-pixel arrays");
    }
    /* float32 products, in pyFAI's order: the norm array pyFAI's engine sees. A pixel
     * dropped for its flat or dark (no entries left) gets 0 for both, so that no engine
     * reading it ahead (a padding lane of weight 0) meets a NaN. */
    for (size_t p = 0; p < it->npix; p++) {
        float n = 1.0f;
        if (o->flat) n = o->flat[p];
        if (o->solid_angle && solid_angle) n *= (float)solid_angle[p];
        if (o->has_polarization && polarization) n *= (float)polarization[p];
        n *= (float)o->normalization_factor;
        const int bad = pixel_invalid(o, p);
        it->norm[p] = bad ? 0.0f : n;
        if (o->dark) it->dark[p] = bad ? 0.0f : o->dark[p];
    }
    if ((st = azs_tiled_build(&it->m, it->npix, &it->tiled)) != AZS_OK) {
        azs_integrator_destroy(it);
        return st;
    }
    azs_integrator_set_ctx(it, o);
    if ((st = azs_tiled_set_norm(&it->tiled, &it->ctx)) != AZS_OK) {
        azs_integrator_destroy(it);
        return st;
    }
    *out = it;
    return AZS_OK;
}

const struct azs_tiled_ctx *azs_integrator_tiled_ctx(const azs_integrator *it)
{
    return &it->ctx;
}

struct azs_tiled *azs_integrator_tiled(azs_integrator *it) { return &it->tiled; }

const char *azs_integrator_kernel(const azs_integrator *it)
{
    if (it->opt.error_model == AZS_ERRMODEL_AZIMUTHAL) return "csr gather (azimuthal model)";
    return azs_tiled_sig_kernel_name(&it->tiled);
}

/* pyFAI works in internal units and scales the bin centres at the end; so do we: the
 * geometry gives positions in the unit's internal unit (azs_unit_internal). */
static azs_status internal_unit(azs_unit u, azs_unit *base, double *scale, double *div)
{
    *div = 1.0;
    return azs_unit_internal(u, base, scale);
}

azs_status azs_integrator_create(const azs_geometry *g, const azs_integrate_options *o,
                                 azs_integrator **out)
{
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL output");
    *out = NULL;
    if (!g || !o) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL argument");
    const uint32_t ny = g->det.ny, nx = g->det.nx;
    if (ny == 0 || nx == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: detector '%s' has no shape", g->det.name);
    azs_unit base = AZS_UNIT_Q_NM;
    double scale = 1.0, div = 1.0;
    azs_status st = internal_unit(o->unit, &base, &scale, &div);
    if (st != AZS_OK) return st;
    const size_t n = (size_t)ny * nx, nc = (size_t)(ny + 1) * (nx + 1);
    /* Before any of it is allocated: positions (centres and corners), corrections, mask, and
     * at least one matrix entry and one normalisation per pixel (a lower bound). */
    const unsigned long long per_pixel = 2 * 8 + 2 * 8 + (o->solid_angle ? 8 : 0) +
                                         (o->has_polarization ? 8 : 0) + 1 + 8 + 4;
    char what[160];
    snprintf(what, sizeof what, "integrate: a detector of %u x %u pixels (its positions, "
             "corrections and matrix)", ny, nx);
    if ((st = azs_mem_check((unsigned long long)n * per_pixel, what)) != AZS_OK)
        return st;
    double *rad = malloc(n * sizeof *rad), *chi = malloc(n * sizeof *chi);
    double *radc = malloc(nc * sizeof *radc), *chic = malloc(nc * sizeof *chic);
    double *sa = o->solid_angle ? malloc(n * sizeof *sa) : NULL;
    double *pol = o->has_polarization ? malloc(n * sizeof *pol) : NULL;
    uint8_t *mask = malloc(n);
    if (!rad || !chi || !radc || !chic || (o->solid_angle && !sa) || (o->has_polarization && !pol) || !mask) {
        st = azs_fail(AZS_ERR_NOMEM, "integrate: position arrays for %u x %u pixels", ny, nx);
        goto done;
    }
    st = azs_geometry_positions(g, base, 0, rad, chi, n);
    if (st == AZS_OK) st = azs_geometry_positions(g, base, 1, radc, chic, nc);
    if (st == AZS_OK && sa) st = azs_geometry_solid_angle(g, sa, n);
    if (st == AZS_OK && pol)
        st = azs_geometry_polarization(g, o->polarization_factor, o->polarization_axis_offset, pol, n);
    /* pyFAI: a mask given replaces the detector's (gap) mask; without one, the detector's
     * applies. */
    if (st == AZS_OK) {
        if (o->mask)
            for (size_t p = 0; p < n; p++) mask[p] = o->mask[p] != 0;
        else if (o->mask_detector_gaps) st = azs_detector_mask(&g->det, mask, n);
        else memset(mask, 0, n);
    }
    if (st != AZS_OK) goto done;
    if (div != 1.0) {
        for (size_t p = 0; p < n; p++) rad[p] /= div;
        for (size_t p = 0; p < nc; p++) radc[p] /= div;
    }
    /* pyFAI's χ discontinuity at 0: χ taken modulo 2π into [0, 2π), centres and corners,
     * before any binning. */
    if (o->chi_disc_at_0) {
        for (size_t p = 0; p < n; p++) if (chi[p] < 0) chi[p] += 6.283185307179586476925286766559 /* 2π */;
        for (size_t p = 0; p < nc; p++) if (chic[p] < 0) chic[p] += 6.283185307179586476925286766559 /* 2π */;
    }
    azs_positions pos = {ny, nx, rad, chi, radc, chic, scale, g->det.orientation,
                         o->chi_disc_at_0 != 0};
    st = azs_integrator_create_from_positions(&pos, sa, pol, mask, o, out);
done:
    free(rad); free(chi); free(radc); free(chic); free(sa); free(pol); free(mask);
    return st;
}

size_t azs_integrator_nbins(const azs_integrator *it) { return it->m.nbins; }
const double *azs_integrator_radial(const azs_integrator *it) { return it->m.radial; }
const double *azs_integrator_azimuthal(const azs_integrator *it) { return it->m.azimuthal; }
const azs_integrate_options *azs_integrator_options(const azs_integrator *it) { return &it->opt; }

size_t azs_integrator_memory(const azs_integrator *it)
{
    return ((size_t)it->m.nbins + 1) * sizeof(uint64_t) +
           (size_t)it->m.nnz * (sizeof(uint32_t) + sizeof(float)) +
           azs_tiled_memory(&it->tiled, it->m.nbins) + it->npix * sizeof(float) * (it->dark ? 2 : 1);
}

size_t azs_integrator_stream_bytes(const azs_integrator *it, int frames_per_pass)
{
    const size_t per_pixel = it->npix * sizeof(float) * (it->dark ? 2 : 1);
    if (it->opt.error_model == AZS_ERRMODEL_AZIMUTHAL) /* the gather engine reads the CSR */
        return (size_t)it->m.nnz * (sizeof(uint32_t) + sizeof(float)) + per_pixel;
    if (it->opt.error_model == AZS_ERRMODEL_NONE) {
        const azs_tiled *t = &it->tiled;
        const size_t pass = (size_t)t->nrows * AZS_LANES * (sizeof *t->local + sizeof *t->weight) +
                            (size_t)t->ntiles * AZS_TILE_PX + (it->dark ? per_pixel / 2 : 0);
        return pass / (size_t)(frames_per_pass > 1 ? frames_per_pass : 1);
    }
    return azs_tiled_memory(&it->tiled, it->m.nbins) + per_pixel;
}

azs_status azs_integrator_csr(const azs_integrator *it, azs_csr_view *v)
{
    if (!it || !v) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL argument");
    v->nbins = it->m.nbins;
    v->npixels = it->npix;
    v->indptr = it->m.indptr;
    v->indices = it->m.indices;
    v->weights = it->m.weights;
    v->norm_factor = it->norm;
    v->dark = it->dark;
    v->rule = it->ctx.rule;
    v->tile_px = AZS_TILE_PX;
    return AZS_OK;
}

azs_status azs_workspace_create(const azs_integrator *it, azs_workspace **out)
{
    *out = NULL;
    azs_workspace *ws = calloc(1, sizeof *ws);
    if (!ws) return azs_fail(AZS_ERR_NOMEM, "integrate: workspace");
    ws->acc = azs_aligned_alloc(((size_t)it->m.nbins + 1) * 5 * sizeof(double));
    ws->scratch = azs_aligned_alloc(azs_tiled_scratch_bytes(&it->tiled));
    ws->tile = azs_aligned_alloc(azs_tiled_buffer_bytes());
    ws->stage = azs_aligned_alloc(azs_tiled_stage_bytes());
    ws->scratch_block = azs_aligned_alloc(AZS_FUSED_MAX_BLOCK);
    ws->xbuf = azs_aligned_alloc(azs_tiled_xbuf_bytes());
    int ok = ws->xbuf != NULL;
    for (int j = 0; j < AZS_BATCH_MAX - 1; j++) {
        ws->b_acc[j] = azs_aligned_alloc(((size_t)it->m.nbins + 1) * 5 * sizeof(double));
        ws->b_tile[j] = azs_aligned_alloc(azs_tiled_buffer_bytes());
        ws->b_stage[j] = azs_aligned_alloc(azs_tiled_stage_bytes());
        ok &= ws->b_acc[j] && ws->b_tile[j] && ws->b_stage[j];
    }
    if (!ok || !ws->acc || !ws->scratch || !ws->tile || !ws->stage || !ws->scratch_block) {
        azs_workspace_destroy(ws);
        return azs_fail(AZS_ERR_NOMEM, "integrate: workspace for %u bins", it->m.nbins);
    }
    *out = ws;
    return AZS_OK;
}

void azs_workspace_destroy(azs_workspace *ws)
{
    if (!ws) return;
    azs_aligned_free(ws->acc);
    azs_aligned_free(ws->scratch);
    azs_aligned_free(ws->tile);
    azs_aligned_free(ws->stage);
    azs_aligned_free(ws->scratch_block);
    azs_aligned_free(ws->xbuf);
    for (int j = 0; j < AZS_BATCH_MAX - 1; j++) {
        azs_aligned_free(ws->b_acc[j]);
        azs_aligned_free(ws->b_tile[j]);
        azs_aligned_free(ws->b_stage[j]);
    }
    free(ws);
}

/* The azimuthal-model gather (pixel_rules.h: skipped pixels left out, azs_azim_update over
 * the row), one instantiation per dtype. The pixels of a bin are scattered over the frame,
 * which the hardware prefetchers cannot follow: prefetch a few entries ahead (indices[] is
 * padded, AZS_CSR_PAD, so reading ahead stays in bounds). */
#define AZS_PF_DIST 24
#define AZS_GATHER(NAME, T)                                                                    \
    static void NAME(const azs_integrator *restrict it, const T *restrict px, uint32_t b0,   \
                     uint32_t b1, const azs_frame_result *out)                               \
    {                                                                                        \
        const uint64_t *restrict ip = it->m.indptr;                                          \
        const uint32_t *restrict ix = it->m.indices;                                         \
        const float *restrict wt = it->m.weights;                                            \
        const float *restrict nf = it->norm;                                                 \
        const float *restrict dk = it->dark;                                                 \
        const azs_pixel_rule *r = &it->ctx.rule;                                             \
        const int mode = azs_dummy_mode(r);                                                  \
        for (uint32_t b = b0; b < b1; b++) {                                                 \
            azs_bin_sums s = {0, 0, 0, 0, 0};                                                \
            for (uint64_t k = ip[b]; k < ip[b + 1]; k++) {                                   \
                uint32_t p = ix[k];                                                          \
                __builtin_prefetch(px + ix[k + AZS_PF_DIST], 0, 0);                          \
                const float v = AZS_PIXEL_FLOAT(px[p]);                                      \
                if (!azs_pixel_kept(v, mode, r->dummy, r->delta_dummy)) continue;            \
                const float sg = dk ? azs_pixel_signal(v, dk[p]) : v;                        \
                azs_azim_update(&s, (double)wt[k], (double)sg, (double)nf[p]);               \
            }                                                                                \
            azs_store_bin(out, b, &s, r->empty);                                             \
        }                                                                                    \
    }

AZS_GATHER(gather_u8, uint8_t)
AZS_GATHER(gather_u16, uint16_t)
AZS_GATHER(gather_u32, uint32_t)
AZS_GATHER(gather_i8, int8_t)
AZS_GATHER(gather_i16, int16_t)
AZS_GATHER(gather_i32, int32_t)
AZS_GATHER(gather_u64, uint64_t)
AZS_GATHER(gather_i64, int64_t)
AZS_GATHER(gather_f32, float)
AZS_GATHER(gather_f64, double)

static azs_status gather_range(const azs_integrator *it, const void *px, azs_dtype t,
                               uint32_t b0, uint32_t b1, const azs_frame_result *out)
{
    switch (t) {
    case AZS_U8: gather_u8(it, px, b0, b1, out); break;
    case AZS_U16: gather_u16(it, px, b0, b1, out); break;
    case AZS_U32: gather_u32(it, px, b0, b1, out); break;
    case AZS_I8: gather_i8(it, px, b0, b1, out); break;
    case AZS_I16: gather_i16(it, px, b0, b1, out); break;
    case AZS_I32: gather_i32(it, px, b0, b1, out); break;
    case AZS_U64: gather_u64(it, px, b0, b1, out); break;
    case AZS_I64: gather_i64(it, px, b0, b1, out); break;
    case AZS_F32: gather_f32(it, px, b0, b1, out); break;
    case AZS_F64: gather_f64(it, px, b0, b1, out); break;
    default: return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(t));
    }
    return AZS_OK;
}

static azs_status check_args(const azs_integrator *it, const void *px, azs_dtype t,
                             const azs_frame_result *out)
{
    if (!it || !px || !out) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL argument");
    if (azs_dtype_size(t) == 0)
        return azs_fail(AZS_ERR_UNSUPPORTED, "integrate: pixel type %s", azs_dtype_name(t));
    return AZS_OK;
}

azs_status azs_integrate_frame(const azs_integrator *it, azs_workspace *ws, const void *px,
                               azs_dtype t, const azs_frame_result *out)
{
    azs_status st = check_args(it, px, t, out);
    if (st != AZS_OK) return st;
    if (it->opt.error_model == AZS_ERRMODEL_AZIMUTHAL)
        return gather_range(it, px, t, 0, it->m.nbins, out);
    if (!ws) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL workspace");
    return azs_tiled_frame(&it->ctx, px, t, out, ws->acc, ws->tile);
}

azs_status azs_integrate_chunk(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                               azs_dtype t, const void *chunk, size_t chunk_size, void *frame_buf,
                               const azs_frame_result *out)
{
    if (!it || !chunk || !out) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL argument");
    const size_t es = azs_dtype_size(t), frame_bytes = it->npix * es;
    azs_status st;
    if (codec == AZS_CODEC_BSLZ4 && it->opt.error_model != AZS_ERRMODEL_AZIMUTHAL && ws &&
        es > 0 && t != AZS_U64 && t != AZS_I64) {
        azs_bslz4_blocks bl;
        if ((st = azs_bslz4_blocks_init(&bl, es, chunk, chunk_size)) != AZS_OK) return st;
        if (bl.total_bytes != frame_bytes)
            return azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk decodes to %llu bytes, frame needs %zu",
                            (unsigned long long)bl.total_bytes, frame_bytes);
        if (bl.max_block_bytes <= AZS_FUSED_MAX_BLOCK)
            return azs_tiled_chunk(&it->ctx, &bl, t, out, ws->acc, ws->tile, ws->stage,
                                   ws->scratch_block);
    }
    if (!frame_buf) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL frame buffer");
    size_t got = 0;
    if ((st = azs_chunk_decode(codec, es, chunk, chunk_size, frame_buf, frame_bytes, &got)) != AZS_OK)
        return st;
    if (got != frame_bytes)
        return azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk decodes to %zu bytes, frame needs %zu", got,
                        frame_bytes);
    return azs_integrate_frame(it, ws, frame_buf, t, out);
}

/* Can this chunk go in a batch? Then bl is ready for azs_tiled_chunks. */
static int batchable(const azs_integrator *it, azs_codec codec, azs_dtype t, const void *chunk,
                     size_t chunk_size, const azs_frame_result *out, azs_bslz4_blocks *bl)
{
    const size_t es = azs_dtype_size(t);
    if (codec != AZS_CODEC_BSLZ4 || it->opt.error_model == AZS_ERRMODEL_AZIMUTHAL || es == 0 ||
        t == AZS_U64 || t == AZS_I64 || !chunk || azs_tiled_wants_full(&it->ctx, out))
        return 0;
    /* A bad header is reported by azs_integrate_chunk, frame by frame. */
    if (azs_bslz4_blocks_init(bl, es, chunk, chunk_size) != AZS_OK) return 0;
    return bl->total_bytes == it->npix * es && bl->max_block_bytes <= AZS_FUSED_MAX_BLOCK;
}

azs_status azs_integrate_chunks(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                                azs_dtype t, int n, const void *const *chunks,
                                const size_t *chunk_sizes, void *frame_buf,
                                const azs_frame_result *out, azs_status *status, char *msgs,
                                size_t msg_len)
{
    if (!it || !ws || !chunks || !chunk_sizes || !out || !status || n < 1 || n > AZS_BATCH_MAX ||
        (msgs && !msg_len))
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: bad batch arguments (%d frames)", n);
    azs_bslz4_blocks bl[AZS_BATCH_MAX];
    azs_frame_result bo[AZS_BATCH_MAX];
    double *acc[AZS_BATCH_MAX];
    void *tile[AZS_BATCH_MAX], *stage[AZS_BATCH_MAX];
    azs_status bst[AZS_BATCH_MAX];
    char msg[AZS_BATCH_MAX][512], bmsg[AZS_BATCH_MAX][512];
    int who[AZS_BATCH_MAX], nb = 0;
    for (int j = 0; j < n; j++) {
        msg[j][0] = '\0';
        if (batchable(it, codec, t, chunks[j], chunk_sizes[j], &out[j], &bl[nb])) {
            bo[nb] = out[j];
            acc[nb] = nb ? ws->b_acc[nb - 1] : ws->acc;
            tile[nb] = nb ? ws->b_tile[nb - 1] : ws->tile;
            stage[nb] = nb ? ws->b_stage[nb - 1] : ws->stage;
            who[nb++] = j;
            continue;
        }
        status[j] = azs_integrate_chunk(it, ws, codec, t, chunks[j], chunk_sizes[j], frame_buf,
                                        &out[j]);
        if (status[j] != AZS_OK) snprintf(msg[j], sizeof msg[j], "%s", azs_last_error());
    }
    if (nb) {
        azs_status st = azs_tiled_chunks(&it->ctx, bl, nb, t, bo, acc, tile, stage,
                                         ws->scratch_block, ws->xbuf, bst, &bmsg[0][0],
                                         sizeof bmsg[0]);
        if (st != AZS_OK) return st; /* arguments checked above: not expected */
        for (int k = 0; k < nb; k++) {
            status[who[k]] = bst[k];
            if (bst[k] != AZS_OK) memcpy(msg[who[k]], bmsg[k], sizeof msg[0]);
        }
    }
    azs_status first = AZS_OK;
    for (int j = n - 1; j >= 0; j--) {
        if (status[j] == AZS_OK) continue;
        if (msgs) snprintf(msgs + (size_t)j * msg_len, msg_len, "%s", msg[j]);
        first = status[j];
    }
    /* The error the caller sees is the first failed frame's. */
    for (int j = 0; j < n; j++)
        if (status[j] != AZS_OK) return azs_fail(first, "%s", msg[j]);
    return AZS_OK;
}

azs_status azs_integrate_frame_omp(const azs_integrator *it, azs_workspace *ws, const void *px,
                                   azs_dtype t, const azs_frame_result *out)
{
    azs_status st = check_args(it, px, t, out);
    if (st != AZS_OK) return st;
    if (it->opt.error_model != AZS_ERRMODEL_AZIMUTHAL) {
        if (!ws) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: NULL workspace");
        return azs_tiled_frame_omp(&it->ctx, px, t, out, ws->scratch);
    }
    const uint32_t nb = it->m.nbins, chunk = 64;
    const uint32_t nchunks = (nb + chunk - 1) / chunk;
    /* Bins in chunks of 64 (dynamic: rows differ in length); each bin is summed by one
     * thread in row order, so the result equals the serial engine's bit for bit. */
#pragma omp parallel for schedule(dynamic, 1)
    for (uint32_t c = 0; c < nchunks; c++) {
        uint32_t b0 = c * chunk, b1 = b0 + chunk < nb ? b0 + chunk : nb;
        gather_range(it, px, t, b0, b1, out);
    }
    return AZS_OK;
}
