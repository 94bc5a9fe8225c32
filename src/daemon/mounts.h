/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mounts.h - which filesystem a descriptor lies on, from the mount table
 * (/proc/self/mountinfo): the superblock's major:minor,
 * mount point, type and source, and for a loop device the filesystem that
 * holds its backing file (for the group freeze order).
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

typedef struct qz_mounts qz_mounts;

typedef struct qz_mount_info {
        dev_t devno;
        char id[32];            /* "major:minor" */
        const char *mountpoint; /* valid until the table is reloaded */
        const char *fstype;
        const char *source;
        mode_t mode; /* the descriptor's file type and mode (statx), for the caller's checks */
} qz_mount_info;

qz_mounts *qz_mounts_new(void);
void qz_mounts_free(qz_mounts *m);
/* A descriptor on /proc/self/mountinfo: EPOLLPRI when the table changed. */
int qz_mounts_change_fd(qz_mounts *m);
void qz_mounts_invalidate(qz_mounts *m);

/* 0 or -errno (-ENOENT: no mount with the descriptor's mount id). */
int qz_mounts_identify_fd(qz_mounts *m, int fd, qz_mount_info *ret);
/* The filesystem holding the backing file of loop device `source`, or 0. */
dev_t qz_mounts_loop_host(qz_mounts *m, const char *source);
/* The same for the filesystem with superblock devno, or 0. */
dev_t qz_mounts_host_of_devno(qz_mounts *m, dev_t devno);
