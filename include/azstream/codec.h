/* Chunk codecs: bitshuffle-LZ4 (HDF5 filter 32008), LZ4 (32004), uncompressed.
 * Format: doc/chunk-format.md.
 *
 * Every length read from a chunk is checked against the buffer it points into: a corrupt
 * or hostile chunk returns AZS_ERR_CORRUPT / _TRUNCATED / _SIZE_MISMATCH / _CAPACITY,
 * never reads or writes outside [src, src+src_size) and [dst, dst+dst_capacity).
 * All functions are thread-safe and allocate nothing (scratch comes from the caller). */
#ifndef AZSTREAM_CODEC_H
#define AZSTREAM_CODEC_H

#include "azstream/export.h"

#include "azstream/status.h"
#include "azstream/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Header of a bitshuffle-LZ4 or LZ4 chunk: 8-byte BE total bytes, 4-byte BE block size. */
typedef struct azs_chunk_header {
    uint64_t total_bytes;  /* uncompressed size in bytes */
    uint32_t block_bytes;  /* block size in bytes as stored */
} azs_chunk_header;

AZS_API azs_status azs_chunk_read_header(const void *src, size_t src_size, azs_chunk_header *h);

/* Decode one chunk of any codec. elem_size is the dataset's element size (1, 2, 4, 8;
 * bitshuffle needs it). On success *out_size = decoded bytes (<= dst_capacity).
 * Single-threaded: one frame, one thread (doc/design.md "data flow"). */
AZS_API azs_status azs_chunk_decode(azs_codec codec, size_t elem_size, const void *src, size_t src_size,
                            void *dst, size_t dst_capacity, size_t *out_size);

/* Same as azs_chunk_decode for bitshuffle-LZ4 but spreading the blocks over OpenMP threads
 * (layout 0's "OpenMP inside decompression"). Same result bit for bit. */
AZS_API azs_status azs_bslz4_decode_omp(size_t elem_size, const void *src, size_t src_size, void *dst,
                                size_t dst_capacity, size_t *out_size);

/* Block-by-block bitshuffle-LZ4 decoding, for a consumer that uses each decoded block while
 * it is still in cache (the fused decode + integrate of azs_integrate_chunk). Same checks
 * and same bytes as azs_chunk_decode. The fields are private to the codec. */
typedef struct azs_bslz4_blocks {
    const unsigned char *src;
    size_t src_size, pos, elem_size;
    size_t n, block_elems, nfull, last_elems, tail_elems; /* in elements */
    size_t next, done;                                     /* blocks taken, elements out */
    uint64_t total_bytes;                                  /* announced by the header */
    size_t max_block_bytes;                                /* scratch next() needs */
    void *unshuffle;
} azs_bslz4_blocks;

AZS_API azs_status azs_bslz4_blocks_init(azs_bslz4_blocks *b, size_t elem_size, const void *src,
                                 size_t src_size);
/* Decode the next block (or, last, the raw tail of fewer than 8 elements) into dst.
 * scratch holds b->max_block_bytes. *elems = elements written; 0 once all are out. */
AZS_API azs_status azs_bslz4_blocks_next(azs_bslz4_blocks *b, void *dst, size_t dst_capacity,
                                 void *scratch, size_t *elems);

/* The blocks of a bitshuffle-LZ4 or LZ4 chunk located, not decoded: for a consumer that
 * decodes them elsewhere (the GPU planner). The header and every block length are checked
 * as azs_chunk_decode checks them (a block never points outside [src, src+src_size)); the
 * LZ4 payloads are not. For bitshuffle-LZ4 the raw tail of fewer than 8 elements comes
 * last, as an AZS_BLOCK_RAW block. */
enum { AZS_BLOCK_LZ4 = 0, AZS_BLOCK_BSLZ4 = 1, AZS_BLOCK_RAW = 2 };
typedef struct azs_chunk_block {
    size_t index;             /* block number in the chunk (the raw tail: after the last) */
    size_t src_off, src_len;  /* the stored bytes in the chunk */
    size_t dst_off, dst_len;  /* the decoded bytes in the frame */
    int kind;                 /* AZS_BLOCK_*: LZ4 data, LZ4 of bit-shuffled data, stored */
} azs_chunk_block;
typedef struct azs_chunk_walk { /* fields private to the codec */
    const unsigned char *src;
    size_t src_size, pos, elem_size, next, done;
    size_t n, block_elems, nfull, last_elems, tail_elems; /* bitshuffle, in elements */
    azs_codec codec;
    azs_chunk_header h;
} azs_chunk_walk;

/* codec AZS_CODEC_BSLZ4 or AZS_CODEC_LZ4; elem_size as for azs_chunk_decode. */
AZS_API azs_status azs_chunk_walk_init(azs_chunk_walk *w, azs_codec codec, size_t elem_size,
                               const void *src, size_t src_size);
/* The next block in b; *more = 0 (b untouched) once all are out. */
AZS_API azs_status azs_chunk_walk_next(azs_chunk_walk *w, azs_chunk_block *b, int *more);

/* Encoders (for `azstream synth` and tests). block_elems = 0 chooses the bitshuffle
 * default (8192 bytes / elem_size, multiple of 8). Output readable by the reference
 * HDF5 plugins. azs_chunk_encode_bound gives the capacity that always suffices. */
AZS_API size_t azs_chunk_encode_bound(azs_codec codec, size_t nbytes, size_t elem_size, size_t block_elems);
AZS_API azs_status azs_chunk_encode(azs_codec codec, size_t elem_size, size_t block_elems, const void *src,
                            size_t nbytes, void *dst, size_t dst_capacity, size_t *out_size);

/* Bit-unshuffle of n elements of elem_size bytes (n a multiple of 8); in != out.
 * Dispatches at run time to the fastest variant the CPU has. */
AZS_API void azs_bitunshuffle(const void *in, void *out, size_t n, size_t elem_size);
/* Name of the variant azs_bitunshuffle uses now ("scalar", "sse2", "avx2", "avx512", ...). */
AZS_API const char *azs_bitunshuffle_variant(void);

#ifdef __cplusplus
}
#endif
#endif
