/* Internal: the one monotonic clock of the library (timings, progress, timeouts). */
#ifndef AZS_COMMON_CLOCK_H
#define AZS_COMMON_CLOCK_H

/* Seconds on CLOCK_MONOTONIC (an arbitrary origin: use differences). */
double azs_now_seconds(void);

#endif
