/* SPDX-License-Identifier: GPL-2.0-or-later */
/* writers.c - the registry of application writers (writers.h): the
 * RegisterWriter method (who may, for which filesystems, with which
 * timeouts, within the per-uid limit), the WriterAnswer method handed on to
 * the run it answers (phases.c), and a writer's end with its connection.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "jsonutil.h"
#include "log.h"
#include "methods.h"
#include "ms.h"
#include "protocol.h"
#include "quiesce.h"
#include "reply.h"
#include "server.h"
#include "targets.h"
#include "writers.h"
#include "xalloc.h"

qzd_writer *qzd_writer_ref(qzd_writer *w) {
        w->refs++;
        return w;
}

void qzd_writer_unref(qzd_writer *w) {
        if (!w || --w->refs > 0)
                return;
        for (size_t i = 0; w->fs && i < w->n_fs; i++) {
                free(w->fs[i].mountpoint);
                free(w->fs[i].fstype);
                free(w->fs[i].source);
                free(w->fs[i].path);
        }
        free(w->fs);
        free(w->last.detail);
        free(w->name);
        free(w->devno);
        free(w->fs_id);
        free(w);
}

bool qzd_writer_covers(const qzd_writer *w, dev_t devno) {
        for (size_t i = 0; i < w->n_fs; i++)
                if (w->devno[i] == devno)
                        return true;
        return false;
}

static qzd_writer *writer_of(qz_writers *ws, const qz_conn *c) {
        for (qzd_writer *w = ws->first; w; w = w->next)
                if (w->conn == c)
                        return w;
        return NULL;
}

static void writer_unlink(qz_writers *ws, qzd_writer *w) {
        if (w->prev)
                w->prev->next = w->next;
        else
                ws->first = w->next;
        if (w->next)
                w->next->prev = w->prev;
        w->prev = w->next = NULL;
        ws->n--;
}

/* A permitted but hostile user must not fill quiesced with writers. */
static int check_limits(qz_conn *c, const struct ucred *cred) {
        qz_daemon *d = qz_conn_daemon(c);
        qz_writers *ws = &d->writers;
        if (ws->n >= QZ_MAX_WRITERS) {
                qz_reply_error(c, -ENOSPC, NULL, "too many writers registered (%d); not registering another",
                               QZ_MAX_WRITERS);
                return -ENOSPC;
        }
        if (cred->uid == 0 || !ws->max_per_uid)
                return 0;
        size_t mine = 0;
        for (qzd_writer *w = ws->first; w; w = w->next)
                mine += w->uid == cred->uid;
        if (mine < ws->max_per_uid)
                return 0;
        qz_reply_error(c, -EDQUOT, NULL,
                       "uid %u already has %zu writers registered, its limit (--max-writers-per-uid %u)",
                       (unsigned)cred->uid, mine, ws->max_per_uid);
        return -EDQUOT;
}

/* A writer holds up each freeze of its filesystems by at most its prepare
 * and freeze timeouts, which it chooses: for a uid other than root, the
 * administrator bounds their sum. */
static int check_delay(qz_conn *c, const struct ucred *cred, const qz_request *req) {
        const qz_writers *ws = &qz_conn_daemon(c)->writers;
        usec_t prepare = req->phase_timeout[QZ_PHASE_PREPARE], freeze = req->phase_timeout[QZ_PHASE_FREEZE];
        if (cred->uid == 0 || !ws->max_delay || prepare + freeze <= ws->max_delay)
                return 0;
        char b1[32], b2[32], b3[32];
        qz_reply_error(c, -EINVAL, NULL,
                       "writer %s: uid %u may hold up a freeze by at most %s (--max-writer-delay), and its "
                       "prepare timeout %s plus its freeze timeout %s is more; register it with shorter "
                       "timeouts",
                       req->writer_name, (unsigned)cred->uid,
                       qz_format_duration(qz_usec_to_ms(ws->max_delay), b1, sizeof(b1)),
                       qz_format_duration(qz_usec_to_ms(prepare), b2, sizeof(b2)),
                       qz_format_duration(qz_usec_to_ms(freeze), b3, sizeof(b3)));
        return -EINVAL;
}

json_object *qzd_writer_json(const qzd_writer *w) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_uint64(w->id));
        json_object_object_add(o, "name", json_object_new_string(w->name));
        json_object_object_add(o, "required", json_object_new_boolean(w->required));
        json_object_object_add(o, "may_veto", json_object_new_boolean(w->may_veto));
        json_object_object_add(o, "prepare_timeout_ms",
                               json_object_new_int64(qz_usec_to_ms(w->timeout[QZ_PHASE_PREPARE])));
        json_object_object_add(o, "freeze_timeout_ms",
                               json_object_new_int64(qz_usec_to_ms(w->timeout[QZ_PHASE_FREEZE])));
        json_object_object_add(o, "thaw_timeout_ms",
                               json_object_new_int64(qz_usec_to_ms(w->timeout[QZ_PHASE_THAW])));
        return o;
}

