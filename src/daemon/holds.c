/* SPDX-License-Identifier: GPL-2.0-or-later */
/* holds.c - the filesystems (from registration to being forgotten), their
 * reference counts, the holds with their deadlines and the record of why
 * they went away (see holds.h). The rules of DESIGN.md live here and in
 * group.c: the first reference freezes, the last release thaws, a deadline
 * releases its hold, the ceiling force-thaws.
 */
#include "holds.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "holds-private.h"
#include "xalloc.h"

const char *qz_fs_state_name(qz_fs_state s) {
        switch (s) {
        case QZ_FS_THAWED:
                return "thawed";
        case QZ_FS_FREEZING:
                return "freezing";
        case QZ_FS_FROZEN:
                return "frozen";
        case QZ_FS_THAWING:
                return "thawing";
        }
        return "?";
}

const char *qz_gone_text(const qz_gone *g, char *buf, size_t size) {
        switch (g->why) {
        case QZ_GONE_THAWED:
                return "released: thawed by request";
        case QZ_GONE_CLOSED:
                return "released: its connection closed";
        case QZ_GONE_STOPPING:
                return "released: quiesced is stopping";
        case QZ_GONE_EXPIRED:
                snprintf(buf, size, "expired: its deadline of %llu ms passed",
                         (unsigned long long)(g->after / 1000));
                return buf;
        case QZ_GONE_CEILING:
                snprintf(buf, size, "force-thawed at the %llu ms max-frozen ceiling",
                         (unsigned long long)(g->after / 1000));
                return buf;
        case QZ_GONE_GUARD:
                return "force-thawed by the guard";
        }
        return "gone";
}

bool qz_gone_is_news(qz_gone_why why) {
        return why == QZ_GONE_EXPIRED || why == QZ_GONE_CEILING || why == QZ_GONE_GUARD;
}

qz_holds *qz_holds_new(const qz_holds_ops *ops, void *ud, usec_t max_frozen, size_t max_holds) {
        qz_holds *h = calloc(1, sizeof(*h));
        if (!h)
                return NULL;
        h->ops = ops;
        h->ud = ud;
        h->max_frozen = max_frozen;
        h->max_holds = max_holds;
        h->next_id = 1;
        h->min_deadline = QZ_USEC_INFINITY;
        return h;
}

static void hold_free(qzd_hold *hold) {
        for (size_t i = 0; i < hold->n_fs; i++)
                free(hold->paths[i]);
        free(hold->breach);
        free(hold->paths);
        free(hold->fs);
        free(hold);
}

static void fs_free(qz_fs *fs) {
        free(fs->proof.breach);
        free(fs->mountpoint);
        free(fs->fstype);
        free(fs->source);
        free(fs->waiters);
        free(fs);
}

void qz_holds_free(qz_holds *h) {
        if (!h)
                return;
        while (h->first) {
                qzd_hold *n = h->first->next;
                hold_free(h->first);
                h->first = n;
        }
        for (size_t i = 0; i < h->n_ops; i++)
                holds_op_free(h->ops_live[i]);
        free(h->ops_live);
        while (h->fs_list) {
                qz_fs *n = h->fs_list->next;
                fs_free(h->fs_list);
                h->fs_list = n;
        }
        free(h);
}

qz_fs *qz_holds_find_fs(qz_holds *h, dev_t devno) {
        for (qz_fs *fs = h->fs_list; fs; fs = fs->next)
                if (fs->devno == devno)
                        return fs;
        return NULL;
}

/* Its names, as the mount table has them now. false: out of memory, fs unchanged. */
static bool fs_rename(qz_fs *fs, const qz_mount_info *info) {
        char *mp = strdup(info->mountpoint), *ty = strdup(info->fstype), *so = strdup(info->source);
        if (!mp || !ty || !so) {
                free(mp), free(ty), free(so);
                return false;
        }
        free(fs->mountpoint), free(fs->fstype), free(fs->source);
        fs->mountpoint = mp, fs->fstype = ty, fs->source = so;
        return true;
}

