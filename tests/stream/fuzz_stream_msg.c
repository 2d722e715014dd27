/* libFuzzer harness of the Stream V2 message decoder: any bytes, as a message. What it
 * accepts is used as the stream input uses it: every array of an image decoded into a
 * buffer of exactly its announced size, a start message's pixel masks and geometry read
 * (ASan catches any read outside the message or the buffers). */
#include <stdint.h>
#include <stdlib.h>

#include "azstream/stream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    azs_stream_msg *m = NULL;
    if (azs_stream_msg_decode(data, size, &m) != AZS_OK)
        return 0;
    if (m->type == AZS_STREAM_IMAGE) {
        for (int c = 0; c < m->image.nchannels; c++) {
            const azs_stream_array *a = &m->image.data[c].a;
            size_t cap = (size_t)a->ny * a->nx * a->elem_size;
            if (cap > ((size_t)64 << 20))
                continue; /* a legal but huge shape: no point allocating it here */
            void *px = malloc(cap);
            if (px)
                (void)azs_stream_array_decode(a, px, cap);
            free(px);
        }
    } else if (m->type == AZS_STREAM_START) {
        uint8_t *mask = NULL;
        for (int c = 0; c < m->start.npixel_mask; c++) {
            const azs_stream_array *a = &m->start.pixel_mask[c].a;
            if (azs_stream_pixel_mask(&m->start, m->start.pixel_mask[c].name, a->ny, a->nx, &mask, NULL) == AZS_OK)
                free(mask);
        }
        azs_geometry g;
        (void)azs_stream_geometry(&m->start, &g);
    }
    azs_stream_msg_free(m);
    return 0;
}
