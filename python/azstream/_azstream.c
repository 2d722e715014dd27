/* azstream._azstream: the CPython + NumPy binding of libazstream (linked statically).
 *
 *   Integrator(options, config_json, ny, nx, dtype)  settings by name (azs_settings_set),
 *       an optional JSON config first (azs_settings_load_json), then azs_settings_build:
 *       the settings layer validates everything and applies pyFAI's defaults;
 *   Integrator.integrate(data, codec, full)            one frame (ndarray) or chunk (bytes);
 *   Integrator.integrate_many(frames, codec, threads, full)  azs_integrate_frames;
 *   run_job(inputs, options, config_json, ...)         azs_job with a sink collecting rows.
 *
 * The GIL is released while decoding and integrating. The integrator is read-only once
 * built, so Python threads share it; each call takes a workspace from a small pool. Errors
 * raise azstream.Error (ValueError too for a bad option) with azs_last_error(). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define NPY_NO_DEPRECATED_API NPY_1_7_API_VERSION
#include <numpy/arrayobject.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/azstream.h"

static PyObject *Error;         /* azstream.Error (RuntimeError) */
static PyObject *ArgumentError; /* azstream.ArgumentError (Error, ValueError) */

static PyObject *raise_status(azs_status st, const char *what)
{
    PyObject *type = (st == AZS_ERR_INVALID_ARG || st == AZS_ERR_PARSE) ? ArgumentError : Error;
    PyObject *exc = PyObject_CallFunction(type, "s", "");
    if (exc) {
        PyObject *msg = PyUnicode_FromFormat("%s: %s: %s", what, azs_status_str(st), azs_last_error());
        PyObject *code = PyLong_FromLong((long)st);
        if (msg && code) {
            PyObject *args = PyTuple_Pack(1, msg);
            if (args) {
                PyObject_SetAttrString(exc, "args", args);
                Py_DECREF(args);
            }
            PyObject_SetAttrString(exc, "status", code);
            PyErr_SetObject(type, exc);
        }
        Py_XDECREF(msg);
        Py_XDECREF(code);
        Py_DECREF(exc);
    }
    return NULL;
}

static int dtype_of_name(const char *name, azs_dtype *t)
{
    static const struct { const char *n; azs_dtype t; } map[] = {
        {"uint8", AZS_U8},  {"uint16", AZS_U16}, {"uint32", AZS_U32},  {"uint64", AZS_U64},
        {"int8", AZS_I8},   {"int16", AZS_I16},  {"int32", AZS_I32},   {"int64", AZS_I64},
        {"float32", AZS_F32}, {"float64", AZS_F64},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(name, map[i].n)) {
            *t = map[i].t;
            return 0;
        }
    return -1;
}

static int npy_type_of(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return NPY_UINT8;
    case AZS_U16: return NPY_UINT16;
    case AZS_U32: return NPY_UINT32;
    case AZS_U64: return NPY_UINT64;
    case AZS_I8: return NPY_INT8;
    case AZS_I16: return NPY_INT16;
    case AZS_I32: return NPY_INT32;
    case AZS_I64: return NPY_INT64;
    case AZS_F32: return NPY_FLOAT32;
    case AZS_F64: return NPY_FLOAT64;
    default: return -1;
    }
}

/* Settings from a JSON config (or NULL) and a sequence of (name, value-or-None) pairs. */
static azs_settings *settings_from(PyObject *options, const char *config_json)
{
    azs_settings *s = NULL;
    azs_status st = azs_settings_create(&s);
    if (st != AZS_OK) return raise_status(st, "settings"), NULL;
    if (config_json && (st = azs_settings_load_json(s, config_json, "config")) != AZS_OK) {
        azs_settings_destroy(s);
        return raise_status(st, "config"), NULL;
    }
    PyObject *seq = PySequence_Fast(options, "options: a sequence of (name, value) pairs");
    if (!seq) {
        azs_settings_destroy(s);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        const char *name = NULL, *value = NULL;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "sz", &name, &value)) break;
        if ((st = azs_settings_set(s, name, value)) != AZS_OK) {
            raise_status(st, name);
            break;
        }
    }
    Py_DECREF(seq);
    if (PyErr_Occurred()) {
        azs_settings_destroy(s);
        return NULL;
    }
    return s;
}

/* ------------------------------------------------------------------ Integrator */

#define POOL_MAX 64

