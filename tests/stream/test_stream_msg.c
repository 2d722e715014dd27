/* The Stream V2 message decoder (src/stream/stream_msg.c): well-formed messages read back
 * field by field; hostile ones (wrong types, shapes, sizes, lying container counts, deep
 * nesting, every truncation and every one-byte change of a real image message) are errors
 * naming the field, never a crash or an overread (ASan build). Messages are built with
 * libcbor here, independently of the encoder, except the round trip of the encoder. */
#include <cbor.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/stream.h"
#define CHECK_CONTEXT() fprintf(stderr, " [%s]", azs_last_error())
#include "../common/check.h"
#include "../common/slurp.h"

static size_t serialize(cbor_item_t *item, uint8_t **out)
{
    unsigned char *buf = NULL;
    size_t cap = 0, n = cbor_serialize_alloc(item, &buf, &cap);
    cbor_decref(&item);
    *out = buf;
    return n;
}

static void add(cbor_item_t *map, const char *k, cbor_item_t *v)
{
    cbor_map_add(map, (struct cbor_pair){.key = cbor_move(cbor_build_string(k)), .value = cbor_move(v)});
}

/* tag 40 [[ny, nx], tag `ttag` (bytes)] */
static cbor_item_t *md_array(uint64_t ny, uint64_t nx, uint64_t ttag, const void *bytes, size_t n)
{
    cbor_item_t *dims = cbor_new_definite_array(2), *body = cbor_new_definite_array(2);
    cbor_array_push(dims, cbor_move(cbor_build_uint64(ny)));
    cbor_array_push(dims, cbor_move(cbor_build_uint64(nx)));
    cbor_array_push(body, cbor_move(dims));
    cbor_array_push(body, cbor_move(cbor_build_tag(ttag, cbor_move(cbor_build_bytestring(bytes, n)))));
    return cbor_build_tag(40, cbor_move(body));
}

/* An image message whose data[threshold_1] is `arr`. */
static size_t image_msg(cbor_item_t *arr, uint8_t **out)
{
    cbor_item_t *m = cbor_new_definite_map(4), *data = cbor_new_definite_map(1);
    add(m, "type", cbor_build_string("image"));
    add(m, "series_id", cbor_build_uint8(3));
    add(m, "image_id", cbor_build_uint8(7));
    add(data, "threshold_1", arr);
    add(m, "data", data);
    return serialize(m, out);
}

/* Decoding buf must fail with `want`, the detail containing `needle`. */
static void expect_fail(const uint8_t *buf, size_t n, azs_status want, const char *needle, const char *what)
{
    azs_stream_msg *m = NULL;
    azs_status st = azs_stream_msg_decode(buf, n, &m);
    CHECK(st == want, "%s: status %d (%s), want %d", what, (int)st, azs_status_str(st), (int)want);
    CHECK(strstr(azs_last_error(), needle) != NULL, "%s: the detail does not name '%s'", what, needle);
    CHECK(m == NULL, "%s: a message on failure", what);
    azs_stream_msg_free(m);
}

