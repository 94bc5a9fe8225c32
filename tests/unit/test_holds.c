/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test_holds.c - unit tests of the hold state machine (src/daemon/holds.c)
 * against a fake kernel: the "ioctls" are recorded, and completions are
 * delivered when the test says, so every interleaving can be checked.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holds.h"

#define MS 1000ULL

/* ---- the fake kernel and client ------------------------------------------- */

typedef struct fake {
        char calls[64][48]; /* "F 7:0" freeze started, "T 7:0" thaw started */
        int n_calls;
        int done, failed, last_err;
        char last_msg[512];
        qzd_hold *last_hold;
        int gone;
        int idle;
} fake;

static fake F;

static void record(const char *what, qz_fs *fs) {
        snprintf(F.calls[F.n_calls++ % 64], 48, "%s %s", what, fs->id);
}
static void cb_start_freeze(void *ud, qz_fs *fs) {
        (void)ud;
        record("F", fs);
}
static void cb_start_thaw(void *ud, qz_fs *fs) {
        (void)ud;
        record("T", fs);
}
static void cb_op_done(void *ud, qz_op *op, qzd_hold *hold, int err, const char *msg, const char *path) {
        (void)ud;
        (void)op;
        (void)path;
        if (hold) {
                F.done++;
                F.last_hold = hold;
        } else {
                F.failed++;
                F.last_err = err;
                snprintf(F.last_msg, sizeof(F.last_msg), "%s", msg);
        }
}
static void cb_hold_gone(void *ud, const qzd_hold *hold, const qz_gone *gone) {
        (void)ud;
        (void)hold;
        (void)gone;
        F.gone++;
}
static void cb_fs_idle(void *ud, qz_fs *fs) {
        (void)ud;
        (void)fs;
        F.idle++;
}
static void cb_preflush(void *ud, qz_fs *fs) {
        (void)ud;
        record("P", fs);
}
static const qz_holds_ops ops = {cb_start_freeze, cb_start_thaw, cb_op_done,
                                 cb_hold_gone,    cb_fs_idle,    cb_preflush};

static qz_fs *mkfs(qz_holds *h, int minor) {
        qz_mount_info info = {.devno = (dev_t)(7 << 8 | minor),
                              .mountpoint = "/mnt/x",
                              .fstype = "ext4",
                              .source = "/dev/loop"};
        snprintf(info.id, sizeof(info.id), "7:%d", minor);
        bool created;
        qz_fs *fs = qz_holds_get_fs(h, &info, true, &created);
        assert_true(fs && created);
        return fs;
}

/* Begin a group freeze of the given filesystems for owner. */
static qz_op *begin(qz_holds *h, void *owner, bool detached, int64_t timeout_ms, usec_t now, int n, ...) {
        qz_fs **fs = calloc((size_t)n, sizeof(*fs));
        char **paths = calloc((size_t)n, sizeof(*paths));
        va_list ap;
        va_start(ap, n);
        for (int i = 0; i < n; i++) {
                fs[i] = va_arg(ap, qz_fs *);
                paths[i] = strdup(fs[i]->id);
        }
        va_end(ap);
        qz_op *op;
        char *msg = NULL;
        usec_t timeout = timeout_ms < 0 ? QZ_USEC_INFINITY : (usec_t)timeout_ms * MS;
        int err =
                qz_holds_begin(h, owner, 0, 1, detached, timeout, fs, paths, (size_t)n, NULL, now, &op, &msg);
        free(msg);
        if (err < 0) {
                for (int i = 0; i < n; i++)
                        free(paths[i]);
                free(fs);
                free(paths);
                F.failed++;
                F.last_err = err;
        }
        return op;
}

static int setup(void **state) {
        memset(&F, 0, sizeof(F));
        *state = qz_holds_new(&ops, NULL, 60000 * MS, 100);
        return 0;
}
static int teardown(void **state) {
        qz_holds_free(*state);
        return 0;
}

static int count_calls(const char *what) {
        int n = 0;
        for (int i = 0; i < F.n_calls; i++)
                n += strcmp(F.calls[i], what) == 0;
        return n;
}

/* ---- tests ------------------------------------------------------------------ */

