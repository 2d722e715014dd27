/* Internal: the settings object shared by the job layer's files. */
#ifndef AZS_JOB_SETTINGS_INTERNAL_H
#define AZS_JOB_SETTINGS_INTERNAL_H

#include "azstream/job.h"
#include "integrate/integrator_cache.h"

#define AZS_PATH_MAX 4096

struct azs_settings {
    char poni_path[AZS_PATH_MAX]; /* PONI file named ("" if none) */
    int geom_inline;              /* geometry given inline (config object, set_geometry) */
    int geom_loaded;              /* geom holds the PONI file's geometry (after build) */
    azs_geometry geom;
    azs_integrate_options io;     /* mask/dark/flat pointers stay NULL: files below */
    char mask[AZS_PATH_MAX], dark[AZS_PATH_MAX], flat[AZS_PATH_MAX];
    int no_pixel_mask;            /* --no-pixel-mask: the input's own pixel_mask not applied */
    int azim_rad;                 /* --unit-azim chi_rad: 2D azimuth range and axis in radians */
    int no_dummy;                 /* --no-dummy: not even the detector's dummy (io.has_dummy 0) */
    const uint8_t *extra_mask;    /* [ny*nx] OR-ed into the mask by azs_settings_build; borrowed,
                                   * set by the job (the inputs' pixel_mask) for the build only */
};

/* azs_settings_build through the integrator cache (rq NULL or rq->dir NULL: none); the
 * request's dtype is set here. oc (may be NULL) says where the integrator came from. */
azs_status azs_settings_build_cached(azs_settings *s, uint32_t ny, uint32_t nx, azs_dtype dtype,
                                     const azs_cache_request *rq, azs_integrator **out,
                                     azs_cache_outcome *oc);

/* The geometry object of a config ("poni": {...}, or the config's top level). */
struct cJSON;
/* The settings as a cJSON object (azs_settings_to_json prints it); the caller deletes it. */
struct cJSON *azs_settings_json_object(const azs_settings *s);

azs_status azs_settings_json_geometry(azs_settings *s, const char *origin, const struct cJSON *p);

/* A geometry as pyFAI's "poni" object (config.c reads it back). */
void azs_settings_geometry_into(struct cJSON *p, const azs_geometry *g, int with_detector);

/* azs_array_load, or for file names joined by '\n' (a pyFAI list of darks or flats) their
 * mean as pyFAI computes it (combine.c). */
azs_status azs_job_array_load(const char *spec, float **out, uint32_t *ny, uint32_t *nx);

/* What a job tells its output besides the rows (job_output.c). */
#include "azstream/sink.h"
typedef struct azs_job_sink_extra {
    char *pyfai;  /* the settings as a pyFAI v5 config */
    double *norm; /* Σ w·norm per bin */
} azs_job_sink_extra;
/* Fills c's NXazint fields (the arrays in x, freed by azs_job_sink_extra_free after the
 * sink is open). */
azs_status azs_job_sink_meta(azs_sink_config *c, const azs_settings *s, const azs_integrator *it,
                             int pixel_mask_applied, azs_job_sink_extra *x);
void azs_job_sink_extra_free(azs_job_sink_extra *x);
/* Whether the detector's own mask applies (module gaps, an input's pixel_mask). */
int azs_job_detector_mask(const azs_settings *s, int pixel_mask_applied);
/* The '#' header of a text output: pyFAI's lines (the geometry g as JSON, mask, dark,
 * flat, polarization, normalization), then azstream's. */
void azs_job_text_header(const azs_settings *s, const azs_geometry *g, int detector_mask, char *buf, size_t cap);
/* A double as Python's repr() writes it. */
void azs_job_python_float(double v, char *buf, size_t cap);

#endif
