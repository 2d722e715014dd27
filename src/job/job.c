/* Jobs: inputs opened and checked, the integrator built once, the output opened, then each
 * input run through azs_run with its frames numbered after the earlier inputs'. Layout mpi:
 * every rank holds the same job, rank 0 alone writes; layout procs: the workers are told
 * the settings as JSON (azs_settings_to_json reads back bit for bit), so they build the
 * parent's integrator exactly. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/sink.h"
#include "common/error.h"
#include "settings_internal.h"

#define AZS_PI 3.14159265358979323846

#ifndef AZS_VERSION
#define AZS_VERSION "0"
#endif

struct azs_job {
    azs_settings *s;
    azs_job_options o;
    int n;
    azs_source **src;
    uint64_t *first, *end; /* per input, end exclusive */
    uint64_t total;
    azs_integrator *it;
    azs_sink *sink;
    int mpi_on, mpi_rank;
    uint64_t resumed;    /* rows the output held already (resume) */
    char *settings_json; /* for procs workers */
    char *pixel_mask_note; /* what the stored configuration says of the inputs' pixel_mask */
    cJSON *pixel_mask_from; /* the inputs whose pixel_mask was applied (array of names) */
    const char *worker_argv[AZS_WORKER_ARGV_MAX];
    azs_cache_outcome cache; /* where the integrator came from (integrator cache) */
};

void azs_job_options_default(azs_job_options *o)
{
    memset(o, 0, sizeof *o);
    o->end_frame = -1;
    o->program = "azstream";
    o->version = AZS_VERSION;
    azs_run_options_default(&o->run);
}

const char *azs_job_version(void) { return AZS_VERSION; }

int azs_job_rank(const azs_job *j) { return j ? j->mpi_rank : 0; }

uint64_t azs_job_total_frames(const azs_job *j) { return j ? j->total : 0; }
const azs_integrator *azs_job_integrator(const azs_job *j) { return j ? j->it : NULL; }
const azs_settings *azs_job_settings(const azs_job *j) { return j ? j->s : NULL; }

azs_integrator_origin azs_job_integrator_origin(const azs_job *j, const char **cache_file, double *seconds)
{
    if (cache_file)
        *cache_file = j ? j->cache.path : "";
    if (seconds)
        *seconds = j ? j->cache.seconds : 0;
    return j ? (azs_integrator_origin)j->cache.origin : AZS_INTEGRATOR_BUILT;
}

static const char *layout_name(azs_layout l)
{
    static const char *const n[] = {"serial", "threads", "procs", "gpu", "mpi"};
    return (unsigned)l < 5 ? n[l] : "?";
}

/* The configuration stored in the output: the settings, and what ran them. */
static char *stored_config(const azs_job *j)
{
    cJSON *r = azs_settings_json_object(j->s);
    if (!r)
        return NULL;
    cJSON *in = cJSON_AddArrayToObject(r, "inputs");
    for (int k = 0; in && k < j->n; k++)
        cJSON_AddItemToArray(in, cJSON_CreateString(j->o.inputs[k]));
    if (j->pixel_mask_note)
        cJSON_AddStringToObject(r, "pixel_mask", j->pixel_mask_note);
    cJSON *fr = cJSON_AddArrayToObject(r, "frames"); /* as asked: [first, end), end -1 = to the last */
    if (fr) {
        cJSON_AddItemToArray(fr, cJSON_CreateNumber((double)j->o.first_frame));
        cJSON_AddItemToArray(fr, cJSON_CreateNumber((double)j->o.end_frame));
    }
    cJSON_AddStringToObject(r, "dataset", j->o.dataset ? j->o.dataset : "");
    cJSON_AddStringToObject(r, "layout", layout_name(j->o.run.layout));
    if (j->o.allow_missing) /* missing data files' frames: frame_status 18 */
        cJSON_AddBoolToObject(r, "allow_missing", 1);
    cJSON_AddNumberToObject(r, "workers", j->o.run.workers);
    char *text = cJSON_Print(r);
    cJSON_Delete(r);
    return text;
}

