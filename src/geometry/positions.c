/* Pixel positions and per-pixel corrections with pyFAI's conventions (doc/geometry.md).
 *
 * Design note. A pixel (or corner) at image index (i, j) sits at detector coordinates
 * p1 = pixel1·i' − poni1, p2 = pixel2·j' − poni2 (i' = i + ½ for centres, i for corners, and
 * flipped for orientations 1, 2, 4); the sample is at distance L on the detector normal
 * through the PONI. Rotating (p1, p2, L) by rot1, rot2, rot3 gives the laboratory vector
 * (t1, t2, t3) with t3 along the beam; every quantity follows from it. The rotation is
 * linear, so we fold it into nine coefficients once; per point that leaves one multiply-add
 * per component plus atan2 (χ, 2θ) or square roots (r, and q through sin_half_angle, which
 * avoids atan2 + sin). Everything is double; we match pyFAI's center_array to ~1e-15 and
 * its float32 corner_array to rounding. The one place pyFAI rounds positions to
 * float32 (solidAngleArray builds them from float32 indices) is reproduced on purpose so
 * that the correction matches pyFAI's bit for bit in practice.
 *
 * Work is split over rows with OpenMP; each row is independent, no allocation. */
#include "azstream/geometry.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"

#define AZS_PI 3.14159265358979323846 /* numpy.pi, exactly the same double */

typedef struct rotation {
    double a[3][3]; /* t = a · (p1, p2, L) */
} rotation;

/* pyFAI's rotation convention (geometry documentation): t = R3·R2·R1 · (p1, p2, L) with
 * rot1 about the vertical axis (dim1), rot2 about the horizontal axis (dim2) and rot3
 * about the beam. Written out, the rows of the product are: */
static rotation make_rotation(const azs_geometry *g)
{
    const double c1 = cos(g->rot1), c2 = cos(g->rot2), c3 = cos(g->rot3);
    const double s1 = sin(g->rot1), s2 = sin(g->rot2), s3 = sin(g->rot3);
    rotation r;
    r.a[0][0] = c2 * c3;
    r.a[0][1] = c3 * s1 * s2 - c1 * s3;
    r.a[0][2] = -(c1 * c3 * s2 + s1 * s3);
    r.a[1][0] = c2 * s3;
    r.a[1][1] = c1 * c3 + s1 * s2 * s3;
    r.a[1][2] = -(-c3 * s1 + c1 * s2 * s3);
    r.a[2][0] = s2;
    r.a[2][1] = -c2 * s1;
    r.a[2][2] = c1 * c2;
    return r;
}

/* pyFAI 2026.9's radial units (pyFAI.units.RADIAL_UNITS): name, internal unit, scale
 * (shown = internal × scale), in azs_unit order. Left out: log10(q.m)_None and
 * log(q.nm)_None (negative values: pyFAI's builders then skip the clip at 0) and qx/qy
 * (signed, not radial). */
