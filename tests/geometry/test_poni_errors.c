/* PONI parser and geometry API: good inputs are read as pyFAI reads them (the values
 * themselves are checked against pyFAI in test_vs_pyfai.py), bad inputs give the right
 * status and a message naming the file and the line. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/geometry.h"

#define CHECK_CONTEXT() fprintf(stderr, "  [last error: %s]", azs_last_error())
#include "../common/check.h"

static azs_status parse(const char *text, azs_geometry *g)
{
    return azs_poni_parse(text, strlen(text), "t.poni", g);
}

/* Expect status st and every needle in the message. */
static void bad(const char *text, azs_status st, const char *needle1, const char *needle2)
{
    azs_geometry g;
    azs_status got = parse(text, &g);
    const char *m = azs_last_error();
    CHECK(got == st, "expected %s, got %s for:\n%s\n", azs_status_str(st), azs_status_str(got), text);
    CHECK(!needle1 || strstr(m, needle1), "message '%s' lacks '%s'\n", m, needle1);
    CHECK(!needle2 || strstr(m, needle2), "message '%s' lacks '%s'\n", m, needle2);
}

#define GEOM "Distance: 0.1\nPoni1: 0.01\nPoni2: 0.02\nRot1: 0.1\nRot2: 0.2\nRot3: 0.3\n"

