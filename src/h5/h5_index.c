/* Version-1 B-tree, fixed- and extensible-array chunk indexes, read from the file (h5_index.h
 * says why; the extensible array's format is described above its walk, at the end).
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
#include "h5/h5_index.h"

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

/* A copy of the layout message (type 0x08) of the object header at ohdr (*msg: malloc'd). */
static azs_status layout_message(const azs_h5_bytes *f, uint64_t ohdr, uint8_t **msg_out,
                                 size_t *len_out)
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
        if (blen[b] > ((uint64_t)1 << 26) || blen[b] > f->file_size)
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
                *msg_out = malloc(size ? size : 1);
                if (*msg_out)
                    memcpy(*msg_out, msg, size);
                *len_out = size;
                free(blk);
                return *msg_out ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "chunk index: layout message");
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

azs_status azs_h5_chunk_btree_addr(const azs_h5_bytes *f, uint64_t ohdr, uint64_t *btree,
                                   unsigned *key_dims)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    azs_status s = layout_message(f, ohdr, &msg, &len);
    if (s == AZS_OK)
        s = layout_msg(f, msg, len, btree, key_dims);
    free(msg);
    return s;
}

azs_status azs_h5_chunk_array_addr(const azs_h5_bytes *f, uint64_t ohdr, unsigned *type,
                                   uint64_t *array)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    azs_status s = layout_message(f, ohdr, &msg, &len);
    if (s != AZS_OK)
        return s;
    /* version 4 or 5, class 2: flags, dimensionality, bytes per dimension, dimensions,
     * index type (3 fixed array: 1 parameter byte; 4 extensible array: 5), the array
     * header address */
    if (len < 5 || (msg[0] != 4 && msg[0] != 5) || msg[1] != 2) {
        free(msg);
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: not a version-4 chunked layout");
    }
    const size_t nd = msg[3], enc = msg[4], at = 5 + nd * enc;
    const size_t params = len > at && msg[at] == 3 ? 1 : 5;
    if (enc == 0 || enc > 8 || len < at + 1 + params + f->sa) {
        free(msg);
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: layout message of %zu bytes", len);
    }
    *type = msg[at];
    if (*type != 3 && *type != 4) {
        free(msg);
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: index type %u is neither a fixed nor "
                        "an extensible array", *type);
    }
    *array = le_addr(f, msg + at + 1 + params);
    free(msg);
    return AZS_OK;
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
    if (blen > f->file_size)
        return azs_fail(AZS_ERR_TRUNCATED, "chunk index: B-tree node at address %llu runs past "
                        "the file", (unsigned long long)addr);
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
    if (btree == UNDEF_ADDR) /* nothing written yet */
        return AZS_OK;
    walk w = {f, key_dims, first, n, max_chunks, 0, 0, 0, off, size, skipped, found};
    return node(&w, btree, -1);
}

/* ---------- extensible array (layout version 4, index type 4) ----------
 *   header "EAHD": version 0, class (0 chunks, 1 filtered chunks), element size, bits of
 *     the largest element count, elements in the index block, least elements of a data
 *     block, least data-block addresses of a super block, bits of a data-block page, six
 *     statistics (lengths), index block address, checksum.
 *   index block "EAIB": version, class, header address, its own elements, the addresses of
 *     the data blocks of the first super blocks, the addresses of the other super blocks.
 *   super block "EASB": version, class, header address, block offset, data-block addresses.
 *   data block "EADB": version, class, header address, block offset, elements, checksum.
 *   super block u holds 2^floor(u/2) data blocks of 2^floor((u+1)/2) x (least elements);
 *   the index block addresses the data blocks of the first 2 log2(least addresses) super
 *   blocks, 2 (least addresses - 1) of them. An element: chunk address (class 0); address,
 *   stored size, filter mask (class 1). Chunk index i is frame i (one frame per chunk).
 * A data block of more than 2^page bits elements (arrays past ~130,000 chunks with the
 * defaults) is a prefix and a checksum followed by pages of 2^page bits elements and a
 * checksum each; its super block holds a bitmap of the pages written. */

typedef struct ea {
    const azs_h5_bytes *f;
    unsigned cls, esize;
    uint32_t unfiltered_size;
    uint64_t first, n;
    uint64_t *off;
    uint32_t *size;
    uint8_t *skipped, *found;
} ea;

