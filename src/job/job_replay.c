/* azs_stream_replay (azstream/stream.h): a stack's stored chunks sent as Stream V2 series.
 *
 * Reader threads read frames ahead with the source's direct chunk reads (azs_source_read_raw:
 * pread on the source's own descriptor, any thread) into a pool of message buffers, each
 * chunk read straight after its message head (azs_stream_encode_image_head), so a message is
 * never copied: ZeroMQ sends the buffer as it is (azs_stream_send_lent) and gives it back to
 * the pool once written out, from its I/O thread. The calling thread only sends, in image_id
 * order, from a ring of read slots: a slow read never blocks the socket while other frames
 * are ready, and a slow receiver (the PUSH socket at its high-water mark) holds the readers
 * back through the pool. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "azstream/layout.h"
#include "azstream/source.h"
#include "azstream/stream.h"
#include "common/clock.h"
#include "common/error.h"

void azs_stream_replay_options_default(azs_stream_replay_options *o)
{
    memset(o, 0, sizeof *o);
    o->channel = "threshold_1";
    o->repeat = 1;
    o->loop = 1;
    o->series0 = 1;
    o->readers = 4;
    o->io_threads = 4;
}

#ifndef AZS_HAVE_STREAM
azs_status azs_stream_replay(const azs_stream_replay_options *o, azs_stream_replay_summary *sum)
{
    (void)o;
    if (sum)
        memset(sum, 0, sizeof *sum);
    return azs_fail(AZS_ERR_UNSUPPORTED, "azstream was built without stream support (libzmq, libcbor)");
}
#else

typedef struct replay replay;

typedef struct msg_buf {
    uint8_t *mem;
    size_t cap;
    replay *r;
    azs_stream_array a; /* preload: the frame it holds (bytes at mem + AZS_STREAM_IMAGE_HEAD_MAX) */
    int in_flight;      /* preload: lent to ZeroMQ, not yet given back */
} msg_buf;

enum { SLOT_EMPTY = 0, SLOT_READY, SLOT_SKIP, SLOT_FAILED };

typedef struct read_slot {
    int state;
    msg_buf *buf;
    size_t off, len; /* the message: buf->mem + off, len bytes */
    azs_status st;
    char err[512];
} read_slot;

struct replay {
    const azs_stream_replay_options *o;
    azs_source *src;
    uint64_t nimages, total; /* per series; over all series */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    msg_buf *bufs, **free_bufs;
    size_t nbufs, nfree;
    read_slot *slots;
    size_t nslots;
    uint64_t next_read, nsent; /* sequence numbers: series r's image id is r * nimages + id */
    int stop;
};

static int dropped(const azs_stream_replay_options *o, uint64_t id)
{
    for (int k = 0; k < o->ndrop; k++)
        if (o->drop[k] == id)
            return 1;
    return 0;
}

/* ZeroMQ is done with a message (its I/O thread): its buffer back to the pool. */
static void release_buf(void *data, void *hint)
{
    (void)data;
    msg_buf *b = hint;
    pthread_mutex_lock(&b->r->mu);
    if (b->r->o->preload)
        b->in_flight = 0;
    else
        b->r->free_bufs[b->r->nfree++] = b;
    pthread_cond_broadcast(&b->r->cv);
    pthread_mutex_unlock(&b->r->mu);
}

/* Frame f as image id of series sid into b: the head, then the stored chunk right after it
 * (or, a chunk without raw bytes, the frame's pixels). */
