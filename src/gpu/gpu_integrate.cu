// GPU integration of layout 3's batches: the CPU engine's profiles bit for bit. The
// per-pixel rules and the order of the sums are src/integrate/pixel_rules.h, compiled here
// as in the CPU engines (built with -fmad=false: no contraction changes a rounding).
//
// Error models none and poisson. Each CSR row (bin) is cut where its pixels change tile
// (p / tile_px): the segments of the CPU's tiled engine. A warp takes 32 frames of the
// batch, one per lane, and either one segment (seg mode: the segment's sums go to d_part,
// then fold_kernel adds a bin's segments in row order, one thread per (frame, bin)) or one
// whole bin (row mode, for matrices with many bins, e.g. 2D: the warp adds its segments
// itself; no partial sums in memory). Each lane sums a segment's entries in order from
// +0.0 in double, as a CPU lane does; the entries are read 32 at a time (coalesced) and
// passed along the warp with shuffles. The decoded frames are first transposed to
// pixel-major (the batch's frames side by side, transpose_kernel), so that the 32 lanes'
// pixels of an entry are one coalesced load: frame-major, they were 32 cache lines per
// load and the kernel was L1-bound at about half the speed of the v1 kernel.
// Error model azimuthal: one warp per (bin, 32 frames), the one-pass update over the whole
// row, as the CPU's gather. (ptxas reports spills of ~24 bytes in the kernels that divide,
// row mode and azimuthal: the double division's slow path is a call; they are not in the
// entry loop of the sums kernels.)
#include <math.h>
#include <stdlib.h>

#include "gpu_internal.h"
#include "integrate/pixel_rules.h"

#define INT_WARPS 4     // warps per CTA of the integration kernels
#define UNROLL 8        // pixel loads in flight per lane (divides 32)
#define NQ 3            // per segment and frame: Σ w·signal, Σ (w·w)·variance, Σ w·norm
#define ROW_MODE_BINS 8192 // from this many bins a warp per bin keeps the GPU busy
#define FULL_MASK 0xffffffffu

struct rule_args {
    float dummy, delta;
};

// The entries [k0, k0 + n) (n ≤ 32) of the matrix, one per lane, for the shuffles.
struct entries {
    uint32_t p;
    float w, nf, dk;
};

template <bool DARK>
__device__ __forceinline__ entries load_entries(uint64_t k0, uint32_t n, int lane,
                                                const uint32_t *__restrict__ indices,
                                                const float *__restrict__ weights,
                                                const float *__restrict__ norm,
                                                const float *__restrict__ dark)
{
    entries e = {0, 0.0f, 0.0f, 0.0f};
    if ((uint32_t)lane < n) {
        e.p = __ldg(&indices[k0 + lane]);
        e.w = __ldg(&weights[k0 + lane]);
        e.nf = __ldg(&norm[e.p]);
        if (DARK)
            e.dk = __ldg(&dark[e.p]);
    }
    return e;
}

