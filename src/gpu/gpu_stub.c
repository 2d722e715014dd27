/* Built when CUDA is not found: every GPU entry point answers AZS_ERR_NO_DEVICE. The chunk
 * planner (gpu_plan.c) is plain C and is built either way. */
#include <string.h>

#include "azstream/gpu.h"
#include "common/error.h"

int azs_gpu_available(void) { return 0; }

void azs_gpu_config_default(azs_gpu_config *c)
{
    memset(c, 0, sizeof *c);
    c->batch = 32;
    c->nslots = 3;
    c->codec = AZS_CODEC_BSLZ4;
    c->dtype = AZS_U32;
}

azs_status azs_gpu_engine_create(const azs_gpu_config *c, const azs_csr_view *csr,
                                 azs_gpu_engine **out)
{
    (void)c;
    (void)csr;
    *out = NULL;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

void azs_gpu_engine_destroy(azs_gpu_engine *e) { (void)e; }
void azs_gpu_engine_keep(azs_gpu_engine *e) { (void)e; }

uint8_t *azs_gpu_host_chunk(azs_gpu_engine *e, uint32_t slot, uint32_t frame)
{
    (void)e; (void)slot; (void)frame;
    return NULL;
}

azs_gpu_item *azs_gpu_host_items(azs_gpu_engine *e, uint32_t slot)
{
    (void)e; (void)slot;
    return NULL;
}

size_t azs_gpu_items_capacity(const azs_gpu_engine *e)
{
    (void)e;
    return 0;
}

azs_status azs_gpu_submit(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                          const size_t *chunk_sizes, size_t nitems, uint32_t max_block,
                          const int32_t *host_status)
{
    (void)e; (void)slot; (void)nframes; (void)chunk_sizes; (void)nitems; (void)max_block;
    (void)host_status;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

azs_status azs_gpu_wait(azs_gpu_engine *e, uint32_t slot, const double **intensity,
                        const double **sigma, const int32_t **status, float *ms_gpu)
{
    (void)e; (void)slot; (void)intensity; (void)sigma; (void)status; (void)ms_gpu;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

azs_status azs_gpu_download_decoded(azs_gpu_engine *e, uint32_t slot, uint32_t frame, void *dst,
                                    size_t capacity)
{
    (void)e; (void)slot; (void)frame; (void)dst; (void)capacity;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

azs_status azs_gpu_time_kernels(azs_gpu_engine *e, uint32_t slot, int reps, float *ms_decode,
                                float *ms_integrate)
{
    (void)e; (void)slot; (void)reps; (void)ms_decode; (void)ms_integrate;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

azs_status azs_gpu_measure_bandwidth(int device, size_t bytes, double *h2d_gbs, double *d2d_gbs)
{
    (void)device; (void)bytes; (void)h2d_gbs; (void)d2d_gbs;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

azs_status azs_gpu_submit_from(azs_gpu_engine *e, uint32_t slot, uint32_t nframes,
                               const size_t *chunk_sizes, const void *const *chunk_src,
                               size_t nitems, uint32_t max_block, const int32_t *host_status)
{
    (void)chunk_src;
    return azs_gpu_submit(e, slot, nframes, chunk_sizes, nitems, max_block, host_status);
}

azs_status azs_gpu_host_register(int device, void *ptr, size_t len)
{
    (void)device; (void)ptr; (void)len;
    return azs_fail(AZS_ERR_NO_DEVICE, "gpu: this azstream was built without CUDA");
}

void azs_gpu_host_unregister(int device, void *ptr) { (void)device; (void)ptr; }

void azs_gpu_engine_prepare(const azs_gpu_config *c) { (void)c; }
