// GPU engine of layout 3 (contract: azstream/gpu.h; design and measurements:
// doc/gpu-notes.md): the engine, its batch slots and the host side of a batch. The
// kernels are in gpu_decode.cu (chunks → frames) and gpu_integrate.cu (frames → profiles).
//
// Data flow per batch slot (one CUDA stream each):
//   pinned chunks --H2D--> d_comp --decode--> d_raw (decoded frames, native dtype,
//   frame-major) --transpose--> d_rawT (pixel-major, the batch's frames side by side)
//   --integrate--> d_int / d_sig --D2H--> pinned profiles.
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu_internal.h"

extern "C" int azs_gpu_available(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess)
        return 0;
    return n;
}

extern "C" void azs_gpu_config_default(azs_gpu_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->nslots = 3;
    c->codec = AZS_CODEC_BSLZ4;
    c->dtype = AZS_U32;
}

static size_t round_up(size_t a, size_t b) { return (a + b - 1) / b * b; }

extern "C" void azs_gpu_engine_destroy(azs_gpu_engine *e)
{
    if (!e)
        return;
    cudaSetDevice(e->c.device);
    if (e->slots) {
        for (uint32_t s = 0; s < e->c.nslots; s++) {
            slot_t *sl = &e->slots[s];
            if (sl->stream)
                cudaStreamSynchronize(sl->stream);
            cudaFreeHost(sl->h_comp);
            cudaFreeHost(sl->h_items);
            cudaFreeHost(sl->h_status);
            cudaFreeHost(sl->h_int);
            cudaFreeHost(sl->h_sig);
            cudaFree(sl->d_comp);
            cudaFree(sl->d_raw);
            cudaFree(sl->d_items);
            cudaFree(sl->d_status);
            cudaFree(sl->d_part);
            cudaFree(sl->d_rawT);
            cudaFree(sl->d_int);
            cudaFree(sl->d_sig);
            if (sl->ev0) cudaEventDestroy(sl->ev0);
            if (sl->ev1) cudaEventDestroy(sl->ev1);
            if (sl->ev_dec) cudaEventDestroy(sl->ev_dec);
            if (sl->ev_int) cudaEventDestroy(sl->ev_int);
            if (sl->stream) cudaStreamDestroy(sl->stream);
        }
        free(e->slots);
    }
    azs_gpu_free_csr(e);
    free(e);
}

