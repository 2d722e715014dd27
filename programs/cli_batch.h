/* Runs that behave in batch systems (cli_batch.c): progress on a terminal (one line,
 * rewritten) or, when stderr is a file or a pipe, a whole line every few seconds; and the
 * output pattern that gives each input its own output (-o {stem}_azint.h5). */
#ifndef AZS_PROGRAMS_CLI_BATCH_H
#define AZS_PROGRAMS_CLI_BATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct cli_progress {
    const char *cmd;   /* "integrate" */
    const char *label; /* the output being written, with several (NULL: none) */
    double interval;   /* seconds between lines when stderr is not a terminal */
    int tty;
    double t0, last;
    uint64_t last_done;
    int printed;
} cli_progress;

void cli_progress_init(cli_progress *p, const char *cmd, double interval);
/* A run begins: frames/s and ETA count from here. */
void cli_progress_start(cli_progress *p, const char *label);
/* azs_job_options.progress, ctx a cli_progress. */
void cli_on_progress(void *ctx, uint64_t done, uint64_t total);
/* Ends a terminal's progress line. */
void cli_progress_end(cli_progress *p);

/* Whether -o holds a pattern ({stem}, {name}, {dir}, {index}): one output per input. */
int cli_output_is_pattern(const char *output);
/* The pattern for the input at position index: {stem} its base name without extension,
 * {name} its base name, {dir} its folder, {index} its position from 0. -1 when too long
 * or on an unknown {...} (*bad points at it). */
int cli_output_expand(const char *pattern, const char *input, int index, char *out, size_t cap, const char **bad);

#endif
