/* azs_array_load: 2D arrays for mask / dark / flat from .npy, HDF5, EDF or TIFF files.
 * Small hand-written readers: .npy (format 1.0-3.0, C order, little/big endian, integer
 * or float dtypes) and EDF (ASCII header in {}, then raw data; DataType, Dim_1/Dim_2,
 * ByteOrder); HDF5 and TIFF through their libraries. Every size read from a file is checked
 * against the file's length. */
#define _POSIX_C_SOURCE 200809L
#include "azstream/arrays.h"

#include <hdf5.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "common/error.h"
#include "h5/h5lock.h"
#include <tiffio.h>

typedef enum { K_INT, K_UINT, K_FLOAT } kind_t;

static int host_le(void)
{
    const uint16_t x = 1;
    return *(const uint8_t *)&x == 1;
}

/* Convert n elements of (kind, size, endianness) to float. */
static int convert(const uint8_t *src, size_t n, kind_t k, size_t sz, int le, float *dst)
{
    int swap = le != host_le();
    for (size_t i = 0; i < n; i++) {
        uint8_t b[8];
        memcpy(b, src + i * sz, sz);
        if (swap)
            for (size_t j = 0; j < sz / 2; j++) {
                uint8_t t = b[j];
                b[j] = b[sz - 1 - j];
                b[sz - 1 - j] = t;
            }
        double v;
        if (k == K_FLOAT) {
            if (sz == 4) { float f; memcpy(&f, b, 4); v = f; }
            else if (sz == 8) { memcpy(&v, b, 8); }
            else return -1;
        } else if (k == K_UINT) {
            if (sz == 1) v = b[0];
            else if (sz == 2) { uint16_t u; memcpy(&u, b, 2); v = u; }
            else if (sz == 4) { uint32_t u; memcpy(&u, b, 4); v = u; }
            else if (sz == 8) { uint64_t u; memcpy(&u, b, 8); v = (double)u; }
            else return -1;
        } else {
            if (sz == 1) v = (int8_t)b[0];
            else if (sz == 2) { int16_t u; memcpy(&u, b, 2); v = u; }
            else if (sz == 4) { int32_t u; memcpy(&u, b, 4); v = u; }
            else if (sz == 8) { int64_t u; memcpy(&u, b, 8); v = (double)u; }
            else return -1;
        }
        dst[i] = (float)v;
    }
    return 0;
}

static azs_status slurp(const char *path, uint8_t **buf, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: cannot open", path);
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return azs_fail(AZS_ERR_IO, "%s: cannot seek", path);
    }
    long n = ftell(f);
    rewind(f);
    if (n < 0) {
        fclose(f);
        return azs_fail(AZS_ERR_IO, "%s: cannot size", path);
    }
    *buf = malloc((size_t)n + 1);
    if (!*buf) {
        fclose(f);
        return azs_fail(AZS_ERR_NOMEM, "%s: %ld bytes", path, n);
    }
    size_t got = fread(*buf, 1, (size_t)n, f);
    fclose(f);
    if (got != (size_t)n) {
        free(*buf);
        return azs_fail(AZS_ERR_IO, "%s: short read", path);
    }
    (*buf)[n] = 0;
    *len = (size_t)n;
    return AZS_OK;
}

