/* SPDX-License-Identifier: GPL-2.0-or-later */
/* group.c - group freezes in progress (see holds.h): a request's
 * filesystems taken one after another in order, all-or-nothing, rolled
 * back in reverse; the freezer's completions that move them on; and the
 * force-thaws (ceiling, guard) that strip a filesystem from its holds.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holds-private.h"
#include "xalloc.h"

void holds_op_free(qz_op *op) {
        for (size_t i = 0; i < op->n_fs; i++)
                free(op->paths[i]);
        free(op->paths);
        free(op->fs);
        free(op);
}

/* ---- group freezes ------------------------------------------------------- */

static void op_unlink(qz_holds *h, qz_op *op) {
        for (size_t i = 0; i < h->n_ops; i++)
                if (h->ops_live[i] == op) {
                        h->ops_live[i] = h->ops_live[--h->n_ops];
                        return;
                }
}

/* Roll back: drop the op's references in reverse, the one it waits on too. */
static void op_rollback(qz_holds *h, qz_op *op) {
        if (op->waiting) {
                holds_waiter_remove(op->fs[op->next], op);
                op->waiting = false;
                holds_fs_unref(h, op->fs[op->next]);
        }
        for (size_t i = op->next; i-- > 0;)
                holds_fs_unref(h, op->fs[i]);
        /* The members it never reached got a descriptor for it too. */
        for (size_t i = op->next; i < op->n_fs; i++)
                qz_holds_fs_maybe_idle(h, op->fs[i]);
}

/* Fails the op because of fs: the message names the request's path for it. */
static void op_fail(qz_holds *h, qz_op *op, qz_fs *fs, int err, const char *msg) {
        const char *path = NULL;
        for (size_t i = 0; i < op->n_fs; i++)
                if (op->fs[i] == fs)
                        path = op->paths[i];
        char *full = xasprintf("%s: %s", path ? path : fs->mountpoint, msg); /* aborts on ENOMEM (mlockall) */
        op_unlink(h, op);
        op_rollback(h, op);
        h->ops->op_done(h->ud, op, NULL, err, full, path ? path : fs->mountpoint);
        free(full);
        holds_op_free(op);
}

static void op_succeed(qz_holds *h, qz_op *op, usec_t now) {
        qzd_hold *hold = calloc(1, sizeof(*hold));
        if (!hold) {
                op_fail(h, op, op->fs[0], -ENOMEM, "out of memory");
                return;
        }
        op_unlink(h, op);
        hold->id = h->next_id++;
        hold->owner = op->owner;
        hold->detached = op->detached;
        hold->uid = op->uid;
        hold->pid = op->pid;
        hold->created = now;
        hold->timeout = op->timeout;
        hold->deadline = holds_deadline_after(now, op->timeout);
        hold->n_fs = op->n_fs;
        hold->fs = op->fs; /* the op's references become the hold's */
        hold->paths = op->paths;
        op->fs = NULL;
        op->paths = NULL;
        op->n_fs = 0;
        holds_hold_link(h, hold);
        h->ops->op_done(h->ud, op, hold, 0, NULL, NULL);
        holds_op_free(op);
}

/* Take the op's filesystems in order until one must be waited for. Returns
 * true when the op finished (and was freed). */
static bool op_advance(qz_holds *h, qz_op *op, usec_t now) {
        while (op->next < op->n_fs) {
                qz_fs *fs = op->fs[op->next];
                if (!op->waiting) {
                        holds_fs_ref(fs);
                        op->waiting = true;
                        if (fs->state == QZ_FS_THAWED) {
                                fs->state = QZ_FS_FREEZING;
                                h->ops->start_freeze(h->ud, fs);
                        }
                }
                if (fs->state != QZ_FS_FROZEN) {
                        holds_waiter_add(fs, op);
                        return false;
                }
                if (fs->foreign) {
                        /* quiesce's freeze was lifted and another process froze it
                         * again: that freeze is not ours to count on. */
                        char *msg = xasprintf(
                                "%s %s (mounted at %s) is frozen by another process: quiesce's freeze was "
                                "lifted and the filesystem frozen again by someone else; leaving that "
                                "freeze alone",
                                fs->fstype, fs->id, fs->mountpoint);
                        op->waiting = false;
                        holds_fs_unref(h, fs);
                        op_fail(h, op, fs, -EBUSY, msg);
                        free(msg);
                        return true;
                }
                op->waiting = false;
                op->next++;
        }
        op_succeed(h, op, now);
        return true;
}

