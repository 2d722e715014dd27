/* Internal: set the thread-local error detail and return the status in one statement:
 *     return azs_fail(AZS_ERR_NOT_FOUND, "%s: no dataset '%s'", path, name);
 */
#ifndef AZS_COMMON_ERROR_H
#define AZS_COMMON_ERROR_H

#include "azstream/status.h"

#if defined(__GNUC__)
#define AZS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define AZS_PRINTF(a, b)
#endif

azs_status azs_fail(azs_status s, const char *fmt, ...) AZS_PRINTF(2, 3);

/* Prefix the current detail with more context ("frame 12: " + detail); returns s. */
azs_status azs_fail_context(azs_status s, const char *fmt, ...) AZS_PRINTF(2, 3);

#endif