static void ea_element(ea *a, uint64_t i, const uint8_t *e)
{
    if (i < a->first || i - a->first >= a->n)
        return;
    const uint64_t addr = le_addr(a->f, e);
    if (addr == UNDEF_ADDR)
        return;
    const uint64_t g = i - a->first;
    a->found[g] = 1;
    a->off[g] = addr;
    if (a->cls == 1) {
        const unsigned sl = a->esize - a->f->sa - 4;
        const uint64_t sz = le(e + a->f->sa, sl);
        a->size[g] = sz > UINT32_MAX ? UINT32_MAX : (uint32_t)sz;
        a->skipped[g] = (uint8_t)(le(e + a->f->sa + sl, 4) & 1u);
    } else {
        a->size[g] = a->unfiltered_size;
        a->skipped[g] = 0;
    }
}

/* Reads a block of `len` bytes at addr with signature sig; *b: malloc'd. */
static azs_status ea_block(const azs_h5_bytes *f, uint64_t addr, size_t len, const char *sig,
                           uint8_t **b)
{
    *b = NULL;
    if (len > f->file_size) /* before allocating: a hostile count could ask for gigabytes */
        return azs_fail(AZS_ERR_TRUNCATED, "chunk index: %s block of %zu bytes in a file of "
                        "%llu", sig, len, (unsigned long long)f->file_size);
    *b = malloc(len);
    if (!*b)
        return azs_fail(AZS_ERR_NOMEM, "chunk index: %s block", sig);
    azs_status s = rd(f, addr, len, *b, sig);
    if (s == AZS_OK && (memcmp(*b, sig, 4) || (*b)[4] != 0))
        s = azs_fail(AZS_ERR_CORRUPT, "chunk index: no %s block at address %llu", sig,
                     (unsigned long long)addr);
    if (s != AZS_OK) {
        free(*b);
        *b = NULL;
    }
    return s;
}

/* Starts the walk of a fixed or extensible array: reads the header block
 * (len bytes, signature sig) into *h and takes the element class and size from it. *h
 * stays NULL when the array was never written. */
static azs_status array_header(ea *a, uint64_t hdr_addr, size_t len, const char *sig,
                               uint8_t **h)
{
    *h = NULL;
    if (hdr_addr == UNDEF_ADDR)
        return AZS_OK;
    azs_status s = ea_block(a->f, hdr_addr, len, sig, h);
    if (s != AZS_OK)
        return s;
    const unsigned sa = a->f->sa;
    a->cls = (*h)[5];
    a->esize = (*h)[6];
    if (a->cls > 1 || (a->cls == 0 && a->esize != sa) ||
        (a->cls == 1 && (a->esize <= sa + 4 || a->esize - sa - 4 > 8))) {
        free(*h);
        *h = NULL;
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: %s: element class %u of %u bytes", sig,
                        a->cls, a->esize);
    }
    return AZS_OK;
}

static unsigned log2u(uint64_t v)
{
    unsigned r = 0;
    while (v > 1) {
        v >>= 1;
        r++;
    }
    return r;
}

