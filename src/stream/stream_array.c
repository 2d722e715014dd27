/* What the rest of azstream takes from a decoded message: pixels, the pixel mask, the
 * geometry (azstream/stream.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/stream.h"
#include "common/error.h"

int azs_stream_built(void) { return 1; }

int azs_stream_is_endpoint(const char *input)
{
    return input && (!strncmp(input, "tcp://", 6) || !strncmp(input, "ipc://", 6));
}

const azs_stream_array *azs_stream_image_channel(const azs_stream_image *im, const char *name)
{
    if (!im || im->nchannels <= 0)
        return NULL;
    if (!name)
        return &im->data[0].a;
    for (int k = 0; k < im->nchannels && k < AZS_STREAM_MAX_CHANNELS; k++)
        if (!strcmp(im->data[k].name, name))
            return &im->data[k].a;
    return NULL;
}

azs_status azs_stream_array_decode(const azs_stream_array *a, void *pixels, size_t capacity)
{
    const size_t need = (size_t)a->ny * a->nx * a->elem_size;
    if (capacity < need)
        return azs_fail(AZS_ERR_CAPACITY, "stream array of %zu bytes, buffer of %zu", need, capacity);
    if (a->codec == AZS_CODEC_NONE) {
        if (a->nbytes != need)
            return azs_fail(AZS_ERR_SIZE_MISMATCH, "raw array of %zu bytes, the image has %zu", a->nbytes, need);
        memcpy(pixels, a->bytes, need);
        return AZS_OK;
    }
    azs_chunk_header h;
    azs_status st = azs_chunk_read_header(a->bytes, a->nbytes, &h);
    if (st != AZS_OK)
        return st;
    if (h.total_bytes != need)
        return azs_fail(AZS_ERR_SIZE_MISMATCH, "compressed array announces %llu bytes, the image has %zu",
                        (unsigned long long)h.total_bytes, need);
    size_t got = 0;
    st = azs_chunk_decode(a->codec, a->elem_size, a->bytes, a->nbytes, pixels, need, &got);
    if (st == AZS_OK && got != need)
        st = azs_fail(AZS_ERR_SIZE_MISMATCH, "compressed array decodes to %zu bytes, the image has %zu", got, need);
    return st;
}

/* Any bit set = masked, whatever the integer width (DECTRIS sends uint32). */
static int mask_bit(const uint8_t *p, size_t elem, size_t i)
{
    for (size_t b = 0; b < elem; b++)
        if (p[i * elem + b])
            return 1;
    return 0;
}

azs_status azs_stream_pixel_mask(const azs_stream_start *s, const char *channel, uint32_t ny,
                                 uint32_t nx, uint8_t **mask, size_t *nmasked)
{
    *mask = NULL;
    const char *want = channel ? channel : (s->nchannels > 0 ? s->channels[0] : NULL);
    const azs_stream_channel *c = NULL;
    for (int k = 0; k < s->npixel_mask; k++)
        if (!want || !strcmp(s->pixel_mask[k].name, want)) {
            c = &s->pixel_mask[k];
            break;
        }
    if (!c)
        return azs_fail(AZS_ERR_NOT_FOUND, "start message: no pixel_mask for channel %s", want ? want : "(any)");
    if (c->a.ny != ny || c->a.nx != nx)
        return azs_fail(AZS_ERR_FORMAT, "start message: pixel_mask[%s] is %u x %u, the images %u x %u", c->name,
                        c->a.ny, c->a.nx, ny, nx);
    const size_t n = (size_t)c->a.ny * c->a.nx;
    uint8_t *m = malloc(n ? n : 1);
    if (!m)
        return azs_fail(AZS_ERR_NOMEM, "pixel mask of %zu pixels", n);
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        count += (m[i] = (uint8_t)mask_bit(c->a.bytes, c->a.elem_size, i));
    *mask = m;
    if (nmasked)
        *nmasked = count;
    return AZS_OK;
}

azs_status azs_stream_geometry(const azs_stream_start *s, azs_geometry *g)
{
    memset(g, 0, sizeof *g);
    const char *missing = !s->image_size_x ? "image_size_x/y"
                          : !s->has_beam_center ? "beam_center_x/y"
                          : !s->has_pixel_size ? "pixel_size_x/y"
                          : !(s->has_distance || s->has_translation) ? "detector_distance (or detector_translation)"
                          : NULL;
    if (missing)
        return azs_fail(AZS_ERR_NOT_FOUND, "start message of series %llu: no %s for a geometry (give --poni)",
                        (unsigned long long)s->series_id, missing);
    const double dist = s->has_distance ? s->detector_distance : s->detector_translation[2];
    if (!(s->pixel_size_x > 0 && s->pixel_size_y > 0 && dist > 0 && isfinite(dist) &&
          isfinite(s->beam_center_x) && isfinite(s->beam_center_y)))
        return azs_fail(AZS_ERR_FORMAT, "start message: pixel size %g x %g m, distance %g m: not a geometry",
                        s->pixel_size_y, s->pixel_size_x, dist);
    azs_detector_generic(&g->det, s->pixel_size_y, s->pixel_size_x, s->image_size_y, s->image_size_x);
    g->dist = dist;
    g->poni1 = s->beam_center_y * s->pixel_size_y;
    g->poni2 = s->beam_center_x * s->pixel_size_x;
    if (s->has_wavelength && s->incident_wavelength > 0)
        g->wavelength = s->incident_wavelength * 1e-10;
    else if (s->has_energy && s->incident_energy > 0) /* h c / E, CODATA 2018 */
        g->wavelength = 6.62607015e-34 * 299792458.0 / (s->incident_energy * 1.602176634e-19);
    g->poni_version = 2.1;
    return AZS_OK;
}