static json_object *writer_json(const qzd_writer *w, const qzd_target *t, size_t n) {
        json_object *o = qzd_writer_json(w);
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                json_object_array_add(a, qz_fs_ref_json(t[i].fs, t[i].path));
        json_object_object_add(o, "filesystems", a);
        return o;
}

void qz_method_register_writer(qz_conn *c, const qz_request *req) {
        qz_daemon *d = qz_conn_daemon(c);
        qz_writers *ws = &d->writers;
        const struct ucred *cred = qz_conn_cred(c);
        if (writer_of(ws, c)) {
                qz_reply_error(c, -EALREADY, NULL, "this connection is already a registered writer");
                return;
        }
        if (req->required && cred->uid != 0) {
                qz_reply_error(c, -EPERM, NULL,
                               "writer %s: only root's writers may be required (uid %u); register it "
                               "without \"required\"",
                               req->writer_name, (unsigned)cred->uid);
                return;
        }
        if (check_limits(c, cred) < 0 || check_delay(c, cred, req) < 0)
                return;
        qzd_target t[QZ_MAX_TARGETS];
        size_t n, m;
        if (qz_targets_resolve(c, req, true, t, &n) < 0)
                return;
        /* The refusals of a freeze apply: a writer on a filesystem quiesce never
         * freezes would never be asked anything. */
        if (qz_targets_check_freeze(c, t, n, 1000000, &m) < 0)
                return;
        qzd_writer *w = calloc(1, sizeof(*w));
        if (!w)
                abort(); /* tiny allocation under mlockall */
        w->id = ++ws->next_id;
        w->conn = c;
        w->name = xstrdup(req->writer_name);
        w->uid = cred->uid;
        w->pid = cred->pid;
        w->required = req->required;
        w->may_veto = cred->uid == 0;
        memcpy(w->timeout, req->phase_timeout, sizeof(w->timeout));
        w->n_fs = m;
        w->devno = calloc(m, sizeof(*w->devno));
        w->fs_id = calloc(m, sizeof(*w->fs_id));
        w->fs = calloc(m, sizeof(*w->fs));
        if (!w->devno || !w->fs_id || !w->fs)
                abort();
        for (size_t i = 0; i < m; i++) {
                w->devno[i] = t[i].fs->devno;
                snprintf(w->fs_id[i], sizeof(w->fs_id[i]), "%s", t[i].fs->id);
                w->fs[i] = (qzd_writer_fs){.mountpoint = xstrdup(t[i].fs->mountpoint),
                                           .fstype = xstrdup(t[i].fs->fstype),
                                           .source = xstrdup(t[i].fs->source),
                                           .path = xstrdup(t[i].path)};
        }
        w->registered = qz_now();
        w->refs = 1;
        w->next = ws->first;
        if (ws->first)
                ws->first->prev = w;
        ws->first = w;
        ws->n++;
        json_object *p = json_object_new_object();
        json_object_object_add(p, "writer", writer_json(w, t, m));
        qz_reply_ok(c, p);
        log_info("writer %s (id %" PRIu64 ", pid %d, uid %u%s) registered for %zu filesystem(s), first %s",
                 w->name, w->id, (int)w->pid, (unsigned)w->uid, w->required ? ", required" : "", m,
                 t[0].fs->mountpoint);
        for (size_t i = 0; i < m; i++)
                qz_holds_fs_maybe_idle(d->holds, t[i].fs);
        qz_targets_free(t, m);
}

/* An answer is not replied to (the writer's connection carries events, and
 * an answer that arrives late is only recorded); a malformed one is. */
void qz_method_writer_answer(qz_conn *c, const qz_request *req) {
        qz_daemon *d = qz_conn_daemon(c);
        qzd_writer *w = writer_of(&d->writers, c);
        if (!w) {
                qz_reply_error(c, -EINVAL, NULL, "not a writer: register with %s first",
                               QZ_PROTO_METHOD_REGISTER_WRITER);
                return;
        }
        /* Status's record first: a thaw's answer comes after its run is over */
        qzd_writer_note_answer(w, req->freeze_id, req->phase, req->answer, req->detail, qz_now());
        qz_phases_answer(d, w, req->freeze_id, req->phase, req->answer, req->detail);
}

void qz_writers_conn_gone(qz_daemon *d, qz_conn *c) {
        qz_writers *ws = &d->writers;
        qzd_writer *w = writer_of(ws, c);
        if (!w)
                return;
        writer_unlink(ws, w);
        w->conn = NULL;
        log_info("writer %s (id %" PRIu64 ", pid %d) is gone: its connection closed", w->name, w->id,
                 (int)w->pid);
        qz_phases_writer_gone(d, w);
        qzd_writer_unref(w);
}

void qz_writers_done(qz_writers *ws) {
        while (ws->first) {
                qzd_writer *w = ws->first;
                writer_unlink(ws, w);
                w->conn = NULL;
                qzd_writer_unref(w);
        }
}
