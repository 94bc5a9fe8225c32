/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mountinfo.h - the mount table (/proc/self/mountinfo, through libmount),
 * looked up the ways quiesce needs: by the mount id of an open descriptor
 * (statx), by a superblock's device number, by a descriptor's path. Shared
 * by quiesced (mounts.c, which caches the table) and the snapshot targets.
 * A library of its own (mountinfo_dep): libquiesce does not link libmount.
 */
#pragma once

#include <libmount.h>
#include <stdint.h>
#include <sys/types.h>

/* One entry as quiesce names it. The strings belong to the table. */
typedef struct qz_mount_entry {
        dev_t devno;            /* the superblock's */
        char id[32];            /* "major:minor" */
        const char *mountpoint; /* "?" when libmount has none */
        const char *fstype;     /* "?" */
        const char *source;     /* "none" */
} qz_mount_entry;

/* The table, parsed now: 0 and *ret (mnt_unref_table it), or -errno. */
int qz_mountinfo_load(struct libmnt_table **ret);
/* fd's mount id (statx), and its file type and mode when mode is not NULL. 0 or -errno. */
int qz_mount_id_of(int fd, uint64_t *ret, mode_t *mode);

/* The entry of mount id, of the first mount of superblock devno, or NULL. */
struct libmnt_fs *qz_mountinfo_find_id(struct libmnt_table *t, uint64_t id);
struct libmnt_fs *qz_mountinfo_find_devno(struct libmnt_table *t, dev_t devno);
/* The mount of descriptor fd found through its path: the mount in this
 * namespace whose path names the very same inode (a descriptor from another
 * mount namespace has a mount id this table does not know), else the first
 * mount of its device number. NULL when neither is there. */
struct libmnt_fs *qz_mountinfo_find_path(struct libmnt_table *t, int fd);

void qz_mountinfo_entry(struct libmnt_fs *fs, qz_mount_entry *ret);
