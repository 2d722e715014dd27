/* JSON configs: the settings' own option names and pyFAI's integration-config keys, read
 * through azs_settings_set so that a value gets the same checks whatever its origin. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "settings_internal.h"

#define CONFIG_MAX_BYTES (16u << 20) /* a config is a few KB; anything this big is not one */
#define CONFIG_MAX_DEPTH 32          /* pyFAI's deepest is 3 (poni → detector_config → shape) */

static const cJSON *num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x : NULL;
}

static int get_bool(const cJSON *o, const char *k, int *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x)
        return 0;
    *out = cJSON_IsTrue(x) || (cJSON_IsNumber(x) && x->valuedouble != 0);
    return 1;
}

static int is_count(double v) { return v >= 0 && v <= 4294967295.0 && v == floor(v); }

azs_status azs_settings_json_geometry(azs_settings *s, const char *origin, const cJSON *p)
{
    azs_geometry g;
    memset(&g, 0, sizeof g);
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(p, "detector");
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(p, "detector_config");
    if (dc && !cJSON_IsObject(dc))
        dc = NULL;
    const char *dname = cJSON_IsString(det) ? det->valuestring : "Detector";
    azs_status st;
    /* A name that is the generic detector under another spelling gives no pixel size. */
    int generic = !strcasecmp(dname, "Detector");
    if (!generic) {
        if ((st = azs_detector_by_name(dname, &g.det)) != AZS_OK)
            return azs_fail_context(st, "%s: poni.detector: ", origin);
        generic = !(g.det.pixel1 > 0 && g.det.pixel2 > 0);
    }
    if (generic) {
        const cJSON *p1 = num(dc ? dc : p, "pixel1"), *p2 = num(dc ? dc : p, "pixel2");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(dc ? dc : p, dc ? "max_shape" : "shape");
        if (!p1 || !p2 || !(p1->valuedouble > 0) || !(p2->valuedouble > 0))
            return azs_fail(AZS_ERR_PARSE, "%s: a generic detector needs pixel1 and pixel2 > 0", origin);
        uint32_t ny = 0, nx = 0;
        if (cJSON_IsArray(sh) && cJSON_GetArraySize(sh) == 2) {
            const cJSON *a = cJSON_GetArrayItem(sh, 0), *b = cJSON_GetArrayItem(sh, 1);
            if (!cJSON_IsNumber(a) || !cJSON_IsNumber(b) || !is_count(a->valuedouble) ||
                !is_count(b->valuedouble))
                return azs_fail(AZS_ERR_PARSE, "%s: max_shape must be two pixel counts", origin);
            ny = (uint32_t)a->valuedouble;
            nx = (uint32_t)b->valuedouble;
        }
        azs_detector_generic(&g.det, p1->valuedouble, p2->valuedouble, ny, nx);
    }
    const cJSON *x;
    if (dc && (x = num(dc, "orientation"))) {
        double o = x->valuedouble;
        if (!(o >= 0 && o <= 4) || o != floor(o))
            return azs_fail(AZS_ERR_PARSE, "%s: detector_config.orientation must be 1..4", origin);
        g.det.orientation = o == 0 ? 3 : (int)o;
    }
    if ((x = num(p, "dist")) || (x = num(p, "distance")))
        g.dist = x->valuedouble;
    else
        return azs_fail(AZS_ERR_PARSE, "%s: geometry without 'dist'", origin);
    double *f[] = {&g.poni1, &g.poni2, &g.rot1, &g.rot2, &g.rot3, &g.wavelength};
    const char *k[] = {"poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"};
    for (int i = 0; i < 6; i++)
        if ((x = num(p, k[i])))
            *f[i] = x->valuedouble;
    g.poni_version = (x = num(p, "poni_version")) ? x->valuedouble : 2;
    return azs_settings_set_geometry(s, &g);
}

