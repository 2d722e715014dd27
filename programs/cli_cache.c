/* The integrator cache folder: resolved from the options and the environment (XDG base
 * directories), and a line saying where the integrator came from. */
#define _POSIX_C_SOURCE 200809L
#include "cli_cache.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "azstream/job.h"

/* mkdir -p; 0 when the folder exists afterwards. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = 0;
        int r = mkdir(path, 0700);
        *p = '/';
        if (r && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0700) && errno != EEXIST ? -1 : 0;
}

const char *cli_cache_dir(const char *cmd, const char *given, int disabled, char *buf, size_t cap)
{
    if (disabled)
        return NULL;
    if (given)
        return given;
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (xdg && xdg[0] == '/') /* the XDG spec: a relative path is ignored */
        n = snprintf(buf, cap, "%s/azstream", xdg);
    else if (home && home[0])
        n = snprintf(buf, cap, "%s/.cache/azstream", home);
    else
        return NULL;
    if (n <= 0 || (size_t)n >= cap)
        return NULL;
    if (make_dirs(buf)) {
        fprintf(stderr, "azstream %s: integrator cache: cannot create %s (%s): built without the cache "
                        "(--cache-dir DIR or --no-cache)\n", cmd, buf, strerror(errno));
        return NULL;
    }
    return buf;
}

void cli_cache_summary(const struct azs_job *job)
{
    const char *file = "";
    double s = 0;
    switch (azs_job_integrator_origin(job, &file, &s)) {
    case AZS_INTEGRATOR_CACHE_LOADED:
        printf("  integrator mapped from the cache in %.3f s (%s)\n", s, file);
        break;
    case AZS_INTEGRATOR_CACHE_STORED:
        printf("  integrator built and cached in %.3f s (%s)\n", s, file);
        break;
    case AZS_INTEGRATOR_CACHE_NOT_STORED:
        printf("  integrator built in %.3f s, not cached\n", s);
        break;
    default:
        break;
    }
}
