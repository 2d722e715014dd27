/* Stream V2 messages → C structs (azstream/stream.h). libcbor parses; this file checks what
 * the parse gives: every field's type, every array's shape against its bytes.
 *
 * Two passes over the bytes. First libcbor's streaming decoder walks the items without
 * building anything, and we refuse what its tree builder would trust blindly: a declared
 * array or map count larger than the bytes left (the builder allocates the count up front:
 * a 9-byte message could ask for gigabytes), nesting deeper than STREAM_MAX_DEPTH (the tree
 * is freed recursively), indefinite-length items (DECTRIS sends none) and trailing bytes.
 * The same pass writes a shadow of the message in which every byte string is replaced by a
 * 4-byte placeholder holding its index in a table of (pointer, length) into the message:
 * cbor_load then builds the tree from the shadow (a few hundred bytes for an image message)
 * and never copies a chunk; an array's bytes point into the message itself, which the
 * decoded message keeps (a copy for azs_stream_msg_decode, the received ZeroMQ buffer for
 * azs_stream_msg_decode_buffer). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#include "azstream/codec.h"
#include "azstream/stream.h"
#include "common/error.h"

#define STREAM_MAX_DEPTH 16
/* 2^28 pixels: far above any detector (Eiger2 16M: 2^24), so ny*nx*8 fits any size_t. */
#define STREAM_MAX_PIXELS (1ull << 28)

/* ------------------------------------------------------------------ pass 1: shape of the items */
typedef struct scan_state {
    size_t remaining[STREAM_MAX_DEPTH + 1]; /* items left in each open container */
    int depth;
    size_t pos, size;                       /* where the decoder is, the message's length */
    const char *why;                        /* first reason to refuse, NULL if none */
    size_t why_pos;
    int token_is_bytes;                     /* the last token was a definite byte string */
    const uint8_t *bytes;                   /* ... its bytes and length */
    size_t nbytes;
} scan_state;

/* The byte strings of a message, in order: placeholder k in the shadow is entry k. */
typedef struct bstr_table {
    const uint8_t **ptr;
    size_t *len;
    size_t n, cap;
} bstr_table;

typedef struct msg_priv {
    cbor_item_t *root;           /* the tree of the shadow */
    bstr_table bstr;
    uint8_t *copy;               /* azs_stream_msg_decode: the message's bytes, owned */
    azs_stream_buffer *received; /* azs_stream_msg_decode_buffer: the received buffer */
} msg_priv;

static void scan_refuse(scan_state *s, const char *why)
{
    if (!s->why) {
        s->why = why;
        s->why_pos = s->pos;
    }
}

/* One complete item (a scalar or a container's end) was read: close the containers it ends. */
static void scan_item_done(scan_state *s)
{
    while (s->depth > 0) {
        if (--s->remaining[s->depth] > 0)
            return;
        s->depth--; /* this container is complete: it counts as one item of its parent */
    }
}

static void scan_open(scan_state *s, uint64_t items)
{
    /* each item takes at least one byte */
    if (items > s->size - s->pos) {
        scan_refuse(s, "a container announces more items than the bytes left");
        return;
    }
    if (items == 0) {
        scan_item_done(s);
        return;
    }
    if (s->depth >= STREAM_MAX_DEPTH) {
        scan_refuse(s, "nesting deeper than 16 levels");
        return;
    }
    s->remaining[++s->depth] = (size_t)items;
}

