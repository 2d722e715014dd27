/* The per-frame chunk index of the HDF5 source, however it is read (one walk of a v1
 * B-tree straight from the file, src/h5/h5_index.c, or libhdf5 chunk by chunk for the other
 * index types): every frame's raw bytes must be exactly the bytes written for it with
 * H5Dwrite_chunk, frames never written must say so, frames whose filter was skipped must
 * say so. Files: default format (v1 B-tree, several levels), with a user block, with
 * libver latest (extensible / fixed array index); then copies of the v1 file with damaged
 * B-tree nodes: where both read a frame, our chunk and libhdf5's (H5Dread_chunk) must be
 * the same bytes, and nothing may crash or overread (ASan). argv[1] = scratch dir. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/source.h"
#include "h5/h5_index.h"
#include "../common/check.h"

static char work[2048];

static int hole(uint64_t f) { return f % 97 == 5; }          /* never written */
static int skipped(uint64_t f) { return f % 89 == 7; }       /* filter mask bit 0 */
static size_t chunk_len(uint64_t f) { return 20 + (size_t)(f % 37); }

static void chunk_bytes(uint64_t f, uint8_t *b)
{
    for (size_t i = 0; i < chunk_len(f); i++)
        b[i] = (uint8_t)(f * 131 + i * 7 + (f >> 8));
}

