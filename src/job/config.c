/* JSON configs: pyFAI's integration configs (WorkerConfig versions 1 to 5, upgraded as
 * pyFAI 2026.9 upgrades them) and the settings' own option names. Every value goes through
 * azs_settings_set (or, for a geometry, the PONI parser), so it gets the same checks
 * whatever its origin; a key that is not understood is an error naming it
 * (doc/integration.md, "pyFAI configs"). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config_internal.h"

#define CONFIG_MAX_BYTES (16u << 20) /* a config is a few KB; anything this big is not one */
#define CONFIG_MAX_DEPTH 32          /* pyFAI's deepest is 3 (poni → detector_config → shape) */

/* ---------------------------------------------------------------- values */

static int is_finite_num(const cJSON *x) { return cJSON_IsNumber(x) && isfinite(x->valuedouble); }

/* A value for option `option` from key `key`: the option's checks, the key's name. */
static azs_status set_opt(const ctx *c, const char *key, const char *option, const char *value)
{
    azs_status st = azs_settings_set(c->s, option, value);
    return st == AZS_OK ? st : azs_fail_context(AZS_ERR_PARSE, "%s: key '%s': ", c->origin, key);
}

static azs_status set_num(const ctx *c, const char *key, const char *option, const cJSON *x)
{
    if (!is_finite_num(x))
        return bad(c, key, "not a finite number");
    char v[64];
    snprintf(v, sizeof v, "%.17g", x->valuedouble);
    return set_opt(c, key, option, v);
}


/* [lo, hi] → option "lo:hi". pyFAI 2026.9 drops a range with an infinite end (a half-open
 * range, written as Infinity), so does azstream. A null end (pyFAI cannot run one) is
 * azstream's half-open range: that end automatic, "lo:" or ":hi". */
static azs_status set_range(const ctx *c, const char *key, const char *option, const cJSON *lo, const cJSON *hi)
{
    /* null: that end open (automatic), as azstream's own configs store "5:" */
    const int open_lo = cJSON_IsNull(lo), open_hi = cJSON_IsNull(hi);
    if ((!open_lo && (!is_num(lo) || isnan(lo->valuedouble))) ||
        (!open_hi && (!is_num(hi) || isnan(hi->valuedouble))) || (open_lo && open_hi))
        return bad(c, key, "not two numbers");
    if ((!open_lo && !isfinite(lo->valuedouble)) || (!open_hi && !isfinite(hi->valuedouble)))
        return AZS_OK;
    char v[128], a[40] = "", b[40] = "";
    if (!open_lo)
        snprintf(a, sizeof a, "%.17g", lo->valuedouble);
    if (!open_hi)
        snprintf(b, sizeof b, "%.17g", hi->valuedouble);
    snprintf(v, sizeof v, "%s:%s", a, b);
    return set_opt(c, key, option, v);
}

/* File names: a string, or (dark, flat) a list of them, combined when built (combine.c). */
static azs_status set_files(const ctx *c, const cJSON *x, const char *option, int list_ok)
{
    const char *key = x->string;
    if (cJSON_IsNull(x) || (cJSON_IsString(x) && !x->valuestring[0]))
        return AZS_OK; /* pyFAI: an empty name is no file */
    if (cJSON_IsString(x)) {
        if (strchr(x->valuestring, '\n'))
            return bad(c, key, "a file name with a newline");
        return set_opt(c, key, option, x->valuestring);
    }
    if (!list_ok || !cJSON_IsArray(x))
        return bad(c, key, list_ok ? "not a file name or a list of them" : "not a file name");
    char v[AZS_PATH_MAX];
    size_t n = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, x)
    {
        if (!cJSON_IsString(e) || !e->valuestring[0] || strchr(e->valuestring, '\n'))
            return bad(c, key, "a list entry that is not a file name");
        size_t l = strlen(e->valuestring);
        if (n + l + 2 > sizeof v)
            return bad(c, key, "file names too long together");
        if (n)
            v[n++] = '\n';
        memcpy(v + n, e->valuestring, l + 1);
        n += l;
    }
    return n ? set_opt(c, key, option, v) : AZS_OK;
}

/* ---------------------------------------------------------------- methods */

