/* Internal API of the sparse-matrix builders (see builder.c for the design note).
 *
 * The builders take per-pixel positions rather than a geometry, so that they can be tested
 * against positions computed by pyFAI itself, and so that the geometry module stays the
 * single owner of the pixel → position formulas. Positions are in pyFAI's *internal*
 * units (2θ in radians, q in nm⁻¹, r in metres, χ in radians); `unit_scale` converts to the
 * unit shown to the user (e.g. 180/π for 2th_deg, 1000 for r_mm). */
#ifndef AZS_INTEGRATE_BUILDER_H
#define AZS_INTEGRATE_BUILDER_H

#include <stddef.h>
#include <stdint.h>

#include "azstream/integrate.h"

typedef struct azs_positions {
    uint32_t ny, nx;
    const double *radial;        /* [ny*nx] pixel centres */
    const double *chi;           /* [ny*nx] pixel centres, radians in (-π, π] (or [0, 2π)) */
    const double *radial_corner; /* [(ny+1)*(nx+1)] corner grid */
    const double *chi_corner;    /* [(ny+1)*(nx+1)] corner grid, radians */
    double unit_scale;           /* shown = internal * unit_scale */
    int orientation;             /* detector orientation 1..4 (0 = 3): χ-cut test sign */
    int chi_disc_at_0;           /* 1: χ is in [0, 2π) (pyFAI's chiDiscAtPi False) */
} azs_positions;

/* indices[] is followed by this many zeros (prefetching reads ahead of the row end). */
#define AZS_CSR_PAD 64

typedef struct azs_csr {
    uint32_t nbins;              /* npt (1D) or npt_azim * npt (2D, [azim][radial]) */
    uint32_t npt, npt_azim;
    uint64_t nnz;
    uint64_t *indptr;            /* [nbins+1] */
    uint32_t *indices;           /* [nnz] */
    float *weights;              /* [nnz] */
    double *radial;              /* [npt] bin centres, shown unit */
    double *azimuthal;           /* [npt_azim] degrees, NULL for 1D */
} azs_csr;

/* Build the matrix for options o (npt, npt_azim, split, ranges); mask[ny*nx] (non-zero =
 * masked, may be NULL) removes pixels at build time and from the automatic ranges. */
azs_status azs_csr_build(const azs_positions *pos, const uint8_t *mask,
                         const azs_integrate_options *o, azs_csr *out);
void azs_csr_free(azs_csr *m);

#endif
