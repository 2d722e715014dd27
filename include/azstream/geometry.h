/* Geometry: PONI files, detectors, and per-pixel positions and corrections with pyFAI's
 * conventions (doc/design.md "geometry"). Units of the positions: azs_unit. Arrays are row-major
 * [ny][nx] (pixel centres) or [ny+1][nx+1] (pixel corners), double precision. */
#ifndef AZSTREAM_GEOMETRY_H
#define AZSTREAM_GEOMETRY_H

#include "azstream/export.h"

#include "azstream/status.h"
#include "azstream/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct azs_detector {
    char name[64];          /* pyFAI's name ("Eiger2 4M", "Pilatus 1M", "Detector") */
    uint32_t ny, nx;        /* max_shape: (dim1, dim2) = (slow, fast) */
    double pixel1, pixel2;  /* pixel size along dim1 / dim2, metres */
    int orientation;        /* pyFAI orientation (PONI 2.1): 1..4, 3 = default */
    /* Module layout for the gap mask (0 = monolithic): modules of module_ny × module_nx
     * pixels separated by gap_ny / gap_nx pixels, as pyFAI masks them. */
    uint32_t module_ny, module_nx, gap_ny, gap_nx;
    /* CdTe sensors: inside every module, columns [c + mid_gap_start, c + mid_gap_start +
     * mid_gap_width) are masked too, c = module_nx/2 + k·(module_nx + gap_nx). Width 0 = none. */
    int32_t mid_gap_start;
    uint32_t mid_gap_width;
    /* The value the detector writes into dead and gap pixels, as pyFAI's detector class
     * states it (DUMMY, DELTA_DUMMY): pixels within delta_dummy of it are left out. Every
     * detector that pyFAI derives from its DECTRIS class (Eiger, Eiger2, Pilatus, Pilatus4,
     * their CdTe variants, Jungfrau 1M/4M) has −2 within 1.5; a generic detector none
     * (has_dummy 0). Frames of an unsigned type hold it wrapped: see azs_detector_dummy. */
    int has_dummy;
    double dummy, delta_dummy;
} azs_detector;

typedef struct azs_geometry {
    azs_detector det;
    double dist, poni1, poni2;  /* metres */
    double rot1, rot2, rot3;    /* radians */
    double wavelength;          /* metres; 0 if absent (q units then fail) */
    double poni_version;        /* 1, 2, 2.1 (or 3 without parallax), as pyFAI infers it */
} azs_geometry;

/* PONI file (versions 1, 2, 2.1). Errors name the file and line. A detector whose shape
 * the file does not give (generic detector without max_shape) has ny = nx = 0: set them
 * from the data before asking for positions. */
AZS_API azs_status azs_poni_load(const char *path, azs_geometry *g);
AZS_API azs_status azs_poni_parse(const char *text, size_t len, const char *origin, azs_geometry *g);

/* Detector by pyFAI name (case-insensitive, "Eiger2_4M" / "eiger2 4m" alike). */
AZS_API azs_status azs_detector_by_name(const char *name, azs_detector *d);
/* Generic detector from pixel sizes (metres) and shape. */
AZS_API void azs_detector_generic(azs_detector *d, double pixel1, double pixel2, uint32_t ny, uint32_t nx);
/* Module-gap mask of the detector: mask[ny*nx], 1 = masked (gap), else 0. */
AZS_API azs_status azs_detector_mask(const azs_detector *d, uint8_t *mask, size_t n);
/* The detector's dummy as pyFAI 2026.9 applies it to a frame of `dtype` by default: the
 * integer dummy converted to the frame's type first (so it wraps in unsigned types: −2 is
 * 4294967294 in uint32, 65534 in uint16, 254 in uint8, 2^64 − 2 in uint64; −2 in signed
 * and float types), then to float32 (4294967294 becomes 2^32, which is also where
 * 0xFFFFFFFF lands: the gap pixels of a uint32 frame are dummies); delta as float32 (the
 * float32 epsilon for a detector whose class gives a dummy but no delta). Returns 1 and
 * sets *dummy, *delta; 0 (outputs untouched) if the detector has no dummy or dtype is
 * not a pixel type. */
