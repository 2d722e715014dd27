/* Internal: the HDF5 source (include/azstream/source.h, doc/design.md "source (h5)").
 *
 * Design. At open, everything HDF5 knows is turned into plain arrays:
 *   - the dataset path is resolved by hand, link by link (soft, hard, external), to a
 *     (real file, path in that file) pair: that is the file we pread from, and it lets
 *     errors name the missing file of a dangling external link (HDF5 only says "can't
 *     open object");
 *   - the dataset becomes one or more *parts* (a plain dataset: one part; an Eiger master:
 *     one part per data_NNNNNN link; a virtual dataset: one part per simple mapping);
 *   - for parts stored one frame per chunk, the chunk index is read once into per-frame
 *     (offset, size, filter mask) arrays: by one walk of its v1 B-tree straight from the
 *     file when it is one (h5_index.c; spot-checked against libhdf5), else with
 *     H5Dget_chunk_info_by_coord (libhdf5 1.10 has no H5Dchunk_iter, and its lookups scan
 *     the index: quadratic in the frames of a dataset); contiguous parts give offset =
 *     base + i*frame.
 * Afterwards azs_source_read_raw is a pread on a descriptor we opened ourselves: no HDF5,
 * no lock, any thread. One descriptor per distinct file (not per part), opened when a
 * frame of it is read and closed again, least recently used first, when more than a few
 * hundred are open (source_files.c), so that a master of thousands of data files runs
 * under the usual limit of 1024 descriptors; the HDF5 handle of a file is closed as soon
 * as its parts are indexed (reopened only for the fallbacks and the pixel mask). The fallbacks (H5Dread_chunk when the index cannot be read, and
 * H5Dread / tile assembly for chunks that are not one frame each) take the HDF5 lock
 * (h5lock.h).
 *
 * Filters: 32008 (bitshuffle, with LZ4) and 32004 (LZ4) are decoded by our codec;
 * no filter means raw pixels; any other filter that this libhdf5 can apply itself
 * (deflate, shuffle, ...) is read through H5Dread; anything else fails at open naming the
 * filter id. We install no HDF5 plugins, so H5Dread never sees 32008/32004 chunks: for
 * tiled or multi-frame chunks we read the raw tiles and decode them ourselves.
 *
 * The reader is four files sharing this header: source_open.c (open/close, link by link
 * resolution, dataset description), source_parts.c (Eiger masters and virtual datasets
 * as parts), source_index.c (the per-frame chunk index) and source_read.c (pread, the
 * mapped raw path, HDF5 fallbacks). */
#ifndef AZS_H5_SOURCE_INTERNAL_H
#define AZS_H5_SOURCE_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "azstream/codec.h"
#include "azstream/source.h"

#define DEFAULT_DATASET "/entry/data/data"
#define MAX_LINK_DEPTH 16

/* PART_MISSING: the frames of a data file that is missing (allow_missing): no file. */
enum part_path { PART_PREAD = 0, PART_DIRECT = 1, PART_FILTERED = 2, PART_MISSING = 3 };

typedef struct part {
    char *file;          /* real file holding the dataset */
    char *dset;          /* path of the dataset in that file */
    uint64_t first;      /* first global frame */
    uint64_t n;          /* frames */
    uint64_t src_first;  /* first frame inside the dataset (VDS mappings) */
    size_t file_ix;      /* its entry in files[] (PREAD: the descriptor), SIZE_MAX if none */
    hid_t did;           /* HDF5 dataset (fallback paths), else -1 */
    int path;            /* enum part_path */
    azs_codec codec;
    unsigned filter_id;
    int rank;            /* 2 or 3 */
    hsize_t chunk[3];    /* chunk dims (rank entries), 0 if not chunked */
} part;

typedef struct file_ent {
    char *path;
    hid_t fid;           /* HDF5 handle, -1 while closed (azs_src_fid reopens it) */
    int fd;              /* pread descriptor, -1 while closed (source_files.c) */
    unsigned users;      /* reads in progress on fd */
    uint64_t last_use;   /* for closing the least recently used descriptor */
} file_ent;

