/* Stream V2 messages written with libcbor's builders: what `azstream replay` sends, and
 * the tests' messages. The layout is the one the decoder reads (stream_msg.c). */
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "azstream/stream.h"
#include "common/error.h"
#include "stream_run.h"

/* Builders return NULL when out of memory; every add below tolerates a NULL (checked once
 * at serialisation through `ok`). */
typedef struct builder {
    cbor_item_t *map;
    int ok;
} builder;

static void put(builder *b, const char *key, cbor_item_t *value)
{
    cbor_item_t *k = cbor_build_string(key);
    if (!k || !value || !b->map ||
        !cbor_map_add(b->map, (struct cbor_pair){.key = cbor_move(k), .value = cbor_move(value)})) {
        b->ok = 0;
        if (k && !value)
            cbor_decref(&k);
    }
}

static cbor_item_t *pair_array(cbor_item_t *a, cbor_item_t *b)
{
    cbor_item_t *r = cbor_new_definite_array(2);
    if (!r || !a || !b || !cbor_array_push(r, cbor_move(a)) || !cbor_array_push(r, cbor_move(b))) {
        if (r)
            cbor_decref(&r);
        return NULL;
    }
    return r;
}

static uint64_t typed_array_tag(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return 64;
    case AZS_U16: return 69;
    case AZS_U32: return 70;
    case AZS_U64: return 71;
    case AZS_I8: return 72;
    case AZS_I16: return 77;
    case AZS_I32: return 78;
    case AZS_I64: return 79;
    case AZS_F32: return 85;
    case AZS_F64: return 86;
    default: return 0;
    }
}

/* tag 40 [[ny, nx], typed array of the bytes, compressed through tag 56500 when codec says] */
static cbor_item_t *build_array(const azs_stream_array *a)
{
    const uint64_t tag = typed_array_tag(a->dtype);
    if (!tag)
        return NULL;
    cbor_item_t *bytes = cbor_build_bytestring(a->bytes, a->nbytes);
    cbor_item_t *payload = bytes;
    if (bytes && a->codec != AZS_CODEC_NONE) {
        cbor_item_t *c = cbor_new_definite_array(3);
        cbor_item_t *alg = cbor_build_string(a->codec == AZS_CODEC_BSLZ4 ? "bslz4" : "lz4");
        cbor_item_t *es = cbor_build_uint8((uint8_t)a->elem_size);
        if (c && alg && es && cbor_array_push(c, cbor_move(alg)) && cbor_array_push(c, cbor_move(es)) &&
            cbor_array_push(c, cbor_move(bytes)))
            payload = cbor_build_tag(56500, cbor_move(c));
        else
            payload = NULL;
    }
    cbor_item_t *typed = payload ? cbor_build_tag(tag, cbor_move(payload)) : NULL;
    cbor_item_t *dims = pair_array(cbor_build_uint32(a->ny), cbor_build_uint32(a->nx));
    cbor_item_t *body = typed && dims ? pair_array(dims, typed) : NULL;
    return body ? cbor_build_tag(40, cbor_move(body)) : NULL;
}

static cbor_item_t *channel_map(const azs_stream_channel *c, int n)
{
    cbor_item_t *m = cbor_new_definite_map((size_t)n);
    builder b = {m, m != NULL};
    for (int k = 0; k < n && b.ok; k++)
        put(&b, c[k].name, build_array(&c[k].a));
    if (!b.ok && m)
        cbor_decref(&m);
    return b.ok ? m : NULL;
}

static azs_status finish(builder *b, const char *what, uint8_t **out, size_t *size)
{
    *out = NULL;
    *size = 0;
    size_t cap = 0;
    unsigned char *buf = NULL;
    size_t n = b->ok ? cbor_serialize_alloc(b->map, &buf, &cap) : 0;
    if (b->map)
        cbor_decref(&b->map);
    if (!n) {
        free(buf);
        return azs_fail(AZS_ERR_NOMEM, "encoding a stream %s message", what);
    }
    *out = buf;
    *size = n;
    return AZS_OK;
}