qz_fs *qz_holds_get_fs(qz_holds *h, const qz_mount_info *info, bool create, bool *created) {
        *created = false;
        qz_fs *fs = qz_holds_find_fs(h, info->devno);
        if (fs && fs->refs == 0 && fs->state == QZ_FS_THAWED && strcmp(fs->mountpoint, info->mountpoint) != 0)
                (void)fs_rename(fs, info); /* idle: refresh its names; the old ones stay without memory */
        if (fs || !create)
                return fs;
        fs = calloc(1, sizeof(*fs));
        if (!fs)
                return NULL;
        if (!fs_rename(fs, info)) {
                free(fs);
                return NULL;
        }
        fs->devno = info->devno;
        snprintf(fs->id, sizeof(fs->id), "%s", info->id);
        fs->ioctl_fd = -1;
        fs->is_root = strcmp(info->mountpoint, "/") == 0;
        fs->state = QZ_FS_THAWED;
        fs->ceiling_at = QZ_USEC_INFINITY;
        fs->freeze_usec = QZ_USEC_INFINITY;
        fs->last_stall = QZ_USEC_INFINITY;
        fs->next = h->fs_list;
        h->fs_list = fs;
        *created = true;
        return fs;
}

qz_fs *qz_holds_first_fs(qz_holds *h) {
        return h->fs_list;
}

/* A group freeze in progress names filesystems it has not reached yet:
 * they have no reference, but must not be forgotten. */
bool holds_in_live_op(const qz_holds *h, const qz_fs *fs) {
        for (size_t i = 0; i < h->n_ops; i++)
                for (size_t j = 0; j < h->ops_live[i]->n_fs; j++)
                        if (h->ops_live[i]->fs[j] == fs)
                                return true;
        return false;
}

void qz_holds_prune(qz_holds *h, size_t keep) {
        size_t idle = 0;
        for (qz_fs **p = &h->fs_list; *p;) {
                qz_fs *fs = *p;
                bool unused = fs->state == QZ_FS_THAWED && fs->refs == 0 && fs->n_waiters == 0 &&
                              fs->pins == 0 && !holds_in_live_op(h, fs);
                if (unused && ++idle > keep) {
                        *p = fs->next;
                        fs_free(fs);
                        continue;
                }
                p = &fs->next;
        }
}

/* ---- reference counting ---------------------------------------------------- */

/* Thawed and wanted by nobody - no reference, no waiter, and no group freeze
 * in progress that will reach it later: the daemon may close its descriptor
 * (which would otherwise keep the filesystem from being unmounted). */
void qz_holds_fs_maybe_idle(qz_holds *h, qz_fs *fs) {
        if (fs->refs == 0 && fs->state == QZ_FS_THAWED && fs->n_waiters == 0 && fs->pins == 0 &&
            !holds_in_live_op(h, fs))
                h->ops->fs_idle(h->ud, fs);
}

void holds_fs_ref(qz_fs *fs) {
        fs->refs++;
}

/* Drops one reference; the last one starts the thaw (or leaves it to the
 * end of a freeze in progress). Returns true when a thaw was started. */
bool holds_fs_unref(qz_holds *h, qz_fs *fs) {
        if (fs->refs == 0)
                return false;
        if (--fs->refs > 0)
                return false;
        if (fs->state == QZ_FS_FROZEN) {
                fs->state = QZ_FS_THAWING;
                h->ops->start_thaw(h->ud, fs);
                return true;
        }
        qz_holds_fs_maybe_idle(h, fs);
        return false;
}

void holds_waiter_add(qz_fs *fs, qz_op *op) {
        qz_op **w = realloc(fs->waiters, (fs->n_waiters + 1) * sizeof(*w));
        if (!w)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        fs->waiters = w;
        fs->waiters[fs->n_waiters++] = op;
}

