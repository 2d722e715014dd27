/* 2D arrays for mask / dark / flat, loaded from files: .npy (any of u8..f64, C order, 2D
 * or 3D: frames), HDF5 "file.h5[:/dataset]" or "file.h5::/dataset" (silx's URL form;
 * default dataset: the first 2D dataset found at /entry/..., else the only dataset; 3D:
 * frames), EDF (.edf, uncompressed), TIFF (.tif/.tiff: grey u8/u16/u32, i16/i32, f32/f64;
 * the first image only, as fabio; at most 2^20 pixels a side and 2^28 in all, far above any
 * detector, since a few bytes of a compressed TIFF may claim any size). An input of the
 * integrator, not of the sink, hence its own header. */
#ifndef AZSTREAM_ARRAYS_H
#define AZSTREAM_ARRAYS_H

#include "azstream/export.h"

#include <stdint.h>

#include "azstream/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Values are converted to float; *out has ny*nx values (free with free()). A file of
 * several frames (3D .npy or HDF5, multi-frame EDF) gives its first, as fabio/pyFAI do. */
AZS_API azs_status azs_array_load(const char *spec, float **out, uint32_t *ny, uint32_t *nx);
/* Frame `frame` of the file, and how many it has. */
AZS_API azs_status azs_array_load_frame(const char *spec, uint32_t frame, float **out, uint32_t *ny, uint32_t *nx,
                                uint32_t *nframes);

#ifdef __cplusplus
}
#endif
#endif
