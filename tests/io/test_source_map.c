/* Mapped raw chunks (azs_source_map_raw) and the SIGBUS guard, on a real HDF5 file:
 * - every batch of 1..4 frames maps to exactly the bytes azs_source_read_raw gives;
 * - bad arguments are refused with a message;
 * - the file truncated after it was opened and mapped: reading the lost chunk under
 *   azs_sigbus_guard returns AZS_ERR_TRUNCATED with the fault inside that chunk's pages,
 *   the frames before it still read, and pread names the file and the frame;
 * - the same read outside the guard still ends the process (a forked child): the guard
 *   catches only its own range on its own thread.
 * argv[1] = scratch dir. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "azstream/source.h"
#include "common/error.h"
#include "common/sigbus_guard.h"
#include "../common/check.h"

#define NF 40
#define CUT 30 /* the file is cut inside this frame's chunk */

static size_t chunk_len(uint64_t f) { return 6000 + (size_t)(f * 377 % 5000); }

static void chunk_bytes(uint64_t f, uint8_t *b)
{
    for (size_t i = 0; i < chunk_len(f); i++)
        b[i] = (uint8_t)(f * 131 + i * 7 + (i >> 9));
}

/* Chunks written in frame order with raw writes (the bytes are not decoded here). Returns
 * the file offset of frame CUT's chunk, or 0. */
static haddr_t make(const char *file)
{
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    hsize_t dims[3] = {NF, 64, 80}, chunk[3] = {1, 64, 80};
    hid_t sp = H5Screate_simple(3, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    const unsigned cd[5] = {0, 2, 4, 0, 2};
    H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    uint8_t *b = malloc(12000);
    haddr_t at = 0;
    for (uint64_t i = 0; b && d >= 0 && i < NF; i++) {
        hsize_t off[3] = {i, 0, 0};
        chunk_bytes(i, b);
        CHECK(H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, chunk_len(i), b) >= 0, "write %llu",
              (unsigned long long)i);
    }
    H5Fflush(f, H5F_SCOPE_GLOBAL);
    hsize_t off[3] = {CUT, 0, 0}, size = 0;
    unsigned mask = 0;
    if (d >= 0 && H5Dget_chunk_info_by_coord(d, off, &mask, &at, &size) < 0)
        at = 0;
    hsize_t o31[3] = {CUT + 1, 0, 0};
    haddr_t at31 = 0;
    if (d >= 0 && H5Dget_chunk_info_by_coord(d, o31, &mask, &at31, &size) >= 0 && at31 < at)
        at = 0; /* not in frame order: the cut would not lose the frames after CUT */
    free(b);
    H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    return at;
}

typedef struct sum_arg {
    const void *const *chunks;
    const size_t *sizes;
    int n;
    uint64_t sum;
} sum_arg;

