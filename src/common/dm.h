/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dm.h - device-mapper facts from sysfs: a dm device's name and whether it
 * is suspended (dmsetup suspend, or LVM's own lockfs suspend), for the
 * daemon's freezer and the lvm snapshot provider.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* 1: dev is a suspended dm device, 0: it is not, -errno: cannot tell (for
 * instance -ENOENT when dev is no dm device at all). */
int qz_dm_suspended(dev_t dev);

/* dev's dm name into name. 0, -EIO when it has none, -errno. */
int qz_dm_name(dev_t dev, char *name, size_t size);

/* True when dev, or a device below it (its slaves, recursively), is a
 * suspended dm device; that device's name (or "dm MAJ:MIN") goes to name. */
bool qz_dm_suspended_below(dev_t dev, char *name, size_t size);
