/* What a run prints as it goes, on a terminal and in a batch system, and the output
 * pattern of several inputs (cli_batch.h). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli_batch.h"
#include "common/clock.h"

void cli_progress_init(cli_progress *p, const char *cmd, double interval)
{
    memset(p, 0, sizeof *p);
    p->cmd = cmd;
    p->interval = interval;
    p->tty = isatty(2);
    p->t0 = azs_now_seconds();
}

void cli_progress_start(cli_progress *p, const char *label)
{
    p->t0 = azs_now_seconds();
    p->last = p->t0;
    p->last_done = UINT64_MAX;
    p->label = label;
    p->printed = 0;
}

static void eta_text(double s, char *buf, size_t cap)
{
    if (!(s >= 0) || s > 1e9)
        snprintf(buf, cap, "?");
    else if (s < 100)
        snprintf(buf, cap, "%.0f s", s);
    else
        snprintf(buf, cap, "%dh%02dm%02ds", (int)(s / 3600), (int)(s / 60) % 60, (int)s % 60);
}

void cli_on_progress(void *ctx, uint64_t done, uint64_t total)
{
    cli_progress *p = ctx;
    const double now = azs_now_seconds(), dt = now - p->t0;
    const double fps = dt > 0 ? (double)done / dt : 0;
    char eta[32];
    eta_text(fps > 0 ? (double)(total - done) / fps : -1, eta, sizeof eta);
    if (p->tty) { /* one line, rewritten */
        fprintf(stderr, "\r  %" PRIu64 "/%" PRIu64 " frames  %.1f frames/s  ETA %s   ", done, total, fps, eta);
        fflush(stderr);
        p->printed = 1;
        return;
    }
    /* A log file or a batch system's stderr: a whole line every `interval` seconds, and
     * the last one after those (a run shorter than one interval prints none: its summary
     * says it all), never twice for the same count. */
    if (done == p->last_done || now - p->last < p->interval) {
        if (done < total || !p->printed || done == p->last_done)
            return;
    }
    p->last = now;
    p->last_done = done;
    p->printed = 1;
    fprintf(stderr, "azstream %s: %s%s%" PRIu64 "/%" PRIu64 " frames (%.1f%%), %.1f frames/s, ETA %s\n", p->cmd,
            p->label ? p->label : "", p->label ? ": " : "", done, total,
            total ? 100.0 * (double)done / (double)total : 100.0, fps, eta);
    fflush(stderr);
}

void cli_progress_end(cli_progress *p)
{
    if (p->tty && p->printed) /* ends the terminal's line */
        fprintf(stderr, "\n");
    p->printed = 0;
}

/* The input's name parts: folder (or "."), base name, stem (base without its last
 * extension). */
static void name_parts(const char *input, char *dir, char *base, char *stem, size_t cap)
{
    const char *slash = strrchr(input, '/');
    const char *b = slash ? slash + 1 : input;
    if (slash)
        snprintf(dir, cap, "%.*s", (int)(slash - input ? slash - input : 1), input);
    else
        snprintf(dir, cap, ".");
    snprintf(base, cap, "%s", b);
    const char *dot = strrchr(b, '.');
    snprintf(stem, cap, "%.*s", (int)(dot && dot != b ? (size_t)(dot - b) : strlen(b)), b);
}

int cli_output_is_pattern(const char *output)
{
    return strchr(output, '{') != NULL && strchr(output, '}') != NULL;
}

int cli_output_expand(const char *pattern, const char *input, int index, char *out, size_t cap, const char **bad)
{
    char dir[4096], base[4096], stem[4096], num[32];
    name_parts(input, dir, base, stem, sizeof dir);
    snprintf(num, sizeof num, "%d", index);
    size_t n = 0;
    *bad = NULL;
    for (const char *c = pattern; *c;) {
        const char *val = NULL;
        size_t len = 0;
        static const char *const keys[] = {"{stem}", "{name}", "{dir}", "{index}"};
        const char *vals[] = {stem, base, dir, num};
        if (*c == '{') {
            for (size_t k = 0; k < 4 && !val; k++)
                if (!strncmp(c, keys[k], strlen(keys[k]))) {
                    val = vals[k];
                    len = strlen(keys[k]);
                }
            if (!val) {
                *bad = c;
                return -1;
            }
        }
        const size_t add = val ? strlen(val) : 1;
        if (n + add >= cap)
            return -1;
        memcpy(out + n, val ? val : c, add);
        n += add;
        c += val ? len : 1;
    }
    out[n] = 0;
    return 0;
}
