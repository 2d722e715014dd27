/* Version-1 B-tree chunk index, read from the file (chunk_btree.h says why).
 *
 * Bytes read (HDF5 file format specification, little-endian throughout):
 *   object header v1: version 1, reserved, message count (2), reference count (4), size of
 *     the first block (4), padding to 16; messages: type (2), size (2), flags (1),
 *     reserved (3), data (size bytes).
 *   object header v2: "OHDR", version 2, flags; 4 times (4 bytes each) if flags & 0x20;
 *     2 + 2 bytes of attribute limits if flags & 0x10; size of the first block (1 << (flags
 *     & 3) bytes); messages: type (1), size (2), flags (1), creation order (2) if flags &
 *     0x04, data; then a gap and a 4-byte checksum. Further blocks: "OCHK", messages,
 *     checksum.
 *   continuation message (0x10): address, length of the next block.
 *   layout message (0x08) version 3, class 2 (chunked): dimensionality (1), address of the
 *     v1 B-tree. (Versions 4 and 5 index chunks otherwise; 1 and 2 are pre-1.6 files.)
 *   v1 B-tree node: "TREE", type (1; 1 = raw data chunks), level (1), entries used (2),
 *     left and right sibling addresses, then key 0, child 0, ..., child e-1, key e; a key:
 *     stored size (4), filter mask (4), key_dims offsets of 8 bytes; children of level-0
 *     nodes are chunk addresses, of others nodes one level down. */
#define _POSIX_C_SOURCE 200809L
#include "io/chunk_btree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"

#define MAX_OH_BLOCKS 64  /* object header blocks followed at most */
#define MAX_LEVEL 48      /* deeper than any tree over 2^64 chunks */
#define UNDEF_ADDR UINT64_MAX

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* An address of f->sa bytes; all ones (undefined) becomes UNDEF_ADDR. */
static uint64_t le_addr(const azs_h5_bytes *f, const uint8_t *p)
{
    uint64_t v = le(p, f->sa);
    if (f->sa < 8 && v == (((uint64_t)1 << (8 * f->sa)) - 1))
        return UNDEF_ADDR;
    return v;
}