// Sums of the entries [k0, k0 + len) of the matrix for this lane's frame (pixel p at
// px[p * bstride]; live: the lane has a frame to integrate), from +0.0 in entry order
// (pixel_rules.h).
template <typename T, bool DARK, bool VAR, int MODE, bool VDARK>
__device__ __forceinline__ void segment_sums(const T *__restrict__ px, uint32_t bstride, bool live,
                                             uint64_t k0,
                                             uint32_t len, int lane,
                                             const uint32_t *__restrict__ indices,
                                             const float *__restrict__ weights,
                                             const float *__restrict__ norm,
                                             const float *__restrict__ dark, rule_args ra,
                                             double *sg_out, double *vr_out, double *nm_out)
{
    double sg = 0.0, vr = 0.0, nm = 0.0;
    for (uint32_t j32 = 0; j32 < len; j32 += 32) {
        const uint32_t n = len - j32 < 32 ? len - j32 : 32;
        const entries e = load_entries<DARK>(k0 + j32, n, lane, indices, weights, norm, dark);
        for (uint32_t j0 = 0; j0 < n; j0 += UNROLL) {
            T x[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) { // issue the loads before the first use
                const uint32_t p = __shfl_sync(FULL_MASK, e.p, j0 + u);
                x[u] = live && j0 + u < n ? __ldg(px + (size_t)p * bstride) : (T)0;
            }
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                const float w = __shfl_sync(FULL_MASK, e.w, j0 + u);
                const float nf = __shfl_sync(FULL_MASK, e.nf, j0 + u);
                const float d = DARK ? __shfl_sync(FULL_MASK, e.dk, j0 + u) : 0.0f;
                if (j0 + u >= n) // the same for every lane
                    break;
                const float v = azs_pixel_float(x[u]);
                const bool ok = azs_pixel_kept(v, MODE, ra.dummy, ra.delta);
                // a skipped pixel adds exact zeros, as the CPU's preprocessed tile holds
                const float s = ok ? (DARK ? azs_pixel_signal(v, d) : v) : 0.0f;
                const float nrm = ok ? nf : 0.0f;
                const double wd = (double)w;
                sg += wd * (double)s;
                nm += wd * (double)nrm;
                if (VAR) {
                    const float var = ok ? azs_pixel_variance(v, d, VDARK) : 0.0f;
                    vr += (wd * wd) * (double)var;
                }
            }
        }
    }
    *sg_out = sg;
    *vr_out = vr;
    *nm_out = nm;
}

struct seg_args {
    size_t stride;        // elements between frames of d_raw
    uint32_t nframes, ngroups, batch, nbins, nunits;
    const int32_t *status;
    const uint32_t *seg_start, *seg_len, *row_seg, *indices;
    const float *weights, *norm, *dark;
    double *part;         // seg mode
    double *inten, *sig;  // row mode
};

// ROWS: one warp per (bin, 32 frames), else one warp per (segment, 32 frames).
template <typename T, bool DARK, bool VAR, int MODE, bool VDARK, bool ROWS>
__global__ void __launch_bounds__(INT_WARPS * 32)
sums_kernel(const T *__restrict__ raw, seg_args a, rule_args ra)
{
    const int lane = threadIdx.x % 32;
    const uint64_t id = (uint64_t)blockIdx.x * INT_WARPS + threadIdx.x / 32;
    const uint32_t unit = (uint32_t)(id / a.ngroups), fg = (uint32_t)(id % a.ngroups);
    if (unit >= a.nunits) // the same for every lane of the warp
        return;
    const uint32_t f = fg * 32 + lane;
    const bool live = f < a.nframes && a.status[f] == 0;
    const T *px = raw + (live ? f : 0);
    const uint32_t g0 = ROWS ? a.row_seg[unit] : unit, g1 = ROWS ? a.row_seg[unit + 1] : unit + 1;
    azs_bin_sums acc = {0.0, 0.0, 0.0, 0.0, 0.0};
    for (uint32_t g = g0; g < g1; g++) {
        double sg, vr, nm;
        segment_sums<T, DARK, VAR, MODE, VDARK>(px, a.batch, live, a.seg_start[g], a.seg_len[g],
                                                lane,
                                                a.indices, a.weights, a.norm, a.dark, ra,
                                                &sg, &vr, &nm);
        if (ROWS) { // the bin's sums from +0.0, segment by segment in row order
            acc.sig += sg;
            acc.var += vr;
            acc.nrm += nm;
        } else if (f < a.batch) {
            double *o = a.part + ((size_t)g * a.batch + f) * NQ;
            o[0] = sg;
            o[1] = vr;
            o[2] = nm;
        }
    }
    if (ROWS && f < a.nframes) {
        a.inten[(size_t)f * a.nbins + unit] = azs_bin_intensity(&acc);
        if (VAR)
            a.sig[(size_t)f * a.nbins + unit] = azs_bin_sem(&acc);
    }
}