static void on_array(void *ctx, size_t n) { scan_open(ctx, n); }
static void on_map(void *ctx, size_t n)
{
    scan_state *s = ctx;
    if (n > (s->size - s->pos) / 2)
        scan_refuse(s, "a map announces more entries than the bytes left");
    else
        scan_open(s, 2 * (uint64_t)n);
}
static void on_indef(void *ctx) { scan_refuse(ctx, "an indefinite-length item (not sent by Stream V2)"); }
static void on_u8(void *ctx, uint8_t v) { (void)v, scan_item_done(ctx); }
static void on_u16(void *ctx, uint16_t v) { (void)v, scan_item_done(ctx); }
static void on_u32(void *ctx, uint32_t v) { (void)v, scan_item_done(ctx); }
static void on_u64(void *ctx, uint64_t v) { (void)v, scan_item_done(ctx); }
static void on_str(void *ctx, cbor_data d, size_t n) { (void)d, (void)n, scan_item_done(ctx); }
static void on_bytes(void *ctx, cbor_data d, size_t n)
{
    scan_state *s = ctx;
    s->token_is_bytes = 1;
    s->bytes = d;
    s->nbytes = n;
    scan_item_done(s);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}
static void on_f4(void *ctx, float v) { (void)v, scan_item_done(ctx); }
static void on_f8(void *ctx, double v) { (void)v, scan_item_done(ctx); }
static void on_simple(void *ctx) { scan_item_done(ctx); }
static void on_bool(void *ctx, bool v) { (void)v, scan_item_done(ctx); }
static void on_tag(void *ctx, uint64_t v) { (void)ctx, (void)v; } /* the tagged item follows */

/* Checks the items' shape; writes the shadow (*shadow malloc'd, *shadow_len) and the byte
 * string table t. */
static azs_status scan_message(const uint8_t *buf, size_t size, uint8_t **shadow, size_t *shadow_len, bstr_table *t)
{
    struct cbor_callbacks cb = cbor_empty_callbacks;
    cb.uint8 = cb.negint8 = on_u8;
    cb.uint16 = cb.negint16 = on_u16;
    cb.uint32 = cb.negint32 = on_u32;
    cb.uint64 = cb.negint64 = on_u64;
    cb.string = on_str;
    cb.byte_string = on_bytes;
    cb.byte_string_start = cb.string_start = cb.indef_array_start = cb.indef_map_start = on_indef;
    cb.indef_break = on_indef;
    cb.array_start = on_array;
    cb.map_start = on_map;
    cb.tag = on_tag;
    cb.float2 = cb.float4 = on_f4;
    cb.float8 = on_f8;
    cb.undefined = cb.null = on_simple;
    cb.boolean = on_bool;
    scan_state s;
    memset(&s, 0, sizeof s);
    s.size = size;
    int top_done = 0;
    size_t scap = 0, tcap_ptr = 0;
    *shadow = NULL;
    *shadow_len = 0;
    while (s.pos < size && !s.why) {
        if (top_done) {
            scan_refuse(&s, "bytes after the message's top-level item");
            break;
        }
        struct cbor_decoder_result r = cbor_stream_decode(buf + s.pos, size - s.pos, &cb, &s);
        if (r.status == CBOR_DECODER_NEDATA)
            return azs_fail(AZS_ERR_PARSE, "stream message: CBOR ends inside an item at byte %zu of %zu",
                            s.pos, size);
        if (r.status != CBOR_DECODER_FINISHED || r.read == 0)
            return azs_fail(AZS_ERR_PARSE, "stream message: not CBOR at byte %zu of %zu", s.pos, size);
        /* the shadow: a byte string as 0x44 + its index (u32 little-endian), else the token */
        const size_t out_len = s.token_is_bytes ? 5 : r.read;
        if (s.token_is_bytes && t->n >= UINT32_MAX)
            scan_refuse(&s, "more than 2^32 byte strings");
        if (grow((void **)shadow, &scap, *shadow_len + out_len, 1) ||
            (s.token_is_bytes && (grow((void **)&t->ptr, &tcap_ptr, t->n + 1, sizeof *t->ptr) ||
                                  grow((void **)&t->len, &t->cap, t->n + 1, sizeof *t->len))))
            return azs_fail(AZS_ERR_NOMEM, "stream message: %zu bytes", size);
        if (s.token_is_bytes) {
            uint8_t *o = *shadow + *shadow_len;
            const uint32_t k = (uint32_t)t->n;
            o[0] = 0x44;
            for (int b = 0; b < 4; b++)
                o[1 + b] = (uint8_t)(k >> (8 * b));
            t->ptr[t->n] = s.bytes;
            t->len[t->n++] = s.nbytes;
        } else {
            memcpy(*shadow + *shadow_len, buf + s.pos, r.read);
        }
        *shadow_len += out_len;
        s.token_is_bytes = 0;
        s.pos += r.read;
        /* a tag is not an item by itself: the top level is done once no container is open
         * and the last token was not a tag (a tag's item follows it) */
        top_done = s.depth == 0 && !((buf[s.pos - r.read] >> 5) == 6);
    }
    if (s.why)
        return azs_fail(AZS_ERR_PARSE, "stream message: %s, at byte %zu of %zu", s.why, s.why_pos, size);
    if (!top_done)
        return azs_fail(AZS_ERR_PARSE, "stream message: CBOR ends inside an item (%zu bytes)", size);
    return AZS_OK;
}