/* The first place where two configurations differ, as a dotted key path (empty: none). */
static int config_diff(const cJSON *a, const cJSON *b, char *path, size_t cap)
{
    if (cJSON_IsObject(a) && cJSON_IsObject(b)) {
        size_t len = strlen(path);
        const cJSON *x;
        cJSON_ArrayForEach(x, a) {
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(b, x->string);
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", x->string);
            if (!y || config_diff(x, y, path, cap))
                return 1;
        }
        cJSON_ArrayForEach(x, b) {
            snprintf(path + len, cap - len, "%s%s", len ? "." : "", x->string);
            if (!cJSON_GetObjectItemCaseSensitive(a, x->string))
                return 1;
        }
        path[len] = 0;
        return 0;
    }
    return !cJSON_Compare(a, b, 1);
}

static const cJSON *config_at(const cJSON *c, const char *path)
{
    char key[256];
    while (c && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof key, "%.*s", (int)(n < sizeof key ? n : sizeof key - 1), path);
        c = cJSON_GetObjectItemCaseSensitive(c, key);
        path += n + (path[n] == '.');
    }
    return c;
}

static void config_value(const cJSON *c, char *buf, size_t cap)
{
    char *v = c ? cJSON_PrintUnformatted(c) : NULL;
    snprintf(buf, cap, "%s", v ? v : "absent");
    if (strlen(buf) > 60)
        snprintf(buf + 57, cap - 57, "...");
    free(v);
}

/* Resume: the output's stored configuration against this job's. What ran it (layout,
 * workers) may differ: every layout gives the same rows. */
static azs_status resume_check(void *ctx, const char *stored)
{
    const azs_job *j = ctx;
    char *mine_text = stored_config(j);
    cJSON *theirs = cJSON_Parse(stored), *mine = mine_text ? cJSON_Parse(mine_text) : NULL;
    free(mine_text);
    azs_status st = AZS_OK;
    char path[512] = "";
    if (!mine) {
        st = azs_fail(AZS_ERR_NOMEM, "the configuration as JSON");
    } else if (!cJSON_IsObject(theirs)) {
        st = azs_fail(AZS_ERR_CONFLICT, "%s cannot be resumed: its stored configuration is not JSON (--overwrite "
                      "to replace it)", j->o.output);
    } else {
        static const char *const how[] = {"layout", "workers"};
        for (size_t k = 0; k < 2; k++) {
            cJSON_DeleteItemFromObjectCaseSensitive(theirs, how[k]);
            cJSON_DeleteItemFromObjectCaseSensitive(mine, how[k]);
        }
        if (config_diff(theirs, mine, path, sizeof path)) {
            char was[96], is[96];
            config_value(config_at(theirs, path), was, sizeof was);
            config_value(config_at(mine, path), is, sizeof is);
            st = azs_fail(AZS_ERR_CONFLICT, "%s cannot be resumed: it was written with other settings: '%s' is %s "
                          "there, %s here (--overwrite to start over)", j->o.output, path, was, is);
        }
    }
    cJSON_Delete(theirs);
    cJSON_Delete(mine);
    return st;
}

/* Resume: the first `rows` frames are in the output already; the inputs' ranges start
 * after them. */
static void skip_frames(azs_job *j, uint64_t rows)
{
    for (int k = 0; k < j->n && rows > 0; k++) {
        uint64_t n = j->end[k] - j->first[k];
        uint64_t skip = rows < n ? rows : n;
        j->first[k] += skip;
        rows -= skip;
    }
}