typedef struct {
    PyObject_HEAD
    azs_settings *s;
    azs_integrator *it;
    azs_dtype dtype;
    uint32_t ny, nx, npt, npt_azim;
    size_t nbins;
    azs_error_model model;
    pthread_mutex_t lock; /* the workspace pool, taken without the GIL */
    azs_workspace *pool[POOL_MAX];
    int npool;
} IntegratorObject;

static azs_workspace *ws_take(IntegratorObject *self)
{
    azs_workspace *ws = NULL;
    pthread_mutex_lock(&self->lock);
    if (self->npool > 0) ws = self->pool[--self->npool];
    pthread_mutex_unlock(&self->lock);
    if (!ws && azs_workspace_create(self->it, &ws) != AZS_OK) return NULL;
    return ws;
}

static void ws_give(IntegratorObject *self, azs_workspace *ws)
{
    pthread_mutex_lock(&self->lock);
    if (self->npool < POOL_MAX) {
        self->pool[self->npool++] = ws;
        ws = NULL;
    }
    pthread_mutex_unlock(&self->lock);
    azs_workspace_destroy(ws);
}

static int Integrator_init(IntegratorObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"options", "config_json", "ny", "nx", "dtype", NULL};
    PyObject *options;
    const char *config = NULL, *dtype_name;
    unsigned int ny, nx;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OzIIs", kwlist, &options, &config, &ny, &nx, &dtype_name))
        return -1;
    if (self->it) {
        PyErr_SetString(PyExc_RuntimeError, "Integrator already initialised");
        return -1;
    }
    if (dtype_of_name(dtype_name, &self->dtype)) {
        PyErr_Format(ArgumentError, "unsupported pixel type '%s' (uint8..64, int8..64, float32, float64)",
                     dtype_name);
        return -1;
    }
    pthread_mutex_init(&self->lock, NULL);
    if (!(self->s = settings_from(options, config))) return -1;
    azs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = azs_settings_build(self->s, ny, nx, self->dtype, &self->it);
    Py_END_ALLOW_THREADS
    if (st != AZS_OK) return raise_status(st, "building the integrator"), -1;
    const azs_integrate_options *o = azs_integrator_options(self->it);
    self->ny = ny;
    self->nx = nx;
    self->npt = o->npt;
    self->npt_azim = o->npt_azim;
    self->model = o->error_model;
    self->nbins = azs_integrator_nbins(self->it);
    return 0;
}

