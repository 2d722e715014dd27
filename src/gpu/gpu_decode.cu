// GPU decode of layout 3's batches (LZ4 + bit-unshuffle), one warp per planned item
// (gpu_plan.c). Kept apart from the integration kernels: it knows the chunk format, they
// know the matrix. Design and measurements: doc/gpu-notes.md.
//
// All lanes parse the LZ4 sequence headers redundantly (uniform control flow, broadcast
// loads); literal and match copies are spread over the lanes; an overlapping match
// (offset < length) is periodic, so byte i of it is out[op - off + i % off], which lets
// every lane copy in one pass. Bitshuffle blocks are decoded into shared memory, then each
// lane unshuffles 8 elements at a time (an 8×8 bit transpose per output byte) and writes
// them to d_raw (frame-major, native dtype). Every length is checked: a corrupt block sets
// the frame's status (first error wins), never an out-of-bounds access; each loop consumes
// at least one input byte, so it terminates.
#include "gpu_internal.h"

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
        } else if (off == 1) { // a run of one byte (the zero bit-planes of bitshuffled counts)
            const uint8_t v = from[0];
            for (uint32_t i = lane; i < ml; i += 32)
                out[op + i] = v;
        } else {
            // from[i % off] for i = lane, lane + 32, ...: the index advances by 32 % off and
            // wraps, two divisions per match instead of one per byte (GPUs have no integer
            // divider: a % is ~20 instructions, and these matches are most of the bytes)
            const uint32_t step = 32 % off;
            uint32_t j = lane % off;
            for (uint32_t i = lane; i < ml; i += 32) {
                out[op + i] = from[j];
                j += step;
                j = j >= off ? j - off : j;
            }
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

cudaError_t azs_gpu_decode_setup(void)
{
    return cudaFuncSetAttribute(decode_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                DEC_WARPS * AZS_GPU_MAX_BLOCK_BYTES);
}

static size_t round16(size_t a) { return (a + 15) / 16 * 16; }

cudaError_t azs_gpu_launch_decode(azs_gpu_engine *e, slot_t *sl)
{
    if (sl->nitems == 0)
        return cudaSuccess;
    uint32_t per_warp = (uint32_t)round16(sl->max_block ? sl->max_block : 16);
    if (per_warp > AZS_GPU_MAX_BLOCK_BYTES)
        per_warp = 16; // only LZ4/COPY items can be that large; they do not use shared memory
    uint32_t grid = (uint32_t)((sl->nitems + DEC_WARPS - 1) / DEC_WARPS);
    decode_kernel<<<grid, DEC_WARPS * 32, DEC_WARPS * per_warp, sl->stream>>>(
        sl->d_items, (uint32_t)sl->nitems, sl->d_comp, e->c.chunk_stride, sl->d_raw,
        e->raw_stride, sl->d_status, (int)e->elem, per_warp);
    return cudaGetLastError();
}
