/* Internal: who owns an output file, and how it gets its name.
 *
 * An output is never written under its final name. The HDF5 sink writes DIR/.NAME.azs-partial
 * (a name fixed by the target, so that a writer killed outright leaves its rows where the
 * next --resume looks), owned by whoever holds the write lock on DIR/.NAME.azs-lock, and
 * renames it onto NAME when the run ends. The lock is an open-file-description lock
 * (F_OFD_SETLK), so it neither interferes with libhdf5's own flock of the data file nor is
 * dropped when libhdf5 closes a descriptor of its own; the lock file holds the owner's pid,
 * for the message a second writer gets. */
#ifndef AZS_SINK_OUT_FILE_H
#define AZS_SINK_OUT_FILE_H

#include <stddef.h>

#include "azstream/status.h"

typedef struct azs_out_file {
    char *target;   /* the final name, as given */
    char *partial;  /* DIR/.NAME.azs-partial */
    char *lockpath; /* DIR/.NAME.azs-lock */
    int lock_fd;    /* -1: not held */
} azs_out_file;

/* Fills the names (lock not taken). */
azs_status azs_out_file_init(azs_out_file *f, const char *target);
/* Takes the lock: AZS_ERR_CONFLICT "NAME is being written by another run (pid N)". */
azs_status azs_out_file_lock(azs_out_file *f);
/* fsync the partial file and rename it onto the target. The lock stays held. */
azs_status azs_out_file_commit(azs_out_file *f);
/* Releases the lock (its file removed) and frees the names. Safe on a zeroed struct. */
void azs_out_file_release(azs_out_file *f);

/* 1 if something exists at path (a dangling link too), 0 if not; -1 with errno otherwise. */
int azs_path_exists(const char *path);
/* Copies from → to, to created exclusively (O_EXCL) and fsynced. */
azs_status azs_copy_file(const char *from, const char *to);
/* DIR/.NAME<suffix> beside path (malloc'd; NULL without memory). */
char *azs_sibling_name(const char *path, const char *suffix);

#endif