// d_raw (frame f at raw + f * stride) → d_rawT (pixel p of frame f at p * batch + f):
// tiles of 32 pixels × 32 frames through shared memory, reads and writes coalesced.
template <typename T>
__global__ void __launch_bounds__(256)
transpose_kernel(const T *__restrict__ raw, size_t stride, uint64_t npix, uint32_t nframes,
                 uint32_t batch, T *__restrict__ rawT)
{
    __shared__ T tile[32][33];
    const uint64_t p0 = (uint64_t)blockIdx.x * 32;
    const uint32_t f0 = blockIdx.y * 32;
    for (uint32_t r = threadIdx.y; r < 32; r += 8) { // r: frame within the tile
        const uint64_t p = p0 + threadIdx.x;
        if (f0 + r < nframes && p < npix)
            tile[r][threadIdx.x] = raw[(size_t)(f0 + r) * stride + p];
    }
    __syncthreads();
    for (uint32_t r = threadIdx.y; r < 32; r += 8) { // r: pixel within the tile
        const uint64_t p = p0 + r;
        if (f0 + threadIdx.x < nframes && p < npix)
            rawT[(size_t)p * batch + f0 + threadIdx.x] = tile[threadIdx.x][r];
    }
}

// Seg mode: one thread per (frame, bin) adds the bin's segment sums in row order.
__global__ void fold_kernel(const double *__restrict__ part, const uint32_t *__restrict__ row_seg,
                            uint32_t nbins, uint32_t nframes, uint32_t batch, int want_sigma,
                            double *__restrict__ inten, double *__restrict__ sig)
{
    const uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (uint64_t)nbins * nframes)
        return;
    const uint32_t f = (uint32_t)(t / nbins), b = (uint32_t)(t % nbins);
    azs_bin_sums s = {0.0, 0.0, 0.0, 0.0, 0.0};
    for (uint32_t g = row_seg[b]; g < row_seg[b + 1]; g++) {
        const double *q = part + ((size_t)g * batch + f) * NQ;
        s.sig += q[0];
        s.var += q[1];
        s.nrm += q[2];
    }
    inten[(size_t)f * nbins + b] = azs_bin_intensity(&s);
    if (want_sigma)
        sig[(size_t)f * nbins + b] = azs_bin_sem(&s);
}

// Error model azimuthal: one warp per (bin, 32 frames), lane = frame; skipped pixels are
// left out and azs_azim_update runs over the row in entry order, as the CPU's gather.
template <typename T, bool DARK, int MODE>
__global__ void __launch_bounds__(INT_WARPS * 32)
azim_kernel(const T *__restrict__ raw, seg_args a, const uint64_t *__restrict__ indptr,
            rule_args ra)
{
    const int lane = threadIdx.x % 32;
    const uint64_t id = (uint64_t)blockIdx.x * INT_WARPS + threadIdx.x / 32;
    const uint32_t b = (uint32_t)(id / a.ngroups), fg = (uint32_t)(id % a.ngroups);
    if (b >= a.nbins)
        return;
    const uint32_t f = fg * 32 + lane;
    const bool live = f < a.nframes && a.status[f] == 0;
    const T *px = raw + (live ? f : 0);
    azs_bin_sums s = {0.0, 0.0, 0.0, 0.0, 0.0};
    const uint64_t k1 = indptr[b + 1];
    for (uint64_t k0 = indptr[b]; k0 < k1; k0 += 32) {
        const uint32_t n = k1 - k0 < 32 ? (uint32_t)(k1 - k0) : 32;
        const entries e = load_entries<DARK>(k0, n, lane, a.indices, a.weights, a.norm, a.dark);
        for (uint32_t j0 = 0; j0 < n; j0 += UNROLL) {
            T x[UNROLL];
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                const uint32_t p = __shfl_sync(FULL_MASK, e.p, j0 + u);
                x[u] = live && j0 + u < n ? __ldg(px + (size_t)p * a.batch) : (T)0;
            }
#pragma unroll
            for (int u = 0; u < UNROLL; u++) {
                const float w = __shfl_sync(FULL_MASK, e.w, j0 + u);
                const float nf = __shfl_sync(FULL_MASK, e.nf, j0 + u);
                const float d = DARK ? __shfl_sync(FULL_MASK, e.dk, j0 + u) : 0.0f;
                if (j0 + u >= n)
                    break;
                const float v = azs_pixel_float(x[u]);
                if (!live || !azs_pixel_kept(v, MODE, ra.dummy, ra.delta))
                    continue;
                const float sgn = DARK ? azs_pixel_signal(v, d) : v;
                azs_azim_update(&s, (double)w, (double)sgn, (double)nf);
            }
        }
    }
    if (f < a.nframes) {
        a.inten[(size_t)f * a.nbins + b] = azs_bin_intensity(&s);
        a.sig[(size_t)f * a.nbins + b] = azs_bin_sem(&s);
    }
}

