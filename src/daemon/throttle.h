/* SPDX-License-Identifier: GPL-2.0-or-later */
/* throttle.h - the pre-flush throttle. Before FIFREEZE quiesced flushes the
 * filesystem with syncfs() while its writers still run; a fast buffered
 * writer then keeps adding dirty pages that syncfs chases, and it stalls on
 * page locks held by writeback for seconds (docs/BENCHMARKS.md). During the
 * pre-flush the filesystem's backing device info (bdi) gets strict_limit=1
 * and a max_bytes kept just above what it has dirty (ramped down every 20 ms
 * as writeback drains it; the amount comes from debugfs, mounted privately
 * by the ramp thread if need be, else the limit is a fixed 256 MiB): writers are slowed in
 * balance_dirty_pages(), a few milliseconds at a time, instead of hanging behind writeback. The original
 * strict_limit and max_ratio_fine are restored right after FIFREEZE, and the
 * guard restores them if quiesced dies in between (the next quiesced, if the
 * guard died too: the runtime directory keeps a note of them).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct qz_throttle qz_throttle;
typedef struct qz_throttle_bdi qz_throttle_bdi;

/* guard_sock: the guard's socket (qz_guard_bdi_save/done); -1 for none, and
 * then nothing is ever throttled (no one could restore it). state_dir (the
 * runtime directory, or NULL): a file per throttled bdi with its original
 * settings, for the case that quiesced and its guard die together; the
 * files a dead quiesced left there are put back (and removed) here. */
qz_throttle *qz_throttle_new(int guard_sock, bool enabled, const char *state_dir);
/* Restores every bdi still throttled. */
void qz_throttle_free(qz_throttle *t);

/* The name of the bdi (as in /sys/class/bdi) of the filesystem open at fd:
 * "MAJ:MIN" of the whole disk for a block device, "btrfs-N" for btrfs.
 * 0, or -errno (-ENODEV: none, e.g. tmpfs). */
/* Puts a bdi's settings back (its sysfs directory dirfd, the values as
 * read before): the one restore, for the throttle, its recovery of a dead
 * quiesced's state files and the guard. 0 or the first -errno; both are
 * attempted either way. */
int qz_bdi_put_back(int dirfd, const char *strict_limit, const char *max_ratio_fine);
int qz_bdi_name(int fd, const char *fstype, dev_t devno, char *name, size_t size);

/* Throttles the bdi until the matching end; nested begins of one bdi share
 * the throttle. NULL when it cannot be throttled (disabled, no sysfs knobs
 * on this kernel, read-only /sys): the pre-flush then runs unthrottled. */
qz_throttle_bdi *qz_throttle_begin(qz_throttle *t, const char *bdi);
void qz_throttle_end(qz_throttle *t, qz_throttle_bdi *b);

/* max_bytes for a bdi with `dirty` bytes dirty or under writeback: 1.2 x
 * that, never below the floor (QZ_THROTTLE_FLOOR). Pure; unit-tested. */
#define QZ_THROTTLE_FLOOR (32LL << 20)
/* The limit without the bdi's statistics (no debugfs, even privately). */
#define QZ_THROTTLE_FALLBACK (256LL << 20)
int64_t qz_throttle_limit(int64_t dirty);
/* Parses a debugfs bdi "stats" text: BdiWriteback + BdiReclaimable in
 * bytes, or -1. Pure; unit-tested. */
int64_t qz_throttle_parse_bdi_stats(const char *text);
