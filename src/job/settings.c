/* Settings: integration options by name, with one validation for the command line, JSON
 * configs and library callers, and their JSON form (read back bit for bit). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "settings_internal.h"

azs_status azs_settings_create(azs_settings **out)
{
    if (!out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_create: NULL out");
    azs_settings *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "settings: %zu bytes", sizeof *s);
    azs_integrate_options_default(&s->io);
    *out = s;
    return AZS_OK;
}

azs_status azs_settings_copy(const azs_settings *s, azs_settings **out)
{
    if (!s || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_copy: NULL argument");
    azs_settings *c = malloc(sizeof *c);
    if (!c)
        return azs_fail(AZS_ERR_NOMEM, "settings: %zu bytes", sizeof *c);
    *c = *s;
    *out = c;
    return AZS_OK;
}

void azs_settings_destroy(azs_settings *s) { free(s); }

const char *azs_split_name(azs_split s)
{
    return s == AZS_SPLIT_NO ? "no" : s == AZS_SPLIT_BBOX ? "bbox" : "full";
}

const char *azs_error_model_name(azs_error_model m)
{
    return m == AZS_ERRMODEL_NONE ? "none" : m == AZS_ERRMODEL_POISSON ? "poisson" : "azimuthal";
}

const azs_geometry *azs_settings_geometry(const azs_settings *s)
{
    return s && (s->geom_inline || s->geom_loaded) ? &s->geom : NULL;
}

const azs_integrate_options *azs_settings_integrate_options(const azs_settings *s)
{
    return s ? &s->io : NULL;
}

const char *azs_settings_poni_path(const azs_settings *s)
{
    return s && !s->geom_inline ? s->poni_path : "";
}

azs_status azs_settings_set_geometry(azs_settings *s, const azs_geometry *g)
{
    if (!s || !g)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_set_geometry: NULL argument");
    s->geom = *g;
    s->geom_inline = 1;
    s->geom_loaded = 0;
    s->poni_path[0] = 0;
    return AZS_OK;
}

/* ---------------------------------------------------------------- values */

static int parse_i64(const char *v, long long *out)
{
    char *end;
    if (!v || !*v)
        return -1;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end)
        return -1;
    *out = x;
    return 0;
}

static int parse_f64(const char *v, double *out)
{
    char *end;
    if (!v || !*v)
        return -1;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || !isfinite(x))
        return -1;
    *out = x;
    return 0;
}

/* "A:B" with A < B, both finite. */
/* MIN:MAX, either end may be left out ("5:", ":20"): that end is then the automatic one
 * (NaN here), as if no range had been given on that side. */
static int parse_range(const char *v, double *a, double *b)
{
    const char *colon = v ? strchr(v, ':') : NULL;
    char buf[64];
    if (!colon || (size_t)(colon - v) >= sizeof buf)
        return -1;
    memcpy(buf, v, (size_t)(colon - v));
    buf[colon - v] = 0;
    *a = *b = NAN;
    if ((buf[0] && (parse_f64(buf, a) || !isfinite(*a))) ||
        (colon[1] && (parse_f64(colon + 1, b) || !isfinite(*b))) || (!buf[0] && !colon[1]))
        return -1;
    return 0;
}

static int parse_split(const char *v, azs_split *out)
{
    static const struct { const char *name; azs_split s; } t[] = {
        {"no", AZS_SPLIT_NO},         {"nosplit", AZS_SPLIT_NO},     {"histogram", AZS_SPLIT_NO},
        {"nosplit_csr", AZS_SPLIT_NO}, {"bbox", AZS_SPLIT_BBOX},     {"splitbbox", AZS_SPLIT_BBOX},
        {"csr", AZS_SPLIT_BBOX},      {"bbox_csr", AZS_SPLIT_BBOX},  {"full", AZS_SPLIT_FULL},
        {"splitpixel", AZS_SPLIT_FULL}, {"pseudo", AZS_SPLIT_FULL}, {"full_csr", AZS_SPLIT_FULL},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcasecmp(v, t[i].name)) {
            *out = t[i].s;
            return 0;
        }
    return -1;
}

static int parse_error_model(const char *v, azs_error_model *m)
{
    if (!*v || !strcasecmp(v, "none"))
        *m = AZS_ERRMODEL_NONE;
    else if (!strcasecmp(v, "poisson"))
        *m = AZS_ERRMODEL_POISSON;
    else if (!strcasecmp(v, "azimuthal"))
        *m = AZS_ERRMODEL_AZIMUTHAL;
    else
        return -1;
    return 0;
}

