/* azstream status codes and error details.
 *
 * Every library call returns an azs_status. The values are fixed (they are part of the
 * ABI and appear in per-frame status arrays written by the GPU layout). A call that fails
 * also leaves a human-readable message naming what and where in a thread-local buffer:
 * azs_last_error(). The library never prints and never exits. */
#ifndef AZSTREAM_STATUS_H
#define AZSTREAM_STATUS_H

#include "azstream/export.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum azs_status {
    AZS_OK = 0,
    AZS_ERR_NOMEM = 1,           /* allocation failed */
    AZS_ERR_INVALID_ARG = 2,     /* bad argument or option value */
    AZS_ERR_IO = 3,              /* read/write/open failed at the OS or HDF5 level */
    AZS_ERR_NOT_FOUND = 4,       /* file, dataset, link target or key missing */
    AZS_ERR_FORMAT = 5,          /* structure not what was expected (rank, dtype, layout) */
    AZS_ERR_UNSUPPORTED = 6,     /* valid but not handled (unknown filter, element size) */
    AZS_ERR_CORRUPT = 7,         /* compressed data inconsistent (bad LZ4 block, bad header) */
    AZS_ERR_TRUNCATED = 8,       /* data ends before a length read from it says it should */
    AZS_ERR_SIZE_MISMATCH = 9,   /* decoded size differs from the size the header announced */
    AZS_ERR_CAPACITY = 10,       /* destination buffer too small */
    AZS_ERR_PARSE = 11,          /* text input (PONI, JSON config, option) malformed */
    AZS_ERR_GPU = 12,            /* CUDA runtime error */
    AZS_ERR_NO_DEVICE = 13,      /* no GPU (or CUDA support not built) */
    AZS_ERR_MPI = 14,            /* MPI error */
    AZS_ERR_INTERRUPTED = 15,    /* stopped on request (Ctrl-C) */
    AZS_ERR_WORKER = 16,         /* a worker thread/process failed or died */
    AZS_ERR_INTERNAL = 17,       /* a bug: an invariant did not hold */
    /* Frame statuses of frames that have no data, recorded in the output's frame_status
     * (row NaN) and never stopping a run (azstream/layout.h, "Frames without data"): */
    AZS_ERR_MISSING = 18,        /* frame absent: its data file is missing (allow_missing) */
    AZS_ERR_UNWRITTEN = 19,      /* frame's chunk was never written (the dataset's fill) */
    AZS_ERR_STREAM_GAP = 20,     /* a stream's frame never received (image_id gap, short series) */
    AZS_ERR_CONFLICT = 21        /* the output exists, is being written by another run, or
                                    (resume) was written with other settings */
} azs_status;

/* Short fixed name of a status ("ok", "corrupt data", ...). Never NULL. */
AZS_API const char *azs_status_str(azs_status s);

/* Detail of the last failure on this thread ("" if none). Valid until the next failing
 * call on the same thread. */
AZS_API const char *azs_last_error(void);

/* Forget the detail of the last failure on this thread. */
AZS_API void azs_clear_error(void);

#ifdef __cplusplus
}
#endif
#endif
