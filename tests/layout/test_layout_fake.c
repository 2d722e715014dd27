/* Layout scheduling tests against test doubles (fake_engine.c): ordering, bit-identical
 * rows across layouts and worker counts, read/decode failures stopping the run with the
 * frames before written and a message naming frame and file, skip_bad (which skips a bad
 * chunk, never an I/O error), cancel, sink failure, frame ranges, option checks, FILTERED
 * sources. Fast; also run under TSan (make test-tsan). The same policy on real files, in
 * every layout: tests/layout/test_frame_policy.py. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fake_engine.h"
#include "layouts.h"

#define MAXF 400
#include "../common/check.h"

typedef struct rec {
    uint64_t n;
    uint64_t frames[MAXF];
    azs_status st[MAXF];
    double I[MAXF][FAKE_NBINS], S[MAXF][FAKE_NBINS];
    int had_sigma;
    int64_t fail_at;          /* sink fails when asked to write this frame (-1 none) */
    int64_t cancel_after;     /* set *cancel after this many rows (-1 none) */
    volatile int *cancel;
} rec;

static azs_status rec_write(void *ctx, uint64_t frame, const double *I, const double *S, azs_status fs)
{
    rec *r = ctx;
    if (r->fail_at >= 0 && (int64_t)frame == r->fail_at)
        return AZS_ERR_IO;
    if (r->n >= MAXF)
        return AZS_ERR_INTERNAL;
    r->frames[r->n] = frame;
    r->st[r->n] = fs;
    memcpy(r->I[r->n], I, sizeof r->I[0]);
    r->had_sigma = S != NULL;
    if (S)
        memcpy(r->S[r->n], S, sizeof r->S[0]);
    r->n++;
    if (r->cancel_after >= 0 && (int64_t)r->n == r->cancel_after)
        azs_cancel_request(r->cancel);
    return AZS_OK;
}

static void rec_init(rec *r)
{
    memset(r, 0, sizeof *r);
    r->fail_at = -1;
    r->cancel_after = -1;
}

typedef struct variant {
    const char *name;
    azs_layout layout;
    int workers;
    azs_feed feed;
    int cpu_batch;
} variant;

static const variant V[] = {
    {"serial", AZS_LAYOUT_SERIAL, 0, AZS_FEED_AUTO, 0},
    {"threads-1", AZS_LAYOUT_THREADS, 1, AZS_FEED_READER, 0},
    {"threads-2", AZS_LAYOUT_THREADS, 2, AZS_FEED_READER, 0},
    {"threads-3", AZS_LAYOUT_THREADS, 3, AZS_FEED_READER, 0},
    {"self-1", AZS_LAYOUT_THREADS, 1, AZS_FEED_SELF, 0},
    {"self-3", AZS_LAYOUT_THREADS, 3, AZS_FEED_SELF, 0},
    {"map-1", AZS_LAYOUT_THREADS, 1, AZS_FEED_MAP, 0},
    {"map-3", AZS_LAYOUT_THREADS, 3, AZS_FEED_MAP, 0},
    {"map-3-batch1", AZS_LAYOUT_THREADS, 3, AZS_FEED_MAP, 1},
    {"threads-8", AZS_LAYOUT_THREADS, 8, AZS_FEED_READER, 0},
    {"auto-all", AZS_LAYOUT_THREADS, 0, AZS_FEED_AUTO, 0},
};
#define NV (sizeof V / sizeof V[0])

static azs_status run_v(const variant *v, azs_source *src, azs_integrator *it, azs_run_options *o,
                        rec *r, azs_run_summary *sum)
{
    o->layout = v->layout;
    o->workers = v->workers;
    o->feed = v->feed;
    o->cpu_batch = v->cpu_batch;
    azs_sink_ops ops = {r, rec_write};
    azs_status st = azs_run(src, it, o, &ops, sum);
    /* the feeding asked for is the one used (filtered sources always read for themselves) */
    if (v->layout == AZS_LAYOUT_THREADS && v->feed != AZS_FEED_AUTO &&
        azs_source_get_info(src)->read_path != AZS_READ_FILTERED) {
        CHECK(sum->self_read == (v->feed == AZS_FEED_SELF || v->feed == AZS_FEED_MAP),
              "%s: self_read %d", v->name, sum->self_read);
        CHECK(sum->mapped == (v->feed == AZS_FEED_MAP), "%s: mapped %d", v->name, sum->mapped);
        if (v->feed == AZS_FEED_MAP && st == AZS_OK)
            CHECK(atomic_load(&FAKE.maps) > 0, "%s: nothing was mapped", v->name);
    }
    /* auto with a worker per core: no core is left for a reader */
    if (v->layout == AZS_LAYOUT_THREADS && v->feed == AZS_FEED_AUTO && st == AZS_OK &&
        sum->frames_done >= (uint64_t)sysconf(_SC_NPROCESSORS_ONLN))
        CHECK(sum->self_read == 1, "%s: auto with all cores did not self-read", v->name);
    /* auto maps the chunks wherever the source is on the pread path */
    if (v->layout == AZS_LAYOUT_THREADS && v->feed == AZS_FEED_AUTO)
        CHECK(sum->mapped == (azs_source_get_info(src)->read_path == AZS_READ_PREAD),
              "%s: auto mapped %d", v->name, sum->mapped);
    return st;
}

