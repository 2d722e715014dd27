/* PONI files (pyFAI's geometry format, versions 1, 2, 2.1 and 3 without parallax).
 *
 * Design note. The format is `key: value` lines; the key is everything before the first
 * ':' (case-insensitive, trimmed), the value everything after (trimmed); lines without a
 * ':' and lines starting with '#' are ignored; a later line wins over an earlier one with
 * the same key (all as pyFAI reads it). We first collect the lines we know (remembering
 * their line numbers for messages), then interpret them:
 *   * version = poni_version (default 1), raised to 2 when a Detector_config line exists
 *     and to 2.1 when that line mentions "orientation", as pyFAI infers it;
 *   * version 1: Detector (optional, default generic) + PixelSize1/PixelSize2;
 *   * version >= 2: Detector (required) + Detector_config JSON (pixel1, pixel2, max_shape,
 *     module_size, orientation; sensor ignored since it only matters for parallax);
 *   * Distance, Poni1, Poni2, Rot1..3 are required numbers, Wavelength optional.
 * The input is untrusted: sizes are capped, numbers must be finite and consume the whole
 * value, every message names origin:line. No allocation except cJSON's own. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "azstream/geometry.h"
#include "common/error.h"

#define PONI_MAX_BYTES (1u << 20) /* a real PONI is < 1 KiB; refuse anything absurd */
#define PONI_MAX_VALUE 65536      /* Detector_config of a NeXus detector stays far below */

enum {
    K_VERSION, K_DETECTOR, K_CONFIG, K_DISTANCE, K_DIST, K_PONI1, K_PONI2, K_ROT1, K_ROT2,
    K_ROT3, K_WAVELENGTH, K_PIXEL1, K_PIXEL2, K_SPLINE, K_PARALLAX, K_COUNT
};
static const char *const KEY_NAMES[K_COUNT] = {
    "poni_version", "detector", "detector_config", "distance", "dist", "poni1", "poni2",
    "rot1", "rot2", "rot3", "wavelength", "pixelsize1", "pixelsize2", "splinefile", "parallax",
};
/* How the messages spell them (as pyFAI writes them). */
static const char *const KEY_SHOWN[K_COUNT] = {
    "poni_version", "Detector", "Detector_config", "Distance", "Dist", "Poni1", "Poni2",
    "Rot1", "Rot2", "Rot3", "Wavelength", "PixelSize1", "PixelSize2", "SplineFile", "Parallax",
};

typedef struct field {
    const char *v; /* value start (not NUL-terminated) */
    size_t len;
    int line;      /* 0 = absent */
} field;

typedef struct ctx {
    const char *origin;
    field f[K_COUNT];
} ctx;

static int ci_equal(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen != blen) return 0;
    for (size_t k = 0; k < alen; k++)
        if (tolower((unsigned char)a[k]) != b[k]) return 0;
    return 1;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }

/* pyFAI never writes "None" for a number, but older tools did for SplineFile and
 * Detector_config: read it as "absent". */
static int is_none(const field *f) { return f->line && ci_equal(f->v, f->len, "none"); }

/* Parse a field as a finite double; "None" counts as absent (*present = 0). */
static azs_status get_number(const ctx *c, int k, double *out, int required, int *present)
{
    const field *f = &c->f[k];
    if (present) *present = 0;
    if (!f->line || is_none(f)) {
        if (required)
            return azs_fail(AZS_ERR_PARSE, "%s: no '%s:' line (required)", c->origin, KEY_SHOWN[k]);
        return AZS_OK;
    }
    char buf[64];
    if (f->len == 0 || f->len >= sizeof buf)
        return azs_fail(AZS_ERR_PARSE, "%s:%d: %s: '%.*s' is not a number", c->origin, f->line,
                        KEY_SHOWN[k], (int)(f->len < 40 ? f->len : 40), f->v);
    memcpy(buf, f->v, f->len);
    buf[f->len] = 0;
    char *end = NULL;
    /* strtod: overflow gives ±HUGE_VAL (refused below), underflow 0 (accepted, as Python's
     * float() does) */
    double x = strtod(buf, &end);
    if (end == buf || *end != 0 || !isfinite(x) || strpbrk(buf, "xX")) /* no C hex floats */
        return azs_fail(AZS_ERR_PARSE, "%s:%d: %s: '%s' is not a finite number", c->origin,
                        f->line, KEY_SHOWN[k], buf);
    *out = x;
    if (present) *present = 1;
    return AZS_OK;
}

