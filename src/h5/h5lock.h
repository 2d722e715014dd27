/* Internal: one process-wide lock around every libhdf5 call made by azstream.
 *
 * Debian's serial libhdf5 is not built thread-safe, so two threads inside HDF5 at once
 * corrupt its global state. Every HDF5 call (src/h5's source, src/sink's HDF5 sink,
 * src/arrays' loader, tools/synth's writer) happens between azs_h5_lock() and
 * azs_h5_unlock(). The pread fast path takes no lock at all. azs_h5_lock() also switches off HDF5's automatic error printing
 * (the library never prints). */
#ifndef AZS_H5_H5LOCK_H
#define AZS_H5_H5LOCK_H

#include <stddef.h>

void azs_h5_lock(void);
void azs_h5_unlock(void);

/* Copies the messages of HDF5's current error stack (outermost, innermost) into buf as
 * "outer: inner" ("" when the stack is empty). Call with the lock held, right after the
 * failing HDF5 call. */
void azs_h5_error_detail(char *buf, size_t n);

#endif
