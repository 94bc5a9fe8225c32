/* SPDX-License-Identifier: GPL-2.0-or-later */
/* holds-private.h - what holds.c and group.c share: the table itself and
 * the reference counting both use. Nothing else includes it.
 */
#pragma once

#include "holds.h"

#define GONE_RING 256 /* holds gone recently, for the message of a Thaw that comes late */

struct qz_holds {
        const qz_holds_ops *ops;
        void *ud;
        usec_t max_frozen; /* the ceiling, QZ_USEC_INFINITY none */
        size_t max_holds;
        uint64_t next_id;
        qzd_hold *first, *last;
        size_t n_holds;
        /* The earliest hold deadline, kept as holds come and go; a walk of
         * every hold only after the one that had it leaves (min_stale). */
        usec_t min_deadline;
        bool min_stale;
        qz_fs *fs_list;
        qz_op **ops_live; /* group freezes in progress */
        size_t n_ops;
        qz_gone gone[GONE_RING]; /* why recent holds went away, by id */
        unsigned gone_next;
};

/* holds.c */
void holds_fs_ref(qz_fs *fs);
/* Drops one reference; the last one starts the thaw (or leaves it to the
 * end of a freeze in progress). Returns true when a thaw was started. */
bool holds_fs_unref(qz_holds *h, qz_fs *fs);
void holds_waiter_add(qz_fs *fs, qz_op *op);
void holds_waiter_remove(qz_fs *fs, qz_op *op);
void holds_hold_link(qz_holds *h, qzd_hold *hold);
bool holds_hold_has(const qzd_hold *hold, const qz_fs *fs);
usec_t holds_deadline_after(usec_t now, usec_t timeout);
/* A group freeze in progress names fs (reached or not). */
bool holds_in_live_op(const qz_holds *h, const qz_fs *fs);

/* group.c */
void holds_op_free(qz_op *op);
/* Take every reference off fs: its holds lose it (and die when empty), the
 * ops that froze or wait for it fail. Used by the ceiling and the guard. */
void holds_fs_strip(qz_holds *h, qz_fs *fs, qz_gone_why why, usec_t now);