static void Integrator_dealloc(IntegratorObject *self)
{
    for (int i = 0; i < self->npool; i++) azs_workspace_destroy(self->pool[i]);
    if (self->s) pthread_mutex_destroy(&self->lock);
    azs_integrator_destroy(self->it);
    azs_settings_destroy(self->s);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int ready(IntegratorObject *self)
{
    if (self->it) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Integrator not initialised");
    return 0;
}

/* The outputs of n frames: 8 arrays [n, nbins] (n = -1: [nbins]); those not wanted None.
 * intensity, sum_signal and sum_normalization always (the engine's cheap path), the rest
 * with an error model or full. */
enum { O_I, O_SIGMA, O_STD, O_SSIG, O_SVAR, O_SNORM, O_SNORM2, O_COUNT, O_N };
static const char *const OUT_NAMES[O_N] = {"intensity", "sigma", "std", "sum_signal",
                                           "sum_variance", "sum_normalization",
                                           "sum_normalization2", "count"};

static int outputs_new(IntegratorObject *self, Py_ssize_t n, int full, PyObject **arr)
{
    npy_intp dims[2] = {n, (npy_intp)self->nbins};
    const int nd = n < 0 ? 1 : 2;
    if (n < 0) dims[0] = (npy_intp)self->nbins;
    const int errors = self->model != AZS_ERRMODEL_NONE;
    for (int k = 0; k < O_N; k++) {
        int want = k == O_I || k == O_SSIG || k == O_SNORM || full || errors;
        if (k == O_SIGMA || k == O_STD) want = errors;
        arr[k] = want ? PyArray_ZEROS(nd, dims, NPY_FLOAT64, 0) : NULL;
        if (want && !arr[k]) {
            for (int j = 0; j < k; j++) Py_XDECREF(arr[j]);
            return -1;
        }
    }
    return 0;
}

static azs_frame_result result_row(PyObject **arr, size_t row, size_t nbins)
{
    double *p[O_N];
    for (int k = 0; k < O_N; k++)
        p[k] = arr[k] ? (double *)PyArray_DATA((PyArrayObject *)arr[k]) + row * nbins : NULL;
    azs_frame_result r = {p[O_I], p[O_SIGMA], p[O_STD], p[O_SSIG], p[O_SVAR], p[O_SNORM], p[O_SNORM2], p[O_COUNT]};
    return r;
}

static PyObject *outputs_dict(PyObject **arr)
{
    PyObject *d = PyDict_New();
    for (int k = 0; d && k < O_N; k++) {
        if (PyDict_SetItemString(d, OUT_NAMES[k], arr[k] ? arr[k] : Py_None) < 0) Py_CLEAR(d);
    }
    for (int k = 0; k < O_N; k++) Py_XDECREF(arr[k]);
    return d;
}

/* A frame as a C-contiguous array of the integrator's type and shape (a new reference). */
static PyArrayObject *frame_array(IntegratorObject *self, PyObject *data)
{
    PyArrayObject *a = (PyArrayObject *)PyArray_FROMANY(data, npy_type_of(self->dtype), 2, 2,
                                                        NPY_ARRAY_IN_ARRAY);
    if (!a) return NULL;
    if (PyArray_DIM(a, 0) != (npy_intp)self->ny || PyArray_DIM(a, 1) != (npy_intp)self->nx) {
        PyErr_Format(ArgumentError, "a frame of %ldx%ld pixels, the integrator's are %ux%u",
                     (long)PyArray_DIM(a, 0), (long)PyArray_DIM(a, 1), self->ny, self->nx);
        Py_DECREF(a);
        return NULL;
    }
    return a;
}

static PyObject *Integrator_integrate(IntegratorObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"data", "codec", "full", NULL};
    PyObject *data;
    int codec = 0, full = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|ip", kwlist, &data, &codec, &full) || !ready(self))
        return NULL;
    PyObject *arr[O_N];
    if (outputs_new(self, -1, full, arr) < 0) return NULL;
    azs_frame_result r = result_row(arr, 0, self->nbins);
    azs_status st = AZS_OK;
    if (codec == AZS_CODEC_NONE) {
        PyArrayObject *a = frame_array(self, data);
        if (!a) {
            Py_XDECREF(outputs_dict(arr));
            return NULL;
        }
        const void *px = PyArray_DATA(a);
        Py_BEGIN_ALLOW_THREADS
        azs_workspace *ws = ws_take(self);
        st = ws ? azs_integrate_frame(self->it, ws, px, self->dtype, &r) : AZS_ERR_NOMEM;
        if (ws) ws_give(self, ws);
        Py_END_ALLOW_THREADS
        Py_DECREF(a);
    } else {
        Py_buffer b;
        if (PyObject_GetBuffer(data, &b, PyBUF_SIMPLE) < 0) {
            Py_XDECREF(outputs_dict(arr));
            return NULL;
        }
        const size_t frame_bytes = (size_t)self->ny * self->nx * azs_dtype_size(self->dtype);
        Py_BEGIN_ALLOW_THREADS
        azs_workspace *ws = ws_take(self);
        /* Only codecs or chunks the fused path does not take decode into it. */
        void *frame_buf = malloc(frame_bytes);
        st = ws && frame_buf ? azs_integrate_chunk(self->it, ws, (azs_codec)codec, self->dtype, b.buf,
                                                   (size_t)b.len, frame_buf, &r)
                             : AZS_ERR_NOMEM;
        free(frame_buf);
        if (ws) ws_give(self, ws);
        Py_END_ALLOW_THREADS
        PyBuffer_Release(&b);
    }
    PyObject *d = outputs_dict(arr);
    if (st != AZS_OK) {
        Py_XDECREF(d);
        return raise_status(st, "integrate");
    }
    return d;
}