static void sum_chunks(void *arg)
{
    sum_arg *a = arg;
    for (int k = 0; k < a->n; k++)
        for (size_t i = 0; i < a->sizes[k]; i++)
            a->sum += ((const volatile uint8_t *)a->chunks[k])[i];
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s SCRATCH_DIR\n", argv[0]);
        return 2;
    }
    char file[4096];
    snprintf(file, sizeof file, "%s/map_test.h5", argv[1]);
    const haddr_t cut_at = make(file);
    CHECK(cut_at > 0, "no address for frame %d, or chunks not in frame order", CUT);
    azs_source *src = NULL;
    azs_status st = azs_source_open(file, "/data", &src);
    CHECK(st == AZS_OK, "open: %s", azs_last_error());
    if (st != AZS_OK || cut_at == 0)
        return 1;
    CHECK(azs_source_get_info(src)->read_path == AZS_READ_PREAD, "not on the pread path");

    /* bit-exact against pread, every batch size, every start */
    uint8_t *want = malloc(12000);
    for (int n = 1; n <= 4; n++)
        for (uint64_t f0 = 0; f0 + (uint64_t)n <= NF; f0++) {
            const void *c[4];
            size_t sz[4];
            azs_raw_map m;
            st = azs_source_map_raw(src, f0, n, c, sz, &m);
            CHECK(st == AZS_OK && m.base, "map %llu+%d: %s", (unsigned long long)f0, n,
                  azs_status_str(st));
            for (int k = 0; st == AZS_OK && k < n; k++) {
                size_t got = 0;
                CHECK(azs_source_read_raw(src, f0 + (uint64_t)k, want, 12000, &got) == AZS_OK &&
                          got == sz[k] && got == chunk_len(f0 + (uint64_t)k) &&
                          !memcmp(want, c[k], got),
                      "map %llu+%d: frame %llu differs from pread", (unsigned long long)f0, n,
                      (unsigned long long)(f0 + (uint64_t)k));
            }
            azs_source_unmap_raw(&m);
            CHECK(m.base == NULL, "unmap leaves base");
        }
    const void *c[4];
    size_t sz[4];
    azs_raw_map m;
    st = azs_source_map_raw(src, NF - 2, 3, c, sz, &m);
    CHECK(st == AZS_ERR_INVALID_ARG && strstr(azs_last_error(), "out of range"),
          "past the end: %s %s", azs_status_str(st), azs_last_error());
    CHECK(azs_source_map_raw(src, 0, 0, c, sz, &m) == AZS_ERR_INVALID_ARG, "n = 0");

    /* Map frames CUT-2..CUT+1, then cut the file inside frame CUT's chunk. */
    st = azs_source_map_raw(src, CUT - 2, 4, c, sz, &m);
    CHECK(st == AZS_OK, "map before the cut: %s", azs_status_str(st));
    CHECK(truncate(file, (off_t)cut_at + 100) == 0, "truncate");
    if (st == AZS_OK) {
        sum_arg before = {c, sz, 2, 0}, all = {c, sz, 4, 0};
        size_t at = SIZE_MAX;
        CHECK(azs_sigbus_guard(m.base, m.len, sum_chunks, &before, &at) == AZS_OK,
              "frames before the cut no longer read");
        st = azs_sigbus_guard(m.base, m.len, sum_chunks, &all, &at);
        const size_t lo = (size_t)((const char *)c[2] - (const char *)m.base);
        CHECK(st == AZS_ERR_TRUNCATED && at >= lo && at < m.len,
              "guarded read past the cut: %s, fault at %zu (frame %d's chunk from %zu, "
              "mapping %zu)", azs_status_str(st), at, CUT, lo, m.len);
        /* and again: the guard is re-armed after a fault */
        at = SIZE_MAX;
        st = azs_sigbus_guard(m.base, m.len, sum_chunks, &all, &at);
        CHECK(st == AZS_ERR_TRUNCATED && at >= lo, "second fault: %s", azs_status_str(st));
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) { /* outside the guard: must not survive (quietly: a sanitizer reports) */
            int dn = open("/dev/null", O_WRONLY);
            if (dn >= 0)
                dup2(dn, 2);
            sum_chunks(&all);
            _exit(7);
        }
        int ws = 0;
        CHECK(pid > 0 && waitpid(pid, &ws, 0) == pid &&
                  !(WIFEXITED(ws) && (WEXITSTATUS(ws) == 7 || WEXITSTATUS(ws) == 0)),
              "an unguarded read past the cut did not end the process (status %d)", ws);
        printf("unguarded read past the cut: %s %d\n",
               WIFSIGNALED(ws) ? "killed by signal" : "exited with", WIFSIGNALED(ws) ? WTERMSIG(ws) : WEXITSTATUS(ws));
        azs_source_unmap_raw(&m);
    }
    size_t got = 0;
    CHECK(azs_source_read_raw(src, CUT - 1, want, 12000, &got) == AZS_OK, "frame before the cut");
    st = azs_source_read_raw(src, CUT, want, 12000, &got);
    CHECK(st == AZS_ERR_TRUNCATED && strstr(azs_last_error(), "map_test.h5") &&
              strstr(azs_last_error(), "frame 30"),
          "pread of the cut frame: %s: %s", azs_status_str(st), azs_last_error());
    printf("pread of the cut frame: %s\n", azs_last_error());
    free(want);
    azs_source_close(src);
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("source map tests: ok\n");
    return failures ? 1 : 0;
}
