/* Concurrency of the source: several threads reading raw chunks (pread path, no lock) and
 * decoded frames (pread path, and the tile path that takes the HDF5 lock) at once must
 * give what one thread reads. The tiled file is written here from a known array, so the
 * tile assembly is checked against that array. argv[1] = data dir, argv[2] = work dir. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/source.h"

enum { NT = 4, F = 6, NY = 70, NX = 90, CY = 32, CX = 40 };

static azs_source *g_src;
static unsigned char **g_ref; /* per frame: raw (pread file) or pixels (tiled file) */
static size_t *g_refn;
static int g_raw;
static int g_bad;
static uint64_t g_nframes; /* the frames with data, read by the threads */

static void *worker(void *arg)
{
    const azs_source_info *in = azs_source_get_info(g_src);
    size_t cap = g_raw ? in->max_chunk_bytes : in->frame_bytes;
    unsigned char *buf = malloc(cap);
    for (int rep = 0; rep < 20; rep++) {
        for (uint64_t i = 0; i < g_nframes; i++) {
            uint64_t f = (i + (uint64_t)(size_t)arg * 7) % g_nframes;
            size_t n = in->frame_bytes;
            azs_status s = g_raw ? azs_source_read_raw(g_src, f, buf, cap, &n)
                                 : azs_source_read_frame(g_src, f, buf, cap);
            if (s || n != g_refn[f] || memcmp(buf, g_ref[f], n)) {
                __atomic_add_fetch(&g_bad, 1, __ATOMIC_RELAXED);
                break;
            }
        }
    }
    free(buf);
    return NULL;
}

static int run_threads(void)
{
    pthread_t t[NT];
    g_bad = 0;
    for (size_t i = 0; i < NT; i++)
        pthread_create(&t[i], NULL, worker, (void *)i);
    for (size_t i = 0; i < NT; i++)
        pthread_join(t[i], NULL);
    return g_bad;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    int fails = 0;
    char path[4096];
    /* 1. raw chunks of a real master (3 data files), serial reference then 4 threads */
    snprintf(path, sizeof path, "%s/real/dectris/dataset_artificial_large_001/test_master.h5",
             argv[1]);
    /* 1000 links, 3 data files here: the 997 missing ones are frames without data */
    azs_source_options so = {1};
    if (azs_source_open_opts(path, NULL, &so, &g_src)) {
        fprintf(stderr, "open %s: %s\n", path, azs_last_error());
        return 1;
    }
    const azs_source_info *in = azs_source_get_info(g_src);
    g_nframes = in->nframes - in->frames_missing; /* the missing files are the tail */
    if (g_nframes != 15 || in->nparts_missing != 997) {
        fprintf(stderr, "master: %llu frames with data, %zu missing files\n",
                (unsigned long long)g_nframes, in->nparts_missing);
        fails++;
    }
    size_t got_missing = 0;
    unsigned char one[16];
    if (azs_source_read_raw(g_src, g_nframes, one, sizeof one, &got_missing) != AZS_ERR_MISSING ||
        !strstr(azs_last_error(), "test_data_000004.h5")) {
        fprintf(stderr, "frame %llu: not reported missing: %s\n", (unsigned long long)g_nframes,
                azs_last_error());
        fails++;
    }
    g_ref = calloc(g_nframes, sizeof *g_ref);
    g_refn = calloc(g_nframes, sizeof *g_refn);
    for (uint64_t i = 0; i < g_nframes; i++) {
        g_ref[i] = malloc(in->max_chunk_bytes);
        if (azs_source_read_raw(g_src, i, g_ref[i], in->max_chunk_bytes, &g_refn[i]))
            fails++;
    }
    g_raw = 1;
    if (run_threads()) {
        fprintf(stderr, "concurrent raw reads differ\n");
        fails++;
    }
    for (uint64_t i = 0; i < g_nframes; i++)
        free(g_ref[i]);
    free(g_ref);
    free(g_refn);
    azs_source_close(g_src);

    /* 2. a tiled bitshuffle-LZ4 stack written here: frames assembled from tiles */
    static uint32_t px[F][NY][NX];
    for (int f = 0; f < F; f++)
        for (int y = 0; y < NY; y++)
            for (int x = 0; x < NX; x++)
                px[f][y][x] = (uint32_t)(f * 1000003u + (unsigned)y * 977u + (unsigned)x * 31u) % 5000u;
    snprintf(path, sizeof path, "%s/tiled_threads.h5", argv[2]);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fid = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {F, NY, NX}, ch[3] = {1, CY, CX};
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    unsigned cd[5] = {0, 2, 4, 0, 2};
    H5Pset_chunk(dcpl, 3, ch);
    H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
    hid_t did = H5Dcreate2(fid, "data", H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    static uint32_t tile[CY * CX];
    size_t bound = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, sizeof tile, 4, 0);
    unsigned char *enc = malloc(bound);
    for (int f = 0; f < F; f++)
        for (int y0 = 0; y0 < NY; y0 += CY)
            for (int x0 = 0; x0 < NX; x0 += CX) {
                memset(tile, 0, sizeof tile); /* edge tiles padded, as HDF5 stores them */
                for (int y = 0; y < CY && y0 + y < NY; y++)
                    for (int x = 0; x < CX && x0 + x < NX; x++)
                        tile[y * CX + x] = px[f][y0 + y][x0 + x];
                size_t n = 0;
                hsize_t off[3] = {(hsize_t)f, (hsize_t)y0, (hsize_t)x0};
                if (azs_chunk_encode(AZS_CODEC_BSLZ4, 4, 0, tile, sizeof tile, enc, bound, &n) ||
                    H5Dwrite_chunk(did, H5P_DEFAULT, 0, off, n, enc) < 0)
                    fails++;
            }
    free(enc);
    H5Dclose(did);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(fid);
    if (azs_source_open(path, "/data", &g_src)) {
        fprintf(stderr, "open %s: %s\n", path, azs_last_error());
        return 1;
    }
    in = azs_source_get_info(g_src);
    if (in->read_path != AZS_READ_FILTERED || in->nframes != F) {
        fprintf(stderr, "tiled: read path %d, %llu frames\n", (int)in->read_path,
                (unsigned long long)in->nframes);
        fails++;
    }
    g_nframes = F;
    g_ref = calloc(F, sizeof *g_ref);
    g_refn = calloc(F, sizeof *g_refn);
    for (int f = 0; f < F; f++) {
        g_ref[f] = (unsigned char *)px[f];
        g_refn[f] = sizeof px[f];
    }
    g_raw = 0;
    if (run_threads()) {
        fprintf(stderr, "tiled frames differ from the array written: %s\n", azs_last_error());
        fails++;
    }
    free(g_ref);
    free(g_refn);
    azs_source_close(g_src);
    if (fails)
        fprintf(stderr, "%d failure(s)\n", fails);
    return fails ? 1 : 0;
}
