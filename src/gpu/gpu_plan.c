/* CPU half of the GPU decoder: split a stored chunk into independent decode items.
 *
 * Why on the CPU: finding block k of a bitshuffle-LZ4 chunk means walking the chain of
 * 4-byte block lengths, a serial pointer chase (~2,200 steps for an Eiger 4M frame). On
 * the GPU each step is a dependent DRAM load (~0.5 µs); here, right after pread, the chunk
 * is in cache and the walk costs a few µs. The walk is the codec's (azs_chunk_walk_next:
 * the format and its length checks live in src/codec/chunk.c only), so the GPU kernels only
 * ever index inside [chunk, chunk + chunk_size); the LZ4 payloads themselves are validated
 * by the GPU decoder (per-frame status). Here: what the GPU decoder takes (block sizes,
 * element sizes, 32-bit offsets) and how blocks become items.
 *
 * Formats: doc/chunk-format.md (bitshuffle-LZ4 32008, LZ4 32004, uncompressed). */
#include <string.h>

#include "azstream/codec.h"
#include "azstream/gpu.h"
#include "common/error.h"

/* Smallest item we plan (decoded bytes): bounds the number of items per frame (buffer
 * sizing). Smaller bitshuffle blocks are grouped into runs of at least this size. */
#define AZS_GPU_MIN_BLOCK_BYTES 1024u
/* Copies of stored bytes are split in pieces so that one warp never copies megabytes. */
#define AZS_GPU_COPY_PIECE 8192u

size_t azs_gpu_max_items_per_frame(azs_codec codec, size_t elem_size, size_t frame_bytes)
{
    (void)elem_size;
    if (codec == AZS_CODEC_NONE)
        return frame_bytes / AZS_GPU_COPY_PIECE + 1;
    /* blocks + one partial block + the raw tail (split in copy pieces, tail < 64 bytes) */
    return frame_bytes / AZS_GPU_MIN_BLOCK_BYTES + 3;
}

static azs_status push(azs_gpu_item *items, size_t max_items, size_t *n, uint32_t src_off,
                       uint32_t src_len, uint64_t dst_off, uint32_t dst_len, uint32_t frame,
                       uint32_t kind)
{
    if (*n >= max_items)
        return azs_fail(AZS_ERR_CAPACITY, "gpu plan: frame %u needs more than %zu blocks",
                        frame, max_items);
    azs_gpu_item *it = &items[(*n)++];
    it->src_off = src_off;
    it->src_len = src_len;
    it->dst_off = (uint32_t)dst_off;
    it->dst_len = dst_len;
    it->frame = frame;
    it->kind = kind;
    return AZS_OK;
}

static azs_status push_copy(azs_gpu_item *items, size_t max_items, size_t *n, uint64_t src_off,
                            uint64_t dst_off, uint64_t len, uint32_t frame)
{
    while (len > 0) {
        uint32_t piece = len > AZS_GPU_COPY_PIECE ? AZS_GPU_COPY_PIECE : (uint32_t)len;
        azs_status s = push(items, max_items, n, (uint32_t)src_off, piece, dst_off, piece, frame,
                            AZS_GPU_ITEM_COPY);
        if (s != AZS_OK)
            return s;
        src_off += piece;
        dst_off += piece;
        len -= piece;
    }
    return AZS_OK;
}

