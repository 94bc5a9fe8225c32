/* SPDX-License-Identifier: GPL-2.0-or-later */
/* blockstat.h - the sectors-written counter of the block device(s) a
 * filesystem sits on (/sys/dev/block/M:m/stat, its 7th field), the second
 * signal of a freeze's proof (proof.h). A btrfs superblock has an anonymous
 * device number: its devices are those of /sys/fs/btrfs/FSID/devices.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define QZ_BLOCKSTAT_MAX_DEVS 8

typedef struct qz_blockstat {
        int fds[QZ_BLOCKSTAT_MAX_DEVS]; /* each device's stat file, kept open (pread at 0 re-reads it) */
        size_t n;
        char name[96]; /* "loop1", or "loop1+loop2" for several */
} qz_blockstat;

/* For the filesystem open at fs_fd: 0, or -errno (-ENODEV: no block device
 * under it, e.g. a network filesystem). n is 0 after a failure. */
int qz_blockstat_open(qz_blockstat *b, int fs_fd, const char *fstype, dev_t devno);
/* The sum over its devices, in 512-byte sectors: 0 or -errno. */
int qz_blockstat_read(const qz_blockstat *b, uint64_t *sectors);
void qz_blockstat_close(qz_blockstat *b);

/* The sectors-written field of one stat file's text: 0 or -EINVAL. */
int qz_blockstat_parse(const char *text, uint64_t *sectors);
