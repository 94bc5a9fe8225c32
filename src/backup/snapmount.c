/* SPDX-License-Identifier: GPL-2.0-or-later */
/* snapmount.c - one filesystem's snapshot made readable: an image or block
 * device on a read-only autoclear loop device (LOOP_CONFIGURE), mounted
 * read-only on a private temporary directory; a directory used in place.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup.h"
#include "error.h"

#define MOUNT_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

int bk_loop_attach(int backing_fd, bool read_only, char *dev, size_t devlen) {
        int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        if (ctl < 0)
                return -errno;
        int r = -EBUSY;
        for (int attempt = 0; attempt < 16; attempt++) {
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);
                if (n < 0) {
                        r = -errno;
                        break;
                }
                snprintf(dev, devlen, "/dev/loop%d", n);
                int fd = open(dev, O_RDWR | O_CLOEXEC);
                if (fd < 0) {
                        r = -errno;
                        continue; /* udev may not have made the node yet */
                }
                struct loop_config cfg = {.fd = (unsigned)backing_fd};
                cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
                snprintf((char *)cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "quiesce");
                if (ioctl(fd, LOOP_CONFIGURE, &cfg) == 0) {
                        close(ctl);
                        return fd;
                }
                r = -errno;
                close(fd);
                if (r != -EBUSY) /* another process took it first: try the next */
                        break;
        }
        close(ctl);
        dev[0] = '\0';
        return r;
}

/* The mount option lists to try, in order: a clean read-only mount first,
 * then one that skips the journal replay a read-only device cannot take. */
static void mount_options(const char *fstype, const char *opts[2]) {
        opts[0] = "";
        opts[1] = NULL;
        if (strcmp(fstype, "xfs") == 0) {
                opts[0] = "nouuid"; /* the clone has the original's UUID */
                opts[1] = "nouuid,norecovery";
        } else if (strcmp(fstype, "ext4") == 0 || strcmp(fstype, "ext3") == 0) {
                opts[1] = "noload";
        } else if (strcmp(fstype, "btrfs") == 0) {
                opts[1] = "rescue=nologreplay";
        }
}

int bk_mount_snapshot(const char *snapshot, const char *fstype, const char *tmpdir, unsigned index,
                      struct bk_mount *m, char **ret_error) {
        *m = (struct bk_mount){.mount_handle = 0};
        struct stat st;
        if (stat(snapshot, &st) < 0) {
                int r = -errno;
                qz_set_error(ret_error, "%s (%s): snapshot not found: %s", snapshot, fstype, strerror(-r));
                return r;
        }
        if (S_ISDIR(st.st_mode)) { /* a btrfs read-only subvolume: readable as it is */
                if (!(m->dir = strdup(snapshot)))
                        return -ENOMEM;
                snprintf(m->options, sizeof(m->options), "in place");
                return 0;
        }
        if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode)) {
                qz_set_error(ret_error, "%s (%s): neither an image file, a block device nor a directory",
                             snapshot, fstype);
                return -EINVAL;
        }

        if (asprintf(&m->dir, "%s/fs%u", tmpdir, index) < 0) {
                m->dir = NULL;
                return -ENOMEM;
        }
        if (mkdir(m->dir, 0700) < 0) {
                int r = -errno;
                qz_set_error(ret_error, "%s: cannot create the mount directory: %s", m->dir, strerror(-r));
                return r;
        }
        m->dir_handle = bk_cleanup_push(BK_DIR, m->dir, 0);

        int backing = open(snapshot, O_RDONLY | O_CLOEXEC);
        if (backing < 0) {
                int r = -errno;
                qz_set_error(ret_error, "%s (%s): cannot open: %s", snapshot, fstype, strerror(-r));
                return r;
        }
        int loopfd = bk_loop_attach(backing, true, m->loopdev, sizeof(m->loopdev));
        close(backing); /* the loop device holds its own reference */
        if (loopfd < 0) {
                qz_set_error(ret_error, "%s (%s): cannot attach a loop device: %s", snapshot, fstype,
                             strerror(-loopfd));
                return loopfd;
        }
        /* registered before the mount, so undone after its unmount */
        m->loop_handle = bk_cleanup_push(BK_LOOP, m->loopdev, 0);

        const char *opts[2];
        mount_options(fstype, opts);
        int r = 0;
        for (int i = 0; i < 2 && opts[i]; i++) {
                if (mount(m->loopdev, m->dir, fstype, MOUNT_FLAGS, opts[i][0] ? opts[i] : NULL) == 0) {
                        r = 0;
                        m->journal_replay_skipped = i > 0;
                        snprintf(m->options, sizeof(m->options), "ro,nosuid,nodev,noexec%s%s",
                                 opts[i][0] ? "," : "", opts[i]);
                        break;
                }
                r = -errno;
                /* EROFS/EINVAL: the log needs a replay, which a read-only device cannot take */
                if (r != -EROFS && r != -EINVAL && r != -EUCLEAN)
                        break;
        }
        close(loopfd); /* from now on the mount holds the device; autoclear frees it */
        if (r < 0) {
                qz_set_error(ret_error, "%s (%s): cannot mount %s read-only on %s: %s", snapshot, fstype,
                             m->loopdev, m->dir, strerror(-r));
                return r;
        }
        m->mounted = true;
        m->mount_handle = bk_cleanup_push(BK_MOUNT, m->dir, 0);
        return 0;
}

int bk_unmount_snapshot(struct bk_mount *m) {
        int r = 0;
        int handles[3] = {m->mount_handle, m->loop_handle, m->dir_handle};
        for (int i = 0; i < 3; i++)
                if (handles[i] > 0) {
                        int q = bk_cleanup_pop(handles[i], true);
                        if (q < 0 && r == 0)
                                r = q;
                }
        m->mounted = false;
        m->mount_handle = m->loop_handle = m->dir_handle = 0;
        free(m->dir);
        m->dir = NULL;
        return r;
}
