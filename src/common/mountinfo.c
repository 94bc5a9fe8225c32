/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mountinfo.c - mount table lookups (see mountinfo.h). */
#include "mountinfo.h"

#include "cleanup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int qz_mountinfo_load(struct libmnt_table **ret) {
        struct libmnt_table *t = mnt_new_table();
        if (!t)
                return -ENOMEM;
        int r = mnt_table_parse_file(t, "/proc/self/mountinfo");
        if (r < 0) {
                mnt_unref_table(t);
                return r;
        }
        *ret = t;
        return 0;
}

int qz_mount_id_of(int fd, uint64_t *ret, mode_t *mode) {
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_MNT_ID | STATX_TYPE | STATX_MODE, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret = sx.stx_mnt_id;
        if (mode)
                *mode = sx.stx_mode;
        return 0;
}

struct libmnt_fs *qz_mountinfo_find_id(struct libmnt_table *t, uint64_t id) {
        struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs, *found = NULL;
        while (it && mnt_table_next_fs(t, it, &fs) == 0)
                if ((uint64_t)mnt_fs_get_id(fs) == id) {
                        found = fs;
                        break;
                }
        mnt_free_iter(it);
        return found;
}

struct libmnt_fs *qz_mountinfo_find_devno(struct libmnt_table *t, dev_t devno) {
        struct libmnt_iter *it = mnt_new_iter(MNT_ITER_FORWARD);
        struct libmnt_fs *fs, *found = NULL;
        while (it && mnt_table_next_fs(t, it, &fs) == 0)
                if (mnt_fs_get_devno(fs) == devno) {
                        found = fs;
                        break;
                }
        mnt_free_iter(it);
        return found;
}

struct libmnt_fs *qz_mountinfo_find_path(struct libmnt_table *t, int fd) {
        struct stat st, here;
        if (fstat(fd, &st) < 0)
                return NULL;
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n > 0 && path[0] == '/') {
                path[n] = '\0';
                _cleanup_close_ int pfd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
                uint64_t id = 0;
                struct libmnt_fs *fs = NULL;
                if (pfd >= 0 && fstat(pfd, &here) == 0 && here.st_dev == st.st_dev &&
                    here.st_ino == st.st_ino && qz_mount_id_of(pfd, &id, NULL) == 0)
                        fs = qz_mountinfo_find_id(t, id);
                if (fs)
                        return fs;
        }
        return qz_mountinfo_find_devno(t, st.st_dev);
}

void qz_mountinfo_entry(struct libmnt_fs *fs, qz_mount_entry *ret) {
        ret->devno = mnt_fs_get_devno(fs);
        snprintf(ret->id, sizeof(ret->id), "%u:%u", major(ret->devno), minor(ret->devno));
        ret->mountpoint = mnt_fs_get_target(fs) ? mnt_fs_get_target(fs) : "?";
        ret->fstype = mnt_fs_get_fstype(fs) ? mnt_fs_get_fstype(fs) : "?";
        ret->source = mnt_fs_get_source(fs) ? mnt_fs_get_source(fs) : "none";
}
