/* The job layer: settings by name (one validation), JSON configs (pyFAI keys, errors that
 * name the place), the settings' JSON read back bit for bit, and jobs over several inputs
 * (frame numbering, frame ranges, shapes, outputs) against azs_run on the same frames. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "azstream/codec.h"
#include "azstream/job.h"
#include "azstream/sink.h"
#include "synth/synth.h"
#include "../../src/job/settings_internal.h"

#define CHECK_CONTEXT() fprintf(stderr, " [%s]", azs_last_error())
#include "../common/check.h"

static char dir[256];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static void write_text(const char *name, const char *text)
{
    char p[512];
    path_in(p, sizeof p, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
}

/* A stack of n frames of ny × nx uint32 pixels, bitshuffle-LZ4; pixel values from frame
 * index and position, one NaN-free dummy (0xFFFFFFFF) per frame. */
static void write_stack(const char *name, uint64_t n, uint32_t ny, uint32_t nx)
{
    char p[512];
    path_in(p, sizeof p, name);
    azs_stack_writer *w = NULL;
    CHECK(azs_stack_writer_create(p, NULL, n, ny, nx, AZS_U32, AZS_CODEC_BSLZ4, &w) == AZS_OK, "%s", p);
    size_t nb = (size_t)ny * nx * 4, cap = azs_chunk_encode_bound(AZS_CODEC_BSLZ4, nb, 4, 0);
    uint32_t *px = malloc(nb);
    void *chunk = malloc(cap);
    for (uint64_t f = 0; f < n; f++) {
        for (size_t i = 0; i < (size_t)ny * nx; i++)
            px[i] = (uint32_t)((i * 7 + f * 13) % 101);
        px[(f * 31) % ((size_t)ny * nx)] = 0xFFFFFFFFu;
        size_t sz = 0;
        CHECK(azs_chunk_encode(AZS_CODEC_BSLZ4, 4, 0, px, nb, chunk, cap, &sz) == AZS_OK, "encode");
        CHECK(azs_stack_writer_put(w, f, chunk, sz) == AZS_OK, "put %llu", (unsigned long long)f);
    }
    CHECK(azs_stack_writer_close(w) == AZS_OK, "close");
    free(px);
    free(chunk);
}

static const char PONI[] = "poni_version: 2\n"
                           "Detector: Detector\n"
                           "Detector_config: {\"pixel1\": 0.000172, \"pixel2\": 0.000172, \"max_shape\": [40, 48]}\n"
                           "Distance: 0.1\nPoni1: 0.003\nPoni2: 0.004\nRot1: 0.01\nRot2: -0.02\nRot3: 0\n"
                           "Wavelength: 1e-10\n";

static void test_options(void)
{
    azs_settings *s;
    CHECK(azs_settings_create(&s) == AZS_OK, "create");
    static const char *const bad[][2] = {
        {"npt", "0"},         {"npt", "1.5"},          {"npt", "4294967297"},  {"npt", "-3"},
        {"npt-azim", "x"},    {"unit", "furlong"},     {"method", "fast"},     {"radial-range", "2:1"},
        {"radial-range", "1"}, {"azimuth-range", "a:b"}, {"polarization", "1.5"}, {"polarization", "nan"},
        {"dummy", "inf"},     {"delta-dummy", "-1"},   {"error-model", "gauss"}, {"normalization-factor", "0"},
        {"poni", ""},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        azs_status st = azs_settings_set(s, bad[i][0], bad[i][1]);
        CHECK(st == AZS_ERR_INVALID_ARG, "--%s %s gave %d", bad[i][0], bad[i][1], (int)st);
        CHECK(strstr(azs_last_error(), bad[i][0]) != NULL, "the message names --%s", bad[i][0]);
    }
    CHECK(azs_settings_set(s, "nope", "1") == AZS_ERR_NOT_FOUND, "unknown option");
    CHECK(azs_settings_set(s, "no-solid-angle", "1") == AZS_ERR_INVALID_ARG, "flag with a value");
    CHECK(azs_settings_set(s, "npt", NULL) == AZS_ERR_INVALID_ARG, "value missing");
    CHECK(azs_settings_option_arity("npt_azim") == 1 && azs_settings_option_arity("no_solid_angle") == 0 &&
              azs_settings_option_arity("npt-az") == -1,
          "arity by name, '_' or '-'");
    /* Nothing above changed the defaults. */
    azs_integrate_options d;
    azs_integrate_options_default(&d);
    CHECK(memcmp(&d, azs_settings_integrate_options(s), sizeof d) == 0, "failed sets leave the settings alone");
    CHECK(azs_settings_set(s, "npt_azim", "36") == AZS_OK && azs_settings_integrate_options(s)->npt_azim == 36,
          "npt_azim");
    azs_settings_destroy(s);
}

