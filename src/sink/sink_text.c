/* Text sink: pyFAI-style .dat files, '#' header lines (the job's header_text: pyFAI's
 * geometry, mask, dark, flat, polarization lines, then azstream's) then columns radial,
 * I[, sigma].
 * One file for a single-frame run, else one file per row: STEM_00000.EXT ... Each file is
 * complete when written (nothing is buffered across frames): it is written as
 * .NAME.azs-tmp-PID beside its name (created exclusively) and then renamed, so a name
 * never holds half a file, whatever stops the run. Without AZS_OUTPUT_OVERWRITE an existing
 * file is refused, at open (the first name) and at each file (linked into place, which
 * fails rather than replace). Resume is for HDF5 outputs only. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "sink/out_file.h"
#include "sink/sink_internal.h"

typedef struct text_sink {
    azs_sink base;
    char *path, *stem, *ext;
    int per_frame;
    int overwrite;
    uint32_t npt;
    double *radial;
    char *unit;
    int with_errors;
    char *header;
} text_sink;

/* The name of row `row`'s file. */
static azs_status file_name(const text_sink *s, uint64_t row, char *name, size_t cap)
{
    int n = s->per_frame ? snprintf(name, cap, "%s_%05" PRIu64 "%s", s->stem, row, s->ext)
                         : snprintf(name, cap, "%s", s->path);
    if (n < 0 || (size_t)n >= cap)
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: output path too long", s->path);
    return AZS_OK;
}

#define PUT(...) (void)(fprintf(f, __VA_ARGS__) < 0 && !err && (err = errno ? errno : EIO))

static azs_status text_write(azs_sink *b, uint64_t frame, const double *inten, const double *sigma,
                             azs_status fs)
{
    text_sink *s = (text_sink *)b;
    char name[4096];
    if (!s->per_frame && b->rows > 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: a single-file text output holds one frame; this run has more",
                        s->path);
    azs_status st = file_name(s, b->rows, name, sizeof name);
    char tmpsuffix[64];
    snprintf(tmpsuffix, sizeof tmpsuffix, ".azs-tmp-%ld", (long)getpid());
    char *tmp = st == AZS_OK ? azs_sibling_name(name, tmpsuffix) : NULL;
    if (st != AZS_OK)
        return st;
    if (!tmp)
        return azs_fail(AZS_ERR_NOMEM, "%s", name);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        st = azs_fail(AZS_ERR_IO, "%s: cannot create %s: %s", name, tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
        return st;
    }
    int err = 0;
    /* pyFAI's order (pyFAI.io.DefaultAiWriter.save1D): the header, "# --> NAME", the columns. */
    if (s->header)
        PUT("%s", s->header);
    PUT("# frame: %" PRIu64 "\n", frame);
    if (fs != AZS_OK)
        PUT("# bad frame (%s): values are NaN\n", azs_status_str(fs));
    PUT("# --> %s\n", name);
    if (s->with_errors)
        PUT("#%-14s  %-14s  %-14s\n", s->unit, "I", "sigma");
    else
        PUT("#%-14s %-14s\n", s->unit, "I");
    for (uint32_t i = 0; i < s->npt && !err; i++) {
        if (s->with_errors)
            PUT("%16.9e %16.9e %16.9e\n", s->radial[i], inten[i], sigma ? sigma[i] : 0.0);
        else
            PUT("%16.9e %16.9e\n", s->radial[i], inten[i]);
    }
    if (fflush(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (fclose(f) != 0 && !err)
        err = errno ? errno : EIO;
    if (err) {
        unlink(tmp);
        free(tmp);
        return azs_fail(AZS_ERR_IO, "%s: write failed: %s", name, strerror(err));
    }
    /* In place: a link fails rather than replace a file this run may not replace. */
    int r = 0;
    if (s->overwrite) {
        r = rename(tmp, name);
    } else if ((r = link(tmp, name)) == 0 || errno == EEXIST) {
        int e = errno;
        unlink(tmp);
        errno = e;
    } else if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP) { /* no hard links here */
        r = azs_path_exists(name) ? (errno = EEXIST, -1) : rename(tmp, name);
    }
    if (r != 0) {
        int e = errno;
        unlink(tmp);
        st = e == EEXIST ? azs_fail(AZS_ERR_CONFLICT, "%s exists: --overwrite to replace it", name)
                         : azs_fail(AZS_ERR_IO, "%s: cannot rename %s onto it: %s", name, tmp, strerror(e));
        free(tmp);
        return st;
    }
    free(tmp);
    return AZS_OK;
}

static azs_status text_flush(azs_sink *b)
{
    (void)b;
    return AZS_OK;
}

static void text_discard(azs_sink *b);

static azs_status text_close(azs_sink *b)
{
    text_discard(b); /* every file went in place as it was written */
    return AZS_OK;
}

static void text_discard(azs_sink *b)
{
    text_sink *s = (text_sink *)b;
    free(s->path);
    free(s->stem);
    free(s->ext);
    free(s->radial);
    free(s->unit);
    free(s->header);
    free(s);
}

static char *dupstr(const char *x)
{
    size_t n = strlen(x) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, x, n);
    return d;
}

azs_status azs_sink_open_text(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    *out = NULL;
    if (cfg->npt_azim > 0)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s: text output is for 1D profiles; use .h5 for 2D",
                        path);
    if (!cfg->radial || cfg->npt == 0)
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: no radial axis", path);
    if (cfg->mode == AZS_OUTPUT_RESUME)
        return azs_fail(AZS_ERR_UNSUPPORTED, "%s: --resume is for HDF5 outputs (.h5/.nxs); a text output is "
                        "written whole, one file per frame: run again with --overwrite", path);
    text_sink *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "text sink");
    s->base.write = text_write;
    s->base.flush = text_flush;
    s->base.close = text_close;
    s->base.discard = text_discard;
    s->overwrite = cfg->mode == AZS_OUTPUT_OVERWRITE;
    s->per_frame = cfg->frames_hint != 1;
    s->npt = cfg->npt;
    s->with_errors = cfg->with_errors;
    s->path = dupstr(path);
    s->unit = dupstr(cfg->unit ? cfg->unit : "radial");
    s->radial = malloc(sizeof(double) * cfg->npt);
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    if (!dot || (slash && dot < slash))
        dot = path + strlen(path);
    s->stem = malloc((size_t)(dot - path) + 1);
    s->ext = dupstr(dot);
    if (cfg->header_text)
        s->header = dupstr(cfg->header_text);
    if (!s->path || !s->unit || !s->radial || !s->stem || !s->ext ||
        (cfg->header_text && !s->header)) {
        text_discard(&s->base);
        return azs_fail(AZS_ERR_NOMEM, "text sink");
    }
    memcpy(s->stem, path, (size_t)(dot - path));
    s->stem[dot - path] = '\0';
    memcpy(s->radial, cfg->radial, sizeof(double) * cfg->npt);
    char first[4096];
    azs_status st = file_name(s, 0, first, sizeof first);
    if (st == AZS_OK && !s->overwrite && azs_path_exists(first))
        st = azs_fail(AZS_ERR_CONFLICT, "%s exists: --overwrite to replace it", first);
    if (st != AZS_OK) {
        text_discard(&s->base);
        return st;
    }
    *out = &s->base;
    return AZS_OK;
}