azs_status azs_stream_encode_start(const azs_stream_start *s, uint8_t **out, size_t *size)
{
    builder b = {cbor_new_definite_map(32), 1};
    put(&b, "type", cbor_build_string("start"));
    put(&b, "series_id", cbor_build_uint64(s->series_id));
    if (s->series_unique_id[0])
        put(&b, "series_unique_id", cbor_build_string(s->series_unique_id));
    put(&b, "image_size_x", cbor_build_uint32(s->image_size_x));
    put(&b, "image_size_y", cbor_build_uint32(s->image_size_y));
    if (s->image_dtype != AZS_DTYPE_INVALID)
        put(&b, "image_dtype", cbor_build_string(azs_dtype_name(s->image_dtype)));
    cbor_item_t *ch = cbor_new_definite_array((size_t)s->nchannels);
    for (int k = 0; ch && k < s->nchannels; k++)
        if (!cbor_array_push(ch, cbor_move(cbor_build_string(s->channels[k]))))
            b.ok = 0;
    put(&b, "channels", ch);
    if (s->has_beam_center) {
        put(&b, "beam_center_x", cbor_build_float8(s->beam_center_x));
        put(&b, "beam_center_y", cbor_build_float8(s->beam_center_y));
    }
    if (s->has_pixel_size) {
        put(&b, "pixel_size_x", cbor_build_float8(s->pixel_size_x));
        put(&b, "pixel_size_y", cbor_build_float8(s->pixel_size_y));
    }
    if (s->has_translation) {
        cbor_item_t *t = cbor_new_definite_array(3);
        for (int k = 0; t && k < 3; k++)
            if (!cbor_array_push(t, cbor_move(cbor_build_float8(s->detector_translation[k]))))
                b.ok = 0;
        put(&b, "detector_translation", t);
    }
    if (s->has_distance)
        put(&b, "detector_distance", cbor_build_float8(s->detector_distance));
    if (s->has_wavelength)
        put(&b, "incident_wavelength", cbor_build_float8(s->incident_wavelength));
    if (s->has_energy)
        put(&b, "incident_energy", cbor_build_float8(s->incident_energy));
    if (s->has_saturation)
        put(&b, "saturation_value", cbor_build_uint64(s->saturation_value));
    if (s->has_nimages)
        put(&b, "number_of_images", cbor_build_uint64(s->number_of_images));
    if (s->npixel_mask > 0)
        put(&b, "pixel_mask", channel_map(s->pixel_mask, s->npixel_mask));
    if (s->nflatfield > 0)
        put(&b, "flatfield", channel_map(s->flatfield, s->nflatfield));
    if (s->detector_description[0])
        put(&b, "detector_description", cbor_build_string(s->detector_description));
    return finish(&b, "start", out, size);
}

azs_status azs_stream_encode_image(uint64_t series_id, uint64_t image_id, const char *channel,
                                   const azs_stream_array *a, uint8_t **out, size_t *size)
{
    builder b = {cbor_new_definite_map(4), 1};
    put(&b, "type", cbor_build_string("image"));
    put(&b, "series_id", cbor_build_uint64(series_id));
    put(&b, "image_id", cbor_build_uint64(image_id));
    cbor_item_t *data = cbor_new_definite_map(1);
    builder d = {data, data != NULL};
    put(&d, channel, build_array(a));
    if (!d.ok) {
        b.ok = 0;
        if (data)
            cbor_decref(&data);
        data = NULL;
    }
    put(&b, "data", data);
    return finish(&b, "image", out, size);
}

/* Writers of azs_stream_encode_image_head: libcbor's streaming encoders into a bounded buffer;
 * a 0 from any of them (no room) sticks in w->ok. */
typedef struct head_writer {
    uint8_t *p;
    size_t cap, n;
    int ok;
} head_writer;

static void head_put(head_writer *w, size_t written)
{
    if (!written)
        w->ok = 0;
    w->n += written;
}

static void head_text(head_writer *w, const char *text)
{
    const size_t len = strlen(text);
    head_put(w, w->ok ? cbor_encode_string_start(len, w->p + w->n, w->cap - w->n) : 0);
    if (w->ok && w->cap - w->n >= len) {
        memcpy(w->p + w->n, text, len);
        w->n += len;
    } else {
        w->ok = 0;
    }
}