/* A JSON member as a positive finite number (null = keep default). */
static azs_status json_pixel(const ctx *c, const cJSON *v, const char *what, double *out)
{
    if (!v || cJSON_IsNull(v)) return AZS_OK;
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) || !(v->valuedouble > 0))
        return azs_fail(AZS_ERR_PARSE, "%s:%d: Detector_config: %s must be a positive number",
                        c->origin, c->f[K_CONFIG].line, what);
    *out = v->valuedouble;
    return AZS_OK;
}

/* A JSON [a, b] of positive integers < 2^31 (null = keep default). */
static azs_status json_pair(const ctx *c, const cJSON *v, const char *what, uint32_t *a, uint32_t *b)
{
    if (!v || cJSON_IsNull(v)) return AZS_OK;
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != 2) goto bad;
    uint32_t r[2];
    for (int k = 0; k < 2; k++) {
        const cJSON *e = cJSON_GetArrayItem(v, k);
        if (!cJSON_IsNumber(e)) goto bad;
        double x = e->valuedouble;
        if (!(x >= 1 && x <= 2147483647.0) || x != floor(x)) goto bad;
        r[k] = (uint32_t)x;
    }
    *a = r[0];
    *b = r[1];
    return AZS_OK;
bad:
    return azs_fail(AZS_ERR_PARSE, "%s:%d: Detector_config: %s must be [positive int, positive int]",
                    c->origin, c->f[K_CONFIG].line, what);
}

static azs_status apply_config(const ctx *c, azs_detector *d)
{
    const field *f = &c->f[K_CONFIG];
    if (!f->line || is_none(f)) return AZS_OK;
    cJSON *root = cJSON_ParseWithLength(f->v, f->len);
    if (!root)
        return azs_fail(AZS_ERR_PARSE, "%s:%d: Detector_config is not valid JSON", c->origin, f->line);
    azs_status st = AZS_OK;
    if (cJSON_IsNull(root)) goto done;
    if (!cJSON_IsObject(root)) {
        st = azs_fail(AZS_ERR_PARSE, "%s:%d: Detector_config must be a JSON object", c->origin, f->line);
        goto done;
    }
    /* pyFAI lower-cases the keys: match them case-insensitively. */
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        const char *k = item->string ? item->string : "";
        size_t kl = strlen(k);
        if (ci_equal(k, kl, "pixel1")) st = json_pixel(c, item, "pixel1", &d->pixel1);
        else if (ci_equal(k, kl, "pixel2")) st = json_pixel(c, item, "pixel2", &d->pixel2);
        else if (ci_equal(k, kl, "max_shape")) st = json_pair(c, item, "max_shape", &d->ny, &d->nx);
        else if (ci_equal(k, kl, "module_size")) {
            if (d->module_ny == 0 && !cJSON_IsNull(item))
                st = azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: Detector_config: module_size given for "
                              "a detector without modules ('%s')", c->origin, f->line, d->name);
            else st = json_pair(c, item, "module_size", &d->module_ny, &d->module_nx);
        } else if (ci_equal(k, kl, "orientation")) {
            if (cJSON_IsNull(item)) continue;
            double o = cJSON_IsNumber(item) ? item->valuedouble : -1;
            if (!(o >= 0 && o <= 4) || o != floor(o))
                st = azs_fail(AZS_ERR_PARSE, "%s:%d: Detector_config: orientation must be 1..4 "
                              "(5..8 are not supported by pyFAI either)", c->origin, f->line);
            else d->orientation = o == 0 ? 3 : (int)o; /* 0 = unspecified = pyFAI's native 3 */
        } else if (ci_equal(k, kl, "binning")) {
            /* [1, 1] (or null) is the only binning that keeps the table's geometry. */
            uint32_t b1 = 1, b2 = 1;
            st = json_pair(c, item, "binning", &b1, &b2);
            if (st == AZS_OK && (b1 != 1 || b2 != 1))
                st = azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: Detector_config: binning %ux%u is not "
                              "supported", c->origin, f->line, b1, b2);
        } else if (ci_equal(k, kl, "splinefile") || ci_equal(k, kl, "splineFile")) {
            if (!cJSON_IsNull(item) &&
                !(cJSON_IsString(item) && ci_equal(item->valuestring, strlen(item->valuestring), "none")))
                st = azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: Detector_config: spline distortion "
                              "files are not supported", c->origin, f->line);
        }
        /* other keys (sensor, ...) do not change positions: ignored, as pyFAI warns only */
        if (st != AZS_OK) break;
    }
done:
    cJSON_Delete(root);
    return st;
}

