/* azstream: the command line. Dispatches to one sub-command per file (cmd_*.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"info", cmd_info, "dataset, frames, shape, dtype, chunking, filter, links resolved"},
    {"export", cmd_export, "decoded frames to .npy or .raw"},
    {"synth", cmd_synth, "write a synthetic Eiger-like bitshuffle-LZ4 stack"},
    {"integrate", cmd_integrate, "azimuthal integration of a stack (1D or 2D)"},
    {"replay", cmd_replay, "send a stack's chunks as a DECTRIS Stream V2 series (ZeroMQ)"},
    {"bench", cmd_bench, "frames/s of the integration layouts"},
    {"bench-decode", cmd_bench_decode, "GB/s of the bitshuffle-LZ4 decoder"},
};

static void usage(FILE *f)
{
    fprintf(f, "azstream %s: azimuthal integration of X-ray detector image stacks\n\n"
               "usage: azstream COMMAND [options]   (azstream COMMAND --help for each)\n\n"
               "commands:\n", AZS_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-14s %s\n", commands[i].name, commands[i].help);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("azstream %s\n", AZS_VERSION);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "worker"))
        return cmd_worker(argc - 1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "azstream: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_USAGE;
}
