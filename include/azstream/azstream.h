/* azstream: the public C API. Each header is the manual of its concern. */
#ifndef AZSTREAM_AZSTREAM_H
#define AZSTREAM_AZSTREAM_H
#include "azstream/status.h"
#include "azstream/types.h"
#include "azstream/codec.h"
#include "azstream/source.h"
#include "azstream/geometry.h"
#include "azstream/integrate.h"
#include "azstream/layout.h"
#endif