int qz_holds_begin(qz_holds *h, void *owner, uid_t uid, pid_t pid, bool detached, usec_t timeout, qz_fs **fs,
                   char **paths, size_t n, void *userdata, usec_t now, qz_op **ret, char **ret_msg) {
        *ret = NULL;
        if (h->n_holds + h->n_ops >= h->max_holds) {
                *ret_msg = xasprintf("too many holds (%zu); release some first", h->max_holds);
                return -ENOSPC;
        }
        /* A backing filesystem frozen by us would block the freeze of what lies on it. */
        for (size_t i = 0; i < n; i++) {
                if (!fs[i]->host_devno)
                        continue;
                qz_fs *host = qz_holds_find_fs(h, fs[i]->host_devno);
                bool host_in_group = false;
                for (size_t j = 0; j < n; j++)
                        host_in_group |= fs[j] == host;
                if (host && host->state != QZ_FS_THAWED && fs[i]->state != QZ_FS_FROZEN && !host_in_group) {
                        *ret_msg = xasprintf(
                                "%s%s%s %s (mounted at %s) lies on %s %s (mounted at %s), which is frozen: "
                                "its freeze would wait for that thaw; freeze both in one request",
                                paths && paths[i] ? paths[i] : "", paths && paths[i] ? ": " : "",
                                fs[i]->fstype, fs[i]->id, fs[i]->mountpoint, host->fstype, host->id,
                                host->mountpoint);
                        return -EDEADLK;
                }
        }
        qz_op *op = calloc(1, sizeof(*op));
        qz_op **ops = realloc(h->ops_live, (h->n_ops + 1) * sizeof(*ops));
        if (!op || !ops) {
                free(op);
                if (ops)
                        h->ops_live = ops;
                *ret_msg = xstrdup("out of memory");
                return -ENOMEM;
        }
        h->ops_live = ops;
        h->ops_live[h->n_ops++] = op;
        op->owner = owner;
        op->uid = uid;
        op->pid = pid;
        op->detached = detached;
        op->timeout = timeout;
        op->fs = fs;
        op->paths = paths;
        op->n_fs = n;
        op->userdata = userdata;
        /* The members are frozen one after another, in order; their pre-flush
         * (the long part) need not wait for that. */
        for (size_t i = 1; i < n && h->ops->preflush; i++)
                if (fs[i]->state == QZ_FS_THAWED)
                        h->ops->preflush(h->ud, fs[i]);
        if (!op_advance(h, op, now))
                *ret = op;
        return 0;
}

void qz_holds_drop_owner(qz_holds *h, void *owner, usec_t now) {
        for (size_t i = h->n_ops; i-- > 0;) {
                qz_op *op = h->ops_live[i];
                if (op->owner != owner)
                        continue;
                op_unlink(h, op);
                op_rollback(h, op);
                holds_op_free(op);
                i = h->n_ops; /* the array changed under us: rescan */
        }
        for (qzd_hold *hold = h->first; hold;) {
                qzd_hold *next = hold->next;
                if (hold->owner == owner) {
                        if (hold->detached)
                                hold->owner = NULL;
                        else
                                qz_holds_release(h, hold, QZ_GONE_CLOSED, now);
                }
                hold = next;
        }
}

/* ---- completions --------------------------------------------------------- */