#define HEAD(w, call) head_put((w), (w)->ok ? (call) : 0)

azs_status azs_stream_encode_image_head(uint64_t series_id, uint64_t image_id, const char *channel,
                                        const azs_stream_array *a, uint8_t *out, size_t cap, size_t *len)
{
    *len = 0;
    const uint64_t tag = typed_array_tag(a->dtype);
    if (!tag)
        return azs_fail(AZS_ERR_UNSUPPORTED, "encoding an image message: element type %s", azs_dtype_name(a->dtype));
    if (strlen(channel) >= AZS_STREAM_NAME_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "encoding an image message: channel name '%s' longer than %d bytes",
                        channel, AZS_STREAM_NAME_MAX - 1);
    /* the layout of azs_stream_encode_image: the array's bytes come last */
    head_writer w = {out, cap, 0, 1}, *W = &w;
    HEAD(W, cbor_encode_map_start(4, out + w.n, cap - w.n));
    head_text(W, "type");
    head_text(W, "image");
    head_text(W, "series_id");
    HEAD(W, cbor_encode_uint(series_id, out + w.n, cap - w.n));
    head_text(W, "image_id");
    HEAD(W, cbor_encode_uint(image_id, out + w.n, cap - w.n));
    head_text(W, "data");
    HEAD(W, cbor_encode_map_start(1, out + w.n, cap - w.n));
    head_text(W, channel);
    HEAD(W, cbor_encode_tag(40, out + w.n, cap - w.n));
    HEAD(W, cbor_encode_array_start(2, out + w.n, cap - w.n));
    HEAD(W, cbor_encode_array_start(2, out + w.n, cap - w.n));
    HEAD(W, cbor_encode_uint(a->ny, out + w.n, cap - w.n));
    HEAD(W, cbor_encode_uint(a->nx, out + w.n, cap - w.n));
    HEAD(W, cbor_encode_tag(tag, out + w.n, cap - w.n));
    if (a->codec != AZS_CODEC_NONE) {
        HEAD(W, cbor_encode_tag(56500, out + w.n, cap - w.n));
        HEAD(W, cbor_encode_array_start(3, out + w.n, cap - w.n));
        head_text(W, a->codec == AZS_CODEC_BSLZ4 ? "bslz4" : "lz4");
        HEAD(W, cbor_encode_uint(a->elem_size, out + w.n, cap - w.n));
    }
    HEAD(W, cbor_encode_bytestring_start(a->nbytes, out + w.n, cap - w.n));
    if (!w.ok)
        return azs_fail(AZS_ERR_CAPACITY, "encoding an image message: its head does not fit %zu bytes", cap);
    *len = w.n;
    return AZS_OK;
}

azs_status azs_stream_encode_end(uint64_t series_id, uint8_t **out, size_t *size)
{
    builder b = {cbor_new_definite_map(2), 1};
    put(&b, "type", cbor_build_string("end"));
    put(&b, "series_id", cbor_build_uint64(series_id));
    return finish(&b, "end", out, size);
}

/* n doubles as a float64 little-endian typed array (tag 86); x86 and ARM hosts are LE. */
static cbor_item_t *f64_array(const double *v, size_t n)
{
    cbor_item_t *bytes = cbor_build_bytestring((cbor_data)v, n * sizeof *v);
    return bytes ? cbor_build_tag(86, cbor_move(bytes)) : NULL;
}

azs_status azs_stream_encode_profile(uint64_t series_id, uint64_t image_id, const double *radial,
                                     size_t nradial, const double *intensity, const double *sigma,
                                     size_t nbins, uint8_t **out, size_t *size)
{
    builder b = {cbor_new_definite_map(6), 1};
    put(&b, "type", cbor_build_string("profile"));
    put(&b, "series_id", cbor_build_uint64(series_id));
    put(&b, "image_id", cbor_build_uint64(image_id));
    put(&b, "radial", f64_array(radial, nradial));
    put(&b, "intensity", f64_array(intensity, nbins));
    if (sigma)
        put(&b, "sigma", f64_array(sigma, nbins));
    return finish(&b, "profile", out, size);
}