static azs_status load_npy(const char *path, uint32_t frame, float **out, uint32_t *ny, uint32_t *nx,
                           uint32_t *nframes)
{
    uint8_t *b;
    size_t len;
    azs_status st = slurp(path, &b, &len);
    if (st != AZS_OK)
        return st;
    st = AZS_ERR_PARSE;
    const char *why = "not a .npy file";
    size_t hlen, off;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0)
        goto bad;
    if (b[6] == 1) {
        hlen = (size_t)b[8] | ((size_t)b[9] << 8);
        off = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (len < 12)
            goto bad;
        hlen = (size_t)b[8] | ((size_t)b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24);
        off = 12;
    } else {
        why = "unknown .npy version";
        goto bad;
    }
    why = "header runs past the end";
    if (hlen > len - off)
        goto bad;
    char *h = malloc(hlen + 1);
    if (!h) {
        free(b);
        return azs_fail(AZS_ERR_NOMEM, "%s", path);
    }
    memcpy(h, b + off, hlen);
    h[hlen] = 0;
    char *d = strstr(h, "'descr'"), *fo = strstr(h, "'fortran_order'"), *sh = strstr(h, "'shape'");
    why = "header lacks descr/fortran_order/shape";
    if (!d || !fo || !sh) {
        free(h);
        goto bad;
    }
    const char *fv = fo + 15;
    fv += strspn(fv, " :");
    int fortran = strncmp(fv, "True", 4) == 0;
    char endian = 0, kc = 0;
    unsigned sz = 0;
    d = strchr(d + 7, '\'');
    why = "unsupported dtype";
    if (!d || sscanf(d + 1, "%c%c%u", &endian, &kc, &sz) != 3) {
        free(h);
        goto bad;
    }
    sh = strchr(sh, '(');
    unsigned long long dims[3] = {0, 0, 0};
    int nd = 0;
    while (sh && nd < 3) {
        char *e;
        sh++;
        sh += strspn(sh, " ");
        if (*sh == ')')
            break;
        dims[nd++] = strtoull(sh, &e, 10);
        sh = strpbrk(e, ",)");
        if (!sh || *sh == ')')
            break;
    }
    free(h);
    kind_t k = kc == 'f' ? K_FLOAT : kc == 'u' ? K_UINT : (kc == 'i' ? K_INT : (kc == 'b' ? K_UINT : 99));
    if (k == 99 || (sz != 1 && sz != 2 && sz != 4 && sz != 8))
        goto bad;
    why = "need a 2D array (or 3D: frames), C order";
    if (fortran || nd < 2 || (nd == 3 && (dims[0] == 0 || dims[0] > UINT32_MAX)))
        goto bad;
    unsigned long long r = dims[nd - 2], c = dims[nd - 1], nf = nd == 3 ? dims[0] : 1;
    why = "data shorter than the shape says";
    if (r == 0 || c == 0 || r > UINT32_MAX || c > UINT32_MAX || r * c > (len - off - hlen) / sz / nf)
        goto bad;
    why = "no such frame";
    if (frame >= nf)
        goto bad;
    *nframes = (uint32_t)nf;
    off += (size_t)(frame * r * c * sz);
    float *a = malloc(sizeof(float) * r * c);
    if (!a) {
        free(b);
        return azs_fail(AZS_ERR_NOMEM, "%s", path);
    }
    if (convert(b + off + hlen, r * c, k, sz, endian != '>', a)) {
        free(a);
        why = "unsupported dtype";
        goto bad;
    }
    free(b);
    *out = a;
    *ny = (uint32_t)r;
    *nx = (uint32_t)c;
    return AZS_OK;
bad:
    free(b);
    return azs_fail(st, "%s: %s", path, why);
}

static const char *edf_key(const char *hdr, const char *key, char *val, size_t cap)
{
    const char *p = hdr;
    size_t kl = strlen(key);
    while ((p = strstr(p, key)) != NULL) {
        const char *q = p + kl;
        q += strspn(q, " \t");
        if ((p == hdr || p[-1] == '\n' || p[-1] == ' ' || p[-1] == '{') && *q == '=') {
            q++;
            q += strspn(q, " \t");
            size_t n = strcspn(q, ";\n");
            while (n && q[n - 1] == ' ')
                n--;
            if (n >= cap)
                n = cap - 1;
            memcpy(val, q, n);
            val[n] = 0;
            return val;
        }
        p = q;
    }
    return NULL;
}

