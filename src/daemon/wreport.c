/* SPDX-License-Identifier: GPL-2.0-or-later */
/* wreport.c - what the writers of a hold's filesystems answered, as a hold
 * reports it ("writers", docs/protocol.md): each writer of the run bound to
 * the filesystem's freeze cycle with its phases, answers, times and
 * reasons, and the writers registered since, which nobody asked.
 */
#include <stdlib.h>
#include <string.h>

#include "quiesce.h"
#include "ms.h"
#include "phases-private.h"
#include "xalloc.h"

char *qz_wslot_reason(const wslot *s, qz_phase p) {
        char buf[32];
        if (s->answer[p] == QZ_ANSWER_VETO || s->answer[p] == QZ_ANSWER_FAIL)
                return xasprintf("%s %s: %s", s->answer[p] == QZ_ANSWER_VETO ? "vetoed" : "failed",
                                 qz_phase_name(p), s->detail[p] ? s->detail[p] : "(no reason given)");
        if (s->timed_out[p])
                return xasprintf("did not answer %s within %s%s", qz_phase_name(p),
                                 qz_format_duration(qz_usec_to_ms(s->w->timeout[p]), buf, sizeof(buf)),
                                 s->late[p] ? " (answered late)" : "");
        if (s->gone && s->w->dropped)
                return xasprintf("dropped by quiesced during %s: it did not read its events",
                                 qz_phase_name(p));
        if (s->gone)
                return xasprintf("disconnected during %s", qz_phase_name(p));
        return xasprintf("was not asked to %s", qz_phase_name(p));
}

bool qz_wslot_acknowledged(const wslot *s) {
        return s->sent[QZ_PHASE_FREEZE] && s->answer[QZ_PHASE_FREEZE] == QZ_ANSWER_OK &&
               !s->late[QZ_PHASE_FREEZE] && !s->lost;
}

static json_object *phase_json(const wslot *s, qz_phase p, usec_t now) {
        json_object *o = json_object_new_object();
        bool answered = s->answer[p] != QZ_ANSWER_NONE;
        bool timed_out = s->timed_out[p] || (!answered && now >= s->sent[p] + s->w->timeout[p]);
        json_object_object_add(o, "answer", json_object_new_string(qz_answer_name(s->answer[p])));
        if (s->detail[p])
                json_object_object_add(o, "detail", json_object_new_string(s->detail[p]));
        json_object_object_add(
                o, "ms",
                json_object_new_int64(answered ? (int64_t)((s->answered[p] - s->sent[p]) / 1000) : -1));
        json_object_object_add(o, "timed_out", json_object_new_boolean(timed_out));
        if (s->late[p])
                json_object_object_add(o, "late", json_object_new_boolean(true));
        return o;
}

static json_object *writer_base(const qzd_writer *w, qz_fs *const *fs, size_t n) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "name", json_object_new_string(w->name));
        json_object_object_add(o, "id", json_object_new_uint64(w->id));
        json_object_object_add(o, "pid", json_object_new_int(w->pid));
        json_object_object_add(o, "uid", json_object_new_int64(w->uid));
        json_object_object_add(o, "required", json_object_new_boolean(w->required));
        json_object *a = json_object_new_array();
        for (size_t i = 0; i < n; i++)
                if (qzd_writer_covers(w, fs[i]->devno))
                        json_object_array_add(a, json_object_new_string(fs[i]->id));
        json_object_object_add(o, "filesystems", a);
        return o;
}

static json_object *slot_json(const qz_wrun *run, const wslot *s, qz_fs *const *fs, size_t n, usec_t now) {
        json_object *o = writer_base(s->w, fs, n);
        json_object_object_add(o, "freeze_id", json_object_new_uint64(run->id));
        for (unsigned p = 0; p < QZ_PHASE_COUNT; p++)
                if (s->sent[p])
                        json_object_object_add(o, qz_phase_name(p), phase_json(s, p, now));
        bool ack = qz_wslot_acknowledged(s);
        json_object_object_add(o, "acknowledged", json_object_new_boolean(ack));
        json_object_object_add(o, "lost", json_object_new_boolean(s->lost));
        if (!ack) {
                char *why;
                if (s->lost && s->w->dropped)
                        why = xstrdup("dropped by quiesced after freeze, before its thaw: it did not read "
                                      "its events");
                else if (s->lost)
                        why = xstrdup("disconnected after freeze, before its thaw");
                else if (s->sent[QZ_PHASE_FREEZE])
                        why = qz_wslot_reason(s, QZ_PHASE_FREEZE);
                else
                        why = qz_wslot_reason(s, QZ_PHASE_PREPARE);
                json_object_object_add(o, "reason", json_object_new_string(why));
                free(why);
        }
        return o;
}

json_object *qz_wslot_json(const qz_wrun *run, const wslot *s, usec_t now) {
        return slot_json(run, s, run->req_fs, run->n_req, now);
}

json_object *qz_phases_writers_json(const qz_writers *ws, qz_fs *const *fs, size_t n, usec_t now) {
        if (!ws->n && !ws->runs)
                return NULL;
        json_object *a = json_object_new_array();
        const qz_wrun *seen[QZ_MAX_TARGETS];
        size_t n_seen = 0;
        for (size_t i = 0; i < n; i++) {
                const qz_wrun *run = fs[i]->writers;
                bool dup = false;
                for (size_t k = 0; k < n_seen; k++)
                        dup |= seen[k] == run;
                if (!run || dup || n_seen == QZ_MAX_TARGETS)
                        continue;
                seen[n_seen++] = run;
                for (size_t k = 0; k < run->n; k++)
                        for (size_t j = 0; j < n; j++)
                                if (fs[j]->writers == run &&
                                    qzd_writer_covers(run->slot[k].w, fs[j]->devno)) {
                                        json_object_array_add(a, slot_json(run, &run->slot[k], fs, n, now));
                                        break;
                                }
        }
        /* Registered writers no bound run asked: they joined while it was frozen. */
        for (const qzd_writer *w = ws->first; w; w = w->next) {
                bool mine = false, asked = false;
                for (size_t i = 0; i < n; i++) {
                        if (!qzd_writer_covers(w, fs[i]->devno))
                                continue;
                        mine = true;
                        const qz_wrun *run = fs[i]->writers;
                        for (size_t k = 0; run && k < run->n; k++)
                                asked |= run->slot[k].w == w;
                }
                if (!mine || asked)
                        continue;
                json_object *o = writer_base(w, fs, n);
                json_object_object_add(o, "acknowledged", json_object_new_boolean(false));
                json_object_object_add(o, "lost", json_object_new_boolean(false));
                json_object_object_add(
                        o, "reason",
                        json_object_new_string("not asked: registered after its filesystem was frozen"));
                json_object_array_add(a, o);
        }
        if (json_object_array_length(a) == 0) {
                json_object_put(a);
                return NULL;
        }
        return a;
}
