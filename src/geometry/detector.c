/* Detectors by pyFAI's names: shapes, pixel sizes and module-gap masks.
 *
 * Design note. Each entry gives the facts pyFAI's detector classes state (MAX_SHAPE,
 * pixel size, MODULE_SIZE, MODULE_GAP, and the extra mid-module columns of CdTe sensors);
 * the mask is computed from them the way pyFAI's calc_mask describes: after every module
 * (starting at module_ny, then every module_ny + gap_ny) gap_ny rows are masked, the same
 * along columns, clipped to the detector. Name lookup ignores case, spaces and
 * underscores, so "Eiger2_4M", "eiger2 4m" and "EIGER2 4M" are the same detector (pyFAI
 * itself accepts the class name, or an alias lower-cased with spaces turned into '_' or
 * removed; every name it accepts we accept). Only detectors with uniform pixels are here
 * (pyFAI's Jungfrau 500k/8M with enlarged chip-border pixels are not).
 *
 * Dummy. Every detector of the table is one pyFAI derives from its DECTRIS base class
 * (Jungfrau 1M/4M included), whose DUMMY is −2 and DELTA_DUMMY 1.5: pyFAI 2026.9 leaves
 * out, by default, the pixels within 1.5 of −2 converted to the frame's type
 * (azs_detector_dummy). The generic detector has none. */
#include <ctype.h>
#include <float.h>
#include <stdio.h>
#include <string.h>

#include "azstream/geometry.h"
#include "common/error.h"

typedef struct det_entry {
    const char *name;     /* pyFAI's detector.name */
    const char *cls;      /* pyFAI's class name */
    const char *alias2;   /* one more alias (CdTe word orders), or NULL */
    uint32_t ny, nx;
    double pixel;         /* square pixels, metres */
    uint32_t mny, mnx, gny, gnx;
    int32_t mid_start;
    uint32_t mid_width;
} det_entry;

#define EIGER(n, c, y, x) {n, c, NULL, y, x, 75e-6, 514, 1030, 37, 10, 0, 0}
#define EIGER2(n, c, y, x) {n, c, NULL, y, x, 75e-6, 512, 1028, 38, 12, 0, 0}
#define EIGER2CDTE(n, c, y, x) {n, c, NULL, y, x, 75e-6, 512, 1028, 38, 12, -1, 2}
#define PILATUS(n, c, y, x) {n, c, NULL, y, x, 172e-6, 195, 487, 17, 7, 0, 0}
#define PILATUSCDTE(n, c, a, y, x) {n, c, a, y, x, 172e-6, 195, 487, 17, 7, -1, 3}
#define PILATUS4(n, c, y, x) {n, c, NULL, y, x, 150e-6, 255, 513, 20, 7, 0, 0}
#define PILATUS4CDTE(n, c, y, x) {n, c, NULL, y, x, 150e-6, 255, 513, 20, 7, 0, 1}
#define JUNGFRAU(n, c, y, x) {n, c, NULL, y, x, 75e-6, 514, 1030, 36, 8, 0, 0}

