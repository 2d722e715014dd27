/* Positions of a simple analytic geometry for the integration unit tests: radial = distance
 * (in mm / 1000) and χ = angle from a beam point (cy, cx) near the middle of an ny × nx
 * detector, with 1.1 × wider pixels along x; centres (rad, chi: ny*nx) and the corner grid
 * (radc, chic: (ny+1)*(nx+1)). The beam inside the detector makes the χ cut cross it. */
#ifndef AZS_TESTS_ANALYTIC_POSITIONS_H
#define AZS_TESTS_ANALYTIC_POSITIONS_H
#include <math.h>

static void analytic_positions(int ny, int nx, double cy, double cx, double *rad, double *chi,
                               double *radc, double *chic)
{
    for (int i = 0; i <= ny; i++)
        for (int j = 0; j <= nx; j++) {
            double y = i - cy, x = (j - cx) * 1.1;
            radc[i * (nx + 1) + j] = 1e-3 * sqrt(x * x + y * y);
            chic[i * (nx + 1) + j] = atan2(y, x);
            if (i < ny && j < nx) {
                y += 0.5;
                x += 0.55;
                rad[i * nx + j] = 1e-3 * sqrt(x * x + y * y);
                chi[i * nx + j] = atan2(y, x);
            }
        }
}

#endif
