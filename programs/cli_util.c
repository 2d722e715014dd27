#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/layout.h"
#include "cli.h"

int cli_report(const char *cmd, azs_status s, const char *what)
{
    const char *detail = azs_last_error();
    fprintf(stderr, "azstream %s: %s%s%s%s%s\n", cmd, what ? what : "", what ? ": " : "",
            azs_status_str(s), detail[0] ? ": " : "", detail);
    return CLI_FAIL;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "azstream %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'azstream %s --help')\n", cmd);
    return CLI_USAGE;
}

int cli_parse_i64(const char *s, int64_t *v)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    long long x = strtoll(s, &end, 10);
    if (errno || *end)
        return -1;
    *v = x;
    return 0;
}

int cli_parse_f64(const char *s, double *v)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double x = strtod(s, &end);
    if (errno || *end || !isfinite(x))
        return -1;
    *v = x;
    return 0;
}

int cli_parse_range_i64(const char *s, int64_t *a, int64_t *b)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    char buf[64];
    if (!s || strlen(s) >= sizeof buf)
        return -1;
    if (!colon) {
        if (cli_parse_i64(s, a) || *a < 0)
            return -1;
        *b = *a + 1;
        return 0;
    }
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    *a = -1;
    *b = -1;
    if (buf[0] && (cli_parse_i64(buf, a) || *a < 0))
        return -1;
    if (colon[1] && (cli_parse_i64(colon + 1, b) || *b < 0))
        return -1;
    if (*a >= 0 && *b >= 0 && *b <= *a)
        return -1;
    return 0;
}

int cli_parse_range_f64(const char *s, double *a, double *b)
{
    const char *colon = s ? strchr(s, ':') : NULL;
    char buf[64];
    if (!colon || strlen(s) >= sizeof buf)
        return -1;
    memcpy(buf, s, (size_t)(colon - s));
    buf[colon - s] = '\0';
    if (cli_parse_f64(buf, a) || cli_parse_f64(colon + 1, b) || !(*b > *a))
        return -1;
    return 0;
}

static uint32_t env_u32(const char *name, uint32_t def)
{
    const char *v = getenv(name);
    char *e;
    if (!v || !*v)
        return def;
    unsigned long x = strtoul(v, &e, 10);
    return *e || x > 1u << 20 ? def : (uint32_t)x;
}

int cli_run_knobs(struct azs_run_options *o)
{
    o->cpu_batch = (int)env_u32("AZS_CPU_BATCH", (uint32_t)o->cpu_batch);
    o->gpu_batch = env_u32("AZS_GPU_BATCH", o->gpu_batch);
    o->gpu_slots = env_u32("AZS_GPU_SLOTS", o->gpu_slots);
    o->gpu_lag = env_u32("AZS_GPU_LAG", o->gpu_lag);
    o->gpu_window_mib = env_u32("AZS_GPU_WINDOW_MIB", o->gpu_window_mib);
    o->gpu_register_cap_mib = env_u32("AZS_GPU_REGISTER_CAP_MIB", o->gpu_register_cap_mib);
    const char *t = getenv("AZS_GPU_TRACE");
    return t && *t;
}

int cli_parse_gpu_feed(const char *v, azs_gpu_feed *f)
{
    static const char *const n[] = {"auto", "pread", "register", "direct"};
    for (int k = 0; k < 4; k++)
        if (v && !strcmp(v, n[k])) {
            *f = (azs_gpu_feed)k;
            return 0;
        }
    return -1;
}

void cli_print_gpu_trace(const struct azs_run_summary *s)
{
    const azs_gpu_trace *g = &s->gpu;
    static const char *const feed[] = {"auto", "pread", "register", "direct"};
    fprintf(stderr,
            "layout gpu feed: %s%s, %llu frames fed by it; windows %u (%.2f GB) mapped and registered "
            "in %.3f s; readers waited for windows %.3f s\n",
            (unsigned)g->feed < 4 ? feed[g->feed] : "?", g->feed_fallback ? " (refused: pread)" : "",
            (unsigned long long)g->fed_frames, g->windows, 1e-9 * (double)g->registered_bytes,
            g->register_seconds, g->window_wait);
    fprintf(stderr,
            "layout gpu trace: batch %u x %u slots (%u on the GPU), %d readers: %.3f s total, set-up %.3f s, "
            "tear-down %.3f s; main thread waited for readers %.3f s, for the GPU %.3f s, submitted %.3f s, "
            "sink %.3f s, host frames %.3f s (%llu); %llu batches, device time per batch %.2f ms\n",
            g->batch, g->slots, g->lag, g->readers, s->seconds, s->setup_seconds, g->teardown, g->read_wait,
            g->gpu_wait, g->submit, g->sink, g->host, (unsigned long long)g->host_frames,
            (unsigned long long)g->batches, g->batches ? 1e3 * g->device / (double)g->batches : 0.0);
}