// ---------------------------------------------------------------------------------------
// Matrix upload

void azs_gpu_free_csr(azs_gpu_engine *e)
{
    cudaFree(e->d_seg_start);
    cudaFree(e->d_seg_len);
    cudaFree(e->d_row_seg);
    cudaFree(e->d_indptr);
    cudaFree(e->d_indices);
    cudaFree(e->d_weights);
    cudaFree(e->d_norm);
    cudaFree(e->d_dark);
}

static int row_mode(const azs_gpu_engine *e) { return e->nbins >= ROW_MODE_BINS; }

size_t azs_gpu_part_doubles(const azs_gpu_engine *e)
{
    if (e->rule.error_model == AZS_ERRMODEL_AZIMUTHAL || row_mode(e))
        return 1;
    return ((size_t)e->nseg + 1) * NQ;
}

azs_status azs_gpu_upload_csr(azs_gpu_engine *e, const azs_csr_view *v)
{
    e->nbins = v->nbins;
    e->rule = v->rule;
    if (v->npixels != e->c.npixels)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu: matrix has %llu pixels, frames %llu",
                        (unsigned long long)v->npixels, (unsigned long long)e->c.npixels);
    const uint64_t nnz = v->indptr[v->nbins];
    if (nnz >= UINT32_MAX)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: %llu matrix entries (32-bit offsets)",
                        (unsigned long long)nnz);
    // Segments: a row cut where its pixels change tile (tile_px 0: whole rows), as the
    // CPU's tiled engine sums them; that needs rows in increasing pixel order.
    const uint64_t tp = v->tile_px ? v->tile_px : UINT64_MAX;
    uint64_t nseg = 0;
    for (uint32_t b = 0; b < v->nbins; b++)
        for (uint64_t k = v->indptr[b]; k < v->indptr[b + 1]; k++) {
            if (k > v->indptr[b] && v->indices[k] < v->indices[k - 1])
                return azs_fail(AZS_ERR_INVALID_ARG, "gpu: row %u of the matrix is not in "
                                "increasing pixel order (entry %llu)", b, (unsigned long long)k);
            nseg += k == v->indptr[b] || v->indices[k] / tp != v->indices[k - 1] / tp;
        }
    if (nseg >= UINT32_MAX)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: %llu segments", (unsigned long long)nseg);
    uint32_t *seg_start = (uint32_t *)malloc((nseg + 1) * sizeof(uint32_t));
    uint32_t *seg_len = (uint32_t *)malloc((nseg + 1) * sizeof(uint32_t));
    uint32_t *row_seg = (uint32_t *)malloc(((size_t)v->nbins + 1) * sizeof(uint32_t));
    if (!seg_start || !seg_len || !row_seg) {
        free(seg_start);
        free(seg_len);
        free(row_seg);
        return azs_fail(AZS_ERR_NOMEM, "gpu: segment table for %llu segments",
                        (unsigned long long)nseg);
    }
    uint32_t g = 0;
    for (uint32_t b = 0; b < v->nbins; b++) {
        row_seg[b] = g;
        for (uint64_t k = v->indptr[b]; k < v->indptr[b + 1]; k++) {
            if (k == v->indptr[b] || v->indices[k] / tp != v->indices[k - 1] / tp) {
                seg_start[g] = (uint32_t)k;
                seg_len[g++] = 0;
            }
            seg_len[g - 1]++;
        }
    }
    row_seg[v->nbins] = g;
    e->nseg = g;
    azs_status st = AZS_OK;
    cudaError_t err = cudaSuccess;