// Everything of an engine that does not depend on its matrix: context, streams, events,
// the pinned and device buffers of the chunks, items, statuses and decoded frames (with
// with_csr, also the pixel-major copy the integration reads). The caller checked c.
static azs_status engine_base(const azs_gpu_config *c, int with_csr, azs_gpu_engine **out)
{
    *out = NULL;
    CK(cudaSetDevice(c->device));
    size_t elem = c->elem_bytes ? c->elem_bytes : azs_dtype_size(c->dtype);
    azs_gpu_engine *e = (azs_gpu_engine *)calloc(1, sizeof *e);
    if (!e)
        return azs_fail(AZS_ERR_NOMEM, "gpu: engine");
    e->c = *c;
    e->asked = *c;
    e->elem = elem;
    e->frame_bytes = c->npixels * elem;
    e->raw_stride = round_up(e->frame_bytes, 256);
    e->c.chunk_stride = round_up(c->chunk_stride, 256);
    e->items_cap = (size_t)c->batch * azs_gpu_max_items_per_frame(c->codec, elem, e->frame_bytes);
    e->slots = (slot_t *)calloc(c->nslots, sizeof(slot_t));
    if (!e->slots) {
        free(e);
        return azs_fail(AZS_ERR_NOMEM, "gpu: slots");
    }
    cudaError_t err = cudaSuccess;
    const size_t B = c->batch;
    for (uint32_t s = 0; s < c->nslots && err == cudaSuccess; s++) {
        slot_t *sl = &e->slots[s];
        err = cudaStreamCreateWithFlags(&sl->stream, cudaStreamNonBlocking);
        if (!err) err = cudaEventCreate(&sl->ev0);
        if (!err) err = cudaEventCreate(&sl->ev1);
        if (!err) err = cudaEventCreate(&sl->ev_dec);
        if (!err) err = cudaEventCreate(&sl->ev_int);
        if (!err) err = cudaHostAlloc((void **)&sl->h_comp, B * e->c.chunk_stride, cudaHostAllocDefault);
        if (!err) err = cudaHostAlloc((void **)&sl->h_items, e->items_cap * sizeof(azs_gpu_item), cudaHostAllocDefault);
        if (!err) err = cudaHostAlloc((void **)&sl->h_status, B * sizeof(int32_t), cudaHostAllocDefault);
        if (!err) err = cudaMalloc((void **)&sl->d_comp, B * e->c.chunk_stride);
        if (!err) err = cudaMalloc((void **)&sl->d_raw, B * e->raw_stride);
        if (!err) err = cudaMalloc((void **)&sl->d_items, e->items_cap * sizeof(azs_gpu_item));
        if (!err) err = cudaMalloc((void **)&sl->d_status, B * sizeof(int32_t));
        if (with_csr && !err) err = cudaMalloc((void **)&sl->d_rawT, B * e->frame_bytes);
    }
    if (!err)
        err = azs_gpu_decode_setup();
    if (err != cudaSuccess) {
        azs_status st = azs_fail(AZS_ERR_GPU, "gpu: allocating %u slots of %u frames (%zu + %zu bytes each): %s",
                                 c->nslots, c->batch, e->c.chunk_stride, e->raw_stride, cudaGetErrorString(err));
        azs_gpu_engine_destroy(e);
        return st;
    }
    *out = e;
    return AZS_OK;
}

// What azs_gpu_engine_prepare started (one at a time, for the whole process).
static struct {
    pthread_mutex_t mu;
    int active;
    pthread_t th;
    azs_gpu_config c;
    azs_gpu_engine *e;
} prepared = {PTHREAD_MUTEX_INITIALIZER, 0, pthread_t(), azs_gpu_config(), NULL};

static void *prepare_main(void *arg)
{
    (void)arg;
    azs_gpu_engine *e = NULL;
    if (engine_base(&prepared.c, 1, &e) != AZS_OK)
        e = NULL; // create will try again and say why
    prepared.e = e; // read after the join
    return NULL;
}

// The prepared engine when its config is c (NULL: release it); an engine of another config
// leaves it for its own create. Lock held.
static azs_gpu_engine *take_prepared(const azs_gpu_config *c)
{
    if (!prepared.active || (c && memcmp(&prepared.c, c, sizeof *c) != 0))
        return NULL;
    pthread_join(prepared.th, NULL);
    prepared.active = 0;
    azs_gpu_engine *e = prepared.e;
    prepared.e = NULL;
    if (c)
        return e; // NULL if it failed: create tries again and says why
    azs_gpu_engine_destroy(e);
    return NULL;
}

// What azs_gpu_engine_keep kept (one for the whole process).
static struct {
    pthread_mutex_t mu;
    azs_gpu_engine *e;
} kept = {PTHREAD_MUTEX_INITIALIZER, NULL};

static bool same_rule(const azs_pixel_rule &a, const azs_pixel_rule &b)
{
    // bit patterns, so that a NaN dummy equals itself
    return a.has_dummy == b.has_dummy && !memcmp(&a.dummy, &b.dummy, sizeof a.dummy) &&
           !memcmp(&a.delta_dummy, &b.delta_dummy, sizeof a.delta_dummy) &&
           a.error_model == b.error_model && a.variance_dark == b.variance_dark &&
           !memcmp(&a.empty, &b.empty, sizeof a.empty);
}

static bool same_matrix(const azs_csr_view &a, const azs_csr_view &b)
{
    return a.nbins == b.nbins && a.npixels == b.npixels && a.indptr == b.indptr && a.indices == b.indices &&
           a.weights == b.weights && a.norm_factor == b.norm_factor && a.dark == b.dark &&
           a.tile_px == b.tile_px && same_rule(a.rule, b.rule);
}