/* The seed's nesting: two freezes, one FIFREEZE; only the last thaw thaws. */
static void test_nesting(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        assert_non_null(begin(h, &o1, false, -1, 0, 1, a));
        assert_int_equal(a->state, QZ_FS_FREEZING);
        qz_holds_freeze_done(h, a, 0, NULL, 10, 20);
        assert_int_equal(F.done, 1);
        qzd_hold *h1 = F.last_hold;
        assert_null(begin(h, &o2, false, -1, 30, 1, a)); /* already frozen: done at once */
        assert_int_equal(F.done, 2);
        qzd_hold *h2 = F.last_hold;
        assert_int_equal(count_calls("F 7:0"), 1);
        assert_int_equal(a->refs, 2);

        qz_holds_release(h, h1, QZ_GONE_THAWED, 40);
        assert_int_equal(a->state, QZ_FS_FROZEN);
        assert_int_equal(count_calls("T 7:0"), 0);
        qz_holds_release(h, h2, QZ_GONE_THAWED, 50);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(count_calls("T 7:0"), 1);
        qz_holds_thaw_done(h, a, 0, 60);
        assert_int_equal(a->state, QZ_FS_THAWED);
        assert_int_equal(a->last_stall / 1000, 0); /* 10us .. 60us */
        assert_int_equal(qz_holds_count(h), 0);
}

/* A second requester while the first FIFREEZE runs waits for it; no second ioctl. */
static void test_waits_for_freeze_in_progress(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        assert_non_null(begin(h, &o1, false, -1, 0, 1, a));
        assert_non_null(begin(h, &o2, false, -1, 0, 1, a));
        assert_int_equal(count_calls("F 7:0"), 1);
        assert_int_equal(F.done, 0);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 5 * MS);
        assert_int_equal(F.done, 2);
        assert_int_equal(a->refs, 2);
}

/* A failed FIFREEZE fails every waiter, and leaves nothing referenced. */
static void test_freeze_failure_fails_waiters(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        begin(h, &o1, false, -1, 0, 1, a);
        begin(h, &o2, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, -EBUSY, "frozen by someone else", 0, 1);
        assert_int_equal(F.failed, 2);
        assert_int_equal(F.last_err, -EBUSY);
        assert_non_null(strstr(F.last_msg, "frozen by someone else"));
        assert_int_equal(a->refs, 0);
        assert_int_equal(a->state, QZ_FS_THAWED);
        assert_int_equal(count_calls("T 7:0"), 0); /* never thaw what we did not freeze */
}

/* Group: the second filesystem fails; the first is rolled back (thawed). */
static void test_group_rollback(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        int o;
        assert_non_null(begin(h, &o, false, 5000, 0, 2, a, b));
        assert_int_equal(count_calls("F 7:1"), 0); /* one after the other */
        qz_holds_freeze_done(h, a, 0, NULL, 0, 1);
        assert_int_equal(count_calls("F 7:1"), 1);
        qz_holds_freeze_done(h, b, -EOPNOTSUPP, "no freeze", 1, 2);
        assert_int_equal(F.failed, 1);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(count_calls("T 7:0"), 1);
        assert_non_null(strstr(F.last_msg, "7:1: no freeze")); /* names the path that failed */
        assert_int_equal(qz_holds_count(h), 0);
}

/* A group freezes its members one after another, but asks for the later
 * members' pre-flush at once; never for one already frozen or freezing. */
static void test_group_preflush_hint(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1), *c = mkfs(h, 2);
        int o1, o2;
        assert_non_null(begin(h, &o1, false, -1, 0, 1, b)); /* b: freezing by another op */
        assert_non_null(begin(h, &o2, false, -1, 0, 3, a, b, c));
        assert_int_equal(count_calls("F 7:0"), 1);
        assert_int_equal(count_calls("P 7:0"), 0); /* the first member's freeze flushes it */
        assert_int_equal(count_calls("P 7:1"), 0); /* b is being frozen already */
        assert_int_equal(count_calls("P 7:2"), 1);
        assert_int_equal(count_calls("F 7:2"), 0); /* its freeze waits its turn */
        qz_holds_freeze_done(h, a, 0, NULL, 1, 2);
        qz_holds_freeze_done(h, b, 0, NULL, 1, 3);
        assert_int_equal(count_calls("F 7:2"), 1);
        qz_holds_freeze_done(h, c, 0, NULL, 4, 5);
        assert_int_equal(F.done, 2);
        assert_int_equal(count_calls("P 7:2"), 1);
}

