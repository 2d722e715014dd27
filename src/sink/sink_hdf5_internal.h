/* Internal: the HDF5 sink's state, shared by its writer (sink_hdf5.c) and its resume path
 * (sink_hdf5_resume.c). Every function here is called with the HDF5 lock held. */
#ifndef AZS_SINK_HDF5_INTERNAL_H
#define AZS_SINK_HDF5_INTERNAL_H

#include <hdf5.h>
#include <stddef.h>

#include "sink/out_file.h"
#include "sink/sink_internal.h"

/* Fill values no written row holds (azstream/sink.h): a signalling NaN never comes out of
 * the float conversion of a row, which quiets every NaN. */
#define AZS_H5_FILL_F32 0x7fa5a5a5u
#define AZS_H5_FILL_FRAME UINT64_MAX
#define AZS_H5_FILL_STATUS INT32_MIN

typedef struct h5_sink {
    azs_sink base;
    azs_out_file of;
    int keep_partial;        /* discard leaves the partial file (a resumed one) */
    hid_t file, entry, result, process; /* process: /entry/reduction */
    hid_t d_i, d_err, d_frame, d_status;
    int rank;                /* 2 (1D profiles) or 3 (2D) */
    hsize_t row_dims[2];     /* (npt) or (npt_azim, npt) */
    size_t row_len;          /* values per row */
    int with_errors;
    /* batch */
    size_t batch_cap, batch_n;
    float *b_i, *b_err;
    uint64_t *b_frame;
    int32_t *b_status;
    uint64_t written;        /* rows appended to the datasets */
    uint64_t bad;
    uint64_t committed, committed_bad; /* what frames_written says on disk */
    int failed;              /* a write failed: the file keeps the committed rows */
    char why[256];           /* why it failed, in the system's words where libhdf5 gave them */
    int sealed;              /* nothing more reaches the file (azs_h5_sink_seal) */
    double last_flush;
} h5_sink;

/* The NeXus structure of a new file (NXazint1d / NXazint2d, sink_hdf5_nexus.c), then its
 * row datasets (azs_h5_sink_make_rows); 1 if all went well. */
int azs_h5_sink_create_structure(h5_sink *s, const azs_sink_config *cfg);
int azs_h5_sink_make_rows(h5_sink *s, const azs_sink_config *cfg);
/* A scalar UTF-8 string attribute. */
herr_t azs_h5_attr_str(hid_t obj, const char *name, const char *value);
/* The NeXus unit of a pyFAI unit name ("q_nm^-1" -> "1/nm"; "" if unknown). */
const char *azs_h5_nexus_unit(const char *pyfai_unit);
/* Where the configuration is stored (a path from the file's root). */
#define AZS_H5_CONFIG_PATH "entry/reduction/input/configuration"

/* Why the last HDF5 call failed: the system's reason when libhdf5 reports an errno
 * ("No space left on device"), else its own messages. */
void azs_h5_sink_reason(char *buf, size_t n);
/* Sets (creating if needed) a u64 attribute in place. */
herr_t azs_h5_attr_set_u64(hid_t obj, const char *name, uint64_t v);
/* Sets every row dataset's extent to `rows`. */
herr_t azs_h5_sink_set_rows(h5_sink *s, uint64_t rows);
/* Opens the partial file (the lock held) and continues it from its frames_written. A file
 * libhdf5 cannot read back, or holding a row that never reached the disk, sets *why (and
 * returns AZS_OK, everything closed): the caller starts over. A configuration that
 * resume_check refuses is its status. */
azs_status azs_h5_sink_resume(h5_sink *s, const azs_sink_config *cfg, char *why, size_t why_n);
/* After a failed write: nothing more may reach the file, yet libhdf5 must still be able
 * to close it (1.10 crashes at exit after an H5Fclose that failed). Its descriptor is
 * pointed at an anonymous memory file that takes whatever it flushes; the file on disk
 * stays as the failure left it. */
void azs_h5_sink_seal(h5_sink *s);
/* libhdf5 opens the file without O_CLOEXEC: layout procs' workers, spawned later, would
 * keep it (and libhdf5's lock on it) open past the writer's end. */
void azs_h5_sink_cloexec(h5_sink *s);
/* Closes every object and the file, in order, sealing it first if it cannot be flushed;
 * 0 if all went well. */
int azs_h5_sink_close_objects(h5_sink *s);

#endif