/* ------------------------------------------------------------------ pass 2: fields */
static const char *kind_name(const cbor_item_t *v)
{
    switch (cbor_typeof(v)) {
    case CBOR_TYPE_UINT: return "an unsigned integer";
    case CBOR_TYPE_NEGINT: return "a negative integer";
    case CBOR_TYPE_BYTESTRING: return "a byte string";
    case CBOR_TYPE_STRING: return "a text string";
    case CBOR_TYPE_ARRAY: return "an array";
    case CBOR_TYPE_MAP: return "a map";
    case CBOR_TYPE_TAG: return "a tagged item";
    case CBOR_TYPE_FLOAT_CTRL: return cbor_float_ctrl_is_ctrl(v) ? "a simple value" : "a float";
    }
    return "an unknown item";
}

/* The item a tag wraps. cbor_tag_item adds a reference; the tag keeps the item alive. */
static cbor_item_t *tagged(cbor_item_t *tag)
{
    cbor_item_t *item = cbor_tag_item(tag), *ref = item;
    cbor_decref(&ref);
    return item;
}

static int key_is(const cbor_item_t *k, const char *name)
{
    size_t n = strlen(name);
    return cbor_isa_string(k) && cbor_string_is_definite(k) && cbor_string_length(k) == n &&
           !memcmp(cbor_string_handle(k), name, n);
}

static cbor_item_t *map_get(const cbor_item_t *map, const char *name)
{
    const struct cbor_pair *p = cbor_map_handle(map);
    for (size_t i = 0; i < cbor_map_size(map); i++)
        if (key_is(p[i].key, name))
            return p[i].value;
    return NULL;
}

static azs_status get_u64(const char *msg, const char *field, const cbor_item_t *v, uint64_t *out)
{
    if (!cbor_isa_uint(v))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: expected an unsigned integer, got %s", msg, field,
                        kind_name(v));
    *out = cbor_get_int(v);
    return AZS_OK;
}

static azs_status get_f64(const char *msg, const char *field, const cbor_item_t *v, double *out)
{
    if (cbor_isa_uint(v))
        *out = (double)cbor_get_int(v);
    else if (cbor_isa_negint(v))
        *out = -1.0 - (double)cbor_get_int(v);
    else if (cbor_isa_float_ctrl(v) && !cbor_float_ctrl_is_ctrl(v))
        *out = cbor_float_get_float(v);
    else
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: expected a number, got %s", msg, field, kind_name(v));
    return AZS_OK;
}

/* A text string into buf (NUL-terminated); longer than cap - 1: FORMAT, or truncated. */
static azs_status get_text(const char *msg, const char *field, const cbor_item_t *v, char *buf, size_t cap,
                           int truncate)
{
    if (!cbor_isa_string(v) || !cbor_string_is_definite(v))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: expected a text string, got %s", msg, field,
                        kind_name(v));
    size_t n = cbor_string_length(v);
    if (n >= cap) {
        if (!truncate)
            return azs_fail(AZS_ERR_FORMAT, "%s message: %s: %zu bytes, at most %zu", msg, field, n, cap - 1);
        n = cap - 1;
    }
    if (memchr(cbor_string_handle(v), 0, n))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: holds a NUL byte", msg, field);
    memcpy(buf, cbor_string_handle(v), n);
    buf[n] = 0;
    return AZS_OK;
}