/* One key named like an option ("npt_azim", "radial_range", ...) through azs_settings_set. */
static azs_status option_key(azs_settings *s, const char *origin, const cJSON *it)
{
    char name[64];
    snprintf(name, sizeof name, "%s", it->string);
    int arity = azs_settings_option_arity(name);
    if (arity == 0)
        return cJSON_IsTrue(it) ? azs_settings_set(s, name, NULL) : AZS_OK;
    char val[4200];
    if (cJSON_IsNull(it))
        return AZS_OK;
    if (cJSON_IsString(it))
        snprintf(val, sizeof val, "%s", it->valuestring);
    else if (cJSON_IsNumber(it))
        snprintf(val, sizeof val, "%.17g", it->valuedouble);
    else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 && cJSON_IsNumber(cJSON_GetArrayItem(it, 0)) &&
             cJSON_IsNumber(cJSON_GetArrayItem(it, 1)))
        snprintf(val, sizeof val, "%.17g:%.17g", cJSON_GetArrayItem(it, 0)->valuedouble,
                 cJSON_GetArrayItem(it, 1)->valuedouble);
    else if (cJSON_IsArray(it) && cJSON_IsString(cJSON_GetArrayItem(it, 0)))
        snprintf(val, sizeof val, "%s", cJSON_GetArrayItem(it, 0)->valuestring); /* pyFAI's method tuple */
    else
        return azs_fail(AZS_ERR_PARSE, "%s: key '%s' has a value of the wrong type", origin, it->string);
    azs_status st = azs_settings_set(s, name, val);
    return st == AZS_OK ? st : azs_fail_context(AZS_ERR_PARSE, "%s: key '%s': ", origin, it->string);
}

/* A pyFAI key's value through the option it means, so it gets the option's checks; the
 * message names the key. */
static azs_status set_from_key(azs_settings *s, const char *origin, const char *key, const char *option,
                               const char *value)
{
    azs_status st = azs_settings_set(s, option, value);
    return st == AZS_OK ? st : azs_fail_context(AZS_ERR_PARSE, "%s: key '%s': ", origin, key);
}

static azs_status set_number(azs_settings *s, const char *origin, const char *key, const char *option, double v)
{
    char val[64];
    snprintf(val, sizeof val, "%.17g", v);
    return set_from_key(s, origin, key, option, val);
}

static azs_status set_range(azs_settings *s, const char *origin, const char *key, const char *option,
                            const cJSON *lo, const cJSON *hi)
{
    char val[128];
    snprintf(val, sizeof val, "%.17g:%.17g", lo->valuedouble, hi->valuedouble);
    return set_from_key(s, origin, key, option, val);
}

/* pyFAI's integration-config keys that are not option names. */
static azs_status pyfai_keys(azs_settings *s, const char *origin, const cJSON *root)
{
    azs_integrate_options *o = &s->io;
    const cJSON *x;
    azs_status st = AZS_OK;
    int b;
    if ((x = num(root, "nbpt_rad")) && (st = set_number(s, origin, "nbpt_rad", "npt", x->valuedouble)))
        return st;
    if ((x = num(root, "nbpt_azim"))) { /* pyFAI: 1 (or 0) means 1D */
        double v = x->valuedouble == 1 ? 0 : x->valuedouble;
        if ((st = set_number(s, origin, "nbpt_azim", "npt-azim", v)))
            return st;
    }
    if (get_bool(root, "do_solid_angle", &b))
        o->solid_angle = b;
    if (get_bool(root, "mask_detector_gaps", &b))
        o->mask_detector_gaps = b;
    if ((x = num(root, "polarization_factor"))) {
        int on = 1;
        get_bool(root, "do_polarization", &on);
        if (on && (st = set_number(s, origin, "polarization_factor", "polarization", x->valuedouble)))
            return st;
        if (!on)
            o->has_polarization = 0;
    }
    if (get_bool(root, "do_dummy", &b)) {
        if (!b)
            o->has_dummy = 0;
        else if ((x = num(root, "val_dummy")))
            st = set_number(s, origin, "val_dummy", "dummy", x->valuedouble);
        else
            o->has_dummy = 1;
        if (st)
            return st;
    }
    if (get_bool(root, "do_radial_range", &b) && b) {
        const cJSON *lo = num(root, "radial_range_min"), *hi = num(root, "radial_range_max");
        if (lo && hi && (st = set_range(s, origin, "radial_range_min/max", "radial-range", lo, hi)))
            return st;
    }
    if (get_bool(root, "do_azimuthal_range", &b) && b) {
        const cJSON *lo = num(root, "azimuth_range_min"), *hi = num(root, "azimuth_range_max");
        if (!lo)
            lo = num(root, "azimuthal_range_min");
        if (!hi)
            hi = num(root, "azimuthal_range_max");
        if (lo && hi && (st = set_range(s, origin, "azimuth_range_min/max", "azimuth-range", lo, hi)))
            return st;
    }
    if (get_bool(root, "do_poisson", &b) && b)
        o->error_model = AZS_ERRMODEL_POISSON;
    static const char *const files[][3] = {{"do_mask", "mask_file", "mask"},
                                           {"do_dark", "dark_current", "dark"},
                                           {"do_flat", "flat_field", "flat"}};
    for (int i = 0; i < 3; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, files[i][1]);
        int on = 1;
        get_bool(root, files[i][0], &on);
        if (on && cJSON_IsString(f) && f->valuestring[0] &&
            (st = set_from_key(s, origin, files[i][1], files[i][2], f->valuestring)))
            return st;
    }
    return AZS_OK;
}

