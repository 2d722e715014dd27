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
        {"mask", "m.npy"},        {"dark", "d.edf"},           {"flat", "f.h5:/x"},
        {"no-solid-angle", NULL}, {"no-gap-mask", NULL},
    };
    for (int inline_geom = 0; inline_geom < 2; inline_geom++) {
        azs_settings *a, *b;
        azs_settings_create(&a);
        azs_settings_create(&b);
        for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
            CHECK(azs_settings_set(a, opts[i][0], opts[i][1]) == AZS_OK, "--%s", opts[i][0]);
        azs_geometry g;
        CHECK(azs_poni_load(poni, &g) == AZS_OK, "poni");
        if (inline_geom)
            azs_settings_set_geometry(a, &g);
        else
            azs_settings_set(a, "poni", poni);
        char *text = azs_settings_to_json(a);
        CHECK(text && azs_settings_load_json(b, text, "round trip") == AZS_OK, "read back");
        CHECK(memcmp(azs_settings_integrate_options(a), azs_settings_integrate_options(b),
                     sizeof(azs_integrate_options)) == 0,
              "options read back bit for bit (inline %d)", inline_geom);
        CHECK(!strcmp(azs_settings_poni_path(a), azs_settings_poni_path(b)), "poni path");
        if (inline_geom)
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

static void test_config(void)
{
    azs_settings *s;
    azs_settings_create(&s);
    CHECK(load_cfg(s, "{\"poni\": {\"detector\": \"Detector\", \"detector_config\": {\"pixel1\": 1e-4, "
                      "\"pixel2\": 2e-4, \"max_shape\": [40, 48], \"orientation\": 3}, \"dist\": 0.2, \"poni1\": "
                      "0.001, \"wavelength\": 1e-10}, \"nbpt_rad\": 500, \"nbpt_azim\": 1, \"unit\": \"q_A^-1\", "
                      "\"method\": [\"full\", \"csr\", \"cython\"], \"do_solid_angle\": false, "
                      "\"polarization_factor\": 0.9, \"do_polarization\": false, \"do_dummy\": true, "
                      "\"val_dummy\": -2, \"delta_dummy\": 0.5, \"do_radial_range\": true, \"radial_range_min\": 1, "
                      "\"radial_range_max\": 5, \"do_poisson\": true, \"do_mask\": false, \"mask_file\": "
                      "\"m.npy\", \"normalization_factor\": 4}") == AZS_OK,
          "pyFAI keys");
    const azs_integrate_options *o = azs_settings_integrate_options(s);
    CHECK(o->npt == 500 && o->npt_azim == 0 && o->unit == AZS_UNIT_Q_A && o->split == AZS_SPLIT_FULL &&
              !o->solid_angle && !o->has_polarization && o->has_dummy && o->dummy == -2 &&
              o->delta_dummy == 0.5 && o->has_radial_range && o->radial_min == 1 && o->radial_max == 5 &&
              o->error_model == AZS_ERRMODEL_POISSON && o->normalization_factor == 4,
          "pyFAI keys' meaning");
    const azs_geometry *g = azs_settings_geometry(s);
    CHECK(g && g->dist == 0.2 && g->det.pixel2 == 2e-4 && g->det.ny == 40, "inline geometry");
    static const struct { const char *json, *says; } bad[] = {
        {"{\"npt\": 1.5}", "npt"},
        {"{\"nbpt_rad\": 4294967297}", "nbpt_rad"},
        {"{\"npt\": [1, 2, 3]}", "npt"},
        {"{\"polarization_factor\": 3}", "polarization_factor"},
        {"{\"do_radial_range\": true, \"radial_range_min\": 0.5, \"radial_range_max\": 0}", "radial_range_min/max"},
        {"{\"nbpt_azim\": 2.5}", "nbpt_azim"},
        {"{\"do_dummy\": true, \"val_dummy\": 1e999}", "val_dummy"},
        {"{\"poni\": {\"detector\": \"Detector\", \"pixel1\": 1e-4}}", "pixel"},
        {"{\"poni\": {\"detector\": \"NoSuchCam\", \"dist\": 1}}", "poni.detector"},
        {"{\"npt\": 10,", "error at byte"},
        {"[1, 2]", "not a JSON object"},
        {"{\"unit\": \"q_nm^-1\"} trailing", "error at byte"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        azs_settings *t;
        azs_settings_create(&t);
        azs_status st = load_cfg(t, bad[i].json);
        CHECK(st != AZS_OK && strstr(azs_last_error(), bad[i].says) && strstr(azs_last_error(), "c.json"),
              "%s refused, naming '%s' and the file", bad[i].json, bad[i].says);
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
    CHECK(azs_settings_build(t, 40, 48, &it) == AZS_OK, "build");
    CHECK(it && !memcmp(azs_integrator_radial(it), azs_integrator_radial(azs_job_integrator(job)), 50 * sizeof(double)),
          "same radial bins");
    CHECK(azs_settings_build(t, 41, 48, &it) == AZS_ERR_FORMAT && strstr(azs_last_error(), "41x48"),
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
    test_jobs();
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (failures == 0 && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    printf("%s: %d failure(s)\n", failures ? "FAIL" : "ok", failures);
    return failures != 0;
}
