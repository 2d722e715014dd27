/* Sinks: where integrated profiles go, in frame order.
 *
 * HDF5/NeXus (.h5 .hdf5 .nxs .nx5): the application definitions NXazint1d / NXazint2d
 * (nexusformat's validator: no error, no warning). /entry (NXentry) holds definition, the
 * flags solid_angle_applied, polarization_applied, normalization_applied, monitor_applied,
 * instrument (NXinstrument: name, monochromator wavelength [angstrom] and energy [keV],
 * source), reduction (NXprocess: program, version, date, reference, note, and input
 * (NXparameters): configuration = config_json, verbatim; pyfai_config; mask_applied,
 * dark_applied, flat_applied), and result (NXdata, the default; @signal I, @axes,
 * @interpretation spectrum (1D) or image (2D)) with
 *   I          float32 [frames, npt] (2D: [frames, npt_azim, npt]), chunked one frame per
 *              chunk, extendible: it grows as frames arrive;
 *   I_errors   the same shape (sem), only with an error model;
 *   radial_axis [npt], radial_axis_edges [npt+1]: @units the NeXus unit ("1/nm"),
 *              @pyfai_unit the unit name ("q_nm^-1"), @long_name "q", "2theta", ...;
 *   azimuthal_axis, azimuthal_axis_edges (2D only), pyfai_unit chi_deg or chi_rad;
 *   norm       [npt] (2D: [npt_azim, npt]): cfg->norm, when given;
 *   frame      uint64 [frames]: the input frame number of each row;
 *   frame_status int32 [frames]: 0, or the azs_status of a skipped bad frame or of a frame
 *     without data (18 data file missing, 19 chunk never written; azstream/layout.h); the
 *     row is then NaN;
 * and the attributes frames_written / frames_bad on /entry/result, kept up to date at each
 * flush, so a run that stopped on an error or on Ctrl-C leaves a valid file whose extent
 * and frames_written say how many rows it holds.
 *
 * Text (.dat .xy .txt): header_text's '#' lines (the job writes pyFAI's), the frame,
 * "# --> NAME", then columns radial, I[, sigma] under pyFAI's column line; one
 * file per frame when the run has several (OUT_00000.dat, OUT_00001.dat, ...: the row
 * number, counted from 0), 1D only.
 *
 * Files are never written under their final name. HDF5: the rows go to DIR/.NAME.azs-partial
 * (beside the output), owned by one writer at a time through a lock on DIR/.NAME.azs-lock
 * (a second writer fails with AZS_ERR_CONFLICT naming the first one's pid), and renamed
 * onto NAME by azs_sink_close; a writer killed outright leaves the partial file, which
 * AZS_OUTPUT_RESUME continues. Text: each file is written to DIR/.NAME.azs-tmp-PID and
 * renamed when complete. An existing output is refused (AZS_ERR_CONFLICT) unless the mode
 * says otherwise, and is never opened for writing: a reader holding it keeps its file.
 * The fill value of I / I_errors is a signalling NaN, of frame UINT64_MAX, of frame_status
 * INT32_MIN: values no row ever holds, so a resume can tell a row that reached the file
 * from one that did not.
 *
 * A sink is used from one thread at a time (azs_run's writer). */
#ifndef AZSTREAM_SINK_H
#define AZSTREAM_SINK_H

#include "azstream/export.h"

#include <stdint.h>

#include "azstream/frame_sink.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct azs_sink azs_sink;

/* An output that exists already. */
typedef enum azs_output_mode {
    AZS_OUTPUT_NEW = 0,       /* refuse it: AZS_ERR_CONFLICT, the file untouched */
    AZS_OUTPUT_OVERWRITE = 1, /* replace it when the run ends (azs_sink_close) */
    /* HDF5 only: continue it. The partial file of an interrupted writer if there is one,
     * else the output itself (copied: it stays untouched until azs_sink_close), else a new
     * output. Rows past its frames_written are dropped; a partial file libhdf5 cannot read
     * back, or one with a row that never reached the disk, is started over (see
     * azs_sink_resume_note). azs_sink_frames_written then says the rows it holds. */
    AZS_OUTPUT_RESUME = 2
} azs_output_mode;

