/* Integrate frames held in memory with libazstream: the geometry from a PONI file, the
 * options by name as on the command line, then the three in-memory entry points:
 *   one decoded frame          azs_integrate_frame
 *   one compressed chunk       azs_integrate_chunk (bitshuffle-LZ4, as an Eiger writes it)
 *   many frames on threads     azs_integrate_frames
 * They give the same profile bit for bit; this program checks it, and checks the profile of
 * a flat frame (every pixel 1000, no solid-angle correction): 1000 in every bin.
 *
 *     cc integrate_frame.c $(pkg-config --cflags --libs azstream) -o integrate_frame
 *     ./integrate_frame geometry.poni
 */
#include <azstream/azstream.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NFRAMES 4
#define NPT 500

static int fail(const char *what, azs_status st)
{
    fprintf(stderr, "integrate_frame: %s: %s: %s\n", what, azs_status_str(st), azs_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s GEOMETRY.poni\n", argv[0]);
        return 2;
    }
    printf("azstream %s (headers %s)\n", azs_version(), AZS_VERSION_STRING);

    /* The frame shape comes from the PONI's detector. */
    azs_geometry g;
    azs_status st = azs_poni_load(argv[1], &g);
    if (st != AZS_OK) return fail("PONI", st);
    const uint32_t ny = g.det.ny, nx = g.det.nx;
    const size_t npix = (size_t)ny * nx;

    azs_settings *s = NULL;
    azs_integrator *it = NULL;
    if ((st = azs_settings_create(&s)) != AZS_OK) return fail("settings", st);
    if ((st = azs_settings_set(s, "poni", argv[1])) != AZS_OK ||
        (st = azs_settings_set(s, "npt", "500")) != AZS_OK ||
        (st = azs_settings_set(s, "unit", "2th_deg")) != AZS_OK ||
        (st = azs_settings_set(s, "no-solid-angle", NULL)) != AZS_OK)
        return fail("option", st);
    if ((st = azs_settings_build(s, ny, nx, AZS_U32, &it)) != AZS_OK) return fail("build", st);
    printf("%s: %u x %u pixels, %zu bins, kernel %s\n", g.det.name, ny, nx,
           azs_integrator_nbins(it), azs_integrator_kernel(it));

    /* NFRAMES frames: every pixel 1000 in frame 0, other values in the others. */
    uint32_t *frames[NFRAMES];
    for (int f = 0; f < NFRAMES; f++) {
        frames[f] = malloc(npix * sizeof(uint32_t));
        if (!frames[f]) return fail("frames", AZS_ERR_NOMEM);
        for (size_t p = 0; p < npix; p++) frames[f][p] = f == 0 ? 1000u : (uint32_t)((p * 7 + f) % 5000);
    }

    /* One frame. */
    static double one[NFRAMES][NPT];
    azs_workspace *ws = NULL;
    if ((st = azs_workspace_create(it, &ws)) != AZS_OK) return fail("workspace", st);
    for (int f = 0; f < NFRAMES; f++) {
        azs_frame_result r = {.intensity = one[f]};
        if ((st = azs_integrate_frame(it, ws, frames[f], AZS_U32, &r)) != AZS_OK) return fail("frame", st);
    }

    /* The same frame as a compressed chunk. */
    size_t cap = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, npix * 4, 4, 0), csize = 0;
    void *chunk = malloc(cap), *frame_buf = malloc(npix * 4);
    static double from_chunk[NPT];
    if (!chunk || !frame_buf) return fail("chunk", AZS_ERR_NOMEM);
    if ((st = azs_chunk_encode(AZS_CODEC_BSLZ4, 4, 0, frames[1], npix * 4, chunk, cap, &csize)) != AZS_OK)
        return fail("encode", st);
    azs_frame_result rc = {.intensity = from_chunk};
    if ((st = azs_integrate_chunk(it, ws, AZS_CODEC_BSLZ4, AZS_U32, chunk, csize, frame_buf, &rc)) != AZS_OK)
        return fail("chunk", st);

    /* Every frame at once, on two threads. */
    static double many[NFRAMES][NPT];
    azs_frame_result rm[NFRAMES];
    const void *ptrs[NFRAMES];
    for (int f = 0; f < NFRAMES; f++) {
        memset(&rm[f], 0, sizeof rm[f]);
        rm[f].intensity = many[f];
        ptrs[f] = frames[f];
    }
    if ((st = azs_integrate_frames(it, 2, AZS_CODEC_NONE, AZS_U32, NFRAMES, ptrs, NULL, rm, NULL)) != AZS_OK)
        return fail("frames", st);

    const double *tth = azs_integrator_radial(it);
    int bad = 0, filled = 0;
    for (int b = 0; b < NPT; b++) {
        /* An empty bin (beyond the detector's corners, or masked) gives 0. */
        if (one[0][b] != 0.0) {
            filled++;
            if (fabs(one[0][b] - 1000.0) > 1e-9 * 1000.0) bad++;
        }
    }
    if (memcmp(from_chunk, one[1], sizeof from_chunk) != 0) {
        fprintf(stderr, "integrate_frame: the chunk's profile differs from its frame's\n");
        bad++;
    }
    if (memcmp(many, one, sizeof one) != 0) {
        fprintf(stderr, "integrate_frame: the threaded profiles differ from the single ones\n");
        bad++;
    }
    printf("2th %.3f..%.3f deg; flat frame: %d of %d bins at 1000; frame 1 bin 100: %.6g\n",
           tth[0], tth[NPT - 1], filled - bad, filled, one[1][100]);

    for (int f = 0; f < NFRAMES; f++) free(frames[f]);
    free(chunk);
    free(frame_buf);
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
    azs_settings_destroy(s);
    if (bad || filled == 0) {
        fprintf(stderr, "integrate_frame: %d checks failed\n", bad);
        return 1;
    }
    printf("ok\n");
    return 0;
}
