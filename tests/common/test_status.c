/* Every status has a distinct name; details are kept per thread and truncated safely. */
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/alloc.h"
#include "check.h"

int main(void)
{
    for (int a = AZS_OK; a <= AZS_ERR_UNWRITTEN; a++)
        for (int b = a + 1; b <= AZS_ERR_UNWRITTEN; b++)
            CHECK_EXPR(strcmp(azs_status_str((azs_status)a), azs_status_str((azs_status)b)) != 0);
    CHECK_EXPR(azs_fail(AZS_ERR_NOT_FOUND, "file %s", "x.h5") == AZS_ERR_NOT_FOUND);
    CHECK_EXPR(strcmp(azs_last_error(), "file x.h5") == 0);
    CHECK_EXPR(azs_fail_context(AZS_ERR_NOT_FOUND, "frame %d: ", 3) == AZS_ERR_NOT_FOUND);
    CHECK_EXPR(strcmp(azs_last_error(), "frame 3: file x.h5") == 0);
    char big[4096];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    azs_fail(AZS_ERR_IO, "%s", big);
    CHECK_EXPR(strlen(azs_last_error()) < sizeof big - 1);
    size_t r;
    CHECK_EXPR(azs_mul_size((size_t)1 << 40, (size_t)1 << 40, &r) == -1);
    CHECK_EXPR(azs_mul_size(3, 5, &r) == 0 && r == 15);
    void *p = azs_aligned_alloc(100);
    CHECK_EXPR(p && ((size_t)p % AZS_ALIGN) == 0);
    azs_aligned_free(p);
    azs_aligned_free(NULL);
    printf("status tests: %d failure(s)\n", failures);
    return failures ? 1 : 0;
}
