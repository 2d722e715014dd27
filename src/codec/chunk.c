/* Chunk codecs: bitshuffle-LZ4 (HDF5 filter 32008), LZ4 framing (32004), uncompressed.
 * Format: doc/chunk-format.md.
 *
 * Decoding a bitshuffle-LZ4 chunk: each LZ4 block is decoded into a small scratch
 * buffer on the stack (one default block is 8 KiB: it stays in L1) and unshuffled from
 * there straight into dst, so every output byte is written once. Every length that
 * comes from the chunk is checked against what is left of src before it is used, and
 * the LZ4 decoder is liblz4's bounds-checked LZ4_decompress_safe. Blocks larger than
 * the stack scratch (only possible with non-default block sizes) take a heap scratch,
 * bounded by the announced total that was already checked against dst_capacity. */
#include <limits.h>
#include <lz4.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "codec/bitshuffle.h"
#include "common/error.h"

#define HDR_BYTES 12
#define STACK_SCRATCH 65536
/* bitshuffle's default target block size in bytes, and its smallest default block. */
#define BSHUF_TARGET_BYTES 8192
#define BSHUF_MIN_DEFAULT_ELEMS 128
/* Outputs from this size on are written with non-temporal stores: they exceed the
 * per-core caches, so the consumer reads them from memory anyway. */
#define STREAM_MIN_BYTES (4u << 20)

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
}
static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static void put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}
static void put_be32(uint8_t *p, uint32_t v)
{
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
}

azs_status azs_chunk_read_header(const void *src, size_t src_size, azs_chunk_header *h)
{
    if (!src || !h)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk header: NULL argument");
    if (src_size < HDR_BYTES)
        return azs_fail(AZS_ERR_TRUNCATED, "chunk header: %zu bytes, need %d", src_size, HDR_BYTES);
    const uint8_t *p = src;
    h->total_bytes = be64(p);
    h->block_bytes = be32(p + 8);
    return AZS_OK;
}

/* Header checks shared by the two LZ4-based decoders. */
static azs_status check_header(const char *what, const azs_chunk_header *h, size_t dst_capacity)
{
    if (h->total_bytes > dst_capacity)
        return azs_fail(AZS_ERR_CAPACITY, "%s: header announces %llu bytes, destination holds %zu",
                        what, (unsigned long long)h->total_bytes, dst_capacity);
    if (h->total_bytes > 0 && h->block_bytes == 0)
        return azs_fail(AZS_ERR_CORRUPT, "%s: block size 0 for %llu bytes", what,
                        (unsigned long long)h->total_bytes);
    /* liblz4 takes int sizes. */
    if (h->block_bytes > LZ4_MAX_INPUT_SIZE)
        return azs_fail(AZS_ERR_CORRUPT, "%s: block size %u larger than LZ4 allows", what,
                        (unsigned)h->block_bytes);
    return AZS_OK;
}

/* Where block decoding stands; shared by the serial and OpenMP decoders. */
typedef struct bs_plan {
    size_t s, n, block_elems, nfull, last_elems, tail_elems;
} bs_plan;