static azs_status open_inputs(azs_job *j)
{
    const azs_job_options *o = &j->o;
    uint32_t ny = 0, nx = 0;
    for (int k = 0; k < j->n; k++) {
        const azs_source_options so = {o->allow_missing};
        azs_status st = azs_source_open_opts(o->inputs[k], o->dataset, &so, &j->src[k]);
        if (st != AZS_OK)
            return azs_fail_context(st, "%s: ", o->inputs[k]);
        const azs_source_info *in = azs_source_get_info(j->src[k]);
        if (k == 0) {
            ny = in->ny;
            nx = in->nx;
        } else if (in->ny != ny || in->nx != nx) {
            return azs_fail(AZS_ERR_FORMAT, "%s has %ux%u frames, %s has %ux%u: one output needs one shape",
                            o->inputs[k], in->ny, in->nx, o->inputs[0], ny, nx);
        } else if (in->dtype != azs_source_get_info(j->src[0])->dtype) { /* the default dummy depends on it */
            return azs_fail(AZS_ERR_FORMAT, "%s has %s pixels, %s has %s: one output needs one pixel type",
                            o->inputs[k], azs_dtype_name(in->dtype), o->inputs[0],
                            azs_dtype_name(azs_source_get_info(j->src[0])->dtype));
        }
        uint64_t a = o->first_frame > 0 ? (uint64_t)o->first_frame : 0;
        uint64_t b = o->end_frame >= 0 ? (uint64_t)o->end_frame : in->nframes;
        if (b > in->nframes)
            b = in->nframes;
        if (a >= b && in->nframes > 0)
            return azs_fail(AZS_ERR_INVALID_ARG, "%s: the frame range selects nothing (the file has %llu frames)",
                            o->inputs[k], (unsigned long long)in->nframes);
        j->first[k] = a;
        j->end[k] = b;
        if (a < b)
            j->total += b - a;
    }
    return AZS_OK;
}

static char *dup_str(const char *t)
{
    size_t n = strlen(t) + 1;
    char *d = malloc(n);
    return d ? memcpy(d, t, n) : NULL;
}

/* The detector's own pixel_mask of every input that has one (DECTRIS masters), OR-ed:
 * applied by default, as the frames' bad pixels; *out stays NULL when no input has one.
 * `names` (a cJSON array) lists the inputs it came from. */
static azs_status read_pixel_masks(azs_source *const *src, const char *const *names, int n, uint8_t **out,
                                   size_t *nmasked, cJSON *from)
{
    *out = NULL;
    *nmasked = 0;
    for (int k = 0; k < n; k++) {
        uint8_t *m = NULL;
        azs_status st = azs_source_pixel_mask(src[k], &m, NULL);
        if (st == AZS_ERR_NOT_FOUND)
            continue;
        if (st != AZS_OK) {
            free(*out);
            *out = NULL;
            return azs_fail_context(st, "the pixel mask (--no-pixel-mask to go without): ");
        }
        const azs_source_info *in = azs_source_get_info(src[k]);
        const size_t npx = (size_t)in->ny * in->nx;
        if (!*out) {
            *out = m;
        } else {
            for (size_t p = 0; p < npx; p++)
                (*out)[p] |= m[p];
            free(m);
        }
        if (from)
            cJSON_AddItemToArray(from, cJSON_CreateString(names[k]));
    }
    if (*out) {
        const azs_source_info *in = azs_source_get_info(src[0]);
        for (size_t p = 0; p < (size_t)in->ny * in->nx; p++)
            *nmasked += (*out)[p];
    }
    return AZS_OK;
}

/* The settings' integrator with the pixel mask OR-ed in (the settings lend it for the build).
 * A 2D azimuth range in chi_rad is handed to the integrator in degrees, its unit. */
static azs_status build_with_mask(azs_settings *s, const azs_source_info *in, const uint8_t *pm,
                                  const azs_cache_request *rq, azs_cache_outcome *oc, azs_integrator **it)
{
    const double a = s->io.azimuth_min, b = s->io.azimuth_max;
    if (s->azim_rad && s->io.npt_azim > 0) {
        s->io.azimuth_min = a * (180.0 / AZS_PI);
        s->io.azimuth_max = b * (180.0 / AZS_PI);
    }
    s->extra_mask = pm;
    azs_status st = azs_settings_build_cached(s, in->ny, in->nx, in->dtype, rq, it, oc);
    s->extra_mask = NULL;
    s->io.azimuth_min = a;
    s->io.azimuth_max = b;
    return st;
}