int main(int argc, char **argv)
{
    azs_geometry g;
    /* --- good inputs */
    CHECK(parse("# c: omment\nPixelSize1: 1e-4\nPixelSize2: 5e-5\n" GEOM "Wavelength: 1e-10\n", &g) == AZS_OK,
          "v1 generic\n");
    CHECK(g.poni_version == 1.0 && g.det.pixel1 == 1e-4 && g.det.pixel2 == 5e-5 && g.det.ny == 0 &&
              g.dist == 0.1 && g.rot3 == 0.3 && g.wavelength == 1e-10 && !strcmp(g.det.name, "Detector"),
          "v1 values\n");
    CHECK(parse("poni_version: 2\r\nDetector: Eiger2_4M\r\nDetector_config: {\"orientation\": 1}\r\n"
                "DISTANCE : 0.2 \r\nponi1:0.01\r\nPoni2: 0.02\r\nRot1: 0\r\nRot2: 0\r\nRot3: 0\r\n", &g) == AZS_OK,
          "v2.1 CRLF\n");
    CHECK(g.poni_version == 2.1 && g.det.orientation == 1 && g.det.ny == 2162 && g.dist == 0.2 &&
              g.wavelength == 0 && !strcmp(g.det.name, "Eiger2 4M"),
          "v2.1 values (version %g orientation %d)\n", g.poni_version, g.det.orientation);
    CHECK(parse("poni_version: 2\nDetector: Detector\nDetector_config: {\"pixel1\": 1e-4, \"pixel2\": 2e-4, "
                "\"max_shape\": [10, 20]}\n" GEOM "Distance: 0.5\n", &g) == AZS_OK && g.dist == 0.5 &&
              g.det.ny == 10 && g.det.nx == 20 && g.det.pixel2 == 2e-4 && g.det.orientation == 3,
          "later line wins, generic with shape\n");
    CHECK(parse("Detector: Pilatus1M\n" GEOM, &g) == AZS_OK && g.det.pixel1 == 172e-6, "v1 named\n");
    /* old Mac line ends (a lone CR) split lines, as Python's universal newlines do */
    CHECK(parse("PixelSize1: 1e-4\rPixelSize2: 1e-4\rDistance: 0.3\rPoni1: 0\rPoni2: 0\rRot1: 0\rRot2: 0\r"
                "Rot3: 0\r", &g) == AZS_OK && g.dist == 0.3, "CR line ends\n");
    bad("Distance: 0.3\rPoni1: 0x10\r", AZS_ERR_PARSE, "t.poni:2:", "Poni1");
    /* underflow reads as 0 like Python's float() */
    CHECK(parse(GEOM "Rot3: 1e-400\n", &g) == AZS_OK && g.rot3 == 0.0, "underflow\n");

    /* --- errors name the file and the line */
    bad("poni_version: 2\nDetector: Eiger4M\nDistance: 0.1x\n", AZS_ERR_PARSE, "t.poni:3:", "Distance");
    bad(GEOM "Wavelength: nan\n", AZS_ERR_PARSE, "t.poni:7:", "Wavelength");
    bad(GEOM "Wavelength: 1e999\n", AZS_ERR_PARSE, "t.poni:7:", NULL);
    bad(GEOM "Wavelength: -1\n", AZS_ERR_PARSE, "t.poni:7:", NULL);
    bad("Distance: 0.1\nPoni1: 0.01\nRot1: 0\nRot2: 0\nRot3: 0\n", AZS_ERR_PARSE, "t.poni", "Poni2");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"pixel1\": \n" GEOM, AZS_ERR_PARSE,
        "t.poni:3:", "JSON");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: [1, 2]\n" GEOM, AZS_ERR_PARSE, "t.poni:3:", "object");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"max_shape\": [1, -2]}\n" GEOM, AZS_ERR_PARSE,
        "t.poni:3:", "max_shape");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"orientation\": 7}\n" GEOM, AZS_ERR_PARSE,
        "t.poni:3:", "orientation");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"pixel1\": \"a\"}\n" GEOM, AZS_ERR_PARSE,
        "t.poni:3:", "pixel1");
    bad("poni_version: 2\nDetector: Eiger4M\nDetector_config: {\"binning\": [2, 2]}\n" GEOM, AZS_ERR_UNSUPPORTED,
        "t.poni:3:", "binning");
    bad("poni_version: 2\n\nDetector: Frelon\n" GEOM, AZS_ERR_UNSUPPORTED, "t.poni:3:", "Frelon");
    bad("poni_version: 2\n" GEOM, AZS_ERR_PARSE, "t.poni", "Detector");
    bad("poni_version: 4\nDetector: Eiger4M\n" GEOM, AZS_ERR_UNSUPPORTED, "t.poni:1:", "version");
    bad("poni_version: 3\nDetector: Eiger4M\nDetector_config: {}\nParallax: True\n" GEOM, AZS_ERR_UNSUPPORTED,
        "t.poni:4:", "parallax");
    bad("SplineFile: /a/b.spline\n" GEOM, AZS_ERR_UNSUPPORTED, "t.poni:1:", "spline");
    bad("Distance: 0\nPoni1: 0.01\nPoni2: 0.02\nRot1: 0\nRot2: 0\nRot3: 0\n", AZS_ERR_PARSE, "t.poni:1:", NULL);
    {
        /* hostile lengths: a huge value, a long detector name, a huge file, a NUL byte */
        size_t n = 70000;
        char *t = malloc(n + 64);
        strcpy(t, "Detector: ");
        memset(t + 10, 'A', n);
        strcpy(t + 10 + n, "\n");
        bad(t, AZS_ERR_PARSE, "t.poni:1:", "limit");
        free(t);
        bad("Detector: AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n" GEOM,
            AZS_ERR_PARSE, "t.poni:1:", "longer");
        bad(GEOM "Distance: 1e-1000000000000000000000000000000000000000000000000000000000000000000000000\n",
            AZS_ERR_PARSE, "t.poni:7:", NULL);
        size_t big = (1u << 20) + 10;
        char *h = calloc(big, 1);
        memset(h, '#', big);
        CHECK(azs_poni_parse(h, big, "t.poni", &g) == AZS_ERR_PARSE && strstr(azs_last_error(), "too large"),
              "huge file\n");
        const char nul[] = "Distance: 0.1\0\nPoni1: 0\n";
        CHECK(azs_poni_parse(nul, sizeof nul - 1, "t.poni", &g) == AZS_ERR_PARSE &&
                  strstr(azs_last_error(), "t.poni:1:"),
              "NUL byte\n");
        free(h);
    }
    CHECK(azs_poni_load("/nonexistent/x.poni", &g) == AZS_ERR_NOT_FOUND &&
              strstr(azs_last_error(), "/nonexistent/x.poni"),
          "missing file\n");
    CHECK(azs_poni_parse(NULL, 0, "t", &g) != AZS_OK, "empty input\n");

    /* --- geometry API errors */
    CHECK(parse("PixelSize1: 1e-4\nPixelSize2: 1e-4\n" GEOM, &g) == AZS_OK, "setup\n");
    double out[4];
    CHECK(azs_geometry_radial(&g, AZS_UNIT_2TH_DEG, 0, out, 4) == AZS_ERR_INVALID_ARG &&
              strstr(azs_last_error(), "shape"),
          "no shape\n");
    g.det.ny = 2;
    g.det.nx = 2;
    CHECK(azs_geometry_radial(&g, AZS_UNIT_Q_NM, 0, out, 4) == AZS_ERR_INVALID_ARG &&
              strstr(azs_last_error(), "wavelength"),
          "q without wavelength\n");
    CHECK(azs_geometry_radial(&g, AZS_UNIT_2TH_DEG, 1, out, 4) == AZS_ERR_CAPACITY, "corners need 9\n");
    CHECK(azs_geometry_radial(&g, AZS_UNIT_2TH_DEG, 0, out, 4) == AZS_OK, "2x2 ok\n");
    CHECK(azs_geometry_polarization(&g, 1.5, 0, out, 4) == AZS_ERR_INVALID_ARG, "factor range\n");
    azs_unit u;
    CHECK(azs_unit_parse("q_nm^-1", &u) == AZS_OK && u == AZS_UNIT_Q_NM, "unit\n");
    CHECK(azs_unit_parse("chi_deg", &u) == AZS_ERR_INVALID_ARG, "bad unit\n");
    for (int k = 0; k <= AZS_UNIT_R_MM; k++)
        CHECK(azs_unit_parse(azs_unit_name((azs_unit)k), &u) == AZS_OK && (int)u == k, "unit round trip %d\n", k);
    uint8_t m[4];
    CHECK(azs_detector_mask(&g.det, m, 4) == AZS_OK && !m[0] && !m[3], "generic mask\n");
    CHECK(azs_detector_mask(&g.det, m, 3) == AZS_ERR_CAPACITY, "mask capacity\n");

    /* --- every real PONI loads (values: test_vs_pyfai.py) */
    if (argc > 1) {
        const char *files[] = {"real/poni/dioptas_CeO2_Pilatus1M.poni", "real/poni/dioptas_lambda_L2.poni",
                               "real/poni/maxiv_azint_bench_Eiger4M.poni", "real/poni/pyFAI_benchmark_Pilatus1M.poni",
                               "real/poni/pyFAI_cookbook_Eiger4M_alpha-Al2O3.poni",
                               "real/poni/ssrl_Pilatus300kw_LaB6.poni",
                               "real/ssrl_pilatus300k_LaB6/b_toney_lab6_th3_scan1_0008.poni"};
        for (size_t k = 0; k < sizeof files / sizeof files[0]; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[1], files[k]);
            CHECK(azs_poni_load(path, &g) == AZS_OK, "%s\n", path);
        }
    }
    printf("%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