void qz_holds_freeze_done(qz_holds *h, qz_fs *fs, int err, const char *msg, usec_t start, usec_t end) {
        fs->freeze_start = start;
        qz_op **waiters = fs->waiters;
        size_t n = fs->n_waiters;
        fs->waiters = NULL;
        fs->n_waiters = 0;
        if (err) {
                fs->state = QZ_FS_THAWED;
                fs->freeze_usec = QZ_USEC_INFINITY;
                /* Every op waiting on it fails; op_fail drops the waited-on
                 * reference too, so mark them as no longer queued first. */
                for (size_t i = 0; i < n; i++) {
                        qz_op *op = waiters[i];
                        op->waiting = false;
                        holds_fs_unref(h, fs);
                        op_fail(h, op, fs, err, msg);
                }
                free(waiters);
                qz_holds_fs_maybe_idle(h, fs);
                return;
        }
        fs->state = QZ_FS_FROZEN;
        fs->foreign = false;
        fs->frozen_at = end;
        fs->freeze_usec = end - start;
        fs->ceiling_at = h->max_frozen == QZ_USEC_INFINITY ? QZ_USEC_INFINITY : start + h->max_frozen;
        if (fs->refs == 0) {
                /* Everybody who wanted it went away meanwhile. */
                fs->state = QZ_FS_THAWING;
                h->ops->start_thaw(h->ud, fs);
        } else {
                for (size_t i = 0; i < n; i++) {
                        waiters[i]->waiting = false;
                        waiters[i]->next++;
                        op_advance(h, waiters[i], end);
                }
        }
        free(waiters);
}

void qz_holds_thaw_done(qz_holds *h, qz_fs *fs, int err, usec_t end) {
        (void)err; /* the daemon logs it; the filesystem is thawed either way */
        fs->state = QZ_FS_THAWED;
        fs->foreign = false;
        fs->thawed_at = end;
        fs->ceiling_at = QZ_USEC_INFINITY;
        fs->last_stall = end - fs->freeze_start;
        if (fs->refs > 0) {
                /* Somebody asked for it while it thawed: freeze again for them. */
                fs->state = QZ_FS_FREEZING;
                h->ops->start_freeze(h->ud, fs);
        } else {
                qz_holds_fs_maybe_idle(h, fs);
        }
}

/* Take every reference off fs: its holds lose it (and die when empty), the
 * ops that froze or wait for it fail. Used by the ceiling and the guard. */
void holds_fs_strip(qz_holds *h, qz_fs *fs, qz_gone_why why, usec_t now) {
        char buf[96];
        qz_gone g = {.why = why, .after = h->max_frozen};
        for (size_t i = h->n_ops; i-- > 0;) {
                qz_op *op = h->ops_live[i];
                bool uses = false;
                for (size_t j = 0; j < op->next + (op->waiting ? 1 : 0) && j < op->n_fs; j++)
                        uses |= op->fs[j] == fs;
                if (!uses)
                        continue;
                char *msg = xasprintf("%s %s (mounted at %s) was %s while the group was being frozen",
                                      fs->fstype, fs->id, fs->mountpoint, qz_gone_text(&g, buf, sizeof(buf)));
                op_fail(h, op, fs, -EINVAL, msg);
                free(msg);
                i = h->n_ops;
        }
        for (qzd_hold *hold = h->first; hold;) {
                qzd_hold *next = hold->next;
                if (holds_hold_has(hold, fs))
                        qz_holds_release_fs(h, hold, fs, why, now);
                hold = next;
        }
}

void qz_holds_thawed_externally(qz_holds *h, qz_fs *fs, usec_t now) {
        fs->state = QZ_FS_THAWED; /* so releasing the references starts no FITHAW */
        holds_fs_strip(h, fs, QZ_GONE_GUARD, now);
        qz_holds_thaw_done(h, fs, 0, now);
}