AZS_API int azs_detector_dummy(const azs_detector *d, azs_dtype dtype, float *dummy, float *delta);

typedef enum azs_unit {
    AZS_UNIT_Q_NM = 0,   /* "q_nm^-1" (pyFAI's default) */
    AZS_UNIT_Q_A,        /* "q_A^-1" */
    AZS_UNIT_2TH_DEG,    /* "2th_deg" */
    AZS_UNIT_2TH_RAD,    /* "2th_rad" */
    AZS_UNIT_R_MM,       /* "r_mm" */
    /* pyFAI 2026.9's other radial units (pyFAI.units.RADIAL_UNITS), same names and
     * formulas; those after r_m need a wavelength. d = 2π/q (infinite where q = 0). */
    AZS_UNIT_R_M,        /* "r_m" */
    AZS_UNIT_D_M,        /* "d_m" */
    AZS_UNIT_D_NM,       /* "d_nm" */
    AZS_UNIT_D_A,        /* "d_A" */
    AZS_UNIT_D2_NM,      /* "d*2_nm^-2": 1/d² = (q/2π)² */
    AZS_UNIT_D2_A,       /* "d*2_A^-2" */
    AZS_UNIT_LOG1P_Q_NM, /* "log(1+q.nm)_None": log1p(q in nm⁻¹) */
    AZS_UNIT_LOG1P_Q_A,  /* "log(1+q.A)_None" */
    AZS_UNIT_ASINH_Q_NM, /* "arcsinh(q.nm)_None" */
    AZS_UNIT_ASINH_Q_A,  /* "arcsinh(q.A)_None" */
    AZS_UNIT_COUNT       /* not a unit: how many there are */
} azs_unit;

/* pyFAI's names, exactly (case-sensitive, as pyFAI.units.to_unit). An unknown name is
 * AZS_ERR_INVALID_ARG with a message listing the valid ones (pyFAI 2026.9 has no q_m^-1). */
AZS_API azs_status azs_unit_parse(const char *s, azs_unit *u);
AZS_API const char *azs_unit_name(azs_unit u);
/* How pyFAI computes a unit: positions in its internal unit (*base: q_nm^-1 for q_A^-1,
 * 2th_rad for 2th_deg, r_m for r_mm, d_m for d_nm / d_A, d*2_nm^-2 for d*2_A^-2, else the
 * unit itself), shown = internal × *scale. */
AZS_API azs_status azs_unit_internal(azs_unit u, azs_unit *base, double *scale);

/* Radial position in `unit` of every pixel centre (corners = 0: out[ny*nx]) or of every
 * pixel corner (corners = 1: out[(ny+1)*(nx+1)]). */
AZS_API azs_status azs_geometry_radial(const azs_geometry *g, azs_unit unit, int corners, double *out, size_t n);
/* Azimuth χ in radians, in (-π, π], same layout as above. */
AZS_API azs_status azs_geometry_chi(const azs_geometry *g, int corners, double *out, size_t n);
/* Both at once (one pass, cheaper than the two calls): radial and/or chi may be NULL. */
AZS_API azs_status azs_geometry_positions(const azs_geometry *g, azs_unit unit, int corners,
                                  double *radial, double *chi, size_t n);
/* Solid angle per pixel centre, normalised as pyFAI does (1 at the PONI for a flat
 * detector at normal incidence): cos³ of the incidence angle. Like pyFAI's
 * solidAngleArray, the pixel positions are rounded to float32 first. out[ny*nx]. */
AZS_API azs_status azs_geometry_solid_angle(const azs_geometry *g, double *out, size_t n);
/* Polarization factor per pixel centre (pyFAI's definition: factor in [-1, 1],
 * axis_offset in radians). out[ny*nx]. */
AZS_API azs_status azs_geometry_polarization(const azs_geometry *g, double factor, double axis_offset,
                                     double *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