typedef struct azs_sink_config {
    uint32_t npt;              /* radial bins */
    uint32_t npt_azim;         /* 0 = 1D */
    const double *radial;      /* [npt] bin centres */
    const double *azimuthal;   /* [npt_azim] in azimuthal_unit, 2D only */
    const char *unit;          /* radial unit name, e.g. "q_nm^-1" */
    int with_errors;           /* write I_errors / sigma column */
    uint64_t frames_hint;      /* expected rows (text: >1 means one file per frame) */
    const char *program;       /* default "azstream" */
    const char *version;       /* default "" */
    const char *config_json;   /* full configuration, stored verbatim (may be NULL) */
    const char *header_text;   /* text sink: extra '#' lines (may be NULL) */
    const char *azimuthal_unit; /* "chi_deg" (NULL) or "chi_rad" */
    azs_output_mode mode;      /* what to do with an existing output (default: refuse it) */
    /* AZS_OUTPUT_RESUME: called with the configuration stored in the output found; a
     * status other than AZS_OK (with its detail) refuses to resume. NULL: not checked. */
    azs_status (*resume_check)(void *ctx, const char *stored_config);
    void *resume_ctx;
    /* HDF5: what NXazint1d / NXazint2d record of the run (0 / NULL: false, unknown, none). */
    const char *pyfai_config_json; /* the settings alone, a pyFAI v5 integration config */
    double wavelength;         /* metres (the monochromator's wavelength and energy) */
    int solid_angle_applied, polarization_applied, monitor_applied; /* monitor: normalization_factor */
    int mask_applied, dark_applied, flat_applied;
    const double *norm;        /* [npt_azim or 1][npt]: Σ w·norm of each bin over the matrix */
    const char *instrument_name, *source_name, *source_type, *source_probe; /* "unknown", "unknown",
                                * "Synchrotron X-ray Source", "x-ray" when NULL */
} azs_sink_config;

/* Open by extension: HDF5 for .h5/.hdf5/.nxs/.nx5, text for .dat/.xy/.txt. An existing
 * output (or, HDF5, a partial one) is AZS_ERR_CONFLICT unless cfg->mode allows it. */
AZS_API azs_status azs_sink_open(const char *path, const azs_sink_config *cfg, azs_sink **out);
AZS_API azs_status azs_sink_open_hdf5(const char *path, const azs_sink_config *cfg, azs_sink **out);
AZS_API azs_status azs_sink_open_text(const char *path, const azs_sink_config *cfg, azs_sink **out);

/* Append one row (nbins values; sigma NULL without errors). frame is recorded as is. */
AZS_API azs_status azs_sink_write(azs_sink *s, uint64_t frame, const double *intensity,
                          const double *sigma, azs_status frame_status);
/* Push buffered rows to the file and update frames_written. */
AZS_API azs_status azs_sink_flush(azs_sink *s);
AZS_API uint64_t azs_sink_frames_written(const azs_sink *s);
/* The azs_run callback writing into s. */
AZS_API azs_sink_ops azs_sink_as_ops(azs_sink *s);
/* Flush and close, then put the file in place under its name (replacing the output an
 * AZS_OUTPUT_OVERWRITE / RESUME open found); the file is valid afterwards whatever
 * happened before, its rows those written. A write that failed (disk full, quota, file
 * size limit) leaves the rows before that batch. NULL is fine. */
AZS_API azs_status azs_sink_close(azs_sink *s);
/* Close without putting anything in place: for a run that failed before its first row.
 * An existing output stays as it was; the partial file is removed, unless it is the one
 * an AZS_OUTPUT_RESUME open continued (it keeps its rows for the next resume). */
AZS_API void azs_sink_discard(azs_sink *s);
/* Rows found in the output by an AZS_OUTPUT_RESUME open (0 otherwise) and what it did, in
 * words ("" when it resumed nothing): for the caller to tell the user. */
AZS_API uint64_t azs_sink_resumed_rows(const azs_sink *s);
AZS_API const char *azs_sink_resume_note(const azs_sink *s);

/* What an HDF5 result file holds (azstream info): AZS_ERR_NOT_FOUND if it is no NXazint1d /
 * NXazint2d result. Strings are cut to their buffers. */
typedef struct azs_result_info {
    char definition[16];       /* "NXazint1d" / "NXazint2d" */
    char program[64], version[32], date[32];
    int rank;                  /* of I: 2 (rows of 1D profiles) or 3 (rows of 2D cakes) */
    uint64_t shape[3];         /* I's shape: rows, [azimuthal bins,] radial bins */
    int with_errors;           /* I_errors present */
    uint64_t frames_written, frames_bad;
    char radial_unit[32], azimuthal_unit[32]; /* pyFAI's names */
} azs_result_info;
AZS_API azs_status azs_result_describe(const char *path, azs_result_info *out);

/* A null sink (benchmarks): counts rows, keeps nothing. */
AZS_API azs_sink_ops azs_null_sink_ops(uint64_t *counter);

#ifdef __cplusplus
}
#endif
#endif
