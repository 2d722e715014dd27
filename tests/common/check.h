/* The check macro of the C tests: a failed condition is counted and reported with its file,
 * line, expression and a printf-style detail; the test goes on and main returns non-zero
 * when `failures` is not 0. */
#ifndef AZS_TESTS_CHECK_H
#define AZS_TESTS_CHECK_H
#include <stdio.h>

static int failures;
#define CHECK(c, ...)                                                                    \
    do {                                                                                 \
        if (!(c)) {                                                                      \
            failures++;                                                                  \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #c);        \
            fprintf(stderr, __VA_ARGS__);                                                \
            fputc('\n', stderr);                                                         \
        }                                                                                \
    } while (0)

#endif