/* Decides on the inputs' pixel_mask, builds the integrator, notes what was applied. */
static azs_status build_integrator(azs_job *j)
{
    uint8_t *pm = NULL;
    size_t nmasked = 0;
    azs_status st = AZS_OK;
    if (j->s->no_pixel_mask) {
        j->pixel_mask_note = dup_str("not applied (--no-pixel-mask)");
    } else {
        if (!(j->pixel_mask_from = cJSON_CreateArray()))
            return azs_fail(AZS_ERR_NOMEM, "job: pixel mask list");
        st = read_pixel_masks(j->src, j->o.inputs, j->n, &pm, &nmasked, j->pixel_mask_from);
        if (st == AZS_OK && pm) {
            char *names = cJSON_PrintUnformatted(j->pixel_mask_from);
            size_t len = (names ? strlen(names) : 0) + 128;
            if ((j->pixel_mask_note = malloc(len)))
                snprintf(j->pixel_mask_note, len, "applied from %s (%zu pixels masked)", names ? names : "?",
                         nmasked);
            free(names);
        }
    }
    /* Layout mpi: rank 0 writes the cache, the other ranks only map it (azs_job_open
     * makes them wait for rank 0). */
    const azs_cache_request rq = {j->o.cache_dir, j->mpi_rank != 0, AZS_U8, NULL};
    if (st == AZS_OK)
        st = build_with_mask(j->s, azs_source_get_info(j->src[0]), pm, &rq, &j->cache, &j->it);
    if (st == AZS_OK && j->cache.notice[0] && j->o.run.notice)
        j->o.run.notice(j->o.run.notice_ctx, j->cache.notice);
    free(pm);
    return st;
}

/* What layout procs tells its workers: the settings, and the inputs whose pixel_mask the
 * parent applied ("pixel_mask_from", taken out again by azs_job_worker_main), so that every
 * worker builds the parent's integrator whichever input it serves. */
static char *worker_json(const azs_job *j)
{
    cJSON *r = azs_settings_json_object(j->s);
    if (!r)
        return NULL;
    cJSON *from = j->pixel_mask_from ? cJSON_Duplicate(j->pixel_mask_from, 1) : cJSON_CreateArray();
    if (from)
        cJSON_AddItemToObject(r, "pixel_mask_from", from);
    if (j->o.allow_missing) /* the workers open the input as the parent did */
        cJSON_AddBoolToObject(r, "allow_missing", 1);
    /* The integrator cache the parent wrote: the workers map it (taken out again too). */
    if (j->o.cache_dir && !cJSON_AddStringToObject(r, "cache_dir", j->o.cache_dir))
        from = NULL;
    char *text = from ? cJSON_PrintUnformatted(r) : NULL;
    cJSON_Delete(r);
    return text;
}