static void test_start_roundtrip(void)
{
    azs_stream_start s;
    memset(&s, 0, sizeof s);
    s.series_id = 42;
    strcpy(s.series_unique_id, "01ABC");
    s.image_size_x = 3;
    s.image_size_y = 2;
    s.nchannels = 2;
    strcpy(s.channels[0], "threshold_1");
    strcpy(s.channels[1], "threshold_2");
    s.has_beam_center = 3;
    s.beam_center_x = 1.5;
    s.beam_center_y = 0.25;
    s.has_pixel_size = 3;
    s.pixel_size_x = 75e-6;
    s.pixel_size_y = 75e-6;
    s.has_translation = 1;
    s.detector_translation[2] = 0.125;
    s.has_wavelength = 1;
    s.incident_wavelength = 1.0;
    s.has_nimages = 1;
    s.number_of_images = 10;
    s.has_saturation = 1;
    s.saturation_value = 65000;
    const uint32_t mask[6] = {0, 1, 0, 0x80000000u, 0, 4};
    s.npixel_mask = 1;
    strcpy(s.pixel_mask[0].name, "threshold_1");
    s.pixel_mask[0].a = (azs_stream_array){2, 3, AZS_U32, 4, AZS_CODEC_NONE, mask, sizeof mask};
    uint8_t *buf = NULL;
    size_t n = 0;
    CHECK(azs_stream_encode_start(&s, &buf, &n) == AZS_OK, "encode start");
    azs_stream_msg *m = NULL;
    CHECK(azs_stream_msg_decode(buf, n, &m) == AZS_OK, "decode start");
    if (m) {
        const azs_stream_start *d = &m->start;
        CHECK_EXPR(m->type == AZS_STREAM_START);
        CHECK_EXPR(d->series_id == 42 && !strcmp(d->series_unique_id, "01ABC"));
        CHECK_EXPR(d->image_size_x == 3 && d->image_size_y == 2 && d->nchannels == 2);
        CHECK_EXPR(!strcmp(d->channels[1], "threshold_2"));
        CHECK_EXPR(d->beam_center_x == 1.5 && d->beam_center_y == 0.25 && d->pixel_size_x == 75e-6);
        CHECK_EXPR(d->number_of_images == 10 && d->saturation_value == 65000 && d->has_translation);
        uint8_t *pm = NULL;
        size_t nm = 0;
        CHECK(azs_stream_pixel_mask(d, NULL, 2, 3, &pm, &nm) == AZS_OK, "pixel mask");
        CHECK(pm && nm == 3 && pm[1] && pm[3] && pm[5] && !pm[0] && !pm[2] && !pm[4], "any bit set = masked");
        free(pm);
        CHECK(azs_stream_pixel_mask(d, NULL, 3, 2, &pm, &nm) == AZS_ERR_FORMAT, "a mask of another shape");
        CHECK(azs_stream_pixel_mask(d, "threshold_2", 2, 3, &pm, &nm) == AZS_ERR_NOT_FOUND, "no mask for it");
        azs_geometry g;
        CHECK(azs_stream_geometry(d, &g) == AZS_OK, "geometry");
        /* Fit2D → PONI without tilt: poni1 = 0.25 px × 75 µm, poni2 = 1.5 px × 75 µm */
        CHECK(fabs(g.poni1 - 1.875e-5) < 1e-15 && fabs(g.poni2 - 1.125e-4) < 1e-15, "poni %g %g", g.poni1, g.poni2);
        CHECK(g.dist == 0.125 && fabs(g.wavelength - 1e-10) < 1e-22 && g.rot1 == 0 && g.rot2 == 0,
              "dist %g wavelength %g", g.dist, g.wavelength);
        CHECK(g.det.ny == 2 && g.det.nx == 3 && g.det.pixel1 == 75e-6, "detector");
    }
    azs_stream_msg_free(m);
    free(buf);
}

static void test_image_raw(void)
{
    const uint16_t px[6] = {1, 2, 3, 4, 5, 65535};
    uint8_t *buf;
    size_t n = image_msg(md_array(2, 3, 69, px, sizeof px), &buf);
    azs_stream_msg *m = NULL;
    CHECK(azs_stream_msg_decode(buf, n, &m) == AZS_OK, "raw image");
    if (m) {
        const azs_stream_array *a = azs_stream_image_channel(&m->image, NULL);
        CHECK(m->image.image_id == 7 && m->image.series_id == 3, "ids");
        CHECK(a && a->ny == 2 && a->nx == 3 && a->dtype == AZS_U16 && a->codec == AZS_CODEC_NONE, "array");
        uint16_t out[6];
        CHECK(a && azs_stream_array_decode(a, out, sizeof out) == AZS_OK && !memcmp(out, px, sizeof px), "pixels");
        CHECK(azs_stream_image_channel(&m->image, "nope") == NULL, "absent channel");
    }
    azs_stream_msg_free(m);
    free(buf);
}

