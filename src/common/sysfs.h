/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sysfs.h - the kernel's small attribute files (/sys, /proc, debugfs) read
 * in one read(), and what quiesce looks up there about block devices: the
 * loop major and a loop device's backing file.
 */
#pragma once

#include <stddef.h>

#define QZ_LOOP_MAJOR 7

/* The whole of a small file at dirfd/path (AT_FDCWD for an absolute path),
 * from one read(), NUL-terminated (cut at size - 1). 0 or -errno. */
int qz_read_text_at(int dirfd, const char *path, char *buf, size_t size);

/* Its first line, without the newline ("" for an empty file). 0 or -errno. */
int qz_read_line_at(int dirfd, const char *path, char *buf, size_t size);

/* The backing file of the loop device at source (an absolute /dev path),
 * into buf. 0; -ENOTBLK when source is no loop device; -errno. */
int qz_loop_backing_file(const char *source, char *buf, size_t size);
