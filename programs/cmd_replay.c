/* azstream replay STACK.h5 --bind tcp://HOST:PORT [--rate HZ] [--repeat N]: options → the
 * library's azs_stream_replay (azstream/stream.h, doc/streams.md) → a summary line. */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/layout.h"
#include "azstream/stream.h"
#include "cli.h"

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
               "                       [--drop I,J,...] [--readers N] [--io-threads N] [--preload]\n"
               "                       [--quiet]\n"
               "  Sends the stack's chunks, as stored (direct chunk reads, no decoding), as DECTRIS\n"
               "  Stream V2 series on a ZeroMQ PUSH socket: start (shape, type, number_of_images,\n"
               "  the file's pixel_mask), one image message per frame, end. --rate: images per\n"
               "  second (default: as fast as the receiver takes them); --repeat: series sent one\n"
               "  after the other, series ids counting from --series-id (1); --channel: the\n"
               "  channel name (threshold_1); --loop: the stack's frames N times within each series\n"
               "  (image_ids counting on: long series from a small file, benchmarks); --drop:\n"
               "  image_ids not sent, as if lost on the way (the receiver's gap rows; tests).\n"
               "  --readers: threads reading chunks ahead (default 4); --io-threads: ZeroMQ I/O threads\n"
               "  (default 4; one per connection of a receiver's --connections). --preload: read the\n"
               "  stack's frames into memory first (up to 8 GiB) and send each from there, with no\n"
               "  read or copy per image, as a detector does (load tests). Waits for a receiver.\n");
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

#ifndef AZS_HAVE_STREAM
int cmd_replay(int argc, char **argv)
{
    (void)argc, (void)argv, (void)usage, (void)on_signal, (void)parse_drop;
    return cli_report("replay", AZS_ERR_UNSUPPORTED, "azstream was built without stream support (libzmq, libcbor)");
}
#else
int cmd_replay(int argc, char **argv)
{
    const char *cmd = "replay", *input = NULL, *bind = NULL, *dataset = NULL, *channel = "threshold_1";
    double rate = 0;
    int64_t repeat = 1, series0 = 1, loop = 1, readers = 4, io_threads = 4;
    int quiet = 0, ndrop = 0, preload = 0;
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
        if (!strcmp(a, "--preload")) {
            preload = 1;
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
        } else if (!strcmp(a, "--readers")) {
            if (cli_parse_i64(v, &readers) || readers < 1 || readers > 64)
                return cli_usage_error(cmd, "--readers '%s' is not a count of 1 to 64", v);
        } else if (!strcmp(a, "--io-threads")) {
            if (cli_parse_i64(v, &io_threads) || io_threads < 1 || io_threads > AZS_STREAM_MAX_CONNECTIONS)
                return cli_usage_error(cmd, "--io-threads '%s' is not a count of 1 to %d", v,
                                       AZS_STREAM_MAX_CONNECTIONS);
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

    azs_stream_replay_options o;
    azs_stream_replay_options_default(&o);
    o.input = input;
    o.dataset = dataset;
    o.bind = bind;
    o.channel = channel;
    o.rate = rate;
    o.repeat = (uint64_t)repeat;
    o.loop = (uint64_t)loop;
    o.series0 = (uint64_t)series0;
    o.drop = drop;
    o.ndrop = ndrop;
    o.readers = (int)readers;
    o.io_threads = (int)io_threads;
    o.preload = preload;
    o.cancel = &g_cancel;
    azs_stream_replay_summary sum;
    azs_status st = azs_stream_replay(&o, &sum);
    if (st != AZS_OK)
        cli_report(cmd, st, input);
    if (!quiet)
        printf("azstream replay: %" PRIu64 " images in %" PRIu64 " series in %.3f s, %.1f images/s, %.2f GB/s -> %s\n",
               sum.sent, sum.series, sum.seconds, sum.seconds > 0 ? (double)sum.sent / sum.seconds : 0.0,
               sum.seconds > 0 ? (double)sum.bytes / sum.seconds / 1e9 : 0.0, bind);
    return st == AZS_OK ? CLI_OK : CLI_FAIL;
}
#endif
