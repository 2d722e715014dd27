/* The check macro of the C tests: a failed condition is counted and reported with its file,
 * line, expression and a printf-style detail; the test goes on and main returns non-zero
 * when `failures` is not 0. CHECK_EXPR(c) is CHECK without a detail. A test may define
 * CHECK_CONTEXT() before including this header to print more after the detail (the codec
 * and PONI tests print azs_last_error()). */
#ifndef AZS_TESTS_CHECK_H
#define AZS_TESTS_CHECK_H
#include <stdio.h>

#ifndef CHECK_CONTEXT
#define CHECK_CONTEXT() ((void)0)
#endif

static int failures;
#define CHECK(c, ...)                                                                    \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #c);        \
            fprintf(stderr, __VA_ARGS__);                                                \
            CHECK_CONTEXT();                                                             \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)
#define CHECK_EXPR(c) CHECK(c, "%s", "")

#endif
