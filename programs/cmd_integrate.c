/* azstream integrate: options / JSON config → geometry + integrator → sources → azs_run →
 * sink. The integration settings are shared with `azstream bench` (integrate_setup.h).
 *
 * Several INPUT files are integrated one after the other into one output: rows are
 * concatenated, /entry/result/frame holds the running frame number over all inputs
 * (the frames of input k are numbered after those of inputs 0..k-1), and --frames
 * applies to each input. Ctrl-C sets the run's cancel flag; the run stops, the output is
 * closed (valid, with the rows so far) and the exit code is 1. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "azstream/arrays.h"
#include "azstream/sink.h"
#include "cli.h"
#include "integrate_setup.h"

/* ---------------------------------------------------------------- settings */

void integ_settings_default(integ_settings *s)
{
    memset(s, 0, sizeof *s);
    azs_integrate_options_default(&s->io);
}

const char *integ_split_name(azs_split s)
{
    return s == AZS_SPLIT_NO ? "no" : s == AZS_SPLIT_BBOX ? "bbox" : "full";
}

static int parse_split(const char *v, azs_split *out)
{
    if (!strcasecmp(v, "no") || !strcasecmp(v, "nosplit") || !strcasecmp(v, "histogram") ||
        !strcasecmp(v, "nosplit_csr"))
        *out = AZS_SPLIT_NO;
    else if (!strcasecmp(v, "bbox") || !strcasecmp(v, "splitbbox") || !strcasecmp(v, "csr") ||
             !strcasecmp(v, "bbox_csr"))
        *out = AZS_SPLIT_BBOX;
    else if (!strcasecmp(v, "full") || !strcasecmp(v, "splitpixel") || !strcasecmp(v, "pseudo") ||
             !strcasecmp(v, "full_csr"))
        *out = AZS_SPLIT_FULL;
    else
        return -1;
    return 0;
}

static int parse_errmodel(const char *v, azs_error_model *m)
{
    if (!strcasecmp(v, "none") || !*v)
        *m = AZS_ERRMODEL_NONE;
    else if (!strcasecmp(v, "poisson"))
        *m = AZS_ERRMODEL_POISSON;
    else if (!strcasecmp(v, "azimuthal"))
        *m = AZS_ERRMODEL_AZIMUTHAL;
    else
        return -1;
    return 0;
}

static const char *errmodel_name(azs_error_model m)
{
    return m == AZS_ERRMODEL_NONE ? "none" : m == AZS_ERRMODEL_POISSON ? "poisson" : "azimuthal";
}

static int copy_path(char *dst, size_t cap, const char *cmd, const char *what, const char *v)
{
    if (!v || !*v || strlen(v) >= cap) {
        cli_usage_error(cmd, "--%s needs a file name", what);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 1;
}

static const char *const VALUE_OPTS[] = {
    "poni", "npt", "npt-azim", "unit", "method", "radial-range", "azimuth-range",
    "polarization", "mask", "dark", "flat", "dummy", "delta-dummy", "error-model",
};
static const char *const FLAG_OPTS[] = {"no-solid-angle"};

int integ_option_takes_value(const char *name)
{
    for (size_t i = 0; i < sizeof VALUE_OPTS / sizeof VALUE_OPTS[0]; i++)
        if (!strcmp(name, VALUE_OPTS[i]))
            return 1;
    for (size_t i = 0; i < sizeof FLAG_OPTS / sizeof FLAG_OPTS[0]; i++)
        if (!strcmp(name, FLAG_OPTS[i]))
            return 0;
    return -1;
}

int integ_option(integ_settings *s, const char *cmd, const char *n, const char *v)
{
    azs_integrate_options *o = &s->io;
    int64_t i;
    double a, b;
    if (!strcmp(n, "poni")) {
        s->have_geom = 0;
        return copy_path(s->poni_path, sizeof s->poni_path, cmd, n, v);
    }
    if (!strcmp(n, "npt") || !strcmp(n, "npt-azim")) {
        int azim = n[3] == '-';
        if (cli_parse_i64(v, &i) || i < (azim ? 0 : 1) || i > 100000000) {
            cli_usage_error(cmd, "--%s: '%s' is not a bin count", n, v);
            return -1;
        }
        if (azim)
            o->npt_azim = (uint32_t)i;
        else
            o->npt = (uint32_t)i;
        return 1;
    }
    if (!strcmp(n, "unit")) {
        if (azs_unit_parse(v, &o->unit) != AZS_OK) {
            cli_usage_error(cmd, "--unit: unknown unit '%s' (q_nm^-1, q_A^-1, 2th_deg, 2th_rad, r_mm)", v);
            return -1;
        }
        return 1;
    }
    if (!strcmp(n, "method")) {
        if (parse_split(v, &o->split)) {
            cli_usage_error(cmd, "--method: '%s' is not one of no, bbox, full", v);
            return -1;
        }
        return 1;
    }
    if (!strcmp(n, "radial-range") || !strcmp(n, "azimuth-range")) {
        if (cli_parse_range_f64(v, &a, &b)) {
            cli_usage_error(cmd, "--%s: '%s' is not MIN:MAX with MIN < MAX", n, v);
            return -1;
        }
        if (n[0] == 'r') {
            o->has_radial_range = 1;
            o->radial_min = a;
            o->radial_max = b;
        } else {
            o->has_azimuth_range = 1;
            o->azimuth_min = a;
            o->azimuth_max = b;
        }
        return 1;
    }
    if (!strcmp(n, "polarization")) {
        if (cli_parse_f64(v, &a) || a < -1 || a > 1) {
            cli_usage_error(cmd, "--polarization: '%s' is not a factor in [-1, 1]", v);
            return -1;
        }
        o->has_polarization = 1;
        o->polarization_factor = a;
        return 1;
    }
    if (!strcmp(n, "no-solid-angle")) {
        o->solid_angle = 0;
        return 1;
    }
    if (!strcmp(n, "mask"))
        return copy_path(s->mask, sizeof s->mask, cmd, n, v);
    if (!strcmp(n, "dark"))
        return copy_path(s->dark, sizeof s->dark, cmd, n, v);
    if (!strcmp(n, "flat"))
        return copy_path(s->flat, sizeof s->flat, cmd, n, v);
    if (!strcmp(n, "dummy") || !strcmp(n, "delta-dummy")) {
        if (cli_parse_f64(v, &a) || (n[0] == 'd' && n[1] == 'e' && a < 0)) {
            cli_usage_error(cmd, "--%s: '%s' is not a number", n, v);
            return -1;
        }
        if (n[1] == 'u') {
            o->has_dummy = 1;
            o->dummy = a;
        } else {
            o->delta_dummy = a;
        }
        return 1;
    }
    if (!strcmp(n, "error-model")) {
        if (parse_errmodel(v, &o->error_model)) {
            cli_usage_error(cmd, "--error-model: '%s' is not none, poisson or azimuthal", v);
            return -1;
        }
        return 1;
    }
    return 0;
}

/* JSON: our option names (with '-' or '_') and pyFAI's integration-config keys. */
static int json_bool(const cJSON *o, const char *k, int *out)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!x)
        return 0;
    *out = cJSON_IsTrue(x) || (cJSON_IsNumber(x) && x->valuedouble != 0);
    return 1;
}