static void test_hostile_fields(void)
{
    const uint16_t px[6] = {0};
    uint8_t *buf;
    size_t n;
    n = image_msg(md_array(2, 3, 69, px, 10), &buf);
    expect_fail(buf, n, AZS_ERR_FORMAT, "data[threshold_1]", "raw data shorter than its shape");
    free(buf);
    n = image_msg(md_array(0, 3, 69, px, 0), &buf);
    expect_fail(buf, n, AZS_ERR_FORMAT, "dimension 0", "a zero dimension");
    free(buf);
    n = image_msg(md_array(1u << 20, 1u << 20, 69, px, sizeof px), &buf);
    expect_fail(buf, n, AZS_ERR_FORMAT, "2^28", "an absurd shape");
    free(buf);
    n = image_msg(md_array(2, 3, 65, px, sizeof px), &buf);
    expect_fail(buf, n, AZS_ERR_UNSUPPORTED, "tag 65", "big-endian typed array");
    free(buf);
    n = image_msg(cbor_build_string("pixels"), &buf);
    expect_fail(buf, n, AZS_ERR_FORMAT, "tag 40", "data not an array");
    free(buf);
    { /* compressed element size other than the typed array's */
        cbor_item_t *c = cbor_new_definite_array(3);
        cbor_array_push(c, cbor_move(cbor_build_string("bslz4")));
        cbor_array_push(c, cbor_move(cbor_build_uint8(4)));
        cbor_array_push(c, cbor_move(cbor_build_bytestring((const unsigned char *)"x", 1)));
        cbor_item_t *dims = cbor_new_definite_array(2), *body = cbor_new_definite_array(2);
        cbor_array_push(dims, cbor_move(cbor_build_uint8(2)));
        cbor_array_push(dims, cbor_move(cbor_build_uint8(3)));
        cbor_array_push(body, cbor_move(dims));
        cbor_array_push(body, cbor_move(cbor_build_tag(69, cbor_move(cbor_build_tag(56500, cbor_move(c))))));
        n = image_msg(cbor_build_tag(40, cbor_move(body)), &buf);
        expect_fail(buf, n, AZS_ERR_FORMAT, "element size", "compressed element size");
        free(buf);
    }
    { /* start message with a text where a number goes; an unknown type; no image_id */
        cbor_item_t *m = cbor_new_definite_map(2);
        add(m, "type", cbor_build_string("start"));
        add(m, "beam_center_x", cbor_build_string("middle"));
        n = serialize(m, &buf);
        expect_fail(buf, n, AZS_ERR_FORMAT, "beam_center_x", "text for a number");
        free(buf);
        m = cbor_new_definite_map(1);
        add(m, "type", cbor_build_string("calibration"));
        n = serialize(m, &buf);
        expect_fail(buf, n, AZS_ERR_UNSUPPORTED, "calibration", "unknown message type");
        free(buf);
        m = cbor_new_definite_map(1);
        add(m, "type", cbor_build_string("image"));
        n = serialize(m, &buf);
        expect_fail(buf, n, AZS_ERR_FORMAT, "image_id", "no image_id");
        free(buf);
    }
    /* a map of 2^32 - 1 entries announced in 5 bytes: refused before anything is allocated */
    const uint8_t huge_map[] = {0xba, 0xff, 0xff, 0xff, 0xff, 0x00};
    expect_fail(huge_map, sizeof huge_map, AZS_ERR_PARSE, "more entries", "lying map count");
    const uint8_t huge_array[] = {0x81, 0x9b, 0, 0, 0, 1, 0, 0, 0, 0, 0};
    expect_fail(huge_array, sizeof huge_array, AZS_ERR_PARSE, "more items", "lying array count");
    uint8_t deep[64];
    memset(deep, 0x81, sizeof deep); /* [[[[...]]]] */
    deep[63] = 0x00;
    expect_fail(deep, sizeof deep, AZS_ERR_PARSE, "nesting", "deep nesting");
    const uint8_t indef[] = {0x9f, 0x01, 0xff};
    expect_fail(indef, sizeof indef, AZS_ERR_PARSE, "indefinite", "indefinite-length array");
    const uint8_t trailing[] = {0xa0, 0x00};
    expect_fail(trailing, sizeof trailing, AZS_ERR_PARSE, "after", "trailing bytes");
    const uint8_t not_map[] = {0x01};
    expect_fail(not_map, sizeof not_map, AZS_ERR_FORMAT, "not a map", "an integer message");
}

/* Every prefix and every one-byte change of a real image message: an error or a message,
 * never a crash (the ASan build runs this too). */
static void test_real_mutations(const char *path)
{
    size_t n = 0;
    uint8_t *orig = slurp(path, &n);
    CHECK(orig != NULL, "cannot read %s", path);
    if (!orig)
        return;
    azs_stream_msg *m = NULL;
    CHECK(azs_stream_msg_decode(orig, n, &m) == AZS_OK, "%s decodes", path);
    azs_stream_msg_free(m);
    size_t refused = 0, tried = 0;
    for (size_t len = 0; len < n; len += len < 4096 ? 1 : 4093) {
        uint8_t *cut = malloc(len ? len : 1); /* exact size: ASan sees any read past it */
        memcpy(cut, orig, len);
        m = NULL;
        refused += azs_stream_msg_decode(cut, len, &m) != AZS_OK;
        tried++;
        azs_stream_msg_free(m);
        free(cut);
    }
    CHECK(refused == tried, "%zu of %zu truncations accepted", tried - refused, tried);
    uint8_t *mut = malloc(n);
    for (size_t pos = 0; pos < 600 && pos < n; pos++) { /* the header and the first block */
        memcpy(mut, orig, n);
        mut[pos] ^= 0xff;
        m = NULL;
        if (azs_stream_msg_decode(mut, n, &m) == AZS_OK && m->type == AZS_STREAM_IMAGE)
            for (int c = 0; c < m->image.nchannels; c++) { /* whatever decodes is bounded */
                const azs_stream_array *a = &m->image.data[c].a;
                size_t cap = (size_t)a->ny * a->nx * a->elem_size;
                void *px = malloc(cap ? cap : 1);
                (void)azs_stream_array_decode(a, px, cap);
                free(px);
            }
        azs_stream_msg_free(m);
    }
    free(mut);
    free(orig);
}

int main(int argc, char **argv)
{
    test_start_roundtrip();
    test_image_raw();
    test_hostile_fields();
    if (argc > 1)
        test_real_mutations(argv[1]);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
