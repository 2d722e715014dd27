/* The library's version: AZS_VERSION_STRING of the generated azstream/version.h, i.e.
 * project(azstream VERSION ...) of the top CMakeLists.txt. */
#include "azstream/version.h"

const char *azs_version(void) { return AZS_VERSION_STRING; }