static const cJSON *json_num(const cJSON *o, const char *k)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(x) ? x : NULL;
}

static int json_geometry(integ_settings *s, const char *cmd, const char *path, const cJSON *p)
{
    azs_geometry *g = &s->geom;
    memset(g, 0, sizeof *g);
    const cJSON *det = cJSON_GetObjectItemCaseSensitive(p, "detector");
    const cJSON *dc = cJSON_GetObjectItemCaseSensitive(p, "detector_config");
    const char *dname = cJSON_IsString(det) ? det->valuestring : "Detector";
    if (strcasecmp(dname, "Detector") != 0) {
        if (azs_detector_by_name(dname, &g->det) != AZS_OK) {
            cli_report(cmd, AZS_ERR_PARSE, path);
            return CLI_USAGE;
        }
    } else {
        const cJSON *p1 = dc ? json_num(dc, "pixel1") : json_num(p, "pixel1");
        const cJSON *p2 = dc ? json_num(dc, "pixel2") : json_num(p, "pixel2");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(dc ? dc : p, dc ? "max_shape" : "shape");
        if (!p1 || !p2) {
            fprintf(stderr, "azstream %s: %s: a generic detector needs pixel1 and pixel2\n", cmd, path);
            return CLI_USAGE;
        }
        uint32_t ny = 0, nx = 0;
        if (cJSON_IsArray(sh) && cJSON_GetArraySize(sh) == 2) {
            ny = (uint32_t)cJSON_GetArrayItem(sh, 0)->valuedouble;
            nx = (uint32_t)cJSON_GetArrayItem(sh, 1)->valuedouble;
        }
        azs_detector_generic(&g->det, p1->valuedouble, p2->valuedouble, ny, nx);
    }
    if (dc) {
        const cJSON *orient = json_num(dc, "orientation");
        if (orient)
            g->det.orientation = (int)orient->valuedouble;
    }
    const cJSON *x;
    if ((x = json_num(p, "dist")) || (x = json_num(p, "distance")))
        g->dist = x->valuedouble;
    else {
        fprintf(stderr, "azstream %s: %s: geometry without 'dist'\n", cmd, path);
        return CLI_USAGE;
    }
    double *f[] = {&g->poni1, &g->poni2, &g->rot1, &g->rot2, &g->rot3, &g->wavelength};
    const char *k[] = {"poni1", "poni2", "rot1", "rot2", "rot3", "wavelength"};
    for (int i = 0; i < 6; i++)
        if ((x = json_num(p, k[i])))
            *f[i] = x->valuedouble;
    g->poni_version = 2;
    s->have_geom = 1;
    return 0;
}

