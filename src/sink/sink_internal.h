/* Internal: the sink is a small vtable so the HDF5 and text back ends share one API. */
#ifndef AZS_SINK_INTERNAL_H
#define AZS_SINK_INTERNAL_H

#include "azstream/sink.h"

struct azs_sink {
    azs_status (*write)(azs_sink *s, uint64_t frame, const double *inten, const double *sigma,
                        azs_status fs);
    azs_status (*flush)(azs_sink *s);
    azs_status (*close)(azs_sink *s); /* also frees s; puts the file in place */
    void (*discard)(azs_sink *s);     /* also frees s; puts nothing in place */
    uint64_t rows;                    /* rows accepted (resumed ones included) */
    uint64_t bad;                     /* of which bad frames */
    uint64_t resumed;                 /* rows an AZS_OUTPUT_RESUME open found */
    char resume_note[768];
};

#endif
