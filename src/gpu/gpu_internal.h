// Internal to src/gpu: the engine's state shared by its three files (gpu_engine.cu: the
// engine and its slots; gpu_decode.cu: the decoder kernel; gpu_integrate.cu: the matrix
// upload and the integration kernels). CUDA C++ only.
#ifndef AZS_GPU_INTERNAL_H
#define AZS_GPU_INTERNAL_H

#include <cuda_runtime.h>
#include <stdint.h>

// common/error.h and types.h carry no extern "C" guards of their own.
extern "C" {
#include "azstream/gpu.h"
#include "common/error.h"
}

#define CK(call)                                                                          \
    do {                                                                                  \
        cudaError_t err_ = (call);                                                        \
        if (err_ != cudaSuccess)                                                          \
            return azs_fail(AZS_ERR_GPU, "%s:%d: %s: %s", __FILE__, __LINE__, #call,      \
                            cudaGetErrorString(err_));                                    \
    } while (0)

#define DEC_WARPS 4 // warps (items) per decode CTA

struct slot_t {
    cudaStream_t stream;
    cudaEvent_t ev0, ev1, ev_dec, ev_int;
    uint8_t *h_comp;          // pinned, batch * chunk_stride
    azs_gpu_item *h_items;    // pinned
    int32_t *h_status;        // pinned [batch]
    double *h_int, *h_sig;    // pinned [batch * nbins]
    uint8_t *d_comp, *d_raw;
    uint8_t *d_rawT;          // [npixels][batch] elements: pixel p of frame f at p * batch + f
    azs_gpu_item *d_items;
    int32_t *d_status;
    double *d_part, *d_int, *d_sig;
    uint32_t nframes;
    size_t nitems;
    uint32_t max_block;
    int busy;
};

struct azs_gpu_engine {
    azs_gpu_config c;
    azs_gpu_config asked; // c as the caller gave it (c's strides are rounded): azs_gpu_engine_keep's key
    azs_csr_view csr;     // the matrix uploaded (has_csr): the other half of that key
    size_t elem, frame_bytes, raw_stride, items_cap;
    // matrix (gpu_integrate.cu)
    int has_csr, has_dark, want_sigma;
    azs_pixel_rule rule;
    uint32_t nbins, nseg;
    uint32_t *d_seg_start, *d_seg_len, *d_row_seg, *d_indices;
    uint64_t *d_indptr;
    float *d_weights, *d_norm, *d_dark;
    slot_t *slots;
};

// gpu_decode.cu
cudaError_t azs_gpu_launch_decode(azs_gpu_engine *e, slot_t *sl);
cudaError_t azs_gpu_decode_setup(void);
// gpu_integrate.cu: upload the matrix (e->c set, e->nbins etc. filled here); the per-slot
// partial sums it needs (doubles per frame of a batch); launch the integration of a slot.
azs_status azs_gpu_upload_csr(azs_gpu_engine *e, const azs_csr_view *v);
size_t azs_gpu_part_doubles(const azs_gpu_engine *e);
void azs_gpu_free_csr(azs_gpu_engine *e);
cudaError_t azs_gpu_launch_integrate(azs_gpu_engine *e, slot_t *sl);

#endif
