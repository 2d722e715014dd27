/* Test helper driven by golden_codec.py: decodes raw chunk files and encodes raw arrays
 * with our codec, so that the Python side can compare with the reference (h5py +
 * hdf5plugin / bitshuffle) without any HDF5 in C.
 *
 * Usage: codec_files DIR. DIR/manifest.txt has one case per line:
 *     NAME CODEC ELEM_SIZE BLOCK_ELEMS NBYTES ENCODE
 * For each case: DIR/NAME.chunk (if present) is decoded into DIR/NAME.dec (or the error
 * into DIR/NAME.err); with ENCODE = 1, DIR/NAME.raw is encoded into DIR/NAME.enc and
 * also decoded back by the OpenMP decoder into DIR/NAME.omp (bslz4 only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "../common/slurp.h"

static int spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = n ? fwrite(p, 1, n, f) : 0;
    fclose(f);
    return w == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    char path[4096], name[512];
    snprintf(path, sizeof path, "%s/manifest.txt", argv[1]);
    FILE *m = fopen(path, "r");
    if (!m) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    int codec, enc, bad = 0, cases = 0;
    size_t s, be, nbytes;
    while (fscanf(m, "%511s %d %zu %zu %zu %d", name, &codec, &s, &be, &nbytes, &enc) == 6) {
        cases++;
        size_t len;
        snprintf(path, sizeof path, "%s/%s.chunk", argv[1], name);
        uint8_t *chunk = slurp(path, &len);
        uint8_t *dst = malloc(nbytes ? nbytes : 1);
        if (chunk) {
            size_t out = 0;
            azs_status st = azs_chunk_decode((azs_codec)codec, s, chunk, len, dst, nbytes, &out);
            if (st == AZS_OK && out == nbytes) {
                snprintf(path, sizeof path, "%s/%s.dec", argv[1], name);
                spit(path, dst, out);
            } else {
                char msg[1024];
                int k = snprintf(msg, sizeof msg, "%s: %s (decoded %zu of %zu)\n",
                                 azs_status_str(st), azs_last_error(), out, nbytes);
                snprintf(path, sizeof path, "%s/%s.err", argv[1], name);
                spit(path, msg, (size_t)k);
                bad++;
            }
            free(chunk);
        }
        if (enc) {
            snprintf(path, sizeof path, "%s/%s.raw", argv[1], name);
            uint8_t *raw = slurp(path, &len);
            size_t cap = azs_chunk_encode_bound((azs_codec)codec, len, s, be), out = 0;
            uint8_t *e = malloc(cap ? cap : 1);
            azs_status st = raw && e ? azs_chunk_encode((azs_codec)codec, s, be, raw, len, e, cap, &out)
                                     : AZS_ERR_IO;
            if (st == AZS_OK) {
                snprintf(path, sizeof path, "%s/%s.enc", argv[1], name);
                spit(path, e, out);
                if (codec == AZS_CODEC_BSLZ4 &&
                    azs_bslz4_decode_omp(s, e, out, dst, nbytes, &out) == AZS_OK) {
                    snprintf(path, sizeof path, "%s/%s.omp", argv[1], name);
                    spit(path, dst, out);
                }
            } else {
                fprintf(stderr, "%s: encode failed: %s: %s\n", name, azs_status_str(st), azs_last_error());
                bad++;
            }
            free(raw);
            free(e);
        }
        free(dst);
    }
    fclose(m);
    printf("codec_files: %d cases, %d failed in C\n", cases, bad);
    return 0; /* the Python driver judges */
}
