/* The GPU path of a stream (src/stream/stream_run_gpu.c) without a device: the GPU engine
 * (azstream/gpu.h) is replaced by a double keeping its contract (slots of chunk buffers and
 * items, submit then wait, a per-frame status: the host's, or a codec error it found) that
 * decodes each frame on the CPU and integrates it with azs_integrate_frame, so a row it gives
 * is the CPU's by construction. What is tested is everything around the engine: batches,
 * their flush, planning and item compaction (the double checks every item lies inside its
 * frame's chunk and belongs to a frame the host let through), the host path, row order, gap
 * rows, skip_bad. A series is sent over ipc by a thread (bslz4, lz4 and raw images, image_id
 * gaps, an image arriving after a later one, a series short of number_of_images, a corrupt
 * LZ4 payload the "device" finds, a bad chunk header and a truncated chunk the planner
 * refuses, an image of another shape) and integrated by the CPU path (layout threads) and by
 * the GPU path with several batch sizes; the rows (image_id, frame_status, the bits of I and
 * sigma) must be equal. The real engine against the CPU engine: tests/gpu; the whole path on
 * a device: stream.gpu. */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "azstream/codec.h"
#include "azstream/gpu.h"
#include "azstream/stream.h"
#include "../common/check.h"
#include "stream/stream_run.h"

#define NY 48
#define NX 40
#define NBINS 32
#define NIMAGES 24 /* number_of_images announced */

/* ------------------------------------------------------------------ the engine double */
static const azs_integrator *g_it; /* the integrator the double integrates with */
static int g_submits, g_contract_errors, g_device_rows; /* g_device_rows: integrated by the double */

typedef struct dslot {
    uint8_t *chunks;
    azs_gpu_item *items;
    uint32_t nframes;
    size_t nitems, *sizes;
    int32_t *status;
    double *inten, *sig;
} dslot;

struct azs_gpu_engine {
    azs_gpu_config c;
    size_t frame_bytes, items_cap, nbins;
    dslot s[8];
};

int azs_gpu_available(void) { return 1; }

void azs_gpu_config_default(azs_gpu_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->nslots = 3;
    c->codec = AZS_CODEC_BSLZ4;
    c->dtype = AZS_U32;
}

azs_status azs_gpu_engine_create(const azs_gpu_config *c, const azs_csr_view *csr, azs_gpu_engine **out)
{
    azs_gpu_engine *e = calloc(1, sizeof *e);
    if (!e || c->nslots > 8)
        return AZS_ERR_NOMEM;
    e->c = *c;
    e->frame_bytes = c->npixels * azs_dtype_size(c->dtype);
    e->items_cap = c->batch * azs_gpu_max_items_per_frame(c->codec, azs_dtype_size(c->dtype), e->frame_bytes);
    e->nbins = csr->nbins;
    for (uint32_t k = 0; k < c->nslots; k++) {
        dslot *s = &e->s[k];
        s->chunks = malloc(c->batch * c->chunk_stride);
        s->items = malloc(e->items_cap * sizeof *s->items);
        s->sizes = calloc(c->batch, sizeof *s->sizes);
        s->status = calloc(c->batch, sizeof *s->status);
        s->inten = calloc(c->batch * e->nbins, sizeof(double));
        s->sig = calloc(c->batch * e->nbins, sizeof(double));
    }
    *out = e;
    return AZS_OK;
}

void azs_gpu_engine_destroy(azs_gpu_engine *e)
{
    if (!e)
        return;
    for (uint32_t k = 0; k < e->c.nslots; k++) {
        dslot *s = &e->s[k];
        free(s->chunks);
        free(s->items);
        free(s->sizes);
        free(s->status);
        free(s->inten);
        free(s->sig);
    }
    free(e);
}

uint8_t *azs_gpu_host_chunk(azs_gpu_engine *e, uint32_t slot, uint32_t frame)
{
    return e->s[slot].chunks + (size_t)frame * e->c.chunk_stride;
}

azs_gpu_item *azs_gpu_host_items(azs_gpu_engine *e, uint32_t slot) { return e->s[slot].items; }

