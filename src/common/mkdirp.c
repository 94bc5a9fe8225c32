/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mkdirp.c - `mkdir -p` (see mkdirp.h). */
#include "mkdirp.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

int qz_mkdir_p(const char *path, mode_t mode, bool *created) {
        char buf[PATH_MAX];
        if (created)
                *created = false;
        if (strlen(path) >= sizeof(buf))
                return -ENAMETOOLONG;
        strcpy(buf, path);
        for (char *p = buf + 1; *p; p++) {
                if (*p != '/')
                        continue;
                *p = '\0';
                if (mkdir(buf, mode) < 0 && errno != EEXIST)
                        return -errno;
                *p = '/';
        }
        if (mkdir(buf, mode) == 0) {
                if (created)
                        *created = true;
                return 0;
        }
        return errno == EEXIST ? 0 : -errno;
}
