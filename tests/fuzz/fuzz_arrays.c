/* libFuzzer harness of the mask / dark / flat readers (src/arrays/arrays.c), one binary per
 * format: built with -DFUZZ_EXT="npy", "edf" or "tif". The loaders read files by name and
 * pick the format by the extension, so the input is written to a file of that extension
 * in /dev/shm (memory, not disk; $TMPDIR's fallback is /tmp) and loaded from there: no
 * from-memory entry point in the public API just for the fuzzer. The loader must end with
 * a status, never crash, overread or allocate without bound; what it accepts must have a
 * non-empty shape, and the last frame it says it has must load too with the same shape. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azstream/arrays.h"

#ifndef FUZZ_EXT
#error "build with -DFUZZ_EXT=\"npy\" (or edf, tif)"
#endif

/* Shapes the harness lets a loader allocate: a hostile header may promise 2^32 x 2^32
 * values, which the loaders refuse against the file's length; anything bigger than the
 * input itself would be a bug, so the input's size bounds what is checked here. */
#define FUZZ_MAX_INPUT (1u << 20)

static char g_path[256];
static int g_fd = -1;

static void cleanup(void)
{
    if (g_path[0])
        unlink(g_path);
}

static int open_scratch(void)
{
    if (g_fd >= 0)
        return 0;
    const char *dirs[] = {"/dev/shm", "/tmp"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && g_fd < 0; i++) {
        snprintf(g_path, sizeof g_path, "%s/azs_fuzz_%d." FUZZ_EXT, dirs[i], (int)getpid());
        g_fd = open(g_path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    }
    if (g_fd < 0)
        return -1;
    atexit(cleanup);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    if (open_scratch() != 0)
        abort();
    if (ftruncate(g_fd, 0) != 0 || (size && pwrite(g_fd, data, size, 0) != (ssize_t)size))
        abort();
    float *a = NULL;
    uint32_t ny = 0, nx = 0, nframes = 0;
    if (azs_array_load_frame(g_path, 0, &a, &ny, &nx, &nframes) == AZS_OK) {
        /* TIFF is compressed (a few bytes may hold a large image); the raw formats never
         * hold more values than bytes. */
        if (!a || !ny || !nx || !nframes || (strcmp(FUZZ_EXT, "tif") && (uint64_t)ny * nx > size))
            abort();
        volatile float sink = a[(size_t)ny * nx - 1]; /* the whole array was allocated */
        (void)sink;
        free(a);
        if (nframes > 1) {
            uint32_t ny2 = 0, nx2 = 0, n2 = 0;
            azs_status st = azs_array_load_frame(g_path, nframes - 1, &a, &ny2, &nx2, &n2);
            if (st != AZS_OK || n2 != nframes || (!strcmp(FUZZ_EXT, "npy") && (ny2 != ny || nx2 != nx)))
                abort(); /* a frame the loader counted must load (EDF frames may differ in shape) */
            free(a);
        }
    } else if (a) {
        abort(); /* a failure leaves *out NULL */
    }
    /* one past the last frame: refused */
    if (nframes && azs_array_load_frame(g_path, nframes, &a, &ny, &nx, &nframes) == AZS_OK)
        abort();
    return 0;
}
