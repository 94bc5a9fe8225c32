/* SPDX-License-Identifier: GPL-2.0-or-later */
/* thaw.c - the methods on holds already granted: Thaw releases a hold (or
 * the caller's holds on the filesystems named), ResetTimeout re-arms its
 * deadline. Both first wait for a probe of every filesystem concerned
 * (confirm.c), so the answer says whether each freeze held until now.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "confirm.h"
#include "daemon.h"
#include "jsonutil.h"
#include "methods.h"
#include "protocol.h"
#include "quiesce.h"
#include "reply.h"
#include "server.h"
#include "targets.h"

static bool may_touch(qz_conn *c, const qzd_hold *hold) {
        uid_t uid = qz_conn_cred(c)->uid;
        return uid == 0 || hold->uid == uid;
}

/* The hold the request names by id (*given), if the caller may touch it;
 * replies and returns NULL otherwise. */
static qzd_hold *hold_by_id(qz_conn *c, const qz_request *req, bool *given) {
        int64_t id = (int64_t)req->hold;
        *given = req->has_hold;
        if (!*given)
                return NULL;
        qzd_hold *hold = qz_holds_find(qz_conn_daemon(c)->holds, (uint64_t)id);
        if (!hold) {
                qz_reply_gone(c, (uint64_t)id);
                return NULL;
        }
        if (!may_touch(c, hold)) {
                qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, EPERM, NULL,
                                               "hold %" PRId64
                                               " belongs to uid %u; only it or root may change it",
                                               id, (unsigned)hold->uid));
                return NULL;
        }
        return hold;
}

/* A Thaw or ResetTimeout, its holds and filesystems found, waiting for the
 * probes that say whether each freeze held until now. */
typedef struct hold_go {
        qz_conn *c;
        bool by_hold;
        uint64_t ids[QZ_MAX_TARGETS]; /* by hold: ids[0]; ResetTimeout by paths: each hold once */
        size_t n_ids;
        dev_t devnos[QZ_MAX_TARGETS]; /* Thaw by paths: the filesystems named, in order */
        char *paths[QZ_MAX_TARGETS];
        size_t n;
        usec_t timeout;
} hold_go;

static void hold_go_free(void *arg) {
        hold_go *g = arg;
        for (size_t i = 0; i < g->n; i++)
                free(g->paths[i]);
        free(g);
}

static hold_go *hold_go_new(qz_conn *c) {
        hold_go *g = calloc(1, sizeof(*g));
        if (!g)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        g->c = c;
        return g;
}

/* Waits for a probe of every filesystem of the holds (fs: their filesystems), then fn. */
static void confirm_then(qz_conn *c, qz_fs *const *fs, size_t n, qz_confirm_fn fn, hold_go *g) {
        qz_conn_begin(c);
        qz_conn_wait(c, qz_confirm_start(qz_conn_daemon(c), fs, n, fn, g), hold_go_free);
}

static void thaw_go(qz_daemon *d, void *arg) {
        hold_go *g = arg;
        qz_conn *c = g->c;
        uid_t uid = qz_conn_cred(c)->uid;
        qz_conn_confirmed(c);
        usec_t now = qz_now();
        json_object *released = json_object_new_array();
        uint64_t broken_id = 0;
        char breach[448] = ""; /* what the message needs of the broken hold, which the release frees */
        if (g->by_hold) {
                qzd_hold *hold = qz_holds_find(d->holds, g->ids[0]);
                if (!hold) {
                        json_object_put(released);
                        qz_reply_gone(c, g->ids[0]); /* it went (deadline, ceiling) while probed */
                        goto out;
                }
                for (size_t i = 0; i < hold->n_fs; i++) {
                        qz_fs *fs = hold->fs[i];
                        bool thaws = fs->refs == 1 && fs->state == QZ_FS_FROZEN;
                        json_object_array_add(released,
                                              qz_released_json(hold, fs, hold->paths[i], thaws, now));
                }
                if (qz_hold_broken(hold, NULL)) {
                        broken_id = hold->id;
                        snprintf(breach, sizeof(breach), "%s", hold->breach ? hold->breach : "a breach");
                }
                qz_holds_release(d->holds, hold, QZ_GONE_THAWED, now);
        } else {
                for (size_t i = 0; i < g->n; i++) {
                        qz_fs *fs = qz_holds_find_fs(d->holds, g->devnos[i]);
                        qzd_hold *h = fs ? qz_holds_find_for(d->holds, fs, c, uid) : NULL;
                        if (!h) {
                                if (json_object_array_length(released) > 0)
                                        continue; /* the same filesystem named twice */
                                char suffix[200];
                                qz_reply_error(c, -EINVAL, g->paths[i],
                                               "%s: %s has no quiesce hold of yours%s", g->paths[i],
                                               fs ? fs->mountpoint : "the filesystem",
                                               qz_targets_gone_suffix(fs, suffix, sizeof(suffix)));
                                json_object_put(released);
                                goto out;
                        }
                        bool thaws = fs->refs == 1 && fs->state == QZ_FS_FROZEN;
                        json_object_array_add(released, qz_released_json(h, fs, g->paths[i], thaws, now));
                        if (qz_hold_broken(h, fs) && !breach[0]) {
                                broken_id = h->id;
                                snprintf(breach, sizeof(breach), "%s",
                                         fs->proof.breach ? fs->proof.breach : "a breach");
                        }
                        qz_holds_release_fs(d->holds, h, fs, QZ_GONE_THAWED, now);
                }
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "released", released);
        qz_reply_held_or_broken(c, p, broken_id, breach[0] ? breach : NULL, "the hold was released");
out:
        hold_go_free(g);
        qz_conn_end(c);
}