static rec ref, got;

static void test_identical(int filtered, int sigma, uint64_t first, uint64_t end, int jitter)
{
    azs_source *src = fake_source(97, filtered);
    azs_integrator *it = fake_integrator(sigma);
    memset(&FAKE, 0, sizeof FAKE);
    FAKE.jitter_us = jitter;
    FAKE.fallback_frame = 9; /* frame 8 has no raw bytes: read_frame path */
    azs_run_options o;
    azs_run_options_default(&o);
    o.first_frame = first;
    o.end_frame = end;
    uint64_t n_expect = (end > 97 ? 97 : end) - first;
    for (size_t i = 0; i < NV; i++) {
        rec *r = i == 0 ? &ref : &got;
        rec_init(r);
        azs_run_summary sum;
        azs_status st = run_v(&V[i], src, it, &o, r, &sum);
        CHECK(st == AZS_OK, "%s: status %s: %s", V[i].name, azs_status_str(st), azs_last_error());
        CHECK(r->n == n_expect && sum.frames_done == n_expect, "%s: %llu rows, want %llu", V[i].name,
              (unsigned long long)r->n, (unsigned long long)n_expect);
        CHECK(r->had_sigma == sigma, "%s: sigma", V[i].name);
        for (uint64_t k = 0; k < r->n; k++)
            CHECK(r->frames[k] == first + k, "%s: row %llu is frame %llu", V[i].name,
                  (unsigned long long)k, (unsigned long long)r->frames[k]);
        if (i > 0) {
            CHECK(memcmp(ref.I, got.I, sizeof(double) * FAKE_NBINS * n_expect) == 0,
                  "%s: I differs from serial", V[i].name);
            if (sigma)
                CHECK(memcmp(ref.S, got.S, sizeof(double) * FAKE_NBINS * n_expect) == 0,
                      "%s: sigma differs from serial", V[i].name);
        }
    }
}

static void test_bad_frame(int read_fail, int filtered)
{
    /* More frames than 8 workers hold in flight (reader slots 8 x (batch + 1) + 2, plus a
     * batch each: 138 with batches of 8), so that "stops promptly" can be told apart from
     * "read everything". */
    const uint64_t bad = 41, nfr = 240;
    azs_source *src = fake_source(nfr, filtered);
    azs_integrator *it = fake_integrator(0);
    for (size_t i = 0; i < NV; i++) {
        memset(&FAKE, 0, sizeof FAKE);
        FAKE.jitter_us = 300;
        if (read_fail)
            FAKE.read_fail_frame = bad + 1;
        else
            FAKE.corrupt_frame = bad + 1;
        azs_run_options o;
        azs_run_options_default(&o);
        rec_init(&got);
        azs_run_summary sum;
        azs_status st = run_v(&V[i], src, it, &o, &got, &sum);
        const char *msg = azs_last_error();
        CHECK(st != AZS_OK, "%s: bad frame not reported", V[i].name);
        CHECK(strstr(msg, "frame 41") && strstr(msg, "fake_part0.h5"),
              "%s: message does not name frame and file: '%s'", V[i].name, msg);
        CHECK(got.n == bad, "%s: %llu rows written before the bad frame, want %llu", V[i].name,
              (unsigned long long)got.n, (unsigned long long)bad);
        CHECK(sum.first_bad_frame == bad, "%s: first_bad_frame %llu", V[i].name,
              (unsigned long long)sum.first_bad_frame);
        /* prompt stop: not everything read */
        CHECK(atomic_load(&FAKE.reads) < nfr, "%s: read %llu frames after the failure", V[i].name,
              (unsigned long long)atomic_load(&FAKE.reads));

        /* skip_bad: every frame, the bad one NaN and counted; but an I/O error (a read
         * that fails: only on the raw path, read_frame of the fake says corrupt) stops the
         * run all the same */
        memset(&FAKE, 0, sizeof FAKE);
        if (read_fail)
            FAKE.read_fail_frame = bad + 1;
        else
            FAKE.corrupt_frame = bad + 1;
        o.skip_bad = 1;
        rec_init(&got);
        st = run_v(&V[i], src, it, &o, &got, &sum);
        if (read_fail && !filtered) {
            CHECK(st == AZS_ERR_IO && got.n == bad && sum.first_bad_frame == bad,
                  "%s skip_bad, I/O error: %s, %llu rows", V[i].name, azs_status_str(st),
                  (unsigned long long)got.n);
            continue;
        }
        CHECK(st == AZS_OK, "%s skip_bad: %s", V[i].name, azs_last_error());
        CHECK(got.n == nfr && sum.frames_bad == 1 && sum.first_bad_frame == bad,
              "%s skip_bad: rows %llu bad %llu", V[i].name, (unsigned long long)got.n,
              (unsigned long long)sum.frames_bad);
        CHECK(got.st[bad] == AZS_ERR_CORRUPT && isnan(got.I[bad][0]) &&
                  !isnan(got.I[bad - 1][0]) && got.st[bad + 1] == AZS_OK,
              "%s skip_bad: bad row not NaN/flagged (status %d)", V[i].name, (int)got.st[bad]);
    }
}

