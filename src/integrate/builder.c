/* Sparse-matrix builders: splitting no / bbox / full, 1D and 2D, as pyFAI's CSR engines
 * define them (pyFAI 2026.9, integrate1d_ng / integrate2d_ng with method
 * (split, "csr", "cython")). Definitions, checked bin for bin against pyFAI in
 * tests/integrate/golden_integrate.py:
 *
 *  - Positions are in pyFAI's internal units. pyFAI stores pixel *corners* in float32 and
 *    centres in float64; the bbox half-width is max |corner(f32) − centre| over the four
 *    corners. We round corners to float the same way so that automatic ranges and bin
 *    edges come out identical.
 *  - Automatic range (no range option), over the unmasked pixels only:
 *      no:   [min centre, max centre]
 *      bbox: [min (centre − half-width), max (centre + half-width)]
 *      full: [min corner, max corner]
 *    The upper end is then pushed out by one float32 epsilon (x·(1+ε32)) so that the
 *    largest position falls inside the last bin. bin width = (max − min) / npt; bin
 *    centres min + (i + ½)·width, multiplied by the unit scale (χ shown in degrees).
 *  - no: one entry of weight 1 in the bin holding the centre.
 *  - bbox: along each axis the pixel covers [c − d, c + d] (radial: not clipped at 0, a
 *    pixel at the beam centre keeps density 1/(2d); χ: d is the periodic distance, so a
 *    pixel on the ±π cut stays small); the weight of each bin it overlaps is the overlap
 *    length over 2d, and a pixel that reaches past the range edge keeps its out-of-range
 *    share in the edge bin (clipping moves the bin index, not the fraction). Bin indices
 *    truncate toward zero: a pixel less than one bin below the range lands whole in bin 0.
 *    In 2D the product of both axes. The automatic radial range starts at max(0, min(c−d));
 *    the automatic χ range is clipped to [−π, π] (π rounded to float32).
 *  - azimuth_range: each end mapped into [−π, π), the upper one + 2π when not above the
 *    lower one (azimuth_end()); into [0, 2π) with the χ discontinuity at 0, whose automatic
 *    χ range is clipped to [0, 2π].
 *  - full: the pixel is the quadrilateral of its four corners in (radial, χ) space, first
 *    re-centred when it sits on the χ = ±π cut (see recenter()).
 *    1D: the weight of a radial bin is the area of the quadrilateral inside the bin (sum
 *    of the signed areas under its edges, in float32 as pyFAI) over the area inside the
 *    whole range (a pixel cut by the range edge sums to 1).
 *    2D: pyFAI does not compute exact overlaps: corners are clamped to the range, and the
 *    area under each edge, column by column, is stacked into the column's cells from the
 *    bottom of the pixel's bounding box (see stack_piece()); weights are these cell sums
 *    over their total. We reproduce that rule, since the goal is pyFAI's numbers.
 * Entries are generated pixel by pixel into a coordinate list, then counting-sorted by bin
 * (stable, so each row lists pixels in increasing index: deterministic sums). */
#include "builder.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/error.h"

#define AZS_PI 3.14159265358979323846

typedef struct coo_entry { uint32_t bin, pix; float w; } coo_entry;
typedef struct coo { coo_entry *e; size_t n, cap; } coo;

static int coo_push(coo *c, uint32_t bin, uint32_t pix, double w)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1u << 16;
        coo_entry *e = realloc(c->e, cap * sizeof *e);
        if (!e) return -1;
        c->e = e;
        c->cap = cap;
    }
    c->e[c->n++] = (coo_entry){bin, pix, (float)w};
    return 0;
}

static double upper_bound(double x)
{
    const double eps = 1.0 + (double)FLT_EPSILON;
    if (x > 0) return x * eps;
    if (x < 0) return x / eps;
    return (double)FLT_EPSILON;
}

/* Corner k (0..3, pyFAI's order: (i,j), (i+1,j), (i+1,j+1), (i,j+1)) of pixel (i, j). */
static inline size_t corner_index(uint32_t nx, uint32_t i, uint32_t j, int k)
{
    static const int di[4] = {0, 1, 1, 0}, dj[4] = {0, 0, 1, 1};
    return (size_t)(i + (uint32_t)di[k]) * (nx + 1) + (j + (uint32_t)dj[k]);
}