/* ---------------------------------------------------------------- options by name */

typedef enum opt_id {
    OPT_PONI, OPT_NPT, OPT_NPT_AZIM, OPT_UNIT, OPT_METHOD, OPT_RADIAL_RANGE, OPT_AZIMUTH_RANGE,
    OPT_POLARIZATION, OPT_POLARIZATION_OFFSET, OPT_NORMALIZATION, OPT_MASK, OPT_DARK, OPT_FLAT,
    OPT_DUMMY, OPT_DELTA_DUMMY, OPT_ERROR_MODEL, OPT_NO_SOLID_ANGLE, OPT_NO_GAP_MASK,
    OPT_NO_PIXEL_MASK, OPT_NO_DUMMY, OPT_UNIT_AZIM, OPT_EMPTY, OPT_CHI_DISC0
} opt_id;

static const struct option_def {
    const char *name;
    opt_id id;
    int takes_value;
} OPTIONS[] = {
    {"poni", OPT_PONI, 1},
    {"npt", OPT_NPT, 1},
    {"npt-azim", OPT_NPT_AZIM, 1},
    {"unit", OPT_UNIT, 1},
    {"method", OPT_METHOD, 1},
    {"radial-range", OPT_RADIAL_RANGE, 1},
    {"azimuth-range", OPT_AZIMUTH_RANGE, 1},
    {"polarization", OPT_POLARIZATION, 1},
    {"polarization-offset", OPT_POLARIZATION_OFFSET, 1},
    {"normalization-factor", OPT_NORMALIZATION, 1},
    {"mask", OPT_MASK, 1},
    {"dark", OPT_DARK, 1},
    {"flat", OPT_FLAT, 1},
    {"dummy", OPT_DUMMY, 1},
    {"delta-dummy", OPT_DELTA_DUMMY, 1},
    {"error-model", OPT_ERROR_MODEL, 1},
    {"no-solid-angle", OPT_NO_SOLID_ANGLE, 0},
    {"no-gap-mask", OPT_NO_GAP_MASK, 0},
    {"no-pixel-mask", OPT_NO_PIXEL_MASK, 0},
    {"unit-azim", OPT_UNIT_AZIM, 1},
    {"no-dummy", OPT_NO_DUMMY, 0},
    {"empty", OPT_EMPTY, 1},
    {"chi-disc-at-0", OPT_CHI_DISC0, 0},
};

/* '-' and '_' alike, so JSON keys (npt_azim) and options (npt-azim) name the same thing. */
static const struct option_def *find_option(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; i < sizeof OPTIONS / sizeof OPTIONS[0]; i++) {
        const char *a = OPTIONS[i].name, *b = name;
        while (*a && (*a == *b || (*a == '-' && *b == '_')))
            a++, b++;
        if (!*a && !*b)
            return &OPTIONS[i];
    }
    return NULL;
}

int azs_settings_option_arity(const char *name)
{
    const struct option_def *d = find_option(name);
    return d ? d->takes_value : -1;
}

static azs_status set_path(char *dst, const char *name, const char *v)
{
    if (!v || !*v)
        return azs_fail(AZS_ERR_INVALID_ARG, "--%s needs a file name", name);
    size_t n = strlen(v);
    if (n >= AZS_PATH_MAX)
        return azs_fail(AZS_ERR_INVALID_ARG, "--%s: a file name of %zu bytes (limit %d)", name, n,
                        AZS_PATH_MAX - 1);
    memcpy(dst, v, n + 1);
    return AZS_OK;
}