/* A frame without data (never written, or in a missing file): its row NaN, its status
 * recorded, and the run goes on without skip_bad, in every variant, raw or filtered. */
static void test_absent_frame(azs_status why, int filtered)
{
    const uint64_t absent = 23;
    azs_source *src = fake_source(60, filtered);
    azs_integrator *it = fake_integrator(1);
    for (size_t i = 0; i < NV; i++) {
        memset(&FAKE, 0, sizeof FAKE);
        FAKE.absent_frame = absent + 1;
        FAKE.absent_status = why;
        azs_run_options o;
        azs_run_options_default(&o);
        rec_init(&got);
        azs_run_summary sum;
        azs_status st = run_v(&V[i], src, it, &o, &got, &sum);
        CHECK(st == AZS_OK, "%s, %s: %s", V[i].name, azs_status_str(why), azs_last_error());
        CHECK(got.n == 60 && sum.frames_bad == 1 && sum.frames_absent == 1 &&
                  sum.first_bad_frame == absent,
              "%s, %s: rows %llu bad %llu absent %llu", V[i].name, azs_status_str(why),
              (unsigned long long)got.n, (unsigned long long)sum.frames_bad,
              (unsigned long long)sum.frames_absent);
        CHECK(got.st[absent] == why && isnan(got.I[absent][0]) && isnan(got.S[absent][0]) &&
                  got.st[absent - 1] == AZS_OK && got.st[absent + 1] == AZS_OK &&
                  !isnan(got.I[absent + 1][0]),
              "%s: absent row: status %d", V[i].name, (int)got.st[absent]);
    }
}

/* A mapped chunk whose file ends before it (a stack truncated while mapped): the SIGBUS is
 * caught, the batch is read again through the source, and the run goes on bit-identical;
 * where the source cannot read that frame either, the run stops there with every frame
 * before it written, and skip_bad goes past it. */
static void test_map_fault(void)
{
    const uint64_t bad = 29;
    azs_source *src = fake_source(70, 0);
    azs_integrator *it = fake_integrator(0);
    const variant *serial = &V[0];
    azs_run_options o;
    azs_run_options_default(&o);
    azs_run_summary sum;
    memset(&FAKE, 0, sizeof FAKE);
    rec_init(&ref);
    CHECK(run_v(serial, src, it, &o, &ref, &sum) == AZS_OK, "map fault: serial reference");
    for (size_t i = 0; i < NV; i++) {
        if (V[i].feed != AZS_FEED_MAP)
            continue;
        memset(&FAKE, 0, sizeof FAKE);
        FAKE.map_fault_frame = bad + 1;
        FAKE.jitter_us = 100;
        rec_init(&got);
        azs_status st = run_v(&V[i], src, it, &o, &got, &sum);
        CHECK(st == AZS_OK, "%s map fault: %s", V[i].name, azs_last_error());
        CHECK(got.n == 70 && !memcmp(ref.I, got.I, sizeof(double) * FAKE_NBINS * 70),
              "%s map fault: %llu rows, or not identical", V[i].name, (unsigned long long)got.n);
        CHECK(atomic_load(&FAKE.raw_reads) >= 1 && atomic_load(&FAKE.raw_reads) <= AZS_BATCH_MAX,
              "%s map fault: %llu frames read again, want 1..%d (the faulting batch)", V[i].name,
              (unsigned long long)atomic_load(&FAKE.raw_reads), AZS_BATCH_MAX);

        memset(&FAKE, 0, sizeof FAKE);
        FAKE.map_fault_frame = bad + 1;
        FAKE.corrupt_frame = bad + 1; /* read_frame fails too: the truncated stack */
        rec_init(&got);
        st = run_v(&V[i], src, it, &o, &got, &sum);
        CHECK(st != AZS_OK && got.n == bad && sum.first_bad_frame == bad &&
                  strstr(azs_last_error(), "frame 29"),
              "%s map fault, unreadable: %s, %llu rows: %s", V[i].name, azs_status_str(st),
              (unsigned long long)got.n, azs_last_error());
        memset(&FAKE, 0, sizeof FAKE);
        FAKE.map_fault_frame = bad + 1;
        FAKE.corrupt_frame = bad + 1;
        o.skip_bad = 1;
        rec_init(&got);
        st = run_v(&V[i], src, it, &o, &got, &sum);
        o.skip_bad = 0;
        CHECK(st == AZS_OK && got.n == 70 && sum.frames_bad == 1 && isnan(got.I[bad][0]) &&
                  !memcmp(ref.I, got.I, sizeof(double) * FAKE_NBINS * bad),
              "%s map fault, skip_bad: %s, %llu rows, %llu bad", V[i].name, azs_status_str(st),
              (unsigned long long)got.n, (unsigned long long)sum.frames_bad);
    }
}