static int same_geometry(const azs_geometry *a, const azs_geometry *b)
{
    return !strcmp(a->det.name, b->det.name) && a->det.ny == b->det.ny && a->det.nx == b->det.nx &&
           a->det.pixel1 == b->det.pixel1 && a->det.pixel2 == b->det.pixel2 &&
           a->det.orientation == b->det.orientation && a->dist == b->dist && a->poni1 == b->poni1 &&
           a->poni2 == b->poni2 && a->rot1 == b->rot1 && a->rot2 == b->rot2 && a->rot3 == b->rot3 &&
           a->wavelength == b->wavelength && a->poni_version == b->poni_version;
}

/* Settings → JSON → settings: the same options and geometry, bit for bit. */
static void test_round_trip(void)
{
    char poni[512];
    path_in(poni, sizeof poni, "g.poni");
    static const char *const opts[][2] = {
        {"npt", "777"},           {"npt-azim", "13"},          {"unit", "2th_deg"},
        {"method", "full"},       {"radial-range", "0.1:33.3"}, {"azimuth-range", "-170.5:99.25"},
        {"polarization", "0.987654321"}, {"polarization-offset", "0.3"}, {"normalization-factor", "2.5e3"},
        {"dummy", "-1"},          {"delta-dummy", "0.1"},      {"error-model", "azimuthal"},
        {"mask", "m.npy"},        {"dark", "d.edf\nd2.edf"},  {"flat", "f.h5:/x"},
        {"no-solid-angle", NULL}, {"no-gap-mask", NULL},   {"no-pixel-mask", NULL},
        {"no-dummy", NULL},
    };
    static const char *const opts2[][2] = {{"npt-azim", "1"}, {"polarization-offset", "-0.5"}, {"dummy", "3"},
                                           {"radial-range", ":1e9"}, {"azimuth-range", "-179.5:"},
                                           {"chi-disc-at-0", NULL}};
    for (int inline_geom = 0; inline_geom < 3; inline_geom++) {
        azs_settings *a, *b;
        azs_settings_create(&a);
        azs_settings_create(&b);
        if (inline_geom < 2)
            for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
                CHECK(azs_settings_set(a, opts[i][0], opts[i][1]) == AZS_OK, "--%s", opts[i][0]);
        else
            for (size_t i = 0; i < sizeof opts2 / sizeof opts2[0]; i++)
                CHECK(azs_settings_set(a, opts2[i][0], opts2[i][1]) == AZS_OK, "--%s", opts2[i][0]);
        azs_geometry g;
        CHECK(azs_poni_load(poni, &g) == AZS_OK, "poni");
        if (inline_geom == 1)
            azs_settings_set_geometry(a, &g);
        else
            azs_settings_set(a, "poni", poni);
        if (inline_geom == 2) { /* the PONI file loaded: its geometry recorded, the file the authority */
            azs_integrator *it = NULL;
            CHECK(azs_settings_build(a, 40, 48, AZS_F32, &it) == AZS_OK, "build");
            azs_integrator_destroy(it);
        }
        char *text = azs_settings_to_json(a);
        CHECK(text && azs_settings_load_json(b, text, "round trip") == AZS_OK, "read back");
        CHECK(memcmp(azs_settings_integrate_options(a), azs_settings_integrate_options(b),
                     sizeof(azs_integrate_options)) == 0,
              "options read back bit for bit (inline %d)", inline_geom);
        CHECK(!strcmp(azs_settings_poni_path(a), azs_settings_poni_path(b)), "poni path");
        CHECK(a->no_pixel_mask == b->no_pixel_mask && a->no_dummy == b->no_dummy && !strcmp(a->dark, b->dark) &&
                  !strcmp(a->flat, b->flat) && !strcmp(a->mask, b->mask),
              "azstream's own settings and the files read back (%d)", inline_geom);
        if (inline_geom == 1)
            CHECK(same_geometry(&g, azs_settings_geometry(b)), "inline geometry read back");
        else
            CHECK(azs_settings_geometry(b) == NULL, "a PONI file is read again, not inlined");
        free(text);
        azs_settings_destroy(a);
        azs_settings_destroy(b);
    }
}

