/* azs_integrate_frames (many in-memory frames on threads):
 *  - decoded frames, bitshuffle-LZ4 chunks and LZ4 chunks, on 1, 2, 3 threads, 0 (one per
 *    core) and more threads than frames: every frame's every output equals
 *    azs_integrate_frame's bit for bit (error models none, poisson and azimuthal);
 *  - a truncated chunk, a corrupt one and a NULL frame among good ones: each gets its own
 *    status, the good frames their results, the call the lowest failed frame's status with
 *    a detail naming it ("frame 2 of 9");
 *  - bad arguments (thread counts, codec, chunks without sizes) are INVALID_ARG; n = 0 is OK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/integrate.h"

#define CHECK_CONTEXT() fprintf(stderr, " [%s]", azs_last_error())
#include "../common/check.h"

#define NY 173
#define NX 157
#define NPIX (NY * NX)
#define NF 9
enum { OUTS = 4 };

static void result_of(azs_frame_result *r, double *buf, size_t nb)
{
    memset(r, 0, sizeof *r);
    r->intensity = buf;
    r->sigma = buf + nb;
    r->count = buf + 2 * nb;
    r->sum_signal = buf + 3 * nb;
}

static void run_model(azs_error_model model)
{
    azs_geometry g;
    memset(&g, 0, sizeof g);
    azs_detector_generic(&g.det, 1e-4, 1e-4, NY, NX);
    g.dist = 0.05;
    g.poni1 = 60 * 1e-4;
    g.poni2 = 70 * 1e-4;
    g.wavelength = 1e-10;
    azs_integrate_options o;
    azs_integrate_options_default(&o);
    o.npt = 90;
    o.error_model = model;
    azs_integrator *it = NULL;
    CHECK(azs_integrator_create(&g, &o, &it) == AZS_OK, "create");
    if (!it) return;
    const size_t nb = azs_integrator_nbins(it);

    static uint16_t frames[NF][NPIX];
    for (int f = 0; f < NF; f++)
        for (int p = 0; p < NPIX; p++) frames[f][p] = (uint16_t)((p * (f + 3) + f * 17) % 1000);

    /* The reference: one frame at a time. */
    double *ref = calloc((size_t)NF * OUTS * nb, sizeof(double));
    azs_workspace *ws = NULL;
    CHECK(azs_workspace_create(it, &ws) == AZS_OK, "workspace");
    for (int f = 0; f < NF; f++) {
        azs_frame_result r;
        result_of(&r, ref + (size_t)f * OUTS * nb, nb);
        CHECK(azs_integrate_frame(it, ws, frames[f], AZS_U16, &r) == AZS_OK, "frame %d", f);
    }

    /* The chunks of each codec. */
    const azs_codec codecs[3] = {AZS_CODEC_NONE, AZS_CODEC_BSLZ4, AZS_CODEC_LZ4};
    static unsigned char chunks[2][NF][NPIX * 2 + 4096];
    size_t sizes[2][NF];
    for (int c = 0; c < 2; c++)
        for (int f = 0; f < NF; f++)
            CHECK(azs_chunk_encode(codecs[c + 1], 2, 0, frames[f], NPIX * 2, chunks[c][f],
                                   sizeof chunks[c][f], &sizes[c][f]) == AZS_OK, "encode");

    double *got = malloc((size_t)NF * OUTS * nb * sizeof(double));
    azs_frame_result out[NF];
    for (int f = 0; f < NF; f++) result_of(&out[f], got + (size_t)f * OUTS * nb, nb);
    const int threads[5] = {1, 2, 3, 0, 32};
    for (int c = 0; c < 3; c++) {
        const void *ptrs[NF];
        for (int f = 0; f < NF; f++) ptrs[f] = c == 0 ? (const void *)frames[f] : chunks[c - 1][f];
        for (int k = 0; k < 5; k++) {
            azs_status st[NF];
            memset(got, 0xff, (size_t)NF * OUTS * nb * sizeof(double));
            CHECK(azs_integrate_frames(it, threads[k], codecs[c], AZS_U16, NF, ptrs,
                                       c == 0 ? NULL : sizes[c - 1], out, st) == AZS_OK,
                  "codec %d threads %d", (int)codecs[c], threads[k]);
            for (int f = 0; f < NF; f++) CHECK(st[f] == AZS_OK, "frame %d status %d", f, st[f]);
            CHECK(memcmp(got, ref, (size_t)NF * OUTS * nb * sizeof(double)) == 0,
                  "codec %d, %d threads: results differ from azs_integrate_frame's",
                  (int)codecs[c], threads[k]);
        }
    }

    /* Bad frames among good ones: frame 2 truncated, 5 corrupt (a block length), 7 NULL. */
    {
        static unsigned char bad[NF][NPIX * 2 + 4096];
        const void *ptrs[NF];
        size_t bsizes[NF];
        for (int f = 0; f < NF; f++) {
            memcpy(bad[f], chunks[0][f], sizes[0][f]);
            bsizes[f] = sizes[0][f];
            ptrs[f] = bad[f];
        }
        bsizes[2] = sizes[0][2] / 2;
        bad[5][12] = 0xff; /* the first block's length, past the end of the chunk */
        ptrs[7] = NULL;
        azs_status st[NF];
        memset(got, 0, (size_t)NF * OUTS * nb * sizeof(double));
        const azs_status rc = azs_integrate_frames(it, 3, AZS_CODEC_BSLZ4, AZS_U16, NF, ptrs, bsizes, out, st);
        CHECK(rc == AZS_ERR_TRUNCATED, "returned %s", azs_status_str(rc));
        CHECK(strncmp(azs_last_error(), "frame 2 of 9: ", 14) == 0, "detail");
        CHECK(st[2] == AZS_ERR_TRUNCATED, "frame 2: %s", azs_status_str(st[2]));
        CHECK(st[5] == AZS_ERR_CORRUPT || st[5] == AZS_ERR_TRUNCATED, "frame 5: %s", azs_status_str(st[5]));
        CHECK(st[7] == AZS_ERR_INVALID_ARG, "frame 7: %s", azs_status_str(st[7]));
        for (int f = 0; f < NF; f++) {
            if (f == 2 || f == 5 || f == 7) continue;
            CHECK(st[f] == AZS_OK, "frame %d: %s", f, azs_status_str(st[f]));
            CHECK(memcmp(got + (size_t)f * OUTS * nb, ref + (size_t)f * OUTS * nb,
                         OUTS * nb * sizeof(double)) == 0, "frame %d's result", f);
        }
    }

    /* Arguments. */
    const void *one[1] = {frames[0]};
    CHECK(azs_integrate_frames(it, -1, AZS_CODEC_NONE, AZS_U16, 1, one, NULL, out, NULL) == AZS_ERR_INVALID_ARG, "-1");
    CHECK(azs_integrate_frames(it, 257, AZS_CODEC_NONE, AZS_U16, 1, one, NULL, out, NULL) == AZS_ERR_INVALID_ARG, "257");
    CHECK(azs_integrate_frames(it, 1, (azs_codec)7, AZS_U16, 1, one, NULL, out, NULL) == AZS_ERR_INVALID_ARG, "codec");
    CHECK(azs_integrate_frames(it, 1, AZS_CODEC_LZ4, AZS_U16, 1, one, NULL, out, NULL) == AZS_ERR_INVALID_ARG, "sizes");
    CHECK(azs_integrate_frames(it, 1, AZS_CODEC_NONE, AZS_DTYPE_INVALID, 1, one, NULL, out, NULL) != AZS_OK, "dtype");
    CHECK(azs_integrate_frames(it, 2, AZS_CODEC_NONE, AZS_U16, 0, NULL, NULL, NULL, NULL) == AZS_OK, "n = 0");

    free(got);
    free(ref);
    azs_workspace_destroy(ws);
    azs_integrator_destroy(it);
}

int main(void)
{
    run_model(AZS_ERRMODEL_NONE);
    run_model(AZS_ERRMODEL_POISSON);
    run_model(AZS_ERRMODEL_AZIMUTHAL);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