int integ_load_config(integ_settings *s, const char *cmd, const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        fprintf(stderr, "azstream %s: %s: cannot open the config file\n", cmd, path);
        return CLI_USAGE;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 + 1 > cap) {
            cap = cap ? 2 * cap : 8192;
            char *t = realloc(text, cap);
            if (!t) {
                free(text);
                fclose(fp);
                return CLI_FAIL;
            }
            text = t;
        }
        size_t n = fread(text + len, 1, 4096, fp);
        len += n;
        if (n < 4096)
            break;
    }
    fclose(fp);
    text[len] = 0;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        fprintf(stderr, "azstream %s: %s: not a JSON object (parse error near '%.20s')\n", cmd, path,
                cJSON_GetErrorPtr() ? cJSON_GetErrorPtr() : "");
        cJSON_Delete(root);
        return CLI_USAGE;
    }
    int rc = 0;
    const cJSON *it;
    int b;
    /* geometry: "poni" (a file name or an object), or top-level geometry keys */
    const cJSON *poni = cJSON_GetObjectItemCaseSensitive(root, "poni");
    if (cJSON_IsString(poni)) {
        if (integ_option(s, cmd, "poni", poni->valuestring) < 0)
            rc = CLI_USAGE;
    } else if (cJSON_IsObject(poni)) {
        rc = json_geometry(s, cmd, path, poni);
    } else if (json_num(root, "dist")) {
        rc = json_geometry(s, cmd, path, root);
    }
    /* plain option names, as on the command line ('_' or '-') */
    cJSON_ArrayForEach(it, root)
    {
        if (rc)
            break;
        char name[64];
        if (!it->string || strlen(it->string) >= sizeof name || !strcmp(it->string, "poni"))
            continue;
        snprintf(name, sizeof name, "%s", it->string);
        for (char *c = name; *c; c++)
            if (*c == '_')
                *c = '-';
        int tv = integ_option_takes_value(name);
        if (tv < 0)
            continue;
        char val[4096];
        if (tv == 0) {
            if (cJSON_IsTrue(it) && integ_option(s, cmd, name, NULL) < 0)
                rc = CLI_USAGE;
            continue;
        }
        if (cJSON_IsString(it))
            snprintf(val, sizeof val, "%s", it->valuestring);
        else if (cJSON_IsNumber(it))
            snprintf(val, sizeof val, "%.17g", it->valuedouble);
        else if (cJSON_IsArray(it) && cJSON_GetArraySize(it) == 2 &&
                 cJSON_IsNumber(cJSON_GetArrayItem(it, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(it, 1)))
            snprintf(val, sizeof val, "%.17g:%.17g", cJSON_GetArrayItem(it, 0)->valuedouble,
                     cJSON_GetArrayItem(it, 1)->valuedouble);
        else if (cJSON_IsArray(it) && cJSON_IsString(cJSON_GetArrayItem(it, 0)))
            snprintf(val, sizeof val, "%s", cJSON_GetArrayItem(it, 0)->valuestring); /* method */
        else if (cJSON_IsNull(it))
            continue;
        else {
            fprintf(stderr, "azstream %s: %s: key '%s' has a value of the wrong type\n", cmd, path,
                    it->string);
            rc = CLI_USAGE;
            break;
        }
        if (integ_option(s, cmd, name, val) < 0)
            rc = CLI_USAGE;
    }
    /* pyFAI integration-config keys */
    const cJSON *x;
    if (!rc && (x = json_num(root, "nbpt_rad")) && x->valuedouble >= 1)
        s->io.npt = (uint32_t)x->valuedouble;
    if (!rc && (x = json_num(root, "nbpt_azim")))
        s->io.npt_azim = x->valuedouble > 1 ? (uint32_t)x->valuedouble : 0;
    if (!rc && json_bool(root, "do_solid_angle", &b))
        s->io.solid_angle = b;
    if (!rc && (x = json_num(root, "polarization_factor"))) {
        int dop = 1;
        json_bool(root, "do_polarization", &dop);
        s->io.has_polarization = dop;
        s->io.polarization_factor = x->valuedouble;
    }
    if (!rc && (x = json_num(root, "polarization_offset")))
        s->io.polarization_axis_offset = x->valuedouble;
    if (!rc && json_bool(root, "do_dummy", &b)) {
        s->io.has_dummy = b;
        if ((x = json_num(root, "val_dummy")))
            s->io.dummy = x->valuedouble;
        if ((x = json_num(root, "delta_dummy")))
            s->io.delta_dummy = x->valuedouble;
    }
    if (!rc && json_bool(root, "do_radial_range", &b) && b) {
        const cJSON *lo = json_num(root, "radial_range_min"), *hi = json_num(root, "radial_range_max");
        if (lo && hi) {
            s->io.has_radial_range = 1;
            s->io.radial_min = lo->valuedouble;
            s->io.radial_max = hi->valuedouble;
        }
    }
    if (!rc && json_bool(root, "do_azimuthal_range", &b) && b) {
        const cJSON *lo = json_num(root, "azimuth_range_min"), *hi = json_num(root, "azimuth_range_max");
        if (!lo)
            lo = json_num(root, "azimuthal_range_min");
        if (!hi)
            hi = json_num(root, "azimuthal_range_max");
        if (lo && hi) {
            s->io.has_azimuth_range = 1;
            s->io.azimuth_min = lo->valuedouble;
            s->io.azimuth_max = hi->valuedouble;
        }
    }
    if (!rc && json_bool(root, "do_poisson", &b) && b)
        s->io.error_model = AZS_ERRMODEL_POISSON;
    const char *files[][3] = {{"do_mask", "mask_file", "mask"},
                              {"do_dark", "dark_current", "dark"},
                              {"do_flat", "flat_field", "flat"}};
    for (int i = 0; !rc && i < 3; i++) {
        const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, files[i][1]);
        int on = 1;
        json_bool(root, files[i][0], &on);
        if (on && cJSON_IsString(f) && f->valuestring[0])
            if (integ_option(s, cmd, files[i][2], f->valuestring) < 0)
                rc = CLI_USAGE;
    }
    cJSON_Delete(root);
    return rc;
}

