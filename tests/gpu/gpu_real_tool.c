/* Test helper driven by gpu_real_files.py: each raw chunk of the real files, decoded by the
 * CPU decoder and by the GPU decoder, must give the same bytes (or both fail); a chunk the
 * GPU planner refuses is a failure too.
 *
 * Usage: gpu_real_tool DIR [--cpu-only]. DIR/manifest.txt has one chunk per line:
 *     NAME CODEC ELEM_SIZE NBYTES TAG...
 * (DIR/NAME.chunk holds the chunk as stored; NBYTES its decoded size; TAG says where it
 * came from.) Chunks of the same kind go to the GPU in batches of up to 16. --cpu-only
 * plans every chunk for the GPU (the planner is plain C) and decodes it on the CPU, for
 * machines without a GPU. Exit 0 pass, 1 fail, 77 no GPU (without --cpu-only). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "azstream/codec.h"
#include "azstream/gpu.h"
#include "../common/slurp.h"

#define MAXB 16

typedef struct chunk_case {
    char name[64], tag[512];
    int codec;
    size_t s, nbytes, size;
    uint8_t *chunk, *cpu;
    azs_status cpu_st;
} chunk_case;

static azs_dtype dtype_of(size_t s)
{
    return s == 1 ? AZS_U8 : s == 2 ? AZS_U16 : s == 4 ? AZS_U32 : AZS_U64;
}

static int bad = 0, exact = 0, not_on_gpu = 0, both_fail = 0;

/* Plan one chunk for the GPU into items (NULL: count only). */
static azs_status plan(const chunk_case *c, const uint8_t *bytes, uint32_t frame, azs_gpu_item *items,
                       size_t cap, size_t *n, uint32_t *maxb)
{
    return azs_gpu_plan_chunk((azs_codec)c->codec, c->s, bytes, c->size, c->nbytes, frame, items,
                              cap, n, maxb);
}