void holds_waiter_remove(qz_fs *fs, qz_op *op) {
        for (size_t i = 0; i < fs->n_waiters; i++)
                if (fs->waiters[i] == op) {
                        memmove(fs->waiters + i, fs->waiters + i + 1,
                                (fs->n_waiters - i - 1) * sizeof(qz_op *));
                        fs->n_waiters--;
                        return;
                }
}

/* ---- holds ----------------------------------------------------------------- */

void holds_hold_link(qz_holds *h, qzd_hold *hold) {
        hold->prev = h->last;
        hold->next = NULL;
        if (h->last)
                h->last->next = hold;
        else
                h->first = hold;
        h->last = hold;
        h->n_holds++;
        if (hold->deadline < h->min_deadline)
                h->min_deadline = hold->deadline;
}

static void hold_unlink(qz_holds *h, qzd_hold *hold) {
        if (hold->prev)
                hold->prev->next = hold->next;
        else
                h->first = hold->next;
        if (hold->next)
                hold->next->prev = hold->prev;
        else
                h->last = hold->prev;
        h->n_holds--;
        if (hold->deadline != QZ_USEC_INFINITY && hold->deadline <= h->min_deadline)
                h->min_stale = true;
}

static qz_gone gone_of(const qz_holds *h, const qzd_hold *hold, qz_gone_why why) {
        return (qz_gone){.id = hold->id,
                         .why = why,
                         .after = why == QZ_GONE_EXPIRED   ? hold->timeout
                                  : why == QZ_GONE_CEILING ? h->max_frozen
                                                           : 0};
}

const qz_gone *qz_holds_gone(const qz_holds *h, uint64_t id) {
        for (unsigned i = 0; i < GONE_RING && id; i++)
                if (h->gone[i].id == id)
                        return &h->gone[i];
        return NULL;
}

void qz_holds_release(qz_holds *h, qzd_hold *hold, qz_gone_why why, usec_t now) {
        (void)now;
        qz_gone g = gone_of(h, hold, why);
        hold_unlink(h, hold);
        h->gone[h->gone_next++ % GONE_RING] = g;
        h->ops->hold_gone(h->ud, hold, &g);
        /* Reverse of freeze order: a backing filesystem thaws before what lies on it. */
        for (size_t i = hold->n_fs; i-- > 0;) {
                hold->fs[i]->last_gone = g;
                holds_fs_unref(h, hold->fs[i]);
        }
        hold_free(hold);
}

bool qz_holds_release_fs(qz_holds *h, qzd_hold *hold, qz_fs *fs, qz_gone_why why, usec_t now) {
        size_t i;
        for (i = 0; i < hold->n_fs && hold->fs[i] != fs; i++)
                ;
        if (i == hold->n_fs)
                return false;
        if (hold->n_fs == 1) {
                bool thaws = fs->refs == 1 && fs->state == QZ_FS_FROZEN;
                qz_holds_release(h, hold, why, now);
                return thaws;
        }
        free(hold->paths[i]);
        uint64_t below = i ? hold->broken_mask & ((UINT64_C(1) << i) - 1) : 0;
        hold->broken_mask = below | ((hold->broken_mask >> (i + 1)) << i);
        memmove(hold->fs + i, hold->fs + i + 1, (hold->n_fs - i - 1) * sizeof(*hold->fs));
        memmove(hold->paths + i, hold->paths + i + 1, (hold->n_fs - i - 1) * sizeof(*hold->paths));
        hold->n_fs--;
        fs->last_gone = gone_of(h, hold, why);
        return holds_fs_unref(h, fs);
}

qzd_hold *qz_holds_find(qz_holds *h, uint64_t id) {
        for (qzd_hold *hold = h->first; hold; hold = hold->next)
                if (hold->id == id)
                        return hold;
        return NULL;
}

qzd_hold *qz_holds_first(qz_holds *h) {
        return h->first;
}

bool holds_hold_has(const qzd_hold *hold, const qz_fs *fs) {
        for (size_t i = 0; i < hold->n_fs; i++)
                if (hold->fs[i] == fs)
                        return true;
        return false;
}

