/* Settings → integrator: the geometry (PONI file or inline), the mask / dark / flat files
 * checked against the frames' shape, pyFAI's defaults that depend on the frames (the
 * detector's dummy in their type), then azs_integrator_create. */
#include <stdlib.h>
#include <string.h>

#include "azstream/arrays.h"
#include "common/error.h"
#include "settings_internal.h"

/* A 2D array file of exactly ny × nx values. */
static azs_status load_array(const char *what, const char *spec, uint32_t ny, uint32_t nx, float **out)
{
    uint32_t ay, ax;
    azs_status st = azs_job_array_load(spec, out, &ay, &ax);
    if (st != AZS_OK)
        return azs_fail_context(st, "--%s %s: ", what, spec);
    if (ay != ny || ax != nx) {
        free(*out);
        *out = NULL;
        return azs_fail(AZS_ERR_FORMAT, "--%s %s: shape %ux%u does not match the frames' %ux%u", what, spec,
                        ay, ax, ny, nx);
    }
    return AZS_OK;
}

azs_status azs_settings_build(azs_settings *s, uint32_t ny, uint32_t nx, azs_dtype dtype, azs_integrator **out)
{
    return azs_settings_build_cached(s, ny, nx, dtype, NULL, out, NULL);
}

azs_status azs_settings_build_cached(azs_settings *s, uint32_t ny, uint32_t nx, azs_dtype dtype,
                                     const azs_cache_request *rq, azs_integrator **out, azs_cache_outcome *oc)
{
    if (!s || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_settings_build: NULL argument");
    *out = NULL;
    azs_status st;
    if (!s->geom_inline) {
        if (!s->poni_path[0])
            return azs_fail(AZS_ERR_INVALID_ARG, "no geometry: --poni GEOMETRY.poni is required "
                                                 "(or a config with 'poni')");
        if ((st = azs_poni_load(s->poni_path, &s->geom)) != AZS_OK)
            return st;
        s->geom_loaded = 1;
    }
    azs_detector *d = &s->geom.det;
    if (d->ny == 0 || d->nx == 0) {
        d->ny = ny;
        d->nx = nx;
    } else if (d->ny != ny || d->nx != nx) {
        return azs_fail(AZS_ERR_FORMAT, "the frames are %ux%u but the geometry's detector '%s' is %ux%u", ny,
                        nx, d->name, d->ny, d->nx);
    }
    float *mask = NULL, *dark = NULL, *flat = NULL;
    uint8_t *m8 = NULL;
    st = AZS_OK;
    if (s->mask[0])
        st = load_array("mask", s->mask, ny, nx, &mask);
    if (st == AZS_OK && s->dark[0])
        st = load_array("dark", s->dark, ny, nx, &dark);
    if (st == AZS_OK && s->flat[0])
        st = load_array("flat", s->flat, ny, nx, &flat);
    /* A user mask replaces the detector's gap mask (pyFAI); the inputs' own pixel_mask is
     * added to whichever applies, so without a user mask it joins the gaps. */
    if (st == AZS_OK && (mask || s->extra_mask)) {
        size_t n = (size_t)ny * nx;
        if (!(m8 = malloc(n)))
            st = azs_fail(AZS_ERR_NOMEM, "mask: %zu bytes", n);
        else if (!mask && s->io.mask_detector_gaps)
            st = azs_detector_mask(d, m8, n);
        for (size_t i = 0; st == AZS_OK && i < n; i++)
            m8[i] = (mask ? mask[i] != 0 : (s->io.mask_detector_gaps && m8[i])) ||
                    (s->extra_mask && s->extra_mask[i]);
    }
    if (st == AZS_OK) {
        azs_integrate_options o = s->io;
        /* pyFAI's default dummy: the detector's own, in the frames' type (unless --dummy
         * gave one, or --no-dummy none). A --delta-dummy without --dummy is not used, as
         * in pyFAI. */
        float dv, dd;
        if (!o.has_dummy && !s->no_dummy && azs_detector_dummy(d, dtype, &dv, &dd)) {
            o.has_dummy = 1;
            o.dummy = dv;
            o.delta_dummy = dd;
        }
        o.mask = m8;
        o.dark = dark;
        o.flat = flat;
        azs_cache_request r = {NULL, 0, dtype, azs_job_version()};
        if (rq) {
            r.dir = rq->dir;
            r.load_only = rq->load_only;
        }
        if ((st = azs_integrator_create_cached(&s->geom, &o, &r, out, oc)) != AZS_OK)
            st = azs_fail_context(st, "building the integrator: ");
    }
    free(mask);
    free(m8);
    free(dark);
    free(flat);
    return st;
}