static azs_status bslz4_plan(size_t s, const azs_chunk_header *h, size_t src_size,
                             size_t dst_capacity, bs_plan *pl)
{
    azs_status st = check_header("bitshuffle-lz4 chunk", h, SIZE_MAX);
    if (st != AZS_OK)
        return st;
    if (s == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "bitshuffle-lz4 chunk: element size 0");
    if (h->total_bytes % s != 0)
        return azs_fail(AZS_ERR_CORRUPT, "bitshuffle-lz4 chunk: %llu bytes is not a whole number "
                        "of %zu-byte elements", (unsigned long long)h->total_bytes, s);
    pl->s = s;
    pl->n = (size_t)h->total_bytes / s;
    pl->tail_elems = pl->n % 8;
    pl->block_elems = h->block_bytes / s;
    if (pl->n >= 8 && (h->block_bytes % s != 0 || pl->block_elems % 8 != 0))
        return azs_fail(AZS_ERR_CORRUPT, "bitshuffle-lz4 chunk: block size %u bytes is not a "
                        "multiple of 8 elements of %zu bytes", (unsigned)h->block_bytes, s);
    if (pl->block_elems == 0) { /* n < 8: only the raw tail */
        pl->nfull = 0;
        pl->last_elems = 0;
    } else {
        pl->nfull = pl->n / pl->block_elems;
        const size_t rem = pl->n % pl->block_elems;
        pl->last_elems = rem - rem % 8;
    }
    /* A header whose size the chunk cannot hold lies: each block needs its 4-byte length
     * and LZ4 compresses at most 255:1; the raw tail is stored as is. Said before the
     * destination is compared with it, so that such a chunk reads as what it is, not as
     * "buffer too small". */
    const uint64_t nblk = pl->nfull + (pl->last_elems ? 1 : 0);
    const uint64_t need = HDR_BYTES + 4 * nblk + (uint64_t)(pl->n - pl->tail_elems) * s / 256 +
                          (uint64_t)pl->tail_elems * s;
    if (need > src_size)
        return azs_fail(AZS_ERR_CORRUPT, "bitshuffle header says %llu bytes (%llu blocks of %u "
                        "bytes), chunk holds %zu: too few for that (a lying header)",
                        (unsigned long long)h->total_bytes, (unsigned long long)nblk,
                        (unsigned)h->block_bytes, src_size);
    if (h->total_bytes > dst_capacity)
        return azs_fail(AZS_ERR_CAPACITY, "bitshuffle header says %llu bytes, the destination "
                        "(a frame) holds %zu", (unsigned long long)h->total_bytes, dst_capacity);
    return AZS_OK;
}

/* The 4-byte length of block bi at src+*pos, checked against what is left of src (and
 * against what liblz4 takes); *pos moves past the length field. */
static azs_status block_length(const char *what, const uint8_t *src, size_t src_size,
                               size_t *pos, size_t bi, uint32_t *clen)
{
    if (src_size - *pos < 4)
        return azs_fail(AZS_ERR_TRUNCATED, "%s block %zu: length field at offset %zu past the "
                        "end (%zu bytes)", what, bi, *pos, src_size);
    *clen = be32(src + *pos);
    *pos += 4;
    if (*clen > src_size - *pos)
        return azs_fail(AZS_ERR_TRUNCATED, "%s block %zu at offset %zu: %u compressed bytes, "
                        "only %zu left", what, bi, *pos - 4, (unsigned)*clen, src_size - *pos);
    if (*clen > LZ4_MAX_INPUT_SIZE)
        return azs_fail(AZS_ERR_CORRUPT, "%s block %zu: length %u too large", what, bi,
                        (unsigned)*clen);
    return AZS_OK;
}

/* Decode one LZ4 block of `elems` elements at src+*pos and unshuffle it to out.
 * scratch holds at least elems*s bytes. */
static azs_status bslz4_block(const uint8_t *src, size_t src_size, size_t *pos, size_t bi,
                              size_t elems, size_t s, uint8_t *restrict scratch,
                              uint8_t *restrict out, azs_unshuffle_fn unshuffle, int stream)
{
    const size_t want = elems * s;
    uint32_t clen = 0;
    azs_status st = block_length("bitshuffle-lz4", src, src_size, pos, bi, &clen);
    if (st != AZS_OK)
        return st;
    const int got = LZ4_decompress_safe((const char *)src + *pos, (char *)scratch, (int)clen,
                                        (int)want);
    if (got < 0)
        return azs_fail(AZS_ERR_CORRUPT, "bitshuffle-lz4 block %zu at offset %zu: invalid LZ4 "
                        "data", bi, *pos - 4);
    if ((size_t)got != want)
        return azs_fail(AZS_ERR_SIZE_MISMATCH, "bitshuffle-lz4 block %zu at offset %zu: decoded "
                        "%d bytes, expected %zu", bi, *pos - 4, got, want);
    *pos += clen;
    unshuffle(scratch, out, elems, s, stream);
    return AZS_OK;
}

