// GPU engine of layout 3: decode (LZ4 + bit-unshuffle) and integrate (CSR SpMM) batches of
// frames. Design and measurements: doc/gpu-notes.md. Public contract: azstream/gpu.h.
//
// Data flow per batch slot (one CUDA stream each):
//   pinned chunks --H2D--> d_comp --decode_kernel--> d_raw (decoded frames, native dtype,
//   frame-major) --spmm_kernel--> d_part (per segment partial sums) --finalize_kernel-->
//   d_int / d_sig --D2H--> pinned profiles.
//
// Decode: one warp per item (one LZ4 block of one frame). All lanes parse the LZ4 sequence
// headers redundantly (uniform control flow, broadcast loads); literal and match copies are
// spread over the lanes; an overlapping match (offset < length) is periodic, so byte i of
// it is out[op - off + i % off], which lets every lane copy in one pass. Bitshuffle blocks
// are decoded into shared memory, then each lane unshuffles 8 elements at a time (an 8×8
// bit transpose per output byte) and writes them to d_raw. Every length is checked: a
// corrupt block sets the frame's status (first error wins), never an out-of-bounds access;
// each loop consumes at least one input byte, so it terminates.
//
// Integrate: frame-major decoded frames make the decoder's writes contiguous; the SpMM then
// gathers pixel values of consecutive CSR entries (consecutive pixels of a ring), which
// coalesce. The nnz are cut into segments of at most SEG entries (a row = one bin may span
// several); one warp handles one (segment, 8-frame chunk) and keeps 8×5 double sums in
// registers, so a matrix entry read from memory serves 8 frames and, with the chunk index
// fastest in the grid, the other chunks of the batch read it from L2. Partials are summed
// per bin in a fixed order (deterministic results) by finalize_kernel.
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// common/error.h and types.h carry no extern "C" guards of their own.
extern "C" {
#include "azstream/gpu.h"
#include "common/error.h"
}

#define SEG 1024          // CSR entries per segment
#define FCHUNK 8          // frames per SpMM warp
#define DEC_WARPS 4       // warps (items) per decode CTA
#define SPMM_WARPS 4
#define NSUM 5            // Σ w·signal, Σ w²·variance, Σ w·norm, Σ (w·norm)², Σ w

#define CK(call)                                                                          \
    do {                                                                                  \
        cudaError_t err_ = (call);                                                        \
        if (err_ != cudaSuccess)                                                          \
            return azs_fail(AZS_ERR_GPU, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cudaGetErrorString(err_));                                    \
    } while (0)

extern "C" int azs_gpu_available(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    return n;
}

extern "C" void azs_gpu_config_default(azs_gpu_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->nslots = 3;
    c->codec = AZS_CODEC_BSLZ4;
    c->dtype = AZS_U32;
}

// ---------------------------------------------------------------------------------------
// Decode

__device__ __forceinline__ void set_status(int32_t *st, uint32_t f, int32_t code)
{
    atomicCAS(&st[f], 0, code);
}

// Decode one raw LZ4 block src[0, n) into out[0, cap) with the whole warp; returns 0 or an
// azs_status. out may be shared or global memory (generic pointer); __syncwarp orders the
// lanes' writes before a match reads them.
__device__ int lz4_block_warp(const uint8_t *__restrict__ src, uint32_t n, uint8_t *out,
                              uint32_t want, int lane)
{
    uint32_t ip = 0, op = 0;
    for (;;) {
        if (ip >= n)
            return AZS_ERR_TRUNCATED;
        uint32_t token = src[ip++];
        uint32_t lit = token >> 4;
        if (lit == 15) {
            uint32_t b;
            do {
                if (ip >= n)
                    return AZS_ERR_TRUNCATED;
                b = src[ip++];
                lit += b;
            } while (b == 255 && lit <= want);
        }
        if (lit > n - ip)
            return AZS_ERR_TRUNCATED;
        if (lit > want - op)
            return AZS_ERR_CORRUPT;
        for (uint32_t i = lane; i < lit; i += 32)
            out[op + i] = src[ip + i];
        ip += lit;
        op += lit;
        if (ip == n)
            break; // the last sequence has literals only
        if (n - ip < 2)
            return AZS_ERR_TRUNCATED;
        uint32_t off = src[ip] | ((uint32_t)src[ip + 1] << 8);
        ip += 2;
        if (off == 0 || off > op)
            return AZS_ERR_CORRUPT;
        uint32_t ml = token & 15;
        if (ml == 15) {
            uint32_t b;
            do {
                if (ip >= n)
                    return AZS_ERR_TRUNCATED;
                b = src[ip++];
                ml += b;
            } while (b == 255 && ml <= want);
        }
        ml += 4;
        if (ml > want - op)
            return AZS_ERR_CORRUPT;
        __syncwarp();
        const uint8_t *from = out + op - off;
        if (off >= ml) {
            for (uint32_t i = lane; i < ml; i += 32)
                out[op + i] = from[i];
        } else {
            for (uint32_t i = lane; i < ml; i += 32)
                out[op + i] = from[i % off];
        }
        __syncwarp();
        op += ml;
    }
    __syncwarp();
    return op == want ? 0 : AZS_ERR_SIZE_MISMATCH;
}