static azs_status load_edf(const char *path, uint32_t frame, float **out, uint32_t *ny, uint32_t *nx,
                           uint32_t *nframes)
{
    uint8_t *b;
    size_t len;
    azs_status st = slurp(path, &b, &len);
    if (st != AZS_OK)
        return st;
    const char *why = "no EDF header";
    /* Frames are header + data blocks, one after the other; fabio/pyFAI read the first. */
    size_t pos = 0;
    uint32_t count = 0;
    float *a = NULL;
    while (pos < len) {
        uint8_t *hb = b + pos;
        size_t rem = len - pos;
        uint8_t *end = memchr(hb, '}', rem);
        if (hb[0] != '{' || !end) {
            if (count)
                break; /* bytes after the last frame */
            goto bad;
        }
        size_t hlen = (size_t)(end - hb) + 1;
        while (hlen < rem && (hb[hlen] == '\n' || hb[hlen] == '\r'))
            hlen++;
        *end = 0;
        char v[64], bo[64] = "LowByteFirst", ty[64];
        unsigned long long d1 = 0, d2 = 0;
        why = "EDF header lacks Dim_1/Dim_2/DataType";
        if (!edf_key((char *)hb, "Dim_1", v, sizeof v) || (d1 = strtoull(v, NULL, 10)) == 0 ||
            !edf_key((char *)hb, "Dim_2", v, sizeof v) || (d2 = strtoull(v, NULL, 10)) == 0 ||
            !edf_key((char *)hb, "DataType", ty, sizeof ty))
            goto bad;
        edf_key((char *)hb, "ByteOrder", bo, sizeof bo);
        if (edf_key((char *)hb, "Compression", v, sizeof v) && strcasecmp(v, "None") && strcasecmp(v, "NO")) {
            why = "compressed EDF is not supported";
            goto bad;
        }
        static const struct { const char *n; kind_t k; size_t sz; } types[] = {
            {"UnsignedByte", K_UINT, 1}, {"SignedByte", K_INT, 1}, {"UnsignedShort", K_UINT, 2},
            {"SignedShort", K_INT, 2}, {"UnsignedInteger", K_UINT, 4}, {"SignedInteger", K_INT, 4},
            {"UnsignedLong", K_UINT, 4}, {"SignedLong", K_INT, 4}, {"FloatValue", K_FLOAT, 4},
            {"Float", K_FLOAT, 4}, {"DoubleValue", K_FLOAT, 8}, {"Double", K_FLOAT, 8},
        };
        size_t ti = 0;
        while (ti < sizeof types / sizeof types[0] && strcasecmp(types[ti].n, ty))
            ti++;
        why = "unsupported EDF DataType";
        if (ti == sizeof types / sizeof types[0])
            goto bad;
        /* The data follows the header (padded to 512). */
        size_t sz = types[ti].sz;
        why = "EDF data shorter than Dim_1 × Dim_2";
        if (d1 > UINT32_MAX || d2 > UINT32_MAX || d1 * d2 > (rem - hlen) / sz)
            goto bad;
        if (count == frame) {
            if (!(a = malloc(sizeof(float) * d1 * d2))) {
                free(b);
                return azs_fail(AZS_ERR_NOMEM, "%s", path);
            }
            convert(hb + hlen, d1 * d2, types[ti].k, sz, strcasecmp(bo, "HighByteFirst") != 0, a);
            *ny = (uint32_t)d2; /* Dim_1 is the fast axis */
            *nx = (uint32_t)d1;
        }
        count++;
        pos += hlen + (size_t)(d1 * d2 * sz);
        while (pos < len && (b[pos] == '\n' || b[pos] == '\r' || b[pos] == ' '))
            pos++;
    }
    why = "no such frame";
    if (!a)
        goto bad;
    free(b);
    *out = a;
    *nframes = count;
    return AZS_OK;
bad:
    free(a);
    free(b);
    return azs_fail(AZS_ERR_PARSE, "%s: %s", path, why);
}

/* libtiff's messages go to this handler (per file, not the process-wide one: the library
 * never prints); the first error is kept for the failure message. */
typedef struct { char msg[256]; } tiff_err_t;

/* fmt is libtiff's printf format (the attribute tells clang's -Wformat-nonliteral so) */
__attribute__((format(printf, 4, 0))) static int tiff_on_error(TIFF *t, void *ud, const char *mod, const char *fmt,
                                                               va_list ap)
{
    (void)t;
    (void)mod;
    tiff_err_t *e = ud;
    if (e && !e->msg[0])
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    return 1; /* handled: not passed to the global handler */
}