/* RFC 8746 typed-array tags we read: little-endian (and one-byte) integers and floats. */
static azs_dtype typed_array_dtype(uint64_t tag)
{
    switch (tag) {
    case 64: case 68: return AZS_U8;
    case 69: return AZS_U16;
    case 70: return AZS_U32;
    case 71: return AZS_U64;
    case 72: return AZS_I8;
    case 77: return AZS_I16;
    case 78: return AZS_I32;
    case 79: return AZS_I64;
    case 85: return AZS_F32;
    case 86: return AZS_F64;
    }
    return AZS_DTYPE_INVALID;
}

/* tag 40 [[ny, nx], typed array (bytes, or tag 56500 [algorithm, element size, bytes])] */
static azs_status get_array(const bstr_table *t, const char *msg, const char *field, const char *chan,
                            cbor_item_t *v, azs_stream_array *a)
{
    memset(a, 0, sizeof *a);
    if (!cbor_isa_tag(v) || cbor_tag_value(v) != 40)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: expected a multi-dimensional array (tag 40), got %s",
                        msg, field, chan, cbor_isa_tag(v) ? "another tag" : kind_name(v));
    cbor_item_t *body = tagged(v);
    if (!cbor_isa_array(body) || cbor_array_size(body) != 2)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: tag 40 holds %s, not [dimensions, typed array]",
                        msg, field, chan, kind_name(body));
    cbor_item_t *dims = cbor_array_handle(body)[0], *ta = cbor_array_handle(body)[1];
    if (!cbor_isa_array(dims) || cbor_array_size(dims) != 2)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: dimensions are not a 2-element array", msg, field,
                        chan);
    uint64_t d[2];
    for (int k = 0; k < 2; k++) {
        cbor_item_t *e = cbor_array_handle(dims)[k];
        if (!cbor_isa_uint(e) || cbor_get_int(e) == 0 || cbor_get_int(e) > UINT32_MAX)
            return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: dimension %d is not a positive 32-bit integer",
                            msg, field, chan, k);
        d[k] = cbor_get_int(e);
    }
    if (d[0] * d[1] > STREAM_MAX_PIXELS)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: %llu x %llu pixels, more than 2^28", msg, field, chan,
                        (unsigned long long)d[0], (unsigned long long)d[1]);
    a->ny = (uint32_t)d[0];
    a->nx = (uint32_t)d[1];
    if (!cbor_isa_tag(ta))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: expected a typed array (tags 64-87), got %s", msg,
                        field, chan, kind_name(ta));
    const uint64_t tag = cbor_tag_value(ta);
    a->dtype = typed_array_dtype(tag);
    if (a->dtype == AZS_DTYPE_INVALID)
        return azs_fail(tag >= 64 && tag <= 87 ? AZS_ERR_UNSUPPORTED : AZS_ERR_FORMAT,
                        "%s message: %s[%s]: typed-array tag %llu (read: little-endian integers and floats, "
                        "tags 64, 68-72, 77-79, 85, 86)", msg, field, chan, (unsigned long long)tag);
    a->elem_size = azs_dtype_size(a->dtype);
    const size_t raw_bytes = (size_t)d[0] * (size_t)d[1] * a->elem_size;
    cbor_item_t *payload = tagged(ta);
    if (cbor_isa_tag(payload) && cbor_tag_value(payload) == 56500) {
        cbor_item_t *c = tagged(payload);
        if (!cbor_isa_array(c) || cbor_array_size(c) != 3)
            return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: tag 56500 holds %s, not [algorithm, element "
                            "size, bytes]", msg, field, chan, kind_name(c));
        cbor_item_t **e = cbor_array_handle(c);
        char alg[16];
        azs_status st = get_text(msg, "compression algorithm", e[0], alg, sizeof alg, 0);
        if (st != AZS_OK)
            return st;
        if (!strcmp(alg, "bslz4"))
            a->codec = AZS_CODEC_BSLZ4;
        else if (!strcmp(alg, "lz4"))
            a->codec = AZS_CODEC_LZ4;
        else
            return azs_fail(AZS_ERR_UNSUPPORTED, "%s message: %s[%s]: compression '%s' (read: bslz4, lz4)", msg,
                            field, chan, alg);
        /* bslz4 needs the element size: it must be the typed array's; lz4 does not (DECTRIS
         * sends 0 there) */
        if (!cbor_isa_uint(e[1]) || (cbor_get_int(e[1]) != a->elem_size &&
                                     !(a->codec == AZS_CODEC_LZ4 && cbor_get_int(e[1]) == 0)))
            return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: compressed element size is not the typed "
                            "array's (%zu bytes)", msg, field, chan, a->elem_size);
        payload = e[2];
    }
    if (!cbor_isa_bytestring(payload) || !cbor_bytestring_is_definite(payload))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: the array's data is %s, not a byte string", msg,
                        field, chan, kind_name(payload));
    /* every byte string of the shadow is a placeholder: its index into the message's */
    const uint8_t *ph = cbor_bytestring_handle(payload);
    const uint32_t k = cbor_bytestring_length(payload) != 4 ? UINT32_MAX
                       : (uint32_t)ph[0] | (uint32_t)ph[1] << 8 | (uint32_t)ph[2] << 16 | (uint32_t)ph[3] << 24;
    if (k >= t->n)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: the array's data is not one of the message's byte "
                        "strings", msg, field, chan);
    a->bytes = t->ptr[k];
    a->nbytes = t->len[k];
    if (a->codec == AZS_CODEC_NONE && a->nbytes != raw_bytes)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s[%s]: %zu bytes of data for %u x %u %s pixels (%zu bytes)",
                        msg, field, chan, a->nbytes, a->ny, a->nx, azs_dtype_name(a->dtype), raw_bytes);
    return AZS_OK;
}