static bool same_config(const azs_gpu_config &a, const azs_gpu_config &b)
{
    return a.device == b.device && a.dtype == b.dtype && a.codec == b.codec && a.elem_bytes == b.elem_bytes &&
           a.npixels == b.npixels && a.batch == b.batch && a.nslots == b.nslots &&
           a.chunk_stride == b.chunk_stride;
}

extern "C" void azs_gpu_engine_keep(azs_gpu_engine *e)
{
    if (e) {
        bool ok = e->has_csr != 0;
        cudaSetDevice(e->c.device);
        for (uint32_t s = 0; ok && s < e->c.nslots; s++)
            ok = cudaStreamSynchronize(e->slots[s].stream) == cudaSuccess;
        if (!ok) {
            azs_gpu_engine_destroy(e);
            e = NULL;
        }
        for (uint32_t s = 0; e && s < e->c.nslots; s++)
            e->slots[s].busy = 0;
    }
    pthread_mutex_lock(&kept.mu);
    azs_gpu_engine *old = kept.e;
    kept.e = e;
    pthread_mutex_unlock(&kept.mu);
    azs_gpu_engine_destroy(old);
}

// The kept engine if it has config c and matrix v (then no longer kept), else NULL.
static azs_gpu_engine *take_kept(const azs_gpu_config *c, const azs_csr_view *v)
{
    pthread_mutex_lock(&kept.mu);
    azs_gpu_engine *e = kept.e;
    if (e && same_config(e->asked, *c) && same_matrix(e->csr, *v))
        kept.e = NULL;
    else
        e = NULL;
    pthread_mutex_unlock(&kept.mu);
    return e;
}

extern "C" void azs_gpu_engine_prepare(const azs_gpu_config *c)
{
    pthread_mutex_lock(&prepared.mu);
    take_prepared(NULL); // one at a time: an earlier one is released
    if (c) {
        prepared.c = *c;
        prepared.e = NULL;
        prepared.active = pthread_create(&prepared.th, NULL, prepare_main, NULL) == 0;
    }
    pthread_mutex_unlock(&prepared.mu);
}

extern "C" azs_status azs_gpu_engine_create(const azs_gpu_config *c, const azs_csr_view *csr,
                                            azs_gpu_engine **out)
{
    *out = NULL;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0)
        return azs_fail(AZS_ERR_NO_DEVICE, "gpu: no CUDA device visible");
    if (c->device < 0 || c->device >= ndev)
        return azs_fail(AZS_ERR_NO_DEVICE, "gpu: device %d requested, %d present", c->device,
                        ndev);
    size_t elem = c->elem_bytes ? c->elem_bytes : azs_dtype_size(c->dtype);
    if (c->elem_bytes && (csr || c->elem_bytes > AZS_GPU_MAX_ELEM_BYTES))
        return azs_fail(AZS_ERR_INVALID_ARG,
                        "gpu: element size %u (only for decode-only engines, at most %u)",
                        c->elem_bytes, AZS_GPU_MAX_ELEM_BYTES);
    if (elem == 0 || c->batch == 0 || c->nslots == 0 || c->npixels == 0 || c->chunk_stride == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu: engine config (dtype, batch, slots, pixels)");
    if (csr && (c->dtype == AZS_U64 || c->dtype == AZS_I64))
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: pixel type %s", azs_dtype_name(c->dtype));
    if (csr && csr->rule.empty != 0.0f) /* its kernels write 0 in empty bins */
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: an empty-bin value other than 0 (--empty) needs a CPU engine");
    azs_gpu_engine *e = NULL;
    if (csr && (e = take_kept(c, csr)) != NULL) {
        *out = e;
        return AZS_OK;
    }
    if (csr) { // what was prepared is for an engine with a matrix
        pthread_mutex_lock(&prepared.mu);
        e = take_prepared(c);
        pthread_mutex_unlock(&prepared.mu);
    }
    azs_status st = AZS_OK;
    if (!e && (st = engine_base(c, csr != NULL, &e)) != AZS_OK)
        return st;
    CK(cudaSetDevice(c->device));
    if (csr) {
        e->has_csr = 1;
        e->csr = *csr;
        e->want_sigma = csr->rule.error_model != AZS_ERRMODEL_NONE;
        st = azs_gpu_upload_csr(e, csr);
        if (st != AZS_OK) {
            azs_gpu_engine_destroy(e);
            return st;
        }
        cudaError_t err = cudaSuccess;
        const size_t B = c->batch, nb = B * e->nbins;
        for (uint32_t s = 0; s < c->nslots && err == cudaSuccess; s++) {
            slot_t *sl = &e->slots[s];
            err = cudaHostAlloc((void **)&sl->h_int, nb * sizeof(double), cudaHostAllocDefault);
            if (!err) err = cudaMalloc((void **)&sl->d_int, nb * sizeof(double));
            if (!err) err = cudaMalloc((void **)&sl->d_part, azs_gpu_part_doubles(e) * B * sizeof(double));
            if (e->want_sigma) {
                if (!err) err = cudaHostAlloc((void **)&sl->h_sig, nb * sizeof(double), cudaHostAllocDefault);
                if (!err) err = cudaMalloc((void **)&sl->d_sig, nb * sizeof(double));
            }
        }
        if (err != cudaSuccess) {
            st = azs_fail(AZS_ERR_GPU, "gpu: profile buffers of %u slots (%u bins): %s", c->nslots,
                          e->nbins, cudaGetErrorString(err));
            azs_gpu_engine_destroy(e);
            return st;
        }
    }
    *out = e;
    return AZS_OK;
}

