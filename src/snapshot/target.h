/* SPDX-License-Identifier: GPL-2.0-or-later */
/* target.h - what a snapshot path resolves to: its mount and superblock
 * (libmount over /proc/self/mountinfo, by the mount id of an open
 * descriptor), a loop device's backing file and the filesystem holding it,
 * and for btrfs the subvolume containing the path.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct qz_provider;

typedef struct qz_target {
        char *path;       /* as the user gave it */
        char *realpath;   /* canonical */
        char *mountpoint; /* the mount that holds the path */
        char id[32];      /* superblock "major:minor" (mountinfo) */
        char *fstype;
        char *source;
        char *backing_file;    /* a loop device's image, or NULL */
        char host_id[32];      /* the filesystem holding backing_file, or "" */
        char *host_mountpoint; /* ... its mount point and type, or NULL */
        char *host_fstype;
        char *subvolume; /* btrfs: the directory of the subvolume containing the path, or NULL */

        /* filled in by the orchestration */
        const struct qz_provider *provider;
        bool freeze;    /* part of the group freeze */
        char *location; /* where the snapshot will be (planned before the freeze) */
} qz_target;

/* Resolves path. 0, or -errno with the message "PATH: reason" in *ret_error. */
int qz_target_resolve(const char *path, qz_target *t, char **ret_error);
void qz_target_done(qz_target *t);