static azs_status set_split(const ctx *c, const char *key, const char *split)
{
    return set_opt(c, key, "method", split);
}

/* A method string of versions 1..5 (pyFAI's Method.parsed): only the splitting matters to
 * azstream; words pyFAI does not know are refused rather than read as "any". */
static azs_status legacy_method(const ctx *c, const char *key, const char *m)
{
    static const char *const words[] = {"split", "splitbbox", "bbox", "splitpixel", "splitpixelfull", "full",
                                        "pseudo", "nosplit", "no", "csr", "lut", "histogram", "ocl", "csrocl",
                                        "lutocl", "cython", "numpy", "python", "opencl", "gpu", "cpu", "all"};
    char buf[128];
    if (strlen(m) >= sizeof buf)
        return bad(c, key, "not a pyFAI method");
    snprintf(buf, sizeof buf, "%s", m);
    const char *split = "no"; /* pyFAI resolves an unspecified splitting to "no" (measured) */
    for (char *save = NULL, *w = strtok_r(buf, "_ ", &save); w; w = strtok_r(NULL, "_ ", &save)) {
        size_t i = 0;
        while (i < sizeof words / sizeof words[0] && strcasecmp(w, words[i]))
            i++;
        if (i == sizeof words / sizeof words[0] && strspn(w, "0123456789,") != strlen(w))
            return azs_fail(AZS_ERR_PARSE, "%s: key '%s': '%s' is not a pyFAI method", c->origin, key, m);
        if (!strcasecmp(w, "splitbbox") || !strcasecmp(w, "bbox"))
            split = "bbox";
        else if (!strcasecmp(w, "full") || !strcasecmp(w, "splitpixelfull"))
            split = "full";
    }
    return set_split(c, key, split);
}

/* [split, algo, impl] (or pyFAI's 5-field Method: dim, split, algo, impl, target). */
static azs_status method_list(const ctx *c, const cJSON *x)
{
    int n = cJSON_GetArraySize(x), o = n == 5 ? 1 : 0;
    if (n != 3 && n != 5)
        return bad(c, x->string, "not [split, algorithm, implementation]");
    static const char *const ok[3][4] = {{"no", "bbox", "full", NULL},
                                         {"csr", "lut", "histogram", NULL},
                                         {"cython", "python", "opencl", NULL}};
    for (int k = 0; k < 3; k++) {
        const cJSON *e = cJSON_GetArrayItem(x, o + k);
        if (cJSON_IsNull(e))
            continue;
        int i = 0;
        while (cJSON_IsString(e) && ok[k][i] && strcasecmp(e->valuestring, ok[k][i]))
            i++;
        if (!cJSON_IsString(e) || !ok[k][i])
            return azs_fail(AZS_ERR_PARSE, "%s: key '%s': entry %d is not %s, %s, %s or null", c->origin,
                            x->string, o + k, ok[k][0], ok[k][1], ok[k][2]);
    }
    const cJSON *sp = cJSON_GetArrayItem(x, o);
    return set_split(c, x->string, cJSON_IsString(sp) ? sp->valuestring : "no");
}

/* ---------------------------------------------------------------- geometry */

/* A "poni" object: written out as a PONI file and read by the PONI parser, so that it gets
 * exactly a PONI file's checks (positive distance, finite numbers, known detector). */