extern "C" azs_status azs_gpu_host_register(int device, void *ptr, size_t len)
{
    CK(cudaSetDevice(device));
    int ro = 0;
    cudaDeviceGetAttribute(&ro, cudaDevAttrHostRegisterReadOnlySupported, device);
    if (!ro)
        return azs_fail(AZS_ERR_UNSUPPORTED, "gpu: device %d cannot register read-only host memory "
                        "(cudaDevAttrHostRegisterReadOnlySupported is 0)", device);
    cudaError_t err = cudaHostRegister(ptr, len, cudaHostRegisterReadOnly | cudaHostRegisterPortable);
    if (err == cudaSuccess)
        return AZS_OK;
    cudaGetLastError(); // clear it: the caller goes on without registration
    return azs_fail(err == cudaErrorNotSupported || err == cudaErrorInvalidValue ||
                            err == cudaErrorHostMemoryAlreadyRegistered
                        ? AZS_ERR_UNSUPPORTED
                        : AZS_ERR_GPU,
                    "gpu: cudaHostRegister of %zu bytes of a read-only mapping: %s", len,
                    cudaGetErrorString(err));
}

extern "C" void azs_gpu_host_unregister(int device, void *ptr)
{
    cudaSetDevice(device);
    cudaHostUnregister(ptr);
}

extern "C" uint8_t *azs_gpu_host_chunk(azs_gpu_engine *e, uint32_t slot, uint32_t frame)
{
    return e->slots[slot].h_comp + (size_t)frame * e->c.chunk_stride;
}

extern "C" azs_gpu_item *azs_gpu_host_items(azs_gpu_engine *e, uint32_t slot)
{
    return e->slots[slot].h_items;
}

extern "C" size_t azs_gpu_items_capacity(const azs_gpu_engine *e) { return e->items_cap; }

extern "C" azs_status azs_gpu_submit(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                                     const size_t *chunk_sizes, size_t nitems, uint32_t max_block,
                                     const int32_t *host_status)
{
    return azs_gpu_submit_from(e, slot, nframes, chunk_sizes, NULL, nitems, max_block, host_status);
}

