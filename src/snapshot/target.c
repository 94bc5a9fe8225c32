/* SPDX-License-Identifier: GPL-2.0-or-later */
/* target.c - resolving snapshot paths (see target.h): statx's mount id
 * looked up in the mount table, /sys for a loop device's backing file, and
 * the btrfs subvolume root (inode 256) at or above the path.
 */
#include "target.h"

#include "error.h"
#include "mountinfo.h"
#include "sysfs.h"
#include "xalloc.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <libmount.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define BTRFS_SUBVOL_ROOT_INO 256 /* BTRFS_FIRST_FREE_OBJECTID */

/* The mount-table entry of descriptor fd's mount. */
static int fd_mount(int fd, char *id, size_t idlen, char **mountpoint, char **fstype, char **source) {
        uint64_t mnt_id;
        int r = qz_mount_id_of(fd, &mnt_id, NULL);
        if (r < 0)
                return r;
        struct libmnt_table *t;
        r = qz_mountinfo_load(&t);
        if (r < 0)
                return r;
        struct libmnt_fs *fs = qz_mountinfo_find_id(t, mnt_id);
        if (fs) {
                qz_mount_entry e;
                qz_mountinfo_entry(fs, &e);
                snprintf(id, idlen, "%s", e.id);
                if (mountpoint)
                        *mountpoint = xstrdup(e.mountpoint);
                if (fstype)
                        *fstype = xstrdup(e.fstype);
                if (source)
                        *source = xstrdup(e.source);
        }
        mnt_unref_table(t);
        return fs ? 0 : -ENOENT;
}

/* A loop device's backing file, or NULL. */
static char *loop_backing(const char *source) {
        char buf[PATH_MAX + 16];
        if (qz_loop_backing_file(source, buf, sizeof(buf)) < 0)
                return NULL;
        return buf[0] ? xstrdup(buf) : NULL;
}

static bool under(const char *path, const char *dir) {
        size_t n = strlen(dir);
        if (strcmp(dir, "/") == 0)
                return true;
        return strncmp(path, dir, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

/* The directory of the btrfs subvolume containing path: the nearest
 * directory at or above it, inside the mount, whose inode is 256. */
static char *btrfs_subvolume(const char *realpath, const char *mountpoint, dev_t *devp) {
        char *p = xstrdup(realpath);
        struct stat st;
        if (stat(p, &st) == 0 && !S_ISDIR(st.st_mode)) {
                char *d = xstrdup(dirname(p));
                free(p);
                p = d;
        }
        for (;;) {
                if (stat(p, &st) == 0 && S_ISDIR(st.st_mode) && st.st_ino == BTRFS_SUBVOL_ROOT_INO) {
                        if (devp)
                                *devp = st.st_dev;
                        return p;
                }
                if (strcmp(p, mountpoint) == 0 || strcmp(p, "/") == 0 || !under(p, mountpoint))
                        break;
                char *d = xstrdup(dirname(p));
                free(p);
                p = d;
        }
        free(p);
        return NULL;
}

int qz_target_resolve(const char *path, qz_target *t, char **ret_error) {
        memset(t, 0, sizeof(*t));
        t->path = xstrdup(path);
        char rp[PATH_MAX];
        if (!realpath(path, rp)) {
                int r = -errno;
                qz_set_error(ret_error, "%s: %s", path, strerror(-r));
                return r;
        }
        t->realpath = xstrdup(rp);
        int fd = open(rp, O_PATH | O_CLOEXEC);
        if (fd < 0) {
                int r = -errno;
                qz_set_error(ret_error, "%s: %s", path, strerror(-r));
                return r;
        }
        int r = fd_mount(fd, t->id, sizeof(t->id), &t->mountpoint, &t->fstype, &t->source);
        close(fd);
        if (r < 0) {
                qz_set_error(ret_error, "%s: cannot find its mount in /proc/self/mountinfo: %s", path,
                             strerror(-r));
                return r;
        }
        t->backing_file = loop_backing(t->source);
        if (t->backing_file) {
                int bfd = open(t->backing_file, O_PATH | O_CLOEXEC);
                if (bfd >= 0) {
                        if (fd_mount(bfd, t->host_id, sizeof(t->host_id), &t->host_mountpoint,
                                     &t->host_fstype, NULL) < 0)
                                t->host_id[0] = '\0';
                        close(bfd);
                }
        }
        if (strcmp(t->fstype, "btrfs") == 0)
                t->subvolume = btrfs_subvolume(rp, t->mountpoint, NULL);
        return 0;
}

void qz_target_done(qz_target *t) {
        free(t->path);
        free(t->realpath);
        free(t->mountpoint);
        free(t->fstype);
        free(t->source);
        free(t->backing_file);
        free(t->host_mountpoint);
        free(t->host_fstype);
        free(t->subvolume);
        free(t->location);
        memset(t, 0, sizeof(*t));
}
