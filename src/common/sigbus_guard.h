/* Reading a mapped file safely.
 *
 * A page of a file mapping that the file no longer backs (the file was truncated after it
 * was mapped) raises SIGBUS when touched, which would kill the process. azs_sigbus_guard
 * runs a function with such faults, inside one address range and on the calling thread
 * only, turned into an error return: the function is abandoned at the faulting load (it
 * must hold no lock and own no allocation at that point: a decoder working on caller-owned
 * buffers qualifies) and the caller learns where in the range the fault was.
 *
 * The handler is installed on first use and keeps the one that was there before: any
 * other SIGBUS (another thread, another address) goes to it, or kills the process as
 * usual. A program that installs its own SIGBUS handler afterwards loses the guard, not
 * its own handler. */
#ifndef AZS_COMMON_SIGBUS_GUARD_H
#define AZS_COMMON_SIGBUS_GUARD_H

#include <stddef.h>

#include "azstream/status.h"

/* Calls fn(arg). Returns AZS_OK when it returned, AZS_ERR_TRUNCATED (no message set) when
 * it touched an unbacked page of [lo, lo + len), with *fault_at = the offset in the range;
 * AZS_ERR_INTERNAL when the handler cannot be installed (fn is then not called). */
azs_status azs_sigbus_guard(const void *lo, size_t len, void (*fn)(void *), void *arg,
                            size_t *fault_at);

#endif
