/* The integrator cache folder of `azstream integrate` (the library reads no environment:
 * the folder is resolved here and given in azs_job_options.cache_dir). */
#ifndef AZS_PROGRAMS_CLI_CACHE_H
#define AZS_PROGRAMS_CLI_CACHE_H

#include <stddef.h>

struct azs_job;

/* --no-cache: NULL. --cache-dir DIR: DIR as given (a missing or read-only folder then
 * gives the library's notice). Else $XDG_CACHE_HOME/azstream (an absolute
 * XDG_CACHE_HOME), or ~/.cache/azstream, created if missing (mode 0700); NULL, after a
 * notice on stderr, if it cannot be. buf holds the path. */
const char *cli_cache_dir(const char *cmd, const char *given, int disabled, char *buf, size_t cap);
/* "  integrator ...", under the run's summary line: where the job's integrator came from
 * (nothing without a cache). */
void cli_cache_summary(const struct azs_job *job);

#endif
