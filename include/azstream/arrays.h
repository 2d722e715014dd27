/* 2D arrays for mask / dark / flat, loaded from files: .npy (any of u8..f64, C order, 2D
 * or 3D with one frame), HDF5 "file.h5[:/dataset]" (default dataset: the first 2D dataset
 * found at /entry/..., else the only dataset; 3D takes frame 0), EDF (.edf,
 * uncompressed). An input of the integrator, not of the sink, hence its own header. */
#ifndef AZSTREAM_ARRAYS_H
#define AZSTREAM_ARRAYS_H

#include <stdint.h>

#include "azstream/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values are converted to float; *out has ny*nx values (free with free()). */
azs_status azs_array_load(const char *spec, float **out, uint32_t *ny, uint32_t *nx);

#ifdef __cplusplus
}
#endif
#endif