static azs_status bslz4_tail(const uint8_t *src, size_t src_size, size_t pos,
                             const bs_plan *pl, uint8_t *dst)
{
    const size_t tb = pl->tail_elems * pl->s;
    if (tb > src_size - pos)
        return azs_fail(AZS_ERR_TRUNCATED, "bitshuffle-lz4 chunk: raw tail of %zu bytes at "
                        "offset %zu, only %zu left", tb, pos, src_size - pos);
    memcpy(dst + (pl->n - pl->tail_elems) * pl->s, src + pos, tb);
    return AZS_OK;
}

static size_t scratch_need(const bs_plan *pl)
{
    size_t e = pl->nfull ? pl->block_elems : pl->last_elems;
    return e * pl->s;
}

static azs_status bslz4_decode(size_t s, const uint8_t *src, size_t src_size, uint8_t *dst,
                               size_t dst_capacity, size_t *out_size)
{
    azs_chunk_header h;
    azs_status st = azs_chunk_read_header(src, src_size, &h);
    if (st != AZS_OK)
        return st;
    bs_plan pl;
    if ((st = bslz4_plan(s, &h, src_size, dst_capacity, &pl)) != AZS_OK)
        return st;
    _Alignas(64) uint8_t stack_scratch[STACK_SCRATCH];
    uint8_t *scratch = stack_scratch, *heap = NULL;
    if (scratch_need(&pl) > sizeof stack_scratch) {
        heap = malloc(scratch_need(&pl));
        if (!heap)
            return azs_fail(AZS_ERR_NOMEM, "bitshuffle-lz4: scratch of %zu bytes",
                            scratch_need(&pl));
        scratch = heap;
    }
    azs_unshuffle_fn un = azs_unshuffle_pick(NULL);
    const int stream = h.total_bytes >= STREAM_MIN_BYTES;
    size_t pos = HDR_BYTES;
    const size_t bbytes = pl.block_elems * s;
    for (size_t i = 0; i < pl.nfull && st == AZS_OK; i++)
        st = bslz4_block(src, src_size, &pos, i, pl.block_elems, s, scratch, dst + i * bbytes, un,
                         stream);
    if (st == AZS_OK && pl.last_elems)
        st = bslz4_block(src, src_size, &pos, pl.nfull, pl.last_elems, s, scratch,
                         dst + pl.nfull * bbytes, un, stream);
    if (st == AZS_OK)
        st = bslz4_tail(src, src_size, pos, &pl, dst);
    free(heap);
    if (st == AZS_OK && out_size)
        *out_size = (size_t)h.total_bytes;
    return st;
}

azs_status azs_bslz4_blocks_init(azs_bslz4_blocks *b, size_t s, const void *src, size_t src_size)
{
    memset(b, 0, sizeof *b);
    azs_chunk_header h;
    azs_status st = azs_chunk_read_header(src, src_size, &h);
    if (st != AZS_OK)
        return st;
    bs_plan pl = {0};
    if ((st = bslz4_plan(s, &h, src_size, SIZE_MAX, &pl)) != AZS_OK)
        return st;
    b->src = src;
    b->src_size = src_size;
    b->pos = HDR_BYTES;
    b->elem_size = s;
    b->n = pl.n;
    b->block_elems = pl.block_elems;
    b->nfull = pl.nfull;
    b->last_elems = pl.last_elems;
    b->tail_elems = pl.tail_elems;
    b->total_bytes = h.total_bytes;
    b->max_block_bytes = scratch_need(&pl);
    b->unshuffle = (void *)azs_unshuffle_pick(NULL);
    return AZS_OK;
}