static azs_status open_output(azs_job *j)
{
    char *cfg = stored_config(j);
    const int pixel_mask = cJSON_GetArraySize(j->pixel_mask_from) > 0;
    char header[6144];
    azs_job_text_header(j->s, azs_settings_geometry(j->s), azs_job_detector_mask(j->s, pixel_mask), header,
                        sizeof header);
    const azs_integrate_options *io = azs_integrator_options(j->it);
    azs_sink_config sc;
    memset(&sc, 0, sizeof sc);
    azs_job_sink_extra extra;
    azs_status mst = azs_job_sink_meta(&sc, j->s, j->it, pixel_mask, &extra);
    if (mst != AZS_OK) {
        free(cfg);
        return mst;
    }
    sc.npt = io->npt;
    sc.npt_azim = io->npt_azim;
    sc.radial = azs_integrator_radial(j->it);
    sc.azimuthal = azs_integrator_azimuthal(j->it);
    double *rad_axis = NULL; /* --unit-azim chi_rad: the axis in radians, as pyFAI gives it */
    if (j->s->azim_rad && io->npt_azim > 0) {
        if (!(rad_axis = malloc(io->npt_azim * sizeof *rad_axis))) {
            free(cfg);
            azs_job_sink_extra_free(&extra);
            return azs_fail(AZS_ERR_NOMEM, "azimuthal axis");
        }
        for (uint32_t b = 0; b < io->npt_azim; b++)
            rad_axis[b] = sc.azimuthal[b] * (AZS_PI / 180.0);
        sc.azimuthal = rad_axis;
        sc.azimuthal_unit = "chi_rad";
    }
    sc.unit = azs_unit_name(io->unit);
    sc.with_errors = io->error_model != AZS_ERRMODEL_NONE;
    sc.frames_hint = j->total;
    sc.program = j->o.program ? j->o.program : "azstream";
    sc.version = j->o.version ? j->o.version : AZS_VERSION;
    sc.config_json = cfg;
    sc.header_text = header;
    sc.mode = j->o.resume ? AZS_OUTPUT_RESUME : j->o.overwrite ? AZS_OUTPUT_OVERWRITE : AZS_OUTPUT_NEW;
    sc.resume_check = resume_check;
    sc.resume_ctx = j;
    azs_status st = cfg ? azs_sink_open(j->o.output, &sc, &j->sink)
                        : azs_fail(AZS_ERR_NOMEM, "the configuration as JSON");
    free(cfg);
    free(rad_axis);
    azs_job_sink_extra_free(&extra);
    if (st == AZS_OK) {
        j->resumed = azs_sink_resumed_rows(j->sink);
        if (j->resumed > j->total) {
            azs_sink_discard(j->sink);
            j->sink = NULL;
            return azs_fail(AZS_ERR_CONFLICT, "%s cannot be resumed: it holds %llu rows, this job has %llu frames",
                            j->o.output, (unsigned long long)j->resumed, (unsigned long long)j->total);
        }
        skip_frames(j, j->resumed);
        const char *note = azs_sink_resume_note(j->sink);
        if (note[0] && j->o.run.notice)
            j->o.run.notice(j->o.run.notice_ctx, note);
    }
    return st;
}