/* Bbox split along one axis: bins overlapped by [lo, hi] (bin units). Returns how many
 * (bin, weight) pairs were written (0 if the interval misses every bin). */
static int axis_split(double flo, double fhi, uint32_t nb, int32_t *bins, double *w, int cap)
{
    double blo = trunc(flo), bhi = trunc(fhi); /* toward zero, as pyFAI's int cast */
    if (bhi < 0 || blo >= (double)nb) return 0;
    if (blo < 0) blo = 0;
    if (bhi > (double)nb - 1) bhi = (double)nb - 1;
    int32_t b0 = (int32_t)blo, b1 = (int32_t)bhi;
    if (b0 == b1) {
        bins[0] = b0;
        w[0] = 1.0;
        return 1;
    }
    if (b1 - b0 + 1 > cap) return -1;
    double inv = 1.0 / (fhi - flo);
    int n = 0;
    for (int32_t b = b0; b <= b1; b++) {
        double lo = b == b0 ? flo : (double)b, hi = b == b1 ? fhi : (double)b + 1.0;
        bins[n] = b;
        w[n++] = (hi - lo) * inv;
    }
    return n;
}

/* An end of an azimuth range (degrees) mapped into [−π, π) as pyFAI does: t = x/180
 * taken modulo 2 into [0, 2), less 2 when ≥ 1, times π ([0, 2π) with the discontinuity
 * at 0: no subtraction). The pixels' χ are not unwrapped, so the part of a range past
 * the discontinuity is (almost) empty, as in pyFAI. */
static double azimuth_end(double deg, int disc0)
{
    double t = fmod(deg / 180.0, 2.0);
    if (t < 0) t += 2.0;
    if (!disc0 && t >= 1.0) t -= 2.0;
    return t * AZS_PI;
}

static inline double clampd(double v, double lo, double hi)
{
    return v < lo ? lo : (v > hi ? hi : v);
}

/* pyFAI's test for a pixel on the χ cut: the sign of its approximate algebraic area
 * ½(c0−a0)(d1−b1) − (c1−a1)(d0−b0) (sic: the ½ applies to the first product only), with
 * corners in pyFAI's order; normal pixels come out negative (orientation 2 and 4 mirror
 * one axis and flip the sign). A positive one gets its negative χ corners moved up by
 * 2π, and all four back down by 2π when their mean passes π. */
static double area4p(const double *r, const double *y)
{
    return 0.5 * ((r[2] - r[0]) * (y[3] - y[1])) - ((y[2] - y[0]) * (r[3] - r[1]));
}

static void recenter(const double *r, double *y, int orientation)
{
    double sign = (orientation == 2 || orientation == 4) ? -1.0 : 1.0;
    if (!(sign * area4p(r, y) > 0)) return;
    double mean = 0;
    for (int k = 0; k < 4; k++) {
        if (y[k] < 0) y[k] += 2 * AZS_PI;
        mean += y[k];
    }
    if (0.25 * mean > AZS_PI)
        for (int k = 0; k < 4; k++) y[k] -= 2 * AZS_PI;
}

/* One piece [xa, xb] of a polygon edge inside box column `col`: the signed area under the
 * edge over that piece is laid into the column from the bottom row up, each cell taking at
 * most the piece's width (pyFAI's 2D full-splitting rule, which is exact only for flat
 * edges; we reproduce it, float32 arithmetic included, to match its weights). */
static void stack_piece(float *box, int w0, int w1, int col, double xa, double xb, float slope,
                        float icpt)
{
    float fa = (float)xa, fb = (float)xb;
    float dx = fb - fa, sx = fb + fa; /* float operations, then C promotes at the 0.5 */
    float area = (float)((double)dx * (0.5 * (double)slope * (double)sx + (double)icpt));
    if (area == 0.0f || col < 0 || col >= w0) return;
    float left = fabsf(area), dA = (float)fabs(xb - xa);
    for (int h = 0; left > 0 && h < w1; h++) {
        if (dA > left) {
            dA = left;
            left = -1;
        }
        box[(size_t)col * (size_t)w1 + (size_t)h] += copysignf(dA, area);
        left -= dA;
    }
}