static azs_status read_message(replay *r, msg_buf *b, uint64_t sid, uint64_t id, read_slot *sl)
{
    const azs_source_info *in = azs_source_get_info(r->src);
    const uint64_t f = id % in->nframes;
    const size_t H = AZS_STREAM_IMAGE_HEAD_MAX;
    azs_stream_array a = {in->ny, in->nx, in->dtype, in->elem_size, in->codec, NULL, 0};
    azs_status st = in->read_path == AZS_READ_FILTERED ? AZS_ERR_UNSUPPORTED
                                                       : azs_source_read_raw(r->src, f, b->mem + H, b->cap - H, &a.nbytes);
    if (st == AZS_ERR_UNSUPPORTED || st == AZS_ERR_NOT_FOUND || st == AZS_ERR_UNWRITTEN) {
        if (b->cap < H + in->frame_bytes) { /* rare (filter skipped, never written): the buffer grows */
            uint8_t *m = realloc(b->mem, H + in->frame_bytes);
            if (!m)
                return azs_fail(AZS_ERR_NOMEM, "replay: a frame of %zu bytes", in->frame_bytes);
            b->mem = m;
            b->cap = H + in->frame_bytes;
        }
        a.codec = AZS_CODEC_NONE;
        a.nbytes = in->frame_bytes;
        st = azs_source_read_frame(r->src, f, b->mem + H, b->cap - H);
    }
    uint8_t head[AZS_STREAM_IMAGE_HEAD_MAX];
    size_t hn = 0;
    if (st == AZS_OK)
        st = azs_stream_encode_image_head(sid, id, r->o->channel, &a, head, sizeof head, &hn);
    if (st != AZS_OK)
        return azs_fail_context(st, "frame %llu: ", (unsigned long long)f);
    memcpy(b->mem + H - hn, head, hn);
    sl->off = H - hn;
    sl->len = hn + a.nbytes;
    b->a = a;
    b->a.bytes = b->mem + H;
    return AZS_OK;
}

