/* Test tool: decodes one Stream V2 message file and prints what it holds, one line per
 * channel ("image_id 0 threshold_1: bslz4 uint16 (514, 1030)"); with CHANNEL OUT, writes
 * that channel's decoded pixels (C order, little-endian) to OUT.
 * Usage: stream_tool FILE.cbor [CHANNEL OUT.raw]. Exit 1 with the library's message on error. */
#include <stdio.h>
#include <stdlib.h>

#include "azstream/stream.h"
#include "../common/slurp.h"

static const char *codec_name(azs_codec c)
{
    return c == AZS_CODEC_BSLZ4 ? "bslz4" : c == AZS_CODEC_LZ4 ? "lz4" : "raw";
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4) {
        fprintf(stderr, "usage: stream_tool FILE.cbor [CHANNEL OUT.raw]\n");
        return 2;
    }
    size_t n = 0;
    uint8_t *buf = slurp(argv[1], &n);
    azs_stream_msg *m = NULL;
    azs_status st = buf ? azs_stream_msg_decode(buf, n, &m) : AZS_ERR_IO;
    free(buf);
    if (st != AZS_OK) {
        fprintf(stderr, "stream_tool: %s: %s: %s\n", argv[1], azs_status_str(st), azs_last_error());
        return 1;
    }
    if (m->type == AZS_STREAM_END) {
        printf("end series_id %llu\n", (unsigned long long)m->end_series_id);
    } else if (m->type == AZS_STREAM_START) {
        printf("start series_id %llu\n", (unsigned long long)m->start.series_id);
    } else {
        for (int c = 0; c < m->image.nchannels; c++) {
            const azs_stream_array *a = &m->image.data[c].a;
            printf("image_id %llu %s: %s %s (%u, %u)\n", (unsigned long long)m->image.image_id,
                   m->image.data[c].name, codec_name(a->codec), azs_dtype_name(a->dtype), a->ny, a->nx);
        }
    }
    int rc = 0;
    if (argc == 4 && m->type == AZS_STREAM_IMAGE) {
        const azs_stream_array *a = azs_stream_image_channel(&m->image, argv[2]);
        size_t cap = a ? (size_t)a->ny * a->nx * a->elem_size : 0;
        void *px = a ? malloc(cap) : NULL;
        if (!a || !px || (st = azs_stream_array_decode(a, px, cap)) != AZS_OK) {
            fprintf(stderr, "stream_tool: %s: channel %s: %s\n", argv[1], argv[2], a ? azs_last_error() : "absent");
            rc = 1;
        } else {
            FILE *f = fopen(argv[3], "wb");
            rc = !f || fwrite(px, 1, cap, f) != cap;
            if (f)
                fclose(f);
        }
        free(px);
    }
    azs_stream_msg_free(m);
    return rc;
}