/* A map channel name → array into out[], *n of them. */
static azs_status get_channel_map(const bstr_table *t, const char *msg, const char *field, cbor_item_t *v, azs_stream_channel *out,
                                  int *n)
{
    if (!cbor_isa_map(v))
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: expected a map channel -> array, got %s", msg, field,
                        kind_name(v));
    if (cbor_map_size(v) > AZS_STREAM_MAX_CHANNELS)
        return azs_fail(AZS_ERR_FORMAT, "%s message: %s: %zu channels, at most %d", msg, field, cbor_map_size(v),
                        AZS_STREAM_MAX_CHANNELS);
    const struct cbor_pair *p = cbor_map_handle(v);
    *n = 0;
    for (size_t i = 0; i < cbor_map_size(v); i++) {
        azs_stream_channel *c = &out[*n];
        azs_status st = get_text(msg, field, p[i].key, c->name, sizeof c->name, 0);
        if (st == AZS_OK)
            st = get_array(t, msg, field, c->name, p[i].value, &c->a);
        if (st != AZS_OK)
            return st;
        (*n)++;
    }
    return AZS_OK;
}

static azs_status decode_start(const bstr_table *bt, cbor_item_t *m, azs_stream_start *s)
{
    static const char *const M = "start";
    azs_status st = AZS_OK;
    const struct cbor_pair *p = cbor_map_handle(m);
    for (size_t i = 0; i < cbor_map_size(m) && st == AZS_OK; i++) {
        cbor_item_t *k = p[i].key, *v = p[i].value;
        uint64_t u = 0;
        if (key_is(k, "series_id"))
            st = get_u64(M, "series_id", v, &s->series_id);
        else if (key_is(k, "series_unique_id"))
            st = get_text(M, "series_unique_id", v, s->series_unique_id, sizeof s->series_unique_id, 1);
        else if (key_is(k, "detector_description"))
            st = get_text(M, "detector_description", v, s->detector_description,
                          sizeof s->detector_description, 1);
        else if (key_is(k, "image_size_x") || key_is(k, "image_size_y")) {
            const int x = key_is(k, "image_size_x");
            st = get_u64(M, x ? "image_size_x" : "image_size_y", v, &u);
            if (st == AZS_OK && (u == 0 || u > UINT32_MAX))
                st = azs_fail(AZS_ERR_FORMAT, "start message: %s: %llu pixels", x ? "image_size_x" : "image_size_y",
                              (unsigned long long)u);
            *(x ? &s->image_size_x : &s->image_size_y) = (uint32_t)u;
        } else if (key_is(k, "image_dtype")) {
            char t[16];
            static const azs_dtype all[] = {AZS_U8, AZS_U16, AZS_U32, AZS_U64, AZS_I8,
                                            AZS_I16, AZS_I32, AZS_I64, AZS_F32, AZS_F64};
            st = get_text(M, "image_dtype", v, t, sizeof t, 0);
            for (size_t j = 0; st == AZS_OK && j < sizeof all / sizeof all[0]; j++)
                if (!strcmp(t, azs_dtype_name(all[j])))
                    s->image_dtype = all[j];
            if (st == AZS_OK && s->image_dtype == AZS_DTYPE_INVALID)
                st = azs_fail(AZS_ERR_UNSUPPORTED, "start message: image_dtype '%s'", t);
        } else if (key_is(k, "channels")) {
            if (!cbor_isa_array(v) || cbor_array_size(v) > AZS_STREAM_MAX_CHANNELS)
                st = azs_fail(AZS_ERR_FORMAT, "start message: channels: expected an array of at most %d names",
                              AZS_STREAM_MAX_CHANNELS);
            for (size_t j = 0; st == AZS_OK && j < cbor_array_size(v); j++)
                st = get_text(M, "channels", cbor_array_handle(v)[j], s->channels[j], sizeof s->channels[j], 0);
            if (st == AZS_OK)
                s->nchannels = (int)cbor_array_size(v);
        } else if (key_is(k, "beam_center_x")) {
            st = get_f64(M, "beam_center_x", v, &s->beam_center_x);
            s->has_beam_center |= 1;
        } else if (key_is(k, "beam_center_y")) {
            st = get_f64(M, "beam_center_y", v, &s->beam_center_y);
            s->has_beam_center |= 2;
        } else if (key_is(k, "pixel_size_x")) {
            st = get_f64(M, "pixel_size_x", v, &s->pixel_size_x);
            s->has_pixel_size |= 1;
        } else if (key_is(k, "pixel_size_y")) {
            st = get_f64(M, "pixel_size_y", v, &s->pixel_size_y);
            s->has_pixel_size |= 2;
        } else if (key_is(k, "detector_translation")) {
            if (!cbor_isa_array(v) || cbor_array_size(v) != 3)
                st = azs_fail(AZS_ERR_FORMAT, "start message: detector_translation: expected 3 numbers");
            for (int j = 0; st == AZS_OK && j < 3; j++)
                st = get_f64(M, "detector_translation", cbor_array_handle(v)[j], &s->detector_translation[j]);
            s->has_translation = st == AZS_OK;
        } else if (key_is(k, "detector_distance")) {
            st = get_f64(M, "detector_distance", v, &s->detector_distance);
            s->has_distance = 1;
        } else if (key_is(k, "incident_wavelength")) {
            st = get_f64(M, "incident_wavelength", v, &s->incident_wavelength);
            s->has_wavelength = 1;
        } else if (key_is(k, "incident_energy")) {
            st = get_f64(M, "incident_energy", v, &s->incident_energy);
            s->has_energy = 1;
        } else if (key_is(k, "saturation_value")) {
            st = get_u64(M, "saturation_value", v, &s->saturation_value);
            s->has_saturation = 1;
        } else if (key_is(k, "number_of_images")) {
            st = get_u64(M, "number_of_images", v, &s->number_of_images);
            s->has_nimages = 1;
        } else if (key_is(k, "pixel_mask")) {
            st = get_channel_map(bt, M, "pixel_mask", v, s->pixel_mask, &s->npixel_mask);
        } else if (key_is(k, "flatfield")) {
            st = get_channel_map(bt, M, "flatfield", v, s->flatfield, &s->nflatfield);
        }
    }
    if (st != AZS_OK)
        return st;
    if (s->has_beam_center && s->has_beam_center != 3)
        return azs_fail(AZS_ERR_FORMAT, "start message: beam_center_%s without beam_center_%s",
                        s->has_beam_center == 1 ? "x" : "y", s->has_beam_center == 1 ? "y" : "x");
    if (s->has_pixel_size && s->has_pixel_size != 3)
        return azs_fail(AZS_ERR_FORMAT, "start message: pixel_size_%s without pixel_size_%s",
                        s->has_pixel_size == 1 ? "x" : "y", s->has_pixel_size == 1 ? "y" : "x");
    /* The masks and flatfields describe the images: their shape must be the images'. */
    for (int pass = 0; pass < 2; pass++) {
        const azs_stream_channel *c = pass ? s->flatfield : s->pixel_mask;
        for (int j = 0; j < (pass ? s->nflatfield : s->npixel_mask); j++) {
            const char *f = pass ? "flatfield" : "pixel_mask";
            if (c[j].a.codec != AZS_CODEC_NONE)
                return azs_fail(AZS_ERR_UNSUPPORTED, "start message: %s[%s]: compressed (read: raw)", f, c[j].name);
            if (s->image_size_x && (c[j].a.nx != s->image_size_x || c[j].a.ny != s->image_size_y))
                return azs_fail(AZS_ERR_FORMAT, "start message: %s[%s] is %u x %u, the images %u x %u", f,
                                c[j].name, c[j].a.ny, c[j].a.nx, s->image_size_y, s->image_size_x);
            const azs_dtype t = c[j].a.dtype;
            if (pass == 0 && (t == AZS_F32 || t == AZS_F64))
                return azs_fail(AZS_ERR_FORMAT, "start message: pixel_mask[%s]: float, not integers", c[j].name);
        }
    }
    return AZS_OK;
}