size_t azs_gpu_items_capacity(const azs_gpu_engine *e) { return e->items_cap; }

azs_status azs_gpu_submit(azs_gpu_engine *e, uint32_t slot, uint32_t nframes, const size_t *chunk_sizes,
                          size_t nitems, uint32_t max_block, const int32_t *host_status)
{
    (void)max_block;
    dslot *s = &e->s[slot];
    if (nframes == 0 || nframes > e->c.batch || nitems > e->items_cap)
        g_contract_errors++;
    __atomic_add_fetch(&g_submits, 1, __ATOMIC_RELAXED);
    s->nframes = nframes;
    s->nitems = nitems;
    memcpy(s->sizes, chunk_sizes, nframes * sizeof *chunk_sizes);
    memcpy(s->status, host_status, nframes * sizeof *host_status);
    for (size_t k = 0; k < nitems; k++) {
        const azs_gpu_item *it = &s->items[k];
        if (it->frame >= nframes || host_status[it->frame] != AZS_OK ||
            (size_t)it->src_off + it->src_len > chunk_sizes[it->frame] ||
            (size_t)it->dst_off + it->dst_len > e->frame_bytes)
            g_contract_errors++;
    }
    return AZS_OK;
}

/* The "device": each frame the host let through decoded (its codec told by its items) and
 * integrated on the CPU. */
azs_status azs_gpu_wait(azs_gpu_engine *e, uint32_t slot, const double **intensity, const double **sigma,
                        const int32_t **status, float *ms_gpu)
{
    dslot *s = &e->s[slot];
    azs_workspace *ws = NULL;
    void *px = malloc(e->frame_bytes);
    CHECK_EXPR(azs_workspace_create(g_it, &ws) == AZS_OK && px);
    for (uint32_t i = 0; i < s->nframes; i++) {
        if (s->status[i] != AZS_OK)
            continue; /* the host's status comes back */
        azs_codec codec = s->sizes[i] == e->frame_bytes ? AZS_CODEC_NONE : AZS_CODEC_BSLZ4;
        for (size_t k = 0; k < s->nitems; k++)
            if (s->items[k].frame == i && s->items[k].kind == AZS_GPU_ITEM_LZ4)
                codec = AZS_CODEC_LZ4;
        size_t n = 0;
        azs_status st = azs_chunk_decode(codec, azs_dtype_size(e->c.dtype), s->chunks + (size_t)i * e->c.chunk_stride,
                                         s->sizes[i], px, e->frame_bytes, &n);
        if (st == AZS_OK && n != e->frame_bytes)
            st = AZS_ERR_SIZE_MISMATCH;
        azs_frame_result fr = {0};
        fr.intensity = s->inten + (size_t)i * e->nbins;
        fr.sigma = s->sig + (size_t)i * e->nbins;
        if (st == AZS_OK)
            st = azs_integrate_frame(g_it, ws, px, e->c.dtype, &fr);
        s->status[i] = st == AZS_ERR_CAPACITY ? AZS_ERR_CORRUPT : st;
        g_device_rows += st == AZS_OK;
    }
    azs_workspace_destroy(ws);
    free(px);
    *intensity = s->inten;
    if (sigma)
        *sigma = s->sig;
    *status = s->status;
    if (ms_gpu)
        *ms_gpu = 0;
    return AZS_OK;
}

azs_status azs_gpu_download_decoded(azs_gpu_engine *e, uint32_t slot, uint32_t frame, void *dst, size_t capacity)
{
    (void)e, (void)slot, (void)frame, (void)dst, (void)capacity;
    return AZS_ERR_UNSUPPORTED;
}

azs_status azs_gpu_time_kernels(azs_gpu_engine *e, uint32_t slot, int reps, float *ms_decode, float *ms_integrate)
{
    (void)e, (void)slot, (void)reps, (void)ms_decode, (void)ms_integrate;
    return AZS_ERR_UNSUPPORTED;
}

azs_status azs_gpu_measure_bandwidth(int device, size_t bytes, double *h2d_gbs, double *d2d_gbs)
{
    (void)device, (void)bytes, (void)h2d_gbs, (void)d2d_gbs;
    return AZS_ERR_UNSUPPORTED;
}