#define AZS_TWO_PI (2.0 * AZS_PI)
static const struct unit_def {
    const char *name;
    azs_unit base;
    double scale;
} UNITS[AZS_UNIT_COUNT] = {
    [AZS_UNIT_Q_NM] = {"q_nm^-1", AZS_UNIT_Q_NM, 1.0},
    [AZS_UNIT_Q_A] = {"q_A^-1", AZS_UNIT_Q_NM, 0.1},
    [AZS_UNIT_2TH_DEG] = {"2th_deg", AZS_UNIT_2TH_RAD, 180.0 / AZS_PI},
    [AZS_UNIT_2TH_RAD] = {"2th_rad", AZS_UNIT_2TH_RAD, 1.0},
    [AZS_UNIT_R_MM] = {"r_mm", AZS_UNIT_R_M, 1000.0},
    [AZS_UNIT_R_M] = {"r_m", AZS_UNIT_R_M, 1.0},
    [AZS_UNIT_D_M] = {"d_m", AZS_UNIT_D_M, 1.0},
    [AZS_UNIT_D_NM] = {"d_nm", AZS_UNIT_D_M, 1e9},
    [AZS_UNIT_D_A] = {"d_A", AZS_UNIT_D_M, 1e10},
    [AZS_UNIT_D2_NM] = {"d*2_nm^-2", AZS_UNIT_D2_NM, 1.0},
    [AZS_UNIT_D2_A] = {"d*2_A^-2", AZS_UNIT_D2_NM, 0.01},
    [AZS_UNIT_LOG1P_Q_NM] = {"log(1+q.nm)_None", AZS_UNIT_LOG1P_Q_NM, 1.0},
    [AZS_UNIT_LOG1P_Q_A] = {"log(1+q.A)_None", AZS_UNIT_LOG1P_Q_A, 1.0},
    [AZS_UNIT_ASINH_Q_NM] = {"arcsinh(q.nm)_None", AZS_UNIT_ASINH_Q_NM, 1.0},
    [AZS_UNIT_ASINH_Q_A] = {"arcsinh(q.A)_None", AZS_UNIT_ASINH_Q_A, 1.0},
};

azs_status azs_unit_parse(const char *s, azs_unit *u)
{
    if (!s || !u) return azs_fail(AZS_ERR_INVALID_ARG, "azs_unit_parse: NULL argument");
    char list[512];
    size_t at = 0;
    for (int k = 0; k < AZS_UNIT_COUNT; k++) {
        if (strcmp(s, UNITS[k].name) == 0) { *u = (azs_unit)k; return AZS_OK; }
        at += (size_t)snprintf(list + at, sizeof list - at, "%s%s", k ? ", " : "", UNITS[k].name);
    }
    return azs_fail(AZS_ERR_INVALID_ARG, "unknown unit '%.64s' (pyFAI's names, case-sensitive: %s)", s, list);
}

const char *azs_unit_name(azs_unit u)
{
    return (unsigned)u < AZS_UNIT_COUNT ? UNITS[u].name : "?";
}

azs_status azs_unit_internal(azs_unit u, azs_unit *base, double *scale)
{
    if ((unsigned)u >= AZS_UNIT_COUNT || !base || !scale)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_unit_internal: unknown unit %d", (int)u);
    *base = UNITS[u].base;
    *scale = UNITS[u].scale;
    return AZS_OK;
}

/* Common checks; *ny, *nx = grid of points (pixels, or pixels + 1 for corners). */
static azs_status check(const azs_geometry *g, int corners, size_t n, const char *what,
                        size_t *ny, size_t *nx)
{
    if (!g) return azs_fail(AZS_ERR_INVALID_ARG, "%s: NULL geometry", what);
    if (g->det.ny == 0 || g->det.nx == 0)
        return azs_fail(AZS_ERR_INVALID_ARG,
                        "%s: detector '%s' has no shape (set det.ny/det.nx from the data)",
                        what, g->det.name);
    if (!(g->det.pixel1 > 0) || !(g->det.pixel2 > 0) || !isfinite(g->det.pixel1) ||
        !isfinite(g->det.pixel2))
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: pixel size %g x %g m is not positive", what,
                        g->det.pixel1, g->det.pixel2);
    if (!isfinite(g->dist) || !isfinite(g->poni1) || !isfinite(g->poni2) ||
        !isfinite(g->rot1) || !isfinite(g->rot2) || !isfinite(g->rot3))
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: geometry has a non-finite parameter", what);
    if (g->det.orientation < 0 || g->det.orientation > 4)
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: orientation %d not in 1..4", what,
                        g->det.orientation);
    *ny = (size_t)g->det.ny + (corners ? 1 : 0);
    *nx = (size_t)g->det.nx + (corners ? 1 : 0);
    size_t need;
    if (azs_mul_size(*ny, *nx, &need) != 0 || n < need)
        return azs_fail(AZS_ERR_CAPACITY, "%s: output holds %zu values, %zu x %zu needed", what,
                        n, *ny, *nx);
    return AZS_OK;
}

