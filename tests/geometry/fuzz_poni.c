/* libFuzzer harness for the PONI parser (and, for small parsed detectors, the position,
 * mask and correction code driven by what was parsed). Built with -DAZS_FUZZ=ON (clang);
 * fuzz_replay.c runs the same entry point over the seed corpus in normal/ASan builds. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "azstream/geometry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    azs_geometry g;
    if (azs_poni_parse((const char *)data, size, "fuzz.poni", &g) != AZS_OK) return 0;
    /* exercise the consumers on small detectors only (a parsed max_shape may be huge) */
    if (g.det.ny == 0 || g.det.nx == 0 || g.det.ny > 64 || g.det.nx > 64) return 0;
    static double a[65 * 65], b[65 * 65];
    static uint8_t m[64 * 64];
    size_t nc = (size_t)g.det.ny * g.det.nx, nk = (size_t)(g.det.ny + 1) * (g.det.nx + 1);
    (void)azs_geometry_positions(&g, AZS_UNIT_Q_A, 1, a, b, nk);
    (void)azs_geometry_positions(&g, AZS_UNIT_2TH_DEG, 0, a, b, nc);
    (void)azs_geometry_solid_angle(&g, a, nc);
    (void)azs_geometry_polarization(&g, 0.9, 0.1, a, nc);
    (void)azs_detector_mask(&g.det, m, nc);
    return 0;
}
