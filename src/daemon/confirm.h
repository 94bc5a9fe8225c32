/* SPDX-License-Identifier: GPL-2.0-or-later */
/* confirm.h - requests that wait for a fresh probe of the filesystems they
 * name before they go on (a nested Freeze, a Thaw, a ResetTimeout), so that
 * a hold is granted, released or re-armed on what is true at that moment,
 * not on what the last periodic probe saw (DESIGN.md, "Proof of a freeze").
 * A request that arrives while a probe runs waits for the next one, which
 * begins after it. The filesystems are pinned meanwhile.
 */
#pragma once

#include <stddef.h>

#include "holds.h"

typedef struct qz_daemon qz_daemon;
typedef struct qz_confirm qz_confirm;
typedef void (*qz_confirm_fn)(qz_daemon *d, void *arg);

/* Asks a probe of each frozen filesystem of fs[0..n) and calls fn(d, arg)
 * once all have answered. Returns the pending confirmation, or NULL when
 * nothing had to be probed: fn has then been called already. */
qz_confirm *qz_confirm_start(qz_daemon *d, qz_fs *const *fs, size_t n, qz_confirm_fn fn, void *arg);
/* The requester went away: fn is never called; free_arg(arg) is. */
void qz_confirm_cancel(qz_daemon *d, qz_confirm *c, void (*free_arg)(void *arg));

/* fs's keeper answered the probe asked as number seq (or a later one). */
void qz_confirm_answered(qz_daemon *d, qz_fs *fs, unsigned seq);
/* fs is no longer frozen (thawed, abandoned): everybody waiting on it goes on. */
void qz_confirm_settle(qz_daemon *d, qz_fs *fs);
