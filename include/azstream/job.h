/* The job layer: what a user asks for (options, a PONI file, a pyFAI-style JSON config)
 * → settings → integrator → sources → layout → sink, in a few calls. The command line, a
 * Python binding and a stream input all go through it, so they read settings the same way
 * and produce the same files.
 *
 *     azs_settings *s;                       azs_settings_create(&s);
 *     azs_settings_set(s, "poni", "geom.poni");  azs_settings_set(s, "npt", "1000");
 *     azs_job_options jo;                    azs_job_options_default(&jo);
 *     jo.inputs = inputs; jo.ninputs = 1;    jo.output = "out.h5";
 *     azs_job *job;                          azs_job_open(s, &jo, &job);
 *     azs_job_run(job, NULL, &summary);      azs_job_close(job);
 *
 * Like the rest of the library it never prints and never reads the environment: failures
 * return a status with the detail in azs_last_error(), naming what and where. */
#ifndef AZSTREAM_JOB_H
#define AZSTREAM_JOB_H

#include "azstream/export.h"

#include "azstream/integrate.h"
#include "azstream/layout.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- settings
 * Geometry + integration options + the files they name (mask, dark, flat). */
typedef struct azs_settings azs_settings;

AZS_API azs_status azs_settings_create(azs_settings **out);
AZS_API azs_status azs_settings_copy(const azs_settings *s, azs_settings **out);
AZS_API void azs_settings_destroy(azs_settings *s);

/* Options by name, as on the command line without the dashes ('-' or '_' alike):
 *   poni FILE, npt N, npt-azim N, unit U, unit-azim U, method M, radial-range A:B,
 *   azimuth-range A:B (either end may be left out: automatic), chi-disc-at-0 (flag),
 *   polarization F, polarization-offset RAD, normalization-factor F, mask F, dark F,
 *   flat F, dummy V, delta-dummy D, empty V, error-model M, no-solid-angle (flag),
 *   no-gap-mask (flag), no-pixel-mask (flag), no-dummy (flag).
 * Returns 1 if `name` takes a value, 0 for a flag, -1 if it is not a settings option. */
AZS_API int azs_settings_option_arity(const char *name);
/* Set one option (value NULL for a flag). AZS_ERR_NOT_FOUND for a name that is not a
 * settings option, AZS_ERR_INVALID_ARG for a bad value (the detail names both). */
AZS_API azs_status azs_settings_set(azs_settings *s, const char *name, const char *value);
/* A geometry given directly (replaces any --poni). */
AZS_API azs_status azs_settings_set_geometry(azs_settings *s, const azs_geometry *g);

/* A JSON config file: pyFAI's integration configs (WorkerConfig versions 1 to 5, read with
 * pyFAI 2026.9's meaning: doc/integration.md, "pyFAI configs") and the option names above
 * (a two-number array for ranges). A key not understood, or a value the option refuses, is
 * AZS_ERR_PARSE naming the key and origin, and leaves the settings as they were.
 * azs_settings_load_json takes the text; origin names it in messages. Values set later
 * (azs_settings_set) override what the config said. */
AZS_API azs_status azs_settings_load_config(azs_settings *s, const char *path);
AZS_API azs_status azs_settings_load_json(azs_settings *s, const char *text, const char *origin);
/* Every setting as JSON that azs_settings_load_json reads back to the same settings, bit
 * for bit (doubles as %.17g): a pyFAI WorkerConfig v5 that pyFAI's from_dict loads with
 * the same meaning, azstream-only settings under "azstream". Also the configuration stored
 * in outputs. free() it. */
AZS_API char *azs_settings_to_json(const azs_settings *s);

/* Load the geometry (if only a PONI file was named) and the mask / dark / flat files,
 * check them against frames of ny × nx pixels of `dtype`, build the integrator. pyFAI
 * 2026.9's defaults: without a dummy option the detector's own dummy applies, in the
 * frames' type (azs_detector_dummy: it depends on dtype), unless no-dummy; without a mask
 * the detector's gap mask applies (no-gap-mask: none), and a mask replaces it. */
AZS_API azs_status azs_settings_build(azs_settings *s, uint32_t ny, uint32_t nx, azs_dtype dtype,
                              azs_integrator **out);
/* The geometry: valid once a geometry was given or azs_settings_build loaded the PONI. */
AZS_API const azs_geometry *azs_settings_geometry(const azs_settings *s);
/* The integration options (mask/dark/flat pointers are NULL here: see the paths). */
AZS_API const azs_integrate_options *azs_settings_integrate_options(const azs_settings *s);
/* The PONI file named ("" if none or if the geometry was given inline). */
AZS_API const char *azs_settings_poni_path(const azs_settings *s);
/* "no", "bbox", "full" / "none", "poisson", "azimuthal". */
AZS_API const char *azs_split_name(azs_split s);
AZS_API const char *azs_error_model_name(azs_error_model m);

/* ---------------------------------------------------------------- jobs
 * One or more input stacks integrated, one after the other, into one output: rows are
 * concatenated; the frame number recorded for input k counts on from the frames of
 * inputs 0..k-1; the frame range applies to each input. */
