/* The HDF5 source: opens a stack and hands out raw chunks (compressed bytes of one frame)
 * or decoded frames. The chunk index is read once at open; afterwards raw chunks are read
 * with pread from any thread, without taking HDF5's global lock (doc/design.md "source (h5)").
 *
 * Handles plain files, Eiger master files whose /entry/data/data_NNNNNN are external links
 * (frames numbered across the files in link order), and virtual datasets. */
#ifndef AZSTREAM_SOURCE_H
#define AZSTREAM_SOURCE_H

#include "azstream/export.h"

#include "azstream/status.h"
#include "azstream/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct azs_source azs_source;

typedef enum azs_read_path {
    AZS_READ_PREAD = 0,      /* chunk index + pread (fast path, any thread) */
    AZS_READ_DIRECT_CHUNK,   /* H5Dread_chunk (serialised by HDF5's lock) */
    AZS_READ_FILTERED        /* H5Dread through the filter pipeline: no raw chunks */
} azs_read_path;

typedef struct azs_source_info {
    uint64_t nframes;        /* frames over all files */
    uint32_t ny, nx;         /* frame shape (slow, fast) */
    azs_dtype dtype;
    size_t elem_size;
    size_t frame_bytes;      /* ny * nx * elem_size */
    azs_codec codec;         /* of the chunks (all parts agree, else open fails) */
    unsigned filter_id;      /* HDF5 filter id of the first part (0 = none); differs from
                              * codec for filters HDF5 applies itself (e.g. deflate = 1),
                              * which only the FILTERED path can read */
    unsigned filter_params[8]; /* the filter's cd_values as stored */
    size_t n_filter_params;
    uint64_t chunk_dims[3];  /* chunk shape of the first part */
    size_t max_chunk_bytes;  /* largest stored chunk: capacity for azs_source_read_raw */
    uint64_t stored_bytes;   /* sum of stored chunk sizes (compression ratio) */
    azs_read_path read_path;
    size_t nparts;           /* files / links / VDS mappings behind the dataset */
    size_t nparts_walked;    /* of which the chunk index was read in one walk of the file's
                              * index structure (else libhdf5 was asked chunk by chunk) */
    size_t nparts_missing;   /* parts whose data file is missing (allow_missing only) */
    uint64_t frames_missing; /* the frames they would hold (AZS_ERR_MISSING when read) */
} azs_source_info;

/* Describes one part (file + dataset + first frame) for `azstream info`. */
typedef struct azs_source_part {
    const char *file;        /* for a missing part: the file that is missing */
    const char *dataset;
    uint64_t first_frame, nframes;
    int missing;             /* 1: the data file is missing (allow_missing) */
} azs_source_part;

typedef struct azs_source_options {
    /* 0 (default): a missing data file of a master (or source file of a virtual dataset)
     * fails the open, naming the file and the frames it would hold. 1: those frames are
     * kept as frames without data, read as AZS_ERR_MISSING (azstream/layout.h). */
    int allow_missing;
} azs_source_options;

/* dataset NULL means "/entry/data/data"; for an Eiger master whose data is a group of
 * data_NNNNNN links, that group path also works, and a missing /entry/data/data falls
 * back to the data_NNNNNN links of /entry/data. A data file that is missing (a link
 * whose file does not exist, wherever it is in the list) fails the open with
 * AZS_ERR_NOT_FOUND naming it and the frames it would hold, unless allow_missing.
 * The frames of a missing data file: as many as the first data file present holds; the
 * last link, the rest of the master's nimages x ntrigger
 * (/entry/instrument/detector/detectorSpecific) when it says so. A virtual dataset's
 * missing source: the frames its mapping names (simple mappings only: frames x whole
 * frame). Relative external-link and VDS file names are looked up next to the file holding
 * the link first, then relative to the working directory.
 * Declared shapes are checked against the file and against memory before anything is
 * allocated for them (a per-frame index of a dataset declaring more frames than memory
 * holds is refused with a message saying so). */
AZS_API azs_status azs_source_open(const char *path, const char *dataset, azs_source **out);
/* The same with options (o NULL: the defaults, as azs_source_open). */
AZS_API azs_status azs_source_open_opts(const char *path, const char *dataset,
                                const azs_source_options *o, azs_source **out);
AZS_API void azs_source_close(azs_source *src);
AZS_API const azs_source_info *azs_source_get_info(const azs_source *src);
AZS_API azs_status azs_source_get_part(const azs_source *src, size_t i, azs_source_part *part);

/* Raw stored bytes of frame i into buf (capacity >= info.max_chunk_bytes is always
 * enough), to be decoded with info.codec. Thread-safe on the pread path.
 * AZS_ERR_UNSUPPORTED when read_path is FILTERED, or for a chunk HDF5 stored with the
 * filter skipped (its filter mask; then the bytes are not info.codec: use read_frame),
 * AZS_ERR_UNWRITTEN for a chunk never written (read_frame gives the fill value),
 * AZS_ERR_MISSING for a frame of a missing data file (allow_missing). */
