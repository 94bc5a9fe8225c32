/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backup.h - the backup library (src/backup): the backup workflow
 * (backup.c), temporary objects undone on every exit path (cleanup.c),
 * read-only snapshot mounts (snapmount.c), archives (archive.c), progress
 * (progress.c), commands on a mounted snapshot (exec.c). Snapshots and
 * their manifests are src/snapshot's (snapshot.h).
 */
#pragma once

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "bytes.h"
#include "clock.h"
#include "pin.h"
#include "snapshot.h"

/* A function that fails returns -errno and sets *ret_error to why
 * (error.h: malloc'd, the caller frees it). */

/* ---- cleanup.c: the registry ----
 *
 * Every temporary object is registered the moment it exists and undone in
 * reverse order by bk_cleanup_run(): children are killed and reaped, mounts
 * unmounted, loop devices detached, files unlinked, directories removed.
 * SIGINT, SIGTERM and SIGHUP only set a flag (no SA_RESTART, so a blocking
 * call returns EINTR); the loops check bk_interrupted() and unwind. */

enum bk_kind {
        BK_DIR,   /* rmdir */
        BK_TREE,  /* remove a directory tree, never crossing into a mount */
        BK_FILE,  /* unlink */
        BK_MOUNT, /* umount */
        BK_LOOP,  /* detach a loop device */
        BK_CHILD, /* SIGTERM, SIGKILL after 5 s, reap */
};

int bk_cleanup_init(void);
/* The signal that interrupted us (SIGINT ...), or 0. */
int bk_interrupted(void);
/* The flag itself, for libraries that take one (qz_snapshot_opts.interrupted). */
volatile sig_atomic_t *bk_interrupt_flag(void);
/* Restores the default dispositions in a child before exec. */
void bk_cleanup_child_signals(void);
/* Registers an object; returns a handle (> 0), or -ENOMEM. */
int bk_cleanup_push(enum bk_kind kind, const char *path, pid_t pid);
/* Undoes one object now (undo true) or forgets it (it was consumed, e.g. the
 * archive renamed into place). 0 or -errno from the undo. */
int bk_cleanup_pop(int handle, bool undo);
/* Undoes everything still registered, newest first. Returns the number of
 * objects that could not be undone (each reported on stderr). */
int bk_cleanup_run(void);
/* Moves this process into a private mount namespace (once), so that its
 * temporary mounts are invisible to others and vanish with it even if it is
 * killed by SIGKILL (loop devices are attached with autoclear). */
int bk_private_mounts(char **ret_error);

/* ---- snapmount.c: one filesystem's snapshot, readable ---- */

struct bk_mount {
        char *dir;         /* where the snapshot's files are (a mount, or the btrfs directory) */
        char loopdev[32];  /* "/dev/loopN", or "" */
        char options[128]; /* the mount options used */
        bool mounted;
        bool journal_replay_skipped; /* the clean "ro" mount failed: noload/norecovery */
        int mount_handle, loop_handle, dir_handle;
};

/* Attaches the file open as backing_fd to a free loop device (autoclear:
 * detached by the kernel once unused). Returns the loop device's fd, to be
 * closed once a mount holds the device, or -errno. */
int bk_loop_attach(int backing_fd, bool read_only, char *dev, size_t devlen);

/* Makes snapshot (an image file, a block device or a directory) readable in
 * a new directory under tmpdir: a loop device (read-only, autoclear) and a
 * read-only mount (nosuid, nodev, noexec; XFS with nouuid). A directory (a
 * btrfs read-only subvolume) is used in place. 0, or -errno with a message
 * naming the snapshot, the filesystem type and the reason. */
int bk_mount_snapshot(const char *snapshot, const char *fstype, const char *tmpdir, unsigned index,
                      struct bk_mount *m, char **ret_error);
/* Unmounts and removes what bk_mount_snapshot made (also done by the registry). */
int bk_unmount_snapshot(struct bk_mount *m);

/* ---- progress.c: a progress bar on a terminal ---- */

struct bk_progress {
        bool enabled; /* stderr is a terminal */
        uint64_t total_bytes, done_bytes;
        uint64_t total_files, done_files;
        int64_t start_ms, last_draw_ms;
};

void bk_progress_init(struct bk_progress *p, bool enabled);
/* Adds the regular files under dir (one mount, links counted once) to the totals. */
void bk_progress_measure(struct bk_progress *p, const char *dir);
void bk_progress_update(struct bk_progress *p, uint64_t bytes, uint64_t files);
void bk_progress_done(struct bk_progress *p);

/* ---- archive.c: a tar archive written with libarchive ---- */

struct bk_archive;

struct bk_counts {
        uint64_t files;   /* regular files */
        uint64_t entries; /* every entry: files, directories, links, devices ... */
        uint64_t bytes;   /* file data */
};