azs_status azs_job_open(const azs_settings *s, const azs_job_options *o, azs_job **out)
{
    if (!s || !o || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_job_open: NULL argument");
    *out = NULL;
    if (o->ninputs <= 0 || !o->inputs)
        return azs_fail(AZS_ERR_INVALID_ARG, "no input");
    if (o->resume && o->overwrite)
        return azs_fail(AZS_ERR_INVALID_ARG, "resume and overwrite exclude each other");
    if (o->resume && o->run.layout == AZS_LAYOUT_MPI)
        return azs_fail(AZS_ERR_INVALID_ARG, "resume is not available with layout mpi (resume with another "
                                             "layout: the rows are the same)");
    if (o->run.layout == AZS_LAYOUT_PROCS && !o->worker_exe)
        return azs_fail(AZS_ERR_INVALID_ARG, "layout procs needs worker_exe (an executable with the "
                                             "`worker` sub-command)");
    azs_job *j = calloc(1, sizeof *j);
    if (!j)
        return azs_fail(AZS_ERR_NOMEM, "job");
    j->o = *o;
    j->n = o->ninputs;
    azs_status st = azs_settings_copy(s, &j->s);
    if (st == AZS_OK && o->run.layout == AZS_LAYOUT_MPI) {
        st = azs_mpi_init(NULL, NULL, &j->mpi_rank, NULL);
        j->mpi_on = st == AZS_OK;
    }
    if (st == AZS_OK) {
        j->src = calloc((size_t)j->n, sizeof *j->src);
        j->first = calloc((size_t)j->n, sizeof *j->first);
        j->end = calloc((size_t)j->n, sizeof *j->end);
        if (!j->src || !j->first || !j->end)
            st = azs_fail(AZS_ERR_NOMEM, "job: %d inputs", j->n);
    }
    if (st == AZS_OK)
        st = open_inputs(j);
    /* Layout gpu: the CUDA context and the slots' buffers come up while the integrator is
     * built or loaded (azs_run takes them). */
    if (st == AZS_OK && o->run.layout == AZS_LAYOUT_GPU && j->n > 0)
        azs_run_prepare(j->src[0], &o->run);
    /* Layout mpi with a cache: rank 0 builds (or maps) and writes it, then the others map it. */
    const int staged = j->mpi_on && o->cache_dir;
    if (st == AZS_OK && (!staged || j->mpi_rank == 0))
        st = build_integrator(j);
    if (staged && !azs_mpi_all_ok(st == AZS_OK) && st == AZS_OK)
        st = azs_fail(AZS_ERR_MPI, "another MPI rank could not open the job");
    if (staged && st == AZS_OK && j->mpi_rank != 0)
        st = build_integrator(j);
    if (st == AZS_OK && o->run.layout == AZS_LAYOUT_PROCS && !(j->settings_json = worker_json(j)))
        st = azs_fail(AZS_ERR_NOMEM, "the settings as JSON");
    if (st == AZS_OK && o->output && j->mpi_rank == 0)
        st = open_output(j);
    /* No rank may start unless every rank is ready (collective: each rank gets here once). */
    if (j->mpi_on && !azs_mpi_all_ok(st == AZS_OK) && st == AZS_OK)
        st = azs_fail(AZS_ERR_MPI, "another MPI rank could not open the job");
    if (st != AZS_OK) {
        azs_job_close(j);
        return st;
    }
    *out = j;
    return AZS_OK;
}

/* Sink adaptor: renumbers frames of input k after the earlier inputs. */
typedef struct offset_sink {
    const azs_sink_ops *inner;
    uint64_t offset;
} offset_sink;

static azs_status offset_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    offset_sink *o = ctx;
    return o->inner->write(o->inner->ctx, o->offset + frame, i, s, fs);
}

/* Sink adaptor: each row to the output file, then to the caller's sink. */
typedef struct tee_sink {
    const azs_sink_ops *file, *user;
} tee_sink;

static azs_status tee_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    tee_sink *t = ctx;
    azs_status st = t->file->write(t->file->ctx, frame, i, s, fs);
    return st != AZS_OK ? st : t->user->write(t->user->ctx, frame, i, s, fs);
}

/* Ranks other than 0 never deliver to a sink (layout mpi sends their rows to rank 0). */
static azs_status nonroot_write(void *ctx, uint64_t frame, const double *i, const double *s, azs_status fs)
{
    (void)ctx, (void)frame, (void)i, (void)s, (void)fs;
    return azs_fail(AZS_ERR_INTERNAL, "layout mpi delivered a row to a rank other than 0");
}

typedef struct job_progress {
    const azs_job *j;
    uint64_t before;
} job_progress;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    (void)total;
    job_progress *p = ctx;
    p->j->o.progress(p->j->o.progress_ctx, p->before + done, p->j->total);
}

const char *const *azs_job_worker_argv(const char **argv, const char *exe, const char *input,
                                       const char *dataset, const char *settings_json)
{
    int n = 0;
    argv[n++] = exe;
    argv[n++] = "worker";
    argv[n++] = "--input";
    argv[n++] = input;
    if (dataset) {
        argv[n++] = "--dataset";
        argv[n++] = dataset;
    }
    argv[n++] = "--settings";
    argv[n++] = settings_json;
    argv[n] = NULL;
    return argv;
}