static void make_ex(const char *file, uint64_t n, int latest, int userblock, int unlimited)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (latest)
        H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    if (userblock)
        H5Pset_userblock(fcpl, 512);
    hid_t f = H5Fcreate(file, H5F_ACC_TRUNC, fcpl, fapl);
    hsize_t dims[3] = {n, 4, 4}, chunk[3] = {1, 4, 4}, maxd[3] = {H5S_UNLIMITED, 4, 4};
    hid_t sp = H5Screate_simple(3, dims, unlimited ? maxd : NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 3, chunk);
    const unsigned cd[5] = {0, 2, 4, 0, 2}; /* bitshuffle + LZ4 (not applied: raw writes) */
    H5Pset_filter(dcpl, 32008, H5Z_FLAG_OPTIONAL, 5, cd);
    hid_t g = H5Gcreate2(f, "entry", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t g2 = H5Gcreate2(g, "data", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    hid_t d = H5Dcreate2(g2, "data", H5T_STD_U32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(d >= 0, "create %s", file);
    uint8_t b[64];
    for (uint64_t i = 0; d >= 0 && i < n; i++) {
        if (hole(i))
            continue;
        hsize_t off[3] = {i, 0, 0};
        chunk_bytes(i, b);
        CHECK(H5Dwrite_chunk(d, H5P_DEFAULT, skipped(i) ? 1u : 0u, off, chunk_len(i), b) >= 0,
              "write chunk %llu", (unsigned long long)i);
    }
    if (d >= 0)
        H5Dclose(d);
    H5Gclose(g2);
    H5Gclose(g);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
    H5Pclose(fapl);
    H5Pclose(fcpl);
}

static void make(const char *file, uint64_t n, int latest, int userblock)
{
    make_ex(file, n, latest, userblock, 0);
}

/* Every frame read back as written (or reported as a hole / skipped filter). Returns the
 * number of wrong frames; with `tolerant`, an open that fails with a message counts 0.
 * walked >= 0: whether the index must have been read in one walk (1) or not (0). */
static int verify_how(const char *file, uint64_t n, int tolerant, int walked)
{
    azs_source *src = NULL;
    azs_status s = azs_source_open(file, NULL, &src);
    if (s != AZS_OK) {
        CHECK(tolerant && strlen(azs_last_error()) > 0, "open %s: %s", file, azs_last_error());
        return 0;
    }
    if (walked >= 0)
        CHECK((azs_source_get_info(src)->nparts_walked > 0) == walked,
              "%s: index walked %zu parts, expected %s", file,
              azs_source_get_info(src)->nparts_walked, walked ? "one" : "none");
    int bad = 0;
    uint8_t got[128], want[64];
    for (uint64_t i = 0; i < n; i++) {
        size_t sz = 0;
        s = azs_source_read_raw(src, i, got, sizeof got, &sz);
        if (hole(i))
            bad += s != AZS_ERR_UNWRITTEN;
        else if (skipped(i))
            bad += s != AZS_ERR_UNSUPPORTED;
        else {
            chunk_bytes(i, want);
            bad += s != AZS_OK || sz != chunk_len(i) || memcmp(got, want, sz) != 0;
        }
    }
    azs_source_close(src);
    return bad;
}

static int verify(const char *file, uint64_t n, int tolerant)
{
    return verify_how(file, n, tolerant, -1);
}

/* Our raw chunks against libhdf5's own (H5Dread_chunk) for every frame: where both read
 * one, the bytes must be the same. Returns the frames where they differ. */
static int against_hdf5(const char *file, uint64_t n)
{
    azs_source *src = NULL;
    if (azs_source_open(file, NULL, &src) != AZS_OK)
        return 0;
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, "/entry/data/data", H5P_DEFAULT) : -1;
    int differ = 0;
    uint8_t ours[128], theirs[128];
    for (uint64_t i = 0; d >= 0 && i < n; i++) {
        size_t sz = 0;
        hsize_t c[3] = {i, 0, 0}, tsz = 0;
        uint32_t mask = 0;
        if (azs_source_read_raw(src, i, ours, sizeof ours, &sz) != AZS_OK)
            continue;
        if (H5Dget_chunk_storage_size(d, c, &tsz) < 0 || tsz > sizeof theirs ||
            H5Dread_chunk(d, H5P_DEFAULT, c, &mask, theirs) < 0)
            continue;
        differ += tsz != sz || memcmp(ours, theirs, sz) != 0;
    }
    if (d >= 0)
        H5Dclose(d);
    if (f >= 0)
        H5Fclose(f);
    azs_source_close(src);
    return differ;
}

/* The address of dataset d's object header. */
static uint64_t ohdr_of(hid_t d)
{
#if H5_VERSION_GE(1, 12, 0)
    H5O_info1_t oi;
#else
    H5O_info_t oi;
#endif
    if (H5Oget_info2(d, &oi, H5O_INFO_BASIC) < 0)
        return UINT64_MAX;
    return oi.addr;
}

/* Walks the v1 B-tree of file's /entry/data/data directly; returns frames found or -1. */
static long walk_direct(const char *file, uint64_t n)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/entry/data/data", H5P_DEFAULT);
    hid_t fcpl = H5Fget_create_plist(f);
    size_t sa = 0, ss = 0;
    hsize_t ub = 0;
    H5Pget_sizes(fcpl, &sa, &ss);
    H5Pget_userblock(fcpl, &ub);
    const uint64_t oh = ohdr_of(d);
    H5Pclose(fcpl);
    FILE *fp = fopen(file, "rb");
    fseek(fp, 0, SEEK_END);
    azs_h5_bytes fb = {fileno(fp), ub, (uint64_t)ftell(fp), (unsigned)sa, (unsigned)ss};
    uint64_t bt = 0, *off = calloc(n, 8);
    uint32_t *size = calloc(n, 4);
    uint8_t *sk = calloc(n, 1), *found = calloc(n, 1);
    unsigned kd = 0;
    long count = -1;
    if (azs_h5_chunk_btree_addr(&fb, oh, &bt, &kd) == AZS_OK &&
        azs_h5_chunk_btree_walk(&fb, bt, kd, 0, n, n, off, size, sk, found) == AZS_OK) {
        count = 0;
        for (uint64_t i = 0; i < n; i++) {
            count += found[i];
            CHECK(found[i] == !hole(i), "walk: frame %llu found %d", (unsigned long long)i, found[i]);
            if (!found[i])
                continue;
            hsize_t c[3] = {i, 0, 0}, sz = 0;
            unsigned mask = 0;
            haddr_t addr = HADDR_UNDEF;
            if (i % 50 == 0) { /* against libhdf5 (each call scans the index: a sample) */
                H5Dget_chunk_info_by_coord(d, c, &mask, &addr, &sz);
                CHECK(addr == off[i] && sz == size[i] && (mask & 1u) == sk[i],
                      "walk: frame %llu differs from libhdf5", (unsigned long long)i);
            }
        }
    }
    free(off);
    free(size);
    free(sk);
    free(found);
    fclose(fp);
    H5Dclose(d);
    H5Fclose(f);
    return count;
}