azs_status azs_h5_chunk_earray_walk(const azs_h5_bytes *f, uint64_t hdr_addr, uint64_t first,
                                    uint64_t n, uint64_t max_chunks, uint32_t unfiltered_size,
                                    uint64_t *off, uint32_t *size, uint8_t *skipped,
                                    uint8_t *found)
{
    const unsigned sa = f->sa, ss = f->ss;
    ea a = {f, 0, 0, unfiltered_size, first, n, off, size, skipped, found};
    uint8_t *h = NULL;
    azs_status s = array_header(&a, hdr_addr, 12 + 6 * (size_t)ss + sa + 4, "EAHD", &h);
    if (s != AZS_OK || !h)
        return s;
    const unsigned max_bits = h[7], ib_elmts = h[8], dmin = h[9], smin = h[10], page_bits = h[11];
    const uint64_t ib_addr = le_addr(f, h + 12 + 6 * (size_t)ss);
    free(h);
    const int pow2 = dmin && !(dmin & (dmin - 1)) && smin >= 2 && !(smin & (smin - 1));
    if (max_bits == 0 || max_bits > 64 || !pow2 || log2u(dmin) > max_bits || page_bits > 31)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: extensible array parameters (%u bits, "
                        "%u/%u/%u)", max_bits, dmin, smin, page_bits);
    const unsigned nsblks = 1 + max_bits - log2u(dmin);
    const unsigned ib_nsblks = 2 * log2u(smin);
    const size_t ndblk_addrs = 2 * ((size_t)smin - 1);
    if (ib_nsblks > nsblks)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: extensible array with %u super blocks, "
                        "%u in the index block", nsblks, ib_nsblks);
    const size_t nsblk_addrs = nsblks - ib_nsblks, arr_off = (max_bits + 7) / 8;
    if (ib_addr == UNDEF_ADDR)
        return AZS_OK;
    uint8_t *ib = NULL;
    const size_t ib_len =
        6 + sa + (size_t)ib_elmts * a.esize + (ndblk_addrs + nsblk_addrs) * sa + 4;
    if ((s = ea_block(f, ib_addr, ib_len, "EAIB", &ib)) != AZS_OK)
        return s;
    const uint8_t *p = ib + 6 + sa;
    for (unsigned i = 0; i < ib_elmts; i++)
        ea_element(&a, i, p + (size_t)i * a.esize);
    const uint8_t *dblk_addrs = p + (size_t)ib_elmts * a.esize;
    const uint8_t *sblk_addrs = dblk_addrs + ndblk_addrs * sa;
    uint64_t start = ib_elmts; /* element index of the super block's first element */
    size_t dblk_seen = 0;      /* data blocks addressed from the index block so far */
    for (unsigned u = 0; u < nsblks && s == AZS_OK && start < max_chunks; u++) {
        const uint64_t nd = (uint64_t)1 << (u / 2), ne = (uint64_t)dmin << ((u + 1) / 2);
        /* a data block of more than 2^page_bits elements is stored as pages */
        const uint64_t pn = (uint64_t)1 << page_bits;
        const int paged = ne > pn;
        const uint64_t npages = paged ? ne / pn : 1;
        const size_t pinit = paged ? (size_t)((npages + 7) / 8) : 0; /* bitmap bytes per block */
        const int too_big = ne > ((uint64_t)1 << 40) || pn * a.esize > f->file_size;
        if ((paged && (u < ib_nsblks || npages > ((uint64_t)1 << 24) || too_big))) {
            s = azs_fail(AZS_ERR_UNSUPPORTED, "chunk index: extensible array data blocks of %llu "
                         "elements", (unsigned long long)ne);
            break;
        }
        if (nd * ne > UINT64_MAX - start) /* only a hostile header gets here */
            break;
        uint8_t *sb = NULL;
        const uint8_t *addrs;
        if (u < ib_nsblks) {
            if (dblk_seen + nd > ndblk_addrs) {
                s = azs_fail(AZS_ERR_CORRUPT, "chunk index: extensible array index block");
                break;
            }
            addrs = dblk_addrs + dblk_seen * sa;
            dblk_seen += nd;
        } else {
            const uint64_t sb_addr = le_addr(f, sblk_addrs + (size_t)(u - ib_nsblks) * sa);
            if (sb_addr == UNDEF_ADDR) { /* nothing written this far */
                start += nd * ne;
                continue;
            }
            /* header, block offset, page-init bitmaps (paged blocks), data-block addresses */
            if ((s = ea_block(f, sb_addr, 6 + sa + arr_off + nd * (pinit + sa) + 4, "EASB",
                              &sb)) != AZS_OK)
                break;
            addrs = sb + 6 + sa + arr_off + nd * pinit;
        }
        for (uint64_t k = 0; k < nd && s == AZS_OK && start + k * ne < max_chunks; k++) {
            const uint64_t db_addr = le_addr(f, addrs + k * sa);
            if (db_addr == UNDEF_ADDR)
                continue;
            uint8_t *db = NULL;
            const size_t prefix = 6 + sa + arr_off; /* then the elements, or (paged) a checksum */
            if ((s = ea_block(f, db_addr, prefix + (paged ? 0 : ne * a.esize) + 4, "EADB", &db)) !=
                AZS_OK)
                break;
            if (!paged) {
                for (uint64_t j = 0; j < ne; j++)
                    ea_element(&a, start + k * ne + j, db + prefix + j * a.esize);
                free(db);
                continue;
            }
            free(db);
            /* pages follow the block's prefix and checksum: pn elements and a checksum each;
             * a page whose bit is clear was never written. The super block's bitmap (nd x
             * pinit bytes) numbers the bits k x npages + q, most significant first. */
            const uint8_t *bits = sb + 6 + sa + arr_off;
            uint8_t *pg = malloc((size_t)(pn * a.esize));
            if (!pg) {
                s = azs_fail(AZS_ERR_NOMEM, "chunk index: data block page");
                break;
            }
            for (uint64_t q = 0; q < npages && s == AZS_OK && start + k * ne + q * pn < max_chunks;
                 q++) {
                const uint64_t bit = k * npages + q;
                if (!(bits[bit / 8] & (0x80u >> (bit % 8))))
                    continue;
                const uint64_t pa = db_addr + prefix + 4 + q * (pn * a.esize + 4);
                if ((s = rd(f, pa, (size_t)(pn * a.esize), pg, "data block page")) != AZS_OK)
                    break;
                for (uint64_t j = 0; j < pn; j++)
                    ea_element(&a, start + k * ne + q * pn + j, pg + j * a.esize);
            }
            free(pg);
        }
        free(sb);
        start += nd * ne;
    }
    free(ib);
    return s;
}

