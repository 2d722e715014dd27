/* AZS_API marks the functions of the public API. libazstream.so is built with hidden
 * visibility by default, so it exports these and nothing else: the internal functions of
 * src/ stay private to the library and can change without breaking its users. */
#ifndef AZSTREAM_EXPORT_H
#define AZSTREAM_EXPORT_H

#if defined(__GNUC__) || defined(__clang__)
#define AZS_API __attribute__((visibility("default")))
#else
#define AZS_API
#endif

#endif