azs_status azs_bslz4_blocks_next(azs_bslz4_blocks *b, void *dst, size_t dst_capacity,
                                 void *scratch, size_t *elems)
{
    *elems = 0;
    size_t e;
    azs_status st = AZS_OK;
    const size_t s = b->elem_size;
    if (b->next < b->nfull)
        e = b->block_elems;
    else if (b->next == b->nfull && b->last_elems)
        e = b->last_elems;
    else if (b->done < b->n) { /* the raw tail */
        e = b->tail_elems;
        if (e * s > dst_capacity)
            return azs_fail(AZS_ERR_CAPACITY, "bitshuffle-lz4 tail: %zu bytes, room for %zu", e * s,
                            dst_capacity);
        if (e * s > b->src_size - b->pos)
            return azs_fail(AZS_ERR_TRUNCATED, "bitshuffle-lz4 chunk: raw tail of %zu bytes at "
                            "offset %zu, only %zu left", e * s, b->pos, b->src_size - b->pos);
        memcpy(dst, b->src + b->pos, e * s);
        b->pos += e * s;
        b->done += e;
        *elems = e;
        return AZS_OK;
    } else
        return AZS_OK;
    if (e * s > dst_capacity)
        return azs_fail(AZS_ERR_CAPACITY, "bitshuffle-lz4 block %zu: %zu bytes, room for %zu",
                        b->next, e * s, dst_capacity);
    st = bslz4_block(b->src, b->src_size, &b->pos, b->next, e, s, scratch, dst,
                     (azs_unshuffle_fn)b->unshuffle, 0);
    if (st != AZS_OK)
        return st;
    b->next++;
    b->done += e;
    *elems = e;
    return AZS_OK;
}

azs_status azs_bslz4_decode_omp(size_t elem_size, const void *src_, size_t src_size, void *dst_,
                                size_t dst_capacity, size_t *out_size)
{
    const uint8_t *src = src_;
    uint8_t *dst = dst_;
    if (!src || (!dst && dst_capacity))
        return azs_fail(AZS_ERR_INVALID_ARG, "bitshuffle-lz4: NULL buffer");
    azs_chunk_header h;
    azs_status st = azs_chunk_read_header(src, src_size, &h);
    if (st != AZS_OK)
        return st;
    bs_plan pl;
    if ((st = bslz4_plan(elem_size, &h, src_size, dst_capacity, &pl)) != AZS_OK)
        return st;
    const size_t nblk = pl.nfull + (pl.last_elems ? 1 : 0);
    if (nblk < 4 || scratch_need(&pl) > STACK_SCRATCH)
        return bslz4_decode(elem_size, src, src_size, dst, dst_capacity, out_size);

    /* Each thread takes a contiguous range of blocks and finds its first block by
     * hopping over the length fields from the start (a few thousand 4-byte reads),
     * so no offset table has to be allocated. Error details are thread-local: on any
     * failure the serial decoder runs again to report the first error on this thread. */
    int failed = 0;
    size_t end_pos = 0;
    azs_unshuffle_fn un = azs_unshuffle_pick(NULL);
    const int stream = h.total_bytes >= STREAM_MIN_BYTES;
#pragma omp parallel reduction(| : failed)
    {
        _Alignas(64) uint8_t scratch[STACK_SCRATCH];
        int nt = 1, t = 0;
#ifdef _OPENMP
        nt = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        const size_t b0 = nblk * (size_t)t / (size_t)nt, b1 = nblk * (size_t)(t + 1) / (size_t)nt;
        size_t pos = HDR_BYTES;
        for (size_t i = 0; i < b0 && !failed; i++) {
            if (src_size - pos < 4) {
                failed = 1;
                break;
            }
            const uint32_t clen = be32(src + pos);
            if (clen > src_size - pos - 4) {
                failed = 1;
                break;
            }
            pos += 4 + (size_t)clen;
        }
        for (size_t i = b0; i < b1 && !failed; i++) {
            const size_t elems = i < pl.nfull ? pl.block_elems : pl.last_elems;
            if (bslz4_block(src, src_size, &pos, i, elems, elem_size, scratch,
                            dst + i * pl.block_elems * elem_size, un, stream) != AZS_OK)
                failed = 1;
        }
        if (t == nt - 1)
            end_pos = pos;
    }
    if (!failed && bslz4_tail(src, src_size, end_pos, &pl, dst) == AZS_OK) {
        azs_clear_error();
        if (out_size)
            *out_size = (size_t)h.total_bytes;
        return AZS_OK;
    }
    return bslz4_decode(elem_size, src, src_size, dst, dst_capacity, out_size);
}