void qz_method_thaw(qz_conn *c, const qz_request *req) {
        bool given;
        qzd_hold *hold = hold_by_id(c, req, &given);
        if (given) {
                if (!hold)
                        return;
                hold_go *g = hold_go_new(c);
                g->by_hold = true;
                g->ids[g->n_ids++] = hold->id;
                confirm_then(c, hold->fs, hold->n_fs, thaw_go, g);
                return;
        }
        qzd_target t[QZ_MAX_TARGETS];
        qzd_hold *holds[QZ_MAX_TARGETS];
        size_t n = 0;
        if (qz_targets_resolve(c, req, false, t, &n) < 0)
                return;
        if (qz_targets_holds(c, t, n, holds) < 0) {
                qz_targets_free(t, n);
                return;
        }
        hold_go *g = hold_go_new(c);
        qz_fs *fs[QZ_MAX_TARGETS];
        for (size_t i = 0; i < n; i++) {
                fs[i] = t[i].fs;
                g->devnos[i] = t[i].fs->devno;
                g->paths[i] = t[i].path;
                t[i].path = NULL;
        }
        g->n = n;
        qz_targets_free(t, n);
        confirm_then(c, fs, n, thaw_go, g);
}

static void reset_go(qz_daemon *d, void *arg) {
        hold_go *g = arg;
        qz_conn *c = g->c;
        qz_conn_confirmed(c);
        usec_t now = qz_now();
        for (size_t i = 0; i < g->n_ids; i++)
                if (!qz_holds_find(d->holds, g->ids[i])) {
                        qz_reply_gone(c, g->ids[i]); /* it went (deadline, ceiling) while probed */
                        goto out;
                }
        json_object *a = json_object_new_array();
        const qzd_hold *broken = NULL;
        for (size_t i = 0; i < g->n_ids; i++) {
                qzd_hold *hold = qz_holds_find(d->holds, g->ids[i]);
                qz_holds_reset_timeout(d->holds, hold, g->timeout, now);
                json_object_array_add(a, qz_hold_json(hold, &d->writers, now));
                if (!broken && qz_hold_broken(hold, NULL))
                        broken = hold;
        }
        json_object *p = json_object_new_object();
        json_object_object_add(p, "holds", a);
        qz_reply_held_or_broken(c, p, broken ? broken->id : 0,
                                broken ? (broken->breach ? broken->breach : "a breach") : NULL,
                                "its deadline was re-armed");
out:
        hold_go_free(g);
        qz_conn_end(c);
}

void qz_method_reset_timeout(qz_conn *c, const qz_request *req) {
        usec_t timeout = req->timeout;
        bool given;
        qzd_hold *list[QZ_MAX_TARGETS];
        size_t n = 0;
        qzd_hold *hold = hold_by_id(c, req, &given);
        if (given) {
                if (!hold)
                        return;
                list[n++] = hold;
        } else {
                qzd_target t[QZ_MAX_TARGETS];
                if (qz_targets_resolve(c, req, false, t, &n) < 0)
                        return;
                int r = qz_targets_holds(c, t, n, list);
                qz_targets_free(t, n);
                if (r < 0)
                        return;
        }
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < list[i]->n_fs; j++)
                        if (list[i]->fs[j]->is_root && timeout == QZ_USEC_INFINITY) {
                                qz_reply_error(c, -EINVAL, list[i]->fs[j]->mountpoint,
                                               "hold %" PRIu64
                                               " covers the root filesystem, which needs a finite deadline",
                                               list[i]->id);
                                return;
                        }
        hold_go *g = hold_go_new(c);
        g->timeout = timeout;
        qz_fs *fs[QZ_MAX_TARGETS];
        size_t n_fs = 0;
        for (size_t i = 0; i < n; i++) {
                bool seen = false;
                for (size_t j = 0; j < g->n_ids; j++)
                        seen |= g->ids[j] == list[i]->id;
                if (seen)
                        continue;
                g->ids[g->n_ids++] = list[i]->id;
                for (size_t j = 0; j < list[i]->n_fs && n_fs < QZ_MAX_TARGETS; j++)
                        fs[n_fs++] = list[i]->fs[j];
        }
        confirm_then(c, fs, n_fs, reset_go, g);
}