static azs_status decode_image(const bstr_table *bt, cbor_item_t *m, azs_stream_image *im)
{
    cbor_item_t *v;
    azs_status st;
    if (!(v = map_get(m, "image_id")))
        return azs_fail(AZS_ERR_FORMAT, "image message: no image_id");
    if ((st = get_u64("image", "image_id", v, &im->image_id)) != AZS_OK)
        return st;
    if ((v = map_get(m, "series_id")) && (st = get_u64("image", "series_id", v, &im->series_id)) != AZS_OK)
        return st;
    if (!(v = map_get(m, "data")))
        return azs_fail(AZS_ERR_FORMAT, "image message %llu: no data", (unsigned long long)im->image_id);
    if ((st = get_channel_map(bt, "image", "data", v, im->data, &im->nchannels)) != AZS_OK)
        return azs_fail_context(st, "image %llu: ", (unsigned long long)im->image_id);
    if (im->nchannels == 0)
        return azs_fail(AZS_ERR_FORMAT, "image message %llu: data holds no channel",
                        (unsigned long long)im->image_id);
    return AZS_OK;
}

static void priv_free(msg_priv *p)
{
    if (!p)
        return;
    if (p->root)
        cbor_decref(&p->root);
    free(p->bstr.ptr);
    free(p->bstr.len);
    free(p->copy);
    azs_stream_buffer_free(p->received);
    free(p);
}

