/* A stream as the job's input (azstream/stream.h, doc/streams.md): for each series, its
 * start message and first image say the shape, type, geometry and pixel mask; the settings
 * build the integrator as for a file (the same azs_settings_build, the start message's
 * pixel_mask in the place of a master's); one output per series; src/stream runs the
 * series. */
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/sink.h"
#include "azstream/stream.h"
#include "common/clock.h"
#include "common/error.h"
#include "settings_internal.h"

#define AZS_PI 3.14159265358979323846

void azs_stream_job_options_default(azs_stream_job_options *o)
{
    memset(o, 0, sizeof *o);
    azs_run_options_default(&o->run);
    o->run.layout = AZS_LAYOUT_THREADS;
    o->program = "azstream";
}

#ifndef AZS_HAVE_STREAM
int azs_stream_built(void) { return 0; }

int azs_stream_is_endpoint(const char *input)
{
    return input && (!strncmp(input, "tcp://", 6) || !strncmp(input, "ipc://", 6));
}

azs_status azs_stream_job_run(const azs_settings *s, const azs_stream_job_options *o,
                              azs_stream_job_summary *sum)
{
    (void)s;
    if (sum)
        memset(sum, 0, sizeof *sum);
    return azs_fail(AZS_ERR_UNSUPPORTED, "%s: azstream was built without stream support (libzmq and libcbor: "
                    "scripts/install-deps.sh, then cmake -DAZS_WITH_STREAM=ON)", o && o->endpoint ? o->endpoint : "stream");
}
#else
#include "stream/stream_run.h"