/* The compression for a --to name: "none", "gzip", "zstd", or NULL (unsupported). */
const char *bk_archive_compression(const char *path);
/* Starts writing path (through a temporary file beside it, registered for cleanup). */
int bk_archive_open(const char *path, struct bk_archive **ret, char **ret_error);
/* Adds the tree at dir, named prefix/... in the archive (prefix "" for none).
 * -EINTR when interrupted. */
int bk_archive_add_tree(struct bk_archive *a, const char *dir, const char *prefix, struct bk_progress *p,
                        struct bk_counts *counts, char **ret_error);
/* commit: finish, fsync and rename into place; else discard. 0 or -errno. */
int bk_archive_close(struct bk_archive *a, bool commit, uint64_t *archive_bytes, char **ret_error);
/* PATH.manifest.json (prune.h's sidecar): the manifest of the snapshot the
 * archive at path was made from, written atomically once the archive is in
 * place; retention over a target directory reads it. 0 or -errno. */
int bk_archive_write_sidecar(const char *path, const qz_manifest *m, char **ret_error);

/* ---- exec.c: a command on a mounted snapshot ---- */

struct bk_exec_vars {
        const char *path;       /* {path}: the mounted snapshot */
        const char *mountpoint; /* {mountpoint}: the original mount point */
        const char *fstype;     /* {fstype} */
        const char *name;       /* {name}: the snapshot's name */
        const char *label;      /* {label}: its consistency label */
        bool stdout_to_stderr;  /* the command's output must not mix with ours (--json) */
};

#define BK_EXEC_PLACEHOLDERS "{path} {mountpoint} {fstype} {name} {label}"
/* The first placeholder in argv that is none of BK_EXEC_PLACEHOLDERS
 * ("{x}", malloc'd: refused before anything is frozen), or NULL. */
char *bk_exec_unknown_placeholder(char *const *argv, size_t argc);
/* Runs argv (no shell) with cwd vars->path, the placeholders substituted (an
 * unknown one: -EINVAL) and
 * QUIESCE_SNAPSHOT_PATH/_NAME/_LABEL/_MOUNTPOINT in its environment; waits.
 * On an interruption the command gets SIGTERM, then SIGKILL after 5 s.
 * Returns the wait status (>= 0) or -errno; -EINTR when interrupted. */
int bk_exec_run(char *const *argv, size_t argc, const struct bk_exec_vars *v, char **ret_error);

/* ---- backup.c: the workflow ---- */

struct bk_backup_opts {
        const char *snapshot_name;        /* back up this snapshot of the store, or */
        const qz_snapshot_opts *snapshot; /* make one now with these (paths ...) */
        const char *store;                /* NULL: qz_store_dir()'s default */
        const char *to;                   /* one archive FILE.tar[.gz|.zst], or */
        char *const *exec;                /* the command run on each filesystem (n_exec words) */
        size_t n_exec;
        bool keep_snapshot;         /* keep a snapshot made now */
        bool no_warnings;           /* no "warning: ..." messages (--json) */
        bool exec_stdout_to_stderr; /* the command's stdout is our stderr (--json) */
        bool progress;              /* a progress bar on stderr (a terminal) */
        qz_snapshot_msg_fn msg;     /* errors and warnings, one sentence each */
        void *userdata;
};

/* What one filesystem's snapshot gave. */
struct bk_fs_result {
        struct bk_mount m;
        char *prefix; /* the top-level directory in the archive */
        struct bk_counts counts;
        int exit_status; /* --exec: the command's, -1 not run */
};

/* What a backup did, for the caller's report. */
struct bk_backup {
        qz_manifest *snapshot;   /* the snapshot backed up (NULL when none could be had) */
        qz_manifest *refused;    /* a snapshot made now and not backed up (unusable), or NULL */
        qz_manifest *unmade;     /* the report of a snapshot that could not be made (no file: what ran,
                                  * the writer that refused the freeze), or NULL */
        struct bk_fs_result *fs; /* one per snapshot->fs, or NULL */
        uint64_t archive_bytes;
        int64_t duration_ms;
        bool made_now, deleted; /* the snapshot was made by this backup; and deleted again */
        qz_lease lease;         /* held on the snapshot while it is read (pin.h), fd -1 none */
        int signal;             /* the signal that interrupted it, 0 none */
};

/* The backup, step by step: the snapshot (loaded or made now), its check,
 * the private read-only mounts, the archive or the commands, and the undo
 * of every temporary object. 0 when it is complete (*b describes it);
 * -EINTR when a signal interrupted it (b->signal); another -errno when it
 * failed. Every reason went to o->msg. Free *b with bk_backup_done(). */
int bk_backup_run(const struct bk_backup_opts *o, struct bk_backup *b);
void bk_backup_done(struct bk_backup *b);
/* How a filesystem's journal was found at the mount: "clean", or why the
 * replay was skipped (a covered XFS log, or a journal that needed it). */
const char *bk_journal_note(const qz_snap_fs *f, const struct bk_mount *m);