static int tiff_on_warning(TIFF *t, void *ud, const char *mod, const char *fmt, va_list ap)
{
    (void)t, (void)ud, (void)mod, (void)fmt, (void)ap;
    return 1;
}

/* What a TIFF header may ask of us: a hostile header of a few bytes can claim 2^32 x 2^32
 * pixels, and compressed data cannot be bounded by the file's length. The limits are far
 * above any detector (the largest are ~6000 x 6000), so they refuse only lies. */
#define TIFF_MAX_SIDE (1u << 20)      /* pixels in a row or a column (of the image, a tile) */
#define TIFF_MAX_PIXELS (1u << 28)    /* pixels of the image (1 GiB of floats) */
#define TIFF_MAX_TILE_PIXELS (1u << 22)
#define TIFF_MAX_LIBTIFF_ALLOC ((tmsize_t)256 << 20) /* one allocation inside libtiff */

/* Whether the stored image data can hold `need` decoded bytes: a header of a few bytes may
 * declare a large image whose strips are missing or empty (libtiff then gives rows of
 * zeros: a 1 KB file became a 1048575 x 43 image, 180 MB, in the TIFF fuzzer). The stored
 * bytes (every strip or tile's byte count, at most the file's size) times the largest
 * expansion of the compression must reach the image's size: 1 uncompressed, 64 PackBits
 * (2 bytes give 128), Deflate 1032 (its format's limit), LZW 4096 / 1.5 (a 12-bit code
 * gives at most 4096 bytes). Other codecs (zstd, LZMA, JPEG, ...) have no useful bound and
 * keep only the size caps. */
static int tiff_data_can_hold(TIFF *t, uint64_t need, uint64_t file_size)
{
    uint16_t comp = COMPRESSION_NONE;
    TIFFGetFieldDefaulted(t, TIFFTAG_COMPRESSION, &comp);
    uint64_t ratio;
    switch (comp) {
    case COMPRESSION_NONE: ratio = 1; break;
    case COMPRESSION_PACKBITS: ratio = 64; break;
    case COMPRESSION_DEFLATE:
    case COMPRESSION_ADOBE_DEFLATE: ratio = 1032; break;
    case COMPRESSION_LZW: ratio = 2731; break;
    default: return 1;
    }
    uint32_t n = TIFFIsTiled(t) ? TIFFNumberOfTiles(t) : TIFFNumberOfStrips(t);
    uint64_t stored = 0;
    for (uint32_t i = 0; i < n && stored < file_size; i++) {
        int err = 0;
        uint64_t c = TIFFGetStrileByteCountWithErr(t, i, &err);
        if (err)
            return 0;
        stored += c < file_size ? c : file_size;
    }
    if (stored > file_size)
        stored = file_size;
    return need / ratio <= stored;
}

/* Make room for `rows` rows of w floats in *a (capacity *cap rows): the image array grows
 * with the rows actually decoded, doubling, so a header that lies about the height costs
 * what the data holds, not what the header says. */
static int tiff_grow(float **a, uint32_t *cap, uint32_t rows, uint32_t w, uint32_t h)
{
    if (rows <= *cap)
        return 0;
    uint32_t n = *cap ? *cap : 64;
    while (n < rows)
        n = n > h / 2 ? h : 2 * n;
    if (n > h)
        n = h;
    float *b = realloc(*a, sizeof(float) * (size_t)n * w);
    if (!b)
        return -1;
    *a = b;
    *cap = n;
    return 0;
}

/* First directory only (fabio reads the first frame of a TIFF): one sample per pixel of
 * 8/16/32-bit unsigned, 16/32-bit signed integers or 32/64-bit floats, striped or tiled,
 * any compression libtiff decodes. */
