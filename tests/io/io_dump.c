/* Test tool: opens a source and dumps what it sees, for tests/io/check_source.py.
 *   io_dump FILE DATASET|- OUTDIR
 * writes OUTDIR/info.txt (key value lines, parts), OUTDIR/raw.bin + raw.idx (raw chunk of
 * each frame and its 'frame offset size' line, when the read path gives raw chunks) and OUTDIR/frames.bin (decoded frames,
 * concatenated; absent when decoding fails, with the reason in info.txt). Exit 0 when the
 * open succeeds, 1 otherwise (message on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/source.h"

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: io_dump FILE DATASET|- OUTDIR\n");
        return 2;
    }
    azs_source *src;
    azs_status s = azs_source_open(argv[1], strcmp(argv[2], "-") ? argv[2] : NULL, &src);
    if (s) {
        fprintf(stderr, "open: %s: %s\n", azs_status_str(s), azs_last_error());
        return 1;
    }
    const azs_source_info *in = azs_source_get_info(src);
    char path[4096];
    snprintf(path, sizeof path, "%s/info.txt", argv[3]);
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    fprintf(f, "nframes %llu\nny %u\nnx %u\ndtype %s\nelem_size %zu\ncodec %d\nfilter_id %u\n",
            (unsigned long long)in->nframes, in->ny, in->nx, azs_dtype_name(in->dtype),
            in->elem_size, (int)in->codec, in->filter_id);
    fprintf(f, "filter_params");
    for (size_t i = 0; i < in->n_filter_params; i++)
        fprintf(f, " %u", in->filter_params[i]);
    fprintf(f, "\nchunk %llu %llu %llu\nmax_chunk_bytes %zu\nstored_bytes %llu\nread_path %d\n"
               "nparts %zu\n",
            (unsigned long long)in->chunk_dims[0], (unsigned long long)in->chunk_dims[1],
            (unsigned long long)in->chunk_dims[2], in->max_chunk_bytes,
            (unsigned long long)in->stored_bytes, (int)in->read_path, in->nparts);
    for (size_t i = 0; i < in->nparts; i++) {
        azs_source_part p;
        azs_source_get_part(src, i, &p);
        fprintf(f, "part %llu %llu %s %s\n", (unsigned long long)p.first_frame,
                (unsigned long long)p.nframes, p.file, p.dataset);
    }
    int rc = 0;
    if (in->read_path != AZS_READ_FILTERED) {
        void *buf = malloc(in->max_chunk_bytes ? in->max_chunk_bytes : 1);
        snprintf(path, sizeof path, "%s/raw.bin", argv[3]);
        FILE *r = fopen(path, "wb");
        snprintf(path, sizeof path, "%s/raw.idx", argv[3]);
        FILE *ix = fopen(path, "w");
        long long pos = 0;
        if (!r || !ix)
            return 1;
        for (uint64_t i = 0; i < in->nframes; i++) {
            size_t n = 0;
            s = azs_source_read_raw(src, i, buf, in->max_chunk_bytes, &n);
            if (s) {
                fprintf(f, "raw_error %llu %s: %s\n", (unsigned long long)i, azs_status_str(s),
                        azs_last_error());
                continue;
            }
            if (fwrite(buf, 1, n, r) != n)
                rc = 1;
            fprintf(ix, "%llu %lld %zu\n", (unsigned long long)i, pos, n);
            pos += (long long)n;
        }
        fclose(r);
        fclose(ix);
        free(buf);
    }
    void *px = malloc(in->frame_bytes);
    snprintf(path, sizeof path, "%s/frames.bin", argv[3]);
    FILE *fr = fopen(path, "wb");
    for (uint64_t i = 0; i < in->nframes && fr; i++) {
        s = azs_source_read_frame(src, i, px, in->frame_bytes);
        if (s) {
            fprintf(f, "frame_error %llu %s: %s\n", (unsigned long long)i, azs_status_str(s),
                    azs_last_error());
            fclose(fr);
            fr = NULL;
            remove(path);
            break;
        }
        if (fwrite(px, 1, in->frame_bytes, fr) != in->frame_bytes)
            rc = 1;
    }
    if (fr)
        fclose(fr);
    free(px);
    fclose(f);
    azs_source_close(src);
    return rc;
}