static azs_status detector_from(const ctx *c, int k, azs_detector *d)
{
    const field *f = &c->f[k];
    char name[sizeof d->name];
    if (f->len >= sizeof name)
        return azs_fail(AZS_ERR_PARSE, "%s:%d: Detector name longer than %zu characters", c->origin,
                        f->line, sizeof name - 1);
    memcpy(name, f->v, f->len);
    name[f->len] = 0;
    azs_status st = azs_detector_by_name(name, d);
    if (st != AZS_OK)
        return azs_fail(st, "%s:%d: unknown detector '%s' (not one of pyFAI's uniform-pixel "
                        "detectors that azstream knows)", c->origin, f->line, name);
    return AZS_OK;
}

azs_status azs_poni_parse(const char *text, size_t len, const char *origin, azs_geometry *g)
{
    if (!g) return azs_fail(AZS_ERR_INVALID_ARG, "azs_poni_parse: NULL geometry");
    if (!text && len) return azs_fail(AZS_ERR_INVALID_ARG, "azs_poni_parse: NULL text");
    ctx c;
    memset(&c, 0, sizeof c);
    c.origin = origin ? origin : "<poni>";
    if (len > PONI_MAX_BYTES)
        return azs_fail(AZS_ERR_PARSE, "%s: %zu bytes is too large for a PONI file (limit %u)",
                        c.origin, len, PONI_MAX_BYTES);

    /* Pass 1: split lines, remember the known keys. */
    int line = 0;
    for (size_t pos = 0; pos < len;) {
        line++;
        const char *s = text + pos;
        /* line ends as Python's universal newlines read them: \n, \r\n or a lone \r */
        size_t n = 0;
        while (n < len - pos && s[n] != '\n' && s[n] != '\r') n++;
        size_t eol = 0;
        if (n < len - pos) eol = (s[n] == '\r' && n + 1 < len - pos && s[n + 1] == '\n') ? 2 : 1;
        pos += n + eol;
        if (memchr(s, 0, n))
            return azs_fail(AZS_ERR_PARSE, "%s:%d: NUL byte in a text file", c.origin, line);
        if (n > 0 && s[0] == '#') continue;
        const char *colon = memchr(s, ':', n);
        if (!colon) continue;
        const char *k0 = s, *k1 = colon;
        while (k0 < k1 && is_space(*k0)) k0++;
        while (k1 > k0 && is_space(k1[-1])) k1--;
        const char *v0 = colon + 1, *v1 = s + n;
        while (v0 < v1 && is_space(*v0)) v0++;
        while (v1 > v0 && is_space(v1[-1])) v1--;
        for (int k = 0; k < K_COUNT; k++) {
            if (ci_equal(k0, (size_t)(k1 - k0), KEY_NAMES[k])) {
                if ((size_t)(v1 - v0) > PONI_MAX_VALUE)
                    return azs_fail(AZS_ERR_PARSE, "%s:%d: value of %s is %zu bytes long (limit %d)",
                                    c.origin, line, KEY_SHOWN[k], (size_t)(v1 - v0), PONI_MAX_VALUE);
                c.f[k].v = v0;
                c.f[k].len = (size_t)(v1 - v0);
                c.f[k].line = line;
                break;
            }
        }
    }

    /* Pass 2: interpret. */
    azs_status st;
    double version = 1.0;
    if (c.f[K_VERSION].line) {
        int present;
        if ((st = get_number(&c, K_VERSION, &version, 0, &present)) != AZS_OK) return st;
        if (!present) version = 1.0;
    }
    if (c.f[K_CONFIG].line) {
        /* pyFAI looks for the word in the raw JSON text */
        int has_orientation = 0;
        const field *f = &c.f[K_CONFIG];
        for (size_t k = 0; k + 11 <= f->len && !has_orientation; k++)
            has_orientation = memcmp(f->v + k, "orientation", 11) == 0;
        if (version < 2.0) version = 2.0;
        if (has_orientation && version < 2.1) version = 2.1;
    }
    if (c.f[K_PARALLAX].line) {
        if (version < 3.0) version = 3.0;
        if (ci_equal(c.f[K_PARALLAX].v, c.f[K_PARALLAX].len, "true"))
            return azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: parallax correction is not supported",
                            c.origin, c.f[K_PARALLAX].line);
    }
    if (!(version >= 1.0) || version > 3.0)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: PONI version %g is not supported (1, 2, 2.1, 3)",
                        c.origin, c.f[K_VERSION].line, version);

    azs_geometry out;
    memset(&out, 0, sizeof out);
    out.poni_version = version;
    if (version < 2.0) {
        if (c.f[K_DETECTOR].line) {
            if ((st = detector_from(&c, K_DETECTOR, &out.det)) != AZS_OK) return st;
        } else {
            azs_detector_generic(&out.det, 0.0, 0.0, 0, 0);
        }
        double p1 = 0, p2 = 0;
        int h1 = 0, h2 = 0;
        if ((st = get_number(&c, K_PIXEL1, &p1, 0, &h1)) != AZS_OK) return st;
        if ((st = get_number(&c, K_PIXEL2, &p2, 0, &h2)) != AZS_OK) return st;
        if ((h1 && !(p1 > 0)) || (h2 && !(p2 > 0)))
            return azs_fail(AZS_ERR_PARSE, "%s:%d: pixel size must be positive", c.origin,
                            c.f[h1 && !(p1 > 0) ? K_PIXEL1 : K_PIXEL2].line);
        if (strcmp(out.det.name, "Detector") != 0 && h1 && h2) {
            out.det.pixel1 = p1; /* a named detector with the file's pixel sizes */
            out.det.pixel2 = p2;
        } else if (h1 || h2) {
            /* pyFAI falls back to a generic detector when only one size is given */
            if (!(h1 && h2)) azs_detector_generic(&out.det, 0.0, 0.0, 0, 0);
            if (h1) out.det.pixel1 = p1;
            if (h2) out.det.pixel2 = p2;
        }
        if (c.f[K_SPLINE].line && !ci_equal(c.f[K_SPLINE].v, c.f[K_SPLINE].len, "none"))
            return azs_fail(AZS_ERR_UNSUPPORTED, "%s:%d: spline distortion files are not supported",
                            c.origin, c.f[K_SPLINE].line);
    } else {
        if (!c.f[K_DETECTOR].line)
            return azs_fail(AZS_ERR_PARSE, "%s: version %g file without a 'Detector:' line",
                            c.origin, version);
        if ((st = detector_from(&c, K_DETECTOR, &out.det)) != AZS_OK) return st;
        if ((st = apply_config(&c, &out.det)) != AZS_OK) return st;
    }

    int k_dist = c.f[K_DISTANCE].line ? K_DISTANCE : K_DIST;
    if ((st = get_number(&c, k_dist, &out.dist, 1, NULL)) != AZS_OK) return st;
    if ((st = get_number(&c, K_PONI1, &out.poni1, 1, NULL)) != AZS_OK) return st;
    if ((st = get_number(&c, K_PONI2, &out.poni2, 1, NULL)) != AZS_OK) return st;
    if ((st = get_number(&c, K_ROT1, &out.rot1, 1, NULL)) != AZS_OK) return st;
    if ((st = get_number(&c, K_ROT2, &out.rot2, 1, NULL)) != AZS_OK) return st;
    if ((st = get_number(&c, K_ROT3, &out.rot3, 1, NULL)) != AZS_OK) return st;
    int hw = 0;
    if ((st = get_number(&c, K_WAVELENGTH, &out.wavelength, 0, &hw)) != AZS_OK) return st;
    if (hw && !(out.wavelength > 0))
        return azs_fail(AZS_ERR_PARSE, "%s:%d: Wavelength must be positive", c.origin,
                        c.f[K_WAVELENGTH].line);
    if (!(out.dist > 0))
        return azs_fail(AZS_ERR_PARSE, "%s:%d: %s must be positive", c.origin, c.f[k_dist].line,
                        KEY_SHOWN[k_dist]);
    *g = out;
    return AZS_OK;
}

azs_status azs_poni_load(const char *path, azs_geometry *g)
{
    if (!path || !g) return azs_fail(AZS_ERR_INVALID_ARG, "azs_poni_load: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp) return azs_fail(errno == ENOENT ? AZS_ERR_NOT_FOUND : AZS_ERR_IO, "%s: cannot open: %s",
                             path, strerror(errno));
    /* Read at most the limit + 1 bytes: enough to tell a too-large file. */
    size_t cap = PONI_MAX_BYTES + 1, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        return azs_fail(AZS_ERR_NOMEM, "%s: out of memory", path);
    }
    while (len < cap) {
        size_t r = fread(buf + len, 1, cap - len, fp);
        if (r == 0) break;
        len += r;
    }
    int err = ferror(fp);
    fclose(fp);
    if (err) {
        free(buf);
        return azs_fail(AZS_ERR_IO, "%s: read error", path);
    }
    azs_status st = azs_poni_parse(buf, len, path, g);
    free(buf);
    return st;
}
