/* Error paths of the HDF5 source: every failure gives a non-zero status and a message that
 * names the file / dataset / filter at fault. Run under ASan too (no leak, no overread).
 * argv[1] = test data dir (tests/data), argv[2] = scratch dir (the build dir). */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/source.h"
#include "../common/check.h"
#include "../common/slurp.h"

static char data[2048], work[2048];

/* Opening must fail with status `want` and a message containing every needle. */
static void expect_open_fail(const char *what, const char *file, const char *dset, azs_status want,
                             const char *n1, const char *n2)
{
    azs_source *src = (azs_source *)1;
    azs_status s = azs_source_open(file, dset, &src);
    const char *msg = azs_last_error();
    printf("%-28s -> %s: %s\n", what, azs_status_str(s), msg);
    if (s != want) {
        fprintf(stderr, "  %s: status %s, expected %s\n", what, azs_status_str(s),
                azs_status_str(want));
        failures++;
    }
    if (s == AZS_OK)
        azs_source_close(src);
    else
        CHECK_EXPR(src == NULL);
    if (n1 && !strstr(msg, n1)) {
        fprintf(stderr, "  %s: message lacks '%s'\n", what, n1);
        failures++;
    }
    if (n2 && !strstr(msg, n2)) {
        fprintf(stderr, "  %s: message lacks '%s'\n", what, n2);
        failures++;
    }
}

static char *path_in(const char *dir, const char *name)
{
    static char buf[8][4096];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}


static int spill(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(b, 1, n, f);
    fclose(f);
    return w == n ? 0 : -1;
}

/* A 3-D dataset whose one chunk is written raw with the given (unavailable) filter. */
static void make_filtered(const char *file, H5Z_filter_t id, size_t ncd, const unsigned *cd)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {1, 4, 4};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, dims);
    H5Pset_filter(dcpl, id, H5Z_FLAG_OPTIONAL, ncd, cd);
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK_EXPR(d >= 0);
    unsigned short px[16] = {0};
    hsize_t off[3] = {0, 0, 0};
    if (d >= 0) {
        H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, sizeof px, px);
        H5Dclose(d);
    }
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
}