/* Decode buf (size bytes), which p keeps alive (p is the message's from then on, freed
 * with it or on failure). */
static azs_status decode_kept(const uint8_t *buf, size_t size, msg_priv *p, azs_stream_msg **out)
{
    uint8_t *shadow = NULL;
    size_t shadow_len = 0;
    azs_status st = scan_message(buf, size, &shadow, &shadow_len, &p->bstr);
    if (st != AZS_OK) {
        free(shadow);
        priv_free(p);
        return st;
    }
    struct cbor_load_result res;
    p->root = cbor_load(shadow, shadow_len, &res);
    free(shadow);
    if (!p->root) {
        priv_free(p);
        return res.error.code == CBOR_ERR_MEMERROR
                   ? azs_fail(AZS_ERR_NOMEM, "stream message: %zu bytes", size)
                   : azs_fail(AZS_ERR_PARSE, "stream message: malformed CBOR (%zu bytes)", size);
    }
    azs_stream_msg *m = calloc(1, sizeof *m);
    if (!m) {
        priv_free(p);
        return azs_fail(AZS_ERR_NOMEM, "stream message");
    }
    m->priv = p;
    const bstr_table *bt = &p->bstr;
    cbor_item_t *top = p->root;
    while (cbor_isa_tag(top) && cbor_tag_value(top) == 55799) /* "self-described CBOR" */
        top = tagged(top);
    char type[16] = "";
    cbor_item_t *t = cbor_isa_map(top) ? map_get(top, "type") : NULL;
    if (!cbor_isa_map(top))
        st = azs_fail(AZS_ERR_FORMAT, "stream message: %s, not a map", kind_name(top));
    else if (!t)
        st = azs_fail(AZS_ERR_FORMAT, "stream message: no 'type'");
    else
        st = get_text("stream", "type", t, type, sizeof type, 1);
    if (st == AZS_OK) {
        if (!strcmp(type, "start")) {
            m->type = AZS_STREAM_START;
            st = decode_start(bt, top, &m->start);
        } else if (!strcmp(type, "image")) {
            m->type = AZS_STREAM_IMAGE;
            st = decode_image(bt, top, &m->image);
        } else if (!strcmp(type, "end")) {
            m->type = AZS_STREAM_END;
            cbor_item_t *v = map_get(top, "series_id");
            if (v)
                st = get_u64("end", "series_id", v, &m->end_series_id);
        } else {
            st = azs_fail(AZS_ERR_UNSUPPORTED, "stream message of type '%s' (read: start, image, end)", type);
        }
    }
    if (st != AZS_OK) {
        azs_stream_msg_free(m);
        return st;
    }
    *out = m;
    return AZS_OK;
}