/* Load an array and check its shape against the frames. */
static int load_array(const char *cmd, const char *what, const char *spec, uint32_t ny, uint32_t nx,
                      float **out)
{
    uint32_t ay, ax;
    azs_status st = azs_array_load(spec, out, &ay, &ax);
    if (st != AZS_OK) {
        char w[64];
        snprintf(w, sizeof w, "--%s", what);
        return cli_report(cmd, st, w);
    }
    if (ay != ny || ax != nx) {
        fprintf(stderr, "azstream %s: --%s %s: shape %ux%u does not match the frames' %ux%u\n", cmd,
                what, spec, ay, ax, ny, nx);
        free(*out);
        *out = NULL;
        return CLI_FAIL;
    }
    return 0;
}

int integ_build(integ_settings *s, const char *cmd, uint32_t ny, uint32_t nx, azs_integrator **itp)
{
    azs_status st;
    *itp = NULL;
    if (!s->have_geom) {
        if (!s->poni_path[0])
            return cli_usage_error(cmd, "--poni GEOMETRY.poni is required (or a config with 'poni')");
        if ((st = azs_poni_load(s->poni_path, &s->geom)) != AZS_OK)
            return cli_report(cmd, st, s->poni_path);
    }
    azs_detector *d = &s->geom.det;
    if (d->ny == 0 || d->nx == 0) {
        d->ny = ny;
        d->nx = nx;
    } else if (d->ny != ny || d->nx != nx) {
        fprintf(stderr, "azstream %s: the frames are %ux%u but the geometry's detector '%s' is %ux%u\n",
                cmd, ny, nx, d->name, d->ny, d->nx);
        return CLI_FAIL;
    }
    float *mask = NULL, *dark = NULL, *flat = NULL;
    uint8_t *m8 = NULL;
    int rc = 0;
    if (s->mask[0] && (rc = load_array(cmd, "mask", s->mask, ny, nx, &mask)))
        goto out;
    if (s->dark[0] && (rc = load_array(cmd, "dark", s->dark, ny, nx, &dark)))
        goto out;
    if (s->flat[0] && (rc = load_array(cmd, "flat", s->flat, ny, nx, &flat)))
        goto out;
    if (mask) {
        size_t n = (size_t)ny * nx;
        m8 = malloc(n);
        if (!m8) {
            rc = cli_report(cmd, AZS_ERR_NOMEM, "mask");
            goto out;
        }
        for (size_t i = 0; i < n; i++)
            m8[i] = mask[i] != 0;
    }
    azs_integrate_options o = s->io;
    o.mask = m8;
    o.dark = dark;
    o.flat = flat;
    if ((st = azs_integrator_create(&s->geom, &o, itp)) != AZS_OK)
        rc = cli_report(cmd, st, "building the integrator");
out:
    free(mask);
    free(m8);
    free(dark);
    free(flat);
    return rc;
}