// Transpose an 8×8 bit matrix held as 8 bytes (row r = byte r, column c = bit c).
__device__ __forceinline__ uint64_t transpose8(uint64_t x)
{
    uint64_t t;
    t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
    x = x ^ t ^ (t << 7);
    t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
    x = x ^ t ^ (t << 14);
    t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
    x = x ^ t ^ (t << 28);
    return x;
}

// Unshuffle m elements (m % 8 == 0) of S bytes from sh (8·S rows of m/8 bytes) to dst.
template <int S>
__device__ void unshuffle_warp(const uint8_t *sh, uint32_t m, uint8_t *__restrict__ dst, int lane)
{
    const uint32_t cols = m / 8;
    for (uint32_t j = lane; j < cols; j += 32) {
        uint64_t outw[S]; // outw[q]: 8 bytes of output holding elements 8j.. (8 bytes each)
        uint8_t ob[8 * S];
#pragma unroll
        for (int b = 0; b < S; b++) {
            uint64_t x = 0;
#pragma unroll
            for (int k = 0; k < 8; k++)
                x |= (uint64_t)sh[(8 * b + k) * cols + j] << (8 * k);
            uint64_t y = transpose8(x); // byte e of y = byte b of element 8j+e
#pragma unroll
            for (int e = 0; e < 8; e++)
                ob[e * S + b] = (uint8_t)(y >> (8 * e));
        }
#pragma unroll
        for (int q = 0; q < S; q++) {
            uint64_t v = 0;
#pragma unroll
            for (int i = 0; i < 8; i++)
                v |= (uint64_t)ob[8 * q + i] << (8 * i);
            outw[q] = v;
        }
        uint64_t *d = (uint64_t *)(dst + (size_t)j * 8 * S); // 8·S-byte aligned
#pragma unroll
        for (int q = 0; q < S; q++)
            d[q] = outw[q];
    }
}

// Any element size (3, 6, 10 ... bytes: test vectors, not detector frames), byte by byte.
__device__ void unshuffle_warp_any(const uint8_t *sh, uint32_t m, uint8_t *__restrict__ dst,
                                   int lane, int S)
{
    const uint32_t cols = m / 8;
    for (uint32_t o = lane; o < m * (uint32_t)S; o += 32) {
        const uint32_t i = o / S, b = o % S;
        uint32_t v = 0;
        for (int k = 0; k < 8; k++)
            v |= (uint32_t)(sh[(8 * b + k) * cols + i / 8] >> (i % 8) & 1u) << k;
        dst[o] = (uint8_t)v;
    }
}

__device__ __forceinline__ void unshuffle_any_size(const uint8_t *sh, uint32_t nbytes,
                                                   uint8_t *__restrict__ dst, int lane, int S)
{
    const uint32_t m = nbytes / S;
    switch (S) {
    case 1: unshuffle_warp<1>(sh, m, dst, lane); break;
    case 2: unshuffle_warp<2>(sh, m, dst, lane); break;
    case 4: unshuffle_warp<4>(sh, m, dst, lane); break;
    case 8: unshuffle_warp<8>(sh, m, dst, lane); break;
    default: unshuffle_warp_any(sh, m, dst, lane, S);
    }
}