azs_status azs_stream_msg_decode(const void *buf, size_t size, azs_stream_msg **out)
{
    if (!out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_stream_msg_decode: NULL out");
    *out = NULL;
    if (!buf || size == 0)
        return azs_fail(AZS_ERR_PARSE, "stream message: empty");
    msg_priv *p = calloc(1, sizeof *p);
    if (p)
        p->copy = malloc(size);
    if (!p || !p->copy) {
        free(p);
        return azs_fail(AZS_ERR_NOMEM, "stream message: %zu bytes", size);
    }
    memcpy(p->copy, buf, size); /* the arrays point into the message: the caller's buffer may go */
    return decode_kept(p->copy, size, p, out);
}

azs_status azs_stream_msg_decode_buffer(azs_stream_buffer *b, azs_stream_msg **out)
{
    if (!out) {
        azs_stream_buffer_free(b);
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_stream_msg_decode_buffer: NULL out");
    }
    *out = NULL;
    size_t size = 0;
    const uint8_t *buf = b ? azs_stream_buffer_data(b, &size) : NULL;
    if (!buf || size == 0) {
        azs_stream_buffer_free(b);
        return azs_fail(AZS_ERR_PARSE, "stream message: empty");
    }
    msg_priv *p = calloc(1, sizeof *p);
    if (!p) {
        azs_stream_buffer_free(b);
        return azs_fail(AZS_ERR_NOMEM, "stream message");
    }
    p->received = b;
    return decode_kept(buf, size, p, out);
}

void azs_stream_msg_free(azs_stream_msg *m)
{
    if (!m)
        return;
    priv_free(m->priv);
    free(m);
}
