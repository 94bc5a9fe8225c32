/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reply.h - what the methods answer (docs/protocol.md): the envelopes of a
 * success, an error and a broken freeze, and the JSON of a filesystem, its
 * proof, a hold and a release, as Freeze, Thaw, ResetTimeout and Status
 * show them.
 */
#pragma once

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "clock.h"
#include "holds.h"

typedef struct qz_conn qz_conn;
struct qz_writers;

/* An error reply: err is a negative errno; path, when not NULL, is the
 * request's path at fault (and makes an EINVAL an Error, not an
 * InvalidRequest). */
void qz_reply_error(qz_conn *c, int err, const char *path, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* {"parameters": params}; takes the reference. */
void qz_reply_ok(qz_conn *c, json_object *params);
/* The answer to a Thaw or ResetTimeout: parameters p, or, when a freeze did
 * not hold (breach not NULL), an error with errno ESTALE carrying p's
 * members as well (QZ_EBROKEN in quiesce.h: `done` took place). Takes p. */
void qz_reply_held_or_broken(qz_conn *c, json_object *p, uint64_t id, const char *breach, const char *done);
/* Hold id is gone: why, if it went recently. */
void qz_reply_gone(qz_conn *c, uint64_t id);

/* Milliseconds until deadline (rounded up), -1 when there is none. */
int64_t qz_ms_until(usec_t deadline, usec_t now);

/* {"id", "mountpoint", "fstype", "source", "path"?, "stall_ms"?, "proof"?} */
json_object *qz_fs_ref_json(const qz_fs *fs, const char *path);
/* A hold as Freeze and ResetTimeout answer it. */
/* A hold as Freeze and ResetTimeout answer it, with the writers of its
 * filesystems (writers.h) when there are any. */
json_object *qz_hold_json(const qzd_hold *hold, const struct qz_writers *ws, usec_t now);
/* One filesystem a Thaw released. */
json_object *qz_released_json(const qzd_hold *hold, const qz_fs *fs, const char *path, bool thaws,
                              usec_t now);