azs_status azs_chunk_walk_init(azs_chunk_walk *w, azs_codec codec, size_t s, const void *src,
                               size_t src_size)
{
    memset(w, 0, sizeof *w);
    if (!src)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk walk: NULL buffer");
    azs_status st = azs_chunk_read_header(src, src_size, &w->h);
    if (st != AZS_OK)
        return st;
    w->src = src;
    w->src_size = src_size;
    w->pos = HDR_BYTES;
    w->elem_size = s;
    w->codec = codec;
    if (codec == AZS_CODEC_LZ4)
        return check_header("lz4 chunk", &w->h, SIZE_MAX);
    if (codec != AZS_CODEC_BSLZ4)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk walk: codec %d has no blocks", (int)codec);
    bs_plan pl;
    if ((st = bslz4_plan(s, &w->h, src_size, SIZE_MAX, &pl)) != AZS_OK)
        return st;
    w->n = pl.n;
    w->block_elems = pl.block_elems;
    w->nfull = pl.nfull;
    w->last_elems = pl.last_elems;
    w->tail_elems = pl.tail_elems;
    return AZS_OK;
}

azs_status azs_chunk_walk_next(azs_chunk_walk *w, azs_chunk_block *b, int *more)
{
    *more = 0;
    size_t want; /* decoded bytes of the next block */
    const size_t s = w->elem_size;
    if (w->codec == AZS_CODEC_LZ4) {
        if (w->done >= w->h.total_bytes)
            return AZS_OK;
        want = w->h.total_bytes - w->done < w->h.block_bytes ? (size_t)(w->h.total_bytes - w->done)
                                                              : w->h.block_bytes;
    } else if (w->next < w->nfull || (w->next == w->nfull && w->last_elems)) {
        want = (w->next < w->nfull ? w->block_elems : w->last_elems) * s;
    } else if (w->done < w->n) { /* the raw tail */
        want = w->tail_elems * s;
        if (want > w->src_size - w->pos)
            return azs_fail(AZS_ERR_TRUNCATED, "bitshuffle-lz4 chunk: raw tail of %zu bytes at "
                            "offset %zu, only %zu left", want, w->pos, w->src_size - w->pos);
        *b = (azs_chunk_block){w->next, w->pos, want, w->done * s, want, AZS_BLOCK_RAW};
        w->pos += want;
        w->done = w->n;
        *more = 1;
        return AZS_OK;
    } else {
        return AZS_OK;
    }
    const char *what = w->codec == AZS_CODEC_LZ4 ? "lz4" : "bitshuffle-lz4";
    uint32_t clen = 0;
    azs_status st = block_length(what, w->src, w->src_size, &w->pos, w->next, &clen);
    if (st != AZS_OK)
        return st;
    int kind = AZS_BLOCK_BSLZ4;
    if (w->codec == AZS_CODEC_LZ4) {
        /* stored raw when compression would not have shrunk it */
        if (clen > want)
            return azs_fail(AZS_ERR_CORRUPT, "lz4 block %zu at offset %zu: %u compressed bytes "
                            "for a %zu-byte block", w->next, w->pos - 4, (unsigned)clen, want);
        kind = clen == want ? AZS_BLOCK_RAW : AZS_BLOCK_LZ4;
    }
    const size_t dst_off = w->codec == AZS_CODEC_LZ4 ? w->done : w->done * s;
    *b = (azs_chunk_block){w->next, w->pos, clen, dst_off, want, kind};
    w->pos += clen;
    w->done += w->codec == AZS_CODEC_LZ4 ? want : want / s;
    w->next++;
    *more = 1;
    return AZS_OK;
}

