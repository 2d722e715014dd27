#include "h5/h5lock.h"

#include <hdf5.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t h5_mutex = PTHREAD_MUTEX_INITIALIZER;

void azs_h5_lock(void)
{
    pthread_mutex_lock(&h5_mutex);
    /* Cheap, and needed on every entry: in thread-safe HDF5 builds the setting is per
     * thread, and a caller may have turned printing back on. */
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void azs_h5_unlock(void) { pthread_mutex_unlock(&h5_mutex); }

typedef struct {
    char first[256], last[256];
    int n;
} walk_state;

static herr_t walk_cb(unsigned n, const H5E_error2_t *e, void *data)
{
    walk_state *w = data;
    (void)n;
    if (e->desc && e->desc[0]) {
        if (w->n == 0)
            snprintf(w->first, sizeof w->first, "%s", e->desc);
        snprintf(w->last, sizeof w->last, "%s", e->desc);
        w->n++;
    }
    return 0;
}

void azs_h5_error_detail(char *buf, size_t n)
{
    walk_state w = {{0}, {0}, 0};
    if (n == 0)
        return;
    buf[0] = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &w);
    if (w.n == 0)
        return;
    if (w.n == 1 || !strcmp(w.first, w.last))
        snprintf(buf, n, "%s", w.first);
    else
        snprintf(buf, n, "%s: %s", w.first, w.last);
}