azs_status azs_gpu_plan_chunk(azs_codec codec, size_t elem_size, const uint8_t *chunk,
                              size_t chunk_size, size_t frame_bytes, uint32_t frame,
                              azs_gpu_item *items, size_t max_items, size_t *nitems,
                              uint32_t *max_block)
{
    *nitems = 0;
    *max_block = 0;
    if (elem_size == 0 || elem_size > AZS_GPU_MAX_ELEM_BYTES || frame_bytes % elem_size != 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu plan: element size %zu, frame bytes %zu",
                        elem_size, frame_bytes);
    /* Offsets are 32-bit on the GPU side. */
    if (frame_bytes > UINT32_MAX || chunk_size > UINT32_MAX)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu plan: frame %u: chunk or frame over 4 GiB",
                        frame);
    size_t n = 0;
    azs_status s;

    if (codec == AZS_CODEC_NONE) {
        if (chunk_size != frame_bytes)
            return azs_fail(AZS_ERR_SIZE_MISMATCH,
                            "frame %u: uncompressed chunk of %zu bytes, frame needs %zu", frame,
                            chunk_size, frame_bytes);
        s = push_copy(items, max_items, &n, 0, 0, frame_bytes, frame);
        *nitems = n;
        *max_block = frame_bytes > AZS_GPU_COPY_PIECE ? AZS_GPU_COPY_PIECE : (uint32_t)frame_bytes;
        return s;
    }
    if (codec != AZS_CODEC_LZ4 && codec != AZS_CODEC_BSLZ4)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu plan: codec %d", (int)codec);
    azs_chunk_walk w;
    if ((s = azs_chunk_walk_init(&w, codec, elem_size, chunk, chunk_size)) != AZS_OK)
        return s;
    const uint64_t total = w.h.total_bytes;
    const uint32_t block_bytes = w.h.block_bytes;
    if (total != frame_bytes)
        return azs_fail(AZS_ERR_SIZE_MISMATCH,
                        "frame %u: chunk header says %llu bytes, frame has %zu", frame,
                        (unsigned long long)total, frame_bytes);
    if (block_bytes == 0)
        return azs_fail(AZS_ERR_CORRUPT, "frame %u: block size 0", frame);
    uint32_t maxb = 0;
    azs_chunk_block b;
    int more = 1;
    if (codec == AZS_CODEC_LZ4) {
        while ((s = azs_chunk_walk_next(&w, &b, &more)) == AZS_OK && more) {
            if (b.kind == AZS_BLOCK_RAW)
                s = push_copy(items, max_items, &n, b.src_off, b.dst_off, b.dst_len, frame);
            else
                s = push(items, max_items, &n, (uint32_t)b.src_off, (uint32_t)b.src_len,
                         b.dst_off, (uint32_t)b.dst_len, frame, AZS_GPU_ITEM_LZ4);
            if (s != AZS_OK)
                return s;
            if (b.dst_len > maxb)
                maxb = (uint32_t)b.dst_len;
        }
        if (s != AZS_OK)
            return s;
        *nitems = n;
        *max_block = maxb > AZS_GPU_COPY_PIECE ? maxb : AZS_GPU_COPY_PIECE;
        return AZS_OK;
    }

    /* bitshuffle-LZ4 */
    if (block_bytes % (8 * elem_size) != 0)
        return azs_fail(AZS_ERR_CORRUPT,
                        "frame %u: bitshuffle block of %u bytes is not a multiple of 8 elements",
                        frame, block_bytes);
    if (block_bytes > AZS_GPU_MAX_BLOCK_BYTES)
        return azs_fail(AZS_ERR_UNSUPPORTED,
                        "frame %u: bitshuffle block of %u bytes: the GPU decoder takes up to %u "
                        "(the CPU layouts take any size)",
                        frame, block_bytes, AZS_GPU_MAX_BLOCK_BYTES);
    /* blocks per item: 1, or a run of small blocks worth at least AZS_GPU_MIN_BLOCK_BYTES
     * (a run's source covers the blocks' length fields too) */
    const size_t group = block_bytes >= AZS_GPU_MIN_BLOCK_BYTES
                             ? 1
                             : (AZS_GPU_MIN_BLOCK_BYTES + block_bytes - 1) / block_bytes;
    size_t in_run = 0, run_src = 0, run_end = 0, run_dst = 0, run_len = 0;
    for (;;) {
        s = azs_chunk_walk_next(&w, &b, &more);
        if (s != AZS_OK)
            return s;
        const int block = more && b.kind == AZS_BLOCK_BSLZ4;
        if (block) {
            if (in_run == 0) {
                run_src = b.src_off - 4;
                run_dst = b.dst_off;
                run_len = 0;
            }
            run_end = b.src_off + b.src_len;
            run_len += b.dst_len;
            in_run++;
        }
        if (in_run && (in_run == group || !block)) {
            if (group == 1)
                s = push(items, max_items, &n, (uint32_t)b.src_off, (uint32_t)b.src_len, run_dst,
                         (uint32_t)run_len, frame, AZS_GPU_ITEM_BSLZ4);
            else
                s = push(items, max_items, &n, (uint32_t)run_src, (uint32_t)(run_end - run_src),
                         run_dst, (uint32_t)run_len, frame,
                         AZS_GPU_ITEM_BSLZ4_RUN | block_bytes << 8);
            if (s != AZS_OK)
                return s;
            /* shared memory holds one block at a time */
            const uint32_t one = group == 1 ? (uint32_t)run_len : block_bytes;
            if (one > maxb)
                maxb = one;
            in_run = 0;
        }
        if (!more)
            break;
        if (b.kind == AZS_BLOCK_RAW && b.dst_len) { /* the raw tail, last */
            s = push_copy(items, max_items, &n, b.src_off, b.dst_off, b.dst_len, frame);
            if (s != AZS_OK)
                return s;
        }
    }
    *nitems = n;
    *max_block = maxb;
    return AZS_OK;
}