static azs_status load_cfg(azs_settings *s, const char *json)
{
    write_text("c.json", json);
    char p[512];
    path_in(p, sizeof p, "c.json");
    return azs_settings_load_config(s, p);
}

static const azs_integrate_options *load_ok(azs_settings **s, const char *json)
{
    azs_settings_create(s);
    azs_status st = load_cfg(*s, json);
    CHECK(st == AZS_OK, "accepted: %s", json);
    return azs_settings_integrate_options(*s);
}

static const char GEOM_TOP[] = "\"detector\": \"Pilatus1M\", \"dist\": 0.2, \"poni1\": 0.01, \"poni2\": 0.02, "
                               "\"rot1\": 0.001, \"rot2\": 0, \"rot3\": 0, \"wavelength\": 1e-10";

/* pyFAI's versions 1..5, each read with pyFAI 2026.9's meaning (doc/integration.md). */
static void test_config_versions(void)
{
    char json[4096];
    azs_settings *s;
    const azs_integrate_options *o;
    /* v1: geometry at the top, do_* switches, comma-separated darks, do_solid_angle and
     * do_2D ignored as pyFAI does, no method: splitbbox. */
    snprintf(json, sizeof json,
             "{%s, \"pixel1\": 7e-5, \"nbpt_rad\": 500, \"nbpt_azim\": 360, \"do_2D\": false, \"unit\": "
             "\"q_A^-1\", \"do_solid_angle\": false, \"polarization_factor\": 0.9, \"do_polarization\": false, "
             "\"do_dummy\": true, \"val_dummy\": -2, \"delta_dummy\": 0.5, \"do_radial_range\": true, "
             "\"radial_range_min\": 1, \"radial_range_max\": 5, \"do_azimuthal_range\": false, "
             "\"azimuth_range_min\": 1, \"azimuth_range_max\": 5, \"do_poisson\": true, \"do_mask\": false, "
             "\"mask_file\": \"m.npy\", \"dark_current\": \" d1.edf, d2.edf \", \"do_OpenCL\": false, "
             "\"normalization_factor\": 4, \"chi_discontinuity_at_0\": false}",
             GEOM_TOP);
    o = load_ok(&s, json);
    CHECK(o->npt == 500 && o->npt_azim == 360 && o->unit == AZS_UNIT_Q_A && o->split == AZS_SPLIT_BBOX &&
              o->solid_angle && !o->has_polarization && o->has_dummy && o->dummy == -2 && o->delta_dummy == 0.5 &&
              o->has_radial_range && o->radial_min == 1 && o->radial_max == 5 && !o->has_azimuth_range &&
              o->error_model == AZS_ERRMODEL_POISSON && o->normalization_factor == 4,
          "v1 meaning");
    char *j = azs_settings_to_json(s);
    CHECK(j && strstr(j, "\"d1.edf\", \"d2.edf\"") && strstr(j, "\"mask_file\":\tnull"), "v1 darks as a list: %s", j);
    free(j);
    const azs_geometry *g = azs_settings_geometry(s);
    CHECK(g && g->dist == 0.2 && g->det.ny == 1043 && g->det.pixel1 == 172e-6, "v1 geometry: pixel1 beside a named detector dropped");
    azs_settings_destroy(s);
    /* v1: "poni" a PONI file, the config's own keys override it. */
    char poni[512];
    path_in(poni, sizeof poni, "g.poni");
    snprintf(json, sizeof json, "{\"poni\": \"%s\", \"dist\": 0.3, \"nbpt_rad\": 10}", poni);
    load_ok(&s, json);
    g = azs_settings_geometry(s);
    CHECK(g && g->dist == 0.3 && g->poni1 == 0.003 && g->rot2 == -0.02 && g->det.ny == 40 && g->det.pixel1 == 0.000172,
          "v1 poni file filled in");
    CHECK(azs_settings_integrate_options(s)->unit == AZS_UNIT_2TH_DEG, "pyFAI's worker: no unit is 2th_deg");
    azs_settings_destroy(s);
    /* v2: method strings, lists of darks/flats, do_dummy false drops val_dummy. */
    snprintf(json, sizeof json,
             "{\"application\": \"pyfai-integrate\", \"version\": 2, %s, \"detector_config\": {}, \"do_dummy\": "
             "false, \"val_dummy\": -1, \"nbpt_rad\": 50, \"nbpt_azim\": 36, \"method\": \"csr\", "
             "\"dark_current\": [\"a.edf\", \"b.edf\"], \"flat_field\": [\"f.edf\"], \"unit\": \"2th_deg\"}",
             GEOM_TOP);
    o = load_ok(&s, json);
    CHECK(o->split == AZS_SPLIT_NO && !o->has_dummy && o->npt_azim == 36, "v2: 'csr' is pyFAI's no split");
    azs_settings_destroy(s);
    snprintf(json, sizeof json, "{\"version\": 2, %s, \"method\": \"splitpixelfull_csr\"}", GEOM_TOP);
    CHECK(load_ok(&s, json)->split == AZS_SPLIT_FULL, "v2 full split");
    azs_settings_destroy(s);
    /* v3: method lists, chi discontinuity false, monitor name accepted. */
    snprintf(json, sizeof json,
             "{\"version\": 3, %s, \"method\": [\"full\", \"histogram\", \"cython\"], \"monitor_name\": \"mon\", "
             "\"do_polarization\": false, \"polarization_factor\": 0.5, \"normalization_factor\": 3.0, "
             "\"nbpt_azim\": 1}",
             GEOM_TOP);
    o = load_ok(&s, json);
    CHECK(o->split == AZS_SPLIT_FULL && !o->has_polarization && o->normalization_factor == 3 && o->npt_azim == 0,
          "v3 meaning");
    azs_settings_destroy(s);
    /* v4: the poni object, integrator_name, error_model names. */
    o = load_ok(&s, "{\"version\": 4, \"application\": \"pyfai-integrate\", \"poni\": {\"poni_version\": 2, "
                    "\"detector\": \"Eiger4M\", \"detector_config\": {}, \"dist\": 0.16, \"wavelength\": 1e-10}, "
                    "\"integrator_name\": \"integrate1d_ng\", \"error_model\": \"Azim\", \"nbpt_rad\": 7, "
                    "\"nbpt_azim\": 360, \"do_2D\": false, \"extra_options\": null, \"opencl_device\": null, "
                    "\"polarization_factor\": 0.99, \"dummy\": -5}");
    CHECK(o->error_model == AZS_ERRMODEL_AZIMUTHAL && o->npt_azim == 360 && o->has_polarization &&
              o->polarization_factor == 0.99 && o->has_dummy && o->dummy == -5,
          "v4 meaning (do_2D false ignored, dummy renamed val_dummy)");
    azs_settings_destroy(s);
    /* v5: every field. */
    o = load_ok(&s, "{\"application\": \"worker\", \"version\": 5, \"poni\": {\"poni_version\": 2.1, \"dist\": 0.16, "
                    "\"poni1\": 0.09, \"poni2\": 0.08, \"rot1\": 0.004, \"rot2\": 0.001, \"rot3\": -1e-6, "
                    "\"detector\": \"Eiger4M\", \"detector_config\": {\"pixel1\": 7.5e-05, \"pixel2\": 7.5e-05, "
                    "\"orientation\": 3}, \"wavelength\": 9.2e-11}, \"nbpt_rad\": 500, \"nbpt_azim\": 360, "
                    "\"unit\": \"q_nm^-1\", \"chi_discontinuity_at_0\": false, \"polarization_description\": "
                    "[0.99, 0.25], \"normalization_factor\": 2.5, \"val_dummy\": -2.0, \"delta_dummy\": 1.5, "
                    "\"correct_solid_angle\": false, \"dark_current\": [\"d1.edf\", \"d2.edf\"], \"flat_field\": "
                    "\"f.edf\", \"mask_file\": \"m.edf\", \"error_model\": \"p\", \"method\": [null, \"csr\", "
                    "\"cython\"], \"opencl_device\": null, \"azimuth_range\": [-90.0, 90.0], \"radial_range\": "
                    "[1.0, 30.0], \"integrator_class\": \"AzimuthalIntegrator\", \"integrator_method\": "
                    "\"integrate2d_ng\", \"extra_options\": {}, \"monitor_name\": null, \"shape\": [2167, 2070]}");
    CHECK(o->npt == 500 && o->npt_azim == 360 && o->has_polarization && o->polarization_factor == 0.99 &&
              o->polarization_axis_offset == 0.25 && o->normalization_factor == 2.5 && o->has_dummy &&
              o->dummy == -2 && o->delta_dummy == 1.5 && !o->solid_angle &&
              o->error_model == AZS_ERRMODEL_POISSON && o->split == AZS_SPLIT_NO && o->has_azimuth_range &&
              o->azimuth_min == -90 && o->radial_max == 30,
          "v5 meaning");
    azs_settings_destroy(s);
    /* Half-open ranges (Infinity, as Python writes them) are dropped, as pyFAI 2026.9 does. */
    o = load_ok(&s, "{\"version\": 5, \"radial_range\": [5.0, Infinity], \"azimuth_range\": [-Infinity, 3], "
                    "\"polarization_description\": [null, 0], \"nbpt_rad\": 300}");
    CHECK(!o->has_radial_range && !o->has_azimuth_range && !o->has_polarization && o->npt == 300, "half-open ranges");
    azs_settings_destroy(s);
    /* The OPTIONAL keys win over the fields, as in pyFAI's from_dict. */
    o = load_ok(&s, "{\"version\": 5, \"radial_range\": [1, 2], \"radial_range_min\": 3, \"radial_range_max\": 4, "
                    "\"error_model\": \"hybrid\"}");
    CHECK(o->radial_min == 3 && o->radial_max == 4 && o->error_model == AZS_ERRMODEL_POISSON, "OPTIONAL keys");
    azs_settings_destroy(s);
}