struct azs_source {
    azs_source_info info;
    azs_source_options opts;
    part *parts;
    size_t nparts, cap_parts;
    file_ent *files;     /* every file we opened (files[0]: the one given), closed at the end */
    size_t nfiles, cap_files;
    int described;       /* info holds the first present part's shape and filter */
    char *missing_file;  /* set by azs_src_resolve when an external link's file is missing */
    /* the descriptor pool (source_files.c) */
    void *fd_mu;         /* pthread_mutex_t, kept out of this header */
    size_t fds_open, fds_cap;
    uint64_t fd_clock;
    /* per global frame, for PREAD parts */
    uint64_t *off;
    uint32_t *size;
    uint8_t *flag;       /* FLAG_* */
};

/* FLAG_PRESENT is set for the chunks that exist, so that the pages of a dataset declaring
 * far more frames than it holds are never touched (calloc'd, they stay unmapped). */
enum { FLAG_SKIPPED = 1, FLAG_PRESENT = 2 };

typedef struct {
    char **names;
    size_t n, cap;
    int nomem;
} name_list;

/* source_open.c. Functions taking a source run with the HDF5 lock held. */
char *azs_src_strdup(const char *s);
char *azs_src_join_path(const char *a, const char *b);
/* The file an external link or VDS mapping in `from` names (see its definition). */
char *azs_src_locate_file(const char *from, const char *name, char **missing);
/* Fails with status s, `what` and HDF5's own message appended. */
azs_status azs_src_h5_fail(azs_status s, const char *what);
/* The id of a file opened by this source, -1 if none. */
hid_t azs_src_file_id(azs_source *src, const char *path);
/* `path` in `file`, link by link, to the real (file, path) of the object (malloc'd). */
azs_status azs_src_resolve(azs_source *src, const char *file, const char *path, int depth,
                           char **rfile, char **rpath);
azs_status azs_src_map_dtype(hid_t tid, const char *where, azs_dtype *dt);
azs_status azs_src_push_part(azs_source *src, part **out);
/* Frames [src_first, src_first + n) of a non-virtual dataset as one part (n = UINT64_MAX:
 * all of them). */
azs_status azs_src_add_plain(azs_source *src, const char *rfile, const char *rpath,
                             uint64_t src_first, uint64_t n);

/* Declared shape (frames, ny, nx of elem bytes) of dataset did checked against its file and
 * against memory, before anything is sized from it (source_index.c). */
azs_status azs_src_check_shape(azs_source *src, const char *where, uint64_t nframes,
                               uint64_t ny, uint64_t nx, size_t elem, hid_t did);

/* source_parts.c */
azs_status azs_src_add_master(azs_source *src, const char *file, const char *gpath);
azs_status azs_src_add_virtual(azs_source *src, const char *file, const char *path, hid_t did);
/* The data_NNNNNN links of group gpath, sorted; free with azs_src_free_names. */
azs_status azs_src_list_data_links(hid_t fid, const char *gpath, name_list *l);
void azs_src_free_names(name_list *l);

/* source_index.c: the per-frame off / size / flag arrays and info's read path. */
azs_status azs_src_build_index(azs_source *src);

/* source_files.c: one pread descriptor per distinct file, opened on demand and closed least
 * recently used first above a cap from RLIMIT_NOFILE. */
azs_status azs_src_files_init(azs_source *src);
void azs_src_files_fini(azs_source *src);
/* The descriptor of files[ix] for one read (any thread); release it after. */
azs_status azs_src_fd_acquire(azs_source *src, size_t ix, int *fd);
void azs_src_fd_release(azs_source *src, size_t ix);
/* The index of `path` in files[], SIZE_MAX if not there. */
size_t azs_src_file_ix(const azs_source *src, const char *path);
/* files[ix]'s HDF5 handle, reopened if it was closed; -1 with the error set. Lock held. */
hid_t azs_src_fid(azs_source *src, size_t ix);
/* Close files[ix]'s HDF5 handle if no part needs it (never files[0]). Lock held. */
void azs_src_release_file(azs_source *src, size_t ix);
/* Close the HDF5 handles no part needs any more (every part of the file reads by pread).
 * Lock held. */
void azs_src_release_h5(azs_source *src);

#endif
