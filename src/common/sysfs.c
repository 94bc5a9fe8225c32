/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sysfs.c - attribute files read in one go (see sysfs.h). */
#include "sysfs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

int qz_read_text_at(int dirfd, const char *path, char *buf, size_t size) {
        int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        int e = errno;
        close(fd);
        if (n < 0)
                return -e;
        buf[n] = '\0';
        return 0;
}

int qz_read_line_at(int dirfd, const char *path, char *buf, size_t size) {
        int r = qz_read_text_at(dirfd, path, buf, size);
        if (r < 0)
                return r;
        buf[strcspn(buf, "\n")] = '\0';
        return 0;
}

int qz_loop_backing_file(const char *source, char *buf, size_t size) {
        struct stat st;
        if (!source || source[0] != '/')
                return -ENOTBLK;
        if (stat(source, &st) < 0)
                return -errno;
        if (!S_ISBLK(st.st_mode) || major(st.st_rdev) != QZ_LOOP_MAJOR)
                return -ENOTBLK;
        char sys[128];
        snprintf(sys, sizeof(sys), "/sys/dev/block/%u:%u/loop/backing_file", major(st.st_rdev),
                 minor(st.st_rdev));
        return qz_read_line_at(AT_FDCWD, sys, buf, size);
}