azs_status azs_settings_set(azs_settings *s, const char *name, const char *v)
{
    if (!s)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_set: NULL settings");
    const struct option_def *d = find_option(name);
    if (!d)
        return azs_fail(AZS_ERR_NOT_FOUND, "'%s' is not an integration option", name ? name : "(null)");
    const char *n = d->name;
    if (d->takes_value && !v)
        return azs_fail(AZS_ERR_INVALID_ARG, "--%s needs a value", n);
    if (!d->takes_value && v)
        return azs_fail(AZS_ERR_INVALID_ARG, "--%s takes no value", n);
    azs_integrate_options *o = &s->io;
    long long i;
    double a, b;
    switch (d->id) {
    case OPT_PONI:
        s->geom_inline = 0;
        s->geom_loaded = 0;
        return set_path(s->poni_path, n, v);
    case OPT_NPT:
    case OPT_NPT_AZIM: {
        int azim = d->id == OPT_NPT_AZIM;
        if (parse_i64(v, &i) || i < (azim ? 0 : 1) || i > 100000000)
            return azs_fail(AZS_ERR_INVALID_ARG, "--%s: '%s' is not a bin count", n, v);
        *(azim ? &o->npt_azim : &o->npt) = (uint32_t)i;
        return AZS_OK;
    }
    case OPT_UNIT:
        if (azs_unit_parse(v, &o->unit) != AZS_OK)
            return azs_fail_context(AZS_ERR_INVALID_ARG, "--unit: ");
        return AZS_OK;
    case OPT_METHOD:
        if (parse_split(v, &o->split))
            return azs_fail(AZS_ERR_INVALID_ARG, "--method: '%s' is not one of no, bbox, full", v);
        return AZS_OK;
    case OPT_RADIAL_RANGE:
    case OPT_AZIMUTH_RANGE:
        if (parse_range(v, &a, &b))
            return azs_fail(AZS_ERR_INVALID_ARG, "--%s: '%s' is not MIN:MAX (finite numbers, one end "
                            "may be left out)", n, v);
        /* An azimuth range may cross the discontinuity (350:10), as pyFAI's: its ends are
         * taken modulo 360° (integrate/builder.c); a radial one may not. */
        if (d->id == OPT_RADIAL_RANGE && !(b > a) && !isnan(a) && !isnan(b))
            return azs_fail(AZS_ERR_INVALID_ARG, "--%s: '%s' is not MIN:MAX with MIN < MAX", n, v);
        if (d->id == OPT_AZIMUTH_RANGE && a == b)
            return azs_fail(AZS_ERR_INVALID_ARG, "--%s: '%s' is an empty range", n, v);
        if (d->id == OPT_RADIAL_RANGE) {
            o->has_radial_range = 1;
            o->radial_min = a;
            o->radial_max = b;
        } else {
            o->has_azimuth_range = 1;
            o->azimuth_min = a;
            o->azimuth_max = b;
        }
        return AZS_OK;
    case OPT_POLARIZATION:
        if (parse_f64(v, &a) || a < -1 || a > 1)
            return azs_fail(AZS_ERR_INVALID_ARG, "--polarization: '%s' is not a factor in [-1, 1]", v);
        o->has_polarization = 1;
        o->polarization_factor = a;
        return AZS_OK;
    case OPT_POLARIZATION_OFFSET:
        if (parse_f64(v, &a))
            return azs_fail(AZS_ERR_INVALID_ARG, "--polarization-offset: '%s' is not an angle in radians", v);
        o->polarization_axis_offset = a;
        return AZS_OK;
    case OPT_NORMALIZATION:
        if (parse_f64(v, &a) || !(a > 0))
            return azs_fail(AZS_ERR_INVALID_ARG, "--normalization-factor: '%s' is not a number > 0", v);
        o->normalization_factor = a;
        return AZS_OK;
    case OPT_MASK:
        return set_path(s->mask, n, v);
    case OPT_DARK:
        return set_path(s->dark, n, v);
    case OPT_FLAT:
        return set_path(s->flat, n, v);
    case OPT_DUMMY:
        if (parse_f64(v, &a))
            return azs_fail(AZS_ERR_INVALID_ARG, "--dummy: '%s' is not a number", v);
        o->has_dummy = 1;
        o->dummy = a;
        s->no_dummy = 0; /* the later of --dummy and --no-dummy wins */
        return AZS_OK;
    case OPT_CHI_DISC0: /* pyFAI's setChiDiscAtZero: χ in [0, 2π) */
        o->chi_disc_at_0 = 1;
        return AZS_OK;
    case OPT_EMPTY: /* pyFAI's ai.empty: the value of bins no pixel reaches */
        if (parse_f64(v, &a) || !isfinite(a) || fabs(a) > FLT_MAX)
            return azs_fail(AZS_ERR_INVALID_ARG, "--empty: '%s' is not a finite float32 number", v);
        o->empty = a;
        return AZS_OK;
    case OPT_DELTA_DUMMY:
        if (parse_f64(v, &a) || a < 0)
            return azs_fail(AZS_ERR_INVALID_ARG, "--delta-dummy: '%s' is not a number >= 0", v);
        o->delta_dummy = a;
        return AZS_OK;
    case OPT_ERROR_MODEL:
        if (parse_error_model(v, &o->error_model))
            return azs_fail(AZS_ERR_INVALID_ARG, "--error-model: '%s' is not none, poisson or azimuthal", v);
        return AZS_OK;
    case OPT_NO_SOLID_ANGLE:
        o->solid_angle = 0;
        return AZS_OK;
    case OPT_NO_GAP_MASK:
        o->mask_detector_gaps = 0;
        return AZS_OK;
    case OPT_NO_PIXEL_MASK:
        s->no_pixel_mask = 1;
        return AZS_OK;
    case OPT_UNIT_AZIM: /* pyFAI's azimuthal units of integrate2d (its fiber units aside) */
        if (strcmp(v, "chi_deg") && strcmp(v, "chi_rad"))
            return azs_fail(AZS_ERR_INVALID_ARG, "--unit-azim: unknown unit '%s' (chi_deg, chi_rad)", v);
        s->azim_rad = !strcmp(v, "chi_rad");
        return AZS_OK;
    case OPT_NO_DUMMY: /* no dummy at all, not even the detector's (azs_settings_build) */
        s->no_dummy = 1;
        o->has_dummy = 0;
        return AZS_OK;
    }
    return azs_fail(AZS_ERR_INTERNAL, "option table and switch disagree on '%s'", n);
}

