/* SPDX-License-Identifier: GPL-2.0-or-later */
/* reply.c - the methods' answers (see reply.h): the envelopes, and a
 * filesystem, its proof of freeze, a hold and a release as JSON.
 */
#include "reply.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>

#include "cleanup.h"
#include "daemon.h"
#include "freezer.h"
#include "jsonutil.h"
#include "protocol.h"
#include "server.h"
#include "xalloc.h"

void qz_reply_error(qz_conn *c, int err, const char *path, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        _cleanup_free_ char *msg = xvasprintf(fmt, ap); /* a few bytes under mlockall: aborts on ENOMEM */
        va_end(ap);
        qz_conn_reply(c, qz_json_error(qz_proto_error_kind(-err, path != NULL), -err, path, "%s", msg));
}

void qz_reply_ok(qz_conn *c, json_object *params) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "parameters", params);
        qz_conn_reply(c, o);
}

void qz_reply_held_or_broken(qz_conn *c, json_object *p, uint64_t id, const char *breach, const char *done) {
        if (!breach) {
                qz_reply_ok(c, p);
                return;
        }
        json_object *e = qz_json_error(QZ_PROTO_ERROR_FREEZE_BROKEN, ESTALE, NULL,
                                       "hold %" PRIu64 ": the freeze did not hold throughout: %s; %s", id,
                                       breach, done);
        json_object *ep = NULL;
        json_object_object_get_ex(e, "parameters", &ep);
        json_object_object_foreach(p, k, v) json_object_object_add(ep, k, json_object_get(v));
        json_object_put(p);
        qz_conn_reply(c, e);
}

void qz_reply_gone(qz_conn *c, uint64_t id) {
        const qz_gone *g = qz_holds_gone(qz_conn_daemon(c)->holds, id);
        char buf[96];
        qz_conn_reply(c, qz_json_error(QZ_PROTO_ERROR, EINVAL, NULL, "hold %" PRIu64 " is gone: %s", id,
                                       g ? qz_gone_text(g, buf, sizeof(buf))
                                         : "no such hold (never granted, or long gone)"));
}

int64_t qz_ms_until(usec_t deadline, usec_t now) {
        if (deadline == QZ_USEC_INFINITY)
                return -1;
        return deadline > now ? (int64_t)((deadline - now + 999) / 1000) : 0;
}

/* The proof of fs's present (or last) freeze cycle (DESIGN.md, "Proof of a
 * freeze"): the last probe, the sectors written since FIFREEZE, breaches. */
static json_object *proof_json(const qz_fs *fs) {
        const qz_fs_proof *p = &fs->proof;
        usec_t at = p->last_probe_at;
        const char *answer = p->last_answer;
        char buf[16];
        bool have = p->have_sectors;
        uint64_t sectors = p->sectors_last;
        qz_keeper_view v;
        if (fs->keeper && qz_freezer_view(fs, &v) && v.last_probe_at > at) {
                /* a probe that found nothing to report */
                at = v.last_probe_at;
                have = v.have_sectors;
                sectors = v.sectors;
                qz_probe pr = {.ioctl = v.last_err != QZ_PROBE_NONE, .err = v.last_err};
                answer = qz_probe_answer(&pr, buf, sizeof(buf));
        }
        json_object *o = json_object_new_object();
        json_object_object_add(o, "held", json_object_new_boolean(p->held));
        json_object_object_add(o, "freeze_owner",
                               json_object_new_string(fs->foreign ? "another process" : "quiesce"));
        json_object_object_add(o, "device", p->device[0] ? json_object_new_string(p->device) : NULL);
        json_object_object_add(
                o, "sectors_written",
                have && p->have_sectors ? json_object_new_int64((int64_t)(sectors - p->sectors_base)) : NULL);
        bool probed = at > fs->freeze_start && answer && answer[0];
        json_object_object_add(o, "probe", probed ? json_object_new_string(answer) : NULL);
        json_object_object_add(
                o, "probe_ms",
                json_object_new_int64(probed ? (int64_t)((at - fs->freeze_start) / 1000) : -1));
        json_object_object_add(o, "breaches", json_object_new_int64(p->breaches));
        if (p->breaches) {
                json_object_object_add(o, "breach", json_object_new_string(p->breach ? p->breach : ""));
                json_object_object_add(
                        o, "breach_ms",
                        json_object_new_int64((int64_t)((p->breach_at - fs->freeze_start) / 1000)));
        }
        return o;
}

json_object *qz_fs_ref_json(const qz_fs *fs, const char *path) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_string(fs->id));
        json_object_object_add(o, "mountpoint", json_object_new_string(fs->mountpoint));
        json_object_object_add(o, "fstype", json_object_new_string(fs->fstype));
        json_object_object_add(o, "source", json_object_new_string(fs->source));
        if (path)
                json_object_object_add(o, "path", json_object_new_string(path));
        if (fs->freeze_usec != QZ_USEC_INFINITY)
                json_object_object_add(o, "stall_ms",
                                       json_object_new_int64((int64_t)(fs->freeze_usec / 1000)));
        if (fs->freeze_start)
                json_object_object_add(o, "proof", proof_json(fs));
        return o;
}

json_object *qz_hold_json(const qzd_hold *hold, const struct qz_writers *ws, usec_t now) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "id", json_object_new_uint64(hold->id));
        json_object_object_add(o, "detached", json_object_new_boolean(hold->detached));
        json_object_object_add(o, "remaining_ms", json_object_new_int64(qz_ms_until(hold->deadline, now)));
        json_object_object_add(o, "broken", json_object_new_boolean(qz_hold_broken(hold, NULL)));
        if (qz_hold_broken(hold, NULL) && hold->breach)
                json_object_object_add(o, "breach", json_object_new_string(hold->breach));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < hold->n_fs; i++) {
                json_object *f = qz_fs_ref_json(hold->fs[i], hold->paths[i]);
                json_object_object_add(f, "held",
                                       json_object_new_boolean(!qz_hold_broken(hold, hold->fs[i])));
                json_object_array_add(a, f);
        }
        json_object_object_add(o, "filesystems", a);
        json_object *w = qz_phases_writers_json(ws, hold->fs, hold->n_fs, now);
        if (w)
                json_object_object_add(o, "writers", w);
        return o;
}

json_object *qz_released_json(const qzd_hold *hold, const qz_fs *fs, const char *path, bool thaws,
                              usec_t now) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "hold", json_object_new_uint64(hold->id));
        json_object *f = qz_fs_ref_json(fs, path);
        json_object_object_add(f, "held", json_object_new_boolean(!qz_hold_broken(hold, fs)));
        json_object_object_add(o, "filesystem", f);
        json_object_object_add(o, "thawed", json_object_new_boolean(thaws));
        json_object_object_add(o, "frozen_ms",
                               json_object_new_int64((int64_t)((now - fs->freeze_start) / 1000)));
        return o;
}