/* sin(2θ/2) for 2θ = atan2(r, t3), without atan2 and sin (they are ~70 % of the cost of a
 * q array). With |t| = √(r² + t3²): sin²θ = (1 − cos 2θ)/2 = (|t| − t3)/(2|t|). For t3 > 0
 * that difference cancels, so use (|t| − t3) = r²/(|t| + t3) there:
 * sin θ = r/√(2|t|(|t| + t3)). Both branches are a few ulp from pyFAI's
 * sin(0.5·arctan2(r, z)) (the tests hold them to 1e-10, measured ~1e-15). */
static inline double sin_half_angle(double r, double t3)
{
    const double n = sqrt(r * r + t3 * t3);
    if (n == 0.0) return 0.0; /* the sample itself: pyFAI gives sin(atan2(0, 0)/2) = 0 */
    return t3 > 0.0 ? r / sqrt(2.0 * n * (n + t3)) : sqrt((n - t3) / (2.0 * n));
}

/* Index of a point along each axis after pyFAI's orientation flip: orientation 1 flips
 * both axes, 2 flips dim1 (rows), 4 flips dim2 (columns), 3 (and 0) none. `last` is the
 * largest index of the grid (ny-1 for centres, ny for corners). */
static inline int flips_rows(int o) { return o == 1 || o == 2; }
static inline int flips_cols(int o) { return o == 1 || o == 4; }

