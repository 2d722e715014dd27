/* libFuzzer harness: the chunk-index readers (src/h5/h5_index.c: v1 B-tree, fixed and
 * extensible arrays) on hostile files. Input: byte 0 picks the size of addresses (2, 4 or 8), byte 1 the size of lengths,
 * bytes 2..9 the object header's address (little-endian, taken modulo the image size), the
 * rest is the file image. The reader must end with a status (never crash, overread, loop
 * or allocate without bound), and whatever it finds must lie inside the image. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "h5/h5_index.h"

#define NFRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 10)
        return 0;
    static const unsigned sizes[3] = {2, 4, 8};
    const size_t img = size - 10;
    uint64_t oh = 0;
    for (int i = 7; i >= 0; i--)
        oh = oh << 8 | data[2 + i];
    int fd = memfd_create("h5index", 0);
    if (fd < 0)
        abort();
    if (img && write(fd, data + 10, img) != (ssize_t)img)
        abort();
    azs_h5_bytes f = {fd, 0, img, sizes[data[0] % 3], sizes[data[1] % 3]};
    uint64_t btree = 0, off[NFRAMES];
    uint32_t sz[NFRAMES];
    uint8_t skipped[NFRAMES], found[NFRAMES] = {0}; /* zero on entry (h5_index.h) */
    unsigned kd = 0;
    if (azs_h5_chunk_btree_addr(&f, img ? oh % img : 0, &btree, &kd) == AZS_OK &&
        azs_h5_chunk_btree_walk(&f, btree, kd, 0, NFRAMES, 4096, off, sz, skipped, found) ==
            AZS_OK) {
        for (int i = 0; i < NFRAMES; i++)
            if (found[i] && skipped[i] > 1)
                abort(); /* a flag is 0 or 1 */
    }
    unsigned type = 0;
    memset(found, 0, sizeof found);
    if (azs_h5_chunk_array_addr(&f, img ? oh % img : 0, &type, &btree) == AZS_OK)
        (type == 3 ? azs_h5_chunk_farray_walk : azs_h5_chunk_earray_walk)(
            &f, btree, 0, NFRAMES, 4096, 64, off, sz, skipped, found);
    close(fd);
    return 0;
}