#define UP(dptr, hptr, bytes)                                                              \
    if (err == cudaSuccess) err = cudaMalloc((void **)&(dptr), (bytes) ? (bytes) : 4);     \
    if (err == cudaSuccess && (bytes)) err = cudaMemcpy((dptr), (hptr), (bytes), cudaMemcpyHostToDevice);
    UP(e->d_seg_start, seg_start, (size_t)g * 4);
    UP(e->d_seg_len, seg_len, (size_t)g * 4);
    UP(e->d_row_seg, row_seg, ((size_t)v->nbins + 1) * 4);
    UP(e->d_indptr, v->indptr, ((size_t)v->nbins + 1) * 8);
    UP(e->d_indices, v->indices, nnz * 4);
    UP(e->d_weights, v->weights, nnz * 4);
    UP(e->d_norm, v->norm_factor, e->c.npixels * 4);
    if (v->dark) {
        e->has_dark = 1;
        UP(e->d_dark, v->dark, e->c.npixels * 4);
    }
#undef UP
    if (err != cudaSuccess)
        st = azs_fail(AZS_ERR_GPU, "gpu: uploading the matrix (%llu entries): %s",
                      (unsigned long long)nnz, cudaGetErrorString(err));
    free(seg_start);
    free(seg_len);
    free(row_seg);
    return st;
}

// ---------------------------------------------------------------------------------------
// Launch: one instantiation per (dtype, dark, variance, dummy mode, dark in the variance,
// row mode); the flags are constants in the kernels.

#define LAUNCH(K, GRID, ...) K<<<(GRID), INT_WARPS * 32, 0, sl->stream>>>(__VA_ARGS__)

template <typename T, bool DARK, bool VAR, int MODE>
static void launch_sums_m(const azs_gpu_engine *e, slot_t *sl, const seg_args &a, uint32_t grid,
                          rule_args ra)
{
    const T *raw = (const T *)sl->d_rawT;
    constexpr bool VD = VAR && DARK; // the dark in the variance needs both
    const bool vdark = VD && e->rule.variance_dark;
    if (row_mode(e)) {
        if (vdark) LAUNCH((sums_kernel<T, DARK, VAR, MODE, VD, true>), grid, raw, a, ra);
        else LAUNCH((sums_kernel<T, DARK, VAR, MODE, false, true>), grid, raw, a, ra);
    } else {
        if (vdark) LAUNCH((sums_kernel<T, DARK, VAR, MODE, VD, false>), grid, raw, a, ra);
        else LAUNCH((sums_kernel<T, DARK, VAR, MODE, false, false>), grid, raw, a, ra);
    }
}

template <typename T, bool DARK, bool VAR>
static void launch_sums_v(const azs_gpu_engine *e, slot_t *sl, const seg_args &a, uint32_t grid,
                          rule_args ra)
{
    switch (azs_dummy_mode(&e->rule)) {
    case AZS_DUMMY_NONE: launch_sums_m<T, DARK, VAR, AZS_DUMMY_NONE>(e, sl, a, grid, ra); break;
    case AZS_DUMMY_EXACT: launch_sums_m<T, DARK, VAR, AZS_DUMMY_EXACT>(e, sl, a, grid, ra); break;
    default: launch_sums_m<T, DARK, VAR, AZS_DUMMY_DELTA>(e, sl, a, grid, ra); break;
    }
}

template <typename T, bool DARK>
static void launch_azim_m(const azs_gpu_engine *e, slot_t *sl, const seg_args &a, uint32_t grid,
                          rule_args ra)
{
    const T *raw = (const T *)sl->d_rawT;
    switch (azs_dummy_mode(&e->rule)) {
    case AZS_DUMMY_NONE:
        LAUNCH((azim_kernel<T, DARK, AZS_DUMMY_NONE>), grid, raw, a, e->d_indptr, ra);
        break;
    case AZS_DUMMY_EXACT:
        LAUNCH((azim_kernel<T, DARK, AZS_DUMMY_EXACT>), grid, raw, a, e->d_indptr, ra);
        break;
    default: LAUNCH((azim_kernel<T, DARK, AZS_DUMMY_DELTA>), grid, raw, a, e->d_indptr, ra);
    }
}