static void test_config(void)
{
    azs_settings *s;
    azs_settings_create(&s);
    static const struct { const char *json, *says; } bad[] = {
        {"{\"npt\": 1.5}", "npt"},
        {"{\"nbpt_rad\": 4294967297}", "nbpt_rad"},
        {"{\"npt\": [1, 2, 3]}", "npt"},
        {"{\"polarization\": 3}", "polarization"},
        {"{\"do_radial_range\": true, \"radial_range_min\": 0.5, \"radial_range_max\": 0}", "radial_range_min/max"},
        {"{\"nbpt_azim\": 2.5}", "nbpt_azim"},
        {"{\"nbpt_azim\": -3}", "nbpt_azim"},
        {"{\"do_dummy\": true, \"val_dummy\": 1e999}", "val_dummy"},
        {"{\"version\": 5, \"val_dummy\": NaN}", "val_dummy"},
        {"{\"poni\": {\"detector\": \"Detector\", \"pixel1\": 1e-4}}", "poni.pixel1"},
        {"{\"poni\": {\"detector\": \"NoSuchCam\", \"dist\": 1}}", "NoSuchCam"},
        {"{\"poni\": {\"detector\": \"Pilatus1M\", \"dist\": 0}}", "Distance must be positive"},
        {"{\"poni\": {\"detector\": \"Pilatus1M\", \"dist\": -1}}", "Distance must be positive"},
        {"{\"poni\": {\"detector\": \"Pilatus1M\", \"dist\": Infinity}}", "poni.dist"},
        {"{\"poni\": {\"detector\": \"Pilatus1M\", \"dist\": 1, \"wavelength\": \"x\"}}", "poni.wavelength"},
        {"{\"detector\": \"Pilatus1M\", \"dist\": 0, \"nbpt_rad\": 10}", "Distance must be positive"},
        {"{\"nbpt_rad\": 10, \"nbpt_rd\": 5}", "unknown key 'nbpt_rd'"},
        {"{\"version\": 5, \"dist\": 0.1}", "unknown key 'dist'"},
        {"{\"version\": 5, \"polarization_factor\": 0.9}", "polarization_factor"},
        {"{\"version\": 5, \"error_model\": \"gauss\"}", "error_model"},
        {"{\"version\": 5, \"error_model\": \"variance\"}", "variance"},
        {"{\"version\": 5, \"integrator_method\": \"sigma_clip_ng\"}", "sigma_clip_ng"},
        {"{\"version\": 5, \"integrator_class\": \"FiberIntegrator\"}", "integrator_class"},
        {"{\"version\": 5, \"extra_options\": {\"thres\": 3}}", "extra_options"},
        {"{\"version\": 5, \"chi_discontinuity_at_0\": \"yes\"}", "chi_discontinuity_at_0"},
        {"{\"version\": 5, \"method\": [\"bbox\", \"csr\", \"cuda\"]}", "method"},
        {"{\"version\": 5, \"method\": [\"splitbox\", null, null]}", "method"},
        {"{\"version\": 2, \"method\": \"splitbox\"}", "splitbox"},
        {"{\"version\": 5, \"radial_range_min\": 1}", "radial_range_min"},
        {"{\"version\": 5, \"radial_range\": [null, null]}", "radial_range"},
        {"{\"version\": 5, \"radial_range\": [5, 1]}", "radial_range"},
        {"{\"version\": 5, \"azimuth_range\": [30, 30]}", "azimuth_range"},
        {"{\"version\": 5, \"dark_current\": [\"a.edf\", 3]}", "dark_current"},
        {"{\"version\": 5, \"mask_file\": [\"a.edf\"]}", "mask_file"},
        {"{\"version\": 5, \"correct_solid_angle\": \"yes\"}", "correct_solid_angle"},
        {"{\"version\": 5, \"shape\": [0, 3]}", "shape"},
        {"{\"version\": \"5\"}", "version"},
        {"{\"version\": 5, \"azstream\": {\"nope\": 1}}", "azstream.nope"},
        {"{\"version\": 5, \"unit\": \"furlong\"}", "unit"},
        {"{\"detector\": \"Pilatus1M\", \"dist\": 1, \"splineFile\": \"s.spline\"}", "splineFile"},
        {"{\"npt\": 10,", "error at byte"},
        {"[1, 2]", "not a JSON object"},
        {"{\"unit\": \"q_nm^-1\"} trailing", "error at byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        azs_settings *t;
        azs_settings_create(&t);
        azs_status st = load_cfg(t, bad[i].json);
        CHECK(st == AZS_ERR_PARSE && strstr(azs_last_error(), bad[i].says) && strstr(azs_last_error(), "c.json"),
              "%s refused, naming '%s' and the file", bad[i].json, bad[i].says);
        azs_integrate_options d;
        azs_integrate_options_default(&d);
        CHECK(memcmp(&d, azs_settings_integrate_options(t), sizeof d) == 0, "a refused config changes nothing");
        azs_settings_destroy(t);
    }
    /* Deep nesting is refused before the parser recurses. */
    size_t depth = 100000;
    char *deep = malloc(2 * depth + 3);
    deep[0] = '{';
    for (size_t i = 0; i < depth; i++)
        deep[1 + i] = '[';
    for (size_t i = 0; i < depth; i++)
        deep[1 + depth + i] = ']';
    deep[1 + 2 * depth] = '}';
    deep[2 + 2 * depth] = 0;
    CHECK(azs_settings_load_json(s, deep, "deep") == AZS_ERR_PARSE && strstr(azs_last_error(), "nested"),
          "100000 nested brackets");
    free(deep);
    char missing[512];
    path_in(missing, sizeof missing, "absent.json");
    CHECK(azs_settings_load_config(s, missing) == AZS_ERR_NOT_FOUND && strstr(azs_last_error(), "absent.json"),
          "a missing config names itself");
    azs_settings_destroy(s);
}

/* A list of darks is their float32 mean in list order (pyFAI's average_images "mean"). */
static void write_npy(const char *name, const float *v, int ny, int nx)
{
    char p[512], hdr[128];
    path_in(p, sizeof p, name);
    int n = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }", ny, nx);
    int pad = 64 - (10 + n + 1) % 64;
    FILE *f = fopen(p, "wb");
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    unsigned short hl = (unsigned short)(n + pad + 1);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)n, f);
    for (int i = 0; i < pad; i++)
        fputc(' ', f);
    fputc('\n', f);
    fwrite(v, sizeof(float), (size_t)ny * nx, f);
    fclose(f);
}

