/* Test doubles for the modules the layouts call (source, codec, integrator), so the
 * layouts' scheduling, ordering, error and cancel paths can be tested alone, fast, and
 * under TSan. A "raw chunk" of frame f is FRAME_BYTES of a known pattern preceded by an
 * 8-byte header holding f; "decoding" checks the header and copies; "integration" sums
 * pixels into bins in a fixed order. Knobs (fake_cfg) make chosen frames fail to read,
 * fail to decode, or take longer, to shake the worker order. Mapped chunks are real file
 * mappings (a temporary file per batch), so a chunk put past the end of its file raises a
 * real SIGBUS. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "azstream/codec.h"
#include "azstream/integrate.h"
#include "azstream/source.h"
#include "common/error.h"
#include "fake_engine.h"
#include "layouts.h"

fake_cfg FAKE = {0};

struct azs_source {
    azs_source_info info;
};
struct azs_integrator {
    azs_integrate_options o;
    size_t nbins;
};
struct azs_workspace {
    int dummy;
};

static azs_source the_src;
static azs_integrator the_it;

azs_source *fake_source(uint64_t nframes, int filtered)
{
    memset(&the_src, 0, sizeof the_src);
    azs_source_info *i = &the_src.info;
    i->nframes = nframes;
    i->ny = FAKE_NY;
    i->nx = FAKE_NX;
    i->dtype = AZS_U32;
    i->elem_size = 4;
    i->frame_bytes = FAKE_NY * FAKE_NX * 4;
    i->codec = AZS_CODEC_BSLZ4;
    i->max_chunk_bytes = i->frame_bytes + 8;
    i->read_path = filtered ? AZS_READ_FILTERED : AZS_READ_PREAD;
    i->nparts = 2;
    return &the_src;
}

azs_integrator *fake_integrator(int with_sigma)
{
    memset(&the_it, 0, sizeof the_it);
    the_it.o.error_model = with_sigma ? AZS_ERRMODEL_POISSON : AZS_ERRMODEL_NONE;
    the_it.nbins = FAKE_NBINS;
    return &the_it;
}

static void maybe_sleep(uint64_t f)
{
    if (!FAKE.jitter_us)
        return;
    /* deterministic pseudo-random delay per frame */
    uint64_t h = f * 0x9E3779B97F4A7C15ull;
    long us = (long)((h >> 40) % (uint64_t)FAKE.jitter_us);
    struct timespec ts = {0, us * 1000};
    nanosleep(&ts, NULL);
}

const azs_source_info *azs_source_get_info(const azs_source *src)
{
    return &src->info;
}

azs_status azs_source_get_part(const azs_source *src, size_t i, azs_source_part *part)
{
    uint64_t half = src->info.nframes / 2;
    if (i >= 2)
        return azs_fail(AZS_ERR_INVALID_ARG, "part %zu", i);
    part->file = i == 0 ? "fake_part0.h5" : "fake_part1.h5";
    part->dataset = "/entry/data/data";
    part->first_frame = i == 0 ? 0 : half;
    part->nframes = i == 0 ? half : src->info.nframes - half;
    return AZS_OK;
}

static void fill_pixels(uint64_t f, uint32_t *px)
{
    for (size_t p = 0; p < FAKE_NY * FAKE_NX; p++)
        px[p] = (uint32_t)((f * 2654435761u + p * 40503u) % 1000u);
}

static azs_status raw_bytes(azs_source *src, uint64_t frame, void *buf, size_t capacity, size_t *size)
{
    atomic_fetch_add(&FAKE.reads, 1);
    if (src->info.read_path == AZS_READ_FILTERED)
        return azs_fail(AZS_ERR_UNSUPPORTED, "filtered");
    if (frame >= src->info.nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "frame out of range");
    if (capacity < src->info.frame_bytes + 8)
        return azs_fail(AZS_ERR_CAPACITY, "buffer");
    if (FAKE.read_fail_frame && frame == FAKE.read_fail_frame - 1)
        return azs_fail(AZS_ERR_IO, "pread failed (fake)");
    if (FAKE.fallback_frame && frame == FAKE.fallback_frame - 1)
        return azs_fail(AZS_ERR_UNSUPPORTED, "chunk stored unfiltered (fake)");
    if (FAKE.absent_frame && frame == FAKE.absent_frame - 1)
        return azs_fail(FAKE.absent_status, "no data (fake)");
    memcpy(buf, &frame, 8);
    fill_pixels(frame, (uint32_t *)((char *)buf + 8));
    if (FAKE.corrupt_frame && frame == FAKE.corrupt_frame - 1)
        memset(buf, 0xFF, 8);
    *size = src->info.frame_bytes + 8;
    return AZS_OK;
}

azs_status azs_source_read_raw(azs_source *src, uint64_t frame, void *buf, size_t capacity, size_t *size)
{
    atomic_fetch_add(&FAKE.raw_reads, 1);
    return raw_bytes(src, frame, buf, capacity, size);
}

