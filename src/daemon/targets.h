/* SPDX-License-Identifier: GPL-2.0-or-later */
/* targets.h - a request's targets: the paths or descriptors it names, as
 * the filesystems (qz_fs) they lie on, with the refusals that apply before
 * anything is frozen and the order a group freezes in. The one notion of a
 * target inside quiesced.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "holds.h"
#include "parse.h"

typedef struct qz_conn qz_conn;

typedef struct qzd_target {
        qz_fs *fs;  /* NULL: not known to quiesced (only when not freezing) */
        int fd;     /* for a freeze: an fd fit for the ioctls, until handed to fs */
        char *path; /* the request's path, or "descriptor #i" */
        char *name; /* when fs is NULL: "ext4 7:0 (mounted at /mnt/a)", for the message */
} qzd_target;

/* Resolves the request's targets (validated by qz_request_parse) into
 * t[0..*ret_n). On failure replies and returns -errno. With `freezing`,
 * unknown filesystems are registered and each target keeps a descriptor fit
 * for FIFREEZE; otherwise unknown filesystems have fs NULL. */
int qz_targets_resolve(qz_conn *c, const qz_request *req, bool freezing, qzd_target *t, size_t *ret_n);
void qz_targets_free(qzd_target *t, size_t n);

/* The refusals of a Freeze (an unfreezable type, the runtime directory's
 * filesystem, the root filesystem without a deadline), then one target per
 * superblock: t[0..*ret_m) are kept, the rest freed. On a refusal replies,
 * frees them all and returns -errno. */
int qz_targets_check_freeze(qz_conn *c, qzd_target *t, size_t n, usec_t timeout, size_t *ret_m);
/* Dependents first (deeper loop nesting), the root filesystem last; stable. */
void qz_targets_order(qz_conn *c, qzd_target *t, size_t n);

/* For each target, the caller's most recent hold on it; replies and returns
 * -EINVAL when one has none. */
int qz_targets_holds(qz_conn *c, const qzd_target *t, size_t n, qzd_hold **ret);
/* " (last: hold 3 released: thawed by request)" for a filesystem whose last
 * hold went away, "" otherwise. */
const char *qz_targets_gone_suffix(const qz_fs *fs, char *buf, size_t size);