char *integ_settings_json(const integ_settings *s, const char *const *inputs, int ninputs,
                          const char *layout, int workers)
{
    const azs_integrate_options *o = &s->io;
    const azs_geometry *g = &s->geom;
    cJSON *r = cJSON_CreateObject();
    cJSON *in = cJSON_AddArrayToObject(r, "inputs");
    for (int i = 0; i < ninputs; i++)
        cJSON_AddItemToArray(in, cJSON_CreateString(inputs[i]));
    if (s->poni_path[0] && !s->have_geom)
        cJSON_AddStringToObject(r, "poni_file", s->poni_path);
    cJSON *p = cJSON_AddObjectToObject(r, "poni");
    cJSON_AddStringToObject(p, "detector", g->det.name);
    cJSON *dc = cJSON_AddObjectToObject(p, "detector_config");
    cJSON_AddNumberToObject(dc, "pixel1", g->det.pixel1);
    cJSON_AddNumberToObject(dc, "pixel2", g->det.pixel2);
    cJSON *sh = cJSON_AddArrayToObject(dc, "max_shape");
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.ny));
    cJSON_AddItemToArray(sh, cJSON_CreateNumber(g->det.nx));
    cJSON_AddNumberToObject(dc, "orientation", g->det.orientation);
    cJSON_AddNumberToObject(p, "dist", g->dist);
    cJSON_AddNumberToObject(p, "poni1", g->poni1);
    cJSON_AddNumberToObject(p, "poni2", g->poni2);
    cJSON_AddNumberToObject(p, "rot1", g->rot1);
    cJSON_AddNumberToObject(p, "rot2", g->rot2);
    cJSON_AddNumberToObject(p, "rot3", g->rot3);
    cJSON_AddNumberToObject(p, "wavelength", g->wavelength);
    cJSON_AddNumberToObject(r, "npt", o->npt);
    cJSON_AddNumberToObject(r, "npt_azim", o->npt_azim);
    cJSON_AddStringToObject(r, "unit", azs_unit_name(o->unit));
    cJSON_AddStringToObject(r, "method", integ_split_name(o->split));
    if (o->has_radial_range) {
        cJSON *a = cJSON_AddArrayToObject(r, "radial_range");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->radial_min));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->radial_max));
    }
    if (o->has_azimuth_range) {
        cJSON *a = cJSON_AddArrayToObject(r, "azimuth_range");
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->azimuth_min));
        cJSON_AddItemToArray(a, cJSON_CreateNumber(o->azimuth_max));
    }
    cJSON_AddBoolToObject(r, "do_solid_angle", o->solid_angle);
    if (o->has_polarization)
        cJSON_AddNumberToObject(r, "polarization_factor", o->polarization_factor);
    else
        cJSON_AddNullToObject(r, "polarization_factor");
    cJSON_AddBoolToObject(r, "do_dummy", o->has_dummy);
    if (o->has_dummy) {
        cJSON_AddNumberToObject(r, "val_dummy", o->dummy);
        cJSON_AddNumberToObject(r, "delta_dummy", o->delta_dummy);
    }
    cJSON_AddStringToObject(r, "error_model", errmodel_name(o->error_model));
    cJSON_AddStringToObject(r, "mask_file", s->mask);
    cJSON_AddStringToObject(r, "dark_current", s->dark);
    cJSON_AddStringToObject(r, "flat_field", s->flat);
    cJSON_AddBoolToObject(r, "mask_detector_gaps", o->mask_detector_gaps);
    cJSON_AddStringToObject(r, "layout", layout);
    cJSON_AddNumberToObject(r, "workers", workers);
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    return text;
}

/* ---------------------------------------------------------------- command */

static atomic_int g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&g_cancel, 1);
}

typedef struct progress {
    double t0;
    uint64_t before; /* rows of earlier inputs */
    uint64_t total;  /* over all inputs */
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)total;
    progress *p = ctx;
    uint64_t d = p->before + done;
    double dt = now_s() - p->t0;
    double fps = dt > 0 ? (double)d / dt : 0;
    double eta = fps > 0 ? (double)(p->total - d) / fps : 0;
    fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " frames  %.1f frames/s  ETA %.0f s   ", d, p->total,
            fps, eta);
    fflush(stderr);
}

/* Sink adaptor: renumbers frames of input k after the earlier inputs. */
typedef struct offset_sink {
    azs_sink *sink;
    uint64_t offset;
} offset_sink;

static azs_status offset_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    offset_sink *o = ctx;
    return azs_sink_write(o->sink, o->offset + frame, i, s, fs);
}

/* Ranks other than 0 never deliver to a sink (azs_run_mpi sends to rank 0). */
static azs_status mpi_nonroot_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    (void)ctx, (void)frame, (void)i, (void)s, (void)fs;
    return AZS_ERR_INTERNAL;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: azstream integrate INPUT... --poni GEOM.poni -o OUT.h5|OUT.dat [options]\n"
            "       azstream integrate INPUT... --config FILE.json -o OUT [options]\n\n"
            "  --poni FILE            pyFAI geometry (PONI v1, 2, 2.1)\n"
            "  --config FILE.json     settings as JSON: these option names, or pyFAI's\n"
            "                         integration-config keys (poni, nbpt_rad, nbpt_azim, unit,\n"
            "                         method, do_solid_angle, polarization_factor, do_dummy/\n"
            "                         val_dummy/delta_dummy, do_dark/dark_current, do_flat/\n"
            "                         flat_field, do_mask/mask_file, error_model, ranges);\n"
            "                         options on the command line override it\n"
            "  --npt N                radial bins (1000)\n"
            "  --npt-azim N           azimuthal bins: a 2D cake (0 = 1D)\n"
            "  --unit U               q_nm^-1 (default), q_A^-1, 2th_deg, 2th_rad, r_mm\n"
            "  --method M             pixel splitting: no, bbox (default), full\n"
            "  --radial-range A:B     in the unit;  --azimuth-range A:B  in degrees\n"
            "  --polarization F       polarization factor in [-1, 1]\n"
            "  --no-solid-angle       skip the solid-angle correction\n"
            "  --mask/--dark/--flat F .npy, FILE.h5[:/dataset] or .edf (same shape as frames)\n"
            "  --dummy V --delta-dummy D   pixels equal to V (within D) are ignored\n"
            "  --error-model M        none (default), poisson, azimuthal (writes I_errors)\n"
            "  --frames A:B           frames A..B-1 of each input (default: all)\n"
            "  --dataset PATH         dataset in the inputs (default /entry/data/data)\n"
            "  --layout L             serial (default), threads, procs, gpu, mpi (under mpirun)\n"
            "  --workers N            threads/processes for the threads/procs layouts (0 = all cores);\n"
            "                         gpu: reader threads (0 = min(cores, 16))\n"
            "  --read auto|reader|self|map threads: one reader thread feeds the workers, or each\n"
            "                         worker reads its own chunks (self: pread; map: mapped from\n"
            "                         the page cache, no copy); auto (default): map where the\n"
            "                         stack is read through its chunk index, else self when the\n"
            "                         workers take every core, else a reader\n"
            "  --threads-per-worker T procs: threads in each worker process (0 = cores / workers);\n"
            "                         mpi: threads in each rank (0 = --workers, or all cores)\n"
            "  --inner threads|gpu    what runs inside each procs worker / mpi rank (threads)\n"
            "  --gpus LIST|all        procs/mpi on GPUs: devices, workers spread round-robin\n"
            "  --per-gpu K            procs: worker processes per GPU (1); --workers defaults to\n"
            "                         GPUs x K\n"
            "  --skip-bad             write corrupt frames as NaN rows and go on (default: stop)\n"
            "  --quiet                no progress, no summary\n"
            "  -o, --output OUT       .h5/.nxs (NeXus) or .dat/.xy (one file per frame if several)\n\n"
            "Several INPUTs are integrated one after the other into one output.\n"
            "Exit codes: 0 ok, 1 runtime failure, 2 usage error.\n");
}