static void *reader_main(void *arg)
{
    replay *r = arg;
    pthread_mutex_lock(&r->mu);
    while (!r->stop && r->next_read < r->total) {
        const uint64_t k = r->next_read++;
        /* its slot: free once the sender is within nslots of it */
        while (!r->stop && k >= r->nsent + r->nslots)
            pthread_cond_wait(&r->cv, &r->mu);
        read_slot *sl = &r->slots[k % r->nslots];
        const uint64_t series = k / r->nimages, id = k % r->nimages;
        if (dropped(r->o, id)) {
            sl->state = SLOT_SKIP;
            pthread_cond_broadcast(&r->cv);
            continue;
        }
        while (!r->stop && r->nfree == 0)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop)
            break;
        msg_buf *b = r->free_bufs[--r->nfree];
        pthread_mutex_unlock(&r->mu);
        azs_status st = read_message(r, b, r->o->series0 + series, id, sl);
        pthread_mutex_lock(&r->mu);
        sl->buf = b;
        sl->st = st;
        if (st != AZS_OK) {
            snprintf(sl->err, sizeof sl->err, "%s", azs_last_error());
            r->free_bufs[r->nfree++] = b;
            sl->buf = NULL;
        }
        sl->state = st == AZS_OK ? SLOT_READY : SLOT_FAILED;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* The start message of a series of the stack. The mask array borrows *mask32. */
static azs_status make_start(azs_source *src, uint64_t series_id, uint64_t nimages, const char *channel,
                             uint32_t **mask32, uint8_t **msg, size_t *size)
{
    const azs_source_info *in = azs_source_get_info(src);
    azs_stream_start s;
    memset(&s, 0, sizeof s);
    s.series_id = series_id;
    snprintf(s.series_unique_id, sizeof s.series_unique_id, "azstream-replay-%llu", (unsigned long long)series_id);
    s.image_size_x = in->nx;
    s.image_size_y = in->ny;
    s.image_dtype = in->dtype;
    s.nchannels = 1;
    snprintf(s.channels[0], sizeof s.channels[0], "%s", channel);
    s.has_nimages = 1;
    s.number_of_images = nimages;
    snprintf(s.detector_description, sizeof s.detector_description, "azstream replay");
    uint8_t *m = NULL;
    size_t nmasked = 0;
    azs_status st = azs_source_pixel_mask(src, &m, &nmasked);
    if (st == AZS_OK) { /* as DECTRIS sends it: uint32, non-zero = bad */
        const size_t n = (size_t)in->ny * in->nx;
        if (!*mask32 && !(*mask32 = malloc(n * sizeof **mask32))) {
            free(m);
            return azs_fail(AZS_ERR_NOMEM, "replay: a pixel mask of %zu pixels", n);
        }
        for (size_t p = 0; p < n; p++)
            (*mask32)[p] = m[p];
        free(m);
        s.npixel_mask = 1;
        snprintf(s.pixel_mask[0].name, sizeof s.pixel_mask[0].name, "%s", channel);
        s.pixel_mask[0].a = (azs_stream_array){in->ny, in->nx, AZS_U32, 4, AZS_CODEC_NONE, *mask32, n * 4};
    } else if (st != AZS_ERR_NOT_FOUND) {
        return st;
    }
    return azs_stream_encode_start(&s, msg, size);
}

static void sleep_until(double t)
{
    double dt = t - azs_now_seconds();
    if (dt <= 0)
        return;
    struct timespec ts = {(time_t)dt, (long)((dt - (double)(time_t)dt) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Send sequence number k once a reader has it (nothing for an image_id dropped). */
static azs_status send_next(replay *r, azs_stream_socket *sock, uint64_t k, double t0, azs_stream_replay_summary *sum)
{
    read_slot *sl = &r->slots[k % r->nslots];
    pthread_mutex_lock(&r->mu);
    while (sl->state == SLOT_EMPTY && !r->stop)
        pthread_cond_wait(&r->cv, &r->mu);
    const int state = sl->state;
    msg_buf *b = sl->buf;
    const size_t off = sl->off, len = sl->len;
    azs_status st = state == SLOT_FAILED ? azs_fail(sl->st, "%s", sl->err) : AZS_OK;
    pthread_mutex_unlock(&r->mu);
    if (st == AZS_OK && state == SLOT_READY) {
        if (r->o->rate > 0)
            sleep_until(t0 + (double)sum->sent / r->o->rate);
        st = azs_stream_send_lent(sock, b->mem + off, len, release_buf, b, r->o->cancel);
        if (st == AZS_OK) {
            sum->sent++;
            sum->bytes += len;
        }
    }
    pthread_mutex_lock(&r->mu);
    sl->state = SLOT_EMPTY;
    sl->buf = NULL;
    r->nsent++;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    return st;
}

/* --preload: M buffers, buffer j holding frame j % nframes, M a multiple of nframes (so
 * sequence number k always finds its frame in buffer k % M) and at least PRELOAD_MIN_BUFFERS
 * when memory allows, so that a buffer is back from ZeroMQ before it is needed again. */
enum { PRELOAD_MIN_BUFFERS = 128 };

static azs_status preload(replay *r, size_t cap, uint64_t max_bytes)
{
    const uint64_t nframes = azs_source_get_info(r->src)->nframes;
    if (nframes == 0 || cap > max_bytes / nframes)
        return azs_fail(AZS_ERR_CAPACITY, "--preload: the stack's %llu frames need up to %llu MiB in memory, more "
                        "than the %llu MiB allowed", (unsigned long long)nframes,
                        (unsigned long long)((double)nframes * (double)cap / 1048576.0),
                        (unsigned long long)(max_bytes >> 20));
    uint64_t copies = (PRELOAD_MIN_BUFFERS + nframes - 1) / nframes;
    while (copies > 1 && copies * nframes > max_bytes / cap)
        copies--;
    r->nbufs = (size_t)(copies * nframes);
    if (!(r->bufs = calloc(r->nbufs, sizeof *r->bufs)))
        return azs_fail(AZS_ERR_NOMEM, "replay: %zu buffers", r->nbufs);
    for (size_t k = 0; k < r->nbufs; k++) {
        read_slot sl;
        r->bufs[k] = (msg_buf){malloc(cap), cap, r, {0}, 0};
        if (!r->bufs[k].mem)
            return azs_fail(AZS_ERR_NOMEM, "replay: %zu buffers of %zu bytes (--preload)", r->nbufs, cap);
        azs_status st = read_message(r, &r->bufs[k], r->o->series0, k, &sl);
        if (st != AZS_OK)
            return st;
    }
    return AZS_OK;
}

/* --preload: sequence number k from its buffer, the head rewritten for its ids in place
 * (the chunk's bytes stay where they are: only the head's start moves with its length). */
static azs_status send_preloaded(replay *r, azs_stream_socket *sock, uint64_t sid, uint64_t id, uint64_t k, double t0,
                                 azs_stream_replay_summary *sum)
{
    if (dropped(r->o, id))
        return AZS_OK;
    msg_buf *b = &r->bufs[k % r->nbufs];
    pthread_mutex_lock(&r->mu);
    while (b->in_flight && !(r->o->cancel && __atomic_load_n(r->o->cancel, __ATOMIC_RELAXED))) {
        struct timespec until; /* a receiver that stopped taking messages: Ctrl-C still works */
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 100000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cv, &r->mu, &until);
    }
    const int busy = b->in_flight;
    b->in_flight = 1;
    pthread_mutex_unlock(&r->mu);
    if (busy)
        return azs_fail(AZS_ERR_INTERRUPTED, "replay: stopped on request");
    uint8_t head[AZS_STREAM_IMAGE_HEAD_MAX];
    size_t hn = 0;
    azs_status st = azs_stream_encode_image_head(sid, id, r->o->channel, &b->a, head, sizeof head, &hn);
    uint8_t *msg = b->mem + AZS_STREAM_IMAGE_HEAD_MAX - hn;
    if (st == AZS_OK) {
        memcpy(msg, head, hn);
        if (r->o->rate > 0)
            sleep_until(t0 + (double)sum->sent / r->o->rate);
        st = azs_stream_send_lent(sock, msg, hn + b->a.nbytes, release_buf, b, r->o->cancel);
    }
    if (st != AZS_OK) { /* not lent after all */
        pthread_mutex_lock(&r->mu);
        b->in_flight = 0;
        pthread_mutex_unlock(&r->mu);
        return st;
    }
    sum->sent++;
    sum->bytes += hn + b->a.nbytes;
    return AZS_OK;
}

/* A start or end message (st: its encoding's status), sent and freed. */
static azs_status send_copy(azs_stream_socket *sock, azs_status st, uint8_t *msg, size_t n, volatile int *cancel)
{
    if (st == AZS_OK)
        st = azs_stream_send(sock, msg, n, cancel);
    free(msg);
    return st;
}

azs_status azs_stream_replay(const azs_stream_replay_options *o, azs_stream_replay_summary *sum)
{
    azs_stream_replay_summary local;
    if (!sum)
        sum = &local;
    memset(sum, 0, sizeof *sum);
    if (!o || !o->input || !o->bind || !o->channel || o->repeat < 1 || o->loop < 1 || o->readers < 1 ||
        o->readers > 64 || o->ndrop < 0 || (o->ndrop && !o->drop))
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_stream_replay: input, bind, channel, repeat >= 1, loop >= 1 and "
                        "1 to 64 readers are required");
    replay r;
    memset(&r, 0, sizeof r);
    r.o = o;
    azs_status st = azs_source_open(o->input, o->dataset, &r.src);
    if (st != AZS_OK)
        return azs_fail_context(st, "%s: ", o->input);
    const azs_source_info *in = azs_source_get_info(r.src);
    r.nimages = in->nframes * o->loop;
    r.total = r.nimages * o->repeat;
    r.nslots = 2 * (size_t)o->readers + 2;
    r.nbufs = o->buffers > 0 ? (size_t)o->buffers : 4 * (size_t)o->readers + 8;
    if (r.nbufs < r.nslots)
        r.nbufs = r.nslots;
    /* a chunk's bytes; a frame without raw bytes grows its buffer when read */
    const size_t cap = AZS_STREAM_IMAGE_HEAD_MAX + (in->max_chunk_bytes ? in->max_chunk_bytes : in->frame_bytes);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    if (o->preload) {
        st = preload(&r, cap, o->preload_max_bytes ? o->preload_max_bytes : (uint64_t)8 << 30);
    } else {
        r.bufs = calloc(r.nbufs, sizeof *r.bufs);
        r.free_bufs = calloc(r.nbufs, sizeof *r.free_bufs);
        r.slots = calloc(r.nslots, sizeof *r.slots);
        if (!r.bufs || !r.free_bufs || !r.slots)
            st = azs_fail(AZS_ERR_NOMEM, "replay: %zu buffers", r.nbufs);
        for (size_t k = 0; st == AZS_OK && k < r.nbufs; k++) {
            r.bufs[k] = (msg_buf){malloc(cap), cap, &r, {0}, 0};
            if (!r.bufs[k].mem)
                st = azs_fail(AZS_ERR_NOMEM, "replay: %zu buffers of %zu bytes", r.nbufs, cap);
            else
                r.free_bufs[r.nfree++] = &r.bufs[k];
        }
    }
    azs_stream_socket *sock = NULL;
    if (st == AZS_OK && (st = azs_stream_push_bind_io(o->bind, o->io_threads > 0 ? o->io_threads : 1, &sock)) != AZS_OK)
        azs_fail_context(st, "--bind: ");
    pthread_t tid[64];
    int started = 0;
    for (; st == AZS_OK && !o->preload && started < o->readers; started++)
        if (pthread_create(&tid[started], NULL, reader_main, &r) != 0) {
            st = azs_fail(AZS_ERR_WORKER, "replay: cannot start reader thread %d", started);
            break;
        }
    uint32_t *mask32 = NULL;
    double t0 = 0;
    for (uint64_t s = 0; st == AZS_OK && s < o->repeat; s++) {
        const uint64_t sid = o->series0 + s;
        uint8_t *msg = NULL;
        size_t n = 0;
        st = make_start(r.src, sid, r.nimages, o->channel, &mask32, &msg, &n);
        st = send_copy(sock, st, msg, n, o->cancel);
        if (s == 0)
            t0 = azs_now_seconds(); /* the start message taken: a receiver is connected */
        for (uint64_t id = 0; st == AZS_OK && id < r.nimages; id++)
            st = o->preload ? send_preloaded(&r, sock, sid, id, s * r.nimages + id, t0, sum)
                            : send_next(&r, sock, s * r.nimages + id, t0, sum);
        msg = NULL;
        if (st == AZS_OK) {
            st = azs_stream_encode_end(sid, &msg, &n);
            st = send_copy(sock, st, msg, n, o->cancel);
        }
        sum->series += st == AZS_OK;
    }
    char detail[1024];
    snprintf(detail, sizeof detail, "%s", azs_last_error());
    pthread_mutex_lock(&r.mu);
    r.stop = 1;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int k = 0; k < started; k++)
        pthread_join(tid[k], NULL);
    /* linger: what was queued goes out before we return; closing gives every buffer back */
    azs_stream_close(sock, st == AZS_OK ? -1 : 0);
    sum->seconds = t0 > 0 ? azs_now_seconds() - t0 : 0;
    for (size_t k = 0; r.slots && k < r.nslots; k++) /* read, never sent (a failure) */
        r.slots[k].buf = NULL;
    for (size_t k = 0; r.bufs && k < r.nbufs; k++)
        free(r.bufs[k].mem);
    pthread_cond_destroy(&r.cv);
    pthread_mutex_destroy(&r.mu);
    free(r.bufs);
    free(r.free_bufs);
    free(r.slots);
    free(mask32);
    azs_source_close(r.src);
    if (st != AZS_OK)
        return azs_fail(st, "%s", detail);
    return AZS_OK;
}
#endif