static const det_entry TABLE[] = {
    EIGER("Eiger 500k", "Eiger500k", 514, 1030),
    EIGER("Eiger 1M", "Eiger1M", 1065, 1030),
    EIGER("Eiger 4M", "Eiger4M", 2167, 2070),
    EIGER("Eiger 9M", "Eiger9M", 3269, 3110),
    EIGER("Eiger 16M", "Eiger16M", 4371, 4150),
    EIGER2("Eiger2 250k", "Eiger2_250k", 512, 512),
    EIGER2("Eiger2 500k", "Eiger2_500k", 512, 1028),
    EIGER2("Eiger2 1M", "Eiger2_1M", 1062, 1028),
    EIGER2("Eiger2 1M-W", "Eiger2_1MW", 512, 2068),
    EIGER2("Eiger2 2M-W", "Eiger2_2MW", 512, 4148),
    EIGER2("Eiger2 4M", "Eiger2_4M", 2162, 2068),
    EIGER2("Eiger2 9M", "Eiger2_9M", 3262, 3108),
    EIGER2("Eiger2 16M", "Eiger2_16M", 4362, 4148),
    EIGER2CDTE("Eiger2 CdTe 500k", "Eiger2CdTe_500k", 512, 1028),
    EIGER2CDTE("Eiger2 CdTe 1M", "Eiger2CdTe_1M", 1062, 1028),
    EIGER2CDTE("Eiger2 CdTe 1M-W", "Eiger2CdTe_1MW", 512, 2068),
    EIGER2CDTE("Eiger2 CdTe 2M-W", "Eiger2CdTe_2MW", 512, 4148),
    EIGER2CDTE("Eiger2 CdTe 4M", "Eiger2CdTe_4M", 2162, 2068),
    EIGER2CDTE("Eiger2 CdTe 9M", "Eiger2CdTe_9M", 3262, 3108),
    EIGER2CDTE("Eiger2 CdTe 16M", "Eiger2CdTe_16M", 4362, 4148),
    PILATUS("Pilatus 100k", "Pilatus100k", 195, 487),
    PILATUS("Pilatus 200k", "Pilatus200k", 407, 487),
    PILATUS("Pilatus 300k", "Pilatus300k", 619, 487),
    PILATUS("Pilatus 300kw", "Pilatus300kw", 195, 1475),
    PILATUS("Pilatus 900k", "Pilatus900k", 619, 1475),
    PILATUS("Pilatus 1M", "Pilatus1M", 1043, 981),
    PILATUS("Pilatus 2M", "Pilatus2M", 1679, 1475),
    PILATUS("Pilatus 6M", "Pilatus6M", 2527, 2463),
    PILATUSCDTE("Pilatus CdTe 300k", "PilatusCdTe300k", "Pilatus 300k CdTe", 619, 487),
    PILATUSCDTE("Pilatus CdTe 300kw", "PilatusCdTe300kw", "Pilatus 300kw CdTe", 195, 1475),
    PILATUSCDTE("Pilatus CdTe 900kw", "PilatusCdTe900kw", "Pilatus 900kw CdTe", 195, 4439),
    PILATUSCDTE("Pilatus CdTe 1M", "PilatusCdTe1M", "Pilatus 1M CdTe", 1043, 981),
    PILATUSCDTE("Pilatus CdTe 2M", "PilatusCdTe2M", "Pilatus 2M CdTe", 1679, 1475),
    PILATUS4("Pilatus4 260k", "Pilatus4_260k", 530, 513),
    PILATUS4("Pilatus4 260kw", "Pilatus4_260kw", 255, 1033),
    PILATUS4("Pilatus4 1M", "Pilatus4_1M", 1080, 1033),
    PILATUS4("Pilatus4 2M", "Pilatus4_2M", 1630, 1553),
    PILATUS4("Pilatus4 4M", "Pilatus4_4M", 2180, 2073),
    PILATUS4CDTE("Pilatus4 260k CdTe", "Pilatus4_CdTe_260k", 530, 513),
    PILATUS4CDTE("Pilatus4 260kw CdTe", "Pilatus4_CdTe_260kw", 255, 1033),
    PILATUS4CDTE("Pilatus4 1M CdTe", "Pilatus4_CdTe_1M", 1080, 1033),
    PILATUS4CDTE("Pilatus4 2M CdTe", "Pilatus4_CdTe_2M", 1630, 1553),
    PILATUS4CDTE("Pilatus4 4M CdTe", "Pilatus4_CdTe_4M", 2180, 2073),
    JUNGFRAU("Jungfrau 1M", "Jungfrau1M", 1064, 1030),
    JUNGFRAU("Jungfrau 4M", "Jungfrau4M", 2164, 2068),
};

#define DECTRIS_DUMMY (-2.0)
#define DECTRIS_DELTA_DUMMY 1.5

/* Lower-case copy without spaces and underscores; 0 if it does not fit. */
static int normalize(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '_') continue;
        if (k + 1 >= cap) return 0;
        out[k++] = (char)tolower((unsigned char)*s);
    }
    out[k] = 0;
    return 1;
}

static int name_matches(const char *key, const char *candidate)
{
    char c[80];
    return candidate && normalize(candidate, c, sizeof c) && strcmp(key, c) == 0;
}

void azs_detector_generic(azs_detector *d, double pixel1, double pixel2, uint32_t ny, uint32_t nx)
{
    if (!d) return;
    memset(d, 0, sizeof *d);
    strcpy(d->name, "Detector");
    d->pixel1 = pixel1;
    d->pixel2 = pixel2;
    d->ny = ny;
    d->nx = nx;
    d->orientation = 3;
}

