/* Built against the installed library by install_test.sh: prints the library's version. */
#include <azstream/azstream.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    /* The library's version must be the headers' (both from the same install). */
    if (strcmp(azs_version(), AZS_VERSION_STRING) != 0) return 1;
    /* A function of types.h, the one header that lacked extern "C": C++ links it too. */
    if (azs_dtype_size(AZS_U32) != 4) return 1;
    printf("%s\n", azs_version());
    return 0;
}