static PyObject *Integrator_integrate_many(IntegratorObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"frames", "codec", "threads", "full", NULL};
    PyObject *frames;
    int codec = 0, threads = 0, full = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O|iip", kwlist, &frames, &codec, &threads, &full) ||
        !ready(self))
        return NULL;
    PyObject *seq = PySequence_Fast(frames, "frames: a sequence of arrays or chunks");
    if (!seq) return NULL;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    PyObject **keep = calloc((size_t)n + 1, sizeof *keep); /* arrays converted, or buffers */
    Py_buffer *bufs = calloc((size_t)n + 1, sizeof *bufs);
    const void **ptrs = calloc((size_t)n + 1, sizeof *ptrs);
    size_t *sizes = calloc((size_t)n + 1, sizeof *sizes);
    azs_frame_result *out = calloc((size_t)n + 1, sizeof *out);
    azs_status *status = calloc((size_t)n + 1, sizeof *status);
    PyObject *arr[O_N] = {NULL}, *result = NULL;
    Py_ssize_t got = 0;
    if (!keep || !bufs || !ptrs || !sizes || !out || !status) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        PyObject *item = PySequence_Fast_GET_ITEM(seq, got);
        if (codec == AZS_CODEC_NONE) {
            PyArrayObject *a = frame_array(self, item);
            if (!a) goto done;
            keep[got] = (PyObject *)a;
            ptrs[got] = PyArray_DATA(a);
        } else {
            if (PyObject_GetBuffer(item, &bufs[got], PyBUF_SIMPLE) < 0) goto done;
            ptrs[got] = bufs[got].buf;
            sizes[got] = (size_t)bufs[got].len;
        }
    }
    if (outputs_new(self, n, full, arr) < 0) goto done;
    for (Py_ssize_t i = 0; i < n; i++) out[i] = result_row(arr, (size_t)i, self->nbins);
    azs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = azs_integrate_frames(self->it, threads, (azs_codec)codec, self->dtype, (size_t)n, ptrs,
                              codec == AZS_CODEC_NONE ? NULL : sizes, out, status);
    Py_END_ALLOW_THREADS
    result = outputs_dict(arr);
    if (st != AZS_OK) {
        Py_CLEAR(result);
        raise_status(st, "integrate_many");
    }
done:
    if (!result)
        for (int k = 0; k < O_N; k++) Py_CLEAR(arr[k]);
    for (Py_ssize_t i = 0; i < got; i++) {
        if (codec == AZS_CODEC_NONE) Py_XDECREF(keep[i]);
        else PyBuffer_Release(&bufs[i]);
    }
    free(keep);
    free(bufs);
    free(ptrs);
    free(sizes);
    free(out);
    free(status);
    Py_DECREF(seq);
    return result;
}

static PyObject *double_array(const double *v, size_t n)
{
    npy_intp dim = (npy_intp)n;
    PyObject *a = PyArray_SimpleNew(1, &dim, NPY_FLOAT64);
    if (a) memcpy(PyArray_DATA((PyArrayObject *)a), v, n * sizeof(double));
    return a;
}

static PyObject *Integrator_get(IntegratorObject *self, void *which)
{
    if (!ready(self)) return NULL;
    const azs_integrate_options *o = azs_integrator_options(self->it);
    switch ((int)(intptr_t)which) {
    case 0: return double_array(azs_integrator_radial(self->it), self->npt);
    case 1:
        if (!self->npt_azim) Py_RETURN_NONE;
        return double_array(azs_integrator_azimuthal(self->it), self->npt_azim);
    case 2: return PyUnicode_FromString(azs_unit_name(o->unit));
    case 3: return PyLong_FromUnsignedLong(self->npt);
    case 4: return PyLong_FromUnsignedLong(self->npt_azim);
    case 5: return PyUnicode_FromString(azs_error_model_name(o->error_model));
    case 6: return PyUnicode_FromString(azs_split_name(o->split));
    case 7: return Py_BuildValue("(II)", self->ny, self->nx);
    case 8: return PyUnicode_FromString(azs_dtype_name(self->dtype));
    case 9: {
        char *j = azs_settings_to_json(self->s);
        if (!j) return PyErr_NoMemory();
        PyObject *r = PyUnicode_FromString(j);
        free(j);
        return r;
    }
    case 10: return PyLong_FromSize_t(azs_integrator_memory(self->it));
    }
    Py_RETURN_NONE;
}

