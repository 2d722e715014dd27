/* azstream: the public C API, valid C11 and C++17. Each header is the manual of its concern;
 * this one includes them all but gpu.h (the GPU engine behind layout 3, not a user API). */
#ifndef AZSTREAM_AZSTREAM_H
#define AZSTREAM_AZSTREAM_H
#include "azstream/status.h"
#include "azstream/types.h"
#include "azstream/codec.h"
#include "azstream/source.h"
#include "azstream/geometry.h"
#include "azstream/integrate.h"
#include "azstream/layout.h"
#include "azstream/sink.h"
#include "azstream/arrays.h"
#include "azstream/job.h"
#include "azstream/version.h"
#endif