static void test_combine(void)
{
    float a[6] = {1, 2, 3, 4.1f, 1e8f, 0.3f}, b[6] = {2, 2, 5, 4.7f, 3.0f, 0.7f}, c[6] = {0, 1, 1, 1, 1, 16777217.0f};
    write_npy("d1.npy", a, 2, 3);
    write_npy("d2.npy", b, 2, 3);
    write_npy("d3.npy", c, 2, 3);
    char spec[2048], p1[512], p2[512], p3[512];
    path_in(p1, sizeof p1, "d1.npy");
    path_in(p2, sizeof p2, "d2.npy");
    path_in(p3, sizeof p3, "d3.npy");
    snprintf(spec, sizeof spec, "%s\n%s\n%s", p1, p2, p3);
    float *m = NULL;
    uint32_t ny, nx;
    CHECK(azs_job_array_load(spec, &m, &ny, &nx) == AZS_OK && ny == 2 && nx == 3, "three darks");
    for (int i = 0; m && i < 6; i++) {
        float want = a[i] + b[i];
        want += c[i];
        want /= 3.0f;
        CHECK(m[i] == want, "pixel %d: %.9g, pyFAI's %.9g", i, (double)m[i], (double)want);
    }
    free(m);
    CHECK(azs_job_array_load(p1, &m, &ny, &nx) == AZS_OK && m && m[4] == 1e8f, "one dark as it is");
    free(m);
    /* A two-frame EDF: its first frame, as fabio/pyFAI read it. */
    char edf[512];
    path_in(edf, sizeof edf, "two.edf");
    FILE *f = fopen(edf, "wb");
    for (int k = 0; k < 2; k++) {
        char h[512];
        memset(h, ' ', sizeof h);
        int n = snprintf(h, sizeof h, "{\nDim_1 = 3 ;\nDim_2 = 2 ;\nDataType = FloatValue ;\nByteOrder = LowByteFirst ;\n");
        h[n] = ' ';
        h[510] = '}';
        h[511] = '\n';
        fwrite(h, 1, sizeof h, f);
        fwrite(k ? b : a, sizeof(float), 6, f);
    }
    fclose(f);
    CHECK(azs_job_array_load(edf, &m, &ny, &nx) == AZS_OK && ny == 2 && nx == 3 && m && !memcmp(m, a, sizeof a),
          "a multi-frame EDF's first frame");
    free(m);
    /* In a list, every frame of every file. */
    snprintf(spec, sizeof spec, "%s\n%s", edf, p3);
    CHECK(azs_job_array_load(spec, &m, &ny, &nx) == AZS_OK && m, "a list with a two-frame file");
    for (int i = 0; m && i < 6; i++) {
        float want = a[i] + b[i];
        want += c[i];
        want /= 3.0f;
        CHECK(m[i] == want, "pixel %d: %.9g, pyFAI's %.9g (three frames)", i, (double)m[i], (double)want);
    }
    free(m);
    snprintf(spec, sizeof spec, "%s\n%s", p1, "absent.npy");
    CHECK(azs_job_array_load(spec, &m, &ny, &nx) != AZS_OK && strstr(azs_last_error(), "absent.npy"),
          "a missing file of the list");
}