/* Like the real one: UNSUPPORTED (no message) when a frame of the batch has no raw bytes. */
azs_status azs_source_map_raw(azs_source *src, uint64_t first, int n, const void **chunks,
                              size_t *sizes, azs_raw_map *map)
{
    map->base = NULL;
    map->len = 0;
    if (src->info.read_path == AZS_READ_FILTERED)
        return AZS_ERR_UNSUPPORTED;
    const size_t csize = src->info.frame_bytes + 8;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE), stride = (csize + page - 1) / page * page;
    for (int k = 0; k < n; k++) {
        uint64_t f = first + (uint64_t)k;
        if (f >= src->info.nframes)
            return azs_fail(AZS_ERR_INVALID_ARG, "frame out of range");
        if ((FAKE.read_fail_frame && f == FAKE.read_fail_frame - 1) ||
            (FAKE.fallback_frame && f == FAKE.fallback_frame - 1) ||
            (FAKE.absent_frame && f == FAKE.absent_frame - 1))
            return AZS_ERR_UNSUPPORTED;
    }
    char path[] = "/tmp/azs_fake_map_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return azs_fail(AZS_ERR_IO, "mkstemp");
    unlink(path);
    char *buf = malloc(csize);
    off_t end = (off_t)(stride * (size_t)n);
    azs_status st = buf ? AZS_OK : AZS_ERR_NOMEM;
    for (int k = 0; st == AZS_OK && k < n; k++) {
        size_t got;
        st = raw_bytes(src, first + (uint64_t)k, buf, csize, &got);
        if (st == AZS_OK && pwrite(fd, buf, got, (off_t)(stride * (size_t)k)) != (ssize_t)got)
            st = azs_fail(AZS_ERR_IO, "pwrite");
        if (FAKE.map_fault_frame && first + (uint64_t)k == FAKE.map_fault_frame - 1 &&
            (off_t)(stride * (size_t)k) < end)
            end = (off_t)(stride * (size_t)k); /* this chunk's pages past the end */
    }
    free(buf);
    if (st == AZS_OK && ftruncate(fd, end) != 0)
        st = azs_fail(AZS_ERR_IO, "ftruncate");
    void *b = MAP_FAILED;
    if (st == AZS_OK)
        b = mmap(NULL, stride * (size_t)n, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
    close(fd);
    if (st != AZS_OK)
        return st;
    if (b == MAP_FAILED)
        return azs_fail(AZS_ERR_IO, "mmap");
    for (int k = 0; k < n; k++) {
        chunks[k] = (char *)b + stride * (size_t)k;
        sizes[k] = csize;
    }
    map->base = b;
    map->len = stride * (size_t)n;
    atomic_fetch_add(&FAKE.maps, 1);
    return AZS_OK;
}

void azs_source_unmap_raw(azs_raw_map *map)
{
    if (map->base)
        munmap(map->base, map->len);
    map->base = NULL;
    map->len = 0;
}

azs_status azs_source_frame_state(azs_source *src, uint64_t frame)
{
    (void)src;
    if (FAKE.absent_frame && frame == FAKE.absent_frame - 1)
        return azs_fail(FAKE.absent_status, "no data (fake)");
    return AZS_OK;
}

azs_status azs_source_read_frame(azs_source *src, uint64_t frame, void *pixels, size_t capacity)
{
    atomic_fetch_add(&FAKE.reads, 1);
    atomic_fetch_add(&FAKE.frame_reads, 1);
    if (capacity < src->info.frame_bytes)
        return azs_fail(AZS_ERR_CAPACITY, "buffer");
    if ((FAKE.corrupt_frame && frame == FAKE.corrupt_frame - 1) ||
        (FAKE.read_fail_frame && frame == FAKE.read_fail_frame - 1))
        return azs_fail(AZS_ERR_CORRUPT, "filter pipeline failed (fake)");
    fill_pixels(frame, pixels);
    return AZS_OK;
}

static azs_status decode(const void *src, size_t src_size, void *dst, size_t cap, size_t *out)
{
    uint64_t f;
    if (src_size < 8)
        return azs_fail(AZS_ERR_TRUNCATED, "short");
    memcpy(&f, src, 8);
    if (f == UINT64_MAX)
        return azs_fail(AZS_ERR_CORRUPT, "bad LZ4 block (fake)");
    maybe_sleep(f);
    if (src_size - 8 > cap)
        return azs_fail(AZS_ERR_CAPACITY, "dst");
    memcpy(dst, (const char *)src + 8, src_size - 8);
    *out = src_size - 8;
    return AZS_OK;
}

azs_status azs_chunk_decode(azs_codec codec, size_t elem_size, const void *src, size_t src_size,
                            void *dst, size_t dst_capacity, size_t *out_size)
{
    (void)codec, (void)elem_size;
    return decode(src, src_size, dst, dst_capacity, out_size);
}