static void say(const azs_stream_job_options *o, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void say(const azs_stream_job_options *o, const char *fmt, ...)
{
    if (!o->notice)
        return;
    char line[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    o->notice(o->notice_ctx, line);
}

/* The output name: every "{series_id}" replaced. */
static char *output_path(const char *pattern, uint64_t series_id)
{
    static const char key[] = "{series_id}";
    char id[32];
    snprintf(id, sizeof id, "%llu", (unsigned long long)series_id);
    size_t n = 0;
    for (const char *p = pattern; (p = strstr(p, key)); p += sizeof key - 1)
        n++;
    char *out = malloc(strlen(pattern) + n * strlen(id) + 1), *w = out;
    if (!out)
        return NULL;
    for (const char *p = pattern; *p;) {
        if (!strncmp(p, key, sizeof key - 1)) {
            w += sprintf(w, "%s", id);
            p += sizeof key - 1;
        } else {
            *w++ = *p++;
        }
    }
    *w = 0;
    return out;
}

/* The next decoded message; types we do not read are told and skipped. */
static azs_status next_msg(azs_stream_inbox *inbox, const azs_stream_job_options *o, azs_stream_msg **m)
{
    for (;;) {
        double t = 0;
        azs_status st = azs_stream_inbox_next(inbox, -1, o->run.cancel, m, &t, NULL);
        if (st != AZS_ERR_UNSUPPORTED)
            return st;
        say(o, "message skipped: %s", azs_last_error());
    }
}

/* What a series needs before its integrator: its start message and its first message after
 * it (an image, or the end of an empty series). */
typedef struct series_head {
    azs_stream_msg *start, *first;
    const char *channel;
    uint32_t ny, nx;
    azs_dtype dtype;
} series_head;

static azs_status read_head(azs_stream_inbox *sock, const azs_stream_job_options *o, azs_stream_msg *start,
                            series_head *h)
{
    memset(h, 0, sizeof *h);
    azs_status st = AZS_OK;
    while (!start && st == AZS_OK) { /* images and ends outside a series: told, skipped */
        if ((st = next_msg(sock, o, &start)) == AZS_OK && start->type != AZS_STREAM_START) {
            say(o, "%s message outside a series (no start message before it): skipped",
                start->type == AZS_STREAM_IMAGE ? "an image" : "an end");
            azs_stream_msg_free(start);
            start = NULL;
        }
    }
    if (st != AZS_OK)
        return st;
    h->start = start;
    const azs_stream_start *s = &start->start;
    if ((st = next_msg(sock, o, &h->first)) != AZS_OK)
        return st;
    h->channel = o->channel ? o->channel : s->nchannels > 0 ? s->channels[0] : NULL;
    if (h->first->type == AZS_STREAM_IMAGE) {
        if (!h->channel)
            h->channel = h->first->image.data[0].name;
        const azs_stream_array *a = azs_stream_image_channel(&h->first->image, h->channel);
        if (!a) {
            char names[256] = "";
            for (int k = 0; k < h->first->image.nchannels; k++)
                snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", k ? ", " : "",
                         h->first->image.data[k].name);
            return azs_fail(AZS_ERR_NOT_FOUND, "series %llu: no channel '%s' in the images (they have: %s)",
                            (unsigned long long)s->series_id, h->channel, names);
        }
        h->ny = a->ny;
        h->nx = a->nx;
        h->dtype = a->dtype;
        if (s->image_size_x && (s->image_size_x != a->nx || s->image_size_y != a->ny))
            return azs_fail(AZS_ERR_FORMAT, "series %llu: the start message says %u x %u images, image %llu is "
                            "%u x %u", (unsigned long long)s->series_id, s->image_size_y, s->image_size_x,
                            (unsigned long long)h->first->image.image_id, a->ny, a->nx);
    } else { /* no image at all: the start message alone describes them */
        h->ny = s->image_size_y;
        h->nx = s->image_size_x;
        h->dtype = s->image_dtype != AZS_DTYPE_INVALID ? s->image_dtype : AZS_U32;
        if (!h->ny || !h->nx)
            return azs_fail(AZS_ERR_FORMAT, "series %llu: no image and no image_size_x/y in the start message",
                            (unsigned long long)s->series_id);
    }
    if (!h->channel)
        h->channel = "(none)";
    return AZS_OK;
}

/* The integrator of a series: settings as given, geometry from the start message when they
 * have none, the start message's pixel_mask OR-ed in (as a master's in job.c). */
static azs_status build_series(const azs_settings *base, const azs_stream_job_options *o, const series_head *h,
                               azs_settings **sc, azs_integrator **it, char **mask_note)
{
    const azs_stream_start *s = &h->start->start;
    azs_status st = azs_settings_copy(base, sc);
    if (st != AZS_OK)
        return st;
    azs_settings *c = *sc;
    if (!azs_settings_geometry(c) && !c->poni_path[0]) {
        azs_geometry g;
        if ((st = azs_stream_geometry(s, &g)) != AZS_OK || (st = azs_settings_set_geometry(c, &g)) != AZS_OK)
            return st;
        say(o, "series %llu: geometry from the start message (no --poni): dist %.6g m, poni1 %.6g m, poni2 %.6g m, "
            "pixel %.6g x %.6g m, wavelength %.6g m, no tilt", (unsigned long long)s->series_id, g.dist, g.poni1,
            g.poni2, g.det.pixel1, g.det.pixel2, g.wavelength);
    }
    uint8_t *pm = NULL;
    size_t nmasked = 0;
    char note[256];
    if (c->no_pixel_mask) {
        snprintf(note, sizeof note, "not applied (--no-pixel-mask)");
    } else if ((st = azs_stream_pixel_mask(s, h->channel, h->ny, h->nx, &pm, &nmasked)) == AZS_ERR_NOT_FOUND) {
        snprintf(note, sizeof note, "none in the start message");
        st = AZS_OK;
    } else if (st != AZS_OK) {
        return azs_fail_context(st, "the pixel mask (--no-pixel-mask to go without): ");
    } else {
        snprintf(note, sizeof note, "applied from the start message, channel %s (%zu pixels masked)", h->channel,
                 nmasked);
    }
    *mask_note = malloc(strlen(note) + 1);
    if (*mask_note)
        strcpy(*mask_note, note);
    /* As job.c's build: a 2D azimuth range in chi_rad goes to the integrator in degrees. */
    const double a = c->io.azimuth_min, b = c->io.azimuth_max;
    if (c->azim_rad && c->io.npt_azim > 0) {
        c->io.azimuth_min = a * (180.0 / AZS_PI);
        c->io.azimuth_max = b * (180.0 / AZS_PI);
    }
    c->extra_mask = pm;
    st = azs_settings_build(c, h->ny, h->nx, h->dtype, it);
    c->extra_mask = NULL;
    c->io.azimuth_min = a;
    c->io.azimuth_max = b;
    free(pm);
    return st;
}

static azs_status open_series_output(const azs_settings *sc, const azs_stream_job_options *o, const series_head *h,
                                     const azs_integrator *it, const char *mask_note, const char *path,
                                     azs_sink **sink)
{
    const azs_stream_start *s = &h->start->start;
    cJSON *r = azs_settings_json_object(sc);
    if (!r)
        return azs_fail(AZS_ERR_NOMEM, "the configuration as JSON");
    cJSON *in = cJSON_AddArrayToObject(r, "inputs");
    if (in)
        cJSON_AddItemToArray(in, cJSON_CreateString(o->endpoint));
    cJSON *st_obj = cJSON_AddObjectToObject(r, "stream");
    if (st_obj) {
        cJSON_AddNumberToObject(st_obj, "series_id", (double)s->series_id);
        cJSON_AddStringToObject(st_obj, "series_unique_id", s->series_unique_id);
        cJSON_AddStringToObject(st_obj, "channel", h->channel);
        if (s->has_nimages)
            cJSON_AddNumberToObject(st_obj, "number_of_images", (double)s->number_of_images);
    }
    cJSON_AddStringToObject(r, "pixel_mask", mask_note ? mask_note : "?");
    cJSON_AddStringToObject(r, "layout", o->run.layout == AZS_LAYOUT_SERIAL ? "serial"
                                         : o->run.layout == AZS_LAYOUT_GPU  ? "gpu"
                                                                            : "threads");
    cJSON_AddNumberToObject(r, "workers", o->run.workers);
    char *cfg = cJSON_Print(r);
    cJSON_Delete(r);
    const azs_integrate_options *io = azs_integrator_options(it);
    const azs_geometry *g = azs_settings_geometry(sc);
    const int pixel_mask = mask_note && !strncmp(mask_note, "applied", 7);
    char header[6144];
    azs_job_text_header(sc, g, azs_job_detector_mask(sc, pixel_mask), header, sizeof header - 256);
    size_t hn = strlen(header);
    snprintf(header + hn, sizeof header - hn, "# stream: %s series %llu channel %s\n", o->endpoint,
             (unsigned long long)s->series_id, h->channel);
    double *rad_axis = NULL; /* --unit-azim chi_rad: the axis in radians, as job.c writes it */
    azs_sink_config c;
    memset(&c, 0, sizeof c);
    azs_job_sink_extra extra;
    azs_status mst = cfg ? azs_job_sink_meta(&c, sc, it, pixel_mask, &extra) : AZS_ERR_NOMEM;
    if (mst != AZS_OK) {
        free(cfg);
        return mst == AZS_ERR_NOMEM && !cfg ? azs_fail(AZS_ERR_NOMEM, "the configuration as JSON") : mst;
    }
    c.npt = io->npt;
    c.npt_azim = io->npt_azim;
    c.radial = azs_integrator_radial(it);
    c.azimuthal = azs_integrator_azimuthal(it);
    if (sc->azim_rad && io->npt_azim > 0 && (rad_axis = malloc(io->npt_azim * sizeof *rad_axis))) {
        for (uint32_t b = 0; b < io->npt_azim; b++)
            rad_axis[b] = c.azimuthal[b] * (AZS_PI / 180.0);
        c.azimuthal = rad_axis;
        c.azimuthal_unit = "chi_rad";
    }
    c.unit = azs_unit_name(io->unit);
    c.with_errors = io->error_model != AZS_ERRMODEL_NONE;
    c.frames_hint = s->has_nimages && s->number_of_images > 1 ? s->number_of_images : 2; /* text: a file per row */
    c.program = o->program ? o->program : "azstream";
    c.version = o->version ? o->version : azs_job_version();
    c.config_json = cfg;
    c.header_text = header;
    c.mode = o->overwrite ? AZS_OUTPUT_OVERWRITE : AZS_OUTPUT_NEW;
    azs_status st = azs_sink_open(path, &c, sink);
    free(cfg);
    free(rad_axis);
    azs_job_sink_extra_free(&extra);
    return st;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

azs_status azs_stream_job_run(const azs_settings *s, const azs_stream_job_options *o,
                              azs_stream_job_summary *sum)
{
    azs_stream_job_summary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    if (!s || !o || !o->endpoint || !o->output)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_stream_job_run: settings, endpoint and output are required");
    if (o->run.layout != AZS_LAYOUT_THREADS && o->run.layout != AZS_LAYOUT_SERIAL && o->run.layout != AZS_LAYOUT_GPU)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s: a stream is integrated with layout threads, serial or gpu (procs "
                        "and mpi read files)", o->endpoint);
    if (o->run.layout == AZS_LAYOUT_GPU) { /* before anything is opened: no device, no output */
        azs_status gs = azs_stream_gpu_check(&o->run);
        if (gs != AZS_OK)
            return gs;
    }
    azs_stream_socket *sock = NULL, *pub = NULL;
    azs_stream_inbox *inbox = NULL;
    const int connections = o->connections > 0 ? o->connections : 1;
    azs_status st = azs_stream_pull_open_n(o->endpoint, o->rcvhwm, connections, &sock);
    if (st == AZS_OK)
        st = azs_stream_inbox_create(sock, connections, o->notice, o->notice_ctx, &inbox);
    if (st == AZS_OK && o->publish && (st = azs_stream_pub_bind(o->publish, &pub)) != AZS_OK)
        azs_fail_context(st, "--publish: ");
    double *lat = NULL;
    size_t nlat = 0;
    azs_stream_msg *next = NULL;
    const double t0 = azs_now_seconds();
    while (st == AZS_OK) {
        series_head h;
        azs_settings *sc = NULL;
        azs_integrator *it = NULL;
        azs_sink *sink = NULL;
        char *mask_note = NULL, *path = NULL;
        st = read_head(inbox, o, next, &h);
        next = NULL;
        if (st == AZS_OK)
            st = build_series(s, o, &h, &sc, &it, &mask_note);
        if (st == AZS_OK && !(path = output_path(o->output, h.start->start.series_id)))
            st = azs_fail(AZS_ERR_NOMEM, "output name");
        if (st == AZS_OK && (st = open_series_output(sc, o, &h, it, mask_note, path, &sink)) != AZS_OK)
            azs_fail_context(st, "%s: ", path);
        if (st == AZS_OK) {
            azs_sink_ops ops = azs_sink_as_ops(sink);
            azs_stream_series ser = {inbox, h.channel, h.ny, h.nx, h.dtype, h.start->start.series_id,
                                     h.start->start.has_nimages ? h.start->start.number_of_images : 0, h.first,
                                     it, &o->run, &ops, pub, o->notice, o->notice_ctx};
            h.first = NULL; /* the series owns it now */
            azs_stream_series_summary ss;
            st = azs_stream_run_series(&ser, &ss, &next);
            sum->frames_done += ss.frames_done;
            sum->frames_missing += ss.frames_missing;
            sum->frames_bad += ss.frames_bad;
            sum->bytes_received += ss.bytes_received;
            sum->recv_seconds += ss.recv_seconds;
            sum->decode_seconds += ss.decode_seconds;
            sum->put_seconds += ss.put_seconds;
            double *grown = ss.nlatency ? realloc(lat, (nlat + ss.nlatency) * sizeof *lat) : lat;
            if (grown) {
                lat = grown;
                memcpy(lat + nlat, ss.latency, ss.nlatency * sizeof *lat);
                nlat += ss.nlatency;
            }
            free(ss.latency);
            sum->series++;
            if (st != AZS_OK)
                azs_fail_context(st, "%s: ", path);
            else if (ss.frames_missing)
                say(o, "series %llu: %llu of %llu frames not received (frame_status %d in %s)",
                    (unsigned long long)ser.series_id, (unsigned long long)ss.frames_missing,
                    (unsigned long long)ss.frames_done, (int)AZS_ERR_STREAM_GAP, path);
        }
        if (sink) {
            azs_status cs = azs_sink_close(sink);
            if (cs != AZS_OK && st == AZS_OK)
                st = azs_fail_context(cs, "%s: ", path);
        }
        azs_stream_msg_free(h.start);
        azs_stream_msg_free(h.first);
        azs_integrator_destroy(it);
        azs_settings_destroy(sc);
        free(mask_note);
        free(path);
        if (!o->follow)
            break;
    }
    azs_stream_msg_free(next);
    sum->seconds = azs_now_seconds() - t0;
    if (nlat) {
        qsort(lat, nlat, sizeof *lat, cmp_double);
        sum->latency_median = lat[nlat / 2];
        sum->latency_p99 = lat[(size_t)((double)(nlat - 1) * 0.99)];
    }
    free(lat);
    azs_stream_close(pub, 200);
    azs_stream_inbox_destroy(inbox);
    azs_stream_close(sock, 0);
    return st;
}
#endif