/* A copy of `file` with `flips` random bytes changed inside its B-tree nodes ("TREE"). */
static int damage(const char *file, const char *out, unsigned seed, int flips)
{
    FILE *fp = fopen(file, "rb");
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)len);
    size_t got = fread(b, 1, (size_t)len, fp);
    fclose(fp);
    long nodes[4096];
    int nn = 0;
    for (long i = 0; i + 4 <= (long)got && nn < 4096; i++)
        if (!memcmp(b + i, "TREE", 4) && b[i + 4] == 1)
            nodes[nn++] = i;
    if (nn == 0) {
        free(b);
        return 0;
    }
    srand(seed);
    for (int k = 0; k < flips; k++) {
        long at = nodes[rand() % nn] + rand() % 600;
        if (at < (long)got)
            b[at] ^= (uint8_t)(1 + rand() % 255);
    }
    fp = fopen(out, "wb");
    fwrite(b, 1, got, fp);
    fclose(fp);
    free(b);
    return nn;
}

/* Fuzz seeds (tests/fuzz/fuzz_h5index.c's input format) from a small file of n frames:
 * address and length sizes, the dataset's object header address, the file image. */
/* kind: 0 v1 B-tree, 1 extensible array, 2 fixed array */
static void write_seed(const char *scratch, const char *dir, uint64_t n, int kind)
{
    static const char *const name[3] = {"v1", "earray", "farray"};
    char file[2300], out[2300];
    snprintf(file, sizeof file, "%s/seed_%llu_%d.h5", scratch, (unsigned long long)n, kind);
    snprintf(out, sizeof out, "%s/%s_%llu_frames", dir, name[kind], (unsigned long long)n);
    make_ex(file, n, kind != 0, 0, kind == 1);
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "/entry/data/data", H5P_DEFAULT);
    const uint64_t oh = ohdr_of(d);
    H5Dclose(d);
    H5Fclose(f);
    FILE *in = fopen(file, "rb"), *o = fopen(out, "wb");
    uint8_t head[10] = {2, 2}; /* 8-byte addresses and lengths (index 2 of {2, 4, 8}) */
    for (int i = 0; i < 8; i++)
        head[2 + i] = (uint8_t)(oh >> (8 * i));
    fwrite(head, 1, sizeof head, o);
    int c;
    while ((c = fgetc(in)) != EOF)
        fputc(c, o);
    fclose(in);
    fclose(o);
    printf("seed %s\n", out);
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 3) {
        fprintf(stderr, "usage: %s SCRATCH_DIR [FUZZ_SEED_DIR]\n", argv[0]);
        return 2;
    }
    if (argc == 3) { /* only write the fuzz seeds */
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        write_seed(argv[1], argv[2], 12, 0);
        write_seed(argv[1], argv[2], 150, 0);
        write_seed(argv[1], argv[2], 37, 1);
        write_seed(argv[1], argv[2], 300, 1);
        write_seed(argv[1], argv[2], 40, 2);
        write_seed(argv[1], argv[2], 1100, 2); /* paged: more than 1,024 chunks */
        return 0;
    }
    snprintf(work, sizeof work, "%s", argv[1]);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    char v1[2300], ub[2300], latest[2300], big[2300], dmg[2300];
    snprintf(v1, sizeof v1, "%s/index_v1.h5", work);
    snprintf(ub, sizeof ub, "%s/index_userblock.h5", work);
    snprintf(latest, sizeof latest, "%s/index_latest.h5", work);
    snprintf(big, sizeof big, "%s/index_big.h5", work);
    snprintf(dmg, sizeof dmg, "%s/index_damaged.h5", work);
    const uint64_t n = 3000;
    make(v1, n, 0, 0);
    make(ub, n, 0, 1);
    make(latest, n, 1, 0);
    char latest_ub[2300];
    snprintf(latest_ub, sizeof latest_ub, "%s/index_latest_userblock.h5", work);
    make(latest_ub, n, 1, 1);
    CHECK(verify(latest_ub, n, 0) == 0, "libver latest file with a user block: wrong frames");
    CHECK(verify_how(v1, n, 0, 1) == 0, "v1 B-tree file: wrong frames");
    CHECK(verify_how(ub, n, 0, 1) == 0, "file with a user block: wrong frames");
    CHECK(verify_how(latest, n, 0, 1) == 0, "fixed array (libver latest), paged: wrong frames");
    char fa[2300];
    snprintf(fa, sizeof fa, "%s/index_farray_small.h5", work);
    make(fa, 700, 1, 0); /* 700 <= 1,024 chunks: one unpaged data block */
    CHECK(verify_how(fa, 700, 0, 1) == 0, "fixed array, 700 frames: wrong frames");
    /* one unlimited dimension + libver latest: an extensible array (SWMR writers) */
    char ea1[2300], ea2[2300], ea3[2300];
    snprintf(ea1, sizeof ea1, "%s/index_earray.h5", work);
    snprintf(ea2, sizeof ea2, "%s/index_earray_big.h5", work);
    snprintf(ea3, sizeof ea3, "%s/index_earray_userblock.h5", work);
    make_ex(ea1, 37, 1, 0, 1);
    CHECK(verify_how(ea1, 37, 0, 1) == 0, "extensible array, 37 frames: wrong frames");
    make_ex(ea2, 20000, 1, 0, 1);
    CHECK(verify_how(ea2, 20000, 0, 1) == 0, "extensible array, 20,000 frames: wrong frames");
    make_ex(ea3, n, 1, 1, 1);
    CHECK(verify_how(ea3, n, 0, 1) == 0, "extensible array with a user block: wrong frames");
    /* past 131,076 chunks (4 + 131,072) the data blocks of 2,048 elements are paged */
    snprintf(ea3, sizeof ea3, "%s/index_earray_paged.h5", work);
    make_ex(ea3, 140000, 1, 0, 1);
    CHECK(verify_how(ea3, 140000, 0, 1) == 0, "extensible array, 140,000 frames: wrong frames");
    long found = walk_direct(v1, n);
    CHECK(found == (long)(n - (n + 91) / 97), "v1 walk found %ld frames", found);
    CHECK(walk_direct(ub, n) == found, "user-block walk");
    /* 20,000 frames: through libhdf5's per-chunk lookup this open takes seconds and grows
     * with the square of the frames; the walk is one pass. Correctness checked here; the
     * time is printed, not asserted (a measurement, not a test). */
    make(big, 20000, 0, 0);
    CHECK(verify_how(big, 20000, 0, 1) == 0, "20,000 frames: wrong frames");
    /* damaged B-tree nodes: right frames (fallback to libhdf5) or a clean error */
    int tried = 0, opened_ok = 0;
    for (unsigned seed = 1; seed <= 60; seed++) {
        if (!damage(v1, dmg, seed, 1 + (int)(seed % 4)))
            break;
        tried++;
        azs_source *src = NULL;
        if (azs_source_open(dmg, NULL, &src) == AZS_OK) {
            opened_ok++;
            azs_source_close(src);
        }
        /* whatever libhdf5 itself makes of the damage, nothing may crash or overread, a
         * refusal names the file, and a frame both we and libhdf5 read is the same chunk */
        if (azs_source_open(dmg, NULL, &src) != AZS_OK)
            CHECK(strstr(azs_last_error(), "index_damaged.h5") != NULL, "damaged copy %u: %s",
                  seed, azs_last_error());
        else
            azs_source_close(src);
        verify(dmg, n, 1);
        CHECK(against_hdf5(dmg, n) == 0, "damaged copy %u: frames differ from libhdf5's", seed);
    }
    printf("chunk index: %llu-frame files (v1 B-tree, user block, libver latest) and 20,000 "
           "frames read back exactly; %d damaged copies, %d opened\n",
           (unsigned long long)n, tried, opened_ok);
    return failures ? 1 : 0;
}
