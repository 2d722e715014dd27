/* Internal: the chunk index of a chunked dataset, read straight from the file when HDF5
 * stores it as a version-1 B-tree (the default of HDF5 files written for compatibility:
 * Dectris firmware, h5py, bitshuffle's own files), a fixed array (no unlimited dimension,
 * libver latest) or an extensible array (one unlimited dimension with libver latest: SWMR
 * writers).
 *
 * Why: libhdf5 1.10 looks a chunk up by coordinate with a scan of the whole index
 * (H5Dget_chunk_info_by_coord): building a per-frame index that way is quadratic
 * (measured: 100,000 frames in one dataset took 94 s to open). One walk of the index is
 * linear. The format (object header, layout message, B-tree node) is the HDF5 file
 * format specification's; every length and address is checked against the file, so a
 * damaged file gives an error status (the caller then falls back to libhdf5), never an
 * overread or a loop. No hdf5.h here: the parser sees only bytes (fuzzable). */
#ifndef AZS_H5_INDEX_H
#define AZS_H5_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/status.h"

typedef struct azs_h5_bytes {
    int fd;             /* the HDF5 file, read with pread */
    uint64_t base;      /* file offset of HDF5 address 0 (the user block size) */
    uint64_t file_size; /* bytes in the file: nothing at or past it is read */
    unsigned sa, ss;    /* sizes of offsets and of lengths (superblock), 2..8 */
} azs_h5_bytes;

/* The v1 B-tree address of the chunked dataset whose object header is at `ohdr`, and the
 * dimensionality of its chunk keys (dataset rank + 1). AZS_ERR_UNSUPPORTED when the
 * layout is not chunked with a v1 B-tree; AZS_ERR_CORRUPT / _TRUNCATED when the header
 * does not parse. */
azs_status azs_h5_chunk_btree_addr(const azs_h5_bytes *f, uint64_t ohdr, uint64_t *btree,
                                   unsigned *key_dims);

/* Walks the tree of a dataset whose chunks each hold one frame (chunk dims (1, ny, nx),
 * key_dims 4). For each chunk of frames [first, first + n): off[f - first] = its address,
 * size[] its stored bytes, skipped[] = 1 if filter-mask bit 0 is set (the first filter,
 * bitshuffle, was not applied), found[] = 1. max_chunks bounds the chunks the tree may
 * hold (the dataset's frame count): more, a duplicate, or a key that is not one whole
 * frame is an error. Frames not found were never written. found[] (n bytes) must be zero
 * on entry, and only the entries of chunks found are written: the pages of a dataset that
 * declares far more frames than it holds stay untouched. */
azs_status azs_h5_chunk_btree_walk(const azs_h5_bytes *f, uint64_t btree, unsigned key_dims,
                                   uint64_t first, uint64_t n, uint64_t max_chunks,
                                   uint64_t *off, uint32_t *size, uint8_t *skipped,
                                   uint8_t *found);

/* The array header address of a dataset with a version-4 layout whose chunks are indexed
 * by a fixed array (*type 3: no unlimited dimension) or an extensible array (*type 4: one
 * unlimited dimension, SWMR writers), as libver latest writes them. AZS_ERR_UNSUPPORTED
 * for any other layout. */
azs_status azs_h5_chunk_array_addr(const azs_h5_bytes *f, uint64_t ohdr, unsigned *type,
                                   uint64_t *array);

/* As azs_h5_chunk_btree_walk, for a fixed array (chunk index i = frame i). */
azs_status azs_h5_chunk_farray_walk(const azs_h5_bytes *f, uint64_t hdr_addr, uint64_t first,
                                    uint64_t n, uint64_t max_chunks, uint32_t unfiltered_size,
                                    uint64_t *off, uint32_t *size, uint8_t *skipped,
                                    uint8_t *found);

/* As azs_h5_chunk_btree_walk, for an extensible array (chunk index i = frame i).
 * unfiltered_size: the stored size of every chunk of an unfiltered dataset. (Same
 * arguments as azs_h5_chunk_farray_walk, so that the caller may pick either.) */
azs_status azs_h5_chunk_earray_walk(const azs_h5_bytes *f, uint64_t hdr_addr, uint64_t first,
                                    uint64_t n, uint64_t max_chunks, uint32_t unfiltered_size,
                                    uint64_t *off, uint32_t *size, uint8_t *skipped,
                                    uint8_t *found);

#endif