/* Deepest nesting of arrays/objects, strings skipped: refused before cJSON recurses. */
static int too_deep(const char *t)
{
    int depth = 0, in_str = 0;
    for (; *t; t++) {
        if (in_str) {
            if (*t == '\\' && t[1])
                t++;
            else if (*t == '"')
                in_str = 0;
        } else if (*t == '"') {
            in_str = 1;
        } else if (*t == '[' || *t == '{') {
            if (++depth > CONFIG_MAX_DEPTH)
                return 1;
        } else if (*t == ']' || *t == '}') {
            depth--;
        }
    }
    return 0;
}

azs_status azs_settings_load_json(azs_settings *s, const char *text, const char *origin)
{
    if (!s || !text)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_load_json: NULL argument");
    if (!origin)
        origin = "<config>";
    if (too_deep(text))
        return azs_fail(AZS_ERR_PARSE, "%s: nested deeper than %d levels: not a configuration", origin,
                        CONFIG_MAX_DEPTH);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(text, &end, 1);
    if (!cJSON_IsObject(root)) {
        size_t at = root || !end ? 0 : (size_t)(end - text);
        cJSON_Delete(root);
        return root ? azs_fail(AZS_ERR_PARSE, "%s: not a JSON object", origin)
                    : azs_fail(AZS_ERR_PARSE, "%s: not valid JSON (error at byte %zu: '%.20s')", origin, at,
                               end ? end : "");
    }
    azs_status st = AZS_OK;
    const cJSON *poni = cJSON_GetObjectItemCaseSensitive(root, "poni");
    if (cJSON_IsString(poni)) {
        st = azs_settings_set(s, "poni", poni->valuestring);
        if (st != AZS_OK)
            st = azs_fail_context(AZS_ERR_PARSE, "%s: poni: ", origin);
    } else if (cJSON_IsObject(poni)) {
        st = azs_settings_json_geometry(s, origin, poni);
    } else if (num(root, "dist")) {
        st = azs_settings_json_geometry(s, origin, root);
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (st != AZS_OK)
            break;
        if (it->string && strcmp(it->string, "poni") && azs_settings_option_arity(it->string) >= 0)
            st = option_key(s, origin, it);
    }
    if (st == AZS_OK)
        st = pyfai_keys(s, origin, root);
    cJSON_Delete(root);
    return st;
}

azs_status azs_settings_load_config(azs_settings *s, const char *path)
{
    if (!s || !path)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_load_config: NULL argument");
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: cannot open the config file: %s", path, strerror(errno));
    char *text = NULL;
    size_t len = 0, cap = 0;
    azs_status st = AZS_OK;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            if (cap >= CONFIG_MAX_BYTES) {
                st = azs_fail(AZS_ERR_PARSE, "%s: larger than %u bytes: not a configuration", path,
                              CONFIG_MAX_BYTES);
                break;
            }
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                st = azs_fail(AZS_ERR_NOMEM, "%s: %zu bytes", path, cap);
                break;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, 4096, fp);
        len += n;
        if (n < 4096) {
            if (ferror(fp))
                st = azs_fail(AZS_ERR_IO, "%s: read failed", path);
            break;
        }
    }
    fclose(fp);
    if (st == AZS_OK) {
        text[len] = 0;
        if (strlen(text) != len)
            st = azs_fail(AZS_ERR_PARSE, "%s: NUL byte in a text file", path);
        else
            st = azs_settings_load_json(s, text, path);
    }
    free(text);
    return st;
}
