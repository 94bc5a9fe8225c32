/* SPDX-License-Identifier: GPL-2.0-or-later */
/* provider.h - the interface every snapshot provider (reflink, btrfs, exec, lvm)
 * implements, and the context the orchestration (snapshot.c) hands them.
 * check/prepare run before anything is frozen; take runs while frozen and
 * must neither print nor wait past its deadline; finish runs after the thaw;
 * remove and verify serve `snapshot delete` and `snapshot list`.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "clock.h"
#include "quiesce.h"
#include "snapshot.h"
#include "target.h"

#define QZ_PROBE_TIMEOUT_MS 5000 /* a trial clone before the freeze */

typedef struct qz_snap_ctx {
        const qz_snapshot_opts *opts;
        const char *name;
        qz_target *targets;
        size_t n_targets;
        qz_status *status; /* quiesced's Status before the freeze, or NULL */
        usec_t kill_grace; /* a provider's child: from SIGTERM to SIGKILL */
        usec_t reap_wait;  /* and after SIGKILL, before it is left pending */
        int hold_fd;       /* quiesced's connection (the hold ends when it closes), or -1 */
} qz_snap_ctx;

typedef struct qz_provider {
        const char *name;
        bool freezes;            /* its filesystems are part of the group freeze (btrfs: no) */
        bool atomic;             /* its snapshot is consistent by itself, without a freeze (btrfs) */
        bool per_subvolume;      /* it snapshots the path's subvolume (t->subvolume, recorded), so two
                                    paths on one filesystem are one snapshot only in one subvolume */
        const char *auto_fstype; /* "auto" picks it for this filesystem type, or NULL */
        bool auto_default;       /* "auto" picks it for every other type (its check refuses what it
                                    cannot serve) */
        /* Can it serve t? Plans t->location. 0, or -errno and "PATH: reason" in err. */
        int (*check)(qz_snap_ctx *ctx, qz_target *t, char **ret_error);
        /* Side effects allowed before the hooks and the freeze; may be NULL. */
        int (*prepare)(qz_snap_ctx *ctx, qz_target *t, char **ret_error);
        /* Makes the snapshot by deadline (qz_now()). Sets f->snapshot,
         * or f->error. A child that would not die is left in *pending. */
        void (*take)(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f, usec_t deadline, pid_t *pending);
        /* After the thaw: sizes, identities; removes a partial snapshot of a failed take. */
        void (*finish)(qz_snap_ctx *ctx, qz_target *t, qz_snap_fs *f);
        /* snapshot delete: removes what f names. 0, or -errno with the reason in err. */
        int (*remove)(const qz_manifest *m, const qz_snap_fs *f, char **ret_error);
        /* snapshot list: is what f names (f->snapshot is set) still there as
         * recorded? Its state, and one line saying why in *ret_why (malloc'd). Reads only. */
        qz_snap_state (*verify)(const qz_manifest *m, const qz_snap_fs *f, char **ret_why);
} qz_provider;

extern const qz_provider qz_provider_reflink;
extern const qz_provider qz_provider_btrfs;
extern const qz_provider qz_provider_exec;
extern const qz_provider qz_provider_lvm;

/* Every provider, NULL-terminated. */
extern const qz_provider *const qz_providers[];
const qz_provider *qz_provider_by_name(const char *name);
/* The provider "auto" picks for a filesystem of this type. */
const qz_provider *qz_provider_auto(const char *fstype);
/* Is the filesystem with this id frozen (or freezing) by quiesce? Its hold ids into buf. */
bool qz_ctx_fs_frozen(const qz_snap_ctx *ctx, const char *id, char *holds, size_t size);
/* take() for a snapshot made by one function in a child (FICLONE, the btrfs
 * ioctl), by deadline: f->snapshot = location, or f->error naming what
 * ("FICLONE of IMAGE") and why. A child that would not die goes to *pending. */
void qz_take_in_child(const qz_snap_ctx *ctx, int (*fn)(void *arg), void *arg, const char *what,
                      const char *location, usec_t deadline, qz_snap_fs *f, pid_t *pending);
/* The size of a snapshot at path (a regular file's length, a block device's
 * size), or -1 when it is neither or cannot be read. */
int64_t qz_snapshot_size_of(const char *path);
/* verify(): lstat(path) into st; true when it is there. Else false with
 * *state MISSING (no such file, its directory is there) or UNKNOWN (nor its
 * directory: not mounted?; another error), and *ret_why. follow: stat, not lstat. */
bool qz_verify_stat(const char *path, bool follow, struct stat *st, qz_snap_state *state, char **ret_why);
