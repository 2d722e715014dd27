/* Helper for test_sink.py: writes sinks with values given by a formula, or loads an array.
 *   sink_tool write1d OUT.h5|OUT.dat NROWS   (row r, bin b: I = r*1000 + b + 0.25,
 *                                             sigma = 0.5*b; row 2 is a bad frame: NaN)
 *   sink_tool write2d OUT.h5 NROWS           (npt_azim 4, npt 6, I = r*1000 + a*10 + b)
 *   sink_tool load SPEC                      (prints "ny nx" then every value, %.9g) */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/arrays.h"
#include "azstream/sink.h"

int main(int argc, char **argv)
{
    if (argc >= 3 && !strcmp(argv[1], "load")) {
        float *a;
        uint32_t ny, nx;
        azs_status st = azs_array_load(argv[2], &a, &ny, &nx);
        if (st != AZS_OK) {
            fprintf(stderr, "%s: %s\n", azs_status_str(st), azs_last_error());
            return 1;
        }
        printf("%u %u\n", ny, nx);
        for (size_t i = 0; i < (size_t)ny * nx; i++)
            printf("%.9g\n", a[i]);
        free(a);
        return 0;
    }
    if (argc < 4)
        return 2;
    int two = !strcmp(argv[1], "write2d");
    int nrows = atoi(argv[3]);
    uint32_t npt = two ? 6 : 50, nazim = two ? 4 : 0;
    double radial[50], azim[4];
    for (uint32_t b = 0; b < npt; b++)
        radial[b] = 0.1 * (b + 0.5);
    for (uint32_t a = 0; a < 4; a++)
        azim[a] = -135.0 + 90.0 * a;
    azs_sink_config c = {0};
    c.npt = npt;
    c.npt_azim = nazim;
    c.radial = radial;
    c.azimuthal = two ? azim : NULL;
    c.unit = "q_nm^-1";
    c.with_errors = !two;
    c.frames_hint = (uint64_t)nrows;
    c.version = "test";
    c.config_json = "{\"npt\": 50}";
    azs_sink *s;
    azs_status st = azs_sink_open(argv[2], &c, &s);
    if (st != AZS_OK) {
        fprintf(stderr, "%s: %s\n", azs_status_str(st), azs_last_error());
        return 1;
    }
    size_t n = (size_t)npt * (nazim ? nazim : 1);
    double *I = malloc(n * sizeof(double)), *S = malloc(n * sizeof(double));
    azs_sink_ops ops = azs_sink_as_ops(s);
    for (int r = 0; r < nrows; r++) {
        azs_status fs = (!two && r == 2) ? AZS_ERR_CORRUPT : AZS_OK;
        for (size_t i = 0; i < n; i++) {
            I[i] = fs ? NAN : r * 1000.0 + (two ? (double)(i / npt) * 10 + (double)(i % npt) : i + 0.25);
            S[i] = fs ? NAN : 0.5 * (double)i;
        }
        st = ops.write(ops.ctx, (uint64_t)(100 + r), I, two ? NULL : S, fs);
        if (st != AZS_OK) {
            fprintf(stderr, "write: %s\n", azs_last_error());
            return 1;
        }
    }
    free(I);
    free(S);
    st = azs_sink_close(s);
    return st == AZS_OK ? 0 : 1;
}
