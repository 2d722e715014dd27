/* Sink dispatch by file extension, the null sink, and the azs_run adaptor. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <strings.h>

#include "common/error.h"
#include "sink/sink_internal.h"

static const char *ext_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    return (dot && (!slash || dot > slash)) ? dot + 1 : "";
}

azs_status azs_sink_open(const char *path, const azs_sink_config *cfg, azs_sink **out)
{
    if (!path || !cfg || !out)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_sink_open: path, config and out are required");
    const char *e = ext_of(path);
    if (!strcasecmp(e, "h5") || !strcasecmp(e, "hdf5") || !strcasecmp(e, "nxs") ||
        !strcasecmp(e, "nx5") || !strcasecmp(e, "hdf"))
        return azs_sink_open_hdf5(path, cfg, out);
    if (!strcasecmp(e, "dat") || !strcasecmp(e, "xy") || !strcasecmp(e, "txt"))
        return azs_sink_open_text(path, cfg, out);
    if (!*e)
        return azs_fail(AZS_ERR_INVALID_ARG, "%s: the output's format comes from its extension, and it has "
                        "none (use .h5/.nxs or .dat/.xy)", path);
    return azs_fail(AZS_ERR_INVALID_ARG,
                    "%s: output format unknown from its extension '.%s' (use .h5/.nxs or .dat/.xy)",
                    path, e);
}

azs_status azs_sink_write(azs_sink *s, uint64_t frame, const double *intensity,
                          const double *sigma, azs_status frame_status)
{
    if (!s || !intensity)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_sink_write: sink and intensity are required");
    azs_status st = s->write(s, frame, intensity, sigma, frame_status);
    if (st == AZS_OK) {
        s->rows++;
        if (frame_status != AZS_OK)
            s->bad++;
    }
    return st;
}

azs_status azs_sink_flush(azs_sink *s)
{
    return s ? s->flush(s) : AZS_OK;
}

uint64_t azs_sink_frames_written(const azs_sink *s)
{
    return s ? s->rows : 0;
}

azs_status azs_sink_close(azs_sink *s)
{
    return s ? s->close(s) : AZS_OK;
}

void azs_sink_discard(azs_sink *s)
{
    if (s)
        s->discard(s);
}

uint64_t azs_sink_resumed_rows(const azs_sink *s)
{
    return s ? s->resumed : 0;
}

const char *azs_sink_resume_note(const azs_sink *s)
{
    return s ? s->resume_note : "";
}

static azs_status ops_write(void *ctx, uint64_t frame, const double *i, const double *sg,
                            azs_status fs)
{
    return azs_sink_write(ctx, frame, i, sg, fs);
}

azs_sink_ops azs_sink_as_ops(azs_sink *s)
{
    azs_sink_ops o = {s, ops_write};
    return o;
}

static azs_status null_write(void *ctx, uint64_t frame, const double *i, const double *sg,
                             azs_status fs)
{
    (void)frame, (void)i, (void)sg, (void)fs;
    if (ctx)
        (*(uint64_t *)ctx)++;
    return AZS_OK;
}

azs_sink_ops azs_null_sink_ops(uint64_t *counter)
{
    azs_sink_ops o = {counter, null_write};
    return o;
}