static azs_status poni_object(const ctx *c, const cJSON *p)
{
    char text[8192];
    size_t n = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, p)
    {
        size_t i = 0;
        while (i < sizeof PONI_KEYS / sizeof PONI_KEYS[0] && strcmp(x->string, PONI_KEYS[i]))
            i++;
        if (i == sizeof PONI_KEYS / sizeof PONI_KEYS[0])
            return azs_fail(AZS_ERR_PARSE, "%s: key 'poni.%s' is not a geometry key", c->origin, x->string);
    }
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(p, "poni_version");
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(p, "detector");
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(p, "detector_config");
    if (ver && !cJSON_IsNull(ver) && !is_finite_num(ver))
        return bad(c, "poni.poni_version", "not a number");
    if (det && !cJSON_IsNull(det) && (!cJSON_IsString(det) || strpbrk(det->valuestring, "\r\n")))
        return bad(c, "poni.detector", "not a detector name");
    if (dc && !cJSON_IsNull(dc) && !cJSON_IsObject(dc))
        return bad(c, "poni.detector_config", "not an object");
    n += (size_t)snprintf(text + n, sizeof text - n, "poni_version: %.17g\nDetector: %s\n",
                          is_num(ver) ? ver->valuedouble : 2.0,
                          cJSON_IsString(det) ? det->valuestring : "Detector");
    if (cJSON_IsObject(dc)) {
        char *j = cJSON_PrintUnformatted(dc);
        if (!j)
            return azs_fail(AZS_ERR_NOMEM, "%s: poni.detector_config", c->origin);
        if (n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "Detector_config: %s\n", j);
        free(j);
    }
    static const char *const num_keys[][2] = {{"dist", "Distance"}, {"distance", "Distance"}, {"poni1", "Poni1"},
                                              {"poni2", "Poni2"},   {"rot1", "Rot1"},         {"rot2", "Rot2"},
                                              {"rot3", "Rot3"},     {"wavelength", "Wavelength"}};
    const cJSON *d1 = cJSON_GetObjectItemCaseSensitive(p, "dist"), *d2 = cJSON_GetObjectItemCaseSensitive(p, "distance");
    if ((!d1 || cJSON_IsNull(d1)) && (!d2 || cJSON_IsNull(d2)))
        return bad(c, "poni", "a geometry without 'dist'");
    for (size_t i = 0; i < sizeof num_keys / sizeof num_keys[0]; i++) {
        x = cJSON_GetObjectItemCaseSensitive(p, num_keys[i][0]);
        int zero = (!x || cJSON_IsNull(x)) && i >= 2 && i < 7; /* pyFAI: poni and rotations default to 0 */
        if (!zero && (!x || cJSON_IsNull(x)))
            continue;
        char key[32];
        snprintf(key, sizeof key, "poni.%s", num_keys[i][0]);
        if (!zero && !is_finite_num(x))
            return bad(c, key, "not a finite number");
        if (n < sizeof text)
            n += (size_t)snprintf(text + n, sizeof text - n, "%s: %.17g\n", num_keys[i][1],
                                  zero ? 0.0 : x->valuedouble);
    }
    if (n >= sizeof text)
        return bad(c, "poni", "too long");
    char origin[AZS_PATH_MAX + 16];
    snprintf(origin, sizeof origin, "%s: poni", c->origin);
    azs_geometry g;
    if (azs_poni_parse(text, n, origin, &g) != AZS_OK)
        return azs_fail_context(AZS_ERR_PARSE, "%s", ""); /* the PONI parser's message, as a parse error */
    return azs_settings_set_geometry(c->s, &g);
}

/* A geometry as pyFAI's "poni" object (WorkerConfig v5), which poni_object reads back. */
void azs_settings_geometry_into(cJSON *p, const azs_geometry *g, int with_detector)
{
    cJSON_AddNumberToObject(p, "poni_version", g->poni_version);
    if (with_detector) {
        cJSON_AddStringToObject(p, "detector", g->det.name);
        cJSON *dc = cJSON_AddObjectToObject(p, "detector_config");
        if (dc) {
            if (g->det.pixel1 > 0) /* a generic detector may lack one (PONI files too) */
                cJSON_AddNumberToObject(dc, "pixel1", g->det.pixel1);
            if (g->det.pixel2 > 0)
                cJSON_AddNumberToObject(dc, "pixel2", g->det.pixel2);
            /* a named detector's shape is its own; pyFAI takes none in its config */
            if (!strcmp(g->det.name, "Detector") && g->det.ny && g->det.nx) {
                cJSON *sh = cJSON_AddArrayToObject(dc, "max_shape");
                if (sh) {
                    cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.ny));
                    cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.nx));
                }
            }
            if (g->poni_version >= 2.1) /* its presence makes a PONI 2.1 */
                cJSON_AddNumberToObject(dc, "orientation", g->det.orientation);
        }
    }
    cJSON_AddNumberToObject(p, "dist", g->dist);
    cJSON_AddNumberToObject(p, "poni1", g->poni1);
    cJSON_AddNumberToObject(p, "poni2", g->poni2);
    cJSON_AddNumberToObject(p, "rot1", g->rot1);
    cJSON_AddNumberToObject(p, "rot2", g->rot2);
    cJSON_AddNumberToObject(p, "rot3", g->rot3);
    if (g->wavelength > 0) /* 0: none given */
        cJSON_AddNumberToObject(p, "wavelength", g->wavelength);
}

