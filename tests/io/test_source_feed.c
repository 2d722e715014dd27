/* The byte ranges layout gpu's feeds read themselves (azstream/source.h), on an HDF5 file
 * of raw-written chunks of uneven sizes (so chunks start anywhere in a page):
 * - azs_source_raw_extent: the same file for every frame, ranges that hold exactly the
 *   bytes azs_source_read_raw gives (checked through a window mapping);
 * - azs_source_map_window: windows of two and of sixteen pages, every frame lying inside one
 *   read through it equals pread; a start off a page boundary or past the end is refused;
 *   the last window is cut at the file's end;
 * - azs_source_read_raw_direct: every frame equals pread at buf + at, into a 4 KiB-aligned
 *   buffer (or, where this file system refuses O_DIRECT, AZS_ERR_UNSUPPORTED naming it);
 *   a misaligned buffer and a too-small capacity are refused.
 * argv[1] = scratch dir. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azstream/source.h"
#include "../common/check.h"

#define NF 48

static size_t chunk_len(uint64_t f) { return 3000 + (size_t)(f * 977 % 9000); }

static void chunk_bytes(uint64_t f, uint8_t *b)
{
    for (size_t i = 0; i < chunk_len(f); i++)
        b[i] = (uint8_t)(f * 131 + i * 7 + (i >> 9));
}

static int make(const char *file)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {NF, 64, 80}, chunk[3] = {1, 64, 80};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    const unsigned cd[5] = {0, 2, 4, 0, 2};
    H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    uint8_t *b = malloc(16000);
    int ok = b && d >= 0;
    for (uint64_t i = 0; ok && i < NF; i++) {
        hsize_t off[3] = {i, 0, 0};
        chunk_bytes(i, b);
        ok = H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, chunk_len(i), b) >= 0;
    }
    free(b);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    return ok;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s/feed_test.h5", argv[1]);
    CHECK(make(file), "writing %s", file);
    azs_source *src = NULL;
    azs_status st = azs_source_open(file, "/data", &src);
    CHECK(st == AZS_OK, "open: %s", azs_last_error());
    if (st != AZS_OK)
        return 1;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    uint8_t *want = malloc(16000);
    size_t f0 = 0, file_end = 0;

    /* extents and windows of one and of three pages */
    for (size_t wpages = 2; wpages <= 16; wpages *= 8) {
        const size_t W = wpages * page;
        int inside = 0;
        for (uint64_t f = 0; f < NF; f++) {
            size_t fi = 99, n = 0, got = 0;
            uint64_t off = 0;
            CHECK(azs_source_raw_extent(src, f, &fi, &off, &n) == AZS_OK, "extent %llu",
                  (unsigned long long)f);
            if (f == 0)
                f0 = fi;
            CHECK(fi == f0, "frame %llu in file %zu, frame 0 in %zu", (unsigned long long)f, fi, f0);
            CHECK(azs_source_read_raw(src, f, want, 16000, &got) == AZS_OK && got == n &&
                      n == chunk_len(f),
                  "frame %llu: extent of %zu bytes, pread %zu", (unsigned long long)f, n, got);
            if (off + n > file_end)
                file_end = (size_t)(off + n);
            const uint64_t start = off / W * W;
            if (off + n > start + W)
                continue; /* across two windows: the feed reads it by pread */
            azs_raw_map m = {0};
            st = azs_source_map_window(src, fi, start, W, &m);
            CHECK(st == AZS_OK && m.base && m.len >= off + n - start && m.len <= W,
                  "window %zu at %llu for frame %llu: %s %s (len %zu)", W, (unsigned long long)start,
                  (unsigned long long)f, azs_status_str(st), azs_last_error(), m.len);
            if (st == AZS_OK)
                CHECK(!memcmp((const uint8_t *)m.base + (off - start), want, n),
                      "frame %llu through a window of %zu differs from pread", (unsigned long long)f, W);
            azs_source_unmap_raw(&m);
            inside++;
        }
        /* chunks of 3-12 KB: some inside 8 KiB windows (10 of 48 here), most inside 64 KiB */
        CHECK(inside >= (wpages == 2 ? 4 : NF * 3 / 4), "only %d frames inside windows of %zu", inside, W);
        printf("windows of %zu bytes: %d of %d frames inside one\n", W, inside, NF);
    }
    /* refusals, and the last window cut at the end */
    azs_raw_map m = {0};
    CHECK(azs_source_map_window(src, f0, 100, page, &m) == AZS_ERR_INVALID_ARG && !m.base,
          "a start off a page boundary");
    CHECK(azs_source_map_window(src, f0, (uint64_t)(file_end + 16 * page) / page * page, page, &m) ==
              AZS_ERR_INVALID_ARG, "a start past the end");
    const uint64_t last = (uint64_t)(file_end - 1) / page * page;
    st = azs_source_map_window(src, f0, last, 1u << 30, &m);
    CHECK(st == AZS_OK && m.len >= file_end - last && m.len < (1u << 30), "last window: %s, len %zu",
          azs_status_str(st), m.len);
    azs_source_unmap_raw(&m);

    /* O_DIRECT */
    uint8_t *buf = NULL;
    const size_t cap = 16000 + 2 * 4096;
    CHECK(posix_memalign((void **)&buf, 4096, cap + 4096) == 0, "buffer");
    int direct = 0, refused = 0;
    for (uint64_t f = 0; buf && f < NF && !refused; f++) {
        size_t at = 0, n = 0, got = 0;
        memset(buf, 0xAB, cap);
        st = azs_source_read_raw_direct(src, f, buf, cap, 4096, &at, &n);
        if (st == AZS_ERR_UNSUPPORTED && strstr(azs_last_error(), "O_DIRECT")) {
            printf("this file system refuses O_DIRECT (%s): checked the refusal only\n", azs_last_error());
            refused = 1;
            break;
        }
        CHECK(st == AZS_OK, "direct frame %llu: %s %s", (unsigned long long)f, azs_status_str(st),
              azs_last_error());
        CHECK(azs_source_read_raw(src, f, want, 16000, &got) == AZS_OK && got == n && at < 4096 &&
                  !memcmp(buf + at, want, n),
              "direct frame %llu (at %zu, %zu bytes) differs from pread", (unsigned long long)f, at, n);
        direct++;
    }
    if (buf) {
        size_t at = 0, n = 0;
        CHECK(azs_source_read_raw_direct(src, 3, buf + 512, cap, 4096, &at, &n) == AZS_ERR_INVALID_ARG,
              "a misaligned buffer");
        CHECK(azs_source_read_raw_direct(src, 3, buf, chunk_len(3), 4096, &at, &n) == AZS_ERR_CAPACITY ||
                  refused,
              "capacity under the chunk's whole blocks: %s", azs_status_str(st));
    }
    printf("test_source_feed: windows checked, O_DIRECT %d of %d frames%s, %d failures\n", direct, NF,
           refused ? " (refused here)" : "", failures);
    free(buf);
    free(want);
    azs_source_close(src);
    unlink(file);
    return failures != 0;
}
