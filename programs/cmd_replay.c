/* azstream replay STACK.h5 --bind tcp://HOST:PORT [--rate HZ] [--repeat N]: a stack's stored
 * chunks sent as DECTRIS Stream V2 series (doc/streams.md): a start message with what the
 * file says (shape, type, number of images, its pixel_mask), one image message per frame
 * holding the chunk as read from the file (no decoding: bslz4 and lz4 chunks go out as
 * DECTRIS's compression tag), an end message. A PUSH socket: sending waits for a receiver
 * and, at the receiver's high-water mark, for it to catch up; nothing is dropped. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/layout.h"
#include "azstream/source.h"
#include "azstream/stream.h"
#include "cli.h"
#include "common/clock.h"

static volatile int g_cancel;

static void on_signal(int sig)
{
    (void)sig;
    azs_cancel_request(&g_cancel);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: azstream replay STACK.h5 --bind tcp://*:PORT [--rate HZ] [--repeat N]\n"
               "                       [--dataset PATH] [--series-id N] [--channel NAME] [--loop N]\n"
               "                       [--drop I,J,...] [--quiet]\n"
               "  Sends the stack's chunks, as stored (direct chunk reads, no decoding), as DECTRIS\n"
               "  Stream V2 series on a ZeroMQ PUSH socket: start (shape, type, number_of_images,\n"
               "  the file's pixel_mask), one image message per frame, end. --rate: images per\n"
               "  second (default: as fast as the receiver takes them); --repeat: series sent one\n"
               "  after the other, series ids counting from --series-id (1); --channel: the\n"
               "  channel name (threshold_1); --loop: the stack's frames N times within each series\n"
               "  (image_ids counting on: long series from a small file, benchmarks); --drop:\n"
               "  image_ids not sent, as if lost on the way (the receiver's gap rows; tests).\n"
               "  Waits for a receiver to connect.\n");
}

static void sleep_until(double t)
{
    double dt = t - azs_now_seconds();
    if (dt <= 0)
        return;
    struct timespec ts = {(time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9)};
    nanosleep(&ts, NULL);
}

/* The start message of a series of the stack. The mask array borrows *mask32. */
static azs_status make_start(azs_source *src, uint64_t series_id, uint64_t nimages, const char *channel,
                             uint32_t **mask32, uint8_t **msg, size_t *size)
{
    const azs_source_info *in = azs_source_get_info(src);
    azs_stream_start s;
    memset(&s, 0, sizeof s);
    s.series_id = series_id;
    snprintf(s.series_unique_id, sizeof s.series_unique_id, "azstream-replay-%" PRIu64, series_id);
    s.image_size_x = in->nx;
    s.image_size_y = in->ny;
    s.image_dtype = in->dtype;
    s.nchannels = 1;
    snprintf(s.channels[0], sizeof s.channels[0], "%s", channel);
    s.has_nimages = 1;
    s.number_of_images = nimages;
    snprintf(s.detector_description, sizeof s.detector_description, "azstream replay");
    uint8_t *m = NULL;
    size_t nmasked = 0;
    azs_status st = azs_source_pixel_mask(src, &m, &nmasked);
    if (st == AZS_OK) { /* as DECTRIS sends it: uint32, non-zero = bad */
        const size_t n = (size_t)in->ny * in->nx;
        if (!*mask32 && !(*mask32 = malloc(n * sizeof **mask32))) {
            free(m);
            return AZS_ERR_NOMEM;
        }
        for (size_t p = 0; p < n; p++)
            (*mask32)[p] = m[p];
        free(m);
        s.npixel_mask = 1;
        snprintf(s.pixel_mask[0].name, sizeof s.pixel_mask[0].name, "%s", channel);
        s.pixel_mask[0].a = (azs_stream_array){in->ny, in->nx, AZS_U32, 4, AZS_CODEC_NONE, *mask32, n * 4};
    } else if (st != AZS_ERR_NOT_FOUND) {
        return st;
    }
    return azs_stream_encode_start(&s, msg, size);
}

/* Frame f's image message (image_id id): its stored chunk, or (a chunk without raw bytes) its
 * pixels. */
static azs_status make_image(azs_source *src, uint64_t series_id, uint64_t f, uint64_t id, const char *channel,
                             void *buf, size_t cap, uint8_t **msg, size_t *size)
{
    const azs_source_info *in = azs_source_get_info(src);
    azs_stream_array a = {in->ny, in->nx, in->dtype, in->elem_size, in->codec, buf, 0};
    azs_status st = in->read_path == AZS_READ_FILTERED ? AZS_ERR_UNSUPPORTED
                                                       : azs_source_read_raw(src, f, buf, cap, &a.nbytes);
    if (st == AZS_ERR_UNSUPPORTED || st == AZS_ERR_NOT_FOUND) { /* never written, filter skipped */
        a.codec = AZS_CODEC_NONE;
        a.nbytes = in->frame_bytes;
        st = azs_source_read_frame(src, f, buf, cap);
    }
    return st == AZS_OK ? azs_stream_encode_image(series_id, id, channel, &a, msg, size) : st;
}

#define REPLAY_MAX_DROP 256

/* --drop I,J,...: frame indices, each at most once counted. 0, or -1 when malformed. */
static int parse_drop(const char *v, uint64_t *drop, int *ndrop)
{
    *ndrop = 0;
    for (const char *p = v; *p;) {
        char *e;
        if (*ndrop == REPLAY_MAX_DROP || *p < '0' || *p > '9')
            return -1;
        drop[(*ndrop)++] = strtoull(p, &e, 10);
        if (*e && *e != ',')
            return -1;
        p = *e ? e + 1 : e;
    }
    return *ndrop ? 0 : -1;
}