azs_status azs_settings_json_geometry(azs_settings *s, const char *origin, const cJSON *p)
{
    ctx c = {s, origin ? origin : "<config>", 5, 1};
    return poni_object(&c, p);
}

/* ---------------------------------------------------------------- keys (version 5) */

/* pyFAI's ErrorModel.parse: a case-insensitive prefix of no, variance, poisson, azimuthal,
 * hybrid (in that order), or 0..4. An unknown name is an error here (pyFAI reads "no"). */
static azs_status error_model(const ctx *c, const cJSON *x)
{
    static const char *const names[] = {"no", "variance", "poisson", "azimuthal", "hybrid"};
    int m = -1;
    if (cJSON_IsNull(x)) {
        m = 0;
    } else if (is_num(x)) {
        if (x->valuedouble >= 0 && x->valuedouble <= 4 && x->valuedouble == floor(x->valuedouble))
            m = (int)x->valuedouble;
    } else if (cJSON_IsString(x)) {
        const char *v = x->valuestring;
        if (!strcasecmp(v, "none"))
            m = 0; /* azstream's own name */
        for (int i = 0; m < 0 && i < 5; i++)
            if (!strncasecmp(names[i], v, strlen(v)))
                m = i;
    }
    if (m < 0)
        return bad(c, x->string, "not an error model (no, poisson, azimuthal, hybrid)");
    if (m == 1)
        return bad(c, x->string, "'variance' needs a variance array, which a config cannot give");
    /* hybrid: azimuthal for sigma clipping, Poisson otherwise; integrate gives Poisson's sigma */
    static const char *const ours[] = {"none", "", "poisson", "azimuthal", "poisson"};
    return set_opt(c, x->string, "error-model", ours[m]);
}

static azs_status integrator_method(const ctx *c, const cJSON *x)
{
    static const char *const ok[] = {"integrate1d_ng", "integrate2d_ng", "integrate1d", "integrate2d"};
    if (cJSON_IsNull(x))
        return AZS_OK;
    for (size_t i = 0; cJSON_IsString(x) && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(x->valuestring, ok[i]))
            return AZS_OK; /* 1D or 2D follows nbpt_azim, as in pyFAI's worker */
    return azs_fail(AZS_ERR_PARSE, "%s: key '%s': azstream integrates only (integrate1d_ng, integrate2d_ng), "
                    "not '%s'", c->origin, x->string, cJSON_IsString(x) ? x->valuestring : "?");
}

static azs_status polarization(const ctx *c, const cJSON *x)
{
    if (cJSON_IsNull(x))
        return AZS_OK;
    const cJSON *f = cJSON_GetArrayItem(x, 0), *o = cJSON_GetArrayItem(x, 1);
    if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2 || (!cJSON_IsNull(f) && !is_num(f)) ||
        (!cJSON_IsNull(o) && !is_num(o)))
        return bad(c, x->string, "not [factor, offset]");
    azs_status st = AZS_OK;
    if (is_num(f))
        st = set_num(c, x->string, "polarization", f);
    else
        c->s->io.has_polarization = 0; /* [null, 0]: no correction */
    if (st == AZS_OK && is_num(o))
        st = set_num(c, x->string, "polarization-offset", o);
    return st;
}

static azs_status shape(const ctx *c, const cJSON *x)
{
    if (cJSON_IsNull(x))
        return AZS_OK;
    const cJSON *a = cJSON_GetArrayItem(x, 0), *b = cJSON_GetArrayItem(x, 1);
    if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2 || !is_num(a) || !is_num(b) || !(a->valuedouble >= 1) ||
        !(b->valuedouble >= 1) || a->valuedouble > 4294967295.0 || b->valuedouble > 4294967295.0 ||
        a->valuedouble != floor(a->valuedouble) || b->valuedouble != floor(b->valuedouble))
        return bad(c, x->string, "not [rows, columns]");
    return AZS_OK; /* informational in pyFAI too; the frames give the shape */
}