/* Decode cases [0, k) (same codec, element size and decoded size) on the GPU. */
static void run_gpu(chunk_case *cs, int k)
{
    azs_gpu_config cfg;
    azs_gpu_config_default(&cfg);
    cfg.batch = (uint32_t)k;
    cfg.nslots = 1;
    cfg.codec = (azs_codec)cs[0].codec;
    cfg.dtype = dtype_of(cs[0].s);
    if (cs[0].s != 1 && cs[0].s != 2 && cs[0].s != 4 && cs[0].s != 8)
        cfg.elem_bytes = (uint32_t)cs[0].s; /* 3-, 6-, 10-byte elements: decode only */
    cfg.npixels = cs[0].nbytes / cs[0].s;
    size_t stride = 16;
    for (int i = 0; i < k; i++)
        if (cs[i].size > stride)
            stride = cs[i].size;
    cfg.chunk_stride = stride;
    azs_gpu_engine *e = NULL;
    azs_status st = azs_gpu_engine_create(&cfg, NULL, &e);
    if (st != AZS_OK) {
        printf("FAIL engine for %s (%zu-byte elements, %zu bytes): %s\n", cs[0].tag, cs[0].s,
               cs[0].nbytes, azs_last_error());
        bad += k;
        return;
    }
    azs_gpu_item *items = azs_gpu_host_items(e, 0);
    size_t cap = azs_gpu_items_capacity(e), nitems = 0, sizes[MAXB];
    uint32_t maxb = 0;
    int32_t hs[MAXB];
    for (int i = 0; i < k; i++) {
        uint8_t *h = azs_gpu_host_chunk(e, 0, (uint32_t)i);
        memcpy(h, cs[i].chunk, cs[i].size);
        sizes[i] = cs[i].size;
        size_t ni = 0;
        uint32_t mb = 0;
        hs[i] = (int32_t)plan(&cs[i], h, (uint32_t)i, items + nitems, cap - nitems, &ni, &mb);
        if (hs[i] == AZS_OK) {
            nitems += ni;
            if (mb > maxb)
                maxb = mb;
        }
    }
    const int32_t *gs = NULL;
    st = azs_gpu_submit(e, 0, (uint32_t)k, sizes, nitems, maxb, hs);
    if (st == AZS_OK)
        st = azs_gpu_wait(e, 0, NULL, NULL, &gs, NULL);
    if (st != AZS_OK) {
        printf("FAIL submit/wait for %s: %s\n", cs[0].tag, azs_last_error());
        bad += k;
        azs_gpu_engine_destroy(e);
        return;
    }
    uint8_t *out = malloc(cs[0].nbytes ? cs[0].nbytes : 1);
    for (int i = 0; i < k; i++) {
        const int gpu_ok = gs[i] == AZS_OK, cpu_ok = cs[i].cpu_st == AZS_OK;
        if (!gpu_ok && !cpu_ok) {
            both_fail++;
            printf("both decoders refuse %s: CPU %s, GPU %s\n", cs[i].tag,
                   azs_status_str(cs[i].cpu_st), azs_status_str((azs_status)gs[i]));
        } else if (gpu_ok != cpu_ok) {
            bad++;
            printf("FAIL %s: CPU %s, GPU %s\n", cs[i].tag, azs_status_str(cs[i].cpu_st),
                   azs_status_str((azs_status)gs[i]));
        } else if (azs_gpu_download_decoded(e, 0, (uint32_t)i, out, cs[i].nbytes) != AZS_OK ||
                   memcmp(out, cs[i].cpu, cs[i].nbytes) != 0) {
            size_t at = 0;
            while (at < cs[i].nbytes && out[at] == cs[i].cpu[at])
                at++;
            bad++;
            printf("FAIL %s: GPU bytes differ from the CPU's at byte %zu of %zu\n", cs[i].tag, at,
                   cs[i].nbytes);
        } else {
            exact++;
        }
    }
    free(out);
    azs_gpu_engine_destroy(e);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || (argc == 3 && strcmp(argv[2], "--cpu-only"))) {
        fprintf(stderr, "usage: %s DIR [--cpu-only]\n", argv[0]);
        return 2;
    }
    const int cpu_only = argc == 3;
    if (!cpu_only && azs_gpu_available() == 0) {
        printf("skip: no GPU\n");
        return 77;
    }
    char path[4096], line[1024];
    snprintf(path, sizeof path, "%s/manifest.txt", argv[1]);
    FILE *m = fopen(path, "r");
    if (!m) {
        fprintf(stderr, "cannot open %s\n", path);
        return 1;
    }
    chunk_case batch[MAXB];
    int k = 0, total = 0;
    for (;;) {
        chunk_case c;
        memset(&c, 0, sizeof c);
        int more = fgets(line, sizeof line, m) != NULL &&
                   sscanf(line, "%63s %d %zu %zu %511[^\n]", c.name, &c.codec, &c.s, &c.nbytes, c.tag) == 5;
        /* flush the batch when the kind changes, it is full, or the manifest ends */
        if (k > 0 && (!more || k == MAXB || c.codec != batch[0].codec || c.s != batch[0].s ||
                      c.nbytes != batch[0].nbytes)) {
            if (!cpu_only)
                run_gpu(batch, k);
            for (int i = 0; i < k; i++) {
                free(batch[i].chunk);
                free(batch[i].cpu);
            }
            k = 0;
        }
        if (!more)
            break;
        total++;
        snprintf(path, sizeof path, "%s/%s.chunk", argv[1], c.name);
        c.chunk = slurp(path, &c.size);
        c.cpu = malloc(c.nbytes ? c.nbytes : 1);
        if (!c.chunk || !c.cpu) {
            printf("FAIL cannot read %s (%s)\n", path, c.tag);
            bad++;
            free(c.chunk);
            free(c.cpu);
            continue;
        }
        size_t got = 0;
        c.cpu_st = azs_chunk_decode((azs_codec)c.codec, c.s, c.chunk, c.size, c.cpu, c.nbytes, &got);
        if (c.cpu_st == AZS_OK && got != c.nbytes)
            c.cpu_st = AZS_ERR_SIZE_MISMATCH;
        if (c.cpu_st != AZS_OK) {
            printf("FAIL CPU decoder refuses %s: %s\n", c.tag, azs_last_error());
            bad++;
        }
        /* What the GPU planner makes of it (plain C). Every chunk of the real files must be
         * the GPU's (small blocks, odd element sizes included): a refusal is a failure. */
        size_t ni = 0, cap = azs_gpu_max_items_per_frame((azs_codec)c.codec, c.s, c.nbytes);
        uint32_t mb = 0;
        azs_gpu_item *items = malloc((cap ? cap : 1) * sizeof *items);
        azs_status ps = items ? plan(&c, c.chunk, 0, items, cap, &ni, &mb) : AZS_ERR_NOMEM;
        free(items);
        if (ps != AZS_OK) {
            not_on_gpu++;
            printf("not on the GPU: %s (%zu-byte elements): %s\n", c.tag, c.s, azs_last_error());
            free(c.chunk);
            free(c.cpu);
            continue;
        }
        batch[k++] = c;
    }
    fclose(m);
    if (cpu_only)
        printf("gpu_real (CPU side only): %d chunks, %d planned for the GPU, %d not for the GPU, "
               "%d failures\n", total, total - not_on_gpu - bad, not_on_gpu, bad);
    else
        printf("gpu_real: %d chunks, %d bit-exact on the GPU, %d refused by both, %d not for the "
               "GPU, %d failures\n", total, exact, both_fail, not_on_gpu, bad);
    return bad || not_on_gpu ? 1 : 0;
}