/* ------------------------------------------------------------------ the sender */
enum { K_BSLZ4, K_LZ4, K_RAW, K_CORRUPT, K_BAD_HEADER, K_TRUNCATED, K_OTHER_SHAPE };

typedef struct sent { uint64_t id; int kind; } sent;
/* 3, 4 and 17 never sent, 19 after 20, 22 and 23 short of number_of_images */
static const sent SERIES[] = {{0, K_BSLZ4}, {1, K_LZ4}, {2, K_RAW}, {5, K_CORRUPT}, {6, K_BSLZ4}, {7, K_RAW},
                              {8, K_BAD_HEADER}, {9, K_LZ4}, {10, K_BSLZ4}, {11, K_OTHER_SHAPE}, {12, K_BSLZ4},
                              {13, K_TRUNCATED}, {14, K_LZ4}, {15, K_BSLZ4}, {16, K_RAW}, {18, K_BSLZ4},
                              {20, K_LZ4}, {19, K_BSLZ4}, {21, K_BSLZ4}};
#define NSENT (sizeof SERIES / sizeof SERIES[0])

typedef struct sender { const char *endpoint; int pace_ms; } sender;

static void send_msg(azs_stream_socket *s, uint8_t *m, size_t n)
{
    CHECK_EXPR(azs_stream_send(s, m, n, NULL) == AZS_OK);
    free(m);
}