/* ---------------------------------------------------------------- JSON form
 * A pyFAI WorkerConfig (version 5) that pyFAI's WorkerConfig.from_dict loads with the same
 * meaning, so pyFAI can run it again; what pyFAI has no key for goes in "azstream", a key
 * from_dict leaves alone (it warns). azs_settings_load_json reads it back bit for bit. */

static cJSON *range_json(int has, double a, double b)
{
    if (!has)
        return cJSON_CreateNull();
    cJSON *x = cJSON_CreateArray();
    if (x) { /* an open end (NaN) as null */
        cJSON_AddItemToArray(x, isnan(a) ? cJSON_CreateNull() : cJSON_CreateNumber(a));
        cJSON_AddItemToArray(x, isnan(b) ? cJSON_CreateNull() : cJSON_CreateNumber(b));
    }
    return x;
}

/* A file name, a list of them (joined by '\n' in the settings), or null. */
static cJSON *files_json(const char *v)
{
    if (!v[0])
        return cJSON_CreateNull();
    if (!strchr(v, '\n'))
        return cJSON_CreateString(v);
    cJSON *l = cJSON_CreateArray();
    char name[AZS_PATH_MAX];
    for (const char *p = v; l && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        memcpy(name, p, n);
        name[n] = 0;
        cJSON_AddItemToArray(l, cJSON_CreateString(name));
        p += n + (e ? 1 : 0);
    }
    return l;
}