static azs_status lz4_decode(const uint8_t *src, size_t src_size, uint8_t *dst,
                             size_t dst_capacity, size_t *out_size)
{
    azs_chunk_walk w;
    azs_status st = azs_chunk_walk_init(&w, AZS_CODEC_LZ4, 1, src, src_size);
    if (st != AZS_OK)
        return st;
    if ((st = check_header("lz4 chunk", &w.h, dst_capacity)) != AZS_OK)
        return st;
    azs_chunk_block b;
    int more = 1;
    while ((st = azs_chunk_walk_next(&w, &b, &more)) == AZS_OK && more) {
        if (b.kind == AZS_BLOCK_RAW) {
            memcpy(dst + b.dst_off, src + b.src_off, b.dst_len);
            continue;
        }
        const int got = LZ4_decompress_safe((const char *)src + b.src_off, (char *)dst + b.dst_off,
                                            (int)b.src_len, (int)b.dst_len);
        if (got < 0)
            return azs_fail(AZS_ERR_CORRUPT, "lz4 block %zu at offset %zu: invalid LZ4 data",
                            b.index, b.src_off - 4);
        if ((size_t)got != b.dst_len)
            return azs_fail(AZS_ERR_SIZE_MISMATCH, "lz4 block %zu at offset %zu: decoded %d "
                            "bytes, expected %zu", b.index, b.src_off - 4, got, b.dst_len);
    }
    if (st == AZS_OK && out_size)
        *out_size = (size_t)w.h.total_bytes;
    return st;
}

azs_status azs_chunk_decode(azs_codec codec, size_t elem_size, const void *src, size_t src_size,
                            void *dst, size_t dst_capacity, size_t *out_size)
{
    if (!src || (!dst && dst_capacity))
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk decode: NULL buffer");
    switch (codec) {
    case AZS_CODEC_NONE:
        if (src_size > dst_capacity)
            return azs_fail(AZS_ERR_CAPACITY, "uncompressed chunk of %zu bytes, destination "
                            "holds %zu", src_size, dst_capacity);
        if (src_size)
            memcpy(dst, src, src_size);
        if (out_size)
            *out_size = src_size;
        return AZS_OK;
    case AZS_CODEC_LZ4:
        return lz4_decode(src, src_size, dst, dst_capacity, out_size);
    case AZS_CODEC_BSLZ4:
        return bslz4_decode(elem_size, src, src_size, dst, dst_capacity, out_size);
    }
    return azs_fail(AZS_ERR_UNSUPPORTED, "chunk decode: unknown codec %d", (int)codec);
}

/* ------------------------------------------------------------------ encoder ------- */

static size_t default_block_elems(size_t s)
{
    size_t b = BSHUF_TARGET_BYTES / s;
    b -= b % 8;
    return b < BSHUF_MIN_DEFAULT_ELEMS ? BSHUF_MIN_DEFAULT_ELEMS : b;
}

size_t azs_chunk_encode_bound(azs_codec codec, size_t nbytes, size_t elem_size, size_t block_elems)
{
    if (codec == AZS_CODEC_NONE)
        return nbytes;
    if (elem_size == 0)
        return 0;
    size_t bb;
    if (codec == AZS_CODEC_BSLZ4)
        bb = (block_elems ? block_elems : default_block_elems(elem_size)) * elem_size;
    else
        bb = block_elems ? block_elems * elem_size : (nbytes ? nbytes : 1);
    if (bb == 0 || bb > LZ4_MAX_INPUT_SIZE)
        return 0;
    const size_t nblk = nbytes / bb + 1;
    const size_t per = 4 + (size_t)LZ4_compressBound((int)bb);
    if (nblk > (SIZE_MAX - HDR_BYTES - nbytes) / per)
        return 0;
    return HDR_BYTES + nblk * per + nbytes % bb;
}