static int dropped(const uint64_t *drop, int ndrop, uint64_t f)
{
    for (int k = 0; k < ndrop; k++)
        if (drop[k] == f)
            return 1;
    return 0;
}

#ifndef AZS_HAVE_STREAM
int cmd_replay(int argc, char **argv)
{
    (void)argc, (void)argv, (void)sleep_until, (void)make_start, (void)make_image, (void)usage, (void)on_signal;
    (void)parse_drop, (void)dropped;
    return cli_report("replay", AZS_ERR_UNSUPPORTED, "azstream was built without stream support (libzmq, libcbor)");
}
#else
int cmd_replay(int argc, char **argv)
{
    const char *cmd = "replay", *input = NULL, *bind = NULL, *dataset = NULL, *channel = "threshold_1";
    double rate = 0;
    int64_t repeat = 1, series0 = 1, loop = 1;
    int quiet = 0, ndrop = 0;
    uint64_t drop[REPLAY_MAX_DROP];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        }
        if (!strcmp(a, "--quiet")) {
            quiet = 1;
            continue;
        }
        if (a[0] != '-') {
            if (input)
                return cli_usage_error(cmd, "one STACK only ('%s', then '%s')", input, a);
            input = a;
            continue;
        }
        if (i + 1 >= argc)
            return cli_usage_error(cmd, "%s needs a value", a);
        const char *v = argv[++i];
        if (!strcmp(a, "--bind"))
            bind = v;
        else if (!strcmp(a, "--dataset"))
            dataset = v;
        else if (!strcmp(a, "--channel"))
            channel = v;
        else if (!strcmp(a, "--drop")) {
            if (parse_drop(v, drop, &ndrop))
                return cli_usage_error(cmd, "--drop '%s' is not a list of frame indices (I,J,..., at most %d)", v,
                                       REPLAY_MAX_DROP);
        }
        else if (!strcmp(a, "--rate")) {
            if (cli_parse_f64(v, &rate) || !(rate > 0))
                return cli_usage_error(cmd, "--rate '%s' is not a positive number of images per second", v);
        } else if (!strcmp(a, "--repeat")) {
            if (cli_parse_i64(v, &repeat) || repeat < 1)
                return cli_usage_error(cmd, "--repeat '%s' is not a positive count", v);
        } else if (!strcmp(a, "--loop")) {
            if (cli_parse_i64(v, &loop) || loop < 1)
                return cli_usage_error(cmd, "--loop '%s' is not a positive count", v);
        } else if (!strcmp(a, "--series-id")) {
            if (cli_parse_i64(v, &series0) || series0 < 0)
                return cli_usage_error(cmd, "--series-id '%s' is not a non-negative integer", v);
        } else
            return cli_usage_error(cmd, "unknown option '%s'", a);
    }
    if (!input || !bind)
        return cli_usage_error(cmd, "STACK.h5 and --bind tcp://*:PORT are required");
    if (!azs_stream_built())
        return cli_report(cmd, AZS_ERR_UNSUPPORTED, "azstream was built without stream support (libzmq, libcbor)");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    azs_source *src = NULL;
    azs_stream_socket *sock = NULL;
    azs_status st = azs_source_open(input, dataset, &src);
    if (st != AZS_OK)
        return cli_report(cmd, st, input);
    const azs_source_info *in = azs_source_get_info(src);
    const size_t cap = in->max_chunk_bytes > in->frame_bytes ? in->max_chunk_bytes : in->frame_bytes;
    void *buf = malloc(cap ? cap : 1);
    uint32_t *mask32 = NULL;
    uint64_t sent = 0;
    if (!buf)
        st = AZS_ERR_NOMEM;
    if (st == AZS_OK && (st = azs_stream_push_bind(bind, &sock)) != AZS_OK)
        cli_report(cmd, st, bind);
    const double t0 = azs_now_seconds();
    for (int64_t r = 0; st == AZS_OK && r < repeat; r++) {
        const uint64_t sid = (uint64_t)(series0 + r);
        uint8_t *msg = NULL;
        size_t n = 0;
        const uint64_t nimages = in->nframes * (uint64_t)loop;
        st = make_start(src, sid, nimages, channel, &mask32, &msg, &n);
        if (st == AZS_OK)
            st = azs_stream_send(sock, msg, n, &g_cancel);
        free(msg);
        for (uint64_t id = 0; st == AZS_OK && id < nimages; id++) {
            if (dropped(drop, ndrop, id))
                continue;
            if (rate > 0)
                sleep_until(t0 + (double)sent / rate);
            /* ZeroMQ takes the message as it is (no copy) and frees it once sent */
            if ((st = make_image(src, sid, id % in->nframes, id, channel, buf, cap, &msg, &n)) == AZS_OK)
                st = azs_stream_send_owned(sock, msg, n, &g_cancel);
            sent += st == AZS_OK;
        }
        msg = NULL;
        if (st == AZS_OK && (st = azs_stream_encode_end(sid, &msg, &n)) == AZS_OK)
            st = azs_stream_send(sock, msg, n, &g_cancel);
        free(msg);
        if (st != AZS_OK)
            cli_report(cmd, st, input);
    }
    const double dt = azs_now_seconds() - t0;
    azs_stream_close(sock, st == AZS_OK ? -1 : 0); /* what was queued goes out before we exit */
    if (!quiet)
        printf("azstream replay: %" PRIu64 " images in %" PRId64 " series in %.3f s, %.1f images/s -> %s\n", sent,
               repeat, dt, dt > 0 ? (double)sent / dt : 0.0, bind ? bind : "?");
    free(mask32);
    free(buf);
    azs_source_close(src);
    return st == AZS_OK ? CLI_OK : CLI_FAIL;
}
#endif
