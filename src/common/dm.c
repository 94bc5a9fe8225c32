/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dm.c - device-mapper state from /sys/dev/block (see dm.h). */
#include "dm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/sysmacros.h>

#include "sysfs.h"

int qz_dm_suspended(dev_t dev) {
        char path[96], v[8];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/suspended", major(dev), minor(dev));
        int r = qz_read_line_at(AT_FDCWD, path, v, sizeof(v));
        if (r < 0)
                return r;
        return v[0] ? v[0] == '1' : -EIO;
}

int qz_dm_name(dev_t dev, char *name, size_t size) {
        char path[96];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/dm/name", major(dev), minor(dev));
        int r = qz_read_line_at(AT_FDCWD, path, name, size);
        if (r < 0)
                return r;
        return name[0] ? 0 : -EIO;
}

static bool suspended_below(dev_t dev, char *name, size_t size, int depth) {
        if (qz_dm_suspended(dev) == 1) {
                if (qz_dm_name(dev, name, size) < 0)
                        snprintf(name, size, "dm %u:%u", major(dev), minor(dev));
                return true;
        }
        if (depth >= 8)
                return false;
        char path[96];
        snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/slaves", major(dev), minor(dev));
        DIR *dir = opendir(path);
        if (!dir)
                return false;
        bool found = false;
        for (struct dirent *de; !found && (de = readdir(dir));) {
                if (de->d_name[0] == '.')
                        continue;
                char devfile[384], text[32];
                unsigned smaj, smin;
                snprintf(devfile, sizeof(devfile), "%s/%s/dev", path, de->d_name);
                if (qz_read_line_at(AT_FDCWD, devfile, text, sizeof(text)) == 0 &&
                    sscanf(text, "%u:%u", &smaj, &smin) == 2)
                        found = suspended_below(makedev(smaj, smin), name, size, depth + 1);
        }
        closedir(dir);
        return found;
}

bool qz_dm_suspended_below(dev_t dev, char *name, size_t size) {
        return suspended_below(dev, name, size, 0);
}