azs_status azs_job_run(azs_job *j, const azs_sink_ops *user_sink, azs_job_summary *sum)
{
    azs_job_summary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    sum->failed_input = -1;
    if (!j)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_job_run: NULL job");
    azs_sink_ops file_ops, root_ops = {NULL, nonroot_write}, tee_ops;
    const azs_sink_ops *target = user_sink;
    tee_sink tee;
    if (j->sink) {
        file_ops = azs_sink_as_ops(j->sink);
        target = &file_ops;
        if (user_sink) { /* both: the output file and the caller's rows (a binding's result) */
            tee = (tee_sink){&file_ops, user_sink};
            tee_ops = (azs_sink_ops){&tee, tee_write};
            target = &tee_ops;
        }
    }
    if (j->mpi_rank != 0)
        target = &root_ops;
    azs_status st = target ? AZS_OK : azs_fail(AZS_ERR_INVALID_ARG, "azs_job_run: no output and no sink");
    job_progress prog = {j, j->resumed};
    sum->frames_resumed = j->resumed;
    uint64_t offset = 0;
    for (int k = 0; k < j->n && st == AZS_OK; k++) {
        const azs_source_info *in = azs_source_get_info(j->src[k]);
        if (j->first[k] < j->end[k]) {
            azs_run_options o = j->o.run;
            o.first_frame = j->first[k];
            o.end_frame = j->end[k];
            o.progress = j->o.progress ? on_progress : NULL;
            o.progress_ctx = &prog;
            if (o.layout == AZS_LAYOUT_PROCS) {
                o.worker_argv = azs_job_worker_argv(j->worker_argv, j->o.worker_exe, j->o.inputs[k],
                                                    j->o.dataset, j->settings_json);
            }
            offset_sink os = {target, offset};
            azs_sink_ops ops = {&os, offset_write};
            azs_run_summary rs;
            st = azs_run(j->src[k], j->it, &o, &ops, &rs);
            if (j->mpi_on && !azs_mpi_all_ok(st == AZS_OK) && st == AZS_OK) /* ranks stop together */
                st = azs_fail(AZS_ERR_MPI, "another MPI rank failed");
            sum->frames_done += rs.frames_done;
            sum->frames_bad += rs.frames_bad;
            sum->frames_absent += rs.frames_absent;
            sum->seconds += rs.seconds;
            prog.before += rs.frames_done;
            if (st != AZS_OK) {
                sum->failed_input = k;
                azs_fail_context(st, "%s: ", j->o.inputs[k]);
            }
        }
        offset += in->nframes;
    }
    if (j->sink && st != AZS_OK && azs_sink_frames_written(j->sink) == j->resumed) {
        azs_sink_discard(j->sink); /* nothing new: the output stays as it was */
    } else if (j->sink) {
        azs_status cs = azs_sink_close(j->sink);
        if (cs != AZS_OK && st == AZS_OK)
            st = azs_fail_context(cs, "%s: ", j->o.output);
    }
    j->sink = NULL;
    return st;
}

void azs_job_close(azs_job *j)
{
    if (j && j->o.run.layout == AZS_LAYOUT_GPU)
        azs_run_prepare(NULL, NULL); /* what a run did not take (it failed before) */
    if (!j)
        return;
    azs_sink_discard(j->sink); /* never run: the output stays as it was */
    for (int k = 0; j->src && k < j->n; k++)
        azs_source_close(j->src[k]);
    azs_integrator_destroy(j->it);
    azs_settings_destroy(j->s);
    free(j->settings_json);
    free(j->pixel_mask_note);
    cJSON_Delete(j->pixel_mask_from);
    free(j->src);
    free(j->first);
    free(j->end);
    free(j);
}

