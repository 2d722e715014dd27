/* azstream integrate tcp://HOST:PORT | ipc://PATH: the stream options and the run through
 * the library's azs_stream_job_run (doc/streams.md). Parses and prints only. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/job.h"
#include "azstream/stream.h"
#include "cli.h"

int cli_is_stream_input(const char *input) { return azs_stream_is_endpoint(input); }

int cli_stream_option_arity(const char *name)
{
    if (!strcmp(name, "channel") || !strcmp(name, "publish") || !strcmp(name, "connections"))
        return 1;
    if (!strcmp(name, "follow"))
        return 0;
    return -1;
}

int cli_stream_option(cli_stream_args *a, const char *name, const char *val)
{
    if (!strcmp(name, "channel"))
        a->channel = val;
    else if (!strcmp(name, "publish"))
        a->publish = val;
    else if (!strcmp(name, "follow"))
        a->follow = 1;
    else if (!strcmp(name, "connections")) {
        char *end;
        long n = strtol(val, &end, 10);
        if (end == val || *end || n < 1 || n > AZS_STREAM_MAX_CONNECTIONS)
            return cli_usage_error("integrate", "--connections: '%s' is not a count of 1 to %d", val,
                                   AZS_STREAM_MAX_CONNECTIONS);
        a->connections = (int)n;
    }
    return 0;
}

const char *cli_stream_usage(void)
{
    return "\nStream input (DECTRIS Stream V2 / Jungfraujoch over ZeroMQ, doc/streams.md):\n"
           "  INPUT tcp://HOST:PORT or ipc://PATH: connect a PULL socket (DECTRIS: port 31001), read\n"
           "                         start -> images -> end; one output per series, {series_id} in\n"
           "                         -o replaced; without --poni the geometry comes from the start\n"
           "                         message (beam centre, distance, pixel size, no tilt)\n"
           "  --channel NAME         the channel integrated (default: the first)\n"
           "  --follow               serve series until interrupted (default: one series)\n"
           "  --connections N        connect N times (1 to 16; one loopback TCP connection carried\n"
           "                         1,200-1,650 Eiger 4M images/s on the H200 host): the sender's\n"
           "                         PUSH socket round-robins over them,\n"
           "                         images are put back in image_id order (a window of 64 per\n"
           "                         connection, 1 s)\n"
           "  --publish tcp://*:PORT each frame's profile on a PUB socket (CBOR: image_id, radial,\n"
           "                         intensity, sigma)\n"
           "                         --layout threads (default), serial or gpu; frames never received\n"
           "                         get rows of their own, frame_status 20 (not received)";
}

static void on_notice(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "azstream integrate: %s\n", msg);
}

int cli_integrate_stream(const char *cmd, azs_settings *s, const azs_job_options *jo, const cli_stream_args *a,
                         int quiet)
{
    if (jo->ninputs != 1)
        return cli_usage_error(cmd, "a stream input (%s) is the only input", jo->inputs[0]);
    if (!azs_stream_built())
        return cli_report(cmd, AZS_ERR_UNSUPPORTED, "azstream was built without stream support (libzmq and "
                                                    "libcbor: scripts/install-deps.sh, then rebuild)");
    if (jo->first_frame > 0 || jo->end_frame >= 0 || jo->dataset)
        return cli_usage_error(cmd, "--frames and --dataset are for files, not streams");
    if (jo->resume)
        return cli_usage_error(cmd, "--resume is for files: a stream's frames cannot be asked for again");
    azs_stream_job_options o;
    azs_stream_job_options_default(&o);
    o.endpoint = jo->inputs[0];
    o.output = jo->output;
    o.channel = a->channel;
    o.follow = a->follow;
    o.publish = a->publish;
    o.connections = a->connections;
    o.overwrite = jo->overwrite;
    o.run = jo->run;
    o.program = jo->program;
    o.notice = on_notice;
    azs_stream_job_summary sum;
    azs_status st = azs_stream_job_run(s, &o, &sum);
    /* an existing output is an option's matter (--overwrite), as for files: exit 2 */
    int rc = st == AZS_OK                                                                  ? CLI_OK
             : st == AZS_ERR_INVALID_ARG || st == AZS_ERR_UNSUPPORTED || st == AZS_ERR_CONFLICT ? CLI_USAGE
                                                                                           : CLI_FAIL;
    const int interrupted = st == AZS_ERR_INTERRUPTED;
    if (st != AZS_OK && !(interrupted && a->follow))
        cli_report(cmd, st, o.endpoint);
    if (interrupted && a->follow)
        rc = CLI_OK; /* --follow ends on Ctrl-C: that is its normal end */
    if (!quiet || rc)
        printf("azstream integrate: %" PRIu64 " series, %" PRIu64 " frames (%" PRIu64 " not received, %" PRIu64
               " bad) in %.3f s, %.1f frames/s; latency receipt to row written: median %.3f ms, 99th percentile "
               "%.3f ms -> %s%s\n",
               sum.series, sum.frames_done, sum.frames_missing, sum.frames_bad, sum.seconds,
               sum.seconds > 0 ? (double)sum.frames_done / sum.seconds : 0.0, sum.latency_median * 1e3,
               sum.latency_p99 * 1e3, o.output, rc ? " (incomplete)" : "");
    if (!quiet || rc) {
        const double busy = sum.recv_seconds + sum.decode_seconds + sum.put_seconds;
        printf("azstream integrate: receiving thread: %.1f MB/s; of its %.3f s, recv %.1f %% (waiting for the "
               "sender included), decode %.1f %%, ring %.1f %% (waiting for a free slot included)\n",
               sum.seconds > 0 ? (double)sum.bytes_received / sum.seconds / 1e6 : 0.0, busy,
               busy > 0 ? 100 * sum.recv_seconds / busy : 0.0, busy > 0 ? 100 * sum.decode_seconds / busy : 0.0,
               busy > 0 ? 100 * sum.put_seconds / busy : 0.0);
    }
    return rc;
}