__device__ __forceinline__ uint32_t be32_dev(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

__global__ void __launch_bounds__(DEC_WARPS * 32)
decode_kernel(const azs_gpu_item *__restrict__ items, uint32_t nitems,
              const uint8_t *__restrict__ comp, size_t comp_stride, uint8_t *__restrict__ raw,
              size_t raw_stride, int32_t *status, int elem_size, uint32_t smem_per_warp)
{
    extern __shared__ __align__(16) uint8_t smem[];
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const uint32_t idx = blockIdx.x * DEC_WARPS + warp;
    if (idx >= nitems)
        return;
    const azs_gpu_item it = items[idx];
    if (status[it.frame] != 0) // already bad (CPU plan or another block)
        return;
    const uint8_t *src = comp + (size_t)it.frame * comp_stride + it.src_off;
    uint8_t *dst = raw + (size_t)it.frame * raw_stride + it.dst_off;
    if (it.kind == AZS_GPU_ITEM_COPY) {
        for (uint32_t i = lane; i < it.dst_len; i += 32)
            dst[i] = src[i];
        return;
    }
    if (it.kind == AZS_GPU_ITEM_LZ4) { // plain LZ4: straight into the frame
        int rc = lz4_block_warp(src, it.src_len, dst, it.dst_len, lane);
        if (rc && lane == 0)
            set_status(status, it.frame, rc);
        return;
    }
    uint8_t *sh = smem + (size_t)warp * smem_per_warp;
    if ((it.kind & 0xff) == AZS_GPU_ITEM_BSLZ4_RUN) {
        // Small blocks one after the other: [be32 length][payload] ... (lengths checked by
        // the plan; checked again here so that a bad item cannot read past src_len).
        const uint32_t bb = it.kind >> 8;
        if (bb == 0 || bb > smem_per_warp || bb % (8 * elem_size) || it.dst_len % (8 * elem_size)) {
            if (lane == 0)
                set_status(status, it.frame, AZS_ERR_INTERNAL);
            return;
        }
        uint32_t pos = 0, out = 0;
        while (out < it.dst_len) {
            if (it.src_len - pos < 4) {
                if (lane == 0)
                    set_status(status, it.frame, AZS_ERR_TRUNCATED);
                return;
            }
            const uint32_t clen = be32_dev(src + pos);
            pos += 4;
            if (clen > it.src_len - pos) {
                if (lane == 0)
                    set_status(status, it.frame, AZS_ERR_TRUNCATED);
                return;
            }
            const uint32_t want = it.dst_len - out < bb ? it.dst_len - out : bb;
            int rc = lz4_block_warp(src + pos, clen, sh, want, lane);
            if (rc) {
                if (lane == 0)
                    set_status(status, it.frame, rc);
                return;
            }
            unshuffle_any_size(sh, want, dst + out, lane, elem_size);
            __syncwarp(); // every lane is done with sh before the next block overwrites it
            pos += clen;
            out += want;
        }
        return;
    }
    if (it.dst_len > smem_per_warp || it.dst_len % (8 * elem_size)) {
        if (lane == 0)
            set_status(status, it.frame, AZS_ERR_INTERNAL);
        return;
    }
    int rc = lz4_block_warp(src, it.src_len, sh, it.dst_len, lane);
    if (rc) {
        if (lane == 0)
            set_status(status, it.frame, rc);
        return;
    }
    unshuffle_any_size(sh, it.dst_len, dst, lane, elem_size);
}

// ---------------------------------------------------------------------------------------
// Integrate

struct pre_params {
    int has_dummy;
    double dummy, delta_dummy;
};

template <typename T> __device__ __forceinline__ double ld_pix(const T *p) { return (double)__ldg(p); }

template <typename T, bool DARK, bool VAR>
__global__ void __launch_bounds__(SPMM_WARPS * 32)
spmm_kernel(const T *__restrict__ raw, size_t raw_stride_elems, uint32_t nframes,
            uint32_t nchunks, const int32_t *__restrict__ status,
            const uint32_t *__restrict__ seg_start, const uint32_t *__restrict__ seg_len,
            uint32_t nseg, const uint32_t *__restrict__ indices,
            const float *__restrict__ weights, const float *__restrict__ norm,
            const float *__restrict__ dark, pre_params pp, uint32_t batch,
            double *__restrict__ part)
{
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    const uint64_t id = (uint64_t)blockIdx.x * SPMM_WARPS + warp;
    const uint32_t seg = (uint32_t)(id / nchunks), chunk = (uint32_t)(id % nchunks);
    if (seg >= nseg)
        return;
    const uint32_t f0 = chunk * FCHUNK;
    uint32_t valid = 0;
#pragma unroll
    for (int f = 0; f < FCHUNK; f++)
        if (f0 + f < nframes && status[f0 + f] == 0)
            valid |= 1u << f;
    double acc[FCHUNK][NSUM];
#pragma unroll
    for (int f = 0; f < FCHUNK; f++)
#pragma unroll
        for (int q = 0; q < NSUM; q++)
            acc[f][q] = 0.0;
    const uint32_t s0 = seg_start[seg], len = seg_len[seg];
    const T *base = raw + (size_t)f0 * raw_stride_elems;
    for (uint32_t k = lane; k < len; k += 32) {
        const uint32_t p = __ldg(&indices[s0 + k]);
        const double w = (double)__ldg(&weights[s0 + k]);
        const double wn = w * (double)__ldg(&norm[p]);
        const double dk = DARK ? (double)__ldg(&dark[p]) : 0.0;
        double v[FCHUNK];
#pragma unroll
        for (int f = 0; f < FCHUNK; f++) // issue all loads before the first use
            v[f] = (valid >> f & 1) ? ld_pix(base + (size_t)f * raw_stride_elems + p) : 0.0;
#pragma unroll
        for (int f = 0; f < FCHUNK; f++) {
            if (!(valid >> f & 1))
                continue;
            const double x = v[f];
            if (pp.has_dummy && fabs(x - pp.dummy) <= pp.delta_dummy)
                continue;
            acc[f][0] += w * (x - dk);
            if (VAR)
                acc[f][1] += w * w * fmax(x, 1.0); // Poisson: variance = max(raw, 1)
            acc[f][2] += wn;
            acc[f][3] += wn * wn;
            acc[f][4] += w;
        }
    }
#pragma unroll
    for (int f = 0; f < FCHUNK; f++)
#pragma unroll
        for (int q = 0; q < NSUM; q++) {
            double a = acc[f][q];
#pragma unroll
            for (int o = 16; o > 0; o >>= 1)
                a += __shfl_xor_sync(0xffffffffu, a, o);
            acc[f][q] = a;
        }
    if (lane < FCHUNK && f0 + lane < batch) {
        double *out = part + ((size_t)seg * batch + f0 + lane) * NSUM;
#pragma unroll
        for (int f = 0; f < FCHUNK; f++)
            if (f == lane)
#pragma unroll
                for (int q = 0; q < NSUM; q++)
                    out[q] = acc[f][q];
    }
}

// One thread per (frame, bin): add the bin's segments in order, then the profile.
__global__ void finalize_kernel(const double *__restrict__ part, const uint32_t *__restrict__ row_seg,
                                uint32_t nbins, uint32_t nframes, uint32_t batch, int want_sigma,
                                double *__restrict__ inten, double *__restrict__ sig)
{
    const uint64_t t = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (t >= (uint64_t)nbins * nframes)
        return;
    const uint32_t f = (uint32_t)(t / nbins), b = (uint32_t)(t % nbins);
    double s[NSUM] = {0, 0, 0, 0, 0};
    for (uint32_t g = row_seg[b]; g < row_seg[b + 1]; g++)
        for (int q = 0; q < NSUM; q++)
            s[q] += part[((size_t)g * batch + f) * NSUM + q];
    const double nrm = s[2];
    inten[(size_t)f * nbins + b] = nrm != 0.0 ? s[0] / nrm : 0.0;
    if (want_sigma)
        sig[(size_t)f * nbins + b] = nrm != 0.0 ? sqrt(s[1]) / nrm : 0.0;
}

// ---------------------------------------------------------------------------------------
// Engine

struct slot_t {
    cudaStream_t stream;
    cudaEvent_t ev0, ev1, ev_dec, ev_int;
    uint8_t *h_comp;          // pinned, batch * chunk_stride
    azs_gpu_item *h_items;    // pinned
    int32_t *h_status;        // pinned [batch]
    double *h_int, *h_sig;    // pinned [batch * nbins]
    uint8_t *d_comp, *d_raw;
    azs_gpu_item *d_items;
    int32_t *d_status;
    double *d_part, *d_int, *d_sig;
    uint32_t nframes;
    size_t nitems;
    uint32_t max_block;
    int busy;
};

struct azs_gpu_engine {
    azs_gpu_config c;
    size_t elem, frame_bytes, raw_stride, items_cap;
    // matrix
    int has_csr, has_dark, want_sigma;
    uint32_t nbins, nseg;
    uint32_t *d_seg_start, *d_seg_len, *d_row_seg, *d_indices;
    float *d_weights, *d_norm, *d_dark;
    slot_t *slots;
};

static size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

extern "C" void azs_gpu_engine_destroy(azs_gpu_engine *e)
{
    if (!e)
        return;
    cudaSetDevice(e->c.device);
    if (e->slots) {
        for (uint32_t s = 0; s < e->c.nslots; s++) {
            slot_t *sl = &e->slots[s];
            if (sl->stream)
                cudaStreamSynchronize(sl->stream);
            cudaFreeHost(sl->h_comp);
            cudaFreeHost(sl->h_items);
            cudaFreeHost(sl->h_status);
            cudaFreeHost(sl->h_int);
            cudaFreeHost(sl->h_sig);
            cudaFree(sl->d_comp);
            cudaFree(sl->d_raw);
            cudaFree(sl->d_items);
            cudaFree(sl->d_status);
            cudaFree(sl->d_part);
            cudaFree(sl->d_int);
            cudaFree(sl->d_sig);
            if (sl->ev0) cudaEventDestroy(sl->ev0);
            if (sl->ev1) cudaEventDestroy(sl->ev1);
            if (sl->ev_dec) cudaEventDestroy(sl->ev_dec);
            if (sl->ev_int) cudaEventDestroy(sl->ev_int);
            if (sl->stream) cudaStreamDestroy(sl->stream);
        }
        free(e->slots);
    }
    cudaFree(e->d_seg_start);
    cudaFree(e->d_seg_len);
    cudaFree(e->d_row_seg);
    cudaFree(e->d_indices);
    cudaFree(e->d_weights);
    cudaFree(e->d_norm);
    cudaFree(e->d_dark);
    free(e);
}

static azs_status upload_csr(azs_gpu_engine *e, const azs_csr_view *v)
{
    e->nbins = v->nbins;
    if (v->npixels != e->c.npixels)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu: matrix has %llu pixels, frames %llu",
                        (unsigned long long)v->npixels, (unsigned long long)e->c.npixels);
    const uint64_t nnz = v->indptr[v->nbins];
    if (nnz >= UINT32_MAX)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: %llu matrix entries (32-bit offsets)",
                        (unsigned long long)nnz);
    // Segments: rows cut into pieces of at most SEG entries.
    uint64_t nseg = 0;
    for (uint32_t b = 0; b < v->nbins; b++)
        nseg += (v->indptr[b + 1] - v->indptr[b] + SEG - 1) / SEG;
    if (nseg == 0)
        nseg = 0;
    uint32_t *seg_start = (uint32_t *)malloc((nseg + 1) * sizeof(uint32_t));
    uint32_t *seg_len = (uint32_t *)malloc((nseg + 1) * sizeof(uint32_t));
    uint32_t *row_seg = (uint32_t *)malloc(((size_t)v->nbins + 1) * sizeof(uint32_t));
    if (!seg_start || !seg_len || !row_seg) {
        free(seg_start); free(seg_len); free(row_seg);
        return azs_fail(AZS_ERR_NOMEM, "gpu: segment table for %llu segments",
                        (unsigned long long)nseg);
    }
    uint32_t g = 0;
    for (uint32_t b = 0; b < v->nbins; b++) {
        row_seg[b] = g;
        for (uint64_t s = v->indptr[b]; s < v->indptr[b + 1]; s += SEG) {
            seg_start[g] = (uint32_t)s;
            uint64_t l = v->indptr[b + 1] - s;
            seg_len[g] = (uint32_t)(l > SEG ? SEG : l);
            g++;
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

extern "C" azs_status azs_gpu_engine_create(const azs_gpu_config *c, const azs_csr_view *csr,
                                            azs_gpu_engine **out)
{
    *out = NULL;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
        return azs_fail(AZS_ERR_NO_DEVICE, "gpu: no CUDA device visible");
    if (c->device < 0 || c->device >= ndev)
        return azs_fail(AZS_ERR_NO_DEVICE, "gpu: device %d requested, %d present", c->device,
                        ndev);
    size_t elem = c->elem_bytes ? c->elem_bytes : azs_dtype_size(c->dtype);
    if (c->elem_bytes && (csr || c->elem_bytes > AZS_GPU_MAX_ELEM_BYTES))
        return azs_fail(AZS_ERR_INVALID_ARG,
                        "gpu: element size %u (only for decode-only engines, at most %u)",
                        c->elem_bytes, AZS_GPU_MAX_ELEM_BYTES);
    if (elem == 0 || c->batch == 0 || c->nslots == 0 || c->npixels == 0 || c->chunk_stride == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu: engine config (dtype, batch, slots, pixels)");
    if (csr && c->error_model == AZS_ERRMODEL_AZIMUTHAL)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "gpu: the azimuthal error model is not implemented on the GPU "
                        "(use poisson or none, or a CPU layout)");
    if (csr && (c->dtype == AZS_U64 || c->dtype == AZS_I64 || c->dtype == AZS_I8))
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: pixel type %s", azs_dtype_name(c->dtype));
    CK(cudaSetDevice(c->device));
    azs_gpu_engine *e = (azs_gpu_engine *)calloc(1, sizeof *e);
    if (!e)
        return azs_fail(AZS_ERR_NOMEM, "gpu: engine");
    e->c = *c;
    e->elem = elem;
    e->frame_bytes = c->npixels * elem;
    e->raw_stride = round_up(e->frame_bytes, 256);
    e->c.chunk_stride = round_up(c->chunk_stride, 256);
    e->items_cap = (size_t)c->batch * azs_gpu_max_items_per_frame(c->codec, elem, e->frame_bytes);
    e->slots = (slot_t *)calloc(c->nslots, sizeof(slot_t));
    azs_status st = AZS_OK;
    if (!e->slots) {
        free(e);
        return azs_fail(AZS_ERR_NOMEM, "gpu: slots");
    }
    if (csr) {
        e->has_csr = 1;
        e->want_sigma = c->error_model != AZS_ERRMODEL_NONE;
        st = upload_csr(e, csr);
        if (st != AZS_OK) {
            azs_gpu_engine_destroy(e);
            return st;
        }
    }
    cudaError_t err = cudaSuccess;
    const size_t B = c->batch;
    for (uint32_t s = 0; s < c->nslots && err == cudaSuccess; s++) {
        slot_t *sl = &e->slots[s];
        err = cudaStreamCreateWithFlags(&sl->stream, cudaStreamNonBlocking);
        if (!err) err = cudaEventCreate(&sl->ev0);
        if (!err) err = cudaEventCreate(&sl->ev1);
        if (!err) err = cudaEventCreate(&sl->ev_dec);
        if (!err) err = cudaEventCreate(&sl->ev_int);
        if (!err) err = cudaHostAlloc((void **)&sl->h_comp, B * e->c.chunk_stride, cudaHostAllocDefault);
        if (!err) err = cudaHostAlloc((void **)&sl->h_items, e->items_cap * sizeof(azs_gpu_item), cudaHostAllocDefault);
        if (!err) err = cudaHostAlloc((void **)&sl->h_status, B * sizeof(int32_t), cudaHostAllocDefault);
        if (!err) err = cudaMalloc((void **)&sl->d_comp, B * e->c.chunk_stride);
        if (!err) err = cudaMalloc((void **)&sl->d_raw, B * e->raw_stride);
        if (!err) err = cudaMalloc((void **)&sl->d_items, e->items_cap * sizeof(azs_gpu_item));
        if (!err) err = cudaMalloc((void **)&sl->d_status, B * sizeof(int32_t));
        if (e->has_csr) {
            size_t nb = (size_t)B * e->nbins;
            if (!err) err = cudaHostAlloc((void **)&sl->h_int, nb * sizeof(double), cudaHostAllocDefault);
            if (!err) err = cudaMalloc((void **)&sl->d_int, nb * sizeof(double));
            if (!err) err = cudaMalloc((void **)&sl->d_part, ((size_t)e->nseg + 1) * B * NSUM * sizeof(double));
            if (e->want_sigma) {
                if (!err) err = cudaHostAlloc((void **)&sl->h_sig, nb * sizeof(double), cudaHostAllocDefault);
                if (!err) err = cudaMalloc((void **)&sl->d_sig, nb * sizeof(double));
            }
        }
    }
    if (!err)
        err = cudaFuncSetAttribute(decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   DEC_WARPS * AZS_GPU_MAX_BLOCK_BYTES);
    if (err != cudaSuccess) {
        st = azs_fail(AZS_ERR_GPU, "gpu: allocating %u slots of %u frames (%zu + %zu bytes each): %s",
                      c->nslots, c->batch, e->c.chunk_stride, e->raw_stride, cudaGetErrorString(err));
        azs_gpu_engine_destroy(e);
        return st;
    }
    *out = e;
    return AZS_OK;
}

extern "C" uint8_t *azs_gpu_host_chunk(azs_gpu_engine *e, uint32_t slot, uint32_t frame)
{
    return e->slots[slot].h_comp + (size_t)frame * e->c.chunk_stride;
}

extern "C" azs_gpu_item *azs_gpu_host_items(azs_gpu_engine *e, uint32_t slot)
{
    return e->slots[slot].h_items;
}

extern "C" size_t azs_gpu_items_capacity(const azs_gpu_engine *e) { return e->items_cap; }

static cudaError_t launch_decode(azs_gpu_engine *e, slot_t *sl)
{
    if (sl->nitems == 0)
        return cudaSuccess;
    uint32_t per_warp = (uint32_t)round_up(sl->max_block ? sl->max_block : 16, 16);
    if (per_warp > AZS_GPU_MAX_BLOCK_BYTES)
        per_warp = 16; // only LZ4/COPY items can be that large; they do not use shared memory
    uint32_t grid = (uint32_t)((sl->nitems + DEC_WARPS - 1) / DEC_WARPS);
    decode_kernel<<<grid, DEC_WARPS * 32, DEC_WARPS * per_warp, sl->stream>>>(
        sl->d_items, (uint32_t)sl->nitems, sl->d_comp, e->c.chunk_stride, sl->d_raw,
        e->raw_stride, sl->d_status, (int)e->elem, per_warp);
    return cudaGetLastError();
}

template <typename T>
static cudaError_t launch_spmm_t(azs_gpu_engine *e, slot_t *sl, uint32_t nchunks, uint32_t grid)
{
    pre_params pp = {e->c.has_dummy, e->c.dummy, e->c.delta_dummy};
    const T *raw = (const T *)sl->d_raw;
    size_t rs = e->raw_stride / sizeof(T);
    const uint32_t B = e->c.batch;
#define SPMM_ARGS                                                                              \
    raw, rs, sl->nframes, nchunks, sl->d_status, e->d_seg_start, e->d_seg_len, e->nseg,        \
        e->d_indices, e->d_weights, e->d_norm, e->d_dark, pp, B, sl->d_part
    if (e->has_dark && e->want_sigma)
        spmm_kernel<T, true, true><<<grid, SPMM_WARPS * 32, 0, sl->stream>>>(SPMM_ARGS);
    else if (e->has_dark)
        spmm_kernel<T, true, false><<<grid, SPMM_WARPS * 32, 0, sl->stream>>>(SPMM_ARGS);
    else if (e->want_sigma)
        spmm_kernel<T, false, true><<<grid, SPMM_WARPS * 32, 0, sl->stream>>>(SPMM_ARGS);
    else
        spmm_kernel<T, false, false><<<grid, SPMM_WARPS * 32, 0, sl->stream>>>(SPMM_ARGS);
#undef SPMM_ARGS
    return cudaGetLastError();
}

static cudaError_t launch_integrate(azs_gpu_engine *e, slot_t *sl)
{
    if (!e->has_csr || sl->nframes == 0)
        return cudaSuccess;
    const uint32_t nchunks = (sl->nframes + FCHUNK - 1) / FCHUNK;
    const uint64_t warps = (uint64_t)e->nseg * nchunks;
    cudaError_t err = cudaSuccess;
    if (warps > 0) {
        const uint32_t grid = (uint32_t)((warps + SPMM_WARPS - 1) / SPMM_WARPS);
        switch (e->c.dtype) {
        case AZS_U8: err = launch_spmm_t<uint8_t>(e, sl, nchunks, grid); break;
        case AZS_U16: err = launch_spmm_t<uint16_t>(e, sl, nchunks, grid); break;
        case AZS_U32: err = launch_spmm_t<uint32_t>(e, sl, nchunks, grid); break;
        case AZS_I16: err = launch_spmm_t<int16_t>(e, sl, nchunks, grid); break;
        case AZS_I32: err = launch_spmm_t<int32_t>(e, sl, nchunks, grid); break;
        case AZS_F32: err = launch_spmm_t<float>(e, sl, nchunks, grid); break;
        case AZS_F64: err = launch_spmm_t<double>(e, sl, nchunks, grid); break;
        default: return cudaErrorInvalidValue;
        }
        if (err != cudaSuccess)
            return err;
    }
    const uint64_t nt = (uint64_t)e->nbins * sl->nframes;
    if (nt == 0)
        return cudaSuccess;
    finalize_kernel<<<(uint32_t)((nt + 255) / 256), 256, 0, sl->stream>>>(
        sl->d_part, e->d_row_seg, e->nbins, sl->nframes, e->c.batch, e->want_sigma, sl->d_int,
        sl->d_sig);
    return cudaGetLastError();
}

extern "C" azs_status azs_gpu_submit(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                                     const size_t *chunk_sizes, size_t nitems, uint32_t max_block,
                                     const int32_t *host_status)
{
    if (slot >= e->c.nslots || nframes > e->c.batch || nitems > e->items_cap)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu submit: slot %u, %u frames, %zu items", slot,
                        nframes, nitems);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    sl->nframes = nframes;
    sl->nitems = nitems;
    sl->max_block = max_block;
    memcpy(sl->h_status, host_status, nframes * sizeof(int32_t));
    cudaStream_t s = sl->stream;
    CK(cudaEventRecord(sl->ev0, s));
    // Contiguous upload when the chunks fill their strides well, else one copy per frame.
    size_t used = 0;
    for (uint32_t i = 0; i < nframes; i++)
        used += chunk_sizes[i];
    size_t span = nframes ? (size_t)(nframes - 1) * e->c.chunk_stride + chunk_sizes[nframes - 1] : 0;
    if (span <= used + used / 4) {
        if (span)
            CK(cudaMemcpyAsync(sl->d_comp, sl->h_comp, span, cudaMemcpyHostToDevice, s));
    } else {
        for (uint32_t i = 0; i < nframes; i++)
            if (chunk_sizes[i] && host_status[i] == 0)
                CK(cudaMemcpyAsync(sl->d_comp + (size_t)i * e->c.chunk_stride,
                                   sl->h_comp + (size_t)i * e->c.chunk_stride, chunk_sizes[i],
                                   cudaMemcpyHostToDevice, s));
    }
    if (nitems)
        CK(cudaMemcpyAsync(sl->d_items, sl->h_items, nitems * sizeof(azs_gpu_item),
                           cudaMemcpyHostToDevice, s));
    CK(cudaMemcpyAsync(sl->d_status, sl->h_status, nframes * sizeof(int32_t),
                       cudaMemcpyHostToDevice, s));
    CK(launch_decode(e, sl));
    CK(cudaEventRecord(sl->ev_dec, s));
    CK(launch_integrate(e, sl));
    CK(cudaEventRecord(sl->ev_int, s));
    if (e->has_csr && nframes) {
        size_t nb = (size_t)nframes * e->nbins * sizeof(double);
        CK(cudaMemcpyAsync(sl->h_int, sl->d_int, nb, cudaMemcpyDeviceToHost, s));
        if (e->want_sigma)
            CK(cudaMemcpyAsync(sl->h_sig, sl->d_sig, nb, cudaMemcpyDeviceToHost, s));
    }
    CK(cudaMemcpyAsync(sl->h_status, sl->d_status, nframes * sizeof(int32_t),
                       cudaMemcpyDeviceToHost, s));
    CK(cudaEventRecord(sl->ev1, s));
    sl->busy = 1;
    return AZS_OK;
}

extern "C" azs_status azs_gpu_wait(azs_gpu_engine *e, uint32_t slot, const double **intensity,
                                   const double **sigma, const int32_t **status, float *ms_gpu)
{
    if (slot >= e->c.nslots)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu wait: slot %u", slot);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaEventSynchronize(sl->ev1));
    sl->busy = 0;
    if (ms_gpu)
        CK(cudaEventElapsedTime(ms_gpu, sl->ev0, sl->ev1));
    if (intensity)
        *intensity = sl->h_int;
    if (sigma)
        *sigma = sl->h_sig;
    if (status)
        *status = sl->h_status;
    return AZS_OK;
}

extern "C" azs_status azs_gpu_download_decoded(azs_gpu_engine *e, uint32_t slot, uint32_t frame,
                                               void *dst, size_t capacity)
{
    if (slot >= e->c.nslots || frame >= e->c.batch || capacity < e->frame_bytes)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu download: slot %u frame %u", slot, frame);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaMemcpyAsync(dst, sl->d_raw + (size_t)frame * e->raw_stride, e->frame_bytes,
                       cudaMemcpyDeviceToHost, sl->stream));
    CK(cudaStreamSynchronize(sl->stream));
    return AZS_OK;
}