static azs_status load_tiff(const char *path, uint32_t frame, float **out, uint32_t *ny, uint32_t *nx,
                            uint32_t *nframes)
{
    tiff_err_t err = {{0}};
    TIFFOpenOptions *opts = TIFFOpenOptionsAlloc();
    if (!opts)
        return azs_fail(AZS_ERR_NOMEM, "%s", path);
    TIFFOpenOptionsSetErrorHandlerExtR(opts, tiff_on_error, &err);
    TIFFOpenOptionsSetWarningHandlerExtR(opts, tiff_on_warning, NULL);
    TIFFOpenOptionsSetMaxSingleMemAlloc(opts, TIFF_MAX_LIBTIFF_ALLOC);
    TIFF *t = TIFFOpenExt(path, "r", opts);
    TIFFOpenOptionsFree(opts);
    if (!t) {
        FILE *f = fopen(path, "rb");
        if (!f)
            return azs_fail(AZS_ERR_NOT_FOUND, "%s: cannot open", path);
        fclose(f);
        return azs_fail(AZS_ERR_PARSE, "%s: not a TIFF file (%s)", path, err.msg[0] ? err.msg : "?");
    }
    struct stat sb;
    const uint64_t file_size = fstat(TIFFFileno(t), &sb) == 0 ? (uint64_t)sb.st_size : UINT64_MAX;
    const char *why = "no such frame (a TIFF gives its first image only)";
    float *a = NULL;
    uint32_t cap = 0; /* rows allocated in a */
    uint8_t *buf = NULL;
    uint32_t w = 0, h = 0;
    uint16_t bps = 0, spp = 1, fmt = SAMPLEFORMAT_UINT;
    if (frame != 0)
        goto bad;
    why = "TIFF lacks ImageWidth/ImageLength/BitsPerSample";
    if (!TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h) ||
        !TIFFGetFieldDefaulted(t, TIFFTAG_BITSPERSAMPLE, &bps) || w == 0 || h == 0)
        goto bad;
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(t, TIFFTAG_SAMPLEFORMAT, &fmt);
    why = "TIFF: need one sample per pixel (a grey image)";
    if (spp != 1)
        goto bad;
    kind_t k = fmt == SAMPLEFORMAT_IEEEFP ? K_FLOAT : fmt == SAMPLEFORMAT_INT ? K_INT : K_UINT;
    why = "TIFF: unsupported sample type";
    if (fmt != SAMPLEFORMAT_UINT && fmt != SAMPLEFORMAT_INT && fmt != SAMPLEFORMAT_IEEEFP)
        goto bad;
    if (k == K_FLOAT ? (bps != 32 && bps != 64) : (bps != 8 && bps != 16 && bps != 32))
        goto bad;
    const size_t sz = bps / 8u, row = (size_t)w * sz;
    why = "TIFF: image larger than any detector (at most 2^20 pixels a side, 2^28 in all)";
    if (w > TIFF_MAX_SIDE || h > TIFF_MAX_SIDE || (uint64_t)w * h > TIFF_MAX_PIXELS)
        goto bad;
    err.msg[0] = 0; /* what libtiff said of the header (unknown tags, ...) is not why the data fails */
    why = "TIFF: the file's image data is too short for the image its header declares";
    if (!tiff_data_can_hold(t, (uint64_t)h * row, file_size))
        goto bad;
    int le = host_le(); /* libtiff returns samples in host order */
    why = "TIFF: cannot decode the image data";
    if (TIFFIsTiled(t)) {
        uint32_t tw = 0, th = 0;
        if (!TIFFGetField(t, TIFFTAG_TILEWIDTH, &tw) || !TIFFGetField(t, TIFFTAG_TILELENGTH, &th) || !tw ||
            !th || tw > TIFF_MAX_SIDE || th > TIFF_MAX_SIDE || (uint64_t)tw * th > TIFF_MAX_TILE_PIXELS ||
            (uint64_t)TIFFTileSize64(t) != (uint64_t)tw * th * sz)
            goto bad;
        if (!(buf = malloc((size_t)tw * th * sz)))
            goto nomem;
        for (uint32_t y0 = 0; y0 < h; y0 += th) {
            uint32_t ch = h - y0 < th ? h - y0 : th;
            for (uint32_t x0 = 0; x0 < w; x0 += tw) {
                if (TIFFReadTile(t, buf, x0, y0, 0, 0) < 0)
                    goto bad;
                if (tiff_grow(&a, &cap, y0 + ch, w, h)) /* once a tile of these rows decoded */
                    goto nomem;
                uint32_t cw = w - x0 < tw ? w - x0 : tw;
                for (uint32_t y = 0; y < ch; y++)
                    convert(buf + (size_t)y * tw * sz, cw, k, sz, le, a + (size_t)(y0 + y) * w + x0);
            }
        }
    } else {
        if ((uint64_t)TIFFScanlineSize64(t) != (uint64_t)row)
            goto bad;
        if (!(buf = malloc(row)))
            goto nomem;
        for (uint32_t y = 0; y < h; y++) {
            if (TIFFReadScanline(t, buf, y, 0) < 0)
                goto bad;
            if (tiff_grow(&a, &cap, y + 1, w, h))
                goto nomem;
            convert(buf, w, k, sz, le, a + (size_t)y * w);
        }
    }
    free(buf);
    TIFFClose(t);
    *out = a;
    *ny = h;
    *nx = w;
    *nframes = 1;
    return AZS_OK;
