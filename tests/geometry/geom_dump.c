/* Test driver: exposes the geometry API to the reference script (test_vs_pyfai.py), which
 * compares every array with pyFAI's. Not a product; prints, exits.
 *   geom_dump det NAME                      -> one line: name|ny|nx|pixel1|pixel2|orientation
 *   geom_dump mask NAME OUT                 -> ny*nx bytes
 *   geom_dump poni FILE                     -> one line of parsed values (%.17g)
 *   geom_dump arr FILE OUTDIR [--shape NY NX] WHAT...  WHAT = center:UNIT | corner:UNIT |
 *            chi:center | chi:corner | solid | pol:FACTOR:OFFSET  -> OUTDIR/WHAT.f64
 *   geom_dump time FILE                     -> seconds for centres + corners (radial + chi) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/geometry.h"

static int die(azs_status st)
{
    fprintf(stderr, "error: %s: %s\n", azs_status_str(st), azs_last_error());
    return 2;
}

static int write_file(const char *dir, const char *what, const void *p, size_t bytes)
{
    char path[4096], name[256];
    snprintf(name, sizeof name, "%s", what);
    for (char *c = name; *c; c++)
        if (*c == '/' || *c == ':' || *c == '^') *c = '_';
    snprintf(path, sizeof path, "%s/%s.bin", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes) { perror(path); return 1; }
    fclose(f);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: see source\n"); return 1; }
    azs_status st;
    if (!strcmp(argv[1], "det")) {
        azs_detector d;
        if ((st = azs_detector_by_name(argv[2], &d)) != AZS_OK) return die(st);
        printf("%s|%u|%u|%.17g|%.17g|%d\n", d.name, d.ny, d.nx, d.pixel1, d.pixel2, d.orientation);
        return 0;
    }
    if (!strcmp(argv[1], "mask") && argc == 4) {
        azs_detector d;
        if ((st = azs_detector_by_name(argv[2], &d)) != AZS_OK) return die(st);
        size_t n = (size_t)d.ny * d.nx;
        uint8_t *m = malloc(n);
        if ((st = azs_detector_mask(&d, m, n)) != AZS_OK) return die(st);
        FILE *f = fopen(argv[3], "wb");
        if (!f || fwrite(m, 1, n, f) != n) return 1;
        fclose(f);
        free(m);
        return 0;
    }
    azs_geometry g;
    if ((st = azs_poni_load(argv[2], &g)) != AZS_OK) return die(st);
    if (!strcmp(argv[1], "poni")) {
        printf("%s|%u|%u|%.17g|%.17g|%d|%.17g|%.17g|%.17g|%.17g|%.17g|%.17g|%.17g|%.17g\n",
               g.det.name, g.det.ny, g.det.nx, g.det.pixel1, g.det.pixel2, g.det.orientation,
               g.dist, g.poni1, g.poni2, g.rot1, g.rot2, g.rot3, g.wavelength, g.poni_version);
        return 0;
    }
    if (!strcmp(argv[1], "time")) {
        /* wall and CPU seconds of each call on this detector (a measurement, not a test) */
        size_t nc = (size_t)g.det.ny * g.det.nx, nk = (size_t)(g.det.ny + 1) * (g.det.nx + 1);
        double *a = malloc(nk * sizeof *a), *b = malloc(nk * sizeof *b);
        memset(a, 0, nk * sizeof *a); /* fault the pages in before timing */
        memset(b, 0, nk * sizeof *b);
        const char *units[] = {"q_nm^-1", "2th_deg", "r_mm"};
        double total = 0;
        for (int c = 0; c < 2; c++)
            for (int k = -1; k < 3; k++) {
                azs_unit u = AZS_UNIT_Q_NM;
                if (k >= 0) azs_unit_parse(units[k], &u);
                struct timespec t0, t1;
                clock_t c0 = clock();
                clock_gettime(CLOCK_MONOTONIC, &t0);
                st = azs_geometry_positions(&g, u, c, k >= 0 ? a : NULL, k < 0 ? b : NULL, c ? nk : nc);
                clock_gettime(CLOCK_MONOTONIC, &t1);
                if (st != AZS_OK) return die(st);
                double w = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
                if (k <= 0) total += w;
                printf("%ux%u %s %-8s wall %.3f s  cpu %.3f s\n", g.det.ny, g.det.nx,
                       c ? "corners" : "centres", k < 0 ? "chi" : units[k], w,
                       (double)(clock() - c0) / CLOCKS_PER_SEC);
            }
        printf("centres + corners, q + chi: %.3f s wall\n", total);
        free(a);
        free(b);
        return 0;
    }
    if (strcmp(argv[1], "arr") || argc < 5) { fprintf(stderr, "bad command\n"); return 1; }
    int k = 4;
    if (!strcmp(argv[k], "--shape") && argc > k + 2) {
        g.det.ny = (uint32_t)atoi(argv[k + 1]);
        g.det.nx = (uint32_t)atoi(argv[k + 2]);
        k += 3;
    }
    size_t nk = (size_t)(g.det.ny + 1) * (g.det.nx + 1), nc = (size_t)g.det.ny * g.det.nx;
    double *buf = malloc(nk * sizeof *buf);
    for (; k < argc; k++) {
        const char *w = argv[k];
        size_t n = nc;
        if (!strncmp(w, "center:", 7) || !strncmp(w, "corner:", 7)) {
            azs_unit u;
            int corners = w[1] == 'o';
            if ((st = azs_unit_parse(w + 7, &u)) != AZS_OK) return die(st);
            n = corners ? nk : nc;
            st = azs_geometry_radial(&g, u, corners, buf, n);
        } else if (!strncmp(w, "chi:corner:", 11)) { /* χ of the corners as UNIT computes them */
            azs_unit u;
            if ((st = azs_unit_parse(w + 11, &u)) != AZS_OK) return die(st);
            n = nk;
            st = azs_geometry_positions(&g, u, 1, NULL, buf, n);
        } else if (!strcmp(w, "chi:center")) {
            st = azs_geometry_chi(&g, 0, buf, n);
        } else if (!strcmp(w, "chi:corner")) {
            n = nk;
            st = azs_geometry_chi(&g, 1, buf, n);
        } else if (!strcmp(w, "solid")) {
            st = azs_geometry_solid_angle(&g, buf, n);
        } else if (!strncmp(w, "pol:", 4)) {
            char *end;
            double f = strtod(w + 4, &end);
            double off = strtod(end + 1, NULL);
            st = azs_geometry_polarization(&g, f, off, buf, n);
        } else {
            fprintf(stderr, "unknown array %s\n", w);
            return 1;
        }
        if (st != AZS_OK) return die(st);
        if (write_file(argv[3], w, buf, n * sizeof *buf)) return 1;
    }
    free(buf);
    return 0;
}