/* ---------- fixed array (layout version 4, index type 3) ----------
 *   header "FAHD": version 0, class (0 chunks, 1 filtered chunks), element size, bits of a
 *     page, number of elements (a length), data block address, checksum.
 *   data block "FADB": version, class, header address; then, unpaged (at most 2^page bits
 *     elements), the elements and a checksum; paged, a bitmap of the pages written (most
 *     significant bit first) and a checksum, followed by the pages: 2^page bits elements
 *     (fewer in the last) and a checksum each. Elements as in the extensible array. */
azs_status azs_h5_chunk_farray_walk(const azs_h5_bytes *f, uint64_t hdr_addr, uint64_t first,
                                    uint64_t n, uint64_t max_chunks, uint32_t unfiltered_size,
                                    uint64_t *off, uint32_t *size, uint8_t *skipped,
                                    uint8_t *found)
{
    const unsigned sa = f->sa, ss = f->ss;
    ea a = {f, 0, 0, unfiltered_size, first, n, off, size, skipped, found};
    uint8_t *h = NULL;
    azs_status s = array_header(&a, hdr_addr, 8 + (size_t)ss + sa + 4, "FAHD", &h);
    if (s != AZS_OK || !h)
        return s;
    const unsigned page_bits = h[7];
    const uint64_t nel = le(h + 8, ss), db_addr = le_addr(f, h + 8 + ss);
    free(h);
    if (page_bits > 31 || nel > max_chunks)
        return azs_fail(AZS_ERR_CORRUPT, "chunk index: fixed array of %llu elements, page bits "
                        "%u", (unsigned long long)nel, page_bits);
    if (db_addr == UNDEF_ADDR || nel == 0)
        return AZS_OK;
    const uint64_t pn = (uint64_t)1 << page_bits;
    const size_t prefix = 6 + sa;
    uint8_t *db = NULL;
    if (nel <= pn) {
        if ((s = ea_block(f, db_addr, prefix + nel * a.esize + 4, "FADB", &db)) != AZS_OK)
            return s;
        for (uint64_t i = 0; i < nel; i++)
            ea_element(&a, i, db + prefix + i * a.esize);
        free(db);
        return AZS_OK;
    }
    const uint64_t npages = (nel + pn - 1) / pn;
    const size_t bitmap = (size_t)((npages + 7) / 8);
    if (pn * a.esize > f->file_size || bitmap > f->file_size)
        return azs_fail(AZS_ERR_TRUNCATED, "chunk index: fixed array pages larger than the file");
    if ((s = ea_block(f, db_addr, prefix + bitmap + 4, "FADB", &db)) != AZS_OK)
        return s;
    uint8_t *pg = malloc((size_t)(pn * a.esize));
    if (!pg) {
        free(db);
        return azs_fail(AZS_ERR_NOMEM, "chunk index: fixed array page");
    }
    uint64_t pa = db_addr + prefix + bitmap + 4;
    for (uint64_t q = 0; q < npages && s == AZS_OK; q++) {
        const uint64_t m = q + 1 < npages ? pn : nel - q * pn; /* elements in this page */
        if (db[prefix + q / 8] & (0x80u >> (q % 8))) {
            if ((s = rd(f, pa, (size_t)(m * a.esize), pg, "fixed array page")) != AZS_OK)
                break;
            for (uint64_t j = 0; j < m; j++)
                ea_element(&a, q * pn + j, pg + j * a.esize);
        }
        pa += m * a.esize + 4;
    }
    free(pg);
    free(db);
    return s;
}
