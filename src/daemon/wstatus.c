/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wstatus.c - a registered writer as Status lists it ("writers",
 * docs/protocol.md): who it is, what it registered for (each filesystem's
 * names as holds show them), since when, and the last phase it was sent
 * with its answer, which phases.c and wevents.c note here as they go.
 */
#include <stdlib.h>

#include "jsonutil.h"
#include "ms.h"
#include "writers.h"
#include "xalloc.h"

void qzd_writer_note_sent(qzd_writer *w, uint64_t freeze, qz_phase phase, usec_t now) {
        free(w->last.detail);
        w->last = (qzd_writer_last){.freeze = freeze, .phase = phase, .answer = QZ_ANSWER_NONE, .sent = now};
}

void qzd_writer_note_answer(qzd_writer *w, uint64_t freeze, qz_phase phase, qz_answer answer,
                            const char *detail, usec_t now) {
        if (w->last.freeze != freeze || w->last.phase != phase || w->last.answer != QZ_ANSWER_NONE)
                return; /* not the phase it was last sent, or answered already */
        w->last.answer = answer;
        w->last.answered = now;
        free(w->last.detail);
        w->last.detail = detail ? xstrdup(detail) : NULL;
}

void qzd_writer_note_timeout(qzd_writer *w, uint64_t freeze, qz_phase phase) {
        if (w->last.freeze == freeze && w->last.phase == phase)
                w->last.timed_out = true;
}

static json_object *last_json(const qzd_writer *w, usec_t now) {
        const qzd_writer_last *l = &w->last;
        if (!l->freeze)
                return NULL;
        bool answered = l->answer != QZ_ANSWER_NONE;
        json_object *o = json_object_new_object();
        json_object_object_add(o, "freeze", json_object_new_uint64(l->freeze));
        json_object_object_add(o, "phase", json_object_new_string(qz_phase_name(l->phase)));
        json_object_object_add(o, "answer", json_object_new_string(qz_answer_name(l->answer)));
        if (l->detail)
                json_object_object_add(o, "detail", json_object_new_string(l->detail));
        json_object_object_add(o, "ago_ms", json_object_new_int64((int64_t)((now - l->sent) / 1000)));
        json_object_object_add(
                o, "ms", json_object_new_int64(answered ? (int64_t)((l->answered - l->sent) / 1000) : -1));
        json_object_object_add(o, "timed_out",
                               json_object_new_boolean(l->timed_out ||
                                                       (!answered && now >= l->sent + w->timeout[l->phase])));
        return o;
}

json_object *qzd_writer_status_json(const qzd_writer *w, usec_t now) {
        json_object *o = qzd_writer_json(w);
        json_object_object_add(o, "pid", json_object_new_int(w->pid));
        json_object_object_add(o, "uid", json_object_new_int64(w->uid));
        json_object_object_add(o, "age_ms", json_object_new_int64((int64_t)((now - w->registered) / 1000)));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < w->n_fs; i++) {
                json_object *f = json_object_new_object();
                json_object_object_add(f, "id", json_object_new_string(w->fs_id[i]));
                json_object_object_add(f, "mountpoint", json_object_new_string(w->fs[i].mountpoint));
                json_object_object_add(f, "fstype", json_object_new_string(w->fs[i].fstype));
                json_object_object_add(f, "source", json_object_new_string(w->fs[i].source));
                json_object_object_add(f, "path", json_object_new_string(w->fs[i].path));
                json_object_array_add(a, f);
        }
        json_object_object_add(o, "filesystems", a);
        json_object_object_add(o, "last", last_json(w, now));
        return o;
}
