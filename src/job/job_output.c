/* What a job tells its output besides the rows (job.c and job_stream.c share it): the
 * NXazint facts of the HDF5 sink (corrections applied, wavelength, the per-bin norm, the
 * settings as a pyFAI config) and the '#' header of a text output, in the words pyFAI's
 * own .dat files use (pyFAI.io.DefaultAiWriter: the geometry as JSON, then the mask, dark,
 * flat, polarization and normalization lines). */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "settings_internal.h"

/* A double as Python's repr() writes it (pyFAI's headers are Python's str of floats): the
 * shortest digits that read back the same, fixed notation from 1e-4 up to 1e16 with ".0"
 * on whole numbers, else d.ddde±XX. */
void azs_job_python_float(double v, char *buf, size_t cap)
{
    if (!isfinite(v)) {
        snprintf(buf, cap, "%s", isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    char e[40];
    int p = 1;
    for (; p < 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    snprintf(e, sizeof e, "%.*e", p - 1, v);
    const int exp10 = atoi(strchr(e, 'e') + 1);
    if (exp10 >= -4 && exp10 < 16) {
        const int decimals = p - 1 - exp10 > 0 ? p - 1 - exp10 : 0;
        snprintf(buf, cap, "%.*f%s", decimals, v, decimals ? "" : ".0");
        return;
    }
    char mant[32];
    snprintf(mant, sizeof mant, "%.*s", (int)(strchr(e, 'e') - e), e);
    snprintf(buf, cap, "%se%c%02d", mant, exp10 < 0 ? '-' : '+', abs(exp10));
}

#define ADD(...)                                                                                           \
    do {                                                                                                   \
        if (n < cap)                                                                                       \
            n += (size_t)snprintf(buf + n, cap - n, __VA_ARGS__);                                          \
    } while (0)

/* The geometry as pyFAI's PoniFile.as_dict, printed by json.dumps(indent=4), each line
 * behind "# " (pyFAI 2026.9 writes poni_version 2.1: its detectors carry an orientation). */
static size_t geometry_json(const azs_geometry *g, char *buf, size_t cap)
{
    size_t n = 0;
    char v[40];
    ADD("# {\n#     \"poni_version\": 2.1,\n");
    const struct { const char *k; double x; } num[] = {{"dist", g->dist}, {"poni1", g->poni1},
        {"poni2", g->poni2}, {"rot1", g->rot1}, {"rot2", g->rot2}, {"rot3", g->rot3}};
    for (size_t k = 0; k < sizeof num / sizeof num[0]; k++) {
        azs_job_python_float(num[k].x, v, sizeof v);
        ADD("#     \"%s\": %s,\n", num[k].k, v);
    }
    ADD("#     \"detector\": \"%s\",\n#     \"detector_config\": {\n", g->det.name);
    const int generic = !strcmp(g->det.name, "Detector");
    if (generic) {
        azs_job_python_float(g->det.pixel1, v, sizeof v);
        ADD("#         \"pixel1\": %s,\n", v);
        azs_job_python_float(g->det.pixel2, v, sizeof v);
        ADD("#         \"pixel2\": %s,\n", v);
    }
    ADD("#         \"orientation\": %d%s\n", g->det.orientation ? g->det.orientation : 3, generic ? "," : "");
    if (generic)
        ADD("#         \"max_shape\": [\n#             %u,\n#             %u\n#         ]\n", g->det.ny, g->det.nx);
    ADD("#     }%s\n", g->wavelength > 0 ? "," : "");
    if (g->wavelength > 0) {
        azs_job_python_float(g->wavelength, v, sizeof v);
        ADD("#     \"wavelength\": %s\n", v);
    }
    ADD("# }\n");
    return n;
}

void azs_job_text_header(const azs_settings *s, const azs_geometry *g, int detector_mask, char *buf, size_t cap)
{
    const azs_integrate_options *io = &s->io;
    size_t n = g ? geometry_json(g, buf, cap) : 0;
    char pol[40] = "None", norm[40];
    if (io->has_polarization)
        azs_job_python_float(io->polarization_factor, pol, sizeof pol);
    azs_job_python_float(io->normalization_factor, norm, sizeof norm);
    ADD("# Mask applied: %s\n# Dark current applied: %s\n# Flat field applied: %s\n"
        "# Polarization factor: %s\n# Normalization factor: %s\n",
        s->mask[0] ? "user provided" : detector_mask ? "from detector" : "False", s->dark[0] ? "provided" : "False",
        s->flat[0] ? "provided" : "False", pol, norm);
    char dummy[96] = "None";
    if (io->has_dummy) {
        char d[40], dd[40];
        azs_job_python_float(io->dummy, d, sizeof d);
        azs_job_python_float(io->delta_dummy, dd, sizeof dd);
        snprintf(dummy, sizeof dummy, "%s (delta %s)", d, dd);
    }
    ADD("# == azstream %s ==\n# poni: %s\n# method: %s  solid angle: %s  error model: %s  dummy: %s\n",
        azs_job_version(), s->geom_inline ? "(from config)" : s->poni_path, azs_split_name(io->split),
        io->solid_angle ? "yes" : "no", azs_error_model_name(io->error_model), dummy);
    if (s->mask[0])
        ADD("# mask: %s\n", s->mask);
    if (s->dark[0])
        ADD("# dark: %s\n", s->dark);
    if (s->flat[0])
        ADD("# flat: %s\n", s->flat);
    if (n >= cap && cap > 0) /* cut at a line: the sink adds its own lines after it */
        buf[cap - 1] = 0;
}

/* Σ w·norm of every bin over the matrix: NXazint's norm (a frame's dummy or NaN pixels,
 * left out at run time, lower its own). NULL if the matrix cannot be read. */
static double *bin_norm(const azs_integrator *it)
{
    azs_csr_view v;
    if (azs_integrator_csr(it, &v) != AZS_OK)
        return NULL;
    double *nrm = calloc(v.nbins ? v.nbins : 1, sizeof *nrm);
    for (uint32_t b = 0; nrm && b < v.nbins; b++) {
        double sum = 0;
        for (uint64_t e = v.indptr[b]; e < v.indptr[b + 1]; e++)
            sum += (double)v.weights[e] * (double)v.norm_factor[v.indices[e]];
        nrm[b] = sum;
    }
    return nrm;
}

int azs_job_detector_mask(const azs_settings *s, int pixel_mask_applied)
{
    const azs_geometry *g = azs_settings_geometry(s);
    return pixel_mask_applied || (s->io.mask_detector_gaps && g && g->det.module_ny > 0);
}

azs_status azs_job_sink_meta(azs_sink_config *c, const azs_settings *s, const azs_integrator *it,
                             int pixel_mask_applied, azs_job_sink_extra *x)
{
    const azs_integrate_options *io = &s->io;
    const azs_geometry *g = azs_settings_geometry(s);
    memset(x, 0, sizeof *x);
    x->pyfai = azs_settings_to_json(s);
    x->norm = bin_norm(it);
    if (!x->pyfai || !x->norm) {
        azs_job_sink_extra_free(x);
        return azs_fail(AZS_ERR_NOMEM, "the output's description");
    }
    c->pyfai_config_json = x->pyfai;
    c->norm = x->norm;
    c->wavelength = g ? g->wavelength : 0;
    c->solid_angle_applied = io->solid_angle;
    c->polarization_applied = io->has_polarization;
    c->monitor_applied = io->normalization_factor != 1.0;
    c->mask_applied = s->mask[0] || azs_job_detector_mask(s, pixel_mask_applied);
    c->dark_applied = s->dark[0] != 0;
    c->flat_applied = s->flat[0] != 0;
    return AZS_OK;
}

void azs_job_sink_extra_free(azs_job_sink_extra *x)
{
    free(x->pyfai);
    free(x->norm);
    x->pyfai = NULL;
    x->norm = NULL;
}