static void make_master(const char *file, const char *target_dir)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    char t1[4096], t3[4096];
    snprintf(t1, sizeof t1, "%s/eiger2_simread7_2datafiles_4images_bslz4_data_000001.h5", target_dir);
    snprintf(t3, sizeof t3, "%s/eiger2_simread7_2datafiles_4images_bslz4_data_000002.h5", target_dir);
    H5Lcreate_external(t1, "/entry/data/data", f, "/entry/data/data_000001", lcpl, H5P_DEFAULT);
    H5Lcreate_external("no_such_data_000002.h5", "/entry/data/data", f, "/entry/data/data_000002",
                       lcpl, H5P_DEFAULT);
    H5Lcreate_external(t3, "/entry/data/data", f, "/entry/data/data_000003", lcpl, H5P_DEFAULT);
    H5Pclose(lcpl);
    H5Fclose(f);
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: test_source_errors DATA_DIR WORK_DIR\n");
        return 2;
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    snprintf(data, sizeof data, "%s/real", argv[1]);
    snprintf(work, sizeof work, "%s", argv[2]);
    const char *eiger = path_in(data, "eiger4m_real_frame_bslz4.h5");

    expect_open_fail("missing file", path_in(work, "does_not_exist.h5"), NULL, AZS_ERR_NOT_FOUND,
                     "does_not_exist.h5", NULL);
    expect_open_fail("missing dataset", eiger, "/entry/data/nope", AZS_ERR_NOT_FOUND,
                     "/entry/data/nope", "eiger4m_real_frame_bslz4.h5");
    expect_open_fail("missing group", eiger, "/nope/data", AZS_ERR_NOT_FOUND, "/nope", NULL);
    expect_open_fail("wrong rank (1-D)", path_in(data, "bitshuffle/bitshuffle_regression_0.4.0.h5"),
                     "/compressed/a4_a", AZS_ERR_FORMAT, "/compressed/a4_a", "1 dimension");
    expect_open_fail("not a dataset", eiger, "/entry", AZS_ERR_NOT_FOUND, "data_NNNNNN", NULL);
    expect_open_fail("VDS missing source", path_in(data, "diamond_vds_master/Therm_6_2.nxs"), NULL,
                     AZS_ERR_NOT_FOUND, "Therm_6_2_000001.h5", "/entry/data/data");

    /* not HDF5 at all */
    const char *txt = path_in(work, "not_hdf5.h5");
    CHECK_EXPR(spill(txt, "hello, not an HDF5 file\n", 24) == 0);
    expect_open_fail("not HDF5", txt, NULL, AZS_ERR_FORMAT, "not_hdf5.h5", "not an HDF5");

    /* truncated copies: half the file, and all but the last bytes of the chunk */
    size_t n = 0;
    unsigned char *bytes = slurp(eiger, &n);
    CHECK_EXPR(bytes != NULL);
    if (bytes) {
        const char *t = path_in(work, "truncated_half.h5");
        CHECK_EXPR(spill(t, bytes, n / 2) == 0);
        expect_open_fail("truncated (half)", t, NULL, AZS_ERR_CORRUPT, "truncated_half.h5", NULL);
        t = path_in(work, "truncated_tail.h5");
        CHECK_EXPR(spill(t, bytes, n - 100) == 0);
        azs_source *src = NULL;
        azs_status s = azs_source_open(t, NULL, &src);
        printf("%-28s -> %s: %s\n", "truncated (tail)", azs_status_str(s), azs_last_error());
        CHECK_EXPR(s != AZS_OK);
        CHECK_EXPR(strstr(azs_last_error(), "truncated_tail.h5") != NULL);
        azs_source_close(src);
        free(bytes);
    }

    /* unknown filters */
    const char *bz = path_in(work, "filter_bzip2.h5");
    make_filtered(bz, 307, 0, NULL);
    expect_open_fail("unknown filter 307", bz, "/data", AZS_ERR_UNSUPPORTED, "filter 307",
                     "filter_bzip2.h5");
    const char *zs = path_in(work, "filter_bszstd.h5");
    unsigned cd[6] = {0, 3, 2, 0, 3, 10};
    make_filtered(zs, 32008, 6, cd);
    expect_open_fail("bitshuffle + zstd", zs, "/data", AZS_ERR_UNSUPPORTED, "compression 3", NULL);

    /* Eiger master with a hole in its data files */
    const char *m = path_in(work, "master_hole.h5");
    make_master(m, path_in(data, "dectris/datasets_eiger2"));
    expect_open_fail("master with a missing file", m, NULL, AZS_ERR_NOT_FOUND,
                     "no_such_data_000002.h5", "frames 2..3");
    {
        /* allow_missing: the other files' frames, the missing one's absent */
        azs_source_options so = {1};
        azs_source *ms = NULL;
        CHECK_EXPR(azs_source_open_opts(m, NULL, &so, &ms) == AZS_OK);
        if (ms) {
            const azs_source_info *in = azs_source_get_info(ms);
            CHECK_EXPR(in->nframes == 6 && in->nparts_missing == 1 && in->frames_missing == 2);
            unsigned char *px = malloc(in->frame_bytes);
            CHECK_EXPR(px && azs_source_read_frame(ms, 1, px, in->frame_bytes) == AZS_OK);
            CHECK_EXPR(px && azs_source_read_frame(ms, 2, px, in->frame_bytes) == AZS_ERR_MISSING);
            CHECK_EXPR(strstr(azs_last_error(), "no_such_data_000002.h5") != NULL);
            CHECK_EXPR(azs_source_frame_state(ms, 3) == AZS_ERR_MISSING);
            CHECK_EXPR(azs_source_frame_state(ms, 4) == AZS_OK);
            CHECK_EXPR(px && azs_source_read_frame(ms, 4, px, in->frame_bytes) == AZS_OK);
            azs_source_part pp;
            CHECK_EXPR(azs_source_get_part(ms, 1, &pp) == AZS_OK && pp.missing && pp.first_frame == 2);
            free(px);
        }
        azs_source_close(ms);
    }

    /* a corrupt chunk: open works, decoding that frame fails naming file and frame */
    const char *e2 = path_in(data, "dectris/datasets_eiger2/"
                                   "eiger2_simread7_2datafiles_4images_bslz4_uint32_data_000001.h5");
    bytes = slurp(e2, &n);
    azs_source *src = NULL;
    CHECK_EXPR(azs_source_open(e2, NULL, &src) == AZS_OK);
    if (bytes && src) {
        const azs_source_info *in = azs_source_get_info(src);
        unsigned char *raw = malloc(in->max_chunk_bytes);
        size_t rn = 0;
        CHECK_EXPR(azs_source_read_raw(src, 1, raw, in->max_chunk_bytes, &rn) == AZS_OK);
        /* errors of the API itself */
        CHECK_EXPR(azs_source_read_raw(src, 1, raw, rn - 1, &rn) == AZS_ERR_CAPACITY);
        CHECK_EXPR(azs_source_read_raw(src, 99, raw, in->max_chunk_bytes, &rn) == AZS_ERR_INVALID_ARG);
        void *px = malloc(in->frame_bytes);
        CHECK_EXPR(azs_source_read_frame(src, 0, px, in->frame_bytes - 1) == AZS_ERR_CAPACITY);
        CHECK_EXPR(azs_source_read_raw(src, 1, raw, in->max_chunk_bytes, &rn) == AZS_OK);
        azs_source_close(src);
        src = NULL;
        unsigned char *hit = NULL;
        for (size_t i = 0; i + rn <= n && !hit; i++)
            if (!memcmp(bytes + i, raw, rn))
                hit = bytes + i;
        CHECK_EXPR(hit != NULL);
        if (hit) {
            /* first LZ4 block length: absurd */
            hit[12] = 0x7f, hit[13] = 0xff, hit[14] = 0xff, hit[15] = 0xff;
            const char *c = path_in(work, "corrupt_chunk.h5");
            CHECK_EXPR(spill(c, bytes, n) == 0);
            CHECK_EXPR(azs_source_open(c, NULL, &src) == AZS_OK);
            if (src) {
                CHECK_EXPR(azs_source_read_frame(src, 0, px, in ? 0 : 0) == AZS_ERR_CAPACITY);
                const azs_source_info *ci = azs_source_get_info(src);
                void *px2 = malloc(ci->frame_bytes);
                CHECK_EXPR(azs_source_read_frame(src, 0, px2, ci->frame_bytes) == AZS_OK);
                azs_status s = azs_source_read_frame(src, 1, px2, ci->frame_bytes);
                printf("%-28s -> %s: %s\n", "corrupt chunk", azs_status_str(s), azs_last_error());
                CHECK_EXPR(s != AZS_OK);
                CHECK_EXPR(strstr(azs_last_error(), "corrupt_chunk.h5") != NULL);
                CHECK_EXPR(strstr(azs_last_error(), "frame 1") != NULL);
                free(px2);
                azs_source_close(src);
            }
        }
        free(px);
        free(raw);
    }
    free(bytes);
    azs_source_close(NULL);
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