azs_status azs_geometry_positions(const azs_geometry *g, azs_unit unit, int corners,
                                  double *radial, double *chi, size_t n)
{
    size_t ny, nx;
    azs_status st = check(g, corners, n, "azs_geometry_positions", &ny, &nx);
    if (st != AZS_OK) return st;
    if ((unsigned)unit >= AZS_UNIT_COUNT)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_geometry_positions: bad unit %d", (int)unit);
    /* every unit but r and 2θ is a function of q */
    const int is_q = !(unit == AZS_UNIT_R_MM || unit == AZS_UNIT_R_M || unit == AZS_UNIT_2TH_DEG ||
                       unit == AZS_UNIT_2TH_RAD);
    if (radial && is_q && !(g->wavelength > 0 && isfinite(g->wavelength)))
        return azs_fail(AZS_ERR_INVALID_ARG,
                        "unit %s needs a wavelength, and the geometry has none", azs_unit_name(unit));
    if (!radial && !chi) return AZS_OK;
    /* pyFAI computes corners of 2θ, q and r in double (its calc_rad_azim); for the other
     * units it has no such path and starts from the detector's pixel corners, computed and
     * stored in float32 (fl32(pixel) · fl32(index)): so do we there (χ too, which comes
     * from the same corner array). */
    const int f32 = corners && is_q && unit != AZS_UNIT_Q_NM && unit != AZS_UNIT_Q_A;

    const rotation r = make_rotation(g);
    const double L = g->dist, half = corners ? 0.0 : 0.5;
    const double px1 = g->det.pixel1, px2 = g->det.pixel2, poni1 = g->poni1, poni2 = g->poni2;
    const int frow = flips_rows(g->det.orientation), fcol = flips_cols(g->det.orientation);
    /* Constant parts of t: the L column of the rotation. */
    const double k1 = r.a[0][2] * L, k2 = r.a[1][2] * L, k3 = r.a[2][2] * L;
    /* Same scale factors and operation order as pyFAI's units (ary * unit.scale). */
    const double qfac = 4.0e-9 * AZS_PI / (is_q ? g->wavelength : 1.0);
    const double deg = 180.0 / AZS_PI;
    const long long nyl = (long long)ny;

#pragma omp parallel for schedule(static)
    for (long long ii = 0; ii < nyl; ii++) {
        const size_t i = (size_t)ii;
        const double fi = (double)(frow ? ny - 1 - i : i);
        const double p1 = (f32 ? (double)((float)px1 * (float)fi) : px1 * (fi + half)) - poni1;
        const double b1 = r.a[0][0] * p1 + k1, b2 = r.a[1][0] * p1 + k2, b3 = r.a[2][0] * p1 + k3;
        double *restrict rad_row = radial ? radial + i * nx : NULL;
        double *restrict chi_row = chi ? chi + i * nx : NULL;
        for (size_t j = 0; j < nx; j++) {
            const double fj = (double)(fcol ? nx - 1 - j : j);
            const double p2 = (f32 ? (double)((float)px2 * (float)fj) : px2 * (fj + half)) - poni2;
            const double t1 = b1 + r.a[0][1] * p2;
            const double t2 = b2 + r.a[1][1] * p2;
            const double t3 = b3 + r.a[2][1] * p2;
            if (chi_row) chi_row[j] = atan2(t1, t2);
            if (rad_row) {
                const double rr = sqrt(t1 * t1 + t2 * t2);
                const double q = is_q ? qfac * sin_half_angle(rr, t3) : 0.0;
                double v;
                /* pyFAI's formulas in its operation order (units.py: the unit's equation,
                 * then × scale) */
                switch (unit) {
                case AZS_UNIT_R_MM: v = rr * 1000.0; break;
                case AZS_UNIT_R_M: v = rr; break;
                case AZS_UNIT_2TH_RAD: v = atan2(rr, t3); break;
                case AZS_UNIT_2TH_DEG: v = atan2(rr, t3) * deg; break;
                case AZS_UNIT_Q_NM: v = q; break;
                case AZS_UNIT_Q_A: v = q * 0.1; break;
                case AZS_UNIT_D_M: v = AZS_TWO_PI / (1e9 * q); break;
                case AZS_UNIT_D_NM: v = AZS_TWO_PI / (1e9 * q) * 1e9; break;
                case AZS_UNIT_D_A: v = AZS_TWO_PI / (1e9 * q) * 1e10; break;
                case AZS_UNIT_D2_NM: v = (q / AZS_TWO_PI) * (q / AZS_TWO_PI); break;
                case AZS_UNIT_D2_A: v = (q / AZS_TWO_PI) * (q / AZS_TWO_PI) * 0.01; break;
                case AZS_UNIT_LOG1P_Q_NM: v = log1p(q); break;
                case AZS_UNIT_LOG1P_Q_A: v = log1p(0.1 * q); break;
                case AZS_UNIT_ASINH_Q_NM: v = asinh(q); break;
                default: /* AZS_UNIT_ASINH_Q_A */ v = asinh(0.1 * q); break;
                }
                rad_row[j] = v;
            }
        }
    }
    return AZS_OK;
}

azs_status azs_geometry_radial(const azs_geometry *g, azs_unit unit, int corners, double *out, size_t n)
{
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "azs_geometry_radial: NULL output");
    return azs_geometry_positions(g, unit, corners, out, NULL, n);
}

azs_status azs_geometry_chi(const azs_geometry *g, int corners, double *out, size_t n)
{
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "azs_geometry_chi: NULL output");
    return azs_geometry_positions(g, AZS_UNIT_2TH_RAD, corners, NULL, out, n);
}

/* cos³ of the incidence angle at each pixel centre: with the PONI the foot of the normal
 * from the sample, cos α = L / √(L² + p1² + p2²), independent of the rotations. pyFAI
 * builds p1, p2 here from float32 indices, so the positions are float32 products:
 * p = fl32(fl32(fl32(pixel)·fl32(i + ½)) − fl32(poni)); we do the same (x86-64 evaluates
 * float arithmetic in float, FLT_EVAL_METHOD 0, like numpy). */
