/* azstream synth -o OUT.h5 --poni GEOM.poni --frames N [--detector NAME] [--seed S]:
 * a synthetic Eiger-like stack of LaB6 powder rings for that geometry (tools/synth/synth.h). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/geometry.h"
#include "cli.h"
#include "common/clock.h"
#include "synth/synth.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: azstream synth -o OUT.h5 --poni GEOM.poni --frames N [--detector NAME]\n"
            "                      [--seed S] [--peak COUNTS]\n"
            "  Writes /entry/data/data (N, ny, nx) uint32, one frame per chunk, bitshuffle-LZ4\n"
            "  (filter 32008, cd_values 0,2,4,0,2): LaB6 powder rings for the PONI geometry\n"
            "  (the detector of the PONI file, or NAME), Gaussian ring profiles, a smooth\n"
            "  background, Poisson noise, module gaps set to 0xFFFFFFFF. Same seed, same file.\n"
            "  Speed: 4 base frames are fully Poisson-sampled; each frame is a base frame with\n"
            "  one pixel in 16 redrawn, so frames differ but share most of their noise.\n");
}

int cmd_synth(int argc, char **argv)
{
    const char *out = NULL, *poni = NULL, *det = NULL;
    int64_t nframes = -1, seed = 1;
    double peak = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        if (a[0] != '-' || !a[1])
            return cli_usage_error("synth", "unexpected argument '%s'", a);
        if (i + 1 >= argc)
            return cli_usage_error("synth", "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = v;
        else if (!strcmp(a, "--poni"))
            poni = v;
        else if (!strcmp(a, "--detector"))
            det = v;
        else if (!strcmp(a, "--frames")) {
            if (cli_parse_i64(v, &nframes) || nframes <= 0)
                return cli_usage_error("synth", "--frames '%s' is not a positive integer", v);
        } else if (!strcmp(a, "--seed")) {
            if (cli_parse_i64(v, &seed) || seed < 0)
                return cli_usage_error("synth", "--seed '%s' is not a non-negative integer", v);
        } else if (!strcmp(a, "--peak")) {
            if (cli_parse_f64(v, &peak) || !(peak > 0))
                return cli_usage_error("synth", "--peak '%s' is not a positive number", v);
        } else
            return cli_usage_error("synth", "unknown option '%s'", a);
    }
    if (!out)
        return cli_usage_error("synth", "missing -o OUT.h5");
    if (!poni)
        return cli_usage_error("synth", "missing --poni GEOM.poni");
    if (nframes < 0)
        return cli_usage_error("synth", "missing --frames N");

    azs_geometry g;
    azs_status s = azs_poni_load(poni, &g);
    if (s)
        return cli_report("synth", s, poni);
    if (det) {
        s = azs_detector_by_name(det, &g.det);
        if (s)
            return cli_report("synth", s, "--detector");
    }
    if (g.det.ny == 0 || g.det.nx == 0) {
        fprintf(stderr, "azstream synth: the detector of '%s' has no shape: give --detector NAME\n",
                poni);
        return CLI_FAIL;
    }
    if (!(g.wavelength > 0)) {
        fprintf(stderr, "azstream synth: '%s' has no wavelength (needed for the ring positions)\n",
                poni);
        return CLI_FAIL;
    }
    size_t n = (size_t)g.det.ny * g.det.nx;
    double *tth = malloc(n * sizeof *tth);
    uint8_t *mask = malloc(n);
    int rc = CLI_OK;
    if (!tth || !mask) {
        fprintf(stderr, "azstream synth: out of memory for %zu pixels\n", n);
        rc = CLI_FAIL;
        goto out;
    }
    if ((s = azs_geometry_radial(&g, AZS_UNIT_2TH_RAD, 0, tth, n)) != AZS_OK ||
        (s = azs_detector_mask(&g.det, mask, n)) != AZS_OK) {
        rc = cli_report("synth", s, "geometry");
        goto out;
    }
    azs_synth_params p = {.ny = g.det.ny, .nx = g.det.nx, .nframes = (uint64_t)nframes,
                          .seed = (uint64_t)seed, .tth = tth, .mask = mask,
                          .wavelength = g.wavelength, .peak_counts = peak};
    double t0 = azs_now_seconds();
    s = azs_synth_write(out, &p);
    double t1 = azs_now_seconds();
    if (s) {
        rc = cli_report("synth", s, out);
        remove(out);
        goto out;
    }
    double dt = t1 - t0;
    fprintf(stderr, "azstream synth: %s: %" PRId64 " frames of %u x %u (%s) in %.2f s\n", out,
            nframes, g.det.ny, g.det.nx, g.det.name, dt);
out:
    free(tth);
    free(mask);
    return rc;
}