azs_status azs_job_worker_main(int argc, char **argv, const azs_worker_hooks *hooks)
{
    const char *input = NULL, *dataset = NULL, *settings = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--input") && v)
            input = argv[++i];
        else if (!strcmp(a, "--dataset") && v)
            dataset = argv[++i];
        else if (!strcmp(a, "--settings") && v)
            settings = argv[++i];
        else
            return azs_fail(AZS_ERR_INVALID_ARG, "worker: unexpected argument '%s' (this command is started "
                                                 "by layout procs)", a);
    }
    if (!input || !settings)
        return azs_fail(AZS_ERR_INVALID_ARG, "worker: --input and --settings are required (this command is "
                                             "started by layout procs)");
    azs_settings *s = NULL;
    azs_source *src = NULL;
    azs_integrator *it = NULL;
    uint8_t *pm = NULL;
    char *plain = NULL;
    azs_source_options so = {0};
    cJSON *from = NULL, *cache = NULL, *r = cJSON_Parse(settings);
    azs_status st = r ? azs_settings_create(&s) : azs_fail(AZS_ERR_PARSE, "worker: --settings is not JSON");
    if (st == AZS_OK) {
        from = cJSON_DetachItemFromObjectCaseSensitive(r, "pixel_mask_from");
        cache = cJSON_DetachItemFromObjectCaseSensitive(r, "cache_dir");
        cJSON *am = cJSON_DetachItemFromObjectCaseSensitive(r, "allow_missing");
        so.allow_missing = cJSON_IsTrue(am);
        cJSON_Delete(am);
        if (!(plain = cJSON_PrintUnformatted(r)))
            st = azs_fail(AZS_ERR_NOMEM, "worker settings");
    }
    if (st == AZS_OK)
        st = azs_settings_load_json(s, plain, "worker settings");
    if (st == AZS_OK && (st = azs_source_open_opts(input, dataset, &so, &src)) != AZS_OK)
        azs_fail_context(st, "%s: ", input);
    /* The parent's pixel masks: from the inputs it names, not this worker's own. */
    for (int k = 0; st == AZS_OK && k < cJSON_GetArraySize(from); k++) {
        const cJSON *nm = cJSON_GetArrayItem(from, k);
        azs_source *ms = NULL;
        uint8_t *m = NULL;
        size_t nmasked;
        if (!cJSON_IsString(nm))
            st = azs_fail(AZS_ERR_PARSE, "worker: pixel_mask_from holds a non-string");
        else if ((st = azs_source_open(nm->valuestring, dataset, &ms)) != AZS_OK)
            azs_fail_context(st, "%s: ", nm->valuestring);
        else if (azs_source_get_info(ms)->ny != azs_source_get_info(src)->ny ||
                 azs_source_get_info(ms)->nx != azs_source_get_info(src)->nx)
            st = azs_fail(AZS_ERR_FORMAT, "worker: %s and %s differ in shape", nm->valuestring, input);
        else
            st = read_pixel_masks(&ms, (const char *const *)&nm->valuestring, 1, &m, &nmasked, NULL);
        azs_source_close(ms);
        if (st == AZS_OK && m && pm) {
            const azs_source_info *in = azs_source_get_info(src);
            for (size_t p = 0; p < (size_t)in->ny * in->nx; p++)
                pm[p] |= m[p];
            free(m);
        } else if (st == AZS_OK && m) {
            pm = m;
        }
    }
    /* The parent wrote the integrator cache before starting us: map it, never write. */
    const azs_cache_request rq = {cJSON_IsString(cache) ? cache->valuestring : NULL, 1, AZS_U8, NULL};
    if (st == AZS_OK)
        st = build_with_mask(s, azs_source_get_info(src), pm, &rq, NULL, &it);
    free(pm);
    free(plain);
    cJSON_Delete(from);
    cJSON_Delete(cache);
    cJSON_Delete(r);
    if (st == AZS_OK)
        st = azs_procs_worker_serve(AZS_PROCS_WORKER_FD, src, it, hooks);
    azs_integrator_destroy(it);
    azs_source_close(src);
    azs_settings_destroy(s);
    return st;
}