azs_status azs_chunk_encode(azs_codec codec, size_t s, size_t block_elems, const void *src_,
                            size_t nbytes, void *dst_, size_t cap, size_t *out_size)
{
    const uint8_t *src = src_;
    uint8_t *dst = dst_;
    if ((!src && nbytes) || !dst)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk encode: NULL buffer");
    if (codec == AZS_CODEC_NONE) {
        if (nbytes > cap)
            return azs_fail(AZS_ERR_CAPACITY, "chunk encode: %zu bytes into %zu", nbytes, cap);
        if (nbytes)
            memcpy(dst, src, nbytes);
        *out_size = nbytes;
        return AZS_OK;
    }
    if (codec != AZS_CODEC_LZ4 && codec != AZS_CODEC_BSLZ4)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk encode: unknown codec %d", (int)codec);
    if (s == 0 || nbytes % s != 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk encode: %zu bytes is not a whole number of "
                        "%zu-byte elements", nbytes, s);
    if (codec == AZS_CODEC_BSLZ4 && block_elems % 8 != 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk encode: block of %zu elements is not a "
                        "multiple of 8", block_elems);
    size_t bb;
    if (codec == AZS_CODEC_BSLZ4)
        bb = (block_elems ? block_elems : default_block_elems(s)) * s;
    else
        bb = block_elems ? block_elems * s : (nbytes ? nbytes : 1);
    if (bb > LZ4_MAX_INPUT_SIZE || bb > UINT32_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "chunk encode: block of %zu bytes too large", bb);
    if (cap < HDR_BYTES)
        return azs_fail(AZS_ERR_CAPACITY, "chunk encode: destination of %zu bytes", cap);
    put_be64(dst, nbytes);
    put_be32(dst + 8, (uint32_t)bb);
    size_t pos = HDR_BYTES;

    uint8_t *scratch = NULL;
    if (codec == AZS_CODEC_BSLZ4) {
        scratch = malloc(bb);
        if (!scratch)
            return azs_fail(AZS_ERR_NOMEM, "chunk encode: scratch of %zu bytes", bb);
    }
    /* bitshuffle: whole blocks, then the rest rounded down to 8 elements, then a raw
     * tail; lz4: whole blocks then the rest. */
    const size_t n = nbytes / s;
    const size_t coded = codec == AZS_CODEC_BSLZ4 ? (n - n % 8) * s : nbytes;
    azs_status st = AZS_OK;
    for (size_t off = 0; off < coded; off += bb) {
        const size_t len = coded - off < bb ? coded - off : bb;
        const uint8_t *blk = src + off;
        if (codec == AZS_CODEC_BSLZ4) {
            azs_bitshuffle_fwd(src + off, scratch, len / s, s);
            blk = scratch;
        }
        if (cap - pos < 4) {
            st = azs_fail(AZS_ERR_CAPACITY, "chunk encode: destination full at offset %zu", pos);
            break;
        }
        const size_t room = cap - pos - 4;
        int c = LZ4_compress_default((const char *)blk, (char *)dst + pos + 4, (int)len,
                                     room > INT_MAX ? INT_MAX : (int)room);
        if (codec == AZS_CODEC_LZ4 && (c <= 0 || (size_t)c >= len)) {
            /* the LZ4 filter stores a block raw when it does not shrink */
            if (room < len) {
                st = azs_fail(AZS_ERR_CAPACITY, "chunk encode: destination full at offset %zu", pos);
                break;
            }
            memcpy(dst + pos + 4, blk, len);
            c = (int)len;
        } else if (c <= 0) {
            st = azs_fail(AZS_ERR_CAPACITY, "chunk encode: destination full at offset %zu", pos);
            break;
        }
        put_be32(dst + pos, (uint32_t)c);
        pos += 4 + (size_t)c;
    }
    free(scratch);
    if (st != AZS_OK)
        return st;
    const size_t tail = nbytes - coded;
    if (tail) {
        if (cap - pos < tail)
            return azs_fail(AZS_ERR_CAPACITY, "chunk encode: no room for the %zu-byte tail", tail);
        memcpy(dst + pos, src + coded, tail);
        pos += tail;
    }
    *out_size = pos;
    return AZS_OK;
}