extern "C" azs_status azs_gpu_time_kernels(azs_gpu_engine *e, uint32_t slot, int reps,
                                           float *ms_decode, float *ms_integrate)
{
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaStreamSynchronize(sl->stream));
    // Keep the statuses the real run found: re-upload them before each decode so that a
    // repeated run does the same work.
    int32_t *d_keep = NULL;
    CK(cudaMalloc((void **)&d_keep, sl->nframes * sizeof(int32_t) + 4));
    CK(cudaMemcpyAsync(d_keep, sl->h_status, sl->nframes * sizeof(int32_t), cudaMemcpyHostToDevice,
                       sl->stream));
    float td = 0, ti = 0;
    cudaEvent_t a, b, c;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventCreate(&c));
    for (int r = 0; r < reps; r++) {
        CK(cudaMemcpyAsync(sl->d_status, d_keep, sl->nframes * sizeof(int32_t),
                           cudaMemcpyDeviceToDevice, sl->stream));
        CK(cudaEventRecord(a, sl->stream));
        CK(launch_decode(e, sl));
        CK(cudaEventRecord(b, sl->stream));
        CK(launch_integrate(e, sl));
        CK(cudaEventRecord(c, sl->stream));
        CK(cudaEventSynchronize(c));
        float x, y;
        CK(cudaEventElapsedTime(&x, a, b));
        CK(cudaEventElapsedTime(&y, b, c));
        td += x;
        ti += y;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaEventDestroy(c);
    cudaFree(d_keep);
    if (ms_decode)
        *ms_decode = reps ? td / reps : 0;
    if (ms_integrate)
        *ms_integrate = reps ? ti / reps : 0;
    return AZS_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

extern "C" azs_status azs_gpu_measure_bandwidth(int device, size_t bytes, double *h2d_gbs,
                                                double *d2d_gbs)
{
    CK(cudaSetDevice(device));
    void *h = NULL, *d1 = NULL, *d2 = NULL;
    CK(cudaHostAlloc(&h, bytes, cudaHostAllocDefault));
    memset(h, 1, bytes);
    CK(cudaMalloc(&d1, bytes));
    CK(cudaMalloc(&d2, bytes));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    enum { R = 7 };
    float th[R], td[R];
    for (int r = 0; r < R + 1; r++) { // first round = warm-up
        CK(cudaEventRecord(a));
        CK(cudaMemcpyAsync(d1, h, bytes, cudaMemcpyHostToDevice));
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        if (r) CK(cudaEventElapsedTime(&th[r - 1], a, b));
        CK(cudaEventRecord(a));
        CK(cudaMemcpyAsync(d2, d1, bytes, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        if (r) CK(cudaEventElapsedTime(&td[r - 1], a, b));
    }
    qsort(th, R, sizeof(float), cmp_float);
    qsort(td, R, sizeof(float), cmp_float);
    *h2d_gbs = bytes / (th[R / 2] * 1e-3) / 1e9;
    *d2d_gbs = 2.0 * bytes / (td[R / 2] * 1e-3) / 1e9;
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaFree(d1);
    cudaFree(d2);
    cudaFreeHost(h);
    return AZS_OK;
}
