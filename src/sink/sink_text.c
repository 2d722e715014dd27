/* Text sink: pyFAI-style .dat files, '#' header lines then columns radial, I[, sigma].
 * One file for a single-frame run, else one file per row: STEM_00000.EXT ... Each file is
 * complete when written (nothing is buffered across frames). */
#define _POSIX_C_SOURCE 200809L
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "sink/sink_internal.h"

typedef struct text_sink {
    azs_sink base;
    char *path, *stem, *ext;
    int per_frame;
    uint32_t npt;
    double *radial;
    char *unit;
    int with_errors;
    char *header;
} text_sink;

static azs_status text_write(azs_sink *b, uint64_t frame, const double *inten, const double *sigma,
                             azs_status fs)
{
    text_sink *s = (text_sink *)b;
    char name[4096];
    if (s->per_frame) {
        if ((size_t)snprintf(name, sizeof name, "%s_%05" PRIu64 "%s", s->stem, b->rows, s->ext) >= sizeof name)
            return azs_fail(AZS_ERR_INVALID_ARG, "%s: output path too long", s->path);
    } else {
        if (b->rows > 0)
            return azs_fail(AZS_ERR_INVALID_ARG, "%s: a single-file text output holds one frame; "
                            "this run has more", s->path);
        snprintf(name, sizeof name, "%s", s->path);
    }
    FILE *f = fopen(name, "w");
    if (!f)
        return azs_fail(AZS_ERR_IO, "%s: cannot create", name);
    fprintf(f, "# == azstream azimuthal integration ==\n");
    fprintf(f, "# frame: %" PRIu64 "\n", frame);
    if (fs != AZS_OK)
        fprintf(f, "# bad frame (%s): values are NaN\n", azs_status_str(fs));
    if (s->header)
        fputs(s->header, f);
    fprintf(f, "# %14s %16s%s\n", s->unit, "I", s->with_errors ? "            sigma" : "");
    for (uint32_t i = 0; i < s->npt; i++) {
        if (s->with_errors)
            fprintf(f, "%16.9e %16.9e %16.9e\n", s->radial[i], inten[i], sigma ? sigma[i] : 0.0);
        else
            fprintf(f, "%16.9e %16.9e\n", s->radial[i], inten[i]);
    }
    if (fclose(f) != 0)
        return azs_fail(AZS_ERR_IO, "%s: write failed", name);
    return AZS_OK;
}

static azs_status text_flush(azs_sink *b)
{
    (void)b;
    return AZS_OK;
}

static azs_status text_close(azs_sink *b)
{
    text_sink *s = (text_sink *)b;
    free(s->path);
    free(s->stem);
    free(s->ext);
    free(s->radial);
    free(s->unit);
    free(s->header);
    free(s);
    return AZS_OK;
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
    text_sink *s = calloc(1, sizeof *s);
    if (!s)
        return azs_fail(AZS_ERR_NOMEM, "text sink");
    s->base.write = text_write;
    s->base.flush = text_flush;
    s->base.close = text_close;
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
        text_close(&s->base);
        return azs_fail(AZS_ERR_NOMEM, "text sink");
    }
    memcpy(s->stem, path, (size_t)(dot - path));
    s->stem[dot - path] = '\0';
    memcpy(s->radial, cfg->radial, sizeof(double) * cfg->npt);
    *out = &s->base;
    return AZS_OK;
}
