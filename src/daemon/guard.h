/* SPDX-License-Identifier: GPL-2.0-or-later */
/* guard.h - the guard: a tiny process forked at start that holds a
 * descriptor of every filesystem quiesced froze, with its hard deadline. If
 * the daemon dies (even by SIGKILL) the guard thaws them all, newest first,
 * puts back any bdi setting the pre-flush throttle changed, and exits; if a
 * hard deadline passes it thaws that one and says so.
 */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* Forks the guard. Returns the daemon's end of the guard's socket, -errno. */
int qz_guard_start(void);

/* Called from freezer workers: arm before FIFREEZE, disarm after FITHAW (or
 * a failed FIFREEZE). hard_deadline is CLOCK_BOOTTIME usec, UINT64_MAX none. */
int qz_guard_arm(int sock, dev_t key, int fd, uint64_t hard_deadline);
int qz_guard_disarm(int sock, dev_t key);

/* The pre-flush throttle (throttle.h): before it changes a bdi, the guard
 * gets its sysfs directory (dirfd, kept open) and the original settings; if
 * the daemon dies before the matching done, the guard writes them back. */
int qz_guard_bdi_save(int sock, uint64_t key, int dirfd, uint32_t strict, uint32_t ratio_fine);
int qz_guard_bdi_done(int sock, uint64_t key);

/* Reads one report from the guard: 1 and *key when it thawed a filesystem at
 * its hard deadline, 0 nothing, -errno (-EPIPE: the guard died). */
int qz_guard_read_report(int sock, dev_t *key);