/* A key named like an option ("npt_azim", "radial_range", ...) through azs_settings_set. */
static azs_status option_key(const ctx *c, const cJSON *it)
{
    const char *k = it->string;
    int arity = azs_settings_option_arity(k);
    if (arity == 0) {
        if (check_bool(c, it) != AZS_OK)
            return check_bool(c, it);
        return truthy(it) ? set_opt(c, k, k, NULL) : AZS_OK;
    }
    if (cJSON_IsNull(it))
        return AZS_OK;
    if (cJSON_IsString(it))
        return set_opt(c, k, k, it->valuestring);
    if (is_num(it))
        return set_num(c, k, k, it);
    if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2)
        return set_range(c, k, k, cJSON_GetArrayItem(it, 0), cJSON_GetArrayItem(it, 1));
    return bad(c, k, "a value of the wrong type");
}

/* Keys pyFAI accepts that concern only its GUI, OpenCL or other integrators' bookkeeping. */
static int ignored_key(const char *k)
{
    static const char *const keys[] = {"application", "version", "opencl_device", "monitor_name",
                                       "do_2D", "do_mask", "do_dark", "do_flat", "do_polarization", "do_dummy",
                                       "do_radial_range", "do_azimuthal_range", "do_solid_angle",
                                       /* what ran a stored configuration (job.c), not settings */
                                       "inputs", "layout", "workers", "pixel_mask", "allow_missing"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (!strcmp(k, keys[i]))
            return 1;
    return 0;
}

static azs_status one_key(ctx *c, const cJSON *x)
{
    const char *k = x->string;
    azs_settings *s = c->s;
    if (!strcmp(k, "poni") || !strcmp(k, "azstream") || !strcmp(k, "radial_range_min") ||
        !strcmp(k, "radial_range_max") || !strcmp(k, "azimuth_range_min") || !strcmp(k, "azimuth_range_max"))
        return AZS_OK; /* read before or after the others */
    if (ignored_key(k)) {
        if (!strncmp(k, "do_", 3))
            return check_bool(c, x);
        if (!strcmp(k, "application") || !strcmp(k, "monitor_name"))
            return cJSON_IsString(x) || cJSON_IsNull(x) ? AZS_OK : bad(c, k, "not a string");
        return AZS_OK;
    }
    if (!strcmp(k, "nbpt_rad"))
        return cJSON_IsNull(x) ? AZS_OK : set_num(c, k, "npt", x);
    if (!strcmp(k, "nbpt_azim") || !strcmp(k, "npt_azim") || !strcmp(k, "npt-azim")) {
        if (cJSON_IsNull(x))
            return AZS_OK;
        if (!is_num(x))
            return bad(c, k, "not a bin count");
        /* pyFAI: 2D if and only if nbpt_azim > 1 (azstream's own npt_azim: 2D if > 0) */
        cJSON one = *x;
        if (!strcmp(k, "nbpt_azim") && (x->valuedouble == 0 || x->valuedouble == 1))
            one.valuedouble = 0;
        return set_num(c, k, "npt-azim", &one);
    }
    if (!strcmp(k, "unit")) {
        if (cJSON_IsNull(x))
            return c->pyfai ? set_opt(c, k, "unit", "2th_deg") : AZS_OK; /* pyFAI's worker default */
        return cJSON_IsString(x) ? set_opt(c, k, "unit", x->valuestring) : bad(c, k, "not a unit name");
    }
    if (!strcmp(k, "method")) {
        if (cJSON_IsNull(x))
            return AZS_OK; /* pyFAI: integrate's default, bbox/csr/cython */
        if (cJSON_IsArray(x))
            return method_list(c, x);
        if (!cJSON_IsString(x))
            return bad(c, k, "not a method");
        return c->pyfai ? legacy_method(c, k, x->valuestring) : set_opt(c, k, "method", x->valuestring);
    }
    if (!strcmp(k, "chi_discontinuity_at_0")) {
        if (check_bool(c, x) != AZS_OK || !truthy(x))
            return check_bool(c, x);
        return set_opt(c, k, "chi-disc-at-0", NULL);
    }
    if (!strcmp(k, "polarization_description"))
        return polarization(c, x);
    if (!strcmp(k, "val_dummy"))
        return cJSON_IsNull(x) ? AZS_OK : set_num(c, k, "dummy", x);
    if (!strcmp(k, "correct_solid_angle")) {
        if (check_bool(c, x) != AZS_OK)
            return check_bool(c, x);
        if (!cJSON_IsNull(x))
            s->io.solid_angle = truthy(x);
        return AZS_OK;
    }
    if (!strcmp(k, "dark_current"))
        return set_files(c, x, "dark", 1);
    if (!strcmp(k, "flat_field"))
        return set_files(c, x, "flat", 1);
    if (!strcmp(k, "mask_file"))
        return set_files(c, x, "mask", 0);
    if (!strcmp(k, "dark") || !strcmp(k, "flat") || !strcmp(k, "mask"))
        return set_files(c, x, k, strcmp(k, "mask") != 0);
    if (!strcmp(k, "error_model") || !strcmp(k, "error-model"))
        return error_model(c, x);
    if (!strcmp(k, "radial_range") || !strcmp(k, "azimuth_range") || !strcmp(k, "radial-range") ||
        !strcmp(k, "azimuth-range")) {
        if (cJSON_IsNull(x))
            return AZS_OK;
        if (cJSON_IsString(x))
            return set_opt(c, k, k, x->valuestring);
        if (!cJSON_IsArray(x) || cJSON_GetArraySize(x) != 2)
            return bad(c, k, "not [min, max]");
        return set_range(c, k, k, cJSON_GetArrayItem(x, 0), cJSON_GetArrayItem(x, 1));
    }
    if (!strcmp(k, "integrator_class"))
        return cJSON_IsNull(x) || (cJSON_IsString(x) && !strcmp(x->valuestring, "AzimuthalIntegrator"))
                   ? AZS_OK
                   : bad(c, k, "azstream has the AzimuthalIntegrator only");
    if (!strcmp(k, "integrator_method") || !strcmp(k, "integrator_name"))
        return integrator_method(c, x);
    if (!strcmp(k, "extra_options"))
        return cJSON_IsNull(x) || (cJSON_IsObject(x) && !x->child)
                   ? AZS_OK
                   : bad(c, k, "extra options of pyFAI's integrators are not supported");
    if (!strcmp(k, "shape"))
        return shape(c, x);
    if (!strcmp(k, "do_poisson"))
        return check_bool(c, x) != AZS_OK ? check_bool(c, x)
               : truthy(x)                ? set_opt(c, k, "error-model", "poisson")
                                          : AZS_OK;
    if (!strcmp(k, "polarization_factor"))
        return bad(c, k, "not a version-5 key (polarization_description is)");
    if (azs_settings_option_arity(k) >= 0)
        return option_key(c, x);
    return azs_fail(AZS_ERR_PARSE, "%s: unknown key '%s'", c->origin, k);
}

/* pyFAI's OPTIONAL keys: both ends of a range (one alone fails in pyFAI too). */
static azs_status range_pair(const ctx *c, const cJSON *root, const char *lo, const char *hi, const char *both,
                             const char *option)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, lo), *b = cJSON_GetObjectItemCaseSensitive(root, hi);
    if (cJSON_IsNull(a))
        a = NULL;
    if (cJSON_IsNull(b))
        b = NULL;
    if (!a && !b)
        return AZS_OK;
    if (!a || !b)
        return bad(c, a ? lo : hi, "given without the other end of the range");
    return set_range(c, both, option, a, b);
}

