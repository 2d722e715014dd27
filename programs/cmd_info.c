/* azstream info FILE [--dataset P]: what the source sees (shape, dtype, chunking, filter,
 * compression ratio, read path, and the parts behind links / virtual datasets). */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "azstream/source.h"
#include "azstream/sink.h"
#include "cli.h"

static const char *codec_name(unsigned id)
{
    switch (id) {
    case 0: return "none";
    case 1: return "deflate (gzip)";
    case 2: return "shuffle";
    case 3: return "fletcher32";
    case 32004: return "lz4";
    case 32008: return "bitshuffle";
    default: return "other";
    }
}

static const char *path_name(azs_read_path p)
{
    switch (p) {
    case AZS_READ_PREAD: return "pread (chunk index read once, no HDF5 per frame)";
    case AZS_READ_DIRECT_CHUNK: return "direct chunk (H5Dread_chunk)";
    default: return "filtered (H5Dread / tiles decoded one frame at a time)";
    }
}

static void usage(FILE *f)
{
    fprintf(f, "usage: azstream info FILE [--dataset PATH] [--allow-missing]\n"
               "  Describes the image stack in FILE (default dataset /entry/data/data; an Eiger\n"
               "  master's data_NNNNNN links and virtual datasets are followed; --allow-missing:\n"
               "  describe a master whose data files are not all there, listing the missing).\n"
               "  An azstream result (NXazint1d / NXazint2d): its rows, bins, units, frames written\n"
               "  and bad, and what wrote it.\n");
}

int cmd_info(int argc, char **argv)
{
    const char *file = NULL, *dset = NULL;
    azs_source_options so = {0};
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return CLI_OK;
        } else if (!strcmp(argv[i], "--dataset") || !strcmp(argv[i], "-d")) {
            if (++i >= argc)
                return cli_usage_error("info", "%s needs a dataset path", argv[i - 1]);
            dset = argv[i];
        } else if (!strcmp(argv[i], "--allow-missing")) {
            so.allow_missing = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("info", "unknown option '%s'", argv[i]);
        } else if (!file) {
            file = argv[i];
        } else {
            return cli_usage_error("info", "one FILE only (got '%s' and '%s')", file, argv[i]);
        }
    }
    if (!file)
        return cli_usage_error("info", "missing FILE");
    azs_result_info ri;
    if (!dset && azs_result_describe(file, &ri) == AZS_OK) { /* an integration result */
        printf("file:        %s\n", file);
        printf("result:      %s, written by %s %s on %s\n", ri.definition, ri.program, ri.version, ri.date);
        if (ri.rank == 3)
            printf("I:           (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ") rows x azimuthal x radial bins%s\n",
                   ri.shape[0], ri.shape[1], ri.shape[2], ri.with_errors ? ", with I_errors" : "");
        else
            printf("I:           (%" PRIu64 ", %" PRIu64 ") rows x radial bins%s\n", ri.shape[0], ri.shape[1],
                   ri.with_errors ? ", with I_errors" : "");
        printf("units:       radial %s%s%s\n", ri.radial_unit, ri.azimuthal_unit[0] ? ", azimuthal " : "",
               ri.azimuthal_unit);
        printf("frames:      %" PRIu64 " written, %" PRIu64 " bad (frame_status != 0)%s\n", ri.frames_written,
               ri.frames_bad, ri.frames_written < ri.shape[0] ? " (rows past frames_written are not valid)" : "");
        printf("configuration: /entry/reduction/input/configuration (pyFAI v5: .../pyfai_config)\n");
        return CLI_OK;
    }
    azs_source *src;
    azs_status s = azs_source_open_opts(file, dset, &so, &src);
    if (s)
        return cli_report("info", s, NULL);
    const azs_source_info *in = azs_source_get_info(src);
    printf("file:        %s\n", file);
    printf("dataset:     %s%s\n", dset ? dset : "/entry/data/data",
           in->nparts > 1 ? " (resolved to the parts below)" : "");
    printf("frames:      %" PRIu64 "\n", in->nframes);
    printf("shape:       (%" PRIu64 ", %u, %u)\n", in->nframes, in->ny, in->nx);
    printf("dtype:       %s\n", azs_dtype_name(in->dtype));
    if (in->chunk_dims[1])
        printf("chunks:      (%" PRIu64 ", %" PRIu64 ", %" PRIu64 ")%s\n", in->chunk_dims[0],
               in->chunk_dims[1], in->chunk_dims[2],
               in->chunk_dims[0] == 1 && in->chunk_dims[1] == in->ny && in->chunk_dims[2] == in->nx
                   ? " (one frame per chunk)"
                   : "");
    else
        printf("chunks:      none (contiguous or virtual)\n");
    printf("filter:      %u (%s)", in->filter_id, codec_name(in->filter_id));
    if (in->n_filter_params) {
        printf(" params (");
        for (size_t i = 0; i < in->n_filter_params; i++)
            printf("%s%u", i ? ", " : "", in->filter_params[i]);
        printf(")");
    }
    if (in->filter_id == 32008 && in->n_filter_params > 4)
        printf(": block %u elements%s, %s", in->filter_params[3],
               in->filter_params[3] ? "" : " (default)",
               in->filter_params[4] == 2 ? "lz4" : "other compression");
    printf("\n");
    uint64_t raw = in->nframes * (uint64_t)in->frame_bytes;
    if (in->stored_bytes)
        printf("stored:      %" PRIu64 " bytes for %" PRIu64 " decoded: ratio %.2f\n",
               in->stored_bytes, raw, (double)raw / (double)in->stored_bytes);
    else
        printf("stored:      unknown (no chunk index on this read path)\n");
    if (in->max_chunk_bytes)
        printf("max chunk:   %zu bytes\n", in->max_chunk_bytes);
    printf("read path:   %s\n", path_name(in->read_path));
    if (in->read_path == AZS_READ_PREAD)
        printf("index:       %zu of %zu parts read in one walk of the file's index (others: "
               "libhdf5, chunk by chunk)\n", in->nparts_walked, in->nparts);
    printf("parts:       %zu\n", in->nparts);
    if (in->nparts_missing)
        printf("missing:     %zu data files, %" PRIu64 " frames (absent)\n", in->nparts_missing,
               in->frames_missing);
    for (size_t i = 0; i < in->nparts; i++) {
        azs_source_part p;
        if (azs_source_get_part(src, i, &p) == AZS_OK)
            printf("  [%" PRIu64 ", %" PRIu64 ")  %s : %s%s\n", p.first_frame,
                   p.first_frame + p.nframes, p.file, p.dataset, p.missing ? "  (missing)" : "");
    }
    azs_source_close(src);
    return CLI_OK;
}