static PyGetSetDef Integrator_getset[] = {
    {"radial", (getter)Integrator_get, NULL, "radial bin centres, in the unit", (void *)0},
    {"azimuthal", (getter)Integrator_get, NULL, "azimuthal bin centres (degrees; 2D)", (void *)1},
    {"unit", (getter)Integrator_get, NULL, "radial unit name", (void *)2},
    {"npt", (getter)Integrator_get, NULL, "radial bins", (void *)3},
    {"npt_azim", (getter)Integrator_get, NULL, "azimuthal bins (0: 1D)", (void *)4},
    {"error_model", (getter)Integrator_get, NULL, "none, poisson or azimuthal", (void *)5},
    {"method", (getter)Integrator_get, NULL, "pixel splitting: no, bbox or full", (void *)6},
    {"shape", (getter)Integrator_get, NULL, "(ny, nx) of the frames", (void *)7},
    {"dtype", (getter)Integrator_get, NULL, "pixel type of the frames", (void *)8},
    {"settings_json", (getter)Integrator_get, NULL, "the settings (a pyFAI WorkerConfig v5)", (void *)9},
    {"memory", (getter)Integrator_get, NULL, "bytes of the sparse matrix", (void *)10},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef Integrator_methods[] = {
    {"integrate", (PyCFunction)(void (*)(void))Integrator_integrate, METH_VARARGS | METH_KEYWORDS,
     "integrate(data, codec=0, full=False) -> dict of arrays: one frame (2D array) or chunk (bytes)"},
    {"integrate_many", (PyCFunction)(void (*)(void))Integrator_integrate_many, METH_VARARGS | METH_KEYWORDS,
     "integrate_many(frames, codec=0, threads=0, full=False) -> dict of [n, nbins] arrays"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject IntegratorType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "azstream._azstream.Integrator",
    .tp_basicsize = sizeof(IntegratorObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Integrator(options, config_json, ny, nx, dtype): settings built into an integrator",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Integrator_init,
    .tp_dealloc = (destructor)Integrator_dealloc,
    .tp_methods = Integrator_methods,
    .tp_getset = Integrator_getset,
};

/* ------------------------------------------------------------------ run_job */

typedef struct rows_sink {
    double *intensity, *sigma; /* [total][nbins] */
    uint64_t *frame;
    int32_t *status;
    size_t nbins, total, n;
} rows_sink;

static azs_status rows_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    rows_sink *r = ctx;
    if (r->n >= r->total) return AZS_ERR_INTERNAL;
    memcpy(r->intensity + r->n * r->nbins, i, r->nbins * sizeof(double));
    if (r->sigma && s) memcpy(r->sigma + r->n * r->nbins, s, r->nbins * sizeof(double));
    r->frame[r->n] = frame;
    r->status[r->n] = (int32_t)fs;
    r->n++;
    return AZS_OK;
}

static PyObject *run_job(PyObject *mod, PyObject *args, PyObject *kw)
{
    (void)mod;
    static char *kwlist[] = {"inputs", "options", "config_json", "dataset", "layout", "workers",
                             "first", "end", "output", "skip_bad", NULL};
    PyObject *inputs, *options;
    const char *config = NULL, *dataset = NULL, *output = NULL;
    int layout = AZS_LAYOUT_THREADS, workers = 0, skip_bad = 0;
    long long first = 0, end = -1;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOzz|iiLLzp", kwlist, &inputs, &options, &config, &dataset,
                                     &layout, &workers, &first, &end, &output, &skip_bad))
        return NULL;
    PyObject *seq = PySequence_Fast(inputs, "inputs: a sequence of file names");
    if (!seq) return NULL;
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    const char **names = calloc((size_t)n + 1, sizeof *names);
    azs_settings *s = NULL;
    azs_job *job = NULL;
    PyObject *res[4] = {NULL, NULL, NULL, NULL}, *result = NULL;
    if (!names) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (!(names[i] = PyUnicode_AsUTF8(PySequence_Fast_GET_ITEM(seq, i)))) goto done;
    if (!(s = settings_from(options, config))) goto done;
    azs_job_options jo;
    azs_job_options_default(&jo);
    jo.inputs = names;
    jo.ninputs = (int)n;
    jo.dataset = dataset;
    jo.first_frame = first;
    jo.end_frame = end;
    jo.output = output;
    jo.program = "azstream (Python)";
    jo.run.layout = (azs_layout)layout;
    jo.run.workers = workers;
    jo.run.skip_bad = skip_bad;
    azs_status st;
    Py_BEGIN_ALLOW_THREADS
    st = azs_job_open(s, &jo, &job);
    Py_END_ALLOW_THREADS
    if (st != AZS_OK) {
        raise_status(st, "opening the job");
        goto done;
    }
    const azs_integrator *it = azs_job_integrator(job);
    const azs_integrate_options *o = azs_integrator_options(it);
    rows_sink rs = {.nbins = azs_integrator_nbins(it), .total = azs_job_total_frames(job)};
    npy_intp dims[2] = {(npy_intp)rs.total, (npy_intp)rs.nbins};
    res[0] = PyArray_ZEROS(2, dims, NPY_FLOAT64, 0);
    res[1] = o->error_model != AZS_ERRMODEL_NONE ? PyArray_ZEROS(2, dims, NPY_FLOAT64, 0) : Py_NewRef(Py_None);
    res[2] = PyArray_ZEROS(1, dims, NPY_UINT64, 0);
    res[3] = PyArray_ZEROS(1, dims, NPY_INT32, 0);
    if (!res[0] || !res[1] || !res[2] || !res[3]) goto done;
    rs.intensity = PyArray_DATA((PyArrayObject *)res[0]);
    rs.sigma = res[1] != Py_None ? PyArray_DATA((PyArrayObject *)res[1]) : NULL;
    rs.frame = PyArray_DATA((PyArrayObject *)res[2]);
    rs.status = PyArray_DATA((PyArrayObject *)res[3]);
    azs_sink_ops ops = {&rs, rows_write};
    azs_job_summary sum;
    Py_BEGIN_ALLOW_THREADS
    st = azs_job_run(job, &ops, &sum);
    Py_END_ALLOW_THREADS
    if (st != AZS_OK) {
        raise_status(st, "integrating");
        goto done;
    }
    PyObject *radial = double_array(azs_integrator_radial(it), o->npt);
    PyObject *azim = o->npt_azim ? double_array(azs_integrator_azimuthal(it), o->npt_azim) : Py_NewRef(Py_None);
    char *cfg = azs_settings_to_json(azs_job_settings(job));
    if (radial && azim && cfg)
        result = Py_BuildValue("{s:O,s:O,s:O,s:O,s:O,s:O,s:s,s:I,s:I,s:s,s:s}", "intensity", res[0], "sigma",
                               res[1], "frame", res[2], "frame_status", res[3], "radial", radial,
                               "azimuthal", azim, "unit", azs_unit_name(o->unit), "npt", o->npt,
                               "npt_azim", o->npt_azim, "error_model", azs_error_model_name(o->error_model),
                               "config", cfg);
    else if (!PyErr_Occurred())
        PyErr_NoMemory();
    free(cfg);
    Py_XDECREF(radial);
    Py_XDECREF(azim);
done:
    for (int k = 0; k < 4; k++) Py_XDECREF(res[k]);
    azs_job_close(job);
    azs_settings_destroy(s);
    free(names);
    Py_DECREF(seq);
    return result;
}