azs_status azs_detector_by_name(const char *name, azs_detector *d)
{
    if (!name || !d) return azs_fail(AZS_ERR_INVALID_ARG, "azs_detector_by_name: NULL argument");
    char key[80];
    if (!normalize(name, key, sizeof key) || key[0] == 0)
        return azs_fail(AZS_ERR_UNSUPPORTED, "unknown detector '%.64s'", name);
    if (strcmp(key, "detector") == 0) {
        azs_detector_generic(d, 0.0, 0.0, 0, 0);
        return AZS_OK;
    }
    for (size_t k = 0; k < sizeof TABLE / sizeof TABLE[0]; k++) {
        const det_entry *e = &TABLE[k];
        if (name_matches(key, e->name) || name_matches(key, e->cls) || name_matches(key, e->alias2)) {
            memset(d, 0, sizeof *d);
            snprintf(d->name, sizeof d->name, "%s", e->name);
            d->ny = e->ny;
            d->nx = e->nx;
            d->pixel1 = d->pixel2 = e->pixel;
            d->orientation = 3;
            d->module_ny = e->mny;
            d->module_nx = e->mnx;
            d->gap_ny = e->gny;
            d->gap_nx = e->gnx;
            d->mid_gap_start = e->mid_start;
            d->mid_gap_width = e->mid_width;
            d->has_dummy = 1; /* every entry is a DECTRIS-class detector (see the note) */
            d->dummy = DECTRIS_DUMMY;
            d->delta_dummy = DECTRIS_DELTA_DUMMY;
            return AZS_OK;
        }
    }
    return azs_fail(AZS_ERR_UNSUPPORTED,
                    "unknown detector '%.64s' (known: Eiger/Eiger2/Pilatus/Pilatus4 families, "
                    "Jungfrau 1M/4M, Detector)", name);
}

/* Mask `width` columns (or rows) starting at `start`, clipped to [0, n). */
static void mask_cols(uint8_t *mask, size_t ny, size_t nx, long long start, long long width)
{
    long long lo = start < 0 ? 0 : start, hi = start + width;
    if (hi > (long long)nx) hi = (long long)nx;
    for (size_t i = 0; i < ny; i++)
        for (long long j = lo; j < hi; j++) mask[i * nx + (size_t)j] = 1;
}

azs_status azs_detector_mask(const azs_detector *d, uint8_t *mask, size_t n)
{
    if (!d || !mask) return azs_fail(AZS_ERR_INVALID_ARG, "azs_detector_mask: NULL argument");
    const size_t ny = d->ny, nx = d->nx;
    if (ny == 0 || nx == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_detector_mask: detector '%s' has no shape", d->name);
    if (n < ny * nx) /* ny, nx < 2^32: no overflow in size_t (64-bit) */
        return azs_fail(AZS_ERR_CAPACITY, "azs_detector_mask: %zu values, %zu x %zu needed", n, ny, nx);
    memset(mask, 0, ny * nx);
    if (d->module_ny == 0 || d->module_nx == 0) return AZS_OK;
    const size_t py = (size_t)d->module_ny + d->gap_ny, pxs = (size_t)d->module_nx + d->gap_nx;
    if (d->gap_ny)
        for (size_t r = d->module_ny; r < ny; r += py)
            memset(mask + r * nx, 1, (r + d->gap_ny <= ny ? d->gap_ny : ny - r) * nx);
    if (d->gap_nx)
        for (size_t c = d->module_nx; c < nx; c += pxs)
            mask_cols(mask, ny, nx, (long long)c, d->gap_nx);
    if (d->mid_gap_width)
        for (size_t c = d->module_nx / 2; c < nx; c += pxs)
            mask_cols(mask, ny, nx, (long long)c + d->mid_gap_start, d->mid_gap_width);
    return AZS_OK;
}

int azs_detector_dummy(const azs_detector *d, azs_dtype dtype, float *dummy, float *delta)
{
    if (!d || !d->has_dummy || !dummy || !delta) return 0;
    /* pyFAI: float32(dtype.type(int64(DUMMY))): the integer dummy in the frame's type (a
     * conversion to an unsigned type wraps modulo 2^bits, as numpy's), then float32. */
    const int64_t v = (int64_t)d->dummy;
    float f;
    switch (dtype) {
    case AZS_U8: f = (float)(uint8_t)v; break;
    case AZS_U16: f = (float)(uint16_t)v; break;
    case AZS_U32: f = (float)(uint32_t)v; break;
    case AZS_U64: f = (float)(uint64_t)v; break;
    case AZS_I8: f = (float)(int8_t)v; break;
    case AZS_I16: f = (float)(int16_t)v; break;
    case AZS_I32: f = (float)(int32_t)v; break;
    case AZS_I64: case AZS_F32: case AZS_F64: f = (float)v; break;
    default: return 0;
    }
    *dummy = f;
    *delta = d->delta_dummy > 0 ? (float)d->delta_dummy : FLT_EPSILON;
    return 1;
}