/* ---------------------------------------------------------------- text */

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

/* pyFAI (Python's json) writes Infinity, -Infinity and NaN; cJSON parses none of them.
 * Outside strings, Infinity becomes 1e999 (strtod: inf) padded to the same length, and NaN
 * the string "N" (refused where a number is expected), so byte offsets stay put. */
static void python_tokens(char *t)
{
    int in_str = 0;
    for (char *p = t; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = 0;
        } else if (*p == '"') {
            in_str = 1;
        } else if (!strncmp(p, "Infinity", 8)) {
            memcpy(p, "1e999   ", 8);
            p += 7;
        } else if (!strncmp(p, "NaN", 3)) {
            memcpy(p, "\"N\"", 3);
            p += 2;
        }
    }
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
    char *t = strdup(text);
    if (!t)
        return azs_fail(AZS_ERR_NOMEM, "%s: %zu bytes", origin, strlen(text));
    python_tokens(t);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(t, &end, 1);
    if (!cJSON_IsObject(root)) {
        size_t at = root || !end ? 0 : (size_t)(end - t);
        cJSON_Delete(root);
        free(t);
        return root ? azs_fail(AZS_ERR_PARSE, "%s: not a JSON object", origin)
                    : azs_fail(AZS_ERR_PARSE, "%s: not valid JSON (error at byte %zu: '%.20s')", origin, at,
                               text + at);
    }
    free(t);
    /* Work on a copy: a failure leaves s as it was. */
    azs_settings *w = malloc(sizeof *w);
    if (!w) {
        cJSON_Delete(root);
        return azs_fail(AZS_ERR_NOMEM, "%s: settings", origin);
    }
    *w = *s;
    azs_status st = AZS_OK;
    ctx c = {w, origin, 1, 0};
    const cJSON *ver = cJSON_GetObjectItemCaseSensitive(root, "version");
    if (ver && !cJSON_IsNull(ver)) {
        if (!is_num(ver) || !(ver->valuedouble >= 1) || ver->valuedouble != floor(ver->valuedouble))
            st = bad(&c, "version", "not a version number");
        else
            c.version = ver->valuedouble >= 5 ? 5 : (int)ver->valuedouble;
    }
    c.pyfai = cJSON_HasObjectItem(root, "version") || cJSON_HasObjectItem(root, "application") ||
              cJSON_HasObjectItem(root, "nbpt_rad");
    if (st == AZS_OK)
        st = azs_config_upgrade(&c, root);
    const cJSON *poni = cJSON_GetObjectItemCaseSensitive(root, "poni");
    if (st == AZS_OK && poni && !cJSON_IsNull(poni)) {
        if (cJSON_IsString(poni))
            st = set_opt(&c, "poni", "poni", poni->valuestring);
        else if (cJSON_IsObject(poni))
            st = poni_object(&c, poni);
        else
            st = bad(&c, "poni", "not a PONI file name or a geometry object");
    }
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (st != AZS_OK)
            break;
        st = one_key(&c, it);
    }
    if (st == AZS_OK && c.pyfai && !cJSON_HasObjectItem(root, "unit"))
        st = set_opt(&c, "unit", "unit", "2th_deg"); /* pyFAI's worker without a unit */
    if (st == AZS_OK)
        st = range_pair(&c, root, "radial_range_min", "radial_range_max", "radial_range_min/max",
                        "radial-range");
    if (st == AZS_OK)
        st = range_pair(&c, root, "azimuth_range_min", "azimuth_range_max", "azimuth_range_min/max",
                        "azimuth-range");
    /* azstream's settings pyFAI has no key for (azs_settings_to_json), last. */
    const cJSON *own = cJSON_GetObjectItemCaseSensitive(root, "azstream");
    if (st == AZS_OK && own && !cJSON_IsNull(own)) {
        if (!cJSON_IsObject(own))
            st = bad(&c, "azstream", "not an object");
        cJSON_ArrayForEach(it, own)
        {
            if (st != AZS_OK)
                break;
            if (azs_settings_option_arity(it->string) < 0)
                st = azs_fail(AZS_ERR_PARSE, "%s: unknown key 'azstream.%s'", origin, it->string);
            else if (!strcmp(it->string, "npt_azim") || !strcmp(it->string, "dark") ||
                     !strcmp(it->string, "flat") || !strcmp(it->string, "mask"))
                st = one_key(&c, it);
            else
                st = option_key(&c, it);
        }
    }
    cJSON_Delete(root);
    if (st == AZS_OK)
        *s = *w;
    free(w);
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