cJSON *azs_settings_json_object(const azs_settings *s)
{
    if (!s)
        return NULL;
    const azs_integrate_options *o = &s->io;
    cJSON *r = cJSON_CreateObject();
    if (!r)
        return NULL;
    cJSON *own = cJSON_CreateObject();
    cJSON_AddStringToObject(r, "application", "azstream");
    cJSON_AddNumberToObject(r, "version", 5);
    /* A PONI file stays the authority (it is read again: "azstream.poni"); the geometry it
     * gave is pyFAI's "poni" object once loaded. */
    const azs_geometry *g = azs_settings_geometry(s);
    if (g) {
        cJSON *p = cJSON_AddObjectToObject(r, "poni");
        if (p)
            azs_settings_geometry_into(p, g, 1);
    } else if (s->poni_path[0]) {
        cJSON_AddStringToObject(r, "poni", s->poni_path);
    } else {
        cJSON_AddNullToObject(r, "poni");
    }
    if (!s->geom_inline && s->poni_path[0] && g)
        cJSON_AddStringToObject(own, "poni", s->poni_path);
    cJSON_AddNumberToObject(r, "nbpt_rad", o->npt);
    /* pyFAI: 2D iff nbpt_azim > 1; a cake of one azimuthal bin is azstream's own */
    cJSON_AddNumberToObject(r, "nbpt_azim", o->npt_azim > 1 ? o->npt_azim : 1);
    if (o->npt_azim == 1)
        cJSON_AddNumberToObject(own, "npt_azim", 1);
    cJSON_AddStringToObject(r, "unit", azs_unit_name(o->unit));
    cJSON_AddBoolToObject(r, "chi_discontinuity_at_0", o->chi_disc_at_0 != 0);
    if (o->has_polarization || o->polarization_axis_offset != 0) {
        cJSON *pd = cJSON_AddArrayToObject(r, "polarization_description");
        if (pd) {
            cJSON_AddItemToArray(pd, o->has_polarization ? cJSON_CreateNumber(o->polarization_factor)
                                                         : cJSON_CreateNull());
            cJSON_AddItemToArray(pd, cJSON_CreateNumber(o->polarization_axis_offset));
        }
    } else {
        cJSON_AddNullToObject(r, "polarization_description");
    }
    cJSON_AddNumberToObject(r, "normalization_factor", o->normalization_factor);
    if (o->has_dummy)
        cJSON_AddNumberToObject(r, "val_dummy", o->dummy);
    else
        cJSON_AddNullToObject(r, "val_dummy");
    if (o->delta_dummy != 0)
        cJSON_AddNumberToObject(r, "delta_dummy", o->delta_dummy);
    else
        cJSON_AddNullToObject(r, "delta_dummy");
    cJSON_AddBoolToObject(r, "correct_solid_angle", o->solid_angle);
    cJSON_AddItemToObject(r, "dark_current", files_json(s->dark));
    cJSON_AddItemToObject(r, "flat_field", files_json(s->flat));
    cJSON_AddItemToObject(r, "mask_file", files_json(s->mask));
    cJSON_AddStringToObject(r, "error_model", o->error_model == AZS_ERRMODEL_NONE ? "no"
                                              : azs_error_model_name(o->error_model));
    cJSON *m = cJSON_AddArrayToObject(r, "method");
    if (m) {
        cJSON_AddItemToArray(m, cJSON_CreateString(azs_split_name(o->split)));
        cJSON_AddItemToArray(m, cJSON_CreateString("csr"));
        cJSON_AddItemToArray(m, cJSON_CreateString("cython"));
    }
    cJSON_AddNullToObject(r, "opencl_device");
    cJSON_AddItemToObject(r, "azimuth_range", range_json(o->has_azimuth_range, o->azimuth_min, o->azimuth_max));
    cJSON_AddItemToObject(r, "radial_range", range_json(o->has_radial_range, o->radial_min, o->radial_max));
    cJSON_AddStringToObject(r, "integrator_class", "AzimuthalIntegrator");
    cJSON_AddStringToObject(r, "integrator_method", o->npt_azim ? "integrate2d_ng" : "integrate1d_ng");
    cJSON_AddNullToObject(r, "extra_options");
    cJSON_AddNullToObject(r, "monitor_name");
    if (g && g->det.ny && g->det.nx) {
        cJSON *sh = cJSON_AddArrayToObject(r, "shape");
        if (sh) {
            cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.ny));
            cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.nx));
        }
    } else {
        cJSON_AddNullToObject(r, "shape");
    }
    if (!o->mask_detector_gaps)
        cJSON_AddTrueToObject(own, "no_gap_mask");
    if (s->no_pixel_mask)
        cJSON_AddTrueToObject(own, "no_pixel_mask");
    if (s->azim_rad)
        cJSON_AddStringToObject(own, "unit_azim", "chi_rad");
    if (o->empty != 0) /* no WorkerConfig key: pyFAI's Worker writes 0 */
        cJSON_AddNumberToObject(own, "empty", o->empty);
    if (s->no_dummy) { /* pyFAI's null val_dummy is the detector's dummy: not this */
        if (!o->has_dummy && o->dummy != 0) /* a --dummy that --no-dummy overrode: bit for bit */
            cJSON_AddNumberToObject(own, "dummy", o->dummy);
        cJSON_AddTrueToObject(own, "no_dummy");
    }
    if (own && own->child)
        cJSON_AddItemToObject(r, "azstream", own);
    else
        cJSON_Delete(own);
    return r;
}

char *azs_settings_to_json(const azs_settings *s)
{
    cJSON *r = azs_settings_json_object(s);
    char *text = r ? cJSON_Print(r) : NULL;
    cJSON_Delete(r);
    return text;
}