qzd_hold *qz_holds_find_for(qz_holds *h, qz_fs *fs, void *owner, uid_t uid) {
        for (qzd_hold *hold = h->last; hold; hold = hold->prev)
                if (owner && hold->owner == owner && holds_hold_has(hold, fs))
                        return hold;
        for (qzd_hold *hold = h->last; hold; hold = hold->prev)
                if (hold->detached && hold->uid == uid && holds_hold_has(hold, fs))
                        return hold;
        if (uid == 0)
                for (qzd_hold *hold = h->last; hold; hold = hold->prev)
                        if (hold->detached && holds_hold_has(hold, fs))
                                return hold;
        return NULL;
}

usec_t holds_deadline_after(usec_t now, usec_t timeout) {
        return timeout == QZ_USEC_INFINITY ? QZ_USEC_INFINITY : now + timeout;
}

void qz_holds_reset_timeout(qz_holds *h, qzd_hold *hold, usec_t timeout, usec_t now) {
        if (hold->deadline != QZ_USEC_INFINITY && hold->deadline <= h->min_deadline)
                h->min_stale = true; /* it may have been the earliest */
        hold->timeout = timeout;
        hold->deadline = holds_deadline_after(now, timeout);
        if (hold->deadline < h->min_deadline)
                h->min_deadline = hold->deadline;
}

void qz_holds_release_all(qz_holds *h, qz_gone_why why, usec_t now) {
        while (h->first)
                qz_holds_release(h, h->first, why, now);
}

size_t qz_holds_count(const qz_holds *h) {
        return h->n_holds;
}

bool qz_holds_busy(const qz_holds *h) {
        for (qz_fs *fs = h->fs_list; fs; fs = fs->next)
                if (fs->state != QZ_FS_THAWED)
                        return true;
        return false;
}

void qz_holds_breach(qz_holds *h, qz_fs *fs, const char *why, usec_t now) {
        for (qzd_hold *hold = h->first; hold; hold = hold->next)
                for (size_t i = 0; i < hold->n_fs; i++) {
                        if (hold->fs[i] != fs)
                                continue;
                        if (!hold->broken_mask)
                                hold->broken_at = now;
                        if (!hold->breach) /* the first; a member's release may clear the mask, not it */
                                hold->breach = strdup(why); /* NULL: the messages say less */
                        hold->broken_mask |= UINT64_C(1) << i;
                }
}

bool qz_hold_broken(const qzd_hold *hold, const qz_fs *fs) {
        if (!fs)
                return hold->broken_mask != 0;
        for (size_t i = 0; i < hold->n_fs; i++)
                if (hold->fs[i] == fs)
                        return (hold->broken_mask >> i) & 1;
        return false;
}

usec_t qz_holds_next_deadline(qz_holds *h) {
        if (h->min_stale) {
                h->min_deadline = QZ_USEC_INFINITY;
                for (qzd_hold *hold = h->first; hold; hold = hold->next)
                        if (hold->deadline < h->min_deadline)
                                h->min_deadline = hold->deadline;
                h->min_stale = false;
        }
        usec_t next = h->min_deadline;
        for (qz_fs *fs = h->fs_list; fs; fs = fs->next)
                if (fs->state == QZ_FS_FROZEN && fs->ceiling_at < next)
                        next = fs->ceiling_at;
        return next;
}

void qz_holds_expire(qz_holds *h, usec_t now) {
        for (qzd_hold *hold = h->first; hold;) {
                qzd_hold *next = hold->next;
                if (hold->deadline <= now) {
                        qz_holds_release(h, hold, QZ_GONE_EXPIRED, now);
                        next = h->first; /* releases may have removed others: restart */
                }
                hold = next;
        }
        for (qz_fs *fs = h->fs_list; fs; fs = fs->next)
                if (fs->state == QZ_FS_FROZEN && fs->ceiling_at <= now)
                        holds_fs_strip(h, fs, QZ_GONE_CEILING, now);
}
