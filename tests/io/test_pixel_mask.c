/* azs_source_pixel_mask: the real Dectris master's pixel_mask (present, none set), files
 * written here with libhdf5 (bits set, a signed mask, no mask, a wrong shape, not integers).
 * argv[1] = test data dir (tests/data), argv[2] = scratch dir. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/source.h"
#include "../common/check.h"

#define NY 8
#define NX 6
#define MASK_PATH "/entry/instrument/detector/detectorSpecific/pixel_mask"

/* A plain uint32 stack (2 frames of NY x NX) and, if mtype >= 0, a pixel mask of mtype
 * and shape my x mx holding `vals` (my*mx values). */
static void write_file(const char *path, hid_t mtype, hsize_t my, hsize_t mx, const void *vals)
{
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    uint32_t frames[2 * NY * NX] = {0};
    hsize_t d3[3] = {2, NY, NX};
    hid_t s = H5Screate_simple(3, d3, NULL);
    hid_t d = H5Dcreate2(f, "/entry/data/data", H5T_STD_U32LE, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, frames);
    H5Dclose(d);
    H5Sclose(s);
    if (mtype >= 0) {
        hsize_t d2[2] = {my, mx};
        s = H5Screate_simple(2, d2, NULL);
        d = H5Dcreate2(f, MASK_PATH, mtype, s, lcpl, H5P_DEFAULT, H5P_DEFAULT);
        H5Dwrite(d, mtype == H5T_IEEE_F32LE ? H5T_NATIVE_FLOAT
                    : mtype == H5T_STD_I16LE ? H5T_NATIVE_INT16 : H5T_NATIVE_UINT32,
                 H5S_ALL, H5S_ALL, H5P_DEFAULT, vals);
        H5Dclose(d);
        H5Sclose(s);
    }
    H5Pclose(lcpl);
    H5Fclose(f);
}

static azs_status mask_of(const char *path, uint8_t **m, size_t *nmasked)
{
    azs_source *src = NULL;
    azs_status st = azs_source_open(path, NULL, &src);
    CHECK(st == AZS_OK, "open %s: %s", path, azs_last_error());
    if (st != AZS_OK)
        return st;
    st = azs_source_pixel_mask(src, m, nmasked);
    printf("%-40s -> %s %s\n", strrchr(path, '/') + 1, azs_status_str(st), st ? azs_last_error() : "");
    azs_source_close(src);
    return st;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: test_pixel_mask DATA_DIR WORK_DIR\n");
        return 2;
    }
    char p[4096];
    uint8_t *m = NULL;
    size_t n = 99;

    /* the real master: a (192, 192) uint32 pixel_mask with nothing set */
    snprintf(p, sizeof p, "%s/real/arina_master_external_link/test_00_master.h5", argv[1]);
    CHECK(mask_of(p, &m, &n) == AZS_OK, "%s", azs_last_error());
    CHECK(m && n == 0, "real master: %zu masked, expected 0", n);
    free(m);

    /* bits anywhere in the word count, the top one too */
    uint32_t u[NY * NX] = {0};
    u[0] = 1; u[7] = 0x80000000u; u[13] = 0x10; u[NY * NX - 1] = 0xFFFFFFFFu;
    snprintf(p, sizeof p, "%s/pm_u32.h5", argv[2]);
    write_file(p, H5T_STD_U32LE, NY, NX, u);
    m = NULL;
    CHECK(mask_of(p, &m, &n) == AZS_OK, "%s", azs_last_error());
    CHECK(n == 4, "u32: %zu masked, expected 4", n);
    for (int k = 0; m && k < NY * NX; k++)
        CHECK(m[k] == (u[k] != 0), "u32: pixel %d = %d", k, m[k]);
    free(m);

    /* a signed mask: -1 is masked (no conversion clips it to 0) */
    int16_t s16[NY * NX] = {0};
    s16[3] = -1; s16[5] = 2;
    snprintf(p, sizeof p, "%s/pm_i16.h5", argv[2]);
    write_file(p, H5T_STD_I16LE, NY, NX, s16);
    m = NULL;
    CHECK(mask_of(p, &m, &n) == AZS_OK, "%s", azs_last_error());
    CHECK(n == 2 && m && m[3] == 1 && m[5] == 1 && m[4] == 0, "i16: %zu masked", n);
    free(m);

    /* none: NOT_FOUND, no allocation */
    snprintf(p, sizeof p, "%s/pm_none.h5", argv[2]);
    write_file(p, -1, 0, 0, NULL);
    m = (uint8_t *)1;
    CHECK(mask_of(p, &m, &n) == AZS_ERR_NOT_FOUND, "no mask: %s", azs_last_error());
    CHECK(m == NULL && n == 0, "no mask: output not cleared");

    /* the wrong shape (transposed) and not integers: FORMAT, naming the dataset */
    snprintf(p, sizeof p, "%s/pm_shape.h5", argv[2]);
    write_file(p, H5T_STD_U32LE, NX, NY, u);
    m = (uint8_t *)1;
    CHECK(mask_of(p, &m, &n) == AZS_ERR_FORMAT, "wrong shape: %s", azs_last_error());
    CHECK(m == NULL, "wrong shape: output not cleared");
    CHECK(strstr(azs_last_error(), "pixel_mask") && strstr(azs_last_error(), "6x8"), "message: %s",
          azs_last_error());
    float fl[NY * NX] = {0};
    snprintf(p, sizeof p, "%s/pm_float.h5", argv[2]);
    write_file(p, H5T_IEEE_F32LE, NY, NX, fl);
    CHECK(mask_of(p, &m, &n) == AZS_ERR_FORMAT, "float mask: %s", azs_last_error());

    CHECK(azs_source_pixel_mask(NULL, &m, &n) == AZS_ERR_INVALID_ARG, "NULL source");
    if (failures)
        fprintf(stderr, "%d failure(s)\n", failures);
    return failures ? 1 : 0;
}
