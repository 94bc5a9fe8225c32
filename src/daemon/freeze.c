/* SPDX-License-Identifier: GPL-2.0-or-later */
/* freeze.c - the Freeze method: its targets resolved and checked
 * (targets.c), the caller's hold quota, a probe of what is frozen already
 * (confirm.c), then the group handed to holds.c, which answers through
 * glue.c once every member is frozen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cleanup.h"
#include "confirm.h"
#include "daemon.h"
#include "jsonutil.h"
#include "methods.h"
#include "protocol.h"
#include "reply.h"
#include "server.h"
#include "targets.h"
#include "xalloc.h"

/* A Freeze whose filesystems are resolved, checked and ordered. */
typedef struct freeze_go {
        qz_conn *c;
        qz_fs **fs;
        char **paths;
        size_t n;
        bool detached;
        usec_t timeout;
} freeze_go;

static void freeze_go_free(void *arg) {
        freeze_go *g = arg;
        for (size_t i = 0; i < g->n; i++)
                free(g->paths[i]);
        free(g->paths);
        free(g->fs);
        free(g);
}

/* The group's filesystems are not frozen: their descriptors go back, the
 * answer names the request's path, and the connection goes on. */
static void freeze_refused(qz_daemon *d, freeze_go *g, int r, const char *msg, json_object *writer) {
        qz_conn *c = g->c;
        qz_fs **fs = g->fs;
        char **paths = g->paths;
        size_t m = g->n;
        free(g);
        for (size_t i = 0; i < m; i++)
                qz_holds_fs_maybe_idle(d->holds, fs[i]); /* closes its descriptor unless still wanted */
        /* holds.c and phases.c name the filesystem(s) and the reason; add the request's path. */
        _cleanup_free_ char *text = r == -EDEADLK
                                            ? xstrdup(msg)
                                            : xasprintf("%s: %s %s (mounted at %s): %s", paths[0],
                                                        fs[0]->fstype, fs[0]->id, fs[0]->mountpoint, msg);
        json_object *e = qz_json_error(qz_proto_error_kind(-r, true), -r, paths[0], "%s", text);
        if (writer) { /* the writer that refused it, as a hold reports its writers */
                json_object *p = NULL;
                json_object_object_get_ex(e, "parameters", &p);
                json_object_object_add(p, "writer", json_object_get(writer));
        }
        qz_conn_reply(c, e);
        for (size_t i = 0; i < m; i++)
                free(paths[i]);
        free(fs), free(paths);
        qz_conn_end(c);
}

/* After the probes and the writers: hand the group to holds.c. */
static void freeze_go_on(qz_daemon *d, void *arg, int err, const char *why, json_object *writer) {
        freeze_go *g = arg;
        if (err < 0) {
                freeze_refused(d, g, err, why, writer); /* a writer vetoed or a required one failed */
                return;
        }
        qz_conn *c = g->c;
        qz_fs **fs = g->fs;
        char **paths = g->paths;
        size_t m = g->n;
        const struct ucred *cred = qz_conn_cred(c);
        qz_op *op;
        _cleanup_free_ char *msg = NULL;
        int r = qz_holds_begin(d->holds, c, cred->uid, cred->pid, g->detached, g->timeout, fs, paths, m, c,
                               qz_now(), &op, &msg);
        if (r >= 0) {
                free(g); /* the op (or op_done) has taken fs and paths */
                return;  /* under way, or op_done answered and went on with the connection */
        }
        qz_phases_op_done(d, c, false); /* what the writers froze for it is thawed */
        freeze_refused(d, g, r, msg, NULL);
}

/* After the probes: the writers of what this freeze will FIFREEZE first
 * (phases.c; nothing at all when no writer is registered). */
static void freeze_begin(qz_daemon *d, void *arg) {
        freeze_go *g = arg;
        qz_conn_confirmed(g->c);
        if (qz_phases_gate(d, g->c, g->fs, g->n, freeze_go_on, g, freeze_go_free) == 0)
                freeze_go_on(d, g, 0, NULL, NULL);
}

/* A permitted but hostile user must not fill the hold table. */
static int check_quota(qz_conn *c, const qzd_target *t) {
        qz_daemon *d = qz_conn_daemon(c);
        uid_t uid = qz_conn_cred(c)->uid;
        if (uid == 0 || !d->max_holds_per_uid)
                return 0;
        size_t mine = qz_server_busy_of(d, uid); /* group freezes in progress */
        for (qzd_hold *h = qz_holds_first(d->holds); h; h = h->next)
                mine += h->uid == uid;
        if (mine < d->max_holds_per_uid)
                return 0;
        qz_reply_error(c, -EDQUOT, t[0].path,
                       "%s: not freezing %s %s (mounted at %s): uid %u already has "
                       "%zu holds, its limit (--max-holds-per-uid %u); thaw some first",
                       t[0].path, t[0].fs->fstype, t[0].fs->id, t[0].fs->mountpoint, (unsigned)uid, mine,
                       d->max_holds_per_uid);
        return -EDQUOT;
}

void qz_method_freeze(qz_conn *c, const qz_request *req) {
        qz_daemon *d = qz_conn_daemon(c);
        qzd_target t[QZ_MAX_TARGETS];
        size_t n, m;
        if (qz_targets_resolve(c, req, true, t, &n) < 0)
                return;
        if (qz_targets_check_freeze(c, t, n, req->timeout, &m) < 0)
                return;
        if (check_quota(c, t) < 0) {
                qz_targets_free(t, m);
                return;
        }
        if (m > 1)
                qz_targets_order(c, t, m); /* one filesystem needs no order (nor its loop chain read) */

        qz_fs **fs = calloc(m, sizeof(*fs));
        char **paths = calloc(m, sizeof(*paths));
        if (!fs || !paths) {
                free(fs), free(paths);
                qz_targets_free(t, m);
                qz_reply_error(c, -ENOMEM, NULL, "out of memory");
                return;
        }
        for (size_t i = 0; i < m; i++) {
                fs[i] = t[i].fs;
                paths[i] = t[i].path;
                t[i].path = NULL;
                if (fs[i]->ioctl_fd < 0) {
                        fs[i]->ioctl_fd = t[i].fd;
                        t[i].fd = -1;
                }
        }
        qz_targets_free(t, m);

        /* A filesystem frozen already is confirmed by a probe first: a hold
         * is granted only on a freeze that is in place at that moment. */
        freeze_go *g = calloc(1, sizeof(*g));
        if (!g)
                abort(); /* tiny allocation under mlockall; nothing sane to do */
        *g = (freeze_go){
                .c = c, .fs = fs, .paths = paths, .n = m, .detached = req->detached, .timeout = req->timeout};
        qz_conn_begin(c);
        qz_conn_wait(c, qz_confirm_start(d, fs, m, freeze_begin, g), freeze_go_free);
}