nomem:
    free(a);
    free(buf);
    TIFFClose(t);
    return azs_fail(AZS_ERR_NOMEM, "%s", path);
bad:
    free(a);
    free(buf);
    TIFFClose(t);
    if (err.msg[0])
        return azs_fail(AZS_ERR_PARSE, "%s: %s (%s)", path, why, err.msg);
    return azs_fail(AZS_ERR_PARSE, "%s: %s", path, why);
}

typedef struct { char name[1024]; } found_t;

static herr_t find_2d(hid_t obj, const char *name, const H5O_info_t *info, void *op)
{
    found_t *f = op;
    if (info->type != H5O_TYPE_DATASET || f->name[0])
        return 0;
    hid_t d = H5Dopen2(obj, name, H5P_DEFAULT);
    if (d < 0)
        return 0;
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    H5Sclose(sp);
    H5Dclose(d);
    if (nd == 2 && strlen(name) < sizeof f->name)
        snprintf(f->name, sizeof f->name, "%s", name);
    return 0;
}

static azs_status load_h5_locked(const char *file, const char *dset, uint32_t frame, float **out, uint32_t *ny,
                                 uint32_t *nx, uint32_t *nframes)
{
    hid_t f = H5Fopen(file, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: cannot open as HDF5", file);
    found_t fd = {{0}};
    if (dset && *dset)
        snprintf(fd.name, sizeof fd.name, "%s", dset);
    else
        H5Ovisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, find_2d, &fd);
    if (!fd.name[0]) {
        H5Fclose(f);
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: no 2D dataset (name one: FILE:/path)", file);
    }
    hid_t d = H5Dopen2(f, fd.name, H5P_DEFAULT);
    if (d < 0) {
        H5Fclose(f);
        return azs_fail(AZS_ERR_NOT_FOUND, "%s: no dataset '%s'", file, fd.name);
    }
    hid_t sp = H5Dget_space(d);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[3] = {0, 0, 0};
    azs_status st = AZS_OK;
    if (nd < 2 || nd > 3) {
        st = azs_fail(AZS_ERR_FORMAT, "%s:%s: rank %d, need 2 (or 3: frames)", file, fd.name, nd);
    } else if (H5Sget_simple_extent_dims(sp, dims, NULL) < 0 || (nd == 3 && frame >= dims[0]) ||
               (nd == 2 && frame > 0)) {
        st = azs_fail(AZS_ERR_FORMAT, "%s:%s: no frame %u", file, fd.name, frame);
    } else {
        hsize_t r = dims[nd - 2], c = dims[nd - 1];
        float *a = (r && c && r <= UINT32_MAX && c <= UINT32_MAX) ? malloc(sizeof(float) * r * c) : NULL;
        hsize_t start[3] = {frame, 0, 0}, count[3] = {1, r, c};
        *nframes = nd == 3 ? (uint32_t)(dims[0] > UINT32_MAX ? UINT32_MAX : dims[0]) : 1;
        if (nd == 2) {
            count[0] = r;
            count[1] = c;
        }
        hid_t ms = H5Screate_simple(nd, count, NULL);
        if (!a) {
            st = azs_fail(AZS_ERR_NOMEM, "%s:%s", file, fd.name);
        } else if (H5Sselect_hyperslab(sp, H5S_SELECT_SET, start, NULL, count, NULL) < 0 ||
                   H5Dread(d, H5T_NATIVE_FLOAT, ms, sp, H5P_DEFAULT, a) < 0) {
            free(a);
            st = azs_fail(AZS_ERR_IO, "%s:%s: read failed", file, fd.name);
        } else {
            *out = a;
            *ny = (uint32_t)r;
            *nx = (uint32_t)c;
        }
        H5Sclose(ms);
    }
    H5Sclose(sp);
    H5Dclose(d);
    H5Fclose(f);
    return st;
}