template <typename T>
static void launch_t(const azs_gpu_engine *e, slot_t *sl, seg_args &a, uint32_t ngroups)
{
    const rule_args ra = {e->rule.dummy, e->rule.delta_dummy};
    a.stride = e->raw_stride / sizeof(T);
    const dim3 tgrid((uint32_t)((e->c.npixels + 31) / 32), ngroups), tblock(32, 8);
    transpose_kernel<T><<<tgrid, tblock, 0, sl->stream>>>((const T *)sl->d_raw, a.stride,
                                                           e->c.npixels, a.nframes, a.batch,
                                                           (T *)sl->d_rawT);
    if (e->rule.error_model == AZS_ERRMODEL_AZIMUTHAL) {
        a.nunits = e->nbins;
        const uint32_t grid = (uint32_t)(((uint64_t)a.nunits * ngroups + INT_WARPS - 1) / INT_WARPS);
        if (e->has_dark) launch_azim_m<T, true>(e, sl, a, grid, ra);
        else launch_azim_m<T, false>(e, sl, a, grid, ra);
        return;
    }
    a.nunits = row_mode(e) ? e->nbins : e->nseg;
    const uint32_t grid = (uint32_t)(((uint64_t)a.nunits * ngroups + INT_WARPS - 1) / INT_WARPS);
    if (grid == 0) // no entries at all: fold_kernel writes the empty bins
        return;
    if (e->has_dark && e->want_sigma) launch_sums_v<T, true, true>(e, sl, a, grid, ra);
    else if (e->has_dark) launch_sums_v<T, true, false>(e, sl, a, grid, ra);
    else if (e->want_sigma) launch_sums_v<T, false, true>(e, sl, a, grid, ra);
    else launch_sums_v<T, false, false>(e, sl, a, grid, ra);
}

cudaError_t azs_gpu_launch_integrate(azs_gpu_engine *e, slot_t *sl)
{
    if (!e->has_csr || sl->nframes == 0 || e->nbins == 0)
        return cudaSuccess;
    const uint32_t ngroups = (sl->nframes + 31) / 32;
    seg_args a;
    a.nframes = sl->nframes;
    a.ngroups = ngroups;
    a.batch = e->c.batch;
    a.nbins = e->nbins;
    a.status = sl->d_status;
    a.seg_start = e->d_seg_start;
    a.seg_len = e->d_seg_len;
    a.row_seg = e->d_row_seg;
    a.indices = e->d_indices;
    a.weights = e->d_weights;
    a.norm = e->d_norm;
    a.dark = e->d_dark;
    a.part = sl->d_part;
    a.inten = sl->d_int;
    a.sig = sl->d_sig;
    switch (e->c.dtype) {
    case AZS_U8: launch_t<uint8_t>(e, sl, a, ngroups); break;
    case AZS_U16: launch_t<uint16_t>(e, sl, a, ngroups); break;
    case AZS_U32: launch_t<uint32_t>(e, sl, a, ngroups); break;
    case AZS_I8: launch_t<int8_t>(e, sl, a, ngroups); break;
    case AZS_I16: launch_t<int16_t>(e, sl, a, ngroups); break;
    case AZS_I32: launch_t<int32_t>(e, sl, a, ngroups); break;
    case AZS_F32: launch_t<float>(e, sl, a, ngroups); break;
    case AZS_F64: launch_t<double>(e, sl, a, ngroups); break;
    default: return cudaErrorInvalidValue;
    }
    cudaError_t err = cudaGetLastError();
    if (err != cudaSuccess || e->rule.error_model == AZS_ERRMODEL_AZIMUTHAL || row_mode(e))
        return err;
    const uint64_t nt = (uint64_t)e->nbins * sl->nframes;
    fold_kernel<<<(uint32_t)((nt + 255) / 256), 256, 0, sl->stream>>>(
        sl->d_part, e->d_row_seg, e->nbins, sl->nframes, e->c.batch, e->want_sigma, sl->d_int,
        sl->d_sig);
    return cudaGetLastError();
}