azs_status azs_geometry_solid_angle(const azs_geometry *g, double *out, size_t n)
{
    size_t ny, nx;
    azs_status st = check(g, 0, n, "azs_geometry_solid_angle", &ny, &nx);
    if (st != AZS_OK) return st;
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "azs_geometry_solid_angle: NULL output");
    const float px1 = (float)g->det.pixel1, px2 = (float)g->det.pixel2;
    const float poni1 = (float)g->poni1, poni2 = (float)g->poni2;
    const double L = g->dist, L2 = L * L;
    const int frow = flips_rows(g->det.orientation), fcol = flips_cols(g->det.orientation);
    const long long nyl = (long long)ny;
#pragma omp parallel for schedule(static)
    for (long long ii = 0; ii < nyl; ii++) {
        const size_t i = (size_t)ii;
        const float fi = (float)(frow ? ny - 1 - i : i) + 0.5f;
        const float p1f = px1 * fi;
        const double p1 = (double)(float)(p1f - poni1);
        double *restrict row = out + i * nx;
        for (size_t j = 0; j < nx; j++) {
            const float fj = (float)(fcol ? nx - 1 - j : j) + 0.5f;
            const float p2f = px2 * fj;
            const double p2 = (double)(float)(p2f - poni2);
            const double cosa = L / sqrt(L2 + (p1 * p1 + p2 * p2));
            row[j] = cosa * cosa * cosa;
        }
    }
    return AZS_OK;
}

/* P = ½·(1 + cos²2θ − f·cos(2(χ + offset))·(1 − cos²2θ)) at each pixel centre, from the
 * double 2θ and χ (pyFAI then stores it as float32; we keep double). */
azs_status azs_geometry_polarization(const azs_geometry *g, double factor, double axis_offset,
                                     double *out, size_t n)
{
    size_t ny, nx;
    azs_status st = check(g, 0, n, "azs_geometry_polarization", &ny, &nx);
    if (st != AZS_OK) return st;
    if (!out) return azs_fail(AZS_ERR_INVALID_ARG, "azs_geometry_polarization: NULL output");
    if (!isfinite(factor) || factor < -1.0 || factor > 1.0 || !isfinite(axis_offset))
        return azs_fail(AZS_ERR_INVALID_ARG,
                        "polarization factor %g must be in [-1, 1] (axis offset %g finite)",
                        factor, axis_offset);
    const rotation r = make_rotation(g);
    const double L = g->dist;
    const double px1 = g->det.pixel1, px2 = g->det.pixel2, poni1 = g->poni1, poni2 = g->poni2;
    const int frow = flips_rows(g->det.orientation), fcol = flips_cols(g->det.orientation);
    const double k1 = r.a[0][2] * L, k2 = r.a[1][2] * L, k3 = r.a[2][2] * L;
    const long long nyl = (long long)ny;
#pragma omp parallel for schedule(static)
    for (long long ii = 0; ii < nyl; ii++) {
        const size_t i = (size_t)ii;
        const double fi = (double)(frow ? ny - 1 - i : i);
        const double p1 = px1 * (fi + 0.5) - poni1;
        const double b1 = r.a[0][0] * p1 + k1, b2 = r.a[1][0] * p1 + k2, b3 = r.a[2][0] * p1 + k3;
        double *restrict row = out + i * nx;
        for (size_t j = 0; j < nx; j++) {
            const double fj = (double)(fcol ? nx - 1 - j : j);
            const double p2 = px2 * (fj + 0.5) - poni2;
            const double t1 = b1 + r.a[0][1] * p2;
            const double t2 = b2 + r.a[1][1] * p2;
            const double t3 = b3 + r.a[2][1] * p2;
            const double tth = atan2(sqrt(t1 * t1 + t2 * t2), t3);
            const double chi = atan2(t1, t2);
            const double c = cos(tth), c2 = c * c;
            row[j] = 0.5 * (1.0 + c2 - factor * cos(2.0 * (chi + axis_offset)) * (1.0 - c2));
        }
    }
    return AZS_OK;
}