AZS_API azs_status azs_source_read_raw(azs_source *src, uint64_t frame, void *buf, size_t capacity,
                               size_t *size);

/* Zero-copy raw chunks: frames [first, first + n) mapped read-only straight from the page
 * cache (one mapping for all of them, populated at once), so no copy is made. chunks[k]
 * and sizes[k] are frame first + k's stored bytes, as azs_source_read_raw gives them, until
 * azs_source_unmap_raw(map). The memory stays mapped only that long: a pipeline that maps a
 * batch, integrates it and unmaps it keeps its resident size to a few batches.
 * AZS_ERR_UNSUPPORTED (no message set) when these frames cannot be mapped together: not on
 * the pread path, in different files, a frame without raw bytes, or chunks too far apart in
 * the file; then use azs_source_read_raw frame by frame. Thread-safe.
 * Caution: if the file is truncated while mapped, reading a chunk past the new end raises
 * SIGBUS; read mapped chunks under a guard (src/common/sigbus_guard.h does it for layout 1). */
typedef struct azs_raw_map {
    void *base;
    size_t len;
} azs_raw_map;
AZS_API azs_status azs_source_map_raw(azs_source *src, uint64_t first, int n, const void **chunks,
                              size_t *sizes, azs_raw_map *map);
AZS_API void azs_source_unmap_raw(azs_raw_map *map);

/* Where frame i's raw chunk lies, for callers that read or map the file themselves (layout
 * gpu's feeds): *file identifies the file (the same for every frame stored in it, stable
 * while the source is open), *offset and *size the chunk's bytes in it, the bytes
 * azs_source_read_raw gives. AZS_ERR_UNSUPPORTED (no message set) for a frame that is not
 * such a byte range (not on the pread path, never written, filter skipped, missing file):
 * read it with azs_source_read_raw, which says why where it fails. */
AZS_API azs_status azs_source_raw_extent(azs_source *src, uint64_t frame, size_t *file,
                                 uint64_t *offset, size_t *size);

/* Map bytes [start, start + len) of a file named by azs_source_raw_extent read-only and
 * shared (the page cache's pages, no copy), start a multiple of the page size; the range is
 * cut at the file's end (to the end of its last page). map->base / map->len: the mapping,
 * released with azs_source_unmap_raw. AZS_ERR_UNSUPPORTED (with a message) when the file
 * cannot be mapped, AZS_ERR_INVALID_ARG when start is not a page boundary or lies past
 * the end. Same SIGBUS caution as azs_source_map_raw. */
AZS_API azs_status azs_source_map_window(azs_source *src, size_t file, uint64_t start, size_t len,
                                 azs_raw_map *map);

/* Frame i's raw chunk read with O_DIRECT (no page cache copy on the way: the device's DMA
 * writes into buf). Reads the range of whole `align`-byte blocks covering the chunk (align
 * a power of two, 4096 suits every file system that takes O_DIRECT) into buf, which must
 * be align-aligned and hold capacity >= size + 2 * align; the chunk starts at buf + *at.
 * AZS_ERR_UNSUPPORTED (with a message) when the file system refuses O_DIRECT or the frame
 * is not a byte range of a file (then use azs_source_read_raw), else read_raw's errors. */
AZS_API azs_status azs_source_read_raw_direct(azs_source *src, uint64_t frame, void *buf,
                                      size_t capacity, size_t align, size_t *at, size_t *size);

/* Decoded pixels of frame i (frame_bytes into pixels). Uses raw + azs_chunk_decode where it
 * can, else H5Dread. A chunk never written reads as the dataset's fill value (as HDF5
 * gives it); a frame of a missing data file is AZS_ERR_MISSING. Thread-safe (the HDF5
 * fallbacks serialise internally). */
AZS_API azs_status azs_source_read_frame(azs_source *src, uint64_t frame, void *pixels, size_t capacity);

/* Whether frame i holds data: AZS_OK; AZS_ERR_UNWRITTEN when its chunk was never written
 * (any of its chunks, for chunks that are tiles of a frame; contiguous storage never
 * allocated); AZS_ERR_MISSING when its data file is missing. The detail names frame and
 * file. (Frames of a virtual dataset read through HDF5 as a whole report AZS_OK.) */
AZS_API azs_status azs_source_frame_state(azs_source *src, uint64_t frame);

/* The detector's own pixel mask, where a DECTRIS master stores it:
 * /entry/instrument/detector/detectorSpecific/pixel_mask, integers of the frames' shape, any
 * bit set = a bad pixel (dead, hot, module gap...). Looked up in the file given to
 * azs_source_open. *mask = malloc'd [ny*nx], 1 = masked, 0 = good (the caller frees it);
 * *nmasked (may be NULL) = how many are masked. AZS_ERR_NOT_FOUND when the file has none,
 * AZS_ERR_FORMAT when it is not integers of the frames' 2D shape. Thread-safe. */
AZS_API azs_status azs_source_pixel_mask(azs_source *src, uint8_t **mask, size_t *nmasked);

#ifdef __cplusplus
}
#endif
#endif