static PyObject *version(PyObject *mod, PyObject *noargs)
{
    (void)mod, (void)noargs;
    return PyUnicode_FromString(azs_version());
}

static PyMethodDef module_methods[] = {
    {"run_job", (PyCFunction)(void (*)(void))run_job, METH_VARARGS | METH_KEYWORDS,
     "run_job(inputs, options, config_json, dataset, layout=1, workers=0, first=0, end=-1, output=None, "
     "skip_bad=False) -> dict: the rows of every frame (azs_job with a collecting sink)"},
    {"version", version, METH_NOARGS, "the library's version (azs_version)"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "azstream._azstream", "libazstream's C API for the azstream package", -1,
    module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__azstream(void); /* the one symbol the module exports */
PyMODINIT_FUNC PyInit__azstream(void)
{
    import_array();
    if (PyType_Ready(&IntegratorType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    Error = PyErr_NewExceptionWithDoc("azstream.Error", "a libazstream call failed; .status is its azs_status",
                                      PyExc_RuntimeError, NULL);
    PyObject *bases = Error ? PyTuple_Pack(2, Error, PyExc_ValueError) : NULL;
    ArgumentError = bases ? PyErr_NewExceptionWithDoc("azstream.ArgumentError",
                                                      "a bad option or argument (a ValueError too)", bases, NULL)
                          : NULL;
    Py_XDECREF(bases);
    if (!ArgumentError || PyModule_AddObjectRef(m, "Error", Error) < 0 ||
        PyModule_AddObjectRef(m, "ArgumentError", ArgumentError) < 0 ||
        PyModule_AddObjectRef(m, "Integrator", (PyObject *)&IntegratorType) < 0 ||
        PyModule_AddIntConstant(m, "LAYOUT_SERIAL", AZS_LAYOUT_SERIAL) < 0 ||
        PyModule_AddIntConstant(m, "LAYOUT_THREADS", AZS_LAYOUT_THREADS) < 0 ||
        PyModule_AddIntConstant(m, "LAYOUT_GPU", AZS_LAYOUT_GPU) < 0 ||
        PyModule_AddIntConstant(m, "CODEC_NONE", AZS_CODEC_NONE) < 0 ||
        PyModule_AddIntConstant(m, "CODEC_LZ4", AZS_CODEC_LZ4) < 0 ||
        PyModule_AddIntConstant(m, "CODEC_BSLZ4", AZS_CODEC_BSLZ4) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
