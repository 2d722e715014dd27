#ifndef FAKE_ENGINE_H
#define FAKE_ENGINE_H
#include <stdatomic.h>
#include <stdint.h>
#include "azstream/layout.h"

#define FAKE_NY 16
#define FAKE_NX 32
#define FAKE_NBINS 24

typedef struct fake_cfg {
    uint64_t corrupt_frame;   /* 1 + frame whose chunk fails to decode (0 = none) */
    uint64_t read_fail_frame; /* 1 + frame whose read fails (0 = none) */
    uint64_t fallback_frame;  /* 1 + frame whose read_raw says UNSUPPORTED (use read_frame) */
    uint64_t map_fault_frame; /* 1 + frame whose mapped chunk lies past the end of its file
                               * (SIGBUS when touched; read_frame still works) */
    uint64_t absent_frame;    /* 1 + frame without data: read_raw, read_frame... say absent_status */
    azs_status absent_status; /* AZS_ERR_UNWRITTEN or AZS_ERR_MISSING */
    int jitter_us;            /* up to this many µs of delay per decoded frame */
    atomic_ullong reads;
    atomic_ullong frame_reads; /* azs_source_read_frame calls */
    atomic_ullong raw_reads;   /* azs_source_read_raw calls */
    atomic_ullong maps;        /* azs_source_map_raw successes */
} fake_cfg;
extern fake_cfg FAKE;

azs_source *fake_source(uint64_t nframes, int filtered);
azs_integrator *fake_integrator(int with_sigma);
#endif
