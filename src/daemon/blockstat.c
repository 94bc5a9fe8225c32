/* SPDX-License-Identifier: GPL-2.0-or-later */
/* blockstat.c - a filesystem's block devices and their sectors-written
 * counters (see blockstat.h). Called from the freezer's keeper threads,
 * never from the event loop: sysfs reads are quick but are still I/O.
 */
#include "blockstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/btrfs.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int qz_blockstat_parse(const char *text, uint64_t *sectors) {
        unsigned long long f[7];
        /* reads ios, merges, sectors, ticks; writes ios, merges, sectors ... */
        if (sscanf(text, "%llu %llu %llu %llu %llu %llu %llu", &f[0], &f[1], &f[2], &f[3], &f[4], &f[5],
                   &f[6]) != 7)
                return -EINVAL;
        *sectors = f[6];
        return 0;
}

static void add_name(qz_blockstat *b, const char *name) {
        size_t l = strlen(b->name);
        snprintf(b->name + l, sizeof(b->name) - l, "%s%s", l ? "+" : "", name);
}

/* Adds the device whose sysfs directory is dir (relative to at). */
static int add_dev(qz_blockstat *b, int at, const char *dir, const char *name) {
        if (b->n >= QZ_BLOCKSTAT_MAX_DEVS)
                return 0;
        char path[512];
        snprintf(path, sizeof(path), "%s/stat", dir);
        int fd = openat(at, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        b->fds[b->n++] = fd;
        add_name(b, name);
        return 0;
}

/* btrfs: every device of the filesystem, from its fsid's sysfs directory. */
static int open_btrfs(qz_blockstat *b, int fs_fd) {
        struct btrfs_ioctl_fs_info_args info;
        memset(&info, 0, sizeof(info));
        if (ioctl(fs_fd, BTRFS_IOC_FS_INFO, &info) < 0)
                return -errno;
        const unsigned char *u = info.fsid;
        char path[160];
        snprintf(path, sizeof(path),
                 "/sys/fs/btrfs/%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x/devices",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
        DIR *d = opendir(path);
        if (!d)
                return -errno;
        int r = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (de->d_name[0] == '.')
                        continue;
                /* each entry links to the device's directory: .../block/loop3 */
                r = add_dev(b, dirfd(d), de->d_name, de->d_name);
                if (r < 0)
                        break;
        }
        closedir(d);
        return r < 0 ? r : b->n ? 0 : -ENODEV;
}

int qz_blockstat_open(qz_blockstat *b, int fs_fd, const char *fstype, dev_t devno) {
        memset(b, 0, sizeof(*b));
        for (size_t i = 0; i < QZ_BLOCKSTAT_MAX_DEVS; i++)
                b->fds[i] = -1;
        int r;
        if (fstype && strcmp(fstype, "btrfs") == 0) {
                r = open_btrfs(b, fs_fd);
        } else if (major(devno) == 0) {
                r = -ENODEV;
        } else {
                char dir[64], link[512];
                snprintf(dir, sizeof(dir), "/sys/dev/block/%u:%u", major(devno), minor(devno));
                ssize_t n = readlink(dir, link, sizeof(link) - 1);
                const char *name = dir + strlen("/sys/dev/block/");
                if (n > 0) {
                        link[n] = '\0';
                        const char *base = strrchr(link, '/');
                        name = base ? base + 1 : link;
                }
                r = add_dev(b, AT_FDCWD, dir, name);
        }
        if (r < 0)
                qz_blockstat_close(b);
        return r;
}

int qz_blockstat_read(const qz_blockstat *b, uint64_t *sectors) {
        if (b->n == 0)
                return -ENODEV;
        uint64_t sum = 0;
        for (size_t i = 0; i < b->n; i++) {
                char text[512];
                ssize_t n = pread(b->fds[i], text, sizeof(text) - 1, 0);
                if (n < 0)
                        return -errno;
                text[n] = '\0';
                uint64_t s;
                if (qz_blockstat_parse(text, &s) < 0)
                        return -EINVAL;
                sum += s;
        }
        *sectors = sum;
        return 0;
}

void qz_blockstat_close(qz_blockstat *b) {
        for (size_t i = 0; i < b->n; i++)
                if (b->fds[i] >= 0)
                        close(b->fds[i]);
        b->n = 0;
}