/* Edge (s0,s1) → (e0,e1) in box coordinates, cut at integer columns. */
static void edge_stack(float *box, int w0, int w1, double s0, double s1, double e0, double e1)
{
    if (s0 == e0) return;
    float slope = (float)((e1 - s1) / (e0 - s0));
    float icpt = (float)(e1 - (double)slope * e0);
    if (s0 < e0) {
        double P = ceil(s0);
        if (P > e0) {
            stack_piece(box, w0, w1, (int)s0, s0, e0, slope, icpt);
            return;
        }
        if (P - s0 > 0) stack_piece(box, w0, w1, (int)P - 1, s0, P, slope, icpt);
        for (long i = (long)floor(P); i < (long)floor(e0); i++)
            stack_piece(box, w0, w1, (int)i, (double)i, (double)i + 1, slope, icpt);
        double Q = floor(e0);
        if (e0 - Q > 0) stack_piece(box, w0, w1, (int)Q, Q, e0, slope, icpt);
    } else {
        double P = floor(s0);
        if (e0 > P) {
            stack_piece(box, w0, w1, (int)s0, s0, e0, slope, icpt);
            return;
        }
        if (P - s0 < 0) stack_piece(box, w0, w1, (int)P, s0, P, slope, icpt);
        for (long i = (long)s0; i > (long)ceil(e0); i--)
            stack_piece(box, w0, w1, (int)i - 1, (double)i, (double)i - 1, slope, icpt);
        double Q = ceil(e0);
        if (e0 - Q < 0) stack_piece(box, w0, w1, (int)e0, Q, e0, slope, icpt);
    }
}

/* 1D full splitting: add the signed area under the edge (s0,s1) → (e0,e1) (x in bin
 * units, y = χ) to the bins it crosses, in float32 like pyFAI's buffer. */
static inline float add_area(float acc, double x1, double x2, double slope, double icpt)
{
    /* C semantics of pyFAI's `float_buffer += double_area`: add in double, round once. */
    return (float)((double)acc + (x2 - x1) * (0.5 * slope * (x2 + x1) + icpt));
}

static void edge_area_1d(float *buf, uint32_t nb, double s0, double s1, double e0, double e1)
{
    if (e0 == s0) return;
    const long n = (long)nb;
    const long is = (long)floor(s0), ie = (long)floor(e0);
    const double slope = (e1 - s1) / (e0 - s0), icpt = s1 - slope * s0;
    if (is == ie && is >= 0 && ie < n) {
        buf[is] = add_area(buf[is], s0, e0, slope, icpt);
    } else if (e0 > s0) {
        if (s0 >= 0 && s0 < n) buf[is] = add_area(buf[is], s0, floor(s0 + 1), slope, icpt);
        for (long i = is + 1 > 0 ? is + 1 : 0; i < (ie < n ? ie : n); i++)
            buf[i] = add_area(buf[i], (double)i, (double)i + 1, slope, icpt);
        if (e0 >= 0 && e0 < n) buf[ie] = add_area(buf[ie], (double)ie, e0, slope, icpt);
    } else {
        if (s0 >= 0 && s0 < n) buf[is] = add_area(buf[is], s0, (double)is, slope, icpt);
        long lo = ie > -1 ? ie : -1;
        for (long i = (is < n ? is : n) - 1; i > lo; i--)
            buf[i] = add_area(buf[i], (double)i + 1, (double)i, slope, icpt);
        if (e0 >= 0 && e0 < n) buf[ie] = add_area(buf[ie], floor(e0 + 1), e0, slope, icpt);
    }
}

void azs_csr_free(azs_csr *m)
{
    if (!m) return;
    azs_aligned_free(m->indptr);
    azs_aligned_free(m->indices);
    azs_aligned_free(m->weights);
    free(m->radial);
    free(m->azimuthal);
    memset(m, 0, sizeof *m);
}

#define AXIS_CAP 4096

