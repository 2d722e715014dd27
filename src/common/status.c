#include "common/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* 1 KiB is enough for a path plus a sentence; longer details are truncated, never overrun. */
static _Thread_local char last_error[1024];

const char *azs_status_str(azs_status s)
{
    switch (s) {
    case AZS_OK: return "ok";
    case AZS_ERR_NOMEM: return "out of memory";
    case AZS_ERR_INVALID_ARG: return "invalid argument";
    case AZS_ERR_IO: return "I/O error";
    case AZS_ERR_NOT_FOUND: return "not found";
    case AZS_ERR_FORMAT: return "unexpected format";
    case AZS_ERR_UNSUPPORTED: return "unsupported";
    case AZS_ERR_CORRUPT: return "corrupt data";
    case AZS_ERR_TRUNCATED: return "truncated data";
    case AZS_ERR_SIZE_MISMATCH: return "size mismatch";
    case AZS_ERR_CAPACITY: return "buffer too small";
    case AZS_ERR_PARSE: return "parse error";
    case AZS_ERR_GPU: return "GPU error";
    case AZS_ERR_NO_DEVICE: return "no GPU device";
    case AZS_ERR_MPI: return "MPI error";
    case AZS_ERR_INTERRUPTED: return "interrupted";
    case AZS_ERR_WORKER: return "worker failed";
    case AZS_ERR_INTERNAL: return "internal error";
    case AZS_ERR_MISSING: return "frame absent (data file missing)";
    case AZS_ERR_UNWRITTEN: return "chunk never written";
    case AZS_ERR_STREAM_GAP: return "frame not received";
    case AZS_ERR_CONFLICT: return "output conflict";
    }
    return "unknown status";
}

const char *azs_last_error(void) { return last_error; }

void azs_clear_error(void) { last_error[0] = '\0'; }

azs_status azs_fail(azs_status s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return s;
}

azs_status azs_fail_context(azs_status s, const char *fmt, ...)
{
    char old[sizeof last_error];
    const char *detail = last_error[0] ? last_error : azs_status_str(s);
    size_t dlen = strlen(detail);
    memcpy(old, detail, dlen + 1);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* Append the old detail after the prefix, truncating (never overrunning) the buffer. */
    size_t used = n < 0 ? 0 : ((size_t)n < sizeof last_error ? (size_t)n : sizeof last_error - 1);
    size_t room = sizeof last_error - 1 - used;
    size_t take = dlen < room ? dlen : room;
    memcpy(last_error + used, old, take);
    last_error[used + take] = '\0';
    return s;
}
