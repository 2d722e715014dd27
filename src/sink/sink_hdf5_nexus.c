/* The NeXus structure of a new HDF5 output: the application definitions NXazint1d /
 * NXazint2d (NeXus 2025.11, as MAX IV's azint-writer and pyFAI write them), which
 * nexusformat's validator (`nxvalidate -a NXazint1d OUT.h5`) accepts without an error or a
 * warning; the layout is in include/azstream/sink.h. The rows themselves are the writer's
 * (sink_hdf5.c). Called with the HDF5 lock held. */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include "sink/sink_hdf5_internal.h"

/* Strings are variable-length UTF-8: h5py reads them back as str, silx and NeXus tools
 * accept them, and no length has to be chosen. */
static hid_t vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

herr_t azs_h5_attr_str(hid_t obj, const char *name, const char *value)
{
    hid_t t = vstr_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, &value);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

static herr_t attr_str_array(hid_t obj, const char *name, const char *const *v, size_t n)
{
    hid_t t = vstr_type();
    hsize_t d = n;
    hid_t sp = H5Screate_simple(1, &d, NULL);
    hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, t, v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

static herr_t attr_i32(hid_t obj, const char *name, int v)
{
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, H5T_STD_I32LE, sp, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = a < 0 ? -1 : H5Awrite(a, H5T_NATIVE_INT, &v);
    if (a >= 0)
        H5Aclose(a);
    H5Sclose(sp);
    return r;
}

static hid_t group(hid_t parent, const char *name, const char *nxclass)
{
    hid_t g = H5Gcreate2(parent, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0 && azs_h5_attr_str(g, "NX_class", nxclass) < 0) {
        H5Gclose(g);
        return -1;
    }
    return g;
}

static herr_t dset_str(hid_t parent, const char *name, const char *value)
{
    hid_t t = vstr_type();
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(parent, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

/* NX_BOOLEAN as h5py writes numpy's bool (an int8 enum FALSE/TRUE): read back as bool. */
static herr_t dset_bool(hid_t parent, const char *name, int value)
{
    hid_t t = H5Tenum_create(H5T_NATIVE_INT8);
    signed char f = 0, tr = 1, v = value ? 1 : 0;
    H5Tenum_insert(t, "FALSE", &f);
    H5Tenum_insert(t, "TRUE", &tr);
    hid_t sp = H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(parent, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    H5Tclose(t);
    return r;
}

/* A float64 dataset of rank 0 (n == 0), 1 or 2, its units and long_name (NULL: none). */
static herr_t dset_f64(hid_t parent, const char *name, const double *v, int rank, const hsize_t *dims,
                       const char *units, const char *long_name)
{
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t d = H5Dcreate2(parent, name, H5T_IEEE_F64LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    herr_t r = d < 0 ? -1 : H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    if (r >= 0 && units)
        r = azs_h5_attr_str(d, "units", units);
    if (r >= 0 && long_name)
        r = azs_h5_attr_str(d, "long_name", long_name);
    if (d >= 0)
        H5Dclose(d);
    H5Sclose(sp);
    return r;
}

/* pyFAI's unit names as NeXus units (UDUNITS spellings) and the NXazint long names;
 * dimensionless units are "1". */
typedef struct unit_map {
    const char *pyfai, *nexus, *long_name;
} unit_map;

static const unit_map units[] = {
    {"q_nm^-1", "1/nm", "q"},
    {"q_A^-1", "1/angstrom", "q"},
    {"2th_deg", "degree", "2theta"},
    {"2th_rad", "rad", "2theta"},
    {"r_mm", "mm", "r"},
    {"r_m", "m", "r"},
    {"d_m", "m", "d"},
    {"d_nm", "nm", "d"},
    {"d_A", "angstrom", "d"},
    {"d*2_nm^-2", "1/nm^2", "d*2"},
    {"d*2_A^-2", "1/angstrom^2", "d*2"},
    {"log(1+q.nm)_None", "1", "log(1+q.nm)"},
    {"log(1+q.A)_None", "1", "log(1+q.A)"},
    {"arcsinh(q.nm)_None", "1", "arcsinh(q.nm)"},
    {"arcsinh(q.A)_None", "1", "arcsinh(q.A)"},
    {"chi_deg", "degree", "chi"},
    {"chi_rad", "rad", "chi"},
};

static const unit_map *unit_of(const char *pyfai)
{
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++)
        if (pyfai && !strcmp(units[k].pyfai, pyfai))
            return &units[k];
    return NULL;
}

const char *azs_h5_nexus_unit(const char *pyfai_unit)
{
    const unit_map *u = unit_of(pyfai_unit);
    return u ? u->nexus : "";
}

/* A bin axis (centres, and their edges when there are two bins or more: pyFAI's bins are
 * evenly spaced in their unit, so an edge is the midpoint of two centres) with its NeXus
 * unit and its pyFAI unit name (attribute pyfai_unit, for the way back). */
static int axis(hid_t data, const char *name, const double *c, uint32_t n, const char *pyfai_unit,
                const char *long_name, const char *edges_long_name)
{
    const unit_map *u = unit_of(pyfai_unit);
    const char *nx_unit = u ? u->nexus : "";
    hsize_t dn = n;
    if (dset_f64(data, name, c, 1, &dn, nx_unit, long_name) < 0)
        return 0;
    hid_t d = H5Dopen2(data, name, H5P_DEFAULT);
    int ok = d >= 0 && azs_h5_attr_str(d, "pyfai_unit", pyfai_unit ? pyfai_unit : "") >= 0;
    if (d >= 0)
        H5Dclose(d);
    if (!ok || n < 2)
        return ok;
    double *e = malloc((n + 1) * sizeof *e);
    if (!e)
        return 0;
    e[0] = c[0] - 0.5 * (c[1] - c[0]);
    for (uint32_t i = 1; i < n; i++)
        e[i] = 0.5 * (c[i - 1] + c[i]);
    e[n] = c[n - 1] + 0.5 * (c[n - 1] - c[n - 2]);
    char ename[64];
    snprintf(ename, sizeof ename, "%s_edges", name);
    dn = n + 1;
    ok = dset_f64(data, ename, e, 1, &dn, nx_unit, edges_long_name) >= 0;
    free(e);
    if (ok && (d = H5Dopen2(data, ename, H5P_DEFAULT)) >= 0) {
        ok = azs_h5_attr_str(d, "pyfai_unit", pyfai_unit ? pyfai_unit : "") >= 0;
        H5Dclose(d);
    }
    return ok;
}

static const char *or_default(const char *v, const char *d)
{
    return v && v[0] ? v : d;
}

/* /entry/instrument: the beamline, the monochromator's wavelength and energy (from the
 * geometry; NaN when it has none), the source. */
static int instrument(hid_t entry, const azs_sink_config *cfg)
{
    hid_t ins = group(entry, "instrument", "NXinstrument");
    int ok = ins >= 0 && dset_str(ins, "name", or_default(cfg->instrument_name, "unknown")) >= 0;
    hid_t g = ok ? group(ins, "monochromator", "NXmonochromator") : -1;
    /* E = h c / λ: h c = 12.398419843320026 keV·Å (CODATA 2018, as pyFAI's hc). */
    const double lambda_a = cfg->wavelength > 0 ? cfg->wavelength * 1e10 : NAN;
    const double kev = cfg->wavelength > 0 ? 12.398419843320026 / lambda_a : NAN;
    ok = g >= 0 && dset_f64(g, "wavelength", &lambda_a, 0, NULL, "angstrom", NULL) >= 0 &&
         dset_f64(g, "energy", &kev, 0, NULL, "keV", NULL) >= 0;
    if (g >= 0)
        H5Gclose(g);
    g = ok ? group(ins, "source", "NXsource") : -1;
    ok = g >= 0 && dset_str(g, "name", or_default(cfg->source_name, "unknown")) >= 0 &&
         dset_str(g, "type", or_default(cfg->source_type, "Synchrotron X-ray Source")) >= 0 &&
         dset_str(g, "probe", or_default(cfg->source_probe, "x-ray")) >= 0;
    if (g >= 0)
        H5Gclose(g);
    if (ins >= 0)
        H5Gclose(ins);
    return ok;
}

#define AZS_REFERENCE                                                                                      \
    "J. Kieffer and D. Karkoulis, PyFAI, a versatile library for azimuthal regrouping, J. Phys.: Conf. "    \
    "Ser. 425, 202012 (2013), doi:10.1088/1742-6596/425/20/202012 (azstream computes pyFAI's "              \
    "integrate1d_ng / integrate2d_ng)"

#define AZS_NOTE                                                                                           \
    "One row of I per input frame: frame holds the frame's number across the inputs, frame_status 0 or "  \
    "the status of a frame written as NaN (a skipped bad frame, a frame without data); the attribute "    \
    "frames_written of the NXdata group counts the rows. input/configuration is the full configuration "  \
    "(azstream's settings JSON, a pyFAI version 5 integration config), input/pyfai_config the settings "   \
    "alone."

/* /entry/reduction: what made the file and with which configuration. */
static int reduction(h5_sink *s, const azs_sink_config *cfg)
{
    char date[64];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
    s->process = group(s->entry, "reduction", "NXprocess");
    int ok = s->process >= 0 && dset_str(s->process, "program", cfg->program ? cfg->program : "azstream") >= 0 &&
             dset_str(s->process, "version", cfg->version ? cfg->version : "") >= 0 &&
             dset_str(s->process, "date", date) >= 0 && dset_str(s->process, "reference", AZS_REFERENCE) >= 0 &&
             dset_str(s->process, "note", AZS_NOTE) >= 0;
    hid_t in = ok ? group(s->process, "input", "NXparameters") : -1;
    ok = in >= 0 && dset_str(in, "configuration", cfg->config_json ? cfg->config_json : "{}") >= 0 &&
         dset_str(in, "pyfai_config", cfg->pyfai_config_json ? cfg->pyfai_config_json
                                                             : cfg->config_json ? cfg->config_json : "{}") >= 0 &&
         dset_bool(in, "mask_applied", cfg->mask_applied) >= 0 &&
         dset_bool(in, "dark_applied", cfg->dark_applied) >= 0 &&
         dset_bool(in, "flat_applied", cfg->flat_applied) >= 0;
    if (in >= 0)
        H5Gclose(in);
    return ok;
}

/* /entry/result (NXdata): the axes, norm and the row datasets' attributes (the row
 * datasets are the writer's: make_rows). */
static int result_group(h5_sink *s, const azs_sink_config *cfg)
{
    s->result = group(s->entry, "result", "NXdata");
    int ok = s->result >= 0 && azs_h5_attr_str(s->result, "signal", "I") >= 0;
    if (ok && cfg->npt_azim) {
        const char *axes[] = {".", "azimuthal_axis", "radial_axis"};
        ok = attr_str_array(s->result, "axes", axes, 3) >= 0 && azs_h5_attr_str(s->result, "interpretation", "image") >= 0 &&
             attr_i32(s->result, "azimuthal_axis_indices", 1) >= 0 && attr_i32(s->result, "radial_axis_indices", 2) >= 0;
    } else if (ok) {
        const char *axes[] = {".", "radial_axis"};
        ok = attr_str_array(s->result, "axes", axes, 2) >= 0 &&
             azs_h5_attr_str(s->result, "interpretation", "spectrum") >= 0 &&
             attr_i32(s->result, "radial_axis_indices", 1) >= 0;
    }
    const unit_map *u = unit_of(cfg->unit);
    const char *ln = u ? u->long_name : "radial";
    char edges[64];
    snprintf(edges, sizeof edges, "%s bin edges", ln);
    ok = ok && axis(s->result, "radial_axis", cfg->radial, cfg->npt, cfg->unit, ln, edges);
    if (ok && cfg->npt_azim)
        ok = axis(s->result, "azimuthal_axis", cfg->azimuthal, cfg->npt_azim,
                  cfg->azimuthal_unit ? cfg->azimuthal_unit : "chi_deg", "azimuthal bin center",
                  "azimuthal bin edges");
    if (ok && cfg->norm) {
        hsize_t dims[2] = {cfg->npt_azim ? cfg->npt_azim : cfg->npt, cfg->npt};
        ok = dset_f64(s->result, "norm", cfg->norm, cfg->npt_azim ? 2 : 1, dims, "arbitrary units",
                      "effective number of pixels contributing to the corresponding bin") >= 0;
    }
    return ok;
}

int azs_h5_sink_create_structure(h5_sink *s, const azs_sink_config *cfg)
{
    int ok = azs_h5_attr_str(s->file, "default", "entry") >= 0;
    ok = ok && (s->entry = group(s->file, "entry", "NXentry")) >= 0;
    ok = ok && azs_h5_attr_str(s->entry, "default", "result") >= 0;
    ok = ok && dset_str(s->entry, "definition", cfg->npt_azim ? "NXazint2d" : "NXazint1d") >= 0;
    ok = ok && dset_bool(s->entry, "solid_angle_applied", cfg->solid_angle_applied) >= 0 &&
         dset_bool(s->entry, "polarization_applied", cfg->polarization_applied) >= 0 &&
         /* I = Σ signal / Σ normalization per bin: always (pyFAI's weighted average) */
         dset_bool(s->entry, "normalization_applied", 1) >= 0 &&
         dset_bool(s->entry, "monitor_applied", cfg->monitor_applied) >= 0;
    ok = ok && instrument(s->entry, cfg);
    ok = ok && reduction(s, cfg);
    ok = ok && result_group(s, cfg);
    ok = ok && azs_h5_sink_make_rows(s, cfg);
    return ok;
}

/* ---------------------------------------------------------------- reading one back */

static void read_str(hid_t file, const char *path, char *buf, size_t cap)
{
    buf[0] = 0;
    if (H5Lexists(file, "entry", H5P_DEFAULT) <= 0 || H5Oexists_by_name(file, path, H5P_DEFAULT) <= 0)
        return;
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT);
    hid_t t = vstr_type();
    char *v = NULL;
    if (d >= 0 && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v) >= 0 && v) {
        snprintf(buf, cap, "%s", v);
        H5free_memory(v);
    }
    H5Tclose(t);
    if (d >= 0)
        H5Dclose(d);
}

static void read_attr_str(hid_t obj, const char *name, char *buf, size_t cap)
{
    buf[0] = 0;
    if (H5Aexists(obj, name) <= 0)
        return;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = vstr_type();
    char *v = NULL;
    if (a >= 0 && H5Aread(a, t, &v) >= 0 && v) {
        snprintf(buf, cap, "%s", v);
        H5free_memory(v);
    }
    H5Tclose(t);
    if (a >= 0)
        H5Aclose(a);
}

static azs_status describe_locked(const char *path, azs_result_info *r)
{
    memset(r, 0, sizeof *r);
    hid_t f;
    H5E_BEGIN_TRY { f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); } H5E_END_TRY;
    if (f < 0)
        return azs_fail(AZS_ERR_IO, "%s: not an HDF5 file libhdf5 can open", path);
    azs_status st = AZS_OK;
    H5E_BEGIN_TRY {
        read_str(f, "entry/definition", r->definition, sizeof r->definition);
        if (strncmp(r->definition, "NXazint", 7) || H5Oexists_by_name(f, "entry/result/I", H5P_DEFAULT) <= 0) {
            st = azs_fail(AZS_ERR_NOT_FOUND, "%s: not an azimuthal-integration result (NXazint1d / NXazint2d)",
                          path);
        } else {
            read_str(f, "entry/reduction/program", r->program, sizeof r->program);
            read_str(f, "entry/reduction/version", r->version, sizeof r->version);
            read_str(f, "entry/reduction/date", r->date, sizeof r->date);
            hid_t d = H5Dopen2(f, "entry/result/I", H5P_DEFAULT);
            hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
            r->rank = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : 0;
            if (r->rank > 0 && r->rank <= 3)
                H5Sget_simple_extent_dims(sp, (hsize_t *)r->shape, NULL);
            if (sp >= 0)
                H5Sclose(sp);
            if (d >= 0)
                H5Dclose(d);
            r->with_errors = H5Oexists_by_name(f, "entry/result/I_errors", H5P_DEFAULT) > 0;
            hid_t g = H5Gopen2(f, "entry/result", H5P_DEFAULT);
            uint64_t v = 0;
            hid_t a;
            if (g >= 0 && H5Aexists(g, "frames_written") > 0 && (a = H5Aopen(g, "frames_written", H5P_DEFAULT)) >= 0) {
                if (H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0)
                    r->frames_written = v;
                H5Aclose(a);
            }
            if (g >= 0 && H5Aexists(g, "frames_bad") > 0 && (a = H5Aopen(g, "frames_bad", H5P_DEFAULT)) >= 0) {
                if (H5Aread(a, H5T_NATIVE_UINT64, &v) >= 0)
                    r->frames_bad = v;
                H5Aclose(a);
            }
            if (g >= 0)
                H5Gclose(g);
            const char *const axes[2] = {"entry/result/radial_axis", "entry/result/azimuthal_axis"};
            char *unit_of_axis[2] = {r->radial_unit, r->azimuthal_unit};
            for (int k = 0; k < 2; k++) {
                if (H5Oexists_by_name(f, axes[k], H5P_DEFAULT) <= 0)
                    continue;
                hid_t x = H5Dopen2(f, axes[k], H5P_DEFAULT);
                if (x >= 0) {
                    read_attr_str(x, "pyfai_unit", unit_of_axis[k], sizeof r->radial_unit);
                    H5Dclose(x);
                }
            }
        }
    } H5E_END_TRY;
    H5Fclose(f);
    return st;
}

azs_status azs_result_describe(const char *path, azs_result_info *out)
{
    if (!path || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_result_describe: path and out are required");
    azs_h5_lock();
    azs_status st = describe_locked(path, out);
    azs_h5_unlock();
    return st;
}