azs_status azs_bslz4_decode_omp(size_t elem_size, const void *src, size_t src_size, void *dst,
                                size_t dst_capacity, size_t *out_size)
{
    (void)elem_size;
    return decode(src, src_size, dst, dst_capacity, out_size);
}

size_t azs_integrator_nbins(const azs_integrator *it) { return it->nbins; }
const azs_integrate_options *azs_integrator_options(const azs_integrator *it) { return &it->o; }

azs_status azs_workspace_create(const azs_integrator *it, azs_workspace **out)
{
    (void)it;
    *out = calloc(1, sizeof **out);
    return *out ? AZS_OK : azs_fail(AZS_ERR_NOMEM, "ws");
}
void azs_workspace_destroy(azs_workspace *ws) { free(ws); }

azs_status azs_integrate_frame(const azs_integrator *it, azs_workspace *ws, const void *pixels,
                               azs_dtype dtype, const azs_frame_result *out)
{
    (void)ws, (void)dtype;
    const uint32_t *px = pixels;
    for (size_t b = 0; b < it->nbins; b++) {
        double s = 0, w = 0;
        for (size_t p = b; p < FAKE_NY * FAKE_NX; p += it->nbins) {
            s += px[p] * 0.37;
            w += 1.0 + 0.001 * (double)p;
        }
        if (out->intensity)
            out->intensity[b] = s / w;
        if (out->sigma)
            out->sigma[b] = s > 0 ? __builtin_sqrt(s) / w : 0;
    }
    return AZS_OK;
}

/* Like the real one: decode to exactly one frame, then integrate. */
azs_status azs_integrate_chunk(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                               azs_dtype dtype, const void *chunk, size_t chunk_size,
                               void *frame_buf, const azs_frame_result *out)
{
    (void)codec;
    const size_t frame_bytes = (size_t)FAKE_NY * FAKE_NX * sizeof(uint32_t);
    size_t got = 0;
    azs_status st = decode(chunk, chunk_size, frame_buf, frame_bytes, &got);
    if (st != AZS_OK)
        return st;
    if (got != frame_bytes)
        return azs_fail(AZS_ERR_SIZE_MISMATCH, "chunk decodes to %zu bytes, frame needs %zu", got,
                        frame_bytes);
    return azs_integrate_frame(it, ws, frame_buf, dtype, out);
}

/* Like the real one's contract: one by one, a status and message per frame. */
azs_status azs_integrate_chunks(const azs_integrator *it, azs_workspace *ws, azs_codec codec,
                                azs_dtype dtype, int n, const void *const *chunks,
                                const size_t *chunk_sizes, void *frame_buf,
                                const azs_frame_result *out, azs_status *status, char *msgs,
                                size_t msg_len)
{
    azs_status first = AZS_OK;
    for (int j = 0; j < n; j++) {
        status[j] = azs_integrate_chunk(it, ws, codec, dtype, chunks[j], chunk_sizes[j], frame_buf,
                                        &out[j]);
        if (status[j] != AZS_OK && msgs)
            snprintf(msgs + (size_t)j * msg_len, msg_len, "%s", azs_last_error());
        if (status[j] != AZS_OK && first == AZS_OK)
            first = status[j];
    }
    return first;
}

azs_status azs_integrate_frame_omp(const azs_integrator *it, azs_workspace *ws, const void *pixels,
                                   azs_dtype dtype, const azs_frame_result *out)
{
    return azs_integrate_frame(it, ws, pixels, dtype, out);
}

/* The header of a fake chunk: always announces one frame (its corruption is elsewhere). */
azs_status azs_chunk_read_header(const void *src, size_t src_size, azs_chunk_header *h)
{
    (void)src;
    if (src_size < 12)
        return azs_fail(AZS_ERR_TRUNCATED, "short header (fake)");
    h->total_bytes = (uint64_t)FAKE_NY * FAKE_NX * sizeof(uint32_t);
    h->block_bytes = 8192;
    return AZS_OK;
}

/* The layouts the fake does not run. */
static azs_status not_here(azs_source *src, const azs_integrator *it, const azs_run_options *o,
                           const azs_sink_ops *sink, azs_run_summary *sum)
{
    (void)src, (void)it, (void)o, (void)sink, (void)sum;
    return azs_fail(AZS_ERR_UNSUPPORTED, "fake");
}
static azs_status no_device(const azs_source_info *info, const azs_run_options *o)
{
    (void)info, (void)o;
    return azs_fail(AZS_ERR_NO_DEVICE, "fake");
}
const azs_layout_driver azs_driver_procs = {"procs", NULL, not_here};
const azs_layout_driver azs_driver_mpi = {"mpi", NULL, not_here};
const azs_layout_driver azs_driver_gpu = {"gpu", no_device, not_here};
void azs_gpu_run_prepare(azs_source *src, const azs_run_options *o) { (void)src, (void)o; }