extern "C" azs_status azs_gpu_submit_from(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                                          const size_t *chunk_sizes, const void *const *chunk_src,
                                          size_t nitems, uint32_t max_block,
                                          const int32_t *host_status)
{
    if (slot >= e->c.nslots || nframes > e->c.batch || nitems > e->items_cap)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu submit: slot %u, %u frames, %zu items", slot,
                        nframes, nitems);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    sl->nframes = nframes;
    sl->nitems = nitems;
    sl->max_block = max_block;
    memcpy(sl->h_status, host_status, nframes * sizeof(int32_t));
    cudaStream_t s = sl->stream;
    CK(cudaEventRecord(sl->ev0, s));
    // Contiguous upload when the chunks are all in the slot and fill their strides well,
    // else one copy per frame (from wherever it lies).
    size_t used = 0;
    int elsewhere = 0;
    for (uint32_t i = 0; i < nframes; i++) {
        used += chunk_sizes[i];
        elsewhere |= chunk_src && chunk_src[i];
    }
    size_t span = nframes ? (size_t)(nframes - 1) * e->c.chunk_stride + chunk_sizes[nframes - 1] : 0;
    if (!elsewhere && span <= used + used / 4) {
        if (span)
            CK(cudaMemcpyAsync(sl->d_comp, sl->h_comp, span, cudaMemcpyHostToDevice, s));
    } else {
        for (uint32_t i = 0; i < nframes; i++) {
            const void *from = chunk_src && chunk_src[i] ? chunk_src[i]
                                                         : sl->h_comp + (size_t)i * e->c.chunk_stride;
            if (chunk_sizes[i] && host_status[i] == 0)
                CK(cudaMemcpyAsync(sl->d_comp + (size_t)i * e->c.chunk_stride, from, chunk_sizes[i],
                                   cudaMemcpyHostToDevice, s));
        }
    }
    if (nitems)
        CK(cudaMemcpyAsync(sl->d_items, sl->h_items, nitems * sizeof(azs_gpu_item),
                           cudaMemcpyHostToDevice, s));
    CK(cudaMemcpyAsync(sl->d_status, sl->h_status, nframes * sizeof(int32_t),
                       cudaMemcpyHostToDevice, s));
    CK(azs_gpu_launch_decode(e, sl));
    CK(cudaEventRecord(sl->ev_dec, s));
    CK(azs_gpu_launch_integrate(e, sl));
    CK(cudaEventRecord(sl->ev_int, s));
    if (e->has_csr && nframes) {
        size_t nb = (size_t)nframes * e->nbins * sizeof(double);
        CK(cudaMemcpyAsync(sl->h_int, sl->d_int, nb, cudaMemcpyDeviceToHost, s));
        if (e->want_sigma)
            CK(cudaMemcpyAsync(sl->h_sig, sl->d_sig, nb, cudaMemcpyDeviceToHost, s));
    }
    CK(cudaMemcpyAsync(sl->h_status, sl->d_status, nframes * sizeof(int32_t),
                       cudaMemcpyDeviceToHost, s));
    CK(cudaEventRecord(sl->ev1, s));
    sl->busy = 1;
    return AZS_OK;
}

extern "C" azs_status azs_gpu_wait(azs_gpu_engine *e, uint32_t slot, const double **intensity,
                                   const double **sigma, const int32_t **status, float *ms_gpu)
{
    if (slot >= e->c.nslots)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu wait: slot %u", slot);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaEventSynchronize(sl->ev1));
    sl->busy = 0;
    if (ms_gpu)
        CK(cudaEventElapsedTime(ms_gpu, sl->ev0, sl->ev1));
    if (intensity)
        *intensity = sl->h_int;
    if (sigma)
        *sigma = sl->h_sig;
    if (status)
        *status = sl->h_status;
    return AZS_OK;
}

extern "C" azs_status azs_gpu_download_decoded(azs_gpu_engine *e, uint32_t slot, uint32_t frame,
                                               void *dst, size_t capacity)
{
    if (slot >= e->c.nslots || frame >= e->c.batch || capacity < e->frame_bytes)
        return azs_fail(AZS_ERR_INVALID_ARG, "gpu download: slot %u frame %u", slot, frame);
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaMemcpyAsync(dst, sl->d_raw + (size_t)frame * e->raw_stride, e->frame_bytes,
                       cudaMemcpyDeviceToHost, sl->stream));
    CK(cudaStreamSynchronize(sl->stream));
    return AZS_OK;
}

