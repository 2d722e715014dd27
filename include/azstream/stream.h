/* Live detector streams: DECTRIS Stream V2 (and PSI Jungfraujoch's compatible stream) over
 * ZeroMQ. doc/streams.md describes the messages read, the options and the limits.
 *
 * A detector pushes one CBOR message per ZeroMQ message: a start message per series (arm),
 * one image message per exposure, an end message (disarm). Image data is a map channel →
 * RFC 8746 multi-dimensional array (tag 40: [[ny, nx], typed array]) whose bytes are either
 * raw little-endian pixels or DECTRIS's compression tag 56500 ["bslz4"|"lz4", element size,
 * bytes], with the HDF5 filter framings the codec decodes (azstream/codec.h).
 *
 * Every length, shape and type read from a message is checked: a hostile message is an
 * error naming the field, never an overread. Built only with libzmq and libcbor
 * (AZS_WITH_STREAM); without them every call fails with AZS_ERR_UNSUPPORTED. */
#ifndef AZSTREAM_STREAM_H
#define AZSTREAM_STREAM_H

#include "azstream/export.h"
#include "azstream/job.h"
#include "azstream/status.h"
#include "azstream/types.h"

#ifdef __cplusplus
extern "C" {
#endif

/* 1 when azstream was built with stream support (libzmq + libcbor). */
AZS_API int azs_stream_built(void);
/* Is `input` a stream endpoint (tcp://HOST:PORT or ipc://PATH) rather than a file? */
AZS_API int azs_stream_is_endpoint(const char *input);

/* ---------------------------------------------------------------- messages */
#define AZS_STREAM_MAX_CHANNELS 8
#define AZS_STREAM_NAME_MAX 64 /* channel names and ids, NUL included */

typedef enum azs_stream_msg_type {
    AZS_STREAM_START = 1,
    AZS_STREAM_IMAGE = 2,
    AZS_STREAM_END = 3
} azs_stream_msg_type;

/* A 2D array of a message: dims as sent ([slow, fast] = [ny, nx]), its element type (from
 * the typed-array tag), and its stored bytes: `codec` compressed (the chunk framing of
 * azstream/codec.h) or, AZS_CODEC_NONE, ny*nx*elem_size raw little-endian pixels. `bytes`
 * points into the message and lives as long as it. */
typedef struct azs_stream_array {
    uint32_t ny, nx;
    azs_dtype dtype;
    size_t elem_size;
    azs_codec codec;
    const void *bytes;
    size_t nbytes;
} azs_stream_array;

typedef struct azs_stream_channel {
    char name[AZS_STREAM_NAME_MAX];
    azs_stream_array a;
} azs_stream_channel;

/* A start message. has_* say whether the field was sent; units as DECTRIS's: beam centre in
 * pixels, lengths in metres, wavelength in ångström, energies in eV. */
typedef struct azs_stream_start {
    uint64_t series_id;
    char series_unique_id[AZS_STREAM_NAME_MAX];
    uint32_t image_size_x, image_size_y;     /* width (fast), height (slow); 0 if not sent */
    azs_dtype image_dtype;                    /* Jungfraujoch's image_dtype; else INVALID */
    int nchannels;
    char channels[AZS_STREAM_MAX_CHANNELS][AZS_STREAM_NAME_MAX];
    int has_beam_center, has_translation, has_distance, has_wavelength, has_energy;
    int has_pixel_size, has_saturation, has_nimages;
    double beam_center_x, beam_center_y;
    double detector_translation[3];
    double detector_distance;                 /* Jungfraujoch sends it; else translation z */
    double incident_wavelength, incident_energy;
    double pixel_size_x, pixel_size_y;
    uint64_t saturation_value, number_of_images;
    int npixel_mask, nflatfield;              /* per channel, as sent */
    azs_stream_channel pixel_mask[AZS_STREAM_MAX_CHANNELS];
    azs_stream_channel flatfield[AZS_STREAM_MAX_CHANNELS];
    char detector_description[AZS_STREAM_NAME_MAX]; /* truncated if longer */
} azs_stream_start;

typedef struct azs_stream_image {
    uint64_t series_id, image_id;
    int nchannels;
    azs_stream_channel data[AZS_STREAM_MAX_CHANNELS];
} azs_stream_image;

typedef struct azs_stream_msg {
    azs_stream_msg_type type;
    azs_stream_start start; /* type START */
    azs_stream_image image; /* type IMAGE */
    uint64_t end_series_id; /* type END (0 if not sent) */
    void *priv;             /* the decoded CBOR tree the arrays point into */
} azs_stream_msg;

/* Decode one message. AZS_ERR_PARSE: not CBOR or malformed; AZS_ERR_FORMAT: a field of the
 * wrong type, shape or size (the detail names it); AZS_ERR_UNSUPPORTED: a message type other
 * than start/image/end (the detail names it), an element type or compression we do not
 * read. Unknown fields are ignored. *out is NULL on failure; free with azs_stream_msg_free. */
AZS_API azs_status azs_stream_msg_decode(const void *buf, size_t size, azs_stream_msg **out);
AZS_API void azs_stream_msg_free(azs_stream_msg *m);
/* A message as received (azs_stream_recv_buffer): ZeroMQ's own buffer, not copied. */
typedef struct azs_stream_buffer azs_stream_buffer;
AZS_API const uint8_t *azs_stream_buffer_data(const azs_stream_buffer *b, size_t *size);
AZS_API void azs_stream_buffer_free(azs_stream_buffer *b);
/* As azs_stream_msg_decode, without copying: the message takes b (freed with it, or at once
 * on failure) and its arrays point into b's bytes. */
AZS_API azs_status azs_stream_msg_decode_buffer(azs_stream_buffer *b, azs_stream_msg **out);

/* The image's channel `name` (NULL: the first). NULL if absent. */
AZS_API const azs_stream_array *azs_stream_image_channel(const azs_stream_image *im, const char *name);
/* Decode an array into pixels (capacity >= ny*nx*elem_size). Chunk errors as the codec's
 * (CORRUPT, TRUNCATED, SIZE_MISMATCH). */
AZS_API azs_status azs_stream_array_decode(const azs_stream_array *a, void *pixels, size_t capacity);
/* The start message's pixel_mask of `channel` (NULL: the first channel) as 1 = masked (any
 * bit set, as a DECTRIS master's), malloc'd [ny*nx]. AZS_ERR_NOT_FOUND when it sent none,
 * AZS_ERR_FORMAT when it is not ny x nx (the images' shape). */
AZS_API azs_status azs_stream_pixel_mask(const azs_stream_start *s, const char *channel, uint32_t ny,
                                 uint32_t nx, uint8_t **mask, size_t *nmasked);
/* pyFAI's Fit2D → PONI without tilt from the start message: poni1 = beam_center_y ×
 * pixel_size_y, poni2 = beam_center_x × pixel_size_x, dist = detector_distance (else the
 * translation's z), wavelength from ångström (else from the energy). AZS_ERR_NOT_FOUND
 * naming the first field missing. */
AZS_API azs_status azs_stream_geometry(const azs_stream_start *s, azs_geometry *g);

/* ---------------------------------------------------------------- encoding (replay, tests) */
/* A start message of the fields set in s (has_*; image_size and channels always; the
 * arrays of pixel_mask/flatfield raw), an image message (one channel, its array as given),
 * an end message. *out malloc'd, *size its length. */
AZS_API azs_status azs_stream_encode_start(const azs_stream_start *s, uint8_t **out, size_t *size);
AZS_API azs_status azs_stream_encode_image(uint64_t series_id, uint64_t image_id, const char *channel,
                                   const azs_stream_array *a, uint8_t **out, size_t *size);
AZS_API azs_status azs_stream_encode_end(uint64_t series_id, uint8_t **out, size_t *size);
/* The image message of azs_stream_encode_image up to its array's bytes, written into out
 * (cap bytes; AZS_STREAM_IMAGE_HEAD_MAX always suffice): the whole message is these *len
 * bytes followed by the a->nbytes bytes of the array (a->bytes is not read). So a sender
 * reads a chunk once, straight after its head, and sends head + chunk without a copy. */
#define AZS_STREAM_IMAGE_HEAD_MAX (160 + AZS_STREAM_NAME_MAX)
AZS_API azs_status azs_stream_encode_image_head(uint64_t series_id, uint64_t image_id, const char *channel,
                                                const azs_stream_array *a, uint8_t *out, size_t cap, size_t *len);

/* ---------------------------------------------------------------- ZeroMQ */
typedef struct azs_stream_socket azs_stream_socket;
#define AZS_STREAM_MAX_CONNECTIONS 16
/* A PULL socket connected to endpoint (tcp://HOST:PORT, ipc://PATH). rcvhwm: messages
 * queued before the sender is held back (0 = 64, per connection): a slow receiver slows the
 * sender down, nothing is dropped (PUSH blocks at the high-water mark). */
AZS_API azs_status azs_stream_pull_open(const char *endpoint, int rcvhwm, azs_stream_socket **out);
/* The same socket connected `connections` times (1 to AZS_STREAM_MAX_CONNECTIONS), with as
 * many ZeroMQ I/O threads: the sender's PUSH socket sends each message to one connection,
 * round-robin, so messages arrive out of order across connections (azs_stream_job_run puts
 * them back in order). One connection carries ~1,650 Eiger 4M messages/s over loopback. */
AZS_API azs_status azs_stream_pull_open_n(const char *endpoint, int rcvhwm, int connections,
                                          azs_stream_socket **out);
/* A PUSH socket bound to endpoint (tcp://HOST:PORT; HOST may be a star), for replay; or a
 * PUB socket (publish). _io: with io_threads ZeroMQ I/O threads (one per receiving
 * connection is best). */
AZS_API azs_status azs_stream_push_bind(const char *endpoint, azs_stream_socket **out);
AZS_API azs_status azs_stream_push_bind_io(const char *endpoint, int io_threads, azs_stream_socket **out);
AZS_API azs_status azs_stream_pub_bind(const char *endpoint, azs_stream_socket **out);
/* Receive one message, waiting at most timeout_ms (-1: forever), checking *cancel (may be
 * NULL) every 100 ms: AZS_ERR_INTERRUPTED when it is set, AZS_ERR_NOT_FOUND on a timeout.
 * *buf malloc'd. */
AZS_API azs_status azs_stream_recv(azs_stream_socket *s, int timeout_ms, volatile int *cancel, uint8_t **buf,
                           size_t *size);
/* As azs_stream_recv, the message kept in ZeroMQ's buffer (no copy): *out to be freed with
 * azs_stream_buffer_free or handed to azs_stream_msg_decode_buffer. */
AZS_API azs_status azs_stream_recv_buffer(azs_stream_socket *s, int timeout_ms, volatile int *cancel,
                                          azs_stream_buffer **out);
/* Send one message; blocks while the peers are at their high-water mark (PUSH), checking
 * *cancel every 100 ms. */
AZS_API azs_status azs_stream_send(azs_stream_socket *s, const void *buf, size_t size, volatile int *cancel);
/* Send a malloc'd message without copying it: ZeroMQ frees it (free()) once sent; on
 * failure it is freed here. */
AZS_API azs_status azs_stream_send_owned(azs_stream_socket *s, void *buf, size_t size, volatile int *cancel);
/* Send data without copying it: release(data, hint) is called once ZeroMQ is done with it
 * (from one of ZeroMQ's I/O threads, so it must be thread-safe), or here on failure. */
AZS_API azs_status azs_stream_send_lent(azs_stream_socket *s, void *data, size_t size,
                                        void (*release)(void *data, void *hint), void *hint,
                                        volatile int *cancel);
/* Close; linger_ms: how long unsent messages may still go out (-1: until sent). */
AZS_API void azs_stream_close(azs_stream_socket *s, int linger_ms);

/* ---------------------------------------------------------------- replay */
/* A stack's stored chunks (direct chunk reads, no decoding) as Stream V2 series on a PUSH
 * socket bound to `bind`: per series a start message (shape, image_dtype, number_of_images,
 * the file's pixel_mask as uint32), one image message per frame (bslz4 / lz4 chunks in tag
 * 56500; a chunk without raw bytes as raw pixels), an end message. `readers` threads read
 * ahead into a pool of `buffers` message buffers sent without a copy (or, `preload`, the
 * frames are read once beforehand); the calling thread sends in image_id order. Sending
 * waits for a receiver and, at its high-water mark, for it to catch up: nothing is dropped
 * but the ids in `drop`. */
typedef struct azs_stream_replay_options {
    const char *input, *dataset;   /* the stack (dataset NULL: as azs_source_open) */
    const char *bind;              /* tcp://HOST:PORT or ipc://PATH */
    const char *channel;           /* default "threshold_1" */
    double rate;                   /* images per second; 0: as fast as the receiver takes them */
    uint64_t repeat;               /* series, one after the other (default 1) */
    uint64_t loop;                 /* the stack's frames this many times within a series (1) */
    uint64_t series0;              /* the first series' id (1), then counting on */
    const uint64_t *drop;          /* image_ids not sent (lost on the way: tests of gap rows) */
    int ndrop;
    int readers;                   /* reader threads (default 4, at most 64) */
    int buffers;                   /* message buffers (0: 4 per reader + 8) */
    int io_threads;                /* ZeroMQ I/O threads (default 4: one per receiving connection) */
    /* 1: read every frame of the stack into memory first (copies of them: at least 128
     * buffers where preload_max_bytes allows), then send each from there, only its head
     * rewritten: no read or copy per message, as a detector sends from its memory
     * (AZS_ERR_CAPACITY when the frames need more than preload_max_bytes; 0: 8 GiB). */
    int preload;
    uint64_t preload_max_bytes;
    volatile int *cancel;
} azs_stream_replay_options;

typedef struct azs_stream_replay_summary {
    uint64_t sent, series, bytes; /* image messages and their bytes; series sent whole */
    double seconds;               /* from the first start message taken to the last message out */
} azs_stream_replay_summary;

AZS_API void azs_stream_replay_options_default(azs_stream_replay_options *o);
AZS_API azs_status azs_stream_replay(const azs_stream_replay_options *o, azs_stream_replay_summary *sum);

/* ---------------------------------------------------------------- integrating a stream */
typedef struct azs_stream_job_options {
    const char *endpoint;       /* tcp://HOST:PORT or ipc://PATH */
    const char *channel;        /* NULL: the first channel of each series */
    const char *output;         /* "{series_id}" is replaced by the series id */
    int follow;                 /* 0: one series, then return; 1: series until cancelled */
    const char *publish;        /* a PUB endpoint for each frame's profile (NULL: none) */
    int rcvhwm;                 /* see azs_stream_pull_open */
    /* ZeroMQ connections to the endpoint (azs_stream_pull_open_n; 0 or 1: one). With more,
     * the messages are put back in order: a series' images held until its start message,
     * images in image_id order (at most 64 per connection held, or 1 s), the end message
     * final once number_of_images arrived or 1 s passed (doc/streams.md). */
    int connections;
    /* 1: a series' output that exists already is replaced, once the series has a row (as
     * azs_job_options.overwrite); 0: it is refused (AZS_ERR_CONFLICT), the file untouched. */
    int overwrite;
    /* layout (threads, serial or gpu; procs and mpi: AZS_ERR_UNSUPPORTED), workers (gpu: the
     * threads copying chunks into the device's batches), skip_bad, cancel, device and
     * gpu_batch / gpu_slots / gpu_lag (gpu: AZS_ERR_NO_DEVICE without a device). */
    azs_run_options run;
    const char *program, *version; /* recorded in the output */
    /* Told about each event worth a line: geometry taken from the start message, image_id
     * gaps, a series short of number_of_images, a message skipped. May be NULL. */
    void (*notice)(void *ctx, const char *msg);
    void *notice_ctx;
} azs_stream_job_options;

AZS_API void azs_stream_job_options_default(azs_stream_job_options *o);

typedef struct azs_stream_job_summary {
    uint64_t series;            /* series written */
    uint64_t frames_done;       /* rows written over all series (missing ones included) */
    uint64_t frames_missing;    /* of which never received (frame_status AZS_ERR_STREAM_GAP) */
    uint64_t frames_bad;        /* of which corrupt and skipped (skip_bad) */
    double seconds;
    double latency_median, latency_p99; /* seconds from an image's receipt to its row written */
    /* Where the receiving thread's time went, over the series (what limits the rate: recv
     * long = the sender or the transport; put long = the integration, the ring full): in
     * ZeroMQ's receive (waiting for a message included), decoding the messages (in place,
     * no copy), putting them into the ring (waiting for a free slot included). */
    double recv_seconds, decode_seconds, put_seconds;
    uint64_t bytes_received;    /* of the series' messages after their start message */
} azs_stream_job_summary;

/* Serve the stream: for each series, a start message, its images integrated in arrival
 * order with settings s (geometry: s's PONI; without one, the start message's, see
 * azs_stream_geometry; the start message's pixel_mask of the channel OR-ed in unless
 * no-pixel-mask), one output per series. An image_id gap and images short of
 * number_of_images at the end message give rows of their own, NaN with frame_status
 * AZS_ERR_STREAM_GAP. On cancel, every frame received is written and the output closed
 * valid; the status is AZS_ERR_INTERRUPTED. */
AZS_API azs_status azs_stream_job_run(const azs_settings *s, const azs_stream_job_options *o,
                              azs_stream_job_summary *sum);

#ifdef __cplusplus
}
#endif
#endif
