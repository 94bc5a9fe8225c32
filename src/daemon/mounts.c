/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mounts.c - filesystem identity from the mount table (see mounts.h). The
 * parsed table is cached and reloaded only after the kernel signals a change
 * on /proc/self/mountinfo, so a nested freeze costs no parse.
 */
#include "mounts.h"

#include "cleanup.h"
#include "mountinfo.h"
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
        struct libmnt_table *t;
        int r = qz_mountinfo_load(&t);
        if (r < 0)
                return r;
        mnt_unref_table(m->table);
        m->table = t;
        m->stale = false;
        return 0;
}

int qz_mounts_identify_fd(qz_mounts *m, int fd, qz_mount_info *ret) {
        uint64_t id = 0;
        int r = qz_mount_id_of(fd, &id, &ret->mode);
        if (r < 0)
                return r;
        for (int attempt = 0; attempt < 3; attempt++) {
                r = reload(m);
                if (r < 0)
                        return r;
                /* Not in our namespace's table after a fresh read: the descriptor's mount
                 * lives in another mount namespace (the client's, or ours under systemd's
                 * ProtectSystem=, PrivateTmp=, whose copies of the host's mounts have other
                 * ids); the same superblock is then found through its path, or its device
                 * number (right for every filesystem but a btrfs subvolume other than the
                 * top one, whose st_dev is its own). */
                struct libmnt_fs *fs = attempt < 2 ? qz_mountinfo_find_id(m->table, id)
                                                   : qz_mountinfo_find_path(m->table, fd);
                if (fs) {
                        qz_mount_entry e;
                        qz_mountinfo_entry(fs, &e);
                        ret->devno = e.devno;
                        snprintf(ret->id, sizeof(ret->id), "%s", e.id);
                        ret->mountpoint = e.mountpoint;
                        ret->fstype = e.fstype;
                        ret->source = e.source;
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
        _cleanup_close_ int fd = open(backing, O_PATH | O_CLOEXEC);
        qz_mount_info info;
        return fd >= 0 && qz_mounts_identify_fd(m, fd, &info) == 0 ? info.devno : 0;
}

dev_t qz_mounts_host_of_devno(qz_mounts *m, dev_t devno) {
        if (reload(m) < 0)
                return 0;
        struct libmnt_fs *fs = qz_mountinfo_find_devno(m->table, devno);
        if (!fs || !mnt_fs_get_source(fs))
                return 0;
        char source[4096];
        snprintf(source, sizeof(source), "%s", mnt_fs_get_source(fs));
        return qz_mounts_loop_host(m, source);
}