static void *sender_main(void *arg)
{
    const sender *sd = arg;
    azs_stream_socket *s = NULL;
    CHECK_EXPR(azs_stream_push_bind(sd->endpoint, &s) == AZS_OK);
    azs_stream_start st;
    memset(&st, 0, sizeof st);
    st.series_id = 7;
    st.image_size_x = NX;
    st.image_size_y = NY;
    st.image_dtype = AZS_U32;
    st.nchannels = 1;
    strcpy(st.channels[0], "threshold_1");
    st.has_nimages = 1;
    st.number_of_images = NIMAGES;
    uint8_t *m = NULL;
    size_t n = 0;
    CHECK_EXPR(azs_stream_encode_start(&st, &m, &n) == AZS_OK);
    send_msg(s, m, n);
    static uint32_t px[NY * NX];
    static uint8_t chunk[4 * NY * NX * 2];
    for (size_t k = 0; k < NSENT; k++) {
        const uint64_t id = SERIES[k].id;
        const int kind = SERIES[k].kind;
        for (size_t p = 0; p < NY * NX; p++) /* rings of counts, a dummy pixel line */
            px[p] = (uint32_t)(50 + (p % NX) * (id + 3) % 400 + (p / NX) * 3) ^ (uint32_t)(id * 17 % 5);
        for (size_t x = 0; x < NX; x++)
            px[20 * NX + x] = 0xFFFFFFFFu;
        azs_stream_array a = {NY, NX, AZS_U32, 4, AZS_CODEC_NONE, px, sizeof px};
        if (kind != K_RAW && kind != K_OTHER_SHAPE) {
            a.codec = kind == K_LZ4 ? AZS_CODEC_LZ4 : AZS_CODEC_BSLZ4;
            /* blocks of 1 KiB: several items per frame */
            CHECK_EXPR(azs_chunk_encode(a.codec, 4, 256, px, sizeof px, chunk, sizeof chunk, &a.nbytes) == AZS_OK);
            if (kind == K_CORRUPT) { /* first block: a match one byte back at output 0 */
                chunk[16] = 0x00;
                chunk[17] = 0x01;
                chunk[18] = 0x00;
            } else if (kind == K_BAD_HEADER) {
                const uint64_t t = sizeof px + 4096;
                for (int b = 0; b < 8; b++)
                    chunk[b] = (uint8_t)(t >> (56 - 8 * b));
            } else if (kind == K_TRUNCATED) {
                a.nbytes /= 2;
            }
            a.bytes = chunk;
        }
        if (kind == K_OTHER_SHAPE) {
            a.ny = NX;
            a.nx = NY;
        }
        CHECK_EXPR(azs_stream_encode_image(7, id, "threshold_1", &a, &m, &n) == AZS_OK);
        send_msg(s, m, n);
        if (sd->pace_ms) {
            struct timespec ts = {0, sd->pace_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    CHECK_EXPR(azs_stream_encode_end(7, &m, &n) == AZS_OK);
    send_msg(s, m, n);
    azs_stream_close(s, -1);
    return NULL;
}

/* ------------------------------------------------------------------ the receiver */
typedef struct rows {
    size_t n;
    uint64_t id[64];
    int32_t status[64];
    double inten[64][NBINS], sig[64][NBINS];
} rows;

static azs_status collect(void *ctx, uint64_t frame, const double *intensity, const double *sigma, azs_status fs)
{
    rows *r = ctx;
    if (r->n == 64)
        return AZS_ERR_CAPACITY;
    r->id[r->n] = frame;
    r->status[r->n] = (int32_t)fs;
    memcpy(r->inten[r->n], intensity, sizeof r->inten[0]);
    memcpy(r->sig[r->n], sigma, sizeof r->sig[0]);
    r->n++;
    return AZS_OK;
}

static azs_status run(azs_layout layout, uint32_t batch, uint32_t slots, int skip_bad, int pace_ms, rows *out,
                      char *err, size_t errcap)
{
    static int serial;
    char endpoint[128];
    snprintf(endpoint, sizeof endpoint, "ipc:///tmp/azs_gpu_double_%d_%d", (int)getpid(), serial++);
    memset(out, 0, sizeof *out);
    sender sd = {endpoint, pace_ms};
    pthread_t th;
    CHECK_EXPR(pthread_create(&th, NULL, sender_main, &sd) == 0);
    azs_stream_socket *sock = NULL;
    CHECK_EXPR(azs_stream_pull_open(endpoint, 0, &sock) == AZS_OK);
    azs_stream_msg *start = NULL, *first = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK_EXPR(azs_stream_recv(sock, -1, NULL, &buf, &n) == AZS_OK && azs_stream_msg_decode(buf, n, &start) == AZS_OK);
    free(buf);
    CHECK_EXPR(azs_stream_recv(sock, -1, NULL, &buf, &n) == AZS_OK && azs_stream_msg_decode(buf, n, &first) == AZS_OK);
    free(buf);
    azs_run_options ro;
    memset(&ro, 0, sizeof ro); /* what a stream reads of it is set below */
    ro.layout = layout;
    ro.workers = 2;
    ro.skip_bad = skip_bad;
    ro.gpu_batch = batch;
    ro.gpu_slots = slots;
    azs_sink_ops sink = {out, collect};
    azs_stream_inbox *inbox = NULL;
    CHECK_EXPR(azs_stream_inbox_create(sock, 1, NULL, NULL, &inbox) == AZS_OK);
    azs_stream_series s = {inbox, "threshold_1", NY, NX, AZS_U32, 7, NIMAGES, first, g_it, &ro, &sink, NULL, NULL,
                           NULL};
    azs_stream_series_summary sum;
    azs_stream_msg *next = NULL;
    azs_status st = azs_stream_run_series(&s, &sum, &next);
    snprintf(err, errcap, "%s", st == AZS_OK ? "" : azs_last_error());
    free(sum.latency);
    azs_stream_msg_free(next);
    azs_stream_msg_free(start);
    pthread_join(th, NULL);
    azs_stream_inbox_destroy(inbox);
    azs_stream_close(sock, 0);
    return st;
}

static int same_rows(const rows *a, const rows *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t r = 0; r < a->n; r++)
        if (a->id[r] != b->id[r] || a->status[r] != b->status[r] ||
            memcmp(a->inten[r], b->inten[r], sizeof a->inten[r]) || memcmp(a->sig[r], b->sig[r], sizeof a->sig[r]))
            return 0;
    return 1;
}

int main(void)
{
    azs_geometry g;
    memset(&g, 0, sizeof g);
    azs_detector_generic(&g.det, 172e-6, 172e-6, NY, NX);
    g.dist = 0.1;
    g.poni1 = 0.0041;
    g.poni2 = 0.0035;
    g.rot1 = 0.01;
    g.wavelength = 1e-10;
    g.poni_version = 2.1;
    azs_integrate_options io;
    azs_integrate_options_default(&io);
    io.npt = NBINS;
    io.error_model = AZS_ERRMODEL_POISSON;
    io.has_dummy = 1;
    io.dummy = 4294967295.0;
    azs_integrator *it = NULL;
    CHECK_EXPR(azs_integrator_create(&g, &io, &it) == AZS_OK);
    CHECK_EXPR(azs_integrator_nbins(it) == NBINS);
    g_it = it;

    static rows cpu, gpu;
    char e1[1024], e2[1024];
    CHECK_EXPR(run(AZS_LAYOUT_THREADS, 0, 0, 1, 0, &cpu, e1, sizeof e1) == AZS_OK);
    /* the expected rows, from the series as sent (not from the code under test) */
    static const uint64_t ids[] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 19,
                                   21, 22, 23};
    CHECK_EXPR(cpu.n == sizeof ids / sizeof ids[0]);
    for (size_t r = 0; r < cpu.n; r++) {
        CHECK_EXPR(cpu.id[r] == ids[r]);
        const uint64_t i = ids[r];
        const int gap = i == 3 || i == 4 || i == 17 || (i == 19 && r == 19) || i == 22 || i == 23;
        const int32_t want = gap ? AZS_ERR_STREAM_GAP : i == 5 ? AZS_ERR_CORRUPT
                           : i == 8 || i == 11 ? AZS_ERR_SIZE_MISMATCH : i == 13 ? AZS_ERR_TRUNCATED : AZS_OK;
        CHECK(cpu.status[r] == want, "row %zu (image %llu): status %d, expected %d", r, (unsigned long long)i,
                   cpu.status[r], want);
        CHECK_EXPR(isnan(cpu.inten[r][0]) == (want != AZS_OK));
    }

    /* batches of 4 (gaps and bad rows inside batches), of 1, and one large batch filled by
     * a paced sender: only the flush submits it before the series' end */
    static const uint32_t batches[][2] = {{4, 3}, {1, 2}, {5, 2}};
    for (size_t k = 0; k < 3; k++) {
        g_submits = g_device_rows = 0;
        CHECK(run(AZS_LAYOUT_GPU, batches[k][0], batches[k][1], 1, 0, &gpu, e2, sizeof e2) == AZS_OK, "%s",
                   e2);
        CHECK(same_rows(&cpu, &gpu), "gpu batch %u x %u slots: rows differ from the CPU's", batches[k][0],
                   batches[k][1]);
        /* the 15 good images went through the "device" */
        CHECK(g_submits > 0 && g_device_rows == 15, "%d submits, %d rows on the device", g_submits, g_device_rows);
    }
    g_submits = 0;
    CHECK(run(AZS_LAYOUT_GPU, 64, 2, 1, 15, &gpu, e2, sizeof e2) == AZS_OK, "%s", e2);
    CHECK(same_rows(&cpu, &gpu), "gpu, paced sender: rows differ from the CPU's");
    CHECK(g_submits >= 2, "a paced series of %zu images in batches of 64: %d submits (no flush?)", NSENT,
               g_submits);
    CHECK_EXPR(g_contract_errors == 0);

    /* without skip_bad: both stop at image 5, the rows before it written, the same message */
    CHECK_EXPR(run(AZS_LAYOUT_THREADS, 0, 0, 0, 0, &cpu, e1, sizeof e1) == AZS_ERR_CORRUPT);
    CHECK_EXPR(run(AZS_LAYOUT_GPU, 4, 3, 0, 0, &gpu, e2, sizeof e2) == AZS_ERR_CORRUPT);
    CHECK_EXPR(cpu.n == 5 && same_rows(&cpu, &gpu));
    CHECK(!strcmp(e1, e2), "messages differ:\n  cpu: %s\n  gpu: %s", e1, e2);
    CHECK_EXPR(strstr(e2, "image 5") != NULL);
    azs_integrator_destroy(it);
    if (failures)
        fprintf(stderr, "stream gpu double: %d checks failed\n", failures);
    return failures != 0;
}