static int parse_layout(const char *v, azs_layout *l)
{
    static const struct { const char *n; azs_layout l; } t[] = {
        {"serial", AZS_LAYOUT_SERIAL}, {"0", AZS_LAYOUT_SERIAL}, {"threads", AZS_LAYOUT_THREADS},
        {"1", AZS_LAYOUT_THREADS},     {"procs", AZS_LAYOUT_PROCS}, {"2", AZS_LAYOUT_PROCS},
        {"gpu", AZS_LAYOUT_GPU},       {"3", AZS_LAYOUT_GPU},     {"mpi", AZS_LAYOUT_MPI},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(v, t[i].n)) {
            *l = t[i].l;
            return 0;
        }
    return -1;
}

static const char *layout_name(azs_layout l)
{
    static const char *n[] = {"serial", "threads", "procs", "gpu", "mpi"};
    return (unsigned)l < 5 ? n[l] : "?";
}

int cmd_integrate(int argc, char **argv)
{
    const char *cmd = argv[0];
    integ_settings S;
    integ_settings_default(&S);
    const char **inputs = calloc((size_t)argc, sizeof *inputs);
    int ninputs = 0, rc = 0;
    const char *out = NULL, *dataset = NULL, *config = NULL;
    int64_t fa = -1, fb = -1;
    azs_layout layout = AZS_LAYOUT_SERIAL;
    int workers = 0, skip_bad = 0, quiet = 0;
    azs_feed feed = AZS_FEED_AUTO;
    /* procs/mpi (cmd_worker.c): options, and the integration options replayed by workers */
    par_opts par;
    par_opts_default(&par);
    const char **iargs = calloc(2 * (size_t)argc + 2, sizeof *iargs);
    int niargs = 0, mpi_rank = 0, mpi_on = 0, mpi_synced = 0;
    if (!inputs || !iargs) {
        free(inputs);
        free(iargs);
        return CLI_FAIL;
    }

    /* Config first, so that command-line options override it. */
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--config") || !strncmp(argv[i], "--config=", 9)) {
            config = argv[i][8] == '=' ? argv[i] + 9 : (i + 1 < argc ? argv[i + 1] : NULL);
            if (!config) {
                free(inputs);
                return cli_usage_error(cmd, "--config needs a file name");
            }
            if ((rc = integ_load_config(&S, cmd, config))) {
                free(inputs);
                free(iargs);
                return rc;
            }
            iargs[niargs++] = "--config";
            iargs[niargs++] = config;
        }

    for (int i = 1; i < argc && !rc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(inputs);
            return CLI_OK;
        }
        if (a[0] != '-' || !a[1]) {
            inputs[ninputs++] = a;
            continue;
        }
        char name[64];
        const char *val = NULL;
        if (!strcmp(a, "-o")) {
            snprintf(name, sizeof name, "output");
        } else if (a[1] == '-') {
            const char *eq = strchr(a, '=');
            size_t n = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            if (n >= sizeof name) {
                rc = cli_usage_error(cmd, "unknown option '%s'", a);
                break;
            }
            memcpy(name, a + 2, n);
            name[n] = 0;
            val = eq ? eq + 1 : NULL;
        } else {
            rc = cli_usage_error(cmd, "unknown option '%s'", a);
            break;
        }
        static const char *const own_value[] = {"output", "config", "frames", "dataset", "layout", "workers", "read"};
        static const char *const own_flag[] = {"skip-bad", "quiet"};
        int takes = integ_option_takes_value(name);
        if (par_option_takes_value(name) >= 0)
            takes = par_option_takes_value(name);
        for (size_t k = 0; k < sizeof own_value / sizeof own_value[0]; k++)
            if (!strcmp(name, own_value[k]))
                takes = 1;
        for (size_t k = 0; k < sizeof own_flag / sizeof own_flag[0]; k++)
            if (!strcmp(name, own_flag[k]))
                takes = 0;
        if (takes < 0) {
            rc = cli_usage_error(cmd, "unknown option '%s'", a);
            break;
        }
        if (takes && !val) {
            if (i + 1 >= argc) {
                rc = cli_usage_error(cmd, "option '%s' needs a value", a);
                break;
            }
            val = argv[++i];
        } else if (!takes && val) {
            rc = cli_usage_error(cmd, "option '--%s' takes no value", name);
            break;
        }
        if (!strcmp(name, "output"))
            out = val;
        else if (!strcmp(name, "config"))
            ; /* done above */
        else if (!strcmp(name, "frames")) {
            if (cli_parse_range_i64(val, &fa, &fb))
                rc = cli_usage_error(cmd, "--frames: '%s' is not A:B (end exclusive), A:, :B or A", val);
        } else if (!strcmp(name, "dataset"))
            dataset = val;
        else if (!strcmp(name, "layout")) {
            if (parse_layout(val, &layout))
                rc = cli_usage_error(cmd, "--layout: '%s' is not serial, threads, procs, gpu or mpi", val);
        } else if (!strcmp(name, "workers")) {
            int64_t w;
            if (cli_parse_i64(val, &w) || w < 0 || w > 4096)
                rc = cli_usage_error(cmd, "--workers: '%s' is not a count (0 = all cores)", val);
            workers = (int)w;
        } else if (!strcmp(name, "read")) {
            if (!strcmp(val, "auto"))
                feed = AZS_FEED_AUTO;
            else if (!strcmp(val, "reader"))
                feed = AZS_FEED_READER;
            else if (!strcmp(val, "self"))
                feed = AZS_FEED_SELF;
            else if (!strcmp(val, "map"))
                feed = AZS_FEED_MAP;
            else
                rc = cli_usage_error(cmd, "--read: '%s' is not auto, reader, self or map", val);
        } else if (!strcmp(name, "skip-bad"))
            skip_bad = 1;
        else if (!strcmp(name, "quiet"))
            quiet = 1;
        else if (par_option_takes_value(name) >= 0) {
            if (par_option(&par, cmd, name, val) < 0)
                rc = CLI_USAGE;
        } else if (integ_option(&S, cmd, name, val) < 0)
            rc = CLI_USAGE;
        else { /* replayed by procs workers: "--name=value", or "--name" [value] */
            iargs[niargs++] = a;
            if (val && !strchr(a, '='))
                iargs[niargs++] = val;
        }
    }
    if (!rc && ninputs == 0)
        rc = cli_usage_error(cmd, "no INPUT file");
    if (!rc && !out)
        rc = cli_usage_error(cmd, "no output: -o OUT.h5 or -o OUT.dat");
    if (!rc)
        rc = par_resolve(&par, cmd, &workers);
    if (!rc && layout == AZS_LAYOUT_MPI) {
        /* every rank runs this command; rank 0 writes the output */
        azs_status ms = azs_mpi_init(NULL, NULL, &mpi_rank, NULL);
        if (ms != AZS_OK)
            rc = cli_report(cmd, ms, "--layout mpi");
        mpi_on = ms == AZS_OK;
        if (mpi_rank != 0)
            quiet = 1;
    }
    if (rc) {
        free(inputs);
        free(iargs);
        par_opts_free(&par);
        return rc;
    }

    /* Ctrl-C from here on stops the run cleanly (also while the matrix is built). */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND; /* a second Ctrl-C kills */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    /* Open every input first: missing files and shape mismatches fail before any work. */
    azs_source **src = calloc((size_t)ninputs, sizeof *src);
    uint64_t *first = calloc((size_t)ninputs, sizeof *first), *end = calloc((size_t)ninputs, sizeof *end);
    azs_integrator *it = NULL;
    azs_sink *sink = NULL;
    char *cfg_json = NULL;
    uint64_t total = 0, done = 0, bad = 0;
    double seconds = 0;
    azs_status st = AZS_OK;
    if (!src || !first || !end) {
        rc = CLI_FAIL;
        goto cleanup;
    }
    uint32_t ny = 0, nx = 0;
    for (int k = 0; k < ninputs; k++) {
        if ((st = azs_source_open(inputs[k], dataset, &src[k])) != AZS_OK) {
            rc = cli_report(cmd, st, inputs[k]);
            goto cleanup;
        }
        const azs_source_info *in = azs_source_get_info(src[k]);
        if (k == 0) {
            ny = in->ny;
            nx = in->nx;
        } else if (in->ny != ny || in->nx != nx) {
            fprintf(stderr, "azstream %s: %s has %ux%u frames, %s has %ux%u: one output needs one shape\n",
                    cmd, inputs[k], in->ny, in->nx, inputs[0], ny, nx);
            rc = CLI_FAIL;
            goto cleanup;
        }
        first[k] = fa >= 0 ? (uint64_t)fa : 0;
        end[k] = fb >= 0 ? (uint64_t)fb : in->nframes;
        if (end[k] > in->nframes)
            end[k] = in->nframes;
        if (first[k] >= end[k] && in->nframes > 0) {
            fprintf(stderr, "azstream %s: %s: --frames selects nothing (the file has %" PRIu64 " frames)\n",
                    cmd, inputs[k], in->nframes);
            rc = CLI_FAIL;
            goto cleanup;
        }
        if (first[k] < end[k])
            total += end[k] - first[k];
    }
    if ((rc = integ_build(&S, cmd, ny, nx, &it)))
        goto cleanup;

    cfg_json = integ_settings_json(&S, inputs, ninputs, layout_name(layout), workers);
    const azs_integrate_options *io = azs_integrator_options(it);
    char header[6144];
    snprintf(header, sizeof header,
             "# poni: %s\n# detector: %s  dist %.6g m  poni1 %.6g m  poni2 %.6g m  rot %.6g %.6g %.6g rad  "
             "wavelength %.6g m\n# method: %s  solid angle: %s  polarization: %s  error model: %s\n",
             S.have_geom ? "(from config)" : S.poni_path, S.geom.det.name, S.geom.dist, S.geom.poni1,
             S.geom.poni2, S.geom.rot1, S.geom.rot2, S.geom.rot3, S.geom.wavelength,
             integ_split_name(io->split), io->solid_angle ? "yes" : "no",
             io->has_polarization ? "yes" : "no", errmodel_name(io->error_model));
    azs_sink_config sc = {0};
    sc.npt = io->npt;
    sc.npt_azim = io->npt_azim;
    sc.radial = azs_integrator_radial(it);
    sc.azimuthal = azs_integrator_azimuthal(it);
    sc.unit = azs_unit_name(io->unit);
    sc.with_errors = io->error_model != AZS_ERRMODEL_NONE;
    sc.frames_hint = total;
    sc.program = "azstream";
    sc.version = AZS_VERSION;
    sc.config_json = cfg_json;
    sc.header_text = header;
    if (mpi_rank == 0 && (st = azs_sink_open(out, &sc, &sink)) != AZS_OK) {
        rc = cli_report(cmd, st, out);
        goto cleanup;
    }
    if (mpi_on) { /* no rank may start unless every rank is ready (collective) */
        mpi_synced = 1;
        if (!azs_mpi_all_ok(1)) {
            rc = CLI_FAIL;
            goto cleanup;
        }
    }

    progress prog = {now_s(), 0, total};
    int show = !quiet && isatty(2);
    uint64_t offset = 0;
    for (int k = 0; k < ninputs && st == AZS_OK; k++) {
        const azs_source_info *in = azs_source_get_info(src[k]);
        if (first[k] < end[k]) {
            azs_run_options o;
            azs_run_options_default(&o);
            o.layout = layout;
            o.workers = workers;
            o.feed = feed;
            o.first_frame = first[k];
            o.end_frame = end[k];
            o.skip_bad = skip_bad;
            o.cancel = &g_cancel;
            if ((rc = par_apply(&par, &o, cmd, inputs[k], dataset, iargs, niargs)))
                break;
            if (show) {
                o.progress = on_progress;
                o.progress_ctx = &prog;
            }
            offset_sink os = {sink, offset};
            azs_sink_ops ops = {&os, mpi_rank == 0 ? offset_write : mpi_nonroot_write};
            azs_run_summary sum;
            st = azs_run(src[k], it, &o, &ops, &sum);
            if (mpi_on && !azs_mpi_all_ok(st == AZS_OK) && st == AZS_OK) /* ranks stop together */
                st = AZS_ERR_MPI, rc = CLI_FAIL;
            done += sum.frames_done;
            bad += sum.frames_bad;
            prog.before += sum.frames_done;
            if (show)
                fprintf(stderr, "\n");
            if (st != AZS_OK) {
                char what[4200];
                snprintf(what, sizeof what, "%s", inputs[k]);
                rc = cli_report(cmd, st, what);
            }
        }
        offset += in->nframes;
    }
    seconds = now_s() - prog.t0;
    azs_status cs = mpi_rank == 0 ? azs_sink_close(sink) : AZS_OK;
    sink = NULL;
    if (cs != AZS_OK && !rc)
        rc = cli_report(cmd, cs, out);
    if (!quiet || rc)
        printf("azstream integrate: %" PRIu64 " frames (%" PRIu64 " bad) in %.3f s, %.1f frames/s, "
               "layout %s -> %s%s\n",
               done, bad, seconds, seconds > 0 ? (double)done / seconds : 0.0, layout_name(layout),
               out, rc ? " (incomplete)" : "");
cleanup:
    if (mpi_on && !mpi_synced)
        azs_mpi_all_ok(0); /* matches the other ranks' readiness check */
    if (mpi_on)
        azs_mpi_finalize();
    par_opts_free(&par);
    free(iargs);
    azs_sink_close(sink);
    for (int k = 0; src && k < ninputs; k++)
        azs_source_close(src[k]);
    azs_integrator_destroy(it);
    free(cfg_json);
    free(src);
    free(first);
    free(end);
    free(inputs);
    return rc;
}
