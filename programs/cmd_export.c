/* azstream export FILE [--dataset P] [--frames a:b] -o OUT.npy|OUT.raw: decoded frames for
 * people who want to look at pixels. .npy: NumPy format 1.0 with the dtype and shape
 * (frames, ny, nx); .raw: the pixels alone, little-endian, frame after frame. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/source.h"
#include "cli.h"

static const char *npy_descr(azs_dtype t)
{
    switch (t) {
    case AZS_U8: return "|u1";
    case AZS_U16: return "<u2";
    case AZS_U32: return "<u4";
    case AZS_U64: return "<u8";
    case AZS_I8: return "|i1";
    case AZS_I16: return "<i2";
    case AZS_I32: return "<i4";
    case AZS_I64: return "<i8";
    case AZS_F32: return "<f4";
    case AZS_F64: return "<f8";
    default: return NULL;
    }
}

/* NumPy .npy version 1.0 header: magic, version, 2-byte LE header length, a Python dict
 * literal padded with spaces and ending in '\n' so the data starts on a 64-byte boundary. */
static int write_npy_header(FILE *f, azs_dtype t, uint64_t n, uint32_t ny, uint32_t nx)
{
    char dict[256];
    int len = snprintf(dict, sizeof dict,
                       "{'descr': '%s', 'fortran_order': False, 'shape': (%" PRIu64 ", %u, %u), }",
                       npy_descr(t), n, ny, nx);
    size_t total = 10 + (size_t)len + 1;
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    if (fwrite(pre, 1, 10, f) != 10 || fwrite(dict, 1, (size_t)len, f) != (size_t)len)
        return -1;
    for (size_t i = 0; i < pad; i++)
        if (fputc(' ', f) == EOF)
            return -1;
    return fputc('\n', f) == EOF ? -1 : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: azstream export FILE [--dataset PATH] [--frames A:B] [--allow-missing] "
               "-o OUT.npy|OUT.raw\n"
               "  (--allow-missing: open a master whose data files are not all there; a frame of\n"
               "  a missing file is still an error)\n"
               "  Writes decoded frames A..B-1 (default: all) as a NumPy .npy file (dtype and\n"
               "  shape kept) or as raw little-endian pixels (.raw).\n");
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && !strcmp(s + n - m, suf);
}

int cmd_export(int argc, char **argv)
{
    const char *file = NULL, *dset = NULL, *out = NULL, *frames = NULL;
    azs_source_options so = {0};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(a, "--dataset") || !strcmp(a, "-d") || !strcmp(a, "--frames") ||
                   !strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (++i >= argc)
                return cli_usage_error("export", "%s needs a value", a);
            if (a[2] == 'd' || a[1] == 'd')
                dset = argv[i];
            else if (a[2] == 'f')
                frames = argv[i];
            else
                out = argv[i];
        } else if (!strcmp(a, "--allow-missing")) {
            so.allow_missing = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("export", "unknown option '%s'", a);
        } else if (!file) {
            file = a;
        } else {
            return cli_usage_error("export", "one FILE only (got '%s' and '%s')", file, a);
        }
    }
    if (!file)
        return cli_usage_error("export", "missing FILE");
    if (!out)
        return cli_usage_error("export", "missing -o OUT.npy|OUT.raw");
    int npy = ends_with(out, ".npy");
    if (!npy && !ends_with(out, ".raw"))
        return cli_usage_error("export", "output '%s' must end in .npy or .raw", out);
    int64_t a = -1, b = -1;
    if (frames && cli_parse_range_i64(frames, &a, &b))
        return cli_usage_error("export", "--frames '%s' is not A:B (0 <= A < B)", frames);

    azs_source *src;
    azs_status s = azs_source_open_opts(file, dset, &so, &src);
    if (s)
        return cli_report("export", s, NULL);
    const azs_source_info *in = azs_source_get_info(src);
    uint64_t first = a < 0 ? 0 : (uint64_t)a, end = b < 0 ? in->nframes : (uint64_t)b;
    if (first >= in->nframes || end > in->nframes) {
        fprintf(stderr, "azstream export: frames %s out of range: '%s' has %" PRIu64 " frames\n",
                frames, file, in->nframes);
        azs_source_close(src);
        return CLI_FAIL;
    }
    FILE *f = fopen(out, "wb");
    if (!f) {
        perror("azstream export: cannot create output");
        azs_source_close(src);
        return CLI_FAIL;
    }
    int rc = CLI_OK;
    void *px = malloc(in->frame_bytes);
    if (!px || (npy && write_npy_header(f, in->dtype, end - first, in->ny, in->nx))) {
        fprintf(stderr, "azstream export: cannot write '%s'\n", out);
        rc = CLI_FAIL;
    }
    for (uint64_t i = first; i < end && rc == CLI_OK; i++) {
        s = azs_source_read_frame(src, i, px, in->frame_bytes);
        if (s) {
            char what[64];
            snprintf(what, sizeof what, "frame %" PRIu64, i);
            rc = cli_report("export", s, what);
        } else if (fwrite(px, 1, in->frame_bytes, f) != in->frame_bytes) {
            fprintf(stderr, "azstream export: writing '%s' failed\n", out);
            rc = CLI_FAIL;
        }
    }
    if (fclose(f) != 0 && rc == CLI_OK) {
        fprintf(stderr, "azstream export: writing '%s' failed\n", out);
        rc = CLI_FAIL;
    }
    if (rc != CLI_OK)
        remove(out);
    free(px);
    azs_source_close(src);
    return rc;
}