/* A group hold thaws in reverse freeze order. */
static void test_group_release_reverse(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        int o;
        begin(h, &o, false, 5000, 0, 2, a, b);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 1);
        qz_holds_freeze_done(h, b, 0, NULL, 1, 2);
        assert_int_equal(F.done, 1);
        assert_string_equal(F.calls[0], "P 7:1"); /* the group's early pre-flush of b */
        assert_string_equal(F.calls[1], "F 7:0");
        assert_string_equal(F.calls[2], "F 7:1");
        qz_holds_release(h, F.last_hold, QZ_GONE_THAWED, 3);
        assert_string_equal(F.calls[3], "T 7:1");
        assert_string_equal(F.calls[4], "T 7:0");
}

/* Deadlines: the earliest one is reported, and expiry releases the hold. */
static void test_deadline_expires(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        begin(h, &o1, false, 2000, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        begin(h, &o2, false, 500, 0, 1, a);
        assert_int_equal(qz_holds_next_deadline(h), 500 * MS);
        qz_holds_expire(h, 499 * MS);
        assert_int_equal(qz_holds_count(h), 2);
        qz_holds_expire(h, 500 * MS);
        assert_int_equal(qz_holds_count(h), 1);
        assert_int_equal(a->state, QZ_FS_FROZEN);
        assert_int_equal(qz_holds_next_deadline(h), 2000 * MS);
        qz_holds_expire(h, 2000 * MS);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(a->last_gone.why, QZ_GONE_EXPIRED);
}

/* reset-timeout re-arms from now. */
static void test_reset_timeout(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o;
        begin(h, &o, false, 1000, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        qzd_hold *hold = F.last_hold;
        qz_holds_reset_timeout(h, hold, 1000 * MS, 900 * MS);
        qz_holds_expire(h, 1500 * MS);
        assert_int_equal(qz_holds_count(h), 1);
        assert_int_equal(qz_holds_next_deadline(h), 1900 * MS);
        qz_holds_reset_timeout(h, hold, QZ_USEC_INFINITY, 1600 * MS);
        assert_int_equal(qz_holds_next_deadline(h), 60000 * MS); /* only the ceiling is left */
}

/* The ceiling force-thaws whatever the holds say; their holds are gone. */
static void test_ceiling_force_thaws(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        begin(h, &o1, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        begin(h, &o2, true, -1, 0, 1, a);
        assert_int_equal(qz_holds_next_deadline(h), 60000 * MS);
        qz_holds_expire(h, 60000 * MS);
        assert_int_equal(qz_holds_count(h), 0);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(a->last_gone.why, QZ_GONE_CEILING);
        assert_int_equal(count_calls("T 7:0"), 1);
}

/* A ceiling on one filesystem of a group hold removes only that one. */
static void test_ceiling_partial_group(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        int o;
        begin(h, &o, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        begin(h, &o, false, -1, 50000 * MS, 2, a, b);
        qz_holds_freeze_done(h, b, 0, NULL, 50000 * MS, 50000 * MS);
        qzd_hold *group = F.last_hold;
        qz_holds_expire(h, 60000 * MS); /* a hits its ceiling, b not */
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(b->state, QZ_FS_FROZEN);
        assert_ptr_equal(qz_holds_find(h, group->id), group);
        assert_int_equal(group->n_fs, 1);
}

/* A requester that dies loses its holds at once; detached ones stay. */
static void test_drop_owner(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o;
        begin(h, &o, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        begin(h, &o, true, 5000, 0, 1, a);
        qzd_hold *det = F.last_hold;
        qz_holds_drop_owner(h, &o, 1);
        assert_int_equal(qz_holds_count(h), 1);
        assert_null(det->owner);
        assert_int_equal(a->state, QZ_FS_FROZEN);
        qz_holds_release(h, det, QZ_GONE_THAWED, 2);
        assert_int_equal(a->state, QZ_FS_THAWING);
}

/* A requester that dies while its freeze runs: the freeze completes, then thaws. */
static void test_cancel_during_freeze(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o;
        begin(h, &o, false, -1, 0, 1, a);
        qz_holds_drop_owner(h, &o, 1);
        assert_int_equal(a->refs, 0);
        assert_int_equal(a->state, QZ_FS_FREEZING);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 2);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_int_equal(F.done + F.failed, 0); /* nobody to answer */
}

/* A request arriving while the last thaw runs freezes again after it. */
static void test_refreeze_after_thaw(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o;
        begin(h, &o, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        qz_holds_release(h, F.last_hold, QZ_GONE_THAWED, 1);
        assert_int_equal(a->state, QZ_FS_THAWING);
        assert_non_null(begin(h, &o, false, -1, 2, 1, a));
        qz_holds_thaw_done(h, a, 0, 3);
        assert_int_equal(a->state, QZ_FS_FREEZING);
        assert_int_equal(count_calls("F 7:0"), 2);
        qz_holds_freeze_done(h, a, 0, NULL, 4, 5);
        assert_int_equal(F.done, 2);
}

/* Thaw by path finds the caller's own hold first, then its detached ones. */
static void test_find_for_precedence(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int mine, other;
        begin(h, &mine, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        qzd_hold *own = F.last_hold;
        begin(h, &other, true, 1000, 0, 1, a);
        qzd_hold *det = F.last_hold;
        assert_ptr_equal(qz_holds_find_for(h, a, &mine, 0), own);
        int stranger;
        assert_ptr_equal(qz_holds_find_for(h, a, &stranger, 0), det);
        assert_null(qz_holds_find_for(h, a, &stranger, 1000)); /* uid 1000 has none */
}

/* A filesystem whose backing filesystem we froze is refused alone. */
static void test_refuses_loop_on_frozen_host(void **state) {
        qz_holds *h = *state;
        qz_fs *host = mkfs(h, 0), *inner = mkfs(h, 1);
        inner->host_devno = host->devno;
        int o;
        begin(h, &o, false, -1, 0, 1, host);
        qz_holds_freeze_done(h, host, 0, NULL, 0, 0);
        assert_null(begin(h, &o, false, -1, 0, 1, inner));
        assert_int_equal(F.last_err, -EDEADLK);
        assert_int_equal(inner->refs, 0);
}

/* The hold limit. */
static void test_hold_limit(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o;
        begin(h, &o, false, -1, 0, 1, a);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 0);
        for (int i = 1; i < 100; i++)
                begin(h, &o, false, -1, 0, 1, a);
        assert_int_equal(qz_holds_count(h), 100);
        assert_null(begin(h, &o, false, -1, 0, 1, a));
        assert_int_equal(F.last_err, -ENOSPC);
        qz_holds_release_all(h, QZ_GONE_THAWED, 1);
        assert_int_equal(count_calls("T 7:0"), 1);
}

/* Found by tests/fuzz/fuzz_holds: pruning idle filesystems (quiesced does
 * after every thaw) must not free one a group freeze in progress has not
 * reached yet. */
static void test_prune_keeps_group_targets(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        qz_op *op = begin(h, (void *)1, false, 1000, 0, 2, a, b);
        assert_non_null(op);
        qz_holds_prune(h, 0); /* b: thawed, no reference, no waiter */
        assert_ptr_equal(qz_holds_find_fs(h, b->devno), b);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 1);
        qz_holds_freeze_done(h, b, 0, NULL, 1, 2);
        assert_int_equal(F.done, 1);
        assert_int_equal(F.last_hold->n_fs, 2);
}

/* Found by tests/fuzz/fuzz_holds: a group freeze that ends before reaching
 * a member must let the daemon close that member's descriptor (else the
 * filesystem cannot be unmounted), and a member a group will still reach
 * must keep it (else its FIFREEZE gets EBADF). */
static void test_idle_descriptors_of_group_members(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        int owner1, owner2;
        /* cancelled before reaching b: b is idle */
        assert_non_null(begin(h, &owner1, false, 1000, 0, 2, a, b));
        qz_holds_drop_owner(h, &owner1, 0);
        assert_int_equal(F.idle, 1);
        qz_holds_freeze_done(h, a, 0, NULL, 0, 1); /* nobody wants a any more: thaw */
        qz_holds_thaw_done(h, a, 0, 2);
        assert_int_equal(F.idle, 2);
        /* b frozen and released by another while a group still waits to reach it */
        assert_non_null(begin(h, &owner1, false, 1000, 3, 2, a, b));
        assert_non_null(begin(h, &owner2, false, 1000, 3, 1, b));
        qz_holds_freeze_done(h, b, 0, NULL, 3, 4);
        assert_int_equal(F.done, 1);
        qz_holds_release(h, F.last_hold, QZ_GONE_THAWED, 5);
        qz_holds_thaw_done(h, b, 0, 6);
        assert_int_equal(F.idle, 2); /* b is still wanted by the first group */
        qz_holds_freeze_done(h, a, 0, NULL, 6, 7);
        qz_holds_freeze_done(h, b, 0, NULL, 7, 8);
        assert_int_equal(F.done, 2);
}

/* A breach marks every hold on that filesystem, and only that filesystem of
 * a group hold (the marks follow a release of one member); later holds are
 * not broken. */
static void test_breach_marks_holds(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0), *b = mkfs(h, 1);
        int o1, o2, o3;
        assert_non_null(begin(h, &o1, true, -1, 0, 2, a, b));
        qz_holds_freeze_done(h, a, 0, NULL, 10, 20);
        qz_holds_freeze_done(h, b, 0, NULL, 10, 20);
        qzd_hold *g = F.last_hold;
        assert_null(begin(h, &o2, true, -1, 30, 1, b));
        qzd_hold *n = F.last_hold;
        assert_false(qz_hold_broken(g, NULL));
        qz_holds_breach(h, b, "the freeze of ext4 7:1 was lifted", 40);
        assert_true(qz_hold_broken(g, NULL));
        assert_true(qz_hold_broken(g, b));
        assert_false(qz_hold_broken(g, a));
        assert_true(qz_hold_broken(n, b));
        assert_string_equal(g->breach, "the freeze of ext4 7:1 was lifted");
        /* a later hold on b, once the freeze is in place again, is not broken */
        assert_null(begin(h, &o3, true, -1, 50, 1, b));
        assert_false(qz_hold_broken(F.last_hold, NULL));
        /* g loses a: its mark for b moves with it */
        qz_holds_release_fs(h, g, a, QZ_GONE_THAWED, 60);
        assert_int_equal(g->n_fs, 1);
        assert_true(qz_hold_broken(g, b));
        assert_int_equal(g->broken_mask, 1);
}

/* A filesystem whose freeze in place is another process's gets no new hold. */
static void test_foreign_freeze_refuses_new_holds(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        int o1, o2;
        assert_non_null(begin(h, &o1, true, -1, 0, 1, a));
        qz_holds_freeze_done(h, a, 0, NULL, 10, 20);
        a->foreign = true;
        assert_null(begin(h, &o2, true, -1, 30, 1, a));
        assert_int_equal(F.failed, 1);
        assert_int_equal(F.last_err, -EBUSY);
        assert_non_null(strstr(F.last_msg, "frozen by another process"));
        assert_int_equal(a->refs, 1);
        assert_int_equal(a->state, QZ_FS_FROZEN);
}

/* A pinned filesystem (a request waits for its probe) is neither idle nor pruned. */
static void test_pins_keep_a_filesystem(void **state) {
        qz_holds *h = *state;
        qz_fs *a = mkfs(h, 0);
        a->pins = 1;
        qz_holds_fs_maybe_idle(h, a);
        assert_int_equal(F.idle, 0);
        qz_holds_prune(h, 0);
        assert_ptr_equal(qz_holds_find_fs(h, a->devno), a);
        a->pins = 0;
        qz_holds_fs_maybe_idle(h, a);
        assert_int_equal(F.idle, 1);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_nesting, setup, teardown),
                cmocka_unit_test_setup_teardown(test_waits_for_freeze_in_progress, setup, teardown),
                cmocka_unit_test_setup_teardown(test_freeze_failure_fails_waiters, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_rollback, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_release_reverse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_group_preflush_hint, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deadline_expires, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ceiling_force_thaws, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ceiling_partial_group, setup, teardown),
                cmocka_unit_test_setup_teardown(test_drop_owner, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cancel_during_freeze, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refreeze_after_thaw, setup, teardown),
                cmocka_unit_test_setup_teardown(test_find_for_precedence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refuses_loop_on_frozen_host, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hold_limit, setup, teardown),
                cmocka_unit_test_setup_teardown(test_prune_keeps_group_targets, setup, teardown),
                cmocka_unit_test_setup_teardown(test_idle_descriptors_of_group_members, setup, teardown),
                cmocka_unit_test_setup_teardown(test_breach_marks_holds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_foreign_freeze_refuses_new_holds, setup, teardown),
                cmocka_unit_test_setup_teardown(test_pins_keep_a_filesystem, setup, teardown),
        };
        return cmocka_run_group_tests_name("holds", tests, NULL, NULL);
}