static void test_cancel_and_sink_error(void)
{
    azs_source *src = fake_source(300, 0);
    azs_integrator *it = fake_integrator(1);
    for (size_t i = 0; i < NV; i++) {
        memset(&FAKE, 0, sizeof FAKE);
        FAKE.jitter_us = 200;
        volatile int cancel = 0;
        azs_run_options o;
        azs_run_options_default(&o);
        o.cancel = &cancel;
        rec_init(&got);
        got.cancel = &cancel;
        got.cancel_after = 20;
        azs_run_summary sum;
        azs_status st = run_v(&V[i], src, it, &o, &got, &sum);
        CHECK(st == AZS_ERR_INTERRUPTED, "%s cancel: %s", V[i].name, azs_status_str(st));
        CHECK(got.n >= 20 && got.n < 300, "%s cancel: %llu rows", V[i].name, (unsigned long long)got.n);
        for (uint64_t k = 0; k < got.n; k++)
            CHECK(got.frames[k] == k, "%s cancel: order", V[i].name);

        rec_init(&got);
        got.fail_at = 33;
        o.cancel = NULL;
        st = run_v(&V[i], src, it, &o, &got, &sum);
        CHECK(st == AZS_ERR_IO && got.n == 33, "%s sink error: %s, %llu rows", V[i].name,
              azs_status_str(st), (unsigned long long)got.n);
    }
}

static void test_validation(void)
{
    azs_source *src = fake_source(10, 0);
    azs_integrator *it = fake_integrator(0);
    azs_run_options o;
    azs_run_options_default(&o);
    rec_init(&got);
    azs_sink_ops ops = {&got, rec_write};
    o.first_frame = 10;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "start past the end");
    o.first_frame = 5;
    o.end_frame = 5;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "empty range");
    o.end_frame = UINT64_MAX;
    o.workers = -1;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "negative workers");
    o.workers = 0;
    o.layout = AZS_LAYOUT_PROCS;
    CHECK(azs_run(src, it, &o, &ops, NULL) != AZS_OK, "procs dispatch");
    o.layout = AZS_LAYOUT_GPU;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_NO_DEVICE, "gpu: the driver's own check");
    o.layout = (azs_layout)42;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "unknown layout");
    o.layout = AZS_LAYOUT_THREADS;
    o.cpu_batch = AZS_BATCH_MAX + 1;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "cpu_batch too large");
    o.cpu_batch = 0;
    o.gpu_slots = 1;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "one GPU slot");
    o.gpu_slots = 3;
    o.gpu_lag = 3;
    CHECK(azs_run(src, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "lag of every slot");
    o.gpu_slots = o.gpu_lag = 0;
    CHECK(got.n == 0, "a refused run wrote rows");
    CHECK(azs_run(NULL, it, &o, &ops, NULL) == AZS_ERR_INVALID_ARG, "NULL source");
}

int main(void)
{
    test_validation();
    test_identical(0, 0, 0, UINT64_MAX, 0);
    test_identical(0, 1, 0, UINT64_MAX, 400);
    test_identical(0, 1, 7, 60, 200);
    test_identical(1, 1, 3, UINT64_MAX, 0);
    test_bad_frame(0, 0);
    test_bad_frame(1, 0);
    test_bad_frame(0, 1);
    test_absent_frame(AZS_ERR_UNWRITTEN, 0);
    test_absent_frame(AZS_ERR_MISSING, 0);
    test_absent_frame(AZS_ERR_UNWRITTEN, 1);
    test_map_fault();
    test_cancel_and_sink_error();
    if (failures)
        fprintf(stderr, "%d failures\n", failures);
    else
        printf("layout fake tests: ok\n");
    return failures ? 1 : 0;
}