/* Rows of a job delivered to a caller's sink. */
typedef struct rows {
    uint64_t n, frame[16];
    double first_value[16];
    azs_status status[16];
} rows;

static azs_status collect(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    (void)s;
    rows *r = ctx;
    if (r->n < 16) {
        r->frame[r->n] = frame;
        r->first_value[r->n] = i[5];
        r->status[r->n] = fs;
    }
    r->n++;
    return AZS_OK;
}

static void test_jobs(void)
{
    write_stack("a.h5", 5, 40, 48);
    write_stack("b.h5", 3, 40, 48);
    write_stack("small.h5", 2, 20, 48);
    char a[512], b[512], small[512], poni[512], out[512], missing[512];
    path_in(a, sizeof a, "a.h5");
    path_in(b, sizeof b, "b.h5");
    path_in(small, sizeof small, "small.h5");
    path_in(poni, sizeof poni, "g.poni");
    path_in(missing, sizeof missing, "missing.h5");
    azs_settings *s;
    azs_settings_create(&s);
    azs_settings_set(s, "poni", poni);
    azs_settings_set(s, "npt", "50");
    azs_settings_set(s, "dummy", "4294967295");

    /* Two inputs, frames 1:3 of each: rows 1, 2 of a, then 5 + 1, 5 + 2 for b. */
    const char *inputs[] = {a, b};
    azs_job_options jo;
    azs_job_options_default(&jo);
    jo.inputs = inputs;
    jo.ninputs = 2;
    jo.first_frame = 1;
    jo.end_frame = 3;
    jo.run.layout = AZS_LAYOUT_THREADS;
    jo.run.workers = 2;
    azs_job *job = NULL;
    CHECK(azs_job_open(s, &jo, &job) == AZS_OK, "open");
    CHECK(azs_job_total_frames(job) == 4, "4 frames");
    rows r = {0};
    azs_sink_ops ops = {&r, collect};
    azs_job_summary sum;
    CHECK(azs_job_run(job, &ops, &sum) == AZS_OK && sum.frames_done == 4 && sum.failed_input == -1, "run");
    CHECK(r.n == 4 && r.frame[0] == 1 && r.frame[1] == 2 && r.frame[2] == 6 && r.frame[3] == 7,
          "frame numbers %llu %llu %llu %llu", (unsigned long long)r.frame[0], (unsigned long long)r.frame[1],
          (unsigned long long)r.frame[2], (unsigned long long)r.frame[3]);

    /* The same frames through azs_run on the job's integrator, serially: the same rows. */
    azs_source *src;
    CHECK(azs_source_open(b, NULL, &src) == AZS_OK, "open b");
    rows d = {0};
    azs_sink_ops dops = {&d, collect};
    azs_run_options ro;
    azs_run_options_default(&ro);
    ro.first_frame = 1;
    ro.end_frame = 3;
    azs_run_summary rs;
    CHECK(azs_run(src, azs_job_integrator(job), &ro, &dops, &rs) == AZS_OK, "azs_run");
    CHECK(d.n == 2 && d.first_value[0] == r.first_value[2] && d.first_value[1] == r.first_value[3],
          "job rows equal azs_run's");
    azs_source_close(src);

    /* An integrator built from the settings alone has the same bins. */
    azs_settings *t;
    azs_settings_copy(s, &t);
    azs_integrator *it = NULL;
    CHECK(azs_settings_build(t, 40, 48, AZS_F32, &it) == AZS_OK, "build");
    CHECK(it && !memcmp(azs_integrator_radial(it), azs_integrator_radial(azs_job_integrator(job)), 50 * sizeof(double)),
          "same radial bins");
    azs_integrator_destroy(it);
    CHECK(azs_settings_build(t, 41, 48, AZS_F32, &it) == AZS_ERR_FORMAT && strstr(azs_last_error(), "41x48"),
          "frames of another shape than the detector");
    azs_integrator_destroy(it);
    azs_settings_destroy(t);
    azs_job_close(job);

    /* Into a file: every row there. */
    path_in(out, sizeof out, "out.h5");
    jo.output = out;
    CHECK(azs_job_open(s, &jo, &job) == AZS_OK && azs_job_run(job, NULL, &sum) == AZS_OK, "to %s", out);
    azs_job_close(job);
    CHECK(access(out, R_OK) == 0, "output written");

    /* Into a file and a caller's sink at once (a binding returning rows and writing them):
     * every row to both; text: one file per row. */
    path_in(out, sizeof out, "tee.dat");
    jo.output = out;
    rows tr = {0};
    azs_sink_ops tops = {&tr, collect};
    CHECK(azs_job_open(s, &jo, &job) == AZS_OK && azs_job_run(job, &tops, &sum) == AZS_OK,
          "to %s and a sink", out);
    azs_job_close(job);
    CHECK(tr.n == 4 && tr.frame[3] == 7 && tr.first_value[2] == r.first_value[2], "rows to the sink");
    char row_file[600];
    for (int k = 0; k < 4; k++) {
        snprintf(row_file, sizeof row_file, "%s/tee_%05d.dat", dir, k);
        CHECK(access(row_file, R_OK) == 0, "%s written", row_file);
    }
    jo.output = NULL;

    /* Refusals name the input. */
    const char *mixed[] = {a, small};
    jo.inputs = mixed;
    CHECK(azs_job_open(s, &jo, &job) == AZS_ERR_FORMAT && strstr(azs_last_error(), "small.h5"), "two shapes");
    const char *absent[] = {a, missing};
    jo.inputs = absent;
    CHECK(azs_job_open(s, &jo, &job) != AZS_OK && strstr(azs_last_error(), "missing.h5"), "a missing input");
    jo.inputs = inputs;
    jo.first_frame = 9;
    jo.end_frame = -1;
    CHECK(azs_job_open(s, &jo, &job) == AZS_ERR_INVALID_ARG && strstr(azs_last_error(), "selects nothing"),
          "a frame range past the end");
    jo.first_frame = 0;
    jo.run.layout = AZS_LAYOUT_PROCS;
    CHECK(azs_job_open(s, &jo, &job) == AZS_ERR_INVALID_ARG && strstr(azs_last_error(), "worker_exe"),
          "procs without a worker executable");
    azs_settings *none;
    azs_settings_create(&none);
    jo.run.layout = AZS_LAYOUT_SERIAL;
    CHECK(azs_job_open(none, &jo, &job) == AZS_ERR_INVALID_ARG && strstr(azs_last_error(), "geometry"),
          "no geometry");
    azs_settings_destroy(none);
    azs_settings_destroy(s);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/azs_test_job_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    write_text("g.poni", PONI);
    test_options();
    test_round_trip();
    test_config();
    test_config_versions();
    test_combine();
    test_jobs();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures != 0;
}