typedef struct azs_job_options {
    const char *const *inputs;   /* stacks (HDF5 files, Eiger masters, VDS) */
    int ninputs;
    const char *dataset;         /* NULL: /entry/data/data (see azs_source_open) */
    int64_t first_frame;         /* of each input; default 0 */
    int64_t end_frame;           /* exclusive; -1 (default) = to the input's last frame */
    const char *output;          /* .h5/.nxs or .dat/.xy; NULL: the caller's sink (azs_job_run) */
    const char *program;         /* recorded in the output; default "azstream" */
    const char *version;         /* default azs_job_version() */
    /* How to run: layout, workers, feed, skip_bad, cancel, notice, procs/mpi fields (its
     * frame range and progress are set by the job). Layout mpi: every rank opens the same
     * job; MPI is initialised by azs_job_open (azs_mpi_finalize is the caller's, at exit);
     * rank 0 writes the output. */
    azs_run_options run;
    /* Layout procs: an executable whose sub-command `worker` calls azs_job_worker_main
     * (the azstream command is one). Required for AZS_LAYOUT_PROCS. */
    const char *worker_exe;
    /* The integrator cache: an existing folder (the CLI gives $XDG_CACHE_HOME/azstream).
     * The integrator is mapped read-only from a file there that was built from the same
     * inputs, else built and written there (atomically) before any worker starts; layout
     * procs' workers and MPI ranks > 0 map what the parent / rank 0 wrote. A folder that
     * cannot be used, or a damaged file (rebuilt and replaced), is a run.notice, not an
     * error. NULL (default): no cache. doc/design.md "Integrator cache". */
    const char *cache_dir;
    /* Progress over all inputs, from the writer thread now and then; may be NULL. */
    void (*progress)(void *ctx, uint64_t done, uint64_t total);
    void *progress_ctx;
    /* 0 (default): a missing data file of an input (an Eiger master's link, a VDS source)
     * fails azs_job_open naming it. 1: the rest is integrated and the missing frames are
     * written as NaN rows with frame_status AZS_ERR_MISSING (azs_source_options). */
    int allow_missing;
    /* An output that exists (azstream/sink.h): refused (AZS_ERR_CONFLICT) unless one of
     * these. overwrite: replaced when the run ends. resume (HDF5 only, not layout mpi):
     * continued from its frames_written, or from the partial file an interrupted run left,
     * provided it was written with the same configuration (the settings, inputs and frame
     * range: AZS_ERR_CONFLICT naming what differs; layout and workers may differ); only the
     * remaining frames are integrated. Either way the output is replaced only by a run that
     * wrote a row: one failing before its first frame leaves it untouched. */
    int overwrite;
    int resume;
} azs_job_options;

AZS_API void azs_job_options_default(azs_job_options *o);
AZS_API const char *azs_job_version(void);

typedef struct azs_job azs_job;

/* Opens every input (a missing file or a shape that differs between inputs fails here,
 * before any work), builds the integrator from s (s is copied), opens the output. */
AZS_API azs_status azs_job_open(const azs_settings *s, const azs_job_options *o, azs_job **out);
/* Layout mpi: this process's rank (0 writes the output); 0 for every other layout. */
AZS_API int azs_job_rank(const azs_job *j);
/* Frames the job will integrate over all inputs, and its integrator (bins, centres). */
AZS_API uint64_t azs_job_total_frames(const azs_job *j);
AZS_API const azs_integrator *azs_job_integrator(const azs_job *j);
/* Where the integrator came from (azs_job_options.cache_dir); *cache_file (may be NULL):
 * the cache file, "" without a cache; *seconds (may be NULL): to map it, or to build (and
 * write) it. */
typedef enum azs_integrator_origin {
    AZS_INTEGRATOR_BUILT = 0,         /* no cache */
    AZS_INTEGRATOR_CACHE_LOADED,      /* mapped from the cache file */
    AZS_INTEGRATOR_CACHE_STORED,      /* built, then written to the cache file */
    AZS_INTEGRATOR_CACHE_NOT_STORED   /* built; the cache could not take it (a notice said why) */
} azs_integrator_origin;
AZS_API azs_integrator_origin azs_job_integrator_origin(const azs_job *j, const char **cache_file,
                                                double *seconds);
/* The settings in use (geometry loaded). */
AZS_API const azs_settings *azs_job_settings(const azs_job *j);
/* Integrate. sink NULL: into o->output; sink and o->output both: each row to both (the
 * file first). On failure the output (or sink) keeps every frame
 * before the failing one and the detail names the input; the summary counts what was done.
 * The output is closed (flushed, valid) and put in place here, whatever happened, unless
 * the run failed before its first row: then it is left as it was (resume: the partial
 * file too). A resume's note (what it found) goes to o->run.notice, at open. */
typedef struct azs_job_summary {
    uint64_t frames_done, frames_bad;
    double seconds;
    int failed_input;            /* index of the input that failed, -1 if none */
    uint64_t frames_absent;      /* of frames_bad, frames without data (azstream/layout.h) */
    uint64_t frames_resumed;     /* rows the output held already (resume), not in frames_done */
} azs_job_summary;
AZS_API azs_status azs_job_run(azs_job *j, const azs_sink_ops *sink, azs_job_summary *sum);
AZS_API void azs_job_close(azs_job *j);

/* The worker side of layout procs, for the `worker` sub-command of worker_exe: parses the
 * arguments azs_job_open gave it (argv[0] is the sub-command), opens the stack, builds the
 * same integrator and serves the parent on AZS_PROCS_WORKER_FD. hooks may be NULL. */
AZS_API azs_status azs_job_worker_main(int argc, char **argv, const azs_worker_hooks *hooks);
/* The command that starts one such worker, for callers of azs_run with layout procs
 * (azs_run_options.worker_argv): written into argv[AZS_WORKER_ARGV_MAX], which it returns;
 * settings_json from azs_settings_to_json. The strings are not copied. */
#define AZS_WORKER_ARGV_MAX 10
AZS_API const char *const *azs_job_worker_argv(const char **argv, const char *exe, const char *input,
                                       const char *dataset, const char *settings_json);

#ifdef __cplusplus
}
#endif
#endif
