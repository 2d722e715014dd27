/* Darks and flats named as a list (pyFAI configs: "dark_current": ["a.edf", "b.edf"]),
 * combined as pyFAI 2026.9's worker does: one file is read as is (its first frame); two or
 * more are averaged over every frame of every file, each converted to float32, summed in
 * float32 in list order, then divided by the float32 count (pyFAI's average_images with filter "mean" and threshold 0; measured bit for bit).
 * The settings keep a list as its file names joined by '\n'. */
#include <stdlib.h>
#include <string.h>

#include "azstream/arrays.h"
#include "common/error.h"
#include "settings_internal.h"

azs_status azs_job_array_load(const char *spec, float **out, uint32_t *ny, uint32_t *nx)
{
    if (!spec || !out || !ny || !nx)
        return azs_fail(AZS_ERR_INVALID_ARG, "azs_job_array_load: NULL argument");
    if (!strchr(spec, '\n'))
        return azs_array_load(spec, out, ny, nx);
    *out = NULL;
    float *sum = NULL;
    uint32_t count = 0;
    azs_status st = AZS_OK;
    char name[AZS_PATH_MAX];
    for (const char *p = spec; st == AZS_OK && *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        memcpy(name, p, n); /* n < AZS_PATH_MAX: spec came through the settings */
        name[n] = 0;
        p += n + (e ? 1 : 0);
        /* every frame of every file, in order */
        uint32_t nframes = 1;
        for (uint32_t k = 0; st == AZS_OK && k < nframes; k++) {
            float *a = NULL;
            uint32_t ay, ax;
            if ((st = azs_array_load_frame(name, k, &a, &ay, &ax, &nframes)) != AZS_OK)
                break;
            if (!sum) {
                sum = a;
                *ny = ay;
                *nx = ax;
            } else if (ay != *ny || ax != *nx) {
                st = azs_fail(AZS_ERR_FORMAT, "%s: shape %ux%u, the list's first file is %ux%u", name, ay, ax,
                              *ny, *nx);
                free(a);
            } else {
                size_t m = (size_t)ay * ax;
                for (size_t i = 0; i < m; i++)
                    sum[i] += a[i]; /* float32, in list order, as pyFAI */
                free(a);
            }
            count++;
        }
    }
    if (st != AZS_OK) {
        free(sum);
        return st;
    }
    const float c = (float)count;
    for (size_t i = 0, m = (size_t)*ny * *nx; i < m; i++)
        sum[i] /= c;
    *out = sum;
    return AZS_OK;
}