static azs_status load_h5(const char *file, const char *dset, uint32_t frame, float **out, uint32_t *ny,
                          uint32_t *nx, uint32_t *nframes)
{
    azs_h5_lock();
    azs_status st = load_h5_locked(file, dset, frame, out, ny, nx, nframes);
    azs_h5_unlock();
    return st;
}

azs_status azs_array_load(const char *spec, float **out, uint32_t *ny, uint32_t *nx)
{
    uint32_t nframes;
    return azs_array_load_frame(spec, 0, out, ny, nx, &nframes);
}

azs_status azs_array_load_frame(const char *spec, uint32_t frame, float **out, uint32_t *ny, uint32_t *nx,
                                uint32_t *nframes)
{
    if (!spec || !out || !ny || !nx || !nframes)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_array_load: arguments required");
    *out = NULL;
    const char *slash = strrchr(spec, '/');
    const char *dot = strrchr(spec, '.');
    const char *ext = (dot && (!slash || dot > slash)) ? dot + 1 : "";
    if (!strcasecmp(ext, "npy"))
        return load_npy(spec, frame, out, ny, nx, nframes);
    if (!strcasecmp(ext, "edf"))
        return load_edf(spec, frame, out, ny, nx, nframes);
    if (!strcasecmp(ext, "tif") || !strcasecmp(ext, "tiff"))
        return load_tiff(spec, frame, out, ny, nx, nframes);
    /* HDF5: "file.h5", "file.h5:/dataset" or silx/pyFAI's "file.h5::/dataset" (the first
     * ':' after the extension; a second one right after it is part of the separator). */
    const char *h5ext[] = {".h5:", ".hdf5:", ".nxs:", ".hdf:", ".nx5:"};
    for (size_t i = 0; i < sizeof h5ext / sizeof h5ext[0]; i++) {
        const char *p = strstr(spec, h5ext[i]);
        if (p) {
            size_t n = (size_t)(p - spec) + strlen(h5ext[i]) - 1;
            char file[4096];
            if (n >= sizeof file)
                return azs_fail(AZS_ERR_INVALID_ARG, "%s: path too long", spec);
            memcpy(file, spec, n);
            file[n] = 0;
            const char *dset = spec + n + 1;
            if (*dset == ':')
                dset++;
            return load_h5(file, dset, frame, out, ny, nx, nframes);
        }
    }
    if (!strcasecmp(ext, "h5") || !strcasecmp(ext, "hdf5") || !strcasecmp(ext, "nxs") ||
        !strcasecmp(ext, "hdf") || !strcasecmp(ext, "nx5"))
        return load_h5(spec, NULL, frame, out, ny, nx, nframes);
    return azs_fail(AZS_ERR_UNSUPPORTED, "%s: unknown array format (use .npy, .h5[:dataset], .edf or .tif)",
                    spec);
}