/* len bytes at HDF5 address addr, or an error naming what was read. */
static azs_status rd(const azs_h5_bytes *f, uint64_t addr, size_t len, void *buf, const char *what)
{
    if (addr == UNDEF_ADDR || addr > f->file_size || f->base > f->file_size - addr ||
        len > f->file_size - f->base - addr)
        return azs_fail(AZS_ERR_TRUNCATED, "chunk index: %s at address %llu (%zu bytes) is "
                        "outside the file", what, (unsigned long long)addr, len);
    uint8_t *b = buf;
    size_t done = 0;
    while (done < len) {
        ssize_t r = pread(f->fd, b + done, len - done, (off_t)(f->base + addr + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return azs_fail(AZS_ERR_IO, "chunk index: reading %s: %s", what,
                            r < 0 ? strerror(errno) : "end of file");
        done += (size_t)r;
    }
    return AZS_OK;
}

/* The layout message's B-tree address, if `msg` (len bytes) is a v3 chunked layout. */
static azs_status layout_msg(const azs_h5_bytes *f, const uint8_t *msg, size_t len,
                             uint64_t *btree, unsigned *key_dims)
{
    if (len < 2)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: layout message of %zu bytes", len);
    if (msg[1] != 2)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: layout class %u is not chunked", msg[1]);
    if (msg[0] != 3)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: layout message version %u (the "
                        "chunks are not indexed by a v1 B-tree)", msg[0]);
    if (len < 3 + (size_t)f->sa)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: layout message of %zu bytes", len);
    *key_dims = msg[2];
    *btree = le_addr(f, msg + 3);
    if (*key_dims < 2 || *key_dims > 33)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: chunk dimensionality %u", *key_dims);
    return AZS_OK;
}

azs_status azs_h5_chunk_btree_addr(const azs_h5_bytes *f, uint64_t ohdr, uint64_t *btree,
                                   unsigned *key_dims)
{
    if (f->sa < 2 || f->sa > 8 || f->ss < 2 || f->ss > 8)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: offset/length sizes %u/%u", f->sa, f->ss);
    uint8_t head[64];
    azs_status s = rd(f, ohdr, 16, head, "object header");
    if (s != AZS_OK)
        return s;
    int v2 = !memcmp(head, "OHDR", 4);
    if (!v2 && head[0] != 1)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: object header version %u", head[0]);
    /* blocks of messages still to read: address, length, whether it starts with "OCHK" */
    uint64_t baddr[MAX_OH_BLOCKS], blen[MAX_OH_BLOCKS];
    int nb = 1, v2_flags = 0;
    if (v2) {
        if ((s = rd(f, ohdr, 6, head, "object header")) != AZS_OK)
            return s;
        if (head[4] != 2)
            return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: object header version %u", head[4]);
        v2_flags = head[5];
        size_t pos = 6 + (v2_flags & 0x20 ? 16 : 0) + (v2_flags & 0x10 ? 4 : 0);
        unsigned szlen = 1u << (v2_flags & 3);
        if ((s = rd(f, ohdr, pos + szlen, head, "object header")) != AZS_OK)
            return s;
        baddr[0] = ohdr + pos + szlen;
        blen[0] = le(head + pos, szlen);
    } else {
        baddr[0] = ohdr + 16;
        blen[0] = le(head + 8, 4);
    }
    for (int b = 0; b < nb; b++) {
        if (blen[b] > ((uint64_t)1 << 26))
            return azs_fail(AZS_ERR_CORRUPT, "chunk index: object header block of %llu bytes",
                            (unsigned long long)blen[b]);
        uint8_t *blk = malloc(blen[b] ? (size_t)blen[b] : 1);
        if (!blk)
            return azs_fail(AZS_ERR_NOMEM, "chunk index: object header block");
        if ((s = rd(f, baddr[b], (size_t)blen[b], blk, "object header block")) != AZS_OK) {
            free(blk);
            return s;
        }
        size_t p = 0, end = (size_t)blen[b];
        if (v2 && b > 0) { /* "OCHK" ... checksum */
            if (end < 8 || memcmp(blk, "OCHK", 4)) {
                free(blk);
                return azs_fail(AZS_ERR_CORRUPT, "chunk index: object header continuation "
                                "block without its signature");
            }
            p = 4;
            end -= 4;
        }
        const size_t mh = v2 ? 4 + (v2_flags & 0x04 ? 2 : 0) : 8; /* message header bytes */
        while (end - p >= mh) {
            unsigned type = v2 ? blk[p] : (unsigned)le(blk + p, 2);
            size_t size = (size_t)le(blk + p + (v2 ? 1 : 2), 2);
            p += mh;
            if (size > end - p) {
                free(blk);
                return azs_fail(AZS_ERR_CORRUPT, "chunk index: object header message of %zu "
                                "bytes past its block", size);
            }
            const uint8_t *msg = blk + p;
            if (type == 0x08) {
                s = layout_msg(f, msg, size, btree, key_dims);
                free(blk);
                return s;
            }
            if (type == 0x10) { /* continuation */
                if (size < (size_t)f->sa + f->ss) {
                    free(blk);
                    return azs_fail(AZS_ERR_CORRUPT, "chunk index: continuation message of "
                                    "%zu bytes", size);
                }
                if (nb == MAX_OH_BLOCKS) {
                    free(blk);
                    return azs_fail(AZS_ERR_CORRUPT, "chunk index: more than %d object "
                                    "header blocks", MAX_OH_BLOCKS);
                }
                baddr[nb] = le_addr(f, msg);
                blen[nb] = le(msg + f->sa, f->ss);
                nb++;
            }
            p += size;
        }
        free(blk);
    }
    return azs_fail(AZS_ERR_CORRUPT, "chunk index: the object header has no layout message");
}

typedef struct walk {
    const azs_h5_bytes *f;
    unsigned key_dims;
    uint64_t first, n, max_chunks, chunks, nodes;
    uint64_t next; /* keys come in increasing frame order: the least the next may be */
    uint64_t *off;
    uint32_t *size;
    uint8_t *skipped, *found;
} walk;

static azs_status node(walk *w, uint64_t addr, int want_level)
{
    const azs_h5_bytes *f = w->f;
    if (++w->nodes > 2 * w->max_chunks + 64)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: more B-tree nodes than chunks");
    uint8_t h[24];
    const size_t hlen = 8 + 2 * (size_t)f->sa;
    azs_status s = rd(f, addr, hlen, h, "B-tree node");
    if (s != AZS_OK)
        return s;
    if (memcmp(h, "TREE", 4) || h[4] != 1)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: no raw-data B-tree node at address %llu",
                        (unsigned long long)addr);
    const int level = h[5];
    const size_t entries = (size_t)le(h + 6, 2);
    if ((want_level >= 0 && level != want_level) || level > MAX_LEVEL)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: B-tree node at address %llu has level "
                        "%d", (unsigned long long)addr, level);
    const size_t ks = 8 + 8 * (size_t)w->key_dims, step = ks + f->sa;
    const size_t blen = entries * step + ks;
    uint8_t *b = malloc(blen);
    if (!b)
        return azs_fail(AZS_ERR_NOMEM, "chunk index: B-tree node");
    if ((s = rd(f, addr + hlen, blen, b, "B-tree node")) != AZS_OK) {
        free(b);
        return s;
    }
    for (size_t e = 0; e < entries && s == AZS_OK; e++) {
        const uint8_t *key = b + e * step;
        const uint64_t child = le_addr(f, key + ks);
        if (level > 0) {
            s = node(w, child, level - 1);
            continue;
        }
        if (++w->chunks > w->max_chunks) {
            s = azs_fail(AZS_ERR_CORRUPT, "chunk index: more chunks than the dataset's %llu "
                         "frames", (unsigned long long)w->max_chunks);
            break;
        }
        /* offsets: frame, then 0 for every other dimension (one frame per chunk) */
        const uint64_t frame = le(key + 8, 8);
        for (unsigned d = 1; d < w->key_dims; d++)
            if (le(key + 8 + 8 * d, 8) != 0)
                s = azs_fail(AZS_ERR_CORRUPT, "chunk index: chunk of frame %llu does not "
                             "start at pixel 0", (unsigned long long)frame);
        /* a valid tree lists its chunks in increasing order: a damaged key breaks it */
        if (s == AZS_OK && frame < w->next)
            s = azs_fail(AZS_ERR_CORRUPT, "chunk index: frame %llu listed after frame %llu",
                         (unsigned long long)frame, (unsigned long long)(w->next - 1));
        if (s != AZS_OK)
            continue;
        w->next = frame + 1;
        if (frame < w->first || frame - w->first >= w->n)
            continue;
        const uint64_t g = frame - w->first;
        if (w->found[g])
            s = azs_fail(AZS_ERR_CORRUPT, "chunk index: frame %llu indexed twice",
                         (unsigned long long)frame);
        else if (child == UNDEF_ADDR)
            continue;
        else {
            w->found[g] = 1;
            w->off[g] = child;
            w->size[g] = (uint32_t)le(key, 4);
            w->skipped[g] = (uint8_t)(le(key + 4, 4) & 1u);
        }
    }
    free(b);
    return s;
}

azs_status azs_h5_chunk_btree_walk(const azs_h5_bytes *f, uint64_t btree, unsigned key_dims,
                                   uint64_t first, uint64_t n, uint64_t max_chunks,
                                   uint64_t *off, uint32_t *size, uint8_t *skipped,
                                   uint8_t *found)
{
    if (key_dims != 4 || f->sa < 2 || f->sa > 8)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: %u-dimensional chunk keys", key_dims);
    memset(found, 0, n ? (size_t)n : 1);
    if (btree == UNDEF_ADDR) /* nothing written yet */
        return AZS_OK;
    walk w = {f, key_dims, first, n, max_chunks, 0, 0, 0, off, size, skipped, found};
    return node(&w, btree, -1);
}
