/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mounts.c - filesystem identity from the mount table (see mounts.h). The
 * parsed table is cached and reloaded only after the kernel signals a change
 * on /proc/self/mountinfo, so a nested freeze costs no parse.
 */
#include "mounts.h"
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <libmount.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

struct qz_mounts {
        struct libmnt_table *table;
        bool stale;
        int change_fd;
};

qz_mounts *qz_mounts_new(void) {
        qz_mounts *m = calloc(1, sizeof(*m));
        if (!m)
                return NULL;
        m->stale = true;
        m->change_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        return m;
}

void qz_mounts_free(qz_mounts *m) {
        if (!m)
                return;
        mnt_unref_table(m->table);
        if (m->change_fd >= 0)
                close(m->change_fd);
        free(m);
}

int qz_mounts_change_fd(qz_mounts *m) {
        return m->change_fd;
}

void qz_mounts_invalidate(qz_mounts *m) {
        m->stale = true;
}

static int reload(qz_mounts *m) {
        if (!m->stale && m->table)
                return 0;
        struct libmnt_table *t = mnt_new_table();
        if (!t)
                return -ENOMEM;
        int r = mnt_table_parse_file(t, "/proc/self/mountinfo");
        if (r < 0) {
                mnt_unref_table(t);
                return r;
        }
        mnt_unref_table(m->table);
        m->table = t;
        m->stale = false;
        return 0;
}

/* The mount id of fd, and (when mode is not NULL) its file type and mode. */
static int mount_id_of(int fd, uint64_t *ret, mode_t *mode) {
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

static struct libmnt_fs *find_by_id(struct libmnt_table *t, uint64_t id) {
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

static struct libmnt_fs *find_by_devno(struct libmnt_table *t, dev_t devno) {
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

/* The descriptor's mount is not in our mount namespace: the client lives in
 * another one, or we do (systemd's ProtectSystem=, PrivateTmp= ... give the
 * service a namespace of its own, whose copies of the host's mounts have
 * other mount ids). The same superblock is then found, in our table, through
 * the descriptor's path if that names the very same inode here, or else by
 * its device number (right for every filesystem but a btrfs subvolume other
 * than the top one, whose st_dev is its own). */
static struct libmnt_fs *find_foreign(struct libmnt_table *t, int fd) {
        struct stat st, here;
        if (fstat(fd, &st) < 0)
                return NULL;
        char link[64], path[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        ssize_t n = readlink(link, path, sizeof(path) - 1);
        if (n > 0 && path[0] == '/') {
                path[n] = '\0';
                int pfd = open(path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
                uint64_t id = 0;
                if (pfd >= 0 && fstat(pfd, &here) == 0 && here.st_dev == st.st_dev &&
                    here.st_ino == st.st_ino && mount_id_of(pfd, &id, NULL) == 0) {
                        struct libmnt_fs *fs = find_by_id(t, id);
                        close(pfd);
                        if (fs)
                                return fs;
                } else if (pfd >= 0) {
                        close(pfd);
                }
        }
        return find_by_devno(t, st.st_dev);
}

int qz_mounts_identify_fd(qz_mounts *m, int fd, qz_mount_info *ret) {
        uint64_t id = 0;
        int r = mount_id_of(fd, &id, &ret->mode);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < 3; attempt++) {
                r = reload(m);
                if (r < 0)
                        return r;
                struct libmnt_fs *fs = attempt < 2 ? find_by_id(m->table, id) : find_foreign(m->table, fd);
                if (fs) {
                        ret->devno = mnt_fs_get_devno(fs);
                        snprintf(ret->id, sizeof(ret->id), "%u:%u", major(ret->devno), minor(ret->devno));
                        ret->mountpoint = mnt_fs_get_target(fs);
                        ret->fstype = mnt_fs_get_fstype(fs);
                        ret->source = mnt_fs_get_source(fs);
                        if (!ret->mountpoint)
                                ret->mountpoint = "?";
                        if (!ret->fstype)
                                ret->fstype = "?";
                        if (!ret->source)
                                ret->source = "none";
                        return 0;
                }
                m->stale = true; /* a mount newer than our copy of the table */
        }
        return -ENOENT;
}

dev_t qz_mounts_loop_host(qz_mounts *m, const char *source) {
        char backing[4096];
        if (qz_loop_backing_file(source, backing, sizeof(backing)) < 0 || !backing[0])
                return 0;
        int fd = open(backing, O_PATH | O_CLOEXEC);
        if (fd < 0)
                return 0;
        qz_mount_info info;
        int r = qz_mounts_identify_fd(m, fd, &info);
        close(fd);
        return r < 0 ? 0 : info.devno;
}

dev_t qz_mounts_host_of_devno(qz_mounts *m, dev_t devno) {
        if (reload(m) < 0)
                return 0;
        struct libmnt_fs *fs = mnt_table_find_devno(m->table, devno, MNT_ITER_FORWARD);
        if (!fs || !mnt_fs_get_source(fs))
                return 0;
        char source[4096];
        snprintf(source, sizeof(source), "%s", mnt_fs_get_source(fs));
        return qz_mounts_loop_host(m, source);
}
