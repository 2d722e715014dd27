/* The pixel-tiled form of the matrix (design: tiled.h), derived once from the CSR: rows
 * cut into per-tile segments, sorted by length and packed AZS_LANES to a group. The
 * engine that streams it is tiled.c; its kernels are tiled_kernels.c. */
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"
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
