/* Placeholder until this sub-command lands: says so and fails, never pretends. */
#include <stdio.h>
#include "cli.h"

int cmd_bench(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "azstream %s: not implemented yet\n", argv[0]);
    return CLI_FAIL;
}
