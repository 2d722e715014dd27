/* Shared helpers of the azstream command: one function per sub-command, option parsing
 * helpers, and the one place that prints library errors. */
#ifndef AZS_PROGRAMS_CLI_H
#define AZS_PROGRAMS_CLI_H

#include <stdint.h>
#include "azstream/layout.h"
#include "azstream/status.h"

/* Each sub-command: argv[0] is the sub-command name. Returns the process exit code. */
int cmd_info(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_integrate(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_decode(int argc, char **argv);
int cmd_worker(int argc, char **argv); /* hidden: a layout-2 worker process */
int cmd_replay(int argc, char **argv);

/* `azstream integrate tcp://HOST:PORT ...` (cmd_integrate_stream.c): the stream options,
 * parsed beside integrate's own, and the run. */
typedef struct cli_stream_args {
    const char *channel, *publish;
    int follow;
    int connections; /* 0: one */
} cli_stream_args;
int cli_is_stream_input(const char *input);
int cli_stream_option_arity(const char *name); /* 1 value, 0 flag, -1 not a stream option */
int cli_stream_option(cli_stream_args *a, const char *name, const char *val);
const char *cli_stream_usage(void);
struct azs_settings;
struct azs_job_options;
int cli_integrate_stream(const char *cmd, struct azs_settings *s, const struct azs_job_options *jo,
                         const cli_stream_args *a, int quiet);

/* Exit codes: 0 success, 1 runtime failure (bad data, I/O), 2 usage error. */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Print "azstream <cmd>: <what>: <status>: <detail>" on stderr; returns CLI_FAIL. */
int cli_report(const char *cmd, azs_status s, const char *what);
/* Print a usage error on stderr; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* The tuning knobs of azs_run_options from the environment, for measurements (the library
 * reads none): AZS_CPU_BATCH, AZS_GPU_BATCH, AZS_GPU_SLOTS, AZS_GPU_LAG, AZS_GPU_WINDOW_MIB,
 * AZS_GPU_REGISTER_CAP_MIB (unset or not a
 * number: the default). Returns 1 when AZS_GPU_TRACE is set: print the GPU trace. */
struct azs_run_options;
int cli_run_knobs(struct azs_run_options *o);
/* --gpu-feed auto|pread|register|direct; 0 on success. */
int cli_parse_gpu_feed(const char *v, azs_gpu_feed *f);
/* "layout gpu trace: ..." on stderr, from a run's summary. */
struct azs_run_summary;
void cli_print_gpu_trace(const struct azs_run_summary *s);

/* "a:b", "a:", ":b", "a" (one frame); end exclusive; -1 means open. 0 on success. */
int cli_parse_range_i64(const char *s, int64_t *a, int64_t *b);
/* "a:b" of doubles; both required. 0 on success. */
int cli_parse_range_f64(const char *s, double *a, double *b);
/* Whole string is an integer / a finite double. 0 on success. */
int cli_parse_i64(const char *s, int64_t *v);
int cli_parse_f64(const char *s, double *v);

#endif