extern "C" azs_status azs_gpu_time_kernels(azs_gpu_engine *e, uint32_t slot, int reps,
                                           float *ms_decode, float *ms_integrate)
{
    slot_t *sl = &e->slots[slot];
    CK(cudaSetDevice(e->c.device));
    CK(cudaStreamSynchronize(sl->stream));
    // Keep the statuses the real run found: re-upload them before each decode so that a
    // repeated run does the same work.
    int32_t *d_keep = NULL;
    CK(cudaMalloc((void **)&d_keep, sl->nframes * sizeof(int32_t) + 4));
    CK(cudaMemcpyAsync(d_keep, sl->h_status, sl->nframes * sizeof(int32_t), cudaMemcpyHostToDevice,
                       sl->stream));
    float td = 0, ti = 0;
    cudaEvent_t a, b, c;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    CK(cudaEventCreate(&c));
    for (int r = 0; r < reps; r++) {
        CK(cudaMemcpyAsync(sl->d_status, d_keep, sl->nframes * sizeof(int32_t),
                           cudaMemcpyDeviceToDevice, sl->stream));
        CK(cudaEventRecord(a, sl->stream));
        CK(azs_gpu_launch_decode(e, sl));
        CK(cudaEventRecord(b, sl->stream));
        CK(azs_gpu_launch_integrate(e, sl));
        CK(cudaEventRecord(c, sl->stream));
        CK(cudaEventSynchronize(c));
        float x, y;
        CK(cudaEventElapsedTime(&x, a, b));
        CK(cudaEventElapsedTime(&y, b, c));
        td += x;
        ti += y;
    }
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaEventDestroy(c);
    cudaFree(d_keep);
    if (ms_decode)
        *ms_decode = reps ? td / reps : 0;
    if (ms_integrate)
        *ms_integrate = reps ? ti / reps : 0;
    return AZS_OK;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

extern "C" azs_status azs_gpu_measure_bandwidth(int device, size_t bytes, double *h2d_gbs,
                                                double *d2d_gbs)
{
    CK(cudaSetDevice(device));
    void *h = NULL, *d1 = NULL, *d2 = NULL;
    CK(cudaHostAlloc(&h, bytes, cudaHostAllocDefault));
    memset(h, 1, bytes);
    CK(cudaMalloc(&d1, bytes));
    CK(cudaMalloc(&d2, bytes));
    cudaEvent_t a, b;
    CK(cudaEventCreate(&a));
    CK(cudaEventCreate(&b));
    enum { R = 7 };
    float th[R], td[R];
    for (int r = 0; r < R + 1; r++) { // first round = warm-up
        CK(cudaEventRecord(a));
        CK(cudaMemcpyAsync(d1, h, bytes, cudaMemcpyHostToDevice));
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        if (r) CK(cudaEventElapsedTime(&th[r - 1], a, b));
        CK(cudaEventRecord(a));
        CK(cudaMemcpyAsync(d2, d1, bytes, cudaMemcpyDeviceToDevice));
        CK(cudaEventRecord(b));
        CK(cudaEventSynchronize(b));
        if (r) CK(cudaEventElapsedTime(&td[r - 1], a, b));
    }
    qsort(th, R, sizeof(float), cmp_float);
    qsort(td, R, sizeof(float), cmp_float);
    *h2d_gbs = bytes / (th[R / 2] * 1e-3) / 1e9;
    *d2d_gbs = 2.0 * bytes / (td[R / 2] * 1e-3) / 1e9;
    cudaEventDestroy(a);
    cudaEventDestroy(b);
    cudaFree(d1);
    cudaFree(d2);
    cudaFreeHost(h);
    return AZS_OK;
}