azs_status azs_csr_build(const azs_positions *pos, const uint8_t *mask,
                         const azs_integrate_options *o, azs_csr *out)
{
    memset(out, 0, sizeof *out);
    const uint32_t ny = pos->ny, nx = pos->nx;
    const size_t npix = (size_t)ny * nx;
    const int two_d = o->npt_azim > 0;
    const azs_split split = o->split;
    if (o->npt == 0) return azs_fail(AZS_ERR_INVALID_ARG, "integrate: npt must be > 0");
    {
        /* The bins, before anything is sized from them: a row pointer and the engines' five
         * sums per bin, and the profile row (a lower bound of what the run needs). */
        const unsigned long long nb = (unsigned long long)o->npt * (o->npt_azim > 0 ? o->npt_azim : 1);
        char what[160];
        if (nb > UINT32_MAX)
            return azs_fail(AZS_ERR_INVALID_ARG, "integrate: %u x %u = %llu bins: at most %u",
                            o->npt, o->npt_azim, nb, (unsigned)UINT32_MAX);
        snprintf(what, sizeof what, "integrate: %u radial x %u azimuthal = %llu bins", o->npt,
                 o->npt_azim > 0 ? o->npt_azim : 1, nb);
        azs_status ms = azs_mem_check(nb * (8 + 5 * 8 + 2 * 8), what);
        if (ms != AZS_OK) return ms;
    }
    if (npix == 0 || npix > UINT32_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: detector of %u x %u pixels", ny, nx);
    if (split != AZS_SPLIT_NO && split != AZS_SPLIT_BBOX && split != AZS_SPLIT_FULL)
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: unknown split %d", (int)split);
    if (!pos->radial || !pos->chi || (split != AZS_SPLIT_NO && (!pos->radial_corner || !pos->chi_corner)))
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: missing position arrays");
    if (!(pos->unit_scale > 0))
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: unit scale %g", pos->unit_scale);
    const int check_azim = two_d || o->has_azimuth_range;

    /* Per-pixel extents [lo0,hi0] x [lo1,hi1] used for the automatic range. */
    double r0min = INFINITY, r0max = -INFINITY, r1min = INFINITY, r1max = -INFINITY;
    double *dr = NULL, *dc = NULL; /* bbox half-widths */
    if (split == AZS_SPLIT_BBOX) {
        dr = malloc(npix * sizeof *dr);
        dc = malloc(npix * sizeof *dc);
        if (!dr || !dc) { free(dr); free(dc); return azs_fail(AZS_ERR_NOMEM, "integrate: bbox widths"); }
    }
    for (uint32_t i = 0; i < ny; i++)
        for (uint32_t j = 0; j < nx; j++) {
            size_t p = (size_t)i * nx + j;
            double c0 = pos->radial[p], c1 = pos->chi[p];
            double lo0 = c0, hi0 = c0, lo1 = c1, hi1 = c1;
            if (split == AZS_SPLIT_BBOX) {
                double d0 = 0, d1 = 0;
                for (int k = 0; k < 4; k++) {
                    size_t q = corner_index(nx, i, j, k);
                    double a = fabs((double)(float)pos->radial_corner[q] - c0);
                    double b = fabs((double)(float)pos->chi_corner[q] - c1);
                    if (b > AZS_PI) b = 2 * AZS_PI - b; /* χ is periodic: across the cut */
                    if (a > d0) d0 = a;
                    if (b > d1) d1 = b;
                }
                dr[p] = d0;
                dc[p] = d1;
                lo0 = fmax(c0 - d0, 0.0); /* radial units are >= 0: pyFAI clips */
                hi0 = c0 + d0; lo1 = c1 - d1; hi1 = c1 + d1;
            } else if (split == AZS_SPLIT_FULL) {
                lo0 = lo1 = INFINITY;
                hi0 = hi1 = -INFINITY;
                for (int k = 0; k < 4; k++) {
                    size_t q = corner_index(nx, i, j, k);
                    double a = (double)(float)pos->radial_corner[q];
                    double b = (double)(float)pos->chi_corner[q];
                    lo0 = fmin(lo0, a); hi0 = fmax(hi0, a);
                    lo1 = fmin(lo1, b); hi1 = fmax(hi1, b);
                }
            }
            if (mask && mask[p]) continue;
            r0min = fmin(r0min, lo0); r0max = fmax(r0max, hi0);
            r1min = fmin(r1min, lo1); r1max = fmax(r1max, hi1);
        }
    if (!(r0min <= r0max)) {
        free(dr); free(dc);
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: every pixel is masked");
    }
    double pos0_min = r0min, pos0_maxin = r0max;
    if (o->has_radial_range) {
        /* an open end (NaN) stays automatic */
        if (!isnan(o->radial_min)) pos0_min = o->radial_min / pos->unit_scale;
        if (!isnan(o->radial_max)) pos0_maxin = o->radial_max / pos->unit_scale;
    }
    /* The automatic azimuthal range never leaves [-π, π] (π rounded to float32 for bbox, as
     * pyFAI's two code paths do). */
    const double pic = split == AZS_SPLIT_BBOX ? (double)(float)AZS_PI : AZS_PI;
    const int disc0 = pos->chi_disc_at_0;
    /* With the discontinuity at 0, [0, 2π] (pyFAI's full CSR; its no/bbox CSR clip to
     * [−π, π] there, a bug: doc/integration.md). */
    double pos1_min = fmax(r1min, disc0 ? 0.0 : -pic), pos1_maxin = fmin(r1max, disc0 ? 2 * pic : pic);
    if (o->has_azimuth_range) {
        if (!isnan(o->azimuth_min)) pos1_min = azimuth_end(o->azimuth_min, disc0);
        if (!isnan(o->azimuth_max)) pos1_maxin = azimuth_end(o->azimuth_max, disc0);
        if (pos1_maxin <= pos1_min) pos1_maxin += 2 * AZS_PI;
    }
    if (!(pos0_maxin > pos0_min) || (check_azim && !(pos1_maxin > pos1_min))) {
        free(dr); free(dc);
        return azs_fail(AZS_ERR_INVALID_ARG, "integrate: empty radial or azimuthal range");
    }
    const double pos0_max = upper_bound(pos0_maxin), pos1_max = upper_bound(pos1_maxin);
    const uint32_t n0 = o->npt, n1 = two_d ? o->npt_azim : 1;
    const double delta0 = (pos0_max - pos0_min) / n0;
    const double delta1 = (pos1_max - pos1_min) / n1;

    coo c = {0};
    azs_status st = AZS_OK;
    float *lbuf = NULL; /* 1D full split: per-bin area buffer, kept zeroed between pixels */
    if (split == AZS_SPLIT_FULL && !two_d) {
        lbuf = calloc(n0, sizeof *lbuf);
        if (!lbuf) { free(dr); free(dc); return azs_fail(AZS_ERR_NOMEM, "integrate: area buffer"); }
    }
    int32_t b0s[AXIS_CAP], b1s[AXIS_CAP];
    double w0s[AXIS_CAP], w1s[AXIS_CAP];
    float fbox[AXIS_CAP];
    for (uint32_t i = 0; i < ny && st == AZS_OK; i++)
        for (uint32_t j = 0; j < nx; j++) {
            size_t p = (size_t)i * nx + j;
            if (mask && mask[p]) continue;
            double c0 = pos->radial[p], c1 = pos->chi[p];
            if (split == AZS_SPLIT_NO) {
                /* Bin index by truncation toward zero, as pyFAI: a centre up to one bin
                 * below the range start still lands in bin 0. */
                double f0 = trunc((c0 - pos0_min) / delta0);
                if (!(f0 >= 0 && f0 < n0)) continue;
                double f1 = 0;
                if (two_d) {
                    f1 = trunc((c1 - pos1_min) / delta1);
                    if (!(f1 >= 0 && f1 < n1)) continue;
                } else if (check_azim && (c1 < pos1_min || c1 > pos1_max)) {
                    continue;
                }
                uint32_t b0 = (uint32_t)f0, b1 = (uint32_t)f1;
                if (coo_push(&c, b1 * n0 + b0, (uint32_t)p, 1.0)) { st = AZS_ERR_NOMEM; break; }
            } else if (split == AZS_SPLIT_BBOX) {
                double d0 = dr[p], d1 = dc[p];
                if (check_azim && !two_d && (c1 + d1 < pos1_min || c1 - d1 > pos1_max)) continue;
                /* The unclipped lower edge, as pyFAI: a pixel at the beam centre keeps
                 * its density 1/(2d), its part below the range piling into bin 0. */
                int m0 = axis_split((c0 - d0 - pos0_min) / delta0, (c0 + d0 - pos0_min) / delta0,
                                    n0, b0s, w0s, AXIS_CAP);
                int m1 = 1;
                b1s[0] = 0;
                w1s[0] = 1.0;
                if (two_d)
                    m1 = axis_split((c1 - d1 - pos1_min) / delta1, (c1 + d1 - pos1_min) / delta1,
                                    n1, b1s, w1s, AXIS_CAP);
                if (m0 < 0 || m1 < 0) { st = AZS_ERR_INVALID_ARG; break; }
                for (int a = 0; a < m1; a++)
                    for (int b = 0; b < m0; b++)
                        if (coo_push(&c, (uint32_t)b1s[a] * n0 + (uint32_t)b0s[b], (uint32_t)p,
                                     w1s[a] * w0s[b])) { st = AZS_ERR_NOMEM; break; }
            } else { /* full */
                double r[4], y[4], x[4];
                for (int k = 0; k < 4; k++) {
                    size_t q = corner_index(nx, i, j, k);
                    r[k] = (double)(float)pos->radial_corner[q];
                    y[k] = (double)(float)pos->chi_corner[q];
                }
                recenter(r, y, pos->orientation);
                double rlo = fmin(fmin(r[0], r[1]), fmin(r[2], r[3]));
                double rhi = fmax(fmax(r[0], r[1]), fmax(r[2], r[3]));
                double ylo = fmin(fmin(y[0], y[1]), fmin(y[2], y[3]));
                double yhi = fmax(fmax(y[0], y[1]), fmax(y[2], y[3]));
                if (!two_d) {
                    for (int k = 0; k < 4; k++) x[k] = (r[k] - pos0_min) / delta0;
                    double xlo = (rlo - pos0_min) / delta0, xhi = (rhi - pos0_min) / delta0;
                    if (xhi < 0 || xlo >= n0) continue;
                    if (o->has_azimuth_range && (yhi < pos1_min || ylo > pos1_maxin)) continue;
                    double bx0 = floor(xlo), bx1 = floor(xhi);
                    if (bx0 == bx1) {
                        if (coo_push(&c, (uint32_t)bx0, (uint32_t)p, 1.0)) st = AZS_ERR_NOMEM;
                        continue;
                    }
                    bx0 = fmax(bx0, 0);
                    bx1 = fmin(bx1, n0 - 1.0);
                    /* Area under each edge, bin by bin, into a float32 buffer as pyFAI
                     * does (the float32 cancellation between the top and bottom edges is
                     * part of pyFAI's numbers), normalised by the sum over the range. */
                    for (int k = 0; k < 4; k++) {
                        int k1 = (k + 1) & 3;
                        edge_area_1d(lbuf, n0, x[k], y[k], x[k1], y[k1]);
                    }
                    double sum = 0;
                    for (uint32_t b = (uint32_t)bx0; b <= (uint32_t)bx1; b++) sum += lbuf[b];
                    double inv = 1.0 / sum;
                    for (uint32_t b = (uint32_t)bx0; b <= (uint32_t)bx1; b++) {
                        if (lbuf[b] != 0 && sum != 0 && st == AZS_OK &&
                            coo_push(&c, b, (uint32_t)p, (double)lbuf[b] * inv))
                            st = AZS_ERR_NOMEM;
                        lbuf[b] = 0;
                    }
                    continue;
                }
                if (rhi < pos0_min || rlo > pos0_maxin || yhi < pos1_min || ylo >= pos1_max) continue;
                double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
                for (int k = 0; k < 4; k++) {
                    x[k] = (clampd(r[k], pos0_min, pos0_maxin) - pos0_min) / delta0;
                    y[k] = (clampd(y[k], pos1_min, pos1_maxin) - pos1_min) / delta1;
                    xmin = fmin(xmin, x[k]); xmax = fmax(xmax, x[k]);
                    ymin = fmin(ymin, y[k]); ymax = fmax(ymax, y[k]);
                }
                double off0 = floor(xmin), off1 = floor(ymin);
                long bw0 = (long)(ceil(xmax) - off0), bw1 = (long)(ceil(ymax) - off1);
                if (bw0 <= 0 || bw1 <= 0) continue;
                if ((size_t)bw0 * (size_t)bw1 > AXIS_CAP) { st = AZS_ERR_INVALID_ARG; break; }
                float *box = fbox;
                memset(box, 0, (size_t)bw0 * (size_t)bw1 * sizeof *box);
                for (int k = 0; k < 4; k++) {
                    int k1 = (k + 1) & 3;
                    edge_stack(box, (int)bw0, (int)bw1, x[k] - off0, y[k] - off1, x[k1] - off0,
                               y[k1] - off1);
                }
                double sum = 0;
                for (long a = 0; a < bw0 * bw1; a++) sum += box[a];
                if (sum == 0) continue;
                double inv = 1.0 / sum;
                for (long a = 0; a < bw0 && st == AZS_OK; a++)
                    for (long b = 0; b < bw1; b++) {
                        float v = box[a * bw1 + b];
                        if (v == 0) continue;
                        uint32_t bin = ((uint32_t)off1 + (uint32_t)b) * n0 + (uint32_t)off0 + (uint32_t)a;
                        if (coo_push(&c, bin, (uint32_t)p, (double)v * inv)) { st = AZS_ERR_NOMEM; break; }
                    }
            }
        }
    free(dr);
    free(dc);
    free(lbuf);
    if (st != AZS_OK) {
        free(c.e);
        return st == AZS_ERR_NOMEM ? azs_fail(st, "integrate: sparse matrix allocation")
                                   : azs_fail(st, "integrate: a pixel spans more than %d bins: %u "
                                              "radial%s bins are far finer than this detector's "
                                              "pixels; use fewer (--npt%s)", AXIS_CAP, o->npt,
                                              two_d ? " x azimuthal" : "", two_d ? ", --npt-azim" : "");
    }

    out->npt = n0;
    out->npt_azim = two_d ? n1 : 0;
    out->nbins = n0 * n1;
    out->nnz = c.n;
    out->indptr = azs_aligned_alloc(((size_t)out->nbins + 1) * sizeof(uint64_t));
    /* AZS_CSR_PAD zero entries after the end: the engine prefetches ahead without a bound check */
    out->indices = azs_aligned_alloc((c.n + AZS_CSR_PAD) * sizeof(uint32_t));
    out->weights = azs_aligned_alloc((c.n ? c.n : 1) * sizeof(float));
    out->radial = malloc(n0 * sizeof(double));
    out->azimuthal = two_d ? malloc(n1 * sizeof(double)) : NULL;
    if (!out->indptr || !out->indices || !out->weights || !out->radial || (two_d && !out->azimuthal)) {
        free(c.e);
        azs_csr_free(out);
        return azs_fail(AZS_ERR_NOMEM, "integrate: sparse matrix of %zu entries", c.n);
    }
    memset(out->indptr, 0, ((size_t)out->nbins + 1) * sizeof(uint64_t));
    memset(out->indices + c.n, 0, AZS_CSR_PAD * sizeof(uint32_t));
    for (size_t k = 0; k < c.n; k++) out->indptr[c.e[k].bin + 1]++;
    for (uint32_t b = 0; b < out->nbins; b++) out->indptr[b + 1] += out->indptr[b];
    /* Stable counting sort: reuse indptr as running cursors, then shift back. */
    for (size_t k = 0; k < c.n; k++) {
        uint64_t at = out->indptr[c.e[k].bin]++;
        out->indices[at] = c.e[k].pix;
        out->weights[at] = c.e[k].w;
    }
    for (uint32_t b = out->nbins; b > 0; b--) out->indptr[b] = out->indptr[b - 1];
    out->indptr[0] = 0;
    free(c.e);
    for (uint32_t b = 0; b < n0; b++)
        out->radial[b] = (pos0_min + (b + 0.5) * delta0) * pos->unit_scale;
    for (uint32_t b = 0; two_d && b < n1; b++)
        out->azimuthal[b] = (pos1_min + (b + 0.5) * delta1) * (180.0 / AZS_PI);
    return AZS_OK;
}
